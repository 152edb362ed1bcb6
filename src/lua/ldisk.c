/* ldisk.c - the Disk userdata (spec §4.7): vm:disk(id), vm:attach_disk(opts), the boot
 * option `disks`, and d:id/size/detach/is_detached, host-side sector access with its
 * own faults, and the guest-visible fault policy and power cut of mediated disks.
 *
 * A Disk is a name, not a handle: it keeps its Vm (uservalue 1) and its id (uservalue
 * 2) and finds the disk in the VM at each call, so it survives resets and restores and
 * says `detached` once the disk is gone. Before boot it stands for a disk the boot will
 * make (the profile's, the `disks` option's, attach_disk's on a created VM). Host-side
 * faults (fault_inject) live with the disk in the VM, shared by every Disk of it; they
 * touch only read_sectors/write_sectors, never the guest. */
#include "ldisk.h"

#include "lvm.h"

#include "util/util.h"
#include "vm/nbd.h"
#include "vm/vm_disk_hot.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define DISK_MT "provium.Disk"
#define SECTOR 512u
#define MAX_SECTORS 65536 /* 32 MiB per call */
#define SLOW_MS 50

static const char *const FAULTS[] = {"eio_read", "eio_write", "slow", NULL};

/* ---- finding the disk ---- */

static struct vm *disk_vm(lua_State *L)
{
    luaL_checkudata(L, 1, DISK_MT);
    lua_getiuservalue(L, 1, 1);
    struct vm *vm = lvm_check(L, -1);
    lua_pop(L, 1);
    return vm;
}

static const char *disk_id(lua_State *L)
{
    lua_getiuservalue(L, 1, 2);
    const char *id = lua_tostring(L, -1);
    lua_pop(L, 1); /* the uservalue keeps the string alive */
    return id;
}

/* The pending spec of a disk id on a created VM (profile disks, then boot disks). */
static const struct disk_spec *pending_spec(const struct vm *vm, const char *id)
{
    const struct profile *p = vm->profile;
    for (size_t i = 0; i < p->n_disks; i++)
        if (!strcmp(p->disks[i].id, id))
            return &p->disks[i];
    for (size_t i = 0; i < vm->opts.n_disks; i++)
        if (!strcmp(vm->opts.disks[i].id, id))
            return &vm->opts.disks[i];
    return NULL;
}

/* The disk of the Disk at 1, on a VM that has booted; raises otherwise. */
static struct vm_disk *need_disk(lua_State *L, const char *method, struct vm **vmp)
{
    struct vm *vm = disk_vm(L);
    const char *id = disk_id(L);
    if (vm->state == VM_CREATED)
        lapi_raise(L, method, "%s", lvm_state_error(vm->state));
    struct vm_disk *d = vm_disk_find(vm, id);
    if (!d)
        lapi_raise(L, method, "disk '%s' is detached", id);
    if (vmp)
        *vmp = vm;
    return d;
}

/* A mediated disk being served; raises for any other. */
static struct vm_disk *need_mediated(lua_State *L, const char *method)
{
    struct vm *vm = disk_vm(L);
    const char *id = disk_id(L);
    const struct disk_spec *s = vm->state == VM_CREATED ? pending_spec(vm, id) : NULL;
    if (s && !s->mediated)
        lapi_raise(L, method, "disk '%s' is not mediated", id);
    struct vm_disk *d = need_disk(L, method, NULL);
    if (!d->mediated)
        lapi_raise(L, method, "disk '%s' is not mediated", id);
    if (!d->nbd)
        lapi_raise(L, method, "disk '%s' is not being served (VM %s)", id,
                   vm_state_name(vm->state));
    return d;
}

static void push_disk(lua_State *L, int vm_idx, const char *id)
{
    vm_idx = lua_absindex(L, vm_idx);
    lua_newuserdatauv(L, 1, 2);
    lua_pushvalue(L, vm_idx);
    lua_setiuservalue(L, -2, 1);
    lua_pushstring(L, id);
    lua_setiuservalue(L, -2, 2);
    luaL_setmetatable(L, DISK_MT);
}

