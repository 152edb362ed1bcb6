/* switch.c - the userspace Ethernet switch of one worker process.
 *
 * Every VM boots with `nic_slots` virtio-net devices whose `-netdev stream` sockets
 * QEMU serves; the worker connects to each one and hands the socket here as a port.
 * A port bound to a bridge forwards frames to the other ports of that bridge: by
 * learned destination MAC, else to every member (broadcast, multicast, unknown).
 * Each copy from A to B is dropped when either link is down, either VM is isolated,
 * or A->B is partitioned; then impairment rules apply: loss at the effective
 * probability, a token bucket per pair (bandwidth; 1024 frames queued, tail drop) and
 * the effective delay (latency), keeping each pair's order. Nothing is created on the
 * host: no TAP, no root.
 *
 * The switch runs in a thread of its own so frames keep flowing while the Lua side is
 * blocked in a guest call; the Lua side changes bindings and rules under the mutex
 * and wakes the thread through an eventfd. Frames on the socket are QEMU's stream
 * format: a 4-byte big-endian length, then the frame. A receiver that cannot keep up
 * gets at most SW_QUEUE_BYTES queued; later frames to it are dropped. Partitions,
 * isolation and the impairment rules themselves live in switch_rules.c; the router
 * between bridges (b:route) in switch_route.c. */
#include "switch_int.h"

#include "util/util.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#define SW_MAX_FRAME 65536
#define SW_QUEUE_BYTES (4u << 20)

/* A pcap capture: of a whole bridge (port -1: each frame once, on entry) or of one
 * port (frames it sends and frames delivered to it). */
struct capture {
    int fd; /* -1: free */
    int bridge, port;
};

/* A frame held back by latency or bandwidth, due at `due`. */
struct held {
    int64_t due;
    int from, to; /* ports */
    uint32_t len;
    uint8_t *data;
};

/* Per ordered pair of ports: when the link is next free (bandwidth) and the last due
 * time (order), and how many frames wait. */
struct lane {
    int from, to;
    int64_t free_at, last_due;
    unsigned queued;
};

#define SW_LANE_FRAMES 1024 /* per pair A->B: tail drop beyond */

static struct capture *g_caps;
static size_t g_ncaps;
static struct held *g_held;
static size_t g_nheld;
static struct lane *g_lanes;
static size_t g_nlanes;
static unsigned g_seed = 0x5eed;

pthread_mutex_t sw_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_t g_thread;
static int g_started, g_wake = -1;
static struct port *g_ports;
static size_t g_nports;
struct bridge *sw_bridges;
size_t sw_nbridges;

void sw_wake(void)
{
    uint64_t one = 1;
    if (g_wake >= 0 && write(g_wake, &one, sizeof one) < 0) {
        /* the counter is saturated: the thread is awake anyway */
    }
}

/* ---- forwarding ---- */

static void pcap_record(int fd, const uint8_t *frame, uint32_t len)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint32_t rec[4] = {(uint32_t)ts.tv_sec, (uint32_t)(ts.tv_nsec / 1000),
                       len > 65535 ? 65535 : len, len};
    struct iovec iov[2] = {{rec, sizeof rec}, {(void *)frame, rec[2]}};
    if (writev(fd, iov, 2) < 0) {
        /* a full disk loses capture records, never frames */
    }
}

/* Records a frame for the captures of a bridge (port -1 ones) or of a port. */
static void capture(int bridge, int port, const uint8_t *frame, uint32_t len)
{
    for (size_t i = 0; i < g_ncaps; i++)
        if (g_caps[i].fd >= 0 && g_caps[i].bridge == bridge && g_caps[i].port == port)
            pcap_record(g_caps[i].fd, frame, len);
}

