/* runner.c - the parent of a test run: scheduling, worker events, results.
 *
 * It forks one worker per test file (at most --jobs at once), reads their JSON event
 * lines, enforces the per-file timeout, survives worker crashes, and prints the report.
 * QEMU processes belong to workers and die with them (PR_SET_PDEATHSIG); each
 * worker leads a process group, which is what a timeout or an interruption kills, and
 * dies with the runner (watchdog.c). Each worker's private scratch directory is
 * created and removed here; those of runs killed outright are swept at startup. Which files run is
 * discover.c, the checks before a run preflight.c, the pool requests runner_pool.c. */
#include "runner_int.h"

#include "fixture/fixture.h"
#include "run/build.h"
#include "run/watchdog.h"
#include "vm/vm.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

const char *file_status_name(enum file_status s)
{
    static const char *n[] = {"passed", "failed", "timed_out", "crashed", "skipped",
                              "interrupted"};
    return n[s];
}

/* ---- workers ---- */

static volatile sig_atomic_t g_interrupted; /* the signal: SIGINT, SIGTERM or SIGHUP */
static void on_signal(int sig)
{
    g_interrupted = sig;
}

static FILE *g_events;

static void write_event(json_t *o)
{
    if (!g_events)
        return;
    json_t *full = json_pack("{s:f}", "ts", wall_time());
    json_object_update(full, o);
    char *s = json_dumps(full, JSON_COMPACT);
    json_decref(full);
    if (s) {
        size_t n = strlen(s);
        s = xrealloc(s, n + 2);
        s[n] = '\n';
        /* one write per line so writers sharing an O_APPEND file interleave cleanly */
        write_all(fileno(g_events), s, n + 1);
        free(s);
    }
}

void run_event(const char *kind, json_t *payload)
{
    json_object_set_new(payload, "kind", json_string(kind));
    write_event(payload);
    json_decref(payload);
}

static void on_evicted(void *ud, const char *key, uint64_t bytes)
{
    (void)ud;
    run_event("fixture_evicted", json_pack("{s:s, s:n, s:s, s:I}", "key", key, "fixture", "reason",
                                          "lru", "bytes", (json_int_t)bytes));
}

static void build_event(void *ud, const struct profile *p, int phase, int64_t dur, int ok,
                        int status)
{
    (void)ud;
    if (phase == 0) {
        run_event("build_started", json_pack("{s:s, s:s, s:s}", "profile", p->name, "out", p->out,
                                            "command", p->build));
        return;
    }
    json_t *o = json_pack("{s:s, s:s, s:I, s:b}", "profile", p->name, "out", p->out,
                          "duration_ns", (json_int_t)dur, "ok", ok);
    if (WIFSIGNALED(status))
        json_object_set_new(o, "signal", json_integer(WTERMSIG(status)));
    else
        json_object_set_new(o, "exit_code", json_integer(WEXITSTATUS(status)));
    run_event("build_done", o);
}

static char *jstr_dup(json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s ? xstrdup(s) : NULL;
}

static void add_test(struct file_result *r, json_t *o, const char *status, const char *msg_key)
{
    r->tests = xrealloc(r->tests, (r->n_tests + 1) * sizeof *r->tests);
    struct test_result *t = &r->tests[r->n_tests++];
    memset(t, 0, sizeof *t);
    t->name = jstr_dup(o, "name");
    t->status = xstrdup(status);
    t->message = msg_key ? jstr_dup(o, msg_key) : NULL;
    t->log = jstr_dup(o, "log");
    t->console = jstr_dup(o, "console_excerpt");
    t->duration_ns = json_integer_value(json_object_get(o, "duration_ns"));
    t->meta = json_incref(json_object_get(o, "meta"));
    if (!strcmp(status, "passed"))
        r->passed++;
    else if (!strcmp(status, "failed"))
        r->failed++;
    else
        r->skipped++;
}


