/*
 * decode.c - Prometheus remote-write 1.0: snappy body -> validated, canonical
 * sonde_series in the request arena (see remote_write.h).
 *
 * The path, and why it is shaped like this:
 *   1. snappy: the declared length is capped before allocating (snappy.c).
 *   2. wire pre-scan: protobuf-c allocates the whole tree in one call, so the
 *      per-request caps (series, labels per series, label name and value
 *      bytes) are checked by walking the protobuf wire format first, without
 *      allocating. The walk also rejects malformed framing early.
 *   3. protobuf-c unpack with the arena as ProtobufCAllocator (frees are
 *      no-ops; the arena goes at once). A refused allocation makes unpack
 *      fail; we report it as SONDE_ERR_LIMIT when the arena cap refused it
 *      (permanent: the request is too big; HTTP 413) and as SONDE_ERR_NOMEM
 *      when malloc did (transient; 503), never as bad input (rw_alloc_failed).
 *      Label names and values are declared `bytes` in remote.proto so that we
 *      get exact lengths (no strlen, embedded NULs preserved).
 *   4. validation, as Prometheus 3 does (UTF-8 names, not the legacy charset):
 *      names non-empty and valid UTF-8, values valid UTF-8, names unique, and
 *      a non-empty __name__. Unsorted label sets are sorted and accepted
 *      (counted in nsorted). Labels with an empty value are dropped, since an
 *      empty value means "absent" in Prometheus' data model.
 *      Prometheus 3's own v1 handler skips such series and answers 204; the
 *      remote-write spec, and sonde, reject the request (400) and name the
 *      series and label, so a sender learns about the problem instead of
 *      silently losing data.
 *   5. output: sonde_series with labels pointing into the unpacked tree (same
 *      arena), samples copied bit-exact (stale NaN preserved), hash set.
 *
 * Threads: any; rw_decode is a pure function of its inputs and the arena.
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "core/utf8.h"
#include "remote.pb-c.h"
#include "remote_write.h"

#define RW_RENDER_MAX 256 /* bytes of a series rendered into an error message */
#define RW_RENDER_PART 64 /* bytes of one label name or value in a rendering */

void rw_limits_defaults(rw_limits *l)
{
    l->max_decoded = 64u << 20;
    l->max_series = 1000000;
    l->max_labels = 128;
    l->max_label_name = 1024;
    l->max_label_value = 16u << 10;
}

static void rw_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void rw_err(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || errlen == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    if (n >= 0 && (size_t)n >= errlen) {
        /* cut short: do not leave half a UTF-8 sequence at the end */
        size_t len = errlen - 1;
        for (int k = 0; k < 3 && len > 0 && !utf8_valid(err, len); k++)
            err[--len] = '\0';
    }
}

/* ---- rendering a series for error messages ---- */

typedef struct rw_str {
    char *p;
    size_t len, cap; /* cap includes room for the NUL */
    bool full;
} rw_str;

static void rw_str_put(rw_str *s, const char *p, size_t n)
{
    if (s->full)
        return;
    if (n > s->cap - 1 - s->len) {
        n = s->cap - 1 - s->len;
        while (n > 0 && ((unsigned char)p[n] & 0xC0) == 0x80)
            n--; /* never split a UTF-8 sequence */
        s->full = true;
    }
    memcpy(s->p + s->len, p, n);
    s->len += n;
    s->p[s->len] = '\0';
}

static bool rw_name_is_plain(const uint8_t *p, size_t n)
{
    if (n == 0)
        return false;
    for (size_t i = 0; i < n; i++) {
        uint8_t c = p[i];
        bool ok = c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                  (i > 0 && c >= '0' && c <= '9');
        if (!ok)
            return false;
    }
    return true;
}

/* Appends p[0..n) as a double-quoted string, escaping quotes, backslashes,
 * control characters and bytes that are not valid UTF-8 (as \xNN), and cutting
 * it at RW_RENDER_PART bytes of input. */
