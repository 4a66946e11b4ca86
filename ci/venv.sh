#!/usr/bin/env bash
# Create or update the project's Python virtual environment.
#
#   ci/venv.sh VENV REQUIREMENTS
#
# Reinstalls only when the requirements file changed since the last run.
source "$(dirname "$0")/lib.sh"

[ $# -eq 2 ] || die "usage: ci/venv.sh VENV REQUIREMENTS"
venv=$1
reqs=$2
stamp="$venv/.requirements"

if [ -x "$venv/bin/python" ] && cmp -s "$reqs" "$stamp"; then
    exit 0
fi
if [ ! -x "$venv/bin/python" ]; then
    say "creating $venv"
    python3 -m venv "$venv" ||
        die "python3 -m venv failed (Debian: apt-get install python3-venv)"
fi
say "installing $(basename "$reqs") into $venv"
pip_quiet "$venv/bin/python" -m pip install -q --disable-pip-version-check -r "$reqs"
cp "$reqs" "$stamp"
