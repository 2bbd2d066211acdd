/*
 * test_logql_api.c - the Loki HTTP API (query_loki_handle) over a real
 * storage with log rows committed through storage_batch_add_log +
 * storage_submit, as OTLP ingestion writes them (packed ResourceLogs), and
 * the storage read side (storage_log_streams, storage_log_iter) across days
 * and tenants. Expected bodies follow the Loki HTTP API reference
 * (grafana.com/docs/loki/latest/reference/loki-http-api/): "Query logs
 * within a range of time" (streams and matrix), "Query logs at a single
 * point in time" (vector; log queries refused), "Query labels", "Query
 * label values", "Query streams" (/series), "Query log statistics"
 * (/index/stats) and "Query log volume" (/index/volume).
 */
#include <protobuf-c/protobuf-c.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "otlp_logs.pb-c.h"
#include "query/query.h"
#include "storage/storage_test_util.h"
#include "test.h"

#define TS INT64_C(1700000000) /* 2023-11-14T22:13:20Z; the next UTC day starts at TS + 6400 */
#define NS INT64_C(1000000000)

static storage *st;
static query_engine *qe;
static int status;
static char body[1 << 16];
static size_t bytes_checkout; /* line bytes of the checkout stream (index stats, volume) */
static size_t row_bytes[4];   /* line bytes: checkout's three rows, then cart's */

typedef Opentelemetry__Proto__Common__V1__KeyValue kv_t;
typedef Opentelemetry__Proto__Common__V1__AnyValue av_t;

/* A packed ResourceLogs with one record; *len gets its size (malloc'd). */
static uint8_t *record(const char *service, const char *body_str, av_t *body_val,
                       const char *sev_text, int sev_num, const char *attr_k, const char *attr_v,
                       bool trace, size_t *len)
{
    av_t svc = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__INIT;
    svc.value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_STRING_VALUE;
    svc.string_value = (char *)service;
    kv_t rk = OPENTELEMETRY__PROTO__COMMON__V1__KEY_VALUE__INIT;
    rk.key = "service.name";
    rk.value = &svc;
    av_t hostv = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__INIT;
    hostv.value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_STRING_VALUE;
    hostv.string_value = "h1";
    kv_t hk = OPENTELEMETRY__PROTO__COMMON__V1__KEY_VALUE__INIT;
    hk.key = "host.name";
    hk.value = &hostv;
    kv_t *rattrs[] = {&rk, &hk};
    Opentelemetry__Proto__Resource__V1__Resource res =
        OPENTELEMETRY__PROTO__RESOURCE__V1__RESOURCE__INIT;
    res.attributes = rattrs;
    res.n_attributes = 2;

    av_t b = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__INIT;
    b.value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_STRING_VALUE;
    b.string_value = (char *)body_str;
    av_t av = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__INIT;
    av.value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_STRING_VALUE;
    av.string_value = (char *)attr_v;
    kv_t ak = OPENTELEMETRY__PROTO__COMMON__V1__KEY_VALUE__INIT;
    ak.key = (char *)attr_k;
    ak.value = &av;
    kv_t *lattrs[] = {&ak};
    static uint8_t tid[16] = {0x5b, 0x8e, 0xff, 0xf7, 0x98, 0x03, 0x81, 0x03,
                              0xd2, 0x69, 0xb6, 0x33, 0x81, 0x3f, 0xc6, 0x0c};
    Opentelemetry__Proto__Logs__V1__LogRecord lr = OPENTELEMETRY__PROTO__LOGS__V1__LOG_RECORD__INIT;
    lr.body = body_val ? body_val : &b;
    lr.severity_text = (char *)(sev_text ? sev_text : "");
    lr.severity_number = sev_num;
    if (attr_k) {
        lr.attributes = lattrs;
        lr.n_attributes = 1;
    }
    if (trace) {
        lr.trace_id.data = tid;
        lr.trace_id.len = 16;
    }
    Opentelemetry__Proto__Logs__V1__LogRecord *lrs[] = {&lr};
    Opentelemetry__Proto__Common__V1__InstrumentationScope scope =
        OPENTELEMETRY__PROTO__COMMON__V1__INSTRUMENTATION_SCOPE__INIT;
    Opentelemetry__Proto__Logs__V1__ScopeLogs sl = OPENTELEMETRY__PROTO__LOGS__V1__SCOPE_LOGS__INIT;
    sl.scope = &scope;
    sl.log_records = lrs;
    sl.n_log_records = 1;
    Opentelemetry__Proto__Logs__V1__ScopeLogs *sls[] = {&sl};
    Opentelemetry__Proto__Logs__V1__ResourceLogs rl =
        OPENTELEMETRY__PROTO__LOGS__V1__RESOURCE_LOGS__INIT;
    rl.resource = &res;
    rl.scope_logs = sls;
    rl.n_scope_logs = 1;
    *len = protobuf_c_message_get_packed_size(&rl.base);
    uint8_t *out = malloc(*len);
    protobuf_c_message_pack(&rl.base, out);
    return out;
}

