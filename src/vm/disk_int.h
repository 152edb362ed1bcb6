/* disk_int.h - what disk.c and vm_disk_hot.c share (not for other rooms). */
#ifndef PROVIUM_DISK_INT_H
#define PROVIUM_DISK_INT_H

#include "vm/vm.h"

#define DISK_HOT_PORTS 4 /* q35 root ports made at boot for hot-plugged disks */

/* Runs qemu-img with args ($PROVIUM_QEMU_IMG, else the one on PATH); its stderr lands
 * in err on failure. */
int disk_qemu_img(const char *const *args, char *err, size_t errlen);
/* Makes the file of a new writable disk: a qcow2 overlay over image (or a blank qcow2
 * of size), or for a mediated one a private raw copy (a sparse raw file of size). */
int disk_make_file(struct vm_disk *d, const char *image, uint64_t size, char *err,
                   size_t errlen);
struct vm_disk *disk_add(struct vm *vm);
/* Removes vm->disks[i] (stops its server, deletes its private file). */
void disk_remove(struct vm *vm, size_t i);
/* QEMU's names for a disk: its block node and its device. */
char *disk_node_name(const char *id);
char *disk_dev_id(const char *id);

#endif
