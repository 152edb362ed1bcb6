-- dynamic.test.lua - the dynamic-profiles document's worked example, end to end: a
-- profile whose build script writes the image into {out} is built before the run and
-- booted by it; a failing build stops the run with exit 2 even though old artifacts
-- exist; --no-build boots the previous artifacts.
local e2e = require("lib.e2e")

local dir = e2e.cases .. "/dynamic"
local out_dir = e2e.dir:gsub("/tests/e2e$", "") .. "/build/cases-dynamic"
local env = "STAMP_FILE=" .. e2e.q(out_dir .. "/stamp")

local function stamp()
  local f = io.open(out_dir .. "/stamp")
  if not f then return nil end
  local s = f:read("a")
  f:close()
  return s
end

-- The first run, at file scope: whichever tests run, the profile's artifacts and its
-- stamp exist for the ones after it. The first test checks what this run did.
local first_out, first_code = e2e.provium({"--no-progress", "--json"}, dir, env)

test("the run builds the profile first, then boots it", function(t)
  local out, code = first_out, first_code
  t:log(out)
  t:assert_eq(code, 0)
  t:assert_contains(out, "provium: building profile `app`")
  local s = stamp()
  t:assert(s ~= nil, "the build wrote its stamp")
  t:assert_contains(out, "stamp=" .. s:gsub("\n", "\\n"))
end)

test("a failing build exits 2 before any boot, old artifacts notwithstanding", function(t)
  local before = stamp()
  local out, code = e2e.provium({"--no-progress", "--events", "-"}, dir, env .. " FAIL_BUILD=1")
  t:assert_eq(code, 2)
  t:assert_contains(out, "build.sh: failing on purpose")
  t:assert_contains(out, "provium: profile `app`: build command failed (exit code 4)")
  t:assert(not out:find("vm_spawned", 1, true), "something booted")
  t:assert(not out:find("test_started", 1, true), "a test started")
  t:assert_eq(stamp(), before)
end)

test("--no-build boots the previous artifacts", function(t)
  local before = stamp()
  local out, code = e2e.provium({"--no-progress", "--no-build", "--json"}, dir,
    env .. " FAIL_BUILD=1")
  t:log(out)
  t:assert_eq(code, 0)
  t:assert(not out:find("building profile", 1, true), "the hook ran")
  t:assert_eq(stamp(), before)
  t:assert_contains(out, "stamp=" .. before:gsub("\n", "\\n"))
end)
