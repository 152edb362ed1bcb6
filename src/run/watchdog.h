/* watchdog.h - the worker's guard thread (watchdog.c): ends the worker and everything
 * it started when the runner dies, and ends a test body's blocking C calls at its
 * deadline. */
#ifndef PROVIUM_WATCHDOG_H
#define PROVIUM_WATCHDOG_H

#include <lua.h>
#include <stdint.h>
#include <sys/types.h>

/* In a new worker: SIGTERM on the death of `parent` (checked at once), SIGTERM and
 * SIGHUP handled by removing `scratch` after killing the worker's process group. */
int watchdog_start(const char *scratch, pid_t parent);
/* A test body with this deadline (CLOCK_MONOTONIC) runs on L; at the deadline `hook`
 * is set on L with count 1 and the body's child processes are killed. */
void watchdog_arm(lua_State *L, lua_Hook hook, int64_t deadline_ns);
/* Moves the armed deadline later (time spent waiting on the pool). */
void watchdog_extend(int64_t by_ns);
/* The body ended: no more kills, no hook set after this returns. */
void watchdog_disarm(void);
/* Sends sig to every process of the caller's process group but itself (when it leads
 * its group, else to its direct children), skipping, when `spare` (the scratch
 * directory) is given, those whose command line holds it and qemu-system processes;
 * returns how many were signalled, -1 without /proc. */
int watchdog_kill_group(int sig, const char *spare);

#endif
