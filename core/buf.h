/*
 * buf.h - growable byte buffer with a maximum size.
 *
 * Every growable buffer in sonde has a cap (curl's rule): an append that would
 * exceed `max` fails with SONDE_ERR_LIMIT and leaves the buffer unchanged.
 * data is always NUL-terminated when len > 0 (the NUL is not counted in len).
 */
#ifndef SONDE_CORE_BUF_H
#define SONDE_CORE_BUF_H

#include <stdarg.h>
#include <stddef.h>

#include "status.h"

typedef struct buf {
    char *data;
    size_t len;
    size_t cap;
    size_t max;
} buf;

void buf_init(buf *b, size_t max); /* no allocation yet */
void buf_fini(buf *b);             /* frees; the buf may be re-initialised */
void buf_reset(buf *b);            /* len = 0, keeps memory */
sonde_status buf_reserve(buf *b, size_t extra);
sonde_status buf_append(buf *b, const void *p, size_t n);
sonde_status buf_puts(buf *b, const char *s);
sonde_status buf_putc(buf *b, char c);
sonde_status buf_printf(buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
sonde_status buf_vprintf(buf *b, const char *fmt, va_list ap);
/* Appends s as a JSON string literal, quotes included, escaping as RFC 8259
 * requires (control characters as \u00XX). */
sonde_status buf_json_str(buf *b, const char *s, size_t n);
/* Appends a float the way Prometheus' JSON API writes sample values:
 * strconv.FormatFloat(v, 'f', -1, 64) semantics (shortest repr that round-trips,
 * no exponent), "NaN", "+Inf", "-Inf". No quotes. */
sonde_status buf_prom_float(buf *b, double v);

#endif
