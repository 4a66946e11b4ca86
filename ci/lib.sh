# Shared helpers for the ci/ scripts. Source it; do not run it.
# shellcheck shell=bash

set -euo pipefail

REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD_DIR=${BUILD_DIR:-$REPO_ROOT/build}

# The ESP32 cache folder (toolchain, SDK, bundle): outside every clone, shared
# by the clones on this machine.
esp32_sdk_cache() {
    printf '%s\n' "${ESP32_SDK_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/ws-firmware/esp32}"
}

# The first file an ESP32 SDK folder lacks; nothing when it is complete.
esp32_sdk_missing() {
    local f
    for f in env.sh setup-python.sh MANIFEST.txt sdkconfig.sdk esp-idf/tools/idf.py \
        micropython/py/mpconfig.h xtensa-esp32-elf/esp/bin/xtensa-esp32-elf-gcc; do
        if [ ! -e "$1/$f" ]; then
            printf '%s\n' "$f"
            return
        fi
    done
}

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

# First archive mirror in this machine's apt sources: a deb822 stanza or a
# one-line entry whose suite is a release (not -security/-updates/...).
debian_mirror() {
    local f
    for f in /etc/apt/sources.list.d/*.sources; do
        [ -f "$f" ] || continue
        awk 'BEGIN { RS = ""; FS = "\n" }
             {
               uri = ""; suites = ""; types = ""
               for (i = 1; i <= NF; i++) {
                 if ($i ~ /^URIs:/)   { sub(/^URIs:[ \t]*/, "", $i);   uri = $i }
                 if ($i ~ /^Suites:/) { sub(/^Suites:[ \t]*/, "", $i); suites = $i }
                 if ($i ~ /^Types:/)  { types = $i }
               }
               split(uri, u, /[ \t]+/)
               if (types ~ /deb/ && suites ~ /(^|[ \t])[a-z]+([ \t]|$)/ && u[1] !~ /security/) {
                 print u[1]; exit
               }
             }' "$f"
    done
    if [ -f /etc/apt/sources.list ]; then
        awk '$1 == "deb" {
               i = 2; if ($2 ~ /^\[/) { while ($i !~ /\]$/) i++; i++ }
               if ($(i + 1) !~ /-/ && $i !~ /security/) { print $i; exit }
             }' /etc/apt/sources.list
    fi
}

# A private apt configuration in DIR for source packages: its own sources
# list (`deb-src MIRROR SUITE main` for each SUITE, MIRROR from this
# machine's apt sources), lists and cache, so the system's apt state is left
# alone. Sets the array APT_OPTS for apt-get; runs `apt-get update` on it.
#   apt_private DIR SUITE...
apt_private() {
    local dir=$1 mirror suite
    shift
    mirror=$(debian_mirror | head -n 1)
    [ -n "$mirror" ] || { say "no Debian mirror found in /etc/apt sources"; return 1; }
    rm -rf "$dir"
    mkdir -p "$dir/lists/partial" "$dir/parts" "$dir/cache/archives/partial"
    for suite in "$@"; do
        echo "deb-src $mirror $suite main"
    done > "$dir/sources.list"
    APT_OPTS=(
        -o "Dir::Etc::SourceList=$dir/sources.list"
        -o "Dir::Etc::SourceParts=$dir/parts"
        -o "Dir::State::Lists=$dir/lists"
        -o "Dir::Cache=$dir/cache"
        -o "APT::Sandbox::User=root"
        -qq
    )
    apt-get "${APT_OPTS[@]}" update >/dev/null
}
