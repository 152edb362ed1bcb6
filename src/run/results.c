/* results.c - the parent's per-file results: one file_result per test file, filled
 * from its worker's events (tests registered, started, passed, failed, skipped, the
 * chunk's error, file_done) and, when the file ends early, completed with a failure
 * for each test that never finished. The reports (report.c) read these. */
#include "results.h"

#include "discover.h"
#include "events.h"
#include "fixture/fixture.h"

#include <stdlib.h>
#include <string.h>

const char *file_status_name(enum file_status s)
{
    static const char *n[] = {"passed", "failed", "timed_out", "crashed", "skipped",
                              "interrupted"};
    return n[s];
}

struct file_result *results_new(const struct found *files, size_t n)
{
    struct file_result *res = xcalloc(n ? n : 1, sizeof *res);
    for (size_t i = 0; i < n; i++) {
        char *shown = run_display_path(files[i].abs);
        res[i].path = utf8_escape(shown); /* a file name may hold any bytes */
        free(shown);
        struct strv refs = {0};
        fixture_refs_in_file(files[i].abs, &refs);
        json_t *jr = json_array();
        for (size_t k = 0; k < refs.n; k++)
            json_array_append_new(jr, json_text(refs.v[k]));
        strv_free(&refs);
        run_event("file_discovered", json_pack("{s:s, s:o}", "path", res[i].path, "fixture_refs", jr));
    }
    return res;
}

void results_free(struct file_result *res, size_t n)
{
    for (size_t i = 0; res && i < n; i++) {
        struct file_result *r = &res[i];
        for (size_t k = 0; k < r->n_tests; k++) {
            free(r->tests[k].name);
            free(r->tests[k].status);
            free(r->tests[k].message);
            free(r->tests[k].log);
            free(r->tests[k].console);
            json_decref(r->tests[k].meta);
        }
        free(r->tests);
        free(r->path);
        free(r->chunk_error);
        free(r->error);
        strv_free(&r->registered);
        json_decref(r->registered_meta);
        free(r->running);
    }
    free(res);
}

static char *jstr_dup(json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s ? xstrdup(s) : NULL;
}

void result_add_test(struct file_result *r, json_t *o, const char *status, const char *msg_key)
{
    r->tests = xrealloc(r->tests, (r->n_tests + 1) * sizeof *r->tests);
    struct test_result *t = &r->tests[r->n_tests++];
    memset(t, 0, sizeof *t);
    t->name = jstr_dup(o, "name");
    t->status = xstrdup(status);
    t->message = msg_key ? jstr_dup(o, msg_key) : NULL;
    t->log = jstr_dup(o, "log");
    t->console = jstr_dup(o, "console_excerpt");
    t->duration_ns = json_integer_value(json_object_get(o, "duration_ns"));
    t->meta = json_incref(json_object_get(o, "meta"));
    if (!strcmp(status, "passed"))
        r->passed++;
    else if (!strcmp(status, "failed"))
        r->failed++;
    else
        r->skipped++;
}

int result_note_event(struct file_result *r, const char *kind, json_t *o)
{
    if (!strcmp(kind, "tests_registered")) {
        json_t *names = json_object_get(o, "names");
        size_t i;
        json_t *v;
        json_array_foreach(names, i, v) strv_push(&r->registered, json_string_value(v));
        json_decref(r->registered_meta);
        r->registered_meta = json_incref(json_object_get(o, "metas"));
        return 0;
    }
    if (!strcmp(kind, "file_done")) {
        r->done = 1;
        return 0;
    }
    if (!strcmp(kind, "test_started")) {
        free(r->running);
        r->running = jstr_dup(o, "name");
        r->running_since = now_ns();
    } else if (!strncmp(kind, "test_", 5) && r->running) {
        free(r->running);
        r->running = NULL;
    }
    if (!strcmp(kind, "chunk_error")) {
        r->chunk_error = jstr_dup(o, "error");
        return 0;
    }
    if (!strcmp(kind, "test_passed"))
        result_add_test(r, o, "passed", NULL);
    else if (!strcmp(kind, "test_failed"))
        result_add_test(r, o, "failed", "reason");
    else if (!strcmp(kind, "test_skipped"))
        result_add_test(r, o, "skipped", "reason");
    return 1;
}

/* Has the file a result for this test name? */
static int has_result(const struct file_result *r, const char *name)
{
    for (size_t k = 0; k < r->n_tests; k++)
        if (r->tests[k].name && !strcmp(r->tests[k].name, name))
            return 1;
    return 0;
}

void result_fail_unfinished(struct file_result *r)
{
    size_t unfinished = 0;
    for (size_t i = 0; i < r->registered.n; i++) {
        const char *name = r->registered.v[i];
        if (!name || has_result(r, name))
            continue;
        int64_t dur = r->running && !strcmp(r->running, name) ? now_ns() - r->running_since : 0;
        json_t *meta = json_array_get(r->registered_meta, i);
        json_t *o = json_pack("{s:s, s:s, s:I, s:s, s:s, s:O}", "path", r->path, "name", name,
                              "duration_ns", (json_int_t)dur, "reason", r->error,
                              "console_excerpt", "", "meta", meta ? meta : json_object());
        result_add_test(r, o, "failed", "reason");
        run_event("test_failed", o);
        unfinished++;
    }
    if (unfinished == 0) {
        r->failed++;
        r->file_error = 1;
    }
}
