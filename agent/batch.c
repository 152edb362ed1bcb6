/* batch.c - BATCH: several requests in one frame, answered in one RESULT (vm:batch).
 *
 * Why: a test that makes a hundred small guest calls pays a hundred round trips over
 * the virtio port; a batch pays one. The requests run in order. The one-shot ones
 * (STAT, LISTDIR, MKDIR, UNLINK, RENAME, WRITE_FILE) go through their usual handlers
 * with agent.capture set, so the RESULT each would send becomes its answer instead.
 * READ_FILE reads here, bounded by the room left. EXEC starts a session of exec.c
 * whose output and exit are captured; the batch waits for it in the loop like any
 * other session (the agent keeps serving everything else) and goes on from its
 * on_exit. Layout and the size rule in proto/wire.h: every answer not yet made keeps
 * WIRE_BATCH_ROOM bytes, so the whole RESULT always fits one frame. */
#include "agent.h"
#include "exec.h"
#include "files.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MSG_MAX 200 /* an answer's message: errno + message stay within WIRE_BATCH_ROOM */
#define RUN_FIXED 33 /* errno, empty message, status, code, signal, duration, two lengths */

static struct {
    int active;
    uint32_t id;
    uint8_t *req;          /* a copy of the BATCH payload */
    struct wire_reader r;  /* at the next request */
    uint32_t left;         /* answers still to make, the running one included */
    struct wire_writer ans; /* the RESULT */
    struct exec_capture cap; /* the run in progress */
    int64_t t0;
} b;

/* Bytes the current answer may take (its bytes length prefix apart). */
static size_t room(void)
{
    size_t used = b.ans.len - WIRE_HEADER_SIZE + 4;
    size_t keep = (size_t)(b.left - 1) * (4 + WIRE_BATCH_ROOM);
    return used + keep >= WIRE_MAX_PAYLOAD ? 0 : WIRE_MAX_PAYLOAD - used - keep;
}

static void answer_error(int err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void answer_raw(const void *p, size_t n)
{
    wire_put_bytes(&b.ans, p, n);
    b.left--;
}

static void answer_error(int err, const char *fmt, ...)
{
    char msg[MSG_MAX + 1];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    uint8_t buf[8 + MSG_MAX];
    struct wire_writer w = {buf, 0, sizeof buf, 0};
    wire_put_i32(&w, err);
    wire_put_str(&w, msg);
    answer_raw(buf, w.len);
}

/* A captured RESULT payload as the answer: an error's message is cut to MSG_MAX, and
 * a success that does not fit the room becomes EMSGSIZE. */
static void answer_captured(const struct capture *c)
{
    struct wire_reader r;
    wire_reader_init(&r, c->p, c->len);
    int err = wire_get_i32(&r);
    uint32_t n;
    const uint8_t *m = wire_get_bytes(&r, &n);
    if (c->frames == 0 || !wire_reader_ok(&r))
        answer_error(EIO, "no answer");
    else if (err)
        answer_error(err, "%.*s", (int)(n > MSG_MAX ? MSG_MAX : n), (const char *)m);
    else if (c->len > room())
        answer_error(EMSGSIZE, "output too large for a batch (%zu bytes, room for %zu)",
                     c->len, room());
    else
        answer_raw(c->p, c->len);
}

/* READ_FILE, read here at once: a FIFO with nothing to read yet answers EAGAIN. */
static void read_file(struct wire_reader *r)
{
    char *path = wire_get_str(r);
    if (!wire_reader_at_end(r)) {
        free(path);
        answer_error(EINVAL, "malformed READ_FILE request");
        return;
    }
    size_t max = room() > 12 ? room() - 12 : 0; /* errno, message, data length */
    uint8_t *data = malloc(max + 1);
    size_t len = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    struct stat st;
    int err = !data ? ENOMEM : fd < 0 || fstat(fd, &st) < 0 ? errno : 0;
    if (!err && S_ISDIR(st.st_mode))
        err = EISDIR;
    while (!err && len <= max) {
        ssize_t k = read(fd, data + len, max + 1 - len);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0) {
            err = k < 0 ? errno : 0;
            break;
        }
        len += (size_t)k;
    }
    if (err)
        answer_error(err, "%s: %s", path, strerror(err));
    else if (len > max)
        answer_error(EMSGSIZE, "output too large for a batch (more than %zu bytes)", max);
    else {
        struct wire_writer w = {0};
        wire_put_i32(&w, 0);
        wire_put_str(&w, "");
        wire_put_bytes(&w, data, len);
        answer_raw(w.buf, w.len);
        wire_writer_free(&w);
    }
    if (fd >= 0)
        close(fd);
    free(data);
    free(path);
}

static void run_exited(struct exec_capture *c);

