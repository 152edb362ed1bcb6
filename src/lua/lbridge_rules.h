/* lbridge_rules.h - partitions, isolation and impairments of a Bridge
 * (lbridge_rules.c). */
#ifndef PROVIUM_LBRIDGE_RULES_H
#define PROVIUM_LBRIDGE_RULES_H

#include "lapi.h"

/* Adds the rule methods (partition, isolate, add_latency, reset, ...) to the Bridge. */
void lbridge_rules_open(lua_State *L);
/* Applies a recorded impairment from -> to of the bridge at idx (lab restores). */
void lbridge_rules_apply(lua_State *L, int idx, const char *from, const char *to,
                         double latency_ms, double loss_pct, double bandwidth_bps);

#endif
