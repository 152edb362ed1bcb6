/* lconsole.h - the Console userdata, vm:console() (lconsole.c). */
#ifndef PROVIUM_LCONSOLE_H
#define PROVIUM_LCONSOLE_H

#include "lapi.h"

/* The class provium.Console and the Vm method console. */
void lconsole_open(lua_State *L);

#endif
