/* test_nbd.c - provium's NBD block server (src/vm/nbd.c, nbd_store.c) against real
 * QEMU clients, and against a hand-written malformed one.
 *
 * qemu-io runs as an interactive session (stdin a pipe, one command at a time: it
 * reads a line per wake-up of its main loop) so that a power cut can fall between its
 * commands while it stays connected; each command's output is the text up to the next
 * "qemu-io> " prompt. qemu-img info checks the handshake. The raw-protocol tests speak
 * NBD by hand to check bounds and that a malformed client is dropped, not obeyed, and
 * race the host-side calls against a client's I/O (run it under -fsanitize=thread to
 * see the locking). The QEMU tests skip (with a note) when qemu-io or qemu-img is missing. */
#include "tests/unit/testlib.h"
#include "util/util.h"
#include "vm/nbd.h"
#include "vm/sockpath.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define K64 65536

static char dir[] = "/tmp/provium-test-nbd-XXXXXX";
static char disk_path[256], sock_path[256], out_path[256];
static int have_qemu;

/* ---- fixtures ---- */

/* A server on a fresh zero-filled backing file of size bytes. */
static struct nbd_server *start(uint64_t size, uint64_t hold_limit)
{
    unlink(disk_path);
    int fd = open(disk_path, O_RDWR | O_CREAT | O_TRUNC, 0600);
    if (fd < 0 || ftruncate(fd, (off_t)size) < 0)
        return NULL;
    close(fd);
    char err[256] = "";
    struct nbd_opts o = {.backing = disk_path, .socket_path = sock_path,
                         .hold_limit = hold_limit};
    struct nbd_server *s = nbd_start(&o, err, sizeof err);
    if (!CHECK_MSG(s != NULL, "nbd_start: %s", err))
        return NULL;
    return s;
}

/* 1 when the backing file's [off, off+len) is all byte b. */
static int backing_is(uint64_t off, size_t len, unsigned char b)
{
    size_t n = 0;
    unsigned char *d = tl_slurp(disk_path, &n);
    int ok = d && off + len <= n;
    for (size_t i = 0; ok && i < len; i++)
        ok = d[off + i] == b;
    free(d);
    return ok;
}

/* Waits up to ms for pid; kills it when it will not go. Its exit status, or -1. */
static int reap(pid_t pid, int ms)
{
    int st = 0;
    for (int i = 0; i < ms / 10; i++) {
        if (waitpid(pid, &st, WNOHANG) == pid)
            return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
        sleep_ms(10);
    }
    kill(pid, SIGKILL);
    waitpid(pid, &st, 0);
    return -1;
}

/* ---- an interactive qemu-io session ---- */

struct qio {
    pid_t pid;
    int in;           /* its stdin */
    size_t seen;      /* output bytes already returned */
    int prompts;      /* prompts seen so far */
    char *last;       /* the last command's output */
    char out[300];    /* its stdout and stderr */
};

