/* overlay.h - the agent overlay: a small cpio appended to a profile's initrd.
 *
 * Linux unpacks concatenated cpio archives one after the other, so any initrd (Debian's,
 * Alpine's, our own busybox image) can be given the Provium guest agent by appending this
 * overlay: sbin/provium-agent, the virtio modules the kernel lacks built in (at their
 * /lib/modules/<version>/... paths) and etc/provium/modules.list naming them in load order.
 * Same inputs give the same bytes, so the overlay can be cached by content.
 *
 * The overlay writes no entries for the top-level "sbin" and "lib" directories: the
 * kernel would replace a merged-/usr base's "sbin -> usr/sbin" and "lib -> usr/lib"
 * symlinks by them (hiding the base's own libraries and modules), whereas files and
 * deeper directories below an existing symlink are created through it. So the base
 * initrd must have /sbin and /lib (as directories or symlinks), as every usual one does.
 */
#ifndef PROVIUM_IMAGE_OVERLAY_H
#define PROVIUM_IMAGE_OVERLAY_H

#include <stddef.h>

/* modules_dir NULL = /lib/modules/<version from the kernel header>; if that default does
 * not exist the module list is empty, while an explicit modules_dir must exist. */
int overlay_build(const char *agent_bin, const char *kernel_path, const char *modules_dir,
                  const char *out_path, char *err, size_t errlen);

#endif
