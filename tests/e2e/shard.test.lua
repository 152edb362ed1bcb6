-- shard.test.lua - many machines without the machines: provium --shard K/N placing the
-- files of tests/cases/shards (no VM boots) on shards, `provium list --shard`, the
-- durations file, and `provium report merge` turning the shards' event streams into the
-- report one unsharded run gives.
local e2e = require("lib.e2e")
local dir = e2e.cases .. "/shards"
local CLEAN = "PROVIUM_SHARD= JOB_COMPLETION_INDEX="

local function run(env, ...)
  local args = {"--config", dir .. "/provium.toml", "--no-progress", ...}
  return e2e.provium(args, dir, CLEAN .. " " .. (env or ""))
end

local function lines(out)
  local v = {}
  for l in out:gmatch("[^\n]+") do
    if not l:find("^provium: ") then v[#v + 1] = l end
  end
  return v
end

-- The files `provium list [--shard K/N]` prints, as a set and a count.
local function listed(t, ...)
  local out, code = e2e.provium({"list", "--config", dir .. "/provium.toml", ...}, dir, CLEAN)
  t:assert_eq(code, 0, out)
  local set, n = {}, 0
  for _, l in ipairs(lines(out)) do set[l] = true; n = n + 1 end
  return set, n
end

local function tmp()
  local p = os.tmpname()
  os.remove(p)
  e2e.remove_when_done(p)
  return p
end

-- Every file of the suite on exactly one of n shards.
local function check_partition(t, n, ...)
  local all, total = listed(t)
  local seen, count = {}, 0
  for k = 1, n do
    local set, c = listed(t, "--shard", k .. "/" .. n, ...)
    for f in pairs(set) do
      t:assert(all[f], f .. " is not a file of the suite")
      t:assert(not seen[f], f .. " is on two shards of " .. n)
      seen[f] = true
    end
    count = count + c
  end
  t:assert_eq(count, total, "files over " .. n .. " shards")
end

-- Sums of tests, failures, errors and skipped over a JUnit file's testsuites.
local function junit_totals(path)
  local xml = e2e.read(path)
  local s = {tests = 0, failures = 0, errors = 0, skipped = 0, suites = 0}
  for a in xml:gmatch("<testsuite ([^>]*)>") do
    s.suites = s.suites + 1
    for k in pairs({tests = 1, failures = 1, errors = 1, skipped = 1}) do
      s[k] = s[k] + tonumber(a:match(k .. '="(%d+)"'))
    end
  end
  return s
end

test("list --shard: every file on exactly one shard; files sharing a fixture together", function(t)
  local _, total = listed(t)
  t:assert_eq(total, 6)
  for _, n in ipairs({1, 2, 3, 4, 7}) do check_partition(t, n) end
  local one = listed(t, "--shard", "1/2")
  t:assert_eq(one["d_group.test.lua"], one["e_group.test.lua"], "d and e share fixture 'shared'")
  -- with recorded durations (and a file the durations do not know)
  local d = tmp()
  local f = assert(io.open(d, "w"))
  f:write('{"a_pass.test.lua": 30, "b_fail.test.lua": 1, "c_skip.test.lua": 12.5,'
          .. ' "d_group.test.lua": 2, "f_chunk.test.lua": 0.5}\n')
  f:close()
  for _, n in ipairs({2, 3}) do check_partition(t, n, "--durations", d) end
  -- the 30 s file alone outweighs the others: it has a shard to itself
  for k = 1, 2 do
    local set, c = listed(t, "--shard", k .. "/2", "--durations", d)
    if set["a_pass.test.lua"] then t:assert_eq(c, 1) end
  end
end)

test("two shards merged give the unsharded run's counts, JUnit totals and exit code", function(t)
  local all_ev, all_junit, e1, e2, merged, dur = tmp(), tmp(), tmp(), tmp(), tmp(), tmp()
  local out, code = run(nil, "--events", all_ev, "--junit", all_junit)
  t:log(out)
  t:assert_eq(code, 1)
  t:assert_eq(e2e.last_line(out), "7 passed, 2 failed, 1 skipped")
  local o1, c1 = run(nil, "--shard", "1/2", "--events", e1, "--save-durations", dur)
  local o2, c2 = run("PROVIUM_SHARD=2/2", "--events", e2, "--save-durations", dur)
  t:log(o1 .. o2)
  t:assert(o1:find("3 files in", 1, true) and o2:find("3 files in", 1, true), "3 files each")
  t:assert_eq(math.max(c1, c2), 1)
  out, code = e2e.provium({"report", "merge", e1, e2, "--junit", merged}, dir)
  t:log(out)
  t:assert_eq(code, 1)
  t:assert_eq(e2e.last_line(out), "7 passed, 2 failed, 1 skipped")
  t:assert_contains(out, "6 files from 2 streams")
  t:assert_contains(out, "- fails: ")
  t:assert_contains(out, "ERR  f_chunk.test.lua: chunk error:")
  local a, m = junit_totals(all_junit), junit_totals(merged)
  for _, k in ipairs({"suites", "tests", "failures", "errors", "skipped"}) do
    t:assert_eq(m[k], a[k], "JUnit " .. k)
  end
  t:assert_eq(a.suites, 6)
  t:assert_eq(a.errors, 1)
  -- t:log lines are not in the event stream: the merged file has no <system-out>
  t:assert_contains(e2e.read(all_junit), "a line for system-out")
  -- both shards' seconds merged into one durations file
  local n = 0
  for _ in pairs(json.decode(e2e.read(dur))) do n = n + 1 end
  t:assert_eq(n, 6)
  -- the passing shard alone: its counts, but the other shard's tests are missing
  local pass_ev = c1 == 0 and e1 or e2
  out, code = e2e.provium({"report", "merge", pass_ev}, dir)
  t:assert_eq(code, 1, out)
  t:assert_contains(out, "warning: no stream of shard " .. (c1 == 0 and 2 or 1) .. "/2")
  t:assert(e2e.last_line(out):find(" 0 failed,", 1, true) ~= nil, "no failure counted")
end)

test("--shard beats PROVIUM_SHARD, auto/N reads JOB_COMPLETION_INDEX, bad values exit 2", function(t)
  local want = listed(t, "--shard", "2/3")
  local function ran(out)
    local set = {}
    for f in out:gmatch("[A-Z]+ +([%w_]+%.test%.lua)") do set[f] = true end
    return set
  end
  local out, code = run("PROVIUM_SHARD=1/3", "--shard", "2/3")
  local got = ran(out)
  for f in pairs(want) do t:assert(got[f], f .. " not run by --shard 2/3") end
  for f in pairs(got) do t:assert(want[f], f .. " run by --shard 2/3 but not listed") end
  out, code = run("JOB_COMPLETION_INDEX=1", "--shard", "auto/3")
  got = ran(out)
  for f in pairs(want) do t:assert(got[f], f .. " not run by auto/3 with index 1") end
  out, code = run(nil, "--shard", "auto/3")
  t:assert_eq(code, 2)
  t:assert_contains(out, "JOB_COMPLETION_INDEX is not set")
  out, code = run("JOB_COMPLETION_INDEX=3", "--shard", "auto/3")
  t:assert_eq(code, 2)
  t:assert_contains(out, "JOB_COMPLETION_INDEX='3'")
  for _, bad in ipairs({"4/3", "0/3", "1/0", "x"}) do
    out, code = run(nil, "--shard", bad)
    t:assert_eq(code, 2, bad)
    t:assert_contains(out, "--shard must be K/N")
  end
  out, code = run("PROVIUM_SHARD=junk")
  t:assert_eq(code, 2)
  t:assert_contains(out, "PROVIUM_SHARD must be K/N")
  -- more shards than files: an empty shard runs nothing and passes
  out, code = run(nil, "--shard", "7/7")
  t:assert_eq(code, 0, out)
  t:assert_contains(out, "0 files in")
  t:assert_eq(e2e.last_line(out), "0 passed, 0 failed, 0 skipped")
end)

test("report merge: missing or broken streams exit 2, a file run twice warns", function(t)
  local ev, bad = tmp(), tmp()
  local _, code = run(nil, "--filter", "a_pass", "--events", ev)
  t:assert_eq(code, 0)
  local out
  out, code = e2e.provium({"report", "merge", ev, dir .. "/no-such.jsonl"}, dir)
  t:assert_eq(code, 2)
  t:assert_contains(out, "no-such.jsonl: No such file")
  local f = assert(io.open(bad, "w"))
  f:write(e2e.read(ev), "{not json\n")
  f:close()
  out, code = e2e.provium({"report", "merge", bad}, dir)
  t:assert_eq(code, 2)
  local n = select(2, e2e.read(ev):gsub("\n", "")) + 1
  t:assert_contains(out, bad .. ":" .. n .. ": not an event")
  out, code = e2e.provium({"report", "merge", ev, ev}, dir)
  t:assert_eq(code, 0, out)
  t:assert_contains(out, "warning: a_pass.test.lua is in both")
  t:assert_eq(e2e.last_line(out), "3 passed, 0 failed, 0 skipped")
  -- a stream cut short (the shard died): the merge cannot pass
  f = assert(io.open(bad, "w"))
  f:write((e2e.read(ev):gsub('[^\n]*"run_completed"[^\n]*\n', "")))
  f:close()
  out, code = e2e.provium({"report", "merge", bad}, dir)
  t:assert_eq(code, 1, out)
  t:assert_contains(out, "no run_completed event")
  out, code = e2e.provium({"report", "merge"}, dir)
  t:assert_eq(code, 2)
  out, code = e2e.provium({"report", "merge", ev, "--junt", "x"}, dir)
  t:assert_eq(code, 2)
  t:assert_contains(out, "unknown option '--junt'")
end)
