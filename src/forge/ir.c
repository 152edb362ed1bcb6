/* ir.c - IR v0 validation (spec §10.1, §10.3) and `provium forge validate FILE`.
 *
 * ir_validate walks a parsed manifest against the closed v0 schema and adds every problem
 * it finds to a forge_errors list (errors.c sorts and prints them): it never stops at the
 * first one, so an unknown field, a bad id and a missing source are all reported in one
 * run. Only where a value's schema depends on something broken (an object that is not
 * an object, a `kind` that is missing or deferred) does it skip the inside of that value.
 *
 * Paths use the `.apps[0].env.TOKEN` notation; "" is the whole document. Object keys are
 * appended as they are (a key holding '.' or '[' is not quoted). A missing field is
 * reported at the path it should have had (`.apps[0].image`).
 *
 * Choices where §10.1 leaves room:
 *   - a key inside `extensions` (which must be empty in v0) is E_UNKNOWN_FIELD at
 *     `.extensions.KEY`: it is a key outside the closed schema; a non-object is malformed.
 *   - `network: null` is allowed (the spec says "object or null") and means no network.
 *   - `schema_version` is MAJOR.MINOR, each `0` or a digit string without a leading zero
 *     ("0.1" ok; "00.1", "0.01", "1", "0.1.0" are E_MALFORMED_VERSION); major != 0 is
 *     E_UNSUPPORTED_MAJOR; major 0 with minor > 1 is E_MINOR_TOO_HIGH.
 *   - E_NETWORK_PORTS_WITH_NONE needs a non-empty `ports` (an empty list adds nothing).
 *   - Fields without a stated default are required: Source `path`, Image `packages`,
 *     Mount `target`/`source`/`mode`, Network `mode`, Port `guest`/`host`, Volume
 *     `name`/`size_mb`, each source kind's own field (`name`, `path`, `size_mb`).
 *   - Ranges not in the spec: tmpfs `size_mb`, Volume `size_mb` and `rootfs_size_mb`
 *     are >= 1; strings must not hold NUL; source `path`, host `path` must be non-empty.
 *   - env keys (app and entrypoint) are POSIX names `[A-Za-z_][A-Za-z0-9_]*` (they become
 *     shell variables in the guest's /init); EnvValue `value` is a string.
 *   - `image.packages` entries are nixpkgs attribute paths: non-empty, characters
 *     `[A-Za-z0-9_+'-]` in dot-separated non-empty segments (they end up in flake.nix).
 *   - volume names are unique (a repeat is E_MALFORMED_MANIFEST at its `.name`).
 *   - source `path` is relative to the manifest's directory; an absolute one is used as is.
 *   - a deferred or unknown `kind` stops the checks inside that object (its fields belong
 *     to a schema this version does not know).
 */
#include "forge/ir.h"
#include "forge/bundle.h"
#include "forge/cjson.h"
#include "forge/forge.h"

#include "cli/cli.h"
#include "util/util.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#define BOOL_TYPE (-1) /* field(): JSON_TRUE or JSON_FALSE */

struct vctx {
    struct forge_errors *errs;
    const char *dir;      /* the manifest's directory, or NULL: no source path checks */
    const json_t *volumes; /* the workload's `volumes` (for E_UNKNOWN_VOLUME), or NULL */
};

static const char *const workload_keys[] = {"schema_version", "id", "apps", "volumes",
                                            "extensions", NULL};
static const char *const app_keys[] = {"name", "source", "image", "entrypoint", "env",
                                       "mounts", "network", "resources", NULL};
static const char *const local_path_keys[] = {"kind", "path", "include", "exclude", NULL};
static const char *const nix_image_keys[] = {"kind", "packages", NULL};
static const char *const entrypoint_keys[] = {"command", "working_dir", "env", NULL};
static const char *const literal_keys[] = {"kind", "value", NULL};
static const char *const mount_keys[] = {"target", "source", "mode", NULL};
static const char *const network_keys[] = {"mode", "ports", NULL};
static const char *const port_keys[] = {"guest", "host", "proto", NULL};
static const char *const resources_keys[] = {"cpu_cores", "memory_mb", "rootfs_size_mb", NULL};
static const char *const volume_keys[] = {"name", "size_mb", "persist", NULL};

