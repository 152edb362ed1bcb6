/* toml_int.h - what the two halves of the TOML reader share: toml.c (nodes, the table
 * rules of TOML 1.0, arrays, inline tables, the document) and toml_lex.c (the encoding
 * check, whitespace and comments, strings, keys, numbers and other bare values). The
 * cursor helpers are inline here so the lexer stays as fast as one file was. Not for
 * use outside src/config/toml*.c. */
#ifndef PROVIUM_TOML_INT_H
#define PROVIUM_TOML_INT_H

#include "toml.h"

#include <limits.h>
#include <stddef.h>

/* Every node starts with the public struct toml_value. */
struct node {
    struct toml_value v;   /* must stay first: a struct node * is a struct toml_value * */
    int depth;             /* root table is 0 */
    unsigned flags;        /* F_* */
    size_t cap;            /* allocated slots in items, or in keys/vals/key_line/key_col */
    size_t *index;         /* hash of key -> key position + 1 (0 = empty slot), or NULL */
    size_t index_cap;      /* power of two */
};

/* ---- the parser: state, cursor ---- */
struct parser {
    const unsigned char *s;
    size_t len, pos;
    int line, col;            /* position of s[pos] */
    struct toml_error *err;
    int failed;
    struct node *root;
    struct node *cur;         /* table receiving key = value lines */
};

static inline void bump(int *x)
{
    if (*x < INT_MAX)
        (*x)++;
}

/* The byte k positions ahead of the cursor, or -1 past the end. */
static inline int peek(const struct parser *P, size_t k)
{
    return k < P->len - P->pos ? P->s[P->pos + k] : -1;
}

static inline void adv(struct parser *P)
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
static inline int col_of(const struct parser *P, size_t i)
{
    size_t d = i - P->pos;
    return d > (size_t)(INT_MAX - P->col) ? INT_MAX : P->col + (int)d;
}

static inline void advn(struct parser *P, size_t n)
{
    while (n--)
        adv(P);
}

/* ---- errors and nodes (toml.c) ---- */
/* Records the first error at line:col; returns -1. */
__attribute__((format(printf, 4, 5)))
int toml_fail_at(struct parser *P, int line, int col, const char *fmt, ...);
#define fail(P, ...) toml_fail_at((P), (P)->line, (P)->col, __VA_ARGS__)
int toml_oom(struct parser *P);
struct node *toml_node_new(struct parser *P, enum toml_type type, int line, int col);
void toml_node_free(struct node *n);

/* ---- the lexer (toml_lex.c) ---- */
struct keypart {
    char *s;
    int line, col;
};

struct key {
    struct keypart part[TOML_MAX_DEPTH];
    int n;
};

/* Rejects invalid UTF-8 and bare carriage returns in the whole input. */
int toml_check_encoding(struct parser *P);
int toml_is_newline(int c);
int toml_is_word(int c);
void toml_skip_ws(struct parser *P);
void toml_eat_newline(struct parser *P);
int toml_skip_comment(struct parser *P);
int toml_skip_blank(struct parser *P);
int toml_end_of_line(struct parser *P, const char *what);
struct node *toml_parse_string_value(struct parser *P);
void toml_key_clear(struct key *k);
const char *toml_key_path(const struct key *k, int upto, char *out, size_t n);
int toml_parse_key(struct parser *P, struct key *k);
struct node *toml_parse_bare_value(struct parser *P);

#endif
