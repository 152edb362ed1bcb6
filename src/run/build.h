/* build.h - running the `build` command of dynamic profiles (see build.c). */
#ifndef PROVIUM_BUILD_H
#define PROVIUM_BUILD_H

#include "config/config.h"

#include <stdint.h>

/* phase 0 = started, 1 = done (with duration, ok and the wait status) */
typedef void (*build_event_fn)(void *ud, const struct profile *p, int phase, int64_t dur_ns,
                               int ok, int status);

/* Builds one profile (no-op without `build`). Prints the failure line; -1 on failure. */
int profile_build(const struct config *cfg, const struct profile *p, build_event_fn ev, void *ud);
/* Every profile with `build`, sorted by name, stopping at the first failure. */
int profiles_build_all(const struct config *cfg, build_event_fn ev, void *ud);

#endif
