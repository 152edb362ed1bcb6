/* lapi.h - the Lua face of Provium: the host a lua_State runs for, lapi_open() which
 * installs every global and class a test file sees, and the plumbing every binding
 * file shares (raising, options, durations, sizes, classes).
 *
 * Each worker process owns one lua_State per test file. The bindings follow Lua's own
 * library style (lauxlib): one metatable per type, checked with luaL_checkudata; methods
 * validate their arguments before they allocate and raise `<method>: <message>` at the
 * caller's line (lapi_raise). Each l<file>.c owns its types: it creates their classes
 * (lapi_newclass) and adds its methods to other files' classes (lapi_add_methods) from
 * its own static luaL_Reg tables, in its l<file>_open(L); lapi_open calls those in
 * order, owners of a class before the files that add to it. Each file has its own
 * header declaring only its own API.
 *
 * Naming, one rule for the whole room:
 *   - Lua entry points (methods, metamethods, globals) are static and named
 *     `<type>_<method>_l`: vm_run_l, proc_wait_l, lab_bridge_l, file_gc_l, json_encode_l.
 *   - C helpers another file calls are `l<file>_<verb>`: lvm_check, lproc_end_test,
 *     llab_teardown, lbridge_guest_up; static helpers have plain names (no `_l`).
 *   - Each file registers from `l<file>_open(L)`. */
#ifndef PROVIUM_LAPI_H
#define PROVIUM_LAPI_H

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
#include <stdint.h>

struct host_env;
struct vm;

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
    /* lab:barrier through the run's broker (the worker's parent; NULL outside a run):
     * blocks until `count` arrivals of `name` (1), the deadline (CLOCK_MONOTONIC) or a
     * count mismatch (0, why says which), or the broker is gone (-1, why). */
    int (*barrier)(struct lua_host *h, const char *name, int count, int64_t deadline_ns,
                   char *why, size_t whylen);
};

/* Returns the host attached to L. */
struct lua_host *lhost(lua_State *L);

/* Creates the globals (test, todo, wait_until, json, provium, ...) and classes in L. */
void lapi_open(lua_State *L, struct lua_host *h);

/* Raises "<method>: <message>" positioned at the Lua caller. */
int lapi_raise(lua_State *L, const char *method, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Raises for a VMOP_* failure code (dead VM, timeout, guest errno with path). */
int lapi_raise_vmop(lua_State *L, const char *method, struct vm *vm, int rc, int gerr,
                    const char *path);
/* Text for reports: tostring of the value at idx, NUL bytes written as \x00 (pushed). */
const char *lapi_report_text(lua_State *L, int idx);
const char *lapi_opt_report_text(lua_State *L, int idx, const char *dflt);

/* Raises "<method>: unknown option `<key>`" for a key of the options table at idx that
 * is not in known (NULL-terminated), or "<method>: option `<key>`: not supported" for
 * one in later (the spec's options this build lacks; may be NULL). */
void lapi_check_opts(lua_State *L, int idx, const char *method, const char *const known[],
                     const char *const later[]);

/* Durations and sizes from Lua values (number or string), raising on bad input. */
double lapi_check_duration(lua_State *L, int idx, const char *method);
uint64_t lapi_check_size(lua_State *L, int idx, const char *method);

/* Classes. lapi_newclass creates metatable `name` with a method table made of methods
 * and sets the metamethods (__gc, __tostring, __close, ...; may be NULL). The method
 * table is the metatable's __index, or its `methods` field when metamethods bring an
 * __index of their own. lapi_add_methods adds methods to the method table of class
 * `name` (a companion file's methods on the Vm, the Lab or the Bridge). */
void lapi_newclass(lua_State *L, const char *name, const luaL_Reg *methods,
                   const luaL_Reg *metamethods);
void lapi_add_methods(lua_State *L, const char *name, const luaL_Reg *methods);
/* Pushes the method table of the class `mt`; 0 and nothing pushed when there is none. */
int lapi_push_methods(lua_State *L, const char *mt);
/* Registry table `key` whose keys are weak (pushed; created on first use). */
void lapi_push_weak_registry(lua_State *L, const void *key);

/* A method of the specification this build lacks: raises "<upvalue 1>: not supported".
 * lapi_open installs one for every such method (lapi.c). */
int lapi_not_supported(lua_State *L);

#endif
