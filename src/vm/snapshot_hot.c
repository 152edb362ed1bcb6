/* snapshot_hot.c - restores that map guest memory instead of copying it (issue 14).
 *
 * A `.snap` stays the portable form. Beside it lives its hot form `<snap>.hot/` (for
 * a VM of a lab entry `<key>.lab/<vm>.snap`: `<key>.lab.hot/<vm>.snap.hot/`, outside
 * the directory that is the portable entry):
 *   ram        the guest RAM as a raw file, sparse (zero pages are holes), mode 0400
 *   state      the device state, saved with x-ignore-shared (no RAM in it)
 *   meta.json  what binds them to the snapshot: its name and directory (the cache key),
 *              size and mtime, QEMU's version, machine and RAM size, the host's boot
 * It is made on the first restore that wants it, by a builder QEMU whose RAM is the
 * new file with share=on: it loads the .snap's stream with -incoming (the vCPUs never
 * run: the stream was saved from a stopped guest, so QEMU stays paused), then migrates
 * again with x-ignore-shared into `state` and is killed. The directory is written
 * under a temp dot-name `.<snap name>.hot.tmp-<owner tag>-XXXXXX` and renamed into
 * place, so the fixture cache treats it as any other temp.
 *
 * A mapped restore starts QEMU with memory-backend-file share=off on `ram` (a private
 * copy-on-write mapping: pages nobody writes stay the page cache's, shared by every
 * clone, and the file is never written), sets x-ignore-shared, feeds `state`, clears
 * the capability again (a later vm:snapshot() must carry this RAM: share=off blocks
 * are never ignored, and the capability is off anyway) and conts. Disks still come
 * from the .snap. QEMU 7.2 opens mem-path read-write: a non-root mapped QEMU runs in
 * a user namespace where we are root over our own files (userns.c). Where mapping is
 * unavailable, one `note:` line says why and the stream path restores. PROVIUM_NO_MAPPED_RESTORE=1 turns mapping off (benches). */
#include "snapshot_hot.h"

#include "util/util.h"
#include "vm/qmp.h"
#include "vm/snapshot.h"
#include "vm/userns.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define HOT_FORMAT "provium-hot-1"

static unsigned g_mapped, g_streamed;
static int g_load_reached; /* the mapped QEMU started and load_state ran */


void snapshot_hot_counts(unsigned *mapped, unsigned *streamed)
{
    *mapped = g_mapped;
    *streamed = g_streamed;
}


void snapshot_hot_argv(const struct vm *vm, struct strv *a, int micro)
{
    if (!vm->mem_path)
        return;
    const char *ram_id = micro ? "microvm.ram" : "pc.ram";
    char *m = xasprintf("%s,memory-backend=%s", a->v[a->n - 1], ram_id);
    free(a->v[a->n - 1]);
    a->v[a->n - 1] = m;
    strv_push(a, "-object");
    strv_pushf(a, "memory-backend-file,id=%s,size=%llu,mem-path=%s,share=%s,"
               "x-use-canonical-path-for-ramblock-id=off", ram_id,
               (unsigned long long)vm->memory, vm->mem_path, vm->mem_share ? "on" : "off");
}

/* The QEMU binary's identity (its path, size and modification time, as the fixture key
 * names kernels): a stat, not a `qemu --version` run (40-50 ms on the first restore of
 * every worker); an upgraded QEMU gets new hot forms. Once per process. */
static const char *qemu_version(const struct config *cfg)
{
    static char ver[512];
    if (ver[0])
        return ver;
    char *bin = find_executable(cfg->qemu);
    struct stat st;
    if (bin && stat(bin, &st) == 0)
        snprintf(ver, sizeof ver, "%s %lld %lld.%09ld", bin, (long long)st.st_size,
                 (long long)st.st_mtim.tv_sec, st.st_mtim.tv_nsec);
    else
        snprintf(ver, sizeof ver, "unknown");
    free(bin);
    return ver;
}

static const char *base_name(const char *p)
{
    const char *s = strrchr(p, '/');
    return s ? s + 1 : p;
}

char *snapshot_hot_dir(const char *path)
{
    char *dir = path_dirname(path), *r;
    size_t n = strlen(dir);
    if (n > 4 && !strcmp(dir + n - 4, ".lab")) /* outside: a lab entry travels whole */
        r = xasprintf("%s.hot/%s.hot", dir, base_name(path));
    else
        r = xasprintf("%s.hot", path);
    free(dir);
    return r;
}

