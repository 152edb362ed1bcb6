-- fixtures.test.lua - the fixture cache end to end, on a private copy of the
-- tests/cases/fixtures suite with its own cache directory.
local e2e = require("lib.e2e")

local image = e2e.image
local work, write = e2e.private_case("fixtures")
e2e.remove_when_done(work)
local function run(...) return e2e.run_with_fixture_events(work, nil, ...) end
local count = e2e.count

-- The first run, on the empty cache, at file scope: whichever tests run, each starts
-- from a cache holding both fixtures up to date (a test that edits the copy rebuilds
-- before it ends; only the last one, the eviction, empties the cache). The first test
-- checks what this run did.
local first_out, first_code, first_kinds = run()

test("first run builds base then derived; the second only restores", function(t)
  local out, code, kinds = first_out, first_code, first_kinds
  t:log(out)
  t:assert_eq(code, 0)
  t:assert_eq(count(kinds, "fixture_build_started"), 2)
  t:assert_contains(kinds, "fixture_build_started:fixtures/derived")
  t:assert_contains(kinds, "fixture_build_started:fixtures/base")
  local out2, code2, kinds2 = run()
  t:assert_eq(code2, 0)
  t:assert_eq(count(kinds2, "fixture_build_started"), 0)
  t:assert(count(kinds2, "fixture_cache_hit") >= 2, "cache hits: " .. kinds2)
  local list = e2e.provium({"fixture", "list"}, work)
  t:assert_contains(list, "2 entries, ")
  t:assert_contains(list, "fixtures/derived")
  t:assert_contains(e2e.provium({"fixture", "stale"}, work), "0 stale fixture(s)")
  t:assert_contains(e2e.provium({"fixture", "build", "fixtures/base"}, work),
    "already built: fixtures/base")
end)

test("editing a pushed host file or a helper makes both fixtures stale", function(t)
  write("payload.txt", "payload-2 is longer\n")
  local stale = e2e.provium({"fixture", "stale"}, work)
  t:assert_contains(stale, "tests/fixtures/base.fixture.lua")
  t:assert_contains(stale, "tests/fixtures/derived.fixture.lua")
  t:assert_contains(stale, "2 stale fixture(s)")
  local out, code, kinds = run("--json")
  t:assert_eq(code, 0)
  t:assert_eq(count(kinds, "fixture_build_started"), 2)
  t:assert_contains(out, "payload=payload-2 is longer")
  write("tests/helpers/setup.lua", 'return {marker = "marker-2\\n"}\n')
  t:assert_contains(e2e.provium({"fixture", "stale"}, work), "2 stale fixture(s)")
  local out2, _, kinds2 = run("--json")
  t:assert_eq(count(kinds2, "fixture_build_started"), 2)
  t:assert_contains(out2, "marker=marker-2")
end)

test("editing only the derived fixture rebuilds only it", function(t)
  local f = assert(io.open(work .. "/tests/fixtures/derived.fixture.lua", "a"))
  f:write("-- edited\n")
  f:close()
  local stale = e2e.provium({"fixture", "stale"}, work)
  t:assert_contains(stale, "1 stale fixture(s)")
  local _, code, kinds = run()
  t:assert_eq(code, 0)
  t:assert_eq(kinds:match("fixture_build_started:[^,]*"), "fixture_build_started:fixtures/derived")
  t:assert_eq(count(kinds, "fixture_build_started"), 1)
end)

