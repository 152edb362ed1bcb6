/* exec.c - running commands for the host: EXEC, its stdin DATA, KILL, OUTPUT and EXIT.
 *
 * Each EXEC forks a child in its own process group with three pipes. The loop polls
 * the parent ends: output is forwarded as OUTPUT frames as it arrives, stdin from DATA
 * frames is written without ever blocking (what the child has not read yet waits in a
 * per-session buffer), and a timeout kills the whole group. When the child has been
 * reaped we forward only what is *already* in its pipes and then send EXIT: a
 * background grandchild may hold the pipes open forever, so waiting for EOF would hang
 * the request. */
#include "exec.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define DRAIN_LIMIT (4u * 1024 * 1024) /* per stream, after the child exited */

extern char **environ;

struct exec_session {
    struct exec_session *next;
    uint32_t id;
    pid_t pid;       /* also the process group id */
    int running;     /* not reaped yet */
    int wstatus;     /* from waitpid, once reaped */
    int timed_out;
    int64_t deadline; /* CLOCK_MONOTONIC ms, 0 = no timeout */
    int out_fd, err_fd, in_fd; /* parent ends, -1 once closed */
    short out_rev, err_rev, in_rev;
    int in_wanted;  /* the host sends stdin as DATA frames */
    int in_eof;     /* ... and has sent the empty one: close when the buffer drains */
    uint8_t *in_buf; /* stdin the child has not read yet: in_buf[in_off..in_len) */
    size_t in_off, in_len, in_cap;
    struct exec_capture *cap; /* a batched run: output and exit go there */
};

struct exec_request {
    uint32_t flags;
    char *cwd;
    char **argv, **env;
    uint32_t argc, envc;
    uint64_t timeout_ms;
};

static struct exec_session *sessions;

/* ---- small helpers ---- */

static struct exec_session *find_session(uint32_t id)
{
    for (struct exec_session *s = sessions; s; s = s->next)
        if (s->id == id)
            return s;
    return NULL;
}

static struct exec_session *find_by_pid(pid_t pid)
{
    for (struct exec_session *s = sessions; s; s = s->next)
        if (s->running && s->pid == pid)
            return s;
    return NULL;
}

static void close_fd(int *fd)
{
    if (*fd >= 0)
        close(*fd);
    *fd = -1;
}

static void set_nonblock(int fd) { fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK); }