/* ---- paths, types, the common checks ---- */

static char *sub(const char *path, const char *key)
{
    return xasprintf("%s.%s", path, key);
}

static char *idx(const char *path, size_t i)
{
    return xasprintf("%s[%zu]", path, i);
}

static const char *type_name(int type)
{
    switch (type) {
    case JSON_OBJECT: return "an object";
    case JSON_ARRAY: return "an array";
    case JSON_STRING: return "a string";
    case JSON_INTEGER: return "an integer";
    case BOOL_TYPE: return "a boolean";
    default: return "a value";
    }
}

static int type_ok(const json_t *v, int type)
{
    if (type == BOOL_TYPE)
        return json_is_boolean(v);
    return json_typeof(v) == (json_type)type;
}

/* Reports a wrong type (or a string holding NUL) at path; 1 if v is fine. */
static int check_type(struct vctx *c, const json_t *v, const char *path, int type)
{
    if (!type_ok(v, type)) {
        forge_errors_add(c->errs, "E_MALFORMED_MANIFEST", path, "must be %s", type_name(type));
        return 0;
    }
    if (type == JSON_STRING && strlen(json_string_value(v)) != json_string_length(v)) {
        forge_errors_add(c->errs, "E_MALFORMED_MANIFEST", path, "must not contain NUL");
        return 0;
    }
    return 1;
}

/* obj[key] if present and of the type; a missing required field or a wrong type is
 * reported (at obj's path + key) and gives NULL. */
static const json_t *field(struct vctx *c, const json_t *obj, const char *path,
                           const char *key, int type, int required)
{
    const json_t *v = json_object_get(obj, key);
    char *p = sub(path, key);
    if (!v) {
        if (required)
            forge_errors_add(c->errs, "E_MALFORMED_MANIFEST", p, "missing required field");
    } else if (!check_type(c, v, p, type)) {
        v = NULL;
    }
    free(p);
    return v;
}

/* obj[key] as an integer within [lo, hi]; reports what is wrong. */
static void int_field(struct vctx *c, const json_t *obj, const char *path, const char *key,
                      long long lo, long long hi, int required)
{
    const json_t *v = json_object_get(obj, key);
    if (v && json_is_real(v)) {
        char *p = sub(path, key);
        forge_errors_add(c->errs, "E_MALFORMED_MANIFEST", p, "must be an integer, not a fraction");
        free(p);
        return;
    }
    v = field(c, obj, path, key, JSON_INTEGER, required);
    if (!v)
        return;
    long long n = json_integer_value(v);
    if (n < lo || n > hi) {
        char *p = sub(path, key);
        forge_errors_add(c->errs, "E_MALFORMED_MANIFEST", p, "%lld is out of range %lld..%lld",
                         n, lo, hi);
        free(p);
    }
}

/* Every key of obj not in allowed is E_UNKNOWN_FIELD. */
static void check_keys(struct vctx *c, const json_t *obj, const char *path,
                       const char *const *allowed)
{
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)obj, key, v) {
        int known = 0;
        for (size_t i = 0; allowed[i] && !known; i++)
            known = !strcmp(key, allowed[i]);
        if (!known) {
            char *p = sub(path, key);
            forge_errors_add(c->errs, "E_UNKNOWN_FIELD", p, "'%s' is not a field here", key);
            free(p);
        }
    }
}

