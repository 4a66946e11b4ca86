#!/usr/bin/env bash
# Make a MicroPython source tree of the pinned version available.
#
#   ci/fetch-micropython.sh VERSION DIR
#
# DIR already holding VERSION: nothing to do (the usual case, silent).
# Otherwise, in order:
#   1. a shallow git clone of the upstream tag vVERSION with the submodules
#      the unix port needs (machines that reach the upstream host);
#   2. Debian's source package `micropython` VERSION+ds-N from trixie, through
#      a private apt configuration under build/apt whose mirror is read from
#      this machine's own apt sources. Debian's patches let the unix port
#      build against the system mbedTLS and without git submodules.
# A tree of another version, or no reachable source, stops with advice.
source "$(dirname "$0")/lib.sh"

[ $# -eq 2 ] || die "usage: ci/fetch-micropython.sh VERSION DIR"
version=$1
dest=$2
upstream_git=https://github.com/micropython/micropython.git
debian_suite=trixie

hint="set MICROPY_DIR=/path/to/micropython (a git checkout of tag v$version with submodules)"

case $version in
    [0-9]*.[0-9]*.[0-9]*) ;;
    *) die "MICROPY_VERSION '$version' is not of the form X.Y.Z; $hint" ;;
esac

if [ -e "$dest" ]; then
    found=$(micropython_tree_version "$dest") ||
        die "$dest exists but is not a MicroPython tree (no py/mpconfig.h); remove it or $hint"
    [ "$found" = "$version" ] ||
        die "$dest holds MicroPython $found, but $version is pinned; remove it or $hint"
    exit 0
fi

mkdir -p "$(dirname "$dest")"
tmp="$dest.partial"
rm -rf "$tmp"

# --- 1. upstream git --------------------------------------------------------
fetch_git() {
    command -v git >/dev/null || return 1
    say "fetching MicroPython v$version with git"
    # A network that drops packets silently must not stall the build long.
    GIT_TERMINAL_PROMPT=0 timeout 60 git clone -q --depth 1 \
        --branch "v$version" "$upstream_git" "$tmp" 2>/dev/null || return 1
    # The unix port needs mbedTLS (hashlib.sha1, tls) and micropython-lib
    # (the frozen-manifest check); nothing else.
    GIT_TERMINAL_PROMPT=0 timeout 300 git -C "$tmp" submodule update -q \
        --init --depth 1 lib/mbedtls lib/micropython-lib || return 1
}

# --- 2. Debian source package -----------------------------------------------
fetch_debian() {
    command -v apt-get >/dev/null || return 1
    command -v dpkg-source >/dev/null || "$REPO_ROOT/ci/deps.sh" fetch || return 1
    say "fetching Debian source package micropython $version ($debian_suite)"

    local apt="$BUILD_DIR/apt"
    apt_private "$apt" "$debian_suite" || return 1
    mkdir -p "$apt/src"
    # Whatever Debian revision of the release the suite has (1.25.0+ds-1
    # today; a point release may bring +ds-2): the version is checked below.
    (cd "$apt/src" &&
        apt-get "${APT_OPTS[@]}" source --download-only \
            "micropython/$debian_suite" >/dev/null) || return 1
    local dsc
    dsc=$(ls "$apt/src"/micropython_"$version"+*.dsc 2>/dev/null | head -n 1)
    if [ -z "$dsc" ]; then
        say "Debian $debian_suite has $(ls "$apt/src"/*.dsc | xargs -n1 basename), not $version"
        return 1
    fi
    # apt verified the files against the signed index; dpkg-source applies
    # Debian's patch series on extraction.
    # (Extracted beside the download: dpkg-source links the orig tarball
    # next to its target.)
    dpkg-source --no-check -x "$dsc" "$apt/src/tree" >/dev/null || return 1
    mv "$apt/src/tree" "$tmp"
}

if fetch_git; then
    :
else
    rm -rf "$tmp"
    fetch_debian || { rm -rf "$tmp"; die "could not fetch MicroPython $version (no git access, no Debian source package); $hint"; }
fi

found=$(micropython_tree_version "$tmp") || die "fetched tree has no py/mpconfig.h"
[ "$found" = "$version" ] || { rm -rf "$tmp"; die "fetched MicroPython $found, expected $version; $hint"; }
mv "$tmp" "$dest"
say "MicroPython $version source in $dest"
