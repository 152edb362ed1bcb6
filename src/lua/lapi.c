/* lapi.c - shared plumbing of the Lua bindings: the host pointer, error raising with
 * the spec's message shapes, duration/size arguments, classes, and lapi_open() which
 * installs every global and class a test file sees (each file registers its own). */
#include "lapi.h"

#include "lbarrier.h"
#include "lbatch.h"
#include "lbridge.h"
#include "lbridge_route.h"
#include "lbridge_rules.h"
#include "lclock.h"
#include "lconsole.h"
#include "ldisk.h"
#include "lfile.h"
#include "lfixture.h"
#include "ljson.h"
#include "llab.h"
#include "llabsnap.h"
#include "lnic.h"
#include "lpower.h"
#include "lproc.h"
#include "lsnap.h"
#include "lstream.h"
#include "ltest.h"
#include "lvm.h"

#include "config/config.h"
#include "util/units.h"
#include "util/util.h"
#include "vm/vm.h"

#include <errno.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

static const char HOST_KEY = 'h';

struct lua_host *lhost(lua_State *L)
{
    lua_rawgetp(L, LUA_REGISTRYINDEX, &HOST_KEY);
    struct lua_host *h = lua_touserdata(L, -1);
    lua_pop(L, 1);
    return h;
}

int lapi_raise(lua_State *L, const char *method, const char *fmt, ...)
{
    char *msg;
    va_list ap;
    va_start(ap, fmt);
    if (vasprintf(&msg, fmt, ap) < 0)
        msg = NULL;
    va_end(ap);
    luaL_where(L, 1);
    lua_pushfstring(L, "%s: %s", method, msg ? msg : "out of memory");
    free(msg);
    lua_concat(L, 2);
    return lua_error(L);
}

int lapi_raise_vmop(lua_State *L, const char *method, struct vm *vm, int rc, int gerr,
                    const char *path)
{
    if (rc == VMOP_TIMEOUT) {
        lhost(L)->timed_out = 1;
        return lapi_raise(L, method, "test timeout exceeded");
    }
    if ((rc == VMOP_DEAD || rc == VMOP_PROTO) && vm->state == VM_SHUTDOWN)
        return lapi_raise(L, method, "VM is shutdown; create a new one (%s)",
                          vm->dead_reason[0] ? vm->dead_reason : "powered off");
    if (rc == VMOP_DEAD || rc == VMOP_PROTO)
        return lapi_raise(L, method, "VM died; create a new one (%s)",
                          vm->dead_reason[0] ? vm->dead_reason : "agent lost");
    const char *name = strerrorname_np(gerr);
    if (path)
        return lapi_raise(L, method, "%s: %s (%s)", path, name ? name : "EIO", strerror(gerr));
    return lapi_raise(L, method, "%s (%s)", name ? name : "EIO", strerror(gerr));
}

double lapi_check_duration(lua_State *L, int idx, const char *method)
{
    if (lua_type(L, idx) == LUA_TNUMBER) {
        double d = lua_tonumber(L, idx);
        if (units_check_duration(d, 0) < 0)
            lapi_raise(L, method, "invalid duration: %s", luaL_tolstring(L, idx, NULL));
        return d;
    }
    if (lua_type(L, idx) == LUA_TSTRING) {
        double d;
        if (units_parse_duration(lua_tostring(L, idx), 0, &d) < 0)
            lapi_raise(L, method, "invalid duration: %s", lua_tostring(L, idx));
        return d;
    }
    lapi_raise(L, method, "invalid duration: %s", luaL_tolstring(L, idx, NULL));
    return 0;
}

uint64_t lapi_check_size(lua_State *L, int idx, const char *method)
{
    if (lua_isinteger(L, idx)) {
        lua_Integer v = lua_tointeger(L, idx);
        if (v < 0)
            lapi_raise(L, method, "invalid size: %lld", (long long)v);
        return (uint64_t)v;
    }
    if (lua_type(L, idx) == LUA_TSTRING) {
        uint64_t v;
        if (units_parse_size(lua_tostring(L, idx), &v) < 0)
            lapi_raise(L, method, "invalid size: %s", lua_tostring(L, idx));
        return v;
    }
    lapi_raise(L, method, "invalid size: %s", luaL_tolstring(L, idx, NULL));
    return 0;
}

static int in_list(const char *k, const char *const *list)
{
    for (; k && list && *list; list++)
        if (!strcmp(k, *list))
            return 1;
    return 0;
}

void lapi_check_opts(lua_State *L, int idx, const char *method, const char *const known[],
                     const char *const later[])
{
    idx = lua_absindex(L, idx);
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        lua_pop(L, 1);
        const char *k = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
        if (in_list(k, known))
            continue;
        if (in_list(k, later))
            lapi_raise(L, method, "option `%s`: not supported", k);
        lapi_raise(L, method, "unknown option `%s`", luaL_tolstring(L, -1, NULL));
    }
}

/* ---- methods the specification lists that this build lacks ---- */

/* Spec §4, per metatable: each name without a real method gets a stub raising
 * "<prefix>:<name>: not supported" at the caller's line (never "attempt to call a nil
 * value"). A method implemented later simply takes precedence over its stub. The
 * LuaLS annotations (src/cli/lsp_types.lua) declare only real methods; the unit test
 * tests/unit/test_lapi_stubs.c keeps the two in step. */
static const char *const LAB_LATER[] = {NULL};
static const char *const VM_LATER[] = {"syscall", "syscall_async", "ioctl", "read_mem",
                                       "spawn_worker", NULL};
static const char *const CONSOLE_LATER[] = {NULL};

static const struct {
    const char *mt, *prefix;
    const char *const *names;
} UNSUPPORTED[] = {
    {"provium.Lab", "lab", LAB_LATER},
    {"provium.Vm", "vm", VM_LATER},
    {"provium.Console", "console", CONSOLE_LATER},
};

