-- A worker that exits with status 0 in the middle of its file: the tests it never
-- finished must still be reported, as failed.
test("before the exit", function(t) end)

test("calls os.exit", function(t)
  os.exit(0)
end)

test("never runs", function(t) end)
