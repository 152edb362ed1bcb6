-- images.test.lua - the image matrix, uncompressed bases (issue 8): guests whose
-- initrd provium did not build boot with the agent overlay appended, run commands,
-- move files and come back from a snapshot. The bases come from lib/mkbase.sh (the
-- dynamic profile img-nolib builds them all); images_initrd.test.lua has the
-- compressed bases and Debian's own initrd.
local matrix = require("lib.matrix")

test("(a) a busybox initramfs with no /lib and no /sbin", function(t)
  matrix.busybox_base(t, "img-nolib", "nolib")
end)

test("(b) /bin, /sbin and /lib are symlinks into /usr (usrmerge)", function(t)
  matrix.busybox_base(t, "img-usrmerge", "usrmerge")
end)

test("(c) /lib and /sbin are real directories", function(t)
  matrix.busybox_base(t, "img-libdir", "libdir")
end)

-- Without an initrd the overlay is the whole userspace: no shell, so the command is a
-- busybox pushed in and run directly, and the agent itself stays PID 1.
test("(d) no initrd at all", function(t)
  local vm = provium:vm("noinitrd", "img-noinitrd"):boot()
  t:assert(not vm:exists("/init"), "no /init without an initrd")
  vm:push_file("/bin/busybox", "/tmp/busybox", {auto_dep = false})
  local comm = vm:run("/tmp/busybox", {"cat", "/proc/1/comm"}):assert_ok().stdout
  t:assert_eq(comm, "provium-agent\n", "the agent is PID 1")
  matrix.round_trip(t, vm, "noinitrd")
  matrix.snapshot_restore(t, vm, "img-noinitrd", function(copy)
    t:assert_eq(copy:run("/tmp/busybox", {"echo", "restored"}):assert_ok().stdout, "restored\n")
  end)
end)
