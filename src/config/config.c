/* config.c - loads and validates provium.toml into struct config (see config.h).
 *
 * The TOML reader only knows syntax; this file knows meaning: which tables and keys
 * exist, their types and ranges, how paths resolve and how `{out}` expands. Every
 * problem becomes one message naming the file, the position of the key it concerns
 * (when that key is in the file) and the dotted key:
 *
 *     invalid config in provium.toml:7:1: profiles.x.memory: invalid size: 12Q
 *
 * The loader keeps a cursor (ld->line, ld->col) that each loop moves to the key it is
 * checking, so the typed getters need not know where their value came from. */
#include "config.h"

#include "toml.h"
#include "util/units.h"
#include "util/util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct loader {
    const char *file; /* file being read, for messages */
    char *err;
    size_t errlen;
    int failed;
    int line, col; /* position of the key being checked; 0 = not in the file */
};

#define CONFIG_MAX_BYTES (1 << 20)

/* Reads a config file: a regular file of at most 1 MiB. A device, FIFO or directory
 * is refused before anything is read (/dev/zero would be read until memory runs
 * out), so is a larger file. NULL with errno and err = "<path>: <why>". */
static char *read_config_text(const char *path, size_t *len, char *err, size_t errlen)
{
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC); /* a FIFO: no wait for a writer */
    if (fd < 0) {
        int e = errno;
        snprintf(err, errlen, "%s: cannot read config: %s", path, strerror(e));
        errno = e;
        return NULL;
    }
    struct stat st;
    struct buf b = {0};
    int e = 0;
    if (fstat(fd, &st) < 0) {
        e = errno;
        snprintf(err, errlen, "%s: cannot read config: %s", path, strerror(e));
    } else if (!S_ISREG(st.st_mode)) {
        e = EINVAL;
        snprintf(err, errlen, "%s: not a regular file; a config must be a file", path);
    } else {
        char chunk[65536];
        ssize_t n = 0;
        while (b.len <= CONFIG_MAX_BYTES &&
               ((n = read(fd, chunk, sizeof chunk)) > 0 || (n < 0 && errno == EINTR)))
            if (n > 0)
                buf_append(&b, chunk, (size_t)n);
        if (n < 0)
            e = errno;
        if (e)
            snprintf(err, errlen, "%s: cannot read config: %s", path, strerror(e));
    }
    if (!e && b.len > CONFIG_MAX_BYTES) {
        e = EFBIG;
        snprintf(err, errlen, "%s: too large (over 1 MiB); a config file may hold at most 1 MiB",
                 path);
    }
    close(fd);
    if (e) {
        buf_free(&b);
        errno = e;
        return NULL;
    }
    *len = b.len;
    return buf_cstr(&b);
}

/* Moves the cursor to a position (0, 0 = none). */
static void at(struct loader *ld, int line, int col)
{
    ld->line = line;
    ld->col = col;
}

/* Moves the cursor to the i-th key of table t. */
static void at_key(struct loader *ld, const struct toml_value *t, size_t i)
{
    at(ld, t->key_line ? t->key_line[i] : 0, t->key_col ? t->key_col[i] : 0);
}

