/* runner_pool.c - the parent's side of the pool protocol: workers ask for memory and
 * vCPUs before a VM boots (pool_acquire), reserve a file's whole budget (pool_claim) and
 * give it back (pool_release) over their event pipe; this file grants, queues or refuses
 * each request (too big, deadlocked) and answers on the job's reply pipe. The
 * bookkeeping itself is pool.c. The host's pressure, which holds new files back, is
 * read here too. */
#include "runner_pool.h"

#include "events.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct pool g_pool;
struct job *g_jobs;
size_t g_njobs;

json_t *pool_amount_json(struct pool_amount a)
{
    return json_pack("{s:I, s:i}", "memory_bytes", (json_int_t)a.memory, "cpus", a.cpus);
}

static void pool_answer(struct job *j, const char *error)
{
    char *line = error ? xasprintf("err %s\n", error) : xstrdup("ok\n");
    if (j->replyfd >= 0)
        write_all(j->replyfd, line, strlen(line));
    free(line);
}

/* Is any running file other than j not waiting on the pool (so it can still release)? */
static int others_progress(const struct job *j)
{
    for (size_t i = 0; i < g_njobs; i++)
        if (&g_jobs[i] != j && g_jobs[i].running && !g_jobs[i].waiting)
            return 1;
    return 0;
}

static char *deadlock_message(const struct job *j, struct pool_amount want)
{
    return xasprintf("the pool is deadlocked: this file holds %llu MiB and %d vCPU(s) and "
                     "needs %llu MiB and %d more, and no running file can release enough "
                     "(pool: %llu MiB, %d vCPUs); reserve the file's whole budget up front with "
                     "provium:claim{memory=, cpus=}, or raise --mem/--cpus",
                     (unsigned long long)(j->held.memory >> 20), j->held.cpus,
                     (unsigned long long)(want.memory >> 20), want.cpus,
                     (unsigned long long)(g_pool.total.memory >> 20), g_pool.total.cpus);
}

static void end_wait(struct job *j)
{
    j->waiting = 0;
    j->pool_wait_ns += now_ns() - j->wait_since;
}

/* The pool granted `a` to j: as a VM's share, or as its claim. */
static void granted(struct job *j, struct pool_amount a, int is_claim)
{
    j->held.memory += a.memory;
    j->held.cpus += a.cpus;
    if (is_claim) {
        j->claimed = 1;
        j->claim = a;
        run_event("claim_acquired",
                 json_pack("{s:s, s:o}", "path", j->res->path, "amount", pool_amount_json(a)));
    }
    pool_answer(j, NULL);
}

/* Serves queued requests in arrival order; then, if every running file is waiting,
 * nothing can ever be released: the newest waiter is refused. */
void jobs_serve_pool_waiters(void)
{
    for (;;) {
        struct job *oldest = NULL, *newest = NULL;
        for (size_t i = 0; i < g_njobs; i++) {
            struct job *j = &g_jobs[i];
            if (!j->running || !j->waiting)
                continue;
            if (!oldest || j->wait_since < oldest->wait_since)
                oldest = j;
            if (!newest || j->wait_since > newest->wait_since)
                newest = j;
        }
        if (!oldest)
            return;
        if (pool_fits(&g_pool, oldest->want)) {
            pool_take(&g_pool, oldest->want);
            end_wait(oldest);
            granted(oldest, oldest->want, oldest->want_claim);
            continue;
        }
        if (others_progress(newest))
            return;
        char *m = deadlock_message(newest, newest->want);
        end_wait(newest);
        pool_answer(newest, m);
        free(m);
    }
}

void job_pool_acquire(struct job *j, json_t *o, int is_claim)
{
    struct pool_amount want = {(uint64_t)json_integer_value(json_object_get(o, "memory_bytes")),
                               (int)json_integer_value(json_object_get(o, "cpus"))};
    if (is_claim && j->claimed) {
        pool_answer(j, "provium:claim was already called in this file");
        return;
    }
    if (!is_claim && j->claimed) {
        /* a claimed file draws only from its claim, at once or not at all */
        if (j->claim_used.memory + want.memory > j->claim.memory ||
            j->claim_used.cpus + want.cpus > j->claim.cpus) {
            char *m = xasprintf("%llu MiB and %d vCPU(s) exceed what is left of the claim "
                                "(%llu MiB, %d vCPUs)",
                                (unsigned long long)(want.memory >> 20), want.cpus,
                                (unsigned long long)((j->claim.memory - j->claim_used.memory) >> 20),
                                j->claim.cpus - j->claim_used.cpus);
            pool_answer(j, m);
            free(m);
            return;
        }
        j->claim_used.memory += want.memory;
        j->claim_used.cpus += want.cpus;
        pool_answer(j, NULL);
        return;
    }
    switch (pool_request(&g_pool, want, j->held, others_progress(j))) {
    case POOL_GRANT:
        granted(j, want, is_claim);
        break;
    case POOL_WAIT:
        j->waiting = 1;
        j->want = want;
        j->want_claim = is_claim;
        j->wait_since = now_ns();
        break;
    case POOL_TOO_BIG: {
        char *m = xasprintf("%llu MiB and %d vCPU(s) exceeds pool total (%llu MiB, %d vCPUs; "
                            "see --mem and --cpus)",
                            (unsigned long long)(want.memory >> 20), want.cpus,
                            (unsigned long long)(g_pool.total.memory >> 20), g_pool.total.cpus);
        pool_answer(j, m);
        free(m);
        break;
    }
    case POOL_DEADLOCK: {
        char *m = deadlock_message(j, want);
        pool_answer(j, m);
        free(m);
        break;
    }
    }
}

void job_pool_release(struct job *j, json_t *o)
{
    struct pool_amount a = {(uint64_t)json_integer_value(json_object_get(o, "memory_bytes")),
                            (int)json_integer_value(json_object_get(o, "cpus"))};
    if (j->claimed) { /* back into the claim, which the file keeps */
        j->claim_used.memory -= a.memory < j->claim_used.memory ? a.memory : j->claim_used.memory;
        j->claim_used.cpus -= a.cpus < j->claim_used.cpus ? a.cpus : j->claim_used.cpus;
        return;
    }
    if (a.memory > j->held.memory)
        a.memory = j->held.memory;
    if (a.cpus > j->held.cpus)
        a.cpus = j->held.cpus;
    pool_give(&g_pool, a);
    j->held.memory -= a.memory;
    j->held.cpus -= a.cpus;
    jobs_serve_pool_waiters();
}

double psi_some_avg10(const char *what)
{
    char *path = xasprintf("/proc/pressure/%s", what);
    FILE *f = fopen(path, "r");
    free(path);
    double v = 0;
    if (f) {
        if (fscanf(f, "some avg10=%lf", &v) != 1)
            v = 0;
        fclose(f);
    }
    return v;
}

/* The host's pressure (/proc/pressure, some avg10) above which a file waits while
 * another runs: 10 %, or $PROVIUM_PSI_LIMIT (100 never waits: a busy shared host). */
static double psi_limit(void)
{
    const char *e = getenv("PROVIUM_PSI_LIMIT");
    char *end;
    double v = e && *e ? strtod(e, &end) : 10;
    return e && *e && !*end && v >= 0 ? v : 10;
}

int psi_high(void)
{
    double limit = psi_limit();
    return limit < 100 && (psi_some_avg10("memory") > limit || psi_some_avg10("cpu") > limit);
}
