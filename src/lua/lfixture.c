/* lfixture.c - provium:vm_fixture(name): restore a cached fixture, building it first.
 *
 * Flow (fixtures document, "Build flow"): compute the key; a cache hit restores at
 * once; otherwise take the per-key lock (reporting who holds it), check again, build
 * the fixture in a fresh Lua state of this worker, install the snapshot atomically,
 * release the lock and restore. A cache entry that cannot be restored is evicted with a
 * warning and rebuilt; it never fails the test by itself. */
#include "lapi.h"
#include "lvm.h"

#include "fixture/fixture.h"
#include "util/util.h"
#include "vm/snapshot.h"

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

/* Runs the fixture chunk in a fresh state; returns the snapshot path it produced or
 * NULL with err. */
static char *build_fixture(struct fx *f, const char *file, char *err, size_t errlen)
{
    struct lua_host h2 = *f->h;
    h2.file = file;
    h2.in_fixture = 1;
    h2.fixture_name = f->name;
    h2.snapshot_prefix = xasprintf("%s/.%s", f->h->env->cfg->cache_dir, f->key);
    h2.file_timeout = 0;
    h2.reset_between_tests = 0;
    lua_State *L2 = luaL_newstate();
    lapi_open(L2, &h2);
    char *result = NULL;
    int rc = luaL_loadfile(L2, file);
    if (rc == LUA_OK)
        rc = lua_pcall(L2, 0, 1, 0);
    if (rc != LUA_OK) {
        const char *m = lua_tostring(L2, -1);
        snprintf(err, errlen, "fixture `%s` failed to build: %s", f->name, m ? m : "error");
    } else if (lsnap_is_lab(L2, -1)) {
        snprintf(err, errlen, "fixture `%s` is a lab fixture; use lab_fixture", f->name);
    } else if (!lsnap_path_strict(L2, -1)) {
        snprintf(err, errlen, "fixture `%s` must return vm:snapshot() or provium:snapshot()",
                 f->name);
    } else {
        result = xstrdup(lsnap_path_strict(L2, -1));
    }
    lua_rawgeti(L2, LUA_REGISTRYINDEX, h2.file_lab_ref);
    lab_teardown(L2, -1, 0);
    lua_close(L2);
    free(h2.snapshot_prefix);
    return result;
}

/* Restores the entry into a new VM of the lab at lab_idx; pushes the Vm. */
static int restore_into(lua_State *L, int lab_idx, const char *entry, const char *want_name,
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
        for (int i = 2; lab_name_taken(L, lab_idx, name); i++)
            snprintf(name, sizeof name, "%s-%d", recorded ? recorded : "fixture", i);
    }
    json_decref(meta);
    struct lua_host *h = lhost(L);
    const struct profile *any = h->env->cfg->n_profiles ? &h->env->cfg->profiles[0] : NULL;
    if (!any) {
        snprintf(err, errlen, "provium.toml defines no profile");
        return -1;
    }
    struct vm *vm = vm_new(h->env, name, any, 0, 1);
    if (vm_restore(vm, entry, err, errlen) < 0) {
        vm_free(vm);
        return -1;
    }
    lvm_push(L, vm);
    lab_add_vm(L, lab_idx, lua_gettop(L));
    lvm_emit_spawned(L, vm, 1);
    return 0;
}

int lab_vm_fixture(lua_State *L)
{
    int lab = 1;
    const char *name = luaL_checkstring(L, 2);
    const char *want = NULL;
    if (lua_istable(L, 3)) {
        lua_getfield(L, 3, "name");
        want = lua_tostring(L, -1);
        lua_pop(L, 1); /* the string stays alive in the opts table */
        if (want && lab_name_taken(L, lab, want))
            return lapi_raise(L, "lab:vm_fixture", "a VM named '%s' already exists", want);
    }
    struct lua_host *h = lhost(L);
    const struct config *cfg = h->env->cfg;
    char key[65], err[8192];
    if (fixture_key(cfg, name, key, err, sizeof err) < 0)
        return lapi_raise(L, "lab:vm_fixture", "%s", err);
    struct fx f = {L, h, name, key};
    char *entry = cache_entry_path(cfg, key, 0);
    char *lab_entry = cache_entry_path(cfg, key, 1);
    if (file_exists(lab_entry)) {
        free(entry);
        free(lab_entry);
        return lapi_raise(L, "lab:vm_fixture", "fixture `%s` is a lab fixture; use lab_fixture",
                          name);
    }
    free(lab_entry);
    int lockfd = -1;
    for (int attempt = 0;; attempt++) {
        if (file_exists(entry)) {
            int64_t t0 = now_ns();
            if (restore_into(L, lab, entry, want, err, sizeof err) == 0) {
                cache_touch(entry);
                emit(&f, "fixture_cache_hit",
                     json_pack("{s:I}", "restore_ns", (json_int_t)(now_ns() - t0)));
                break;
            }
            fprintf(stderr, "provium: warning: fixture `%s`: cache entry %s unusable (%s); "
                            "rebuilding\n", name, key, strtok(err, "\n"));
            uint64_t b = cache_evict(entry);
            emit(&f, "fixture_evicted", json_pack("{s:s, s:I}", "reason", "corrupt", "bytes",
                                                  (json_int_t)b));
        }
        if (lockfd < 0) {
            lockfd = cache_lock(cfg, key, 0, h->rel_path, name, on_waiting, &f);
            if (lockfd < 0) {
                free(entry);
                return lapi_raise(L, "lab:vm_fixture", "cannot lock the fixture cache in %s: %s",
                                  cfg->cache_dir, strerror(errno));
            }
            if (file_exists(entry) && attempt == 0)
                continue; /* a peer built it while we waited */
        }
        /* build under the lock */
        char *file = fixture_find(cfg, name);
        emit(&f, "fixture_build_started", json_pack("{s:s}", "kind", "vm"));
        int64_t t0 = now_ns();
        char *snap = build_fixture(&f, file, err, sizeof err);
        free(file);
        if (!snap) {
            emit(&f, "fixture_build_done", json_pack("{s:I, s:i, s:b}", "duration_ns",
                                                     (json_int_t)(now_ns() - t0),
                                                     "snapshot_bytes", 0, "ok", 0));
            cache_unlock(lockfd);
            free(entry);
            return lapi_raise(L, "lab:vm_fixture", "%s", err);
        }
        int rc = rename(snap, entry);
        int e = errno;
        free(snap);
        emit(&f, "fixture_build_done",
             json_pack("{s:I, s:I, s:b}", "duration_ns", (json_int_t)(now_ns() - t0),
                       "snapshot_bytes", (json_int_t)cache_entry_bytes(entry), "ok", rc == 0));
        if (rc < 0) {
            cache_unlock(lockfd);
            free(entry);
            return lapi_raise(L, "lab:vm_fixture", "cannot install fixture `%s`: %s", name,
                              strerror(e));
        }
        if (restore_into(L, lab, entry, want, err, sizeof err) < 0) {
            cache_unlock(lockfd);
            free(entry);
            return lapi_raise(L, "lab:vm_fixture", "fixture `%s`: %s", name, err);
        }
        cache_touch(entry);
        break;
    }
    cache_unlock(lockfd);
    free(entry);
    return 1;
}
