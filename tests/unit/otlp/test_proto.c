/* test_proto.c - otlp_request_decode on protobuf bodies: a round trip for
 * each signal (built with protobuf-c, packed, decoded, packed again), the
 * nesting-depth bomb, UTF-8 and NUL checks, id sizes, caps, framing errors,
 * the arena cap, and item counting. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ingest/otlp/otlp.h"
#include "otlp_logs_service.pb-c.h"
#include "otlp_metrics_service.pb-c.h"
#include "otlp_trace_service.pb-c.h"
#include "test.h"

typedef Opentelemetry__Proto__Common__V1__AnyValue AnyValue;
typedef Opentelemetry__Proto__Common__V1__KeyValue KeyValue;

static char err[1024];

static uint8_t *pack(const ProtobufCMessage *m, size_t *len)
{
    *len = protobuf_c_message_get_packed_size(m);
    uint8_t *p = malloc(*len ? *len : 1);
    protobuf_c_message_pack(m, p);
    return p;
}

static sonde_status decode(arena *a, otlp_signal sig, const uint8_t *b, size_t n,
                           const otlp_limits *lim, void **out)
{
    err[0] = 0;
    return otlp_request_decode(a, sig, OTLP_FORMAT_PROTOBUF, b, n, lim, out, err, sizeof err);
}

/* ---- a trace request with one span, an event and a link ---- */

