#!/usr/bin/env bash
# Install the Debian packages a build step needs, and nothing else.
#
#   ci/deps.sh GROUP...    groups: unix fetch qemu xtensa fuzz format browser all
#
# Quiet when everything is present. As root it runs `apt-get update` once and
# installs what is missing; otherwise it prints the exact command to run.
source "$(dirname "$0")/lib.sh"

packages_for() {
    case $1 in
        unix)    echo build-essential pkgconf libmbedtls-dev ;;
        fetch)   echo dpkg-dev xz-utils ;;
        qemu)    echo gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm ;;
        xtensa)  echo gcc-xtensa-lx106 picolibc-xtensa-lx106-elf ;;
        fuzz)    echo clang libclang-rt-dev ;;
        format)  echo uncrustify ;;
        browser) echo chromium ;;
        all)     for g in unix fetch qemu xtensa fuzz format browser; do packages_for $g; done ;;
        *)       die "unknown package group '$1' (unix fetch qemu xtensa fuzz format browser all)" ;;
    esac
}

[ $# -gt 0 ] || die "usage: ci/deps.sh GROUP..."

wanted=()
for group in "$@"; do
    # shellcheck disable=SC2207
    wanted+=($(packages_for "$group"))
done

missing=()
for pkg in $(printf '%s\n' "${wanted[@]}" | sort -u); do
    status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
    [ "$status" = "install ok installed" ] || missing+=("$pkg")
done
[ ${#missing[@]} -eq 0 ] && exit 0

cmd="apt-get install -y --no-install-recommends ${missing[*]}"
if [ "$(id -u)" -ne 0 ]; then
    die "missing Debian packages; run: sudo apt-get update && sudo $cmd"
fi

say "installing Debian packages: ${missing[*]}"
# One update per machine run is enough; the stamp lives outside the repo's
# build/ so that `make clean` does not force another one.
stamp=/var/lib/apt/periodic/.ws-firmware-update-stamp
if [ ! -e "$stamp" ] || [ -n "$(find "$stamp" -mmin +360 2>/dev/null)" ]; then
    apt-get update -qq >/dev/null
    mkdir -p "$(dirname "$stamp")" && touch "$stamp"
fi
DEBIAN_FRONTEND=noninteractive $cmd -qq >/dev/null