/* This boot of the host (/proc/sys/kernel/random/boot_id). */
static const char *boot_id(void)
{
    static char id[64];
    if (!id[0]) {
        char *s = read_file("/proc/sys/kernel/random/boot_id", NULL);
        snprintf(id, sizeof id, "%s", s ? s : "unknown");
        id[strcspn(id, "\n")] = 0;
        free(s);
    }
    return id;
}

/* What meta.json must say for the snapshot at path (new reference). */
static json_t *expected_meta(const struct vm *vm, const char *path, json_t *meta)
{
    struct stat st;
    if (stat(path, &st) < 0)
        return NULL;
    char *dir = path_dirname(path);
    json_t *m = json_pack("{s:s, s:s, s:s, s:I, s:I, s:s, s:O?, s:O?, s:s}",
                          "format", HOT_FORMAT, "snap", base_name(path), "entry",
                          base_name(dir), "snap_size",
                          (json_int_t)st.st_size, "snap_mtime_ns",
                          (json_int_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec,
                          "qemu", qemu_version(vm->env->cfg), "machine",
                          json_object_get(meta, "machine"), "memory",
                          json_object_get(meta, "memory"), "boot_id", boot_id());
    free(dir);
    return m;
}

/* Is the hot form at dir whole and made from this snapshot? */
static int hot_valid(const char *dir, json_t *want, uint64_t memory)
{
    char *mp = path_join(dir, "meta.json"), *ram = path_join(dir, "ram");
    char *state = path_join(dir, "state");
    json_t *have = json_load_file(mp, 0, NULL);
    struct stat st;
    int ok = have && json_equal(have, want) && stat(ram, &st) == 0 && S_ISREG(st.st_mode) &&
             (uint64_t)st.st_size == memory && !(st.st_mode & 0222) && file_exists(state);
    json_decref(have);
    free(mp);
    free(ram);
    free(state);
    return ok;
}

static int set_ignore_shared(struct vm *vm, int on, char *err, size_t errlen)
{
    json_t *caps = json_pack("{s:[{s:s, s:b}]}", "capabilities", "capability",
                             "x-ignore-shared", "state", on);
    json_t *r = qmp_exec(vm->qmp, "migrate-set-capabilities", caps, now_ns() + 10000000000LL,
                         err, errlen);
    json_decref(r);
    return r ? 0 : -1;
}

/* Hands fd to QEMU and starts a migration to it (out) or from it. */
static int migrate_fd(struct vm *vm, int fd, int out, char *err, size_t errlen)
{
    int64_t deadline = now_ns() + 120000000000LL;
    json_t *r = qmp_exec_fd(vm->qmp, "getfd", json_pack("{s:s}", "fdname", "provhot"), fd,
                            deadline, err, errlen);
    if (!r)
        return -1;
    json_decref(r);
    r = qmp_exec(vm->qmp, out ? "migrate" : "migrate-incoming",
                 json_pack("{s:s}", "uri", "fd:provhot"), deadline, err, errlen);
    if (!r)
        return -1;
    json_decref(r);
    return snapshot_wait_migration(vm, deadline, err, errlen);
}

/* The builder's load step: the stream into the shared file, then the device state
 * out into <dir>/state. The guest never runs. */
static int save_state(struct vm *vm, const char *path, json_t *meta, void *ud, char *err,
                      size_t errlen)
{
    const char *dir = ud;
    if (vm_restore_stream(vm, path, meta, 0, err, errlen) < 0 ||
        set_ignore_shared(vm, 1, err, errlen) < 0)
        return -1;
    char *state = path_join(dir, "state");
    int fd = open(state, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    free(state);
    if (fd < 0) {
        snprintf(err, errlen, "cannot create the device state: %s", strerror(errno));
        return -1;
    }
    int rc = migrate_fd(vm, fd, 1, err, errlen);
    close(fd);
    return rc < 0 ? -1 : 1;
}

/* Removes the hot-form temps in dir whose writer is gone (a lab entry's live inside
 * the lab directory, where the cache's own sweep does not look). */
static void remove_dead_temps(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    while (d && (de = readdir(d))) {
        const char *t = strstr(de->d_name, ".hot.tmp-");
        if (de->d_name[0] != '.' || !t || owner_tag_alive(t + 9) != 0)
            continue;
        char *p = path_join(dir, de->d_name);
        rm_rf(p);
        free(p);
    }
    if (d)
        closedir(d);
}

/* Finishes a built temp dir: checks the RAM file is sparse, seals it, writes meta.json
 * and renames the directory into place (a peer's finished one wins). Nothing is
 * fsynced (writing back 100+ MiB would cost more than the build): meta.json names the
 * host's boot, so a hot form that lived through a crash is made again. */
static int publish(const char *tmp, const char *hot, json_t *want, uint64_t memory, char *err,
                   size_t errlen)
{
    char *ram = path_join(tmp, "ram"), *mp = path_join(tmp, "meta.json");
    int rc = -1, fd = open(ram, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0 || (uint64_t)st.st_size != memory) {
        snprintf(err, errlen, "the template RAM file is missing or short");
        goto done;
    }
    if ((uint64_t)st.st_blocks * 512 >= memory) {
        snprintf(err, errlen, "the file system keeps no holes (the template would hold "
                 "all of RAM)");
        goto done;
    }
    /* a non-root restore's namespace maps only our gid (userns.c): a setgid cache
     * directory's group would leave the file outside its reach */
    if ((geteuid() != 0 && st.st_gid != getegid() && fchown(fd, (uid_t)-1, getegid()) < 0) ||
        fchmod(fd, 0400) < 0 ||
        json_dump_file(want, mp, JSON_COMPACT | JSON_SORT_KEYS) < 0 || chmod(mp, 0600) < 0) {
        snprintf(err, errlen, "cannot write the hot form: %s", strerror(errno));
        goto done;
    }
    if (rename(tmp, hot) < 0 && errno != ENOTEMPTY && errno != EEXIST) {
        snprintf(err, errlen, "cannot install %s: %s", hot, strerror(errno));
        goto done;
    }
    rc = 0;
done:
    if (fd >= 0)
        close(fd);
    free(ram);
    free(mp);
    return rc;
}

/* Makes the hot form of the snapshot at path for a VM like vm. */
static int build_hot(struct vm *vm, const char *path, const char *hot, json_t *want,
                     uint64_t memory, char *err, size_t errlen)
{
    char *dir = path_dirname(hot);
    if (mkdir_p(dir, 0700) < 0) { /* a lab entry's `<key>.lab.hot/` */
        snprintf(err, errlen, "cannot create %s: %s", dir, strerror(errno));
        free(dir);
        return -1;
    }
    remove_dead_temps(dir);
    char *tmp = xasprintf("%s/.%s.hot.tmp-%s-XXXXXX", dir, base_name(path), owner_tag());
    free(dir);
    int rc = -1;
    struct vm *b = NULL;
    if (!mkdtemp(tmp)) {
        snprintf(err, errlen, "cannot create %s: %s", tmp, strerror(errno));
        goto done;
    }
    b = vm_new(vm->env, "hot-template", vm->profile, 0, 1);
    b->mem_path = path_join(tmp, "ram");
    b->mem_share = 1;
    vm->env->pool_exempt++; /* like a fixture build: the guest never runs */
    rc = vm_restore_with(b, path, save_state, tmp, err, errlen);
    vm->env->pool_exempt--;
    vm_kill(b);
    if (b->dir)
        rm_rf(b->dir); /* its copies of the disks */
    vm_free(b);
    if (rc == 0)
        rc = publish(tmp, hot, want, memory, err, errlen);
done:
    rm_rf(tmp); /* what is left after the rename: nothing, or a failed build */
    free(tmp);
    return rc;
}

/* Makes sure `<path>.hot/` matches the snapshot, building it if needed. */
static int ensure_hot(struct vm *vm, const char *path, const char *hot, char *err,
                      size_t errlen)
{
    json_t *meta = snapshot_read_meta(path, err, errlen), *want = NULL;
    int rc = -1;
    if (!meta)
        return -1;
    uint64_t memory = (uint64_t)json_integer_value(json_object_get(meta, "memory"));
    want = expected_meta(vm, path, meta);
    if (!want || !memory) {
        snprintf(err, errlen, "unreadable snapshot %s", path);
        goto done;
    }
    if (hot_valid(hot, want, memory)) {
        rc = 0;
        goto done;
    }
    rm_rf(hot); /* stale (another snapshot, QEMU or machine) or half there */
    rc = build_hot(vm, path, hot, want, memory, err, errlen);
    if (rc == 0 && !hot_valid(hot, want, memory)) {
        snprintf(err, errlen, "the hot form changed while it was installed");
        rc = -1;
    }
done:
    json_decref(want);
    json_decref(meta);
    return rc;
}

/* The clone's load step: the device state under x-ignore-shared, then cont. */
static int load_state(struct vm *vm, const char *path, json_t *meta, void *ud, char *err,
                      size_t errlen)
{
    (void)path;
    (void)meta;
    g_load_reached = 1;
    char *state = path_join(ud, "state");
    int fd = open(state, O_RDONLY | O_CLOEXEC);
    free(state);
    if (fd < 0) {
        snprintf(err, errlen, "cannot open the device state: %s", strerror(errno));
        return -1;
    }
    int rc = set_ignore_shared(vm, 1, err, errlen);
    if (rc == 0)
        rc = migrate_fd(vm, fd, 0, err, errlen);
    close(fd);
    if (rc == 0)
        rc = set_ignore_shared(vm, 0, err, errlen);
    json_t *r = rc == 0 ? qmp_exec(vm->qmp, "cont", NULL, now_ns() + 10000000000LL, err, errlen)
                        : NULL;
    json_decref(r);
    return r ? 0 : -1;
}

/* Why this process cannot map at all, or NULL. Not root: QEMU 7.2 opens mem-path
 * read-write and the template is 0400, so QEMU runs in a user namespace where we are
 * root over our own files (userns.c, spawn_qemu); without one, the stream path. */
static const char *cannot_map(const char *path, char *why, size_t whylen)
{
    if (strchr(path, ','))
        return "the cache path has a comma (QEMU's option syntax)";
    if (geteuid() != 0 && !userns_available(why, whylen))
        return why;
    return NULL;
}

/* Not root: the namespace's root reaches `ram` only if its owner uid and gid are ours
 * (a hot form made before, or in a setgid directory, may have another group). */
static const char *cannot_reach(const char *hot, char *why, size_t whylen)
{
    if (geteuid() == 0)
        return NULL;
    char *ram = path_join(hot, "ram");
    struct stat st;
    const char *r = NULL;
    if (stat(ram, &st) < 0 || st.st_uid != geteuid() ||
        (st.st_gid != getegid() && chown(ram, (uid_t)-1, getegid()) < 0)) {
        snprintf(why, whylen, "the template RAM file is not owned by our uid and gid");
        r = why;
    }
    free(ram);
    return r;
}

/* One line per distinct reason and process. */
static void note_stream(const char *path, const char *why)
{
    static char last[256];
    char line[256];
    snprintf(line, sizeof line, "%s", why);
    line[strcspn(line, "\n")] = 0;
    if (!strcmp(line, last))
        return;
    snprintf(last, sizeof last, "%s", line);
    warnx_p("note: %s: restoring by stream, not mapped: %s", base_name(path), line);
}

static int restore_stream(struct vm *vm, const char *path, char *err, size_t errlen)
{
    g_streamed++;
    return vm_restore(vm, path, err, errlen);
}

int vm_restore_mapped(struct vm *vm, const char *path, char *err, size_t errlen)
{
    const char *off = getenv("PROVIUM_NO_MAPPED_RESTORE");
    if (off && off[0] && strcmp(off, "0") != 0)
        return restore_stream(vm, path, err, errlen);
    char whybuf[256];
    const char *why = cannot_map(path, whybuf, sizeof whybuf);
    if (why) {
        note_stream(path, why);
        return restore_stream(vm, path, err, errlen);
    }
    char *hot = snapshot_hot_dir(path), e2[1024];
    if (ensure_hot(vm, path, hot, e2, sizeof e2) < 0) {
        note_stream(path, e2);
        rm_rf(hot);
        free(hot);
        return restore_stream(vm, path, err, errlen);
    }
    if ((why = cannot_reach(hot, whybuf, sizeof whybuf))) {
        note_stream(path, why);
        free(hot);
        return restore_stream(vm, path, err, errlen);
    }
    free(vm->mem_path);
    vm->mem_path = path_join(hot, "ram");
    vm->mem_share = 0;
    g_load_reached = 0;
    int rc = vm_restore_with(vm, path, load_state, hot, err, errlen);
    if (rc == 0) {
        vm->mem_mapped = 1;
        g_mapped++;
        free(hot);
        return 0;
    }
    if (!g_load_reached && !strstr(err, "guest RAM") && !strstr(err, "memory-backend")) {
        free(hot); /* not about mapping (the pool, the deadline...): a stream would fail too */
        return -1;
    }
    /* QEMU refused it: drop the hot form (the next restore makes a new one) */
    note_stream(path, err);
    rm_rf(hot);
    free(hot);
    return restore_stream(vm, path, err, errlen);
}
