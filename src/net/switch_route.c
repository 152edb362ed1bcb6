/* switch_route.c - the virtual router of the worker's switch: `b:route(other)`.
 *
 * Bridges are separate Ethernet segments with subnets 10.213.K.0/24 (spec §5.2). A
 * route from bridge F to bridge T lets F's members reach T's subnet by address: F gets
 * a gateway 10.213.KF.1 with the MAC 52:54:00:d5:KF:01 (the plan's MAC for that
 * address; .1-.9 are reserved by the plan, so no member ever holds it), the guests get
 * `ip route replace 10.213.KT.0/24 via 10.213.KF.1` from the Lua side, and this file
 *   - answers ARP requests for the gateway of a bridge that has a route (and only
 *     those: a bridge without routes has no gateway), and
 *   - forwards IPv4 frames sent to the gateway's MAC whose destination lies in a subnet
 *     routed from that bridge: TTL decremented (a frame whose TTL would reach 0 is
 *     dropped, no ICMP time exceeded), header checksum recomputed, source MAC the
 *     target bridge's gateway MAC, destination MAC the plan's MAC for the destination
 *     address (52:54:00:d5:KT:HH: every member has a fixed address and MAC, so the
 *     router never has to ARP). The frame then goes to the port that MAC was learned
 *     on, or to every port of the target bridge while it is unknown.
 * Anything else sent to the gateway (its own address, an unrouted subnet, not IPv4)
 * is dropped and counted as the sender's error.
 *
 * Routes are one way, as the spec words it: F->T lets F's members send into T; the
 * answers need T->F. Rules: on the way in, the source bridge's (the sender's link and
 * isolation on F); on the way out, the target bridge's (the receiver's link and
 * isolation on T, and a partition sender->receiver recorded on T); impairments are the
 * source bridge's rules for sender->receiver, as for any frame the sender sends. A
 * bridge capture of T records the routed frame as it enters T.
 *
 * Everything runs on the switch thread with sw_mu held; sw_route changes the table
 * under the same mutex. */
#include "switch_int.h"

#include "util/util.h"

#include <stdlib.h>
#include <string.h>

#define GW_HOST 1 /* the gateway's host octet: .1, reserved by the address plan */

struct route {
    int from, from_k; /* bridge id and its subnet index K */
    int to, to_k;
};

static struct route *g_routes;
static size_t g_nroutes;

/* The plan's MAC of 10.213.k.host: 52:54:00:d5:KK:HH. */
static void plan_mac(uint8_t mac[6], int k, int host)
{
    static const uint8_t prefix[4] = {0x52, 0x54, 0x00, 0xd5};
    memcpy(mac, prefix, 4);
    mac[4] = (uint8_t)k;
    mac[5] = (uint8_t)host;
}

/* The subnet index of bridge's gateway: K when a route leaves it, else -1. */
static int gateway_k(int bridge)
{
    for (size_t i = 0; i < g_nroutes; i++)
        if (g_routes[i].from == bridge)
            return g_routes[i].from_k;
    return -1;
}

static const struct route *route_to(int from, int to_k)
{
    for (size_t i = 0; i < g_nroutes; i++)
        if (g_routes[i].from == from && g_routes[i].to_k == to_k)
            return &g_routes[i];
    return NULL;
}

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint32_t addr_of(int k, int host) { return 0x0ad50000u | (uint32_t)k << 8 | (uint32_t)host; }

/* May the sender on port a talk to the gateway of its bridge: link up, not isolated. */
static int may_enter(const struct port *a)
{
    struct port gw;
    memset(&gw, 0, sizeof gw);
    gw.bridge = a->bridge;
    gw.up = 1; /* the gateway's name "" is never isolated or partitioned */
    return sw_allowed(a, &gw);
}

/* Answers an ARP request for the gateway of port from's bridge; 0: not one. */
static int arp_input(int from, const uint8_t *f, uint32_t len, int k)
{
    static const uint8_t arp_ipv4[8] = {0, 1, 8, 0, 6, 4, 0, 1}; /* Ethernet, IPv4, request */
    if (len < 42 || f[12] != 0x08 || f[13] != 0x06 || memcmp(f + 14, arp_ipv4, 8) != 0 ||
        be32(f + 38) != addr_of(k, GW_HOST))
        return 0;
    if (!may_enter(sw_port_at(from)))
        return 1;
    uint8_t r[60] = {0}, mac[6];
    plan_mac(mac, k, GW_HOST);
    memcpy(r, f + 6, 6);     /* to the asker */
    memcpy(r + 6, mac, 6);
    r[12] = 0x08;
    r[13] = 0x06;
    memcpy(r + 14, arp_ipv4, 8);
    r[21] = 2;               /* reply */
    memcpy(r + 22, mac, 6);  /* sender: the gateway */
    memcpy(r + 28, f + 38, 4);
    memcpy(r + 32, f + 22, 6); /* target: the asker */
    memcpy(r + 38, f + 28, 4);
    sw_send(from, r, sizeof r);
    return 1;
}

static uint16_t ip_checksum(const uint8_t *h, size_t n)
{
    uint32_t sum = 0;
    for (size_t i = 0; i + 1 < n; i += 2)
        sum += (uint32_t)h[i] << 8 | h[i + 1];
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    return (uint16_t)~sum;
}

