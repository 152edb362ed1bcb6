/* testlib.h - a tiny header-only helper for Provium's unit tests.
 *
 * Why: each unit test is a standalone program (no framework to install or link), but
 * they should all count and report the same way. A test file includes this header,
 * calls CHECK* macros from any number of functions (RUN() names the current one),
 * and ends main() with `return TEST_SUMMARY();`, which prints "N passed, M failed"
 * and returns the exit code (0 only when nothing failed). A failing check prints
 * file:line, the expression and, for the typed checks, both values; the program keeps
 * going so one run shows every failure.
 *
 * Everything here is static, so any number of test programs can include it; helper
 * functions inside a test file can report at their caller's line with
 * tl_check_at(file, line, ...).
 */
#ifndef PROVIUM_TESTLIB_H
#define PROVIUM_TESTLIB_H

#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int tl_passed, tl_failed;
static const char *tl_current = "";   /* name of the test being run, for messages */

/* Record one check. On failure print "FAIL file:line [test]: " and the message. */
__attribute__((format(printf, 4, 5)))
static inline int tl_check_at(int ok, const char *file, int line, const char *fmt, ...)
{
    if (ok) {
        tl_passed++;
        return 1;
    }
    tl_failed++;
    fprintf(stderr, "FAIL %s:%d", file, line);
    if (tl_current[0])
        fprintf(stderr, " [%s]", tl_current);
    fputs(": ", stderr);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return 0;
}

static inline int tl_str_eq(const char *a, const char *b)
{
    return a && b ? strcmp(a, b) == 0 : a == b;
}

static inline int tl_str_contains(const char *hay, const char *needle)
{
    return hay && needle && strstr(hay, needle) != NULL;
}

static inline int tl_summary(void)
{
    printf("%d passed, %d failed\n", tl_passed, tl_failed);
    return tl_failed ? 1 : 0;
}

#define TL_S(s) ((s) ? (s) : "(null)")

/* Each macro evaluates its arguments once. CHECK and CHECK_MSG are expressions
 * yielding 1 if the check passed; the others are statements. */
#define CHECK(cond) \
    tl_check_at(!!(cond), __FILE__, __LINE__, "%s", #cond)

#define CHECK_MSG(cond, ...) \
    tl_check_at(!!(cond), __FILE__, __LINE__, __VA_ARGS__)

#define CHECK_EQ_INT(a, b) do { \
        long long tl_a_ = (long long)(a), tl_b_ = (long long)(b); \
        tl_check_at(tl_a_ == tl_b_, __FILE__, __LINE__, "%s == %s (got %lld, expected %lld)", \
                    #a, #b, tl_a_, tl_b_); \
    } while (0)

#define CHECK_EQ_U64(a, b) do { \
        unsigned long long tl_a_ = (unsigned long long)(a), tl_b_ = (unsigned long long)(b); \
        tl_check_at(tl_a_ == tl_b_, __FILE__, __LINE__, "%s == %s (got %llu, expected %llu)", \
                    #a, #b, tl_a_, tl_b_); \
    } while (0)

/* Doubles equal within eps (use 0 for exact). */
#define CHECK_NEAR(a, b, eps) do { \
        double tl_a_ = (double)(a), tl_b_ = (double)(b); \
        tl_check_at(fabs(tl_a_ - tl_b_) <= (eps), __FILE__, __LINE__, \
                    "%s ~= %s (got %.17g, expected %.17g)", #a, #b, tl_a_, tl_b_); \
    } while (0)

/* Strings equal; NULL equals only NULL. */
#define CHECK_STR_EQ(a, b) do { \
        const char *tl_a_ = (a), *tl_b_ = (b); \
        tl_check_at(tl_str_eq(tl_a_, tl_b_), __FILE__, __LINE__, "%s == %s (got \"%s\", expected \"%s\")", \
                    #a, #b, TL_S(tl_a_), TL_S(tl_b_)); \
    } while (0)

#define CHECK_STR_CONTAINS(hay, needle) do { \
        const char *tl_a_ = (hay), *tl_b_ = (needle); \
        tl_check_at(tl_str_contains(tl_a_, tl_b_), __FILE__, __LINE__, \
                    "%s contains %s (got \"%s\", expected to contain \"%s\")", \
                    #hay, #needle, TL_S(tl_a_), TL_S(tl_b_)); \
    } while (0)

/* Run a test function void name(void), naming it in failure messages. */
#define RUN(fn) do { tl_current = #fn; fn(); tl_current = ""; } while (0)

#define TEST_SUMMARY() tl_summary()

/* The whole file at path (NUL-terminated, *len bytes before it), or NULL; free() it. */
static inline unsigned char *tl_slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *buf = malloc(n > 0 ? (size_t)n + 1 : 1);
    if (buf && n > 0 && fread(buf, 1, (size_t)n, f) != (size_t)n)
        n = 0;
    fclose(f);
    if (buf)
        buf[n > 0 ? n : 0] = 0;
    *len = n > 0 ? (size_t)n : 0;
    return buf;
}

#endif
