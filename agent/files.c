/* files.c - the file requests: READ_FILE, WRITE_FILE, STAT, LISTDIR, MKDIR, UNLINK,
 * RENAME, and the file handles: OPEN, HREAD, HWRITE, HSEEK, HCLOSE.
 *
 * READ_FILE streams DATA frames until EOF (so /proc files, whose size reads 0, work)
 * and then a RESULT with the total; it is a session that sends one chunk per loop
 * round, so a large file does not starve the other requests. WRITE_FILE opens the file
 * at once and writes each following DATA frame straight from the input buffer to the
 * fd; if the open failed, the DATA frames are still swallowed and the first error is
 * reported at the end, so the host's stream never desynchronises. The rest are one
 * syscall or so each, answered on the spot. A RESULT with an error carries only errno
 * and a message: the op-specific fields follow only on success.
 *
 * Handles are a fixed table of WIRE_MAX_HANDLES open fds keyed by a handle id the
 * agent picks (never 0, not reused while open). Each HREAD/HWRITE is one bounded
 * read()/write() round answered at once; the fds are O_NONBLOCK, so a FIFO or device
 * with nothing to give answers EAGAIN instead of stalling the loop. The table belongs
 * to the connection: files_abort_all() closes every handle when it is lost. */
#include "files.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct read_session {
    struct read_session *next;
    uint32_t id;
    int fd;
    uint64_t total;
    short rev;
};

struct write_session {
    struct write_session *next;
    uint32_t id;
    int fd;  /* -1 after an error */
    int err; /* first errno, reported when the stream ends */
    char *path;
};

static struct read_session *readers;
static struct write_session *writers;

/* ---- helpers ---- */

static uint8_t entry_type_of_mode(mode_t m)
{
    if (S_ISREG(m)) return WIRE_ENT_FILE;
    if (S_ISDIR(m)) return WIRE_ENT_DIR;
    if (S_ISLNK(m)) return WIRE_ENT_SYMLINK;
    if (S_ISFIFO(m)) return WIRE_ENT_FIFO;
    if (S_ISSOCK(m)) return WIRE_ENT_SOCKET;
    if (S_ISBLK(m)) return WIRE_ENT_BLOCK;
    if (S_ISCHR(m)) return WIRE_ENT_CHAR;
    return WIRE_ENT_OTHER;
}

static int entry_type_of_dirent(DIR *d, const struct dirent *e)
{
    switch (e->d_type) {
    case DT_REG: return WIRE_ENT_FILE;
    case DT_DIR: return WIRE_ENT_DIR;
    case DT_LNK: return WIRE_ENT_SYMLINK;
    case DT_FIFO: return WIRE_ENT_FIFO;
    case DT_SOCK: return WIRE_ENT_SOCKET;
    case DT_BLK: return WIRE_ENT_BLOCK;
    case DT_CHR: return WIRE_ENT_CHAR;
    default: break;
    }
    struct stat st;
    if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
        return WIRE_ENT_OTHER;
    return entry_type_of_mode(st.st_mode);
}

static int write_full(int fd, const uint8_t *p, size_t n)
{
    while (n > 0) {
        ssize_t k = write(fd, p, n);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0)
            return -1;
        p += k;
        n -= (size_t)k;
    }
    return 0;
}

/* Decode a request that is just `bytes path`. */
static char *get_path_only(uint32_t id, uint16_t type, struct wire_reader *r)
{
    char *path = wire_get_str(r);
    if (!wire_reader_at_end(r)) {
        free(path);
        reply_malformed(id, type);
        return NULL;
    }
    return path;
}

/* ---- READ_FILE ---- */

void files_read_start(uint32_t id, struct wire_reader *r)
{
    char *path = get_path_only(id, WIRE_READ_FILE, r);
    if (!path)
        return;
    /* O_NONBLOCK: a FIFO or device must not stall the whole agent */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    struct stat st;
    int err = fd < 0 || fstat(fd, &st) < 0 ? errno : 0;
    if (!err && S_ISDIR(st.st_mode))
        err = EISDIR;
    if (!err && S_ISREG(st.st_mode) && (uint64_t)st.st_size > FILES_READ_MAX)
        err = EFBIG;
    if (err) {
        reply_error(id, err, "%s: %s", path, strerror(err));
        if (fd >= 0)
            close(fd);
        free(path);
        return;
    }
    free(path);
    struct read_session *s = calloc(1, sizeof(*s));
    if (!s)
        abort();
    s->id = id;
    s->fd = fd;
    s->next = readers;
    readers = s;
}

