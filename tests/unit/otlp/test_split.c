/* test_split.c - otlp_traces_split / otlp_logs_split (one stored value per
 * span or log record, validation and rejection counts, partial_success
 * message), Loki 3's stream label mapping, the stored value bytes equal to
 * protobuf-c's packing of the composed message, and otlp_traces_assemble
 * (merging resource + scope, sorting by start, skipping bad values). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ingest/otlp/otlp.h"
#include "otlp_logs_service.pb-c.h"
#include "otlp_trace_service.pb-c.h"
#include "test.h"

typedef Opentelemetry__Proto__Collector__Trace__V1__ExportTraceServiceRequest trace_req;
typedef Opentelemetry__Proto__Collector__Logs__V1__ExportLogsServiceRequest logs_req;
typedef Opentelemetry__Proto__Trace__V1__ResourceSpans resource_spans;
typedef Opentelemetry__Proto__Trace__V1__ScopeSpans scope_spans;
typedef Opentelemetry__Proto__Trace__V1__Span span;
typedef Opentelemetry__Proto__Trace__V1__TracesData traces_data;
typedef Opentelemetry__Proto__Logs__V1__ResourceLogs resource_logs;
typedef Opentelemetry__Proto__Logs__V1__ScopeLogs scope_logs;

static char err[512];

static void *decode(arena *a, otlp_signal sig, const char *js)
{
    void *req = NULL;
    sonde_status st = otlp_request_decode(a, sig, OTLP_FORMAT_JSON, (const uint8_t *)js, strlen(js),
                                          NULL, &req, err, sizeof err);
    CHECK_EQ_INT(st, SONDE_OK);
    if (st != SONDE_OK)
        fprintf(stderr, "fixture: %s\n", err);
    return st == SONDE_OK ? req : NULL;
}

static bool pack_eq(const ProtobufCMessage *x, const uint8_t *b, size_t n)
{
    size_t xn = protobuf_c_message_get_packed_size(x);
    uint8_t *p = malloc(xn + 1);
    protobuf_c_message_pack(x, p);
    bool eq = xn == n && memcmp(p, b, n) == 0;
    free(p);
    return eq;
}

/* ---- traces ---- */

#define SPAN(tid, sid, extra)                                                                      \
    "{\"traceId\":\"" tid "\",\"spanId\":\"" sid "\",\"name\":\"n\"" extra "}"
#define T1 "0102030405060708090a0b0c0d0e0f10"
#define Z32 "00000000000000000000000000000000"

static const char
    traces_json
        [] =
            "{\"resourceSpans\":["
            "{\"resource\":{\"attributes\":[{\"key\":\"service.name\",\"value\":{\"stringValue\":"
            "\"cart\"}}]},\"schemaUrl\":\"rs-schema\",\"scopeSpans\":["
            "{\"scope\":{\"name\":\"lib\",\"version\":\"1\"},\"schemaUrl\":\"ss-schema\",\"spans\":"
            "[" SPAN(T1, "0000000000000001", ",\"startTimeUnixNano\":\"100\",\"endTimeUnixNano\":\"200\"") "," SPAN(
                Z32, "0000000000000002",
                "") "," SPAN(T1, "0000000000000000",
                             "") "," SPAN(T1, "0000000000000004",
                                          ",\"startTimeUnixNano\":\"300\",\"endTimeUnixNano\":"
                                          "\"200\"") "," SPAN(T1, "0000000000000005",
                                                              ",\"startTimeUnixNano\":"
                                                              "\"18446744073709551615\","
                                                              "\"endTimeUnixNano\":"
                                                              "\"18446744073709551615\"") "," SPAN(T1,
                                                                                                   "0000000000000006",
                                                                                                   ",\"parentSpanId\":\"0000000000000001\"") "]},"
                                                                                                                                             "{\"spans\":[" SPAN(
                                                                                                                                                 T1,
                                                                                                                                                 "0000000000000007",
                                                                                                                                                 ",\"parentSpanId\":\"0000000000000001\"") "]}]},"
                                                                                                                                                                                           "{\"scopeSpans\":[{\"spans\":[" SPAN(
                                                                                                                                                                                               T1,
                                                                                                                                                                                               "0000000000000008",
                                                                                                                                                                                               ",\"startTimeUnixNano\":\"50\",\"endTimeUnixNano\":\"60\"") "]}]}]}";

