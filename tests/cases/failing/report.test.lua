test("passes", function(t) t:assert(true) end)

test("fails with a message", function(t)
  local vm = provium:vm("f", "base"):boot()
  vm:run("echo marker-from-guest > /dev/console")
  t:assert_eq(1, 2, "numbers differ")
end)

test("a swallowed failure still fails", function(t)
  pcall(function() t:assert(false, "hidden failure") end)
end)

test("an error raised by the body fails", function(t)
  error("plain error")
end)

test("skipped by meta", {skip = "not today"}, function(t) end)

test("skipped by t:skip", function(t)
  t:skip("later")
  t:fail("unreachable")
end)
