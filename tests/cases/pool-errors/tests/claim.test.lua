-- run with --mem 1G --cpus 1 (and no other file holding the vCPU): a claim is the
-- file's budget; boots draw from it and fail at once when it cannot cover them
provium:claim({memory = "400M", cpus = 1})

test("a boot within the claim works; one beyond it fails at once", function(t)
  local a = provium:vm("a", "base"):boot()
  t:assert_contains(t:assert_raises(function() provium:vm("b", "base"):boot() end),
    "exceed what is left of the claim")
  a:shutdown()
  local c = provium:vm("c", "base"):boot() -- the claim got a's share back
  t:assert_eq(c:run("echo ok").stdout, "ok\n")
  t:assert_contains(t:assert_raises(function() provium:claim({memory = "1M", cpus = 1}) end),
    "a second claim")
end)
