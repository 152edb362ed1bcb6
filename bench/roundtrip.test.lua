-- roundtrip.test.lua - the cost of one agent round trip on one booted VM.
--   vm:run("true")        BENCH_ROUNDS times (default 200), r.duration each
--   vm:run("true", {args = {}})  the argv form (exec, no sh -c), same count
--   vm:stat("/")          same count, timed with the host clock (lib/clock.lua)
-- Reference, same VM: the guest's own fork+exec and fork cost from a shell loop.
-- A few warm-up calls go first and are not counted (the first is reported alone).
-- The figures go out as one "BENCH {json}" log line that bench/roundtrip.sh reads.
local clock = require("lib.clock")
local rounds = tonumber(os.getenv("BENCH_ROUNDS") or "200") or 200

local vm = provium:vm("rt", "bench"):boot()

test("round trips", function(t)
  local first = vm:run("true")
  first:assert_ok()
  for _ = 1, 10 do
    vm:run("true"):assert_ok()
    vm:stat("/")
  end

  local run_true = {}
  for i = 1, rounds do
    local r = vm:run("true")
    if not r:ok() then
      r:assert_ok()
    end
    run_true[i] = r.duration
  end

  local run_argv = {}
  for i = 1, rounds do
    local r = vm:run("true", {args = {}})
    if not r:ok() then
      r:assert_ok()
    end
    run_argv[i] = r.duration
  end

  local out = {
    clock = clock.source,
    clock_overhead_ns = clock.overhead_ns(),
    first_run = first.duration,
    run_true = run_true,
    run_argv = run_argv,
    stat_n = rounds,
  }

  -- with a fine clock: per call, for stat and (as a cross-check of r.duration) run
  if clock.fine then
    local wall, st = {}, {}
    for i = 1, rounds do
      local a = clock.now_ns()
      vm:run("true")
      local b = clock.now_ns()
      wall[i] = b - a
    end
    for i = 1, rounds do
      local a = clock.now_ns()
      vm:stat("/")
      local b = clock.now_ns()
      st[i] = b - a
    end
    out.run_true_wall_ns = wall
    out.stat_wall_ns = st
  end
  -- same-run reference for where run()'s time goes: the guest's own cost of
  -- fork+exec of /bin/true (busybox) and of a bare fork, from a busybox sh loop,
  -- timed by the guest's /proc/uptime (10 ms steps; 100 iterations each)
  local loop = [[
read a _ </proc/uptime; i=0; while [ $i -lt 100 ]; do %s; i=$((i+1)); done
read b _ </proc/uptime; echo $a $b]]
  local function per_iter_s(body)
    local r = vm:run(string.format(loop, body))
    r:assert_ok()
    local a, b = r.stdout:match("([%d.]+) ([%d.]+)")
    return (tonumber(b) - tonumber(a)) / 100
  end
  out.guest_fork_exec = per_iter_s("/bin/true")
  out.guest_fork = per_iter_s("(:)")
  out.guest_clocksource = vm:read_file("/sys/devices/system/clocksource/clocksource0/current_clocksource"):gsub("%s+$", "")

  -- always: the whole stat batch, which a coarse clock can still time
  local a = clock.now_ns()
  for _ = 1, rounds do
    vm:stat("/")
  end
  out.stat_batch_ns = clock.now_ns() - a

  t:log("BENCH " .. json.encode(out))
end)
