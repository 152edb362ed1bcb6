/* fixture.c - `provium fixture list|build|rebuild|clean|stale|push|pull`: manage the
 * fixture cache (push and pull copy entries to and from the remote cache, remote.h).
 *
 * list, clean and stale need no VM and skip preflight. build and rebuild run the
 * fixture through the same code path a test uses (lock, build, install; lfixture.c) in
 * a Lua state of a child process, without restoring it afterwards; on Ctrl-C this
 * process ends the child and removes its temp files before exiting 130. */
#include "cli.h"

#include "fixture/fixture.h"
#include "fixture/remote.h"
#include "lua/lfixture.h"
#include "run/build.h"
#include "run/lstate.h"
#include "run/run.h"
#include "vm/snapshot.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static const char FIXTURE_USAGE[] =
    "usage: provium fixture list\n"
    "       provium fixture build PATH      build a fixture unless cached\n"
    "       provium fixture rebuild PATH    evict, then build\n"
    "       provium fixture clean           delete every cache entry\n"
    "       provium fixture stale           list fixtures whose key has no entry\n"
    "       provium fixture push [PATH]     upload local entries the remote cache lacks\n"
    "       provium fixture pull [PATH]     download entries from the remote cache\n"
    "options: --config FILE, --accel kvm|tcg|auto, --no-build, --remote-cache URL, -v\n"
    "`provium fixture VERB --help` describes one verb.\n";

/* `provium fixture VERB --help` */
static const struct {
    const char *verb, *usage;
} fixture_verbs[] = {
    {"list", "usage: provium fixture list [--config FILE]\n"
             "\n"
             "One line per cache entry: size (MiB), kind (vm|lab), key, fixture name;\n"
             "then `N entries, X.XXMiB`. Temporary files of builds in progress follow as\n"
             "`tmp` lines and end the summary with `; N build(s) in progress, X.XXMiB`\n"
             "(they count toward cache_max_size). No preflight.\n"},
    {"build", "usage: provium fixture build PATH [--config FILE] [--accel kvm|tcg|auto] [--no-build] [-v]\n"
              "\n"
              "Builds the fixture PATH (root-relative, without .fixture.lua, e.g. fixtures/base)\n"
              "unless its current key is cached (then prints `already built: PATH`). Runs the\n"
              "dynamic-profile builds first unless --no-build. Exit 1 when the fixture fails.\n"},
    {"rebuild", "usage: provium fixture rebuild PATH [--config FILE] [--accel kvm|tcg|auto] [--no-build] [-v]\n"
                "\n"
                "Evicts the cache entry of fixture PATH, then builds it as `fixture build` does.\n"},
    {"clean", "usage: provium fixture clean [--config FILE]\n"
              "\n"
              "Deletes every entry in the fixture cache directory (cache_dir). No preflight.\n"},
    {"stale", "usage: provium fixture stale [--config FILE]\n"
              "\n"
              "Lists the fixture files whose current key has no cache entry, then\n"
              "`N stale fixture(s)`. Builds nothing, no preflight.\n"},
    {"push", "usage: provium fixture push [PATH] [--config FILE] [--remote-cache URL]\n"
             "\n"
             "Uploads the local cache entries the remote cache lacks: every entry, or only\n"
             "fixture PATH's current one. Needs remote_cache (or PROVIUM_REMOTE_CACHE,\n"
             "--remote-cache) in read-write mode. Exit 1 when an upload fails.\n"},
    {"pull", "usage: provium fixture pull [PATH] [--config FILE] [--remote-cache URL]\n"
             "\n"
             "Downloads fixture PATH's current entry, or those of every fixture under the\n"
             "roots, from the remote cache into the local one (digest checked). Exit 1 when\n"
             "a download fails or PATH is not on the remote.\n"},
};

/* Builds in progress (temps whose writer runs; dead writers' were removed at start):
 * one `tmp` line each, after the entries. Returns their bytes. */
static uint64_t list_in_progress(const struct config *cfg, const struct strv *tmps)
{
    uint64_t total = 0;
    for (size_t i = 0; i < tmps->n; i++) {
        char *p = path_join(cfg->cache_dir, tmps->v[i]);
        uint64_t b = cache_entry_bytes(p);
        printf("%10.2fMiB  tmp  %s  (build in progress)\n", (double)b / (1 << 20), tmps->v[i]);
        total += b;
        free(p);
    }
    return total;
}

