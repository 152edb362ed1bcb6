/* test_wire.c - unit tests of the host<->agent frame codec (proto/wire.c). */
#include "proto/wire.h"
#include "tests/unit/testlib.h"

#include <stdlib.h>
#include <string.h>

static void roundtrip_fields(void)
{
    struct wire_writer w = {0};
    wire_begin(&w, WIRE_EXEC, 42);
    wire_put_u8(&w, 7);
    wire_put_u32(&w, 0xdeadbeef);
    wire_put_i32(&w, -5);
    wire_put_u64(&w, 0x0123456789abcdefULL);
    wire_put_i64(&w, -1234567890123LL);
    wire_put_str(&w, "hello");
    wire_put_bytes(&w, "\0\1\2", 3);
    CHECK_EQ_INT(wire_finish(&w), 0);
    struct wire_header h;
    CHECK_EQ_INT(wire_decode_header(w.buf, &h), 0);
    CHECK_EQ_INT(h.type, WIRE_EXEC);
    CHECK_EQ_INT(h.id, 42);
    CHECK_EQ_INT(h.len, w.len - WIRE_HEADER_SIZE);
    struct wire_reader r;
    wire_reader_init(&r, w.buf + WIRE_HEADER_SIZE, h.len);
    CHECK_EQ_INT(wire_get_u8(&r), 7);
    CHECK(wire_get_u32(&r) == 0xdeadbeef);
    CHECK_EQ_INT(wire_get_i32(&r), -5);
    CHECK(wire_get_u64(&r) == 0x0123456789abcdefULL);
    CHECK(wire_get_i64(&r) == -1234567890123LL);
    char *s = wire_get_str(&r);
    CHECK_STR_EQ(s, "hello");
    free(s);
    uint32_t n;
    const uint8_t *b = wire_get_bytes(&r, &n);
    CHECK_EQ_INT(n, 3);
    CHECK(b && b[0] == 0 && b[1] == 1 && b[2] == 2);
    CHECK(wire_reader_at_end(&r));
    wire_writer_free(&w);
}

static void overrun_is_flagged(void)
{
    uint8_t p[3] = {1, 2, 3};
    struct wire_reader r;
    wire_reader_init(&r, p, sizeof p);
    CHECK(wire_get_u32(&r) == 0);
    CHECK(!wire_reader_ok(&r));
    /* a length prefix larger than the payload */
    uint8_t q[6] = {100, 0, 0, 0, 'a', 'b'};
    wire_reader_init(&r, q, sizeof q);
    uint32_t n;
    CHECK(wire_get_bytes(&r, &n) == NULL);
    CHECK_EQ_INT(n, 0);
    CHECK(!wire_reader_ok(&r));
    /* embedded NUL in a string */
    uint8_t z[7] = {3, 0, 0, 0, 'a', 0, 'b'};
    wire_reader_init(&r, z, sizeof z);
    CHECK(wire_get_str(&r) == NULL);
    CHECK(!wire_reader_ok(&r));
}

static void header_limits(void)
{
    uint8_t hdr[WIRE_HEADER_SIZE];
    struct wire_header h = {WIRE_MAX_PAYLOAD + 1, WIRE_DATA, 0, 1}, out;
    wire_encode_header(hdr, &h);
    CHECK_EQ_INT(wire_decode_header(hdr, &out), -1);
    h.len = 10;
    h.type = 0;
    wire_encode_header(hdr, &h);
    CHECK_EQ_INT(wire_decode_header(hdr, &out), -1);
    h.type = WIRE_TYPE_MAX + 1;
    wire_encode_header(hdr, &h);
    CHECK_EQ_INT(wire_decode_header(hdr, &out), -1);
    h.type = WIRE_RESULT;
    wire_encode_header(hdr, &h);
    CHECK_EQ_INT(wire_decode_header(hdr, &out), 0);
    /* a writer refuses payloads over the cap */
    struct wire_writer w = {0};
    wire_begin(&w, WIRE_DATA, 1);
    char *big = calloc(1, WIRE_MAX_PAYLOAD);
    wire_put_bytes(&w, big, WIRE_MAX_PAYLOAD);
    CHECK_EQ_INT(wire_finish(&w), -1);
    free(big);
    wire_writer_free(&w);
}

