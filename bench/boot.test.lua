-- boot.test.lua - cold boot to "agent ready", BENCH_N times (default 5).
-- The figure itself is the boot_ns of each vm_spawned event (QEMU spawn until the
-- agent answered and the clock/hostname sync finished); bench/boot.sh reads them
-- from the --events file. Each VM is shut down before the next one boots.
local n = tonumber(os.getenv("BENCH_N") or "5") or 5

test("cold boot to agent ready", function(t)
  for i = 1, n do
    local vm = provium:vm("boot" .. i, "bench"):boot()
    vm:shutdown()
  end
  t:log("BENCH " .. json.encode({boots = n}))
end)
