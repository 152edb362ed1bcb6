/* up_mvm.c - the mvmctl backend of `provium forge up` (spec §10.6).
 *
 * The artifact is already compiled (up.c); a Nix host's controller builds and boots it:
 *   1. find the controller: $PROVIUM_FORGE_MVM_BIN, else mvmctl, else mvm on PATH
 *      (E_MVM_NOT_FOUND, exit 2);
 *   2. `<bin> --version` must print a version at least MVM_VERSION_FLOOR
 *      (E_MVM_VERSION_TOO_OLD, exit 2);
 *   3. `<bin> up --flake <artifact> [--name] [--cpus] [--memory <N>M] [-p …] [-e …] [-d]
 *      [--watch] $PROVIUM_FORGE_UP_ARGS ARGS`, whose exit status becomes ours (128 + the
 *      signal if it was killed).
 * The controller inherits stdin, stdout and stderr: its output is its own, not ours.
 */
#include "forge/up_mvm.h"

#include "forge/forge.h"
#include "forge/up.h"
#include "util/util.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define MVM_VERSION_MAX_OUT 4096 /* bytes of `--version` output read */
#define MVM_VERSION_TIMEOUT_MS 30000

int mvm_parse_version(const char *text, unsigned long v[3], int *pre)
{
    const char *p = text;
    while (*p) {
        int at_start = p == text || isspace((unsigned char)p[-1]);
        const char *q = (*p == 'v' || *p == 'V') ? p + 1 : p;
        if (at_start && isdigit((unsigned char)*q))
            break;
        p++;
    }
    if (!*p)
        return -1;
    if (*p == 'v' || *p == 'V')
        p++;
    for (int i = 0; i < 3; i++) {
        if (!isdigit((unsigned char)*p))
            return -1;
        char *end;
        errno = 0;
        v[i] = strtoul(p, &end, 10);
        if (errno)
            return -1;
        p = end;
        if (i < 2 && *p++ != '.')
            return -1;
    }
    *pre = *p == '-';
    return 0;
}

int mvm_version_ok(const char *text)
{
    unsigned long have[3], floor[3];
    int have_pre, floor_pre;
    if (mvm_parse_version(text, have, &have_pre) < 0)
        return -1;
    mvm_parse_version(MVM_VERSION_FLOOR, floor, &floor_pre);
    for (int i = 0; i < 3; i++)
        if (have[i] != floor[i])
            return have[i] > floor[i];
    return !have_pre || floor_pre; /* 0.10.0-rc1 comes before 0.10.0 */
}

static void push_words(struct strv *out, const char *s)
{
    while (s && *s) {
        while (isspace((unsigned char)*s))
            s++;
        const char *w = s;
        while (*s && !isspace((unsigned char)*s))
            s++;
        if (s > w) {
            char *word = xstrndup(w, (size_t)(s - w));
            strv_push(out, word);
            free(word);
        }
    }
}

void mvm_build_argv(struct strv *out, const char *bin, const char *artifact,
                    const struct up_opts *o, const char *up_args, int argc, char **argv)
{
    strv_push(out, bin);
    strv_push(out, "up");
    strv_push(out, "--flake");
    strv_push(out, artifact);
    if (o->name) {
        strv_push(out, "--name");
        strv_push(out, o->name);
    }
    if (o->cpus) {
        strv_push(out, "--cpus");
        strv_pushf(out, "%u", o->cpus);
    }
    if (o->memory_mb) {
        strv_push(out, "--memory");
        strv_pushf(out, "%uM", o->memory_mb);
    }
    for (size_t i = 0; i < o->nports; i++) {
        strv_push(out, "-p");
        strv_push(out, o->ports[i].spec);
    }
    for (size_t i = 0; i < o->nenv; i++) {
        strv_push(out, "-e");
        strv_push(out, o->env[i]);
    }
    if (o->detach)
        strv_push(out, "-d");
    if (o->watch)
        strv_push(out, "--watch");
    push_words(out, up_args);
    for (int i = 0; i < argc; i++)
        strv_push(out, argv[i]);
}

static int is_exe(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode) && access(path, X_OK) == 0;
}

/* name as execvp would find it: a path when it has a '/', else the first on PATH */
static char *lookup(const char *name)
{
    if (strchr(name, '/'))
        return is_exe(name) ? xstrdup(name) : NULL;
    const char *path = getenv("PATH");
    char *found = NULL;
    char *dirs = xstrdup(path && *path ? path : "/usr/local/bin:/usr/bin:/bin");
    for (char *save = NULL, *d = strtok_r(dirs, ":", &save); d && !found;
         d = strtok_r(NULL, ":", &save)) {
        char *cand = path_join(*d ? d : ".", name);
        if (is_exe(cand))
            found = cand;
        else
            free(cand);
    }
    free(dirs);
    return found;
}

