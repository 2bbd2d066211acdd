/*
 * url.c - percent-decoding and query-string splitting into a request arena.
 *
 * Threads: any; the arena's owner. Output strings are NUL-terminated copies in
 * the arena, so they may contain NUL bytes (%00) before their length: use the
 * lengths, not strlen.
 */
#include "url.h"

#include "parse.h"

#include <stdint.h>
#include <string.h>

sonde_status url_decode(arena *a, const char *s, size_t n, char **out, size_t *out_len)
{
    char *d = arena_alloc(a, n + 1);
    if (!d)
        return SONDE_ERR_NOMEM;
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '+') {
            d[o++] = ' ';
        } else if (c == '%') {
            if (n - i < 3)
                return SONDE_ERR_INVALID;
            int hi = parse_hex_digit(s[i + 1]), lo = parse_hex_digit(s[i + 2]);
            if (hi < 0 || lo < 0)
                return SONDE_ERR_INVALID;
            d[o++] = (char)(hi * 16 + lo);
            i += 2;
        } else {
            d[o++] = c;
        }
    }
    d[o] = '\0';
    *out = d;
    *out_len = o;
    return SONDE_OK;
}

sonde_status url_params_parse(arena *a, const char *s, size_t n, url_param **params, size_t *count,
                              size_t max_params)
{
    /* Count the pieces first so the array grows once per call. */
    size_t pieces = 0;
    for (size_t i = 0; i < n;) {
        const char *amp = memchr(s + i, '&', n - i);
        size_t end = amp ? (size_t)(amp - s) : n;
        if (end > i)
            pieces++;
        i = end + 1;
    }
    if (pieces == 0)
        return SONDE_OK;
    if (pieces > max_params || *count > max_params - pieces)
        return SONDE_ERR_LIMIT;
    url_param *arr = arena_realloc(a, *params, *count * sizeof(url_param),
                                   (*count + pieces) * sizeof(url_param));
    if (!arr)
        return SONDE_ERR_NOMEM;
    *params = arr;
    for (size_t i = 0; i < n;) {
        const char *amp = memchr(s + i, '&', n - i);
        size_t end = amp ? (size_t)(amp - s) : n;
        if (end > i) {
            const char *eq = memchr(s + i, '=', end - i);
            size_t klen = eq ? (size_t)(eq - (s + i)) : end - i;
            const char *v = eq ? eq + 1 : s + end;
            size_t vlen = (size_t)(s + end - v);
            url_param *p = &arr[*count];
            char *k, *val;
            sonde_status st = url_decode(a, s + i, klen, &k, &p->key_len);
            if (st != SONDE_OK)
                return st;
            st = url_decode(a, v, vlen, &val, &p->val_len);
            if (st != SONDE_OK)
                return st;
            p->key = k;
            p->val = val;
            (*count)++;
        }
        i = end + 1;
    }
    return SONDE_OK;
}
