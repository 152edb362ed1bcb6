/* toml.h - a small, strict TOML 1.0 reader for provium.toml and friends.
 *
 * Why our own: the configuration is the user's first contact with Provium, so every
 * mistake must be reported with an exact line, column and a plain message, and the
 * reader must never crash or read out of bounds on hostile input (it is fuzzed by
 * tests/fuzz/fuzz_toml.c). Owning the reader lets us choose those messages and
 * keep it strict; it is flat C with no dependencies.
 *
 * What it reads: all of TOML 1.0 except offset/local dates and times, which are
 * rejected with "dates and times are not supported" (Provium has no use for them).
 * The document must be valid UTF-8 (a leading BOM is skipped); strings are returned
 * as UTF-8 with escapes decoded and CRLF inside multi-line strings turned into LF.
 *
 * Usage:
 *
 *     struct toml_error err;
 *     struct toml_value *doc = toml_parse(text, len, &err);
 *     if (!doc) { warnx_p("%s:%d:%d: %s", path, err.line, err.col, err.msg); ... }
 *     const struct toml_value *p = toml_get(doc, "provium");
 *     ...
 *     toml_free(doc);
 *
 * The whole tree is owned by the root returned from toml_parse(); values obtained from
 * it stay valid until toml_free(root). Tables keep their keys in definition order.
 * Columns count Unicode code points (so a tab or a multi-byte character is one column).
 */
#ifndef PROVIUM_TOML_H
#define PROVIUM_TOML_H

#include <stddef.h>
#include <stdint.h>

/* Tables and arrays may nest at most this deep (the root table is depth 0). Deeper
 * documents fail with "nesting too deep"; this keeps recursion in the reader, in
 * toml_free() and in callers that walk the tree bounded. */
#define TOML_MAX_DEPTH 64

enum toml_type { TOML_STRING, TOML_INTEGER, TOML_FLOAT, TOML_BOOL, TOML_ARRAY, TOML_TABLE };

struct toml_value {
    enum toml_type type;
    int line, col;          /* 1-based position where this value starts (for tables: the header or first key that created it) */
    char *s; size_t slen;   /* TOML_STRING (NUL-terminated, slen excludes NUL; embedded NUL not allowed) */
    int64_t i;              /* TOML_INTEGER */
    double f;               /* TOML_FLOAT */
    int b;                  /* TOML_BOOL */
    struct toml_value **items; size_t n_items;          /* TOML_ARRAY */
    char **keys; struct toml_value **vals; size_t n_keys; /* TOML_TABLE, in definition order */
    int *key_line, *key_col;   /* TOML_TABLE: position of each key (for "unknown key" errors) */
};

struct toml_error { int line, col; char msg[256]; };

/* Parse len bytes of text (need not be NUL-terminated). Returns the root table, or
 * NULL with *err filled (err may be NULL if the caller does not care why). */
struct toml_value *toml_parse(const char *text, size_t len, struct toml_error *err);

/* The value stored under key in table, or NULL if table is NULL, is not a table, or
 * has no such key. key is a single key, not a dotted path. */
const struct toml_value *toml_get(const struct toml_value *table, const char *key);

/* Free a tree returned by toml_parse() (NULL is fine). Only pass roots. */
void toml_free(struct toml_value *v);

/* "string", "integer", "float", "boolean", "array", "table". */
const char *toml_type_name(enum toml_type t);

#endif
