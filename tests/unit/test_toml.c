/* test_toml.c - unit tests for the TOML reader (src/config/toml.c, toml_lex.c).
 *
 * Why so many error cases: the reader's job is as much to point users at the exact
 * line and column of a mistake as to read valid files, so every malformed document
 * below asserts the position and a piece of the message, not just "it failed".
 *
 * Build and run:
 *   gcc -std=c17 -Wall -Wextra -D_GNU_SOURCE -g -fsanitize=address,undefined \
 *       -Isrc tests/unit/test_toml.c src/config/toml.c src/config/toml_lex.c -lm -o /tmp/test_toml && /tmp/test_toml
 */
#include "config/toml.h"
#include "testlib.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- helpers ------------------------------------------------------------ */

static struct toml_value *parse_at(const char *file, int line, const char *src, size_t len)
{
    struct toml_error err;
    struct toml_value *v = toml_parse(src, len, &err);
    tl_check_at(v != NULL, file, line, "parse failed at %d:%d: %s", err.line, err.col, err.msg);
    return v;
}

/* src must be a string literal (embedded NULs allowed). */
#define PARSE(src) parse_at(__FILE__, __LINE__, (src), sizeof(src) - 1)
#define PARSE_N(src, len) parse_at(__FILE__, __LINE__, (src), (len))

static void expect_err_at(const char *file, int line, const char *src, size_t len,
                          int eline, int ecol, const char *sub)
{
    struct toml_error err;
    struct toml_value *v = toml_parse(src, len, &err);
    if (v) {
        tl_check_at(0, file, line, "expected error %d:%d '%s', but parse succeeded", eline, ecol, sub);
        toml_free(v);
        return;
    }
    tl_check_at(err.line == eline && err.col == ecol && strstr(err.msg, sub) != NULL, file, line,
                "expected error %d:%d '%s', got %d:%d '%s'", eline, ecol, sub, err.line, err.col, err.msg);
}

#define ERR(src, l, c, sub) expect_err_at(__FILE__, __LINE__, (src), sizeof(src) - 1, (l), (c), (sub))
#define ERR_N(src, len, l, c, sub) expect_err_at(__FILE__, __LINE__, (src), (len), (l), (c), (sub))

/* Follow a dotted path of plain keys ("a.b.c"); NULL if any step is missing. */
static const struct toml_value *get(const struct toml_value *t, const char *path)
{
    char buf[256];
    snprintf(buf, sizeof buf, "%s", path);
    char *save = NULL;
    for (char *k = strtok_r(buf, ".", &save); k && t; k = strtok_r(NULL, ".", &save))
        t = toml_get(t, k);
    return t;
}

static const struct toml_value *item(const struct toml_value *a, size_t i)
{
    return a && a->type == TOML_ARRAY && i < a->n_items ? a->items[i] : NULL;
}

static const char *str_of(const struct toml_value *v)
{
    return v && v->type == TOML_STRING ? v->s : NULL;
}

static long long int_of(const struct toml_value *v)
{
    return v && v->type == TOML_INTEGER ? (long long)v->i : -424242;
}

static double float_of(const struct toml_value *v)
{
    return v && v->type == TOML_FLOAT ? v->f : -424242.0;
}

static int type_of(const struct toml_value *v)
{
    return v ? (int)v->type : -1;
}

/* ---- valid documents ---------------------------------------------------- */

static void test_empty(void)
{
    struct toml_value *d = PARSE("");
    CHECK(d && d->type == TOML_TABLE && d->n_keys == 0);
    toml_free(d);
    d = PARSE("# only a comment\n\n   \t\n# another\r\n");
    CHECK(d && d->n_keys == 0);
    toml_free(d);
    d = toml_parse(NULL, 0, NULL);
    CHECK(d && d->n_keys == 0);
    toml_free(d);
    toml_free(NULL);
}

static void test_scalars(void)
{
    struct toml_value *d = PARSE(
        "s = \"hello\"\n"
        "i = 42\n"
        "f = 3.5\n"
        "t = true\n"
        "n = false # trailing comment\n"
        "  indented\t=\t\"x\"\n");
    if (!d)
        return;
    CHECK_STR_EQ(str_of(get(d, "s")), "hello");
    CHECK_EQ_INT(get(d, "s")->slen, 5);
    CHECK_EQ_INT(int_of(get(d, "i")), 42);
    CHECK_NEAR(float_of(get(d, "f")), 3.5, 0);
    CHECK_EQ_INT(type_of(get(d, "t")), TOML_BOOL);
    CHECK_EQ_INT(get(d, "t")->b, 1);
    CHECK_EQ_INT(get(d, "n")->b, 0);
    CHECK_STR_EQ(str_of(get(d, "indented")), "x");
    CHECK_EQ_INT(d->n_keys, 6);
    toml_free(d);
}

static void test_positions(void)
{
    struct toml_value *d = PARSE(
        "a = 1\n"
        "  b = \"x\"\n"
        "[tbl]\n"
        "\tc = [1, 2]\n"
        "\"é\" = 'v'   # multi-byte key counts as one column\n"
        "d = 1\n");
    if (!d)
        return;
    CHECK_EQ_INT(d->key_line[0], 1);
    CHECK_EQ_INT(d->key_col[0], 1);
    CHECK_EQ_INT(get(d, "a")->line, 1);
    CHECK_EQ_INT(get(d, "a")->col, 5);
    CHECK_EQ_INT(d->key_line[1], 2);
    CHECK_EQ_INT(d->key_col[1], 3);
    CHECK_EQ_INT(get(d, "b")->col, 7);
    const struct toml_value *t = get(d, "tbl");
    CHECK_EQ_INT(t->line, 3);
    CHECK_EQ_INT(t->col, 1);
    CHECK_EQ_INT(d->key_line[2], 3);
    CHECK_EQ_INT(d->key_col[2], 2);
    CHECK_EQ_INT(t->key_line[0], 4);
    CHECK_EQ_INT(t->key_col[0], 2);
    CHECK_EQ_INT(get(d, "tbl.c")->col, 6);
    CHECK_EQ_INT(item(get(d, "tbl.c"), 1)->col, 10);
    CHECK_EQ_INT(item(get(d, "tbl.c"), 1)->line, 4);
    CHECK_EQ_INT(t->key_line[2], 6);
    CHECK_EQ_INT(t->key_col[2], 1);
    CHECK_EQ_INT(get(d, "tbl.é")->col, 7);
    toml_free(d);
}

