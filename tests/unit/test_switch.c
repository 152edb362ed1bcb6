/* test_switch.c - the worker's userspace Ethernet switch (src/net/switch.c and
 * switch_rules.c) without VMs: flooding, MAC learning, partitions (one way), isolation,
 * cable pulls, per-port counters, the stream framing, the rules' bookkeeping and pcap
 * captures (parsed here, and listed by `tcpdump -r` when tcpdump is installed). The
 * ports are socketpairs (switch_peer.h); loss, latency and bandwidth are
 * test_switch_impair.c, the bounded queues test_switch_queues.c. */
#include "tests/unit/switch_peer.h"

#include "net/switch_int.h"

#include <signal.h>
#include <time.h>

/* ---- forwarding: flooding, learning ---- */

static void flood_unknown(void)
{
    int br = sw_bridge_new(), other = sw_bridge_new();
    struct peer a = plug(br, "a", 1), b = plug(br, "b", 2), c = plug(br, "c", 3);
    struct peer d = plug(other, "d", 4), e = plug(-1, "e", 5);
    const uint8_t unknown[6] = {0x02, 0, 0, 0, 0, 0x99}, mcast[6] = {0x01, 0, 0x5e, 0, 0, 1};
    put(&a, unknown, 1, 60);
    put(&a, BCAST, 2, 60);
    put(&a, mcast, 3, 60);
    for (unsigned t = 1; t <= 3; t++) {
        EXPECT(&b, t);
        EXPECT(&c, t);
    }
    SETTLE(&a);
    QUIET(&a); /* never back to the sender */
    QUIET(&d); /* another bridge */
    QUIET(&e); /* unbound */
    QUIET(&b);
    QUIET(&c);
    unplug(&a), unplug(&b), unplug(&c), unplug(&d), unplug(&e);
    sw_bridge_free(br);
    sw_bridge_free(other);
}

static void learning(void)
{
    int br = sw_bridge_new();
    struct peer a = plug(br, "a", 1), b = plug(br, "b", 2), c = plug(br, "c", 3);
    put(&b, BCAST, 1, 60); /* the switch learns b's MAC */
    EXPECT(&a, 1);
    EXPECT(&c, 1);
    put(&a, b.mac, 2, 60);
    EXPECT(&b, 2);
    SETTLE(&a);
    QUIET(&c); /* a learned destination goes to its port only */
    /* the MAC moves to c's port (a VM's address seen elsewhere): the table follows */
    send_from(&c, b.mac, BCAST, 3, 60);
    EXPECT(&a, 3);
    EXPECT(&b, 3);
    put(&a, b.mac, 4, 60);
    EXPECT(&c, 4);
    SETTLE(&a);
    QUIET(&b);
    /* a group address is never learned as a source: frames to it still flood */
    const uint8_t group[6] = {0x03, 0, 0, 0, 0, 7};
    send_from(&c, group, BCAST, 5, 60);
    EXPECT(&a, 5);
    EXPECT(&b, 5);
    put(&a, group, 6, 60);
    EXPECT(&b, 6);
    EXPECT(&c, 6);
    unplug(&a), unplug(&b), unplug(&c);
    sw_bridge_free(br);
}

/* ---- rules: partitions, isolation, cable pulls ---- */

static void partition(void)
{
    int br = sw_bridge_new();
    struct peer a = plug(br, "a", 1), b = plug(br, "b", 2), c = plug(br, "c", 3);
    learn_all((struct peer *[]){&a, &b, &c}, 3);
    sw_cut(br, "a", "b", 1);
    CHECK(sw_is_cut(br, "a", "b"));
    CHECK(!sw_is_cut(br, "b", "a"));
    put(&a, b.mac, 1, 60); /* a -> b is cut */
    SETTLE(&a);
    QUIET(&b);
    QUIET(&c); /* dropped, not flooded */
    put(&b, a.mac, 2, 60); /* b -> a still flows */
    EXPECT(&a, 2);
    put(&a, BCAST, 3, 60); /* flooding obeys the cut too */
    EXPECT(&c, 3);
    SETTLE(&a);
    QUIET(&b);
    char from[4][64], to[4][64];
    CHECK_EQ_INT(sw_cuts(br, from, to, 4), 1);
    CHECK_STR_EQ(from[0], "a");
    CHECK_STR_EQ(to[0], "b");
    sw_cut(br, "a", "b", 0); /* heal */
    put(&a, b.mac, 4, 60);
    EXPECT(&b, 4);
    sw_cut(br, "a", "b", 1);
    sw_cut(br, "a", "c", 1);
    sw_heal_all(br);
    CHECK_EQ_INT(sw_cuts(br, from, to, 4), 0);
    put(&a, BCAST, 5, 60);
    EXPECT(&b, 5);
    EXPECT(&c, 5);
    unplug(&a), unplug(&b), unplug(&c);
    sw_bridge_free(br);
}

