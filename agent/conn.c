/* conn.c - moving frames between the agent and the host over the port fd.
 *
 * The port fd is non-blocking so the poll() loop never stalls on input, but frames go
 * out with blocking full writes: when the port is full we wait for POLLOUT right here.
 * That is safe because the host always reads while it writes. A hang-up seen while
 * waiting (the host went away mid-frame) marks the connection lost; the loop then drops
 * every request's state, since the rest of that frame can never be sent.
 *
 * Input is read straight into the free space of agent.in (a wire_inbuf, whose fields
 * wire.h makes public) rather than through wire_inbuf_append: under TCG every
 * userspace copy of a 64 MiB upload costs noticeably, and a virtio port hands out at
 * most 4 KiB per read(). For the same reason a small unread tail (the start of the
 * next frame) is moved to the front right after dispatching, while it is still small,
 * instead of a whole buffer's worth later. */
#include "agent.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#define INPUT_READ_MIN (64u * 1024) /* free space offered to each read() */
#define INPUT_TIDY_MAX (64u * 1024) /* unread tails up to this size move to the front */

/* Wait until fd is writable; -1 if the peer hung up instead. */
static int wait_writable(int fd)
{
    for (;;) {
        struct pollfd p = {.fd = fd, .events = POLLOUT};
        int n = poll(&p, 1, -1);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        if (p.revents & POLLOUT)
            return 0;
        if (p.revents & (POLLHUP | POLLERR | POLLNVAL))
            return -1;
    }
}

static int writev_full(int fd, struct iovec *iov, int cnt)
{
    while (cnt > 0) {
        ssize_t k = writev(fd, iov, cnt);
        if (k < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN && wait_writable(fd) == 0)
                continue;
            return -1;
        }
        size_t done = (size_t)k;
        while (cnt > 0 && done >= iov->iov_len) {
            done -= iov->iov_len;
            iov++;
            cnt--;
        }
        if (cnt > 0) {
            iov->iov_base = (uint8_t *)iov->iov_base + done;
            iov->iov_len -= done;
        }
    }
    return 0;
}

struct wire_writer *conn_begin(uint16_t type, uint32_t id)
{
    wire_begin(&agent.out, type, id);
    return &agent.out;
}

struct wire_writer *conn_begin_result(uint32_t id, int err, const char *msg)
{
    struct wire_writer *w = conn_begin(WIRE_RESULT, id);
    wire_put_i32(w, err);
    wire_put_str(w, msg);
    return w;
}

/* Keeps the frame's payload (and the appended bytes) in agent.capture. */
static int capture_frame(struct wire_writer *w, const void *data, size_t n)
{
    struct capture *c = agent.capture;
    if (wire_finish(w) < 0)
        return -1;
    size_t len = w->len - WIRE_HEADER_SIZE + n;
    if (len > c->cap) {
        uint8_t *p = realloc(c->p, len);
        if (!p)
            abort(); /* at most a frame: nothing sensible to do without it */
        c->p = p;
        c->cap = len;
    }
    memcpy(c->p, w->buf + WIRE_HEADER_SIZE, w->len - WIRE_HEADER_SIZE);
    if (n)
        memcpy(c->p + w->len - WIRE_HEADER_SIZE, data, n);
    c->len = len;
    c->frames++;
    return 0;
}

int conn_send_with_data(struct wire_writer *w, const void *data, size_t n)
{
    if (agent.capture)
        return capture_frame(w, data, n);
    if (!agent.connected || agent.port_fd < 0)
        return -1;
    if (wire_finish(w) < 0 || w->len - WIRE_HEADER_SIZE + n > WIRE_MAX_PAYLOAD) {
        agent_log("dropping an oversized frame");
        return -1;
    }
    if (n > 0) { /* the header must count the appended bytes too */
        struct wire_header h;
        wire_decode_header(w->buf, &h);
        h.len += (uint32_t)n;
        wire_encode_header(w->buf, &h);
    }
    struct iovec iov[2] = {{w->buf, w->len}, {(void *)data, n}};
    if (writev_full(agent.port_fd, iov, n > 0 ? 2 : 1) < 0) {
        conn_lost("write to host failed");
        return -1;
    }
    return 0;
}

int conn_send(struct wire_writer *w) { return conn_send_with_data(w, NULL, 0); }

void reply_ok(uint32_t id) { conn_send(conn_begin_result(id, 0, "")); }

void reply_error(uint32_t id, int err, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    conn_send(conn_begin_result(id, err, msg));
}

void reply_malformed(uint32_t id, uint16_t type)
{
    reply_error(id, EINVAL, "malformed %s request", wire_type_name(type));
}

void send_hello(void)
{
    struct wire_writer *w = conn_begin(WIRE_HELLO, 0);
    wire_put_u32(w, WIRE_PROTOCOL_VERSION);
    wire_put_str(w, AGENT_VERSION);
    wire_put_u32(w, (uint32_t)getpid());
    conn_send(w);
}

ssize_t conn_read_some(void)
{
    size_t room;
    uint8_t *p = wire_inbuf_reserve(&agent.in, INPUT_READ_MIN, &room);
    if (!p) {
        errno = ENOMEM;
        return -1;
    }
    for (;;) {
        ssize_t n = read(agent.port_fd, p, room);
        if (n > 0) {
            wire_inbuf_commit(&agent.in, (size_t)n);
            return n;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            return 0;
        if (n == 0)
            errno = 0;
        return -1;
    }
}

void conn_input_tidy(void)
{
    struct wire_inbuf *in = &agent.in;
    size_t unread = in->len - in->start;
    if (in->start > 0 && unread <= INPUT_TIDY_MAX) {
        memmove(in->buf, in->buf + in->start, unread);
        in->start = 0;
        in->len = unread;
    }
}

/* Only flags the loss: the loop resets the requests at a safe point, because the
 * caller may be in the middle of walking a session list. `why` is NULL for an orderly
 * close, which is not worth a console line. */
void conn_lost(const char *why)
{
    if (!agent.connected)
        return;
    if (why && agent.guest_mode)
        agent_log("connection lost: %s", why);
    agent.connected = 0;
    agent.reset_pending = 1;
}
