-- transfer.test.lua - vm:push_file and vm:read_file of one host file (64 MiB of
-- random bytes that bench/transfer.sh makes and names in BENCH_FILE), BENCH_REPS
-- times each (default 3), timed with the host clock of lib/clock.lua.
-- The guest copy lives in /tmp (tmpfs) and is removed between repetitions.
-- Same-run reference: the guest's own dd of the file to /dev/null (timed by
-- r.duration, which includes one run round trip, ~10 ms).
-- The figures go out as one "BENCH {json}" log line that bench/transfer.sh reads.
local clock = require("lib.clock")
local file = assert(os.getenv("BENCH_FILE"), "BENCH_FILE is not set (run bench/transfer.sh)")
local sha = assert(os.getenv("BENCH_SHA256"), "BENCH_SHA256 is not set")
local size = tonumber((assert(os.getenv("BENCH_SIZE"), "BENCH_SIZE is not set")))
local reps = tonumber(os.getenv("BENCH_REPS") or "3") or 3

local vm = provium:vm("xfer", "bench"):boot()
local guest = "/tmp/bench.bin"

test("push_file and read_file", function(t)
  local push, read = {}, {}
  local sha_ok = true
  local guest_dd_s
  for i = 1, reps do
    local a = clock.now_ns()
    vm:push_file(file, guest)
    local b = clock.now_ns()
    push[i] = b - a

    a = clock.now_ns()
    local data = vm:read_file(guest)
    b = clock.now_ns()
    read[i] = b - a
    t:assert_eq(#data, size, "read_file size")
    data = nil
    collectgarbage()

    if i == 1 then -- content check, outside the timed windows
      local r = vm:run("sha256sum " .. guest)
      r:assert_ok()
      sha_ok = r.stdout:match("^(%x+)") == sha
      -- same-run reference: the guest reading the file itself into a user buffer
      -- (one copy, no transport): what the emulated CPU manages on its own. A second
      -- 64 MiB copy in /tmp does not fit a 256M guest's tmpfs.
      local c = vm:run("dd if=" .. guest .. " of=/dev/null bs=256k 2>/dev/null")
      c:assert_ok()
      guest_dd_s = c.duration
    end
    vm:unlink(guest)
  end
  t:log("BENCH " .. json.encode({
    clock = clock.source, size = size, push_ns = push, read_ns = read, sha_ok = sha_ok,
    guest_dd_s = guest_dd_s,
  }))
end)
