-- novm.test.lua - failures without a VM (cheap): a raise and a test timeout. Both are
-- kept unless --keep-failed-max stops it.
test("raises", function(t)
  error("raised on purpose")
end)

test("times out", {timeout = 1}, function(t)
  while true do end
end)
