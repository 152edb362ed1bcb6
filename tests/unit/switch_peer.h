/* switch_peer.h - the test side of the switch's ports, shared by test_switch.c
 * (forwarding, rules, counters, framing, captures), test_switch_impair.c (loss,
 * latency, bandwidth) and test_switch_queues.c (the bounded queues): three programs so
 * each stays well under five seconds on a loaded machine, ASan included.
 *
 * Each "VM" is our end of a socketpair standing in for the connected `-netdev stream`
 * socket QEMU serves (vm.c hands the other end to sw_add_port), speaking the same
 * framing: a 4-byte big-endian length, then the frame. Frames carry a tag in bytes
 * 14-15 so a test can tell which one arrived.
 *
 * No test sleeps to prove that something did not arrive: the switch counts a frame
 * (sw_counters) in the same locked step that forwards it, so once the sender's count
 * went up (SETTLE), every copy sent without delay is already in its receiver's socket
 * (QUIET checks it without waiting). Timing checks use lower bounds only (a loaded
 * machine makes frames later, never earlier) and generous waits for what must arrive.
 * Everything here is static inline: each program uses part of it. */
#ifndef PROVIUM_TEST_SWITCH_PEER_H
#define PROVIUM_TEST_SWITCH_PEER_H

#include "net/switch.h"
#include "util/util.h"
#include "tests/unit/testlib.h"

#include <errno.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#define MS 1000000LL

/* How long to wait for what must arrive: generous (a pass never waits this long), but
 * after the first miss short, so a broken switch fails in seconds, not minutes. */
static int g_missed;
#define WAIT_NS ((g_missed ? 200 : 3000) * MS)

static const uint8_t BCAST[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};

/* One VM's NIC: our end of the socket, its switch port, its MAC, frames it sent, and
 * the send buffer of the switch's end (what the kernel takes before the switch queues). */
struct peer {
    int fd, port;
    uint8_t mac[6];
    unsigned long long sent;
    int sndbuf;
};

/* A new port of bridge (-1: unbound) for VM `vm`, MAC 02:00:00:00:00:<id>. */
static inline struct peer plug(int bridge, const char *vm, uint8_t id)
{
    struct peer p = {-1, -1, {0x02, 0, 0, 0, 0, id}, 0, 0};
    int sv[2];
    if (!CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0))
        return p;
    socklen_t sl = sizeof p.sndbuf;
    getsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &p.sndbuf, &sl);
    p.fd = sv[0];
    p.port = sw_add_port(sv[1], vm);
    CHECK(p.port >= 0);
    sw_bind(p.port, bridge, 1);
    return p;
}

static inline void unplug(struct peer *p)
{
    sw_remove_port(p->port);
    close(p->fd);
}

/* Fills f with a frame dst <- src, EtherType 0x88b5 (local experimental), `tag` in
 * bytes 14-15 and a pattern after it, len bytes in all. */
static inline void make_frame(uint8_t *f, size_t len, const uint8_t *dst,
                              const uint8_t *src, unsigned tag)
{
    memcpy(f, dst, 6);
    memcpy(f + 6, src, 6);
    f[12] = 0x88;
    f[13] = 0xb5;
    for (size_t i = 14; i < len; i++)
        f[i] = (uint8_t)(tag + i);
    if (len >= 16) {
        f[14] = (uint8_t)(tag >> 8);
        f[15] = (uint8_t)tag;
    }
}

/* Writes len bytes of frame as QEMU's stream netdev does: big-endian length first. */
static inline void write_framed(int fd, const uint8_t *frame, uint32_t len)
{
    uint8_t hdr[4] = {(uint8_t)(len >> 24), (uint8_t)(len >> 16), (uint8_t)(len >> 8),
                      (uint8_t)len};
    CHECK(write_all(fd, hdr, 4) == 0);
    CHECK(write_all(fd, frame, len) == 0);
}

/* p sends a frame with source MAC src to dst. */
static inline void send_from(struct peer *p, const uint8_t *src, const uint8_t *dst,
                             unsigned tag, size_t len)
{
    uint8_t *f = xmalloc(len);
    make_frame(f, len, dst, src, tag);
    write_framed(p->fd, f, (uint32_t)len);
    p->sent++;
    free(f);
}

static inline void put(struct peer *p, const uint8_t *dst, unsigned tag, size_t len)
{
    send_from(p, p->mac, dst, tag, len);
}