static int put_rows(const char *tenant, const char *payload, const sonde_label *stream, uint32_t nl,
                    const int64_t *ts, uint8_t **vals, const size_t *lens, size_t n)
{
    storage_batch *b = storage_batch_create(tenant, STORAGE_BATCH_OTLP_LOGS_V1, payload,
                                            strlen(payload), NULL, NULL, 0);
    if (!b)
        return -1;
    for (size_t i = 0; i < n; i++)
        if (storage_batch_add_log(b, stream, nl, ts[i], vals[i], lens[i]) != SONDE_OK) {
            storage_batch_destroy(b);
            return -1;
        }
    done_rec r = {0};
    if (storage_submit(st, b, done_cb, &r) != SONDE_OK || done_wait(&r, 1, 10000) != 0)
        return -1;
    return atomic_load(&r.ok) == 1 ? 0 : -1;
}

static void load(void)
{
    sonde_label checkout[] = {{"env", "prod", 3, 4}, {"service_name", "checkout", 12, 8}};
    sonde_label cart[] = {{"env", "dev", 3, 3}, {"service_name", "cart", 12, 4}};
    size_t l[3];
    uint8_t *v[3];
    v[0] = record("checkout", "level=info msg=ok status=200", NULL, "INFO", 9, "http.method", "GET",
                  true, &l[0]);
    v[1] = record("checkout", "level=error msg=fail status=500", NULL, "ERROR", 17, NULL, NULL,
                  false, &l[1]);
    v[2] = record("checkout", "level=info msg=late status=200", NULL, NULL, 0, NULL, NULL, false,
                  &l[2]);
    int64_t ts[3] = {(TS + 1) * NS, (TS + 2) * NS, (TS + 6500) * NS};
    CHECK(put_rows("anonymous", "batch-1", checkout, 2, ts, v, l, 3) == 0);
    /* Loki counts the bytes of the lines, not of what is stored */
    row_bytes[0] = strlen("level=info msg=ok status=200");
    row_bytes[1] = strlen("level=error msg=fail status=500");
    row_bytes[2] = strlen("level=info msg=late status=200");
    bytes_checkout = row_bytes[0] + row_bytes[1] + row_bytes[2];
    for (int i = 0; i < 3; i++)
        free(v[i]);
    /* a map body renders as JSON */
    av_t one = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__INIT;
    one.value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_INT_VALUE;
    one.int_value = 1;
    kv_t a = OPENTELEMETRY__PROTO__COMMON__V1__KEY_VALUE__INIT;
    a.key = "a";
    a.value = &one;
    kv_t *kvs[] = {&a};
    Opentelemetry__Proto__Common__V1__KeyValueList kl =
        OPENTELEMETRY__PROTO__COMMON__V1__KEY_VALUE_LIST__INIT;
    kl.values = kvs;
    kl.n_values = 1;
    av_t m = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__INIT;
    m.value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_KVLIST_VALUE;
    m.kvlist_value = &kl;
    v[0] = record("cart", NULL, &m, "warning", 0, NULL, NULL, false, &l[0]);
    row_bytes[3] = strlen("{\"a\":1}"); /* the map body as the JSON line it reads as */
    int64_t ts2[1] = {(TS + 3) * NS};
    CHECK(put_rows("anonymous", "batch-2", cart, 2, ts2, v, l, 1) == 0);
    /* another tenant's stream with the same labels */
    CHECK(put_rows("other", "batch-3", checkout, 2, ts2, v, l, 1) == 0);
    free(v[0]);
}

