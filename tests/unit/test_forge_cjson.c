/* test_forge_cjson.c - canonical JSON (src/forge/cjson.c) and the validation envelope
 * (src/forge/errors.c): RFC 8785's own examples, every rejection of the strict reader
 * with its exit code (2 not JSON, 1 a number that is not an integer in range), round
 * trips, the ir_hash, and the envelope's ordering and exit codes.
 */
#include "forge/cjson.h"
#include "forge/errors.h"
#include "forge/forge.h"

#include "testlib.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Canonical form of len bytes, or NULL (then *code is the parse's exit code). */
static char *canon_n(const char *in, size_t len, int *code)
{
    struct cjson_error err;
    json_t *v = cjson_parse(in, len, &err);
    *code = v ? 0 : err.exit_code;
    if (!v)
        return NULL;
    char *out = cjson_dump(v, NULL);
    json_decref(v);
    return out;
}

static void expect_at(const char *file, int line, const char *in, const char *want)
{
    int code = -1;
    char *out = canon_n(in, strlen(in), &code);
    tl_check_at(out && !strcmp(out, want), file, line, "canonical(%s) = %s, expected %s (exit %d)",
                in, out ? out : "NULL", want, code);
    free(out);
}

static void reject_at(const char *file, int line, const char *in, size_t len, int want_code)
{
    struct cjson_error err;
    json_t *v = cjson_parse(in, len, &err);
    tl_check_at(!v && err.exit_code == want_code && err.detail[0], file, line,
                "parse(%.*s) should fail with exit %d (got %s, exit %d, \"%s\")", (int)len, in,
                want_code, v ? "a value" : "NULL", v ? 0 : err.exit_code, v ? "" : err.detail);
    json_decref(v);
}

#define EXPECT(in, want) expect_at(__FILE__, __LINE__, in, want)
#define REJECT(in, code) reject_at(__FILE__, __LINE__, in, strlen(in), code)
#define REJECT_N(in, n, code) reject_at(__FILE__, __LINE__, in, n, code)

static void test_rfc8785_sorting(void)
{
    /* RFC 8785 §3.2.3: keys sorted by UTF-16 code units (the emoji's high surrogate
     * D83D sorts before U+FB33 although its code point is larger) */
    EXPECT("{\"\\u20ac\":\"Euro Sign\",\"\\r\":\"Carriage Return\","
           "\"\\ufb33\":\"Hebrew Letter Dalet With Dagesh\",\"1\":\"One\","
           "\"\\ud83d\\ude00\":\"Emoji: Grinning Face\",\"\\u0080\":\"Control\","
           "\"\\u00f6\":\"Latin Small Letter O With Diaeresis\"}",
           "{\"\\r\":\"Carriage Return\",\"1\":\"One\",\"\xc2\x80\":\"Control\","
           "\"\xc3\xb6\":\"Latin Small Letter O With Diaeresis\",\"\xe2\x82\xac\":\"Euro Sign\","
           "\"\xf0\x9f\x98\x80\":\"Emoji: Grinning Face\","
           "\"\xef\xac\xb3\":\"Hebrew Letter Dalet With Dagesh\"}");
    /* raw UTF-8 keys U+1F600, U+FB33, U+E000: byte (code point) order would give
     * E000, FB33, 1F600; UTF-16 order puts the emoji (D83D DE00) first */
    EXPECT("{\"\xef\xac\xb3\":2,\"\xee\x80\x80\":3,\"\xf0\x9f\x98\x80\":1}",
           "{\"\xf0\x9f\x98\x80\":1,\"\xee\x80\x80\":3,\"\xef\xac\xb3\":2}");
    /* a prefix sorts first; nested objects are sorted too; array order is kept */
    EXPECT("{\"ab\":1,\"a\":{\"y\":1,\"x\":[3,1,2]}}", "{\"a\":{\"x\":[3,1,2],\"y\":1},\"ab\":1}");
}

static void test_rfc8785_escapes(void)
{
    /* RFC 8785 §3.2.2.2 (without its numbers: ours are integers only) */
    EXPECT("{\n  \"string\": \"\\u20ac$\\u000F\\u000aA'\\u0042\\u0022\\u005c\\\\\\\"\\/\",\n"
           "  \"literals\": [null, true, false]\n}",
           "{\"literals\":[null,true,false],\"string\":\"\xe2\x82\xac$\\u000f\\nA'B\\\"\\\\\\\\\\\"/\"}");
    EXPECT("\"\\b\\f\\n\\r\\t\\u0000\\u001f\\u007f\"", "\"\\b\\f\\n\\r\\t\\u0000\\u001f\x7f\"");
    EXPECT("\"\\u00e9\\u4e2d\"", "\"\xc3\xa9\xe4\xb8\xad\"");
    /* NUL inside keys and strings survives */
    EXPECT("{\"a\\u0000b\":\"x\\u0000\"}", "{\"a\\u0000b\":\"x\\u0000\"}");
    EXPECT("  \t\r\n[ 1 , \"a\" ]\n", "[1,\"a\"]");
    EXPECT("{}", "{}");
    EXPECT("[]", "[]");
    EXPECT("null", "null");
    EXPECT("\"\"", "\"\"");
}

