/* watch.c - `--watch`: after a run, keep watching and re-run what a change affects.
 *
 * One inotify descriptor watches every directory below the roots (or the PATHS), the
 * config file's directory and the directory of every file a test depends on (helpers,
 * fixtures, push_file/depends_on_file host files: fixture_file_deps, the fixture key's
 * own scanner). A burst of events (an editor's save is several) is gathered until 200 ms
 * pass without one; then the changed paths select the files to run (since.c's selection,
 * which the runner applies after discovery), plus the test files that depended on a
 * changed path before the change (a helper deleted or renamed). A change that affects no
 * test file (an editor's swap file, the fixture cache, a report written into the tree)
 * runs nothing. A provium.toml change runs everything; runner_main re-reads the config on
 * every run, so a broken one prints its error (exit 2) and the watch goes on.
 *
 * Signals: the first run and each re-run keep the runner's own handling (a Ctrl-C there
 * interrupts the run, which ends the watch with 130). Between runs SIGINT, SIGTERM and
 * SIGHUP are blocked and read from a signalfd next to the inotify descriptor, and end the
 * watch with the last run's exit code. Workers are forked with the mask restored. */
#include "watch.h"

#include "fixture/fixture.h"
#include "discover.h"
#include "since.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>

#define WATCH_QUIET_MS 200
#define WATCH_MASK                                                                          \
    (IN_CLOSE_WRITE | IN_MODIFY | IN_ATTRIB | IN_CREATE | IN_DELETE | IN_MOVED_FROM |       \
     IN_MOVED_TO | IN_ONLYDIR | IN_EXCL_UNLINK)

/* The test files of the last look and, for each, what it depends on (canonical paths). */
struct dep_map {
    struct strv tests;
    struct strv *deps;
};

struct watch {
    int ifd, sfd;
    int *wd;            /* watch descriptors ... */
    struct strv dirs;   /* ... and their canonical directories, same order */
    char *config;       /* canonical provium.toml (it may not exist yet) */
    char *skip;         /* canonical fixture cache directory: never watched */
    struct dep_map map;
    int full_warned;    /* the inotify watch limit was reported */
};

static int strv_has(const struct strv *s, const char *v)
{
    for (size_t i = 0; i < s->n; i++)
        if (!strcmp(s->v[i], v))
            return 1;
    return 0;
}

static void push_unique(struct strv *s, const char *v)
{
    if (!strv_has(s, v))
        strv_push(s, v);
}

static void map_free(struct dep_map *m)
{
    for (size_t i = 0; i < m->tests.n; i++)
        strv_free(&m->deps[i]);
    free(m->deps);
    strv_free(&m->tests);
    m->deps = NULL;
}

/* ---- watched directories ---- */

static void watch_dir(struct watch *w, const char *dir)
{
    int wd = inotify_add_watch(w->ifd, dir, WATCH_MASK);
    if (wd < 0) {
        if (errno == ENOSPC && !w->full_warned++)
            warnx_p("warning: --watch: inotify watch limit reached (fs.inotify.max_user_watches); "
                    "changes below %s are not seen", dir);
        return;
    }
    for (size_t i = 0; i < w->dirs.n; i++)
        if (w->wd[i] == wd)
            return;
    w->wd = xrealloc(w->wd, (w->dirs.n + 1) * sizeof *w->wd);
    w->wd[w->dirs.n] = wd;
    strv_push(&w->dirs, dir);
}

/* dir (canonical) and every directory below it but hidden ones and the cache. */
static void watch_tree(struct watch *w, const char *dir)
{
    if (w->skip && !strcmp(dir, w->skip))
        return;
    watch_dir(w, dir);
    struct strv subs = {0};
    DIR *d = opendir(dir);
    struct dirent *de;
    while (d && (de = readdir(d))) {
        if (de->d_name[0] == '.')
            continue;
        char *p = path_join(dir, de->d_name);
        struct stat st;
        if (lstat(p, &st) == 0 && S_ISDIR(st.st_mode))
            strv_push(&subs, p);
        free(p);
    }
    if (d)
        closedir(d);
    for (size_t i = 0; i < subs.n; i++)
        watch_tree(w, subs.v[i]);
    strv_free(&subs);
}

static void watch_dir_of(struct watch *w, const char *path)
{
    char *dir = path_dirname(path);
    watch_dir(w, dir);
    free(dir);
}

/* ---- what the tests depend on ---- */

static void map_add(struct dep_map *m, const struct config *cfg, const char *test)
{
    char *c = since_canon(test);
    if (!strv_has(&m->tests, c)) {
        m->deps = xrealloc(m->deps, (m->tests.n + 1) * sizeof *m->deps);
        struct strv *d = &m->deps[m->tests.n], raw = {0};
        memset(d, 0, sizeof *d);
        strv_push(&m->tests, c);
        fixture_file_deps(cfg, test, &raw);
        for (size_t i = 0; i < raw.n; i++) {
            char *dc = since_canon(raw.v[i]);
            push_unique(d, dc);
            free(dc);
        }
        strv_free(&raw);
    }
    free(c);
}

