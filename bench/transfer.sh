#!/bin/sh
# transfer.sh - vm:push_file and vm:read_file throughput for one 64 MiB file of
# random bytes, against the host's own copy of the same file (cp, page cache to
# page cache) in the same run.
#
#   BENCH_MIB=64     file size in MiB
#   BENCH_REPS=3     repetitions of each operation (and of the host copy)
#   BENCH_RESULTS=F  also append KEY=VALUE figures to F (used by run-all.sh)
#
# Figures are printed, never asserted on.
set -eu
BENCH_SELF=$0
. "$(dirname "$0")/lib/common.sh"

MIB=${BENCH_MIB:-64}
REPS=${BENCH_REPS:-3}
SRC=$(mktemp "$BENCH_TMP/src.XXXXXX")
head -c "$((MIB * 1024 * 1024))" /dev/urandom >"$SRC"
SIZE=$(wc -c <"$SRC" | tr -d ' ')
SHA=$(sha256sum "$SRC" | cut -d' ' -f1)

# the host baseline: the same file copied by cp, REPS times, ns each
: >"$BENCH_TMP/hostcp.txt"
i=0
while [ "$i" -lt "$REPS" ]; do
    DST=$(mktemp "$BENCH_TMP/dst.XXXXXX")
    a=$(date +%s%N)
    cp "$SRC" "$DST"
    b=$(date +%s%N)
    echo "$((b - a))" >>"$BENCH_TMP/hostcp.txt"
    rm -f "$DST"
    i=$((i + 1))
done

echo "transfer: $MIB MiB, $REPS x push_file and read_file ..."
if ! BENCH_FILE=$SRC BENCH_SHA256=$SHA BENCH_SIZE=$SIZE BENCH_REPS=$REPS \
        bench_provium --json "$ROOT/bench/transfer.test.lua" \
        >"$BENCH_TMP/report.json" 2>"$BENCH_TMP/stderr.txt"; then
    echo "transfer: the provium run failed:" >&2
    cat "$BENCH_TMP/stderr.txt" "$BENCH_TMP/report.json" >&2
    exit 1
fi
python3 "$BENCH_PY" transfer-report "$BENCH_TMP/report.json" "$BENCH_TMP/hostcp.txt" "${BENCH_RESULTS:-}"
