/* pool.h - the run's memory and vCPU pool (pool.c).
 *
 * The parent charges 50 MiB to every running file and, for every VM a worker boots or
 * restores, its memory plus 100 MiB and its vCPUs until it shuts down. Requests that
 * cannot be served at once wait in order; one that could never be served is refused. */
#ifndef PROVIUM_POOL_H
#define PROVIUM_POOL_H

#include <stdint.h>

#define POOL_FILE_MEMORY (50ull << 20) /* charged to every running file */
#define POOL_VM_OVERHEAD (100ull << 20) /* charged per VM on top of its memory */

struct pool_amount {
    uint64_t memory;
    int cpus;
};

struct pool {
    struct pool_amount total, used;
};

enum pool_verdict {
    POOL_GRANT,    /* taken now */
    POOL_WAIT,     /* queue it: a release can make room */
    POOL_TOO_BIG,  /* larger than the whole pool */
    POOL_DEADLOCK, /* no release can ever make room for it */
};

/* The default pool: 80 % of MemTotal and the online CPUs times overcommit (clamped to
 * 0.5-8); mem/cpus override when non-zero. */
struct pool pool_default(uint64_t mem, int cpus, double overcommit);
int pool_fits(const struct pool *p, struct pool_amount a);
void pool_take(struct pool *p, struct pool_amount a);
void pool_give(struct pool *p, struct pool_amount a);
/* A request `want` from a file already holding `held`; others_progress says whether
 * another running file is not itself waiting (so it can still finish or shut a VM
 * down). Takes the amount on POOL_GRANT. */
enum pool_verdict pool_request(struct pool *p, struct pool_amount want, struct pool_amount held,
                               int others_progress);

#endif
