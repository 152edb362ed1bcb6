/* nbd.c - the NBD protocol side of provium's block server for mediated disks.
 *
 * Why: see nbd.h. This file owns the unix socket, the server thread and the wire
 * format (fixed newstyle handshake, simple replies); the disk state behind it, held
 * writes and fault policy, is nbd_store.c. The thread polls the listening socket, the
 * clients and an eventfd that nbd_stop() signals; every wait inside a message polls
 * the eventfd too and gives up after NBD_STALL_MS, so a slow, silent or malformed
 * client can delay nothing for long and crash nothing. Client sockets are
 * non-blocking and writes use MSG_NOSIGNAL. The thread runs with every signal blocked,
 * so the worker's handlers stay on its own threads. */
#include "vm/nbd.h"

#include "util/util.h"
#include "vm/nbd_store.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

/* protocol constants (doc/proto.md) */
#define NBD_MAGIC 0x4e42444d41474943ull          /* "NBDMAGIC" */
#define NBD_OPTS_MAGIC 0x49484156454F5054ull     /* "IHAVEOPT" */
#define NBD_REP_MAGIC 0x3e889045565a9ull
#define NBD_REQUEST_MAGIC 0x25609513u
#define NBD_SIMPLE_REPLY_MAGIC 0x67446698u
#define NBD_FLAG_FIXED_NEWSTYLE 1u
#define NBD_FLAG_NO_ZEROES 2u
#define NBD_FLAG_HAS_FLAGS 1u
#define NBD_FLAG_READ_ONLY 2u
#define NBD_FLAG_SEND_FLUSH 4u
#define NBD_FLAG_SEND_FUA 8u
#define NBD_OPT_EXPORT_NAME 1u
#define NBD_OPT_ABORT 2u
#define NBD_OPT_LIST 3u
#define NBD_OPT_INFO 6u
#define NBD_OPT_GO 7u
#define NBD_REP_ACK 1u
#define NBD_REP_SERVER 2u
#define NBD_REP_INFO 3u
#define NBD_REP_ERR_UNSUP 0x80000001u
#define NBD_REP_ERR_INVALID 0x80000003u
#define NBD_INFO_EXPORT 0u
#define NBD_INFO_BLOCK_SIZE 3u
#define NBD_CMD_READ 0u
#define NBD_CMD_WRITE 1u
#define NBD_CMD_DISC 2u
#define NBD_CMD_FLUSH 3u
#define NBD_CMD_FLAG_FUA 1u

#define MAX_CLIENTS 8
#define MAX_OPTIONS 64          /* options in one handshake */
#define MAX_OPTION_LEN 65536    /* bytes of one option's data */

struct nbd_server {
    struct nbd_store *st;
    char *path;
    int lfd, stopfd;
    pthread_t thread;
    int clients[MAX_CLIENTS];
    int nclients;
};

/* One connection while a message is being handled. */
struct conn {
    struct nbd_server *s;
    int fd;
    int no_zeroes;          /* the client set NBD_FLAG_C_NO_ZEROES */
    const char *why;        /* set when the client is dropped as malformed */
};

/* ---- big-endian fields ---- */

static void put16(unsigned char *p, uint16_t v) { p[0] = v >> 8; p[1] = v; }
static void put32(unsigned char *p, uint32_t v) { put16(p, v >> 16); put16(p + 2, v); }
static void put64(unsigned char *p, uint64_t v) { put32(p, v >> 32); put32(p + 4, v); }
static uint16_t get16(const unsigned char *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static uint32_t get32(const unsigned char *p) { return (uint32_t)get16(p) << 16 | get16(p + 2); }
static uint64_t get64(const unsigned char *p) { return (uint64_t)get32(p) << 32 | get32(p + 4); }

/* ---- interruptible I/O ---- */

/* Waits for ev on fd: 1 ready, 0 after ms (-1: never), -1 when the server stops. */
static int wait_fd(struct nbd_server *s, int fd, short ev, int ms)
{
    struct pollfd p[2] = {{.fd = s->stopfd, .events = POLLIN}, {.fd = fd, .events = ev}};
    int64_t end = now_ns() + (int64_t)ms * 1000000;
    for (;;) {
        int left = ms < 0 ? -1 : (int)((end - now_ns() + 999999) / 1000000);
        int r = poll(p, fd >= 0 ? 2 : 1, left < 0 && ms >= 0 ? 0 : left);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0 || p[0].revents)
            return -1;
        if (r == 0)
            return 0;
        return 1;
    }
}

