/* compile.h - manifest -> artifact directory, shared by `compile`, `up` and `up --watch`. */
#ifndef PROVIUM_FORGE_COMPILE_H
#define PROVIUM_FORGE_COMPILE_H

#include "forge/bundle.h"
#include "forge/errors.h"

#include <jansson.h>

struct compile_result {
    char ir_hash[65];
    struct bundle_result src;
};

/* Validates ir (its manifest_dir resolves source.path), bundles, renders into a sibling
 * staging dir of out_dir and replaces out_dir atomically (staging removed on any failure).
 * Returns 0, or -1 with errs filled. */
int forge_compile_ir(const json_t *ir, const char *manifest_dir, const char *out_dir,
                     struct compile_result *res, struct forge_errors *errs);

#endif
