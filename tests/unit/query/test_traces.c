/*
 * test_traces.c - trace retrieval end to end: an OTLP/JSON export request is
 * decoded, split into span rows (otlp_traces_split), committed as a traces
 * batch, and read back through GET /api/traces/<id> and /api/v2/traces/<id>
 * (Tempo v1 and v2 shapes, OTLP/JSON that decodes to the stored spans, merged
 * by resource and scope, sorted by start), with tenants kept apart, short ids
 * padded, 400 for bad ids, 404 for unknown traces and protobuf on request.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/httpmsg.h"
#include "ingest/otlp/otlp.h"
#include "otlp_trace_service.pb-c.h"
#include "query/query.h"
#include "test.h"

static storage *st;
static query_engine *qe;
static char body[1 << 16];
static size_t body_len;
static int status;
static const char *ctype;

static sonde_status no_decode(void *ctx, storage_batch_kind kind, const void *payload, size_t len,
                              arena **decoded, sonde_series **series, size_t *nseries, const storage_series_meta **meta)
{
    (void)meta;
    (void)ctx, (void)kind, (void)payload, (void)len;
    *decoded = NULL;
    *series = NULL;
    *nseries = 0;
    return SONDE_ERR_UNSUPPORTED;
}

static bool get(const char *tenant, const char *path, const char *accept)
{
    arena *a = arena_create(4096, 0);
    http_header hdr = {"accept", 6, accept, accept ? strlen(accept) : 0};
    http_request req;
    memset(&req, 0, sizeof req);
    req.method = HTTP_METHOD_GET;
    req.path = path;
    req.path_len = strlen(path);
    req.query = "";
    req.tenant = tenant;
    req.arena = a;
    if (accept) {
        req.headers = &hdr;
        req.nheaders = 1;
    }
    http_response resp;
    http_response_init(&resp, 1 << 20);
    bool handled = query_traces_handle(qe, &req, &resp);
    status = handled ? resp.status : 0;
    ctype = resp.content_type;
    body_len = resp.body.len < sizeof body - 1 ? resp.body.len : sizeof body - 1;
    if (body_len)
        memcpy(body, resp.body.data, body_len);
    body[body_len] = 0;
    http_response_fini(&resp);
    arena_destroy(a);
    return handled;
}

static _Atomic int done_calls;

static void on_done(void *ctx, sonde_status s, bool dup)
{
    (void)ctx, (void)dup;
    if (s == SONDE_OK)
        atomic_fetch_add(&done_calls, 1);
}

static sonde_status add_span(void *ctx, const uint8_t trace_id[16], const uint8_t span_id[8],
                             int64_t start_ns, const uint8_t *value, size_t len)
{
    return storage_batch_add_span(ctx, trace_id, span_id, start_ns, value, len);
}

/* The ingest path for one OTLP/JSON traces request; returns rejected spans. */
static size_t ingest(const char *tenant, const char *json)
{
    arena *a = arena_create(4096, 0);
    void *req;
    char err[256];
    CHECK_EQ_INT(otlp_request_decode(a, OTLP_SIGNAL_TRACES, OTLP_FORMAT_JSON, (const uint8_t *)json,
                                     strlen(json), NULL, &req, err, sizeof err),
                 SONDE_OK);
    uint8_t *pb;
    size_t n;
    CHECK_EQ_INT(otlp_request_pack(a, OTLP_SIGNAL_TRACES, req, &pb, &n), SONDE_OK);
    storage_batch *b =
        storage_batch_create(tenant, STORAGE_BATCH_OTLP_TRACES_V1, pb, n, a, NULL, 0);
    size_t rejected = 0;
    CHECK_EQ_INT(otlp_traces_split(a, req, add_span, b, &rejected, err, sizeof err), SONDE_OK);
    int before = atomic_load(&done_calls);
    CHECK_EQ_INT(storage_submit(st, b, on_done, NULL), SONDE_OK);
    for (int i = 0; i < 5000 && atomic_load(&done_calls) == before; i++)
        usleep(1000);
    CHECK(atomic_load(&done_calls) == before + 1);
    return rejected;
}

