/* debug.c - `provium debug DIR`: reopen a failure `--keep-failed` kept (run/failsnap.c).
 *
 * DIR is <keep-failed dir>/<file>/<test>/. Its failure.json names the profiles with
 * their kernel/initrd identity (fixture/key.c's file_identity); when one changed since,
 * the restore is refused (exit 2) unless --force. Then one Lua state is set up as the
 * REPL's (lstate_open, repl.c's signals and os.exit), the lab snapshot in DIR/lab is
 * restored into `provium` (same VM and bridge names, same network rules: lab:restore),
 * every VM is bound in the table `vms` by name and, when its name is a Lua identifier
 * not already a global, as a global too; bridges likewise in `bridges`. Then:
 *   - the REPL (repl_prompt), the failure's message printed first; without a terminal
 *     the Lua read from stdin runs line by line, exit 1 if a line raised;
 *   - --console NAME: that VM's serial console on this terminal (Ctrl-] leaves);
 *   - --run FILE::TEST: FILE's chunk runs (registering its tests, running none), then
 *     TEST's body alone with `t` against the restored lab: exit 0 pass, 1 fail.
 * The session's VMs are shut down on the way out; the failure directory is untouched. */
#include "cli.h"

#include "config/config.h"
#include "fixture/fixture.h"
#include "lua/lapi.h"
#include "lua/ltest.h"
#include "lua/lvm.h"
#include "run/failsnap.h"
#include "run/lstate.h"
#include "run/run.h"
#include "vm/conlog.h"
#include "vm/vm.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

static const char DEBUG_USAGE[] =
    "usage: provium debug DIR [--console NAME | --run FILE::TEST] [--force] [--config FILE]\n"
    "\n"
    "Reopens a failed test kept by `provium --keep-failed` (DIR is\n"
    "<keep-failed dir>/<file>/<test>): restores its lab, every VM where the failure left\n"
    "it, and opens the Lua prompt with `provium` (the lab), `vms` and `bridges` (by\n"
    "name) and each VM whose name is a Lua identifier as a global. Without a terminal\n"
    "the Lua read from stdin runs (exit 1 if a line raised). The VMs are shut down at\n"
    "the end; DIR is left as it is.\n"
    "\n"
    "  --console NAME   that VM's serial console on this terminal instead (Ctrl-] leaves;\n"
    "                   piped, the input is typed in and the console shown until 2 s after\n"
    "                   its end)\n"
    "  --run FILE::TEST run FILE's test TEST against the restored lab (its other tests do\n"
    "                   not run): exit 0 when it passes, 1 when it fails. FILE's top level\n"
    "                   runs first, then the body: both must start from what a restore\n"
    "                   gives, looking VMs up (provium:vm(\"box\")) rather than making\n"
    "                   and booting fresh ones\n"
    "  --force          restore even though a profile's kernel or initrd changed\n"
    "  --config FILE    provium.toml to use (default: the one the failed run used)\n";

struct debug_args {
    const char *dir, *config_path, *console, *run;
    int force;
};

static int parse_debug_args(int argc, char **argv, struct debug_args *a)
{
    int err = 0;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        const char *v;
        if (!strcmp(arg, "--help") || !strcmp(arg, "-h")) {
            fputs(DEBUG_USAGE, stdout);
            return 0;
        } else if ((v = cli_flag_value(argc, argv, &i, "--config", &err)))
            a->config_path = v;
        else if ((v = cli_flag_value(argc, argv, &i, "--console", &err)))
            a->console = v;
        else if ((v = cli_flag_value(argc, argv, &i, "--run", &err)))
            a->run = v;
        else if (err)
            return 2;
        else if (!strcmp(arg, "--force"))
            a->force = 1;
        else if (arg[0] == '-')
            return cli_usage_error("debug", "unknown option '%s'", arg);
        else if (!a->dir)
            a->dir = arg;
        else
            return cli_usage_error("debug", "unexpected argument '%s'", arg);
    }
    if (!a->dir)
        return cli_usage_error("debug", "missing DIR");
    if (a->console && a->run)
        return cli_usage_error("debug", "--console and --run exclude each other");
    if (a->run && !strstr(a->run, "::"))
        return cli_usage_error("debug", "--run wants FILE::TEST, got '%s'", a->run);
    return -1;
}

