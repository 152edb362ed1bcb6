-- lab.test.lua - two VMs of the file's lab on a bridge, partitioned, then a failure:
-- `provium debug` must bring them back still partitioned. The bridge's capture stays
-- open: it must not stop the failure snapshot, which keeps its pcap so far.
local lan = provium:bridge("lan")
local a = provium:vm("a", "base")
local b = provium:vm("b", "base")
lan:attach({a, b})
provium:boot()
local capture = lan:capture()

test("partitioned then fail", function(t)
  t:assert(a:run("ping -c 1 -W 5 b"):ok(), "a reaches b before the partition")
  lan:partition(a, b)
  t:assert(not a:run("ping -c 1 -W 1 b"):ok(), "the partition cuts a from b")
  error("failing on purpose with a partition")
end)

-- A test timeout while a guest call blocks: kept all the same (the whole file lab goes
-- after it), with the call's process still running in the restored guest.
test("blocked in a guest call", {timeout = 10}, function(t)
  a:run("sleep 1000")
end)
