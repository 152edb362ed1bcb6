/* cjson.c - canonical JSON (RFC 8785, spec §10.2): the strict reader, the canonical
 * writer, the ir_hash, and `provium forge canonicalize FILE`.
 *
 * Why a reader of our own: jansson's flags get close (JSON_REJECT_DUPLICATES; it refuses
 * lone \u surrogates) but not there: its depth limit is fixed at 2048, it reads 1.0 and
 * 1e2 as reals and 2^53 as an integer, and it reports a too-big integer as a plain
 * syntax error, while §10.6 needs "not JSON" (exit 2) told apart from "a number that is
 * not an integer within ±(2^53-1)" (exit 1). The reader is a recursive descent over the
 * bytes (depth <= 128 bounds the recursion); it validates UTF-8 itself (no overlong
 * forms, no encoded surrogates), pairs \u surrogates (a lone one is an error), and builds
 * jansson values so the rest of the forge works on json_t. A number problem is remembered and the parse goes on, so a document that is
 * also malformed further on is still "not JSON" (exit 2 wins).
 *
 * The writer sorts object keys by UTF-16 code units (decoding the UTF-8 keys), writes
 * integers in plain decimal and escapes only '"', '\\' and control characters.
 */
#include "forge/cjson.h"
#include "forge/forge.h"

#include "util/util.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CJSON_MAX_FILE (64u << 20)

/* ---- reader ---- */

struct reader {
    const unsigned char *start, *p, *end;
    int depth;
    int failed;            /* a syntax error: err is filled, exit 2 */
    int num_bad;           /* a number outside the integer range: exit 1 unless failed */
    char num_detail[256];
    struct cjson_error *err;
};

static json_t *read_value(struct reader *r);

__attribute__((format(printf, 2, 3)))
static void fail(struct reader *r, const char *fmt, ...)
{
    if (r->failed)
        return;
    r->failed = 1;
    char msg[200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    r->err->exit_code = FORGE_EXIT_ERROR;
    snprintf(r->err->detail, sizeof r->err->detail, "not JSON at byte %zu: %s",
             (size_t)(r->p - r->start), msg);
}

static void skip_ws(struct reader *r)
{
    while (r->p < r->end && (*r->p == ' ' || *r->p == '\t' || *r->p == '\n' || *r->p == '\r'))
        r->p++;
}

static void put_utf8(struct buf *b, uint32_t cp)
{
    unsigned char u[4];
    size_t n;
    if (cp < 0x80) {
        u[0] = (unsigned char)cp, n = 1;
    } else if (cp < 0x800) {
        u[0] = (unsigned char)(0xc0 | cp >> 6), u[1] = (unsigned char)(0x80 | (cp & 0x3f)), n = 2;
    } else if (cp < 0x10000) {
        u[0] = (unsigned char)(0xe0 | cp >> 12), u[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
        u[2] = (unsigned char)(0x80 | (cp & 0x3f)), n = 3;
    } else {
        u[0] = (unsigned char)(0xf0 | cp >> 18), u[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3f));
        u[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f)), u[3] = (unsigned char)(0x80 | (cp & 0x3f));
        n = 4;
    }
    buf_append(b, u, n);
}

/* Four hex digits after "\u"; -1 if they are not there. */
static long read_hex4(struct reader *r)
{
    if (r->end - r->p < 4)
        return -1;
    long v = 0;
    for (int i = 0; i < 4; i++) {
        unsigned c = r->p[i];
        int d = c >= '0' && c <= '9' ? (int)c - '0'
              : c >= 'a' && c <= 'f' ? (int)c - 'a' + 10
              : c >= 'A' && c <= 'F' ? (int)c - 'A' + 10 : -1;
        if (d < 0)
            return -1;
        v = v * 16 + d;
    }
    r->p += 4;
    return v;
}

/* A \uXXXX escape (r->p just past the 'u'), pairing surrogates. */
static void read_u_escape(struct reader *r, struct buf *b)
{
    long hi = read_hex4(r);
    if (hi < 0) {
        fail(r, "bad \\u escape");
    } else if (hi >= 0xdc00 && hi <= 0xdfff) {
        fail(r, "lone low surrogate \\u%04lx", hi);
    } else if (hi < 0xd800 || hi > 0xdbff) {
        put_utf8(b, (uint32_t)hi);
    } else if (r->end - r->p < 2 || r->p[0] != '\\' || r->p[1] != 'u') {
        fail(r, "lone high surrogate \\u%04lx", hi);
    } else {
        r->p += 2;
        long lo = read_hex4(r);
        if (lo < 0xdc00 || lo > 0xdfff)
            fail(r, "high surrogate \\u%04lx not followed by a low one", hi);
        else
            put_utf8(b, 0x10000 + (((uint32_t)hi - 0xd800) << 10) + ((uint32_t)lo - 0xdc00));
    }
}