/* DIR/failure.json, checked; NULL (printed) when it is not a failure directory. */
static json_t *load_failure(const char *dir)
{
    char *path = path_join(dir, "failure.json");
    json_error_t je;
    json_t *doc = json_load_file(path, 0, &je);
    const char *fmt = doc ? json_string_value(json_object_get(doc, "format")) : NULL;
    if (!doc)
        warnx_p("%s: %s", path, file_exists(path) ? je.text
                                                  : "not a failure kept by --keep-failed");
    else if (!fmt || strcmp(fmt, FAILSNAP_FORMAT) != 0) {
        warnx_p("%s: not a %s file", path, FAILSNAP_FORMAT);
        json_decref(doc);
        doc = NULL;
    }
    free(path);
    return doc;
}

/* "<path>\n<size>\n<mtime>" -> one line for a message */
static void say_identity(struct buf *b, const char *id)
{
    for (const char *c = id; *c; c++)
        buf_printf(b, "%c", *c == '\n' ? ' ' : *c);
}

/* One file of a profile: appends why it differs from the recorded identity; 1 if so. */
static int file_changed(struct buf *why, const char *pname, const char *what,
                        const char *recorded, const char *path)
{
    char *now = path ? file_identity(path) : NULL;
    int changed = (recorded == NULL) != (now == NULL) || (now && strcmp(recorded, now) != 0);
    if (changed) {
        buf_printf(why, "\n  profile '%s': the %s changed since the failure (was: ", pname, what);
        say_identity(why, recorded ? recorded : "none");
        buf_puts(why, "; now: ");
        say_identity(why, now ? now : "none");
        buf_puts(why, ")");
    }
    free(now);
    return changed;
}

/* Compares each recorded profile's kernel and initrd with the config's now: 0 same,
 * -1 with the differences printed. */
static int check_profiles(const struct config *cfg, json_t *failure)
{
    struct buf why = {0};
    int bad = 0;
    size_t i;
    json_t *rec;
    json_array_foreach(json_object_get(failure, "profiles"), i, rec) {
        const char *name = json_string_value(json_object_get(rec, "name"));
        const struct profile *p = name ? config_profile(cfg, name) : NULL;
        if (!p) {
            buf_printf(&why, "\n  profile '%s' is no longer defined", name ? name : "?");
            bad = 1;
            continue;
        }
        bad |= file_changed(&why, name, "kernel",
                            json_string_value(json_object_get(rec, "kernel")), p->kernel);
        bad |= file_changed(&why, name, "initrd",
                            json_string_value(json_object_get(rec, "initrd")), p->initrd);
    }
    if (bad)
        warnx_p("debug: refusing to restore:%s\n(--force restores anyway)", buf_cstr(&why));
    buf_free(&why);
    return bad ? -1 : 0;
}

/* Restores DIR/lab into `provium` and binds the VMs and bridges by name. */
static const char RESTORE[] =
    "local dir, names, bnames = ...\n"
    "provium:restore(dir)\n"
    "vms, bridges = {}, {}\n"
    "local function bind(t, name, v)\n"
    "  t[name] = v\n"
    "  if name:match('^[%a_][%w_]*$') and rawget(_G, name) == nil then _G[name] = v end\n"
    "end\n"
    "for _, n in ipairs(names) do bind(vms, n, provium:vm(n)) end\n"
    "for _, n in ipairs(bnames) do bind(bridges, n, provium:bridge(n)) end\n";

/* Pushes the `name`s of the records in the lab.json array `key` as a Lua list. */
static void push_names(lua_State *L, json_t *index, const char *key)
{
    lua_newtable(L);
    size_t i;
    json_t *rec;
    json_array_foreach(json_object_get(index, key), i, rec) {
        const char *name = json_string_value(json_object_get(rec, "name"));
        const char *lab = json_string_value(json_object_get(rec, "lab"));
        if (name && (!lab || !lab[0])) {
            lua_pushstring(L, name);
            lua_rawseti(L, -2, (lua_Integer)lua_rawlen(L, -2) + 1);
        }
    }
}

static int restore_lab(struct lstate *s, const char *dir)
{
    char *labdir = path_join(dir, "lab");
    char *index = path_join(labdir, "lab.json");
    json_t *doc = json_load_file(index, 0, NULL);
    luaL_loadbuffer(s->L, RESTORE, sizeof RESTORE - 1, "=debug");
    lua_pushstring(s->L, labdir);
    push_names(s->L, doc, "vms");
    push_names(s->L, doc, "bridges");
    int rc = repl_call(s->L, &s->env, 3);
    json_decref(doc);
    free(index);
    free(labdir);
    return rc;
}

/* A timed-out test may have left guest requests in flight: the restored VMs' agent
 * connections start at the ids the failure recorded, so none is reused. */
