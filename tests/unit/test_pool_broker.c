/* test_pool_broker.c - the parent's side of the pool protocol (src/run/runner_pool.c)
 * without VMs or workers: grant, queue, claim, refuse, deadlock, too big.
 *
 * A worker asks by writing one JSON event line (worker.c: pool_ask and pool_release,
 * {"memory_bytes", "cpus", "kind", "path"}) and, for pool_acquire and pool_claim, reads
 * one answer line on its reply pipe: "ok" or "err <why>". Here each fake file is a
 * struct job as runner.c dispatches it (50 MiB charged, a reply pipe); a request is
 * that same event line, parsed and handed to the broker the way runner.c's
 * handle_event does. The broker answers synchronously, so "no answer yet" (queued) is
 * an empty pipe, checked without waiting. */
#include "run/runner_pool.h"
#include "tests/unit/testlib.h"

#include <fcntl.h>
#include <unistd.h>

#define MiB (1ull << 20)

struct file {
    struct job job;
    struct file_result res;
    int answers; /* the worker's end of the reply pipe */
};

static struct file g_files[3];

/* A run of n files with a pool of mem_mib MiB and cpus vCPUs, each file dispatched as
 * runner.c does: charged POOL_FILE_MEMORY, running, a reply pipe. */
static void start_run(size_t n, uint64_t mem_mib, int cpus)
{
    g_pool = (struct pool){{mem_mib * MiB, cpus}, {0, 0}};
    memset(g_files, 0, sizeof g_files);
    g_jobs = xcalloc(n, sizeof *g_jobs);
    g_njobs = n;
    for (size_t i = 0; i < n; i++) {
        struct job *j = &g_jobs[i];
        int q[2];
        CHECK(pipe2(q, O_CLOEXEC | O_NONBLOCK) == 0);
        g_files[i].answers = q[0];
        g_files[i].res.path = xasprintf("file%zu.test.lua", i);
        j->res = &g_files[i].res;
        j->replyfd = q[1];
        j->pidfd = j->evfd = -1;
        j->held = (struct pool_amount){POOL_FILE_MEMORY, 0};
        pool_take(&g_pool, j->held);
        j->running = 1;
    }
}

/* File i's worker exits: what runner.c does when a job ends (its hold goes back, its
 * claim ends, the queue is served). */
static void finish(size_t i)
{
    struct job *j = &g_jobs[i];
    close(j->replyfd);
    j->replyfd = -1;
    pool_give(&g_pool, j->held);
    j->held = (struct pool_amount){0, 0};
    j->waiting = 0;
    j->claimed = 0;
    j->running = 0;
    jobs_serve_pool_waiters();
}

static void end_run(void)
{
    for (size_t i = 0; i < g_njobs; i++) {
        if (g_jobs[i].replyfd >= 0)
            close(g_jobs[i].replyfd);
        close(g_files[i].answers);
        free(g_files[i].res.path);
    }
    free(g_jobs);
    g_jobs = NULL;
    g_njobs = 0;
}

/* File i's worker sends a pool event: the line it writes, parsed and dispatched. */
static void ask(size_t i, const char *kind, uint64_t mib, int cpus)
{
    json_t *o = json_pack("{s:I, s:i}", "memory_bytes", (json_int_t)(mib * MiB), "cpus", cpus);
    json_object_set_new(o, "kind", json_string(kind));
    json_object_set_new(o, "path", json_string(g_files[i].res.path));
    char *line = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    json_t *ev = json_loads(line, 0, NULL);
    free(line);
    const char *k = json_string_value(json_object_get(ev, "kind"));
    if (!strcmp(k, "pool_acquire") || !strcmp(k, "pool_claim"))
        job_pool_acquire(&g_jobs[i], ev, !strcmp(k, "pool_claim"));
    else if (!strcmp(k, "pool_release"))
        job_pool_release(&g_jobs[i], ev);
    json_decref(ev);
}

/* The answer line waiting for file i's worker, without the newline ("" when none yet). */
static const char *answer(size_t i)
{
    static char line[2048];
    size_t n = 0;
    while (n < sizeof line - 1 && read(g_files[i].answers, line + n, 1) == 1 && line[n] != '\n')
        n++;
    line[n] = 0;
    return line;
}

