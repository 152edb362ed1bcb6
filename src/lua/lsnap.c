/* lsnap.c - the snapshot userdata: Snapshot (vm:snapshot, vm:restore) and LabSnapshot
 * (made by lab:snapshot in llabsnap.c).
 *
 * Both name what is on disk, a file or a directory: s:path(), s:size() (bytes on
 * disk, 0 once gone), s:delete() (idempotent). Snapshots made without a path live in
 * the worker's private scratch directory and vanish with it. The two classes share
 * one struct and one set of functions; each method names its class. */
#include "lsnap.h"

#include "lbridge.h"
#include "lfile.h"
#include "lvm.h"

#include "fixture/fixture.h"
#include "util/util.h"
#include "vm/snapshot.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define SNAP_MT "provium.Snapshot"
#define LABSNAP_MT "provium.LabSnapshot"

struct lsnap {
    char *path;
};

static void push_snap(lua_State *L, const char *mt, const char *path)
{
    struct lsnap *s = lua_newuserdatauv(L, sizeof *s, 0);
    s->path = xstrdup(path);
    luaL_setmetatable(L, mt);
}

void lsnap_push(lua_State *L, const char *path) { push_snap(L, SNAP_MT, path); }
void lsnap_push_lab(lua_State *L, const char *dir) { push_snap(L, LABSNAP_MT, dir); }

/* The path of a snapshot of class mt at idx, or of a string there; else NULL. */
static const char *path_or_string(lua_State *L, int idx, const char *mt)
{
    struct lsnap *s = luaL_testudata(L, idx, mt);
    if (s)
        return s->path;
    return lua_type(L, idx) == LUA_TSTRING ? lua_tostring(L, idx) : NULL;
}

const char *lsnap_path(lua_State *L, int idx) { return path_or_string(L, idx, SNAP_MT); }
const char *lsnap_lab_dir(lua_State *L, int idx) { return path_or_string(L, idx, LABSNAP_MT); }

const char *lsnap_path_strict(lua_State *L, int idx)
{
    struct lsnap *s = luaL_testudata(L, idx, SNAP_MT);
    return s ? s->path : NULL;
}

int lsnap_is_lab(lua_State *L, int idx) { return luaL_testudata(L, idx, LABSNAP_MT) != NULL; }

/* ---- the methods of both classes ---- */

static int push_path(lua_State *L, const char *mt)
{
    lua_pushstring(L, ((struct lsnap *)luaL_checkudata(L, 1, mt))->path);
    return 1;
}

/* A Snapshot is a file (a symlink counts as its target); a LabSnapshot a directory. */
static int push_size(lua_State *L, const char *mt)
{
    struct lsnap *s = luaL_checkudata(L, 1, mt);
    struct stat st;
    if (strcmp(mt, SNAP_MT))
        lua_pushinteger(L, (lua_Integer)cache_entry_bytes(s->path));
    else
        lua_pushinteger(L, stat(s->path, &st) == 0 ? (lua_Integer)st.st_blocks * 512 : 0);
    return 1;
}

static int delete_snap(lua_State *L, const char *mt)
{
    rm_rf(((struct lsnap *)luaL_checkudata(L, 1, mt))->path);
    return 0;
}

static int push_text(lua_State *L, const char *mt)
{
    struct lsnap *s = luaL_checkudata(L, 1, mt);
    lua_pushfstring(L, "%s(%s)", strcmp(mt, SNAP_MT) ? "lab_snapshot" : "snapshot", s->path);
    return 1;
}

static int free_snap(lua_State *L, const char *mt)
{
    struct lsnap *s = luaL_checkudata(L, 1, mt);
    free(s->path);
    s->path = NULL;
    return 0;
}

static int snap_path_l(lua_State *L) { return push_path(L, SNAP_MT); }
static int snap_size_l(lua_State *L) { return push_size(L, SNAP_MT); }
static int snap_delete_l(lua_State *L) { return delete_snap(L, SNAP_MT); }
static int snap_tostring_l(lua_State *L) { return push_text(L, SNAP_MT); }
static int snap_gc_l(lua_State *L) { return free_snap(L, SNAP_MT); }
static int labsnap_path_l(lua_State *L) { return push_path(L, LABSNAP_MT); }
static int labsnap_size_l(lua_State *L) { return push_size(L, LABSNAP_MT); }
static int labsnap_delete_l(lua_State *L) { return delete_snap(L, LABSNAP_MT); }
static int labsnap_tostring_l(lua_State *L) { return push_text(L, LABSNAP_MT); }
static int labsnap_gc_l(lua_State *L) { return free_snap(L, LABSNAP_MT); }

