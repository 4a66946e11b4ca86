#!/usr/bin/env bash
# Create or update the project's Python virtual environment.
#
#   ci/venv.sh VENV REQUIREMENTS [CONSTRAINTS]
#
# CONSTRAINTS pins what the requirements pull in. Reinstalls only when
# either file changed since the last run.
source "$(dirname "$0")/lib.sh"

[ $# -ge 2 ] && [ $# -le 3 ] || die "usage: ci/venv.sh VENV REQUIREMENTS [CONSTRAINTS]"
venv=$1
reqs=$2
constraints=${3:-}
stamp="$venv/.requirements"

wanted() { cat "$reqs" ${constraints:+"$constraints"}; }
if [ -x "$venv/bin/python" ] && wanted | cmp -s - "$stamp"; then
    exit 0
fi
if [ ! -x "$venv/bin/python" ]; then
    say "creating $venv"
    python3 -m venv "$venv" ||
        die "python3 -m venv failed (Debian: apt-get install python3-venv)"
fi
say "installing $(basename "$reqs") into $venv"
pip_quiet "$venv/bin/python" -m pip install -q --disable-pip-version-check \
    -r "$reqs" ${constraints:+-c "$constraints"}
wanted > "$stamp"
