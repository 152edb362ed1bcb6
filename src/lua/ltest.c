/* ltest.c - test registration and the test context `t`.
 *
 * test(name, [meta,] fn) appends {name, meta, fn} to a registry list the worker runs
 * later; todo() marks the file skipped; wait_until polls a predicate. The context `t`
 * is a userdata whose failure flag is sticky: once an assertion failed the test fails,
 * even if the raise was swallowed by a pcall. */
#include "ltest.h"


#include "util/util.h"
#include "vm/vm.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *const LTEST_SKIP_SENTINEL = "provium:skip";
#define TCTX_MT "provium.TestContext"

/* registry["provium.tests"] = { {name=, meta=, fn=}, ... } */
static void push_tests(lua_State *L)
{
    if (lua_getfield(L, LUA_REGISTRYINDEX, "provium.tests") != LUA_TTABLE) {
        lua_pop(L, 1);
        lua_newtable(L);
        lua_pushvalue(L, -1);
        lua_setfield(L, LUA_REGISTRYINDEX, "provium.tests");
    }
}

static int test_l(lua_State *L)
{
    if (lhost(L)->in_fixture)
        return luaL_error(L, "test() is not allowed in a fixture");
    int n = lua_gettop(L);
    int meta_idx = 0, fn_idx;
    if (n == 2 && lua_type(L, 1) == LUA_TSTRING && lua_type(L, 2) == LUA_TFUNCTION)
        fn_idx = 2;
    else if (n == 3 && lua_type(L, 1) == LUA_TSTRING && lua_type(L, 2) == LUA_TTABLE &&
             lua_type(L, 3) == LUA_TFUNCTION)
        meta_idx = 2, fn_idx = 3;
    else
        return luaL_error(L, "test: bad arguments (expected test(name, fn) or test(name, meta, fn))");
    const char *name = lua_tostring(L, 1);
    if (meta_idx && lua_getfield(L, meta_idx, "timeout") != LUA_TNIL)
        lapi_check_duration(L, -1, "test"); /* "invalid duration: <value>" at the caller */
    lua_settop(L, n);
    push_tests(L);
    int tests = lua_gettop(L);
    lua_Integer len = luaL_len(L, tests);
    for (lua_Integer i = 1; i <= len; i++) {
        lua_rawgeti(L, tests, i);
        lua_getfield(L, -1, "name");
        int dup = !strcmp(lua_tostring(L, -1), name);
        lua_pop(L, 2);
        if (dup)
            return luaL_error(L, "test: duplicate test name '%s'", name);
    }
    lua_createtable(L, 0, 3);
    lua_pushvalue(L, 1);
    lua_setfield(L, -2, "name");
    if (meta_idx)
        lua_pushvalue(L, meta_idx);
    else
        lua_newtable(L);
    lua_setfield(L, -2, "meta");
    lua_pushvalue(L, fn_idx);
    lua_setfield(L, -2, "fn");
    lua_rawseti(L, tests, len + 1);
    return 0;
}

static int todo_l(lua_State *L)
{
    const char *reason = lapi_opt_report_text(L, 1, "todo");
    lua_pushstring(L, reason);
    lua_setfield(L, LUA_REGISTRYINDEX, "provium.todo");
    return 0;
}

/* wait_until(pred, {timeout=10, interval=0.1, desc="condition"}) */
static int wait_until_l(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TFUNCTION);
    double timeout = 10, interval = 0.1;
    const char *desc = "condition";
    if (!lua_isnoneornil(L, 2)) {
        luaL_checktype(L, 2, LUA_TTABLE);
        if (lua_getfield(L, 2, "timeout") != LUA_TNIL)
            timeout = lapi_check_duration(L, -1, "wait_until");
        lua_pop(L, 1);
        if (lua_getfield(L, 2, "interval") != LUA_TNIL)
            interval = lapi_check_duration(L, -1, "wait_until");
        lua_pop(L, 1);
        if (lua_getfield(L, 2, "desc") == LUA_TSTRING)
            desc = lua_tostring(L, -1); /* stays on the stack while we loop */
    }
    struct lua_host *h = lhost(L);
    int64_t end = now_ns() + (int64_t)(timeout * 1e9);
    for (;;) {
        lua_pushvalue(L, 1);
        lua_call(L, 0, 1);
        if (lua_toboolean(L, -1))
            return 1;
        lua_pop(L, 1);
        int64_t now = now_ns();
        if (now >= end)
            break;
        int64_t sleep = (int64_t)(interval * 1e9);
        if (now + sleep > end)
            sleep = end - now;
        if (h->env->deadline_ns && now + sleep > h->env->deadline_ns) {
            h->timed_out = 1;
            return luaL_error(L, "wait_until: test timeout exceeded");
        }
        sleep_ms((int)(sleep / 1000000));
    }
    char secs[64];
    snprintf(secs, sizeof secs, "%g", timeout);
    return luaL_error(L, "wait_until: %s not met within %ss", desc, secs);
}