static void test_basic_strings(void)
{
    struct toml_value *d = PARSE(
        "esc = \"b\\bt\\tn\\nf\\fr\\rq\\\"s\\\\\"\n"
        "u4 = \"\\u00e9\\u20AC\"\n"
        "u8 = \"\\U0001F600\\U00000041\"\n"
        "raw = \"caf\xc3\xa9 \xe2\x82\xac\"\n"
        "tab = \"a\tb\"\n"
        "empty = \"\"\n"
        "hash = \"not # a comment\"\n");
    if (!d)
        return;
    CHECK_STR_EQ(str_of(get(d, "esc")), "b\bt\tn\nf\fr\rq\"s\\");
    CHECK_STR_EQ(str_of(get(d, "u4")), "\xc3\xa9\xe2\x82\xac");
    CHECK_STR_EQ(str_of(get(d, "u8")), "\xf0\x9f\x98\x80" "A");
    CHECK_EQ_INT(get(d, "u8")->slen, 5);
    CHECK_STR_EQ(str_of(get(d, "raw")), "caf\xc3\xa9 \xe2\x82\xac");
    CHECK_STR_EQ(str_of(get(d, "tab")), "a\tb");
    CHECK_STR_EQ(str_of(get(d, "empty")), "");
    CHECK_EQ_INT(get(d, "empty")->slen, 0);
    CHECK_STR_EQ(str_of(get(d, "hash")), "not # a comment");
    toml_free(d);
}

static void test_literal_strings(void)
{
    struct toml_value *d = PARSE(
        "winpath = 'C:\\Users\\nodejs\\templates'\n"
        "quoted = 'Tom \"Dubs\" Preston'\n"
        "regex = '<\\i\\c*\\s*>'\n"
        "empty = ''\n");
    if (!d)
        return;
    CHECK_STR_EQ(str_of(get(d, "winpath")), "C:\\Users\\nodejs\\templates");
    CHECK_STR_EQ(str_of(get(d, "quoted")), "Tom \"Dubs\" Preston");
    CHECK_STR_EQ(str_of(get(d, "regex")), "<\\i\\c*\\s*>");
    CHECK_STR_EQ(str_of(get(d, "empty")), "");
    toml_free(d);
}

static void test_multiline_strings(void)
{
    struct toml_value *d = PARSE(
        "a = \"\"\"\nRoses are red\nViolets are blue\"\"\"\n"
        "b = \"\"\"\n"
        "The quick brown \\\n"
        "\n"
        "\n"
        "  fox jumps over \\   \n"
        "    the lazy dog.\"\"\"\n"
        "c = \"\"\"Here are two quotation marks: \"\". Simple enough.\"\"\"\n"
        "d = \"\"\"Here are fifteen quotation marks: \"\"\\\"\"\"\\\"\"\"\\\"\"\"\\\"\"\"\\\".\"\"\"\n"
        "e = \"\"\"\"This,\" she said, \"is just a pointless statement.\"\"\"\"\n"
        "f = '''\nThe first newline is\ntrimmed in raw strings.\n   All other whitespace\n   is preserved.\n'''\n"
        "g = '''Here are fifteen quotation marks: \"\"\"\"\"\"\"\"\"\"\"\"\"\"\"'''\n"
        "h = ''''That,' she said, 'is still pointless.''''\n"
        "i = \"\"\"\"\"\"\n"
        "j = \"\"\"a\\tb\\u00e9\"\"\"\n"
        "k = '''no \\escapes\\n here'''\n"
        "l = \"\"\"ends with two quotes\"\"\"\"\"\n");
    if (!d)
        return;
    CHECK_STR_EQ(str_of(get(d, "a")), "Roses are red\nViolets are blue");
    CHECK_STR_EQ(str_of(get(d, "b")), "The quick brown fox jumps over the lazy dog.");
    CHECK_STR_EQ(str_of(get(d, "c")), "Here are two quotation marks: \"\". Simple enough.");
    CHECK_STR_EQ(str_of(get(d, "d")), "Here are fifteen quotation marks: \"\"\"\"\"\"\"\"\"\"\"\"\"\"\".");
    CHECK_STR_EQ(str_of(get(d, "e")), "\"This,\" she said, \"is just a pointless statement.\"");
    CHECK_STR_EQ(str_of(get(d, "f")), "The first newline is\ntrimmed in raw strings.\n   All other whitespace\n   is preserved.\n");
    CHECK_STR_EQ(str_of(get(d, "g")), "Here are fifteen quotation marks: \"\"\"\"\"\"\"\"\"\"\"\"\"\"\"");
    CHECK_STR_EQ(str_of(get(d, "h")), "'That,' she said, 'is still pointless.'");
    CHECK_STR_EQ(str_of(get(d, "i")), "");
    CHECK_STR_EQ(str_of(get(d, "j")), "a\tb\xc3\xa9");
    CHECK_STR_EQ(str_of(get(d, "k")), "no \\escapes\\n here");
    CHECK_STR_EQ(str_of(get(d, "l")), "ends with two quotes\"\"");
    toml_free(d);
}

static void test_crlf(void)
{
    struct toml_value *d = PARSE(
        "a = 1\r\n"
        "b = \"\"\"\r\nline1\r\nline2\"\"\"\r\n"
        "c = \"\"\"x \\\r\n   y\"\"\"\r\n"
        "# comment\r\n"
        "[t]\r\n"
        "d = [\r\n 1,\r\n 2,\r\n]\r\n");
    if (!d)
        return;
    CHECK_EQ_INT(int_of(get(d, "a")), 1);
    CHECK_STR_EQ(str_of(get(d, "b")), "line1\nline2");
    CHECK_STR_EQ(str_of(get(d, "c")), "x y");
    CHECK_EQ_INT(item(get(d, "t.d"), 1)->line, 11);
    toml_free(d);
}

static void test_integers(void)
{
    struct toml_value *d = PARSE(
        "a = +99\nb = 42\nc = 0\nd = -17\ne = 1_000\nf = 5_349_221\ng = 53_49_221\nh = 1_2_3_4_5\n"
        "hex1 = 0xDEADBEEF\nhex2 = 0xdeadbeef\nhex3 = 0xdead_beef\nhex4 = 0x00ff\n"
        "oct1 = 0o01234567\noct2 = 0o755\nbin = 0b11010110\nbin2 = 0b0\n"
        "max = 9223372036854775807\nmin = -9223372036854775808\n"
        "hmax = 0x7fffffffffffffff\nz1 = -0\nz2 = +0\n");
    if (!d)
        return;
    CHECK_EQ_INT(int_of(get(d, "a")), 99);
    CHECK_EQ_INT(int_of(get(d, "b")), 42);
    CHECK_EQ_INT(int_of(get(d, "c")), 0);
    CHECK_EQ_INT(int_of(get(d, "d")), -17);
    CHECK_EQ_INT(int_of(get(d, "e")), 1000);
    CHECK_EQ_INT(int_of(get(d, "f")), 5349221);
    CHECK_EQ_INT(int_of(get(d, "g")), 5349221);
    CHECK_EQ_INT(int_of(get(d, "h")), 12345);
    CHECK_EQ_INT(int_of(get(d, "hex1")), 0xDEADBEEF);
    CHECK_EQ_INT(int_of(get(d, "hex2")), 0xDEADBEEF);
    CHECK_EQ_INT(int_of(get(d, "hex3")), 0xDEADBEEF);
    CHECK_EQ_INT(int_of(get(d, "hex4")), 255);
    CHECK_EQ_INT(int_of(get(d, "oct1")), 01234567);
    CHECK_EQ_INT(int_of(get(d, "oct2")), 0755);
    CHECK_EQ_INT(int_of(get(d, "bin")), 214);
    CHECK_EQ_INT(int_of(get(d, "bin2")), 0);
    CHECK(get(d, "max") && get(d, "max")->i == INT64_MAX);
    CHECK(get(d, "min") && get(d, "min")->i == INT64_MIN);
    CHECK(get(d, "hmax") && get(d, "hmax")->i == INT64_MAX);
    CHECK_EQ_INT(int_of(get(d, "z1")), 0);
    CHECK_EQ_INT(int_of(get(d, "z2")), 0);
    toml_free(d);
}

