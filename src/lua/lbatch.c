/* lbatch.c - vm:batch(function(b) ... end): several guest calls in one round trip.
 *
 * The function records calls on `b` (run, read_file, write_file, stat, listdir, mkdir,
 * unlink, rename, syscall). Each is then checked as its Vm method would check it and
 * packed into one BATCH frame (vm/vm_batch.h); the agent runs them in order and
 * answers all of them in one RESULT, and each answer becomes {ok = value} (the Vm
 * method's value, true for those that return nothing) or {err = "message"} (the
 * method's error), so one failure does not stop the rest. Calls that do not fit one
 * frame (1 MiB, WIRE_BATCH_MAX calls) go in the next frame, in order; a call too big
 * for a frame of its own (a large write_file) runs through its Vm method. An answer
 * too big for the frame (a run's output, a file) is {err = "vm:run: output too large
 * for a batch ..."}: the call ran. syscall answers {err = "vm:syscall: not supported"}
 * until raw syscalls exist. */
#include "lbatch.h"

#include "lrunargs.h"
#include "lvm.h"
#include "vm/vm_batch.h"

#include <errno.h>
#include <string.h>

#define FRAME_MT "provium.BatchFrame"

static const char *const BATCH_OPS[] = {"run",    "read_file", "write_file", "stat",
                                        "listdir", "mkdir",    "unlink",     "rename",
                                        "syscall", NULL};

/* One frame being filled: the batch and, for each of its requests, the call's index. */
struct frame {
    struct vm_batch b;
    lua_Integer call[WIRE_BATCH_MAX];
};

static int frame_gc_l(lua_State *L)
{
    struct frame *f = luaL_checkudata(L, 1, FRAME_MT);
    vm_batch_free(&f->b);
    return 0;
}

static struct frame *push_frame(lua_State *L)
{
    struct frame *f = lua_newuserdatauv(L, sizeof *f, 0);
    vm_batch_init(&f->b);
    if (luaL_newmetatable(L, FRAME_MT)) {
        lua_pushcfunction(L, frame_gc_l);
        lua_setfield(L, -2, "__gc");
    }
    lua_setmetatable(L, -2);
    return f;
}

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

/* ---- packing one call: the Vm method's checks, then its request ---- */

static const char *check_path(lua_State *L, int idx, const char *method)
{
    const char *p = luaL_checkstring(L, idx);
    if (p[0] != '/')
        lapi_raise(L, method, "guest path must be absolute: %s", p);
    return p;
}

/* write_file's {mode = } as vm:write_file reads it; 1 when given. */
static int opt_mode(lua_State *L, int idx, unsigned *mode)
{
    if (!lua_istable(L, idx) || lua_getfield(L, idx, "mode") == LUA_TNIL)
        return 0;
    if (!lua_isinteger(L, -1) || lua_tointeger(L, -1) < 0 || lua_tointeger(L, -1) > 07777)
        lapi_raise(L, "vm:write_file", "option `mode` must be an integer permission like 0x1ed "
                                        "or tonumber('755', 8)");
    *mode = (unsigned)lua_tointeger(L, -1);
    return 1;
}

/* mkdir(path, parents_or_opts): a boolean means {parents = it}. */
static int put_mkdir(lua_State *L, struct vm_batch *b)
{
    const char *path = check_path(L, 2, "vm:mkdir");
    int parents = lua_isboolean(L, 3) && lua_toboolean(L, 3);
    unsigned perm = 0755;
    if (lua_istable(L, 3)) {
        lua_getfield(L, 3, "parents");
        parents = lua_toboolean(L, -1);
        if (lua_getfield(L, 3, "perm") != LUA_TNIL) {
            if (!lua_isinteger(L, -1))
                lapi_raise(L, "vm:mkdir", "option `perm` must be an integer");
            perm = (unsigned)lua_tointeger(L, -1);
        }
    }
    return vm_batch_put_mkdir(b, path, perm, parents);
}

static int put_write_file(lua_State *L, struct vm_batch *b)
{
    const char *path = check_path(L, 2, "vm:write_file");
    size_t len;
    const char *data = luaL_checklstring(L, 3, &len);
    unsigned mode = 0644;
    int explicit_mode = opt_mode(L, 4, &mode);
    return vm_batch_put_write_file(b, path, data, len, mode, !explicit_mode);
}

/* pcall'd with (vm, a1, a2, a3, op, frame): true when the call went into the frame,
 * false when the frame has no room for it; raises what the Vm method would. */
