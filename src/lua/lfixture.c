/* lfixture.c - lab:vm_fixture(name) and lab:lab_fixture(name): restore a cached
 * fixture, building it first.
 *
 * Flow (fixtures document, "Build flow"): compute the key; a cache hit restores at
 * once; otherwise take the per-key lock (reporting who holds it), check again, build
 * the fixture in a fresh Lua state of this worker, install the snapshot atomically
 * (a `<key>.snap` file or a `<key>.lab/` directory), release the lock and restore. A
 * cache entry that cannot be restored is evicted with a warning and rebuilt; it never
 * fails the test by itself. The chunk's return value decides the kind; asking for the
 * other kind is an error naming the right method.
 *
 * With a remote cache (fixture/remote.h), a local miss under the lock first tries the
 * remote (waiting while another machine's `.building` marker is live); a local build is
 * uploaded afterwards in read-write mode. A remote problem is a warning, never an error. */
#include "lfixture.h"

#include "llab.h"
#include "llabsnap.h"
#include "lsnap.h"
#include "lvm.h"

#include "fixture/fixture.h"
#include "fixture/remote.h"
#include "util/util.h"
#include "vm/snapshot.h"
#include "vm/snapshot_hot.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct fx {
    lua_State *L;
    struct lua_host *h;
    const char *name;
    const char *key;
};

static void emit(struct fx *f, const char *kind, json_t *o)
{
    json_object_set_new(o, "fixture", json_string(f->name));
    json_object_set_new(o, "key", json_string(f->key));
    if (f->h->emit)
        f->h->emit(f->h->emit_ud, kind, o);
    else
        json_decref(o);
}

static void on_waiting(void *ud, const char *holder)
{
    struct fx *f = ud;
    json_t *rec = json_loads(holder, 0, NULL);
    const char *by = rec ? json_string_value(json_object_get(rec, "file")) : NULL;
    emit(f, "fixture_build_waiting", json_pack("{s:s?}", "held_by_file", by));
    json_decref(rec);
}

enum { FX_VM = 0, FX_LAB = 1 };

/* The kind a fixture file will most likely produce, known before building it: the
 * build lock's name depends on it, so every process must agree. Lab fixtures end in
 * `return provium:snapshot()`. */
static int guess_kind(const char *file)
{
    size_t len;
    char *src = file ? read_file(file, &len) : NULL;
    int lab = src && strstr(src, "provium:snapshot(") != NULL;
    free(src);
    return lab ? FX_LAB : FX_VM;
}

/* Runs the fixture chunk in a fresh state; returns the snapshot (file or directory) it
 * produced and its kind, or NULL with err. */
static char *build_fixture(struct fx *f, const char *file, int *kind, char *err, size_t errlen)
{
    struct lua_host h2 = *f->h;
    h2.file = file;
    h2.in_fixture = 1;
    h2.fixture_name = f->name;
    h2.current_test = NULL;
    h2.snapshot_prefix = xasprintf("%s/.%s", f->h->env->cfg->cache_dir, f->key);
    h2.file_timeout = 0;
    h2.reset_between_tests = 0;
    lua_State *L2 = luaL_newstate();
    lapi_open(L2, &h2);
    f->h->env->pool_exempt++; /* fixture-build VMs are not charged to the pool */
    char *result = NULL;
    int rc = luaL_loadfile(L2, file);
    if (rc == LUA_OK)
        rc = lua_pcall(L2, 0, 1, 0);
    if (rc != LUA_OK) {
        const char *m = lua_tostring(L2, -1);
        snprintf(err, errlen, "fixture `%s` failed to build: %s", f->name, m ? m : "error");
    } else if (lsnap_is_lab(L2, -1)) {
        result = xstrdup(lsnap_lab_dir(L2, -1));
        *kind = FX_LAB;
    } else if (lsnap_path_strict(L2, -1)) {
        result = xstrdup(lsnap_path_strict(L2, -1));
        *kind = FX_VM;
    } else {
        snprintf(err, errlen, "fixture `%s` must return vm:snapshot() or provium:snapshot()",
                 f->name);
    }
    lua_rawgeti(L2, LUA_REGISTRYINDEX, h2.file_lab_ref);
    llab_teardown(L2, -1, 0);
    lua_close(L2);
    f->h->env->pool_exempt--;
    free(h2.snapshot_prefix);
    return result;
}