static void rw_str_quote(rw_str *s, const uint8_t *p, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    rw_str_put(s, "\"", 1);
    size_t lim = n < RW_RENDER_PART ? n : RW_RENDER_PART;
    for (size_t i = 0; i < lim;) {
        uint8_t c = p[i];
        if (c >= 0x80) {
            size_t k = 2;
            while (k <= 4 && i + k <= n && !utf8_valid((const char *)p + i, k))
                k++;
            if (k <= 4 && i + k <= n) {
                rw_str_put(s, (const char *)p + i, k);
                i += k;
                continue;
            }
        }
        char e[4];
        size_t el = 1;
        e[0] = (char)c;
        if (c == '"' || c == '\\') {
            e[0] = '\\';
            e[1] = (char)c;
            el = 2;
        } else if (c == '\n') {
            memcpy(e, "\\n", 2);
            el = 2;
        } else if (c < 0x20 || c >= 0x7f) {
            e[0] = '\\';
            e[1] = 'x';
            e[2] = hex[c >> 4];
            e[3] = hex[c & 15];
            el = 4;
        }
        rw_str_put(s, e, el);
        i++;
    }
    if (lim < n)
        rw_str_put(s, "...", 3);
    rw_str_put(s, "\"", 1);
}

static void rw_str_label(rw_str *s, bool first, const uint8_t *name, size_t nlen,
                         const uint8_t *value, size_t vlen)
{
    if (!first)
        rw_str_put(s, ", ", 2);
    if (rw_name_is_plain(name, nlen) && nlen <= RW_RENDER_PART)
        rw_str_put(s, (const char *)name, nlen);
    else
        rw_str_quote(s, name, nlen);
    rw_str_put(s, "=", 1);
    rw_str_quote(s, value, vlen);
}

/* Closes a rendered series with "}", or with "...}" when it was cut short,
 * keeping whole UTF-8 sequences. */
static void rw_str_close_series(rw_str *s)
{
    if (!s->full) {
        rw_str_put(s, "}", 1);
        return;
    }
    if (s->cap < 6)
        return;
    size_t pos = s->len < s->cap - 5 ? s->len : s->cap - 5;
    while (pos > 0 && ((unsigned char)s->p[pos] & 0xC0) == 0x80)
        pos--;
    memcpy(s->p + pos, "...}", 5);
    s->len = pos + 4;
}

/* Prometheus' labels.String() shape: {__name__="up", job="x"}, in the order the
 * sender gave them, truncated to about RW_RENDER_MAX bytes. */
static void rw_render_series(const Prometheus__TimeSeries *ts, char *out, size_t outlen)
{
    rw_str s = {out, 0, outlen, false};
    out[0] = '\0';
    rw_str_put(&s, "{", 1);
    for (size_t i = 0; i < ts->n_labels && !s.full; i++) {
        const Prometheus__Label *l = ts->labels[i];
        rw_str_label(&s, i == 0, l->name.data, l->name.len, l->value.data, l->value.len);
    }
    rw_str_close_series(&s);
}

/* ---- wire pre-scan (no allocation) ---- */

typedef struct rw_wire {
    const uint8_t *p, *end;
} rw_wire;

static bool rw_wire_varint(rw_wire *w, uint64_t *v)
{
    uint64_t r = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        if (w->p >= w->end)
            return false;
        uint8_t b = *w->p++;
        r |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *v = r;
            return true;
        }
    }
    return false; /* more than 10 bytes */
}

/* Reads one field header; for length-delimited fields also the payload span. */
static bool rw_wire_field(rw_wire *w, uint32_t *field, uint32_t *wt, rw_wire *payload)
{
    uint64_t key, len;
    if (!rw_wire_varint(w, &key) || (key >> 3) == 0 || (key >> 3) > 0x1fffffff)
        return false;
    *field = (uint32_t)(key >> 3);
    *wt = (uint32_t)(key & 7);
    switch (*wt) {
    case 0:
        return rw_wire_varint(w, &len);
    case 1:
        if (w->end - w->p < 8)
            return false;
        w->p += 8;
        return true;
    case 5:
        if (w->end - w->p < 4)
            return false;
        w->p += 4;
        return true;
    case 2:
        if (!rw_wire_varint(w, &len) || len > (uint64_t)(w->end - w->p))
            return false;
        payload->p = w->p;
        payload->end = w->p + len;
        w->p += len;
        return true;
    default:
        return false; /* groups (3, 4) and reserved wire types: not in this schema */
    }
}

