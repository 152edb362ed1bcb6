/* llab.h - the Lab userdata (`provium` and its sub-labs) and the lab tree helpers the
 * worker and the other Lab files use (llab.c). */
#ifndef PROVIUM_LLAB_H
#define PROVIUM_LLAB_H

#include "lapi.h"

struct buf;
struct strv;

/* The class provium.Lab with llab.c's methods. */
void llab_open(lua_State *L);
void llab_push_new(lua_State *L, const char *name, int parent_idx); /* pushes a new Lab */
void llab_teardown(lua_State *L, int idx, int kill);                /* shuts VMs down */
void llab_collect_consoles(lua_State *L, int idx, struct buf *out); /* console excerpts */
int llab_is(lua_State *L, int idx);
int llab_field(lua_State *L, int idx, const char *key); /* pushes a state field */
int llab_valid_name(const char *s);                      /* VM and bridge names */
int llab_name_taken(lua_State *L, int lab_idx, const char *name); /* here or in a parent */
int llab_find_vm(lua_State *L, int lab, const char *name); /* here or in a parent; pushes */
void llab_add_vm(lua_State *L, int lab_idx, int vm_idx);
int llab_find_sublab(lua_State *L, int lab_idx, const char *name); /* pushes it, or 0 */
void llab_push_sublab(lua_State *L, int lab_idx, const char *name); /* creates, pushes */
/* Removes the member at member_idx from the lab's "vms" or "labs" list. */
void llab_remove_member(lua_State *L, int lab_idx, const char *list, int member_idx);
/* The names of the lab's bridges, sorted (appended to out). */
void llab_bridge_names_sorted(lua_State *L, int lab, struct strv *out);
/* Removes element i of the sequence at list, shifting the rest down. */
void llab_list_remove(lua_State *L, int list, lua_Integer i);

#endif
