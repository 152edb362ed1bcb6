/* agentconn.c - poll loop that moves frames between the host and the guest agent.
 * See agentconn.h for the model. */
#include "agentconn.h"

#include "util/util.h"
#include "vm/qmp.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define OUT_HIGH_WATER (4u << 20) /* stop reading input sources above this much queued */

void agent_conn_init(struct agent_conn *c, int fd, int watch_fd)
{
    static uint64_t serials;
    memset(c, 0, sizeof *c);
    c->fd = fd;
    c->watch_fd = watch_fd;
    c->next_id = 1;
    c->serial = ++serials;
}

void agent_conn_close(struct agent_conn *c)
{
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    wire_inbuf_free(&c->in);
    free(c->out.data);
    c->out.data = NULL;
    c->out.len = c->out.off = c->out.cap = 0;
    c->nbg = 0; /* background ops end with their connection */
}

uint32_t agent_next_id(struct agent_conn *c)
{
    uint32_t id = c->next_id++;
    if (c->next_id == 0)
        c->next_id = 1;
    return id;
}

static void mark_dead(struct agent_conn *c, const char *why)
{
    if (!c->dead)
        snprintf(c->dead_reason, sizeof c->dead_reason, "%s", why);
    c->dead = 1;
}

static void out_append(struct agent_conn *c, const void *p, size_t n)
{
    if (c->out.off > 0 && c->out.off == c->out.len)
        c->out.off = c->out.len = 0;
    if (c->out.len + n > c->out.cap) {
        if (c->out.off > 0) {
            memmove(c->out.data, c->out.data + c->out.off, c->out.len - c->out.off);
            c->out.len -= c->out.off;
            c->out.off = 0;
        }
        if (c->out.len + n > c->out.cap) {
            size_t cap = c->out.cap ? c->out.cap : 65536;
            while (cap < c->out.len + n)
                cap *= 2;
            c->out.data = xrealloc(c->out.data, cap);
            c->out.cap = cap;
        }
    }
    memcpy(c->out.data + c->out.len, p, n);
    c->out.len += n;
}

void agent_queue(struct agent_conn *c, const struct wire_writer *w)
{
    out_append(c, w->buf, w->len);
}

static size_t out_pending(const struct agent_conn *c) { return c->out.len - c->out.off; }

/* Queues one DATA frame of input (or the final empty one). */
static void feed_input(struct agent_conn *c, struct agent_op *op)
{
    static uint8_t chunk[WIRE_CHUNK];
    while (op->has_input && !op->in_eof_sent && out_pending(c) < OUT_HIGH_WATER) {
        const void *p = NULL;
        size_t n = 0;
        if (op->in_fd >= 0) {
            ssize_t r = read(op->in_fd, chunk, sizeof chunk);
            if (r < 0 && errno == EINTR)
                continue;
            if (r < 0) {
                op->in_error = errno;
                r = 0;
            }
            p = chunk;
            n = (size_t)r;
        } else {
            n = op->in_len - op->in_off;
            if (n > WIRE_CHUNK)
                n = WIRE_CHUNK;
            p = op->in_data + op->in_off;
            op->in_off += n;
        }
        uint8_t hdr[WIRE_HEADER_SIZE];
        struct wire_header h = {(uint32_t)n, WIRE_DATA, 0, op->id};
        wire_encode_header(hdr, &h);
        out_append(c, hdr, sizeof hdr);
        if (n)
            out_append(c, p, n);
        else
            op->in_eof_sent = 1;
    }
}

static int flush_some(struct agent_conn *c)
{
    while (out_pending(c) > 0) {
        ssize_t w = write(c->fd, c->out.data + c->out.off, out_pending(c));
        if (w < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN)
                return 0;
            mark_dead(c, "agent connection write failed");
            return -1;
        }
        c->out.off += (size_t)w;
    }
    return 0;
}

int agent_flush(struct agent_conn *c)
{
    if (c->dead || c->fd < 0)
        return -1;
    return flush_some(c);
}

static int read_some(struct agent_conn *c)
{
    for (int rounds = 0; rounds < 64; rounds++) {
        size_t room;
        uint8_t *p = wire_inbuf_reserve(&c->in, 256 * 1024, &room);
        if (!p) {
            mark_dead(c, "out of memory");
            return -1;
        }
        ssize_t n = read(c->fd, p, room);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN)
                return 0;
            mark_dead(c, "agent connection read failed");
            return -1;
        }
        if (n == 0) {
            mark_dead(c, "agent connection closed");
            return -1;
        }
        wire_inbuf_commit(&c->in, (size_t)n);
        if ((size_t)n < room)
            return 0;
    }
    return 0;
}