static void read_escape(struct reader *r, struct buf *b)
{
    if (r->p >= r->end) {
        fail(r, "unterminated string");
        return;
    }
    unsigned char c = *r->p++;
    const char *from = "\"\\/bfnrt", *to = "\"\\/\b\f\n\r\t";
    const char *hit = c ? strchr(from, c) : NULL;
    if (hit)
        buf_append(b, to + (hit - from), 1);
    else if (c == 'u')
        read_u_escape(r, b);
    else
        fail(r, "bad escape \\%c", c >= 0x20 && c < 0x7f ? c : '?');
}

/* A string body (r->p at the opening quote) into b (NUL-terminated, may hold NULs). */
static int read_string_into(struct reader *r, struct buf *b)
{
    r->p++;
    while (!r->failed) {
        if (r->p >= r->end) {
            fail(r, "unterminated string");
            break;
        }
        unsigned char c = *r->p;
        if (c == '"') {
            r->p++;
            buf_append(b, "", 0);
            buf_cstr(b);
            return 0;
        }
        if (c < 0x20) {
            fail(r, "unescaped control character 0x%02x in a string", c);
        } else if (c == '\\') {
            r->p++;
            read_escape(r, b);
        } else {
            size_t n = utf8_seq_len(r->p, (size_t)(r->end - r->p));
            if (!n)
                fail(r, "invalid UTF-8 in a string");
            buf_append(b, r->p, n);
            r->p += n;
        }
    }
    return -1;
}

static json_t *read_string(struct reader *r)
{
    struct buf b = {0};
    json_t *v = NULL;
    if (read_string_into(r, &b) == 0)
        v = json_stringn_nocheck(b.data ? b.data : "", b.len);
    buf_free(&b);
    return v;
}

/* Remembers the first number that is valid JSON but not an integer within range. */
static void number_bad(struct reader *r, const unsigned char *s, const char *why)
{
    if (r->num_bad)
        return;
    r->num_bad = 1;
    int n = (int)(r->p - s);
    snprintf(r->num_detail, sizeof r->num_detail, "number at byte %zu (%.*s%s) %s",
             (size_t)(s - r->start), n > 40 ? 40 : n, (const char *)s, n > 40 ? "..." : "", why);
}

static int digits(struct reader *r)
{
    const unsigned char *s = r->p;
    while (r->p < r->end && *r->p >= '0' && *r->p <= '9')
        r->p++;
    return (int)(r->p - s);
}

/* A number: valid JSON grammar or "not JSON"; then an integer within range or num_bad. */
static json_t *read_number(struct reader *r)
{
    const unsigned char *s = r->p;
    int neg = *r->p == '-';
    r->p += neg;
    const unsigned char *int_start = r->p;
    int nd = digits(r), frac = 0, bad = nd == 0;
    if (nd > 1 && *int_start == '0') {
        r->p = int_start + 1;
        fail(r, "leading zero in a number");
        return NULL;
    }
    if (!bad && r->p < r->end && *r->p == '.') {
        r->p++;
        bad = digits(r) == 0;
        frac = 1;
    }
    if (!bad && r->p < r->end && (*r->p == 'e' || *r->p == 'E')) {
        r->p++;
        if (r->p < r->end && (*r->p == '+' || *r->p == '-'))
            r->p++;
        bad = digits(r) == 0;
        frac = 1;
    }
    if (bad) {
        fail(r, "bad number");
        return NULL;
    }
    if (frac) {
        number_bad(r, s, "is not an integer");
        return json_integer(0);
    }
    long long v = 0;
    for (const unsigned char *q = int_start; q < r->p; q++) {
        v = v * 10 + (*q - '0');
        if (v > CJSON_MAX_INT) {
            number_bad(r, s, "is outside ±(2^53-1)");
            return json_integer(0);
        }
    }
    return json_integer(neg ? -v : v);   /* -0 is 0 */
}

