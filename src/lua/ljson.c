/* ljson.c - the `json` global: json.encode(value) and json.decode(string).
 *
 * Tables whose keys are exactly positive integers become arrays (holes -> null); an
 * empty table is `{}`; number and boolean keys become strings. Decoding keeps
 * integers as Lua integers (unsigned ones beyond int64 wrap, keeping their bits),
 * drops null members and leaves holes for null elements. */
#include "ljson.h"

#include "util/util.h"

#include <jansson.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define MAX_DEPTH 128

/* Encoding raises on a value JSON cannot hold, possibly deep inside a table whose
 * containers already exist. So every json_t is attached to its parent as soon as it is
 * made, and the root lives in a box userdata whose __gc drops it: a raise leaves the
 * partial tree to the collector instead of leaking it. */
#define JBOX_MT "provium.JsonBox"

struct jbox {
    json_t *j;
};

static int jbox_gc_l(lua_State *L)
{
    struct jbox *b = luaL_checkudata(L, 1, JBOX_MT);
    json_decref(b->j);
    b->j = NULL;
    return 0;
}

/* Pushes a box owning j (a new reference). */
static struct jbox *push_box(lua_State *L, json_t *j)
{
    struct jbox *b = lua_newuserdatauv(L, sizeof *b, 0);
    b->j = NULL;
    if (luaL_newmetatable(L, JBOX_MT)) {
        lua_pushcfunction(L, jbox_gc_l);
        lua_setfield(L, -2, "__gc");
    }
    lua_setmetatable(L, -2);
    b->j = j;
    return b;
}

/* Attaches the new value v to parent: appended to an array, or member key of an object. */
static json_t *attach(json_t *parent, const char *key, json_t *v)
{
    if (key)
        json_object_set_new(parent, key, v);
    else
        json_array_append_new(parent, v);
    return v;
}

static void to_json(lua_State *L, int idx, int depth, json_t *parent, const char *key);

static int is_array(lua_State *L, int idx, lua_Integer *max_out)
{
    lua_Integer max = 0, count = 0;
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        lua_pop(L, 1);
        if (!lua_isinteger(L, -1) || lua_tointeger(L, -1) < 1) {
            lua_pop(L, 1);
            return 0;
        }
        lua_Integer k = lua_tointeger(L, -1);
        if (k > max)
            max = k;
        count++;
    }
    *max_out = max;
    return count > 0;
}

static void table_to_json(lua_State *L, int idx, int depth, json_t *parent, const char *key)
{
    lua_Integer n;
    if (is_array(L, idx, &n)) {
        if (n > 100000000)
            luaL_error(L, "json.encode: array too sparse");
        json_t *a = attach(parent, key, json_array());
        for (lua_Integer i = 1; i <= n; i++) {
            lua_rawgeti(L, idx, i);
            to_json(L, lua_gettop(L), depth + 1, a, NULL);
            lua_pop(L, 1);
        }
        return;
    }
    json_t *o = attach(parent, key, json_object());
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        int vidx = lua_gettop(L);
        int kt = lua_type(L, -2);
        const char *k = NULL;
        if (kt == LUA_TSTRING)
            k = lua_tostring(L, -2);
        else if (kt == LUA_TNUMBER || kt == LUA_TBOOLEAN)
            k = luaL_tolstring(L, -2, NULL);
        else
            luaL_error(L, "json.encode: unsupported key type %s", luaL_typename(L, -2));
        to_json(L, vidx, depth + 1, o, k);
        lua_settop(L, vidx - 1);
    }
}

/* Encodes the value at idx and attaches it to parent (under key when an object). */
static void to_json(lua_State *L, int idx, int depth, json_t *parent, const char *key)
{
    if (depth > MAX_DEPTH)
        luaL_error(L, "json.encode: nesting too deep (cycle?)");
    switch (lua_type(L, idx)) {
    case LUA_TNIL:
        attach(parent, key, json_null());
        return;
    case LUA_TBOOLEAN:
        attach(parent, key, json_boolean(lua_toboolean(L, idx)));
        return;
    case LUA_TNUMBER:
        if (lua_isinteger(L, idx)) {
            attach(parent, key, json_integer(lua_tointeger(L, idx)));
            return;
        }
        if (!isfinite(lua_tonumber(L, idx)))
            luaL_error(L, "json.encode: cannot encode %s", lua_tostring(L, idx));
        attach(parent, key, json_real(lua_tonumber(L, idx)));
        return;
    case LUA_TSTRING: {
        size_t n;
        const char *s = lua_tolstring(L, idx, &n);
        json_t *j = json_stringn(s, n);
        if (!j)
            luaL_error(L, "json.encode: string is not valid UTF-8");
        attach(parent, key, j);
        return;
    }
    case LUA_TTABLE:
        luaL_checkstack(L, 8, "json.encode");
        table_to_json(L, idx, depth, parent, key);
        return;
    default:
        luaL_error(L, "json.encode: cannot encode a %s", luaL_typename(L, idx));
    }
}

