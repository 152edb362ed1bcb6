/* lfile.c - File userdata (vm:open_file) and the registry of open guest handles.
 *
 * A File is a handle id in the guest agent's table (OPEN/HREAD/HWRITE/HSEEK/HCLOSE in
 * proto/wire.h) plus what a snapshot refusal needs to name it: path, creation site and
 * the test that opened it. Its Vm userdata is its user value, so the VM outlives it.
 *
 * The registry is one weak-keyed table in the Lua registry: handle userdata -> true.
 * Nothing else is stored per VM; counts and listings walk the table. A handle lives as
 * long as the agent connection it was opened on, so whether it is still open is
 * decided when someone looks (lfile_handle_vm): a VM that shut down, died or was restored
 * since has a different state or connection serial, and its handles read as closed.
 * The worker closes the handles of a test when its body ends; __gc closes the rest
 * without waiting for the agent's answer. */
#include "lfile.h"

#include "lstream.h"
#include "lvm.h"

#include "util/util.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define FILE_MT "provium.File"
#define READ_ALL_CAP (96u << 20) /* as vm:read_file */
#define CLOSE_WAIT_NS 5000000000LL

static const char HANDLES_KEY = 'f';
static uint64_t handle_seq;

struct lfile {
    struct lhandle h; /* first: the registry sees every handle as a struct lhandle */
    uint32_t handle;  /* the agent's handle id */
};

/* ---- the registry ---- */

static void push_handles(lua_State *L) { lapi_push_weak_registry(L, &HANDLES_KEY); }

/* Creation site: the Lua function that called the running C function. Files are
 * named relative to the working directory when below it, as reports name them. */
void lfile_handle_site(lua_State *L, struct lhandle *h)
{
    lua_Debug ar;
    const char *file = "?";
    char cwd[4096];
    h->site_line = 0;
    if (lua_getstack(L, 1, &ar) && lua_getinfo(L, "Sl", &ar)) {
        file = ar.short_src;
        if (ar.source[0] == '@') {
            file = ar.source + 1;
            size_t n = getcwd(cwd, sizeof cwd) ? strlen(cwd) : 0;
            if (n > 1 && !strncmp(file, cwd, n) && file[n] == '/')
                file += n + 1;
        }
        h->site_line = ar.currentline;
    }
    h->site_file = xstrdup(file);
}

void lfile_track(lua_State *L, int idx, struct lhandle *h, int kind, const char *what)
{
    idx = lua_absindex(L, idx);
    lua_getiuservalue(L, idx, 1);
    struct vm *vm = lvm_check(L, -1);
    lua_pop(L, 1);
    h->kind = kind;
    h->open = 1;
    h->conn = vm->agent.serial;
    h->seq = ++handle_seq;
    h->what = xstrdup(what);
    lfile_handle_site(L, h);
    const char *test = lhost(L)->current_test;
    h->test = test ? xstrdup(test) : NULL;
    push_handles(L);
    lua_pushvalue(L, idx);
    lua_pushboolean(L, 1);
    lua_rawset(L, -3);
    lua_pop(L, 1);
}

static void untrack(lua_State *L, int idx)
{
    idx = lua_absindex(L, idx);
    push_handles(L);
    lua_pushvalue(L, idx);
    lua_pushnil(L);
    lua_rawset(L, -3);
    lua_pop(L, 1);
}

struct vm *lfile_handle_vm(lua_State *L, int idx)
{
    struct lhandle *h = lua_touserdata(L, idx);
    if (!h || !h->open)
        return NULL;
    lua_getiuservalue(L, idx, 1);
    struct vm *vm = lvm_test(L, -1);
    lua_pop(L, 1);
    if (vm && (vm->state == VM_BOOTED || vm->state == VM_PAUSED) && !vm->agent.dead &&
        vm->agent.serial == h->conn)
        return vm;
    h->open = 0;
    return NULL;
}

void lfile_handle_free(struct lhandle *h)
{
    h->open = 0;
    free(h->what);
    free(h->site_file);
    free(h->test);
    h->what = h->site_file = h->test = NULL;
}

struct open_ref {
    struct lhandle *h;
    struct vm *vm;
};

static int cmp_seq(const void *a, const void *b)
{
    uint64_t x = ((const struct open_ref *)a)->h->seq, y = ((const struct open_ref *)b)->h->seq;
    return x < y ? -1 : x > y;
}