static json_t *read_literal(struct reader *r)
{
    static const struct {
        const char *text;
        size_t len;
    } lits[] = {{"true", 4}, {"false", 5}, {"null", 4}};
    for (size_t i = 0; i < 3; i++) {
        if ((size_t)(r->end - r->p) >= lits[i].len && !memcmp(r->p, lits[i].text, lits[i].len)) {
            r->p += lits[i].len;
            return i == 0 ? json_true() : i == 1 ? json_false() : json_null();
        }
    }
    fail(r, "unexpected %s", r->p < r->end ? "character" : "end of input");
    return NULL;
}

static int enter(struct reader *r)
{
    if (++r->depth > CJSON_MAX_DEPTH) {
        fail(r, "nested deeper than %d", CJSON_MAX_DEPTH);
        return -1;
    }
    r->p++;
    skip_ws(r);
    return 0;
}

/* After an element: 1 at the closing bracket (consumed), 0 after a comma, -1 on error. */
static int next_or_close(struct reader *r, unsigned char close, const char *what)
{
    skip_ws(r);
    if (r->p < r->end && *r->p == close) {
        r->p++;
        r->depth--;
        return 1;
    }
    if (r->p < r->end && *r->p == ',') {
        r->p++;
        skip_ws(r);
        return 0;
    }
    fail(r, "expected ',' or '%c' in %s", close, what);
    return -1;
}

static json_t *read_array(struct reader *r)
{
    if (enter(r) < 0)
        return NULL;
    json_t *a = json_array();
    if (r->p < r->end && *r->p == ']') {
        r->p++;
        r->depth--;
        return a;
    }
    for (;;) {
        json_t *v = read_value(r);
        if (!v || json_array_append_new(a, v) < 0)
            break;
        int st = next_or_close(r, ']', "an array");
        if (st > 0)
            return a;
        if (st < 0)
            break;
    }
    json_decref(a);
    return NULL;
}

/* One "key": value pair into o. */
static int read_member(struct reader *r, json_t *o)
{
    if (r->p >= r->end || *r->p != '"') {
        fail(r, "expected a string key");
        return -1;
    }
    const unsigned char *key_at = r->p;
    struct buf k = {0};
    int rc = -1;
    if (read_string_into(r, &k) < 0)
        goto done;
    const char *key = k.data ? k.data : "";
    if (json_object_getn(o, key, k.len)) {
        r->p = key_at;
        fail(r, "duplicate key \"%.*s\"", (int)(k.len > 60 ? 60 : k.len), key);
        goto done;
    }
    skip_ws(r);
    if (r->p >= r->end || *r->p != ':') {
        fail(r, "expected ':' after an object key");
        goto done;
    }
    r->p++;
    skip_ws(r);
    json_t *v = read_value(r);
    if (v && json_object_setn_new_nocheck(o, key, k.len, v) == 0)
        rc = 0;
done:
    buf_free(&k);
    return rc;
}

static json_t *read_object(struct reader *r)
{
    if (enter(r) < 0)
        return NULL;
    json_t *o = json_object();
    if (r->p < r->end && *r->p == '}') {
        r->p++;
        r->depth--;
        return o;
    }
    for (;;) {
        if (read_member(r, o) < 0)
            break;
        int st = next_or_close(r, '}', "an object");
        if (st > 0)
            return o;
        if (st < 0)
            break;
    }
    json_decref(o);
    return NULL;
}

static json_t *read_value(struct reader *r)
{
    if (r->p >= r->end) {
        fail(r, "unexpected end of input");
        return NULL;
    }
    switch (*r->p) {
    case '{':
        return read_object(r);
    case '[':
        return read_array(r);
    case '"':
        return read_string(r);
    case '-':
    case '0': case '1': case '2': case '3': case '4':
    case '5': case '6': case '7': case '8': case '9':
        return read_number(r);
    default:
        return read_literal(r);
    }
}

json_t *cjson_parse(const char *buf, size_t len, struct cjson_error *err)
{
    struct reader r = {.start = (const unsigned char *)buf, .p = (const unsigned char *)buf,
                       .end = (const unsigned char *)buf + len, .err = err};
    err->exit_code = 0;
    err->detail[0] = '\0';
    skip_ws(&r);
    json_t *v = read_value(&r);
    if (v) {
        skip_ws(&r);
        if (r.p != r.end)
            fail(&r, "trailing data after the value");
    }
    if (!r.failed && !v)
        fail(&r, "out of memory");
    if (!r.failed && r.num_bad) {
        err->exit_code = FORGE_EXIT_INVALID;
        snprintf(err->detail, sizeof err->detail, "%s", r.num_detail);
    }
    if (r.failed || r.num_bad) {
        json_decref(v);
        return NULL;
    }
    return v;
}

