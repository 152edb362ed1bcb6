/* pool.c - accounting for the run's memory and vCPU pool (see pool.h).
 *
 * Pure bookkeeping, no I/O: the runner asks it whether a request fits, and it keeps
 * the totals. Kept apart so the rules (too big, wait, deadlock) are unit-tested
 * without VMs. */
#include "pool.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

static uint64_t mem_total_bytes(void)
{
    FILE *f = fopen("/proc/meminfo", "r");
    unsigned long long kb = 0;
    char line[256];
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "MemTotal: %llu kB", &kb) == 1)
            break;
    if (f)
        fclose(f);
    return (uint64_t)kb * 1024;
}

struct pool pool_default(uint64_t mem, int cpus, double overcommit)
{
    struct pool p;
    memset(&p, 0, sizeof p);
    if (overcommit <= 0)
        overcommit = 1;
    if (overcommit < 0.5)
        overcommit = 0.5;
    if (overcommit > 8)
        overcommit = 8;
    p.total.memory = mem ? mem : mem_total_bytes() / 10 * 8;
    if (!cpus) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        cpus = n > 0 ? (int)n : 1;
    }
    p.total.cpus = (int)(cpus * overcommit);
    if (p.total.cpus < 1)
        p.total.cpus = 1;
    return p;
}

int pool_fits(const struct pool *p, struct pool_amount a)
{
    return p->used.memory + a.memory <= p->total.memory && p->used.cpus + a.cpus <= p->total.cpus;
}

void pool_take(struct pool *p, struct pool_amount a)
{
    p->used.memory += a.memory;
    p->used.cpus += a.cpus;
}

void pool_give(struct pool *p, struct pool_amount a)
{
    p->used.memory = a.memory > p->used.memory ? 0 : p->used.memory - a.memory;
    p->used.cpus = a.cpus > p->used.cpus ? 0 : p->used.cpus - a.cpus;
}

enum pool_verdict pool_request(struct pool *p, struct pool_amount want, struct pool_amount held,
                               int others_progress)
{
    if (want.memory > p->total.memory || want.cpus > p->total.cpus)
        return POOL_TOO_BIG;
    if (pool_fits(p, want)) {
        pool_take(p, want);
        return POOL_GRANT;
    }
    /* even if every other file released everything, what this one holds blocks it */
    if (held.memory + want.memory > p->total.memory || held.cpus + want.cpus > p->total.cpus)
        return POOL_DEADLOCK;
    return others_progress ? POOL_WAIT : POOL_DEADLOCK;
}