/* obj[key] as one of the strings in choices (NULL-terminated); returns it or NULL. */
static const char *enum_field(struct vctx *c, const json_t *obj, const char *path,
                              const char *key, const char *const *choices, int required)
{
    const json_t *v = field(c, obj, path, key, JSON_STRING, required);
    if (!v)
        return NULL;
    const char *s = json_string_value(v);
    for (size_t i = 0; choices[i]; i++)
        if (!strcmp(s, choices[i]))
            return choices[i];
    char *p = sub(path, key);
    forge_errors_add(c->errs, "E_MALFORMED_MANIFEST", p, "'%s' is not one of the allowed values", s);
    free(p);
    return NULL;
}

/* A required non-empty string field; if absolute, it must start with '/'. */
static const char *string_field(struct vctx *c, const json_t *obj, const char *path,
                                const char *key, int absolute, int required)
{
    const json_t *v = field(c, obj, path, key, JSON_STRING, required);
    if (!v)
        return NULL;
    const char *s = json_string_value(v);
    const char *why = !*s ? "must not be empty"
                      : absolute && s[0] != '/' ? "must be an absolute path"
                                                : NULL;
    if (!why)
        return s;
    char *p = sub(path, key);
    forge_errors_add(c->errs, "E_MALFORMED_MANIFEST", p, "%s", why);
    free(p);
    return NULL;
}

/* ---- names, versions, globs ---- */

/* ^[a-z][a-z0-9-]{0,62}$ */
static int ir_id_valid(const char *s)
{
    size_t n = strlen(s);
    if (n < 1 || n > 63 || !(s[0] >= 'a' && s[0] <= 'z'))
        return 0;
    for (size_t i = 1; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-'))
            return 0;
    return 1;
}

static void id_field(struct vctx *c, const json_t *obj, const char *path, const char *key)
{
    const json_t *v = field(c, obj, path, key, JSON_STRING, 1);
    if (!v || ir_id_valid(json_string_value(v)))
        return;
    char *p = sub(path, key);
    forge_errors_add(c->errs, "E_INVALID_ID", p,
                     "'%s' does not match ^[a-z][a-z0-9-]{0,62}$", json_string_value(v));
    free(p);
}

/* A decimal number without a leading zero ("0", "12"; not "", "01", "1a"). */
static int decimal_ok(const char *s, size_t n)
{
    if (n == 0 || (n > 1 && s[0] == '0'))
        return 0;
    for (size_t i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return 0;
    return 1;
}

static void check_version(struct vctx *c, const json_t *root)
{
    const json_t *v = field(c, root, "", "schema_version", JSON_STRING, 1);
    if (!v)
        return;
    const char *s = json_string_value(v);
    size_t len = strlen(s);
    const char *dot = strchr(s, '.');
    size_t nmaj = dot ? (size_t)(dot - s) : 0;
    if (!dot || !decimal_ok(s, nmaj) || !decimal_ok(dot + 1, len - nmaj - 1)) {
        forge_errors_add(c->errs, "E_MALFORMED_VERSION", ".schema_version",
                         "'%s' is not MAJOR.MINOR (decimal, no leading zeros)", s);
    } else if (nmaj != 1 || s[0] != '0') {
        forge_errors_add(c->errs, "E_UNSUPPORTED_MAJOR", ".schema_version",
                         "major version of '%s' is not supported (this provium knows 0.1)", s);
    } else if (len - nmaj - 1 > 1 || dot[1] > '1') {
        forge_errors_add(c->errs, "E_MINOR_TOO_HIGH", ".schema_version",
                         "'%s' is newer than this provium knows (0.1)", s);
    }
}

/* [A-Za-z_][A-Za-z0-9_]* */
static int env_name_ok(const char *s)
{
    if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') || *s == '_'))
        return 0;
    for (s++; *s; s++)
        if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') ||
              *s == '_'))
            return 0;
    return 1;
}