/* p sends n frames of len bytes to dst, tagged first, first + 1, ..., in one write. */
static inline void put_many(struct peer *p, const uint8_t *dst, unsigned first, unsigned n,
                            size_t len)
{
    uint8_t *buf = xmalloc(n * (4 + len)), *f = buf;
    for (unsigned i = 0; i < n; i++, f += 4 + len) {
        f[0] = (uint8_t)(len >> 24), f[1] = (uint8_t)(len >> 16);
        f[2] = (uint8_t)(len >> 8), f[3] = (uint8_t)len;
        make_frame(f + 4, len, dst, p->mac, first + i);
    }
    CHECK(write_all(p->fd, buf, n * (4 + len)) == 0);
    p->sent += n;
    free(buf);
}

static inline struct sw_counters counters(const struct peer *p)
{
    struct sw_counters c;
    sw_counters(p->port, &c);
    return c;
}

/* Waits until the switch has taken in (and forwarded or dropped) all p sent. */
#define SETTLE(p) settle_at(__FILE__, __LINE__, p)
static inline void settle_at(const char *file, int line, const struct peer *p)
{
    int64_t end = now_ns() + WAIT_NS;
    while (counters(p).tx_packets < p->sent && now_ns() < end)
        usleep(500);
    if (!tl_check_at(counters(p).tx_packets == p->sent, file, line,
                     "the switch took in %llu of the %llu frames sent",
                     counters(p).tx_packets, p->sent))
        g_missed = 1;
}

/* Reads exactly n bytes before the deadline (CLOCK_MONOTONIC ns); -1 on timeout or EOF. */
static inline int read_by(int fd, uint8_t *buf, size_t n, int64_t deadline)
{
    size_t got = 0;
    while (got < n) {
        int64_t left = (deadline - now_ns()) / MS;
        struct pollfd pf = {fd, POLLIN, 0};
        if (poll(&pf, 1, left > 0 ? (int)left : 0) <= 0)
            return -1;
        ssize_t r = read(fd, buf + got, n - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return -1;
        got += (size_t)r;
    }
    return 0;
}

/* The next frame p receives before the deadline, into buf (cap bytes); its length or -1. */
static inline int recv_by(const struct peer *p, uint8_t *buf, size_t cap, int64_t deadline)
{
    uint8_t h[4];
    if (read_by(p->fd, h, 4, deadline) < 0)
        return -1;
    uint32_t len = (uint32_t)h[0] << 24 | (uint32_t)h[1] << 16 | (uint32_t)h[2] << 8 | h[3];
    if (len > cap || read_by(p->fd, buf, len, deadline + WAIT_NS) < 0)
        return -1;
    return (int)len;
}

static inline unsigned tag_of(const uint8_t *f)
{
    return (unsigned)f[14] << 8 | f[15];
}

/* p receives the frame tagged `tag` next, whole, within WAIT_NS. */
#define EXPECT(p, tag) expect_at(__FILE__, __LINE__, p, tag)
static inline int expect_at(const char *file, int line, const struct peer *p, unsigned tag)
{
    static uint8_t buf[65536];
    int n = recv_by(p, buf, sizeof buf, now_ns() + WAIT_NS);
    if (!tl_check_at(n >= 16, file, line, "port %d: no frame (expected tag %u)", p->port, tag)) {
        g_missed = 1;
        return 0;
    }
    uint8_t *want = xmalloc((size_t)n);
    make_frame(want, (size_t)n, buf, buf + 6, tag);
    int ok = tl_check_at(tag_of(buf) == tag && !memcmp(want, buf, (size_t)n), file, line,
                         "port %d: got tag %u, expected %u (or the frame was damaged)",
                         p->port, tag_of(buf), tag);
    free(want);
    return ok;
}

/* Nothing waits on p's socket (call after SETTLE of the sender). */
#define QUIET(p) quiet_at(__FILE__, __LINE__, p)
static inline void quiet_at(const char *file, int line, const struct peer *p)
{
    struct pollfd pf = {p->fd, POLLIN, 0};
    tl_check_at(poll(&pf, 1, 0) == 0, file, line, "port %d received a frame it should not",
                p->port);
}

/* Every peer sends one broadcast (tag 0) and the others take it: the MACs are learned. */
static inline void learn_all(struct peer **ps, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        put(ps[i], BCAST, 0, 60);
        for (size_t k = 0; k < n; k++)
            if (k != i)
                EXPECT(ps[k], 0);
    }
}

#endif
