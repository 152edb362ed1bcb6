-- errors.test.lua - the API's error shapes: methods the spec lists that this build lacks
-- raise `<method>: not supported`, vm:boot refuses unknown options, every state check
-- says the state's one phrase, and errors name the method that was called.

-- A raise of fn, which must be the API error "<this file>:<line>: <method>: <phrase>"
-- (positioned at the caller, here).
local function api_error(t, fn, method, phrase)
  local e = t:assert_raises(fn)
  t:assert_eq(type(e) == "string" and e:match("errors%.test%.lua:%d+: (.*)$"), method .. ": " .. phrase)
end

-- The "not supported" stub behind a method, if it is one: a C closure whose one upvalue
-- is its API name ("vm:wakeup"); real methods have none.
local function stub_name(f)
  local _, v = debug.getupvalue(f, 1)
  return type(v) == "string" and v:match("^%a+:[%w_]+$") and v or nil
end

test("methods the spec lists but this build lacks raise `not supported`", function(t)
  local vm = provium:vm("v", "base")
  local br = provium:bridge("br")
  local objects = {
    {vm, "vm", {"wakeup", "power_button", "disk", "attach_disk", "syscall", "syscall_async", "ioctl", "read_mem",
                "spawn_worker"}},
    {provium, "lab", {"barrier"}},
    {vm:console(), "console", {"write"}},
    {br, "bridge", {"route", "routes"}},
    {debug.getregistry()["provium.Process"].__index, "proc",
     {"stdin_write", "close_stdin", "stdout_stream", "stderr_stream", "close"}},
  }
  local stubs = {}
  for _, o in ipairs(objects) do
    local obj, prefix, methods = o[1], o[2], o[3]
    for _, m in ipairs(methods) do
      local f = obj[m] -- real, or a stub; never nil
      t:assert_eq(type(f), "function", prefix .. ":" .. m)
      local name = stub_name(f)
      if name then
        t:assert_eq(name, prefix .. ":" .. m)
        api_error(t, function() obj[m](obj, "x") end, name, "not supported")
        stubs[#stubs + 1] = name
      end
    end
  end
  t:log("stubs: " .. table.concat(stubs, " "))
  t:assert(stub_name(vm.syscall) == "vm:syscall", "the [later] tier is stubbed")
  t:assert(stub_name(vm.run) == nil and stub_name(provium.vm) == nil, "real methods are no stubs")
end)

test("vm:boot refuses unknown options before booting", function(t)
  local vm = provium:vm("v", "base")
  api_error(t, function() vm:boot({kernel_cmdline_apend = "quiet"}) end, "vm:boot",
    "unknown option `kernel_cmdline_apend`")
  api_error(t, function() vm:boot({rng_seed = "seven"}) end, "vm:boot", "option `rng_seed` must be an integer")
  api_error(t, function() vm:boot({[1] = "x"}) end, "vm:boot", "unknown option `1`")
  t:assert_eq(vm:state(), "created")
  api_error(t, function() provium:vm("w", "base", {memroy = "1G"}) end, "lab:vm", "unknown option `memroy`")
end)

test("a created or shut-down VM answers with its state's phrase", function(t)
  local vm = provium:vm("v", "base")
  api_error(t, function() vm:run("true") end, "vm:run", "VM not booted")
  api_error(t, function() vm:resume() end, "vm:resume", "VM not booted")
  api_error(t, function() vm:snapshot() end, "vm:snapshot", "VM not booted")
  api_error(t, function() vm:open_file("/x", {read = true}) end, "vm:open_file", "VM not booted")
  vm:shutdown()
  t:assert_eq(vm:state(), "shutdown")
  api_error(t, function() vm:boot() end, "vm:boot", "VM is shutdown; create a new one")
  api_error(t, function() vm:run_async("true") end, "vm:run_async", "VM is shutdown; create a new one")
  api_error(t, function() vm:resume() end, "vm:resume", "VM is shutdown; create a new one")
  api_error(t, function() vm:snapshot() end, "vm:snapshot", "VM is shutdown; create a new one")
  api_error(t, function() vm:console():read() end, "console:read", "VM is shutdown; create a new one")
end)

test("bridge:capture names itself in its errors", function(t)
  local br = provium:bridge("br")
  api_error(t, function() br:capture({file = "/nonexistent/dir/x.pcap"}) end, "bridge:capture",
    "cannot write /nonexistent/dir/x.pcap: No such file or directory")
  api_error(t, function() br:capture({file = 7}) end, "bridge:capture", "option `file` must be a string")
end)

test("a booted, paused and shut-down VM: phrases and method names", function(t)
  local br = provium:bridge("br")
  local vm = provium:vm("v", "base")
  br:attach(vm)
  vm:boot()
  api_error(t, function() vm:boot() end, "vm:boot", "VM already booted")
  -- guest output with a NUL byte: the failure text keeps what follows it
  local e = t:assert_raises(function() vm:run("printf 'a\\000b'; exit 3"):assert_ok() end)
  t:assert_contains(e, "exit_code=3 stdout=a\\x00b stderr=")
  api_error(t, function() vm:restore("/nonexistent.snap") end, "vm:restore", "VM already booted")
  api_error(t, function() vm:run_async("echo", {1, {}}) end, "vm:run_async", "args[2] must be a string")
  api_error(t, function() vm:run_async("true", {env = "x"}) end, "vm:run_async",
    "option `env` must be a table of NAME = value")
  api_error(t, function() vm:run("true", {env = {[1] = "x"}}) end, "vm:run", "env keys must be strings")
  api_error(t, function() br:nic(vm):capture({file = "/nonexistent/dir/x.pcap"}) end, "nic:capture",
    "cannot write /nonexistent/dir/x.pcap: No such file or directory")
  vm:pause()
  api_error(t, function() vm:boot() end, "vm:boot", "VM is paused; use resume()")
  api_error(t, function() vm:restore("/nonexistent.snap") end, "vm:restore", "VM is paused; use resume()")
  api_error(t, function() vm:open_file("/x", {read = true}) end, "vm:open_file", "VM is paused; use resume()")
  vm:resume()
  local nic = br:nic(vm)
  vm:shutdown()
  api_error(t, function() nic:capture() end, "nic:capture", "VM is shutdown; create a new one")
  api_error(t, function() nic:disconnect() end, "nic:disconnect", "VM is shutdown; create a new one")
end)