/* The open handles (on `only` when not NULL), in opening order; free the array. */
static size_t collect_open(lua_State *L, struct vm *only, struct open_ref **out)
{
    struct open_ref *v = NULL;
    size_t n = 0, cap = 0;
    push_handles(L);
    int t = lua_gettop(L);
    lua_pushnil(L);
    while (lua_next(L, t)) {
        lua_pop(L, 1);
        struct vm *vm = lfile_handle_vm(L, -1);
        if (!vm || (only && vm != only))
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 8;
            v = xrealloc(v, cap * sizeof *v);
        }
        v[n].h = lua_touserdata(L, -1);
        v[n].vm = vm;
        n++;
    }
    lua_pop(L, 1);
    if (n > 1)
        qsort(v, n, sizeof *v, cmp_seq);
    *out = v;
    return n;
}

static int count_open(lua_State *L, struct vm *vm, int kind)
{
    struct open_ref *v;
    size_t n = collect_open(L, vm, &v);
    int count = 0;
    for (size_t i = 0; i < n; i++)
        count += v[i].h->kind == kind;
    free(v);
    return count;
}

int lfile_describe_open(lua_State *L, struct vm *vm, struct buf *out)
{
    struct open_ref *v;
    size_t n = collect_open(L, vm, &v);
    for (size_t i = 0; i < n; i++) {
        const struct lhandle *h = v[i].h;
        if (out->len)
            buf_puts(out, "; ");
        buf_printf(out, "%s %s opened at %s:%d", h->kind == LHANDLE_FILE ? "file" : "stream",
                   h->what, h->site_file, h->site_line);
        if (h->test)
            buf_printf(out, " in test \"%s\"", h->test);
        else
            buf_puts(out, " at file scope");
    }
    free(v);
    return (int)n;
}

void lfile_close_test_files(lua_State *L)
{
    struct lua_host *host = lhost(L);
    struct open_ref *v;
    size_t n = collect_open(L, NULL, &v);
    int64_t saved = host->env->deadline_ns;
    for (size_t i = 0; i < n; i++) {
        struct lhandle *h = v[i].h;
        if (!h->test)
            continue;
        h->open = 0;
        if (host->timed_out || !h->release)
            continue; /* after a timeout the file lab is killed: no guest traffic */
        host->env->deadline_ns = now_ns() + CLOSE_WAIT_NS;
        h->release(h, v[i].vm);
    }
    host->env->deadline_ns = saved;
    free(v);
}

/* ---- File ---- */

static struct lfile *check_file(lua_State *L) { return luaL_checkudata(L, 1, FILE_MT); }

/* The VM of an open File, ready for an operation; raises otherwise. */
static struct vm *file_vm(lua_State *L, const char *method)
{
    check_file(L);
    struct vm *vm = lfile_handle_vm(L, 1);
    if (!vm)
        lapi_raise(L, method, "file is closed");
    if (vm->state == VM_PAUSED)
        lapi_raise(L, method, "%s", lvm_state_error(VM_PAUSED));
    return vm;
}

/* A finalizer or a test end: queue the close if the VM cannot answer now. */
static void file_release(struct lhandle *h, struct vm *vm)
{
    struct lfile *f = (struct lfile *)h;
    int gerr = 0;
    if (vm->state == VM_BOOTED)
        vm_hclose(vm, f->handle, &gerr);
    else
        vm_hclose_nowait(vm, f->handle);
}

static int file_read_l(lua_State *L)
{
    struct vm *vm = file_vm(L, "file:read");
    lua_Integer n = luaL_checkinteger(L, 2);
    luaL_argcheck(L, n >= 0, 2, "must not be negative");
    if (n == 0) {
        lua_pushliteral(L, "");
        return 1;
    }
    char *data;
    size_t len;
    int gerr = 0;
    int rc = vm_hread(vm, check_file(L)->handle, (size_t)n, &data, &len, &gerr);
    if (rc != VMOP_OK)
        return lapi_raise_vmop(L, "file:read", vm, rc, gerr, check_file(L)->h.what);
    if (len == 0)
        lua_pushnil(L);
    else
        lua_pushlstring(L, data, len);
    free(data);
    return 1;
}

static int file_read_all_l(lua_State *L)
{
    struct vm *vm = file_vm(L, "file:read_all");
    struct lfile *f = check_file(L);
    char *data;
    size_t len;
    int gerr = 0;
    int rc = vm_hread(vm, f->handle, (size_t)READ_ALL_CAP + 1, &data, &len, &gerr);
    if (rc != VMOP_OK)
        return lapi_raise_vmop(L, "file:read_all", vm, rc, gerr, f->h.what);
    if (len > READ_ALL_CAP) {
        free(data);
        return lapi_raise_vmop(L, "file:read_all", vm, VMOP_GUEST, EFBIG, f->h.what);
    }
    lua_pushlstring(L, data, len);
    free(data);
    return 1;
}