char *mvm_find_bin(void)
{
    const char *env = getenv("PROVIUM_FORGE_MVM_BIN");
    if (env && *env)
        return lookup(env);
    char *bin = lookup("mvmctl");
    return bin ? bin : lookup("mvm");
}

/* waits for pid with SIGINT/SIGQUIT ignored (the terminal's Ctrl-C reaches the child
 * too, as system() does); exit status, 128 + signal, or -1 */
static int wait_child(pid_t pid)
{
    struct sigaction ign = {.sa_handler = SIG_IGN}, old_int, old_quit;
    sigaction(SIGINT, &ign, &old_int);
    sigaction(SIGQUIT, &ign, &old_quit);
    int st, r;
    while ((r = waitpid(pid, &st, 0)) < 0 && errno == EINTR)
        ;
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGQUIT, &old_quit, NULL);
    if (r < 0)
        return -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* reads the child's stdout into out until EOF or the deadline (then kills it) */
static void read_capped(int fd, pid_t pid, struct buf *out)
{
    int64_t deadline = now_ns() + (int64_t)MVM_VERSION_TIMEOUT_MS * 1000000;
    char chunk[512];
    for (;;) {
        int left = (int)((deadline - now_ns()) / 1000000);
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (left <= 0 || poll(&p, 1, left) == 0) {
            kill(pid, SIGKILL);
            return;
        }
        ssize_t n = read(fd, chunk, sizeof chunk);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return;
        if (out->len < MVM_VERSION_MAX_OUT)
            buf_append(out, chunk, (size_t)n);
    }
}

/* `bin --version`'s stdout (stderr discarded) in out; its exit status, or -1 */
static int run_version(const char *bin, struct buf *out)
{
    int pfd[2];
    if (pipe2(pfd, O_CLOEXEC) < 0)
        return -1;
    pid_t pid = fork();
    if (pid == 0) {
        int null = open("/dev/null", O_RDWR);
        dup2(null, 0);
        dup2(null, 2);
        dup2(pfd[1], 1);
        execl(bin, bin, "--version", (char *)NULL);
        _exit(127);
    }
    close(pfd[1]);
    if (pid > 0)
        read_capped(pfd[0], pid, out);
    close(pfd[0]);
    buf_cstr(out);
    return pid < 0 ? -1 : wait_child(pid);
}

/* E_MVM_NOT_FOUND / E_MVM_VERSION_TOO_OLD checks; 0 when bin may be used */
static int check_version(const char *bin)
{
    struct buf out = {0};
    int rc = run_version(bin, &out);
    int ok = rc == 0 ? mvm_version_ok(out.data) : -1;
    if (ok != 1) {
        char *first = xstrndup(out.data, strcspn(out.data, "\n"));
        if (rc != 0)
            warnx_p("forge up: E_MVM_VERSION_TOO_OLD: '%s --version' failed (status %d); "
                    "need mvmctl %s or newer", bin, rc, MVM_VERSION_FLOOR);
        else
            warnx_p("forge up: E_MVM_VERSION_TOO_OLD: %s: %s '%s'; need mvmctl %s or newer",
                    bin, ok < 0 ? "no version in" : "version", first, MVM_VERSION_FLOOR);
        free(first);
    }
    buf_free(&out);
    return ok == 1 ? 0 : -1;
}

int up_mvm_run(const char *artifact, const struct up_opts *o, int argc, char **argv)
{
    char *bin = mvm_find_bin();
    struct strv cmd = {0};
    int rc = FORGE_EXIT_ERROR;
    if (!bin) {
        const char *env = getenv("PROVIUM_FORGE_MVM_BIN");
        if (env && *env)
            warnx_p("forge up: E_MVM_NOT_FOUND: PROVIUM_FORGE_MVM_BIN=%s is not an "
                    "executable file", env);
        else
            warnx_p("forge up: E_MVM_NOT_FOUND: neither mvmctl nor mvm is on PATH (set "
                    "PROVIUM_FORGE_MVM_BIN, or use --hypervisor qemu)");
        goto done;
    }
    if (check_version(bin) < 0)
        goto done;
    mvm_build_argv(&cmd, bin, artifact, o, getenv("PROVIUM_FORGE_UP_ARGS"), argc, argv);
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0) {
        warnx_p("forge up: fork: %s", strerror(errno));
        goto done;
    }
    if (pid == 0) {
        execv(bin, cmd.v);
        warnx_p("forge up: %s: %s", bin, strerror(errno));
        _exit(127);
    }
    rc = wait_child(pid);
    if (rc < 0) {
        warnx_p("forge up: waiting for %s: %s", bin, strerror(errno));
        rc = FORGE_EXIT_ERROR;
    }
done:
    strv_free(&cmd);
    free(bin);
    return rc;
}