/* Sends one chunk, or the final RESULT; returns 1 when the session is over. */
static int read_step(struct read_session *s)
{
    ssize_t n = read(s->fd, agent_iobuf, sizeof(agent_iobuf));
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return 0;
    if (n < 0) {
        reply_error(s->id, errno, "read: %s", strerror(errno));
        return 1;
    }
    if (n == 0) {
        struct wire_writer *w = conn_begin_result(s->id, 0, "");
        wire_put_u64(w, s->total);
        conn_send(w);
        return 1;
    }
    s->total += (uint64_t)n;
    if (s->total > FILES_READ_MAX) { /* a device or a growing file: stop somewhere */
        reply_error(s->id, EFBIG, "more than %llu bytes", (unsigned long long)FILES_READ_MAX);
        return 1;
    }
    conn_send_with_data(conn_begin(WIRE_DATA, s->id), agent_iobuf, (size_t)n);
    return 0;
}

void files_add_pollfds(struct pollset *ps)
{
    for (struct read_session *s = readers; s; s = s->next) {
        s->rev = 0;
        pollset_add(ps, s->fd, POLLIN, &s->rev);
    }
}

void files_service(void)
{
    struct read_session **pp = &readers;
    while (*pp) {
        struct read_session *s = *pp;
        if (s->rev && read_step(s)) {
            *pp = s->next;
            close(s->fd);
            free(s);
            continue;
        }
        s->rev = 0;
        pp = &s->next;
    }
}

/* ---- WRITE_FILE ---- */

/* Mode bits exactly as asked, whatever the umask; only regular files, so writing to
 * /proc or /dev nodes never changes their permissions. */
static int apply_mode(int fd, mode_t mode)
{
    struct stat st;
    if (fstat(fd, &st) < 0)
        return errno;
    if (!S_ISREG(st.st_mode) || (st.st_mode & 07777) == mode)
        return 0;
    return fchmod(fd, mode) < 0 ? errno : 0;
}

/* Opens like open(2), except that a file this call creates gets exactly `perm`
 * whatever the umask, as WRITE_FILE does. Returns 0 and *fd, or an errno. */
static int open_handle_fd(const char *path, int o, mode_t perm, int *fd)
{
    if (!(o & O_CREAT)) {
        *fd = open(path, o);
        return *fd < 0 ? errno : 0;
    }
    if (o & O_EXCL) {
        *fd = open(path, o, perm);
        return *fd < 0 ? errno : apply_mode(*fd, perm);
    }
    for (int attempt = 0; attempt < 3; attempt++) { /* tolerate a racing create/delete */
        *fd = open(path, o & ~O_CREAT);
        if (*fd >= 0)
            return 0; /* it existed: its mode stays */
        if (errno != ENOENT)
            return errno;
        *fd = open(path, o | O_EXCL, perm);
        if (*fd >= 0)
            return apply_mode(*fd, perm);
        if (errno != EEXIST)
            return errno;
    }
    return EEXIST;
}

/* Opens path for writing; returns 0 and *fd, or an errno. Without KEEP_MODE the file
 * gets `mode` even when it existed. */
static int open_for_write(const char *path, mode_t mode, uint32_t flags, int *fd)
{
    const int o = O_WRONLY | O_CLOEXEC | O_NOCTTY | O_CREAT | O_TRUNC;
    if (flags & WIRE_WF_KEEP_MODE)
        return open_handle_fd(path, o, mode, fd);
    *fd = open(path, o, mode);
    return *fd < 0 ? errno : apply_mode(*fd, mode);
}

static struct write_session *find_writer(uint32_t id)
{
    for (struct write_session *s = writers; s; s = s->next)
        if (s->id == id)
            return s;
    return NULL;
}

void files_write_start(uint32_t id, struct wire_reader *r)
{
    char *path = wire_get_str(r);
    uint32_t mode = wire_get_u32(r);
    uint32_t flags = wire_get_u32(r);
    if (!wire_reader_at_end(r)) {
        free(path);
        reply_malformed(id, WIRE_WRITE_FILE);
        return;
    }
    struct write_session *s = calloc(1, sizeof(*s));
    if (!s)
        abort();
    s->id = id;
    s->path = path;
    s->err = open_for_write(path, (mode_t)(mode & 07777), flags, &s->fd);
    if (s->err && s->fd >= 0) {
        close(s->fd);
        s->fd = -1;
    }
    s->next = writers;
    writers = s;
}

static void finish_writer(struct write_session *s)
{
    if (s->fd >= 0 && close(s->fd) < 0 && !s->err)
        s->err = errno;
    s->fd = -1;
    if (s->err)
        reply_error(s->id, s->err, "%s: %s", s->path, strerror(s->err));
    else
        reply_ok(s->id);
}

