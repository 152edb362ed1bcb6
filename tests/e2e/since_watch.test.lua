-- since_watch.test.lua - `--since REF` and `--watch` (issue 12 part 6): which test files
-- a change selects, through helpers and fixtures (transitively), and the watch loop's
-- re-runs, its debounce and its end. Each test builds a private suite in a temp git
-- repository whose files boot no VM (a fixture is only named, in code that never runs,
-- which is all the scanner needs), and runs provium on it as a subprocess.
local e2e = require("lib.e2e")
local q = e2e.q

-- Calls fn(dir) with a fresh temp directory, removed afterwards even when fn raises.
local function with_tmp(fn)
  local dir = e2e.host("mktemp -d"):gsub("%s+$", "")
  assert(dir:match("^/.+"), "mktemp -d failed")
  local ok, err = pcall(fn, dir)
  e2e.host("rm -rf " .. q(dir))
  if not ok then error(err, 0) end
end

local function write(path, text)
  e2e.host("mkdir -p " .. q(path:match("^(.*)/[^/]*$")))
  local f = assert(io.open(path, "w"))
  f:write(text)
  f:close()
end

-- The suite, in tmp/repo (a git repository with one commit):
--   a.test.lua requires lib.h1          b.test.lua requires lib.h2
--   e.test.lua names fixture fx/top     c.test.lua depends on nothing
--   fx/top.fixture.lua names fx/base;   fx/base.fixture.lua requires lib.h3
--   lib/h3.lua requires lib.h4
-- Returns the repository directory and a sh(cmd) running there.
local function suite(tmp)
  local repo = tmp .. "/repo"
  write(repo .. "/provium.toml", '[provium]\nroots = ["tests"]\ncache_dir = "cache"\n')
  write(repo .. "/.gitignore", "cache/\n")
  local files = {
    ["tests/lib/h1.lua"] = "return { v = 1 }\n",
    ["tests/lib/h2.lua"] = "return { v = 2 }\n",
    ["tests/lib/h3.lua"] = 'return require("lib.h4")\n',
    ["tests/lib/h4.lua"] = "return { v = 4 }\n",
    ["tests/fx/base.fixture.lua"] = 'local h = require("lib.h3")\nreturn vm:snapshot()\n',
    ["tests/fx/top.fixture.lua"] = 'local vm = lab:vm_fixture("fx/base")\nreturn vm:snapshot()\n',
    ["tests/a.test.lua"] = 'local h = require("lib.h1")\ntest("a", function(t) t:assert_eq(h.v, 1) end)\n',
    ["tests/b.test.lua"] = 'local h = require("lib.h2")\ntest("b", function(t) t:assert_eq(h.v, 2) end)\n',
    ["tests/c.test.lua"] = 'test("c", function(t) end)\n',
    ["tests/e.test.lua"] = 'test("e", function(t)\n  if false then provium:vm_fixture("fx/top") end\nend)\n',
  }
  for path, text in pairs(files) do write(repo .. "/" .. path, text) end
  local function sh(cmd)
    return (e2e.host("cd " .. q(repo) .. " && " .. cmd .. " 2>&1"):gsub("%s+$", ""))
  end
  sh("git init -q . && git add -A && git -c user.name=t -c user.email=t@t commit -qm one")
  return repo, sh
end

-- Private state for the sub-runs (rerun state, XDG cache) outside the repository.
local function env(tmp)
  return "XDG_CACHE_HOME=" .. q(tmp .. "/xdg") .. " PROVIUM_RERUN_STATE=" .. q(tmp .. "/rerun.json")
end

