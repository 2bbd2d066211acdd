/*
 * test_translate.c - otlp_metrics_translate and its name/label/value rules.
 *
 * Requests are built as protobuf-c structs directly (no decoder). Expected
 * names and labels come from the OpenTelemetry "Prometheus and OpenMetrics
 * Compatibility" specification and Prometheus 3's otlptranslator tests.
 */
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>

#include "ingest/otlp/otlp.h"
#include "ingest/otlp/translate_internal.h"
#include "otlp_metrics_service.pb-c.h"
#include "test.h"

typedef Opentelemetry__Proto__Collector__Metrics__V1__ExportMetricsServiceRequest pb_request;
typedef Opentelemetry__Proto__Metrics__V1__ResourceMetrics pb_rm;
typedef Opentelemetry__Proto__Metrics__V1__ScopeMetrics pb_sm;
typedef Opentelemetry__Proto__Metrics__V1__Metric pb_metric;
typedef Opentelemetry__Proto__Metrics__V1__NumberDataPoint pb_ndp;
typedef Opentelemetry__Proto__Metrics__V1__HistogramDataPoint pb_hdp;
typedef Opentelemetry__Proto__Metrics__V1__ExponentialHistogramDataPoint pb_edp;
typedef Opentelemetry__Proto__Metrics__V1__ExponentialHistogramDataPoint__Buckets pb_ebuckets;
typedef Opentelemetry__Proto__Metrics__V1__SummaryDataPoint pb_sdp;
typedef Opentelemetry__Proto__Metrics__V1__SummaryDataPoint__ValueAtQuantile pb_q;
typedef Opentelemetry__Proto__Common__V1__KeyValue pb_kv;
typedef Opentelemetry__Proto__Common__V1__AnyValue pb_any;

#define DELTA                                                                                      \
    OPENTELEMETRY__PROTO__METRICS__V1__AGGREGATION_TEMPORALITY__AGGREGATION_TEMPORALITY_DELTA
#define CUMULATIVE                                                                                 \
    OPENTELEMETRY__PROTO__METRICS__V1__AGGREGATION_TEMPORALITY__AGGREGATION_TEMPORALITY_CUMULATIVE

/* Everything a test builds lives here; reset between tests. */
static arena *A;

static void *alloc(size_t n)
{
    void *p = arena_calloc(A, 1, n);
    if (!p)
        abort();
    return p;
}

static void *dup_mem(const void *p, size_t n)
{
    void *c = alloc(n);
    memcpy(c, p, n);
    return c;
}

/* A protobuf-c message initialised with its __INIT, in the test arena. */
#define NEW(T, init) ((T *)dup_mem(&(T)init, sizeof(T)))

/* ---- builders ---- */

static pb_any *any_str(const char *s)
{
    pb_any *v = NEW(pb_any, OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__INIT);
    v->value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_STRING_VALUE;
    v->string_value = (char *)s;
    return v;
}

static pb_any *any_int(int64_t i)
{
    pb_any *v = NEW(pb_any, OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__INIT);
    v->value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_INT_VALUE;
    v->int_value = i;
    return v;
}

static pb_any *any_double(double d)
{
    pb_any *v = NEW(pb_any, OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__INIT);
    v->value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_DOUBLE_VALUE;
    v->double_value = d;
    return v;
}

static pb_any *any_bool(int b)
{
    pb_any *v = NEW(pb_any, OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__INIT);
    v->value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_BOOL_VALUE;
    v->bool_value = b;
    return v;
}

static pb_kv *kv(const char *k, pb_any *v)
{
    pb_kv *e = NEW(pb_kv, OPENTELEMETRY__PROTO__COMMON__V1__KEY_VALUE__INIT);
    e->key = (char *)k;
    e->value = v;
    return e;
}

static pb_kv *kvs(const char *k, const char *v)
{
    return kv(k, any_str(v));
}

/* NULL-terminated list -> array in the arena */
static void **list(size_t *n, void *first, ...)
{
    va_list ap;
    size_t c = 0;
    va_start(ap, first);
    for (void *p = first; p; p = va_arg(ap, void *))
        c++;
    va_end(ap);
    void **arr = alloc((c ? c : 1) * sizeof *arr);
    va_start(ap, first);
    c = 0;
    for (void *p = first; p; p = va_arg(ap, void *))
        arr[c++] = p;
    va_end(ap);
    *n = c;
    return arr;
}

#define ATTRS(obj, ...)                                                                            \
    ((obj)->attributes = (pb_kv **)list(&(obj)->n_attributes, __VA_ARGS__, NULL))

static pb_ndp *ndp(double v, uint64_t t_ns)
{
    pb_ndp *p = NEW(pb_ndp, OPENTELEMETRY__PROTO__METRICS__V1__NUMBER_DATA_POINT__INIT);
    p->value_case = OPENTELEMETRY__PROTO__METRICS__V1__NUMBER_DATA_POINT__VALUE_AS_DOUBLE;
    p->as_double = v;
    p->time_unix_nano = t_ns;
    return p;
}

static pb_ndp *ndp_int(int64_t v, uint64_t t_ns)
{
    pb_ndp *p = ndp(0, t_ns);
    p->value_case = OPENTELEMETRY__PROTO__METRICS__V1__NUMBER_DATA_POINT__VALUE_AS_INT;
    p->as_int = v;
    return p;
}

static pb_metric *metric(const char *name, const char *unit)
{
    pb_metric *m = NEW(pb_metric, OPENTELEMETRY__PROTO__METRICS__V1__METRIC__INIT);
    m->name = (char *)name;
    m->unit = (char *)unit;
    return m;
}

static pb_metric *gauge(const char *name, const char *unit, pb_ndp *first, ...)
{
    pb_metric *m = metric(name, unit);
    m->data_case = OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_GAUGE;
    m->gauge = NEW(Opentelemetry__Proto__Metrics__V1__Gauge,
                   OPENTELEMETRY__PROTO__METRICS__V1__GAUGE__INIT);
    va_list ap;
    size_t c = 0;
    va_start(ap, first);
    for (pb_ndp *p = first; p; p = va_arg(ap, pb_ndp *))
        c++;
    va_end(ap);
    m->gauge->data_points = alloc(c * sizeof(pb_ndp *));
    va_start(ap, first);
    for (pb_ndp *p = first; p; p = va_arg(ap, pb_ndp *))
        m->gauge->data_points[m->gauge->n_data_points++] = p;
    va_end(ap);
    return m;
}

static pb_metric *sum(const char *name, const char *unit, int monotonic, int temporality, pb_ndp *p)
{
    pb_metric *m = metric(name, unit);
    m->data_case = OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_SUM;
    m->sum =
        NEW(Opentelemetry__Proto__Metrics__V1__Sum, OPENTELEMETRY__PROTO__METRICS__V1__SUM__INIT);
    m->sum->is_monotonic = monotonic;
    m->sum->aggregation_temporality = temporality;
    m->sum->n_data_points = 1;
    m->sum->data_points = alloc(sizeof(pb_ndp *));
    m->sum->data_points[0] = p;
    return m;
}

static pb_hdp *hdp(uint64_t t_ns, uint64_t count, int has_sum, double s, size_t nb,
                   const double *bounds, size_t nc, const uint64_t *counts)
{
    pb_hdp *p = NEW(pb_hdp, OPENTELEMETRY__PROTO__METRICS__V1__HISTOGRAM_DATA_POINT__INIT);
    p->time_unix_nano = t_ns;
    p->count = count;
    if (has_sum) {
        p->sum_present_case =
            OPENTELEMETRY__PROTO__METRICS__V1__HISTOGRAM_DATA_POINT__SUM_PRESENT_SUM;
        p->sum = s;
    }
    p->n_explicit_bounds = nb;
    p->explicit_bounds = (double *)bounds;
    p->n_bucket_counts = nc;
    p->bucket_counts = (uint64_t *)counts;
    return p;
}

