-- density.test.lua - 8 VMs restored from one 512 MiB fixture whose guest wrote 200 MB
-- of random bytes into a tmpfs (fixtures/dense); run by density.sh once with mapping
-- and once with PROVIUM_NO_MAPPED_RESTORE=1. Measures, with all 8 up and each having
-- answered a command: the summed Private_Dirty + Private_Clean (and Rss) of their
-- QEMUs from /proc/PID/smaps_rollup, and the host's MemAvailable drop from before the
-- restores. The fixture and its hot form are made before the first reading.
local n = tonumber(os.getenv("BENCH_CLONES") or "8") or 8
local mode = (os.getenv("PROVIUM_NO_MAPPED_RESTORE") or "") ~= "" and "stream" or "mapped"

local function sh(cmd)
  local f = assert(io.popen(cmd))
  local s = f:read("a")
  f:close()
  return s
end

local function meminfo(key)
  return tonumber(sh("awk '$1 == \"" .. key .. ":\" {print $2}' /proc/meminfo")) * 1024
end

-- This worker's QEMU children: the shell's parent is the worker.
local function qemu_pids()
  local out = sh([[w=$PPID; for s in /proc/[0-9]*/stat; do
    set -- $(cat "$s" 2>/dev/null); [ "$4" = "$w" ] && [ "$2" = "(qemu-system-x86)" ] && echo "$1"
  done]])
  local pids = {}
  for p in out:gmatch("%d+") do pids[#pids + 1] = p end
  return pids
end

local function rollup(pid, field)
  return tonumber(sh("awk '$1 == \"" .. field .. ":\" {print $2}' /proc/" .. pid ..
                     "/smaps_rollup")) * 1024
end

test("density (" .. mode .. ")", function(t)
  local warm = provium:vm_fixture("fixtures/dense", {name = "warm"}) -- builds what is missing
  warm:shutdown()
  sh("sync")
  local avail0 = meminfo("MemAvailable")
  local vms = {}
  for i = 1, n do
    vms[i] = provium:vm_fixture("fixtures/dense", {name = "d" .. i})
  end
  for i = 1, n do
    t:assert_eq(vms[i]:run("wc -c < /mnt/fill/data").stdout, "209715200\n")
  end
  local pids = qemu_pids()
  t:assert_eq(#pids, n)
  local out = {}
  out[mode .. "_private_bytes"], out[mode .. "_rss_bytes"] = 0, 0
  for _, p in ipairs(pids) do
    out[mode .. "_private_bytes"] = out[mode .. "_private_bytes"] + rollup(p, "Private_Dirty")
      + rollup(p, "Private_Clean")
    out[mode .. "_rss_bytes"] = out[mode .. "_rss_bytes"] + rollup(p, "Rss")
  end
  out[mode .. "_avail_drop_bytes"] = avail0 - meminfo("MemAvailable")
  out.clones, out.guest_bytes = n, 512 << 20
  t:log("BENCH " .. json.encode(out))
end)