static void urlenc(char *o, size_t cap, const char *s)
{
    size_t k = 0;
    for (; *s && k + 4 < cap; s++) {
        unsigned char c = (unsigned char)*s;
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '_' || c == '.')
            o[k++] = (char)c;
        else
            k += (size_t)snprintf(o + k, cap - k, "%%%02X", c);
    }
    o[k] = 0;
}

static const char *req(const char *tenant, const char *path, const char *query)
{
    arena *a = arena_create(4096, 0);
    http_request rq;
    memset(&rq, 0, sizeof rq);
    rq.method = HTTP_METHOD_GET;
    rq.path = path;
    rq.path_len = strlen(path);
    rq.query = query ? query : "";
    rq.query_len = strlen(rq.query);
    rq.tenant = tenant;
    rq.arena = a;
    http_response resp;
    http_response_init(&resp, 1 << 20);
    bool handled = query_loki_handle(qe, &rq, &resp);
    status = handled ? resp.status : 0;
    snprintf(body, sizeof body, "%s", handled && resp.body.len ? resp.body.data : "");
    http_response_fini(&resp);
    arena_destroy(a);
    return body;
}

/* GET path?query=<q>&<rest> */
static const char *q(const char *path, const char *logql, const char *rest)
{
    static char qs[4096];
    char enc[2048];
    urlenc(enc, sizeof enc, logql);
    snprintf(qs, sizeof qs, "query=%s%s%s", enc, rest ? "&" : "", rest ? rest : "");
    return req("anonymous", path, qs);
}

/* POST with a form body, as Grafana may send it */
static void test_post_form(void)
{
    static const char form[] = "query=sum(count_over_time(%7Benv%3D%22prod%22%7D%5B1h%5D))&time="
                               "1700003600";
    arena *a = arena_create(4096, 0);
    http_header hdr = {"content-type", 12, "application/x-www-form-urlencoded", 33};
    http_request rq;
    memset(&rq, 0, sizeof rq);
    rq.method = HTTP_METHOD_POST;
    rq.path = "/loki/api/v1/query";
    rq.path_len = strlen(rq.path);
    rq.query = "";
    rq.tenant = "anonymous";
    rq.arena = a;
    rq.headers = &hdr;
    rq.nheaders = 1;
    rq.body = (const uint8_t *)form;
    rq.body_len = sizeof form - 1;
    http_response resp;
    http_response_init(&resp, 1 << 20);
    CHECK(query_loki_handle(qe, &rq, &resp));
    CHECK_EQ_INT(resp.status, 200);
    CHECK(resp.body.len && strstr(resp.body.data, "\"value\":[1700003600,\"2\"]") != NULL);
    /* other methods are refused */
    rq.method = HTTP_METHOD_DELETE;
    CHECK(query_loki_handle(qe, &rq, &resp));
    CHECK_EQ_INT(resp.status, 405);
    http_response_fini(&resp);
    arena_destroy(a);
}

