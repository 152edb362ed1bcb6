/* main.c - provium-agent: the process inside the VM that runs the host's requests.
 *
 * Two ways to start:
 *   provium-agent          in a guest, as PID 1 (rdinit=/sbin/provium-agent): do the
 *                          PID-1 chores (boot.c), then serve the virtio-serial port
 *                          named WIRE_PORT_NAME, forever, across host reconnections.
 *   provium-agent --fd N   on a host, for tests: serve the already-open fd N (one end
 *                          of a socketpair) and exit 0 when it reaches EOF.
 *
 * Then it is one single-threaded poll() loop over the port, every session's pipes and
 * files, and a self-pipe woken by SIGCHLD. Requests are multiplexed by frame id, so
 * many can be in flight at once; nothing in the loop blocks except writing frames to
 * the host, which always reads while it writes. */
#include "agent.h"
#include "exec.h"
#include "files.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define STDIN_HIGH_WATER (16u * 1024 * 1024) /* stop reading the port above this */
#define RECONNECT_POLL_MS 10
#define READ_BATCH (1u << 20) /* bytes taken from the port per loop round, at most */

struct agent agent = {.port_fd = -1, .log_fd = 2, .sigchld_fd = -1};
uint8_t agent_iobuf[WIRE_CHUNK];

static int sigchld_wr = -1;

/* ---- logging ---- */

void agent_log(const char *fmt, ...)
{
    char line[600];
    size_t n = strlen(AGENT_LOG_PREFIX);
    memcpy(line, AGENT_LOG_PREFIX, n);
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(line + n, sizeof(line) - n - 1, fmt, ap);
    va_end(ap);
    if (k < 0)
        return;
    n += (size_t)k < sizeof(line) - n - 1 ? (size_t)k : sizeof(line) - n - 2;
    line[n++] = '\n';
    ssize_t ignored = write(agent.log_fd, line, n);
    (void)ignored;
}

/* ---- poll set ---- */

void pollset_add(struct pollset *ps, int fd, short events, short *revents)
{
    if (ps->n == ps->cap) {
        size_t cap = ps->cap ? ps->cap * 2 : 64;
        struct pollfd *fds = realloc(ps->fds, cap * sizeof(*fds));
        short **rev = realloc(ps->revents, cap * sizeof(*rev));
        if (fds)
            ps->fds = fds;
        if (rev)
            ps->revents = rev;
        if (!fds || !rev)
            abort();
        ps->cap = cap;
    }
    ps->fds[ps->n] = (struct pollfd){.fd = fd, .events = events};
    ps->revents[ps->n] = revents;
    ps->n++;
}

/* ---- signals ---- */

static void on_sigchld(int sig)
{
    (void)sig;
    int saved = errno;
    ssize_t ignored = write(sigchld_wr, "c", 1); /* a full pipe already says enough */
    (void)ignored;
    errno = saved;
}

static void setup_signals(void)
{
    int p[2];
    if (pipe2(p, O_CLOEXEC | O_NONBLOCK) < 0) {
        agent_log("pipe: %s", strerror(errno));
        exit(1);
    }
    agent.sigchld_fd = p[0];
    sigchld_wr = p[1];
    signal(SIGPIPE, SIG_IGN);
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_sigchld;
    sa.sa_flags = SA_RESTART | SA_NOCLDSTOP;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGCHLD, &sa, NULL);
}

static void drain_sigchld_pipe(void)
{
    char buf[64];
    while (read(agent.sigchld_fd, buf, sizeof(buf)) > 0)
        ;
}

/* ---- input from the host ---- */

/* wire_inbuf_next refuses a header whose type it does not know. If its length is sane
 * we can still step over that one frame and answer EINVAL; returns 1 if skipped, 0 if
 * more bytes are needed, -1 if the stream is beyond repair. */
static int skip_unknown_frame(void)
{
    const uint8_t *p = agent.in.buf + agent.in.start;
    size_t avail = agent.in.len - agent.in.start;
    uint32_t len = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
    uint16_t type = (uint16_t)(p[4] | p[5] << 8);
    uint32_t id = (uint32_t)p[8] | (uint32_t)p[9] << 8 | (uint32_t)p[10] << 16 | (uint32_t)p[11] << 24;
    if (len > WIRE_MAX_PAYLOAD)
        return -1;
    if (avail < WIRE_HEADER_SIZE + (size_t)len)
        return 0;
    agent.in.start += WIRE_HEADER_SIZE + (size_t)len;
    dispatch_unknown_type(id, type);
    return 1;
}

static void stream_corrupt(void)
{
    agent_log("corrupt frame header from the host; dropping its pending input");
    wire_inbuf_free(&agent.in);
    agent.reset_pending = 1;
    if (!agent.guest_mode) {
        agent.quit = 1;
        agent.exit_code = 1;
    }
}

static void dispatch_pending_frames(void)
{
    for (;;) {
        if (agent.reset_pending || agent.quit)
            return;
        struct wire_header h;
        const uint8_t *payload;
        int k = wire_inbuf_next(&agent.in, &h, &payload);
        if (k == 1) {
            dispatch_frame(&h, payload);
            continue;
        }
        if (k == 0)
            return;
        k = skip_unknown_frame();
        if (k == 0)
            return;
        if (k < 0) {
            stream_corrupt();
            return;
        }
    }
}

