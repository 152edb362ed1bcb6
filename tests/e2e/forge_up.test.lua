-- forge_up.test.lua - `provium forge emit` and `forge up` with the built-in qemu backend
-- (spec §10.6), run as host commands on the examples under examples/forge/: the greeting
-- reaches the console and the service's status is up's exit code; -p really forwards a
-- host port to a guest service (busybox httpd from the bundled source); --detach with
-- ls, logs and down; down of an unknown name; emit of a .py entry. Every run gets a
-- private XDG_CACHE_HOME and XDG_RUNTIME_DIR. Three boots in all (TCG).
local e2e = require("lib.e2e")

local root = e2e.dir:gsub("/tests/e2e$", "")
local hello = root .. "/examples/forge/hello/manifest.json"
local with_source = root .. "/examples/forge/with-source/app.py"

-- Calls fn(tmp, env) with a private temp dir and the env prefix pointing the forge's
-- cache and state into it; always removes it, downing what it left detached.
local function with_forge(fn)
  local tmp = e2e.host("mktemp -d"):gsub("%s+$", "")
  assert(tmp:match("^/.+"), "mktemp -d failed")
  local env = "TMPDIR=" .. e2e.q(tmp) .. " XDG_CACHE_HOME=" .. e2e.q(tmp .. "/cache") .. " XDG_RUNTIME_DIR=" .. e2e.q(tmp .. "/run")
  local ok, err = pcall(fn, tmp, env)
  for name in e2e.host("ls " .. e2e.q(tmp .. "/run/provium/forge") .. " 2>/dev/null"):gmatch("%S+") do
    e2e.provium({"forge", "down", name}, tmp, env)
  end
  e2e.host("rm -rf " .. e2e.q(tmp))
  if not ok then error(err, 0) end
end

-- The QEMUs whose command line names tmp (their initrd lives there); "" when none.
-- "[q]" keeps pgrep from matching the shell that runs it.
local function qemus(tmp)
  return e2e.host("pgrep -f " .. e2e.q("[q]emu-system.*" .. tmp) .. " || true")
end

