/* lpower.h - the guest's power from Lua: vm:power_button, vm:wakeup, and the boot
 * options initial_time and rng_seed (lpower.c). */
#ifndef PROVIUM_LPOWER_H
#define PROVIUM_LPOWER_H

#include "lapi.h"
#include "vm/vm.h"

/* The Vm methods power_button and wakeup. */
void lpower_open(lua_State *L);
/* vm:boot's options initial_time and rng_seed from the table at idx into vm->opts;
 * raises (at the caller's line) on a bad value, before anything changes. */
void lpower_boot_opts(lua_State *L, int idx, struct vm *vm);

#endif
