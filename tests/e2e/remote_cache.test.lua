-- remote_cache.test.lua - the remote fixture cache against a real server (issue 13 part
-- 5): Debian's nginx with WebDAV PUT/DELETE on a free port of 127.0.0.1, serving a
-- private directory, started by this test and killed by its PID at the end (also when
-- an assertion fails; a watchdog shell kills it if this worker dies first).
--
-- The case suite tests/cases/remote has two test files sharing one small fixture.
-- The shards run one after the other (sequentially: the .building marker is a
-- best-effort lock, and a test on its race would be flaky), each with its own empty
-- local cache and the same remote: one builds and uploads, the other downloads. Then a
-- truncated remote object is a warning and a rebuild that uploads it whole again, and
-- a dead server is a warning while the run still passes.
local e2e = require("lib.e2e")
local q = e2e.q
local NGINX = "/usr/sbin/nginx"

local function trim(s)
  return (s:gsub("%s+$", ""))
end

-- Starts nginx serving dir/root on a free port; returns the port and nginx's PID.
local function start_nginx(dir)
  local port = trim(e2e.host("python3 -c 'import socket; s = socket.socket(); " ..
    "s.bind((\"127.0.0.1\", 0)); print(s.getsockname()[1])'"))
  e2e.host("mkdir -p " .. q(dir .. "/root") .. " " .. q(dir .. "/tmp"))
  local f = assert(io.open(dir .. "/nginx.conf", "w"))
  f:write((([[
worker_processes 1;
master_process off;
daemon off;
pid D/nginx.pid;
error_log D/error.log;
events { worker_connections 64; }
http {
  access_log D/access.log;
  client_body_temp_path D/tmp/body;
  proxy_temp_path D/tmp/proxy;
  fastcgi_temp_path D/tmp/fastcgi;
  uwsgi_temp_path D/tmp/uwsgi;
  scgi_temp_path D/tmp/scgi;
  server {
    listen 127.0.0.1:PORT;
    root D/root;
    client_max_body_size 0;
    location / {
      dav_methods PUT DELETE;
      create_full_put_path on;
      dav_access user:rw;
    }
  }
}
]]):gsub("D/", dir .. "/"):gsub("PORT", port)))
  f:close()
  local worker = trim(e2e.host("echo $PPID"))
  local pid = trim(e2e.host(q(NGINX) .. " -p " .. q(dir) .. " -c " .. q(dir .. "/nginx.conf") ..
    " -e " .. q(dir .. "/error.log") .. " > " .. q(dir .. "/nginx.out") .. " 2>&1 & echo $!"))
  -- the watchdog: nginx goes when this worker goes, whatever ends it
  e2e.host("(while kill -0 " .. worker .. " 2>/dev/null && kill -0 " .. pid ..
    " 2>/dev/null; do sleep 1; done; kill " .. pid .. " 2>/dev/null) > /dev/null 2>&1 &")
  wait_until(function()
    return e2e.host("python3 -c 'import socket; socket.create_connection((\"127.0.0.1\", " ..
      port .. "), 1)' 2>/dev/null && echo up") == "up\n"
  end, {timeout = 10, interval = 0.1, desc = "nginx to listen"})
  return port, pid
end

