/* since.c - `--since REF` and the changed-file selection it shares with `--watch`.
 *
 * The changed set is made of canonical absolute paths: from git (`git diff --name-only`
 * against REF, which covers committed, staged and unstaged changes, plus the untracked
 * files git does not ignore) or from inotify. The spec's older form, `--since FILE`, is
 * kept: an argument that is no git ref but names a file selects the project's files
 * modified after it. A test file runs when it is in the set or
 * when one of the files it depends on is; those come from the fixture key's scanner
 * (fixture_file_deps: helpers it requires, push_file/depends_on_file host files, fixture
 * files, transitively), so a selection never disagrees with what invalidates a fixture. */
#include "since.h"

#include "fixture/fixture.h"
#include "runner_int.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

char *since_canon(const char *path)
{
    char *abs = path_resolve(NULL, path);
    char *real = realpath(abs, NULL);
    if (real) {
        free(abs);
        return real;
    }
    char *dir = path_dirname(abs);
    char *rdir = realpath(dir, NULL);
    char *r = rdir ? path_join(rdir, abs + strlen(dir) + (abs[strlen(dir)] == '/')) : xstrdup(abs);
    free(rdir);
    free(dir);
    free(abs);
    return r;
}

/* Runs `git -C dir ARGS...` with stdin and stderr on /dev/null and collects its stdout.
 * Returns its exit status (127: no git), or -1 when it could not start. */
static int git_out(const char *dir, const char *const *args, struct buf *out)
{
    struct strv argv = {0};
    strv_push(&argv, "git");
    strv_push(&argv, "-C");
    strv_push(&argv, dir);
    for (size_t i = 0; args[i]; i++)
        strv_push(&argv, args[i]);
    int pfd[2], status = -1;
    pid_t pid = -1;
    if (pipe2(pfd, O_CLOEXEC) < 0)
        goto done;
    pid = fork();
    if (pid == 0) {
        int nul = open("/dev/null", O_RDWR);
        dup2(nul, 0);
        dup2(nul, 2);
        dup2(pfd[1], 1);
        execvp("git", argv.v);
        _exit(127);
    }
    close(pfd[1]);
    char chunk[4096];
    ssize_t r;
    while (pid > 0 && ((r = read(pfd[0], chunk, sizeof chunk)) > 0 || (r < 0 && errno == EINTR)))
        if (r > 0)
            buf_append(out, chunk, (size_t)r);
    close(pfd[0]);
    while (pid > 0 && waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    status = pid > 0 && WIFEXITED(status) ? WEXITSTATUS(status) : -1;
done:
    strv_free(&argv);
    return status;
}

/* Appends top/NAME for each NUL-terminated NAME of git's -z output. */
static void push_names(const char *top, struct buf *names, struct strv *out)
{
    for (size_t i = 0; i < names->len;) {
        const char *name = names->data + i;
        size_t n = strnlen(name, names->len - i);
        char *rel = xstrndup(name, n);
        char *abs = path_join(top, rel);
        strv_push(out, abs);
        free(abs);
        free(rel);
        i += n + 1;
    }
}

/* --since FILE (the spec's older form): every file below the project directory
 * (hidden directories skipped) modified after FILE was. */
static struct timespec newer_than;
static struct strv *newer_out;

static int collect_newer(const char *path, const struct stat *st, int type, struct FTW *f)
{
    if (type == FTW_D && f->level > 0 && path[f->base] == '.')
        return FTW_SKIP_SUBTREE;
    int newer = st->st_mtim.tv_sec > newer_than.tv_sec ||
                (st->st_mtim.tv_sec == newer_than.tv_sec &&
                 st->st_mtim.tv_nsec > newer_than.tv_nsec);
    if (type == FTW_F && newer) {
        char *canon = since_canon(path);
        strv_push(newer_out, canon); /* copies */
        free(canon);
    }
    return FTW_CONTINUE;
}

static int newer_than_file(const char *dir, const char *file, struct strv *out)
{
    struct stat st;
    if (stat(file, &st) < 0 || !S_ISREG(st.st_mode))
        return -1;
    newer_than = st.st_mtim;
    newer_out = out;
    char *real = since_canon(dir);
    int rc = nftw(real, collect_newer, 32, FTW_PHYS | FTW_ACTIONRETVAL) < 0 ? -1 : 0;
    free(real);
    return rc;
}

int since_changed(const char *config_path, const char *ref, struct strv *out, char *err,
                  size_t errlen)
{
    char *cfg = path_resolve(NULL, config_path ? config_path : "provium.toml");
    char *dir = path_dirname(cfg);
    struct buf top = {0}, sha = {0}, names = {0};
    int rc = -1;
    int st = git_out(dir, (const char *[]){"rev-parse", "--show-toplevel", NULL}, &top);
    if (st == 127 || st < 0) {
        snprintf(err, errlen, "--since needs git, which could not be run");
        goto done;
    }
    if (st != 0 || top.len < 2) {
        if (newer_than_file(dir, ref, out) == 0)
            rc = 0;
        else
            snprintf(err, errlen, "--since: %s is not inside a git work tree", dir);
        goto done;
    }
    top.data[--top.len] = 0; /* the newline */
    char *spec = xasprintf("%s^{commit}", ref);
    st = ref[0] == '-' ? 1
                       : git_out(top.data, (const char *[]){"rev-parse", "--verify", "--quiet",
                                                            spec, NULL}, &sha);
    free(spec);
    if (st != 0 || sha.len < 2) {
        if (newer_than_file(dir, ref, out) == 0)
            rc = 0;
        else
            snprintf(err, errlen, "--since: unknown git ref '%s'", ref);
        goto done;
    }
    sha.data[--sha.len] = 0;
    char *real_top = since_canon(top.data);
    if (git_out(real_top, (const char *[]){"diff", "--name-only", "-z", "--no-renames",
                                           sha.data, "--", NULL}, &names) == 0 &&
        git_out(real_top, (const char *[]){"ls-files", "-z", "--others", "--exclude-standard",
                                           NULL}, &names) == 0) {
        push_names(real_top, &names, out);
        rc = 0;
    } else
        snprintf(err, errlen, "--since: git diff against '%s' failed", ref);
    free(real_top);
done:
    buf_free(&top);
    buf_free(&sha);
    buf_free(&names);
    free(dir);
    free(cfg);
    return rc;
}

static int has(const struct strv *set, const char *path)
{
    for (size_t i = 0; i < set->n; i++)
        if (!strcmp(set->v[i], path))
            return 1;
    return 0;
}

int since_affects(const struct config *cfg, const struct strv *changed, const char *abs)
{
    char *me = since_canon(abs);
    int hit = has(changed, me);
    free(me);
    struct strv deps = {0};
    if (!hit)
        fixture_file_deps(cfg, abs, &deps);
    for (size_t i = 0; i < deps.n && !hit; i++) {
        char *d = since_canon(deps.v[i]);
        hit = has(changed, d);
        free(d);
    }
    strv_free(&deps);
    return hit;
}

void since_select(const struct config *cfg, const struct strv *changed, struct found *files,
                  size_t *n)
{
    char *conf = cfg->path ? since_canon(cfg->path) : NULL;
    int all = conf && has(changed, conf);
    free(conf);
    size_t k = 0;
    for (size_t i = 0; i < *n; i++) {
        if (all || since_affects(cfg, changed, files[i].abs))
            files[k++] = files[i];
        else {
            free(files[i].abs);
            free(files[i].walked_rel);
        }
    }
    *n = k;
}
