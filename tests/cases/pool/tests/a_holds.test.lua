-- boots one VM and keeps it a little while; the other file needs its vCPU
test("holds the only vCPU for a while", function(t)
  local vm = provium:vm("a", "base"):boot()
  vm:run("sleep 2"):assert_ok()
  vm:shutdown()
end)
