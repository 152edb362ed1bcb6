-- Refers to fixture "shared" like d_group.test.lua (never called).
local never = false and vm_fixture("shared")
test("grouped e", function(t) t:assert(not never) end)