static void handle_event(struct job *j, json_t *o, const struct run_opts *ro)
{
    const char *kind = json_string_value(json_object_get(o, "kind"));
    if (!kind)
        return;
    struct file_result *r = j->res;
    if (!strcmp(kind, "pool_acquire") || !strcmp(kind, "pool_claim")) {
        job_pool_acquire(j, o, !strcmp(kind, "pool_claim"));
        return; /* internal */
    }
    if (!strcmp(kind, "pool_release")) {
        job_pool_release(j, o);
        return; /* internal */
    }
    if (!strcmp(kind, "tests_registered")) {
        json_t *names = json_object_get(o, "names");
        size_t i;
        json_t *v;
        json_array_foreach(names, i, v) strv_push(&r->registered, json_string_value(v));
        json_decref(r->registered_meta);
        r->registered_meta = json_incref(json_object_get(o, "metas"));
        return; /* internal */
    }
    if (!strcmp(kind, "file_done")) {
        r->done = 1;
        return; /* internal */
    }
    if (!strcmp(kind, "test_started")) {
        free(r->running);
        r->running = jstr_dup(o, "name");
        r->running_since = now_ns();
    } else if (!strncmp(kind, "test_", 5) && r->running) {
        free(r->running);
        r->running = NULL;
    }
    if (!strcmp(kind, "chunk_error")) {
        r->chunk_error = jstr_dup(o, "error");
        return;
    }
    if (!strcmp(kind, "test_passed"))
        add_test(r, o, "passed", NULL);
    else if (!strcmp(kind, "test_failed"))
        add_test(r, o, "failed", "reason");
    else if (!strcmp(kind, "test_skipped"))
        add_test(r, o, "skipped", "reason");
    if (ro->verbose && !strcmp(kind, "test_started") && !ro->json)
        warnx_p("%s: running %s", r->path,
                json_string_value(json_object_get(o, "name")));
    /* forward to --events without internal fields */
    json_t *copy = json_deep_copy(o);
    json_object_del(copy, "log");
    write_event(copy);
    json_decref(copy);
}

