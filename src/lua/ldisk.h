/* ldisk.h - the Disk userdata: vm:disk, vm:attach_disk and the boot option `disks`
 * (ldisk.c). */
#ifndef PROVIUM_LDISK_H
#define PROVIUM_LDISK_H

#include "lapi.h"

#include "vm/vm.h"

/* The class provium.Disk and the Vm methods disk and attach_disk. */
void ldisk_open(lua_State *L);
/* vm:boot's option `disks` of the options table at idx (if any): every entry checked
 * first (raising as vm:boot), then appended to the VM's pending boot disks. */
void ldisk_boot_opt(lua_State *L, int idx, struct vm *vm);

#endif
