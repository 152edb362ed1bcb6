/* wire.h - the framed message format spoken between the host and the guest agent.
 *
 * Both sides link proto/wire.c, so the layout below is the single source of truth.
 * Everything travels over one virtio-serial port as a sequence of frames:
 *
 *   +----------+----------+----------+----------------------+
 *   | len  u32 | type u16 | flags u16| id u32 | payload ... |
 *   +----------+----------+----------+----------------------+
 *
 * All integers are little endian. `len` counts the payload only and is capped at
 * WIRE_MAX_PAYLOAD, so a reader never allocates more than that for one frame. `id` is
 * the request id chosen by the host; every reply and every stream chunk of a request
 * carries the request's id, which is how one connection multiplexes many requests.
 *
 * Payloads are a flat sequence of fields written with the wire_put_* helpers and read
 * back with the bounds-checked wire_get_* helpers: u8/u32/u64/i64 fixed width, and
 * `bytes` = u32 length + raw bytes (strings are bytes without a terminator). A reader
 * that runs past the end of a payload sets an error flag instead of reading out of
 * bounds; callers check wire_reader_ok() once after decoding a whole message.
 *
 * Message layouts (host -> agent requests, agent -> host replies):
 *
 *   HELLO      a->h id 0 : u32 protocol, bytes agent_version, u32 pid
 *   PING       h->a      : (empty)                       -> RESULT
 *   EXEC       h->a      : u32 flags (WIRE_EXEC_*), bytes cwd, u32 argc, argc*bytes,
 *                          u32 envc, envc*bytes ("K=V"), u64 timeout_ms (0 = none)
 *                          with WIRE_EXEC_STDIN the host then sends DATA frames
 *                          (empty DATA = end of stdin)
 *              a->h      : OUTPUT frames: u8 stream (1 stdout, 2 stderr), bytes data
 *                          then EXIT: u8 status (WIRE_STATUS_*), i32 code, i32 signal
 *                          or RESULT with errno != 0 when the process could not start
 *   READ_FILE  h->a      : bytes path                    -> DATA* then RESULT
 *                          (RESULT payload: i32 errno, bytes message, u64 total_size)
 *   WRITE_FILE h->a      : bytes path, u32 mode, u32 flags (WIRE_WF_*), then DATA*,
 *                          empty DATA = end                -> RESULT
 *   STAT       h->a      : bytes path, u8 follow         -> RESULT + u8 type, u64 size,
 *                          i64 mtime_s, u32 mtime_ns, u32 perm
 *   LISTDIR    h->a      : bytes path                    -> RESULT + u32 n, n*(bytes name, u8 type)
 *   MKDIR      h->a      : bytes path, u32 perm, u8 parents -> RESULT
 *   UNLINK     h->a      : bytes path                    -> RESULT
 *   RENAME     h->a      : bytes from, bytes to          -> RESULT
 *   SET_TIME   h->a      : i64 sec, u32 nsec             -> RESULT
 *   HOSTNAME   h->a      : bytes name                    -> RESULT
 *   POWEROFF   h->a      : (empty)                       -> RESULT, then the guest powers off
 *   KILL       h->a      : u32 exec_id, i32 signal       -> RESULT
 *                          (signal < 0: -signal to the process group)
 *   OPEN       h->a      : bytes path, u32 flags (WIRE_OPEN_*), u32 perm
 *                                                        -> RESULT + u32 handle
 *   HREAD      h->a      : u32 handle, u32 max (<= WIRE_CHUNK)
 *                                                        -> RESULT + bytes data (empty = EOF)
 *   HWRITE     h->a      : u32 handle, bytes data        -> RESULT + u32 written
 *   HSEEK      h->a      : u32 handle, i64 offset, u8 whence (WIRE_SEEK_*)
 *                                                        -> RESULT + u64 position
 *   HCLOSE     h->a      : u32 handle                    -> RESULT
 *              Handles are the agent's open files, numbered from 1, never 0; they belong
 *              to the connection and all close when it is lost. At most
 *              WIRE_MAX_HANDLES are open at once (EMFILE beyond). OPEN needs READ, WRITE
 *              or APPEND; EXCLUSIVE implies CREATE; a file it creates gets exactly perm.
 *
 *   BATCH      h->a      : u32 count (<= WIRE_BATCH_MAX), count*(u16 type, bytes request,
 *                          bytes data)               -> RESULT + u32 count, count*bytes answer
 *              Several requests in one frame, run in order, answered in one RESULT
 *              (vm:batch). type is EXEC, READ_FILE, WRITE_FILE, STAT, LISTDIR, MKDIR,
 *              UNLINK or RENAME and request is that type's own payload; data is what
 *              would follow as DATA frames (WRITE_FILE's contents, EXEC's stdin with
 *              WIRE_EXEC_STDIN), empty otherwise. WIRE_EXEC_PID is refused. Each answer
 *              is a RESULT payload of its own (i32 errno, bytes message, fields); EXEC
 *              answers u8 status, i32 code, i32 signal, u64 duration_ns, bytes stdout,
 *              bytes stderr (no OUTPUT/EXIT frames), READ_FILE answers bytes data. A
 *              failed request does not stop the next. The whole RESULT fits one frame:
 *              every answer not yet made keeps WIRE_BATCH_ROOM bytes (room for an error
 *              or a small answer), and an answer that does not fit what is left (a
 *              run's output, a file, a listing) is errno EMSGSIZE, "output too large for
 *              a batch". A malformed envelope is one EINVAL RESULT; a malformed request
 *              inside is that request's EINVAL answer. One batch runs at a time (EBUSY);
 *              its runs are sessions like EXEC's, so the agent keeps serving meanwhile.
 *
 *   RESULT     a->h      : i32 errno (0 = ok), bytes message, then op-specific fields
 *
 *   DATA       both ways : the whole payload is raw bytes (no length prefix), so a
 *                          chunk is sent without copying; an empty DATA ends a stream
 */
