-- faults_run.test.lua - nothing of a run outlives it, an interrupted run says so, and
-- a test timeout ends a body blocked in a C call (issue 9, defects 1, 4 and 7a).
--
-- The faults come from outside the provium under test: each test starts a sub-run of
-- tests/cases/runfaults in the background with a unique PROVIUM_FAULT_TAG in its
-- environment (inherited by its workers, QEMUs and the commands its tests start, so
-- /proc/*/environ finds them all) and a private TMPDIR (where its scratch directories
-- show), then signals its parent.
local e2e = require("lib.e2e")
local q = e2e.q

-- one private copy for the whole file, removed after its last test
local work = e2e.remove_when_done(e2e.private_case("runfaults"))
local tmp = work .. "/tmp" -- TMPDIR of the sub-runs
e2e.host("mkdir " .. q(tmp))

local function sh(cmd)
  return (e2e.host("cd " .. q(work) .. " && " .. cmd):gsub("%s+$", ""))
end

-- PIDs (space-separated) of the live processes carrying tag.
local function tagged(tag)
  return sh("grep -l -s -a 'PROVIUM_FAULT_TAG=" .. tag .. "' /proc/[0-9]*/environ"
    .. " | cut -d/ -f3 | tr '\\n' ' '")
end

-- Their command lines, one a line.
local function tagged_cmdlines(tag)
  local out = {}
  for pid in tagged(tag):gmatch("%d+") do
    out[#out + 1] = sh("tr '\\0' ' ' < /proc/" .. pid .. "/cmdline 2>/dev/null")
  end
  return table.concat(out, "\n")
end

-- Whatever a failed check left behind goes, so no QEMU outlives this file.
local function cleanup(tag)
  local left = tagged(tag)
  if left ~= "" then sh("kill -9 " .. left .. " 2>/dev/null; true") end
end

-- Waits (up to `secs`) until the shell condition holds; true when it did.
local function wait_for(cond, secs)
  return sh("for i in $(seq 1 " .. secs * 20 .. "); do if " .. cond
    .. "; then echo yes; break; fi; sleep 0.05; done") == "yes"
end

-- Starts `provium <args>` in the background; returns its tag and parent PID.
local function start(args)
  local tag = sh("mktemp -u XXXXXXXXXX")
  -- PROVIUM_PSI_LIMIT=100: both files start even on a host as busy as this one
  sh("rm -f pid rc out.txt events.jsonl junit.xml; (PROVIUM_PSI_LIMIT=100 PROVIUM_FAULT_TAG="
    .. tag .. " TMPDIR="
    .. q(tmp) .. " " .. q(e2e.exe) .. " " .. args .. " > out.txt 2>&1 & echo $! > pid;"
    .. " wait $!; echo $? > rc) > /dev/null 2>&1 &")
  assert(wait_for("[ -s pid ]", 10), "the sub-run started")
  return tag, sh("cat pid")
end

-- The sub-run's exit code once it ended (nil if it did not within secs) and its output.
local function finish(secs)
  wait_for("[ -s rc ]", secs)
  return tonumber(sh("cat rc 2>/dev/null")), sh("cat out.txt")
end

local function two_vms_running()
  return wait_for("[ \"$(cat events.jsonl 2>/dev/null | grep -c '\"kind\":\"vm_spawned\"')\" = 2 ]", 180)
end

local function scratch_dirs()
  return sh("ls -A " .. q(tmp) .. " | tr '\\n' ' '")
end

test("kill -9 of the parent with two files running: nothing of the run is left", function(t)
  local tag, pid = start("--no-progress --jobs 2 --events events.jsonl "
    .. "tests/hold_a.test.lua tests/hold_b.test.lua")
  local up = two_vms_running()
  local before = tagged_cmdlines(tag)
  t:log("before:\n" .. before)
  if not up then cleanup(tag) end
  t:assert(up, "both files booted their VM")
  t:assert_eq(e2e.count(before, "qemu%-system"), 2, "two QEMUs")
  t:assert_contains(before, "sleep 600")
  -- the time from the kill until no process the run started is left, in ms
  local ms = tonumber(sh("kill -9 " .. pid .. "; t0=$(date +%s%N); i=0; while [ $i -lt 1000 ]"
    .. " && grep -q -l -s -a 'PROVIUM_FAULT_TAG=" .. tag .. "' /proc/[0-9]*/environ; do"
    .. " sleep 0.005; i=$((i+1)); done; echo $(( ($(date +%s%N) - t0) / 1000000 ))"))
  local left = tagged_cmdlines(tag)
  cleanup(tag)
  t:log(("kill -9 of the parent: nothing left after %d ms"):format(ms))
  t:assert_eq(left, "", "processes left")
  t:assert(ms < 1500, ("everything ended within 1.5 s (took %d ms)"):format(ms))
  t:assert_eq(scratch_dirs(), "", "each worker removed its scratch directory")
end)

test("a run killed outright (an OOM kill): the next run removes its scratch dirs", function(t)
  local tag, pid = start("--no-progress --jobs 2 --events events.jsonl "
    .. "tests/hold_a.test.lua tests/hold_b.test.lua")
  local up = two_vms_running()
  -- parent and workers at once: nobody is left to clean up
  sh("kill -9 " .. pid .. " $(pgrep -P " .. pid .. ") 2>/dev/null; true")
  for _ = 1, 100 do -- the QEMUs die with their workers (PR_SET_PDEATHSIG)
    if not tagged_cmdlines(tag):find("qemu") then break end
    sh("sleep 0.1")
  end
  cleanup(tag) -- the orphaned `sleep 600` of hold_b: a SIGKILLed worker cannot end it
  t:assert(up, "both files booted their VM")
  local stale = scratch_dirs()
  t:log("left by the killed run: " .. stale)
  t:assert_eq(e2e.count(stale, "provium%-"), 2, "two scratch dirs left")
  -- a directory whose owner still runs stays
  sh("{ sleep 60 > /dev/null 2>&1 & echo $! > live.pid; }")
  local live = sh("cat live.pid")
  sh("mkdir -m 700 tmp/provium-live01 && echo \"" .. live .. "-$(cut -d' ' -f22 /proc/"
    .. live .. "/stat)\" > tmp/provium-live01/.owner")
  local out, code = e2e.provium({"--no-progress", "tests/b_quick.test.lua"}, work,
    "TMPDIR=" .. q(tmp))
  local after = scratch_dirs()
  sh("kill " .. live .. "; rm -rf tmp/provium-live01 live.pid")
  t:assert_eq(code, 0, out)
  t:assert_eq(after, "provium-live01", "only the live owner's directory is left")
end)

test("SIGHUP (a closed terminal) ends the run like Ctrl-C: exit 129, clean", function(t)
  local tag, pid = start("--no-progress tests/a_sleeper.test.lua")
  local up = wait_for("grep -q -s 'PROVIUM_FAULT_TAG=" .. tag .. "' "
    .. "$(pgrep -x sleep | sed 's|.*|/proc/&/environ|') /dev/null", 30)
  sh("kill -HUP " .. pid)
  local code, out = finish(30)
  local left = tagged_cmdlines(tag)
  cleanup(tag)
  t:log(out)
  t:assert(up, "the test's sleep was running")
  t:assert_eq(code, 129)
  t:assert_contains(out, "INT  tests/a_sleeper.test.lua (0 passed, 1 failed, 0 skipped)")
  t:assert_contains(out, "  - sleeps: interrupted\n")
  t:assert_contains(out, "interrupted by SIGHUP: 1 file stopped, 0 not started\n")
  t:assert_eq(e2e.last_line(out), "0 passed, 1 failed, 0 skipped")
  t:assert_eq(left, "", "the test's sleep went with its worker")
  t:assert_eq(scratch_dirs(), "")
end)

test("Ctrl-C: interrupted, not crashed, in the human report, JSON, events and JUnit", function(t)
  local function interrupt(args)
    local tag, pid = start(args .. " --jobs 1 tests/a_sleeper.test.lua tests/b_quick.test.lua")
    local up = wait_for("grep -q -s 'PROVIUM_FAULT_TAG=" .. tag .. "' "
      .. "$(pgrep -x sleep | sed 's|.*|/proc/&/environ|') /dev/null", 30)
    sh("kill -INT " .. pid)
    local code, out = finish(30)
    local left = tagged_cmdlines(tag)
    cleanup(tag)
    t:log(out)
    t:assert(up, "the test's sleep was running")
    t:assert_eq(left, "", "nothing of the run is left")
    return code, out
  end
  local code, out = interrupt("--no-progress")
  t:assert_eq(code, 130)
  t:assert_contains(out, "INT  tests/a_sleeper.test.lua (0 passed, 1 failed, 0 skipped)")
  t:assert(not out:find("crashed"), "no crash reported")
  t:assert_contains(out, "interrupted by SIGINT: 1 file stopped, 1 not started\n")
  t:assert_eq(e2e.last_line(out), "0 passed, 1 failed, 1 skipped")

  code, out = interrupt("--json --events events.jsonl --junit junit.xml")
  t:assert_eq(code, 130)
  local file, summary
  for line in out:gmatch("[^\n]+") do
    local ok, o = pcall(json.decode, line)
    if ok and type(o) == "table" and o.kind == "file" then file = o end
    if ok and type(o) == "table" and o.kind == "summary" then summary = o end
  end
  t:assert_eq(file and file.status, "interrupted")
  t:assert_eq(file and file.tests[1].message, "interrupted")
  t:assert_eq(summary and summary.interrupted, 1)
  t:assert_eq(summary and summary.exit_code, 130)
  local completed, run_done
  for line in io.lines(work .. "/events.jsonl") do
    local o = json.decode(line)
    if o.kind == "file_completed" then completed = o end
    if o.kind == "run_completed" then run_done = o end
  end
  t:assert_eq(completed and completed.status, "interrupted")
  t:assert_eq(completed and completed.error, "interrupted")
  t:assert_eq(run_done and run_done.interrupted, 1)
  local xml = sh("cat junit.xml")
  t:assert_contains(xml, 'name="sleeps" time="')
  t:assert_contains(xml, '<failure message="interrupted">interrupted</failure>')
  t:assert_contains(xml, '<skipped message="interrupted"/>')
  t:assert(not xml:find("crashed"), "no crash in JUnit")
end)

test("a test timeout ends a body blocked in os.execute or io.popen", function(t)
  local t0 = sh("date +%s%N")
  local out, code = e2e.provium({"--no-progress", "-v", "--timeout", "60",
    "tests/blocked.test.lua"}, work, "TMPDIR=" .. q(tmp))
  local secs = (tonumber(sh("date +%s%N")) - tonumber(t0)) / 1e9
  t:log(out)
  t:log(("the file took %.1f s"):format(secs))
  t:assert_eq(code, 1)
  t:assert_contains(out, "FAIL tests/blocked.test.lua (1 passed, 3 failed, 0 skipped)")
  for name, limit in pairs({["os.execute"] = 3, ["a loop of them"] = 2, ["io.popen"] = 2}) do
    t:assert_contains(out, "  - " .. name .. ": test timeout exceeded\n")
    local took = tonumber(out:match("  FAIL " .. name:gsub("%.", "%%.") .. " %(([%d.]+)s%)"))
    t:assert(took and took < limit + 1, ("%s ended at its timeout (took %s s)"):format(name, took))
  end
  t:assert_contains(out, "  ok the next test runs")
  t:assert(secs < 20, "no body overran its timeout")
  t:assert_eq(sh("pgrep -f 'sleep 20[;] echo late' || true"), "", "the popen'd command is gone")
end)
