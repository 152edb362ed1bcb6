/* test_cache.c - installing fixture cache entries: files by rename, lab directories by
 * RENAME_EXCHANGE; readers see the old entry or the new one, and nothing is left over. */
#include "fixture/fixture.h"
#include "tests/unit/testlib.h"
#include "util/util.h"

#include <dirent.h>
#include <stdlib.h>
#include <string.h>

static char *root;

static void put(const char *rel, const char *text)
{
    char *p = path_join(root, rel);
    char *d = path_dirname(p);
    mkdir_p(d, 0755);
    write_file_atomic(p, text, strlen(text), 0644);
    free(d);
    free(p);
}

static char *get(const char *rel)
{
    char *p = path_join(root, rel);
    size_t n;
    char *s = read_file(p, &n);
    free(p);
    return s;
}

static int entries_in_root(void)
{
    DIR *d = opendir(root);
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d)))
        n += strcmp(de->d_name, ".") && strcmp(de->d_name, "..");
    closedir(d);
    return n;
}

static void install_file(void)
{
    put(".k1.tmp-1", "new");
    char *tmp = path_join(root, ".k1.tmp-1"), *entry = path_join(root, "k1.snap");
    CHECK_EQ_INT(cache_install(tmp, entry), 0);
    char *s = get("k1.snap");
    CHECK_STR_EQ(s, "new");
    free(s);
    put(".k1.tmp-2", "newer");
    CHECK_EQ_INT(cache_install(tmp, entry), -1); /* the temp is gone already */
    free(tmp);
    tmp = path_join(root, ".k1.tmp-2");
    CHECK_EQ_INT(cache_install(tmp, entry), 0);
    s = get("k1.snap");
    CHECK_STR_EQ(s, "newer");
    free(s);
    cache_evict(entry);
    free(tmp);
    free(entry);
    CHECK_EQ_INT(entries_in_root(), 0);
}

static void install_lab_dir(void)
{
    put(".k2.lab.tmp-1/lab.json", "{\"v\":1}");
    put(".k2.lab.tmp-1/a.snap", "a1");
    char *tmp = path_join(root, ".k2.lab.tmp-1"), *entry = path_join(root, "k2.lab");
    CHECK_EQ_INT(cache_install(tmp, entry), 0); /* no old one: a plain rename */
    char *s = get("k2.lab/a.snap");
    CHECK_STR_EQ(s, "a1");
    free(s);
    /* a second build replaces the whole directory: b.snap appears, a.snap goes */
    put(".k2.lab.tmp-2/lab.json", "{\"v\":2}");
    put(".k2.lab.tmp-2/b.snap", "b2");
    free(tmp);
    tmp = path_join(root, ".k2.lab.tmp-2");
    CHECK_EQ_INT(cache_install(tmp, entry), 0);
    s = get("k2.lab/lab.json");
    CHECK_STR_EQ(s, "{\"v\":2}");
    free(s);
    s = get("k2.lab/a.snap");
    CHECK(s == NULL);
    s = get("k2.lab/b.snap");
    CHECK_STR_EQ(s, "b2");
    free(s);
    CHECK(!file_exists(tmp)); /* the old directory was removed */
    CHECK_EQ_INT(entries_in_root(), 1);
    CHECK(cache_entry_bytes(entry) > 0);
    cache_evict(entry);
    CHECK_EQ_INT(entries_in_root(), 0);
    free(tmp);
    free(entry);
}

int main(void)
{
    root = make_scratch_dir("provium-test-cache");
    RUN(install_file);
    RUN(install_lab_dir);
    rm_rf(root);
    free(root);
    return TEST_SUMMARY();
}
