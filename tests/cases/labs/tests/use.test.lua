-- lab fixtures and lab snapshots
local saved = os.getenv("LABS_WORK") .. "/saved-lab"

test("a lab fixture restores every member under its recorded name", function(t)
  local cluster = provium:lab_fixture("fixtures/pair")
  t:assert_eq(cluster:name(), "fixture:fixtures/pair")
  t:assert_eq(cluster.a:read_file("/etc/role"), "a\n")
  t:assert_eq(cluster.b:read_file("/etc/role"), "b\n")
  t:assert_eq(cluster.a:read_file("/etc/marker"), "one\n")
  t:assert_eq(cluster.b:run("hostname").stdout, "b\n")
  t:assert_eq(cluster.a:profile(), "base")
  cluster.a:run("ping -c 1 -W 2 b.lan"):assert_ok()
  t:assert_eq(cluster.lan:address(cluster.b), "10.213.0.11")
  local guest = tonumber(cluster.b:run("date +%s").stdout)
  t:assert(math.abs(guest - os.time()) <= 3, "guest clock " .. guest .. " vs host " .. os.time())
end)

test("asking for the other kind names the right method", function(t)
  t:assert_contains(t:assert_raises(function() provium:vm_fixture("fixtures/pair") end),
    "fixture `fixtures/pair` is a lab fixture; use lab_fixture")
  t:assert_contains(t:assert_raises(function() provium:lab_fixture("fixtures/one") end),
    "fixture `fixtures/one` is a VM fixture; use vm_fixture")
  t:assert_contains(t:assert_raises(function() provium:lab_fixture("fixtures/bad") end),
    "fixture `fixtures/bad` must return vm:snapshot() or provium:snapshot()")
  t:assert_contains(t:assert_raises(function() provium:lab_fixture("fixtures/none") end),
    "fixture `fixtures/none` not found in any test root")
end)

-- one test, so the restore never depends on a snapshot another test took
test("a lab snapshot saves every VM plus lab.json; lab:restore brings it back", function(t)
  local x = provium:vm_fixture("fixtures/one", {name = "x"})
  x:write_file("/tmp/state", "before\n")
  t:assert_eq(provium:snapshot(saved), saved)
  t:assert(io.open(saved .. "/lab.json") ~= nil, "lab.json written")
  t:assert(io.open(saved .. "/x.snap") ~= nil, "x.snap written")
  local index = json.decode(assert(io.open(saved .. "/lab.json")):read("a"))
  t:assert_eq(index.vms[1].name, "x")
  t:assert_eq(index.vms[1].profile, "base")
  t:assert_eq(#index.bridges, 0)
  local s = provium:snapshot()
  t:assert(s:size() > 0, "size " .. s:size())
  t:assert_contains(tostring(s), "lab_snapshot(")
  t:assert_contains(t:assert_raises(function() provium:restore(s) end),
    "lab:restore: a VM named 'x' already exists")
  x:write_file("/tmp/state", "after\n")
  t:assert_eq(x:state(), "booted")
  s:delete()
  t:assert_eq(s:size(), 0)
  s:delete()

  -- the saved lab comes back once its VM's name is free again
  x:shutdown()
  provium:remove(x)
  provium:restore(saved)
  x = provium:vm("x")
  t:assert_eq(x:read_file("/tmp/state"), "before\n")
  t:assert_eq(x:state(), "booted")
  t:assert_contains(t:assert_raises(function() provium:restore("/nonexistent") end),
    "not a lab snapshot")
end)
