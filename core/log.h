/*
 * log.h - structured logging: one logfmt line per event, written to stderr
 * with a single write(2) so lines from different threads never interleave.
 *
 *   ts=2026-11-23T11:35:20.123Z level=info event=ingest.listen addr=0.0.0.0:9201
 *
 * `event` is a dotted name (module.what). The format string supplies the
 * remaining key=value pairs; values that may contain spaces are quoted by the
 * caller with log_quote() or %s inside "".
 */
#ifndef SONDE_CORE_LOG_H
#define SONDE_CORE_LOG_H

#include <stddef.h>

typedef enum log_level { LOG_DEBUG = 0, LOG_INFO, LOG_WARN, LOG_ERROR } log_level;

void log_set_level(log_level lvl);
/* Parses "debug", "info", "warn", "error"; returns 0 on success, -1 otherwise. */
int log_level_parse(const char *s, log_level *out);
void log_emit(log_level lvl, const char *event, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Writes s[0..n) as a logfmt value into dst: bare when it has no space, '=',
 * '"' or control character, else double-quoted with \" \\ \n and \xNN
 * escapes. Truncates with "..." to fit. Returns dst (NUL-terminated; "" when
 * dstlen is too small to hold a quoted value). Any thread. */
const char *log_quote(char *dst, size_t dstlen, const char *s, size_t n);

#define log_debug(ev, ...) log_emit(LOG_DEBUG, ev, __VA_ARGS__)
#define log_info(ev, ...) log_emit(LOG_INFO, ev, __VA_ARGS__)
#define log_warn(ev, ...) log_emit(LOG_WARN, ev, __VA_ARGS__)
#define log_error(ev, ...) log_emit(LOG_ERROR, ev, __VA_ARGS__)

#endif
