-- An invalid meta.timeout raises where the test is registered: the file fails.
test("never runs", {timeout = "forever"}, function(t) end)
