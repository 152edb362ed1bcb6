/* cjson.h - canonical JSON (RFC 8785, spec §10.2) over jansson values.
 *
 * jansson's own reader keeps the last of duplicate keys, accepts lone surrogates and
 * floats, so the forge has its own strict reader: valid UTF-8 only, no lone surrogates,
 * no duplicate keys, depth <= 128, numbers only integers within ±(2^53-1). The writer
 * sorts object keys by UTF-16 code units and escapes only '"', '\\' and control
 * characters (\b \f \n \r \t, else \u00xx lowercase).
 */
#ifndef PROVIUM_FORGE_CJSON_H
#define PROVIUM_FORGE_CJSON_H

#include <jansson.h>
#include <stddef.h>

#define CJSON_MAX_DEPTH 128
#define CJSON_MAX_INT 9007199254740991LL /* 2^53 - 1 */

struct cjson_error {
    int exit_code;    /* FORGE_EXIT_ERROR (not JSON at all) or FORGE_EXIT_INVALID (a number
                         that is not an integer in range) */
    char detail[256]; /* prose, with the byte offset */
};

/* Parses len bytes; returns a new reference, or NULL with *err filled. */
json_t *cjson_parse(const char *buf, size_t len, struct cjson_error *err);

/* The canonical bytes of v (malloc'd, NUL-terminated, *len without the NUL). v holds
 * only what cjson_parse can produce (integers, no reals). */
char *cjson_dump(const json_t *v, size_t *len);

/* Lowercase hex SHA-256 of cjson_dump(v): the ir_hash. out holds 65 bytes. */
void cjson_sha256_hex(const json_t *v, char out[65]);

/* Reads a whole file (at most 64 MiB) and parses it; on failure err says why (an
 * unreadable file is FORGE_EXIT_ERROR). */
json_t *cjson_load_file(const char *path, struct cjson_error *err);

#endif
