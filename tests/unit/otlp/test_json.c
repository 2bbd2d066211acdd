/* test_json.c - the strict JSON parser (json.h) and the OTLP/JSON mapping:
 * hex ids, 64-bit integers as strings or numbers, enums as integers or
 * names, snake_case keys, NaN/Infinity, base64 bytes, unknown fields,
 * oneof conflicts, and type mismatches reported with their JSON path. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ingest/otlp/json.h"
#include "ingest/otlp/otlp.h"
#include "otlp_logs_service.pb-c.h"
#include "otlp_metrics_service.pb-c.h"
#include "otlp_trace_service.pb-c.h"
#include "test.h"

static char err[1024];

static sonde_status jdecode(arena *a, otlp_signal sig, const char *js, void **out)
{
    err[0] = 0;
    return otlp_request_decode(a, sig, OTLP_FORMAT_JSON, (const uint8_t *)js, strlen(js), NULL, out,
                               err, sizeof err);
}

static sonde_status jparse(arena *a, const char *s, json_value **v)
{
    json_limits lim = {.max_depth = 8, .max_str = 64, .max_values = 100};
    err[0] = 0;
    return json_parse(a, s, strlen(s), &lim, v, err, sizeof err);
}

static void test_parser_strict(void)
{
    arena *a = arena_create(4096, 1 << 20);
    json_value *v;
    CHECK_EQ_INT(jparse(a, " {\"a\" : [1, -2.5e3, true, false, null, \"x\"]} ", &v), SONDE_OK);
    const json_value *arr = json_object_get(v, "a");
    CHECK(arr && arr->type == JSON_ARRAY && arr->n == 6);
    CHECK(arr && arr->child->next->type == JSON_NUMBER);
    CHECK_EQ_INT(jparse(a, "\"caf\\u00e9 \\ud83d\\ude00 \\n\"", &v), SONDE_OK);
    CHECK_EQ_STR(v->s, "caf\xc3\xa9 \xf0\x9f\x98\x80 \n");
    CHECK_EQ_INT(jparse(a, "\"a\\u0000b\"", &v), SONDE_OK);
    CHECK_EQ_INT(v->len, 3);

    static const char *const bad[] = {
        "{\"a\":1,}",
        "[1,]",
        "{a:1}",
        "01",
        "1.",
        ".5",
        "+1",
        "\"\\x\"",
        "\"\\ud800\"",
        "\"\\udc00x\"",
        "\"tab\there\"",
        "\"\xc3\x28\"",
        "{} {}",
        "[1 2]",
        "tru",
        "nul",
        "{\"a\" 1}",
        "\"unterminated",
        "\"abc\\",
        "[",
        "",
        "// c\n{}",
        "{\"a\":1}/",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        sonde_status st = jparse(a, bad[i], &v);
        CHECK_EQ_INT(st, SONDE_ERR_INVALID);
        if (st != SONDE_ERR_INVALID)
            fprintf(stderr, "  accepted: %s\n", bad[i]);
    }
    CHECK_EQ_INT(jparse(a, "[[[[[[[[[1]]]]]]]]]", &v), SONDE_ERR_LIMIT);
    CHECK(strstr(err, "nested deeper than 8 (max_depth)") != NULL);
    CHECK_EQ_INT(jparse(a, "[[[[[[[[1]]]]]]]]", &v), SONDE_OK);
    char longstr[80];
    memset(longstr, 'x', sizeof longstr);
    longstr[0] = '"';
    longstr[78] = '"';
    longstr[79] = 0;
    CHECK_EQ_INT(jparse(a, longstr, &v), SONDE_ERR_LIMIT);
    CHECK(json_number_syntax("-0.5e+3", 7) && !json_number_syntax("0x1", 3));
    arena_destroy(a);
}

static const char trace_json[] =
    "{\"resourceSpans\":[{"
    "\"resource\":{\"attributes\":[{\"key\":\"service.name\",\"value\":{\"stringValue\":\"cart\"}}]"
    "},"
    "\"scopeSpans\":[{\"scope\":{\"name\":\"lib\",\"version\":\"1\"},\"spans\":[{"
    "\"traceId\":\"5B8EFFF798038103D269B633813FC60C\",\"spanId\":\"eee19b7ec3c1b174\","
    "\"parentSpanId\":\"\",\"name\":\"GET\",\"kind\":2,"
    "\"startTimeUnixNano\":\"1544712660000000000\",\"endTimeUnixNano\":1544712661000000000,"
    "\"attributes\":[{\"key\":\"n\",\"value\":{\"intValue\":\"-7\"}},"
    "{\"key\":\"d\",\"value\":{\"doubleValue\":\"NaN\"}},"
    "{\"key\":\"b\",\"value\":{\"bytesValue\":\"AP+A\"}},"
    "{\"key\":\"arr\",\"value\":{\"arrayValue\":{\"values\":[{\"boolValue\":true},"
    "{\"kvlistValue\":{\"values\":[{\"key\":\"k\",\"value\":{\"doubleValue\":\"-Infinity\"}}]}}]}}}"
    "],"
    "\"events\":[{\"timeUnixNano\":\"1544712660500000000\",\"name\":\"ev\"}],"
    "\"links\":[{\"traceId\":\"5b8efff798038103d269b633813fc60c\",\"spanId\":\"EEE19B7EC3C1B174\"}]"
    ","
    "\"status\":{\"code\":\"STATUS_CODE_ERROR\",\"message\":\"x\"},"
    "\"futureField\":{\"nested\":[1,2,{\"deep\":null}]}"
    "}]}]}]}";

static void test_trace_mapping(void)
{
    arena *a = arena_create(4096, 1 << 20);
    void *out;
    CHECK_EQ_INT(jdecode(a, OTLP_SIGNAL_TRACES, trace_json, &out), SONDE_OK);
    if (!out || err[0]) {
        fprintf(stderr, "  %s\n", err);
        arena_destroy(a);
        return;
    }
    Opentelemetry__Proto__Collector__Trace__V1__ExportTraceServiceRequest *r = out;
    const Opentelemetry__Proto__Trace__V1__Span *s = r->resource_spans[0]->scope_spans[0]->spans[0];
    static const uint8_t tid[16] = {0x5b, 0x8e, 0xff, 0xf7, 0x98, 0x03, 0x81, 0x03,
                                    0xd2, 0x69, 0xb6, 0x33, 0x81, 0x3f, 0xc6, 0x0c};
    static const uint8_t sid[8] = {0xee, 0xe1, 0x9b, 0x7e, 0xc3, 0xc1, 0xb1, 0x74};
    CHECK(s->trace_id.len == 16 && memcmp(s->trace_id.data, tid, 16) == 0);
    CHECK(s->span_id.len == 8 && memcmp(s->span_id.data, sid, 8) == 0);
    CHECK_EQ_INT(s->parent_span_id.len, 0);
    CHECK(s->links[0]->trace_id.len == 16 && memcmp(s->links[0]->trace_id.data, tid, 16) == 0);
    CHECK_EQ_INT(s->kind, 2);
    CHECK(s->start_time_unix_nano == 1544712660000000000ull);
    CHECK(s->end_time_unix_nano == 1544712661000000000ull);
    CHECK_EQ_INT(s->n_attributes, 4);
    CHECK_EQ_INT(s->attributes[0]->value->int_value, -7);
    CHECK(isnan(s->attributes[1]->value->double_value));
    CHECK(s->attributes[2]->value->bytes_value.len == 3 &&
          memcmp(s->attributes[2]->value->bytes_value.data, "\x00\xff\x80", 3) == 0);
    const Opentelemetry__Proto__Common__V1__ArrayValue *av = s->attributes[3]->value->array_value;
    CHECK_EQ_INT(av->n_values, 2);
    CHECK(av->values[0]->bool_value);
    CHECK(isinf(av->values[1]->kvlist_value->values[0]->value->double_value));
    CHECK_EQ_INT(s->status->code, 2);
    CHECK_EQ_STR(s->events[0]->name, "ev");
    CHECK_EQ_STR(r->resource_spans[0]->resource->attributes[0]->value->string_value, "cart");
    CHECK_EQ_INT(otlp_request_items(OTLP_SIGNAL_TRACES, out), 1);

    /* packing the JSON-decoded tree gives protobuf that decodes the same */
    uint8_t *pb;
    size_t pbn;
    CHECK_EQ_INT(otlp_request_pack(a, OTLP_SIGNAL_TRACES, out, &pb, &pbn), SONDE_OK);
    void *out2;
    CHECK_EQ_INT(otlp_request_decode(a, OTLP_SIGNAL_TRACES, OTLP_FORMAT_PROTOBUF, pb, pbn, NULL,
                                     &out2, err, sizeof err),
                 SONDE_OK);
    Opentelemetry__Proto__Collector__Trace__V1__ExportTraceServiceRequest *r2 = out2;
    CHECK(r2->resource_spans[0]->scope_spans[0]->spans[0]->end_time_unix_nano ==
          1544712661000000000ull);
    arena_destroy(a);
}

