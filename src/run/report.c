/* report.c - the three report shapes: human text, JSON lines and JUnit XML. */
#include "run.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

json_t *json_text(const char *s)
{
    if (!s)
        return json_null();
    char *e = utf8_escape(s);
    json_t *j = json_string(e);
    free(e);
    return j ? j : json_string("");
}

static const char *tag_for(const struct file_result *f)
{
    if (f->chunk_error || f->status == FS_CRASHED)
        return "ERR ";
    switch (f->status) {
    case FS_PASSED:
        return "PASS";
    case FS_TIMED_OUT:
        return "TIME";
    case FS_SKIPPED:
        return "SKIP";
    case FS_INTERRUPTED:
        return "INT ";
    default:
        return "FAIL";
    }
}

static void print_indented(FILE *out, const char *text, const char *prefix)
{
    const char *p = text;
    while (*p) {
        const char *nl = strchr(p, '\n');
        size_t n = nl ? (size_t)(nl - p) : strlen(p);
        fprintf(out, "%s%.*s\n", prefix, (int)n, p);
        p += n + (nl ? 1 : 0);
    }
}

void report_file_human(FILE *out, const struct file_result *f, int verbose, int quiet)
{
    double secs = (double)f->duration_ns / 1e9;
    if (quiet && f->status == FS_PASSED)
        return;
    if (f->chunk_error || f->status == FS_CRASHED) {
        fprintf(out, "ERR  %s: %s\n", f->path, f->error ? f->error : "failed");
    } else {
        fprintf(out, "%s %s (%d passed, %d failed, %d skipped) %.2fs\n", tag_for(f), f->path,
                f->passed, f->failed, f->skipped, secs);
        if (f->status == FS_TIMED_OUT && f->error)
            fprintf(out, "  %s\n", f->error);
        else if (f->status == FS_INTERRUPTED && f->file_error) /* no test to carry it */
            fprintf(out, "  interrupted\n");
    }
    for (size_t i = 0; i < f->n_tests; i++) {
        const struct test_result *t = &f->tests[i];
        int failed = !strcmp(t->status, "failed");
        if (verbose) {
            if (!strcmp(t->status, "passed"))
                fprintf(out, "  ok %s (%.2fs)\n", t->name, (double)t->duration_ns / 1e9);
            else if (!strcmp(t->status, "skipped"))
                fprintf(out, "  skip %s (%s)\n", t->name, t->message ? t->message : "");
            else
                fprintf(out, "  FAIL %s (%.2fs)\n", t->name, (double)t->duration_ns / 1e9);
        }
        if (failed && (!f->chunk_error)) {
            char *first = xstrdup(t->message ? t->message : "failed");
            char *nl = strchr(first, '\n');
            if (nl)
                *nl = 0;
            fprintf(out, "  - %s: %s\n", t->name, first);
            if (nl)
                print_indented(out, nl + 1, "      ");
            free(first);
            if (t->console && t->console[0] && !quiet)
                print_indented(out, t->console, "    | ");
        }
    }
}

static json_t *tests_json(const struct file_result *f)
{
    json_t *a = json_array();
    for (size_t i = 0; i < f->n_tests; i++) {
        const struct test_result *t = &f->tests[i];
        json_array_append_new(
            a, json_pack("{s:s, s:s, s:s?, s:I, s:s, s:O}", "name", t->name ? t->name : "",
                         "status", t->status, "message", t->message, "duration_ns",
                         (json_int_t)t->duration_ns, "log", t->log ? t->log : "", "meta",
                         t->meta ? t->meta : json_object()));
    }
    return a;
}

void report_file_json(FILE *out, const struct file_result *f)
{
    json_t *o = json_pack("{s:s, s:s, s:s, s:b, s:s, s:s?, s:I, s:o}", "kind", "file", "path",
                          f->path, "status", file_status_name(f->status), "passed",
                          f->status == FS_PASSED, "timeout",
                          f->status == FS_TIMED_OUT ? "timed_out" : "in_time", "chunk_error",
                          f->chunk_error, "duration_ns", (json_int_t)f->duration_ns, "tests",
                          tests_json(f));
    char *s = json_dumps(o, JSON_COMPACT);
    fprintf(out, "%s\n", s);
    free(s);
    json_decref(o);
}

void report_totals_line(FILE *out, int passed, int failed, int skipped)
{
    fprintf(out, "%d passed, %d failed, %d skipped\n", passed, failed, skipped);
}

