/* lbridge_route.c - routes between bridges: b:route(other) and b:routes() (spec §4.6).
 *
 * After b:route(other), b's members reach other's subnet by address with no setup of
 * their own: the worker's switch becomes b's gateway 10.213.K.1 (net/switch_route.c:
 * it answers ARP for that address and forwards IPv4 into other's subnet) and every
 * member of b gets `ip route replace 10.213.L.0/24 via 10.213.K.1 dev ethN` through the
 * agent, now if booted, else when it boots; members attached later get it too. A
 * route is one way, as the spec words it: answers need other:route(b). A member that
 * is on both bridges keeps its direct route and gets none through the gateway.
 *
 * State: the Bridge's uservalue table holds routes = {<Bridge>, ...} in route order;
 * routes() lists their names, leaving out bridges closed since (the switch forgot
 * those routes when they closed). A lab snapshot records each bridge's routes as the
 * target subnet indexes; a restore routes again between the bridges it brings back
 * (the guests kept their routes), so a lab fixture keeps its routes. */
#include "lbridge_route.h"

#include "lbridge.h"
#include "lbridge_guest.h"
#include "lbridge_int.h"
#include "lvm.h"

#include "net/switch.h"

#define MAX_ROUTES 256

/* Pushes the routes list of the bridge at idx (made when missing); returns its index. */
static int push_routes(lua_State *L, int idx)
{
    idx = lua_absindex(L, idx);
    lua_getiuservalue(L, idx, 1);
    if (lua_getfield(L, -1, "routes") != LUA_TTABLE) {
        lua_pop(L, 1);
        lua_newtable(L);
        lua_pushvalue(L, -1);
        lua_setfield(L, -3, "routes");
    }
    lua_remove(L, -2);
    return lua_gettop(L);
}

/* The subnet indexes vm routes through the bridge at idx: every live routed bridge
 * vm is not itself a member of. */
static int route_targets(lua_State *L, int idx, struct vm *vm, int *to_k, int max)
{
    int top = lua_gettop(L);
    struct membership m[VM_MAX_NICS];
    int nm = lbridge_vm_memberships(L, vm, m, VM_MAX_NICS), n = 0;
    int own[VM_MAX_NICS];
    for (int i = 0; i < nm; i++)
        own[i] = m[i].b->index;
    lua_settop(L, top);
    int rl = push_routes(L, idx);
    for (lua_Integer k = 1; k <= luaL_len(L, rl) && n < max; k++) {
        lua_rawgeti(L, rl, k);
        const struct lbridge *o = lbridge_check(L, -1);
        lua_pop(L, 1);
        int direct = 0;
        for (int i = 0; i < nm; i++)
            direct |= own[i] == o->index;
        if (o->sw >= 0 && !direct)
            to_k[n++] = o->index;
    }
    lua_settop(L, top);
    return n;
}

int lbridge_route_member(lua_State *L, int idx, struct vm *vm, int nic, char *err,
                         size_t errlen)
{
    int to_k[MAX_ROUTES];
    if (vm->state != VM_BOOTED)
        return 0; /* configured when it boots */
    int n = route_targets(L, idx, vm, to_k, MAX_ROUTES);
    if (n == 0)
        return 0;
    return lbridge_guest_routes(vm, nic, lbridge_check(L, idx)->index, to_k, n, err, errlen);
}

/* Installs the routes of the bridge at idx in each of its members. */
static int route_members(lua_State *L, int idx, char *err, size_t errlen)
{
    int mem = lbridge_push_members(L, idx), rc = 0;
    for (lua_Integer k = 1; k <= luaL_len(L, mem) && rc == 0; k++) {
        lua_rawgeti(L, mem, k);
        lua_getfield(L, -1, "vm");
        lua_getfield(L, -2, "nic");
        rc = lbridge_route_member(L, idx, lvm_check(L, -2), (int)lua_tointeger(L, -1), err,
                                  errlen);
        lua_pop(L, 3);
    }
    lua_pop(L, 1);
    return rc;
}

/* Argument 2 of b:route as a Bridge (pushed): itself, or its name seen from b's lab. */
static struct lbridge *resolve_other(lua_State *L)
{
    if (lbridge_is(L, 2)) {
        lua_pushvalue(L, 2);
        return lbridge_check(L, -1);
    }
    if (lua_type(L, 2) != LUA_TSTRING) {
        lapi_raise(L, "bridge:route", "expected a Bridge or its name, got %s",
                   luaL_typename(L, 2));
        return NULL;
    }
    lua_getiuservalue(L, 1, 1);
    lua_getfield(L, -1, "lab");
    if (!lbridge_find(L, lua_gettop(L), lua_tostring(L, 2))) {
        lapi_raise(L, "bridge:route", "no bridge named '%s'", lua_tostring(L, 2));
        return NULL;
    }
    lua_replace(L, -3);
    lua_pop(L, 1);
    return lbridge_check(L, -1);
}

