/* lapi.h - the Lua face of Provium: globals, Lab, Vm, RunResult, test context.
 *
 * Each worker process owns one lua_State per test file. The bindings follow Lua's own
 * library style: one metatable per type (checked with luaL_checkudata), methods that
 * validate their arguments and raise `<method>: <message>` at the caller's line. */
#ifndef PROVIUM_LAPI_H
#define PROVIUM_LAPI_H

#include "vm/vm.h"
#include "util/util.h"

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

/* Sink for events produced while Lua runs (vm_spawned, ...). The worker points this at
 * its pipe to the parent. */
typedef void (*event_fn)(void *ud, const char *kind, void *json_obj /* json_t*, stolen */);

struct lua_host {
    struct host_env *env;
    const char *file;      /* absolute path of the running file */
    const char *rel_path;  /* path as reported */
    event_fn emit;
    void *emit_ud;
    int file_lab_ref;      /* registry ref of the file lab */
    int timed_out;         /* set when the test deadline fired */
    /* file-scope settings */
    double file_timeout;   /* provium.timeout, 0 = none */
    int reset_between_tests;
    int in_fixture;        /* running a fixture chunk: test() raises */
    const char *fixture_name; /* the fixture being built, recorded in snapshots */
    char *snapshot_prefix;    /* fixture builds: default snapshot paths start here */
    const char *current_test; /* name of the test whose body is running, else NULL */
};

/* Returns the host attached to L. */
struct lua_host *lhost(lua_State *L);

/* Creates the globals (test, todo, wait_until, json, provium, ...) in L. */
void lapi_open(lua_State *L, struct lua_host *h);

/* Raises "<method>: <message>" positioned at the Lua caller. */
/* Text for reports: tostring of the value at idx, NUL bytes written as \x00 (pushed). */
const char *lapi_report_text(lua_State *L, int idx);
const char *lapi_opt_report_text(lua_State *L, int idx, const char *dflt);
int lapi_raise(lua_State *L, const char *method, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Raises for a VMOP_* failure code (dead VM, timeout, guest errno with path). */
int lapi_raise_vmop(lua_State *L, const char *method, struct vm *vm, int rc, int gerr,
                    const char *path);

/* A method of the specification this build lacks: raises "<upvalue 1>: not supported".
 * lapi_open installs one for every such method (lapi.c). */
int lapi_not_supported(lua_State *L);
/* Pushes the method table of the metatable named mt (its __index when a table, else
 * its `methods` field); 0 and nothing pushed when there is none. */
int lapi_push_methods(lua_State *L, const char *mt);

/* Raises "<method>: unknown option `<key>`" for a key of the options table at idx that
 * is not in known (NULL-terminated), or "<method>: option `<key>`: not supported" for
 * one in later (the spec's options this build lacks; may be NULL). */
void lapi_check_opts(lua_State *L, int idx, const char *method, const char *const known[],
                     const char *const later[]);

/* Durations and sizes from Lua values (number or string), raising on bad input. */
double lapi_check_duration(lua_State *L, int idx, const char *method);
uint64_t lapi_check_size(lua_State *L, int idx, const char *method);

/* Sub-registrations, one per file. */
void lapi_open_json(lua_State *L);
void lapi_open_test(lua_State *L);
void lapi_open_vm(lua_State *L);
void lapi_open_lab(lua_State *L);
void lapi_open_snapshot(lua_State *L);
void lapi_open_file(lua_State *L); /* lfile.c */
void lapi_open_labsnap(lua_State *L);
void lapi_open_bridge(lua_State *L);
void lapi_open_clock(lua_State *L);
void lapi_open_proc(lua_State *L);
void lapi_open_stream(lua_State *L);
void lapi_open_nic(lua_State *L);
void lapi_open_console(lua_State *L);

/* Lab helpers used by the worker. */
void lab_push_new(lua_State *L, const char *name, int parent_idx); /* pushes a new Lab */
void lab_teardown(lua_State *L, int idx, int kill);                /* shuts VMs down */
void lab_collect_consoles(lua_State *L, int idx, struct buf *out); /* console excerpts */
int lab_name_taken(lua_State *L, int lab_idx, const char *name);   /* here or in a parent */
void lab_add_vm(lua_State *L, int lab_idx, int vm_idx);
int lab_is(lua_State *L, int idx);
int lab_find_vm(lua_State *L, int lab, const char *name); /* here or in a parent; pushes */
int lab_valid_name(const char *s); /* VM and bridge names */
int lab_field(lua_State *L, int idx, const char *key);            /* pushes a state field */
/* Removes the member at member_idx from the lab's "vms" or "labs" list. */
void lab_remove_member(lua_State *L, int lab_idx, const char *list, int member_idx);
int lab_find_sublab(lua_State *L, int lab_idx, const char *name); /* pushes it, or 0 */
/* The names of the lab's bridges, sorted (appended to out). */
void lab_bridge_names_sorted(lua_State *L, int lab, struct strv *out);
/* Removes element i of the sequence at list, shifting the rest down. */
void lab_list_remove(lua_State *L, int list, lua_Integer i);
void lab_push_sublab(lua_State *L, int lab_idx, const char *name); /* creates, pushes */

/* Lab methods implemented outside llab.c. */
int lab_vm_fixture(lua_State *L);  /* lfixture.c */
int lab_lab_fixture(lua_State *L); /* lfixture.c */
int lab_snapshot(lua_State *L);    /* llabsnap.c */
int lab_restore(lua_State *L);     /* llabsnap.c */
int lab_bridge(lua_State *L);      /* lbridge.c */
/* Builds fixture `name` unless the cache holds it (no restore); -1 with err. */
int lfixture_ensure(lua_State *L, const char *name, char *err, size_t errlen);

/* Lab snapshots (llabsnap.c). */
void labsnap_push(lua_State *L, const char *dir);
const char *labsnap_dir(lua_State *L, int idx); /* LabSnapshot or string, else NULL */
/* Restores the lab snapshot in dir into the lab at lab_idx (new VMs). */
int labsnap_restore(lua_State *L, int lab_idx, const char *dir, char *err, size_t errlen);
/* Puts the lab tree at lab_idx back to the snapshot in dir, reusing its Vm objects
 * (provium.reset_between_tests). */
int labsnap_reset(lua_State *L, int lab_idx, const char *dir, char *err, size_t errlen);
/* Takes a lab snapshot of the tree at lab_idx into dir (NULL: scratch); returns the
 * directory (malloc'd) or NULL with err. */
char *labsnap_take(lua_State *L, int lab_idx, const char *dir, char *err, size_t errlen);

/* The test-context sentinel for t:skip(). */
extern const char *const LAPI_SKIP_SENTINEL;

#endif
