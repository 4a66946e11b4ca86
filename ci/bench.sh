#!/usr/bin/env bash
# Run benchmarks and keep their output in build/bench/NAME.txt.
#
#   ci/bench.sh FIRMWARE PYTHON [bench/bench_NAME.py...]   (default: all)
#
# A script whose first line is `# runs in: firmware` runs inside the unix
# firmware (with a 64 MiB heap); any other runs on the host's PYTHON with
# MICROPY_UNIX=FIRMWARE in its environment (e.g. a client that starts and
# measures a firmware server).
source "$(dirname "$0")/lib.sh"

[ $# -ge 2 ] || die "usage: ci/bench.sh FIRMWARE PYTHON [bench/bench_NAME.py...]"
firmware=$1
python=$2
shift 2
[ -x "$firmware" ] || die "$firmware not found: run \`make unix\` first"

cd "$REPO_ROOT"
if [ $# -eq 0 ]; then
    set -- bench/bench_*.py
fi
mkdir -p "$BUILD_DIR/bench"
for script in "$@"; do
    [ -f "$script" ] || die "no such benchmark: $script"
    name=$(basename "$script" .py)
    say "== $name"
    if [ "$(head -n 1 "$script")" = "# runs in: firmware" ]; then
        "$firmware" -X heapsize=64M "$script"
    else
        MICROPY_UNIX=$firmware "$python" "$script"
    fi | tee "$BUILD_DIR/bench/$name.txt"
done
