/*
 * translate.c - otlp_metrics_translate: a decoded ExportMetricsServiceRequest
 * becomes canonical Prometheus series (core/series.h), as the OpenTelemetry
 * "Prometheus and OpenMetrics Compatibility" specification says and as
 * Prometheus 3's OTLP receiver (storage/remote/otlptranslator) does it with
 * its default settings.
 *
 * Thread: any (one call per request, on the thread that owns the arena).
 * Ownership: everything in the result lives in the caller's arena. A private
 * scratch arena holds each data point's transient strings and is reset after
 * every point; it is destroyed before returning. The request is only read.
 *
 * Design. A pre-pass bounds the number of samples the request can produce, so
 * the sample records, the series array and the open-addressing index over
 * label sets are allocated once. Each data point is translated as a unit:
 * its base labels are built (attributes, promoted resource attributes,
 * job/instance, scope labels), then every sample is emitted with __name__
 * (and le / quantile) added. A point that fails (bad shape, bad attribute
 * key, a label set that would mix delta and cumulative samples) is rolled
 * back - its samples and any series it created are removed - and counted in
 * rejected_points, with the first reason in msg. Series created after a mark
 * are exactly the ones removed, and with linear probing removing the newest
 * entries never breaks an older entry's probe path. Finally the samples are
 * grouped per series, sorted by timestamp (stable) and de-duplicated (the
 * last sample given for a timestamp wins).
 *
 * Label precedence (Prometheus createAttributes): data-point attributes
 * (sorted by original key; keys that sanitise to the same name have their
 * values joined with ';' in that order); promoted resource attributes where
 * the point has no such label; job and instance override; scope labels
 * (otel_scope_<attr>, then otel_scope_name / _version / _schema_url, which
 * win over an attribute of the same name) override; then __name__, le,
 * quantile. Empty values drop the label.
 *
 * Documented choices:
 *  - Start timestamps are not used: Prometheus 3 ignores them unless
 *    created-timestamp ingestion is enabled (off by default), so no synthetic
 *    zero samples are written. Counter resets are left to PromQL's reset
 *    detection on the values.
 *  - Delta sums and histograms are emitted as they are with delta[i] set
 *    (all of a histogram's series); the aggregator accumulates them.
 *  - target_info follows Prometheus: one sample at the earliest point time of
 *    the resource, then every 2.5 minutes (half the default lookback delta),
 *    and one at the latest. The in-between samples are capped at
 *    TARGET_INFO_MAX_STEPS so that a request with a far-past point cannot
 *    fan out into millions of samples.
 *  - Points Prometheus accepts but whose buckets cannot mean anything
 *    (bucket_counts length != explicit_bounds + 1, bounds not strictly
 *    ascending and finite, exponential scale outside [-4, 20]) are rejected.
 *  - An invalid promoted attribute key drops that attribute (Prometheus fails
 *    the whole resource).
 *  - Label names follow the specification: each invalid rune becomes '_'
 *    and runs of '_' collapse to one (a MUST there; Prometheus 3 keeps runs
 *    by default), "_x" stays "_x" (valid by the specification's regex;
 *    Prometheus makes it "key_x"), and a leading digit gets "key_" (the
 *    specification only says the name must not start with one). Metric
 *    names always collapse, as both say.
 *  - Unit "1" becomes the "ratio" suffix for every type, so a counter with
 *    unit "1" is x_ratio_total (the specification; Prometheus does it for
 *    gauges only). No {name}_created series: a start time newer than the
 *    series' last sample is stored as a 0 sample instead (storage.h,
 *    storage_series_meta), which is what Prometheus does with created
 *    timestamps.
 *  - Scope labels are on (the specification's MUST; Prometheus 3 has them
 *    behind promote_scope_metadata, off by default), and only for a scope
 *    with a name, as Prometheus does.
 *  - In NoTranslation mode (cfg->keep_names) an empty or all-underscore
 *    attribute key still rejects its point: a canonical label set has no
 *    empty names (Prometheus would pass them through there).
 *  - Non-finite doubles in attribute values are written "NaN", "Infinity",
 *    "-Infinity" as the specification says (pdata writes an error text).
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "../../core/sort.h"
#include "otlp.h"
#include "otlp_metrics_service.pb-c.h"
#include "translate_internal.h"

typedef Opentelemetry__Proto__Collector__Metrics__V1__ExportMetricsServiceRequest pb_request;
typedef Opentelemetry__Proto__Metrics__V1__ResourceMetrics pb_resource_metrics;
typedef Opentelemetry__Proto__Metrics__V1__ScopeMetrics pb_scope_metrics;
typedef Opentelemetry__Proto__Metrics__V1__Metric pb_metric;
typedef Opentelemetry__Proto__Metrics__V1__NumberDataPoint pb_number_point;
typedef Opentelemetry__Proto__Metrics__V1__HistogramDataPoint pb_hist_point;
typedef Opentelemetry__Proto__Metrics__V1__ExponentialHistogramDataPoint pb_exp_point;
typedef Opentelemetry__Proto__Metrics__V1__SummaryDataPoint pb_summary_point;
typedef Opentelemetry__Proto__Common__V1__KeyValue pb_kv;
typedef Opentelemetry__Proto__Common__V1__AnyValue pb_any;

#define NO_RECORDED_VALUE                                                                          \
    OPENTELEMETRY__PROTO__METRICS__V1__DATA_POINT_FLAGS__DATA_POINT_FLAGS_NO_RECORDED_VALUE_MASK
#define TEMPORALITY_DELTA                                                                          \
    OPENTELEMETRY__PROTO__METRICS__V1__AGGREGATION_TEMPORALITY__AGGREGATION_TEMPORALITY_DELTA
#define TEMPORALITY_CUMULATIVE                                                                     \
    OPENTELEMETRY__PROTO__METRICS__V1__AGGREGATION_TEMPORALITY__AGGREGATION_TEMPORALITY_CUMULATIVE

/* target_info: step between samples (ns) and the cap on in-between samples. */
#define TARGET_INFO_STEP_NS 150000000000ULL
#define TARGET_INFO_MAX_STEPS 64
/* Per data point transient strings (stringified attributes). */
#define SCRATCH_BLOCK (64u << 10)
#define SCRATCH_CAP ((size_t)64 << 20)
#define STRBUF_MAX ((size_t)64 << 20)

enum { KV_ATTR, KV_IF_EMPTY, KV_SET };

typedef struct tr_kv {
    const char *name;
    const char *value;
    size_t nlen, vlen;
    int kind;
} tr_kv;