/* A nixpkgs attribute path: dot-separated non-empty segments of [A-Za-z0-9_+'-]. */
static int nix_attr_ok(const char *s)
{
    size_t seg = 0;
    for (; *s; s++) {
        if (*s == '.') {
            if (seg == 0)
                return 0;
            seg = 0;
        } else if ((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') ||
                   (*s >= '0' && *s <= '9') || strchr("_+'-", *s)) {
            seg++;
        } else {
            return 0;
        }
    }
    return seg > 0;
}

/* An optional array of strings; each element passes ok() or is reported with code. */
static void string_list(struct vctx *c, const json_t *obj, const char *path, const char *key,
                        int required, int (*ok)(const char *), const char *code, const char *why)
{
    const json_t *arr = field(c, obj, path, key, JSON_ARRAY, required);
    if (!arr)
        return;
    char *ap = sub(path, key);
    size_t i;
    json_t *el;
    json_array_foreach(arr, i, el) {
        char *p = idx(ap, i);
        if (check_type(c, el, p, JSON_STRING) && ok && !ok(json_string_value(el)))
            forge_errors_add(c->errs, code, p, "'%s' %s", json_string_value(el), why);
        free(p);
    }
    free(ap);
}

static int glob_ok(const char *g)
{
    return bundle_glob_match(g, "") >= 0;
}

/* ---- the objects ---- */

/* One EnvValue map (app env or entrypoint env). */
static void check_env(struct vctx *c, const json_t *obj, const char *path)
{
    static const char *const kinds[] = {"literal", "secret_ref", NULL};
    const json_t *env = field(c, obj, path, "env", JSON_OBJECT, 0);
    if (!env)
        return;
    char *ep = sub(path, "env");
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)env, key, v) {
        char *p = sub(ep, key);
        if (!env_name_ok(key))
            forge_errors_add(c->errs, "E_MALFORMED_MANIFEST", p,
                             "'%s' is not a variable name ([A-Za-z_][A-Za-z0-9_]*)", key);
        if (json_is_object(v)) {
            const char *kind = enum_field(c, v, p, "kind", kinds, 1);
            if (kind && !strcmp(kind, "secret_ref")) {
                forge_errors_add(c->errs, "E_SECRETS_NOT_IMPLEMENTED", p,
                                 "secret_ref values are not implemented in v0");
            } else if (kind) {
                check_keys(c, v, p, literal_keys);
                field(c, v, p, "value", JSON_STRING, 1);
            }
        } else if (!json_is_string(v)) {
            forge_errors_add(c->errs, "E_MALFORMED_MANIFEST", p,
                             "must be a string or {\"kind\":\"literal\",\"value\":...}");
        } else {
            check_type(c, v, p, JSON_STRING);
        }
        free(p);
    }
    free(ep);
}

/* The local_path source directory must exist and be a directory. */
static void check_source_dir(struct vctx *c, const char *path, const char *rel)
{
    if (!c->dir)
        return;
    char *full = rel[0] == '/' ? xstrdup(rel) : path_join(c->dir, rel);
    struct stat st;
    char *p = sub(path, "path");
    if (stat(full, &st) < 0)
        forge_errors_add(c->errs, "E_SOURCE_PATH_NOT_FOUND", p, "%s: %s", full, strerror(errno));
    else if (!S_ISDIR(st.st_mode))
        forge_errors_add(c->errs, "E_SOURCE_PATH_NOT_DIR", p, "%s is not a directory", full);
    free(p);
    free(full);
}

static void check_source(struct vctx *c, const json_t *app, const char *apath)
{
    static const char *const kinds[] = {"local_path", "nix_derivation", "oci_image", NULL};
    const json_t *src = field(c, app, apath, "source", JSON_OBJECT, 1);
    if (!src)
        return;
    char *path = sub(apath, "source");
    const char *kind = enum_field(c, src, path, "kind", kinds, 1);
    if (kind && strcmp(kind, "local_path") != 0) {
        char *p = sub(path, "kind");
        forge_errors_add(c->errs, "E_SOURCE_KIND_DEFERRED", p,
                         "source kind '%s' is reserved for a later version", kind);
        free(p);
    } else if (kind) {
        check_keys(c, src, path, local_path_keys);
        const char *rel = string_field(c, src, path, "path", 0, 1);
        string_list(c, src, path, "include", 0, glob_ok, "E_SOURCE_GLOB_INVALID",
                    "is not a valid glob");
        string_list(c, src, path, "exclude", 0, glob_ok, "E_SOURCE_GLOB_INVALID",
                    "is not a valid glob");
        if (rel)
            check_source_dir(c, path, rel);
    }
    free(path);
}