static int json_encode_l(lua_State *L)
{
    luaL_checkany(L, 1);
    struct jbox *box = push_box(L, json_array()); /* the root goes in as element 0 */
    to_json(L, 1, 0, box->j, NULL);
    char *s = json_dumps(json_array_get(box->j, 0), JSON_COMPACT | JSON_ENCODE_ANY);
    if (!s)
        return luaL_error(L, "json.encode: encoding failed");
    lua_pushstring(L, s);
    free(s);
    return 1;
}

static void push_json(lua_State *L, json_t *j)
{
    luaL_checkstack(L, 4, "json.decode");
    switch (json_typeof(j)) {
    case JSON_NULL:
        lua_pushnil(L);
        break;
    case JSON_TRUE:
        lua_pushboolean(L, 1);
        break;
    case JSON_FALSE:
        lua_pushboolean(L, 0);
        break;
    case JSON_INTEGER:
        lua_pushinteger(L, (lua_Integer)json_integer_value(j));
        break;
    case JSON_REAL:
        lua_pushnumber(L, json_real_value(j));
        break;
    case JSON_STRING:
        lua_pushlstring(L, json_string_value(j), json_string_length(j));
        break;
    case JSON_ARRAY: {
        lua_createtable(L, (int)json_array_size(j), 0);
        for (size_t i = 0; i < json_array_size(j); i++) {
            json_t *e = json_array_get(j, i);
            if (json_is_null(e))
                continue;
            push_json(L, e);
            lua_rawseti(L, -2, (lua_Integer)i + 1);
        }
        break;
    }
    case JSON_OBJECT: {
        lua_newtable(L);
        const char *k = NULL;
        json_t *v;
        json_object_foreach(j, k, v)
        {
            if (json_is_null(v))
                continue;
            push_json(L, v);
            lua_setfield(L, -2, k);
        }
        break;
    }
    }
}

/* jansson refuses integers beyond int64. The spec keeps them: an unsigned value up to
 * 2^64-1 wraps to the signed integer with the same bits, a larger one becomes a float.
 * Returns a rewritten copy of the text, or NULL when nothing needs rewriting. */
static char *wrap_big_integers(const char *s, size_t n, size_t *outn)
{
    struct buf b = {0};
    int changed = 0, in_string = 0;
    size_t i = 0, last = 0;
    while (i < n) {
        char c = s[i];
        if (in_string) {
            if (c == '\\')
                i++;
            else if (c == '"')
                in_string = 0;
            i++;
            continue;
        }
        if (c == '"') {
            in_string = 1;
            i++;
            continue;
        }
        /* a number's first digit: not a fraction, an exponent or a negative number */
        int starts_number = c >= '0' && c <= '9' && (i == 0 || !strchr(".eE+-0123456789", s[i - 1]));
        if (!starts_number) {
            i++;
            continue;
        }
        size_t j = i;
        while (j < n && s[j] >= '0' && s[j] <= '9')
            j++;
        int integral = j >= n || (s[j] != '.' && s[j] != 'e' && s[j] != 'E');
        if (integral && j - i >= 19) {
            unsigned long long v = 0;
            int overflow = 0;
            for (size_t k = i; k < j; k++) {
                unsigned d = (unsigned)(s[k] - '0');
                if (v > (~0ULL - d) / 10)
                    overflow = 1;
                v = v * 10 + d;
            }
            if (overflow || v > (unsigned long long)INT64_MAX) {
                buf_append(&b, s + last, i - last);
                if (overflow)
                    buf_printf(&b, "%.*s.0", (int)(j - i), s + i);
                else
                    buf_printf(&b, "%lld", (long long)(int64_t)v);
                last = j;
                changed = 1;
            }
        }
        i = j;
    }
    if (!changed) {
        buf_free(&b);
        return NULL;
    }
    buf_append(&b, s + last, n - last);
    *outn = b.len;
    return buf_cstr(&b);
}

static int json_decode_l(lua_State *L)
{
    size_t n;
    const char *s = luaL_checklstring(L, 1, &n);
    json_error_t e;
    size_t wn = 0;
    char *wrapped = wrap_big_integers(s, n, &wn);
    json_t *j = wrapped ? json_loadb(wrapped, wn, JSON_DECODE_ANY | JSON_ALLOW_NUL, &e)
                        : json_loadb(s, n, JSON_DECODE_ANY | JSON_ALLOW_NUL, &e);
    free(wrapped);
    if (!j)
        return luaL_error(L, "json.decode: %s at line %d column %d", e.text, e.line, e.column);
    push_box(L, j); /* pushing the tables may raise (memory) */
    push_json(L, j);
    return 1;
}

void ljson_open(lua_State *L)
{
    static const luaL_Reg fns[] = {
        {"encode", json_encode_l}, {"decode", json_decode_l}, {NULL, NULL}};
    luaL_newlib(L, fns);
    lua_setglobal(L, "json");
}
