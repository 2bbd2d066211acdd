/*
 * json.c - Prometheus API JSON for query results: the "data" object of
 * /api/v1/query and /api/v1/query_range, exactly as Prometheus writes it.
 *
 * Timestamps are float seconds written from integer milliseconds
 * (MarshalTimestamp: "1700000000", "1700000000.500", "1700000000.123");
 * sample values are strings as MarshalFloat writes them: buf_prom_float
 * ('f', -1: "NaN", "+Inf", ...) except 'e' format below 1e-6 and from 1e21.
 * Threads: any; writes into a caller's buf.
 */
#include "json.h"

#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

sonde_status query_json_timestamp(buf *b, int64_t ms)
{
    uint64_t u = ms < 0 ? (uint64_t)0 - (uint64_t)ms : (uint64_t)ms;
    sonde_status st = buf_printf(b, "%s%llu", ms < 0 ? "-" : "", (unsigned long long)(u / 1000));
    unsigned frac = (unsigned)(u % 1000);
    if (st || !frac)
        return st;
    char d[5] = {'.', (char)('0' + frac / 100), (char)('0' + frac / 10 % 10),
                 (char)('0' + frac % 10), 0};
    /* no trimming: Prometheus writes 1700000000.500 */
    return buf_append(b, d, 4);
}

/*
 * buf_prom_float's output (Go's FormatFloat(v, 'f', -1, 64)) for a normal
 * finite v, with at most three snprintf/strtod round trips instead of up to
 * 17 (a rate like 0.28333333333333333 needs 16 or 17 digits; this was ~15% of
 * a range query's CPU). buf_prom_float takes the shortest p in 1..17 for which
 * "%.{p-1}e" parses back to v. For a normal double, a decimal of p <= 15
 * significant digits that parses back to v is round_15(v) (DBL_DIG: 15-digit
 * decimals survive a trip through double), so: if round_15(v) parses back, the
 * shortest p is its digit count without trailing zeros, with the same digits
 * and exponent; if not, no p <= 15 does, and p is 16 or 17.
 */
