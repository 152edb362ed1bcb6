/* console.c - `provium console PROFILE`: boot a profile with its serial console on
 * the terminal.
 *
 * The profile is built first (like a test run would), then QEMU runs in the
 * foreground with the guest's serial port and the QEMU monitor multiplexed on stdio
 * (vm_console_argv): QEMU puts the terminal in raw mode, Ctrl-A X quits, Ctrl-A C
 * switches to the monitor, and Ctrl-C goes to the guest. No agent unless --agent.
 * We save the terminal settings before QEMU starts and put them back after it ends,
 * however it ends (exit, crash, or a signal to us, which we pass on to QEMU). */
#include "cli.h"

#include "config/config.h"
#include "run/build.h"
#include "run/run.h"
#include "util/units.h"
#include "vm/vm.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

static const char CONSOLE_USAGE[] =
    "usage: provium console PROFILE [--mem SIZE] [--cpus N] [--cmdline STR] [--agent]\n"
    "                       [--print-command] [--no-build] [--config FILE] [-- QEMU_ARGS...]\n"
    "\n"
    "Builds PROFILE (unless --no-build), then boots it with the guest's serial console on\n"
    "this terminal. Ctrl-A X quits, Ctrl-A C switches to the QEMU monitor, Ctrl-A H lists\n"
    "the other keys; Ctrl-C goes to the guest.\n"
    "\n"
    "  --mem SIZE, --cpus N   override the profile's memory and vCPUs\n"
    "  --cmdline STR          kernel command line instead of the profile's\n"
    "  --agent                inject the guest agent as a test boot would (default: none)\n"
    "  --print-command        print the QEMU command line and exit without booting\n"
    "  --no-build             skip the profile's build command\n"
    "  -- QEMU_ARGS...        extra arguments appended to QEMU's command line\n";

const struct profile *cli_find_profile(const struct config *cfg, const char *name)
{
    const struct profile *p = config_profile(cfg, name);
    if (!p) {
        char *names = config_profile_names(cfg);
        warnx_p("unknown profile `%s` (known: %s)", name, names);
        free(names);
    }
    return p;
}


int cli_session_env(const struct config *cfg, const struct profile *p, int no_build,
                    int need_agent, struct run_opts *ro, struct host_env *env)
{
    if (run_preflight(ro, cfg, need_agent) < 0 ||
        (p && !no_build && profile_build(cfg, p, NULL, NULL) < 0) ||
        (env && host_env_init(env, cfg, ro, NULL) < 0)) {
        free(ro->agent_bin);
        ro->agent_bin = NULL;
        return -1;
    }
    return 0;
}

/* One argument as a POSIX shell word: bare when it is plainly safe, else single-quoted. */
static void print_shell_word(FILE *out, const char *s)
{
    int plain = s[0] != 0;
    for (const char *c = s; *c && plain; c++)
        plain = strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
                       "_-./=:,+@%^", *c) != NULL;
    if (plain) {
        fputs(s, out);
        return;
    }
    fputc('\'', out);
    for (const char *c = s; *c; c++) {
        if (*c == '\'')
            fputs("'\\''", out);
        else
            fputc(*c, out);
    }
    fputc('\'', out);
}

/* ---- running QEMU in the foreground ---- */

static volatile sig_atomic_t g_signal;
static void on_signal(int sig) { g_signal = sig; }

/* Passes our signal on: SIGTERM (QEMU ends cleanly and restores the terminal itself),
 * SIGKILL if it is still there after 3 s. */
static void stop_qemu(pid_t pid, int *status)
{
    kill(pid, SIGTERM);
    int64_t end = now_ns() + 3000000000LL;
    while (waitpid(pid, status, WNOHANG) == 0) {
        if (now_ns() >= end) {
            kill(pid, SIGKILL);
            waitpid(pid, status, 0);
            return;
        }
        sleep_ms(20);
    }
}