/* vm:snapshot(path?) */
static int vm_snapshot_l(lua_State *L)
{
    struct vm *vm = lvm_check(L, 1);
    if (vm->state != VM_BOOTED && vm->state != VM_PAUSED)
        return lapi_raise(L, "vm:snapshot", "%s", lvm_state_error(vm->state));
    struct buf held = {0}; /* open files and streams make a snapshot meaningless */
    int n_held = lfile_describe_open(L, vm, &held);
    if (n_held > 0) {
        lua_pushstring(L, buf_cstr(&held));
        buf_free(&held);
        return lapi_raise(L, "vm:snapshot", "refused: %d open handle(s): %s", n_held,
                          lua_tostring(L, -1));
    }
    buf_free(&held);
    struct lua_host *h = lhost(L);
    char *path;
    if (lua_isnoneornil(L, 2) && h->snapshot_prefix)
        path = xasprintf("%s.%s.tmp-%s-%u", h->snapshot_prefix, vm->name, owner_tag(),
                         ++h->env->counter); /* the cache knows a dead owner's temps */
    else if (lua_isnoneornil(L, 2))
        path = xasprintf("%s/snap-%u-%s.snap", h->env->scratch, ++h->env->counter, vm->name);
    else
        path = path_resolve(NULL, luaL_checkstring(L, 2));
    char err[4096];
    uint64_t bytes = 0;
    int rc = vm_snapshot_save(vm, path, h->fixture_name, &bytes, err, sizeof err);
    if (rc < 0) {
        free(path);
        if (vm->agent.dead || vm->qemu_pid <= 0)
            vm->state = VM_DEAD;
        return lapi_raise(L, "vm:snapshot", "%s", err);
    }
    lsnap_push(L, path);
    free(path);
    return 1;
}

/* vm:restore(snapshot_or_path) */
static int vm_restore_l(lua_State *L)
{
    struct vm *vm = lvm_check(L, 1);
    const char *path = lsnap_path(L, 2);
    if (!path)
        return luaL_argerror(L, 2, "expected a Snapshot or a path");
    if (vm->state != VM_CREATED && vm->state != VM_SHUTDOWN)
        return lapi_raise(L, "vm:restore", "%s", lvm_state_error(vm->state));
    char *abs = path_resolve(NULL, path);
    char err[8192];
    lbridge_forget_vm(L, vm); /* NIC slots come back unattached */
    int rc = vm_restore(vm, abs, err, sizeof err);
    free(abs);
    if (rc < 0)
        return lapi_raise(L, "vm:restore", "%s", err);
    lvm_emit_spawned(L, vm, 1);
    lua_settop(L, 1);
    return 1;
}

void lsnap_open(lua_State *L)
{
    static const luaL_Reg methods[] = {
        {"path", snap_path_l}, {"size", snap_size_l}, {"delete", snap_delete_l}, {NULL, NULL}};
    static const luaL_Reg metamethods[] = {
        {"__tostring", snap_tostring_l}, {"__gc", snap_gc_l}, {NULL, NULL}};
    static const luaL_Reg vm_methods[] = {
        {"snapshot", vm_snapshot_l}, {"restore", vm_restore_l}, {NULL, NULL}};
    static const luaL_Reg lab_methods[] = {{"path", labsnap_path_l},
                                           {"size", labsnap_size_l},
                                           {"delete", labsnap_delete_l},
                                           {NULL, NULL}};
    static const luaL_Reg lab_metamethods[] = {
        {"__tostring", labsnap_tostring_l}, {"__gc", labsnap_gc_l}, {NULL, NULL}};
    lapi_newclass(L, SNAP_MT, methods, metamethods);
    lapi_newclass(L, LABSNAP_MT, lab_methods, lab_metamethods);
    lapi_add_methods(L, "provium.Vm", vm_methods);
}
