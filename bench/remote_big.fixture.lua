-- remote_big.fixture.lua - bench/remote.sh's fixture: a booted 256 MiB guest holding
-- 80 MiB of random bytes (incompressible), so its snapshot is big enough for the
-- transfer to show.
local vm = provium:vm("big", "bench"):boot()
vm:run("dd if=/dev/urandom of=/fill bs=1048576 count=80"):assert_ok()
return vm:snapshot()
