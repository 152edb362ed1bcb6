/* bundle.c - the source bundle and its tree_hash (spec §10.4).
 *
 * bundle_source walks source.path once, keeping files and symlinks whose relative path
 * matches an include glob and no exclude glob (an excluded directory is pruned whole),
 * then sorts every kept entry by relative path in byte order (not the walk's order:
 * "a-b" sorts before "a/b"), adds the non-empty directories, and in that order copies
 * each entry into dest_dir while feeding `<kind> <mode> <relpath>\0<record>\n` to the
 * tree hash. Files are read once in 1 MiB chunks that go to both the content hash and
 * the copy, so a huge file never sits in memory.
 *
 * Decisions where §10.4 is silent (also in docs/ARCHITECTURE.md's forge notes):
 *  - names are bytes: a name that is not UTF-8 is kept, sorted and hashed as its raw
 *    bytes (only error details escape it as \xNN);
 *  - there is no size limit; a file that cannot be read or written is
 *    E_SOURCE_COPY_FAILED;
 *  - only directories named .git are skipped (a .git file is an ordinary file);
 *  - a symlink is in the tree when its target, taken lexically from the link's
 *    directory, stays inside and, if it resolves on disk, resolves inside; a dangling
 *    in-tree link is kept as a link;
 *  - mode is st_mode & 07777 for files and directories; src/ itself is 0755;
 *  - an excluded directory is pruned with everything below it;
 *  - E_SOURCE_COPY_FAILED (I/O) exits 2, the other E_SOURCE_* codes 1.
 */
#include "forge/bundle.h"
#include "forge/forge.h"

#include "util/util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define BUNDLE_SRC_PATH ".apps[0].source.path"
#define BUNDLE_CHUNK (1 << 20)

struct bentry {
    char *rel;    /* relative path, '/'-separated */
    char kind;    /* 'f', 'l', 'd' */
    mode_t mode;  /* permission bits (f, d) */
    char *target; /* symlink target (l) */
};

struct bwalk {
    const char *root;      /* src_dir */
    char *root_real;       /* realpath(src_dir) */
    const char *const *inc;
    size_t n_inc;
    const char *const *exc;
    size_t n_exc;
    struct bentry *v;
    size_t n, cap;
    struct forge_errors *errs;
    int failed;
};

/* ---- globs ---- */

/* Length of the class starting at g ('['), or 0 when it is not closed. */
static size_t class_len(const char *g)
{
    size_t i = 1;
    if (g[i] == '!' || g[i] == '^')
        i++;
    if (g[i] == ']')
        i++;
    for (; g[i]; i++) {
        if (g[i] == '/')
            return 0;
        if (g[i] == ']')
            return i + 1;
    }
    return 0;
}

static int class_match(const char *g, size_t len, unsigned char c)
{
    size_t i = 1, end = len - 1;
    int neg = 0, hit = 0;
    if (g[i] == '!' || g[i] == '^') {
        neg = 1;
        i++;
    }
    for (int first = 1; i < end; first = 0) {
        unsigned char lo = (unsigned char)g[i];
        if (lo == ']' && !first)
            break;
        if (i + 2 < end && g[i + 1] == '-') {
            unsigned char hi = (unsigned char)g[i + 2];
            if (c >= lo && c <= hi)
                hit = 1;
            i += 3;
        } else {
            if (c == lo)
                hit = 1;
            i++;
        }
    }
    return hit != neg;
}

static int glob_valid(const char *g)
{
    if (!*g)
        return 0;
    for (; *g; g++) {
        if (*g == '\\') {
            if (!g[1])
                return 0;
            g++;
        } else if (*g == '[') {
            size_t n = class_len(g);
            if (!n)
                return 0;
            g += n - 1;
        }
    }
    return 1;
}

/* Is g a `**` segment at this position (segment start, followed by '/' or the end)? */
static int is_globstar(const char *g, int seg_start)
{
    return seg_start && g[0] == '*' && g[1] == '*' && (g[2] == '/' || g[2] == '\0');
}