static void test_numbers(void)
{
    EXPECT("[9007199254740991,-9007199254740991,0,-0,10,-7]",
           "[9007199254740991,-9007199254740991,0,0,10,-7]");
    REJECT("9007199254740992", FORGE_EXIT_INVALID);
    REJECT("-9007199254740992", FORGE_EXIT_INVALID);
    REJECT("123456789012345678901234567890", FORGE_EXIT_INVALID);
    REJECT("1.0", FORGE_EXIT_INVALID);
    REJECT("1e2", FORGE_EXIT_INVALID);
    REJECT("1E+2", FORGE_EXIT_INVALID);
    REJECT("-0.0", FORGE_EXIT_INVALID);
    REJECT("{\"a\":[1,2.5]}", FORGE_EXIT_INVALID);
    /* not numbers at all: not JSON */
    REJECT("01", FORGE_EXIT_ERROR);
    REJECT("-01", FORGE_EXIT_ERROR);
    REJECT("[00]", FORGE_EXIT_ERROR);
    REJECT("-", FORGE_EXIT_ERROR);
    REJECT("1.", FORGE_EXIT_ERROR);
    REJECT(".5", FORGE_EXIT_ERROR);
    REJECT("1e", FORGE_EXIT_ERROR);
    REJECT("+1", FORGE_EXIT_ERROR);
    REJECT("0x10", FORGE_EXIT_ERROR);
    REJECT("NaN", FORGE_EXIT_ERROR);
    REJECT("Infinity", FORGE_EXIT_ERROR);
    /* a float earlier and a syntax error later: the document is not JSON (exit 2) */
    REJECT("[1.5, }", FORGE_EXIT_ERROR);
}

static void test_syntax_rejections(void)
{
    REJECT("{\"a\":1,\"a\":2}", FORGE_EXIT_ERROR);             /* duplicate key */
    REJECT("{\"a\":1,\"\\u0061\":2}", FORGE_EXIT_ERROR);       /* same key, escaped */
    REJECT("\"\\ud800\"", FORGE_EXIT_ERROR);                   /* lone high surrogate */
    REJECT("\"\\ud800x\"", FORGE_EXIT_ERROR);
    REJECT("\"\\ud800\\u0041\"", FORGE_EXIT_ERROR);            /* high then not low */
    REJECT("\"\\udc00\"", FORGE_EXIT_ERROR);                   /* lone low surrogate */
    REJECT("\"\\ude00\\ud83d\"", FORGE_EXIT_ERROR);            /* pair in the wrong order */
    REJECT("\"\\u12\"", FORGE_EXIT_ERROR);
    REJECT("\"\\x\"", FORGE_EXIT_ERROR);
    REJECT("\"a\nb\"", FORGE_EXIT_ERROR);                      /* control chars unescaped */
    REJECT("\"a\tb\"", FORGE_EXIT_ERROR);
    REJECT_N("\"a\0b\"", 5, FORGE_EXIT_ERROR);
    REJECT("\"abc", FORGE_EXIT_ERROR);
    REJECT("", FORGE_EXIT_ERROR);
    REJECT("   ", FORGE_EXIT_ERROR);
    REJECT("{} x", FORGE_EXIT_ERROR);                          /* trailing garbage */
    REJECT("1 2", FORGE_EXIT_ERROR);
    REJECT("[1,]", FORGE_EXIT_ERROR);
    REJECT("{\"a\":1,}", FORGE_EXIT_ERROR);
    REJECT("{a:1}", FORGE_EXIT_ERROR);
    REJECT("{\"a\" 1}", FORGE_EXIT_ERROR);
    REJECT("[1 2]", FORGE_EXIT_ERROR);
    REJECT("tru", FORGE_EXIT_ERROR);
    REJECT("nulll", FORGE_EXIT_ERROR);
    REJECT("\xef\xbb\xbf{}", FORGE_EXIT_ERROR);               /* a BOM is not whitespace */
    REJECT("\f{}", FORGE_EXIT_ERROR);                          /* nor a form feed */
    REJECT("// c\n{}", FORGE_EXIT_ERROR);
}

