/*
 * test_api.c - end to end through the HTTP query API: a real storage in a
 * temporary directory, samples loaded with storage_append_direct, and
 * hand-built http_requests for query, query_range, series, labels, label
 * values and buildinfo (GET and POST form bodies), checking the JSON and the
 * status codes a Prometheus client sees.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/httpmsg.h"
#include "query/query.h"
#include "test.h"

static storage *st;
static query_engine *qe;
static char body[65536];
static int status;

static sonde_status test_decode(void *ctx, storage_batch_kind kind, const void *payload, size_t len,
                                arena **decoded, sonde_series **series, size_t *nseries, const storage_series_meta **meta)
{
    (void)meta;
    (void)ctx;
    (void)kind;
    (void)payload;
    (void)len;
    *decoded = arena_create(1024, 0);
    *series = NULL;
    *nseries = 0;
    return *decoded ? SONDE_OK : SONDE_ERR_NOMEM;
}

static const char *request(http_method method, const char *tenant, const char *path,
                           const char *query, const char *form)
{
    arena *a = arena_create(4096, 0);
    http_header hdr = {"content-type", 12, "application/x-www-form-urlencoded", 33};
    http_request req;
    memset(&req, 0, sizeof(req));
    req.method = method;
    req.path = path;
    req.path_len = strlen(path);
    req.query = query ? query : "";
    req.query_len = strlen(req.query);
    req.tenant = tenant;
    req.arena = a;
    if (form) {
        req.headers = &hdr;
        req.nheaders = 1;
        req.body = (const uint8_t *)form;
        req.body_len = strlen(form);
    }
    http_response resp;
    http_response_init(&resp, 1 << 20);
    bool handled = query_api_handle(qe, &req, &resp);
    status = handled ? resp.status : 0;
    snprintf(body, sizeof(body), "%s", handled && resp.body.len ? resp.body.data : "");
    http_response_fini(&resp);
    arena_destroy(a);
    return body;
}

static const char *get(const char *path, const char *query)
{
    return request(HTTP_METHOD_GET, "anonymous", path, query, NULL);
}

#define T0 1700000000000LL

static void add_series(const char *tenant, const char *name, const char *k1, const char *v1,
                       const char *k2, const char *v2, double start, double incr, int n,
                       int64_t interval)
{
    sonde_label l[3];
    uint32_t nl = 0;
    l[nl++] = (sonde_label){"__name__", name, 8, (uint32_t)strlen(name)};
    if (k1)
        l[nl++] = (sonde_label){k1, v1, (uint32_t)strlen(k1), (uint32_t)strlen(v1)};
    if (k2)
        l[nl++] = (sonde_label){k2, v2, (uint32_t)strlen(k2), (uint32_t)strlen(v2)};
    series_labels_sort(l, nl);
    sonde_sample s[64];
    for (int i = 0; i < n; i++)
        s[i] = (sonde_sample){T0 + i * interval, start + incr * i};
    sonde_series ser = {l, nl, (uint32_t)n, s, series_labels_hash(l, nl)};
    CHECK_EQ_INT(storage_append_direct(st, tenant, &ser, 1), SONDE_OK);
}

static void test_query(void)
{
    CHECK_EQ_STR(get("/api/v1/query", "query=up&time=1700000030"),
                 "{\"status\":\"success\",\"data\":{\"resultType\":\"vector\",\"result\":["
                 "{\"metric\":{\"__name__\":\"up\",\"instance\":\"a:9100\",\"job\":\"node\"},"
                 "\"value\":[1700000030,\"1\"]},"
                 "{\"metric\":{\"__name__\":\"up\",\"instance\":\"b:9100\",\"job\":\"node\"},"
                 "\"value\":[1700000030,\"1\"]}]}}");
    CHECK_EQ_INT(status, 200);
    CHECK_EQ_STR(get("/api/v1/query",
                     "query=sum%20by%20(job)%20(rate(requests_total%5B1m%5D))&time=1700000060.5"),
                 "{\"status\":\"success\",\"data\":{\"resultType\":\"vector\",\"result\":["
                 "{\"metric\":{\"job\":\"api\"},\"value\":[1700000060.500,\"3\"]}]}}");
    CHECK_EQ_STR(get("/api/v1/query", "query=up%7Binstance%3D~%22b.*%22%7D%20*%202.5&time="
                                      "2023-11-14T22:13:50Z"),
                 "{\"status\":\"success\",\"data\":{\"resultType\":\"vector\",\"result\":["
                 "{\"metric\":{\"instance\":\"b:9100\",\"job\":\"node\"},"
                 "\"value\":[1700000030,\"2.5\"]}]}}");
    CHECK_EQ_STR(get("/api/v1/query", "query=1%2B1&time=1700000000"),
                 "{\"status\":\"success\",\"data\":{\"resultType\":\"scalar\",\"result\":"
                 "[1700000000,\"2\"]}}");
    CHECK_EQ_STR(get("/api/v1/query", "query=%22hi%22&time=1700000000"),
                 "{\"status\":\"success\",\"data\":{\"resultType\":\"string\",\"result\":"
                 "[1700000000,\"hi\"]}}");
    CHECK_EQ_STR(get("/api/v1/query", "query=requests_total%5B30s%5D&time=1700000030"),
                 "{\"status\":\"success\",\"data\":{\"resultType\":\"matrix\",\"result\":["
                 "{\"metric\":{\"__name__\":\"requests_total\",\"job\":\"api\"},"
                 "\"values\":[[1700000010,\"30\"],[1700000020,\"60\"],[1700000030,\"90\"]]}]}}");
    /* POST form body, merged with the query string */
    CHECK_EQ_STR(request(HTTP_METHOD_POST, "anonymous", "/api/v1/query", "time=1700000030",
                         "query=count(up)"),
                 "{\"status\":\"success\",\"data\":{\"resultType\":\"vector\",\"result\":["
                 "{\"metric\":{},\"value\":[1700000030,\"2\"]}]}}");
    /* annotations come after data, with the position in the query */
    CHECK_EQ_STR(get("/api/v1/query", "query=quantile(2,%20up)&time=1700000030"),
                 "{\"status\":\"success\",\"data\":{\"resultType\":\"vector\",\"result\":["
                 "{\"metric\":{},\"value\":[1700000030,\"+Inf\"]}]},"
                 "\"warnings\":[\"PromQL warning: quantile value should be between 0 and 1, got 2 "
                 "(1:10)\"]}");
    /* tenants do not see each other */
    CHECK_EQ_STR(
        request(HTTP_METHOD_GET, "other", "/api/v1/query", "query=up&time=1700000030", NULL),
        "{\"status\":\"success\",\"data\":{\"resultType\":\"vector\",\"result\":["
        "{\"metric\":{\"__name__\":\"up\",\"tenant\":\"other\"},"
        "\"value\":[1700000030,\"7\"]}]}}");
}