/* ---- writer ---- */

/* Walks a UTF-8 string as UTF-16 code units (a malformed byte counts as itself). */
struct u16_iter {
    const unsigned char *p, *end;
    unsigned pending; /* a low surrogate still to give, or 0 */
};

static long u16_next(struct u16_iter *it)
{
    if (it->pending) {
        unsigned u = it->pending;
        it->pending = 0;
        return u;
    }
    if (it->p >= it->end)
        return -1;
    size_t n = utf8_seq_len(it->p, (size_t)(it->end - it->p));
    if (n <= 1)
        return *it->p++;
    uint32_t cp = it->p[0] & (0xff >> (n + 1));
    for (size_t i = 1; i < n; i++)
        cp = cp << 6 | (it->p[i] & 0x3f);
    it->p += n;
    if (cp < 0x10000)
        return cp;
    cp -= 0x10000;
    it->pending = 0xdc00 + (cp & 0x3ff);
    return 0xd800 + (cp >> 10);
}

struct key {
    const char *s;
    size_t len;
    json_t *v;
};

static int key_cmp(const void *a, const void *b)
{
    const struct key *x = a, *y = b;
    struct u16_iter i = {(const unsigned char *)x->s, (const unsigned char *)x->s + x->len, 0};
    struct u16_iter j = {(const unsigned char *)y->s, (const unsigned char *)y->s + y->len, 0};
    for (;;) {
        long u = u16_next(&i), w = u16_next(&j);
        if (u != w)
            return u < w ? -1 : 1;
        if (u < 0)
            return 0;
    }
}

static void dump_string(struct buf *b, const char *s, size_t len)
{
    buf_append(b, "\"", 1);
    size_t run = 0;                  /* bytes copied as they are, flushed in one append */
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != '"' && c != '\\') {
            run++;
            continue;
        }
        buf_append(b, s + i - run, run);
        run = 0;
        const char *esc = c == '"' ? "\\\"" : c == '\\' ? "\\\\" : c == '\b' ? "\\b"
                        : c == '\f' ? "\\f" : c == '\n' ? "\\n" : c == '\r' ? "\\r"
                        : c == '\t' ? "\\t" : NULL;
        if (esc)
            buf_puts(b, esc);
        else
            buf_printf(b, "\\u%04x", c);
    }
    buf_append(b, s + len - run, run);
    buf_append(b, "\"", 1);
}

static int dump_value(struct buf *b, const json_t *v);

static int dump_object(struct buf *b, const json_t *v)
{
    size_t n = json_object_size(v), i = 0;
    struct key *keys = xcalloc(n ? n : 1, sizeof *keys);
    for (void *it = json_object_iter((json_t *)v); it && i < n;
         it = json_object_iter_next((json_t *)v, it), i++) {
        keys[i].s = json_object_iter_key(it);
        keys[i].len = json_object_iter_key_len(it);
        keys[i].v = json_object_iter_value(it);
    }
    qsort(keys, i, sizeof *keys, key_cmp);
    int rc = 0;
    buf_append(b, "{", 1);
    for (size_t k = 0; k < i && rc == 0; k++) {
        if (k)
            buf_append(b, ",", 1);
        dump_string(b, keys[k].s, keys[k].len);
        buf_append(b, ":", 1);
        rc = dump_value(b, keys[k].v);
    }
    buf_append(b, "}", 1);
    free(keys);
    return rc;
}

/* A real is written only when it holds an integer within range (values built by hand). */
static int dump_real(struct buf *b, double d)
{
    if (!(d >= -(double)CJSON_MAX_INT && d <= (double)CJSON_MAX_INT) || d != (double)(long long)d)
        return -1;
    buf_printf(b, "%lld", (long long)d);
    return 0;
}

