/* toml.c - the strict TOML 1.0 reader declared in toml.h.
 *
 * Why it looks like this: the reader is a plain recursive-descent parser over a byte
 * buffer with an explicit length, so it never depends on a NUL terminator and every
 * look-ahead goes through peek(), which returns -1 past the end. Positions are kept
 * incrementally (line, and column in code points) as the cursor moves, so any error
 * can point at the exact character at no extra cost.
 *
 * The work is done in three layers:
 *   1. toml_check_encoding(): one pass over the whole input rejecting invalid UTF-8 and
 *      bare carriage returns, so the rest of the code can treat bytes >= 0x80 as
 *      opaque parts of valid characters and '\r' as always followed by '\n'.
 *   2. The lexical readers: keys, strings (four kinds), numbers, booleans (all in
 *      toml_lex.c), then arrays and inline tables (here).
 *   3. The table rules of TOML 1.0 (what may be defined, extended or redefined),
 *      which live in descend_dotted(), descend_header(), define_table() and
 *      define_aot(), driven by flags on each node.
 *
 * Every node is allocated as a struct node, which starts with the public
 * struct toml_value and adds the bookkeeping the table rules need. Tables with many
 * keys get a small open-addressing hash index so big documents stay linear.
 *
 * Floats are converted with strtod(); Provium never calls setlocale(), so strtod()
 * works in the "C" locale and '.' is the decimal point.
 */
#include "toml_int.h"

#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------------- */
/* Nodes                                                                     */
/* ------------------------------------------------------------------------- */

#define F_IMPLICIT 1u  /* table created as a parent by a header such as [a.b]; [a] may still define it */
#define F_DEFINED  2u  /* table defined by [header], by [[header]], or the root */
#define F_DOTTED   4u  /* table created by a dotted key (a.b = 1); only more dotted keys may extend it */
#define F_INLINE   8u  /* inline table or array written with '=': closed to any later addition */
#define F_AOT     16u  /* array of tables created by [[header]] */

#define NOT_FOUND ((size_t)-1)
#define INDEX_MIN_KEYS 16  /* tables with at least this many keys get a hash index */

void toml_node_free(struct node *n)
{
    if (!n)
        return;
    if (n->v.type == TOML_STRING) {
        free(n->v.s);
    } else if (n->v.type == TOML_ARRAY) {
        for (size_t i = 0; i < n->v.n_items; i++)
            toml_node_free((struct node *)n->v.items[i]);
        free(n->v.items);
    } else if (n->v.type == TOML_TABLE) {
        for (size_t i = 0; i < n->v.n_keys; i++) {
            free(n->v.keys[i]);
            toml_node_free((struct node *)n->v.vals[i]);
        }
        free(n->v.keys);
        free(n->v.vals);
        free(n->v.key_line);
        free(n->v.key_col);
        free(n->index);
    }
    free(n);
}

/* ------------------------------------------------------------------------- */
/* Errors and node allocation (the cursor is inline in toml_int.h)            */
/* ------------------------------------------------------------------------- */

int toml_fail_at(struct parser *P, int line, int col, const char *fmt, ...)
{
    if (P->failed)
        return -1;
    P->failed = 1;
    P->err->line = line;
    P->err->col = col;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(P->err->msg, sizeof P->err->msg, fmt, ap);
    va_end(ap);
    return -1;
}

int toml_oom(struct parser *P)
{
    return fail(P, "out of memory");
}

struct node *toml_node_new(struct parser *P, enum toml_type type, int line, int col)
{
    struct node *n = calloc(1, sizeof *n);
    if (!n) {
        toml_oom(P);
        return NULL;
    }
    n->v.type = type;
    n->v.line = line;
    n->v.col = col;
    return n;
}

/* Tables and arrays go through here so the depth cap is enforced in one place. */
static struct node *container_new(struct parser *P, enum toml_type type, int depth,
                                  int line, int col, unsigned flags)
{
    if (depth > TOML_MAX_DEPTH) {
        toml_fail_at(P, line, col, "nesting too deep");
        return NULL;
    }
    struct node *n = toml_node_new(P, type, line, col);
    if (n) {
        n->depth = depth;
        n->flags = flags;
    }
    return n;
}

/* ------------------------------------------------------------------------- */
/* Tables and arrays                                                          */
/* ------------------------------------------------------------------------- */

