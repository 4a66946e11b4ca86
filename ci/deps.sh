#!/usr/bin/env bash
# Install the Debian packages a build step needs, and nothing else.
#
#   ci/deps.sh GROUP...    groups: unix fetch qemu xtensa fuzz format browser esp32 all
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
        esp32)   echo build-essential cmake git ninja-build ;;
        all)     for g in unix fetch qemu xtensa fuzz format browser esp32; do packages_for $g; done ;;
        *)       die "unknown package group '$1' (unix fetch qemu xtensa fuzz format browser esp32 all)" ;;
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
# One `apt-get update` per machine and six hours is enough; the stamp lives
# outside the repository so that `make clean` does not force another. An
# install that fails (a package superseded since the last update) updates
# and tries once more. Concurrent runs (make -j) wait for dpkg's lock.
stamp=/var/lib/apt/periodic/.ws-firmware-update-stamp
update() {
    apt-get update -qq >/dev/null
    mkdir -p "$(dirname "$stamp")" && touch "$stamp"
}
if [ ! -e "$stamp" ] || [ -n "$(find "$stamp" -mmin +360 2>/dev/null)" ]; then
    update
fi
install() {
    DEBIAN_FRONTEND=noninteractive $cmd -qq -o DPkg::Lock::Timeout=300 \
        >/dev/null 2> >(grep -v '^debconf: ' >&2)
}
install || { update && install; }