static int match_here(const char *g, const char *p, int seg_start)
{
    while (*g) {
        if (is_globstar(g, seg_start)) {
            if (g[2] == '\0')
                return 1; /* the rest of the path, whatever it is */
            const char *rest = g + 3;
            for (const char *q = p;; q++) { /* zero or more whole segments */
                if ((q == p || q[-1] == '/') && match_here(rest, q, 1))
                    return 1;
                if (!*q)
                    return 0;
            }
        }
        if (*g == '*') {
            while (*g == '*')
                g++;
            for (const char *q = p;; q++) {
                if (match_here(g, q, 0))
                    return 1;
                if (!*q || *q == '/')
                    return 0;
            }
        }
        if (!*p)
            return 0;
        if (*g == '?') {
            if (*p == '/')
                return 0;
            g++;
        } else if (*g == '[') {
            size_t n = class_len(g);
            if (*p == '/' || !class_match(g, n, (unsigned char)*p))
                return 0;
            g += n;
        } else {
            if (*g == '\\')
                g++;
            if (*g != *p)
                return 0;
            g++;
        }
        seg_start = *p == '/';
        p++;
    }
    return *p == '\0';
}

int bundle_glob_match(const char *glob, const char *path)
{
    if (!glob || !glob_valid(glob))
        return -1;
    return match_here(glob, path, 1);
}

static int any_match(const char *const *globs, size_t n, const char *rel)
{
    for (size_t i = 0; i < n; i++)
        if (bundle_glob_match(globs[i], rel) == 1)
            return 1;
    return 0;
}

/* ---- the walk ---- */

static void add_entry(struct bwalk *w, const char *rel, char kind, mode_t mode, char *target)
{
    if (w->n == w->cap) {
        w->cap = w->cap ? w->cap * 2 : 256;
        w->v = xrealloc(w->v, w->cap * sizeof *w->v);
    }
    w->v[w->n++] = (struct bentry){xstrdup(rel), kind, mode & 07777, target};
}

static void walk_fail(struct bwalk *w, const char *code, const char *rel, const char *what)
{
    char *esc = utf8_escape(rel);
    if (!strcmp(code, "E_SOURCE_COPY_FAILED")) /* I/O: an environment error, exit 2 */
        forge_errors_add_fatal(w->errs, code, BUNDLE_SRC_PATH, "%s: %s", esc, what);
    else
        forge_errors_add(w->errs, code, BUNDLE_SRC_PATH, "%s: %s", esc, what);
    free(esc);
    w->failed = 1;
}

/* Does the link at rel (target t) stay inside the tree? Lexically, then on disk. */
static int link_inside(struct bwalk *w, const char *rel, const char *t)
{
    if (t[0] == '/' || !t[0])
        return 0;
    int depth = 0;
    for (const char *s = rel; *s; s++)
        depth += *s == '/';
    for (const char *s = t; *s;) {
        size_t n = strcspn(s, "/");
        if (n == 2 && s[0] == '.' && s[1] == '.')
            depth--;
        else if (n && !(n == 1 && s[0] == '.'))
            depth++;
        if (depth < 0)
            return 0;
        s += n;
        while (*s == '/')
            s++;
    }
    char *full = path_join(w->root, rel);
    char *real = realpath(full, NULL);
    free(full);
    if (!real)
        return 1; /* dangling or a loop: lexically inside is enough */
    size_t rl = strlen(w->root_real);
    int inside = !strncmp(real, w->root_real, rl) && (real[rl] == '/' || !real[rl]);
    free(real);
    return inside;
}

static void walk_link(struct bwalk *w, int dfd, const char *name, const char *rel)
{
    char buf[PATH_MAX];
    ssize_t n = readlinkat(dfd, name, buf, sizeof buf - 1);
    if (n < 0) {
        walk_fail(w, "E_SOURCE_COPY_FAILED", rel, strerror(errno));
        return;
    }
    buf[n] = '\0';
    if (!link_inside(w, rel, buf)) {
        char *t = utf8_escape(buf);
        char *msg = xasprintf("symlink to '%s' leaves the source tree", t);
        walk_fail(w, "E_SOURCE_OUT_OF_TREE_SYMLINK", rel, msg);
        free(msg);
        free(t);
        return;
    }
    add_entry(w, rel, 'l', 0, xstrdup(buf));
}

