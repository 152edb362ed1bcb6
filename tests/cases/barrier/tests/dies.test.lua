-- waits at "gone" and is killed (SIGKILL) a second later, still waiting; late.test.lua
-- arrives after that and must not meet it
local f = assert(io.popen("echo $PPID")) -- the shell's parent: this worker
local worker = f:read("l")
f:close()

test("killed while waiting", function(t)
  os.execute("(sleep 1; kill -9 " .. worker .. ") >/dev/null 2>&1 &")
  provium:barrier("gone", 2, 30)
  t:fail("still alive after the barrier")
end)