static void test_floats(void)
{
    struct toml_value *d = PARSE(
        "a = +1.0\nb = 3.1415\nc = -0.01\nd = 5e+22\ne = 1e06\nf = -2E-2\ng = 6.626e-34\n"
        "h = 224_617.445_991_228\ni = 0.0\nj = -0.0\nk = 0e0\nl = 1e-400\nm = 9_224_617.445_991_228_313\n"
        "pinf = inf\npinf2 = +inf\nninf = -inf\nn1 = nan\nn2 = +nan\nn3 = -nan\n"
        "arr = [inf, -nan, 1.5]\n");
    if (!d)
        return;
    CHECK_NEAR(float_of(get(d, "a")), 1.0, 0);
    CHECK_NEAR(float_of(get(d, "b")), 3.1415, 0);
    CHECK_NEAR(float_of(get(d, "c")), -0.01, 0);
    CHECK_NEAR(float_of(get(d, "d")), 5e22, 0);
    CHECK_NEAR(float_of(get(d, "e")), 1e6, 0);
    CHECK_NEAR(float_of(get(d, "f")), -2e-2, 0);
    CHECK_NEAR(float_of(get(d, "g")), 6.626e-34, 0);
    CHECK_NEAR(float_of(get(d, "h")), 224617.445991228, 0);
    CHECK_NEAR(float_of(get(d, "i")), 0.0, 0);
    CHECK(get(d, "j") && get(d, "j")->type == TOML_FLOAT && signbit(get(d, "j")->f));
    CHECK_NEAR(float_of(get(d, "k")), 0.0, 0);
    CHECK_NEAR(float_of(get(d, "l")), 0.0, 0);
    CHECK_NEAR(float_of(get(d, "m")), 9224617.445991228313, 0);
    CHECK(isinf(float_of(get(d, "pinf"))) && float_of(get(d, "pinf")) > 0);
    CHECK(isinf(float_of(get(d, "pinf2"))) && float_of(get(d, "pinf2")) > 0);
    CHECK(isinf(float_of(get(d, "ninf"))) && float_of(get(d, "ninf")) < 0);
    CHECK(isnan(float_of(get(d, "n1"))));
    CHECK(isnan(float_of(get(d, "n2"))));
    CHECK(isnan(float_of(get(d, "n3"))));
    CHECK_EQ_INT(type_of(get(d, "n3")), TOML_FLOAT);
    CHECK(isinf(float_of(item(get(d, "arr"), 0))));
    CHECK(isnan(float_of(item(get(d, "arr"), 1))));
    toml_free(d);
}

static void test_arrays(void)
{
    struct toml_value *d = PARSE(
        "integers = [ 1, 2, 3 ]\n"
        "colors = [ \"red\", \"yellow\", \"green\" ]\n"
        "nested_arrays_of_ints = [ [ 1, 2 ], [3, 4, 5] ]\n"
        "nested_mixed_array = [ [ 1, 2 ], [\"a\", \"b\", \"c\"] ]\n"
        "string_array = [ \"all\", 'strings', \"\"\"are the same\"\"\", '''type''' ]\n"
        "numbers = [ 0.1, 0.2, 0.5, 1, 2, 5 ]\n"
        "contributors = [\n"
        "  \"Foo Bar <foo@example.com>\",\n"
        "  { name = \"Baz Qux\", email = \"bazqux@example.com\", url = \"https://example.com/bazqux\" }\n"
        "]\n"
        "integers2 = [\n  1, 2, 3\n]\n"
        "integers3 = [\n  1,\n  2, # this is ok\n]\n"
        "empty = []\n"
        "empty2 = [ # comment\n\n]\n"
        "bools = [true,false,]\n");
    if (!d)
        return;
    const struct toml_value *a = get(d, "integers");
    CHECK(a && a->type == TOML_ARRAY && a->n_items == 3);
    CHECK_EQ_INT(int_of(item(a, 2)), 3);
    CHECK_STR_EQ(str_of(item(get(d, "colors"), 1)), "yellow");
    CHECK_EQ_INT(int_of(item(item(get(d, "nested_arrays_of_ints"), 1), 2)), 5);
    CHECK_STR_EQ(str_of(item(item(get(d, "nested_mixed_array"), 1), 0)), "a");
    CHECK_STR_EQ(str_of(item(get(d, "string_array"), 2)), "are the same");
    CHECK_STR_EQ(str_of(item(get(d, "string_array"), 3)), "type");
    CHECK_EQ_INT(type_of(item(get(d, "numbers"), 2)), TOML_FLOAT);
    CHECK_EQ_INT(type_of(item(get(d, "numbers"), 3)), TOML_INTEGER);
    const struct toml_value *c = item(get(d, "contributors"), 1);
    CHECK_EQ_INT(type_of(c), TOML_TABLE);
    CHECK_STR_EQ(str_of(toml_get(c, "email")), "bazqux@example.com");
    CHECK_EQ_INT(get(d, "integers2")->n_items, 3);
    CHECK_EQ_INT(get(d, "integers3")->n_items, 2);
    CHECK_EQ_INT(get(d, "empty")->n_items, 0);
    CHECK_EQ_INT(get(d, "empty2")->n_items, 0);
    CHECK_EQ_INT(get(d, "bools")->n_items, 2);
    toml_free(d);
}

static void test_inline_tables(void)
{
    struct toml_value *d = PARSE(
        "name = { first = \"Tom\", last = \"Preston-Werner\" }\n"
        "point = { x = 1, y = 2 }\n"
        "animal = { type.name = \"pug\", type.size = 'small' }\n"
        "empty = {}\n"
        "empty2 = {   }\n"
        "nested = { a = { b = { c = [1, {d = true}] } } }\n"
        "multiline_value = { list = [\n 1,\n 2\n] }\n");
    if (!d)
        return;
    CHECK_STR_EQ(str_of(get(d, "name.first")), "Tom");
    CHECK_STR_EQ(str_of(get(d, "name.last")), "Preston-Werner");
    CHECK_EQ_INT(int_of(get(d, "point.y")), 2);
    CHECK_STR_EQ(str_of(get(d, "animal.type.name")), "pug");
    CHECK_STR_EQ(str_of(get(d, "animal.type.size")), "small");
    CHECK_EQ_INT(get(d, "empty")->n_keys, 0);
    CHECK_EQ_INT(get(d, "empty2")->n_keys, 0);
    CHECK_EQ_INT(item(get(d, "nested.a.b.c"), 1)->type, TOML_TABLE);
    CHECK_EQ_INT(toml_get(item(get(d, "nested.a.b.c"), 1), "d")->b, 1);
    CHECK_EQ_INT(get(d, "multiline_value.list")->n_items, 2);
    toml_free(d);
}