typedef struct span_rec {
    size_t n;
    uint8_t sid[16][8];
    int64_t start[16];
    const uint8_t *v[16];
    size_t len[16];
    size_t fail_at; /* return NOMEM at this call (1-based), 0: never */
} span_rec;

static sonde_status on_span(void *ctx, const uint8_t trace_id[16], const uint8_t span_id[8],
                            int64_t start_ns, const uint8_t *value, size_t len)
{
    span_rec *r = ctx;
    if (r->fail_at && r->n + 1 == r->fail_at)
        return SONDE_ERR_NOMEM;
    if (r->n >= 16 || trace_id[0] != 1)
        return SONDE_ERR_INTERNAL;
    memcpy(r->sid[r->n], span_id, 8);
    r->start[r->n] = start_ns;
    r->v[r->n] = value;
    r->len[r->n] = len;
    r->n++;
    return SONDE_OK;
}

static void test_traces_split(void)
{
    arena *a = arena_create(4096, 0);
    trace_req *req = decode(a, OTLP_SIGNAL_TRACES, traces_json);
    if (!req) {
        arena_destroy(a);
        return;
    }
    /* a parent id of a wrong size cannot come through the decoders: set it here */
    req->resource_spans[0]->scope_spans[0]->spans[5]->parent_span_id.len = 3;
    span_rec r = {0};
    size_t rejected = 99;
    char msg[256];
    CHECK_EQ_INT(otlp_traces_split(a, req, on_span, &r, &rejected, msg, sizeof msg), SONDE_OK);
    CHECK_EQ_INT(rejected, 5);
    CHECK_EQ_STR(msg, "resourceSpans[0].scopeSpans[0].spans[1]: traceId is all zeros");
    CHECK_EQ_INT(r.n, 3);
    static const uint8_t want_last[3] = {1, 7, 8};
    static const int64_t want_start[3] = {100, 0, 50};
    for (size_t i = 0; i < r.n && i < 3; i++) {
        CHECK_EQ_INT(r.sid[i][7], want_last[i]);
        CHECK_EQ_INT(r.start[i], want_start[i]);
    }
    /* each value: a ResourceSpans with the resource, one scope, one span */
    const resource_spans *orig[3] = {req->resource_spans[0], req->resource_spans[0],
                                     req->resource_spans[1]};
    const scope_spans *oscope[3] = {req->resource_spans[0]->scope_spans[0],
                                    req->resource_spans[0]->scope_spans[1],
                                    req->resource_spans[1]->scope_spans[0]};
    const span *ospan[3] = {oscope[0]->spans[0], oscope[1]->spans[0], oscope[2]->spans[0]};
    for (size_t i = 0; i < r.n && i < 3; i++) {
        resource_spans *rs =
            opentelemetry__proto__trace__v1__resource_spans__unpack(NULL, r.len[i], r.v[i]);
        CHECK(rs != NULL);
        if (!rs)
            continue;
        CHECK_EQ_INT(rs->n_scope_spans, 1);
        CHECK_EQ_INT(rs->scope_spans[0]->n_spans, 1);
        CHECK_EQ_INT(rs->scope_spans[0]->spans[0]->span_id.data[7], want_last[i]);
        opentelemetry__proto__trace__v1__resource_spans__free_unpacked(rs, NULL);
        /* the bytes are protobuf-c's packing of the composed message */
        scope_spans ss = *oscope[i];
        span *one = (span *)ospan[i];
        ss.spans = &one;
        ss.n_spans = 1;
        scope_spans *ssp = &ss;
        resource_spans comp = *orig[i];
        comp.scope_spans = &ssp;
        comp.n_scope_spans = 1;
        CHECK(pack_eq(&comp.base, r.v[i], r.len[i]));
    }

    /* fn's error stops the split */
    span_rec r2 = {.fail_at = 2};
    CHECK_EQ_INT(otlp_traces_split(a, req, on_span, &r2, &rejected, msg, sizeof msg),
                 SONDE_ERR_NOMEM);
    CHECK_EQ_INT(r2.n, 1);
    CHECK_EQ_INT(otlp_traces_split(a, NULL, on_span, &r2, &rejected, NULL, 0), SONDE_ERR_INVALID);

    /* the arena cap is reported as a limit */
    arena *tiny = arena_create(256, 300);
    span_rec r3 = {0};
    sonde_status st = otlp_traces_split(tiny, req, on_span, &r3, &rejected, NULL, 0);
    CHECK(st == SONDE_ERR_LIMIT);
    arena_destroy(tiny);
    arena_destroy(a);
}

