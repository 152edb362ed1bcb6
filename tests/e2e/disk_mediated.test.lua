-- disk_mediated.test.lua - mediated disks (spec §4.7): provium's block server holds the
-- guest's writes until it flushes, so d:power_cut() loses exactly the unflushed ones and
-- vm:reset() then sees the flushed data; the fault policy makes guest I/O fail with EIO;
-- a snapshot flushes and carries the disk; host-side sector access and its own faults.
-- One VM for the file: `raw` (a mediated scratch disk), `fs` (a mediated private copy
-- of a host ext4 image) and `plain` (an ordinary scratch disk).
local e2e = require("lib.e2e")

local q = e2e.q
local work = e2e.remove_when_done(e2e.host("mktemp -d"):gsub("%s+$", ""))
local fsimg = work .. "/fs.img"
e2e.host("mkfs.ext4 -q -F -E lazy_itable_init=0,lazy_journal_init=0 " .. q(fsimg) .. " 16M")
local function host_sum(path)
  return e2e.host("sha256sum " .. q(path)):match("^(%x+)")
end
local fsimg_sum = host_sum(fsimg)

local vm = provium:vm("m", "base"):boot({disks = {
  {scratch = "8M", id = "raw", mediated = true},
  {path = fsimg, id = "fs", mediated = true},
  {scratch = "4M", id = "plain"},
}})

-- guest device of each disk, by the serial provium gives it (its id)
local function devices(v)
  local map = {}
  local out = v:run("for d in /sys/block/vd*; do echo ${d##*/} $(cat $d/serial); done"):assert_ok().stdout
  for dev, serial in out:gmatch("(%S+) (%S+)") do map[serial] = "/dev/" .. dev end
  return map
end
local dev = devices(vm)

