/* runner.c - the parent of a test run: preflight, discovery, scheduling, results.
 *
 * It forks one worker per test file (at most --jobs at once), reads their JSON event
 * lines, enforces the per-file timeout, survives worker crashes, and prints the report.
 * QEMU processes belong to workers and die with them (PR_SET_PDEATHSIG); each
 * worker's private scratch directory is created and removed here. */
#include "run.h"
#include "pool.h"
#include "rerun.h"

#include "fixture/fixture.h"
#include "run/build.h"
#include "vm/vm.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

const char *file_status_name(enum file_status s)
{
    static const char *n[] = {"passed", "failed", "timed_out", "crashed", "skipped"};
    return n[s];
}

/* ---- discovery ---- */

/* Path shown in reports: relative to cwd when below it. */
static char *display_path(const char *abs)
{
    char *cwd = path_resolve(NULL, ".");
    size_t n = strlen(cwd);
    char *r;
    if (!strncmp(abs, cwd, n) && abs[n] == '/')
        r = xstrdup(abs + n + 1);
    else
        r = xstrdup(abs);
    free(cwd);
    return r;
}

struct found {
    char *abs;
    char *walked_rel; /* relative to the walked directory, for --filter */
    const struct rerun_entry *rerun; /* --rerun-failed: what failed last time */
};

/* Walks PATHS (else the roots) into *out; *walked counts the files before --filter. */
static int discover(const struct run_opts *ro, const struct config *cfg, struct found **out,
                    size_t *n_out, size_t *walked)
{
    struct strv dirs = {0}, files = {0};
    if (ro->paths.n) {
        for (size_t i = 0; i < ro->paths.n; i++) {
            struct stat st;
            char *abs = path_resolve(NULL, ro->paths.v[i]);
            if (stat(abs, &st) < 0) {
                warnx_p("%s: %s", ro->paths.v[i], strerror(errno));
                free(abs);
                strv_free(&dirs);
                strv_free(&files);
                return -1;
            }
            if (S_ISDIR(st.st_mode))
                strv_push(&dirs, abs);
            else
                strv_push(&files, abs);
            free(abs);
        }
    } else {
        for (size_t i = 0; i < cfg->n_roots; i++)
            strv_push(&dirs, cfg->roots[i]);
    }
    struct found *f = NULL;
    size_t n = 0;
    for (size_t i = 0; i < files.n; i++) {
        f = xrealloc(f, (n + 1) * sizeof *f);
        f[n].rerun = NULL;
        f[n].abs = xstrdup(files.v[i]);
        const char *slash = strrchr(files.v[i], '/');
        f[n].walked_rel = xstrdup(slash ? slash + 1 : files.v[i]);
        n++;
    }
    for (size_t i = 0; i < dirs.n; i++) {
        struct strv w = {0};
        walk_files_with_suffix(dirs.v[i], ".test.lua", &w);
        size_t dl = strlen(dirs.v[i]);
        for (size_t j = 0; j < w.n; j++) {
            int dup = 0;
            for (size_t k = 0; k < n; k++)
                dup |= !strcmp(f[k].abs, w.v[j]);
            if (dup)
                continue;
            f = xrealloc(f, (n + 1) * sizeof *f);
            f[n].rerun = NULL;
            f[n].abs = xstrdup(w.v[j]);
            f[n].walked_rel = xstrdup(w.v[j] + dl + (w.v[j][dl] == '/'));
            n++;
        }
        strv_free(&w);
    }
    strv_free(&dirs);
    strv_free(&files);
    *walked = n;
    /* --filter: keep files whose walked-relative path contains any SUBSTR */
    if (ro->filters.n) {
        size_t k = 0;
        for (size_t i = 0; i < n; i++) {
            int keep = 0;
            for (size_t j = 0; j < ro->filters.n; j++)
                keep |= strstr(f[i].walked_rel, ro->filters.v[j]) != NULL;
            if (keep)
                f[k++] = f[i];
            else {
                free(f[i].abs);
                free(f[i].walked_rel);
            }
        }
        n = k;
    }
    *out = f;
    *n_out = n;
    return 0;
}

