/* cpio.c - a deterministic writer for "newc" (070701) cpio archives.
 *
 * The kernel's initramfs unpacker reads newc: a 110 byte ASCII header of thirteen 8-digit
 * hex fields, the NUL-terminated name padded so the next byte is 4-aligned, then the file
 * data padded to 4 bytes, and finally an entry named "TRAILER!!!". We write every field
 * that would otherwise leak host state (times, owners, devices) as 0 and number inodes in
 * insertion order, so the same entries always give the same bytes. See cpio.h for the API
 * and the sticky error convention; struct cpio_tree (bottom half) adds sorted output.
 */
#include "image/cpio.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CPIO_MAGIC "070701"
#define CPIO_HEADER_LEN 110
#define CPIO_MAX_NAME 4096
#define CPIO_MAX_SIZE 0xFFFFFFFFull
#define CPIO_TRAILER "TRAILER!!!"
#define CPIO_BLOCK 512

struct cpio {
    FILE *f;
    char *path;              /* destination */
    char *tmp;               /* temp file beside it, renamed over path on finish */
    unsigned long next_ino;
    unsigned long long offset; /* bytes written so far, for padding */
    int failed;
    char err[600];
};

static void cpio_fail(struct cpio *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void cpio_fail(struct cpio *c, const char *fmt, ...) {
    if (c->failed) return;
    c->failed = 1;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->err, sizeof(c->err), fmt, ap);
    va_end(ap);
}

/* Returns NULL if name is acceptable, else why not. */
static const char *cpio_name_problem(const char *name) {
    if (name == NULL || name[0] == '\0') return "is empty";
    if (name[0] == '/') return "must not start with '/'";
    if (strlen(name) >= CPIO_MAX_NAME) return "is too long";
    const char *p = name;
    while (*p) {
        const char *slash = strchr(p, '/');
        size_t len = slash ? (size_t)(slash - p) : strlen(p);
        if (len == 0) return "has an empty path component";
        if ((len == 1 && p[0] == '.') || (len == 2 && p[0] == '.' && p[1] == '.'))
            return "has a '.' or '..' component";
        if (!slash) break;
        p = slash + 1;
        if (*p == '\0') return "ends with '/'";
    }
    return NULL;
}

static int cpio_check_name(struct cpio *c, const char *name) {
    const char *problem = cpio_name_problem(name);
    if (problem == NULL) return 0;
    cpio_fail(c, "%s: archive entry name '%s' %s", c->path, name ? name : "", problem);
    return -1;
}

static void cpio_write(struct cpio *c, const void *buf, size_t len) {
    if (c->failed || len == 0) return;
    if (fwrite(buf, 1, len, c->f) != len) {
        cpio_fail(c, "%s: write failed: %s", c->tmp, strerror(errno));
        return;
    }
    c->offset += len;
}

static void cpio_pad(struct cpio *c, unsigned align) {
    static const char zeros[CPIO_BLOCK];
    size_t rem = (size_t)(c->offset % align);
    if (rem) cpio_write(c, zeros, align - rem);
}

/* Writes the 13 header fields as 8 uppercase hex digits each, like the kernel's gen_init_cpio. */
static void cpio_write_header(struct cpio *c, unsigned long ino, unsigned mode, unsigned nlink,
                              unsigned long long size, unsigned rmajor, unsigned rminor,
                              const char *name) {
    static const char hex[] = "0123456789ABCDEF";
    size_t namesize = strlen(name) + 1;
    uint32_t fields[13] = {
        (uint32_t)ino, mode, 0 /* uid */, 0 /* gid */, nlink, 0 /* mtime */, (uint32_t)size,
        0 /* devmajor */, 0 /* devminor */, rmajor, rminor, (uint32_t)namesize, 0 /* check */,
    };
    char hdr[CPIO_HEADER_LEN];
    memcpy(hdr, CPIO_MAGIC, 6);
    for (int f = 0; f < 13; f++)
        for (int d = 0; d < 8; d++) hdr[6 + f * 8 + d] = hex[(fields[f] >> (28 - 4 * d)) & 0xf];
    cpio_write(c, hdr, CPIO_HEADER_LEN);
    cpio_write(c, name, namesize);
    cpio_pad(c, 4);
}

