-- barrier.test.lua - lab:barrier(name, count, timeout?), the run-wide rendezvous that
-- the runner brokers between worker processes (issue 12 part 4). Each test runs a few
-- files of the private suite tests/cases/barrier in a sub-provium with --jobs 3; the
-- files boot no VM, check what barrier returned and note times in $BARRIER_LOG.
local e2e = require("lib.e2e")

local dir = e2e.cases .. "/barrier"

-- Runs the named case files (without .test.lua) side by side; returns the output, the
-- exit code, the notes {label = seconds since the epoch} and the run's wall time.
local function run(...)
  local log = os.tmpname()
  local args = {"--no-progress", "--jobs", "3"}
  for _, name in ipairs({...}) do args[#args + 1] = "tests/" .. name .. ".test.lua" end
  local t0 = os.time()
  local out, code = e2e.provium(args, dir, "BARRIER_LOG=" .. e2e.q(log))
  local wall = os.time() - t0
  local notes = {}
  for line in (e2e.read(log) or ""):gmatch("[^\n]+") do
    local label, secs = line:match("^(.-) ([%d.]+)$")
    notes[label] = tonumber(secs)
  end
  os.remove(log)
  return out, code, notes, wall
end

test("three files meet at a barrier: all pass together, after the last arrival; twice", function(t)
  local out, code, n = run("meet_a", "meet_b", "meet_c")
  t:log(out)
  t:assert_eq(code, 0, out)
  t:assert_contains(out, "3 passed, 0 failed, 0 skipped")
  -- they arrived a second apart (a, b, c) ...
  t:assert(n["b arrived"] - n["a arrived"] > 0.8 and n["c arrived"] - n["b arrived"] > 0.8,
    "staggered arrivals")
  -- ... and passed together, once c had arrived
  local first, last = math.huge, 0
  for _, x in ipairs({"a", "b", "c"}) do
    local p = n[x .. " passed"]
    t:assert(p >= n["c arrived"] - 0.05, x .. " passed before c arrived")
    first, last = math.min(first, p), math.max(last, p)
    t:assert(n[x .. " passed2"] >= p, "second rendezvous after the first")
  end
  t:assert(last - first < 1, ("passed %.3f s apart"):format(last - first))
end)

test("a count mismatch fails the waiting file and the new arrival at once", function(t)
  local out, code, n, wall = run("mismatch_2", "mismatch_3")
  t:log(out)
  t:assert_eq(code, 0, out)
  t:assert_contains(out, "2 passed, 0 failed, 0 skipped")
  t:assert(n["mismatch_2 answered"] and n["mismatch_3 answered"], "both answered")
  t:assert(math.abs(n["mismatch_2 answered"] - n["mismatch_3 answered"]) < 1, "at the same time")
  t:assert(wall < 20, "long before the 30 s timeout (" .. wall .. " s)")
end)

test("a file that never arrives: the waiting one gets false at its timeout", function(t)
  local out, code, n = run("lonely", "bystander")
  t:log(out)
  t:assert_eq(code, 0, out)
  t:assert_contains(out, "2 passed, 0 failed, 0 skipped")
  t:assert(next(n) ~= nil, "lonely noted its wait")
end)

test("a file that dies while waiting no longer counts as an arrival", function(t)
  local out, code, n = run("dies", "late")
  t:log(out)
  t:assert_eq(code, 1, out)
  t:assert_contains(out, "tests/dies.test.lua: worker crashed (signal 9: Killed)")
  t:assert_contains(out, "PASS tests/late.test.lua")
  t:assert(n["late timed out"], "late waited alone and timed out")
end)

test("the test deadline cuts a barrier wait, and the file goes on", function(t)
  local out, code, _, wall = run("cut")
  t:log(out)
  t:assert_eq(code, 1, out)
  t:assert_contains(out, "1 passed, 1 failed, 0 skipped")
  t:assert_contains(out, "the test deadline cuts the wait: test timeout exceeded")
  t:assert(wall < 20, "cut at the 1 s deadline, not the 30 s timeout (" .. wall .. " s)")
end)

test("arguments are checked; a count of 1 is met at once", function(t)
  local function api_error(fn, phrase)
    local e = t:assert_raises(fn)
    t:assert_eq(type(e) == "string" and e:match("barrier%.test%.lua:%d+: (.*)$"), "lab:barrier: " .. phrase)
  end
  api_error(function() provium:barrier("x", 0) end, "count must be a positive integer")
  api_error(function() provium:barrier("x", 1.5) end, "count must be a positive integer")
  api_error(function() provium:barrier("", 2) end, "the name must be 1-255 bytes of UTF-8")
  api_error(function() provium:barrier("a\xff", 2) end, "the name must be 1-255 bytes of UTF-8")
  api_error(function() provium:barrier(("n"):rep(256), 2) end, "the name must be 1-255 bytes of UTF-8")
  api_error(function() provium:barrier("x", 2, "soon") end, "invalid duration: soon")
  t:assert_eq(provium:barrier("solo", 1), true)
  local sub = provium:lab("sub")
  t:assert_eq(sub:barrier("solo", 1, 0), true)
  -- alone in this run's file, with a zero timeout: false at once
  local ok, why = provium:barrier("nobody", 2, 0)
  t:assert_eq(ok, false)
  t:assert_eq(why, "timeout: 1 of 2 arrivals at 'nobody'")
end)