/* ---- --rerun-failed ---- */

/* The files recorded last time that still exist; returns how many. */
static size_t rerun_files(const struct rerun_set *last, struct found **out, size_t *n_out)
{
    struct found *f = xcalloc(last->n ? last->n : 1, sizeof *f);
    size_t n = 0;
    for (size_t i = 0; i < last->n; i++) {
        if (!file_exists(last->v[i].path))
            continue;
        f[n].abs = xstrdup(last->v[i].path);
        const char *slash = strrchr(last->v[i].path, '/');
        f[n].walked_rel = xstrdup(slash ? slash + 1 : last->v[i].path);
        f[n].rerun = &last->v[i];
        n++;
    }
    *out = f;
    *n_out = n;
    return n;
}

/* Rewrites the state with this run's failures: failed tests by name, or the whole file
 * when it failed outside any test. */
static int rerun_record(const char *state, const struct found *files,
                        const struct file_result *res, size_t n)
{
    struct rerun_set now = {0};
    for (size_t i = 0; i < n; i++) {
        const struct file_result *r = &res[i];
        if (!r->failed)
            continue;
        struct rerun_entry *e = rerun_add(&now, files[i].abs);
        e->whole_file = r->chunk_error != NULL || r->registered.n == 0;
        for (size_t k = 0; k < r->n_tests && !e->whole_file; k++)
            if (r->tests[k].status && !strcmp(r->tests[k].status, "failed"))
                strv_push(&e->tests, r->tests[k].name);
        if (!e->tests.n)
            e->whole_file = 1;
    }
    int rc = rerun_save(state, &now);
    rerun_set_free(&now);
    return rc;
}

/* ---- preflight ---- */

int host_env_init(struct host_env *env, const struct config *cfg, const struct run_opts *ro,
                  const char *scratch)
{
    memset(env, 0, sizeof *env);
    env->cfg = cfg;
    snprintf(env->accel, sizeof env->accel, "%s", ro->accel);
    env->agent_bin = ro->agent_bin;
    env->tsc_khz = ro->tsc_khz;
    env->scratch = scratch ? xstrdup(scratch) : make_scratch_dir("provium");
    if (!env->scratch) {
        warnx_p("cannot create a scratch directory: %s", strerror(errno));
        return -1;
    }
    return 0;
}

/* Finds cfg->qemu (a path, or a name looked up in $PATH); 0 when it is executable. */
static int qemu_present(const struct config *cfg)
{
    char *q = strchr(cfg->qemu, '/') ? xstrdup(cfg->qemu) : NULL;
    if (!q) {
        const char *path = getenv("PATH");
        char *dup = xstrdup(path ? path : "/usr/bin:/bin");
        for (char *s = strtok(dup, ":"); s && !q; s = strtok(NULL, ":")) {
            char *c = path_join(s, cfg->qemu);
            if (access(c, X_OK) == 0)
                q = c;
            else
                free(c);
        }
        free(dup);
    }
    int ok = q && access(q, X_OK) == 0;
    free(q);
    return ok ? 0 : -1;
}

