-- readme.test.lua - README.md's first steps work as written: the `init` line pasted into
-- a shell at the top of a source tree, and the "Use your own kernel and image" example
-- (its provium.toml and test file, taken from the README itself) on Debian's kernel and
-- initramfs-tools initrd. Runs provium as a subprocess in private temp directories.
local e2e = require("lib.e2e")

local root = e2e.dir:gsub("/tests/e2e$", "")

local function read(path) return assert(e2e.read(path), path) end

local function write(path, text)
  local f = assert(io.open(path, "w"))
  f:write(text)
  f:close()
end

-- Calls fn(dir) with a fresh private temp directory, removed afterwards even on error.
local function with_tmp(fn)
  local dir = e2e.host("mktemp -d"):gsub("%s+$", "")
  assert(dir:match("^/.+"), "mktemp -d failed")
  local ok, err = pcall(fn, dir)
  e2e.host("rm -rf " .. e2e.q(dir))
  if not ok then error(err, 0) end
end

-- The README's section under `## title`, up to the next `## ` heading.
local function section(readme, title)
  local start = readme:find("\n## " .. title .. "\n", 1, true)
  assert(start, "README has no section " .. title)
  local stop = readme:find("\n## ", start + 1, true) or #readme
  return readme:sub(start, stop)
end

-- Runs a shell line in dir (with env prefix); returns combined output and exit code.
local function sh(dir, env, line)
  local out = e2e.host("cd " .. e2e.q(dir) .. " && " .. env .. " sh -c " .. e2e.q(line)
    .. " 2>&1; echo \"__exit=$?\"")
  local code = tonumber(out:match("__exit=(%d+)%s*$"))
  return out:gsub("__exit=%d+%s*$", ""), code
end

-- builds and fixture caches stay in tmp; provium sets $PROVIUM_EXE itself
local function env_in(tmp)
  return "env -u PROVIUM_FIXTURE_CACHE -u PROVIUM_BUILD_DIR -u PROVIUM_EXE XDG_CACHE_HOME="
    .. e2e.q(tmp .. "/cache")
end

test("the README's init line works pasted at the top of a source tree", function(t)
  local using = section(read(root .. "/README.md"), "Using it")
  local line = using:match("`(build/provium init [^`]*)`")
  t:assert(line, "the README shows a `build/provium init ...` line")
  t:log(line)
  with_tmp(function(tmp)
    -- a source tree's top: build/ holds this provium (and its agent, found from there)
    local exe_dir = e2e.exe:match("^(.*)/[^/]+$")
    e2e.host("ln -s " .. e2e.q(exe_dir) .. " " .. e2e.q(tmp .. "/build"))
    t:assert(e2e.exe:match("/provium$"), "the binary is named provium: " .. e2e.exe)
    local out, code = sh(tmp, env_in(tmp), line)
    t:log(out)
    t:assert_eq(code, 0, "the pasted line succeeds")
    t:assert_eq(e2e.last_line(out), "2 passed, 0 failed, 0 skipped")
  end)
end)

test("the README's own kernel and image example passes", function(t)
  local own = section(read(root .. "/README.md"), "Use your own kernel and image")
  local toml = own:match("```toml\n(.-)```")
  local lua = own:match("```lua\n(.-)```")
  t:assert(toml and lua, "the section has a provium.toml and a test file")
  local kernel, initrd = toml:match('kernel = "([^"]+)"'), toml:match('initrd = "([^"]+)"')
  local readable = e2e.host("test -r " .. e2e.q(kernel) .. " && test -r " .. e2e.q(initrd)
    .. " && echo yes")
  if readable ~= "yes\n" then
    t:skip(kernel .. " or " .. initrd .. " is not readable on this host")
  end
  local test_path = lua:match("^%-%- (tests/[%w_]+%.test%.lua)\n")
  t:assert(test_path, "the Lua block starts with its path")
  with_tmp(function(tmp)
    e2e.host("mkdir -p " .. e2e.q(tmp .. "/tests"))
    write(tmp .. "/provium.toml", toml)
    write(tmp .. "/" .. test_path, lua)
    local out, code = sh(tmp, env_in(tmp), e2e.q(e2e.exe) .. " --no-progress")
    t:log(out)
    t:assert_eq(code, 0, "the example suite passes")
    t:assert_eq(e2e.last_line(out), "1 passed, 0 failed, 0 skipped")
  end)
end)