/* ---- id, size, detach ---- */

static int disk_id_l(lua_State *L)
{
    disk_vm(L);
    lua_getiuservalue(L, 1, 2);
    return 1;
}

static int disk_size_l(lua_State *L)
{
    struct vm *vm = disk_vm(L);
    const struct disk_spec *s = vm->state == VM_CREATED ? pending_spec(vm, disk_id(L)) : NULL;
    if (s) {
        lua_pushinteger(L, (lua_Integer)(s->path ? disk_image_size(s->path) : s->scratch));
        return 1;
    }
    struct vm_disk *d = need_disk(L, "disk:size", NULL);
    lua_pushinteger(L, (lua_Integer)vm_disk_size(d));
    return 1;
}

static int disk_is_detached_l(lua_State *L)
{
    struct vm *vm = disk_vm(L);
    const char *id = disk_id(L);
    if (vm->state == VM_CREATED)
        lua_pushboolean(L, pending_spec(vm, id) == NULL);
    else
        lua_pushboolean(L, vm_disk_find(vm, id) == NULL);
    return 1;
}

static int disk_detach_l(lua_State *L)
{
    struct vm *vm;
    struct vm_disk *d = need_disk(L, "disk:detach", &vm);
    if (vm->state != VM_BOOTED) /* the guest must answer the unplug */
        return lapi_raise(L, "disk:detach", "%s", lvm_state_error(vm->state));
    if (strcmp(vm->machine, "q35") != 0)
        return lapi_raise(L, "disk:detach", "hot-unplug needs machine q35 (VM %s runs %s)",
                          vm->name, vm->machine);
    char err[512];
    if (vm_disk_detach(vm, d->id, err, sizeof err) < 0)
        return lapi_raise(L, "disk:detach", "disk '%s': %s", disk_id(L), err);
    return 0;
}

/* ---- host-side sector access ---- */

/* Sleeps for `slow`, raises for an injected EIO of this direction. */
static void host_faults(lua_State *L, const struct vm_disk *d, unsigned eio, const char *method)
{
    if (d->host_faults & DISK_FAULT_SLOW)
        sleep_ms(SLOW_MS);
    if (d->host_faults & eio)
        lapi_raise(L, method, "disk '%s': EIO (Input/output error, injected)", d->id);
}

static void check_range(lua_State *L, const struct vm_disk *d, lua_Integer sector,
                        lua_Integer n, const char *method)
{
    uint64_t total = vm_disk_size(d) / SECTOR;
    if (sector < 0 || (uint64_t)sector > total || (uint64_t)n > total - (uint64_t)sector)
        lapi_raise(L, method, "sectors %lld..%lld are past the end of disk '%s' (%llu sectors)",
                   (long long)sector, (long long)(sector + n - 1), d->id,
                   (unsigned long long)total);
}

static int disk_read_sectors_l(lua_State *L)
{
    lua_Integer sector = luaL_checkinteger(L, 2);
    lua_Integer n = luaL_checkinteger(L, 3);
    luaL_argcheck(L, n >= 1 && n <= MAX_SECTORS, 3, "count must be 1 to 65536");
    struct vm *vm;
    struct vm_disk *d = need_disk(L, "disk:read_sectors", &vm);
    check_range(L, d, sector, n, "disk:read_sectors");
    host_faults(L, d, DISK_FAULT_EIO_READ, "disk:read_sectors");
    luaL_Buffer b;
    char *out = luaL_buffinitsize(L, &b, (size_t)n * SECTOR);
    char err[512];
    if (vm_disk_read(vm, d, (uint64_t)sector * SECTOR, (size_t)n * SECTOR, out, err,
                     sizeof err) < 0)
        return lapi_raise(L, "disk:read_sectors", "disk '%s': %s", d->id, err);
    luaL_pushresultsize(&b, (size_t)n * SECTOR);
    return 1;
}