/* Renders a series straight from the wire (the pre-scan has no tree yet). */
static void rw_render_wire_series(rw_wire ts, char *out, size_t outlen)
{
    rw_str s = {out, 0, outlen, false};
    out[0] = '\0';
    rw_str_put(&s, "{", 1);
    bool first = true;
    uint32_t f, wt;
    rw_wire pl;
    while (ts.p < ts.end && !s.full && rw_wire_field(&ts, &f, &wt, &pl)) {
        if (f != 1 || wt != 2)
            continue;
        rw_wire nm = {NULL, NULL}, val = {NULL, NULL}, part;
        while (pl.p < pl.end && rw_wire_field(&pl, &f, &wt, &part)) {
            if (f == 1 && wt == 2)
                nm = part;
            else if (f == 2 && wt == 2)
                val = part;
        }
        rw_str_label(&s, first, nm.p, (size_t)(nm.end - nm.p), val.p, (size_t)(val.end - val.p));
        first = false;
    }
    rw_str_close_series(&s);
}

static sonde_status rw_prescan_series(rw_wire ts, size_t idx, const rw_limits *lim, char *err,
                                      size_t errlen)
{
    char rendered[RW_RENDER_MAX + 8];
    rw_wire w = ts, lab;
    uint32_t f, wt;
    size_t nlabels = 0;
    while (w.p < w.end) {
        if (!rw_wire_field(&w, &f, &wt, &lab)) {
            rw_err(err, errlen, "protobuf: malformed TimeSeries (series %zu)", idx);
            return SONDE_ERR_INVALID;
        }
        if (f != 1 || wt != 2)
            continue;
        if (++nlabels > lim->max_labels) {
            rw_render_wire_series(ts, rendered, sizeof rendered);
            rw_err(err, errlen, "series %s has more than %zu labels", rendered, lim->max_labels);
            return SONDE_ERR_LIMIT;
        }
        rw_wire part, name = {NULL, NULL};
        while (lab.p < lab.end) {
            if (!rw_wire_field(&lab, &f, &wt, &part)) {
                rw_err(err, errlen, "protobuf: malformed Label (series %zu)", idx);
                return SONDE_ERR_INVALID;
            }
            if (wt != 2)
                continue;
            size_t len = (size_t)(part.end - part.p);
            if (f == 1) {
                name = part;
                if (len > lim->max_label_name || len > UINT32_MAX) {
                    rw_render_wire_series(ts, rendered, sizeof rendered);
                    rw_err(err, errlen,
                           "series %s: label name of %zu bytes exceeds the limit of %zu bytes",
                           rendered, len, lim->max_label_name);
                    return SONDE_ERR_LIMIT;
                }
            } else if (f == 2 && (len > lim->max_label_value || len > UINT32_MAX)) {
                char nm[RW_RENDER_PART * 4 + 8];
                rw_str s = {nm, 0, sizeof nm, false};
                rw_str_quote(&s, name.p, (size_t)(name.end - name.p));
                rw_render_wire_series(ts, rendered, sizeof rendered);
                rw_err(err, errlen,
                       "series %s: value of label %s is %zu bytes, over the limit of %zu bytes",
                       rendered, nm, len, lim->max_label_value);
                return SONDE_ERR_LIMIT;
            }
        }
    }
    return SONDE_OK;
}

static sonde_status rw_prescan(const uint8_t *buf, size_t len, const rw_limits *lim, char *err,
                               size_t errlen)
{
    rw_wire w = {buf, buf + len}, ts;
    uint32_t f, wt;
    size_t nseries = 0;
    while (w.p < w.end) {
        if (!rw_wire_field(&w, &f, &wt, &ts)) {
            rw_err(err, errlen, "protobuf: malformed WriteRequest at byte %zu",
                   (size_t)(w.p - buf));
            return SONDE_ERR_INVALID;
        }
        if (f != 1 || wt != 2)
            continue;
        if (++nseries > lim->max_series) {
            rw_err(err, errlen, "request has more than %zu series (limit)", lim->max_series);
            return SONDE_ERR_LIMIT;
        }
        sonde_status st = rw_prescan_series(ts, nseries - 1, lim, err, errlen);
        if (st != SONDE_OK)
            return st;
    }
    return SONDE_OK;
}

/* ---- protobuf-c allocator over the arena ---- */

/* ---- validation and conversion ---- */

static int rw_name_cmp(const sonde_label *a, const sonde_label *b)
{
    size_t m = a->name_len < b->name_len ? a->name_len : b->name_len;
    int c = m ? memcmp(a->name, b->name, m) : 0;
    if (c)
        return c;
    return (a->name_len > b->name_len) - (a->name_len < b->name_len);
}