/* ---- logs ---- */

static const char logs_json[] =
    "{\"resourceLogs\":["
    "{\"resource\":{\"attributes\":["
    "{\"key\":\"service.name\",\"value\":{\"stringValue\":\"checkout\"}},"
    "{\"key\":\"k8s.pod.name\",\"value\":{\"stringValue\":\"pod-1\"}},"
    "{\"key\":\"k8s.pod.name\",\"value\":{\"stringValue\":\"second\"}},"
    "{\"key\":\"host.name\",\"value\":{\"stringValue\":\"h\"}},"
    "{\"key\":\"k8s.cluster.name\",\"value\":{\"intValue\":\"42\"}},"
    "{\"key\":\"cloud.region\",\"value\":{\"stringValue\":\"\"}},"
    "{\"key\":\"deployment.environment.name\",\"value\":{\"stringValue\":\"prod\"}},"
    "{\"key\":\"service.namespace\",\"value\":{\"boolValue\":true}}]},"
    "\"scopeLogs\":[{\"scope\":{\"name\":\"l\"},\"logRecords\":["
    "{\"timeUnixNano\":\"5\",\"observedTimeUnixNano\":\"6\",\"body\":{\"stringValue\":\"a\"}},"
    "{\"observedTimeUnixNano\":\"7\",\"body\":{\"stringValue\":\"b\"}},"
    "{\"body\":{\"stringValue\":\"c\"}},"
    "{\"timeUnixNano\":\"9223372036854775808\",\"body\":{\"stringValue\":\"d\"}}]}]},"
    "{\"scopeLogs\":[{\"logRecords\":[{\"timeUnixNano\":\"11\"}]}]}]}";

typedef struct log_rec {
    size_t n;
    char labels[8][256];
    int64_t ts[8];
    const uint8_t *v[8];
    size_t len[8];
} log_rec;

static sonde_status on_log(void *ctx, const sonde_label *stream, uint32_t nlabels, int64_t ts_ns,
                           const uint8_t *value, size_t len, const otlp_log_info *info)
{
    (void)info;
    log_rec *r = ctx;
    if (r->n >= 8)
        return SONDE_ERR_INTERNAL;
    size_t o = 0;
    for (uint32_t i = 0; i < nlabels; i++)
        o += (size_t)snprintf(r->labels[r->n] + o, sizeof r->labels[0] - o, "%s%.*s=%.*s",
                              i ? "," : "", (int)stream[i].name_len, stream[i].name,
                              (int)stream[i].value_len, stream[i].value);
    r->ts[r->n] = ts_ns;
    r->v[r->n] = value;
    r->len[r->n] = len;
    r->n++;
    return SONDE_OK;
}

