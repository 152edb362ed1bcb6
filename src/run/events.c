/* events.c - the parent's event I/O: the --events stream it writes (one JSON line per
 * event, one write(2) each, so runs sharing an O_APPEND file interleave cleanly) and
 * the JSON lines each worker writes on its pipe, split into lines and dispatched: pool
 * requests to runner_pool.c, barrier arrivals to runner_barrier.c, test results to
 * results.c, everything else forwarded. */
#include "events.h"

#include "results.h"
#include "runner_barrier.h"
#include "runner_pool.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static FILE *g_events;

int events_open(const struct run_opts *ro)
{
    if (!ro->events)
        return 0;
    if (!strcmp(ro->events, "-"))
        g_events = stdout;
    else if (!(g_events = fopen(ro->events, "a"))) {
        warnx_p("cannot open events file %s: %s", ro->events,
                strerror(errno));
        return -1;
    }
    return 0;
}

void events_close(void)
{
    if (g_events && g_events != stdout)
        fclose(g_events);
    g_events = NULL;
}

static void write_event(json_t *o)
{
    if (!g_events)
        return;
    json_t *full = json_pack("{s:f}", "ts", wall_time());
    json_object_update(full, o);
    char *s = json_dumps(full, JSON_COMPACT);
    json_decref(full);
    if (s) {
        size_t n = strlen(s);
        s = xrealloc(s, n + 2);
        s[n] = '\n';
        /* one write per line so writers sharing an O_APPEND file interleave cleanly */
        write_all(fileno(g_events), s, n + 1);
        free(s);
    }
}

void run_event(const char *kind, json_t *payload)
{
    json_object_set_new(payload, "kind", json_string(kind));
    write_event(payload);
    json_decref(payload);
}

void run_on_evicted(void *ud, const char *key, uint64_t bytes)
{
    (void)ud;
    run_event("fixture_evicted", json_pack("{s:s, s:n, s:s, s:I}", "key", key, "fixture", "reason",
                                          "lru", "bytes", (json_int_t)bytes));
}

void run_build_event(void *ud, const struct profile *p, int phase, int64_t dur, int ok,
                     int status)
{
    (void)ud;
    if (phase == 0) {
        run_event("build_started", json_pack("{s:s, s:s, s:s}", "profile", p->name, "out", p->out,
                                            "command", p->build));
        return;
    }
    json_t *o = json_pack("{s:s, s:s, s:I, s:b}", "profile", p->name, "out", p->out,
                          "duration_ns", (json_int_t)dur, "ok", ok);
    if (WIFSIGNALED(status))
        json_object_set_new(o, "signal", json_integer(WTERMSIG(status)));
    else
        json_object_set_new(o, "exit_code", json_integer(WEXITSTATUS(status)));
    run_event("build_done", o);
}

/* One event of j's worker. */
static void handle_event(struct job *j, json_t *o, const struct run_opts *ro)
{
    const char *kind = json_string_value(json_object_get(o, "kind"));
    if (!kind)
        return;
    if (!strcmp(kind, "pool_acquire") || !strcmp(kind, "pool_claim")) {
        job_pool_acquire(j, o, !strcmp(kind, "pool_claim"));
        return; /* internal */
    }
    if (!strcmp(kind, "pool_release")) {
        job_pool_release(j, o);
        return; /* internal */
    }
    if (!strcmp(kind, "barrier_wait")) {
        job_barrier_wait(j, o);
        return; /* internal */
    }
    if (!result_note_event(j->res, kind, o))
        return; /* internal */
    if (ro->verbose && !strcmp(kind, "test_started") && !ro->json)
        warnx_p("%s: running %s", j->res->path,
                json_string_value(json_object_get(o, "name")));
    /* forward to --events without internal fields */
    json_t *copy = json_deep_copy(o);
    json_object_del(copy, "log");
    write_event(copy);
    json_decref(copy);
}

void job_drain_events(struct job *j, const struct run_opts *ro)
{
    char tmp[65536];
    for (;;) {
        ssize_t n = read(j->evfd, tmp, sizeof tmp);
        if (n <= 0)
            break;
        buf_append(&j->line, tmp, (size_t)n);
    }
    char *start = j->line.data;
    char *nl;
    size_t consumed = 0;
    while (start && (nl = memchr(start, '\n', j->line.len - consumed))) {
        *nl = 0;
        json_t *o = json_loads(start, 0, NULL);
        if (o) {
            handle_event(j, o, ro);
            json_decref(o);
        }
        consumed += (size_t)(nl - start) + 1;
        start = nl + 1;
    }
    if (consumed) {
        memmove(j->line.data, j->line.data + consumed, j->line.len - consumed);
        j->line.len -= consumed;
    }
}