-- The events of a run's --events file whose kind starts with fixture_remote_ or
-- fixture_build_ (a local wait's fixture_build_done, marked waited, left out).
local function events_of(path, kind)
  local n = 0
  for line in (e2e.read(path) or ""):gmatch("[^\n]+") do
    local ev = json.decode(line)
    if ev.kind == kind and not ev.waited then n = n + 1 end
  end
  return n
end

-- Runs provium in work with its own local cache (a fresh directory `cache`) and the
-- remote; returns the output, the exit code and the events file.
local function run(work, cache, url, tag, ...)
  local events = work .. "/" .. tag .. ".jsonl"
  local env = "PROVIUM_FIXTURE_CACHE=" .. q(work .. "/" .. cache)
  local out, code = e2e.provium({"--no-progress", "--cpu-overcommit", "4", "--timeout", "200",
    "--remote-cache", url, "--events", events, ...}, work, env)
  return out, code, events
end

local function steps(t, work, srv, port, pid)
  local url = "http://127.0.0.1:" .. port .. "/fixtures"
  -- two shards, one after the other, each with an empty local cache
  local out1, code1, ev1 = run(work, "cache1", url, "shard1", "--shard", "1/2")
  t:log("shard 1/2: " .. out1)
  local out2, code2, ev2 = run(work, "cache2", url, "shard2", "--shard", "2/2")
  t:log("shard 2/2: " .. out2)
  t:assert_eq(code1, 0, "shard 1 passed")
  t:assert_eq(code2, 0, "shard 2 passed")
  t:assert_eq(e2e.count(out1, "PASS tests/"), 1, "shard 1 ran one file")
  t:assert_eq(e2e.count(out2, "PASS tests/"), 1, "shard 2 ran the other one")
  t:assert_eq(events_of(ev1, "fixture_build_done") + events_of(ev2, "fixture_build_done"), 1,
    "the fixture was built once in total")
  t:assert_eq(events_of(ev1, "fixture_remote_put"), 1, "the building shard uploaded it")
  t:assert_eq(events_of(ev2, "fixture_remote_hit"), 1, "the other shard downloaded it")
  t:assert_eq(events_of(ev2, "fixture_build_started"), 0, "the other shard built nothing")
  t:assert_eq((e2e.host("ls " .. q(srv .. "/root/fixtures")):gsub(string.rep("%x", 64), "KEY")),
    "KEY.snap\nKEY.snap.sha256\n", "the object and its digest; the .building marker is gone")

  -- the merged report counts both files' tests once
  local merged, mcode = e2e.provium({"report", "merge", ev1, ev2}, work)
  t:log("merged: " .. merged)
  t:assert_eq(mcode, 0, "the merged report passes")
  t:assert(merged:match("2 passed, 0 failed, 0 skipped") ~= nil, "every test counted once")

  -- a truncated object: a warning, a local build and a whole upload again
  local obj = trim(e2e.host("ls " .. q(srv .. "/root/fixtures") .. "/*.snap"))
  local size = tonumber(trim(e2e.host("stat -c %s " .. q(obj))))
  e2e.host("truncate -s " .. (size // 2) .. " " .. q(obj))
  local out3, code3, ev3 = run(work, "cache3", url, "truncated")
  t:log("truncated: " .. out3)
  t:assert_eq(code3, 0, "the run with a truncated remote object passed")
  t:assert(out3:match("provium: warning: remote fixture fixtures/shared %(%x+%): " ..
    "digest mismatch") ~= nil, "the warning line")
  t:assert_eq(events_of(ev3, "fixture_build_done"), 1, "the fixture was rebuilt")
  t:assert_eq(events_of(ev3, "fixture_remote_put"), 1, "and uploaded again")
  local digest = e2e.read(obj .. ".sha256") or ""
  local actual = e2e.host("sha256sum " .. q(obj))
  t:assert_eq(digest:sub(1, 64), actual:sub(1, 64), "the object is whole: its digest matches")
  t:assert(tonumber(trim(e2e.host("stat -c %s " .. q(obj)))) > size // 2, "not truncated")
  t:assert_eq(trim(e2e.host("ls -A " .. q(work .. "/cache3") .. " | grep -c tmp- || true")), "0",
    "no temp file left in the local cache")

  -- warming by hand: pull into an empty cache, then push finds nothing to upload
  local function fixture_cmd(cache, verb)
    return e2e.provium({"fixture", verb, "--remote-cache", url}, work,
      "PROVIUM_FIXTURE_CACHE=" .. q(work .. "/" .. cache))
  end
  local pulled, pcode = fixture_cmd("cache5", "pull")
  t:log("pull: " .. pulled)
  t:assert_eq(pcode, 0, "fixture pull exits 0")
  t:assert(pulled:match("pulled fixtures/shared") ~= nil, "fixture pull downloaded it")
  t:assert_eq(trim(e2e.host("ls " .. q(work .. "/cache5") ..
    " | grep -cE '^[0-9a-f]{64}[.]snap$' || true")), "1", "the entry is in the local cache")
  local pushed, pucode = fixture_cmd("cache5", "push")
  t:log("push: " .. pushed)
  t:assert_eq(pucode, 0, "fixture push exits 0")
  t:assert(pushed:match("0 pushed, 1 already on the remote, 0 failed") ~= nil,
    "the pulled entry is already on the remote")

  -- a dead server: one warning line, local builds, the run passes
  e2e.host("kill " .. pid)
  wait_until(function() return e2e.host("kill -0 " .. pid .. " 2>/dev/null || echo gone") ~= "" end,
    {timeout = 10, interval = 0.1, desc = "nginx to stop"})
  local out4, code4, ev4 = run(work, "cache4", url, "down")
  t:log("down: " .. out4)
  t:assert_eq(code4, 0, "the run without a server passed")
  t:assert_eq(e2e.count(out4, "provium: warning: remote cache [^\n]* unreachable"), 1,
    "one warning line")
  t:assert_eq(events_of(ev4, "fixture_build_done"), 1, "built locally")
  local dead, dcode = fixture_cmd("cache6", "pull")
  t:log("pull from a dead server: " .. dead)
  t:assert_eq(dcode, 1, "fixture pull from a dead server fails")
end

test("two shards build a fixture once through nginx; corrupt or dead remotes are warnings",
  function(t)
    if not io.open(NGINX) then t:skip("nginx is not installed (scripts/setup.sh installs it)") end
    local work, write = e2e.private_case("remote")
    e2e.remove_when_done(work)
    -- no cache_dir in the file: each run names its own with PROVIUM_FIXTURE_CACHE
    local toml = e2e.read(work .. "/provium.toml"):gsub('cache_dir = "cache"\n', "")
    write("provium.toml", toml)
    local srv = work .. "/server"
    local port, pid = start_nginx(srv)
    local ok, err = pcall(steps, t, work, srv, port, pid)
    e2e.host("kill " .. pid .. " 2>/dev/null")
    if not ok then error(err, 0) end
  end)