static void free_strings(char **v, uint32_t n)
{
    if (!v)
        return;
    for (uint32_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

/* ---- decoding the request ---- */

static void free_request(struct exec_request *q)
{
    free(q->cwd);
    free_strings(q->argv, q->argc);
    free_strings(q->env, q->envc);
}

/* A string vector: u32 count, count*bytes. Every string is at least its 4-byte length,
 * which bounds the count by the payload before we allocate for it. */
static char **get_strings(struct wire_reader *r, uint32_t *count)
{
    uint32_t n = wire_get_u32(r);
    *count = 0;
    if (!wire_reader_ok(r) || n > (r->len - r->pos) / 4)
        return NULL;
    char **v = calloc((size_t)n + 1, sizeof(char *));
    if (!v)
        return NULL;
    for (uint32_t i = 0; i < n; i++) {
        v[i] = wire_get_str(r);
        if (!v[i]) {
            free_strings(v, i);
            return NULL;
        }
    }
    *count = n;
    return v;
}

static int env_entries_valid(char **env, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++)
        if (!strchr(env[i], '=') || env[i][0] == '=')
            return 0;
    return 1;
}

static int parse_request(struct wire_reader *r, struct exec_request *q)
{
    memset(q, 0, sizeof(*q));
    q->flags = wire_get_u32(r);
    q->cwd = wire_get_str(r);
    q->argv = get_strings(r, &q->argc);
    if (!q->argv)
        return -1;
    q->env = get_strings(r, &q->envc);
    if (!q->env)
        return -1;
    q->timeout_ms = wire_get_u64(r);
    return wire_reader_at_end(r) && q->argc > 0 && env_entries_valid(q->env, q->envc) ? 0 : -1;
}

/* ---- the child's environment ---- */

static size_t key_len(const char *kv) { return (size_t)(strchr(kv, '=') - kv); }

/* The agent's environment with the request's entries added or overridden, or exactly
 * the request's entries with WIRE_EXEC_ENV_CLEAR. The strings are borrowed. */
static char **build_env(const struct exec_request *q)
{
    size_t base = 0;
    if (!(q->flags & WIRE_EXEC_ENV_CLEAR))
        while (environ && environ[base])
            base++;
    char **env = calloc(base + q->envc + 1, sizeof(char *));
    if (!env)
        return NULL;
    size_t n = 0;
    for (; n < base; n++)
        env[n] = environ[n];
    for (uint32_t i = 0; i < q->envc; i++) {
        size_t k = key_len(q->env[i]), j;
        for (j = 0; j < n; j++)
            if (strncmp(env[j], q->env[i], k + 1) == 0)
                break;
        env[j] = q->env[i];
        if (j == n)
            n++;
    }
    return env;
}

/* ---- starting the process ---- */

/* In the child: never returns. Exec failures end like a shell's: a message on stderr
 * and exit 127 (not found) or 126 (found but not runnable). */
static void child_run(const struct exec_request *q, char **env, int in_fd, int out_fd, int err_fd)
{
    setpgid(0, 0);
    if (agent.guest_mode)
        agent_set_oom_score_adj("0"); /* the agent's -1000 is not for its commands */
    dup2(in_fd, 0);
    dup2(out_fd, 1);
    dup2(err_fd, 2);
    signal(SIGPIPE, SIG_DFL); /* ignored dispositions would survive exec */
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    const char *cwd = q->cwd[0] ? q->cwd : "/";
    if (chdir(cwd) < 0) {
        dprintf(2, "%s: %s\n", cwd, strerror(errno));
        _exit(127);
    }
    environ = env; /* execvpe searches the PATH of the environment in force */
    execvpe(q->argv[0], q->argv, env);
    int e = errno;
    if (e == ENOENT)
        dprintf(2, "%s: not found\n", q->argv[0]);
    else
        dprintf(2, "%s: %s\n", q->argv[0], strerror(e));
    _exit(e == EACCES || e == ENOEXEC ? 126 : 127);
}

static int check_cwd(const char *cwd)
{
    struct stat st;
    if (stat(cwd[0] ? cwd : "/", &st) < 0)
        return errno;
    return S_ISDIR(st.st_mode) ? 0 : ENOTDIR;
}

/* pipes[0..2] = stdin, stdout, stderr; each {read end, write end}. */
static int make_pipes(int pipes[3][2])
{
    for (int i = 0; i < 3; i++)
        pipes[i][0] = pipes[i][1] = -1;
    for (int i = 0; i < 3; i++)
        if (pipe2(pipes[i], O_CLOEXEC) < 0)
            return errno;
    return 0;
}

static void close_pipes(int pipes[3][2])
{
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 2; j++)
            close_fd(&pipes[i][j]);
}

static struct exec_session *add_session(uint32_t id, pid_t pid, const struct exec_request *q,
                                        int pipes[3][2])
{
    struct exec_session *s = calloc(1, sizeof(*s));
    if (!s)
        abort(); /* a few dozen bytes: nothing sensible to do without them */
    s->id = id;
    s->pid = pid;
    s->running = 1;
    s->in_fd = pipes[0][1];
    s->out_fd = pipes[1][0];
    s->err_fd = pipes[2][0];
    pipes[0][1] = pipes[1][0] = pipes[2][0] = -1;
    set_nonblock(s->in_fd);
    set_nonblock(s->out_fd);
    set_nonblock(s->err_fd);
    s->in_wanted = (q->flags & WIRE_EXEC_STDIN) != 0;
    if (!s->in_wanted) /* the child reads EOF at once, as from /dev/null */
        close_fd(&s->in_fd);
    if (q->timeout_ms > 0)
        s->deadline = now_ms() + (int64_t)(q->timeout_ms > INT32_MAX ? INT32_MAX : q->timeout_ms);
    s->next = sessions;
    sessions = s;
    return s;
}

