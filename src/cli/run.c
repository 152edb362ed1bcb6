/* run.c - `provium [PATHS...] [FLAGS]`: parse the test-run flags, then hand over to
 * the runner. Flags take their value as the next argument or after `=`. */
#include "cli.h"

#include "config/config.h"
#include "fixture/remote.h"
#include "run/run.h"
#include "run/shard.h"
#include "run/since.h"
#include "run/watch.h"
#include "util/units.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Shared with `provium --help` (main.c), which lists it under the subcommands. */
const char cli_run_flags[] =
    "  --config FILE          config file (default ./provium.toml)\n"
    "  --filter SUBSTR        keep files whose path contains SUBSTR (repeatable)\n"
    "  --tag T, --no-tag T    run only / skip tests tagged T (repeatable)\n"
    "  --tag-meta K=V, --no-tag-meta K=V   filter on test meta (repeatable)\n"
    "  --include-slow         also run tests with meta.slow\n"
    "  --jobs N               most files at once (default: online CPUs)\n"
    "  --mem SIZE, --cpus N   memory and vCPU pool (default: 80% of RAM, online CPUs)\n"
    "  --cpu-overcommit F     pool CPUs = cpus x F\n"
    "  --timeout DUR          per-file limit (default 300s, 0 = none)\n"
    "  --fail-fast            start no new file after the first failure\n"
    "  --rerun-failed         run only the tests that failed last time\n"
    "  --json                 JSON lines report on stdout\n"
    "  --junit FILE           also write JUnit XML\n"
    "  --events FILE|-        event stream as JSON lines ('-' = stdout)\n"
    "  -v, -q                 more output / only failures and the summary\n"
    "  --no-progress          no progress line\n"
    "  --no-build             skip dynamic-profile builds\n"
    "  --no-preflight         skip preflight checks\n"
    "  --accel kvm|tcg|auto   acceleration policy\n"
    "  --since REF            only the test files changed since git REF, or whose\n"
    "                         helpers or fixtures changed (untracked files count);\n"
    "                         a FILE instead: the files modified after it\n"
    "  --watch                after the run, re-run the affected files on every change\n"
    "  --keep-failed[=DIR]    snapshot each failed test's lab into DIR/<file>/<test>/\n"
    "                         (default ./provium-failures); reopen with `provium debug`\n"
    "  --keep-failed-max N    most failures kept per run (default 5)\n"
    "  --shard K/N            run only shard K of N (1-based; auto/N: K-1 from\n"
    "                         JOB_COMPLETION_INDEX; also PROVIUM_SHARD=K/N)\n"
    "  --durations FILE       balance shards by the seconds recorded in FILE\n"
    "  --save-durations FILE  record each file's seconds in FILE (merged)\n"
    "  --remote-cache URL     shared fixture cache over HTTP (also PROVIUM_REMOTE_CACHE)\n"
    "  --version, -h, --help\n";

static const char RUN_USAGE[] =
    "usage: provium [PATHS...] [FLAGS]\n"
    "\n"
    "Runs *.test.lua files (PATHS, else the roots of provium.toml), each in its own worker.\n"
    "\n";

int cli_usage_error(const char *cmd, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    warnx_p("%s (see provium %s%s--help)", msg, cmd ? cmd : "", cmd ? " " : "");
    return 2;
}

/* Matches --name VALUE or --name=VALUE; advances *i. Returns the value or NULL. */
const char *cli_flag_value(int argc, char **argv, int *i, const char *name, int *error)
{
    const char *a = argv[*i];
    size_t n = strlen(name);
    if (strncmp(a, name, n) != 0)
        return NULL;
    if (a[n] == '=')
        return a + n + 1;
    if (a[n] != 0)
        return NULL;
    if (*i + 1 >= argc) {
        warnx_p("option '%s' needs a value (see --help)", name);
        *error = 1;
        return NULL;
    }
    return argv[++*i];
}

struct config *cli_load_config(const char *path)
{
    char err[4096];
    struct config *cfg = config_load(path, err, sizeof err);
    if (!cfg)
        warnx_p("%s", err);
    return cfg;
}

