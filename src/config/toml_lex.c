/* toml_lex.c - the lexical half of the TOML reader (toml.c has the table rules): the
 * one-pass encoding check, whitespace, comments and line ends, the four kinds of
 * strings with their escapes, keys (bare, quoted, dotted), and the bare values
 * (integers in four bases, floats, booleans, inf and nan; dates are refused). Every
 * look-ahead goes through peek(), so nothing depends on a NUL terminator. */
#include "toml_int.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
        return toml_oom(P);
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 32;
        while (cap < b->len + n + 1)
            cap = cap > SIZE_MAX / 2 ? b->len + n + 1 : cap * 2;
        char *p = realloc(b->p, cap);
        if (!p)
            return toml_oom(P);
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

int toml_check_encoding(struct parser *P)
{
    int line = P->line, col = P->col;
    for (size_t i = P->pos; i < P->len;) {
        unsigned char c = P->s[i];
        if (c < 0x80) {
            if (c == '\r' && (i + 1 >= P->len || P->s[i + 1] != '\n'))
                return toml_fail_at(P, line, col, "bare carriage return (CR must be followed by LF)");
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
            return toml_fail_at(P, line, col, "invalid UTF-8");
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

int toml_is_newline(int c)
{
    return c == '\n' || c == '\r';   /* a '\r' is always followed by '\n' after toml_check_encoding() */
}

void toml_skip_ws(struct parser *P)
{
    int c;
    while ((c = peek(P, 0)) == ' ' || c == '\t')
        adv(P);
}

void toml_eat_newline(struct parser *P)
{
    if (peek(P, 0) == '\r')
        adv(P);
    adv(P);
}

/* At '#': skip to the end of the line, leaving the newline. */
int toml_skip_comment(struct parser *P)
{
    adv(P);
    int c;
    while ((c = peek(P, 0)) >= 0 && !toml_is_newline(c)) {
        if (is_ctrl(c))
            return fail(P, "control characters are not allowed in comments");
        adv(P);
    }
    return 0;
}

/* Skip whitespace, newlines and comments (inside arrays). */
int toml_skip_blank(struct parser *P)
{
    for (;;) {
        toml_skip_ws(P);
        int c = peek(P, 0);
        if (c == '#') {
            if (toml_skip_comment(P) < 0)
                return -1;
        } else if (toml_is_newline(c)) {
            toml_eat_newline(P);
        } else {
            return 0;
        }
    }
}

/* After a key/value pair or a header: optional comment, then newline or end. */
int toml_end_of_line(struct parser *P, const char *what)
{
    toml_skip_ws(P);
    if (peek(P, 0) == '#' && toml_skip_comment(P) < 0)
        return -1;
    int c = peek(P, 0);
    if (c < 0)
        return 0;
    if (toml_is_newline(c)) {
        toml_eat_newline(P);
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
        if (c < 0 || toml_is_newline(c))
            return toml_fail_at(P, line, col, "unterminated string");
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
    if (!toml_is_newline(peek(P, k)))
        return 0;
    advn(P, k);
    int c;
    while ((c = peek(P, 0)) == ' ' || c == '\t' || toml_is_newline(c))
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
    if (toml_is_newline(peek(P, 0)))
        toml_eat_newline(P);   /* a newline right after the opening quotes is trimmed */
    for (;;) {
        int c = peek(P, 0);
        if (c < 0)
            return toml_fail_at(P, line, col, "unterminated string");
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
        if (toml_is_newline(c)) {
            toml_eat_newline(P);
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

struct node *toml_parse_string_value(struct parser *P)
{
    struct node *n = toml_node_new(P, TOML_STRING, P->line, P->col);
    if (!n)
        return NULL;
    struct buf b = {0};
    int q = peek(P, 0);
    int rc = (peek(P, 1) == q && peek(P, 2) == q) ? scan_multi(P, &b) : scan_single(P, &b);
    if (rc == 0)
        n->v.s = buf_take(P, &b, &n->v.slen);
    if (rc < 0 || !n->v.s) {
        free(b.p);
        toml_node_free(n);
        return NULL;
    }
    return n;
}

/* ------------------------------------------------------------------------- */
/* Keys                                                                       */
/* ------------------------------------------------------------------------- */

void toml_key_clear(struct key *k)
{
    for (int i = 0; i < k->n; i++)
        free(k->part[i].s);
    k->n = 0;
}

/* "a.b.c" for the first upto+1 parts, for messages; truncated with "...". */
const char *toml_key_path(const struct key *k, int upto, char *out, size_t n)
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
        return kp->s ? 0 : toml_oom(P);
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
int toml_parse_key(struct parser *P, struct key *k)
{
    k->n = 0;
    for (;;) {
        if (k->n == TOML_MAX_DEPTH)
            return fail(P, "nesting too deep");
        if (parse_key_part(P, &k->part[k->n]) < 0)
            return -1;
        k->n++;
        toml_skip_ws(P);
        if (peek(P, 0) != '.')
            return 0;
        adv(P);
        toml_skip_ws(P);
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
        return toml_fail_at(P, P->line, col_of(P, *i), "expected a digit");
    while (*i < end) {
        if (is_digit_base(t[*i], base)) {
            (*i)++;
        } else if (t[*i] == '_') {
            if (*i + 1 >= end || !is_digit_base(t[*i + 1], base))
                return toml_fail_at(P, P->line, col_of(P, *i), "'_' must be between digits");
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
    struct node *n = toml_node_new(P, TOML_INTEGER, P->line, P->col);
    if (n)
        n->v.i = !neg ? (int64_t)v : v == limit ? INT64_MIN : -(int64_t)v;
    return n;
}

static struct node *make_float(struct parser *P, size_t end)
{
    size_t len = end - P->pos;
    char *tmp = malloc(len + 1), *o = tmp;
    if (!tmp) {
        toml_oom(P);
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
    struct node *n = toml_node_new(P, TOML_FLOAT, P->line, P->col);
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
            toml_fail_at(P, P->line, col_of(P, i), "invalid character in number");
            return NULL;
        }
        return make_int(P, from, end, base, 0);
    }
    size_t from = i;
    if (scan_digits(P, &i, end, 10) < 0)
        return NULL;
    if (t[from] == '0' && i - from > 1) {
        toml_fail_at(P, P->line, col_of(P, from), "leading zeros are not allowed");
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
        toml_fail_at(P, P->line, col_of(P, i), "invalid character in number");
        return NULL;
    }
    return is_float ? make_float(P, end) : make_int(P, from, end, 10, neg);
}

int toml_is_word(int c)
{
    return is_bare(c) || c == '.' || c == '+' || c == ':';
}

/* Booleans, numbers, inf and nan: anything that is not a string, array or table. */
struct node *toml_parse_bare_value(struct parser *P)
{
    size_t end = P->pos;
    while (end < P->len && toml_is_word(P->s[end]))
        end++;
    size_t n = end - P->pos;
    const char *w = (const char *)P->s + P->pos;
    if ((n == 4 && memcmp(w, "true", 4) == 0) || (n == 5 && memcmp(w, "false", 5) == 0)) {
        struct node *v = toml_node_new(P, TOML_BOOL, P->line, P->col);
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

