#!/bin/sh
# roundtrip.sh - the cost of one agent round trip on one booted VM:
# vm:run("true") (r.duration, measured by the host around the round trip), the argv
# form vm:run("true", {args = {}}) (no sh -c in the guest), and vm:stat("/") (no
# process at all: the protocol round trip alone), BENCH_ROUNDS times each (200).
#
#   BENCH_ROUNDS=200  calls per kind
#   BENCH_RESULTS=F   also append KEY=VALUE figures to F (used by run-all.sh)
#
# Figures are printed, never asserted on.
set -eu
BENCH_SELF=$0
. "$(dirname "$0")/lib/common.sh"

echo "roundtrip: ${BENCH_ROUNDS:-200} calls of each kind on one VM ..."
if ! bench_provium --json "$ROOT/bench/roundtrip.test.lua" \
        >"$BENCH_TMP/report.json" 2>"$BENCH_TMP/stderr.txt"; then
    echo "roundtrip: the provium run failed:" >&2
    cat "$BENCH_TMP/stderr.txt" "$BENCH_TMP/report.json" >&2
    exit 1
fi
python3 "$BENCH_PY" roundtrip-report "$BENCH_TMP/report.json" "${BENCH_RESULTS:-}"