void report_summary_json(FILE *out, size_t files, int passed, int failed, int skipped,
                         int interrupted, int64_t duration_ns, int exit_code)
{
    json_t *o = json_pack("{s:s, s:i, s:i, s:i, s:i, s:i, s:I, s:i}", "kind", "summary",
                          "files", (int)files, "passed", passed, "failed", failed, "skipped",
                          skipped, "interrupted", interrupted, "duration_ns",
                          (json_int_t)duration_ns, "exit_code", exit_code);
    char *s = json_dumps(o, JSON_COMPACT);
    fprintf(out, "%s\n", s);
    free(s);
    json_decref(o);
}

static void xml_escape(FILE *out, const char *s)
{
    for (; s && *s; s++) {
        switch (*s) {
        case '<':
            fputs("&lt;", out);
            break;
        case '>':
            fputs("&gt;", out);
            break;
        case '&':
            fputs("&amp;", out);
            break;
        case '"':
            fputs("&quot;", out);
            break;
        default:
            if ((unsigned char)*s < 32 && *s != '\n' && *s != '\t')
                fputc('?', out);
            else
                fputc(*s, out);
        }
    }
}

/* A file skipped as a whole (--fail-fast, interrupted) is one skipped `(file)` case. */
static int whole_file_skipped(const struct file_result *f)
{
    return f->status == FS_SKIPPED && f->n_tests == 0;
}

/* <testsuite name tests failures errors skipped time timestamp hostname>: a file-level
 * problem is counted once, as the `(file)` error, so the totals equal the summary's. */
static void junit_suite_open(FILE *out, const struct file_result *f, const char *host)
{
    char stamp[32] = "1970-01-01T00:00:00";
    time_t t = (time_t)f->started;
    struct tm tm;
    if (f->started > 0 && localtime_r(&t, &tm))
        strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &tm);
    fputs("  <testsuite name=\"", out);
    xml_escape(out, f->path);
    fprintf(out, "\" tests=\"%zu\" failures=\"%d\" errors=\"%d\" skipped=\"%d\" time=\"%.3f\"",
            f->n_tests + (size_t)f->file_error + (size_t)whole_file_skipped(f), f->failed - f->file_error, f->file_error,
            f->skipped, (double)f->duration_ns / 1e9);
    fprintf(out, " timestamp=\"%s\" hostname=\"", stamp);
    xml_escape(out, host);
    fputs("\">\n", out);
}

int report_junit(const char *path, struct file_result *files, size_t n)
{
    char *tmp = xasprintf("%s.tmp", path);
    FILE *out = fopen(tmp, "w");
    if (!out) {
        free(tmp);
        return -1;
    }
    char host[256] = "localhost";
    if (gethostname(host, sizeof host - 1) < 0)
        strcpy(host, "localhost");
    host[sizeof host - 1] = 0;
    fputs("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites>\n", out);
    for (size_t i = 0; i < n; i++) {
        struct file_result *f = &files[i];
        int errors = f->file_error;
        junit_suite_open(out, f, host);
        for (size_t k = 0; k < f->n_tests; k++) {
            struct test_result *t = &f->tests[k];
            fputs("    <testcase classname=\"", out);
            xml_escape(out, f->path);
            fputs("\" name=\"", out);
            xml_escape(out, t->name);
            fprintf(out, "\" time=\"%.3f\">\n", (double)t->duration_ns / 1e9);
            if (!strcmp(t->status, "failed")) {
                fputs("      <failure message=\"", out);
                xml_escape(out, t->message);
                fputs("\">", out);
                xml_escape(out, t->message);
                if (t->console && t->console[0]) {
                    fputs("\n", out);
                    xml_escape(out, t->console);
                }
                fputs("</failure>\n", out);
            } else if (!strcmp(t->status, "skipped")) {
                fputs("      <skipped message=\"", out);
                xml_escape(out, t->message);
                fputs("\"/>\n", out);
            }
            if (t->log && t->log[0]) {
                fputs("      <system-out>", out);
                xml_escape(out, t->log);
                fputs("</system-out>\n", out);
            }
            fputs("    </testcase>\n", out);
        }
        if (errors || whole_file_skipped(f)) {
            fputs("    <testcase classname=\"", out);
            xml_escape(out, f->path);
            fputs(errors ? "\" name=\"(file)\" time=\"0\">\n      <error message=\""
                         : "\" name=\"(file)\" time=\"0\">\n      <skipped message=\"", out);
            xml_escape(out, f->error ? f->error : file_status_name(f->status));
            fputs("\"/>\n    </testcase>\n", out);
        }
        fputs("  </testsuite>\n", out);
    }
    fputs("</testsuites>\n", out);
    int rc = fclose(out);
    if (rc == 0)
        rc = rename(tmp, path);
    free(tmp);
    return rc;
}