static int fixture_list(const struct config *cfg)
{
    DIR *d = opendir(cfg->cache_dir);
    struct strv names = {0}, tmps = {0};
    struct dirent *de;
    while (d && (de = readdir(d))) {
        size_t n = strlen(de->d_name);
        if ((n == 69 && !strcmp(de->d_name + 64, ".snap")) ||
            (n == 68 && !strcmp(de->d_name + 64, ".lab")))
            strv_push(&names, de->d_name);
        else if (cache_tmp_state(de->d_name) != CACHE_NOT_TMP)
            strv_push(&tmps, de->d_name);
    }
    if (d)
        closedir(d);
    strv_sort(&names);
    strv_sort(&tmps);
    uint64_t total = 0;
    for (size_t i = 0; i < names.n; i++) {
        char *p = path_join(cfg->cache_dir, names.v[i]);
        uint64_t b = cache_entry_bytes(p);
        int lab = strstr(names.v[i], ".lab") != NULL;
        char err[256];
        char *metap = lab ? path_join(p, "lab.json") : xstrdup(p);
        json_t *meta = lab ? json_load_file(metap, 0, NULL) : snapshot_read_meta(p, err, sizeof err);
        const char *fx = meta ? json_string_value(json_object_get(meta, "fixture")) : NULL;
        printf("%10.2fMiB  %-3s  %.64s  %s\n", (double)b / (1 << 20), lab ? "lab" : "vm",
               names.v[i], fx ? fx : "?");
        json_decref(meta);
        free(metap);
        free(p);
        total += b;
    }
    uint64_t building = list_in_progress(cfg, &tmps);
    printf("\n%zu entries, %.2fMiB", names.n, (double)total / (1 << 20));
    if (tmps.n) /* they count toward cache_max_size too */
        printf("; %zu build(s) in progress, %.2fMiB", tmps.n, (double)building / (1 << 20));
    printf("\n");
    strv_free(&names);
    strv_free(&tmps);
    return 0;
}

static int fixture_clean(const struct config *cfg)
{
    DIR *d = opendir(cfg->cache_dir);
    if (!d)
        return 0;
    struct dirent *de;
    size_t n = 0;
    while ((de = readdir(d))) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
            continue;
        char *p = path_join(cfg->cache_dir, de->d_name);
        rm_rf(p);
        free(p);
        n++;
    }
    closedir(d);
    printf("removed everything in %s\n", cfg->cache_dir);
    return 0;
}

static int fixture_stale(const struct config *cfg)
{
    size_t stale = 0;
    char *cwd = path_resolve(NULL, ".");
    for (size_t r = 0; r < cfg->n_roots; r++) {
        const char *root = cfg->roots[r];
        struct strv files = {0};
        walk_files_with_suffix(root, ".fixture.lua", &files);
        size_t rl = strlen(root);
        for (size_t i = 0; i < files.n; i++) {
            char *name = xstrndup(files.v[i] + rl + 1, strlen(files.v[i]) - rl - 1 - 12);
            char *owner = fixture_find(cfg, name);
            int shadowed = owner && strcmp(owner, files.v[i]) != 0;
            free(owner);
            char key[65], err[512];
            int is_stale = 0;
            if (!shadowed) {
                if (fixture_key(cfg, name, key, err, sizeof err) < 0)
                    is_stale = 1;
                else {
                    char *a = cache_entry_path(cfg, key, 0), *b = cache_entry_path(cfg, key, 1);
                    is_stale = !file_exists(a) && !file_exists(b);
                    free(a);
                    free(b);
                }
            }
            if (is_stale) {
                size_t cl = strlen(cwd);
                const char *shown = !strncmp(files.v[i], cwd, cl) && files.v[i][cl] == '/'
                                        ? files.v[i] + cl + 1
                                        : files.v[i];
                printf("  %s\n", shown);
                stale++;
            }
            free(name);
        }
        strv_free(&files);
    }
    free(cwd);
    printf("\n%zu stale fixture(s)\n", stale);
    return 0;
}

/* ---- push and pull (remote.h) ---- */

