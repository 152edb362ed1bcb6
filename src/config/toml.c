/* toml.c - the strict TOML 1.0 reader declared in toml.h.
 *
 * Why it looks like this: the reader is a plain recursive-descent parser over a byte
 * buffer with an explicit length, so it never depends on a NUL terminator and every
 * look-ahead goes through peek(), which returns -1 past the end. Positions are kept
 * incrementally (line, and column in code points) as the cursor moves, so any error
 * can point at the exact character at no extra cost.
 *
 * The work is done in three layers:
 *   1. check_encoding(): one pass over the whole input rejecting invalid UTF-8 and
 *      bare carriage returns, so the rest of the code can treat bytes >= 0x80 as
 *      opaque parts of valid characters and '\r' as always followed by '\n'.
 *   2. The lexical readers: keys, strings (four kinds), numbers, booleans, arrays
 *      and inline tables.
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
#include "toml.h"

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

struct node {
    struct toml_value v;   /* must stay first: a struct node * is a struct toml_value * */
    int depth;             /* root table is 0 */
    unsigned flags;        /* F_* */
    size_t cap;            /* allocated slots in items, or in keys/vals/key_line/key_col */
    size_t *index;         /* hash of key -> key position + 1 (0 = empty slot), or NULL */
    size_t index_cap;      /* power of two */
};

