/* ljson.h - the `json` global (ljson.c). */
#ifndef PROVIUM_LJSON_H
#define PROVIUM_LJSON_H

#include "lapi.h"

/* Sets the global `json` = {encode, decode}. */
void ljson_open(lua_State *L);

#endif