static void test_query_range(void)
{
    CHECK_EQ_STR(
        get("/api/v1/query_range", "query=requests_total&start=1700000000&end=1700000030&step=15s"),
        "{\"status\":\"success\",\"data\":{\"resultType\":\"matrix\",\"result\":["
        "{\"metric\":{\"__name__\":\"requests_total\",\"job\":\"api\"},"
        "\"values\":[[1700000000,\"0\"],[1700000015,\"30\"],[1700000030,\"90\"]]}]}}");
    CHECK_EQ_STR(get("/api/v1/query_range", "query=2&start=1700000000&end=1700000001&step=0.5"),
                 "{\"status\":\"success\",\"data\":{\"resultType\":\"matrix\",\"result\":["
                 "{\"metric\":{},\"values\":[[1700000000,\"2\"],[1700000000.500,\"2\"],"
                 "[1700000001,\"2\"]]}]}}");
    get("/api/v1/query_range", "query=up&start=1700000010&end=1700000000&step=1");
    CHECK_EQ_INT(status, 400);
    CHECK_EQ_STR(body, "{\"status\":\"error\",\"errorType\":\"bad_data\",\"error\":\"invalid "
                       "parameter \\\"end\\\": end timestamp must not be before start time\"}");
    get("/api/v1/query_range", "query=up&start=1700000000&end=1700000010&step=0");
    CHECK_EQ_INT(status, 400);
    CHECK(strstr(body, "zero or negative query resolution step widths are not accepted") != NULL);
    get("/api/v1/query_range", "query=up%5B5m%5D&start=1700000000&end=1700000010&step=1");
    CHECK_EQ_INT(status, 400);
    CHECK(strstr(body, "invalid expression type \\\"range vector\\\" for range query") != NULL);
    get("/api/v1/query_range", "query=up&start=1700000000&end=1700000010&step=abc");
    CHECK_EQ_INT(status, 400);
    CHECK(strstr(body, "invalid parameter \\\"step\\\": cannot parse \\\"abc\\\" to a valid "
                       "duration") != NULL);
    /* the form body wins over the query string, as Go's FormValue */
    CHECK_EQ_STR(request(HTTP_METHOD_POST, "anonymous", "/api/v1/query_range",
                         "query=up&start=1&end=2&step=1",
                         "query=sum(up)&start=1700000000&end=1700000010&step=10s"),
                 "{\"status\":\"success\",\"data\":{\"resultType\":\"matrix\",\"result\":["
                 "{\"metric\":{},\"values\":[[1700000000,\"2\"],[1700000010,\"2\"]]}]}}");
    get("/api/v1/query_range", "query=up&start=0&end=1700000000&step=1");
    CHECK_EQ_INT(status, 400);
    CHECK(strstr(body, "exceeded maximum resolution of 11,000 points per timeseries. Try "
                       "decreasing the query resolution (?step=XX)") != NULL);
}