/* Reads QEMU's pending QMP events; when the guest closed the agent's port, takes what
 * the agent sent before it went and marks the connection dead. 1 when it did. */
static int check_port(struct agent_conn *c)
{
    if (!c->qmp)
        return 0;
    if (qmp_poll(c->qmp) < 0) {
        c->qmp = NULL; /* QEMU is going away: its pidfd tells */
        return 0;
    }
    if (!qmp_agent_port_closed(c->qmp))
        return 0;
    read_some(c);
    mark_dead(c, "agent exited");
    return 1;
}

/* more_input: the caller still has input to queue; then wake as soon as the socket
 * can take more, even when nothing is queued right now. */
static int pump(struct agent_conn *c, int64_t deadline_ns, int more_input)
{
    if (c->dead)
        return AGENT_DEAD;
    if (flush_some(c) < 0)
        return AGENT_DEAD;
    if (check_port(c))
        return AGENT_OK; /* the caller hands out what was read, then sees c->dead */
    struct pollfd pfd[3];
    int n = 0, qmp_at = -1;
    pfd[n].fd = c->fd;
    pfd[n].events = POLLIN | (out_pending(c) || more_input ? POLLOUT : 0);
    n++;
    if (c->watch_fd >= 0) {
        pfd[n].fd = c->watch_fd;
        pfd[n].events = POLLIN;
        n++;
    }
    if (c->qmp) {
        qmp_at = n;
        pfd[n].fd = c->qmp->fd;
        pfd[n].events = POLLIN;
        n++;
    }
    int timeout = -1;
    if (deadline_ns) {
        int64_t left = deadline_ns - now_ns();
        if (left <= 0)
            return AGENT_DEADLINE;
        timeout = (int)((left + 999999) / 1000000);
    }
    if (c->health && (timeout < 0 || timeout > 1000))
        timeout = 1000;
    int r = poll(pfd, (nfds_t)n, timeout);
    if (r < 0) {
        if (errno == EINTR)
            return AGENT_OK;
        mark_dead(c, "poll failed");
        return AGENT_DEAD;
    }
    if (r == 0) {
        const char *why = c->health ? c->health(c->health_ud) : NULL;
        if (why) {
            mark_dead(c, why);
            return AGENT_DEAD;
        }
        return deadline_ns && now_ns() >= deadline_ns ? AGENT_DEADLINE : AGENT_OK;
    }
    if (pfd[0].revents & (POLLIN | POLLHUP | POLLERR))
        if (read_some(c) < 0 && c->in.len == c->in.start)
            return AGENT_DEAD;
    if (pfd[0].revents & POLLOUT)
        if (flush_some(c) < 0)
            return AGENT_DEAD;
    if (c->watch_fd >= 0 && (pfd[1].revents & POLLIN)) {
        /* QEMU exited; drain what is already buffered first */
        read_some(c);
        mark_dead(c, "QEMU exited");
    }
    if (qmp_at >= 0 && pfd[qmp_at].revents)
        check_port(c);
    return AGENT_OK;
}

int agent_wait_hello(struct agent_conn *c, int64_t deadline_ns, uint32_t *protocol)
{
    for (;;) {
        struct wire_header h;
        const uint8_t *payload;
        int got;
        while ((got = wire_inbuf_next(&c->in, &h, &payload)) == 1) {
            if (h.type != WIRE_HELLO)
                continue; /* stale frames from before a restore */
            struct wire_reader r;
            wire_reader_init(&r, payload, h.len);
            *protocol = wire_get_u32(&r);
            return wire_reader_ok(&r) ? AGENT_OK : AGENT_PROTO;
        }
        if (got < 0) {
            mark_dead(c, "corrupt frame from agent");
            return AGENT_PROTO;
        }
        if (c->dead)
            return AGENT_DEAD;
        int rc = pump(c, deadline_ns, 0);
        if (rc != AGENT_OK)
            return rc;
    }
}

int agent_bg_add(struct agent_conn *c, struct agent_op *op)
{
    if (c->nbg >= AGENT_MAX_BG)
        return -1;
    op->done = 0;
    c->bg[c->nbg++] = op;
    return 0;
}