static pb_metric *histogram(const char *name, const char *unit, int temporality, pb_hdp *p)
{
    pb_metric *m = metric(name, unit);
    m->data_case = OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_HISTOGRAM;
    m->histogram = NEW(Opentelemetry__Proto__Metrics__V1__Histogram,
                       OPENTELEMETRY__PROTO__METRICS__V1__HISTOGRAM__INIT);
    m->histogram->aggregation_temporality = temporality;
    m->histogram->n_data_points = 1;
    m->histogram->data_points = alloc(sizeof(pb_hdp *));
    m->histogram->data_points[0] = p;
    return m;
}

static pb_ebuckets *ebuckets(int32_t offset, size_t n, const uint64_t *counts)
{
    pb_ebuckets *b =
        NEW(pb_ebuckets,
            OPENTELEMETRY__PROTO__METRICS__V1__EXPONENTIAL_HISTOGRAM_DATA_POINT__BUCKETS__INIT);
    b->offset = offset;
    b->n_bucket_counts = n;
    b->bucket_counts = (uint64_t *)counts;
    return b;
}

static pb_metric *exphist(const char *name, const char *unit, int temporality, pb_edp *p)
{
    pb_metric *m = metric(name, unit);
    m->data_case = OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_EXPONENTIAL_HISTOGRAM;
    m->exponential_histogram = NEW(Opentelemetry__Proto__Metrics__V1__ExponentialHistogram,
                                   OPENTELEMETRY__PROTO__METRICS__V1__EXPONENTIAL_HISTOGRAM__INIT);
    m->exponential_histogram->aggregation_temporality = temporality;
    m->exponential_histogram->n_data_points = 1;
    m->exponential_histogram->data_points = alloc(sizeof(pb_edp *));
    m->exponential_histogram->data_points[0] = p;
    return m;
}

static pb_sm *scope(const char *name, const char *version, pb_metric *first, ...)
{
    pb_sm *sm = NEW(pb_sm, OPENTELEMETRY__PROTO__METRICS__V1__SCOPE_METRICS__INIT);
    if (name) {
        sm->scope = NEW(Opentelemetry__Proto__Common__V1__InstrumentationScope,
                        OPENTELEMETRY__PROTO__COMMON__V1__INSTRUMENTATION_SCOPE__INIT);
        sm->scope->name = (char *)name;
        sm->scope->version = (char *)version;
    }
    va_list ap;
    size_t c = 0;
    va_start(ap, first);
    for (pb_metric *p = first; p; p = va_arg(ap, pb_metric *))
        c++;
    va_end(ap);
    sm->metrics = alloc((c ? c : 1) * sizeof(pb_metric *));
    va_start(ap, first);
    for (pb_metric *p = first; p; p = va_arg(ap, pb_metric *))
        sm->metrics[sm->n_metrics++] = p;
    va_end(ap);
    return sm;
}

/* A resource with the given attributes (NULL-terminated) and one scope. */
static pb_rm *resource(pb_sm *sm, pb_kv *first, ...)
{
    pb_rm *rm = NEW(pb_rm, OPENTELEMETRY__PROTO__METRICS__V1__RESOURCE_METRICS__INIT);
    rm->resource = NEW(Opentelemetry__Proto__Resource__V1__Resource,
                       OPENTELEMETRY__PROTO__RESOURCE__V1__RESOURCE__INIT);
    va_list ap;
    size_t c = 0;
    va_start(ap, first);
    for (pb_kv *p = first; p; p = va_arg(ap, pb_kv *))
        c++;
    va_end(ap);
    rm->resource->attributes = alloc((c ? c : 1) * sizeof(pb_kv *));
    va_start(ap, first);
    for (pb_kv *p = first; p; p = va_arg(ap, pb_kv *))
        rm->resource->attributes[rm->resource->n_attributes++] = p;
    va_end(ap);
    rm->n_scope_metrics = 1;
    rm->scope_metrics = alloc(sizeof(pb_sm *));
    rm->scope_metrics[0] = sm;
    return rm;
}

static pb_request *request(pb_rm *first, ...)
{
    pb_request *r =
        NEW(pb_request,
            OPENTELEMETRY__PROTO__COLLECTOR__METRICS__V1__EXPORT_METRICS_SERVICE_REQUEST__INIT);
    va_list ap;
    size_t c = 0;
    va_start(ap, first);
    for (pb_rm *p = first; p; p = va_arg(ap, pb_rm *))
        c++;
    va_end(ap);
    r->resource_metrics = alloc(c * sizeof(pb_rm *));
    va_start(ap, first);
    for (pb_rm *p = first; p; p = va_arg(ap, pb_rm *))
        r->resource_metrics[r->n_resource_metrics++] = p;
    va_end(ap);
    return r;
}

/* The usual request: one resource (service.name=svc) and one unnamed scope. */
static pb_request *simple(pb_metric *m)
{
    return request(resource(scope(NULL, NULL, m, NULL), kvs("service.name", "svc"), NULL), NULL);
}

/* ---- result helpers ---- */

/* name="value",... of a canonical series */
static const char *render(const sonde_series *s)
{
    static char out[2048];
    size_t o = 0;
    for (uint32_t i = 0; i < s->nlabels && o < sizeof out - 8; i++)
        o += (size_t)snprintf(out + o, sizeof out - o, "%s%.*s=\"%.*s\"", i ? "," : "",
                              (int)s->labels[i].name_len, s->labels[i].name,
                              (int)s->labels[i].value_len, s->labels[i].value);
    return out;
}

static const sonde_series *find(const otlp_translate_result *r, const char *labels)
{
    for (size_t i = 0; i < r->nseries; i++)
        if (strcmp(render(&r->series[i]), labels) == 0)
            return &r->series[i];
    return NULL;
}

static size_t find_index(const otlp_translate_result *r, const char *labels)
{
    const sonde_series *s = find(r, labels);
    return s ? (size_t)(s - r->series) : (size_t)-1;
}

static void dump(const otlp_translate_result *r)
{
    for (size_t i = 0; i < r->nseries; i++)
        fprintf(stderr, "  series %s (%u samples)\n", render(&r->series[i]), r->series[i].nsamples);
}

/* Checks the series exists with exactly one sample (ts, v). */
#define CHECK_SAMPLE(r, labels, ts, v)                                                             \
    do {                                                                                           \
        const sonde_series *s_ = find((r), (labels));                                              \
        CHECK(s_ != NULL);                                                                         \
        if (!s_) {                                                                                 \
            fprintf(stderr, "missing %s; have:\n", (labels));                                      \
            dump(r);                                                                               \
        } else {                                                                                   \
            CHECK_EQ_INT(s_->nsamples, 1);                                                         \
            CHECK_EQ_INT(s_->samples[0].ts_ms, (ts));                                              \
            CHECK(s_->samples[0].value == (v));                                                    \
            if (s_->samples[0].value != (v))                                                       \
                fprintf(stderr, "  %s: %.17g != %.17g\n", (labels), s_->samples[0].value,          \
                        (double)(v));                                                              \
        }                                                                                          \
    } while (0)

static int is_stale(double v)
{
    uint64_t b;
    memcpy(&b, &v, sizeof b);
    return b == SONDE_STALE_NAN_BITS;
}

