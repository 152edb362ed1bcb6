/* util.c - implementation of the small shared helpers declared in util.h. */
#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

int g_verbose;

/* The one way the host writes about itself on stderr: every line of the message
 * (a multi-line message too) starts with "provium: ", and the whole message leaves in
 * one write so lines of concurrent workers never interleave. */
void vwarnx_p(const char *fmt, va_list ap)
{
    char stack[1024];
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(stack, sizeof stack, fmt, ap2);
    va_end(ap2);
    char *msg = stack;
    if (n < 0)
        return;
    if ((size_t)n >= sizeof stack) {
        msg = malloc((size_t)n + 1);
        if (!msg)
            return;
        vsnprintf(msg, (size_t)n + 1, fmt, ap);
    }
    size_t lines = 1;
    for (const char *p = msg; *p; p++)
        lines += *p == '\n';
    char *out = malloc((size_t)n + lines * 10 + 2);
    if (out) {
        size_t o = 0;
        for (const char *line = msg;;) {
            const char *nl = strchr(line, '\n');
            size_t len = nl ? (size_t)(nl - line) : strlen(line);
            memcpy(out + o, "provium: ", 9);
            memcpy(out + o + 9, line, len);
            o += 9 + len;
            out[o++] = '\n';
            if (!nl || !nl[1])
                break;
            line = nl + 1;
        }
        (void)!write(2, out, o);
        free(out);
    }
    if (msg != stack)
        free(msg);
}

void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vwarnx_p(fmt, ap);
    va_end(ap);
    exit(2);
}

void warnx_p(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vwarnx_p(fmt, ap);
    va_end(ap);
}

static void oom(void)
{
    static const char m[] = "provium: out of memory\n";
    (void)!write(2, m, sizeof m - 1);
    abort();
}

void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p)
        oom();
    return p;
}

void *xcalloc(size_t n, size_t m)
{
    void *p = calloc(n ? n : 1, m ? m : 1);
    if (!p)
        oom();
    return p;
}

void *xrealloc(void *p, size_t n)
{
    p = realloc(p, n ? n : 1);
    if (!p)
        oom();
    return p;
}

char *xstrdup(const char *s)
{
    char *d = strdup(s ? s : "");
    if (!d)
        oom();
    return d;
}

char *xstrndup(const char *s, size_t n)
{
    char *d = strndup(s, n);
    if (!d)
        oom();
    return d;
}

char *xasprintf(const char *fmt, ...)
{
    va_list ap;
    char *s;
    va_start(ap, fmt);
    if (vasprintf(&s, fmt, ap) < 0)
        oom();
    va_end(ap);
    return s;
}

/* ---- buf ---- */

static void buf_grow(struct buf *b, size_t extra)
{
    if (b->len + extra + 1 <= b->cap)
        return;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + extra + 1)
        cap *= 2;
    b->data = xrealloc(b->data, cap);
    b->cap = cap;
}

void buf_append(struct buf *b, const void *p, size_t n)
{
    buf_grow(b, n);
    if (n)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = 0;
}

void buf_puts(struct buf *b, const char *s) { buf_append(b, s, strlen(s)); }

void buf_sh_quote(struct buf *b, const char *s)
{
    buf_puts(b, "'");
    for (; *s; s++) {
        if (*s == '\'')
            buf_puts(b, "'\\''");
        else
            buf_append(b, s, 1);
    }
    buf_puts(b, "'");
}

