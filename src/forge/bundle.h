/* bundle.h - the source bundle and tree_hash (spec §10.4). */
#ifndef PROVIUM_FORGE_BUNDLE_H
#define PROVIUM_FORGE_BUNDLE_H

#include "forge/errors.h"

#include <stddef.h>

struct bundle_result {
    char tree_hash[65]; /* lowercase hex SHA-256 */
    size_t file_count;  /* `f` and `l` entries */
};

/* Does glob (`**`, `*`, `?`, `[...]`) match the /-separated relative path? -1 if the glob
 * itself is invalid. */
int bundle_glob_match(const char *glob, const char *path);

/* Copies the kept entries of src_dir into dest_dir (created), computing the tree_hash.
 * dest_dir NULL: only hash. Errors (E_SOURCE_*) go to errs; returns 0 or -1. */
int bundle_source(const char *src_dir, const char *const *include, size_t n_include,
                  const char *const *exclude, size_t n_exclude, const char *dest_dir,
                  struct bundle_result *out, struct forge_errors *errs);

#endif