static int dump_value(struct buf *b, const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return dump_object(b, v);
    case JSON_ARRAY:
        buf_append(b, "[", 1);
        for (size_t i = 0; i < json_array_size(v); i++) {
            if (i)
                buf_append(b, ",", 1);
            if (dump_value(b, json_array_get(v, i)) < 0)
                return -1;
        }
        buf_append(b, "]", 1);
        return 0;
    case JSON_STRING:
        dump_string(b, json_string_value(v), json_string_length(v));
        return 0;
    case JSON_INTEGER:
        buf_printf(b, "%lld", (long long)json_integer_value(v));
        return 0;
    case JSON_REAL:
        return dump_real(b, json_real_value(v));
    case JSON_TRUE:
        buf_puts(b, "true");
        return 0;
    case JSON_FALSE:
        buf_puts(b, "false");
        return 0;
    default:
        buf_puts(b, "null");
        return 0;
    }
}

char *cjson_dump(const json_t *v, size_t *len)
{
    struct buf b = {0};
    if (!v || dump_value(&b, v) < 0) {
        buf_free(&b);
        return NULL;
    }
    if (len)
        *len = b.len;
    return buf_cstr(&b);
}

void cjson_sha256_hex(const json_t *v, char out[65])
{
    size_t len = 0;
    char *bytes = cjson_dump(v, &len);
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned mdlen = 0;
    out[0] = '\0';
    if (bytes && EVP_Digest(bytes, len, md, &mdlen, EVP_sha256(), NULL) == 1 && mdlen == 32) {
        for (unsigned i = 0; i < 32; i++)
            snprintf(out + 2 * i, 3, "%02x", md[i]);
    }
    free(bytes);
}

/* ---- files and the command ---- */

/* Reads at most CJSON_MAX_FILE bytes of path; NULL with err filled. */
static char *slurp(const char *path, size_t *len, struct cjson_error *err)
{
    struct buf b = {0};
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        goto fail;
    for (;;) {
        char chunk[65536];
        ssize_t n = read(fd, chunk, sizeof chunk);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            goto fail;
        if (n == 0)
            break;
        if (b.len + (size_t)n > CJSON_MAX_FILE) {
            errno = EFBIG;
            goto fail;
        }
        buf_append(&b, chunk, (size_t)n);
    }
    close(fd);
    *len = b.len;
    return buf_cstr(&b);
fail:
    err->exit_code = FORGE_EXIT_ERROR;
    snprintf(err->detail, sizeof err->detail, "cannot read: %s",
             errno == EFBIG ? "larger than 64 MiB" : strerror(errno));
    if (fd >= 0)
        close(fd);
    buf_free(&b);
    return NULL;
}

json_t *cjson_load_file(const char *path, struct cjson_error *err)
{
    size_t len = 0;
    char *data = slurp(path, &len, err);
    if (!data)
        return NULL;
    json_t *v = cjson_parse(data, len, err);
    free(data);
    return v;
}

static const char canonicalize_usage[] =
    "usage: provium forge canonicalize FILE\n"
    "\n"
    "Print FILE's JSON in canonical form (RFC 8785) on stdout, without a final newline.\n"
    "Exit 0; 2 if FILE is unreadable or not JSON (duplicate keys, invalid UTF-8, lone\n"
    "surrogates and nesting deeper than 128 included); 1 for a number that is not an\n"
    "integer within +-(2^53-1).\n";

int forge_canonicalize_main(int argc, char **argv)
{
    if (argc == 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
        fputs(canonicalize_usage, stdout);   /* the dispatcher prints help.c's text first */
        return FORGE_EXIT_OK;
    }
    if (argc != 2 || (argv[1][0] == '-' && argv[1][1] != '\0')) {
        warnx_p("forge canonicalize: %s (usage: provium forge canonicalize FILE)",
                argc < 2 ? "missing FILE" : argc > 2 ? "one FILE only" : "unknown option");
        return FORGE_EXIT_ERROR;
    }
    struct cjson_error err;
    json_t *v = cjson_load_file(argv[1], &err);
    if (!v) {
        warnx_p("%s: %s", argv[1], err.detail);
        return err.exit_code;
    }
    size_t len = 0;
    char *out = cjson_dump(v, &len);
    json_decref(v);
    int rc = FORGE_EXIT_OK;
    if (!out || fwrite(out, 1, len, stdout) != len || fflush(stdout) != 0) {
        warnx_p("%s: cannot write the canonical form: %s", argv[1], strerror(errno));
        rc = FORGE_EXIT_ERROR;
    }
    free(out);
    return rc;
}