void agent_bg_remove(struct agent_conn *c, struct agent_op *op)
{
    for (int i = 0; i < c->nbg; i++)
        if (c->bg[i] == op) {
            c->bg[i] = c->bg[--c->nbg];
            return;
        }
}

/* Hands a frame to the background op it answers; 1 when it belonged to one. */
static int dispatch_bg(struct agent_conn *c, const struct wire_header *h, const uint8_t *payload)
{
    for (int i = 0; i < c->nbg; i++) {
        struct agent_op *op = c->bg[i];
        if (op->id != h->id)
            continue;
        if (!op->done) {
            op->frames++;
            int r = op->on_frame(op, h, payload);
            if (r != 0)
                op->done = r;
        }
        return 1;
    }
    return 0;
}

int agent_wait_bg(struct agent_conn *c, struct agent_op *op, int64_t deadline_ns,
                  int any_frame)
{
    unsigned seen = op->frames;
    for (;;) {
        struct wire_header h;
        const uint8_t *payload;
        int got;
        while ((got = wire_inbuf_next(&c->in, &h, &payload)) == 1)
            dispatch_bg(c, &h, payload);
        if (got < 0) {
            mark_dead(c, "corrupt frame from agent");
            return AGENT_PROTO;
        }
        if (op->done)
            return op->done > 0 ? AGENT_OK : AGENT_PROTO;
        if (any_frame && op->frames != seen)
            return AGENT_OK;
        if (c->dead)
            return AGENT_DEAD;
        int rc = pump(c, deadline_ns, 0);
        if (rc != AGENT_OK)
            return rc;
    }
}

int agent_run(struct agent_conn *c, struct agent_op *op, int64_t deadline_ns)
{
    for (;;) {
        feed_input(c, op);
        struct wire_header h;
        const uint8_t *payload;
        int got;
        while ((got = wire_inbuf_next(&c->in, &h, &payload)) == 1) {
            if (h.id != op->id) {
                dispatch_bg(c, &h, payload); /* else an answer to something abandoned */
                continue;
            }
            int done = op->on_frame(op, &h, payload);
            if (done < 0)
                return AGENT_PROTO;
            if (done > 0) {
                /* finish sending any input so the stream stays in sync */
                while (op->has_input && !op->in_eof_sent) {
                    feed_input(c, op);
                    if (flush_some(c) < 0)
                        break;
                }
                flush_some(c);
                return AGENT_OK;
            }
        }
        if (got < 0) {
            mark_dead(c, "corrupt frame from agent");
            return AGENT_PROTO;
        }
        if (c->dead)
            return AGENT_DEAD;
        int rc = pump(c, deadline_ns, op->has_input && !op->in_eof_sent);
        if (rc != AGENT_OK)
            return rc;
    }
}

struct simple_ctx {
    int err_no;
    char *msg;
    uint8_t *extra;
    size_t extra_len;
};

static int simple_frame(struct agent_op *op, const struct wire_header *h, const uint8_t *payload)
{
    struct simple_ctx *s = op->ctx;
    if (h->type != WIRE_RESULT)
        return 0;
    struct wire_reader r;
    wire_reader_init(&r, payload, h->len);
    s->err_no = wire_get_i32(&r);
    s->msg = wire_get_str(&r);
    if (!wire_reader_ok(&r))
        return -1;
    s->extra_len = r.len - r.pos;
    s->extra = xmalloc(s->extra_len + 1);
    memcpy(s->extra, r.p + r.pos, s->extra_len);
    return 1;
}

int agent_simple(struct agent_conn *c, struct wire_writer *w, uint32_t id, int64_t deadline_ns,
                 int *err_no, char **msg, uint8_t **extra, size_t *extra_len)
{
    struct simple_ctx s = {0};
    struct agent_op op = {0};
    op.id = id;
    op.in_fd = -1;
    op.on_frame = simple_frame;
    op.ctx = &s;
    agent_queue(c, w);
    int rc = agent_run(c, &op, deadline_ns);
    if (rc == AGENT_OK) {
        *err_no = s.err_no;
        if (msg)
            *msg = s.msg;
        else
            free(s.msg);
        if (extra) {
            *extra = s.extra;
            *extra_len = s.extra_len;
        } else
            free(s.extra);
    } else {
        free(s.msg);
        free(s.extra);
    }
    return rc;
}
