/* test_rerun.c - the --rerun-failed state: round trip, missing and corrupt files. */
#include "run/rerun.h"
#include "tests/unit/testlib.h"
#include "util/util.h"

#include <stdlib.h>
#include <string.h>

static char *root;

static void round_trip(void)
{
    char *state = path_join(root, "sub/dir/rerun.json"); /* the directory is created */
    struct rerun_set s = {0};
    struct rerun_entry *e = rerun_add(&s, "/p/a.test.lua");
    strv_push(&e->tests, "first test");
    strv_push(&e->tests, "quote \" and \\ back");
    CHECK(rerun_add(&s, "/p/a.test.lua") == e); /* no duplicate */
    rerun_add(&s, "/p/b.test.lua")->whole_file = 1;
    CHECK_EQ_INT(rerun_save(state, &s), 0);
    rerun_set_free(&s);

    struct rerun_set l;
    char err[256];
    CHECK_EQ_INT(rerun_load(state, &l, err, sizeof err), 0);
    CHECK_EQ_INT((int)l.n, 2);
    const struct rerun_entry *a = rerun_find(&l, "/p/a.test.lua");
    CHECK(a != NULL);
    CHECK_EQ_INT(a ? a->whole_file : -1, 0);
    CHECK_EQ_INT(a ? (int)a->tests.n : -1, 2);
    CHECK_STR_EQ(a ? a->tests.v[1] : NULL, "quote \" and \\ back");
    const struct rerun_entry *b = rerun_find(&l, "/p/b.test.lua");
    CHECK_EQ_INT(b ? b->whole_file : -1, 1);
    CHECK(rerun_find(&l, "/p/c.test.lua") == NULL);
    rerun_set_free(&l);

    /* an empty set is written as such and read back empty */
    struct rerun_set empty = {0};
    CHECK_EQ_INT(rerun_save(state, &empty), 0);
    CHECK_EQ_INT(rerun_load(state, &l, err, sizeof err), 0);
    CHECK_EQ_INT((int)l.n, 0);
    free(state);
}

static void missing_and_corrupt(void)
{
    struct rerun_set l;
    char err[512];
    char *missing = path_join(root, "nope.json");
    CHECK_EQ_INT(rerun_load(missing, &l, err, sizeof err), 0);
    CHECK_EQ_INT((int)l.n, 0);
    char *bad = path_join(root, "bad.json");
    write_file_atomic(bad, "{\"files\": 3", 11, 0644);
    CHECK_EQ_INT(rerun_load(bad, &l, err, sizeof err), -1);
    CHECK_STR_CONTAINS(err, "bad.json");
    write_file_atomic(bad, "{\"files\": []}", 13, 0644);
    CHECK_EQ_INT(rerun_load(bad, &l, err, sizeof err), -1);
    CHECK_STR_CONTAINS(err, "not a provium rerun state");
    free(missing);
    free(bad);
}

static void state_path(void)
{
    setenv("PROVIUM_RERUN_STATE", "/x/state.json", 1);
    char *p = rerun_state_path();
    CHECK_STR_EQ(p, "/x/state.json");
    free(p);
    unsetenv("PROVIUM_RERUN_STATE");
    setenv("XDG_CACHE_HOME", "/c", 1);
    p = rerun_state_path();
    CHECK_STR_EQ(p, "/c/provium/rerun.json");
    free(p);
}

int main(void)
{
    root = make_scratch_dir("provium-test-rerun");
    RUN(round_trip);
    RUN(missing_and_corrupt);
    RUN(state_path);
    rm_rf(root);
    free(root);
    return TEST_SUMMARY();
}
