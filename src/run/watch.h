/* watch.h - `--watch`: run, then re-run the affected test files on every change. */
#ifndef PROVIUM_WATCH_H
#define PROVIUM_WATCH_H

#include "run.h"

/* Runs once as runner_main does (honouring --since), then watches the roots, the PATHS,
 * provium.toml and every helper, fixture and host file the tests depend on (inotify),
 * and after each burst of changes (200 ms quiet) runs the test files they affect
 * (since.c's selection); a provium.toml change re-reads it and runs everything. A run
 * ended by a signal ends the watch with its exit code; SIGINT, SIGTERM or SIGHUP
 * between runs ends it with the last run's. */
int watch_main(struct run_opts *ro);

#endif
