/* switch.h - the worker's userspace Ethernet switch (switch.c). */
#ifndef PROVIUM_SWITCH_H
#define PROVIUM_SWITCH_H

#include <stddef.h>

/* A connected -netdev stream socket of VM `vm`; the switch owns fd from now on.
 * Returns the port id (unbound, link down) or -1. */
int sw_add_port(int fd, const char *vm);
void sw_remove_port(int port);
/* Binds a port to a bridge (-1: unbound) with its link up or down. */
void sw_bind(int port, int bridge, int up);
int sw_bridge_new(void);
void sw_bridge_free(int bridge); /* unbinds its ports */
/* Rules, by VM name: cut traffic from -> to (one way); isolate a VM from everyone. */
void sw_cut(int bridge, const char *from, const char *to, int cut);
int sw_is_cut(int bridge, const char *from, const char *to);
void sw_heal_all(int bridge);
void sw_isolate(int bridge, const char *vm, int on);
int sw_is_isolated(int bridge, const char *vm);
/* Impairment rules (bridge-wide when from/to are NULL or ""): setting replaces the value
 * for the same (from, to); 0 clears it. */
enum { SW_LATENCY_MS, SW_LOSS_PCT, SW_BANDWIDTH_BPS };
void sw_set_rule(int bridge, const char *from, const char *to, int what, double value);
double sw_get_rule(int bridge, const char *from, const char *to, int what);
void sw_clear_rules(int bridge);
struct sw_rule {
    char from[64], to[64];
    double latency_ms, loss_pct;
    unsigned long long bandwidth_bps;
};
size_t sw_rules(int bridge, struct sw_rule *out, size_t max);
/* pcap captures (classic format, microseconds, LINKTYPE_ETHERNET): of a bridge (port
 * -1: every frame once, on entry, before any rule) or of one port (what it sends and
 * what is delivered to it). The switch writes the header now and owns fd. */
int sw_capture_open(int bridge, int port, int fd);
void sw_capture_close(int id);
size_t sw_capture_count(int bridge); /* open whole-bridge captures */
/* Cable pull: a port that is down forwards nothing either way. */
void sw_set_link(int port, int up);
struct sw_counters {
    unsigned long long rx_bytes, tx_bytes, rx_packets, tx_packets, errors;
};
/* The guest's view of a port (rx = delivered to it); -1 for an unknown port. */
int sw_counters(int port, struct sw_counters *c);
/* Copies up to max partitions (from[i] -> to[i]); returns how many there are. */
size_t sw_cuts(int bridge, char (*from)[64], char (*to)[64], size_t max);
/* Routing (switch_route.c): members of bridge `from` (subnet 10.213.from_k.0/24) reach
 * bridge `to`'s subnet 10.213.to_k.0/24 through the gateway 10.213.from_k.1, which the
 * switch answers ARP for and forwards through. One way: answers need the route back.
 * on = 0 removes it. Returns -1 for a closed bridge, the same bridge or subnet. */
int sw_route(int from, int from_k, int to, int to_k, int on);

#endif