/* The test files of PATHS (else the roots), each with its dependencies; watches their
 * directories. */
static void map_build(struct watch *w, const struct run_opts *ro, const struct config *cfg)
{
    map_free(&w->map);
    size_t n = ro->paths.n ? ro->paths.n : cfg->n_roots;
    for (size_t i = 0; i < n; i++) {
        const char *p = ro->paths.n ? ro->paths.v[i] : cfg->roots[i];
        char *c = since_canon(p);
        struct stat st;
        struct strv found = {0};
        if (stat(c, &st) == 0 && S_ISDIR(st.st_mode)) {
            watch_tree(w, c);
            walk_files_with_suffix(c, ".test.lua", &found);
        } else {
            watch_dir_of(w, c);
            strv_push(&found, c);
        }
        for (size_t k = 0; k < found.n; k++)
            if (file_exists(found.v[k]))
                map_add(&w->map, cfg, found.v[k]);
        strv_free(&found);
        free(c);
    }
    for (size_t i = 0; i < w->map.tests.n; i++)
        for (size_t k = 0; k < w->map.deps[i].n; k++)
            watch_dir_of(w, w->map.deps[i].v[k]);
}

/* Re-reads the config (quietly: the run prints its errors) and refreshes the watches and
 * the map; with a broken config only its directory is watched, the old map kept. */
static void watch_refresh(struct watch *w, const struct run_opts *ro)
{
    char err[4096];
    const char *want = ro->config_path ? ro->config_path : "provium.toml";
    free(w->config);
    w->config = since_canon(want);
    watch_dir_of(w, w->config);
    struct config *cfg = config_load(ro->config_path, err, sizeof err);
    if (!cfg)
        return;
    free(w->skip);
    w->skip = cfg->cache_dir ? since_canon(cfg->cache_dir) : NULL;
    map_build(w, ro, cfg);
    config_free(cfg);
}

/* ---- events ---- */

static const char *wd_dir(const struct watch *w, int wd)
{
    for (size_t i = 0; i < w->dirs.n; i++)
        if (w->wd[i] == wd)
            return w->dirs.v[i];
    return NULL;
}

static void forget_wd(struct watch *w, int wd)
{
    for (size_t i = 0; i < w->dirs.n; i++)
        if (w->wd[i] == wd) {
            free(w->dirs.v[i]);
            w->dirs.v[i] = w->dirs.v[w->dirs.n - 1];
            w->wd[i] = w->wd[w->dirs.n - 1];
            w->dirs.v[--w->dirs.n] = NULL;
            return;
        }
}

/* One inotify event into the changed set; a new directory is watched and its files
 * count as changed. */
static void take_event(struct watch *w, const struct inotify_event *ev, struct strv *changed,
                       int *all)
{
    if (ev->mask & IN_Q_OVERFLOW) {
        *all = 1;
        return;
    }
    if (ev->mask & IN_IGNORED) {
        forget_wd(w, ev->wd);
        return;
    }
    const char *dir = wd_dir(w, ev->wd);
    if (!dir || !ev->len)
        return;
    char *path = path_join(dir, ev->name);
    push_unique(changed, path);
    if ((ev->mask & IN_ISDIR) && (ev->mask & (IN_CREATE | IN_MOVED_TO))) {
        struct strv inside = {0};
        watch_tree(w, path);
        walk_files_with_suffix(path, "", &inside);
        for (size_t i = 0; i < inside.n; i++)
            push_unique(changed, inside.v[i]);
        strv_free(&inside);
    }
    free(path);
}

static void read_events(struct watch *w, struct strv *changed, int *all)
{
    char buf[16384] __attribute__((aligned(__alignof__(struct inotify_event))));
    ssize_t n;
    while ((n = read(w->ifd, buf, sizeof buf)) > 0) {
        for (char *p = buf; p < buf + n;) {
            const struct inotify_event *ev = (const struct inotify_event *)p;
            take_event(w, ev, changed, all);
            p += sizeof *ev + ev->len;
        }
    }
}

/* Waits for a burst of changes and gathers it until WATCH_QUIET_MS pass without an
 * event. Returns 1 when a signal ended the wait instead, 0 after a burst. */
static int wait_burst(struct watch *w, struct strv *changed, int *all)
{
    int timeout = -1;
    for (;;) {
        struct pollfd p[2] = {{w->ifd, POLLIN, 0}, {w->sfd, POLLIN, 0}};
        int r = poll(p, 2, timeout);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            warnx_p("--watch: poll: %s", strerror(errno));
            return 1;
        }
        if (p[1].revents) {
            struct signalfd_siginfo si;
            if (read(w->sfd, &si, sizeof si) < 0)
                continue;
            return 1;
        }
        if (r == 0)
            return 0;
        read_events(w, changed, all);
        timeout = WATCH_QUIET_MS;
    }
}

