/* fuzz_cjson.c - libFuzzer target for the forge's canonical JSON (src/forge/cjson.c).
 *
 * Why: manifests are user input (and emit's programs write whatever they like), and the
 * strict reader must never crash, hang, leak or read out of bounds whatever the bytes.
 * Each input is parsed; a failure must carry exit code 1 or 2 and a detail. A success
 * must dump, and the canonical form must be a fixed point: parse(dump(x)) succeeds and
 * dumps to the same bytes, with the same SHA-256.
 *
 * Build and run (seed corpus in tests/fuzz/corpus/cjson/):
 *   clang -std=c17 -g -O1 -D_GNU_SOURCE -fsanitize=fuzzer,address,undefined -I. -Isrc \
 *       tests/fuzz/fuzz_cjson.c src/forge/cjson.c src/util/util.c -ljansson -lcrypto \
 *       -o /tmp/fuzz_cjson
 *   mkdir -p /tmp/cjson-corpus && /tmp/fuzz_cjson -max_total_time=120 /tmp/cjson-corpus tests/fuzz/corpus/cjson
 * Without libFuzzer, link tests/fuzz/standalone_main.c instead of -fsanitize=fuzzer
 * to replay files (meson builds it as fuzz_cjson_replay).
 */
#include "forge/cjson.h"
#include "forge/forge.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static void check(int ok)
{
    if (!ok)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct cjson_error err;
    json_t *v = cjson_parse((const char *)data, size, &err);
    if (!v) {
        check(err.exit_code == FORGE_EXIT_ERROR || err.exit_code == FORGE_EXIT_INVALID);
        check(err.detail[0] != '\0' && memchr(err.detail, '\0', sizeof err.detail) != NULL);
        return 0;
    }
    size_t len = 0, len2 = 0;
    char *once = cjson_dump(v, &len);
    check(once != NULL && once[len] == '\0');
    json_t *again = cjson_parse(once, len, &err);
    check(again != NULL);
    char *twice = cjson_dump(again, &len2);
    check(twice != NULL && len2 == len && memcmp(once, twice, len) == 0);
    char h1[65], h2[65];
    cjson_sha256_hex(v, h1);
    cjson_sha256_hex(again, h2);
    check(strlen(h1) == 64 && strcmp(h1, h2) == 0);
    free(once);
    free(twice);
    json_decref(again);
    json_decref(v);
    return 0;
}
