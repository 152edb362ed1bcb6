/* test_shard.c - `--shard K/N`: the flag's parsing, and the placement of files on shards
 * (every file on exactly one shard, the same under any input order, balanced within
 * 10 % by recorded durations, files sharing a fixture kept together only while that
 * keeps the balance), and the durations file. */
#include "run/shard.h"
#include "tests/unit/testlib.h"
#include "util/util.h"

#include <stdlib.h>
#include <string.h>

static void parse(void)
{
    char err[256];
    int k = 0, n = 0;
    CHECK_EQ_INT(shard_parse("--shard", "1/1", NULL, &k, &n, err, sizeof err), 0);
    CHECK_EQ_INT(k, 1);
    CHECK_EQ_INT(shard_parse("--shard", "3/7", NULL, &k, &n, err, sizeof err), 0);
    CHECK_EQ_INT(k, 3);
    CHECK_EQ_INT(n, 7);
    const char *bad[] = {"0/2", "3/2", "1/0", "x/2", "1/x", "12", "", "1/2/3", "-1/2", "1 /2",
                         "auto/0", "auto", "1/1000000"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        err[0] = 0;
        CHECK_MSG(shard_parse("--shard", bad[i], "0", &k, &n, err, sizeof err) < 0, "accepted '%s'",
                  bad[i]);
        CHECK_STR_CONTAINS(err, "--shard");
    }
    CHECK_EQ_INT(shard_parse("--shard", "auto/4", "0", &k, &n, err, sizeof err), 0);
    CHECK_EQ_INT(k, 1);
    CHECK_EQ_INT(shard_parse("--shard", "auto/4", "3", &k, &n, err, sizeof err), 0);
    CHECK_EQ_INT(k, 4);
    CHECK_EQ_INT(n, 4);
    CHECK_EQ_INT(shard_parse("--shard", "auto/4", NULL, &k, &n, err, sizeof err), -1);
    CHECK_STR_CONTAINS(err, "JOB_COMPLETION_INDEX is not set");
    CHECK_EQ_INT(shard_parse("--shard", "auto/4", "4", &k, &n, err, sizeof err), -1);
    CHECK_STR_CONTAINS(err, "JOB_COMPLETION_INDEX='4'");
    CHECK_EQ_INT(shard_parse("PROVIUM_SHARD", "auto/4", "x", &k, &n, err, sizeof err), -1);
    CHECK_STR_CONTAINS(err, "PROVIUM_SHARD");
}

/* A synthetic suite: n files, weights pseudo-random in [1, 100] s (or 1 each),
 * every `share`-th file refers to fixture "common" (0: none). */
struct suite {
    struct shard_file *f;
    char **paths;
    struct strv *refs;
    size_t n;
};

static unsigned rnd(unsigned *s)
{
    *s = *s * 1103515245u + 12345u;
    return (*s >> 16) & 0x7fff;
}

static struct suite make_suite(size_t n, int weighted, size_t share)
{
    struct suite s = {xcalloc(n, sizeof *s.f), xcalloc(n, sizeof(char *)),
                      xcalloc(n, sizeof(struct strv)), n};
    unsigned seed = 42;
    for (size_t i = 0; i < n; i++) {
        s.paths[i] = xasprintf("tests/dir%zu/file%03zu.test.lua", i % 5, i);
        if (share && i % share == 0)
            strv_push(&s.refs[i], "common");
        s.f[i] = (struct shard_file){s.paths[i],
                                     weighted ? (int64_t)(1 + rnd(&seed) % 100) * 1000000 : 1,
                                     &s.refs[i]};
    }
    return s;
}

static void free_suite(struct suite *s)
{
    for (size_t i = 0; i < s->n; i++) {
        free(s->paths[i]);
        strv_free(&s->refs[i]);
    }
    free(s->paths);
    free(s->refs);
    free(s->f);
}

/* The heaviest shard's load against the ideal, as a ratio. */
static double imbalance(const struct suite *s, const int *out, int shards)
{
    int64_t *load = xcalloc((size_t)shards, sizeof *load), total = 0, max = 0;
    for (size_t i = 0; i < s->n; i++) {
        load[out[i]] += s->f[i].weight;
        total += s->f[i].weight;
    }
    for (int k = 0; k < shards; k++)
        max = load[k] > max ? load[k] : max;
    free(load);
    return (double)max * shards / (double)total;
}

static void exactly_once_and_permuted(void)
{
    struct suite s = make_suite(97, 1, 7);
    int *out = xcalloc(s.n, sizeof *out), *out2 = xcalloc(s.n, sizeof *out2);
    struct shard_file *perm = xcalloc(s.n, sizeof *perm);
    for (int shards = 1; shards <= 130; shards += shards < 10 ? 1 : 17) {
        shard_assign(s.f, s.n, shards, out);
        int ok = 1;
        for (size_t i = 0; i < s.n; i++)
            ok &= out[i] >= 0 && out[i] < shards;
        CHECK_MSG(ok, "a file outside shards 0..%d", shards - 1);
        /* reversed and rotated input: the same file on the same shard */
        for (size_t i = 0; i < s.n; i++)
            perm[i] = s.f[(s.n - 1 - i + (size_t)shards) % s.n];
        shard_assign(perm, s.n, shards, out2);
        int same = 1;
        for (size_t i = 0; i < s.n; i++)
            same &= out2[i] == out[(s.n - 1 - i + (size_t)shards) % s.n];
        CHECK_MSG(same, "the placement on %d shards depends on the input order", shards);
    }
    free(perm);
    free(out);
    free(out2);
    free_suite(&s);
}

