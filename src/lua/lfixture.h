/* lfixture.h - lab:vm_fixture and lab:lab_fixture: cached fixtures (lfixture.c). */
#ifndef PROVIUM_LFIXTURE_H
#define PROVIUM_LFIXTURE_H

#include "lapi.h"

#include <stddef.h>

/* The Lab methods vm_fixture and lab_fixture. */
void lfixture_open(lua_State *L);
/* Builds fixture `name` unless the cache holds it (no restore); -1 with err. */
int lfixture_ensure(lua_State *L, const char *name, char *err, size_t errlen);

#endif