static void test_metrics_mapping(void)
{
    arena *a = arena_create(4096, 1 << 20);
    void *out;
    const char *js =
        "{\"resource_metrics\":[{\"scope_metrics\":[{\"metrics\":["
        "{\"name\":\"c\",\"sum\":{\"aggregation_temporality\":\"AGGREGATION_TEMPORALITY_"
        "CUMULATIVE\","
        "\"isMonotonic\":true,\"dataPoints\":[{\"asInt\":\"9223372036854775807\","
        "\"timeUnixNano\":1.7e18},{\"as_double\":1.5,\"flags\":1}]}},"
        "{\"name\":\"h\",\"histogram\":{\"aggregationTemporality\":1,\"dataPoints\":[{"
        "\"count\":\"3\",\"sum\":0,\"bucketCounts\":[\"1\",2],\"explicitBounds\":[0.5],"
        "\"exemplars\":[{\"asDouble\":0.1,\"traceId\":\"\",\"spanId\":\"0102030405060708\"}]}]}},"
        "{\"name\":\"e\",\"exponentialHistogram\":{\"dataPoints\":[{\"scale\":-1,"
        "\"positive\":{\"offset\":-2,\"bucketCounts\":[\"4\"]},\"max\":\"Infinity\"}]}},"
        "{\"name\":\"s\",\"summary\":{\"dataPoints\":[{\"quantileValues\":[{\"quantile\":0.5,"
        "\"value\":\"1e3\"}]}]}},"
        "{\"name\":\"g\",\"gauge\":{\"dataPoints\":[{\"asDouble\":\"-Infinity\"}]}}"
        "]}]}]}";
    CHECK_EQ_INT(jdecode(a, OTLP_SIGNAL_METRICS, js, &out), SONDE_OK);
    if (!out || err[0]) {
        fprintf(stderr, "  %s\n", err);
        arena_destroy(a);
        return;
    }
    Opentelemetry__Proto__Collector__Metrics__V1__ExportMetricsServiceRequest *r = out;
    Opentelemetry__Proto__Metrics__V1__Metric **m =
        r->resource_metrics[0]->scope_metrics[0]->metrics;
    CHECK_EQ_INT(otlp_request_items(OTLP_SIGNAL_METRICS, out), 6);
    CHECK_EQ_INT(m[0]->sum->aggregation_temporality, 2);
    CHECK(m[0]->sum->is_monotonic);
    CHECK(m[0]->sum->data_points[0]->as_int == INT64_MAX);
    CHECK(m[0]->sum->data_points[0]->time_unix_nano == 1700000000000000000ull);
    CHECK_EQ_INT(m[0]->sum->data_points[1]->value_case,
                 OPENTELEMETRY__PROTO__METRICS__V1__NUMBER_DATA_POINT__VALUE_AS_DOUBLE);
    CHECK_EQ_INT(m[0]->sum->data_points[1]->flags, 1);
    const Opentelemetry__Proto__Metrics__V1__HistogramDataPoint *h =
        m[1]->histogram->data_points[0];
    CHECK_EQ_INT(h->count, 3);
    CHECK_EQ_INT(h->sum_present_case,
                 OPENTELEMETRY__PROTO__METRICS__V1__HISTOGRAM_DATA_POINT__SUM_PRESENT_SUM);
    CHECK_EQ_INT(h->max_present_case,
                 OPENTELEMETRY__PROTO__METRICS__V1__HISTOGRAM_DATA_POINT__MAX_PRESENT__NOT_SET);
    CHECK(h->n_bucket_counts == 2 && h->bucket_counts[0] == 1 && h->bucket_counts[1] == 2);
    CHECK_EQ_INT(h->exemplars[0]->span_id.len, 8);
    CHECK_EQ_INT(h->exemplars[0]->trace_id.len, 0);
    const Opentelemetry__Proto__Metrics__V1__ExponentialHistogramDataPoint *e =
        m[2]->exponential_histogram->data_points[0];
    CHECK_EQ_INT(e->scale, -1);
    CHECK_EQ_INT(e->positive->offset, -2);
    CHECK(isinf(e->max) && e->max > 0);
    CHECK(m[3]->summary->data_points[0]->quantile_values[0]->value == 1000);
    CHECK(isinf(m[4]->gauge->data_points[0]->as_double));
    arena_destroy(a);
}

