/* overlay.c - builds the agent overlay cpio and its prelude (see overlay.h).
 *
 * The kernel's version decides which modules directory applies, so the kernel image is
 * read first; the modules are then resolved from that directory and everything is staged
 * in a cpio_tree, which writes the entries sorted by name for byte-identical output.
 */
#include "image/overlay.h"

#include "image/cpio.h"
#include "image/kernel.h"
#include "image/modules.h"

#include <stdio.h>

static int stage_overlay(struct cpio_tree *t, const char *agent_bin, const struct module_list *mods,
                         const char *modules_dir, const char *version, char *err, size_t errlen) {
    cpio_tree_assume_dir(t, "sbin"); /* made by the prelude or the base: see overlay.h */
    cpio_tree_dir(t, OVERLAY_GUEST_ROOT, 0755);
    cpio_tree_file_from(t, OVERLAY_AGENT + 1, 0755, agent_bin);
    return modules_stage(t, mods, modules_dir, version, OVERLAY_GUEST_ROOT, OVERLAY_MODULES_LIST + 1,
                         err, errlen);
}

int overlay_build(const char *agent_bin, const char *kernel_path, const char *modules_dir,
                  const char *out_path, char *err, size_t errlen) {
    char version[256];
    if (kernel_read_version(kernel_path, version, sizeof(version), err, errlen) < 0) return -1;

    struct module_list mods;
    if (modules_resolve_virtio(modules_dir, version, &mods, err, errlen) < 0) return -1;

    struct cpio_tree *t = cpio_tree_new();
    int rc = -1;
    if (t == NULL) snprintf(err, errlen, "%s: out of memory", out_path);
    else if (stage_overlay(t, agent_bin, &mods, modules_dir, version, err, errlen) == 0)
        rc = cpio_tree_write(t, out_path, err, errlen);
    cpio_tree_free(t);
    module_list_free(&mods);
    return rc;
}

int overlay_build_prelude(const char *out_path, char *err, size_t errlen) {
    struct cpio *c = cpio_create(out_path, err, errlen);
    if (c == NULL) return -1;
    cpio_add_dir(c, "sbin", 0755);
    return cpio_finish(c, err, errlen);
}