static void test_keys(void)
{
    struct toml_value *d = PARSE(
        "key = 1\nbare_key = 2\nbare-key = 3\n1234 = 4\n"
        "\"127.0.0.1\" = \"value\"\n"
        "\"character encoding\" = \"value\"\n"
        "\"\xca\x8e\xc7\x9d\xca\x9e\" = \"value\"\n"
        "'key2' = \"value\"\n"
        "'quoted \"value\"' = \"value\"\n"
        "\"\" = \"blank\"\n"
        "\"esc\\u0041\" = 5\n"
        "physical.color = \"orange\"\n"
        "physical.shape = \"round\"\n"
        "site.\"google.com\" = true\n"
        "fruit . flavor = \"banana\"\n"
        "3.14159 = \"pi\"\n");
    if (!d)
        return;
    CHECK_EQ_INT(int_of(get(d, "bare-key")), 3);
    CHECK_EQ_INT(int_of(get(d, "1234")), 4);
    CHECK_STR_EQ(str_of(toml_get(d, "127.0.0.1")), "value");
    CHECK_STR_EQ(str_of(toml_get(d, "character encoding")), "value");
    CHECK_STR_EQ(str_of(toml_get(d, "\xca\x8e\xc7\x9d\xca\x9e")), "value");
    CHECK_STR_EQ(str_of(toml_get(d, "key2")), "value");
    CHECK_STR_EQ(str_of(toml_get(d, "quoted \"value\"")), "value");
    CHECK_STR_EQ(str_of(toml_get(d, "")), "blank");
    CHECK_EQ_INT(int_of(toml_get(d, "escA")), 5);
    CHECK_STR_EQ(str_of(get(d, "physical.shape")), "round");
    CHECK_EQ_INT(toml_get(toml_get(d, "site"), "google.com")->b, 1);
    CHECK_STR_EQ(str_of(get(d, "fruit.flavor")), "banana");
    CHECK_STR_EQ(str_of(get(d, "3.14159")), "pi");
    /* definition order */
    CHECK_STR_EQ(d->keys[0], "key");
    CHECK_STR_EQ(d->keys[3], "1234");
    CHECK_STR_EQ(d->keys[d->n_keys - 1], "3");
    toml_free(d);
}

static void test_tables(void)
{
    struct toml_value *d = PARSE(
        "top = 0\n"
        "[table-1]\nkey1 = \"some string\"\nkey2 = 123\n"
        "[table-2]\nkey1 = \"another string\"\n"
        "[dog.\"tater.man\"]\ntype.name = \"pug\"\n"
        "[ j . \"\xca\x9e\" . 'l' ]\nx = 1\n"
        "[x.y.z.w]\n"
        "[x]\nq = 2\n"
        "[fruit]\napple.color = \"red\"\napple.taste.sweet = true\n"
        "[fruit.apple.texture]\nsmooth = true\n"
        "[empty]\n");
    if (!d)
        return;
    CHECK_EQ_INT(int_of(get(d, "table-1.key2")), 123);
    CHECK_STR_EQ(str_of(get(d, "table-2.key1")), "another string");
    CHECK_STR_EQ(str_of(toml_get(toml_get(toml_get(toml_get(d, "dog"), "tater.man"), "type"), "name")), "pug");
    CHECK_EQ_INT(int_of(toml_get(toml_get(toml_get(toml_get(d, "j"), "\xca\x9e"), "l"), "x")), 1);
    CHECK_EQ_INT(type_of(get(d, "x.y.z.w")), TOML_TABLE);
    CHECK_EQ_INT(int_of(get(d, "x.q")), 2);
    CHECK_EQ_INT(get(d, "fruit.apple.taste.sweet")->b, 1);
    CHECK_EQ_INT(get(d, "fruit.apple.texture.smooth")->b, 1);
    CHECK_EQ_INT(get(d, "empty")->n_keys, 0);
    CHECK_EQ_INT(int_of(get(d, "top")), 0);
    /* top-level keys in order: top, table-1, table-2, dog, j, x, fruit, empty */
    CHECK_EQ_INT(d->n_keys, 8);
    CHECK_STR_EQ(d->keys[5], "x");
    /* [x] was created implicitly at line 11 by [x.y.z.w]; its position stays there */
    CHECK_EQ_INT(get(d, "x")->line, 11);
    toml_free(d);
}

static void test_array_of_tables(void)
{
    struct toml_value *d = PARSE(
        "[[products]]\nname = \"Hammer\"\nsku = 738594937\n\n"
        "[[products]]  # empty table within the array\n\n"
        "[[products]]\nname = \"Nail\"\nsku = 284758393\ncolor = \"gray\"\n"
        "[[fruits]]\nname = \"apple\"\n"
        "[fruits.physical]\ncolor = \"red\"\nshape = \"round\"\n"
        "[[fruits.varieties]]\nname = \"red delicious\"\n"
        "[[fruits.varieties]]\nname = \"granny smith\"\n"
        "[[fruits]]\nname = \"banana\"\n"
        "[[fruits.varieties]]\nname = \"plantain\"\n"
        "[[a.b.c]]\nx = 1\n"
        "[a]\ny = 2\n");
    if (!d)
        return;
    const struct toml_value *p = get(d, "products");
    CHECK(p && p->type == TOML_ARRAY && p->n_items == 3);
    CHECK_STR_EQ(str_of(toml_get(item(p, 0), "name")), "Hammer");
    CHECK_EQ_INT(item(p, 1)->n_keys, 0);
    CHECK_EQ_INT(item(p, 1)->line, 5);
    CHECK_STR_EQ(str_of(toml_get(item(p, 2), "color")), "gray");
    const struct toml_value *f = get(d, "fruits");
    CHECK_EQ_INT(f->n_items, 2);
    CHECK_STR_EQ(str_of(get(item(f, 0), "physical.shape")), "round");
    CHECK_STR_EQ(str_of(toml_get(item(toml_get(item(f, 0), "varieties"), 1), "name")), "granny smith");
    CHECK_EQ_INT(toml_get(item(f, 1), "varieties")->n_items, 1);
    CHECK_STR_EQ(str_of(toml_get(item(toml_get(item(f, 1), "varieties"), 0), "name")), "plantain");
    CHECK_EQ_INT(int_of(toml_get(item(get(d, "a.b.c"), 0), "x")), 1);
    CHECK_EQ_INT(int_of(get(d, "a.y")), 2);
    toml_free(d);
}

