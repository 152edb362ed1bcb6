/* lvm.h - the Vm userdata and the RunResult (lvm.c): what other files need of a Vm.
 *
 * A Vm owns its struct vm until __gc frees it; from then on the Vm is closed and every
 * use raises "VM is closed" (lvm_check), as liolib's closed files do. */
#ifndef PROVIUM_LVM_H
#define PROVIUM_LVM_H

#include "lapi.h"

#include "vm/vm.h"

/* The classes provium.Vm and provium.RunResult with lvm.c's methods. */
void lvm_open(lua_State *L);

/* The struct vm of the Vm at idx; raises "<method>: VM is closed" once collected. */
struct vm *lvm_check(lua_State *L, int idx);
struct vm *lvm_test(lua_State *L, int idx); /* NULL if not an open Vm */
void lvm_push(lua_State *L, struct vm *vm);  /* takes ownership */
/* The spec's one phrase for a call that finds a VM in state s: "VM not booted", "VM
 * already booted", "VM is paused; use resume()", "VM is shutdown; create a new one",
 * "VM died; create a new one". Every state check raises with these. */
const char *lvm_state_error(enum vm_state s);
/* The Vm at idx when booted; else raises "<method>: <the state's phrase>". */
struct vm *lvm_need_booted(lua_State *L, int idx, const char *method);
/* Objects that belong to a VM (Clock, Console): a userdata of metatable mt whose
 * uservalue is the Vm at vm_idx; and the Vm back from one. */
void lvm_push_companion(lua_State *L, int vm_idx, const char *mt);
struct vm *lvm_companion_vm(lua_State *L, int idx, const char *mt);
void lvm_emit_shutdown(lua_State *L, struct vm *vm, int64_t dur);
void lvm_emit_spawned(lua_State *L, struct vm *vm, int restored);
/* Boots every VM at once (QEMUs started first, then each agent awaited), emitting
 * vm_spawned; on a failure every one of them is shut down again and err says why. */
int lvm_boot_all(lua_State *L, struct vm **vms, size_t n, char *err, size_t errlen);
/* Pushes a RunResult for r. */
void lvm_push_result(lua_State *L, const struct exec_res *r);
/* vm:stat's table; vm:listdir's list (frees e and its names). */
void lvm_push_stat(lua_State *L, const struct vm_stat *st);
void lvm_push_dirents(lua_State *L, struct vm_dirent *e, size_t n);

#endif
