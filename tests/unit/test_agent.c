/* test_agent.c - drives the host build of provium-agent over a socketpair.
 *
 * Why: the agent's real home is a VM, but everything except the PID-1 chores and the
 * virtio port is plain Linux, so `provium-agent --fd N` lets us test the protocol and
 * every operation here, fast, and under ASan/UBSan. The test plays the host: it keeps
 * an output queue that is flushed while it reads (the agent blocks on its writes, so a
 * host that writes without reading could deadlock), and stashes frames of other
 * request ids so several requests can be in flight at once.
 *
 * Usage: test_agent [path/to/provium-agent-host]   (or env PROVIUM_AGENT_BIN) */
#include "proto/wire.h"
#include "testlib.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define FRAME_TIMEOUT_MS 20000

/* ---- the host side of the connection ---- */

struct frame {
    struct wire_header h;
    uint8_t *payload;
};

static struct {
    int fd;
    pid_t pid;
    struct wire_inbuf in;
    uint8_t *out;
    size_t out_len, out_off, out_cap;
    uint32_t next_id;
    struct frame *stash;
    size_t nstash, stash_cap;
} host;

static char tmpdir[256];

static double now_sec(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void cleanup_tmpdir(void)
{
    char cmd[600];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
    if (tmpdir[0] && system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", tmpdir);
}

static void die(const char *what)
{
    fprintf(stderr, "test_agent: fatal: %s\n", what);
    printf("%d passed, %d failed\n", tl_passed, tl_failed + 1);
    if (host.pid > 0)
        kill(host.pid, SIGKILL);
    cleanup_tmpdir();
    exit(1);
}

static void queue_bytes(const void *p, size_t n)
{
    if (host.out_len + n > host.out_cap) {
        size_t cap = host.out_cap ? host.out_cap : 65536;
        while (cap < host.out_len + n)
            cap *= 2;
        host.out = realloc(host.out, cap);
        if (!host.out)
            die("out of memory");
        host.out_cap = cap;
    }
    memcpy(host.out + host.out_len, p, n);
    host.out_len += n;
}

static void queue_writer(struct wire_writer *w)
{
    if (wire_finish(w) < 0)
        die("wire_finish");
    queue_bytes(w->buf, w->len);
    wire_writer_free(w);
}

static void queue_frame(uint16_t type, uint32_t id, const void *payload, size_t n)
{
    struct wire_header h = {(uint32_t)n, type, 0, id};
    uint8_t hdr[WIRE_HEADER_SIZE];
    wire_encode_header(hdr, &h);
    queue_bytes(hdr, sizeof(hdr));
    if (n)
        queue_bytes(payload, n);
}

static uint32_t begin(struct wire_writer *w, uint16_t type)
{
    uint32_t id = ++host.next_id;
    memset(w, 0, sizeof(*w));
    wire_begin(w, type, id);
    return id;
}

static void flush_some(void)
{
    while (host.out_off < host.out_len) {
        ssize_t k = write(host.fd, host.out + host.out_off, host.out_len - host.out_off);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0 && errno == EAGAIN)
            return;
        if (k < 0)
            die("write to agent failed");
        host.out_off += (size_t)k;
    }
    host.out_off = host.out_len = 0;
}

/* Reads frames (writing queued output meanwhile) until one is complete. Returns 0 on
 * success, -1 at EOF, -2 on timeout. The payload is a malloc'd copy. */
static int read_frame(struct frame *f, int timeout_ms)
{
    double deadline = now_sec() + timeout_ms / 1000.0;
    for (;;) {
        const uint8_t *p;
        int k = wire_inbuf_next(&host.in, &f->h, &p);
        if (k < 0)
            die("corrupt frame from agent");
        if (k == 1) {
            f->payload = malloc(f->h.len + 1);
            memcpy(f->payload, p, f->h.len);
            return 0;
        }
        int left = (int)((deadline - now_sec()) * 1000);
        if (left <= 0)
            return -2;
        struct pollfd pfd = {host.fd, POLLIN | (host.out_len > host.out_off ? POLLOUT : 0), 0};
        if (poll(&pfd, 1, left) < 0 && errno != EINTR)
            die("poll");
        if (pfd.revents & POLLOUT)
            flush_some();
        if (pfd.revents & (POLLIN | POLLHUP)) {
            static uint8_t buf[1 << 18];
            ssize_t n = read(host.fd, buf, sizeof(buf));
            if (n == 0)
                return -1;
            if (n > 0)
                wire_inbuf_append(&host.in, buf, (size_t)n);
            else if (errno != EAGAIN && errno != EINTR)
                return -1;
        }
    }
}

/* The next frame for request id; frames of other ids are kept for later. */
static void frame_for(uint32_t id, struct frame *f)
{
    for (size_t i = 0; i < host.nstash; i++) {
        if (host.stash[i].h.id == id) {
            *f = host.stash[i];
            memmove(&host.stash[i], &host.stash[i + 1], (host.nstash - i - 1) * sizeof(*f));
            host.nstash--;
            return;
        }
    }
    for (;;) {
        int rc = read_frame(f, FRAME_TIMEOUT_MS);
        if (rc == -1)
            die("agent closed the connection");
        if (rc == -2)
            die("timed out waiting for a frame");
        if (f->h.id == id)
            return;
        if (host.nstash == host.stash_cap) {
            host.stash_cap = host.stash_cap ? host.stash_cap * 2 : 16;
            host.stash = realloc(host.stash, host.stash_cap * sizeof(*f));
        }
        host.stash[host.nstash++] = *f;
    }
}

/* ---- RESULT helpers ---- */

struct result {
    int err;
    char msg[512];
    struct wire_reader extra; /* fields after errno + message */
    uint8_t *payload;
};

static void result_free(struct result *r)
{
    free(r->payload);
    r->payload = NULL;
}

/* Waits for the RESULT of id (DATA frames are skipped; use read_file for those). */
static void wait_result(uint32_t id, struct result *res)
{
    struct frame f;
    for (;;) {
        frame_for(id, &f);
        if (f.h.type == WIRE_RESULT)
            break;
        free(f.payload);
    }
    res->payload = f.payload;
    wire_reader_init(&res->extra, f.payload, f.h.len);
    res->err = wire_get_i32(&res->extra);
    uint32_t n;
    const uint8_t *m = wire_get_bytes(&res->extra, &n);
    if (!wire_reader_ok(&res->extra))
        die("malformed RESULT");
    if (n >= sizeof(res->msg))
        n = sizeof(res->msg) - 1;
    memcpy(res->msg, m, n);
    res->msg[n] = 0;
}

static int simple(struct wire_writer *w, uint32_t id, char *msg_out, size_t cap)
{
    queue_writer(w);
    struct result r;
    wait_result(id, &r);
    if (msg_out)
        snprintf(msg_out, cap, "%s", r.msg);
    CHECK(wire_reader_at_end(&r.extra));
    result_free(&r);
    return r.err;
}

static int ping(void)
{
    struct wire_writer w;
    uint32_t id = begin(&w, WIRE_PING);
    return simple(&w, id, NULL, 0);
}

/* ---- starting and stopping the agent ---- */

static void start_agent(const char *bin)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
        die("socketpair");
    pid_t pid = fork();
    if (pid < 0)
        die("fork");
    if (pid == 0) {
        fcntl(sv[1], F_SETFD, 0);
        char fdarg[16];
        snprintf(fdarg, sizeof(fdarg), "%d", sv[1]);
        execl(bin, bin, "--fd", fdarg, (char *)NULL);
        perror(bin);
        _exit(127);
    }
    close(sv[1]);
    fcntl(sv[0], F_SETFL, O_NONBLOCK);
    memset(&host, 0, sizeof(host));
    host.fd = sv[0];
    host.pid = pid;
}

