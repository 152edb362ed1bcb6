/* runner_int.h - what the parent of a run shares between its files: runner.c
 * (scheduling workers, their events, the report), discover.c (which files run),
 * preflight.c and runner_pool.c (serving the workers' pool requests). Not for use
 * outside src/run/. */
#ifndef PROVIUM_RUNNER_INT_H
#define PROVIUM_RUNNER_INT_H

#include "run.h"
#include "pool.h"
#include "rerun.h"

#include <jansson.h>
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

/* ---- runner.c ---- */
/* Writes one --events line {"ts", "kind": kind, ...payload}; takes payload. */
void run_event(const char *kind, json_t *payload);

/* ---- discover.c ---- */
/* Path shown in reports: relative to cwd when below it (malloc'd). */
char *run_display_path(const char *abs);
/* The files this run will run: last run's failures (--rerun-failed), else discovery.
 * Returns -1 to go on, else the exit code of a run that ends here (message printed). */
int run_collect_files(const struct run_opts *ro, const struct config *cfg,
                      const char *state, struct rerun_set *last, struct found **files,
                      size_t *n, FILE *report);
/* Rewrites the --rerun-failed state with this run's failures; -1 with errno. */
int run_rerun_record(const char *state, const struct found *files,
                     const struct file_result *res, size_t n);

/* ---- runner_pool.c ---- */
extern struct pool g_pool;  /* the run's memory and vCPU pool */
extern struct job *g_jobs;  /* the jobs of run_files, while it runs */
extern size_t g_njobs;
json_t *pool_amount_json(struct pool_amount a);
/* A worker's pool_acquire (is_claim 0) or pool_claim request: answered now or queued. */
void job_pool_acquire(struct job *j, json_t *o, int is_claim);
/* A worker's pool_release: back into its claim, or into the pool (serving waiters). */
void job_pool_release(struct job *j, json_t *o);
/* Serves queued requests in arrival order; refuses the newest when all are waiting. */
void jobs_serve_pool_waiters(void);
/* "some avg10" of /proc/pressure/<what>, or 0 when unavailable. */
double psi_some_avg10(const char *what);
/* Is the host's memory or CPU pressure above the limit (10 %, $PROVIUM_PSI_LIMIT)? */
int psi_high(void);

#endif