/* Returns 1 when a session started, 0 when it answered an error. */
static int start(uint32_t id, struct wire_reader *r, struct exec_capture *cap)
{
    struct exec_request q;
    if (parse_request(r, &q) < 0) {
        free_request(&q);
        reply_malformed(id, WIRE_EXEC);
        return 0;
    }
    int err = check_cwd(q.cwd);
    if (err) {
        reply_error(id, err, "cwd %s: %s", q.cwd, strerror(err));
        free_request(&q);
        return 0;
    }
    char **env = build_env(&q);
    int pipes[3][2];
    err = env ? make_pipes(pipes) : ENOMEM;
    pid_t pid = -1;
    if (!err) {
        pid = fork();
        if (pid < 0)
            err = errno;
        if (pid == 0)
            child_run(&q, env, pipes[0][0], pipes[1][1], pipes[2][1]);
    }
    if (err) {
        reply_error(id, err, "cannot start %s: %s", q.argv[0], strerror(err));
    } else {
        setpgid(pid, pid); /* also here, so a kill(-pid) right away cannot miss */
        add_session(id, pid, &q, pipes)->cap = cap;
        if ((q.flags & WIRE_EXEC_PID) && !cap) {
            /* run_async wants the guest PID: OUTPUT on stream 0 with a u32 */
            struct wire_writer *w = conn_begin(WIRE_OUTPUT, id);
            wire_put_u8(w, 0);
            uint32_t p = (uint32_t)pid;
            wire_put_bytes(w, &p, sizeof p);
            conn_send(w);
        }
    }
    if (env)
        close_pipes(pipes);
    free(env);
    free_request(&q);
    return !err;
}

void exec_start(uint32_t id, struct wire_reader *r) { start(id, r, NULL); }

int exec_start_captured(uint32_t id, struct wire_reader *r, struct exec_capture *cap)
{
    return start(id, r, cap);
}

/* ---- stdin ---- */

static void stdin_close(struct exec_session *s)
{
    close_fd(&s->in_fd);
    free(s->in_buf);
    s->in_buf = NULL;
    s->in_off = s->in_len = s->in_cap = 0;
}

/* Write as much as the pipe takes now; returns bytes written, or -1 if the child has
 * closed its stdin (the rest is then dropped, as a shell pipeline would). */
static ssize_t stdin_write_some(struct exec_session *s, const uint8_t *p, size_t n)
{
    size_t done = 0;
    while (done < n) {
        ssize_t k = write(s->in_fd, p + done, n - done);
        if (k > 0) {
            done += (size_t)k;
            continue;
        }
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0 && errno == EAGAIN)
            break;
        stdin_close(s);
        return -1;
    }
    return (ssize_t)done;
}

static void stdin_flush(struct exec_session *s)
{
    if (s->in_fd < 0)
        return;
    if (s->in_len > s->in_off) {
        ssize_t k = stdin_write_some(s, s->in_buf + s->in_off, s->in_len - s->in_off);
        if (k < 0)
            return;
        s->in_off += (size_t)k;
    }
    if (s->in_off == s->in_len) {
        s->in_off = s->in_len = 0;
        if (s->in_eof)
            stdin_close(s);
    }
}

static void stdin_buffer(struct exec_session *s, const uint8_t *p, size_t n)
{
    if (s->in_off > 0 && s->in_off == s->in_len)
        s->in_off = s->in_len = 0;
    if (s->in_len + n > s->in_cap && s->in_off > 0) { /* compact before growing */
        memmove(s->in_buf, s->in_buf + s->in_off, s->in_len - s->in_off);
        s->in_len -= s->in_off;
        s->in_off = 0;
    }
    if (s->in_len + n > s->in_cap) {
        size_t cap = s->in_cap ? s->in_cap : 64 * 1024;
        while (cap < s->in_len + n)
            cap *= 2;
        uint8_t *nb = realloc(s->in_buf, cap);
        if (!nb) { /* cannot keep it: the child sees its stdin end early */
            agent_log("out of memory buffering stdin for request %u", s->id);
            stdin_close(s);
            return;
        }
        s->in_buf = nb;
        s->in_cap = cap;
    }
    memcpy(s->in_buf + s->in_len, p, n);
    s->in_len += n;
}

