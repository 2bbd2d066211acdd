/*
 * parse.c - the one small, checked parsing helper (see parse.h).
 *
 * Every function takes (pointer, length), so it can parse inside a larger
 * buffer; nothing reads past n, nothing skips whitespace, trailing garbage and
 * overflow fail, and *out is written only on success. Floats go through
 * strtod_l() with a "C" locale so a process that calls setlocale() still
 * parses "1.5" the same.
 *
 * Threads: any. The C locale is created once (pthread_once).
 */
#include "parse.h"

#include <locale.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

static bool parse_digit(char c)
{
    return c >= '0' && c <= '9';
}

int parse_hex_digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

bool parse_u64(const char *s, size_t n, uint64_t *out)
{
    if (!s || n == 0)
        return false;
    size_t i = 0;
    if (s[0] == '+') {
        if (n == 1)
            return false;
        i = 1;
    }
    uint64_t v = 0;
    for (; i < n; i++) {
        if (!parse_digit(s[i]))
            return false;
        unsigned d = (unsigned)(s[i] - '0');
        if (v > (UINT64_MAX - d) / 10)
            return false;
        v = v * 10 + d;
    }
    *out = v;
    return true;
}

bool parse_i64(const char *s, size_t n, int64_t *out)
{
    if (!s || n == 0)
        return false;
    bool neg = s[0] == '-';
    size_t skip = (s[0] == '-' || s[0] == '+') ? 1 : 0;
    if (skip && n == 1)
        return false;
    if (s[skip] == '+' || s[skip] == '-')
        return false;
    uint64_t u;
    if (!parse_u64(s + skip, n - skip, &u))
        return false;
    if (neg) {
        if (u > (uint64_t)INT64_MAX + 1)
            return false;
        *out = u == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)u;
    } else {
        if (u > (uint64_t)INT64_MAX)
            return false;
        *out = (int64_t)u;
    }
    return true;
}

static pthread_once_t parse_locale_once = PTHREAD_ONCE_INIT;
static locale_t parse_c_locale;

static void parse_locale_init(void)
{
    parse_c_locale = newlocale(LC_ALL_MASK, "C", (locale_t)0);
}

static bool parse_ieq(const char *s, size_t n, const char *lit)
{
    size_t m = strlen(lit);
    if (n != m)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c >= 'A' && c <= 'Z')
            c = (char)(c - 'A' + 'a');
        if (c != lit[i])
            return false;
    }
    return true;
}

bool parse_f64(const char *s, size_t n, double *out)
{
    if (!s || n == 0)
        return false;
    /* Go's ParseFloat spellings of the specials, which strtod also mostly
     * knows, but strtod would also take "nan(...)" and leading blanks. */
    size_t sign = (s[0] == '+' || s[0] == '-') ? 1 : 0;
    const char *b = s + sign;
    size_t bn = n - sign;
    if (parse_ieq(b, bn, "inf") || parse_ieq(b, bn, "infinity")) {
        *out = s[0] == '-' ? -INFINITY : INFINITY;
        return true;
    }
    if (!sign && parse_ieq(b, bn, "nan")) {
        *out = NAN;
        return true;
    }
    if (bn == 0)
        return false;
    /* Only digits, signs, '.', exponent and hex-float characters may follow. */
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        bool ok = parse_digit(c) || c == '.' || c == '+' || c == '-' || c == 'x' || c == 'X' ||
                  c == 'p' || c == 'P' || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
        if (!ok)
            return false;
    }
    char small[128];
    char *tmp = small;
    if (n >= sizeof small) {
        if (n > 4096)
            return false;
        tmp = malloc(n + 1);
        if (!tmp)
            return false;
    }
    memcpy(tmp, s, n);
    tmp[n] = '\0';
    pthread_once(&parse_locale_once, parse_locale_init);
    char *end = NULL;
    double v = parse_c_locale ? strtod_l(tmp, &end, parse_c_locale) : strtod(tmp, &end);
    bool ok = end == tmp + n;
    if (tmp != small)
        free(tmp);
    if (!ok)
        return false;
    *out = v; /* overflow gives ±Inf and underflow 0, as Go's value does */
    return true;
}

bool parse_duration_ms(const char *s, size_t n, int64_t *out)
{
    /* Units largest first; each may appear once, in this order. */
    static const struct {
        const char *name;
        size_t len;
        int64_t ms;
    } units[] = {
        {"y", 1, 365LL * 24 * 3600 * 1000}, {"w", 1, 7LL * 24 * 3600 * 1000},
        {"d", 1, 24LL * 3600 * 1000},       {"h", 1, 3600LL * 1000},
        {"m", 1, 60LL * 1000},              {"s", 1, 1000},
        {"ms", 2, 1},
    };
    if (!s || n == 0)
        return false;
    if (n == 1 && s[0] == '0') {
        *out = 0;
        return true;
    }
    size_t i = 0, next_unit = 0;
    int64_t total = 0;
    while (i < n) {
        size_t start = i;
        while (i < n && parse_digit(s[i]))
            i++;
        if (i == start || i == n)
            return false;
        uint64_t num;
        if (!parse_u64(s + start, i - start, &num))
            return false;
        size_t u;
        for (u = next_unit; u < sizeof units / sizeof units[0]; u++) {
            /* "m" must not match the start of "ms" */
            if (units[u].len == 1 && units[u].name[0] == 'm' && i + 1 < n && s[i + 1] == 's')
                continue;
            if (n - i >= units[u].len && memcmp(s + i, units[u].name, units[u].len) == 0)
                break;
        }
        if (u == sizeof units / sizeof units[0])
            return false;
        if (num > (uint64_t)(INT64_MAX / units[u].ms))
            return false;
        int64_t part = (int64_t)num * units[u].ms;
        if (part > INT64_MAX - total)
            return false;
        total += part;
        i += units[u].len;
        next_unit = u + 1;
    }
    *out = total;
    return true;
}

