/*
 * test_router.c - tenant selection from X-Scope-OrgID (ingest/request.c):
 * default tenant, valid ids, and invalid ids that the router answers with 400;
 * HTTP/1.1 response serialisation; and routing decisions that need neither
 * storage nor threads (ingest/router.c).
 */
#include <stdio.h>
#include <string.h>

#include "ingest/ingest_internal.h"
#include "test.h"

static int resolve(const char *value, const char **tenant)
{
    http_header h = {"x-scope-orgid", 13, value, value ? strlen(value) : 0};
    http_request req;
    memset(&req, 0, sizeof req);
    req.headers = value ? &h : NULL;
    req.nheaders = value ? 1 : 0;
    int rc = ingest_req_tenant_resolve(&req);
    *tenant = req.tenant;
    return rc;
}

static void test_default_tenant(void)
{
    const char *t;
    CHECK_EQ_INT(resolve(NULL, &t), 0);
    CHECK_EQ_STR(t, "anonymous");
}

static void test_valid_tenants(void)
{
    const char *t;
    const char *ok[] = {"team-a", "A.b_c", "x", "(prod)*'!"};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        CHECK_EQ_INT(resolve(ok[i], &t), 0);
        CHECK_EQ_STR(t, ok[i]);
    }
}

static void test_invalid_tenants(void)
{
    const char *t;
    char longid[200];
    memset(longid, 'a', sizeof longid - 1);
    longid[sizeof longid - 1] = '\0';
    const char *bad[] = {"", ".", "..", "a/b", "a b", "é", longid, "a|b"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        CHECK(resolve(bad[i], &t) != 0);
}

static void test_status_reasons(void)
{
    http_response r;
    http_response_init(&r, 1024);
    http_response_text(&r, 503, "overloaded");
    r.retry_after_s = 1;
    buf out;
    buf_init(&out, 4096);
    CHECK_EQ_INT(ingest_resp_serialize_h1(&r, true, false, "Mon, 23 Nov 2026 11:00:00 GMT", &out),
                 0);
    CHECK(strncmp(out.data, "HTTP/1.1 503 Service Unavailable\r\n", 34) == 0);
    CHECK(strstr(out.data, "Retry-After: 1\r\n") != NULL);
    CHECK(strstr(out.data, "Content-Length: 11\r\n") != NULL);
    CHECK(strstr(out.data, "Connection: keep-alive\r\n\r\noverloaded\n") != NULL);
    buf_reset(&out);
    r.status = 204;
    buf_reset(&r.body);
    CHECK_EQ_INT(ingest_resp_serialize_h1(&r, false, false, "d", &out), 0);
    CHECK(strstr(out.data, "Content-Length") == NULL);
    CHECK(strstr(out.data, "Connection: close\r\n") != NULL);
    buf_fini(&out);
    http_response_fini(&r);
}

/* ---- dispatch without storage, workers or net threads ---- */

static ingest_req *mkreq(http_method m, const char *path, const char *tenant, const char *ctype,
                         const char *cenc)
{
    ingest_req *r = ingest_req_create(4096, 1 << 20);
    http_header *h = arena_calloc(r->arena, 3, sizeof *h);
    size_t n = 0;
    if (tenant)
        h[n++] = (http_header){"x-scope-orgid", 13, tenant, strlen(tenant)};
    if (ctype)
        h[n++] = (http_header){"content-type", 12, ctype, strlen(ctype)};
    if (cenc)
        h[n++] = (http_header){"content-encoding", 16, cenc, strlen(cenc)};
    r->http.method = m;
    r->http.path = path;
    r->http.path_len = strlen(path);
    r->http.headers = h;
    r->http.nheaders = n;
    return r;
}

static int route(ingest_ctx *ctx, ingest_req *r, const char *expect_body_part)
{
    CHECK_EQ_INT(ingest_router_dispatch(ctx, r), INGEST_ROUTE_DONE);
    int status = r->resp.status;
    if (expect_body_part) {
        buf_putc(&r->resp.body, '\0');
        CHECK(r->resp.body.data && strstr(r->resp.body.data, expect_body_part) != NULL);
    }
    ingest_req_destroy(r);
    return status;
}

static void test_dispatch(void)
{
    ingest_config cfg;
    ingest_config_defaults(&cfg);
    ingest_ctx ctx;
    memset(&ctx, 0, sizeof ctx);
    ctx.cfg = &cfg;
    ctx.metrics = ingest_metrics_create();
    rw_limits_defaults(&ctx.rwl);

    CHECK_EQ_INT(route(&ctx, mkreq(HTTP_METHOD_GET, "/-/healthy", NULL, NULL, NULL), NULL), 200);
    CHECK_EQ_INT(route(&ctx, mkreq(HTTP_METHOD_GET, "/-/healthy", "bad/tenant", NULL, NULL),
                       "invalid tenant id"),
                 400);
    CHECK_EQ_INT(route(&ctx, mkreq(HTTP_METHOD_GET, "/-/ready", "t1", NULL, NULL), "replaying"),
                 503);
    CHECK_EQ_INT(route(&ctx, mkreq(HTTP_METHOD_GET, "/api/v1/write", NULL, NULL, NULL), NULL), 405);
    CHECK_EQ_INT(route(&ctx,
                       mkreq(HTTP_METHOD_POST, "/api/v1/write", "t1",
                             "application/x-protobuf;proto=io.prometheus.write.v2.Request", NULL),
                       "2.0"),
                 415);
    CHECK_EQ_INT(route(&ctx, mkreq(HTTP_METHOD_POST, "/api/v1/write", NULL, NULL, "gzip"),
                       "Content-Encoding"),
                 415);
    CHECK_EQ_INT(route(&ctx, mkreq(HTTP_METHOD_GET, "/nope", NULL, NULL, NULL), "not found"), 404);
    /* no worker pool: queries are refused with 503, never run on the net thread */
    CHECK_EQ_INT(route(&ctx, mkreq(HTTP_METHOD_GET, "/api/v1/query", NULL, NULL, NULL), NULL), 503);
    CHECK_EQ_INT(route(&ctx, mkreq(HTTP_METHOD_GET, "/metrics", NULL, NULL, NULL),
                       "sonde_http_requests_total"),
                 200);
    /* --max-inflight-bytes: refused before decoding while other writes hold
     * the budget; never when nothing is in flight (here: storage is not open) */
    CHECK_EQ_INT(route(&ctx, mkreq(HTTP_METHOD_POST, "/api/v1/write", NULL, NULL, NULL),
                       "storage is not open"),
                 503);
    atomic_store(&ctx.inflight_bytes, cfg.max_inflight_bytes);
    ingest_req *w = mkreq(HTTP_METHOD_POST, "/api/v1/write", NULL, NULL, NULL);
    w->http.body = (const uint8_t *)"0123456789";
    w->http.body_len = 10;
    CHECK_EQ_INT(ingest_router_dispatch(&ctx, w), INGEST_ROUTE_DONE);
    CHECK_EQ_INT(w->resp.status, 503);
    CHECK_EQ_INT(w->resp.retry_after_s, 1);
    buf_putc(&w->resp.body, '\0');
    CHECK(strstr(w->resp.body.data, "--max-inflight-bytes") != NULL);
    ingest_req_destroy(w);
    CHECK(atomic_load(&ctx.inflight_bytes) == cfg.max_inflight_bytes);
    CHECK_EQ_INT(route(&ctx, mkreq(HTTP_METHOD_GET, "/metrics", NULL, NULL, NULL),
                       "sonde_ingest_inflight_bytes 1073741824"),
                 200);
    CHECK_EQ_INT(route(&ctx, mkreq(HTTP_METHOD_GET, "/metrics", NULL, NULL, NULL),
                       "sonde_remote_write_requests_rejected_total{reason=\"overload\"} 1"),
                 200);
    ingest_metrics_destroy(ctx.metrics);
}

/* rw_decode failures: a cap is permanent (413, Prometheus drops the batch),
 * malloc failing is not (503 + Retry-After, Prometheus retries). */
static void test_decode_failed(void)
{
    ingest_config cfg;
    ingest_config_defaults(&cfg);
    ingest_ctx ctx;
    memset(&ctx, 0, sizeof ctx);
    ctx.cfg = &cfg;
    ctx.metrics = ingest_metrics_create();

    ingest_req *r = mkreq(HTTP_METHOD_POST, "/api/v1/write", NULL, NULL, NULL);
    ingest_router_decode_failed(&ctx, r, SONDE_ERR_LIMIT,
                                "request exceeds the decode memory cap of 1000 bytes");
    CHECK_EQ_INT(r->resp.status, 413);
    CHECK_EQ_INT(r->resp.retry_after_s, 0);
    buf_putc(&r->resp.body, '\0');
    CHECK(strstr(r->resp.body.data, "memory cap of 1000 bytes") != NULL);
    ingest_req_destroy(r);

    r = mkreq(HTTP_METHOD_POST, "/api/v1/write", NULL, NULL, NULL);
    ingest_router_decode_failed(&ctx, r, SONDE_ERR_NOMEM, "");
    CHECK_EQ_INT(r->resp.status, 503);
    CHECK_EQ_INT(r->resp.retry_after_s, 1);
    buf out;
    buf_init(&out, 4096);
    CHECK_EQ_INT(ingest_resp_serialize_h1(&r->resp, true, false, "d", &out), 0);
    CHECK(strstr(out.data, "HTTP/1.1 503 ") == out.data);
    CHECK(strstr(out.data, "Retry-After: 1\r\n") != NULL);
    CHECK(strstr(out.data, "out of memory") != NULL);
    buf_fini(&out);
    ingest_req_destroy(r);

    r = mkreq(HTTP_METHOD_POST, "/api/v1/write", NULL, NULL, NULL);
    ingest_router_decode_failed(&ctx, r, SONDE_ERR_INVALID, "protobuf: malformed WriteRequest");
    CHECK_EQ_INT(r->resp.status, 400);
    ingest_req_destroy(r);

    CHECK_EQ_INT(route(&ctx, mkreq(HTTP_METHOD_GET, "/metrics", NULL, NULL, NULL),
                       "sonde_remote_write_requests_rejected_total{reason=\"too_large\"} 1"),
                 200);
    ingest_metrics_destroy(ctx.metrics);
}

/* POST /v1/metrics (OTLP/HTTP) up to storage: content type and encoding
 * checks, decode errors, delta rejection with partial_success; with no
 * storage open, a valid request gets as far as the 503 before the batch. */
static int otlp_post(ingest_ctx *ctx, const char *ctype, const char *cenc, const char *body,
                     const char *expect_body_part, const char **resp_ctype)
{
    ingest_req *r = mkreq(HTTP_METHOD_POST, "/v1/metrics", NULL, ctype, cenc);
    r->http.body = (const uint8_t *)body;
    r->http.body_len = strlen(body);
    CHECK_EQ_INT(ingest_router_dispatch(ctx, r), INGEST_ROUTE_DONE);
    int status = r->resp.status;
    if (resp_ctype)
        *resp_ctype = r->resp.content_type;
    buf_putc(&r->resp.body, '\0');
    if (expect_body_part && !(r->resp.body.data && strstr(r->resp.body.data, expect_body_part))) {
        CHECK(!"response body");
        fprintf(stderr, "  body: %s\n", r->resp.body.data ? r->resp.body.data : "(none)");
    }
    ingest_req_destroy(r);
    return status;
}

static void test_otlp_metrics(void)
{
    ingest_config cfg;
    ingest_config_defaults(&cfg);
    ingest_ctx ctx;
    memset(&ctx, 0, sizeof ctx);
    ctx.cfg = &cfg;
    ctx.metrics = ingest_metrics_create();
    rw_limits_defaults(&ctx.rwl);
    const char *gauge =
        "{\"resourceMetrics\":[{\"resource\":{\"attributes\":[{\"key\":\"service.name\","
        "\"value\":{\"stringValue\":\"svc\"}}]},\"scopeMetrics\":[{\"metrics\":[{\"name\":"
        "\"g\",\"gauge\":{\"dataPoints\":[{\"timeUnixNano\":\"1700000000000000000\","
        "\"asDouble\":1.5}]}}]}]}]}";
    const char *delta =
        "{\"resourceMetrics\":[{\"scopeMetrics\":[{\"metrics\":[{\"name\":\"d\",\"sum\":"
        "{\"aggregationTemporality\":1,\"isMonotonic\":true,\"dataPoints\":[{"
        "\"timeUnixNano\":\"1700000000000000000\",\"asInt\":\"3\"},{"
        "\"timeUnixNano\":\"1700000001000000000\",\"asInt\":\"4\"}]}}]}]}]}";
    const char *ct = NULL;

    CHECK_EQ_INT(route(&ctx, mkreq(HTTP_METHOD_GET, "/v1/metrics", NULL, NULL, NULL), NULL), 405);
    CHECK_EQ_INT(otlp_post(&ctx, NULL, NULL, gauge, "Content-Type", NULL), 415);
    CHECK_EQ_INT(otlp_post(&ctx, "text/plain", NULL, gauge, "Content-Type", NULL), 415);
    CHECK_EQ_INT(otlp_post(&ctx, "application/jsonx", NULL, gauge, "Content-Type", NULL), 415);
    CHECK_EQ_INT(otlp_post(&ctx, "application/json", "br", gauge, "Content-Encoding", NULL), 415);
    CHECK_EQ_INT(otlp_post(&ctx, "application/json", "snappy", gauge, "Content-Encoding", NULL),
                 415);
    CHECK_EQ_INT(otlp_post(&ctx, "application/json", NULL, "{\"resourceMetrics\": [", "JSON", NULL),
                 400);
    CHECK_EQ_INT(otlp_post(&ctx, "application/json", NULL, "{\"resourceMetrics\": 1}",
                           "resourceMetrics", NULL),
                 400);
    CHECK_EQ_INT(otlp_post(&ctx, "application/x-protobuf", NULL, "\xff\xff", "protobuf", NULL),
                 400);
    CHECK_EQ_INT(otlp_post(&ctx, "application/json", "gzip", gauge, "gzip", NULL), 400);
    /* valid: decoded and translated, then refused only because storage is closed */
    CHECK_EQ_INT(otlp_post(&ctx, "application/json; charset=utf-8", "identity", gauge,
                           "storage is not open", NULL),
                 503);
    CHECK_EQ_INT(otlp_post(&ctx, " Application/JSON ", NULL, gauge, "storage is not open", NULL),
                 503);
    /* delta points are data like any other (the aggregator accumulates
     * them): refused here only because storage is closed */
    CHECK_EQ_INT(otlp_post(&ctx, "application/json", NULL, delta, "storage is not open", &ct), 503);
    /* too large before decoding */
    ctx.rwl.max_decoded = 8;
    CHECK_EQ_INT(otlp_post(&ctx, "application/json", NULL, gauge, "--max-decoded-size", NULL), 413);
    /* OTLP refusals do not count as remote-write rejections */
    CHECK_EQ_INT(route(&ctx, mkreq(HTTP_METHOD_GET, "/metrics", NULL, NULL, NULL),
                       "sonde_remote_write_samples_total{result=\"accepted\"} 0"),
                 200);
    /* traces and logs: an empty export is a success with nothing to store;
     * a span with a zero trace id is refused with partial_success */
    const char *paths[] = {"/v1/traces", "/v1/logs"};
    for (size_t i = 0; i < 2; i++) {
        ingest_req *r = mkreq(HTTP_METHOD_POST, paths[i], NULL, "application/json", NULL);
        r->http.body = (const uint8_t *)"{}";
        r->http.body_len = 2;
        CHECK_EQ_INT(route(&ctx, r, "{}"), 200);
    }
    ctx.rwl.max_decoded = 1 << 20;
    ingest_req *r = mkreq(HTTP_METHOD_POST, "/v1/traces", NULL, "application/json", NULL);
    const char *zero_trace =
        "{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{\"traceId\":"
        "\"00000000000000000000000000000000\",\"spanId\":\"0102030405060708\",\"name\":\"x\"}]}]}]}";
    r->http.body = (const uint8_t *)zero_trace;
    r->http.body_len = strlen(zero_trace);
    CHECK_EQ_INT(route(&ctx, r, "\"rejectedSpans\":\"1\""), 200);
    /* no such OTLP path */
    CHECK_EQ_INT(route(&ctx, mkreq(HTTP_METHOD_POST, "/v1/nothing", NULL, "application/json", NULL),
                       "not found"),
                 404);
    /* a gRPC call for a method sonde does not serve: 404, UNIMPLEMENTED once sealed */
    r = mkreq(HTTP_METHOD_POST, "/foo.Bar/Baz", NULL, "application/grpc", NULL);
    r->stream_id = 1;
    CHECK_EQ_INT(ingest_router_dispatch(&ctx, r), INGEST_ROUTE_DONE);
    CHECK_EQ_INT(r->resp.status, 404);
    ingest_router_seal(r);
    CHECK_EQ_INT(r->resp.status, 200);
    CHECK_EQ_INT(r->grpc_status, 12);
    CHECK(r->grpc_msg && strstr(r->grpc_msg, "unknown gRPC method") != NULL);
    CHECK_EQ_INT(r->resp.body.len, 0);
    ingest_req_destroy(r);
    /* gRPC over HTTP/1.1 is refused in plain HTTP */
    r = mkreq(HTTP_METHOD_POST, "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
              NULL, "application/grpc", NULL);
    CHECK_EQ_INT(route(&ctx, r, "gRPC needs HTTP/2"), 415);
    ingest_metrics_destroy(ctx.metrics);
}

int main(void)
{
    RUN(test_default_tenant);
    RUN(test_valid_tenants);
    RUN(test_invalid_tenants);
    RUN(test_status_reasons);
    RUN(test_dispatch);
    RUN(test_decode_failed);
    RUN(test_otlp_metrics);
    return TEST_DONE();
}
