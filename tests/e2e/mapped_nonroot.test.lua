-- mapped_nonroot.test.lua - mapped fixture restores without root (issue 14 follow-up):
-- QEMU 7.2 opens the 0400 template RAM file read-write, so a non-root provium starts
-- the mapped QEMU in a user namespace where its uid and gid are 0 (src/vm/userns.c).
-- A sub-run on a private copy of the labs case (fixtures/one, its own cache) runs as
-- uid/gid 65534 when this test runs as root (CI), else as ourselves: its fixture hits
-- say "mapped": true, no "restoring by stream" note is printed, the worker still reads
-- its QEMUs' /proc/PID/smaps_rollup (the density bench) and they run in a namespace
-- mapping the uid to 0; the template stays 0400 and unchanged and no QEMU is left.
local e2e = require("lib.e2e")

local work, write = e2e.private_case("labs")
e2e.remove_when_done(work)
os.remove(work .. "/tests/use.test.lua")
os.remove(work .. "/tests/reset.test.lua")
write("tests/nonroot.test.lua", [[
local function sh(cmd)
  local f = assert(io.popen(cmd))
  local out = f:read("a")
  f:close()
  return out
end

-- this worker's QEMU children (the shell's parent is the worker), as density.test.lua
local function qemu_pids()
  local out = sh([=[w=$PPID; for s in /proc/[0-9]*/stat; do
    set -- $(cat "$s" 2>/dev/null); [ "$4" = "$w" ] && [ "$2" = "(qemu-system-x86)" ] && echo "$1"
  done]=])
  local pids = {}
  for p in out:gmatch("%d+") do pids[#pids + 1] = p end
  return pids
end

test("two clones of one fixture, mapped without root", function(t)
  local a = provium:vm_fixture("fixtures/one", {name = "a"})
  local b = provium:vm_fixture("fixtures/one", {name = "b"})
  t:assert_eq(b:read_file("/etc/marker"), "one\n")
  a:write_file("/tmp/from-a", "a\n")
  t:assert_eq(b:run("cat /tmp/from-a 2>/dev/null | wc -c").stdout, "0\n")
  local uid = sh("id -u"):gsub("%s+", "")
  local pids = qemu_pids()
  t:assert_eq(#pids, 2)
  for _, p in ipairs(pids) do
    local rss = sh("awk '$1 == \"Rss:\" {print $2}' /proc/" .. p .. "/smaps_rollup")
    t:assert((tonumber(rss) or 0) > 0, "smaps_rollup of " .. p .. ": " .. rss)
    t:assert_eq(sh("awk '{print $1, $2, $3}' /proc/" .. p .. "/uid_map"), "0 " .. uid .. " 1\n")
  end
end)
]])

local NOBODY = 65534
local as_root = e2e.host("id -u"):gsub("%s+", "") == "0"
local exe = e2e.host("readlink -f " .. e2e.q(e2e.exe) .. " 2>/dev/null || command -v "
  .. e2e.q(e2e.exe)):gsub("%s+$", "")

-- The prefix that runs the sub-run's provium: as nobody when we are root. nil and why
-- when nobody cannot read what it needs.
local function runner()
  local env = "env -u PROVIUM_NO_MAPPED_RESTORE HOME=" .. e2e.q(work) .. " XDG_CACHE_HOME="
    .. e2e.q(work .. "/xdg-cache") .. " TMPDIR=" .. e2e.q(work .. "/tmp")
  e2e.host("mkdir -p " .. e2e.q(work .. "/xdg-cache") .. " " .. e2e.q(work .. "/tmp"))
  if not as_root then return env end
  e2e.host(("chown -R %d:%d %s && chmod 0755 %s"):format(NOBODY, NOBODY, e2e.q(work), e2e.q(work)))
  local as = ("setpriv --reuid=%d --regid=%d --clear-groups "):format(NOBODY, NOBODY)
  for _, f in ipairs({exe, e2e.image .. "/vmlinuz", e2e.image .. "/initrd.img",
                      e2e.image .. "/cmdline", work .. "/provium.toml"}) do
    local ok = os.execute(as .. "test -r " .. e2e.q(f))
    if not ok then return nil, ("uid %d cannot read %s"):format(NOBODY, f) end
  end
  if not os.execute(as .. "test -x " .. e2e.q(exe)) then
    return nil, ("uid %d cannot run %s"):format(NOBODY, exe)
  end
  return as .. env
end

test("a non-root run restores its fixtures by mapping, in a user namespace", function(t)
  local prefix, why = runner()
  if not prefix then t:skip(why) end
  local function run(n)
    local events = ("%s/events%d.jsonl"):format(work, n)
    local out, code = e2e.provium({"--no-progress", "--cpu-overcommit", "4", "--events", events},
      work, prefix)
    t:log(out)
    t:assert_eq(code, 0)
    t:assert(not out:find("restoring by stream", 1, true), "a stream restore was noted")
    local hits = {}
    for line in io.lines(events) do
      local ev = json.decode(line)
      if ev.kind == "fixture_cache_hit" then hits[#hits + 1] = ev end
    end
    for _, h in ipairs(hits) do t:assert_eq(h.mapped, true) end
    return #hits
  end
  t:assert_eq(run(1), 1) -- builds the fixture and its hot form; the build's own hit
  local ram = e2e.host("ls " .. e2e.q(work) .. "/cache/*.snap.hot/ram"):gsub("%s+$", "")
  t:assert_eq(e2e.host("stat -c %a " .. e2e.q(ram)), "400\n")
  local before = e2e.host("sha256sum < " .. e2e.q(ram))
  t:assert_eq(run(2), 2) -- both clones from the cache, by mapping
  t:assert_eq(e2e.host("sha256sum < " .. e2e.q(ram)), before)
  local left = e2e.host("pgrep -f " .. e2e.q("[q]emu-system.*" .. work) .. " | wc -l")
  t:assert_eq(left, "0\n") -- no QEMU of the sub-runs is left
end)
