/* nbd_store.h - the disk state behind the NBD server (nbd.c): the backing file, the
 * overlay of held writes, the fault policy and the stats, under one mutex.
 *
 * Internal to src/vm/nbd*.c; the guarantees are documented in nbd.h. The guest_*
 * functions answer one NBD request each and return 0 or an errno value (EIO, EINVAL,
 * ENOSPC, EPERM) that nbd.c turns into the reply's error. */
#ifndef PROVIUM_NBD_STORE_H
#define PROVIUM_NBD_STORE_H

#include "vm/nbd.h"

#include <stddef.h>
#include <stdint.h>

struct nbd_store;

struct nbd_store *store_open(const char *path, int readonly, uint64_t hold_limit,
                             char *err, size_t errlen);
void store_close(struct nbd_store *st);
uint64_t store_size(const struct nbd_store *st);
int store_readonly(const struct nbd_store *st);

/* One guest request each, with the policy applied. */
int store_guest_read(struct nbd_store *st, uint64_t off, void *buf, uint32_t len);
int store_guest_write(struct nbd_store *st, uint64_t off, const void *buf, uint32_t len,
                      int fua);
int store_guest_flush(struct nbd_store *st);
int store_delay_ms(struct nbd_store *st);

/* Bookkeeping from the protocol side. */
void store_note_failed(struct nbd_store *st);
void store_note_conn(struct nbd_store *st);
void store_note_drop(struct nbd_store *st, const char *why);

/* Host side (nbd.h's nbd_read ... nbd_stats). */
uint64_t store_power_cut(struct nbd_store *st);
int store_flush(struct nbd_store *st);
int store_host_read(struct nbd_store *st, uint64_t off, void *buf, size_t len);
int store_host_write(struct nbd_store *st, uint64_t off, const void *buf, size_t len);
void store_set_policy(struct nbd_store *st, int what, int64_t a, uint64_t b);
void store_policy(struct nbd_store *st, struct nbd_policy *out);
void store_stats(struct nbd_store *st, struct nbd_stats *out);

/* `what` for store_set_policy */
enum { POL_FAIL_READS, POL_FAIL_WRITES, POL_FAIL_AFTER, POL_RANGE, POL_DELAY, POL_CLEAR };

#endif
