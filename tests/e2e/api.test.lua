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

test("lab graph accessors: members, include, remove, pack", function(t)
  local sub = provium:lab("sub")
  local v = provium:vm("v", "base")
  local br = provium:bridge("br")
  local names = {}
  for _, m in ipairs(provium:members()) do names[#names + 1] = m.kind .. ":" .. m.name end
  t:assert_eq(table.concat(names, ","), "vm:v,bridge:br,lab:sub")
  t:assert_eq(table.concat(provium:bridge_names(), ","), "br")
  t:assert_eq(table.concat(provium:sub_lab_names(), ","), "sub")
  provium:remove(v)
  t:assert_eq(#provium:vm_names(), 0)
  t:assert_contains(t:assert_raises(function() provium:remove(v) end), "not a member")
  sub:include(v)
  t:assert_eq(sub.v, v)
  t:assert_contains(t:assert_raises(function() sub:include(v) end), "already visible")
  provium:remove(br)
  t:assert_eq(#provium:bridge_names(), 0)
  sub:include(br)
  t:assert_eq(sub.br, br)
  t:assert_eq(provium:unpack("<I2", provium:pack("<I2", 513)), 513)
  t:assert_eq(provium.pack(">I2", 258), "\1\2")
end)

-- tests/cases/asserts, run by provium itself: what each of t's assertions reports.
test("assertion messages, assert_raises and the sticky flag, meta.timeout", function(t)
  local e2e = require("lib.e2e")
  local dir = e2e.cases .. "/asserts"
  local out, code = e2e.provium({"--config", dir .. "/provium.toml", "--no-progress", "--json"}, dir)
  t:assert_eq(code, 1)
  local files = {}
  for line in out:gmatch("[^\n]+") do
    if line:sub(1, 1) == "{" then
      local v = json.decode(line)
      if v.kind == "file" then files[v.path] = v end
    end
  end
  local got = {}
  for _, r in ipairs(files["asserts.test.lua"].tests) do
    got[r.name] = r.status .. " " .. (r.message or ""):gsub("^.-asserts%.test%.lua:%d+: ", "")
  end
  t:log(out)
  t:assert_eq(got["assert_eq without a message"], "failed 1 ~= 2")
  t:assert_eq(got["assert_eq with a message"], "failed letters: a ~= b")
  t:assert_eq(got["assert_neq without a message"], "failed 3 == 3")
  t:assert_eq(got["assert_neq with a message"], "failed same: 3 == 3")
  t:assert_eq(got["an assertion inside assert_raises is the expected raise"], "passed ")
  t:assert_eq(got["an earlier failure stays through assert_raises"], "failed first failure")
  t:assert_eq(got["assert_raises that does not raise fails"], "failed quiet: expected to raise")
  t:assert_eq(got["t:skip inside assert_raises still skips"], "skipped skipped inside")
  t:assert_eq(got["assert_contains refuses numbers"],
    "failed bad argument #1 to 'assert_contains' (string expected, got number)")
  t:assert_contains(files["badmeta.test.lua"].chunk_error, "badmeta.test.lua:2: test: invalid duration: forever")
end)
