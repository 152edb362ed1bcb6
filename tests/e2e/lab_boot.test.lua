-- lab_boot.test.lua - lab:boot's one joint pool reservation (issue 12 part 4): two
-- files of tests/cases/jointboot meet at a barrier and each boots a two-VM lab at the
-- same moment, with a pool that holds one such lab at a time. With a reservation per
-- VM each file would get one VM and wait for the other's: a deadlock. With one joint
-- request per lab:boot, one lab boots and the other waits for it whole: both pass,
-- one after the other.
local e2e = require("lib.e2e")

test("two files booting two-VM labs at once are served one lab after the other", function(t)
  local ev = os.tmpname()
  -- 50 MiB per running file + (256 + 100) MiB per VM: one lab (812 MiB) fits, not 1.5
  local out, code = e2e.provium({"--no-progress", "--mem", "1000M", "--cpus", "4", "--jobs", "2",
    "--timeout", "600s", "--events", ev}, e2e.cases .. "/jointboot")
  t:log(out)
  local spawned, shutdown = {}, {}
  for line in (e2e.read(ev) or ""):gmatch("[^\n]+") do
    local e = json.decode(line)
    if e.kind == "vm_spawned" then spawned[e.vm_name] = e.ts end
    if e.kind == "vm_shutdown" then shutdown[e.vm_name] = e.ts end
  end
  os.remove(ev)
  t:assert(not out:find("deadlocked", 1, true), "no pool deadlock")
  t:assert_eq(code, 0, out)
  t:assert_contains(out, "2 passed, 0 failed, 0 skipped")
  for _, name in ipairs({"a1", "a2", "b1", "b2"}) do
    t:assert(spawned[name] and shutdown[name], name .. " booted and shut down")
  end
  -- whichever lab got the pool first, the other booted only once it was gone
  local first, second = "a", "b"
  if spawned.b1 < spawned.a1 then first, second = "b", "a" end
  local gone = math.max(shutdown[first .. "1"], shutdown[first .. "2"])
  t:assert(spawned[second .. "1"] >= gone and spawned[second .. "2"] >= gone,
    "the second lab waited for the first")
end)
