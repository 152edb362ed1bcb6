-- Blocked in a host command until the driver interrupts the run.
test("sleeps", function(t)
  os.execute("sleep 600")
end)