static void queue_out(struct port *p, const uint8_t *frame, uint32_t len)
{
    p->tx_bytes += len;
    capture(p->bridge, (int)(p - g_ports), frame, len);
    uint8_t hdr[4] = {(uint8_t)(len >> 24), (uint8_t)(len >> 16), (uint8_t)(len >> 8),
                      (uint8_t)len};
    if (p->out_len == 0) {
        /* fast path: straight into the socket */
        struct iovec iov[2] = {{hdr, 4}, {(void *)frame, len}};
        struct msghdr m = {.msg_iov = iov, .msg_iovlen = 2};
        ssize_t n = sendmsg(p->fd, &m, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n == (ssize_t)len + 4) {
            p->tx_frames++;
            return;
        }
        if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
            p->dropped++;
            return;
        }
        size_t sent = n > 0 ? (size_t)n : 0;
        /* keep the rest so the stream stays framed */
        size_t rest = len + 4 - sent;
        if (p->out_cap < rest) {
            p->out_cap = rest;
            p->out = xrealloc(p->out, p->out_cap);
        }
        if (sent < 4) {
            memcpy(p->out, hdr + sent, 4 - sent);
            memcpy(p->out + 4 - sent, frame, len);
        } else {
            memcpy(p->out, frame + (sent - 4), rest);
        }
        p->out_len = rest;
        p->tx_frames++;
        return;
    }
    if (p->out_len + len + 4 > SW_QUEUE_BYTES) {
        p->dropped++;
        return;
    }
    if (p->out_cap < p->out_len + len + 4) {
        p->out_cap = (p->out_len + len + 4) * 2;
        p->out = xrealloc(p->out, p->out_cap);
    }
    memcpy(p->out + p->out_len, hdr, 4);
    memcpy(p->out + p->out_len + 4, frame, len);
    p->out_len += len + 4;
    p->tx_frames++;
}

static void flush_out(struct port *p)
{
    while (p->out_len) {
        ssize_t n = send(p->fd, p->out, p->out_len, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n <= 0)
            return;
        memmove(p->out, p->out + n, p->out_len - (size_t)n);
        p->out_len -= (size_t)n;
    }
}

static void learn(struct bridge *b, const uint8_t *mac, int port)
{
    if (mac[0] & 1)
        return; /* group addresses are never sources */
    for (size_t i = 0; i < b->n_macs; i++)
        if (!memcmp(b->macs[i].mac, mac, 6)) {
            b->macs[i].port = port;
            return;
        }
    size_t slot = b->n_macs < SW_MAC_TABLE ? b->n_macs++ : (size_t)(mac[5] % SW_MAC_TABLE);
    memcpy(b->macs[slot].mac, mac, 6);
    b->macs[slot].port = port;
}

static int lookup(const struct bridge *b, const uint8_t *mac)
{
    for (size_t i = 0; i < b->n_macs; i++)
        if (!memcmp(b->macs[i].mac, mac, 6))
            return b->macs[i].port;
    return -1;
}

static int64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static struct lane *lane_for(int from, int to)
{
    for (size_t i = 0; i < g_nlanes; i++)
        if (g_lanes[i].from == from && g_lanes[i].to == to)
            return &g_lanes[i];
    g_lanes = xrealloc(g_lanes, (g_nlanes + 1) * sizeof *g_lanes);
    struct lane *l = &g_lanes[g_nlanes++];
    memset(l, 0, sizeof *l);
    l->from = from;
    l->to = to;
    return l;
}

/* One copy A->B after the drop rules: lost, held back (latency, bandwidth) or sent. */
static void deliver(int from, int to, const uint8_t *frame, uint32_t len)
{
    struct port *a = &g_ports[from], *b = &g_ports[to];
    double lat, loss;
    uint64_t bw;
    sw_effective(&sw_bridges[a->bridge], a->vm, b->vm, &lat, &loss, &bw);
    if (loss > 0 && (double)rand_r(&g_seed) / RAND_MAX * 100.0 < loss) {
        a->dropped++; /* its frame, lost */
        return;
    }
    struct lane *l = lane_for(from, to);
    if (lat <= 0 && !bw && !l->queued) {
        queue_out(b, frame, len);
        return;
    }
    if (l->queued >= SW_LANE_FRAMES) {
        a->dropped++; /* tail drop */
        return;
    }
    int64_t now = mono_ns(), start = now > l->free_at ? now : l->free_at;
    int64_t sent = start + (bw ? (int64_t)((double)len * 8 * 1e9 / (double)bw) : 0);
    l->free_at = sent;
    int64_t due = sent + (int64_t)(lat * 1e6);
    if (due < l->last_due)
        due = l->last_due; /* order is kept per pair */
    l->last_due = due;
    l->queued++;
    g_held = xrealloc(g_held, (g_nheld + 1) * sizeof *g_held);
    struct held *h = &g_held[g_nheld++];
    h->due = due;
    h->from = from;
    h->to = to;
    h->len = len;
    h->data = xmalloc(len);
    memcpy(h->data, frame, len);
}