static int disk_write_sectors_l(lua_State *L)
{
    lua_Integer sector = luaL_checkinteger(L, 2);
    size_t len;
    const char *data = luaL_checklstring(L, 3, &len);
    luaL_argcheck(L, len > 0 && len % SECTOR == 0 && len / SECTOR <= MAX_SECTORS, 3,
                  "data must be 1 to 65536 whole 512-byte sectors");
    struct vm *vm;
    struct vm_disk *d = need_disk(L, "disk:write_sectors", &vm);
    if (d->readonly)
        return lapi_raise(L, "disk:write_sectors", "disk '%s' is read-only", d->id);
    check_range(L, d, sector, (lua_Integer)(len / SECTOR), "disk:write_sectors");
    host_faults(L, d, DISK_FAULT_EIO_WRITE, "disk:write_sectors");
    char err[512];
    if (vm_disk_write(vm, d, (uint64_t)sector * SECTOR, data, len, err, sizeof err) < 0)
        return lapi_raise(L, "disk:write_sectors", "disk '%s': %s", d->id, err);
    return 0;
}

static int disk_fault_inject_l(lua_State *L)
{
    int k = luaL_checkoption(L, 2, NULL, FAULTS);
    need_disk(L, "disk:fault_inject", NULL)->host_faults |= 1u << k;
    return 0;
}

static int disk_clear_faults_l(lua_State *L)
{
    need_disk(L, "disk:clear_faults", NULL)->host_faults = 0;
    return 0;
}

static int disk_active_faults_l(lua_State *L)
{
    struct vm *vm = disk_vm(L);
    struct vm_disk *d = vm->state == VM_CREATED ? NULL : vm_disk_find(vm, disk_id(L));
    lua_newtable(L);
    for (int k = 0, n = 0; d && FAULTS[k]; k++)
        if (d->host_faults & (1u << k)) {
            lua_pushstring(L, FAULTS[k]);
            lua_rawseti(L, -2, ++n);
        }
    return 1;
}

/* ---- mediated: power cut and the guest-visible fault policy ---- */

static int disk_power_cut_l(lua_State *L)
{
    vm_disk_power_cut(need_mediated(L, "disk:power_cut"));
    return 0;
}

static int opt_on(lua_State *L, int idx)
{
    return lua_isnone(L, idx) ? 1 : lua_toboolean(L, idx);
}

static int disk_fail_reads_l(lua_State *L)
{
    int on = opt_on(L, 2);
    nbd_fail_reads(need_mediated(L, "disk:fail_reads")->nbd, on);
    return 0;
}

static int disk_fail_writes_l(lua_State *L)
{
    int on = opt_on(L, 2);
    nbd_fail_writes(need_mediated(L, "disk:fail_writes")->nbd, on);
    return 0;
}

/* fail_after(n): after a power cut the disk stays dead; n applies from vm:reset. */
static int disk_fail_after_l(lua_State *L)
{
    lua_Integer n = luaL_checkinteger(L, 2);
    luaL_argcheck(L, n >= 0, 2, "must be >= 0");
    struct vm_disk *d = need_mediated(L, "disk:fail_after");
    if (d->cut)
        d->cut_fail_after = n;
    else
        nbd_fail_after(d->nbd, n);
    return 0;
}

static int disk_fail_range_l(lua_State *L)
{
    lua_Integer sector = luaL_checkinteger(L, 2);
    lua_Integer count = luaL_checkinteger(L, 3);
    luaL_argcheck(L, sector >= 0, 2, "must be >= 0");
    luaL_argcheck(L, count >= 1, 3, "must be >= 1");
    nbd_fail_range(need_mediated(L, "disk:fail_range")->nbd, (uint64_t)sector,
                   (uint64_t)count);
    return 0;
}

static int disk_delay_l(lua_State *L)
{
    lua_Integer ms = luaL_checkinteger(L, 2);
    luaL_argcheck(L, ms >= 0 && ms <= 600000, 2, "milliseconds from 0 to 600000");
    nbd_delay(need_mediated(L, "disk:delay")->nbd, (int)ms);
    return 0;
}

static int disk_clear_policy_l(lua_State *L)
{
    struct vm_disk *d = need_mediated(L, "disk:clear_policy");
    nbd_clear_policy(d->nbd);
    if (d->cut) { /* still no power */
        d->cut_fail_after = -1;
        nbd_fail_after(d->nbd, 0);
    }
    return 0;
}