/* An arena allocation returned NULL: the arena cap (LIMIT, the message names
 * the cap) or malloc (NOMEM). what: which part of the request. */
static sonde_status rw_alloc_failed(const arena *a, char *err, size_t errlen, const char *what)
{
    if (arena_cap_hit(a)) {
        rw_err(err, errlen, "%s: request exceeds the decode memory cap of %zu bytes", what,
               arena_cap(a));
        return SONDE_ERR_LIMIT;
    }
    rw_err(err, errlen, "%s: out of memory decoding the request", what);
    return SONDE_ERR_NOMEM;
}

static sonde_status rw_series_convert(arena *a, const Prometheus__TimeSeries *ts, size_t idx,
                                      sonde_series *out, bool *sorted, char *err, size_t errlen)
{
    char rendered[RW_RENDER_MAX + 8];
    char nm[RW_RENDER_PART * 4 + 8];
    size_t n = ts->n_labels;
    sonde_label *ls = arena_alloc(a, n * sizeof(*ls));
    if (!ls && n) {
        char what[48];
        snprintf(what, sizeof what, "series %zu", idx);
        return rw_alloc_failed(a, err, errlen, what);
    }
    for (size_t i = 0; i < n; i++) {
        const Prometheus__Label *l = ts->labels[i];
        const char *fmt = NULL;
        if (l->name.len == 0)
            fmt = "invalid series %s: label name is empty%s";
        else if (!utf8_valid((const char *)l->name.data, l->name.len))
            fmt = "invalid series %s: label name %s is not valid UTF-8";
        else if (!utf8_valid((const char *)l->value.data, l->value.len))
            fmt = "invalid series %s: value of label %s is not valid UTF-8";
        if (fmt) {
            rw_str s = {nm, 0, sizeof nm, false};
            nm[0] = '\0';
            if (l->name.len)
                rw_str_quote(&s, l->name.data, l->name.len);
            rw_render_series(ts, rendered, sizeof rendered);
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
            rw_err(err, errlen, fmt, rendered, nm);
#pragma GCC diagnostic pop
            return SONDE_ERR_INVALID;
        }
        ls[i].name = (const char *)l->name.data;
        ls[i].name_len = (uint32_t)l->name.len; /* <= UINT32_MAX: pre-scan */
        ls[i].value = l->value.len ? (const char *)l->value.data : "";
        ls[i].value_len = (uint32_t)l->value.len;
    }
    *sorted = false;
    for (size_t i = 1; i < n; i++) {
        if (rw_name_cmp(&ls[i - 1], &ls[i]) > 0) {
            series_labels_sort(ls, (uint32_t)n);
            *sorted = true;
            break;
        }
    }
    for (size_t i = 1; i < n; i++) {
        if (rw_name_cmp(&ls[i - 1], &ls[i]) == 0) {
            rw_str s = {nm, 0, sizeof nm, false};
            rw_str_quote(&s, (const uint8_t *)ls[i].name, ls[i].name_len);
            rw_render_series(ts, rendered, sizeof rendered);
            rw_err(err, errlen, "invalid series %s: duplicate label name %s", rendered, nm);
            return SONDE_ERR_INVALID;
        }
    }
    size_t k = 0;
    bool has_name = false;
    for (size_t i = 0; i < n; i++) {
        if (ls[i].value_len == 0)
            continue; /* empty value == absent */
        if (ls[i].name_len == 8 && memcmp(ls[i].name, "__name__", 8) == 0)
            has_name = true;
        ls[k++] = ls[i];
    }
    if (!has_name) {
        rw_render_series(ts, rendered, sizeof rendered);
        rw_err(err, errlen, "invalid series %s: missing metric name (label __name__)", rendered);
        return SONDE_ERR_INVALID;
    }
    if (ts->n_samples > UINT32_MAX) {
        rw_err(err, errlen, "series %zu has too many samples", idx);
        return SONDE_ERR_LIMIT;
    }
    sonde_sample *ss = NULL;
    if (ts->n_samples) {
        ss = arena_alloc(a, ts->n_samples * sizeof(*ss));
        if (!ss) {
            char what[48];
            snprintf(what, sizeof what, "series %zu", idx);
            return rw_alloc_failed(a, err, errlen, what);
        }
    }
    for (size_t i = 0; i < ts->n_samples; i++) {
        ss[i].ts_ms = ts->samples[i]->timestamp;
        /* bit copy: the stale marker is one NaN payload among many */
        memcpy(&ss[i].value, &ts->samples[i]->value, sizeof(double));
    }
    out->labels = ls;
    out->nlabels = (uint32_t)k;
    out->samples = ss;
    out->nsamples = (uint32_t)ts->n_samples;
    out->hash = series_labels_hash(ls, (uint32_t)k);
    return SONDE_OK;
}

