-- Refers to fixture "shared" like e_group.test.lua (never called: no VM boots), so the
-- two are one unit when shards are placed.
local never = false and vm_fixture("shared")
test("grouped d", function(t) t:assert(not never) end)
