local vm = provium:vm("tv", "base"):boot()

test("a guest command outlives the test timeout", {timeout = 3}, function(t)
  vm:run("sleep 120")
end)

test("the file lab was shut down by the timeout", function(t)
  t:assert_eq(vm:state(), "shutdown")
end)

test("a pure Lua loop is stopped too", {timeout = "500ms"}, function(t)
  while true do end
end)
