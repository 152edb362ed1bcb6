#!/bin/sh
# batch.sh - vm:batch in one round trip against the same calls one by one: BENCH_CALLS
# (100) vm:stat("/") calls, one after the other and then in one vm:batch, BENCH_REPS
# (10) rounds taking turns on one booted VM. Prints the time of each side (median and
# best, per round and per call) and the ratio one-by-one / batch.
#
#   BENCH_CALLS=100   stat calls per side per round
#   BENCH_REPS=10     rounds
#   BENCH_RESULTS=F   also append KEY=VALUE figures to F (used by run-all.sh)
#
# Figures are printed, never asserted on.
set -eu
BENCH_SELF=$0
. "$(dirname "$0")/lib/common.sh"

echo "batch: ${BENCH_CALLS:-100} stat calls one by one and in one vm:batch, ${BENCH_REPS:-10} rounds ..."
if ! bench_provium --json "$ROOT/bench/batch.test.lua" \
        >"$BENCH_TMP/report.json" 2>"$BENCH_TMP/stderr.txt"; then
    echo "batch: the provium run failed:" >&2
    cat "$BENCH_TMP/stderr.txt" "$BENCH_TMP/report.json" >&2
    exit 1
fi
python3 "$BENCH_PY" batch-report "$BENCH_TMP/report.json" "${BENCH_RESULTS:-}"