static void stop_agent(void)
{
    close(host.fd);
    wire_inbuf_free(&host.in);
    free(host.out);
    for (size_t i = 0; i < host.nstash; i++)
        free(host.stash[i].payload);
    free(host.stash);
    host.fd = -1;
}

static int wait_agent_exit(pid_t pid, int timeout_ms)
{
    for (int waited = 0; waited < timeout_ms; waited += 10) {
        int st;
        if (waitpid(pid, &st, WNOHANG) == pid)
            return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
        usleep(10000);
    }
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    return -1;
}

/* ---- exec helpers ---- */

struct exec_opts {
    const char *const *argv;
    const char *const *env;
    const char *cwd;
    uint32_t flags;
    uint64_t timeout_ms;
    const uint8_t *stdin_data;
    size_t stdin_len;
};

struct exec_res {
    int err; /* RESULT errno when it could not start */
    char msg[512];
    int status, code, sig;
    char *out, *errout;
    size_t out_len, err_len, out_cap, err_cap;
    double secs;
};

static size_t count(const char *const *v)
{
    size_t n = 0;
    while (v && v[n])
        n++;
    return n;
}

static uint32_t exec_send(const struct exec_opts *o)
{
    struct wire_writer w;
    uint32_t id = begin(&w, WIRE_EXEC);
    uint32_t flags = o->flags | (o->stdin_data ? WIRE_EXEC_STDIN : 0);
    wire_put_u32(&w, flags);
    wire_put_str(&w, o->cwd ? o->cwd : "");
    wire_put_u32(&w, (uint32_t)count(o->argv));
    for (size_t i = 0; i < count(o->argv); i++)
        wire_put_str(&w, o->argv[i]);
    wire_put_u32(&w, (uint32_t)count(o->env));
    for (size_t i = 0; i < count(o->env); i++)
        wire_put_str(&w, o->env[i]);
    wire_put_u64(&w, o->timeout_ms);
    queue_writer(&w);
    if (o->stdin_data) {
        for (size_t off = 0; off < o->stdin_len; off += 65536) {
            size_t n = o->stdin_len - off < 65536 ? o->stdin_len - off : 65536;
            queue_frame(WIRE_DATA, id, o->stdin_data + off, n);
        }
        queue_frame(WIRE_DATA, id, NULL, 0);
    }
    return id;
}

/* Appends to a NUL-terminated buffer that grows geometrically. */
static void append(char **buf, size_t *len, size_t *cap, const uint8_t *p, size_t n)
{
    if (!*buf || *len + n + 1 > *cap) {
        size_t c = *cap ? *cap : 64;
        while (c < *len + n + 1)
            c *= 2;
        *buf = realloc(*buf, c);
        if (!*buf)
            die("out of memory");
        *cap = c;
    }
    if (n)
        memcpy(*buf + *len, p, n);
    *len += n;
    (*buf)[*len] = 0;
}

static void exec_collect(uint32_t id, struct exec_res *r, double started)
{
    memset(r, 0, sizeof(*r));
    append(&r->out, &r->out_len, &r->out_cap, NULL, 0);
    append(&r->errout, &r->err_len, &r->err_cap, NULL, 0);
    for (;;) {
        struct frame f;
        frame_for(id, &f);
        struct wire_reader rd;
        wire_reader_init(&rd, f.payload, f.h.len);
        if (f.h.type == WIRE_OUTPUT) {
            uint8_t stream = wire_get_u8(&rd);
            uint32_t n;
            const uint8_t *p = wire_get_bytes(&rd, &n);
            CHECK(wire_reader_at_end(&rd));
            CHECK(n <= WIRE_CHUNK);
            if (stream == 1)
                append(&r->out, &r->out_len, &r->out_cap, p, n);
            else
                append(&r->errout, &r->err_len, &r->err_cap, p, n);
        } else if (f.h.type == WIRE_EXIT) {
            r->status = wire_get_u8(&rd);
            r->code = wire_get_i32(&rd);
            r->sig = wire_get_i32(&rd);
            CHECK(wire_reader_at_end(&rd));
            free(f.payload);
            break;
        } else if (f.h.type == WIRE_RESULT) {
            r->err = wire_get_i32(&rd);
            uint32_t n;
            const uint8_t *m = wire_get_bytes(&rd, &n);
            snprintf(r->msg, sizeof(r->msg), "%.*s", (int)n, (const char *)m);
            r->status = -1;
            free(f.payload);
            break;
        } else {
            CHECK_MSG(0, "unexpected %s frame for an exec", wire_type_name(f.h.type));
        }
        free(f.payload);
    }
    r->secs = now_sec() - started;
}

static void exec_run(const struct exec_opts *o, struct exec_res *r)
{
    double t0 = now_sec();
    exec_collect(exec_send(o), r, t0);
}

static void exec_free(struct exec_res *r)
{
    free(r->out);
    free(r->errout);
}

/* sh -c CMD */
static void sh(const char *cmd, struct exec_res *r)
{
    const char *argv[] = {"sh", "-c", cmd, NULL};
    struct exec_opts o = {.argv = argv};
    exec_run(&o, r);
}

/* ---- file helpers ---- */

static int write_file(const char *path, const uint8_t *data, size_t n, uint32_t mode, uint32_t flags)
{
    struct wire_writer w;
    uint32_t id = begin(&w, WIRE_WRITE_FILE);
    wire_put_str(&w, path);
    wire_put_u32(&w, mode);
    wire_put_u32(&w, flags);
    queue_writer(&w);
    for (size_t off = 0; off < n; off += WIRE_CHUNK) {
        size_t k = n - off < WIRE_CHUNK ? n - off : WIRE_CHUNK;
        queue_frame(WIRE_DATA, id, data + off, k);
    }
    queue_frame(WIRE_DATA, id, NULL, 0);
    struct result r;
    wait_result(id, &r);
    int err = r.err;
    result_free(&r);
    return err;
}

/* Returns errno; on success data and len hold the file (malloc'd). */
static int read_file(const char *path, uint8_t **data, size_t *len)
{
    struct wire_writer w;
    uint32_t id = begin(&w, WIRE_READ_FILE);
    wire_put_str(&w, path);
    queue_writer(&w);
    char *buf = NULL;
    size_t n = 0, cap = 0;
    for (;;) {
        struct frame f;
        frame_for(id, &f);
        if (f.h.type == WIRE_DATA) {
            CHECK(f.h.len > 0 && f.h.len <= WIRE_CHUNK);
            append(&buf, &n, &cap, f.payload, f.h.len);
            free(f.payload);
            continue;
        }
        CHECK_EQ_INT(f.h.type, WIRE_RESULT);
        struct wire_reader rd;
        wire_reader_init(&rd, f.payload, f.h.len);
        int err = wire_get_i32(&rd);
        uint32_t ml;
        wire_get_bytes(&rd, &ml);
        if (!err) {
            uint64_t total = wire_get_u64(&rd);
            CHECK_EQ_U64(total, n);
        }
        CHECK(wire_reader_at_end(&rd));
        free(f.payload);
        if (err) {
            free(buf);
            buf = NULL;
            n = 0;
        }
        *data = (uint8_t *)buf;
        *len = n;
        return err;
    }
}

struct stat_res {
    int err;
    uint8_t type;
    uint64_t size;
    int64_t mtime;
    uint32_t perm;
};

