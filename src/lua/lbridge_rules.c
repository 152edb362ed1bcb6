/* lbridge_rules.c - the rules a Bridge puts on its switch segment: partitions (both
 * ways or one way), isolation of a member, and impairments (latency, loss, bandwidth,
 * bridge-wide or per direction), plus reset(). The Lua methods live here and are added
 * to the Bridge's method table by lbridge_rules_open; the switch applies the rules. */
#include "lbridge_rules.h"

#include "lbridge.h"
#include "lbridge_int.h"
#include "lvm.h"

#include "net/switch.h"

/* ---- partitions and isolation ---- */

/* The member VM (a Vm or its name) at idx of the bridge at 1; raises when not one. */
static struct vm *member_arg(lua_State *L, int idx, const char *method)
{
    struct vm *vm = lbridge_resolve_member(L, 1, idx, method);
    lua_pop(L, 1);
    return vm;
}

/* (a, b) both ways, or {from=, to=} one way; calls fn for each direction. */
static void each_direction(lua_State *L, const char *method,
                           void (*fn)(lua_State *L, struct lbridge *b, const char *from,
                                      const char *to))
{
    struct lbridge *b = lbridge_check(L, 1);
    if (lua_istable(L, 2)) {
        lua_getfield(L, 2, "from");
        lua_getfield(L, 2, "to");
        int f = lua_gettop(L) - 1, t = lua_gettop(L);
        if (lua_isnil(L, f) || lua_isnil(L, t))
            lapi_raise(L, method, "needs {from=, to=}");
        struct vm *a = member_arg(L, f, method), *c = member_arg(L, t, method);
        fn(L, b, a->name, c->name);
        return;
    }
    struct vm *a = member_arg(L, 2, method), *c = member_arg(L, 3, method);
    fn(L, b, a->name, c->name);
    fn(L, b, c->name, a->name);
}

static void do_cut(lua_State *L, struct lbridge *b, const char *from, const char *to)
{
    (void)L;
    sw_cut(b->sw, from, to, 1);
}

static void do_heal(lua_State *L, struct lbridge *b, const char *from, const char *to)
{
    (void)L;
    sw_cut(b->sw, from, to, 0);
}

static int bridge_partition_l(lua_State *L)
{
    each_direction(L, "bridge:partition", do_cut);
    lua_settop(L, 1);
    return 1;
}

static int bridge_unpartition_l(lua_State *L)
{
    each_direction(L, "bridge:unpartition", do_heal);
    lua_settop(L, 1);
    return 1;
}

static int bridge_is_partitioned_l(lua_State *L)
{
    struct lbridge *b = lbridge_check(L, 1);
    struct vm *a = member_arg(L, 2, "bridge:is_partitioned");
    struct vm *c = member_arg(L, 3, "bridge:is_partitioned");
    lua_pushboolean(L, sw_is_cut(b->sw, a->name, c->name) || sw_is_cut(b->sw, c->name, a->name));
    return 1;
}

static int bridge_partition_all_l(lua_State *L)
{
    struct lbridge *b = lbridge_check(L, 1);
    int mem = lbridge_push_members(L, 1);
    for (lua_Integer i = 1; i <= luaL_len(L, mem); i++)
        for (lua_Integer j = 1; j <= luaL_len(L, mem); j++) {
            if (i == j)
                continue;
            lua_rawgeti(L, mem, i);
            lua_getfield(L, -1, "vm");
            lua_rawgeti(L, mem, j);
            lua_getfield(L, -1, "vm");
            sw_cut(b->sw, lvm_check(L, -3)->name, lvm_check(L, -1)->name, 1);
            lua_pop(L, 4);
        }
    lua_settop(L, 1);
    return 1;
}

static int bridge_restore_all_l(lua_State *L)
{
    sw_heal_all(lbridge_check(L, 1)->sw);
    lua_settop(L, 1);
    return 1;
}

static int set_isolation(lua_State *L, int on, const char *method)
{
    struct lbridge *b = lbridge_check(L, 1);
    struct vm *vm = member_arg(L, 2, method);
    sw_isolate(b->sw, vm->name, on);
    lua_settop(L, 1);
    return 1;
}

static int bridge_isolate_l(lua_State *L) { return set_isolation(L, 1, "bridge:isolate"); }
static int bridge_unisolate_l(lua_State *L) { return set_isolation(L, 0, "bridge:unisolate"); }

static int bridge_is_isolated_l(lua_State *L)
{
    struct lbridge *b = lbridge_check(L, 1);
    struct vm *vm = member_arg(L, 2, "bridge:is_isolated");
    lua_pushboolean(L, sw_is_isolated(b->sw, vm->name));
    return 1;
}

/* ---- impairments ---- */

/* set_rule(value | {from=, to=, <key>=}): bridge-wide, or directional with a member
 * on either side (an omitted side is any member). */