-- The files a report ran, sorted and joined by spaces ("a c" for tests/a and tests/c).
local function ran(out)
  local names = {}
  for name in out:gmatch("\n?%u%u%u%u? +tests/(%w+)%.test%.lua") do names[#names + 1] = name end
  table.sort(names)
  return table.concat(names, " ")
end

test("--since REF runs the changed test files and those whose helpers or fixtures changed", function(t)
  with_tmp(function(tmp)
    local repo, sh = suite(tmp)
    local function since(ref)
      local out, code = e2e.provium({"--no-progress", "--since", ref}, repo, env(tmp))
      t:log("--since " .. ref .. ":\n" .. out)
      return out, code
    end
    -- a helper two requires below a fixture that another fixture names: only e
    sh("echo '-- edited' >> tests/lib/h4.lua")
    local out, code = since("HEAD")
    t:assert_eq(code, 0)
    t:assert_eq(ran(out), "e", "h4 -> h3 -> fx/base -> fx/top -> e")
    t:assert_contains(out, "1 file in")
    -- a helper a test requires itself, staged: b too; an untracked test file counts
    sh("echo '-- edited' >> tests/lib/h2.lua && git add tests/lib/h2.lua")
    write(repo .. "/tests/n.test.lua", 'test("n", function(t) end)\n')
    t:assert_eq(ran((since("HEAD"))), "b e n")
    -- a commit is a change since the ref before it, not since HEAD
    sh("git add -A && git -c user.name=t -c user.email=t@t commit -qm two")
    t:assert_eq(ran((since("HEAD~1"))), "b e n")
    -- nothing changed: the report of a selection that keeps nothing, exit 0
    out, code = since("HEAD")
    t:assert_eq(code, 0)
    t:assert_eq(ran(out), "")
    t:assert_contains(out, "no test matched --since 'HEAD'")
    t:assert_eq(e2e.last_line(out), "0 passed, 0 failed, 0 skipped")
    -- provium.toml changed: every file
    sh("echo '# edited' >> provium.toml")
    t:assert_eq(ran((since("HEAD"))), "a b c e n")
    -- an unknown ref is a usage error naming it
    out, code = since("no-such-ref")
    t:assert_eq(code, 2)
    t:assert_contains(out, "provium: --since: unknown git ref 'no-such-ref' (see provium --help)")
    t:assert_eq(ran(out), "")
  end)
end)

test("--since FILE (the spec's older form) runs the test files modified after FILE", function(t)
  with_tmp(function(tmp)
    local repo, sh = suite(tmp)
    -- everything old, then a stamp, then one test and one helper edited after it
    sh("find . -path ./.git -prune -o -type f -exec touch -d '2020-01-01' {} + && touch -d '2021-01-01' ../stamp")
    sh("echo '-- edited' >> tests/c.test.lua && echo '-- edited' >> tests/lib/h1.lua")
    local out, code = e2e.provium({"--no-progress", "--since", tmp .. "/stamp"}, repo, env(tmp))
    t:log(out)
    t:assert_eq(code, 0)
    t:assert_eq(ran(out), "a c")
    -- neither a ref nor a file: the usage error names it
    out, code = e2e.provium({"--no-progress", "--since", tmp .. "/nothing"}, repo, env(tmp))
    t:assert_eq(code, 2)
    t:assert_contains(out, "unknown git ref")
  end)
end)

-- Waits (up to secs) until the shell condition holds in dir; true when it did.
local function wait_for(dir, cond, secs)
  return e2e.host("cd " .. q(dir) .. " && for i in $(seq 1 " .. secs * 20 .. "); do if " .. cond
    .. "; then echo yes; break; fi; sleep 0.05; done"):match("yes") ~= nil
end

-- Calls fn(w) with `provium --no-progress --watch ARGS...` running in the background in a
-- fresh suite (tmp/out.txt gets its output), tagged so that every process of the run can
-- be found. w has repo, sh, out() (the output so far), wait_for(cond, secs) (in tmp),
-- tagged() (the PIDs of the run still alive), stop() (SIGINT; the exit code once it
-- ended, nil if not within 10 s). Whatever is left afterwards is killed.
local function with_watch(args, fn)
  with_tmp(function(tmp)
    local repo, sh = suite(tmp)
    local tag = e2e.host("mktemp -u XXXXXXXXXX"):gsub("%s+$", "")
    local quoted = {}
    for i, a in ipairs(args) do quoted[i] = q(a) end
    e2e.host("cd " .. q(repo) .. " && (PROVIUM_WATCH_TAG=" .. tag .. " " .. env(tmp) .. " "
      .. q(e2e.exe) .. " --no-progress --watch " .. table.concat(quoted, " ") .. " > "
      .. q(tmp .. "/out.txt") .. " 2>&1 & echo $! > " .. q(tmp .. "/pid") .. "; wait $!; echo $? > "
      .. q(tmp .. "/rc") .. ") > /dev/null 2>&1 &")
    local w = {repo = repo, sh = sh, tag = tag}
    function w.out() return e2e.read(tmp .. "/out.txt") or "" end
    function w.wait_for(cond, secs) return wait_for(tmp, cond, secs) end
    function w.tagged()
      return e2e.host("grep -l -s -a 'PROVIUM_WATCH_TAG=" .. tag .. "' /proc/[0-9]*/environ"
        .. " | cut -d/ -f3 | tr '\\n' ' '"):gsub("%s+$", "")
    end
    function w.stop()
      e2e.host("kill -INT $(cat " .. q(tmp .. "/pid") .. ")")
      if not wait_for(tmp, "[ -s rc ]", 10) then return nil end
      return tonumber(e2e.read(tmp .. "/rc"))
    end
    local ok, err = pcall(fn, w)
    local left = w.tagged()
    if left ~= "" then e2e.host("kill -9 " .. left .. " 2>/dev/null; true") end
    if not ok then error(err, 0) end
  end)
end

-- How many summaries (last report lines) an output holds.
local function summaries(out)
  return e2e.count(out, "%d+ passed, %d+ failed, %d+ skipped\n")
end

test("--watch re-runs the affected files per burst of changes and ends on Ctrl-C", function(t)
  with_watch({}, function(w)
    t:assert(w.wait_for("grep -q 'watching for changes' out.txt", 60), "the first run ended")
    t:assert_eq(ran(w.out()), "a b c e", "the first run runs everything")
    -- a burst: several writes to one helper within the debounce, one re-run of a only
    w.sh("for i in 1 2 3; do echo \"-- $i\" >> tests/lib/h1.lua; sleep 0.05; done")
    t:assert(w.wait_for("[ $(grep -c 'passed, .* skipped$' out.txt) -ge 2 ]", 60), "a second run")
    -- something no test depends on runs nothing; then one burst: a fixture's helper
    -- (e) and a broken helper of b
    w.sh("touch tests/notes.txt")
    w.sh("sleep 1 && echo '-- edited' >> tests/lib/h4.lua && echo 'error(\"broken\")' >> tests/lib/h2.lua")
    t:assert(w.wait_for("[ $(grep -c 'passed, .* skipped$' out.txt) -ge 3 ]", 60), "a third run")
    t:assert(w.wait_for("[ $(grep -c 'watching for changes' out.txt) -ge 3 ]", 10), "watching again")
    local out = w.out()
    t:log(out)
    t:assert_eq(summaries(out), 3, "one run per burst, none for notes.txt")
    local second = out:match("changed: tests/lib/h1%.lua\n(.-)provium: watching")
    t:assert(second ~= nil, "the second run names the helper")
    t:assert_eq(ran(second), "a")
    -- the last run's "changed:" line (a starved watcher may read notes.txt's event with
    -- this burst's: it is then named too, and still selects nothing)
    local names, third
    for n, body in out:gmatch("changed: ([^\n]*)\n(.-)provium: watching") do names, third = n, body end
    t:assert(names ~= nil and names:find("h2.lua", 1, true) and names:find("h4.lua", 1, true),
      "the third run names both helpers")
    t:assert_eq(ran(third), "b e")
    t:assert_contains(third, "ERR  tests/b.test.lua")
    -- Ctrl-C between runs: the exit code is the last run's (1: b failed), nothing left
    t:assert_eq(w.stop(), 1)
    t:assert_eq(w.tagged(), "", "no process of the run is left")
  end)
end)

test("--watch: a provium.toml change runs every file, a broken one is reported and watched", function(t)
  with_watch({"tests/c.test.lua", "tests/a.test.lua"}, function(w)
    t:assert(w.wait_for("grep -q 'watching for changes' out.txt", 60), "the first run ended")
    w.sh("echo 'roots = [' >> provium.toml")
    t:assert(w.wait_for("[ $(grep -c 'watching for changes' out.txt) -ge 2 ]", 60), "still watching")
    t:assert_contains(w.out(), "provium: provium.toml:")
    w.sh("git checkout -q provium.toml")
    t:assert(w.wait_for("[ $(grep -c 'watching for changes' out.txt) -ge 3 ]", 60), "a run")
    local out = w.out()
    t:log(out)
    t:assert_eq(summaries(out), 2, "the broken config ran nothing")
    local last = out:match(".*changed: provium%.toml; running every file\n(.-)provium: watching")
    t:assert(last ~= nil, "the config change is named")
    t:assert_eq(ran(last), "a c", "every file of the PATHS")
    t:assert_eq(w.stop(), 0)
  end)
end)

test("--watch: Ctrl-C during a re-run interrupts it as in any run (130, nothing left)", function(t)
  with_watch({"tests/c.test.lua"}, function(w)
    t:assert(w.wait_for("grep -q 'watching for changes' out.txt", 60), "the first run ended")
    write(w.repo .. "/tests/c.test.lua", 'test("c", function(t) os.execute("sleep 31") end)\n')
    t:assert(w.wait_for("grep -l -s -a 'PROVIUM_WATCH_TAG=" .. w.tag
      .. "' /proc/[0-9]*/environ | sed 's/environ$/cmdline/' | xargs -r grep -l -s -a 'sleep.31'"
      .. " | grep -q .", 60), "the re-run is in its test")
    t:assert_eq(w.stop(), 130)
    local out = w.out()
    t:log(out)
    t:assert_contains(out, "INT  tests/c.test.lua")
    t:assert_contains(out, "interrupted by SIGINT: 1 file stopped, 0 not started")
    t:assert_eq(e2e.count(out, "watching for changes"), 1, "the watch ended with the run")
    t:assert_eq(w.tagged(), "", "no process of the run is left")
  end)
end)
