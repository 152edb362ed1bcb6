/* report.c - `provium report merge EVENTS.jsonl... [--junit FILE]`: the --events streams
 * of the shards of one suite (`--shard K/N` on N machines) turned into one report: the
 * failed files as a run prints them, the run's summary lines (§8.3), one JUnit file
 * written by the runner's own writer (run/report.c) and one exit code (§8.4).
 *
 * Each file's result is rebuilt from its events: test_passed, test_failed and
 * test_skipped give the tests (through the runner's own result_note_event), and
 * file_completed the status, duration, counts and file-level error. A file no stream
 * completed was skipped (--fail-fast) when its stream finished, else it failed: a
 * stream without run_completed is a shard that died, and the merged run cannot pass.
 * A file found in two streams (two shards ran it: their flags or files differed) is
 * counted once, from the first stream given, with a warning line. Streams of --shard
 * runs say which shard they are (run_started's `shard`): a shard of N with no stream
 * (its job never uploaded one) also fails the merge, with a warning line. */
#include "cli.h"

#include "run/results.h"
#include "run/run.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char REPORT_USAGE[] =
    "usage: provium report merge EVENTS.jsonl... [--junit FILE]\n"
    "\n"
    "Merges the --events streams of several shards (provium --shard K/N) into one\n"
    "summary, one JUnit file and one exit code (0: every test passed or was skipped).\n";

struct merge {
    struct file_result *res;
    size_t n, cap;
    char **names;       /* the streams, in the order given */
    size_t cur;         /* the stream being read */
    size_t *origin;     /* the stream each result came from */
    char *completed;    /* per result: file_completed seen */
    char *stream_done;  /* per result: its stream had run_completed */
    json_t *index;      /* path -> index into res */
    json_t *ignored;    /* paths of this stream counted from an earlier one */
    int64_t slowest;    /* the longest run_completed duration */
    int incomplete;     /* streams without run_completed, shards without a stream */
    int shard_n;        /* N of the streams' run_started shard {k, n} (0: none seen) */
    char *shard_seen;   /* [1..shard_n]: a stream of shard k was read */
};

/* The result for path, created on first sight; NULL when an earlier stream has it. */
static struct file_result *result_for(struct merge *m, const char *path)
{
    json_t *ix = json_object_get(m->index, path);
    if (ix) {
        size_t i = (size_t)json_integer_value(ix);
        if (m->origin[i] == m->cur)
            return &m->res[i];
        if (!json_object_get(m->ignored, path)) {
            const char *first = m->names[m->origin[i]];
            warnx_p("warning: %s is in both %s and %s (two shards ran it); counted once, from %s",
                    path, first, m->names[m->cur], first);
            json_object_set_new(m->ignored, path, json_true());
        }
        return NULL;
    }
    if (m->n == m->cap) {
        m->cap = m->cap ? 2 * m->cap : 64;
        m->res = xrealloc(m->res, m->cap * sizeof *m->res);
        m->origin = xrealloc(m->origin, m->cap * sizeof *m->origin);
        m->completed = xrealloc(m->completed, m->cap);
        m->stream_done = xrealloc(m->stream_done, m->cap);
    }
    struct file_result *r = &m->res[m->n];
    memset(r, 0, sizeof *r);
    r->path = xstrdup(path);
    r->status = FS_SKIPPED;
    m->origin[m->n] = m->cur;
    m->completed[m->n] = 0;
    m->stream_done[m->n] = 0;
    json_object_set_new(m->index, path, json_integer((json_int_t)m->n));
    return &m->res[m->n++];
}

static enum file_status status_named(const char *s)
{
    for (int i = FS_PASSED; i <= FS_INTERRUPTED; i++)
        if (s && !strcmp(s, file_status_name((enum file_status)i)))
            return (enum file_status)i;
    return FS_FAILED;
}