static void check_image(struct vctx *c, const json_t *app, const char *apath)
{
    static const char *const kinds[] = {"nix_packages", "oci_base", NULL};
    const json_t *img = field(c, app, apath, "image", JSON_OBJECT, 1);
    if (!img)
        return;
    char *path = sub(apath, "image");
    const char *kind = enum_field(c, img, path, "kind", kinds, 1);
    if (kind && !strcmp(kind, "oci_base")) {
        char *p = sub(path, "kind");
        forge_errors_add(c->errs, "E_IMAGE_KIND_DEFERRED", p,
                         "image kind 'oci_base' is reserved for a later version");
        free(p);
    } else if (kind) {
        check_keys(c, img, path, nix_image_keys);
        string_list(c, img, path, "packages", 1, nix_attr_ok, "E_MALFORMED_MANIFEST",
                    "is not a nixpkgs attribute path");
    }
    free(path);
}

static void check_entrypoint(struct vctx *c, const json_t *app, const char *apath)
{
    const json_t *ep = field(c, app, apath, "entrypoint", JSON_OBJECT, 1);
    if (!ep)
        return;
    char *path = sub(apath, "entrypoint");
    check_keys(c, ep, path, entrypoint_keys);
    const json_t *cmd = json_object_get(ep, "command");
    string_list(c, ep, path, "command", 1, NULL, NULL, NULL);
    if (json_is_array(cmd) && json_array_size(cmd) == 0) {
        char *p = sub(path, "command");
        forge_errors_add(c->errs, "E_MALFORMED_MANIFEST", p, "must not be empty");
        free(p);
    }
    string_field(c, ep, path, "working_dir", 1, 0);
    check_env(c, ep, path);
    free(path);
}

/* Is name one of the workload's declared volumes? */
static int volume_declared(struct vctx *c, const char *name)
{
    size_t i;
    json_t *vol;
    if (!json_is_array(c->volumes))
        return 0;
    json_array_foreach(c->volumes, i, vol) {
        json_t *n = json_object_get(vol, "name");
        if (json_is_string(n) && !strcmp(json_string_value(n), name))
            return 1;
    }
    return 0;
}

static void check_mount_source(struct vctx *c, const json_t *m, const char *mpath)
{
    static const char *const kinds[] = {"volume", "host_path", "tmpfs", NULL};
    const json_t *src = field(c, m, mpath, "source", JSON_OBJECT, 1);
    if (!src)
        return;
    char *path = sub(mpath, "source");
    const char *kind = enum_field(c, src, path, "kind", kinds, 1);
    if (kind && !strcmp(kind, "volume")) {
        check_keys(c, src, path, (const char *const[]){"kind", "name", NULL});
        const json_t *n = field(c, src, path, "name", JSON_STRING, 1);
        if (n && !volume_declared(c, json_string_value(n))) {
            char *p = sub(path, "name");
            forge_errors_add(c->errs, "E_UNKNOWN_VOLUME", p, "no volume named '%s' is declared",
                             json_string_value(n));
            free(p);
        }
    } else if (kind && !strcmp(kind, "host_path")) {
        check_keys(c, src, path, (const char *const[]){"kind", "path", NULL});
        string_field(c, src, path, "path", 0, 1);
    } else if (kind) {
        check_keys(c, src, path, (const char *const[]){"kind", "size_mb", NULL});
        int_field(c, src, path, "size_mb", 1, CJSON_MAX_INT, 1);
    }
    free(path);
}

