/* up_run.c - the QEMU process of `forge up`'s qemu backend: the command line (the
 * harness's accelerator policy, user networking with one host forward per port), the
 * foreground session (console streamed to stdout, the service's status read from its
 * `forge: service <name> exited with status N` line, Ctrl-C -> 130 with QEMU killed and
 * reaped, --watch reboots) and the detached start (state in up_state_root()/<name>/).
 */
#include "forge/forge.h"
#include "forge/up_int.h"

#include "util/util.h"
#include "vm/vm.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define UP_STATUS_MARK " exited with status "

void up_guest_resources(struct up_guest *g, const json_t *launch, const struct up_opts *o)
{
    const json_t *res = json_object_get(launch, "resources"), *p;
    json_int_t c = json_integer_value(json_object_get(res, "cpu_cores"));
    json_int_t m = json_integer_value(json_object_get(res, "memory_mb"));
    g->cpus = o->cpus ? o->cpus : c > 0 ? (unsigned)c : 1;
    g->memory_mb = o->memory_mb ? o->memory_mb : m > 0 ? (unsigned)m : 512;
    size_t i;
    g->nports = 0;
    json_array_foreach(json_object_get(json_object_get(launch, "network"), "ports"), i, p) {
        struct up_port *u = &g->ports[g->nports++];
        const char *proto = json_string_value(json_object_get(p, "proto"));
        u->guest = (unsigned)json_integer_value(json_object_get(p, "guest"));
        u->host = (unsigned)json_integer_value(json_object_get(p, "host"));
        u->udp = proto && !strcmp(proto, "udp");
        if (g->nports == UP_MAX_PORTS)
            break;
    }
    for (i = 0; i < o->nports; i++)
        g->ports[g->nports++] = o->ports[i];
}

/* console_fd >= 0: the serial console on that socket; else into console_log. */
static void qemu_argv(const struct up_guest *g, struct strv *a, int console_fd,
                      const char *console_log)
{
    char accel[8] = "tcg", reason[256], err[256];
    accel_resolve("auto", accel, reason, sizeof reason, err, sizeof err);
    strv_push(a, g->qemu);
    strv_push(a, "-M");
    strv_push(a, g->microvm ? "microvm,isa-serial=on,rtc=on" : "q35");
    strv_push(a, "-accel");
    strv_push(a, accel);
    if (!strcmp(accel, "kvm")) {
        strv_push(a, "-cpu");
        strv_push(a, "host");
    }
    strv_push(a, "-m");
    strv_pushf(a, "%u", g->memory_mb);
    strv_push(a, "-smp");
    strv_pushf(a, "%u", g->cpus);
    const char *nd[] = {"-nodefaults", "-no-user-config", "-display", "none", "-no-reboot",
                        "-kernel", g->kernel, "-initrd", g->initrd, "-append"};
    for (size_t i = 0; i < sizeof nd / sizeof nd[0]; i++)
        strv_push(a, nd[i]);
    unsigned tsc = !strcmp(accel, "tcg") ? host_tsc_khz() : 0;
    struct buf cl = {0};
    buf_puts(&cl, "console=ttyS0 panic=-1 quiet rdinit=/init");
    if (tsc)
        buf_printf(&cl, " tsc_early_khz=%u", tsc);
    strv_push(a, buf_cstr(&cl));
    buf_free(&cl);
    strv_push(a, "-chardev");
    if (console_fd >= 0)
        strv_pushf(a, "socket,id=con0,fd=%d", console_fd);
    else
        strv_pushf(a, "file,id=con0,path=%s", console_log);
    strv_push(a, "-serial");
    strv_push(a, "chardev:con0");
    struct buf nd_user = {0};
    buf_puts(&nd_user, "user,id=n0");
    for (size_t i = 0; i < g->nports; i++)
        buf_printf(&nd_user, ",hostfwd=%s::%u-:%u", g->ports[i].udp ? "udp" : "tcp",
                   g->ports[i].host, g->ports[i].guest);
    strv_push(a, "-netdev");
    strv_push(a, buf_cstr(&nd_user));
    buf_free(&nd_user);
    strv_push(a, "-device");
    strv_push(a, g->microvm ? "virtio-net-device,netdev=n0" : "virtio-net-pci,netdev=n0");
    strv_push(a, "-device");
    strv_push(a, g->microvm ? "virtio-rng-device" : "virtio-rng-pci");
}