static void rw_metadata_convert(arena *a, const Prometheus__WriteRequest *req, rw_result *out)
{
    if (req->n_metadata == 0)
        return;
    rw_metadata *md = arena_alloc(a, req->n_metadata * sizeof(*md));
    if (!md)
        return; /* metadata is best-effort; samples matter */
    size_t k = 0;
    for (size_t i = 0; i < req->n_metadata; i++) {
        const Prometheus__MetricMetadata *m = req->metadata[i];
        if (m->metric_family_name.len == 0 ||
            !utf8_valid((const char *)m->metric_family_name.data, m->metric_family_name.len) ||
            !utf8_valid((const char *)m->help.data, m->help.len) ||
            !utf8_valid((const char *)m->unit.data, m->unit.len))
            continue;
        md[k].type = (int)m->type;
        md[k].family = (const char *)m->metric_family_name.data;
        md[k].family_len = m->metric_family_name.len;
        md[k].help = m->help.len ? (const char *)m->help.data : "";
        md[k].help_len = m->help.len;
        md[k].unit = m->unit.len ? (const char *)m->unit.data : "";
        md[k].unit_len = m->unit.len;
        k++;
    }
    out->metadata = md;
    out->nmetadata = k;
}

sonde_status rw_decode(arena *a, const uint8_t *body, size_t len, const rw_limits *limits,
                       rw_result *out, char *err, size_t errlen)
{
    rw_limits defaults;
    if (!limits) {
        rw_limits_defaults(&defaults);
        limits = &defaults;
    }
    memset(out, 0, sizeof(*out));
    if (err && errlen)
        err[0] = '\0';

    uint8_t *raw;
    size_t rawlen;
    sonde_status st = rw_snappy_decode(a, body, len, limits->max_decoded, &raw, &rawlen, err,
                                       errlen);
    if (st == SONDE_ERR_NOMEM) /* its buffer was refused: by the cap or by malloc */
        return rw_alloc_failed(a, err, errlen, "snappy");
    if (st != SONDE_OK)
        return st;
    st = rw_prescan(raw, rawlen, limits, err, errlen);
    if (st != SONDE_OK)
        return st;

    arena_bump actx;
    arena_bump_init(&actx, a);
    ProtobufCAllocator alloc = {arena_bump_alloc, arena_bump_free, &actx};
    Prometheus__WriteRequest *req = prometheus__write_request__unpack(&alloc, rawlen, raw);
    if (!req) {
        if (actx.refused) {
            char what[64];
            snprintf(what, sizeof what, "protobuf (%zu decoded bytes)", rawlen);
            return rw_alloc_failed(a, err, errlen, what);
        }
        rw_err(err, errlen, "protobuf: malformed WriteRequest");
        return SONDE_ERR_INVALID;
    }

    sonde_series *series = NULL;
    if (req->n_timeseries) {
        series = arena_alloc(a, req->n_timeseries * sizeof(*series));
        if (!series) {
            char what[48];
            snprintf(what, sizeof what, "%zu series", req->n_timeseries);
            return rw_alloc_failed(a, err, errlen, what);
        }
    }
    size_t k = 0;
    for (size_t i = 0; i < req->n_timeseries; i++) {
        const Prometheus__TimeSeries *ts = req->timeseries[i];
        bool sorted;
        st = rw_series_convert(a, ts, i, &series[k], &sorted, err, errlen);
        if (st != SONDE_OK)
            return st;
        out->nsorted += sorted;
        out->nhistograms += ts->n_histograms;
        out->nexemplars += ts->n_exemplars;
        if (series[k].nsamples) {
            out->nsamples += series[k].nsamples;
            k++;
        }
    }
    out->series = series;
    out->nseries = k;
    rw_metadata_convert(a, req, out);
    return SONDE_OK;
}
