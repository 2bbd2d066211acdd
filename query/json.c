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

#include "eval_internal.h"

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

sonde_status query_json_float(buf *b, double v)
{
    double a = fabs(v);
    if ((a >= 1e-6 && a < 1e21) || a == 0 || isnan(v) || isinf(v))
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

static sonde_status qfloat(buf *b, double v)
{
    sonde_status st = buf_putc(b, '"');
    if (!st)
        st = query_json_float(b, v);
    return st ? st : buf_putc(b, '"');
}

/* MarshalHistogram: count, sum and the populated buckets as
 * [boundary rule, lower, upper, count] (rule 0: (l,u], 1: [l,u), 3: [l,u]). */
sonde_status query_json_histogram(buf *b, const sonde_fhist *h)
{
    sonde_status st = buf_puts(b, "{\"count\":");
    if (!st)
        st = qfloat(b, h->count);
    if (!st)
        st = buf_puts(b, ",\"sum\":");
    if (!st)
        st = qfloat(b, h->sum);
    size_t n = query_hist_nbuckets(h);
    bool found = false;
    for (size_t i = 0; i < n && !st; i++) {
        qhbucket bk;
        query_hist_bucket(h, i, &bk);
        if (bk.count == 0)
            continue;
        st = buf_puts(b, found ? "," : ",\"buckets\":[");
        found = true;
        if (!st)
            st = buf_printf(b, "[%d,", bk.kind < 0 ? 1 : bk.kind == 0 ? 3 : 0);
        if (!st)
            st = qfloat(b, bk.lo);
        if (!st)
            st = buf_putc(b, ',');
        if (!st)
            st = qfloat(b, bk.up);
        if (!st)
            st = buf_putc(b, ',');
        if (!st)
            st = qfloat(b, bk.count);
        if (!st)
            st = buf_putc(b, ']');
    }
    if (!st && found)
        st = buf_putc(b, ']');
    return st ? st : buf_putc(b, '}');
}

static sonde_status hpoint(buf *b, int64_t t, const sonde_fhist *h)
{
    sonde_status st = buf_putc(b, '[');
    if (!st)
        st = query_json_timestamp(b, t);
    if (!st)
        st = buf_putc(b, ',');
    if (!st)
        st = query_json_histogram(b, h);
    return st ? st : buf_putc(b, ']');
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
            if (!st && (s->n || !s->nh))
                st = buf_puts(b, ",\"values\":[");
            for (size_t j = 0; j < s->n && !st; j++) {
                if (j)
                    st = buf_putc(b, ',');
                if (!st)
                    st = point(b, s->s[j].ts_ms, s->s[j].value);
            }
            if (!st && (s->n || !s->nh))
                st = buf_putc(b, ']');
            if (!st && s->nh)
                st = buf_puts(b, ",\"histograms\":[");
            for (size_t j = 0; j < s->nh && !st; j++) {
                if (j)
                    st = buf_putc(b, ',');
                if (!st)
                    st = hpoint(b, s->hs[j].ts_ms, s->hs[j].h);
            }
            if (!st && s->nh)
                st = buf_putc(b, ']');
            if (!st)
                st = buf_putc(b, '}');
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
                bool hist = query_series_is_hist(s, 0);
                if (!st)
                    st = buf_puts(b, hist ? ",\"histogram\":" : ",\"value\":");
                if (!st)
                    st = hist ? hpoint(b, v->start, s->h[0]) : point(b, v->start, s->v[0]);
                if (!st)
                    st = buf_putc(b, '}');
                continue;
            }
            /* floats in "values", histograms in "histograms" (each only when present) */
            size_t nf = 0, nh = 0;
            for (size_t j = 0; j < v->nsteps; j++) {
                nh += s->ok[j] && query_series_is_hist(s, j);
                nf += s->ok[j] && !query_series_is_hist(s, j);
            }
            for (int pass = 0; pass < 2 && !st; pass++) {
                bool hp = pass == 1;
                if ((hp ? nh : nf) == 0 && !(pass == 0 && nh == 0))
                    continue;
                st = buf_puts(b, hp ? ",\"histograms\":[" : ",\"values\":[");
                bool pf = true;
                for (size_t j = 0; j < v->nsteps && !st; j++) {
                    if (!s->ok[j] || query_series_is_hist(s, j) != hp)
                        continue;
                    if (!pf)
                        st = buf_putc(b, ',');
                    pf = false;
                    int64_t t = v->start + (int64_t)j * v->step;
                    if (!st)
                        st = hp ? hpoint(b, t, s->h[j]) : point(b, t, s->v[j]);
                }
                if (!st)
                    st = buf_putc(b, ']');
            }
            if (!st)
                st = buf_putc(b, '}');
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