void buf_printf(struct buf *b, const char *fmt, ...)
{
    if (fmt == NULL) /* never; says so to gcc's -Wformat-truncation under the sanitizers */
        return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    buf_grow(b, (size_t)n);
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

char *buf_cstr(struct buf *b)
{
    buf_grow(b, 0);
    b->data[b->len] = 0;
    return b->data;
}

void buf_free(struct buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

/* ---- strv ---- */

void strv_push(struct strv *s, const char *str)
{
    if (s->n + 2 > s->cap) {
        s->cap = s->cap ? s->cap * 2 : 16;
        s->v = xrealloc(s->v, s->cap * sizeof(char *));
    }
    s->v[s->n++] = xstrdup(str);
    s->v[s->n] = NULL;
}

void strv_pushf(struct strv *s, const char *fmt, ...)
{
    va_list ap;
    char *str;
    va_start(ap, fmt);
    if (vasprintf(&str, fmt, ap) < 0)
        oom();
    va_end(ap);
    strv_push(s, str);
    free(str);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

void strv_sort(struct strv *s)
{
    if (s->n > 1)
        qsort(s->v, s->n, sizeof(char *), cmp_str);
}

void strv_free(struct strv *s)
{
    for (size_t i = 0; i < s->n; i++)
        free(s->v[i]);
    free(s->v);
    s->v = NULL;
    s->n = s->cap = 0;
}

/* ---- files ---- */

char *read_file(const char *path, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return NULL;
    struct buf b = {0};
    char tmp[65536];
    for (;;) {
        ssize_t n = read(fd, tmp, sizeof tmp);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            int e = errno;
            close(fd);
            buf_free(&b);
            errno = e;
            return NULL;
        }
        if (n == 0)
            break;
        buf_append(&b, tmp, (size_t)n);
    }
    close(fd);
    if (len)
        *len = b.len;
    return buf_cstr(&b);
}

int write_all(int fd, const void *p, size_t n)
{
    const char *c = p;
    while (n > 0) {
        ssize_t w = write(fd, c, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        c += w;
        n -= (size_t)w;
    }
    return 0;
}

int write_file_atomic(const char *path, const void *data, size_t len, mode_t mode)
{
    char *dir = path_dirname(path);
    char *tmpl = xasprintf("%s/.tmp-XXXXXX", dir);
    free(dir);
    int fd = mkstemp(tmpl);
    if (fd < 0) {
        free(tmpl);
        return -1;
    }
    int rc = write_all(fd, data, len);
    if (rc == 0)
        rc = fchmod(fd, mode);
    if (rc == 0)
        rc = fsync(fd);
    int e = errno;
    close(fd);
    if (rc == 0 && rename(tmpl, path) < 0) {
        e = errno;
        rc = -1;
    }
    if (rc != 0)
        unlink(tmpl);
    free(tmpl);
    errno = e;
    return rc;
}

int mkdir_p(const char *path, mode_t mode)
{
    char *p = xstrdup(path);
    for (char *s = p + 1; *s; s++) {
        if (*s != '/')
            continue;
        *s = 0;
        if (mkdir(p, mode) < 0 && errno != EEXIST) {
            int e = errno;
            free(p);
            errno = e;
            return -1;
        }
        *s = '/';
    }
    int rc = mkdir(p, mode);
    int e = errno;
    free(p);
    if (rc < 0 && e == EEXIST) {
        struct stat st;
        if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
            return 0;
        errno = ENOTDIR;
        return -1;
    }
    errno = e;
    return rc;
}

int rm_rf(const char *path)
{
    struct stat st;
    if (lstat(path, &st) < 0)
        return errno == ENOENT ? 0 : -1;
    if (!S_ISDIR(st.st_mode))
        return unlink(path);
    DIR *d = opendir(path);
    if (!d)
        return -1;
    struct dirent *de;
    int rc = 0;
    while ((de = readdir(d))) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
            continue;
        char *sub = path_join(path, de->d_name);
        if (rm_rf(sub) < 0)
            rc = -1;
        free(sub);
    }
    closedir(d);
    if (rmdir(path) < 0)
        rc = -1;
    return rc;
}

char *path_join(const char *dir, const char *name)
{
    size_t n = strlen(dir);
    if (n && dir[n - 1] == '/')
        return xasprintf("%s%s", dir, name);
    return xasprintf("%s/%s", dir, name);
}

char *path_dirname(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (!slash)
        return xstrdup(".");
    if (slash == path)
        return xstrdup("/");
    return xstrndup(path, (size_t)(slash - path));
}

/* name itself when it has a slash, else the first executable of that name in $PATH;
 * NULL when there is none. */
char *find_executable(const char *name)
{
    if (strchr(name, '/'))
        return access(name, X_OK) == 0 ? xstrdup(name) : NULL;
    const char *path = getenv("PATH");
    char *dup = xstrdup(path ? path : "/usr/bin:/bin"), *found = NULL;
    for (char *s = strtok(dup, ":"); s && !found; s = strtok(NULL, ":")) {
        char *c = path_join(s, name);
        if (access(c, X_OK) == 0)
            found = c;
        else
            free(c);
    }
    free(dup);
    return found;
}

/* Lexically normalise an absolute path: collapse //, remove ".", resolve "..". */
static char *path_normalize(const char *abs)
{
    size_t n = strlen(abs);
    char *out = xmalloc(n + 2);
    size_t o = 0;
    const char *p = abs;
    while (*p) {
        while (*p == '/')
            p++;
        if (!*p)
            break;
        const char *e = strchr(p, '/');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        if (len == 1 && p[0] == '.') {
            /* skip */
        } else if (len == 2 && p[0] == '.' && p[1] == '.') {
            while (o > 0 && out[o - 1] != '/')
                o--;
            if (o > 0)
                o--;
        } else {
            out[o++] = '/';
            memcpy(out + o, p, len);
            o += len;
        }
        p += len;
    }
    if (o == 0)
        out[o++] = '/';
    out[o] = 0;
    return out;
}

char *path_resolve(const char *base_dir, const char *path)
{
    if (path[0] == '/')
        return path_normalize(path);
    char *joined;
    if (base_dir && base_dir[0] == '/') {
        joined = path_join(base_dir, path);
    } else {
        char cwd[PATH_MAX];
        if (!getcwd(cwd, sizeof cwd))
            strcpy(cwd, "/");
        char *b = base_dir ? path_join(cwd, base_dir) : xstrdup(cwd);
        joined = path_join(b, path);
        free(b);
    }
    char *r = path_normalize(joined);
    free(joined);
    return r;
}

static void walk_unsorted(const char *dir, const char *suffix, struct strv *out)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    size_t sl = strlen(suffix);
    struct dirent *de;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.')
            continue;
        char *p = path_join(dir, de->d_name);
        struct stat st;
        size_t n = strlen(de->d_name);
        if (lstat(p, &st) == 0) {
            if (S_ISDIR(st.st_mode))
                walk_unsorted(p, suffix, out);
            else if (S_ISREG(st.st_mode) && n > sl && !strcmp(de->d_name + n - sl, suffix))
                strv_push(out, p);
        }
        free(p);
    }
    closedir(d);
}

