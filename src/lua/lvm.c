/* lvm.c - the Vm userdata and RunResult: boot, run, files, state.
 *
 * A Vm userdata owns its struct vm (freed by __gc, which also stops QEMU); a collected
 * Vm is closed, and any use of it that a finalizer could still make raises "VM is
 * closed". Every method checks the state machine first and raises the spec's exact
 * phrases. The Vm's other methods are added by their own files (lproc.c, lsnap.c,
 * lfile.c, lstream.c, lclock.c, lconsole.c, lbatch.c, lnic.c). */
#include "lvm.h"

#include "lbridge.h"
#include "ldisk.h"
#include "lpower.h"
#include "lrunargs.h"

#include "util/util.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define VM_MT "provium.Vm"
#define RESULT_MT "provium.RunResult"

struct lvm {
    struct vm *vm;
};

/* Raises "<method>: VM is closed" for the running C function: the method is named as
 * the spec names it (vm:run, proc:wait, clock:get) when Lua knows the call's name and
 * its object's class, else the message stands alone. */
static int raise_closed(lua_State *L)
{
    lua_Debug ar;
    char method[96] = "";
    if (lua_getstack(L, 0, &ar) && lua_getinfo(L, "n", &ar) && ar.name &&
        luaL_getmetafield(L, 1, "__name") == LUA_TSTRING) {
        const char *cls = lua_tostring(L, -1);
        if (!strncmp(cls, "provium.", 8))
            cls += 8;
        snprintf(method, sizeof method, "%s:%s", strcmp(cls, "Process") ? cls : "proc", ar.name);
        method[0] = (char)tolower((unsigned char)method[0]);
        lua_pop(L, 1);
    }
    if (method[0])
        return lapi_raise(L, method, "VM is closed");
    return luaL_error(L, "VM is closed");
}

struct vm *lvm_check(lua_State *L, int idx)
{
    struct lvm *u = luaL_checkudata(L, idx, VM_MT);
    if (!u->vm)
        raise_closed(L);
    return u->vm;
}

struct vm *lvm_test(lua_State *L, int idx)
{
    struct lvm *u = luaL_testudata(L, idx, VM_MT);
    return u ? u->vm : NULL;
}

void lvm_push_companion(lua_State *L, int vm_idx, const char *mt)
{
    vm_idx = lua_absindex(L, vm_idx);
    lvm_check(L, vm_idx);
    lua_newuserdatauv(L, 1, 1);
    lua_pushvalue(L, vm_idx);
    lua_setiuservalue(L, -2, 1);
    luaL_setmetatable(L, mt);
}

struct vm *lvm_companion_vm(lua_State *L, int idx, const char *mt)
{
    luaL_checkudata(L, idx, mt);
    lua_getiuservalue(L, idx, 1);
    struct vm *vm = lvm_check(L, -1);
    lua_pop(L, 1);
    return vm;
}

void lvm_push(lua_State *L, struct vm *vm)
{
    struct lvm *u = lua_newuserdatauv(L, sizeof *u, 1);
    u->vm = vm;
    luaL_setmetatable(L, VM_MT);
}

const char *lvm_state_error(enum vm_state s)
{
    switch (s) {
    case VM_CREATED: return "VM not booted";
    case VM_BOOTED: return "VM already booted";
    case VM_PAUSED: return "VM is paused; use resume()";
    case VM_SHUTDOWN: return "VM is shutdown; create a new one";
    case VM_DEAD: break;
    }
    return "VM died; create a new one";
}

/* Raises unless the VM is booted. */
struct vm *lvm_need_booted(lua_State *L, int idx, const char *method)
{
    struct vm *vm = lvm_check(L, idx);
    if (vm->state != VM_BOOTED)
        lapi_raise(L, method, "%s", lvm_state_error(vm->state));
    return vm;
}

static struct vm *need_booted(lua_State *L, const char *method)
{
    return lvm_need_booted(L, 1, method);
}

static const char *check_guest_path(lua_State *L, int idx, const char *method)
{
    const char *p = luaL_checkstring(L, idx);
    if (p[0] != '/')
        lapi_raise(L, method, "guest path must be absolute: %s", p);
    return p;
}

