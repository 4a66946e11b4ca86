# Shared helpers for the ci/ scripts. Source it; do not run it.
# shellcheck shell=bash

set -euo pipefail

REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD_DIR=${BUILD_DIR:-$REPO_ROOT/build}

say() { printf '%s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# Print MAJOR.MINOR.MICRO as declared by a MicroPython tree's py/mpconfig.h.
micropython_tree_version() {
    local h=$1/py/mpconfig.h
    [ -f "$h" ] || return 1
    awk '/#define MICROPY_VERSION_(MAJOR|MINOR|MICRO) / { v[$2] = $3 }
         END { if (length(v) == 3) printf "%s.%s.%s\n",
               v["MICROPY_VERSION_MAJOR"], v["MICROPY_VERSION_MINOR"],
               v["MICROPY_VERSION_MICRO"]; else exit 1 }' "$h"
}

# pip, minus the warnings this machine's index configuration prints for every
# package it does not hold locally.
pip_quiet() {
    "$@" 2> >(grep -v "is ignored: it is neither a file nor a directory" >&2)
}