static void test_errors(void)
{
    get("/api/v1/query", "query=sum(&time=1700000000");
    CHECK_EQ_INT(status, 400);
    CHECK_EQ_STR(body, "{\"status\":\"error\",\"errorType\":\"bad_data\",\"error\":\"invalid "
                       "parameter \\\"query\\\": 1:5: parse error: unexpected end of input\"}");
    get("/api/v1/query", "query=up&time=yesterday");
    CHECK_EQ_INT(status, 400);
    CHECK(strstr(body, "invalid parameter \\\"time\\\": cannot parse \\\"yesterday\\\" to a "
                       "valid timestamp") != NULL);
    get("/api/v1/query", "query=up%20*%20on()%20up&time=1700000030");
    CHECK_EQ_INT(status, 422);
    CHECK(strstr(body, "\"errorType\":\"execution\"") != NULL);
    get("/api/v1/query", "time=1700000030");
    CHECK_EQ_INT(status, 400);
    CHECK(strstr(body, "no expression found in input") != NULL);
    get("/api/v1/query", "query=up&time=1700000030&timeout=soon");
    CHECK_EQ_INT(status, 400);
    CHECK(strstr(body, "invalid parameter \\\"timeout\\\"") != NULL);
    get("/api/v1/series", "match[]=rate(up[5m])");
    CHECK_EQ_INT(status, 400);
    get("/api/v1/series", "");
    CHECK_EQ_INT(status, 400);
    CHECK(strstr(body, "no match[] parameter provided") != NULL);
    CHECK(!query_api_handle(qe, &(http_request){.path = "/api/v1/write", .path_len = 13},
                            &(http_response){0}));
}

