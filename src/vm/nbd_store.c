/* nbd_store.c - the state of a mediated disk: backing file, held writes, fault policy.
 *
 * Why: the power-cut guarantee of nbd.h lives here. A guest WRITE lands in an overlay
 * (an open-addressing hash map from 4 KiB block index to a block of data, filled from
 * the backing file on first touch) and only a FLUSH moves the overlay into the backing
 * file; a power cut frees it. Everything, the guest's requests as well as the host's
 * calls from the Lua thread, runs under one mutex, so each request is atomic with
 * respect to a power cut. The protocol (nbd.c) knows nothing of blocks. */
#include "vm/nbd_store.h"

#include "util/util.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct slot {
    uint64_t idx;          /* block index */
    unsigned char *data;   /* NBD_BLOCK bytes; NULL: empty slot */
};

struct nbd_store {
    pthread_mutex_t mu;
    int fd;
    uint64_t size;
    int readonly;
    uint64_t hold_limit;
    struct slot *slots;    /* the overlay: cap slots (a power of two), used full */
    size_t cap, used;
    struct nbd_policy pol;
    struct nbd_stats stats;
};

/* ---- the overlay ---- */

static size_t slot_hash(uint64_t idx, size_t cap)
{
    return (size_t)((idx * 0x9E3779B97F4A7C15ull) >> 17) & (cap - 1);
}

static struct slot *ov_find(struct nbd_store *st, uint64_t idx)
{
    if (st->cap == 0)
        return NULL;
    for (size_t i = slot_hash(idx, st->cap);; i = (i + 1) & (st->cap - 1)) {
        if (st->slots[i].data == NULL)
            return NULL;
        if (st->slots[i].idx == idx)
            return &st->slots[i];
    }
}

static void ov_put(struct slot *slots, size_t cap, uint64_t idx, unsigned char *data)
{
    size_t i = slot_hash(idx, cap);
    while (slots[i].data)
        i = (i + 1) & (cap - 1);
    slots[i].idx = idx;
    slots[i].data = data;
}

/* Adds a block (not present yet), growing the table to stay at most half full. */
static void ov_add(struct nbd_store *st, uint64_t idx, unsigned char *data)
{
    if ((st->used + 1) * 2 > st->cap) {
        size_t ncap = st->cap ? st->cap * 2 : 64;
        struct slot *n = xcalloc(ncap, sizeof *n);
        for (size_t i = 0; i < st->cap; i++)
            if (st->slots[i].data)
                ov_put(n, ncap, st->slots[i].idx, st->slots[i].data);
        free(st->slots);
        st->slots = n;
        st->cap = ncap;
    }
    ov_put(st->slots, st->cap, idx, data);
    st->used++;
}

static uint64_t ov_clear(struct nbd_store *st)
{
    uint64_t bytes = (uint64_t)st->used * NBD_BLOCK;
    for (size_t i = 0; i < st->cap; i++)
        free(st->slots[i].data);
    free(st->slots);
    st->slots = NULL;
    st->cap = st->used = 0;
    return bytes;
}

/* ---- the backing file ---- */

/* Reads [off, off+len) of the backing file; past its end reads zeros. 0 or EIO. */
static int backing_read(struct nbd_store *st, uint64_t off, unsigned char *buf, size_t len)
{
    size_t got = 0;
    while (got < len) {
        ssize_t r = pread(st->fd, buf + got, len - got, (off_t)(off + got));
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return EIO;
        if (r == 0)
            break;
        got += (size_t)r;
    }
    memset(buf + got, 0, len - got);
    return 0;
}

static int backing_write(struct nbd_store *st, uint64_t off, const unsigned char *buf,
                         size_t len)
{
    size_t put = 0;
    while (put < len) {
        ssize_t r = pwrite(st->fd, buf + put, len - put, (off_t)(off + put));
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return EIO;
        put += (size_t)r;
    }
    return 0;
}

