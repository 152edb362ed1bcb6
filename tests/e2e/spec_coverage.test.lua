-- spec_coverage.test.lua - the spec-coverage check of issue 12: every method of the
-- spec's §4 tables (tests/e2e/lib/spec_methods.lua, generated from
-- ../shared/spec/provium-api.md by scripts/spec_methods.py) is called once in a real
-- guest. [core] and [next] rows must succeed; [later] rows must raise exactly
-- `<object>:<method>: not supported`. A row with no entry in CALLS below fails, so a
-- new spec row cannot slip through. The per-row table (object.method, tier, result) is
-- logged, with a summary line "spec coverage: N ok, M failed of K".
--
-- The VMs are shared at file scope: cova (the worker: files, processes, streams, the
-- console, a mediated scratch disk), covb (the bridge peer; pause/resume, snapshot,
-- initial_time/rng_seed, reset), covc (q35: hot-plug, then the destructive rows:
-- power_button, restore, wakeup, shutdown) and covd in the sub-lab covsub (lab:boot,
-- pause, resume, snapshot, restore, shutdown). vm_fixture and lab_fixture run in a
-- nested provium on a private copy of tests/cases/labs.
local e2e = require("lib.e2e")
local SPEC = require("lib.spec_methods")

local MiB = 1024 * 1024
local function fail(msg) error(msg, 0) end
local function check(cond, msg) if not cond then fail(msg or "check failed") end end
local function eq(got, want, what)
  if got ~= want then
    fail(("%s: got %s, want %s"):format(what or "value", tostring(got), tostring(want)))
  end
end
-- waits up to `secs` (default 30) for pred() to be true; raises `what` otherwise
local function t_wait(pred, what, secs)
  local deadline = os.time() + (secs or 30)
  repeat
    if pred() then return end
    os.execute("sleep 0.5")
  until os.time() > deadline
  fail("timed out waiting: " .. what)
end
local function has(list, x)
  for _, v in ipairs(list) do if v == x then return true end end
  return false
end

-- the file's whole budget first (lab:claim must come before any boot): five VMs at most,
-- 256 MiB each plus QEMU's 100 MiB
local root = provium -- inside a test, `provium` is the test's own lab
local claim_ok, claim_err = pcall(function() provium:claim{memory = "1800M", cpus = 5} end)

local image_cmdline = (e2e.read(e2e.image .. "/cmdline") or "console=ttyS0"):gsub("%s+$", "")
local INITIAL_TIME = 2000000000 -- 2033-05-18

local a = provium:vm("cova", "base"):boot({
  kernel_cmdline_append = "spec_cov=1", agent_timeout = "300s",
  files = {{path = "/etc/cov", content = "covered\n"}},
  disks = {{scratch = "16M", id = "s", mediated = true}},
})
-- covb gets the [next] boot options; if they are refused, it boots without them (so its
-- other rows still run) and those two rows fail with the refusal
local b = provium:vm("covb", "base")
local b_opts_err
do
  local ok, err = pcall(b.boot, b, {kernel_cmdline = image_cmdline .. " spec_cov_b=1",
                                    initial_time = INITIAL_TIME, rng_seed = 42})
  if not ok then
    b_opts_err = tostring(err)
    if b:state() ~= "booted" then b:boot({kernel_cmdline = image_cmdline .. " spec_cov_b=1"}) end
  end
end
local c = provium:vm("covc", "q35"):boot()
local sub = provium:lab("covsub")
local d = sub:vm("covd", "base")
local lan = provium:bridge("covlan")
lan:attach({a, b})
local lan2 = provium:bridge("covlan2")
a:mkdir("/tmp/cov", {parents = true})

-- a Stream on a guest file holding `text` (closed by the caller)
local n_streams = 0
local function file_stream(text)
  n_streams = n_streams + 1
  local path = "/tmp/cov/stream" .. n_streams
  a:write_file(path, text)
  return a:tail_file(path, {start = "beginning"})
end

-- an open File on a fresh guest file holding `text` (closed by the caller)
local function open_with(text)
  a:write_file("/tmp/cov/file", text)
  return a:open_file("/tmp/cov/file", {read = true, write = true})
end

-- a guest process that waits for stdin, killed and waited by the caller
-- the guest block device (/dev/vdX) whose serial is the disk id
local function dev_of(vm, id)
  local r = vm:run("for d in /sys/block/vd*; do [ \"$(cat $d/serial)\" = " .. id ..
    " ] && echo /dev/${d##*/}; done"):assert_ok()
  return (r.stdout:gsub("%s+$", ""))
end

local function sleeper() return a:run_async("sleep 300") end
local function reap(p) pcall(p.kill, p, "kill"); pcall(p.wait, p, 30) end