static void remove_writer(struct write_session *s)
{
    struct write_session **pp = &writers;
    while (*pp != s)
        pp = &(*pp)->next;
    *pp = s->next;
    if (s->fd >= 0)
        close(s->fd);
    free(s->path);
    free(s);
}

int files_write_data(uint32_t id, const uint8_t *data, size_t n)
{
    struct write_session *s = find_writer(id);
    if (!s)
        return 0;
    if (n == 0) {
        finish_writer(s);
        remove_writer(s);
        return 1;
    }
    if (s->fd >= 0 && write_full(s->fd, data, n) < 0) {
        s->err = errno;
        close(s->fd);
        s->fd = -1;
    }
    return 1;
}

int files_has_id(uint32_t id)
{
    if (find_writer(id))
        return 1;
    for (struct read_session *s = readers; s; s = s->next)
        if (s->id == id)
            return 1;
    return 0;
}

static void handles_close_all(void);

void files_abort_all(void)
{
    handles_close_all();
    while (readers) {
        struct read_session *s = readers;
        readers = s->next;
        close(s->fd);
        free(s);
    }
    while (writers)
        remove_writer(writers);
}

/* ---- STAT ---- */

void files_stat(uint32_t id, struct wire_reader *r)
{
    char *path = wire_get_str(r);
    uint8_t follow = wire_get_u8(r);
    if (!wire_reader_at_end(r)) {
        free(path);
        reply_malformed(id, WIRE_STAT);
        return;
    }
    struct stat st;
    if ((follow ? stat(path, &st) : lstat(path, &st)) < 0) {
        reply_error(id, errno, "%s: %s", path, strerror(errno));
        free(path);
        return;
    }
    free(path);
    struct wire_writer *w = conn_begin_result(id, 0, "");
    wire_put_u8(w, entry_type_of_mode(st.st_mode));
    wire_put_u64(w, (uint64_t)st.st_size);
    wire_put_i64(w, (int64_t)st.st_mtim.tv_sec);
    wire_put_u32(w, (uint32_t)st.st_mtim.tv_nsec);
    wire_put_u32(w, (uint32_t)(st.st_mode & 07777));
    conn_send(w);
}

/* ---- LISTDIR ---- */

static void patch_u32(struct wire_writer *w, size_t pos, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        w->buf[pos + (size_t)i] = (uint8_t)(v >> (8 * i));
}

static int is_dot_or_dotdot(const char *name)
{
    return name[0] == '.' && (name[1] == 0 || (name[1] == '.' && name[2] == 0));
}

void files_listdir(uint32_t id, struct wire_reader *r)
{
    char *path = get_path_only(id, WIRE_LISTDIR, r);
    if (!path)
        return;
    DIR *d = opendir(path);
    if (!d) {
        reply_error(id, errno, "%s: %s", path, strerror(errno));
        free(path);
        return;
    }
    struct wire_writer *w = conn_begin_result(id, 0, "");
    size_t count_pos = w->len;
    wire_put_u32(w, 0);
    uint32_t count = 0;
    int err = 0;
    for (;;) {
        errno = 0;
        struct dirent *e = readdir(d);
        if (!e) {
            err = errno;
            break;
        }
        if (is_dot_or_dotdot(e->d_name))
            continue;
        wire_put_str(w, e->d_name);
        wire_put_u8(w, (uint8_t)entry_type_of_dirent(d, e));
        count++;
    }
    closedir(d);
    if (err)
        reply_error(id, err, "%s: %s", path, strerror(err));
    else if (w->failed)
        reply_error(id, E2BIG, "%s: %u entries do not fit in one reply", path, count);
    else {
        patch_u32(w, count_pos, count);
        conn_send(w);
    }
    free(path);
}

/* ---- MKDIR, UNLINK, RENAME ---- */

