/* test_switch_queues.c - the switch's bounds (src/net/switch.c) without VMs: a pair
 * held back by a bandwidth rule keeps at most 1024 frames (tail drop beyond, counted
 * against the sender), and a receiver that does not read gets at most 4 MiB queued,
 * later frames dropped whole so its stream stays framed. A program of its own: moving
 * megabytes through the switch is the slow part under ASan. The ports are socketpairs
 * (switch_peer.h). */
#include "tests/unit/switch_peer.h"

/* A lane (one pair A->B) holds at most 1024 frames back; beyond, tail drop. */
static void lane_tail_drop(void)
{
    int br = sw_bridge_new();
    struct peer a = plug(br, "a", 1), b = plug(br, "b", 2);
    learn_all((struct peer *[]){&a, &b}, 2);
    sw_set_rule(br, "a", "b", SW_BANDWIDTH_BPS, 100); /* 64 bytes: 5 s each */
    put_many(&a, b.mac, 0, 1100, 64);
    SETTLE(&a);
    unsigned long long dropped = counters(&a).errors;
    CHECK_MSG(dropped >= 70 && dropped <= 76, "%llu of 1100 dropped (1024 held)", dropped);
    QUIET(&b);
    unplug(&a), unplug(&b); /* what is held for them goes */
    sw_bridge_free(br);
}

/* A receiver that does not read gets at most 4 MiB queued; later frames are dropped
 * whole, and what was queued arrives intact once it reads. */
static void out_queue_bound(void)
{
    int br = sw_bridge_new();
    struct peer a = plug(br, "a", 1), b = plug(br, "b", 2);
    learn_all((struct peer *[]){&a, &b}, 2);
    const unsigned n = 90, len = 60000; /* 5.4 MB: more than 4 MiB and the socket hold */
    for (unsigned i = 0; i < n; i++)
        put(&a, b.mac, i, len);
    SETTLE(&a);
    struct sw_counters cb = counters(&b);
    unsigned long long queued = cb.rx_packets - 1; /* less the learning broadcast */
    CHECK_MSG(cb.errors > 0, "nothing dropped for a receiver that does not read");
    CHECK_EQ_U64(queued + cb.errors, n);
    CHECK_MSG(queued * (len + 4) <= (4u << 20) + (unsigned)b.sndbuf + (len + 4),
              "%llu frames queued (the queue holds 4 MiB, the socket %d bytes)", queued, b.sndbuf);
    for (unsigned i = 0; i < queued; i++)
        if (!EXPECT(&b, i))
            break;
    put(&a, b.mac, 1000, 60); /* drained: frames flow again */
    EXPECT(&b, 1000);
    unplug(&a), unplug(&b);
    sw_bridge_free(br);
}

int main(void)
{
    RUN(lane_tail_drop);
    RUN(out_queue_bound);
    return TEST_SUMMARY();
}
