-- teardown.test.lua - how VMs end: a guest power-off and lab:shutdown (side by side,
-- failures together, real durations, bridges kept). What a test leaves behind when it
-- ends (processes TERM then KILL among them) is scope_end.test.lua's.
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
