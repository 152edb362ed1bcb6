/* shard.h - `--shard K/N`: which test files shard K of N runs (shard.c), and the
 * --durations / --save-durations file that balances the shards. */
#ifndef PROVIUM_SHARD_H
#define PROVIUM_SHARD_H

#include "util/util.h"

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#define SHARD_MAX 100000

/* Parses "K/N" (1 <= K <= N) or "auto/N" (K-1 from job_index, the value of
 * JOB_COMPLETION_INDEX, NULL when unset) into *k and *n. `what` names the flag or the
 * variable in the message. 0, else -1 with the reason in err. */
int shard_parse(const char *what, const char *spec, const char *job_index, int *k, int *n,
                char *err, size_t errlen);

/* One test file to place: its root-relative path, its weight (any unit, > 0) and the
 * literal fixture names it refers to (NULL: none). */
struct shard_file {
    const char *path;
    int64_t weight;
    const struct strv *refs;
};

/* Places each of files[0..n) on one of `shards` shards: out[i] is 0-based. A pure
 * function of the set of (path, weight, refs): the order of files does not matter.
 * The rule (also in the README, "Many machines"):
 *   - files that share a fixture name, directly or through other files, form a group;
 *   - units (whole groups and single files) go, heaviest first (equal weights in the
 *     order of the FNV-1a hash of their first path, then by path), each to the shard
 *     with the least weight so far (the lowest-numbered on a tie);
 *   - the bound is the larger of 110 % of the ideal (total / shards) and the heaviest
 *     shard when no file is grouped; while the heaviest shard exceeds it, the heaviest
 *     group still whole (on a tie the one with the smallest first path) is split into
 *     single files and the placement is redone. */
void shard_assign(const struct shard_file *files, size_t n, int shards, int *out);

/* Loads a durations file, a JSON object: root-relative path -> seconds. 0 with *out (an
 * object), else -1 with the reason in err. */
int shard_durations_load(const char *path, json_t **out, char *err, size_t errlen);
/* The median of the durations in seconds (1 when there is none): the weight of a file
 * the durations file does not know. */
double shard_durations_median(json_t *durations);
/* A file's weight in microseconds (at least 1): its recorded seconds, else `unknown`. */
int64_t shard_weight(json_t *durations, const char *rel, double unknown);
/* The root-relative path of abs: relative to dir when below it, else `fallback`
 * (malloc'd). */
char *shard_rel_path(const char *dir, const char *abs, const char *fallback);

/* `provium list --shard K/N`: prints (relative to cwd) the files a run with the same
 * PATHS, --durations and --shard would run (discover.c); 0, else 2 (printed). */
struct run_opts;
struct config;
int run_list_shard(const struct run_opts *ro, const struct config *cfg);

#endif
