/* test_switch_route.c - the switch's router between bridges (src/net/switch_route.c),
 * without VMs. Each "guest" is the far end of a socketpair handed to the switch as a
 * port, speaking QEMU's stream framing (4-byte big-endian length + frame). Bridge b1 is
 * subnet 10.213.0.0/24 with guest a (.10); bridge b2 is 10.213.1.0/24 with guests b
 * (.10) and c (.11). Checked: the gateway 10.213.K.1 answers ARP only where a route
 * leaves the bridge; an ICMP echo from a to b's address comes out on b's port alone
 * with TTL - 1, the gateway's MAC as source, b's plan MAC as destination and a valid
 * header checksum; unrouted subnets, TTL 1 and the gateway's own address are dropped
 * (the sender's errors); routes are one way; isolation and partitions apply; a removed
 * route or a closed bridge forwards nothing.
 *
 * "Nothing arrived" is checked after the switch has taken the sender's frame (its
 * counters say so, read under the switch's mutex, which forwarding holds), so no sleep
 * decides a result. */
#include "testlib.h"

#include "net/switch.h"

#include <errno.h>
#include <poll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

struct guest {
    int fd, port;
    uint8_t mac[6];
    uint8_t ip[4];
    unsigned long long sent;
};

static struct guest ga, gb, gc;
static int b1, b2;
static const uint8_t BCAST[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};

static void plan_mac(uint8_t mac[6], int k, int host)
{
    const uint8_t m[6] = {0x52, 0x54, 0x00, 0xd5, (uint8_t)k, (uint8_t)host};
    memcpy(mac, m, 6);
}

static void guest_new(struct guest *g, const char *vm, int bridge, int k, int host)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
        perror("socketpair");
        exit(2);
    }
    memset(g, 0, sizeof *g);
    g->fd = sv[1];
    g->port = sw_add_port(sv[0], vm);
    sw_bind(g->port, bridge, 1);
    plan_mac(g->mac, k, host);
    const uint8_t ip[4] = {10, 213, (uint8_t)k, (uint8_t)host};
    memcpy(g->ip, ip, 4);
}

static void send_frame(struct guest *g, const uint8_t *f, uint32_t len)
{
    uint8_t hdr[4] = {(uint8_t)(len >> 24), (uint8_t)(len >> 16), (uint8_t)(len >> 8),
                      (uint8_t)len};
    if (write(g->fd, hdr, 4) != 4 || write(g->fd, f, len) != (ssize_t)len) {
        perror("write");
        exit(2);
    }
    g->sent++;
}

static int read_full(int fd, uint8_t *buf, size_t n, int timeout_ms)
{
    for (size_t got = 0; got < n;) {
        struct pollfd p = {fd, POLLIN, 0};
        if (poll(&p, 1, timeout_ms) <= 0)
            return -1;
        ssize_t r = read(fd, buf + got, n - got);
        if (r <= 0)
            return -1;
        got += (size_t)r;
    }
    return 0;
}

/* The next frame delivered to g (its length), or -1 after timeout_ms. */
static int recv_frame(struct guest *g, uint8_t *buf, size_t cap, int timeout_ms)
{
    uint8_t h[4];
    if (read_full(g->fd, h, 4, timeout_ms) < 0)
        return -1;
    uint32_t len = (uint32_t)h[0] << 24 | (uint32_t)h[1] << 16 | (uint32_t)h[2] << 8 | h[3];
    if (len > cap || read_full(g->fd, buf, len, 2000) < 0)
        return -1;
    return (int)len;
}