static void isolation_and_link(void)
{
    int br = sw_bridge_new();
    struct peer a = plug(br, "a", 1), b = plug(br, "b", 2), c = plug(br, "c", 3);
    learn_all((struct peer *[]){&a, &b, &c}, 3);
    sw_isolate(br, "b", 1);
    CHECK(sw_is_isolated(br, "b"));
    CHECK(!sw_is_isolated(br, "a"));
    put(&a, BCAST, 1, 60);
    EXPECT(&c, 1);
    put(&a, b.mac, 2, 60);
    SETTLE(&a);
    QUIET(&b); /* nothing reaches an isolated VM */
    put(&b, BCAST, 3, 60);
    SETTLE(&b);
    QUIET(&a); /* nothing leaves it */
    QUIET(&c);
    sw_isolate(br, "b", 0);
    put(&a, BCAST, 4, 60);
    EXPECT(&b, 4);
    EXPECT(&c, 4);
    /* a pulled cable forwards nothing either way */
    sw_set_link(b.port, 0);
    put(&a, BCAST, 5, 60);
    EXPECT(&c, 5);
    SETTLE(&a);
    QUIET(&b);
    put(&b, BCAST, 6, 60);
    SETTLE(&b);
    QUIET(&a);
    QUIET(&c);
    sw_set_link(b.port, 1);
    put(&b, BCAST, 7, 60);
    EXPECT(&a, 7);
    EXPECT(&c, 7);
    unplug(&a), unplug(&b), unplug(&c);
    sw_bridge_free(br);
}

/* ---- per-port counters and the stream framing ---- */

static void counters_per_port(void)
{
    int br = sw_bridge_new();
    struct peer a = plug(br, "a", 1), b = plug(br, "b", 2);
    put(&a, BCAST, 1, 60);
    EXPECT(&b, 1);
    put(&b, BCAST, 2, 80);
    EXPECT(&a, 2);
    for (unsigned i = 0; i < 3; i++) {
        put(&a, b.mac, 10 + i, 100);
        EXPECT(&b, 10 + i);
    }
    uint8_t runt[10] = {0};
    write_framed(a.fd, runt, sizeof runt); /* shorter than an Ethernet header: dropped */
    a.sent++;
    SETTLE(&a);
    struct sw_counters ca = counters(&a), cb = counters(&b);
    /* the guest's view: tx = what it sent, rx = what was delivered to it */
    CHECK_EQ_U64(ca.tx_packets, 5);
    CHECK_EQ_U64(ca.tx_bytes, 60 + 300 + 10);
    CHECK_EQ_U64(ca.rx_packets, 1);
    CHECK_EQ_U64(ca.rx_bytes, 80);
    CHECK_EQ_U64(ca.errors, 1);
    CHECK_EQ_U64(cb.tx_packets, 1);
    CHECK_EQ_U64(cb.tx_bytes, 80);
    CHECK_EQ_U64(cb.rx_packets, 4);
    CHECK_EQ_U64(cb.rx_bytes, 360);
    CHECK_EQ_U64(cb.errors, 0);
    struct sw_counters none;
    CHECK_EQ_INT(sw_counters(4242, &none), -1);
    CHECK_EQ_INT(sw_counters(-1, &none), -1);
    unplug(&a), unplug(&b);
    sw_bridge_free(br);
}

