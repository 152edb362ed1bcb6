test("fine", function(t) t:assert_eq(1 + 1, 2) end)
