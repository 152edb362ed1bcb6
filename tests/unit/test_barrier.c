/* test_barrier.c - the parent's barrier broker (src/run/runner_barrier.c) without
 * workers: release on the count-th arrival, generations, timeouts, count mismatches,
 * a worker that dies while waiting, independent names.
 *
 * A worker arrives by writing one JSON event line (worker.c: barrier_wait,
 * {"kind":"barrier_wait", "path", "name", "count", "deadline_ns"}) and reads one answer
 * line on its reply pipe: "ok" or "err <why>". Here each fake file is a struct job
 * with a reply pipe, as jobs.c dispatches it; an arrival is that event line, parsed
 * and handed to the broker the way events.c's handle_event does. The broker answers
 * synchronously, so "no answer yet" (waiting) is an empty pipe, read without waiting.
 * Time is passed in: barriers_expire(now) is what the job loop calls. */
#include "run/runner_barrier.h"
#include "tests/unit/testlib.h"

#include <fcntl.h>
#include <unistd.h>

#define SEC 1000000000LL
#define NFILES 4

struct file {
    struct job job;
    struct file_result res;
    int answers; /* the worker's end of the reply pipe */
};

static struct file g_files[NFILES];
static int64_t g_t0; /* "now" for the deadlines below */

static void start_run(void)
{
    memset(g_files, 0, sizeof g_files);
    g_t0 = now_ns();
    for (size_t i = 0; i < NFILES; i++) {
        int q[2];
        CHECK(pipe2(q, O_CLOEXEC | O_NONBLOCK) == 0);
        g_files[i].answers = q[0];
        g_files[i].res.path = xasprintf("f%zu.test.lua", i);
        g_files[i].job.res = &g_files[i].res;
        g_files[i].job.replyfd = q[1];
        g_files[i].job.running = 1;
    }
}

/* Every file's worker ends (jobs.c's finish_job forgets each at the barriers). */
static void end_run(void)
{
    for (size_t i = 0; i < NFILES; i++) {
        barriers_forget(&g_files[i].job);
        close(g_files[i].job.replyfd);
        close(g_files[i].answers);
        free(g_files[i].res.path);
    }
    CHECK(barriers_next_deadline() == 0); /* nothing left behind */
}

/* File i arrives at name, for count arrivals, with a deadline `secs` after g_t0. */
static void arrive(size_t i, const char *name, int count, int64_t secs)
{
    json_t *o = json_pack("{s:s, s:i, s:I}", "name", name, "count", count, "deadline_ns",
                          (json_int_t)(g_t0 + secs * SEC));
    json_object_set_new(o, "kind", json_string("barrier_wait"));
    json_object_set_new(o, "path", json_string(g_files[i].res.path));
    char *line = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    json_t *ev = json_loads(line, 0, NULL);
    free(line);
    CHECK_STR_EQ(json_string_value(json_object_get(ev, "kind")), "barrier_wait");
    job_barrier_wait(&g_files[i].job, ev);
    json_decref(ev);
}

/* The answer line waiting for file i's worker, without the newline ("" when none). */
static const char *answer(size_t i)
{
    static char line[2048];
    size_t n = 0;
    while (n < sizeof line - 1 && read(g_files[i].answers, line + n, 1) == 1 && line[n] != '\n')
        n++;
    line[n] = 0;
    return line;
}

/* The count-th arrival releases everyone; the next arrival starts a new generation. */
static void release_and_generations(void)
{
    start_run();
    arrive(0, "meet", 3, 60);
    arrive(1, "meet", 3, 60);
    CHECK_STR_EQ(answer(0), "");
    CHECK_STR_EQ(answer(1), "");
    arrive(2, "meet", 3, 60);
    CHECK_STR_EQ(answer(0), "ok");
    CHECK_STR_EQ(answer(1), "ok");
    CHECK_STR_EQ(answer(2), "ok");
    CHECK(barriers_next_deadline() == 0); /* released: nobody waits */
    /* the same name again: a new rendezvous, not met by the last one's arrivals */
    arrive(1, "meet", 3, 60);
    CHECK_STR_EQ(answer(1), "");
    arrive(0, "meet", 3, 60);
    CHECK_STR_EQ(answer(0), "");
    arrive(2, "meet", 3, 60);
    CHECK_STR_EQ(answer(0), "ok");
    CHECK_STR_EQ(answer(1), "ok");
    CHECK_STR_EQ(answer(2), "ok");
    arrive(3, "alone", 1, 60); /* a count of 1 is met at once */
    CHECK_STR_EQ(answer(3), "ok");
    end_run();
}