/* The part of block idx inside [off, off+len): offset in the block, in the buffer, n. */
static void block_overlap(uint64_t idx, uint64_t off, size_t len, size_t *bo, size_t *po,
                          size_t *n)
{
    uint64_t b0 = idx * NBD_BLOCK, end = off + len;
    uint64_t s = off > b0 ? off : b0;
    uint64_t e = end < b0 + NBD_BLOCK ? end : b0 + NBD_BLOCK;
    *bo = (size_t)(s - b0);
    *po = (size_t)(s - off);
    *n = (size_t)(e - s);
}

static int cmp_slot(const void *a, const void *b)
{
    uint64_t x = ((const struct slot *)a)->idx, y = ((const struct slot *)b)->idx;
    return x < y ? -1 : x > y;
}

/* Writes every held block to the backing file in block order, syncs, empties the
 * overlay. On failure the overlay stays as it was. Caller holds mu. */
static int apply_held(struct nbd_store *st)
{
    if (st->used == 0)
        return fdatasync(st->fd) < 0 ? EIO : 0;
    struct slot *v = xmalloc(st->used * sizeof *v);
    size_t n = 0;
    for (size_t i = 0; i < st->cap; i++)
        if (st->slots[i].data)
            v[n++] = st->slots[i];
    qsort(v, n, sizeof *v, cmp_slot);
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        uint64_t b0 = v[i].idx * NBD_BLOCK;
        size_t len = st->size - b0 < NBD_BLOCK ? (size_t)(st->size - b0) : NBD_BLOCK;
        rc = backing_write(st, b0, v[i].data, len);
    }
    free(v);
    if (rc == 0 && fdatasync(st->fd) < 0)
        rc = EIO;
    if (rc == 0)
        ov_clear(st);
    return rc;
}

/* The guest's view of [off, off+len): the backing file patched by held blocks. */
static int view_read(struct nbd_store *st, uint64_t off, unsigned char *buf, size_t len)
{
    if (len == 0)
        return 0;
    int rc = backing_read(st, off, buf, len);
    if (rc || st->used == 0)
        return rc;
    for (uint64_t i = off / NBD_BLOCK; i <= (off + len - 1) / NBD_BLOCK; i++) {
        struct slot *s = ov_find(st, i);
        if (s == NULL)
            continue;
        size_t bo, po, n;
        block_overlap(i, off, len, &bo, &po, &n);
        memcpy(buf + po, s->data + bo, n);
    }
    return 0;
}

/* Holds [off, off+len) in the overlay, or fails whole: ENOSPC past the hold limit,
 * EIO when a new block cannot be filled from the backing file. */
static int hold_write(struct nbd_store *st, uint64_t off, const unsigned char *buf,
                      size_t len)
{
    if (len == 0)
        return 0;
    uint64_t first = off / NBD_BLOCK, last = (off + len - 1) / NBD_BLOCK, fresh = 0;
    for (uint64_t i = first; i <= last; i++)
        fresh += ov_find(st, i) == NULL;
    if ((st->used + fresh) * (uint64_t)NBD_BLOCK > st->hold_limit)
        return ENOSPC;
    for (uint64_t i = first; i <= last; i++) {   /* first every block, then the data */
        if (ov_find(st, i))
            continue;
        unsigned char *d = xmalloc(NBD_BLOCK);
        if (backing_read(st, i * NBD_BLOCK, d, NBD_BLOCK)) {
            free(d);
            return EIO;
        }
        ov_add(st, i, d);
    }
    for (uint64_t i = first; i <= last; i++) {
        size_t bo, po, n;
        block_overlap(i, off, len, &bo, &po, &n);
        memcpy(ov_find(st, i)->data + bo, buf + po, n);
    }
    return 0;
}

/* ---- open, close ---- */

