/* lproc.c - the Process userdata: vm:run_async(cmd, ...) and p:wait/kill/signal/pid,
 * p:stdin_write/close_stdin and p:stdout_stream/stderr_stream.
 *
 * A Process is a guest process started through the agent without waiting for it; its
 * output collects in the background while other guest calls run (vm_proc in
 * vm_ops.c). p:wait(timeout?) returns the RunResult and consumes the handle; on
 * timeout the process group is killed and the status is `timed_out`. A process still
 * running when the test that started it ends, or closed with p:close(), gets TERM (its
 * group), then KILL after 2 s (spec §3.2, §4.3); one whose Process is collected is
 * killed at once. The Process keeps its Vm in its uservalue.
 *
 * stdin: a pipe that stays open until p:close_stdin() or p:wait() (which closes it
 * first); `stdin = "..."` writes the string and closes it at once. stdin_write after
 * close_stdin, after wait, or once the exit is known raises. Output streams read the
 * same buffers as the RunResult, by position and from the first byte, so the
 * RunResult still has everything a stream returned; once a stream is open the output
 * outlives the wait (or close), and the stream ends after its last byte. */
#include "lproc.h"

#include "lrunargs.h"
#include "lstream.h"
#include "lvm.h"

#include "util/util.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define PROC_MT "provium.Process"
static const char PROCS_KEY = 'p'; /* registry: {Process = test name or true}, weak keys */

struct lproc {
    struct vm_proc *p; /* NULL once consumed */
    struct vm *vm;
    uint32_t handle;
    int64_t pid;
    int exited;
    int stdin_closed;
    int keep;              /* a stream is open: the output outlives the guest process */
    int have_last;         /* last holds it (after wait, close or the test's end) */
    struct exec_res last;
};

static struct lproc *check_proc(lua_State *L)
{
    struct lproc *u = luaL_checkudata(L, 1, PROC_MT);
    lua_getiuservalue(L, 1, 1);
    u->vm = lvm_check(L, -1); /* the Vm keeps its struct alive while we reference it */
    lua_pop(L, 1);
    return u;
}

static void forget(lua_State *L, int idx)
{
    lapi_push_weak_registry(L, &PROCS_KEY);
    lua_pushvalue(L, idx);
    lua_pushnil(L);
    lua_rawset(L, -3);
    lua_pop(L, 1);
}

/* Lets the guest process go. With a stream open, its output stays in u->last: the
 * result of a wait (res, moved) or else what had arrived. Frees res. */
static void release(struct lproc *u, struct exec_res *res)
{
    if (u->keep && !u->have_last && res) {
        u->last = *res;
        memset(res, 0, sizeof *res);
    } else if (u->keep && !u->have_last) {
        const char *d[2];
        size_t n[2];
        vm_proc_output(u->p, 1, &d[0], &n[0]);
        vm_proc_output(u->p, 2, &d[1], &n[1]);
        u->last.out = xmalloc(n[0] + 1);
        u->last.err = xmalloc(n[1] + 1);
        memcpy(u->last.out, n[0] ? d[0] : "", n[0]);
        memcpy(u->last.err, n[1] ? d[1] : "", n[1]);
        u->last.out_len = n[0];
        u->last.err_len = n[1];
    }
    u->have_last |= u->keep;
    if (res)
        exec_res_free(res);
    vm_proc_free(u->vm, u->p);
    u->p = NULL;
}

/* Kills the process group (within 5 s; not at all when talk is pointless) and frees. */
static void kill_and_free(lua_State *L, struct lproc *u, int talk)
{
    if (!u->p)
        return;
    struct host_env *env = lhost(L)->env;
    int64_t saved = env->deadline_ns;
    env->deadline_ns = now_ns() + 5000000000LL;
    int gerr;
    if (talk && u->vm->state == VM_BOOTED && vm_proc_running(u->vm, u->p))
        vm_proc_signal(u->vm, u->p, -SIGKILL, &gerr);
    env->deadline_ns = saved;
    vm_proc_free(u->vm, u->p);
    u->p = NULL;
}

/* p:close() and scope end, for several processes at once: TERM to every group first,
 * then each gets what is left of the same 2 s before vm_proc_wait kills its group and
 * collects the exit. Frees them all. */
