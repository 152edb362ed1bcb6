-- marker.test.lua - one VM in the test's own lab: a marker file, a background process,
-- then a failure on purpose. `provium debug --run` runs the body again against the
-- restored lab: the body looks `box` up before it makes one (the rule of --run: start
-- from a state a restore reaches), finds the marker and checks what the failure kept.
local function box()
  local ok, vm = pcall(provium.vm, provium, "box")
  if ok then return vm, true end
  return provium:vm("box", "base"):boot(), false
end

test("marker then fail", function(t)
  local vm, restored = box()
  if restored then
    t:assert_eq(vm:read_file("/tmp/marker"), "kept\n", "the marker came back")
    t:assert(vm:run("pidof sleep"):ok(), "the background process still runs")
    return
  end
  vm:write_file("/tmp/marker", "kept\n")
  vm:run("setsid sleep 1000 </dev/null >/dev/null 2>&1 &"):assert_ok()
  t:assert(vm:run("pidof sleep"):ok(), "the background process runs")
  t:fail("failing on purpose after the marker")
end)