struct cpio *cpio_create(const char *path, char *err, size_t errlen) {
    struct cpio *c = calloc(1, sizeof(*c));
    if (c == NULL) {
        snprintf(err, errlen, "%s: out of memory", path);
        return NULL;
    }
    const char *slash = strrchr(path, '/');
    int dirlen = slash ? (int)(slash - path + 1) : 0;
    const char *base = slash ? slash + 1 : path;
    c->path = strdup(path);
    if (c->path == NULL || asprintf(&c->tmp, "%.*s.%s.XXXXXX", dirlen, path, base) < 0) {
        c->tmp = NULL;
        snprintf(err, errlen, "%s: out of memory", path);
        cpio_abort(c);
        return NULL;
    }
    int fd = mkstemp(c->tmp);
    if (fd < 0) {
        snprintf(err, errlen, "%s: cannot create a temporary file beside it: %s", path, strerror(errno));
        free(c->tmp);
        c->tmp = NULL;
        cpio_abort(c);
        return NULL;
    }
    fchmod(fd, 0644);
    c->f = fdopen(fd, "wb");
    if (c->f == NULL) {
        snprintf(err, errlen, "%s: %s", c->tmp, strerror(errno));
        close(fd);
        cpio_abort(c);
        return NULL;
    }
    c->next_ino = 1;
    return c;
}

int cpio_add_dir(struct cpio *c, const char *name, unsigned mode) {
    if (c->failed || cpio_check_name(c, name) < 0) return -1;
    cpio_write_header(c, c->next_ino++, S_IFDIR | (mode & 07777), 2, 0, 0, 0, name);
    return c->failed ? -1 : 0;
}

int cpio_add_file(struct cpio *c, const char *name, unsigned mode, const void *data, size_t len) {
    if (c->failed || cpio_check_name(c, name) < 0) return -1;
    if ((unsigned long long)len > CPIO_MAX_SIZE) {
        cpio_fail(c, "%s: '%s' is larger than a cpio entry can hold (4 GiB)", c->path, name);
        return -1;
    }
    cpio_write_header(c, c->next_ino++, S_IFREG | (mode & 07777), 1, len, 0, 0, name);
    cpio_write(c, data, len);
    cpio_pad(c, 4);
    return c->failed ? -1 : 0;
}

/* Copies exactly `size` bytes of fd into the archive; fails if the file shrank or grew. */
static void cpio_copy_fd(struct cpio *c, int fd, unsigned long long size, const char *host_path) {
    char buf[65536];
    unsigned long long done = 0;
    while (!c->failed) {
        ssize_t n = read(fd, buf, sizeof(buf));
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            cpio_fail(c, "%s: read failed: %s", host_path, strerror(errno));
            return;
        }
        if (n == 0) break;
        if (done + (unsigned long long)n > size) break;
        cpio_write(c, buf, (size_t)n);
        done += (unsigned long long)n;
    }
    if (!c->failed && done != size)
        cpio_fail(c, "%s: file changed size while it was being archived", host_path);
}

int cpio_add_file_from(struct cpio *c, const char *name, unsigned mode, const char *host_path) {
    if (c->failed || cpio_check_name(c, name) < 0) return -1;
    int fd = open(host_path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        cpio_fail(c, "%s: %s", host_path, strerror(errno));
        return -1;
    }
    struct stat st;
    if (fstat(fd, &st) < 0) {
        cpio_fail(c, "%s: %s", host_path, strerror(errno));
    } else if (!S_ISREG(st.st_mode)) {
        cpio_fail(c, "%s is not a regular file", host_path);
    } else if ((unsigned long long)st.st_size > CPIO_MAX_SIZE) {
        cpio_fail(c, "%s is larger than a cpio entry can hold (4 GiB)", host_path);
    } else {
        unsigned long long size = (unsigned long long)st.st_size;
        cpio_write_header(c, c->next_ino++, S_IFREG | (mode & 07777), 1, size, 0, 0, name);
        cpio_copy_fd(c, fd, size, host_path);
        cpio_pad(c, 4);
    }
    close(fd);
    return c->failed ? -1 : 0;
}

int cpio_add_symlink(struct cpio *c, const char *name, const char *target) {
    if (c->failed || cpio_check_name(c, name) < 0) return -1;
    size_t len = strlen(target);
    if (len == 0 || len >= CPIO_MAX_NAME) {
        cpio_fail(c, "%s: symlink '%s' has an empty or overlong target", c->path, name);
        return -1;
    }
    cpio_write_header(c, c->next_ino++, S_IFLNK | 0777, 1, len, 0, 0, name);
    cpio_write(c, target, len);
    cpio_pad(c, 4);
    return c->failed ? -1 : 0;
}

int cpio_add_chardev(struct cpio *c, const char *name, unsigned mode, unsigned major, unsigned minor) {
    if (c->failed || cpio_check_name(c, name) < 0) return -1;
    cpio_write_header(c, c->next_ino++, S_IFCHR | (mode & 07777), 1, 0, major, minor, name);
    return c->failed ? -1 : 0;
}

static void cpio_free(struct cpio *c) {
    free(c->path);
    free(c->tmp);
    free(c);
}

