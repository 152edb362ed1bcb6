/* emit.h - ENTRY -> IR: a .json manifest is read; a .py, .ts or executable workload
 * program is run with PROVIUM_FORGE_IR_OUT=<temp file> and PROVIUM_FORGE_EMITTING=1 and
 * must write its IR there (spec §10.6). */
#ifndef PROVIUM_FORGE_EMIT_H
#define PROVIUM_FORGE_EMIT_H

#include "forge/errors.h"

#include <jansson.h>

/* The IR of entry (new reference), and in *manifest_dir (malloc'd) the directory that
 * relative source paths resolve against (the entry's). NULL with errs filled. */
json_t *forge_emit_ir(const char *entry, char **manifest_dir, struct forge_errors *errs);

#endif
