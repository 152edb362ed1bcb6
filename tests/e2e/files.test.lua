-- files.test.lua - guest file handles (vm:open_file, File) and the snapshot refusal
-- they cause, on one shared VM.

-- booted once at file scope; every test below uses it
local vm = provium:vm("files", "base"):boot()

-- opened outside any test: it stays open across tests until the first test closes it
local early_line = debug.getinfo(1, "l").currentline + 1
local early = vm:open_file("/proc/sys/kernel/hostname", {read = true})

local function here() return debug.getinfo(2, "l").currentline end

test("a file opened at file scope stays open and is named as such", function(t)
  t:assert(early:fd() > 0, "still open")
  t:assert_eq(vm:open_file_count(), 1)
  t:assert_eq(early:read_all(), "files\n")
  local e = t:assert_raises(function() vm:snapshot() end)
  t:assert_contains(e, "vm:snapshot: refused: 1 open handle(s): file /proc/sys/kernel/hostname opened at ")
  t:assert_contains(e, "files.test.lua:" .. early_line .. " at file scope")
  early:close()
  t:assert_eq(vm:open_file_count(), 0)
end)

test("open, write, seek, read, tell and close round trip", function(t)
  local f = vm:open_file("/tmp/f1", {read = true, write = true, create = true, truncate = true})
  t:assert(f:fd() > 0, "a handle id")
  t:assert_eq(tostring(f), "file(" .. f:fd() .. ")")
  t:assert_eq(vm:open_file_count(), 1)
  t:assert_eq(f:write("hello world"), 11)
  t:assert_eq(f:tell(), 11)
  t:assert_eq(f:seek(0), 0)
  t:assert_eq(f:read(5), "hello")
  t:assert_eq(f:tell(), 5)
  t:assert_eq(f:seek(-5, "end"), 6)
  t:assert_eq(f:read(100), "world")
  t:assert_eq(f:read(1), nil, "EOF reads nil")
  t:assert_eq(f:seek(-11, "cur"), 0)
  t:assert_eq(f:read_all(), "hello world")
  t:assert_eq(f:read_all(), "", "read_all at EOF is empty")
  -- more than one wire chunk each way
  local blob = string.rep("0123456789abcdef", 40000) -- 640000 bytes
  f:seek(0, "set")
  t:assert_eq(f:write(blob), #blob)
  f:seek(0)
  t:assert(f:read_all() == blob, "640 KB read back byte-exact")
  f:close()
  f:close() -- idempotent
  t:assert_eq(f:fd(), 0)
  t:assert_eq(tostring(f), "file(closed)")
  t:assert_contains(t:assert_raises(function() f:read(1) end), "file:read: file is closed")
  t:assert_eq(vm:open_file_count(), 0)
  t:assert(vm:read_file("/tmp/f1") == blob, "the guest sees what was written")
  -- perm applies to a file the open creates
  vm:open_file("/tmp/f2", {write = true, create = true, perm = tonumber("600", 8)}):close()
  t:assert_eq(vm:stat("/tmp/f2").perm, tonumber("600", 8))
  -- append writes at the end
  local a = vm:open_file("/tmp/f2", {append = true})
  a:write("x")
  a:write("y")
  a:close()
  t:assert_eq(vm:read_file("/tmp/f2"), "xy")
end)

test("open modes and errors", function(t)
  local e = t:assert_raises(function() vm:open_file("/tmp/f1") end)
  t:assert_contains(e, "vm:open_file: at least one of read, write or append must be set")
  t:assert_contains(e, "files.test.lua:")
  t:assert_contains(t:assert_raises(function() vm:open_file("/tmp/f1", {create = true}) end),
    "at least one of read, write or append")
  t:assert_contains(t:assert_raises(function() vm:open_file("/tmp/nope", {read = true}) end),
    "vm:open_file: /tmp/nope: ENOENT (No such file or directory)")
  t:assert_contains(t:assert_raises(function()
    vm:open_file("/tmp/f1", {write = true, exclusive = true})
  end), "EEXIST")
  t:assert_contains(t:assert_raises(function() vm:open_file("tmp/f1", {read = true}) end),
    "absolute")
  local w = vm:open_file("/tmp/f1", {write = true})
  t:assert_contains(t:assert_raises(function() w:read(1) end), "file:read: /tmp/f1: EBADF")
  t:assert_contains(t:assert_raises(function() w:seek(0, "sideways") end), "invalid option")
  t:assert_contains(t:assert_raises(function() w:tail_stream() end), "not supported yet")
  w:close()
  t:assert_eq(vm:open_file_count(), 0)
end)

test("a snapshot is refused while a file is open and allowed after close", function(t)
  local line = here() + 1
  local f = vm:open_file("/proc/sys/kernel/hostname", {read = true})
  local g = vm:open_file("/tmp/f1", {read = true})
  t:assert_eq(vm:is_quiescent(), false)
  t:assert_eq(vm:open_file_count(), 2)
  t:assert_eq(vm:open_stream_count(), 0)
  local e = t:assert_raises(function() vm:snapshot() end)
  t:assert_contains(e, "vm:snapshot: refused: 2 open handle(s): file /proc/sys/kernel/hostname opened at ")
  t:assert_contains(e, "files.test.lua:" .. line .. " in test \"" .. t.name .. "\"; file /tmp/f1")
  g:close()
  e = t:assert_raises(function() vm:snapshot() end)
  t:assert_contains(e, "refused: 1 open handle(s)")
  f:close()
  t:assert_eq(vm:is_quiescent(), true)
  local s = vm:snapshot()
  t:assert(s:size() > 0, "snapshot taken")
  s:delete()
end)

local leaked
test("a file left open is closed when its test ends (part 1)", function(t)
  leaked = vm:open_file("/tmp/leak", {write = true, create = true})
  leaked:write("kept")
  t:assert_eq(vm:open_file_count(), 1)
end)

test("a file left open is closed when its test ends (part 2)", function(t)
  t:assert(leaked ~= nil, "previous test ran")
  t:assert_eq(vm:open_file_count(), 0)
  t:assert_eq(vm:is_quiescent(), true)
  t:assert_eq(leaked:fd(), 0)
  t:assert_eq(tostring(leaked), "file(closed)")
  t:assert_contains(t:assert_raises(function() leaked:write("x") end), "file:write: file is closed")
  t:assert_eq(vm:read_file("/tmp/leak"), "kept")
end)

test("garbage and to-be-closed variables close files", function(t)
  local f = vm:open_file("/proc/sys/kernel/hostname", {read = true})
  t:assert_eq(vm:open_file_count(), 1)
  f = nil
  collectgarbage()
  collectgarbage()
  t:assert_eq(vm:open_file_count(), 0)
  do
    local g <close> = vm:open_file("/proc/sys/kernel/hostname", {read = true})
    t:assert_eq(g:read(5), "files")
    t:assert_eq(vm:open_file_count(), 1)
  end
  t:assert_eq(vm:open_file_count(), 0)
  -- the guest side goes too: more files than the agent's 256 handles, none kept
  for i = 1, 300 do
    vm:open_file("/proc/sys/kernel/hostname", {read = true})
    if i % 50 == 0 then collectgarbage() end
  end
  collectgarbage()
  t:assert_eq(vm:open_file_count(), 0)
end)

test("shutting the VM down or restoring it closes its files", function(t)
  local s = vm:snapshot()
  local f = vm:open_file("/proc/sys/kernel/hostname", {read = true})
  local g = vm:open_file("/proc/sys/kernel/hostname", {read = true})
  vm:shutdown()
  t:assert_eq(f:fd(), 0)
  t:assert_eq(tostring(f), "file(closed)")
  t:assert_contains(t:assert_raises(function() f:read(1) end), "file:read: file is closed")
  t:assert_contains(t:assert_raises(function() vm:open_file("/proc/sys/kernel/hostname", {read = true}) end),
    "vm:open_file: VM is shutdown")
  -- g was not looked at before the restore: it must not pass for a handle of the new VM
  vm:restore(s)
  t:assert_eq(g:fd(), 0)
  t:assert_eq(vm:open_file_count(), 0)
  local h = vm:open_file("/proc/sys/kernel/hostname", {read = true})
  t:assert_eq(h:read_all(), "files\n")
  h:close()
  s:delete()
end)

-- (the clock and the console ride on this file's VM too)
test("vm:clock() reads, sets and advances the guest clock; sleep runs in the guest", function(t)
  local c = vm:clock()
  t:assert(math.abs(c:get() - os.time()) < 3, "the guest clock is near the host's")
  c:advance(3600)
  t:assert(math.abs(c:get() - os.time() - 3600) < 3, "advanced an hour")
  t:assert(math.abs(tonumber(vm:run("date +%s").stdout) - os.time() - 3600) < 3,
    "the guest itself sees it")
  c:set(1000000000)
  t:assert(c:get() >= 1000000000 and c:get() < 1000000010, "set")
  t:assert_eq(math.type(c:get_ns()), "integer")
  c:set_ns(os.time() * 1000000000)
  c:sleep("0.2s")
  t:assert(math.abs(c:get() - os.time()) < 3, "back to now")
  t:assert_contains(t:assert_raises(function() provium:vm("z", "base"):clock():get() end),
    "clock:get: VM not booted")
end)

test("vm:console() gives the serial log and waits for text on it", function(t)
  local con = vm:console()
  t:assert_contains(con:read_log(), "provium-image: ready")
  t:assert_eq(con:expect("ready"), "ready")
  vm:run("echo console-marker-42 > /dev/console")
  con:expect("console-marker-42", 5)
  t:assert_contains(t:assert_raises(function() con:expect("never-there", 0.3) end),
    "'never-there' not seen on the console of VM 'files' within 0.3s")
  t:assert_contains(t:assert_raises(function() con:write("x") end), "not supported yet")
end)

test("vm:run_async starts a process; wait collects it while other calls go on", function(t)
  local p = vm:run_async("sleep 1; echo done; echo err >&2; exit 3")
  t:assert(p:pid() > 1, "a guest pid")
  t:assert(p:handle() > 0, "a handle")
  t:assert_eq(p:status(), "running")
  t:assert_eq(vm:run("echo meanwhile").stdout, "meanwhile\n")
  local r = p:wait()
  t:assert_eq(r.stdout, "done\n")
  t:assert_eq(r.stderr, "err\n")
  t:assert_eq(r.exit_code, 3)
  t:assert_eq(p:status(), "exited")
  t:assert_contains(t:assert_raises(function() p:wait() end), "already waited for")
  -- the argv form, and several at once
  local a = vm:run_async("echo", {"one"})
  local b = vm:run_async("echo two", {env = {X = "1"}})
  t:assert_eq(b:wait().stdout, "two\n")
  t:assert_eq(a:wait().stdout, "one\n")
end)

test("kill, signal and a timed-out wait", function(t)
  local p = vm:run_async("sleep 30")
  p:kill()
  local r = p:wait()
  t:assert_eq(r.status, "signalled")
  t:assert_eq(r.signal, 15)
  local q = vm:run_async("sleep 30")
  q:signal("SIGKILL")
  t:assert_eq(q:wait().signal, 9)
  local s = vm:run_async("sh -c 'sleep 30 & sleep 30'")
  local rs = s:wait(0.5)
  t:assert_eq(rs.status, "timed_out")
  t:assert(rs.timed_out, "timed_out flag")
  t:assert_eq(vm:run("pgrep -f 'sleep 30' || true").stdout, "", "the whole group went")
  t:assert_contains(t:assert_raises(function() vm:run_async("true", {timeout = 1}) end),
    "no `timeout` here")
  local z = vm:run_async("sleep 30")
  t:assert_contains(t:assert_raises(function() z:wait(0) end), "a timeout of 0")
  t:assert_contains(t:assert_raises(function() z:kill("nope") end), "unknown signal 'nope'")
  -- z is still running when this test ends: it gets killed then
end)

test("a process left running by a test is killed when the test ends", function(t)
  t:assert_eq(vm:run("pgrep -f 'sleep 30' || true").stdout, "")
end)
