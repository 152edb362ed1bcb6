/* ir.h - IR v0 validation (spec §10.1, §10.3). */
#ifndef PROVIUM_FORGE_IR_H
#define PROVIUM_FORGE_IR_H

#include "forge/errors.h"

#include <jansson.h>

/* Checks ir against the closed schema; every problem is added to errs (the paths as
 * ".apps[0].env.TOKEN"). manifest_dir (may be NULL: skip) resolves source.path for the
 * E_SOURCE_PATH_NOT_FOUND / _NOT_DIR checks. Returns 0 when nothing was added. */
int ir_validate(const json_t *ir, const char *manifest_dir, struct forge_errors *errs);

#endif
