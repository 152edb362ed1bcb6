-- process_io.test.lua - a process's stdin and live output (spec §4.3): p:stdin_write,
-- p:close_stdin, p:stdout_stream / p:stderr_stream, run_async{stdin = ...} and p:close,
-- on one shared VM. The guest's busybox `sh` reading commands from a pipe is the
-- interactive program: each test writes a line and reads its answer from a stream.

local vm = provium:vm("procio", "base"):boot()

-- host seconds, to 10 ms
local function now()
  local f = assert(io.open("/proc/uptime"))
  local s = f:read("n")
  f:close()
  return s
end

test("an interactive sh, driven line by line through stdin and the output streams", function(t)
  local p = vm:run_async("exec sh")
  local out, err = p:stdout_stream(), p:stderr_stream()
  t:assert_contains(tostring(out), "stdout of process " .. p:pid() .. " on procio")
  t:assert_eq(p:stdin_write("echo hi\n"), 8)
  t:assert_eq(out:read_until("hi\n", 10), "hi\n")
  p:stdin_write("echo $((2+3))\n")
  t:assert_eq(out:read_until("\n", 10), "5\n")
  p:stdin_write("ls /nonexistent; echo status=$?\n")
  t:assert_contains(err:read_until("\n", 10), "/nonexistent")
  local st = out:read_until("\n", 10)
  t:assert(st and st ~= "status=0\n", "ls failed: " .. tostring(st))
  t:assert_eq(p:status(), "running", "sh waits for more")
  p:close_stdin()
  t:assert_contains(t:assert_raises(function() p:stdin_write("echo late\n") end),
    "proc:stdin_write: stdin is closed")
  p:close_stdin() -- again: a no-op
  local r = p:wait(10)
  t:assert_eq(r.status, "exited")
  t:assert_eq(r.exit_code, 0, "sh read EOF and exited 0")
  -- the result holds everything, also what the streams returned
  t:assert_eq(r.stdout, "hi\n5\n" .. st)
  t:assert_contains(r.stderr, "/nonexistent")
  t:assert_eq(out:next(1), nil, "the stream ends with the process")
  t:assert(out:eof() and err:eof(), "both streams at their end")
  t:assert_contains(t:assert_raises(function() p:stdin_write("x") end),
    "proc:stdin_write: the process was already waited for")
end)

test("streams from the first byte, live while other calls run, and after wait", function(t)
  local p = vm:run_async("echo early; echo e1 >&2; read x; echo got=$x; echo e2 >&2")
  t:assert_eq(vm:run("echo meanwhile").stdout, "meanwhile\n")
  local out = p:stdout_stream() -- opened after "early" was written: nothing is lost
  t:assert_eq(out:read_until("early\n", 10), "early\n")
  p:stdin_write("v1\n")
  t:assert_eq(out:read_until("\n", 10), "got=v1\n")
  local err = p:stderr_stream()
  local r = p:wait(10)
  t:assert_eq(r.stderr, "e1\ne2\n")
  -- opened before wait: still readable after it, to the end
  t:assert_eq(table.concat(err:drain(1)), "e1\ne2\n")
  t:assert(err:eof(), "at its end")
  local late = p:stdout_stream()
  t:assert_eq(late:read_until("got=v1\n", 5), "early\ngot=v1\n", "a stream after wait, once kept")
  local q = vm:run_async("echo q")
  q:wait(10)
  t:assert_contains(t:assert_raises(function() q:stdout_stream() end),
    "proc:stdout_stream: the process was already waited for")
  local s = vm:run_async("echo one; sleep 0.3; echo two")
  local so = s:stdout_stream()
  so:close()
  t:assert_eq(so:next(0.5), nil, "a closed stream yields nothing")
  t:assert_eq(s:wait(10).stdout, "one\ntwo\n")
end)

test("without stdin= the pipe stays open until close_stdin or wait", function(t)
  local c = vm:run_async("cat; echo cat-done")
  vm:run("sleep 0.5")
  t:assert_eq(c:status(), "running", "cat is still reading")
  local r = c:wait(10) -- closes stdin first
  t:assert_eq(r.status, "exited", "wait closed stdin: " .. tostring(r))
  t:assert_eq(r.stdout, "cat-done\n")
end)