static void test_provium_toml(void)
{
    static const char src[] =
        "# Provium configuration\n"
        "[provium]\n"
        "roots = [\"tests\"]\n"
        "cache_max_size = \"20G\"\n"
        "\n"
        "[profiles.default]\n"
        "kernel = \"images/vmlinuz\"\n"
        "initrd = \"images/initrd.img\"\n"
        "cmdline = \"console=ttyS0 quiet\"\n"
        "memory = \"512M\"\n"
        "cpus = 2\n"
        "inject_agent = true\n"
        "disks = [{path=\"a.img\", id=\"d0\"}, { path = \"b.img\", id = \"d1\", readonly = true }]\n"
        "\n"
        "[profiles.big]\n"
        "kernel = \"images/vmlinuz\"\n"
        "memory = \"4G\"\n"
        "cpus = 8\n";
    struct toml_value *d = PARSE(src);
    if (!d)
        return;
    const struct toml_value *p = toml_get(d, "provium");
    CHECK_EQ_INT(type_of(p), TOML_TABLE);
    CHECK_EQ_INT(p->line, 2);
    const struct toml_value *roots = toml_get(p, "roots");
    CHECK(roots && roots->type == TOML_ARRAY && roots->n_items == 1);
    CHECK_STR_EQ(str_of(item(roots, 0)), "tests");
    CHECK_STR_EQ(str_of(toml_get(p, "cache_max_size")), "20G");
    const struct toml_value *def = get(d, "profiles.default");
    CHECK_EQ_INT(type_of(def), TOML_TABLE);
    CHECK_EQ_INT(def->n_keys, 7);
    CHECK_STR_EQ(str_of(toml_get(def, "kernel")), "images/vmlinuz");
    CHECK_STR_EQ(str_of(toml_get(def, "initrd")), "images/initrd.img");
    CHECK_STR_EQ(str_of(toml_get(def, "cmdline")), "console=ttyS0 quiet");
    CHECK_STR_EQ(str_of(toml_get(def, "memory")), "512M");
    CHECK_EQ_INT(int_of(toml_get(def, "cpus")), 2);
    CHECK_EQ_INT(type_of(toml_get(def, "inject_agent")), TOML_BOOL);
    CHECK_EQ_INT(toml_get(def, "inject_agent")->b, 1);
    const struct toml_value *disks = toml_get(def, "disks");
    CHECK(disks && disks->type == TOML_ARRAY && disks->n_items == 2);
    CHECK_STR_EQ(str_of(toml_get(item(disks, 0), "path")), "a.img");
    CHECK_STR_EQ(str_of(toml_get(item(disks, 0), "id")), "d0");
    CHECK_EQ_INT(toml_get(item(disks, 1), "readonly")->b, 1);
    CHECK_EQ_INT(item(disks, 1)->key_line[2], 13);
    /* unknown-key reporting: position of each key */
    CHECK_STR_EQ(def->keys[5], "inject_agent");
    CHECK_EQ_INT(def->key_line[5], 12);
    CHECK_EQ_INT(def->key_col[5], 1);
    CHECK_EQ_INT(int_of(get(d, "profiles.big.cpus")), 8);
    CHECK(toml_get(def, "nope") == NULL);
    CHECK(toml_get(toml_get(def, "cpus"), "x") == NULL);
    CHECK(toml_get(NULL, "x") == NULL);
    toml_free(d);
}

static void test_type_names(void)
{
    CHECK_STR_EQ(toml_type_name(TOML_STRING), "string");
    CHECK_STR_EQ(toml_type_name(TOML_INTEGER), "integer");
    CHECK_STR_EQ(toml_type_name(TOML_FLOAT), "float");
    CHECK_STR_EQ(toml_type_name(TOML_BOOL), "boolean");
    CHECK_STR_EQ(toml_type_name(TOML_ARRAY), "array");
    CHECK_STR_EQ(toml_type_name(TOML_TABLE), "table");
}

static void test_bom_and_length(void)
{
    struct toml_value *d = PARSE("\xEF\xBB\xBF" "a = 1\n");
    CHECK_EQ_INT(int_of(get(d, "a")), 1);
    toml_free(d);

    /* only len bytes are read: trailing junk beyond len is ignored */
    d = PARSE_N("a = 12345 junk junk", 6);
    CHECK_EQ_INT(int_of(get(d, "a")), 12);
    toml_free(d);

    /* an exact-size heap buffer with no terminator (ASan catches over-reads) */
    static const char docs[][24] = { "a = \"x\"", "a = 'x'", "a = 1e5", "a = [1,2]", "a = {b=1}",
                                     "[a]", "[[a]]", "a = true", "a = \"\"\"x\"\"\"", "a.b = 0x1f" };
    for (size_t i = 0; i < sizeof docs / sizeof docs[0]; i++) {
        size_t n = strlen(docs[i]);
        char *buf = malloc(n);
        memcpy(buf, docs[i], n);
        d = PARSE_N(buf, n);
        toml_free(d);
        /* every proper prefix must fail or succeed without reading past n */
        for (size_t k = 0; k < n; k++) {
            struct toml_error err;
            char *pre = malloc(k ? k : 1);
            memcpy(pre, buf, k);
            toml_free(toml_parse(pre, k, &err));
            free(pre);
        }
        free(buf);
    }

}

static void test_depth_limit(void)
{
    char buf[512];
    /* 64 nested arrays (depths 1..64) are fine, 65 are not */
    for (int depth = 64; depth <= 65; depth++) {
        char *p = buf + sprintf(buf, "a = ");
        memset(p, '[', (size_t)depth);
        memset(p + depth, ']', (size_t)depth);
        size_t n = (size_t)(p - buf) + 2 * (size_t)depth;
        if (depth == 64) {
            struct toml_value *d = PARSE_N(buf, n);
            toml_free(d);
        } else {
            ERR_N(buf, n, 1, 69, "nesting too deep");
        }
    }
    struct toml_value *d;

    /* inline tables count the same way */
    char *p = buf;
    p += sprintf(p, "a = ");
    for (int i = 0; i < 65; i++)
        p += sprintf(p, "{b=");
    p += sprintf(p, "1");
    for (int i = 0; i < 65; i++)
        p += sprintf(p, "}");
    ERR_N(buf, (size_t)(p - buf), 1, 4 + 3 * 64 + 1, "nesting too deep");

    /* dotted keys: 64 parts is the most a key can have */
    p = buf;
    for (int i = 0; i < 64; i++)
        p += sprintf(p, "%sk", i ? "." : "");
    p += sprintf(p, " = 1");
    d = PARSE_N(buf, (size_t)(p - buf));
    toml_free(d);
    p = buf;
    for (int i = 0; i < 65; i++)
        p += sprintf(p, "%sk", i ? "." : "");
    p += sprintf(p, " = 1");
    ERR_N(buf, (size_t)(p - buf), 1, 129, "nesting too deep");

    /* a 64-part header plus one dotted key goes one level too deep */
    p = buf;
    p += sprintf(p, "[");
    for (int i = 0; i < 64; i++)
        p += sprintf(p, "%sk", i ? "." : "");
    p += sprintf(p, "]\nx.y = 1\n");
    ERR_N(buf, (size_t)(p - buf), 2, 1, "nesting too deep");
}

