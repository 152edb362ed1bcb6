/* lbridge.c - the Bridge userdata: lab:bridge(name), attach/detach, memberships, the
 * uplink flag, accessors and the hooks for boots and lab snapshots. The guest-side
 * scripts and /etc/hosts are lbridge_guest.c; partitions and impairments lbridge_rules.c.
 *
 * A bridge is a segment of the worker's userspace switch (net/switch.c). Attaching a
 * VM binds the lowest free NIC slot N of the VM (guest interface `ethN`) to the
 * bridge and gives it the address 10.213.K.(S+10)/24, K the bridge's index among the
 * file's live bridges, S the lowest free host slot on the bridge, and the MAC
 * 52:54:00:d5:KK:HH. The guest side (rename, MAC, address, link) is done through the
 * agent with busybox `ip`, and every member's /etc/hosts gets a block between
 * `# provium begin` and `# provium end` naming its peers. A VM that is not booted yet
 * is configured when it boots.
 *
 * State: the C struct holds the switch id and index; the uservalue table holds
 * {lab=<Lab>, members={{vm=<Vm>, slot=S, nic=N}, ...}} in attach order. Live bridges
 * are also listed in the registry ("provium.bridges") for index allocation and for
 * finding a VM's memberships. */
#include "lbridge.h"

#include "lbridge_guest.h"
#include "lbridge_int.h"
#include "lbridge_route.h"
#include "llab.h"
#include "lvm.h"

#include "net/switch.h"
#include "util/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BRIDGES_KEY "provium.bridges"
#define MAX_HOSTS 245

struct lbridge *lbridge_check(lua_State *L, int idx)
{
    return luaL_checkudata(L, idx, BRIDGE_MT);
}

int lbridge_is(lua_State *L, int idx) { return luaL_testudata(L, idx, BRIDGE_MT) != NULL; }

/* Pushes the registry list of live bridges. */
static int push_registry(lua_State *L)
{
    if (lua_getfield(L, LUA_REGISTRYINDEX, BRIDGES_KEY) != LUA_TTABLE) {
        lua_pop(L, 1);
        lua_newtable(L);
        lua_pushvalue(L, -1);
        lua_setfield(L, LUA_REGISTRYINDEX, BRIDGES_KEY);
    }
    return lua_gettop(L);
}

/* Pushes the members list of the bridge at idx. */
int lbridge_push_members(lua_State *L, int idx)
{
    lua_getiuservalue(L, idx, 1);
    lua_getfield(L, -1, "members");
    lua_remove(L, -2);
    return lua_gettop(L);
}

void lbridge_address_of(const struct lbridge *b, int slot, char out[24])
{
    snprintf(out, 24, "10.213.%d.%d", b->index, slot + 10);
}

/* ---- memberships ---- */

/* Fills m with the memberships of vm in NIC order; the Bridges are pushed on the
 * stack (caller pops to top). Returns the count. */
int lbridge_vm_memberships(lua_State *L, struct vm *vm, struct membership *m, int max)
{
    int reg = push_registry(L), n = 0;
    for (lua_Integer i = 1; i <= luaL_len(L, reg); i++) {
        lua_rawgeti(L, reg, i);
        int bi = lua_gettop(L);
        int mem = lbridge_push_members(L, bi);
        int found = 0;
        for (lua_Integer k = 1; k <= luaL_len(L, mem) && n < max; k++) {
            lua_rawgeti(L, mem, k);
            lua_getfield(L, -1, "vm");
            if (lvm_test(L, -1) == vm) {
                lua_getfield(L, -2, "slot");
                lua_getfield(L, -3, "nic");
                m[n].bridge_idx = bi;
                m[n].b = lua_touserdata(L, bi);
                m[n].slot = (int)lua_tointeger(L, -2);
                m[n].nic = (int)lua_tointeger(L, -1);
                n++;
                found = 1;
                lua_pop(L, 2);
            }
            lua_pop(L, 2);
            if (found)
                break;
        }
        lua_pop(L, 1); /* members */
        if (!found)
            lua_pop(L, 1); /* the bridge */
    }
    lua_remove(L, reg);
    for (int i = 0; i < n; i++)
        m[i].bridge_idx--; /* the registry below them is gone */
    /* NIC order */
    for (int i = 1; i < n; i++)
        for (int j = i; j > 0 && m[j].nic < m[j - 1].nic; j--) {
            struct membership t = m[j];
            m[j] = m[j - 1];
            m[j - 1] = t;
        }
    return n;
}

