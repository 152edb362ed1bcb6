/* lstream.c - the Stream userdata: vm:tail_file, vm:fd_stream, f:tail_stream,
 * console:read and a process's output (p:stdout_stream, through lstream_source).
 *
 * A Stream yields bytes as they appear: from a guest file through an agent handle of
 * its own (HREAD in a polling loop, so a growing file is followed), from a host file
 * (a capture), or from the VM's bounded console log (vm/conlog.h, by position, so a
 * rotation is followed), or from a source object (user value 2) read by position
 * through its pull function. next() returns the next chunk, read_until()/expect() up to
 * and including a plain byte pattern (matches split across chunks are found), drain()
 * what arrives before a deadline. Streams are handles (lfile.h): snapshots refuse
 * while one is open, the test that opened one closes it, and a restore or a dead VM
 * ends a guest-backed one. */
#include "lstream.h"

#include "lfile.h"
#include "lvm.h"


#include "net/switch.h"
#include "proto/wire.h"
#include "vm/conlog.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define STREAM_MT "provium.Stream"
#define POLL_MS 20
#define CHUNK (64u << 10)

struct lstream {
    struct lhandle h; /* first: the handle registry sees it as a struct lhandle */
    uint32_t handle;  /* guest source: the agent handle; 0 for a host source */
    int host_fd;      /* host source (a capture), -1 otherwise */
    int capture;      /* the switch capture it ends, -1 for none */
    int inert;        /* a capture into the user's file: only close() does anything */
    int console;      /* the VM's console log (vm/conlog.h), read from con_pos on */
    uint64_t con_pos;
    lstream_pull_fn src_pull; /* a source object's stream (user value 2), else NULL */
    int src_which;
    uint64_t src_pos;
    struct buf pending; /* read from the source, not yet returned */
};

static struct lstream *check_stream(lua_State *L)
{
    return luaL_checkudata(L, 1, STREAM_MT);
}

/* ---- sources ---- */

static void stream_release(struct lhandle *h, struct vm *vm)
{
    struct lstream *s = (struct lstream *)h;
    if (s->capture >= 0) {
        sw_capture_close(s->capture);
        s->capture = -1;
    }
    if (s->host_fd >= 0) {
        close(s->host_fd);
        s->host_fd = -1;
    }
    if (s->handle && vm) {
        int gerr = 0;
        if (vm->state == VM_BOOTED)
            vm_hclose(vm, s->handle, &gerr);
        else
            vm_hclose_nowait(vm, s->handle);
    }
    s->handle = 0;
}

/* Pulls what the source has now into pending; -1 when the source is gone. */
static int pull(lua_State *L, struct lstream *s)
{
    if (!s->h.open || s->inert)
        return -1;
    if (s->src_pull) {
        lua_getiuservalue(L, 1, 2);
        int r = s->src_pull(L, lua_gettop(L), s->src_which, &s->src_pos, &s->pending);
        lua_pop(L, 1);
        return r;
    }
    if (s->console) {
        lua_getiuservalue(L, 1, 1);
        struct vm *cvm = lvm_test(L, -1);
        lua_pop(L, 1);
        if (!cvm || !cvm->con)
            return -1;
        conlog_read(cvm->con, &s->con_pos, CHUNK, &s->pending);
        return 0;
    }
    if (s->host_fd >= 0) {
        char buf[CHUNK];
        ssize_t n = read(s->host_fd, buf, sizeof buf);
        if (n > 0)
            buf_append(&s->pending, buf, (size_t)n);
        return n < 0 && errno != EINTR && errno != EAGAIN ? -1 : 0;
    }
    struct vm *vm = lfile_handle_vm(L, 1);
    if (!vm || vm->state != VM_BOOTED)
        return -1;
    char *data = NULL;
    size_t len = 0;
    int gerr = 0;
    if (vm_hread(vm, s->handle, CHUNK, &data, &len, &gerr) != VMOP_OK) {
        free(data);
        return -1;
    }
    buf_append(&s->pending, data, len);
    free(data);
    return 0;
}

/* Waits until pending satisfies want (or the deadline / the source ends); returns 1
 * when satisfied. want_len: bytes wanted (0: any), or the pattern. */