static void emit_vm_event(lua_State *L, struct vm *vm, const char *kind, int64_t dur,
                          int restored)
{
    struct lua_host *h = lhost(L);
    if (!h->emit)
        return;
    json_t *o;
    if (!strcmp(kind, "vm_spawned"))
        o = json_pack("{s:s, s:s, s:s, s:I, s:i, s:s, s:s, s:b, s:I}", "file", h->rel_path,
                      "vm_name", vm->name, "profile", vm->profile->name, "memory_bytes",
                      (json_int_t)vm->memory, "cpus", vm->cpus, "accel", vm->env->accel,
                      "machine", vm->machine, "restored", restored, "boot_ns", (json_int_t)vm->boot_ns);
    else
        o = json_pack("{s:s, s:s, s:I}", "file", h->rel_path, "vm_name", vm->name, "duration_ns",
                      (json_int_t)dur);
    h->emit(h->emit_ud, kind, o);
}

void lvm_emit_shutdown(lua_State *L, struct vm *vm, int64_t dur)
{
    emit_vm_event(L, vm, "vm_shutdown", dur, 0);
}

void lvm_emit_spawned(lua_State *L, struct vm *vm, int restored)
{
    emit_vm_event(L, vm, "vm_spawned", 0, restored);
}

/* ---- boot ---- */

static char *opt_string(lua_State *L, int t, const char *key)
{
    char *r = NULL;
    if (lua_getfield(L, t, key) != LUA_TNIL) {
        if (lua_type(L, -1) != LUA_TSTRING)
            lapi_raise(L, "vm:boot", "option `%s` must be a string", key);
        r = xstrdup(lua_tostring(L, -1));
    }
    lua_pop(L, 1);
    return r;
}

static void parse_files_opt(lua_State *L, int t, struct vm *vm)
{
    if (lua_getfield(L, t, "files") == LUA_TNIL) {
        lua_pop(L, 1);
        return;
    }
    if (!lua_istable(L, -1))
        lapi_raise(L, "vm:boot", "option `files` must be a list of {path=, content=, mode=}");
    int ft = lua_gettop(L);
    lua_Integer n = luaL_len(L, ft);
    for (lua_Integer i = 1; i <= n; i++) {
        lua_rawgeti(L, ft, i);
        int e = lua_gettop(L);
        if (!lua_istable(L, e))
            lapi_raise(L, "vm:boot", "files[%lld] must be a table", (long long)i);
        lua_getfield(L, e, "path");
        lua_getfield(L, e, "content");
        lua_getfield(L, e, "mode");
        const char *path = lua_tostring(L, e + 1);
        size_t clen;
        const char *content = lua_tolstring(L, e + 2, &clen);
        if (!path || path[0] != '/')
            lapi_raise(L, "vm:boot", "files[%lld].path must be an absolute path", (long long)i);
        if (!content)
            lapi_raise(L, "vm:boot", "files[%lld].content must be a string", (long long)i);
        for (const char *s = path; *s; s++)
            if (s[0] == '/' && s[1] == '.' &&
                (s[2] == '/' || s[2] == 0 || (s[2] == '.' && (s[3] == '/' || s[3] == 0))))
                lapi_raise(L, "vm:boot", "files[%lld].path may not contain . or ..",
                           (long long)i);
        struct vm_boot_opts *o = &vm->opts;
        o->files = xrealloc(o->files, (o->n_files + 1) * sizeof *o->files);
        struct vm_file *f = &o->files[o->n_files++];
        f->path = xstrdup(path);
        f->content = xmalloc(clen + 1);
        memcpy(f->content, content, clen);
        f->len = clen;
        f->mode = lua_isinteger(L, e + 3) ? (unsigned)lua_tointeger(L, e + 3) : 0644;
        lua_settop(L, ft);
    }
    lua_pop(L, 1);
}

/* vm:boot's options: what works, and what the spec lists that this build lacks. */
static const char *const BOOT_OPTS[] = {"kernel_cmdline", "kernel_cmdline_append",
                                        "agent_timeout", "files", "disks",
                                        "initial_time", "rng_seed", NULL};
static const char *const BOOT_OPTS_LATER[] = {NULL};

