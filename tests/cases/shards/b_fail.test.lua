test("passes", function(t) t:assert(true) end)
test("fails", function(t) t:assert_eq(1, 2, "numbers differ") end)