static uint64_t hash_key(const char *s)
{
    uint64_t h = 14695981039346656037ull;   /* FNV-1a */
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ull;
    }
    return h;
}

static size_t tbl_find(const struct node *t, const char *key)
{
    if (t->index) {
        size_t mask = t->index_cap - 1;
        size_t h = (size_t)hash_key(key) & mask;
        for (;;) {
            size_t slot = t->index[h];
            if (!slot)
                return NOT_FOUND;
            if (strcmp(t->v.keys[slot - 1], key) == 0)
                return slot - 1;
            h = (h + 1) & mask;
        }
    }
    for (size_t i = 0; i < t->v.n_keys; i++)
        if (strcmp(t->v.keys[i], key) == 0)
            return i;
    return NOT_FOUND;
}

static void index_add(struct node *t, size_t i)
{
    size_t mask = t->index_cap - 1;
    size_t h = (size_t)hash_key(t->v.keys[i]) & mask;
    while (t->index[h])
        h = (h + 1) & mask;
    t->index[h] = i + 1;
}

/* (Re)build the index with room for 4x the keys. On allocation failure the table
 * simply falls back to linear search. */
static void index_build(struct node *t)
{
    size_t cap = 64;
    while (cap / 4 < t->v.n_keys && cap < SIZE_MAX / 2)
        cap *= 2;
    free(t->index);
    t->index = calloc(cap, sizeof *t->index);
    t->index_cap = t->index ? cap : 0;
    if (!t->index)
        return;
    for (size_t i = 0; i < t->v.n_keys; i++)
        index_add(t, i);
}

static int tbl_grow(struct node *t)
{
    size_t cap = t->cap ? t->cap * 2 : 4;
    char **keys = realloc(t->v.keys, cap * sizeof *keys);
    if (!keys)
        return -1;
    t->v.keys = keys;
    struct toml_value **vals = realloc(t->v.vals, cap * sizeof *vals);
    if (!vals)
        return -1;
    t->v.vals = vals;
    int *kl = realloc(t->v.key_line, cap * sizeof *kl);
    if (!kl)
        return -1;
    t->v.key_line = kl;
    int *kc = realloc(t->v.key_col, cap * sizeof *kc);
    if (!kc)
        return -1;
    t->v.key_col = kc;
    t->cap = cap;
    return 0;
}

/* Append key = val to table t. The key must not be present. Takes ownership of key
 * and val even on failure. */
static int tbl_put(struct parser *P, struct node *t, char *key, struct node *val,
                   int line, int col)
{
    if (!key || !val || (t->v.n_keys == t->cap && tbl_grow(t) < 0)) {
        free(key);
        toml_node_free(val);
        return toml_oom(P);
    }
    size_t i = t->v.n_keys++;
    t->v.keys[i] = key;
    t->v.vals[i] = &val->v;
    t->v.key_line[i] = line;
    t->v.key_col[i] = col;
    if (t->index && t->v.n_keys * 2 <= t->index_cap)
        index_add(t, i);
    else if (t->v.n_keys >= INDEX_MIN_KEYS)
        index_build(t);
    return 0;
}

/* Append val to array a, taking ownership of val even on failure. */
static int arr_push(struct parser *P, struct node *a, struct node *val)
{
    if (a->v.n_items == a->cap) {
        size_t cap = a->cap ? a->cap * 2 : 4;
        struct toml_value **items = realloc(a->v.items, cap * sizeof *items);
        if (!items) {
            toml_node_free(val);
            return toml_oom(P);
        }
        a->v.items = items;
        a->cap = cap;
    }
    a->v.items[a->v.n_items++] = &val->v;
    return 0;
}

/* ------------------------------------------------------------------------- */
/* Values, arrays, inline tables                                              */
/* ------------------------------------------------------------------------- */

static struct node *parse_value(struct parser *P, int depth);
static int parse_keyval(struct parser *P, struct node *tbl);