void cpio_abort(struct cpio *c) {
    if (c == NULL) return;
    if (c->f) fclose(c->f);
    if (c->tmp) unlink(c->tmp);
    cpio_free(c);
}

/* Makes the rename durable; failure here is not worth failing the build for. */
static void fsync_parent_dir(const char *path) {
    const char *slash = strrchr(path, '/');
    char dir[4096];
    if (slash == NULL) snprintf(dir, sizeof(dir), ".");
    else if (slash == path) snprintf(dir, sizeof(dir), "/");
    else snprintf(dir, sizeof(dir), "%.*s", (int)(slash - path), path);
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return;
    fsync(fd);
    close(fd);
}

int cpio_finish(struct cpio *c, char *err, size_t errlen) {
    cpio_write_header(c, 0, 0, 1, 0, 0, 0, CPIO_TRAILER);
    cpio_pad(c, CPIO_BLOCK);
    if (!c->failed && (fflush(c->f) != 0 || fsync(fileno(c->f)) != 0))
        cpio_fail(c, "%s: write failed: %s", c->tmp, strerror(errno));
    FILE *f = c->f;
    c->f = NULL;
    if (fclose(f) != 0) cpio_fail(c, "%s: write failed: %s", c->tmp, strerror(errno));
    if (!c->failed && rename(c->tmp, c->path) != 0)
        cpio_fail(c, "%s: cannot rename %s into place: %s", c->path, c->tmp, strerror(errno));
    if (c->failed) {
        snprintf(err, errlen, "%s", c->err);
        cpio_abort(c);
        return -1;
    }
    fsync_parent_dir(c->path);
    cpio_free(c);
    return 0;
}

/* ---------------------------------------------------------------------------------
 * cpio_tree: collect entries, then write them sorted by name.
 * ------------------------------------------------------------------------------- */

enum tree_kind { TREE_DIR, TREE_FILE, TREE_FILE_FROM, TREE_SYMLINK, TREE_CHARDEV };

struct tree_entry {
    char *name;
    enum tree_kind kind;
    unsigned mode;
    int implied;      /* a parent directory nobody added explicitly */
    int assumed;      /* a directory the archive is unpacked over: no entry is written */
    void *data;       /* TREE_FILE */
    size_t len;
    char *str;        /* TREE_FILE_FROM host path, TREE_SYMLINK target */
    unsigned major, minor;
};

struct cpio_tree {
    struct tree_entry *v;
    size_t n, cap;
    int failed;
    char err[600];
};

