/* failsnap.c - `--keep-failed[=DIR]`: a failed test's lab, frozen at the failure.
 *
 * The worker calls failsnap_take when a test failed (assertion, raise, test timeout),
 * before the test's scoped lab is torn down. It costs nothing on success. The result,
 * reopened by `provium debug` (cli/debug.c), is one directory per failure:
 *
 *   DIR/<file>/<test>/failure.json   test, file, reason, traceback, time, profiles with
 *                                    their kernel/initrd identity, version, argv, cwd
 *                    lab/            a lab snapshot (llabsnap.c) of every VM of the
 *                                    test's lab tree, bridges and their rules
 *                    console/<vm>.log  each VM's console (the newest MiB)
 *                    pcap/<name>     what the open captures wrote so far
 *
 * <file> and <test> are made safe as path components (failsnap_component). It is built
 * in a temp beside it and swapped in (cache_install), so a rerun replaces the old one
 * at once. Open files, streams and captures are ignored, not refused: the guest keeps
 * its side, the host objects do not come back. An open capture's pcap is copied: the
 * worker's open descriptors are where the switch writes them (a file starting with the
 * pcap magic). --keep-failed-max N bounds the failures
 * kept per run: a count in DIR/.keep-failed.slots under flock, tagged with the run, so
 * parallel workers never take more than N. */
#include "failsnap.h"

#include "fixture/fixture.h"
#include "lua/llab.h"
#include "lua/llabsnap.h"
#include "lua/lvm.h"
#include "proto/wire.h"
#include "vm/vm.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define CONSOLE_KEEP (1u << 20)

char *failsnap_component(const char *name)
{
    char *p = xstrdup(name && name[0] ? name : "_");
    for (char *c = p; *c; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
              *c == '_' || *c == '-' || *c == '.'))
            *c = '_';
    if (p[0] == '.')
        p[0] = '_'; /* never a dot-name (hidden, or "..") */
    return p;
}

/* One of the run's --keep-failed-max slots: 1 taken, 0 none left, -1 with err. */
static int take_slot(const struct run_opts *ro, char *err, size_t errlen)
{
    char *path = path_join(ro->keep_failed, ".keep-failed.slots");
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    int rc = -1;
    if (fd < 0 || flock(fd, LOCK_EX) < 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        goto done;
    }
    char text[256] = {0}, tag[200] = {0};
    long used = 0;
    if (pread(fd, text, sizeof text - 1, 0) > 0 && sscanf(text, "%199s %ld", tag, &used) == 2 &&
        strcmp(tag, ro->keep_failed_run) != 0)
        used = 0; /* another run's count */
    rc = used < ro->keep_failed_max;
    if (rc) {
        int n = snprintf(text, sizeof text, "%s %ld\n", ro->keep_failed_run, used + 1);
        if (ftruncate(fd, 0) < 0 || pwrite(fd, text, (size_t)n, 0) != n) {
            snprintf(err, errlen, "%s: %s", path, strerror(errno));
            rc = -1;
        }
    }
done:
    if (fd >= 0)
        close(fd);
    free(path);
    return rc;
}

/* Writes the console of every VM of the lab tree at lab into dir/console/<vm>.log and
 * records it in consoles ({vm name: relative path}); ids gets each VM's next agent
 * request id: a timed-out test may leave a request in flight in the guest, whose id
 * `provium debug` must not reuse. */
