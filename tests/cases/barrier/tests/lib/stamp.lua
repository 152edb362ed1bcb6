-- stamp.lua - the cases' clock and log: now() in seconds since the epoch (ns
-- precision, from date(1): every worker reads the same clock), note(label) appends
-- "<label> <now>" to $BARRIER_LOG for tests/e2e/barrier.test.lua to read.
local M = {}

function M.now()
  local f = assert(io.popen("date +%s.%N"))
  local s = f:read("l")
  f:close()
  return tonumber(s)
end

function M.note(label)
  local f = assert(io.open(assert(os.getenv("BARRIER_LOG"), "BARRIER_LOG unset"), "a"))
  f:write(("%s %.3f\n"):format(label, M.now()))
  f:close()
end

function M.sleep(secs)
  os.execute("sleep " .. secs)
end

return M
