-- pool.test.lua - the run's memory and vCPU pool: refusals that can never be served,
-- and a file that waits for another file's VM to go (pool waits do not count against
-- timeouts).
local e2e = require("lib.e2e")

local function events_of(path)
  local list = {}
  for line in io.lines(path) do list[#list + 1] = json.decode(line) end
  return list
end

test("too big, deadlocked and beyond-the-claim requests fail at once with a clear reason", function(t)
  local dir = e2e.cases .. "/pool-errors"
  local ev = os.tmpname()
  local out, code = e2e.provium({"--no-progress", "--mem", "1G", "--cpus", "1", "--events", ev}, dir)
  t:log(out)
  t:assert_eq(code, 0, out)
  t:assert_contains(out, "3 passed, 0 failed, 0 skipped")
  local kinds = {}
  for _, e in ipairs(events_of(ev)) do kinds[e.kind] = (kinds[e.kind] or 0) + 1 end
  os.remove(ev)
  t:assert_eq(kinds.claim_acquired, 1)
  t:assert_eq(kinds.claim_released, 1)
end)

test("a file waits for the vCPU another file holds, then runs", function(t)
  local dir = e2e.cases .. "/pool"
  local ev = os.tmpname()
  local out, code = e2e.provium({"--no-progress", "--cpus", "1", "--jobs", "2",
    "--timeout", "60s", "--events", ev}, dir)
  t:log(out)
  t:assert_eq(code, 0, out)
  t:assert_contains(out, "2 passed, 0 failed, 0 skipped")
  local spawned, shutdown, pool, states = {}, {}, nil, 0
  for i, e in ipairs(events_of(ev)) do
    if e.kind == "vm_spawned" then spawned[e.vm_name] = i end
    if e.kind == "vm_shutdown" then shutdown[e.vm_name] = i end
    if e.kind == "run_started" then pool = e.pool end
    if e.kind == "pool_state" then states = states + 1 end
    t:assert(e.kind ~= "pool_acquire" and e.kind ~= "pool_release", "internal event leaked")
  end
  os.remove(ev)
  t:assert_eq(pool.cpus, 1)
  t:assert(states >= 1, "pool_state events")
  t:assert(spawned.a and spawned.b and shutdown.a, "both VMs ran")
  -- whichever file got the vCPU first, the other booted only after it was released
  local first, second = "a", "b"
  if spawned.b < spawned.a then first, second = "b", "a" end
  t:assert(shutdown[first] < spawned[second], "the second VM waited for the first")
end)
