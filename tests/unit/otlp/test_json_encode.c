/* test_json_encode.c - otlp_json_encode, the mirror of the OTLP/JSON decoder:
 * for each signal, a decoded request encoded to JSON and decoded again packs
 * to the same protobuf bytes (also from protobuf input and from hand-built
 * trees with oneof defaults, NaN, infinities, -0.0 and extreme integers);
 * spot checks of the spelling (hex ids, 64-bit integers as strings, enums as
 * numbers, defaults omitted); and a full buf leaves the output unchanged. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ingest/otlp/otlp.h"
#include "otlp_logs_service.pb-c.h"
#include "otlp_metrics_service.pb-c.h"
#include "otlp_trace_service.pb-c.h"
#include "test.h"

static char err[1024];

typedef Opentelemetry__Proto__Common__V1__AnyValue AnyValue;
typedef Opentelemetry__Proto__Common__V1__KeyValue KeyValue;

static const char traces_json[] =
    "{\"resourceSpans\":[{\"resource\":{\"attributes\":[{\"key\":\"service.name\",\"value\":"
    "{\"stringValue\":\"cart\"}},{\"key\":\"empty\",\"value\":{\"stringValue\":\"\"}},{\"key\":"
    "\"zero\",\"value\":{\"intValue\":\"0\"}},{\"key\":\"f\",\"value\":{\"boolValue\":false}},"
    "{\"key\":\"d0\",\"value\":{\"doubleValue\":0}},{\"key\":\"arr\",\"value\":{\"arrayValue\":"
    "{\"values\":[{\"intValue\":\"-9223372036854775808\"},{\"doubleValue\":1e300},{\"kvlistValue\":"
    "{\"values\":[{\"key\":\"k\",\"value\":{\"bytesValue\":\"AP+A/w==\"}}]}},{}]}}},{\"key\":"
    "\"novalue\"}],\"droppedAttributesCount\":3},\"scopeSpans\":[{\"scope\":{\"name\":\"lib\","
    "\"version\":\"1\",\"attributes\":[{\"key\":\"x\",\"value\":{\"boolValue\":true}}]},\"spans\":"
    "[{\"traceId\":\"5B8EFFF798038103D269B633813FC60C\",\"spanId\":\"eee19b7ec3c1b174\","
    "\"parentSpanId\":\"eee19b7ec3c1b173\",\"traceState\":\"a=b\",\"flags\":4294967295,\"name\":"
    "\"GET /cart \\u2028 \\\"q\\\" \\u00e9\",\"kind\":\"SPAN_KIND_SERVER\",\"startTimeUnixNano\":"
    "\"18446744073709551615\",\"endTimeUnixNano\":1544712661000000000,\"attributes\":[{\"key\":"
    "\"ratio\",\"value\":{\"doubleValue\":0.1}},{\"key\":\"tiny\",\"value\":{\"doubleValue\":"
    "5e-324}},{\"key\":\"nan\",\"value\":{\"doubleValue\":\"NaN\"}},{\"key\":\"inf\",\"value\":"
    "{\"doubleValue\":\"-Infinity\"}},{\"key\":\"negz\",\"value\":{\"doubleValue\":-0.0}}],"
    "\"events\":[{\"timeUnixNano\":\"1\",\"name\":\"e\"},{}],\"links\":[{\"traceId\":"
    "\"5b8efff798038103d269b633813fc60d\",\"spanId\":\"eee19b7ec3c1b175\",\"flags\":1}],"
    "\"droppedLinksCount\":2,\"status\":{\"code\":2,\"message\":\"err\"}},{\"traceId\":"
    "\"00000000000000000000000000000001\",\"spanId\":\"0000000000000001\",\"status\":{}}]},{}],"
    "\"schemaUrl\":\"https://opentelemetry.io/schemas/1.24.0\"},{}]}";

static const char metrics_json[] =
    "{\"resourceMetrics\":[{\"resource\":{\"attributes\":[{\"key\":\"service.name\",\"value\":"
    "{\"stringValue\":\"api\"}}]},\"scopeMetrics\":[{\"scope\":{\"name\":\"m\"},\"metrics\":[{"
    "\"name\":\"requests\",\"unit\":\"1\",\"sum\":{\"aggregationTemporality\":2,\"isMonotonic\":"
    "true,\"dataPoints\":[{\"asInt\":\"0\",\"startTimeUnixNano\":\"1\",\"timeUnixNano\":\"2\","
    "\"exemplars\":[{\"asDouble\":0,\"timeUnixNano\":\"2\",\"traceId\":"
    "\"5b8efff798038103d269b633813fc60c\",\"spanId\":\"eee19b7ec3c1b174\"}]}]}},{\"name\":"
    "\"load\",\"gauge\":{\"dataPoints\":[{\"asDouble\":\"NaN\",\"flags\":1},{\"asDouble\":-0.0}]}},"
    "{\"name\":\"latency\",\"histogram\":{\"aggregationTemporality\":1,\"dataPoints\":[{\"count\":"
    "\"6\",\"sum\":0,\"min\":0.01,\"max\":2,\"bucketCounts\":[\"1\",\"0\",\"3\"],"
    "\"explicitBounds\":[0.1,0,1e-7]}]}},{\"name\":\"size\",\"exponentialHistogram\":{"
    "\"aggregationTemporality\":2,\"dataPoints\":[{\"count\":\"12\",\"sum\":30,\"scale\":-2,"
    "\"zeroCount\":\"1\",\"zeroThreshold\":0.001,\"positive\":{\"offset\":-3,\"bucketCounts\":"
    "[\"5\",\"6\"]},\"negative\":{}}]}},{\"name\":\"rpc\",\"summary\":{\"dataPoints\":[{\"count\":"
    "\"3\",\"sum\":1.5,\"quantileValues\":[{\"quantile\":0.5,\"value\":0.4},{\"quantile\":0.99,"
    "\"value\":\"Infinity\"}]}]}}]}]}]}";

static const char logs_json[] =
    "{\"resourceLogs\":[{\"resource\":{\"attributes\":[{\"key\":\"service.name\",\"value\":"
    "{\"stringValue\":\"w\"}}]},\"scopeLogs\":[{\"scope\":{\"name\":\"l\"},\"logRecords\":[{"
    "\"timeUnixNano\":\"1700000000000000000\",\"observedTimeUnixNano\":\"1700000000000000001\","
    "\"severityNumber\":17,\"severityText\":\"ERROR\",\"body\":{\"stringValue\":\"disk full "
    "\\u00e9\\n\\t\\u0001\"},\"attributes\":[{\"key\":\"path\",\"value\":{\"stringValue\":"
    "\"/var\"}}],\"flags\":1,\"traceId\":\"5b8efff798038103d269b633813fc60c\",\"spanId\":"
    "\"eee19b7ec3c1b174\",\"eventName\":\"e\"},{\"body\":{\"kvlistValue\":{\"values\":[{\"key\":"
    "\"a\",\"value\":{\"arrayValue\":{}}}]}}}]}]}]}";

static size_t packed(arena *a, otlp_signal sig, const void *req, uint8_t **out)
{
    size_t n = 0;
    *out = NULL;
    if (otlp_request_pack(a, sig, req, out, &n) != SONDE_OK)
        return (size_t)-1;
    return n;
}

/* encode req, decode the JSON, compare the packed bytes; returns the JSON */
static char *round_trip(arena *a, otlp_signal sig, const void *req)
{
    buf b;
    buf_init(&b, 1 << 24);
    CHECK_EQ_INT(otlp_json_encode(&b, (const struct ProtobufCMessage *)req), SONDE_OK);
    void *again = NULL;
    err[0] = 0;
    sonde_status st = otlp_request_decode(a, sig, OTLP_FORMAT_JSON, (const uint8_t *)b.data, b.len,
                                          NULL, &again, err, sizeof err);
    CHECK_EQ_INT(st, SONDE_OK);
    if (st != SONDE_OK)
        fprintf(stderr, "decode: %s\njson: %s\n", err, b.data);
    char *json = arena_strndup(a, b.data ? b.data : "", b.len);
    if (st == SONDE_OK) {
        uint8_t *p1, *p2;
        size_t n1 = packed(a, sig, req, &p1), n2 = packed(a, sig, again, &p2);
        CHECK(n1 != (size_t)-1 && n1 == n2 && (n1 == 0 || memcmp(p1, p2, n1) == 0));
        if (n1 != n2 || (n1 && memcmp(p1, p2, n1) != 0))
            fprintf(stderr, "mismatch (%zu vs %zu bytes) json: %s\n", n1, n2, b.data);
        /* a fixed point: encoding the decoded JSON gives the same text */
        buf b2;
        buf_init(&b2, 1 << 24);
        CHECK_EQ_INT(otlp_json_encode(&b2, (const struct ProtobufCMessage *)again), SONDE_OK);
        CHECK(b2.len == b.len && memcmp(b2.data, b.data, b.len) == 0);
        buf_fini(&b2);
    }
    buf_fini(&b);
    return json;
}