int exec_stdin_data(uint32_t id, const uint8_t *data, size_t n)
{
    struct exec_session *s = find_session(id);
    if (!s)
        return 0;
    if (!s->in_wanted || s->in_eof)
        return 1;
    if (n == 0) {
        s->in_eof = 1;
        stdin_flush(s);
        return 1;
    }
    if (s->in_fd < 0)
        return 1;
    if (s->in_len == s->in_off) { /* nothing queued: try the pipe directly first */
        ssize_t k = stdin_write_some(s, data, n);
        if (k < 0)
            return 1;
        data += k;
        n -= (size_t)k;
    }
    if (n > 0)
        stdin_buffer(s, data, n);
    return 1;
}

size_t exec_stdin_pending(void)
{
    size_t total = 0;
    for (struct exec_session *s = sessions; s; s = s->next)
        total += s->in_len - s->in_off;
    return total;
}

/* ---- output ---- */

/* A batched run's output: kept while out + err fit the limit, counted always. */
static void capture_output(struct exec_capture *c, uint8_t stream, const uint8_t *p, size_t n)
{
    c->total += n;
    if (c->total > c->limit)
        return;
    uint8_t **b = stream == 2 ? &c->err : &c->out;
    size_t *len = stream == 2 ? &c->err_len : &c->out_len;
    uint8_t *nb = realloc(*b, *len + n);
    if (!nb) { /* counted as too large */
        c->total = c->limit + 1;
        return;
    }
    memcpy(nb + *len, p, n);
    *b = nb;
    *len += n;
}

static void send_output(struct exec_session *s, uint8_t stream, const uint8_t *p, size_t n)
{
    if (s->cap) {
        capture_output(s->cap, stream, p, n);
        return;
    }
    struct wire_writer *w = conn_begin(WIRE_OUTPUT, s->id);
    wire_put_u8(w, stream);
    wire_put_u32(w, (uint32_t)n); /* the length of the bytes field; the data follows */
    conn_send_with_data(w, p, n);
}

/* One read from a stdout/stderr pipe. Returns bytes forwarded, 0 at EOF, -1 if
 * nothing was ready. */
