#!/bin/sh
# forge_up.sh - `provium forge up` of examples/forge/hello until its greeting ("hello
# from forge") reaches stdout, against a provium test (bench/forge_up.test.lua) that
# boots the bench profile - the same host kernel - and has a guest command print the
# same greeting, in the same run (target: forge up <= 1.2x the test). Both are timed
# from the process start on the host clock: to the greeting line for forge up (and to
# its exit, QEMU gone), to the exit for the test run (boot, command, shutdown).
#
#   BENCH_N=5        rounds (alternating: forge up, test, forge up, ...)
#   BENCH_RESULTS=F  also append KEY=VALUE figures to F (used by run-all.sh)
#
# Figures are printed, never asserted on.
set -eu
BENCH_SELF=$0
. "$(dirname "$0")/lib/common.sh"

N=${BENCH_N:-5}
export XDG_CACHE_HOME="$BENCH_TMP/cache" XDG_RUNTIME_DIR="$BENCH_TMP/run"

# Runs argv; prints "<ms to the first line containing MARK or -1> <ms to exit> <status>".
timed() {
    python3 - "$@" <<'PY'
import subprocess, sys, time
mark, argv = sys.argv[1], sys.argv[2:]
t0 = time.monotonic()
p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
seen = -1
for line in p.stdout:
    if seen < 0 and mark.encode() in line:
        seen = (time.monotonic() - t0) * 1000
rc = p.wait()
print("%.0f %.0f %d" % (seen, (time.monotonic() - t0) * 1000, rc))
PY
}

# the bench image exists before the first timed test run (a build is not a boot)
bench_provium "$ROOT/bench/forge_up.test.lua" >/dev/null 2>&1 || {
    echo "forge_up: the provium test fails:" >&2
    bench_provium "$ROOT/bench/forge_up.test.lua" >&2
    exit 1
}
# and the artifact is compiled once (later ups only re-check it)
"$PROVIUM" forge up "$ROOT/examples/forge/hello/manifest.json" >/dev/null 2>&1

: >"$BENCH_TMP/forge.txt"
: >"$BENCH_TMP/test.txt"
i=1
while [ "$i" -le "$N" ]; do
    f=$(timed "hello from forge" "$PROVIUM" forge up "$ROOT/examples/forge/hello/manifest.json")
    t=$(timed "PASS" "$PROVIUM" --config "$BENCH_CFG" --no-progress "$ROOT/bench/forge_up.test.lua")
    echo "forge_up: round $i/$N: forge up greeting/exit/status $f; test greeting-run exit/status ${t#* }"
    echo "$f" >>"$BENCH_TMP/forge.txt"
    echo "$t" >>"$BENCH_TMP/test.txt"
    i=$((i + 1))
done

python3 - "$BENCH_TMP/forge.txt" "$BENCH_TMP/test.txt" "${BENCH_RESULTS:-}" <<'PY'
import statistics, sys
def load(p):
    return [tuple(float(x) for x in l.split()) for l in open(p) if l.strip()]
f, t = load(sys.argv[1]), load(sys.argv[2])
bad = [r for r in f + t if r[2] != 0] + [r for r in f if r[0] < 0]
greet = statistics.median(r[0] for r in f)
fexit = statistics.median(r[1] for r in f)
test = statistics.median(r[1] for r in t)
print("forge_up: forge up to greeting %.0f ms median (min %.0f), to exit %.0f ms" %
      (greet, min(r[0] for r in f), fexit))
print("forge_up: provium test (boot, greeting, shutdown) %.0f ms median (min %.0f)" %
      (test, min(r[1] for r in t)))
print("forge_up: ratio greeting/test %.2f (target <= 1.2), exit/test %.2f%s" %
      (greet / test, fexit / test, "; FAILED RUNS: %d" % len(bad) if bad else ""))
if sys.argv[3]:
    with open(sys.argv[3], "a") as out:
        out.write("forge.up.greeting_ms=%.0f\nforge.up.exit_ms=%.0f\nforge.up.test_ms=%.0f\n"
                  "forge.up.ratio=%.2f\n" % (greet, fexit, test, greet / test))
sys.exit(1 if bad else 0)
PY