static int file_write_l(lua_State *L)
{
    struct vm *vm = file_vm(L, "file:write");
    struct lfile *f = check_file(L);
    size_t len;
    const char *data = luaL_checklstring(L, 2, &len);
    size_t written = 0;
    int gerr = 0;
    int rc = vm_hwrite(vm, f->handle, data, len, &written, &gerr);
    if (rc != VMOP_OK)
        return lapi_raise_vmop(L, "file:write", vm, rc, gerr, f->h.what);
    lua_pushinteger(L, (lua_Integer)written);
    return 1;
}

static int do_seek(lua_State *L, const char *method, lua_Integer off, int whence)
{
    struct vm *vm = file_vm(L, method);
    struct lfile *f = check_file(L);
    uint64_t pos = 0;
    int gerr = 0;
    int rc = vm_hseek(vm, f->handle, (int64_t)off, whence, &pos, &gerr);
    if (rc != VMOP_OK)
        return lapi_raise_vmop(L, method, vm, rc, gerr, f->h.what);
    lua_pushinteger(L, (lua_Integer)pos);
    return 1;
}

static int file_seek_l(lua_State *L)
{
    static const char *const whences[] = {"set", "cur", "end", NULL};
    lua_Integer off = luaL_optinteger(L, 2, 0);
    int whence = luaL_checkoption(L, 3, "set", whences);
    return do_seek(L, "file:seek", off, whence);
}

static int file_tell_l(lua_State *L) { return do_seek(L, "file:tell", 0, WIRE_SEEK_CUR); }

/* Idempotent; a file whose VM went away is simply marked closed. */
static int file_close_l(lua_State *L)
{
    struct lfile *f = check_file(L);
    struct vm *vm = lfile_handle_vm(L, 1);
    f->h.open = 0;
    untrack(L, 1);
    if (!vm)
        return 0;
    if (vm->state == VM_PAUSED) {
        vm_hclose_nowait(vm, f->handle);
        return 0;
    }
    int gerr = 0;
    int rc = vm_hclose(vm, f->handle, &gerr);
    if (rc == VMOP_GUEST || rc == VMOP_TIMEOUT)
        return lapi_raise_vmop(L, "file:close", vm, rc, gerr, f->h.what);
    return 0;
}

static int file_fd_l(lua_State *L)
{
    struct lfile *f = check_file(L);
    lua_pushinteger(L, lfile_handle_vm(L, 1) ? (lua_Integer)f->handle : 0);
    return 1;
}

/* A Stream of the open File at file_idx from its current position (vm:fd_stream,
 * f:tail_stream); pushes it. */
static int file_stream(lua_State *L, int file_idx, const char *method)
{
    file_idx = lua_absindex(L, file_idx);
    struct lfile *f = luaL_checkudata(L, file_idx, FILE_MT);
    struct vm *vm = lfile_handle_vm(L, file_idx);
    if (!vm)
        return lapi_raise(L, method, "file is closed");
    uint64_t pos = 0;
    int gerr = 0;
    int rc = vm_hseek(vm, f->handle, 0, WIRE_SEEK_CUR, &pos, &gerr);
    if (rc != VMOP_OK)
        return lapi_raise_vmop(L, method, vm, rc, gerr, f->h.what);
    lua_getiuservalue(L, file_idx, 1);
    /* a copy on the stack: the File may go (lstream_from_file replaces argument 1) */
    const char *path = lua_pushstring(L, f->h.what);
    return lstream_from_file(L, -2, path, (int64_t)pos, method);
}

static int file_tail_stream_l(lua_State *L) { return file_stream(L, 1, "file:tail_stream"); }

/* vm:fd_stream(file) */
static int vm_fd_stream_l(lua_State *L)
{
    lvm_check(L, 1);
    return file_stream(L, 2, "vm:fd_stream");
}

static int file_tostring_l(lua_State *L)
{
    struct lfile *f = check_file(L);
    if (lfile_handle_vm(L, 1))
        lua_pushfstring(L, "file(%d)", (int)f->handle);
    else
        lua_pushliteral(L, "file(closed)");
    return 1;
}

static int file_gc_l(lua_State *L)
{
    struct lfile *f = check_file(L);
    struct vm *vm = lfile_handle_vm(L, 1);
    if (vm)
        vm_hclose_nowait(vm, f->handle);
    lfile_handle_free(&f->h);
    return 0;
}