/* Reports are C strings, which would end at the first NUL byte of a message or a log
 * line; so report text is the string (or tostring) of the value with NUL as "\x00". */
const char *lapi_report_text(lua_State *L, int idx)
{
    size_t n;
    const char *s = luaL_tolstring(L, idx, &n);
    if (memchr(s, 0, n) == NULL)
        return s;
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    for (size_t i = 0; i < n; i++) {
        if (s[i])
            luaL_addchar(&b, s[i]);
        else
            luaL_addstring(&b, "\\x00");
    }
    luaL_pushresult(&b);
    return lua_tostring(L, -1);
}

/* lapi_report_text of an optional argument, or dflt when it is none or nil. */
const char *lapi_opt_report_text(lua_State *L, int idx, const char *dflt)
{
    if (lua_isnoneornil(L, idx))
        return dflt;
    luaL_checkstring(L, idx);
    return lapi_report_text(L, idx);
}

int lapi_not_supported(lua_State *L)
{
    return lapi_raise(L, lua_tostring(L, lua_upvalueindex(1)), "not supported");
}

void lapi_newclass(lua_State *L, const char *name, const luaL_Reg *methods,
                   const luaL_Reg *metamethods)
{
    luaL_newmetatable(L, name);
    lua_newtable(L);
    luaL_setfuncs(L, methods, 0);
    int own_index = 0;
    for (const luaL_Reg *r = metamethods; r && r->name; r++)
        own_index |= !strcmp(r->name, "__index");
    lua_setfield(L, -2, own_index ? "methods" : "__index");
    if (metamethods)
        luaL_setfuncs(L, metamethods, 0);
    lua_pop(L, 1);
}

void lapi_add_methods(lua_State *L, const char *name, const luaL_Reg *methods)
{
    if (!lapi_push_methods(L, name))
        luaL_error(L, "lapi_add_methods: no class %s", name);
    luaL_setfuncs(L, methods, 0);
    lua_pop(L, 1);
}

void lapi_push_weak_registry(lua_State *L, const void *key)
{
    if (lua_rawgetp(L, LUA_REGISTRYINDEX, key) == LUA_TTABLE)
        return;
    lua_pop(L, 1);
    lua_newtable(L);
    lua_createtable(L, 0, 1);
    lua_pushliteral(L, "k");
    lua_setfield(L, -2, "__mode");
    lua_setmetatable(L, -2);
    lua_pushvalue(L, -1);
    lua_rawsetp(L, LUA_REGISTRYINDEX, key);
}

int lapi_push_methods(lua_State *L, const char *mt)
{
    if (luaL_getmetatable(L, mt) != LUA_TTABLE) {
        lua_pop(L, 1);
        return 0;
    }
    if (lua_getfield(L, -1, "__index") != LUA_TTABLE) {
        lua_pop(L, 1);
        lua_getfield(L, -1, "methods");
    }
    lua_remove(L, -2);
    if (!lua_istable(L, -1)) {
        lua_pop(L, 1);
        return 0;
    }
    return 1;
}

static void open_unsupported(lua_State *L)
{
    for (size_t i = 0; i < sizeof UNSUPPORTED / sizeof UNSUPPORTED[0]; i++) {
        if (!lapi_push_methods(L, UNSUPPORTED[i].mt))
            continue;
        for (const char *const *m = UNSUPPORTED[i].names; *m; m++) {
            if (lua_getfield(L, -1, *m) == LUA_TNIL) {
                lua_pushfstring(L, "%s:%s", UNSUPPORTED[i].prefix, *m);
                lua_pushcclosure(L, lapi_not_supported, 1);
                lua_setfield(L, -3, *m);
            }
            lua_pop(L, 1);
        }
        lua_pop(L, 1);
    }
}

/* package.path gets <root>/?.lua;<root>/?/init.lua per root, in order, first. */
static void set_package_path(lua_State *L, const struct config *cfg)
{
    lua_getglobal(L, "package");
    struct buf b = {0};
    for (size_t i = 0; i < cfg->n_roots; i++)
        buf_printf(&b, "%s/?.lua;%s/?/init.lua;", cfg->roots[i], cfg->roots[i]);
    lua_getfield(L, -1, "path");
    buf_puts(&b, lua_tostring(L, -1));
    lua_pop(L, 1);
    lua_pushstring(L, buf_cstr(&b));
    lua_setfield(L, -2, "path");
    lua_pop(L, 1);
    buf_free(&b);
}

void lapi_open(lua_State *L, struct lua_host *h)
{
    luaL_openlibs(L);
    lua_pushlightuserdata(L, h);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &HOST_KEY);
    set_package_path(L, h->env->cfg);
    lua_pushstring(L, h->file);
    lua_setglobal(L, "_PROVIUM_SOURCE_PATH");
    ljson_open(L);
    ltest_open(L);
    /* the classes others add to first: Vm (and RunResult), Lab, Bridge */
    lvm_open(L);
    llab_open(L);
    lbridge_open(L);
    /* then each file's own classes and its methods on those */
    lbridge_rules_open(L);
    lbridge_route_open(L);
    lsnap_open(L);
    llabsnap_open(L);
    lfile_open(L);
    lstream_open(L);
    lproc_open(L);
    lbatch_open(L);
    lbarrier_open(L);
    lclock_open(L);
    lconsole_open(L);
    lpower_open(L);
    ldisk_open(L);
    lnic_open(L);
    lfixture_open(L);
    open_unsupported(L);
    /* the file lab is `provium` outside tests */
    llab_push_new(L, "file", 0);
    lua_pushvalue(L, -1);
    h->file_lab_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    lua_setglobal(L, "provium");
}