static void tree_fail(struct cpio_tree *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void tree_fail(struct cpio_tree *t, const char *fmt, ...) {
    if (t->failed) return;
    t->failed = 1;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(t->err, sizeof(t->err), fmt, ap);
    va_end(ap);
}

struct cpio_tree *cpio_tree_new(void) {
    return calloc(1, sizeof(struct cpio_tree));
}

static struct tree_entry *tree_find(struct cpio_tree *t, const char *name, size_t namelen) {
    for (size_t i = 0; i < t->n; i++)
        if (strncmp(t->v[i].name, name, namelen) == 0 && t->v[i].name[namelen] == '\0') return &t->v[i];
    return NULL;
}

static struct tree_entry *tree_push(struct cpio_tree *t, const char *name, size_t namelen) {
    if (t->n == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 64;
        struct tree_entry *v = realloc(t->v, cap * sizeof(*v));
        if (v == NULL) {
            tree_fail(t, "out of memory while collecting archive entries");
            return NULL;
        }
        t->v = v;
        t->cap = cap;
    }
    struct tree_entry *e = &t->v[t->n];
    memset(e, 0, sizeof(*e));
    e->name = strndup(name, namelen);
    if (e->name == NULL) {
        tree_fail(t, "out of memory while collecting archive entries");
        return NULL;
    }
    t->n++;
    return e;
}

/* Adds 0755 directories for every missing parent of name ("a/b/c" -> "a", "a/b"). */
static int tree_ensure_parents(struct cpio_tree *t, const char *name) {
    for (const char *p = strchr(name, '/'); p; p = strchr(p + 1, '/')) {
        size_t len = (size_t)(p - name);
        struct tree_entry *e = tree_find(t, name, len);
        if (e && e->kind != TREE_DIR) {
            tree_fail(t, "archive entry '%s' is placed under '%.*s', which is not a directory",
                      name, (int)len, name);
            return -1;
        }
        if (e) continue;
        e = tree_push(t, name, len);
        if (e == NULL) return -1;
        e->kind = TREE_DIR;
        e->mode = 0755;
        e->implied = 1;
    }
    return 0;
}

/* Common start of every cpio_tree_* add: validates, adds parents, rejects duplicates. */
static struct tree_entry *tree_add(struct cpio_tree *t, const char *name, enum tree_kind kind) {
    if (t->failed) return NULL;
    const char *problem = cpio_name_problem(name);
    if (problem) {
        tree_fail(t, "archive entry name '%s' %s", name ? name : "", problem);
        return NULL;
    }
    if (tree_ensure_parents(t, name) < 0) return NULL;
    struct tree_entry *e = tree_find(t, name, strlen(name));
    if (e && kind == TREE_DIR && e->kind == TREE_DIR) return e; /* re-adding a dir sets its mode */
    if (e) {
        tree_fail(t, "archive entry '%s' is added twice", name);
        return NULL;
    }
    e = tree_push(t, name, strlen(name));
    if (e) e->kind = kind;
    return e;
}

int cpio_tree_dir(struct cpio_tree *t, const char *name, unsigned mode) {
    struct tree_entry *e = tree_add(t, name, TREE_DIR);
    if (e == NULL) return -1;
    e->mode = mode & 07777;
    e->implied = 0;
    e->assumed = 0;
    return 0;
}

int cpio_tree_assume_dir(struct cpio_tree *t, const char *name) {
    struct tree_entry *e = tree_add(t, name, TREE_DIR);
    if (e == NULL) return -1;
    e->mode = 0755;
    e->implied = 0;
    e->assumed = 1;
    return 0;
}

int cpio_tree_file(struct cpio_tree *t, const char *name, unsigned mode, const void *data, size_t len) {
    struct tree_entry *e = tree_add(t, name, TREE_FILE);
    if (e == NULL) return -1;
    e->mode = mode & 07777;
    e->len = len;
    e->data = malloc(len ? len : 1);
    if (e->data == NULL) {
        tree_fail(t, "out of memory while collecting archive entry '%s'", name);
        return -1;
    }
    if (len) memcpy(e->data, data, len);
    return 0;
}

int cpio_tree_file_from(struct cpio_tree *t, const char *name, unsigned mode, const char *host_path) {
    struct tree_entry *e = tree_add(t, name, TREE_FILE_FROM);
    if (e == NULL) return -1;
    e->mode = mode & 07777;
    e->str = strdup(host_path);
    if (e->str == NULL) {
        tree_fail(t, "out of memory while collecting archive entry '%s'", name);
        return -1;
    }
    return 0;
}

int cpio_tree_symlink(struct cpio_tree *t, const char *name, const char *target) {
    struct tree_entry *e = tree_add(t, name, TREE_SYMLINK);
    if (e == NULL) return -1;
    e->mode = 0777;
    e->str = strdup(target);
    if (e->str == NULL) {
        tree_fail(t, "out of memory while collecting archive entry '%s'", name);
        return -1;
    }
    return 0;
}

int cpio_tree_chardev(struct cpio_tree *t, const char *name, unsigned mode, unsigned major, unsigned minor) {
    struct tree_entry *e = tree_add(t, name, TREE_CHARDEV);
    if (e == NULL) return -1;
    e->mode = mode & 07777;
    e->major = major;
    e->minor = minor;
    return 0;
}

static int tree_entry_cmp(const void *a, const void *b) {
    const struct tree_entry *x = a, *y = b;
    return strcmp(x->name, y->name);
}

static void tree_emit(struct cpio *c, const struct tree_entry *e) {
    switch (e->kind) {
    case TREE_DIR: cpio_add_dir(c, e->name, e->mode); break;
    case TREE_FILE: cpio_add_file(c, e->name, e->mode, e->data, e->len); break;
    case TREE_FILE_FROM: cpio_add_file_from(c, e->name, e->mode, e->str); break;
    case TREE_SYMLINK: cpio_add_symlink(c, e->name, e->str); break;
    case TREE_CHARDEV: cpio_add_chardev(c, e->name, e->mode, e->major, e->minor); break;
    }
}

int cpio_tree_write(struct cpio_tree *t, const char *path, char *err, size_t errlen) {
    if (t->failed) {
        snprintf(err, errlen, "%s: %s", path, t->err);
        return -1;
    }
    qsort(t->v, t->n, sizeof(t->v[0]), tree_entry_cmp);
    struct cpio *c = cpio_create(path, err, errlen);
    if (c == NULL) return -1;
    for (size_t i = 0; i < t->n; i++)
        if (!t->v[i].assumed) tree_emit(c, &t->v[i]);
    return cpio_finish(c, err, errlen);
}

void cpio_tree_free(struct cpio_tree *t) {
    if (t == NULL) return;
    for (size_t i = 0; i < t->n; i++) {
        free(t->v[i].name);
        free(t->v[i].data);
        free(t->v[i].str);
    }
    free(t->v);
    free(t);
}
