-- two.test.lua - restores the shared fixture too (the other shard's file).
test("two: the shared fixture restores", function(t)
  local vm = provium:vm_fixture("fixtures/shared")
  t:assert_eq(vm:read_file("/etc/shared"), "from the fixture\n")
end)
