/* repl.c - `provium repl [PROFILE]`: a Lua prompt with the whole test API.
 *
 * The Lua state is set up the way a worker sets up a test file (lstate_open: lapi_open
 * with a host_env of its own: accelerator, agent, private 0700 scratch directory), with a
 * `provium` lab and a global `vm` booted from PROFILE (or restored from --fixture).
 * Lines are evaluated like the standalone `lua` prompt: `return <line>` first so
 * expressions print, else the line as a statement, continuing with `>> ` while the
 * chunk is incomplete. On a terminal lines come from libedit (history in
 * $XDG_STATE_HOME/provium/repl_history); otherwise they are read plainly so the REPL
 * can be scripted. Every VM of the session is shut down on the way out, whichever
 * way that is: EOF, `.exit`, os.exit, a second Ctrl-C, SIGTERM or SIGHUP.
 * `provium debug` (debug.c) runs the same prompt over its restored lab: repl_begin,
 * repl_call, repl_prompt, repl_end are the pieces both use. */
#include "cli.h"

#include "config/config.h"
#include "lua/lapi.h"
#include "run/build.h"
#include "run/lstate.h"
#include "run/run.h"
#include "vm/vm.h"

#include <errno.h>
#include <histedit.h>
#include <locale.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <wchar.h>

static const char REPL_USAGE[] =
    "usage: provium repl [PROFILE] [--name NAME] [--fixture PATH] [--no-build] [--config FILE]\n"
    "\n"
    "Lua prompt with the test API: `provium` (a lab) and `vm`, booted from PROFILE (the only\n"
    "profile when there is one) or restored from a fixture. Expressions print their values;\n"
    "errors print and the prompt goes on. `.exit`, os.exit() or Ctrl-D ends the session, as\n"
    "does a second Ctrl-C; every VM is shut down then. Without a terminal, lines are read\n"
    "from stdin without prompts (the exit code is 1 if any of them failed).\n"
    "\n"
    "  --name NAME      name of the VM (default: the profile's)\n"
    "  --fixture PATH   restore `vm` from a fixture (a name like fixtures/base, or its file)\n"
    "  --no-build       skip the profile's build command\n";

/* ---- signals ---- */

static volatile sig_atomic_t g_int;  /* Ctrl-C presses not yet handled */
static volatile sig_atomic_t g_stop; /* SIGTERM or SIGHUP: leave */
static volatile sig_atomic_t g_winch;
static lua_State *volatile g_eval_L; /* set while Lua code runs */
static struct host_env *volatile g_boot_env; /* set while the session's VM starts */

static void stop_hook(lua_State *L, lua_Debug *ar)
{
    (void)ar;
    lua_sethook(L, NULL, 0, 0);
    luaL_error(L, "interrupted");
}

static void on_signal(int sig)
{
    if (sig == SIGWINCH) {
        g_winch = 1;
        return;
    }
    if (sig == SIGINT)
        g_int++;
    else
        g_stop = sig;
    /* a boot (or fixture build) ends at its next check, as at a test deadline */
    if (g_boot_env)
        g_boot_env->deadline_ns = 1;
    /* like lua.c: stop pure Lua code at its next instruction (safe in a handler) */
    if (g_eval_L)
        lua_sethook(g_eval_L, stop_hook, LUA_MASKCALL | LUA_MASKRET | LUA_MASKCOUNT, 1);
}

static void install_signals(struct sigaction old[4])
{
    static const int sigs[] = {SIGINT, SIGTERM, SIGHUP, SIGWINCH};
    struct sigaction sa = {0};
    sa.sa_handler = on_signal; /* no SA_RESTART: blocking reads return EINTR */
    sigemptyset(&sa.sa_mask);
    for (int i = 0; i < 4; i++)
        sigaction(sigs[i], &sa, &old[i]);
}

static void restore_signals(struct sigaction old[4])
{
    static const int sigs[] = {SIGINT, SIGTERM, SIGHUP, SIGWINCH};
    for (int i = 0; i < 4; i++)
        sigaction(sigs[i], &old[i], NULL);
}

