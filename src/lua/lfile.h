/* lfile.h - guest file handles (File, spec §4.5) and the registry of open handles.
 *
 * A handle pins state inside a guest: an open File now, a Stream later. Snapshots must
 * not capture one (vm:snapshot and lab:snapshot refuse, naming each), the test that
 * opened one closes it when it ends, and a VM that shuts down, dies or is restored
 * closes all of its own. Every such userdata starts with a struct lhandle, keeps its
 * Vm userdata as user value 1 and is registered with lfile_track(); this file then
 * does the counting, the listing and the closing for every kind alike. */
#ifndef PROVIUM_LFILE_H
#define PROVIUM_LFILE_H

#include "lapi.h"

#include <stdint.h>

struct buf;
struct vm;

enum lhandle_kind { LHANDLE_FILE, LHANDLE_STREAM };

struct lhandle {
    int kind;        /* LHANDLE_* */
    int open;        /* 0 once closed, whatever closed it */
    uint64_t conn;   /* vm->agent.serial at opening: the handle dies with the connection */
    uint64_t seq;    /* opening order, so listings are stable */
    char *what;      /* what is held open: "/etc/x" */
    char *site_file; /* creation site: the calling Lua file and line */
    int site_line;
    char *test;      /* the test that opened it; NULL at file scope */
    /* releases the guest side of a handle that is still open on vm (must not raise) */
    void (*release)(struct lhandle *h, struct vm *vm);
};

/* Fills h (all but release, which the caller sets) for the userdata at idx, whose
 * user value 1 must already be its booted Vm, and registers it. The creation site is the Lua caller of the running C
 * function; the test is lhost(L)->current_test. */
void lfile_track(lua_State *L, int idx, struct lhandle *h, int kind, const char *what);
/* The VM of the handle at idx while the handle is open there; else marks it closed
 * and returns NULL. */
struct vm *lfile_handle_vm(lua_State *L, int idx);
/* Records the creation site (the Lua caller of the running C function) in h. */
void lfile_handle_site(lua_State *L, struct lhandle *h);
/* Frees the strings of a closed handle (for __gc). */
void lfile_handle_free(struct lhandle *h);

/* Open handles on vm: appends "file /etc/x opened at tests/a.test.lua:12 in test
 * \"name\"" for each, in opening order, each after "; " when out is not empty (so
 * calls for several VMs can share one buffer), and returns how many. */
int lfile_describe_open(lua_State *L, struct vm *vm, struct buf *out);
/* Closes every handle opened by a test body; the worker calls it when the body ends.
 * Never raises. */
void lfile_close_test_files(lua_State *L);

/* The class provium.File, the registry of open handles and the Vm methods open_file,
 * open_file_count, open_stream_count, is_quiescent and fd_stream. */
void lfile_open(lua_State *L);

#endif