static void drain_events(struct job *j, const struct run_opts *ro)
{
    char tmp[65536];
    for (;;) {
        ssize_t n = read(j->evfd, tmp, sizeof tmp);
        if (n <= 0)
            break;
        buf_append(&j->line, tmp, (size_t)n);
    }
    char *start = j->line.data;
    char *nl;
    size_t consumed = 0;
    while (start && (nl = memchr(start, '\n', j->line.len - consumed))) {
        *nl = 0;
        json_t *o = json_loads(start, 0, NULL);
        if (o) {
            handle_event(j, o, ro);
            json_decref(o);
        }
        consumed += (size_t)(nl - start) + 1;
        start = nl + 1;
    }
    if (consumed) {
        memmove(j->line.data, j->line.data + consumed, j->line.len - consumed);
        j->line.len -= consumed;
    }
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
        close(p[0]);
        close(p[1]);
        close(q[0]);
        close(q[1]);
        return -1;
    }
    fflush(NULL);
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        close(p[0]);
        close(p[1]);
        close(q[0]);
        close(q[1]);
        return -1;
    }
    if (pid == 0) {
        close(p[0]);
        close(q[1]);
        setpgid(0, 0);
        if (watchdog_start(j->scratch, parent) < 0)
            _exit(1);
        struct run_opts mine = *ro;
        if (j->file->rerun && !j->file->rerun->whole_file)
            mine.only_tests = j->file->rerun->tests;
        int rc = worker_run(&mine, cfg, j->file->abs, j->res->path, j->scratch, p[1], q[0]);
        exit(rc); /* not _exit: stdio was flushed before fork, and leak checkers run */
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

/* Has the file a result for this test name? */
static int has_result(const struct file_result *r, const char *name)
{
    for (size_t k = 0; k < r->n_tests; k++)
        if (r->tests[k].name && !strcmp(r->tests[k].name, name))
            return 1;
    return 0;
}

/* A file-level problem (crash, timeout, interruption): every registered test without a
 * result fails with the file's error and gets its test_failed event; when there is
 * none (chunk error, or the worker died before or after all its tests) the file
 * counts one failure of its own (JUnit's `(file)` error). */
static void fail_unfinished(struct file_result *r)
{
    size_t unfinished = 0;
    for (size_t i = 0; i < r->registered.n; i++) {
        const char *name = r->registered.v[i];
        if (!name || has_result(r, name))
            continue;
        int64_t dur = r->running && !strcmp(r->running, name) ? now_ns() - r->running_since : 0;
        json_t *meta = json_array_get(r->registered_meta, i);
        json_t *o = json_pack("{s:s, s:s, s:I, s:s, s:s, s:O}", "path", r->path, "name", name,
                              "duration_ns", (json_int_t)dur, "reason", r->error,
                              "console_excerpt", "", "meta", meta ? meta : json_object());
        add_test(r, o, "failed", "reason");
        run_event("test_failed", o);
        unfinished++;
    }
    if (unfinished == 0) {
        r->failed++;
        r->file_error = 1;
    }
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

/* The worker has exited: settle the file's status and counts. */
static void finish_job(struct job *j, int status)
{
    struct file_result *r = j->res;
    r->duration_ns = now_ns() - j->start_ns;
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
        fail_unfinished(r);
    }
    if (j->pidfd >= 0)
        close(j->pidfd);
    close(j->evfd);
    close(j->replyfd);
    j->replyfd = -1;
    pool_give(&g_pool, j->held);
    j->held = (struct pool_amount){0, 0};
    j->waiting = 0;
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

/* The TTY progress line on stderr: `[done/total] running R, queued Q — P passed, F
 * failed, S skipped`, rewritten in place and cleared before each report. */
struct progress {
    int on;
    char last[256];
};

static void progress_clear(struct progress *pg)
{
    if (pg->on && pg->last[0]) {
        fputs("\r\033[K", stderr);
        fflush(stderr);
        pg->last[0] = 0;
    }
}

static void progress_show(struct progress *pg, size_t done, size_t total, size_t running,
                          size_t queued, const struct file_result *res, size_t n)
{
    if (!pg->on)
        return;
    int p = 0, f = 0, sk = 0;
    for (size_t i = 0; i < n; i++) {
        p += res[i].passed;
        f += res[i].failed;
        sk += res[i].skipped;
    }
    char line[256];
    snprintf(line, sizeof line, "[%zu/%zu] running %zu, queued %zu \u2014 %d passed, %d failed, %d skipped",
             done, total, running, queued, p, f, sk);
    if (!strcmp(line, pg->last))
        return;
    snprintf(pg->last, sizeof pg->last, "%s", line);
    fprintf(stderr, "\r\033[K%s", line);
    fflush(stderr);
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

/* Starts queued files while --jobs, the pool and the host's pressure allow; the first
 * reason to wait is reported (file_blocked) once per reason. */
static void dispatch(struct sched *s)
{
    struct file_result *res = s->res;
    while (!s->stop_new && !g_interrupted && s->next < s->n) {
        struct pool_amount base = {POOL_FILE_MEMORY, 0};
        const char *why = s->running >= (size_t)s->ro->jobs ? "jobs_limit"
                          : !pool_fits(&g_pool, base)         ? "pool_full"
                          : s->running && psi_high()          ? "psi_pressure"
                                                              : NULL;
        if (why) {
            if (!s->blocked || strcmp(s->blocked, why)) {
                run_event("file_blocked",
                         json_pack("{s:s, s:s, s:o}", "path", res[s->next].path, "reason", why,
                                   "waiting_for", strcmp(why, "pool_full")
                                                      ? json_null()
                                                      : pool_amount_json(base)));
                s->blocked = why;
            }
            break;
        }
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
    if (s->running && now_ns() - s->last_state >= 1000000000LL) {
        struct pool_amount avail = {g_pool.total.memory - g_pool.used.memory,
                                    g_pool.total.cpus - g_pool.used.cpus};
        run_event("pool_state", json_pack("{s:o, s:o, s:i, s:i}", "used",
                                         pool_amount_json(g_pool.used), "available",
                                         pool_amount_json(avail), "running_files",
                                         (int)s->running, "queued_files",
                                         (int)(s->n - s->next)));
        s->last_state = now_ns();
    }
    poll(pf, np, 200);
    free(pf);
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
        drain_events(j, ro);
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
        drain_events(j, ro);
        finish_job(j, status);
        s->running--;
        s->done++;
        progress_clear(&s->pg);
        if (!ro->json)
            report_file_human(s->report, j->res, ro->verbose, ro->quiet);
        else
            report_file_json(s->report, j->res);
        fflush(s->report);
        if (ro->fail_fast && j->res->status != FS_PASSED)
            s->stop_new = 1;
    }
}

static int run_files(const struct run_opts *ro, const struct config *cfg, struct found *files,
                     size_t n, struct file_result *res, FILE *report)
{
    struct sched s = {.ro = ro, .cfg = cfg, .res = res, .n = n, .report = report};
    s.pg.on = isatty(STDERR_FILENO) && !ro->no_progress && !ro->verbose && !ro->json &&
              !(ro->events && !strcmp(ro->events, "-"));
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
            for (; s.next < n; s.next++, s.done++) {
                res[s.next].status = FS_SKIPPED;
                res[s.next].skipped = 1;
                res[s.next].error =
                    xstrdup(g_interrupted ? "interrupted" : "skipped by --fail-fast");
            }
            break;
        }
        wait_for_workers(&s);
        if (g_interrupted) {
            for (size_t i = 0; i < n; i++)
                interrupt_job(&s.jobs[i]);
            s.stop_new = 1;
        }
        reap_workers(&s);
    }
    progress_clear(&s.pg);
    free(s.jobs);
    g_jobs = NULL;
    g_njobs = 0;
    return 0;
}

/* The summary's note when --filter kept no file (exit 0: nothing failed). */
static void no_filter_match(FILE *out, const struct run_opts *ro)
{
    fputs("no test matched", out);
    for (size_t i = 0; i < ro->filters.n; i++) {
        char *shown = utf8_escape(ro->filters.v[i]);
        fprintf(out, "%s --filter '%s'", i ? " or" : "", shown);
        free(shown);
    }
    fputc('\n', out);
}

static void free_results(struct file_result *res, struct found *files, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        struct file_result *r = &res[i];
        for (size_t k = 0; k < r->n_tests; k++) {
            free(r->tests[k].name);
            free(r->tests[k].status);
            free(r->tests[k].message);
            free(r->tests[k].log);
            free(r->tests[k].console);
            json_decref(r->tests[k].meta);
        }
        free(r->tests);
        free(r->path);
        free(r->chunk_error);
        free(r->error);
        strv_free(&r->registered);
        json_decref(r->registered_meta);
        free(r->running);
        free(files[i].abs);
        free(files[i].walked_rel);
    }
    free(res);
    free(files);
}

