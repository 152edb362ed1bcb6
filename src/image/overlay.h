/* overlay.h - the agent overlay: a small cpio appended to a profile's initrd.
 *
 * Linux unpacks concatenated cpio archives one after the other, so any initrd (Debian's,
 * a user's busybox image, our own) or none at all can be given the Provium guest agent by
 * appending this overlay. Its rules come from how the kernel unpacks: an entry whose
 * parent directory does not exist is dropped, and an entry replaces an existing path of
 * another type (a directory entry "lib" would replace a merged-/usr base's "lib ->
 * usr/lib" symlink, hiding the base's libraries). So the overlay depends on nothing in
 * the base and touches nothing of it:
 *
 *   .provium/                       a private tree, every parent its own entry:
 *     modules.list                  the virtio .ko files to load, in load order
 *     lib/modules/<version>/...     those modules (the ones the kernel lacks built in)
 *   sbin/provium-agent              the agent, at the path the spec's rdinit= names
 *
 * "sbin" itself gets no entry in the overlay. Instead a one-entry prelude archive, an
 * empty "sbin" directory, goes BEFORE the base: a base with its own /sbin (directory or
 * symlink) replaces it (an empty directory gives way to a symlink), a base without one
 * keeps it, and either way sbin/provium-agent has a parent when the overlay unpacks.
 * Same inputs give the same bytes, so the overlay can be cached by content.
 */
#ifndef PROVIUM_IMAGE_OVERLAY_H
#define PROVIUM_IMAGE_OVERLAY_H

#include <stddef.h>

#define OVERLAY_GUEST_ROOT ".provium"
#define OVERLAY_AGENT "/sbin/provium-agent"
#define OVERLAY_MODULES_LIST "/.provium/modules.list"

/* modules_dir NULL = /lib/modules/<version from the kernel header>; if that default does
 * not exist the module list is empty, while an explicit modules_dir must exist. */
int overlay_build(const char *agent_bin, const char *kernel_path, const char *modules_dir,
                  const char *out_path, char *err, size_t errlen);

/* The prelude archive (an empty "sbin" directory) that goes before the base. */
int overlay_build_prelude(const char *out_path, char *err, size_t errlen);

#endif
