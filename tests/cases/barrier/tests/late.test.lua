-- arrives at "gone" after dies.test.lua's worker died there: the dead file no longer
-- counts, so this one waits alone and times out
local stamp = require("lib.stamp")

test("a file that died at the barrier does not count", function(t)
  stamp.sleep(3)
  local ok, why = provium:barrier("gone", 2, 2)
  t:assert_eq(ok, false)
  t:assert_eq(why, "timeout: 1 of 2 arrivals at 'gone'")
  stamp.note("late timed out")
end)
