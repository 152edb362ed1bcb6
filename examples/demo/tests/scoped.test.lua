-- scoped.test.lua - a VM created inside a test is shut down when the test ends.
local first

test("boot a private VM with extra files", function(t)
  local vm = provium:vm("scratch", "demo"):boot({
    files = {{path = "/etc/motd", content = "made by provium\n"}},
  })
  t:assert_eq(vm:read_file("/etc/motd"), "made by provium\n")
  first = vm
end)

test("it is gone once its test is over", function(t)
  t:assert_eq(first:state(), "shutdown")
end)
