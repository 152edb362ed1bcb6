-- matrix.lua - the image matrix's checks, shared by images.test.lua and
-- images_initrd.test.lua: boot a profile built by lib/mkbase.sh, run a command, move a
-- file both ways, then snapshot it and run a command in a VM restored from the snapshot.
local M = {}

-- 256 byte values and a few KiB more: a round trip must keep every byte.
local function payload(tag)
  local bytes = {}
  for i = 0, 255 do bytes[#bytes + 1] = string.char(i) end
  return tag .. "\n" .. table.concat(bytes) .. string.rep("provium-matrix ", 300)
end

-- A host file with `data`, for push_file; removed by the caller.
local function host_file(data)
  local path = os.tmpname()
  local f = assert(io.open(path, "wb"))
  f:write(data)
  f:close()
  return path
end

-- write_file/read_file and push_file/read_file under /tmp (the agent's tmpfs, there in
-- every base).
function M.round_trip(t, vm, tag)
  local data = payload(tag)
  vm:write_file("/tmp/matrix-written", data)
  t:assert_eq(vm:read_file("/tmp/matrix-written"), data, "write_file/read_file round trip")
  t:assert_eq(vm:stat("/tmp/matrix-written").size, #data)
  local host = host_file(data .. "pushed")
  vm:push_file(host, "/tmp/matrix-pushed", {auto_dep = false})
  os.remove(host)
  t:assert_eq(vm:read_file("/tmp/matrix-pushed"), data .. "pushed", "push_file round trip")
end

-- Snapshot `vm` (after marking it), shut it down, restore into a new VM of the same
-- profile and hand that VM to `check`. The snapshot is deleted afterwards.
function M.snapshot_restore(t, vm, profile, check)
  vm:write_file("/tmp/matrix-snapmark", "before")
  local s = vm:snapshot()
  t:assert(s:size() > 0, "snapshot on disk")
  vm:write_file("/tmp/matrix-snapmark", "after")
  vm:shutdown()
  local copy = provium:vm(vm:name() .. "-restored", profile):restore(s)
  t:assert_eq(copy:state(), "booted")
  t:assert_eq(copy:read_file("/tmp/matrix-snapmark"), "before", "the restored VM has the old state")
  t:assert_eq(copy:read_file("/proc/sys/kernel/hostname"), copy:name() .. "\n")
  check(copy)
  copy:shutdown()
  s:delete()
end

-- The whole row for a busybox base from mkbase.sh: /etc/base-kind names `kind`, and the
-- base's /init ran as PID 1 (the agent handed PID 1 over to it).
function M.busybox_base(t, profile, kind)
  local vm = provium:vm(kind, profile):boot()
  t:log(vm:console():read_log():match("[^\n]*mkbase%-init[^\n]*") or "no mkbase-init line on the console")
  t:assert_eq(vm:run("cat /etc/base-kind"):assert_ok().stdout, kind .. "\n", "a command through sh -c")
  t:assert_eq(vm:run("cat", {"/run/init-pid"}):assert_ok().stdout, "1\n", "the base's /init is PID 1")
  t:assert_eq(vm:read_file("/run/init-kind"), kind .. "\n")
  M.round_trip(t, vm, kind)
  M.snapshot_restore(t, vm, profile, function(copy)
    t:assert_eq(copy:run("cat /etc/base-kind; echo $((6 * 7))"):assert_ok().stdout, kind .. "\n42\n")
  end)
end

return M