void walk_files_with_suffix(const char *dir, const char *suffix, struct strv *out)
{
    struct strv found = {0};
    walk_unsorted(dir, suffix, &found);
    strv_sort(&found);
    for (size_t i = 0; i < found.n; i++)
        strv_push(out, found.v[i]);
    strv_free(&found);
}

int file_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

/* ---- scratch directories ---- */

static const char *tmp_base(void)
{
    const char *tmp = getenv("TMPDIR");
    return tmp && *tmp ? tmp : "/tmp";
}

char *make_scratch_dir(const char *prefix)
{
    char *tmpl = xasprintf("%s/%s-XXXXXX", tmp_base(), prefix);
    if (!mkdtemp(tmpl)) {
        free(tmpl);
        return NULL;
    }
    chmod(tmpl, 0700);
    /* who made it, so that a later run can remove it once that process is gone */
    char *owner = path_join(tmpl, SCRATCH_OWNER_FILE);
    int fd = open(owner, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    free(owner);
    if (fd >= 0) {
        dprintf(fd, "%s\n", owner_tag());
        close(fd);
    }
    return tmpl;
}

/* 1 when dir (a directory of ours) records an owner that is gone, else 0. */
static int scratch_is_stale(const char *dir)
{
    char *owner = path_join(dir, SCRATCH_OWNER_FILE);
    int fd = open(owner, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    free(owner);
    if (fd < 0)
        return 0; /* no record (made before owners were recorded, or being made) */
    char tag[64];
    ssize_t n = read(fd, tag, sizeof tag - 1);
    close(fd);
    if (n <= 0)
        return 0;
    tag[n] = 0;
    tag[strcspn(tag, "\n")] = 0;
    return owner_tag_alive(tag) == 0;
}

int scratch_sweep_stale(const char *prefix)
{
    DIR *d = opendir(tmp_base());
    if (!d)
        return 0;
    size_t pl = strlen(prefix);
    int removed = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        /* <prefix>-XXXXXX, as mkdtemp names it */
        if (strncmp(de->d_name, prefix, pl) || de->d_name[pl] != '-' ||
            strlen(de->d_name + pl + 1) != 6)
            continue;
        char *p = path_join(tmp_base(), de->d_name);
        struct stat st;
        if (lstat(p, &st) == 0 && S_ISDIR(st.st_mode) && st.st_uid == geteuid() &&
            scratch_is_stale(p) && rm_rf(p) == 0)
            removed++;
        free(p);
    }
    closedir(d);
    return removed;
}

const char *self_exe_dir(void)
{
    static char dir[PATH_MAX];
    if (dir[0])
        return dir;
    ssize_t n = readlink("/proc/self/exe", dir, sizeof dir - 1);
    if (n <= 0) {
        strcpy(dir, ".");
        return dir;
    }
    dir[n] = 0;
    char *slash = strrchr(dir, '/');
    if (slash && slash != dir)
        *slash = 0;
    return dir;
}

const char *xdg_cache_home(void)
{
    static char *cached;
    if (cached)
        return cached;
    const char *x = getenv("XDG_CACHE_HOME");
    if (x && x[0] == '/')
        cached = xstrdup(x);
    else {
        const char *home = getenv("HOME");
        cached = xasprintf("%s/.cache", home && *home ? home : "/tmp");
    }
    return cached;
}

/* ---- owners of temporary names ---- */

int proc_stat_after_comm(pid_t pid, char *out, size_t n)
{
    char path[64], text[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t len = read(fd, text, sizeof text - 1);
    close(fd);
    if (len <= 0)
        return -1;
    text[len] = 0;
    char *p = strrchr(text, ')'); /* the command name may hold spaces and parentheses */
    if (!p || p[1] != ' ')
        return -1;
    snprintf(out, n, "%s", p + 2);
    return 0;
}

/* State letter and start time (field 22, clock ticks since boot) of pid; -1 when gone. */
static int proc_stat_start(pid_t pid, char *state, unsigned long long *start)
{
    char fields[1024];
    if (proc_stat_after_comm(pid, fields, sizeof fields) < 0)
        return -1;
    char *p = fields;
    *state = *p;
    for (int field = 3; field < 22; field++) { /* skip to field 22 */
        p = strchr(p, ' ');
        if (!p)
            return -1;
        p++;
    }
    *start = strtoull(p, NULL, 10);
    return 0;
}

const char *owner_tag(void)
{
    static char tag[48];
    static pid_t for_pid;
    pid_t me = getpid();
    if (for_pid != me) { /* a forked worker gets its own */
        char state;
        unsigned long long start = 0;
        proc_stat_start(me, &state, &start);
        snprintf(tag, sizeof tag, "%d-%llu", (int)me, start);
        for_pid = me;
    }
    return tag;
}

int owner_tag_alive(const char *s)
{
    char *end;
    errno = 0;
    unsigned long pid = strtoul(s, &end, 10);
    if (end == s || *end != '-' || errno || pid == 0 || pid > INT_MAX)
        return -1;
    const char *p = end + 1;
    unsigned long long start = strtoull(p, &end, 10);
    if (end == p || errno || (*end && *end != '-'))
        return -1;
    if (kill((pid_t)pid, 0) < 0 && errno == ESRCH)
        return 0;
    char state;
    unsigned long long now_start;
    if (proc_stat_start((pid_t)pid, &state, &now_start) < 0)
        return 1; /* it exists but /proc hides it: assume it is the owner */
    return now_start == start && state != 'Z' && state != 'X';
}

/* ---- time ---- */

int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

double wall_time(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

void collapse_ws(char *s)
{
    char *o = s;
    int in_ws = 1; /* drop leading */
    for (char *p = s; *p; p++) {
        if (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r' || *p == '\v' || *p == '\f') {
            if (!in_ws)
                *o++ = ' ';
            in_ws = 1;
        } else {
            *o++ = *p;
            in_ws = 0;
        }
    }
    if (o > s && o[-1] == ' ')
        o--;
    *o = 0;
}

/* Length of the well-formed UTF-8 sequence at p (RFC 3629: no overlongs, no
 * surrogates, nothing above U+10FFFF), or 0 when the byte at p starts none. */
/* Length of the well-formed UTF-8 sequence at p (RFC 3629: no overlong forms, no
 * surrogates, nothing above U+10FFFF), or 0. */
size_t utf8_seq_len(const unsigned char *p, size_t avail)
{
    unsigned c = p[0];
    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf)
        return avail >= 2 && (p[1] & 0xc0) == 0x80 ? 2 : 0;
    unsigned lo = 0x80, hi = 0xbf;
    size_t n;
    if (c >= 0xe0 && c <= 0xef) {
        n = 3;
        if (c == 0xe0)
            lo = 0xa0;          /* overlong */
        else if (c == 0xed)
            hi = 0x9f;          /* UTF-16 surrogates */
    } else if (c >= 0xf0 && c <= 0xf4) {
        n = 4;
        if (c == 0xf0)
            lo = 0x90;          /* overlong */
        else if (c == 0xf4)
            hi = 0x8f;          /* above U+10FFFF */
    } else {
        return 0;
    }
    if (avail < n || p[1] < lo || p[1] > hi)
        return 0;
    for (size_t i = 2; i < n; i++)
        if ((p[i] & 0xc0) != 0x80)
            return 0;
    return n;
}

char *utf8_escape(const char *s)
{
    if (!s)
        return NULL;
    struct buf b = {0};
    const unsigned char *p = (const unsigned char *)s;
    const unsigned char *end = p + strlen(s);
    while (*p) {
        size_t n = utf8_seq_len(p, (size_t)(end - p));
        if (n) {
            buf_append(&b, p, n);
            p += n;
        } else {
            buf_printf(&b, "\\x%02x", *p);
            p++;
        }
    }
    return buf_cstr(&b);
}
