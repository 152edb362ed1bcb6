-- restore_fixture.test.lua - fixture restores, run by restore.sh once with mapping and
-- once with PROVIUM_NO_MAPPED_RESTORE=1 (the stream path):
--   vm:   BENCH_N (20) vm_fixture("fixtures/restore_one") + the first run("true"),
--         host clock; the VM is shut down before the next one
--   lab:  BENCH_LAB_N (10) lab_fixture("fixtures/restore_pair") (two VMs), host clock
-- The first of each (which may build the fixture and its hot form) is not counted.
local clock = require("lib.clock")
local n = tonumber(os.getenv("BENCH_N") or "20") or 20
local lab_n = tonumber(os.getenv("BENCH_LAB_N") or "10") or 10
local mode = (os.getenv("PROVIUM_NO_MAPPED_RESTORE") or "") ~= "" and "stream" or "mapped"

test("fixture restores (" .. mode .. ")", function(t)
  local out = {}
  out[mode .. "_vm_ns"], out[mode .. "_lab_ns"] = {}, {}
  for i = 0, n do
    local a = clock.now_ns()
    local v = provium:vm_fixture("fixtures/restore_one", {name = "r" .. i})
    v:run("true"):assert_ok()
    if i > 0 then out[mode .. "_vm_ns"][i] = clock.now_ns() - a end
    v:shutdown()
  end
  for i = 0, lab_n do
    local a = clock.now_ns()
    local lab = provium:lab("l" .. i):lab_fixture("fixtures/restore_pair")
    if i > 0 then out[mode .. "_lab_ns"][i] = clock.now_ns() - a end
    t:assert_eq(lab.b:read_file("/etc/role"), "b\n")
    lab.a:shutdown()
    lab.b:shutdown()
  end
  t:log("BENCH " .. json.encode(out))
end)