/* Runs QEMU in the foreground on our terminal; returns provium's exit code. */
static int run_qemu(char **argv)
{
    struct termios saved;
    int tty = isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &saved) == 0;

    /* the signals stay blocked except inside ppoll, so none slips past the wait */
    struct sigaction sa = {0}, old_int, old_term, old_hup;
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigset_t block, orig;
    sigemptyset(&block);
    sigaddset(&block, SIGINT);
    sigaddset(&block, SIGTERM);
    sigaddset(&block, SIGHUP);
    sigprocmask(SIG_BLOCK, &block, &orig);
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
    sigaction(SIGHUP, &sa, &old_hup);

    fflush(NULL);
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL); /* QEMU dies with provium */
        if (getppid() != parent)
            _exit(1);
        signal(SIGINT, SIG_DFL);
        signal(SIGTERM, SIG_DFL);
        signal(SIGHUP, SIG_DFL);
        signal(SIGPIPE, SIG_DFL);
        sigprocmask(SIG_SETMASK, &orig, NULL);
        execvp(argv[0], argv);
        warnx_p("exec %s: %s", argv[0], strerror(errno));
        _exit(127);
    }
    int status = 0, rc = 0;
    if (pid < 0) {
        warnx_p("fork: %s", strerror(errno));
        rc = 2;
    } else {
        int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
        for (;;) {
            if (g_signal) {
                stop_qemu(pid, &status);
                break;
            }
            pid_t r = waitpid(pid, &status, WNOHANG);
            if (r == pid || (r < 0 && errno != EINTR))
                break;
            struct pollfd pf = {pidfd, POLLIN, 0};
            struct timespec slice = {1, 0}; /* only if pidfd_open failed */
            ppoll(pidfd >= 0 ? &pf : NULL, pidfd >= 0, pidfd >= 0 ? NULL : &slice, &orig);
        }
        if (pidfd >= 0)
            close(pidfd);
    }
    if (tty)
        tcsetattr(STDIN_FILENO, TCSADRAIN, &saved);
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    sigaction(SIGHUP, &old_hup, NULL);
    sigprocmask(SIG_SETMASK, &orig, NULL);
    if (rc)
        return rc;
    if (g_signal) {
        fputc('\n', stdout); /* end the guest's line */
        fflush(stdout);
        warnx_p("console: %s; QEMU stopped", strsignal(g_signal));
        return 130;
    }
    if (WIFSIGNALED(status)) {
        warnx_p("QEMU was killed by signal %d (%s)", WTERMSIG(status),
                strsignal(WTERMSIG(status)));
        return 1;
    }
    if (WEXITSTATUS(status) != 0) {
        warnx_p("QEMU exited with status %d", WEXITSTATUS(status));
        return 1;
    }
    return 0;
}

struct console_args {
    const char *config_path, *profile_name, *cmdline;
    uint64_t mem; /* 0: the profile's */
    int cpus;     /* 0: the profile's */
    int agent, print_command, no_build;
    int extra;    /* the first QEMU argument after `--` (argc: none) */
};

/* --mem SIZE and --cpus N: 1 when argv[*i] was one, 0 when not, 2 on a bad value
 * (printed). */
static int resource_flag(int argc, char **argv, int *i, struct console_args *a, int *err)
{
    const char *v;
    if ((v = cli_flag_value(argc, argv, i, "--mem", err))) {
        if (units_parse_size(v, &a->mem) < 0)
            return cli_usage_error("console", "invalid size: %s", v);
        if (a->mem < (32u << 20))
            return cli_usage_error("console", "--mem must be at least 32M");
        return 1;
    }
    if ((v = cli_flag_value(argc, argv, i, "--cpus", err))) {
        char *end;
        long n = strtol(v, &end, 10);
        if (*end || n < 1 || n > 64)
            return cli_usage_error("console", "--cpus must be an integer from 1 to 64, got '%s'", v);
        a->cpus = (int)n;
        return 1;
    }
    return 0;
}