static struct node *parse_array(struct parser *P, int depth)
{
    int line = P->line, col = P->col;
    struct node *a = container_new(P, TOML_ARRAY, depth, line, col, F_INLINE);
    if (!a)
        return NULL;
    adv(P);
    for (;;) {
        if (toml_skip_blank(P) < 0)
            break;
        int c = peek(P, 0);
        if (c < 0) {
            toml_fail_at(P, line, col, "unterminated array");
            break;
        }
        if (c == ']') {
            adv(P);
            return a;
        }
        struct node *v = parse_value(P, depth + 1);
        if (!v || arr_push(P, a, v) < 0 || toml_skip_blank(P) < 0)
            break;
        c = peek(P, 0);
        if (c == ',') {
            adv(P);
            continue;
        }
        if (c == ']') {
            adv(P);
            return a;
        }
        if (c < 0)
            toml_fail_at(P, line, col, "unterminated array");
        else
            fail(P, "expected ',' or ']' after array element");
        break;
    }
    toml_node_free(a);
    return NULL;
}

/* Inside an inline table the only separator allowed is ordinary whitespace. */
static int inline_table_gap(struct parser *P, int line, int col)
{
    int c = peek(P, 0);
    if (c < 0)
        return toml_fail_at(P, line, col, "unterminated inline table");
    if (toml_is_newline(c))
        return fail(P, "newlines are not allowed in inline tables");
    if (c == '#')
        return fail(P, "comments are not allowed in inline tables");
    return 0;
}

static struct node *parse_inline_table(struct parser *P, int depth)
{
    int line = P->line, col = P->col;
    struct node *t = container_new(P, TOML_TABLE, depth, line, col, F_INLINE);
    if (!t)
        return NULL;
    adv(P);
    toml_skip_ws(P);
    if (peek(P, 0) == '}') {
        adv(P);
        return t;
    }
    for (;;) {
        toml_skip_ws(P);
        if (inline_table_gap(P, line, col) < 0 || parse_keyval(P, t) < 0)
            break;
        toml_skip_ws(P);
        int c = peek(P, 0);
        if (c == '}') {
            adv(P);
            return t;
        }
        if (c == ',') {
            int cl = P->line, cc = P->col;
            adv(P);
            toml_skip_ws(P);
            if (peek(P, 0) == '}') {
                toml_fail_at(P, cl, cc, "trailing comma is not allowed in an inline table");
                break;
            }
            continue;
        }
        if (inline_table_gap(P, line, col) == 0)
            fail(P, "expected ',' or '}' after inline table entry");
        break;
    }
    toml_node_free(t);
    return NULL;
}

static struct node *parse_value(struct parser *P, int depth)
{
    int c = peek(P, 0);
    if (c == '"' || c == '\'')
        return toml_parse_string_value(P);
    if (c == '[')
        return parse_array(P, depth);
    if (c == '{')
        return parse_inline_table(P, depth);
    if (toml_is_word(c))
        return toml_parse_bare_value(P);
    fail(P, "expected a value");
    return NULL;
}

/* ------------------------------------------------------------------------- */
/* Table rules                                                                */
/* ------------------------------------------------------------------------- */

#define PATH_MAX_SHOWN 128

/* "<what> '<key path up to part i>'<tail>", pointing at part i of the key. */
static int fail_key(struct parser *P, const struct key *k, int i, const char *what,
                    const char *tail)
{
    char path[PATH_MAX_SHOWN];
    toml_key_path(k, i, path, sizeof path);
    return toml_fail_at(P, k->part[i].line, k->part[i].col, "%s '%s'%s", what, path, tail);
}

/* "key '<path>' is already defined as <type>". */
static int fail_key_type(struct parser *P, const struct key *k, int i, enum toml_type type)
{
    char tail[64];
    snprintf(tail, sizeof tail, " is already defined as %s", toml_type_name(type));
    return fail_key(P, k, i, "key", tail);
}

/* Follow (or create) part i of a dotted key on the left of '='. Dotted keys may only
 * go through tables that dotted keys created, in this same table. */
static struct node *descend_dotted(struct parser *P, struct node *t, const struct key *k, int i)
{
    const struct keypart *p = &k->part[i];
    size_t idx = tbl_find(t, p->s);
    if (idx == NOT_FOUND) {
        struct node *n = container_new(P, TOML_TABLE, t->depth + 1, p->line, p->col, F_DOTTED);
        if (!n || tbl_put(P, t, strdup(p->s), n, p->line, p->col) < 0)
            return NULL;
        return n;
    }
    struct node *n = (struct node *)t->v.vals[idx];
    if (n->v.type != TOML_TABLE)
        fail_key_type(P, k, i, n->v.type);
    else if (n->flags & F_INLINE)
        fail_key(P, k, i, "cannot add keys to inline table", "");
    else if (!(n->flags & F_DOTTED))
        fail_key(P, k, i, "table", " is already defined");
    else
        return n;
    return NULL;
}

