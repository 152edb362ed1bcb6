/* progress.c - the TTY progress line on stderr while a run goes on: only on a
 * terminal and when nothing else writes there (-v) or the report is machine-read
 * (--json, --events -); redrawn only when its text changes and cleared before each
 * file's report, so the report lines stay clean. */
#include "progress.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

void progress_init(struct progress *pg, const struct run_opts *ro)
{
    pg->on = isatty(STDERR_FILENO) && !ro->no_progress && !ro->verbose && !ro->json &&
             !(ro->events && !strcmp(ro->events, "-"));
    pg->last[0] = 0;
}

void progress_clear(struct progress *pg)
{
    if (pg->on && pg->last[0]) {
        fputs("\r\033[K", stderr);
        fflush(stderr);
        pg->last[0] = 0;
    }
}

void progress_show(struct progress *pg, size_t done, size_t total, size_t running,
                   size_t queued, const struct file_result *res, size_t n)
{
    if (!pg->on)
        return;
    int p = 0, f = 0, sk = 0;
    for (size_t i = 0; i < n; i++) {
        p += res[i].passed;
        f += res[i].failed;
        sk += res[i].skipped;
    }
    char line[256];
    snprintf(line, sizeof line, "[%zu/%zu] running %zu, queued %zu \u2014 %d passed, %d failed, %d skipped",
             done, total, running, queued, p, f, sk);
    if (!strcmp(line, pg->last))
        return;
    snprintf(pg->last, sizeof pg->last, "%s", line);
    fprintf(stderr, "\r\033[K%s", line);
    fflush(stderr);
}
