-- faults_cache.test.lua - an interrupted fixture build leaves nothing in the cache
-- (issue 9, defect 3), and what the cache holds is private (defect 7c).
--
-- A sub-run of tests/cases/cachefaults builds fixtures/big, whose snapshot writes ~48 MiB
-- into a temporary file in the cache. The driver waits until that file exists, then
-- kills the run: with SIGKILL (parent and workers, as an OOM kill or `kill -9` would;
-- the next start must remove the dead writer's temp), or with SIGINT as Ctrl-C does
-- (exit 130, and the run removes the temp itself before exiting).
local e2e = require("lib.e2e")
local q = e2e.q

-- one private copy for the whole file, removed after its last test
local work = e2e.remove_when_done(e2e.private_case("cachefaults"))

local start_with_default_sigint = [[
import os, signal, sys
signal.signal(signal.SIGINT, signal.SIG_DFL)
open("pid", "w").write(str(os.getpid()))
os.execvp(sys.argv[1], sys.argv[1:])
]]

-- Starts `provium <args>` in the background on an empty cache; waits until a snapshot
-- temp file shows up in the cache (an old `.snap-XXXXXX` or a
-- `.snap.tmp-<owner>-XXXXXX`), then sends `sig` to the provium parent, and with
-- `and_children` to its children (workers) too. Returns what the wait saw, the exit
-- code and the output.
local function interrupt_build(args, sig, and_children)
  e2e.host("cd " .. q(work) .. " && rm -rf pid rc out.txt cache")
  -- a background job of sh starts with SIGINT ignored; Ctrl-C meets the default
  e2e.host("cd " .. q(work) .. " && (python3 -c " .. q(start_with_default_sigint) .. " " ..
    q(e2e.exe) .. " " .. args .. " > out.txt 2>&1; echo $? > rc) > /dev/null 2>&1 &")
  local seen = e2e.host("cd " .. q(work) .. " && for i in $(seq 1 9000); do " ..
    "t=$(ls -A cache 2>/dev/null | grep '^\\.snap'); [ -n \"$t\" ] && break; " ..
    "[ -e rc ] && break; sleep 0.02; done; echo \"$t\"")
  local pid = e2e.host("cat " .. q(work .. "/pid")):gsub("%s+", "")
  local targets = pid
  if and_children then
    targets = targets .. " " .. e2e.host("pgrep -P " .. pid .. " | tr '\\n' ' '")
  end
  e2e.host("kill -" .. sig .. " " .. targets .. " 2>/dev/null")
  e2e.host("cd " .. q(work) .. " && for i in $(seq 1 1500); do [ -s rc ] && break; sleep 0.02; done")
  local rc = tonumber(e2e.host("cat " .. q(work .. "/rc")))
  local out = e2e.host("cat " .. q(work .. "/out.txt"))
  return seen:gsub("%s+$", ""), rc, out
end

local function temps()
  return e2e.host("ls -A " .. q(work .. "/cache") .. " | grep '^\\.' | tr '\\n' ' '")
end

test("kill -9 during a fixture snapshot: the next start removes the temp file", function(t)
  local seen, rc = interrupt_build("--no-progress tests/use.test.lua", "KILL", true)
  t:assert(seen ~= "", "the snapshot temp file was caught while being written")
  t:log("caught " .. seen .. "; killed run exited " .. tostring(rc))
  t:assert_eq(rc, 137)
  t:assert_contains(temps(), ".snap") -- still there: nobody was left to remove it
  local list, code = e2e.provium({"fixture", "list"}, work)
  t:assert_eq(code, 0, list)
  t:assert_eq(temps(), "")
  t:assert_contains(list, "0 entries, 0.00MiB")
end)

test("Ctrl-C during a fixture snapshot: exit 130 and no temp file", function(t)
  local seen, rc, out = interrupt_build("--no-progress tests/use.test.lua", "INT", false)
  t:assert(seen ~= "", "the snapshot temp file was caught while being written")
  t:log(out)
  t:assert_eq(rc, 130)
  t:assert_eq(temps(), "")
end)

test("Ctrl-C during `provium fixture build`: exit 130 and no temp file", function(t)
  local seen, rc, out = interrupt_build("fixture build fixtures/big", "INT", false)
  t:assert(seen ~= "", "the snapshot temp file was caught while being written")
  t:log(out)
  t:assert_eq(rc, 130)
  t:assert_eq(temps(), "")
end)

test("the cache is private: directory 0700, entries and locks 0600", function(t)
  local out, code = e2e.provium({"--no-progress", "tests/use.test.lua"}, work)
  t:assert_eq(code, 0, out)
  local modes = e2e.host("cd " .. q(work .. "/cache") .. " && stat -c '%a %n' . * | sort")
  t:log(modes)
  t:assert_contains(modes, "700 .\n")
  t:assert(modes:match("600 %x+%.snap\n"), "entry 0600")
  t:assert(modes:match("600 %x+%.snap%.lock\n"), "lock 0600")
  t:assert_eq(temps(), "")
end)

test("vm:snapshot(path) writes a private file", function(t)
  local vm = provium:vm("snapmode", "base"):boot()
  local path = work .. "/mine.snap"
  vm:snapshot(path)
  t:assert_eq(e2e.host("stat -c %a " .. q(path)), "600\n")
  t:assert_eq(e2e.host("ls -A " .. q(work) .. " | grep '^\\.snap' | wc -l"), "0\n")
end)
