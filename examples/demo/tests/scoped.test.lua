-- scoped.test.lua - a VM created inside a test belongs to that test: it is shut down
-- when the test ends, so no test cleans up after itself, and no test sees another's
-- VMs. Tests never rely on each other: any one of them may run alone (as
-- --rerun-failed runs only the failed ones).
test("boot a private VM with extra files", function(t)
  local vm = provium:vm("scratch", "demo"):boot({
    files = {{path = "/etc/motd", content = "made by provium\n"}},
  })
  t:assert_eq(vm:read_file("/etc/motd"), "made by provium\n")
  -- no vm:shutdown() needed: the end of the test does it
end)

test("each test starts with VMs of its own", function(t)
  t:assert_contains(t:assert_raises(function() provium:vm("scratch") end), "no VM named 'scratch'")
  t:assert_eq(provium:vm("scratch", "demo"):state(), "created", "the name is free here")
end)
