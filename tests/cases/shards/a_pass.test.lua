test("one", function(t) t:assert(true) end)
test("two", function(t) t:assert_eq(1 + 1, 2) end)
-- PROVIUM_SHARD is consumed by the run: a test that runs provium itself is not sharded
test("PROVIUM_SHARD not inherited", function(t) t:assert_eq(os.getenv("PROVIUM_SHARD"), nil) end)