static void inbuf_reassembles_split_frames(void)
{
    struct wire_writer w = {0};
    struct wire_inbuf in = {0};
    uint8_t stream[4096];
    size_t len = 0;
    for (uint32_t i = 0; i < 10; i++) {
        wire_begin(&w, WIRE_OUTPUT, i);
        wire_put_u8(&w, 1);
        wire_put_bytes(&w, "abcdefghij", i);
        wire_finish(&w);
        memcpy(stream + len, w.buf, w.len);
        len += w.len;
    }
    wire_writer_free(&w);
    /* feed one byte at a time: every frame must come out whole and in order */
    uint32_t next = 0;
    for (size_t i = 0; i < len; i++) {
        CHECK_EQ_INT(wire_inbuf_append(&in, stream + i, 1), 0);
        struct wire_header h;
        const uint8_t *p;
        int rc;
        while ((rc = wire_inbuf_next(&in, &h, &p)) == 1) {
            CHECK_EQ_INT(h.id, next);
            struct wire_reader r;
            wire_reader_init(&r, p, h.len);
            CHECK_EQ_INT(wire_get_u8(&r), 1);
            uint32_t n;
            wire_get_bytes(&r, &n);
            CHECK_EQ_INT(n, next);
            CHECK(wire_reader_at_end(&r));
            next++;
        }
        CHECK(rc == 0);
    }
    CHECK_EQ_INT(next, 10);
    /* a corrupt header is reported */
    uint8_t bad[WIRE_HEADER_SIZE] = {0xff, 0xff, 0xff, 0xff, 1, 0};
    wire_inbuf_append(&in, bad, sizeof bad);
    struct wire_header h;
    const uint8_t *p;
    CHECK_EQ_INT(wire_inbuf_next(&in, &h, &p), -1);
    wire_inbuf_free(&in);
}

static void inbuf_reserve_commit(void)
{
    struct wire_inbuf in = {0};
    struct wire_writer w = {0};
    wire_begin(&w, WIRE_PING, 9);
    wire_finish(&w);
    /* a consumed frame's space is reused: reserve compacts instead of growing */
    for (int round = 0; round < 3; round++) {
        size_t room;
        uint8_t *p = wire_inbuf_reserve(&in, w.len, &room);
        CHECK(p != NULL && room >= w.len);
        memcpy(p, w.buf, w.len);
        wire_inbuf_commit(&in, w.len);
        struct wire_header h;
        const uint8_t *payload;
        CHECK_EQ_INT(wire_inbuf_next(&in, &h, &payload), 1);
        CHECK_EQ_INT(h.id, 9);
        CHECK_EQ_INT(wire_inbuf_next(&in, &h, &payload), 0);
    }
    CHECK(in.cap == 64 * 1024);
    /* a large reservation grows the buffer */
    size_t room;
    CHECK(wire_inbuf_reserve(&in, 200000, &room) != NULL && room >= 200000);
    wire_writer_free(&w);
    wire_inbuf_free(&in);
}

/* The handle messages: each layout of wire.h encodes and decodes field for field,
 * the header accepts every new type, and every type has a name. */