typedef struct tr_rec {
    uint32_t sid;
    int64_t ts;
    double v;
    int64_t start; /* the point's start time (ms), 0 when none */
} tr_rec;

typedef struct tr_mark {
    size_t nrec, nseries;
} tr_mark;

typedef struct tr {
    arena *a;       /* results (the caller's) */
    arena *scratch; /* one data point's strings */
    otlp_translate_result *out;
    const otlp_translate_config *cfg;
    otlp_tr_label_opts lopts;
    buf sb;
    char err[200];
    const char *metric; /* original name, for messages */

    /* resource and scope context (strings in the result arena) */
    const char *job, *instance;
    tr_kv *promoted;
    size_t npromoted;
    tr_kv *scope;
    size_t nscope;

    /* current data point */
    sonde_label *base, *lbuf;
    uint32_t nbase;
    bool delta;
    int64_t start;    /* start time of a cumulative counter-like point (ms), else 0 */
    bool any_start;   /* some record has a start time */

    /* output */
    sonde_series *series;
    bool *sdelta;
    uint32_t *sslot;
    size_t nseries, series_cap;
    uint32_t *table;
    size_t tmask;
    tr_rec *rec;
    size_t nrec, rec_cap;
} tr;

static double stale_nan(void)
{
    uint64_t bits = SONDE_STALE_NAN_BITS;
    double d;
    memcpy(&d, &bits, sizeof d);
    return d;
}

static int64_t ns_to_ms(uint64_t ns)
{
    return (int64_t)ns / 1000000; /* Prometheus: int64(ts) / 1e6 */
}

static sonde_status fail(tr *t, const char *fmt, const char *arg)
{
    snprintf(t->err, sizeof t->err, fmt, arg);
    return SONDE_ERR_INVALID;
}

/* Copies n bytes into dst; NULL is a cap: LIMIT for scratch, NOMEM otherwise. */
static sonde_status dup_to(tr *t, arena *dst, const char *s, size_t n, const char **out)
{
    char *p = arena_strndup(dst, s, n);
    if (!p) {
        if (dst == t->scratch)
            snprintf(t->err, sizeof t->err, "data point attributes exceed %zu MiB",
                     SCRATCH_CAP >> 20);
        return dst == t->scratch ? SONDE_ERR_LIMIT : SONDE_ERR_NOMEM;
    }
    *out = p;
    return SONDE_OK;
}

static sonde_status value_str(tr *t, arena *dst, const pb_any *v, const char **out, size_t *len)
{
    if (v && v->value_case == OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_STRING_VALUE) {
        *out = v->string_value ? v->string_value : "";
        *len = strlen(*out);
        if (dst == t->scratch)
            return SONDE_OK; /* the request outlives the point */
        return dup_to(t, dst, *out, *len, out);
    }
    buf_reset(&t->sb);
    sonde_status st = otlp_tr_value_str(&t->sb, v);
    if (st != SONDE_OK) {
        snprintf(t->err, sizeof t->err, "attribute value too large");
        return st == SONDE_ERR_NOMEM ? st : SONDE_ERR_LIMIT;
    }
    *len = t->sb.len;
    return dup_to(t, dst, t->sb.len ? t->sb.data : "", t->sb.len, out);
}

