-- faults_console.test.lua - a guest that floods its serial console: the console log is a
-- ring of the last `console_log_max` bytes (1M for the `flood` profile), on disk and in
-- read_log(); the newest bytes are kept, and console:expect and console:read find text
-- written after the log wrapped.
local e2e = require("lib.e2e")
local MiB = 1024 * 1024

-- The VM's console files on the host: QEMU's -qmp argument names its scratch dir.
local function console_files_size()
  local total, seen = 0, 0
  local p = io.popen("cat /proc/$PPID/task/*/children 2>/dev/null")
  local pids = p:read("a")
  p:close()
  for pid in pids:gmatch("%d+") do
    local f = io.open("/proc/" .. pid .. "/cmdline", "rb")
    local cmd = f and f:read("a") or ""
    if f then f:close() end
    local dir = cmd:match("unix:([^%z]-)/qmp%.sock")
    if dir and cmd:find("flooder", 1, true) then
      for _, name in ipairs({"console.log", "console.log.1"}) do
        local h = io.open(dir .. "/" .. name, "rb")
        if h then
          total = total + h:seek("end")
          h:close()
          seen = seen + 1
        end
      end
    end
  end
  return total, seen
end

test("a console flood keeps the last 1 MiB; expect and read work across the wrap", function(t)
  local vm = provium:vm("flooder", "flood")
  vm:boot()
  local con = vm:console()
  local stream = con:read()
  vm:run("echo first-marker-before-flood > /dev/console")
  con:expect("first-marker-before-flood", 10)
  -- 1.5 MB of lines, then a marker: the log wraps several times
  vm:run("yes flood-flood-flood-flood-flood-flood-flood-flood | head -c 1500000 > /dev/console; " ..
    "echo newest-marker-after-flood > /dev/console", {timeout = 120})
  con:expect("newest-marker-after-flood", 30)
  local log = con:read_log()
  t:assert(#log <= 1 * MiB, "read_log holds at most the cap, got " .. #log)
  t:assert(#log >= MiB // 2, "read_log keeps at least half the cap, got " .. #log)
  t:assert_contains(log, "newest-marker-after-flood")
  t:assert(not log:find("first-marker-before-flood", 1, true), "the oldest bytes rotated away")
  local size, files = console_files_size()
  t:assert(files >= 1, "found the console files of the VM")
  t:assert(size <= 1 * MiB, "console files on disk hold at most the cap, got " .. size)
  -- a stream opened before the flood resumes at the oldest byte kept
  stream:expect("newest-marker-after-flood", 10)
  -- text written after the wrap, while expect waits
  vm:run_async("sleep 1; echo late-marker-after-wrap > /dev/console")
  t:assert_eq(con:expect("late-marker-after-wrap", 30), "late-marker-after-wrap")
  stream:expect("late-marker-after-wrap", 10)
end)

-- A failing test's report carries the console tail even after the log wrapped (64K, the
-- smallest cap, wraps after a short flood).
test("the failure report's console tail is the newest output after a wrap", function(t)
  local work = e2e.host("mktemp -d"):gsub("%s+$", "")
  local function write(name, text)
    local f = assert(io.open(work .. "/" .. name, "w"))
    f:write(text)
    f:close()
  end
  write("provium.toml", string.format([[
[profiles.tiny]
kernel = "%s/vmlinuz"
initrd = "%s/initrd.img"
cmdline_file = "%s/cmdline"
memory = "256M"
console_log_max = "64K"
]], e2e.image, e2e.image, e2e.image))
  write("flood.test.lua", [[
test("floods, then fails", function(t)
  local vm = provium:vm("f", "tiny")
  vm:boot()
  vm:run("echo oldest-marker > /dev/console; yes flood-flood-flood-flood | head -c 200000 > /dev/console; echo tail-marker-after-wrap > /dev/console")
  vm:console():expect("tail-marker-after-wrap", 30)
  local n = #vm:console():read_log()
  t:assert(n <= 65536, "read_log within the cap: " .. n)
  error("failing on purpose")
end)
]])
  local out, code = e2e.provium({"--config", work .. "/provium.toml", "--no-progress"}, work)
  e2e.host("rm -rf " .. e2e.q(work))
  t:assert_eq(code, 1, out)
  t:assert_contains(out, "failing on purpose")
  t:assert_contains(out, "---- vm f (last")
  t:assert_contains(out, "tail-marker-after-wrap")
  t:assert(not out:find("read_log within the cap", 1, true), "read_log stayed within the cap")
end)