/* Reads and dispatches frame by frame, up to READ_BATCH bytes per loop round so the
 * sessions get their turn even while the host streams a large upload. */
static void handle_port_input(void)
{
    size_t got = 0;
    while (got < READ_BATCH && !agent.reset_pending && !agent.quit &&
           exec_stdin_pending() < STDIN_HIGH_WATER) {
        ssize_t n = conn_read_some();
        if (n == 0)
            return;
        int err = errno;
        if (n > 0)
            got += (size_t)n;
        dispatch_pending_frames(); /* what did arrive is still answered, if possible */
        conn_input_tidy();
        if (n > 0)
            continue;
        conn_lost(err ? strerror(err) : NULL);
        if (err && agent.guest_mode && agent.port_fd >= 0) { /* reopen it from scratch */
            close(agent.port_fd);
            agent.port_fd = -1;
        }
        return;
    }
}

/* ---- the loop ---- */

/* The connection is gone: nobody is left to receive any answer, so every session
 * ends. In --fd mode that also ends the agent. */
static void reset_requests(void)
{
    agent.reset_pending = 0;
    batch_abort();
    exec_abort_all();
    files_abort_all();
    wire_inbuf_free(&agent.in);
    if (!agent.guest_mode)
        agent.quit = 1;
}

static int poll_timeout(void)
{
    int t = exec_ms_to_next_deadline();
    if (agent.guest_mode && !agent.connected && (t < 0 || t > RECONNECT_POLL_MS))
        t = RECONNECT_POLL_MS;
    return t;
}

static void event_loop(void)
{
    struct pollset ps = {0};
    while (!agent.quit) {
        if (agent.reset_pending) {
            reset_requests();
            continue;
        }
        short sig_rev = 0, port_rev = 0;
        ps.n = 0;
        pollset_add(&ps, agent.sigchld_fd, POLLIN, &sig_rev);
        if (agent.connected && exec_stdin_pending() < STDIN_HIGH_WATER)
            pollset_add(&ps, agent.port_fd, POLLIN, &port_rev);
        exec_add_pollfds(&ps);
        files_add_pollfds(&ps);
        button_add_pollfds(&ps);

        int n = poll(ps.fds, ps.n, poll_timeout());
        if (n < 0 && errno != EINTR) {
            agent_log("poll: %s", strerror(errno));
            continue;
        }
        for (size_t i = 0; n > 0 && i < ps.n; i++)
            *ps.revents[i] = ps.fds[i].revents;

        if (sig_rev) {
            drain_sigchld_pipe();
            exec_reap();
        }
        exec_service();
        files_service();
        button_service();
        exec_finish_exited();
        exec_check_deadlines();
        if (port_rev && agent.connected)
            handle_port_input();
        if (agent.guest_mode && !agent.connected && !agent.reset_pending)
            port_try_reconnect();
    }
    free(ps.fds);
    free(ps.revents);
}

/* ---- startup ---- */

static int parse_fd_arg(int argc, char **argv)
{
    if (argc < 3 || strcmp(argv[1], "--fd") != 0)
        return -1;
    char *end;
    long fd = strtol(argv[2], &end, 10);
    if (*argv[2] == 0 || *end || fd < 0 || fd > 1 << 20)
        return -1;
    return (int)fd;
}

static int serve_fd(int fd)
{
    agent.guest_mode = 0;
    boot_ensure_std_fds("/dev/null");
    boot_cloexec_inherited_fds();
    if (fcntl(fd, F_SETFD, FD_CLOEXEC) < 0 || fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) < 0) {
        agent_log("--fd %d: %s", fd, strerror(errno));
        return 2;
    }
    setup_signals();
    boot_default_env();
    agent.port_fd = fd;
    agent.connected = 1;
    send_hello();
    event_loop();
    batch_abort();
    exec_abort_all();
    files_abort_all();
    return agent.exit_code;
}

/* The guest's OOM killer must pick a test's process, not the agent (the host would
 * lose the VM); commands go back to 0 (exec.c). Only in a guest: on a host (--fd) the
 * setting is not ours to change. */
void agent_set_oom_score_adj(const char *value)
{
    int fd = open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return;
    ssize_t ignored = write(fd, value, strlen(value));
    (void)ignored;
    close(fd);
}

/* In a guest the agent must never exit: as PID 1 that would panic the kernel. */
static void serve_guest(void)
{
    agent.guest_mode = 1;
    boot_guest(); /* returns in the agent's own process, not in the image's init */
    agent_set_oom_score_adj("-1000");
    setup_signals();
    boot_default_env();
    button_open();
    port_open_initial();
    for (;;)
        event_loop();
}

int main(int argc, char **argv)
{
    if (argc == 2 && strcmp(argv[1], "--version") == 0) {
        printf("provium-agent %s (protocol %d)\n", AGENT_VERSION, WIRE_PROTOCOL_VERSION);
        return 0;
    }
    if (argc >= 2 && strcmp(argv[1], "--fd") == 0) {
        int fd = parse_fd_arg(argc, argv);
        if (fd < 0) {
            fprintf(stderr, "usage: provium-agent [--fd N]\n");
            return 2;
        }
        return serve_fd(fd);
    }
    /* anything else: the kernel may pass stray command-line words to init */
    serve_guest();
    return 0;
}