/* The installed entry of the key, if any: sets *kind and returns its path. */
static char *find_entry(const struct config *cfg, const char *key, int *kind)
{
    char *snap = cache_entry_path(cfg, key, 0), *lab = cache_entry_path(cfg, key, 1);
    char *found = NULL;
    if (file_exists(snap)) {
        *kind = FX_VM;
        found = snap;
        snap = NULL;
    } else if (file_exists(lab)) {
        *kind = FX_LAB;
        found = lab;
        lab = NULL;
    }
    free(snap);
    free(lab);
    return found;
}

/* ---- the remote cache (fixture/remote.h) ---- */

/* One remote GET: the installed entry (kind in *kind), or NULL after a miss or a
 * problem (one warning; *down set when the remote is unreachable). */
static char *remote_try(struct fx *f, struct remote *r, int *kind, int *down)
{
    const struct config *cfg = f->h->env->cfg;
    char why[512] = "";
    int lab = 0;
    uint64_t bytes = 0;
    int64_t t0 = now_ns();
    int rc = remote_fetch_entry(r, cfg, f->key, &lab, &bytes, why, sizeof why);
    json_int_t dt = (json_int_t)(now_ns() - t0);
    if (rc == REMOTE_OK) {
        *kind = lab ? FX_LAB : FX_VM;
        emit(f, "fixture_remote_hit",
             json_pack("{s:I, s:I}", "bytes", (json_int_t)bytes, "duration_ns", dt));
        return cache_entry_path(cfg, f->key, lab);
    }
    if (rc == REMOTE_DOWN) {
        remote_note_down(cfg, r, why);
        *down = 1;
    } else if (rc == REMOTE_BAD)
        warnx_p("warning: remote fixture %s (%s): %s; building locally", f->name, f->key, why);
    emit(f, "fixture_remote_miss",
         json_pack("{s:I, s:I, s:s}", "bytes", (json_int_t)bytes, "duration_ns", dt, "reason",
                   rc == REMOTE_ABSENT ? "absent" : rc == REMOTE_DOWN ? "unreachable" : "corrupt"));
    return NULL;
}

/* While another machine's live `.building` marker says it builds the fixture, polls
 * for its upload (bounded by the marker's expiry and the test's deadline). */
static char *remote_wait(struct fx *f, struct remote *r, int *kind, int *down)
{
    char *entry = NULL, why[256];
    while (!entry && !*down && remote_marker_live(r, f->key) > 0) {
        int64_t deadline = f->h->env->deadline_ns;
        if (deadline && now_ns() + 2000000000LL > deadline)
            break;
        sleep_ms(1000);
        if (remote_has_entry(r, f->key, why, sizeof why) == REMOTE_OK)
            entry = remote_try(f, r, kind, down);
    }
    return entry;
}

/* Before a local build: the remote's entry if it has one or gets one from the machine
 * building it; else, in read-write mode, this process's `.building` marker is set. */
static char *remote_before_build(struct fx *f, struct remote *r, int *kind, int *down)
{
    char *entry = remote_try(f, r, kind, down);
    if (!entry)
        entry = remote_wait(f, r, kind, down);
    if (!entry && !*down && remote_writable(r)) {
        remote_marker_put(r, f->key, wall_time() + 600);
        entry = remote_wait(f, r, kind, down); /* another owner wrote after us */
    }
    return entry;
}

/* After a local build (read-write mode): uploads the entry, then drops the marker. */
static void remote_after_build(struct fx *f, struct remote *r, const char *entry, int kind)
{
    const struct config *cfg = f->h->env->cfg;
    char why[512] = "";
    uint64_t bytes = 0;
    int64_t t0 = now_ns();
    int rc = entry ? remote_store_entry(r, cfg, f->key, entry, kind == FX_LAB, &bytes, why,
                                        sizeof why)
                   : REMOTE_ABSENT;
    if (rc == REMOTE_OK)
        emit(f, "fixture_remote_put",
             json_pack("{s:I, s:I}", "bytes", (json_int_t)bytes, "duration_ns",
                       (json_int_t)(now_ns() - t0)));
    else if (rc == REMOTE_DOWN)
        remote_note_down(cfg, r, why);
    else if (entry)
        warnx_p("warning: remote fixture %s (%s): upload failed: %s", f->name, f->key, why);
    remote_marker_delete(r, f->key); /* best effort */
}