/* ---- reading lines ---- */

enum { LINE_OK, LINE_EOF, LINE_INTERRUPT, LINE_STOP };

struct input {
    int tty;
    EditLine *el;
    History *hist;
    char *hist_path;
    const char *prompt;
};

static char *prompt_fn(EditLine *el)
{
    struct input *in;
    el_get(el, EL_CLIENTDATA, &in);
    return (char *)in->prompt;
}

/* libedit's character reader, replaced so a signal ends el_gets at once: the signals
 * are only let through inside ppoll, so none is lost between the check and the wait. */
static int getc_fn(EditLine *el, wchar_t *wc)
{
    mbstate_t st;
    memset(&st, 0, sizeof st);
    sigset_t block, orig;
    sigemptyset(&block);
    sigaddset(&block, SIGINT);
    sigaddset(&block, SIGTERM);
    sigaddset(&block, SIGHUP);
    sigaddset(&block, SIGWINCH);
    for (;;) {
        sigprocmask(SIG_BLOCK, &block, &orig);
        if (g_int || g_stop) {
            sigprocmask(SIG_SETMASK, &orig, NULL);
            errno = EINTR;
            return -1;
        }
        if (g_winch) {
            g_winch = 0;
            el_resize(el);
        }
        struct pollfd pf = {STDIN_FILENO, POLLIN, 0};
        int r = ppoll(&pf, 1, NULL, &orig);
        sigprocmask(SIG_SETMASK, &orig, NULL);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        char c;
        ssize_t n = read(STDIN_FILENO, &c, 1);
        if (n == 0)
            return 0;
        if (n < 0) {
            if (errno == EINTR || errno == EAGAIN)
                continue;
            return -1;
        }
        size_t k = mbrtowc(wc, &c, 1, &st);
        if (k == (size_t)-2)
            continue; /* the rest of a multibyte character follows */
        if (k == (size_t)-1) {
            memset(&st, 0, sizeof st);
            *wc = (unsigned char)c;
        }
        return 1;
    }
}

/* $XDG_STATE_HOME/provium/repl_history, else ~/.local/state/provium/repl_history;
 * the directories are made (0700) here. NULL when there is no home at all. */
static char *history_path(void)
{
    const char *state = getenv("XDG_STATE_HOME");
    const char *home = getenv("HOME");
    char *dir;
    if (state && state[0] == '/')
        dir = path_join(state, "provium");
    else if (home && *home)
        dir = xasprintf("%s/.local/state/provium", home);
    else
        return NULL;
    if (mkdir_p(dir, 0700) < 0) {
        warnx_p("warning: cannot create %s (%s); history is not kept", dir,
                strerror(errno));
        free(dir);
        return NULL;
    }
    char *p = path_join(dir, "repl_history");
    free(dir);
    return p;
}

static void input_open(struct input *in)
{
    memset(in, 0, sizeof *in);
    in->tty = isatty(STDIN_FILENO) && isatty(STDOUT_FILENO);
    if (!in->tty)
        return;
    setlocale(LC_CTYPE, "");
    HistEvent ev;
    in->hist = history_init();
    history(in->hist, &ev, H_SETSIZE, 1000);
    history(in->hist, &ev, H_SETUNIQUE, 1);
    in->hist_path = history_path();
    if (in->hist_path)
        history(in->hist, &ev, H_LOAD, in->hist_path);
    in->el = el_init("provium", stdin, stdout, stderr);
    el_set(in->el, EL_CLIENTDATA, in);
    el_set(in->el, EL_EDITOR, "emacs");
    el_set(in->el, EL_PROMPT, prompt_fn);
    el_set(in->el, EL_HIST, history, in->hist);
    el_set(in->el, EL_GETCFN, getc_fn);
    el_source(in->el, NULL); /* ~/.editrc */
}

