-- cli.test.lua - the command line itself: `provium init` gives a suite that passes out of
-- the box, `lsp-setup` writes editor support, every subcommand has --help, and unknown
-- flags are usage errors. Runs provium as a subprocess in private temp directories.
local e2e = require("lib.e2e")

-- Calls fn(dir) with a fresh private temp directory and removes it afterwards, even
-- when fn raises (assertions raise), re-raising the error.
local function with_tmp(fn)
  local dir = e2e.host("mktemp -d"):gsub("%s+$", "")
  assert(dir:match("^/.+"), "mktemp -d failed")
  local ok, err = pcall(fn, dir)
  e2e.host("rm -rf " .. e2e.q(dir))
  if not ok then error(err, 0) end
end

local read = e2e.read

-- every entry below dir (find output, sorted), to prove nothing was written
local function tree(dir)
  return e2e.host("cd " .. e2e.q(dir) .. " && find . | sort")
end

test("init writes a starter suite that passes as is", function(t)
  with_tmp(function(tmp)
    local out, code = e2e.provium({"init", "demo"}, tmp)
    t:log(out)
    t:assert_eq(code, 0, "init")
    for _, f in ipairs({"provium.toml", "tests/smoke.test.lua", "tests/fixtures/base.fixture.lua",
                        ".provium-meta/types.lua", ".luarc.json"}) do
      t:assert_contains(out, "wrote demo/" .. f)
      t:assert(read(tmp .. "/demo/" .. f) ~= nil, f .. " exists")
    end
    t:assert_contains(out, "next: cd demo && ")
    local toml = read(tmp .. "/demo/provium.toml")
    t:assert_contains(toml, 'roots = ["tests"]')
    t:assert_contains(toml, "[profiles.default]")
    -- committable: the build names the running provium through $PROVIUM_EXE, never by path
    t:assert_contains(toml, [[build = '"$PROVIUM_EXE" image build --out "{out}"']])
    t:assert(not toml:find(e2e.exe, 1, true), "no path of the provium binary: " .. toml)
    t:assert(not toml:find(tmp, 1, true), "no path of this machine: " .. toml)
    t:assert_contains(read(tmp .. "/demo/tests/smoke.test.lua"), 'provium:vm_fixture("fixtures/base")')

    -- the suite itself: image build, a boot, a fixture build and its restore; the
    -- builds and the fixture cache stay inside tmp. No $PROVIUM_EXE from this run:
    -- provium sets it for the build command itself.
    local env = "env -u PROVIUM_FIXTURE_CACHE -u PROVIUM_BUILD_DIR -u PROVIUM_EXE XDG_CACHE_HOME="
      .. e2e.q(tmp .. "/cache")
    local run, rc = e2e.provium({"--no-progress"}, tmp .. "/demo", env)
    t:log(run)
    t:assert_eq(rc, 0, "the starter suite passes")
    t:assert_contains(run, "PASS tests/smoke.test.lua (2 passed, 0 failed, 0 skipped)")
    t:assert_eq(e2e.last_line(run), "2 passed, 0 failed, 0 skipped")
  end)
end)

test("init refuses a non-empty directory and writes nothing; --force writes", function(t)
  with_tmp(function(tmp)
    local f = assert(io.open(tmp .. "/keep.txt", "w"))
    f:write("mine\n")
    f:close()
    local before = tree(tmp)
    local out, code = e2e.provium({"init"}, tmp)
    t:assert_eq(code, 2)
    t:assert_contains(out, "not empty")
    t:assert_contains(out, "--force")
    t:assert_eq(tree(tmp), before, "nothing written")
    local out2, code2 = e2e.provium({"init", tmp}, "/")
    t:assert_eq(code2, 2)
    t:assert_contains(out2, tmp .. " is not empty")
    t:assert_eq(tree(tmp), before, "nothing written")

    local out3, code3 = e2e.provium({"init", "--force"}, tmp)
    t:log(out3)
    t:assert_eq(code3, 0)
    t:assert_contains(out3, "wrote provium.toml")
    t:assert_contains(out3, "next: ")
    t:assert_eq(read(tmp .. "/keep.txt"), "mine\n", "other files are left alone")
    t:assert_contains(read(tmp .. "/tests/fixtures/base.fixture.lua"), "return vm:snapshot()")
  end)
end)