#ifndef PROVIUM_WIRE_H
#define PROVIUM_WIRE_H

#include <stddef.h>
#include <stdint.h>

#define WIRE_PROTOCOL_VERSION 2 /* 2: BATCH */
#define WIRE_HEADER_SIZE 12
#define WIRE_MAX_PAYLOAD (1u << 20) /* 1 MiB: a frame never exceeds this */
#define WIRE_CHUNK (256u * 1024)    /* preferred size of a DATA/OUTPUT chunk */
#define WIRE_PORT_NAME "provium.0"  /* virtio-serial port name */

enum wire_type {
    WIRE_HELLO = 1,
    WIRE_PING = 2,
    WIRE_EXEC = 3,
    WIRE_DATA = 4,
    WIRE_OUTPUT = 5,
    WIRE_EXIT = 6,
    WIRE_READ_FILE = 7,
    WIRE_WRITE_FILE = 8,
    WIRE_STAT = 9,
    WIRE_LISTDIR = 10,
    WIRE_MKDIR = 11,
    WIRE_UNLINK = 12,
    WIRE_RENAME = 13,
    WIRE_SET_TIME = 14,
    WIRE_HOSTNAME = 15,
    WIRE_POWEROFF = 16,
    WIRE_KILL = 17,
    WIRE_RESULT = 18,
    WIRE_OPEN = 19,
    WIRE_HREAD = 20,
    WIRE_HWRITE = 21,
    WIRE_HSEEK = 22,
    WIRE_HCLOSE = 23,
    WIRE_GET_TIME = 24,
    WIRE_BATCH = 25,
    WIRE_TYPE_MAX = 25
};

/* EXEC flags */
#define WIRE_EXEC_STDIN 0x1     /* DATA frames with stdin follow */
#define WIRE_EXEC_ENV_CLEAR 0x2 /* env replaces the agent's environment */
#define WIRE_EXEC_PID 0x4       /* first answer: OUTPUT on stream 0 with the u32 guest PID */

/* WRITE_FILE flags */
#define WIRE_WF_KEEP_MODE 0x1 /* mode only applies to newly created files */

/* OPEN flags */
#define WIRE_OPEN_READ 0x1
#define WIRE_OPEN_WRITE 0x2
#define WIRE_OPEN_CREATE 0x4
#define WIRE_OPEN_TRUNCATE 0x8
#define WIRE_OPEN_APPEND 0x10
#define WIRE_OPEN_EXCLUSIVE 0x20
#define WIRE_OPEN_ALL 0x3f
#define WIRE_MAX_HANDLES 256

/* HSEEK whence */
#define WIRE_SEEK_SET 0
#define WIRE_SEEK_CUR 1
#define WIRE_SEEK_END 2

/* BATCH */
#define WIRE_BATCH_MAX 1024  /* requests in one BATCH frame */
#define WIRE_BATCH_ROOM 252  /* bytes each answer not yet made keeps in the RESULT */

/* EXIT status */
#define WIRE_STATUS_EXITED 0
#define WIRE_STATUS_SIGNALLED 1
#define WIRE_STATUS_TIMED_OUT 2

