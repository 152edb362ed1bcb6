#!/bin/sh
# run-all.sh - runs boot.sh, roundtrip.sh, batch.sh, transfer.sh, restore.sh, forge_compile.sh and forge_up.sh in turn and prints one
# summary block with every figure and ratio at the end. A bench that fails is
# reported in the summary and the others still run (exit status 1 then).
# The knobs of each script (BENCH_N, BENCH_ROUNDS, BENCH_MIB, BENCH_REPS) pass through.
set -eu
BENCH_SELF=$0
. "$(dirname "$0")/lib/common.sh"

BENCH_RESULTS="$BENCH_TMP/results.txt"
export BENCH_RESULTS
: >"$BENCH_RESULTS"

echo "provium bench: $(uname -m), $(nproc) CPUs, $(qemu-system-x86_64 --version | head -1)"
echo "provium bench: load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
status=0
for b in boot roundtrip batch transfer restore forge_compile forge_up; do
    echo
    echo "---- $b ----"
    if ! "$ROOT/bench/$b.sh"; then
        echo "failed.$b=1" >>"$BENCH_RESULTS"
        status=1
    fi
done
echo
echo "provium bench: load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
python3 "$BENCH_PY" summary "$BENCH_RESULTS"
exit $status