static ssize_t pump_stream(struct exec_session *s, int *fd, uint8_t stream)
{
    for (;;) {
        ssize_t n = read(*fd, agent_iobuf, sizeof(agent_iobuf));
        if (n > 0) {
            send_output(s, stream, agent_iobuf, (size_t)n);
            return n;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            return -1;
        close_fd(fd); /* EOF or a broken pipe */
        return 0;
    }
}

/* After exit: forward what is in the pipe right now, never wait for more. */
static void drain_stream(struct exec_session *s, int *fd, uint8_t stream)
{
    size_t total = 0;
    while (*fd >= 0 && total < DRAIN_LIMIT) {
        ssize_t n = pump_stream(s, fd, stream);
        if (n <= 0)
            break;
        total += (size_t)n;
    }
    close_fd(fd);
}

void exec_add_pollfds(struct pollset *ps)
{
    for (struct exec_session *s = sessions; s; s = s->next) {
        s->out_rev = s->err_rev = s->in_rev = 0;
        if (s->out_fd >= 0)
            pollset_add(ps, s->out_fd, POLLIN, &s->out_rev);
        if (s->err_fd >= 0)
            pollset_add(ps, s->err_fd, POLLIN, &s->err_rev);
        if (s->in_fd >= 0 && s->in_len > s->in_off)
            pollset_add(ps, s->in_fd, POLLOUT, &s->in_rev);
    }
}

void exec_service(void)
{
    for (struct exec_session *s = sessions; s; s = s->next) {
        if (s->out_rev && s->out_fd >= 0)
            pump_stream(s, &s->out_fd, 1);
        if (s->err_rev && s->err_fd >= 0)
            pump_stream(s, &s->err_fd, 2);
        if (s->in_rev)
            stdin_flush(s);
        s->out_rev = s->err_rev = s->in_rev = 0;
    }
}

/* ---- exit, timeouts, kill ---- */

void exec_reap(void)
{
    for (;;) {
        int st;
        pid_t pid = waitpid(-1, &st, WNOHANG);
        if (pid < 0 && errno == EINTR)
            continue;
        if (pid <= 0)
            return;
        struct exec_session *s = find_by_pid(pid);
        if (s) { /* anything else was an orphan we inherited: reaped, forgotten */
            s->running = 0;
            s->wstatus = st;
        }
    }
}

static void send_exit(struct exec_session *s)
{
    uint8_t status = WIRE_STATUS_EXITED;
    int32_t code = 0, sig = 0;
    if (WIFSIGNALED(s->wstatus))
        sig = WTERMSIG(s->wstatus);
    if (s->timed_out)
        status = WIRE_STATUS_TIMED_OUT;
    else if (WIFSIGNALED(s->wstatus))
        status = WIRE_STATUS_SIGNALLED;
    else
        code = WEXITSTATUS(s->wstatus);
    if (s->cap) {
        s->cap->status = status;
        s->cap->code = code;
        s->cap->signal = sig;
        return;
    }
    struct wire_writer *w = conn_begin(WIRE_EXIT, s->id);
    wire_put_u8(w, status);
    wire_put_i32(w, code);
    wire_put_i32(w, sig);
    conn_send(w);
}

static void free_session(struct exec_session *s)
{
    close_fd(&s->out_fd);
    close_fd(&s->err_fd);
    stdin_close(s);
    free(s);
}

void exec_finish_exited(void)
{
    struct exec_session **pp = &sessions;
    while (*pp) {
        struct exec_session *s = *pp;
        if (s->running) {
            pp = &s->next;
            continue;
        }
        drain_stream(s, &s->out_fd, 1);
        drain_stream(s, &s->err_fd, 2);
        send_exit(s);
        *pp = s->next;
        struct exec_capture *cap = s->cap;
        free_session(s);
        if (cap) /* after the unlink: a new session goes in at the head, ahead of pp */
            cap->on_exit(cap);
    }
}

static void kill_group(struct exec_session *s)
{
    kill(-s->pid, SIGKILL);
    kill(s->pid, SIGKILL); /* in case the child left its group */
}

/* The earliest deadline of a session still to be timed out, 0 if there is none. */
static int64_t earliest_deadline(void)
{
    int64_t best = 0;
    for (struct exec_session *s = sessions; s; s = s->next)
        if (s->running && !s->timed_out && s->deadline && (!best || s->deadline < best))
            best = s->deadline;
    return best;
}

void exec_check_deadlines(void)
{
    int64_t first = earliest_deadline();
    if (!first)
        return; /* spares a clock read per loop round in the common case */
    int64_t now = now_ms();
    if (now < first)
        return;
    for (struct exec_session *s = sessions; s; s = s->next) {
        if (s->running && !s->timed_out && s->deadline && now >= s->deadline) {
            kill_group(s);
            s->timed_out = 1;
        }
    }
}

int exec_ms_to_next_deadline(void)
{
    int64_t first = earliest_deadline();
    if (!first)
        return -1;
    int64_t left = first - now_ms();
    return left <= 0 ? 0 : left > INT32_MAX ? INT32_MAX : (int)left;
}

void exec_kill(uint32_t id, struct wire_reader *r)
{
    uint32_t target = wire_get_u32(r);
    int32_t sig = wire_get_i32(r);
    if (!wire_reader_at_end(r)) {
        reply_malformed(id, WIRE_KILL);
        return;
    }
    struct exec_session *s = find_session(target);
    if (!s || !s->running) {
        reply_error(id, ESRCH, "no running process for request %u", target);
        return;
    }
    /* a negative signal goes to the whole process group (a timed-out wait) */
    if (kill(sig < 0 ? -s->pid : s->pid, sig < 0 ? -sig : sig) < 0) {
        reply_error(id, errno, "kill: %s", strerror(errno));
        return;
    }
    reply_ok(id);
}

int exec_has_id(uint32_t id) { return find_session(id) != NULL; }

void exec_abort_all(void)
{
    while (sessions) {
        struct exec_session *s = sessions;
        sessions = s->next;
        if (s->running)
            kill_group(s); /* the loop's waitpid(-1) reaps it later */
        free_session(s);
    }
}