static void node_free(struct node *n)
{
    if (!n)
        return;
    if (n->v.type == TOML_STRING) {
        free(n->v.s);
    } else if (n->v.type == TOML_ARRAY) {
        for (size_t i = 0; i < n->v.n_items; i++)
            node_free((struct node *)n->v.items[i]);
        free(n->v.items);
    } else if (n->v.type == TOML_TABLE) {
        for (size_t i = 0; i < n->v.n_keys; i++) {
            free(n->v.keys[i]);
            node_free((struct node *)n->v.vals[i]);
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
/* Parser state, cursor and errors                                            */
/* ------------------------------------------------------------------------- */

struct parser {
    const unsigned char *s;
    size_t len, pos;
    int line, col;            /* position of s[pos] */
    struct toml_error *err;
    int failed;
    struct node *root;
    struct node *cur;         /* table receiving key = value lines */
};

static void bump(int *x)
{
    if (*x < INT_MAX)
        (*x)++;
}

/* The byte k positions ahead of the cursor, or -1 past the end. */
static int peek(const struct parser *P, size_t k)
{
    return k < P->len - P->pos ? P->s[P->pos + k] : -1;
}

static void adv(struct parser *P)
{
    unsigned char c = P->s[P->pos++];
    if (c == '\n') {
        bump(&P->line);
        P->col = 1;
    } else if ((c & 0xC0) != 0x80) {
        bump(&P->col);   /* continuation bytes do not start a new column */
    }
}

/* Column of byte i on the cursor's line, for errors inside ASCII-only tokens. */
static int col_of(const struct parser *P, size_t i)
{
    size_t d = i - P->pos;
    return d > (size_t)(INT_MAX - P->col) ? INT_MAX : P->col + (int)d;
}

static void advn(struct parser *P, size_t n)
{
    while (n--)
        adv(P);
}

__attribute__((format(printf, 4, 5)))
static int fail_at(struct parser *P, int line, int col, const char *fmt, ...)
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

#define fail(P, ...) fail_at((P), (P)->line, (P)->col, __VA_ARGS__)

static int oom(struct parser *P)
{
    return fail(P, "out of memory");
}

static struct node *node_new(struct parser *P, enum toml_type type, int line, int col)
{
    struct node *n = calloc(1, sizeof *n);
    if (!n) {
        oom(P);
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
        fail_at(P, line, col, "nesting too deep");
        return NULL;
    }
    struct node *n = node_new(P, type, line, col);
    if (n) {
        n->depth = depth;
        n->flags = flags;
    }
    return n;
}

/* ------------------------------------------------------------------------- */
/* Growable byte buffer for string contents                                   */
/* ------------------------------------------------------------------------- */

struct buf {
    char *p;
    size_t len, cap;
};

static int buf_put(struct parser *P, struct buf *b, const void *data, size_t n)
{
    if (n > SIZE_MAX - b->len - 1)
        return oom(P);
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 32;
        while (cap < b->len + n + 1)
            cap = cap > SIZE_MAX / 2 ? b->len + n + 1 : cap * 2;
        char *p = realloc(b->p, cap);
        if (!p)
            return oom(P);
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, data, n);
    b->len += n;
    b->p[b->len] = '\0';
    return 0;
}

static int buf_putc(struct parser *P, struct buf *b, int c)
{
    char ch = (char)c;
    return buf_put(P, b, &ch, 1);
}

static int buf_put_utf8(struct parser *P, struct buf *b, uint32_t cp)
{
    unsigned char u[4];
    size_t n;
    if (cp < 0x80) {
        u[0] = (unsigned char)cp;
        n = 1;
    } else if (cp < 0x800) {
        u[0] = (unsigned char)(0xC0 | (cp >> 6));
        u[1] = (unsigned char)(0x80 | (cp & 0x3F));
        n = 2;
    } else if (cp < 0x10000) {
        u[0] = (unsigned char)(0xE0 | (cp >> 12));
        u[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
        u[2] = (unsigned char)(0x80 | (cp & 0x3F));
        n = 3;
    } else {
        u[0] = (unsigned char)(0xF0 | (cp >> 18));
        u[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
        u[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
        u[3] = (unsigned char)(0x80 | (cp & 0x3F));
        n = 4;
    }
    return buf_put(P, b, u, n);
}

/* Hand the contents over as a NUL-terminated string ("" when empty). */
static char *buf_take(struct parser *P, struct buf *b, size_t *len)
{
    if (!b->p && buf_put(P, b, "", 0) < 0)
        return NULL;
    char *s = b->p;
    if (len)
        *len = b->len;
    b->p = NULL;
    b->len = b->cap = 0;
    return s;
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
        node_free(val);
        return oom(P);
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
            node_free(val);
            return oom(P);
        }
        a->v.items = items;
        a->cap = cap;
    }
    a->v.items[a->v.n_items++] = &val->v;
    return 0;
}

/* ------------------------------------------------------------------------- */
/* Encoding check                                                             */
/* ------------------------------------------------------------------------- */

/* Length of the valid UTF-8 sequence at p (non-ASCII lead byte), or 0 if invalid:
 * truncated, overlong, surrogate or beyond U+10FFFF. */
static size_t utf8_len(const unsigned char *p, size_t avail)
{
    unsigned c = p[0];
    size_t n;
    uint32_t cp, min;
    if (c >= 0xC2 && c <= 0xDF) {
        n = 2; cp = c & 0x1F; min = 0x80;
    } else if (c >= 0xE0 && c <= 0xEF) {
        n = 3; cp = c & 0x0F; min = 0x800;
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4; cp = c & 0x07; min = 0x10000;
    } else {
        return 0;
    }
    if (avail < n)
        return 0;
    for (size_t i = 1; i < n; i++) {
        if ((p[i] & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (p[i] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return n;
}

static int check_encoding(struct parser *P)
{
    int line = P->line, col = P->col;
    for (size_t i = P->pos; i < P->len;) {
        unsigned char c = P->s[i];
        if (c < 0x80) {
            if (c == '\r' && (i + 1 >= P->len || P->s[i + 1] != '\n'))
                return fail_at(P, line, col, "bare carriage return (CR must be followed by LF)");
            if (c == '\n') {
                bump(&line);
                col = 1;
            } else {
                bump(&col);
            }
            i++;
            continue;
        }
        size_t n = utf8_len(P->s + i, P->len - i);
        if (!n)
            return fail_at(P, line, col, "invalid UTF-8");
        i += n;
        bump(&col);
    }
    return 0;
}

/* ------------------------------------------------------------------------- */
/* Whitespace, newlines, comments                                             */
/* ------------------------------------------------------------------------- */

static int is_bare(int c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           c == '_' || c == '-';
}

static int is_ctrl(int c)
{
    return (c >= 0 && c < 0x20 && c != '\t') || c == 0x7F;
}

static int is_newline(int c)
{
    return c == '\n' || c == '\r';   /* a '\r' is always followed by '\n' after check_encoding() */
}

static void skip_ws(struct parser *P)
{
    int c;
    while ((c = peek(P, 0)) == ' ' || c == '\t')
        adv(P);
}

static void eat_newline(struct parser *P)
{
    if (peek(P, 0) == '\r')
        adv(P);
    adv(P);
}

/* At '#': skip to the end of the line, leaving the newline. */
static int skip_comment(struct parser *P)
{
    adv(P);
    int c;
    while ((c = peek(P, 0)) >= 0 && !is_newline(c)) {
        if (is_ctrl(c))
            return fail(P, "control characters are not allowed in comments");
        adv(P);
    }
    return 0;
}

/* Skip whitespace, newlines and comments (inside arrays). */
static int skip_blank(struct parser *P)
{
    for (;;) {
        skip_ws(P);
        int c = peek(P, 0);
        if (c == '#') {
            if (skip_comment(P) < 0)
                return -1;
        } else if (is_newline(c)) {
            eat_newline(P);
        } else {
            return 0;
        }
    }
}

/* After a key/value pair or a header: optional comment, then newline or end. */
static int end_of_line(struct parser *P, const char *what)
{
    skip_ws(P);
    if (peek(P, 0) == '#' && skip_comment(P) < 0)
        return -1;
    int c = peek(P, 0);
    if (c < 0)
        return 0;
    if (is_newline(c)) {
        eat_newline(P);
        return 0;
    }
    return fail(P, "expected newline after %s", what);
}

/* ------------------------------------------------------------------------- */
/* Strings                                                                    */
/* ------------------------------------------------------------------------- */

static int hex_val(int c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* \uXXXX or \UXXXXXXXX with the cursor on the backslash. */
static int parse_unicode_escape(struct parser *P, struct buf *b, int ndigits)
{
    uint32_t cp = 0;
    for (int i = 0; i < ndigits; i++) {
        int h = hex_val(peek(P, 2 + (size_t)i));
        if (h < 0)
            return fail(P, "invalid unicode escape: expected %d hex digits", ndigits);
        cp = (cp << 4) | (uint32_t)h;
    }
    if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        return fail(P, "unicode escape is not a valid code point");
    if (cp == 0)
        return fail(P, "NUL characters are not allowed in strings");
    advn(P, 2 + (size_t)ndigits);
    return buf_put_utf8(P, b, cp);
}

/* An escape sequence in a basic string, cursor on the backslash. */
static int parse_escape(struct parser *P, struct buf *b)
{
    int e = peek(P, 1);
    int ch;
    switch (e) {
    case 'b': ch = '\b'; break;
    case 't': ch = '\t'; break;
    case 'n': ch = '\n'; break;
    case 'f': ch = '\f'; break;
    case 'r': ch = '\r'; break;
    case '"': ch = '"'; break;
    case '\\': ch = '\\'; break;
    case 'u': return parse_unicode_escape(P, b, 4);
    case 'U': return parse_unicode_escape(P, b, 8);
    default:
        if (e > 0x20 && e < 0x7F)
            return fail(P, "invalid escape sequence '\\%c'", e);
        return fail(P, "invalid escape sequence");
    }
    advn(P, 2);
    return buf_putc(P, b, ch);
}

/* A single-line basic ("...") or literal ('...') string, cursor on the quote. */
static int scan_single(struct parser *P, struct buf *b)
{
    int q = peek(P, 0), line = P->line, col = P->col;
    adv(P);
    for (;;) {
        int c = peek(P, 0);
        if (c < 0 || is_newline(c))
            return fail_at(P, line, col, "unterminated string");
        if (c == q) {
            adv(P);
            return 0;
        }
        if (c == '\\' && q == '"') {
            if (parse_escape(P, b) < 0)
                return -1;
            continue;
        }
        if (is_ctrl(c))
            return fail(P, "control characters are not allowed in strings");
        if (buf_putc(P, b, c) < 0)
            return -1;
        adv(P);
    }
}

/* In a multi-line basic string, a backslash followed by optional blanks and a newline
 * swallows all following whitespace and newlines. Returns 1 if that happened. */
static int line_ending_backslash(struct parser *P)
{
    size_t k = 1;
    while (peek(P, k) == ' ' || peek(P, k) == '\t')
        k++;
    if (!is_newline(peek(P, k)))
        return 0;
    advn(P, k);
    int c;
    while ((c = peek(P, 0)) == ' ' || c == '\t' || is_newline(c))
        adv(P);
    return 1;
}

/* A run of quotes inside a multi-line string: fewer than three are content, three to
 * five close the string (the extra one or two are content). Returns 1 when closed. */
static int ml_quotes(struct parser *P, struct buf *b, int q)
{
    size_t n = 0;
    while (peek(P, n) == q && n < 6)
        n++;
    if (n == 6) {
        advn(P, 5);
        return fail(P, "too many quotes in a row in a multi-line string");
    }
    for (size_t i = 0; i < (n < 3 ? n : n - 3); i++)
        if (buf_putc(P, b, q) < 0)
            return -1;
    advn(P, n);
    return n >= 3;
}

/* A multi-line basic ("""...""") or literal ('''...''') string, cursor on the first quote. */
static int scan_multi(struct parser *P, struct buf *b)
{
    int q = peek(P, 0), line = P->line, col = P->col;
    advn(P, 3);
    if (is_newline(peek(P, 0)))
        eat_newline(P);   /* a newline right after the opening quotes is trimmed */
    for (;;) {
        int c = peek(P, 0);
        if (c < 0)
            return fail_at(P, line, col, "unterminated string");
        if (c == q) {
            int r = ml_quotes(P, b, q);
            if (r != 0)
                return r < 0 ? -1 : 0;
            continue;
        }
        if (c == '\\' && q == '"') {
            if (!line_ending_backslash(P) && parse_escape(P, b) < 0)
                return -1;
            continue;
        }
        if (is_newline(c)) {
            eat_newline(P);
            if (buf_putc(P, b, '\n') < 0)
                return -1;
            continue;
        }
        if (is_ctrl(c))
            return fail(P, "control characters are not allowed in strings");
        if (buf_putc(P, b, c) < 0)
            return -1;
        adv(P);
    }
}

static struct node *parse_string_value(struct parser *P)
{
    struct node *n = node_new(P, TOML_STRING, P->line, P->col);
    if (!n)
        return NULL;
    struct buf b = {0};
    int q = peek(P, 0);
    int rc = (peek(P, 1) == q && peek(P, 2) == q) ? scan_multi(P, &b) : scan_single(P, &b);
    if (rc == 0)
        n->v.s = buf_take(P, &b, &n->v.slen);
    if (rc < 0 || !n->v.s) {
        free(b.p);
        node_free(n);
        return NULL;
    }
    return n;
}

/* ------------------------------------------------------------------------- */
/* Keys                                                                       */
/* ------------------------------------------------------------------------- */

struct keypart {
    char *s;
    int line, col;
};

struct key {
    struct keypart part[TOML_MAX_DEPTH];
    int n;
};

static void key_clear(struct key *k)
{
    for (int i = 0; i < k->n; i++)
        free(k->part[i].s);
    k->n = 0;
}

/* "a.b.c" for the first upto+1 parts, for messages; truncated with "...". */
static const char *key_path(const struct key *k, int upto, char *out, size_t n)
{
    size_t len = 0;
    out[0] = '\0';
    for (int i = 0; i <= upto && len < n; i++) {
        int w = snprintf(out + len, n - len, "%s%s", i ? "." : "", k->part[i].s ? k->part[i].s : "");
        if (w < 0)
            break;
        len += (size_t)w;
    }
    if (len >= n)
        memcpy(out + n - 4, "...", 4);
    return out;
}

static int parse_key_part(struct parser *P, struct keypart *kp)
{
    kp->s = NULL;
    kp->line = P->line;
    kp->col = P->col;
    int c = peek(P, 0);
    if (is_bare(c)) {
        size_t start = P->pos;
        while (is_bare(peek(P, 0)))
            adv(P);
        kp->s = strndup((const char *)P->s + start, P->pos - start);
        return kp->s ? 0 : oom(P);
    }
    if (c == '"' || c == '\'') {
        if (peek(P, 1) == c && peek(P, 2) == c)
            return fail(P, "multi-line strings cannot be used as keys");
        struct buf b = {0};
        if (scan_single(P, &b) < 0) {
            free(b.p);
            return -1;
        }
        kp->s = buf_take(P, &b, NULL);
        return kp->s ? 0 : -1;
    }
    return fail(P, "expected a key");
}

/* A possibly dotted key; leaves the cursor after trailing whitespace. */
static int parse_key(struct parser *P, struct key *k)
{
    k->n = 0;
    for (;;) {
        if (k->n == TOML_MAX_DEPTH)
            return fail(P, "nesting too deep");
        if (parse_key_part(P, &k->part[k->n]) < 0)
            return -1;
        k->n++;
        skip_ws(P);
        if (peek(P, 0) != '.')
            return 0;
        adv(P);
        skip_ws(P);
    }
}

/* ------------------------------------------------------------------------- */
/* Numbers and other bare values                                              */
/* ------------------------------------------------------------------------- */

static int is_digit_base(int c, int base)
{
    if (base == 16)
        return hex_val(c) >= 0;
    return c >= '0' && c < '0' + base;
}

/* Digits in the given base with single underscores between digits, from *i. */
static int scan_digits(struct parser *P, size_t *i, size_t end, int base)
{
    const unsigned char *t = P->s;
    if (*i >= end || !is_digit_base(t[*i], base))
        return fail_at(P, P->line, col_of(P, *i), "expected a digit");
    while (*i < end) {
        if (is_digit_base(t[*i], base)) {
            (*i)++;
        } else if (t[*i] == '_') {
            if (*i + 1 >= end || !is_digit_base(t[*i + 1], base))
                return fail_at(P, P->line, col_of(P, *i), "'_' must be between digits");
            (*i)++;
        } else {
            break;
        }
    }
    return 0;
}

static struct node *make_int(struct parser *P, size_t from, size_t to, int base, int neg)
{
    uint64_t limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    uint64_t v = 0;
    for (size_t i = from; i < to; i++) {
        if (P->s[i] == '_')
            continue;
        uint64_t d = (uint64_t)hex_val(P->s[i]);
        if (v > (limit - d) / (uint64_t)base) {
            fail(P, "integer out of range");
            return NULL;
        }
        v = v * (uint64_t)base + d;
    }
    struct node *n = node_new(P, TOML_INTEGER, P->line, P->col);
    if (n)
        n->v.i = !neg ? (int64_t)v : v == limit ? INT64_MIN : -(int64_t)v;
    return n;
}

static struct node *make_float(struct parser *P, size_t end)
{
    size_t len = end - P->pos;
    char *tmp = malloc(len + 1), *o = tmp;
    if (!tmp) {
        oom(P);
        return NULL;
    }
    for (size_t i = P->pos; i < end; i++)
        if (P->s[i] != '_')
            *o++ = (char)P->s[i];
    *o = '\0';
    double d;
    const char *body = tmp + (tmp[0] == '+' || tmp[0] == '-');
    int literal_inf = strcmp(body, "inf") == 0;
    if (literal_inf)
        d = tmp[0] == '-' ? -INFINITY : INFINITY;
    else if (strcmp(body, "nan") == 0)
        d = tmp[0] == '-' ? -NAN : NAN;
    else
        d = strtod(tmp, NULL);
    free(tmp);
    if (isinf(d) && !literal_inf) {
        fail(P, "float out of range");
        return NULL;
    }
    struct node *n = node_new(P, TOML_FLOAT, P->line, P->col);
    if (n)
        n->v.f = d;
    return n;
}

/* YYYY-... or HH:... */
static int looks_like_date(const struct parser *P, size_t end)
{
    size_t n = 0;
    while (P->pos + n < end && n < 5 && P->s[P->pos + n] >= '0' && P->s[P->pos + n] <= '9')
        n++;
    size_t after = P->pos + n;
    return after < end && ((n == 4 && P->s[after] == '-') || (n == 2 && P->s[after] == ':'));
}

/* The token [pos, end) starts with a digit or sign, or is inf/nan. */
static struct node *parse_number(struct parser *P, size_t end)
{
    const unsigned char *t = P->s;
    size_t i = P->pos;
    if (looks_like_date(P, end)) {
        fail(P, "dates and times are not supported");
        return NULL;
    }
    int neg = 0, sign = 0;
    if (t[i] == '+' || t[i] == '-') {
        neg = t[i] == '-';
        sign = 1;
        i++;
    }
    if (end - i == 3 && (memcmp(t + i, "inf", 3) == 0 || memcmp(t + i, "nan", 3) == 0))
        return make_float(P, end);
    if (end - i > 2 && t[i] == '0' && (t[i + 1] == 'x' || t[i + 1] == 'o' || t[i + 1] == 'b')) {
        if (sign) {
            fail(P, "hexadecimal, octal and binary integers cannot have a sign");
            return NULL;
        }
        int base = t[i + 1] == 'x' ? 16 : t[i + 1] == 'o' ? 8 : 2;
        size_t from = i += 2;
        if (scan_digits(P, &i, end, base) < 0)
            return NULL;
        if (i != end) {
            fail_at(P, P->line, col_of(P, i), "invalid character in number");
            return NULL;
        }
        return make_int(P, from, end, base, 0);
    }
    size_t from = i;
    if (scan_digits(P, &i, end, 10) < 0)
        return NULL;
    if (t[from] == '0' && i - from > 1) {
        fail_at(P, P->line, col_of(P, from), "leading zeros are not allowed");
        return NULL;
    }
    int is_float = 0;
    if (i < end && t[i] == '.') {
        i++;
        if (scan_digits(P, &i, end, 10) < 0)
            return NULL;
        is_float = 1;
    }
    if (i < end && (t[i] == 'e' || t[i] == 'E')) {
        i++;
        if (i < end && (t[i] == '+' || t[i] == '-'))
            i++;
        if (scan_digits(P, &i, end, 10) < 0)
            return NULL;
        is_float = 1;
    }
    if (i != end) {
        fail_at(P, P->line, col_of(P, i), "invalid character in number");
        return NULL;
    }
    return is_float ? make_float(P, end) : make_int(P, from, end, 10, neg);
}

static int is_word(int c)
{
    return is_bare(c) || c == '.' || c == '+' || c == ':';
}

/* Booleans, numbers, inf and nan: anything that is not a string, array or table. */
static struct node *parse_bare_value(struct parser *P)
{
    size_t end = P->pos;
    while (end < P->len && is_word(P->s[end]))
        end++;
    size_t n = end - P->pos;
    const char *w = (const char *)P->s + P->pos;
    if ((n == 4 && memcmp(w, "true", 4) == 0) || (n == 5 && memcmp(w, "false", 5) == 0)) {
        struct node *v = node_new(P, TOML_BOOL, P->line, P->col);
        if (v)
            v->v.b = n == 4;
        advn(P, n);
        return v;
    }
    int c = w[0];
    if ((c >= '0' && c <= '9') || c == '+' || c == '-' ||
        (n == 3 && (memcmp(w, "inf", 3) == 0 || memcmp(w, "nan", 3) == 0))) {
        struct node *v = parse_number(P, end);
        if (v)
            advn(P, n);
        return v;
    }
    if (is_bare(c))
        fail(P, "expected a value (strings must be quoted)");
    else
        fail(P, "expected a value");
    return NULL;
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
        if (skip_blank(P) < 0)
            break;
        int c = peek(P, 0);
        if (c < 0) {
            fail_at(P, line, col, "unterminated array");
            break;
        }
        if (c == ']') {
            adv(P);
            return a;
        }
        struct node *v = parse_value(P, depth + 1);
        if (!v || arr_push(P, a, v) < 0 || skip_blank(P) < 0)
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
            fail_at(P, line, col, "unterminated array");
        else
            fail(P, "expected ',' or ']' after array element");
        break;
    }
    node_free(a);
    return NULL;
}

/* Inside an inline table the only separator allowed is ordinary whitespace. */
static int inline_table_gap(struct parser *P, int line, int col)
{
    int c = peek(P, 0);
    if (c < 0)
        return fail_at(P, line, col, "unterminated inline table");
    if (is_newline(c))
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
    skip_ws(P);
    if (peek(P, 0) == '}') {
        adv(P);
        return t;
    }
    for (;;) {
        skip_ws(P);
        if (inline_table_gap(P, line, col) < 0 || parse_keyval(P, t) < 0)
            break;
        skip_ws(P);
        int c = peek(P, 0);
        if (c == '}') {
            adv(P);
            return t;
        }
        if (c == ',') {
            int cl = P->line, cc = P->col;
            adv(P);
            skip_ws(P);
            if (peek(P, 0) == '}') {
                fail_at(P, cl, cc, "trailing comma is not allowed in an inline table");
                break;
            }
            continue;
        }
        if (inline_table_gap(P, line, col) == 0)
            fail(P, "expected ',' or '}' after inline table entry");
        break;
    }
    node_free(t);
    return NULL;
}

static struct node *parse_value(struct parser *P, int depth)
{
    int c = peek(P, 0);
    if (c == '"' || c == '\'')
        return parse_string_value(P);
    if (c == '[')
        return parse_array(P, depth);
    if (c == '{')
        return parse_inline_table(P, depth);
    if (is_word(c))
        return parse_bare_value(P);
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
    key_path(k, i, path, sizeof path);
    return fail_at(P, k->part[i].line, k->part[i].col, "%s '%s'%s", what, path, tail);
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
    if (parse_key(P, &k) < 0)
        goto out;
    if (peek(P, 0) != '=') {
        fail(P, "expected '=' after key");
        goto out;
    }
    adv(P);
    skip_ws(P);
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
    key_clear(&k);
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
    skip_ws(P);
    if (parse_key(P, &k) < 0)
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
    key_clear(&k);
    return rc;
}

static int parse_document(struct parser *P)
{
    for (;;) {
        skip_ws(P);
        int c = peek(P, 0);
        if (c < 0)
            return 0;
        if (c == '#') {
            if (skip_comment(P) < 0)
                return -1;
        } else if (is_newline(c)) {
            eat_newline(P);
        } else if (c == '[') {
            if (parse_header(P) < 0 || end_of_line(P, "table header") < 0)
                return -1;
        } else {
            if (parse_keyval(P, P->cur) < 0 || end_of_line(P, "value") < 0)
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
    if (check_encoding(&P) < 0)
        return NULL;
    P.root = container_new(&P, TOML_TABLE, 0, 1, 1, F_DEFINED);
    if (!P.root)
        return NULL;
    P.cur = P.root;
    if (parse_document(&P) < 0) {
        node_free(P.root);
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
    node_free((struct node *)v);
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
