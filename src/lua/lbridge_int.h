/* lbridge_int.h - what the Bridge's files share: lbridge.c (the userdata, attach and
 * detach, hooks), lbridge_guest.c (the guest side: `ip` scripts and /etc/hosts) and
 * lbridge_rules.c (partitions, isolation, impairments). Not for use outside src/lua/. */
#ifndef PROVIUM_LBRIDGE_INT_H
#define PROVIUM_LBRIDGE_INT_H

#include "lapi.h"
#include "lbridge.h"

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

/* ---- lbridge.c ---- */
struct lbridge *lbridge_check(lua_State *L, int idx);
/* Pushes the members list of the bridge at idx; returns its stack index. */
int lbridge_push_members(lua_State *L, int idx);
/* The guest address of host slot `slot` on bridge b: 10.213.K.(slot+10). */
void lbridge_address_of(const struct lbridge *b, int slot, char out[24]);
/* Fills m with the memberships of vm in NIC order; the Bridges are pushed on the
 * stack (caller pops to top). Returns the count. */
int lbridge_vm_memberships(lua_State *L, struct vm *vm, struct membership *m, int max);

/* ---- lbridge_guest.c: through the agent, -1 with err ---- */
/* Renames NIC slot nic to ethN, gives it the bridge's MAC and address, link up. */
int lbridge_guest_up(struct vm *vm, const struct lbridge *b, int slot, int nic, char *err,
                     size_t errlen);
/* Takes the address away, link down, back to the placeholder MAC. */
int lbridge_guest_down(struct vm *vm, int nic, char *err, size_t errlen);
/* The uplink NIC `up0` configured (on) or down again. */
int lbridge_guest_uplink(struct vm *vm, int on, char *err, size_t errlen);
/* Is vm on a bridge whose uplink is enabled? */
int lbridge_vm_uplinked(lua_State *L, struct vm *vm);
/* Rewrites /etc/hosts of every member of the bridge at idx, plus extra. */
int lbridge_rewrite_all_hosts(lua_State *L, int idx, struct vm *extra, char *err, size_t errlen);

/* ---- lbridge_rules.c ---- */
/* The Bridge methods of partitions, isolation and impairments. */
extern const luaL_Reg lbridge_rule_methods[];

#endif
