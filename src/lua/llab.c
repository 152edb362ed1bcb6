/* llab.c - the Lab userdata (`provium`): a scope that owns VMs and sub-labs.
 *
 * A lab's state lives in its uservalue table: {name=, parent=<lab|nil>, vms={Vm...},
 * labs={Lab...}}. The file lab is `provium` outside tests; each test body runs in a
 * scoped lab `test:<name>` whose VMs are shut down when the test ends. */
#include "llab.h"

#include "lbridge.h"
#include "lvm.h"

#include "config/config.h"

#include "util/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LAB_MT "provium.Lab"

struct llab {
    int unused;
};

static void check_lab(lua_State *L, int idx) { luaL_checkudata(L, idx, LAB_MT); }

int llab_is(lua_State *L, int idx) { return luaL_testudata(L, idx, LAB_MT) != NULL; }

/* Pushes field `key` of the lab's state table. */
int llab_field(lua_State *L, int idx, const char *key)
{
    lua_getiuservalue(L, idx, 1);
    int t = lua_getfield(L, -1, key);
    lua_remove(L, -2);
    return t;
}

void llab_push_new(lua_State *L, const char *name, int parent_idx)
{
    if (parent_idx < 0)
        parent_idx = lua_absindex(L, parent_idx);
    lua_newuserdatauv(L, sizeof(struct llab), 1);
    luaL_setmetatable(L, LAB_MT);
    lua_createtable(L, 0, 4);
    lua_pushstring(L, name);
    lua_setfield(L, -2, "name");
    if (parent_idx) {
        lua_pushvalue(L, parent_idx);
        lua_setfield(L, -2, "parent");
    }
    lua_newtable(L);
    lua_setfield(L, -2, "vms");
    lua_newtable(L);
    lua_setfield(L, -2, "labs");
    lua_newtable(L);
    lua_setfield(L, -2, "bridges");
    lua_setiuservalue(L, -2, 1);
}

/* Finds a VM named `name` in this lab only; pushes it or nothing. */
static int find_vm_here(lua_State *L, int lab, const char *name)
{
    llab_field(L, lab, "vms");
    int vms = lua_gettop(L);
    lua_Integer n = luaL_len(L, vms);
    for (lua_Integer i = 1; i <= n; i++) {
        lua_rawgeti(L, vms, i);
        struct vm *vm = lvm_test(L, -1);
        if (vm && !strcmp(vm->name, name)) {
            lua_remove(L, vms);
            return 1;
        }
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
    return 0;
}

/* Looks in this lab, then its parents. */
int llab_find_vm(lua_State *L, int lab, const char *name)
{
    lua_pushvalue(L, lab);
    for (;;) {
        int cur = lua_gettop(L);
        if (find_vm_here(L, cur, name)) {
            lua_remove(L, cur);
            return 1;
        }
        if (llab_field(L, cur, "parent") == LUA_TNIL) {
            lua_pop(L, 2);
            return 0;
        }
        lua_remove(L, cur);
    }
}

int llab_valid_name(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 63)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        int alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
        if (!alnum && (i == 0 || (c != '_' && c != '-')))
            return 0;
    }
    return 1;
}