static void test_many_keys(void)
{
    /* enough keys to exercise the hash index, plus a duplicate at the very end */
    enum { N = 5000 };
    size_t cap = N * 32, len = 0;
    char *buf = malloc(cap);
    for (int i = 0; i < N; i++)
        len += (size_t)snprintf(buf + len, cap - len, "key%d = %d\n", i, i);
    struct toml_value *d = PARSE_N(buf, len);
    if (d) {
        CHECK_EQ_INT(d->n_keys, N);
        CHECK_EQ_INT(int_of(toml_get(d, "key0")), 0);
        CHECK_EQ_INT(int_of(toml_get(d, "key4999")), 4999);
        CHECK_STR_EQ(d->keys[1234], "key1234");
        CHECK_EQ_INT(d->key_line[1234], 1235);
    }
    toml_free(d);
    len += (size_t)snprintf(buf + len, cap - len, "key3333 = 1\n");
    ERR_N(buf, len, N + 1, 1, "duplicate key 'key3333'");

    /* many array-of-tables entries */
    len = 0;
    for (int i = 0; i < N; i++)
        len += (size_t)snprintf(buf + len, cap - len, "[[t]]\nv = %d\n", i);
    d = PARSE_N(buf, len);
    CHECK_EQ_INT(int_of(toml_get(item(toml_get(d, "t"), N - 1), "v")), N - 1);
    toml_free(d);
    free(buf);
}

/* ---- malformed documents ------------------------------------------------ */

static void test_err_keyvals(void)
{
    ERR("key", 1, 4, "expected '=' after key");
    ERR("key # comment", 1, 5, "expected '=' after key");
    ERR("key = ", 1, 7, "expected a value");
    ERR("key =\nvalue = 1", 1, 6, "expected a value");
    ERR("a == 1", 1, 4, "expected a value");
    ERR("= 1", 1, 1, "expected a key");
    ERR("a = 1\n= 2", 2, 1, "expected a key");
    ERR(".a = 1", 1, 1, "expected a key");
    ERR("a. = 1", 1, 4, "expected a key");
    ERR("a..b = 1", 1, 3, "expected a key");
    ERR("a b = 1", 1, 3, "expected '=' after key");
    ERR("\"\"\"key\"\"\" = 1", 1, 1, "multi-line strings cannot be used as keys");
    ERR("'''key''' = 1", 1, 1, "multi-line strings cannot be used as keys");
    ERR("\xc3\xa9 = 1", 1, 1, "expected a key");
    ERR("a = 1 2", 1, 7, "expected newline after value");
    ERR("a = 1,", 1, 6, "expected newline after value");
    ERR("a = \"x\" \"y\"", 1, 9, "expected newline after value");
    ERR("a = \"\xc3\xa9\" x", 1, 9, "expected newline after value");
    ERR("a = 1\0", 1, 6, "expected newline after value");
    ERR("a = 1\r\nb = \r\n", 2, 5, "expected a value");
    ERR("\ta\t=\t1\tb", 1, 8, "expected newline after value");
    ERR("a = hello", 1, 5, "strings must be quoted");
    ERR("a = True", 1, 5, "strings must be quoted");
    ERR("a = truex", 1, 5, "strings must be quoted");
    ERR("a = tru", 1, 5, "strings must be quoted");
    ERR("a = infinity", 1, 5, "expected a value");
    ERR("a = Inf", 1, 5, "expected a value");
    ERR("a = NaN", 1, 5, "expected a value");
    ERR("a = .5", 1, 5, "expected a value");
    ERR("a = @", 1, 5, "expected a value");
}

static void test_err_duplicates(void)
{
    ERR("a = 1\na = 2", 2, 1, "duplicate key 'a'");
    ERR("name = \"Tom\"\n\"name\" = \"Pradyun\"", 2, 1, "duplicate key 'name'");
    ERR("spelling = 1\n'spelling' = 2", 2, 1, "duplicate key 'spelling'");
    ERR("a.b = 1\na.b = 2", 2, 3, "duplicate key 'a.b'");
    ERR("[t]\nx = 1\n  x = 2", 3, 3, "duplicate key 'x'");
    ERR("t = {a = 1, a = 2}", 1, 13, "duplicate key 'a'");
    ERR("\"\xc3\xa9\" = 1\n\"\\u00e9\" = 2", 2, 1, "duplicate key '\xc3\xa9'");
    ERR("a = 1\na.b = 2", 2, 1, "key 'a' is already defined as integer");
    ERR("a = \"x\"\na.b.c = 2", 2, 1, "key 'a' is already defined as string");
    ERR("a.b = 1\na.b.c = 2", 2, 3, "key 'a.b' is already defined as integer");
    ERR("a = [1]\na.b = 2", 2, 1, "key 'a' is already defined as array");
}

static void test_err_tables(void)
{
    ERR("[a]\nx = 1\n[a]", 3, 2, "table 'a' is already defined");
    ERR("[a]\n[a.b]\n[a.b]", 3, 4, "table 'a.b' is already defined");
    ERR("[a.b]\n[a]\n[a]", 3, 2, "table 'a' is already defined");
    ERR("[fruit]\napple.color = 'red'\n[fruit.apple]", 3, 8, "table 'fruit.apple' is already defined");
    ERR("[fruit]\napple.taste.sweet = true\n[fruit.apple.taste]", 3, 14, "table 'fruit.apple.taste' is already defined");
    ERR("a.b = 1\n[a]", 2, 2, "table 'a' is already defined");
    ERR("[a.b.c]\nz = 9\n[a]\nb.c.t = 1", 4, 1, "table 'b' is already defined");
    ERR("[a.b.c.d]\nz = 9\n[a]\nb.c.d.k.t = 1", 4, 1, "table 'b' is already defined");
    ERR("[a]\nb = 1\n[a.b]", 3, 4, "key 'a.b' is already defined as integer");
    ERR("a = 1\n[a]", 2, 2, "key 'a' is already defined as integer");
    ERR("a = 1\n[a.b]", 2, 2, "key 'a' is already defined as integer");
    ERR("a = 1\n[[a.b]]", 2, 3, "key 'a' is already defined as integer");
    ERR("[[a]]\n[a]", 2, 2, "table 'a' is already defined as an array of tables");
    ERR("[a]\n[[a]]", 2, 3, "key 'a' is already defined as table");
    ERR("a = [1]\n[[a]]", 2, 3, "cannot extend static array 'a'");
    ERR("a = []\n[[a]]", 2, 3, "cannot extend static array 'a'");
    ERR("a = [{}]\n[a.b]", 2, 2, "cannot extend static array 'a'");
    ERR("[[a.b]]\n[a]\nb.y = 2", 3, 1, "key 'b' is already defined as array");
    ERR("[[t]]\n[t.u]\n[t.u]", 3, 4, "table 't.u' is already defined");
    ERR("[x]\n[ x ]", 2, 3, "table 'x' is already defined");
    ERR("[\"a\"]\n['a']", 2, 2, "table 'a' is already defined");
}

