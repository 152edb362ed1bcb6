-- roundtrip.test.lua - the cost of one agent round trip on one booted VM.
-- Each of BENCH_ROUNDS rounds (default 200) makes three calls, interleaved so that
-- load from other processes hits all three alike:
--   vm:run("true")                r.duration (host clock around the round trip),
--                                 and the host clock of lib/clock.lua around the call
--   vm:run("true", {args = {}})   the argv form: exec, no sh -c; r.duration
--   vm:stat("/")                  no process at all; host clock around the call
-- Same-run reference: the guest's own cost of fork+exec and of a bare fork, from a
-- busybox sh loop. A few warm-up calls go first and are not counted (the very first
-- is reported alone). Everything goes out as one "BENCH {json}" log line that
-- bench/roundtrip.sh reads.
local clock = require("lib.clock")
local rounds = tonumber(os.getenv("BENCH_ROUNDS") or "200") or 200

local vm = provium:vm("rt", "bench"):boot()

local function run_ok(...)
  local r = vm:run(...)
  if not r:ok() then
    r:assert_ok()
  end
  return r
end

test("round trips", function(t)
  local first = run_ok("true")
  for _ = 1, 10 do
    run_ok("true")
    run_ok("true", {args = {}})
    vm:stat("/")
  end

  local run_true, run_argv, wall, st = {}, {}, {}, {}
  for i = 1, rounds do
    local a = clock.now_ns()
    local r = run_ok("true")
    local b = clock.now_ns()
    run_true[i], wall[i] = r.duration, b - a

    run_argv[i] = run_ok("true", {args = {}}).duration

    a = clock.now_ns()
    vm:stat("/")
    b = clock.now_ns()
    st[i] = b - a
  end

  local out = {
    clock = clock.source,
    clock_overhead_ns = clock.overhead_ns(),
    first_run = first.duration,
    run_true = run_true,
    run_argv = run_argv,
  }
  -- per-call host-clock figures only when the clock is fine enough for that
  if clock.fine then
    out.run_true_wall_ns = wall
    out.stat_wall_ns = st
  end

  -- the whole stat batch, which even a coarse clock can time
  local a = clock.now_ns()
  for _ = 1, rounds do
    vm:stat("/")
  end
  out.stat_batch_ns = clock.now_ns() - a
  out.stat_n = rounds

  -- the guest's own fork+exec of /bin/true (busybox) and bare fork (a subshell),
  -- 100 iterations each, timed by the guest's /proc/uptime (10 ms steps)
  local loop = [[
read a _ </proc/uptime; i=0; while [ $i -lt 100 ]; do %s; i=$((i+1)); done
read b _ </proc/uptime; echo $a $b]]
  local function per_iter_s(body)
    local r = run_ok(string.format(loop, body))
    local x, y = r.stdout:match("([%d.]+) ([%d.]+)")
    return (tonumber(y) - tonumber(x)) / 100
  end
  out.guest_fork_exec = per_iter_s("/bin/true")
  out.guest_fork = per_iter_s("(:)")
  out.guest_clocksource =
    vm:read_file("/sys/devices/system/clocksource/clocksource0/current_clocksource"):gsub("%s+$", "")

  t:log("BENCH " .. json.encode(out))
end)
