-- host.lua - what the holdfaults cases ask of the host: this worker's QEMU processes, and
-- a kill -9 sent a second later by a detached shell (so it lands while a call is in flight).
local M = {}

M.dir = assert(os.getenv("HOLD_DIR"), "HOLD_DIR is set by faults_hold.test.lua")

-- PID of the QEMU of VM `name` among this worker's children (in io.popen's shell, $PPID
-- is the worker), or nil.
function M.qemu_pid(name)
  local p = assert(io.popen("cat /proc/$PPID/task/*/children"))
  local kids = p:read("a")
  p:close()
  for pid in kids:gmatch("%d+") do
    local f = io.open("/proc/" .. pid .. "/cmdline", "rb")
    local cmd = f and f:read("a") or ""
    if f then f:close() end
    if cmd:match("^qemu%-system") and cmd:find("-" .. name .. "/", 1, true) then
      return tonumber(pid)
    end
  end
end

function M.worker_pid()
  local p = assert(io.popen("echo $PPID"))
  local pid = p:read("n")
  p:close()
  return pid
end

-- In a second, write the time (seconds since the epoch) into HOLD_DIR/<stamp> and send
-- SIGKILL to pid.
function M.kill_later(pid, stamp)
  os.execute(("(sleep 1; date +%%s.%%N > %s/%s; kill -9 %d) > /dev/null 2>&1 &")
    :format(M.dir, stamp, pid))
end

function M.now()
  local p = assert(io.popen("date +%s.%N"))
  local s = p:read("n")
  p:close()
  return s
end

function M.write(name, text)
  local f = assert(io.open(M.dir .. "/" .. name, "w"))
  f:write(text)
  f:close()
end

return M
