test("other files still run", function(t) t:assert(true) end)