/* Follow (or create) a non-final part of a [header] or [[header]]. */
static struct node *descend_header(struct parser *P, struct node *t, const struct key *k,
                                   int i, int hline, int hcol)
{
    const struct keypart *p = &k->part[i];
    size_t idx = tbl_find(t, p->s);
    if (idx == NOT_FOUND) {
        struct node *n = container_new(P, TOML_TABLE, t->depth + 1, hline, hcol, F_IMPLICIT);
        if (!n || tbl_put(P, t, strdup(p->s), n, p->line, p->col) < 0)
            return NULL;
        return n;
    }
    struct node *n = (struct node *)t->v.vals[idx];
    if (n->v.type == TOML_TABLE && !(n->flags & F_INLINE))
        return n;
    if (n->v.type == TOML_ARRAY && (n->flags & F_AOT))
        return (struct node *)n->v.items[n->v.n_items - 1];
    if (n->v.type == TOML_TABLE)
        fail_key(P, k, i, "cannot extend inline table", "");
    else if (n->v.type == TOML_ARRAY)
        fail_key(P, k, i, "cannot extend static array", "");
    else
        fail_key_type(P, k, i, n->v.type);
    return NULL;
}

/* The last part of [header]: create the table or define an implicit one. */
static struct node *define_table(struct parser *P, struct node *t, struct key *k,
                                 int hline, int hcol)
{
    int i = k->n - 1;
    struct keypart *p = &k->part[i];
    size_t idx = tbl_find(t, p->s);
    if (idx == NOT_FOUND) {
        struct node *n = container_new(P, TOML_TABLE, t->depth + 1, hline, hcol, F_DEFINED);
        if (!n || tbl_put(P, t, strdup(p->s), n, p->line, p->col) < 0)
            return NULL;
        return n;
    }
    struct node *n = (struct node *)t->v.vals[idx];
    if (n->v.type == TOML_TABLE && n->flags == F_IMPLICIT) {
        n->flags = F_DEFINED;
        return n;
    }
    if (n->v.type == TOML_TABLE)
        fail_key(P, k, i, "table", " is already defined");
    else if (n->v.type == TOML_ARRAY && (n->flags & F_AOT))
        fail_key(P, k, i, "table", " is already defined as an array of tables");
    else
        fail_key_type(P, k, i, n->v.type);
    return NULL;
}

/* The last part of [[header]]: append a new table to the array of tables. */
static struct node *define_aot(struct parser *P, struct node *t, struct key *k,
                               int hline, int hcol)
{
    int i = k->n - 1;
    struct keypart *p = &k->part[i];
    size_t idx = tbl_find(t, p->s);
    struct node *arr;
    if (idx == NOT_FOUND) {
        arr = container_new(P, TOML_ARRAY, t->depth + 1, hline, hcol, F_AOT);
        if (!arr || tbl_put(P, t, strdup(p->s), arr, p->line, p->col) < 0)
            return NULL;
    } else {
        arr = (struct node *)t->v.vals[idx];
        if (arr->v.type == TOML_ARRAY && !(arr->flags & F_AOT)) {
            fail_key(P, k, i, "cannot extend static array", "");
            return NULL;
        }
        if (arr->v.type != TOML_ARRAY) {
            fail_key_type(P, k, i, arr->v.type);
            return NULL;
        }
    }
    struct node *elem = container_new(P, TOML_TABLE, arr->depth + 1, hline, hcol, F_DEFINED);
    if (!elem || arr_push(P, arr, elem) < 0)
        return NULL;
    return elem;
}

/* ------------------------------------------------------------------------- */
/* Statements                                                                 */
/* ------------------------------------------------------------------------- */