static int pack_l(lua_State *L)
{
    const char *op = lua_tostring(L, 5);
    struct frame *f = luaL_checkudata(L, 6, FRAME_MT);
    struct vm_batch *b = &f->b;
    lua_pushfstring(L, "vm:%s", op);
    const char *method = lua_tostring(L, -1);
    lvm_need_booted(L, 1, method);
    int rc;
    if (!strcmp(op, "run")) {
        struct exec_req req = {0};
        lrunargs_parse(L, method, 0, &req); /* strings held by a userdata on the stack */
        rc = vm_batch_put_exec(b, &req);
    } else if (!strcmp(op, "read_file"))
        rc = vm_batch_put_read_file(b, check_path(L, 2, method));
    else if (!strcmp(op, "write_file"))
        rc = put_write_file(L, b);
    else if (!strcmp(op, "stat"))
        rc = vm_batch_put_stat(b, check_path(L, 2, method));
    else if (!strcmp(op, "listdir"))
        rc = vm_batch_put_listdir(b, check_path(L, 2, method));
    else if (!strcmp(op, "mkdir"))
        rc = put_mkdir(L, b);
    else if (!strcmp(op, "unlink"))
        rc = vm_batch_put_unlink(b, check_path(L, 2, method));
    else {
        const char *from = check_path(L, 2, method);
        rc = vm_batch_put_rename(b, from, check_path(L, 3, method));
    }
    lua_pushboolean(L, rc == 0);
    return 1;
}

/* ---- answers ---- */

/* Sets {ok = value at the top} or {err = string at the top} as out[i]; pops it. */
static void set_answer(lua_State *L, int out, lua_Integer i, int ok)
{
    lua_createtable(L, 0, 1);
    lua_insert(L, -2);
    lua_setfield(L, -2, ok ? "ok" : "err");
    lua_rawseti(L, out, i);
}

/* pcall'd with (vm, method, rc, gerr, path|nil): raises lapi_raise_vmop's error. */
static int vmop_error_l(lua_State *L)
{
    struct vm *vm = lvm_check(L, 1);
    return lapi_raise_vmop(L, lua_tostring(L, 2), vm, (int)lua_tointeger(L, 3),
                           (int)lua_tointeger(L, 4), lua_tostring(L, 5));
}

/* Pushes the message the Vm method would raise for rc/gerr on call (its path). */
static void push_vmop_error(lua_State *L, int call, const char *op, int rc, int gerr)
{
    lua_pushcfunction(L, vmop_error_l);
    lua_pushvalue(L, 1);
    lua_pushfstring(L, "vm:%s", op);
    lua_pushinteger(L, rc);
    lua_pushinteger(L, gerr);
    if (strcmp(op, "run"))
        lua_rawgeti(L, call, 3);
    else
        lua_pushnil(L);
    lua_pcall(L, 5, 1, 0);
}

/* Pushes the ok value of answer r for op; VMOP_PROTO when it does not decode. */
static int push_value(lua_State *L, const char *op, struct wire_reader *r)
{
    int rc = VMOP_OK;
    if (!strcmp(op, "run")) {
        struct exec_res res;
        if ((rc = vm_batch_get_exec(r, &res)) == VMOP_OK) {
            lvm_push_result(L, &res);
            exec_res_free(&res);
        }
    } else if (!strcmp(op, "read_file")) {
        char *data;
        size_t len;
        if ((rc = vm_batch_get_data(r, &data, &len)) == VMOP_OK) {
            lua_pushlstring(L, data, len);
            free(data);
        }
    } else if (!strcmp(op, "stat")) {
        struct vm_stat st;
        if ((rc = vm_batch_get_stat(r, &st)) == VMOP_OK)
            lvm_push_stat(L, &st);
    } else if (!strcmp(op, "listdir")) {
        struct vm_dirent *e;
        size_t n;
        if ((rc = vm_batch_get_listdir(r, &e, &n)) == VMOP_OK)
            lvm_push_dirents(L, e, n);
    } else
        lua_pushboolean(L, 1); /* ok = true for calls that return nothing */
    return rc;
}

/* Answer j of the frame (sent with result rc) into out. */
static void answer(lua_State *L, int calls, int out, struct frame *f, uint32_t j, int rc,
                   int gerr)
{
    lua_Integer i = f->call[j];
    lua_rawgeti(L, calls, i);
    int call = lua_gettop(L);
    lua_rawgeti(L, call, 1);
    const char *op = lua_tostring(L, -1);
    struct wire_reader r;
    char msg[256];
    if (rc == VMOP_OK)
        rc = vm_batch_answer(&f->b, j, &r, &gerr, msg, sizeof msg);
    if (rc == VMOP_OK && push_value(L, op, &r) == VMOP_OK) {
        set_answer(L, out, i, 1);
    } else {
        if (rc == VMOP_GUEST && gerr == EMSGSIZE)
            lua_pushfstring(L, "vm:%s: %s", op, msg);
        else if (rc == VMOP_OK)
            lua_pushfstring(L, "vm:%s: malformed answer from the agent", op);
        else
            push_vmop_error(L, call, op, rc, gerr);
        set_answer(L, out, i, 0);
    }
    lua_settop(L, call - 1);
}

