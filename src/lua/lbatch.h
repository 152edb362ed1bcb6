/* lbatch.h - vm:batch (lbatch.c). */
#ifndef PROVIUM_LBATCH_H
#define PROVIUM_LBATCH_H

#include "lapi.h"

/* The Vm method batch. */
void lbatch_open(lua_State *L);

#endif
