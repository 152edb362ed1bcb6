/* ltest.h - test registration (test, todo, wait_until) and the test context `t`
 * (ltest.c). */
#ifndef PROVIUM_LTEST_H
#define PROVIUM_LTEST_H

#include "lapi.h"

/* The error value t:skip() raises. */
extern const char *const LTEST_SKIP_SENTINEL;

/* The globals test, todo and wait_until, and the TestContext class. */
void ltest_open(lua_State *L);
/* Pushes a new context for the test entry ({name, meta, fn}) at entry_idx. */
void ltest_push_context(lua_State *L, int entry_idx);
/* The outcome recorded in the context at idx: 1 when failed; reason, log and skipped. */
int ltest_context_state(lua_State *L, int idx, const char **reason, const char **log,
                        int *skipped);

#endif