/* Builds the fixture with the lock held and installs it; returns the entry or NULL. */
static char *build_locked(struct fx *f, const char *file, int guess, int *kind, char *err,
                          size_t errlen)
{
    const struct config *cfg = f->h->env->cfg;
    char *entry = NULL;
    emit(f, "fixture_build_started", json_pack("{s:s}", "kind", guess == FX_LAB ? "lab" : "vm"));
    int64_t t0 = now_ns();
    char *tmp = build_fixture(f, file, kind, err, errlen);
    if (tmp) {
        entry = cache_entry_path(cfg, f->key, *kind == FX_LAB);
        if (cache_install(tmp, entry) < 0) {
            snprintf(err, errlen, "cannot install fixture `%s` as %s: %s", f->name, entry,
                     strerror(errno));
            rm_rf(tmp);
            free(entry);
            entry = NULL;
        }
        free(tmp);
    }
    cache_remove_own_tmp(cfg, f->key); /* other snapshots the chunk took, a failed build's */
    emit(f, "fixture_build_done",
         json_pack("{s:I, s:I, s:b}", "duration_ns", (json_int_t)(now_ns() - t0),
                   "snapshot_bytes", (json_int_t)(entry ? cache_entry_bytes(entry) : 0), "ok",
                   entry != NULL));
    return entry;
}

/* With the lock held and no local entry: the remote's, else a local build (uploaded
 * afterwards in read-write mode). */
static char *fetch_or_build(struct fx *f, const char *file, int guess, int *kind, int *built,
                            char *err, size_t errlen)
{
    const struct config *cfg = f->h->env->cfg;
    struct remote *r = remote_known_down(cfg) ? NULL : remote_open(cfg);
    int down = 0;
    char *entry = r ? remote_before_build(f, r, kind, &down) : NULL;
    if (!entry) {
        entry = build_locked(f, file, guess, kind, err, errlen);
        *built = entry != NULL;
        if (r && !down && remote_writable(r))
            remote_after_build(f, r, entry, *kind);
    }
    remote_close(r);
    return entry;
}

/* Makes sure the cache holds the fixture, building it under the lock if needed.
 * Returns the entry path (kind in *kind, *built set when this call built it) or NULL
 * with err. */
static char *ensure_entry(struct fx *f, int *kind, int *built, char *err, size_t errlen)
{
    const struct config *cfg = f->h->env->cfg;
    *built = 0;
    char *entry = find_entry(cfg, f->key, kind);
    if (entry)
        return entry;
    char *file = fixture_find(cfg, f->name);
    if (!file) {
        snprintf(err, errlen, "fixture `%s` not found in any test root", f->name);
        return NULL;
    }
    int guess = guess_kind(file);
    int64_t t0 = now_ns();
    int lockfd = cache_lock(cfg, f->key, guess == FX_LAB, f->h->rel_path, f->name, on_waiting, f);
    if (lockfd < 0) {
        snprintf(err, errlen, "cannot lock the fixture cache in %s: %s", cfg->cache_dir,
                 strerror(errno));
        free(file);
        return NULL;
    }
    entry = find_entry(cfg, f->key, kind);
    if (entry) /* a peer built it while we waited */
        emit(f, "fixture_build_done",
             json_pack("{s:I, s:I, s:b, s:b}", "duration_ns", (json_int_t)(now_ns() - t0),
                       "snapshot_bytes", (json_int_t)cache_entry_bytes(entry), "ok", 1,
                       "waited", 1));
    else
        entry = fetch_or_build(f, file, guess, kind, built, err, errlen);
    cache_unlock(lockfd);
    free(file);
    return entry;
}

/* Restores a single-VM entry into a new VM of the lab at lab_idx; pushes the Vm. */
static int restore_vm_into(lua_State *L, int lab_idx, const char *entry, const char *want_name,
                           char *err, size_t errlen)
{
    char merr[512];
    json_t *meta = snapshot_read_meta(entry, merr, sizeof merr);
    if (!meta) {
        snprintf(err, errlen, "%s", merr);
        return -1;
    }
    const char *recorded = json_string_value(json_object_get(meta, "vm_name"));
    char name[80];
    if (want_name)
        snprintf(name, sizeof name, "%s", want_name);
    else {
        snprintf(name, sizeof name, "%s", recorded ? recorded : "fixture");
        for (int i = 2; llab_name_taken(L, lab_idx, name); i++)
            snprintf(name, sizeof name, "%s-%d", recorded ? recorded : "fixture", i);
    }
    json_decref(meta);
    struct lua_host *h = lhost(L);
    const struct profile *any = h->env->cfg->n_profiles ? &h->env->cfg->profiles[0] : NULL;
    if (!any) {
        snprintf(err, errlen, "provium.toml defines no profile");
        return -1;
    }
    struct vm *vm = vm_new(h->env, name, any, 0, 1); /* profile etc. come from the snapshot */
    if (vm_restore_mapped(vm, entry, err, errlen) < 0) {
        vm_free(vm);
        return -1;
    }
    lvm_push(L, vm);
    llab_add_vm(L, lab_idx, lua_gettop(L));
    lvm_emit_spawned(L, vm, 1);
    return 0;
}

