/* runner_pool.h - the parent's answers to the workers' pool requests, and the host's
 * pressure that holds new files back (runner_pool.c). */
#ifndef PROVIUM_RUNNER_POOL_H
#define PROVIUM_RUNNER_POOL_H

#include "runner_int.h"

#include <jansson.h>

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