test("run_async{stdin = s} writes s and closes stdin, in every argument form", function(t)
  t:assert_eq(vm:run_async("cat", {stdin = "abc\n"}):wait(10).stdout, "abc\n")
  t:assert_eq(vm:run_async("wc", {args = {"-c"}, stdin = "12345"}):wait(10).stdout, "5\n")
  t:assert_eq(vm:run_async("cat", {stdin = ""}):wait(10).stdout, "")
  local p = vm:run_async("cat", {stdin = "x"})
  t:assert_contains(t:assert_raises(function() p:stdin_write("y") end), "stdin is closed")
  t:assert_eq(p:wait(10).stdout, "x")
  t:assert_contains(t:assert_raises(function() vm:run_async("cat", {stdin = 5 > 4}) end),
    "option `stdin` must be a string")
  -- a process that exits without reading its stdin is no error
  t:assert_eq(vm:run_async("true", {stdin = string.rep("z", 100000)}):wait(10).exit_code, 0)
end)

test("stdin_write once the process has exited raises broken pipe", function(t)
  local p = vm:run_async("true")
  wait_until(function() return p:status() == "exited" end, {timeout = 10, desc = "exit"})
  t:assert_contains(t:assert_raises(function() p:stdin_write("x\n") end),
    "proc:stdin_write: broken pipe: the process has exited")
  t:assert_eq(p:wait(10).exit_code, 0)
end)

-- 4 MiB that are not a repetition: a 64 KiB pseudo-random block, each copy numbered.
local function big_data()
  local seed, bytes = 12345, {}
  for i = 1, 65536 do
    seed = (seed * 1103515245 + 12345) % 2147483648
    bytes[i] = string.char(seed % 256)
  end
  local block, parts = table.concat(bytes), {}
  for i = 1, 64 do
    parts[i] = string.format("%08d", i) .. block:sub(9)
  end
  return table.concat(parts)
end

test("4 MiB through stdin_write arrive intact", function(t)
  local data = big_data()
  t:assert_eq(#data, 4 << 20)
  vm:write_file("/tmp/big", data)
  local want = vm:run("md5sum < /tmp/big"):assert_ok().stdout
  -- one call
  local p = vm:run_async("md5sum")
  t:assert_eq(p:stdin_write(data), #data)
  p:close_stdin()
  t:assert_eq(p:wait(30).stdout, want)
  -- uneven pieces
  local q = vm:run_async("md5sum")
  local at, sizes, i = 1, {1, 4095, 300000, 1 << 20, 7}, 0
  while at <= #data do
    i = i % #sizes + 1
    local piece = data:sub(at, at + sizes[i] - 1)
    t:assert_eq(q:stdin_write(piece), #piece)
    at = at + #piece
  end
  t:assert_eq(q:wait(30).stdout, want, "wait closes stdin")
  -- the stdin= form
  t:assert_eq(vm:run_async("md5sum", {stdin = data}):wait(30).stdout, want)
end)

test("close: TERM, then KILL after 2 s for a process that ignores TERM; no-op once waited", function(t)
  local p = vm:run_async("trap '' TERM; echo ready; exec sleep 30")
  p:stdout_stream():expect("ready\n", 10)
  local t0 = now()
  p:close()
  local took = now() - t0
  t:log(("close took %.2f s"):format(took))
  t:assert(took >= 1.5 and took < 6, ("KILL after about 2 s, took %.2f s"):format(took))
  t:assert_eq(p:status(), "exited")
  t:assert_eq(vm:run("pgrep -f 'sleep 30' || true").stdout, "", "the process is gone")
  p:close() -- again: nothing
  local q = vm:run_async("echo x")
  q:wait(10)
  local t1 = now()
  q:close()
  t:assert(now() - t1 < 0.5, "close after wait does nothing")
  local r = vm:run_async("sleep 30")
  t1 = now()
  r:close()
  t:assert(now() - t1 < 1.5, "a process that takes TERM ends at once")
end)
