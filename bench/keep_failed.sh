#!/bin/sh
# keep_failed.sh - what `--keep-failed` costs a failure, and how soon `provium debug`
# answers (issue 15).
#
# A generated test file boots one 256 MiB VM (or a two-VM lab on a bridge), runs a
# command, notes the host clock and fails. The extra wall time of a failure is the
# time from that instant to the end of the provium process, with --keep-failed minus
# without (the same-run baseline; the two sides take turns, BENCH_N rounds each,
# default 3). Then `provium debug DIR` of what was kept, fed `print("ready")` on a
# pipe: process start until that line is answered (restore + prompt), BENCH_N times.
#
#   BENCH_N=3   BENCH_RESULTS=F (append KEY=VALUE figures to F)
#
# Figures are printed, never asserted on.
set -eu
BENCH_SELF=$0
. "$(dirname "$0")/lib/common.sh"

cat >"$BENCH_TMP/fail.test.lua" <<'EOF'
-- boots BENCH_VMS VMs (1, or 2 on a bridge), notes the clock, fails
test("fails", function(t)
  local vms = {provium:vm("a", "bench")}
  if os.getenv("BENCH_VMS") == "2" then
    vms[2] = provium:vm("b", "bench")
    provium:bridge("lan"):attach(vms)
  end
  for _, v in ipairs(vms) do v:boot() end
  vms[1]:run("true"):assert_ok()
  local p = io.popen("date +%s%N")
  local now = p:read("l")
  p:close()
  local f = assert(io.open(os.getenv("BENCH_MARK"), "w"))
  f:write(now)
  f:close()
  t:fail("failing on purpose")
end)
EOF

python3 - "$PROVIUM" "$BENCH_CFG" "$BENCH_TMP" "${BENCH_N:-3}" "${BENCH_RESULTS:-}" <<'PY'
import os, subprocess, sys, time
exe, cfg, tmp, n, results = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]
mark = os.path.join(tmp, "mark")

def fail_run(vms, keep):
    """failure instant -> provium's exit, in seconds"""
    args = [exe, "--config", cfg, "--no-progress", "--timeout", "3600",
            os.path.join(tmp, "fail.test.lua")]
    if keep:
        args.insert(1, "--keep-failed=" + os.path.join(tmp, "kept%d" % vms))
    env = dict(os.environ, BENCH_VMS=str(vms), BENCH_MARK=mark)
    if os.path.exists(mark):
        os.remove(mark)
    r = subprocess.run(args, env=env, capture_output=True, text=True)
    end = time.time_ns()
    if r.returncode != 1 or not os.path.exists(mark):
        sys.exit("keep_failed: unexpected run (exit %d):\n%s%s" % (r.returncode, r.stdout, r.stderr))
    return (end - int(open(mark).read())) / 1e9

def debug_start(vms):
    """provium debug start -> its answer to the first piped line, in seconds"""
    d = [root for root, _, files in os.walk(os.path.join(tmp, "kept%d" % vms))
         if "failure.json" in files][0]
    t0 = time.time_ns()
    err = open(os.path.join(tmp, "debug.err"), "w+")
    p = subprocess.Popen([exe, "debug", d], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=err, text=True)
    p.stdin.write('print("ready")\n')
    p.stdin.flush()
    line = p.stdout.readline()
    t1 = time.time_ns()
    p.stdin.close()
    p.wait()
    if line.strip() != "ready":
        err.seek(0)
        sys.exit("keep_failed: provium debug did not answer (%r):\n%s" % (line, err.read()))
    err.close()
    return (t1 - t0) / 1e9

med = lambda xs: sorted(xs)[(len(xs) - 1) // 2]
out = []
for vms in (1, 2):
    off, on = [], []
    for _ in range(n):
        off.append(fail_run(vms, False))
        on.append(fail_run(vms, True))
    dbg = [debug_start(vms) for _ in range(n)]
    what = "one 256 MiB VM" if vms == 1 else "two-VM lab"
    print("keep_failed: %s: failure -> exit median %.2f s without, %.2f s with --keep-failed: "
          "+%.2f s (x%.2f); provium debug -> first answer median %.2f s (min %.2f)"
          % (what, med(off), med(on), med(on) - med(off), med(on) / med(off), med(dbg), min(dbg)))
    out += ["keep_failed.vms%d_without_s=%.2f" % (vms, med(off)),
            "keep_failed.vms%d_with_s=%.2f" % (vms, med(on)),
            "keep_failed.vms%d_debug_s=%.2f" % (vms, med(dbg))]
if results:
    with open(results, "a") as f:
        f.write("\n".join(out) + "\n")
PY