-- A TCP port nobody listens on now.
local function free_port()
  return tonumber(e2e.host([[python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])']]))
end

test("emit of a .py entry prints its canonical IR, and a failing program exits 2", function(t)
  with_forge(function(tmp, env)
    local ir = e2e.host("cd " .. e2e.q(tmp) .. " && " .. env .. " " .. e2e.q(e2e.exe) .. " forge emit "
      .. e2e.q(with_source) .. " 2>/dev/null")
    t:assert(ir:sub(1, 10) == '{"apps":[{', "canonical IR on stdout: " .. ir)
    t:assert(not ir:find("\n", 1, true) and not ir:find(": ", 1, true), "no whitespace: " .. ir)
    t:assert_contains(ir, '"id":"with-source"')
    -- the same as canonicalizing what the program wrote
    local again = e2e.host("cd " .. e2e.q(tmp) .. " && PROVIUM_FORGE_IR_OUT=ir.json PROVIUM_FORGE_EMITTING=1 python3 "
      .. e2e.q(with_source) .. " && " .. e2e.q(e2e.exe) .. " forge canonicalize ir.json")
    t:assert_eq(ir, again)

    local bad = tmp .. "/bad.sh"
    e2e.host("printf '#!/bin/sh\\necho oops\\nexit 3\\n' >" .. e2e.q(bad) .. " && chmod +x " .. e2e.q(bad))
    local out, code = e2e.provium({"forge", "emit", bad}, tmp, env)
    t:assert_eq(code, 2, out)
    t:assert_contains(out, "provium: forge emit: " .. bad .. " exited with status 3")
  end)
end)

test("up of the hello example prints the greeting and exits with the service's status", function(t)
  with_forge(function(tmp, env)
    local out, code = e2e.provium({"forge", "up", hello, "-e", "HELLO_EXIT=7", "--memory", "256M"}, tmp, env)
    t:log(out)
    t:assert_contains(out, "hello from forge")
    t:assert_contains(out, "forge: service hello exited with status 7")
    t:assert_eq(code, 7, "up exits with the service's status")
    -- compiled into the cache as <id>-<ir_hash prefix>
    local dirs = e2e.host("ls " .. e2e.q(tmp .. "/cache/provium/forge"))
    t:assert(dirs:match("^hello%-%x%x%x%x%x%x%x%x%x%x%x%x\n$"), "cache dir: " .. dirs)
    -- no QEMU of ours left behind
    t:assert_eq(qemus(tmp), "")
  end)
end)

test("-p forwards a host port to a detached guest's httpd; ls, logs, down", function(t)
  with_forge(function(tmp, env)
    local port = free_port()
    local out, code = e2e.provium({"forge", "up", with_source, "-d", "--name", "web",
      "-p", port .. ":80", "-e", "FORGE_SERVE_PORT=80", "-e", "FORGE_SERVE_SECONDS=120", "-e", "WHO=cli"}, tmp, env)
    t:log(out)
    t:assert_eq(code, 0, "detached up")
    t:assert_contains(out, "web\n")
    local ls = e2e.provium({"forge", "ls"}, tmp, env)
    t:assert(ls:match("^web\trunning\t%d+\n"), "ls: " .. ls)

    local page = wait_until(function()
      local body = e2e.host("curl -s --max-time 2 http://127.0.0.1:" .. port .. "/ || true")
      return body ~= "" and body
    end, {timeout = 90, interval = 1, desc = "the guest's httpd through the forwarded port"})
    t:assert_eq(page, "hello from a bundled forge workload\n")

    local logs = e2e.provium({"forge", "logs", "web"}, tmp, env)
    -- the entrypoint's GREETING beat the app's; -e WHO beat the app's WHO; preStart linked /app
    t:assert_contains(logs, "hello from a bundled forge workload (cwd /app, who=cli)")
    t:assert_contains(logs, "greet: serving on port 80")

    local down, dcode = e2e.provium({"forge", "down", "web"}, tmp, env)
    t:assert_eq(dcode, 0, down)
    t:assert_eq(e2e.provium({"forge", "ls"}, tmp, env), "")
    t:assert_eq(qemus(tmp), "", "QEMU gone after down")
    t:assert_eq(e2e.host("curl -s --max-time 2 http://127.0.0.1:" .. port .. "/ || true"), "")

    local again, acode = e2e.provium({"forge", "down", "web"}, tmp, env)
    t:assert_eq(acode, 2, "down of an unknown name")
    t:assert_eq(again, "provium: forge down: no detached workload named 'web' (see `provium forge ls`)\n")
  end)
end)

test("an artifact dir, detached, that ends: logs -f follows it to its end, ls says exited, down clears it", function(t)
  with_forge(function(tmp, env)
    -- ENTRY may be an artifact directory: its launch.json names the workload
    local cout, ccode = e2e.provium({"forge", "compile", hello, "--out", tmp .. "/art"}, tmp, env)
    t:assert_eq(ccode, 0, cout)
    local out, code = e2e.provium({"forge", "up", tmp .. "/art", "--detach"}, tmp, env)
    t:assert_eq(code, 0, out)
    t:assert_eq(out, "hello\n", "the name defaults to the workload id")
    local logs, lcode = e2e.provium({"forge", "logs", "hello", "-f"}, tmp, env)
    t:assert_eq(lcode, 0, logs)
    t:assert_contains(logs, "hello from forge")
    t:assert_contains(logs, "forge: service hello exited with status 0")
    t:assert(e2e.provium({"forge", "ls"}, tmp, env):match("^hello\texited\t%d+\n$"), "ls after the end")
    t:assert_eq(e2e.provium({"forge", "down", "hello"}, tmp, env), "hello\n")
    t:assert_eq(e2e.provium({"forge", "ls"}, tmp, env), "")
  end)
end)

test("the generated /init: hostname, tmpfs and volume mounts, bridge networking, preStart link", function(t)
  with_forge(function(tmp, env)
    e2e.host("mkdir -p " .. e2e.q(tmp .. "/m/app") .. " && echo x >" .. e2e.q(tmp .. "/m/app/file"))
    local f = assert(io.open(tmp .. "/m/manifest.json", "w"))
    -- (written out: json.encode cannot tell an empty array from an empty object)
    f:write([[{"schema_version": "0.1", "id": "mounty", "volumes": [{"name": "data", "size_mb": 32}],
  "apps": [{"name": "svc", "source": {"kind": "local_path", "path": "app"},
    "image": {"kind": "nix_packages", "packages": []},
    "entrypoint": {"working_dir": "/srv/app", "command": ["/bin/sh", "-c",
      "hostname; grep -E ' /(scratch|data) ' /proc/mounts; ip -4 addr show eth0 | grep inet; ip route | grep default; readlink /srv/app; cat file; pwd"]},
    "mounts": [{"target": "/scratch", "source": {"kind": "tmpfs", "size_mb": 16}, "mode": "rw"},
               {"target": "/data", "source": {"kind": "volume", "name": "data"}, "mode": "ro"}],
    "network": {"mode": "bridge", "ports": []}}]}]])
    f:close()
    local out, code = e2e.provium({"forge", "up", tmp .. "/m/manifest.json"}, tmp, env)
    t:log(out)
    t:assert_eq(code, 0)
    for _, want in ipairs({"\nmounty\r?\n", "tmpfs /scratch tmpfs rw,[^\n]*size=16384k",
        "tmpfs /data tmpfs ro,", "inet 10%.0%.2%.15/24 [^\n]*eth0", "default via 10%.0%.2%.2",
        "\n/forge/src\r?\nx\r?\n/srv/app\r?\n", "forge: service svc exited with status 0"}) do
      t:assert(out:find(want), "console has " .. want)
    end
  end)
end)

test("an interrupted foreground up exits 130 and leaves no QEMU", function(t)
  with_forge(function(tmp, env)
    -- a background job of sh starts with SIGINT ignored; Ctrl-C meets the default
    local dfl = [[import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); os.execvp(sys.argv[1], sys.argv[1:])]]
    local out = e2e.host("cd " .. e2e.q(tmp) .. " || exit 1; " .. env .. " python3 -c " .. e2e.q(dfl) .. " "
      .. e2e.q(e2e.exe) .. " forge up "
      .. e2e.q(with_source) .. " -e FORGE_SERVE_PORT=80 >out.txt 2>&1 & p=$!; "
      .. "i=0; while [ $i -lt 900 ] && ! grep -q 'serving on port' out.txt; do sleep 0.1; i=$((i+1)); done; "
      .. "kill -INT $p; wait $p; echo \"exit=$?\"; cat out.txt")
    t:log(out)
    t:assert_contains(out, "greet: serving on port 80")
    t:assert_contains(out, "exit=130")
    t:assert_contains(out, "provium: forge up: the qemu backend does not install image packages (busybox)")
    t:assert_eq(qemus(tmp), "")
  end)
end)

test("--watch reboots when the IR changes, prints a failed compile's envelope and waits", function(t)
  with_forge(function(tmp, env)
    local q = e2e.q
    e2e.host("cp -r " .. q(root .. "/examples/forge/hello") .. " " .. q(tmp .. "/w"))
    local m = tmp .. "/w/manifest.json"
    local original = e2e.host("cat " .. q(m))
    local function write(text)
      local f = assert(io.open(m .. ".new", "w"))
      f:write(text)
      f:close()
      assert(os.rename(m .. ".new", m))
    end
    local function out() return e2e.host("cat " .. q(tmp .. "/out.txt") .. " 2>/dev/null") end
    local function see(what, n)
      return wait_until(function() return e2e.count(out(), what) >= (n or 1) end,
        {timeout = 90, interval = 0.2, desc = what})
    end
    local dfl = [[import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); os.execvp(sys.argv[1], sys.argv[1:])]]
    e2e.host("cd " .. q(tmp) .. " || exit 1; (" .. env .. " python3 -c " .. q(dfl) .. " " .. q(e2e.exe)
      .. " forge up " .. q(m) .. " --watch >out.txt 2>&1; echo $? >rc) >/dev/null 2>&1 & echo $! >pid")
    local ok, err = pcall(function()
      see("forge: service hello exited with status 0")
      see("hello from forge\r?\n")
      -- same IR, new mtime: recompiled, no reboot
      e2e.host("sleep 0.1; touch " .. q(m) .. "; sleep 2")
      t:assert_eq(e2e.count(out(), "exited with status"), 1, "no reboot for an unchanged IR")
      write((original:gsub("hello from forge", "hello again")))
      see("rebooting")
      see("hello again\r?\n")
      see("exited with status", 2)
      write("{\"schema_version\": \"0.1\"}")
      see('{"errors":%[{"code":"E_MALFORMED_MANIFEST"')
      see("the compile failed; waiting for the next change")
      write((original:gsub("hello from forge", "third time")))
      see("third time\r?\n")
      see("exited with status", 3)
    end)
    local pid = e2e.host("cat " .. q(tmp .. "/pid")):gsub("%s+", "")
    e2e.host("pkill -INT -P " .. pid .. " -f " .. q("forge up") .. "; for i in $(seq 1 100); do [ -e "
      .. q(tmp .. "/rc") .. " ] && break; sleep 0.1; done")
    t:log(out())
    if not ok then error(err, 0) end
    t:assert_eq(e2e.host("cat " .. q(tmp .. "/rc")), "130\n")
    t:assert_eq(qemus(tmp), "")
  end)
end)
