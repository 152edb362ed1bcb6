/* lstate.h - one Lua state set up the way a test file's is (lstate.c): a host_env
 * (accelerator, TSC rate, agent, private scratch directory), a lua_host around it and
 * a lua_State with the whole test API (lapi_open). The worker, `fixture build` and
 * the REPL each make theirs with lstate_open. */
#ifndef PROVIUM_LSTATE_H
#define PROVIUM_LSTATE_H

#include "run.h"

#include "lua/lapi.h"
#include "vm/vm.h"

struct lstate {
    struct host_env env;
    struct lua_host host; /* host.env is &env: the struct does not move */
    lua_State *L;
    int own_scratch;      /* lstate_open made the scratch directory: lstate_close removes it */
};

/* Opens a state for `file` (absolute; `rel_path` as reported), its events going to
 * emit(emit_ud, ...) (emit may be NULL), from the preflight's decisions in ro (the agent
 * binary stays ro's). scratch is the private directory to use, or NULL for a new one.
 * NULL (printed) when no scratch directory can be made. */
struct lstate *lstate_open(const struct config *cfg, const struct run_opts *ro,
                           const char *scratch, const char *file, const char *rel_path,
                           event_fn emit, void *emit_ud);
/* Tears the file lab down (its VMs shut down; killed first when kill), closes the Lua
 * state, removes the scratch directory if lstate_open made it, and frees s. */
void lstate_close(struct lstate *s, int kill);

#endif
