-- keep_failed.test.lua - `--keep-failed` and `provium debug` (issue 15) on the case suite
-- tests/cases/keepfailed: a test that fails after writing a marker and starting a
-- background process, two VMs left partitioned, failures without a VM. One run keeps
-- them (three VM boots in all); every later check restores what it kept.
local e2e = require("lib.e2e")

local work = e2e.remove_when_done((e2e.private_case("keepfailed")))
local kept = work .. "/provium-failures"
local marker_dir = kept .. "/tests_marker.test.lua/marker_then_fail"
local lab_dir = kept .. "/tests_lab.test.lua/partitioned_then_fail"
local raises_dir = kept .. "/tests_novm.test.lua/raises"

local have_python = os.execute("command -v python3 >/dev/null 2>&1")

local function slurp(path)
  local f = io.open(path)
  if not f then return nil end
  local s = f:read("a")
  f:close()
  return s
end

local function exists(path) return os.execute("test -e " .. e2e.q(path)) == true end

-- provium debug DIR ... with `lines` on its stdin (a pipe); output (both streams), code
local function debug_pipe(lines, ...)
  local input = work .. "/stdin.lua"
  local f = assert(io.open(input, "w"))
  f:write(lines)
  f:close()
  local parts = {}
  for _, a in ipairs({"debug", ...}) do parts[#parts + 1] = e2e.q(a) end
  local p = assert(io.popen("cd " .. e2e.q(work) .. " && " .. e2e.q(e2e.exe) .. " "
    .. table.concat(parts, " ") .. " <" .. e2e.q(input) .. " 2>&1; echo \"__exit=$?\""))
  local out = p:read("a")
  p:close()
  local code = tonumber(out:match("__exit=(%d+)%s*$"))
  return out:gsub("__exit=%d+%s*$", ""), code
end

-- provium debug on a pty, scripted (lib/ptydrive.py); returns ptydrive's record
local function debug_pty(t, steps, ...)
  if not have_python then t:skip("python3 is needed to drive a pseudo-terminal") end
  local sp = work .. "/steps.json"
  local f = assert(io.open(sp, "w"))
  f:write(json.encode(steps))
  f:close()
  local parts = {}
  for _, a in ipairs({"debug", ...}) do parts[#parts + 1] = e2e.q(a) end
  local out = e2e.host("cd " .. e2e.q(work) .. " && python3 " .. e2e.q(e2e.dir .. "/lib/ptydrive.py")
    .. " " .. e2e.q(sp) .. " -- " .. e2e.q(e2e.exe) .. " " .. table.concat(parts, " "))
  local r = json.decode(out)
  t:log(r.transcript)
  t:assert(r.ok, "the script ran to its end: " .. tostring(r.error))
  t:assert_eq(json.encode(r.settings_after), json.encode(r.settings_before),
    "the terminal settings are restored")
  return r
end

test("--keep-failed keeps each failed test's lab, failure.json and consoles", {timeout = 280}, function(t)
  local out, code = e2e.provium({"--no-progress", "--cpu-overcommit", "4", "--keep-failed",
    "--junit", "junit.xml"}, work)
  t:log(out)
  t:assert_eq(code, 1, "the failures still fail the run")
  t:assert_contains(out, "failure snapshot: " .. marker_dir)
  local f = json.decode(assert(slurp(marker_dir .. "/failure.json"), "failure.json"))
  t:assert_eq(f.format, "provium-failure/1")
  t:assert_eq(f.test, "marker then fail")
  t:assert_eq(f.file, "tests/marker.test.lua")
  t:assert_contains(f.reason, "failing on purpose after the marker")
  t:assert_contains(f.traceback, "marker.test.lua:21")
  t:assert_eq(f.timed_out, false)
  t:assert(f.time:match("^%d%d%d%d%-%d%d%-%d%dT"), "a UTC time")
  t:assert_eq(#f.profiles, 1)
  t:assert_eq(f.profiles[1].name, "base")
  t:assert_contains(f.profiles[1].kernel, "/vmlinuz\n")
  t:assert_contains(f.profiles[1].initrd, "/initrd.img\n")
  t:assert(f.provium_version ~= nil and f.provium_version ~= "", "the version")
  t:assert_eq(f.argv[#f.argv - 2], "--keep-failed")
  t:assert_eq(f.consoles.box, "console/box.log")
  t:assert(exists(marker_dir .. "/console/box.log"), "the console log")
  local index = json.decode(assert(slurp(marker_dir .. "/lab/lab.json"), "lab.json"))
  t:assert_eq(#index.vms, 1)
  t:assert_eq(index.vms[1].name, "box")
  t:assert_eq(index.vms[1].state, "booted")
  -- the file lab's two VMs and its bridge, with the partition
  index = json.decode(assert(slurp(lab_dir .. "/lab/lab.json"), "the lab's lab.json"))
  t:assert_eq(#index.vms, 2)
  t:assert_eq(index.bridges[1].name, "lan")
  t:assert_eq(#index.bridges[1].partitions, 2)
  -- its capture, still open, did not stop the snapshot: its pcap so far is kept
  local lf = json.decode(assert(slurp(lab_dir .. "/failure.json")))
  t:assert_eq(#lf.pcaps, 1, "one capture")
  local pcap = assert(slurp(lab_dir .. "/pcap/" .. lf.pcaps[1]), "the pcap")
  t:assert(#pcap > 24, "frames after the pcap header")
  -- a test timeout is kept too, and says so
  local to = json.decode(assert(slurp(kept .. "/tests_novm.test.lua/times_out/failure.json")))
  t:assert_eq(to.timed_out, true)
  t:assert_eq(to.reason, "test timeout exceeded")
  -- CI: JUnit's <system-out> names the directory and holds the console tail
  local junit = assert(slurp(work .. "/junit.xml"))
  t:assert_contains(junit, "failure snapshot: " .. marker_dir)
  t:assert_contains(junit, "---- vm box")
end)

test("--keep-failed-max bounds a run's kept failures; a rerun replaces; none without the flag", function(t)
  local capped = work .. "/capped"
  local out, code = e2e.provium({"--no-progress", "--keep-failed=capped", "--keep-failed-max", "1",
    "tests/novm.test.lua"}, work)
  t:log(out)
  t:assert_eq(code, 1)
  local n = (exists(capped .. "/tests_novm.test.lua/raises") and 1 or 0)
    + (exists(capped .. "/tests_novm.test.lua/times_out") and 1 or 0)
  t:assert_eq(n, 1, "one failure kept of two")
  local first = slurp(capped .. "/tests_novm.test.lua/raises/failure.json")
    or slurp(capped .. "/tests_novm.test.lua/times_out/failure.json")
  e2e.host("sleep 1.1")
  out, code = e2e.provium({"--no-progress", "--keep-failed=capped", "tests/novm.test.lua"}, work)
  t:assert_eq(code, 1)
  t:assert(exists(capped .. "/tests_novm.test.lua/raises/failure.json"), "the next run has its own slots")
  t:assert(exists(capped .. "/tests_novm.test.lua/times_out/failure.json"), "both kept")
  local again = slurp(capped .. "/tests_novm.test.lua/raises/failure.json")
  t:assert_neq(json.decode(again).time, json.decode(first).time, "the rerun replaced it")
  t:assert_eq(e2e.host("ls -a " .. e2e.q(capped .. "/tests_novm.test.lua")):match("%.tmp%-"), nil,
    "no temp left")
  -- a snapshot that cannot be taken is a warning; the test's result stays what it was
  out, code = e2e.provium({"--no-progress", "--keep-failed=/proc/no-such-dir", "tests/novm.test.lua"}, work)
  t:log(out)
  t:assert_eq(code, 1)
  t:assert_contains(out, "provium: warning: --keep-failed: test 'raises': cannot create /proc/no-such-dir")
  t:assert_contains(out, "raised on purpose")
  t:assert_contains(out, "0 passed, 2 failed")
  local before = slurp(raises_dir .. "/failure.json")
  out, code = e2e.provium({"--no-progress", "tests/novm.test.lua"}, work)
  t:assert_eq(code, 1)
  t:assert_eq(slurp(raises_dir .. "/failure.json"), before, "nothing kept without --keep-failed")
end)

test("provium debug through a pipe: the marker is there, the process still runs", function(t)
  local out, code = debug_pipe(table.concat({
    'print("marker=" .. box:read_file("/tmp/marker"))',
    'print("sleeping=" .. tostring(vms.box:run("pidof sleep"):ok()))',
    'error("raised in debug")',
    'print("after=" .. provium:vm("box"):state())',
  }, "\n") .. "\n", marker_dir)
  t:log(out)
  t:assert_eq(code, 1, "a line raised")
  t:assert_contains(out, "failing on purpose after the marker", "the failure is said on entry")
  t:assert_contains(out, "marker=kept")
  t:assert_contains(out, "sleeping=true")
  t:assert_contains(out, "raised in debug")
  t:assert_contains(out, "after=booted", "lines after an error still run")
  out, code = debug_pipe("os.exit(3)\n", raises_dir)
  t:assert_eq(code, 3, "os.exit ends it with its code")
  -- --console piped: the input typed into the serial console, its answer shown
  out, code = debug_pipe("\ncat /tmp/marker\n", "--console", "box", marker_dir)
  t:log(out)
  t:assert_eq(code, 0)
  t:assert(out:find("\nkept", 1, true), "the guest's shell answered on the console")
end)

test("provium debug on a terminal: the prompt, then --console", function(t)
  local r = debug_pty(t, {
    {expect = "> ", timeout = 120},
    {send = "print(box:read_file('/tmp/marker'))\r"},
    {expect = "kept", timeout = 60},
    {send = "print(box:run('pidof sleep').stdout ~= '')\r"},
    {expect = "true", timeout = 60},
    {send = ".exit\r"},
    {wait = 60},
  }, marker_dir)
  t:assert_eq(r.exit_code, 0)
  t:assert_contains(r.transcript, "failing on purpose after the marker")
  r = debug_pty(t, {
    {expect = "Ctrl-\\] leaves", timeout = 120},
    {sleep = 0.5},
    {send = "\rcat /tmp/marker\r"},
    {expect = "kept", timeout = 60},
    {send = "\29"},
    {wait = 60},
  }, "--console", "box", marker_dir)
  t:assert_eq(r.exit_code, 0)
end)

test("provium debug --run runs one test's body against the restored lab", function(t)
  local out, code = e2e.provium({"debug", "--run", "tests/marker.test.lua::marker then fail",
    marker_dir}, work)
  t:log(out)
  t:assert_eq(code, 0, "the body finds the marker and the process: it passes")
  t:assert_contains(out, "PASS marker then fail")
  out, code = e2e.provium({"debug", "--run", "tests/novm.test.lua::raises", raises_dir}, work)
  t:log(out)
  t:assert_eq(code, 1)
  t:assert_contains(out, "FAIL raises")
  t:assert_contains(out, "raised on purpose")
  out, code = e2e.provium({"debug", "--run", "tests/novm.test.lua::nope", raises_dir}, work)
  t:assert_eq(code, 2)
  t:assert_contains(out, "no test named 'nope'")
end)

test("a lab comes back still partitioned; healing it in debug works", function(t)
  local out, code = debug_pipe(table.concat({
    'print("cut=" .. tostring(not a:run("ping -c 1 -W 1 b"):ok()))',
    'print("partitioned=" .. tostring(bridges.lan:is_partitioned(a, b)))',
    'bridges.lan:unpartition(a, b)',
    'local healed = false',
    'for _ = 1, 5 do healed = healed or a:run("ping -c 1 -W 3 b"):ok() end',
    'print("healed=" .. tostring(healed))',
  }, "\n") .. "\n", lab_dir)
  t:log(out)
  t:assert_eq(code, 0)
  t:assert_contains(out, "cut=true")
  t:assert_contains(out, "partitioned=true")
  t:assert_contains(out, "healed=true")
end)

test("a test timed out in a guest call comes back; its call still runs, new calls work", function(t)
  local dir = kept .. "/tests_lab.test.lua/blocked_in_a_guest_call"
  local f = json.decode(assert(slurp(dir .. "/failure.json")))
  t:assert_eq(f.timed_out, true)
  t:assert(f.agent_next_id.a > 1, "the agent request ids used are recorded")
  local out, code = debug_pipe(table.concat({
    'print("sleeping=" .. tostring(a:run("pidof sleep"):ok()))',
    'for i = 1, 2 * ' .. f.agent_next_id.a .. ' do a:run("true"):assert_ok() end',
    'print("calls=ok")',
  }, "\n") .. "\n", dir)
  t:log(out)
  t:assert_eq(code, 0)
  t:assert_contains(out, "sleeping=true")
  t:assert_contains(out, "calls=ok", "no request id of the failed session is reused")
end)

test("provium debug refuses a changed kernel or initrd unless --force", function(t)
  local copy = work .. "/changed"
  e2e.host("cp -r " .. e2e.q(raises_dir) .. " " .. e2e.q(copy))
  local f = json.decode(assert(slurp(copy .. "/failure.json")))
  local now = json.decode(assert(slurp(marker_dir .. "/failure.json"))).profiles[1]
  f.profiles = {{name = "base", kernel = now.kernel:gsub("\n%d+\n", "\n1\n"), initrd = now.initrd}}
  local w = assert(io.open(copy .. "/failure.json", "w"))
  w:write(json.encode(f))
  w:close()
  local out, code = debug_pipe("", copy)
  t:log(out)
  t:assert_eq(code, 2)
  t:assert_contains(out, "profile 'base': the kernel changed since the failure")
  t:assert(not out:find("the initrd changed", 1, true), "only what changed is named")
  t:assert_contains(out, "--force")
  out, code = debug_pipe('print("forced")\n', "--force", copy)
  t:assert_eq(code, 0)
  t:assert_contains(out, "forced")
  out, code = debug_pipe("", work)
  t:assert_eq(code, 2)
  t:assert_contains(out, "not a failure kept by --keep-failed")
end)