test("a truncated cache entry is warned about, rebuilt, and the test passes", function(t)
  local entries = {}
  for p in e2e.host("ls " .. e2e.q(work .. "/cache") .. "/*.snap"):gmatch("[^\n]+") do
    entries[#entries + 1] = p
  end
  t:assert(#entries >= 2, "entries exist")
  for _, p in ipairs(entries) do e2e.host("truncate -s 100000 " .. e2e.q(p)) end
  local out, code, kinds = run()
  t:log(out)
  t:assert_eq(code, 0)
  t:assert_contains(out, "provium: warning: fixture `fixtures/derived`: cache entry ")
  t:assert_contains(out, "unusable")
  t:assert_contains(kinds, "fixture_evicted:fixtures/derived")
  t:assert_contains(kinds, "fixture_build_started:fixtures/derived")
end)

test("two runs at once build a shared fixture exactly once", function(t)
  e2e.provium({"fixture", "clean"}, work)
  local cmd = "cd " .. e2e.q(work) .. " && for i in 1 2; do " .. e2e.q(e2e.exe) ..
    " --no-progress --events ev$i.jsonl tests/use.test.lua > out$i.txt 2>&1 & done; wait"
  e2e.host(cmd)
  local builds, waits, passes = 0, 0, 0
  for i = 1, 2 do
    for line in io.lines(work .. "/ev" .. i .. ".jsonl") do
      local ev = json.decode(line)
      if ev.kind == "fixture_build_started" and ev.fixture == "fixtures/base" then builds = builds + 1 end
      if ev.kind == "fixture_build_waiting" then waits = waits + 1 end
    end
    local f = assert(io.open(work .. "/out" .. i .. ".txt"))
    local text = f:read("a")
    f:close()
    if text:find("3 passed, 0 failed, 0 skipped", 1, true) then passes = passes + 1 end
  end
  t:assert_eq(builds, 1)
  t:assert(waits >= 1, "the other run waited on the lock")
  t:assert_eq(passes, 2)
end)

test("a kernel or initrd change, a moved image or a new profile invalidates every fixture", function(t)
  local cfg = assert(io.open(work .. "/provium.toml")):read("a")
  t:assert_contains(e2e.provium({"fixture", "stale"}, work), "0 stale fixture(s)")
  -- the same image under another path
  e2e.host("cp -r " .. e2e.q(image) .. " " .. e2e.q(work .. "/img"))
  local moved = cfg:gsub(image:gsub("%p", "%%%0"), work .. "/img")
  write("provium.toml", moved)
  t:assert_contains(e2e.provium({"fixture", "stale"}, work), "2 stale fixture(s)")
  local out, code = e2e.provium({"fixture", "build", "fixtures/derived"}, work)
  t:assert_eq(code, 0, out)
  t:assert_contains(e2e.provium({"fixture", "stale"}, work), "0 stale fixture(s)")
  -- a new initrd, then a new kernel, dropped in (same path, new mtime)
  for _, f in ipairs({"initrd.img", "vmlinuz"}) do
    local p = e2e.q(work .. "/img/" .. f)
    e2e.host("touch -r " .. p .. " " .. p .. ".was && touch -d '+1 minute' " .. p)
    t:assert_contains(e2e.provium({"fixture", "stale"}, work), "2 stale fixture(s)")
    e2e.host("touch -r " .. p .. ".was " .. p)
    t:assert_contains(e2e.provium({"fixture", "stale"}, work), "0 stale fixture(s)")
  end
  write("provium.toml", cfg)
  t:assert_contains(e2e.provium({"fixture", "stale"}, work), "0 stale fixture(s)")
  -- a new profile nobody uses
  write("provium.toml", cfg .. ('\n[profiles.other]\nkernel = "%s/vmlinuz"\ncmdline = "x"\n'):format(image))
  t:assert_contains(e2e.provium({"fixture", "stale"}, work), "2 stale fixture(s)")
  write("provium.toml", cfg)
  t:assert_contains(e2e.provium({"fixture", "stale"}, work), "0 stale fixture(s)")
end)

test("a tiny cache_max_size evicts entries at the next start", function(t)
  local cfg = assert(io.open(work .. "/provium.toml")):read("a")
  write("provium.toml", (cfg:gsub('cache_dir = "cache"', 'cache_dir = "cache"\ncache_max_size = "1K"')))
  local list = e2e.provium({"fixture", "list"}, work)
  t:assert_contains(list, "0 entries, 0.00MiB")
  write("provium.toml", cfg)
end)
