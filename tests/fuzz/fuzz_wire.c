/* fuzz_wire.c - libFuzzer target for the frame codec (proto/wire.c).
 *
 * Why: both ends decode bytes the other side (or a confused guest) sent. The input is
 * fed to wire_inbuf in odd-sized pieces; every complete frame is then decoded with
 * each message layout of wire.h, as the host and the agent would. Nothing may read
 * out of bounds, leak or crash.
 *
 *   clang -std=c17 -g -O1 -D_GNU_SOURCE -fsanitize=fuzzer,address,undefined -I. \
 *       tests/fuzz/fuzz_wire.c proto/wire.c -o /tmp/fuzz_wire
 *   /tmp/fuzz_wire -max_total_time=120 /tmp/wire-corpus tests/fuzz/corpus/wire
 */
#include "proto/wire.h"

#include <stdint.h>
#include <stdlib.h>

static void decode_payload(uint16_t type, const uint8_t *p, size_t n)
{
    struct wire_reader r;
    wire_reader_init(&r, p, n);
    uint32_t len;
    switch (type) {
    case WIRE_EXEC: {
        wire_get_u32(&r);
        free(wire_get_str(&r));
        uint32_t argc = wire_get_u32(&r);
        for (uint32_t i = 0; i < argc && wire_reader_ok(&r); i++)
            free(wire_get_str(&r));
        uint32_t envc = wire_get_u32(&r);
        for (uint32_t i = 0; i < envc && wire_reader_ok(&r); i++)
            free(wire_get_str(&r));
        wire_get_u64(&r);
        break;
    }
    case WIRE_OUTPUT:
        wire_get_u8(&r);
        wire_get_bytes(&r, &len);
        break;
    case WIRE_EXIT:
        wire_get_u8(&r);
        wire_get_i32(&r);
        wire_get_i32(&r);
        break;
    case WIRE_RESULT: {
        wire_get_i32(&r);
        free(wire_get_str(&r));
        /* a LISTDIR-shaped tail */
        uint32_t k = wire_get_u32(&r);
        for (uint32_t i = 0; i < k && wire_reader_ok(&r); i++) {
            free(wire_get_str(&r));
            wire_get_u8(&r);
        }
        break;
    }
    case WIRE_HELLO:
        wire_get_u32(&r);
        free(wire_get_str(&r));
        wire_get_u32(&r);
        break;
    case WIRE_WRITE_FILE:
        free(wire_get_str(&r));
        wire_get_u32(&r);
        wire_get_u32(&r);
        break;
    case WIRE_RENAME:
        free(wire_get_str(&r));
        free(wire_get_str(&r));
        break;
    case WIRE_OPEN:
        free(wire_get_str(&r));
        wire_get_u32(&r);
        wire_get_u32(&r);
        break;
    case WIRE_HREAD:
        wire_get_u32(&r);
        wire_get_u32(&r);
        break;
    case WIRE_HWRITE:
        wire_get_u32(&r);
        wire_get_bytes(&r, &len);
        break;
    case WIRE_HSEEK:
        wire_get_u32(&r);
        wire_get_i64(&r);
        wire_get_u8(&r);
        break;
    case WIRE_HCLOSE:
        wire_get_u32(&r);
        break;
    case WIRE_SET_TIME:
        wire_get_i64(&r);
        wire_get_u32(&r);
        break;
    case WIRE_GET_TIME:
        break;
    case WIRE_BATCH: { /* the envelope, then each request decoded as its own type */
        uint32_t n = wire_get_u32(&r);
        struct wire_batch_req q;
        for (uint32_t i = 0; i < n && i <= WIRE_BATCH_MAX && wire_batch_next(&r, &q) == 0; i++)
            if (q.type != WIRE_BATCH)
                decode_payload(q.type, q.req, q.req_len);
        break;
    }
    default:
        free(wire_get_str(&r));
        wire_get_u64(&r);
        break;
    }
    (void)wire_reader_at_end(&r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct wire_inbuf in = {0};
    size_t off = 0, step = 1;
    while (off < size) {
        size_t n = size - off < step ? size - off : step;
        if (wire_inbuf_append(&in, data + off, n) < 0)
            break;
        off += n;
        step = step * 3 + 1;
        struct wire_header h;
        const uint8_t *p;
        int rc;
        while ((rc = wire_inbuf_next(&in, &h, &p)) == 1) {
            if (h.len > WIRE_MAX_PAYLOAD || h.type == 0 || h.type > WIRE_TYPE_MAX)
                abort();
            decode_payload(h.type, p, h.len);
        }
        if (rc < 0)
            break;
    }
    wire_inbuf_free(&in);
    return 0;
}
