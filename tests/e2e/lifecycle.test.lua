-- lifecycle.test.lua - the VM state machine, boot options, boot errors and sub-labs.
-- (That a test's VMs are shut down when it ends is checked in scope_end.test.lua, by a
-- sub-run: only a later test can see it.)

test("a created VM refuses commands; bad names and profiles raise", function(t)
  local vm = provium:vm("c1", "base")
  t:assert_eq(vm:state(), "created")
  t:assert_contains(t:assert_raises(function() vm:run("true") end), "vm:run: VM not booted")
  t:assert_contains(t:assert_raises(function() provium:vm("x", "nope") end),
    "unknown profile 'nope'")
  t:assert_contains(t:assert_raises(function() provium:vm("bad name", "base") end), "invalid name")
  t:assert_contains(t:assert_raises(function() provium:vm("vm_fixture", "base") end), "invalid name")
  t:assert_contains(t:assert_raises(function() provium:vm("c1", "base") end), "already exists")
  t:assert_contains(t:assert_raises(function() provium:vm("c2", "base", {memory = "lots"}) end),
    "invalid size: lots")
end)

test("boot options: injected files and an appended command line", function(t)
  local vm = provium:vm("opts", "base", {memory = "192M"}):boot({
    files = {
      {path = "/etc/greeting", content = "hi\n"},
      {path = "/opt/tool/run.sh", content = "#!/bin/sh\necho ran\n", mode = tonumber("755", 8)},
    },
    kernel_cmdline_append = "provium.e2e=42",
  })
  t:assert_eq(vm:read_file("/etc/greeting"), "hi\n")
  t:assert_eq(vm:run("/opt/tool/run.sh").stdout, "ran\n")
  t:assert_contains(vm:read_file("/proc/cmdline"), "provium.e2e=42")
  t:assert_contains(vm:read_file("/proc/cmdline"), "rdinit=/sbin/provium-agent")
  local kb = tonumber(vm:run("awk '/MemTotal/ {print $2}' /proc/meminfo").stdout)
  t:assert(kb > 100000 and kb < 200000, "memory option honoured: " .. kb .. " kB")
  t:assert_contains(t:assert_raises(function() vm:boot() end), "VM already booted")
end)

test("boot errors: missing kernel, not a bzImage, a kernel panic", function(t)
  t:assert_contains(t:assert_raises(function() provium:vm("m", "missing"):boot() end),
    "missing kernel: /")
  t:assert_contains(t:assert_raises(function() provium:vm("n", "notbz"):boot() end),
    "is not a bzImage")
  -- no initrd and no agent: the kernel panics; the error carries the console tail
  local e = t:assert_raises(function() provium:vm("p", "panics"):boot() end)
  t:assert_contains(e, "Kernel panic")
  t:assert_contains(e, "---- console of vm p")
end)

test("sub-labs, lab:boot side by side, pause and resume", function(t)
  local dc = provium:lab("dc1")
  t:assert_eq(provium.dc1, dc)
  t:assert_eq(dc:name(), "dc1")
  t:assert_contains(t:assert_raises(function() provium:lab("dc1") end), "already exists")
  t:assert_eq(provium:lab():name(), "__lab_2")
  local a = dc:vm("a", "base")
  local b = provium:vm("b", "base")
  t:assert_contains(t:assert_raises(function() dc:vm("b", "base") end), "shadows")
  provium:boot()
  t:assert_eq(a:state(), "booted")
  t:assert_eq(b:state(), "booted")
  t:assert_eq(dc.a:run("hostname").stdout, "a\n")

  a:pause()
  t:assert_eq(a:state(), "paused")
  t:assert_contains(t:assert_raises(function() a:run("true") end), "VM is paused; use resume()")
  t:assert_contains(t:assert_raises(function() a:pause() end), "VM is paused; use resume()")
  a:resume()
  t:assert_contains(t:assert_raises(function() a:resume() end), "VM already booted")
  t:assert_eq(a:run("echo back").stdout, "back\n")

  provium:pause()
  t:assert_eq(b:state(), "paused")
  t:assert_eq(a:state(), "paused")
  provium:resume()
  t:assert_eq(b:run("echo b").stdout, "b\n")
  t:assert_eq(a:run("echo a").stdout, "a\n")
  t:assert_contains(t:assert_raises(function() provium:vm("c", "base"):resume() end),
    "VM not booted")
end)
