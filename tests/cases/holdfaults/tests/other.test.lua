-- other.test.lua - the other file of the run: it passes whatever kill_worker.test.lua's
-- worker suffers.
test("the other file passes", function(t)
  t:assert_eq(1 + 1, 2)
end)