static void save_consoles(lua_State *L, int lab, const char *dir, json_t *consoles,
                          json_t *ids)
{
    lab = lua_absindex(L, lab);
    llab_field(L, lab, "vms");
    for (lua_Integer i = 1; i <= luaL_len(L, -1); i++) {
        lua_rawgeti(L, -1, i);
        struct vm *vm = lvm_test(L, -1);
        if (vm)
            json_object_set_new(ids, vm->name, json_integer(vm->agent.next_id));
        if (vm && vm->console_path) {
            char *tail = vm_console_tail(vm, CONSOLE_KEEP);
            char *safe = failsnap_component(vm->name);
            char *rel = xasprintf("console/%s.log", safe);
            char *path = path_join(dir, rel);
            if (write_file_atomic(path, tail, strlen(tail), 0600) == 0)
                json_object_set_new(consoles, vm->name, json_string(rel));
            free(path);
            free(rel);
            free(safe);
            free(tail);
        }
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
    llab_field(L, lab, "labs");
    for (lua_Integer i = 1; i <= luaL_len(L, -1); i++) {
        lua_rawgeti(L, -1, i);
        save_consoles(L, -1, dir, consoles, ids);
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
}

/* Copies a regular file the worker has open at fd when it starts with the pcap magic
 * (a capture the switch writes) into pcapdir; appends its name to list. */
static void copy_if_pcap(int fd, const char *pcapdir, json_t *list)
{
    char link[64], target[4096];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, target, sizeof target - 1);
    unsigned char magic[4];
    int in = n > 0 ? open(link, O_RDONLY | O_CLOEXEC) : -1;
    if (in < 0)
        return;
    target[n] = 0;
    struct stat st;
    if (fstat(in, &st) == 0 && S_ISREG(st.st_mode) && pread(in, magic, 4, 0) == 4 &&
        ((magic[0] == 0xd4 && magic[1] == 0xc3 && magic[2] == 0xb2 && magic[3] == 0xa1) ||
         (magic[0] == 0xa1 && magic[1] == 0xb2 && magic[2] == 0xc3 && magic[3] == 0xd4))) {
        size_t len = 0;
        char *data = read_file(link, &len);
        const char *base = strrchr(target, '/') ? strrchr(target, '/') + 1 : target;
        char *name = failsnap_component(base);
        char *out = path_join(pcapdir, name);
        size_t i;
        json_t *have;
        json_array_foreach(list, i, have)
            if (!strcmp(json_string_value(have), name))
                data = (free(data), NULL); /* a second descriptor of the same capture */
        if (data && mkdir_p(pcapdir, 0700) == 0 && write_file_atomic(out, data, len, 0600) == 0)
            json_array_append_new(list, json_string(name));
        free(out);
        free(name);
        free(data);
    }
    close(in);
}

/* The open captures' pcaps so far into dir/pcap/; returns their names. */
static json_t *save_pcaps(const char *dir)
{
    json_t *list = json_array();
    char *pcapdir = path_join(dir, "pcap");
    DIR *d = opendir("/proc/self/fd");
    struct dirent *e;
    int own = d ? dirfd(d) : -1;
    while (d && (e = readdir(d))) {
        int fd = atoi(e->d_name);
        if (e->d_name[0] != '.' && fd != own)
            copy_if_pcap(fd, pcapdir, list);
    }
    if (d)
        closedir(d);
    free(pcapdir);
    return list;
}

/* {name, kernel, initrd} for each profile the lab snapshot in labdir records: the file
 * identity (fixture/key.c) `provium debug` compares before restoring. */
static json_t *profiles_json(const struct config *cfg, const char *labdir)
{
    json_t *out = json_array();
    char *index = path_join(labdir, "lab.json");
    json_t *doc = json_load_file(index, 0, NULL);
    free(index);
    size_t i;
    json_t *rec;
    json_array_foreach(json_object_get(doc, "vms"), i, rec) {
        const char *name = json_string_value(json_object_get(rec, "profile"));
        const struct profile *p = name ? config_profile(cfg, name) : NULL;
        int seen = 0;
        size_t k;
        json_t *have;
        json_array_foreach(out, k, have)
            seen |= name && !strcmp(json_string_value(json_object_get(have, "name")), name);
        if (!p || seen)
            continue;
        char *kid = file_identity(p->kernel);
        char *iid = p->initrd ? file_identity(p->initrd) : NULL;
        json_array_append_new(out, json_pack("{s:s, s:s, s:s?}", "name", name, "kernel", kid,
                                             "initrd", iid));
        free(kid);
        free(iid);
    }
    json_decref(doc);
    return out;
}

static json_t *argv_json(const struct run_opts *ro)
{
    json_t *a = json_array();
    for (int i = 0; i < ro->argc; i++)
        json_array_append_new(a, json_text(ro->argv[i]));
    return a;
}

/* failure.json, written last but one (before the swap into place). */
static int write_failure(const struct run_opts *ro, const struct config *cfg, const char *tmp,
                         const struct failsnap_info *fi, json_t *consoles, json_t *ids,
                         json_t *pcaps, char *err, size_t errlen)
{
    char when[64];
    time_t now = time(NULL);
    struct tm tm;
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&now, &tm));
    char *labdir = path_join(tmp, "lab");
    char *cwd = path_resolve(NULL, ".");
    json_t *doc = json_pack(
        "{s:s, s:o, s:o, s:s, s:o, s:o, s:b, s:s, s:o, s:s, s:o, s:s, s:s?, s:s, s:O}",
        "format", FAILSNAP_FORMAT, "test", json_text(fi->test), "file", json_text(fi->file_rel),
        "file_abs", fi->file_abs, "reason", json_text(fi->reason), "traceback",
        fi->traceback ? json_text(fi->traceback) : json_null(), "timed_out", fi->timed_out,
        "time", when, "profiles", profiles_json(cfg, labdir), "provium_version",
        PROVIUM_VERSION, "argv", argv_json(ro), "cwd", cwd, "config", cfg->path, "lab", "lab",
        "consoles", consoles);
    json_object_set(doc, "pcaps", pcaps);
    json_object_set(doc, "agent_next_id", ids);
    char *text = json_dumps(doc, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    char *path = path_join(tmp, "failure.json");
    int rc = write_file_atomic(path, text, strlen(text), 0600);
    if (rc < 0)
        snprintf(err, errlen, "writing %s: %s", path, strerror(errno));
    free(path);
    free(text);
    free(cwd);
    free(labdir);
    json_decref(doc);
    return rc;
}