/* Opens --events (`-` is stdout); -1 with the message printed. */
static int open_events(const struct run_opts *ro)
{
    if (!ro->events)
        return 0;
    if (!strcmp(ro->events, "-"))
        g_events = stdout;
    else if (!(g_events = fopen(ro->events, "a"))) {
        warnx_p("cannot open events file %s: %s", ro->events,
                strerror(errno));
        return -1;
    }
    return 0;
}

static void close_events(void)
{
    if (g_events && g_events != stdout)
        fclose(g_events);
}

/* The results array of the run, one per file with its shown path; each file is
 * announced (file_discovered, with the fixtures it refers to). */
static struct file_result *announce_files(const struct found *files, size_t n)
{
    struct file_result *res = xcalloc(n ? n : 1, sizeof *res);
    for (size_t i = 0; i < n; i++) {
        char *shown = run_display_path(files[i].abs);
        res[i].path = utf8_escape(shown); /* a file name may hold any bytes */
        free(shown);
        struct strv refs = {0};
        fixture_refs_in_file(files[i].abs, &refs);
        json_t *jr = json_array();
        for (size_t k = 0; k < refs.n; k++)
            json_array_append_new(jr, json_text(refs.v[k]));
        strv_free(&refs);
        run_event("file_discovered", json_pack("{s:s, s:o}", "path", res[i].path, "fixture_refs", jr));
    }
    return res;
}

struct totals {
    int passed, failed, skipped;
    int interrupted, not_started; /* files stopped by an interruption / never started */
};

/* The line before the last one of an interrupted run (the last keeps its format). */
static void interrupted_line(FILE *out, const struct totals *t)
{
    fprintf(out, "interrupted by %s: %d file%s stopped, %d not started\n",
            g_interrupted == SIGHUP ? "SIGHUP" : g_interrupted == SIGTERM ? "SIGTERM" : "SIGINT",
            t->interrupted, t->interrupted == 1 ? "" : "s", t->not_started);
}