static void term_then_kill(lua_State *L, struct lproc **us, size_t n, int talk)
{
    struct host_env *env = lhost(L)->env;
    int64_t saved = env->deadline_ns;
    env->deadline_ns = now_ns() + 10000000000LL;
    int64_t grace = now_ns() + 2000000000LL;
    int gerr;
    for (size_t i = 0; talk && i < n; i++)
        if (us[i]->vm->state == VM_BOOTED && vm_proc_running(us[i]->vm, us[i]->p))
            vm_proc_signal(us[i]->vm, us[i]->p, -SIGTERM, &gerr);
    for (size_t i = 0; i < n; i++) {
        struct lproc *u = us[i];
        struct exec_res res;
        int waited = 0;
        if (talk && u->vm->state == VM_BOOTED && vm_proc_running(u->vm, u->p)) {
            double left = (double)(grace - now_ns()) / 1e9;
            waited = vm_proc_wait(u->vm, u->p, left > 0.01 ? left : 0.01, &res, &gerr) ==
                     VMOP_OK;
        }
        release(u, waited ? &res : NULL);
        u->exited = 1;
    }
    env->deadline_ns = saved;
}

/* Raises for what a stdin call (method) returned. */
static void stdin_failed(lua_State *L, struct lproc *u, const char *method, int rc, int gerr)
{
    if (rc == VMOP_TIMEOUT) {
        lhost(L)->timed_out = 1;
        lapi_raise(L, method, "test timeout exceeded");
    }
    if (rc == VMOP_GUEST && gerr == EPIPE)
        lapi_raise(L, method, "broken pipe: the process has exited");
    lapi_raise_vmop(L, method, u->vm, rc, gerr, NULL);
}

/* run_async{stdin = s}: s goes in and stdin is closed; a process that exits before
 * taking it all is not an error (as vm:run). */
static void feed_stdin(lua_State *L, struct lproc *u, const struct exec_req *req)
{
    int gerr = 0;
    int rc = vm_proc_stdin_write(u->vm, u->p, req->stdin_data, req->stdin_len, &gerr);
    if (rc == VMOP_OK || (rc == VMOP_GUEST && gerr == EPIPE))
        rc = vm_proc_close_stdin(u->vm, u->p);
    u->stdin_closed = 1;
    if (rc != VMOP_OK)
        stdin_failed(L, u, "vm:run_async", rc, gerr);
}

/* vm:run_async(cmd, ...) */
static int vm_run_async_l(lua_State *L)
{
    struct vm *vm = lvm_need_booted(L, 1, "vm:run_async");
    struct exec_req req = {0};
    lrunargs_parse(L, "vm:run_async", 1, &req); /* the strings belong to a userdata */
    /* the Process first: once the guest process runs, nothing may raise before it is held */
    struct lproc *u = lua_newuserdatauv(L, sizeof *u, 1);
    memset(u, 0, sizeof *u);
    lua_pushvalue(L, 1);
    lua_setiuservalue(L, -2, 1);
    struct vm_proc *p = NULL;
    int gerr = 0;
    int rc = vm_exec_start(vm, &req, &p, &gerr);
    if (rc != VMOP_OK)
        return lapi_raise_vmop(L, "vm:run_async", vm, rc, gerr, NULL);
    u->p = p;
    u->vm = vm;
    u->handle = vm_proc_id(p);
    u->pid = vm_proc_pid(p);
    luaL_setmetatable(L, PROC_MT);
    /* remember which test started it (weak keys: collection still works) */
    lapi_push_weak_registry(L, &PROCS_KEY);
    lua_pushvalue(L, -2);
    const char *test = lhost(L)->current_test;
    if (test)
        lua_pushstring(L, test);
    else
        lua_pushboolean(L, 1);
    lua_rawset(L, -3);
    lua_pop(L, 1);
    if (req.has_stdin)
        feed_stdin(L, u, &req);
    return 1;
}

static int proc_wait_l(lua_State *L)
{
    struct lproc *u = check_proc(L);
    double timeout = 0;
    if (!lua_isnoneornil(L, 2)) {
        timeout = lapi_check_duration(L, 2, "proc:wait");
        if (timeout <= 0)
            return lapi_raise(L, "proc:wait", "a timeout of 0 would never wait; omit it to wait "
                                              "for the exit");
    }
    if (!u->p)
        return lapi_raise(L, "proc:wait", "the process was already waited for");
    struct exec_res res;
    int gerr = 0;
    int rc = vm_proc_close_stdin(u->vm, u->p); /* a process reading stdin sees its end */
    u->stdin_closed = 1;
    if (rc == VMOP_OK)
        rc = vm_proc_wait(u->vm, u->p, timeout, &res, &gerr);
    if (rc == VMOP_TIMEOUT) {
        lhost(L)->timed_out = 1;
        return lapi_raise(L, "proc:wait", "test timeout exceeded");
    }
    if (rc == VMOP_OK)
        lvm_push_result(L, &res);
    release(u, rc == VMOP_OK ? &res : NULL);
    u->exited = 1;
    forget(L, 1);
    if (rc != VMOP_OK)
        return lapi_raise_vmop(L, "proc:wait", u->vm, rc, gerr, NULL);
    return 1;
}