bool parse_bytes(const char *s, size_t n, uint64_t *out)
{
    static const struct {
        const char *name;
        uint64_t mult;
    } units[] = {
        {"", 1},
        {"b", 1},
        {"k", 1000ULL},
        {"kb", 1000ULL},
        {"kib", 1ULL << 10},
        {"m", 1000ULL * 1000},
        {"mb", 1000ULL * 1000},
        {"mib", 1ULL << 20},
        {"g", 1000ULL * 1000 * 1000},
        {"gb", 1000ULL * 1000 * 1000},
        {"gib", 1ULL << 30},
        {"t", 1000ULL * 1000 * 1000 * 1000},
        {"tb", 1000ULL * 1000 * 1000 * 1000},
        {"tib", 1ULL << 40},
    };
    if (!s || n == 0)
        return false;
    size_t i = 0;
    while (i < n && parse_digit(s[i]))
        i++;
    uint64_t num;
    if (i == 0 || !parse_u64(s, i, &num))
        return false;
    for (size_t u = 0; u < sizeof units / sizeof units[0]; u++) {
        if (!parse_ieq(s + i, n - i, units[u].name))
            continue;
        if (num > UINT64_MAX / units[u].mult)
            return false;
        *out = num * units[u].mult;
        return true;
    }
    return false;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm). */
static int64_t parse_days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static bool parse_fixed(const char *s, size_t len, unsigned *out)
{
    unsigned v = 0;
    for (size_t i = 0; i < len; i++) {
        if (!parse_digit(s[i]))
            return false;
        v = v * 10 + (unsigned)(s[i] - '0');
    }
    *out = v;
    return true;
}

static bool parse_rfc3339_ms(const char *s, size_t n, int64_t *out)
{
    /* YYYY-MM-DDTHH:MM:SS[.frac](Z|+hh:mm|-hh:mm) */
    unsigned y, mo, d, h, mi, se;
    if (n < 20 || !parse_fixed(s, 4, &y) || s[4] != '-' || !parse_fixed(s + 5, 2, &mo) ||
        s[7] != '-' || !parse_fixed(s + 8, 2, &d) || (s[10] != 'T' && s[10] != 't') ||
        !parse_fixed(s + 11, 2, &h) || s[13] != ':' || !parse_fixed(s + 14, 2, &mi) ||
        s[16] != ':' || !parse_fixed(s + 17, 2, &se))
        return false;
    static const unsigned mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    if (mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] || (mo == 2 && d == 29 && !leap) ||
        h > 23 || mi > 59 || se > 59)
        return false;
    size_t i = 19;
    int64_t ms = 0;
    if (i < n && s[i] == '.') {
        i++;
        size_t start = i;
        unsigned scale = 100;
        while (i < n && parse_digit(s[i])) {
            ms += (int64_t)(s[i] - '0') * scale; /* truncates below 1 ms, as Go's UnixMilli */
            scale /= 10;
            i++;
        }
        if (i == start)
            return false;
    }
    if (i >= n)
        return false;
    int64_t off_s = 0;
    if (s[i] == 'Z' || s[i] == 'z') {
        i++;
    } else if (s[i] == '+' || s[i] == '-') {
        unsigned oh, om;
        if (n - i < 6 || !parse_fixed(s + i + 1, 2, &oh) || s[i + 3] != ':' ||
            !parse_fixed(s + i + 4, 2, &om) || oh > 23 || om > 59)
            return false;
        off_s = (int64_t)(oh * 3600 + om * 60) * (s[i] == '-' ? -1 : 1);
        i += 6;
    } else {
        return false;
    }
    if (i != n)
        return false;
    int64_t secs = parse_days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + se - off_s;
    *out = secs * 1000 + ms;
    return true;
}

bool parse_time_ms(const char *s, size_t n, int64_t *out)
{
    if (!s || n == 0)
        return false;
    /* Prometheus tries a float of seconds first, then RFC 3339. */
    double f;
    if (parse_f64(s, n, &f)) {
        if (!isfinite(f) || f > 9.2e15 || f < -9.2e15)
            return false;
        double ip;
        double frac = modf(f, &ip);
        int64_t ms = (int64_t)ip * 1000 + (int64_t)llround(frac * 1000.0);
        *out = ms;
        return true;
    }
    return parse_rfc3339_ms(s, n, out);
}
