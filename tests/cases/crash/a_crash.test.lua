test("before the crash", function(t) end)

test("kills its own worker", function(t)
  -- SIGKILL to the worker process (the shell's parent): a crash nothing can catch
  os.execute("kill -KILL $PPID")
  local deadline = os.time() + 10
  while os.time() < deadline do end
end)

test("never runs", function(t) end)
