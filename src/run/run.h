/* run.h - the test run: options, the parent scheduler and the per-file worker.
 *
 * The parent (runner.c) discovers files, forks one worker per file (worker.c), at most
 * --jobs at a time, and reads each worker's events as JSON lines on a pipe. Workers
 * never print the report; the parent aggregates events into the human, JSON and
 * JUnit reports (report.c) and the --events stream. */
#ifndef PROVIUM_RUN_H
#define PROVIUM_RUN_H

#include "config/config.h"
#include "util/util.h"

#include <jansson.h>
#include <stdint.h>
#include <stdio.h>

struct run_opts {
    const char *config_path;
    struct strv paths;
    struct strv filters;
    struct strv tags, no_tags, tag_meta, no_tag_meta;
    int include_slow;
    int jobs;
    double file_timeout; /* seconds, 0 = none */
    int fail_fast;
    int rerun_failed;
    int json;
    const char *junit;
    const char *events;
    int verbose, quiet;
    int no_progress;
    int no_build, no_preflight;
    const char *accel_flag;
    uint64_t pool_memory; /* --mem (0 = 80 % of MemTotal) */
    int pool_cpus;        /* --cpus (0 = online CPUs) */
    double cpu_overcommit; /* --cpu-overcommit (0 = 1) */
    const char *since;      /* --since REF (since.c) */
    int watch;              /* --watch (watch.c) */
    /* --since and --watch: run only the test files these canonical paths affect
     * (since_select); off when select_changed is 0 */
    int select_changed;
    struct strv changed;
    /* --keep-failed[=DIR] (failsnap.c): where failed tests' labs are kept, NULL = off;
     * at most keep_failed_max per run (slots counted under keep_failed_run, the run's
     * tag); the command line goes into each failure.json */
    const char *keep_failed;
    int keep_failed_max;
    char *keep_failed_run;
    int argc;
    char **argv;
    /* --shard K/N (shard.c; also PROVIUM_SHARD) as given, and parsed: shard_n 0 = off,
     * shard_k 1-based; --durations FILE balances the shards, --save-durations FILE
     * records this run's */
    const char *shard;
    int shard_k, shard_n;
    const char *durations, *save_durations;
    /* per worker: run only these tests (--rerun-failed); empty = all */
    struct strv only_tests;
    /* decided at startup */
    char accel[8];
    unsigned tsc_khz;
    char *agent_bin;
};

/* ---- worker ---- */
/* Runs one test file; events go to evfd as JSON lines. Returns the process exit code. */
/* Pool requests go out as events; the parent answers on replyfd (-1: no pool). */
int worker_run(const struct run_opts *ro, const struct config *cfg, const char *abs_path,
               const char *rel_path, const char *scratch, int evfd, int replyfd);

/* ---- per-file results collected by the parent ---- */
/* FS_INTERRUPTED: the worker was stopped by a Ctrl-C, SIGTERM or SIGHUP of the run */
enum file_status { FS_PASSED, FS_FAILED, FS_TIMED_OUT, FS_CRASHED, FS_SKIPPED, FS_INTERRUPTED };

struct test_result {
    char *name;
    char *status; /* passed | failed | skipped */
    char *message;
    char *log;
    char *console;
    int64_t duration_ns;
    json_t *meta;
};

struct file_result {
    char *path;     /* as reported (invalid UTF-8 escaped) */
    enum file_status status;
    char *chunk_error;
    char *error; /* file-level problem (crash, timeout, "interrupted") */
    int64_t duration_ns;
    double started;    /* wall clock at dispatch (JUnit timestamp) */
    struct test_result *tests;
    size_t n_tests;
    struct strv registered; /* names announced by the worker */
    json_t *registered_meta; /* their metas, same order */
    char *running;     /* the test started last and not yet finished */
    int64_t running_since;
    int done;          /* the worker said file_done: it did not crash */
    int file_error;    /* a file-level problem counted as one failure of its own */
    int passed, failed, skipped;
};

const char *file_status_name(enum file_status s);
/* A JSON string of s with invalid UTF-8 escaped as \xNN (json_null for NULL). */
json_t *json_text(const char *s);

/* ---- report ---- */
void report_file_human(FILE *out, const struct file_result *f, int verbose, int quiet);
void report_file_json(FILE *out, const struct file_result *f);
/* The last line of a run and of `provium report merge`: "N passed, N failed, N skipped". */
void report_totals_line(FILE *out, int passed, int failed, int skipped);
void report_summary_json(FILE *out, size_t files, int passed, int failed, int skipped,
                         int interrupted, int64_t duration_ns, int exit_code);
int report_junit(const char *path, struct file_result *files, size_t n);

/* ---- entry (cli/run.c parses flags, runner.c runs) ---- */
int runner_main(struct run_opts *ro);
char *find_agent_binary(void);
/* Preflight (spec §8.1), shared by the run, `console` and `repl`: resolves the
 * accelerator from --accel or the config, checks QEMU and finds the agent binary
 * (required only when need_agent), and fills ro->accel, ro->tsc_khz and ro->agent_bin.
 * With ro->no_preflight only the accelerator is decided. Prints the problem; -1. */
int run_preflight(struct run_opts *ro, const struct config *cfg, int need_agent);
/* Fills env from the preflight's decisions (accelerator, TSC rate, agent binary, still
 * owned by ro) with `scratch` as its private directory, or a new one when NULL. -1
 * (printed) when no scratch directory can be made. */
struct host_env;
int host_env_init(struct host_env *env, const struct config *cfg, const struct run_opts *ro,
                  const char *scratch);

#endif
