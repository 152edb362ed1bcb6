-- Holds a booted VM while blocked in a host command; the driver kills the run around it.
test("holds a VM, waiting on the host", function(t)
  local vm = provium:vm("hold-b", "base"):boot()
  os.execute("sleep 600")
end)
