/* up_int.h - what up.c, up_qemu.c (the guest: kernel, initrd, /init) and up_run.c (the
 * QEMU process: foreground, detached) share; not an interface for the rest of the room. */
#ifndef PROVIUM_FORGE_UP_INT_H
#define PROVIUM_FORGE_UP_INT_H

#include "forge/up.h"

#include <jansson.h>
#include <limits.h>

/* One bootable guest of an artifact. */
struct up_guest {
    char kernel[PATH_MAX], version[256], busybox[PATH_MAX], qemu[PATH_MAX];
    char initrd[PATH_MAX]; /* where up_guest_prepare writes it (set by the caller) */
    char id[64];           /* workload id */
    int microvm;           /* else q35 */
    unsigned cpus, memory_mb;
    struct up_port ports[UP_MAX_PORTS * 2]; /* the IR's, then -p's */
    size_t nports;
};

/* up_qemu.c: resolves kernel, busybox and QEMU, writes g->initrd for artifact. Prints
 * the E_* line; -1. */
int up_guest_prepare(struct up_guest *g, const char *artifact, const struct up_opts *o);
/* $PATH lookup (a name with '/' is taken as is); 0 with out filled, or -1. */
int up_which(const char *name, char *out, size_t n);

/* up_run.c: CPUs, memory and ports from launch.json's resources/network and the flags. */
void up_guest_resources(struct up_guest *g, const json_t *launch, const struct up_opts *o);

/* up.c: 1 when the detached workload of state directory dir has its QEMU running, 0 when
 * it ended, -1 when dir holds no workload. */
int up_state_alive(const char *dir);

#endif
