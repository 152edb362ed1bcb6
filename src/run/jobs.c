/* jobs.c - the parent's job loop: start a worker per file (fork, its own process
 * group, its scratch directory, pipes for events and pool answers), wait on the
 * running ones (their event pipes and pidfds, 200 ms at most), enforce the file
 * timeout, reap and settle each file, answer barrier timeouts (runner_barrier.c), stop
 * everything on an interruption. The worker's group is what a timeout or an
 * interruption kills: its QEMUs and whatever its tests started. Events are events.c,
 * results results.c, pool answers runner_pool.c. */
#include "jobs.h"

#include "events.h"
#include "progress.h"
#include "results.h"
#include "runner_barrier.h"
#include "runner_pool.h"
#include "run/watchdog.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

volatile sig_atomic_t g_interrupted;

static void on_signal(int sig)
{
    g_interrupted = sig;
}

void run_catch_signals(void)
{
    struct sigaction sa = {0};
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL); /* a closed terminal or SSH session: the same clean end */
    signal(SIGPIPE, SIG_IGN);
}

static void close_pipes(int p[2], int q[2])
{
    close(p[0]);
    close(p[1]);
    close(q[0]);
    close(q[1]);
}

/* In the child: the worker, in its own group, guarded by the watchdog. */
__attribute__((noreturn)) static void exec_worker(struct job *j, const struct run_opts *ro, const struct config *cfg,
                        pid_t parent, int evfd, int replyfd)
{
    setpgid(0, 0);
    if (watchdog_start(j->scratch, parent) < 0)
        _exit(1);
    struct run_opts mine = *ro;
    if (j->file->rerun && !j->file->rerun->whole_file)
        mine.only_tests = j->file->rerun->tests;
    int rc = worker_run(&mine, cfg, j->file->abs, j->res->path, j->scratch, evfd, replyfd);
    exit(rc); /* not _exit: stdio was flushed before fork, and leak checkers run */
}

static int start_job(struct job *j, const struct run_opts *ro, const struct config *cfg)
{
    int p[2], q[2];
    if (pipe2(p, O_CLOEXEC) < 0)
        return -1;
    if (pipe2(q, O_CLOEXEC) < 0) {
        close(p[0]);
        close(p[1]);
        return -1;
    }
    j->scratch = make_scratch_dir("provium");
    if (!j->scratch) {
        close_pipes(p, q);
        return -1;
    }
    fflush(NULL);
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        close_pipes(p, q);
        return -1;
    }
    if (pid == 0) {
        close(p[0]);
        close(q[1]);
        exec_worker(j, ro, cfg, parent, p[1], q[0]);
    }
    setpgid(pid, pid); /* as the child does: a kill of the group works from now on */
    close(p[1]);
    close(q[0]);
    fcntl(p[0], F_SETFL, O_NONBLOCK);
    j->replyfd = q[1];
    j->held = (struct pool_amount){POOL_FILE_MEMORY, 0};
    pool_take(&g_pool, j->held);
    j->pid = pid;
    j->pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
    j->evfd = p[0];
    j->start_ns = now_ns();
    j->res->started = wall_time();
    j->running = 1;
    run_event("file_dispatched", json_pack("{s:s, s:i, s:o}", "path", j->res->path, "worker_pid",
                                          (int)pid, "reservation", pool_amount_json(j->held)));
    return 0;
}

/* Why the file ended early, for the report. */
static char *file_error_text(const struct job *j, int status)
{
    const struct file_result *r = j->res;
    if (r->status == FS_TIMED_OUT)
        return xstrdup("file timeout exceeded");
    if (r->chunk_error)
        return xasprintf("chunk error: %s", r->chunk_error);
    if (r->status == FS_INTERRUPTED)
        return xstrdup("interrupted");
    if (WIFSIGNALED(status))
        return xasprintf("worker crashed (signal %d: %s)", WTERMSIG(status),
                         strsignal(WTERMSIG(status)));
    return xasprintf("worker exited with status %d before the file finished",
                     WEXITSTATUS(status));
}

/* The file's status from how its worker ended; a file that ended early gets its error
 * and fails its unfinished tests. */
static void settle_status(struct job *j, int status)
{
    struct file_result *r = j->res;
    /* a worker that did not say file_done died early, whatever its exit status */
    int crashed = !WIFEXITED(status) || WEXITSTATUS(status) != 0 || !r->done;
    if (j->timed_out)
        r->status = FS_TIMED_OUT;
    else if (r->chunk_error)
        r->status = FS_FAILED;
    else if (crashed && j->interrupted)
        r->status = FS_INTERRUPTED;
    else if (crashed)
        r->status = FS_CRASHED;
    else
        r->status = r->failed ? FS_FAILED : FS_PASSED;
    if (r->status == FS_TIMED_OUT || r->status == FS_CRASHED ||
        r->status == FS_INTERRUPTED || r->chunk_error) {
        if (!r->error)
            r->error = file_error_text(j, status);
        result_fail_unfinished(r);
    }
}

