/* conlog.c - a VM's bounded console log: the sockets QEMU writes the serial console
 * and the virtio console (hvc0) into, the thread that drains them, the two rotating
 * files (see conlog.h), and typing into the serial console (conlog_write).
 *
 * Bytes go to console.log until it holds cap/2; then it is renamed console.log.1
 * (the older segment is dropped) and a new console.log starts. Counters: `total` is
 * every byte ever appended, `cur_len` / `old_len` what each file holds, so the oldest
 * byte kept is at total - cur_len - old_len. A failed write (a full disk) drops bytes
 * rather than blocking the guest. */
#include "vm/conlog.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#define DRAIN_CHUNK (64u << 10)
#define DRAIN_MAX (1u << 20)      /* per drain call, so a reader never spins on a flood */
#define SOCK_BUF (1 << 20)        /* what QEMU can write before the thread must catch up */
#define CONLOG_NSRC 2             /* the serial port (ttyS0) and the virtio console (hvc0) */

struct conlog {
    pthread_mutex_t mu;
    char *path, *old_path;
    int cur_fd, old_fd;           /* console.log and console.log.1 (-1: none) */
    uint64_t cap, total, cur_len, old_len;
    int sock[CONLOG_NSRC];        /* our ends of QEMU's console sockets, -1 when none */
    int eof[CONLOG_NSRC];         /* QEMU closed that end */
    int wake;                     /* eventfd: stop the thread */
    int running;
    pthread_t thread;
    char rbuf[DRAIN_CHUNK];
};

struct conlog *conlog_new(const char *path, uint64_t cap)
{
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return NULL;
    struct conlog *c = xcalloc(1, sizeof *c);
    pthread_mutex_init(&c->mu, NULL);
    c->path = xstrdup(path);
    c->old_path = xasprintf("%s.1", path);
    unlink(c->old_path);
    c->cur_fd = fd;
    c->old_fd = -1;
    c->cap = cap ? cap : CONLOG_DEFAULT_MAX;
    if (c->cap < CONLOG_MIN_MAX)
        c->cap = CONLOG_MIN_MAX;
    c->sock[0] = c->sock[1] = -1;
    c->wake = -1;
    return c;
}

void conlog_free(struct conlog *c)
{
    if (!c)
        return;
    conlog_detach(c);
    if (c->cur_fd >= 0)
        close(c->cur_fd);
    if (c->old_fd >= 0)
        close(c->old_fd);
    pthread_mutex_destroy(&c->mu);
    free(c->path);
    free(c->old_path);
    free(c);
}

/* ---- the ring (caller holds mu) ---- */

/* console.log becomes console.log.1 and a new console.log starts. When the rename
 * fails the current file is emptied instead: the newest bytes still fit. */
