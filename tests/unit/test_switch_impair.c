/* test_switch_impair.c - the switch's impairments (src/net/switch.c) without VMs: loss
 * at the set probability (counted against the sender), latency that delays delivery
 * and keeps each pair's order, and a token bucket per pair pacing bandwidth. The ports
 * are socketpairs (switch_peer.h). Timing is checked by lower bounds only, and by
 * counting what can have arrived within a window at the configured rate. The bounded
 * queues are test_switch_queues.c. */
#include "tests/unit/switch_peer.h"

static void loss(void)
{
    int br = sw_bridge_new();
    struct peer a = plug(br, "a", 1), b = plug(br, "b", 2);
    learn_all((struct peer *[]){&a, &b}, 2);
    sw_set_rule(br, NULL, NULL, SW_LOSS_PCT, 100);
    put_many(&a, b.mac, 0, 20, 60);
    SETTLE(&a);
    QUIET(&b);
    CHECK_EQ_U64(counters(&a).errors, 20); /* lost frames count against the sender */
    sw_set_rule(br, NULL, NULL, SW_LOSS_PCT, 50);
    put_many(&a, b.mac, 0, 200, 60);
    SETTLE(&a);
    uint8_t buf[128];
    unsigned got = 0;
    while (recv_by(&b, buf, sizeof buf, now_ns() + 100 * MS) == 60)
        got++;
    CHECK_MSG(got >= 40 && got <= 160, "%u of 200 frames arrived at 50 %% loss", got);
    CHECK_EQ_U64(counters(&a).errors, 20 + 200 - got);
    sw_set_rule(br, NULL, NULL, SW_LOSS_PCT, 0);
    put(&a, b.mac, 7, 60);
    EXPECT(&b, 7);
    unplug(&a), unplug(&b);
    sw_bridge_free(br);
}

static void latency_keeps_order(void)
{
    int br = sw_bridge_new();
    struct peer a = plug(br, "a", 1), b = plug(br, "b", 2);
    learn_all((struct peer *[]){&a, &b}, 2);
    sw_set_rule(br, "a", "b", SW_LATENCY_MS, 150);
    int64_t t0 = now_ns();
    put(&a, b.mac, 1, 60);
    SETTLE(&a);
    /* the delay goes away, but a frame sent now still comes after the delayed one */
    sw_set_rule(br, "a", "b", SW_LATENCY_MS, 0);
    put(&a, b.mac, 2, 60);
    SETTLE(&a);
    put(&b, a.mac, 3, 60); /* b -> a has no rule: it flows meanwhile */
    EXPECT(&a, 3);
    EXPECT(&b, 1);
    int64_t took = now_ns() - t0;
    CHECK_MSG(took >= 150 * MS, "delivered after %lld ms, latency 150 ms", (long long)(took / MS));
    EXPECT(&b, 2);
    /* a run of delayed frames arrives whole and in order */
    sw_set_rule(br, NULL, NULL, SW_LATENCY_MS, 20);
    for (unsigned i = 10; i < 30; i++)
        put(&a, b.mac, i, 60 + i);
    for (unsigned i = 10; i < 30; i++)
        EXPECT(&b, i);
    unplug(&a), unplug(&b);
    sw_bridge_free(br);
}

static void bandwidth_paces(void)
{
    int br = sw_bridge_new();
    struct peer a = plug(br, "a", 1), b = plug(br, "b", 2);
    learn_all((struct peer *[]){&a, &b}, 2);
    /* 400 kbit/s: a 1000-byte frame takes the link 20 ms, ten of them 200 ms */
    sw_set_rule(br, "a", "b", SW_BANDWIDTH_BPS, 400000);
    int64_t t0 = now_ns();
    for (unsigned i = 0; i < 10; i++)
        put(&a, b.mac, i, 1000);
    /* the bucket starts no earlier than t0: by t0 + 100 ms at most 5 can have gone */
    uint8_t buf[1000];
    unsigned got = 0, early = 0;
    while (got < 10 && recv_by(&b, buf, sizeof buf, t0 + 100 * MS) == 1000) {
        CHECK_EQ_INT(tag_of(buf), got++);
        if (now_ns() > t0 + 100 * MS)
            break; /* read late (a busy machine): it may have arrived late too */
        early = got;
    }
    CHECK_MSG(early <= 5, "%u frames in the first 100 ms at 400 kbit/s (at most 5)", early);
    for (unsigned i = got; i < 10; i++)
        EXPECT(&b, i);
    int64_t took = now_ns() - t0;
    CHECK_MSG(took >= 195 * MS, "10 x 1000 bytes at 400 kbit/s took %lld ms (>= 200)",
              (long long)(took / MS));
    unplug(&a), unplug(&b);
    sw_bridge_free(br);
}

int main(void)
{
    RUN(loss);
    RUN(latency_keeps_order);
    RUN(bandwidth_paces);
    return TEST_SUMMARY();
}