static struct stat_res do_stat(const char *path, int follow)
{
    struct wire_writer w;
    uint32_t id = begin(&w, WIRE_STAT);
    wire_put_str(&w, path);
    wire_put_u8(&w, (uint8_t)follow);
    queue_writer(&w);
    struct result r;
    wait_result(id, &r);
    struct stat_res s = {.err = r.err};
    if (!r.err) {
        s.type = wire_get_u8(&r.extra);
        s.size = wire_get_u64(&r.extra);
        s.mtime = wire_get_i64(&r.extra);
        wire_get_u32(&r.extra);
        s.perm = wire_get_u32(&r.extra);
    }
    CHECK(wire_reader_at_end(&r.extra));
    result_free(&r);
    return s;
}

static int do_mkdir(const char *path, uint32_t perm, int parents)
{
    struct wire_writer w;
    uint32_t id = begin(&w, WIRE_MKDIR);
    wire_put_str(&w, path);
    wire_put_u32(&w, perm);
    wire_put_u8(&w, (uint8_t)parents);
    return simple(&w, id, NULL, 0);
}

static int do_path_op(uint16_t type, const char *path)
{
    struct wire_writer w;
    uint32_t id = begin(&w, type);
    wire_put_str(&w, path);
    return simple(&w, id, NULL, 0);
}

static int do_rename(const char *from, const char *to)
{
    struct wire_writer w;
    uint32_t id = begin(&w, WIRE_RENAME);
    wire_put_str(&w, from);
    wire_put_str(&w, to);
    return simple(&w, id, NULL, 0);
}

/* ---- handle helpers (OPEN, HREAD, HWRITE, HSEEK, HCLOSE) ---- */

static int h_open(const char *path, uint32_t flags, uint32_t perm, uint32_t *hid)
{
    struct wire_writer w;
    uint32_t id = begin(&w, WIRE_OPEN);
    wire_put_str(&w, path);
    wire_put_u32(&w, flags);
    wire_put_u32(&w, perm);
    queue_writer(&w);
    struct result r;
    wait_result(id, &r);
    *hid = r.err ? 0 : wire_get_u32(&r.extra);
    CHECK(wire_reader_at_end(&r.extra));
    int err = r.err;
    result_free(&r);
    return err;
}

/* Returns errno; on success *data (malloc'd, NUL-terminated) holds *n bytes. */
static int h_read(uint32_t hid, uint32_t max, char **data, uint32_t *n)
{
    struct wire_writer w;
    uint32_t id = begin(&w, WIRE_HREAD);
    wire_put_u32(&w, hid);
    wire_put_u32(&w, max);
    queue_writer(&w);
    struct result r;
    wait_result(id, &r);
    *data = NULL;
    *n = 0;
    if (!r.err) {
        const uint8_t *p = wire_get_bytes(&r.extra, n);
        *data = malloc(*n + 1);
        if (*n)
            memcpy(*data, p, *n);
        (*data)[*n] = 0;
    }
    CHECK(wire_reader_at_end(&r.extra));
    int err = r.err;
    result_free(&r);
    return err;
}

static int h_write(uint32_t hid, const void *p, uint32_t n, uint32_t *written)
{
    struct wire_writer w;
    uint32_t id = begin(&w, WIRE_HWRITE);
    wire_put_u32(&w, hid);
    wire_put_bytes(&w, p, n);
    queue_writer(&w);
    struct result r;
    wait_result(id, &r);
    *written = r.err ? 0 : wire_get_u32(&r.extra);
    CHECK(wire_reader_at_end(&r.extra));
    int err = r.err;
    result_free(&r);
    return err;
}

static int h_seek(uint32_t hid, int64_t off, uint8_t whence, uint64_t *pos)
{
    struct wire_writer w;
    uint32_t id = begin(&w, WIRE_HSEEK);
    wire_put_u32(&w, hid);
    wire_put_i64(&w, off);
    wire_put_u8(&w, whence);
    queue_writer(&w);
    struct result r;
    wait_result(id, &r);
    *pos = r.err ? 0 : wire_get_u64(&r.extra);
    CHECK(wire_reader_at_end(&r.extra));
    int err = r.err;
    result_free(&r);
    return err;
}

static int h_close(uint32_t hid)
{
    struct wire_writer w;
    uint32_t id = begin(&w, WIRE_HCLOSE);
    wire_put_u32(&w, hid);
    return simple(&w, id, NULL, 0);
}

static char *tmp_path(const char *name)
{
    static char buf[4][512];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof(buf[k]), "%s/%s", tmpdir, name);
    return buf[k];
}

static uint8_t *random_bytes(size_t n)
{
    uint8_t *p = malloc(n);
    uint64_t x = 0x9e3779b97f4a7c15ull ^ (uint64_t)getpid();
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        p[i] = (uint8_t)x;
    }
    return p;
}

/* ---- the tests ---- */

static void test_hello(void)
{
    struct frame f;
    int rc = read_frame(&f, FRAME_TIMEOUT_MS);
    if (rc != 0)
        die("no HELLO from the agent");
    CHECK_EQ_INT(f.h.type, WIRE_HELLO);
    CHECK_EQ_INT(f.h.id, 0);
    struct wire_reader r;
    wire_reader_init(&r, f.payload, f.h.len);
    CHECK_EQ_INT(wire_get_u32(&r), WIRE_PROTOCOL_VERSION);
    char *version = wire_get_str(&r);
    CHECK_STR_EQ(version, "0.1.0");
    CHECK_EQ_INT(wire_get_u32(&r), host.pid);
    CHECK(wire_reader_at_end(&r));
    free(version);
    free(f.payload);
    CHECK_EQ_INT(ping(), 0);
}

static void test_exec_basic(void)
{
    struct exec_res r;
    sh("echo hi", &r);
    CHECK_EQ_INT(r.status, WIRE_STATUS_EXITED);
    CHECK_EQ_INT(r.code, 0);
    CHECK_STR_EQ(r.out, "hi\n");
    CHECK_STR_EQ(r.errout, "");
    exec_free(&r);

    const char *argv[] = {"echo", "a b", "c", NULL}; /* argv form: no shell splitting */
    struct exec_opts o = {.argv = argv};
    exec_run(&o, &r);
    CHECK_EQ_INT(r.code, 0);
    CHECK_STR_EQ(r.out, "a b c\n");
    exec_free(&r);

    sh("exit 3", &r);
    CHECK_EQ_INT(r.status, WIRE_STATUS_EXITED);
    CHECK_EQ_INT(r.code, 3);
    exec_free(&r);

    sh("echo out; echo err >&2; echo out2", &r);
    CHECK_STR_EQ(r.out, "out\nout2\n");
    CHECK_STR_EQ(r.errout, "err\n");
    exec_free(&r);

    /* no agent fd leaks into children: ls sees 0-2 and its own directory fd */
    const char *ls[] = {"ls", "/proc/self/fd", NULL};
    struct exec_opts ol = {.argv = ls};
    exec_run(&ol, &r);
    CHECK_STR_EQ(r.out, "0\n1\n2\n3\n");
    exec_free(&r);

    sh("cat", &r); /* no stdin flag: stdin is at EOF at once */
    CHECK_EQ_INT(r.code, 0);
    CHECK_STR_EQ(r.out, "");
    exec_free(&r);
}

