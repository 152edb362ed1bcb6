/* progress.h - the TTY progress line of a run (progress.c). */
#ifndef PROVIUM_PROGRESS_H
#define PROVIUM_PROGRESS_H

#include "run.h"

#include <stddef.h>

/* `[done/total] running R, queued Q — P passed, F failed, S skipped` on stderr,
 * rewritten in place and cleared before each report; nothing unless on. */
struct progress {
    int on;
    char last[256];
};

/* On for a terminal on stderr without --no-progress, -v, --json or --events -. */
void progress_init(struct progress *pg, const struct run_opts *ro);
void progress_clear(struct progress *pg);
/* Shows the line when it changed; the counts are summed over res[0..n). */
void progress_show(struct progress *pg, size_t done, size_t total, size_t running,
                   size_t queued, const struct file_result *res, size_t n);

#endif
