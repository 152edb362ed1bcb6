/* fuzz_toml.c - libFuzzer target for the TOML reader (src/config/toml.c, toml_lex.c).
 *
 * Why: provium.toml is user input, and the reader must never crash, hang, leak or
 * read out of bounds whatever the bytes. Each input is parsed; on success the whole
 * tree is walked and its invariants checked (types, NUL-terminated strings without
 * embedded NULs, positions, depth cap), then freed. On failure the error must carry
 * a position and a message.
 *
 * Build and run (seed corpus in tests/fuzz/corpus/toml/):
 *   clang -std=c17 -g -O1 -D_GNU_SOURCE -fsanitize=fuzzer,address,undefined -Isrc \
 *       tests/fuzz/fuzz_toml.c src/config/toml.c src/config/toml_lex.c -o /tmp/fuzz_toml
 *   mkdir -p /tmp/toml-corpus && /tmp/fuzz_toml -max_total_time=120 /tmp/toml-corpus tests/fuzz/corpus/toml
 * Without libFuzzer, link tests/fuzz/standalone_main.c instead of -fsanitize=fuzzer
 * to replay files.
 */
#include "config/toml.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static void check(int ok)
{
    if (!ok)
        abort();
}

static void walk(const struct toml_value *v, int depth)
{
    check(v != NULL);
    check(v->line >= 1 && v->col >= 1);
    switch (v->type) {
    case TOML_STRING:
        check(v->s != NULL && v->s[v->slen] == '\0' && strlen(v->s) == v->slen);
        break;
    case TOML_INTEGER:
    case TOML_FLOAT:
    case TOML_BOOL:
        break;
    case TOML_ARRAY:
        check(depth <= TOML_MAX_DEPTH);
        for (size_t i = 0; i < v->n_items; i++)
            walk(v->items[i], depth + 1);
        break;
    case TOML_TABLE:
        check(depth <= TOML_MAX_DEPTH);
        for (size_t i = 0; i < v->n_keys; i++) {
            check(v->keys[i] != NULL);
            check(v->key_line[i] >= 1 && v->key_col[i] >= 1);
            if (v->n_keys <= 64)   /* keys are unique: lookup finds this very value */
                check(toml_get(v, v->keys[i]) == v->vals[i]);
            walk(v->vals[i], depth + 1);
        }
        break;
    default:
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct toml_error err;
    struct toml_value *root = toml_parse((const char *)data, size, &err);
    if (root) {
        check(root->type == TOML_TABLE);
        walk(root, 0);
        toml_free(root);
    } else {
        check(err.line >= 1 && err.col >= 1 && err.msg[0] != '\0');
        check(memchr(err.msg, '\0', sizeof err.msg) != NULL);
    }
    return 0;
}
