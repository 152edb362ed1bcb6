/* llabsnap.c - lab snapshots: lab:snapshot(dir?), lab:restore(snap|dir), LabSnapshot.
 *
 * A lab snapshot is a directory: one `<vm>.snap` per VM of the lab tree (a VM in a
 * sub-lab gets `<sub-lab>.<vm>.snap`) and a `lab.json` index written last, so a
 * directory without lab.json is never mistaken for a snapshot. Taking one pauses every
 * running VM first (one consistent instant for the whole lab), saves each, resumes.
 *
 * lab.json ("provium-lab/1"):
 *   {"format", "provium_version", "protocol", "fixture",
 *    "labs":    [{"path": "dc1"}, ...]                      sub-labs, parents first
 *    "vms":     [{"name", "lab", "profile", "memory", "cpus", "machine",
 *                 "state": "booted|paused|created|shutdown", "file"}, ...]
 *    "bridges": [{"name", "lab", "subnet_index", "subnet", "members": [{"vm", "slot",
 *                 "nic"}], "partitions": [{"from", "to"}], "isolated", "uplink",
 *                 "rules", "routes": [subnet index, ...]}, ...]}
 * `lab` is the sub-lab path relative to the snapshotted lab ("" for itself). The
 * LabSnapshot userdata itself is lsnap.c's. */
#include "llabsnap.h"

#include "lbridge.h"
#include "lbridge_route.h"
#include "lbridge_rules.h"
#include "lfile.h"
#include "llab.h"
#include "lsnap.h"
#include "lvm.h"

#include "config/config.h"
#include "net/switch.h"
#include "proto/wire.h"
#include "util/util.h"
#include "vm/snapshot.h"
#include "vm/snapshot_hot.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LAB_FORMAT "provium-lab/1"

/* ---- walking the lab tree ---- */

struct member {
    struct vm *vm;
    char *lab_path; /* "" for the lab itself */
    int lab_ref;    /* registry ref of the owning lab */
    int vm_ref;     /* registry ref of the Vm userdata */
};

struct members {
    struct member *v;
    size_t n;
    struct strv labs; /* sub-lab paths, parents first */
    json_t *bridges;  /* lab.json records of the open bridges, by lab then name */
    struct buf captures; /* open bridge captures, described for the refusal */
    int n_captures;
};

/* Adds the records of the open bridges of the lab at lab, sorted by name. */
static void collect_bridges(lua_State *L, int lab, const char *path, json_t *out,
                            struct members *m)
{
    struct strv names = {0};
    llab_bridge_names_sorted(L, lab, &names);
    llab_field(L, lab, "bridges");
    int t = lua_gettop(L);
    for (size_t i = 0; i < names.n; i++) {
        lua_getfield(L, t, names.v[i]);
        int sw = lbridge_sw_id(L, -1);
        size_t caps = sw >= 0 ? sw_capture_count(sw) : 0;
        if (caps) {
            buf_printf(&m->captures, "%s%zu capture(s) of bridge %s", m->captures.len ? "; " : "",
                       caps, names.v[i]);
            m->n_captures += (int)caps;
        }
        json_t *rec = lbridge_to_json(L, -1, path);
        if (rec)
            json_array_append_new(out, rec);
        lua_pop(L, 1);
    }
    strv_free(&names);
    lua_pop(L, 1);
}