/* Sends the held frames that are due; returns ms until the next one (-1: none). */
static int release_due(void)
{
    int64_t now = mono_ns(), next = -1;
    size_t k = 0;
    for (size_t i = 0; i < g_nheld; i++) {
        struct held *h = &g_held[i];
        if (h->due <= now) {
            struct lane *l = lane_for(h->from, h->to);
            if (l->queued)
                l->queued--;
            if (g_ports[h->to].fd >= 0)
                queue_out(&g_ports[h->to], h->data, h->len);
            free(h->data);
            continue;
        }
        if (next < 0 || h->due < next)
            next = h->due;
        g_held[k++] = *h;
    }
    g_nheld = k;
    if (next < 0)
        return -1;
    int64_t ms = (next - now + 999999) / 1000000;
    return ms > 1000 ? 1000 : (int)ms;
}

/* Drops what is held for or from a port that goes away. */
static void forget_port(int port)
{
    size_t k = 0;
    for (size_t i = 0; i < g_nheld; i++) {
        if (g_held[i].from == port || g_held[i].to == port) {
            free(g_held[i].data);
            continue;
        }
        g_held[k++] = g_held[i];
    }
    g_nheld = k;
    k = 0;
    for (size_t i = 0; i < g_nlanes; i++)
        if (g_lanes[i].from != port && g_lanes[i].to != port)
            g_lanes[k++] = g_lanes[i];
    g_nlanes = k;
}

static void forward(int from, const uint8_t *frame, uint32_t len)
{
    struct port *a = &g_ports[from];
    a->rx_frames++;
    a->rx_bytes += len;
    if (a->bridge < 0 || len < 14 || !a->up) {
        a->dropped++;
        return;
    }
    capture(a->bridge, -1, frame, len);
    capture(a->bridge, from, frame, len);
    struct bridge *b = &sw_bridges[a->bridge];
    learn(b, frame + 6, from);
    if (sw_route_input(from, frame, len))
        return; /* for the gateway: switch_route.c */
    int to = (frame[0] & 1) ? -1 : lookup(b, frame);
    if (to >= 0 && (size_t)to < g_nports && g_ports[to].fd >= 0 &&
        g_ports[to].bridge == a->bridge && to != from) {
        if (sw_allowed(a, &g_ports[to]))
            deliver(from, to, frame, len);
        return;
    }
    for (size_t i = 0; i < g_nports; i++) {
        struct port *p = &g_ports[i];
        if ((int)i == from || p->fd < 0 || p->bridge != a->bridge)
            continue;
        if (sw_allowed(a, p))
            deliver(from, (int)i, frame, len);
    }
}

/* Reads what the port has; returns -1 when its QEMU went away. */
static int pump_in(int idx)
{
    struct port *p = &g_ports[idx];
    if (p->in_cap - p->in_len < 65536) {
        p->in_cap = p->in_len + 65536 + SW_MAX_FRAME;
        p->in = xrealloc(p->in, p->in_cap);
    }
    ssize_t n = recv(p->fd, p->in + p->in_len, p->in_cap - p->in_len, MSG_DONTWAIT);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR))
        return -1;
    if (n < 0)
        return 0;
    p->in_len += (size_t)n;
    size_t off = 0;
    while (p->in_len - off >= 4) {
        const uint8_t *h = p->in + off;
        uint32_t len = (uint32_t)h[0] << 24 | (uint32_t)h[1] << 16 | (uint32_t)h[2] << 8 | h[3];
        if (len > SW_MAX_FRAME)
            return -1; /* not QEMU's stream format: give up on this port */
        if (p->in_len - off - 4 < len)
            break;
        forward(idx, h + 4, len);
        p = &g_ports[idx];
        off += 4 + len;
    }
    memmove(p->in, p->in + off, p->in_len - off);
    p->in_len -= off;
    return 0;
}

static void close_port(struct port *p)
{
    forget_port((int)(p - g_ports));
    if (p->fd >= 0)
        close(p->fd);
    free(p->in);
    free(p->out);
    memset(p, 0, sizeof *p);
    p->fd = -1;
    p->bridge = -1;
}

