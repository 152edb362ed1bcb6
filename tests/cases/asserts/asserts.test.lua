-- The messages of failed assertions and the sticky flag around t:assert_raises; each
-- test's outcome is checked by tests/e2e/api.test.lua through --json.
test("assert_eq without a message", function(t) t:assert_eq(1, 2) end)

test("assert_eq with a message", function(t) t:assert_eq("a", "b", "letters") end)

test("assert_neq without a message", function(t) t:assert_neq(3, 3) end)

test("assert_neq with a message", function(t) t:assert_neq(3, 3, "same") end)

test("an assertion inside assert_raises is the expected raise", function(t)
  local e = t:assert_raises(function() t:assert_eq(1, 2) end)
  t:assert(tostring(e):find("1 ~= 2", 1, true) ~= nil, "the error is returned")
  t:assert_raises(function() t:fail("inner") end)
end)

test("an earlier failure stays through assert_raises", function(t)
  pcall(function() t:assert(false, "first failure") end)
  t:assert_raises(function() t:assert_eq(1, 2) end)
end)

test("assert_raises that does not raise fails", function(t)
  t:assert_raises(function() end, "quiet")
end)

test("t:skip inside assert_raises still skips", function(t)
  t:assert_raises(function() t:skip("skipped inside") end)
  t:fail("unreachable")
end)

test("assert_contains refuses numbers", function(t) t:assert_contains(12345, 234) end)
