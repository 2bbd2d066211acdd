/*
 * log.c - logfmt lines to stderr, one write(2) per line (see log.h).
 *
 * A line is formatted into a stack buffer and written at once; writes of up
 * to PIPE_BUF to a pipe are atomic, and to a file/tty one write keeps lines
 * whole in practice. Longer lines are truncated (marked `truncated=1`).
 *
 * Threads: any. The level is a relaxed atomic: a racy read only delays the
 * effect of log_set_level by a line.
 */
#include "log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define LOG_LINE_MAX 4096

static _Atomic int log_min_level = LOG_INFO;

static const char *const log_level_names[] = {"debug", "info", "warn", "error"};

void log_set_level(log_level lvl)
{
    atomic_store_explicit(&log_min_level, (int)lvl, memory_order_relaxed);
}

int log_level_parse(const char *s, log_level *out)
{
    if (!s)
        return -1;
    for (int i = 0; i < 4; i++) {
        if (strcmp(s, log_level_names[i]) == 0) {
            *out = (log_level)i;
            return 0;
        }
    }
    if (strcmp(s, "warning") == 0) {
        *out = LOG_WARN;
        return 0;
    }
    return -1;
}

void log_emit(log_level lvl, const char *event, const char *fmt, ...)
{
    if ((int)lvl < atomic_load_explicit(&log_min_level, memory_order_relaxed))
        return;
    if ((unsigned)lvl > LOG_ERROR)
        lvl = LOG_ERROR;
    int saved_errno = errno;
    char line[LOG_LINE_MAX];
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    int n = snprintf(line, sizeof line, "ts=%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ level=%s event=%s",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                     tm.tm_sec, ts.tv_nsec / 1000000L, log_level_names[lvl], event ? event : "-");
    if (n < 0)
        n = 0;
    size_t len = (size_t)n < sizeof line ? (size_t)n : sizeof line - 1;
    if (fmt && fmt[0] && len < sizeof line - 2) {
        line[len++] = ' ';
        va_list ap;
        va_start(ap, fmt);
        int m = vsnprintf(line + len, sizeof line - len, fmt, ap);
        va_end(ap);
        if (m > 0)
            len += (size_t)m < sizeof line - len ? (size_t)m : sizeof line - len - 1;
    }
    static const char trunc[] = " truncated=1";
    if (len >= sizeof line - 2) {
        len = sizeof line - sizeof trunc - 1;
        memcpy(line + len, trunc, sizeof trunc - 1);
        len += sizeof trunc - 1;
    }
    /* One event, one line: a newline inside a value would forge a second line. */
    for (size_t i = 0; i < len; i++)
        if (line[i] == '\n' || line[i] == '\r')
            line[i] = ' ';
    line[len++] = '\n';
    ssize_t w;
    do {
        w = write(STDERR_FILENO, line, len);
    } while (w < 0 && errno == EINTR);
    errno = saved_errno;
}

const char *log_quote(char *dst, size_t dstlen, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    if (!dst || dstlen == 0)
        return "";
    bool need = n == 0;
    for (size_t i = 0; i < n && !need; i++) {
        unsigned char c = (unsigned char)s[i];
        need = c <= ' ' || c == '=' || c == '"' || c == 0x7f;
    }
    size_t o = 0;
    if (!need) {
        size_t m = n < dstlen - 1 ? n : dstlen - 1;
        memcpy(dst, s, m);
        dst[m] = '\0';
        if (m < n && dstlen > 4)
            memcpy(dst + dstlen - 4, "...", 4);
        return dst;
    }
    if (dstlen < 8) {
        dst[0] = '\0';
        return dst;
    }
    size_t room = dstlen - 5; /* closing quote, "..." handled below, NUL */
    dst[o++] = '"';
    size_t i;
    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        char e[4];
        size_t el = 0;
        if (c == '"' || c == '\\') {
            e[0] = '\\';
            e[1] = (char)c;
            el = 2;
        } else if (c == '\n') {
            e[0] = '\\';
            e[1] = 'n';
            el = 2;
        } else if (c < 0x20 || c == 0x7f) {
            e[0] = '\\';
            e[1] = 'x';
            e[2] = hex[c >> 4];
            e[3] = hex[c & 15];
            el = 4;
        } else {
            e[0] = (char)c;
            el = 1;
        }
        if (o + el > room)
            break;
        memcpy(dst + o, e, el);
        o += el;
    }
    if (i < n) {
        memcpy(dst + o, "...", 3);
        o += 3;
    }
    dst[o++] = '"';
    dst[o] = '\0';
    return dst;
}