static void set_int(lua_State *L, const char *k, lua_Integer v)
{
    lua_pushinteger(L, v);
    lua_setfield(L, -2, k);
}

/* The policy as set; a power-cut disk adds power_cut = true [ours]. */
static int disk_fault_policy_l(lua_State *L)
{
    struct vm_disk *d = need_mediated(L, "disk:fault_policy");
    struct nbd_policy p;
    nbd_policy(d->nbd, &p);
    int64_t after = d->cut ? d->cut_fail_after : p.fail_after;
    lua_createtable(L, 0, 7);
    lua_pushboolean(L, p.fail_reads);
    lua_setfield(L, -2, "fail_reads");
    lua_pushboolean(L, p.fail_writes);
    lua_setfield(L, -2, "fail_writes");
    if (after >= 0)
        set_int(L, "fail_after", after);
    if (p.range_count) {
        set_int(L, "fail_range_sector", (lua_Integer)p.range_sector);
        set_int(L, "fail_range_count", (lua_Integer)p.range_count);
    }
    if (p.delay_ms)
        set_int(L, "delay_ms", p.delay_ms);
    if (d->cut) {
        lua_pushboolean(L, 1);
        lua_setfield(L, -2, "power_cut");
    }
    return 1;
}

static int disk_tostring_l(lua_State *L)
{
    struct vm *vm = disk_vm(L);
    lua_pushfstring(L, "disk(%s:%s)", vm->name, disk_id(L));
    return 1;
}

/* ---- the Vm's methods and the boot option ---- */

/* Disk ids: what provium.toml accepts (config.c), which QEMU takes as ids. */
static int id_ok(const char *s)
{
    if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9')))
        return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
              (*s >= '0' && *s <= '9') || *s == '_' || *s == '-'))
            return 0;
    return 1;
}

/* Is the id taken by a disk of the VM (pending ones while created)? */
static int id_taken(struct vm *vm, const char *id)
{
    return vm->state == VM_CREATED ? pending_spec(vm, id) != NULL : vm_disk_find(vm, id) != NULL;
}

static int vm_disk_l(lua_State *L)
{
    struct vm *vm = lvm_check(L, 1);
    const char *id = luaL_checkstring(L, 2);
    if (!id_taken(vm, id))
        return lapi_raise(L, "vm:disk", "no disk '%s' on VM %s", id, vm->name);
    push_disk(L, 1, id);
    return 1;
}

/* Directory of the Lua file that called us (level 1), for relative image paths. */
static char *caller_dir(lua_State *L)
{
    lua_Debug ar;
    if (lua_getstack(L, 1, &ar) && lua_getinfo(L, "S", &ar) && ar.source[0] == '@')
        return path_dirname(ar.source + 1);
    return path_dirname(lhost(L)->file);
}

static char *resolve_path(lua_State *L, const char *path)
{
    char *dir = caller_dir(L);
    char *abs = path_resolve(dir, path);
    free(dir);
    return abs;
}

static void append_spec(struct vm *vm, const struct disk_spec *s)
{
    struct vm_boot_opts *o = &vm->opts;
    o->disks = xrealloc(o->disks, (o->n_disks + 1) * sizeof *o->disks);
    o->disks[o->n_disks++] = *s;
}

static const char *const ATTACH_OPTS[] = {"id", "size", "image", "readonly", NULL};

/* vm:attach_disk({id=, size=, image=, readonly=}?): before boot a disk the boot makes;
 * on a running q35 VM a hot-plug. */