/* STAT / LISTDIR entry types */
enum wire_entry_type {
    WIRE_ENT_FILE = 0,
    WIRE_ENT_DIR = 1,
    WIRE_ENT_SYMLINK = 2,
    WIRE_ENT_FIFO = 3,
    WIRE_ENT_SOCKET = 4,
    WIRE_ENT_BLOCK = 5,
    WIRE_ENT_CHAR = 6,
    WIRE_ENT_OTHER = 7
};

struct wire_header {
    uint32_t len;
    uint16_t type;
    uint16_t flags;
    uint32_t id;
};

/* Growable output buffer for building one frame. The header is reserved up front and
 * filled by wire_finish(). */
struct wire_writer {
    uint8_t *buf;
    size_t len, cap;
    int failed; /* allocation failure or payload over the cap */
};

struct wire_reader {
    const uint8_t *p;
    size_t len, pos;
    int failed;
};

/* Header codec. wire_decode_header returns 0 on success, -1 when the header is invalid
 * (unknown type or payload over WIRE_MAX_PAYLOAD). */
void wire_encode_header(uint8_t out[WIRE_HEADER_SIZE], const struct wire_header *h);
int wire_decode_header(const uint8_t in[WIRE_HEADER_SIZE], struct wire_header *h);

/* Frame building: start, put fields, finish. wire_finish returns 0 and leaves the whole
 * frame (header + payload) in w->buf[0..w->len), or -1 if anything failed. */
void wire_begin(struct wire_writer *w, uint16_t type, uint32_t id);
void wire_put_u8(struct wire_writer *w, uint8_t v);
void wire_put_u16(struct wire_writer *w, uint16_t v);
void wire_put_u32(struct wire_writer *w, uint32_t v);
void wire_put_i32(struct wire_writer *w, int32_t v);
void wire_put_u64(struct wire_writer *w, uint64_t v);
void wire_put_i64(struct wire_writer *w, int64_t v);
void wire_put_bytes(struct wire_writer *w, const void *data, size_t n);
void wire_put_str(struct wire_writer *w, const char *s);
int wire_finish(struct wire_writer *w);
void wire_writer_free(struct wire_writer *w);

/* Payload decoding. Every getter is bounds-checked; on overrun it returns zero/empty and
 * sets r->failed. wire_get_bytes returns a pointer into the payload (not terminated).
 * wire_get_str copies into a fresh NUL-terminated malloc'd string, rejecting embedded
 * NUL bytes (returns NULL and sets failed). */
void wire_reader_init(struct wire_reader *r, const void *payload, size_t len);
uint8_t wire_get_u8(struct wire_reader *r);
uint16_t wire_get_u16(struct wire_reader *r);
uint32_t wire_get_u32(struct wire_reader *r);
int32_t wire_get_i32(struct wire_reader *r);
uint64_t wire_get_u64(struct wire_reader *r);
int64_t wire_get_i64(struct wire_reader *r);
const uint8_t *wire_get_bytes(struct wire_reader *r, uint32_t *n);
char *wire_get_str(struct wire_reader *r);
int wire_reader_ok(const struct wire_reader *r);     /* no overrun so far */
int wire_reader_at_end(const struct wire_reader *r); /* ok and every byte consumed */

/* One request of a BATCH payload (after its u32 count): 0, or -1 (r->failed set) when
 * the bytes run out. The pointers point into the payload. */
struct wire_batch_req {
    uint16_t type;
    const uint8_t *req, *data;
    uint32_t req_len, data_len;
};
int wire_batch_next(struct wire_reader *r, struct wire_batch_req *q);

/* Incremental frame assembly from a byte stream (used by both sides' event loops).
 * Feed bytes with wire_inbuf_append; pull complete frames with wire_inbuf_next, which
 * returns 1 and fills *h / *payload (valid until the next call), 0 when more bytes are
 * needed, -1 on a corrupt header (the connection should then be dropped). */
struct wire_inbuf {
    uint8_t *buf;
    size_t len, cap, start;
};
int wire_inbuf_append(struct wire_inbuf *in, const void *data, size_t n);
/* Zero-copy input: a pointer to at least `want` free bytes at the end (compacting or
 * growing the buffer; *avail gets the real free size), or NULL when out of memory.
 * Read into it, then count what arrived with wire_inbuf_commit. */
uint8_t *wire_inbuf_reserve(struct wire_inbuf *in, size_t want, size_t *avail);
void wire_inbuf_commit(struct wire_inbuf *in, size_t n);
int wire_inbuf_next(struct wire_inbuf *in, struct wire_header *h, const uint8_t **payload);
void wire_inbuf_free(struct wire_inbuf *in);

const char *wire_type_name(uint16_t type);

#endif
