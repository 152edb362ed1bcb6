/* lbridge_route.h - routes between bridges: b:route(other), b:routes()
 * (lbridge_route.c; the forwarding is net/switch_route.c). */
#ifndef PROVIUM_LBRIDGE_ROUTE_H
#define PROVIUM_LBRIDGE_ROUTE_H

#include "lapi.h"

#include <jansson.h>
#include <stddef.h>

struct vm;

/* Adds route and routes to the Bridge's method table. */
void lbridge_route_open(lua_State *L);
/* Installs in vm (a booted member of the bridge at idx, on NIC nic) the routes of that
 * bridge; nothing when it is not booted. -1 with err when the guest did not do it. */
int lbridge_route_member(lua_State *L, int idx, struct vm *vm, int nic, char *err,
                         size_t errlen);

/* Lab snapshots: the subnet indexes the bridge at idx routes to (its lab.json
 * "routes"); and, once the recorded bridges are back (list: the new Bridges in the
 * order of records), their routes again in the switch: the guests kept theirs. */
json_t *lbridge_route_json(lua_State *L, int idx);
void lbridge_route_restore(lua_State *L, int list, json_t *records);

#endif
