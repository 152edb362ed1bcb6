-- kill_worker.test.lua - its worker is killed from outside (kill -9 by a detached shell)
-- while a guest command is in flight. faults_hold.test.lua checks that only this file
-- fails (other.test.lua passes) and that its QEMU (PID in HOLD_DIR/qemu.pid) died with it.
local host = require("helpers.host")

test("boots, then its worker is killed", {timeout = 90}, function(t)
  local vm = provium:vm("victim", "base"):boot()
  local qemu = host.qemu_pid("victim")
  t:assert(qemu ~= nil, "found the VM's QEMU")
  host.write("qemu.pid", qemu .. "\n")
  host.kill_later(host.worker_pid(), "worker_killed_at")
  vm:run("sleep 60")
  t:fail("the worker outlived its kill")
end)

test("never runs", function(t) end)
