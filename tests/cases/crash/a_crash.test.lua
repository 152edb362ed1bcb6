test("before the crash", function(t) end)

test("kills its own worker", function(t)
  -- SIGSEGV to the worker process (the shell's parent)
  os.execute("kill -SEGV $PPID")
  local deadline = os.time() + 10
  while os.time() < deadline do end
end)

test("never runs", function(t) end)
