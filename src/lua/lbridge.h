/* lbridge.h - the Bridge userdata (lbridge.c): lab:bridge, and the hooks labs, boots,
 * restores, lab snapshots and Nic objects use. */
#ifndef PROVIUM_LBRIDGE_H
#define PROVIUM_LBRIDGE_H

#include "lapi.h"

#include <jansson.h>
#include <stddef.h>

struct vm;

/* The class provium.Bridge with lbridge.c's methods, and the Lab method bridge. */
void lbridge_open(lua_State *L);
int lbridge_is(lua_State *L, int idx);
/* Creates bridge `name` with subnet index K in the lab at lab; pushes it. -1 when the
 * switch could not start (the Bridge is pushed anyway, closed). */
int lbridge_new(lua_State *L, int lab, const char *name, int index);
/* Records vm as member (slot S, NIC N) of the bridge at idx and binds its port; the
 * guest keeps whatever configuration it has (restores). */
void lbridge_add_recorded(lua_State *L, int idx, int vm_idx, int slot, int nic);
/* Applies recorded rules: partitions from -> to, isolation. */
void lbridge_cut(lua_State *L, int idx, const char *from, const char *to);
void lbridge_isolate(lua_State *L, int idx, const char *vm);
void lbridge_set_uplink(lua_State *L, int idx, int on); /* the flag only: guests kept theirs */
/* The scope end of a bridge: unbinds every member, stops its switch segment. */
void lbridge_close(lua_State *L, int idx);
/* After a boot (fresh: configure the guest side too) or a restore: bind vm's ports to
 * the bridges it is a member of. -1 with err. */
int lbridge_vm_booted(lua_State *L, struct vm *vm, int fresh, char *err, size_t errlen);
/* Drops vm from every bridge without touching the guest (vm:restore: slots come back
 * unattached). */
void lbridge_forget_vm(lua_State *L, struct vm *vm);
/* For Nic objects (lnic.c): vm's membership of the bridge at bidx (-1 when not a
 * member); argument idx as a member VM (pushes it, raises when not one); the bridge
 * vm's NIC `nic` is on (pushes it, or returns 0); the switch id of a bridge. */
struct lbridge_member {
    int slot, nic, sw, index;
    char name[64];
};
int lbridge_membership(lua_State *L, int bidx, struct vm *vm, struct lbridge_member *out);
struct vm *lbridge_resolve_member(lua_State *L, int bidx, int idx, const char *method);
int lbridge_push_for_nic(lua_State *L, struct vm *vm, int nic);
int lbridge_sw_id(lua_State *L, int bidx);
/* lab.json record of the bridge at idx (lab_path: its lab relative to the snapshot);
 * NULL for a closed bridge. */
json_t *lbridge_to_json(lua_State *L, int idx, const char *lab_path);

#endif
