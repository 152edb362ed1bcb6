-- restore.test.lua - snapshot and restore against a cold boot, in the same run.
--   cold:     BENCH_COLD (3) cold boots; boot() + the first run("true"), host clock
--   snapshot: vm:snapshot() of a booted VM, BENCH_SNAPS (3) times; bytes on disk
--   restore:  BENCH_N (20) restores of that snapshot into fresh VMs; restore() + the
--             first run("true") answered, host clock
-- Everything goes out as one "BENCH {json}" log line that bench/restore.sh reads.
local clock = require("lib.clock")
local n = tonumber(os.getenv("BENCH_N") or "20") or 20
local cold_n = tonumber(os.getenv("BENCH_COLD") or "3") or 3
local snaps_n = tonumber(os.getenv("BENCH_SNAPS") or "3") or 3

test("restore vs cold boot", function(t)
  local out = {clock = clock.source, cold_ns = {}, snapshot_ns = {}, restore_ns = {},
               restore_boot_ns = {}}
  for i = 1, cold_n do
    local a = clock.now_ns()
    local v = provium:vm("cold" .. i, "bench"):boot()
    v:run("true"):assert_ok()
    out.cold_ns[i] = clock.now_ns() - a
    v:shutdown()
  end

  local src = provium:vm("src", "bench"):boot()
  src:run("true"):assert_ok()
  local snap
  for i = 1, snaps_n do
    if snap then snap:delete() end
    local a = clock.now_ns()
    snap = src:snapshot()
    out.snapshot_ns[i] = clock.now_ns() - a
  end
  out.snapshot_bytes = snap:size()
  out.memory_bytes = 256 * 1024 * 1024
  src:shutdown()

  for i = 1, n do
    local v = provium:vm("r" .. i, "bench")
    local a = clock.now_ns()
    v:restore(snap)
    v:run("true"):assert_ok()
    out.restore_ns[i] = clock.now_ns() - a
    v:shutdown()
  end
  t:log("BENCH " .. json.encode(out))
end)
