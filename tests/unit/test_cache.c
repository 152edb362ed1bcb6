/* test_cache.c - the fixture cache directory: installing entries (files by rename, lab
 * directories by RENAME_EXCHANGE; readers see the old entry or the new one, and nothing
 * is left over), the temps of builds in progress (a dead writer's are removed, a live
 * one's kept and counted toward cache_max_size) and private permissions. */
#include "fixture/fixture.h"
#include "tests/unit/testlib.h"
#include "util/util.h"

#include <dirent.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

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
        n += strcmp(de->d_name, ".") && strcmp(de->d_name, "..") &&
             strcmp(de->d_name, SCRATCH_OWNER_FILE); /* the root's own, not the cache's */
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

static int exists(const char *rel)
{
    char *p = path_join(root, rel);
    int ok = file_exists(p);
    free(p);
    return ok;
}

/* A child that tells its owner tag and then waits to be killed: a live writer. */
static pid_t live_writer(char *tag, size_t taglen)
{
    int p[2];
    if (pipe(p) < 0)
        return -1;
    pid_t pid = fork();
    if (pid == 0) {
        const char *t = owner_tag();
        if (write(p[1], t, strlen(t)) < 0)
            _exit(1);
        pause();
        _exit(0);
    }
    close(p[1]);
    ssize_t n = read(p[0], tag, taglen - 1);
    tag[n > 0 ? n : 0] = 0;
    close(p[0]);
    return pid;
}

static void put_bytes(const char *rel, size_t n)
{
    char *text = xmalloc(n + 1);
    memset(text, 'x', n);
    text[n] = 0;
    put(rel, text);
    free(text);
}

static void dead_writers_temps_go(void)
{
    char tag[64], *name;
    pid_t pid = live_writer(tag, sizeof tag);
    CHECK(pid > 0 && strchr(tag, '-'));
    struct config cfg = {.cache_dir = root, .cache_max_size = 1ull << 40};
    /* what a killed fixture build leaves: snapshot temps, a lab directory */
    name = xasprintf(".snap.tmp-%s-Ab3dE6", tag);
    put(name, "migration stream");
    free(name);
    name = xasprintf(".%064d.vm.tmp-%s-1", 0, tag);
    put(name, "snapshot");
    free(name);
    name = xasprintf(".%064d.lab.tmp-%s-2/a.snap", 0, tag);
    put(name, "lab member");
    free(name);
    put("k.snap.lock", "");
    /* its writer still runs: all kept, and counted */
    uint64_t live = 0;
    CHECK(cache_remove_orphans(&cfg, &live) == 0);
    CHECK(live > 0);
    CHECK_EQ_INT(entries_in_root(), 4);
    CHECK_EQ_INT(cache_tmp_state(".snap.tmp-1-9999999999999-x"), CACHE_TMP_DEAD); /* not PID 1 */
    /* PID reuse: our own PID with another start time is not the writer */
    name = xasprintf(".snap.tmp-%d-1-Zz9Zz9", (int)getpid());
    CHECK_EQ_INT(cache_tmp_state(name), CACHE_TMP_DEAD);
    free(name);
    CHECK_EQ_INT(cache_tmp_state(".snap.tmp-nope"), CACHE_TMP_UNTAGGED);
    CHECK_EQ_INT(cache_tmp_state("k.snap.lock"), CACHE_NOT_TMP);
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    /* now it is gone: everything but the lock goes, at startup (eviction) */
    cache_enforce_limit(&cfg, NULL, NULL);
    CHECK_EQ_INT(entries_in_root(), 1);
    CHECK(exists("k.snap.lock"));
    rm_rf(root);
    mkdir_p(root, 0700);
}

static void live_temps_count_toward_the_limit(void)
{
    char tag[64], *name, key[70];
    pid_t pid = live_writer(tag, sizeof tag);
    snprintf(key, sizeof key, "%064d.snap", 7);
    put_bytes(key, 8192);
    uint64_t entry = cache_entry_bytes(root);
    struct config cfg = {.cache_dir = root, .cache_max_size = entry + 4096};
    cache_enforce_limit(&cfg, NULL, NULL); /* fits alone */
    CHECK(exists(key));
    name = xasprintf(".%064d.vm.tmp-%s-1", 8, tag);
    put_bytes(name, 65536);
    cache_enforce_limit(&cfg, NULL, NULL); /* with a 64 KiB build in progress it does not */
    CHECK(!exists(key));
    CHECK(exists(name)); /* a live build is never evicted */
    free(name);
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    rm_rf(root);
    mkdir_p(root, 0700);
}