/* ---- lab:bridge ---- */

/* Pushes the bridge named `name` visible from the lab at lab (here or a parent). */
int lbridge_find(lua_State *L, int lab, const char *name)
{
    lua_pushvalue(L, lab);
    for (;;) {
        int cur = lua_gettop(L);
        llab_field(L, cur, "bridges");
        if (lua_getfield(L, -1, name) != LUA_TNIL) {
            lua_replace(L, cur);
            lua_settop(L, cur);
            return 1;
        }
        lua_pop(L, 2);
        if (llab_field(L, cur, "parent") == LUA_TNIL) {
            lua_pop(L, 2);
            return 0;
        }
        lua_remove(L, cur);
    }
}

static int lowest_free_index(lua_State *L)
{
    int reg = push_registry(L);
    char used[256] = {0};
    for (lua_Integer i = 1; i <= luaL_len(L, reg); i++) {
        lua_rawgeti(L, reg, i);
        used[((struct lbridge *)lua_touserdata(L, -1))->index & 255] = 1;
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
    for (int k = 0; k < 256; k++)
        if (!used[k])
            return k;
    return -1;
}

int lbridge_new(lua_State *L, int lab, const char *name, int index)
{
    lab = lua_absindex(L, lab);
    struct lbridge *b = lua_newuserdatauv(L, sizeof *b, 1);
    memset(b, 0, sizeof *b);
    snprintf(b->name, sizeof b->name, "%s", name);
    b->index = index;
    b->sw = sw_bridge_new();
    luaL_setmetatable(L, BRIDGE_MT);
    lua_createtable(L, 0, 2);
    lua_pushvalue(L, lab);
    lua_setfield(L, -2, "lab");
    lua_newtable(L);
    lua_setfield(L, -2, "members");
    lua_setiuservalue(L, -2, 1);
    llab_field(L, lab, "bridges");
    lua_pushvalue(L, -2);
    lua_setfield(L, -2, name);
    lua_pop(L, 1);
    int reg = push_registry(L);
    lua_pushvalue(L, -2);
    lua_rawseti(L, reg, luaL_len(L, reg) + 1);
    lua_pop(L, 1);
    return b->sw < 0 ? -1 : 0;
}

static int lab_bridge_l(lua_State *L)
{
    luaL_argcheck(L, llab_is(L, 1), 1, "expected a Lab");
    const char *name = luaL_checkstring(L, 2);
    if (!lua_isnoneornil(L, 3))
        return lapi_raise(L, "lab:bridge", "options are reserved; pass none");
    if (lbridge_find(L, 1, name))
        return 1;
    if (!llab_valid_name(name))
        return lapi_raise(L, "lab:bridge", "invalid name '%s'", name);
    int k = lowest_free_index(L);
    if (k < 0)
        return lapi_raise(L, "lab:bridge", "too many bridges (256)");
    if (lbridge_new(L, 1, name, k) < 0)
        return lapi_raise(L, "lab:bridge", "cannot start the switch");
    return 1;
}

/* ---- attach / detach ---- */

/* Resolves argument idx (Vm or name) through the bridge's lab; pushes the Vm. */
static struct vm *resolve_vm(lua_State *L, int bi, int idx, const char *method)
{
    struct vm *vm = lvm_test(L, idx);
    if (vm) {
        lua_pushvalue(L, idx);
        return vm;
    }
    if (lua_type(L, idx) != LUA_TSTRING) {
        lapi_raise(L, method, "expected a Vm or a VM name, got %s", luaL_typename(L, idx));
        return NULL;
    }
    lua_getiuservalue(L, bi, 1);
    lua_getfield(L, -1, "lab");
    if (!llab_find_vm(L, lua_gettop(L), lua_tostring(L, idx))) {
        lapi_raise(L, method, "no VM named '%s'", lua_tostring(L, idx));
        return NULL;
    }
    lua_replace(L, -3);
    lua_pop(L, 1);
    return lvm_check(L, -1);
}

/* Position of vm in the bridge's members, 0 when absent. */
static lua_Integer member_pos(lua_State *L, int bi, struct vm *vm)
{
    int mem = lbridge_push_members(L, bi);
    lua_Integer pos = 0;
    for (lua_Integer k = 1; k <= luaL_len(L, mem) && !pos; k++) {
        lua_rawgeti(L, mem, k);
        lua_getfield(L, -1, "vm");
        if (lvm_test(L, -1) == vm)
            pos = k;
        lua_pop(L, 2);
    }
    lua_pop(L, 1);
    return pos;
}

static int member_field(lua_State *L, int bi, lua_Integer pos, const char *key)
{
    int mem = lbridge_push_members(L, bi);
    lua_rawgeti(L, mem, pos);
    lua_getfield(L, -1, key);
    int v = (int)lua_tointeger(L, -1);
    lua_pop(L, 3);
    return v;
}

static int lowest_free_nic(lua_State *L, struct vm *vm)
{
    struct membership m[VM_MAX_NICS];
    int top = lua_gettop(L);
    int n = lbridge_vm_memberships(L, vm, m, VM_MAX_NICS);
    lua_settop(L, top);
    for (int nic = 0; nic < vm->nic_slots; nic++) {
        int used = 0;
        for (int i = 0; i < n; i++)
            used |= m[i].nic == nic;
        if (!used)
            return nic;
    }
    return -1;
}

static int lowest_free_slot(lua_State *L, int bi)
{
    char used[MAX_HOSTS] = {0};
    int mem = lbridge_push_members(L, bi);
    for (lua_Integer k = 1; k <= luaL_len(L, mem); k++) {
        lua_rawgeti(L, mem, k);
        lua_getfield(L, -1, "slot");
        int s = (int)lua_tointeger(L, -1);
        if (s >= 0 && s < MAX_HOSTS)
            used[s] = 1;
        lua_pop(L, 2);
    }
    lua_pop(L, 1);
    for (int s = 0; s < MAX_HOSTS; s++)
        if (!used[s])
            return s;
    return -1;
}

/* Binds the member's switch port and, when fresh, configures the guest. */
static int bring_up(lua_State *L, struct lbridge *b, struct vm *vm, int slot, int nic, int fresh,
                    char *err, size_t errlen)
{
    (void)L;
    if (vm->state != VM_BOOTED && vm->state != VM_PAUSED)
        return 0; /* configured at boot */
    if (vm->nic_port[nic] >= 0)
        sw_bind(vm->nic_port[nic], b->sw, 1);
    return fresh ? lbridge_guest_up(vm, b, slot, nic, err, errlen) : 0;
}

static void add_member(lua_State *L, int bi, int vm_idx, int slot, int nic)
{
    vm_idx = lua_absindex(L, vm_idx);
    int mem = lbridge_push_members(L, bi);
    lua_createtable(L, 0, 3);
    lua_pushvalue(L, vm_idx);
    lua_setfield(L, -2, "vm");
    lua_pushinteger(L, slot);
    lua_setfield(L, -2, "slot");
    lua_pushinteger(L, nic);
    lua_setfield(L, -2, "nic");
    lua_rawseti(L, mem, luaL_len(L, mem) + 1);
    lua_pop(L, 1);
}

static int bridge_attach_l(lua_State *L)
{
    struct lbridge *b = lbridge_check(L, 1);
    if (b->sw < 0)
        return lapi_raise(L, "bridge:attach", "bridge '%s' is closed", b->name);
    /* the list of VMs: one argument, or a table of them */
    lua_newtable(L);
    int list = lua_gettop(L);
    if (lua_istable(L, 2)) {
        for (lua_Integer i = 1; i <= luaL_len(L, 2); i++) {
            lua_rawgeti(L, 2, i);
            resolve_vm(L, 1, lua_gettop(L), "bridge:attach");
            lua_rawseti(L, list, i);
            lua_pop(L, 1);
        }
    } else {
        resolve_vm(L, 1, 2, "bridge:attach");
        lua_rawseti(L, list, 1);
    }
    lua_Integer n = luaL_len(L, list);
    /* validate every element before touching anything */
    for (lua_Integer i = 1; i <= n; i++) {
        lua_rawgeti(L, list, i);
        struct vm *vm = lvm_check(L, -1);
        lua_pop(L, 1);
        if (member_pos(L, 1, vm))
            return lapi_raise(L, "bridge:attach", "VM '%s' is already on bridge '%s'", vm->name,
                              b->name);
        for (lua_Integer j = 1; j < i; j++) {
            lua_rawgeti(L, list, j);
            int dup = lvm_check(L, -1) == vm;
            lua_pop(L, 1);
            if (dup)
                return lapi_raise(L, "bridge:attach", "VM '%s' is listed twice", vm->name);
        }
        if (vm->state == VM_SHUTDOWN || vm->state == VM_DEAD || vm->state == VM_PAUSED)
            return lapi_raise(L, "bridge:attach", "VM '%s': %s", vm->name,
                              lvm_state_error(vm->state));
        struct membership ms[VM_MAX_NICS];
        int top = lua_gettop(L), nm = lbridge_vm_memberships(L, vm, ms, VM_MAX_NICS), overlap = 0;
        for (int k = 0; k < nm; k++)
            overlap |= ms[k].b->index == b->index;
        lua_settop(L, top);
        if (overlap)
            return lapi_raise(L, "bridge:attach", "VM '%s': subnet overlap: it already has "
                              "a NIC in 10.213.%d.0/24", vm->name, b->index);
        if (lowest_free_nic(L, vm) < 0)
            return lapi_raise(L, "bridge:attach", "VM '%s': no free NIC slot (nic_slots = %d)",
                              vm->name, vm->nic_slots);
    }
    if (lowest_free_slot(L, 1) + n > MAX_HOSTS)
        return lapi_raise(L, "bridge:attach", "bridge '%s' is full (%d hosts)", b->name,
                          MAX_HOSTS);
    char err[1024];
    for (lua_Integer i = 1; i <= n; i++) {
        lua_rawgeti(L, list, i);
        struct vm *vm = lvm_check(L, -1);
        int slot = lowest_free_slot(L, 1), nic = lowest_free_nic(L, vm);
        add_member(L, 1, -1, slot, nic);
        lua_pop(L, 1);
        if (bring_up(L, b, vm, slot, nic, 1, err, sizeof err) < 0 ||
            lbridge_route_member(L, 1, vm, nic, err, sizeof err) < 0)
            return lapi_raise(L, "bridge:attach", "%s", err);
        if (b->uplink && vm->state == VM_BOOTED && lbridge_guest_uplink(vm, 1, err, sizeof err) < 0)
            return lapi_raise(L, "bridge:attach", "%s", err);
    }
    if (lbridge_guest_write_hosts(L, 1, NULL, err, sizeof err) < 0)
        return lapi_raise(L, "bridge:attach", "%s", err);
    lua_settop(L, 1);
    return 1;
}

static int bridge_detach_l(lua_State *L)
{
    struct lbridge *b = lbridge_check(L, 1);
    struct vm *vm = resolve_vm(L, 1, 2, "bridge:detach");
    lua_Integer pos = member_pos(L, 1, vm);
    if (!pos)
        return lapi_raise(L, "bridge:detach", "VM '%s' is not on bridge '%s'", vm->name, b->name);
    int nic = member_field(L, 1, pos, "nic");
    llab_list_remove(L, lbridge_push_members(L, 1), pos);
    lua_pop(L, 1);
    char err[1024];
    if (vm->nic_port[nic] >= 0)
        sw_bind(vm->nic_port[nic], -1, 0);
    if (vm->state == VM_BOOTED && lbridge_guest_down(vm, nic, err, sizeof err) < 0)
        return lapi_raise(L, "bridge:detach", "%s", err);
    if (b->uplink && vm->state == VM_BOOTED && !lbridge_guest_uplinked(L, vm) &&
        lbridge_guest_uplink(vm, 0, err, sizeof err) < 0)
        return lapi_raise(L, "bridge:detach", "%s", err);
    if (lbridge_guest_write_hosts(L, 1, vm, err, sizeof err) < 0)
        return lapi_raise(L, "bridge:detach", "%s", err);
    lua_settop(L, 1);
    return 1;
}

/* ---- the uplink ---- */

static int set_uplink(lua_State *L, int on, const char *method)
{
    struct lbridge *b = lbridge_check(L, 1);
    if (b->sw < 0)
        return lapi_raise(L, method, "bridge '%s' is closed", b->name);
    b->uplink = on;
    int mem = lbridge_push_members(L, 1);
    char err[1024];
    for (lua_Integer k = 1; k <= luaL_len(L, mem); k++) {
        lua_rawgeti(L, mem, k);
        lua_getfield(L, -1, "vm");
        struct vm *vm = lvm_check(L, -1);
        lua_pop(L, 2);
        if (vm->state != VM_BOOTED || (!on && lbridge_guest_uplinked(L, vm)))
            continue; /* configured at boot; or still uplinked through another bridge */
        if (lbridge_guest_uplink(vm, on, err, sizeof err) < 0)
            return lapi_raise(L, method, "%s", err);
    }
    lua_settop(L, 1);
    return 1;
}

static int bridge_enable_uplink_l(lua_State *L) { return set_uplink(L, 1, "bridge:enable_uplink"); }
static int bridge_disable_uplink_l(lua_State *L)
{
    return set_uplink(L, 0, "bridge:disable_uplink");
}

void lbridge_set_uplink(lua_State *L, int idx, int on)
{
    lbridge_check(L, idx)->uplink = on;
}

/* ---- accessors ---- */

static int bridge_members_l(lua_State *L)
{
    lbridge_check(L, 1);
    int mem = lbridge_push_members(L, 1);
    lua_newtable(L);
    for (lua_Integer k = 1; k <= luaL_len(L, mem); k++) {
        lua_rawgeti(L, mem, k);
        lua_getfield(L, -1, "vm");
        lua_pushstring(L, lvm_check(L, -1)->name);
        lua_rawseti(L, -4, k);
        lua_pop(L, 2);
    }
    return 1;
}

static int bridge_name_l(lua_State *L)
{
    lua_pushstring(L, lbridge_check(L, 1)->name);
    return 1;
}

static int bridge_subnet_l(lua_State *L)
{
    lua_pushfstring(L, "10.213.%d.0/24", lbridge_check(L, 1)->index);
    return 1;
}

static int bridge_address_l(lua_State *L)
{
    struct lbridge *b = lbridge_check(L, 1);
    struct vm *vm = lbridge_resolve_member(L, 1, 2, "bridge:address");
    lua_pop(L, 1);
    char addr[24];
    lbridge_address_of(b, member_field(L, 1, member_pos(L, 1, vm), "slot"), addr);
    lua_pushstring(L, addr);
    return 1;
}

/* Detaches everyone (no guest commands: this is the scope end) and stops the segment. */
void lbridge_close(lua_State *L, int idx)
{
    idx = lua_absindex(L, idx);
    struct lbridge *b = lbridge_check(L, idx);
    if (b->sw < 0)
        return;
    sw_bridge_free(b->sw);
    b->sw = -1;
    int reg = push_registry(L);
    for (lua_Integer i = 1; i <= luaL_len(L, reg); i++) {
        lua_rawgeti(L, reg, i);
        int same = lua_rawequal(L, -1, idx);
        lua_pop(L, 1);
        if (same) {
            llab_list_remove(L, reg, i);
            break;
        }
    }
    lua_pop(L, 1);
    lbridge_push_members(L, idx);
    lua_newtable(L);
    lua_getiuservalue(L, idx, 1);
    lua_pushvalue(L, -2);
    lua_setfield(L, -2, "members");
    lua_pop(L, 3);
}

static int bridge_close_l(lua_State *L)
{
    lbridge_close(L, 1);
    return 0;
}

static int bridge_tostring_l(lua_State *L)
{
    struct lbridge *b = lbridge_check(L, 1);
    lua_pushfstring(L, "bridge(%s %s)", b->name, b->sw < 0 ? "closed" : "open");
    return 1;
}

static int bridge_gc_l(lua_State *L)
{
    struct lbridge *b = luaL_checkudata(L, 1, BRIDGE_MT);
    if (b->sw >= 0)
        sw_bridge_free(b->sw);
    b->sw = -1;
    return 0;
}

/* ---- for Nic objects (lnic.c) ---- */

int lbridge_membership(lua_State *L, int bidx, struct vm *vm, struct lbridge_member *out)
{
    bidx = lua_absindex(L, bidx);
    struct lbridge *b = lbridge_check(L, bidx);
    lua_Integer pos = member_pos(L, bidx, vm);
    if (!pos)
        return -1;
    out->slot = member_field(L, bidx, pos, "slot");
    out->nic = member_field(L, bidx, pos, "nic");
    out->sw = b->sw;
    out->index = b->index;
    snprintf(out->name, sizeof out->name, "%s", b->name);
    return 0;
}

struct vm *lbridge_resolve_member(lua_State *L, int bidx, int idx, const char *method)
{
    bidx = lua_absindex(L, bidx);
    idx = lua_absindex(L, idx);
    struct vm *vm = resolve_vm(L, bidx, idx, method); /* pushes the Vm */
    if (!member_pos(L, bidx, vm))
        lapi_raise(L, method, "VM '%s' is not on bridge '%s'", vm->name,
                   lbridge_check(L, bidx)->name);
    return vm;
}

int lbridge_push_for_nic(lua_State *L, struct vm *vm, int nic)
{
    struct membership m[VM_MAX_NICS];
    int top = lua_gettop(L);
    int n = lbridge_vm_memberships(L, vm, m, VM_MAX_NICS);
    for (int i = 0; i < n; i++)
        if (m[i].nic == nic) {
            lua_pushvalue(L, m[i].bridge_idx);
            lua_replace(L, top + 1);
            lua_settop(L, top + 1);
            return 1;
        }
    lua_settop(L, top);
    return 0;
}

int lbridge_sw_id(lua_State *L, int bidx) { return lbridge_check(L, bidx)->sw; }

/* ---- hooks for boots, restores and lab snapshots ---- */

int lbridge_vm_booted(lua_State *L, struct vm *vm, int fresh, char *err, size_t errlen)
{
    int top = lua_gettop(L);
    struct membership m[VM_MAX_NICS];
    int n = lbridge_vm_memberships(L, vm, m, VM_MAX_NICS);
    int rc = 0;
    for (int i = 0; i < n && rc == 0; i++)
        rc = bring_up(L, m[i].b, vm, m[i].slot, m[i].nic, fresh, err, errlen);
    for (int i = 0; i < n && rc == 0 && fresh; i++)
        rc = lbridge_guest_write_hosts(L, m[i].bridge_idx, NULL, err, errlen);
    for (int i = 0; i < n && rc == 0 && fresh; i++)
        rc = lbridge_route_member(L, m[i].bridge_idx, vm, m[i].nic, err, errlen);
    if (rc == 0 && fresh && n && lbridge_guest_uplinked(L, vm))
        rc = lbridge_guest_uplink(vm, 1, err, errlen);
    lua_settop(L, top);
    return rc;
}

void lbridge_forget_vm(lua_State *L, struct vm *vm)
{
    int reg = push_registry(L);
    for (lua_Integer i = 1; i <= luaL_len(L, reg); i++) {
        lua_rawgeti(L, reg, i);
        int bi = lua_gettop(L);
        lua_Integer pos = member_pos(L, bi, vm);
        if (pos) {
            llab_list_remove(L, lbridge_push_members(L, bi), pos);
            lua_pop(L, 1);
        }
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
}

void lbridge_add_recorded(lua_State *L, int idx, int vm_idx, int slot, int nic)
{
    idx = lua_absindex(L, idx);
    struct lbridge *b = lbridge_check(L, idx);
    struct vm *vm = lvm_check(L, vm_idx);
    add_member(L, idx, vm_idx, slot, nic);
    if (nic >= 0 && nic < VM_MAX_NICS && vm->nic_port[nic] >= 0)
        sw_bind(vm->nic_port[nic], b->sw, 1);
}

void lbridge_cut(lua_State *L, int idx, const char *from, const char *to)
{
    sw_cut(lbridge_check(L, idx)->sw, from, to, 1);
}

void lbridge_isolate(lua_State *L, int idx, const char *vm)
{
    sw_isolate(lbridge_check(L, idx)->sw, vm, 1);
}

json_t *lbridge_to_json(lua_State *L, int idx, const char *lab_path)
{
    struct lbridge *b = lbridge_check(L, idx);
    if (b->sw < 0)
        return NULL; /* closed at its scope's end */
    idx = lua_absindex(L, idx);
    json_t *members = json_array(), *cuts = json_array(), *iso = json_array();
    int mem = lbridge_push_members(L, idx);
    for (lua_Integer k = 1; k <= luaL_len(L, mem); k++) {
        lua_rawgeti(L, mem, k);
        lua_getfield(L, -1, "vm");
        lua_getfield(L, -2, "slot");
        lua_getfield(L, -3, "nic");
        struct vm *vm = lvm_check(L, -3);
        json_array_append_new(members, json_pack("{s:s, s:i, s:i}", "vm", vm->name, "slot",
                                                 (int)lua_tointeger(L, -2), "nic",
                                                 (int)lua_tointeger(L, -1)));
        if (sw_is_isolated(b->sw, vm->name))
            json_array_append_new(iso, json_string(vm->name));
        lua_pop(L, 4);
    }
    lua_pop(L, 1);
    char from[256][64], to[256][64];
    size_t n = sw_cuts(b->sw, from, to, 256);
    for (size_t i = 0; i < n && i < 256; i++)
        json_array_append_new(cuts, json_pack("{s:s, s:s}", "from", from[i], "to", to[i]));
    char subnet[32];
    snprintf(subnet, sizeof subnet, "10.213.%d.0/24", b->index);
    json_t *rules = json_array();
    struct sw_rule r[64];
    size_t nr = sw_rules(b->sw, r, 64);
    for (size_t i = 0; i < nr && i < 64; i++)
        json_array_append_new(rules, json_pack("{s:s, s:s, s:f, s:f, s:I}", "from", r[i].from,
                                               "to", r[i].to, "latency_ms", r[i].latency_ms,
                                               "loss_pct", r[i].loss_pct, "bandwidth_bps",
                                               (json_int_t)r[i].bandwidth_bps));
    return json_pack("{s:s, s:s, s:i, s:s, s:o, s:o, s:o, s:b, s:o, s:o}", "name", b->name,
                     "lab", lab_path, "subnet_index", b->index, "subnet", subnet, "members",
                     members, "partitions", cuts, "isolated", iso, "uplink", b->uplink, "rules",
                     rules, "routes", lbridge_route_json(L, idx));
}

void lbridge_open(lua_State *L)
{
    static const luaL_Reg methods[] = {
        {"attach", bridge_attach_l}, {"detach", bridge_detach_l}, {"members", bridge_members_l},
        {"name", bridge_name_l}, {"subnet", bridge_subnet_l}, {"address", bridge_address_l},
        {"enable_uplink", bridge_enable_uplink_l}, {"disable_uplink", bridge_disable_uplink_l},
        {"close", bridge_close_l}, {NULL, NULL}};
    static const luaL_Reg metamethods[] = {
        {"__tostring", bridge_tostring_l}, {"__gc", bridge_gc_l}, {NULL, NULL}};
    static const luaL_Reg lab_methods[] = {{"bridge", lab_bridge_l}, {NULL, NULL}};
    lapi_newclass(L, BRIDGE_MT, methods, metamethods);
    lapi_add_methods(L, "provium.Lab", lab_methods);
}
