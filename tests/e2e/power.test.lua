-- power.test.lua - the guest's power and the boot options around it (spec §4.2, §4.5):
-- vm:power_button (ACPI; whoever watches the button powers the guest off: acpid, or
-- the agent when nothing else does), vm:wakeup (S3 on q35), initial_time, rng_seed,
-- the virtio console (hvc0) in the console log, and console:write (typing into ttyS0:
-- the image's console shell, a `read` prompt, a busybox getty login).

local function wait_shutdown(vm)
  wait_until(function() return vm:state() == "shutdown" end,
    {timeout = 60, desc = "vm " .. vm:name() .. " shutdown"})
end

test("boot options initial_time and rng_seed are checked before booting", function(t)
  local vm = provium:vm("badopts", "base")
  t:assert_contains(t:assert_raises(function() vm:boot({initial_time = "soon"}) end),
    "vm:boot: option `initial_time` must be epoch seconds")
  t:assert_contains(t:assert_raises(function() vm:boot({initial_time = -1}) end),
    "option `initial_time` must be epoch seconds")
  t:assert_contains(t:assert_raises(function() vm:boot({rng_seed = 1.5}) end),
    "vm:boot: option `rng_seed` must be an integer")
  t:assert_eq(vm:state(), "created")
end)

-- microvm, the base image: its /init shell is PID 1 and runs a shell on the console.
test("initial_time, rng_seed, hvc0, typing, and the power button on microvm", function(t)
  local vm = provium:vm("pw", "base"):boot({initial_time = 1000000000, rng_seed = 424242})
  -- the guest clock started at initial_time (2001-09-09), not at the host's
  local now = tonumber(vm:run("date +%s").stdout)
  t:assert(now >= 1000000000 and now < 1000000000 + 600, "guest clock at boot: " .. now)
  t:assert(vm:clock():get() < 1000000000 + 600, "clock:get follows initial_time")
  -- the agent got the seed and mixed it in
  t:assert_contains(vm:run("dmesg").stdout, "provium-agent: rng_seed 424242 mixed into the guest RNG")
  t:assert_contains(vm:read_file("/proc/cmdline"), "provium.rng_seed=424242")
  -- what the guest writes to /dev/hvc0 is in the console log
  vm:run("echo hvc-says-$((40+2)) > /dev/hvc0"):assert_ok()
  vm:console():expect("hvc-says-42", 20)
  -- typing into the serial console: the image's console shell runs the line
  vm:console():write("echo typed-$((6*7)) > /tmp/typed\n")
  wait_until(function() return vm:exists("/tmp/typed") end, {timeout = 20, desc = "typed line ran"})
  t:assert_eq(vm:read_file("/tmp/typed"), "typed-42\n")
  t:assert_contains(t:assert_raises(function() vm:console():write("x", {tmeout = 1}) end),
    "console:write: unknown option `tmeout`")
  -- acpid watches the button: the agent leaves the press to it, and acpid powers off
  vm:mkdir("/etc/acpi/PWRF", {parents = true})
  vm:write_file("/etc/acpi/PWRF/00000080",
    "#!/bin/sh\necho acpid-saw-the-power-button > /dev/console\nsync\npoweroff -f\n",
    {mode = tonumber("755", 8)})
  vm:run("acpid -d </dev/null >/tmp/acpid.log 2>&1 &"):assert_ok()
  wait_until(function()
    return vm:run("ls -l /proc/*/fd 2>/dev/null | grep -c /dev/input/event").stdout:match("^[1-9]") ~= nil
  end, {timeout = 20, desc = "acpid watching /dev/input"})
  t:assert_contains(t:assert_raises(function() vm:wakeup() end),
    "vm:wakeup: machine microvm has no suspend to RAM")
  vm:power_button()
  wait_shutdown(vm)
  local log = vm:console():read_log()
  t:assert_contains(log, "acpid-saw-the-power-button")
  t:assert_contains(log, "provium-agent: power button: left to PID")
  t:assert_contains(t:assert_raises(function() vm:power_button() end),
    "vm:power_button: VM is shutdown; create a new one")
end)

-- The agent as PID 1 (provium.init= names no executable, so it keeps PID 1): nobody else
-- reads ttyS0, a `read` prompt gets the typed line, a busybox getty logs root in (empty
-- password), and with nothing watching the power button the agent powers the guest off.
test("a read prompt, a getty login, and the agent as PID 1 powers off", function(t)
  local vm = provium:vm("pid1", "base"):boot({
    kernel_cmdline_append = "provium.init=none",
    files = {{path = "/etc/passwd", content = "root::0:0:root:/root:/bin/sh\n"}},
  })
  t:assert_eq(vm:run("cat /proc/1/comm").stdout, "provium-agent\n")
  local p = vm:run_async("sh -c 'read x < /dev/ttyS0; echo got:$x > /tmp/r'")
  vm:console():write("hello\n")
  t:assert_eq(p:wait(30).exit_code, 0)
  t:assert_eq(vm:read_file("/tmp/r"), "got:hello\n")
  -- getty must lead its session: setsid forks it out of the agent's process group
  vm:run("setsid getty -L 0 ttyS0 vt100"):assert_ok()
  vm:console():expect("pid1 login:", 30)
  vm:console():write("root\n")
  vm:console():expect("/root # ", 30) -- typed before the prompt, login would flush it
  vm:console():write("echo logged-in-$((6*7)) > /tmp/login\n")
  wait_until(function() return vm:exists("/tmp/login") end, {timeout = 30, desc = "login shell ran"})
  t:assert_eq(vm:read_file("/tmp/login"), "logged-in-42\n")
  vm:power_button()
  wait_shutdown(vm)
  t:assert_contains(vm:console():read_log(), "power button: nothing else watches it; powering off")
end)

-- q35 has ACPI S3: a guest suspended to RAM is woken by vm:wakeup.
test("wakeup from suspend to RAM on q35", function(t)
  local vm = provium:vm("sleeper", "q35"):boot()
  t:assert_contains(t:assert_raises(function() vm:wakeup() end),
    "vm:wakeup: the guest is not suspended (QEMU says running)")
  local p = vm:run_async("echo suspending > /dev/ttyS0; echo mem > /sys/power/state; echo resumed:$? > /dev/ttyS0")
  vm:console():expect("suspending", 30)
  wait_until(function() return pcall(vm.wakeup, vm) end, {timeout = 30, desc = "wakeup accepted"})
  vm:console():expect("resumed:0", 30)
  t:assert_eq(vm:state(), "booted") -- the agent's port, closed by the suspend, is open again
  t:assert_eq(p:wait(30).exit_code, 0)
  t:assert_eq(vm:run("echo awake").stdout, "awake\n")
end)
