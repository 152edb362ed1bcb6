-- faults_agent.test.lua - a guest agent that dies must not hang the test: QEMU reports the
-- agent's port closing (QMP VSERPORT_CHANGE) and the VM is dead at once, with the agent
-- guarded against the guest's OOM killer; and VM names as long as allowed boot under a
-- long TMPDIR (unix socket paths past 108 bytes).
local e2e = require("lib.e2e")

local function uptime()
  local f = assert(io.open("/proc/uptime"))
  local s = f:read("n")
  f:close()
  return s
end

test("a killed agent fails the call in flight at once, with the dead phrase", function(t)
  local vm = provium:vm("agentkill", "base")
  vm:boot()
  vm:run_async("sleep 1; kill -9 $(pidof provium-agent)")
  local t0 = uptime()
  local err = t:assert_raises(function() vm:run("sleep 60") end)
  local took = uptime() - t0 - 1
  t:log(("agent killed -> vm:run raised after %.2f s"):format(took))
  t:assert_contains(err, "VM died; create a new one (agent exited)")
  t:assert(took < 10, ("noticed after %.1f s"):format(took))
  t:assert_eq(vm:state(), "dead")
  t:assert_contains(t:assert_raises(function() vm:run("true") end), "VM died; create a new one")
end)

test("a killed agent is noticed by vm:state() without a call in flight", function(t)
  local vm = provium:vm("agentkill2", "base")
  vm:boot()
  vm:run_async("sleep 0.5; kill -9 $(pidof provium-agent)")
  wait_until(function() return vm:state() ~= "booted" end, {timeout = 30, desc = "the agent's death"})
  t:assert_eq(vm:state(), "dead")
  t:assert_contains(t:assert_raises(function() vm:read_file("/etc/hostname") end),
    "VM died; create a new one")
end)

test("the agent is out of the OOM killer's reach, its commands are not", function(t)
  local vm = provium:vm("oomadj", "base")
  vm:boot()
  t:assert_eq(vm:run("cat /proc/$(pidof provium-agent)/oom_score_adj").stdout, "-1000\n")
  t:assert_eq(vm:run("cat /proc/self/oom_score_adj").stdout, "0\n")
  -- a reset closes and reopens the agent's port: not a death
  vm:reset()
  t:assert_eq(vm:run("echo alive").stdout, "alive\n")
  t:assert_eq(vm:state(), "booted")
end)

test("63-character VM names boot under a 50-character TMPDIR", function(t)
  local work = e2e.private_case("longnames")
  local tmp = work .. "/t"
  tmp = tmp .. string.rep("x", 50 - #tmp)
  t:assert_eq(#tmp, 50)
  e2e.host("mkdir -p " .. e2e.q(tmp))
  local out, code = e2e.provium({"--no-progress", "--cpu-overcommit", "4"}, work,
    "TMPDIR=" .. e2e.q(tmp))
  t:log(out)
  t:assert_eq(code, 0, "the case passed")
  t:assert_contains(out, "1 passed")
  e2e.host("rm -rf " .. e2e.q(work))
end)
