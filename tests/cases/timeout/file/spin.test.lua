test("never ends", function(t)
  while true do end
end)
