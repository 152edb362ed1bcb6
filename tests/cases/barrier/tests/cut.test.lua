-- the test's own 1 s deadline cuts a 30 s barrier wait; the next test runs normally
test("the test deadline cuts the wait", {timeout = 1}, function(t)
  provium:barrier("cut", 2, 30)
  t:fail("the barrier returned")
end)

test("the file goes on after it", function(t)
  t:assert_eq(provium:barrier("solo", 1), true)
end)
