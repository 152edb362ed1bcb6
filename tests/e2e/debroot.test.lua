-- debroot.test.lua - a distribution image end to end (issue 8 part 2): Debian's
-- initramfs-tools initrd mounts a Debian root disk (root=/dev/vda, built from Debian's
-- packages by lib/mkdebroot.sh) and switch_roots into systemd; the agent, started
-- first from the overlay, must follow PID 1 into that root. Skipped, with the reason,
-- only when the build could not reach the package mirror.
local e2e = require("lib.e2e")
local matrix = require("lib.matrix")

local out = e2e.dir:gsub("/tests/e2e$", "") .. "/build/e2e-debroot"

local function unavailable()
  local f = io.open(out .. "/unavailable")
  if not f then return nil end
  local why = f:read("a"):gsub("%s+$", "")
  f:close()
  return why
end

local function host_codename()
  local f = io.open("/etc/os-release")
  if not f then return nil end
  local s = f:read("a")
  f:close()
  return s:match("\nVERSION_CODENAME=\"?([%w-]+)")
end

test("Debian's initrd boots a Debian root disk into systemd", function(t)
  local why = unavailable()
  if why then t:skip(why) end
  local started = os.time()
  local vm = provium:vm("debroot", "debroot"):boot()
  -- the agent answers from the initramfs first; the root is the disk once
  -- initramfs-tools has switched over (systemctl is not in the initrd)
  wait_until(function() return vm:exists("/usr/bin/systemctl") end,
    {timeout = 180, interval = 1, desc = "the agent sees the root disk"})
  t:assert_eq(vm:run("stat -f -c %T /"):assert_ok().stdout, "ext2/ext3\n", "/ is the ext4 disk")

  local osr = vm:read_file("/etc/os-release")
  t:assert_contains(osr, "ID=debian")
  local codename = host_codename()
  if codename then t:assert_contains(osr, "VERSION_CODENAME=" .. codename) end

  t:assert_eq(vm:run("readlink /proc/1/exe"):assert_ok().stdout, "/usr/lib/systemd/systemd\n",
    "PID 1 is systemd")
  -- right after the switch, systemd may not listen yet: "Failed to connect to bus"
  wait_until(function() return not vm:run("systemctl is-system-running").stderr:find("connect") end,
    {timeout = 60, interval = 1, desc = "systemd answers systemctl"})
  local st = vm:run("systemctl is-system-running --wait", {timeout = 180})
  local state = st.stdout:gsub("%s+$", "")
  if state ~= "running" then
    t:log("failed units:\n" .. vm:run("systemctl --failed --no-legend --plain").stdout)
  end
  t:assert(state == "running" or state == "degraded", "system state: " .. state)
  t:log(("booted to %s in %d s"):format(state, os.time() - started))

  -- a file on the disk itself, and the usual round trip
  vm:write_file("/root/on-disk", "written through the agent\n")
  t:assert_eq(vm:run("sync && cat /root/on-disk"):assert_ok().stdout, "written through the agent\n")
  matrix.round_trip(t, vm, "debroot")
  matrix.snapshot_restore(t, vm, "debroot", function(copy)
    t:assert_eq(copy:read_file("/root/on-disk"), "written through the agent\n")
    t:assert_eq(copy:run("readlink /proc/1/exe"):assert_ok().stdout, "/usr/lib/systemd/systemd\n")
    local again = copy:run("systemctl is-system-running").stdout
    t:assert(again:match("^running") or again:match("^degraded"), "after restore: " .. again)
  end)
  t:log(("whole test: %d s"):format(os.time() - started))
end)
