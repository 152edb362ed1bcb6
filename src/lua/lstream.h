/* lstream.h - the Stream userdata: vm:tail_file, vm:fd_stream, f:tail_stream,
 * console:read and captures (lstream.c). */
#ifndef PROVIUM_LSTREAM_H
#define PROVIUM_LSTREAM_H

#include "lapi.h"

#include <stdint.h>

/* The class provium.Stream and the Vm method tail_file. */
void lstream_open(lua_State *L);
/* A stream of a guest file on a handle of its own, from byte pos; pushes it. */
int lstream_from_file(lua_State *L, int vm_idx, const char *path, int64_t pos,
                      const char *method);
/* The console log of the Vm at vm_idx from now on; pushes the Stream. */
int lstream_console(lua_State *L, int vm_idx);
/* A source read by position (a process's output, lproc.c): appends what is past *pos
 * to out and advances *pos; returns 0, or -1 when nothing is left and nothing will
 * come. src_idx is the source object; which tells its streams apart. */
struct buf;
typedef int (*lstream_pull_fn)(lua_State *L, int src_idx, int which, uint64_t *pos,
                               struct buf *out);
/* A Stream of the source object at src_idx through pull (not a guest handle: no
 * snapshot refusal, not closed at test end); pushes it. */
int lstream_source(lua_State *L, int vm_idx, int src_idx, lstream_pull_fn pull, int which,
                   const char *what);
/* A capture written by the switch (cap_id) into path: with follow the Stream yields its
 * pcap bytes, header first; else it only serves close. vm_idx: the captured NIC's VM
 * (a handle of that VM), or 0 for a bridge capture (counted by its bridge); errors
 * name method ("bridge:capture", "nic:capture"). Pushes the Stream; on a raise the
 * capture is closed. */
int lstream_capture(lua_State *L, const char *method, int vm_idx, int cap_id,
                    const char *path, int follow, const char *what);

#endif