/* The worker has exited: settle the file's status and counts, give its pool share
 * back and remove its scratch directory. */
static void finish_job(struct job *j, int status)
{
    struct file_result *r = j->res;
    r->duration_ns = now_ns() - j->start_ns;
    settle_status(j, status);
    if (j->pidfd >= 0)
        close(j->pidfd);
    close(j->evfd);
    close(j->replyfd);
    j->replyfd = -1;
    pool_give(&g_pool, j->held);
    j->held = (struct pool_amount){0, 0};
    j->waiting = 0;
    barriers_forget(j); /* a file that died at a barrier no longer counts there */
    if (j->claimed)
        run_event("claim_released",
                 json_pack("{s:s, s:o}", "path", j->res->path, "amount", pool_amount_json(j->claim)));
    j->claimed = 0;
    if (getenv("PROVIUM_KEEP_SCRATCH"))
        warnx_p("kept scratch of %s: %s", r->path, j->scratch);
    else
        rm_rf(j->scratch);
    free(j->scratch);
    j->scratch = NULL;
    buf_free(&j->line);
    j->running = 0;
    jobs_serve_pool_waiters();
    run_event("file_completed",
             json_pack("{s:s, s:s, s:I, s:i, s:i, s:i, s:s?}", "path", r->path, "status",
                       file_status_name(r->status), "duration_ns", (json_int_t)r->duration_ns,
                       "passed", r->passed, "failed", r->failed, "skipped", r->skipped, "error",
                       r->error));
}

/* The worker's whole process group: its QEMUs and whatever its tests started. */
static void kill_group(pid_t pid)
{
    if (kill(-pid, SIGKILL) < 0)
        kill(pid, SIGKILL);
}

static void interrupt_job(struct job *j)
{
    if (j->running && j->pid > 0 && !j->interrupted) {
        j->interrupted = 1;
        kill_group(j->pid);
    }
}

/* The scheduler's state while run_files runs. */
struct sched {
    const struct run_opts *ro;
    const struct config *cfg;
    struct job *jobs;
    struct file_result *res;
    size_t n, next, done, running;
    int stop_new;
    const char *blocked; /* why the next file waits, reported once per reason */
    int64_t last_state;
    struct progress pg;
    FILE *report;
};

/* Why the next file cannot start now (jobs_limit, pool_full, psi_pressure), else NULL;
 * each new reason is reported once (file_blocked). */
static const char *start_blocked(struct sched *s)
{
    struct pool_amount base = {POOL_FILE_MEMORY, 0};
    /* while a file waits at a barrier (idle until others arrive) pressure holds none back */
    int pressure = s->running && !barriers_next_deadline() && psi_high();
    const char *why = s->running >= (size_t)s->ro->jobs ? "jobs_limit"
                      : !pool_fits(&g_pool, base)         ? "pool_full"
                      : pressure                          ? "psi_pressure"
                                                          : NULL;
    if (why && (!s->blocked || strcmp(s->blocked, why))) {
        run_event("file_blocked",
                  json_pack("{s:s, s:s, s:o}", "path", s->res[s->next].path, "reason", why,
                            "waiting_for", strcmp(why, "pool_full")
                                               ? json_null()
                                               : pool_amount_json(base)));
        s->blocked = why;
    }
    return why;
}

/* Starts queued files while --jobs, the pool and the host's pressure allow. */
static void dispatch(struct sched *s)
{
    struct file_result *res = s->res;
    while (!s->stop_new && !g_interrupted && s->next < s->n) {
        if (start_blocked(s))
            break;
        s->blocked = NULL;
        if (start_job(&s->jobs[s->next], s->ro, s->cfg) < 0) {
            res[s->next].status = FS_CRASHED;
            res[s->next].error = xasprintf("cannot start worker: %s", strerror(errno));
            res[s->next].failed = 1;
            res[s->next].file_error = 1;
            s->done++;
        } else
            s->running++;
        s->next++;
    }
}

