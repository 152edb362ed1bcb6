/* snapshot_hot.h - restores that map guest memory: the "hot" form of a snapshot
 * (snapshot_hot.c). */
#ifndef PROVIUM_SNAPSHOT_HOT_H
#define PROVIUM_SNAPSHOT_HOT_H

#include "vm/vm.h"

/* Restores the snapshot at path into vm by mapping its hot form `<path>.hot/` (made
 * first when missing or stale): RAM is a private mapping of the read-only template,
 * only the device state is loaded. Where mapping is unavailable it says why on one
 * line and restores by stream (vm_restore). vm->mem_mapped tells which was used. */
int vm_restore_mapped(struct vm *vm, const char *path, char *err, size_t errlen);
/* The hot form's directory of a snapshot file (malloc'd): `<path>.hot`, or
 * `<key>.lab.hot/<vm>.snap.hot` for a file `<key>.lab/<vm>.snap`. */
char *snapshot_hot_dir(const char *path);
/* Appends to a (just after the -M value) what makes vm's RAM the file vm->mem_path:
 * the memory backend, named as the machine names its RAM block (microvm.ram, pc.ram)
 * so a stream saved from plain -m loads into it and its state into a clone. */
void snapshot_hot_argv(const struct vm *vm, struct strv *a, int micro);
/* Restores so far in this process: mapped ones, and ones that fell back to the stream
 * (for the fixture_cache_hit event's "mapped" field). */
void snapshot_hot_counts(unsigned *mapped, unsigned *streamed);

#endif
