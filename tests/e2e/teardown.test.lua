-- teardown.test.lua - how VMs and guest processes end: a guest power-off, lab:shutdown
-- (side by side, failures together, real durations, bridges kept) and the TERM-then-KILL
-- teardown of processes still running when their test ends.
local e2e = require("lib.e2e")

test("a guest power-off leaves the VM shutdown, not dead", function(t)
  local vm = provium:vm("off", "base")
  vm:boot()
  local err = t:assert_raises(function() vm:run("poweroff -f") end)
  t:assert_contains(err, "VM is shutdown; create a new one (the guest powered off)")
  t:assert_eq(vm:state(), "shutdown")
  t:assert_contains(t:assert_raises(function() vm:run("true") end), "VM is shutdown; create a new one")
  -- noticed by vm:state() too, without a call in flight
  local vm2 = provium:vm("off2", "base")
  vm2:boot()
  vm2:run_async("sleep 0.5; echo o > /proc/sysrq-trigger")
  wait_until(function() return vm2:state() ~= "booted" end, {timeout = 30, desc = "power-off"})
  t:assert_eq(vm2:state(), "shutdown")
end)

-- a file-scope VM outlives the test whose processes it ran
local pv = provium:vm("procs", "base")
local ignorer_pid

test("processes still running at scope end get TERM, then KILL after 2 s", function(t)
  pv:boot()
  -- one traps TERM and records it; one ignores TERM and must still be gone
  pv:run_async("trap 'echo got-term > /tmp/term; exit 0' TERM; touch /tmp/r1; while :; do sleep 0.1; done")
  local ignorer = pv:run_async("trap '' TERM; touch /tmp/r2; while :; do sleep 0.1; done")
  ignorer_pid = ignorer:pid()
  wait_until(function() return pv:exists("/tmp/r1") and pv:exists("/tmp/r2") end,
    {timeout = 30, desc = "both traps set"})
end)

test("... and the VM that ran them is still usable", function(t)
  t:assert_eq(pv:state(), "booted")
  t:assert_eq(pv:read_file("/tmp/term"), "got-term\n", "the trap saw TERM")
  t:assert(not pv:exists("/proc/" .. ignorer_pid), "the TERM-ignoring process was killed")
  -- p:close() does the same on demand
  local p = pv:run_async("trap 'echo closed > /tmp/closed; exit 0' TERM; touch /tmp/r3; while :; do sleep 0.1; done")
  wait_until(function() return pv:exists("/tmp/r3") end, {timeout = 30, desc = "the trap set"})
  p:close()
  t:assert_eq(pv:read_file("/tmp/closed"), "closed\n")
  p:close() -- a no-op now
end)

test("lab:shutdown: side by side, failures together, durations in events, bridges kept", function(t)
  local work = e2e.private_case("labshutdown")
  local ev = work .. "/events.jsonl"
  local out, code = e2e.provium({"--no-progress", "--cpu-overcommit", "4", "--events", ev}, work)
  t:log(out)
  t:assert_eq(code, 0, "the case passed")
  local durations = {}
  for line in io.lines(ev) do
    local e = json.decode(line)
    if e.kind == "vm_shutdown" then durations[e.vm_name] = e.duration_ns end
  end
  for _, name in ipairs({"a", "b", "d", "e"}) do
    t:assert(durations[name] and durations[name] > 0, "vm_shutdown of " .. name .. " has its duration")
  end
  -- the frozen ones were killed after 2 s + 1 s
  t:assert(durations.d >= 2.9e9 and durations.e >= 2.9e9, "killed after the grace time")
  e2e.host("rm -rf " .. e2e.q(work))
end)