static void balanced(void)
{
    struct suite s = make_suite(200, 1, 0);
    int *out = xcalloc(s.n, sizeof *out);
    for (int shards = 2; shards <= 8; shards++) {
        shard_assign(s.f, s.n, shards, out);
        double r = imbalance(&s, out, shards);
        CHECK_MSG(r <= 1.10, "%d shards: heaviest at %.3f x the ideal", shards, r);
    }
    free(out);
    free_suite(&s);
    /* no durations: equal counts (within one file) */
    s = make_suite(101, 0, 0);
    out = xcalloc(s.n, sizeof *out);
    shard_assign(s.f, s.n, 4, out);
    int count[4] = {0};
    for (size_t i = 0; i < s.n; i++)
        count[out[i]]++;
    for (int k = 0; k < 4; k++)
        CHECK_MSG(count[k] == 25 || count[k] == 26, "shard %d has %d files", k, count[k]);
    free(out);
    free_suite(&s);
}

static void grouping(void)
{
    /* a small group (5 of 100 files, weights 1..100 s) fits: it stays together */
    struct suite s = make_suite(100, 1, 20);
    int *out = xcalloc(s.n, sizeof *out);
    shard_assign(s.f, s.n, 4, out);
    int together = 1;
    for (size_t i = 20; i < s.n; i += 20)
        together &= out[i] == out[0];
    CHECK_MSG(together, "files sharing a fixture were split though they fit");
    CHECK(imbalance(&s, out, 4) <= 1.10);
    free(out);
    free_suite(&s);
    /* a group of half the suite would unbalance 4 shards: it is split */
    s = make_suite(100, 1, 2);
    out = xcalloc(s.n, sizeof *out);
    shard_assign(s.f, s.n, 4, out);
    together = 1;
    for (size_t i = 2; i < s.n; i += 2)
        together &= out[i] == out[0];
    CHECK_MSG(!together, "a group of half the suite kept on one of 4 shards");
    CHECK(imbalance(&s, out, 4) <= 1.10);
    free(out);
    free_suite(&s);
    /* tiny suites: grouping kept when single files are no better balanced */
    s = make_suite(3, 0, 2); /* files 0 and 2 share, 2 shards */
    out = xcalloc(s.n, sizeof *out);
    shard_assign(s.f, s.n, 2, out);
    CHECK_EQ_INT(out[0], out[2]);
    CHECK(out[1] != out[0]);
    free(out);
    free_suite(&s);
}

static void empty_and_more_shards(void)
{
    int dummy = -1;
    shard_assign(NULL, 0, 3, &dummy);
    CHECK_EQ_INT(dummy, -1);
    struct suite s = make_suite(3, 0, 0);
    int out[3];
    shard_assign(s.f, s.n, 10, out);
    CHECK(out[0] != out[1] && out[1] != out[2] && out[0] != out[2]);
    free_suite(&s);
}

static void durations(void)
{
    char *dir = make_scratch_dir("provium-test-shard");
    char *p = path_join(dir, "d.json");
    const char *text = "{\"a.test.lua\": 10, \"b.test.lua\": 2.5, \"c.test.lua\": 4}";
    CHECK_EQ_INT(write_file_atomic(p, text, strlen(text), 0644), 0);
    json_t *d = NULL;
    char err[256];
    CHECK_EQ_INT(shard_durations_load(p, &d, err, sizeof err), 0);
    double med = shard_durations_median(d);
    CHECK_NEAR(med, 4, 0);
    CHECK_EQ_INT(shard_weight(d, "b.test.lua", med), 2500000);
    CHECK_EQ_INT(shard_weight(d, "new.test.lua", med), 4000000);
    json_decref(d);
    CHECK_NEAR(shard_durations_median(NULL), 1, 0);
    text = "[1, 2]";
    CHECK_EQ_INT(write_file_atomic(p, text, strlen(text), 0644), 0);
    CHECK_EQ_INT(shard_durations_load(p, &d, err, sizeof err), -1);
    CHECK_STR_CONTAINS(err, "seconds");
    char *missing = path_join(dir, "none.json");
    CHECK_EQ_INT(shard_durations_load(missing, &d, err, sizeof err), -1);
    CHECK_STR_CONTAINS(err, "No such file");
    char *r = shard_rel_path("/w/proj/", "/w/proj/tests/x.test.lua", "x.test.lua");
    CHECK_STR_EQ(r, "tests/x.test.lua");
    free(r);
    r = shard_rel_path("/w/proj", "/w/projx/y.test.lua", "y.test.lua");
    CHECK_STR_EQ(r, "y.test.lua");
    free(r);
    rm_rf(dir);
    free(missing);
    free(p);
    free(dir);
}

int main(void)
{
    RUN(parse);
    RUN(exactly_once_and_permuted);
    RUN(balanced);
    RUN(grouping);
    RUN(empty_and_more_shards);
    RUN(durations);
    return TEST_SUMMARY();
}
