-- vm_faults.test.lua - a QEMU killed under a command in flight and a guest kernel panic:
-- each fails its own test with the console tail, and the file goes on. HOLD_DIR gets
-- qemu_killed_at and raised_at (seconds) so faults_hold.test.lua can tell how quickly
-- the death was noticed. A test timeout keeps a hang from eating the file timeout and
-- shows where it hung (with the console tail).
local host = require("helpers.host")

test("QEMU killed under a command", {timeout = 90}, function(t)
  local vm = provium:vm("qkill", "base"):boot()
  vm:run("echo qkill-console-marker > /dev/console")
  vm:console():expect("qkill-console-marker", 10)
  local qemu = host.qemu_pid("qkill")
  t:assert(qemu ~= nil, "found the VM's QEMU")
  host.kill_later(qemu, "qemu_killed_at")
  local ok, err = pcall(vm.run, vm, "sleep 60")
  host.write("raised_at", ("%.6f\n"):format(host.now()))
  t:assert(not ok, "vm:run raised")
  error(err, 0)
end)

test("a guest kernel panic", {timeout = 90}, function(t)
  local vm = provium:vm("panicky", "base"):boot()
  vm:run("echo c > /proc/sysrq-trigger")
  t:fail("the guest survived its panic")
end)

test("the next test runs", function(t)
  t:log("ran after the panic")
end)
