-- labs.test.lua - lab snapshots, lab fixtures and reset_between_tests end to end, on a
-- private copy of the tests/cases/labs suite with its own cache directory.
local e2e = require("lib.e2e")

local work = e2e.remove_when_done(e2e.private_case("labs"))
-- runs provium in the copy; use.test.lua saves a lab under LABS_WORK
local function run(...)
  e2e.host("rm -rf " .. e2e.q(work .. "/saved-lab"))
  return e2e.run_with_fixture_events(work, "LABS_WORK=" .. e2e.q(work), ...)
end
local count = e2e.count

-- The first run, on the empty cache, at file scope: whichever tests run, each starts
-- with both fixtures built (the truncation test rebuilds what it breaks). The first
-- test checks what this run did.
local first_out, first_code, first_kinds = run()

test("lab fixtures, lab snapshots and resets pass; each fixture is built once", function(t)
  local out, code, kinds = first_out, first_code, first_kinds
  t:log(out)
  t:assert_eq(code, 0)
  t:assert_contains(out, "6 passed, 0 failed, 0 skipped")
  t:assert_eq(count(kinds, "fixture_build_started:fixtures/one"), 1)
  t:assert_eq(count(kinds, "fixture_build_started:fixtures/pair"), 1)
  local list = e2e.provium({"fixture", "list"}, work)
  t:assert(list:find("MiB  lab  %x+  fixtures/pair") ~= nil, list)
  t:assert(list:find("MiB  vm   %x+  fixtures/one") ~= nil, list)
  t:assert_contains(list, "2 entries, ")
  local entry = e2e.host("ls -d " .. e2e.q(work .. "/cache") .. "/*.lab"):gsub("%s+$", "")
  t:assert_eq(e2e.host("ls " .. e2e.q(entry)), "a.snap\nb.snap\nlab.json\n")
  local _, code2, kinds2 = run()
  t:assert_eq(code2, 0)
  t:assert_eq(count(kinds2, "fixture_build_started:fixtures/one"), 0)
  t:assert_eq(count(kinds2, "fixture_build_started:fixtures/pair"), 0)
  t:assert_eq(count(kinds2, "fixture_build_started:fixtures/bad"), 1) -- never installs
  t:assert_contains(kinds2, "fixture_cache_hit:fixtures/pair")
end)

test("fixture build and rebuild handle a lab fixture", function(t)
  t:assert_contains(e2e.provium({"fixture", "build", "fixtures/pair"}, work),
    "already built: fixtures/pair")
  local out, code = e2e.provium({"fixture", "rebuild", "fixtures/pair"}, work)
  t:assert_eq(code, 0, out)
  t:assert_contains(out, "built: fixtures/pair")
  t:assert_contains(e2e.provium({"fixture", "list"}, work), "2 entries, ")
  local _, code2 = e2e.provium({"fixture", "build", "fixtures/bad"}, work)
  t:assert_eq(code2, 1)
end)

test("a truncated member of a lab entry is warned about and rebuilt", function(t)
  local snap = e2e.host("ls " .. e2e.q(work .. "/cache") .. "/*.lab/b.snap"):gsub("%s+$", "")
  e2e.host("truncate -s 100000 " .. e2e.q(snap))
  local out, code, kinds = run("tests/use.test.lua")
  t:log(out)
  t:assert_eq(code, 0)
  t:assert_contains(out, "provium: warning: fixture `fixtures/pair`: cache entry ")
  t:assert_contains(kinds, "fixture_evicted:fixtures/pair")
  t:assert_contains(kinds, "fixture_build_started:fixtures/pair")
end)

test("editing the base fixture makes the lab fixture stale too", function(t)
  local f = assert(io.open(work .. "/tests/fixtures/one.fixture.lua", "a"))
  f:write("-- edited\n")
  f:close()
  local stale = e2e.provium({"fixture", "stale"}, work)
  t:assert_contains(stale, "tests/fixtures/one.fixture.lua")
  t:assert_contains(stale, "tests/fixtures/pair.fixture.lua")
  t:assert_contains(stale, "3 stale fixture(s)") -- and bad, which never builds
end)
