-- Test timeouts end bodies blocked in C calls that wait on child processes.
test("os.execute", {timeout = 3}, function(t)
  os.execute("sleep 20")
end)

test("a loop of them", {timeout = 2}, function(t)
  while true do os.execute("sleep 5") end
end)

test("io.popen", {timeout = 2}, function(t)
  t:log(io.popen("sleep 20; echo late"):read("a"))
end)

test("the next test runs", function(t)
  t:assert(true)
end)