-- the nested run of vm_fixture / lab_fixture, once
local fixture_out
local function fixture_run()
  if fixture_out then return fixture_out end
  local work, write = e2e.private_case("labs")
  e2e.remove_when_done(work)
  e2e.host("rm -f " .. e2e.q(work) .. "/tests/*.test.lua")
  write("tests/cov.test.lua", [[
test("vm_fixture", function(t)
  local v = provium:vm_fixture("fixtures/one", {name = "f1"})
  t:assert_eq(v:name(), "f1")
  t:assert_eq(v:read_file("/etc/marker"), "one\n")
end)
test("lab_fixture", function(t)
  local l = provium:lab_fixture("fixtures/pair")
  t:assert_eq(l.a:read_file("/etc/role"), "a\n")
  t:assert_eq(l.b:read_file("/etc/role"), "b\n")
end)
]])
  local out = e2e.provium({"--no-progress", "--cpu-overcommit", "4"}, work)
  fixture_out = out
  return out
end
local function fixture_passed(name)
  local out = fixture_run()
  check(out:find("ok%s+[^\n]*" .. name) or out:find("2 passed, 0 failed"),
    "nested run of " .. name .. ":\n" .. out)
end

-- the sub-lab's include/remove round trip
local n_inc = 0
local function include_remove()
  n_inc = n_inc + 1
  local l = provium:lab("covinc" .. n_inc)
  local v = l:vm("covx", "base")
  l:remove(v)
  check(not has(l:vm_names(), "covx"), "removed VM still listed")
  l:include(v)
  check(has(l:vm_names(), "covx"), "included VM not listed")
end

local csnap -- covc saved before its power button, for vm:restore
local subsnap -- the sub-lab's LabSnapshot

