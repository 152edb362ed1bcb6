-- report_integrity.test.lua - reports never lose a test: bytes that are not UTF-8 in
-- names, messages, logs, guest output and file names are escaped (\xNN) in the human,
-- JSON, events and JUnit reports; crashed and timed-out tests get their test_failed
-- event and JUnit counts each test once; `--events -` keeps stdout for events. Also the
-- CLI's guards: no test file at all, a --filter matching nothing, a mistyped command.
local e2e = require("lib.e2e")
local C = e2e.cases

-- Runs provium in dir; returns stdout, stderr and the exit code separately.
local function run_split(dir, args)
  local parts = {}
  for _, a in ipairs(args) do parts[#parts + 1] = e2e.q(a) end
  local out, err = os.tmpname(), os.tmpname()
  local code = e2e.host("cd " .. e2e.q(dir) .. " && " .. e2e.q(e2e.exe) .. " "
    .. table.concat(parts, " ") .. " >" .. e2e.q(out) .. " 2>" .. e2e.q(err) .. "; echo $?")
  local function slurp(p)
    local s = assert(e2e.read(p), p)
    os.remove(p)
    return s
  end
  return slurp(out), slurp(err), tonumber(code)
end

local function read(path) return assert(e2e.read(path), path) end

-- JSON lines of text, decoded (every line must be one).
local function json_lines(t, text)
  local v = {}
  for line in text:gmatch("[^\n]+") do
    local ok, o = pcall(json.decode, line)
    t:assert(ok and type(o) == "table", "not a JSON line: " .. line)
    v[#v + 1] = o
  end
  return v
end

-- "file:name" of every test_failed event, sorted.
local function failed_events(events)
  local v = {}
  for _, e in ipairs(events) do
    if e.kind == "test_failed" then v[#v + 1] = e.path .. ":" .. e.name end
  end
  table.sort(v)
  return table.concat(v, ",")
end

-- The <testsuite ...> start tag of the suite named path.
local function suite_tag(xml, path)
  for tag in xml:gmatch("<testsuite [^>]*>") do
    if tag:find('name="' .. path .. '"', 1, true) then return tag end
  end
  return nil
end

-- A private copy of the integrity case plus a test file whose NAME is not UTF-8.
local function integrity_case()
  local dir, write = e2e.private_case("integrity")
  write("tests/caf\xe9.test.lua", 'test("in a latin-1 file", function(t) t:fail("x") end)\n')
  return dir
end

test("bytes that are not UTF-8 are escaped in every report; --events - owns stdout", function(t)
  local dir = integrity_case()
  local junit = dir .. "/junit.xml"
  local stdout, stderr, code = run_split(dir, {"--no-progress", "--json", "--events", "-",
                                               "--junit", junit})
  t:log(stderr)
  t:assert_eq(code, 1)
  -- stdout: events only; stderr: the JSON report
  local events = json_lines(t, stdout)
  for _, e in ipairs(events) do
    t:assert(e.ts ~= nil and e.kind ~= "file" and e.kind ~= "summary", "not an event: " .. e.kind)
  end
  local report = {}
  for line in stderr:gmatch("[^\n]+") do
    if line:sub(1, 1) == "{" then report[#report + 1] = json.decode(line) end
  end
  local files, summary = {}, nil
  for _, r in ipairs(report) do
    if r.kind == "file" then files[r.path] = r elseif r.kind == "summary" then summary = r end
  end
  t:assert(summary ~= nil, "the JSON summary is on stderr")
  t:assert_eq(summary.failed, 6)
  local bytes = files["tests/bytes.test.lua"]
  t:assert(bytes ~= nil, "bytes.test.lua in the JSON report")
  t:assert_eq(bytes.tests[1].name, "bad \\xff name")
  t:assert_contains(bytes.tests[1].message, "bytes.test.lua:5: raw \\xff\\xfe message")
  t:assert_contains(bytes.tests[1].log, "logged \\x80 byte")
  t:assert_contains(bytes.tests[2].message, "guest wrote \\xfe")
  t:assert_eq(bytes.tests[4].name, "nul bytes")
  t:assert_contains(bytes.tests[4].message, "a\\x00b ~= a\\x00c")
  t:assert_contains(bytes.tests[4].log, "before\\x00after")
  t:assert(files["tests/caf\\xe9.test.lua"] ~= nil, "the latin-1 file name, escaped")
  -- events
  local failed = failed_events(events)
  t:assert_contains(failed, "tests/bytes.test.lua:bad \\xff name")
  t:assert_contains(failed, "tests/bytes.test.lua:guest bytes")
  t:assert_contains(failed, "tests/caf\\xe9.test.lua:in a latin-1 file")
  for _, e in ipairs(events) do
    if e.kind == "test_failed" and e.name == "guest bytes" then
      t:assert_contains(e.console_excerpt, "raw:\\xff\\xfe:end")
    end
  end
  -- JUnit
  local xml = read(junit)
  t:assert_contains(xml, '<testcase classname="tests/bytes.test.lua" name="bad \\xff name"')
  t:assert_contains(xml, 'bytes.test.lua:5: raw \\xff\\xfe message">')
  t:assert_contains(xml, "logged \\x80 byte</system-out>")
  t:assert_contains(xml, "before\\x00after</system-out>")
  t:assert_contains(xml, "raw:\\xff\\xfe:end")
  t:assert_contains(xml, '<testsuite name="tests/caf\\xe9.test.lua" tests="1" failures="1"')
  e2e.host("rm -rf " .. e2e.q(dir))
end)

test("the human report names every test, bytes escaped; os.exit(0) is a crash", function(t)
  local dir = integrity_case()
  local out, code = e2e.provium({"--no-progress"}, dir)
  t:log(out)
  t:assert_eq(code, 1)
  t:assert_contains(out, "  - bad \\xff name: " .. dir .. "/tests/bytes.test.lua:5: raw \\xff\\xfe message")
  t:assert_contains(out, "  - guest bytes: ")
  t:assert_contains(out, "raw:\\xff\\xfe:end")
  t:assert_contains(out, "  - in a latin-1 file: " .. dir .. "/tests/caf\\xe9.test.lua:1: x")
  t:assert_contains(out, "FAIL tests/caf\\xe9.test.lua")
  t:assert(not out:find("(null)", 1, true), "no test without its name")
  t:assert_contains(out, "ERR  tests/exit.test.lua: worker exited with status 0 before the file finished")
  t:assert_contains(out, "  - calls os.exit: worker exited")
  t:assert_contains(out, "  - never runs: worker exited")
  t:assert_contains(out, "  - nul bytes: ")
  t:assert_contains(out, "a\\x00b ~= a\\x00c")
  t:assert_eq(e2e.last_line(out), "2 passed, 6 failed, 0 skipped")
  e2e.host("rm -rf " .. e2e.q(dir))
end)

test("crashed and timed-out tests get test_failed; JUnit counts each test once", function(t)
  local events, junit = os.tmpname(), os.tmpname()
  local function go(case, ...)
    os.remove(events)
    local args = {"--config", C .. "/" .. case .. "/provium.toml", "--no-progress",
                  "--events", events, "--junit", junit, ...}
    local out, code = e2e.provium(args, C .. "/" .. case)
    local ev = {}
    for line in read(events):gmatch("[^\n]+") do ev[#ev + 1] = json.decode(line) end
    return out, code, ev, read(junit)
  end
  -- a worker killed by a signal
  local out, code, ev, xml = go("crash")
  t:log(out)
  t:assert_eq(code, 1)
  t:assert_eq(failed_events(ev), "a_crash.test.lua:kills its own worker,a_crash.test.lua:never runs")
  local tag = suite_tag(xml, "a_crash.test.lua")
  t:assert_contains(tag, 'tests="3" failures="2" errors="0" skipped="0"')
  t:assert(tag:find(' timestamp="%d%d%d%d%-%d%d%-%d%dT%d%d:%d%d:%d%d"') ~= nil, "timestamp: " .. tag)
  t:assert(tag:find(' hostname="[^"]+"') ~= nil, "hostname: " .. tag)
  t:assert(not xml:find('name="(file)"', 1, true), "no (file) case when tests were registered")
  -- a file timeout
  out, code, ev, xml = go("timeout", "--timeout", "2s", "file")
  t:assert_eq(code, 1)
  t:assert_eq(failed_events(ev), "file/spin.test.lua:never ends")
  for _, e in ipairs(ev) do
    if e.kind == "test_failed" then
      t:assert_eq(e.reason, "file timeout exceeded")
      t:assert(e.duration_ns > 1e9, "the running test's time")
    end
  end
  t:assert_contains(suite_tag(xml, "file/spin.test.lua"), 'tests="1" failures="1" errors="0"')
  -- a chunk error is one <error> on (file), not also a failure
  out, code, ev, xml = go("syntax")
  t:assert_eq(code, 1)
  t:assert_contains(suite_tag(xml, "broken.test.lua"), 'tests="1" failures="0" errors="1"')
  t:assert_contains(xml, 'name="(file)" time="0">\n      <error message="chunk error: ')
  t:assert_eq(e2e.last_line(out), "1 passed, 1 failed, 0 skipped")
  -- a file skipped by --fail-fast is one skipped (file) case, as the summary counts it
  out, code, ev, xml = go("crash", "--fail-fast", "--jobs", "1")
  t:assert_eq(e2e.last_line(out), "1 passed, 2 failed, 1 skipped")
  t:assert_contains(suite_tag(xml, "b_fine.test.lua"), 'tests="1" failures="0" errors="0" skipped="1"')
  t:assert_contains(xml, 'name="(file)" time="0">\n      <skipped message="skipped by --fail-fast"/>')
  os.remove(events)
  os.remove(junit)
end)

test("an interrupted run names the test it stopped", function(t)
  local log = os.tmpname()
  local cmd = "cd " .. e2e.q(C .. "/timeout") .. " && { " .. e2e.q(e2e.exe)
    .. " --config provium.toml --no-progress file >" .. e2e.q(log) .. " 2>&1 & pid=$!; sleep 3;"
    .. " kill -INT $pid; wait $pid; echo $?; }"
  local code = tonumber(e2e.host(cmd))
  local out = read(log)
  os.remove(log)
  t:log(out)
  t:assert_eq(code, 130)
  t:assert_contains(out, "  - never ends: interrupted\n")
  t:assert_eq(e2e.last_line(out), "0 passed, 1 failed, 0 skipped")
end)

test("a run with no test file exits 2; a --filter matching nothing says so", function(t)
  local dir = e2e.host("mktemp -d"):gsub("%s+$", "")
  e2e.host("mkdir " .. e2e.q(dir .. "/empty"))
  local out, code = e2e.provium({"--config", C .. "/crash/provium.toml", "--no-progress", "empty"}, dir)
  t:assert_eq(code, 2)
  t:assert_contains(out, "provium: no test files under empty\n")
  out, code = e2e.provium({"--no-progress"}, dir .. "/empty") -- no config: the cwd is the root
  t:assert_eq(code, 2)
  t:assert_contains(out, "provium: no test files under " .. dir .. "/empty")
  e2e.host("rm -rf " .. e2e.q(dir))
  out, code = e2e.provium({"--config", C .. "/crash/provium.toml", "--no-progress",
                           "--filter", "nothing-like-this"}, C .. "/crash")
  t:assert_eq(code, 0)
  t:assert_contains(out, "no test matched --filter 'nothing-like-this'\n0 files in ")
  t:assert_eq(e2e.last_line(out), "0 passed, 0 failed, 0 skipped")
end)

test("a mistyped command is an unknown command, with the closest one suggested", function(t)
  local out, code = e2e.provium({"lsit"})
  t:assert_eq(code, 2)
  t:assert_eq(out, "provium: unknown command 'lsit' (did you mean 'list'?)\n")
  out, code = e2e.provium({"fixtrue", "list"})
  t:assert_eq(code, 2)
  t:assert_eq(out, "provium: unknown command 'fixtrue' (did you mean 'fixture'?)\n")
  out, code = e2e.provium({"xyz"})
  t:assert_eq(code, 2)
  t:assert_eq(out, "provium: unknown command 'xyz'\n")
  -- an existing path of the same shape is still a test path
  out, code = e2e.provium({"--config", C .. "/crash/provium.toml", "--no-progress", "b_fine.test.lua"},
                          C .. "/crash")
  t:assert_eq(code, 0)
  t:assert_contains(out, "PASS b_fine.test.lua")
end)