static void test_utf8_rejections(void)
{
    static const char *bad[] = {
        "\"\x80\"",                 /* stray continuation byte */
        "\"\xc3\"",                 /* truncated */
        "\"\xe2\x82\"",
        "\"\xc0\x80\"",             /* overlong NUL */
        "\"\xc1\xbf\"",             /* overlong */
        "\"\xe0\x80\xaf\"",         /* overlong 3-byte */
        "\"\xf0\x80\x80\xaf\"",     /* overlong 4-byte */
        "\"\xed\xa0\x80\"",         /* an encoded surrogate (U+D800) */
        "\"\xed\xbf\xbf\"",         /* U+DFFF */
        "\"\xf4\x90\x80\x80\"",     /* above U+10FFFF */
        "\"\xf5\x80\x80\x80\"",
        "\"\xff\"",
        "{\"\xfe\":1}",             /* in a key */
        "[\"\xe2\x28\xa1\"]",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        REJECT(bad[i], FORGE_EXIT_ERROR);
    EXPECT("\"\xed\x9f\xbf\xee\x80\x80\xf4\x8f\xbf\xbf\"", "\"\xed\x9f\xbf\xee\x80\x80\xf4\x8f\xbf\xbf\"");
}

static char *nested(int depth, const char *open, const char *inner, const char *close)
{
    size_t lo = strlen(open), lc = strlen(close), li = strlen(inner);
    char *s = malloc(depth * (lo + lc) + li + 1), *p = s;
    for (int i = 0; i < depth; i++)
        p = memcpy(p, open, lo), p += lo;
    p = memcpy(p, inner, li), p += li;
    for (int i = 0; i < depth; i++)
        p = memcpy(p, close, lc), p += lc;
    *p = '\0';
    return s;
}

static void test_depth(void)
{
    int code;
    char *ok = nested(CJSON_MAX_DEPTH, "[", "1", "]");
    char *out = canon_n(ok, strlen(ok), &code);
    CHECK_STR_EQ(out, ok);
    free(out);
    char *deep = nested(CJSON_MAX_DEPTH + 1, "[", "1", "]");
    REJECT(deep, FORGE_EXIT_ERROR);
    char *obj_ok = nested(CJSON_MAX_DEPTH, "{\"a\":", "1", "}");
    char *obj_deep = nested(CJSON_MAX_DEPTH + 1, "{\"a\":", "{}", "}");
    out = canon_n(obj_ok, strlen(obj_ok), &code);
    CHECK_STR_EQ(out, obj_ok);
    REJECT(obj_deep, FORGE_EXIT_ERROR);
    free(out);
    free(ok);
    free(deep);
    free(obj_ok);
    free(obj_deep);
}

static void test_round_trip(void)
{
    static const char *docs[] = {
        "{\"z\":[{\"b\":\"\\u001e\",\"a\":\"\\\"\"}],\"\\ud83d\\ude00\":\"\xef\xbf\xbf\",\"\":0}",
        "[true,false,null,-9007199254740991,{\"\\u0000\":{}}]",
        "\"\\\\/\\/\"",
    };
    for (size_t i = 0; i < sizeof docs / sizeof docs[0]; i++) {
        int c1 = -1, c2 = -1;
        char *once = canon_n(docs[i], strlen(docs[i]), &c1);
        char *twice = once ? canon_n(once, strlen(once), &c2) : NULL;
        CHECK_MSG(once && twice && !strcmp(once, twice), "canonical(canonical(%s)) differs", docs[i]);
        free(once);
        free(twice);
    }
}

static void test_dump_built_values(void)
{
    /* values built by other code: an integral real is an integer, a fraction is refused */
    json_t *v = json_pack("{s:f,s:i}", "r", 3.0, "i", 4);
    char *out = cjson_dump(v, NULL);
    CHECK_STR_EQ(out, "{\"i\":4,\"r\":3}");
    free(out);
    json_object_set_new(v, "f", json_real(0.5));
    CHECK(cjson_dump(v, NULL) == NULL);
    json_decref(v);
}

static void test_sha256_and_file(void)
{
    json_t *v = json_object();
    char hex[65];
    cjson_sha256_hex(v, hex);   /* sha256("{}") */
    CHECK_STR_EQ(hex, "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a");
    json_decref(v);

    char path[] = "/tmp/test_forge_cjson-XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0 && write(fd, "{\"b\":1, \"a\":2}\n", 15) == 15);
    close(fd);
    struct cjson_error err;
    v = cjson_load_file(path, &err);
    char *out = v ? cjson_dump(v, NULL) : NULL;
    CHECK_STR_EQ(out, "{\"a\":2,\"b\":1}");
    free(out);
    json_decref(v);
    unlink(path);
    v = cjson_load_file(path, &err);
    CHECK(v == NULL);
    CHECK_EQ_INT(err.exit_code, FORGE_EXIT_ERROR);
    CHECK_STR_CONTAINS(err.detail, "No such file");
    v = cjson_load_file("/", &err);   /* a directory */
    CHECK(v == NULL && err.exit_code == FORGE_EXIT_ERROR);
}

