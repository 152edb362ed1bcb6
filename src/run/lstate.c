/* lstate.c - the one place a Lua state for test code is set up and taken down. A
 * worker runs a test file in it, `provium fixture build` a fixture chunk, `provium
 * repl` its prompt: all three get the same host_env (preflight.c's host_env_init), the
 * same lua_host and the same globals (lapi_open), and end the same way: the file lab's
 * VMs shut down before lua_close frees the rest. */
#include "lstate.h"

#include "lua/llab.h"

#include <stdlib.h>

struct lstate *lstate_open(const struct config *cfg, const struct run_opts *ro,
                           const char *scratch, const char *file, const char *rel_path,
                           event_fn emit, void *emit_ud)
{
    struct lstate *s = xcalloc(1, sizeof *s);
    if (host_env_init(&s->env, cfg, ro, scratch) < 0) {
        free(s);
        return NULL;
    }
    s->own_scratch = scratch == NULL;
    s->host.env = &s->env;
    s->host.file = file;
    s->host.rel_path = rel_path;
    s->host.emit = emit;
    s->host.emit_ud = emit_ud;
    s->L = luaL_newstate();
    lapi_open(s->L, &s->host);
    return s;
}

void lstate_close(struct lstate *s, int kill)
{
    if (!s)
        return;
    /* every VM of the state lives in the file lab; lua_close frees the rest */
    lua_rawgeti(s->L, LUA_REGISTRYINDEX, s->host.file_lab_ref);
    llab_teardown(s->L, -1, kill);
    lua_close(s->L);
    if (s->own_scratch)
        rm_rf(s->env.scratch);
    free(s->env.scratch);
    free(s);
}