static void test_metadata(void)
{
    CHECK_EQ_STR(get("/api/v1/series", "match%5B%5D=up&start=1699999000&end=1700001000"),
                 "{\"status\":\"success\",\"data\":["
                 "{\"__name__\":\"up\",\"instance\":\"a:9100\",\"job\":\"node\"},"
                 "{\"__name__\":\"up\",\"instance\":\"b:9100\",\"job\":\"node\"}]}");
    CHECK_EQ_STR(get("/api/v1/series", "match[]=up{instance=\"a:9100\"}&match[]=requests_total"),
                 "{\"status\":\"success\",\"data\":["
                 "{\"__name__\":\"requests_total\",\"job\":\"api\"},"
                 "{\"__name__\":\"up\",\"instance\":\"a:9100\",\"job\":\"node\"}]}");
    CHECK_EQ_STR(get("/api/v1/labels", ""),
                 "{\"status\":\"success\",\"data\":[\"__name__\",\"instance\",\"job\"]}");
    CHECK_EQ_STR(get("/api/v1/labels", "match[]=requests_total"),
                 "{\"status\":\"success\",\"data\":[\"__name__\",\"job\"]}");
    CHECK_EQ_STR(get("/api/v1/label/job/values", ""),
                 "{\"status\":\"success\",\"data\":[\"api\",\"node\"]}");
    CHECK_EQ_STR(get("/api/v1/label/__name__/values", ""),
                 "{\"status\":\"success\",\"data\":[\"requests_total\",\"up\"]}");
    CHECK_EQ_STR(get("/api/v1/label/%69nstance/values", "match[]=up"),
                 "{\"status\":\"success\",\"data\":[\"a:9100\",\"b:9100\"]}");
    get("/api/v1/status/buildinfo", "");
    CHECK_EQ_INT(status, 200);
    CHECK(strstr(body, "{\"status\":\"success\",\"data\":{\"version\":\"" SONDE_VERSION "\"") ==
          body);
    CHECK(strstr(body, "\"goVersion\":") != NULL && strstr(body, "\"buildDate\":") != NULL);
}

static void test_metrics(void)
{
    buf b;
    buf_init(&b, 1 << 20);
    query_metrics_write(qe, &b);
    CHECK(strstr(b.data, "sonde_query_requests_total{endpoint=\"query\"}") != NULL);
    CHECK(strstr(b.data, "sonde_query_errors_total ") != NULL);
    CHECK(strstr(b.data, "sonde_query_duration_seconds_count ") != NULL);
    CHECK(strstr(b.data, "sonde_query_samples_loaded_total ") != NULL);
    buf_fini(&b);
}

/* A native histogram series: {{schema:0 sum:s count:c z_bucket:1 z_bucket_w:0.001
 * buckets:[1 2] offset:0}} growing by i at every sample. */
static void add_hist_series(void)
{
    sonde_label l[1] = {{"__name__", "lat_seconds", 8, 11}};
    static int32_t idx[2] = {0, 1};
    static double cnt[4][2];
    static sonde_fhist h[4];
    sonde_hsample hs[4];
    for (int i = 0; i < 4; i++) {
        cnt[i][0] = 1 + i;
        cnt[i][1] = 2 + i;
        h[i] = (sonde_fhist){0};
        h[i].zero_threshold = 0.001;
        h[i].zero_count = 1;
        h[i].count = 4 + 2 * i;
        h[i].sum = 5 + i;
        h[i].npos = 2;
        h[i].pos_idx = idx;
        h[i].pos = cnt[i];
        hs[i] = (sonde_hsample){T0 + i * 10000, &h[i]};
    }
    sonde_hseries s = {l, 1, 4, hs};
    CHECK_EQ_INT(storage_append_histograms_direct(st, "anonymous", &s, 1), SONDE_OK);
}

