/* lbridge_guest.h - the guest side of a Bridge, through the agent (lbridge_guest.c).
 * Each returns -1 with err when the guest did not do it. */
#ifndef PROVIUM_LBRIDGE_GUEST_H
#define PROVIUM_LBRIDGE_GUEST_H

#include "lapi.h"

#include <stddef.h>

struct lbridge;
struct vm;

/* Renames NIC slot nic to ethN, gives it the bridge's MAC and address, link up. */
int lbridge_guest_up(struct vm *vm, const struct lbridge *b, int slot, int nic, char *err,
                     size_t errlen);
/* Takes the address away, link down, back to the placeholder MAC. */
int lbridge_guest_down(struct vm *vm, int nic, char *err, size_t errlen);
/* The uplink NIC `up0` configured (on) or down again. */
int lbridge_guest_uplink(struct vm *vm, int on, char *err, size_t errlen);
/* Routes to the subnets 10.213.to_k[i].0/24 via the gateway 10.213.gw_k.1 on ethN. */
int lbridge_guest_routes(struct vm *vm, int nic, int gw_k, const int *to_k, int n, char *err,
                         size_t errlen);
/* Is vm on a bridge whose uplink is enabled? */
int lbridge_guest_uplinked(lua_State *L, struct vm *vm);
/* Rewrites /etc/hosts of every member of the bridge at idx, plus extra. */
int lbridge_guest_write_hosts(lua_State *L, int idx, struct vm *extra, char *err,
                              size_t errlen);

#endif
