/* vm_disk_hot.h - a running VM's disks over QMP and NBD: hot-plug and unplug (q35),
 * host-side sector access, power cuts (vm_disk_hot.c). */
#ifndef PROVIUM_VM_DISK_HOT_H
#define PROVIUM_VM_DISK_HOT_H

#include "vm/vm.h"

/* Hot-plugs a disk into a booted or paused q35 VM: s->path is the image (a private
 * qcow2 overlay over it, or the image itself when read-only), else a blank qcow2 of
 * s->scratch bytes. The id must be free. -1 with err. */
int vm_disk_attach(struct vm *vm, const struct disk_spec *s, char *err, size_t errlen);
/* Hot-unplugs the disk (device_del, waits for the guest to let go, blockdev-del) and
 * forgets it. -1 with err. */
int vm_disk_detach(struct vm *vm, const char *id, char *err, size_t errlen);

/* The disk's virtual size in bytes. */
uint64_t vm_disk_size(const struct vm_disk *d);
/* Host-side access to the guest-visible contents (byte offsets, lengths multiples of
 * 512): a mediated disk through its server (held writes seen; writes durable at once),
 * another through QEMU's own block layer (HMP qemu-io), which needs QEMU running.
 * -1 with err. */
int vm_disk_read(struct vm *vm, const struct vm_disk *d, uint64_t off, size_t len, char *out,
                 char *err, size_t errlen);
int vm_disk_write(struct vm *vm, const struct vm_disk *d, uint64_t off, const char *data,
                  size_t len, char *err, size_t errlen);
/* Mediated: every request fails from now on (a dead disk, until vm_disks_power_on),
 * then the held writes are discarded. Returns the bytes discarded. */
uint64_t vm_disk_power_cut(struct vm_disk *d);

#endif