local CALLS = {
  -- Lab (§4.1)
  ["Lab.vm"] = function()
    eq(provium:vm("cova"):state(), "booted", "lab:vm(name)"); eq(d:state(), "created")
    local ok, err = pcall(provium.vm, provium, "nosuch")
    check(not ok and tostring(err):find("no VM named 'nosuch'", 1, true), tostring(err))
  end,
  ["Lab.bridge"] = function() eq(provium:bridge("covlan"):members()[1], "cova", "lab:bridge(name)") end,
  ["Lab.lab"] = function() check(provium:lab():name():find("__lab_"), "unnamed sub-lab") end,
  ["Lab.vm_fixture"] = function() fixture_passed("vm_fixture") end,
  ["Lab.lab_fixture"] = function() fixture_passed("lab_fixture") end,
  ["Lab.depends_on_file"] = function() provium:depends_on_file("data/sample.txt") end,
  ["Lab.boot"] = function() sub:boot(); eq(d:state(), "booted"); eq(d:run("hostname").stdout, "covd\n") end,
  ["Lab.pause"] = function() sub:pause(); eq(d:state(), "paused") end,
  ["Lab.resume"] = function() sub:resume(); eq(d:state(), "booted") end,
  ["Lab.snapshot"] = function()
    d:write_file("/etc/covd", "before\n")
    subsnap = sub:snapshot()
    check(subsnap:size() > 0, "lab snapshot size")
  end,
  ["Lab.restore"] = function()
    local l2 = provium:lab("covsub2")
    l2:restore(subsnap)
    eq(l2:vm("covd"):read_file("/etc/covd"), "before\n", "restored file")
    l2:shutdown()
  end,
  ["Lab.claim"] = function() check(claim_ok, tostring(claim_err)) end,
  ["Lab.barrier"] = function() eq(provium:barrier("spec-coverage-one", 1, 10), true, "barrier of 1") end,
  ["Lab.include"] = include_remove,
  ["Lab.remove"] = include_remove,
  ["Lab.members"] = function()
    local found
    for _, m in ipairs(root:members()) do
      if m.kind == "vm" and m.name == "cova" then found = true end
    end
    check(found, "cova in lab:members()")
  end,
  ["Lab.name"] = function() eq(sub:name(), "covsub") end,
  ["Lab.vm_names"] = function() check(has(root:vm_names(), "covb"), "covb listed") end,
  ["Lab.bridge_names"] = function() check(has(root:bridge_names(), "covlan"), "covlan listed") end,
  ["Lab.sub_lab_names"] = function() check(has(root:sub_lab_names(), "covsub"), "covsub listed") end,
  ["Lab.pack"] = function() eq(provium:pack(">I2", 258), "\1\2") end,
  ["Lab.unpack"] = function() eq(provium:unpack(">I2", "\1\2"), 258) end,
  -- boot options (§4.2)
  ["boot.kernel_cmdline"] = function()
    local cmd = b:read_file("/proc/cmdline")
    check(cmd:find("spec_cov_b=1", 1, true) and not cmd:find("spec_cov=1", 1, true), cmd)
  end,
  ["boot.kernel_cmdline_append"] = function()
    check(a:read_file("/proc/cmdline"):find("spec_cov=1", 1, true), "appended token")
  end,
  ["boot.agent_timeout"] = function() eq(a:state(), "booted") end,
  ["boot.files"] = function() eq(a:read_file("/etc/cov"), "covered\n") end,
  ["boot.disks"] = function() eq(a:disk("s"):size(), 16 * MiB, "scratch disk size") end,
  ["boot.initial_time"] = function()
    check(not b_opts_err, b_opts_err)
    local now = tonumber(b:run("date +%s").stdout)
    check(now and now >= INITIAL_TIME and now < INITIAL_TIME + 3600, "guest time " .. tostring(now))
  end,
  ["boot.rng_seed"] = function() check(not b_opts_err, b_opts_err); eq(b:state(), "booted") end,
  -- Vm (§4.2)
  ["Vm.boot"] = function() eq(a:run("hostname").stdout, "cova\n") end,
  ["Vm.pause"] = function() b:pause(); eq(b:state(), "paused"); b:resume() end,
  ["Vm.resume"] = function() b:pause(); b:resume(); eq(b:state(), "booted"); eq(b:run("echo up").stdout, "up\n") end,
  ["Vm.snapshot"] = function()
    local s = b:snapshot()
    check(s:size() > 0, "snapshot size")
    s:delete()
  end,
  ["Vm.run"] = function()
    eq(a:run("echo hi").stdout, "hi\n")
    eq(a:run("printf", {"%s-%s", "x", "y"}).stdout, "x-y")
    eq(a:run("cat", {stdin = "in", env = {COV = "1"}}).stdout, "in")
  end,
  ["Vm.run_async"] = function() eq(a:run_async("echo async"):wait(30).stdout, "async\n") end,
  ["Vm.read_file"] = function() a:write_file("/tmp/cov/r", "rr"); eq(a:read_file("/tmp/cov/r"), "rr") end,
  ["Vm.write_file"] = function()
    a:write_file("/tmp/cov/w", "ww", {mode = 384})
    eq(a:stat("/tmp/cov/w").perm, 384, "mode")
  end,
  ["Vm.push_file"] = function()
    a:push_file("data/sample.txt", "/tmp/cov/sample")
    eq(a:read_file("/tmp/cov/sample"), e2e.read(e2e.dir .. "/data/sample.txt"))
  end,
  ["Vm.stat"] = function() eq(a:stat("/tmp/cov").entry_type, "directory") end,
  ["Vm.exists"] = function() eq(a:exists("/etc/cov"), true); eq(a:exists("/nope"), false) end,
  ["Vm.listdir"] = function()
    a:mkdir("/tmp/cov/ls", {parents = true}); a:write_file("/tmp/cov/ls/x", "")
    local l = a:listdir("/tmp/cov/ls")
    eq(#l, 1, "entries"); eq(l[1].name, "x"); eq(l[1].entry_type, "file")
  end,
  ["Vm.mkdir"] = function()
    a:mkdir("/tmp/cov/m/n", {parents = true})
    eq(a:stat("/tmp/cov/m/n").entry_type, "directory")
  end,
  ["Vm.unlink"] = function() a:write_file("/tmp/cov/u", ""); a:unlink("/tmp/cov/u"); eq(a:exists("/tmp/cov/u"), false) end,
  ["Vm.rename"] = function()
    a:write_file("/tmp/cov/r1", "r"); a:rename("/tmp/cov/r1", "/tmp/cov/r2")
    eq(a:read_file("/tmp/cov/r2"), "r")
  end,
  ["Vm.open_file"] = function()
    local f = a:open_file("/tmp/cov/o", {write = true, create = true, truncate = true})
    eq(f:write("open"), 4); f:close()
    eq(a:read_file("/tmp/cov/o"), "open")
  end,
  ["Vm.tail_file"] = function()
    local s = file_stream("tail\n")
    eq(s:read_until("tail\n", 10), "tail\n"); s:close()
  end,
  ["Vm.fd_stream"] = function()
    local f = open_with("fdstream\n")
    local s = a:fd_stream(f)
    eq(s:read_until("\n", 10), "fdstream\n"); s:close(); f:close()
  end,
  ["Vm.batch"] = function()
    local r = a:batch(function(bt) bt:run("echo 1"); bt:stat("/nope"); bt:read_file("/etc/cov") end)
    eq(#r, 3, "answers")
    check(r[1].ok and r[2].err and r[3].ok == "covered\n", "batch answers in order")
  end,
  ["Vm.disk"] = function() eq(a:disk("s"):id(), "s") end,
  ["Vm.attach_disk"] = function()
    local dk = c:attach_disk({id = "hot", size = "8M"})
    eq(dk:size(), 8 * MiB, "attached size")
    t_wait(function() return c:run("cat /sys/block/vd*/size").stdout:find("16384", 1, true) end, "disk seen")
  end,
  ["Vm.nic"] = function() eq(a:nic(lan):name(), "eth0"); eq(a:nic("eth0"):bridge():name(), "covlan") end,
  ["Vm.console"] = function() check(tostring(a:console()):find("cova", 1, true), "console of cova") end,
  ["Vm.clock"] = function() check(a:clock():get() > 1e9, "guest wall clock") end,
  ["Vm.name"] = function() eq(a:name(), "cova") end,
  ["Vm.profile"] = function() eq(c:profile(), "q35") end,
  ["Vm.state"] = function() eq(a:state(), "booted") end,
  ["Vm.is_quiescent"] = function()
    local f = open_with("q")
    eq(a:is_quiescent(), false, "with a file open"); f:close()
    eq(a:is_quiescent(), true, "all closed")
  end,
  ["Vm.open_file_count"] = function()
    local f = open_with("q"); eq(a:open_file_count(), 1); f:close(); eq(a:open_file_count(), 0)
  end,
  ["Vm.open_stream_count"] = function()
    local s = file_stream("x"); eq(a:open_stream_count(), 1); s:close(); eq(a:open_stream_count(), 0)
  end,
  ["Vm.cid"] = function() eq(a:cid(), nil) end,
  -- RunResult and Process (§4.3)
  ["RunResult.assert_ok"] = function()
    local r = a:run("true"); eq(r:assert_ok(), r)
    local ok, err = pcall(function() a:run("exit 3"):assert_ok() end)
    check(not ok and tostring(err):find("command failed: status=exited exit_code=3", 1, true), tostring(err))
  end,
  ["RunResult.ok"] = function() eq(a:run("true"):ok(), true); eq(a:run("false"):ok(), false) end,
  ["Process.wait"] = function()
    local r = a:run_async("echo w; exit 4"):wait(30)
    eq(r.stdout, "w\n"); eq(r.exit_code, 4)
  end,
  ["Process.kill"] = function()
    local p = sleeper(); p:kill("kill")
    local r = p:wait(30); eq(r.status, "signalled"); eq(r.signal, 9)
  end,
  ["Process.signal"] = function()
    local p = sleeper(); p:signal("term")
    eq(p:wait(30).signal, 15)
  end,
  ["Process.pid"] = function()
    local p = sleeper()
    local ok = a:run("test -d /proc/" .. p:pid()):ok(); reap(p)
    check(ok, "pid is a live guest process")
  end,
  ["Process.handle"] = function()
    local p = sleeper(); local h = p:handle(); reap(p)
    check(math.type(h) == "integer" and h > 0, "handle " .. tostring(h))
  end,
  ["Process.status"] = function()
    local p = sleeper(); local st = p:status(); reap(p); eq(st, "running")
  end,
  ["Process.stdin_write"] = function()
    local p = a:run_async("cat")
    eq(p:stdin_write("abc"), 3); p:close_stdin()
    eq(p:wait(30).stdout, "abc")
  end,
  ["Process.close_stdin"] = function()
    local p = a:run_async("wc -c"); p:stdin_write("12345"); p:close_stdin()
    eq(p:wait(30).stdout:match("%d+"), "5")
  end,
  ["Process.stdout_stream"] = function()
    local p = a:run_async("echo out; read x")
    local s = p:stdout_stream()
    eq(s:read_until("out\n", 10), "out\n")
    p:close_stdin(); p:wait(30); s:close()
  end,
  ["Process.stderr_stream"] = function()
    local p = a:run_async("echo err >&2; read x")
    local s = p:stderr_stream()
    eq(s:read_until("err\n", 10), "err\n")
    p:close_stdin(); p:wait(30); s:close()
  end,
  ["Process.close"] = function()
    local p = sleeper(); local pid = p:pid()
    p:close()
    eq(a:run("test -d /proc/" .. pid):ok(), false, "process still there after close")
  end,
  -- Stream (§4.4)
  ["Stream.next"] = function()
    local s = file_stream("chunk")
    local got = s:next(10); s:close()
    eq(got, "chunk")
  end,
  ["Stream.read_until"] = function()
    local s = file_stream("one\ntwo\n")
    local x, y = s:read_until("\n", 10), s:read_until("\n", 10); s:close()
    eq(x .. y, "one\ntwo\n")
  end,
  ["Stream.expect"] = function()
    local s = file_stream("ready\n")
    local ok, err = pcall(s.expect, s, "ready", 10)
    local ok2 = pcall(s.expect, s, "never", 0.5); s:close()
    check(ok, tostring(err)); check(not ok2, "expect of a missing pattern raises")
  end,
  ["Stream.drain"] = function()
    local s = file_stream("drained")
    local chunks = s:drain(1); s:close()
    eq(table.concat(chunks), "drained")
  end,
  ["Stream.close"] = function()
    local s = file_stream("x"); s:close()
    eq(s:next(0.2), nil, "next after close")
  end,
  ["Stream.eof"] = function()
    local p = a:run_async("echo e")
    local s = p:stdout_stream()
    p:wait(30)
    s:drain(1)
    local e = s:eof(); s:close(); eq(e, true)
  end,
  ["Stream.creation_site"] = function()
    local s = file_stream("x")
    local site = s:creation_site(); s:close()
    check(site and tostring(site.file):find("spec_coverage", 1, true) and site.line > 0, "creation site")
  end,
  -- File (§4.5)
  ["File.read"] = function() local f = open_with("abcdef"); local x = f:read(3); f:close(); eq(x, "abc") end,
  ["File.read_all"] = function() local f = open_with("all of it"); local x = f:read_all(); f:close(); eq(x, "all of it") end,
  ["File.write"] = function()
    local f = open_with(""); eq(f:write("wrote"), 5); f:close()
    eq(a:read_file("/tmp/cov/file"), "wrote")
  end,
  ["File.seek"] = function()
    local f = open_with("0123456789"); eq(f:seek(-3, "end"), 7); local x = f:read(3); f:close(); eq(x, "789")
  end,
  ["File.tell"] = function() local f = open_with("0123"); f:read(2); local p = f:tell(); f:close(); eq(p, 2) end,
  ["File.close"] = function() local f = open_with("x"); f:close(); eq(tostring(f), "file(closed)") end,
  ["File.fd"] = function()
    local f = open_with("x"); local fd = f:fd(); f:close()
    check(fd > 0, "fd while open"); eq(f:fd(), 0, "fd once closed")
  end,
  ["File.tail_stream"] = function()
    local f = open_with("headtail\n"); f:seek(4, "set")
    local s = f:tail_stream()
    local got = s:read_until("\n", 10); s:close(); f:close()
    eq(got, "tail\n")
  end,
  -- Console (§4.5)
  ["Console.read"] = function()
    local s = a:console():read()
    a:run("echo '<0>cov-read-mark' > /dev/kmsg")
    local got = s:read_until("cov-read-mark", 30); s:close()
    check(got, "mark seen on the live console")
  end,
  ["Console.read_log"] = function()
    a:run("echo '<0>cov-log-mark' > /dev/kmsg")
    t_wait(function() return a:console():read_log():find("cov-log-mark", 1, true) end, "mark in the log")
  end,
  ["Console.expect"] = function()
    a:run("echo '<0>cov-expect-mark' > /dev/kmsg")
    eq(a:console():expect("cov-expect-mark", 30), "cov-expect-mark")
  end,
  ["Console.write"] = function()
    -- the base image runs a busybox shell on the serial console: it runs what we type
    local cn = a:console()
    cn:write("echo cov-typed-$((6*7))\r")
    eq(cn:expect("cov-typed-42", 30), "cov-typed-42")
  end,
  ["Console.close"] = function() local cn = a:console(); cn:close(); cn:close() end,
  -- Clock (§4.5), on covd (the set/advance do not disturb the others)
  ["Clock.get"] = function()
    local g = a:clock():get(); local s = tonumber(a:run("date +%s").stdout)
    check(math.abs(g - s) < 5, ("clock %s vs date %s"):format(g, s))
  end,
  ["Clock.get_ns"] = function() check(math.type(a:clock():get_ns()) == "integer", "integer ns") end,
  ["Clock.set"] = function()
    local ck = d:clock(); ck:set(1800000000)
    local g = ck:get(); check(g >= 1800000000 and g < 1800000100, "set time " .. g)
  end,
  ["Clock.set_ns"] = function()
    local ck = d:clock(); ck:set_ns(1900000000 * 1000000000)
    check(ck:get() >= 1900000000, "set_ns time")
  end,
  ["Clock.sleep"] = function() local ck = a:clock(); local t0 = ck:get(); ck:sleep("300ms"); check(ck:get() - t0 >= 0.3) end,
  ["Clock.advance"] = function()
    local ck = d:clock(); local t0 = ck:get(); ck:advance(3600)
    check(ck:get() - t0 >= 3600, "advanced an hour")
  end,
  -- Snapshot, LabSnapshot (§4.5)
  ["Snapshot.path"] = function()
    local p = "/tmp/spec-cov-" .. os.time() .. ".snap"
    local s = b:snapshot(p); eq(s:path(), p); s:delete()
  end,
  ["Snapshot.size"] = function() local s = b:snapshot(); local n = s:size(); s:delete(); check(n > 0); eq(s:size(), 0) end,
  ["Snapshot.delete"] = function()
    local s = b:snapshot(); local p = s:path(); s:delete(); s:delete()
    eq(io.open(p), nil, "file gone")
  end,
  ["LabSnapshot.path"] = function() check(subsnap:path() ~= "", "lab snapshot path") end,
  ["LabSnapshot.size"] = function() check(subsnap:size() > 0, "lab snapshot size") end,
  ["LabSnapshot.delete"] = function() end, -- the destructive phase deletes it
  -- Batch (§4.5)
  ["Batch.run"] = function() eq(a:batch(function(x) x:run("echo b") end)[1].ok.stdout, "b\n") end,
  ["Batch.read_file"] = function() eq(a:batch(function(x) x:read_file("/etc/cov") end)[1].ok, "covered\n") end,
  ["Batch.write_file"] = function()
    check(a:batch(function(x) x:write_file("/tmp/cov/bw", "bw") end)[1].err == nil, "batch write")
    eq(a:read_file("/tmp/cov/bw"), "bw")
  end,
  ["Batch.stat"] = function() eq(a:batch(function(x) x:stat("/etc/cov") end)[1].ok.size, 8) end,
  ["Batch.listdir"] = function()
    local r = a:batch(function(x) x:listdir("/etc") end)[1].ok
    check(type(r) == "table" and #r > 0, "batch listdir")
  end,
  ["Batch.mkdir"] = function()
    a:batch(function(x) x:mkdir("/tmp/cov/bm/x", true) end)
    eq(a:stat("/tmp/cov/bm/x").entry_type, "directory")
  end,
  ["Batch.unlink"] = function()
    a:write_file("/tmp/cov/bu", ""); a:batch(function(x) x:unlink("/tmp/cov/bu") end)
    eq(a:exists("/tmp/cov/bu"), false)
  end,
  ["Batch.rename"] = function()
    a:write_file("/tmp/cov/br1", "x"); a:batch(function(x) x:rename("/tmp/cov/br1", "/tmp/cov/br2") end)
    eq(a:exists("/tmp/cov/br2"), true)
  end,
  ["Batch.syscall"] = function()
    local r = a:batch(function(x) x:syscall(39) end)[1]
    check(r.ok or r.err == "vm:syscall: not supported", "batch syscall: " .. tostring(r.err))
  end,
  -- Bridge (§4.6)
  ["Bridge.attach"] = function() lan2:attach(c); check(has(lan2:members(), "covc"), "covc attached") end,
  ["Bridge.detach"] = function()
    lan2:detach(c); check(not has(lan2:members(), "covc"), "covc detached"); lan2:attach(c)
  end,
  ["Bridge.members"] = function() local m = lan:members(); eq(m[1], "cova"); eq(m[2], "covb") end,
  ["Bridge.name"] = function() eq(lan:name(), "covlan") end,
  ["Bridge.subnet"] = function() check(lan:subnet():match("^10%.213%.%d+%.0/24$"), lan:subnet()) end,
  ["Bridge.address"] = function()
    local addr = lan:address(b)
    check(a:run("ping -c 1 -W 5 " .. addr):ok(), "cova pings covb at " .. addr)
  end,
  ["Bridge.partition"] = function()
    lan:partition(a, b); local p = lan:is_partitioned(a, b); lan:unpartition(a, b); eq(p, true)
  end,
  ["Bridge.unpartition"] = function() lan:partition(a, b); lan:unpartition(a, b); eq(lan:is_partitioned(a, b), false) end,
  ["Bridge.partition_all"] = function()
    lan:partition_all(); local p = lan:is_partitioned(a, b); lan:restore_all(); eq(p, true)
  end,
  ["Bridge.restore_all"] = function() lan:partition_all(); lan:restore_all(); eq(lan:is_partitioned(a, b), false) end,
  ["Bridge.is_partitioned"] = function() eq(lan:is_partitioned(a, b), false) end,
  ["Bridge.isolate"] = function() lan:isolate(a); local i = lan:is_isolated(a); lan:unisolate(a); eq(i, true) end,
  ["Bridge.unisolate"] = function() lan:isolate(a); lan:unisolate(a); eq(lan:is_isolated(a), false) end,
  ["Bridge.is_isolated"] = function() eq(lan:is_isolated(b), false) end,
  ["Bridge.add_latency"] = function() lan:add_latency(5); local v = lan:latency_ms(); lan:reset(); eq(v, 5) end,
  ["Bridge.drop_rate"] = function() lan:drop_rate(1); local v = lan:drop_rate_pct(); lan:reset(); eq(v, 1) end,
  ["Bridge.bandwidth_limit"] = function()
    lan:bandwidth_limit(1000000); local v = lan:bandwidth_bps(); lan:reset(); eq(v, 1000000)
  end,
  ["Bridge.add_directional_latency"] = function()
    lan:add_directional_latency{from = a, to = b, ms = 3}; lan:reset()
  end,
  ["Bridge.directional_drop_rate"] = function() lan:directional_drop_rate{from = a, to = b, p = 2}; lan:reset() end,
  ["Bridge.latency_ms"] = function() eq(lan:latency_ms(), 0) end,
  ["Bridge.drop_rate_pct"] = function() eq(lan:drop_rate_pct(), 0) end,
  ["Bridge.bandwidth_bps"] = function() eq(lan:bandwidth_bps(), 0) end,
  ["Bridge.reset"] = function() lan:add_latency(7); lan:reset(); eq(lan:latency_ms(), 0) end,
  ["Bridge.enable_uplink"] = function() lan2:enable_uplink(); lan2:disable_uplink() end,
  ["Bridge.disable_uplink"] = function() lan2:disable_uplink() end,
  ["Bridge.capture"] = function()
    local s = lan:capture()
    a:run("ping -c 1 -W 5 " .. lan:address(b))
    local got = s:next(10); s:close()
    check(got and #got >= 24, "pcap bytes")
  end,
  ["Bridge.nic"] = function() eq(lan:nic(b):vm_name(), "covb") end,
  ["Bridge.route"] = function() lan:route(lan2); lan2:route("covlan"); check(has(lan:routes(), "covlan2"), "routed") end,
  ["Bridge.routes"] = function() lan:route(lan2); check(has(lan:routes(), "covlan2"), "routes lists covlan2") end,
  -- Nic (§4.6)
  ["Nic.counters"] = function()
    local n = a:nic(lan); a:run("ping -c 1 -W 5 " .. lan:address(b))
    check(n:counters().tx_packets > 0, "tx packets counted")
  end,
  ["Nic.capture"] = function()
    local s = a:nic(lan):capture()
    a:run("ping -c 1 -W 5 " .. lan:address(b))
    local got = s:next(10); s:close()
    check(got and #got >= 24, "pcap bytes")
  end,
  ["Nic.disconnect"] = function()
    local n = a:nic(lan); n:disconnect()
    local ok = a:run("ping -c 1 -W 2 " .. lan:address(b)):ok(); n:reconnect()
    eq(ok, false, "ping with the cable pulled")
  end,
  ["Nic.reconnect"] = function()
    local n = a:nic(lan); n:disconnect(); n:reconnect()
    t_wait(function() return a:run("ping -c 1 -W 2 " .. lan:address(b)):ok() end, "ping after reconnect")
  end,
  ["Nic.vm_name"] = function() eq(a:nic(lan):vm_name(), "cova") end,
  ["Nic.bridge"] = function() eq(a:nic(lan):bridge():name(), "covlan") end,
  ["Nic.name"] = function() eq(b:nic(lan):name(), "eth0") end,
  ["Nic.address"] = function() eq(b:nic(lan):address(), lan:address(b)) end,
  ["Nic.mac"] = function() check(a:nic(lan):mac():match("^%x%x:%x%x:%x%x:%x%x:%x%x:%x%x$"), "mac") end,
  -- Disk (§4.7), on cova's mediated scratch disk "s" and covc's hot-plugged "hot"
  ["Disk.id"] = function() eq(a:disk("s"):id(), "s") end,
  ["Disk.size"] = function() eq(a:disk("s"):size(), 16 * MiB) end,
  ["Disk.detach"] = function()
    local dk = c:disk("hot"); dk:detach(); eq(dk:is_detached(), true)
  end,
  ["Disk.is_detached"] = function() eq(a:disk("s"):is_detached(), false) end,
  ["Disk.read_sectors"] = function()
    a:run("printf covsector > " .. dev_of(a, "s") .. " && sync"):assert_ok()
    eq(a:disk("s"):read_sectors(0, 1):sub(1, 9), "covsector")
  end,
  ["Disk.write_sectors"] = function()
    local dk = a:disk("s"); dk:write_sectors(8, ("w"):rep(512))
    eq(dk:read_sectors(8, 1), ("w"):rep(512))
  end,
  ["Disk.fault_inject"] = function()
    local dk = a:disk("s"); dk:fault_inject("eio_read")
    local ok = pcall(dk.read_sectors, dk, 0, 1); dk:clear_faults()
    eq(ok, false, "host read with eio_read")
  end,
  ["Disk.clear_faults"] = function()
    local dk = a:disk("s"); dk:fault_inject("slow"); dk:clear_faults(); eq(#dk:active_faults(), 0)
  end,
  ["Disk.active_faults"] = function()
    local dk = a:disk("s"); dk:fault_inject("slow"); local f = dk:active_faults(); dk:clear_faults()
    check(has(f, "slow"), "slow listed")
  end,
  ["Disk.fail_reads"] = function()
    local dk = a:disk("s"); dk:fail_reads()
    local r = a:run("dd if=" .. dev_of(a, "s") .. " of=/dev/null bs=4096 count=1 skip=40 iflag=direct 2>&1")
    dk:clear_policy()
    check(not r:ok() and r.stdout:find("Input/output error", 1, true), "guest read with fail_reads: " .. r.stdout)
  end,
  ["Disk.fail_writes"] = function()
    local dk = a:disk("s"); dk:fail_writes()
    local r = a:run("dd if=/dev/zero of=" .. dev_of(a, "s") .. " bs=4096 count=1 seek=40 oflag=direct 2>&1")
    dk:clear_policy()
    check(not r:ok() and r.stdout:find("Input/output error", 1, true), "guest write with fail_writes: " .. r.stdout)
  end,
  ["Disk.fail_after"] = function()
    local dk = a:disk("s"); dk:fail_after(1000000); local p = dk:fault_policy(); dk:clear_policy()
    eq(p.fail_after, 1000000)
  end,
  ["Disk.fail_range"] = function()
    local dk = a:disk("s"); dk:fail_range(300, 4); local p = dk:fault_policy(); dk:clear_policy()
    eq(p.fail_range_sector, 300); eq(p.fail_range_count, 4)
  end,
  ["Disk.delay"] = function()
    local dk = a:disk("s"); dk:delay(5); local p = dk:fault_policy(); dk:clear_policy(); eq(p.delay_ms, 5)
  end,
  ["Disk.clear_policy"] = function()
    local dk = a:disk("s"); dk:fail_writes(); dk:clear_policy(); eq(dk:fault_policy().fail_writes, false)
  end,
  ["Disk.fault_policy"] = function() eq(a:disk("s"):fault_policy().fail_reads, false) end,
}

-- [later] rows: the call that must raise exactly "<method>: not supported"
local LATER = {
  ["Vm.syscall"] = function() return a:syscall(39) end,
  ["Vm.syscall_async"] = function() return a:syscall_async(39) end,
  ["Vm.ioctl"] = function() return a:ioctl(nil, 0) end,
  ["Vm.read_mem"] = function() return a:read_mem(0, 8) end,
  ["Vm.spawn_worker"] = function() return a:spawn_worker() end,
}

-- the destructive rows, run last in this order (the VM, lab or bridge is gone after)
local LAST = {"Disk.power_cut", "LabSnapshot.delete", "Lab.shutdown", "Vm.reset", "Vm.power_button",
              "Vm.restore", "Vm.wakeup", "Vm.shutdown", "Vm.close", "Bridge.close"}
local LAST_CALLS = {
  ["Disk.power_cut"] = function()
    -- cova's disk "s": a flushed write survives the cut, an unflushed one does not;
    -- the guest's I/O fails until the reset
    local dk, dev = a:disk("s"), dev_of(a, "s")
    local dd = "dd bs=4096 oflag=direct of=" .. dev
    a:run("printf synced > /tmp/cov/pc1 && " .. dd .. " if=/tmp/cov/pc1 seek=1 conv=sync,fsync 2>&1"):assert_ok()
    a:run("printf unsynced > /tmp/cov/pc2 && " .. dd .. " if=/tmp/cov/pc2 seek=2 conv=sync 2>&1"):assert_ok()
    eq(dk:read_sectors(16, 1):sub(1, 8), "unsynced", "held write seen before the cut")
    dk:power_cut()
    eq(a:state(), "booted")
    eq(dk:fault_policy().power_cut, true, "power_cut in the policy")
    a:reset()
    local rd = "dd if=" .. dev_of(a, "s") .. " bs=4096 count=1 iflag=direct 2>/dev/null"
    eq(a:run(rd .. " skip=1"):assert_ok().stdout:sub(1, 6), "synced", "flushed data after the cut")
    eq(a:run(rd .. " skip=2"):assert_ok().stdout:sub(1, 8), ("\0"):rep(8), "unflushed data lost")
  end,
  ["LabSnapshot.delete"] = function()
    local p = subsnap:path(); subsnap:delete(); subsnap:delete()
    eq(subsnap:size(), 0); eq(io.open(p .. "/lab.json"), nil, "lab.json gone")
  end,
  ["Lab.shutdown"] = function() sub:shutdown(); eq(d:state(), "shutdown") end,
  ["Vm.power_button"] = function()
    csnap = c:snapshot()
    c:power_button()
    t_wait(function() return c:state() == "shutdown" end, "covc powered off", 120)
  end,
  ["Vm.restore"] = function()
    c:restore(csnap); eq(c:state(), "booted"); eq(c:run("hostname").stdout, "covc\n")
  end,
  ["Vm.reset"] = function()
    b:write_file("/tmp/gone", "x"); b:reset()
    eq(b:state(), "booted"); eq(b:exists("/tmp/gone"), false, "tmpfs after reset")
  end,
  ["Vm.wakeup"] = function()
    local p = c:run_async("echo mem > /sys/power/state")
    local woke, err
    for _ = 1, 50 do
      woke, err = pcall(c.wakeup, c)
      if woke or not tostring(err):find("not suspended", 1, true) then break end
      os.execute("sleep 0.2")
    end
    check(woke, tostring(err))
    p:wait(60)
    eq(c:run("echo awake").stdout, "awake\n")
  end,
  ["Vm.shutdown"] = function() c:shutdown(); eq(c:state(), "shutdown"); c:shutdown() end,
  ["Vm.close"] = function() b:close(); eq(b:state(), "shutdown"); b:close() end,
  ["Bridge.close"] = function() lan2:close(); eq(#lan2:members(), 0) end,
}
for k, f in pairs(LAST_CALLS) do CALLS[k] = f end
local is_last = {}
for _, k in ipairs(LAST) do is_last[k] = true end


local function run_row(row)
  local obj, method, tier = row[1], row[2], row[3]
  local key = obj .. "." .. method
  if tier == "later" then
    local call = LATER[key]
    if not call then return false, "no entry in LATER" end
    local ok, err = pcall(call)
    local want = obj:lower() .. ":" .. method .. ": not supported"
    if ok then return false, "succeeded; want `" .. want .. "`" end
    if not tostring(err):match(": " .. want:gsub("%p", "%%%0") .. "$") then
      return false, "raised `" .. tostring(err) .. "`, want `" .. want .. "`"
    end
    return true
  end
  local call = CALLS[key]
  if not call then return false, "no entry in CALLS" end
  local ok, err = pcall(call)
  return ok, not ok and tostring(err) or nil
end

test("every method of the spec's §4 tables works in a real guest", {timeout = "40m"}, function(t)
  local order = {}
  for _, row in ipairs(SPEC) do
    if not is_last[row[1] .. "." .. row[2]] then order[#order + 1] = row end
  end
  for _, key in ipairs(LAST) do
    for _, row in ipairs(SPEC) do
      if row[1] .. "." .. row[2] == key then order[#order + 1] = row end
    end
  end
  local lines, failed, n_ok = {}, {}, 0
  for _, row in ipairs(order) do
    local ok, why = run_row(row)
    local key = row[1] .. "." .. row[2]
    lines[#lines + 1] = ("%-30s %-6s %s"):format(key, row[3], ok and "ok" or ("FAIL: " .. why:gsub("\n", " ")))
    if ok then n_ok = n_ok + 1 else failed[#failed + 1] = lines[#lines] end
  end
  local summary = ("spec coverage: %d ok, %d failed of %d"):format(n_ok, #failed, #order)
  t:log(table.concat(lines, "\n") .. "\n" .. summary)
  t:assert(#failed == 0, summary .. "; failed rows:\n" .. table.concat(failed, "\n"))
end)