/* Builds the whole failure directory in tmp. */
static int build(lua_State *L, const struct run_opts *ro, const struct config *cfg,
                 int file_lab, int scoped, const struct failsnap_info *fi, const char *tmp,
                 char *err, size_t errlen)
{
    char *labdir = path_join(tmp, "lab");
    char *condir = path_join(tmp, "console");
    json_t *consoles = json_object(), *ids = json_object(), *pcaps = NULL;
    int rc = -1;
    if (mkdir_p(condir, 0700) < 0) {
        snprintf(err, errlen, "cannot create %s: %s", condir, strerror(errno));
        goto done;
    }
    char *out = llabsnap_take_failure(L, file_lab, scoped, labdir, err, errlen);
    if (!out)
        goto done;
    free(out);
    save_consoles(L, file_lab, tmp, consoles, ids);
    save_consoles(L, scoped, tmp, consoles, ids);
    pcaps = save_pcaps(tmp);
    rc = write_failure(ro, cfg, tmp, fi, consoles, ids, pcaps, err, errlen);
done:
    json_decref(ids);
    json_decref(pcaps);
    json_decref(consoles);
    free(condir);
    free(labdir);
    return rc;
}

char *failsnap_take(lua_State *L, const struct run_opts *ro, const struct config *cfg,
                    int file_lab, int scoped, const struct failsnap_info *fi, char *err,
                    size_t errlen)
{
    file_lab = lua_absindex(L, file_lab);
    scoped = lua_absindex(L, scoped);
    err[0] = 0;
    char *result = NULL, *fdir = NULL, *tdir = NULL, *tmp = NULL, *final = NULL;
    char *root = path_resolve(NULL, ro->keep_failed);
    char *fname = failsnap_component(fi->file_rel), *tname = failsnap_component(fi->test);
    if (mkdir_p(root, 0700) < 0) {
        snprintf(err, errlen, "cannot create %s: %s", root, strerror(errno));
        goto done;
    }
    if (take_slot(ro, err, errlen) <= 0)
        goto done; /* err "" when none is left */
    fdir = path_join(root, fname);
    tdir = xasprintf(".%s.tmp-%s", tname, owner_tag());
    tmp = path_join(fdir, tdir);
    final = path_join(fdir, tname);
    rm_rf(tmp);
    if (mkdir_p(tmp, 0700) < 0)
        snprintf(err, errlen, "cannot create %s: %s", tmp, strerror(errno));
    else if (build(L, ro, cfg, file_lab, scoped, fi, tmp, err, errlen) < 0)
        ;
    else if (cache_install(tmp, final) < 0)
        snprintf(err, errlen, "cannot move it to %s: %s", final, strerror(errno));
    else
        result = xstrdup(final);
    if (!result)
        rm_rf(tmp);
done:
    free(root);
    free(fname);
    free(tname);
    free(fdir);
    free(tdir);
    free(tmp);
    free(final);
    return result;
}