/* Parses the command line into a; -1 to go on, else the exit code (--help: 0, a usage
 * error: 2, printed). */
static int parse_console_args(int argc, char **argv, struct console_args *a)
{
    int err = 0, taken;
    a->extra = argc;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        const char *v;
        if (!strcmp(arg, "--help") || !strcmp(arg, "-h")) {
            fputs(CONSOLE_USAGE, stdout);
            return 0;
        } else if (!strcmp(arg, "--")) {
            a->extra = i + 1;
            break;
        } else if ((v = cli_flag_value(argc, argv, &i, "--config", &err)))
            a->config_path = v;
        else if ((v = cli_flag_value(argc, argv, &i, "--cmdline", &err)))
            a->cmdline = v;
        else if ((taken = resource_flag(argc, argv, &i, a, &err)) == 2)
            return 2;
        else if (taken)
            continue;
        else if (err)
            return 2;
        else if (!strcmp(arg, "--agent"))
            a->agent = 1;
        else if (!strcmp(arg, "--print-command"))
            a->print_command = 1;
        else if (!strcmp(arg, "--no-build"))
            a->no_build = 1;
        else if (arg[0] == '-')
            return cli_usage_error("console", "unknown option '%s'", arg);
        else if (!a->profile_name)
            a->profile_name = arg;
        else
            return cli_usage_error("console", "unexpected argument '%s'", arg);
    }
    if (!a->profile_name)
        return cli_usage_error("console", "missing PROFILE");
    return -1;
}

/* QEMU's command line for vm, then the arguments after `--`: printed (--print-command)
 * or run on this terminal. Returns the exit code. */
static int console_qemu(struct vm *vm, const struct console_args *a, int argc, char **argv)
{
    struct strv qargv = {0};
    char verr[8192];
    int rc = 0;
    if (vm_console_argv(vm, a->agent, &qargv, verr, sizeof verr) < 0) {
        warnx_p("%s", verr);
        rc = 2;
    } else {
        for (int i = a->extra; i < argc; i++)
            strv_push(&qargv, argv[i]);
        if (a->print_command) {
            for (size_t i = 0; i < qargv.n; i++) {
                if (i)
                    fputc(' ', stdout);
                print_shell_word(stdout, qargv.v[i]);
            }
            fputc('\n', stdout);
        } else {
            warnx_p("console of `%s` (%s); Ctrl-A X quits, Ctrl-A C is the "
                    "QEMU monitor", vm->name, vm->env->accel);
            rc = run_qemu(qargv.v);
        }
    }
    strv_free(&qargv);
    return rc;
}

int cmd_console(int argc, char **argv)
{
    struct console_args a = {0};
    int rc = parse_console_args(argc, argv, &a);
    if (rc >= 0)
        return rc;
    struct config *cfg = cli_load_config(a.config_path);
    if (!cfg)
        return 2;
    const struct profile *p = cli_find_profile(cfg, a.profile_name);
    /* --print-command needs no QEMU on this machine, only the accelerator decision */
    struct run_opts ro = {0};
    ro.no_preflight = a.print_command;
    struct host_env env = {0};
    struct vm *vm = NULL;
    rc = 2;
    if (!p || cli_session_env(cfg, p, a.no_build, a.agent, &ro, &env) < 0)
        goto done;
    vm = vm_new(&env, p->name, p, a.mem ? a.mem : p->memory, a.cpus ? a.cpus : p->cpus);
    if (a.cmdline)
        vm->opts.cmdline = xstrdup(a.cmdline);
    rc = console_qemu(vm, &a, argc, argv);
    /* the printed command may name the assembled initrd: keep what it needs */
    if (a.print_command && rc == 0 && a.agent)
        warnx_p("the command uses files in %s; remove it when done",
                env.scratch);
    else
        rm_rf(env.scratch);
done:
    vm_free(vm);
    free(env.scratch);
    free(ro.agent_bin);
    config_free(cfg);
    return rc;
}