static void *decode(arena *a, otlp_signal sig, otlp_format fmt, const void *body, size_t n)
{
    void *req = NULL;
    err[0] = 0;
    sonde_status st = otlp_request_decode(a, sig, fmt, body, n, NULL, &req, err, sizeof err);
    CHECK_EQ_INT(st, SONDE_OK);
    if (st != SONDE_OK)
        fprintf(stderr, "fixture: %s\n", err);
    return st == SONDE_OK ? req : NULL;
}

static void test_signals(void)
{
    static const struct {
        otlp_signal sig;
        const char *json;
    } fx[] = {{OTLP_SIGNAL_TRACES, traces_json},
              {OTLP_SIGNAL_METRICS, metrics_json},
              {OTLP_SIGNAL_LOGS, logs_json}};
    for (size_t i = 0; i < sizeof fx / sizeof *fx; i++) {
        arena *a = arena_create(4096, 0);
        void *req = decode(a, fx[i].sig, OTLP_FORMAT_JSON, fx[i].json, strlen(fx[i].json));
        if (req) {
            round_trip(a, fx[i].sig, req);
            /* from protobuf input too */
            uint8_t *pb;
            size_t n = packed(a, fx[i].sig, req, &pb);
            void *r2 = decode(a, fx[i].sig, OTLP_FORMAT_PROTOBUF, pb, n);
            if (r2)
                round_trip(a, fx[i].sig, r2);
        }
        arena_destroy(a);
    }
}

