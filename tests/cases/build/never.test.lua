test("must not run: the build failed", function(t)
  t:fail("a failed build must stop the run before any test")
end)