static void test_exec_env(void)
{
    struct exec_res r;
    const char *argv[] = {"sh", "-c", "echo $FOO-$TERM_X-${HOME:+home}", NULL};
    const char *env[] = {"FOO=bar", "TERM_X=1", "FOO=baz", NULL};
    struct exec_opts o = {.argv = argv, .env = env};
    exec_run(&o, &r);
    CHECK_STR_EQ(r.out, "baz-1-home\n"); /* later entries override, the rest is kept */
    exec_free(&r);

    const char *argv2[] = {"/usr/bin/env", NULL};
    const char *env2[] = {"A=1", "B=two words", NULL};
    struct exec_opts o2 = {.argv = argv2, .env = env2, .flags = WIRE_EXEC_ENV_CLEAR};
    exec_run(&o2, &r);
    CHECK_STR_EQ(r.out, "A=1\nB=two words\n");
    exec_free(&r);

    /* PATH lookup uses the command's own PATH */
    const char *script = "#!/bin/sh\necho mytool ran\n";
    CHECK_EQ_INT(write_file(tmp_path("mytool"), (const uint8_t *)script, strlen(script), 0755, 0), 0);
    char pathvar[600];
    snprintf(pathvar, sizeof(pathvar), "PATH=%s:/usr/bin:/bin", tmpdir);
    const char *argv3[] = {"mytool", NULL};
    const char *env3[] = {pathvar, NULL};
    struct exec_opts o3 = {.argv = argv3, .env = env3};
    exec_run(&o3, &r);
    CHECK_EQ_INT(r.code, 0);
    CHECK_STR_EQ(r.out, "mytool ran\n");
    exec_free(&r);

    const char *bad_env[] = {"NOEQUALS", NULL};
    struct exec_opts o4 = {.argv = argv3, .env = bad_env};
    exec_run(&o4, &r);
    CHECK_EQ_INT(r.err, EINVAL);
    exec_free(&r);
}

static void test_exec_cwd(void)
{
    struct exec_res r;
    const char *argv[] = {"sh", "-c", "pwd", NULL};
    struct exec_opts o = {.argv = argv, .cwd = tmpdir};
    exec_run(&o, &r);
    char want[600];
    snprintf(want, sizeof(want), "%s\n", tmpdir);
    CHECK_STR_EQ(r.out, want);
    exec_free(&r);

    struct exec_opts root = {.argv = argv, .cwd = ""};
    exec_run(&root, &r);
    CHECK_STR_EQ(r.out, "/\n");
    exec_free(&r);

    struct exec_opts bad = {.argv = argv, .cwd = "/nonexistent/dir"};
    exec_run(&bad, &r);
    CHECK_EQ_INT(r.status, -1);
    CHECK_EQ_INT(r.err, ENOENT);
    exec_free(&r);
}

static void test_exec_stdin(void)
{
    size_t n = 3 * 1024 * 1024;
    uint8_t *data = random_bytes(n);
    const char *argv[] = {"cat", NULL};
    struct exec_opts o = {.argv = argv, .stdin_data = data, .stdin_len = n};
    struct exec_res r;
    exec_run(&o, &r);
    CHECK_EQ_INT(r.code, 0);
    CHECK_EQ_U64(r.out_len, n);
    CHECK(r.out_len == n && memcmp(r.out, data, n) == 0);
    exec_free(&r);

    /* a child that never reads its stdin must not wedge anything */
    const char *argv2[] = {"true", NULL};
    struct exec_opts o2 = {.argv = argv2, .stdin_data = data, .stdin_len = n};
    exec_run(&o2, &r);
    CHECK_EQ_INT(r.code, 0);
    exec_free(&r);
    free(data);
    CHECK_EQ_INT(ping(), 0);
}

static void test_exec_timeout(void)
{
    const char *argv[] = {"sleep", "5", NULL};
    struct exec_opts o = {.argv = argv, .timeout_ms = 200};
    struct exec_res r;
    exec_run(&o, &r);
    CHECK_EQ_INT(r.status, WIRE_STATUS_TIMED_OUT);
    CHECK_EQ_INT(r.code, 0);
    CHECK_EQ_INT(r.sig, SIGKILL);
    CHECK_MSG(r.secs < 2.0, "timeout took %.2f s", r.secs);
    exec_free(&r);

    /* the timeout kills the whole group, grandchildren included */
    const char *argv2[] = {"sh", "-c", "sleep 30 & sleep 30", NULL};
    struct exec_opts o2 = {.argv = argv2, .timeout_ms = 200};
    exec_run(&o2, &r);
    CHECK_EQ_INT(r.status, WIRE_STATUS_TIMED_OUT);
    CHECK_MSG(r.secs < 2.0, "group timeout took %.2f s", r.secs);
    exec_free(&r);

    /* a background child holding stdout open does not delay EXIT */
    sh("sleep 100 & echo $!", &r);
    CHECK_EQ_INT(r.code, 0);
    CHECK_MSG(r.secs < 2.0, "background child delayed EXIT by %.2f s", r.secs);
    pid_t bg = (pid_t)atoi(r.out);
    CHECK(bg > 0);
    if (bg > 0)
        kill(bg, SIGKILL);
    exec_free(&r);
}

static void test_exec_failures(void)
{
    const char *argv[] = {"provium-no-such-program", NULL};
    struct exec_opts o = {.argv = argv};
    struct exec_res r;
    exec_run(&o, &r);
    CHECK_EQ_INT(r.status, WIRE_STATUS_EXITED);
    CHECK_EQ_INT(r.code, 127);
    CHECK_STR_CONTAINS(r.errout, "provium-no-such-program: not found");
    exec_free(&r);

    CHECK_EQ_INT(write_file(tmp_path("noexec"), (const uint8_t *)"x", 1, 0644, 0), 0);
    const char *argv2[] = {tmp_path("noexec"), NULL}; /* exists, not executable */
    struct exec_opts o2 = {.argv = argv2};
    exec_run(&o2, &r);
    CHECK_EQ_INT(r.code, 126);
    exec_free(&r);

    sh("kill -9 $$", &r);
    CHECK_EQ_INT(r.status, WIRE_STATUS_SIGNALLED);
    CHECK_EQ_INT(r.code, 0);
    CHECK_EQ_INT(r.sig, 9);
    exec_free(&r);

    struct wire_writer w;
    uint32_t id = begin(&w, WIRE_EXEC); /* argc 0 */
    wire_put_u32(&w, 0);
    wire_put_str(&w, "");
    wire_put_u32(&w, 0);
    wire_put_u32(&w, 0);
    wire_put_u64(&w, 0);
    CHECK_EQ_INT(simple(&w, id, NULL, 0), EINVAL);
}

