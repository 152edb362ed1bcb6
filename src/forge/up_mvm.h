/* up_mvm.h - the pieces of the mvmctl backend (up_mvm.c) that tests reach directly: the
 * controller's version against the compiled-in floor, and the `up` command line it gets
 * (spec §10.6). up.c calls only up_mvm_run (up.h).
 */
#ifndef PROVIUM_FORGE_UP_MVM_H
#define PROVIUM_FORGE_UP_MVM_H

#include "forge/up.h"
#include "util/util.h"

/* The oldest controller `up --hypervisor mvmctl` accepts. */
#define MVM_VERSION_FLOOR "0.10.0"

/* A version X.Y.Z[-pre][+build] in text such as "mvmctl 0.10.1\n": the first token that
 * starts with a digit (or "v" and a digit). Fills v[0..2] and *pre (1 when a "-pre"
 * suffix makes it older than X.Y.Z itself). 0, or -1 when there is none. */
int mvm_parse_version(const char *text, unsigned long v[3], int *pre);

/* 1 when the version in text meets MVM_VERSION_FLOOR, 0 when older, -1 unreadable. */
int mvm_version_ok(const char *text);

/* The command line: bin up --flake artifact [flags of o] $PROVIUM_FORGE_UP_ARGS ARGS.
 * up_args is the variable's value (NULL or "" adds nothing; split on whitespace). */
void mvm_build_argv(struct strv *out, const char *bin, const char *artifact,
                    const struct up_opts *o, const char *up_args, int argc, char **argv);

/* The controller: $PROVIUM_FORGE_MVM_BIN (a path, or a name looked up on PATH), else
 * mvmctl, else mvm on PATH. malloc'd path, or NULL. */
char *mvm_find_bin(void);

#endif
