-- scope_end.test.lua - what a test leaves behind goes when it ends: its open guest files
-- and streams are closed, its guest processes get TERM then KILL after 2 s, its VMs are
-- shut down; a VM and a file handle made at file scope stay.
--
-- The end of a test can only be seen from the next test, and a test that needs the one
-- before it breaks under --rerun-failed. So the pair that does this (the first test
-- leaves things behind, the second finds them gone) is a case suite,
-- tests/cases/scopeend, run whole here as a sub-run: this file's one test stands alone.
local e2e = require("lib.e2e")

test("what a test leaves behind goes when it ends; file-scope things stay", function(t)
  local work = e2e.private_case("scopeend")
  local out, code = e2e.provium({"--no-progress", "--cpu-overcommit", "4", "-v"}, work)
  t:log(out)
  e2e.host("rm -rf " .. e2e.q(work))
  t:assert_eq(code, 0, "the case passed: " .. out)
  t:assert_contains(out, "PASS tests/scope.test.lua (2 passed, 0 failed, 0 skipped)")
end)