static void test_storage_iter(void)
{
    storage_log_stream *ls;
    size_t n;
    arena *a = arena_create(4096, 0);
    storage_matcher m = {"service_name", 12, STORAGE_MATCH_EQ, "checkout", 8, NULL, NULL};
    CHECK(storage_log_streams(st, "anonymous", &m, 1, a, &ls, &n) == SONDE_OK && n == 1);
    CHECK(storage_log_streams(st, "anonymous", NULL, 0, a, &ls, &n) == SONDE_OK && n == 2);
    storage_matcher nomatch = {"nope", 4, STORAGE_MATCH_NEQ, "", 0, NULL, NULL};
    CHECK(storage_log_streams(st, "anonymous", &nomatch, 1, a, &ls, &n) == SONDE_OK && n == 0);
    CHECK(storage_log_streams(st, "anonymous", &m, 1, a, &ls, &n) == SONDE_OK && n == 1);
    uint64_t id = n ? ls[0].id : 0;
    /* forward across the day boundary */
    storage_log_iter *it;
    int64_t ts, got[4];
    const void *v;
    size_t len, k = 0;
    CHECK(storage_log_iter_create(st, "anonymous", id, TS * NS, (TS + 7000) * NS, false, &it) ==
          SONDE_OK);
    while (k < 4 && storage_log_iter_next(it, &ts, &v, &len) == SONDE_OK)
        got[k++] = ts;
    storage_log_iter_destroy(it);
    CHECK_EQ_INT(k, 3);
    CHECK(k == 3 && got[0] == (TS + 1) * NS && got[1] == (TS + 2) * NS &&
          got[2] == (TS + 6500) * NS);
    /* backward, bounds inclusive */
    k = 0;
    CHECK(storage_log_iter_create(st, "anonymous", id, (TS + 2) * NS, (TS + 6500) * NS, true,
                                  &it) == SONDE_OK);
    while (k < 4 && storage_log_iter_next(it, &ts, &v, &len) == SONDE_OK)
        got[k++] = ts;
    CHECK(storage_log_iter_next(it, &ts, &v, &len) == SONDE_ERR_NOT_FOUND);
    storage_log_iter_destroy(it);
    CHECK(k == 2 && got[0] == (TS + 6500) * NS && got[1] == (TS + 2) * NS);
    /* another tenant sees its own rows only */
    k = 0;
    CHECK(storage_log_iter_create(st, "other", id, TS * NS, (TS + 7000) * NS, false, &it) ==
          SONDE_OK);
    while (k < 4 && storage_log_iter_next(it, &ts, &v, &len) == SONDE_OK)
        got[k++] = ts;
    storage_log_iter_destroy(it);
    CHECK(k == 1 && got[0] == (TS + 3) * NS);
    storage_log_iter_destroy(NULL);
    CHECK(storage_log_iter_create(st, "", id, 0, 1, false, &it) == SONDE_ERR_INVALID);
    arena_destroy(a);
}