/* Marks the connection for closing; why (NULL for a normal close) counts as a drop. */
static int conn_fail(struct conn *c, const char *why)
{
    if (c->why == NULL)
        c->why = why;
    return -1;
}

static int io_read(struct conn *c, void *p, size_t n)
{
    size_t got = 0;
    while (got < n) {
        ssize_t r = recv(c->fd, (char *)p + got, n - got, MSG_DONTWAIT);
        if (r > 0) {
            got += (size_t)r;
            continue;
        }
        if (r == 0)
            return conn_fail(c, NULL);   /* the client hung up */
        if (errno == EINTR)
            continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK)
            return conn_fail(c, NULL);
        int w = wait_fd(c->s, c->fd, POLLIN, NBD_STALL_MS);
        if (w <= 0)
            return conn_fail(c, w == 0 ? "client stalled inside a message" : NULL);
    }
    return 0;
}

static int io_write(struct conn *c, const void *p, size_t n)
{
    size_t put = 0;
    while (put < n) {
        ssize_t r = send(c->fd, (const char *)p + put, n - put, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (r > 0) {
            put += (size_t)r;
            continue;
        }
        if (r < 0 && errno == EINTR)
            continue;
        if (r == 0 || (errno != EAGAIN && errno != EWOULDBLOCK))
            return conn_fail(c, NULL);
        int w = wait_fd(c->s, c->fd, POLLOUT, NBD_STALL_MS);
        if (w <= 0)
            return conn_fail(c, w == 0 ? "client stopped reading" : NULL);
    }
    return 0;
}

/* ---- handshake ---- */

static uint16_t transmission_flags(struct nbd_server *s)
{
    uint16_t f = NBD_FLAG_HAS_FLAGS | NBD_FLAG_SEND_FLUSH | NBD_FLAG_SEND_FUA;
    return store_readonly(s->st) ? f | NBD_FLAG_READ_ONLY : f;
}

static int opt_reply(struct conn *c, uint32_t opt, uint32_t type, const void *data,
                     uint32_t len)
{
    unsigned char h[20];
    put64(h, NBD_REP_MAGIC);
    put32(h + 8, opt);
    put32(h + 12, type);
    put32(h + 16, len);
    if (io_write(c, h, sizeof h) < 0)
        return -1;
    return len ? io_write(c, data, len) : 0;
}

/* NBD_OPT_INFO / NBD_OPT_GO: the export's size and flags, block sizes if asked. */
static int opt_info(struct conn *c, uint32_t opt, const unsigned char *d, uint32_t len)
{
    uint32_t namelen = len >= 4 ? get32(d) : 0;
    if (len < 6 || namelen > len - 6)
        return opt_reply(c, opt, NBD_REP_ERR_INVALID, NULL, 0);
    uint16_t nreq = get16(d + 4 + namelen);
    if ((uint64_t)4 + namelen + 2 + 2ull * nreq != len)
        return opt_reply(c, opt, NBD_REP_ERR_INVALID, NULL, 0);
    int want_bs = 0;
    for (uint16_t i = 0; i < nreq; i++)
        want_bs |= get16(d + 6 + namelen + 2u * i) == NBD_INFO_BLOCK_SIZE;
    unsigned char info[14];
    put16(info, NBD_INFO_EXPORT);
    put64(info + 2, store_size(c->s->st));
    put16(info + 10, transmission_flags(c->s));
    if (opt_reply(c, opt, NBD_REP_INFO, info, 12) < 0)
        return -1;
    if (want_bs) {
        put16(info, NBD_INFO_BLOCK_SIZE);
        put32(info + 2, 1);
        put32(info + 6, NBD_BLOCK);
        put32(info + 10, NBD_MAX_REQUEST);
        if (opt_reply(c, opt, NBD_REP_INFO, info, 14) < 0)
            return -1;
    }
    if (opt_reply(c, opt, NBD_REP_ACK, NULL, 0) < 0)
        return -1;
    return opt == NBD_OPT_GO;
}

/* NBD_OPT_EXPORT_NAME: any name is our one export; no error is possible here. */
static int opt_export_name(struct conn *c)
{
    unsigned char r[10 + 124] = {0};
    put64(r, store_size(c->s->st));
    put16(r + 8, transmission_flags(c->s));
    if (io_write(c, r, c->no_zeroes ? 10 : sizeof r) < 0)
        return -1;
    return 1;
}

/* One option: 1 when transmission begins, 0 for the next option, -1 to close. */
static int handle_option(struct conn *c)
{
    unsigned char h[16];
    if (io_read(c, h, sizeof h) < 0)
        return -1;
    if (get64(h) != NBD_OPTS_MAGIC)
        return conn_fail(c, "bad option magic");
    uint32_t opt = get32(h + 8), len = get32(h + 12);
    if (len > MAX_OPTION_LEN)
        return conn_fail(c, "option too long");
    unsigned char *d = xmalloc(len + 1);
    int rc = io_read(c, d, len);
    if (rc < 0)
        goto done;
    switch (opt) {
    case NBD_OPT_EXPORT_NAME:
        rc = opt_export_name(c);
        break;
    case NBD_OPT_ABORT:
        opt_reply(c, opt, NBD_REP_ACK, NULL, 0);
        rc = conn_fail(c, NULL);
        break;
    case NBD_OPT_LIST: {
        unsigned char none[4] = {0};   /* one export, named "" */
        rc = len ? opt_reply(c, opt, NBD_REP_ERR_INVALID, NULL, 0)
                 : opt_reply(c, opt, NBD_REP_SERVER, none, 4);
        if (rc == 0 && len == 0)
            rc = opt_reply(c, opt, NBD_REP_ACK, NULL, 0);
        break;
    }
    case NBD_OPT_INFO:
    case NBD_OPT_GO:
        rc = opt_info(c, opt, d, len);
        break;
    default:
        rc = opt_reply(c, opt, NBD_REP_ERR_UNSUP, NULL, 0);
    }
done:
    free(d);
    return rc;
}

/* The fixed newstyle handshake: 0 when the client is in transmission, -1 to close. */
static int handshake(struct conn *c)
{
    unsigned char hello[18], cf[4];
    put64(hello, NBD_MAGIC);
    put64(hello + 8, NBD_OPTS_MAGIC);
    put16(hello + 16, NBD_FLAG_FIXED_NEWSTYLE | NBD_FLAG_NO_ZEROES);
    if (io_write(c, hello, sizeof hello) < 0 || io_read(c, cf, 4) < 0)
        return -1;
    uint32_t flags = get32(cf);
    if (flags & ~(NBD_FLAG_FIXED_NEWSTYLE | NBD_FLAG_NO_ZEROES))
        return conn_fail(c, "unknown client flags");
    c->no_zeroes = (flags & NBD_FLAG_NO_ZEROES) != 0;
    for (int i = 0; i < MAX_OPTIONS; i++) {
        int rc = handle_option(c);
        if (rc != 0)
            return rc > 0 ? 0 : -1;
    }
    return conn_fail(c, "too many options");
}

/* ---- transmission ---- */

static uint32_t nbd_errno(int e)
{
    switch (e) {
    case 0: return 0;
    case EPERM: return 1;
    case ENOMEM: return 12;
    case EINVAL: return 22;
    case ENOSPC: return 28;
    default: return 5;   /* NBD_EIO */
    }
}

/* Answers one request; data (len bytes) follows a successful READ's header. */
static int send_reply(struct conn *c, const unsigned char *cookie, int err,
                      const void *data, uint32_t len)
{
    unsigned char r[16];
    put32(r, NBD_SIMPLE_REPLY_MAGIC);
    put32(r + 4, nbd_errno(err));
    memcpy(r + 8, cookie, 8);
    if (io_write(c, r, sizeof r) < 0)
        return -1;
    return err == 0 && len ? io_write(c, data, len) : 0;
}

/* The policy's delay before a request: 0, or -1 when the server stops meanwhile. */
static int policy_delay(struct conn *c)
{
    int ms = store_delay_ms(c->s->st);
    return ms > 0 && wait_fd(c->s, -1, 0, ms) < 0 ? conn_fail(c, NULL) : 0;
}

/* Runs a request whose payload is in: 0 or an errno value for the reply. */
static int execute(struct conn *c, uint16_t flags, uint16_t type, uint64_t off,
                   uint32_t len, unsigned char *buf)
{
    struct nbd_store *st = c->s->st;
    if (flags & ~NBD_CMD_FLAG_FUA || type == NBD_CMD_DISC || type > NBD_CMD_FLUSH ||
        (type == NBD_CMD_READ && len > NBD_MAX_REQUEST)) {
        store_note_failed(st);   /* the store counts the rest */
        return EINVAL;
    }
    if (type == NBD_CMD_READ)
        return store_guest_read(st, off, buf, len);
    if (type == NBD_CMD_WRITE)
        return store_guest_write(st, off, buf, len, flags & NBD_CMD_FLAG_FUA);
    return store_guest_flush(st);
}

/* One request: 0 to go on, -1 to close (NBD_CMD_DISC, a hang-up, or malformed). */
static int serve_request(struct conn *c)
{
    unsigned char h[28], *buf = NULL;
    int rc = io_read(c, h, sizeof h);
    if (rc < 0)
        goto done;
    uint16_t flags = get16(h + 4), type = get16(h + 6);
    uint64_t off = get64(h + 16);
    uint32_t len = get32(h + 24);
    if (get32(h) != NBD_REQUEST_MAGIC) {
        rc = conn_fail(c, "bad request magic");
        goto done;
    }
    if (type == NBD_CMD_DISC) {
        rc = conn_fail(c, NULL);
        goto done;
    }
    if (type == NBD_CMD_WRITE && len > NBD_MAX_REQUEST) {
        rc = conn_fail(c, "write too long");
        goto done;
    }
    int has_buf = type == NBD_CMD_WRITE || (type == NBD_CMD_READ && len <= NBD_MAX_REQUEST);
    if (has_buf && (buf = malloc(len ? len : 1)) == NULL) {
        rc = conn_fail(c, "out of memory");
        goto done;
    }
    if ((type == NBD_CMD_WRITE && (rc = io_read(c, buf, len)) < 0) ||
        (rc = policy_delay(c)) < 0)
        goto done;
    int err = execute(c, flags, type, off, len, buf);
    rc = send_reply(c, h + 8, err, buf, type == NBD_CMD_READ ? len : 0);
done:
    free(buf);
    return rc;
}

/* ---- the server thread ---- */

static void drop_client(struct nbd_server *s, int i, const char *why)
{
    if (why)
        store_note_drop(s->st, why);
    close(s->clients[i]);
    s->clients[i] = s->clients[--s->nclients];
}

static void accept_client(struct nbd_server *s)
{
    int fd = accept4(s->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0)
        return;
    store_note_conn(s->st);
    if (s->nclients == MAX_CLIENTS) {
        store_note_drop(s->st, "too many connections");
        close(fd);
        return;
    }
    struct conn c = {.s = s, .fd = fd};
    s->clients[s->nclients++] = fd;
    if (handshake(&c) < 0)
        drop_client(s, s->nclients - 1, c.why);
}

static void *server_main(void *arg)
{
    struct nbd_server *s = arg;
    for (;;) {
        struct pollfd p[2 + MAX_CLIENTS];
        p[0] = (struct pollfd){.fd = s->stopfd, .events = POLLIN};
        p[1] = (struct pollfd){.fd = s->lfd, .events = POLLIN};
        int n = s->nclients;
        for (int i = 0; i < n; i++)
            p[2 + i] = (struct pollfd){.fd = s->clients[i], .events = POLLIN};
        if (poll(p, (nfds_t)(2 + n), -1) < 0 && errno != EINTR)
            break;
        if (p[0].revents)
            break;
        for (int i = n - 1; i >= 0; i--) {   /* backwards: drop_client moves the last */
            if (!p[2 + i].revents)
                continue;
            struct conn c = {.s = s, .fd = s->clients[i]};
            if (serve_request(&c) < 0)
                drop_client(s, i, c.why);
        }
        if (p[1].revents)
            accept_client(s);
    }
    while (s->nclients)
        drop_client(s, s->nclients - 1, NULL);
    return NULL;
}

/* ---- public API ---- */

static int listen_unix(const char *path, char *err, size_t errlen)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof sa.sun_path) {
        snprintf(err, errlen, "nbd socket path too long: %s", path);
        return -1;
    }
    memcpy(sa.sun_path, path, strlen(path) + 1);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(fd, 8) < 0) {
        snprintf(err, errlen, "nbd socket %s: %s", path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    return fd;
}

/* Starts server_main with every signal blocked (the thread inherits the mask). */
static int start_thread(struct nbd_server *s, char *err, size_t errlen)
{
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int rc = pthread_create(&s->thread, NULL, server_main, s);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc)
        snprintf(err, errlen, "nbd thread: %s", strerror(rc));
    return rc ? -1 : 0;
}