test("lsp-setup writes LuaLS annotations and .luarc.json, never overwriting", function(t)
  with_tmp(function(tmp)
    local out, code = e2e.provium({"lsp-setup"}, tmp)
    t:assert_eq(code, 0)
    t:assert_contains(out, "wrote .provium-meta/types.lua")
    t:assert_contains(out, "wrote .luarc.json")
    local types = read(tmp .. "/.provium-meta/types.lua")
    t:assert(types ~= nil, "types.lua written")
    t:assert_eq(types:sub(1, 8), "---@meta")
    t:assert(load(types, "types.lua") ~= nil, "types.lua is valid Lua")
    for _, want in ipairs({"---@class Vm", "---@class Lab", "---@class RunResult", "---@class TestContext",
                           "---@class Process", "---@class Stream", "---@class Snapshot", "---@class LabSnapshot",
                           "---@class Bridge", "---@class Nic", "---@class Console",
                           "---@class Clock", "---@class Batch", "---@class File",
                           "function Vm:run(", "function Lab:vm_fixture(", "function RunResult:assert_ok(",
                           "function TestContext:assert_eq(", "function wait_until(", "function json.decode(",
                           "function test(", "---@param", "---@return", "---@field exit_code integer"}) do
      t:assert_contains(types, want)
    end
    -- only what works: the spec's methods this build lacks are not declared
    for _, absent in ipairs({"function Vm:ioctl(", "function Vm:syscall(", "function Vm:read_mem("}) do
      t:assert(not types:find(absent, 1, true), absent .. " is not declared")
    end
    local rc = json.decode(read(tmp .. "/.luarc.json"))
    t:assert_eq(rc.runtime.version, "Lua 5.4")
    t:assert_eq(rc.workspace.library[1], ".provium-meta")
    local globals = table.concat(rc.diagnostics.globals, " ")
    for _, g in ipairs({"provium", "test", "todo", "wait_until", "json"}) do
      t:assert_contains(" " .. globals .. " ", " " .. g .. " ")
    end

    -- a second run refuses, naming the file; --force rewrites
    local out2, code2 = e2e.provium({"lsp-setup", "."}, tmp)
    t:assert_eq(code2, 2)
    t:assert_contains(out2, ".provium-meta/types.lua exists")
    local out3, code3 = e2e.provium({"lsp-setup", "--force"}, tmp)
    t:assert_eq(code3, 0, out3)
    -- into another directory, created on the way
    local _, code4 = e2e.provium({"lsp-setup", "sub/dir"}, tmp)
    t:assert_eq(code4, 0)
    t:assert_eq(read(tmp .. "/sub/dir/.provium-meta/types.lua"), types)
  end)
end)

test("every subcommand has --help and -h, without a config", function(t)
  with_tmp(function(tmp)
    local overall, code = e2e.provium({"--help"}, tmp)
    t:assert_eq(code, 0)
    t:assert_contains(overall, "usage: provium")
    for _, sub in ipairs({"prepare", "console", "repl", "list", "fixture", "image build", "init", "lsp-setup",
                          "--version", "--filter", "--no-build"}) do
      t:assert_contains(overall, sub)
    end
    local helps = {
      {"-h"}, {"help"}, {"--help-run"}, {"help", "init"},
      {"image", "--help"}, {"image", "build", "--help"},
      {"fixture", "--help"}, {"fixture", "list", "--help"}, {"fixture", "build", "--help"},
      {"fixture", "rebuild", "--help"}, {"fixture", "clean", "--help"}, {"fixture", "stale", "--help"},
      {"prepare", "--help"}, {"list", "--help"}, {"init", "--help"}, {"lsp-setup", "--help"},
    }
    for _, args in ipairs(helps) do
      for _, flag in ipairs(args[#args] == "--help" and {"--help", "-h"} or {false}) do
        local a = table.move(args, 1, #args, 1, {})
        if flag then a[#a] = flag end
        local out, rc = e2e.provium(a, tmp)
        local shown = table.concat(a, " ")
        t:assert_eq(rc, 0, shown)
        t:assert_contains(out, "usage", shown)
      end
    end
    local fb = e2e.provium({"fixture", "build", "--help"}, tmp)
    t:assert_contains(fb, "usage: provium fixture build PATH")
    local v = e2e.provium({"--version"}, tmp)
    t:assert(v:match("^provium %d+%.%d+%.%d+ %(agent protocol %d+%)") ~= nil, v)
    t:assert_eq(tree(tmp), ".\n", "--help writes nothing")
  end)
end)

test("an unknown flag is a usage error naming it (exit 2)", function(t)
  with_tmp(function(tmp)
    local cases = {
      {{}, "provium --help"},
      {{"image"}, "provium image --help"},
      {{"image", "build"}, "provium image build --help"},
      {{"fixture", "list"}, "provium fixture --help"},
      {{"prepare"}, "provium prepare --help"},
      {{"list"}, "provium list --help"},
      {{"init"}, "provium init --help"},
      {{"lsp-setup"}, "provium lsp-setup --help"},
    }
    for _, c in ipairs(cases) do
      local args = table.move(c[1], 1, #c[1], 1, {})
      args[#args + 1] = "--bogus-flag"
      local out, code = e2e.provium(args, tmp)
      local shown = table.concat(args, " ")
      t:assert_eq(code, 2, shown)
      t:assert_contains(out, "provium: unknown option '--bogus-flag' (see " .. c[2] .. ")", shown)
    end
    t:assert_eq(tree(tmp), ".\n", "nothing written")
  end)
end)