static int vm_boot_l(lua_State *L)
{
    struct vm *vm = lvm_check(L, 1);
    if (vm->state != VM_CREATED)
        return lapi_raise(L, "vm:boot", "%s", lvm_state_error(vm->state));
    if (!lua_isnoneornil(L, 2)) {
        luaL_checktype(L, 2, LUA_TTABLE);
        lapi_check_opts(L, 2, "vm:boot", BOOT_OPTS, BOOT_OPTS_LATER);
        char *s;
        if ((s = opt_string(L, 2, "kernel_cmdline"))) {
            free(vm->opts.cmdline);
            vm->opts.cmdline = s;
        }
        if ((s = opt_string(L, 2, "kernel_cmdline_append"))) {
            free(vm->opts.cmdline_append);
            vm->opts.cmdline_append = s;
        }
        if (lua_getfield(L, 2, "agent_timeout") != LUA_TNIL)
            vm->opts.agent_timeout = lapi_check_duration(L, -1, "vm:boot");
        lua_pop(L, 1);
        lpower_boot_opts(L, 2, vm); /* before the files and disks allocate */
        parse_files_opt(L, 2, vm);
        ldisk_boot_opt(L, 2, vm);
    }
    char err[8192];
    if (vm_boot(vm, err, sizeof err) < 0) {
        if (lhost(L)->env->deadline_ns && now_ns() >= lhost(L)->env->deadline_ns)
            lhost(L)->timed_out = 1;
        return lapi_raise(L, "vm:boot", "%s", err);
    }
    emit_vm_event(L, vm, "vm_spawned", 0, 0);
    if (lbridge_vm_booted(L, vm, 1, err, sizeof err) < 0)
        return lapi_raise(L, "vm:boot", "%s", err);
    lua_settop(L, 1);
    return 1;
}

/* vm:pause(): stop the vCPUs. */
static int vm_pause_l(lua_State *L)
{
    struct vm *vm = need_booted(L, "vm:pause");
    char err[512];
    if (vm_set_running(vm, 0, err, sizeof err) < 0)
        return lapi_raise(L, "vm:pause", "%s", err);
    lua_settop(L, 1);
    return 1;
}

/* vm:reset(): hard reset, back once the agent answers again. */
static int vm_reset_l(lua_State *L)
{
    struct vm *vm = need_booted(L, "vm:reset");
    char err[8192];
    if (vm_reset(vm, err, sizeof err) < 0)
        return lapi_raise(L, "vm:reset", "%s", err);
    if (lbridge_vm_booted(L, vm, 1, err, sizeof err) < 0) /* the guest forgot its network */
        return lapi_raise(L, "vm:reset", "%s", err);
    lua_settop(L, 1);
    return 1;
}

/* vm:resume(): continue a paused VM. */
static int vm_resume_l(lua_State *L)
{
    struct vm *vm = lvm_check(L, 1);
    if (vm->state != VM_PAUSED)
        return lapi_raise(L, "vm:resume", "%s", lvm_state_error(vm->state));
    char err[512];
    if (vm_set_running(vm, 1, err, sizeof err) < 0)
        return lapi_raise(L, "vm:resume", "%s", err);
    lua_settop(L, 1);
    return 1;
}

/* One joint pool reservation for all of vms: each one's memory + 100 MiB (as vm.c's
 * pool_charge) and vCPUs in a single request, granted or queued whole, so two files
 * booting labs never each hold a part while waiting for the rest. Each VM then holds
 * its share (pool_charge skips a VM already charged) until its QEMU exits. */
static int pool_charge_joint(lua_State *L, struct vm **vms, size_t n, char *err,
                             size_t errlen)
{
    struct host_env *env = lhost(L)->env;
    uint64_t memory = 0;
    int cpus = 0;
    for (size_t i = 0; i < n; i++)
        if (!vms[i]->pool_memory) {
            memory += vms[i]->memory + (100ull << 20);
            cpus += vms[i]->cpus;
        }
    if (!env->pool_acquire || env->pool_exempt || !memory)
        return 0;
    if (env->pool_acquire(env, memory, cpus, err, errlen) < 0)
        return -1;
    for (size_t i = 0; i < n; i++)
        if (!vms[i]->pool_memory) {
            vms[i]->pool_memory = vms[i]->memory + (100ull << 20);
            vms[i]->pool_cpus = vms[i]->cpus;
        }
    return 0;
}