/* p:stdin_write(data) -> #data, once the agent has it. */
static int proc_stdin_write_l(lua_State *L)
{
    struct lproc *u = check_proc(L);
    size_t len;
    const char *data = luaL_checklstring(L, 2, &len);
    if (!u->p)
        return lapi_raise(L, "proc:stdin_write", "the process was already waited for");
    if (u->stdin_closed)
        return lapi_raise(L, "proc:stdin_write", "stdin is closed (close_stdin or stdin=)");
    int gerr = 0;
    int rc = vm_proc_stdin_write(u->vm, u->p, data, len, &gerr);
    if (rc != VMOP_OK)
        stdin_failed(L, u, "proc:stdin_write", rc, gerr);
    lua_pushinteger(L, (lua_Integer)len);
    return 1;
}

/* p:close_stdin(): the process reads EOF once it has read what was written; again, or
 * after wait, a no-op. */
static int proc_close_stdin_l(lua_State *L)
{
    struct lproc *u = check_proc(L);
    if (!u->p || u->stdin_closed)
        return 0;
    u->stdin_closed = 1;
    int rc = vm_proc_close_stdin(u->vm, u->p);
    if (rc != VMOP_OK)
        stdin_failed(L, u, "proc:close_stdin", rc, 0);
    return 0;
}

/* A Stream's pull (lstream.h): the output past *pos, live while the process runs. */
static int proc_pull(lua_State *L, int idx, int which, uint64_t *pos, struct buf *out)
{
    struct lproc *u = lua_touserdata(L, idx);
    lua_getiuservalue(L, idx, 1);
    struct vm *vm = lvm_test(L, -1);
    lua_pop(L, 1);
    const char *data = NULL;
    size_t len = 0;
    int ended = 1;
    if (u->p && vm) {
        ended = !vm_proc_running(vm, u->p); /* first: the exit comes after the output */
        vm_proc_output(u->p, which, &data, &len);
    } else if (u->have_last) {
        data = which == 2 ? u->last.err : u->last.out;
        len = which == 2 ? u->last.err_len : u->last.out_len;
    }
    if (*pos < len) {
        buf_append(out, data + *pos, len - *pos);
        *pos = len;
        return 0;
    }
    return ended ? -1 : 0;
}

static int open_stream(lua_State *L, int which, const char *method)
{
    struct lproc *u = check_proc(L);
    if (!u->p && !u->have_last)
        return lapi_raise(L, method, "the process was already waited for: its output is "
                                     "in the RunResult (open streams before wait)");
    u->keep = 1;
    char what[160];
    snprintf(what, sizeof what, "%s of process %d on %s", which == 2 ? "stderr" : "stdout",
             (int)u->pid, u->vm->name);
    lua_getiuservalue(L, 1, 1);
    return lstream_source(L, -1, 1, proc_pull, which, what);
}

static int proc_stdout_stream_l(lua_State *L) { return open_stream(L, 1, "proc:stdout_stream"); }
static int proc_stderr_stream_l(lua_State *L) { return open_stream(L, 2, "proc:stderr_stream"); }

/* Signal names as p:kill/p:signal take them: "term", "TERM", "sigterm", "SIGTERM", 15. */
static int check_signal(lua_State *L, int idx, int dflt, const char *method)
{
    if (lua_isnoneornil(L, idx))
        return dflt;
    if (lua_isinteger(L, idx)) {
        lua_Integer n = lua_tointeger(L, idx);
        if (n < 1 || n > 64)
            lapi_raise(L, method, "no signal %d", (int)n);
        return (int)n;
    }
    static const struct {
        const char *name;
        int sig;
    } names[] = {{"term", SIGTERM}, {"kill", SIGKILL}, {"int", SIGINT},   {"hup", SIGHUP},
                 {"quit", SIGQUIT}, {"stop", SIGSTOP}, {"cont", SIGCONT}, {"usr1", SIGUSR1},
                 {"usr2", SIGUSR2}, {"alrm", SIGALRM}, {"pipe", SIGPIPE}, {"chld", SIGCHLD},
                 {"winch", SIGWINCH}};
    const char *s = luaL_checkstring(L, idx);
    if (!strncasecmp(s, "sig", 3))
        s += 3;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (!strcasecmp(s, names[i].name))
            return names[i].sig;
    lapi_raise(L, method, "unknown signal '%s'", lua_tostring(L, idx));
    return 0;
}