struct nbd_server *nbd_start(const struct nbd_opts *o, char *err, size_t errlen)
{
    struct nbd_store *st = store_open(o->backing, o->readonly, o->hold_limit, err, errlen);
    if (st == NULL)
        return NULL;
    struct nbd_server *s = xcalloc(1, sizeof *s);
    s->st = st;
    s->path = xstrdup(o->socket_path);
    s->lfd = -1;
    s->stopfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (s->stopfd < 0) {
        snprintf(err, errlen, "eventfd: %s", strerror(errno));
        goto fail;
    }
    if ((s->lfd = listen_unix(o->socket_path, err, errlen)) < 0)
        goto fail;
    if (start_thread(s, err, errlen) == 0)
        return s;
    close(s->lfd);
    unlink(s->path);
fail:
    if (s->stopfd >= 0)
        close(s->stopfd);
    store_close(st);
    free(s->path);
    free(s);
    return NULL;
}

void nbd_stop(struct nbd_server *s)
{
    if (s == NULL)
        return;
    uint64_t one = 1;
    if (write(s->stopfd, &one, sizeof one) < 0)
        warnx_p("nbd: cannot signal the server thread: %s", strerror(errno));
    pthread_join(s->thread, NULL);
    close(s->lfd);
    unlink(s->path);
    close(s->stopfd);
    store_close(s->st);
    free(s->path);
    free(s);
}

