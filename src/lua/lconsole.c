/* lconsole.c - the Console userdata: vm:console(), the guest's serial console.
 *
 * The serial console goes into the VM's bounded log (vm/conlog.h: the last
 * console_log_max bytes, kept across restores). read_log() returns all that is kept;
 * expect(pattern, timeout?) looks for a plain byte string in the whole log first, then
 * only in new output (default 30 s), so matches split across writes or across a
 * rotation are found; read() is a Stream of the output from now on. The log holds the
 * serial port (ttyS0) and the virtio console (hvc0) both. write(data, {timeout=}?)
 * types into the serial console: QEMU hands the bytes to the guest's UART as the guest
 * reads them, so it waits (default 10 s) only when a guest reads nothing for long. */
#include "lconsole.h"

#include "lstream.h"
#include "lvm.h"

#include "util/util.h"

#include "vm/conlog.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define CONSOLE_MT "provium.Console"

static struct vm *console_vm(lua_State *L) { return lvm_companion_vm(L, 1, CONSOLE_MT); }

/* Appends the log from *pos on (everything still kept when *pos is 0) to out. */
static void read_log(struct vm *vm, uint64_t *pos, struct buf *out)
{
    if (!vm->con)
        return;
    while (conlog_read(vm->con, pos, 1u << 20, out) > 0) {
    }
}

static int console_read_log_l(lua_State *L)
{
    struct buf b = {0};
    uint64_t pos = 0;
    read_log(console_vm(L), &pos, &b);
    lua_pushlstring(L, b.data ? b.data : "", b.len);
    buf_free(&b);
    return 1;
}

/* Looks in the whole log once, then only in what is new, keeping the last plen - 1
 * bytes seen so a match split across reads (or across a rotation) is found. */
static int console_expect_l(lua_State *L)
{
    struct vm *vm = console_vm(L);
    size_t plen;
    const char *pat = luaL_checklstring(L, 2, &plen);
    double timeout = lua_isnoneornil(L, 3) ? 30 : lapi_check_duration(L, 3, "console:expect");
    struct lua_host *h = lhost(L);
    int64_t deadline = now_ns() + (int64_t)(timeout * 1e9);
    struct buf win = {0};
    uint64_t pos = 0;
    for (;;) {
        if (vm->con && pos < conlog_start(vm->con))
            win.len = 0; /* rotated away meanwhile: what we kept is no longer adjacent */
        read_log(vm, &pos, &win);
        int found = plen == 0 || (win.len >= plen && memmem(win.data, win.len, pat, plen));
        if (win.len >= plen && plen > 0) { /* keep only what a later match could start in */
            memmove(win.data, win.data + win.len - (plen - 1), plen - 1);
            win.len = plen - 1;
        }
        if (found) {
            buf_free(&win);
            lua_pushvalue(L, 2);
            return 1;
        }
        if (h->env->deadline_ns && now_ns() >= h->env->deadline_ns) {
            buf_free(&win);
            h->timed_out = 1;
            return lapi_raise(L, "console:expect", "test timeout exceeded");
        }
        if (now_ns() >= deadline) {
            buf_free(&win);
            return lapi_raise(L, "console:expect", "'%s' not seen on the console of VM '%s' "
                              "within %gs", pat, vm->name, timeout);
        }
        sleep_ms(20);
    }
}

/* console:write(data, {timeout=}?) */
static int console_write_l(lua_State *L)
{
    struct vm *vm = console_vm(L);
    size_t len;
    const char *data = luaL_checklstring(L, 2, &len);
    double timeout = 10;
    if (!lua_isnoneornil(L, 3)) {
        luaL_checktype(L, 3, LUA_TTABLE);
        static const char *const known[] = {"timeout", NULL};
        lapi_check_opts(L, 3, "console:write", known, NULL);
        if (lua_getfield(L, 3, "timeout") != LUA_TNIL)
            timeout = lapi_check_duration(L, -1, "console:write");
        lua_pop(L, 1);
    }
    if (vm->state != VM_BOOTED)
        return lapi_raise(L, "console:write", "%s", lvm_state_error(vm->state));
    struct lua_host *h = lhost(L);
    int64_t deadline = now_ns() + (int64_t)(timeout * 1e9);
    int by_test = h->env->deadline_ns && h->env->deadline_ns < deadline;
    if (by_test)
        deadline = h->env->deadline_ns;
    size_t written;
    if (vm_console_write(vm, data, len, deadline, &written) == 0)
        return 0;
    if (errno != ETIMEDOUT)
        return lapi_raise(L, "console:write", "the console of VM '%s' is closed", vm->name);
    if (by_test) {
        h->timed_out = 1;
        return lapi_raise(L, "console:write", "test timeout exceeded");
    }
    return lapi_raise(L, "console:write", "the guest took %zu of %zu bytes within %gs",
                      written, len, timeout);
}

/* console:read() -> Stream of the live output */
static int console_read_l(lua_State *L)
{
    console_vm(L);
    lua_getiuservalue(L, 1, 1);
    return lstream_console(L, -1);
}

static int console_close_l(lua_State *L)
{
    luaL_checkudata(L, 1, CONSOLE_MT);
    return 0;
}

static int console_tostring_l(lua_State *L)
{
    lua_pushfstring(L, "console(%s)", console_vm(L)->name);
    return 1;
}

/* vm:console() */
static int vm_console_l(lua_State *L)
{
    lvm_push_companion(L, 1, CONSOLE_MT);
    return 1;
}

void lconsole_open(lua_State *L)
{
    static const luaL_Reg methods[] = {{"read_log", console_read_log_l},
                                       {"read", console_read_l},
                                       {"expect", console_expect_l},
                                       {"write", console_write_l},
                                       {"close", console_close_l},
                                       {NULL, NULL}};
    static const luaL_Reg metamethods[] = {{"__tostring", console_tostring_l}, {NULL, NULL}};
    static const luaL_Reg vm_methods[] = {{"console", vm_console_l}, {NULL, NULL}};
    lapi_newclass(L, CONSOLE_MT, methods, metamethods);
    lapi_add_methods(L, "provium.Vm", vm_methods);
}
