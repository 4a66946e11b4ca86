#!/usr/bin/env bash
# Unpack the pinned upstream Microdot wheel from PyPI into DIR (build/microdot).
#
#   ci/fetch-microdot.sh VERSION DIR
#
# The wheel is pure Python; firmware/manifest.py freezes modules from
# DIR/microdot, with files of the same name under frozen/microdot/ taking
# their place. Nothing of it is ever committed.
source "$(dirname "$0")/lib.sh"

[ $# -eq 2 ] || die "usage: ci/fetch-microdot.sh VERSION DIR"
version=$1
dest=$2

[ "$(cat "$dest/VERSION" 2>/dev/null)" = "$version" ] && exit 0

say "fetching microdot==$version"
wheels="$BUILD_DIR/wheels"
mkdir -p "$wheels"
pip_quiet python3 -m pip download -q --no-deps --only-binary=:all: -d "$wheels" \
    "microdot==$version" ||
    die "could not download microdot==$version with pip (check the pip index configuration)"
wheel="$wheels/microdot-$version-py3-none-any.whl"
[ -f "$wheel" ] || die "pip did not produce $wheel"

rm -rf "$dest"
mkdir -p "$dest"
python3 -m zipfile -e "$wheel" "$dest"
[ -f "$dest/microdot/microdot.py" ] || die "$wheel has no microdot/microdot.py"
echo "$version" > "$dest/VERSION"