/* ---- Vm methods ---- */

/* vm:open_file(path, {read=, write=, create=, truncate=, append=, exclusive=, perm=}) */
static int vm_open_file_l(lua_State *L)
{
    static const struct {
        const char *key;
        unsigned flag;
    } opts[] = {{"read", WIRE_OPEN_READ},         {"write", WIRE_OPEN_WRITE},
                {"create", WIRE_OPEN_CREATE},     {"truncate", WIRE_OPEN_TRUNCATE},
                {"append", WIRE_OPEN_APPEND},     {"exclusive", WIRE_OPEN_EXCLUSIVE}};
    struct vm *vm = lvm_check(L, 1);
    const char *path = luaL_checkstring(L, 2);
    if (!lua_isnoneornil(L, 3))
        luaL_checktype(L, 3, LUA_TTABLE);
    if (path[0] != '/')
        return lapi_raise(L, "vm:open_file", "guest path must be absolute: %s", path);
    unsigned flags = 0, perm = 0644;
    if (lua_istable(L, 3)) {
        for (size_t i = 0; i < sizeof opts / sizeof opts[0]; i++) {
            lua_getfield(L, 3, opts[i].key);
            if (lua_toboolean(L, -1))
                flags |= opts[i].flag;
            lua_pop(L, 1);
        }
        if (lua_getfield(L, 3, "perm") != LUA_TNIL) {
            if (!lua_isinteger(L, -1) || lua_tointeger(L, -1) < 0 || lua_tointeger(L, -1) > 07777)
                return lapi_raise(L, "vm:open_file", "option `perm` must be an integer "
                                                     "permission like tonumber('644', 8)");
            perm = (unsigned)lua_tointeger(L, -1);
        }
        lua_pop(L, 1);
    }
    if (!(flags & (WIRE_OPEN_READ | WIRE_OPEN_WRITE | WIRE_OPEN_APPEND)))
        return lapi_raise(L, "vm:open_file", "at least one of read, write or append must be set");
    if (vm->state != VM_BOOTED)
        return lapi_raise(L, "vm:open_file", "%s", lvm_state_error(vm->state));

    struct lfile *f = lua_newuserdatauv(L, sizeof *f, 1);
    memset(f, 0, sizeof *f);
    lua_pushvalue(L, 1);
    lua_setiuservalue(L, -2, 1);
    luaL_setmetatable(L, FILE_MT);
    int gerr = 0;
    int rc = vm_open_file(vm, path, flags, perm, &f->handle, &gerr);
    if (rc != VMOP_OK)
        return lapi_raise_vmop(L, "vm:open_file", vm, rc, gerr, path);
    f->h.release = file_release;
    lfile_track(L, -1, &f->h, LHANDLE_FILE, path);
    return 1;
}

static int vm_open_file_count_l(lua_State *L)
{
    lua_pushinteger(L, count_open(L, lvm_check(L, 1), LHANDLE_FILE));
    return 1;
}

static int vm_open_stream_count_l(lua_State *L)
{
    lua_pushinteger(L, count_open(L, lvm_check(L, 1), LHANDLE_STREAM));
    return 1;
}

static int vm_is_quiescent_l(lua_State *L)
{
    struct open_ref *v;
    size_t n = collect_open(L, lvm_check(L, 1), &v);
    free(v);
    lua_pushboolean(L, n == 0);
    return 1;
}

void lfile_open(lua_State *L)
{
    static const luaL_Reg methods[] = {
        {"read", file_read_l}, {"read_all", file_read_all_l}, {"write", file_write_l},
        {"seek", file_seek_l}, {"tell", file_tell_l}, {"close", file_close_l},
        {"fd", file_fd_l}, {"tail_stream", file_tail_stream_l}, {NULL, NULL}};
    static const luaL_Reg metamethods[] = {{"__tostring", file_tostring_l},
                                           {"__close", file_close_l},
                                           {"__gc", file_gc_l},
                                           {NULL, NULL}};
    static const luaL_Reg vm_methods[] = {{"open_file", vm_open_file_l},
                                          {"open_file_count", vm_open_file_count_l},
                                          {"open_stream_count", vm_open_stream_count_l},
                                          {"is_quiescent", vm_is_quiescent_l},
                                          {"fd_stream", vm_fd_stream_l},
                                          {NULL, NULL}};
    lapi_newclass(L, FILE_MT, methods, metamethods);
    lapi_add_methods(L, "provium.Vm", vm_methods);
}
