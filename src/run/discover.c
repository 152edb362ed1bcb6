/* discover.c - which test files a run runs: PATHS or the roots walked for *.test.lua,
 * narrowed by --filter, --since and --shard, or with --rerun-failed the files (and
 * tests) that failed last time; and, after the run, the rerun state rewritten from this
 * run's failures and the --save-durations file. Kept apart from runner.c, which only
 * schedules what this file selects. */
#include "discover.h"
#include "shard.h"
#include "since.h"

#include "fixture/fixture.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

char *run_display_path(const char *abs)
{
    char *cwd = path_resolve(NULL, ".");
    size_t n = strlen(cwd);
    char *r;
    if (!strncmp(abs, cwd, n) && abs[n] == '/')
        r = xstrdup(abs + n + 1);
    else
        r = xstrdup(abs);
    free(cwd);
    return r;
}


/* Walks PATHS (else the roots) into *out; *walked counts the files before --filter. */
static int discover(const struct run_opts *ro, const struct config *cfg, struct found **out,
                    size_t *n_out, size_t *walked)
{
    struct strv dirs = {0}, files = {0};
    if (ro->paths.n) {
        for (size_t i = 0; i < ro->paths.n; i++) {
            struct stat st;
            char *abs = path_resolve(NULL, ro->paths.v[i]);
            if (stat(abs, &st) < 0) {
                warnx_p("%s: %s", ro->paths.v[i], strerror(errno));
                free(abs);
                strv_free(&dirs);
                strv_free(&files);
                return -1;
            }
            if (S_ISDIR(st.st_mode))
                strv_push(&dirs, abs);
            else
                strv_push(&files, abs);
            free(abs);
        }
    } else {
        for (size_t i = 0; i < cfg->n_roots; i++)
            strv_push(&dirs, cfg->roots[i]);
    }
    struct found *f = NULL;
    size_t n = 0;
    for (size_t i = 0; i < files.n; i++) {
        f = xrealloc(f, (n + 1) * sizeof *f);
        f[n].rerun = NULL;
        f[n].abs = xstrdup(files.v[i]);
        const char *slash = strrchr(files.v[i], '/');
        f[n].walked_rel = xstrdup(slash ? slash + 1 : files.v[i]);
        n++;
    }
    for (size_t i = 0; i < dirs.n; i++) {
        struct strv w = {0};
        walk_files_with_suffix(dirs.v[i], ".test.lua", &w);
        size_t dl = strlen(dirs.v[i]);
        for (size_t j = 0; j < w.n; j++) {
            int dup = 0;
            for (size_t k = 0; k < n; k++)
                dup |= !strcmp(f[k].abs, w.v[j]);
            if (dup)
                continue;
            f = xrealloc(f, (n + 1) * sizeof *f);
            f[n].rerun = NULL;
            f[n].abs = xstrdup(w.v[j]);
            f[n].walked_rel = xstrdup(w.v[j] + dl + (w.v[j][dl] == '/'));
            n++;
        }
        strv_free(&w);
    }
    strv_free(&dirs);
    strv_free(&files);
    *walked = n;
    /* --filter: keep files whose walked-relative path contains any SUBSTR */
    if (ro->filters.n) {
        size_t k = 0;
        for (size_t i = 0; i < n; i++) {
            int keep = 0;
            for (size_t j = 0; j < ro->filters.n; j++)
                keep |= strstr(f[i].walked_rel, ro->filters.v[j]) != NULL;
            if (keep)
                f[k++] = f[i];
            else {
                free(f[i].abs);
                free(f[i].walked_rel);
            }
        }
        n = k;
    }
    *out = f;
    *n_out = n;
    return 0;
}

void run_found_free(struct found *files, size_t n)
{
    for (size_t i = 0; files && i < n; i++) {
        free(files[i].abs);
        free(files[i].walked_rel);
    }
    free(files);
}

/* ---- --rerun-failed ---- */

/* The files recorded last time that still exist; returns how many. */
static size_t rerun_files(const struct rerun_set *last, struct found **out, size_t *n_out)
{
    struct found *f = xcalloc(last->n ? last->n : 1, sizeof *f);
    size_t n = 0;
    for (size_t i = 0; i < last->n; i++) {
        if (!file_exists(last->v[i].path))
            continue;
        f[n].abs = xstrdup(last->v[i].path);
        const char *slash = strrchr(last->v[i].path, '/');
        f[n].walked_rel = xstrdup(slash ? slash + 1 : last->v[i].path);
        f[n].rerun = &last->v[i];
        n++;
    }
    *out = f;
    *n_out = n;
    return n;
}

/* Rewrites the state with this run's failures: failed tests by name, or the whole file
 * when it failed outside any test. */
int run_rerun_record(const char *state, const struct found *files,
                        const struct file_result *res, size_t n)
{
    struct rerun_set now = {0};
    for (size_t i = 0; i < n; i++) {
        const struct file_result *r = &res[i];
        if (!r->failed)
            continue;
        struct rerun_entry *e = rerun_add(&now, files[i].abs);
        e->whole_file = r->chunk_error != NULL || r->registered.n == 0;
        for (size_t k = 0; k < r->n_tests && !e->whole_file; k++)
            if (r->tests[k].status && !strcmp(r->tests[k].status, "failed"))
                strv_push(&e->tests, r->tests[k].name);
        if (!e->tests.n)
            e->whole_file = 1;
    }
    int rc = rerun_save(state, &now);
    rerun_set_free(&now);
    return rc;
}

/* ---- --shard ---- */