static struct remote *remote_or_error(const struct config *cfg, const char *verb)
{
    struct remote *r = remote_open(cfg);
    if (!r)
        warnx_p("fixture %s: no remote cache is set (remote_cache in provium.toml, "
                "PROVIUM_REMOTE_CACHE or --remote-cache URL)", verb);
    else if (!strcmp(verb, "push") && !remote_writable(r)) {
        warnx_p("fixture push: remote_cache_mode is \"read\"");
        remote_close(r);
        r = NULL;
    }
    return r;
}

/* Uploads one local entry unless the remote has it: 1 uploaded, 0 there, -1 failed. */
static int push_one(struct remote *r, const struct config *cfg, const char *key, int lab)
{
    char why[512] = "";
    uint64_t bytes = 0;
    char *entry = cache_entry_path(cfg, key, lab);
    int rc = remote_has_entry(r, key, why, sizeof why);
    if (rc == REMOTE_ABSENT)
        rc = remote_store_entry(r, cfg, key, entry, lab, &bytes, why, sizeof why) == REMOTE_OK
                 ? 1
                 : -1;
    else
        rc = rc == REMOTE_OK ? 0 : -1;
    if (rc == 1)
        printf("pushed %s.%s (%.2fMiB)\n", key, lab ? "lab" : "snap", (double)bytes / (1 << 20));
    else if (rc < 0)
        warnx_p("push %s: %s", key, why);
    free(entry);
    return rc;
}

static int fixture_push(const struct config *cfg, const char *name)
{
    struct remote *r = remote_or_error(cfg, "push");
    if (!r)
        return 2;
    struct strv names = {0};
    char key[65], err[512];
    if (name && fixture_key(cfg, name, key, err, sizeof err) < 0) {
        warnx_p("%s", err);
        remote_close(r);
        return 1;
    }
    DIR *d = opendir(cfg->cache_dir);
    struct dirent *de;
    while (d && (de = readdir(d))) {
        size_t n = strlen(de->d_name);
        int ok = (n == 69 && !strcmp(de->d_name + 64, ".snap")) ||
                 (n == 68 && !strcmp(de->d_name + 64, ".lab"));
        if (ok && (!name || !strncmp(de->d_name, key, 64)))
            strv_push(&names, de->d_name);
    }
    if (d)
        closedir(d);
    strv_sort(&names);
    int pushed = 0, failed = 0;
    for (size_t i = 0; i < names.n; i++) {
        char k[65];
        snprintf(k, sizeof k, "%.64s", names.v[i]);
        int rc = push_one(r, cfg, k, names.v[i][65] == 'l');
        pushed += rc == 1;
        failed += rc < 0;
    }
    int none = name && !names.n;
    if (none)
        warnx_p("fixture push: %s is not in the local cache (provium fixture build %s)", name, name);
    printf("%d pushed, %zu already on the remote, %d failed\n", pushed,
           names.n - (size_t)pushed - (size_t)failed, failed);
    strv_free(&names);
    remote_close(r);
    return failed || none ? 1 : 0;
}

/* Downloads one fixture's entry unless it is local: REMOTE_OK (pulled or already local),
 * REMOTE_ABSENT, REMOTE_DOWN or REMOTE_BAD (the key could not be computed, a corrupt
 * download...), each reported on its own line. */
static int pull_one(struct remote *r, const struct config *cfg, const char *name)
{
    char key[65], why[4096] = "";
    if (fixture_key(cfg, name, key, why, sizeof why) < 0) {
        warnx_p("%s", why);
        return REMOTE_BAD;
    }
    char *a = cache_entry_path(cfg, key, 0), *b = cache_entry_path(cfg, key, 1);
    int local = file_exists(a) || file_exists(b), lab = 0, rc = 0;
    free(a);
    free(b);
    uint64_t bytes = 0;
    if (local)
        printf("already local: %s\n", name);
    else if ((rc = remote_fetch_entry(r, cfg, key, &lab, &bytes, why, sizeof why)) == REMOTE_OK)
        printf("pulled %s (%.2fMiB)\n", name, (double)bytes / (1 << 20));
    else if (rc == REMOTE_ABSENT)
        printf("not on the remote: %s\n", name);
    else
        warnx_p("pull %s (%s): %s", name, key, why);
    return rc;
}