/* A count up to 4096 (--jobs, --cpus) into *out: 1, else 2 (usage error printed). */
static int count_value(const char *flag, const char *v, int *out)
{
    char *end;
    long n = strtol(v, &end, 10);
    if (*end || n < 1 || n > 4096)
        return cli_usage_error(NULL, "%s must be a positive integer, got '%s'", flag, v);
    *out = (int)n;
    return 1;
}

/* The flags with a value: 1 when argv[*i] was one (its value taken), 0 when it is not
 * (*err set when it was one without its value), 2 on a bad value (printed). */
static int value_flag(int argc, char **argv, int *i, struct run_opts *ro, int *err)
{
    const char *v;
    if ((v = cli_flag_value(argc, argv, i, "--config", err)))
        ro->config_path = v;
    else if ((v = cli_flag_value(argc, argv, i, "--filter", err)))
        strv_push(&ro->filters, v);
    else if ((v = cli_flag_value(argc, argv, i, "--tag-meta", err)))
        strv_push(&ro->tag_meta, v);
    else if ((v = cli_flag_value(argc, argv, i, "--no-tag-meta", err)))
        strv_push(&ro->no_tag_meta, v);
    else if ((v = cli_flag_value(argc, argv, i, "--tag", err)))
        strv_push(&ro->tags, v);
    else if ((v = cli_flag_value(argc, argv, i, "--no-tag", err)))
        strv_push(&ro->no_tags, v);
    else if ((v = cli_flag_value(argc, argv, i, "--jobs", err)))
        return count_value("--jobs", v, &ro->jobs);
    else if ((v = cli_flag_value(argc, argv, i, "--timeout", err))) {
        if (units_parse_duration(v, 0, &ro->file_timeout) < 0)
            return cli_usage_error(NULL, "invalid duration: %s", v);
    } else if ((v = cli_flag_value(argc, argv, i, "--junit", err)))
        ro->junit = v;
    else if ((v = cli_flag_value(argc, argv, i, "--events", err)))
        ro->events = v;
    else if ((v = cli_flag_value(argc, argv, i, "--accel", err)))
        ro->accel_flag = v;
    else if ((v = cli_flag_value(argc, argv, i, "--shard", err)))
        ro->shard = v;
    else if ((v = cli_flag_value(argc, argv, i, "--durations", err)))
        ro->durations = v;
    else if ((v = cli_flag_value(argc, argv, i, "--save-durations", err)))
        ro->save_durations = v;
    else if ((v = cli_flag_value(argc, argv, i, "--remote-cache", err))) {
        if (!remote_url_ok(v))
            return cli_usage_error(NULL, "--remote-cache: expected an http:// or https:// URL, "
                                         "got '%s'", v);
        setenv("PROVIUM_REMOTE_CACHE", v, 1); /* flag > env > file; workers inherit it */
    } else if ((v = cli_flag_value(argc, argv, i, "--since", err)))
        ro->since = v;
    else if ((v = cli_flag_value(argc, argv, i, "--mem", err))) {
        if (units_parse_size(v, &ro->pool_memory) < 0 || ro->pool_memory == 0)
            return cli_usage_error(NULL, "invalid size: %s", v);
    } else if ((v = cli_flag_value(argc, argv, i, "--keep-failed-max", err)))
        return count_value("--keep-failed-max", v, &ro->keep_failed_max);
    else if ((v = cli_flag_value(argc, argv, i, "--cpus", err)))
        return count_value("--cpus", v, &ro->pool_cpus);
    else if ((v = cli_flag_value(argc, argv, i, "--cpu-overcommit", err))) {
        char *end;
        ro->cpu_overcommit = strtod(v, &end);
        if (*end || !(ro->cpu_overcommit > 0))
            return cli_usage_error(NULL, "--cpu-overcommit must be a positive number, got '%s'", v);
    } else
        return 0;
    return 1;
}

