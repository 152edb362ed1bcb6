-- long.test.lua - run by faults_agent.test.lua with a 50-character TMPDIR: VM names of
-- the longest allowed length (63 characters) boot, talk over a bridge and restore, though
-- their sockets' paths in the scratch directory are past the 108 bytes of sun_path.
local A = "a23456789012345678901234567890123456789012345678901234567890123"
local B = "b23456789012345678901234567890123456789012345678901234567890123"

test("63-character VM names under a long TMPDIR", function(t)
  t:assert_eq(#A, 63)
  local a = provium:vm(A, "base")
  local b = provium:vm(B, "base")
  local lan = provium:bridge("lan")
  lan:attach(a)
  lan:attach(b)
  a:boot()
  b:boot()
  t:assert_eq(a:run("hostname").stdout, A .. "\n")
  t:assert_eq(a:run("ping -c 1 -W 5 " .. B).exit_code, 0, "the NIC sockets carry frames")
  local snap = a:snapshot()
  a:shutdown()
  a:restore(snap)
  t:assert_eq(a:run("echo back").stdout, "back\n")
end)