static void input_close(struct input *in)
{
    if (in->el)
        el_end(in->el);
    if (in->hist) {
        HistEvent ev;
        if (in->hist_path)
            history(in->hist, &ev, H_SAVE, in->hist_path);
        history_end(in->hist);
    }
    free(in->hist_path);
}

static void input_remember(struct input *in, const char *chunk)
{
    if (in->hist && chunk[strspn(chunk, " \t\n")]) {
        HistEvent ev;
        history(in->hist, &ev, H_ENTER, chunk);
    }
}

/* One line without its newline (malloc'd in *line), or why there is none. */
static int read_line(struct input *in, const char *prompt, char **line)
{
    *line = NULL;
    if (g_stop)
        return LINE_STOP;
    if (in->tty) {
        in->prompt = prompt;
        int n = 0;
        const char *s = el_gets(in->el, &n);
        if (g_stop)
            return LINE_STOP;
        if (g_int) {
            g_int = 0;
            return LINE_INTERRUPT;
        }
        if (!s || n <= 0)
            return LINE_EOF;
        size_t len = strlen(s);
        while (len && (s[len - 1] == '\n' || s[len - 1] == '\r'))
            len--;
        *line = xstrndup(s, len);
        return LINE_OK;
    }
    size_t cap = 0;
    for (;;) {
        errno = 0;
        ssize_t n = getline(line, &cap, stdin);
        if (n >= 0) {
            while (n && ((*line)[n - 1] == '\n' || (*line)[n - 1] == '\r'))
                (*line)[--n] = 0;
            return LINE_OK;
        }
        free(*line);
        *line = NULL;
        if (g_stop)
            return LINE_STOP;
        if (g_int)
            return LINE_STOP; /* no prompt to clear: Ctrl-C ends a piped session */
        if (errno == EINTR) {
            clearerr(stdin);
            continue;
        }
        return LINE_EOF;
    }
}

/* ---- evaluation ---- */

static const char EXIT_KEY = 'x'; /* error object raised by our os.exit */
static int g_exit_code;

/* os.exit([code]) ends the session through the normal way out, so VMs shut down */
static int repl_os_exit(lua_State *L)
{
    if (lua_isboolean(L, 1))
        g_exit_code = lua_toboolean(L, 1) ? 0 : 1;
    else
        g_exit_code = (int)luaL_optinteger(L, 1, 0);
    lua_pushlightuserdata(L, (void *)&EXIT_KEY);
    return lua_error(L);
}

static int msg_handler(lua_State *L)
{
    if (lua_touserdata(L, 1) == &EXIT_KEY)
        return 1;
    const char *msg = lua_tostring(L, 1);
    if (!msg) {
        if (luaL_callmeta(L, 1, "__tostring") && lua_type(L, -1) == LUA_TSTRING)
            return 1;
        msg = lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
    }
    lua_pushstring(L, msg);
    return 1;
}

static int incomplete(lua_State *L, int status)
{
    if (status != LUA_ERRSYNTAX)
        return 0;
    size_t len;
    const char *msg = lua_tolstring(L, -1, &len);
    return len >= 5 && !strcmp(msg + len - 5, "<eof>");
}

/* Reads one chunk (one line, or more while it is incomplete) and compiles it; pushes
 * the function, or the error message. Returns the load status, or -1 with *why set
 * when no chunk came (EOF, Ctrl-C, a stop signal). */
