/* shard.c - `--shard K/N`: parsing the flag, placing test files on shards, and the
 * durations file that balances them.
 *
 * Why a pure function: N machines each run `provium --shard K/N` on their own and never
 * talk to each other, so every one of them must compute the same placement from the same
 * inputs, and every file must land on exactly one shard. shard_assign() therefore sees
 * only root-relative paths (never absolute ones, which differ between checkouts),
 * weights (recorded seconds, or 1 each) and literal fixture names, and sorts everything
 * it uses (never discovery order). The rule itself is written in shard.h. */
#include "shard.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- parsing ---- */

/* Decimal digits only, 1 to 9 of them, into *out; 0 when s[0..len) is not that. */
static int parse_num(const char *s, size_t len, long *out)
{
    if (len == 0 || len > 9)
        return 0;
    long v = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return 0;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 1;
}

int shard_parse(const char *what, const char *spec, const char *job_index, int *k, int *n,
                char *err, size_t errlen)
{
    const char *slash = spec ? strchr(spec, '/') : NULL;
    long kk = 0, nn = 0, idx = 0;
    if (!slash || !parse_num(slash + 1, strlen(slash + 1), &nn) || nn < 1 || nn > SHARD_MAX)
        goto bad;
    if (slash - spec == 4 && !strncmp(spec, "auto", 4)) {
        if (!job_index || !*job_index) {
            snprintf(err, errlen,
                     "%s %s: JOB_COMPLETION_INDEX is not set (a Kubernetes Indexed Job sets it)",
                     what, spec);
            return -1;
        }
        if (!parse_num(job_index, strlen(job_index), &idx) || idx >= nn) {
            snprintf(err, errlen, "%s %s: JOB_COMPLETION_INDEX='%s' is not an index from 0 to %ld",
                     what, spec, job_index, nn - 1);
            return -1;
        }
        kk = idx + 1;
    } else if (!parse_num(spec, (size_t)(slash - spec), &kk) || kk < 1 || kk > nn) {
        goto bad;
    }
    *k = (int)kk;
    *n = (int)nn;
    return 0;
bad:
    snprintf(err, errlen, "%s must be K/N (1 <= K <= N <= %d) or auto/N, got '%s'", what,
             SHARD_MAX, spec ? spec : "");
    return -1;
}

/* ---- placement ---- */

struct unit {
    size_t rep;       /* the group's root, or the single file */
    const char *key;  /* the smallest path in the unit */
    uint64_t hash;    /* FNV-1a of key */
    int64_t weight;
};

struct placing {
    const struct shard_file *files;
    size_t n;
    int shards;
    size_t *parent;   /* union-find over files sharing a fixture name */
    size_t *size;     /* members per root */
    int64_t *gweight; /* weight per root */
    size_t *gkey;     /* index of the smallest path per root */
    char *whole;      /* per root: the group is placed as one unit */
    int *place;       /* shard of each placed unit, by rep */
    struct unit *units;
    int64_t *load;
};

static uint64_t fnv1a(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ULL;
    }
    return h;
}

static size_t uf_find(size_t *p, size_t i)
{
    while (p[i] != i) {
        p[i] = p[p[i]];
        i = p[i];
    }
    return i;
}

struct ref_pair {
    const char *name;
    size_t file;
};

static int cmp_ref_pair(const void *a, const void *b)
{
    const struct ref_pair *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    return c ? c : (x->file > y->file) - (x->file < y->file);
}

/* Unites the files that name the same fixture, then sums each group. */
static void find_groups(struct placing *p)
{
    size_t m = 0, k = 0;
    for (size_t i = 0; i < p->n; i++) {
        p->parent[i] = i;
        m += p->files[i].refs ? p->files[i].refs->n : 0;
    }
    struct ref_pair *pairs = xcalloc(m ? m : 1, sizeof *pairs);
    for (size_t i = 0; i < p->n; i++)
        for (size_t r = 0; p->files[i].refs && r < p->files[i].refs->n; r++)
            pairs[k++] = (struct ref_pair){p->files[i].refs->v[r], i};
    qsort(pairs, m, sizeof *pairs, cmp_ref_pair);
    for (size_t i = 1; i < m; i++)
        if (!strcmp(pairs[i].name, pairs[i - 1].name)) {
            size_t a = uf_find(p->parent, pairs[i].file), b = uf_find(p->parent, pairs[i - 1].file);
            if (a != b)
                p->parent[a] = b;
        }
    free(pairs);
    for (size_t i = 0; i < p->n; i++) {
        size_t r = uf_find(p->parent, i);
        if (p->size[r]++ == 0 || strcmp(p->files[i].path, p->files[p->gkey[r]].path) < 0)
            p->gkey[r] = i;
        p->gweight[r] += p->files[i].weight;
    }
    for (size_t i = 0; i < p->n; i++)
        p->whole[i] = p->size[i] > 1;
}

static int cmp_unit(const void *a, const void *b)
{
    const struct unit *x = a, *y = b;
    if (x->weight != y->weight)
        return x->weight > y->weight ? -1 : 1;
    if (x->hash != y->hash)
        return x->hash < y->hash ? -1 : 1;
    return strcmp(x->key, y->key);
}