/* A waiter is answered at its own deadline and leaves; the others wait on. */
static void timeouts(void)
{
    start_run();
    arrive(0, "t", 3, 5);
    arrive(1, "t", 3, 2);
    CHECK(barriers_next_deadline() == g_t0 + 2 * SEC);
    barriers_expire(g_t0 + 2 * SEC - 1);
    CHECK_STR_EQ(answer(1), "");
    barriers_expire(g_t0 + 2 * SEC);
    CHECK_STR_EQ(answer(1), "err timeout: 2 of 3 arrivals at 't'");
    CHECK_STR_EQ(answer(0), "");
    CHECK(barriers_next_deadline() == g_t0 + 5 * SEC);
    /* file 1 left: two more arrivals are needed besides file 0 */
    arrive(2, "t", 3, 60);
    CHECK_STR_EQ(answer(2), "");
    barriers_expire(g_t0 + 5 * SEC);
    CHECK_STR_EQ(answer(0), "err timeout: 2 of 3 arrivals at 't'");
    CHECK_STR_EQ(answer(2), "");
    arrive(3, "t", 3, 60);
    arrive(1, "t", 3, 60);
    CHECK_STR_EQ(answer(1), "ok");
    CHECK_STR_EQ(answer(2), "ok");
    CHECK_STR_EQ(answer(3), "ok");
    CHECK_STR_EQ(answer(0), "");
    /* a deadline already past (timeout 0): answered at once, unless it completes */
    arrive(0, "now", 2, -1);
    CHECK_STR_EQ(answer(0), "err timeout: 1 of 2 arrivals at 'now'");
    arrive(0, "now", 2, 60);
    arrive(1, "now", 2, -1);
    CHECK_STR_EQ(answer(0), "ok");
    CHECK_STR_EQ(answer(1), "ok");
    end_run();
}

/* A different count breaks the barrier: every waiter and the new arrival get false at
 * once; the name then starts afresh. */
static void count_mismatch(void)
{
    start_run();
    arrive(0, "m", 3, 60);
    arrive(1, "m", 3, 60);
    arrive(2, "m", 2, 60);
    const char *want = "err count mismatch: f0.test.lua waits for 3 arrivals at 'm', "
                       "f2.test.lua for 2";
    CHECK_STR_EQ(answer(0), want);
    CHECK_STR_EQ(answer(1), want);
    CHECK_STR_EQ(answer(2), want);
    CHECK(barriers_next_deadline() == 0);
    arrive(3, "m", 2, 60); /* afresh, with the new count */
    CHECK_STR_EQ(answer(3), "");
    arrive(2, "m", 2, 60);
    CHECK_STR_EQ(answer(2), "ok");
    CHECK_STR_EQ(answer(3), "ok");
    end_run();
}

/* A worker that dies while waiting no longer counts as an arrival. */
static void dead_waiter(void)
{
    start_run();
    arrive(0, "d", 2, 60);
    arrive(1, "other", 2, 30);
    barriers_forget(&g_files[0].job);
    CHECK(barriers_next_deadline() == g_t0 + 30 * SEC); /* only file 1 waits */
    arrive(2, "d", 2, 60);
    CHECK_STR_EQ(answer(2), "");
    CHECK_STR_EQ(answer(0), ""); /* never answered: its worker is gone */
    arrive(3, "d", 2, 60);
    CHECK_STR_EQ(answer(2), "ok");
    CHECK_STR_EQ(answer(3), "ok");
    CHECK_STR_EQ(answer(1), ""); /* other names are untouched */
    end_run();
}

/* Names are independent; a malformed request is refused. */
static void names(void)
{
    start_run();
    arrive(0, "a", 2, 60);
    arrive(1, "b", 2, 60);
    CHECK_STR_EQ(answer(0), "");
    CHECK_STR_EQ(answer(1), "");
    arrive(2, "b", 2, 60);
    CHECK_STR_EQ(answer(1), "ok");
    CHECK_STR_EQ(answer(2), "ok");
    CHECK_STR_EQ(answer(0), "");
    arrive(3, "c", 0, 60);
    CHECK_STR_EQ(answer(3), "err a malformed barrier request");
    arrive(3, "", 2, 60);
    CHECK_STR_EQ(answer(3), "err a malformed barrier request");
    end_run();
}

int main(void)
{
    RUN(release_and_generations);
    RUN(timeouts);
    RUN(count_mismatch);
    RUN(dead_waiter);
    RUN(names);
    return TEST_SUMMARY();
}