/* file_completed: the file's status, duration, counts and file-level error. */
static void note_completed(struct merge *m, struct file_result *r, json_t *o)
{
    const char *err = json_string_value(json_object_get(o, "error"));
    int tests_failed = 0;
    for (size_t k = 0; k < r->n_tests; k++)
        tests_failed += !strcmp(r->tests[k].status, "failed");
    m->completed[r - m->res] = 1;
    r->status = status_named(json_string_value(json_object_get(o, "status")));
    r->duration_ns = json_integer_value(json_object_get(o, "duration_ns"));
    r->passed = (int)json_integer_value(json_object_get(o, "passed"));
    r->failed = (int)json_integer_value(json_object_get(o, "failed"));
    r->skipped = (int)json_integer_value(json_object_get(o, "skipped"));
    r->file_error = r->failed > tests_failed;
    free(r->error);
    r->error = err ? xstrdup(err) : NULL;
    if (err && !strncmp(err, "chunk error: ", 13)) {
        free(r->chunk_error);
        r->chunk_error = xstrdup(err + 13);
    }
    r->done = 1;
}

/* run_started of a --shard run: which shard of how many the stream is. */
static void note_shard(struct merge *m, json_t *o)
{
    json_t *s = json_object_get(o, "shard");
    int k = (int)json_integer_value(json_object_get(s, "k"));
    int n = (int)json_integer_value(json_object_get(s, "n"));
    const char *path = m->names[m->cur];
    if (!s || k < 1 || k > n)
        return;
    if (m->shard_n && n != m->shard_n) {
        warnx_p("warning: %s is shard %d/%d, the streams before it are of %d shards", path, k, n,
                m->shard_n);
        m->incomplete++;
        return;
    }
    if (!m->shard_n) {
        m->shard_n = n;
        m->shard_seen = xcalloc((size_t)n + 1, 1);
    }
    if (m->shard_seen[k])
        warnx_p("warning: %s is shard %d/%d again", path, k, n);
    m->shard_seen[k] = 1;
}

/* One event of a stream; unknown kinds are ignored. */
static void note_event(struct merge *m, const char *kind, json_t *o)
{
    if (!strcmp(kind, "run_started")) {
        note_shard(m, o);
        return;
    }
    if (!strcmp(kind, "run_completed")) {
        int64_t d = json_integer_value(json_object_get(o, "duration_ns"));
        m->slowest = d > m->slowest ? d : m->slowest;
        for (size_t i = 0; i < m->n; i++)
            m->stream_done[i] |= m->origin[i] == m->cur;
        return;
    }
    const char *path = json_string_value(json_object_get(o, "path"));
    int file_event = !strcmp(kind, "file_discovered") || !strcmp(kind, "file_dispatched") ||
                     !strcmp(kind, "file_completed") || !strncmp(kind, "test_", 5);
    if (!path || !file_event)
        return;
    struct file_result *r = result_for(m, path);
    if (!r)
        return;
    if (!strcmp(kind, "file_dispatched"))
        r->started = json_number_value(json_object_get(o, "ts"));
    else if (!strcmp(kind, "file_completed"))
        note_completed(m, r, o);
    else if (!strncmp(kind, "test_", 5))
        result_note_event(r, kind, o);
}

/* Reads one stream; 0, else -1 (printed: a missing file, a line that is no event). */
static int read_stream(struct merge *m)
{
    const char *path = m->names[m->cur];
    FILE *f = fopen(path, "r");
    if (!f) {
        warnx_p("%s: %s", path, strerror(errno));
        return -1;
    }
    char *line = NULL;
    size_t cap = 0, lineno = 0;
    int rc = 0, finished = 0;
    json_object_clear(m->ignored);
    while (getline(&line, &cap, f) > 0) {
        lineno++;
        if (strspn(line, " \t\r\n") == strlen(line))
            continue;
        json_error_t je;
        json_t *o = json_loads(line, 0, &je);
        const char *kind = json_string_value(json_object_get(o, "kind"));
        if (!kind) {
            warnx_p("%s:%zu: not an event (%s)", path, lineno,
                    o ? "no \"kind\"" : je.text);
            json_decref(o);
            rc = -1;
            break;
        }
        finished |= !strcmp(kind, "run_completed");
        note_event(m, kind, o);
        json_decref(o);
    }
    if (rc == 0 && !finished) {
        warnx_p("warning: %s has no run_completed event: that shard did not finish", path);
        m->incomplete++;
    }
    free(line);
    fclose(f);
    return rc;
}