/* EXEC: 1 when its session started (the batch waits), 0 when answered at once. */
static int run(struct wire_reader *r, const struct wire_batch_req *q, struct capture *cap)
{
    struct wire_reader peek = *r;
    uint32_t flags = wire_get_u32(&peek);
    if (flags & WIRE_EXEC_PID) {
        answer_error(EINVAL, "EXEC_PID in a batch");
        return 0;
    }
    memset(&b.cap, 0, sizeof b.cap);
    b.cap.limit = room() > RUN_FIXED ? room() - RUN_FIXED : 0;
    b.cap.on_exit = run_exited;
    b.t0 = now_ms();
    agent.capture = cap;
    int started = exec_start_captured(b.id, r, &b.cap);
    agent.capture = NULL;
    if (!started) {
        answer_captured(cap);
        return 0;
    }
    if (flags & WIRE_EXEC_STDIN) {
        if (q->data_len)
            exec_stdin_data(b.id, q->data, q->data_len);
        exec_stdin_data(b.id, NULL, 0);
    }
    return 1;
}

/* The one-shot requests, through their handlers with the reply captured. */
static void one_shot(uint16_t type, struct wire_reader *r, const struct wire_batch_req *q,
                     struct capture *cap)
{
    agent.capture = cap;
    switch (type) {
    case WIRE_STAT: files_stat(b.id, r); break;
    case WIRE_LISTDIR: files_listdir(b.id, r); break;
    case WIRE_MKDIR: files_mkdir(b.id, r); break;
    case WIRE_UNLINK: files_unlink(b.id, r); break;
    case WIRE_RENAME: files_rename(b.id, r); break;
    case WIRE_WRITE_FILE:
        files_write_start(b.id, r); /* answers only when malformed */
        if (cap->frames == 0 && q->data_len)
            files_write_data(b.id, q->data, q->data_len);
        if (cap->frames == 0)
            files_write_data(b.id, NULL, 0);
        break;
    }
    agent.capture = NULL;
    answer_captured(cap);
}

/* Runs one request: 1 when it is a run still going. */
static int step(void)
{
    struct wire_batch_req q;
    wire_batch_next(&b.r, &q); /* checked whole by batch_start */
    struct wire_reader r;
    wire_reader_init(&r, q.req, q.req_len);
    struct capture cap = {0};
    int waiting = 0;
    switch (q.type) {
    case WIRE_EXEC: waiting = run(&r, &q, &cap); break;
    case WIRE_READ_FILE: read_file(&r); break;
    case WIRE_STAT:
    case WIRE_LISTDIR:
    case WIRE_MKDIR:
    case WIRE_UNLINK:
    case WIRE_RENAME:
    case WIRE_WRITE_FILE: one_shot(q.type, &r, &q, &cap); break;
    default: answer_error(EINVAL, "%s cannot be batched", wire_type_name(q.type)); break;
    }
    free(cap.p);
    return waiting;
}

static void reset(void)
{
    free(b.req);
    wire_writer_free(&b.ans);
    free(b.cap.out);
    free(b.cap.err);
    memset(&b, 0, sizeof b);
}

/* Runs requests until one waits for its process, or sends the RESULT after the last. */
static void go_on(void)
{
    while (b.left > 0)
        if (step())
            return;
    conn_send(&b.ans);
    reset();
}

static void run_exited(struct exec_capture *c)
{
    if (!b.active || c != &b.cap)
        return;
    if (c->total > c->limit) {
        answer_error(EMSGSIZE, "output too large for a batch (%zu bytes, room for %zu)",
                     c->total, c->limit);
    } else {
        struct wire_writer w = {0};
        wire_put_i32(&w, 0);
        wire_put_str(&w, "");
        wire_put_u8(&w, c->status);
        wire_put_i32(&w, c->code);
        wire_put_i32(&w, c->signal);
        wire_put_u64(&w, (uint64_t)(now_ms() - b.t0) * 1000000u);
        wire_put_bytes(&w, c->out, c->out_len);
        wire_put_bytes(&w, c->err, c->err_len);
        answer_raw(w.buf, w.len);
        wire_writer_free(&w);
    }
    free(c->out);
    free(c->err);
    c->out = c->err = NULL;
    go_on();
}

/* The envelope: count and every request's three fields, nothing after. */
static int well_formed(struct wire_reader r, uint32_t n)
{
    struct wire_batch_req q;
    for (uint32_t i = 0; i < n; i++)
        if (wire_batch_next(&r, &q) < 0)
            return 0;
    return wire_reader_at_end(&r);
}

void batch_start(uint32_t id, struct wire_reader *r)
{
    if (b.active) {
        reply_error(id, EBUSY, "batch %u is still running", b.id);
        return;
    }
    uint32_t n = wire_get_u32(r);
    if (!wire_reader_ok(r) || n > WIRE_BATCH_MAX || !well_formed(*r, n)) {
        reply_malformed(id, WIRE_BATCH);
        return;
    }
    b.req = malloc(r->len - r->pos + 1);
    if (!b.req)
        abort();
    memcpy(b.req, r->p + r->pos, r->len - r->pos);
    wire_reader_init(&b.r, b.req, r->len - r->pos);
    b.active = 1;
    b.id = id;
    b.left = n;
    wire_begin(&b.ans, WIRE_RESULT, id);
    wire_put_i32(&b.ans, 0);
    wire_put_str(&b.ans, "");
    wire_put_u32(&b.ans, n);
    go_on();
}

int batch_has_id(uint32_t id) { return b.active && b.id == id; }

void batch_abort(void) { reset(); }