/* Forks QEMU: its own process group (Ctrl-C is ours to pass on), dies with us unless
 * detached (then a session of its own), stdout/stderr into logfd. */
static pid_t spawn(char **argv, int keep_fd, int logfd, int detached, const sigset_t *mask)
{
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid != 0)
        return pid;
    if (detached)
        setsid();
    else {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(1);
        setpgid(0, 0);
    }
    int nul = open("/dev/null", O_RDWR);
    dup2(nul, 0);
    dup2(logfd >= 0 ? logfd : nul, 1);
    dup2(logfd >= 0 ? logfd : nul, 2);
    if (keep_fd >= 0)
        fcntl(keep_fd, F_SETFD, 0);
    sigprocmask(SIG_SETMASK, mask, NULL);
    signal(SIGPIPE, SIG_DFL);
    execv(argv[0], argv);
    _exit(127);
}

/* Ends QEMU: SIGTERM, 3 s, SIGKILL; always reaped. */
static void stop_qemu(pid_t pid)
{
    kill(pid, SIGTERM);
    for (int i = 0; i < 30; i++) {
        if (waitpid(pid, NULL, WNOHANG) == pid)
            return;
        sleep_ms(100);
    }
    kill(pid, SIGKILL);
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) {
    }
}

/* Scans complete console lines for the service's status; -1 until seen. */
static void scan_lines(struct buf *line, const char *p, size_t n, int *status)
{
    for (size_t i = 0; i < n; i++) {
        if (p[i] != '\n') {
            if (line->len < 4096)
                buf_append(line, &p[i], 1);
            continue;
        }
        const char *s = buf_cstr(line), *at = strstr(s, UP_STATUS_MARK);
        if (!strncmp(s, "forge: service ", 15) && at)
            *status = atoi(at + strlen(UP_STATUS_MARK));
        line->len = 0;
    }
}

struct fg {
    const char *qlog; /* QEMU's stdout and stderr */
    int sfd;        /* signalfd: SIGINT, SIGTERM, SIGHUP */
    sigset_t old;   /* the mask to give children */
    pid_t pid;      /* 0 when no QEMU runs */
    int con, pidfd; /* console socket, QEMU's pidfd */
    int status;     /* the service's, -1 unknown */
    int64_t seen_ns;
};

/* Starts one boot of g in the foreground session; -1 after a line. */
static int fg_boot(struct fg *f, struct up_guest *g)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
        warnx_p("forge up: socketpair: %s", strerror(errno));
        return -1;
    }
    struct strv a = {0};
    qemu_argv(g, &a, sv[1], NULL);
    int lfd = open(f->qlog, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    f->pid = spawn(a.v, sv[1], lfd, 0, &f->old);
    strv_free(&a);
    if (lfd >= 0)
        close(lfd);
    close(sv[1]);
    if (f->pid < 0) {
        close(sv[0]);
        warnx_p("forge up: fork: %s", strerror(errno));
        return -1;
    }
    f->con = sv[0];
    f->pidfd = (int)syscall(SYS_pidfd_open, f->pid, 0);
    f->status = -1;
    f->seen_ns = 0;
    return 0;
}

/* Reaps (or kills) the running QEMU; returns its service status or -1. */
static void fg_end(struct fg *f, int kill_it)
{
    if (f->pid > 0) {
        if (kill_it)
            stop_qemu(f->pid);
        else
            while (waitpid(f->pid, NULL, 0) < 0 && errno == EINTR) {
            }
    }
    if (f->con >= 0)
        close(f->con);
    if (f->pidfd >= 0)
        close(f->pidfd);
    f->pid = 0;
    f->con = f->pidfd = -1;
}

/* Copies console output to stdout; 1 when the console closed. */
static int fg_console(struct fg *f, struct buf *line)
{
    char b[4096];
    ssize_t n = read(f->con, b, sizeof b);
    if (n < 0 && (errno == EINTR || errno == EAGAIN))
        return 0;
    if (n <= 0)
        return 1;
    fwrite(b, 1, (size_t)n, stdout);
    fflush(stdout);
    int before = f->status;
    scan_lines(line, b, (size_t)n, &f->status);
    if (before < 0 && f->status >= 0)
        f->seen_ns = now_ns();
    return 0;
}