#define SPAN(tid, sid, start, extra)                                                               \
    "{\"traceId\":\"" tid "\",\"spanId\":\"" sid                                                   \
    "\",\"name\":\"op\",\"startTimeUnixNano\":\"" start                                            \
    "\",\"endTimeUnixNano\":\"1800000000000000000\"" extra "}"
#define TID "5b8efff798038103d269b633813fc60c"
#define SHORT "00000000000000000000000000000abc"

static const char req1[] =
    "{\"resourceSpans\":[{\"resource\":{\"attributes\":[{\"key\":\"service.name\",\"value\":"
    "{\"stringValue\":\"cart\"}}]},\"scopeSpans\":[{\"scope\":{\"name\":\"lib\"},\"spans\":[" SPAN(
        TID, "0000000000000002", "1700000000000000002",
        ",\"parentSpanId\":\"0000000000000001\"") "," SPAN(TID, "0000000000000001",
                                                           "1700000000000000001",
                                                           ",\"kind\":2") "]}]}]}";
/* a second request: same resource and scope (merged), one day later, plus another trace */
static const char req2[] =
    "{\"resourceSpans\":[{\"resource\":{\"attributes\":[{\"key\":\"service.name\",\"value\":"
    "{\"stringValue\":\"cart\"}}]},\"scopeSpans\":[{\"scope\":{\"name\":\"lib\"},\"spans\":[" SPAN(
        TID, "0000000000000003", "1700086400000000000",
        "") "," SPAN(SHORT, "0000000000000009", "1700000000000000000",
                     "") "]}]},"
                         "{\"resource\":{\"attributes\":[{\"key\":\"service.name\",\"value\":{"
                         "\"stringValue\":"
                         "\"db\"}}]},\"scopeSpans\":[{\"scope\":{\"name\":\"sql\"},\"spans\":"
                         "[" SPAN(TID, "0000000000000004", "1700000000000000003", "") "]}]}]}";

