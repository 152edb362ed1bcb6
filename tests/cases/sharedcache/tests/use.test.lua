-- use.test.lua - restores the counted fixture (building it on a cold cache).
test("the counted fixture restores", function(t)
  local vm = provium:vm_fixture("fixtures/counted")
  t:assert_eq(vm:read_file("/etc/counted"), "built once\n")
end)