static bool fast_label(const char *k, size_t n, const otlp_tr_label_opts *o)
{
    if (n == 0)
        return false;
    if (o->keep) {
        for (size_t i = 0; i < n; i++)
            if (k[i] != '_')
                return true;
        return false;
    }
    char c = k[0];
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')))
        return false;
    for (size_t i = 1; i < n; i++) {
        c = k[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_'))
            return false;
        if (!o->preserve_underscores && c == '_' && k[i - 1] == '_')
            return false;
    }
    return true;
}

static sonde_status label_name(tr *t, arena *dst, const char *prefix, const char *key,
                               const char **out, size_t *len)
{
    size_t n = strlen(key);
    if (!prefix && fast_label(key, n, &t->lopts)) {
        *out = key;
        *len = n;
        if (dst == t->scratch)
            return SONDE_OK;
        return dup_to(t, dst, key, n, out);
    }
    const char *k = key;
    if (prefix) {
        buf_reset(&t->sb);
        if (buf_puts(&t->sb, prefix) != SONDE_OK || buf_append(&t->sb, key, n) != SONDE_OK)
            return SONDE_ERR_LIMIT;
        sonde_status st = dup_to(t, t->scratch, t->sb.data, t->sb.len, &k);
        if (st != SONDE_OK)
            return st;
        n = strlen(k);
    }
    buf_reset(&t->sb);
    char e[128];
    sonde_status st = otlp_tr_label_name(&t->sb, k, n, &t->lopts, e, sizeof e);
    if (st == SONDE_ERR_INVALID)
        return fail(t, "%s", e);
    if (st != SONDE_OK)
        return st == SONDE_ERR_NOMEM ? st : SONDE_ERR_LIMIT;
    *len = t->sb.len;
    return dup_to(t, dst, t->sb.data, t->sb.len, out);
}

/* ---- stable sort of tr_kv by name ---- */

static int kv_cmp(const tr_kv *a, const tr_kv *b)
{
    size_t n = a->nlen < b->nlen ? a->nlen : b->nlen;
    int c = memcmp(a->name, b->name, n);
    if (c)
        return c;
    return a->nlen < b->nlen ? -1 : a->nlen > b->nlen;
}

static int kv_cmp_any(const void *a, const void *b)
{
    return kv_cmp(a, b);
}

static sonde_status kv_sort(tr *t, tr_kv *a, size_t n)
{
    if (n < 2)
        return SONDE_OK;
    tr_kv *tmp = arena_alloc(t->scratch, n * sizeof *tmp);
    if (!tmp)
        return SONDE_ERR_LIMIT;
    sort_stable(a, n, sizeof *a, kv_cmp_any, tmp);
    return SONDE_OK;
}

/* ---- label sets ---- */

static bool is_identifying(const char *k)
{
    return strcmp(k, "service.name") == 0 || strcmp(k, "service.namespace") == 0 ||
           strcmp(k, "service.instance.id") == 0;
}

/* Builds t->base (sorted, unique, no empty values) for one data point, or
 * for target_info (resource attributes less the identifying ones, no
 * promoted or scope labels). Strings live in the scratch arena or the
 * request. */
static sonde_status build_base(tr *t, pb_kv *const *attrs, size_t n, bool target_info)
{
    size_t extra = 2 + (target_info ? 0 : t->npromoted + t->nscope);
    tr_kv *kv = arena_alloc(t->scratch, (n + extra) * sizeof *kv);
    if (!kv)
        return SONDE_ERR_LIMIT;
    size_t k = 0;
    sonde_status st;
    for (size_t i = 0; i < n; i++) {
        const char *key = attrs[i] && attrs[i]->key ? attrs[i]->key : "";
        if (target_info ? is_identifying(key) : strcmp(key, "__name__") == 0)
            continue;
        kv[k].name = key;
        kv[k].nlen = strlen(key);
        kv[k].kind = KV_ATTR;
        st = value_str(t, t->scratch, attrs[i] ? attrs[i]->value : NULL, &kv[k].value, &kv[k].vlen);
        if (st != SONDE_OK)
            return st;
        k++;
    }
    /* Sort by original key, sanitise, then a stable sort by the sanitised
     * name keeps the original-key order inside each colliding group. */
    if ((st = kv_sort(t, kv, k)) != SONDE_OK)
        return st;
    for (size_t i = 0; i < k; i++) {
        st = label_name(t, t->scratch, NULL, kv[i].name, &kv[i].name, &kv[i].nlen);
        if (st != SONDE_OK)
            return st;
    }
    if ((st = kv_sort(t, kv, k)) != SONDE_OK)
        return st;
    size_t w = 0;
    for (size_t i = 0; i < k;) {
        size_t j = i + 1;
        while (j < k && kv_cmp(&kv[i], &kv[j]) == 0)
            j++;
        tr_kv acc = kv[i];
        if (j > i + 1) {
            /* Prometheus: an existing non-empty value gets ";" + the next. */
            size_t total = 0;
            for (size_t x = i; x < j; x++)
                total += kv[x].vlen + 1;
            char *v = arena_alloc(t->scratch, total + 1);
            if (!v)
                return SONDE_ERR_LIMIT;
            size_t len = 0;
            for (size_t x = i; x < j; x++) {
                if (len)
                    v[len++] = ';';
                memcpy(v + len, kv[x].value, kv[x].vlen);
                len += kv[x].vlen;
            }
            v[len] = '\0';
            acc.value = v;
            acc.vlen = len;
        }
        kv[w++] = acc;
        i = j;
    }
    k = w;
    if (!target_info)
        for (size_t i = 0; i < t->npromoted; i++)
            kv[k++] = t->promoted[i];
    if (t->job)
        kv[k++] = (tr_kv){"job", t->job, 3, strlen(t->job), KV_SET};
    if (t->instance)
        kv[k++] = (tr_kv){"instance", t->instance, 8, strlen(t->instance), KV_SET};
    if (!target_info)
        for (size_t i = 0; i < t->nscope; i++)
            kv[k++] = t->scope[i];
    if ((st = kv_sort(t, kv, k)) != SONDE_OK)
        return st;

    t->base = arena_alloc(t->scratch, (k + 2) * sizeof *t->base);
    t->lbuf = arena_alloc(t->scratch, (k + 2) * sizeof *t->lbuf);
    if (!t->base || !t->lbuf)
        return SONDE_ERR_LIMIT;
    t->nbase = 0;
    for (size_t i = 0; i < k;) {
        size_t j = i;
        const char *v = "";
        size_t vlen = 0;
        for (; j < k && kv_cmp(&kv[i], &kv[j]) == 0; j++) {
            if (kv[j].kind == KV_IF_EMPTY && vlen)
                continue;
            v = kv[j].value;
            vlen = kv[j].vlen;
        }
        if (vlen)
            t->base[t->nbase++] =
                (sonde_label){kv[i].name, v, (uint32_t)kv[i].nlen, (uint32_t)vlen};
        i = j;
    }
    return SONDE_OK;
}

static bool labels_equal(const sonde_label *a, const sonde_label *b, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++)
        if (a[i].name_len != b[i].name_len || a[i].value_len != b[i].value_len ||
            memcmp(a[i].name, b[i].name, a[i].name_len) != 0 ||
            memcmp(a[i].value, b[i].value, a[i].value_len) != 0)
            return false;
    return true;
}

static sonde_status copy_labels(tr *t, const sonde_label *l, uint32_t n, sonde_label **out)
{
    size_t bytes = n * sizeof(sonde_label);
    for (uint32_t i = 0; i < n; i++)
        bytes += (size_t)l[i].name_len + l[i].value_len + 2;
    sonde_label *c = arena_alloc(t->a, bytes);
    if (!c)
        return SONDE_ERR_NOMEM;
    char *s = (char *)(c + n);
    for (uint32_t i = 0; i < n; i++) {
        c[i] = l[i];
        memcpy(s, l[i].name, l[i].name_len);
        s[l[i].name_len] = '\0';
        c[i].name = s;
        s += l[i].name_len + 1;
        memcpy(s, l[i].value, l[i].value_len);
        s[l[i].value_len] = '\0';
        c[i].value = s;
        s += l[i].value_len + 1;
    }
    *out = c;
    return SONDE_OK;
}

/* One sample of the current point: base labels + __name__ (+ xname=xval). */
static sonde_status emit(tr *t, const char *name, const char *xname, const char *xval, int64_t ts,
                         double v)
{
    size_t xnlen = xname ? strlen(xname) : 0;
    uint32_t n = 0;
    for (uint32_t i = 0; i < t->nbase; i++) {
        const sonde_label *l = &t->base[i];
        if ((l->name_len == 8 && memcmp(l->name, "__name__", 8) == 0) ||
            (xname && l->name_len == xnlen && memcmp(l->name, xname, xnlen) == 0))
            continue;
        t->lbuf[n++] = *l;
    }
    t->lbuf[n++] = (sonde_label){"__name__", name, 8, (uint32_t)strlen(name)};
    if (xname && xval && *xval)
        t->lbuf[n++] = (sonde_label){xname, xval, (uint32_t)xnlen, (uint32_t)strlen(xval)};
    series_labels_sort(t->lbuf, n);
    uint64_t h = series_labels_hash(t->lbuf, n);

    size_t slot = (size_t)h & t->tmask;
    uint32_t sid = UINT32_MAX;
    while (t->table[slot]) {
        uint32_t c = t->table[slot] - 1;
        if (t->series[c].hash == h && t->series[c].nlabels == n &&
            labels_equal(t->series[c].labels, t->lbuf, n)) {
            sid = c;
            break;
        }
        slot = (slot + 1) & t->tmask;
    }
    if (sid == UINT32_MAX) {
        if (t->nseries >= t->series_cap)
            return SONDE_ERR_INTERNAL;
        sid = (uint32_t)t->nseries;
        sonde_series *s = &t->series[sid];
        sonde_status st = copy_labels(t, t->lbuf, n, &s->labels);
        if (st != SONDE_OK)
            return st;
        s->nlabels = n;
        s->hash = h;
        s->nsamples = 0;
        s->samples = NULL;
        t->sdelta[sid] = t->delta;
        t->sslot[sid] = (uint32_t)slot;
        t->table[slot] = sid + 1;
        t->nseries++;
    } else if (t->sdelta[sid] != t->delta) {
        return fail(t, "series %s gets both delta and cumulative points", name);
    }
    if (t->nrec >= t->rec_cap)
        return SONDE_ERR_INTERNAL;
    t->rec[t->nrec++] = (tr_rec){sid, ts, v, t->start};
    t->any_start |= t->start != 0;
    return SONDE_OK;
}