static void rotate(struct conlog *c)
{
    if (c->cur_fd >= 0 && rename(c->path, c->old_path) == 0) {
        if (c->old_fd >= 0)
            close(c->old_fd);
        c->old_fd = c->cur_fd;
        c->old_len = c->cur_len;
        c->cur_fd = open(c->path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    } else if (c->cur_fd >= 0) {
        if (c->old_fd >= 0)
            close(c->old_fd);
        c->old_fd = -1;
        c->old_len = 0; /* it would no longer be next to what follows */
        if (ftruncate(c->cur_fd, 0) < 0) {
            close(c->cur_fd);
            c->cur_fd = -1;
        }
    } else {
        c->cur_fd = open(c->path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    }
    c->cur_len = 0;
}

static void append_locked(struct conlog *c, const char *p, size_t len)
{
    uint64_t half = c->cap / 2;
    while (len > 0) {
        if (c->cur_len >= half || c->cur_fd < 0)
            rotate(c);
        if (c->cur_fd < 0)
            return;
        size_t n = len < half - c->cur_len ? len : (size_t)(half - c->cur_len);
        ssize_t w = pwrite(c->cur_fd, p, n, (off_t)c->cur_len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return; /* dropped: the guest never waits for a full disk */
        c->cur_len += (uint64_t)w;
        c->total += (uint64_t)w;
        p += w;
        len -= (size_t)w;
    }
}

/* Moves what QEMU wrote so far from one socket into the files. */
static size_t drain_one_locked(struct conlog *c, int i, size_t budget)
{
    size_t moved = 0;
    while (c->sock[i] >= 0 && !c->eof[i] && moved < budget) {
        ssize_t n = read(c->sock[i], c->rbuf, sizeof c->rbuf);
        if (n > 0) {
            append_locked(c, c->rbuf, (size_t)n);
            moved += (size_t)n;
        } else if (n == 0) {
            c->eof[i] = 1;
        } else if (errno != EINTR) {
            if (errno != EAGAIN)
                c->eof[i] = 1;
            break;
        }
    }
    return moved;
}

/* Both sockets, in turns, so neither starves the other; DRAIN_MAX per call. */
static void drain_locked(struct conlog *c)
{
    size_t moved = 0, step;
    do {
        step = 0;
        for (int i = 0; i < CONLOG_NSRC; i++)
            step += drain_one_locked(c, i, DRAIN_CHUNK);
        moved += step;
    } while (step > 0 && moved < DRAIN_MAX);
}

static uint64_t start_locked(const struct conlog *c)
{
    return c->total - c->cur_len - c->old_len;
}

/* Copies [pos, pos + n) out of the two files into out; returns bytes copied. */
static size_t copy_locked(struct conlog *c, uint64_t pos, size_t n, struct buf *out)
{
    uint64_t cur_start = c->total - c->cur_len;
    size_t done = 0;
    while (done < n) {
        int old = pos < cur_start;
        int fd = old ? c->old_fd : c->cur_fd;
        uint64_t off = old ? pos - (cur_start - c->old_len) : pos - cur_start;
        uint64_t room = old ? cur_start - pos : c->total - pos;
        size_t want = n - done < room ? n - done : (size_t)room;
        if (want > DRAIN_CHUNK)
            want = DRAIN_CHUNK;
        ssize_t r = fd >= 0 ? pread(fd, c->rbuf, want, (off_t)off) : -1;
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        buf_append(out, c->rbuf, (size_t)r);
        done += (size_t)r;
        pos += (uint64_t)r;
    }
    return done;
}

/* ---- readers ---- */

void conlog_append(struct conlog *c, const void *data, size_t len)
{
    pthread_mutex_lock(&c->mu);
    append_locked(c, data, len);
    pthread_mutex_unlock(&c->mu);
}

size_t conlog_read(struct conlog *c, uint64_t *pos, size_t max, struct buf *out)
{
    pthread_mutex_lock(&c->mu);
    drain_locked(c);
    uint64_t start = start_locked(c);
    if (*pos < start)
        *pos = start;
    if (*pos > c->total)
        *pos = c->total;
    uint64_t avail = c->total - *pos;
    size_t n = avail < max ? (size_t)avail : max;
    n = copy_locked(c, *pos, n, out);
    *pos += n;
    pthread_mutex_unlock(&c->mu);
    return n;
}

uint64_t conlog_end(struct conlog *c)
{
    pthread_mutex_lock(&c->mu);
    drain_locked(c);
    uint64_t end = c->total;
    pthread_mutex_unlock(&c->mu);
    return end;
}

uint64_t conlog_start(struct conlog *c)
{
    pthread_mutex_lock(&c->mu);
    uint64_t start = start_locked(c);
    pthread_mutex_unlock(&c->mu);
    return start;
}

/* ---- the thread ---- */

static void *drain_thread(void *arg)
{
    struct conlog *c = arg;
    for (;;) {
        struct pollfd p[CONLOG_NSRC + 1];
        for (int i = 0; i < CONLOG_NSRC; i++)
            p[i] = (struct pollfd){c->eof[i] ? -1 : c->sock[i], POLLIN, 0};
        p[CONLOG_NSRC] = (struct pollfd){c->wake, POLLIN, 0};
        if (poll(p, CONLOG_NSRC + 1, -1) < 0 && errno != EINTR)
            break;
        if (p[CONLOG_NSRC].revents)
            break;
        pthread_mutex_lock(&c->mu);
        drain_locked(c);
        int eof = c->eof[0] && (c->sock[1] < 0 || c->eof[1]);
        pthread_mutex_unlock(&c->mu);
        if (eof)
            break;
    }
    return NULL;
}

/* A socket pair: ours (non-blocking) in mine, QEMU's returned; -1 with errno. */
static int make_pair(int *mine)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
        return -1;
    int sz = SOCK_BUF;
    setsockopt(sv[0], SOL_SOCKET, SO_RCVBUF, &sz, sizeof sz);
    setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &sz, sizeof sz);
    fcntl(sv[0], F_SETFL, fcntl(sv[0], F_GETFL) | O_NONBLOCK);
    *mine = sv[0];
    return sv[1];
}

static void close_socks(struct conlog *c)
{
    for (int i = 0; i < CONLOG_NSRC; i++) {
        if (c->sock[i] >= 0)
            close(c->sock[i]);
        c->sock[i] = -1;
        c->eof[i] = 0;
    }
}

int conlog_attach(struct conlog *c, int *hvc_fd)
{
    conlog_detach(c);
    int qemu[CONLOG_NSRC] = {-1, -1};
    int e = 0;
    if ((qemu[0] = make_pair(&c->sock[0])) < 0 ||
        (hvc_fd && (qemu[1] = make_pair(&c->sock[1])) < 0) ||
        (c->wake = eventfd(0, EFD_CLOEXEC)) < 0) {
        e = errno;
        goto fail;
    }
    if (pthread_create(&c->thread, NULL, drain_thread, c) != 0) {
        e = EAGAIN;
        goto fail;
    }
    c->running = 1;
    if (hvc_fd)
        *hvc_fd = qemu[1];
    return qemu[0];
fail:
    for (int i = 0; i < CONLOG_NSRC; i++)
        if (qemu[i] >= 0)
            close(qemu[i]);
    close_socks(c);
    if (c->wake >= 0)
        close(c->wake);
    c->wake = -1;
    errno = e;
    return -1;
}

void conlog_detach(struct conlog *c)
{
    if (c->running) {
        uint64_t one = 1;
        if (write(c->wake, &one, sizeof one) < 0) {
            /* the eventfd cannot be full: a counter of 1 */
        }
        pthread_join(c->thread, NULL);
        c->running = 0;
    }
    pthread_mutex_lock(&c->mu);
    drain_locked(c);
    close_socks(c);
    pthread_mutex_unlock(&c->mu);
    if (c->wake >= 0)
        close(c->wake);
    c->wake = -1;
}

/* ---- typing into the serial console ---- */

/* One non-blocking send under the mutex (the socket may be closed by a detach). */
static ssize_t send_some(struct conlog *c, const char *p, size_t len)
{
    pthread_mutex_lock(&c->mu);
    ssize_t n = -1;
    if (c->sock[0] < 0 || c->eof[0])
        errno = EPIPE;
    else
        n = send(c->sock[0], p, len, MSG_DONTWAIT | MSG_NOSIGNAL);
    pthread_mutex_unlock(&c->mu);
    return n;
}

int conlog_write(struct conlog *c, const void *data, size_t len, int64_t deadline_ns,
                 size_t *written)
{
    const char *p = data;
    *written = 0;
    while (*written < len) {
        ssize_t n = send_some(c, p + *written, len - *written);
        if (n > 0) {
            *written += (size_t)n;
            continue;
        }
        if (n < 0 && errno != EAGAIN && errno != EINTR)
            return -1;
        if (now_ns() >= deadline_ns) {
            errno = ETIMEDOUT;
            return -1;
        }
        sleep_ms(5); /* QEMU takes input as fast as the guest's UART drains it */
    }
    return 0;
}