/* QEMU's own complaints (a forwarded port in use, a bad kernel), prefixed. */
static void warn_qemu_log(const char *path)
{
    char *t = read_file(path, NULL), *save = NULL;
    for (char *l = t ? strtok_r(t, "\n", &save) : NULL; l; l = strtok_r(NULL, "\n", &save))
        warnx_p("forge up: QEMU: %s", l);
    free(t);
}

/* What one turn of the foreground loop decided. */
enum { FG_GOON, FG_DONE, FG_REBOOT };

/* Waits for one event: a signal, console bytes, QEMU's exit or (--watch) a change. */
static int fg_step(struct fg *f, struct buf *line, up_changed_fn changed, void *ctx, char *art,
                   size_t artn, int *rc)
{
    struct pollfd p[3] = {{f->sfd, POLLIN, 0}, {f->con, POLLIN, 0}, {f->pidfd, POLLIN, 0}};
    int n = poll(p, 3, f->pidfd < 0 && f->pid > 0 ? 100 : 500);
    if (n > 0 && (p[0].revents & POLLIN)) {
        struct signalfd_siginfo si;
        if (read(f->sfd, &si, sizeof si) > 0) {
            fg_end(f, 1);
            *rc = 128 + (int)si.ssi_signo; /* Ctrl-C: 130 */
            return FG_DONE;
        }
    }
    if (n > 0 && p[1].revents && fg_console(f, line)) {
        close(f->con);
        f->con = -1;
    }
    int exited = f->pid > 0 && (f->pidfd >= 0 ? (n > 0 && (p[2].revents & POLLIN)) != 0
                                              : waitpid(f->pid, NULL, WNOHANG) == f->pid);
    if (exited) {
        while (f->con >= 0 && !fg_console(f, line)) {
        }
        if (f->pidfd < 0)
            f->pid = 0; /* reaped above */
        fg_end(f, 0);
        *rc = f->status >= 0 ? f->status : FORGE_EXIT_ERROR;
        if (f->status < 0) {
            warnx_p("forge up: the guest stopped without reporting the service's status");
            warn_qemu_log(f->qlog);
        }
        if (!changed)
            return FG_DONE;
    } else if (f->pid > 0 && f->seen_ns && now_ns() - f->seen_ns > 5000000000LL) {
        fg_end(f, 1); /* the status is known; a guest that does not power off is ended */
        *rc = f->status;
        if (!changed)
            return FG_DONE;
    }
    if (changed && changed(ctx, art, artn) == 1) {
        fg_end(f, 1);
        return FG_REBOOT;
    }
    return FG_GOON;
}

static int fg_session(const char *artifact, const struct up_opts *o, up_changed_fn changed,
                      void *ctx)
{
    struct fg f = {.sfd = -1, .con = -1, .pidfd = -1, .status = -1};
    struct up_guest g = {0};
    struct buf line = {0};
    char art[PATH_MAX];
    int rc = FORGE_EXIT_ERROR, step = FG_REBOOT;
    char *scratch = make_scratch_dir("provium-forge-up");
    if (!scratch) {
        warnx_p("forge up: cannot create a scratch directory: %s", strerror(errno));
        return FORGE_EXIT_ERROR;
    }
    snprintf(art, sizeof art, "%s", artifact);
    snprintf(g.initrd, sizeof g.initrd, "%s/initrd.img", scratch);
    char *qlog = path_join(scratch, "qemu.log");
    f.qlog = qlog;
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGHUP);
    sigprocmask(SIG_BLOCK, &set, &f.old);
    f.sfd = signalfd(-1, &set, SFD_CLOEXEC);
    while (step != FG_DONE) {
        if (step == FG_REBOOT) {
            line.len = 0;
            if (up_guest_prepare(&g, art, o) < 0 || fg_boot(&f, &g) < 0) {
                rc = FORGE_EXIT_ERROR;
                if (!changed)
                    break;
            }
        }
        step = fg_step(&f, &line, changed, ctx, art, sizeof art, &rc);
    }
    fg_end(&f, 1);
    close(f.sfd);
    sigprocmask(SIG_SETMASK, &f.old, NULL);
    rm_rf(scratch);
    free(scratch);
    free(qlog);
    buf_free(&line);
    return rc;
}

