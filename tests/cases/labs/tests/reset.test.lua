-- provium.reset_between_tests: the file scope comes back after every test
provium.reset_between_tests = true
local vm = provium:vm_fixture("fixtures/one", {name = "keep"})
vm:write_file("/etc/baseline", "yes\n")

test("a test dirties the file-scope VM", function(t)
  vm:write_file("/tmp/dirty", "1")
  t:assert(vm:exists("/tmp/dirty"))
end)

test("the next test sees the baseline again", function(t)
  t:assert(not vm:exists("/tmp/dirty"), "dirt survived the reset")
  t:assert_eq(vm:read_file("/etc/baseline"), "yes\n")
  vm:shutdown()
end)

test("even a VM shut down by a test comes back", function(t)
  t:assert_eq(vm:state(), "booted")
  t:assert_eq(vm:run("cat /etc/baseline").stdout, "yes\n")
end)
