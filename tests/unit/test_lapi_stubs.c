/* test_lapi_stubs.c - the LuaLS annotations against the methods this build registers.
 *
 * `provium lsp-setup` and `provium init` write src/cli/lsp_types.lua (compiled in as
 * LSP_TYPES_LUA). It must declare exactly what works: every `function Class:m(` is a
 * real method of the metatable provium.<Class> (not a "not supported" stub), every
 * real method of those metatables is declared, and every global function it declares
 * exists. The stubs lapi_open installs for the specification's missing methods must
 * raise "<chunk>:<line>: <obj>:<method>: not supported". */
#include "config/config.h"
#include "lua/lapi.h"
#include "tests/unit/testlib.h"
#include "util/util.h"
#include "vm/vm.h"

#include "lsp_types.h" /* generated: LSP_TYPES_LUA */

#include <stdlib.h>
#include <string.h>

static lua_State *L;

/* Classes with a method table in the annotations that are not metatables: `b` of
 * vm:batch is a plain table of recorders. */
static int is_plain_table(const char *cls) { return !strcmp(cls, "Batch"); }

/* The annotations' "function A:b(" (kind ':'), "function a.b(" ('.'), "function a(" (0). */
struct decl {
    char owner[64], name[64];
    char kind;
};

static size_t parse_decls(struct decl **out, struct strv *classes)
{
    size_t n = 0;
    *out = NULL;
    for (const char *line = LSP_TYPES_LUA; line && *line; line = strchr(line, '\n')) {
        if (*line == '\n')
            line++;
        char a[64], b[64];
        if (sscanf(line, "local %63[A-Za-z_] = {}", a) == 1) {
            strv_push(classes, a);
            continue;
        }
        if (strncmp(line, "function ", 9))
            continue;
        struct decl d = {0};
        if (sscanf(line + 9, "%63[A-Za-z_]:%63[A-Za-z_](", a, b) == 2)
            d.kind = ':';
        else if (sscanf(line + 9, "%63[A-Za-z_].%63[A-Za-z_](", a, b) == 2)
            d.kind = '.';
        else if (sscanf(line + 9, "%63[A-Za-z_](", a) == 1)
            b[0] = 0;
        else
            continue;
        snprintf(d.owner, sizeof d.owner, "%s", a);
        snprintf(d.name, sizeof d.name, "%s", b);
        *out = xrealloc(*out, (n + 1) * sizeof **out);
        (*out)[n++] = d;
    }
    return n;
}

static int push_methods_of(const char *cls)
{
    char mt[96];
    snprintf(mt, sizeof mt, "provium.%s", cls);
    return lapi_push_methods(L, mt);
}

/* Every declared method, field function and global exists for real. */
static void declared_methods_exist(void)
{
    struct decl *d;
    struct strv classes = {0};
    size_t n = parse_decls(&d, &classes);
    CHECK(n > 100);
    for (size_t i = 0; i < n; i++) {
        int top = lua_gettop(L);
        if (d[i].kind == ':' && is_plain_table(d[i].owner))
            continue;
        if (d[i].kind == ':') {
            if (!CHECK_MSG(push_methods_of(d[i].owner), "no metatable provium.%s", d[i].owner))
                continue;
            lua_getfield(L, -1, d[i].name);
        } else if (d[i].kind == '.') {
            lua_getglobal(L, d[i].owner);
            lua_getfield(L, -1, d[i].name);
        } else {
            lua_getglobal(L, d[i].owner);
        }
        CHECK_MSG(lua_isfunction(L, -1), "%s%c%s is declared (lsp_types.lua) but does not exist",
                  d[i].owner, d[i].kind ? d[i].kind : ' ', d[i].name);
        CHECK_MSG(lua_tocfunction(L, -1) != lapi_not_supported,
                  "%s:%s is declared but only raises `not supported`", d[i].owner, d[i].name);
        lua_settop(L, top);
    }
    free(d);
    strv_free(&classes);
}

static int declared(const struct decl *d, size_t n, const char *cls, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (d[i].kind == ':' && !strcmp(d[i].owner, cls) && !strcmp(d[i].name, name))
            return 1;
    return 0;
}

/* Every real method of an annotated class is declared; every stub raises the API error. */
static void registered_methods_declared(void)
{
    struct decl *d;
    struct strv classes = {0};
    size_t n = parse_decls(&d, &classes);
    int stubs = 0;
    for (size_t c = 0; c < classes.n; c++) {
        const char *cls = classes.v[c];
        if (is_plain_table(cls) || !CHECK_MSG(push_methods_of(cls), "no metatable provium.%s", cls))
            continue;
        int methods = lua_gettop(L);
        lua_pushnil(L);
        while (lua_next(L, methods)) {
            const char *name = lua_tostring(L, -2);
            if (lua_tocfunction(L, -1) != lapi_not_supported) {
                CHECK_MSG(declared(d, n, cls, name),
                          "%s:%s exists but is not declared in src/cli/lsp_types.lua", cls, name);
            } else {
                stubs++;
                lua_getupvalue(L, -1, 1); /* "vm:wakeup" */
                char *want = xasprintf("stubs:1: %s: not supported", lua_tostring(L, -1));
                lua_pop(L, 1);
                luaL_loadbuffer(L, "local f = ...; f()", 18, "=stubs");
                lua_pushvalue(L, -2);
                CHECK(lua_pcall(L, 1, 0, 0) != LUA_OK);
                CHECK_STR_EQ(lua_tostring(L, -1), want);
                free(want);
                lua_pop(L, 1);
            }
            lua_pop(L, 1);
        }
        lua_pop(L, 1);
    }
    CHECK(stubs > 0); /* the spec's methods this build lacks (lapi.c): at least the
                         [later] tier, vm:syscall and friends */
    CHECK(push_methods_of("Vm"));
    lua_getfield(L, -1, "syscall");
    CHECK(lua_tocfunction(L, -1) == lapi_not_supported);
    lua_pop(L, 2);
    free(d);
    strv_free(&classes);
}

int main(void)
{
    struct config cfg = {0};
    struct host_env env = {.cfg = &cfg};
    struct lua_host h = {.env = &env, .file = "/nonexistent/x.test.lua", .rel_path = "x.test.lua"};
    L = luaL_newstate();
    lapi_open(L, &h);
    RUN(declared_methods_exist);
    RUN(registered_methods_declared);
    lua_close(L);
    return TEST_SUMMARY();
}
