/* modules.c - resolving virtio drivers to .ko files in load order, from modules.dep.
 *
 * modules.dep has one line per module, relative to the modules directory:
 *
 *     kernel/drivers/virtio/virtio_mmio.ko: kernel/drivers/virtio/virtio.ko kernel/drivers/virtio/virtio_ring.ko
 *
 * The list after the colon is the full set of dependencies, and depmod writes it so that
 * loading it back to front works (modprobe does exactly that). We go one step further and
 * resolve each dependency's own line recursively as well, so the order is right even for a
 * hand-written or slightly odd modules.dep. Each module is emitted once, after everything
 * it needs. modules.builtin (one .ko path per line) lists drivers compiled into the kernel.
 */
#include "image/modules.h"

#include "image/cpio.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* plus the ACPI power button and evdev, through which the agent sees it (agent/button.c) */
const char *const provium_virtio_modules[] = {
    "virtio_mmio", "virtio_pci", "virtio_console", "virtio_net", "virtio_blk", "virtio_rng",
    "button", "evdev", NULL,
};

struct dep_line {
    char *path;  /* relative, as written in modules.dep */
    char *name;  /* normalized module name */
    char **deps; /* relative paths */
    size_t ndeps;
};

struct resolver {
    const char *dir;
    struct dep_line *lines;
    size_t nlines;
    char **builtin; /* normalized names */
    size_t nbuiltin;
    unsigned char *state; /* per line: 0 new, 1 in progress, 2 done */
    struct module_list *out;
    char *err;
    size_t errlen;
};

/* "kernel/drivers/char/hw_random/virtio-rng.ko.xz" -> "virtio_rng" (malloc'd). */
static char *module_name_from_path(const char *path) {
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    size_t len = strlen(base);
    for (const char *p = base; (p = strstr(p, ".ko")) != NULL; p++)
        if (p[3] == '\0' || p[3] == '.') len = (size_t)(p - base);
    char *name = strndup(base, len);
    if (name == NULL) return NULL;
    for (char *p = name; *p; p++)
        if (*p == '-') *p = '_';
    return name;
}

static int same_module_name(const char *a, const char *b) {
    for (; *a && *b; a++, b++) {
        char x = *a == '-' ? '_' : *a, y = *b == '-' ? '_' : *b;
        if (x != y) return 0;
    }
    return *a == *b;
}

static int is_compressed_module(const char *path) {
    size_t len = strlen(path);
    return len < 3 || strcmp(path + len - 3, ".ko") != 0;
}

/* Splits s in place at spaces and tabs, appending each word to *v. */
static int split_words(char *s, char ***v, size_t *n) {
    char *save = NULL;
    for (char *tok = strtok_r(s, " \t\r\n", &save); tok; tok = strtok_r(NULL, " \t\r\n", &save)) {
        char **nv = realloc(*v, (*n + 1) * sizeof(char *));
        if (nv == NULL) return -1;
        *v = nv;
        if ((nv[*n] = strdup(tok)) == NULL) return -1;
        (*n)++;
    }
    return 0;
}

static void free_strings(char **v, size_t n) {
    for (size_t i = 0; i < n; i++) free(v[i]);
    free(v);
}

static int oom(struct resolver *r) {
    snprintf(r->err, r->errlen, "%s: out of memory while reading the module lists", r->dir);
    return -1;
}

static int parse_dep_line(struct resolver *r, char *line) {
    char *colon = strchr(line, ':');
    if (colon == NULL) return 0; /* blank or malformed: nothing to learn */
    *colon = '\0';
    char *save = NULL;
    char *path = strtok_r(line, " \t\r\n", &save);
    if (path == NULL) return 0;
    struct dep_line *nl = realloc(r->lines, (r->nlines + 1) * sizeof(*nl));
    if (nl == NULL) return oom(r);
    r->lines = nl;
    struct dep_line *d = &nl[r->nlines++];
    memset(d, 0, sizeof(*d));
    d->path = strdup(path);
    d->name = module_name_from_path(path);
    if (d->path == NULL || d->name == NULL) return oom(r);
    if (split_words(colon + 1, &d->deps, &d->ndeps) < 0) return oom(r);
    return 0;
}

