-- waits at "never" for 2 arrivals; the other file of this run (bystander) never
-- comes: false at the 2 s timeout
local stamp = require("lib.stamp")

test("nobody else arrives: false at the timeout", function(t)
  local t0 = stamp.now()
  local ok, why = provium:barrier("never", 2, 2)
  local waited = stamp.now() - t0
  t:assert_eq(ok, false)
  t:assert_eq(why, "timeout: 1 of 2 arrivals at 'never'")
  t:assert(waited >= 1.9 and waited < 10, "waited " .. waited .. " s")
  stamp.note(("lonely waited %.3f"):format(waited))
end)
