/* lclock.h - the Clock userdata, vm:clock() (lclock.c). */
#ifndef PROVIUM_LCLOCK_H
#define PROVIUM_LCLOCK_H

#include "lapi.h"

/* The class provium.Clock and the Vm method clock. */
void lclock_open(lua_State *L);

#endif