struct nbd_store *store_open(const char *path, int readonly, uint64_t hold_limit,
                             char *err, size_t errlen)
{
    int fd = open(path, (readonly ? O_RDONLY : O_RDWR) | O_CLOEXEC);
    struct stat sb;
    if (fd < 0 || fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode)) {
        snprintf(err, errlen, "cannot open disk %s: %s", path,
                 fd < 0 ? strerror(errno) : "not a regular file");
        if (fd >= 0)
            close(fd);
        return NULL;
    }
    struct nbd_store *st = xcalloc(1, sizeof *st);
    pthread_mutex_init(&st->mu, NULL);
    st->fd = fd;
    st->size = (uint64_t)sb.st_size;
    st->readonly = readonly;
    st->hold_limit = hold_limit ? hold_limit : NBD_HOLD_LIMIT_DEFAULT;
    st->pol.fail_after = -1;
    return st;
}

void store_close(struct nbd_store *st)
{
    if (st == NULL)
        return;
    ov_clear(st);
    close(st->fd);
    pthread_mutex_destroy(&st->mu);
    free(st);
}

uint64_t store_size(const struct nbd_store *st)
{
    return st->size;
}

int store_readonly(const struct nbd_store *st)
{
    return st->readonly;
}

/* ---- guest requests ---- */

static int in_bounds(const struct nbd_store *st, uint64_t off, uint64_t len)
{
    return off <= st->size && len <= st->size - off;
}

/* The fault policy for one READ or WRITE (caller holds mu): 0 or EIO. */
static int policy_data(struct nbd_store *st, int is_write, uint64_t off, uint64_t len)
{
    struct nbd_policy *p = &st->pol;
    if (p->fail_after == 0)
        return EIO;
    if (p->fail_after > 0)
        p->fail_after--;
    if (is_write ? p->fail_writes : p->fail_reads)
        return EIO;
    if (p->range_count && len) {
        uint64_t lim = UINT64_MAX / 512;
        uint64_t rs = p->range_sector > lim ? UINT64_MAX : p->range_sector * 512;
        uint64_t re_s = p->range_sector + p->range_count;
        uint64_t re = re_s < p->range_sector || re_s > lim ? UINT64_MAX : re_s * 512;
        if (off < re && off + len > rs)
            return EIO;
    }
    return 0;
}

/* Counts one answered request in the stats (caller holds mu) and returns rc. */
static int account(struct nbd_store *st, int rc, uint64_t *ok_counter)
{
    if (rc)
        st->stats.failed++;
    else
        (*ok_counter)++;
    return rc;
}

int store_guest_read(struct nbd_store *st, uint64_t off, void *buf, uint32_t len)
{
    pthread_mutex_lock(&st->mu);
    int rc = in_bounds(st, off, len) ? 0 : EINVAL;
    if (rc == 0)
        rc = policy_data(st, 0, off, len);
    if (rc == 0)
        rc = view_read(st, off, buf, len);
    rc = account(st, rc, &st->stats.reads);
    pthread_mutex_unlock(&st->mu);
    return rc;
}

int store_guest_write(struct nbd_store *st, uint64_t off, const void *buf, uint32_t len,
                      int fua)
{
    pthread_mutex_lock(&st->mu);
    int rc = st->readonly ? EPERM : in_bounds(st, off, len) ? 0 : ENOSPC;
    if (rc == 0)
        rc = policy_data(st, 1, off, len);
    if (rc == 0)
        rc = hold_write(st, off, buf, len);
    if (rc == 0 && fua)
        rc = apply_held(st);
    if (rc == 0 && fua)
        st->stats.fua_writes++;
    rc = account(st, rc, &st->stats.writes);
    pthread_mutex_unlock(&st->mu);
    return rc;
}

int store_guest_flush(struct nbd_store *st)
{
    pthread_mutex_lock(&st->mu);
    int rc = st->pol.fail_after == 0 ? EIO : 0;
    if (rc == 0 && !st->readonly)
        rc = apply_held(st);
    rc = account(st, rc, &st->stats.flushes);
    pthread_mutex_unlock(&st->mu);
    return rc;
}