static int vm_attach_disk_l(lua_State *L)
{
    struct vm *vm = lvm_check(L, 1);
    const char *M = "vm:attach_disk";
    struct disk_spec s = {.scratch = 4ull << 30};
    if (!lua_isnoneornil(L, 2)) {
        luaL_checktype(L, 2, LUA_TTABLE);
        lapi_check_opts(L, 2, M, ATTACH_OPTS, NULL);
    }
    lua_settop(L, 2);
    if (lua_istable(L, 2)) {
        lua_getfield(L, 2, "id");           /* 3 */
        lua_getfield(L, 2, "image");        /* 4 */
        lua_getfield(L, 2, "size");         /* 5 */
        lua_getfield(L, 2, "readonly");     /* 6 */
    }
    lua_settop(L, 6);
    if (!lua_isnil(L, 3) && (lua_type(L, 3) != LUA_TSTRING || !id_ok(lua_tostring(L, 3))))
        return lapi_raise(L, M, "invalid disk id: %s", luaL_tolstring(L, 3, NULL));
    if (!lua_isnil(L, 4) && lua_type(L, 4) != LUA_TSTRING)
        return lapi_raise(L, M, "option `image` must be a path");
    if (!lua_isnil(L, 5))
        s.scratch = lapi_check_size(L, 5, M);
    if (s.scratch == 0 || s.scratch % 512)
        return lapi_raise(L, M, "size must be a positive multiple of 512 bytes");
    s.readonly = lua_toboolean(L, 6);
    if (s.readonly && lua_isnil(L, 4))
        return lapi_raise(L, M, "a read-only disk needs an `image`");
    if (lua_isnil(L, 3))
        lua_pushfstring(L, "attached-%s", vm->name);
    else
        lua_pushvalue(L, 3);
    const char *id = lua_tostring(L, -1); /* 7 */
    if (vm->state != VM_CREATED && vm->state != VM_BOOTED && vm->state != VM_PAUSED)
        return lapi_raise(L, M, "%s", lvm_state_error(vm->state));
    if (vm->state != VM_CREATED && strcmp(vm->machine, "q35") != 0)
        return lapi_raise(L, M, "hot-plug needs machine q35 (VM %s runs %s; attach before "
                          "boot, or use a q35 profile)", vm->name, vm->machine);
    if (id_taken(vm, id))
        return lapi_raise(L, M, "disk conflict: %s", id);
    if (!lua_isnil(L, 4)) {
        char *abs = resolve_path(L, lua_tostring(L, 4));
        lua_pushstring(L, abs);
        free(abs);
        if (!file_exists(lua_tostring(L, -1)))
            return lapi_raise(L, M, "missing disk image: %s", lua_tostring(L, -1));
        s.path = (char *)lua_tostring(L, -1);
        s.scratch = 0;
    }
    s.id = (char *)id;
    if (vm->state == VM_CREATED) {
        s.id = xstrdup(id);
        s.path = s.path ? xstrdup(s.path) : NULL;
        append_spec(vm, &s);
    } else {
        char err[1024];
        if (vm_disk_attach(vm, &s, err, sizeof err) < 0)
            return lapi_raise(L, M, "%s", err);
    }
    push_disk(L, 1, id);
    return 1;
}

static const char *const BOOT_DISK_KEYS[] = {"path", "scratch", "id", "readonly", "mediated",
                                             NULL};

/* Checks disks[i] (the table at e) and pushes its id; the id table at ids gets it. */
static void check_boot_disk(lua_State *L, struct vm *vm, int e, lua_Integer i, int ids)
{
    const char *M = "vm:boot";
    if (!lua_istable(L, e))
        lapi_raise(L, M, "disks[%lld] must be a table", (long long)i);
    lapi_check_opts(L, e, M, BOOT_DISK_KEYS, NULL);
    int has_path = lua_getfield(L, e, "path") != LUA_TNIL;
    if (has_path && lua_type(L, -1) != LUA_TSTRING)
        lapi_raise(L, M, "disks[%lld].path must be a string", (long long)i);
    int has_scratch = lua_getfield(L, e, "scratch") != LUA_TNIL;
    if (has_scratch && lapi_check_size(L, -1, M) == 0)
        lapi_raise(L, M, "disks[%lld].scratch must be a size above 0", (long long)i);
    if (has_path == has_scratch)
        lapi_raise(L, M, "disks[%lld] needs exactly one of `path` and `scratch`", (long long)i);
    lua_pop(L, 2);
    if (lua_getfield(L, e, "id") == LUA_TNIL) {
        lua_pop(L, 1);
        lua_pushfstring(L, "disk%d", (int)(vm->profile->n_disks + vm->opts.n_disks +
                                           (size_t)i - 1));
    } else if (lua_type(L, -1) != LUA_TSTRING || !id_ok(lua_tostring(L, -1))) {
        lapi_raise(L, M, "disks[%lld]: invalid disk id: %s", (long long)i,
                   luaL_tolstring(L, -1, NULL));
    }
    lua_pushvalue(L, -1);
    if (pending_spec(vm, lua_tostring(L, -1)) || lua_rawget(L, ids) != LUA_TNIL)
        lapi_raise(L, M, "disk conflict: %s", lua_tostring(L, -2));
    lua_pop(L, 1);
    lua_pushvalue(L, -1);
    lua_pushboolean(L, 1);
    lua_rawset(L, ids);
}