int run_preflight(struct run_opts *ro, const struct config *cfg, int need_agent)
{
    char err[4096], reason[256] = "";
    const char *policy = ro->accel_flag ? ro->accel_flag : cfg->accel;
    if (strcmp(policy, "auto") && strcmp(policy, "kvm") && strcmp(policy, "tcg")) {
        warnx_p("--accel must be kvm, tcg or auto");
        return -1;
    }
    if (!ro->no_preflight) {
        if (accel_resolve(policy, ro->accel, reason, sizeof reason, err, sizeof err) < 0) {
            warnx_p("%s", err);
            return -1;
        }
        if (reason[0] && !ro->quiet)
            warnx_p("KVM not usable (%s); using TCG — VMs will be slow",
                    reason);
        if (qemu_present(cfg) < 0) {
            warnx_p("QEMU not found (%s); install it with `apt-get install "
                    "qemu-system-x86` or set $PROVIUM_QEMU",
                    cfg->qemu);
            return -1;
        }
        ro->agent_bin = find_agent_binary();
        if (need_agent && !ro->agent_bin && !getenv("PROVIUM_OVERLAY")) {
            warnx_p("the guest agent (provium-agent) was not found next to "
                    "the provium binary; build it (`meson compile -C build`) or set "
                    "$PROVIUM_AGENT");
            return -1;
        }
    } else {
        accel_resolve(policy, ro->accel, reason, sizeof reason, err, sizeof err);
        if (!ro->accel[0])
            strcpy(ro->accel, "tcg");
        ro->agent_bin = find_agent_binary();
    }
    if (!strcmp(ro->accel, "tcg"))
        ro->tsc_khz = host_tsc_khz();
    return 0;
}

/* ---- workers ---- */

struct job {
    struct found *file;
    struct file_result *res;
    pid_t pid;
    int pidfd;
    int evfd;
    int replyfd;             /* answers to the worker's pool requests */
    struct pool_amount held; /* what this file holds in the pool */
    int waiting;             /* a pool request is queued ... */
    struct pool_amount want; /* ... for this much */
    int64_t wait_since;
    int64_t pool_wait_ns;    /* time spent in pool waits: not charged to the file timeout */
    int want_claim;          /* the queued request is a provium:claim */
    int claimed;             /* the file's VMs draw from its claim ... */
    struct pool_amount claim, claim_used; /* ... of this much, this much in use */
    char *scratch;
    int64_t start_ns;
    struct buf line;
    int timed_out;
    int running;
};