/* The flags without a value: 1 when a was one, else 0. */
static int switch_flag(const char *a, struct run_opts *ro)
{
    if (!strcmp(a, "--include-slow"))
        ro->include_slow = 1;
    else if (!strcmp(a, "--fail-fast"))
        ro->fail_fast = 1;
    else if (!strcmp(a, "--rerun-failed"))
        ro->rerun_failed = 1;
    else if (!strcmp(a, "--json"))
        ro->json = 1;
    else if (!strcmp(a, "-v") || !strcmp(a, "--verbose"))
        ro->verbose++;
    else if (!strcmp(a, "-q") || !strcmp(a, "--quiet"))
        ro->quiet = 1;
    else if (!strcmp(a, "--no-progress"))
        ro->no_progress = 1;
    else if (!strcmp(a, "--no-build"))
        ro->no_build = 1;
    else if (!strcmp(a, "--no-preflight"))
        ro->no_preflight = 1;
    else if (!strcmp(a, "--watch"))
        ro->watch = 1;
    else if (!strcmp(a, "--keep-failed") || !strncmp(a, "--keep-failed=", 14))
        ro->keep_failed = a[13] ? a + 14 : "provium-failures";
    else
        return 0;
    return 1;
}

/* --shard, else PROVIUM_SHARD, into ro->shard_k/n; -1 on a bad value (printed). */
static int shard_opts(struct run_opts *ro)
{
    const char *what = "--shard", *spec = ro->shard;
    char why[512];
    char *env = getenv("PROVIUM_SHARD") ? xstrdup(getenv("PROVIUM_SHARD")) : NULL;
    int rc = 0;
    /* consumed here: a test that runs provium itself is not sharded by it */
    unsetenv("PROVIUM_SHARD");
    if (!spec && env && *env) {
        spec = env;
        what = "PROVIUM_SHARD";
    }
    if (spec && shard_parse(what, spec, getenv("JOB_COMPLETION_INDEX"), &ro->shard_k,
                            &ro->shard_n, why, sizeof why) < 0) {
        cli_usage_error(NULL, "%s", why);
        rc = -1;
    }
    free(env);
    return rc;
}

int cmd_run(int argc, char **argv)
{
    struct run_opts ro = {0};
    ro.file_timeout = 300;
    remote_run_begin(); /* one "remote unreachable" warning for the whole run */
    ro.keep_failed_max = 5;
    ro.argc = argc;
    ro.argv = argv;
    int err = 0, rc = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int taken;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            fputs(RUN_USAGE, stdout);
            fputs(cli_run_flags, stdout);
            goto out;
        } else if ((taken = value_flag(argc, argv, &i, &ro, &err)) == 2) {
            rc = 2;
            goto out;
        } else if (taken)
            continue;
        else if (err)
            break;
        else if (switch_flag(a, &ro))
            continue;
        else if (a[0] == '-' && a[1]) {
            rc = cli_usage_error(NULL, "unknown option '%s'", a);
            goto out;
        } else
            strv_push(&ro.paths, a);
    }
    if (err) {
        rc = 2;
        goto out;
    }
    if (ro.verbose && ro.quiet) {
        rc = cli_usage_error(NULL, "-v and -q are mutually exclusive");
        goto out;
    }
    char why[512];
    if (ro.since && since_changed(ro.config_path, ro.since, &ro.changed, why, sizeof why) < 0) {
        rc = cli_usage_error(NULL, "%s", why);
        goto out;
    }
    if (shard_opts(&ro) < 0) {
        rc = 2;
        goto out;
    }
    ro.select_changed = ro.since != NULL;
    g_verbose = ro.verbose;
    if (ro.keep_failed)
        ro.keep_failed_run = xasprintf("%s-%lld", owner_tag(), (long long)now_ns());
    rc = ro.watch ? watch_main(&ro) : runner_main(&ro);
out:
    strv_free(&ro.paths);
    strv_free(&ro.filters);
    strv_free(&ro.tags);
    strv_free(&ro.no_tags);
    strv_free(&ro.tag_meta);
    strv_free(&ro.no_tag_meta);
    strv_free(&ro.changed);
    free(ro.keep_failed_run);
    return rc;
}
