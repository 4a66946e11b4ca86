#!/usr/bin/env bash
# Run the QEMU firmware with its UART on a new PTY (for mpremote).
#
#   ci/qemu-run.sh FIRMWARE.elf [QEMU-ARGS...]
#
# Becomes qemu-system-arm itself (exec), so the caller's process handle is
# the emulator's: stopping it stops qemu. QEMU names the PTY on stderr:
#   char device redirected to /dev/pts/N (label serial0)
# `machine.reset()` on the device exits qemu (ARM semihosting).
source "$(dirname "$0")/lib.sh"

[ $# -ge 1 ] || die "usage: ci/qemu-run.sh FIRMWARE.elf [QEMU-ARGS...]"
elf=$1
shift
[ -f "$elf" ] || die "$elf not found (run \`make qemu\`)"
command -v qemu-system-arm >/dev/null || "$REPO_ROOT/ci/deps.sh" qemu

exec qemu-system-arm -machine mps2-an385 -nographic -monitor null \
    -semihosting -serial pty -kernel "$elf" "$@" </dev/null
