-- images_initrd.test.lua - the image matrix, compressed bases (issue 8): the libdir
-- base of lib/mkbase.sh compressed with each format Debian's kernel decompresses
-- (the uncompressed agent overlay is appended after the compressed archive), and
-- Debian's own initramfs-tools initrd. images.test.lua has the uncompressed bases.
local matrix = require("lib.matrix")

for _, fmt in ipairs({"gzip", "zstd", "xz", "lz4"}) do
  test("(e) a base initrd compressed with " .. fmt, function(t)
    matrix.busybox_base(t, "img-" .. fmt, "libdir")
  end)
end

-- No root= on the command line: initramfs-tools' /init stops at "no root device" and
-- waits on the console, while the agent serves from the initramfs.
test("(f) Debian's own initrd (initramfs-tools)", function(t)
  local vm = provium:vm("debian", "img-debian"):boot()
  t:assert_contains(vm:run("cat /conf/initramfs.conf"):assert_ok().stdout, "MODULES=",
    "Debian's initramfs is the root")
  t:assert_eq(vm:run("test -f /scripts/functions && test -d /scripts/init-top && echo yes"):assert_ok().stdout, "yes\n")
  local init = vm:run("tr '\\0' ' ' </proc/1/cmdline"):assert_ok().stdout
  t:assert_contains(init, "/init", "initramfs-tools' /init is PID 1")
  matrix.round_trip(t, vm, "debian")
  matrix.snapshot_restore(t, vm, "img-debian", function(copy)
    t:assert_contains(copy:run("uname -r"):assert_ok().stdout, ".")
    t:assert_eq(copy:run("test -f /conf/initramfs.conf && echo yes"):assert_ok().stdout, "yes\n")
  end)
end)