static tr_mark mark(const tr *t)
{
    return (tr_mark){t->nrec, t->nseries};
}

static void rollback(tr *t, tr_mark m)
{
    for (size_t i = m.nseries; i < t->nseries; i++)
        t->table[t->sslot[i]] = 0;
    t->nseries = m.nseries;
    t->nrec = m.nrec;
}

static void reject(tr *t, size_t npoints, const char *why)
{
    if (t->out->rejected_points == 0)
        snprintf(t->out->msg, sizeof t->out->msg, "metric \"%.80s\": %s",
                 t->metric ? t->metric : "", why);
    t->out->rejected_points += npoints;
}

/* Ends a data point: keeps it, or rolls it back and counts it rejected.
 * Only running out of the result arena (or a bug) stops the translation. */
static sonde_status point_end(tr *t, tr_mark m, sonde_status st)
{
    arena_reset(t->scratch);
    t->base = t->lbuf = NULL;
    t->nbase = 0;
    if (st == SONDE_OK)
        return SONDE_OK;
    rollback(t, m);
    if (st == SONDE_ERR_NOMEM || st == SONDE_ERR_INTERNAL)
        return st;
    if (st != SONDE_ERR_INVALID && !t->err[0])
        snprintf(t->err, sizeof t->err, "%s", sonde_status_name(st));
    reject(t, 1, t->err);
    t->err[0] = '\0';
    return SONDE_OK;
}

/* "le" / "quantile" values: strconv.FormatFloat(v, 'f', -1, 64). */
static sonde_status fmt_float(tr *t, double v, const char **out)
{
    buf_reset(&t->sb);
    if (buf_prom_float(&t->sb, v) != SONDE_OK)
        return SONDE_ERR_LIMIT;
    return dup_to(t, t->scratch, t->sb.data, t->sb.len, out);
}

/* ---- data points ---- */

typedef struct tr_names {
    const char *name, *bucket, *sum, *count;
} tr_names;

static sonde_status number_point(tr *t, const tr_names *nm, const pb_number_point *p)
{
    sonde_status st = build_base(t, p->attributes, p->n_attributes, false);
    if (st != SONDE_OK)
        return st;
    double v = 0;
    if (p->value_case == OPENTELEMETRY__PROTO__METRICS__V1__NUMBER_DATA_POINT__VALUE_AS_DOUBLE)
        v = p->as_double;
    else if (p->value_case == OPENTELEMETRY__PROTO__METRICS__V1__NUMBER_DATA_POINT__VALUE_AS_INT)
        v = (double)p->as_int;
    if (p->flags & NO_RECORDED_VALUE)
        v = stale_nan();
    return emit(t, nm->name, NULL, NULL, ns_to_ms(p->time_unix_nano), v);
}

static sonde_status hist_point(tr *t, const tr_names *nm, const pb_hist_point *p)
{
    size_t nb = p->n_explicit_bounds, nc = p->n_bucket_counts;
    if (!(nc == nb + 1 || (nc == 0 && nb == 0))) {
        snprintf(t->err, sizeof t->err,
                 "histogram has %zu bucket_counts for %zu explicit_bounds (want bounds + 1)", nc,
                 nb);
        return SONDE_ERR_INVALID;
    }
    for (size_t i = 0; i < nb; i++)
        if (!isfinite(p->explicit_bounds[i]) ||
            (i > 0 && !(p->explicit_bounds[i] > p->explicit_bounds[i - 1]))) {
            snprintf(t->err, sizeof t->err,
                     "histogram explicit_bounds are not finite and strictly increasing");
            return SONDE_ERR_INVALID;
        }
    sonde_status st = build_base(t, p->attributes, p->n_attributes, false);
    if (st != SONDE_OK)
        return st;
    bool stale = p->flags & NO_RECORDED_VALUE;
    double sn = stale_nan();
    int64_t ts = ns_to_ms(p->time_unix_nano);
    if (p->sum_present_case ==
            OPENTELEMETRY__PROTO__METRICS__V1__HISTOGRAM_DATA_POINT__SUM_PRESENT_SUM &&
        (st = emit(t, nm->sum, NULL, NULL, ts, stale ? sn : p->sum)) != SONDE_OK)
        return st;
    if ((st = emit(t, nm->count, NULL, NULL, ts, stale ? sn : (double)p->count)) != SONDE_OK)
        return st;
    uint64_t cum = 0;
    for (size_t i = 0; i < nb; i++) {
        cum += p->bucket_counts[i];
        const char *le;
        if ((st = fmt_float(t, p->explicit_bounds[i], &le)) != SONDE_OK)
            return st;
        if ((st = emit(t, nm->bucket, "le", le, ts, stale ? sn : (double)cum)) != SONDE_OK)
            return st;
    }
    return emit(t, nm->bucket, "le", "+Inf", ts, stale ? sn : (double)p->count);
}