static void framing(void)
{
    int br = sw_bridge_new();
    struct peer a = plug(br, "a", 1), b = plug(br, "b", 2);
    /* one frame dribbled in byte by byte, two more in a single write */
    uint8_t f[4 + 60 + 4 + 1514 + 4 + 65536];
    const uint32_t lens[3] = {60, 1514, 65536};
    size_t off = 0;
    for (unsigned i = 0; i < 3; i++) {
        uint32_t n = lens[i];
        uint8_t hdr[4] = {(uint8_t)(n >> 24), (uint8_t)(n >> 16), (uint8_t)(n >> 8), (uint8_t)n};
        memcpy(f + off, hdr, 4);
        make_frame(f + off + 4, n, BCAST, a.mac, i + 1);
        off += 4 + n;
    }
    for (size_t i = 0; i < 64; i++) {
        CHECK(write_all(a.fd, f + i, 1) == 0);
        usleep(100);
    }
    CHECK(write_all(a.fd, f + 64, off - 64) == 0);
    a.sent += 3;
    EXPECT(&b, 1);
    EXPECT(&b, 2);
    EXPECT(&b, 3); /* 65536 bytes: the largest frame the switch takes */
    /* a length beyond that is not QEMU's stream format: the switch gives up the port */
    uint8_t bogus[4] = {0x00, 0x01, 0x00, 0x01};
    CHECK(write_all(a.fd, bogus, 4) == 0);
    uint8_t byte;
    CHECK_MSG(read_by(a.fd, &byte, 1, now_ns() + WAIT_NS) < 0, "the port was not closed");
    struct sw_counters c;
    CHECK_EQ_INT(sw_counters(a.port, &c), -1);
    close(a.fd);
    unplug(&b);
    sw_bridge_free(br);
}

/* ---- rule bookkeeping and the effective impairment of a pair ---- */

static void effective(int br, const char *a, const char *b, double *lat, double *loss,
                      uint64_t *bw)
{
    pthread_mutex_lock(&sw_mu);
    sw_effective(sw_bridge_at(br), a, b, lat, loss, bw);
    pthread_mutex_unlock(&sw_mu);
}

static void rules_combine(void)
{
    int br = sw_bridge_new();
    sw_set_rule(br, NULL, NULL, SW_LATENCY_MS, 10);
    sw_set_rule(br, "a", "b", SW_LATENCY_MS, 30);
    sw_set_rule(br, "a", "b", SW_BANDWIDTH_BPS, 1e6);
    sw_set_rule(br, "", "b", SW_BANDWIDTH_BPS, 5e5);
    sw_set_rule(br, "b", NULL, SW_LOSS_PCT, 5);
    struct sw_rule r[8];
    CHECK_EQ_INT(sw_rules(br, r, 8), 4);
    CHECK_NEAR(sw_get_rule(br, "a", "b", SW_LATENCY_MS), 30, 0);
    CHECK_NEAR(sw_get_rule(br, "a", "b", SW_BANDWIDTH_BPS), 1e6, 0);
    CHECK_NEAR(sw_get_rule(br, NULL, "b", SW_BANDWIDTH_BPS), 5e5, 0);
    double lat, loss;
    uint64_t bw;
    effective(br, "a", "b", &lat, &loss, &bw); /* the worst of every matching rule */
    CHECK_NEAR(lat, 30, 0);
    CHECK_NEAR(loss, 0, 0);
    CHECK_EQ_U64(bw, 500000);
    effective(br, "b", "a", &lat, &loss, &bw);
    CHECK_NEAR(lat, 10, 0);
    CHECK_NEAR(loss, 5, 0);
    CHECK_EQ_U64(bw, 0);
    effective(br, "c", "b", &lat, &loss, &bw);
    CHECK_NEAR(lat, 10, 0);
    CHECK_EQ_U64(bw, 500000);
    sw_set_rule(br, "a", "b", SW_LATENCY_MS, 0); /* 0 clears */
    effective(br, "a", "b", &lat, &loss, &bw);
    CHECK_NEAR(lat, 10, 0);
    sw_clear_rules(br);
    CHECK_EQ_INT(sw_rules(br, r, 8), 0);
    effective(br, "a", "b", &lat, &loss, &bw);
    CHECK(lat == 0 && loss == 0 && bw == 0);
    sw_bridge_free(br);
    /* a closed or unknown bridge has nothing */
    CHECK_NEAR(sw_get_rule(br, NULL, NULL, SW_LATENCY_MS), 0, 0);
    CHECK(!sw_is_cut(4242, "a", "b"));
    CHECK(!sw_is_isolated(-1, "a"));
}