static int is_directory(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* Like mkdir(2), which returns EEXIST for an existing directory too. */
static int make_dir(const char *path, mode_t perm)
{
    return mkdir(path, perm) < 0 ? errno : 0;
}

/* Like `mkdir -p`: existing directories are fine, missing parents are created with
 * the default mode, and only the last component gets perm. */
static int make_dir_parents(const char *path, mode_t perm)
{
    char *buf = strdup(path);
    if (!buf)
        return ENOMEM;
    size_t n = strlen(buf);
    while (n > 1 && buf[n - 1] == '/')
        buf[--n] = 0;
    int err = 0;
    for (char *p = buf + 1; *p && !err; p++) {
        if (*p != '/' || p[-1] == '/')
            continue;
        *p = 0;
        if (mkdir(buf, 0777) < 0 && errno != EEXIST)
            err = errno;
        *p = '/';
    }
    if (!err && mkdir(buf, perm) < 0)
        err = errno == EEXIST && is_directory(buf) ? 0 : errno;
    free(buf);
    return err;
}

void files_mkdir(uint32_t id, struct wire_reader *r)
{
    char *path = wire_get_str(r);
    uint32_t perm = wire_get_u32(r);
    uint8_t parents = wire_get_u8(r);
    if (!wire_reader_at_end(r) || !path[0]) {
        free(path);
        reply_malformed(id, WIRE_MKDIR);
        return;
    }
    mode_t m = (mode_t)(perm & 07777);
    int err = parents ? make_dir_parents(path, m) : make_dir(path, m);
    if (err)
        reply_error(id, err, "%s: %s", path, strerror(err));
    else
        reply_ok(id);
    free(path);
}

void files_unlink(uint32_t id, struct wire_reader *r)
{
    char *path = get_path_only(id, WIRE_UNLINK, r);
    if (!path)
        return;
    struct stat st;
    int rc = lstat(path, &st);
    if (rc == 0)
        rc = S_ISDIR(st.st_mode) ? rmdir(path) : unlink(path);
    if (rc < 0)
        reply_error(id, errno, "%s: %s", path, strerror(errno));
    else
        reply_ok(id);
    free(path);
}

void files_rename(uint32_t id, struct wire_reader *r)
{
    char *from = wire_get_str(r);
    char *to = wire_get_str(r);
    if (!wire_reader_at_end(r)) {
        free(from);
        free(to);
        reply_malformed(id, WIRE_RENAME);
        return;
    }
    if (rename(from, to) < 0)
        reply_error(id, errno, "rename %s -> %s: %s", from, to, strerror(errno));
    else
        reply_ok(id);
    free(from);
    free(to);
}

/* ---- handles: OPEN, HREAD, HWRITE, HSEEK, HCLOSE ---- */

struct handle {
    uint32_t id; /* 0 = free slot */
    int fd;
};

static struct handle handles[WIRE_MAX_HANDLES];
static uint32_t next_handle_id = 1;

static struct handle *find_handle(uint32_t hid)
{
    if (hid == 0)
        return NULL;
    for (int i = 0; i < WIRE_MAX_HANDLES; i++)
        if (handles[i].id == hid)
            return &handles[i];
    return NULL;
}

/* A fresh id: counts up, skips 0 and any id still open after a wrap. */
static uint32_t new_handle_id(void)
{
    for (;;) {
        uint32_t hid = next_handle_id++;
        if (next_handle_id > 0x7fffffffu)
            next_handle_id = 1;
        if (!find_handle(hid))
            return hid;
    }
}

static struct handle *free_slot(void)
{
    for (int i = 0; i < WIRE_MAX_HANDLES; i++)
        if (handles[i].id == 0)
            return &handles[i];
    return NULL;
}

static void handles_close_all(void)
{
    for (int i = 0; i < WIRE_MAX_HANDLES; i++) {
        if (handles[i].id == 0)
            continue;
        close(handles[i].fd);
        handles[i].id = 0;
        handles[i].fd = -1;
    }
}

/* Turns WIRE_OPEN_* into open(2) flags; -1 for an empty or unknown set. */
static int open_flags_of(uint32_t f)
{
    if ((f & ~(uint32_t)WIRE_OPEN_ALL) ||
        !(f & (WIRE_OPEN_READ | WIRE_OPEN_WRITE | WIRE_OPEN_APPEND)))
        return -1;
    int writes = (f & (WIRE_OPEN_WRITE | WIRE_OPEN_APPEND)) != 0;
    int o = (f & WIRE_OPEN_READ) ? (writes ? O_RDWR : O_RDONLY) : O_WRONLY;
    if (f & WIRE_OPEN_APPEND)
        o |= O_APPEND;
    if (f & WIRE_OPEN_TRUNCATE)
        o |= O_TRUNC;
    if (f & WIRE_OPEN_CREATE)
        o |= O_CREAT;
    if (f & WIRE_OPEN_EXCLUSIVE) /* like create_new: implies create */
        o |= O_CREAT | O_EXCL;
    return o | O_CLOEXEC | O_NOCTTY | O_NONBLOCK;
}

void files_open(uint32_t id, struct wire_reader *r)
{
    char *path = wire_get_str(r);
    uint32_t flags = wire_get_u32(r);
    uint32_t perm = wire_get_u32(r);
    if (!wire_reader_at_end(r)) {
        free(path);
        reply_malformed(id, WIRE_OPEN);
        return;
    }
    int o = open_flags_of(flags);
    struct handle *slot = free_slot();
    int fd = -1, err = 0;
    if (o < 0)
        err = EINVAL;
    else if (!slot)
        err = EMFILE;
    else
        err = open_handle_fd(path, o, (mode_t)(perm & 07777), &fd);
    if (err) {
        if (fd >= 0)
            close(fd);
        if (o < 0)
            reply_error(id, err, "%s: open flags 0x%x need read, write or append", path, flags);
        else if (!slot)
            reply_error(id, err, "%s: %d handles are already open", path, WIRE_MAX_HANDLES);
        else
            reply_error(id, err, "%s: %s", path, strerror(err));
        free(path);
        return;
    }
    free(path);
    slot->id = new_handle_id();
    slot->fd = fd;
    struct wire_writer *w = conn_begin_result(id, 0, "");
    wire_put_u32(w, slot->id);
    conn_send(w);
}

/* The open handle hid, or NULL after answering EBADF. */
static struct handle *handle_or_reply(uint32_t id, uint32_t hid)
{
    struct handle *h = find_handle(hid);
    if (!h)
        reply_error(id, EBADF, "no open handle %u", hid);
    return h;
}

void files_hread(uint32_t id, struct wire_reader *r)
{
    uint32_t hid = wire_get_u32(r);
    uint32_t max = wire_get_u32(r);
    if (!wire_reader_at_end(r)) {
        reply_malformed(id, WIRE_HREAD);
        return;
    }
    struct handle *h = handle_or_reply(id, hid);
    if (!h)
        return;
    if (max > sizeof(agent_iobuf))
        max = sizeof(agent_iobuf);
    ssize_t n;
    do
        n = read(h->fd, agent_iobuf, max);
    while (n < 0 && errno == EINTR);
    if (n < 0) {
        reply_error(id, errno, "read: %s", strerror(errno));
        return;
    }
    struct wire_writer *w = conn_begin_result(id, 0, "");
    wire_put_u32(w, (uint32_t)n);
    conn_send_with_data(w, agent_iobuf, (size_t)n);
}

void files_hwrite(uint32_t id, struct wire_reader *r)
{
    uint32_t hid = wire_get_u32(r);
    uint32_t n;
    const uint8_t *p = wire_get_bytes(r, &n);
    if (!wire_reader_at_end(r)) {
        reply_malformed(id, WIRE_HWRITE);
        return;
    }
    struct handle *h = handle_or_reply(id, hid);
    if (!h)
        return;
    uint32_t done = 0;
    while (done < n) {
        ssize_t k = write(h->fd, p + done, n - done);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0 && done == 0) {
            reply_error(id, errno, "write: %s", strerror(errno));
            return;
        }
        if (k <= 0)
            break; /* a short write: report what did go */
        done += (uint32_t)k;
    }
    struct wire_writer *w = conn_begin_result(id, 0, "");
    wire_put_u32(w, done);
    conn_send(w);
}