/* --shard K/N: keeps in files[0..*n), in their order, only those shard.c places on
 * shard K. The placement is computed on the files this run would otherwise run (after
 * PATHS, --filter and --since), so every shard must be given the same PATHS and flags;
 * --rerun-failed is not sharded (its state holds this machine's own failures). Weights
 * are the --durations seconds (the median for a file not in it), else 1 per file. -1
 * when the --durations file cannot be read (printed). */
static int shard_select(const struct run_opts *ro, const struct config *cfg, struct found *files,
                        size_t *n)
{
    json_t *dur = NULL;
    char err[4096];
    if (ro->durations && shard_durations_load(ro->durations, &dur, err, sizeof err) < 0) {
        warnx_p("--durations %s", err);
        return -1;
    }
    double unknown = shard_durations_median(dur);
    size_t a = *n ? *n : 1, k = 0;
    struct shard_file *sf = xcalloc(a, sizeof *sf);
    struct strv *refs = xcalloc(a, sizeof *refs);
    int *out = xcalloc(a, sizeof *out);
    for (size_t i = 0; i < *n; i++) {
        fixture_refs_in_file(files[i].abs, &refs[i]);
        char *rel = shard_rel_path(cfg->dir, files[i].abs, files[i].walked_rel);
        sf[i] = (struct shard_file){rel, dur ? shard_weight(dur, rel, unknown) : 1, &refs[i]};
    }
    shard_assign(sf, *n, ro->shard_n, out);
    for (size_t i = 0; i < *n; i++) {
        if (out[i] == ro->shard_k - 1)
            files[k++] = files[i];
        else {
            free(files[i].abs);
            free(files[i].walked_rel);
        }
        free((char *)sf[i].path);
        strv_free(&refs[i]);
    }
    *n = k;
    free(sf);
    free(refs);
    free(out);
    json_decref(dur);
    return 0;
}

int run_list_shard(const struct run_opts *ro, const struct config *cfg)
{
    struct found *files = NULL;
    size_t n = 0, walked = 0;
    if (discover(ro, cfg, &files, &n, &walked) < 0 || shard_select(ro, cfg, files, &n) < 0) {
        run_found_free(files, n);
        return 2;
    }
    for (size_t i = 0; i < n; i++) {
        char *shown = run_display_path(files[i].abs);
        puts(shown);
        free(shown);
    }
    run_found_free(files, n);
    return 0;
}

void run_save_durations(const struct run_opts *ro, const struct config *cfg,
                        const struct found *files, const struct file_result *res, size_t n)
{
    json_t *d = NULL;
    char err[4096];
    const char *path = ro->save_durations;
    if (!path || ro->rerun_failed) /* a rerun's seconds are those of a few tests */
        return;
    if (file_exists(path) && shard_durations_load(path, &d, err, sizeof err) < 0)
        warnx_p("warning: --save-durations %s (written afresh)", err);
    if (!d)
        d = json_object();
    for (size_t i = 0; i < n; i++) {
        if (res[i].status == FS_INTERRUPTED || !res[i].started)
            continue; /* stopped, or never started: no duration worth keeping */
        char *rel = shard_rel_path(cfg->dir, files[i].abs, files[i].walked_rel);
        json_object_set_new(d, rel, json_real((double)(res[i].duration_ns / 1000000) / 1e3));
        free(rel);
    }
    char *text = json_dumps(d, JSON_SORT_KEYS | JSON_INDENT(1) | JSON_REAL_PRECISION(12));
    size_t len = strlen(text);
    text = xrealloc(text, len + 2);
    memcpy(text + len, "\n", 2);
    if (write_file_atomic(path, text, len + 1, 0644) < 0)
        warnx_p("warning: cannot write %s: %s", path, strerror(errno));
    free(text);
    json_decref(d);
}

/* `no test files under <what>`: the PATHS as given, else the roots. */
static void no_test_files(const struct run_opts *ro, const struct config *cfg)
{
    struct buf b = {0};
    size_t k = ro->paths.n ? ro->paths.n : cfg->n_roots;
    for (size_t i = 0; i < k; i++) {
        char *shown = utf8_escape(ro->paths.n ? ro->paths.v[i] : cfg->roots[i]);
        buf_printf(&b, "%s%s", i ? " " : "", shown);
        free(shown);
    }
    warnx_p("no test files under %s", buf_cstr(&b));
    buf_free(&b);
}

/* The files this run will run: last run's failures (--rerun-failed), else discovery.
 * Returns -1 to go on, else the exit code of a run that ends here (message printed):
 * 0 with nothing recorded to rerun, 2 on an error or when no test file exists at all
 * (a wrong CI path must not pass). A --filter that keeps nothing goes on, with 0 files. */
int run_collect_files(const struct run_opts *ro, const struct config *cfg,
                         const char *state, struct rerun_set *last, struct found **files,
                         size_t *n, FILE *report)
{
    char err[4096];
    size_t walked = 0;
    if (ro->rerun_failed) {
        if (rerun_load(state, last, err, sizeof err) < 0) {
            warnx_p("%s", err);
            return 2;
        }
        if (rerun_files(last, files, n) == 0) {
            fprintf(report, "provium: no failed tests recorded\n");
            return 0;
        }
        return -1;
    }
    if (discover(ro, cfg, files, n, &walked) < 0)
        return 2;
    if (walked == 0) {
        no_test_files(ro, cfg);
        return 2;
    }
    if (ro->select_changed) /* --since, --watch */
        since_select(cfg, &ro->changed, *files, n);
    if (ro->shard_n && shard_select(ro, cfg, *files, n) < 0)
        return 2;
    return -1;
}