static void test_get(void)
{
    CHECK_EQ_INT(ingest("acme", req1), 0);
    CHECK_EQ_INT(ingest("acme", req2), 0);
    CHECK_EQ_INT(ingest("other", req1), 0);

    CHECK(get("acme", "/api/traces/" TID, NULL));
    CHECK_EQ_INT(status, 200);
    CHECK_EQ_STR(ctype, "application/json");
    CHECK(strncmp(body, "{\"batches\":[{\"resource\":", 24) == 0);
    /* v1: the batches are ResourceSpans; decode them as an export request */
    char wrapped[sizeof body + 32];
    snprintf(wrapped, sizeof wrapped, "{\"resourceSpans\":%s}", body + strlen("{\"batches\":"));
    wrapped[strlen(wrapped) - 1] = 0; /* the inner '}' of {"batches":[...]} */
    arena *a = arena_create(4096, 0);
    void *req = NULL;
    char err[256];
    CHECK_EQ_INT(otlp_request_decode(a, OTLP_SIGNAL_TRACES, OTLP_FORMAT_JSON,
                                     (const uint8_t *)wrapped, strlen(wrapped), NULL, &req, err,
                                     sizeof err),
                 SONDE_OK);
    const Opentelemetry__Proto__Collector__Trace__V1__ExportTraceServiceRequest *r = req;
    if (r) {
        /* cart (spans 1, 2, 3 in start order, one scope), then db (4) */
        CHECK_EQ_INT(r->n_resource_spans, 2);
        if (r->n_resource_spans == 2) {
            const Opentelemetry__Proto__Trace__V1__ScopeSpans *ss =
                r->resource_spans[0]->scope_spans[0];
            CHECK_EQ_INT(r->resource_spans[0]->n_scope_spans, 1);
            CHECK_EQ_INT(ss->n_spans, 3);
            for (size_t i = 0; i < ss->n_spans && i < 3; i++)
                CHECK_EQ_INT(ss->spans[i]->span_id.data[7], i + 1);
            CHECK_EQ_STR(r->resource_spans[1]->resource->attributes[0]->value->string_value, "db");
        }
    }
    arena_destroy(a);
    CHECK(strstr(body, "\"parentSpanId\":\"0000000000000001\"") != NULL);
    CHECK(strstr(body, "\"startTimeUnixNano\":\"1700000000000000001\"") != NULL);
    CHECK(strstr(body, "\"kind\":2") != NULL);

    /* v2 shape; ids in upper case */
    CHECK(get("acme", "/api/v2/traces/5B8EFFF798038103D269B633813FC60C", NULL));
    CHECK_EQ_INT(status, 200);
    CHECK(strncmp(body, "{\"trace\":{\"resourceSpans\":[{", 28) == 0);
    CHECK(body_len > 3 && strcmp(body + body_len - 3, "]}}") == 0);

    /* tenants are apart: "other" has only req1's two spans */
    CHECK(get("other", "/api/traces/" TID, NULL));
    CHECK_EQ_INT(status, 200);
    CHECK(strstr(body, "0000000000000003") == NULL && strstr(body, "0000000000000002") != NULL);
    CHECK(get("nobody", "/api/traces/" TID, NULL));
    CHECK_EQ_INT(status, 404);
    CHECK_EQ_STR(body, "{\"error\":\"trace not found\"}");

    /* short ids are left-padded, as Tempo does */
    CHECK(get("acme", "/api/traces/abc", NULL));
    CHECK_EQ_INT(status, 200);
    CHECK(strstr(body, "\"traceId\":\"" SHORT "\"") != NULL);

    /* protobuf: a packed TracesData */
    CHECK(get("acme", "/api/traces/" TID, "application/protobuf"));
    CHECK_EQ_INT(status, 200);
    CHECK_EQ_STR(ctype, "application/protobuf");
    Opentelemetry__Proto__Trace__V1__TracesData *td =
        opentelemetry__proto__trace__v1__traces_data__unpack(NULL, body_len, (const uint8_t *)body);
    CHECK(td && td->n_resource_spans == 2);
    if (td)
        opentelemetry__proto__trace__v1__traces_data__free_unpacked(td, NULL);
}

static void test_errors(void)
{
    CHECK(get("acme", "/api/traces/xyz", NULL));
    CHECK_EQ_INT(status, 400);
    CHECK(get("acme", "/api/traces/", NULL));
    CHECK_EQ_INT(status, 400);
    CHECK(get("acme", "/api/traces/" TID "00", NULL)); /* 34 digits */
    CHECK_EQ_INT(status, 400);
    CHECK(get("acme", "/api/traces/0000", NULL)); /* all zero */
    CHECK_EQ_INT(status, 400);
    CHECK(get("acme", "/api/traces/" TID "/x", NULL));
    CHECK_EQ_INT(status, 400);
    CHECK(get("acme", "/api/traces/fff", NULL));
    CHECK_EQ_INT(status, 404);
    CHECK(!get("acme", "/api/v1/query", NULL));
    CHECK(!get("acme", "/api/tracesx", NULL));
    http_request req = {.method = HTTP_METHOD_POST, .path = "/api/traces/abc", .path_len = 15};
    http_response resp;
    http_response_init(&resp, 1 << 10);
    CHECK(query_traces_handle(qe, &req, &resp));
    CHECK_EQ_INT(resp.status, 405);
    http_response_fini(&resp);
}

int main(void)
{
    char dir[] = "/tmp/sonde-traces-test-XXXXXX";
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    storage_config cfg = {0};
    cfg.data_dir = dir;
    cfg.decode = no_decode;
    char err[256];
    if (storage_open(&cfg, &st, err, sizeof err) != SONDE_OK) {
        fprintf(stderr, "storage_open: %s\n", err);
        return 1;
    }
    qe = query_engine_create(st, NULL);
    RUN(test_get);
    RUN(test_errors);
    query_engine_destroy(qe);
    storage_close(st);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "cleanup failed\n");
    return TEST_DONE();
}
