/* since.h - `--since REF` and the changed-file selection it shares with `--watch`.
 *
 * A run can be narrowed to the test files a set of changed paths affects: a test file
 * that changed itself, or one whose helpers, host files or fixtures (transitively, as the
 * fixture cache key finds them) changed; a changed provium.toml affects every file.
 * `--since` fills that set from git, `--watch` from inotify (watch.c). */
#ifndef PROVIUM_SINCE_H
#define PROVIUM_SINCE_H

#include "util/util.h"

#include <stddef.h>

struct config;
struct found; /* runner_int.h */

/* The canonical absolute form of path (symlinks resolved; for a path that no longer
 * exists, its directory resolved), so that git's, inotify's and the scanner's paths
 * compare equal (malloc'd). */
char *since_canon(const char *path);

/* --since REF: appends every file `git diff --name-only REF` names plus the untracked
 * ones, as canonical absolute paths, from the git work tree of the project (the config
 * file's directory). Returns 0, or -1 with the usage error in err (unknown ref, no git
 * work tree, no git). */
int since_changed(const char *config_path, const char *ref, struct strv *out, char *err,
                  size_t errlen);

/* Keeps in files[0..*n) only the test files `changed` affects (all of them when it holds
 * the config file); frees the others. */
void since_select(const struct config *cfg, const struct strv *changed, struct found *files,
                  size_t *n);

/* Does the test file at abs (canonical or not) depend on a path in `changed`, or is it
 * one of them? */
int since_affects(const struct config *cfg, const struct strv *changed, const char *abs);

#endif