int lvm_boot_all(lua_State *L, struct vm **vms, size_t n, char *err, size_t errlen)
{
    if (pool_charge_joint(L, vms, n, err, errlen) < 0)
        return -1;
    /* start every QEMU first, so the guests boot side by side; then wait for each */
    int rc = 0;
    size_t started = 0;
    for (; started < n; started++)
        if (vm_boot_start(vms[started], err, errlen) < 0) {
            rc = -1;
            break;
        }
    for (size_t i = 0; i < started; i++) {
        if (rc < 0) {
            vm_kill(vms[i]);
            vm_shutdown(vms[i]);
            vms[i]->state = VM_CREATED;
            continue;
        }
        if (vm_boot_finish(vms[i], err, errlen) < 0) {
            rc = -1;
            continue;
        }
        emit_vm_event(L, vms[i], "vm_spawned", 0, 0);
        if (lbridge_vm_booted(L, vms[i], 1, err, errlen) < 0)
            rc = -1;
    }
    /* a failure leaves none of them half up, and the unstarted ones' shares go back */
    for (size_t i = started; i < n; i++)
        if (vms[i]->qemu_pid <= 0)
            vm_pool_uncharge(vms[i]);
    for (size_t i = 0; rc < 0 && i < started; i++)
        if (vms[i]->qemu_pid > 0) {
            vm_kill(vms[i]);
            vm_shutdown(vms[i]);
            emit_vm_event(L, vms[i], "vm_shutdown", 0, 0);
            vms[i]->state = VM_SHUTDOWN;
        }
    if (rc < 0 && lhost(L)->env->deadline_ns && now_ns() >= lhost(L)->env->deadline_ns)
        lhost(L)->timed_out = 1;
    return rc;
}

static int vm_shutdown_l(lua_State *L)
{
    struct vm *vm = lvm_check(L, 1);
    int was_running = vm->state == VM_BOOTED || vm->state == VM_PAUSED || vm->state == VM_DEAD;
    int64_t t0 = now_ns();
    vm_shutdown(vm);
    if (was_running)
        emit_vm_event(L, vm, "vm_shutdown", now_ns() - t0, 0);
    return 0;
}

/* ---- run ---- */

void lvm_push_result(lua_State *L, const struct exec_res *r)
{
    lua_createtable(L, 0, 9);
    int code = r->status == WIRE_STATUS_EXITED ? r->code
               : r->status == WIRE_STATUS_SIGNALLED ? -1
                                                    : -2;
    lua_pushinteger(L, code);
    lua_setfield(L, -2, "exit_code");
    lua_pushlstring(L, r->out, r->out_len);
    lua_setfield(L, -2, "stdout");
    lua_pushlstring(L, r->err, r->err_len);
    lua_setfield(L, -2, "stderr");
    lua_pushstring(L, r->status == WIRE_STATUS_EXITED      ? "exited"
                      : r->status == WIRE_STATUS_SIGNALLED ? "signalled"
                                                           : "timed_out");
    lua_setfield(L, -2, "status");
    lua_pushboolean(L, r->status == WIRE_STATUS_TIMED_OUT);
    lua_setfield(L, -2, "timed_out");
    if (r->signal)
        lua_pushinteger(L, r->signal);
    else
        lua_pushnil(L);
    lua_setfield(L, -2, "signal");
    lua_pushnumber(L, r->duration);
    lua_setfield(L, -2, "duration");
    lua_pushboolean(L, r->truncated);
    lua_setfield(L, -2, "truncated");
    luaL_setmetatable(L, RESULT_MT);
}

/* vm:run(cmd, ...): the argument forms are lrunargs.c's. */
static int vm_run_l(lua_State *L)
{
    struct vm *vm = need_booted(L, "vm:run");
    struct exec_req req = {0};
    lrunargs_parse(L, "vm:run", 0, &req); /* the strings belong to a userdata on the stack */
    struct exec_res res;
    int gerr = 0;
    int rc = vm_exec(vm, &req, &res, &gerr);
    if (rc != VMOP_OK)
        return lapi_raise_vmop(L, "vm:run", vm, rc, gerr, NULL);
    lvm_push_result(L, &res);
    exec_res_free(&res);
    return 1;
}

/* ---- RunResult methods ---- */