static int lab_vm_l(lua_State *L)
{
    check_lab(L, 1);
    const char *name = luaL_checkstring(L, 2);
    if (lua_isnoneornil(L, 3)) {
        if (!llab_find_vm(L, 1, name))
            return lapi_raise(L, "lab:vm", "no VM named '%s'", name);
        return 1;
    }
    const char *pname = luaL_checkstring(L, 3);
    static const char *const reserved[] = {"vm_fixture", "lab_fixture", "pack", "unpack", NULL};
    for (const char *const *r = reserved; *r; r++)
        if (!strcmp(*r, name))
            return lapi_raise(L, "lab:vm", "invalid name '%s' (reserved)", name);
    if (!llab_valid_name(name))
        return lapi_raise(L, "lab:vm", "invalid name '%s' (letters, digits, _ and -, at most "
                                       "63, starting with a letter or digit)",
                          name);
    if (find_vm_here(L, 1, name))
        return lapi_raise(L, "lab:vm", "a VM named '%s' already exists in this lab", name);
    if (llab_find_vm(L, 1, name))
        return lapi_raise(L, "lab:vm", "VM name '%s' shadows a VM in a parent lab", name);
    struct lua_host *h = lhost(L);
    const struct profile *p = config_profile(h->env->cfg, pname);
    if (!p) {
        char *names = config_profile_names(h->env->cfg);
        lua_pushstring(L, names);
        free(names);
        return lapi_raise(L, "lab:vm", "unknown profile '%s' (known: %s)", pname,
                          lua_tostring(L, -1));
    }
    uint64_t memory = p->memory;
    int cpus = p->cpus, nic_slots = p->nic_slots;
    if (!lua_isnoneornil(L, 4)) {
        static const char *const opts[] = {"memory", "cpus", "nic_slots", NULL};
        luaL_checktype(L, 4, LUA_TTABLE);
        lapi_check_opts(L, 4, "lab:vm", opts, NULL);
        if (lua_getfield(L, 4, "memory") != LUA_TNIL)
            memory = lapi_check_size(L, -1, "lab:vm");
        lua_pop(L, 1);
        if (lua_getfield(L, 4, "cpus") != LUA_TNIL) {
            if (!lua_isinteger(L, -1) || lua_tointeger(L, -1) < 1 || lua_tointeger(L, -1) > 64)
                lapi_raise(L, "lab:vm", "cpus must be an integer from 1 to 64");
            cpus = (int)lua_tointeger(L, -1);
        }
        lua_pop(L, 1);
        if (lua_getfield(L, 4, "nic_slots") != LUA_TNIL) {
            if (!lua_isinteger(L, -1) || lua_tointeger(L, -1) < 1 ||
                lua_tointeger(L, -1) > VM_MAX_NICS)
                lapi_raise(L, "lab:vm", "nic_slots must be an integer from 1 to %d", VM_MAX_NICS);
            nic_slots = (int)lua_tointeger(L, -1);
        }
        lua_pop(L, 1);
    }
    if (memory < (32u << 20))
        return lapi_raise(L, "lab:vm", "memory must be at least 32M");
    struct vm *vm = vm_new(h->env, name, p, memory, cpus);
    vm->nic_slots = nic_slots;
    lvm_push(L, vm);
    llab_field(L, 1, "vms");
    lua_pushvalue(L, -2);
    lua_rawseti(L, -2, (lua_Integer)luaL_len(L, -2) + 1);
    lua_pop(L, 1);
    return 1;
}