/* The optional array obj.key whose elements are objects with the given keys: each is
 * type- and key-checked, then check_one checks its fields (i is its index). */
static void check_objects(struct vctx *c, const json_t *obj, const char *path, const char *key,
                          const char *const *keys,
                          void (*check_one)(struct vctx *, const json_t *, const char *, size_t))
{
    const json_t *arr = field(c, obj, path, key, JSON_ARRAY, 0);
    if (!arr)
        return;
    char *ap = sub(path, key);
    size_t i;
    json_t *el;
    json_array_foreach(arr, i, el) {
        char *p = idx(ap, i);
        if (check_type(c, el, p, JSON_OBJECT)) {
            check_keys(c, el, p, keys);
            check_one(c, el, p, i);
        }
        free(p);
    }
    free(ap);
}

static void check_mount(struct vctx *c, const json_t *m, const char *p, size_t i)
{
    static const char *const modes[] = {"ro", "rw", NULL};
    (void)i;
    string_field(c, m, p, "target", 1, 1);
    check_mount_source(c, m, p);
    enum_field(c, m, p, "mode", modes, 1);
}

static void check_port(struct vctx *c, const json_t *port, const char *p, size_t i)
{
    static const char *const protos[] = {"tcp", "udp", NULL};
    (void)i;
    int_field(c, port, p, "guest", 1, 65535, 1);
    int_field(c, port, p, "host", 1, 65535, 1);
    enum_field(c, port, p, "proto", protos, 0);
}

static void check_network(struct vctx *c, const json_t *app, const char *apath)
{
    static const char *const modes[] = {"none", "bridge", NULL};
    const json_t *net = json_object_get(app, "network");
    if (!net || json_is_null(net))
        return;
    char *path = sub(apath, "network");
    if (check_type(c, net, path, JSON_OBJECT)) {
        check_keys(c, net, path, network_keys);
        const char *mode = enum_field(c, net, path, "mode", modes, 1);
        check_objects(c, net, path, "ports", port_keys, check_port);
        const json_t *ports = json_object_get(net, "ports");
        if (mode && !strcmp(mode, "none") && json_is_array(ports) && json_array_size(ports)) {
            char *p = sub(path, "ports");
            forge_errors_add(c->errs, "E_NETWORK_PORTS_WITH_NONE", p,
                             "ports need network mode 'bridge'");
            free(p);
        }
    }
    free(path);
}

static void check_resources(struct vctx *c, const json_t *app, const char *apath)
{
    const json_t *res = field(c, app, apath, "resources", JSON_OBJECT, 0);
    if (!res)
        return;
    char *path = sub(apath, "resources");
    check_keys(c, res, path, resources_keys);
    int_field(c, res, path, "cpu_cores", 1, 65535, 0);
    int_field(c, res, path, "memory_mb", 64, CJSON_MAX_INT, 0);
    int_field(c, res, path, "rootfs_size_mb", 1, CJSON_MAX_INT, 0);
    free(path);
}

static void check_app(struct vctx *c, const json_t *app, const char *path)
{
    if (!check_type(c, app, path, JSON_OBJECT))
        return;
    check_keys(c, app, path, app_keys);
    id_field(c, app, path, "name");
    check_source(c, app, path);
    check_image(c, app, path);
    check_entrypoint(c, app, path);
    check_env(c, app, path);
    check_objects(c, app, path, "mounts", mount_keys, check_mount);
    check_network(c, app, path);
    check_resources(c, app, path);
}

