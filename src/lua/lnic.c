/* lnic.c - the Nic userdata (a VM's port on a bridge) and pcap captures.
 *
 * b:nic(vm) / vm:nic(bridge | "ethN") name one membership: its counters as the guest
 * sees them (counted by the switch), a cable pull (disconnect: the switch port goes
 * down and QEMU drops the guest's carrier; reconnect), and its address facts. Captures
 * (b:capture, n:capture) are written by the switch in classic pcap; without `file` the
 * Stream yields the bytes (header first) from a file in private scratch, with `file`
 * the switch writes that file and the Stream only serves close. The Nic keeps {vm=,
 * bridge=} as its uservalue. */
#include "lnic.h"

#include "lbridge.h"
#include "lstream.h"
#include "lvm.h"

#include "util/util.h"

#include "net/switch.h"
#include "vm/qmp.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define NIC_MT "provium.Nic"

/* Pushes the Nic's Vm and Bridge; fills m. Raises when the VM left the bridge. */
static struct vm *nic_parts(lua_State *L, struct lbridge_member *m, const char *method)
{
    luaL_checkudata(L, 1, NIC_MT);
    lua_getiuservalue(L, 1, 1);
    lua_getfield(L, -1, "vm");
    lua_getfield(L, -2, "bridge");
    lua_remove(L, -3);
    struct vm *vm = lvm_check(L, -2);
    if (lbridge_membership(L, -1, vm, m) < 0)
        lapi_raise(L, method, "VM '%s' is no longer on that bridge", vm->name);
    return vm;
}

static void push_nic(lua_State *L, int vm_idx, int bridge_idx)
{
    vm_idx = lua_absindex(L, vm_idx);
    bridge_idx = lua_absindex(L, bridge_idx);
    lua_newuserdatauv(L, 1, 1);
    lua_createtable(L, 0, 2);
    lua_pushvalue(L, vm_idx);
    lua_setfield(L, -2, "vm");
    lua_pushvalue(L, bridge_idx);
    lua_setfield(L, -2, "bridge");
    lua_setiuservalue(L, -2, 1);
    luaL_setmetatable(L, NIC_MT);
}

/* Why a member's switch port is absent: the VM's state phrase (no QEMU runs). */
static const char *port_down(const struct vm *vm)
{
    if (vm->state == VM_BOOTED || vm->state == VM_PAUSED)
        return "the NIC has no switch port";
    return lvm_state_error(vm->state);
}

/* ---- captures ---- */

/* Opens the capture target: `file` from opts at opts_idx (relative to the working
 * directory), else a fresh file in private scratch. *follow: the Stream reads it. */
static char *capture_target(lua_State *L, const char *method, int opts_idx, int *follow,
                            int *fd)
{
    char *path = NULL;
    *follow = 1;
    if (opts_idx && lua_istable(L, opts_idx)) {
        lua_getfield(L, opts_idx, "file");
        if (!lua_isnil(L, -1)) {
            if (lua_type(L, -1) != LUA_TSTRING)
                lapi_raise(L, method, "option `file` must be a string");
            path = path_resolve(NULL, lua_tostring(L, -1));
            *follow = 0;
        }
        lua_pop(L, 1);
    }
    if (!path) {
        struct host_env *env = lhost(L)->env;
        path = xasprintf("%s/capture-%u.pcap", env->scratch, ++env->counter);
    }
    *fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (*fd < 0) {
        int e = errno;
        lua_pushstring(L, path);
        free(path);
        lapi_raise(L, method, "cannot write %s: %s", lua_tostring(L, -1), strerror(e));
    }
    return path;
}

static int start_capture(lua_State *L, const char *method, int sw, int port, int vm_idx,
                         int opts_idx, const char *what)
{
    int follow, fd;
    char *path = capture_target(L, method, opts_idx, &follow, &fd);
    lua_pushstring(L, path); /* the Stream's constructor may raise: hold no malloc'd copy */
    free(path);
    int id = sw_capture_open(sw, port, fd);
    if (id < 0) {
        close(fd);
        return lapi_raise(L, method, "cannot start the capture");
    }
    return lstream_capture(L, method, vm_idx, id, lua_tostring(L, -1), follow, what);
}

/* b:capture({file=}?) */
static int bridge_capture_l(lua_State *L)
{
    int sw = lbridge_sw_id(L, 1);
    if (sw < 0)
        return lapi_raise(L, "bridge:capture", "the bridge is closed");
    char what[96];
    snprintf(what, sizeof what, "capture of a bridge");
    return start_capture(L, "bridge:capture", sw, -1, 0, 2, what);
}

static int nic_capture_l(lua_State *L)
{
    struct lbridge_member m;
    struct vm *vm = nic_parts(L, &m, "nic:capture");
    int vm_idx = lua_gettop(L) - 1;
    if (vm->nic_port[m.nic] < 0)
        return lapi_raise(L, "nic:capture", "%s", port_down(vm));
    char what[160];
    snprintf(what, sizeof what, "capture of %s on %s", vm->name, m.name);
    return start_capture(L, "nic:capture", m.sw, vm->nic_port[m.nic], vm_idx, 2, what);
}

/* ---- the rest of the Nic ---- */

