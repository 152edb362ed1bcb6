/* test_lapi_leaks.c - Lua errors that unwind the bindings must leave nothing behind,
 * and a collected Vm is closed (issue 11, part 5).
 *
 * A Lua error is a longjmp past every C cleanup, so a binding that allocates (or opens
 * an fd) and then raises leaks. Each case here raises after the allocation the old
 * code made: json.encode failing deep inside a table (the containers built so far),
 * vm:run whose options change between the check and the copy (the copied argv), and
 * vm:push_file with a bad mode (the host file's fd). Run under ASan with
 * detect_leaks=1 (scripts/test.sh does) the first two fail with a leak report when the
 * fix is gone; the fd is counted here. No VM boots: the Vm's state is set to `booted`
 * by hand, and every case raises before a guest would be asked anything. A Vm whose
 * __gc ran must raise "VM is closed" (it dereferenced NULL) and print as vm(closed). */
#include "config/config.h"
#include "lua/lapi.h"
#include "lua/lvm.h"
#include "tests/unit/testlib.h"
#include "util/util.h"
#include "vm/vm.h"

#include <dirent.h>
#include <string.h>

static lua_State *L;

/* Runs chunk (named "leaks"); returns its first result as a string or NULL (pushed). */
static const char *run(const char *chunk)
{
    lua_settop(L, 0);
    if (luaL_loadbuffer(L, chunk, strlen(chunk), "=leaks") != LUA_OK ||
        lua_pcall(L, 0, 1, 0) != LUA_OK) {
        CHECK_MSG(0, "chunk failed: %s", lua_tostring(L, -1));
        return NULL;
    }
    return lua_tostring(L, -1);
}

static int open_fds(void)
{
    int n = 0;
    DIR *d = opendir("/proc/self/fd");
    while (d && readdir(d))
        n++;
    if (d)
        closedir(d);
    return n;
}

/* The Vm `v` in the global `vm` (made on first use), its state set to s by hand. */
static void vm_state(enum vm_state s)
{
    run("vm = vm or provium:vm('v', 'p'); return nil");
    lua_getglobal(L, "vm");
    lvm_check(L, -1)->state = s;
    lua_pop(L, 1);
}

static void json_encode_raise(void)
{
    /* the array, its numbers and the nested object exist when `print` is reached */
    const char *r = run("local last\n"
                        "for i = 1, 50 do\n"
                        "  local ok, err = pcall(json.encode, {1, 2, {a = 'x', b = {3}}, print})\n"
                        "  assert(not ok); last = err\n"
                        "end\n"
                        "return last");
    CHECK(tl_str_contains(r, "json.encode: cannot encode a function"));
    r = run("return json.encode({1, {a = {true, 'x'}}, {}})");
    CHECK_STR_EQ(r, "[1,{\"a\":[true,\"x\"]},{}]");
    r = run("return json.decode('[1,{\"a\":[true,\"x\"]}]')[2].a[2]");
    CHECK_STR_EQ(r, "x");
}

static void run_options_raise(void)
{
    vm_state(VM_BOOTED);
    /* `env` is absent while the options are checked and raises when they are copied,
     * after the argv strings were copied */
    const char *r = run("local seen = 0\n"
                        "local opts = setmetatable({env_clear = false}, {__index = function(_, k)\n"
                        "  if k == 'args' then return {'a', 'b', 'c'} end\n"
                        "  if k == 'env' then seen = seen + 1; if seen % 2 == 0 then error('second look') end end\n"
                        "end})\n"
                        "local last\n"
                        "for i = 1, 50 do\n"
                        "  local ok, err = pcall(vm.run, vm, 'prog', opts)\n"
                        "  assert(not ok); last = err\n"
                        "end\n"
                        "return last");
    CHECK(tl_str_contains(r, "second look"));
    /* a plain bad env value is refused before anything is copied */
    r = run("local ok, err = pcall(function() return vm:run('x', {env = {A = {}}}) end)\n"
            "return err");
    CHECK(tl_str_contains(r, "vm:run: env value of A must be a string"));
    vm_state(VM_CREATED);
}

static void push_file_bad_mode(void)
{
    vm_state(VM_BOOTED);
    int before = open_fds();
    const char *r = run("local last\n"
                        "for i = 1, 20 do\n"
                        "  local ok, err = pcall(function() return vm:push_file('/proc/self/status', '/x', "
                        "{mode = 'rw'}) end)\n"
                        "  last = err\n"
                        "end\n"
                        "return last");
    CHECK(tl_str_contains(r, "vm:push_file: option `mode` must be an integer permission"));
    CHECK_EQ_INT(open_fds(), before);
    vm_state(VM_CREATED);
}

static void collected_vm_is_closed(void)
{
    /* the keeper is marked for finalization first, so its __gc runs after the Vm's:
     * it sees the Vm closed */
    const char *r = run("local lab = provium:lab('gone')\n"
                        "local out\n"
                        "do\n"
                        "  local keeper = setmetatable({}, {__gc = function(k)\n"
                        "    local ok, err = pcall(function() return k.vm:name() end)\n"
                        "    out = tostring(ok) .. '|' .. tostring(err) .. '|' .. tostring(k.vm)\n"
                        "  end})\n"
                        "  keeper.vm = lab:vm('w', 'p')\n"
                        "  lab:remove(keeper.vm)\n"
                        "end\n"
                        "collectgarbage(); collectgarbage()\n"
                        "return out");
    CHECK_STR_EQ(r, "false|leaks:5: vm:name: VM is closed|vm(closed)");
}

int main(void)
{
    struct profile p = {.name = "p", .memory = 64u << 20, .cpus = 1, .nic_slots = 1};
    char *roots[] = {"/nonexistent"};
    struct config cfg = {.roots = roots, .n_roots = 1, .profiles = &p, .n_profiles = 1};
    struct host_env env = {.cfg = &cfg};
    struct lua_host h = {.env = &env, .file = "/nonexistent/x.test.lua", .rel_path = "x.test.lua"};
    L = luaL_newstate();
    lapi_open(L, &h);
    RUN(json_encode_raise);
    RUN(run_options_raise);
    RUN(push_file_bad_mode);
    RUN(collected_vm_is_closed);
    lua_close(L);
    return TEST_SUMMARY();
}
