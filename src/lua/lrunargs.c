/* lrunargs.c - vm:run's and vm:run_async's argument forms, turned into an exec request.
 *
 * The forms (spec §4.2): `cmd` runs under `sh -c`; `prog, {a, b}` or `{args = ...}` execs
 * prog directly; an options table adds env, env_clear, cwd, stdin and timeout. A Lua
 * error unwinds with longjmp, past any C cleanup, so every form is checked first
 * (check_exec_args) and only then are the strings copied, into a userdata whose __gc
 * frees them: a raise that still comes later (a metamethod of a proxy table, memory)
 * leaves garbage for the collector, not a leak.
 */
#include "lrunargs.h"

#include "util/util.h"

#include <string.h>

#define RUNARGS_MT "provium.RunArgs"

/* The copies of one call's strings; req points into them. */
struct runargs {
    struct strv argv, env;
};

static int runargs_gc_l(lua_State *L)
{
    struct runargs *a = luaL_checkudata(L, 1, RUNARGS_MT);
    strv_free(&a->argv);
    strv_free(&a->env);
    return 0;
}

/* Pushes an empty struct runargs that the collector frees. */
static struct runargs *push_runargs(lua_State *L)
{
    struct runargs *a = lua_newuserdatauv(L, sizeof *a, 0);
    memset(a, 0, sizeof *a);
    if (luaL_newmetatable(L, RUNARGS_MT)) {
        lua_pushcfunction(L, runargs_gc_l);
        lua_setfield(L, -2, "__gc");
    }
    lua_setmetatable(L, -2);
    return a;
}

static int table_is_array(lua_State *L, int idx)
{
    lua_Integer n = (lua_Integer)lua_rawlen(L, idx);
    lua_Integer count = 0;
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        lua_pop(L, 1);
        count++;
        if (!lua_isinteger(L, -1) || lua_tointeger(L, -1) < 1 || lua_tointeger(L, -1) > n) {
            lua_pop(L, 1);
            return 0;
        }
    }
    return count == n;
}

static void check_strings(lua_State *L, int idx, const char *what, const char *method)
{
    lua_Integer n = luaL_len(L, idx);
    for (lua_Integer i = 1; i <= n; i++) {
        int type = lua_geti(L, idx, i);
        if (type != LUA_TSTRING && type != LUA_TNUMBER)
            lapi_raise(L, method, "%s[%lld] must be a string", what, (long long)i);
        lua_pop(L, 1);
    }
}

static void check_env(lua_State *L, int idx, const char *method)
{
    if (!lua_istable(L, idx))
        lapi_raise(L, method, "option `env` must be a table of NAME = value");
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        if (lua_type(L, -2) != LUA_TSTRING)
            lapi_raise(L, method, "env keys must be strings");
        if (lua_type(L, -1) != LUA_TSTRING && lua_type(L, -1) != LUA_TNUMBER)
            lapi_raise(L, method, "env value of %s must be a string", lua_tostring(L, -2));
        lua_pop(L, 1);
    }
}

/* The options of the table form; the field is popped again after each check. */
static void check_exec_opts(lua_State *L, const char *method, int async)
{
    if (lua_getfield(L, 3, "args") != LUA_TNIL) {
        if (!lua_istable(L, -1))
            lapi_raise(L, method, "option `args` must be a list of strings");
        check_strings(L, lua_gettop(L), "args", method);
    }
    lua_pop(L, 1);
    if (lua_getfield(L, 3, "env") != LUA_TNIL)
        check_env(L, lua_gettop(L), method);
    lua_pop(L, 1);
    if (lua_getfield(L, 3, "cwd") != LUA_TNIL && lua_type(L, -1) != LUA_TSTRING)
        lapi_raise(L, method, "option `cwd` must be a string");
    lua_pop(L, 1);
    if (lua_getfield(L, 3, "stdin") != LUA_TNIL && lua_type(L, -1) != LUA_TSTRING)
        lapi_raise(L, method, "option `stdin` must be a string");
    lua_pop(L, 1);
    if (lua_getfield(L, 3, "timeout") != LUA_TNIL) {
        if (async)
            lapi_raise(L, method, "no `timeout` here; use proc:wait(timeout)");
        lapi_check_duration(L, -1, method);
    }
    lua_pop(L, 1);
    if (lua_getfield(L, 3, "timeout_ms") != LUA_TNIL) {
        if (async)
            lapi_raise(L, method, "no `timeout_ms` here; use proc:wait(timeout)");
        if (!lua_isnumber(L, -1) || lua_tonumber(L, -1) < 0)
            lapi_raise(L, method, "invalid duration: %s", luaL_tolstring(L, -1, NULL));
    }
    lua_pop(L, 1);
}