static sonde_status exp_point(tr *t, const tr_names *nm, const pb_exp_point *p)
{
    if (p->scale < -4 || p->scale > 20) {
        snprintf(t->err, sizeof t->err, "exponential histogram scale %d is outside [-4, 20]",
                 (int)p->scale);
        return SONDE_ERR_INVALID;
    }
    sonde_status st = build_base(t, p->attributes, p->n_attributes, false);
    if (st != SONDE_OK)
        return st;
    size_t npos = p->positive ? p->positive->n_bucket_counts : 0;
    size_t nneg = p->negative ? p->negative->n_bucket_counts : 0;
    otlp_tr_bucket *b = arena_alloc(t->scratch, (npos + nneg + 1) * sizeof *b);
    if (!b)
        return SONDE_ERR_LIMIT;
    int32_t used_scale;
    size_t nb = otlp_tr_exphist_buckets(
        p->scale, p->zero_threshold, p->zero_count, p->positive ? p->positive->offset : 0,
        p->positive ? p->positive->bucket_counts : NULL, npos,
        p->negative ? p->negative->offset : 0, p->negative ? p->negative->bucket_counts : NULL,
        nneg, b, &used_scale);
    bool stale = p->flags & NO_RECORDED_VALUE;
    double sn = stale_nan();
    int64_t ts = ns_to_ms(p->time_unix_nano);
    if (p->sum_present_case ==
            OPENTELEMETRY__PROTO__METRICS__V1__EXPONENTIAL_HISTOGRAM_DATA_POINT__SUM_PRESENT_SUM &&
        (st = emit(t, nm->sum, NULL, NULL, ts, stale ? sn : p->sum)) != SONDE_OK)
        return st;
    if ((st = emit(t, nm->count, NULL, NULL, ts, stale ? sn : (double)p->count)) != SONDE_OK)
        return st;
    for (size_t i = 0; i < nb; i++) {
        const char *le;
        if ((st = fmt_float(t, b[i].le, &le)) != SONDE_OK)
            return st;
        if ((st = emit(t, nm->bucket, "le", le, ts, stale ? sn : (double)b[i].count)) != SONDE_OK)
            return st;
    }
    return emit(t, nm->bucket, "le", "+Inf", ts, stale ? sn : (double)p->count);
}

static sonde_status summary_point(tr *t, const tr_names *nm, const pb_summary_point *p)
{
    sonde_status st = build_base(t, p->attributes, p->n_attributes, false);
    if (st != SONDE_OK)
        return st;
    bool stale = p->flags & NO_RECORDED_VALUE;
    double sn = stale_nan();
    int64_t ts = ns_to_ms(p->time_unix_nano);
    if ((st = emit(t, nm->sum, NULL, NULL, ts, stale ? sn : p->sum)) != SONDE_OK)
        return st;
    if ((st = emit(t, nm->count, NULL, NULL, ts, stale ? sn : (double)p->count)) != SONDE_OK)
        return st;
    for (size_t i = 0; i < p->n_quantile_values; i++) {
        const Opentelemetry__Proto__Metrics__V1__SummaryDataPoint__ValueAtQuantile *q =
            p->quantile_values[i];
        if (!q)
            continue;
        const char *qs;
        if ((st = fmt_float(t, q->quantile, &qs)) != SONDE_OK)
            return st;
        if ((st = emit(t, nm->name, "quantile", qs, ts, stale ? sn : q->value)) != SONDE_OK)
            return st;
    }
    return SONDE_OK;
}

/* ---- metrics ---- */

typedef struct metric_view {
    otlp_tr_kind kind;
    size_t npoints;
    int temporality; /* -1: the type has none */
    const pb_metric *m;
} metric_view;

static bool metric_view_of(const pb_metric *m, metric_view *v)
{
    v->temporality = -1;
    v->m = m;
    switch (m->data_case) {
    case OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_GAUGE:
        if (!m->gauge)
            return false;
        v->kind = OTLP_TR_GAUGE;
        v->npoints = m->gauge->n_data_points;
        return true;
    case OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_SUM:
        if (!m->sum)
            return false;
        v->kind = m->sum->is_monotonic ? OTLP_TR_COUNTER : OTLP_TR_UPDOWN;
        v->npoints = m->sum->n_data_points;
        v->temporality = (int)m->sum->aggregation_temporality;
        return true;
    case OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_HISTOGRAM:
        if (!m->histogram)
            return false;
        v->kind = OTLP_TR_HISTOGRAM;
        v->npoints = m->histogram->n_data_points;
        v->temporality = (int)m->histogram->aggregation_temporality;
        return true;
    case OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_EXPONENTIAL_HISTOGRAM:
        if (!m->exponential_histogram)
            return false;
        v->kind = OTLP_TR_EXPHIST;
        v->npoints = m->exponential_histogram->n_data_points;
        v->temporality = (int)m->exponential_histogram->aggregation_temporality;
        return true;
    case OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_SUMMARY:
        if (!m->summary)
            return false;
        v->kind = OTLP_TR_SUMMARY;
        v->npoints = m->summary->n_data_points;
        return true;
    default:
        return false;
    }
}

static const void *view_point(const metric_view *v, size_t i)
{
    switch (v->m->data_case) {
    case OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_GAUGE:
        return v->m->gauge->data_points[i];
    case OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_SUM:
        return v->m->sum->data_points[i];
    case OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_HISTOGRAM:
        return v->m->histogram->data_points[i];
    case OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_EXPONENTIAL_HISTOGRAM:
        return v->m->exponential_histogram->data_points[i];
    case OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_SUMMARY:
        return v->m->summary->data_points[i];
    default:
        return NULL;
    }
}

/* The fields every point type has, read from whichever type p is. start
 * is that of counter-like points (monotonic sums, histograms, summaries):
 * where a cumulative stream (re)started; 0 for gauges and up-down sums. */
typedef struct point_info {
    uint64_t time, start;
    size_t exemplars;
} point_info;

static point_info point_of(otlp_tr_kind k, const void *p)
{
    switch (k) {
    case OTLP_TR_GAUGE:
    case OTLP_TR_UPDOWN: {
        const pb_number_point *n = p;
        return (point_info){n->time_unix_nano, 0, n->n_exemplars};
    }
    case OTLP_TR_COUNTER: {
        const pb_number_point *n = p;
        return (point_info){n->time_unix_nano, n->start_time_unix_nano, n->n_exemplars};
    }
    case OTLP_TR_HISTOGRAM: {
        const pb_hist_point *h = p;
        return (point_info){h->time_unix_nano, h->start_time_unix_nano, h->n_exemplars};
    }
    case OTLP_TR_EXPHIST: {
        const pb_exp_point *e = p;
        return (point_info){e->time_unix_nano, e->start_time_unix_nano, e->n_exemplars};
    }
    case OTLP_TR_SUMMARY: {
        const pb_summary_point *q = p;
        return (point_info){q->time_unix_nano, q->start_time_unix_nano, 0};
    }
    }
    return (point_info){0, 0, 0};
}

