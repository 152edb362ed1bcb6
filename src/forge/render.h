/* render.h - launch.json and flake.nix from the validated IR (spec §10.5). */
#ifndef PROVIUM_FORGE_RENDER_H
#define PROVIUM_FORGE_RENDER_H

#include "forge/bundle.h"

#include <jansson.h>

#define FORGE_ARTIFACT_FORMAT "1.0"
#define FORGE_MVM_FLAKE_PIN_DEFAULT "github:auser/mvm?dir=nix/guest-lib"

/* The launch.json object (new reference). */
json_t *render_launch(const json_t *ir, const char *ir_hash, const struct bundle_result *src);
/* flake.nix text (malloc'd). pin: $PROVIUM_FORGE_MVM_FLAKE_URL or the default. */
char *render_flake(const json_t *ir, const char *ir_hash, const char *pin);

#endif