/* Places the units (whole groups, the other files singly) heaviest first, each on the
 * least loaded shard; returns the heaviest shard's load. */
static int64_t place_units(struct placing *p)
{
    size_t nu = 0;
    for (size_t i = 0; i < p->n; i++) {
        size_t r = uf_find(p->parent, i);
        if (p->whole[r] && r != i)
            continue;
        size_t key = p->whole[r] ? p->gkey[r] : i;
        p->units[nu++] = (struct unit){i, p->files[key].path, fnv1a(p->files[key].path),
                                       p->whole[r] ? p->gweight[r] : p->files[i].weight};
    }
    qsort(p->units, nu, sizeof *p->units, cmp_unit);
    memset(p->load, 0, (size_t)p->shards * sizeof *p->load);
    int64_t max = 0;
    for (size_t u = 0; u < nu; u++) {
        int best = 0;
        for (int s = 1; s < p->shards; s++)
            if (p->load[s] < p->load[best])
                best = s;
        p->load[best] += p->units[u].weight;
        p->place[p->units[u].rep] = best;
        if (p->load[best] > max)
            max = p->load[best];
    }
    return max;
}

/* The heaviest group still placed whole (the smallest first path on a tie), or n. */
static size_t heaviest_whole(const struct placing *p)
{
    size_t best = p->n;
    for (size_t r = 0; r < p->n; r++) {
        if (!p->whole[r])
            continue;
        if (best == p->n || p->gweight[r] > p->gweight[best] ||
            (p->gweight[r] == p->gweight[best] &&
             strcmp(p->files[p->gkey[r]].path, p->files[p->gkey[best]].path) < 0))
            best = r;
    }
    return best;
}

void shard_assign(const struct shard_file *files, size_t n, int shards, int *out)
{
    size_t a = n ? n : 1;
    struct placing p = {files, n, shards < 1 ? 1 : shards, xcalloc(a, sizeof(size_t)),
                        xcalloc(a, sizeof(size_t)), xcalloc(a, sizeof(int64_t)),
                        xcalloc(a, sizeof(size_t)), xcalloc(a, 1), xcalloc(a, sizeof(int)),
                        xcalloc(a, sizeof(struct unit)), NULL};
    p.load = xcalloc((size_t)p.shards, sizeof *p.load);
    find_groups(&p);
    /* the bound: 110 % of the ideal, or what single files alone reach */
    char *keep = xmalloc(a);
    memcpy(keep, p.whole, a);
    memset(p.whole, 0, a);
    int64_t single_max = place_units(&p);
    memcpy(p.whole, keep, a);
    free(keep);
    __int128 total = 0;
    for (size_t i = 0; i < n; i++)
        total += files[i].weight;
    for (;;) {
        int64_t max = place_units(&p);
        size_t g = heaviest_whole(&p);
        if (max <= single_max || (__int128)max * 10 * p.shards <= total * 11 || g == n)
            break;
        p.whole[g] = 0;
    }
    for (size_t i = 0; i < n; i++) {
        size_t r = uf_find(p.parent, i);
        out[i] = p.place[p.whole[r] ? r : i];
    }
    free(p.parent);
    free(p.size);
    free(p.gweight);
    free(p.gkey);
    free(p.whole);
    free(p.place);
    free(p.units);
    free(p.load);
}

/* ---- durations ---- */

int shard_durations_load(const char *path, json_t **out, char *err, size_t errlen)
{
    json_error_t je;
    json_t *d = json_load_file(path, 0, &je);
    if (!d) {
        if (access(path, F_OK) < 0)
            snprintf(err, errlen, "%s: %s", path, strerror(errno));
        else
            snprintf(err, errlen, "%s:%d: %s", path, je.line, je.text);
        return -1;
    }
    const char *k;
    json_t *v;
    if (!json_is_object(d))
        goto bad;
    json_object_foreach(d, k, v) {
        if (!json_is_number(v) || json_number_value(v) < 0)
            goto bad;
    }
    *out = d;
    return 0;
bad:
    snprintf(err, errlen, "%s: not a JSON object of test file path -> seconds", path);
    json_decref(d);
    return -1;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double shard_durations_median(json_t *durations)
{
    size_t n = durations ? json_object_size(durations) : 0, k = 0;
    if (n == 0)
        return 1;
    double *v = xcalloc(n, sizeof *v);
    const char *key;
    json_t *val;
    json_object_foreach(durations, key, val) v[k++] = json_number_value(val);
    qsort(v, n, sizeof *v, cmp_double);
    double m = n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
    free(v);
    return m;
}

int64_t shard_weight(json_t *durations, const char *rel, double unknown)
{
    json_t *v = durations ? json_object_get(durations, rel) : NULL;
    double s = v ? json_number_value(v) : unknown;
    if (s > 1e9) /* 30 years: loads stay far from int64's end */
        s = 1e9;
    int64_t us = (int64_t)llround(s * 1e6);
    return us < 1 ? 1 : us;
}

char *shard_rel_path(const char *dir, const char *abs, const char *fallback)
{
    size_t n = strlen(dir);
    while (n > 1 && dir[n - 1] == '/')
        n--;
    if (n > 1 && !strncmp(abs, dir, n) && abs[n] == '/')
        return xstrdup(abs + n + 1);
    return xstrdup(fallback);
}
