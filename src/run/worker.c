/* worker.c - runs one test file inside its own process and Lua state.
 *
 * Order of work: load and run the chunk (registering tests), apply filters, run each
 * test in a scoped lab with its own deadline, tear the scoped lab down, and finally
 * the file lab. Every outcome is an event written as one JSON line to the parent. */
#include "failsnap.h"
#include "lstate.h"
#include "run.h"
#include "watchdog.h"

#include "lua/lapi.h"
#include "lua/lfile.h"
#include "lua/llab.h"
#include "lua/llabsnap.h"
#include "lua/lproc.h"
#include "lua/ltest.h"
#include "vm/vm.h"
#include "util/units.h"

#include <errno.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct worker {
    int evfd;
    int replyfd; /* the parent's answers to pool requests, -1 when none */
    const struct run_opts *ro;
    const char *rel_path;
    const struct config *cfg;
    const char *abs_path;
};

/* Writes one event line: {"kind":..., "path":..., ...payload}. Steals obj. */
static void emit(void *ud, const char *kind, void *obj)
{
    struct worker *w = ud;
    json_t *o = obj ? obj : json_object();
    json_object_set_new(o, "kind", json_string(kind));
    if (!json_object_get(o, "path"))
        json_object_set_new(o, "path", json_string(w->rel_path));
    char *s = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    if (!s)
        return;
    size_t n = strlen(s);
    s = xrealloc(s, n + 2);
    s[n] = '\n';
    write_all(w->evfd, s, n + 1);
    free(s);
}

/* ---- the run's pool and barriers, through the parent ---- */

/* Blocks until the parent's next answer line (without its newline; "" when the parent
 * is gone). */
static void read_answer(struct worker *w, char *line, size_t cap)
{
    size_t n = 0;
    while (n < cap - 1) {
        ssize_t r = read(w->replyfd, line + n, 1);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0 || line[n] == '\n')
            break;
        n++;
    }
    line[n] = 0;
}

/* Asks the parent for memory and vCPUs and blocks until it answers "ok" or "err <why>".
 * Time spent waiting is given back to the test's deadline: pool waits never count. */
static int pool_ask(struct host_env *env, const char *kind, uint64_t memory, int cpus,
                    char *err, size_t errlen)
{
    struct worker *w = env->pool_ud;
    emit(w, kind, json_pack("{s:I, s:i}", "memory_bytes", (json_int_t)memory, "cpus", cpus));
    int64_t t0 = now_ns();
    char line[2048];
    read_answer(w, line, sizeof line);
    if (env->deadline_ns)
        env->deadline_ns += now_ns() - t0;
    watchdog_extend(now_ns() - t0);
    if (!strcmp(line, "ok"))
        return 0;
    snprintf(err, errlen, "%s", !strncmp(line, "err ", 4) ? line + 4 : "the run's scheduler went away");
    return -1;
}

static int pool_acquire(struct host_env *env, uint64_t memory, int cpus, char *err,
                        size_t errlen)
{
    return pool_ask(env, "pool_acquire", memory, cpus, err, errlen);
}

/* provium:claim: the file's whole VM budget, reserved at once. */
static int pool_claim(struct host_env *env, uint64_t memory, int cpus, char *err, size_t errlen)
{
    return pool_ask(env, "pool_claim", memory, cpus, err, errlen);
}

static void pool_release(struct host_env *env, uint64_t memory, int cpus)
{
    emit(env->pool_ud, "pool_release",
         json_pack("{s:I, s:i}", "memory_bytes", (json_int_t)memory, "cpus", cpus));
}

/* lab:barrier: arrives at `name` and blocks until the parent (runner_barrier.c)
 * answers: released, the deadline passed (it answers then, so the test's deadline
 * still cuts the wait) or a count mismatch. Barrier waits count against deadlines. */
static int barrier_wait(struct lua_host *h, const char *name, int count, int64_t deadline_ns,
                        char *why, size_t whylen)
{
    struct worker *w = h->emit_ud;
    emit(w, "barrier_wait", json_pack("{s:s, s:i, s:I}", "name", name, "count", count,
                                      "deadline_ns", (json_int_t)deadline_ns));
    char line[2048];
    read_answer(w, line, sizeof line);
    if (!strcmp(line, "ok"))
        return 1;
    snprintf(why, whylen, "%s", !strncmp(line, "err ", 4) ? line + 4 : "the run's scheduler went away");
    return strncmp(line, "err ", 4) ? -1 : 0;
}

