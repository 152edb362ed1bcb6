/* runner_barrier.h - the parent's barrier broker: lab:barrier's run-wide rendezvous
 * across worker processes (runner_barrier.c). */
#ifndef PROVIUM_RUNNER_BARRIER_H
#define PROVIUM_RUNNER_BARRIER_H

#include "runner_int.h"

#include <jansson.h>
#include <stdint.h>

/* A worker's barrier_wait request {"name", "count", "deadline_ns"}: j waits at the
 * barrier, and is answered ("ok", or "err <why>") on its reply pipe when `count`
 * arrivals release it, at its deadline, or on a count mismatch. */
void job_barrier_wait(struct job *j, json_t *o);
/* Answers "err timeout ..." to every waiter whose deadline is at or before now. */
void barriers_expire(int64_t now);
/* j's worker is gone: it no longer counts as an arrival anywhere (no answer). */
void barriers_forget(struct job *j);
/* The earliest waiter's deadline (CLOCK_MONOTONIC ns), 0 when nobody waits. */
int64_t barriers_next_deadline(void);

#endif