static int result_ok_l(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_getfield(L, 1, "status");
    lua_getfield(L, 1, "exit_code");
    lua_pushboolean(L, lua_tostring(L, -2) && !strcmp(lua_tostring(L, -2), "exited") &&
                           lua_tointeger(L, -1) == 0);
    return 1;
}

static void push_cut(lua_State *L, int t, const char *field)
{
    lua_getfield(L, t, field);
    size_t n;
    const char *s = lua_tolstring(L, -1, &n);
    if (!s) {
        lua_pushliteral(L, "");
        return;
    }
    if (n > 2048) {
        lua_pushlstring(L, s, 2048);
        lua_pushliteral(L, "...");
        lua_concat(L, 2);
    } else
        lua_pushvalue(L, -1);
}

static int result_assert_ok_l(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    result_ok_l(L);
    if (lua_toboolean(L, -1)) {
        lua_settop(L, 1);
        return 1;
    }
    lua_getfield(L, 1, "status");
    lua_getfield(L, 1, "exit_code");
    const char *status = lua_tostring(L, -2);
    lua_Integer code = lua_tointeger(L, -1);
    push_cut(L, 1, "stdout");
    const char *out = lapi_report_text(L, -1); /* guest output may hold NUL bytes */
    push_cut(L, 1, "stderr");
    const char *err = lapi_report_text(L, -1);
    return luaL_error(L, "command failed: status=%s exit_code=%d stdout=%s stderr=%s",
                      status ? status : "?", (int)code, out, err);
}

static int result_tostring_l(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_getfield(L, 1, "status");
    lua_getfield(L, 1, "stdout");
    lua_getfield(L, 1, "stderr");
    lua_pushfstring(L, "RunResult{ status=%s, stdout=%dB, stderr=%dB }", lua_tostring(L, -3),
                    (int)lua_rawlen(L, -2), (int)lua_rawlen(L, -1));
    return 1;
}

/* ---- files ---- */

static int vm_read_file_l(lua_State *L)
{
    struct vm *vm = need_booted(L, "vm:read_file");
    const char *path = check_guest_path(L, 2, "vm:read_file");
    char *data;
    size_t len;
    int gerr = 0;
    int rc = vm_read_file(vm, path, &data, &len, &gerr);
    if (rc != VMOP_OK)
        return lapi_raise_vmop(L, "vm:read_file", vm, rc, gerr, path);
    lua_pushlstring(L, data, len);
    free(data);
    return 1;
}

static int opt_mode(lua_State *L, int idx, const char *method, unsigned *mode)
{
    if (!lua_istable(L, idx))
        return 0;
    int found = 0;
    if (lua_getfield(L, idx, "mode") != LUA_TNIL) {
        if (!lua_isinteger(L, -1) || lua_tointeger(L, -1) < 0 || lua_tointeger(L, -1) > 07777)
            lapi_raise(L, method, "option `mode` must be an integer permission like 0x1ed or "
                                  "tonumber('755', 8)");
        *mode = (unsigned)lua_tointeger(L, -1);
        found = 1;
    }
    lua_pop(L, 1);
    return found;
}

static int vm_write_file_l(lua_State *L)
{
    struct vm *vm = need_booted(L, "vm:write_file");
    const char *path = check_guest_path(L, 2, "vm:write_file");
    size_t len;
    const char *data = luaL_checklstring(L, 3, &len);
    unsigned mode = 0644;
    int explicit_mode = opt_mode(L, 4, "vm:write_file", &mode);
    int gerr = 0;
    int rc = vm_write_file(vm, path, data, len, -1, mode, !explicit_mode, &gerr);
    if (rc != VMOP_OK)
        return lapi_raise_vmop(L, "vm:write_file", vm, rc, gerr, path);
    return 0;
}

/* Directory of the Lua file that called us (level 1), for relative host paths. */
static char *caller_dir(lua_State *L)
{
    lua_Debug ar;
    if (lua_getstack(L, 1, &ar) && lua_getinfo(L, "S", &ar) && ar.source[0] == '@')
        return path_dirname(ar.source + 1);
    return path_dirname(lhost(L)->file);
}

