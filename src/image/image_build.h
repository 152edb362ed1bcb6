/* image_build.h - `provium image build`: a minimal bootable base image from host parts.
 *
 * Tests need some kernel and initrd to boot even on a machine with nothing prepared, so
 * Provium can assemble one from what a Debian host already has: its kernel (copied as
 * vmlinuz), a static busybox, the kernel's virtio modules and a tiny /init script. The
 * result lives in one directory:
 *
 *   vmlinuz     byte copy of the host kernel
 *   initrd.img  newc cpio: busybox + applet links, base dirs, /etc/passwd and group,
 *               virtio modules with etc/provium-image/modules.list, and /init
 *   cmdline     kernel command line to boot it with
 *   image.json  what it was built from (no timestamps)
 *
 * Building twice from the same inputs gives byte-identical files, and each file is
 * written under a temporary name and renamed into place.
 */
#ifndef PROVIUM_IMAGE_IMAGE_BUILD_H
#define PROVIUM_IMAGE_IMAGE_BUILD_H

#include <stddef.h>

struct image_opts {
    const char *out_dir;     /* NULL = $XDG_CACHE_HOME/provium/images/default or ~/.cache/... */
    const char *kernel;      /* NULL = kernel_default_path() */
    const char *busybox;     /* NULL = /bin/busybox; must be statically linked */
    const char *modules_dir; /* NULL = /lib/modules/<kernel version>, may be absent */
};

/* What a build produced, for reporting. */
struct image_info {
    char out_dir[4096];
    char kernel_version[256];
    size_t n_modules;
};

int image_build(const struct image_opts *o, char *err, size_t errlen);
int image_build_info(const struct image_opts *o, struct image_info *info, char *err, size_t errlen);

/* Checks that busybox is a static ELF, then adds to t what every busybox guest has: the
 * base directories (dev/console, sbin -> bin ...), bin/busybox and a link per applet of
 * `busybox --list`, /etc/passwd and /etc/group. Used by `forge up` (src/forge/up_qemu.c).
 * -1 with err (the busybox is missing, dynamic, or lists no applets). */
struct cpio_tree;
int image_stage_busybox(struct cpio_tree *t, const char *busybox, char *err, size_t errlen);

/* Writes the default output directory into out. */
int image_default_out_dir(char *out, size_t n, char *err, size_t errlen);

#endif
