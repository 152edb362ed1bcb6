/* lbridge_int.h - the Bridge's state and lbridge.c's helpers, for the other Bridge
 * files: lbridge_guest.c (the guest side: `ip` scripts and /etc/hosts) and
 * lbridge_rules.c (partitions, isolation, impairments). Not for use outside them. */
#ifndef PROVIUM_LBRIDGE_INT_H
#define PROVIUM_LBRIDGE_INT_H

#include "lapi.h"

struct vm;

#define BRIDGE_MT "provium.Bridge"

struct lbridge {
    char name[64];
    int sw;     /* switch bridge id, -1 once closed */
    int index;  /* K */
    int uplink; /* members get the user-mode NIC (Internet through QEMU) */
};

/* One bridge vm is on (lbridge_vm_memberships). */
struct membership {
    int bridge_idx; /* stack index of the Bridge */
    struct lbridge *b;
    int slot, nic;
};

struct lbridge *lbridge_check(lua_State *L, int idx);
/* Pushes the members list of the bridge at idx; returns its stack index. */
int lbridge_push_members(lua_State *L, int idx);
/* The guest address of host slot `slot` on bridge b: 10.213.K.(slot+10). */
void lbridge_address_of(const struct lbridge *b, int slot, char out[24]);
/* Fills m with the memberships of vm in NIC order; the Bridges are pushed on the
 * stack (caller pops to top). Returns the count. */
int lbridge_vm_memberships(lua_State *L, struct vm *vm, struct membership *m, int max);
/* Pushes the bridge named `name` visible from the lab at lab (here or a parent); 0
 * (nothing pushed) when there is none. */
int lbridge_find(lua_State *L, int lab, const char *name);

#endif