/* Restores a lab entry as a new sub-lab `fixture:<name>` of the lab at lab_idx; pushes
 * the sub-lab. */
static int restore_lab_into(lua_State *L, int lab_idx, const char *name, const char *entry,
                            char *err, size_t errlen)
{
    char *sub = xasprintf("fixture:%s", name);
    llab_push_sublab(L, lab_idx, sub);
    free(sub);
    if (llabsnap_restore_fixture(L, -1, entry, err, errlen) == 0)
        return 0;
    llab_teardown(L, -1, 1);
    llab_remove_member(L, lab_idx, "labs", -1);
    lua_pop(L, 1);
    return -1;
}

/* The shared body of vm_fixture and lab_fixture. */
static int get_fixture(lua_State *L, const char *method, int want_kind, const char *want_name)
{
    const int lab = 1;
    const char *name = luaL_checkstring(L, 2);
    struct lua_host *h = lhost(L);
    const struct config *cfg = h->env->cfg;
    char key[65], err[8192];
    if (fixture_key(cfg, name, key, err, sizeof err) < 0)
        return lapi_raise(L, method, "%s", err);
    struct fx f = {L, h, name, key};
    for (int attempt = 0;; attempt++) {
        int kind = FX_VM, built = 0;
        char *entry = ensure_entry(&f, &kind, &built, err, sizeof err);
        if (!entry)
            return lapi_raise(L, method, "%s", err);
        if (kind != want_kind) {
            free(entry);
            return lapi_raise(L, method, "fixture `%s` is a %s fixture; use %s", name,
                              kind == FX_LAB ? "lab" : "VM",
                              kind == FX_LAB ? "lab_fixture" : "vm_fixture");
        }
        int64_t t0 = now_ns();
        unsigned m0, s0, m1, s1; /* mapped: every VM of it restored by mapping */
        snapshot_hot_counts(&m0, &s0);
        int rc = kind == FX_LAB ? restore_lab_into(L, lab, name, entry, err, sizeof err)
                                : restore_vm_into(L, lab, entry, want_name, err, sizeof err);
        snapshot_hot_counts(&m1, &s1);
        if (rc == 0) {
            cache_touch(entry);
            if (!built)
                emit(&f, "fixture_cache_hit",
                     json_pack("{s:I, s:b}", "restore_ns", (json_int_t)(now_ns() - t0),
                               "mapped", m1 > m0 && s1 == s0));
            free(entry);
            return 1;
        }
        if (built || attempt > 0) {
            free(entry);
            return lapi_raise(L, method, "fixture `%s`: %s", name, err);
        }
        warnx_p("warning: fixture `%s`: cache entry %s unusable (%s); "
                "rebuilding", name, key, strtok(err, "\n"));
        uint64_t b = cache_evict(entry);
        free(entry);
        emit(&f, "fixture_evicted",
             json_pack("{s:s, s:I}", "reason", "corrupt", "bytes", (json_int_t)b));
    }
}

static int lab_vm_fixture_l(lua_State *L)
{
    const char *want = NULL;
    if (lua_istable(L, 3)) {
        lua_getfield(L, 3, "name");
        want = lua_tostring(L, -1);
        lua_pop(L, 1); /* the string stays alive in the opts table */
        if (want && llab_name_taken(L, 1, want))
            return lapi_raise(L, "lab:vm_fixture", "a VM named '%s' already exists", want);
    }
    return get_fixture(L, "lab:vm_fixture", FX_VM, want);
}

static int lab_lab_fixture_l(lua_State *L)
{
    return get_fixture(L, "lab:lab_fixture", FX_LAB, NULL);
}

int lfixture_ensure(lua_State *L, const char *name, char *err, size_t errlen)
{
    struct lua_host *h = lhost(L);
    char key[65];
    if (fixture_key(h->env->cfg, name, key, err, errlen) < 0)
        return -1;
    struct fx f = {L, h, name, key};
    int kind, built;
    char *entry = ensure_entry(&f, &kind, &built, err, errlen);
    free(entry);
    return entry ? 0 : -1;
}

void lfixture_open(lua_State *L)
{
    static const luaL_Reg lab_methods[] = {
        {"vm_fixture", lab_vm_fixture_l}, {"lab_fixture", lab_lab_fixture_l}, {NULL, NULL}};
    lapi_add_methods(L, "provium.Lab", lab_methods);
}
