-- arrives at "mm" a second after mismatch_2, with another count: false at once
local stamp = require("lib.stamp")

test("a count mismatch fails the new arrival at once", function(t)
  stamp.sleep(1)
  local t0 = stamp.now()
  local ok, why = provium:barrier("mm", 3, 30)
  t:assert_eq(ok, false)
  t:assert_contains(why, "count mismatch: tests/mismatch_2.test.lua waits for 2 arrivals at 'mm', "
    .. "tests/mismatch_3.test.lua for 3")
  t:assert(stamp.now() - t0 < 5, "answered at once")
  stamp.note("mismatch_3 answered")
end)
