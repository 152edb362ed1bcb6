/* lsnap.h - the snapshot userdata: Snapshot (vm:snapshot, vm:restore) and
 * LabSnapshot (lab:snapshot) (lsnap.c). */
#ifndef PROVIUM_LSNAP_H
#define PROVIUM_LSNAP_H

#include "lapi.h"

/* The classes provium.Snapshot and provium.LabSnapshot, the Vm methods snapshot and
 * restore. */
void lsnap_open(lua_State *L);
void lsnap_push(lua_State *L, const char *path);     /* a Snapshot of the file path */
void lsnap_push_lab(lua_State *L, const char *dir);  /* a LabSnapshot of dir */
const char *lsnap_path(lua_State *L, int idx);        /* Snapshot or string, else NULL */
const char *lsnap_path_strict(lua_State *L, int idx); /* Snapshot only */
const char *lsnap_lab_dir(lua_State *L, int idx); /* LabSnapshot or string, else NULL */
int lsnap_is_lab(lua_State *L, int idx);          /* a LabSnapshot? */

#endif