static void check_exec_args(lua_State *L, const char *method, int async)
{
    luaL_checkstring(L, 2);
    if (lua_istable(L, 3) && table_is_array(L, 3))
        check_strings(L, 3, "args", method);
    else if (lua_istable(L, 3))
        check_exec_opts(L, method, async);
    else if (!lua_isnoneornil(L, 3))
        lapi_raise(L, method, "second argument must be a list of arguments or an options table");
}

/* Copies the (checked) strings of the array at idx. */
static void push_strings(lua_State *L, int idx, struct strv *out)
{
    lua_Integer n = luaL_len(L, idx);
    for (lua_Integer i = 1; i <= n; i++) {
        lua_geti(L, idx, i);
        strv_push(out, lua_tostring(L, -1));
        lua_pop(L, 1);
    }
}

static void push_env(lua_State *L, int idx, struct strv *out)
{
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        lua_pushvalue(L, -1); /* tostring on a copy: lua_next needs the key untouched */
        strv_pushf(out, "%s=%s", lua_tostring(L, -3), lua_tostring(L, -1));
        lua_pop(L, 2);
    }
}

void lrunargs_parse(lua_State *L, const char *method, int async, struct exec_req *req)
{
    check_exec_args(L, method, async);
    const char *cmd = lua_tostring(L, 2);
    struct runargs *a = push_runargs(L);
    struct strv *argv = &a->argv, *env = &a->env;
    int direct = 0;
    if (lua_istable(L, 3) && table_is_array(L, 3)) {
        direct = 1;
        strv_push(argv, cmd);
        push_strings(L, 3, argv);
    } else if (lua_istable(L, 3)) {
        if (lua_getfield(L, 3, "args") != LUA_TNIL) {
            direct = 1;
            strv_push(argv, cmd);
            push_strings(L, lua_gettop(L), argv);
        }
        lua_pop(L, 1);
        if (lua_getfield(L, 3, "env") != LUA_TNIL)
            push_env(L, lua_gettop(L), env);
        lua_pop(L, 1);
        lua_getfield(L, 3, "env_clear");
        req->env_clear = lua_toboolean(L, -1);
        lua_pop(L, 1);
        if (lua_getfield(L, 3, "cwd") != LUA_TNIL)
            req->cwd = lua_tostring(L, -1);
        lua_pop(L, 1); /* the strings stay alive in the opts table */
        if (lua_getfield(L, 3, "stdin") != LUA_TNIL) {
            req->stdin_data = lua_tolstring(L, -1, &req->stdin_len);
            req->has_stdin = 1;
        }
        lua_pop(L, 1);
        if (lua_getfield(L, 3, "timeout") != LUA_TNIL)
            req->timeout = lapi_check_duration(L, -1, method);
        lua_pop(L, 1);
        if (lua_getfield(L, 3, "timeout_ms") != LUA_TNIL)
            req->timeout = lua_tonumber(L, -1) / 1000.0;
        lua_pop(L, 1);
    }
    if (!direct) {
        strv_push(argv, "sh");
        strv_push(argv, "-c");
        strv_push(argv, cmd);
    }
    req->argv = argv->v;
    req->env = env->v;
}