static void test_logs_split(void)
{
    arena *a = arena_create(4096, 0);
    logs_req *req = decode(a, OTLP_SIGNAL_LOGS, logs_json);
    if (!req) {
        arena_destroy(a);
        return;
    }
    log_rec r = {0};
    size_t rejected = 0;
    char msg[256];
    CHECK_EQ_INT(otlp_logs_split(a, req, 1000, on_log, &r, &rejected, msg, sizeof msg), SONDE_OK);
    CHECK_EQ_INT(rejected, 1);
    CHECK_EQ_STR(msg, "resourceLogs[0].scopeLogs[0].logRecords[3]: timeUnixNano is after the "
                      "year 2262");
    CHECK_EQ_INT(r.n, 4);
    const char *want = "deployment_environment_name=prod,k8s_cluster_name=42,k8s_pod_name=pod-1,"
                       "service_name=checkout,service_namespace=true";
    for (size_t i = 0; i < 3 && i < r.n; i++)
        CHECK_EQ_STR(r.labels[i], want);
    CHECK_EQ_STR(r.labels[3], "service_name=unknown_service");
    CHECK_EQ_INT(r.ts[0], 5);    /* time_unix_nano */
    CHECK_EQ_INT(r.ts[1], 7);    /* else observed */
    CHECK_EQ_INT(r.ts[2], 1000); /* else now */
    CHECK_EQ_INT(r.ts[3], 11);
    /* values: a ResourceLogs holding the whole resource (host.name is kept
     * as structured metadata), one scope, one record */
    for (size_t i = 0; i < r.n && i < 4; i++) {
        resource_logs *rl =
            opentelemetry__proto__logs__v1__resource_logs__unpack(NULL, r.len[i], r.v[i]);
        CHECK(rl != NULL);
        if (!rl)
            continue;
        CHECK_EQ_INT(rl->n_scope_logs, 1);
        CHECK_EQ_INT(rl->scope_logs[0]->n_log_records, 1);
        if (i == 0) {
            CHECK(rl->resource && rl->resource->n_attributes == 8);
            CHECK_EQ_STR(rl->scope_logs[0]->log_records[0]->body->string_value, "a");
            CHECK_EQ_STR(rl->scope_logs[0]->scope->name, "l");
        }
        if (i == 3)
            CHECK(rl->resource == NULL);
        opentelemetry__proto__logs__v1__resource_logs__free_unpacked(rl, NULL);
    }
    /* the promoted list is Loki's (spot check) */
    bool pod = false, svc = false;
    for (size_t i = 0; i < otlp_logs_index_nattrs; i++) {
        pod |= strcmp(otlp_logs_index_attrs[i], "k8s.pod.name") == 0;
        svc |= strcmp(otlp_logs_index_attrs[i], "service.name") == 0;
    }
    CHECK(pod && svc && otlp_logs_index_nattrs == 18);
    arena_destroy(a);
}

/* ---- assemble ---- */

static const char asm_json[] =
    "{\"resourceSpans\":["
    "{\"resource\":{\"attributes\":[{\"key\":\"service.name\",\"value\":{\"stringValue\":\"a\"}}]},"
    "\"scopeSpans\":[{\"scope\":{\"name\":\"s1\"},\"spans\":[" SPAN(T1, "0000000000000003", ",\"startTimeUnixNano\":\"30\",\"endTimeUnixNano\":\"99\"") "," SPAN(
        T1, "0000000000000001",
        ",\"startTimeUnixNano\":\"10\",\"endTimeUnixNano\":\"99\"") "]}]},"
                                                                    "{\"resource\":{\"attributes\":"
                                                                    "[{\"key\":\"service.name\","
                                                                    "\"value\":{\"stringValue\":"
                                                                    "\"a\"}}]},"
                                                                    "\"scopeSpans\":[{\"scope\":{"
                                                                    "\"name\":\"s2\"},\"spans\":"
                                                                    "[" SPAN(
                                                                        T1, "0000000000000002",
                                                                        ",\"startTimeUnixNano\":"
                                                                        "\"20\","
                                                                        "\"endTimeUnixNano\":"
                                                                        "\"99\"") "]},"
                                                                                  "{\"scope\":{"
                                                                                  "\"name\":\"s1\"}"
                                                                                  ",\"spans\":"
                                                                                  "[" SPAN(T1, "0000000000000005", ",\"startTimeUnixNano\":\"20\",\"endTimeUnixNano\":\"99\"") "," SPAN(
                                                                                      T1,
                                                                                      "000000000000"
                                                                                      "0004",
                                                                                      ",\"startTime"
                                                                                      "UnixNano\":"
                                                                                      "\"20\","
                                                                                      "\"endTimeUni"
                                                                                      "xNano\":"
                                                                                      "\"99\"") "]}"
                                                                                                "]}"
                                                                                                ","
                                                                                                "{"
                                                                                                "\""
                                                                                                "re"
                                                                                                "so"
                                                                                                "ur"
                                                                                                "ce"
                                                                                                "\""
                                                                                                ":{"
                                                                                                "},"
                                                                                                "\""
                                                                                                "sc"
                                                                                                "op"
                                                                                                "eS"
                                                                                                "pa"
                                                                                                "ns"
                                                                                                "\""
                                                                                                ":["
                                                                                                "{"
                                                                                                "\""
                                                                                                "sc"
                                                                                                "op"
                                                                                                "e"
                                                                                                "\""
                                                                                                ":{"
                                                                                                "\""
                                                                                                "na"
                                                                                                "me"
                                                                                                "\""
                                                                                                ":"
                                                                                                "\""
                                                                                                "s1"
                                                                                                "\""
                                                                                                "},"
                                                                                                "\""
                                                                                                "sp"
                                                                                                "an"
                                                                                                "s"
                                                                                                "\""
                                                                                                ":"
                                                                                                "[" SPAN(
                                                                                                    T1,
                                                                                                    "0000000000000006",
                                                                                                    ",\"startTimeUnixNano\":\"5\",\"endTimeUnixNano\":\"99\"") "]}]},"
                                                                                                                                                               "{\"scopeSpans\":[{\"scope\":{\"name\":\"s1\"},\"spans\":[" SPAN(
                                                                                                                                                                   T1,
                                                                                                                                                                   "0000000000000007",
                                                                                                                                                                   ",\"startTimeUnixNano\":\"6\",\"endTimeUnixNano\":\"99\"") "]}]}]}";