static int read_chunk(lua_State *L, struct input *in, int *why)
{
    char *line;
    *why = read_line(in, "> ", &line);
    if (*why != LINE_OK)
        return -1;
    const char *l = line + strspn(line, " \t");
    if (!strcmp(l, ".exit") || !strncmp(l, ".exit ", 6)) {
        free(line);
        *why = LINE_EOF;
        return -1;
    }
    /* an expression first, so it prints */
    char *ret = xasprintf("return %s;", line);
    int status = luaL_loadbuffer(L, ret, strlen(ret), "=stdin");
    free(ret);
    if (status == LUA_OK) {
        input_remember(in, line);
        free(line);
        return status;
    }
    lua_pop(L, 1);
    struct buf chunk = {0};
    buf_puts(&chunk, line);
    free(line);
    for (;;) {
        status = luaL_loadbuffer(L, buf_cstr(&chunk), chunk.len, "=stdin");
        if (!incomplete(L, status))
            break;
        lua_pop(L, 1);
        *why = read_line(in, ">> ", &line);
        if (*why != LINE_OK) {
            if (*why == LINE_EOF) {
                /* EOF inside a chunk: report it as the compiler sees it */
                status = luaL_loadbuffer(L, buf_cstr(&chunk), chunk.len, "=stdin");
                break;
            }
            buf_free(&chunk);
            return -1;
        }
        buf_puts(&chunk, "\n");
        buf_puts(&chunk, line);
        free(line);
    }
    input_remember(in, buf_cstr(&chunk));
    buf_free(&chunk);
    return status;
}

/* Runs the function on top; prints its results (stdout) or its error (stderr).
 * Returns 0, 1 on an error, or 2 when it called os.exit. */
static int eval(lua_State *L)
{
    int base = lua_gettop(L);
    lua_pushcfunction(L, msg_handler);
    lua_insert(L, base);
    g_eval_L = L;
    int status = lua_pcall(L, 0, LUA_MULTRET, base);
    g_eval_L = NULL;
    lua_sethook(L, NULL, 0, 0);
    lua_remove(L, base);
    int rc = 0;
    if (status != LUA_OK) {
        if (lua_touserdata(L, -1) == &EXIT_KEY) {
            rc = 2;
        } else {
            if (g_int)
                fputc('\n', stdout); /* after the ^C */
            fflush(stdout);
            warnx_p("%s", lua_tostring(L, -1));
            rc = 1;
        }
    } else if (lua_gettop(L) >= base) {
        int n = lua_gettop(L) - base + 1;
        luaL_checkstack(L, LUA_MINSTACK, "too many results to print");
        lua_getglobal(L, "print");
        lua_insert(L, base);
        if (lua_pcall(L, n, 0, 0) != LUA_OK) {
            warnx_p("error calling 'print' (%s)", lua_tostring(L, -1));
            rc = 1;
        }
    }
    lua_settop(L, base - 1);
    fflush(stdout);
    fflush(stderr);
    return rc;
}

/* Creates the session's `vm`: booted from the profile, or restored from a fixture. */
static const char START_VM[] =
    "local name, profile, fixture = ...\n"
    "if fixture then\n"
    "  vm = provium:vm_fixture(fixture, name and {name = name} or nil)\n"
    "else\n"
    "  vm = provium:vm(name or profile, profile):boot()\n"
    "end\n";

int repl_call(lua_State *L, struct host_env *env, int nargs)
{
    int base = lua_gettop(L) - nargs; /* the function */
    lua_pushcfunction(L, msg_handler);
    lua_insert(L, base);
    g_eval_L = L;
    g_boot_env = env;
    int status = lua_pcall(L, nargs, 0, base);
    g_boot_env = NULL;
    g_eval_L = NULL;
    lua_sethook(L, NULL, 0, 0);
    env->deadline_ns = 0;
    int exited = status != LUA_OK && lua_touserdata(L, -1) == &EXIT_KEY;
    if (status != LUA_OK && !g_int && !g_stop && !exited)
        warnx_p("%s", lua_tostring(L, -1));
    lua_settop(L, base - 1);
    if (status == LUA_OK)
        return 0;
    return exited ? 2 : g_int || g_stop ? 130 : 1;
}

static int start_vm(lua_State *L, struct host_env *env, const char *name,
                    const struct profile *p, const char *fixture)
{
    luaL_loadbuffer(L, START_VM, sizeof START_VM - 1, "=repl");
    lua_pushstring(L, name);
    lua_pushstring(L, p ? p->name : NULL);
    lua_pushstring(L, fixture);
    return repl_call(L, env, 3) == 0 ? 0 : -1;
}

