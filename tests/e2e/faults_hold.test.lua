-- faults_hold.test.lua - faults that already hold, so they keep holding (issue 9, "a
-- reliability suite"): a worker killed from outside fails only its file and takes its
-- QEMU with it; a killed QEMU is reported at once with its console tail; a guest kernel
-- panic fails its test with the panic trace and the next test runs; two runs sharing one
-- cache build a fixture once; a full cache disk gives a clear error; 200 MB of guest
-- output is cut at the documented 64 MiB with `truncated = true`.
--
-- The faults that must hit a whole run are sub-runs of the case suites
-- tests/cases/holdfaults, sharedcache and cachefaults, in private copies.
local e2e = require("lib.e2e")
local q = e2e.q
local MiB = 1024 * 1024

local read = e2e.read

local function alive(pid)
  return e2e.host("kill -0 " .. pid .. " 2>/dev/null && echo yes") == "yes\n"
end

-- Starts `provium <args>` in dir in the background; its output goes to <tag>.out and
-- its exit code to <tag>.rc.
local function spawn(dir, tag, env, args)
  local parts = {}
  for _, a in ipairs(args) do parts[#parts + 1] = q(a) end
  e2e.host("cd " .. q(dir) .. " && rm -f " .. tag .. ".rc && (" .. env .. " " .. q(e2e.exe) .. " " ..
    table.concat(parts, " ") .. " > " .. tag .. ".out 2>&1; echo $? > " .. tag .. ".rc.tmp; mv " ..
    tag .. ".rc.tmp " .. tag .. ".rc) > /dev/null 2>&1 &")
end

-- Waits (at most `secs`) for a spawned run; returns its exit code and output.
local function wait_run(dir, tag, secs)
  wait_until(function() return read(dir .. "/" .. tag .. ".rc") end,
    {timeout = secs, interval = 0.2, desc = tag .. " to end"})
  return tonumber(read(dir .. "/" .. tag .. ".rc")), read(dir .. "/" .. tag .. ".out")
end

-- The fixture events of a run's --events file, as "kind" strings.
local function fixture_events(path)
  local kinds = {}
  for line in (read(path) or ""):gmatch("[^\n]+") do
    local ev = json.decode(line)
    if ev.kind:match("^fixture_") then kinds[#kinds + 1] = ev.kind end
  end
  return table.concat(kinds, ",")
end

test("a killed worker, a killed QEMU and a guest panic stay in their file and test", function(t)
  local work = e2e.private_case("holdfaults")
  local env = "HOLD_DIR=" .. q(work)
  local out, code = e2e.provium({"--no-progress", "--cpu-overcommit", "4", "--jobs", "2",
    "--timeout", "150"}, work, env)
  t:log(out)
  t:assert_eq(code, 1)
  -- a worker killed with SIGKILL: its file fails, the other file of the run passes
  t:assert_contains(out, "ERR  tests/kill_worker.test.lua: worker crashed (signal 9: Killed)")
  t:assert_contains(out, "  - never runs: worker crashed (signal 9")
  t:assert_contains(out, "PASS tests/other.test.lua (1 passed, 0 failed, 0 skipped)")
  local qemu = tonumber(read(work .. "/qemu.pid"))
  t:assert(qemu ~= nil, "the killed worker's QEMU was found")
  t:assert(not alive(qemu), "its QEMU " .. tostring(qemu) .. " died with it")
  -- a QEMU killed under a vm:run: the call raises at once, the report has the console
  t:assert_contains(out, "FAIL tests/vm_faults.test.lua (1 passed, 2 failed, 0 skipped)")
  t:assert(out:find("  %- QEMU killed under a command: vm:run: VM died; create a new one %(") ~= nil,
    "the dead VM's phrase")
  t:assert_contains(out, "---- vm qkill (last ")
  t:assert_contains(out, "| qkill-console-marker")
  local took = tonumber(read(work .. "/raised_at")) - tonumber(read(work .. "/qemu_killed_at"))
  t:log(("QEMU killed -> vm:run raised after %.3f s"):format(took))
  t:assert(took < 2, ("a killed QEMU noticed after %.2f s"):format(took))
  -- a guest kernel panic: the test fails with the panic trace; the next test runs
  t:assert(out:find("  %- a guest kernel panic: [^\n]*vm:run: VM died; create a new one") ~= nil,
    "the panic fails its test")
  t:assert_contains(out, "---- vm panicky (last ")
  t:assert_contains(out, "Kernel panic - not syncing: sysrq triggered crash")
  t:assert_contains(out, "sysrq_handle_crash")
  t:assert(not out:find("the next test runs", 1, true), "the test after the panic passed")
  t:assert_eq(e2e.last_line(out), "2 passed, 4 failed, 0 skipped")
  e2e.host("rm -rf " .. q(work))
end)

test("two runs sharing one cache build the fixture once", function(t)
  local work = e2e.private_case("sharedcache")
  local builds = work .. "/builds.log"
  local env = "HOLD_BUILDS=" .. q(builds)
  for _, tag in ipairs({"one", "two"}) do
    spawn(work, tag, env, {"--no-progress", "--cpu-overcommit", "4", "--timeout", "150",
      "--events", tag .. ".jsonl"})
  end
  local events = {}
  for _, tag in ipairs({"one", "two"}) do
    local code, out = wait_run(work, tag, 240)
    t:log(tag .. ": " .. out)
    t:assert_eq(code, 0, tag .. " passed")
    events[tag] = fixture_events(work .. "/" .. tag .. ".jsonl")
    t:log(tag .. " fixture events: " .. events[tag])
  end
  local log = read(builds) or ""
  t:assert_eq(e2e.count(log, "built by worker"), 1, "builds: " .. log)
  local all = events.one .. "," .. events.two
  t:assert_eq(e2e.count(all, "fixture_build_started"), 1)
  t:assert_eq(e2e.count(all, "fixture_build_done"), e2e.count(all, "fixture_build_waiting") + 1)
  e2e.host("rm -rf " .. q(work))
end)

-- The cachefaults fixture writes 48 MiB of random bytes into guest memory: its snapshot
-- cannot fit in an 8 MiB tmpfs mounted over the cache directory (in a private mount
-- namespace, gone with the run).
test("a full cache disk fails the fixture build with a clear error", function(t)
  local work, write = e2e.private_case("cachefaults")
  e2e.host("mkdir -p " .. q(work .. "/cache"))
  write("diskfull.sh", [[
mount -t tmpfs -o size=8M,mode=0700 tmpfs cache || exit 99
[ "$1" = probe ] && exit 0
"$@"
rc=$?
echo "__cache=$(ls -A cache | tr '\n' ' ')"
exit $rc
]])
  local ns, why
  for _, pre in ipairs({"unshare -m", "unshare -rm"}) do
    local probe = e2e.host("cd " .. q(work) .. " && " .. pre .. " sh diskfull.sh probe 2>&1; echo __rc=$?")
    if probe:match("__rc=0") then ns = pre break end
    why = (why and why .. "; " or "") .. pre .. ": " .. probe:gsub("%s+", " ")
  end
  if not ns then
    e2e.host("rm -rf " .. q(work))
    print("faults_hold: skipping the full-disk test: cannot mount a tmpfs (" .. why .. ")")
    t:skip("cannot mount a tmpfs: " .. why)
  end
  local out = e2e.host("cd " .. q(work) .. " && " .. ns .. " sh diskfull.sh " .. q(e2e.exe) ..
    " --no-progress --cpu-overcommit 4 --timeout 150 tests/use.test.lua 2>&1; echo __exit=$?")
  t:log(out)
  t:assert_eq(out:match("__exit=(%d+)"), "1")
  t:assert_contains(out, "fixture `fixtures/big` failed to build: ")
  t:assert_contains(out, "vm:snapshot: writing snapshot: No space left on device")
  -- nothing half-written stays behind: no entry, no temp; only the entry's lock
  local left = out:match("__cache=([^\n]*)")
  t:assert(left ~= nil, "listed the cache")
  for name in left:gmatch("%S+") do
    t:assert(name:match("^%x+%.snap%.lock$") ~= nil, "left in the cache: " .. name)
  end
  e2e.host("rm -rf " .. q(work))
end)

-- RSS of this worker in kB (VmHWM: the peak).
local function worker_kb(field)
  return tonumber(e2e.host("grep " .. field .. " /proc/$PPID/status"):match("(%d+) kB"))
end

test("200 MB of guest output: stdout cut at 64 MiB, truncated = true", function(t)
  local vm = provium:vm("huge", "base"):boot()
  local before = worker_kb("VmHWM")
  local r = vm:run("head -c 200000000 /dev/zero; echo stderr-after-the-flood >&2", {timeout = 240})
  local peak = worker_kb("VmHWM")
  t:log(("duration %.1f s; worker peak RSS %d -> %d kB, now %d kB"):format(r.duration, before, peak,
    worker_kb("VmRSS")))
  t:assert_eq(r.exit_code, 0)
  t:assert_eq(#r.stdout, 64 * MiB)
  t:assert_eq(r.truncated, true)
  t:assert_eq(r.stdout:find("[^\0]"), nil, "only the guest's zero bytes")
  t:assert_eq(r.stderr, "stderr-after-the-flood\n")
  -- the 136 MB past the cap are dropped as they come, never held: the growth stays well
  -- under the output's size (the 64 MiB buffer, its Lua copy, allocator slack). Not
  -- under ASan, whose quarantine keeps freed buffers resident (measured: +300 MB).
  if not e2e.host("cat /proc/$PPID/maps"):find("libasan", 1, true) then
    t:assert((peak - before) * 1024 < 200000000, ("peak grew by %d kB"):format(peak - before))
  end
  vm:shutdown()
end)
