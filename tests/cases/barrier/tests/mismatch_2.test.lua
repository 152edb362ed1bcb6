-- waits at "mm" for 2 arrivals; mismatch_3 comes a second later asking for 3: both
-- get false at once, long before their 30 s timeout
local stamp = require("lib.stamp")

test("a count mismatch fails this waiting file at once", function(t)
  local t0 = stamp.now()
  local ok, why = provium:barrier("mm", 2, 30)
  t:assert_eq(ok, false)
  t:assert_contains(why, "count mismatch: tests/mismatch_2.test.lua waits for 2 arrivals at 'mm', "
    .. "tests/mismatch_3.test.lua for 3")
  t:assert(stamp.now() - t0 < 15, "answered at the mismatch, not at the timeout")
  stamp.note("mismatch_2 answered")
end)