static int bridge_route_l(lua_State *L)
{
    struct lbridge *b = lbridge_check(L, 1);
    if (b->sw < 0)
        return lapi_raise(L, "bridge:route", "bridge '%s' is closed", b->name);
    struct lbridge *o = resolve_other(L);
    int other = lua_gettop(L);
    if (o->sw < 0)
        return lapi_raise(L, "bridge:route", "bridge '%s' is closed", o->name);
    if (o == b)
        return lapi_raise(L, "bridge:route", "bridge '%s' cannot route to itself", b->name);
    int rl = push_routes(L, 1), known = 0;
    for (lua_Integer k = 1; k <= luaL_len(L, rl) && !known; k++) {
        lua_rawgeti(L, rl, k);
        known = lua_rawequal(L, -1, other);
        lua_pop(L, 1);
    }
    if (!known && luaL_len(L, rl) >= MAX_ROUTES)
        return lapi_raise(L, "bridge:route", "too many routes (%d)", MAX_ROUTES);
    if (!known && sw_route(b->sw, b->index, o->sw, o->index, 1) < 0)
        return lapi_raise(L, "bridge:route", "the switch refused the route");
    if (!known) {
        lua_pushvalue(L, other);
        lua_rawseti(L, rl, luaL_len(L, rl) + 1);
    }
    char err[1024];
    if (route_members(L, 1, err, sizeof err) < 0)
        return lapi_raise(L, "bridge:route", "%s", err);
    lua_settop(L, 1);
    return 1;
}

static int bridge_routes_l(lua_State *L)
{
    lbridge_check(L, 1);
    int rl = push_routes(L, 1);
    lua_newtable(L);
    lua_Integer n = 0;
    for (lua_Integer k = 1; k <= luaL_len(L, rl); k++) {
        lua_rawgeti(L, rl, k);
        const struct lbridge *o = lbridge_check(L, -1);
        lua_pop(L, 1);
        if (o->sw < 0)
            continue;
        lua_pushstring(L, o->name);
        lua_rawseti(L, -2, ++n);
    }
    return 1;
}

json_t *lbridge_route_json(lua_State *L, int idx)
{
    json_t *out = json_array();
    int rl = push_routes(L, idx);
    for (lua_Integer k = 1; k <= luaL_len(L, rl); k++) {
        lua_rawgeti(L, rl, k);
        const struct lbridge *o = lbridge_check(L, -1);
        lua_pop(L, 1);
        if (o->sw >= 0)
            json_array_append_new(out, json_integer(o->index));
    }
    lua_pop(L, 1);
    return out;
}

/* Pushes the Bridge of list whose subnet index is k; 0 (nothing pushed) when none. */
static int push_by_index(lua_State *L, int list, int k)
{
    for (lua_Integer i = 1; i <= luaL_len(L, list); i++) {
        lua_rawgeti(L, list, i);
        if (lbridge_is(L, -1) && lbridge_check(L, -1)->index == k)
            return 1;
        lua_pop(L, 1);
    }
    return 0;
}

void lbridge_route_restore(lua_State *L, int list, json_t *records)
{
    list = lua_absindex(L, list);
    size_t i, j;
    json_t *rec, *k;
    json_array_foreach(records, i, rec) {
        if (lua_rawgeti(L, list, (lua_Integer)i + 1) != LUA_TUSERDATA) {
            lua_pop(L, 1);
            continue;
        }
        int from = lua_gettop(L);
        struct lbridge *b = lbridge_check(L, from);
        int rl = push_routes(L, from);
        json_array_foreach(json_object_get(rec, "routes"), j, k) {
            if (!push_by_index(L, list, (int)json_integer_value(k)))
                continue;
            struct lbridge *o = lbridge_check(L, -1);
            if (sw_route(b->sw, b->index, o->sw, o->index, 1) == 0)
                lua_rawseti(L, rl, luaL_len(L, rl) + 1);
            else
                lua_pop(L, 1);
        }
        lua_settop(L, from - 1);
    }
}

void lbridge_route_open(lua_State *L)
{
    static const luaL_Reg methods[] = {
        {"route", bridge_route_l}, {"routes", bridge_routes_l}, {NULL, NULL}};
    lapi_add_methods(L, BRIDGE_MT, methods);
}