/* The port of bridge tb that learned mac, or -1. */
static int learned_port(int tb, const uint8_t *mac)
{
    const struct bridge *b = sw_bridge_at(tb);
    for (size_t i = 0; b && i < b->n_macs; i++)
        if (!memcmp(b->macs[i].mac, mac, 6)) {
            const struct port *p = sw_port_at(b->macs[i].port);
            return p && p->bridge == tb ? b->macs[i].port : -1;
        }
    return -1;
}

/* Hands the rewritten frame to the receiver on bridge tb (or every port of tb while
 * its MAC is unknown), under tb's rules for sender -> receiver. */
static void route_out(int from, int tb, const uint8_t *f, uint32_t len)
{
    struct port via;
    memset(&via, 0, sizeof via);
    via.bridge = tb;
    via.up = 1;
    memcpy(via.vm, sw_port_at(from)->vm, sizeof via.vm); /* the sender, seen on tb */
    sw_capture_entry(tb, f, len);
    int to = learned_port(tb, f);
    for (size_t i = 0; i < sw_port_count(); i++) {
        const struct port *p = sw_port_at((int)i);
        if (!p || p->bridge != tb || (int)i == from || (to >= 0 && (int)i != to))
            continue;
        if (sw_allowed(&via, p))
            sw_deliver(from, (int)i, f, len);
    }
}

/* The route an IPv4 frame sent to the gateway of bridge `bridge` takes, NULL when it
 * is not one to forward (not IPv4, outside the routed subnets, a subnet's network,
 * gateway or broadcast address, TTL 1 or 0); *hl = its header length. */
static const struct route *route_for(int bridge, const uint8_t *f, uint32_t len, size_t *hl)
{
    const uint8_t *ip = f + 14;
    if (len < 34 || f[12] != 0x08 || f[13] != 0x00 || (ip[0] >> 4) != 4)
        return NULL;
    *hl = (size_t)(ip[0] & 15) * 4;
    uint32_t dst = be32(ip + 16);
    int host = (int)(dst & 255);
    if (*hl < 20 || 14 + *hl > len || (dst & 0xffff0000u) != 0x0ad50000u || host <= GW_HOST ||
        host == 255 || ip[8] <= 1)
        return NULL;
    const struct route *r = route_to(bridge, (int)(dst >> 8 & 255));
    return r && sw_bridge_at(r->to) ? r : NULL;
}

/* Forwards an IPv4 frame sent to the gateway of port from's bridge. */
static void ip_input(int from, const uint8_t *f, uint32_t len)
{
    struct port *a = sw_port_at(from);
    size_t hl = 0;
    const struct route *r = route_for(a->bridge, f, len, &hl);
    if (!r || !may_enter(a)) {
        a->dropped++;
        return;
    }
    uint8_t *out = xmalloc(len);
    memcpy(out, f, len);
    plan_mac(out, r->to_k, f[14 + 19]);
    plan_mac(out + 6, r->to_k, GW_HOST);
    uint8_t *oip = out + 14;
    oip[8]--;
    oip[10] = oip[11] = 0;
    uint16_t sum = ip_checksum(oip, hl);
    oip[10] = (uint8_t)(sum >> 8);
    oip[11] = (uint8_t)sum;
    route_out(from, r->to, out, len);
    free(out);
}

int sw_route_input(int from, const uint8_t *frame, uint32_t len)
{
    if (!g_nroutes)
        return 0;
    const struct port *a = sw_port_at(from);
    int k = a ? gateway_k(a->bridge) : -1;
    if (k < 0)
        return 0;
    static const uint8_t bcast[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    if (!memcmp(frame, bcast, 6))
        return arp_input(from, frame, len, k);
    uint8_t gw[6];
    plan_mac(gw, k, GW_HOST);
    if (memcmp(frame, gw, 6) != 0)
        return 0;
    if (arp_input(from, frame, len, k)) /* a unicast ARP re-check of the gateway */
        return 1;
    ip_input(from, frame, len);
    return 1;
}

void sw_route_forget(int bridge)
{
    size_t k = 0;
    for (size_t i = 0; i < g_nroutes; i++)
        if (g_routes[i].from != bridge && g_routes[i].to != bridge)
            g_routes[k++] = g_routes[i];
    g_nroutes = k;
}

int sw_route(int from, int from_k, int to, int to_k, int on)
{
    int rc = -1;
    pthread_mutex_lock(&sw_mu);
    if (!sw_bridge_at(from) || !sw_bridge_at(to) || from == to || from_k == to_k ||
        from_k < 0 || from_k > 255 || to_k < 0 || to_k > 255)
        goto done;
    size_t i = 0;
    while (i < g_nroutes && !(g_routes[i].from == from && g_routes[i].to == to))
        i++;
    if (on && i == g_nroutes) {
        g_routes = xrealloc(g_routes, (g_nroutes + 1) * sizeof *g_routes);
        g_routes[g_nroutes++] = (struct route){from, from_k, to, to_k};
    } else if (!on && i < g_nroutes) {
        g_routes[i] = g_routes[--g_nroutes];
    }
    rc = 0;
done:
    pthread_mutex_unlock(&sw_mu);
    return rc;
}
