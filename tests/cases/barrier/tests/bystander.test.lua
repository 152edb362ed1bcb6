-- runs beside lonely.test.lua and never arrives at its barrier
test("never arrives", function(t)
  os.execute("sleep 3")
end)