static void test_histograms(void)
{
    add_hist_series();
    /* buckets: zero [-0.001,0.001], (0.5,1], (1,2]; rule 3 = closed, 0 = left-open */
    CHECK_EQ_STR(get("/api/v1/query", "query=lat_seconds&time=1700000010"),
                 "{\"status\":\"success\",\"data\":{\"resultType\":\"vector\",\"result\":["
                 "{\"metric\":{\"__name__\":\"lat_seconds\"},\"histogram\":[1700000010,"
                 "{\"count\":\"6\",\"sum\":\"6\",\"buckets\":[[3,\"-0.001\",\"0.001\",\"1\"],"
                 "[0,\"0.5\",\"1\",\"2\"],[0,\"1\",\"2\",\"3\"]]}]}]}}");
    CHECK_EQ_STR(get("/api/v1/query", "query=histogram_count(lat_seconds)&time=1700000030"),
                 "{\"status\":\"success\",\"data\":{\"resultType\":\"vector\",\"result\":["
                 "{\"metric\":{},\"value\":[1700000030,\"10\"]}]}}");
    CHECK_EQ_STR(get("/api/v1/query_range", "query=lat_seconds%20*%202&start=1700000020&end="
                                            "1700000030&step=10"),
                 "{\"status\":\"success\",\"data\":{\"resultType\":\"matrix\",\"result\":["
                 "{\"metric\":{},\"histograms\":[[1700000020,{\"count\":\"16\",\"sum\":\"14\","
                 "\"buckets\":[[3,\"-0.001\",\"0.001\",\"2\"],[0,\"0.5\",\"1\",\"6\"],"
                 "[0,\"1\",\"2\",\"8\"]]}],[1700000030,{\"count\":\"20\",\"sum\":\"16\","
                 "\"buckets\":[[3,\"-0.001\",\"0.001\",\"2\"],[0,\"0.5\",\"1\",\"8\"],"
                 "[0,\"1\",\"2\",\"10\"]]}]]}]}}");
    /* a range vector of histograms; comparisons with floats are dropped (info) */
    CHECK_EQ_STR(get("/api/v1/query", "query=lat_seconds%5B15s%5D&time=1700000030"),
                 "{\"status\":\"success\",\"data\":{\"resultType\":\"matrix\",\"result\":["
                 "{\"metric\":{\"__name__\":\"lat_seconds\"},\"histograms\":[[1700000020,"
                 "{\"count\":\"8\",\"sum\":\"7\",\"buckets\":[[3,\"-0.001\",\"0.001\",\"1\"],"
                 "[0,\"0.5\",\"1\",\"3\"],[0,\"1\",\"2\",\"4\"]]}],[1700000030,{\"count\":"
                 "\"10\",\"sum\":\"8\",\"buckets\":[[3,\"-0.001\",\"0.001\",\"1\"],"
                 "[0,\"0.5\",\"1\",\"4\"],[0,\"1\",\"2\",\"5\"]]}]]}]}}");
    CHECK_EQ_STR(get("/api/v1/query", "query=lat_seconds%20%3E%201&time=1700000030"),
                 "{\"status\":\"success\",\"data\":{\"resultType\":\"vector\",\"result\":[]},"
                 "\"infos\":[\"PromQL info: incompatible sample types encountered for binary "
                 "operator \\\">\\\": histogram > float (1:1)\"]}");
}

int main(void)
{
    char dir[] = "/tmp/sonde-query-test-XXXXXX";
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    storage_config cfg;
    memset(&cfg, 0, sizeof(cfg));
    cfg.data_dir = dir;
    cfg.decode = test_decode;
    storage_config_defaults(&cfg);
    char err[256] = "";
    if (storage_open(&cfg, &st, err, sizeof(err)) != SONDE_OK) {
        fprintf(stderr, "storage_open: %s\n", err);
        return 1;
    }
    for (int i = 0; i < 200 && !storage_ready(st); i++)
        usleep(10000);
    add_series("anonymous", "up", "instance", "a:9100", "job", "node", 1, 0, 7, 10000);
    add_series("anonymous", "up", "instance", "b:9100", "job", "node", 1, 0, 7, 10000);
    add_series("anonymous", "requests_total", "job", "api", NULL, NULL, 0, 30, 7, 10000);
    add_series("other", "up", "tenant", "other", NULL, NULL, 7, 0, 7, 10000);
    query_config qc;
    memset(&qc, 0, sizeof(qc));
    query_config_defaults(&qc);
    qe = query_engine_create(st, &qc);
    RUN(test_query);
    RUN(test_query_range);
    RUN(test_errors);
    RUN(test_metadata);
    RUN(test_metrics);
    RUN(test_histograms);
    query_engine_destroy(qe);
    storage_close(st);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "cleanup of %s failed\n", dir);
    return TEST_DONE();
}
