/* list.c - `provium list [--fixtures] [PATHS]`: the test files (or fixture names) a run
 * would see, one per line. No preflight. */
#include "cli.h"

#include "config/config.h"
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

int cmd_list(int argc, char **argv)
{
    const char *config_path = NULL;
    int fixtures = 0, err = 0;
    struct strv paths = {0};
    for (int i = 1; i < argc; i++) {
        const char *v;
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            puts("usage: provium list [--fixtures] [--config FILE] [PATHS...]");
            strv_free(&paths);
            return 0;
        } else if ((v = cli_flag_value(argc, argv, &i, "--config", &err)))
            config_path = v;
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