static void *run(void *arg)
{
    (void)arg;
    struct pollfd *pf = NULL;
    size_t cap = 0;
    for (;;) {
        pthread_mutex_lock(&sw_mu);
        if (cap < g_nports + 1) {
            cap = g_nports + 16;
            pf = xrealloc(pf, cap * sizeof *pf);
        }
        size_t n = 0;
        pf[n++] = (struct pollfd){g_wake, POLLIN, 0};
        for (size_t i = 0; i < g_nports; i++) {
            pf[n].fd = g_ports[i].fd; /* -1 is ignored by poll */
            pf[n].events = (short)(POLLIN | (g_ports[i].out_len ? POLLOUT : 0));
            pf[n].revents = 0;
            n++;
        }
        int timeout = release_due();
        pthread_mutex_unlock(&sw_mu);
        if (poll(pf, n, timeout) < 0 && errno != EINTR)
            continue;
        pthread_mutex_lock(&sw_mu);
        if (pf[0].revents & POLLIN) {
            uint64_t v;
            if (read(g_wake, &v, sizeof v) < 0) {
                /* nothing to read after all */
            }
        }
        for (size_t i = 1; i < n && i - 1 < g_nports; i++) {
            struct port *p = &g_ports[i - 1];
            if (p->fd < 0 || p->fd != pf[i].fd)
                continue; /* changed while we polled */
            if (pf[i].revents & POLLOUT)
                flush_out(p);
            if (pf[i].revents & (POLLIN | POLLHUP | POLLERR)) {
                if (pump_in((int)(i - 1)) < 0) {
                    close_port(&g_ports[i - 1]);
                }
            }
        }
        pthread_mutex_unlock(&sw_mu);
    }
    return NULL;
}

static int ensure_started(void)
{
    if (g_started)
        return 0;
    g_wake = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (g_wake < 0)
        return -1;
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old); /* signals stay with the main thread */
    int rc = pthread_create(&g_thread, NULL, run, NULL);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0)
        return -1;
    pthread_detach(g_thread);
    g_started = 1;
    return 0;
}

/* ---- the Lua side's interface (the rules are switch_rules.c) ---- */

struct bridge *sw_bridge_at(int id)
{
    return id >= 0 && (size_t)id < sw_nbridges && sw_bridges[id].used ? &sw_bridges[id] : NULL;
}

int sw_add_port(int fd, const char *vm)
{
    pthread_mutex_lock(&sw_mu);
    if (ensure_started() < 0) {
        pthread_mutex_unlock(&sw_mu);
        return -1;
    }
    size_t i = 0;
    while (i < g_nports && g_ports[i].fd >= 0)
        i++;
    if (i == g_nports) {
        g_ports = xrealloc(g_ports, (g_nports + 1) * sizeof *g_ports);
        g_nports++;
    }
    struct port *p = &g_ports[i];
    memset(p, 0, sizeof *p);
    p->fd = fd;
    p->bridge = -1;
    snprintf(p->vm, sizeof p->vm, "%s", vm);
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    pthread_mutex_unlock(&sw_mu);
    sw_wake();
    return (int)i;
}

void sw_remove_port(int port)
{
    pthread_mutex_lock(&sw_mu);
    if (port >= 0 && (size_t)port < g_nports)
        close_port(&g_ports[port]);
    pthread_mutex_unlock(&sw_mu);
    sw_wake();
}

void sw_bind(int port, int bridge, int up)
{
    pthread_mutex_lock(&sw_mu);
    if (bridge >= 0 && !sw_bridge_at(bridge))
        bridge = -1;
    if (port >= 0 && (size_t)port < g_nports && g_ports[port].fd >= 0) {
        g_ports[port].bridge = bridge;
        g_ports[port].up = bridge >= 0 && up;
    }
    pthread_mutex_unlock(&sw_mu);
    sw_wake();
}

