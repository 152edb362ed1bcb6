/* lbatch.c - vm:batch(function(b) ... end): several guest calls, answered in order.
 *
 * The function records calls on `b` (run, read_file, write_file, stat, listdir, mkdir,
 * unlink, rename, syscall); then each runs on the VM in call order and its answer is
 * {ok = value} or {err = "message"}, so one failure does not stop the rest. The calls
 * run one after the other on the agent connection (not yet pipelined into one round
 * trip); syscall answers {err = "vm:syscall: not supported"} until raw syscalls exist. */
#include "lbatch.h"

#include "lvm.h"

#include <string.h>

static const char *const BATCH_OPS[] = {"run",    "read_file", "write_file", "stat",
                                        "listdir", "mkdir",    "unlink",     "rename",
                                        "syscall", NULL};

/* b:<op>(...): appends {op, n, args...} to the recording (upvalue 1). */
static int batch_record_l(lua_State *L)
{
    int n = lua_gettop(L) - 1; /* without b itself */
    lua_createtable(L, n + 2, 0);
    lua_pushvalue(L, lua_upvalueindex(2));
    lua_rawseti(L, -2, 1);
    lua_pushinteger(L, n);
    lua_rawseti(L, -2, 2);
    for (int i = 1; i <= n; i++) {
        lua_pushvalue(L, i + 1);
        lua_rawseti(L, -2, i + 2);
    }
    lua_rawseti(L, lua_upvalueindex(1), (lua_Integer)lua_rawlen(L, lua_upvalueindex(1)) + 1);
    return 0;
}

/* mkdir(path, parents_or_opts): a boolean means {parents = it}. */
static void fix_mkdir_args(lua_State *L, int call)
{
    lua_rawgeti(L, call, 4);
    if (lua_isboolean(L, -1)) {
        lua_createtable(L, 0, 1);
        lua_pushvalue(L, -2);
        lua_setfield(L, -2, "parents");
        lua_rawseti(L, call, 4);
    }
    lua_pop(L, 1);
}

static int vm_batch_l(lua_State *L)
{
    lvm_check(L, 1);
    luaL_checktype(L, 2, LUA_TFUNCTION);
    lua_newtable(L);
    int calls = lua_gettop(L);
    lua_newtable(L); /* b */
    int b = lua_gettop(L);
    for (const char *const *op = BATCH_OPS; *op; op++) {
        lua_pushvalue(L, calls);
        lua_pushstring(L, *op);
        lua_pushcclosure(L, batch_record_l, 2);
        lua_setfield(L, b, *op);
    }
    lua_pushvalue(L, 2);
    lua_pushvalue(L, b);
    lua_call(L, 1, 0);

    lua_newtable(L);
    int out = lua_gettop(L);
    for (lua_Integer i = 1; i <= (lua_Integer)lua_rawlen(L, calls); i++) {
        lua_rawgeti(L, calls, i);
        int call = lua_gettop(L);
        lua_rawgeti(L, call, 1);
        const char *op = lua_tostring(L, -1);
        lua_rawgeti(L, call, 2);
        int n = (int)lua_tointeger(L, -1);
        lua_pop(L, 1);
        lua_createtable(L, 0, 1);
        int answer = lua_gettop(L);
        if (!strcmp(op, "syscall")) {
            lua_pushliteral(L, "vm:syscall: not supported");
            lua_setfield(L, answer, "err");
        } else {
            if (!strcmp(op, "mkdir"))
                fix_mkdir_args(L, call);
            lua_getfield(L, 1, op); /* the Vm method */
            lua_pushvalue(L, 1);
            for (int k = 1; k <= n; k++)
                lua_rawgeti(L, call, k + 2);
            if (lua_pcall(L, n + 1, 1, 0) == LUA_OK) {
                if (lua_isnil(L, -1)) {
                    lua_pop(L, 1);
                    lua_pushboolean(L, 1); /* ok = true for calls that return nothing */
                }
                lua_setfield(L, answer, "ok");
            } else {
                if (!lua_isstring(L, -1)) {
                    lua_pop(L, 1);
                    lua_pushliteral(L, "error");
                }
                lua_setfield(L, answer, "err");
            }
        }
        lua_rawseti(L, out, i);
        lua_settop(L, out);
    }
    return 1;
}

void lbatch_open(lua_State *L)
{
    static const luaL_Reg vm_methods[] = {{"batch", vm_batch_l}, {NULL, NULL}};
    lapi_add_methods(L, "provium.Vm", vm_methods);
}
