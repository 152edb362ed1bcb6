/* cli.h - one entry point per subcommand (git style: one file each in src/cli/). */
#ifndef PROVIUM_CLI_H
#define PROVIUM_CLI_H

#include <stdarg.h>
#include <stddef.h>

int cmd_run(int argc, char **argv);   /* provium [PATHS] [FLAGS] */
int cmd_image(int argc, char **argv); /* provium image build ... */
int cmd_forge(int argc, char **argv); /* provium forge canonicalize|validate|emit|compile|up|... */
int cmd_fixture(int argc, char **argv); /* provium fixture list|build|... */
int cmd_prepare(int argc, char **argv); /* provium prepare [PROFILE] */
int cmd_list(int argc, char **argv);    /* provium list [--fixtures] */
int cmd_console(int argc, char **argv); /* provium console PROFILE */
int cmd_repl(int argc, char **argv);    /* provium repl [PROFILE] */
int cmd_debug(int argc, char **argv);   /* provium debug DIR (a --keep-failed failure) */
int cmd_report(int argc, char **argv); /* provium report merge EVENTS... [--junit FILE] */
int cmd_init(int argc, char **argv);    /* provium init [DIR] [--force] */
int cmd_lsp_setup(int argc, char **argv); /* provium lsp-setup [DIR] [--force] */

/* Prints "provium: message (see provium [cmd ]--help)" and returns 2. */
int cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
const char *cli_flag_value(int argc, char **argv, int *i, const char *name, int *error);

struct config;
struct profile;
/* config_load of path (NULL: ./provium.toml), else prints why and returns NULL. */
struct config *cli_load_config(const char *path);
/* The profile called name, else prints "unknown profile `X` (known: ...)" and NULL. */
const struct profile *cli_find_profile(const struct config *cfg, const char *name);
extern const char cli_run_flags[]; /* the test-run flag list, for `provium --help` */

/* console.c, shared with repl.c: preflight (as ro asks), the profile's build (p may be
 * NULL; skipped with no_build) and, unless env is NULL, a host_env with a fresh scratch
 * dir. On failure it has printed why, freed ro->agent_bin and returns -1. */
struct run_opts;
struct host_env;
int cli_session_env(const struct config *cfg, const struct profile *p, int no_build,
                    int need_agent, struct run_opts *ro, struct host_env *env);

/* repl.c, shared with debug.c: the REPL's prompt over a state of lstate_open.
 * repl_begin installs its signal handlers and os.exit (ends the prompt with its code);
 * repl_call runs the function under the nargs arguments on top of L, a Ctrl-C or
 * SIGTERM stopping it (0, 1 with the error printed, 2 after os.exit, 130 when
 * stopped); repl_prompt reads and evaluates lines until EOF, .exit or os.exit (banner
 * printed on a terminal) and returns the exit code (1 without a terminal when a line
 * raised, 130 on a signal);
 * repl_end(rc) says why when rc is 130 and puts the signal handlers back. */
struct lstate;
struct lua_State;
void repl_begin(struct lstate *s);
int repl_call(struct lua_State *L, struct host_env *env, int nargs);
int repl_prompt(struct lua_State *L, const char *banner);
int repl_stopped(void);    /* a Ctrl-C or a stop signal came */
int repl_exit_code(void);  /* the code os.exit was given */
void repl_end(int rc);

/* lsp.c, shared with init.c */
char *cli_shown_path(const char *dir, const char *rel); /* DIR/rel, without a "./" prefix */
int cli_path_taken(const char *path);                   /* anything there (lstat) */
int cli_write_text(const char *path, const char *text, size_t len); /* mkdir -p, atomic; 0 or 2 */
int lsp_setup_check(const char *dir, int force, const char *cmd); /* 0, or 2 naming the file */
int lsp_setup_write(const char *dir);                   /* the two lsp-setup files; 0 or 2 */
/* The arguments of init and lsp-setup, [DIR] [--force] (DIR defaults to "."): -1 to go
 * on, else the exit status (0 after printing usage for --help, 2 after a usage error). */
int cli_dir_force_args(int argc, char **argv, const char *cmd, const char *usage,
                       const char **dir, int *force);

#endif