/* ---- deadline enforcement for pure-Lua loops (and, set by the watchdog at the
 * deadline with count 1, right after a blocking C call it ended) ---- */
static struct lua_host *g_hook_host;

static void deadline_hook(lua_State *L, lua_Debug *ar)
{
    (void)ar;
    struct lua_host *h = g_hook_host;
    if (h && h->env->deadline_ns && now_ns() >= h->env->deadline_ns) {
        h->timed_out = 1;
        luaL_error(L, "test timeout exceeded");
    }
}

/* ---- filters (spec §3.1) ---- */

static int meta_has_tag(lua_State *L, int meta, const char *tag)
{
    int found = 0;
    int t = lua_getfield(L, meta, "tags");
    if (t == LUA_TSTRING)
        found = !strcmp(lua_tostring(L, -1), tag);
    else if (t == LUA_TTABLE) {
        lua_Integer n = luaL_len(L, -1);
        for (lua_Integer i = 1; i <= n && !found; i++) {
            lua_rawgeti(L, -1, i);
            found = lua_type(L, -1) == LUA_TSTRING && !strcmp(lua_tostring(L, -1), tag);
            lua_pop(L, 1);
        }
    }
    lua_pop(L, 1);
    return found;
}

/* K=V matches when meta[K] equals V (as a string) or is an array holding V. */
static int meta_matches(lua_State *L, int meta, const char *kv)
{
    const char *eq = strchr(kv, '=');
    if (!eq)
        return 0;
    char *key = xstrndup(kv, (size_t)(eq - kv));
    const char *val = eq + 1;
    int found = 0;
    int t = lua_getfield(L, meta, key);
    free(key);
    if (t == LUA_TTABLE) {
        lua_Integer n = luaL_len(L, -1);
        for (lua_Integer i = 1; i <= n && !found; i++) {
            lua_rawgeti(L, -1, i);
            const char *s = lua_type(L, -1) == LUA_TNIL ? NULL : luaL_tolstring(L, -1, NULL);
            found = s && !strcmp(s, val);
            lua_settop(L, lua_gettop(L) - (s ? 2 : 1));
        }
    } else if (t != LUA_TNIL) {
        const char *s = luaL_tolstring(L, -1, NULL);
        found = !strcmp(s, val);
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
    return found;
}

/* all K=V pairs: OR within a key, AND across keys */
static int tag_meta_pass(lua_State *L, int meta, const struct strv *pairs)
{
    for (size_t i = 0; i < pairs->n; i++) {
        const char *eq = strchr(pairs->v[i], '=');
        size_t kl = eq ? (size_t)(eq - pairs->v[i]) : strlen(pairs->v[i]);
        int any = 0;
        for (size_t j = 0; j < pairs->n; j++)
            if (!strncmp(pairs->v[j], pairs->v[i], kl) && pairs->v[j][kl] == '=')
                any |= meta_matches(L, meta, pairs->v[j]);
        if (!any)
            return 0;
    }
    return 1;
}

/* Returns NULL when the test runs, else the skip reason (pushed on the stack). */
static const char *filter_reason(lua_State *L, int meta, const struct run_opts *ro)
{
    int t = lua_getfield(L, meta, "skip");
    if (t == LUA_TSTRING) {
        return lua_tostring(L, -1);
    }
    if ((t == LUA_TBOOLEAN && lua_toboolean(L, -1)) ||
        (t == LUA_TNUMBER && lua_tonumber(L, -1) != 0)) {
        lua_pop(L, 1);
        lua_pushliteral(L, "skipped");
        return lua_tostring(L, -1);
    }
    lua_pop(L, 1);
    lua_getfield(L, meta, "slow");
    int slow = lua_toboolean(L, -1);
    lua_pop(L, 1);
    if (slow && !ro->include_slow) {
        lua_pushliteral(L, "slow test (use --include-slow)");
        return lua_tostring(L, -1);
    }
    for (size_t i = 0; i < ro->no_tags.n; i++)
        if (meta_has_tag(L, meta, ro->no_tags.v[i])) {
            lua_pushfstring(L, "excluded by --no-tag %s", ro->no_tags.v[i]);
            return lua_tostring(L, -1);
        }
    if (ro->tags.n) {
        int any = 0;
        for (size_t i = 0; i < ro->tags.n; i++)
            any |= meta_has_tag(L, meta, ro->tags.v[i]);
        if (!any) {
            lua_pushliteral(L, "no --tag matches");
            return lua_tostring(L, -1);
        }
    }
    for (size_t i = 0; i < ro->no_tag_meta.n; i++)
        if (meta_matches(L, meta, ro->no_tag_meta.v[i])) {
            lua_pushfstring(L, "excluded by --no-tag-meta %s", ro->no_tag_meta.v[i]);
            return lua_tostring(L, -1);
        }
    if (ro->tag_meta.n && !tag_meta_pass(L, meta, &ro->tag_meta)) {
        lua_pushliteral(L, "no --tag-meta matches");
        return lua_tostring(L, -1);
    }
    return NULL;
}

/* Lua table -> JSON (for meta); errors become null. */
static json_t *meta_json(lua_State *L, int idx)
{
    lua_getglobal(L, "json");
    lua_getfield(L, -1, "encode");
    lua_pushvalue(L, idx);
    json_t *j = NULL;
    if (lua_pcall(L, 1, 1, 0) == LUA_OK)
        j = json_loads(lua_tostring(L, -1), JSON_DECODE_ANY, NULL);
    lua_pop(L, 2);
    if (!j || json_is_array(j)) {
        json_decref(j);
        j = json_object();
    }
    return j;
}

static const char *error_text(lua_State *L, int idx)
{
    return lapi_report_text(L, idx); /* any value; NUL bytes kept visible */
}

/* ---- one test ---- */

/* What one test came to. */
struct outcome {
    int failed, skipped;
    const char *reason, *log; /* from its context (Lua strings, on the stack) */
    char *message;            /* why it failed */
    char *console;            /* its labs' console excerpts, when it failed */
    int64_t dur;
};

/* The test's meta.timeout (seconds, or a duration string) when positive, else dflt. */
static double test_timeout(lua_State *L, int meta, double dflt)
{
    double timeout = dflt;
    if (lua_getfield(L, meta, "timeout") != LUA_TNIL) {
        double d = 0;
        if (lua_type(L, -1) == LUA_TNUMBER)
            d = lua_tonumber(L, -1);
        else if (lua_type(L, -1) == LUA_TSTRING && units_parse_duration(lua_tostring(L, -1), 0, &d) < 0)
            d = 0;
        if (d > 0)
            timeout = d;
    }
    lua_pop(L, 1);
    return timeout;
}

/* Pushes the file lab and the test's scoped lab test:<name>, its child, which becomes
 * `provium`; returns the scoped lab's index (the file lab is just below it). */
static int enter_test_lab(lua_State *L, struct lua_host *h, const char *name)
{
    lua_rawgeti(L, LUA_REGISTRYINDEX, h->file_lab_ref);
    int file_lab = lua_gettop(L);
    char *lab_name = xasprintf("test:%s", name);
    llab_push_new(L, lab_name, file_lab);
    free(lab_name);
    int scoped = lua_gettop(L);
    lua_pushvalue(L, scoped);
    lua_setglobal(L, "provium");
    return scoped;
}

/* The body's message handler: keeps the traceback of a raise for --keep-failed's
 * failure.json (registry "provium.traceback"); the error itself goes on unchanged. */
static int body_traceback(lua_State *L)
{
    luaL_traceback(L, L, NULL, 1);
    lua_setfield(L, LUA_REGISTRYINDEX, "provium.traceback");
    lua_settop(L, 1);
    return 1;
}

/* Calls the body of the test at entry with its context, under the deadline; leaves the
 * context at *ctx (and the error above it on failure), returns lua_pcall's status. */
static int call_body(lua_State *L, struct lua_host *h, int entry, const char *name,
                     double timeout, int *ctx, int64_t *dur)
{
    int64_t t0 = now_ns();
    lua_pushnil(L);
    lua_setfield(L, LUA_REGISTRYINDEX, "provium.traceback");
    lua_pushcfunction(L, body_traceback);
    int mh = lua_gettop(L);
    h->timed_out = 0;
    h->env->deadline_ns = timeout > 0 ? t0 + (int64_t)(timeout * 1e9) : 0;
    if (h->env->deadline_ns) {
        lua_sethook(L, deadline_hook, LUA_MASKCOUNT, 1000);
        watchdog_arm(L, deadline_hook, h->env->deadline_ns);
    }
    lua_getfield(L, entry, "fn");
    ltest_push_context(L, entry);
    int c = lua_gettop(L);
    lua_pushvalue(L, c);
    lua_insert(L, c - 1); /* keep a copy of ctx below fn */
    *ctx = c - 2; /* once mh is removed */
    h->current_test = name;
    int rc = lua_pcall(L, 1, 0, mh);
    lua_remove(L, mh);
    h->current_test = NULL;
    watchdog_disarm(); /* before the hook goes: the watchdog sets none after this */
    lua_sethook(L, NULL, 0, 0);
    *dur = now_ns() - t0;
    if (h->env->deadline_ns && now_ns() >= h->env->deadline_ns)
        h->timed_out = 1;
    h->env->deadline_ns = 0;
    lfile_close_test_files(L); /* before the scoped lab's VMs go */
    lproc_end_test(L, name);
    return rc;
}

/* The verdict: the context's state, the body's error (t:skip raises a sentinel), the
 * deadline. */
static void judge(lua_State *L, const struct lua_host *h, int ctx, int rc, struct outcome *o)
{
    o->failed = ltest_context_state(L, ctx, &o->reason, &o->log, &o->skipped);
    if (h->timed_out) {
        o->failed = 1;
        o->skipped = 0;
        o->message = xstrdup("test timeout exceeded");
    } else if (rc != LUA_OK) {
        const char *e = error_text(L, -1);
        if (o->skipped && !strcmp(e, LTEST_SKIP_SENTINEL)) {
            /* t:skip */
        } else {
            o->skipped = 0;
            o->failed = 1;
            o->message = xstrdup(o->reason ? o->reason : e);
        }
    } else if (o->failed) {
        o->message = xstrdup(o->reason ? o->reason : "assertion failed");
    }
    if (o->failed)
        o->skipped = 0;
}

/* test_skipped, test_failed or test_passed. Guest output, t:log text and names may
 * hold any bytes: escaped, never dropped. */
static void emit_outcome(struct worker *w, const char *shown, json_t *mj, const struct outcome *o)
{
    if (o->skipped)
        emit(w, "test_skipped",
             json_pack("{s:s, s:o, s:O, s:o}", "name", shown, "reason",
                       json_text(o->reason ? o->reason : "skipped"), "meta", mj, "log",
                       json_text(o->log)));
    else if (o->failed)
        emit(w, "test_failed",
             json_pack("{s:s, s:I, s:o, s:o, s:O, s:o}", "name", shown, "duration_ns",
                       (json_int_t)o->dur, "reason", json_text(o->message), "console_excerpt",
                       json_text(o->console ? o->console : ""), "meta", mj, "log",
                       json_text(o->log)));
    else
        emit(w, "test_passed", json_pack("{s:s, s:O, s:I, s:o}", "name", shown, "meta", mj,
                                         "duration_ns", (json_int_t)o->dur, "log",
                                         json_text(o->log)));
}

/* --keep-failed: the failed test's lab tree, saved before its teardown; the directory
 * is named first in the console excerpt (so in JUnit's <system-out>). A snapshot that
 * cannot be taken is a warning, the test's result stays. */
static void keep_failure(lua_State *L, struct worker *w, struct lua_host *h, int file_lab,
                         int scoped, const char *name, struct outcome *o)
{
    lua_getfield(L, LUA_REGISTRYINDEX, "provium.traceback");
    struct failsnap_info fi = {w->abs_path, w->rel_path, name, o->message,
                               lua_tostring(L, -1), h->timed_out};
    char err[8192];
    char *dir = failsnap_take(L, w->ro, w->cfg, file_lab, scoped, &fi, err, sizeof err);
    lua_pop(L, 1);
    if (!dir) {
        if (err[0])
            warnx_p("warning: --keep-failed: test '%s': %s", name, err);
        return;
    }
    char *c = xasprintf("failure snapshot: %s\n%s", dir, o->console ? o->console : "");
    free(o->console);
    o->console = c;
    free(dir);
}

/* Runs the test whose entry table is at `entry`, unless a filter skips it. */
static void run_one_test(lua_State *L, struct worker *w, struct lua_host *h, int entry)
{
    lua_getfield(L, entry, "name");
    const char *name = lua_tostring(L, -1);
    char *shown = utf8_escape(name); /* the name in every event */
    lua_getfield(L, entry, "meta");
    int meta = lua_gettop(L);
    json_t *mj = meta_json(L, meta);
    struct outcome o = {0};

    const char *why = filter_reason(L, meta, w->ro);
    if (why) {
        emit(w, "test_skipped",
             json_pack("{s:s, s:o, s:O}", "name", shown, "reason", json_text(why), "meta", mj));
        goto done;
    }
    lua_settop(L, meta);
    emit(w, "test_started", json_pack("{s:s, s:O}", "name", shown, "meta", mj));
    double timeout = test_timeout(L, meta, h->file_timeout);
    int scoped = enter_test_lab(L, h, name), file_lab = scoped - 1;
    int ctx;
    int rc = call_body(L, h, entry, name, timeout, &ctx, &o.dur);
    judge(L, h, ctx, rc, &o);
    if (o.failed) {
        struct buf b = {0};
        llab_collect_consoles(L, scoped, &b);
        llab_collect_consoles(L, file_lab, &b);
        o.console = buf_cstr(&b);
        if (w->ro->keep_failed)
            keep_failure(L, w, h, file_lab, scoped, name, &o);
    }
    /* tear down the scoped lab; on timeout the whole file lab goes too */
    llab_teardown(L, scoped, h->timed_out);
    if (h->timed_out)
        llab_teardown(L, file_lab, 1);
    lua_rawgeti(L, LUA_REGISTRYINDEX, h->file_lab_ref);
    lua_setglobal(L, "provium");
    emit_outcome(w, shown, mj, &o);
done:
    free(o.message);
    free(o.console);
    free(shown);
    json_decref(mj);
    lua_settop(L, entry);
    if (!why)
        lua_gc(L, LUA_GCCOLLECT);
}

/* ---- the file ---- */

/* --rerun-failed narrows a file to the tests that failed last time (recorded with
 * their names as reported, escaped). */
static int selected(const struct run_opts *ro, const char *name)
{
    if (!ro->only_tests.n)
        return 1;
    char *shown = utf8_escape(name);
    int found = 0;
    for (size_t i = 0; i < ro->only_tests.n && shown && !found; i++)
        found = !strcmp(ro->only_tests.v[i], shown);
    free(shown);
    return found;
}

static int message_handler(lua_State *L)
{
    lapi_report_text(L, 1);
    return 1;
}

/* Loads and runs the file's chunk, which registers its tests; on failure the error
 * (as report text) is left on top. */
static int run_chunk(lua_State *L, const char *abs_path)
{
    lua_pushcfunction(L, message_handler);
    int mh = lua_gettop(L);
    int rc = luaL_loadfile(L, abs_path);
    if (rc == LUA_OK)
        rc = lua_pcall(L, 0, 0, mh);
    if (rc == LUA_OK)
        lua_settop(L, mh - 1);
    return rc;
}

/* The chunk failed: the VMs it started are killed and chunk_error carries their
 * consoles. Closes s; returns the worker's exit code. */
static int chunk_failed(struct lstate *s, struct worker *w)
{
    lua_State *L = s->L;
    json_t *o = json_pack("{s:o}", "error", json_text(error_text(L, -1)));
    g_hook_host = NULL; /* it goes with s */
    struct buf b = {0};
    lua_rawgeti(L, LUA_REGISTRYINDEX, s->host.file_lab_ref);
    llab_collect_consoles(L, -1, &b);
    lstate_close(s, 1);
    json_object_set_new(o, "console_excerpt", json_text(b.len ? buf_cstr(&b) : ""));
    emit(w, "chunk_error", o);
    buf_free(&b);
    return 1;
}

/* Announces the tests this worker will run (names and metas) so that a crash can
 * report them. */
static void announce_tests(lua_State *L, struct worker *w, int tests, lua_Integer n)
{
    json_t *names = json_array(), *metas = json_array();
    for (lua_Integer i = 1; i <= n; i++) {
        lua_rawgeti(L, tests, i);
        lua_getfield(L, -1, "name");
        lua_getfield(L, -2, "meta");
        if (selected(w->ro, lua_tostring(L, -2))) {
            json_array_append_new(names, json_text(lua_tostring(L, -2)));
            json_array_append_new(metas, meta_json(L, lua_gettop(L)));
        }
        lua_pop(L, 3);
    }
    emit(w, "tests_registered", json_pack("{s:o, s:o}", "names", names, "metas", metas));
}

/* A test that does not run: failed when the file lab's baseline could not be taken or
 * restored (reset_error), else skipped with the file's todo reason. */
static void not_run(lua_State *L, struct worker *w, int entry, const char *reset_error,
                    const char *todo)
{
    lua_getfield(L, entry, "name");
    if (reset_error) {
        emit(w, "test_failed", json_pack("{s:o, s:i, s:o, s:s, s:{}, s:s}", "name",
                                         json_text(lua_tostring(L, -1)), "duration_ns", 0,
                                         "reason", json_text(reset_error), "console_excerpt",
                                         "", "meta", "log", ""));
        return;
    }
    lua_getfield(L, entry, "meta");
    json_t *mj = meta_json(L, lua_gettop(L));
    emit(w, "test_skipped", json_pack("{s:o, s:o, s:o}", "name", json_text(lua_tostring(L, -2)),
                                      "reason", json_text(todo), "meta", mj));
}

/* provium.reset_between_tests: a baseline of the file lab, restored after each test.
 * NULL with *reset_error set when it cannot be taken. */
static char *take_baseline(lua_State *L, const struct lua_host *h, char **reset_error)
{
    char err[8192];
    lua_rawgeti(L, LUA_REGISTRYINDEX, h->file_lab_ref);
    char *baseline = llabsnap_take(L, -1, NULL, err, sizeof err);
    lua_pop(L, 1);
    if (!baseline)
        *reset_error = xasprintf("reset_between_tests: baseline snapshot: %s", err);
    return baseline;
}

static void reset_to_baseline(lua_State *L, const struct lua_host *h, const char *baseline,
                              char **reset_error)
{
    char err[8192];
    lua_rawgeti(L, LUA_REGISTRYINDEX, h->file_lab_ref);
    if (llabsnap_reset(L, -1, baseline, err, sizeof err) < 0)
        *reset_error = xasprintf("reset_between_tests: restoring the baseline: %s", err);
}

/* Runs the registered tests in order (those --rerun-failed selects). */
static void run_tests(lua_State *L, struct worker *w, struct lua_host *h)
{
    lua_getfield(L, LUA_REGISTRYINDEX, "provium.tests");
    int tests = lua_gettop(L);
    lua_Integer n = lua_istable(L, tests) ? luaL_len(L, tests) : 0;
    announce_tests(L, w, tests, n);
    lua_getfield(L, LUA_REGISTRYINDEX, "provium.todo");
    const char *todo = lua_tostring(L, -1);
    char *baseline = NULL, *reset_error = NULL;
    if (h->reset_between_tests && !todo && n > 0)
        baseline = take_baseline(L, h, &reset_error);
    for (lua_Integer i = 1; i <= n; i++) {
        lua_rawgeti(L, tests, i);
        int entry = lua_gettop(L);
        lua_getfield(L, entry, "name");
        int wanted = selected(w->ro, lua_tostring(L, -1));
        lua_pop(L, 1);
        if (!wanted) {
            /* --rerun-failed: this one passed last time */
        } else if (reset_error || todo) {
            not_run(L, w, entry, reset_error, todo);
        } else {
            run_one_test(L, w, h, entry);
            if (baseline && i < n)
                reset_to_baseline(L, h, baseline, &reset_error);
        }
        lua_settop(L, entry - 1);
    }
    free(baseline);
    free(reset_error);
}

int worker_run(const struct run_opts *ro, const struct config *cfg, const char *abs_path,
               const char *rel_path, const char *scratch, int evfd, int replyfd)
{
    signal(SIGPIPE, SIG_IGN);
    signal(SIGINT, SIG_DFL); /* SIGTERM and SIGHUP: the watchdog's (jobs.c starts it) */
    struct worker w = {evfd, replyfd, ro, rel_path, cfg, abs_path};
    struct lstate *s = lstate_open(cfg, ro, scratch, abs_path, rel_path, emit, &w);
    if (!s)
        return 1;
    if (replyfd >= 0) {
        s->env.pool_acquire = pool_acquire;
        s->env.pool_claim = pool_claim;
        s->env.pool_release = pool_release;
        s->env.pool_ud = &w;
        s->host.barrier = barrier_wait;
    }
    g_hook_host = &s->host;
    if (run_chunk(s->L, abs_path) != LUA_OK)
        return chunk_failed(s, &w);
    run_tests(s->L, &w, &s->host);
    g_hook_host = NULL; /* it goes with s */
    lstate_close(s, 0);
    /* the parent counts a worker that ends without this (os.exit, abort) as crashed */
    emit(&w, "file_done", NULL);
    return 0;
}
