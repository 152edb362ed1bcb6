/* rerun.h - the `--rerun-failed` state file (rerun.c). */
#ifndef PROVIUM_RERUN_H
#define PROVIUM_RERUN_H

#include "util/util.h"

struct rerun_entry {
    char *path;        /* absolute path of the test file */
    int whole_file;    /* failed outside any test: run it all */
    struct strv tests; /* names of the failed tests */
};

struct rerun_set {
    struct rerun_entry *v;
    size_t n;
};

/* $PROVIUM_RERUN_STATE, else $XDG_CACHE_HOME/provium/rerun-<hash>.json where the hash
 * is of `project`, the config file's absolute path: one state per project (malloc'd). */
char *rerun_state_path(const char *project);
/* Loads the state (a missing file is an empty set); -1 with err when unreadable. */
int rerun_load(const char *state, struct rerun_set *out, char *err, size_t errlen);
/* Writes the state atomically (creating its directory); -1 with errno. */
int rerun_save(const char *state, const struct rerun_set *s);
/* Finds or adds the entry of a file. */
struct rerun_entry *rerun_add(struct rerun_set *s, const char *abs_path);
const struct rerun_entry *rerun_find(const struct rerun_set *s, const char *abs_path);
void rerun_set_free(struct rerun_set *s);

#endif