static sonde_status json_f_float(buf *b, double v)
{
    char tmp[48];
    snprintf(tmp, sizeof tmp, "%.14e", v);
    if (strtod(tmp, NULL) != v) {
        snprintf(tmp, sizeof tmp, "%.15e", v);
        if (strtod(tmp, NULL) != v)
            snprintf(tmp, sizeof tmp, "%.16e", v);
    }
    /* from here as buf_prom_float: tmp is [-]d[.ddd]e[+-]xx */
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
    char out[64]; /* |v| in [1e-6, 1e21): at most 1 + 22 + 6 + 17 chars */
    size_t o = 0;
    if (neg)
        out[o++] = '-';
    if (nd == 1 && digits[0] == '0') {
        out[o++] = '0';
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

sonde_status query_json_float(buf *b, double v)
{
    double a = fabs(v);
    if (a >= 1e-6 && a < 1e21)
        return json_f_float(b, v);
    if (a == 0 || isnan(v) || isinf(v))
        return buf_prom_float(b, v);
    /* Prometheus' MarshalFloat switches to 'e' format here: shortest digits
     * that round-trip, Go's exponent form (at least two digits) = C's %e */
    char tmp[40];
    for (int prec = 0; prec < 17; prec++) {
        snprintf(tmp, sizeof(tmp), "%.*e", prec, v);
        if (strtod(tmp, NULL) == v)
            return buf_puts(b, tmp);
    }
    snprintf(tmp, sizeof(tmp), "%.16e", v);
    return buf_puts(b, tmp);
}

static sonde_status point(buf *b, int64_t t, double v)
{
    sonde_status st = buf_putc(b, '[');
    if (!st)
        st = query_json_timestamp(b, t);
    if (!st)
        st = buf_puts(b, ",\"");
    if (!st)
        st = query_json_float(b, v);
    if (!st)
        st = buf_puts(b, "\"]");
    return st;
}

sonde_status query_json_labels(buf *b, const sonde_label *l, uint32_t n)
{
    sonde_status st = buf_putc(b, '{');
    for (uint32_t i = 0; i < n && !st; i++) {
        if (i)
            st = buf_putc(b, ',');
        if (!st)
            st = buf_json_str(b, l[i].name, l[i].name_len);
        if (!st)
            st = buf_putc(b, ':');
        if (!st)
            st = buf_json_str(b, l[i].value, l[i].value_len);
    }
    return st ? st : buf_putc(b, '}');
}

sonde_status query_json_result(buf *b, const query_value *v, bool range)
{
    sonde_status st = SONDE_OK;
    switch (v->type) {
    case QUERY_TYPE_SCALAR:
        if (range) {
            st = buf_puts(b, "{\"resultType\":\"matrix\",\"result\":[{\"metric\":{},\"values\":[");
            for (size_t i = 0; i < v->nsteps && !st; i++) {
                if (i)
                    st = buf_putc(b, ',');
                if (!st)
                    st = point(b, v->start + (int64_t)i * v->step, v->scalar[i]);
            }
            return st ? st : buf_puts(b, "]}]}");
        }
        st = buf_puts(b, "{\"resultType\":\"scalar\",\"result\":");
        if (!st)
            st = point(b, v->start, v->scalar[0]);
        return st ? st : buf_putc(b, '}');
    case QUERY_TYPE_STRING:
        st = buf_puts(b, "{\"resultType\":\"string\",\"result\":[");
        if (!st)
            st = query_json_timestamp(b, v->start);
        if (!st)
            st = buf_putc(b, ',');
        if (!st)
            st = buf_json_str(b, v->str, v->str_len);
        return st ? st : buf_puts(b, "]}");
    case QUERY_TYPE_MATRIX:
        st = buf_puts(b, "{\"resultType\":\"matrix\",\"result\":[");
        for (size_t i = 0; i < v->nms && !st; i++) {
            const query_mseries *s = &v->ms[i];
            st = buf_puts(b, i ? ",{\"metric\":" : "{\"metric\":");
            if (!st)
                st = query_json_labels(b, s->labels, s->nlabels);
            if (!st)
                st = buf_puts(b, ",\"values\":[");
            for (size_t j = 0; j < s->n && !st; j++) {
                if (j)
                    st = buf_putc(b, ',');
                if (!st)
                    st = point(b, s->s[j].ts_ms, s->s[j].value);
            }
            if (!st)
                st = buf_puts(b, "]}");
        }
        return st ? st : buf_puts(b, "]}");
    case QUERY_TYPE_VECTOR: {
        st = buf_puts(b, range ? "{\"resultType\":\"matrix\",\"result\":["
                               : "{\"resultType\":\"vector\",\"result\":[");
        bool first = true;
        for (size_t i = 0; i < v->nseries && !st; i++) {
            const query_series *s = &v->series[i];
            if (!range && !s->ok[0])
                continue;
            st = buf_puts(b, first ? "{\"metric\":" : ",{\"metric\":");
            first = false;
            if (!st)
                st = query_json_labels(b, s->labels, s->nlabels);
            if (!range) {
                if (!st)
                    st = buf_puts(b, ",\"value\":");
                if (!st)
                    st = point(b, v->start, s->v[0]);
                if (!st)
                    st = buf_putc(b, '}');
                continue;
            }
            if (!st)
                st = buf_puts(b, ",\"values\":[");
            bool pf = true;
            for (size_t j = 0; j < v->nsteps && !st; j++) {
                if (!s->ok[j])
                    continue;
                if (!pf)
                    st = buf_putc(b, ',');
                pf = false;
                if (!st)
                    st = point(b, v->start + (int64_t)j * v->step, s->v[j]);
            }
            if (!st)
                st = buf_puts(b, "]}");
        }
        return st ? st : buf_puts(b, "]}");
    }
    default:
        return SONDE_ERR_INTERNAL;
    }
}

static sonde_status json_annotation_kind(buf *b, const query_annotation *a, size_t n, bool warning,
                                         const char *q, size_t qn)
{
    bool first = true;
    sonde_status st = SONDE_OK;
    for (size_t i = 0; i < n && st == SONDE_OK; i++) {
        if (a[i].warning != warning)
            continue;
        size_t line = 1, col = 1;
        for (size_t k = 0; k < a[i].pos && k < qn; k++) {
            col++;
            if (q[k] == '\n') {
                line++;
                col = 1;
            }
        }
        char text[400];
        int len = snprintf(text, sizeof(text), "PromQL %s: %s (%zu:%zu)",
                           warning ? "warning" : "info", a[i].msg, line, col);
        if (len < 0)
            continue;
        if (first)
            st = buf_puts(b, warning ? ",\"warnings\":[" : ",\"infos\":[");
        else
            st = buf_putc(b, ',');
        first = false;
        if (st == SONDE_OK)
            st = buf_json_str(b, text, strlen(text));
    }
    if (!first && st == SONDE_OK)
        st = buf_putc(b, ']');
    return st;
}

sonde_status query_json_annotations(buf *b, const query_annotation *a, size_t n, const char *q,
                                    size_t qn)
{
    sonde_status st = json_annotation_kind(b, a, n, true, q, qn);
    return st ? st : json_annotation_kind(b, a, n, false, q, qn);
}