static sonde_status metric_names(tr *t, const pb_metric *m, otlp_tr_kind kind, tr_names *nm)
{
    buf_reset(&t->sb);
    char e[160];
    sonde_status st = otlp_tr_metric_name(&t->sb, m->name, m->unit, kind,
                                          t->cfg && t->cfg->keep_names, e, sizeof e);
    if (st == SONDE_ERR_INVALID)
        return fail(t, "%s", e);
    if (st != SONDE_OK)
        return st == SONDE_ERR_NOMEM ? st : SONDE_ERR_LIMIT;
    size_t n = t->sb.len;
    char *s = arena_alloc(t->a, 4 * n + 32);
    if (!s)
        return SONDE_ERR_NOMEM;
    const char *suffix[4] = {"", "_bucket", "_sum", "_count"};
    const char **dst[4] = {&nm->name, &nm->bucket, &nm->sum, &nm->count};
    for (int i = 0; i < 4; i++) {
        size_t sl = strlen(suffix[i]);
        memcpy(s, t->sb.data, n);
        memcpy(s + n, suffix[i], sl + 1);
        *dst[i] = s;
        s += n + sl + 1;
    }
    return SONDE_OK;
}

static sonde_status do_metric(tr *t, const pb_metric *m, uint64_t *lo, uint64_t *hi)
{
    metric_view v;
    if (!m || !metric_view_of(m, &v))
        return SONDE_OK; /* no data: nothing to translate */
    t->metric = m->name;
    for (size_t i = 0; i < v.npoints; i++) {
        const void *p = view_point(&v, i);
        if (!p)
            continue;
        uint64_t ts = point_of(v.kind, p).time;
        *lo = ts < *lo ? ts : *lo;
        *hi = ts > *hi ? ts : *hi;
    }
    if (v.npoints == 0)
        return SONDE_OK;
    if (v.temporality >= 0 && v.temporality != TEMPORALITY_DELTA &&
        v.temporality != TEMPORALITY_CUMULATIVE) {
        reject(t, v.npoints, "invalid aggregation temporality (neither delta nor cumulative)");
        return SONDE_OK;
    }
    tr_names nm;
    sonde_status st = metric_names(t, m, v.kind, &nm);
    if (st == SONDE_ERR_NOMEM)
        return st;
    if (st != SONDE_OK) {
        reject(t, v.npoints, t->err[0] ? t->err : "metric name too long");
        t->err[0] = '\0';
        return SONDE_OK;
    }
    t->delta = v.temporality == TEMPORALITY_DELTA;
    for (size_t i = 0; i < v.npoints; i++) {
        const void *p = view_point(&v, i);
        if (!p)
            continue;
        tr_mark mk = mark(t);
        point_info pi = point_of(v.kind, p);
        uint64_t start = t->delta ? 0 : pi.start;
        t->start = start && start < pi.time ? ns_to_ms(start) : 0;
        switch (v.kind) {
        case OTLP_TR_GAUGE:
        case OTLP_TR_COUNTER:
        case OTLP_TR_UPDOWN:
            st = number_point(t, &nm, p);
            break;
        case OTLP_TR_HISTOGRAM:
            st = hist_point(t, &nm, p);
            break;
        case OTLP_TR_EXPHIST:
            st = exp_point(t, &nm, p);
            break;
        case OTLP_TR_SUMMARY:
            st = summary_point(t, &nm, p);
            break;
        }
        if (st == SONDE_OK)
            t->out->exemplars_dropped += pi.exemplars;
        if ((st = point_end(t, mk, st)) != SONDE_OK)
            return st;
    }
    t->delta = false;
    t->start = 0;
    return SONDE_OK;
}

/* ---- resources and scopes ---- */

static const pb_kv *attr_get(pb_kv *const *attrs, size_t n, const char *key)
{
    for (size_t i = 0; i < n; i++)
        if (attrs[i] && attrs[i]->key && strcmp(attrs[i]->key, key) == 0)
            return attrs[i];
    return NULL;
}

static sonde_status resource_begin(tr *t, const pb_resource_metrics *rm)
{
    pb_kv *const *attrs = rm->resource ? rm->resource->attributes : NULL;
    size_t n = rm->resource ? rm->resource->n_attributes : 0;
    t->job = t->instance = NULL;
    t->promoted = NULL;
    t->npromoted = 0;
    t->nscope = 0;
    sonde_status st;
    const pb_kv *name = attr_get(attrs, n, "service.name");
    if (name) {
        const char *nv, *nsv = NULL;
        size_t nl, nsl = 0;
        if ((st = value_str(t, t->scratch, name->value, &nv, &nl)) != SONDE_OK)
            return st;
        const pb_kv *ns = attr_get(attrs, n, "service.namespace");
        if (ns && (st = value_str(t, t->scratch, ns->value, &nsv, &nsl)) != SONDE_OK)
            return st;
        buf_reset(&t->sb);
        if (nsv && (buf_append(&t->sb, nsv, nsl) != SONDE_OK || buf_putc(&t->sb, '/') != SONDE_OK))
            return SONDE_ERR_LIMIT;
        if (buf_append(&t->sb, nv, nl) != SONDE_OK)
            return SONDE_ERR_LIMIT;
        if (t->sb.len && (st = dup_to(t, t->a, t->sb.data, t->sb.len, &t->job)) != SONDE_OK)
            return st;
    }
    const pb_kv *inst = attr_get(attrs, n, "service.instance.id");
    if (inst) {
        const char *iv;
        size_t il;
        if ((st = value_str(t, t->a, inst->value, &iv, &il)) != SONDE_OK)
            return st;
        if (il)
            t->instance = iv;
    }
    if (t->cfg && t->cfg->npromote && n) {
        t->promoted = arena_alloc(t->a, n * sizeof *t->promoted);
        if (!t->promoted)
            return SONDE_ERR_NOMEM;
        for (size_t i = 0; i < n; i++) {
            if (!attrs[i] || !attrs[i]->key)
                continue;
            bool want = false;
            for (size_t j = 0; j < t->cfg->npromote && !want; j++)
                want = t->cfg->promote[j] && strcmp(t->cfg->promote[j], attrs[i]->key) == 0;
            if (!want)
                continue;
            tr_kv *e = &t->promoted[t->npromoted];
            st = label_name(t, t->a, NULL, attrs[i]->key, &e->name, &e->nlen);
            if (st == SONDE_ERR_NOMEM)
                return st;
            if (st != SONDE_OK) {
                t->err[0] = '\0';
                continue; /* an unusable key is dropped (see the file comment) */
            }
            if ((st = value_str(t, t->a, attrs[i]->value, &e->value, &e->vlen)) != SONDE_OK)
                return st;
            e->kind = KV_IF_EMPTY;
            t->npromoted++;
        }
        /* Prometheus builds them with Set: the last of a name wins, and an
         * empty value removes it. */
        if ((st = kv_sort(t, t->promoted, t->npromoted)) != SONDE_OK)
            return st;
        size_t w = 0;
        for (size_t i = 0; i < t->npromoted; i++) {
            if (i + 1 < t->npromoted && kv_cmp(&t->promoted[i], &t->promoted[i + 1]) == 0)
                continue;
            if (t->promoted[i].vlen)
                t->promoted[w++] = t->promoted[i];
        }
        t->npromoted = w;
    }
    arena_reset(t->scratch);
    return SONDE_OK;
}

