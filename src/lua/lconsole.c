/* lconsole.c - the Console userdata: vm:console(), the guest's serial console.
 *
 * QEMU writes the serial console to <vm dir>/console.log (appending, so the log is
 * kept across restores). read_log() returns all of it; expect(pattern, timeout?)
 * looks for a plain byte string in the whole log first, then waits for new output
 * (default 30 s), so matches split across writes are found; read() is a Stream of the
 * output from now on. Typing (write) is not supported yet. */
#include "lapi.h"
#include "lfile.h"
#include "lvm.h"

#include <stdlib.h>
#include <string.h>

#define CONSOLE_MT "provium.Console"

static struct vm *console_vm(lua_State *L) { return lvm_companion_vm(L, 1, CONSOLE_MT); }

static char *read_log(struct vm *vm, size_t *len)
{
    char *s = vm->console_path ? read_file(vm->console_path, len) : NULL;
    if (!s) {
        *len = 0;
        s = xstrdup("");
    }
    return s;
}

static int console_read_log(lua_State *L)
{
    size_t len;
    char *s = read_log(console_vm(L), &len);
    lua_pushlstring(L, s, len);
    free(s);
    return 1;
}

static int console_expect(lua_State *L)
{
    struct vm *vm = console_vm(L);
    size_t plen;
    const char *pat = luaL_checklstring(L, 2, &plen);
    double timeout = lua_isnoneornil(L, 3) ? 30 : lapi_check_duration(L, 3, "console:expect");
    struct lua_host *h = lhost(L);
    int64_t deadline = now_ns() + (int64_t)(timeout * 1e9);
    for (;;) {
        size_t len;
        char *s = read_log(vm, &len);
        int found = plen == 0 || memmem(s, len, pat, plen) != NULL;
        free(s);
        if (found) {
            lua_pushvalue(L, 2);
            return 1;
        }
        if (h->env->deadline_ns && now_ns() >= h->env->deadline_ns) {
            h->timed_out = 1;
            return lapi_raise(L, "console:expect", "test timeout exceeded");
        }
        if (now_ns() >= deadline)
            return lapi_raise(L, "console:expect", "'%s' not seen on the console of VM '%s' "
                              "within %gs", pat, vm->name, timeout);
        sleep_ms(20);
    }
}

/* console:read() -> Stream of the live output */
static int console_read(lua_State *L)
{
    console_vm(L);
    lua_getiuservalue(L, 1, 1);
    return lstream_console(L, -1);
}

static int console_close(lua_State *L)
{
    luaL_checkudata(L, 1, CONSOLE_MT);
    return 0;
}

static int console_tostring(lua_State *L)
{
    lua_pushfstring(L, "console(%s)", console_vm(L)->name);
    return 1;
}

/* vm:console() */
int lvm_console(lua_State *L)
{
    lvm_push_companion(L, 1, CONSOLE_MT);
    return 1;
}

void lapi_open_console(lua_State *L)
{
    static const luaL_Reg methods[] = {{"read_log", console_read_log},
                                       {"read", console_read},
                                       {"expect", console_expect},
                                       {"close", console_close},
                                       {NULL, NULL}};
    luaL_newmetatable(L, CONSOLE_MT);
    luaL_newlib(L, methods);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, console_tostring);
    lua_setfield(L, -2, "__tostring");
    lua_pop(L, 1);
}