static int set_rule(lua_State *L, const char *method, int what, const char *key, double max)
{
    struct lbridge *b = lbridge_check(L, 1);
    const char *from = NULL, *to = NULL;
    double v;
    if (lua_istable(L, 2)) {
        if (lua_getfield(L, 2, "from") != LUA_TNIL)
            from = member_arg(L, lua_gettop(L), method)->name;
        if (lua_getfield(L, 2, "to") != LUA_TNIL)
            to = member_arg(L, lua_gettop(L), method)->name;
        if (lua_getfield(L, 2, key) == LUA_TNIL)
            return lapi_raise(L, method, "needs `%s`", key);
        if (!lua_isnumber(L, -1))
            return lapi_raise(L, method, "`%s` must be a number", key);
        v = lua_tonumber(L, -1);
    } else {
        v = luaL_checknumber(L, 2);
    }
    if (!(v >= 0) || v > max)
        return lapi_raise(L, method, "%s must be from 0 to %g, got %g", key, max, v);
    sw_set_rule(b->sw, from, to, what, v);
    lua_settop(L, 1);
    return 1;
}

static int bridge_add_latency_l(lua_State *L)
{
    return set_rule(L, "bridge:add_latency", SW_LATENCY_MS, "ms", 3600000);
}
static int bridge_drop_rate_l(lua_State *L)
{
    return set_rule(L, "bridge:drop_rate", SW_LOSS_PCT, "p", 100);
}
static int bridge_bandwidth_limit_l(lua_State *L)
{
    return set_rule(L, "bridge:bandwidth_limit", SW_BANDWIDTH_BPS, "bps", 1e15);
}

/* add_directional_latency{from, to, ms} / directional_drop_rate{from, to, p} */
static int directional(lua_State *L, const char *method, int what, const char *key)
{
    luaL_checktype(L, 2, LUA_TTABLE);
    lua_getfield(L, 2, "from");
    lua_getfield(L, 2, "to");
    int missing = lua_isnil(L, -1) || lua_isnil(L, -2);
    lua_pop(L, 2);
    if (missing)
        return lapi_raise(L, method, "needs {from=, to=, %s=}", key);
    return set_rule(L, method, what, key, what == SW_LOSS_PCT ? 100 : 3600000);
}

static int bridge_add_directional_latency_l(lua_State *L)
{
    return directional(L, "bridge:add_directional_latency", SW_LATENCY_MS, "ms");
}
static int bridge_directional_drop_rate_l(lua_State *L)
{
    return directional(L, "bridge:directional_drop_rate", SW_LOSS_PCT, "p");
}

static int bridge_latency_ms_l(lua_State *L)
{
    lua_pushnumber(L, sw_get_rule(lbridge_check(L, 1)->sw, NULL, NULL, SW_LATENCY_MS));
    return 1;
}
static int bridge_drop_rate_pct_l(lua_State *L)
{
    lua_pushnumber(L, sw_get_rule(lbridge_check(L, 1)->sw, NULL, NULL, SW_LOSS_PCT));
    return 1;
}
static int bridge_bandwidth_bps_l(lua_State *L)
{
    lua_pushinteger(L, (lua_Integer)sw_get_rule(lbridge_check(L, 1)->sw, NULL, NULL,
                                                 SW_BANDWIDTH_BPS));
    return 1;
}

/* reset(): impairments and partitions go; isolation stays. */
static int bridge_reset_l(lua_State *L)
{
    struct lbridge *b = lbridge_check(L, 1);
    sw_clear_rules(b->sw);
    sw_heal_all(b->sw);
    lua_settop(L, 1);
    return 1;
}

void lbridge_rules_apply(lua_State *L, int idx, const char *from, const char *to, double latency_ms,
                  double loss_pct, double bandwidth_bps)
{
    struct lbridge *b = lbridge_check(L, idx);
    if (latency_ms > 0)
        sw_set_rule(b->sw, from, to, SW_LATENCY_MS, latency_ms);
    if (loss_pct > 0)
        sw_set_rule(b->sw, from, to, SW_LOSS_PCT, loss_pct);
    if (bandwidth_bps > 0)
        sw_set_rule(b->sw, from, to, SW_BANDWIDTH_BPS, bandwidth_bps);
}

void lbridge_rules_open(lua_State *L)
{
    static const luaL_Reg methods[] = {
        {"partition", bridge_partition_l}, {"unpartition", bridge_unpartition_l},
        {"partition_all", bridge_partition_all_l}, {"restore_all", bridge_restore_all_l},
        {"is_partitioned", bridge_is_partitioned_l}, {"isolate", bridge_isolate_l},
        {"unisolate", bridge_unisolate_l}, {"is_isolated", bridge_is_isolated_l},
        {"add_latency", bridge_add_latency_l}, {"drop_rate", bridge_drop_rate_l},
        {"bandwidth_limit", bridge_bandwidth_limit_l},
        {"add_directional_latency", bridge_add_directional_latency_l},
        {"directional_drop_rate", bridge_directional_drop_rate_l},
        {"latency_ms", bridge_latency_ms_l}, {"drop_rate_pct", bridge_drop_rate_pct_l},
        {"bandwidth_bps", bridge_bandwidth_bps_l}, {"reset", bridge_reset_l}, {NULL, NULL}};
    lapi_add_methods(L, BRIDGE_MT, methods);
}
