/* cli.h - one entry point per subcommand (git style: one file each in src/cli/). */
#ifndef PROVIUM_CLI_H
#define PROVIUM_CLI_H

#include <stdarg.h>

int cmd_run(int argc, char **argv);   /* provium [PATHS] [FLAGS] */
int cmd_image(int argc, char **argv); /* provium image build ... */
int cmd_fixture(int argc, char **argv); /* provium fixture list|build|... */
int cmd_prepare(int argc, char **argv); /* provium prepare [PROFILE] */
int cmd_list(int argc, char **argv);    /* provium list [--fixtures] */

/* Prints "provium: [cmd: ]message (see provium [cmd] --help)" and returns 2. */
int cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
const char *cli_flag_value(int argc, char **argv, int *i, const char *name, int *error);

#endif