-- `n` 4 KiB blocks of a recognisable pattern (block i says so)
local function blocks(tag, first, n)
  local parts = {}
  for i = first, first + n - 1 do
    local head = ("%s block %d|"):format(tag, i)
    parts[#parts + 1] = head .. string.rep(string.char(65 + i % 26), 4096 - #head)
  end
  return table.concat(parts)
end

-- guest: dd the file at `src` onto the disk at 4 KiB block `seek` with extra flags
local function guest_dd(v, src, disk, seek, flags)
  return v:run(("dd if=%s of=%s bs=4096 seek=%d %s 2>&1"):format(src, disk, seek, flags))
end

-- guest: n 4 KiB blocks of the disk from block skip, bypassing the page cache
local function guest_read(v, disk, skip, n)
  return v:run(("dd if=%s bs=4096 skip=%d count=%d iflag=direct 2>/dev/null"):format(disk, skip, n)):assert_ok().stdout
end

test("a power cut keeps exactly what the guest flushed", function(t)
  local d = vm:disk("raw")
  local synced, unsynced, direct = blocks("synced", 0, 8), blocks("unsynced", 8, 8), blocks("direct", 16, 4)
  vm:write_file("/tmp/synced", synced)
  vm:write_file("/tmp/unsynced", unsynced)
  vm:write_file("/tmp/direct", direct)
  guest_dd(vm, "/tmp/synced", dev.raw, 0, "conv=fsync"):assert_ok()
  guest_dd(vm, "/tmp/unsynced", dev.raw, 8, ""):assert_ok()          -- page cache, no flush
  guest_dd(vm, "/tmp/direct", dev.raw, 16, "oflag=direct"):assert_ok() -- on the disk, not flushed
  -- the host sees what the guest sees: the direct write is there, held
  t:assert_eq(d:read_sectors(0, 64), synced)
  t:assert_eq(d:read_sectors(128, 32), direct)
  d:power_cut()
  t:assert_eq(vm:state(), "booted")
  t:assert_eq(d:fault_policy().power_cut, true)
  t:assert_eq(d:read_sectors(128, 32), string.rep("\0", 4096 * 4))
  -- no power: the guest's I/O fails until the reset
  t:assert(not vm:run("dd if=" .. dev.raw .. " bs=4096 count=1 iflag=direct of=/dev/null 2>&1"):ok())
  vm:reset()
  t:assert_eq(d:fault_policy().power_cut, nil)
  dev = devices(vm)
  t:assert_eq(guest_read(vm, dev.raw, 0, 8), synced)
  local zero8 = string.rep("\0", 8 * 4096)
  t:assert_eq(guest_read(vm, dev.raw, 8, 8), zero8)
  t:assert_eq(guest_read(vm, dev.raw, 16, 4), string.rep("\0", 4 * 4096))
  t:assert_eq(d:read_sectors(0, 64), synced)
  t:assert_eq(d:read_sectors(64, 64), zero8)
end)

-- ext4 is a module of the e2e kernel: push it and what it needs from the host's tree
local function load_ext4(v)
  local ver = v:run("uname -r"):assert_ok().stdout:gsub("%s+$", "")
  local base = "/lib/modules/" .. ver .. "/kernel/"
  for _, m in ipairs({"lib/crc16.ko", "fs/mbcache.ko", "fs/jbd2/jbd2.ko", "crypto/crc32c_generic.ko", "fs/ext4/ext4.ko"}) do
    local name = m:match("([^/]+)$")
    v:push_file(base .. m, "/tmp/" .. name)
    v:run("insmod /tmp/" .. name)
  end
  v:run("grep -qw ext4 /proc/filesystems"):assert_ok()
end

test("ext4: a file synced before the power cut is intact after it", function(t)
  local d = vm:disk("fs")
  load_ext4(vm)
  vm:run("mkdir -p /mnt/fs && mount -t ext4 " .. dev.fs .. " /mnt/fs"):assert_ok()
  local a = blocks("file-A", 0, 16)
  vm:write_file("/mnt/fs/A", a)
  vm:run("sync"):assert_ok()
  vm:write_file("/mnt/fs/B", blocks("file-B", 0, 16)) -- not synced: may be lost, or partial
  d:power_cut()
  vm:reset()
  dev = devices(vm)
  load_ext4(vm)
  vm:run("mkdir -p /mnt/fs && mount -t ext4 " .. dev.fs .. " /mnt/fs"):assert_ok() -- replays the journal
  t:assert_eq(vm:read_file("/mnt/fs/A"), a)
  vm:run("umount /mnt/fs"):assert_ok()
  -- the disk as the host sees it is a clean file system, and the host image never changed
  local copy = work .. "/after.img"
  local f = assert(io.open(copy, "wb"))
  f:write(d:read_sectors(0, 16 * 2048))
  f:close()
  local out = e2e.host("e2fsck -fn " .. q(copy) .. " 2>&1; echo rc=$?")
  t:assert_contains(out, "rc=0")
  t:assert_eq(host_sum(fsimg), fsimg_sum)
end)

test("fail_writes and fail_reads make the guest's I/O fail with EIO", function(t)
  local d = vm:disk("raw")
  vm:write_file("/tmp/blk", blocks("eio", 0, 1))
  vm:run("dmesg -c >/dev/null")
  d:fail_writes()
  t:assert_eq(d:fault_policy().fail_writes, true)
  local r = guest_dd(vm, "/tmp/blk", dev.raw, 40, "oflag=direct")
  t:assert(not r:ok(), "the write went through: " .. r.stdout)
  t:assert_contains(r.stdout, "Input/output error")
  t:assert_contains(vm:run("dmesg"):assert_ok().stdout, "I/O error")
  d:clear_policy()
  guest_dd(vm, "/tmp/blk", dev.raw, 40, "oflag=direct"):assert_ok()
  d:fail_reads()
  t:assert_eq(d:fault_policy().fail_reads, true)
  r = vm:run("dd if=" .. dev.raw .. " of=/dev/null bs=4096 skip=40 count=1 iflag=direct 2>&1")
  t:assert(not r:ok(), "the read went through")
  t:assert_contains(r.stdout, "Input/output error")
  d:clear_policy()
  t:assert_eq(guest_read(vm, dev.raw, 40, 1), blocks("eio", 0, 1))
end)

test("fail_after, fail_range and delay, and fault_policy() says so", function(t)
  local d = vm:disk("raw")
  local function read_block(b)
    return vm:run(("dd if=%s of=/dev/null bs=4096 skip=%d count=1 iflag=direct 2>&1"):format(dev.raw, b))
  end
  d:fail_range(80, 8) -- 4 KiB block 10
  t:assert_eq(d:fault_policy().fail_range_sector, 80)
  t:assert_eq(d:fault_policy().fail_range_count, 8)
  t:assert(not read_block(10):ok(), "a read in the range went through")
  read_block(11):assert_ok()
  d:clear_policy()
  d:fail_after(2)
  t:assert_eq(d:fault_policy().fail_after, 2)
  read_block(1):assert_ok()
  read_block(2):assert_ok()
  t:assert(not read_block(3):ok(), "the third read went through")
  t:assert_eq(d:fault_policy().fail_after, 0)
  d:clear_policy()
  d:delay(400)
  t:assert_eq(d:fault_policy().delay_ms, 400)
  local r = read_block(4):assert_ok()
  t:assert(r.duration >= 0.4, "a delayed read took " .. r.duration .. " s")
  d:clear_policy()
  local p, n = d:fault_policy(), 0
  for _ in pairs(p) do n = n + 1 end
  t:assert_eq(n, 2)
  t:assert_eq(p.fail_reads, false)
  t:assert_eq(p.fail_writes, false)
end)

test("a snapshot flushes a mediated disk and carries it; a power-cut disk is refused", function(t)
  local d = vm:disk("raw")
  local data = blocks("snap", 24, 2)
  vm:write_file("/tmp/snap", data)
  guest_dd(vm, "/tmp/snap", dev.raw, 24, "oflag=direct"):assert_ok() -- held
  local s = vm:snapshot()
  -- stopping the vCPUs made QEMU flush the disk: the write is durable now
  d:power_cut()
  t:assert_eq(d:read_sectors(24 * 8, 16), data)
  local ok, err = pcall(vm.snapshot, vm)
  t:assert(not ok)
  t:assert_contains(err, "disk 'raw' is mediated and had its power cut")
  vm:reset()
  dev = devices(vm)
  local r = provium:vm("r", "base")
  r:restore(s)
  local rdev = devices(r)
  t:assert_eq(guest_read(r, rdev.raw, 24, 2), data)
  local rd = r:disk("raw")
  t:assert_eq(rd:read_sectors(24 * 8, 16), data)
  -- the restored VM's disk is its own
  rd:write_sectors(0, string.rep("r", 512))
  t:assert_eq(rd:read_sectors(0, 1), string.rep("r", 512))
  t:assert(d:read_sectors(0, 1) ~= string.rep("r", 512), "the restored VM wrote into the original's disk")
  r:shutdown()
end)

-- host wall clock in seconds
local function now()
  return tonumber(e2e.host("date +%s.%N"))
end

test("read_sectors/write_sectors see the guest's view; fault_inject touches host access only", function(t)
  for _, id in ipairs({"raw", "plain"}) do
    local d = vm:disk(id)
    local mine = ("host-%s|"):format(id)
    mine = mine .. string.rep("h", 1024 - #mine)
    d:write_sectors(48, mine) -- 4 KiB block 6
    t:assert_eq(guest_read(vm, dev[id], 6, 1):sub(1, 1024), mine)
    local g = blocks("guest-" .. id, 7, 1)
    vm:write_file("/tmp/g", g)
    guest_dd(vm, "/tmp/g", dev[id], 7, "oflag=direct"):assert_ok()
    t:assert_eq(d:read_sectors(56, 8), g)
    d:fault_inject("eio_read")
    t:assert_eq(json.encode(d:active_faults()), '["eio_read"]')
    local ok, err = pcall(d.read_sectors, d, 56, 8)
    t:assert(not ok)
    t:assert_contains(err, "disk:read_sectors: disk '" .. id .. "': EIO")
    t:assert_eq(guest_read(vm, dev[id], 7, 1), g) -- the guest is not affected
    d:fault_inject("eio_write")
    ok, err = pcall(d.write_sectors, d, 48, mine)
    t:assert(not ok)
    t:assert_contains(err, "disk:write_sectors: disk '" .. id .. "': EIO")
    guest_dd(vm, "/tmp/g", dev[id], 7, "oflag=direct"):assert_ok()
    d:clear_faults()
    t:assert_eq(#d:active_faults(), 0)
    d:fault_inject("slow")
    local t0 = now()
    for _ = 1, 10 do d:read_sectors(0, 1) end
    t:assert(now() - t0 >= 0.5, "ten slow reads were quick")
    d:clear_faults()
    local ok2, err2 = pcall(d.read_sectors, d, d:size() // 512, 1)
    t:assert(not ok2)
    t:assert_contains(err2, "past the end of disk '" .. id .. "'")
  end
end)

test("policy methods need a mediated disk; boot options and hot-plug are checked", function(t)
  local plain = vm:disk("plain")
  for _, m in ipairs({"power_cut", "fail_reads", "fail_writes", "clear_policy", "fault_policy"}) do
    local ok, err = pcall(plain[m], plain)
    t:assert(not ok)
    t:assert_contains(err, "disk:" .. m .. ": disk 'plain' is not mediated")
  end
  local ok, err = pcall(vm.attach_disk, vm, {size = "1M"})
  t:assert(not ok)
  t:assert_contains(err, "vm:attach_disk: hot-plug needs machine q35")
  local c = provium:vm("c", "disky")
  ok, err = pcall(c.boot, c, {disks = {{scratch = "1M", id = "data"}}})
  t:assert(not ok)
  t:assert_contains(err, "vm:boot: disk conflict: data")
  ok, err = pcall(c.boot, c, {disks = {{scratch = "1M", path = fsimg}}})
  t:assert(not ok)
  t:assert_contains(err, "disks[1] needs exactly one of `path` and `scratch`")
  ok, err = pcall(c.boot, c, {disks = {{scratch = "1M", id = "x"}, {scratch = "2M", id = "x"}}})
  t:assert(not ok)
  t:assert_contains(err, "vm:boot: disk conflict: x")
  t:assert_eq(c:state(), "created")
  -- before boot, a Disk stands for the disk the boot will make
  t:assert_eq(c:disk("scratch"):size(), 16 * 1024 * 1024)
  t:assert_eq(c:attach_disk({id = "later", size = "2M"}):size(), 2 * 1024 * 1024)
  t:assert_eq(c:disk("later"):is_detached(), false)
end)
