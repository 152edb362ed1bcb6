/* test_units.c - unit tests for size and duration parsing (src/util/units.c).
 *
 * Why: these strings come straight from users ("512M", "1.5s"), so both the accepted
 * spellings and the rejected ones are pinned down here.
 *
 * Build and run:
 *   gcc -std=c17 -Wall -Wextra -D_GNU_SOURCE -g -fsanitize=address,undefined \
 *       -Isrc tests/unit/test_units.c src/util/units.c -lm -o /tmp/test_units && /tmp/test_units
 */
#include "util/units.h"
#include "testlib.h"

#include <math.h>
#include <string.h>

#define KIB 1024ull
#define MIB (1024ull * KIB)
#define GIB (1024ull * MIB)
#define TIB (1024ull * GIB)

static void size_ok_at(const char *file, int line, const char *s, uint64_t want)
{
    uint64_t got = 12345;
    int rc = units_parse_size(s, &got);
    tl_check_at(rc == 0 && got == want, file, line, "units_parse_size(\"%s\") = %d, %llu (expected %llu)",
                s, rc, (unsigned long long)got, (unsigned long long)want);
}

static void size_bad_at(const char *file, int line, const char *s)
{
    uint64_t got = 12345;
    int rc = units_parse_size(s, &got);
    tl_check_at(rc == -1 && got == 12345, file, line, "units_parse_size(\"%s\") should fail (got %d, %llu)",
                TL_S(s), rc, (unsigned long long)got);
}

static void dur_ok_at(const char *file, int line, const char *s, int neg, double want)
{
    double got = -999;
    int rc = units_parse_duration(s, neg, &got);
    tl_check_at(rc == 0 && fabs(got - want) <= 1e-12 * (fabs(want) > 1 ? fabs(want) : 1), file, line,
                "units_parse_duration(\"%s\", %d) = %d, %.17g (expected %.17g)", s, neg, rc, got, want);
}

static void dur_bad_at(const char *file, int line, const char *s, int neg)
{
    double got = -999;
    int rc = units_parse_duration(s, neg, &got);
    tl_check_at(rc == -1 && got == -999, file, line, "units_parse_duration(\"%s\", %d) should fail (got %d, %g)",
                TL_S(s), neg, rc, got);
}

static void fmt_at(const char *file, int line, uint64_t bytes, const char *want)
{
    char buf[64];
    units_format_size(bytes, buf, sizeof buf);
    tl_check_at(strcmp(buf, want) == 0, file, line, "units_format_size(%llu) = \"%s\" (expected \"%s\")",
                (unsigned long long)bytes, buf, want);
}

#define SIZE_OK(s, want) size_ok_at(__FILE__, __LINE__, (s), (want))
#define SIZE_BAD(s) size_bad_at(__FILE__, __LINE__, (s))
#define DUR_OK(s, neg, want) dur_ok_at(__FILE__, __LINE__, (s), (neg), (want))
#define DUR_BAD(s, neg) dur_bad_at(__FILE__, __LINE__, (s), (neg))
#define FMT(bytes, want) fmt_at(__FILE__, __LINE__, (bytes), (want))

static void test_sizes_valid(void)
{
    SIZE_OK("0", 0);
    SIZE_OK("1", 1);
    SIZE_OK("1024", 1024);
    SIZE_OK("007", 7);
    SIZE_OK("512B", 512);
    SIZE_OK("512b", 512);
    SIZE_OK("4k", 4 * KIB);
    SIZE_OK("4K", 4 * KIB);
    SIZE_OK("4KB", 4 * KIB);
    SIZE_OK("4kb", 4 * KIB);
    SIZE_OK("4KiB", 4 * KIB);
    SIZE_OK("4kib", 4 * KIB);
    SIZE_OK("4KIB", 4 * KIB);
    SIZE_OK("512M", 512 * MIB);
    SIZE_OK("512m", 512 * MIB);
    SIZE_OK("512MiB", 512 * MIB);
    SIZE_OK("2GB", 2 * GIB);
    SIZE_OK("20G", 20 * GIB);
    SIZE_OK("100GiB", 100 * GIB);
    SIZE_OK("3T", 3 * TIB);
    SIZE_OK("3tib", 3 * TIB);
    SIZE_OK("0G", 0);
    SIZE_OK("18446744073709551615", UINT64_MAX);
    SIZE_OK("16777215T", 16777215ull * TIB);
    SIZE_OK("17179869183G", 17179869183ull * GIB);
}

static void test_sizes_invalid(void)
{
    SIZE_BAD(NULL);
    SIZE_BAD("");
    SIZE_BAD("M");
    SIZE_BAD("KiB");
    SIZE_BAD("-1");
    SIZE_BAD("-1G");
    SIZE_BAD("+1G");
    SIZE_BAD("1.5G");
    SIZE_BAD("0.5");
    SIZE_BAD(" 1G");
    SIZE_BAD("1G ");
    SIZE_BAD("1 G");
    SIZE_BAD("1X");
    SIZE_BAD("1P");
    SIZE_BAD("1E");
    SIZE_BAD("1iB");
    SIZE_BAD("1GG");
    SIZE_BAD("1Gi");
    SIZE_BAD("1GiBs");
    SIZE_BAD("1GBB");
    SIZE_BAD("1e3");
    SIZE_BAD("0x10");
    SIZE_BAD("18446744073709551616");
    SIZE_BAD("99999999999999999999999");
    SIZE_BAD("16777216T");
    SIZE_BAD("17179869184G");
    SIZE_BAD("18014398509481984K");
}

