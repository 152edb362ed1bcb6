#!/bin/sh
# density.sh - many VMs from one fixture (issue 14): BENCH_CLONES (8) VMs restored from
# fixtures/dense (512 MiB, 200 MB of random bytes written into a tmpfs before the
# snapshot), once mapped and once by stream (PROVIUM_NO_MAPPED_RESTORE=1, the baseline,
# same run). Prints the summed private memory (Private_Dirty + Private_Clean from
# /proc/PID/smaps_rollup) and Rss of their QEMUs and the host's MemAvailable drop.
#
#   BENCH_CLONES=8  BENCH_RESULTS=F (KEY=VALUE figures appended)
#
# Figures are printed, never asserted on. Target (issue 14): mapped clones' private
# memory <= 2x one guest's RAM.
set -eu
BENCH_SELF=$0
. "$(dirname "$0")/lib/common.sh"

for mode in mapped stream; do
    off=; [ "$mode" = stream ] && off=1
    echo "density: ${BENCH_CLONES:-8} clones of fixtures/dense, $mode ..."
    # the pool must hold 8 x (512 + 100) MiB and 8 vCPUs even on the stream path
    if ! PROVIUM_NO_MAPPED_RESTORE=$off bench_provium --json --mem 8G --cpu-overcommit 8 \
            "$ROOT/bench/density.test.lua" >"$BENCH_TMP/$mode.json" 2>"$BENCH_TMP/$mode.err"; then
        echo "density: the provium run failed ($mode):" >&2
        cat "$BENCH_TMP/$mode.err" "$BENCH_TMP/$mode.json" >&2
        exit 1
    fi
done
python3 - "$BENCH_TMP/mapped.json" "$BENCH_TMP/stream.json" "${BENCH_RESULTS:-}" <<'PY'
import json, sys
d = {}
for path in sys.argv[1:3]:
    for line in open(path):
        if not line.startswith("{"):
            continue
        o = json.loads(line)
        for t in o.get("tests", []):
            for l in (t.get("log") or "").split("\n"):
                if l.startswith("BENCH "):
                    d.update(json.loads(l[6:]))
mib = lambda b: b / 2**20
g = d["guest_bytes"]
print("density: %d clones of a %d MiB guest    private MiB    Rss MiB   MemAvailable drop MiB"
      % (d["clones"], mib(g)))
for m in ("mapped", "stream"):
    print("  %-34s %10.0f %10.0f %12.0f" % (m, mib(d[m + "_private_bytes"]),
                                            mib(d[m + "_rss_bytes"]), mib(d[m + "_avail_drop_bytes"])))
print("  mapped private = %.2f x one guest's RAM (target <= 2x); stream/mapped private %.1fx"
      % (d["mapped_private_bytes"] / g, d["stream_private_bytes"] / max(1, d["mapped_private_bytes"])))
if sys.argv[3]:
    with open(sys.argv[3], "a") as f:
        for m in ("mapped", "stream"):
            f.write("density.%s_private_mib=%.0f\n" % (m, mib(d[m + "_private_bytes"])))
            f.write("density.%s_avail_drop_mib=%.0f\n" % (m, mib(d[m + "_avail_drop_bytes"])))
PY