static void test_spelling(void)
{
    arena *a = arena_create(4096, 0);
    void *req = decode(a, OTLP_SIGNAL_TRACES, OTLP_FORMAT_JSON, traces_json, strlen(traces_json));
    char *j = req ? round_trip(a, OTLP_SIGNAL_TRACES, req) : NULL;
    CHECK(j != NULL);
    if (j) {
        CHECK(strstr(j, "\"traceId\":\"5b8efff798038103d269b633813fc60c\"") != NULL);
        CHECK(strstr(j, "\"parentSpanId\":\"eee19b7ec3c1b173\"") != NULL);
        CHECK(strstr(j, "\"startTimeUnixNano\":\"18446744073709551615\"") != NULL);
        CHECK(strstr(j, "\"endTimeUnixNano\":\"1544712661000000000\"") != NULL);
        CHECK(strstr(j, "\"kind\":2,") != NULL);
        CHECK(strstr(j, "\"flags\":4294967295") != NULL);
        CHECK(strstr(j, "{\"intValue\":\"0\"}") != NULL);   /* oneof default kept */
        CHECK(strstr(j, "{\"boolValue\":false}") != NULL);  /* oneof default kept */
        CHECK(strstr(j, "{\"doubleValue\":0}") != NULL);    /* oneof default kept */
        CHECK(strstr(j, "{\"stringValue\":\"\"}") != NULL); /* oneof default kept */
        CHECK(strstr(j, "{\"doubleValue\":\"NaN\"}") != NULL);
        CHECK(strstr(j, "{\"doubleValue\":\"-Infinity\"}") != NULL);
        CHECK(strstr(j, "{\"doubleValue\":0.1}") != NULL);
        CHECK(strstr(j, "{\"doubleValue\":-0}") != NULL);
        CHECK(strstr(j, "\"bytesValue\":\"AP+A/w==\"") != NULL);
        CHECK(strstr(j, "\"intValue\":\"-9223372036854775808\"") != NULL);
        CHECK(strstr(j, "{\"key\":\"novalue\"}") != NULL);
        CHECK(strstr(j, "\"status\":{}") != NULL); /* empty message kept, like pack */
        CHECK(strstr(j, "\"droppedAttributesCount\":3") != NULL);
        CHECK(strstr(j, "trace_id") == NULL && strstr(j, "\"spans\":[{") != NULL);
        CHECK(strstr(j, "\"droppedEventsCount\"") == NULL); /* zero: omitted */
    }
    arena_destroy(a);
}

