/* units.c - parsing and printing of sizes and durations (see units.h).
 *
 * Why hand-written scanners instead of strtoull()/strtod() alone: those accept
 * leading whitespace, signs, hex, exponents, "inf" and "nan", and report overflow
 * through errno. Here the accepted grammar is checked byte by byte first, and the
 * libc conversion (strtod for durations) only runs on text already known to be a
 * plain decimal number. Provium never calls setlocale(), so '.' is the decimal point.
 */
#include "units.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static int is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* Binary shift for a K/M/G/T suffix letter, 0 if c is not one. */
static int size_shift(char c)
{
    switch (c) {
    case 'k': case 'K': return 10;
    case 'm': case 'M': return 20;
    case 'g': case 'G': return 30;
    case 't': case 'T': return 40;
    }
    return 0;
}

int units_parse_size(const char *s, uint64_t *out)
{
    if (!s || !is_digit(*s))
        return -1;
    uint64_t v = 0;
    for (; is_digit(*s); s++) {
        uint64_t d = (uint64_t)(*s - '0');
        if (v > (UINT64_MAX - d) / 10)
            return -1;
        v = v * 10 + d;
    }
    int shift = size_shift(*s);
    if (shift)
        s++;
    /* After K/M/G/T: nothing, "B" or "iB"; without a multiplier only "B". */
    if (*s && strcasecmp(s, "b") != 0 && !(shift && strcasecmp(s, "ib") == 0))
        return -1;
    if (shift && v > (UINT64_MAX >> shift))
        return -1;
    *out = v << shift;
    return 0;
}

/* Seconds per unit for a duration suffix ("" = seconds), or 0 if unknown. */
static double duration_factor(const char *unit)
{
    if (!*unit || !strcmp(unit, "s")) return 1.0;
    if (!strcmp(unit, "ms")) return 0.001;
    if (!strcmp(unit, "m")) return 60.0;
    if (!strcmp(unit, "h")) return 3600.0;
    return 0.0;
}

int units_check_duration(double secs, int allow_negative)
{
    if (!isfinite(secs))
        return -1;
    return secs >= 0 || allow_negative ? 0 : -1;
}

int units_parse_duration(const char *s, int allow_negative, double *secs)
{
    if (!s)
        return -1;
    int neg = 0;
    if (*s == '+' || *s == '-')
        neg = *s++ == '-';
    const char *num = s;
    size_t digits = 0;
    for (; is_digit(*s); s++)
        digits++;
    if (*s == '.')
        for (s++; is_digit(*s); s++)
            digits++;
    if (digits == 0)
        return -1;
    double factor = duration_factor(s);
    if (factor == 0.0)
        return -1;
    char *end;
    double v = strtod(num, &end);
    if (end != s)
        return -1;
    v *= factor;
    if (neg)
        v = -v;
    if (v == 0)
        v = 0;   /* no negative zero */
    if (units_check_duration(v, allow_negative) < 0)
        return -1;
    *secs = v;
    return 0;
}

void units_format_size(uint64_t bytes, char *buf, size_t n)
{
    static const char *const unit[] = { "KiB", "MiB", "GiB", "TiB" };
    if (!buf || n == 0)
        return;
    if (bytes < 1024) {
        snprintf(buf, n, "%uB", (unsigned)bytes);
        return;
    }
    double v = (double)bytes / 1024.0;
    int u = 0;
    /* Move up while the value would print as 1024.00 or more. */
    while (v >= 1023.995 && u < 3) {
        v /= 1024.0;
        u++;
    }
    snprintf(buf, n, "%.2f%s", v, unit[u]);
}
