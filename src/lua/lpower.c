/* lpower.c - the guest's power from Lua: vm:power_button() presses the ACPI power
 * button and returns at once (the VM becomes `shutdown` when the guest powers off,
 * which vm:state() notices); vm:wakeup() wakes a guest suspended to RAM (q35 only).
 * Also the boot options that shape the guest at power-on: initial_time (the guest's
 * wall clock at boot) and rng_seed (mixed into the guest RNG by the agent). The C side
 * is vm/vm_power.c. */
#include "lpower.h"

#include "lvm.h"

#include <math.h>

#define MAX_EPOCH 253402300799.0 /* 9999-12-31T23:59:59Z, the last time QEMU's -rtc takes */

/* vm:power_button() */
static int vm_power_button_l(lua_State *L)
{
    struct vm *vm = lvm_need_booted(L, 1, "vm:power_button");
    char err[512];
    if (vm_power_button(vm, err, sizeof err) < 0)
        return lapi_raise(L, "vm:power_button", "%s", err);
    lua_settop(L, 1);
    return 1;
}

/* vm:wakeup() */
static int vm_wakeup_l(lua_State *L)
{
    struct vm *vm = lvm_need_booted(L, 1, "vm:wakeup");
    char err[512];
    if (vm_wakeup(vm, err, sizeof err) < 0)
        return lapi_raise(L, "vm:wakeup", "%s", err);
    lua_settop(L, 1);
    return 1;
}

void lpower_boot_opts(lua_State *L, int idx, struct vm *vm)
{
    int has_time = 0, has_seed = 0;
    double t = 0;
    lua_Integer seed = 0;
    if (lua_getfield(L, idx, "initial_time") != LUA_TNIL) {
        t = lua_tonumber(L, -1);
        if (lua_type(L, -1) != LUA_TNUMBER || !isfinite(t) || t < 0 || t > MAX_EPOCH)
            lapi_raise(L, "vm:boot", "option `initial_time` must be epoch seconds, a number "
                       "from 0 to %.0f", MAX_EPOCH);
        has_time = 1;
    }
    if (lua_getfield(L, idx, "rng_seed") != LUA_TNIL) {
        if (!lua_isinteger(L, -1))
            lapi_raise(L, "vm:boot", "option `rng_seed` must be an integer");
        seed = lua_tointeger(L, -1);
        has_seed = 1;
    }
    lua_pop(L, 2);
    if (has_time) {
        vm->opts.has_initial_time = 1;
        vm->opts.initial_time = t;
    }
    if (has_seed) {
        vm->opts.has_rng_seed = 1;
        vm->opts.rng_seed = (int64_t)seed;
    }
}

void lpower_open(lua_State *L)
{
    static const luaL_Reg vm_methods[] = {{"power_button", vm_power_button_l},
                                          {"wakeup", vm_wakeup_l},
                                          {NULL, NULL}};
    lapi_add_methods(L, "provium.Vm", vm_methods);
}