static int fixture_pull(const struct config *cfg, const char *name)
{
    struct remote *r = remote_or_error(cfg, "pull");
    if (!r)
        return 2;
    int failed = 0, down = 0;
    if (name)
        failed = pull_one(r, cfg, name) != REMOTE_OK;
    for (size_t k = 0; !name && !down && k < cfg->n_roots; k++) {
        struct strv files = {0};
        walk_files_with_suffix(cfg->roots[k], ".fixture.lua", &files);
        size_t rl = strlen(cfg->roots[k]);
        for (size_t i = 0; i < files.n && !down; i++) {
            char *fx = xstrndup(files.v[i] + rl + 1, strlen(files.v[i]) - rl - 1 - 12);
            char *owner = fixture_find(cfg, fx);
            if (owner && !strcmp(owner, files.v[i])) { /* not shadowed by an earlier root */
                int rc = pull_one(r, cfg, fx); /* one missing on the remote is no failure */
                failed |= rc == REMOTE_BAD || rc == REMOTE_DOWN;
                down = rc == REMOTE_DOWN; /* the others would only wait for it too */
            }
            free(owner);
            free(fx);
        }
        strv_free(&files);
    }
    remote_close(r);
    return failed;
}

static void print_event(void *ud, const char *kind, void *obj)
{
    (void)ud;
    json_t *o = obj;
    if (g_verbose) {
        char *s = json_dumps(o, JSON_COMPACT);
        warnx_p("%s %s", kind, s ? s : "");
        free(s);
    }
    json_decref(o);
}

/* Is the fixture of this key cached? With rebuild its entry is evicted first (and
 * the answer is no). */
static int cached_unless_rebuild(const struct config *cfg, const char *key, int rebuild)
{
    char *entry = cache_entry_path(cfg, key, 0), *lab = cache_entry_path(cfg, key, 1);
    int cached = file_exists(entry) || file_exists(lab);
    if (rebuild) {
        cache_evict(entry);
        cache_evict(lab);
    }
    free(entry);
    free(lab);
    return cached && !rebuild;
}

static int fixture_build(struct config *cfg, const char *name, int rebuild, const char *accel_flag,
                         int no_build)
{
    struct run_opts ro = {0};
    ro.accel_flag = accel_flag;
    char key[65], err[4096];
    char *fx = NULL;
    struct lstate *s = NULL;
    int rc = 2;
    /* the profiles' builds come first: the key covers the kernels they produce */
    if (run_preflight(&ro, cfg, 1) < 0 || (!no_build && profiles_build_all(cfg, NULL, NULL) < 0))
        goto done;
    if (fixture_key(cfg, name, key, err, sizeof err) < 0) {
        warnx_p("%s", err);
        goto done;
    }
    if (cached_unless_rebuild(cfg, key, rebuild)) {
        printf("already built: %s\n", name);
        rc = 0;
        goto done;
    }
    fx = fixture_find(cfg, name);
    if (!(s = lstate_open(cfg, &ro, NULL, fx ? fx : name, name, print_event, NULL)))
        goto done;
    if (lfixture_ensure(s->L, name, err, sizeof err) == 0) {
        printf("built: %s\n", name);
        rc = 0;
    } else {
        warnx_p("%s", err);
        rc = 1;
    }
done:
    lstate_close(s, 0);
    free(fx);
    free(ro.agent_bin);
    return rc;
}

static volatile sig_atomic_t g_signal;

static void on_signal(int sig)
{
    g_signal = sig;
}

/* Runs fixture_build in a child, so that Ctrl-C (or SIGTERM, SIGHUP) still leaves no
 * temp file in the cache: the child dies (its QEMUs with it), this process removes
 * what it was writing and returns 128 + the signal. */