char *up_state_root(void)
{
    const char *rt = getenv("XDG_RUNTIME_DIR");
    if (rt && rt[0] == '/')
        return xasprintf("%s/provium/forge", rt);
    const char *tmp = getenv("TMPDIR");
    return xasprintf("%s/provium-forge-%u", tmp && tmp[0] ? tmp : "/tmp", (unsigned)getuid());
}

/* --detach: QEMU in a session of its own, console into <state>/console.log. */
/* Starts the detached QEMU with -daemonize: QEMU's first process exits only once its
 * devices (host forwards included) are set up, 0 when they are, so its status is the
 * answer whatever the host's load (a fixed wait misjudged a busy one). Its errors land in
 * qemu.log; the daemon's PID comes from its -pidfile. -1 when QEMU did not start. */
static pid_t start_daemon(struct strv *a, const char *dir)
{
    char *pidfile = path_join(dir, "qemu.pid"), *qlog = path_join(dir, "qemu.log");
    pid_t pid = -1;
    strv_push(a, "-daemonize");
    strv_push(a, "-pidfile");
    strv_push(a, pidfile);
    int lfd = open(qlog, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    sigset_t cur;
    sigprocmask(SIG_SETMASK, NULL, &cur);
    pid_t first = spawn(a->v, -1, lfd, 1, &cur);
    if (lfd >= 0)
        close(lfd);
    int st = 0;
    if (first < 0)
        goto done;
    while (waitpid(first, &st, 0) < 0 && errno == EINTR) {
    }
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
        goto done;
    char *txt = read_file(pidfile, NULL);
    if (txt != NULL && atoi(txt) > 0)
        pid = (pid_t)atoi(txt);
    free(txt);
done:
    free(pidfile);
    free(qlog);
    return pid;
}

static int detach_start(const char *artifact, const struct up_opts *o)
{
    struct up_guest g = {0};
    char *root = up_state_root();
    char *dir = path_join(root, o->name);
    char *log = path_join(dir, "console.log"), *pidf = path_join(dir, "pid");
    int rc = FORGE_EXIT_ERROR, made = 0;
    if (up_state_alive(dir) > 0) {
        warnx_p("forge up: a detached workload named %s is already running (`provium forge "
                "down %s` first)", o->name, o->name);
        goto done;
    }
    rm_rf(dir);
    made = 1; /* from here on a failure removes it */
    if (mkdir_p(dir, 0700) < 0) {
        warnx_p("forge up: %s: %s", dir, strerror(errno));
        goto done;
    }
    snprintf(g.initrd, sizeof g.initrd, "%s/initrd.img", dir);
    if (up_guest_prepare(&g, artifact, o) < 0)
        goto done;
    struct strv a = {0};
    qemu_argv(&g, &a, -1, log);
    pid_t pid = start_daemon(&a, dir);
    strv_free(&a);
    if (pid < 0) {
        warnx_p("forge up: QEMU did not start");
        char *ql = path_join(dir, "qemu.log");
        warn_qemu_log(ql);
        free(ql);
        goto done;
    }
    char *pidtxt = xasprintf("%d\n", (int)pid);
    json_t *ij = json_pack("{s:s,s:s,s:s}", "artifact", artifact, "name", o->name, "kernel",
                           g.kernel);
    char *info = json_dumps(ij, JSON_SORT_KEYS | JSON_COMPACT);
    json_decref(ij);
    write_file_atomic(pidf, pidtxt, strlen(pidtxt), 0600);
    char *infof = path_join(dir, "launch-info.json");
    write_file_atomic(infof, info, strlen(info), 0600);
    free(infof);
    free(pidtxt);
    free(info);
    printf("%s\n", o->name);
    rc = FORGE_EXIT_OK;
done:
    if (rc != FORGE_EXIT_OK && made)
        rm_rf(dir);
    free(root);
    free(dir);
    free(log);
    free(pidf);
    return rc;
}

int up_qemu_session(const char *artifact, const struct up_opts *o, up_changed_fn changed,
                    void *ctx)
{
    if (o->detach)
        return detach_start(artifact, o);
    return fg_session(artifact, o, changed, ctx);
}

int up_qemu_run(const char *artifact, const struct up_opts *o)
{
    return up_qemu_session(artifact, o, NULL, NULL);
}
