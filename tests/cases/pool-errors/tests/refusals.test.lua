-- run with --mem 1G --cpus 1: one VM fits, a second can never fit
test("a VM larger than the pool is refused at once", function(t)
  local e = t:assert_raises(function() provium:vm("big", "base", {memory = "2G"}):boot() end)
  t:assert_contains(e, "vm:boot: ")
  t:assert_contains(e, "exceeds pool total")
end)

test("a second VM that no release can make room for is a deadlock", function(t)
  local a = provium:vm("a", "base"):boot()
  local e = t:assert_raises(function() provium:vm("b", "base"):boot() end)
  t:assert_contains(e, "the pool is deadlocked")
  t:assert_contains(e, "provium:claim")
  t:assert_eq(a:run("echo still").stdout, "still\n")
end)
