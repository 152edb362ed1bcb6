-- batch.test.lua - vm:batch (spec §4.5): the recorded calls go to the agent in one
-- BATCH frame and come back in one RESULT; answers in call order, the Vm methods'
-- values and errors, one failure does not stop the rest, answers too big for the frame
-- are errors of their own, calls beyond one frame go in the next.

local vm = provium:vm("batch", "base"):boot()

-- The agent's read(2) count (/proc/PID/io syscr): each request frame that reaches it
-- on its own costs at least one read of the port (and one more that finds it empty),
-- whatever its size; a batch is one frame. (Writes are no such counter: a big answer
-- goes out in as many writes as the port takes.) The count also takes in the reads of
-- the agent's children once they are reaped, so each reading is one small `sed` and
-- the cost of a reading itself is measured too (two readings in a row).
local agent_pid
local function agent_reads()
  if not agent_pid then
    local r = vm:run([[for p in /proc/[0-9]*; do
      [ "$(cat $p/comm 2>/dev/null)" = provium-agent ] && echo ${p#/proc/} && break
    done]])
    agent_pid = assert(tonumber(r.stdout), "the agent's PID: " .. r.stdout)
  end
  local r = vm:run("exec sed -n 's/^syscr: //p' /proc/" .. agent_pid .. "/io")
  return assert(tonumber(r.stdout), "syscr of the agent: " .. r.stdout)
end

test("every call answered in order with the Vm method's value or error", function(t)
  vm:run("rm -rf /tmp/b && mkdir /tmp/b"):assert_ok()
  local r = vm:batch(function(b)
    b:write_file("/tmp/b/f", "hello", {mode = tonumber("600", 8)})
    b:read_file("/tmp/b/f")
    b:read_file("/tmp/b/none")
    b:run("echo out; echo err >&2; exit 3")
    b:stat("/tmp/b/f")
    b:mkdir("/tmp/b/d/e", true)
    b:run("cat", {stdin = "fed"})
    b:rename("/tmp/b/f", "/tmp/b/g")
    b:listdir("/tmp/b")
    b:unlink("/tmp/b/g")
    b:stat("relative")
    b:syscall(39)
  end)
  t:assert_eq(#r, 12)
  t:assert_eq(r[1].ok, true)
  t:assert_eq(r[2].ok, "hello")
  local _, want = pcall(vm.read_file, vm, "/tmp/b/none")
  t:assert_eq(r[3].err, want, "the same message as vm:read_file")
  t:assert_contains(r[3].err, "vm:read_file: /tmp/b/none: ENOENT")
  t:assert_eq(r[4].ok.exit_code, 3)
  t:assert_eq(r[4].ok.stdout, "out\n")
  t:assert_eq(r[4].ok.stderr, "err\n")
  t:assert_eq(r[4].ok:ok(), false, "a RunResult, with its methods")
  t:assert_eq(r[5].ok.size, 5)
  t:assert_eq(r[5].ok.perm, tonumber("600", 8))
  t:assert_eq(r[5].ok.entry_type, "file")
  t:assert_eq(r[6].ok, true)
  t:assert_eq(r[7].ok.stdout, "fed")
  t:assert_eq(r[8].ok, true)
  t:assert_eq(#r[9].ok, 2)
  t:assert_eq(r[9].ok[1].name, "d")
  t:assert_eq(r[9].ok[2].name, "g")
  t:assert_eq(r[10].ok, true)
  t:assert_eq(r[11].err, "vm:stat: guest path must be absolute: relative")
  t:assert_eq(r[12].err, "vm:syscall: not supported")
  t:assert(vm:exists("/tmp/b/d/e"), "mkdir with parents ran")
  t:assert(not vm:exists("/tmp/b/g"), "unlink ran after rename")
end)

test("a batch of 200 stats is one round trip", function(t)
  agent_reads()
  local a = agent_reads()
  local idle = agent_reads() - a -- what a reading itself adds
  a = agent_reads()
  local r = vm:batch(function(b)
    for _ = 1, 200 do
      b:stat("/")
    end
  end)
  local batched = agent_reads() - a - idle
  t:assert_eq(#r, 200)
  t:assert_eq(r[200].ok.entry_type, "directory")
  a = agent_reads()
  for _ = 1, 200 do
    vm:stat("/")
  end
  local single = agent_reads() - a - idle
  t:log(string.format("agent reads: a reading %d, batch %d, one by one %d", idle, batched, single))
  t:assert(single >= 200, "the counter sees every request: " .. single)
  t:assert(batched <= 10, "200 batched stats come in one frame: " .. batched .. " reads")
end)

test("an answer too big for the frame is that call's error; the rest stand", function(t)
  vm:run("head -c 2000000 /dev/zero > /tmp/big"):assert_ok()
  local r = vm:batch(function(b)
    b:run("head -c 2000000 /dev/zero; echo done > /tmp/ran")
    b:read_file("/tmp/big")
    b:run("head -c 300000 /dev/zero")
    b:stat("/tmp/big")
  end)
  t:assert_contains(r[1].err, "vm:run: output too large for a batch")
  t:assert_eq(vm:read_file("/tmp/ran"), "done\n", "the run did run")
  t:assert_contains(r[2].err, "vm:read_file: output too large for a batch")
  t:assert_eq(#r[3].ok.stdout, 300000)
  t:assert(r[3].ok.stdout == string.rep("\0", 300000), "output with NUL bytes comes back whole")
  t:assert_eq(r[4].ok.size, 2000000)
end)

test("calls beyond one frame go in the next frame, in order", function(t)
  local big = string.rep("x", 2 * 1024 * 1024)
  local r = vm:batch(function(b)
    for i = 1, 1500 do
      b:mkdir("/tmp/many" .. i)
    end
    b:write_file("/tmp/alone", big) -- over a frame: it goes on its own
    b:stat("/tmp/alone")
    b:unlink("/tmp/many1500")
  end)
  t:assert_eq(#r, 1503)
  t:assert_eq(r[1].ok, true)
  t:assert_eq(r[1500].ok, true)
  t:assert_eq(r[1501].ok, true)
  t:assert_eq(r[1502].ok.size, #big)
  t:assert_eq(r[1503].ok, true)
  t:assert(vm:exists("/tmp/many1499") and not vm:exists("/tmp/many1500"))
end)

test("a VM that is not booted answers every call with the method's error", function(t)
  local idle = provium:vm("batch-idle", "base")
  local r = idle:batch(function(b)
    b:stat("/")
    b:run("true")
  end)
  t:assert_eq(#r, 2)
  t:assert_contains(r[1].err, "vm:stat: ")
  t:assert_contains(r[2].err, "vm:run: ")
  local _, want = pcall(idle.stat, idle, "/")
  t:assert_eq(r[1].err, want)
end)
