/* runner.c - the parent of a test run, start to end: load the config, check the host,
 * open --events, sweep what killed runs left, build stale profiles, pick the files,
 * run them, then the summary (human or JSON), --junit and the --rerun-failed state.
 *
 * The run itself is split by concern: which files run is discover.c, the checks
 * before a run preflight.c, the job loop (workers, timeouts, interruptions) jobs.c,
 * event I/O events.c, per-file results results.c, the progress line progress.c, the
 * pool requests runner_pool.c. */
#include "discover.h"
#include "events.h"
#include "jobs.h"
#include "results.h"
#include "runner_pool.h"

#include "fixture/fixture.h"
#include "proto/wire.h"
#include "run/build.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The summary's note when --filter or --since kept no file (exit 0: nothing failed). */
static void no_filter_match(FILE *out, const struct run_opts *ro)
{
    fputs("no test matched", out);
    for (size_t i = 0; i < ro->filters.n; i++) {
        char *shown = utf8_escape(ro->filters.v[i]);
        fprintf(out, "%s --filter '%s'", i ? " or" : "", shown);
        free(shown);
    }
    if (ro->since) {
        char *shown = utf8_escape(ro->since);
        fprintf(out, "%s --since '%s'", ro->filters.n ? " and" : "", shown);
        free(shown);
    }
    fputc('\n', out);
}

struct totals {
    int passed, failed, skipped;
    int interrupted, not_started; /* files stopped by an interruption / never started */
};

/* The line before the last one of an interrupted run (the last keeps its format). */
static void interrupted_line(FILE *out, const struct totals *t)
{
    fprintf(out, "interrupted by %s: %d file%s stopped, %d not started\n",
            g_interrupted == SIGHUP ? "SIGHUP" : g_interrupted == SIGTERM ? "SIGTERM" : "SIGINT",
            t->interrupted, t->interrupted == 1 ? "" : "s", t->not_started);
}

/* Prints the summary (human or JSON) and writes --junit; returns the exit code. */
static int summarize(const struct run_opts *ro, FILE *report, struct file_result *res,
                     size_t n, int64_t dur, struct totals *tot)
{
    struct totals t = {0};
    for (size_t i = 0; i < n; i++) {
        t.passed += res[i].passed;
        t.failed += res[i].failed;
        t.skipped += res[i].skipped;
        t.interrupted += res[i].status == FS_INTERRUPTED;
        t.not_started += g_interrupted && res[i].status == FS_SKIPPED && res[i].error &&
                         !strcmp(res[i].error, "interrupted");
    }
    int passed = t.passed, failed = t.failed, skipped = t.skipped;
    int exit_code = g_interrupted ? 128 + (g_interrupted == SIGHUP ? SIGHUP : SIGINT)
                    : failed      ? 1
                                  : 0;
    if (ro->json) {
        report_summary_json(report, n, passed, failed, skipped, t.interrupted, dur, exit_code);
    } else {
        if (n == 0 && (ro->filters.n || ro->since))
            no_filter_match(report, ro);
        fprintf(report, "%zu file%s in %.2fs\n", n, n == 1 ? "" : "s", (double)dur / 1e9);
        if (g_interrupted)
            interrupted_line(report, &t);
        report_totals_line(report, passed, failed, skipped);
    }
    if (ro->junit && report_junit(ro->junit, res, n) < 0) {
        warnx_p("cannot write %s: %s", ro->junit, strerror(errno));
        if (!exit_code)
            exit_code = 2;
    }
    *tot = t;
    return exit_code;
}

/* Loads the config (into *cfg, for the caller to free), checks the host, opens
 * --events, sweeps and builds stale profiles; -1 on failure (the message printed). */
static int run_setup(struct run_opts *ro, struct config **cfg)
{
    char err[4096];
    *cfg = config_load(ro->config_path, err, sizeof err);
    if (!*cfg) {
        warnx_p("%s", err);
        return -1;
    }
    if (ro->jobs <= 0)
        ro->jobs = (*cfg)->jobs > 0 ? (*cfg)->jobs : (int)sysconf(_SC_NPROCESSORS_ONLN);
    if (ro->jobs <= 0)
        ro->jobs = 1;
    if (run_preflight(ro, *cfg, 1) < 0 || events_open(ro) < 0)
        return -1;
    cache_enforce_limit(*cfg, run_on_evicted, NULL);
    scratch_sweep_stale("provium"); /* what runs killed outright left (kill -9, OOM) */
    if (!ro->no_build && profiles_build_all(*cfg, run_build_event, NULL) < 0)
        return -1;
    return 0;
}

/* The run's end: the summary, the rerun state, run_completed; returns the exit code. */
static int run_finish(const struct run_opts *ro, FILE *report, const char *rerun_state,
                      const struct found *files, struct file_result *res, size_t n,
                      int64_t dur)
{
    struct totals tot;
    int exit_code = summarize(ro, report, res, n, dur, &tot);
    if (!g_interrupted && run_rerun_record(rerun_state, files, res, n) < 0)
        warnx_p("warning: cannot write %s: %s", rerun_state, strerror(errno));
    run_event("run_completed",
             json_pack("{s:i, s:i, s:i, s:i, s:i, s:I, s:i}", "passed", tot.passed, "failed",
                       tot.failed, "skipped", tot.skipped, "interrupted", tot.interrupted,
                       "files", (int)n, "duration_ns", (json_int_t)dur, "exit_code",
                       exit_code));
    return exit_code;
}

int runner_main(struct run_opts *ro)
{
    struct config *cfg = NULL;
    struct found *files = NULL;
    struct file_result *res = NULL;
    size_t n = 0;
    struct rerun_set last = {0};
    char *rerun_state = NULL;
    int exit_code = 2;
    if (run_setup(ro, &cfg) < 0)
        goto done;
    FILE *report = (ro->events && !strcmp(ro->events, "-")) ? stderr : stdout;
    rerun_state = rerun_state_path(cfg->path ? cfg->path : cfg->dir);
    int rc = run_collect_files(ro, cfg, rerun_state, &last, &files, &n, report);
    if (rc >= 0) {
        exit_code = rc;
        goto done;
    }
    g_pool = pool_default(ro->pool_memory, ro->pool_cpus, ro->cpu_overcommit);
    json_t *started = json_pack("{s:s, s:i, s:s, s:i, s:o, s:i}", "version", PROVIUM_VERSION,
                                "protocol", WIRE_PROTOCOL_VERSION, "accel", ro->accel, "jobs",
                                ro->jobs, "pool", pool_amount_json(g_pool.total), "files", (int)n);
    if (ro->shard_n) /* --shard: `provium report merge` notices a shard with no stream */
        json_object_set_new(started, "shard", json_pack("{s:i, s:i}", "k", ro->shard_k, "n",
                                                        ro->shard_n));
    run_event("run_started", started);
    res = results_new(files, n);
    run_catch_signals();
    int64_t t0 = now_ns();
    run_files(ro, cfg, files, n, res, report);
    cache_remove_orphans(cfg, NULL); /* what workers killed mid-snapshot left (Ctrl-C, timeouts) */
    exit_code = run_finish(ro, report, rerun_state, files, res, n, now_ns() - t0);
    if (!g_interrupted)
        run_save_durations(ro, cfg, files, res, n);
done:
    events_close();
    results_free(res, n);
    run_found_free(files, n);
    rerun_set_free(&last);
    free(rerun_state);
    free(ro->agent_bin);
    config_free(cfg);
    return exit_code;
}