/* ---- pcap captures ---- */

struct pcap_rec {
    uint32_t sec, usec, incl, orig;
    const uint8_t *data;
};

static uint32_t rd32(const uint8_t *p, int swap)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return swap ? __builtin_bswap32(v) : v;
}

static uint32_t rd16(const uint8_t *p, int swap)
{
    uint16_t v;
    memcpy(&v, p, 2);
    return swap ? __builtin_bswap16(v) : v;
}

/* A tiny reader of classic pcap files (either byte order): checks the global header
 * (2.4, snaplen 65535, LINKTYPE_ETHERNET) and fills out[] with records pointing into
 * buf. Returns how many, or -1 (a failed check) for a malformed file. */
static int pcap_parse(const uint8_t *buf, size_t len, struct pcap_rec *out, int max)
{
    if (!CHECK_MSG(len >= 24, "pcap: %zu bytes, no global header", len))
        return -1;
    uint32_t magic = rd32(buf, 0);
    int swap = magic == 0xd4c3b2a1u;
    if (!CHECK_MSG(magic == 0xa1b2c3d4u || swap, "pcap: magic %08x", magic))
        return -1;
    CHECK_EQ_INT(rd16(buf + 4, swap), 2);
    CHECK_EQ_INT(rd16(buf + 6, swap), 4);
    CHECK_EQ_INT(rd32(buf + 8, swap), 0);  /* thiszone */
    CHECK_EQ_INT(rd32(buf + 12, swap), 0); /* sigfigs */
    uint32_t snap = rd32(buf + 16, swap);
    CHECK_EQ_INT(snap, 65535);
    CHECK_EQ_INT(rd32(buf + 20, swap), 1);
    size_t off = 24;
    int n = 0;
    while (off < len) {
        if (!CHECK_MSG(len - off >= 16 && n < max, "pcap: short record header at %zu", off))
            return -1;
        const uint8_t *h = buf + off;
        struct pcap_rec r = {rd32(h, swap), rd32(h + 4, swap), rd32(h + 8, swap),
                             rd32(h + 12, swap), h + 16};
        if (!CHECK_MSG(r.incl <= snap && r.incl <= r.orig && len - off - 16 >= r.incl,
                       "pcap: bad record at %zu", off))
            return -1;
        CHECK(r.usec < 1000000);
        out[n++] = r;
        off += 16 + r.incl;
    }
    return n;
}

/* A frame a capture should hold. */
struct want {
    const uint8_t *dst, *src;
    unsigned tag;
    size_t len;
};

static void check_capture(const char *path, const struct want *w, int n)
{
    size_t len = 0;
    uint8_t *buf = tl_slurp(path, &len);
    struct pcap_rec r[16];
    int got = buf ? pcap_parse(buf, len, r, 16) : -1;
    CHECK_EQ_INT(got, n);
    int64_t now = (int64_t)time(NULL);
    for (int i = 0; i < got && i < n; i++) {
        uint8_t *f = xmalloc(w[i].len);
        make_frame(f, w[i].len, w[i].dst, w[i].src, w[i].tag);
        CHECK_MSG(r[i].incl == w[i].len && r[i].orig == w[i].len && !memcmp(r[i].data, f, w[i].len),
                  "%s: record %d is not the frame tagged %u", path, i, w[i].tag);
        free(f);
        CHECK_MSG(r[i].sec > now - 86400 && r[i].sec < now + 86400, "record %d: time %u", i,
                  r[i].sec);
        if (i)
            CHECK((uint64_t)r[i].sec * 1000000 + r[i].usec >=
                  (uint64_t)r[i - 1].sec * 1000000 + r[i - 1].usec);
    }
    free(buf);
}

static int have_tcpdump(void)
{
    return system("PATH=$PATH:/usr/sbin:/sbin command -v tcpdump >/dev/null 2>&1") == 0;
}

/* The first 16-bit group of a tcpdump hex line ("\t0x0000:  0102 ..."), or ~0. */
static unsigned long hex_first(const char *line)
{
    const char *p = strstr(line, ":  ");
    return p ? strtoul(p + 3, NULL, 16) : ~0ul;
}