static void test_exec_concurrent(void)
{
    /* A waits for its stdin, which is only sent after B has finished */
    const char *argv_a[] = {"sh", "-c", "read x; echo got $x", NULL};
    struct wire_writer w;
    uint32_t id, id_a = begin(&w, WIRE_EXEC);
    wire_put_u32(&w, WIRE_EXEC_STDIN);
    wire_put_str(&w, "");
    wire_put_u32(&w, 3);
    for (int i = 0; i < 3; i++)
        wire_put_str(&w, argv_a[i]);
    wire_put_u32(&w, 0);
    wire_put_u64(&w, 0);
    double t0 = now_sec();
    queue_writer(&w);

    const char *argv_b[] = {"echo", "b", NULL};
    struct exec_opts ob = {.argv = argv_b};
    uint32_t id_b = exec_send(&ob);
    struct exec_res rb, ra;
    exec_collect(id_b, &rb, t0);
    CHECK_STR_EQ(rb.out, "b\n");
    exec_free(&rb);

    queue_frame(WIRE_DATA, id_a, "42\n", 3);
    queue_frame(WIRE_DATA, id_a, NULL, 0);
    exec_collect(id_a, &ra, t0);
    CHECK_EQ_INT(ra.code, 0);
    CHECK_STR_EQ(ra.out, "got 42\n");
    exec_free(&ra);

    /* KILL signals a running session */
    const char *argv_s[] = {"sleep", "10", NULL};
    struct exec_opts os = {.argv = argv_s};
    t0 = now_sec();
    uint32_t id_s = exec_send(&os);
    id = begin(&w, WIRE_KILL);
    wire_put_u32(&w, id_s);
    wire_put_i32(&w, SIGTERM);
    CHECK_EQ_INT(simple(&w, id, NULL, 0), 0);
    struct exec_res rs;
    exec_collect(id_s, &rs, t0);
    CHECK_EQ_INT(rs.status, WIRE_STATUS_SIGNALLED);
    CHECK_EQ_INT(rs.sig, SIGTERM);
    CHECK(rs.secs < 5);
    exec_free(&rs);

    id = begin(&w, WIRE_KILL);
    wire_put_u32(&w, 999999);
    wire_put_i32(&w, SIGTERM);
    CHECK_EQ_INT(simple(&w, id, NULL, 0), ESRCH);
}

