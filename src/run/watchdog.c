/* watchdog.c - the worker's guard thread: what a blocked Lua thread cannot do itself.
 *
 * Parent death. The worker asks the kernel for SIGTERM when the runner dies
 * (PR_SET_PDEATHSIG; the runner forks from its only thread, so the signal means the
 * process) and checks getppid() right after, in case the runner died first. SIGTERM
 * and SIGHUP only write a byte to a pipe; this thread then kills the rest of the
 * worker's process group (its QEMUs, anything a test started), removes the scratch
 * directory and ends the worker with SIGTERM. What a worker killed outright leaves,
 * a later run removes (scratch_sweep_stale).
 *
 * Test deadlines. While a test body runs with a deadline, the thread wakes at it and
 * ends what a blocking C call of the body waits on (os.execute, io.popen): every
 * process of the worker's group except the worker itself and its QEMUs (a command
 * line naming the scratch directory, or a qemu-system binary; also qemu-img: the agent
 * connection honours the deadline on its own, and the file lab's teardown stops
 * them). It repeats that every 100 ms until the body ends, and sets a count-1 hook so
 * that the body raises `test timeout exceeded` at its next Lua instruction. Limit: a
 * call that waits on no child process (reading the terminal, a socket of a C module)
 * is not interrupted; the file timeout, enforced by the runner, still ends it. */
#include "watchdog.h"

#include "util/util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

static struct {
    pthread_mutex_t mu;
    int wake[2];       /* signal handler: 't'; arm: 'a' */
    char *scratch;
    int keep_scratch;  /* PROVIUM_KEEP_SCRATCH */
    lua_State *L;      /* the body's state and hook while armed */
    lua_Hook hook;
    int64_t deadline;  /* the armed deadline, 0 = none */
    int fired;
} g_wd = {.mu = PTHREAD_MUTEX_INITIALIZER, .wake = {-1, -1}};

static void on_term(int sig)
{
    (void)sig;
    int saved = errno;
    if (write(g_wd.wake[1], "t", 1) < 0) {
        /* the pipe is full: a wake-up is pending anyway */
    }
    errno = saved;
}

/* Reads pgrp (field 5) and ppid (field 4) of pid; -1 when gone. */
static int proc_group(pid_t pid, pid_t *pgrp, pid_t *ppid)
{
    char fields[1024];
    int pp, pg;
    if (proc_stat_after_comm(pid, fields, sizeof fields) < 0 ||
        sscanf(fields, "%*c %d %d", &pp, &pg) != 2)
        return -1;
    *ppid = pp;
    *pgrp = pg;
    return 0;
}

/* Is pid one of the worker's own QEMUs (or qemu-img): its command line names the
 * scratch directory (-initrd, the sockets, overlays), or it runs a qemu-system binary
 * (a profile without initrd whose socket paths go through /proc/self/fd)? */
static int is_ours(pid_t pid, const char *scratch)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/cmdline", (int)pid);
    size_t len = 0;
    char *text = read_file(path, &len);
    int found = text && memmem(text, len, scratch, strlen(scratch)) != NULL;
    free(text);
    snprintf(path, sizeof path, "/proc/%d/comm", (int)pid);
    text = found ? NULL : read_file(path, &len);
    found = found || (text && !strncmp(text, "qemu-system", 11));
    free(text);
    return found;
}

int watchdog_kill_group(int sig, const char *spare)
{
    pid_t me = getpid();
    int leader = getpgrp() == me; /* else only direct children: never the runner's group */
    DIR *d = opendir("/proc");
    if (!d)
        return -1;
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        char *end;
        long pid = strtol(de->d_name, &end, 10);
        pid_t pgrp, ppid;
        if (*end || pid <= 0 || pid == me || proc_group((pid_t)pid, &pgrp, &ppid) < 0)
            continue;
        if (leader ? pgrp != me : ppid != me)
            continue;
        if (spare && is_ours((pid_t)pid, spare))
            continue;
        if (kill((pid_t)pid, sig) == 0)
            n++;
    }
    closedir(d);
    return n;
}

