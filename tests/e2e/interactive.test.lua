-- interactive.test.lua - `provium console` and `provium repl` the way a user drives
-- them: on a pseudo-terminal (lib/ptydrive.py types and reads), piped, and on their
-- error paths. Three VM boots in all: the machine may be slow and shared.
local e2e = require("lib.e2e")

local config = e2e.dir .. "/provium.toml"
local build_cases = e2e.cases .. "/build/provium.toml"

local have_python = os.execute("command -v python3 >/dev/null 2>&1")

local function tmpdir()
  return (e2e.host("mktemp -d"):gsub("%s+$", ""))
end

-- Runs provium with args on a fresh pty, scripted by steps (see ptydrive.py); returns
-- ptydrive's record: ok, error, exit_code, children, transcript, settings_before/after.
local function drive(t, steps, args, env)
  if not have_python then t:skip("python3 is needed to drive a pseudo-terminal") end
  local dir = tmpdir()
  local f = assert(io.open(dir .. "/steps.json", "w"))
  f:write(json.encode(steps))
  f:close()
  local parts = {}
  for _, a in ipairs(args) do parts[#parts + 1] = e2e.q(a) end
  local out = e2e.host("cd " .. e2e.q(e2e.dir) .. " && " .. (env or "") .. " python3 "
    .. e2e.q(e2e.dir .. "/lib/ptydrive.py") .. " " .. e2e.q(dir .. "/steps.json") .. " -- "
    .. e2e.q(e2e.exe) .. " " .. table.concat(parts, " "))
  e2e.host("rm -rf " .. e2e.q(dir))
  return json.decode(out)
end

local function gone(pid)
  local f = io.open("/proc/" .. pid .. "/stat")
  if f then f:close() end
  return f == nil
end

local function check_pty_run(t, r, want_code)
  t:log(r.transcript)
  t:assert(r.ok, "the script ran to its end: " .. tostring(r.error))
  t:assert_eq(r.exit_code, want_code)
  t:assert_eq(json.encode(r.settings_after), json.encode(r.settings_before),
    "the terminal settings are restored")
  t:assert(#r.children >= 1, "QEMU was seen running")
  for _, pid in ipairs(r.children) do
    t:assert(gone(pid), "no QEMU left behind (pid " .. pid .. ")")
  end
end

test("console: the guest's shell on the terminal; Ctrl-A X quits and restores it", function(t)
  local r = drive(t, {
    {expect = "provium-image: ready", timeout = 240},
    {expect = "# ", timeout = 60},
    {children = true},
    {sleep = 0.5},
    {send = "echo hello-$((6*7))\r"},
    {expect = "hello-42", timeout = 60},
    {send = "\1x"},
    {wait = 60},
  }, {"console", "base", "--config", config})
  check_pty_run(t, r, 0)
  t:assert_contains(r.transcript, "Ctrl-A X quits")
end)

test("console --print-command prints the QEMU line and boots nothing", function(t)
  local out, code = e2e.provium({"console", "base", "--config", config, "--print-command",
    "--cmdline", "loglevel=7 quiet", "--", "-name", "extra arg"})
  t:log(out)
  t:assert_eq(code, 0)
  local line = out:match("\n(qemu%-system[^\n]*)") or out:match("^(qemu%-system[^\n]*)")
  t:assert(line ~= nil, "a qemu-system line")
  t:assert_contains(line, "-append 'loglevel=7 quiet console=ttyS0")
  t:assert_contains(line, "-serial chardev:con0")
  t:assert_contains(line, "stdio,id=con0,mux=on,signal=off")
  t:assert(not line:find("-qmp", 1, true), "no QMP socket")
  t:assert(not line:find("rdinit=", 1, true), "no agent without --agent")
  if line:find("-accel tcg", 1, true) then
    t:assert_contains(line, "tsc_early_khz=")
  end
  t:assert(line:sub(-#"-name 'extra arg'") == "-name 'extra arg'", "QEMU_ARGS last, quoted")
  t:assert(not out:find("provium-image", 1, true), "nothing booted")
end)

test("repl on a terminal: expressions print, errors do not end it, Ctrl-D does", function(t)
  if not have_python then t:skip("python3 is needed to drive a pseudo-terminal") end
  local state = tmpdir()
  local r = drive(t, {
    {expect = "is ready", timeout = 240},
    {expect = "> ", timeout = 30},
    {children = true},
    {sleep = 0.5},
    {send = 'vm:run("echo hi").stdout\r'},
    {expect = "\nhi\r?\n", timeout = 60},
    {expect = "> "},
    {sleep = 0.3},
    {send = "error('boom')\r"},
    {expect = "stdin:1: boom"},
    {expect = "> "},
    {sleep = 0.3},
    {send = "for i = 1, 2 do\r"},
    {expect = ">> "},
    {sleep = 0.3},
    {send = "print('n' .. i * 10) end\r"},
    {expect = "n20"},
    {expect = "> "},
    {sleep = 0.3},
    {send = "unfinished"},
    {sleep = 0.3},
    {send = "\3"},
    {expect = "Ctrl-C again"},
    {expect = "> "},
    {sleep = 0.3},
    {send = "vm:state(), 6 * 7\r"},
    {expect = "booted\t42"},
    {expect = "> "},
    {sleep = 0.3},
    {send = "\4"},
    {wait = 60},
  }, {"repl", "base", "--config", config}, "XDG_STATE_HOME=" .. e2e.q(state))
  check_pty_run(t, r, 0)
  local f = io.open(state .. "/provium/repl_history")
  local history = f and f:read("a") or ""
  if f then f:close() end
  e2e.host("rm -rf " .. e2e.q(state))
  t:assert_contains(history, "vm:state(),", "the history file keeps the lines")
end)

test("repl with piped stdin: no prompts, os.exit ends it and the VM goes", function(t)
  local script = table.concat({
    'print(vm:run("echo piped-" .. 6 * 7).stdout)',
    'error("scripted failure")',
    "for i = 1, 2 do",
    "  print('multi', i)",
    "end",
    'local pid = io.open("/proc/self/stat"):read("n"); '
      .. 'print("qemu-pids: " .. io.open(("/proc/%d/task/%d/children"):format(pid, pid)):read("a"))',
    "os.exit(7)",
    'print("never")',
  }, "\n")
  local out = e2e.host("cd " .. e2e.q(e2e.dir) .. " && printf '%s\\n' " .. e2e.q(script)
    .. " | " .. e2e.q(e2e.exe) .. " repl base --config " .. e2e.q(config)
    .. " 2>&1; echo \"__exit=$?\"")
  t:log(out)
  t:assert_eq(tonumber(out:match("__exit=(%d+)")), 7)
  t:assert_contains(out, "piped-42")
  t:assert_contains(out, "stdin:1: scripted failure")
  t:assert_contains(out, "multi\t2")
  t:assert(not out:find("never", 1, true), "os.exit ended the session")
  t:assert(not out:find("> ", 1, true), "no prompts")
  local pids = out:match("qemu%-pids: ([%d ]+)")
  t:assert(pids ~= nil, "QEMU was seen running")
  for pid in pids:gmatch("%d+") do
    t:assert(gone(pid), "no QEMU left behind (pid " .. pid .. ")")
  end
end)

test("unknown or ambiguous profiles and failing builds exit 2 before any boot", function(t)
  for _, cmd in ipairs({"console", "repl"}) do
    local out, code = e2e.provium({cmd, "nope", "--config", config})
    t:assert_eq(code, 2)
    -- the known profiles, sorted: the e2e config's first and last ones frame the list
    t:assert(out:find("unknown profile `nope` %(known: base, debroot, disky, [^)]*, notbz, panics, q35%)") ~= nil, out)
    local out2, code2 = e2e.provium({cmd, "bad", "--config", build_cases})
    t:assert_eq(code2, 2)
    t:assert_contains(out2, "building-bad")
    t:assert_contains(out2, "provium: profile `bad`: build command failed (exit code 3)")
  end
  local out, code = e2e.provium({"repl", "--config", config})
  t:assert_eq(code, 2)
  t:assert(out:find("several profiles; name one %(known: base, debroot, disky, [^)]*, notbz, panics, q35%)") ~= nil, out)
  local out2, code2 = e2e.provium({"console", "--config", config})
  t:assert_eq(code2, 2)
  t:assert_contains(out2, "missing PROFILE")
end)

test("on a terminal the run shows a progress line on stderr and clears it", function(t)
  local dir = tmpdir()
  local f = assert(io.open(dir .. "/slow.test.lua", "w"))
  f:write('test("takes a moment", function(t)\n' ..
    '  local n = 0\n' ..
    '  wait_until(function() n = n + 1; return n > 5 end, {interval = 0.1})\n' ..
    'end)\n')
  f:close()
  local args = {"--config", config, "--no-build", dir .. "/slow.test.lua"}
  local r = drive(t, {{expect = "\\[0/1\\] running 1, queued 0 .* 0 passed, 0 failed, 0 skipped",
                       timeout = 30}, {wait = 30}}, args)
  t:log(r.transcript)
  t:assert(r.ok, "the progress line was shown: " .. tostring(r.error))
  t:assert_eq(r.exit_code, 0)
  t:assert_contains(r.transcript, "\r\27[K", "and cleared in place")
  t:assert_contains(r.transcript, "1 passed, 0 failed, 0 skipped")
  -- not on a pipe, and not with --no-progress on a terminal
  local out = e2e.provium(args)
  t:assert(not out:find("[0/1]", 1, true), "a progress line on a pipe")
  local quiet = drive(t, {{wait = 30}}, {"--no-progress", table.unpack(args)})
  t:assert(not quiet.transcript:find("[0/1]", 1, true), "a progress line with --no-progress")
  e2e.host("rm -rf " .. e2e.q(dir))
end)
