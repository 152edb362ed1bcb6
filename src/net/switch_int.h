/* switch_int.h - what the files of the switch share: switch.c (the thread, ports,
 * forwarding, impairment queues, captures), switch_rules.c (partitions, isolation
 * and impairment rules: what forwarding asks and what the Lua side sets) and
 * switch_route.c (the router between bridges: gateway ARP, IPv4 forwarding). Everything
 * here is guarded by sw_mu. Not for use outside src/net/. */
#ifndef PROVIUM_SWITCH_INT_H
#define PROVIUM_SWITCH_INT_H

#include "switch.h"

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#define SW_MAC_TABLE 256

struct port {
    int fd; /* -1: free slot */
    int bridge;
    int up;
    char vm[64];
    uint8_t *in;
    size_t in_len, in_cap;
    uint8_t *out; /* queued bytes not yet accepted by the socket */
    size_t out_len, out_cap;
    uint64_t rx_frames, tx_frames, dropped; /* switch's view: rx = from the VM */
    uint64_t rx_bytes, tx_bytes;
};

struct pair {
    char from[64], to[64];
};

/* An impairment rule: from/to "" = any member; 0 = not set. */
struct rule {
    char from[64], to[64];
    double latency_ms, loss_pct;
    uint64_t bandwidth_bps;
};

struct bridge {
    int used;
    struct pair *cuts; /* partitions, one way each */
    size_t n_cuts;
    struct rule *rules;
    size_t n_rules;
    char (*isolated)[64];
    size_t n_isolated;
    struct {
        uint8_t mac[6];
        int port;
    } macs[SW_MAC_TABLE];
    size_t n_macs;
};

/* ---- switch.c ---- */
extern pthread_mutex_t sw_mu; /* the tables, shared by the thread and the Lua side */
extern struct bridge *sw_bridges;
extern size_t sw_nbridges;
/* Wakes the switch thread (rules or bindings changed). */
void sw_wake(void);
/* The bridge, or NULL for a closed or unknown id (call with the mutex held). */
struct bridge *sw_bridge_at(int id);
/* For the router (mutex held): port i (NULL when free or unknown), how many slots;
 * one copy from -> to through from's impairments; a frame straight out of a port; a
 * frame entering a bridge, for its captures. */
struct port *sw_port_at(int i);
size_t sw_port_count(void);
void sw_deliver(int from, int to, const uint8_t *frame, uint32_t len);
void sw_send(int port, const uint8_t *frame, uint32_t len);
void sw_capture_entry(int bridge, const uint8_t *frame, uint32_t len);

/* ---- switch_rules.c (call with the mutex held) ---- */
/* May a frame go from port a to port b: both links up, neither VM isolated, a->b not
 * partitioned. */
int sw_allowed(const struct port *a, const struct port *b);
/* The worst of every rule matching A->B: largest latency and loss, smallest non-zero
 * bandwidth. */
void sw_effective(const struct bridge *br, const char *a, const char *b, double *lat,
                  double *loss, uint64_t *bw);

/* ---- switch_route.c (call with the mutex held) ---- */
/* Takes a frame from port `from` that is for its bridge's gateway (ARP for it, or sent
 * to its MAC): answers or forwards it, or drops it. 1: taken; 0: an ordinary frame. */
int sw_route_input(int from, const uint8_t *frame, uint32_t len);
/* Drops every route from or to a bridge that closes. */
void sw_route_forget(int bridge);

#endif