static pid_t spawn(char *const argv[], int in_fd, const char *out_file)
{
    int out = open(out_file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (out < 0)
        return -1;
    pid_t pid = fork();
    if (pid == 0) {
        if (in_fd >= 0)
            dup2(in_fd, 0);
        dup2(out, 1);
        dup2(out, 2);
        execvp(argv[0], argv);
        _exit(127);
    }
    close(out);
    return pid;
}

/* Output after q->seen up to the next prompt, waiting up to 15 s; NULL on timeout. */
static char *qio_wait_prompt(struct qio *q)
{
    for (int i = 0; i < 1500; i++) {
        size_t n = 0;
        char *all = (char *)tl_slurp(q->out, &n);
        char *p = all && n > q->seen ? strstr(all + q->seen, "qemu-io> ") : NULL;
        if (p) {
            char *text = xstrndup(all + q->seen, (size_t)(p - all) - q->seen);
            q->seen = (size_t)(p - all) + strlen("qemu-io> ");
            q->prompts++;
            free(all);
            return text;
        }
        free(all);
        sleep_ms(10);
    }
    return NULL;
}

static int qio_open(struct qio *q, const char *cache)
{
    static int sessions;
    int p[2];
    memset(q, 0, sizeof *q);
    snprintf(q->out, sizeof q->out, "%s/qio-%d.txt", dir, ++sessions);
    if (pipe2(p, O_CLOEXEC) < 0)
        return -1;
    char *url = xasprintf("nbd+unix:///?socket=%s", sock_path);
    char *argv[] = {"qemu-io", "-f", "raw", "-t", (char *)cache, url, NULL};
    q->pid = spawn(argv, p[0], q->out);
    close(p[0]);
    free(url);
    q->in = p[1];
    free(qio_wait_prompt(q));
    return q->pid > 0 && q->prompts == 1 ? 0 : -1;
}

/* Runs one command; its output ("" on timeout), valid until the next call. */
static const char *qio(struct qio *q, const char *cmd)
{
    char *line = xasprintf("%s\n", cmd);
    free(q->last);
    q->last = NULL;
    if (write_all(q->in, line, strlen(line)) == 0)
        q->last = qio_wait_prompt(q);
    free(line);
    if (q->last == NULL)
        q->last = xstrdup("");
    return q->last;
}

/* The command's output says it moved the whole 64 KiB (or n bytes) and verified. */
static int qio_ok(const char *out, const char *verb, unsigned n)
{
    char want[64];
    snprintf(want, sizeof want, "%s %u/%u bytes", verb, n, n);
    return strstr(out, want) && !strstr(out, "failed");
}

static int qio_close(struct qio *q)
{
    close(q->in);
    free(q->last);
    q->last = NULL;
    return reap(q->pid, 15000);
}

/* ---- tests with QEMU ---- */

static void handshake_size(void)
{
    struct nbd_server *s = start(3 << 20, 0);
    if (s == NULL)
        return;
    char *url = xasprintf("nbd+unix:///?socket=%s", sock_path);
    char *argv[] = {"qemu-img", "info", "--output=json", url, NULL};
    int rc = reap(spawn(argv, -1, out_path), 15000);
    size_t n = 0;
    char *out = (char *)tl_slurp(out_path, &n);
    CHECK_EQ_INT(rc, 0);
    CHECK_STR_CONTAINS(out, "\"virtual-size\": 3145728");
    CHECK_EQ_U64(nbd_size(s), 3 << 20);
    free(out);
    free(url);
    nbd_stop(s);
}

/* Flushed writes survive a power cut, unflushed ones vanish, and the backing file
 * holds exactly what was flushed at every point. */
static void power_cut(void)
{
    struct nbd_server *s = start(1 << 20, 0);
    struct qio q;
    if (s == NULL || !CHECK(qio_open(&q, "writeback") == 0))
        goto done;
    CHECK(qio_ok(qio(&q, "write -P 0xab 0 64k"), "wrote", K64));
    CHECK(backing_is(0, K64, 0));            /* held, not yet in the file */
    CHECK(!strstr(qio(&q, "flush"), "failed"));
    CHECK(backing_is(0, K64, 0xab));
    CHECK(qio_ok(qio(&q, "write -P 0xcd 64k 64k"), "wrote", K64));
    CHECK(qio_ok(qio(&q, "write -P 0xee 4000 200"), "wrote", 200));   /* unaligned */
    CHECK(qio_ok(qio(&q, "read -P 0xcd 64k 64k"), "read", K64));   /* reads see it */
    CHECK(qio_ok(qio(&q, "read -P 0xee 4000 200"), "read", 200));
    CHECK(backing_is(K64, K64, 0));
    CHECK(backing_is(0, K64, 0xab));
    struct nbd_stats st;
    nbd_stats(s, &st);
    CHECK_EQ_U64(st.held_bytes, K64 + 8192);   /* 4000..4200 spans two blocks */
    CHECK_EQ_U64(nbd_power_cut(s), K64 + 8192);
    CHECK(qio_ok(qio(&q, "read -P 0xab 0 64k"), "read", K64));
    CHECK(qio_ok(qio(&q, "read -P 0 64k 64k"), "read", K64));
    CHECK_EQ_INT(qio_close(&q), 0);
    CHECK(backing_is(0, K64, 0xab));
    CHECK(backing_is(K64, K64, 0));
    nbd_stats(s, &st);
    CHECK_EQ_U64(st.held_bytes, 0);
done:
    nbd_stop(s);
}

/* A FUA write (qemu-io's writethrough cache) is durable when it completes. */
static void fua(void)
{
    struct nbd_server *s = start(1 << 20, 0);
    struct qio q;
    if (s == NULL || !CHECK(qio_open(&q, "writethrough") == 0))
        goto done;
    CHECK(qio_ok(qio(&q, "write -P 0x5a 8k 8k"), "wrote", 8192));
    CHECK(backing_is(8192, 8192, 0x5a));
    struct nbd_stats st;
    nbd_stats(s, &st);
    CHECK_EQ_U64(st.fua_writes, 1);
    CHECK_EQ_U64(st.held_bytes, 0);
    CHECK_EQ_INT(qio_close(&q), 0);
done:
    nbd_stop(s);
}

static void fail_reads_writes(void)
{
    struct nbd_server *s = start(1 << 20, 0);
    struct qio q;
    if (s == NULL || !CHECK(qio_open(&q, "writeback") == 0))
        goto done;
    nbd_fail_writes(s, 1);
    CHECK_STR_CONTAINS(qio(&q, "write -P 1 0 4k"), "write failed: Input/output error");
    CHECK(qio_ok(qio(&q, "read -P 0 0 4k"), "read", 4096));   /* nothing held */
    nbd_fail_reads(s, 1);
    CHECK_STR_CONTAINS(qio(&q, "read 0 4k"), "read failed: Input/output error");
    struct nbd_policy p;
    nbd_policy(s, &p);
    CHECK(p.fail_reads == 1 && p.fail_writes == 1 && p.fail_after == -1);
    nbd_clear_policy(s);
    nbd_policy(s, &p);
    CHECK(p.fail_reads == 0 && p.fail_writes == 0 && p.range_count == 0 && p.delay_ms == 0);
    CHECK(qio_ok(qio(&q, "write -P 2 0 4k"), "wrote", 4096));
    CHECK(qio_ok(qio(&q, "read -P 2 0 4k"), "read", 4096));
    struct nbd_stats st;
    nbd_stats(s, &st);
    CHECK_EQ_U64(st.failed, 2);
    CHECK_EQ_INT(qio_close(&q), 1);   /* qemu-io exits 1: a command failed */
done:
    nbd_stop(s);
}

/* fail_range(8, 8) is bytes [4096, 8192): what touches it fails, the rest works. */
static void fail_range(void)
{
    struct nbd_server *s = start(1 << 20, 0);
    struct qio q;
    if (s == NULL || !CHECK(qio_open(&q, "writeback") == 0))
        goto done;
    nbd_fail_range(s, 8, 8);
    CHECK(qio_ok(qio(&q, "read 0 4k"), "read", 4096));
    CHECK_STR_CONTAINS(qio(&q, "read 4k 4k"), "read failed: Input/output error");
    CHECK_STR_CONTAINS(qio(&q, "read 0 8k"), "read failed");
    CHECK_STR_CONTAINS(qio(&q, "write -P 3 7k 2k"), "write failed");
    CHECK(qio_ok(qio(&q, "write -P 3 8k 4k"), "wrote", 4096));
    struct nbd_policy p;
    nbd_policy(s, &p);
    CHECK(p.range_sector == 8 && p.range_count == 8);
    CHECK_EQ_INT(qio_close(&q), 1);
done:
    nbd_stop(s);
}

/* fail_after(2): two data requests (a read, a write) pass, then all fails. */
static void fail_after(void)
{
    struct nbd_server *s = start(1 << 20, 0);
    struct qio q;
    if (s == NULL || !CHECK(qio_open(&q, "writeback") == 0))
        goto done;
    nbd_fail_after(s, 2);
    CHECK(qio_ok(qio(&q, "read 0 4k"), "read", 4096));
    CHECK(qio_ok(qio(&q, "write -P 4 0 4k"), "wrote", 4096));
    struct nbd_policy p;
    nbd_policy(s, &p);
    CHECK_EQ_INT(p.fail_after, 0);
    CHECK_STR_CONTAINS(qio(&q, "read 0 4k"), "read failed");
    CHECK_STR_CONTAINS(qio(&q, "write -P 4 4k 4k"), "write failed");
    qio(&q, "flush");                         /* qemu-io prints nothing for it */
    struct nbd_stats st;
    nbd_stats(s, &st);
    CHECK_EQ_U64(st.failed, 3);
    CHECK_EQ_U64(st.flushes, 0);
    CHECK(backing_is(0, 4096, 0));           /* the failed flush applied nothing */
    nbd_clear_policy(s);
    qio_close(&q);                            /* qemu-io flushes as it closes */
    CHECK(backing_is(0, 4096, 4));
done:
    nbd_stop(s);
}

/* Held writes are bounded: a write past the limit fails whole with ENOSPC. */
static void hold_limit(void)
{
    struct nbd_server *s = start(1 << 20, K64);
    struct qio q;
    if (s == NULL || !CHECK(qio_open(&q, "writeback") == 0))
        goto done;
    CHECK(qio_ok(qio(&q, "write -P 6 0 60k"), "wrote", 60 * 1024));
    CHECK_STR_CONTAINS(qio(&q, "write -P 7 60k 8k"), "No space left on device");
    CHECK(qio_ok(qio(&q, "read -P 0 60k 4k"), "read", 4096));   /* nothing of it held */
    CHECK(qio_ok(qio(&q, "write -P 7 0 64k"), "wrote", K64));    /* within the limit */
    CHECK(!strstr(qio(&q, "flush"), "failed"));
    CHECK(qio_ok(qio(&q, "write -P 8 64k 64k"), "wrote", K64)); /* room again */
    CHECK_EQ_INT(qio_close(&q), 1);
done:
    nbd_stop(s);
}

/* The delay holds each request; nbd_stop() does not wait for it. */
static void delay(void)
{
    struct nbd_server *s = start(1 << 20, 0);
    struct qio q;
    if (s == NULL || !CHECK(qio_open(&q, "writeback") == 0))
        goto done;
    int64_t t0 = now_ns();
    CHECK(qio_ok(qio(&q, "read 0 4k"), "read", 4096));
    int64_t fast = now_ns() - t0;
    nbd_delay(s, 400);
    t0 = now_ns();
    CHECK(qio_ok(qio(&q, "read 0 4k"), "read", 4096));
    int64_t slow = now_ns() - t0;
    CHECK_MSG(slow >= 400000000 && slow > fast, "delayed read took %lld ns", (long long)slow);
    nbd_delay(s, 20000);
    CHECK(write_all(q.in, "read 0 4k\n", 10) == 0);
    sleep_ms(300);                            /* the request is in its delay now */
    t0 = now_ns();
    nbd_stop(s);
    s = NULL;
    CHECK_MSG(now_ns() - t0 < 2000000000LL, "stop took %lld ns", (long long)(now_ns() - t0));
    qio_close(&q);
done:
    nbd_stop(s);
}

/* Host access: reads see held writes; a host write is durable and survives a cut. */
static void host_access(void)
{
    struct nbd_server *s = start(1 << 20, 0);
    struct qio q;
    if (s == NULL || !CHECK(qio_open(&q, "writeback") == 0))
        goto done;
    CHECK(qio_ok(qio(&q, "write -P 0x11 0 8k"), "wrote", 8192));
    unsigned char buf[8192], want[8192];
    CHECK_EQ_INT(nbd_read(s, 0, buf, sizeof buf), 0);
    memset(want, 0x11, sizeof want);
    CHECK(memcmp(buf, want, sizeof buf) == 0);
    memset(buf, 0x22, 512);
    CHECK_EQ_INT(nbd_write(s, 1024, buf, 512), 0);   /* inside a held block */
    CHECK(backing_is(1024, 512, 0x22));
    CHECK(backing_is(0, 1024, 0));
    CHECK(qio_ok(qio(&q, "read -P 0x22 1k 512"), "read", 512));
    CHECK(qio_ok(qio(&q, "read -P 0x11 0 1k"), "read", 1024));
    nbd_power_cut(s);
    CHECK(qio_ok(qio(&q, "read -P 0x22 1k 512"), "read", 512));
    CHECK(qio_ok(qio(&q, "read -P 0 0 1k"), "read", 1024));
    CHECK_EQ_INT(nbd_read(s, (1 << 20) - 512, buf, 1024), -EINVAL);
    CHECK_EQ_INT(nbd_write(s, 1 << 20, buf, 1), -EINVAL);
    CHECK_EQ_INT(qio_close(&q), 0);
done:
    nbd_stop(s);
}

/* Two qemu-io sessions at once (a restarted QEMU while the old one lingers) share one
 * disk: what one writes, the other reads; a flush from either applies both. */
static void two_clients(void)
{
    struct nbd_server *s = start(1 << 20, 0);
    struct qio a, b;
    if (s == NULL || !CHECK(qio_open(&a, "writeback") == 0))
        goto done;
    int ok_b = qio_open(&b, "writeback") == 0;
    CHECK(ok_b);
    if (ok_b) {
        CHECK(qio_ok(qio(&b, "write -P 0x77 0 4k"), "wrote", 4096));
        CHECK(qio_ok(qio(&b, "read -P 0x77 0 4k"), "read", 4096));
    }
    CHECK(qio_ok(qio(&a, "read -P 0x77 0 4k"), "read", 4096));
    CHECK(!strstr(qio(&a, "flush"), "failed"));
    CHECK(backing_is(0, 4096, 0x77));
    struct nbd_stats st;
    nbd_stats(s, &st);
    CHECK_EQ_U64(st.connections, 2);
    if (ok_b)
        CHECK_EQ_INT(qio_close(&b), 0);
    CHECK_EQ_INT(qio_close(&a), 0);
done:
    nbd_stop(s);
}

/* ---- a hand-written client: bounds and malformed input ---- */

static int raw_connect(void)
{
    int fd = sockpath_connect(sock_path, 0);
    struct timeval tv = {.tv_sec = 5};
    if (fd >= 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    return fd;
}

static int raw_read(int fd, void *p, size_t n)
{
    size_t got = 0;
    while (got < n) {
        ssize_t r = recv(fd, (char *)p + got, n - got, 0);
        if (r <= 0)
            return -1;
        got += (size_t)r;
    }
    return 0;
}

/* 1 when the server closed fd (EOF, or a reset for unread input; not a timeout). */
static int closed_by_server(int fd)
{
    char c;
    ssize_t r = recv(fd, &c, 1, 0);
    return r == 0 || (r < 0 && errno == ECONNRESET);
}

static void be32(unsigned char *p, uint32_t v)
{
    p[0] = v >> 24; p[1] = v >> 16; p[2] = v >> 8; p[3] = v;
}

static void be64(unsigned char *p, uint64_t v)
{
    be32(p, v >> 32);
    be32(p + 4, (uint32_t)v);
}

static uint32_t rd32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Connects, reads the greeting, sends client flags; -1 on a wrong greeting. */
static int raw_greet(void)
{
    unsigned char hello[18], cf[4] = {0, 0, 0, 3};
    int fd = raw_connect();
    if (fd < 0 || raw_read(fd, hello, 18) < 0 || memcmp(hello, "NBDMAGICIHAVEOPT\0\3", 18)
        || write_all(fd, cf, 4) < 0) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    return fd;
}

static void raw_option(int fd, uint32_t opt, const void *data, uint32_t len)
{
    unsigned char h[16];
    memcpy(h, "IHAVEOPT", 8);
    be32(h + 8, opt);
    be32(h + 12, len);
    write_all(fd, h, 16);
    if (len)
        write_all(fd, data, len);
}

/* The type of the next option reply (skipping its data), or 0. */
static uint32_t raw_opt_reply(int fd)
{
    unsigned char h[20], d[256];
    if (raw_read(fd, h, 20) < 0 || rd32(h + 16) > sizeof d || raw_read(fd, d, rd32(h + 16)) < 0)
        return 0;
    return rd32(h + 12);
}

/* A connection in transmission, through NBD_OPT_EXPORT_NAME with no zeroes. */
static int raw_transmission(void)
{
    int fd = raw_greet();
    unsigned char r[10];
    if (fd < 0)
        return -1;
    raw_option(fd, 1, "", 0);
    if (raw_read(fd, r, 10) < 0 || r[9] != (1 | 4 | 8)) {
        close(fd);
        return -1;
    }
    return fd;
}

/* Sends a request; returns the reply's error (its data, if any, is left unread). */
static int64_t raw_request(int fd, uint16_t flags, uint16_t type, uint64_t off, uint32_t len)
{
    unsigned char h[28], r[16];
    be32(h, 0x25609513);
    h[4] = flags >> 8; h[5] = (unsigned char)flags;
    h[6] = type >> 8; h[7] = (unsigned char)type;
    memcpy(h + 8, "cookie!!", 8);
    be64(h + 16, off);
    be32(h + 24, len);
    if (write_all(fd, h, 28) < 0 || raw_read(fd, r, 16) < 0 || memcmp(r + 8, "cookie!!", 8))
        return -1;
    return rd32(r + 4);
}

static void raw_options(void)
{
    struct nbd_server *s = start(1 << 20, 0);
    if (s == NULL)
        return;
    int fd = raw_greet();
    CHECK(fd >= 0);
    raw_option(fd, 3, NULL, 0);                    /* LIST: one server, then ACK */
    CHECK_EQ_INT(raw_opt_reply(fd), 2);
    CHECK_EQ_INT(raw_opt_reply(fd), 1);
    raw_option(fd, 8, NULL, 0);                    /* STRUCTURED_REPLY: unsupported */
    CHECK_EQ_U64(raw_opt_reply(fd), 0x80000001u);
    unsigned char info[8] = {0, 0, 0, 0, 0, 1, 0, 3};
    raw_option(fd, 6, info, 8);                    /* INFO: export, block size, ACK */
    CHECK_EQ_INT(raw_opt_reply(fd), 3);
    CHECK_EQ_INT(raw_opt_reply(fd), 3);
    CHECK_EQ_INT(raw_opt_reply(fd), 1);
    raw_option(fd, 7, info, 7);                    /* GO with a bad length */
    CHECK_EQ_U64(raw_opt_reply(fd), 0x80000003u);
    raw_option(fd, 2, NULL, 0);                    /* ABORT */
    CHECK_EQ_INT(raw_opt_reply(fd), 1);
    CHECK(closed_by_server(fd));
    close(fd);
    fd = raw_greet();                              /* a bad option magic */
    CHECK(write_all(fd, "IHAVEOPX\0\0\0\1\0\0\0\0", 16) == 0);
    CHECK(closed_by_server(fd));
    close(fd);
    fd = raw_greet();                              /* an absurd option length */
    raw_option(fd, 1, NULL, 0x7fffffff);
    CHECK(closed_by_server(fd));
    close(fd);
    struct nbd_stats st;
    nbd_stats(s, &st);
    CHECK_EQ_U64(st.dropped, 2);
    CHECK_STR_EQ(st.last_drop, "option too long");
    nbd_stop(s);
}

static void raw_requests(void)
{
    struct nbd_server *s = start(1 << 20, 0);
    int fd = s ? raw_transmission() : -1;
    if (!CHECK(fd >= 0))
        goto done;
    CHECK_EQ_INT(raw_request(fd, 0, 0, (1 << 20) - 512, 1024), 22);   /* read past end */
    CHECK_EQ_INT(raw_request(fd, 0, 0, UINT64_MAX - 10, 512), 22);    /* wrapping offset */
    CHECK_EQ_INT(raw_request(fd, 0, 0, 0, NBD_MAX_REQUEST + 1), 22);  /* read too long */
    CHECK_EQ_INT(raw_request(fd, 2, 0, 0, 512), 22);                  /* unknown flag */
    CHECK_EQ_INT(raw_request(fd, 0, 4, 0, 512), 22);                  /* TRIM: not offered */
    CHECK_EQ_INT(raw_request(fd, 0, 0, 0, 0), 0);                     /* empty read */
    CHECK_EQ_INT(raw_request(fd, 0, 3, 0, 0), 0);                     /* flush */
    unsigned char h[28] = {0x25, 0x60, 0x95, 0x13, 0, 0, 0, 1};       /* write past end */
    be64(h + 16, (1 << 20) - 4);
    be32(h + 24, 8);
    write_all(fd, h, 28);
    write_all(fd, "12345678", 8);
    unsigned char r[16];
    CHECK(raw_read(fd, r, 16) == 0 && rd32(r + 4) == 28);
    be32(h + 24, 0x7fffffff);                                         /* write too long */
    write_all(fd, h, 28);
    CHECK(closed_by_server(fd));
    close(fd);
    fd = raw_transmission();                                          /* bad magic */
    CHECK(fd >= 0 && write_all(fd, "garbage garbage garbage garbage!", 32) == 0);
    CHECK(fd >= 0 && closed_by_server(fd));
    if (fd >= 0)
        close(fd);
    fd = raw_transmission();                                          /* still serving */
    CHECK(fd >= 0 && raw_request(fd, 0, 0, 0, 0) == 0);
    if (fd >= 0)
        close(fd);
    struct nbd_stats st;
    nbd_stats(s, &st);
    CHECK_EQ_U64(st.dropped, 2);
    CHECK_STR_EQ(st.last_drop, "bad request magic");
done:
    nbd_stop(s);
}

/* nbd_start refuses a missing backing file, an overlong socket path, a taken one. */
static void start_errors(void)
{
    char err[256] = "", longp[200];
    struct nbd_opts o = {.backing = "/nonexistent/disk", .socket_path = sock_path};
    CHECK(nbd_start(&o, err, sizeof err) == NULL);
    CHECK_STR_CONTAINS(err, "cannot open disk /nonexistent/disk");
    struct nbd_server *s = start(4096, 0);
    if (s == NULL)
        return;
    memset(longp, 'x', sizeof longp - 1);
    longp[sizeof longp - 1] = 0;
    o = (struct nbd_opts){.backing = disk_path, .socket_path = longp};
    CHECK(nbd_start(&o, err, sizeof err) == NULL);
    CHECK_STR_CONTAINS(err, "nbd socket path too long");
    o.socket_path = sock_path;
    CHECK(nbd_start(&o, err, sizeof err) == NULL);   /* the running server has it */
    CHECK_STR_CONTAINS(err, "Address already in use");
    nbd_stop(s);
    CHECK(access(sock_path, F_OK) != 0);               /* stop removed the socket */
}

/* A read-only export says so and refuses writes with EPERM, host writes too. */
static void readonly_export(void)
{
    unlink(disk_path);
    int dfd = open(disk_path, O_RDWR | O_CREAT | O_TRUNC, 0600);
    CHECK(dfd >= 0 && ftruncate(dfd, 8192) == 0);
    close(dfd);
    char err[256] = "";
    struct nbd_opts o = {.backing = disk_path, .socket_path = sock_path, .readonly = 1};
    struct nbd_server *s = nbd_start(&o, err, sizeof err);
    if (!CHECK_MSG(s != NULL, "%s", err))
        return;
    int fd = raw_greet();
    unsigned char r[10], h[28] = {0x25, 0x60, 0x95, 0x13, 0, 0, 0, 1};
    raw_option(fd, 1, "", 0);
    CHECK(raw_read(fd, r, 10) == 0 && r[9] == (1 | 2 | 4 | 8));
    be32(h + 24, 4);
    write_all(fd, h, 28);
    write_all(fd, "abcd", 4);
    CHECK(raw_read(fd, h, 16) == 0 && rd32(h + 4) == 1);
    CHECK_EQ_INT(raw_request(fd, 0, 3, 0, 0), 0);
    close(fd);
    CHECK_EQ_INT(nbd_write(s, 0, "abcd", 4), -EPERM);
    nbd_stop(s);
}

/* Random bytes after the handshake, some behind a valid request magic: the server may
 * answer or drop, never crash or hang, and serves a proper client afterwards. */
static void raw_garbage(void)
{
    struct nbd_server *s = start(1 << 20, 0);
    if (s == NULL)
        return;
    srand(12);
    unsigned char junk[600];
    for (int i = 0; i < 200; i++) {
        int fd = raw_transmission();
        size_t n = (size_t)(rand() % (int)sizeof junk);
        for (size_t j = 0; j < n; j++)
            junk[j] = (unsigned char)rand();
        if (i % 2 && n >= 28)
            be32(junk, 0x25609513);
        if (i % 4 == 1 && n >= 28)
            be32(junk + 24, (uint32_t)(n - 28));   /* a plausible length */
        CHECK(fd >= 0 && write_all(fd, junk, n) == 0);
        shutdown(fd, SHUT_WR);
        char c[4096];
        while (fd >= 0 && recv(fd, c, sizeof c, 0) > 0)
            ;
        if (fd >= 0)
            close(fd);
    }
    int fd = raw_transmission();
    CHECK(fd >= 0 && raw_request(fd, 0, 3, 0, 0) == 0);
    if (fd >= 0)
        close(fd);
    nbd_stop(s);
}

/* The Lua thread's calls while a client writes and reads: no race, no crash, and after
 * a flush the guest's view and the backing file agree. */
static atomic_int hammering;

static void *hammer(void *arg)
{
    struct nbd_server *s = arg;
    unsigned char buf[8192];
    struct nbd_policy p;
    struct nbd_stats st;
    for (int i = 0; hammering; i++) {
        if (i % 7 == 0)
            nbd_power_cut(s);
        nbd_fail_range(s, (uint64_t)(i % 64) * 8, i % 3 ? 0 : 8);
        nbd_read(s, (uint64_t)(i % 60) * 4096, buf, sizeof buf);
        if (i % 11 == 0)
            nbd_write(s, (uint64_t)(i % 100) * 512, buf, 512);
        nbd_policy(s, &p);
        nbd_stats(s, &st);
    }
    return NULL;
}

static void concurrent(void)
{
    struct nbd_server *s = start(256 * 1024, 0);
    int fd = s ? raw_transmission() : -1;
    if (!CHECK(fd >= 0))
        goto done;
    pthread_t th;
    hammering = 1;
    pthread_create(&th, NULL, hammer, s);
    unsigned char h[28] = {0x25, 0x60, 0x95, 0x13}, r[16], data[6000];
    int answered = 0;
    for (int i = 0; i < 400; i++) {
        memset(data, i, sizeof data);
        h[7] = i % 3 ? 1 : 0;                        /* WRITE, WRITE, READ, ... */
        h[5] = i % 5 == 0;                           /* FUA on some */
        be64(h + 16, (uint64_t)(i * 977) % (250 * 1024));
        be32(h + 24, sizeof data);
        write_all(fd, h, 28);
        if (h[7] == 1)
            write_all(fd, data, sizeof data);
        if (raw_read(fd, r, 16) < 0)
            break;
        if (h[7] == 0 && rd32(r + 4) == 0 && raw_read(fd, data, sizeof data) < 0)
            break;
        answered++;
    }
    hammering = 0;
    pthread_join(th, NULL);
    CHECK_EQ_INT(answered, 400);
    close(fd);
    CHECK_EQ_INT(nbd_flush(s), 0);
    size_t n = 0;
    unsigned char *file = tl_slurp(disk_path, &n), *view = xmalloc(256 * 1024);
    CHECK(nbd_read(s, 0, view, 256 * 1024) == 0 && n == 256 * 1024 &&
          memcmp(file, view, n) == 0);
    free(file);
    free(view);
done:
    nbd_stop(s);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    if (!CHECK(mkdtemp(dir) != NULL))
        return TEST_SUMMARY();
    snprintf(disk_path, sizeof disk_path, "%s/disk.raw", dir);
    snprintf(sock_path, sizeof sock_path, "%s/nbd.sock", dir);
    snprintf(out_path, sizeof out_path, "%s/out.txt", dir);
    have_qemu = system("command -v qemu-io >/dev/null && command -v qemu-img >/dev/null") == 0;
    RUN(raw_options);
    RUN(raw_requests);
    RUN(raw_garbage);
    RUN(start_errors);
    RUN(readonly_export);
    RUN(concurrent);
    if (have_qemu) {
        RUN(handshake_size);
        RUN(power_cut);
        RUN(fua);
        RUN(fail_reads_writes);
        RUN(fail_range);
        RUN(fail_after);
        RUN(hold_limit);
        RUN(delay);
        RUN(host_access);
        RUN(two_clients);
    } else {
        printf("qemu-io/qemu-img not installed: the QEMU client tests are skipped\n");
    }
    rm_rf(dir);
    return TEST_SUMMARY();
}
