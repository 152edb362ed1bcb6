test("one", function(t) t:assert(true) end)
test("two", function(t) t:assert_eq(1 + 1, 2) end)