static void collect(lua_State *L, int lab, const char *path, struct members *m)
{
    lab = lua_absindex(L, lab);
    if (!m->bridges)
        m->bridges = json_array();
    collect_bridges(L, lab, path, m->bridges, m);
    llab_field(L, lab, "vms");
    int vms = lua_gettop(L);
    for (lua_Integer i = 1; i <= luaL_len(L, vms); i++) {
        lua_rawgeti(L, vms, i);
        struct vm *vm = lvm_test(L, -1);
        if (!vm) {
            lua_pop(L, 1);
            continue;
        }
        m->v = xrealloc(m->v, (m->n + 1) * sizeof *m->v);
        m->v[m->n].vm = vm;
        m->v[m->n].lab_path = xstrdup(path);
        m->v[m->n].vm_ref = luaL_ref(L, LUA_REGISTRYINDEX);
        lua_pushvalue(L, lab);
        m->v[m->n].lab_ref = luaL_ref(L, LUA_REGISTRYINDEX);
        m->n++;
    }
    lua_pop(L, 1);
    llab_field(L, lab, "labs");
    int labs = lua_gettop(L);
    for (lua_Integer i = 1; i <= luaL_len(L, labs); i++) {
        lua_rawgeti(L, labs, i);
        llab_field(L, -1, "name");
        char *sub = path[0] ? xasprintf("%s/%s", path, lua_tostring(L, -1))
                            : xstrdup(lua_tostring(L, -1));
        lua_pop(L, 1);
        strv_push(&m->labs, sub);
        collect(L, -1, sub, m);
        free(sub);
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
}

static void members_free(lua_State *L, struct members *m)
{
    for (size_t i = 0; i < m->n; i++) {
        free(m->v[i].lab_path);
        luaL_unref(L, LUA_REGISTRYINDEX, m->v[i].vm_ref);
        luaL_unref(L, LUA_REGISTRYINDEX, m->v[i].lab_ref);
    }
    free(m->v);
    strv_free(&m->labs);
    json_decref(m->bridges);
    buf_free(&m->captures);
    memset(m, 0, sizeof *m);
}

/* File name of a member's snapshot: `<vm>.snap`, or `<sub.lab>.<vm>.snap` with every
 * character outside [A-Za-z0-9_-] of the sub-lab path turned into '_'. */
static char *snap_file_name(const struct member *mb)
{
    if (!mb->lab_path[0])
        return xasprintf("%s.snap", mb->vm->name);
    char *p = xstrdup(mb->lab_path);
    for (char *c = p; *c; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
              *c == '_' || *c == '-'))
            *c = '_';
    char *r = xasprintf("%s.%s.snap", p, mb->vm->name);
    free(p);
    return r;
}

static int is_running(const struct vm *vm) { return vm->state == VM_BOOTED; }
static int has_guest(const struct vm *vm)
{
    return vm->state == VM_BOOTED || vm->state == VM_PAUSED;
}

/* ---- taking a snapshot ---- */

/* was_running: paused by the snapshot itself, so recorded as booted */
static json_t *member_json(const struct member *mb, const char *file, int was_running)
{
    const struct vm *vm = mb->vm;
    const char *state = vm->state == VM_BOOTED || was_running ? "booted"
                        : vm->state == VM_PAUSED  ? "paused"
                        : vm->state == VM_CREATED ? "created"
                                                  : "shutdown";
    return json_pack("{s:s, s:s, s:s, s:I, s:i, s:s, s:s, s:s?}", "name", vm->name, "lab",
                     mb->lab_path, "profile", vm->profile->name, "memory",
                     (json_int_t)vm->memory, "cpus", vm->cpus, "machine",
                     vm->machine[0] ? vm->machine : "microvm", "state", state, "file", file);
}

/* Open files, streams or captures make a snapshot meaningless: -1 naming each. */
static int refuse_open_handles(lua_State *L, struct members *m, char *err, size_t errlen)
{
    struct buf why = {0};
    int open = m->n_captures;
    if (m->n_captures)
        buf_puts(&why, buf_cstr(&m->captures));
    for (size_t i = 0; i < m->n; i++)
        if (has_guest(m->v[i].vm))
            open += lfile_describe_open(L, m->v[i].vm, &why);
    if (open)
        snprintf(err, errlen, "refused: %d open handle(s): %s", open, buf_cstr(&why));
    buf_free(&why);
    return open ? -1 : 0;
}

/* Where the snapshot goes: dir, else a temp beside the fixture being built, else
 * scratch (malloc'd). */
static char *snapshot_dir(struct lua_host *h, const char *dir)
{
    if (dir)
        return path_resolve(NULL, dir);
    if (h->snapshot_prefix)
        return xasprintf("%s.lab.tmp-%s-%u", h->snapshot_prefix, owner_tag(), ++h->env->counter);
    return xasprintf("%s/labsnap-%u", h->env->scratch, ++h->env->counter);
}

/* Saves the member into out when it has a guest; appends its record to vms. */
static int save_member(const struct member *mb, const char *out, const char *fixture,
                       int was_running, json_t *vms, char *err, size_t errlen)
{
    int rc = 0;
    char *file = has_guest(mb->vm) ? snap_file_name(mb) : NULL;
    if (file) {
        char *path = path_join(out, file);
        char e2[4096];
        uint64_t bytes = 0;
        if (vm_snapshot_save(mb->vm, path, fixture, &bytes, e2, sizeof e2) < 0) {
            snprintf(err, errlen, "VM '%s': %s", mb->vm->name, e2);
            rc = -1;
        }
        free(path);
    }
    json_array_append_new(vms, member_json(mb, file, was_running));
    free(file);
    return rc;
}

