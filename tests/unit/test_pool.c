/* test_pool.c - the pool's rules: grant, wait, too big, deadlock; defaults. */
#include "run/pool.h"
#include "tests/unit/testlib.h"

#define MiB (1ull << 20)

static struct pool make(uint64_t mem_mib, int cpus)
{
    struct pool p = {{mem_mib * MiB, cpus}, {0, 0}};
    return p;
}

static void grant_and_release(void)
{
    struct pool p = make(1024, 2);
    struct pool_amount vm = {356 * MiB, 1}, none = {0, 0};
    CHECK_EQ_INT(pool_request(&p, vm, none, 0), POOL_GRANT);
    CHECK_EQ_INT(pool_request(&p, vm, vm, 0), POOL_GRANT);
    CHECK_EQ_U64(p.used.memory, 712 * MiB);
    CHECK_EQ_INT(p.used.cpus, 2);
    pool_give(&p, vm);
    CHECK_EQ_INT(p.used.cpus, 1);
    pool_give(&p, vm);
    pool_give(&p, vm); /* never below zero */
    CHECK_EQ_U64(p.used.memory, 0);
    CHECK_EQ_INT(p.used.cpus, 0);
}

static void too_big(void)
{
    struct pool p = make(1024, 2);
    struct pool_amount none = {0, 0};
    CHECK_EQ_INT(pool_request(&p, (struct pool_amount){2048 * MiB, 1}, none, 1), POOL_TOO_BIG);
    CHECK_EQ_INT(pool_request(&p, (struct pool_amount){100 * MiB, 3}, none, 1), POOL_TOO_BIG);
    CHECK_EQ_U64(p.used.memory, 0);
}

static void wait_or_deadlock(void)
{
    struct pool p = make(1024, 2);
    struct pool_amount one = {356 * MiB, 1}, two = {712 * MiB, 2}, none = {0, 0};
    pool_take(&p, two); /* another file holds both vCPUs */
    /* someone else can still release: wait */
    CHECK_EQ_INT(pool_request(&p, one, none, 1), POOL_WAIT);
    /* nobody else is making progress: deadlock */
    CHECK_EQ_INT(pool_request(&p, one, none, 0), POOL_DEADLOCK);
    pool_give(&p, two);
    /* this file holds both vCPUs itself and wants a third: no release can help */
    pool_take(&p, two);
    CHECK_EQ_INT(pool_request(&p, one, two, 1), POOL_DEADLOCK);
    CHECK_EQ_U64(p.used.memory, 712 * MiB); /* refused requests take nothing */
}

static void defaults(void)
{
    struct pool p = pool_default(0, 0, 0);
    CHECK(p.total.memory > 0);
    CHECK(p.total.cpus >= 1);
    p = pool_default(512 * MiB, 3, 2);
    CHECK_EQ_U64(p.total.memory, 512 * MiB);
    CHECK_EQ_INT(p.total.cpus, 6);
    p = pool_default(512 * MiB, 3, 100); /* clamped to 8 */
    CHECK_EQ_INT(p.total.cpus, 24);
    p = pool_default(512 * MiB, 3, 0.1); /* clamped to 0.5 */
    CHECK_EQ_INT(p.total.cpus, 1);
}

int main(void)
{
    RUN(grant_and_release);
    RUN(too_big);
    RUN(wait_or_deadlock);
    RUN(defaults);
    return TEST_SUMMARY();
}