static sonde_status scope_begin(tr *t, const pb_scope_metrics *sm)
{
    t->scope = NULL;
    t->nscope = 0;
    const Opentelemetry__Proto__Common__V1__InstrumentationScope *s = sm->scope;
    if (!s || !s->name || !*s->name)
        return SONDE_OK; /* Prometheus adds scope labels only for a named scope */
    t->scope = arena_alloc(t->a, (s->n_attributes + 3) * sizeof *t->scope);
    if (!t->scope)
        return SONDE_ERR_NOMEM;
    sonde_status st;
    for (size_t i = 0; i < s->n_attributes; i++) {
        const pb_kv *kv = s->attributes[i];
        if (!kv || !kv->key)
            continue;
        tr_kv *e = &t->scope[t->nscope];
        st = label_name(t, t->a, "otel_scope_", kv->key, &e->name, &e->nlen);
        if (st == SONDE_ERR_NOMEM)
            return st;
        if (st != SONDE_OK) {
            t->err[0] = '\0';
            continue;
        }
        if ((st = value_str(t, t->a, kv->value, &e->value, &e->vlen)) != SONDE_OK)
            return st;
        e->kind = KV_SET;
        t->nscope++;
    }
    const char *fixed[3][2] = {{"otel_scope_name", s->name},
                               {"otel_scope_version", s->version ? s->version : ""},
                               {"otel_scope_schema_url", sm->schema_url ? sm->schema_url : ""}};
    for (int i = 0; i < 3; i++) {
        tr_kv *e = &t->scope[t->nscope++];
        e->name = fixed[i][0];
        e->nlen = strlen(fixed[i][0]);
        e->value = fixed[i][1];
        e->vlen = strlen(fixed[i][1]);
        e->kind = KV_SET;
    }
    arena_reset(t->scratch);
    return SONDE_OK;
}

static sonde_status target_info(tr *t, const pb_resource_metrics *rm, uint64_t lo, uint64_t hi)
{
    if (!rm->resource)
        return SONDE_OK;
    size_t other = 0;
    for (size_t i = 0; i < rm->resource->n_attributes; i++) {
        const pb_kv *kv = rm->resource->attributes[i];
        if (kv && !is_identifying(kv->key ? kv->key : ""))
            other++;
    }
    if (other == 0 || (!t->job && !t->instance))
        return SONDE_OK;
    tr_mark mk = mark(t);
    bool saved_delta = t->delta;
    t->delta = false;
    sonde_status st = build_base(t, rm->resource->attributes, rm->resource->n_attributes, true);
    if (st == SONDE_OK) {
        int steps = 0;
        for (uint64_t ts = lo; ts < hi && steps < TARGET_INFO_MAX_STEPS && st == SONDE_OK;
             ts += TARGET_INFO_STEP_NS, steps++) {
            st = emit(t, "target_info", NULL, NULL, ns_to_ms(ts), 1.0);
            if (UINT64_MAX - ts < TARGET_INFO_STEP_NS)
                break;
        }
        if (st == SONDE_OK)
            st = emit(t, "target_info", NULL, NULL, ns_to_ms(hi), 1.0);
    }
    t->delta = saved_delta;
    arena_reset(t->scratch);
    if (st != SONDE_OK) {
        rollback(t, mk); /* no target_info for this resource; its points stand */
        t->err[0] = '\0';
        if (st == SONDE_ERR_NOMEM || st == SONDE_ERR_INTERNAL)
            return st;
    }
    return SONDE_OK;
}

/* ---- the whole request ---- */

static size_t add_sat(size_t a, size_t b)
{
    return a > SIZE_MAX - b ? SIZE_MAX : a + b;
}

/* An upper bound on the samples the request can produce. */
static size_t sample_bound(const pb_request *r)
{
    size_t total = 0;
    for (size_t i = 0; i < r->n_resource_metrics; i++) {
        const pb_resource_metrics *rm = r->resource_metrics[i];
        if (!rm)
            continue;
        uint64_t lo = UINT64_MAX, hi = 0;
        for (size_t j = 0; j < rm->n_scope_metrics; j++) {
            const pb_scope_metrics *sm = rm->scope_metrics[j];
            for (size_t k = 0; sm && k < sm->n_metrics; k++) {
                metric_view v;
                if (!sm->metrics[k] || !metric_view_of(sm->metrics[k], &v))
                    continue;
                for (size_t p = 0; p < v.npoints; p++) {
                    const void *pt = view_point(&v, p);
                    size_t n = 1;
                    if (!pt)
                        continue;
                    uint64_t ts = point_of(v.kind, pt).time;
                    lo = ts < lo ? ts : lo;
                    hi = ts > hi ? ts : hi;
                    if (v.kind == OTLP_TR_HISTOGRAM) {
                        n = add_sat(((const pb_hist_point *)pt)->n_explicit_bounds, 3);
                    } else if (v.kind == OTLP_TR_EXPHIST) {
                        const pb_exp_point *e = pt;
                        n = 4;
                        if (e->positive)
                            n = add_sat(n, e->positive->n_bucket_counts);
                        if (e->negative)
                            n = add_sat(n, e->negative->n_bucket_counts);
                    } else if (v.kind == OTLP_TR_SUMMARY) {
                        n = add_sat(((const pb_summary_point *)pt)->n_quantile_values, 2);
                    }
                    total = add_sat(total, n);
                }
            }
        }
        if (lo != UINT64_MAX) {
            /* target_info: the steps from lo below hi, then hi */
            uint64_t steps = (hi - lo) / TARGET_INFO_STEP_NS + 1;
            if (steps > TARGET_INFO_MAX_STEPS)
                steps = TARGET_INFO_MAX_STEPS;
            total = add_sat(total, (size_t)steps + 1);
        }
    }
    return total;
}

static int rec_cmp_ts(const tr_rec *a, const tr_rec *b)
{
    return a->ts < b->ts ? -1 : a->ts > b->ts;
}

static int rec_cmp_any(const void *a, const void *b)
{
    return rec_cmp_ts(a, b);
}

/* Groups the records by series (a stable counting sort), sorts each
 * series' records by time where needed (stable: of equal timestamps the
 * last one given wins), and writes the samples and, when any point had a
 * start time, the per-sample start times. */