/* Sends the frame (if it holds anything), answers its calls, empties it. */
static void flush(lua_State *L, int calls, int out, struct frame *f)
{
    if (f->b.count == 0)
        return;
    int gerr = 0;
    int rc = vm_batch_send(lvm_check(L, 1), &f->b, &gerr);
    for (uint32_t j = 0; j < f->b.count; j++)
        answer(L, calls, out, f, j, rc, gerr);
    vm_batch_reset(&f->b);
}

/* ---- one call on its own, through the Vm method ---- */

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

/* For a call too big for any frame: the Vm method's value or error as out[i]. */
static void call_alone(lua_State *L, int call, const char *op, int n, int out, lua_Integer i)
{
    if (!strcmp(op, "mkdir"))
        fix_mkdir_args(L, call);
    lua_getfield(L, 1, op);
    lua_pushvalue(L, 1);
    for (int k = 1; k <= n; k++)
        lua_rawgeti(L, call, k + 2);
    int ok = lua_pcall(L, n + 1, 1, 0) == LUA_OK;
    if (ok && lua_isnil(L, -1)) {
        lua_pop(L, 1);
        lua_pushboolean(L, 1);
    } else if (!ok && !lua_isstring(L, -1)) {
        lua_pop(L, 1);
        lua_pushliteral(L, "error");
    }
    set_answer(L, out, i, ok);
}

/* ---- vm:batch ---- */

/* Packs call i into f: 1 packed, 0 no room, -1 its error is now out[i]. */
static int pack(lua_State *L, int call, const char *op, int out, lua_Integer i, int fidx)
{
    lua_pushcfunction(L, pack_l);
    lua_pushvalue(L, 1);
    for (int k = 1; k <= 3; k++)
        lua_rawgeti(L, call, k + 2);
    lua_pushstring(L, op);
    lua_pushvalue(L, fidx);
    if (lua_pcall(L, 6, 1, 0) != LUA_OK) {
        if (!lua_isstring(L, -1)) {
            lua_pop(L, 1);
            lua_pushliteral(L, "error");
        }
        set_answer(L, out, i, 0);
        return -1;
    }
    int packed = lua_toboolean(L, -1);
    lua_pop(L, 1);
    return packed;
}

/* Records the calls of the function at 2 into a new table, pushed. */
static void record(lua_State *L)
{
    lua_newtable(L);
    int calls = lua_gettop(L);
    lua_newtable(L); /* b */
    for (const char *const *op = BATCH_OPS; *op; op++) {
        lua_pushvalue(L, calls);
        lua_pushstring(L, *op);
        lua_pushcclosure(L, batch_record_l, 2);
        lua_setfield(L, -2, *op);
    }
    lua_pushvalue(L, 2);
    lua_insert(L, -2);
    lua_call(L, 1, 0);
}

static int vm_batch_l(lua_State *L)
{
    lvm_check(L, 1);
    luaL_checktype(L, 2, LUA_TFUNCTION);
    record(L);
    int calls = lua_gettop(L);
    lua_newtable(L);
    int out = lua_gettop(L);
    struct frame *f = push_frame(L);
    int fidx = lua_gettop(L);
    for (lua_Integer i = 1; i <= (lua_Integer)lua_rawlen(L, calls); i++) {
        lua_rawgeti(L, calls, i);
        int call = lua_gettop(L);
        lua_rawgeti(L, call, 1);
        const char *op = lua_tostring(L, -1);
        if (!strcmp(op, "syscall")) {
            lua_pushliteral(L, "vm:syscall: not supported");
            set_answer(L, out, i, 0);
        } else {
            int packed = pack(L, call, op, out, i, fidx);
            if (packed == 0 && f->b.count > 0) { /* the frame is full: send it first */
                flush(L, calls, out, f);
                packed = pack(L, call, op, out, i, fidx);
            }
            if (packed == 1)
                f->call[f->b.count - 1] = i;
            else if (packed == 0) {
                lua_rawgeti(L, call, 2);
                call_alone(L, call, op, (int)lua_tointeger(L, -1), out, i);
            }
        }
        lua_settop(L, fidx);
    }
    flush(L, calls, out, f);
    lua_settop(L, out);
    return 1;
}

void lbatch_open(lua_State *L)
{
    static const luaL_Reg vm_methods[] = {{"batch", vm_batch_l}, {NULL, NULL}};
    lapi_add_methods(L, "provium.Vm", vm_methods);
}