static void skip_used_ids(struct lstate *s, json_t *failure)
{
    const char *name;
    json_t *id;
    json_object_foreach(json_object_get(failure, "agent_next_id"), name, id) {
        lua_getglobal(s->L, "vms");
        lua_getfield(s->L, -1, name);
        struct vm *vm = lvm_test(s->L, -1);
        if (vm && json_integer_value(id) > vm->agent.next_id)
            vm->agent.next_id = (uint32_t)json_integer_value(id);
        lua_pop(s->L, 2);
    }
}

/* The failure, said on entry. */
static void say_failure(json_t *f, const char *dir, double secs)
{
    const char *reason = json_string_value(json_object_get(f, "reason"));
    warnx_p("restored %s (%.1fs)", dir, secs);
    warnx_p("test '%s' of %s failed at %s:", json_string_value(json_object_get(f, "test")),
            json_string_value(json_object_get(f, "file")),
            json_string_value(json_object_get(f, "time")));
    fprintf(stderr, "    %s\n", reason ? reason : "?");
    fflush(stderr);
}

/* ---- --console NAME ---- */

/* Copies new console bytes to stdout from *pos; 0, -1 when stdout is gone. */
static int pump_console(struct vm *vm, uint64_t *pos)
{
    struct buf b = {0};
    conlog_read(vm->con, pos, 1 << 16, &b);
    int rc = b.len && write_all(STDOUT_FILENO, b.data, b.len) < 0 ? -1 : 0;
    buf_free(&b);
    return rc;
}

/* The VM's serial console on this terminal (raw) until Ctrl-], EOF or a signal. */
static int attach_console(struct vm *vm)
{
    struct termios saved, raw;
    int tty = isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &saved) == 0;
    if (tty) {
        raw = saved;
        cfmakeraw(&raw);
        tcsetattr(STDIN_FILENO, TCSANOW, &raw);
    }
    warnx_p("console of `%s`; Ctrl-] leaves%s", vm->name, tty ? "\r" : "");
    uint64_t end = conlog_end(vm->con), start = conlog_start(vm->con);
    uint64_t pos = end > start + 4096 ? end - 4096 : start; /* some context first */
    int rc = 0;
    int64_t until = 0; /* set at the end of piped input: the console's answer, then out */
    while (!repl_stopped() && vm->qemu_pid > 0 && (!until || now_ns() < until)) {
        if (pump_console(vm, &pos) < 0)
            break;
        struct pollfd pf = {STDIN_FILENO, POLLIN, 0};
        if (until) {
            sleep_ms(50);
            continue;
        }
        if (poll(&pf, 1, 50) <= 0)
            continue;
        char c[256];
        ssize_t n = read(STDIN_FILENO, c, sizeof c);
        if (n <= 0) {
            if (tty && n < 0 && errno == EINTR)
                continue;
            until = now_ns() + 2000000000LL;
            continue;
        }
        char *quit = memchr(c, 0x1d, (size_t)n);
        size_t len = quit ? (size_t)(quit - c) : (size_t)n, done = 0;
        if (len)
            vm_console_write(vm, c, len, now_ns() + 1000000000LL, &done);
        if (quit)
            break;
    }
    if (tty)
        tcsetattr(STDIN_FILENO, TCSANOW, &saved);
    fputc('\n', stderr);
    return rc;
}

static const char FIND_VM[] = "local n = ...; provium_debug_vm = provium:vm(n)";

static int console_session(struct lstate *s, const char *name)
{
    luaL_loadbuffer(s->L, FIND_VM, sizeof FIND_VM - 1, "=debug");
    lua_pushstring(s->L, name);
    int rc = repl_call(s->L, &s->env, 1);
    if (rc)
        return rc == 1 ? 2 : rc;
    lua_getglobal(s->L, "provium_debug_vm");
    struct vm *vm = lvm_test(s->L, -1);
    rc = vm && vm->con ? attach_console(vm) : 2;
    lua_settop(s->L, 0);
    return rc;
}

/* ---- --run FILE::TEST ---- */

/* Pushes the entry of the test called name from the tests FILE's chunk registered, or
 * nothing (0, printed). */
