-- clock.lua - a host wall clock for the Lua benches (Lua itself has none:
-- os.clock is CPU time and os.time has one-second steps).
--
-- Preferred source: the "now at N nsecs" line of /proc/timer_list, which is the
-- kernel's CLOCK_MONOTONIC in ns; reading it costs tens of microseconds but needs
-- root. Fallback: `date +%s%N` through io.popen (CLOCK_REALTIME, a fork+exec, a
-- few ms each - fine around a 64 MiB transfer, too coarse for one round trip).
-- One source is chosen at load time, so differences never mix the two clocks.
local M = {}

local function timer_list_ns()
  local f = io.open("/proc/timer_list", "r")
  if not f then
    return nil
  end
  local ns
  for _ = 1, 8 do
    local line = f:read("l")
    if not line then
      break
    end
    local v = line:match("^now at (%d+) nsecs")
    if v then
      ns = math.tointeger(tonumber(v))
      break
    end
  end
  f:close()
  return ns
end

local function date_ns()
  local p = assert(io.popen("date +%s%N", "r"))
  local s = p:read("l")
  p:close()
  return math.tointeger(tonumber(s))
end

if timer_list_ns() then
  M.source = "timer_list"
  M.now_ns = timer_list_ns
  M.fine = true -- good enough for single round trips
else
  M.source = "date"
  M.now_ns = date_ns
  M.fine = false
end

-- The cost of one reading (median of a few back-to-back pairs), in ns.
function M.overhead_ns()
  local d = {}
  for i = 1, 21 do
    local a = M.now_ns()
    local b = M.now_ns()
    d[i] = b - a
  end
  table.sort(d)
  return d[11]
end

return M