static int wait_for(lua_State *L, struct lstream *s, const char *pat, size_t plen,
                    double timeout, size_t *upto)
{
    struct lua_host *host = lhost(L);
    int64_t deadline = now_ns() + (int64_t)(timeout * 1e9);
    size_t scanned = 0;
    for (;;) {
        if (pat) {
            size_t from = scanned > plen ? scanned - plen : 0;
            char *hit = s->pending.len >= plen
                            ? memmem(s->pending.data + from, s->pending.len - from, pat, plen)
                            : NULL;
            if (hit) {
                *upto = (size_t)(hit - s->pending.data) + plen;
                return 1;
            }
            scanned = s->pending.len;
        } else if (s->pending.len) {
            *upto = s->pending.len;
            return 1;
        }
        if (pull(L, s) < 0)
            return 0;
        if (pat ? s->pending.len > scanned : s->pending.len > 0)
            continue;
        if (host->env->deadline_ns && now_ns() >= host->env->deadline_ns) {
            host->timed_out = 1;
            luaL_error(L, "test timeout exceeded");
        }
        if (now_ns() >= deadline)
            return 0;
        sleep_ms(POLL_MS);
    }
}

/* Pushes pending[0..n) and removes it. */
static void take(lua_State *L, struct lstream *s, size_t n)
{
    lua_pushlstring(L, s->pending.data ? s->pending.data : "", n);
    if (!n)
        return;
    memmove(s->pending.data, s->pending.data + n, s->pending.len - n);
    s->pending.len -= n;
}

static double opt_timeout(lua_State *L, int idx, double dflt, const char *method)
{
    return lua_isnoneornil(L, idx) ? dflt : lapi_check_duration(L, idx, method);
}

static int stream_next_l(lua_State *L)
{
    struct lstream *s = check_stream(L);
    double timeout = opt_timeout(L, 2, 10, "stream:next");
    size_t n;
    if (!wait_for(L, s, NULL, 0, timeout, &n)) {
        lua_pushnil(L);
        return 1;
    }
    take(L, s, n);
    return 1;
}

/* read_until (nil when not seen) and expect (raises when not seen, returns nothing). */
static int read_pattern(lua_State *L, const char *method, int raise)
{
    struct lstream *s = check_stream(L);
    size_t plen;
    const char *pat = luaL_checklstring(L, 2, &plen);
    luaL_argcheck(L, plen > 0, 2, "empty pattern");
    double timeout = opt_timeout(L, 3, 10, method);
    size_t n;
    if (!wait_for(L, s, pat, plen, timeout, &n)) {
        if (raise)
            return lapi_raise(L, method, "'%s' not seen on %s within %gs", pat, s->h.what,
                              timeout);
        lua_pushnil(L);
        return 1;
    }
    take(L, s, n);
    if (!raise)
        return 1;
    lua_pop(L, 1);
    return 0;
}

static int stream_read_until_l(lua_State *L) { return read_pattern(L, "stream:read_until", 0); }
static int stream_expect_l(lua_State *L) { return read_pattern(L, "stream:expect", 1); }

static int stream_drain_l(lua_State *L)
{
    struct lstream *s = check_stream(L);
    double timeout = opt_timeout(L, 2, 0.5, "stream:drain");
    int64_t deadline = now_ns() + (int64_t)(timeout * 1e9);
    lua_newtable(L);
    for (lua_Integer i = 1;;) {
        if (s->pending.len) {
            take(L, s, s->pending.len);
            lua_rawseti(L, -2, i++);
        }
        if (now_ns() >= deadline || pull(L, s) < 0)
            break;
        if (!s->pending.len)
            sleep_ms(POLL_MS);
    }
    return 1;
}

static int stream_close_l(lua_State *L)
{
    struct lstream *s = check_stream(L);
    if (s->h.open) {
        struct vm *vm = s->handle ? lfile_handle_vm(L, 1) : NULL;
        stream_release(&s->h, vm);
        s->h.open = 0;
    }
    buf_free(&s->pending);
    return 0;
}

/* Whether the producer ended: a closed stream, or a guest source whose VM is gone (a
 * followed file never ends by itself). */
static int stream_eof_l(lua_State *L)
{
    struct lstream *s = check_stream(L);
    int ended = !s->h.open || (s->handle && !lfile_handle_vm(L, 1)) ||
                (s->src_pull && !s->pending.len && pull(L, s) < 0);
    lua_pushboolean(L, ended && !s->pending.len);
    return 1;
}