static void handle_messages(void)
{
    struct wire_writer w = {0};
    struct wire_header h;
    struct wire_reader r;
    wire_begin(&w, WIRE_OPEN, 7);
    wire_put_str(&w, "/etc/x");
    wire_put_u32(&w, WIRE_OPEN_READ | WIRE_OPEN_CREATE | WIRE_OPEN_EXCLUSIVE);
    wire_put_u32(&w, 0600);
    CHECK_EQ_INT(wire_finish(&w), 0);
    CHECK_EQ_INT(wire_decode_header(w.buf, &h), 0);
    CHECK_EQ_INT(h.type, WIRE_OPEN);
    wire_reader_init(&r, w.buf + WIRE_HEADER_SIZE, h.len);
    char *path = wire_get_str(&r);
    CHECK_STR_EQ(path, "/etc/x");
    free(path);
    CHECK_EQ_INT(wire_get_u32(&r), 0x25);
    CHECK_EQ_INT(wire_get_u32(&r), 0600);
    CHECK(wire_reader_at_end(&r));

    wire_begin(&w, WIRE_HSEEK, 8);
    wire_put_u32(&w, 3);
    wire_put_i64(&w, -10);
    wire_put_u8(&w, WIRE_SEEK_END);
    CHECK_EQ_INT(wire_finish(&w), 0);
    CHECK_EQ_INT(wire_decode_header(w.buf, &h), 0);
    CHECK_EQ_INT(h.len, 4 + 8 + 1);
    wire_reader_init(&r, w.buf + WIRE_HEADER_SIZE, h.len);
    CHECK_EQ_INT(wire_get_u32(&r), 3);
    CHECK(wire_get_i64(&r) == -10);
    CHECK_EQ_INT(wire_get_u8(&r), WIRE_SEEK_END);
    CHECK(wire_reader_at_end(&r));

    /* an HREAD answer: RESULT + bytes, empty at EOF */
    wire_begin(&w, WIRE_RESULT, 9);
    wire_put_i32(&w, 0);
    wire_put_str(&w, "");
    wire_put_bytes(&w, "", 0);
    CHECK_EQ_INT(wire_finish(&w), 0);
    CHECK_EQ_INT(wire_decode_header(w.buf, &h), 0);
    wire_reader_init(&r, w.buf + WIRE_HEADER_SIZE, h.len);
    CHECK_EQ_INT(wire_get_i32(&r), 0);
    uint32_t n = 99;
    wire_get_bytes(&r, &n);
    wire_get_bytes(&r, &n);
    CHECK_EQ_INT(n, 0);
    CHECK(wire_reader_at_end(&r));
    wire_writer_free(&w);

    static const struct {
        uint16_t type;
        const char *name;
    } names[] = {{WIRE_OPEN, "OPEN"},   {WIRE_HREAD, "HREAD"}, {WIRE_HWRITE, "HWRITE"},
                 {WIRE_HSEEK, "HSEEK"}, {WIRE_HCLOSE, "HCLOSE"}, {WIRE_RESULT, "RESULT"},
                 {WIRE_KILL, "KILL"}, {WIRE_GET_TIME, "GET_TIME"}, {WIRE_BATCH, "BATCH"}};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        CHECK_STR_EQ(wire_type_name(names[i].type), names[i].name);
        uint8_t hdr[WIRE_HEADER_SIZE];
        struct wire_header in = {0, names[i].type, 0, 1};
        wire_encode_header(hdr, &in);
        CHECK_EQ_INT(wire_decode_header(hdr, &h), 0);
    }
    CHECK_STR_EQ(wire_type_name(WIRE_TYPE_MAX + 1), "?");
    /* the old numbering is unchanged */
    CHECK_EQ_INT(WIRE_RESULT, 18);
    CHECK_EQ_INT(WIRE_OPEN, 19);
    CHECK_EQ_INT(WIRE_HCLOSE, 23);
    CHECK_EQ_INT(WIRE_GET_TIME, 24);
    CHECK_EQ_INT(WIRE_TYPE_MAX, WIRE_BATCH);
}

/* BATCH's envelope: (u16 type, bytes request, bytes data) per request. */
static void batch_requests(void)
{
    struct wire_writer w = {0};
    wire_put_u16(&w, WIRE_STAT);
    wire_put_bytes(&w, "ab", 2);
    wire_put_bytes(&w, "", 0);
    wire_put_u16(&w, WIRE_WRITE_FILE);
    wire_put_bytes(&w, "x", 1);
    wire_put_bytes(&w, "data", 4);
    wire_put_u16(&w, WIRE_STAT); /* cut short: no data field */
    wire_put_bytes(&w, "", 0);
    struct wire_reader r;
    wire_reader_init(&r, w.buf, w.len);
    struct wire_batch_req q;
    CHECK_EQ_INT(wire_batch_next(&r, &q), 0);
    CHECK(q.type == WIRE_STAT && q.req_len == 2 && !memcmp(q.req, "ab", 2) && q.data_len == 0);
    CHECK_EQ_INT(wire_batch_next(&r, &q), 0);
    CHECK(q.type == WIRE_WRITE_FILE && q.req_len == 1 && q.data_len == 4 &&
          !memcmp(q.data, "data", 4));
    CHECK_EQ_INT(wire_batch_next(&r, &q), -1);
    CHECK(!wire_reader_ok(&r));
    wire_writer_free(&w);
}

int main(void)
{
    RUN(roundtrip_fields);
    RUN(batch_requests);
    RUN(overrun_is_flagged);
    RUN(header_limits);
    RUN(inbuf_reassembles_split_frames);
    RUN(inbuf_reserve_commit);
    RUN(handle_messages);
    return TEST_SUMMARY();
}
