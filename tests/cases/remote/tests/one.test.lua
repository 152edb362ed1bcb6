-- one.test.lua - restores the shared fixture (from the local cache, the remote one, or
-- a build).
test("one: the shared fixture restores", function(t)
  local vm = provium:vm_fixture("fixtures/shared")
  t:assert_eq(vm:read_file("/etc/shared"), "from the fixture\n")
end)
