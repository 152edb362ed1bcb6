/* modules.h - deciding which kernel modules a guest needs, and shipping them.
 *
 * A Provium guest talks to the host over virtio (console, net, block, rng) on either the
 * microvm (virtio-mmio) or the pc/q35 (virtio-pci) machine. Distribution kernels build
 * these drivers as modules, so every initrd we make must carry the right .ko files for
 * the exact kernel it boots with, in an order insmod can load them (dependencies first).
 * That order comes from the kernel's own modules.dep; modules.builtin says which drivers
 * need nothing because they are compiled in. No modprobe or kmod library is involved.
 *
 * Module names treat '-' and '_' as the same character, as the kernel does.
 */
#ifndef PROVIUM_IMAGE_MODULES_H
#define PROVIUM_IMAGE_MODULES_H

#include <stddef.h>

struct cpio_tree;

struct module_list {
    char **paths; /* absolute .ko paths, dependencies first, no duplicates */
    size_t n;
};

/* The drivers every guest needs, NULL-terminated. */
extern const char *const provium_virtio_modules[];

/* Resolves `wanted` against modules_dir (e.g. /lib/modules/6.1.0-56-amd64). Builtin and
 * unknown modules are skipped; a missing modules.dep or a compressed module is an error. */
int modules_resolve(const char *modules_dir, const char *const *wanted, size_t n_wanted,
                    struct module_list *out, char *err, size_t errlen);
void module_list_free(struct module_list *l);

/* Resolves provium_virtio_modules for the kernel `version`. modules_dir NULL means
 * /lib/modules/<version>; if that default does not exist the list is empty (the kernel may
 * have everything built in), while an explicitly given directory must exist. */
int modules_resolve_virtio(const char *modules_dir, const char *version, struct module_list *out,
                           char *err, size_t errlen);

/* Adds the modules of l to t at <guest_root>/lib/modules/<version>/<path below modules_dir>
 * (0644; guest_root "" for the image's own /lib, or a private prefix such as ".provium"),
 * plus the file list_name holding their absolute guest paths, one a line, in load order.
 * modules_dir NULL means /lib/modules/<version>, as above. */
int modules_stage(struct cpio_tree *t, const struct module_list *l, const char *modules_dir,
                  const char *version, const char *guest_root, const char *list_name, char *err,
                  size_t errlen);

#endif