static void check_canonical(const otlp_translate_result *r)
{
    size_t total = 0;
    for (size_t i = 0; i < r->nseries; i++) {
        const sonde_series *s = &r->series[i];
        for (uint32_t j = 1; j < s->nlabels; j++)
            CHECK(series_label_cmp(&s->labels[j - 1], &s->labels[j]) < 0 &&
                  strcmp(s->labels[j - 1].name, s->labels[j].name) != 0);
        for (uint32_t j = 0; j < s->nlabels; j++)
            CHECK(s->labels[j].value_len > 0);
        for (uint32_t j = 1; j < s->nsamples; j++)
            CHECK(s->samples[j - 1].ts_ms < s->samples[j].ts_ms);
        CHECK(s->hash == series_labels_hash(s->labels, s->nlabels));
        char mine[2048];
        snprintf(mine, sizeof mine, "%s", render(s));
        for (size_t k = 0; k < i; k++)
            CHECK(strcmp(render(&r->series[k]), mine) != 0);
        total += s->nsamples;
    }
    CHECK_EQ_INT(total, r->nsamples);
}

static sonde_status run(pb_request *req, const otlp_translate_config *cfg, otlp_translate_result *r)
{
    sonde_status st = otlp_metrics_translate(A, req, cfg, r);
    if (st == SONDE_OK)
        check_canonical(r);
    return st;
}

#define T0 1700000000123456789ULL /* ns */
#define T0_MS 1700000000123LL

/* ---- names ---- */

