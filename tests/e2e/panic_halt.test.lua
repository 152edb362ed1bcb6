-- panic_halt.test.lua - a guest kernel that panics and then halts (Debian's initramfs-tools
-- image with no `panic=` on its command line: the kernel waits forever, QEMU runs on) is
-- a dead VM within seconds, found on its console, not a call that waits for the deadline.

test("a panic that never reboots makes the VM dead at once", {timeout = 120}, function(t)
  local vm = provium:vm("halts", "img-debian"):boot()
  t:assert(not vm:read_file("/proc/cmdline"):find("panic=", 1, true), "no panic= given")
  local t0 = os.time()
  local ok, err = pcall(vm.run, vm, "echo c > /proc/sysrq-trigger")
  local took = os.time() - t0
  t:log(("%s after %d s"):format(tostring(err), took))
  t:assert(not ok, "vm:run raised")
  t:assert_contains(tostring(err), "vm:run: VM died; create a new one (the guest kernel panicked)")
  t:assert(took < 45, ("noticed after %d s"):format(took))
  t:assert_eq(vm:state(), "dead")
end)
