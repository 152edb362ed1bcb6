/* units.h - the one place that turns "512M" and "1.5s" into numbers, and back.
 *
 * Sizes and durations appear in provium.toml, on the command line and in Lua test
 * scripts; parsing them in one place keeps the accepted spellings identical
 * everywhere and the error checks (overflow, negatives, junk) written once.
 * The parsers are strict: no surrounding whitespace, no signs on sizes, nothing
 * after the unit.
 */
#ifndef PROVIUM_UNITS_H
#define PROVIUM_UNITS_H

#include <stddef.h>
#include <stdint.h>

/* Sizes: a digit string plus an optional suffix K, M, G or T (any case, optionally
 * followed by B or iB), in powers of 1024: "512M", "100GiB", "4k", "2GB", "1024".
 * A lone "B" suffix means bytes ("512B"). Rejects NULL, empty, signs, fractions,
 * overflow of 64 bits and unknown suffixes. For a TOML integer, the caller uses the
 * integer itself (after checking it is not negative). */
int units_parse_size(const char *s, uint64_t *out);          /* 0 ok, -1 invalid */

/* Durations: a decimal number (fractions allowed: "1.5", ".5", "2.") plus at most
 * one unit ms, s, m or h ("250ms", "1.5s", "2m", "1h"); no unit means seconds.
 * A leading '+' is accepted, a leading '-' only with allow_negative. Rejects NULL,
 * empty, exponents, NaN, infinities, junk, results that overflow a double, and
 * negatives unless allow_negative. */
int units_parse_duration(const char *s, int allow_negative, double *secs); /* 0 ok, -1 invalid */

/* For durations given as TOML numbers: 0 if finite and (>= 0 or allow_negative), else -1. */
int units_check_duration(double secs, int allow_negative);

/* Human-readable size: "512B" below 1 KiB, else two decimals and the largest binary
 * unit that keeps the number below 1024 (up to TiB): "1.50KiB", "512.00MiB".
 * Always NUL-terminates when n > 0 (truncating if buf is too small). */
void units_format_size(uint64_t bytes, char *buf, size_t n);

#endif
