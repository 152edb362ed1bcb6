/* wire.c - encoder/decoder for the host<->agent frame format described in wire.h.
 *
 * Shared verbatim by the host (glibc) and the static agent (musl), so it uses only
 * plain C17 and libc. Every read is bounds-checked; this file is fuzzed by
 * tests/fuzz/fuzz_wire.c. */
#include "wire.h"

#include <stdlib.h>
#include <string.h>

static void put_le(uint8_t *p, uint64_t v, int n)
{
    for (int i = 0; i < n; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get_le(const uint8_t *p, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

void wire_encode_header(uint8_t out[WIRE_HEADER_SIZE], const struct wire_header *h)
{
    put_le(out, h->len, 4);
    put_le(out + 4, h->type, 2);
    put_le(out + 6, h->flags, 2);
    put_le(out + 8, h->id, 4);
}

int wire_decode_header(const uint8_t in[WIRE_HEADER_SIZE], struct wire_header *h)
{
    h->len = (uint32_t)get_le(in, 4);
    h->type = (uint16_t)get_le(in + 4, 2);
    h->flags = (uint16_t)get_le(in + 6, 2);
    h->id = (uint32_t)get_le(in + 8, 4);
    if (h->len > WIRE_MAX_PAYLOAD || h->type == 0 || h->type > WIRE_TYPE_MAX)
        return -1;
    return 0;
}

/* ---- writer ---- */

static int writer_reserve(struct wire_writer *w, size_t extra)
{
    if (w->failed)
        return -1;
    if (w->len + extra > WIRE_HEADER_SIZE + (size_t)WIRE_MAX_PAYLOAD) {
        w->failed = 1;
        return -1;
    }
    if (w->len + extra <= w->cap)
        return 0;
    size_t cap = w->cap ? w->cap : 256;
    while (cap < w->len + extra)
        cap *= 2;
    uint8_t *nb = realloc(w->buf, cap);
    if (!nb) {
        w->failed = 1;
        return -1;
    }
    w->buf = nb;
    w->cap = cap;
    return 0;
}

void wire_begin(struct wire_writer *w, uint16_t type, uint32_t id)
{
    w->len = 0;
    w->failed = 0;
    if (writer_reserve(w, WIRE_HEADER_SIZE) < 0)
        return;
    struct wire_header h = {0, type, 0, id};
    wire_encode_header(w->buf, &h);
    w->len = WIRE_HEADER_SIZE;
}

static void put_fixed(struct wire_writer *w, uint64_t v, int n)
{
    if (writer_reserve(w, (size_t)n) < 0)
        return;
    put_le(w->buf + w->len, v, n);
    w->len += (size_t)n;
}

void wire_put_u8(struct wire_writer *w, uint8_t v) { put_fixed(w, v, 1); }
void wire_put_u16(struct wire_writer *w, uint16_t v) { put_fixed(w, v, 2); }
void wire_put_u32(struct wire_writer *w, uint32_t v) { put_fixed(w, v, 4); }
void wire_put_i32(struct wire_writer *w, int32_t v) { put_fixed(w, (uint32_t)v, 4); }
void wire_put_u64(struct wire_writer *w, uint64_t v) { put_fixed(w, v, 8); }
void wire_put_i64(struct wire_writer *w, int64_t v) { put_fixed(w, (uint64_t)v, 8); }

void wire_put_bytes(struct wire_writer *w, const void *data, size_t n)
{
    if (n > WIRE_MAX_PAYLOAD) {
        w->failed = 1;
        return;
    }
    put_fixed(w, (uint32_t)n, 4);
    if (n == 0 || writer_reserve(w, n) < 0)
        return;
    memcpy(w->buf + w->len, data, n);
    w->len += n;
}

void wire_put_str(struct wire_writer *w, const char *s)
{
    wire_put_bytes(w, s ? s : "", s ? strlen(s) : 0);
}

int wire_finish(struct wire_writer *w)
{
    if (w->failed || w->len < WIRE_HEADER_SIZE)
        return -1;
    put_le(w->buf, (uint64_t)(w->len - WIRE_HEADER_SIZE), 4);
    return 0;
}

void wire_writer_free(struct wire_writer *w)
{
    free(w->buf);
    w->buf = NULL;
    w->len = w->cap = 0;
}

/* ---- reader ---- */

void wire_reader_init(struct wire_reader *r, const void *payload, size_t len)
{
    r->p = payload;
    r->len = len;
    r->pos = 0;
    r->failed = 0;
}

static int reader_take(struct wire_reader *r, size_t n)
{
    if (r->failed || n > r->len - r->pos) {
        r->failed = 1;
        return 0;
    }
    return 1;
}

static uint64_t get_fixed(struct wire_reader *r, int n)
{
    if (!reader_take(r, (size_t)n))
        return 0;
    uint64_t v = get_le(r->p + r->pos, n);
    r->pos += (size_t)n;
    return v;
}

uint8_t wire_get_u8(struct wire_reader *r) { return (uint8_t)get_fixed(r, 1); }
uint16_t wire_get_u16(struct wire_reader *r) { return (uint16_t)get_fixed(r, 2); }
uint32_t wire_get_u32(struct wire_reader *r) { return (uint32_t)get_fixed(r, 4); }
int32_t wire_get_i32(struct wire_reader *r) { return (int32_t)(uint32_t)get_fixed(r, 4); }
uint64_t wire_get_u64(struct wire_reader *r) { return get_fixed(r, 8); }
int64_t wire_get_i64(struct wire_reader *r) { return (int64_t)get_fixed(r, 8); }

const uint8_t *wire_get_bytes(struct wire_reader *r, uint32_t *n)
{
    uint32_t len = wire_get_u32(r);
    *n = 0;
    if (!reader_take(r, len))
        return NULL;
    const uint8_t *p = r->p + r->pos;
    r->pos += len;
    *n = len;
    return p;
}

char *wire_get_str(struct wire_reader *r)
{
    uint32_t n;
    const uint8_t *p = wire_get_bytes(r, &n);
    if (r->failed)
        return NULL;
    if (n && memchr(p, 0, n)) {
        r->failed = 1;
        return NULL;
    }
    char *s = malloc((size_t)n + 1);
    if (!s) {
        r->failed = 1;
        return NULL;
    }
    if (n)
        memcpy(s, p, n);
    s[n] = 0;
    return s;
}

int wire_reader_ok(const struct wire_reader *r) { return !r->failed; }
int wire_reader_at_end(const struct wire_reader *r) { return !r->failed && r->pos == r->len; }

int wire_batch_next(struct wire_reader *r, struct wire_batch_req *q)
{
    q->type = wire_get_u16(r);
    q->req = wire_get_bytes(r, &q->req_len);
    q->data = wire_get_bytes(r, &q->data_len);
    return wire_reader_ok(r) ? 0 : -1;
}

/* ---- incremental input ---- */

uint8_t *wire_inbuf_reserve(struct wire_inbuf *in, size_t want, size_t *avail)
{
    if (in->start > 0 && in->start == in->len)
        in->start = in->len = 0;
    if (in->cap - in->len < want && in->start > 0) { /* compact before growing */
        memmove(in->buf, in->buf + in->start, in->len - in->start);
        in->len -= in->start;
        in->start = 0;
    }
    if (in->cap - in->len < want) {
        size_t cap = in->cap ? in->cap : 64 * 1024;
        while (cap - in->len < want)
            cap *= 2;
        uint8_t *nb = realloc(in->buf, cap);
        if (!nb)
            return NULL;
        in->buf = nb;
        in->cap = cap;
    }
    if (avail)
        *avail = in->cap - in->len;
    return in->buf + in->len;
}

void wire_inbuf_commit(struct wire_inbuf *in, size_t n) { in->len += n; }

int wire_inbuf_append(struct wire_inbuf *in, const void *data, size_t n)
{
    uint8_t *p = wire_inbuf_reserve(in, n, NULL);
    if (!p)
        return -1;
    if (n)
        memcpy(p, data, n);
    wire_inbuf_commit(in, n);
    return 0;
}

int wire_inbuf_next(struct wire_inbuf *in, struct wire_header *h, const uint8_t **payload)
{
    size_t avail = in->len - in->start;
    if (avail < WIRE_HEADER_SIZE)
        return 0;
    if (wire_decode_header(in->buf + in->start, h) < 0)
        return -1;
    if (avail < WIRE_HEADER_SIZE + (size_t)h->len)
        return 0;
    *payload = in->buf + in->start + WIRE_HEADER_SIZE;
    in->start += WIRE_HEADER_SIZE + (size_t)h->len;
    return 1;
}

void wire_inbuf_free(struct wire_inbuf *in)
{
    free(in->buf);
    memset(in, 0, sizeof(*in));
}

const char *wire_type_name(uint16_t type)
{
    static const char *names[] = {"?",        "HELLO",  "PING",    "EXEC",     "DATA",
                                  "OUTPUT",   "EXIT",   "READ_FILE", "WRITE_FILE", "STAT",
                                  "LISTDIR",  "MKDIR",  "UNLINK",  "RENAME",   "SET_TIME",
                                  "HOSTNAME", "POWEROFF", "KILL",  "RESULT",   "OPEN",
                                  "HREAD",    "HWRITE", "HSEEK",   "HCLOSE", "GET_TIME", "BATCH"};
    _Static_assert(sizeof(names) / sizeof(names[0]) == WIRE_TYPE_MAX + 1, "one name per type");
    return type <= WIRE_TYPE_MAX ? names[type] : "?";
}