static int send_signal(lua_State *L, const char *method, int dflt)
{
    struct lproc *u = check_proc(L);
    int sig = check_signal(L, 2, dflt, method);
    if (!u->p)
        return lapi_raise(L, method, "the process was already waited for");
    int gerr = 0;
    int rc = vm_proc_signal(u->vm, u->p, sig, &gerr);
    if (rc != VMOP_OK)
        return lapi_raise_vmop(L, method, u->vm, rc, gerr, NULL);
    lua_settop(L, 1);
    return 1;
}

static int proc_kill_l(lua_State *L) { return send_signal(L, "proc:kill", SIGTERM); }
static int proc_signal_l(lua_State *L)
{
    luaL_checkany(L, 2);
    return send_signal(L, "proc:signal", SIGTERM);
}

static int proc_pid_l(lua_State *L)
{
    lua_pushinteger(L, check_proc(L)->pid);
    return 1;
}

static int proc_handle_l(lua_State *L)
{
    lua_pushinteger(L, check_proc(L)->handle);
    return 1;
}

static int proc_status_l(lua_State *L)
{
    struct lproc *u = check_proc(L);
    const char *s = u->exited                       ? "exited"
                    : !u->p                         ? "unknown"
                    : !vm_proc_alive(u->vm, u->p)   ? "unknown"
                    : vm_proc_running(u->vm, u->p)  ? "running"
                                                    : "exited";
    lua_pushstring(L, s);
    return 1;
}

/* p:close(): TERM, then KILL after 2 s; a no-op once waited for. */
static int proc_close_l(lua_State *L)
{
    struct lproc *u = check_proc(L);
    if (u->p) {
        term_then_kill(L, &u, 1, 1);
        forget(L, 1);
    }
    return 0;
}

static int proc_tostring_l(lua_State *L)
{
    struct lproc *u = check_proc(L);
    lua_pushfstring(L, "process(%d on %s)", (int)u->pid, u->vm->name);
    return 1;
}

static int proc_gc_l(lua_State *L)
{
    struct lproc *u = luaL_checkudata(L, 1, PROC_MT);
    lua_getiuservalue(L, 1, 1);
    u->vm = lvm_test(L, -1);
    if (u->vm)
        kill_and_free(L, u, 1);
    exec_res_free(&u->last);
    return 0;
}

void lproc_end_test(lua_State *L, const char *test)
{
    lapi_push_weak_registry(L, &PROCS_KEY);
    int t = lua_gettop(L);
    lua_newtable(L);
    int done = lua_gettop(L);
    lua_pushnil(L);
    while (lua_next(L, t)) {
        if (lua_type(L, -1) == LUA_TSTRING && test && !strcmp(lua_tostring(L, -1), test)) {
            lua_pushvalue(L, -2);
            lua_rawseti(L, done, (lua_Integer)lua_rawlen(L, done) + 1);
        }
        lua_pop(L, 1);
    }
    size_t n = lua_rawlen(L, done), k = 0;
    struct lproc **us = xcalloc(n ? n : 1, sizeof *us);
    for (lua_Integer i = 1; i <= (lua_Integer)n; i++) {
        lua_rawgeti(L, done, i);
        struct lproc *u = lua_touserdata(L, -1);
        lua_getiuservalue(L, -1, 1);
        u->vm = lvm_test(L, -1);
        if (u->vm && u->p)
            us[k++] = u;
        lua_pop(L, 1);
        lua_pushnil(L);
        lua_rawset(L, t);
    }
    /* a timed-out test has no time left to talk to the guest: only forget them */
    term_then_kill(L, us, k, !lhost(L)->timed_out);
    free(us);
    lua_settop(L, t - 1);
}

void lproc_open(lua_State *L)
{
    static const luaL_Reg methods[] = {
        {"wait", proc_wait_l}, {"kill", proc_kill_l}, {"signal", proc_signal_l},
        {"pid", proc_pid_l}, {"handle", proc_handle_l}, {"status", proc_status_l},
        {"close", proc_close_l}, {"stdin_write", proc_stdin_write_l},
        {"close_stdin", proc_close_stdin_l}, {"stdout_stream", proc_stdout_stream_l},
        {"stderr_stream", proc_stderr_stream_l}, {NULL, NULL}};
    static const luaL_Reg metamethods[] = {
        {"__tostring", proc_tostring_l}, {"__gc", proc_gc_l}, {NULL, NULL}};
    static const luaL_Reg vm_methods[] = {{"run_async", vm_run_async_l}, {NULL, NULL}};
    lapi_newclass(L, PROC_MT, methods, metamethods);
    lapi_add_methods(L, "provium.Vm", vm_methods);
}