/* File i holds n_mib MiB on top of its 50 MiB, and n_cpus vCPUs. */
#define HELD(i, n_mib, n_cpus) do { \
        CHECK_EQ_U64(g_jobs[i].held.memory, (n_mib) * MiB + POOL_FILE_MEMORY); \
        CHECK_EQ_INT(g_jobs[i].held.cpus, n_cpus); \
    } while (0)
/* The whole pool has n_mib MiB and n_cpus vCPUs taken. */
#define USED(n_mib, n_cpus) do { \
        CHECK_EQ_U64(g_pool.used.memory, (n_mib) * MiB); \
        CHECK_EQ_INT(g_pool.used.cpus, n_cpus); \
    } while (0)

static void grant_and_release(void)
{
    start_run(2, 1024, 2);
    USED(100, 0); /* two files running */
    ask(0, "pool_acquire", 356, 1);
    CHECK_STR_EQ(answer(0), "ok");
    HELD(0, 356, 1);
    USED(456, 1);
    ask(0, "pool_release", 356, 1);
    CHECK_STR_EQ(answer(0), ""); /* a release has no answer */
    HELD(0, 0, 0);
    USED(100, 0);
    ask(0, "pool_release", 999, 5); /* never more than the file holds */
    CHECK_EQ_U64(g_jobs[0].held.memory, 0);
    CHECK_EQ_INT(g_jobs[0].held.cpus, 0);
    USED(50, 0);
    end_run();
}

static void too_big(void)
{
    start_run(1, 1024, 2);
    ask(0, "pool_acquire", 2048, 1);
    CHECK_STR_EQ(answer(0), "err 2048 MiB and 1 vCPU(s) exceeds pool total (1024 MiB, 2 vCPUs; "
                            "see --mem and --cpus)");
    ask(0, "pool_claim", 100, 3);
    CHECK_STR_CONTAINS(answer(0), "err 100 MiB and 3 vCPU(s) exceeds pool total");
    HELD(0, 0, 0);
    USED(50, 0);
    CHECK(!g_jobs[0].waiting && !g_jobs[0].claimed);
    end_run();
}

/* A request that does not fit waits while another file can still release, and is
 * served when one does; queued requests are served oldest first. */
static void queue_in_order(void)
{
    start_run(3, 1024, 2);
    ask(0, "pool_acquire", 712, 2);
    CHECK_STR_EQ(answer(0), "ok");
    ask(1, "pool_acquire", 356, 1);
    ask(2, "pool_acquire", 356, 1);
    CHECK_STR_EQ(answer(1), ""); /* queued */
    CHECK_STR_EQ(answer(2), "");
    CHECK(g_jobs[1].waiting && g_jobs[2].waiting);
    ask(0, "pool_release", 356, 1); /* room for one: the older request */
    CHECK_STR_EQ(answer(1), "ok");
    CHECK_STR_EQ(answer(2), "");
    CHECK(!g_jobs[1].waiting && g_jobs[2].waiting);
    HELD(1, 356, 1);
    finish(0); /* file 0 ends: the rest of its hold goes back */
    CHECK_STR_EQ(answer(2), "ok");
    HELD(2, 356, 1);
    USED(100 + 712, 2);
    CHECK(g_jobs[2].pool_wait_ns >= 0 && !g_jobs[2].waiting);
    end_run();
}

/* A file that holds so much that its request could never fit, whatever the others
 * release, is refused at once. */
static void deadlock_own_hold(void)
{
    start_run(2, 1024, 2);
    ask(0, "pool_acquire", 712, 2);
    CHECK_STR_EQ(answer(0), "ok");
    ask(0, "pool_acquire", 356, 1);
    const char *a = answer(0);
    CHECK_STR_CONTAINS(a, "err the pool is deadlocked: this file holds 762 MiB and 2 vCPU(s) "
                          "and needs 356 MiB and 1 more");
    CHECK_STR_CONTAINS(a, "(pool: 1024 MiB, 2 vCPUs)");
    CHECK_STR_CONTAINS(a, "provium:claim{memory=, cpus=}");
    CHECK(!g_jobs[0].waiting);
    USED(100 + 712, 2); /* refused requests take nothing */
    end_run();
}

/* When every other running file is itself waiting, nobody can release: refused. And
 * when the last file that could release ends, the newest waiter is refused and the
 * older one waits on for it. */
