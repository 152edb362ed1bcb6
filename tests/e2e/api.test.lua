-- api.test.lua - the pure-Lua parts of the API: json, wait_until, t, meta filters.
test("json encodes arrays, objects and scalars", function(t)
  t:assert_eq(json.encode({1, 2, 3}), "[1,2,3]")
  t:assert_eq(json.encode({}), "{}")
  t:assert_eq(json.encode({a = 1}), '{"a":1}')
  t:assert_eq(json.encode({[1] = "x", [3] = "z"}), '["x",null,"z"]')
  t:assert_eq(json.encode({[true] = 1}), '{"true":1}')
  t:assert_eq(json.encode("a\"b"), '"a\\"b"')
  t:assert_raises(function() json.encode({[{}] = 1}) end)
end)

test("json decodes with integers kept and nulls dropped", function(t)
  local v = json.decode('{"a":1,"b":null,"c":[1,null,3],"d":1.5}')
  t:assert_eq(math.type(v.a), "integer")
  t:assert_eq(v.b, nil)
  t:assert_eq(v.c[1], 1)
  t:assert_eq(v.c[2], nil)
  t:assert_eq(v.c[3], 3)
  t:assert_eq(v.d, 1.5)
  t:assert_eq(json.decode("null"), nil)
  t:assert_raises(function() json.decode("{bad") end)
end)

test("json wraps unsigned integers beyond int64, keeping their bits", function(t)
  local v = json.decode('{"a":18446744073709551615,"b":9223372036854775808,' ..
    '"c":9223372036854775807,"d":0.12345678901234567890123,"e":"18446744073709551615",' ..
    '"f":[123456789012345678901234]}')
  t:assert_eq(v.a, -1)
  t:assert_eq(v.b, math.mininteger)
  t:assert_eq(v.c, math.maxinteger)
  t:assert(math.abs(v.d - 0.123456789) < 1e-9, "fraction untouched")
  t:assert_eq(v.e, "18446744073709551615")
  t:assert_eq(math.type(v.f[1]), "float")
end)

test("wait_until returns the truthy value or raises with its description", function(t)
  local n = 0
  local v = wait_until(function() n = n + 1; return n >= 3 and "done" end, {interval = 0.01})
  t:assert_eq(v, "done")
  local e = t:assert_raises(function()
    wait_until(function() return false end, {timeout = 0.2, interval = 0.05, desc = "the moon"})
  end)
  t:assert_contains(e, "wait_until: the moon not met within 0.2s")
  t:assert_contains(t:assert_raises(function() wait_until(function() error("boom") end) end), "boom")
end)

test("meta is visible on t", {tags = {"fast"}, owner = "qa"}, function(t)
  t:assert_eq(t.name, "meta is visible on t")
  t:assert_eq(t.meta.owner, "qa")
  t:assert_eq(t.meta.tags[1], "fast")
end)

test("skipped by meta", {skip = "not today"}, function(t)
  t:fail("must not run")
end)

test("durations are validated", function(t)
  t:assert_contains(t:assert_raises(function() wait_until(function() return true end, {timeout = -1}) end),
    "invalid duration")
  t:assert_contains(t:assert_raises(function() wait_until(function() return true end, {timeout = "5 parsecs"}) end),
    "invalid duration")
end)
