-- e2e.lua - helpers for the end-to-end suite: run provium itself on a case suite.
local M = {}

M.dir = _PROVIUM_SOURCE_PATH:match("^(.*)/[^/]+$")
M.cases = M.dir:gsub("/e2e$", "") .. "/cases"
M.exe = os.getenv("PROVIUM_EXE") or "provium"

local function shell_quote(s)
  return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end
M.q = shell_quote

-- Runs provium with the given argument list from `cwd`; returns combined output and
-- the exit code.
function M.provium(args, cwd, env)
  local parts = {}
  for _, a in ipairs(args) do parts[#parts + 1] = shell_quote(a) end
  local cmd = "cd " .. shell_quote(cwd or M.dir) .. " && " .. (env or "") .. " " .. shell_quote(M.exe) .. " "
    .. table.concat(parts, " ") .. " 2>&1; echo \"__exit=$?\""
  local f = assert(io.popen(cmd))
  local out = f:read("a")
  f:close()
  local code = tonumber(out:match("__exit=(%d+)%s*$"))
  out = out:gsub("__exit=%d+%s*$", "")
  return out, code
end

-- Last non-empty line of a report.
function M.last_line(out)
  local last
  for line in out:gmatch("[^\n]+") do last = line end
  return last
end

function M.host(cmd)
  local f = assert(io.popen(cmd))
  local out = f:read("a")
  f:close()
  return out
end

return M
