-- twovms.lua - the body of lab_a/lab_b.test.lua: the file named lab_<x> meets the
-- other at a barrier, so both boot at once, then boots a lab of two VMs (<x>1, <x>2)
-- with one lab:boot, uses them and shuts them down.
local me = _PROVIUM_SOURCE_PATH:match("lab_(%a)%.test%.lua$")

test("boots a two-VM lab while the other file boots one", function(t)
  t:assert_eq(provium:barrier("boot", 2, 120), true)
  local lab = provium:lab(me)
  lab:vm(me .. "1", "base")
  lab:vm(me .. "2", "base")
  lab:boot()
  t:assert_eq(lab[me .. "1"]:run("echo ok").stdout, "ok\n")
  t:assert_eq(lab[me .. "2"]:run("echo ok").stdout, "ok\n")
  lab:shutdown()
end)
