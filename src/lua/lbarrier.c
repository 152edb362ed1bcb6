/* lbarrier.c - lab:barrier(name, count, timeout?) (spec §4.1): a rendezvous of `count`
 * arrivals at `name` across the whole run. Test files run in worker processes of
 * their own, so the worker's parent brokers it (run/runner_barrier.c), reached through
 * the host's barrier hook (run/worker.c). Here the arguments are checked and the wait
 * is bounded: by the timeout (default 60 s) and by the test's deadline, whichever
 * comes first; the broker answers at that moment, so the deadline cuts the wait.
 *
 * Returns true when the barrier is met; false plus the reason ("timeout: ...",
 * "count mismatch: ...") otherwise. A count mismatch fails every file waiting at the
 * name at once, and the new arrival too. A test deadline reached while waiting
 * raises `test timeout exceeded`. Outside a test run (no broker) only a count of 1 can
 * be met; any other count returns false at once. */
#include "lbarrier.h"

#include "util/util.h"
#include "vm/vm.h"

#include <limits.h>
#include <string.h>

#define BARRIER_DEFAULT_TIMEOUT 60.0

/* A barrier name: 1-255 bytes of UTF-8 (it travels in a JSON line). */
static int valid_name(const char *s, size_t n)
{
    if (n < 1 || n > 255 || strlen(s) != n)
        return 0;
    for (size_t i = 0; i < n;) {
        size_t k = utf8_seq_len((const unsigned char *)s + i, n - i);
        if (!k)
            return 0;
        i += k;
    }
    return 1;
}

static int lab_barrier_l(lua_State *L)
{
    luaL_checkudata(L, 1, "provium.Lab");
    size_t len;
    const char *name = luaL_checklstring(L, 2, &len);
    if (!valid_name(name, len))
        return lapi_raise(L, "lab:barrier", "the name must be 1-255 bytes of UTF-8");
    if (!lua_isinteger(L, 3) || lua_tointeger(L, 3) < 1 || lua_tointeger(L, 3) > INT_MAX)
        return lapi_raise(L, "lab:barrier", "count must be a positive integer");
    int count = (int)lua_tointeger(L, 3);
    double timeout = lua_isnoneornil(L, 4) ? BARRIER_DEFAULT_TIMEOUT
                                           : lapi_check_duration(L, 4, "lab:barrier");
    struct lua_host *h = lhost(L);
    if (!h->barrier) {
        lua_pushboolean(L, count == 1);
        if (count == 1)
            return 1;
        lua_pushliteral(L, "no other file can arrive outside a test run");
        return 2;
    }
    int64_t test_deadline = h->env->deadline_ns;
    int64_t deadline = now_ns() + (int64_t)(timeout * 1e9);
    if (test_deadline && test_deadline < deadline)
        deadline = test_deadline;
    char why[1024];
    int rc = h->barrier(h, name, count, deadline, why, sizeof why);
    if (rc < 0)
        return lapi_raise(L, "lab:barrier", "%s", why);
    if (rc == 0 && test_deadline && now_ns() >= test_deadline) {
        h->timed_out = 1;
        return lapi_raise(L, "lab:barrier", "test timeout exceeded");
    }
    lua_pushboolean(L, rc == 1);
    if (rc == 1)
        return 1;
    lua_pushstring(L, why);
    return 2;
}

void lbarrier_open(lua_State *L)
{
    static const luaL_Reg methods[] = {{"barrier", lab_barrier_l}, {NULL, NULL}};
    lapi_add_methods(L, "provium.Lab", methods);
}