/* Hand-built: values the JSON decoder never produces itself. */
static void test_hand_built(void)
{
    arena *a = arena_create(4096, 0);
    AnyValue v[4];
    KeyValue kv[4], *kvp[4];
    for (int i = 0; i < 4; i++) {
        opentelemetry__proto__common__v1__any_value__init(&v[i]);
        opentelemetry__proto__common__v1__key_value__init(&kv[i]);
        kv[i].value = &v[i];
        kvp[i] = &kv[i];
    }
    kv[0].key = "max";
    v[0].value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_INT_VALUE;
    v[0].int_value = INT64_MAX;
    kv[1].key = "inf";
    v[1].value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_DOUBLE_VALUE;
    v[1].double_value = INFINITY;
    kv[2].key = "init-string"; /* case set, string still the shared empty default: not packed */
    v[2].value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_STRING_VALUE;
    v[2].string_value = (char *)protobuf_c_empty_string;
    kv[3].key = "third";
    v[3].value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_DOUBLE_VALUE;
    v[3].double_value = 1.0 / 3;
    Opentelemetry__Proto__Logs__V1__LogRecord lr, *lrp = &lr;
    opentelemetry__proto__logs__v1__log_record__init(&lr);
    lr.attributes = kvp;
    lr.n_attributes = 4;
    lr.severity_number = (Opentelemetry__Proto__Logs__V1__SeverityNumber)-7; /* unknown enum */
    lr.time_unix_nano = UINT64_MAX;
    Opentelemetry__Proto__Logs__V1__ScopeLogs sl, *slp = &sl;
    opentelemetry__proto__logs__v1__scope_logs__init(&sl);
    sl.log_records = &lrp;
    sl.n_log_records = 1;
    Opentelemetry__Proto__Logs__V1__ResourceLogs rl, *rlp = &rl;
    opentelemetry__proto__logs__v1__resource_logs__init(&rl);
    rl.scope_logs = &slp;
    rl.n_scope_logs = 1;
    Opentelemetry__Proto__Collector__Logs__V1__ExportLogsServiceRequest req;
    opentelemetry__proto__collector__logs__v1__export_logs_service_request__init(&req);
    req.resource_logs = &rlp;
    req.n_resource_logs = 1;
    char *j = round_trip(a, OTLP_SIGNAL_LOGS, &req);
    CHECK(j && strstr(j, "\"intValue\":\"9223372036854775807\"") != NULL);
    CHECK(j && strstr(j, "\"severityNumber\":-7") != NULL);
    CHECK(j && strstr(j, "{\"key\":\"init-string\",\"value\":{}}") != NULL);
    CHECK(j && strstr(j, "\"doubleValue\":\"Infinity\"") != NULL);
    CHECK(j && strstr(j, "\"doubleValue\":0.3333333333333333") != NULL);

    /* an empty request is {} */
    Opentelemetry__Proto__Collector__Logs__V1__ExportLogsServiceRequest empty;
    opentelemetry__proto__collector__logs__v1__export_logs_service_request__init(&empty);
    j = round_trip(a, OTLP_SIGNAL_LOGS, &empty);
    CHECK_EQ_STR(j, "{}");
    arena_destroy(a);
}

static void test_caps(void)
{
    arena *a = arena_create(4096, 0);
    void *req = decode(a, OTLP_SIGNAL_TRACES, OTLP_FORMAT_JSON, traces_json, strlen(traces_json));
    buf b;
    buf_init(&b, 64);
    buf_puts(&b, "prefix");
    CHECK_EQ_INT(otlp_json_encode(&b, (const struct ProtobufCMessage *)req), SONDE_ERR_LIMIT);
    CHECK_EQ_STR(b.data, "prefix"); /* nothing half-written */
    CHECK_EQ_INT(b.len, 6);
    CHECK_EQ_INT(otlp_json_encode(&b, NULL), SONDE_ERR_INVALID);
    buf_fini(&b);
    arena_destroy(a);
}

int main(void)
{
    RUN(test_signals);
    RUN(test_spelling);
    RUN(test_hand_built);
    RUN(test_caps);
    return TEST_DONE();
}
