/* list.c - `provium list [--fixtures] [--shard K/N [--durations FILE]] [PATHS]`: the
 * test files (or fixture names) a run would see, one per line; with --shard only those
 * shard K of N runs (the same placement as the run's, run/shard.c). No preflight. */
#include "cli.h"

#include "config/config.h"
#include "run/run.h"
#include "run/shard.h"
#include "util/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static void print_rel(const char *abs)
{
    char *cwd = path_resolve(NULL, ".");
    size_t n = strlen(cwd);
    puts(!strncmp(abs, cwd, n) && abs[n] == '/' ? abs + n + 1 : abs);
    free(cwd);
}

/* --shard K/N [--durations FILE]: the files of shard K, as a run places them. */
static int list_shard(struct config *cfg, struct strv *paths, const char *shard,
                      const char *durations)
{
    struct run_opts ro = {0};
    char why[512];
    if (shard_parse("--shard", shard, getenv("JOB_COMPLETION_INDEX"), &ro.shard_k, &ro.shard_n,
                    why, sizeof why) < 0)
        return cli_usage_error("list", "%s", why);
    ro.paths = *paths;
    ro.durations = durations;
    return run_list_shard(&ro, cfg);
}

int cmd_list(int argc, char **argv)
{
    const char *config_path = NULL, *shard = NULL, *durations = NULL;
    int fixtures = 0, err = 0;
    struct strv paths = {0};
    for (int i = 1; i < argc; i++) {
        const char *v;
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            puts("usage: provium list [--fixtures] [--config FILE] [--shard K/N [--durations FILE]]\n"
                 "                    [PATHS...]");
            strv_free(&paths);
            return 0;
        } else if ((v = cli_flag_value(argc, argv, &i, "--config", &err)))
            config_path = v;
        else if (!err && (v = cli_flag_value(argc, argv, &i, "--shard", &err)))
            shard = v;
        else if (!err && (v = cli_flag_value(argc, argv, &i, "--durations", &err)))
            durations = v;
        else if (err) {
            strv_free(&paths);
            return 2;
        } else if (!strcmp(argv[i], "--fixtures"))
            fixtures = 1;
        else if (argv[i][0] == '-') {
            strv_free(&paths);
            return cli_usage_error("list", "unknown option '%s'", argv[i]);
        } else
            strv_push(&paths, argv[i]);
    }
    struct config *cfg = cli_load_config(config_path);
    if (!cfg) {
        strv_free(&paths);
        return 2;
    }
    if (shard && !fixtures) {
        int rc = list_shard(cfg, &paths, shard, durations);
        strv_free(&paths);
        config_free(cfg);
        return rc;
    }
    if (fixtures) {
        for (size_t r = 0; r < cfg->n_roots; r++) {
            const char *root = cfg->roots[r];
            struct strv f = {0};
            walk_files_with_suffix(root, ".fixture.lua", &f);
            size_t rl = strlen(root);
            for (size_t i = 0; i < f.n; i++)
                printf("%.*s  (%s)\n", (int)(strlen(f.v[i]) - rl - 1 - 12), f.v[i] + rl + 1, root);
            strv_free(&f);
        }
    } else {
        struct strv dirs = {0};
        if (paths.n)
            for (size_t i = 0; i < paths.n; i++) {
                char *abs = path_resolve(NULL, paths.v[i]);
                struct stat st;
                if (stat(abs, &st) == 0 && !S_ISDIR(st.st_mode))
                    print_rel(abs);
                else
                    strv_push(&dirs, abs);
                free(abs);
            }
        else
            for (size_t i = 0; i < cfg->n_roots; i++)
                strv_push(&dirs, cfg->roots[i]);
        for (size_t d = 0; d < dirs.n; d++) {
            struct strv f = {0};
            walk_files_with_suffix(dirs.v[d], ".test.lua", &f);
            for (size_t i = 0; i < f.n; i++)
                print_rel(f.v[i]);
            strv_free(&f);
        }
        strv_free(&dirs);
    }
    strv_free(&paths);
    config_free(cfg);
    return 0;
}