void ldisk_boot_opt(lua_State *L, int idx, struct vm *vm)
{
    idx = lua_absindex(L, idx);
    if (lua_getfield(L, idx, "disks") == LUA_TNIL) {
        lua_pop(L, 1);
        return;
    }
    if (!lua_istable(L, -1))
        lapi_raise(L, "vm:boot", "option `disks` must be a list of "
                   "{path=|scratch=, id=?, readonly=?, mediated=?}");
    int t = lua_gettop(L);
    lua_Integer n = luaL_len(L, t);
    lua_newtable(L); /* t+1: ids seen */
    lua_newtable(L); /* t+2: ids by position */
    for (lua_Integer i = 1; i <= n; i++) {
        lua_rawgeti(L, t, i);
        check_boot_disk(L, vm, lua_gettop(L), i, t + 1);
        lua_rawseti(L, t + 2, i);
        lua_settop(L, t + 2);
    }
    for (lua_Integer i = 1; i <= n; i++) { /* all checked: now copy */
        lua_rawgeti(L, t, i);
        int e = lua_gettop(L);
        struct disk_spec s = {0};
        lua_rawgeti(L, t + 2, i);
        s.id = xstrdup(lua_tostring(L, -1));
        if (lua_getfield(L, e, "path") == LUA_TSTRING)
            s.path = resolve_path(L, lua_tostring(L, -1));
        if (lua_getfield(L, e, "scratch") != LUA_TNIL)
            s.scratch = lapi_check_size(L, -1, "vm:boot");
        lua_getfield(L, e, "readonly");
        lua_getfield(L, e, "mediated");
        s.readonly = lua_toboolean(L, -2);
        s.mediated = lua_toboolean(L, -1);
        append_spec(vm, &s);
        lua_settop(L, t + 2);
    }
    lua_settop(L, t - 1);
}

void ldisk_open(lua_State *L)
{
    static const luaL_Reg methods[] = {
        {"id", disk_id_l}, {"size", disk_size_l}, {"detach", disk_detach_l},
        {"is_detached", disk_is_detached_l}, {"read_sectors", disk_read_sectors_l},
        {"write_sectors", disk_write_sectors_l}, {"fault_inject", disk_fault_inject_l},
        {"clear_faults", disk_clear_faults_l}, {"active_faults", disk_active_faults_l},
        {"power_cut", disk_power_cut_l}, {"fail_reads", disk_fail_reads_l},
        {"fail_writes", disk_fail_writes_l}, {"fail_after", disk_fail_after_l},
        {"fail_range", disk_fail_range_l}, {"delay", disk_delay_l},
        {"clear_policy", disk_clear_policy_l}, {"fault_policy", disk_fault_policy_l},
        {NULL, NULL}};
    static const luaL_Reg metamethods[] = {{"__tostring", disk_tostring_l}, {NULL, NULL}};
    static const luaL_Reg vm_methods[] = {
        {"disk", vm_disk_l}, {"attach_disk", vm_attach_disk_l}, {NULL, NULL}};
    lapi_newclass(L, DISK_MT, methods, metamethods);
    lapi_add_methods(L, "provium.Vm", vm_methods);
}
