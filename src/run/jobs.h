/* jobs.h - the run's job loop (jobs.c): one worker process per test file, at most
 * --jobs at once, as the pool and the host's pressure allow. */
#ifndef PROVIUM_JOBS_H
#define PROVIUM_JOBS_H

#include "runner_int.h"

#include <signal.h>
#include <stdio.h>

/* The signal that interrupted the run (SIGINT, SIGTERM or SIGHUP), 0 when none. */
extern volatile sig_atomic_t g_interrupted;
/* Catches SIGINT, SIGTERM and SIGHUP into g_interrupted; ignores SIGPIPE. */
void run_catch_signals(void);
/* Runs files[0..n) into res[0..n), printing each file's report to `report` as it ends;
 * an interruption stops every worker and leaves the files not started skipped. */
void run_files(const struct run_opts *ro, const struct config *cfg, struct found *files,
               size_t n, struct file_result *res, FILE *report);

#endif