static int fixture_build_guarded(struct config *cfg, const char *name, int rebuild,
                                 const char *accel_flag, int no_build)
{
    static const int sigs[] = {SIGINT, SIGTERM, SIGHUP};
    struct sigaction sa = {0}, old[3];
    sa.sa_handler = on_signal; /* no SA_RESTART: waitpid returns on a signal */
    fflush(NULL);
    for (int i = 0; i < 3; i++)
        sigaction(sigs[i], &sa, &old[i]);
    pid_t pid = fork();
    if (pid <= 0) { /* the child, or no child: build here with the usual signals */
        for (int i = 0; i < 3; i++)
            sigaction(sigs[i], &old[i], NULL);
        int rc = fixture_build(cfg, name, rebuild, accel_flag, no_build);
        if (pid < 0)
            return rc;
        fflush(NULL);
        _exit(rc);
    }
    int status = 0;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR || (g_signal && kill(pid, SIGKILL) < 0 && errno != ESRCH))
            break;
    for (int i = 0; i < 3; i++)
        sigaction(sigs[i], &old[i], NULL);
    cache_remove_orphans(cfg, NULL); /* the temps of a build cut short */
    if (g_signal)
        return 128 + g_signal;
    if (WIFSIGNALED(status))
        return 128 + WTERMSIG(status);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}

int cmd_fixture(int argc, char **argv)
{
    const char *config_path = NULL, *accel = NULL, *verb = NULL, *target = NULL;
    int no_build = 0, err = 0, help = 0;
    for (int i = 1; i < argc; i++) {
        const char *v;
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h"))
            help = 1;
        else if ((v = cli_flag_value(argc, argv, &i, "--config", &err)))
            config_path = v;
        else if ((v = cli_flag_value(argc, argv, &i, "--accel", &err)))
            accel = v;
        else if ((v = cli_flag_value(argc, argv, &i, "--remote-cache", &err))) {
            if (!remote_url_ok(v))
                return cli_usage_error("fixture", "--remote-cache: expected an http:// or "
                                                  "https:// URL, got '%s'", v);
            setenv("PROVIUM_REMOTE_CACHE", v, 1);
        }
        else if (err)
            return 2;
        else if (!strcmp(argv[i], "--no-build"))
            no_build = 1;
        else if (!strcmp(argv[i], "-v"))
            g_verbose++;
        else if (argv[i][0] == '-')
            return cli_usage_error("fixture", "unknown option '%s'", argv[i]);
        else if (!verb)
            verb = argv[i];
        else if (!target)
            target = argv[i];
        else
            return cli_usage_error("fixture", "unexpected argument '%s'", argv[i]);
    }
    const char *verb_usage = NULL;
    for (size_t k = 0; verb && k < sizeof fixture_verbs / sizeof fixture_verbs[0]; k++)
        if (!strcmp(verb, fixture_verbs[k].verb))
            verb_usage = fixture_verbs[k].usage;
    if (help) {
        fputs(verb_usage ? verb_usage : FIXTURE_USAGE, stdout);
        return 0;
    }
    if (!verb)
        return cli_usage_error("fixture",
                               "missing subcommand (list, build, rebuild, clean, stale, push, pull)");
    if (!verb_usage)
        return cli_usage_error("fixture", "unknown subcommand '%s'", verb);
    struct config *cfg = cli_load_config(config_path);
    if (!cfg)
        return 2;
    int rc;
    int needs_target = !strcmp(verb, "build") || !strcmp(verb, "rebuild");
    int remote_verb = !strcmp(verb, "push") || !strcmp(verb, "pull");
    remote_run_begin();
    if (needs_target && !target)
        rc = cli_usage_error("fixture", "%s needs a fixture name, e.g. fixtures/base", verb);
    else if (remote_verb)
        rc = !strcmp(verb, "push") ? fixture_push(cfg, target) : fixture_pull(cfg, target);
    else if (!needs_target && target)
        rc = cli_usage_error("fixture", "unexpected argument '%s'", target);
    else {
        if (strcmp(verb, "clean") != 0)
            cache_enforce_limit(cfg, NULL, NULL);
        if (!strcmp(verb, "list"))
            rc = fixture_list(cfg);
        else if (!strcmp(verb, "clean"))
            rc = fixture_clean(cfg);
        else if (!strcmp(verb, "stale"))
            rc = fixture_stale(cfg);
        else if (needs_target)
            rc = fixture_build_guarded(cfg, target, !strcmp(verb, "rebuild"), accel, no_build);
        else
            rc = cli_usage_error("fixture", "unknown subcommand '%s'", verb);
    }
    config_free(cfg);
    return rc;
}
