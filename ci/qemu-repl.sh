#!/usr/bin/env bash
# Start the QEMU firmware and say how to reach its REPL with mpremote.
#
#   ci/qemu-repl.sh FIRMWARE.elf      (`make qemu-repl`)
#
# Runs until Ctrl-C here, or `import machine; machine.reset()` on the device.
source "$(dirname "$0")/lib.sh"

[ $# -eq 1 ] || die "usage: ci/qemu-repl.sh FIRMWARE.elf"

"$REPO_ROOT/ci/qemu-run.sh" "$1" 2>&1 | while IFS= read -r line; do
    case $line in
        *"redirected to /dev/pts/"*)
            pty=${line#*redirected to }
            pty=${pty%% *}
            say "QEMU is running $1 with its UART on $pty. Connect with:"
            say "  mpremote connect $pty"
            say "  (build/venv/bin/mpremote after \`make venv\`; Ctrl-C here stops qemu)"
            ;;
        *) say "$line" ;;
    esac
done
