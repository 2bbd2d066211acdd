/*
 * url.h - application/x-www-form-urlencoded and query-string decoding.
 */
#ifndef SONDE_CORE_URL_H
#define SONDE_CORE_URL_H

#include <stddef.h>

#include "arena.h"
#include "status.h"

typedef struct url_param {
    const char *key; /* decoded, NUL-terminated, in the arena */
    size_t key_len;
    const char *val;
    size_t val_len;
} url_param;

/* Percent-decodes s[0..n) ('+' is a space) into the arena. SONDE_ERR_INVALID on
 * a bad escape. */
sonde_status url_decode(arena *a, const char *s, size_t n, char **out, size_t *out_len);
/* Splits "a=1&b=2&a=3" into params, appending to *params (an arena array that
 * grows by arena_realloc) so a query string and a form body can be merged.
 * More than max_params in total gives SONDE_ERR_LIMIT. */
sonde_status url_params_parse(arena *a, const char *s, size_t n, url_param **params, size_t *count,
                              size_t max_params);

#endif