static int nic_counters_l(lua_State *L)
{
    struct lbridge_member m;
    struct vm *vm = nic_parts(L, &m, "nic:counters");
    struct sw_counters c;
    if (vm->nic_port[m.nic] < 0 || sw_counters(vm->nic_port[m.nic], &c) < 0)
        memset(&c, 0, sizeof c);
    lua_createtable(L, 0, 5);
    lua_pushinteger(L, (lua_Integer)c.rx_bytes);
    lua_setfield(L, -2, "rx_bytes");
    lua_pushinteger(L, (lua_Integer)c.tx_bytes);
    lua_setfield(L, -2, "tx_bytes");
    lua_pushinteger(L, (lua_Integer)c.rx_packets);
    lua_setfield(L, -2, "rx_packets");
    lua_pushinteger(L, (lua_Integer)c.tx_packets);
    lua_setfield(L, -2, "tx_packets");
    lua_pushinteger(L, (lua_Integer)c.errors);
    lua_setfield(L, -2, "errors");
    return 1;
}

/* Cable pull: the switch port goes down and QEMU tells the guest its carrier is gone. */
static int set_cable(lua_State *L, int up, const char *method)
{
    struct lbridge_member m;
    struct vm *vm = nic_parts(L, &m, method);
    if (vm->nic_port[m.nic] < 0 || !vm->qmp)
        return lapi_raise(L, method, "%s", port_down(vm));
    sw_set_link(vm->nic_port[m.nic], up);
    char dev[16], err[256];
    snprintf(dev, sizeof dev, "nic%d", m.nic);
    json_t *r = qmp_exec(vm->qmp, "set_link", json_pack("{s:s, s:b}", "name", dev, "up", up),
                         now_ns() + 10000000000LL, err, sizeof err);
    if (!r)
        return lapi_raise(L, method, "%s", err);
    json_decref(r);
    lua_settop(L, 1);
    return 1;
}

static int nic_disconnect_l(lua_State *L) { return set_cable(L, 0, "nic:disconnect"); }
static int nic_reconnect_l(lua_State *L) { return set_cable(L, 1, "nic:reconnect"); }

static int nic_vm_name_l(lua_State *L)
{
    struct lbridge_member m;
    lua_pushstring(L, nic_parts(L, &m, "nic:vm_name")->name);
    return 1;
}

static int nic_bridge_l(lua_State *L)
{
    struct lbridge_member m;
    nic_parts(L, &m, "nic:bridge");
    return 1; /* the Bridge is on top */
}

static int nic_name_l(lua_State *L)
{
    struct lbridge_member m;
    nic_parts(L, &m, "nic:name");
    lua_pushfstring(L, "eth%d", m.nic);
    return 1;
}

static int nic_address_l(lua_State *L)
{
    struct lbridge_member m;
    nic_parts(L, &m, "nic:address");
    lua_pushfstring(L, "10.213.%d.%d", m.index, m.slot + 10);
    return 1;
}

static int nic_mac_l(lua_State *L)
{
    struct lbridge_member m;
    nic_parts(L, &m, "nic:mac");
    char mac[24];
    snprintf(mac, sizeof mac, "52:54:00:d5:%02x:%02x", m.index, m.slot + 10);
    lua_pushstring(L, mac);
    return 1;
}

static int nic_tostring_l(lua_State *L)
{
    luaL_checkudata(L, 1, NIC_MT);
    lua_getiuservalue(L, 1, 1);
    lua_getfield(L, -1, "vm");
    lua_pushfstring(L, "nic(%s)", lvm_check(L, -1)->name);
    return 1;
}

/* b:nic(vm | name) */
static int bridge_nic_l(lua_State *L)
{
    lbridge_resolve_member(L, 1, 2, "bridge:nic");
    push_nic(L, -1, 1);
    return 1;
}

/* vm:nic(bridge | "ethN" | bridge name) */
static int vm_nic_l(lua_State *L)
{
    struct vm *vm = lvm_check(L, 1);
    if (lbridge_is(L, 2)) {
        struct lbridge_member m;
        if (lbridge_membership(L, 2, vm, &m) < 0)
            return lapi_raise(L, "vm:nic", "VM '%s' is not on that bridge", vm->name);
        push_nic(L, 1, 2);
        return 1;
    }
    const char *want = luaL_checkstring(L, 2);
    int n = -1;
    if (sscanf(want, "eth%d", &n) == 1 && n >= 0 && n < VM_MAX_NICS && lbridge_push_for_nic(L, vm, n)) {
        push_nic(L, 1, -1);
        return 1;
    }
    for (int nic = 0; nic < VM_MAX_NICS; nic++) {
        if (!lbridge_push_for_nic(L, vm, nic))
            continue;
        struct lbridge_member m;
        if (lbridge_membership(L, -1, vm, &m) == 0 && !strcmp(m.name, want)) {
            push_nic(L, 1, -1);
            return 1;
        }
        lua_pop(L, 1);
    }
    return lapi_raise(L, "vm:nic", "VM '%s' has no NIC '%s'", vm->name, want);
}

void lnic_open(lua_State *L)
{
    static const luaL_Reg methods[] = {
        {"counters", nic_counters_l}, {"capture", nic_capture_l},
        {"disconnect", nic_disconnect_l}, {"reconnect", nic_reconnect_l},
        {"vm_name", nic_vm_name_l}, {"bridge", nic_bridge_l}, {"name", nic_name_l},
        {"address", nic_address_l}, {"mac", nic_mac_l}, {NULL, NULL}};
    static const luaL_Reg metamethods[] = {{"__tostring", nic_tostring_l}, {NULL, NULL}};
    static const luaL_Reg vm_methods[] = {{"nic", vm_nic_l}, {NULL, NULL}};
    static const luaL_Reg bridge_methods[] = {
        {"capture", bridge_capture_l}, {"nic", bridge_nic_l}, {NULL, NULL}};
    lapi_newclass(L, NIC_MT, methods, metamethods);
    lapi_add_methods(L, "provium.Vm", vm_methods);
    lapi_add_methods(L, "provium.Bridge", bridge_methods);
}