/* Prints the summary (human or JSON) and writes --junit; returns the exit code. */
static int summarize(const struct run_opts *ro, FILE *report, struct file_result *res,
                     size_t n, int64_t dur, struct totals *tot)
{
    struct totals t = {0};
    for (size_t i = 0; i < n; i++) {
        t.passed += res[i].passed;
        t.failed += res[i].failed;
        t.skipped += res[i].skipped;
        t.interrupted += res[i].status == FS_INTERRUPTED;
        t.not_started += g_interrupted && res[i].status == FS_SKIPPED && res[i].error &&
                         !strcmp(res[i].error, "interrupted");
    }
    int passed = t.passed, failed = t.failed, skipped = t.skipped;
    int exit_code = g_interrupted ? 128 + (g_interrupted == SIGHUP ? SIGHUP : SIGINT)
                    : failed      ? 1
                                  : 0;
    if (ro->json) {
        report_summary_json(report, n, passed, failed, skipped, t.interrupted, dur, exit_code);
    } else {
        if (n == 0 && ro->filters.n)
            no_filter_match(report, ro);
        fprintf(report, "%zu file%s in %.2fs\n", n, n == 1 ? "" : "s", (double)dur / 1e9);
        if (g_interrupted)
            interrupted_line(report, &t);
        fprintf(report, "%d passed, %d failed, %d skipped\n", passed, failed, skipped);
    }
    if (ro->junit && report_junit(ro->junit, res, n) < 0) {
        warnx_p("cannot write %s: %s", ro->junit, strerror(errno));
        if (!exit_code)
            exit_code = 2;
    }
    *tot = t;
    return exit_code;
}

/* Loads the config, checks the host, builds stale profiles; NULL on failure (the
 * message printed, exit 2). */
static struct config *run_setup(struct run_opts *ro)
{
    char err[4096];
    struct config *cfg = config_load(ro->config_path, err, sizeof err);
    if (!cfg) {
        warnx_p("%s", err);
        return NULL;
    }
    if (ro->jobs <= 0)
        ro->jobs = cfg->jobs > 0 ? cfg->jobs : (int)sysconf(_SC_NPROCESSORS_ONLN);
    if (ro->jobs <= 0)
        ro->jobs = 1;
    if (run_preflight(ro, cfg, 1) < 0) {
        config_free(cfg);
        return NULL;
    }
    if (open_events(ro) < 0) {
        config_free(cfg);
        return NULL;
    }
    cache_enforce_limit(cfg, on_evicted, NULL);
    scratch_sweep_stale("provium"); /* what runs killed outright left (kill -9, OOM) */
    if (!ro->no_build && profiles_build_all(cfg, build_event, NULL) < 0) {
        close_events();
        free(ro->agent_bin);
        config_free(cfg);
        return NULL;
    }
    return cfg;
}

int runner_main(struct run_opts *ro)
{
    struct config *cfg = run_setup(ro);
    if (!cfg)
        return 2;
    FILE *report = (ro->events && !strcmp(ro->events, "-")) ? stderr : stdout;
    struct found *files = NULL;
    size_t n;
    struct rerun_set last = {0};
    char *rerun_state = rerun_state_path(cfg->path ? cfg->path : cfg->dir);
    int rc = run_collect_files(ro, cfg, rerun_state, &last, &files, &n, report);
    if (rc >= 0) {
        close_events();
        free(ro->agent_bin);
        rerun_set_free(&last);
        free(rerun_state);
        free(files);
        config_free(cfg);
        return rc;
    }
    g_pool = pool_default(ro->pool_memory, ro->pool_cpus, ro->cpu_overcommit);
    run_event("run_started",
             json_pack("{s:s, s:i, s:s, s:i, s:o, s:i}", "version", PROVIUM_VERSION, "protocol",
                       WIRE_PROTOCOL_VERSION, "accel", ro->accel, "jobs", ro->jobs, "pool",
                       pool_amount_json(g_pool.total), "files", (int)n));
    struct file_result *res = announce_files(files, n);

    struct sigaction sa = {0};
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL); /* a closed terminal or SSH session: the same clean end */
    signal(SIGPIPE, SIG_IGN);

    int64_t t0 = now_ns();
    run_files(ro, cfg, files, n, res, report);
    cache_remove_orphans(cfg, NULL); /* what workers killed mid-snapshot left (Ctrl-C, timeouts) */
    int64_t dur = now_ns() - t0;

    struct totals tot;
    int exit_code = summarize(ro, report, res, n, dur, &tot);
    if (!g_interrupted && run_rerun_record(rerun_state, files, res, n) < 0)
        warnx_p("warning: cannot write %s: %s", rerun_state, strerror(errno));
    rerun_set_free(&last);
    free(rerun_state);
    run_event("run_completed",
             json_pack("{s:i, s:i, s:i, s:i, s:i, s:I, s:i}", "passed", tot.passed, "failed",
                       tot.failed, "skipped", tot.skipped, "interrupted", tot.interrupted,
                       "files", (int)n, "duration_ns", (json_int_t)dur, "exit_code",
                       exit_code));
    close_events();
    free_results(res, files, n);
    free(ro->agent_bin);
    config_free(cfg);
    return exit_code;
}
