/* snapshot.h - VM snapshots: QEMU migration streams compressed with zstd (snapshot.c). */
#ifndef PROVIUM_SNAPSHOT_H
#define PROVIUM_SNAPSHOT_H

#include "vm/vm.h"

#include <jansson.h>
#include <stdint.h>

/* Saves a booted or paused VM to path (temp file + rename); the VM keeps its state.
 * fixture may be NULL. *bytes receives the size on disk. */
int vm_snapshot_save(struct vm *vm, const char *path, const char *fixture, uint64_t *bytes,
                     char *err, size_t errlen);
/* Reads the metadata header (new reference) or NULL with err. */
json_t *snapshot_read_meta(const char *path, char *err, size_t errlen);
/* Writes the overlay of every writable disk of vm (vm->disks, from the metadata) out of
 * the snapshot, before QEMU starts. */
int snapshot_extract_disks(struct vm *vm, const char *path, json_t *meta, char *err,
                           size_t errlen);
/* Feeds the stream to a QEMU started with -incoming defer and (cont) continues it. */
int vm_restore_stream(struct vm *vm, const char *path, json_t *meta, int cont, char *err,
                      size_t errlen);
/* Waits until the migration of vm's QEMU (either direction) completes or fails. */
int snapshot_wait_migration(struct vm *vm, int64_t deadline, char *err, size_t errlen);

#endif