/* ---- test context ---- */

struct tctx {
    int failed;
    int skipped;
    struct buf reason;
    struct buf log; /* lines separated by \n */
};

static struct tctx *check_t(lua_State *L)
{
    return luaL_checkudata(L, 1, TCTX_MT);
}

/* Records the failure (first one wins as the reason) and raises msg. */
static int fail_test(lua_State *L, struct tctx *t, const char *msg)
{
    luaL_where(L, 1);
    const char *where = lua_tostring(L, -1);
    if (!t->failed) {
        t->failed = 1;
        buf_puts(&t->reason, where);
        buf_puts(&t->reason, msg);
    }
    lua_pushfstring(L, "%s%s", where, msg);
    return lua_error(L);
}

static int ctx_assert_l(lua_State *L)
{
    struct tctx *t = check_t(L);
    luaL_checkany(L, 2);
    if (lua_toboolean(L, 2))
        return 0;
    return fail_test(L, t, lapi_opt_report_text(L, 3, "assertion failed"));
}

/* Fails with "<msg>: <a> ~= <b>" (assert_eq) or "<msg>: <a> == <b>" (assert_neq);
 * without msg the text is just "<a> ~= <b>". */
static int assert_equality(lua_State *L, int want_equal)
{
    struct tctx *t = check_t(L);
    luaL_checkany(L, 2);
    luaL_checkany(L, 3);
    lua_settop(L, 4); /* slot 4 is the message or nil, whatever the caller passed */
    int eq = lua_compare(L, 2, 3, LUA_OPEQ);
    if (eq == want_equal)
        return 0;
    const char *msg = lapi_opt_report_text(L, 4, NULL);
    const char *a = lapi_report_text(L, 2);
    const char *b = lapi_report_text(L, 3);
    const char *op = want_equal ? "~=" : "==";
    if (msg)
        lua_pushfstring(L, "%s: %s %s %s", msg, a, op, b);
    else
        lua_pushfstring(L, "%s %s %s", a, op, b);
    return fail_test(L, t, lua_tostring(L, -1));
}

static int ctx_assert_eq_l(lua_State *L) { return assert_equality(L, 1); }
static int ctx_assert_neq_l(lua_State *L) { return assert_equality(L, 0); }

/* Plain substring test; both arguments must be strings (numbers are not converted). */
static int ctx_assert_contains_l(lua_State *L)
{
    struct tctx *t = check_t(L);
    luaL_checktype(L, 2, LUA_TSTRING);
    luaL_checktype(L, 3, LUA_TSTRING);
    size_t n, m;
    const char *s = lua_tolstring(L, 2, &n);
    const char *sub = lua_tolstring(L, 3, &m);
    if (m == 0 || memmem(s, n, sub, m))
        return 0;
    const char *msg = lapi_opt_report_text(L, 4, "assert_contains");
    sub = lapi_report_text(L, 3);
    s = lapi_report_text(L, 2);
    char *full = xasprintf("%s: '%s' not found in '%.1024s'", msg, sub, s);
    lua_pushstring(L, full);
    free(full);
    return fail_test(L, t, lua_tostring(L, -1));
}

/* Calls fn and returns its error value. The sticky failure flag is saved and restored
 * around fn, as the reference does: an assertion failing inside fn is the expected
 * raise, not a failure of the test. t:skip inside fn still skips. */