static void test_query_range_streams(void)
{
    q("/loki/api/v1/query_range", "{service_name=\"checkout\"} |= \"msg\"",
      "start=1700000000000000000&end=1700007000000000000&direction=forward&limit=10");
    CHECK_EQ_INT(status, 200);
    CHECK(
        strstr(body, "{\"status\":\"success\",\"data\":{\"resultType\":\"streams\",\"result\":[") ==
        body);
    /* structured metadata: record and non-indexed resource attributes, severity, trace id */
    CHECK(strstr(body, "{\"stream\":{\"detected_level\":\"info\",\"env\":\"prod\",\"host_name\":"
                       "\"h1\",\"http_method\":\"GET\",\"service_name\":\"checkout\","
                       "\"severity_text\":\"INFO\",\"trace_id\":"
                       "\"5b8efff798038103d269b633813fc60c\"},\"values\":[[\"1700000001000000000\","
                       "\"level=info msg=ok status=200\"]]}") != NULL);
    CHECK(strstr(body, "{\"stream\":{\"detected_level\":\"error\",\"env\":\"prod\",\"host_name\":"
                       "\"h1\",\"service_name\":\"checkout\",\"severity_text\":\"ERROR\"},"
                       "\"values\":[[\"1700000002000000000\",\"level=error msg=fail "
                       "status=500\"]]}") != NULL);
    CHECK(strstr(body, "\"level=info msg=late status=200\"") != NULL);
    CHECK(strstr(body, "\"stats\":{\"summary\":{") != NULL);
    CHECK(strstr(body, "\"totalLinesProcessed\":3,") != NULL);
    CHECK(strstr(body, "\"totalEntriesReturned\":3,") != NULL);
    /* backward (the default) with limit 1: the newest line, across days */
    q("/loki/api/v1/query_range", "{service_name=\"checkout\"}",
      "start=1700000000&end=1700007000&limit=1");
    CHECK_EQ_INT(status, 200);
    CHECK(strstr(body, "\"values\":[[\"1700006500000000000\",\"level=info msg=late "
                       "status=200\"]]") != NULL);
    CHECK(strstr(body, "msg=ok") == NULL);
    /* end is exclusive; RFC 3339 times */
    q("/loki/api/v1/query_range", "{service_name=\"checkout\"}",
      "start=2023-11-14T22:13:21Z&end=2023-11-14T22:13:22Z");
    CHECK(strstr(body, "msg=ok") != NULL && strstr(body, "msg=fail") == NULL);
    /* a map body is rendered as JSON; parsers run over it */
    q("/loki/api/v1/query_range", "{service_name=\"cart\"} | json | a > 0 | keep a",
      "start=1700000000&end=1700007000");
    CHECK(strstr(body, "{\"stream\":{\"a\":\"1\"},\"values\":[[\"1700000003000000000\","
                       "\"{\\\"a\\\":1}\"]]}") != NULL);
    /* tenants are separate */
    req("nobody", "/loki/api/v1/query_range",
        "query=%7Bservice_name%3D%22checkout%22%7D&start=1700000000&end=1700007000");
    CHECK(strstr(body, "\"result\":[]") != NULL);
}

static void test_query_range_matrix(void)
{
    q("/loki/api/v1/query_range", "sum by (env) (count_over_time({env=~\".+\"}[1h]))",
      "start=1700000000&end=1700007200&step=3600");
    CHECK_EQ_INT(status, 200);
    CHECK(strstr(body, "\"resultType\":\"matrix\",\"result\":[{\"metric\":{\"env\":\"prod\"},"
                       "\"values\":[[1700003600,\"2\"],[1700007200,\"1\"]]},{\"metric\":{\"env\":"
                       "\"dev\"},\"values\":[[1700003600,\"1\"]]}]") != NULL);
    /* the default step: (end - start) / 250, at least 1s */
    q("/loki/api/v1/query_range", "sum(count_over_time({env=\"prod\"}[1h]))",
      "start=1700000000&end=1700000500");
    CHECK(strstr(body, "[1700000002,\"2\"]") != NULL && strstr(body, "[1700000004,") != NULL &&
          strstr(body, "[1700000003,") == NULL);
}

static void test_instant(void)
{
    q("/loki/api/v1/query",
      "sum(count_over_time({service_name=\"checkout\"} | logfmt | status >= "
      "500 [1m]))",
      "time=1700000010");
    CHECK_EQ_INT(status, 200);
    CHECK(strstr(body, "\"resultType\":\"vector\",\"result\":[{\"metric\":{},\"value\":["
                       "1700000010,\"1\"]}]") != NULL);
    q("/loki/api/v1/query", "{service_name=\"checkout\"}", NULL);
    CHECK_EQ_INT(status, 400);
    CHECK_EQ_STR(body, "log queries are not supported as an instant query type, please change "
                       "your query to a range query type\n");
}

