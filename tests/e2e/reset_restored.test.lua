-- reset_restored.test.lua - vm:reset() of a VM that came from a snapshot reboots it: the
-- restored QEMU carries the profile's kernel command line and initrd (its firmware loads
-- them again at a reset), not just the kernel. Before, such a reset panicked ("VFS: Unable
-- to mount root fs") on microvm and q35 alike, and the agent never answered.

local function reset_after_restore(t, profile)
  local vm = provium:vm(profile .. "-orig", profile):boot()
  vm:write_file("/tmp/mark", "before")
  local snap = vm:snapshot()
  vm:shutdown()
  local back = provium:vm(profile .. "-back", profile)
  back:restore(snap)
  t:assert_eq(back:read_file("/tmp/mark"), "before", "the restore brought the guest back")
  back:reset()
  t:assert_eq(back:state(), "booted")
  t:assert_eq(back:run("echo up").stdout, "up\n", "the agent answers after the reset")
  t:assert(not back:exists("/tmp/mark"), "a reset is a reboot: the tmpfs is new")
  t:assert_contains(back:read_file("/proc/cmdline"), "rdinit=/sbin/provium-agent")
  back:shutdown()
end

test("reset after a restore reboots (microvm)", function(t) reset_after_restore(t, "base") end)

test("reset after a restore reboots (q35)", function(t) reset_after_restore(t, "q35") end)
