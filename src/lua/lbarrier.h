/* lbarrier.h - lab:barrier(name, count, timeout?), the run-wide rendezvous of test
 * files (lbarrier.c; the broker is run/runner_barrier.c). */
#ifndef PROVIUM_LBARRIER_H
#define PROVIUM_LBARRIER_H

#include "lapi.h"

/* Adds barrier to the Lab's method table. */
void lbarrier_open(lua_State *L);

#endif