static int stream_creation_site_l(lua_State *L)
{
    struct lstream *s = check_stream(L);
    if (!s->h.site_file) {
        lua_pushnil(L);
        return 1;
    }
    lua_createtable(L, 0, 2);
    lua_pushstring(L, s->h.site_file);
    lua_setfield(L, -2, "file");
    lua_pushinteger(L, s->h.site_line);
    lua_setfield(L, -2, "line");
    return 1;
}

static int stream_tostring_l(lua_State *L)
{
    struct lstream *s = check_stream(L);
    lua_pushfstring(L, "stream(%s%s)", s->h.what ? s->h.what : "?", s->h.open ? "" : ", closed");
    return 1;
}

static int stream_gc_l(lua_State *L)
{
    struct lstream *s = luaL_checkudata(L, 1, STREAM_MT);
    if (s->h.open) {
        struct vm *vm = s->handle ? lfile_handle_vm(L, 1) : NULL;
        stream_release(&s->h, vm);
    }
    buf_free(&s->pending);
    lfile_handle_free(&s->h);
    return 0;
}

/* ---- constructors ---- */

/* A new Stream for the Vm at vm_idx; left on the stack. */
static struct lstream *new_stream(lua_State *L, int vm_idx)
{
    vm_idx = vm_idx ? lua_absindex(L, vm_idx) : 0;
    struct lstream *s = lua_newuserdatauv(L, sizeof *s, 2);
    memset(s, 0, sizeof *s);
    s->host_fd = -1;
    s->capture = -1;
    if (vm_idx)
        lua_pushvalue(L, vm_idx);
    else
        lua_pushnil(L);
    lua_setiuservalue(L, -2, 1);
    luaL_setmetatable(L, STREAM_MT);
    s->h.release = stream_release;
    return s;
}

/* Where a stream positioned by the `start` value at start_idx begins: "end" (default),
 * "beginning"/"start", a byte offset, or negative = before EOF; without start_idx at
 * byte `at`. Raises for anything else, before a guest handle is opened. */
static int check_start(lua_State *L, const char *method, int start_idx, int64_t at,
                       int64_t *off)
{
    *off = 0;
    if (start_idx && lua_type(L, start_idx) == LUA_TSTRING) {
        const char *st = lua_tostring(L, start_idx);
        if (!strcmp(st, "beginning") || !strcmp(st, "start"))
            return WIRE_SEEK_SET;
        if (strcmp(st, "end") != 0)
            lapi_raise(L, method, "start must be \"end\", \"beginning\", a byte offset or "
                                  "a negative count from the end");
        return WIRE_SEEK_END;
    }
    if (start_idx && lua_isinteger(L, start_idx)) {
        *off = lua_tointeger(L, start_idx);
        return *off < 0 ? WIRE_SEEK_END : WIRE_SEEK_SET;
    }
    if (!start_idx) {
        *off = at;
        return WIRE_SEEK_SET;
    }
    return WIRE_SEEK_END;
}

/* Opens path in the guest for a stream positioned by `start` (check_start). */
static int open_guest_stream(lua_State *L, const char *method, struct vm *vm, const char *path,
                             int start_idx, int64_t at)
{
    int64_t off;
    int whence = check_start(L, method, start_idx, at, &off);
    /* the Stream first, so nothing can raise between the open and the Stream holding it */
    struct lstream *s = new_stream(L, 1);
    uint32_t handle = 0;
    int gerr = 0;
    int rc = vm_open_file(vm, path, WIRE_OPEN_READ, 0, &handle, &gerr);
    if (rc != VMOP_OK)
        return lapi_raise_vmop(L, method, vm, rc, gerr, path);
    uint64_t pos;
    rc = vm_hseek(vm, handle, off, whence, &pos, &gerr);
    if (rc != VMOP_OK) {
        vm_hclose(vm, handle, &gerr);
        return lapi_raise_vmop(L, method, vm, rc, gerr, path);
    }
    s->handle = handle;
    lfile_track(L, -1, &s->h, LHANDLE_STREAM, path);
    return 1;
}

