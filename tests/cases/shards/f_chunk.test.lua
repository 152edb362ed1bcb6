-- Fails outside any test: a file-level error (JUnit's `(file)` case).
test("never runs", {timeout = "forever"}, function(t) end)
