#!/bin/sh
# restore.sh - restoring a snapshot against a cold boot measured in the same run:
# restore -> first command answered (p50 over BENCH_N restores, default 20), cold
# boot -> first command answered (BENCH_COLD boots, default 3), the time to take a
# snapshot of a booted 256 MiB guest, and its bytes on disk as a share of guest RAM.
#
#   BENCH_N=20 BENCH_COLD=3 BENCH_SNAPS=3
#   BENCH_RESULTS=F   also append KEY=VALUE figures to F (used by run-all.sh)
#
# Then fixture restores (restore_fixture.test.lua), once mapped and once by stream
# (PROVIUM_NO_MAPPED_RESTORE=1): vm_fixture -> first run("true") p50 and lab_fixture of
# a two-VM lab, against the cold boot above.
#   BENCH_LAB_N=10
#
# Figures are printed, never asserted on. Targets (issue 3): restore p50 <= 0.25 s
# and <= 1/15 of the cold boot; snapshot bytes <= 12 % of guest RAM. Issue 14: mapped
# fixture restore p50 <= 150 ms and <= 1/40 of the cold boot.
set -eu
BENCH_SELF=$0
. "$(dirname "$0")/lib/common.sh"

echo "restore: ${BENCH_COLD:-3} cold boots, ${BENCH_SNAPS:-3} snapshots, ${BENCH_N:-20} restores ..."
if ! bench_provium --json "$ROOT/bench/restore.test.lua" \
        >"$BENCH_TMP/report.json" 2>"$BENCH_TMP/stderr.txt"; then
    echo "restore: the provium run failed:" >&2
    cat "$BENCH_TMP/stderr.txt" "$BENCH_TMP/report.json" >&2
    exit 1
fi
python3 "$BENCH_PY" restore-report "$BENCH_TMP/report.json" "${BENCH_RESULTS:-}"

# Fixture restores (issue 14): mapped (the hot form) and by stream, same fixtures.
for mode in mapped stream; do
    off=; [ "$mode" = stream ] && off=1
    echo "restore: ${BENCH_N:-20} vm_fixture and ${BENCH_LAB_N:-10} lab_fixture restores, $mode ..."
    if ! PROVIUM_NO_MAPPED_RESTORE=$off bench_provium --json \
            "$ROOT/bench/restore_fixture.test.lua" >"$BENCH_TMP/fx-$mode.json" \
            2>"$BENCH_TMP/fx-$mode.err"; then
        echo "restore: the fixture run failed ($mode):" >&2
        cat "$BENCH_TMP/fx-$mode.err" "$BENCH_TMP/fx-$mode.json" >&2
        exit 1
    fi
done
python3 - "$BENCH_TMP/report.json" "$BENCH_TMP/fx-mapped.json" "$BENCH_TMP/fx-stream.json" \
    "${BENCH_RESULTS:-}" <<'PY'
import json, sys
d = {}
for path in sys.argv[1:4]:
    for line in open(path):
        if line.startswith("{"):
            for t in json.loads(line).get("tests", []):
                for l in (t.get("log") or "").split("\n"):
                    if l.startswith("BENCH "):
                        d.update(json.loads(l[6:]))
p50 = lambda xs: sorted(xs)[max(1, -(-len(xs) // 2)) - 1] / 1e6
cold = p50(d["cold_ns"])
print("fixture restores: ms                       n      p50      min      max")
for key, name in (("mapped_vm_ns", "vm_fixture mapped -> run"), ("stream_vm_ns", "vm_fixture stream -> run"),
                  ("mapped_lab_ns", "lab_fixture (2 VMs) mapped"),
                  ("stream_lab_ns", "lab_fixture (2 VMs) stream")):
    xs = d[key]
    print("  %-34s %4d %8.1f %8.1f %8.1f" % (name, len(xs), p50(xs), min(xs) / 1e6, max(xs) / 1e6))
m, s = p50(d["mapped_vm_ns"]), p50(d["stream_vm_ns"])
print("  mapped restore p50 %.0f ms (target <= 150 ms), cold/mapped %.1fx (target >= 40x), "
      "stream/mapped %.2fx; lab stream/mapped %.2fx"
      % (m, cold / m, s / m, p50(d["stream_lab_ns"]) / p50(d["mapped_lab_ns"])))
if sys.argv[4]:
    with open(sys.argv[4], "a") as f:
        f.write("restore.fixture_mapped_p50_ms=%.1f\nrestore.fixture_stream_p50_ms=%.1f\n" % (m, s))
        f.write("restore.lab_mapped_p50_ms=%.1f\nrestore.lab_stream_p50_ms=%.1f\n"
                % (p50(d["mapped_lab_ns"]), p50(d["stream_lab_ns"])))
PY