static int ctx_assert_raises_l(lua_State *L)
{
    struct tctx *t = check_t(L);
    luaL_checktype(L, 2, LUA_TFUNCTION);
    const char *msg = lapi_opt_report_text(L, 3, "assert_raises");
    int was_failed = t->failed, was_skipped = t->skipped;
    lua_pushvalue(L, 2);
    int rc = lua_pcall(L, 0, 0, 0);
    if (rc != LUA_OK && t->skipped && !was_skipped)
        return lua_error(L); /* t:skip's sentinel goes on */
    if (!was_failed) {
        t->failed = 0;
        t->reason.len = 0;
    }
    if (rc != LUA_OK)
        return 1; /* the error value */
    lua_pushfstring(L, "%s: expected to raise", msg);
    return fail_test(L, t, lua_tostring(L, -1));
}

static int ctx_fail_l(lua_State *L)
{
    struct tctx *t = check_t(L);
    return fail_test(L, t, lapi_opt_report_text(L, 2, "explicit failure (t:fail)"));
}

static int ctx_skip_l(lua_State *L)
{
    struct tctx *t = check_t(L);
    t->skipped = 1;
    buf_free(&t->reason);
    buf_puts(&t->reason, lapi_opt_report_text(L, 2, "skipped"));
    lua_pushstring(L, LTEST_SKIP_SENTINEL);
    return lua_error(L);
}

static int ctx_log_l(lua_State *L)
{
    struct tctx *t = check_t(L);
    luaL_checkany(L, 2);
    const char *s = lapi_report_text(L, 2);
    if (t->log.len)
        buf_puts(&t->log, "\n");
    buf_puts(&t->log, s);
    return 0;
}

static int ctx_index_l(lua_State *L)
{
    check_t(L);
    const char *k = luaL_checkstring(L, 2);
    if (!strcmp(k, "name") || !strcmp(k, "meta")) {
        lua_getiuservalue(L, 1, 1);
        lua_getfield(L, -1, k);
        return 1;
    }
    luaL_getmetatable(L, TCTX_MT);
    lua_getfield(L, -1, "methods");
    lua_getfield(L, -1, k);
    return 1;
}

static int ctx_gc_l(lua_State *L)
{
    struct tctx *t = luaL_checkudata(L, 1, TCTX_MT);
    buf_free(&t->reason);
    buf_free(&t->log);
    return 0;
}

static int ctx_tostring_l(lua_State *L)
{
    check_t(L);
    lua_getiuservalue(L, 1, 1);
    lua_getfield(L, -1, "name");
    lua_pushfstring(L, "test(%s)", lua_tostring(L, -1));
    return 1;
}

void ltest_open(lua_State *L)
{
    static const luaL_Reg methods[] = {
        {"assert", ctx_assert_l}, {"assert_eq", ctx_assert_eq_l},
        {"assert_neq", ctx_assert_neq_l}, {"assert_contains", ctx_assert_contains_l},
        {"assert_raises", ctx_assert_raises_l}, {"fail", ctx_fail_l}, {"skip", ctx_skip_l},
        {"log", ctx_log_l}, {NULL, NULL}};
    static const luaL_Reg metamethods[] = {{"__index", ctx_index_l},
                                           {"__gc", ctx_gc_l},
                                           {"__tostring", ctx_tostring_l},
                                           {NULL, NULL}};
    lapi_newclass(L, TCTX_MT, methods, metamethods);
    lua_register(L, "test", test_l);
    lua_register(L, "todo", todo_l);
    lua_register(L, "wait_until", wait_until_l);
}

/* ---- used by the worker ---- */

/* Pushes a new context for the test entry at the top of the stack ({name, meta, fn}). */
void ltest_push_context(lua_State *L, int entry_idx)
{
    struct tctx *t = lua_newuserdatauv(L, sizeof *t, 1);
    memset(t, 0, sizeof *t);
    luaL_setmetatable(L, TCTX_MT);
    lua_createtable(L, 0, 2);
    lua_getfield(L, entry_idx, "name");
    lua_setfield(L, -2, "name");
    lua_getfield(L, entry_idx, "meta");
    lua_setfield(L, -2, "meta");
    lua_setiuservalue(L, -2, 1);
}

int ltest_context_state(lua_State *L, int idx, const char **reason, const char **log, int *skipped)
{
    struct tctx *t = luaL_checkudata(L, idx, TCTX_MT);
    *reason = t->reason.len ? buf_cstr(&t->reason) : NULL;
    *log = t->log.len ? buf_cstr(&t->log) : "";
    *skipped = t->skipped;
    return t->failed;
}
