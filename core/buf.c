/*
 * buf.c - growable byte buffer with a maximum size (see buf.h).
 *
 * Invariants: len <= max; when cap > 0, data[len] == '\0' and cap > len.
 * A failing append leaves len and the content unchanged. max == 0 means
 * "no limit" (SIZE_MAX / 2), so a zeroed buf is usable.
 *
 * Threads: none of its own; one owner at a time.
 */
#include "buf.h"

#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static size_t buf_max(const buf *b)
{
    return b->max ? b->max : SIZE_MAX / 2;
}

void buf_init(buf *b, size_t max)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    b->max = max;
}

void buf_fini(buf *b)
{
    if (!b)
        return;
    free(b->data);
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
}

void buf_reset(buf *b)
{
    b->len = 0;
    if (b->cap)
        b->data[0] = '\0';
}

sonde_status buf_reserve(buf *b, size_t extra)
{
    size_t max = buf_max(b);
    if (extra > max - b->len)
        return SONDE_ERR_LIMIT;
    size_t need = b->len + extra + 1; /* + NUL */
    if (need <= b->cap)
        return SONDE_OK;
    size_t ncap = b->cap ? b->cap : 64;
    while (ncap < need)
        ncap = ncap > (max + 1) / 2 ? max + 1 : ncap * 2;
    if (ncap > max + 1)
        ncap = max + 1;
    char *nd = realloc(b->data, ncap);
    if (!nd)
        return SONDE_ERR_NOMEM;
    b->data = nd;
    b->cap = ncap;
    return SONDE_OK;
}

sonde_status buf_append(buf *b, const void *p, size_t n)
{
    sonde_status st = buf_reserve(b, n);
    if (st != SONDE_OK)
        return st;
    if (n)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
    return SONDE_OK;
}

sonde_status buf_puts(buf *b, const char *s)
{
    return buf_append(b, s, strlen(s));
}

sonde_status buf_putc(buf *b, char c)
{
    return buf_append(b, &c, 1);
}

sonde_status buf_vprintf(buf *b, const char *fmt, va_list ap)
{
    va_list ap2;
    va_copy(ap2, ap);
    char small[256];
    int n = vsnprintf(small, sizeof small, fmt, ap2);
    va_end(ap2);
    if (n < 0)
        return SONDE_ERR_INVALID;
    if ((size_t)n < sizeof small)
        return buf_append(b, small, (size_t)n);
    sonde_status st = buf_reserve(b, (size_t)n);
    if (st != SONDE_OK)
        return st;
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    b->len += (size_t)n;
    return SONDE_OK;
}

sonde_status buf_printf(buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    sonde_status st = buf_vprintf(b, fmt, ap);
    va_end(ap);
    return st;
}

sonde_status buf_json_str(buf *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    size_t start_len = b->len;
    sonde_status st = buf_putc(b, '"');
    size_t run = 0; /* start of the pending unescaped run */
    for (size_t i = 0; i < n && st == SONDE_OK; i++) {
        unsigned char c = (unsigned char)s[i];
        char esc[6];
        size_t elen = 0;
        if (c == '"' || c == '\\') {
            esc[0] = '\\';
            esc[1] = (char)c;
            elen = 2;
        } else if (c < 0x20) {
            esc[0] = '\\';
            elen = 2;
            switch (c) {
            case '\n':
                esc[1] = 'n';
                break;
            case '\r':
                esc[1] = 'r';
                break;
            case '\t':
                esc[1] = 't';
                break;
            case '\b':
                esc[1] = 'b';
                break;
            case '\f':
                esc[1] = 'f';
                break;
            default:
                esc[1] = 'u';
                esc[2] = '0';
                esc[3] = '0';
                esc[4] = hex[c >> 4];
                esc[5] = hex[c & 15];
                elen = 6;
            }
        } else {
            continue;
        }
        st = buf_append(b, s + run, i - run);
        if (st == SONDE_OK)
            st = buf_append(b, esc, elen);
        run = i + 1;
    }
    if (st == SONDE_OK)
        st = buf_append(b, s + run, n - run);
    if (st == SONDE_OK)
        st = buf_putc(b, '"');
    if (st != SONDE_OK) {
        b->len = start_len; /* unchanged on failure */
        if (b->cap)
            b->data[b->len] = '\0';
    }
    return st;
}

