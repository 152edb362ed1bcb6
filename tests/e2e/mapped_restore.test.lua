-- mapped_restore.test.lua - fixture restores that map guest memory (issue 14), on a
-- private copy of the labs case (its single-VM fixture `fixtures/one`) with its own
-- cache: two clones of one fixture never see each other's writes, the template RAM
-- file of the hot form stays byte for byte the same, and the restores really mapped
-- (fixture_cache_hit says "mapped": true).
local e2e = require("lib.e2e")

local work, write = e2e.private_case("labs")
e2e.remove_when_done(work)
os.remove(work .. "/tests/use.test.lua") -- only the clones' test runs in the copy
os.remove(work .. "/tests/reset.test.lua")
write("tests/clones.test.lua", [[
test("two clones of one fixture do not see each other's writes", function(t)
  local a = provium:vm_fixture("fixtures/one", {name = "a"})
  local b = provium:vm_fixture("fixtures/one", {name = "b"})
  t:assert_eq(a:read_file("/etc/marker"), "one\n")
  t:assert_eq(b:read_file("/etc/marker"), "one\n")
  a:write_file("/tmp/from-a", "a\n")
  b:write_file("/tmp/from-b", "b\n")
  a:run("dd if=/dev/urandom of=/tmp/fill bs=1M count=24 2>/dev/null"):assert_ok()
  t:assert_eq(b:run("cat /tmp/from-a /tmp/fill 2>/dev/null | wc -c").stdout, "0\n")
  t:assert_eq(a:run("cat /tmp/from-b 2>/dev/null | wc -c").stdout, "0\n")
  t:assert_eq(a:run("wc -c < /tmp/fill").stdout, tostring(24 << 20) .. "\n")
  -- a stream snapshot of a mapped clone carries its RAM: /tmp is guest memory
  local snap = a:snapshot()
  local c = provium:vm("c", "base")
  c:restore(snap)
  t:assert_eq(c:read_file("/tmp/from-a"), "a\n")
  t:assert_eq(c:run("wc -c < /tmp/fill").stdout, tostring(24 << 20) .. "\n")
end)
]])

local function run()
  local events = work .. "/events.jsonl"
  os.remove(events)
  local out, code = e2e.provium({"--no-progress", "--cpu-overcommit", "4", "--events", events},
    work)
  local hits = {}
  local f = io.open(events)
  for line in f:lines() do
    local ev = json.decode(line)
    if ev.kind == "fixture_cache_hit" then hits[#hits + 1] = ev end
  end
  f:close()
  return out, code, hits
end

local function ram_file()
  return e2e.host("ls " .. e2e.q(work) .. "/cache/*.snap.hot/ram"):gsub("%s+$", "")
end

test("clones restored by mapping diverge and leave the template unchanged", function(t)
  local out, code, hits = run() -- builds the fixture, then its hot form
  t:log(out)
  t:assert_eq(code, 0)
  t:assert_eq(#hits, 1) -- the first restore is the build's own
  t:assert_eq(hits[1].mapped, true)
  local ram = ram_file()
  t:assert_eq(e2e.host("stat -c %a " .. e2e.q(ram)), "400\n")
  local before = e2e.host("sha256sum < " .. e2e.q(ram))
  out, code, hits = run()
  t:log(out)
  t:assert_eq(code, 0)
  t:assert_eq(#hits, 2)
  t:assert_eq(hits[1].mapped, true)
  t:assert_eq(hits[2].mapped, true)
  t:assert_eq(e2e.host("sha256sum < " .. e2e.q(ram)), before)
  -- the hot form counts in the entry (its 256 MiB file is sparse, but not empty); that
  -- it goes with the entry is test_cache.c's
  local mib = tonumber(e2e.provium({"fixture", "list"}, work):match("([%d.]+)MiB  vm"))
  local hot_kib = tonumber(e2e.host("du -sk " .. e2e.q(work) .. "/cache/*.snap.hot | cut -f1"))
  t:assert(mib * 1024 >= hot_kib, "fixture list: " .. mib .. " MiB, hot form " .. hot_kib .. " KiB")
end)

test("PROVIUM_NO_MAPPED_RESTORE=1 restores by stream", function(t)
  local events = work .. "/events2.jsonl"
  local out, code = e2e.provium({"--no-progress", "--cpu-overcommit", "4", "--events", events},
    work, "PROVIUM_NO_MAPPED_RESTORE=1")
  t:log(out)
  t:assert_eq(code, 0)
  t:assert_contains(e2e.host("cat " .. e2e.q(events)), '"mapped":false')
end)