int store_delay_ms(struct nbd_store *st)
{
    pthread_mutex_lock(&st->mu);
    int ms = st->pol.delay_ms;
    pthread_mutex_unlock(&st->mu);
    return ms;
}

void store_note_failed(struct nbd_store *st)
{
    pthread_mutex_lock(&st->mu);
    st->stats.failed++;
    pthread_mutex_unlock(&st->mu);
}

void store_note_conn(struct nbd_store *st)
{
    pthread_mutex_lock(&st->mu);
    st->stats.connections++;
    pthread_mutex_unlock(&st->mu);
}

void store_note_drop(struct nbd_store *st, const char *why)
{
    pthread_mutex_lock(&st->mu);
    st->stats.dropped++;
    snprintf(st->stats.last_drop, sizeof st->stats.last_drop, "%s", why);
    pthread_mutex_unlock(&st->mu);
}

/* ---- host side ---- */

uint64_t store_power_cut(struct nbd_store *st)
{
    pthread_mutex_lock(&st->mu);
    uint64_t bytes = ov_clear(st);
    pthread_mutex_unlock(&st->mu);
    return bytes;
}

int store_flush(struct nbd_store *st)
{
    pthread_mutex_lock(&st->mu);
    int rc = st->readonly ? 0 : apply_held(st);
    pthread_mutex_unlock(&st->mu);
    return -rc;
}

int store_host_read(struct nbd_store *st, uint64_t off, void *buf, size_t len)
{
    pthread_mutex_lock(&st->mu);
    int rc = in_bounds(st, off, len) ? view_read(st, off, buf, len) : EINVAL;
    pthread_mutex_unlock(&st->mu);
    return -rc;
}

/* Durable at once: the backing file, synced, and every held block it overlaps. */
int store_host_write(struct nbd_store *st, uint64_t off, const void *buf, size_t len)
{
    pthread_mutex_lock(&st->mu);
    int rc = st->readonly ? EPERM : in_bounds(st, off, len) ? 0 : EINVAL;
    if (rc == 0 && len)
        rc = backing_write(st, off, buf, len);
    if (rc == 0 && len && fdatasync(st->fd) < 0)
        rc = EIO;
    for (uint64_t i = off / NBD_BLOCK; rc == 0 && st->used && len &&
         i <= (off + len - 1) / NBD_BLOCK; i++) {
        struct slot *s = ov_find(st, i);
        size_t bo, po, n;
        block_overlap(i, off, len, &bo, &po, &n);
        if (s)
            memcpy(s->data + bo, (const unsigned char *)buf + po, n);
    }
    pthread_mutex_unlock(&st->mu);
    return -rc;
}

void store_set_policy(struct nbd_store *st, int what, int64_t a, uint64_t b)
{
    pthread_mutex_lock(&st->mu);
    struct nbd_policy *p = &st->pol;
    switch (what) {
    case POL_FAIL_READS: p->fail_reads = a != 0; break;
    case POL_FAIL_WRITES: p->fail_writes = a != 0; break;
    case POL_FAIL_AFTER: p->fail_after = a < 0 ? -1 : a; break;
    case POL_RANGE: p->range_sector = (uint64_t)a; p->range_count = b; break;
    case POL_DELAY: p->delay_ms = a < 0 ? 0 : a > 3600000 ? 3600000 : (int)a; break;
    default:
        memset(p, 0, sizeof *p);
        p->fail_after = -1;
    }
    pthread_mutex_unlock(&st->mu);
}

void store_policy(struct nbd_store *st, struct nbd_policy *out)
{
    pthread_mutex_lock(&st->mu);
    *out = st->pol;
    pthread_mutex_unlock(&st->mu);
}

void store_stats(struct nbd_store *st, struct nbd_stats *out)
{
    pthread_mutex_lock(&st->mu);
    *out = st->stats;
    out->held_bytes = (uint64_t)st->used * NBD_BLOCK;
    pthread_mutex_unlock(&st->mu);
}
