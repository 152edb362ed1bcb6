test("skipped by meta", {skip = "not here"}, function(t) end)
test("passes", function(t) t:log("a line for system-out") end)