const char *nbd_socket_path(const struct nbd_server *s) { return s->path; }
uint64_t nbd_size(const struct nbd_server *s) { return store_size(s->st); }
uint64_t nbd_power_cut(struct nbd_server *s) { return store_power_cut(s->st); }
int nbd_flush(struct nbd_server *s) { return store_flush(s->st); }

int nbd_read(struct nbd_server *s, uint64_t off, void *buf, size_t len)
{
    return store_host_read(s->st, off, buf, len);
}

int nbd_write(struct nbd_server *s, uint64_t off, const void *buf, size_t len)
{
    return store_host_write(s->st, off, buf, len);
}

void nbd_fail_reads(struct nbd_server *s, int on) { store_set_policy(s->st, POL_FAIL_READS, on, 0); }
void nbd_fail_writes(struct nbd_server *s, int on) { store_set_policy(s->st, POL_FAIL_WRITES, on, 0); }
void nbd_fail_after(struct nbd_server *s, int64_t n) { store_set_policy(s->st, POL_FAIL_AFTER, n, 0); }
void nbd_delay(struct nbd_server *s, int ms) { store_set_policy(s->st, POL_DELAY, ms, 0); }
void nbd_clear_policy(struct nbd_server *s) { store_set_policy(s->st, POL_CLEAR, 0, 0); }
void nbd_policy(struct nbd_server *s, struct nbd_policy *out) { store_policy(s->st, out); }
void nbd_stats(struct nbd_server *s, struct nbd_stats *out) { store_stats(s->st, out); }

void nbd_fail_range(struct nbd_server *s, uint64_t sector, uint64_t count)
{
    store_set_policy(s->st, POL_RANGE, (int64_t)sector, count);
}