int sw_bridge_new(void)
{
    pthread_mutex_lock(&sw_mu);
    size_t i = 0;
    while (i < sw_nbridges && sw_bridges[i].used)
        i++;
    if (i == sw_nbridges) {
        sw_bridges = xrealloc(sw_bridges, (sw_nbridges + 1) * sizeof *sw_bridges);
        sw_nbridges++;
    }
    memset(&sw_bridges[i], 0, sizeof sw_bridges[i]);
    sw_bridges[i].used = 1;
    pthread_mutex_unlock(&sw_mu);
    return (int)i;
}

void sw_bridge_free(int bridge)
{
    pthread_mutex_lock(&sw_mu);
    if (bridge >= 0 && (size_t)bridge < sw_nbridges) {
        for (size_t i = 0; i < g_nports; i++)
            if (g_ports[i].bridge == bridge) {
                g_ports[i].bridge = -1;
                g_ports[i].up = 0;
            }
        sw_route_forget(bridge);
        free(sw_bridges[bridge].cuts);
        free(sw_bridges[bridge].isolated);
        free(sw_bridges[bridge].rules);
        memset(&sw_bridges[bridge], 0, sizeof sw_bridges[bridge]);
    }
    pthread_mutex_unlock(&sw_mu);
    sw_wake();
}

/* ---- for the router (switch_route.c; the mutex is held) ---- */

struct port *sw_port_at(int i)
{
    return i >= 0 && (size_t)i < g_nports && g_ports[i].fd >= 0 ? &g_ports[i] : NULL;
}

size_t sw_port_count(void) { return g_nports; }

void sw_deliver(int from, int to, const uint8_t *frame, uint32_t len)
{
    deliver(from, to, frame, len);
}

void sw_send(int port, const uint8_t *frame, uint32_t len)
{
    queue_out(&g_ports[port], frame, len);
}

void sw_capture_entry(int bridge, const uint8_t *frame, uint32_t len)
{
    capture(bridge, -1, frame, len);
}

/* ---- captures and per-port facts ---- */

int sw_capture_open(int bridge, int port, int fd)
{
    static const uint32_t hdr[6] = {0xa1b2c3d4u, 2u | (4u << 16), 0, 0, 65535, 1};
    if (write(fd, hdr, sizeof hdr) != (ssize_t)sizeof hdr)
        return -1;
    pthread_mutex_lock(&sw_mu);
    size_t i = 0;
    while (i < g_ncaps && g_caps[i].fd >= 0)
        i++;
    if (i == g_ncaps) {
        g_caps = xrealloc(g_caps, (g_ncaps + 1) * sizeof *g_caps);
        g_ncaps++;
    }
    g_caps[i] = (struct capture){fd, bridge, port};
    pthread_mutex_unlock(&sw_mu);
    return (int)i;
}

void sw_capture_close(int id)
{
    pthread_mutex_lock(&sw_mu);
    if (id >= 0 && (size_t)id < g_ncaps && g_caps[id].fd >= 0) {
        close(g_caps[id].fd);
        g_caps[id].fd = -1;
    }
    pthread_mutex_unlock(&sw_mu);
}

void sw_set_link(int port, int up)
{
    pthread_mutex_lock(&sw_mu);
    if (port >= 0 && (size_t)port < g_nports && g_ports[port].fd >= 0)
        g_ports[port].up = up && g_ports[port].bridge >= 0;
    pthread_mutex_unlock(&sw_mu);
}

int sw_counters(int port, struct sw_counters *c)
{
    memset(c, 0, sizeof *c);
    pthread_mutex_lock(&sw_mu);
    int ok = port >= 0 && (size_t)port < g_nports && g_ports[port].fd >= 0;
    if (ok) {
        const struct port *p = &g_ports[port];
        /* the guest's view: what it received is what the switch sent it */
        c->rx_bytes = p->tx_bytes;
        c->rx_packets = p->tx_frames;
        c->tx_bytes = p->rx_bytes;
        c->tx_packets = p->rx_frames;
        c->errors = p->dropped;
    }
    pthread_mutex_unlock(&sw_mu);
    return ok ? 0 : -1;
}

size_t sw_capture_count(int bridge)
{
    size_t n = 0;
    pthread_mutex_lock(&sw_mu);
    for (size_t i = 0; i < g_ncaps; i++)
        n += g_caps[i].fd >= 0 && g_caps[i].bridge == bridge && g_caps[i].port < 0;
    pthread_mutex_unlock(&sw_mu);
    return n;
}
