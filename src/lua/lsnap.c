/* lsnap.c - Snapshot userdata and vm:snapshot / vm:restore.
 *
 * A Snapshot names a file: s:path(), s:size() (bytes on disk, 0 once gone),
 * s:delete() (idempotent). Snapshots made without a path live in the worker's private
 * scratch directory and vanish with it. */
#include "lapi.h"
#include "lfile.h"
#include "lvm.h"
#include "lbridge.h"

#include "util/util.h"
#include "vm/snapshot.h"

#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define SNAP_MT "provium.Snapshot"

struct lsnap {
    char *path;
};

void lsnap_push(lua_State *L, const char *path)
{
    struct lsnap *s = lua_newuserdatauv(L, sizeof *s, 0);
    s->path = xstrdup(path);
    luaL_setmetatable(L, SNAP_MT);
}

const char *lsnap_path(lua_State *L, int idx)
{
    struct lsnap *s = luaL_testudata(L, idx, SNAP_MT);
    if (s)
        return s->path;
    return lua_type(L, idx) == LUA_TSTRING ? lua_tostring(L, idx) : NULL;
}

const char *lsnap_path_strict(lua_State *L, int idx)
{
    struct lsnap *s = luaL_testudata(L, idx, SNAP_MT);
    return s ? s->path : NULL;
}

int lsnap_is_lab(lua_State *L, int idx)
{
    return luaL_testudata(L, idx, "provium.LabSnapshot") != NULL;
}

static struct lsnap *check_snap(lua_State *L) { return luaL_checkudata(L, 1, SNAP_MT); }

static int snap_path(lua_State *L)
{
    lua_pushstring(L, check_snap(L)->path);
    return 1;
}

static int snap_size(lua_State *L)
{
    struct stat st;
    struct lsnap *s = check_snap(L);
    lua_pushinteger(L, stat(s->path, &st) == 0 ? (lua_Integer)st.st_blocks * 512 : 0);
    return 1;
}

static int snap_delete(lua_State *L)
{
    struct lsnap *s = check_snap(L);
    rm_rf(s->path);
    return 0;
}

static int snap_tostring(lua_State *L)
{
    lua_pushfstring(L, "snapshot(%s)", check_snap(L)->path);
    return 1;
}

static int snap_gc(lua_State *L)
{
    struct lsnap *s = check_snap(L);
    free(s->path);
    s->path = NULL;
    return 0;
}

/* vm:snapshot(path?) */
int lvm_snapshot(lua_State *L)
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
int lvm_restore(lua_State *L)
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

void lapi_open_snapshot(lua_State *L)
{
    static const luaL_Reg methods[] = {
        {"path", snap_path}, {"size", snap_size}, {"delete", snap_delete}, {NULL, NULL}};
    luaL_newmetatable(L, SNAP_MT);
    luaL_newlib(L, methods);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, snap_tostring);
    lua_setfield(L, -2, "__tostring");
    lua_pushcfunction(L, snap_gc);
    lua_setfield(L, -2, "__gc");
    lua_pop(L, 1);
}
