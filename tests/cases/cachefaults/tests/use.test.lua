-- use.test.lua - restores the big fixture (building it first on a cold cache).
test("the big fixture restores", function(t)
  local vm = provium:vm_fixture("fixtures/big")
  t:assert_eq(vm:run("wc -c < /big").stdout, "50331648\n")
end)