/* ---- selection ---- */

/* Adds to `changed` the test files that depended on a changed path before the burst (a
 * helper renamed away), refreshes the watches and the map, and tells whether any test
 * file is affected (a changed config: all of them). `shown` gets the changed paths that
 * matter: the config, test files, their dependencies. */
static int select_burst(struct watch *w, const struct run_opts *ro, struct strv *changed,
                        int *all, struct strv *shown)
{
    struct strv before = {0};
    for (size_t i = 0; i < w->map.tests.n; i++)
        for (size_t k = 0; k < w->map.deps[i].n; k++)
            if (strv_has(changed, w->map.deps[i].v[k])) {
                push_unique(shown, w->map.deps[i].v[k]);
                push_unique(&before, w->map.tests.v[i]);
            }
    watch_refresh(w, ro);
    if (strv_has(changed, w->config)) {
        *all = 1;
        push_unique(shown, w->config);
    }
    for (size_t i = 0; i < w->map.tests.n; i++) {
        if (strv_has(changed, w->map.tests.v[i]))
            push_unique(shown, w->map.tests.v[i]);
        for (size_t k = 0; k < w->map.deps[i].n; k++)
            if (strv_has(changed, w->map.deps[i].v[k]))
                push_unique(shown, w->map.deps[i].v[k]);
    }
    for (size_t i = 0; i < before.n; i++)
        push_unique(changed, before.v[i]);
    strv_free(&before);
    return *all || shown->n > 0;
}

/* "provium: changed: a, b and 3 more" */
static void say_changed(const struct strv *shown, int all)
{
    struct buf b = {0};
    for (size_t i = 0; i < shown->n && i < 3; i++) {
        char *rel = run_display_path(shown->v[i]);
        char *esc = utf8_escape(rel);
        buf_printf(&b, "%s%s", i ? ", " : "", esc);
        free(esc);
        free(rel);
    }
    if (shown->n > 3)
        buf_printf(&b, " and %zu more", shown->n - 3);
    warnx_p("changed: %s%s", shown->n ? buf_cstr(&b) : "(events lost)",
            all ? "; running every file" : "");
    buf_free(&b);
}

/* ---- the loop ---- */

static void watch_free(struct watch *w)
{
    if (w->ifd >= 0)
        close(w->ifd);
    if (w->sfd >= 0)
        close(w->sfd);
    free(w->wd);
    strv_free(&w->dirs);
    free(w->config);
    free(w->skip);
    map_free(&w->map);
}

/* Waits for the next burst that affects a test file and points ro at it. Returns 1 when
 * a signal ended the watch. */
static int next_change(struct watch *w, struct run_opts *ro)
{
    for (;;) {
        struct strv changed = {0}, shown = {0};
        int all = 0;
        if (wait_burst(w, &changed, &all)) {
            strv_free(&changed);
            return 1;
        }
        if (select_burst(w, ro, &changed, &all, &shown)) {
            say_changed(&shown, all);
            strv_free(&shown);
            strv_free(&ro->changed);
            ro->changed = changed;
            ro->select_changed = !all;
            return 0;
        }
        strv_free(&changed);
        strv_free(&shown);
    }
}

/* One run. runner_main frees ro->agent_bin but leaves the pointer, which the next run
 * would free again when its setup fails before preflight (a broken provium.toml). */
static int run_once(struct run_opts *ro)
{
    int rc = runner_main(ro);
    ro->agent_bin = NULL;
    fflush(stdout); /* the report before our lines on stderr */
    return rc;
}

int watch_main(struct run_opts *ro)
{
    struct watch w = {.ifd = -1, .sfd = -1};
    sigset_t stop, old;
    sigemptyset(&stop);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGTERM);
    sigaddset(&stop, SIGHUP);
    int jobs = ro->jobs, rc;
    w.ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (w.ifd < 0) {
        warnx_p("--watch: inotify: %s", strerror(errno));
        rc = 2;
        goto done;
    }
    watch_refresh(&w, ro); /* before the first run: its changes are seen too */
    rc = run_once(ro);
    sigprocmask(SIG_BLOCK, &stop, &old);
    w.sfd = signalfd(-1, &stop, SFD_CLOEXEC);
    ro->rerun_failed = 0; /* later runs select by change */
    ro->since = NULL;
    while (rc < 128 && w.sfd >= 0) {
        warnx_p("watching for changes (Ctrl-C to stop)");
        if (next_change(&w, ro))
            break;
        ro->jobs = jobs;
        sigprocmask(SIG_SETMASK, &old, NULL);
        rc = run_once(ro);
        sigprocmask(SIG_BLOCK, &stop, NULL);
    }
    if (w.sfd < 0)
        warnx_p("--watch: signalfd: %s", strerror(errno));
    sigprocmask(SIG_SETMASK, &old, NULL);
done:
    watch_free(&w);
    return rc;
}
