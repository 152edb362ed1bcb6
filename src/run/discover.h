/* discover.h - which test files a run runs, and the rerun state after it (discover.c). */
#ifndef PROVIUM_DISCOVER_H
#define PROVIUM_DISCOVER_H

#include "runner_int.h"

#include <stdio.h>

/* Path shown in reports: relative to cwd when below it (malloc'd). */
char *run_display_path(const char *abs);
/* The files this run will run: last run's failures (--rerun-failed), else discovery.
 * Returns -1 to go on, else the exit code of a run that ends here (message printed). */
int run_collect_files(const struct run_opts *ro, const struct config *cfg,
                      const char *state, struct rerun_set *last, struct found **files,
                      size_t *n, FILE *report);
/* Frees files[0..n) and the array (NULL is fine). */
void run_found_free(struct found *files, size_t n);
/* Rewrites the --rerun-failed state with this run's failures; -1 with errno. */
int run_rerun_record(const char *state, const struct found *files,
                     const struct file_result *res, size_t n);
/* --save-durations FILE: this run's seconds per file (root-relative path) merged into
 * FILE, written atomically; a failure is a warning. Nothing without the flag. */
void run_save_durations(const struct run_opts *ro, const struct config *cfg,
                        const struct found *files, const struct file_result *res, size_t n);

#endif
