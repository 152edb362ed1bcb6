-- disks.test.lua - profile disks: writable ones are private qcow2 overlays (the host
-- image never changes), read-only ones use the image, scratch disks start empty, and
-- snapshots carry the disk state.
local e2e = require("lib.e2e")

local image = e2e.dir:gsub("/tests/e2e$", "") .. "/build/e2e-disk.img"
local MARK = "provium-disk-image\n"
do
  local f = assert(io.open(image, "wb"))
  f:write(MARK, string.rep("\0", 1024 * 1024 - #MARK))
  f:close()
end
local function host_head()
  local f = assert(io.open(image, "rb"))
  local s = f:read(#MARK)
  f:close()
  return s
end

local vm = provium:vm("d", "disky"):boot()

-- guest device name of each disk, by the serial provium gives it (its id)
local function devices(v)
  local map = {}
  local out = v:run("for d in /sys/block/vd*; do echo ${d##*/} $(cat $d/serial); done"):assert_ok().stdout
  for dev, serial in out:gmatch("(%S+) (%S+)") do map[serial] = "/dev/" .. dev end
  return map
end
local dev = devices(vm)

local function head(v, d, n)
  return v:run(("dd if=%s bs=%d count=1 2>/dev/null"):format(d, n)):assert_ok().stdout
end
local function put(v, d, text)
  return v:run(("printf %%s '%s' | dd of=%s conv=notrunc 2>/dev/null && sync"):format(text, d))
end

test("every disk is attached under its id", function(t)
  t:assert(dev.data and dev.ro and dev.scratch, "devices: " .. json.encode(dev))
  t:assert_eq(head(vm, dev.data, #MARK), MARK)
  t:assert_eq(head(vm, dev.ro, #MARK), MARK)
  local size = vm:run("cat /sys/block/" .. dev.scratch:sub(6) .. "/size"):assert_ok().stdout
  t:assert_eq(tonumber(size) * 512, 16 * 1024 * 1024)
  t:assert_eq(head(vm, dev.scratch, 4), "\0\0\0\0")
end)

test("writes land in the overlay, never in the host image", function(t)
  t:assert(put(vm, dev.data, "changed"):ok())
  t:assert_eq(head(vm, dev.data, 7), "changed")
  t:assert_eq(host_head(), MARK)
  t:assert(not put(vm, dev.ro, "nope"):ok(), "a read-only disk took a write")
  t:assert_eq(host_head(), MARK)
end)

test("a snapshot carries the disk state and a restore brings it back", function(t)
  -- its own write to the overlay (the test before writes the same), so it stands alone
  t:assert(put(vm, dev.data, "changed"):ok())
  t:assert(put(vm, dev.scratch, "before-snap"):ok())
  local s = vm:snapshot()
  t:assert(put(vm, dev.scratch, "after--snap"):ok())
  local r = provium:vm("r", "disky")
  r:restore(s)
  local rdev = devices(r)
  t:assert_eq(head(r, rdev.scratch, 11), "before-snap")
  t:assert_eq(head(r, rdev.data, 7), "changed")
  t:assert_eq(head(vm, dev.scratch, 11), "after--snap")
  -- the restored VM has overlays of its own
  t:assert(put(r, rdev.data, "restored"):ok())
  t:assert_eq(head(r, rdev.data, 8), "restored")
  t:assert_eq(head(vm, dev.data, 8), "changed-")
  t:assert_eq(host_head(), MARK)
end)