/* `tcpdump -r` lists the same frames: "SRC > DST, ethertype ..., length N:" and the
 * payload's first bytes (the tag) on the hex line after it. -Z root: as root, tcpdump
 * would switch to a user "tcpdump" that a bare install may lack; as anyone else it is
 * ignored. */
static void check_tcpdump(const char *path, const struct want *w, int n)
{
    char *cmd = xasprintf("PATH=$PATH:/usr/sbin:/sbin tcpdump -Z root -nn -e -r '%s' 2>/dev/null",
                          path);
    FILE *p = popen(cmd, "r");
    free(cmd);
    char line[512];
    int i = 0, hex = 0;
    while (p && fgets(line, sizeof line, p)) {
        if (line[0] == '\t') { /* the hex dump of frame i - 1: its first line holds the tag */
            if (hex && i <= n)
                CHECK_MSG(hex_first(line) == w[i - 1].tag, "tcpdump: frame %d: %s", i - 1, line);
            hex = 0;
            continue;
        }
        if (i < n) {
            const uint8_t *s = w[i].src, *d = w[i].dst;
            char *want = xasprintf("%02x:%02x:%02x:%02x:%02x:%02x > %02x:%02x:%02x:%02x:%02x:%02x, "
                                   "ethertype Unknown (0x88b5), length %zu:",
                                   s[0], s[1], s[2], s[3], s[4], s[5], d[0], d[1], d[2], d[3],
                                   d[4], d[5], w[i].len);
            CHECK_STR_CONTAINS(line, want);
            free(want);
        }
        i++;
        hex = 1;
    }
    CHECK_EQ_INT(p ? pclose(p) : -1, 0);
    CHECK_EQ_INT(i, n);
}

static int temp_pcap(char *path)
{
    const char *dir = getenv("TMPDIR");
    snprintf(path, 256, "%s/provium-test-switch-XXXXXX.pcap", dir && *dir ? dir : "/tmp");
    int fd = mkstemps(path, 5);
    CHECK(fd >= 0);
    return fd;
}

/* A bridge capture holds every frame once, on entry, before any rule; a port capture
 * what that port sends and what is delivered to it. */
static void pcap_captures(void)
{
    int br = sw_bridge_new();
    struct peer a = plug(br, "a", 1), b = plug(br, "b", 2), c = plug(br, "c", 3);
    char whole[256], port[256];
    int cw = sw_capture_open(br, -1, temp_pcap(whole)), cp = sw_capture_open(br, b.port, temp_pcap(port));
    CHECK(cw >= 0 && cp >= 0);
    CHECK_EQ_INT(sw_capture_count(br), 1); /* whole-bridge ones only */
    put(&a, BCAST, 1, 60);
    EXPECT(&b, 1);
    EXPECT(&c, 1);
    put(&b, BCAST, 2, 70);
    EXPECT(&a, 2);
    EXPECT(&c, 2);
    sw_cut(br, "a", "b", 1);
    put(&a, b.mac, 3, 80); /* cut: in the bridge capture, not in b's */
    SETTLE(&a);
    put(&c, b.mac, 4, 1514);
    EXPECT(&b, 4);
    sw_capture_close(cw);
    sw_capture_close(cp);
    CHECK_EQ_INT(sw_capture_count(br), 0);
    const struct want ww[] = {{BCAST, a.mac, 1, 60}, {BCAST, b.mac, 2, 70},
                              {b.mac, a.mac, 3, 80}, {b.mac, c.mac, 4, 1514}};
    const struct want wp[] = {ww[0], ww[1], ww[3]};
    check_capture(whole, ww, 4);
    check_capture(port, wp, 3);
    if (have_tcpdump()) {
        check_tcpdump(whole, ww, 4);
        check_tcpdump(port, wp, 3);
    } else {
        printf("SKIP the tcpdump -r part of pcap_captures: tcpdump is not installed\n");
    }
    unlink(whole);
    unlink(port);
    unplug(&a), unplug(&b), unplug(&c);
    sw_bridge_free(br);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN); /* a port the switch gave up: EPIPE, a failed check */
    RUN(flood_unknown);
    RUN(learning);
    RUN(partition);
    RUN(isolation_and_link);
    RUN(counters_per_port);
    RUN(framing);
    RUN(rules_combine);
    RUN(pcap_captures);
    return TEST_SUMMARY();
}
