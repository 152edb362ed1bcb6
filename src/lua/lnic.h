/* lnic.h - the Nic userdata and pcap captures (lnic.c). */
#ifndef PROVIUM_LNIC_H
#define PROVIUM_LNIC_H

#include "lapi.h"

/* The class provium.Nic, the Vm method nic and the Bridge methods nic and capture. */
void lnic_open(lua_State *L);

#endif
