/* build.c - dynamic profiles: run a profile's `build` command before anything boots.
 *
 * The command runs with `sh -c` from provium's working directory (a discovered
 * profile: its own directory), inheriting the environment plus PROVIUM_OUT and
 * PROVIUM_PROFILE. Its output goes to our stderr so stdout stays clean for --json and
 * --events -. `{out}` is created first and never wiped: it belongs to the builder.
 * There is no staleness tracking; the builder decides what to redo. */
#include "build.h"

#include "util/util.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

int profile_build(const struct config *cfg, const struct profile *p, build_event_fn ev, void *ud)
{
    (void)cfg;
    if (!p->build)
        return 0;
    if (mkdir_p(p->out, 0755) < 0) {
        warnx_p("profile `%s`: cannot create build output directory %s: %s",
                p->name, p->out, strerror(errno));
        return -1;
    }
    warnx_p("building profile `%s` \u2192 %s", p->name, p->out);
    if (ev)
        ev(ud, p, 0, 0, 0, 0);
    int64_t t0 = now_ns();
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        warnx_p("profile `%s`: fork: %s", p->name, strerror(errno));
        return -1;
    }
    if (pid == 0) {
        dup2(2, 1); /* builder output goes to stderr */
        setenv("PROVIUM_OUT", p->out, 1);
        setenv("PROVIUM_PROFILE", p->name, 1);
        if (strcmp(p->dir, cfg->dir) != 0 && chdir(p->dir) < 0)
            _exit(126);
        signal(SIGPIPE, SIG_DFL);
        execl("/bin/sh", "sh", "-c", p->build, (char *)NULL);
        _exit(127);
    }
    int status;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    int64_t dur = now_ns() - t0;
    int ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
    if (ev)
        ev(ud, p, 1, dur, ok, status);
    if (ok)
        return 0;
    if (WIFSIGNALED(status))
        warnx_p("profile `%s`: build command failed (killed by signal %d)",
                p->name, WTERMSIG(status));
    else
        warnx_p("profile `%s`: build command failed (exit code %d)", p->name,
                WEXITSTATUS(status));
    return -1;
}

static int cmp_profile(const void *a, const void *b)
{
    return strcmp((*(const struct profile *const *)a)->name,
                  (*(const struct profile *const *)b)->name);
}

int profiles_build_all(const struct config *cfg, build_event_fn ev, void *ud)
{
    const struct profile **ps = xcalloc(cfg->n_profiles + 1, sizeof *ps);
    size_t n = 0;
    for (size_t i = 0; i < cfg->n_profiles; i++)
        if (cfg->profiles[i].build)
            ps[n++] = &cfg->profiles[i];
    qsort(ps, n, sizeof *ps, cmp_profile);
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++)
        rc = profile_build(cfg, ps[i], ev, ud);
    free(ps);
    return rc;
}
