-- remote.test.lua - bench/remote.sh's test: restores remote_big (from the local cache,
-- else from the remote one) and answers one command. The script reads the times from
-- the --events stream (fixture_remote_hit, fixture_cache_hit).
test("restore the big fixture", function(t)
  local vm = provium:vm_fixture("remote_big")
  vm:run("true"):assert_ok()
end)
