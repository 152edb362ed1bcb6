test("x", function(t)
  local = 1
end)