/* The files no stream completed: skipped when their stream finished (--fail-fast),
 * else failed (the shard died first). */
static void settle_unfinished(struct merge *m)
{
    for (size_t i = 0; i < m->n; i++) {
        struct file_result *r = &m->res[i];
        if (m->completed[i])
            continue;
        free(r->error);
        if (m->stream_done[i]) {
            r->status = FS_SKIPPED;
            r->skipped = 1;
            r->error = xstrdup("not run");
        } else {
            r->status = FS_CRASHED;
            r->error = xstrdup("its shard's stream ended before the file completed");
            result_fail_unfinished(r);
        }
    }
}

static int cmp_result(const void *a, const void *b)
{
    return strcmp(((const struct file_result *)a)->path, ((const struct file_result *)b)->path);
}

/* Prints the failed files and the summary, writes the JUnit file; the exit code. */
static int merge_finish(struct merge *m, size_t streams, const char *junit)
{
    int passed = 0, failed = 0, skipped = 0;
    settle_unfinished(m);
    qsort(m->res, m->n, sizeof *m->res, cmp_result);
    for (size_t i = 0; i < m->n; i++) {
        report_file_human(stdout, &m->res[i], 0, 1);
        passed += m->res[i].passed;
        failed += m->res[i].failed;
        skipped += m->res[i].skipped;
    }
    printf("%zu file%s from %zu stream%s in %.2fs (the slowest)\n", m->n, m->n == 1 ? "" : "s",
           streams, streams == 1 ? "" : "s", (double)m->slowest / 1e9);
    report_totals_line(stdout, passed, failed, skipped);
    int exit_code = failed || m->incomplete ? 1 : 0;
    if (junit && report_junit(junit, m->res, m->n) < 0) {
        warnx_p("cannot write %s: %s", junit, strerror(errno));
        exit_code = 2;
    }
    return exit_code;
}

/* Each shard of N must have a stream: a missing one is a shard whose tests nobody saw. */
static void check_shards(struct merge *m)
{
    for (int k = 1; k <= m->shard_n; k++)
        if (!m->shard_seen[k]) {
            warnx_p("warning: no stream of shard %d/%d: its tests are missing", k, m->shard_n);
            m->incomplete++;
        }
}

static int report_merge(struct strv *streams, const char *junit)
{
    struct merge m = {.names = streams->v, .index = json_object(), .ignored = json_object()};
    int rc = 2;
    for (m.cur = 0; m.cur < streams->n; m.cur++)
        if (read_stream(&m) < 0)
            goto done;
    check_shards(&m);
    fflush(stderr);
    rc = merge_finish(&m, streams->n, junit);
done:
    results_free(m.res, m.n);
    free(m.origin);
    free(m.completed);
    free(m.stream_done);
    free(m.shard_seen);
    json_decref(m.index);
    json_decref(m.ignored);
    return rc;
}

int cmd_report(int argc, char **argv)
{
    struct strv streams = {0};
    const char *junit = NULL, *v;
    int err = 0, rc = 0;
    if (argc < 2)
        return cli_usage_error("report", "missing subcommand (merge)");
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        fputs(REPORT_USAGE, stdout);
        return 0;
    }
    if (strcmp(argv[1], "merge"))
        return cli_usage_error("report", "unknown subcommand '%s'", argv[1]);
    for (int i = 2; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            fputs(REPORT_USAGE, stdout);
            goto out;
        } else if ((v = cli_flag_value(argc, argv, &i, "--junit", &err)))
            junit = v;
        else if (err) {
            rc = 2;
            goto out;
        } else if (argv[i][0] == '-' && argv[i][1])
            rc = cli_usage_error("report", "unknown option '%s'", argv[i]);
        else
            strv_push(&streams, argv[i]);
        if (rc)
            goto out;
    }
    if (!streams.n)
        rc = cli_usage_error("report", "report merge needs at least one EVENTS.jsonl file");
    else
        rc = report_merge(&streams, junit);
out:
    strv_free(&streams);
    return rc;
}
