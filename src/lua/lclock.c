/* lclock.c - the Clock userdata: vm:clock(), the guest's wall clock.
 *
 * get/get_ns read it and set/set_ns/advance change it through the agent (GET_TIME,
 * SET_TIME); sleep(duration) sleeps inside the guest. Host timers (timeouts,
 * wait_until) always use host time. The Clock keeps its Vm in its uservalue. */
#include "lclock.h"

#include "lvm.h"

#include "util/util.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#define CLOCK_MT "provium.Clock"

static struct vm *clock_vm(lua_State *L, const char *method)
{
    lvm_companion_vm(L, 1, CLOCK_MT);
    lua_getiuservalue(L, 1, 1);
    struct vm *vm = lvm_need_booted(L, lua_gettop(L), method);
    lua_pop(L, 1);
    return vm;
}

static int64_t now_guest_ns(lua_State *L, struct vm *vm, const char *method)
{
    int64_t sec;
    uint32_t nsec;
    int gerr = 0;
    int rc = vm_get_time(vm, &sec, &nsec, &gerr);
    if (rc != VMOP_OK)
        lapi_raise_vmop(L, method, vm, rc, gerr, NULL);
    return sec * 1000000000LL + nsec;
}

static void set_guest_ns(lua_State *L, struct vm *vm, int64_t ns, const char *method)
{
    if (ns < 0)
        lapi_raise(L, method, "the guest clock cannot go before the epoch");
    int gerr = 0;
    int rc = vm_set_time(vm, ns / 1000000000LL, (uint32_t)(ns % 1000000000LL), &gerr);
    if (rc != VMOP_OK)
        lapi_raise_vmop(L, method, vm, rc, gerr, NULL);
}

static int clock_get_l(lua_State *L)
{
    struct vm *vm = clock_vm(L, "clock:get");
    lua_pushnumber(L, (double)now_guest_ns(L, vm, "clock:get") / 1e9);
    return 1;
}

static int clock_get_ns_l(lua_State *L)
{
    struct vm *vm = clock_vm(L, "clock:get_ns");
    lua_pushinteger(L, now_guest_ns(L, vm, "clock:get_ns"));
    return 1;
}

static int clock_set_l(lua_State *L)
{
    struct vm *vm = clock_vm(L, "clock:set");
    double s = luaL_checknumber(L, 2);
    if (!isfinite(s))
        return lapi_raise(L, "clock:set", "not a time: %s", lua_tostring(L, 2));
    set_guest_ns(L, vm, (int64_t)llround(s * 1e9), "clock:set");
    return 0;
}

static int clock_set_ns_l(lua_State *L)
{
    struct vm *vm = clock_vm(L, "clock:set_ns");
    set_guest_ns(L, vm, (int64_t)luaL_checkinteger(L, 2), "clock:set_ns");
    return 0;
}

/* advance(duration): a number of seconds (may be negative) or a duration string. */
static int clock_advance_l(lua_State *L)
{
    struct vm *vm = clock_vm(L, "clock:advance");
    double d;
    if (lua_type(L, 2) == LUA_TNUMBER)
        d = lua_tonumber(L, 2);
    else
        d = lapi_check_duration(L, 2, "clock:advance");
    int64_t now = now_guest_ns(L, vm, "clock:advance");
    set_guest_ns(L, vm, now + (int64_t)llround(d * 1e9), "clock:advance");
    return 0;
}

static int clock_sleep_l(lua_State *L)
{
    struct vm *vm = clock_vm(L, "clock:sleep");
    double d = lapi_check_duration(L, 2, "clock:sleep");
    char secs[32];
    snprintf(secs, sizeof secs, "%.3f", d);
    char *argv[] = {"sleep", secs, NULL};
    struct exec_req req = {.argv = argv};
    struct exec_res res = {0};
    int gerr = 0;
    int rc = vm_exec(vm, &req, &res, &gerr);
    int ok = rc == VMOP_OK && res.status == 0 && res.code == 0;
    exec_res_free(&res);
    if (rc != VMOP_OK)
        return lapi_raise_vmop(L, "clock:sleep", vm, rc, gerr, NULL);
    if (!ok)
        return lapi_raise(L, "clock:sleep", "the guest's sleep failed");
    return 0;
}

static int clock_tostring_l(lua_State *L)
{
    lua_pushfstring(L, "clock(%s)", lvm_companion_vm(L, 1, CLOCK_MT)->name);
    return 1;
}

/* vm:clock() */
static int vm_clock_l(lua_State *L)
{
    lvm_push_companion(L, 1, CLOCK_MT);
    return 1;
}

void lclock_open(lua_State *L)
{
    static const luaL_Reg methods[] = {
        {"get", clock_get_l}, {"get_ns", clock_get_ns_l}, {"set", clock_set_l},
        {"set_ns", clock_set_ns_l}, {"advance", clock_advance_l}, {"sleep", clock_sleep_l},
        {NULL, NULL}};
    static const luaL_Reg metamethods[] = {{"__tostring", clock_tostring_l}, {NULL, NULL}};
    static const luaL_Reg vm_methods[] = {{"clock", vm_clock_l}, {NULL, NULL}};
    lapi_newclass(L, CLOCK_MT, methods, metamethods);
    lapi_add_methods(L, "provium.Vm", vm_methods);
}