static uint8_t tid[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
static uint8_t sid[8] = {0xa, 0xb, 0xc, 0xd, 0xe, 0xf, 0x10, 0x11};

typedef struct trace_fixture {
    Opentelemetry__Proto__Collector__Trace__V1__ExportTraceServiceRequest req;
    Opentelemetry__Proto__Trace__V1__ResourceSpans rs, *rsp;
    Opentelemetry__Proto__Resource__V1__Resource res;
    Opentelemetry__Proto__Trace__V1__ScopeSpans ss, *ssp;
    Opentelemetry__Proto__Common__V1__InstrumentationScope scope;
    Opentelemetry__Proto__Trace__V1__Span span, *spanp;
    Opentelemetry__Proto__Trace__V1__Span__Event ev, *evp;
    Opentelemetry__Proto__Trace__V1__Span__Link link, *linkp;
    Opentelemetry__Proto__Trace__V1__Status status;
    KeyValue kv[2], *kvp[2];
    AnyValue av[2];
} trace_fixture;

static void trace_fixture_init(trace_fixture *f)
{
    memset(f, 0, sizeof *f);
    f->req = (Opentelemetry__Proto__Collector__Trace__V1__ExportTraceServiceRequest)
        OPENTELEMETRY__PROTO__COLLECTOR__TRACE__V1__EXPORT_TRACE_SERVICE_REQUEST__INIT;
    f->rs = (Opentelemetry__Proto__Trace__V1__ResourceSpans)
        OPENTELEMETRY__PROTO__TRACE__V1__RESOURCE_SPANS__INIT;
    f->res = (Opentelemetry__Proto__Resource__V1__Resource)
        OPENTELEMETRY__PROTO__RESOURCE__V1__RESOURCE__INIT;
    f->ss = (Opentelemetry__Proto__Trace__V1__ScopeSpans)
        OPENTELEMETRY__PROTO__TRACE__V1__SCOPE_SPANS__INIT;
    f->scope = (Opentelemetry__Proto__Common__V1__InstrumentationScope)
        OPENTELEMETRY__PROTO__COMMON__V1__INSTRUMENTATION_SCOPE__INIT;
    f->span = (Opentelemetry__Proto__Trace__V1__Span)OPENTELEMETRY__PROTO__TRACE__V1__SPAN__INIT;
    f->ev = (Opentelemetry__Proto__Trace__V1__Span__Event)
        OPENTELEMETRY__PROTO__TRACE__V1__SPAN__EVENT__INIT;
    f->link = (Opentelemetry__Proto__Trace__V1__Span__Link)
        OPENTELEMETRY__PROTO__TRACE__V1__SPAN__LINK__INIT;
    f->status =
        (Opentelemetry__Proto__Trace__V1__Status)OPENTELEMETRY__PROTO__TRACE__V1__STATUS__INIT;
    for (int i = 0; i < 2; i++) {
        f->kv[i] = (KeyValue)OPENTELEMETRY__PROTO__COMMON__V1__KEY_VALUE__INIT;
        f->av[i] = (AnyValue)OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__INIT;
        f->kv[i].value = &f->av[i];
        f->kvp[i] = &f->kv[i];
    }
    f->kv[0].key = "service.name";
    f->av[0].value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_STRING_VALUE;
    f->av[0].string_value = "checkout";
    f->kv[1].key = "http.status_code";
    f->av[1].value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_INT_VALUE;
    f->av[1].int_value = 503;

    f->res.n_attributes = 1;
    f->res.attributes = &f->kvp[0];
    f->scope.name = "io.test";
    f->scope.version = "1.2";
    f->span.trace_id = (ProtobufCBinaryData){16, tid};
    f->span.span_id = (ProtobufCBinaryData){8, sid};
    f->span.name = "GET /cart";
    f->span.kind = OPENTELEMETRY__PROTO__TRACE__V1__SPAN__SPAN_KIND__SPAN_KIND_SERVER;
    f->span.start_time_unix_nano = 1700000000000000001ull;
    f->span.end_time_unix_nano = 1700000000500000000ull;
    f->span.n_attributes = 1;
    f->span.attributes = &f->kvp[1];
    f->ev.name = "exception";
    f->ev.time_unix_nano = 1700000000100000000ull;
    f->evp = &f->ev;
    f->span.n_events = 1;
    f->span.events = &f->evp;
    f->link.trace_id = (ProtobufCBinaryData){16, tid};
    f->link.span_id = (ProtobufCBinaryData){8, sid};
    f->linkp = &f->link;
    f->span.n_links = 1;
    f->span.links = &f->linkp;
    f->status.code = OPENTELEMETRY__PROTO__TRACE__V1__STATUS__STATUS_CODE__STATUS_CODE_ERROR;
    f->status.message = "boom";
    f->span.status = &f->status;

    f->spanp = &f->span;
    f->ss.scope = &f->scope;
    f->ss.n_spans = 1;
    f->ss.spans = &f->spanp;
    f->ssp = &f->ss;
    f->rs.resource = &f->res;
    f->rs.n_scope_spans = 1;
    f->rs.scope_spans = &f->ssp;
    f->rsp = &f->rs;
    f->req.n_resource_spans = 1;
    f->req.resource_spans = &f->rsp;
}

static void test_trace_round_trip(void)
{
    trace_fixture f;
    trace_fixture_init(&f);
    size_t n;
    uint8_t *body = pack(&f.req.base, &n);
    arena *a = arena_create(4096, 1 << 20);
    void *out = NULL;
    CHECK_EQ_INT(decode(a, OTLP_SIGNAL_TRACES, body, n, NULL, &out), SONDE_OK);
    Opentelemetry__Proto__Collector__Trace__V1__ExportTraceServiceRequest *r = out;
    CHECK_EQ_INT(otlp_request_items(OTLP_SIGNAL_TRACES, out), 1);
    const Opentelemetry__Proto__Trace__V1__Span *s = r->resource_spans[0]->scope_spans[0]->spans[0];
    CHECK_EQ_STR(s->name, "GET /cart");
    CHECK(s->trace_id.len == 16 && memcmp(s->trace_id.data, tid, 16) == 0);
    CHECK(s->start_time_unix_nano == 1700000000000000001ull);
    CHECK_EQ_INT(s->attributes[0]->value->int_value, 503);
    CHECK_EQ_STR(s->events[0]->name, "exception");
    CHECK_EQ_STR(s->status->message, "boom");
    CHECK_EQ_STR(r->resource_spans[0]->resource->attributes[0]->value->string_value, "checkout");
    uint8_t *again;
    size_t again_n;
    CHECK_EQ_INT(otlp_request_pack(a, OTLP_SIGNAL_TRACES, out, &again, &again_n), SONDE_OK);
    CHECK(again_n == n && memcmp(again, body, n) == 0);
    free(body);
    arena_destroy(a);
}

static void test_trace_ids_checked(void)
{
    trace_fixture f;
    trace_fixture_init(&f);
    arena *a = arena_create(4096, 1 << 20);
    void *out;
    size_t n;
    uint8_t *body;

    f.span.trace_id.len = 15; /* wrong size: rejected on the wire */
    body = pack(&f.req.base, &n);
    CHECK_EQ_INT(decode(a, OTLP_SIGNAL_TRACES, body, n, NULL, &out), SONDE_ERR_INVALID);
    CHECK(strstr(err, "resourceSpans[0].scopeSpans[0].spans[0].traceId") != NULL);
    free(body);

    f.span.trace_id.len = 0; /* a span must have one */
    body = pack(&f.req.base, &n);
    CHECK_EQ_INT(decode(a, OTLP_SIGNAL_TRACES, body, n, NULL, &out), SONDE_ERR_INVALID);
    CHECK(strstr(err, "spans[0].traceId") != NULL);
    free(body);

    f.span.trace_id.len = 16;
    f.link.span_id.len = 0;
    body = pack(&f.req.base, &n);
    CHECK_EQ_INT(decode(a, OTLP_SIGNAL_TRACES, body, n, NULL, &out), SONDE_ERR_INVALID);
    CHECK(strstr(err, "links[0].spanId") != NULL);
    free(body);

    f.link.span_id.len = 8;
    f.span.parent_span_id = (ProtobufCBinaryData){3, sid};
    body = pack(&f.req.base, &n);
    CHECK_EQ_INT(decode(a, OTLP_SIGNAL_TRACES, body, n, NULL, &out), SONDE_ERR_INVALID);
    CHECK(strstr(err, "parentSpanId") != NULL);
    free(body);
    arena_destroy(a);
}

static void test_invalid_utf8_and_nul(void)
{
    trace_fixture f;
    trace_fixture_init(&f);
    arena *a = arena_create(4096, 1 << 20);
    void *out;
    size_t n;
    f.span.name = "bad \xc3\x28 name";
    uint8_t *body = pack(&f.req.base, &n);
    CHECK_EQ_INT(decode(a, OTLP_SIGNAL_TRACES, body, n, NULL, &out), SONDE_ERR_INVALID);
    CHECK(strstr(err, "spans[0].name") && strstr(err, "UTF-8"));
    free(body);

    f.span.name = "ok";
    f.av[1].value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_STRING_VALUE;
    f.av[1].string_value = "\xed\xa0\x80"; /* a surrogate */
    body = pack(&f.req.base, &n);
    CHECK_EQ_INT(decode(a, OTLP_SIGNAL_TRACES, body, n, NULL, &out), SONDE_ERR_INVALID);
    CHECK(strstr(err, "spans[0].attributes[0].value.stringValue") != NULL);
    free(body);

    /* an embedded NUL would be truncated by protobuf-c's C strings */
    f.av[1].string_value = "ab";
    body = pack(&f.req.base, &n);
    uint8_t *p = memmem(body, n, "ab", 2);
    CHECK(p != NULL);
    if (p)
        p[1] = 0;
    CHECK_EQ_INT(decode(a, OTLP_SIGNAL_TRACES, body, n, NULL, &out), SONDE_ERR_INVALID);
    CHECK(strstr(err, "NUL") != NULL);
    free(body);
    arena_destroy(a);
}

static void test_limits(void)
{
    trace_fixture f;
    trace_fixture_init(&f);
    arena *a = arena_create(4096, 1 << 20);
    void *out;
    size_t n;
    otlp_limits lim;
    otlp_limits_defaults(&lim);
    CHECK(lim.max_depth == 32 && lim.max_attrs == 1024 && lim.max_str == 1 << 20);

    uint8_t *body = pack(&f.req.base, &n);
    lim.max_str = 4;
    CHECK_EQ_INT(decode(a, OTLP_SIGNAL_TRACES, body, n, &lim, &out), SONDE_ERR_LIMIT);
    CHECK(strstr(err, "max_str") != NULL);
    otlp_limits_defaults(&lim);
    lim.max_decoded = n - 1;
    CHECK_EQ_INT(decode(a, OTLP_SIGNAL_TRACES, body, n, &lim, &out), SONDE_ERR_LIMIT);
    free(body);

    KeyValue *many[3] = {&f.kv[0], &f.kv[1], &f.kv[0]};
    f.span.n_attributes = 3;
    f.span.attributes = many;
    body = pack(&f.req.base, &n);
    otlp_limits_defaults(&lim);
    lim.max_attrs = 2;
    CHECK_EQ_INT(decode(a, OTLP_SIGNAL_TRACES, body, n, &lim, &out), SONDE_ERR_LIMIT);
    CHECK(strstr(err, "spans[0].attributes: more than 2 attributes") != NULL);
    lim.max_attrs = 3;
    CHECK_EQ_INT(decode(a, OTLP_SIGNAL_TRACES, body, n, &lim, &out), SONDE_OK);

    /* the arena cap is NOMEM, not bad input (the cap is below what this
     * request needs with 8-byte-rounded allocations) */
    arena *tiny = arena_create(256, 512);
    CHECK_EQ_INT(decode(tiny, OTLP_SIGNAL_TRACES, body, n, NULL, &out), SONDE_ERR_NOMEM);
    arena_destroy(tiny);
    free(body);
    arena_destroy(a);
}

static void test_malformed(void)
{
    arena *a = arena_create(4096, 1 << 20);
    void *out;
    static const uint8_t trunc_len[] = {0x0a, 0x05, 0x0a, 0x01};    /* length past the end */
    static const uint8_t trunc_varint[] = {0x0a, 0x80};             /* varint cut short */
    static const uint8_t group[] = {0x0b, 0x0c};                    /* group wire type */
    static const uint8_t wrong_wt[] = {0x08, 0x01};                 /* resource_spans as varint */
    static const uint8_t field0[] = {0x02, 0x00};                   /* field number 0 */
    static const uint8_t unknown[] = {0x10, 0x01, 0x1a, 0x01, 'x'}; /* unknown fields: skipped */
    CHECK_EQ_INT(decode(a, OTLP_SIGNAL_TRACES, trunc_len, sizeof trunc_len, NULL, &out),
                 SONDE_ERR_INVALID);
    CHECK(strstr(err, "truncated") != NULL);
    CHECK_EQ_INT(decode(a, OTLP_SIGNAL_TRACES, trunc_varint, sizeof trunc_varint, NULL, &out),
                 SONDE_ERR_INVALID);
    CHECK_EQ_INT(decode(a, OTLP_SIGNAL_LOGS, group, sizeof group, NULL, &out), SONDE_ERR_INVALID);
    CHECK_EQ_INT(decode(a, OTLP_SIGNAL_METRICS, wrong_wt, sizeof wrong_wt, NULL, &out),
                 SONDE_ERR_INVALID);
    CHECK(strstr(err, "wire type") != NULL);
    CHECK_EQ_INT(decode(a, OTLP_SIGNAL_METRICS, field0, sizeof field0, NULL, &out),
                 SONDE_ERR_INVALID);
    CHECK_EQ_INT(decode(a, OTLP_SIGNAL_METRICS, unknown, sizeof unknown, NULL, &out), SONDE_OK);
    CHECK_EQ_INT(otlp_request_items(OTLP_SIGNAL_METRICS, out), 0);
    /* the empty request is valid */
    CHECK_EQ_INT(decode(a, OTLP_SIGNAL_LOGS, NULL, 0, NULL, &out), SONDE_OK);
    CHECK_EQ_INT(otlp_request_items(OTLP_SIGNAL_LOGS, out), 0);
    arena_destroy(a);
}

/* ---- depth bomb: a log body AnyValue -> ArrayValue -> AnyValue ... ---- */

static size_t varint_len(size_t v)
{
    size_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

static uint8_t *put_varint(uint8_t *p, size_t v)
{
    while (v >= 0x80) {
        *p++ = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    *p++ = (uint8_t)v;
    return p;
}

/* Builds ExportLogsServiceRequest{resource_logs{scope_logs{log_records{body:
 * AnyValue nested `levels` AnyValue/ArrayValue pairs deep}}}} by hand. */
static uint8_t *depth_bomb(size_t levels, size_t *out_n)
{
    size_t nwrap = 4 + 2 * levels; /* outer messages + (AnyValue.array_value, ArrayValue.values) */
    uint8_t *tags = malloc(nwrap);
    size_t *lens = malloc((nwrap + 1) * sizeof(size_t));
    tags[0] = 0x0a; /* request.resource_logs = 1 */
    tags[1] = 0x12; /* ResourceLogs.scope_logs = 2 */
    tags[2] = 0x12; /* ScopeLogs.log_records = 2 */
    tags[3] = 0x2a; /* LogRecord.body = 5 */
    for (size_t i = 0; i < levels; i++) {
        tags[4 + 2 * i] = 0x2a;     /* AnyValue.array_value = 5 */
        tags[4 + 2 * i + 1] = 0x0a; /* ArrayValue.values = 1 */
    }
    lens[nwrap] = 0; /* the innermost AnyValue is empty */
    for (size_t i = nwrap; i-- > 0;)
        lens[i] = 1 + varint_len(lens[i + 1]) + lens[i + 1];
    uint8_t *body = malloc(lens[0]), *p = body;
    for (size_t i = 0; i < nwrap; i++) {
        *p++ = tags[i];
        p = put_varint(p, lens[i + 1]);
    }
    *out_n = lens[0];
    free(tags);
    free(lens);
    return body;
}

static void test_depth_bomb(void)
{
    size_t n;
    uint8_t *body = depth_bomb(100000, &n);
    arena *a = arena_create(4096, 64 << 20);
    void *out;
    CHECK_EQ_INT(decode(a, OTLP_SIGNAL_LOGS, body, n, NULL, &out), SONDE_ERR_LIMIT);
    CHECK(strstr(err, "max_depth") != NULL);
    free(body);

    /* shallow nesting of the same shape is fine: depth 5 + 2 per level <= 32 */
    body = depth_bomb(13, &n);
    CHECK_EQ_INT(decode(a, OTLP_SIGNAL_LOGS, body, n, NULL, &out), SONDE_OK);
    CHECK_EQ_INT(otlp_request_items(OTLP_SIGNAL_LOGS, out), 1);
    free(body);
    body = depth_bomb(14, &n);
    CHECK_EQ_INT(decode(a, OTLP_SIGNAL_LOGS, body, n, NULL, &out), SONDE_ERR_LIMIT);
    CHECK(strstr(err, "resourceLogs[0].scopeLogs[0].logRecords[0].body.arrayValue.values[0]") !=
          NULL);
    free(body);
    arena_destroy(a);
}

/* ---- metrics: every data type, optional sum/min/max as oneofs ---- */

static void test_metrics_round_trip(void)
{
    KeyValue kv = OPENTELEMETRY__PROTO__COMMON__V1__KEY_VALUE__INIT, *kvp = &kv;
    AnyValue av = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__INIT;
    kv.key = "route";
    kv.value = &av;
    av.value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_STRING_VALUE;
    av.string_value = "/cart";

    Opentelemetry__Proto__Metrics__V1__NumberDataPoint
        np = OPENTELEMETRY__PROTO__METRICS__V1__NUMBER_DATA_POINT__INIT,
        *npp = &np;
    np.n_attributes = 1;
    np.attributes = &kvp;
    np.time_unix_nano = 1700000000000000000ull;
    np.value_case = OPENTELEMETRY__PROTO__METRICS__V1__NUMBER_DATA_POINT__VALUE_AS_INT;
    np.as_int = -42;
    Opentelemetry__Proto__Metrics__V1__Sum sum = OPENTELEMETRY__PROTO__METRICS__V1__SUM__INIT;
    sum.n_data_points = 1;
    sum.data_points = &npp;
    sum.is_monotonic = 1;
    sum.aggregation_temporality =
        OPENTELEMETRY__PROTO__METRICS__V1__AGGREGATION_TEMPORALITY__AGGREGATION_TEMPORALITY_DELTA;

    Opentelemetry__Proto__Metrics__V1__Gauge gauge = OPENTELEMETRY__PROTO__METRICS__V1__GAUGE__INIT;
    Opentelemetry__Proto__Metrics__V1__NumberDataPoint
        gp = OPENTELEMETRY__PROTO__METRICS__V1__NUMBER_DATA_POINT__INIT,
        *gpp[2] = {&gp, &gp};
    gp.value_case = OPENTELEMETRY__PROTO__METRICS__V1__NUMBER_DATA_POINT__VALUE_AS_DOUBLE;
    gp.as_double = 0.25;
    gauge.n_data_points = 2;
    gauge.data_points = gpp;

    Opentelemetry__Proto__Metrics__V1__HistogramDataPoint
        hp = OPENTELEMETRY__PROTO__METRICS__V1__HISTOGRAM_DATA_POINT__INIT,
        *hpp = &hp;
    uint64_t counts[3] = {1, 2, 3};
    double bounds[2] = {0.1, 1};
    hp.count = 6;
    hp.sum_present_case = OPENTELEMETRY__PROTO__METRICS__V1__HISTOGRAM_DATA_POINT__SUM_PRESENT_SUM;
    hp.sum = 4.5;
    hp.max_present_case = OPENTELEMETRY__PROTO__METRICS__V1__HISTOGRAM_DATA_POINT__MAX_PRESENT_MAX;
    hp.max = 2;
    hp.n_bucket_counts = 3;
    hp.bucket_counts = counts;
    hp.n_explicit_bounds = 2;
    hp.explicit_bounds = bounds;
    Opentelemetry__Proto__Metrics__V1__Histogram hist =
        OPENTELEMETRY__PROTO__METRICS__V1__HISTOGRAM__INIT;
    hist.n_data_points = 1;
    hist.data_points = &hpp;

    Opentelemetry__Proto__Metrics__V1__ExponentialHistogramDataPoint
        ep = OPENTELEMETRY__PROTO__METRICS__V1__EXPONENTIAL_HISTOGRAM_DATA_POINT__INIT,
        *epp = &ep;
    Opentelemetry__Proto__Metrics__V1__ExponentialHistogramDataPoint__Buckets pos =
        OPENTELEMETRY__PROTO__METRICS__V1__EXPONENTIAL_HISTOGRAM_DATA_POINT__BUCKETS__INIT;
    uint64_t ecounts[2] = {5, 7};
    pos.offset = -3;
    pos.n_bucket_counts = 2;
    pos.bucket_counts = ecounts;
    ep.scale = -2;
    ep.count = 12;
    ep.positive = &pos;
    Opentelemetry__Proto__Metrics__V1__ExponentialHistogram eh =
        OPENTELEMETRY__PROTO__METRICS__V1__EXPONENTIAL_HISTOGRAM__INIT;
    eh.n_data_points = 1;
    eh.data_points = &epp;

    Opentelemetry__Proto__Metrics__V1__SummaryDataPoint
        sp = OPENTELEMETRY__PROTO__METRICS__V1__SUMMARY_DATA_POINT__INIT,
        *spp = &sp;
    Opentelemetry__Proto__Metrics__V1__SummaryDataPoint__ValueAtQuantile
        q = OPENTELEMETRY__PROTO__METRICS__V1__SUMMARY_DATA_POINT__VALUE_AT_QUANTILE__INIT,
        *qp = &q;
    q.quantile = 0.99;
    q.value = NAN;
    sp.n_quantile_values = 1;
    sp.quantile_values = &qp;
    Opentelemetry__Proto__Metrics__V1__Summary summ =
        OPENTELEMETRY__PROTO__METRICS__V1__SUMMARY__INIT;
    summ.n_data_points = 1;
    summ.data_points = &spp;

    Opentelemetry__Proto__Metrics__V1__Metric m[5], *mp[5];
    for (int i = 0; i < 5; i++) {
        m[i] = (Opentelemetry__Proto__Metrics__V1__Metric)
            OPENTELEMETRY__PROTO__METRICS__V1__METRIC__INIT;
        mp[i] = &m[i];
    }
    m[0].name = "requests";
    m[0].data_case = OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_SUM;
    m[0].sum = &sum;
    m[1].name = "load";
    m[1].data_case = OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_GAUGE;
    m[1].gauge = &gauge;
    m[2].name = "latency";
    m[2].unit = "s";
    m[2].data_case = OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_HISTOGRAM;
    m[2].histogram = &hist;
    m[3].name = "size";
    m[3].data_case = OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_EXPONENTIAL_HISTOGRAM;
    m[3].exponential_histogram = &eh;
    m[4].name = "rpc";
    m[4].data_case = OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_SUMMARY;
    m[4].summary = &summ;

    Opentelemetry__Proto__Metrics__V1__ScopeMetrics
        sm = OPENTELEMETRY__PROTO__METRICS__V1__SCOPE_METRICS__INIT,
        *smp = &sm;
    sm.n_metrics = 5;
    sm.metrics = mp;
    Opentelemetry__Proto__Metrics__V1__ResourceMetrics
        rm = OPENTELEMETRY__PROTO__METRICS__V1__RESOURCE_METRICS__INIT,
        *rmp = &rm;
    rm.n_scope_metrics = 1;
    rm.scope_metrics = &smp;
    Opentelemetry__Proto__Collector__Metrics__V1__ExportMetricsServiceRequest req =
        OPENTELEMETRY__PROTO__COLLECTOR__METRICS__V1__EXPORT_METRICS_SERVICE_REQUEST__INIT;
    req.n_resource_metrics = 1;
    req.resource_metrics = &rmp;

    size_t n;
    uint8_t *body = pack(&req.base, &n);
    arena *a = arena_create(4096, 1 << 20);
    void *out;
    CHECK_EQ_INT(decode(a, OTLP_SIGNAL_METRICS, body, n, NULL, &out), SONDE_OK);
    CHECK_EQ_INT(otlp_request_items(OTLP_SIGNAL_METRICS, out), 6);
    Opentelemetry__Proto__Collector__Metrics__V1__ExportMetricsServiceRequest *r = out;
    Opentelemetry__Proto__Metrics__V1__Metric **ms =
        r->resource_metrics[0]->scope_metrics[0]->metrics;
    CHECK_EQ_INT(ms[0]->sum->data_points[0]->as_int, -42);
    CHECK_EQ_INT(ms[0]->sum->aggregation_temporality, 1);
    CHECK_EQ_STR(ms[0]->sum->data_points[0]->attributes[0]->value->string_value, "/cart");
    const Opentelemetry__Proto__Metrics__V1__HistogramDataPoint *h =
        ms[2]->histogram->data_points[0];
    CHECK_EQ_INT(h->sum_present_case,
                 OPENTELEMETRY__PROTO__METRICS__V1__HISTOGRAM_DATA_POINT__SUM_PRESENT_SUM);
    CHECK(h->sum == 4.5);
    CHECK_EQ_INT(h->min_present_case,
                 OPENTELEMETRY__PROTO__METRICS__V1__HISTOGRAM_DATA_POINT__MIN_PRESENT__NOT_SET);
    CHECK(h->max == 2);
    CHECK_EQ_INT(h->n_bucket_counts, 3);
    CHECK_EQ_INT(ms[3]->exponential_histogram->data_points[0]->positive->offset, -3);
    CHECK_EQ_INT(ms[3]->exponential_histogram->data_points[0]->scale, -2);
    CHECK(isnan(ms[4]->summary->data_points[0]->quantile_values[0]->value));
    uint8_t *again;
    size_t again_n;
    CHECK_EQ_INT(otlp_request_pack(a, OTLP_SIGNAL_METRICS, out, &again, &again_n), SONDE_OK);
    CHECK(again_n == n && memcmp(again, body, n) == 0);
    free(body);

    /* the one-field oneof for `optional double sum` has the proto3-optional
     * wire format: field 5, fixed64, present even when 0 */
    Opentelemetry__Proto__Metrics__V1__HistogramDataPoint z =
        OPENTELEMETRY__PROTO__METRICS__V1__HISTOGRAM_DATA_POINT__INIT;
    z.sum_present_case = OPENTELEMETRY__PROTO__METRICS__V1__HISTOGRAM_DATA_POINT__SUM_PRESENT_SUM;
    z.sum = 0;
    body = pack(&z.base, &n);
    static const uint8_t want[] = {0x29, 0, 0, 0, 0, 0, 0, 0, 0};
    CHECK(n == sizeof want && memcmp(body, want, n) == 0);
    free(body);
    arena_destroy(a);
}

static void test_logs_round_trip(void)
{
    Opentelemetry__Proto__Logs__V1__LogRecord lr = OPENTELEMETRY__PROTO__LOGS__V1__LOG_RECORD__INIT,
                                              *lrp[2] = {&lr, &lr};
    AnyValue body_v = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__INIT;
    uint8_t bytes[3] = {0, 0xff, 0x80};
    body_v.value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_BYTES_VALUE;
    body_v.bytes_value = (ProtobufCBinaryData){3, bytes};
    lr.body = &body_v;
    lr.severity_number = OPENTELEMETRY__PROTO__LOGS__V1__SEVERITY_NUMBER__SEVERITY_NUMBER_WARN;
    lr.severity_text = "WARN";
    lr.time_unix_nano = 1;
    lr.observed_time_unix_nano = UINT64_MAX;
    lr.trace_id = (ProtobufCBinaryData){16, tid};
    lr.event_name = "app.started";
    Opentelemetry__Proto__Logs__V1__ScopeLogs sl = OPENTELEMETRY__PROTO__LOGS__V1__SCOPE_LOGS__INIT,
                                              *slp = &sl;
    sl.n_log_records = 2;
    sl.log_records = lrp;
    Opentelemetry__Proto__Logs__V1__ResourceLogs
        rl = OPENTELEMETRY__PROTO__LOGS__V1__RESOURCE_LOGS__INIT,
        *rlp = &rl;
    rl.n_scope_logs = 1;
    rl.scope_logs = &slp;
    rl.schema_url = "https://opentelemetry.io/schemas/1.24.0";
    Opentelemetry__Proto__Collector__Logs__V1__ExportLogsServiceRequest req =
        OPENTELEMETRY__PROTO__COLLECTOR__LOGS__V1__EXPORT_LOGS_SERVICE_REQUEST__INIT;
    req.n_resource_logs = 1;
    req.resource_logs = &rlp;

    size_t n;
    uint8_t *body = pack(&req.base, &n);
    arena *a = arena_create(4096, 1 << 20);
    void *out;
    CHECK_EQ_INT(decode(a, OTLP_SIGNAL_LOGS, body, n, NULL, &out), SONDE_OK);
    CHECK_EQ_INT(otlp_request_items(OTLP_SIGNAL_LOGS, out), 2);
    Opentelemetry__Proto__Collector__Logs__V1__ExportLogsServiceRequest *r = out;
    const Opentelemetry__Proto__Logs__V1__LogRecord *l =
        r->resource_logs[0]->scope_logs[0]->log_records[1];
    CHECK_EQ_INT(l->severity_number, 13);
    CHECK(l->observed_time_unix_nano == UINT64_MAX);
    CHECK(l->body->bytes_value.len == 3 && memcmp(l->body->bytes_value.data, bytes, 3) == 0);
    CHECK_EQ_STR(l->event_name, "app.started");
    CHECK_EQ_STR(r->resource_logs[0]->schema_url, "https://opentelemetry.io/schemas/1.24.0");
    uint8_t *again;
    size_t again_n;
    CHECK_EQ_INT(otlp_request_pack(a, OTLP_SIGNAL_LOGS, out, &again, &again_n), SONDE_OK);
    CHECK(again_n == n && memcmp(again, body, n) == 0);
    free(body);

    /* a log record's ids may be empty, but not of another size */
    lr.span_id = (ProtobufCBinaryData){7, sid};
    body = pack(&req.base, &n);
    CHECK_EQ_INT(decode(a, OTLP_SIGNAL_LOGS, body, n, NULL, &out), SONDE_ERR_INVALID);
    CHECK(strstr(err, "logRecords[0].spanId") != NULL);
    free(body);
    arena_destroy(a);
}

int main(void)
{
    RUN(test_trace_round_trip);
    RUN(test_trace_ids_checked);
    RUN(test_invalid_utf8_and_nul);
    RUN(test_limits);
    RUN(test_malformed);
    RUN(test_depth_bomb);
    RUN(test_metrics_round_trip);
    RUN(test_logs_round_trip);
    return TEST_DONE();
}