static void test_err_inline(void)
{
    ERR("a = {x = 1}\na.y = 2", 2, 1, "cannot add keys to inline table 'a'");
    ERR("a = {x = {}}\na.x.y = 2", 2, 1, "cannot add keys to inline table 'a'");
    ERR("a = {x = 1}\n[a]", 2, 2, "table 'a' is already defined");
    ERR("a = {x = 1}\n[a.b]", 2, 2, "cannot extend inline table 'a'");
    ERR("a = {x = 1}\n[[a]]", 2, 3, "key 'a' is already defined as table");
    ERR("[t]\na = {}\n[t.a.b]", 3, 4, "cannot extend inline table 't.a'");
    ERR("t = {a = {b = 1}, a.c = 2}", 1, 19, "cannot add keys to inline table 'a'");
    ERR("t = {a.b = 1, a = 2}", 1, 15, "duplicate key 'a'");
    ERR("t = {a = 1,}", 1, 11, "trailing comma is not allowed in an inline table");
    ERR("t = {a = 1 , }", 1, 12, "trailing comma");
    ERR("t = {,}", 1, 6, "expected a key");
    ERR("t = {a = 1\n}", 1, 11, "newlines are not allowed in inline tables");
    ERR("t = {\na = 1}", 1, 6, "newlines are not allowed in inline tables");
    ERR("t = {a = 1, # no\n}", 1, 13, "comments are not allowed in inline tables");
    ERR("t = {a = 1 b = 2}", 1, 12, "expected ',' or '}'");
    ERR("t = {", 1, 5, "unterminated inline table");
    ERR("t = {a = 1,", 1, 5, "unterminated inline table");
    ERR("t = {a = 1", 1, 5, "unterminated inline table");
    ERR("t = {a}", 1, 7, "expected '=' after key");
    ERR("t = {a = }", 1, 10, "expected a value");
}

static void test_err_arrays(void)
{
    ERR("a = [1, 2", 1, 5, "unterminated array");
    ERR("a = [1, 2,\n# c\n", 1, 5, "unterminated array");
    ERR("a = [", 1, 5, "unterminated array");
    ERR("a = [1 2]", 1, 8, "expected ',' or ']'");
    ERR("a = [1\n2]", 2, 1, "expected ',' or ']'");
    ERR("a = [,]", 1, 6, "expected a value");
    ERR("a = [1,,2]", 1, 8, "expected a value");
    ERR("a = [1,\n# bad \x01 comment\n]", 2, 7, "control characters are not allowed in comments");
    ERR("a = [[1], [2}", 1, 13, "expected ',' or ']'");
}

static void test_err_headers(void)
{
    ERR("[a", 1, 3, "expected ']' to close the table header");
    ERR("[a\n]", 1, 3, "expected ']'");
    ERR("[[a]", 1, 5, "expected ']]' to close the array of tables header");
    ERR("[[a] ]", 1, 5, "expected ']]'");
    ERR("[ [a]]", 1, 3, "expected a key");
    ERR("[]", 1, 2, "expected a key");
    ERR("[[]]", 1, 3, "expected a key");
    ERR("[a.]", 1, 4, "expected a key");
    ERR("[a b]", 1, 4, "expected ']'");
    ERR("[a] x = 1", 1, 5, "expected newline after table header");
    ERR("[a]]", 1, 4, "expected newline after table header");
    ERR("[[a]]]", 1, 6, "expected newline after table header");
    ERR("[a] # ok\n[b] # \x7f", 2, 7, "control characters are not allowed in comments");
    ERR("[\"a]", 1, 2, "unterminated string");
}

static void test_err_strings(void)
{
    ERR("a = \"abc", 1, 5, "unterminated string");
    ERR("a = \"abc\ndef\"", 1, 5, "unterminated string");
    ERR("a = 'abc", 1, 5, "unterminated string");
    ERR("a = 'abc\n'", 1, 5, "unterminated string");
    ERR("a = \"\"\"abc", 1, 5, "unterminated string");
    ERR("a = \"\"\"abc\"\"", 1, 5, "unterminated string");
    ERR("a = '''abc\n\n", 1, 5, "unterminated string");
    ERR("x = 1\na = \"abc\\", 2, 9, "invalid escape sequence");
    ERR("a = \"\\q\"", 1, 6, "invalid escape sequence '\\q'");
    ERR("a = \"\\x41\"", 1, 6, "invalid escape sequence '\\x'");
    ERR("a = \"\\e\"", 1, 6, "invalid escape sequence '\\e'");
    ERR("a = \"\\ \"", 1, 6, "invalid escape sequence");
    ERR("a = \"\"\"\\ x\"\"\"", 1, 8, "invalid escape sequence");
    ERR("a = \"ab\\u12\"", 1, 8, "expected 4 hex digits");
    ERR("a = \"\\u12G4\"", 1, 6, "expected 4 hex digits");
    ERR("a = \"\\U0001F60\"", 1, 6, "expected 8 hex digits");
    ERR("a = \"\\uD800\"", 1, 6, "not a valid code point");
    ERR("a = \"\\uDFFF\"", 1, 6, "not a valid code point");
    ERR("a = \"\\U00110000\"", 1, 6, "not a valid code point");
    ERR("a = \"\\UFFFFFFFF\"", 1, 6, "not a valid code point");
    ERR("a = \"\\u0000\"", 1, 6, "NUL characters are not allowed");
    ERR("a = \"a\x01" "b\"", 1, 7, "control characters are not allowed in strings");
    ERR("a = \"a\x7f\"", 1, 7, "control characters are not allowed in strings");
    ERR("a = \"a\0\"", 1, 7, "control characters are not allowed in strings");
    ERR("a = 'a\x1f'", 1, 7, "control characters are not allowed in strings");
    ERR("a = \"\"\"\nok\n\x01\"\"\"", 3, 1, "control characters are not allowed in strings");
    ERR("a = '''\x08'''", 1, 8, "control characters are not allowed in strings");
    ERR("a = \"\"\"a\"\"\"\"\"\"", 1, 14, "too many quotes");
    ERR("a = '''a''''''", 1, 14, "too many quotes");
    ERR("a = \"\"\"a\"\"\"\"\"\"\"\"", 1, 14, "too many quotes");
    ERR("a = \"\"\"a\"\"\" \"", 1, 13, "expected newline after value");
}