static void deadlock_all_waiting(void)
{
    start_run(3, 1024, 2);
    ask(0, "pool_acquire", 356, 1);
    ask(2, "pool_acquire", 356, 1);
    CHECK_STR_EQ(answer(0), "ok");
    CHECK_STR_EQ(answer(2), "ok");
    ask(0, "pool_acquire", 100, 1); /* files 1 and 2 can still release: wait */
    CHECK_STR_EQ(answer(0), "");
    ask(2, "pool_acquire", 100, 1); /* file 1 can still release: wait */
    CHECK_STR_EQ(answer(2), "");
    finish(1); /* 50 MiB back, no vCPU: neither fits, and only waiters are left */
    CHECK_STR_EQ(answer(0), "");
    CHECK_STR_CONTAINS(answer(2), "err the pool is deadlocked: this file holds 406 MiB and "
                                  "1 vCPU(s) and needs 100 MiB and 1 more");
    CHECK(g_jobs[0].waiting && !g_jobs[2].waiting);
    /* file 2 may still release (its test failed, its VM shuts down), so 0 waits on */
    ask(2, "pool_release", 356, 1);
    CHECK_STR_EQ(answer(0), "ok");
    HELD(0, 456, 2);
    /* file 2 wants a vCPU file 0 holds: it waits, file 0 can still release */
    ask(2, "pool_acquire", 0, 1);
    CHECK_STR_EQ(answer(2), "");
    ask(0, "pool_acquire", 100, 0); /* what fits is granted, whoever waits */
    CHECK_STR_EQ(answer(0), "ok");
    /* more than is free while the only other file waits: nobody can release, so it is
     * refused at once (though the pool could hold it beside file 0's own share) */
    ask(0, "pool_acquire", 400, 0);
    CHECK_STR_CONTAINS(answer(0), "err the pool is deadlocked: this file holds 606 MiB");
    CHECK_STR_EQ(answer(2), "");
    finish(0);
    CHECK_STR_EQ(answer(2), "ok");
    end_run();
}

/* provium:claim reserves a file's whole budget; its VMs then draw from the claim at
 * once or not at all, and releases go back into it. */
static void claim(void)
{
    start_run(2, 1024, 2);
    ask(0, "pool_claim", 712, 2);
    CHECK_STR_EQ(answer(0), "ok");
    CHECK(g_jobs[0].claimed);
    HELD(0, 712, 2);
    USED(100 + 712, 2);
    ask(0, "pool_acquire", 356, 1);
    CHECK_STR_EQ(answer(0), "ok");
    ask(0, "pool_acquire", 356, 1);
    CHECK_STR_EQ(answer(0), "ok");
    USED(100 + 712, 2); /* drawn from the claim, not the pool */
    ask(0, "pool_acquire", 100, 1);
    CHECK_STR_EQ(answer(0), "err 100 MiB and 1 vCPU(s) exceed what is left of the claim "
                            "(0 MiB, 0 vCPUs)");
    ask(0, "pool_release", 356, 1); /* back into the claim, which the file keeps */
    USED(100 + 712, 2);
    HELD(0, 712, 2);
    ask(0, "pool_acquire", 356, 1);
    CHECK_STR_EQ(answer(0), "ok");
    ask(0, "pool_claim", 10, 0);
    CHECK_STR_EQ(answer(0), "err provium:claim was already called in this file");
    /* another file's claim waits for the pool like any request */
    ask(1, "pool_claim", 356, 1);
    CHECK_STR_EQ(answer(1), "");
    finish(0);
    CHECK_STR_EQ(answer(1), "ok");
    CHECK(g_jobs[1].claimed);
    CHECK_EQ_U64(g_jobs[1].claim.memory, 356 * MiB);
    CHECK_EQ_INT(g_jobs[1].claim.cpus, 1);
    ask(1, "pool_acquire", 356, 1);
    CHECK_STR_EQ(answer(1), "ok");
    USED(50 + 356, 1);
    end_run();
}

int main(void)
{
    RUN(grant_and_release);
    RUN(too_big);
    RUN(queue_in_order);
    RUN(deadlock_own_hold);
    RUN(deadlock_all_waiting);
    RUN(claim);
    return TEST_SUMMARY();
}