static void test_logs_mapping(void)
{
    arena *a = arena_create(4096, 1 << 20);
    void *out;
    const char *js = "{\"resourceLogs\":[{\"scopeLogs\":[{\"logRecords\":[{"
                     "\"timeUnixNano\":\"1\",\"severityNumber\":\"SEVERITY_NUMBER_ERROR\","
                     "\"severityText\":\"ERROR\",\"body\":{\"stringValue\":\"disk full\"},"
                     "\"traceId\":\"\",\"flags\":1},{\"severityNumber\":9,"
                     "\"body\":{\"kvlistValue\":{\"values\":[]}}}]}]}]}";
    CHECK_EQ_INT(jdecode(a, OTLP_SIGNAL_LOGS, js, &out), SONDE_OK);
    if (out && !err[0]) {
        Opentelemetry__Proto__Collector__Logs__V1__ExportLogsServiceRequest *r = out;
        Opentelemetry__Proto__Logs__V1__LogRecord **l =
            r->resource_logs[0]->scope_logs[0]->log_records;
        CHECK_EQ_INT(otlp_request_items(OTLP_SIGNAL_LOGS, out), 2);
        CHECK_EQ_INT(l[0]->severity_number, 17);
        CHECK_EQ_STR(l[0]->body->string_value, "disk full");
        CHECK_EQ_INT(l[1]->severity_number, 9);
        CHECK_EQ_INT(l[1]->body->value_case,
                     OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_KVLIST_VALUE);
    }
    CHECK_EQ_INT(jdecode(a, OTLP_SIGNAL_LOGS, "{}", &out), SONDE_OK);
    CHECK_EQ_INT(otlp_request_items(OTLP_SIGNAL_LOGS, out), 0);
    arena_destroy(a);
}