/* A fixture file path (…/name.fixture.lua under a root) becomes its fixture name. */
static char *fixture_name(const struct config *cfg, const char *arg)
{
    size_t n = strlen(arg), sl = strlen(".fixture.lua");
    if (n <= sl || strcmp(arg + n - sl, ".fixture.lua") != 0)
        return xstrdup(arg);
    char *abs = path_resolve(NULL, arg);
    for (size_t i = 0; i < cfg->n_roots; i++) {
        size_t rl = strlen(cfg->roots[i]);
        if (!strncmp(abs, cfg->roots[i], rl) && abs[rl] == '/') {
            char *name = xstrndup(abs + rl + 1, strlen(abs) - rl - 1 - sl);
            free(abs);
            return name;
        }
    }
    free(abs);
    return xstrdup(arg);
}

static void on_event(void *ud, const char *kind, void *obj)
{
    (void)ud;
    json_t *o = obj;
    const char *fx = json_string_value(json_object_get(o, "fixture"));
    if (!strcmp(kind, "fixture_build_started"))
        warnx_p("building fixture `%s`", fx ? fx : "?");
    else if (!strcmp(kind, "fixture_build_waiting"))
        warnx_p("fixture `%s` is being built by another run; waiting",
                fx ? fx : "?");
    json_decref(o);
}

/* The prompt loop; returns the session's exit code. */
static int repl_loop(lua_State *L, struct input *in)
{
    int failed = 0, interrupts = 0;
    for (;;) {
        int why;
        int status = read_chunk(L, in, &why);
        if (status < 0) {
            if (why == LINE_INTERRUPT) {
                fputs("^C\n", stdout);
                if (++interrupts >= 2)
                    return 0;
                fputs("(Ctrl-C again or Ctrl-D to exit)\n", stdout);
                fflush(stdout);
                continue;
            }
            if (why == LINE_EOF) {
                if (in->tty)
                    fputc('\n', stdout);
                return in->tty ? 0 : failed;
            }
            return 130; /* LINE_STOP */
        }
        interrupts = 0;
        if (status != LUA_OK) {
            warnx_p("%s", lua_tostring(L, -1));
            lua_pop(L, 1);
            failed = 1;
            continue;
        }
        int rc = eval(L);
        if (rc == 2)
            return g_exit_code;
        if (rc)
            failed = 1;
        if (g_stop || (g_int && !in->tty))
            return 130;
        g_int = 0; /* a Ctrl-C during evaluation stopped it; the prompt goes on */
    }
}

struct repl_args {
    const char *config_path, *profile_name, *name, *fixture_arg;
    int no_build;
};

/* Parses the command line into a; -1 to go on, else the exit code (--help: 0, a usage
 * error: 2, printed). */
static int parse_repl_args(int argc, char **argv, struct repl_args *a)
{
    int err = 0;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        const char *v;
        if (!strcmp(arg, "--help") || !strcmp(arg, "-h")) {
            fputs(REPL_USAGE, stdout);
            return 0;
        } else if ((v = cli_flag_value(argc, argv, &i, "--config", &err)))
            a->config_path = v;
        else if ((v = cli_flag_value(argc, argv, &i, "--name", &err)))
            a->name = v;
        else if ((v = cli_flag_value(argc, argv, &i, "--fixture", &err)))
            a->fixture_arg = v;
        else if (err)
            return 2;
        else if (!strcmp(arg, "--no-build"))
            a->no_build = 1;
        else if (arg[0] == '-')
            return cli_usage_error("repl", "unknown option '%s'", arg);
        else if (!a->profile_name)
            a->profile_name = arg;
        else
            return cli_usage_error("repl", "unexpected argument '%s'", arg);
    }
    return -1;
}

/* The session's profile: named, or the only one; a fixture brings its own (*p may stay
 * NULL then). -1 (printed) when there is none to boot. */
