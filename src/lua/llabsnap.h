/* llabsnap.h - lab snapshots: lab:snapshot, lab:restore and the baseline of
 * provium.reset_between_tests (llabsnap.c; the LabSnapshot userdata is lsnap.c's). */
#ifndef PROVIUM_LLABSNAP_H
#define PROVIUM_LLABSNAP_H

#include "lapi.h"

#include <stddef.h>

/* The Lab methods snapshot and restore. */
void llabsnap_open(lua_State *L);
/* Takes a lab snapshot of the tree at lab_idx into dir (NULL: scratch); returns the
 * directory (malloc'd) or NULL with err. */
char *llabsnap_take(lua_State *L, int lab_idx, const char *dir, char *err, size_t errlen);
/* The failure snapshot of --keep-failed: the file lab and the test's scoped lab saved
 * as one lab into dir, open files, streams and captures ignored (not refused). */
char *llabsnap_take_failure(lua_State *L, int file_lab, int scoped, const char *dir, char *err,
                            size_t errlen);
/* Restores the lab snapshot in dir into the lab at lab_idx (new VMs). */
int llabsnap_restore(lua_State *L, int lab_idx, const char *dir, char *err, size_t errlen);
/* llabsnap_restore for a lab fixture: each VM restores by mapping (snapshot_hot.h). */
int llabsnap_restore_fixture(lua_State *L, int lab_idx, const char *dir, char *err,
                             size_t errlen);
/* Puts the lab tree at lab_idx back to the snapshot in dir, reusing its Vm objects
 * (provium.reset_between_tests). */
int llabsnap_reset(lua_State *L, int lab_idx, const char *dir, char *err, size_t errlen);

#endif