static int fail(struct loader *ld, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(struct loader *ld, const char *key, const char *fmt, ...)
{
    if (ld->failed)
        return -1;
    ld->failed = 1;
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (ld->line > 0)
        snprintf(ld->err, ld->errlen, "invalid config in %s:%d:%d: %s: %s", ld->file, ld->line,
                 ld->col, key, msg);
    else
        snprintf(ld->err, ld->errlen, "invalid config in %s: %s: %s", ld->file, key, msg);
    return -1;
}

static int name_ok(const char *s, int allow_dot)
{
    if (!s[0] || !((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z') ||
                   (s[0] >= '0' && s[0] <= '9')))
        return 0;
    for (const char *p = s; *p; p++) {
        char c = *p;
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                 c == '_' || c == '-' || (allow_dot && c == '.');
        if (!ok)
            return 0;
    }
    return 1;
}

/* ---- typed getters: each returns 0 when absent or fine, -1 (and records) when wrong ---- */

static int want_type(struct loader *ld, const char *key, const struct toml_value *v,
                     enum toml_type t)
{
    if (v->type != t)
        return fail(ld, key, "expected %s, got %s", toml_type_name(t), toml_type_name(v->type));
    return 0;
}

static int get_string(struct loader *ld, const char *key, const struct toml_value *v, char **out)
{
    if (want_type(ld, key, v, TOML_STRING) < 0)
        return -1;
    free(*out);
    *out = xstrdup(v->s);
    return 0;
}

static int get_bool(struct loader *ld, const char *key, const struct toml_value *v, int *out)
{
    if (want_type(ld, key, v, TOML_BOOL) < 0)
        return -1;
    *out = v->b;
    return 0;
}

static int get_int_range(struct loader *ld, const char *key, const struct toml_value *v, long lo,
                         long hi, int *out)
{
    if (want_type(ld, key, v, TOML_INTEGER) < 0)
        return -1;
    if (v->i < lo || v->i > hi)
        return fail(ld, key, "must be between %ld and %ld, got %lld", lo, hi, (long long)v->i);
    *out = (int)v->i;
    return 0;
}

static int get_size(struct loader *ld, const char *key, const struct toml_value *v, uint64_t *out)
{
    if (v->type == TOML_INTEGER) {
        if (v->i < 0)
            return fail(ld, key, "invalid size: %lld", (long long)v->i);
        *out = (uint64_t)v->i;
        return 0;
    }
    if (v->type != TOML_STRING)
        return fail(ld, key, "expected a size (integer bytes or a string like \"512M\"), got %s",
                    toml_type_name(v->type));
    if (units_parse_size(v->s, out) < 0)
        return fail(ld, key, "invalid size: %s", v->s);
    return 0;
}

static int get_duration(struct loader *ld, const char *key, const struct toml_value *v,
                        double *out)
{
    if (v->type == TOML_INTEGER || v->type == TOML_FLOAT) {
        double d = v->type == TOML_INTEGER ? (double)v->i : v->f;
        if (units_check_duration(d, 0) < 0)
            return fail(ld, key, "invalid duration: %g", d);
        *out = d;
        return 0;
    }
    if (v->type != TOML_STRING)
        return fail(ld, key, "expected a duration (seconds or a string like \"30s\"), got %s",
                    toml_type_name(v->type));
    if (units_parse_duration(v->s, 0, out) < 0)
        return fail(ld, key, "invalid duration: %s", v->s);
    return 0;
}

static int get_enum(struct loader *ld, const char *key, const struct toml_value *v,
                    const char *const *allowed, char **out)
{
    if (want_type(ld, key, v, TOML_STRING) < 0)
        return -1;
    for (const char *const *a = allowed; *a; a++)
        if (!strcmp(*a, v->s)) {
            free(*out);
            *out = xstrdup(v->s);
            return 0;
        }
    struct buf b = {0};
    for (const char *const *a = allowed; *a; a++)
        buf_printf(&b, "%s\"%s\"", a == allowed ? "" : ", ", *a);
    fail(ld, key, "must be one of %s, got \"%s\"", buf_cstr(&b), v->s);
    buf_free(&b);
    return -1;
}

/* ---- {out} ---- */

static char *expand_out(const char *s, const char *out)
{
    struct buf b = {0};
    const char *p = s;
    const char *hit;
    while ((hit = strstr(p, "{out}"))) {
        buf_append(&b, p, (size_t)(hit - p));
        buf_puts(&b, out);
        p = hit + 5;
    }
    buf_puts(&b, p);
    return buf_cstr(&b);
}

/* Expands {out} and resolves a path field against the profile's directory. */
static void fix_path(char **field, const struct profile *p)
{
    if (!*field)
        return;
    char *e = expand_out(*field, p->out);
    free(*field);
    if (!e[0]) {
        *field = e;
        return;
    }
    *field = path_resolve(p->dir, e);
    free(e);
}

static char *default_out(const char *name)
{
    const char *bd = getenv("PROVIUM_BUILD_DIR");
    if (bd && *bd) {
        char *base = path_resolve(NULL, bd);
        char *r = path_join(base, name);
        free(base);
        return r;
    }
    return xasprintf("%s/provium/builds/%s", xdg_cache_home(), name);
}

static void strip_trailing_slash(char *s)
{
    size_t n = strlen(s);
    while (n > 1 && s[n - 1] == '/')
        s[--n] = 0;
}

/* ---- profiles ---- */

static int parse_disks(struct loader *ld, const char *pkey, const struct toml_value *v,
                       struct profile *p)
{
    char key[512];
    snprintf(key, sizeof key, "%s.disks", pkey);
    if (want_type(ld, key, v, TOML_ARRAY) < 0)
        return -1;
    p->disks = xcalloc(v->n_items, sizeof(struct disk_spec));
    for (size_t i = 0; i < v->n_items; i++) {
        const struct toml_value *t = v->items[i];
        struct disk_spec *d = &p->disks[p->n_disks++];
        snprintf(key, sizeof key, "%s.disks[%zu]", pkey, i);
        at(ld, t->line, t->col);
        if (want_type(ld, key, t, TOML_TABLE) < 0)
            return -1;
        char *scratch = NULL;
        for (size_t k = 0; k < t->n_keys; k++) {
            at_key(ld, t, k);
            const char *kn = t->keys[k];
            const struct toml_value *kv = t->vals[k];
            char sub[600];
            snprintf(sub, sizeof sub, "%s.%s", key, kn);
            if (!strcmp(kn, "path"))
                get_string(ld, sub, kv, &d->path);
            else if (!strcmp(kn, "id"))
                get_string(ld, sub, kv, &d->id);
            else if (!strcmp(kn, "readonly"))
                get_bool(ld, sub, kv, &d->readonly);
            else if (!strcmp(kn, "mediated"))
                get_bool(ld, sub, kv, &d->mediated);
            else if (!strcmp(kn, "scratch")) {
                if (get_size(ld, sub, kv, &d->scratch) == 0)
                    scratch = (char *)"set";
            } else
                fail(ld, sub, "unknown key");
        }
        if (ld->failed)
            return -1;
        at(ld, t->line, t->col);
        if ((d->path != NULL) == (scratch != NULL))
            return fail(ld, key, "a disk needs exactly one of `path` and `scratch`");
        if (!d->id)
            d->id = xasprintf("disk%zu", i);
        else if (!name_ok(d->id, 0))
            return fail(ld, key, "malformed disk id \"%s\"", d->id);
        for (size_t j = 0; j + 1 < p->n_disks; j++)
            if (!strcmp(p->disks[j].id, d->id))
                return fail(ld, key, "duplicate disk id \"%s\"", d->id);
    }
    return 0;
}

/* The values a profile has before its table is read. */
static void profile_defaults(struct profile *p, const char *name, const char *dir)
{
    memset(p, 0, sizeof *p);
    p->name = xstrdup(name);
    p->dir = xstrdup(dir);
    p->memory = 512ull << 20;
    p->cpus = 1;
    p->inject_agent = 1;
    p->machine = xstrdup("auto");
    p->nic_slots = 4;
    p->guest_os = xstrdup("linux");
}

/* Reads key k (dotted: key) of the profile table pkey into p; build_out is kept aside
 * until the table is read. Problems are recorded in ld. */
static void profile_key(struct loader *ld, const char *pkey, const char *key, const char *k,
                        const struct toml_value *v, struct profile *p, char **build_out)
{
    static const char *const machines[] = {"auto", "microvm", "q35", NULL};
    if (!strcmp(k, "kernel"))
        get_string(ld, key, v, &p->kernel);
    else if (!strcmp(k, "initrd"))
        get_string(ld, key, v, &p->initrd);
    else if (!strcmp(k, "cmdline"))
        get_string(ld, key, v, &p->cmdline);
    else if (!strcmp(k, "cmdline_file"))
        get_string(ld, key, v, &p->cmdline_file);
    else if (!strcmp(k, "build"))
        get_string(ld, key, v, &p->build);
    else if (!strcmp(k, "build_out")) {
        if (get_string(ld, key, v, build_out) == 0 && strstr(*build_out, "{out}"))
            fail(ld, key, "`{out}` cannot be used inside build_out");
    } else if (!strcmp(k, "memory"))
        get_size(ld, key, v, &p->memory);
    else if (!strcmp(k, "cpus"))
        get_int_range(ld, key, v, 1, 64, &p->cpus);
    else if (!strcmp(k, "inject_agent"))
        get_bool(ld, key, v, &p->inject_agent);
    else if (!strcmp(k, "agent_overlay_path"))
        get_string(ld, key, v, &p->agent_overlay_path);
    else if (!strcmp(k, "agent_boot_timeout")) {
        if (get_duration(ld, key, v, &p->agent_boot_timeout) == 0 &&
            p->agent_boot_timeout <= 0)
            fail(ld, key, "must be greater than 0");
    } else if (!strcmp(k, "disks"))
        parse_disks(ld, pkey, v, p);
    else if (!strcmp(k, "guest_os"))
        get_string(ld, key, v, &p->guest_os);
    else if (!strcmp(k, "machine"))
        get_enum(ld, key, v, machines, &p->machine);
    else if (!strcmp(k, "nic_slots"))
        get_int_range(ld, key, v, 1, 8, &p->nic_slots);
    else if (!strcmp(k, "modules_dir"))
        get_string(ld, key, v, &p->modules_dir);
    else if (!strcmp(k, "console_log_max")) {
        if (get_size(ld, key, v, &p->console_log_max) == 0 &&
            p->console_log_max < (64u << 10))
            fail(ld, key, "must be at least 64K");
    }
    else
        fail(ld, key, "unknown key");
}

/* Once the table is read: the build directory (build_out against dir, else the
 * default), then {out} expanded and every path resolved against the profile's dir. */
static void profile_resolve(struct profile *p, const char *build_out)
{
    p->out = build_out ? path_resolve(p->dir, build_out) : default_out(p->name);
    strip_trailing_slash(p->out);
    if (p->build) {
        char *e = expand_out(p->build, p->out);
        free(p->build);
        p->build = e;
    }
    if (p->cmdline) {
        char *e = expand_out(p->cmdline, p->out);
        free(p->cmdline);
        p->cmdline = e;
    }
    fix_path(&p->kernel, p);
    fix_path(&p->initrd, p);
    if (p->initrd && !p->initrd[0]) {
        free(p->initrd);
        p->initrd = NULL;
    }
    fix_path(&p->cmdline_file, p);
    fix_path(&p->agent_overlay_path, p);
    fix_path(&p->modules_dir, p);
    for (size_t i = 0; i < p->n_disks; i++)
        fix_path(&p->disks[i].path, p);
}

static int parse_profile(struct loader *ld, const char *name, const char *pkey,
                         const struct toml_value *t, const char *dir, struct profile *p)
{
    profile_defaults(p, name, dir);
    char *build_out = NULL;
    int pline = ld->line, pcol = ld->col; /* the caller put the cursor on the profile */
    if (!name_ok(name, 1))
        return fail(ld, pkey, "invalid profile name \"%s\"", name);
    if (want_type(ld, pkey, t, TOML_TABLE) < 0)
        return -1;
    for (size_t i = 0; i < t->n_keys && !ld->failed; i++) {
        char key[600];
        snprintf(key, sizeof key, "%s.%s", pkey, t->keys[i]);
        at_key(ld, t, i);
        profile_key(ld, pkey, key, t->keys[i], t->vals[i], p, &build_out);
    }
    if (!ld->failed) {
        at(ld, pline, pcol);
        if (!p->kernel)
            fail(ld, pkey, "missing required key `kernel`");
        else if (!p->cmdline && !p->cmdline_file)
            fail(ld, pkey, "needs `cmdline` or `cmdline_file`");
    }
    if (!ld->failed)
        profile_resolve(p, build_out);
    free(build_out);
    return ld->failed ? -1 : 0;
}

static void profile_free(struct profile *p)
{
    free(p->name);
    free(p->dir);
    free(p->kernel);
    free(p->initrd);
    free(p->cmdline);
    free(p->cmdline_file);
    free(p->build);
    free(p->out);
    free(p->agent_overlay_path);
    free(p->machine);
    free(p->modules_dir);
    free(p->guest_os);
    for (size_t i = 0; i < p->n_disks; i++) {
        free(p->disks[i].path);
        free(p->disks[i].id);
    }
    free(p->disks);
}

static int add_profile_name_check(struct loader *ld, struct config *c, const char *name)
{
    for (size_t i = 0; i < c->n_profiles; i++)
        if (!strcmp(c->profiles[i].name, name))
            return fail(ld, "profiles", "profile \"%s\" is defined twice", name);
    return 0;
}

/* Parses DIR/<name>/profile.provium.toml for every direct subdirectory. */
static int load_from_dir(struct loader *ld, struct config *c, const char *from_dir)
{
    char *dir = path_resolve(c->dir, from_dir);
    DIR *d = opendir(dir);
    if (!d) {
        fail(ld, "profiles.from_dir", "cannot open %s: %s", dir, strerror(errno));
        free(dir);
        return -1;
    }
    struct strv names = {0};
    struct dirent *de;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.')
            continue;
        char *sub = path_join(dir, de->d_name);
        char *pf = path_join(sub, "profile.provium.toml");
        struct stat st;
        if (stat(sub, &st) == 0 && S_ISDIR(st.st_mode) && file_exists(pf))
            strv_push(&names, de->d_name);
        free(sub);
        free(pf);
    }
    closedir(d);
    if (names.n == 0) {
        fail(ld, "profiles.from_dir", "no subdirectory of %s holds a profile.provium.toml", dir);
        free(dir);
        return -1;
    }
    strv_sort(&names);
    for (size_t i = 0; i < names.n && !ld->failed; i++) {
        char *sub = path_join(dir, names.v[i]);
        char *pf = path_join(sub, "profile.provium.toml");
        size_t len;
        char rerr[1024];
        char *text = read_config_text(pf, &len, rerr, sizeof rerr);
        if (!text) {
            fail(ld, "profiles.from_dir", "%s", rerr);
        } else {
            struct toml_error te;
            struct toml_value *t = toml_parse(text, len, &te);
            if (!t) {
                ld->failed = 1;
                snprintf(ld->err, ld->errlen, "%s:%d:%d: %s", pf, te.line, te.col, te.msg);
            } else if (add_profile_name_check(ld, c, names.v[i]) == 0) {
                const char *saved = ld->file;
                int sline = ld->line, scol = ld->col;
                ld->file = pf;
                at(ld, 0, 0); /* the profile is the whole file: no key to point at */
                c->profiles = xrealloc(c->profiles, (c->n_profiles + 1) * sizeof *c->profiles);
                char key[300];
                snprintf(key, sizeof key, "profiles.%s", names.v[i]);
                parse_profile(ld, names.v[i], key, t, sub, &c->profiles[c->n_profiles]);
                c->n_profiles++;
                ld->file = saved;
                at(ld, sline, scol);
            }
            toml_free(t);
        }
        free(text);
        free(pf);
        free(sub);
    }
    strv_free(&names);
    free(dir);
    return ld->failed ? -1 : 0;
}

/* $PROVIUM_QEMU, when set and non-empty, wins over `[provium] qemu` (spec 2.1). */
static const char *qemu_from_env(void)
{
    const char *q = getenv("PROVIUM_QEMU");
    return q && *q ? q : NULL;
}

/* An http:// or https:// URL with a host (the remote fixture cache). */
static int remote_url_valid(const char *u)
{
    const char *rest = !strncmp(u, "http://", 7) ? u + 7 : !strncmp(u, "https://", 8) ? u + 8 : NULL;
    return rest && *rest && *rest != '/';
}

/* remote_cache (unless $PROVIUM_REMOTE_CACHE is set: it wins) and remote_cache_mode. */
static void get_remote(struct loader *ld, struct config *c, const char *k, const char *key,
                       const struct toml_value *v)
{
    static const char *const modes[] = {"read", "read-write", NULL};
    char *s = NULL;
    if (!strcmp(k, "remote_cache_mode")) {
        if (get_enum(ld, key, v, modes, &s) == 0)
            c->remote_cache_read_only = !strcmp(s, "read");
    } else if (get_string(ld, key, v, &s) == 0) {
        const char *env = getenv("PROVIUM_REMOTE_CACHE");
        if (*s && !remote_url_valid(s))
            fail(ld, key, "expected an http:// or https:// URL, got \"%s\"", s);
        else if (!(env && *env)) {
            free(c->remote_cache);
            c->remote_cache = *s ? xstrdup(s) : NULL;
        }
    }
    free(s);
}

static int parse_provium_table(struct loader *ld, struct config *c, const struct toml_value *t)
{
    static const char *const accels[] = {"auto", "kvm", "tcg", NULL};
    if (want_type(ld, "provium", t, TOML_TABLE) < 0)
        return -1;
    for (size_t i = 0; i < t->n_keys && !ld->failed; i++) {
        const char *k = t->keys[i];
        const struct toml_value *v = t->vals[i];
        char key[300];
        snprintf(key, sizeof key, "provium.%s", k);
        at_key(ld, t, i);
        if (!strcmp(k, "roots")) {
            if (want_type(ld, key, v, TOML_ARRAY) < 0)
                return -1;
            c->roots = xcalloc(v->n_items + 1, sizeof(char *));
            for (size_t j = 0; j < v->n_items; j++) {
                at(ld, v->items[j]->line, v->items[j]->col);
                if (v->items[j]->type != TOML_STRING)
                    return fail(ld, key, "expected an array of paths");
                char *r = path_resolve(c->dir, v->items[j]->s);
                strip_trailing_slash(r);
                c->roots[c->n_roots++] = r;
            }
        } else if (!strcmp(k, "cache_dir")) {
            char *s = NULL;
            if (get_string(ld, key, v, &s) == 0) {
                free(c->cache_dir);
                c->cache_dir = path_resolve(c->dir, s);
            }
            free(s);
        } else if (!strcmp(k, "cache_max_size"))
            get_size(ld, key, v, &c->cache_max_size);
        else if (!strcmp(k, "jobs"))
            get_int_range(ld, key, v, 1, 4096, &c->jobs);
        else if (!strcmp(k, "accel"))
            get_enum(ld, key, v, accels, &c->accel);
        else if (!strcmp(k, "qemu")) {
            char *s = NULL;
            if (get_string(ld, key, v, &s) == 0 && !qemu_from_env()) {
                free(c->qemu);
                c->qemu = strchr(s, '/') ? path_resolve(c->dir, s) : xstrdup(s);
            }
            free(s);
        } else if (!strcmp(k, "remote_cache") || !strcmp(k, "remote_cache_mode"))
            get_remote(ld, c, k, key, v);
        else
            fail(ld, key, "unknown key");
    }
    return ld->failed ? -1 : 0;
}

static int parse_profiles_table(struct loader *ld, struct config *c, const struct toml_value *t)
{
    if (want_type(ld, "profiles", t, TOML_TABLE) < 0)
        return -1;
    const char *from_dir = NULL;
    int fline = 0, fcol = 0;
    for (size_t i = 0; i < t->n_keys && !ld->failed; i++) {
        const char *k = t->keys[i];
        const struct toml_value *v = t->vals[i];
        at_key(ld, t, i);
        if (!strcmp(k, "from_dir") && v->type == TOML_STRING) {
            from_dir = v->s;
            fline = ld->line;
            fcol = ld->col;
            continue;
        }
        char key[300];
        snprintf(key, sizeof key, "profiles.%s", k);
        if (add_profile_name_check(ld, c, k) < 0)
            return -1;
        c->profiles = xrealloc(c->profiles, (c->n_profiles + 1) * sizeof *c->profiles);
        parse_profile(ld, k, key, v, c->dir, &c->profiles[c->n_profiles]);
        c->n_profiles++;
    }
    if (!ld->failed && from_dir) {
        at(ld, fline, fcol);
        load_from_dir(ld, c, from_dir);
    }
    return ld->failed ? -1 : 0;
}

static void set_defaults(struct config *c)
{
    c->cache_max_size = 20ull << 30;
    c->accel = xstrdup("auto");
    const char *q = qemu_from_env();
    c->qemu = xstrdup(q ? q : "qemu-system-x86_64");
    const char *fc = getenv("PROVIUM_FIXTURE_CACHE");
    if (fc && *fc)
        c->cache_dir = path_resolve(NULL, fc);
    else
        c->cache_dir = xasprintf("%s/provium/fixtures", xdg_cache_home());
    const char *rc = getenv("PROVIUM_REMOTE_CACHE");
    if (rc && *rc)
        c->remote_cache = xstrdup(rc);
}

/* Without `roots`, the config directory is the one root (discovery, fixtures, require). */
static void default_roots(struct config *c)
{
    if (c->n_roots)
        return;
    free(c->roots);
    c->roots = xcalloc(2, sizeof(char *));
    c->roots[c->n_roots++] = xstrdup(c->dir);
}

struct config *config_load(const char *path, char *err, size_t errlen)
{
    struct config *c = xcalloc(1, sizeof *c);
    set_defaults(c);
    if (c->remote_cache && !remote_url_valid(c->remote_cache)) {
        snprintf(err, errlen, "PROVIUM_REMOTE_CACHE: expected an http:// or https:// URL, got '%s'",
                 c->remote_cache);
        config_free(c);
        return NULL;
    }
    const char *want = path ? path : "provium.toml";
    size_t len;
    char *text = read_config_text(want, &len, err, errlen);
    if (!text) {
        if (!path && errno == ENOENT) { /* no config: an empty one, rooted at cwd */
            c->dir = path_resolve(NULL, ".");
            default_roots(c);
            return c;
        }
        config_free(c);
        return NULL;
    }
    c->path = path_resolve(NULL, want);
    c->dir = path_dirname(c->path);
    struct loader ld = {want, err, errlen, 0, 0, 0};
    struct toml_error te;
    struct toml_value *root = toml_parse(text, len, &te);
    free(text);
    if (!root) {
        snprintf(err, errlen, "%s:%d:%d: %s", want, te.line, te.col, te.msg);
        config_free(c);
        return NULL;
    }
    /* a cache_dir in the file beats $PROVIUM_FIXTURE_CACHE (set_defaults) */
    for (size_t i = 0; i < root->n_keys && !ld.failed; i++) {
        const char *k = root->keys[i];
        at_key(&ld, root, i);
        if (!strcmp(k, "provium"))
            parse_provium_table(&ld, c, root->vals[i]);
        else if (!strcmp(k, "profiles"))
            parse_profiles_table(&ld, c, root->vals[i]);
        else
            fail(&ld, k, "unknown table or key");
    }
    toml_free(root);
    if (ld.failed) {
        config_free(c);
        return NULL;
    }
    default_roots(c);
    return c;
}

void config_free(struct config *c)
{
    if (!c)
        return;
    free(c->path);
    free(c->dir);
    for (size_t i = 0; i < c->n_roots; i++)
        free(c->roots[i]);
    free(c->roots);
    free(c->cache_dir);
    free(c->accel);
    free(c->qemu);
    free(c->remote_cache);
    for (size_t i = 0; i < c->n_profiles; i++)
        profile_free(&c->profiles[i]);
    free(c->profiles);
    free(c);
}

char *config_profile_names(const struct config *c)
{
    struct strv names = {0};
    for (size_t i = 0; i < c->n_profiles; i++)
        strv_push(&names, c->profiles[i].name);
    strv_sort(&names);
    struct buf b = {0};
    for (size_t i = 0; i < names.n; i++)
        buf_printf(&b, "%s%s", i ? ", " : "", names.v[i]);
    if (!b.len)
        buf_puts(&b, "none");
    strv_free(&names);
    return buf_cstr(&b);
}

const struct profile *config_profile(const struct config *c, const char *name)
{
    for (size_t i = 0; i < c->n_profiles; i++)
        if (!strcmp(c->profiles[i].name, name))
            return &c->profiles[i];
    return NULL;
}
