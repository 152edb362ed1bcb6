/* lproc.h - the Process userdata and vm:run_async (lproc.c). */
#ifndef PROVIUM_LPROC_H
#define PROVIUM_LPROC_H

#include "lapi.h"

/* The class provium.Process and the Vm method run_async. */
void lproc_open(lua_State *L);
/* Ends what the test `test` started and left running (TERM, then KILL after 2 s). */
void lproc_end_test(lua_State *L, const char *test);

#endif