static sonde_status finish(tr *t)
{
    otlp_translate_result *out = t->out;
    size_t *first = arena_calloc(t->a, t->nseries + 1, sizeof *first);
    tr_rec *by = arena_alloc(t->a, (t->nrec ? t->nrec : 1) * sizeof *by);
    sonde_sample *all = arena_alloc(t->a, (t->nrec ? t->nrec : 1) * sizeof *all);
    int64_t *starts = t->any_start ? arena_alloc(t->a, (t->nrec ? t->nrec : 1) * sizeof *starts)
                                   : NULL;
    int64_t **sstart = t->any_start
                           ? arena_calloc(t->a, t->nseries ? t->nseries : 1, sizeof *sstart)
                           : NULL;
    if (!first || !by || !all || (t->any_start && (!starts || !sstart)))
        return SONDE_ERR_NOMEM;
    for (size_t i = 0; i < t->nrec; i++)
        first[t->rec[i].sid + 1]++;
    size_t longest = 0;
    for (size_t i = 0; i < t->nseries; i++) {
        if (first[i + 1] > longest)
            longest = first[i + 1];
        first[i + 1] += first[i];
    }
    size_t *fill = arena_alloc(t->a, (t->nseries ? t->nseries : 1) * sizeof *fill);
    if (!fill)
        return SONDE_ERR_NOMEM;
    memcpy(fill, first, t->nseries * sizeof *fill);
    for (size_t i = 0; i < t->nrec; i++)
        by[fill[t->rec[i].sid]++] = t->rec[i];
    tr_rec *tmp = NULL;
    size_t total = 0;
    for (size_t i = 0; i < t->nseries; i++) {
        tr_rec *r = by + first[i];
        size_t n = first[i + 1] - first[i];
        bool sorted = true;
        for (size_t j = 1; j < n && sorted; j++)
            sorted = r[j - 1].ts <= r[j].ts;
        if (!sorted) {
            if (!tmp && !(tmp = arena_alloc(t->a, longest * sizeof *tmp)))
                return SONDE_ERR_NOMEM;
            sort_stable(r, n, sizeof *r, rec_cmp_any, tmp);
        }
        sonde_series *s = &t->series[i];
        s->samples = all + total;
        if (sstart)
            sstart[i] = starts + total;
        uint32_t w = 0;
        for (size_t j = 0; j < n; j++) {
            if (w > 0 && s->samples[w - 1].ts_ms == r[j].ts)
                w--; /* equal timestamps: the last one given wins */
            s->samples[w] = (sonde_sample){r[j].ts, r[j].v};
            if (sstart)
                sstart[i][w] = r[j].start;
            w++;
        }
        s->nsamples = w;
        total += w;
    }
    out->series = t->series;
    out->delta = t->sdelta;
    out->start_ms = sstart;
    out->nseries = t->nseries;
    out->nsamples = total;
    return SONDE_OK;
}

static sonde_status translate(tr *t, const pb_request *r)
{
    size_t bound = sample_bound(r);
    if (bound == 0)
        return SONDE_OK;
    if (bound > (SIZE_MAX >> 1) / sizeof(tr_rec) || bound >= (UINT32_MAX >> 2)) {
        snprintf(t->out->msg, sizeof t->out->msg, "request would produce too many samples");
        return SONDE_ERR_LIMIT;
    }
    size_t tsize = 16;
    while (tsize < 2 * bound)
        tsize <<= 1;
    t->table = arena_calloc(t->a, tsize, sizeof *t->table);
    t->tmask = tsize - 1;
    t->rec = arena_alloc(t->a, bound * sizeof *t->rec);
    t->rec_cap = bound;
    t->series = arena_alloc(t->a, bound * sizeof *t->series);
    t->sdelta = arena_alloc(t->a, bound * sizeof *t->sdelta);
    t->sslot = arena_alloc(t->a, bound * sizeof *t->sslot);
    t->series_cap = bound;
    if (!t->table || !t->rec || !t->series || !t->sdelta || !t->sslot)
        return SONDE_ERR_NOMEM;

    sonde_status st;
    for (size_t i = 0; i < r->n_resource_metrics; i++) {
        const pb_resource_metrics *rm = r->resource_metrics[i];
        if (!rm)
            continue;
        if ((st = resource_begin(t, rm)) != SONDE_OK)
            return st;
        uint64_t lo = UINT64_MAX, hi = 0;
        for (size_t j = 0; j < rm->n_scope_metrics; j++) {
            const pb_scope_metrics *sm = rm->scope_metrics[j];
            if (!sm)
                continue;
            if ((st = scope_begin(t, sm)) != SONDE_OK)
                return st;
            for (size_t k = 0; k < sm->n_metrics; k++)
                if ((st = do_metric(t, sm->metrics[k], &lo, &hi)) != SONDE_OK)
                    return st;
        }
        t->scope = NULL;
        t->nscope = 0;
        if (lo != UINT64_MAX && (st = target_info(t, rm, lo, hi)) != SONDE_OK)
            return st;
    }
    return finish(t);
}

sonde_status otlp_metrics_translate(arena *a, const void *request, const otlp_translate_config *cfg,
                                    otlp_translate_result *out)
{
    if (!out)
        return SONDE_ERR_INVALID;
    memset(out, 0, sizeof *out);
    if (!a || !request) {
        snprintf(out->msg, sizeof out->msg, "no request");
        return SONDE_ERR_INVALID;
    }
    tr t;
    memset(&t, 0, sizeof t);
    t.a = a;
    t.out = out;
    t.cfg = cfg;
    t.lopts = otlp_tr_label_defaults;
    t.lopts.keep = cfg && cfg->keep_names;
    t.scratch = arena_create(SCRATCH_BLOCK, SCRATCH_CAP);
    if (!t.scratch)
        return SONDE_ERR_NOMEM;
    buf_init(&t.sb, STRBUF_MAX);
    sonde_status st = translate(&t, request);
    buf_fini(&t.sb);
    arena_destroy(t.scratch);
    if (st != SONDE_OK) {
        size_t rejected = out->rejected_points;
        char msg[sizeof out->msg];
        memcpy(msg, out->msg, sizeof msg);
        memset(out, 0, sizeof *out);
        out->rejected_points = rejected;
        memcpy(out->msg, msg, sizeof msg);
        if (!out->msg[0])
            snprintf(out->msg, sizeof out->msg, "metrics translation failed: %s",
                     sonde_status_name(st));
    }
    return st;
}
