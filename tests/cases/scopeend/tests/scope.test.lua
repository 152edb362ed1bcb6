-- scope.test.lua - what a test leaves behind goes when it ends, and what the file scope
-- made stays. Run whole by tests/e2e/scope_end.test.lua: these two tests are the one
-- place where a test depends on the one before, because the end of a test is what they
-- check (its scoped lab's teardown happens only between tests).
--
-- The first test leaves open a guest file, a stream, processes (one trapping TERM, one
-- ignoring it, a plain sleep) and a VM of its own; the second finds all of them gone
-- while the file-scope VM runs on. A file opened at file scope stays open into the
-- first test and is named as such.

-- booted once at file scope; it outlives each test
local vm = provium:vm("keep", "base"):boot()

-- opened outside any test: it stays open until the first test closes it
local early_line = debug.getinfo(1, "l").currentline + 1
local early = vm:open_file("/proc/sys/kernel/hostname", {read = true})

-- what the first test leaves behind, for the second to look at
local left = {}

test("a test leaves files, streams, processes and a VM behind", function(t)
  -- the file-scope handle is still open, and snapshots name it as opened at file scope
  t:assert(early:fd() > 0, "still open")
  t:assert_eq(vm:open_file_count(), 1)
  t:assert_eq(early:read_all(), "keep\n")
  local e = t:assert_raises(function() vm:snapshot() end)
  t:assert_contains(e, "vm:snapshot: refused: 1 open handle(s): file /proc/sys/kernel/hostname opened at ")
  t:assert_contains(e, "scope.test.lua:" .. early_line .. " at file scope")
  early:close()
  t:assert_eq(vm:open_file_count(), 0)

  -- a VM created in this test: restored from the file-scope VM (no second boot)
  local s = vm:snapshot()
  left.vm = provium:vm("mine", "base"):restore(s)
  t:assert_eq(left.vm:run("echo up").stdout, "up\n")

  left.file = vm:open_file("/tmp/leak", {write = true, create = true})
  left.file:write("kept")
  t:assert_eq(vm:open_file_count(), 1)

  vm:write_file("/tmp/log", "line\n")
  left.stream = vm:tail_file("/tmp/log", {start = "beginning"})
  t:assert_eq(left.stream:read_until("\n"), "line\n")
  t:assert_eq(vm:open_stream_count(), 1)

  -- one traps TERM and records it; one ignores TERM and must still be gone; a plain sleep
  vm:run_async("trap 'echo got-term > /tmp/term; exit 0' TERM; touch /tmp/r1; while :; do sleep 0.1; done")
  left.ignorer = vm:run_async("trap '' TERM; touch /tmp/r2; while :; do sleep 0.1; done"):pid()
  vm:run_async("sleep 300")
  wait_until(function() return vm:exists("/tmp/r1") and vm:exists("/tmp/r2") end,
    {timeout = 30, desc = "both traps set"})
end)

test("... and all of it is gone when that test ends; the file-scope VM runs on", function(t)
  t:assert(left.vm ~= nil, "the test before ran")
  -- the VM created in the test is shut down
  t:assert_eq(left.vm:state(), "shutdown")
  t:assert_contains(t:assert_raises(function() left.vm:run("true") end), "VM is shutdown; create a new one")
  t:assert_contains(t:assert_raises(function() left.vm:boot() end), "VM is shutdown")
  -- the file-scope VM is still usable
  t:assert_eq(vm:state(), "booted")
  t:assert_eq(vm:run("echo still").stdout, "still\n")
  -- the file is closed, its data written
  t:assert_eq(vm:open_file_count(), 0)
  t:assert_eq(left.file:fd(), 0)
  t:assert_eq(tostring(left.file), "file(closed)")
  t:assert_contains(t:assert_raises(function() left.file:write("x") end), "file:write: file is closed")
  t:assert_eq(vm:read_file("/tmp/leak"), "kept")
  -- the stream is closed
  t:assert_eq(vm:open_stream_count(), 0)
  t:assert_eq(left.stream:next(0.1), nil)
  t:assert_eq(vm:is_quiescent(), true)
  -- the processes got TERM, then KILL after 2 s
  t:assert_eq(vm:read_file("/tmp/term"), "got-term\n", "the trap saw TERM")
  t:assert(not vm:exists("/proc/" .. left.ignorer), "the TERM-ignoring process was killed")
  t:assert_eq(vm:run("pgrep -f 'sleep 300' || true").stdout, "", "the plain sleep is gone")
  -- p:close() does the same on demand
  local p = vm:run_async("trap 'echo closed > /tmp/closed; exit 0' TERM; touch /tmp/r3; while :; do sleep 0.1; done")
  wait_until(function() return vm:exists("/tmp/r3") end, {timeout = 30, desc = "the trap set"})
  p:close()
  t:assert_eq(vm:read_file("/tmp/closed"), "closed\n")
  p:close() -- a no-op now
end)