static int read_modules_dep(struct resolver *r) {
    char path[4096];
    snprintf(path, sizeof(path), "%s/modules.dep", r->dir);
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        snprintf(r->err, r->errlen,
                 "%s: %s; the kernel's modules are needed (install the matching linux-image package or set modules_dir)",
                 path, strerror(errno));
        return -1;
    }
    char *line = NULL;
    size_t cap = 0;
    int rc = 0;
    while (rc == 0 && getline(&line, &cap, f) >= 0) rc = parse_dep_line(r, line);
    if (rc == 0 && ferror(f)) {
        snprintf(r->err, r->errlen, "%s: read failed: %s", path, strerror(errno));
        rc = -1;
    }
    free(line);
    fclose(f);
    return rc;
}

/* A kernel without modules.builtin simply has nothing we know to be built in. */
static int read_modules_builtin(struct resolver *r) {
    char path[4096];
    snprintf(path, sizeof(path), "%s/modules.builtin", r->dir);
    FILE *f = fopen(path, "r");
    if (f == NULL && errno == ENOENT) return 0;
    if (f == NULL) {
        snprintf(r->err, r->errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    char *line = NULL;
    size_t cap = 0;
    int rc = 0;
    while (rc == 0 && getline(&line, &cap, f) >= 0) {
        char *save = NULL;
        char *word = strtok_r(line, " \t\r\n", &save);
        if (word == NULL) continue;
        char **nb = realloc(r->builtin, (r->nbuiltin + 1) * sizeof(char *));
        if (nb == NULL) { rc = oom(r); break; }
        r->builtin = nb;
        if ((nb[r->nbuiltin] = module_name_from_path(word)) == NULL) { rc = oom(r); break; }
        r->nbuiltin++;
    }
    free(line);
    fclose(f);
    return rc;
}

static int is_builtin(const struct resolver *r, const char *name) {
    for (size_t i = 0; i < r->nbuiltin; i++)
        if (same_module_name(r->builtin[i], name)) return 1;
    return 0;
}

static long find_line_by_path(const struct resolver *r, const char *path) {
    for (size_t i = 0; i < r->nlines; i++)
        if (strcmp(r->lines[i].path, path) == 0) return (long)i;
    return -1;
}

static long find_line_by_name(const struct resolver *r, const char *name) {
    for (size_t i = 0; i < r->nlines; i++)
        if (same_module_name(r->lines[i].name, name)) return (long)i;
    return -1;
}

/* Appends dir/rel to the output unless it is already there. */
static int emit_module(struct resolver *r, const char *rel) {
    if (is_compressed_module(rel)) {
        snprintf(r->err, r->errlen,
                 "%s/%s: compressed kernel modules are not supported yet (Debian 12 ships them uncompressed)",
                 r->dir, rel);
        return -1;
    }
    char *abs = NULL;
    if (rel[0] == '/') abs = strdup(rel);
    else if (asprintf(&abs, "%s/%s", r->dir, rel) < 0) abs = NULL;
    if (abs == NULL) return oom(r);
    struct module_list *out = r->out;
    for (size_t i = 0; i < out->n; i++) {
        if (strcmp(out->paths[i], abs) == 0) {
            free(abs);
            return 0;
        }
    }
    char **np = realloc(out->paths, (out->n + 1) * sizeof(char *));
    if (np == NULL) {
        free(abs);
        return oom(r);
    }
    out->paths = np;
    out->paths[out->n++] = abs;
    return 0;
}

static int visit_line(struct resolver *r, size_t idx);

/* One dependency path from a modules.dep line: skip if builtin, recurse if it has a line. */
static int visit_dep(struct resolver *r, const char *dep) {
    char *name = module_name_from_path(dep);
    if (name == NULL) return oom(r);
    int builtin = is_builtin(r, name);
    free(name);
    if (builtin) return 0;
    long j = find_line_by_path(r, dep);
    return j >= 0 ? visit_line(r, (size_t)j) : emit_module(r, dep);
}

static int visit_line(struct resolver *r, size_t idx) {
    if (r->state[idx] != 0) return 0; /* done, or a dependency cycle we refuse to follow */
    r->state[idx] = 1;
    const struct dep_line *d = &r->lines[idx];
    for (size_t k = d->ndeps; k > 0; k--)
        if (visit_dep(r, d->deps[k - 1]) < 0) return -1;
    r->state[idx] = 2;
    return emit_module(r, d->path);
}

static void resolver_free(struct resolver *r) {
    for (size_t i = 0; i < r->nlines; i++) {
        free(r->lines[i].path);
        free(r->lines[i].name);
        free_strings(r->lines[i].deps, r->lines[i].ndeps);
    }
    free(r->lines);
    free_strings(r->builtin, r->nbuiltin);
    free(r->state);
}

int modules_resolve(const char *modules_dir, const char *const *wanted, size_t n_wanted,
                    struct module_list *out, char *err, size_t errlen) {
    out->paths = NULL;
    out->n = 0;
    struct resolver r = { .dir = modules_dir, .out = out, .err = err, .errlen = errlen };
    int rc = read_modules_dep(&r);
    if (rc == 0) rc = read_modules_builtin(&r);
    if (rc == 0 && (r.state = calloc(r.nlines + 1, 1)) == NULL) rc = oom(&r);
    for (size_t i = 0; rc == 0 && i < n_wanted; i++) {
        if (is_builtin(&r, wanted[i])) continue;
        long idx = find_line_by_name(&r, wanted[i]);
        if (idx >= 0) rc = visit_line(&r, (size_t)idx);
    }
    resolver_free(&r);
    if (rc < 0) module_list_free(out);
    return rc;
}

void module_list_free(struct module_list *l) {
    free_strings(l->paths, l->n);
    l->paths = NULL;
    l->n = 0;
}

/* Returns 0 if path is a directory, else an errno value saying why not. */
static int directory_problem(const char *path) {
    struct stat st;
    if (stat(path, &st) != 0) return errno;
    return S_ISDIR(st.st_mode) ? 0 : ENOTDIR;
}

int modules_resolve_virtio(const char *modules_dir, const char *version, struct module_list *out,
                           char *err, size_t errlen) {
    out->paths = NULL;
    out->n = 0;
    char dflt[4096];
    if (modules_dir == NULL) {
        snprintf(dflt, sizeof(dflt), "/lib/modules/%s", version);
        if (directory_problem(dflt) != 0) return 0;
        modules_dir = dflt;
    } else {
        int e = directory_problem(modules_dir);
        if (e != 0) {
            snprintf(err, errlen, "%s: %s; the kernel's modules are needed "
                     "(install the matching linux-image package or set modules_dir)", modules_dir, strerror(e));
            return -1;
        }
    }
    size_t n = 0;
    while (provium_virtio_modules[n]) n++;
    return modules_resolve(modules_dir, provium_virtio_modules, n, out, err, errlen);
}

/* The part of host_path below dir ("kernel/drivers/..."), or NULL if it is not below it. */
static const char *path_below(const char *dir, const char *host_path) {
    size_t len = strlen(dir);
    while (len > 1 && dir[len - 1] == '/') len--;
    if (strncmp(host_path, dir, len) != 0 || host_path[len] != '/') return NULL;
    const char *rel = host_path + len;
    while (*rel == '/') rel++;
    return rel;
}

int modules_stage(struct cpio_tree *t, const struct module_list *l, const char *modules_dir,
                  const char *version, const char *guest_root, const char *list_name, char *err,
                  size_t errlen) {
    char dflt[4096];
    if (modules_dir == NULL) {
        snprintf(dflt, sizeof(dflt), "/lib/modules/%s", version);
        modules_dir = dflt;
    }
    char *list = NULL;
    size_t listlen = 0;
    FILE *lf = open_memstream(&list, &listlen);
    if (lf == NULL) {
        snprintf(err, errlen, "%s: out of memory", list_name);
        return -1;
    }
    for (size_t i = 0; i < l->n; i++) {
        const char *rel = path_below(modules_dir, l->paths[i]);
        char guest[4096];
        const char *sep = guest_root[0] ? "/" : "";
        if (rel) snprintf(guest, sizeof(guest), "%s%slib/modules/%s/%s", guest_root, sep, version, rel);
        else snprintf(guest, sizeof(guest), "%s%s%s", guest_root, sep, l->paths[i] + (l->paths[i][0] == '/'));
        fprintf(lf, "/%s\n", guest);
        cpio_tree_file_from(t, guest, 0644, l->paths[i]);
    }
    if (fclose(lf) != 0) {
        free(list);
        snprintf(err, errlen, "%s: out of memory", list_name);
        return -1;
    }
    cpio_tree_file(t, list_name, 0644, list, listlen); /* tree errors are sticky: cpio_tree_write reports them */
    free(list);
    return 0;
}