static void check_apps(struct vctx *c, const json_t *root)
{
    const json_t *apps = field(c, root, "", "apps", JSON_ARRAY, 1);
    if (!apps)
        return;
    if (json_array_size(apps) == 0)
        forge_errors_add(c->errs, "E_EMPTY_APPS", ".apps", "a workload needs one app");
    else if (json_array_size(apps) > 1)
        forge_errors_add(c->errs, "E_MULTI_APP_DEFERRED", ".apps",
                         "%zu apps: more than one is reserved for a later version",
                         json_array_size(apps));
    size_t i;
    json_t *app;
    json_array_foreach(apps, i, app) {
        char *p = idx(".apps", i);
        check_app(c, app, p);
        free(p);
    }
}

/* The i-th of the workload's volumes (c->volumes); a name declared before is an error. */
static void check_volume(struct vctx *c, const json_t *vol, const char *p, size_t i)
{
    id_field(c, vol, p, "name");
    int_field(c, vol, p, "size_mb", 1, CJSON_MAX_INT, 1);
    const json_t *persist = field(c, vol, p, "persist", BOOL_TYPE, 0);
    char *pp = sub(p, "persist");
    if (json_is_true(persist))
        forge_errors_add(c->errs, "E_PERSIST_DEFERRED", pp,
                         "persistent volumes are reserved for a later version");
    free(pp);
    const json_t *name = json_object_get(vol, "name");
    for (size_t j = 0; json_is_string(name) && j < i; j++) {
        const json_t *prev = json_object_get(json_array_get(c->volumes, j), "name");
        if (json_is_string(prev) && json_equal((json_t *)prev, (json_t *)name)) {
            char *np = sub(p, "name");
            forge_errors_add(c->errs, "E_MALFORMED_MANIFEST", np,
                             "volume '%s' is declared twice", json_string_value(name));
            free(np);
            break;
        }
    }
}

int ir_validate(const json_t *ir, const char *manifest_dir, struct forge_errors *errs)
{
    struct vctx c = {errs, manifest_dir, NULL};
    size_t before = errs->n;
    if (!check_type(&c, ir, "", JSON_OBJECT))
        return -1;
    c.volumes = json_object_get(ir, "volumes");
    check_keys(&c, ir, "", workload_keys);
    check_version(&c, ir);
    id_field(&c, ir, "", "id");
    check_apps(&c, ir);
    check_objects(&c, ir, "", "volumes", volume_keys, check_volume);
    const json_t *ext = field(&c, ir, "", "extensions", JSON_OBJECT, 0);
    if (ext)
        check_keys(&c, ext, ".extensions", (const char *const[]){NULL});
    return errs->n == before ? 0 : -1;
}

/* ---- provium forge validate FILE ---- */

int forge_validate_main(int argc, char **argv)
{
    const char *file = NULL;
    int files_only = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!files_only && (!strcmp(a, "--help") || !strcmp(a, "-h"))) {
            const char *help = forge_help("validate");
            fputs(help ? help : "usage: provium forge validate FILE\n", stdout);
            return FORGE_EXIT_OK;
        }
        if (!files_only && !strcmp(a, "--")) {
            files_only = 1;
            continue;
        }
        if (!files_only && a[0] == '-' && a[1])
            return cli_usage_error("forge validate", "forge validate: unknown flag '%s'", a);
        if (file)
            return cli_usage_error("forge validate", "forge validate: one FILE only");
        file = a;
    }
    if (!file)
        return cli_usage_error("forge validate", "forge validate: missing FILE");

    struct forge_errors errs = {0};
    struct cjson_error err = {0};
    json_t *ir = cjson_load_file(file, &err);
    if (!ir) {
        if (err.exit_code == FORGE_EXIT_INVALID)
            forge_errors_add(&errs, "E_MALFORMED_MANIFEST", "", "%s: %s", file, err.detail);
        else
            forge_errors_add_fatal(&errs, "E_MALFORMED_MANIFEST", "", "%s: %s", file, err.detail);
    } else {
        char *dir = path_dirname(file);
        ir_validate(ir, dir, &errs);
        free(dir);
        json_decref(ir);
    }
    int rc = forge_print_envelope(&errs, NULL);
    forge_errors_free(&errs);
    return rc;
}