static void test_errors(void)
{
    q("/loki/api/v1/query_range", "{service_name=\"checkout\" env=\"prod\"}", NULL);
    CHECK_EQ_INT(status, 400);
    CHECK_EQ_STR(body, "parse error at line 1, col 26: syntax error: unexpected IDENTIFIER, "
                       "expecting } or ,\n");
    q("/loki/api/v1/query_range", "{env=~\".*\"}", NULL);
    CHECK_EQ_INT(status, 400);
    CHECK(strstr(body, "parse error : queries require at least one regexp or equality matcher") ==
          body);
    q("/loki/api/v1/query_range", "{env=\"prod\"}", "limit=6000");
    CHECK_EQ_INT(status, 400);
    CHECK_EQ_STR(body, "max entries limit per query exceeded, limit > max_entries_limit_per_query "
                       "(6000 > 5000)\n");
    q("/loki/api/v1/query_range", "{env=\"prod\"}", "start=abc");
    CHECK_EQ_INT(status, 400);
    q("/loki/api/v1/query_range", "{env=\"prod\"}", "start=1700007000&end=1700000000");
    CHECK_EQ_INT(status, 400);
    q("/loki/api/v1/query_range", "count_over_time({env=\"prod\"}[1m])", "step=0");
    CHECK_EQ_INT(status, 400);
    CHECK(strstr(body, "zero or negative query resolution step") != NULL);
    q("/loki/api/v1/query_range", "{env=\"prod\"}", "direction=sideways");
    CHECK_EQ_INT(status, 400);
    q("/loki/api/v1/query_range", "{env=\"prod\"}", "start=1600000000&end=1700000000");
    CHECK_EQ_INT(status, 400);
    CHECK(strstr(body, "the query time range exceeds the limit") != NULL);
    q("/loki/api/v1/query", "count_over_time({env=\"prod\"}[30d] offset 2d)", NULL);
    CHECK_EQ_INT(status, 400);
    CHECK(strstr(body, "the query time range exceeds the limit (query length: 768h") != NULL);
    q("/loki/api/v1/query_range", "count_over_time({env=\"prod\"} | json [1h])",
      "start=1700000000&end=1700007000&step=3600");
    CHECK_EQ_INT(status, 400);
    CHECK(strstr(body, "pipeline error: 'JSONParserErr'") != NULL);
    req("anonymous", "/loki/api/v1/query_range", "");
    CHECK_EQ_INT(status, 400);
    CHECK(req("anonymous", "/loki/api/v1/nope", "") && status == 0);
    CHECK(req("anonymous", "/api/v1/query", "") && status == 0);
}

static void test_labels_series(void)
{
    req("anonymous", "/loki/api/v1/labels", "start=1700000000&end=1700007000");
    CHECK_EQ_INT(status, 200);
    CHECK_EQ_STR(body, "{\"status\":\"success\",\"data\":[\"env\",\"service_name\"]}");
    req("anonymous", "/loki/api/v1/label/service_name/values", "start=1700000000&end=1700007000");
    CHECK_EQ_STR(body, "{\"status\":\"success\",\"data\":[\"cart\",\"checkout\"]}");
    /* only streams with entries in the range */
    req("anonymous", "/loki/api/v1/label/service_name/values", "start=1700006000&end=1700007000");
    CHECK_EQ_STR(body, "{\"status\":\"success\",\"data\":[\"checkout\"]}");
    q("/loki/api/v1/label/env/values", "{service_name=\"cart\"}",
      "start=1700000000&end=1700007000");
    CHECK_EQ_STR(body, "{\"status\":\"success\",\"data\":[\"dev\"]}");
    req("anonymous", "/loki/api/v1/series",
        "match[]=%7Benv%3D%22prod%22%7D&match[]=%7Bservice_name%3D~%22ca.*%22%7D&start="
        "1700000000&end=1700007000");
    CHECK_EQ_INT(status, 200);
    CHECK_EQ_STR(body, "{\"status\":\"success\",\"data\":[{\"env\":\"dev\",\"service_name\":"
                       "\"cart\"},{\"env\":\"prod\",\"service_name\":\"checkout\"}]}");
    req("anonymous", "/loki/api/v1/series", "match[]=%7Benv%3D%22%22%7D");
    CHECK_EQ_INT(status, 400);
}

