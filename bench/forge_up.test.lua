-- forge_up.test.lua - the provium side of bench/forge_up.sh: one cold boot of the bench
-- profile (the same host kernel `forge up` boots) to a greeting from the guest, printed
-- by a command as the hello example's service does, then a shutdown.
test("boot to a greeting", function(t)
  local vm = provium:vm("greet", "bench"):boot()
  local r = vm:run("echo hello from forge")
  t:assert_eq(r.stdout, "hello from forge\n")
  vm:shutdown()
end)