static int vm_push_file_l(lua_State *L)
{
    struct vm *vm = need_booted(L, "vm:push_file");
    const char *host = luaL_checkstring(L, 2);
    const char *path = check_guest_path(L, 3, "vm:push_file");
    unsigned mode = 0;
    int explicit_mode = opt_mode(L, 4, "vm:push_file", &mode); /* raises before the open */
    char *dir = caller_dir(L);
    char *abs = path_resolve(dir, host);
    free(dir);
    lua_pushstring(L, abs); /* for the message: nothing may raise while abs or fd is held */
    free(abs);
    int fd = open(lua_tostring(L, -1), O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0) {
        int e = errno;
        if (fd >= 0)
            close(fd);
        return lapi_raise(L, "vm:push_file", "cannot read host file %s: %s", lua_tostring(L, -1),
                          strerror(e));
    }
    if (!explicit_mode)
        mode = st.st_mode & 07777;
    int gerr = 0;
    int rc = vm_write_file(vm, path, NULL, 0, fd, mode, 0, &gerr);
    close(fd);
    if (rc != VMOP_OK)
        return lapi_raise_vmop(L, "vm:push_file", vm, rc, gerr, path);
    return 0;
}

static int vm_stat_l(lua_State *L)
{
    struct vm *vm = need_booted(L, "vm:stat");
    const char *path = check_guest_path(L, 2, "vm:stat");
    struct vm_stat st;
    int gerr = 0;
    int rc = vm_stat_path(vm, path, &st, &gerr);
    if (rc != VMOP_OK)
        return lapi_raise_vmop(L, "vm:stat", vm, rc, gerr, path);
    lvm_push_stat(L, &st);
    return 1;
}

void lvm_push_stat(lua_State *L, const struct vm_stat *s)
{
    const struct vm_stat st = *s;
    lua_createtable(L, 0, 5);
    lua_pushinteger(L, (lua_Integer)st.size);
    lua_setfield(L, -2, "size");
    lua_pushnumber(L, (double)st.mtime_s + (double)st.mtime_ns / 1e9);
    lua_setfield(L, -2, "mtime");
    lua_pushinteger(L, (lua_Integer)st.mtime_s * 1000000000 + st.mtime_ns);
    lua_setfield(L, -2, "mtime_ns");
    lua_pushinteger(L, st.perm);
    lua_setfield(L, -2, "perm");
    lua_pushstring(L, wire_entry_name(st.type));
    lua_setfield(L, -2, "entry_type");
}

static int vm_exists_l(lua_State *L)
{
    struct vm *vm = need_booted(L, "vm:exists");
    const char *path = check_guest_path(L, 2, "vm:exists");
    struct vm_stat st;
    int gerr = 0;
    int rc = vm_stat_path(vm, path, &st, &gerr);
    if (rc == VMOP_GUEST) {
        lua_pushboolean(L, 0);
        return 1;
    }
    if (rc != VMOP_OK)
        return lapi_raise_vmop(L, "vm:exists", vm, rc, gerr, path);
    lua_pushboolean(L, 1);
    return 1;
}

static int vm_listdir_l(lua_State *L)
{
    struct vm *vm = need_booted(L, "vm:listdir");
    const char *path = check_guest_path(L, 2, "vm:listdir");
    struct vm_dirent *e;
    size_t n;
    int gerr = 0;
    int rc = vm_listdir(vm, path, &e, &n, &gerr);
    if (rc != VMOP_OK)
        return lapi_raise_vmop(L, "vm:listdir", vm, rc, gerr, path);
    lvm_push_dirents(L, e, n);
    return 1;
}

void lvm_push_dirents(lua_State *L, struct vm_dirent *e, size_t n)
{
    lua_createtable(L, (int)n, 0);
    for (size_t i = 0; i < n; i++) {
        lua_createtable(L, 0, 2);
        lua_pushstring(L, e[i].name);
        lua_setfield(L, -2, "name");
        lua_pushstring(L, wire_entry_name(e[i].type));
        lua_setfield(L, -2, "entry_type");
        lua_rawseti(L, -2, (lua_Integer)i + 1);
        free(e[i].name);
    }
    free(e);
}

