/* events.h - the run's event stream (--events, JSON lines) and the workers' event
 * lines read by the parent (events.c). */
#ifndef PROVIUM_EVENTS_H
#define PROVIUM_EVENTS_H

#include "runner_int.h"

#include <jansson.h>
#include <stdint.h>

struct profile;

/* Opens --events (`-` is stdout; nothing without it); -1 with the message printed. */
int events_open(const struct run_opts *ro);
void events_close(void);
/* Writes one --events line {"ts", "kind": kind, ...payload}; takes payload. */
void run_event(const char *kind, json_t *payload);
/* The callbacks of cache eviction and profile builds: fixture_evicted, build_started,
 * build_done events. */
void run_on_evicted(void *ud, const char *key, uint64_t bytes);
void run_build_event(void *ud, const struct profile *p, int phase, int64_t dur, int ok,
                     int status);
/* Reads what the worker of j has written and handles each complete line: pool requests
 * go to runner_pool.c, results to results.c, the rest is forwarded to --events. */
void job_drain_events(struct job *j, const struct run_opts *ro);

#endif