static void test_assemble(void)
{
    arena *a = arena_create(4096, 0);
    trace_req *req = decode(a, OTLP_SIGNAL_TRACES, asm_json);
    if (!req) {
        arena_destroy(a);
        return;
    }
    span_rec r = {0};
    size_t rejected;
    CHECK_EQ_INT(otlp_traces_split(a, req, on_span, &r, &rejected, NULL, 0), SONDE_OK);
    CHECK_EQ_INT(r.n, 7);
    /* storage order is by span id; feed them reversed plus one bad value */
    const void *vals[8];
    size_t lens[8];
    for (size_t i = 0; i < 7; i++) {
        vals[i] = r.v[6 - i];
        lens[i] = r.len[6 - i];
    }
    vals[7] = "\xff\xff\xff";
    lens[7] = 3;
    void *tdv = NULL;
    size_t bad = 0;
    CHECK_EQ_INT(otlp_traces_assemble(a, vals, lens, 8, &tdv, &bad), SONDE_OK);
    CHECK_EQ_INT(bad, 1);
    const traces_data *td = tdv;
    if (!td)
        goto out;
    /* resources by first span: {} (5), absent (6), service a (10) */
    CHECK_EQ_INT(td->n_resource_spans, 3);
    if (td->n_resource_spans != 3)
        goto out;
    CHECK(td->resource_spans[0]->resource && td->resource_spans[0]->resource->n_attributes == 0);
    CHECK(td->resource_spans[1]->resource == NULL);
    const resource_spans *ra = td->resource_spans[2];
    CHECK(ra->resource && ra->resource->n_attributes == 1);
    CHECK_EQ_INT(ra->n_scope_spans, 2);
    if (ra->n_scope_spans == 2) {
        /* s1 first (span at 10): 1 (10), 4 (20), 5 (20), 3 (30); then s2: 2 */
        CHECK_EQ_STR(ra->scope_spans[0]->scope->name, "s1");
        CHECK_EQ_INT(ra->scope_spans[0]->n_spans, 4);
        static const uint8_t order[4] = {1, 4, 5, 3};
        for (size_t i = 0; i < 4 && i < ra->scope_spans[0]->n_spans; i++)
            CHECK_EQ_INT(ra->scope_spans[0]->spans[i]->span_id.data[7], order[i]);
        CHECK_EQ_STR(ra->scope_spans[1]->scope->name, "s2");
        CHECK_EQ_INT(ra->scope_spans[1]->n_spans, 1);
    }
    /* and it renders */
    buf b;
    buf_init(&b, 1 << 20);
    CHECK_EQ_INT(otlp_json_encode(&b, (const struct ProtobufCMessage *)td), SONDE_OK);
    CHECK(b.len > 0 && strncmp(b.data, "{\"resourceSpans\":[{\"resource\":{},", 33) == 0);
    buf_fini(&b);

    /* nothing in, empty TracesData out */
    CHECK_EQ_INT(otlp_traces_assemble(a, NULL, NULL, 0, &tdv, NULL), SONDE_OK);
    CHECK(tdv && ((const traces_data *)tdv)->n_resource_spans == 0);
out:
    arena_destroy(a);
}

int main(void)
{
    RUN(test_traces_split);
    RUN(test_logs_split);
    RUN(test_assemble);
    return TEST_DONE();
}