void llab_teardown(lua_State *L, int idx, int kill)
{
    idx = lua_absindex(L, idx);
    llab_field(L, idx, "labs");
    int labs = lua_gettop(L);
    for (lua_Integer i = luaL_len(L, labs); i >= 1; i--) {
        lua_rawgeti(L, labs, i);
        llab_teardown(L, -1, kill);
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
    llab_field(L, idx, "vms");
    int vms = lua_gettop(L);
    for (lua_Integer i = luaL_len(L, vms); i >= 1; i--) {
        lua_rawgeti(L, vms, i);
        struct vm *vm = lvm_test(L, -1);
        if (vm && vm->qemu_pid > 0) {
            if (kill)
                vm_kill(vm);
            vm_shutdown(vm);
            lvm_emit_shutdown(L, vm, 0);
        } else if (vm && vm->state == VM_CREATED) {
            vm->state = VM_SHUTDOWN;
        }
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
    /* then its bridges: detach all, stop their switch segments */
    llab_field(L, idx, "bridges");
    lua_pushnil(L);
    while (lua_next(L, -2)) {
        lbridge_close(L, -1);
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
}

void llab_collect_consoles(lua_State *L, int idx, struct buf *out)
{
    idx = lua_absindex(L, idx);
    llab_field(L, idx, "vms");
    int vms = lua_gettop(L);
    lua_Integer n = luaL_len(L, vms);
    for (lua_Integer i = 1; i <= n; i++) {
        lua_rawgeti(L, vms, i);
        struct vm *vm = lvm_test(L, -1);
        if (vm && vm->console_path) {
            char *tail = vm_console_tail(vm, 4096);
            buf_printf(out, "---- vm %s (last %zu bytes) ----\n%s%s", vm->name, strlen(tail),
                       tail, tail[0] && tail[strlen(tail) - 1] != '\n' ? "\n" : "");
            free(tail);
        }
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
    llab_field(L, idx, "labs");
    int labs = lua_gettop(L);
    for (lua_Integer i = 1; i <= luaL_len(L, labs); i++) {
        lua_rawgeti(L, labs, i);
        llab_collect_consoles(L, -1, out);
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
}

/* lab:shutdown(): every VM of the tree, side by side (all asked first, then all awaited
 * together); each gets its vm_shutdown event with the real duration. A VM that had to
 * be killed is a failure; failures are raised together once all are down. Bridges
 * stay: a VM attached later still uses them. */
static void tree_vms(lua_State *L, int idx, struct vm ***out, size_t *n);

static int lab_shutdown_l(lua_State *L)
{
    check_lab(L, 1);
    struct vm **all = NULL, **up = NULL;
    size_t n = 0, k = 0;
    tree_vms(L, 1, &all, &n);
    up = xcalloc(n ? n : 1, sizeof *up);
    for (size_t i = 0; i < n; i++) {
        if (all[i]->qemu_pid > 0)
            up[k++] = all[i];
        else if (all[i]->state == VM_CREATED)
            all[i]->state = VM_SHUTDOWN;
    }
    for (size_t i = 0; i < k; i++)
        vm_shutdown_begin(up[i]);
    vm_shutdown_wait(up, k);
    struct buf failures = {0};
    for (size_t i = 0; i < k; i++) {
        lvm_emit_shutdown(L, up[i], up[i]->stop_ns);
        if (up[i]->stop_killed)
            buf_printf(&failures, "%sVM '%s': did not power off within 3s; QEMU was killed",
                       failures.len ? "; " : "", up[i]->name);
    }
    free(all);
    free(up);
    if (failures.len) {
        lua_pushstring(L, buf_cstr(&failures));
        buf_free(&failures);
        return lapi_raise(L, "lab:shutdown", "%s", lua_tostring(L, -1));
    }
    return 0;
}

static int lab_depends_on_file_l(lua_State *L)
{
    check_lab(L, 1);
    luaL_checkstring(L, 2);
    return 0;
}

static int lab_name_l(lua_State *L)
{
    check_lab(L, 1);
    llab_field(L, 1, "name");
    return 1;
}

static int lab_vm_names_l(lua_State *L)
{
    check_lab(L, 1);
    llab_field(L, 1, "vms");
    int vms = lua_gettop(L);
    lua_newtable(L);
    for (lua_Integer i = 1; i <= luaL_len(L, vms); i++) {
        lua_rawgeti(L, vms, i);
        lua_pushstring(L, lvm_check(L, -1)->name);
        lua_rawseti(L, -3, i);
        lua_pop(L, 1);
    }
    return 1;
}

void llab_bridge_names_sorted(lua_State *L, int lab, struct strv *out)
{
    llab_field(L, lab, "bridges");
    int t = lua_gettop(L);
    lua_pushnil(L);
    while (lua_next(L, t)) {
        strv_push(out, lua_tostring(L, -2));
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
    strv_sort(out);
}

/* Sorted names of the lab's bridges, pushed as a list. */
static int bridge_names_list(lua_State *L, int lab)
{
    struct strv names = {0};
    llab_bridge_names_sorted(L, lab, &names);
    lua_createtable(L, (int)names.n, 0);
    for (size_t i = 0; i < names.n; i++) {
        lua_pushstring(L, names.v[i]);
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
    strv_free(&names);
    return 1;
}

static int lab_bridge_names_l(lua_State *L)
{
    check_lab(L, 1);
    return bridge_names_list(L, 1);
}

static int lab_sub_lab_names_l(lua_State *L)
{
    check_lab(L, 1);
    llab_field(L, 1, "labs");
    int labs = lua_gettop(L);
    lua_newtable(L);
    for (lua_Integer i = 1; i <= luaL_len(L, labs); i++) {
        lua_rawgeti(L, labs, i);
        llab_field(L, -1, "name");
        lua_rawseti(L, -3, i);
        lua_pop(L, 1);
    }
    return 1;
}

/* lab:members() -> {{kind=, name=}, ...}: VMs, then bridges, then sub-labs */
static int lab_members_l(lua_State *L)
{
    check_lab(L, 1);
    lua_newtable(L);
    int out = lua_gettop(L);
    lua_Integer n = 0;
    const char *kinds[] = {"vm", "bridge", "lab"};
    for (int k = 0; k < 3; k++) {
        if (k == 0)
            lab_vm_names_l(L);
        else if (k == 1)
            bridge_names_list(L, 1);
        else
            lab_sub_lab_names_l(L);
        int names = lua_gettop(L);
        for (lua_Integer i = 1; i <= luaL_len(L, names); i++) {
            lua_createtable(L, 0, 2);
            lua_pushstring(L, kinds[k]);
            lua_setfield(L, -2, "kind");
            lua_rawgeti(L, names, i);
            lua_setfield(L, -2, "name");
            lua_rawseti(L, out, ++n);
        }
        lua_settop(L, out);
    }
    return 1;
}

/* lab:include(vm | bridge | lab): add it to this lab's graph (shadow rules apply). */
static int lab_include_l(lua_State *L)
{
    check_lab(L, 1);
    struct vm *vm = lvm_test(L, 2);
    if (vm) {
        if (llab_name_taken(L, 1, vm->name))
            return lapi_raise(L, "lab:include", "a VM named '%s' is already visible here",
                              vm->name);
        llab_add_vm(L, 1, 2);
    } else if (lbridge_is(L, 2)) {
        lua_getfield(L, 2, "name");
        lua_pushvalue(L, 2);
        lua_call(L, 1, 1);
        const char *name = lua_tostring(L, -1);
        llab_field(L, 1, "bridges");
        if (lua_getfield(L, -1, name) != LUA_TNIL)
            return lapi_raise(L, "lab:include", "a bridge named '%s' already exists here", name);
        lua_pop(L, 1);
        lua_pushvalue(L, 2);
        lua_setfield(L, -2, name);
    } else if (llab_is(L, 2)) {
        if (lua_rawequal(L, 1, 2))
            return lapi_raise(L, "lab:include", "a lab cannot include itself");
        llab_field(L, 2, "name");
        if (llab_find_sublab(L, 1, lua_tostring(L, -1)))
            return lapi_raise(L, "lab:include", "a lab named '%s' already exists here",
                              lua_tostring(L, -2));
        llab_field(L, 1, "labs");
        lua_pushvalue(L, 2);
        lua_rawseti(L, -2, luaL_len(L, -2) + 1);
    } else {
        return luaL_argerror(L, 2, "expected a Vm, a Bridge or a Lab");
    }
    lua_settop(L, 1);
    return 1;
}

/* lab:remove(x): drop a VM, bridge or sub-lab from this lab without shutting it down. */
static int lab_remove_l(lua_State *L)
{
    check_lab(L, 1);
    const char *list = lvm_test(L, 2) ? "vms" : llab_is(L, 2) ? "labs" : NULL;
    if (list) {
        llab_field(L, 1, list);
        int t = lua_gettop(L);
        for (lua_Integer i = 1; i <= luaL_len(L, t); i++) {
            lua_rawgeti(L, t, i);
            int same = lua_rawequal(L, -1, 2);
            lua_pop(L, 1);
            if (same) {
                llab_list_remove(L, t, i);
                lua_settop(L, 1);
                return 1;
            }
        }
    } else if (lbridge_is(L, 2)) {
        llab_field(L, 1, "bridges");
        int t = lua_gettop(L);
        lua_pushnil(L);
        while (lua_next(L, t)) {
            if (lua_rawequal(L, -1, 2)) {
                lua_pop(L, 1);
                lua_pushvalue(L, -1);
                lua_pushnil(L);
                lua_rawset(L, t);
                lua_settop(L, 1);
                return 1;
            }
            lua_pop(L, 1);
        }
    } else {
        return luaL_argerror(L, 2, "expected a Vm, a Bridge or a Lab");
    }
    return lapi_raise(L, "lab:remove", "not a member of this lab");
}

/* lab:claim{memory=, cpus=}: the file's whole VM budget, reserved at once; boots then
 * draw only from it. */
static int lab_claim_l(lua_State *L)
{
    check_lab(L, 1);
    luaL_checktype(L, 2, LUA_TTABLE);
    struct lua_host *h = lhost(L);
    if (h->env->claimed)
        return lapi_raise(L, "lab:claim", "a second claim (the file already has its budget)");
    lua_getfield(L, 2, "memory");
    if (lua_isnil(L, -1))
        return lapi_raise(L, "lab:claim", "needs `memory`");
    uint64_t memory = lapi_check_size(L, -1, "lab:claim");
    lua_getfield(L, 2, "cpus");
    if (!lua_isinteger(L, -1) || lua_tointeger(L, -1) < 1)
        return lapi_raise(L, "lab:claim", "`cpus` must be a positive integer");
    int cpus = (int)lua_tointeger(L, -1);
    char err[512];
    if (h->env->pool_claim && h->env->pool_claim(h->env, memory, cpus, err, sizeof err) < 0)
        return lapi_raise(L, "lab:claim", "%s", err);
    h->env->claimed = 1;
    lua_settop(L, 1);
    return 1;
}

/* lab:pack / lab:unpack: string.pack and string.unpack (also as provium.pack). */
static int lab_pack_call(lua_State *L, const char *fn)
{
    int base = llab_is(L, 1) ? 2 : 1;
    lua_getglobal(L, "string");
    lua_getfield(L, -1, fn);
    lua_remove(L, -2);
    lua_insert(L, base);
    lua_call(L, lua_gettop(L) - base, LUA_MULTRET);
    return lua_gettop(L) - base + 1;
}

static int lab_pack_l(lua_State *L) { return lab_pack_call(L, "pack"); }
static int lab_unpack_l(lua_State *L) { return lab_pack_call(L, "unpack"); }

int llab_name_taken(lua_State *L, int lab_idx, const char *name)
{
    if (llab_find_vm(L, lab_idx, name)) {
        lua_pop(L, 1);
        return 1;
    }
    return 0;
}

void llab_add_vm(lua_State *L, int lab_idx, int vm_idx)
{
    lab_idx = lua_absindex(L, lab_idx);
    vm_idx = lua_absindex(L, vm_idx);
    llab_field(L, lab_idx, "vms");
    lua_pushvalue(L, vm_idx);
    lua_rawseti(L, -2, (lua_Integer)luaL_len(L, -2) + 1);
    lua_pop(L, 1);
}

void llab_list_remove(lua_State *L, int list, lua_Integer i)
{
    list = lua_absindex(L, list);
    lua_Integer n = luaL_len(L, list);
    for (; i < n; i++) {
        lua_rawgeti(L, list, i + 1);
        lua_rawseti(L, list, i);
    }
    lua_pushnil(L);
    lua_rawseti(L, list, n);
}

void llab_remove_member(lua_State *L, int lab_idx, const char *list, int member_idx)
{
    lab_idx = lua_absindex(L, lab_idx);
    member_idx = lua_absindex(L, member_idx);
    llab_field(L, lab_idx, list);
    int t = lua_gettop(L);
    for (lua_Integer i = 1; i <= luaL_len(L, t); i++) {
        lua_rawgeti(L, t, i);
        int same = lua_rawequal(L, -1, member_idx);
        lua_pop(L, 1);
        if (same) {
            llab_list_remove(L, t, i);
            break;
        }
    }
    lua_pop(L, 1);
}

int llab_find_sublab(lua_State *L, int lab_idx, const char *name)
{
    lab_idx = lua_absindex(L, lab_idx);
    llab_field(L, lab_idx, "labs");
    int t = lua_gettop(L);
    for (lua_Integer i = 1; i <= luaL_len(L, t); i++) {
        lua_rawgeti(L, t, i);
        llab_field(L, -1, "name");
        int same = !strcmp(lua_tostring(L, -1), name);
        lua_pop(L, 1);
        if (same) {
            lua_remove(L, t);
            return 1;
        }
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
    return 0;
}

void llab_push_sublab(lua_State *L, int lab_idx, const char *name)
{
    lab_idx = lua_absindex(L, lab_idx);
    llab_push_new(L, name, lab_idx);
    llab_field(L, lab_idx, "labs");
    lua_pushvalue(L, -2);
    lua_rawseti(L, -2, (lua_Integer)luaL_len(L, -2) + 1);
    lua_pop(L, 1);
}

/* Every VM of the lab tree at idx, in creation order, parents first. */
static void tree_vms(lua_State *L, int idx, struct vm ***out, size_t *n)
{
    idx = lua_absindex(L, idx);
    llab_field(L, idx, "vms");
    for (lua_Integer i = 1; i <= luaL_len(L, -1); i++) {
        lua_rawgeti(L, -1, i);
        struct vm *vm = lvm_test(L, -1);
        if (vm) {
            *out = xrealloc(*out, (*n + 1) * sizeof **out);
            (*out)[(*n)++] = vm;
        }
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
    llab_field(L, idx, "labs");
    for (lua_Integer i = 1; i <= luaL_len(L, -1); i++) {
        lua_rawgeti(L, -1, i);
        tree_vms(L, -1, out, n);
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
}

/* lab:lab(name?): a new sub-lab (`__lab_<n>` when unnamed). */
static int lab_lab_l(lua_State *L)
{
    check_lab(L, 1);
    char auto_name[32];
    const char *name = luaL_optstring(L, 2, NULL);
    if (!name) {
        llab_field(L, 1, "labs");
        for (int k = (int)luaL_len(L, -1) + 1;; k++) {
            snprintf(auto_name, sizeof auto_name, "__lab_%d", k);
            if (!llab_find_sublab(L, 1, auto_name))
                break;
            lua_pop(L, 1);
        }
        lua_pop(L, 1);
        name = auto_name;
    } else if (!name[0]) {
        return lapi_raise(L, "lab:lab", "invalid name '' (a lab name is any non-empty string)");
    } else if (llab_find_sublab(L, 1, name)) {
        return lapi_raise(L, "lab:lab", "a lab named '%s' already exists here", name);
    }
    llab_push_sublab(L, 1, name);
    return 1;
}

/* lab:boot(): every `created` VM of the tree, side by side. */
static int lab_boot_l(lua_State *L)
{
    check_lab(L, 1);
    struct vm **all = NULL, **todo = NULL;
    size_t n = 0, k = 0;
    tree_vms(L, 1, &all, &n);
    todo = xcalloc(n ? n : 1, sizeof *todo);
    for (size_t i = 0; i < n; i++)
        if (all[i]->state == VM_CREATED)
            todo[k++] = all[i];
    char err[8192];
    int rc = lvm_boot_all(L, todo, k, err, sizeof err);
    free(all);
    free(todo);
    if (rc < 0)
        return lapi_raise(L, "lab:boot", "%s", err);
    lua_settop(L, 1);
    return 1;
}

/* lab:pause() / lab:resume(): every booted (paused) VM of the tree; failures are
 * collected and raised together. */
static int lab_set_running(lua_State *L, int run)
{
    check_lab(L, 1);
    struct vm **all = NULL;
    size_t n = 0;
    tree_vms(L, 1, &all, &n);
    struct buf failures = {0};
    for (size_t i = 0; i < n; i++) {
        if (all[i]->state != (run ? VM_PAUSED : VM_BOOTED))
            continue;
        char err[512];
        if (vm_set_running(all[i], run, err, sizeof err) < 0)
            buf_printf(&failures, "%sVM '%s': %s", failures.len ? "; " : "", all[i]->name, err);
    }
    free(all);
    if (failures.len) {
        lua_pushstring(L, buf_cstr(&failures));
        buf_free(&failures);
        return lapi_raise(L, run ? "lab:resume" : "lab:pause", "%s", lua_tostring(L, -1));
    }
    lua_settop(L, 1);
    return 1;
}

static int lab_pause_l(lua_State *L) { return lab_set_running(L, 0); }
static int lab_resume_l(lua_State *L) { return lab_set_running(L, 1); }

static int lab_index_l(lua_State *L)
{
    check_lab(L, 1);
    luaL_getmetatable(L, LAB_MT);
    lua_getfield(L, -1, "methods");
    lua_pushvalue(L, 2);
    if (lua_rawget(L, -2) != LUA_TNIL)
        return 1;
    lua_settop(L, 2);
    if (lua_type(L, 2) != LUA_TSTRING)
        return 0;
    const char *k = lua_tostring(L, 2);
    if (!strcmp(k, "timeout") || !strcmp(k, "reset_between_tests")) {
        struct lua_host *h = lhost(L);
        if (!strcmp(k, "timeout")) {
            if (h->file_timeout > 0)
                lua_pushnumber(L, h->file_timeout);
            else
                lua_pushnil(L);
        } else
            lua_pushboolean(L, h->reset_between_tests);
        return 1;
    }
    if (find_vm_here(L, 1, k))
        return 1;
    llab_field(L, 1, "bridges");
    if (lua_getfield(L, -1, k) != LUA_TNIL)
        return 1;
    lua_pop(L, 2);
    if (llab_find_sublab(L, 1, k))
        return 1;
    return 0;
}

/* Only `provium.timeout` and `provium.reset_between_tests`, at file scope. */
static int lab_newindex_l(lua_State *L)
{
    check_lab(L, 1);
    struct lua_host *h = lhost(L);
    const char *k = lua_tostring(L, 2);
    lua_rawgeti(L, LUA_REGISTRYINDEX, h->file_lab_ref);
    int is_file_lab = lua_rawequal(L, 1, -1);
    lua_pop(L, 1);
    if (!k || !is_file_lab || (strcmp(k, "timeout") && strcmp(k, "reset_between_tests")))
        return luaL_error(L, "%s: not a recognised file-scope config key", k ? k : "?");
    if (!strcmp(k, "timeout")) {
        h->file_timeout = lua_isnil(L, 3) ? 0 : lapi_check_duration(L, 3, "provium.timeout");
    } else {
        h->reset_between_tests = lua_toboolean(L, 3);
    }
    return 0;
}

static int lab_tostring_l(lua_State *L)
{
    check_lab(L, 1);
    llab_field(L, 1, "name");
    llab_field(L, 1, "vms");
    lua_pushfstring(L, "lab(%s; %d vm(s))", lua_tostring(L, -2), (int)luaL_len(L, -1));
    return 1;
}

void llab_open(lua_State *L)
{
    static const luaL_Reg methods[] = {
        {"vm", lab_vm_l}, {"shutdown", lab_shutdown_l},
        {"depends_on_file", lab_depends_on_file_l}, {"name", lab_name_l},
        {"vm_names", lab_vm_names_l}, {"lab", lab_lab_l}, {"bridge_names", lab_bridge_names_l},
        {"sub_lab_names", lab_sub_lab_names_l}, {"members", lab_members_l},
        {"include", lab_include_l}, {"remove", lab_remove_l}, {"pack", lab_pack_l},
        {"claim", lab_claim_l}, {"unpack", lab_unpack_l}, {"boot", lab_boot_l},
        {"pause", lab_pause_l}, {"resume", lab_resume_l}, {NULL, NULL}};
    static const luaL_Reg metamethods[] = {{"__index", lab_index_l},
                                           {"__newindex", lab_newindex_l},
                                           {"__tostring", lab_tostring_l},
                                           {NULL, NULL}};
    lapi_newclass(L, LAB_MT, methods, metamethods);
}
