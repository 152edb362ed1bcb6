-- disk_hotplug.test.lua - vm:attach_disk and d:detach on a running q35 VM (spec §4.7):
-- the guest sees the disk appear in /sys/block under its id (the serial) and go away
-- again; read_sectors/write_sectors reach a hot-plugged disk through QEMU.
local e2e = require("lib.e2e")

local image = e2e.dir:gsub("/tests/e2e$", "") .. "/build/e2e-hotplug.img"
local MARK = "provium-hotplug-image\n"
do
  local f = assert(io.open(image, "wb"))
  f:write(MARK, string.rep("\0", 1024 * 1024 - #MARK))
  f:close()
end

local vm = provium:vm("h", "q35"):boot()

-- the guest's block device whose serial is id, or nil
local function dev_of(id)
  local out = vm:run("for d in /sys/block/vd*; do [ -e $d ] && echo ${d##*/} $(cat $d/serial); done; true"):assert_ok().stdout
  for dev, serial in out:gmatch("(%S+) (%S+)") do
    if serial == id then return "/dev/" .. dev end
  end
  return nil
end

local function wait_dev(id, present)
  local dev
  wait_until(function()
    dev = dev_of(id)
    return (dev ~= nil) == present
  end, {timeout = 60, interval = 0.5})
  return dev
end

test("attach_disk hot-plugs a blank disk the guest sees, detach removes it", function(t)
  local d = vm:attach_disk({size = "8M"})
  t:assert_eq(d:id(), "attached-h")
  t:assert_eq(d:size(), 8 * 1024 * 1024)
  t:assert_eq(d:is_detached(), false)
  local dev = wait_dev("attached-h", true)
  local sectors = vm:run("cat /sys/block/" .. dev:sub(6) .. "/size"):assert_ok().stdout
  t:assert_eq(tonumber(sectors), 8 * 1024 * 1024 / 512)
  -- the guest's write, seen from the host; the host's write, seen by the guest
  vm:run("printf 'from-the-guest' | dd of=" .. dev .. " bs=512 seek=3 conv=sync,fsync 2>/dev/null"):assert_ok()
  t:assert_eq(d:read_sectors(3, 1):sub(1, 14), "from-the-guest")
  d:write_sectors(5, ("from-the-host"):rep(1) .. string.rep("\0", 512 - 13))
  t:assert_eq(vm:run("dd if=" .. dev .. " bs=512 skip=5 count=1 iflag=direct 2>/dev/null | head -c 13"):assert_ok().stdout,
    "from-the-host")
  local ok, err = pcall(vm.attach_disk, vm, {size = "1M"})
  t:assert(not ok)
  t:assert_contains(err, "vm:attach_disk: disk conflict: attached-h")
  d:detach()
  t:assert_eq(d:is_detached(), true)
  t:assert_eq(dev_of("attached-h"), nil)
  ok, err = pcall(d.read_sectors, d, 0, 1)
  t:assert(not ok)
  t:assert_contains(err, "disk:read_sectors: disk 'attached-h' is detached")
end)

test("an image attached read-only shows its contents and refuses writes", function(t)
  local d = vm:attach_disk({id = "img", image = image, readonly = true})
  local dev = wait_dev("img", true)
  t:assert_eq(vm:run("head -c " .. #MARK .. " " .. dev):assert_ok().stdout, MARK)
  t:assert_eq(d:read_sectors(0, 1):sub(1, #MARK), MARK)
  local ok, err = pcall(d.write_sectors, d, 0, string.rep("x", 512))
  t:assert(not ok)
  t:assert_contains(err, "disk 'img' is read-only")
  t:assert(not vm:run("echo x | dd of=" .. dev .. " conv=fsync 2>&1"):ok(), "a read-only disk took a write")
  d:detach()
  wait_dev("img", false)
  t:assert_eq(d:is_detached(), true)
end)

test("attach_disk checks its options", function(t)
  local ok, err = pcall(vm.attach_disk, vm, {readonly = true})
  t:assert(not ok)
  t:assert_contains(err, "a read-only disk needs an `image`")
  ok, err = pcall(vm.attach_disk, vm, {sise = "1M"})
  t:assert(not ok)
  t:assert_contains(err, "unknown option `sise`")
  ok, err = pcall(vm.attach_disk, vm, {id = "ghost", image = "/no/such.img"})
  t:assert(not ok)
  t:assert_contains(err, "missing disk image: /no/such.img")
  ok, err = pcall(vm.disk, vm, "nope")
  t:assert(not ok)
  t:assert_contains(err, "vm:disk: no disk 'nope'")
end)

test("a snapshot carries a hot-plugged disk; the restored VM has it where it was", function(t)
  local d = vm:attach_disk({id = "snapd", size = "4M"})
  local dev = wait_dev("snapd", true)
  vm:run("printf 'in-the-snapshot' | dd of=" .. dev .. " bs=512 conv=sync,fsync 2>/dev/null"):assert_ok()
  local s = vm:snapshot()
  local r = provium:vm("hr", "q35")
  r:restore(s)
  local rdev
  local out = r:run("for d in /sys/block/vd*; do echo ${d##*/} $(cat $d/serial); done"):assert_ok().stdout
  for name, serial in out:gmatch("(%S+) (%S+)") do
    if serial == "snapd" then rdev = "/dev/" .. name end
  end
  t:assert(rdev, "no disk snapd in the restored VM: " .. out)
  t:assert_eq(r:run("dd if=" .. rdev .. " bs=512 count=1 iflag=direct 2>/dev/null | head -c 15"):assert_ok().stdout,
    "in-the-snapshot")
  t:assert_eq(r:disk("snapd"):read_sectors(0, 1):sub(1, 15), "in-the-snapshot")
  -- and it can be unplugged there too
  r:disk("snapd"):detach()
  r:shutdown()
  d:detach()
end)
