-- Holds a booted VM while blocked in the guest; the driver kills the run around it.
test("holds a VM, waiting on the guest", function(t)
  local vm = provium:vm("hold-a", "base"):boot()
  vm:run("sleep 600")
end)
