/* fixture.c - `provium fixture list|build|rebuild|clean|stale`: manage the fixture cache.
 *
 * list, clean and stale need no VM and skip preflight. build and rebuild run the
 * fixture through the same code path a test uses (lock, build, install; lfixture.c) in
 * a Lua state of a child process, without restoring it afterwards; on Ctrl-C this
 * process ends the child and removes its temp files before exiting 130. */
#include "cli.h"

#include "fixture/fixture.h"
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
    "options: --config FILE, --accel kvm|tcg|auto, --no-build, -v\n"
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
        return cli_usage_error("fixture", "missing subcommand (list, build, rebuild, clean, stale)");
    if (!verb_usage)
        return cli_usage_error("fixture", "unknown subcommand '%s'", verb);
    struct config *cfg = cli_load_config(config_path);
    if (!cfg)
        return 2;
    int rc;
    int needs_target = !strcmp(verb, "build") || !strcmp(verb, "rebuild");
    if (needs_target && !target)
        rc = cli_usage_error("fixture", "%s needs a fixture name, e.g. fixtures/base", verb);
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