static void test_err_numbers(void)
{
    ERR("a = 1979-05-27", 1, 5, "dates and times are not supported");
    ERR("a = 1979-05-27T07:32:00Z", 1, 5, "dates and times are not supported");
    ERR("a = 1979-05-27 07:32:00", 1, 5, "dates and times are not supported");
    ERR("a = 07:32:00", 1, 5, "dates and times are not supported");
    ERR("a = [1, 2020-01-01]", 1, 9, "dates and times are not supported");
    ERR("a = 012", 1, 5, "leading zeros are not allowed");
    ERR("a = -012", 1, 6, "leading zeros are not allowed");
    ERR("a = +00", 1, 6, "leading zeros are not allowed");
    ERR("a = 0_0", 1, 5, "leading zeros are not allowed");
    ERR("a = 00.5", 1, 5, "leading zeros are not allowed");
    ERR("a = 01e5", 1, 5, "leading zeros are not allowed");
    ERR("a = 9223372036854775808", 1, 5, "integer out of range");
    ERR("a = -9223372036854775809", 1, 5, "integer out of range");
    ERR("a = 99999999999999999999999", 1, 5, "integer out of range");
    ERR("a = 0x8000000000000000", 1, 5, "integer out of range");
    ERR("a = 0xffffffffffffffff", 1, 5, "integer out of range");
    ERR("a = 0o1000000000000000000000", 1, 5, "integer out of range");
    ERR("a = 0b1000000000000000000000000000000000000000000000000000000000000000", 1, 5, "integer out of range");
    ERR("a = 1__0", 1, 6, "'_' must be between digits");
    ERR("a = 1_", 1, 6, "'_' must be between digits");
    ERR("a = _1", 1, 5, "strings must be quoted");
    ERR("a = 1_.5", 1, 6, "'_' must be between digits");
    ERR("a = 1._5", 1, 7, "expected a digit");
    ERR("a = 1e_5", 1, 7, "expected a digit");
    ERR("a = 0x_1", 1, 7, "expected a digit");
    ERR("a = 0x1_", 1, 8, "'_' must be between digits");
    ERR("a = 1.", 1, 7, "expected a digit");
    ERR("a = 1.e5", 1, 7, "expected a digit");
    ERR("a = 1e", 1, 7, "expected a digit");
    ERR("a = 1e+", 1, 8, "expected a digit");
    ERR("a = 1.2.3", 1, 8, "invalid character in number");
    ERR("a = 1x", 1, 6, "invalid character in number");
    ERR("a = 0x", 1, 6, "invalid character in number");
    ERR("a = 0xG", 1, 7, "expected a digit");
    ERR("a = 0X1F", 1, 6, "invalid character in number");
    ERR("a = +0x1", 1, 5, "hexadecimal, octal and binary integers cannot have a sign");
    ERR("a = -0o7", 1, 5, "cannot have a sign");
    ERR("a = -0b1", 1, 5, "cannot have a sign");
    ERR("a = -0x", 1, 7, "invalid character in number");
    ERR("a = 0b102", 1, 9, "invalid character in number");
    ERR("a = 0o8", 1, 7, "expected a digit");
    ERR("a = +", 1, 6, "expected a digit");
    ERR("a = -", 1, 6, "expected a digit");
    ERR("a = --1", 1, 6, "expected a digit");
    ERR("a = -inf_", 1, 6, "expected a digit");
    ERR("a = 1e400", 1, 5, "float out of range");
    ERR("a = -1e400", 1, 5, "float out of range");
    ERR("a = 1.5:2", 1, 8, "invalid character in number");
    ERR("x = 1\n  a = [1, 2.5.5]", 2, 14, "invalid character in number");
}

static void test_err_encoding(void)
{
    ERR("a = \"\xff\"", 1, 6, "invalid UTF-8");
    ERR("a = \"\xc0\xaf\"", 1, 6, "invalid UTF-8");          /* overlong '/' */
    ERR("a = \"\xe0\x80\xaf\"", 1, 6, "invalid UTF-8");      /* overlong 3-byte */
    ERR("a = \"\xed\xa0\x80\"", 1, 6, "invalid UTF-8");      /* surrogate */
    ERR("a = \"\xf4\x90\x80\x80\"", 1, 6, "invalid UTF-8");  /* > U+10FFFF */
    ERR("a = \"\xe2\x82", 1, 6, "invalid UTF-8");            /* truncated at end */
    ERR("a = \"\xe2\x82x\"", 1, 6, "invalid UTF-8");         /* bad continuation */
    ERR("a = \"\x80\"", 1, 6, "invalid UTF-8");              /* lone continuation */
    ERR("# \xc3\xa9\xc3\xa9 \xfe\n", 1, 6, "invalid UTF-8");
    ERR("a = 1\nb = 2 # \xc3(\n", 2, 9, "invalid UTF-8");
    ERR("a = 1\rb = 2", 1, 6, "bare carriage return");
    ERR("a = 1\n\r", 2, 1, "bare carriage return");
    ERR("a = \"\"\"x\ry\"\"\"", 1, 9, "bare carriage return");
    ERR("# comment \x01\n", 1, 11, "control characters are not allowed in comments");
    ERR("# comment \0\n", 1, 11, "control characters are not allowed in comments");
    ERR("a = 1 # \x7f", 1, 9, "control characters are not allowed in comments");
    ERR("# tabs\tare fine\n\x01", 2, 1, "expected a key");
}

static void test_error_struct(void)
{
    struct toml_error err;
    memset(&err, 0x55, sizeof err);
    struct toml_value *d = toml_parse("a = 1\nb = 2\n", 12, &err);
    CHECK(d != NULL);
    CHECK_EQ_INT(err.msg[0], 0);
    toml_free(d);
    CHECK(toml_parse("a =", 3, NULL) == NULL);   /* NULL err is allowed */
    d = toml_parse("a = 1\na = 2", 11, &err);
    CHECK(d == NULL);
    CHECK_STR_EQ(err.msg, "duplicate key 'a'");
    d = toml_parse("a = [1", 6, &err);
    CHECK_STR_EQ(err.msg, "unterminated array");
    /* long key names are truncated in messages, not overflowed */
    char buf[2000];
    int n = snprintf(buf, sizeof buf, "%0*d = 1\n%0*d = 2\n", 900, 7, 900, 7);
    d = toml_parse(buf, (size_t)n, &err);
    CHECK(d == NULL);
    CHECK_STR_CONTAINS(err.msg, "duplicate key '0000");
    CHECK_STR_CONTAINS(err.msg, "...");
    CHECK(strlen(err.msg) < sizeof err.msg);
}

int main(void)
{
    RUN(test_empty);
    RUN(test_scalars);
    RUN(test_positions);
    RUN(test_basic_strings);
    RUN(test_literal_strings);
    RUN(test_multiline_strings);
    RUN(test_crlf);
    RUN(test_integers);
    RUN(test_floats);
    RUN(test_arrays);
    RUN(test_inline_tables);
    RUN(test_keys);
    RUN(test_tables);
    RUN(test_array_of_tables);
    RUN(test_provium_toml);
    RUN(test_type_names);
    RUN(test_bom_and_length);
    RUN(test_depth_limit);
    RUN(test_many_keys);
    RUN(test_err_keyvals);
    RUN(test_err_duplicates);
    RUN(test_err_tables);
    RUN(test_err_inline);
    RUN(test_err_arrays);
    RUN(test_err_headers);
    RUN(test_err_strings);
    RUN(test_err_numbers);
    RUN(test_err_encoding);
    RUN(test_error_struct);
    return TEST_SUMMARY();
}
