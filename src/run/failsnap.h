/* failsnap.h - `--keep-failed`: a failed test's lab kept for `provium debug` (failsnap.c). */
#ifndef PROVIUM_FAILSNAP_H
#define PROVIUM_FAILSNAP_H

#include "run.h"

#include "lua/lapi.h"

#define FAILSNAP_FORMAT "provium-failure/1"

/* What the worker knows about the failure. */
struct failsnap_info {
    const char *file_abs, *file_rel, *test;
    const char *reason, *traceback; /* traceback may be NULL */
    int timed_out;
};

/* Saves the failed test's lab tree (the file lab at file_lab and the scoped lab at
 * scoped, paused together) with failure.json and the console logs into
 * <ro->keep_failed>/<file>/<test>/, replacing an older one atomically. Returns that
 * directory (malloc'd), or NULL with err set (no slot left: err is ""). */
char *failsnap_take(lua_State *L, const struct run_opts *ro, const struct config *cfg,
                    int file_lab, int scoped, const struct failsnap_info *fi, char *err,
                    size_t errlen);
/* A name made safe as one path component: [A-Za-z0-9._-] kept, the rest '_' (malloc'd). */
char *failsnap_component(const char *name);

#endif