static void test_metric_names(void)
{
    static const struct {
        const char *name, *unit;
        otlp_tr_kind kind;
        const char *want;
    } cases[] = {
        {"http.server.duration", "s", OTLP_TR_HISTOGRAM, "http_server_duration_seconds"},
        {"http.server.request.duration", "s", OTLP_TR_HISTOGRAM,
         "http_server_request_duration_seconds"},
        {"requests", "", OTLP_TR_COUNTER, "requests_total"},
        {"cpu_usage", "1", OTLP_TR_GAUGE, "cpu_usage_ratio"},
        {"items", "1", OTLP_TR_COUNTER, "items_ratio_total"}, /* spec: "1" is ratio for all */
        {"active", "1", OTLP_TR_UPDOWN, "active_ratio"},
        {"hit_ratio", "1", OTLP_TR_COUNTER, "hit_ratio_total"},
        {"response_time", "ms", OTLP_TR_GAUGE, "response_time_milliseconds"},
        {"memory_usage", "By", OTLP_TR_GAUGE, "memory_usage_bytes"},
        {"system.memory.usage", "KiBy", OTLP_TR_UPDOWN, "system_memory_usage_kibibytes"},
        {"requests", "1/s", OTLP_TR_GAUGE, "requests_per_second"},
        {"throughput", "By/s", OTLP_TR_GAUGE, "throughput_bytes_per_second"},
        {"speed", "m/s", OTLP_TR_GAUGE, "speed_meters_per_second"},
        {"custom_metric", "custom_unit", OTLP_TR_GAUGE, "custom_metric_custom_unit"},
        {"custom_metric", "{custom}", OTLP_TR_GAUGE, "custom_metric"},
        {"custom_metric", "By/{custom}", OTLP_TR_GAUGE, "custom_metric_bytes"},
        {"http.server.active_requests", "{request}", OTLP_TR_UPDOWN, "http_server_active_requests"},
        {"requests_total", "", OTLP_TR_COUNTER, "requests_total"},
        {"total.requests", "", OTLP_TR_COUNTER, "requests_total"},
        {"cpu_usage_ratio", "1", OTLP_TR_GAUGE, "cpu_usage_ratio"},
        {"response_time_seconds", "s", OTLP_TR_GAUGE, "response_time_seconds"},
        {"cpu_seconds_total", "s", OTLP_TR_COUNTER, "cpu_seconds_total"},
        {"otelcol_process_cpu_seconds", "s", OTLP_TR_COUNTER, "otelcol_process_cpu_seconds_total"},
        {"metric__with__multiple__underscores", "unit__multiple__underscores", OTLP_TR_GAUGE,
         "metric_with_multiple_underscores_unit_multiple_underscores"},
        {"custom_metric", "unit@with#special/chars", OTLP_TR_GAUGE,
         "custom_metric_unit_with_special_per_chars"},
        {"metric@@##$$name", "", OTLP_TR_GAUGE, "metric_name"},
        {"123_requests", "", OTLP_TR_COUNTER, "_123_requests_total"},
        {"uptime", "d", OTLP_TR_GAUGE, "uptime_days"},
        {"temperature", "Cel", OTLP_TR_GAUGE, "temperature_celsius"},
        {"disk.free", "%", OTLP_TR_GAUGE, "disk_free_percent"},
        {"request_size", "By", OTLP_TR_EXPHIST, "request_size_bytes"},
        {"rpc.latency", "ms", OTLP_TR_SUMMARY, "rpc_latency_milliseconds"},
        {"_leading.and.trailing_", "", OTLP_TR_GAUGE, "leading_and_trailing"},
        {"métric_with_ñ", "", OTLP_TR_GAUGE, "m_tric_with"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        buf b;
        buf_init(&b, 1 << 20);
        char err[128] = "";
        sonde_status st = otlp_tr_metric_name(&b, cases[i].name, cases[i].unit, cases[i].kind,
                                              false, err, sizeof err);
        CHECK_EQ_INT(st, SONDE_OK);
        CHECK_EQ_STR(b.len ? b.data : "", cases[i].want);
        buf_fini(&b);
    }
    /* names that normalise to nothing are errors */
    const char *bad[] = {"", "@#$%", "___"};
    for (size_t i = 0; i < 3; i++) {
        buf b;
        buf_init(&b, 1 << 20);
        char err[128] = "";
        CHECK_EQ_INT(otlp_tr_metric_name(&b, bad[i], "", OTLP_TR_GAUGE, false, err, sizeof err),
                     SONDE_ERR_INVALID);
        CHECK(strstr(err, "empty name") != NULL);
        buf_fini(&b);
    }
    /* NoTranslation: unchanged, no suffixes */
    buf b;
    buf_init(&b, 1 << 20);
    char err[128];
    CHECK_EQ_INT(otlp_tr_metric_name(&b, "http.server.duration", "s", OTLP_TR_HISTOGRAM, true, err,
                                     sizeof err),
                 SONDE_OK);
    CHECK_EQ_STR(b.data, "http.server.duration");
    buf_reset(&b);
    CHECK_EQ_INT(otlp_tr_metric_name(&b, "requêsts", "1", OTLP_TR_COUNTER, true, err, sizeof err),
                 SONDE_OK);
    CHECK_EQ_STR(b.data, "requêsts");
    buf_reset(&b);
    CHECK_EQ_INT(otlp_tr_metric_name(&b, "", "", OTLP_TR_GAUGE, true, err, sizeof err),
                 SONDE_ERR_INVALID);
    buf_fini(&b);
}

static void test_label_names(void)
{
    static const struct {
        const char *key, *want; /* want NULL: an error */
    } defaults[] = { /* the specification: runs collapse, "_x" is valid */
        {"label:with:colons", "label_with_colons"},
        {"LabelWithCapitalLetters", "LabelWithCapitalLetters"},
        {"label!with&special$chars)", "label_with_special_chars_"},
        {"label_with_foreign_characters_字符", "label_with_foreign_characters_"},
        {"label.with.dots", "label_with_dots"},
        {"http.request.method", "http_request_method"},
        {".foo", "_foo"},
        {"weird..key", "weird_key"},
        {"123label", "key_123label"},
        {"_label_starting_with_underscore", "_label_starting_with_underscore"},
        {"__label_starting_with_2underscores", "_label_starting_with_2underscores"},
        {"label__with__double__underscores", "label_with_double_underscores"},
        {"__reserved__label__name__", "__reserved_label_name__"},
        {"trailing_underscores___", "trailing_underscores_"},
        {"ようこそ", NULL},
        {"", NULL},
        {"__", NULL},
    };
    for (size_t i = 0; i < sizeof defaults / sizeof defaults[0]; i++) {
        buf b;
        buf_init(&b, 1 << 20);
        char err[128] = "";
        sonde_status st = otlp_tr_label_name(&b, defaults[i].key, strlen(defaults[i].key),
                                             &otlp_tr_label_defaults, err, sizeof err);
        if (defaults[i].want) {
            CHECK_EQ_INT(st, SONDE_OK);
            CHECK_EQ_STR(b.len ? b.data : "", defaults[i].want);
        } else {
            CHECK_EQ_INT(st, SONDE_ERR_INVALID);
            CHECK(err[0] != '\0');
        }
        buf_fini(&b);
    }
    /* Prometheus 3's defaults, kept as options: runs kept, "_x" -> "key_x" */
    otlp_tr_label_opts spec = {
        .keep = false, .underscore_prefix = true, .preserve_underscores = true};
    static const struct {
        const char *key, *want;
    } collapse[] = {
        {"label__with__double__underscores", "label__with__double__underscores"},
        {"__reserved__label__name__", "__reserved__label__name__"},
        {"label_with_foreign_characters_字符", "label_with_foreign_characters___"},
        {".foo", "key_foo"},
        {"_label_starting_with_underscore", "key_label_starting_with_underscore"},
        {"trailing_underscores___", "trailing_underscores___"},
    };
    for (size_t i = 0; i < sizeof collapse / sizeof collapse[0]; i++) {
        buf b;
        buf_init(&b, 1 << 20);
        char err[128];
        CHECK_EQ_INT(otlp_tr_label_name(&b, collapse[i].key, strlen(collapse[i].key), &spec, err,
                                        sizeof err),
                     SONDE_OK);
        CHECK_EQ_STR(b.len ? b.data : "", collapse[i].want);
        buf_fini(&b);
    }
    otlp_tr_label_opts keep = otlp_tr_label_defaults;
    keep.keep = true;
    buf b;
    buf_init(&b, 1 << 20);
    char err[128];
    CHECK_EQ_INT(otlp_tr_label_name(&b, "http.method", 11, &keep, err, sizeof err), SONDE_OK);
    CHECK_EQ_STR(b.data, "http.method");
    buf_reset(&b);
    CHECK_EQ_INT(otlp_tr_label_name(&b, "__", 2, &keep, err, sizeof err), SONDE_ERR_INVALID);
    buf_fini(&b);
}

static const char *vstr(const pb_any *v)
{
    static char out[512];
    buf b;
    buf_init(&b, 1 << 20);
    CHECK_EQ_INT(otlp_tr_value_str(&b, v), SONDE_OK);
    snprintf(out, sizeof out, "%s", b.len ? b.data : "");
    buf_fini(&b);
    return out;
}

static void test_values(void)
{
    CHECK_EQ_STR(vstr(any_str("hello world")), "hello world");
    CHECK_EQ_STR(vstr(any_bool(1)), "true");
    CHECK_EQ_STR(vstr(any_bool(0)), "false");
    CHECK_EQ_STR(vstr(any_int(-123)), "-123");
    CHECK_EQ_STR(vstr(any_double(3.14159)), "3.14159");
    CHECK_EQ_STR(vstr(any_double(1.23e10)), "12300000000");
    CHECK_EQ_STR(vstr(any_double(1e21)), "1e+21");
    CHECK_EQ_STR(vstr(any_double(1e-7)), "1e-7");
    CHECK_EQ_STR(vstr(any_double(0.000001)), "0.000001");
    CHECK_EQ_STR(vstr(any_double(-2.5)), "-2.5");
    CHECK_EQ_STR(vstr(any_double(0.1)), "0.1");
    CHECK_EQ_STR(vstr(any_double(NAN)), "NaN");
    CHECK_EQ_STR(vstr(any_double(INFINITY)), "Infinity");
    CHECK_EQ_STR(vstr(any_double(-INFINITY)), "-Infinity");
    CHECK_EQ_STR(vstr(NULL), "");
    pb_any empty = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__INIT;
    CHECK_EQ_STR(vstr(&empty), "");

    pb_any bytes = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__INIT;
    bytes.value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_BYTES_VALUE;
    bytes.bytes_value.data = (uint8_t *)"hello world";
    bytes.bytes_value.len = 11;
    CHECK_EQ_STR(vstr(&bytes), "aGVsbG8gd29ybGQ=");

    /* [1, "-Infinity", "a\"<", true, null, {"z": 2, "a": [3, null]}] */
    Opentelemetry__Proto__Common__V1__KeyValueList kl =
        OPENTELEMETRY__PROTO__COMMON__V1__KEY_VALUE_LIST__INIT;
    Opentelemetry__Proto__Common__V1__ArrayValue inner =
        OPENTELEMETRY__PROTO__COMMON__V1__ARRAY_VALUE__INIT;
    inner.values = (pb_any **)list(&inner.n_values, any_int(3), &empty, NULL);
    pb_any inner_v = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__INIT;
    inner_v.value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_ARRAY_VALUE;
    inner_v.array_value = &inner;
    kl.values = (pb_kv **)list(&kl.n_values, kv("z", any_int(2)), kv("a", &inner_v), NULL);
    pb_any map = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__INIT;
    map.value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_KVLIST_VALUE;
    map.kvlist_value = &kl;
    CHECK_EQ_STR(vstr(&map), "{\"a\":[3,null],\"z\":2}");

    Opentelemetry__Proto__Common__V1__ArrayValue arr =
        OPENTELEMETRY__PROTO__COMMON__V1__ARRAY_VALUE__INIT;
    arr.values = (pb_any **)list(&arr.n_values, any_int(1), any_double(-INFINITY), any_str("a\"<"),
                                 any_bool(1), &empty, &map, NULL);
    pb_any av = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__INIT;
    av.value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_ARRAY_VALUE;
    av.array_value = &arr;
    CHECK_EQ_STR(vstr(&av),
                 "[1,\"-Infinity\",\"a\\\"\\u003c\",true,null,{\"a\":[3,null],\"z\":2}]");
}

/* ---- end to end ---- */

static void test_job_instance_target_info(void)
{
    pb_ndp *p = ndp(42, T0);
    ATTRS(p, kvs("http.request.method", "GET"), kv("http.response.status_code", any_int(200)));
    pb_metric *m = gauge("queue.length", "{item}", p, NULL);
    pb_request *req =
        request(resource(scope("my.lib", "1.2.3", m, NULL), kvs("service.name", "checkout"),
                         kvs("service.namespace", "shop"), kvs("service.instance.id", "pod-7"),
                         kvs("host.name", "node-1"), kv("process.pid", any_int(1234)), NULL),
                NULL);
    otlp_translate_result r;
    CHECK_EQ_INT(run(req, NULL, &r), SONDE_OK);
    CHECK_EQ_INT(r.nseries, 2);
    CHECK_EQ_INT(r.rejected_points, 0);
    CHECK_SAMPLE(&r,
                 "__name__=\"queue_length\",http_request_method=\"GET\","
                 "http_response_status_code=\"200\",instance=\"pod-7\",job=\"shop/checkout\","
                 "otel_scope_name=\"my.lib\",otel_scope_version=\"1.2.3\"",
                 T0_MS, 42.0);
    /* target_info: the non-identifying resource attributes, job and instance */
    CHECK_SAMPLE(&r,
                 "__name__=\"target_info\",host_name=\"node-1\",instance=\"pod-7\","
                 "job=\"shop/checkout\",process_pid=\"1234\"",
                 T0_MS, 1.0);
    for (size_t i = 0; i < r.nseries; i++)
        CHECK(!r.delta[i]);

    /* only identifying attributes: no target_info; no namespace: job = name */
    arena_reset(A);
    req = request(resource(scope(NULL, NULL, gauge("g", "", ndp(1, T0), NULL), NULL),
                           kvs("service.name", "api"), kvs("service.instance.id", "i1"), NULL),
                  NULL);
    CHECK_EQ_INT(run(req, NULL, &r), SONDE_OK);
    CHECK_EQ_INT(r.nseries, 1);
    CHECK_SAMPLE(&r, "__name__=\"g\",instance=\"i1\",job=\"api\"", T0_MS, 1.0);

    /* target_info is written from the earliest to the latest point of the
     * resource, every 2.5 minutes, and at the latest */
    arena_reset(A);
    req = request(
        resource(
            scope(NULL, NULL, gauge("g", "", ndp(1, T0), ndp(2, T0 + 400000000000ULL), NULL), NULL),
            kvs("service.name", "api"), kvs("host.name", "h"), NULL),
        NULL);
    CHECK_EQ_INT(run(req, NULL, &r), SONDE_OK);
    const sonde_series *ti = find(&r, "__name__=\"target_info\",host_name=\"h\",job=\"api\"");
    CHECK(ti != NULL);
    if (ti) {
        CHECK_EQ_INT(ti->nsamples, 4);
        CHECK_EQ_INT(ti->samples[0].ts_ms, T0_MS);
        CHECK_EQ_INT(ti->samples[1].ts_ms, T0_MS + 150000);
        CHECK_EQ_INT(ti->samples[2].ts_ms, T0_MS + 300000);
        CHECK_EQ_INT(ti->samples[3].ts_ms, T0_MS + 400000);
    }
    /* no job or instance: no target_info */
    arena_reset(A);
    req = request(resource(scope(NULL, NULL, gauge("g", "", ndp(1, T0), NULL), NULL),
                           kvs("host.name", "h"), NULL),
                  NULL);
    CHECK_EQ_INT(run(req, NULL, &r), SONDE_OK);
    CHECK_EQ_INT(r.nseries, 1);
    CHECK_SAMPLE(&r, "__name__=\"g\"", T0_MS, 1.0);
}

static void test_label_collisions(void)
{
    pb_ndp *p = ndp(1, T0);
    /* sorted by original key: "a-b" < "a.b" < "a_b" */
    ATTRS(p, kvs("a_b", "3"), kvs("a.b", "2"), kvs("a-b", "1"), kvs("empty", ""),
          kvs("__name__", "ignored"), kvs("job", "from-attr"), kvs("9lives", "cat"));
    pb_request *req = simple(gauge("m", "", p, NULL));
    otlp_translate_result r;
    CHECK_EQ_INT(run(req, NULL, &r), SONDE_OK);
    /* job from the resource overrides the attribute; empty values drop */
    CHECK_SAMPLE(&r, "__name__=\"m\",a_b=\"1;2;3\",job=\"svc\",key_9lives=\"cat\"", T0_MS, 1.0);
}

static void test_promote(void)
{
    pb_ndp *p1 = ndp(1, T0);
    pb_ndp *p2 = ndp(2, T0);
    ATTRS(p2, kvs("k8s.namespace.name", "from-point"), kvs("x", "2"));
    const char *promote[] = {"k8s.namespace.name", "cloud.region"};
    otlp_translate_config cfg = {.keep_names = false, .promote = promote, .npromote = 2};
    pb_request *req =
        request(resource(scope(NULL, NULL, gauge("g", "", p1, p2, NULL), NULL),
                         kvs("service.name", "svc"), kvs("k8s.namespace.name", "prod"),
                         kvs("cloud.region", ""), kvs("host.name", "h"), NULL),
                NULL);
    otlp_translate_result r;
    CHECK_EQ_INT(run(req, &cfg, &r), SONDE_OK);
    CHECK_SAMPLE(&r, "__name__=\"g\",job=\"svc\",k8s_namespace_name=\"prod\"", T0_MS, 1.0);
    /* a data-point attribute of the same name wins over a promoted one */
    CHECK_SAMPLE(&r, "__name__=\"g\",job=\"svc\",k8s_namespace_name=\"from-point\",x=\"2\"", T0_MS,
                 2.0);
    /* target_info keeps every non-identifying attribute, promoted or not */
    CHECK_SAMPLE(&r,
                 "__name__=\"target_info\",host_name=\"h\",job=\"svc\",k8s_namespace_name=\"prod\"",
                 T0_MS, 1.0);
}

static void test_sums(void)
{
    otlp_translate_result r;
    pb_request *req = request(
        resource(scope(NULL, NULL, sum("http.requests", "{request}", 1, CUMULATIVE, ndp_int(7, T0)),
                       sum("connections.open", "1", 0, CUMULATIVE, ndp_int(3, T0)),
                       sum("bytes.sent", "By", 1, DELTA, ndp_int(100, T0)),
                       sum("queue.change", "", 0, DELTA, ndp(-2, T0)), NULL),
                 kvs("service.name", "svc"), NULL),
        NULL);
    CHECK_EQ_INT(run(req, NULL, &r), SONDE_OK);
    CHECK_EQ_INT(r.nseries, 4);
    CHECK_SAMPLE(&r, "__name__=\"http_requests_total\",job=\"svc\"", T0_MS, 7.0);
    CHECK_SAMPLE(&r, "__name__=\"connections_open_ratio\",job=\"svc\"", T0_MS, 3.0);
    CHECK_SAMPLE(&r, "__name__=\"bytes_sent_total\",job=\"svc\"", T0_MS, 100.0);
    CHECK_SAMPLE(&r, "__name__=\"queue_change\",job=\"svc\"", T0_MS, -2.0);
    CHECK(!r.delta[find_index(&r, "__name__=\"http_requests_total\",job=\"svc\"")]);
    CHECK(!r.delta[find_index(&r, "__name__=\"connections_open_ratio\",job=\"svc\"")]);
    CHECK(r.delta[find_index(&r, "__name__=\"bytes_sent_total\",job=\"svc\"")]);
    CHECK(r.delta[find_index(&r, "__name__=\"queue_change\",job=\"svc\"")]);

    /* unspecified temporality is rejected, as Prometheus does */
    arena_reset(A);
    req = simple(sum("s", "", 1, 0, ndp(1, T0)));
    CHECK_EQ_INT(run(req, NULL, &r), SONDE_OK);
    CHECK_EQ_INT(r.nseries, 0);
    CHECK_EQ_INT(r.rejected_points, 1);
    CHECK(strstr(r.msg, "temporality") != NULL);
}

/* start_time_unix_nano of cumulative counter-like points comes out per
 * sample; gauges, up-down sums, deltas and a start not before the point
 * give 0, and the array is absent when no point has one. */
static void test_start_times(void)
{
    otlp_translate_result r;
    pb_ndp *c1 = ndp_int(7, T0), *c2 = ndp_int(9, T0 + 2000000000), *g = ndp(1, T0);
    pb_ndp *bad = ndp_int(1, T0), *d = ndp_int(5, T0);
    c1->start_time_unix_nano = T0 - 60000000000ULL;
    c2->start_time_unix_nano = T0 + 1000000000ULL; /* restarted between the points */
    g->start_time_unix_nano = T0 - 1000000000ULL;
    bad->start_time_unix_nano = T0; /* not before the point: ignored */
    d->start_time_unix_nano = T0 - 1000000000ULL;
    pb_metric *m = sum("restarts", "", 1, CUMULATIVE, c1);
    m->sum->data_points = (pb_ndp **)list(&m->sum->n_data_points, c2, c1, NULL); /* unsorted */
    pb_request *req = request(
        resource(scope(NULL, NULL, m, gauge("temp", "", g, NULL),
                       sum("other", "", 1, CUMULATIVE, bad), sum("d", "", 1, DELTA, d), NULL),
                 kvs("service.name", "svc"), NULL),
        NULL);
    CHECK_EQ_INT(run(req, NULL, &r), SONDE_OK);
    CHECK(r.start_ms != NULL);
    if (r.start_ms) {
        size_t i = find_index(&r, "__name__=\"restarts_total\",job=\"svc\"");
        CHECK_EQ_INT(r.series[i].nsamples, 2);
        CHECK(r.series[i].samples[0].ts_ms == T0_MS &&
              r.series[i].samples[1].ts_ms == T0_MS + 2000);
        CHECK(r.start_ms[i][0] == T0_MS - 60000); /* follows its sample through the sort */
        CHECK(r.start_ms[i][1] == T0_MS + 1000);
        CHECK(r.start_ms[find_index(&r, "__name__=\"temp\",job=\"svc\"")][0] == 0);
        CHECK(r.start_ms[find_index(&r, "__name__=\"other_total\",job=\"svc\"")][0] == 0);
        CHECK(r.start_ms[find_index(&r, "__name__=\"d_total\",job=\"svc\"")][0] == 0);
    }
    arena_reset(A);
    CHECK_EQ_INT(run(simple(gauge("g", "", ndp(1, T0), NULL)), NULL, &r), SONDE_OK);
    CHECK(r.start_ms == NULL);
}

static void test_histogram(void)
{
    static const double bounds[] = {0.005, 1, 2.5};
    static const uint64_t counts[] = {1, 2, 3, 4};
    pb_hdp *p = hdp(T0, 10, 1, 12.5, 3, bounds, 4, counts);
    ATTRS(p, kvs("route", "/a"));
    p->n_exemplars = 2;
    p->exemplars = alloc(2 * sizeof *p->exemplars);
    otlp_translate_result r;
    CHECK_EQ_INT(run(simple(histogram("http.server.duration", "s", CUMULATIVE, p)), NULL, &r),
                 SONDE_OK);
    CHECK_EQ_INT(r.nseries, 6);
    CHECK_EQ_INT(r.exemplars_dropped, 2);
    const char *base = "job=\"svc\",le=\"%s\",route=\"/a\"";
    char l[256];
    static const struct {
        const char *le;
        double v;
    } want[] = {{"0.005", 1}, {"1", 3}, {"2.5", 6}, {"+Inf", 10}};
    for (size_t i = 0; i < 4; i++) {
        char tail[128];
        snprintf(tail, sizeof tail, base, want[i].le);
        snprintf(l, sizeof l, "__name__=\"http_server_duration_seconds_bucket\",%s", tail);
        CHECK_SAMPLE(&r, l, T0_MS, want[i].v);
    }
    CHECK_SAMPLE(&r, "__name__=\"http_server_duration_seconds_sum\",job=\"svc\",route=\"/a\"",
                 T0_MS, 12.5);
    CHECK_SAMPLE(&r, "__name__=\"http_server_duration_seconds_count\",job=\"svc\",route=\"/a\"",
                 T0_MS, 10.0);

    /* no sum: no _sum series; delta: every series flagged */
    arena_reset(A);
    p = hdp(T0, 3, 0, 0, 3, bounds, 4, (const uint64_t[]){0, 1, 1, 1});
    CHECK_EQ_INT(run(simple(histogram("h", "", DELTA, p)), NULL, &r), SONDE_OK);
    CHECK_EQ_INT(r.nseries, 5);
    CHECK(find(&r, "__name__=\"h_sum\",job=\"svc\"") == NULL);
    CHECK_SAMPLE(&r, "__name__=\"h_bucket\",job=\"svc\",le=\"2.5\"", T0_MS, 2.0);
    for (size_t i = 0; i < r.nseries; i++)
        CHECK(r.delta[i]);

    /* no buckets at all: only +Inf */
    arena_reset(A);
    p = hdp(T0, 5, 1, 1.5, 0, NULL, 0, NULL);
    CHECK_EQ_INT(run(simple(histogram("h", "", CUMULATIVE, p)), NULL, &r), SONDE_OK);
    CHECK_EQ_INT(r.nseries, 3);
    CHECK_SAMPLE(&r, "__name__=\"h_bucket\",job=\"svc\",le=\"+Inf\"", T0_MS, 5.0);
}

static void test_exphist_buckets(void)
{
    otlp_tr_bucket b[512];
    int32_t s;
    /* scale 0: base 2. positive (1,2],(2,4],(4,8]; negative offset 1 = [-4,-2) */
    size_t n = otlp_tr_exphist_buckets(0, 0, 1, 0, (const uint64_t[]){1, 2, 3}, 3, 1,
                                       (const uint64_t[]){4}, 1, b, &s);
    CHECK_EQ_INT(s, 0);
    CHECK_EQ_INT(n, 5);
    static const otlp_tr_bucket want0[] = {{-2, 4}, {0, 5}, {2, 6}, {4, 8}, {8, 11}};
    for (size_t i = 0; i < 5 && i < n; i++) {
        CHECK(b[i].le == want0[i].le);
        CHECK_EQ_INT(b[i].count, want0[i].count);
    }
    /* scale 1: base sqrt(2); bucket -1 is (1/sqrt2, 1], bucket 0 is (1, sqrt2] */
    n = otlp_tr_exphist_buckets(1, 0, 0, -1, (const uint64_t[]){1, 1, 1}, 3, 0, NULL, 0, b, &s);
    CHECK_EQ_INT(n, 4);
    CHECK(b[0].le == 0 && b[0].count == 0);
    CHECK(b[1].le == 1.0 && b[1].count == 1);
    CHECK(b[2].le == 1.4142135623730951 && b[2].count == 2);
    CHECK(b[3].le == 2.0 && b[3].count == 3);
    /* a zero threshold is the zero bucket's bound */
    n = otlp_tr_exphist_buckets(0, 0.5, 2, 0, (const uint64_t[]){1}, 1, 0, NULL, 0, b, &s);
    CHECK_EQ_INT(n, 2);
    CHECK(b[0].le == 0.5 && b[0].count == 2);
    CHECK(b[1].le == 2.0 && b[1].count == 3);
    /* 400 buckets at scale 3 are merged down to scale 1 (100 buckets) */
    static uint64_t many[400];
    for (size_t i = 0; i < 400; i++)
        many[i] = 1;
    n = otlp_tr_exphist_buckets(3, 0, 0, 0, many, 400, 0, NULL, 0, b, &s);
    CHECK_EQ_INT(s, 1);
    CHECK_EQ_INT(n, 101);
    CHECK(n <= OTLP_TR_EXPHIST_MAX_BUCKETS);
    CHECK(b[1].le == 1.4142135623730951 && b[1].count == 4);
    CHECK(b[100].le == 1125899906842624.0 && b[100].count == 400);
    /* scale 10 is reduced to 8 first */
    n = otlp_tr_exphist_buckets(10, 0, 0, 0, (const uint64_t[]){5}, 1, 0, NULL, 0, b, &s);
    CHECK_EQ_INT(s, 8);
    CHECK_EQ_INT(n, 2);
    CHECK(b[1].le == exp2(1.0 / 256) && b[1].count == 5);
    /* negative scale: base 4 at scale -1 */
    n = otlp_tr_exphist_buckets(-1, 0, 0, 0, (const uint64_t[]){1, 1}, 2, 0, NULL, 0, b, &s);
    CHECK_EQ_INT(n, 3);
    CHECK(b[1].le == 4.0 && b[2].le == 16.0);
    /* absurd offsets: bounds stay finite and ascending */
    n = otlp_tr_exphist_buckets(0, 0, 0, 2000000000, (const uint64_t[]){1, 1}, 2, -2000000000,
                                (const uint64_t[]){1}, 1, b, &s);
    for (size_t i = 1; i < n; i++)
        CHECK(b[i].le > b[i - 1].le && isfinite(b[i].le));
}

static void test_exphist_series(void)
{
    pb_edp *p =
        NEW(pb_edp, OPENTELEMETRY__PROTO__METRICS__V1__EXPONENTIAL_HISTOGRAM_DATA_POINT__INIT);
    p->time_unix_nano = T0;
    p->count = 11;
    p->sum_present_case =
        OPENTELEMETRY__PROTO__METRICS__V1__EXPONENTIAL_HISTOGRAM_DATA_POINT__SUM_PRESENT_SUM;
    p->sum = 20;
    p->scale = 0;
    p->zero_count = 1;
    p->positive = ebuckets(0, 3, (const uint64_t[]){1, 2, 3});
    p->negative = ebuckets(1, 1, (const uint64_t[]){4});
    otlp_translate_result r;
    CHECK_EQ_INT(run(simple(exphist("latency", "ms", CUMULATIVE, p)), NULL, &r), SONDE_OK);
    CHECK_EQ_INT(r.nseries, 8);
    static const struct {
        const char *le;
        double v;
    } want[] = {{"-2", 4}, {"0", 5}, {"2", 6}, {"4", 8}, {"8", 11}, {"+Inf", 11}};
    for (size_t i = 0; i < 6; i++) {
        char l[256];
        snprintf(l, sizeof l, "__name__=\"latency_milliseconds_bucket\",job=\"svc\",le=\"%s\"",
                 want[i].le);
        CHECK_SAMPLE(&r, l, T0_MS, want[i].v);
    }
    CHECK_SAMPLE(&r, "__name__=\"latency_milliseconds_sum\",job=\"svc\"", T0_MS, 20.0);
    CHECK_SAMPLE(&r, "__name__=\"latency_milliseconds_count\",job=\"svc\"", T0_MS, 11.0);

    /* scale -5 cannot be a Prometheus histogram: rejected (the request lives
     * in A, so A is not reset here) */
    p->scale = -5;
    CHECK_EQ_INT(run(simple(exphist("latency", "ms", CUMULATIVE, p)), NULL, &r), SONDE_OK);
    CHECK_EQ_INT(r.nseries, 0);
    CHECK_EQ_INT(r.rejected_points, 1);
    CHECK(strstr(r.msg, "scale") != NULL);
}

static void test_summary(void)
{
    pb_sdp *p = NEW(pb_sdp, OPENTELEMETRY__PROTO__METRICS__V1__SUMMARY_DATA_POINT__INIT);
    p->time_unix_nano = T0;
    p->count = 100;
    p->sum = 55.5;
    pb_q *q1 =
        NEW(pb_q, OPENTELEMETRY__PROTO__METRICS__V1__SUMMARY_DATA_POINT__VALUE_AT_QUANTILE__INIT);
    pb_q *q2 =
        NEW(pb_q, OPENTELEMETRY__PROTO__METRICS__V1__SUMMARY_DATA_POINT__VALUE_AT_QUANTILE__INIT);
    q1->quantile = 0.5;
    q1->value = 0.25;
    q2->quantile = 0.99;
    q2->value = 1.75;
    p->quantile_values = (pb_q **)list(&p->n_quantile_values, q1, q2, NULL);
    pb_metric *m = metric("rpc.duration", "s");
    m->data_case = OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_SUMMARY;
    m->summary = NEW(Opentelemetry__Proto__Metrics__V1__Summary,
                     OPENTELEMETRY__PROTO__METRICS__V1__SUMMARY__INIT);
    m->summary->data_points = (pb_sdp **)list(&m->summary->n_data_points, p, NULL);
    otlp_translate_result r;
    CHECK_EQ_INT(run(simple(m), NULL, &r), SONDE_OK);
    CHECK_EQ_INT(r.nseries, 4);
    CHECK_SAMPLE(&r, "__name__=\"rpc_duration_seconds\",job=\"svc\",quantile=\"0.5\"", T0_MS, 0.25);
    CHECK_SAMPLE(&r, "__name__=\"rpc_duration_seconds\",job=\"svc\",quantile=\"0.99\"", T0_MS,
                 1.75);
    CHECK_SAMPLE(&r, "__name__=\"rpc_duration_seconds_sum\",job=\"svc\"", T0_MS, 55.5);
    CHECK_SAMPLE(&r, "__name__=\"rpc_duration_seconds_count\",job=\"svc\"", T0_MS, 100.0);
}

static void test_no_recorded_value(void)
{
    pb_ndp *g = ndp(5, T0);
    g->flags = 1;
    static const double bounds[] = {1};
    pb_hdp *h = hdp(T0, 2, 1, 3, 1, bounds, 2, (const uint64_t[]){1, 1});
    h->flags = 1;
    pb_request *req = request(resource(scope(NULL, NULL, gauge("g", "", g, NULL),
                                             histogram("h", "", CUMULATIVE, h), NULL),
                                       kvs("service.name", "svc"), NULL),
                              NULL);
    otlp_translate_result r;
    CHECK_EQ_INT(run(req, NULL, &r), SONDE_OK);
    CHECK_EQ_INT(r.nseries, 5);
    for (size_t i = 0; i < r.nseries; i++) {
        CHECK_EQ_INT(r.series[i].nsamples, 1);
        CHECK(is_stale(r.series[i].samples[0].value));
        CHECK_EQ_INT(r.series[i].samples[0].ts_ms, T0_MS);
    }
}

static void test_keep_names(void)
{
    pb_ndp *p = ndp(3, T0);
    ATTRS(p, kvs("http.request.method", "GET"), kvs("Ünïcode", "ok"));
    pb_request *req = request(
        resource(scope("lib", "", sum("http.server.active_requests", "{request}", 1, CUMULATIVE, p),
                       NULL),
                 kvs("service.name", "svc"), kvs("host.name", "h"), NULL),
        NULL);
    otlp_translate_config cfg = {.keep_names = true};
    otlp_translate_result r;
    CHECK_EQ_INT(run(req, &cfg, &r), SONDE_OK);
    CHECK_SAMPLE(&r,
                 "__name__=\"http.server.active_requests\",http.request.method=\"GET\","
                 "job=\"svc\",otel_scope_name=\"lib\",Ünïcode=\"ok\"",
                 T0_MS, 3.0);
    CHECK_SAMPLE(&r, "__name__=\"target_info\",host.name=\"h\",job=\"svc\"", T0_MS, 1.0);
}

static void test_rejected(void)
{
    static const double bounds[] = {1, 2, 3};
    pb_hdp *bad = hdp(T0, 3, 0, 0, 3, bounds, 2, (const uint64_t[]){1, 2});
    pb_hdp *unsorted = hdp(T0, 3, 0, 0, 2, (const double[]){2, 1}, 3, (const uint64_t[]){1, 1, 1});
    pb_ndp *badkey = ndp(1, T0);
    ATTRS(badkey, kvs("__", "x"));
    pb_request *req = request(
        resource(scope(NULL, NULL, histogram("h", "", CUMULATIVE, bad),
                       histogram("h2", "", CUMULATIVE, unsorted), gauge("", "", ndp(1, T0), NULL),
                       gauge("@@@", "", ndp(1, T0), ndp(2, T0), NULL),
                       gauge("good", "", badkey, ndp(7, T0), NULL), NULL),
                 kvs("service.name", "svc"), NULL),
        NULL);
    otlp_translate_result r;
    CHECK_EQ_INT(run(req, NULL, &r), SONDE_OK);
    CHECK_EQ_INT(r.rejected_points, 6);
    CHECK(strstr(r.msg, "bucket_counts") != NULL);
    CHECK(strstr(r.msg, "\"h\"") != NULL);
    CHECK_EQ_INT(r.nseries, 1);
    CHECK_SAMPLE(&r, "__name__=\"good\",job=\"svc\"", T0_MS, 7.0);
}

static void test_merge_and_order(void)
{
    /* the same label set from two points (and two metrics): one series,
     * ascending time, the last sample of a timestamp wins */
    pb_request *req = simple(gauge("g", "", ndp(3, T0 + 2000000), ndp(1, T0), ndp(2, T0 + 1000000),
                                   ndp(9, T0 + 1000000), NULL));
    otlp_translate_result r;
    CHECK_EQ_INT(run(req, NULL, &r), SONDE_OK);
    CHECK_EQ_INT(r.nseries, 1);
    const sonde_series *s = find(&r, "__name__=\"g\",job=\"svc\"");
    CHECK(s != NULL);
    if (s) {
        CHECK_EQ_INT(s->nsamples, 3);
        CHECK_EQ_INT(s->samples[0].ts_ms, T0_MS);
        CHECK(s->samples[0].value == 1);
        CHECK_EQ_INT(s->samples[1].ts_ms, T0_MS + 1);
        CHECK(s->samples[1].value == 9);
        CHECK_EQ_INT(s->samples[2].ts_ms, T0_MS + 2);
        CHECK(s->samples[2].value == 3);
    }
    CHECK_EQ_INT(r.nsamples, 3);

    /* a delta and a cumulative metric that land on one label set: the
     * second is rejected rather than mixing the two in one series */
    arena_reset(A);
    req = request(resource(scope(NULL, NULL, sum("c", "", 1, CUMULATIVE, ndp(1, T0)),
                                 sum("c_total", "", 1, DELTA, ndp(1, T0 + 1000000)), NULL),
                           kvs("service.name", "svc"), NULL),
                  NULL);
    CHECK_EQ_INT(run(req, NULL, &r), SONDE_OK);
    CHECK_EQ_INT(r.nseries, 1);
    CHECK_EQ_INT(r.rejected_points, 1);
    CHECK(strstr(r.msg, "delta") != NULL);
}

static void test_scope_labels(void)
{
    pb_sm *sm = scope("io.lib", "2.0", gauge("g", "", ndp(1, T0), NULL), NULL);
    sm->schema_url = "https://opentelemetry.io/schemas/1.26.0";
    sm->scope->attributes = (pb_kv **)list(&sm->scope->n_attributes, kvs("lib.feature", "x"),
                                           kvs("name", "dropped"), NULL);
    pb_request *req = request(resource(sm, kvs("service.name", "svc"), NULL), NULL);
    otlp_translate_result r;
    CHECK_EQ_INT(run(req, NULL, &r), SONDE_OK);
    CHECK_SAMPLE(&r,
                 "__name__=\"g\",job=\"svc\",otel_scope_lib_feature=\"x\","
                 "otel_scope_name=\"io.lib\","
                 "otel_scope_schema_url=\"https://opentelemetry.io/schemas/1.26.0\","
                 "otel_scope_version=\"2.0\"",
                 T0_MS, 1.0);
}

static void test_empty(void)
{
    pb_request req =
        OPENTELEMETRY__PROTO__COLLECTOR__METRICS__V1__EXPORT_METRICS_SERVICE_REQUEST__INIT;
    otlp_translate_result r;
    CHECK_EQ_INT(otlp_metrics_translate(A, &req, NULL, &r), SONDE_OK);
    CHECK_EQ_INT(r.nseries, 0);
    CHECK_EQ_INT(otlp_metrics_translate(A, NULL, NULL, &r), SONDE_ERR_INVALID);
}

static void test_rollback(void)
{
    /* The histogram's +Inf bucket lands on the label set of an earlier
     * cumulative gauge: its point is rejected and the series it had already
     * created (h_count, h_bucket{le="1"}) are removed; a later metric can
     * create them again. */
    pb_ndp *g = ndp(1, T0);
    ATTRS(g, kvs("le", "+Inf"));
    static const double bounds[] = {1};
    pb_hdp *h = hdp(T0, 2, 0, 0, 1, bounds, 2, (const uint64_t[]){1, 1});
    pb_request *req = request(
        resource(scope(NULL, NULL, gauge("h_bucket", "", g, NULL), histogram("h", "", DELTA, h),
                       gauge("h_count", "", ndp(5, T0), NULL), NULL),
                 kvs("service.name", "svc"), NULL),
        NULL);
    otlp_translate_result r;
    CHECK_EQ_INT(run(req, NULL, &r), SONDE_OK);
    CHECK_EQ_INT(r.rejected_points, 1);
    CHECK_EQ_INT(r.nseries, 2);
    CHECK_SAMPLE(&r, "__name__=\"h_bucket\",job=\"svc\",le=\"+Inf\"", T0_MS, 1.0);
    CHECK_SAMPLE(&r, "__name__=\"h_count\",job=\"svc\"", T0_MS, 5.0);
    CHECK(find(&r, "__name__=\"h_bucket\",job=\"svc\",le=\"1\"") == NULL);
    for (size_t i = 0; i < r.nseries; i++)
        CHECK(!r.delta[i]);
}

static void test_many(void)
{
    /* 40 attributes (several colliding) and 40 points of one series given
     * in reverse time order: the merge-sort paths */
    pb_ndp *pts[41];
    for (int i = 0; i < 40; i++) {
        pts[i] = ndp(i, T0 + (uint64_t)(40 - i) * 1000000);
        pb_kv **a = alloc(40 * sizeof *a);
        for (int k = 0; k < 40; k++) {
            char *key = alloc(16), *val = alloc(16);
            /* keys "k.00".."k.19" and "k_00".."k_19" collide pairwise */
            snprintf(key, 16, "k%c%02d", k % 2 ? '.' : '_', 19 - k / 2);
            snprintf(val, 16, "%c", k % 2 ? 'd' : 'u');
            a[k] = kvs(key, val);
        }
        pts[i]->attributes = a;
        pts[i]->n_attributes = 40;
    }
    pts[40] = NULL;
    pb_metric *m = metric("g", "");
    m->data_case = OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_GAUGE;
    m->gauge = NEW(Opentelemetry__Proto__Metrics__V1__Gauge,
                   OPENTELEMETRY__PROTO__METRICS__V1__GAUGE__INIT);
    m->gauge->data_points = pts;
    m->gauge->n_data_points = 40;
    otlp_translate_result r;
    CHECK_EQ_INT(run(simple(m), NULL, &r), SONDE_OK);
    CHECK_EQ_INT(r.nseries, 1);
    if (r.nseries == 1) {
        const sonde_series *s = &r.series[0];
        CHECK_EQ_INT(s->nlabels, 22); /* __name__, job, k_00..k_19 */
        CHECK_EQ_INT(s->nsamples, 40);
        /* "k.NN" sorts before "k_NN": its value comes first */
        const sonde_label *l = series_labels_get(s->labels, s->nlabels, "k_07", 4);
        CHECK(l && strcmp(l->value, "d;u") == 0);
        for (uint32_t i = 0; i < s->nsamples; i++) {
            CHECK_EQ_INT(s->samples[i].ts_ms, T0_MS + 1 + i);
            CHECK(s->samples[i].value == 39 - (double)i);
        }
    }
}

#define RUN_RESET(fn)                                                                              \
    do {                                                                                           \
        arena_reset(A);                                                                            \
        RUN(fn);                                                                                   \
    } while (0)

int main(void)
{
    A = arena_create(1 << 16, 0);
    RUN_RESET(test_metric_names);
    RUN_RESET(test_label_names);
    RUN_RESET(test_values);
    RUN_RESET(test_job_instance_target_info);
    RUN_RESET(test_label_collisions);
    RUN_RESET(test_promote);
    RUN_RESET(test_sums);
    RUN_RESET(test_start_times);
    RUN_RESET(test_histogram);
    RUN_RESET(test_exphist_buckets);
    RUN_RESET(test_exphist_series);
    RUN_RESET(test_summary);
    RUN_RESET(test_no_recorded_value);
    RUN_RESET(test_keep_names);
    RUN_RESET(test_rejected);
    RUN_RESET(test_merge_and_order);
    RUN_RESET(test_scope_labels);
    RUN_RESET(test_empty);
    RUN_RESET(test_rollback);
    RUN_RESET(test_many);
    arena_destroy(A);
    return TEST_DONE();
}
