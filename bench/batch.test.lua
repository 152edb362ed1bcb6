-- batch.test.lua - vm:batch against the same calls one by one, on one booted VM.
-- Each of BENCH_REPS rounds (default 10) times, with the host clock of lib/clock.lua,
-- BENCH_CALLS (100) vm:stat("/") calls one after the other and then the same calls
-- recorded in one vm:batch (one BATCH frame, one RESULT); the two take turns so that
-- load from other processes hits both alike. A few warm-up rounds go first. Every
-- batched answer is checked. Everything goes out as one "BENCH {json}" log line that
-- bench/batch.sh reads.
local clock = require("lib.clock")
local reps = tonumber(os.getenv("BENCH_REPS") or "10") or 10
local calls = tonumber(os.getenv("BENCH_CALLS") or "100") or 100

local vm = provium:vm("batch", "bench"):boot()

local function one_by_one()
  for _ = 1, calls do
    vm:stat("/")
  end
end

local function batched()
  local r = vm:batch(function(b)
    for _ = 1, calls do
      b:stat("/")
    end
  end)
  assert(#r == calls and r[calls].ok and r[calls].ok.entry_type == "directory",
         "every batched stat answered")
end

test("batch vs one by one", function(t)
  for _ = 1, 3 do
    one_by_one()
    batched()
  end
  local single, batch = {}, {}
  for i = 1, reps do
    local a = clock.now_ns()
    one_by_one()
    local b = clock.now_ns()
    batched()
    local c = clock.now_ns()
    single[i], batch[i] = b - a, c - b
  end
  t:log("BENCH " .. json.encode({
    clock = clock.source,
    clock_overhead_ns = clock.overhead_ns(),
    calls = calls,
    single_ns = single,
    batch_ns = batch,
  }))
end)
