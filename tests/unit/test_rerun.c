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
    char *p = rerun_state_path("/a/provium.toml");
    CHECK_STR_EQ(p, "/x/state.json"); /* the variable names the file itself */
    free(p);
    unsetenv("PROVIUM_RERUN_STATE");
    setenv("XDG_CACHE_HOME", "/c", 1);
    p = rerun_state_path("/a/provium.toml");
    CHECK_STR_CONTAINS(p, "/c/provium/rerun-");
    CHECK_STR_CONTAINS(p, ".json");
    free(p);
}

/* One state per project: keyed by the config file's absolute path, stable across runs. */
static void state_per_project(void)
{
    unsetenv("PROVIUM_RERUN_STATE");
    setenv("XDG_CACHE_HOME", "/c", 1);
    char *a = rerun_state_path("/work/one/provium.toml");
    char *a2 = rerun_state_path("/work/one/provium.toml");
    char *b = rerun_state_path("/work/two/provium.toml");
    CHECK_STR_EQ(a, a2);
    CHECK(strcmp(a, b) != 0);
    /* a failure recorded for project one is not seen by project two */
    char *sa = path_join(root, strrchr(a, '/') + 1), *sb = path_join(root, strrchr(b, '/') + 1);
    struct rerun_set s = {0};
    rerun_add(&s, "/work/one/tests/x.test.lua")->whole_file = 1;
    CHECK_EQ_INT(rerun_save(sa, &s), 0);
    rerun_set_free(&s);
    struct rerun_set l;
    char err[256];
    CHECK_EQ_INT(rerun_load(sb, &l, err, sizeof err), 0);
    CHECK_EQ_INT((int)l.n, 0);
    rerun_set_free(&l);
    CHECK_EQ_INT(rerun_load(sa, &l, err, sizeof err), 0);
    CHECK_EQ_INT((int)l.n, 1);
    rerun_set_free(&l);
    free(a);
    free(a2);
    free(b);
    free(sa);
    free(sb);
}

int main(void)
{
    root = make_scratch_dir("provium-test-rerun");
    RUN(round_trip);
    RUN(missing_and_corrupt);
    RUN(state_path);
    RUN(state_per_project);
    rm_rf(root);
    free(root);
    return TEST_SUMMARY();
}