void files_hseek(uint32_t id, struct wire_reader *r)
{
    uint32_t hid = wire_get_u32(r);
    int64_t off = wire_get_i64(r);
    uint8_t whence = wire_get_u8(r);
    if (!wire_reader_at_end(r) || whence > WIRE_SEEK_END) {
        reply_malformed(id, WIRE_HSEEK);
        return;
    }
    struct handle *h = handle_or_reply(id, hid);
    if (!h)
        return;
    static const int whences[] = {SEEK_SET, SEEK_CUR, SEEK_END};
    off_t pos = lseek(h->fd, (off_t)off, whences[whence]);
    if (pos < 0) {
        reply_error(id, errno, "seek: %s", strerror(errno));
        return;
    }
    struct wire_writer *w = conn_begin_result(id, 0, "");
    wire_put_u64(w, (uint64_t)pos);
    conn_send(w);
}

/* The handle is gone whatever close() says; an error (EIO on NFS, say) is reported. */
void files_hclose(uint32_t id, struct wire_reader *r)
{
    uint32_t hid = wire_get_u32(r);
    if (!wire_reader_at_end(r)) {
        reply_malformed(id, WIRE_HCLOSE);
        return;
    }
    struct handle *h = handle_or_reply(id, hid);
    if (!h)
        return;
    int rc = close(h->fd);
    int err = rc < 0 && errno != EINTR ? errno : 0;
    h->id = 0;
    h->fd = -1;
    if (err)
        reply_error(id, err, "close: %s", strerror(err));
    else
        reply_ok(id);
}