static void test_index(void)
{
    q("/loki/api/v1/index/stats", "{service_name=\"checkout\"}", "start=1700000000&end=1700007000");
    CHECK_EQ_INT(status, 200);
    char want[512];
    snprintf(want, sizeof want, "{\"streams\":1,\"chunks\":2,\"entries\":3,\"bytes\":%zu}",
             bytes_checkout);
    CHECK_EQ_STR(body, want);
    q("/loki/api/v1/index/volume", "{env=~\".+\"}", "start=1700000000&end=1700007000");
    CHECK_EQ_INT(status, 200);
    snprintf(want, sizeof want,
             "{\"status\":\"success\",\"data\":{\"resultType\":\"vector\",\"result\":[{"
             "\"metric\":{\"env\":\"prod\"},\"value\":[1700007000,\"%zu\"]},",
             bytes_checkout);
    CHECK(strncmp(body, want, strlen(want)) == 0);
    /* aggregateBy=labels: one series per label name, with an empty value */
    q("/loki/api/v1/index/volume", "{env=~\".+\"}",
      "start=1700000000&end=1700007000&aggregateBy=labels&targetLabels=service_name,env");
    snprintf(want, sizeof want,
             "\"result\":[{\"metric\":{\"env\":\"\"},\"value\":[1700007000,\"%zu\"]},{\"metric\":"
             "{\"service_name\":\"\"},\"value\":[1700007000,\"%zu\"]}]",
             bytes_checkout + row_bytes[3], bytes_checkout + row_bytes[3]);
    CHECK(strstr(body, want) != NULL);
    /* volume_range: the point at t covers (t - step, t] */
    q("/loki/api/v1/index/volume_range", "{env=~\".+\"}",
      "start=1700000000&end=1700007200&step=3600");
    CHECK_EQ_INT(status, 200);
    snprintf(
        want, sizeof want,
        "\"resultType\":\"matrix\",\"result\":[{\"metric\":{\"env\":\"prod\"},\"values\":[["
        "1700003600,\"%zu\"],[1700007200,\"%zu\"]]},{\"metric\":{\"env\":\"dev\"},\"values\":[["
        "1700003600,\"%zu\"]]}]",
        row_bytes[0] + row_bytes[1], row_bytes[2], row_bytes[3]);
    CHECK(strstr(body, want) != NULL);
    q("/loki/api/v1/index/volume", "{env=~\".+\"}", "aggregateBy=nope");
    CHECK_EQ_INT(status, 400);
    q("/loki/api/v1/index/volume", "{env=~\".+\"}",
      "start=1700000000&end=1700007000&limit=1&targetLabels=service_name");
    CHECK(strstr(body, "\"result\":[{\"metric\":{\"service_name\":\"checkout\"},") != NULL &&
          strstr(body, "cart") == NULL);
}

int main(void)
{
    char *dir = tmpdir_make();
    storage_config cfg = config_make(dir);
    char e[256];
    if (storage_open(&cfg, &st, e, sizeof e) != SONDE_OK) {
        fprintf(stderr, "storage_open: %s\n", e);
        return 1;
    }
    query_config qc = {0};
    query_config_defaults(&qc);
    qe = query_engine_create(st, &qc);
    load();
    RUN(test_storage_iter);
    RUN(test_query_range_streams);
    RUN(test_query_range_matrix);
    RUN(test_instant);
    RUN(test_errors);
    RUN(test_labels_series);
    RUN(test_index);
    RUN(test_post_form);
    query_engine_destroy(qe);
    storage_close(st);
    tmpdir_remove(dir);
    return TEST_DONE();
}
