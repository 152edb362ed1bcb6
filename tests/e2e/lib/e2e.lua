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

M.image = M.dir:gsub("/tests/e2e$", "") .. "/build/e2e-image"

-- Copies tests/cases/<case> into a private temp directory and gives it a provium.toml
-- with one profile `base` on the e2e image and its own fixture cache ("cache").
-- Returns the directory and write(relative_path, text).
function M.private_case(case)
  local work = M.host("mktemp -d"):gsub("%s+$", "")
  M.host("cp -r " .. shell_quote(M.cases .. "/" .. case .. "/.") .. " " .. shell_quote(work))
  local function write(path, text)
    local f = assert(io.open(work .. "/" .. path, "w"))
    f:write(text)
    f:close()
  end
  write("provium.toml", ([[
[provium]
roots = ["tests"]
cache_dir = "cache"

[profiles.base]
kernel = "%s/vmlinuz"
initrd = "%s/initrd.img"
cmdline_file = "%s/cmdline"
memory = "256M"
]]):format(M.image, M.image, M.image))
  return work, write
end

-- Removes the host directory `path` (rm -rf) when this test file's Lua state closes,
-- after its last test, whichever of its tests ran: the end-of-file cleanup of a copy
-- made at file scope, without a last "clean up" test that --rerun-failed would skip.
-- (Nothing runs when the worker is killed, as before.)
local doomed = setmetatable({}, {__gc = function(list)
  for _, p in ipairs(list) do os.execute("rm -rf " .. shell_quote(p)) end
end})
function M.remove_when_done(path)
  doomed[#doomed + 1] = path
  return path
end

-- Runs provium in dir with an events file; returns the output, the exit code and the
-- fixture events as "kind:fixture" joined by commas.
function M.run_with_fixture_events(dir, env, ...)
  local events = dir .. "/events.jsonl"
  os.remove(events)
  local out, code = M.provium({"--no-progress", "--events", events, ...}, dir, env)
  local kinds = {}
  local f = io.open(events)
  if f then
    for line in f:lines() do
      local ev = json.decode(line)
      if ev.kind:match("^fixture_") then kinds[#kinds + 1] = ev.kind .. ":" .. ev.fixture end
    end
    f:close()
  end
  return out, code, table.concat(kinds, ",")
end

-- How many times the Lua pattern pat occurs in s.
function M.count(s, pat)
  local n = 0
  for _ in s:gmatch(pat) do n = n + 1 end
  return n
end

-- Last non-empty line of a report.
function M.last_line(out)
  local last
  for line in out:gmatch("[^\n]+") do last = line end
  return last
end

-- The whole host file at path, or nil when it cannot be opened.
function M.read(path)
  local f = io.open(path)
  if not f then return nil end
  local s = f:read("a")
  f:close()
  return s
end

function M.host(cmd)
  local f = assert(io.popen(cmd))
  local out = f:read("a")
  f:close()
  return out
end

return M