typedef struct bad_case {
    otlp_signal sig;
    const char *json;
    sonde_status st;
    const char *msg;
} bad_case;

static void test_mismatches(void)
{
    static const bad_case cases[] = {
        {OTLP_SIGNAL_TRACES,
         "{\"resourceSpans\":[{\"scopeSpans\":[{},{\"spans\":[{},{},{},"
         "{\"startTimeUnixNano\":true}]}]}]}",
         SONDE_ERR_INVALID,
         "resourceSpans[0].scopeSpans[1].spans[3].startTimeUnixNano: expected integer"},
        {OTLP_SIGNAL_TRACES, "{\"resourceSpans\":{}}", SONDE_ERR_INVALID,
         "resourceSpans: expected array"},
        {OTLP_SIGNAL_TRACES, "[]", SONDE_ERR_INVALID, "expected object"},
        {OTLP_SIGNAL_TRACES,
         "{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{\"traceId\":"
         "\"zz8efff798038103d269b633813fc60c\"}]}]}]}",
         SONDE_ERR_INVALID, "resourceSpans[0].scopeSpans[0].spans[0].traceId: invalid hex id"},
        {OTLP_SIGNAL_TRACES,
         "{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{\"traceId\":\"5b8e\"}]}]}]}",
         SONDE_ERR_INVALID, "spans[0].traceId: expected 32 hex digits"},
        {OTLP_SIGNAL_TRACES,
         "{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{\"name\":\"x\"}]}]}]}",
         SONDE_ERR_INVALID, "resourceSpans[0].scopeSpans[0].spans[0].traceId: 0 bytes"},
        {OTLP_SIGNAL_TRACES,
         "{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{\"kind\":\"SPAN_KIND_NOPE\"}]}]}]}",
         SONDE_ERR_INVALID, "spans[0].kind: unknown enum value"},
        {OTLP_SIGNAL_METRICS,
         "{\"resourceMetrics\":[{\"scopeMetrics\":[{\"metrics\":[{\"gauge\":{},\"sum\":{}}]}]}]}",
         SONDE_ERR_INVALID, "metrics[0].sum: a second value for the same oneof"},
        {OTLP_SIGNAL_METRICS,
         "{\"resourceMetrics\":[{\"scopeMetrics\":[{\"metrics\":[{\"gauge\":{\"dataPoints\":"
         "[{\"asDouble\":\"fast\"}]}}]}]}]}",
         SONDE_ERR_INVALID, "metrics[0].gauge.dataPoints[0].asDouble: expected number"},
        {OTLP_SIGNAL_METRICS,
         "{\"resourceMetrics\":[{\"scopeMetrics\":[{\"metrics\":[{\"sum\":{\"dataPoints\":"
         "[{\"asInt\":\"9223372036854775808\"}]}}]}]}]}",
         SONDE_ERR_INVALID, "dataPoints[0].asInt: expected integer"},
        {OTLP_SIGNAL_METRICS,
         "{\"resourceMetrics\":[{\"scopeMetrics\":[{\"metrics\":[{\"histogram\":{\"dataPoints\":"
         "[{\"count\":-1}]}}]}]}]}",
         SONDE_ERR_INVALID, "dataPoints[0].count: expected integer"},
        {OTLP_SIGNAL_METRICS,
         "{\"resourceMetrics\":[{\"scopeMetrics\":[{\"metrics\":[{\"histogram\":{\"dataPoints\":"
         "[{\"flags\":4294967296}]}}]}]}]}",
         SONDE_ERR_INVALID, "flags: expected unsigned 32-bit integer"},
        {OTLP_SIGNAL_LOGS,
         "{\"resourceLogs\":[{\"scopeLogs\":[{\"logRecords\":[{\"body\":{\"bytesValue\":\"a!==\"}}]"
         "}]}]}",
         SONDE_ERR_INVALID, "logRecords[0].body.bytesValue: invalid base64"},
        {OTLP_SIGNAL_LOGS,
         "{\"resourceLogs\":[{\"scopeLogs\":[{\"logRecords\":[{\"body\":{\"stringValue\":"
         "\"a\\u0000b\"}}]}]}]}",
         SONDE_ERR_INVALID, "body.stringValue: string contains a NUL"},
        {OTLP_SIGNAL_LOGS,
         "{\"resourceLogs\":[{\"scopeLogs\":[{\"logRecords\":[{\"severityText\":5}]}]}]}",
         SONDE_ERR_INVALID, "logRecords[0].severityText: expected string"},
        {OTLP_SIGNAL_LOGS, "{\"resourceLogs\":[null]}", SONDE_ERR_INVALID,
         "resourceLogs[0]: null in array"},
        {OTLP_SIGNAL_LOGS, "{\"resourceLogs\":[}", SONDE_ERR_INVALID, "json: "},
    };
    arena *a = arena_create(4096, 1 << 20);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        void *out;
        sonde_status st = jdecode(a, cases[i].sig, cases[i].json, &out);
        CHECK_EQ_INT(st, cases[i].st);
        CHECK(strstr(err, cases[i].msg) != NULL);
        if (st != cases[i].st || !strstr(err, cases[i].msg))
            fprintf(stderr, "  case %zu: got \"%s\"\n", i, err);
    }
    arena_destroy(a);
}