/* Once a second while files run: the pool's state (pool_state). */
static void pool_state_event(struct sched *s)
{
    if (!s->running || now_ns() - s->last_state < 1000000000LL)
        return;
    struct pool_amount avail = {g_pool.total.memory - g_pool.used.memory,
                                g_pool.total.cpus - g_pool.used.cpus};
    run_event("pool_state", json_pack("{s:o, s:o, s:i, s:i}", "used",
                                     pool_amount_json(g_pool.used), "available",
                                     pool_amount_json(avail), "running_files",
                                     (int)s->running, "queued_files",
                                     (int)(s->n - s->next)));
    s->last_state = now_ns();
}

/* Waits up to 200 ms on the running workers' event pipes and pidfds, after showing
 * the progress line and, once a second, the pool's state. */
static void wait_for_workers(struct sched *s)
{
    struct pollfd *pf = xcalloc(s->n * 2 + 1, sizeof *pf);
    nfds_t np = 0;
    for (size_t i = 0; i < s->n; i++) {
        if (!s->jobs[i].running)
            continue;
        pf[np].fd = s->jobs[i].evfd;
        pf[np].events = POLLIN;
        np++;
        pf[np].fd = s->jobs[i].pidfd;
        pf[np].events = POLLIN;
        np++;
    }
    progress_show(&s->pg, s->done, s->n, s->running, s->n - s->next, s->res, s->n);
    pool_state_event(s);
    int ms = 200;
    int64_t until = barriers_next_deadline(); /* a barrier's timeout answered on time */
    if (until) {
        int64_t left = (until - now_ns()) / 1000000 + 1;
        if (left < ms)
            ms = left > 0 ? (int)left : 0;
    }
    poll(pf, np, ms);
    free(pf);
}

/* A finished file: its report, and --fail-fast. */
static void report_job(struct sched *s, const struct job *j)
{
    const struct run_opts *ro = s->ro;
    progress_clear(&s->pg);
    if (!ro->json)
        report_file_human(s->report, j->res, ro->verbose, ro->quiet);
    else
        report_file_json(s->report, j->res);
    fflush(s->report);
    if (ro->fail_fast && j->res->status != FS_PASSED)
        s->stop_new = 1;
}

/* Reads every running worker's events, enforces the file timeout (time spent waiting
 * on the pool not counted), and finishes the files whose worker exited. */
static void reap_workers(struct sched *s)
{
    const struct run_opts *ro = s->ro;
    for (size_t i = 0; i < s->n; i++) {
        struct job *j = &s->jobs[i];
        if (!j->running)
            continue;
        job_drain_events(j, ro);
        int64_t waited = j->pool_wait_ns + (j->waiting ? now_ns() - j->wait_since : 0);
        if (ro->file_timeout > 0 && !j->timed_out &&
            now_ns() - j->start_ns - waited > (int64_t)(ro->file_timeout * 1e9)) {
            j->timed_out = 1;
            kill_group(j->pid);
        }
        int status;
        pid_t r = waitpid(j->pid, &status, WNOHANG);
        if (r != j->pid)
            continue;
        job_drain_events(j, ro);
        finish_job(j, status);
        s->running--;
        s->done++;
        report_job(s, j);
    }
}

/* After --fail-fast or an interruption: the files not started are skipped. */
static void skip_rest(struct sched *s)
{
    for (; s->next < s->n; s->next++, s->done++) {
        struct file_result *r = &s->res[s->next];
        r->status = FS_SKIPPED;
        r->skipped = 1;
        r->error = xstrdup(g_interrupted ? "interrupted" : "skipped by --fail-fast");
    }
}

void run_files(const struct run_opts *ro, const struct config *cfg, struct found *files,
               size_t n, struct file_result *res, FILE *report)
{
    struct sched s = {.ro = ro, .cfg = cfg, .res = res, .n = n, .report = report};
    progress_init(&s.pg, ro);
    s.jobs = xcalloc(n ? n : 1, sizeof *s.jobs);
    for (size_t i = 0; i < n; i++) {
        s.jobs[i].file = &files[i];
        s.jobs[i].res = &res[i];
        s.jobs[i].pidfd = s.jobs[i].evfd = s.jobs[i].replyfd = -1;
    }
    g_jobs = s.jobs;
    g_njobs = n;
    while (s.done < n) {
        dispatch(&s);
        if (s.stop_new && s.running == 0) {
            skip_rest(&s);
            break;
        }
        wait_for_workers(&s);
        if (g_interrupted) {
            for (size_t i = 0; i < n; i++)
                interrupt_job(&s.jobs[i]);
            s.stop_new = 1;
        }
        reap_workers(&s);
        barriers_expire(now_ns());
    }
    progress_clear(&s.pg);
    free(s.jobs);
    g_jobs = NULL;
    g_njobs = 0;
}