/* The runner is gone (or someone sent SIGTERM/SIGHUP): nothing of this worker stays. */
static void end_worker(void)
{
    watchdog_kill_group(SIGKILL, NULL);
    for (int i = 0; i < 3 && !g_wd.keep_scratch && rm_rf(g_wd.scratch) < 0; i++)
        watchdog_kill_group(SIGKILL, NULL); /* the Lua thread made something meanwhile */
    watchdog_kill_group(SIGKILL, NULL);
    signal(SIGTERM, SIG_DFL);
    kill(getpid(), SIGTERM);
    pause();
    _exit(128 + SIGTERM);
}

/* At the armed deadline: stop the body's children, make its next instruction raise. */
static void expire(void)
{
    pthread_mutex_lock(&g_wd.mu);
    if (g_wd.deadline && now_ns() >= g_wd.deadline) {
        if (!g_wd.fired && g_wd.L)
            lua_sethook(g_wd.L, g_wd.hook, LUA_MASKCOUNT, 1); /* safe from another thread */
        g_wd.fired = 1;
        watchdog_kill_group(SIGKILL, g_wd.scratch);
    }
    pthread_mutex_unlock(&g_wd.mu);
}

static void *run(void *arg)
{
    (void)arg;
    for (;;) {
        pthread_mutex_lock(&g_wd.mu);
        int64_t deadline = g_wd.deadline;
        int fired = g_wd.fired;
        pthread_mutex_unlock(&g_wd.mu);
        int ms = -1;
        if (deadline) {
            int64_t left = deadline - now_ns();
            ms = fired ? 100 : left <= 0 ? 0 : (int)(left / 1000000 + 1);
        }
        struct pollfd p = {.fd = g_wd.wake[0], .events = POLLIN};
        int r = poll(&p, 1, ms);
        if (r > 0) {
            char c[64];
            ssize_t n = read(g_wd.wake[0], c, sizeof c);
            if (n > 0 && memchr(c, 't', (size_t)n))
                end_worker();
        }
        expire();
    }
    return NULL;
}

int watchdog_start(const char *scratch, pid_t parent)
{
    g_wd.scratch = xstrdup(scratch);
    g_wd.keep_scratch = getenv("PROVIUM_KEEP_SCRATCH") != NULL;
    if (pipe2(g_wd.wake, O_CLOEXEC | O_NONBLOCK) < 0)
        return -1;
    struct sigaction sa = {0};
    sa.sa_handler = on_term;
    sa.sa_flags = SA_RESTART;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    pthread_t t;
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old); /* signals go to the Lua thread, not ours */
    int rc = pthread_create(&t, NULL, run, NULL);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0)
        return -1;
    pthread_detach(t);
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != parent) /* it died before we asked */
        on_term(SIGTERM);
    return 0;
}

void watchdog_arm(lua_State *L, lua_Hook hook, int64_t deadline_ns)
{
    pthread_mutex_lock(&g_wd.mu);
    g_wd.L = L;
    g_wd.hook = hook;
    g_wd.deadline = deadline_ns;
    g_wd.fired = 0;
    pthread_mutex_unlock(&g_wd.mu);
    if (g_wd.wake[1] >= 0 && write(g_wd.wake[1], "a", 1) < 0) {
        /* full: the thread wakes anyway */
    }
}

void watchdog_extend(int64_t by_ns)
{
    pthread_mutex_lock(&g_wd.mu);
    if (g_wd.deadline)
        g_wd.deadline += by_ns;
    pthread_mutex_unlock(&g_wd.mu);
}

void watchdog_disarm(void)
{
    pthread_mutex_lock(&g_wd.mu);
    g_wd.deadline = 0;
    g_wd.fired = 0;
    g_wd.L = NULL;
    pthread_mutex_unlock(&g_wd.mu);
}