static void test_json_depth_and_attrs(void)
{
    arena *a = arena_create(4096, 16 << 20);
    void *out;
    /* AnyValue nesting through arrayValue: rejected with LIMIT, no crash */
    size_t levels = 100000;
    const char *open = "{\"arrayValue\":{\"values\":[";
    size_t cap = 200 + levels * (strlen(open) + 3);
    char *js = malloc(cap), *p = js;
    p += sprintf(p, "{\"resourceLogs\":[{\"scopeLogs\":[{\"logRecords\":[{\"body\":");
    for (size_t i = 0; i < levels; i++)
        p += sprintf(p, "%s", open);
    p += sprintf(p, "{}");
    for (size_t i = 0; i < levels; i++)
        p += sprintf(p, "]}}");
    p += sprintf(p, "}]}]}]}");
    CHECK_EQ_INT(jdecode(a, OTLP_SIGNAL_LOGS, js, &out), SONDE_ERR_LIMIT);
    /* shallow: 13 levels pass (message depth 5 + 2 per level <= 32), 14 do not */
    for (size_t lv = 13; lv <= 14; lv++) {
        p = js;
        p += sprintf(p, "{\"resourceLogs\":[{\"scopeLogs\":[{\"logRecords\":[{\"body\":");
        for (size_t i = 0; i < lv; i++)
            p += sprintf(p, "%s", open);
        p += sprintf(p, "{}");
        for (size_t i = 0; i < lv; i++)
            p += sprintf(p, "]}}");
        p += sprintf(p, "}]}]}]}");
        CHECK_EQ_INT(jdecode(a, OTLP_SIGNAL_LOGS, js, &out), lv == 13 ? SONDE_OK : SONDE_ERR_LIMIT);
        if (lv == 14)
            CHECK(strstr(err, "max_depth") != NULL);
    }
    free(js);

    otlp_limits lim;
    otlp_limits_defaults(&lim);
    lim.max_attrs = 1;
    const char *two = "{\"resourceLogs\":[{\"resource\":{\"attributes\":[{\"key\":\"a\"},"
                      "{\"key\":\"b\"}]}}]}";
    CHECK_EQ_INT(otlp_request_decode(a, OTLP_SIGNAL_LOGS, OTLP_FORMAT_JSON, (const uint8_t *)two,
                                     strlen(two), &lim, &out, err, sizeof err),
                 SONDE_ERR_LIMIT);
    CHECK(strstr(err, "resourceLogs[0].resource.attributes: more than 1 attributes") != NULL);
    arena_destroy(a);
}

int main(void)
{
    RUN(test_parser_strict);
    RUN(test_trace_mapping);
    RUN(test_metrics_mapping);
    RUN(test_logs_mapping);
    RUN(test_mismatches);
    RUN(test_json_depth_and_attrs);
    return TEST_DONE();
}