static void own_temps_of_a_key(void)
{
    struct config cfg = {.cache_dir = root, .cache_max_size = 1ull << 40};
    char *mine = xasprintf(".%064d.vm.tmp-%s-3", 1, owner_tag());
    char *lab = xasprintf(".%064d.lab.tmp-%s-4/lab.json", 1, owner_tag());
    char *other_key = xasprintf(".%064d.vm.tmp-%s-5", 2, owner_tag());
    put(mine, "a");
    put(lab, "{}");
    put(other_key, "b");
    char k[65];
    snprintf(k, sizeof k, "%064d", 1);
    cache_remove_own_tmp(&cfg, k);
    CHECK(!exists(mine));
    CHECK_EQ_INT(entries_in_root(), 1);
    CHECK(exists(other_key));
    free(mine);
    free(lab);
    free(other_key);
    rm_rf(root);
    mkdir_p(root, 0700);
}

static void private_permissions(void)
{
    char *dir = path_join(root, "made/fixtures");
    struct config cfg = {.cache_dir = dir, .cache_max_size = 1ull << 40};
    char key[65];
    snprintf(key, sizeof key, "%064d", 3);
    int fd = cache_lock(&cfg, key, 0, "a.test.lua", "fixtures/x", NULL, NULL);
    CHECK(fd >= 0);
    cache_unlock(fd);
    struct stat st;
    CHECK(stat(dir, &st) == 0 && (st.st_mode & 0777) == 0700);
    char *lock = xasprintf("%s/%s.snap.lock", dir, key);
    CHECK(stat(lock, &st) == 0 && (st.st_mode & 0777) == 0600);
    free(lock);
    chmod(dir, 0755); /* made by an older version */
    CHECK_EQ_INT(cache_dir_prepare(&cfg), 0);
    CHECK(stat(dir, &st) == 0 && (st.st_mode & 0777) == 0700);
    free(dir);
    rm_rf(root);
    mkdir_p(root, 0700);
}

/* A hot form (vm/snapshot_hot.c) beside its entry: counted in the entry's bytes, gone
 * with it, and swept when left without it; a lab's `<key>.lab.hot` likewise. */
static void hot_forms_follow_their_entry(void)
{
    char k[65], k2[65];
    memset(k, 'a', 64);
    memset(k2, 'b', 64);
    k[64] = k2[64] = 0;
    char *snap = xasprintf("%s.snap", k), *hot = xasprintf("%s.snap.hot/ram", k);
    char *lab = xasprintf("%s.lab/lab.json", k2);
    char *labhot = xasprintf("%s.lab.hot/x.snap.hot/ram", k2);
    put(snap, "s");
    put(hot, "ram");
    put(lab, "{}");
    put(labhot, "ram");
    char *e = path_join(root, snap), *h = xasprintf("%s.hot", e);
    uint64_t alone = cache_entry_bytes(h);
    CHECK(cache_entry_bytes(e) > alone && alone > 0);
    cache_evict(e);
    CHECK(!file_exists(h));
    struct config cfg = {.cache_dir = root, .cache_max_size = 1ull << 40};
    char *le = path_join(root, lab);
    unlink(le); /* the lab entry's index gone is not the entry gone: remove it whole */
    char *ld = path_dirname(le);
    rm_rf(ld);
    cache_remove_orphans(&cfg, NULL); /* its hot form is an orphan now */
    CHECK_EQ_INT(entries_in_root(), 0);
    free(snap);
    free(hot);
    free(lab);
    free(labhot);
    free(e);
    free(h);
    free(le);
    free(ld);
}

int main(void)
{
    root = make_scratch_dir("provium-test-cache");
    RUN(install_file);
    RUN(install_lab_dir);
    RUN(hot_forms_follow_their_entry);
    RUN(dead_writers_temps_go);
    RUN(live_temps_count_toward_the_limit);
    RUN(own_temps_of_a_key);
    RUN(private_permissions);
    rm_rf(root);
    free(root);
    return TEST_SUMMARY();
}