static int vm_mkdir_l(lua_State *L)
{
    struct vm *vm = need_booted(L, "vm:mkdir");
    const char *path = check_guest_path(L, 2, "vm:mkdir");
    int parents = 0;
    unsigned perm = 0755;
    if (lua_istable(L, 3)) {
        lua_getfield(L, 3, "parents");
        parents = lua_toboolean(L, -1);
        lua_pop(L, 1);
        if (lua_getfield(L, 3, "perm") != LUA_TNIL) {
            if (!lua_isinteger(L, -1))
                lapi_raise(L, "vm:mkdir", "option `perm` must be an integer");
            perm = (unsigned)lua_tointeger(L, -1);
        }
        lua_pop(L, 1);
    }
    int gerr = 0;
    int rc = vm_mkdir(vm, path, perm, parents, &gerr);
    if (rc != VMOP_OK)
        return lapi_raise_vmop(L, "vm:mkdir", vm, rc, gerr, path);
    return 0;
}

static int vm_unlink_l(lua_State *L)
{
    struct vm *vm = need_booted(L, "vm:unlink");
    const char *path = check_guest_path(L, 2, "vm:unlink");
    int gerr = 0;
    int rc = vm_unlink(vm, path, &gerr);
    if (rc != VMOP_OK)
        return lapi_raise_vmop(L, "vm:unlink", vm, rc, gerr, path);
    return 0;
}

static int vm_rename_l(lua_State *L)
{
    struct vm *vm = need_booted(L, "vm:rename");
    const char *a = check_guest_path(L, 2, "vm:rename");
    const char *b = check_guest_path(L, 3, "vm:rename");
    int gerr = 0;
    int rc = vm_rename(vm, a, b, &gerr);
    if (rc != VMOP_OK)
        return lapi_raise_vmop(L, "vm:rename", vm, rc, gerr, a);
    return 0;
}

/* ---- accessors ---- */

static int vm_name_l(lua_State *L)
{
    lua_pushstring(L, lvm_check(L, 1)->name);
    return 1;
}

static int vm_profile_l(lua_State *L)
{
    lua_pushstring(L, lvm_check(L, 1)->profile->name);
    return 1;
}

static int vm_state_l(lua_State *L)
{
    struct vm *vm = lvm_check(L, 1);
    vm_refresh_state(vm); /* a guest that powered off meanwhile is `shutdown` */
    lua_pushstring(L, vm_state_name(vm->state));
    return 1;
}

static int vm_cid_l(lua_State *L)
{
    lvm_check(L, 1);
    lua_pushnil(L);
    return 1;
}

static int vm_tostring_l(lua_State *L)
{
    struct lvm *u = luaL_checkudata(L, 1, VM_MT);
    if (!u->vm)
        lua_pushliteral(L, "vm(closed)");
    else
        lua_pushfstring(L, "vm(%s state=%s)", u->vm->name, vm_state_name(u->vm->state));
    return 1;
}

static int vm_gc_l(lua_State *L)
{
    struct lvm *u = luaL_checkudata(L, 1, VM_MT);
    vm_free(u->vm);
    u->vm = NULL;
    return 0;
}

void lvm_open(lua_State *L)
{
    static const luaL_Reg methods[] = {
        {"boot", vm_boot_l}, {"shutdown", vm_shutdown_l}, {"close", vm_shutdown_l},
        {"run", vm_run_l}, {"read_file", vm_read_file_l}, {"write_file", vm_write_file_l},
        {"push_file", vm_push_file_l}, {"stat", vm_stat_l}, {"exists", vm_exists_l},
        {"listdir", vm_listdir_l}, {"mkdir", vm_mkdir_l}, {"unlink", vm_unlink_l},
        {"rename", vm_rename_l}, {"name", vm_name_l}, {"profile", vm_profile_l},
        {"state", vm_state_l}, {"cid", vm_cid_l}, {"pause", vm_pause_l}, {"reset", vm_reset_l},
        {"resume", vm_resume_l}, {NULL, NULL}};
    static const luaL_Reg metamethods[] = {
        {"__tostring", vm_tostring_l}, {"__gc", vm_gc_l}, {NULL, NULL}};
    lapi_newclass(L, VM_MT, methods, metamethods);

    static const luaL_Reg rmethods[] = {
        {"ok", result_ok_l}, {"assert_ok", result_assert_ok_l}, {NULL, NULL}};
    static const luaL_Reg rmetamethods[] = {{"__tostring", result_tostring_l}, {NULL, NULL}};
    lapi_newclass(L, RESULT_MT, rmethods, rmetamethods);
}