/* key = value, into table tbl (the current section or an inline table). */
static int parse_keyval(struct parser *P, struct node *tbl)
{
    struct key k;
    int rc = -1;
    if (toml_parse_key(P, &k) < 0)
        goto out;
    if (peek(P, 0) != '=') {
        fail(P, "expected '=' after key");
        goto out;
    }
    adv(P);
    toml_skip_ws(P);
    struct node *t = tbl;
    for (int i = 0; i < k.n - 1 && t; i++)
        t = descend_dotted(P, t, &k, i);
    if (!t)
        goto out;
    struct keypart *last = &k.part[k.n - 1];
    if (tbl_find(t, last->s) != NOT_FOUND) {
        fail_key(P, &k, k.n - 1, "duplicate key", "");
        goto out;
    }
    struct node *v = parse_value(P, t->depth + 1);
    if (!v)
        goto out;
    rc = tbl_put(P, t, last->s, v, last->line, last->col);
    last->s = NULL;
out:
    toml_key_clear(&k);
    return rc;
}

/* [a.b.c] or [[a.b.c]]: makes the named table the current section. */
static int parse_header(struct parser *P)
{
    int hline = P->line, hcol = P->col;
    int aot = peek(P, 1) == '[';
    const char *close = aot ? "expected ']]' to close the array of tables header"
                            : "expected ']' to close the table header";
    struct key k;
    int rc = -1;
    advn(P, aot ? 2 : 1);
    toml_skip_ws(P);
    if (toml_parse_key(P, &k) < 0)
        goto out;
    if (peek(P, 0) != ']' || (aot && peek(P, 1) != ']')) {
        if (peek(P, 0) == ']')
            adv(P);
        fail(P, "%s", close);
        goto out;
    }
    advn(P, aot ? 2 : 1);
    struct node *t = P->root;
    for (int i = 0; i < k.n - 1 && t; i++)
        t = descend_header(P, t, &k, i, hline, hcol);
    if (t)
        t = aot ? define_aot(P, t, &k, hline, hcol) : define_table(P, t, &k, hline, hcol);
    if (t) {
        P->cur = t;
        rc = 0;
    }
out:
    toml_key_clear(&k);
    return rc;
}

static int parse_document(struct parser *P)
{
    for (;;) {
        toml_skip_ws(P);
        int c = peek(P, 0);
        if (c < 0)
            return 0;
        if (c == '#') {
            if (toml_skip_comment(P) < 0)
                return -1;
        } else if (toml_is_newline(c)) {
            toml_eat_newline(P);
        } else if (c == '[') {
            if (parse_header(P) < 0 || toml_end_of_line(P, "table header") < 0)
                return -1;
        } else {
            if (parse_keyval(P, P->cur) < 0 || toml_end_of_line(P, "value") < 0)
                return -1;
        }
    }
}

/* ------------------------------------------------------------------------- */
/* Public API                                                                 */
/* ------------------------------------------------------------------------- */

struct toml_value *toml_parse(const char *text, size_t len, struct toml_error *err)
{
    struct toml_error dummy;
    struct parser P = {0};
    if (!err)
        err = &dummy;
    memset(err, 0, sizeof *err);
    P.err = err;
    P.s = (const unsigned char *)(text ? text : "");
    P.len = text ? len : 0;
    P.line = P.col = 1;
    if (P.len >= 3 && memcmp(P.s, "\xEF\xBB\xBF", 3) == 0)
        P.pos = 3;   /* skip a UTF-8 byte order mark */
    if (toml_check_encoding(&P) < 0)
        return NULL;
    P.root = container_new(&P, TOML_TABLE, 0, 1, 1, F_DEFINED);
    if (!P.root)
        return NULL;
    P.cur = P.root;
    if (parse_document(&P) < 0) {
        toml_node_free(P.root);
        return NULL;
    }
    return &P.root->v;
}

const struct toml_value *toml_get(const struct toml_value *table, const char *key)
{
    if (!table || table->type != TOML_TABLE || !key)
        return NULL;
    for (size_t i = 0; i < table->n_keys; i++)
        if (strcmp(table->keys[i], key) == 0)
            return table->vals[i];
    return NULL;
}

void toml_free(struct toml_value *v)
{
    toml_node_free((struct node *)v);
}

const char *toml_type_name(enum toml_type t)
{
    switch (t) {
    case TOML_STRING: return "string";
    case TOML_INTEGER: return "integer";
    case TOML_FLOAT: return "float";
    case TOML_BOOL: return "boolean";
    case TOML_ARRAY: return "array";
    case TOML_TABLE: return "table";
    }
    return "unknown";
}