static volatile sig_atomic_t g_interrupted;
static void on_signal(int sig)
{
    (void)sig;
    g_interrupted = 1;
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

static void event_kv(const char *kind, json_t *payload)
{
    json_object_set_new(payload, "kind", json_string(kind));
    write_event(payload);
    json_decref(payload);
}

static void on_evicted(void *ud, const char *key, uint64_t bytes)
{
    (void)ud;
    event_kv("fixture_evicted", json_pack("{s:s, s:n, s:s, s:I}", "key", key, "fixture", "reason",
                                          "lru", "bytes", (json_int_t)bytes));
}

static void build_event(void *ud, const struct profile *p, int phase, int64_t dur, int ok,
                        int status)
{
    (void)ud;
    if (phase == 0) {
        event_kv("build_started", json_pack("{s:s, s:s, s:s}", "profile", p->name, "out", p->out,
                                            "command", p->build));
        return;
    }
    json_t *o = json_pack("{s:s, s:s, s:I, s:b}", "profile", p->name, "out", p->out,
                          "duration_ns", (json_int_t)dur, "ok", ok);
    if (WIFSIGNALED(status))
        json_object_set_new(o, "signal", json_integer(WTERMSIG(status)));
    else
        json_object_set_new(o, "exit_code", json_integer(WEXITSTATUS(status)));
    event_kv("build_done", o);
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

/* ---- the pool ---- */

static struct pool g_pool;
static struct job *g_jobs;
static size_t g_njobs;

static json_t *amount_json(struct pool_amount a)
{
    return json_pack("{s:I, s:i}", "memory_bytes", (json_int_t)a.memory, "cpus", a.cpus);
}

static void pool_answer(struct job *j, const char *error)
{
    char *line = error ? xasprintf("err %s\n", error) : xstrdup("ok\n");
    if (j->replyfd >= 0)
        write_all(j->replyfd, line, strlen(line));
    free(line);
}

/* Is any running file other than j not waiting on the pool (so it can still release)? */
static int others_progress(const struct job *j)
{
    for (size_t i = 0; i < g_njobs; i++)
        if (&g_jobs[i] != j && g_jobs[i].running && !g_jobs[i].waiting)
            return 1;
    return 0;
}

static char *deadlock_message(const struct job *j, struct pool_amount want)
{
    return xasprintf("the pool is deadlocked: this file holds %llu MiB and %d vCPU(s) and "
                     "needs %llu MiB and %d more, and no running file can release enough "
                     "(pool: %llu MiB, %d vCPUs); reserve the file's whole budget up front with "
                     "provium:claim{memory=, cpus=}, or raise --mem/--cpus",
                     (unsigned long long)(j->held.memory >> 20), j->held.cpus,
                     (unsigned long long)(want.memory >> 20), want.cpus,
                     (unsigned long long)(g_pool.total.memory >> 20), g_pool.total.cpus);
}

static void end_wait(struct job *j)
{
    j->waiting = 0;
    j->pool_wait_ns += now_ns() - j->wait_since;
}

/* The pool granted `a` to j: as a VM's share, or as its claim. */
static void granted(struct job *j, struct pool_amount a, int is_claim)
{
    j->held.memory += a.memory;
    j->held.cpus += a.cpus;
    if (is_claim) {
        j->claimed = 1;
        j->claim = a;
        event_kv("claim_acquired",
                 json_pack("{s:s, s:o}", "path", j->res->path, "amount", amount_json(a)));
    }
    pool_answer(j, NULL);
}

/* Serves queued requests in arrival order; then, if every running file is waiting,
 * nothing can ever be released: the newest waiter is refused. */
static void pool_serve_waiters(void)
{
    for (;;) {
        struct job *oldest = NULL, *newest = NULL;
        for (size_t i = 0; i < g_njobs; i++) {
            struct job *j = &g_jobs[i];
            if (!j->running || !j->waiting)
                continue;
            if (!oldest || j->wait_since < oldest->wait_since)
                oldest = j;
            if (!newest || j->wait_since > newest->wait_since)
                newest = j;
        }
        if (!oldest)
            return;
        if (pool_fits(&g_pool, oldest->want)) {
            pool_take(&g_pool, oldest->want);
            end_wait(oldest);
            granted(oldest, oldest->want, oldest->want_claim);
            continue;
        }
        if (others_progress(newest))
            return;
        char *m = deadlock_message(newest, newest->want);
        end_wait(newest);
        pool_answer(newest, m);
        free(m);
    }
}

static void pool_acquire_for(struct job *j, json_t *o, int is_claim)
{
    struct pool_amount want = {(uint64_t)json_integer_value(json_object_get(o, "memory_bytes")),
                               (int)json_integer_value(json_object_get(o, "cpus"))};
    if (is_claim && j->claimed) {
        pool_answer(j, "provium:claim was already called in this file");
        return;
    }
    if (!is_claim && j->claimed) {
        /* a claimed file draws only from its claim, at once or not at all */
        if (j->claim_used.memory + want.memory > j->claim.memory ||
            j->claim_used.cpus + want.cpus > j->claim.cpus) {
            char *m = xasprintf("%llu MiB and %d vCPU(s) exceed what is left of the claim "
                                "(%llu MiB, %d vCPUs)",
                                (unsigned long long)(want.memory >> 20), want.cpus,
                                (unsigned long long)((j->claim.memory - j->claim_used.memory) >> 20),
                                j->claim.cpus - j->claim_used.cpus);
            pool_answer(j, m);
            free(m);
            return;
        }
        j->claim_used.memory += want.memory;
        j->claim_used.cpus += want.cpus;
        pool_answer(j, NULL);
        return;
    }
    switch (pool_request(&g_pool, want, j->held, others_progress(j))) {
    case POOL_GRANT:
        granted(j, want, is_claim);
        break;
    case POOL_WAIT:
        j->waiting = 1;
        j->want = want;
        j->want_claim = is_claim;
        j->wait_since = now_ns();
        break;
    case POOL_TOO_BIG: {
        char *m = xasprintf("%llu MiB and %d vCPU(s) exceeds pool total (%llu MiB, %d vCPUs; "
                            "see --mem and --cpus)",
                            (unsigned long long)(want.memory >> 20), want.cpus,
                            (unsigned long long)(g_pool.total.memory >> 20), g_pool.total.cpus);
        pool_answer(j, m);
        free(m);
        break;
    }
    case POOL_DEADLOCK: {
        char *m = deadlock_message(j, want);
        pool_answer(j, m);
        free(m);
        break;
    }
    }
}

static void pool_release_for(struct job *j, json_t *o)
{
    struct pool_amount a = {(uint64_t)json_integer_value(json_object_get(o, "memory_bytes")),
                            (int)json_integer_value(json_object_get(o, "cpus"))};
    if (j->claimed) { /* back into the claim, which the file keeps */
        j->claim_used.memory -= a.memory < j->claim_used.memory ? a.memory : j->claim_used.memory;
        j->claim_used.cpus -= a.cpus < j->claim_used.cpus ? a.cpus : j->claim_used.cpus;
        return;
    }
    if (a.memory > j->held.memory)
        a.memory = j->held.memory;
    if (a.cpus > j->held.cpus)
        a.cpus = j->held.cpus;
    pool_give(&g_pool, a);
    j->held.memory -= a.memory;
    j->held.cpus -= a.cpus;
    pool_serve_waiters();
}

/* "some avg10" of /proc/pressure/<what>, or 0 when unavailable. */
static double psi_some_avg10(const char *what)
{
    char *path = xasprintf("/proc/pressure/%s", what);
    FILE *f = fopen(path, "r");
    free(path);
    double v = 0;
    if (f) {
        if (fscanf(f, "some avg10=%lf", &v) != 1)
            v = 0;
        fclose(f);
    }
    return v;
}

static void handle_event(struct job *j, json_t *o, const struct run_opts *ro)
{
    const char *kind = json_string_value(json_object_get(o, "kind"));
    if (!kind)
        return;
    struct file_result *r = j->res;
    if (!strcmp(kind, "pool_acquire") || !strcmp(kind, "pool_claim")) {
        pool_acquire_for(j, o, !strcmp(kind, "pool_claim"));
        return; /* internal */
    }
    if (!strcmp(kind, "pool_release")) {
        pool_release_for(j, o);
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
        struct run_opts mine = *ro;
        if (j->file->rerun && !j->file->rerun->whole_file)
            mine.only_tests = j->file->rerun->tests;
        int rc = worker_run(&mine, cfg, j->file->abs, j->res->path, j->scratch, p[1], q[0]);
        exit(rc); /* not _exit: stdio was flushed before fork, and leak checkers run */
    }
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
    event_kv("file_dispatched", json_pack("{s:s, s:i, s:o}", "path", j->res->path, "worker_pid",
                                          (int)pid, "reservation", amount_json(j->held)));
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
        event_kv("test_failed", o);
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
    if (g_interrupted)
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
    else if (crashed)
        r->status = FS_CRASHED;
    else
        r->status = r->failed ? FS_FAILED : FS_PASSED;
    if (r->status == FS_TIMED_OUT || r->status == FS_CRASHED || r->chunk_error) {
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
        event_kv("claim_released",
                 json_pack("{s:s, s:o}", "path", j->res->path, "amount", amount_json(j->claim)));
    j->claimed = 0;
    if (getenv("PROVIUM_KEEP_SCRATCH"))
        warnx_p("kept scratch of %s: %s", r->path, j->scratch);
    else
        rm_rf(j->scratch);
    free(j->scratch);
    j->scratch = NULL;
    buf_free(&j->line);
    j->running = 0;
    pool_serve_waiters();
    event_kv("file_completed",
             json_pack("{s:s, s:s, s:I, s:i, s:i, s:i, s:s?}", "path", r->path, "status",
                       file_status_name(r->status), "duration_ns", (json_int_t)r->duration_ns,
                       "passed", r->passed, "failed", r->failed, "skipped", r->skipped, "error",
                       r->error));
}

static void kill_job(struct job *j)
{
    if (j->running && j->pid > 0)
        kill(j->pid, SIGKILL);
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

static int run_files(const struct run_opts *ro, const struct config *cfg, struct found *files,
                     size_t n, struct file_result *res, FILE *report)
{
    struct progress pg = {0};
    pg.on = isatty(STDERR_FILENO) && !ro->no_progress && !ro->verbose && !ro->json &&
            !(ro->events && !strcmp(ro->events, "-"));
    struct job *jobs = xcalloc(n ? n : 1, sizeof *jobs);
    for (size_t i = 0; i < n; i++) {
        jobs[i].file = &files[i];
        jobs[i].res = &res[i];
        jobs[i].pidfd = jobs[i].evfd = jobs[i].replyfd = -1;
    }
    g_jobs = jobs;
    g_njobs = n;
    size_t next = 0, done = 0, running = 0;
    int stop_new = 0;
    const char *blocked = NULL; /* why the next file waits, reported once per reason */
    int64_t last_state = 0;
    while (done < n) {
        while (!stop_new && !g_interrupted && next < n) {
            struct pool_amount base = {POOL_FILE_MEMORY, 0};
            const char *why = running >= (size_t)ro->jobs          ? "jobs_limit"
                              : !pool_fits(&g_pool, base)            ? "pool_full"
                              : running && (psi_some_avg10("memory") > 10 ||
                                            psi_some_avg10("cpu") > 10) ? "psi_pressure"
                                                                       : NULL;
            if (why) {
                if (!blocked || strcmp(blocked, why)) {
                    event_kv("file_blocked",
                             json_pack("{s:s, s:s, s:o}", "path", res[next].path, "reason", why,
                                       "waiting_for", strcmp(why, "pool_full")
                                                          ? json_null()
                                                          : amount_json(base)));
                    blocked = why;
                }
                break;
            }
            blocked = NULL;
            if (start_job(&jobs[next], ro, cfg) < 0) {
                res[next].status = FS_CRASHED;
                res[next].error = xasprintf("cannot start worker: %s", strerror(errno));
                res[next].failed = 1;
                res[next].file_error = 1;
                done++;
            } else
                running++;
            next++;
        }
        if (stop_new && running == 0) {
            for (; next < n; next++, done++) {
                res[next].status = FS_SKIPPED;
                res[next].skipped = 1;
                res[next].error = xstrdup(g_interrupted ? "interrupted" : "skipped by --fail-fast");
            }
            break;
        }
        struct pollfd *pf = xcalloc(n * 2 + 1, sizeof *pf);
        nfds_t np = 0;
        for (size_t i = 0; i < n; i++) {
            if (!jobs[i].running)
                continue;
            pf[np].fd = jobs[i].evfd;
            pf[np].events = POLLIN;
            np++;
            pf[np].fd = jobs[i].pidfd;
            pf[np].events = POLLIN;
            np++;
        }
        progress_show(&pg, done, n, running, n - next, res, n);
        if (running && now_ns() - last_state >= 1000000000LL) {
            struct pool_amount avail = {g_pool.total.memory - g_pool.used.memory,
                                        g_pool.total.cpus - g_pool.used.cpus};
            event_kv("pool_state", json_pack("{s:o, s:o, s:i, s:i}", "used",
                                             amount_json(g_pool.used), "available",
                                             amount_json(avail), "running_files", (int)running,
                                             "queued_files", (int)(n - next)));
            last_state = now_ns();
        }
        poll(pf, np, 200);
        free(pf);
        if (g_interrupted) {
            for (size_t i = 0; i < n; i++)
                kill_job(&jobs[i]);
            stop_new = 1;
        }
        for (size_t i = 0; i < n; i++) {
            struct job *j = &jobs[i];
            if (!j->running)
                continue;
            drain_events(j, ro);
            int64_t waited = j->pool_wait_ns + (j->waiting ? now_ns() - j->wait_since : 0);
            if (ro->file_timeout > 0 && !j->timed_out &&
                now_ns() - j->start_ns - waited > (int64_t)(ro->file_timeout * 1e9)) {
                j->timed_out = 1;
                kill(j->pid, SIGKILL);
            }
            int status;
            pid_t r = waitpid(j->pid, &status, WNOHANG);
            if (r == j->pid) {
                drain_events(j, ro);
                finish_job(j, status);
                running--;
                done++;
                progress_clear(&pg);
                if (!ro->json)
                    report_file_human(report, j->res, ro->verbose, ro->quiet);
                else
                    report_file_json(report, j->res);
                fflush(report);
                if (ro->fail_fast && j->res->status != FS_PASSED)
                    stop_new = 1;
            }
        }
    }
    progress_clear(&pg);
    free(jobs);
    g_jobs = NULL;
    g_njobs = 0;
    return 0;
}

/* `no test files under <what>`: the PATHS as given, else the roots. */
static void no_test_files(const struct run_opts *ro, const struct config *cfg)
{
    struct buf b = {0};
    size_t k = ro->paths.n ? ro->paths.n : cfg->n_roots;
    for (size_t i = 0; i < k; i++) {
        char *shown = utf8_escape(ro->paths.n ? ro->paths.v[i] : cfg->roots[i]);
        buf_printf(&b, "%s%s", i ? " " : "", shown);
        free(shown);
    }
    warnx_p("no test files under %s", buf_cstr(&b));
    buf_free(&b);
}

/* The files this run will run: last run's failures (--rerun-failed), else discovery.
 * Returns -1 to go on, else the exit code of a run that ends here (message printed):
 * 0 with nothing recorded to rerun, 2 on an error or when no test file exists at all
 * (a wrong CI path must not pass). A --filter that keeps nothing goes on, with 0 files. */
static int collect_files(const struct run_opts *ro, const struct config *cfg,
                         const char *state, struct rerun_set *last, struct found **files,
                         size_t *n, FILE *report)
{
    char err[4096];
    size_t walked = 0;
    if (ro->rerun_failed) {
        if (rerun_load(state, last, err, sizeof err) < 0) {
            warnx_p("%s", err);
            return 2;
        }
        if (rerun_files(last, files, n) == 0) {
            fprintf(report, "provium: no failed tests recorded\n");
            return 0;
        }
        return -1;
    }
    if (discover(ro, cfg, files, n, &walked) < 0)
        return 2;
    if (walked == 0) {
        no_test_files(ro, cfg);
        return 2;
    }
    return -1;
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

int runner_main(struct run_opts *ro)
{
    char err[4096];
    struct config *cfg = config_load(ro->config_path, err, sizeof err);
    if (!cfg) {
        warnx_p("%s", err);
        return 2;
    }
    if (ro->jobs <= 0)
        ro->jobs = cfg->jobs > 0 ? cfg->jobs : (int)sysconf(_SC_NPROCESSORS_ONLN);
    if (ro->jobs <= 0)
        ro->jobs = 1;
    if (run_preflight(ro, cfg, 1) < 0) {
        config_free(cfg);
        return 2;
    }

    if (ro->events) {
        if (!strcmp(ro->events, "-"))
            g_events = stdout;
        else if (!(g_events = fopen(ro->events, "a"))) {
            warnx_p("cannot open events file %s: %s", ro->events,
                    strerror(errno));
            config_free(cfg);
            return 2;
        }
    }
    FILE *report = (ro->events && !strcmp(ro->events, "-")) ? stderr : stdout;

    cache_enforce_limit(cfg, on_evicted, NULL);
    if (!ro->no_build && profiles_build_all(cfg, build_event, NULL) < 0) {
        if (g_events && g_events != stdout)
            fclose(g_events);
        free(ro->agent_bin);
        config_free(cfg);
        return 2;
    }
    struct found *files = NULL;
    size_t n;
    struct rerun_set last = {0};
    char *rerun_state = rerun_state_path(cfg->path ? cfg->path : cfg->dir);
    int rc = collect_files(ro, cfg, rerun_state, &last, &files, &n, report);
    if (rc >= 0) {
        if (g_events && g_events != stdout)
            fclose(g_events);
        free(ro->agent_bin);
        rerun_set_free(&last);
        free(rerun_state);
        free(files);
        config_free(cfg);
        return rc;
    }
    g_pool = pool_default(ro->pool_memory, ro->pool_cpus, ro->cpu_overcommit);
    event_kv("run_started",
             json_pack("{s:s, s:i, s:s, s:i, s:o, s:i}", "version", PROVIUM_VERSION, "protocol",
                       WIRE_PROTOCOL_VERSION, "accel", ro->accel, "jobs", ro->jobs, "pool",
                       amount_json(g_pool.total), "files", (int)n));
    struct file_result *res = xcalloc(n ? n : 1, sizeof *res);
    for (size_t i = 0; i < n; i++) {
        char *shown = display_path(files[i].abs);
        res[i].path = utf8_escape(shown); /* a file name may hold any bytes */
        free(shown);
        struct strv refs = {0};
        fixture_refs_in_file(files[i].abs, &refs);
        json_t *jr = json_array();
        for (size_t k = 0; k < refs.n; k++)
            json_array_append_new(jr, json_text(refs.v[k]));
        strv_free(&refs);
        event_kv("file_discovered", json_pack("{s:s, s:o}", "path", res[i].path, "fixture_refs", jr));
    }

    struct sigaction sa = {0};
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    int64_t t0 = now_ns();
    run_files(ro, cfg, files, n, res, report);
    int64_t dur = now_ns() - t0;

    int passed = 0, failed = 0, skipped = 0;
    for (size_t i = 0; i < n; i++) {
        passed += res[i].passed;
        failed += res[i].failed;
        skipped += res[i].skipped;
    }
    int exit_code = g_interrupted ? 130 : failed ? 1 : 0;
    if (ro->json) {
        report_summary_json(report, n, passed, failed, skipped, dur, exit_code);
    } else {
        if (n == 0 && ro->filters.n)
            no_filter_match(report, ro);
        fprintf(report, "%zu file%s in %.2fs\n", n, n == 1 ? "" : "s", (double)dur / 1e9);
        fprintf(report, "%d passed, %d failed, %d skipped\n", passed, failed, skipped);
    }
    if (ro->junit && report_junit(ro->junit, res, n) < 0) {
        warnx_p("cannot write %s: %s", ro->junit, strerror(errno));
        if (!exit_code)
            exit_code = 2;
    }
    if (!g_interrupted && rerun_record(rerun_state, files, res, n) < 0)
        warnx_p("warning: cannot write %s: %s", rerun_state, strerror(errno));
    rerun_set_free(&last);
    free(rerun_state);
    event_kv("run_completed",
             json_pack("{s:i, s:i, s:i, s:i, s:I, s:i}", "passed", passed, "failed", failed,
                       "skipped", skipped, "files", (int)n, "duration_ns", (json_int_t)dur,
                       "exit_code", exit_code));
    if (g_events && g_events != stdout)
        fclose(g_events);
    free_results(res, files, n);
    free(ro->agent_bin);
    config_free(cfg);
    return exit_code;
}
