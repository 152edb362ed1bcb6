/* runner_barrier.c - the parent's barrier broker: lab:barrier(name, count, timeout?)
 * is a rendezvous of test files, each in its own worker process, so the parent
 * brokers it, as it does the pool (runner_pool.c).
 *
 * A worker that reaches a barrier writes one event line {"kind":"barrier_wait",
 * "name", "count", "deadline_ns"} and blocks on its reply pipe. The parent keeps, per
 * name, the barrier being gathered: its count and who waits there. The count-th
 * arrival releases them all ("ok") and the barrier is gone, so the next arrival at
 * that name starts a new generation. A waiter whose deadline passes (its timeout, or
 * its test's deadline if sooner; CLOCK_MONOTONIC, the same clock in every process) is
 * answered "err timeout ..." and leaves. An arrival whose count differs from the one
 * being gathered breaks the barrier: it and every waiter get "err count mismatch ..."
 * at once (they disagree on the rendezvous, so none of them can meet it; nobody is
 * left waiting out a timeout) and the name starts afresh. A worker that dies (or is
 * killed) while waiting is forgotten: it no longer counts. */
#include "runner_barrier.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

struct waiter {
    struct job *job;
    int64_t deadline;
};

struct barrier {
    char *name;
    int count;
    struct waiter *w;
    size_t n;
    struct barrier *next;
};

static struct barrier *g_barriers;

/* One answer line on j's reply pipe: "ok" or "err <why>". Frees text. */
static void answer(struct job *j, char *text)
{
    char *line = xasprintf("%s\n", text);
    if (j->replyfd >= 0)
        write_all(j->replyfd, line, strlen(line));
    free(line);
    free(text);
}

static struct barrier *find(const char *name)
{
    for (struct barrier *b = g_barriers; b; b = b->next)
        if (!strcmp(b->name, name))
            return b;
    return NULL;
}

/* Unlinks and frees b. */
static void drop(struct barrier *b)
{
    for (struct barrier **p = &g_barriers; *p; p = &(*p)->next)
        if (*p == b) {
            *p = b->next;
            break;
        }
    free(b->name);
    free(b->w);
    free(b);
}

/* A different count at a barrier being gathered: everyone there, and j, gets false. */
static void mismatch(struct barrier *b, struct job *j, int count)
{
    char *why = xasprintf("err count mismatch: %s waits for %d arrivals at '%s', %s for %d",
                          b->w[0].job->res->path, b->count, b->name, j->res->path, count);
    for (size_t i = 0; i < b->n; i++)
        answer(b->w[i].job, xstrdup(why));
    answer(j, why);
    drop(b);
}

void job_barrier_wait(struct job *j, json_t *o)
{
    const char *name = json_string_value(json_object_get(o, "name"));
    json_int_t count = json_integer_value(json_object_get(o, "count"));
    int64_t deadline = (int64_t)json_integer_value(json_object_get(o, "deadline_ns"));
    if (!name || !*name || count < 1 || count > INT_MAX) {
        answer(j, xstrdup("err a malformed barrier request"));
        return;
    }
    struct barrier *b = find(name);
    if (b && b->count != count) {
        mismatch(b, j, (int)count);
        return;
    }
    if (!b) {
        b = xcalloc(1, sizeof *b);
        b->name = xstrdup(name);
        b->count = (int)count;
        b->next = g_barriers;
        g_barriers = b;
    }
    b->w = xrealloc(b->w, (b->n + 1) * sizeof *b->w);
    b->w[b->n++] = (struct waiter){j, deadline};
    if (b->n < (size_t)b->count) {
        barriers_expire(now_ns()); /* a deadline already past (timeout 0) */
        return;
    }
    for (size_t i = 0; i < b->n; i++)
        answer(b->w[i].job, xstrdup("ok"));
    drop(b);
}

/* Removes waiter i of b (answered or gone); b itself when nobody is left. Returns
 * whether b still exists. */
static int remove_waiter(struct barrier *b, size_t i)
{
    memmove(&b->w[i], &b->w[i + 1], (b->n - i - 1) * sizeof *b->w);
    if (--b->n)
        return 1;
    drop(b);
    return 0;
}

void barriers_expire(int64_t now)
{
    struct barrier *b = g_barriers, *next;
    for (; b; b = next) {
        next = b->next;
        for (size_t i = 0; i < b->n;) {
            struct waiter *w = &b->w[i];
            if (w->deadline > now) {
                i++;
                continue;
            }
            answer(w->job, xasprintf("err timeout: %zu of %d arrivals at '%s'", b->n, b->count,
                                     b->name));
            if (!remove_waiter(b, i))
                break;
        }
    }
}

void barriers_forget(struct job *j)
{
    struct barrier *b = g_barriers, *next;
    for (; b; b = next) {
        next = b->next;
        for (size_t i = 0; i < b->n;) {
            if (b->w[i].job != j) {
                i++;
                continue;
            }
            if (!remove_waiter(b, i))
                break;
        }
    }
}

int64_t barriers_next_deadline(void)
{
    int64_t first = 0;
    for (struct barrier *b = g_barriers; b; b = b->next)
        for (size_t i = 0; i < b->n; i++)
            if (!first || b->w[i].deadline < first)
                first = b->w[i].deadline;
    return first;
}
