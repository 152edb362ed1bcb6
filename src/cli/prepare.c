/* prepare.c - `provium prepare [PROFILE]`: run dynamic-profile builds, boot nothing.
 * Skips preflight, so images can be built where VMs cannot run. */
#include "cli.h"

#include "config/config.h"
#include "run/build.h"
#include "util/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int cmd_prepare(int argc, char **argv)
{
    const char *config_path = NULL, *profile = NULL;
    int err = 0;
    for (int i = 1; i < argc; i++) {
        const char *v;
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            puts("usage: provium prepare [PROFILE] [--config FILE]\n"
                 "Runs the build command of PROFILE, or of every profile that has one.");
            return 0;
        } else if ((v = cli_flag_value(argc, argv, &i, "--config", &err)))
            config_path = v;
        else if (err)
            return 2;
        else if (argv[i][0] == '-')
            return cli_usage_error("prepare", "unknown option '%s'", argv[i]);
        else if (!profile)
            profile = argv[i];
        else
            return cli_usage_error("prepare", "unexpected argument '%s'", argv[i]);
    }
    struct config *cfg = cli_load_config(config_path);
    if (!cfg)
        return 2;
    int rc = 0;
    if (profile) {
        const struct profile *p = config_profile(cfg, profile);
        if (!p) {
            char *names = config_profile_names(cfg);
            warnx_p("unknown profile `%s` (known: %s)", profile, names);
            free(names);
            rc = 2;
        } else if (!p->build) {
            printf("provium: profile `%s` has no build command; nothing to do\n", profile);
        } else if (profile_build(cfg, p, NULL, NULL) < 0) {
            rc = 2;
        }
    } else if (profiles_build_all(cfg, NULL, NULL) < 0) {
        rc = 2;
    }
    config_free(cfg);
    return rc;
}