static void test_files_roundtrip(void)
{
    size_t n = 5 * 1024 * 1024 + 123;
    uint8_t *data = random_bytes(n);
    CHECK_EQ_INT(write_file(tmp_path("big"), data, n, 0644, 0), 0);
    uint8_t *back;
    size_t len;
    CHECK_EQ_INT(read_file(tmp_path("big"), &back, &len), 0);
    CHECK_EQ_U64(len, n);
    CHECK(len == n && memcmp(back, data, n) == 0);
    free(back);
    free(data);

    CHECK_EQ_INT(write_file(tmp_path("empty"), NULL, 0, 0644, 0), 0);
    CHECK_EQ_INT(read_file(tmp_path("empty"), &back, &len), 0);
    CHECK_EQ_U64(len, 0);
    free(back);

    /* a /proc file reports size 0 but has content */
    CHECK_EQ_INT(read_file("/proc/self/status", &back, &len), 0);
    CHECK(len > 0 && back && memcmp(back, "Name:", 5) == 0);
    free(back);

    /* a (sparse) file over the READ_FILE cap is refused before anything is sent */
    int fd = open(tmp_path("huge"), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    CHECK(fd >= 0 && ftruncate(fd, 97ll * 1024 * 1024) == 0);
    close(fd);
    CHECK_EQ_INT(read_file(tmp_path("huge"), &back, &len), EFBIG);
    unlink(tmp_path("huge"));

    CHECK_EQ_INT(read_file(tmp_path("missing"), &back, &len), ENOENT);
    CHECK_EQ_INT(read_file(tmpdir, &back, &len), EISDIR);
}

static void test_files_modes(void)
{
    const uint8_t x[] = "x";
    CHECK_EQ_INT(write_file(tmp_path("secret"), x, 1, 0600, 0), 0);
    struct stat_res s = do_stat(tmp_path("secret"), 0);
    CHECK_EQ_INT(s.err, 0);
    CHECK_EQ_INT(s.perm, 0600);
    CHECK_EQ_INT(s.type, WIRE_ENT_FILE);
    CHECK_EQ_U64(s.size, 1);

    CHECK_EQ_INT(write_file(tmp_path("open"), x, 1, 0666, 0), 0); /* umask ignored */
    CHECK_EQ_INT(do_stat(tmp_path("open"), 0).perm, 0666);
    CHECK_EQ_INT(write_file(tmp_path("open"), x, 1, 0640, 0), 0); /* existing: mode applied */
    CHECK_EQ_INT(do_stat(tmp_path("open"), 0).perm, 0640);
    CHECK_EQ_INT(write_file(tmp_path("open"), x, 1, 0600, WIRE_WF_KEEP_MODE), 0);
    CHECK_EQ_INT(do_stat(tmp_path("open"), 0).perm, 0640);
    CHECK_EQ_INT(write_file(tmp_path("fresh"), x, 1, 0604, WIRE_WF_KEEP_MODE), 0);
    CHECK_EQ_INT(do_stat(tmp_path("fresh"), 0).perm, 0604);

    /* open fails: DATA is swallowed, the error comes at the end, the stream stays in sync */
    uint8_t *junk = random_bytes(700000);
    CHECK_EQ_INT(write_file(tmp_path("no/such/dir/f"), junk, 700000, 0644, 0), ENOENT);
    free(junk);
    CHECK_EQ_INT(ping(), 0);
}

static void test_files_meta(void)
{
    CHECK_EQ_INT(do_mkdir(tmp_path("d"), 0755, 0), 0);
    CHECK_EQ_INT(do_mkdir(tmp_path("d"), 0755, 0), EEXIST);
    CHECK_EQ_INT(do_mkdir(tmp_path("d"), 0755, 1), 0);
    CHECK_EQ_INT(do_mkdir(tmp_path("p/q/r/"), 0700, 1), 0);
    struct stat_res s = do_stat(tmp_path("p/q/r"), 1);
    CHECK_EQ_INT(s.type, WIRE_ENT_DIR);
    CHECK_EQ_INT(s.perm, 0700);
    CHECK_EQ_INT(do_mkdir(tmp_path("secret"), 0755, 1), EEXIST);
    CHECK_EQ_INT(do_mkdir(tmp_path("secret/sub"), 0755, 1), ENOTDIR);
    CHECK_EQ_INT(do_mkdir(tmp_path("x/y"), 0755, 0), ENOENT);

    CHECK_EQ_INT(symlink("secret", tmp_path("link")), 0);
    CHECK_EQ_INT(mkfifo(tmp_path("fifo"), 0644), 0);
    CHECK_EQ_INT(do_stat(tmp_path("link"), 0).type, WIRE_ENT_SYMLINK);
    CHECK_EQ_INT(do_stat(tmp_path("link"), 1).type, WIRE_ENT_FILE);
    CHECK_EQ_INT(do_stat(tmp_path("fifo"), 0).type, WIRE_ENT_FIFO);
    CHECK_EQ_INT(do_stat("/dev/null", 0).type, WIRE_ENT_CHAR);
    CHECK_EQ_INT(do_stat(tmp_path("nothing"), 0).err, ENOENT);
    s = do_stat(tmp_path("secret"), 0);
    CHECK(s.mtime > 1600000000);

    /* listdir of a fresh directory */
    CHECK_EQ_INT(do_mkdir(tmp_path("ls"), 0755, 0), 0);
    CHECK_EQ_INT(do_mkdir(tmp_path("ls/sub"), 0755, 0), 0);
    CHECK_EQ_INT(write_file(tmp_path("ls/file"), (const uint8_t *)"z", 1, 0644, 0), 0);
    CHECK_EQ_INT(symlink("file", tmp_path("ls/ln")), 0);
    struct wire_writer w;
    uint32_t id = begin(&w, WIRE_LISTDIR);
    wire_put_str(&w, tmp_path("ls"));
    queue_writer(&w);
    struct result r;
    wait_result(id, &r);
    CHECK_EQ_INT(r.err, 0);
    uint32_t n = wire_get_u32(&r.extra);
    CHECK_EQ_INT(n, 3);
    int seen = 0;
    for (uint32_t i = 0; i < n; i++) {
        char *name = wire_get_str(&r.extra);
        uint8_t type = wire_get_u8(&r.extra);
        if (name && strcmp(name, "sub") == 0 && type == WIRE_ENT_DIR)
            seen |= 1;
        if (name && strcmp(name, "file") == 0 && type == WIRE_ENT_FILE)
            seen |= 2;
        if (name && strcmp(name, "ln") == 0 && type == WIRE_ENT_SYMLINK)
            seen |= 4;
        free(name);
    }
    CHECK_EQ_INT(seen, 7);
    CHECK(wire_reader_at_end(&r.extra));
    result_free(&r);
    CHECK_EQ_INT(do_path_op(WIRE_LISTDIR, tmp_path("nothing")), ENOENT);
    CHECK_EQ_INT(do_path_op(WIRE_LISTDIR, tmp_path("secret")), ENOTDIR);

    /* a listing that cannot fit in one frame is E2BIG, not a truncated answer */
    CHECK_EQ_INT(do_mkdir(tmp_path("many"), 0755, 0), 0);
    char name[300];
    memset(name, 'n', 240);
    for (int i = 0; i < 4500; i++) {
        snprintf(name + 240, sizeof(name) - 240, "%d", i);
        int fd = open(tmp_path("many/x"), O_WRONLY | O_CREAT, 0644);
        close(fd);
        char *from = tmp_path("many/x"), *to = tmp_path("many/");
        char dst[700];
        snprintf(dst, sizeof(dst), "%s%s", to, name);
        rename(from, dst);
    }
    CHECK_EQ_INT(do_path_op(WIRE_LISTDIR, tmp_path("many")), E2BIG);

    /* rename and unlink */
    CHECK_EQ_INT(do_rename(tmp_path("ls/file"), tmp_path("ls/renamed")), 0);
    CHECK_EQ_INT(do_stat(tmp_path("ls/file"), 0).err, ENOENT);
    CHECK_EQ_INT(do_stat(tmp_path("ls/renamed"), 0).err, 0);
    CHECK_EQ_INT(do_rename(tmp_path("nothing"), tmp_path("x")), ENOENT);
    CHECK_EQ_INT(do_path_op(WIRE_UNLINK, tmp_path("ls")), ENOTEMPTY);
    CHECK_EQ_INT(do_path_op(WIRE_UNLINK, tmp_path("ls/renamed")), 0);
    CHECK_EQ_INT(do_path_op(WIRE_UNLINK, tmp_path("ls/ln")), 0);
    CHECK_EQ_INT(do_path_op(WIRE_UNLINK, tmp_path("ls/sub")), 0);
    CHECK_EQ_INT(do_path_op(WIRE_UNLINK, tmp_path("ls")), 0);
    CHECK_EQ_INT(do_stat(tmp_path("ls"), 0).err, ENOENT);
    CHECK_EQ_INT(do_path_op(WIRE_UNLINK, tmp_path("ls")), ENOENT);
}

static void test_handles_roundtrip(void)
{
    uint32_t h, n;
    uint64_t pos;
    char *data;
    /* created with exactly the asked mode, whatever the umask */
    CHECK_EQ_INT(h_open(tmp_path("h1"), WIRE_OPEN_WRITE | WIRE_OPEN_CREATE | WIRE_OPEN_TRUNCATE,
                        0666, &h), 0);
    CHECK(h != 0);
    CHECK_EQ_INT(do_stat(tmp_path("h1"), 0).perm, 0666);
    CHECK_EQ_INT(h_write(h, "hello world", 11, &n), 0);
    CHECK_EQ_INT(n, 11);
    CHECK_EQ_INT(h_read(h, 10, &data, &n), EBADF); /* write-only */
    CHECK_EQ_INT(h_close(h), 0);
    CHECK_EQ_INT(h_close(h), EBADF);
    CHECK_EQ_INT(h_write(h, "x", 1, &n), EBADF);

    uint32_t h2;
    CHECK_EQ_INT(h_open(tmp_path("h1"), WIRE_OPEN_READ | WIRE_OPEN_WRITE, 0, &h2), 0);
    CHECK(h2 != 0 && h2 != h); /* ids are not reused */
    CHECK_EQ_INT(h_read(h2, 5, &data, &n), 0);
    CHECK_STR_EQ(data, "hello");
    free(data);
    CHECK_EQ_INT(h_seek(h2, -5, WIRE_SEEK_END, &pos), 0);
    CHECK_EQ_U64(pos, 6);
    CHECK_EQ_INT(h_read(h2, 100, &data, &n), 0);
    CHECK_STR_EQ(data, "world");
    free(data);
    CHECK_EQ_INT(h_read(h2, 100, &data, &n), 0); /* EOF: empty */
    CHECK_EQ_INT(n, 0);
    free(data);
    CHECK_EQ_INT(h_seek(h2, 0, WIRE_SEEK_CUR, &pos), 0);
    CHECK_EQ_U64(pos, 11);
    CHECK_EQ_INT(h_seek(h2, 0, WIRE_SEEK_SET, &pos), 0);
    CHECK_EQ_INT(h_write(h2, "J", 1, &n), 0);
    CHECK_EQ_INT(h_seek(h2, -20, WIRE_SEEK_CUR, &pos), EINVAL);
    CHECK_EQ_INT(h_seek(h2, 0, 3, &pos), EINVAL); /* no such whence */
    CHECK_EQ_INT(h_close(h2), 0);

    /* append writes at the end wherever the position is */
    CHECK_EQ_INT(h_open(tmp_path("h1"), WIRE_OPEN_APPEND | WIRE_OPEN_READ, 0, &h), 0);
    CHECK_EQ_INT(h_write(h, "!", 1, &n), 0);
    CHECK_EQ_INT(h_seek(h, 0, WIRE_SEEK_SET, &pos), 0);
    CHECK_EQ_INT(h_read(h, 100, &data, &n), 0);
    CHECK_STR_EQ(data, "Jello world!");
    free(data);
    CHECK_EQ_INT(h_close(h), 0);

    /* more than one chunk: HREAD answers at most WIRE_CHUNK bytes */
    size_t big = WIRE_CHUNK * 2 + 77;
    uint8_t *blob = random_bytes(big);
    CHECK_EQ_INT(h_open(tmp_path("h2"), WIRE_OPEN_READ | WIRE_OPEN_WRITE | WIRE_OPEN_CREATE,
                        0644, &h), 0);
    CHECK_EQ_INT(h_write(h, blob, (uint32_t)big, &n), 0);
    CHECK_EQ_INT(n, big);
    CHECK_EQ_INT(h_seek(h, 0, WIRE_SEEK_SET, &pos), 0);
    size_t got = 0;
    int same = 1;
    for (;;) {
        CHECK_EQ_INT(h_read(h, 1u << 20, &data, &n), 0);
        CHECK(n <= WIRE_CHUNK);
        same = same && got + n <= big && memcmp(data, blob + got, n) == 0;
        got += n;
        free(data);
        if (n == 0)
            break;
    }
    CHECK_EQ_U64(got, big);
    CHECK(same);
    CHECK_EQ_INT(h_close(h), 0);
    free(blob);
}

static void test_handles_errors(void)
{
    uint32_t h, n;
    char *data;
    CHECK_EQ_INT(h_open(tmp_path("h1"), 0, 0644, &h), EINVAL);               /* no mode */
    CHECK_EQ_INT(h_open(tmp_path("h1"), WIRE_OPEN_CREATE, 0644, &h), EINVAL); /* still none */
    CHECK_EQ_INT(h_open(tmp_path("h1"), WIRE_OPEN_READ | 0x100, 0644, &h), EINVAL);
    CHECK_EQ_INT(h_open(tmp_path("nothing"), WIRE_OPEN_READ, 0, &h), ENOENT);
    CHECK_EQ_INT(h_open(tmpdir, WIRE_OPEN_WRITE, 0, &h), EISDIR);
    CHECK_EQ_INT(h_open(tmp_path("h1"), WIRE_OPEN_WRITE | WIRE_OPEN_EXCLUSIVE, 0600, &h), EEXIST);
    CHECK_EQ_INT(h_open(tmp_path("hx"), WIRE_OPEN_WRITE | WIRE_OPEN_EXCLUSIVE, 0604, &h), 0);
    CHECK_EQ_INT(do_stat(tmp_path("hx"), 0).perm, 0604);
    CHECK_EQ_INT(h_close(h), 0);
    CHECK_EQ_INT(h_read(0, 1, &data, &n), EBADF);
    CHECK_EQ_INT(h_read(123456, 1, &data, &n), EBADF);

    /* a FIFO without a writer does not stall the agent */
    CHECK_EQ_INT(h_open(tmp_path("fifo"), WIRE_OPEN_READ, 0, &h), 0);
    CHECK_EQ_INT(h_read(h, 10, &data, &n), 0);
    CHECK_EQ_INT(n, 0);
    free(data);
    CHECK_EQ_INT(h_close(h), 0);

    /* the table is bounded: EMFILE beyond WIRE_MAX_HANDLES, a freed slot is reusable */
    uint32_t ids[WIRE_MAX_HANDLES];
    int ok = 1;
    for (int i = 0; i < WIRE_MAX_HANDLES; i++)
        ok = ok && h_open("/dev/null", WIRE_OPEN_READ, 0, &ids[i]) == 0 && ids[i] != 0;
    CHECK(ok);
    CHECK_EQ_INT(h_open("/dev/null", WIRE_OPEN_READ, 0, &h), EMFILE);
    CHECK_EQ_INT(h_close(ids[17]), 0);
    CHECK_EQ_INT(h_open("/dev/null", WIRE_OPEN_READ, 0, &ids[17]), 0);
    int distinct = 1;
    for (int i = 0; i < WIRE_MAX_HANDLES; i++)
        for (int j = i + 1; j < WIRE_MAX_HANDLES; j++)
            distinct = distinct && ids[i] != ids[j];
    CHECK(distinct);
    for (int i = 0; i < WIRE_MAX_HANDLES; i++)
        ok = ok && h_close(ids[i]) == 0;
    CHECK(ok);
    CHECK_EQ_INT(ping(), 0);
}

/* GET_TIME answers the guest's wall clock: the same clock as ours here. */
/* WIRE_EXEC_PID: the first answer is OUTPUT on stream 0 with the PID; KILL with a
 * negative signal reaches the whole process group. */
static void test_exec_pid_and_group_kill(void)
{
    const char *argv[] = {"sh", "-c", "sleep 30 & sleep 30", NULL};
    struct exec_opts o = {.argv = argv, .flags = WIRE_EXEC_PID};
    double t0 = now_sec();
    uint32_t id = exec_send(&o);
    struct frame f;
    frame_for(id, &f);
    struct wire_reader rd;
    wire_reader_init(&rd, f.payload, f.h.len);
    CHECK_EQ_INT(f.h.type, WIRE_OUTPUT);
    CHECK_EQ_INT(wire_get_u8(&rd), 0);
    uint32_t n, pid = 0;
    const uint8_t *p = wire_get_bytes(&rd, &n);
    CHECK_EQ_INT(n, 4);
    if (n == 4)
        memcpy(&pid, p, 4);
    CHECK(pid > 1);
    CHECK(kill((pid_t)pid, 0) == 0); /* the agent runs on this host here */
    free(f.payload);
    struct wire_writer w;
    uint32_t kid = begin(&w, WIRE_KILL);
    wire_put_u32(&w, id);
    wire_put_i32(&w, -SIGKILL);
    CHECK_EQ_INT(simple(&w, kid, NULL, 0), 0);
    struct exec_res r;
    exec_collect(id, &r, t0);
    CHECK_EQ_INT(r.status, WIRE_STATUS_SIGNALLED);
    CHECK_EQ_INT(r.sig, SIGKILL);
    CHECK_MSG(r.secs < 5.0, "the group kill took %.2f s", r.secs);
    exec_free(&r);
    /* the background sleep went with the group (zombies waiting for a reaper aside) */
    char cmd[160];
    snprintf(cmd, sizeof cmd,
             "ps -eo pgid=,stat= | awk '$1 == %u && $2 !~ /^Z/ {n++} END {print n ? \"alive\" : "
             "\"gone\"}'", pid);
    sh(cmd, &r);
    CHECK_STR_EQ(r.out, "gone\n");
    exec_free(&r);
}

static void test_get_time(void)
{
    struct wire_writer w;
    struct timespec before, after;
    clock_gettime(CLOCK_REALTIME, &before);
    uint32_t id = begin(&w, WIRE_GET_TIME);
    queue_writer(&w);
    struct result r;
    wait_result(id, &r);
    clock_gettime(CLOCK_REALTIME, &after);
    CHECK_EQ_INT(r.err, 0);
    int64_t sec = wire_get_i64(&r.extra);
    uint32_t nsec = wire_get_u32(&r.extra);
    CHECK(wire_reader_at_end(&r.extra));
    CHECK(nsec < 1000000000u);
    CHECK(sec >= before.tv_sec && sec <= after.tv_sec);
    result_free(&r);
    /* a GET_TIME with a payload is malformed */
    id = begin(&w, WIRE_GET_TIME);
    wire_put_u32(&w, 1);
    CHECK_EQ_INT(simple(&w, id, NULL, 0), EINVAL);
}

static void test_malformed(void)
{
    char msg[512];
    /* STAT whose path length runs past the payload */
    uint8_t bad[] = {0xff, 0, 0, 0, 'a'};
    uint32_t id = ++host.next_id;
    queue_frame(WIRE_STAT, id, bad, sizeof(bad));
    struct result r;
    wait_result(id, &r);
    CHECK_EQ_INT(r.err, EINVAL);
    CHECK(r.msg[0] != 0);
    result_free(&r);

    /* PING with trailing bytes */
    struct wire_writer w;
    id = begin(&w, WIRE_PING);
    wire_put_u8(&w, 1);
    CHECK_EQ_INT(simple(&w, id, msg, sizeof(msg)), EINVAL);

    /* a frame type from the agent's side of the protocol */
    id = begin(&w, WIRE_EXIT);
    CHECK_EQ_INT(simple(&w, id, msg, sizeof(msg)), EINVAL);

    /* an unknown frame type: stepped over, answered EINVAL */
    uint8_t hdr[WIRE_HEADER_SIZE + 3] = {3, 0, 0, 0, 99, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3};
    id = ++host.next_id;
    hdr[8] = (uint8_t)id;
    hdr[9] = (uint8_t)(id >> 8);
    queue_bytes(hdr, sizeof(hdr));
    wait_result(id, &r);
    CHECK_EQ_INT(r.err, EINVAL);
    CHECK_STR_CONTAINS(r.msg, "99");
    result_free(&r);

    /* a path with an embedded NUL */
    uint8_t nul[] = {3, 0, 0, 0, 'a', 0, 'b', 0};
    id = ++host.next_id;
    queue_frame(WIRE_STAT, id, nul, sizeof(nul));
    wait_result(id, &r);
    CHECK_EQ_INT(r.err, EINVAL);
    result_free(&r);

    /* a DATA frame nobody waits for is dropped silently */
    queue_frame(WIRE_DATA, 424242, "zz", 2);
    CHECK_EQ_INT(ping(), 0);
}

/* Every strict prefix of a valid request, and the request plus one stray byte, must be
 * answered EINVAL without running anything: this walks each decoder's bounds checks. */
static void expect_einval_variants(struct wire_writer *w)
{
    if (wire_finish(w) < 0)
        die("wire_finish");
    struct wire_header h;
    wire_decode_header(w->buf, &h);
    const uint8_t *full = w->buf + WIRE_HEADER_SIZE;
    uint8_t *longer = malloc(h.len + 1);
    memcpy(longer, full, h.len);
    longer[h.len] = 0x5a;
    int bad = 0;
    for (uint32_t n = 0; n <= h.len + 1; n++) {
        if (n == h.len)
            continue; /* the valid one is not sent */
        uint32_t id = ++host.next_id;
        queue_frame(h.type, id, n <= h.len ? full : longer, n);
        struct result r;
        wait_result(id, &r);
        if (r.err != EINVAL)
            bad++;
        result_free(&r);
    }
    CHECK_MSG(bad == 0, "%s: %d malformed variants not rejected", wire_type_name(h.type), bad);
    free(longer);
    wire_writer_free(w);
}

static void test_truncated_requests(void)
{
    struct wire_writer w;
    begin(&w, WIRE_PING);
    expect_einval_variants(&w);
    begin(&w, WIRE_EXEC);
    wire_put_u32(&w, WIRE_EXEC_STDIN);
    wire_put_str(&w, tmpdir);
    wire_put_u32(&w, 2);
    wire_put_str(&w, "true");
    wire_put_str(&w, "x");
    wire_put_u32(&w, 1);
    wire_put_str(&w, "A=1");
    wire_put_u64(&w, 1000);
    expect_einval_variants(&w);
    begin(&w, WIRE_READ_FILE);
    wire_put_str(&w, tmp_path("secret"));
    expect_einval_variants(&w);
    begin(&w, WIRE_WRITE_FILE);
    wire_put_str(&w, tmp_path("never"));
    wire_put_u32(&w, 0644);
    wire_put_u32(&w, 0);
    expect_einval_variants(&w);
    begin(&w, WIRE_STAT);
    wire_put_str(&w, tmpdir);
    wire_put_u8(&w, 1);
    expect_einval_variants(&w);
    begin(&w, WIRE_LISTDIR);
    wire_put_str(&w, tmpdir);
    expect_einval_variants(&w);
    begin(&w, WIRE_MKDIR);
    wire_put_str(&w, tmp_path("never"));
    wire_put_u32(&w, 0755);
    wire_put_u8(&w, 1);
    expect_einval_variants(&w);
    begin(&w, WIRE_UNLINK);
    wire_put_str(&w, tmp_path("secret"));
    expect_einval_variants(&w);
    begin(&w, WIRE_RENAME);
    wire_put_str(&w, tmp_path("secret"));
    wire_put_str(&w, tmp_path("never"));
    expect_einval_variants(&w);
    begin(&w, WIRE_SET_TIME); /* only invalid variants are sent: the clock is safe */
    wire_put_i64(&w, 0);
    wire_put_u32(&w, 0);
    expect_einval_variants(&w);
    begin(&w, WIRE_HOSTNAME);
    wire_put_str(&w, "never");
    expect_einval_variants(&w);
    begin(&w, WIRE_POWEROFF);
    expect_einval_variants(&w);
    begin(&w, WIRE_KILL);
    wire_put_u32(&w, 1);
    wire_put_i32(&w, 0);
    expect_einval_variants(&w);

    begin(&w, WIRE_OPEN);
    wire_put_str(&w, tmp_path("never"));
    wire_put_u32(&w, WIRE_OPEN_WRITE | WIRE_OPEN_CREATE);
    wire_put_u32(&w, 0644);
    expect_einval_variants(&w);
    begin(&w, WIRE_HREAD);
    wire_put_u32(&w, 1);
    wire_put_u32(&w, 10);
    expect_einval_variants(&w);
    begin(&w, WIRE_HWRITE);
    wire_put_u32(&w, 1);
    wire_put_bytes(&w, "abc", 3);
    expect_einval_variants(&w);
    begin(&w, WIRE_HSEEK);
    wire_put_u32(&w, 1);
    wire_put_i64(&w, 0);
    wire_put_u8(&w, WIRE_SEEK_SET);
    expect_einval_variants(&w);
    begin(&w, WIRE_HCLOSE);
    wire_put_u32(&w, 1);
    expect_einval_variants(&w);

    CHECK_EQ_INT(do_stat(tmp_path("never"), 0).err, ENOENT);
    CHECK_EQ_INT(do_stat(tmp_path("secret"), 0).err, 0);
    CHECK_EQ_INT(ping(), 0);
}

static void print_throughput(void)
{
    size_t n = 64u * 1024 * 1024;
    uint8_t *data = random_bytes(n);
    double t0 = now_sec();
    CHECK_EQ_INT(write_file(tmp_path("perf"), data, n, 0644, 0), 0);
    double t1 = now_sec();
    uint8_t *back;
    size_t len;
    CHECK_EQ_INT(read_file(tmp_path("perf"), &back, &len), 0);
    double t2 = now_sec();
    CHECK(len == n && memcmp(back, data, n) == 0);
    printf("socketpair: write 64 MiB %.0f MB/s, read %.0f MB/s\n", n / 1e6 / (t1 - t0),
           n / 1e6 / (t2 - t1));
    free(back);
    free(data);
    do_path_op(WIRE_UNLINK, tmp_path("perf"));
}

static void test_poweroff(void)
{
    struct wire_writer w;
    uint32_t id = begin(&w, WIRE_POWEROFF);
    CHECK_EQ_INT(simple(&w, id, NULL, 0), 0);
    CHECK_EQ_INT(wait_agent_exit(host.pid, 5000), 0);
}

static const char *agent_bin;

static void test_eof_exits(void)
{
    start_agent(agent_bin);
    struct frame f;
    CHECK_EQ_INT(read_frame(&f, FRAME_TIMEOUT_MS), 0);
    free(f.payload);
    pid_t pid = host.pid;
    stop_agent(); /* closing our end: the agent sees EOF */
    CHECK_EQ_INT(wait_agent_exit(pid, 5000), 0);
}

int main(int argc, char **argv)
{
    const char *bin = agent_bin = argc > 1 ? argv[1] : getenv("PROVIUM_AGENT_BIN");
    if (!bin) {
        fprintf(stderr, "usage: test_agent AGENT_BINARY (or set PROVIUM_AGENT_BIN)\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/provium-test-agent-XXXXXX");
    if (!mkdtemp(tmpdir))
        die("mkdtemp");

    start_agent(bin);
    RUN(test_hello);
    RUN(test_exec_basic);
    RUN(test_exec_env);
    RUN(test_exec_cwd);
    RUN(test_exec_stdin);
    RUN(test_exec_timeout);
    RUN(test_exec_failures);
    RUN(test_exec_concurrent);
    RUN(test_files_roundtrip);
    RUN(test_files_modes);
    RUN(test_files_meta);
    RUN(test_handles_roundtrip);
    RUN(test_handles_errors);
    RUN(test_get_time);
    RUN(test_exec_pid_and_group_kill);
    RUN(test_malformed);
    RUN(test_truncated_requests);
    if (getenv("PROVIUM_AGENT_PERF"))
        RUN(print_throughput);
    RUN(test_poweroff);
    stop_agent();
    RUN(test_eof_exits);

    cleanup_tmpdir();
    return TEST_SUMMARY();
}