/* vm:tail_file(path, {start=}?) */
static int vm_tail_file_l(lua_State *L)
{
    struct vm *vm = lvm_need_booted(L, 1, "vm:tail_file");
    const char *path = luaL_checkstring(L, 2);
    if (path[0] != '/')
        return lapi_raise(L, "vm:tail_file", "guest path must be absolute: %s", path);
    int start = 0;
    if (lua_istable(L, 3)) {
        lua_getfield(L, 3, "start");
        start = lua_isnil(L, -1) ? 0 : lua_gettop(L);
    }
    if (!start) {
        lua_pushliteral(L, "end");
        start = lua_gettop(L);
    }
    return open_guest_stream(L, "vm:tail_file", vm, path, start, 0);
}

/* vm:fd_stream(file) / file:tail_stream(): a stream of that file from its current
 * position, on a handle of its own. */
int lstream_from_file(lua_State *L, int vm_idx, const char *path, int64_t pos,
                      const char *method)
{
    vm_idx = lua_absindex(L, vm_idx);
    lua_pushvalue(L, vm_idx);
    lua_replace(L, 1);
    struct vm *vm = lvm_need_booted(L, 1, method);
    return open_guest_stream(L, method, vm, path, 0, pos);
}

/* console:read(): the console log from now on, read on the host. */
int lstream_console(lua_State *L, int vm_idx)
{
    vm_idx = lua_absindex(L, vm_idx);
    struct vm *vm = lvm_check(L, vm_idx);
    if (!vm->con)
        return lapi_raise(L, "console:read", "%s", lvm_state_error(vm->state));
    struct lstream *s = new_stream(L, vm_idx);
    s->console = 1;
    s->con_pos = conlog_end(vm->con);
    char what[96];
    snprintf(what, sizeof what, "console of %s", vm->name);
    lfile_track(L, -1, &s->h, LHANDLE_STREAM, what);
    return 1;
}

int lstream_capture(lua_State *L, const char *method, int vm_idx, int cap_id,
                    const char *path, int follow, const char *what)
{
    int fd = follow ? open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK) : -1;
    if (follow && fd < 0) {
        sw_capture_close(cap_id);
        return lapi_raise(L, method, "%s: %s", path, strerror(errno));
    }
    struct lstream *s = new_stream(L, vm_idx);
    s->host_fd = fd;
    s->capture = cap_id;
    s->inert = !follow;
    if (vm_idx) {
        lfile_track(L, -1, &s->h, LHANDLE_STREAM, what);
    } else {
        s->h.kind = LHANDLE_STREAM;
        s->h.open = 1;
        s->h.what = xstrdup(what);
        lfile_handle_site(L, &s->h);
    }
    return 1;
}

/* A stream of the source object at src_idx (kept as user value 2), read through pull;
 * host-side, so not a guest handle: it ends when pull says so, or with close(). */
int lstream_source(lua_State *L, int vm_idx, int src_idx, lstream_pull_fn pull, int which,
                   const char *what)
{
    src_idx = lua_absindex(L, src_idx);
    struct lstream *s = new_stream(L, vm_idx);
    lua_pushvalue(L, src_idx);
    lua_setiuservalue(L, -2, 2);
    s->src_pull = pull;
    s->src_which = which;
    s->h.kind = LHANDLE_STREAM;
    s->h.open = 1;
    s->h.what = xstrdup(what);
    lfile_handle_site(L, &s->h);
    return 1;
}

void lstream_open(lua_State *L)
{
    static const luaL_Reg methods[] = {
        {"next", stream_next_l}, {"read_until", stream_read_until_l},
        {"expect", stream_expect_l}, {"drain", stream_drain_l}, {"close", stream_close_l},
        {"eof", stream_eof_l}, {"creation_site", stream_creation_site_l}, {NULL, NULL}};
    static const luaL_Reg metamethods[] = {{"__tostring", stream_tostring_l},
                                           {"__gc", stream_gc_l},
                                           {"__close", stream_close_l},
                                           {NULL, NULL}};
    static const luaL_Reg vm_methods[] = {{"tail_file", vm_tail_file_l}, {NULL, NULL}};
    lapi_newclass(L, STREAM_MT, methods, metamethods);
    lapi_add_methods(L, "provium.Vm", vm_methods);
}
