/* lvm.h - Vm userdata helpers shared by the Lab bindings and the worker. */
#ifndef PROVIUM_LVM_H
#define PROVIUM_LVM_H

#include "lapi.h"

struct vm *lvm_check(lua_State *L, int idx);
struct vm *lvm_test(lua_State *L, int idx); /* NULL if not a Vm */
/* The spec's one phrase for a call that finds a VM in state s: "VM not booted", "VM
 * already booted", "VM is paused; use resume()", "VM is shutdown; create a new one",
 * "VM died; create a new one". Every state check raises with these. */
const char *lvm_state_error(enum vm_state s);
/* The Vm at idx when booted; else raises "<method>: <the state's phrase>". */
struct vm *lvm_need_booted(lua_State *L, int idx, const char *method);
void lvm_push(lua_State *L, struct vm *vm);  /* takes ownership */
/* Objects that belong to a VM (Clock, Console): a userdata of metatable mt whose
 * uservalue is the Vm at vm_idx; and the Vm back from one. */
void lvm_push_companion(lua_State *L, int vm_idx, const char *mt);
struct vm *lvm_companion_vm(lua_State *L, int idx, const char *mt);
void lvm_emit_shutdown(lua_State *L, struct vm *vm, int64_t dur);
void lvm_emit_spawned(lua_State *L, struct vm *vm, int restored);
/* Boots every VM at once (QEMUs started first, then each agent awaited), emitting
 * vm_spawned; on a failure every one of them is shut down again and err says why. */
int lvm_boot_all(lua_State *L, struct vm **vms, size_t n, char *err, size_t errlen);

/* vm:run's argument forms into req (argv/env own the strings); async: run_async. */
void lvm_parse_exec(lua_State *L, const char *method, int async, struct exec_req *req,
                    struct strv *argv, struct strv *env);
void lvm_push_result(lua_State *L, const struct exec_res *r); /* a RunResult */
/* vm:run_async and the Process userdata (lproc.c) */
int lvm_run_async(lua_State *L);
void lproc_end_test(lua_State *L, const char *test); /* kills what the test started */

/* vm:batch (lbatch.c) */
int lvm_batch(lua_State *L);

/* vm:clock() (lclock.c) and vm:console() (lconsole.c) */
int lvm_clock(lua_State *L);
int lvm_console(lua_State *L);

/* snapshots (lsnap.c) */
int lvm_snapshot(lua_State *L);
int lvm_restore(lua_State *L);
void lsnap_push(lua_State *L, const char *path);
const char *lsnap_path(lua_State *L, int idx); /* Snapshot or string, else NULL */
const char *lsnap_path_strict(lua_State *L, int idx); /* Snapshot only */
int lsnap_is_lab(lua_State *L, int idx);

/* test context (ltest.c) */
void ltest_push_context(lua_State *L, int entry_idx);
int ltest_context_state(lua_State *L, int idx, const char **reason, const char **log,
                        int *skipped);

#endif