static int find_test(lua_State *L, const char *file, const char *name)
{
    lua_getfield(L, LUA_REGISTRYINDEX, "provium.tests");
    int tests = lua_gettop(L);
    lua_Integer n = lua_istable(L, tests) ? luaL_len(L, tests) : 0;
    for (lua_Integer i = 1; i <= n; i++) {
        lua_rawgeti(L, tests, i);
        lua_getfield(L, -1, "name");
        int match = lua_type(L, -1) == LUA_TSTRING && !strcmp(lua_tostring(L, -1), name);
        lua_pop(L, 1);
        if (match) {
            lua_remove(L, tests);
            return 1;
        }
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
    warnx_p("debug: %s registers no test named '%s'", file, name);
    return 0;
}

/* Runs FILE's chunk, then TEST's body with a fresh `t`; 0 passed, 1 failed. */
static int run_test(struct lstate *s, const char *abs, const char *name)
{
    lua_State *L = s->L;
    if (luaL_loadfile(L, abs) != LUA_OK) {
        warnx_p("%s", lua_tostring(L, -1));
        lua_settop(L, 0);
        return 1;
    }
    int rc = repl_call(L, &s->env, 0);
    if (rc)
        return rc == 2 ? repl_exit_code() : rc;
    if (!find_test(L, abs, name))
        return 2;
    int entry = lua_gettop(L);
    lua_getfield(L, entry, "fn");
    ltest_push_context(L, entry);
    int ctx = lua_gettop(L);
    lua_pushvalue(L, ctx - 1);
    lua_pushvalue(L, ctx);
    lhost(L)->current_test = name;
    rc = repl_call(L, &s->env, 1);
    lhost(L)->current_test = NULL;
    if (rc == 130 || rc == 2) {
        lua_settop(L, 0);
        return rc == 2 ? repl_exit_code() : rc;
    }
    const char *reason = NULL, *log = NULL;
    int skipped = 0;
    int failed = ltest_context_state(L, ctx, &reason, &log, &skipped) || rc;
    if (failed)
        printf("FAIL %s%s%s\n", name, reason ? ": " : "", reason ? reason : "");
    else
        printf("%s %s\n", skipped ? "SKIP" : "PASS", name);
    fflush(stdout);
    lua_settop(L, 0);
    return failed ? 1 : 0;
}

/* ---- the command ---- */

/* The session over the restored lab: the prompt, the console or the test. */
static int session(struct lstate *s, const struct debug_args *a, const char *dir,
                   json_t *failure, const char *run_abs)
{
    int64_t t0 = now_ns();
    int rc = restore_lab(s, dir);
    if (rc)
        return rc == 1 ? 1 : rc;
    skip_used_ids(s, failure);
    say_failure(failure, dir, (double)(now_ns() - t0) / 1e9);
    if (a->console)
        return console_session(s, a->console);
    if (run_abs)
        return run_test(s, run_abs, strstr(a->run, "::") + 2);
    return repl_prompt(s->L, "`provium` is the restored lab; `vms` and `bridges` hold its "
                             "VMs and bridges by name. .exit or Ctrl-D quits.");
}

/* The test file of --run FILE::TEST, absolute (malloc'd), or NULL. */
static char *run_file(const struct debug_args *a)
{
    if (!a->run)
        return NULL;
    char *file = xstrndup(a->run, (size_t)(strstr(a->run, "::") - a->run));
    char *abs = path_resolve(NULL, file);
    free(file);
    return abs;
}

int cmd_debug(int argc, char **argv)
{
    struct debug_args a = {0};
    int rc = parse_debug_args(argc, argv, &a);
    if (rc >= 0)
        return rc;
    char *dir = path_resolve(NULL, a.dir), *run_abs = run_file(&a), *file = NULL;
    json_t *failure = load_failure(dir);
    struct config *cfg = NULL;
    struct run_opts ro = {0};
    struct lstate *s = NULL;
    rc = 2;
    const char *cfg_path = a.config_path ? a.config_path
                                         : json_string_value(json_object_get(failure, "config"));
    if (!failure || !(cfg = cli_load_config(cfg_path)))
        goto done;
    if (!a.force && check_profiles(cfg, failure) < 0)
        goto done;
    if (cli_session_env(cfg, NULL, 1, 1, &ro, NULL) < 0)
        goto done;
    char *cwd = path_resolve(NULL, ".");
    file = run_abs ? xstrdup(run_abs) : path_join(cwd, "(debug)");
    free(cwd);
    if (!(s = lstate_open(cfg, &ro, NULL, file, "(debug)", NULL, NULL)))
        goto done;
    repl_begin(s);
    rc = session(s, &a, dir, failure, run_abs);
    lstate_close(s, 0); /* the session's VMs shut down, with the REPL's handlers on */
    s = NULL;
    repl_end(rc);
done:
    lstate_close(s, 0);
    json_decref(failure);
    free(file);
    free(run_abs);
    free(dir);
    free(ro.agent_bin);
    config_free(cfg);
    return rc;
}