static void test_durations_valid(void)
{
    DUR_OK("0", 0, 0);
    DUR_OK("5", 0, 5);
    DUR_OK("1.5", 0, 1.5);
    DUR_OK("250ms", 0, 0.25);
    DUR_OK("1ms", 0, 0.001);
    DUR_OK("1.5s", 0, 1.5);
    DUR_OK("30s", 0, 30);
    DUR_OK("2m", 0, 120);
    DUR_OK("1.5m", 0, 90);
    DUR_OK("1h", 0, 3600);
    DUR_OK("0.5h", 0, 1800);
    DUR_OK(".5s", 0, 0.5);
    DUR_OK("2.s", 0, 2);
    DUR_OK("0ms", 0, 0);
    DUR_OK("+3s", 0, 3);
    DUR_OK("-0s", 0, 0);
    DUR_OK("-1.5s", 1, -1.5);
    DUR_OK("-250ms", 1, -0.25);
    DUR_OK("-2", 1, -2);
    DUR_OK("10", 1, 10);
    DUR_OK("000012.500s", 0, 12.5);

    double v = 1;
    CHECK(units_parse_duration("-0", 0, &v) == 0 && v == 0 && !signbit(v));
}

static void test_durations_invalid(void)
{
    DUR_BAD(NULL, 0);
    DUR_BAD("", 0);
    DUR_BAD("s", 0);
    DUR_BAD("ms", 0);
    DUR_BAD(".", 0);
    DUR_BAD(".s", 0);
    DUR_BAD("-", 1);
    DUR_BAD("+", 0);
    DUR_BAD("-1s", 0);
    DUR_BAD("-1", 0);
    DUR_BAD("-0.001ms", 0);
    DUR_BAD("1x", 0);
    DUR_BAD("1S", 0);
    DUR_BAD("1sec", 0);
    DUR_BAD("1min", 0);
    DUR_BAD("1d", 0);
    DUR_BAD("1us", 0);
    DUR_BAD("1m30s", 0);
    DUR_BAD("1 s", 0);
    DUR_BAD(" 1s", 0);
    DUR_BAD("1s ", 0);
    DUR_BAD("1e3", 0);
    DUR_BAD("1e3s", 0);
    DUR_BAD("1.2.3s", 0);
    DUR_BAD("nan", 0);
    DUR_BAD("NaN", 1);
    DUR_BAD("inf", 0);
    DUR_BAD("-inf", 1);
    DUR_BAD("infinity", 0);
    DUR_BAD("0x10", 0);
    DUR_BAD("--1s", 1);
    DUR_BAD("+-1s", 1);

    /* a number too big for a double overflows to infinity and is rejected */
    char big[420];
    memset(big, '9', 400);
    strcpy(big + 400, "h");
    DUR_BAD(big, 0);
    big[400] = '\0';
    DUR_BAD(big, 0);
}

static void test_check_duration(void)
{
    CHECK_EQ_INT(units_check_duration(0, 0), 0);
    CHECK_EQ_INT(units_check_duration(1.5, 0), 0);
    CHECK_EQ_INT(units_check_duration(-1.5, 0), -1);
    CHECK_EQ_INT(units_check_duration(-1.5, 1), 0);
    CHECK_EQ_INT(units_check_duration(NAN, 0), -1);
    CHECK_EQ_INT(units_check_duration(NAN, 1), -1);
    CHECK_EQ_INT(units_check_duration(INFINITY, 0), -1);
    CHECK_EQ_INT(units_check_duration(-INFINITY, 1), -1);
    CHECK_EQ_INT(units_check_duration(1e300, 0), 0);
}

static void test_format_size(void)
{
    FMT(0, "0B");
    FMT(1, "1B");
    FMT(1023, "1023B");
    FMT(1024, "1.00KiB");
    FMT(1536, "1.50KiB");
    FMT(1048575, "1.00MiB");
    FMT(512 * MIB, "512.00MiB");
    FMT(20 * GIB, "20.00GiB");
    FMT(GIB + GIB / 4, "1.25GiB");
    FMT(3 * TIB, "3.00TiB");
    FMT(4096 * TIB, "4096.00TiB");
    FMT(UINT64_MAX, "16777216.00TiB");

    /* small buffers are truncated but always terminated */
    char buf[4];
    memset(buf, 'x', sizeof buf);
    units_format_size(512 * MIB, buf, sizeof buf);
    CHECK_STR_EQ(buf, "512");
    units_format_size(512 * MIB, buf, 1);
    CHECK_STR_EQ(buf, "");
    units_format_size(1, NULL, 0);   /* must not crash */
}

static void test_round_trip(void)
{
    /* whole-unit sizes format with the binary unit and two decimals */
    static const char *const in[] = { "1K", "7M", "20G", "2T" };
    static const char *const out[] = { "1.00KiB", "7.00MiB", "20.00GiB", "2.00TiB" };
    for (size_t i = 0; i < sizeof in / sizeof in[0]; i++) {
        uint64_t v = 0;
        char buf[32];
        CHECK(units_parse_size(in[i], &v) == 0);
        units_format_size(v, buf, sizeof buf);
        CHECK_STR_EQ(buf, out[i]);
    }
}

int main(void)
{
    RUN(test_sizes_valid);
    RUN(test_sizes_invalid);
    RUN(test_durations_valid);
    RUN(test_durations_invalid);
    RUN(test_check_duration);
    RUN(test_format_size);
    RUN(test_round_trip);
    return TEST_SUMMARY();
}