/* Waits (up to 5 s) until the switch has taken every frame g sent. */
static void settle(struct guest *g)
{
    for (int i = 0; i < 5000; i++) {
        struct sw_counters c;
        if (sw_counters(g->port, &c) == 0 && c.tx_packets >= g->sent)
            return;
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
    fprintf(stderr, "switch did not take the frames\n");
    exit(2);
}

static int nothing_for(struct guest *g)
{
    struct pollfd p = {g->fd, POLLIN, 0};
    return poll(&p, 1, 0) == 0;
}

static unsigned long long errors_of(struct guest *g)
{
    struct sw_counters c;
    sw_counters(g->port, &c);
    return c.errors;
}

/* Reads whatever is queued for g (floods of the others' announcements). */
static void drain(struct guest *g)
{
    uint8_t buf[2048];
    while (recv_frame(g, buf, sizeof buf, 100) >= 0) {
    }
}

/* ---- frames ---- */

static uint32_t arp_request(uint8_t *f, const struct guest *g, const uint8_t target[4])
{
    static const uint8_t hdr[8] = {0, 1, 8, 0, 6, 4, 0, 1};
    memset(f, 0, 42);
    memcpy(f, BCAST, 6);
    memcpy(f + 6, g->mac, 6);
    f[12] = 0x08;
    f[13] = 0x06;
    memcpy(f + 14, hdr, 8);
    memcpy(f + 22, g->mac, 6);
    memcpy(f + 28, g->ip, 4);
    memcpy(f + 38, target, 4);
    return 42;
}

static uint16_t sum16(const uint8_t *p, size_t n)
{
    uint32_t s = 0;
    for (size_t i = 0; i + 1 < n; i += 2)
        s += (uint32_t)p[i] << 8 | p[i + 1];
    while (s >> 16)
        s = (s & 0xffff) + (s >> 16);
    return (uint16_t)s;
}

/* An ICMP echo request from g to dst via the MAC `to`, with ttl and id; 62 bytes. */
static uint32_t echo(uint8_t *f, const struct guest *g, const uint8_t to[6], const uint8_t dst[4],
                     int ttl, int id)
{
    memset(f, 0, 62);
    memcpy(f, to, 6);
    memcpy(f + 6, g->mac, 6);
    f[12] = 0x08;
    uint8_t *ip = f + 14, *icmp = f + 34;
    ip[0] = 0x45;
    ip[3] = 48; /* total length: 20 + 8 + 20 */
    ip[8] = (uint8_t)ttl;
    ip[9] = 1; /* ICMP */
    memcpy(ip + 12, g->ip, 4);
    memcpy(ip + 16, dst, 4);
    uint16_t s = (uint16_t)~sum16(ip, 20);
    ip[10] = (uint8_t)(s >> 8);
    ip[11] = (uint8_t)s;
    icmp[0] = 8;
    icmp[5] = (uint8_t)id;
    memcpy(icmp + 8, "provium route check!", 20);
    s = (uint16_t)~sum16(icmp, 28);
    icmp[2] = (uint8_t)(s >> 8);
    icmp[3] = (uint8_t)s;
    return 62;
}

static const uint8_t *gw_mac(int k)
{
    static uint8_t m[2][6];
    plan_mac(m[k], k, 1);
    return m[k];
}

/* ---- tests ---- */

static void test_arp_for_gateway(void)
{
    uint8_t f[128], r[128];
    const uint8_t gw[4] = {10, 213, 0, 1};
    send_frame(&ga, f, arp_request(f, &ga, gw));
    int n = recv_frame(&ga, r, sizeof r, 2000);
    CHECK_MSG(n >= 42, "no ARP reply for the gateway (got %d)", n);
    if (n < 42)
        return;
    CHECK(!memcmp(r, ga.mac, 6));
    CHECK(!memcmp(r + 6, gw_mac(0), 6));
    CHECK(r[12] == 0x08 && r[13] == 0x06);
    CHECK(r[20] == 0 && r[21] == 2); /* reply */
    CHECK(!memcmp(r + 22, gw_mac(0), 6));
    CHECK(!memcmp(r + 28, gw, 4));
    CHECK(!memcmp(r + 32, ga.mac, 6));
    CHECK(!memcmp(r + 38, ga.ip, 4));
    settle(&ga);
    CHECK(nothing_for(&gb) && nothing_for(&gc)); /* not flooded anywhere */
}

static void test_echo_forwarded(void)
{
    uint8_t f[128], r[128];
    uint32_t len = echo(f, &ga, gw_mac(0), gb.ip, 64, 1);
    send_frame(&ga, f, len);
    int n = recv_frame(&gb, r, sizeof r, 2000);
    CHECK_EQ_INT(n, (int)len);
    if (n != (int)len)
        return;
    CHECK_MSG(!memcmp(r, gb.mac, 6), "destination MAC is not b's");
    CHECK_MSG(!memcmp(r + 6, gw_mac(1), 6), "source MAC is not b1's gateway");
    CHECK_EQ_INT(r[14 + 8], 63);
    CHECK_EQ_INT(sum16(r + 14, 20), 0xffff); /* a valid header checksum */
    CHECK(!memcmp(r + 14 + 12, ga.ip, 4) && !memcmp(r + 14 + 16, gb.ip, 4));
    CHECK(!memcmp(r + 34, f + 34, len - 34)); /* the ICMP message untouched */
    settle(&ga);
    CHECK_MSG(nothing_for(&gc), "c got b's frame though b's MAC is known");
    CHECK(nothing_for(&ga));
}

static void test_dropped(void)
{
    uint8_t f[128];
    const uint8_t far[4] = {10, 213, 7, 10}, gw1[4] = {10, 213, 1, 1};
    unsigned long long before = errors_of(&ga);
    send_frame(&ga, f, echo(f, &ga, gw_mac(0), far, 64, 2)); /* no route there */
    send_frame(&ga, f, echo(f, &ga, gw_mac(0), gb.ip, 1, 3)); /* TTL would reach 0 */
    send_frame(&ga, f, echo(f, &ga, gw_mac(0), gw1, 64, 4));  /* a gateway address */
    settle(&ga);
    CHECK(nothing_for(&gb) && nothing_for(&gc));
    CHECK_EQ_U64(errors_of(&ga) - before, 3);
}

/* b2 has no route back yet: no gateway there, nothing reaches b1. */
static void test_one_way(void)
{
    uint8_t f[128];
    const uint8_t gw[4] = {10, 213, 1, 1};
    send_frame(&gb, f, arp_request(f, &gb, gw));
    send_frame(&gb, f, echo(f, &gb, gw_mac(1), ga.ip, 64, 5));
    settle(&gb);
    CHECK_MSG(nothing_for(&gb), "b2's gateway answered without a route from b2");
    CHECK(nothing_for(&ga));
    drain(&gc); /* ordinary floods on b2 */
}

static void test_back_route(void)
{
    uint8_t f[128], r[128];
    CHECK_EQ_INT(sw_route(b2, 1, b1, 0, 1), 0);
    uint32_t len = echo(f, &gb, gw_mac(1), ga.ip, 64, 6);
    send_frame(&gb, f, len);
    int n = recv_frame(&ga, r, sizeof r, 2000);
    CHECK_EQ_INT(n, (int)len);
    if (n == (int)len) {
        CHECK(!memcmp(r, ga.mac, 6) && !memcmp(r + 6, gw_mac(0), 6));
        CHECK_EQ_INT(r[14 + 8], 63);
        CHECK_EQ_INT(sum16(r + 14, 20), 0xffff);
    }
    CHECK_EQ_INT(sw_route(b2, 1, b1, 0, 0), 0);
}

static void test_rules_apply(void)
{
    uint8_t f[128], r[128];
    sw_isolate(b2, "b", 1); /* the target bridge's rules on the way out */
    send_frame(&ga, f, echo(f, &ga, gw_mac(0), gb.ip, 64, 7));
    settle(&ga);
    CHECK_MSG(nothing_for(&gb), "delivered to a VM isolated on the target bridge");
    sw_isolate(b2, "b", 0);
    sw_cut(b2, "a", "b", 1);
    send_frame(&ga, f, echo(f, &ga, gw_mac(0), gb.ip, 64, 8));
    settle(&ga);
    CHECK_MSG(nothing_for(&gb), "delivered across a partition a->b on the target bridge");
    sw_cut(b2, "a", "b", 0);
    sw_isolate(b1, "a", 1); /* the source bridge's rules on the way in */
    const uint8_t gw[4] = {10, 213, 0, 1};
    send_frame(&ga, f, arp_request(f, &ga, gw));
    send_frame(&ga, f, echo(f, &ga, gw_mac(0), gb.ip, 64, 9));
    settle(&ga);
    CHECK_MSG(nothing_for(&ga) && nothing_for(&gb), "an isolated VM used the gateway");
    sw_isolate(b1, "a", 0);
    send_frame(&ga, f, echo(f, &ga, gw_mac(0), gb.ip, 64, 10));
    int n = recv_frame(&gb, r, sizeof r, 2000);
    CHECK_MSG(n > 0 && r[34 + 5] == 10, "the rules, lifted, still drop");
}

static void test_route_removed(void)
{
    uint8_t f[128];
    const uint8_t gw[4] = {10, 213, 0, 1};
    CHECK_EQ_INT(sw_route(b1, 0, b1, 0, 1), -1);
    CHECK_EQ_INT(sw_route(b1, 0, b2, 0, 1), -1); /* the same subnet */
    CHECK_EQ_INT(sw_route(b1, 0, b2, 1, 0), 0);
    send_frame(&ga, f, arp_request(f, &ga, gw));
    send_frame(&ga, f, echo(f, &ga, gw_mac(0), gb.ip, 64, 11));
    settle(&ga);
    CHECK(nothing_for(&ga) && nothing_for(&gb));
    /* a closed bridge takes its routes with it, even when its id comes back */
    CHECK_EQ_INT(sw_route(b1, 0, b2, 1, 1), 0);
    sw_bridge_free(b2);
    CHECK_EQ_INT(sw_route(b1, 0, b2, 1, 1), -1);
    int b3 = sw_bridge_new();
    sw_bind(gb.port, b3, 1);
    send_frame(&ga, f, echo(f, &ga, gw_mac(0), gb.ip, 64, 12));
    settle(&ga);
    CHECK_MSG(nothing_for(&gb), "a route outlived its bridge");
    sw_bridge_free(b3);
}

int main(void)
{
    b1 = sw_bridge_new();
    b2 = sw_bridge_new();
    guest_new(&ga, "a", b1, 0, 10);
    guest_new(&gb, "b", b2, 1, 10);
    guest_new(&gc, "c", b2, 1, 11);
    CHECK_EQ_INT(sw_route(b1, 0, b2, 1, 1), 0);
    /* b and c announce themselves so the switch learns their MACs */
    uint8_t f[64];
    send_frame(&gb, f, arp_request(f, &gb, gb.ip));
    send_frame(&gc, f, arp_request(f, &gc, gc.ip));
    settle(&gb);
    settle(&gc);
    drain(&gb);
    drain(&gc);
    RUN(test_arp_for_gateway);
    RUN(test_echo_forwarded);
    RUN(test_dropped);
    RUN(test_one_way);
    RUN(test_back_route);
    RUN(test_rules_apply);
    RUN(test_route_removed);
    sw_bridge_free(b1);
    return TEST_SUMMARY();
}