static int pick_profile(const struct config *cfg, const struct repl_args *a,
                        const struct profile **p)
{
    *p = NULL;
    if (a->profile_name)
        *p = cli_find_profile(cfg, a->profile_name);
    else if (cfg->n_profiles == 1)
        *p = &cfg->profiles[0];
    else if (!a->fixture_arg) {
        char *names = config_profile_names(cfg);
        warnx_p("repl: %s; name one (known: %s)",
                cfg->n_profiles ? "several profiles" : "provium.toml defines no profile", names);
        free(names);
    }
    return !*p && (a->profile_name || !a->fixture_arg) ? -1 : 0;
}

int repl_prompt(lua_State *L, const char *banner)
{
    struct input in;
    input_open(&in);
    if (in.tty && banner)
        warnx_p("%s", banner);
    int rc = repl_loop(L, &in);
    input_close(&in);
    return rc;
}

int repl_stopped(void)
{
    return g_stop || g_int;
}

/* Says why the session ends early (a signal) and ends the prompt's line. */
static void say_stopped(void)
{
    if (isatty(STDERR_FILENO)) {
        fputc('\n', stdout); /* end the prompt's line */
        fflush(stdout);
    }
    warnx_p("%s; shutting the VMs down", g_stop ? strsignal(g_stop) : "interrupted");
}

static struct sigaction g_old[4];

void repl_begin(struct lstate *s)
{
    s->env.qemu_own_pgrp = 1; /* Ctrl-C at the prompt is ours, not QEMU's */
    install_signals(g_old);
    signal(SIGPIPE, SIG_IGN);
    lua_getglobal(s->L, "os");
    lua_pushcfunction(s->L, repl_os_exit);
    lua_setfield(s->L, -2, "exit");
    lua_pop(s->L, 1);
}

void repl_end(int rc)
{
    if (rc == 130)
        say_stopped();
    restore_signals(g_old);
}

int repl_exit_code(void)
{
    return g_exit_code;
}

/* Boots `vm` (or restores it from the fixture), then runs the prompt; returns the
 * session's exit code. */
static int session(struct lstate *s, const struct config *cfg, const struct profile *p,
                   const struct repl_args *a)
{
    char *fixture = a->fixture_arg ? fixture_name(cfg, a->fixture_arg) : NULL;
    if (fixture)
        warnx_p("restoring fixture `%s`", fixture);
    else
        warnx_p("booting `%s` (%s)", a->name ? a->name : p->name, s->env.accel);
    int64_t t0 = now_ns();
    int rc;
    int started = start_vm(s->L, &s->env, a->name, p, fixture);
    if (g_stop || g_int)
        rc = 130; /* interrupted while booting */
    else if (started < 0)
        rc = 1;
    else {
        char banner[256];
        snprintf(banner, sizeof banner, "`vm` is ready (%.1fs); `provium` is the lab. "
                 ".exit or Ctrl-D quits.", (double)(now_ns() - t0) / 1e9);
        rc = repl_prompt(s->L, banner);
    }
    if (rc == 130)
        say_stopped();
    free(fixture);
    return rc;
}

int cmd_repl(int argc, char **argv)
{
    struct repl_args a = {0};
    int rc = parse_repl_args(argc, argv, &a);
    if (rc >= 0)
        return rc;
    struct config *cfg = cli_load_config(a.config_path);
    if (!cfg)
        return 2;
    const struct profile *p;
    struct run_opts ro = {0};
    struct lstate *s = NULL;
    char *file = NULL;
    rc = 2;
    if (pick_profile(cfg, &a, &p) < 0 || cli_session_env(cfg, p, a.no_build, 1, &ro, NULL) < 0)
        goto done;
    char *cwd = path_resolve(NULL, ".");
    file = path_join(cwd, "(repl)"); /* relative host paths resolve against cwd */
    free(cwd);
    if (!(s = lstate_open(cfg, &ro, NULL, file, "(repl)", on_event, NULL)))
        goto done;
    repl_begin(s);
    rc = session(s, cfg, p, &a);
    lstate_close(s, 0); /* every VM the session made shuts down, with our handlers on */
    s = NULL;
    repl_end(0);
done:
    lstate_close(s, 0);
    free(file);
    free(ro.agent_bin);
    config_free(cfg);
    return rc;
}
