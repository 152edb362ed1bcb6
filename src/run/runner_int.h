/* runner_int.h - the types the parent of a run shares between its files: a file to
 * run (struct found, from discover.c) and the worker running it (struct job, started
 * and reaped by jobs.c, fed by events.c, served by runner_pool.c). What each file
 * offers is in its own header: discover.h, events.h, results.h, progress.h, jobs.h,
 * runner_pool.h. Not for use outside src/run/. */
#ifndef PROVIUM_RUNNER_INT_H
#define PROVIUM_RUNNER_INT_H

#include "run.h"
#include "pool.h"
#include "rerun.h"

#include <sys/types.h>

/* A test file this run will run. */
struct found {
    char *abs;
    char *walked_rel; /* relative to the walked directory, for --filter */
    const struct rerun_entry *rerun; /* --rerun-failed: what failed last time */
};

/* One running (or finished) worker: one test file. */
struct job {
    struct found *file;
    struct file_result *res;
    pid_t pid;
    int pidfd;
    int evfd;
    int replyfd;             /* answers to the worker's pool requests */
    struct pool_amount held; /* what this file holds in the pool */
    int waiting;             /* a pool request is queued ... */
    struct pool_amount want; /* ... for this much */
    int64_t wait_since;
    int64_t pool_wait_ns;    /* time spent in pool waits: not charged to the file timeout */
    int want_claim;          /* the queued request is a provium:claim */
    int claimed;             /* the file's VMs draw from its claim ... */
    struct pool_amount claim, claim_used; /* ... of this much, this much in use */
    char *scratch;
    int64_t start_ns;
    struct buf line;
    int timed_out;
    int interrupted;         /* killed because the run was interrupted */
    int running;
};

#endif