/*
 * Go's strconv.FormatFloat(v, 'f', -1, 64): the shortest decimal that parses
 * back to v, written without an exponent. We find the shortest precision p
 * for which "%.{p-1}e" round-trips through strtod (snprintf and strtod share
 * the locale, so the check is consistent), take its digits and exponent, and
 * place the decimal point ourselves.
 *
 * For a normal double at most three tries are needed instead of up to 17 (a
 * rate like 0.28333333333333333 needs 16 or 17 digits, and query responses
 * format millions of them): a decimal of p <= 15 significant digits that
 * parses back to v is round_15(v) (DBL_DIG: 15-digit decimals survive a trip
 * through double), so if round_15(v) parses back, the shortest form is its
 * digits without trailing zeros, which the code below strips; if not, p is 16
 * or 17. Subnormals have fewer significant bits, so they take the full search.
 */
static void prom_float_shortest(char *tmp, size_t n, double v)
{
    if (isnormal(v)) {
        snprintf(tmp, n, "%.14e", v);
        if (strtod(tmp, NULL) != v) {
            snprintf(tmp, n, "%.15e", v);
            if (strtod(tmp, NULL) != v)
                snprintf(tmp, n, "%.16e", v);
        }
        return;
    }
    for (int p = 1; p <= 17; p++) {
        snprintf(tmp, n, "%.*e", p - 1, v);
        if (strtod(tmp, NULL) == v)
            return;
    }
}

sonde_status buf_prom_float(buf *b, double v)
{
    if (isnan(v))
        return buf_puts(b, "NaN");
    if (isinf(v))
        return buf_puts(b, v > 0 ? "+Inf" : "-Inf");
    char tmp[48];
    prom_float_shortest(tmp, sizeof tmp, v);
    /* tmp: [-]d[.ddd]e[+-]xx (the radix char may be locale-specific) */
    char digits[24] = {0};
    size_t nd = 0;
    bool neg = false;
    const char *q = tmp;
    if (*q == '-') {
        neg = true;
        q++;
    }
    for (; *q && *q != 'e' && *q != 'E'; q++)
        if (*q >= '0' && *q <= '9' && nd < sizeof digits)
            digits[nd++] = *q;
    int exp10 = 0, esign = 1;
    if (*q == 'e' || *q == 'E') {
        q++;
        if (*q == '-' || *q == '+')
            esign = (*q++ == '-') ? -1 : 1;
        for (; *q >= '0' && *q <= '9'; q++)
            exp10 = exp10 * 10 + (*q - '0');
    }
    exp10 *= esign;
    while (nd > 1 && digits[nd - 1] == '0')
        nd--;
    char out[400]; /* |exp10| <= 324, plus 17 digits */
    size_t o = 0;
    if (neg)
        out[o++] = '-';
    if (nd == 1 && digits[0] == '0') {
        out[o++] = '0'; /* zero (Go prints -0 for negative zero) */
    } else if (exp10 >= 0) {
        for (int i = 0; i <= exp10; i++)
            out[o++] = (size_t)i < nd ? digits[i] : '0';
        if ((size_t)exp10 + 1 < nd) {
            out[o++] = '.';
            for (size_t i = (size_t)exp10 + 1; i < nd; i++)
                out[o++] = digits[i];
        }
    } else {
        out[o++] = '0';
        out[o++] = '.';
        for (int i = 0; i < -exp10 - 1; i++)
            out[o++] = '0';
        for (size_t i = 0; i < nd; i++)
            out[o++] = digits[i];
    }
    return buf_append(b, out, o);
}