/* One instant for the whole lab: pauses every running VM, saves each, resumes those
 * it paused. The records of the VMs saved go to vms. */
static int save_members(const struct members *m, const char *out, const char *fixture,
                        json_t *vms, char *err, size_t errlen)
{
    int rc = 0;
    char *paused = xcalloc(m->n ? m->n : 1, 1);
    for (size_t i = 0; i < m->n && rc == 0; i++)
        if (is_running(m->v[i].vm)) {
            if (vm_set_running(m->v[i].vm, 0, err, errlen) < 0)
                rc = -1;
            else
                paused[i] = 1;
        }
    for (size_t i = 0; i < m->n && rc == 0; i++)
        rc = save_member(&m->v[i], out, fixture, paused[i], vms, err, errlen);
    for (size_t i = 0; i < m->n; i++)
        if (paused[i] && m->v[i].vm->qemu_pid > 0) {
            char e2[512];
            if (vm_set_running(m->v[i].vm, 1, e2, sizeof e2) < 0 && rc == 0) {
                snprintf(err, errlen, "VM '%s': resuming: %s", m->v[i].vm->name, e2);
                rc = -1;
            }
        }
    free(paused);
    return rc;
}

/* Writes lab.json, last: the directory is a snapshot from then on. Takes vms. */
static int write_index(const char *out, const char *fixture, const struct members *m,
                       json_t *vms, char *err, size_t errlen)
{
    json_t *labs = json_array();
    for (size_t i = 0; i < m->labs.n; i++)
        json_array_append_new(labs, json_pack("{s:s}", "path", m->labs.v[i]));
    json_t *doc = json_pack("{s:s, s:s, s:i, s:s?, s:o, s:o, s:O}", "format", LAB_FORMAT,
                            "provium_version", PROVIUM_VERSION, "protocol",
                            WIRE_PROTOCOL_VERSION, "fixture", fixture, "labs", labs, "vms",
                            vms, "bridges", m->bridges);
    char *text = json_dumps(doc, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    char *index = path_join(out, "lab.json");
    int rc = write_file_atomic(index, text, strlen(text), 0600);
    if (rc < 0)
        snprintf(err, errlen, "writing %s: %s", index, strerror(errno));
    free(index);
    free(text);
    json_decref(doc);
    return rc < 0 ? -1 : 0;
}

/* Takes the snapshot of the members collected in m (freed here). */
static char *take_members(lua_State *L, struct members *m, const char *dir, int ignore_open,
                          char *err, size_t errlen);

char *llabsnap_take(lua_State *L, int lab_idx, const char *dir, char *err, size_t errlen)
{
    struct members m = {0};
    collect(L, lab_idx, "", &m);
    return take_members(L, &m, dir, 0, err, errlen);
}

char *llabsnap_take_failure(lua_State *L, int file_lab, int scoped, const char *dir, char *err,
                            size_t errlen)
{
    struct members m = {0};
    collect(L, file_lab, "", &m);
    collect(L, scoped, "", &m); /* one lab: names never shadow a parent's */
    return take_members(L, &m, dir, 1, err, errlen);
}

static char *take_members(lua_State *L, struct members *mp, const char *dir, int ignore_open,
                          char *err, size_t errlen)
{
    struct lua_host *h = lhost(L);
    struct members m = *mp;
    char *out = NULL;
    int rc = -1;
    if (!ignore_open && refuse_open_handles(L, &m, err, errlen) < 0)
        goto done;
    out = snapshot_dir(h, dir);
    if (mkdir_p(out, 0700) < 0) { /* private: the snapshots hold guest memory */
        snprintf(err, errlen, "cannot create %s: %s", out, strerror(errno));
        free(out);
        out = NULL;
        goto done;
    }
    json_t *vms = json_array();
    rc = save_members(&m, out, h->fixture_name, vms, err, errlen);
    if (rc == 0)
        rc = write_index(out, h->fixture_name, &m, vms, err, errlen);
    else
        json_decref(vms);
done:
    members_free(L, &m);
    if (rc < 0 && out) {
        if (!dir)
            rm_rf(out);
        free(out);
        out = NULL;
    }
    return out;
}

/* lab:snapshot(dir?) */
static int lab_snapshot_l(lua_State *L)
{
    luaL_argcheck(L, llab_is(L, 1), 1, "expected a Lab");
    const char *dir = luaL_optstring(L, 2, NULL);
    char err[8192];
    char *out = llabsnap_take(L, 1, dir, err, sizeof err);
    if (!out)
        return lapi_raise(L, "lab:snapshot", "%s", err);
    if (dir)
        lua_pushstring(L, out);
    else
        lsnap_push_lab(L, out);
    free(out);
    return 1;
}

/* ---- restoring ---- */

static json_t *load_index(const char *dir, char *err, size_t errlen)
{
    char *index = path_join(dir, "lab.json");
    json_error_t je;
    json_t *doc = json_load_file(index, 0, &je);
    const char *fmt = doc ? json_string_value(json_object_get(doc, "format")) : NULL;
    if (!doc)
        snprintf(err, errlen, "%s: %s", index, file_exists(index) ? je.text : "not a lab snapshot "
                                                                       "(no lab.json)");
    else if (!fmt || strcmp(fmt, LAB_FORMAT) != 0 ||
             !json_is_array(json_object_get(doc, "vms")) ||
             !json_is_array(json_object_get(doc, "labs"))) {
        snprintf(err, errlen, "%s: not a %s index", index, LAB_FORMAT);
        json_decref(doc);
        doc = NULL;
    }
    free(index);
    return doc;
}

/* Pushes the sub-lab at `path` under lab, creating missing levels when create. */
static int push_lab_at(lua_State *L, int lab, const char *path, int create)
{
    lua_pushvalue(L, lab);
    if (!path[0])
        return 1;
    char *copy = xstrdup(path), *save = NULL;
    for (char *part = strtok_r(copy, "/", &save); part; part = strtok_r(NULL, "/", &save)) {
        int cur = lua_gettop(L);
        if (!llab_find_sublab(L, cur, part)) {
            if (!create) {
                lua_pop(L, 1);
                free(copy);
                return 0;
            }
            llab_push_sublab(L, cur, part);
        }
        lua_remove(L, cur);
    }
    free(copy);
    return 1;
}

/* Set while a fixture or a reset_between_tests baseline is restored: those restore
 * by mapping (snapshot_hot.c); lab:restore of a user's snapshot keeps the stream. */
static int g_mapped_restore;

/* Starts one recorded VM into vm according to its record. */
static int bring_back(struct vm *vm, json_t *rec, const char *dir, char *err, size_t errlen)
{
    const char *state = json_string_value(json_object_get(rec, "state"));
    const char *file = json_string_value(json_object_get(rec, "file"));
    if (!state || !strcmp(state, "created")) {
        vm->state = VM_CREATED;
        return 0;
    }
    if (!file) {
        vm->state = VM_SHUTDOWN;
        return 0;
    }
    char *path = path_join(dir, file);
    char e2[8192];
    int rc = g_mapped_restore ? vm_restore_mapped(vm, path, e2, sizeof e2)
                              : vm_restore(vm, path, e2, sizeof e2);
    free(path);
    if (rc < 0) {
        snprintf(err, errlen, "VM '%s': %s", vm->name, e2);
        return -1;
    }
    if (!strcmp(state, "paused") && vm_set_running(vm, 0, e2, sizeof e2) < 0) {
        snprintf(err, errlen, "VM '%s': pausing: %s", vm->name, e2);
        return -1;
    }
    return 0;
}

/* Shuts down a VM, emitting vm_shutdown when it was running. */
static void stop_vm(lua_State *L, struct vm *vm)
{
    if (vm->qemu_pid > 0) {
        vm_kill(vm);
        vm_shutdown(vm);
        lvm_emit_shutdown(L, vm, 0);
    }
}

/* Checks that every recorded bridge can come back: its name is free where it goes. It
 * keeps its recorded subnet even if a live bridge has the same one (the addresses live
 * inside the guests); only a VM on two bridges of one /24 is refused, at attach. */
static int check_bridges(lua_State *L, int lab_idx, json_t *bridges, char *err, size_t errlen)
{
    size_t i;
    json_t *rec;
    json_array_foreach(bridges, i, rec) {
        const char *name = json_string_value(json_object_get(rec, "name"));
        const char *lab = json_string_value(json_object_get(rec, "lab"));
        int index = (int)json_integer_value(json_object_get(rec, "subnet_index"));
        if (!name || !lab) {
            snprintf(err, errlen, "bridge record %zu lacks name or lab", i + 1);
            return -1;
        }
        if (index < 0 || index > 255) {
            snprintf(err, errlen, "bridge '%s': bad subnet index %d", name, index);
            return -1;
        }
        if (push_lab_at(L, lab_idx, lab, 0)) {
            llab_field(L, -1, "bridges");
            int taken = lua_getfield(L, -1, name) != LUA_TNIL;
            lua_pop(L, 3);
            if (taken) {
                snprintf(err, errlen, "a bridge named '%s' already exists", name);
                return -1;
            }
        }
    }
    return 0;
}

/* Recreates the recorded bridges, members bound to their recorded NIC slots (the
 * guests kept their addresses), and the recorded partitions and isolation. */
static void restore_bridges(lua_State *L, int lab_idx, json_t *bridges)
{
    size_t i;
    json_t *rec;
    lua_newtable(L); /* the new Bridges in record order, for their routes */
    int made = lua_gettop(L);
    json_array_foreach(bridges, i, rec) {
        const char *name = json_string_value(json_object_get(rec, "name"));
        const char *lab = json_string_value(json_object_get(rec, "lab"));
        push_lab_at(L, lab_idx, lab, 1);
        int l = lua_gettop(L);
        lbridge_new(L, l, name, (int)json_integer_value(json_object_get(rec, "subnet_index")));
        int b = lua_gettop(L);
        lua_pushvalue(L, b);
        lua_rawseti(L, made, (lua_Integer)i + 1);
        size_t k;
        json_t *m;
        json_array_foreach(json_object_get(rec, "members"), k, m) {
            const char *vm = json_string_value(json_object_get(m, "vm"));
            if (vm && llab_find_vm(L, l, vm)) {
                lbridge_add_recorded(L, b, lua_gettop(L),
                                     (int)json_integer_value(json_object_get(m, "slot")),
                                     (int)json_integer_value(json_object_get(m, "nic")));
                lua_pop(L, 1);
            }
        }
        json_array_foreach(json_object_get(rec, "partitions"), k, m) {
            const char *from = json_string_value(json_object_get(m, "from"));
            const char *to = json_string_value(json_object_get(m, "to"));
            if (from && to)
                lbridge_cut(L, b, from, to);
        }
        json_array_foreach(json_object_get(rec, "isolated"), k, m)
            if (json_string_value(m))
                lbridge_isolate(L, b, json_string_value(m));
        lbridge_set_uplink(L, b, json_is_true(json_object_get(rec, "uplink")));
        json_array_foreach(json_object_get(rec, "rules"), k, m)
            lbridge_rules_apply(L, b, json_string_value(json_object_get(m, "from")),
                         json_string_value(json_object_get(m, "to")),
                         json_number_value(json_object_get(m, "latency_ms")),
                         json_number_value(json_object_get(m, "loss_pct")),
                         json_number_value(json_object_get(m, "bandwidth_bps")));
        lua_settop(L, l - 1);
    }
    lbridge_route_restore(L, made, bridges);
    lua_pop(L, 1);
}

/* Closes every bridge of the tree at lab and forgets them (reset_between_tests). */
static void drop_bridges(lua_State *L, int lab)
{
    lab = lua_absindex(L, lab);
    llab_field(L, lab, "bridges");
    lua_pushnil(L);
    while (lua_next(L, -2)) {
        lbridge_close(L, -1);
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
    lua_getiuservalue(L, lab, 1);
    lua_newtable(L);
    lua_setfield(L, -2, "bridges");
    lua_pop(L, 1);
    llab_field(L, lab, "labs");
    for (lua_Integer i = 1; i <= luaL_len(L, -1); i++) {
        lua_rawgeti(L, -1, i);
        drop_bridges(L, -1);
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
}

/* Checks every recorded VM before anything is created: its record is complete, its
 * profile exists and its name is free where it goes. */
static int check_vms(lua_State *L, int lab_idx, const char *dir, json_t *vms, char *err,
                     size_t errlen)
{
    struct lua_host *h = lhost(L);
    size_t i;
    json_t *rec;
    json_array_foreach(vms, i, rec) {
        const char *name = json_string_value(json_object_get(rec, "name"));
        const char *lab = json_string_value(json_object_get(rec, "lab"));
        const char *pname = json_string_value(json_object_get(rec, "profile"));
        if (!name || !lab || !pname) {
            snprintf(err, errlen, "%s/lab.json: VM record %zu lacks name, lab or profile", dir,
                     i + 1);
            return -1;
        }
        if (!config_profile(h->env->cfg, pname)) {
            snprintf(err, errlen, "VM '%s' was recorded with profile '%s', which provium.toml "
                     "does not define", name, pname);
            return -1;
        }
        int taken = 0;
        if (push_lab_at(L, lab_idx, lab, 0)) {
            taken = llab_name_taken(L, -1, name);
            lua_pop(L, 1);
        } else {
            taken = llab_name_taken(L, lab_idx, name);
        }
        if (taken) {
            snprintf(err, errlen, "a VM named '%s' already exists", name);
            return -1;
        }
    }
    return 0;
}

/* Creates the recorded VM rec in its lab; pushes the Vm and records {lab, Vm} as
 * element i + 1 of the list at made. */
static struct vm *create_vm(lua_State *L, int lab_idx, int made, size_t i, json_t *rec)
{
    struct lua_host *h = lhost(L);
    const char *name = json_string_value(json_object_get(rec, "name"));
    const char *lab = json_string_value(json_object_get(rec, "lab"));
    const struct profile *p =
        config_profile(h->env->cfg, json_string_value(json_object_get(rec, "profile")));
    struct vm *vm = vm_new(h->env, name, p, (uint64_t)json_integer_value(json_object_get(rec, "memory")),
                           (int)json_integer_value(json_object_get(rec, "cpus")));
    lvm_push(L, vm);
    int vmi = lua_gettop(L);
    push_lab_at(L, lab_idx, lab, 1);
    llab_add_vm(L, -1, vmi);
    lua_createtable(L, 2, 0);
    lua_pushvalue(L, -2);
    lua_rawseti(L, -2, 1);
    lua_pushvalue(L, vmi);
    lua_rawseti(L, -2, 2);
    lua_rawseti(L, made, (lua_Integer)i + 1);
    lua_settop(L, vmi);
    return vm;
}

/* Creates every recorded VM and brings each back; on a failure stops and removes all
 * it created. */
static int restore_vms(lua_State *L, int lab_idx, const char *dir, json_t *vms, char *err,
                       size_t errlen)
{
    lua_newtable(L);
    int made = lua_gettop(L);
    int rc = 0;
    size_t i;
    json_t *rec;
    json_array_foreach(vms, i, rec) {
        struct vm *vm = create_vm(L, lab_idx, made, i, rec);
        if (bring_back(vm, rec, dir, err, errlen) < 0) {
            rc = -1;
            break;
        }
        if (vm->state == VM_BOOTED || vm->state == VM_PAUSED)
            lvm_emit_spawned(L, vm, 1);
        lua_settop(L, made);
    }
    for (lua_Integer k = 1; rc < 0 && k <= luaL_len(L, made); k++) {
        lua_rawgeti(L, made, k);
        lua_rawgeti(L, -1, 1);
        lua_rawgeti(L, -2, 2);
        stop_vm(L, lvm_check(L, -1));
        llab_remove_member(L, -2, "vms", -1);
        lua_pop(L, 3);
    }
    lua_settop(L, made - 1);
    return rc;
}

int llabsnap_restore(lua_State *L, int lab_idx, const char *dir, char *err, size_t errlen)
{
    lab_idx = lua_absindex(L, lab_idx);
    json_t *doc = load_index(dir, err, errlen);
    if (!doc)
        return -1;
    int rc = -1;
    json_t *vms = json_object_get(doc, "vms"), *bridges = json_object_get(doc, "bridges");
    /* check everything before creating anything */
    if (check_vms(L, lab_idx, dir, vms, err, errlen) < 0 ||
        check_bridges(L, lab_idx, bridges, err, errlen) < 0)
        goto done;
    size_t i;
    json_t *rec;
    json_array_foreach(json_object_get(doc, "labs"), i, rec) {
        const char *path = json_string_value(json_object_get(rec, "path"));
        if (path && push_lab_at(L, lab_idx, path, 1))
            lua_pop(L, 1);
    }
    rc = restore_vms(L, lab_idx, dir, vms, err, errlen);
    if (rc == 0)
        restore_bridges(L, lab_idx, bridges);
done:
    json_decref(doc);
    return rc;
}

int llabsnap_restore_fixture(lua_State *L, int lab_idx, const char *dir, char *err,
                             size_t errlen)
{
    g_mapped_restore = 1;
    int rc = llabsnap_restore(L, lab_idx, dir, err, errlen);
    g_mapped_restore = 0;
    return rc;
}

/* lab:restore(snap_or_dir) */
static int lab_restore_l(lua_State *L)
{
    luaL_argcheck(L, llab_is(L, 1), 1, "expected a Lab");
    const char *dir = lsnap_lab_dir(L, 2);
    if (!dir)
        return luaL_argerror(L, 2, "expected a LabSnapshot or a directory");
    char *abs = path_resolve(NULL, dir);
    char err[8192];
    int rc = llabsnap_restore(L, 1, abs, err, sizeof err);
    free(abs);
    if (rc < 0)
        return lapi_raise(L, "lab:restore", "%s", err);
    lua_settop(L, 1);
    return 1;
}

/* ---- reset_between_tests ---- */

static json_t *find_record(json_t *vms, const struct member *mb)
{
    size_t i;
    json_t *rec;
    json_array_foreach(vms, i, rec) {
        const char *name = json_string_value(json_object_get(rec, "name"));
        const char *lab = json_string_value(json_object_get(rec, "lab"));
        if (name && lab && !strcmp(name, mb->vm->name) && !strcmp(lab, mb->lab_path))
            return rec;
    }
    return NULL;
}

static int path_listed(json_t *labs, const char *path)
{
    size_t i;
    json_t *rec;
    json_array_foreach(labs, i, rec) {
        const char *p = json_string_value(json_object_get(rec, "path"));
        if (p && !strcmp(p, path))
            return 1;
    }
    return 0;
}

int llabsnap_reset(lua_State *L, int lab_idx, const char *dir, char *err, size_t errlen)
{
    lab_idx = lua_absindex(L, lab_idx);
    json_t *doc = load_index(dir, err, errlen);
    if (!doc)
        return -1;
    json_t *vms = json_object_get(doc, "vms"), *labs = json_object_get(doc, "labs");
    struct members m = {0};
    collect(L, lab_idx, "", &m);
    int rc = 0;
    for (size_t i = 0; i < m.n; i++)
        stop_vm(L, m.v[i].vm);
    /* VMs the baseline does not know leave the lab; known ones come back in place */
    for (size_t i = 0; i < m.n && rc == 0; i++) {
        json_t *rec = find_record(vms, &m.v[i]);
        lua_rawgeti(L, LUA_REGISTRYINDEX, m.v[i].lab_ref);
        lua_rawgeti(L, LUA_REGISTRYINDEX, m.v[i].vm_ref);
        if (!rec) {
            llab_remove_member(L, -2, "vms", -1);
        } else {
            g_mapped_restore = 1;
            rc = bring_back(m.v[i].vm, rec, dir, err, errlen);
            g_mapped_restore = 0;
            if (rc == 0 && has_guest(m.v[i].vm))
                lvm_emit_spawned(L, m.v[i].vm, 1);
        }
        lua_pop(L, 2);
    }
    /* sub-labs made after the baseline go, with their VMs (already stopped) */
    for (size_t i = m.labs.n; rc == 0 && i-- > 0;) {
        if (path_listed(labs, m.labs.v[i]))
            continue;
        char *parent = xstrdup(m.labs.v[i]);
        char *slash = strrchr(parent, '/');
        const char *leaf = slash ? slash + 1 : m.labs.v[i];
        if (slash)
            *slash = 0;
        else
            parent[0] = 0;
        if (push_lab_at(L, lab_idx, parent, 0)) {
            if (llab_find_sublab(L, -1, leaf)) {
                llab_remove_member(L, -2, "labs", -1);
                lua_pop(L, 1);
            }
            lua_pop(L, 1);
        }
        free(parent);
    }
    if (rc == 0) {
        drop_bridges(L, lab_idx);
        restore_bridges(L, lab_idx, json_object_get(doc, "bridges"));
    }
    members_free(L, &m);
    json_decref(doc);
    return rc;
}

void llabsnap_open(lua_State *L)
{
    static const luaL_Reg lab_methods[] = {
        {"snapshot", lab_snapshot_l}, {"restore", lab_restore_l}, {NULL, NULL}};
    lapi_add_methods(L, "provium.Lab", lab_methods);
}