/* forge_print_envelope's stdout, captured through a temporary file. */
static char *print_captured(struct forge_errors *e, json_t *extra, int *rc)
{
    fflush(stdout);
    FILE *tmp = tmpfile();
    int saved = dup(1);
    dup2(fileno(tmp), 1);
    *rc = forge_print_envelope(e, extra);
    fflush(stdout);
    dup2(saved, 1);
    close(saved);
    size_t len = (size_t)ftell(tmp);
    char *s = calloc(1, len + 1);
    rewind(tmp);
    if (fread(s, 1, len, tmp) != len)
        s[0] = '\0';
    fclose(tmp);
    return s;
}

static void test_envelope(void)
{
    struct forge_errors e = {0};
    int rc;
    char *out = print_captured(&e, NULL, &rc);
    CHECK_STR_EQ(out, "{\"errors\":[],\"ok\":true}\n");
    CHECK_EQ_INT(rc, FORGE_EXIT_OK);
    free(out);

    forge_errors_add(&e, "E_UNKNOWN_FIELD", ".apps[0].zz", "unknown %s", "zz");
    forge_errors_add(&e, "E_INVALID_ID", ".id", "bad id");
    forge_errors_add(&e, "E_MALFORMED_MANIFEST", ".apps[0].env", "first");
    forge_errors_add(&e, "E_EMPTY_APPS", "", "whole");
    forge_errors_add(&e, "E_INVALID_ID", ".apps[0].env", "second");
    forge_errors_add(&e, "E_MALFORMED_MANIFEST", ".apps[0].env", "third, after first");
    CHECK_EQ_INT(e.exit_code, FORGE_EXIT_INVALID);
    json_t *extra = json_pack("{s:s}", "ir_hash", "ab");
    out = print_captured(&e, extra, &rc);
    json_decref(extra);
    CHECK_STR_EQ(out, "{\"errors\":["
        "{\"code\":\"E_EMPTY_APPS\",\"detail\":\"whole\",\"path\":\"\"},"
        "{\"code\":\"E_INVALID_ID\",\"detail\":\"second\",\"path\":\".apps[0].env\"},"
        "{\"code\":\"E_MALFORMED_MANIFEST\",\"detail\":\"first\",\"path\":\".apps[0].env\"},"
        "{\"code\":\"E_MALFORMED_MANIFEST\",\"detail\":\"third, after first\",\"path\":\".apps[0].env\"},"
        "{\"code\":\"E_UNKNOWN_FIELD\",\"detail\":\"unknown zz\",\"path\":\".apps[0].zz\"},"
        "{\"code\":\"E_INVALID_ID\",\"detail\":\"bad id\",\"path\":\".id\"}"
        "],\"ir_hash\":\"ab\",\"ok\":false}\n");
    CHECK_EQ_INT(rc, FORGE_EXIT_INVALID);
    free(out);

    /* a fatal error raises the exit code; a detail that is not UTF-8 is escaped */
    forge_errors_add_fatal(&e, "E_SOURCE_COPY_FAILED", ".apps[0].source", "file \xff gone");
    CHECK_EQ_INT(e.exit_code, FORGE_EXIT_ERROR);
    json_t *env = forge_envelope(&e);
    json_t *errs = json_object_get(env, "errors");
    CHECK_EQ_INT(json_array_size(errs), 7);
    CHECK_STR_EQ(json_string_value(json_object_get(json_array_get(errs, 4), "detail")),
                 "file \\xff gone");
    CHECK(json_is_false(json_object_get(env, "ok")));
    json_decref(env);
    out = print_captured(&e, NULL, &rc);
    CHECK_EQ_INT(rc, FORGE_EXIT_ERROR);
    free(out);
    forge_errors_free(&e);
    CHECK(e.n == 0 && e.v == NULL && e.exit_code == 0);
}

int main(void)
{
    RUN(test_rfc8785_sorting);
    RUN(test_rfc8785_escapes);
    RUN(test_numbers);
    RUN(test_syntax_rejections);
    RUN(test_utf8_rejections);
    RUN(test_depth);
    RUN(test_round_trip);
    RUN(test_dump_built_values);
    RUN(test_sha256_and_file);
    RUN(test_envelope);
    return TEST_SUMMARY();
}