static void walk_dir(struct bwalk *w, int dfd, const char *prefix)
{
    DIR *d = fdopendir(dfd);
    if (!d) {
        close(dfd);
        walk_fail(w, "E_SOURCE_COPY_FAILED", prefix[0] ? prefix : ".", strerror(errno));
        return;
    }
    struct dirent *de;
    while ((de = readdir(d))) {
        const char *name = de->d_name;
        if (!strcmp(name, ".") || !strcmp(name, ".."))
            continue;
        char *rel = prefix[0] ? xasprintf("%s/%s", prefix, name) : xstrdup(name);
        struct stat st;
        if (fstatat(dirfd(d), name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
            walk_fail(w, "E_SOURCE_COPY_FAILED", rel, strerror(errno));
        } else if (S_ISDIR(st.st_mode)) {
            if (strcmp(name, ".git") != 0 && !any_match(w->exc, w->n_exc, rel)) {
                int sub = openat(dirfd(d), name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                if (sub < 0)
                    walk_fail(w, "E_SOURCE_COPY_FAILED", rel, strerror(errno));
                else
                    walk_dir(w, sub, rel);
                add_entry(w, rel, 'D', st.st_mode, NULL); /* 'D': kept only if non-empty */
            }
        } else if ((S_ISREG(st.st_mode) || S_ISLNK(st.st_mode)) &&
                   any_match(w->inc, w->n_inc, rel) && !any_match(w->exc, w->n_exc, rel)) {
            if (S_ISLNK(st.st_mode))
                walk_link(w, dirfd(d), name, rel);
            else
                add_entry(w, rel, 'f', st.st_mode, NULL);
        } /* devices, sockets, FIFOs: skipped silently */
        free(rel);
    }
    closedir(d);
}

static int cmp_entry(const void *a, const void *b)
{
    return strcmp(((const struct bentry *)a)->rel, ((const struct bentry *)b)->rel);
}

/* Keeps a directory ('D') only when some kept entry lies below it; sorts by path. */
static void settle_dirs(struct bwalk *w)
{
    if (w->n) /* qsort must not see the NULL of an empty walk */
        qsort(w->v, w->n, sizeof *w->v, cmp_entry);
    for (size_t i = 0; i < w->n; i++) {
        if (w->v[i].kind != 'D')
            continue;
        size_t l = strlen(w->v[i].rel);
        /* children sort after "dir/" and before anything > "dir/\xff"; a kept one
           (f, l, or a kept d) makes it non-empty. Scan until the prefix ends. */
        for (size_t j = i + 1; j < w->n; j++) {
            const char *r = w->v[j].rel;
            if (strncmp(r, w->v[i].rel, l) != 0)
                break;
            if (r[l] != '/')
                continue; /* "dir-x" style siblings interleave: keep scanning */
            if (w->v[j].kind != 'D') {
                w->v[i].kind = 'd';
                break;
            }
        }
    }
    size_t k = 0;
    for (size_t i = 0; i < w->n; i++) {
        if (w->v[i].kind == 'D')
            free(w->v[i].rel);
        else
            w->v[k++] = w->v[i];
    }
    w->n = k;
}

/* ---- copy and hash ---- */

static void hex(const unsigned char *md, unsigned len, char *out)
{
    for (unsigned i = 0; i < len; i++)
        sprintf(out + 2 * i, "%02x", md[i]);
}

/* Streams src (relative to root) into dest (NULL: none) while hashing it. */
static int copy_file(struct bwalk *w, const struct bentry *e, const char *dest, char *buf,
                     char out_hex[65])
{
    int in = -1, out = -1, rc = -1;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    char *src = path_join(w->root, e->rel);
    const char *what = NULL;
    in = open(src, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (in < 0)
        goto done;
    if (dest && (out = open(dest, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600)) < 0)
        goto done;
    EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
    for (;;) {
        ssize_t n = read(in, buf, BUNDLE_CHUNK);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            goto done;
        if (n == 0)
            break;
        EVP_DigestUpdate(ctx, buf, (size_t)n);
        if (out >= 0 && write_all(out, buf, (size_t)n) < 0)
            goto done;
    }
    if (out >= 0 && (fchmod(out, e->mode) < 0 || close(out) < 0)) {
        out = -1;
        goto done;
    }
    out = -1;
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned mdlen = 0;
    EVP_DigestFinal_ex(ctx, md, &mdlen);
    hex(md, mdlen, out_hex);
    rc = 0;
done:
    if (rc < 0) {
        what = strerror(errno);
        walk_fail(w, "E_SOURCE_COPY_FAILED", e->rel, what);
    }
    if (in >= 0)
        close(in);
    if (out >= 0)
        close(out);
    free(src);
    EVP_MD_CTX_free(ctx);
    return rc;
}

static void feed(EVP_MD_CTX *tree, const struct bentry *e, const char *record)
{
    char head[16];
    snprintf(head, sizeof head, "%c %04o ", e->kind, e->kind == 'l' ? 0120 : (unsigned)e->mode);
    EVP_DigestUpdate(tree, head, strlen(head));
    EVP_DigestUpdate(tree, e->rel, strlen(e->rel) + 1); /* with its NUL */
    EVP_DigestUpdate(tree, record, strlen(record));
    EVP_DigestUpdate(tree, "\n", 1);
}

static int emit_entry(struct bwalk *w, const struct bentry *e, const char *dest_dir,
                      EVP_MD_CTX *tree, char *buf)
{
    char *dest = dest_dir ? path_join(dest_dir, e->rel) : NULL;
    char record[65] = "";
    int rc = 0;
    if (e->kind == 'd') {
        if (dest && mkdir(dest, 0700) < 0)
            rc = -1;
        feed(tree, e, "");
    } else if (e->kind == 'l') {
        if (dest && symlink(e->target, dest) < 0)
            rc = -1;
        feed(tree, e, e->target);
    } else if (copy_file(w, e, dest, buf, record) == 0) {
        feed(tree, e, record);
    } else {
        rc = 1; /* already reported */
    }
    if (rc < 0)
        walk_fail(w, "E_SOURCE_COPY_FAILED", e->rel, strerror(errno));
    free(dest);
    return rc ? -1 : 0;
}

/* Directories were created 0700 so that read-only ones can be filled; now their bits. */
static void chmod_dirs(struct bwalk *w, const char *dest_dir)
{
    for (size_t i = w->n; i-- > 0;) {
        if (w->v[i].kind != 'd')
            continue;
        char *dest = path_join(dest_dir, w->v[i].rel);
        if (chmod(dest, w->v[i].mode) < 0)
            walk_fail(w, "E_SOURCE_COPY_FAILED", w->v[i].rel, strerror(errno));
        free(dest);
    }
}

static int check_globs(const char *const *g, size_t n, const char *field,
                       struct forge_errors *errs)
{
    int bad = 0;
    for (size_t i = 0; i < n; i++) {
        if (bundle_glob_match(g[i], "") < 0) {
            char *path = xasprintf(".apps[0].source.%s[%zu]", field, i);
            char *esc = utf8_escape(g[i] ? g[i] : "");
            forge_errors_add(errs, "E_SOURCE_GLOB_INVALID", path, "invalid glob '%s'", esc);
            free(esc);
            free(path);
            bad = 1;
        }
    }
    return bad;
}

static int bundle_copy(struct bwalk *w, const char *dest_dir, struct bundle_result *out)
{
    EVP_MD_CTX *tree = EVP_MD_CTX_new();
    char *buf = xmalloc(BUNDLE_CHUNK);
    EVP_DigestInit_ex(tree, EVP_sha256(), NULL);
    out->file_count = 0;
    for (size_t i = 0; i < w->n && !w->failed; i++) {
        if (emit_entry(w, &w->v[i], dest_dir, tree, buf) == 0 && w->v[i].kind != 'd')
            out->file_count++;
    }
    if (dest_dir && !w->failed)
        chmod_dirs(w, dest_dir);
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned mdlen = 0;
    EVP_DigestFinal_ex(tree, md, &mdlen);
    hex(md, mdlen, out->tree_hash);
    EVP_MD_CTX_free(tree);
    free(buf);
    return w->failed ? -1 : 0;
}

int bundle_source(const char *src_dir, const char *const *include, size_t n_include,
                  const char *const *exclude, size_t n_exclude, const char *dest_dir,
                  struct bundle_result *out, struct forge_errors *errs)
{
    static const char *const all[] = {"**"};
    struct bwalk w = {.root = src_dir, .inc = include, .n_inc = n_include, .exc = exclude,
                      .n_exc = n_exclude, .errs = errs};
    int rc = -1;
    memset(out, 0, sizeof *out);
    if (!include) {
        w.inc = all;
        w.n_inc = 1;
    }
    if (check_globs(w.inc, w.n_inc, "include", errs) |
        check_globs(exclude, n_exclude, "exclude", errs))
        goto done;
    w.root_real = realpath(src_dir, NULL);
    int fd = w.root_real ? open(src_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1;
    if (fd < 0) {
        walk_fail(&w, "E_SOURCE_COPY_FAILED", ".", strerror(errno));
        goto done;
    }
    walk_dir(&w, fd, "");
    if (w.failed)
        goto done;
    settle_dirs(&w);
    if (dest_dir && mkdir(dest_dir, 0755) < 0) {
        walk_fail(&w, "E_SOURCE_COPY_FAILED", "src/", strerror(errno));
        goto done;
    }
    rc = bundle_copy(&w, dest_dir, out);
done:
    for (size_t i = 0; i < w.n; i++) {
        free(w.v[i].rel);
        free(w.v[i].target);
    }
    free(w.v);
    free(w.root_real);
    return rc;
}
