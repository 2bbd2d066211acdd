/*
 * test_logql_eval.c - the LogQL evaluator against an in-memory source
 * (logsrc.h): every matcher, line filter, parser, label filter, formatter,
 * drop/keep, range and vector aggregation, unwrap and binary operation.
 * Expected results are written from the examples of Grafana Loki's LogQL
 * documentation (grafana.com/docs/loki/latest/query/...), cited per test.
 * Results are rendered compactly: logs as {labels}[line|line], metrics as
 * {labels}[t=v ...] with t in seconds after T0.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "logsrc.h"
#include "query/logql.h"
#include "test.h"

#define T0 INT64_C(1700000000000000000)
#define S INT64_C(1000000000)

static char out[8192];
static char errmsg[1024];

static void put_labels(char *o, size_t *k, const sonde_label *l, uint32_t n)
{
    *k += (size_t)snprintf(o + *k, sizeof out - *k, "{");
    for (uint32_t i = 0; i < n; i++)
        *k += (size_t)snprintf(o + *k, sizeof out - *k, "%s%.*s=%.*s", i ? "," : "",
                               (int)l[i].name_len, l[i].name, (int)l[i].value_len, l[i].value);
    *k += (size_t)snprintf(o + *k, sizeof out - *k, "}");
}

static void render(const logql_result *r)
{
    size_t k = 0;
    out[0] = 0;
    if (r->is_log) {
        for (size_t i = 0; i < r->nstreams; i++) {
            if (i)
                k += (size_t)snprintf(out + k, sizeof out - k, " ");
            put_labels(out, &k, r->streams[i].labels, r->streams[i].nlabels);
            k += (size_t)snprintf(out + k, sizeof out - k, "[");
            for (size_t j = 0; j < r->streams[i].n; j++)
                k += (size_t)snprintf(out + k, sizeof out - k, "%s%.*s", j ? "|" : "",
                                      (int)r->streams[i].entries[j].len,
                                      r->streams[i].entries[j].line);
            k += (size_t)snprintf(out + k, sizeof out - k, "]");
        }
        return;
    }
    for (size_t i = 0; i < r->nseries; i++) {
        if (i)
            k += (size_t)snprintf(out + k, sizeof out - k, " ");
        put_labels(out, &k, r->series[i].labels, r->series[i].nlabels);
        k += (size_t)snprintf(out + k, sizeof out - k, "[");
        for (size_t j = 0; j < r->series[i].n; j++)
            k += (size_t)snprintf(out + k, sizeof out - k, "%s%lld=%g", j ? " " : "",
                                  (long long)((r->series[i].points[j].ts_ns - T0) / S),
                                  r->series[i].points[j].v);
        k += (size_t)snprintf(out + k, sizeof out - k, "]");
    }
}

static logsrc src;

/* Runs a log query over [T0, T0+1000s), forward, and renders it; NULL on error. */
static const char *logs_q(const char *q, size_t limit, bool backward)
{
    arena *a = arena_create(1 << 16, 256u << 20);
    logql_node *root;
    logql_parse_error pe;
    const char *res = NULL;
    errmsg[0] = 0;
    if (logql_parse(a, q, strlen(q), &root, &pe) != SONDE_OK) {
        logql_parse_error_format(&pe, errmsg, sizeof errmsg);
        fprintf(stderr, "parse failed: %s: %s\n", q, errmsg);
    } else {
        logql_source s;
        ls_source(&src, &s);
        logql_eval_ctx c;
        memset(&c, 0, sizeof c);
        c.src = &s;
        c.a = a;
        c.lim.max_lines_scanned = 100000;
        logql_result r;
        if (logql_eval_logs(&c, root, T0, T0 + 1000 * S, limit, backward, &r) == SONDE_OK) {
            render(&r);
            res = out;
        } else {
            snprintf(errmsg, sizeof errmsg, "%s", c.err);
        }
    }
    arena_destroy(a);
    return res;
}

static const char *logs(const char *q)
{
    return logs_q(q, 100, false);
}

/* A metric query from T0+start to T0+end (seconds) every step seconds (0: instant). */
static const char *metric(const char *q, int64_t start, int64_t end, int64_t step)
{
    arena *a = arena_create(1 << 16, 256u << 20);
    logql_node *root;
    logql_parse_error pe;
    const char *res = NULL;
    errmsg[0] = 0;
    if (logql_parse(a, q, strlen(q), &root, &pe) != SONDE_OK) {
        logql_parse_error_format(&pe, errmsg, sizeof errmsg);
        fprintf(stderr, "parse failed: %s: %s\n", q, errmsg);
    } else {
        logql_source s;
        ls_source(&src, &s);
        logql_eval_ctx c;
        memset(&c, 0, sizeof c);
        c.src = &s;
        c.a = a;
        c.lim.max_lines_scanned = 100000;
        c.lim.max_series = 100;
        logql_result r;
        if (logql_eval_metric(&c, root, T0 + start * S, T0 + end * S, step * S, &r) == SONDE_OK) {
            render(&r);
            res = out;
        } else {
            snprintf(errmsg, sizeof errmsg, "%s", c.err);
        }
    }
    arena_destroy(a);
    return res;
}

static void setup(void)
{
    ls_reset(&src);
    ls_stream *a = ls_stream_add(&src, "app=\"api\",env=\"prod\"");
    ls_add(&src, a, T0 + 1 * S, "level=info msg=\"request done\" status=200 duration=15ms size=1KB",
           NULL);
    ls_add(&src, a, T0 + 2 * S,
           "level=error msg=\"upstream timeout\" status=504 duration=2s size=20MB", NULL);
    ls_add(&src, a, T0 + 3 * S,
           "level=warn msg=\"slow request\" status=200 duration=1.5s size=300B", NULL);
    ls_stream *b = ls_stream_add(&src, "app=\"web\",env=\"dev\"");
    ls_add(&src, b, T0 + 4 * S, "GET /index.html 200", "trace_id=abc,detected_level=info");
    ls_add(&src, b, T0 + 5 * S, "POST /login 401", "trace_id=def,detected_level=warn");
    ls_stream *c = ls_stream_add(&src, "app=\"mysql\",name=\"mysql-backup\"");
    ls_add(&src, c, T0 + 6 * S, "error: connection timeout", NULL);
    ls_add(&src, c, T0 + 7 * S, "error: disk full", NULL);
    ls_add(&src, c, T0 + 8 * S, "info: backup done", NULL);
}

/* LogQL "Log stream selector": =, !=, =~, !~ */
static void test_matchers(void)
{
    CHECK_EQ_STR(logs("{app=\"mysql\",name=\"mysql-backup\"}"),
                 "{app=mysql,name=mysql-backup}[error: connection timeout|error: disk full|info: "
                 "backup done]");
    CHECK_EQ_STR(logs("{app=\"web\"}"),
                 "{app=web,detected_level=info,env=dev,trace_id=abc}[GET /index.html 200] "
                 "{app=web,detected_level=warn,env=dev,trace_id=def}[POST /login 401]");
    const char *r = logs("{app!=\"mysql\", env=~\"pro.*\"}");
    CHECK(r && strncmp(r, "{app=api,env=prod}[", 19) == 0);
    r = logs("{app=~\"api|web\", env!~\"dev\"}");
    CHECK(r && strncmp(r, "{app=api,env=prod}[", 19) == 0 && !strstr(r, "web"));
    /* regexes are anchored: "ap" does not match "api" */
    CHECK_EQ_STR(logs("{app=~\"ap\"}"), "");
    /* a selector matching nothing */
    CHECK_EQ_STR(logs("{app=\"nope\"}"), "");
}

/* LogQL "Line filter expression": |=, !=, |~, !~, chained and "or" */
static void test_line_filters(void)
{
    CHECK_EQ_STR(logs("{app=\"mysql\"} |= \"error\""),
                 "{app=mysql,name=mysql-backup}[error: connection timeout|error: disk full]");
    CHECK_EQ_STR(logs("{app=\"mysql\"} |= \"error\" != \"timeout\""),
                 "{app=mysql,name=mysql-backup}[error: disk full]");
    CHECK_EQ_STR(logs("{app=\"mysql\"} |~ \"disk|backup\""),
                 "{app=mysql,name=mysql-backup}[error: disk full|info: backup done]");
    CHECK_EQ_STR(logs("{app=\"mysql\"} !~ \"^error\""),
                 "{app=mysql,name=mysql-backup}[info: backup done]");
    CHECK_EQ_STR(logs("{app=\"mysql\"} |= \"disk\" or \"backup\""),
                 "{app=mysql,name=mysql-backup}[error: disk full|info: backup done]");
    /* regex line filters are not anchored and case-sensitive unless (?i) */
    CHECK_EQ_STR(logs("{app=\"mysql\"} |~ `(?i)DISK`"),
                 "{app=mysql,name=mysql-backup}[error: disk full]");
    CHECK_EQ_STR(logs("{app=\"mysql\"} |= \"\""),
                 "{app=mysql,name=mysql-backup}[error: connection timeout|error: disk full|info: "
                 "backup done]");
}

/* limit and direction: the first `limit` entries in the direction */
static void test_limit_direction(void)
{
    CHECK_EQ_STR(logs_q("{app=\"mysql\"}", 2, false),
                 "{app=mysql,name=mysql-backup}[error: connection timeout|error: disk full]");
    CHECK_EQ_STR(logs_q("{app=\"mysql\"}", 2, true),
                 "{app=mysql,name=mysql-backup}[info: backup done|error: disk full]");
    /* across streams: the 2 newest lines of app=~".+" */
    const char *r = logs_q("{app=~\".+\"}", 2, true);
    CHECK(r && strstr(r, "info: backup done|error: disk full") && !strstr(r, "web"));
    CHECK_EQ_STR(logs_q("{app=\"mysql\"}", 0, true), "");
}

/* LogQL "Parser expression" > logfmt, and "Label filter expression" */
static void test_logfmt_label_filters(void)
{
    CHECK_EQ_STR(logs("{app=\"api\"} | logfmt | level=\"error\" | line_format \"{{.msg}}\""),
                 "{app=api,duration=2s,env=prod,level=error,msg=upstream timeout,size=20MB,"
                 "status=504}[upstream timeout]");
    /* numbers, durations, bytes; and / or / comma / parentheses */
    CHECK_EQ_STR(logs("{app=\"api\"} | logfmt | status >= 400 | keep msg"),
                 "{msg=upstream timeout}[level=error msg=\"upstream timeout\" status=504 "
                 "duration=2s size=20MB]");
    CHECK_EQ_STR(logs("{app=\"api\"} | logfmt | duration > 1s | line_format \"{{.msg}}\" | keep "
                      "level"),
                 "{level=error}[upstream timeout] {level=warn}[slow request]");
    CHECK_EQ_STR(logs("{app=\"api\"} | logfmt | size > 1MB | line_format \"{{.level}}\" | keep "
                      "app"),
                 "{app=api}[error]");
    CHECK_EQ_STR(logs("{app=\"api\"} | logfmt | duration <= 15ms or status == 504 | line_format "
                      "\"{{.level}}\" | keep app"),
                 "{app=api}[info|error]");
    CHECK_EQ_STR(logs("{app=\"api\"} | logfmt | status = 200, level != \"info\" | line_format "
                      "\"{{.level}}\" | keep app"),
                 "{app=api}[warn]");
    CHECK_EQ_STR(logs("{app=\"api\"} | logfmt | (level=\"info\" or level=\"warn\") and status < "
                      "300 | line_format \"{{.level}}\" | keep app"),
                 "{app=api}[info|warn]");
    CHECK_EQ_STR(logs("{app=\"api\"} | logfmt | level=~\"err.*\" | line_format \"{{.level}}\" | "
                      "keep app"),
                 "{app=api}[error]");
    CHECK_EQ_STR(logs("{app=\"api\"} | logfmt | level!~\"err.*|info\" | line_format "
                      "\"{{.level}}\" | keep app"),
                 "{app=api}[warn]");
    /* a numeric filter on a value that is not a number: kept with __error__ */
    CHECK_EQ_STR(
        logs("{app=\"api\"} | logfmt | msg > 3 | keep __error__ | drop __error_details__ | "
             "line_format \"x\""),
        "{__error__=LabelFilterErr}[x|x|x]");
    /* ... and dropped by the __error__ filter */
    CHECK_EQ_STR(logs("{app=\"api\"} | logfmt | msg > 3 | __error__=\"\""), "");
    /* a conversion filter on a missing label does not pass (Loki's NumericLabelFilter) */
    CHECK_EQ_STR(logs("{app=\"mysql\"} | logfmt | status != 5"), "");
    /* a string filter compares a missing label as "" */
    CHECK_EQ_STR(logs("{app=\"mysql\"} |= \"disk\" | logfmt | status=\"\""),
                 "{app=mysql,name=mysql-backup}[error: disk full]");
    /* a parsed label that collides with a stream label gets the suffix _extracted */
    CHECK_EQ_STR(logs("{app=\"api\"} |= \"upstream\" | line_format \"app=other\" | logfmt"),
                 "{app=api,app_extracted=other,env=prod}[app=other]");
}

/* LogQL "Parser expression" > JSON: the documentation's example line */
static void test_json(void)
{
    ls_reset(&src);
    ls_stream *s = ls_stream_add(&src, "job=\"j\"");
    ls_add(&src, s, T0 + S,
           "{\"protocol\": \"HTTP/2.0\", \"servers\": [\"129.0.1.1\",\"10.2.1.3\"], \"request\": "
           "{\"time\": \"6.032\", \"method\": \"GET\", \"host\": \"foo.grafana.net\", \"size\": "
           "\"55\", \"headers\": {\"Accept\": \"*/*\", \"User-Agent\": \"curl/7.68.0\"}}, "
           "\"response\": {\"status\": 401, \"size\": \"228\", \"latency_seconds\": \"6.031\"}}",
           NULL);
    ls_add(&src, s, T0 + 2 * S, "not json", NULL);
    CHECK_EQ_STR(logs("{job=\"j\"} | json | __error__=\"\" | line_format \"x\""),
                 "{job=j,protocol=HTTP/2.0,request_headers_Accept=*/*,request_headers_User_Agent="
                 "curl/7.68.0,request_host=foo.grafana.net,request_method=GET,request_size=55,"
                 "request_time=6.032,response_latency_seconds=6.031,response_size=228,"
                 "response_status=401}[x]");
    CHECK_EQ_STR(logs("{job=\"j\"} | json first_server=\"servers[0]\", ua=\"request.headers[\\\""
                      "User-Agent\\\"]\" | __error__=\"\" | line_format \"x\""),
                 "{first_server=129.0.1.1,job=j,ua=curl/7.68.0}[x]");
    /* the line that is not JSON carries the parser error */
    CHECK_EQ_STR(logs("{job=\"j\"} | json | __error__=\"JSONParserErr\" | drop __error_details__"),
                 "{__error__=JSONParserErr,job=j}[not json]");
    /* a bare name is a top-level key */
    CHECK_EQ_STR(logs("{job=\"j\"} | json protocol, status=\"response.status\" | status > 400 | "
                      "line_format \"{{.protocol}} {{.status}}\""),
                 "{job=j,protocol=HTTP/2.0,status=401}[HTTP/2.0 401]");
    setup();
}

/* LogQL "Parser expression" > pattern and regular expression */
static void test_pattern_regexp(void)
{
    ls_reset(&src);
    ls_stream *s = ls_stream_add(&src, "job=\"nginx\"");
    ls_add(&src, s, T0 + S,
           "0.191.12.2 - - [10/Jun/2021:09:14:29 +0000] \"GET /api/plugins/versioncheck "
           "HTTP/1.1\" 200 2 \"-\" \"Go-http-client/2.0\" \"13.76.247.102, 34.120.177.193\" "
           "\"TLSv1.2\" \"US\" \"\"",
           NULL);
    ls_stream *r = ls_stream_add(&src, "job=\"prom\"");
    ls_add(&src, r, T0 + S, "POST /api/prom/api/v1/query_range (200) 1.5s", NULL);
    CHECK_EQ_STR(logs("{job=\"nginx\"} | pattern `<ip> - - <_> \"<method> <uri> <_>\" <status> "
                      "<size> <_> \"<agent>\" <_>` | line_format \"{{.method}} {{.uri}}\""),
                 "{agent=Go-http-client/2.0,ip=0.191.12.2,job=nginx,method=GET,size=2,status=200,"
                 "uri=/api/plugins/versioncheck}[GET /api/plugins/versioncheck]");
    CHECK_EQ_STR(logs("{job=\"prom\"} | regexp \"(?P<method>\\\\w+) (?P<path>[\\\\w|/]+) "
                      "\\\\((?P<status>\\\\d+?)\\\\) (?P<duration>.*)\" | line_format \"x\""),
                 "{duration=1.5s,job=prom,method=POST,path=/api/prom/api/v1/query_range,"
                 "status=200}[x]");
    /* a line the pattern does not match gets no labels */
    CHECK_EQ_STR(logs("{job=\"prom\"} | pattern \"GET <path>\""),
                 "{job=prom}[POST /api/prom/api/v1/query_range (200) 1.5s]");
    setup();
}

/* LogQL "Line format expression", "Labels format expression", "Drop" and "Keep" */
static void test_formats(void)
{
    CHECK_EQ_STR(logs("{app=\"mysql\"} |= \"disk\" | line_format \"{{.name | ToUpper}} "
                      "{{ ToLower .app }}: {{__line__}}\""),
                 "{app=mysql,name=mysql-backup}[MYSQL-BACKUP mysql: error: disk full]");
    CHECK_EQ_STR(logs("{app=\"mysql\"} |= \"disk\" | label_format job=app"),
                 "{job=mysql,name=mysql-backup}[error: disk full]");
    CHECK_EQ_STR(logs("{app=\"mysql\"} |= \"disk\" | label_format svc=\"{{.app}}/{{.name}}\", "
                      "app=\"x\""),
                 "{app=x,name=mysql-backup,svc=mysql/mysql-backup}[error: disk full]");
    CHECK_EQ_STR(logs("{app=\"web\"} | drop trace_id, detected_level=\"warn\""),
                 "{app=web,detected_level=info,env=dev}[GET /index.html 200] "
                 "{app=web,env=dev}[POST /login 401]");
    CHECK_EQ_STR(logs("{app=\"web\"} | keep app, detected_level=\"info\""),
                 "{app=web}[POST /login 401] {app=web,detected_level=info}[GET /index.html 200]");
    CHECK_EQ_STR(
        logs("{app=\"web\"} |= \"login\" | line_format \"{{.trace_id}} {{__timestamp__}}\" "
             "| keep app"),
        "{app=web}[def 2023-11-14 22:13:25 +0000 UTC]");
    /* structured metadata filters like labels */
    CHECK_EQ_STR(logs("{app=\"web\"} | detected_level=\"warn\" | keep app"),
                 "{app=web}[POST /login 401]");
}

/* LogQL "Metric queries" > "Log range aggregations" */
static void test_range_aggregations(void)
{
    CHECK_EQ_STR(metric("count_over_time({app=\"mysql\"}[5s])", 10, 10, 0),
                 "{app=mysql,name=mysql-backup}[10=3]");
    /* the window is (t - range, t]: at t=7 a 2s range holds the lines at 6 and 7 */
    CHECK_EQ_STR(metric("count_over_time({app=\"mysql\"}[2s])", 5, 9, 1),
                 "{app=mysql,name=mysql-backup}[6=1 7=2 8=2 9=1]");
    CHECK_EQ_STR(metric("rate({app=\"mysql\"} |= \"error\" [10s])", 10, 10, 0),
                 "{app=mysql,name=mysql-backup}[10=0.2]");
    CHECK_EQ_STR(metric("bytes_over_time({app=\"mysql\"} |= \"disk\" [10s])", 10, 10, 0),
                 "{app=mysql,name=mysql-backup}[10=16]");
    CHECK_EQ_STR(metric("bytes_rate({app=\"mysql\"} |= \"disk\" [8s])", 10, 10, 0),
                 "{app=mysql,name=mysql-backup}[10=2]");
    /* offset moves the window back */
    CHECK_EQ_STR(metric("count_over_time({app=\"mysql\"}[1s] offset 2s)", 10, 10, 0),
                 "{app=mysql,name=mysql-backup}[10=1]");
    /* range before the pipeline is accepted too */
    CHECK_EQ_STR(metric("count_over_time({app=\"mysql\"}[10s] |= \"error\")", 10, 10, 0),
                 "{app=mysql,name=mysql-backup}[10=2]");
    CHECK_EQ_STR(metric("absent_over_time({app=\"nope\"}[5s])", 10, 10, 0), "{app=nope}[10=1]");
    CHECK_EQ_STR(metric("absent_over_time({app=\"mysql\"}[5s])", 10, 10, 0), "");
}

/* Sampled lines (weight = their stored sample rate) count for the lines they stand for in
 * count_over_time, rate, bytes_over_time and bytes_rate; the stats say lines were sampled. */
static void test_sampled_weights(void)
{
    src.s[2].e[0].weight = 10; /* "error: connection timeout" stands for 10 lines */
    src.s[2].e[1].weight = 1;
    CHECK_EQ_STR(metric("count_over_time({app=\"mysql\"}[5s])", 10, 10, 0),
                 "{app=mysql,name=mysql-backup}[10=12]");
    CHECK_EQ_STR(metric("rate({app=\"mysql\"} |= \"error\" [10s])", 10, 10, 0),
                 "{app=mysql,name=mysql-backup}[10=1.1]");
    CHECK_EQ_STR(metric("bytes_over_time({app=\"mysql\"} |= \"connection\" [10s])", 10, 10, 0),
                 "{app=mysql,name=mysql-backup}[10=250]");
    CHECK_EQ_STR(metric("sum(count_over_time({app=~\".+\"}[20s]))", 20, 20, 0), "{}[20=17]");
    /* log queries return the kept lines themselves */
    CHECK_EQ_STR(logs("{app=\"mysql\"} |= \"connection\""),
                 "{app=mysql,name=mysql-backup}[error: connection timeout]");
    src.s[2].e[0].weight = 0;
}

/* LogQL "Unwrapped range aggregations" */
static void test_unwrap(void)
{
    const char *sel = "{app=\"api\"} | logfmt | keep status, duration, size";
    char q[512];
    snprintf(q, sizeof q, "sum(sum_over_time(%s | unwrap status [10s]))", sel);
    CHECK_EQ_STR(metric(q, 10, 10, 0), "{}[10=904]");
    snprintf(q, sizeof q,
             "max_over_time({app=\"api\"} | logfmt | unwrap duration(duration) [10s]) "
             "by (app)");
    CHECK_EQ_STR(metric(q, 10, 10, 0), "{app=api}[10=2]");
    snprintf(q, sizeof q,
             "min_over_time({app=\"api\"} | logfmt | unwrap bytes(size) [10s]) by (env)");
    CHECK_EQ_STR(metric(q, 10, 10, 0), "{env=prod}[10=300]");
    snprintf(q, sizeof q, "avg_over_time({app=\"api\"} | logfmt | unwrap status [10s]) by (app)");
    CHECK_EQ_STR(metric(q, 10, 10, 0), "{app=api}[10=301.333]");
    snprintf(q, sizeof q,
             "quantile_over_time(0.5, {app=\"api\"} | logfmt | unwrap status [10s]) "
             "by (app)");
    CHECK_EQ_STR(metric(q, 10, 10, 0), "{app=api}[10=200]");
    snprintf(q, sizeof q, "first_over_time({app=\"api\"} | logfmt | unwrap status [10s]) by (app)");
    CHECK_EQ_STR(metric(q, 10, 10, 0), "{app=api}[10=200]");
    snprintf(q, sizeof q, "last_over_time({app=\"api\"} | logfmt | unwrap status [10s]) by (app)");
    CHECK_EQ_STR(metric(q, 10, 10, 0), "{app=api}[10=200]");
    snprintf(q, sizeof q,
             "stddev_over_time({app=\"api\"} | logfmt | unwrap status [10s]) by (app)");
    const char *r = metric(q, 10, 10, 0);
    CHECK(r && strncmp(r, "{app=api}[10=143.", 17) == 0);
    snprintf(q, sizeof q, "sum by (app) (rate({app=\"api\"} | logfmt | unwrap status [10s]))");
    CHECK_EQ_STR(metric(q, 10, 10, 0), "{app=api}[10=90.4]");
    /* without grouping the series keep their labels, minus the unwrapped one */
    snprintf(q, sizeof q,
             "sum_over_time({app=\"api\"} | logfmt | level=\"error\" | unwrap status "
             "| __error__=\"\" [10s])");
    CHECK_EQ_STR(
        metric(q, 10, 10, 0),
        "{app=api,duration=2s,env=prod,level=error,msg=upstream timeout,size=20MB}[10=504]");
    /* a value that does not convert is a pipeline error unless filtered */
    CHECK(metric("sum_over_time({app=\"api\"} | logfmt | unwrap msg [10s])", 10, 10, 0) == NULL);
    CHECK(strstr(errmsg, "pipeline error: 'SampleExtractionErr'") != NULL);
    CHECK_EQ_STR(metric("sum_over_time({app=\"api\"} | logfmt | unwrap msg | __error__=\"\" [10s])",
                        10, 10, 0),
                 "");
}

/* LogQL "Built-in aggregation operators" */
static void test_vector_aggregations(void)
{
    CHECK_EQ_STR(metric("sum(count_over_time({env=~\".+\"}[20s]))", 20, 20, 0), "{}[20=5]");
    CHECK_EQ_STR(metric("sum by (env) (count_over_time({env=~\".+\"}[20s]))", 20, 20, 0),
                 "{env=prod}[20=3] {env=dev}[20=2]");
    CHECK_EQ_STR(metric("sum(count_over_time({env=~\".+\"}[20s])) by (env)", 20, 20, 0),
                 "{env=prod}[20=3] {env=dev}[20=2]");
    CHECK_EQ_STR(metric("count without (trace_id, detected_level) (count_over_time({env=~\".+\"}"
                        "[20s]))",
                        20, 20, 0),
                 "{app=api,env=prod}[20=1] {app=web,env=dev}[20=2]");
    CHECK_EQ_STR(metric("max(count_over_time({app=~\".+\"}[20s]))", 20, 20, 0), "{}[20=3]");
    CHECK_EQ_STR(metric("min(count_over_time({app=~\".+\"}[20s]))", 20, 20, 0), "{}[20=1]");
    CHECK_EQ_STR(metric("avg(count_over_time({app=~\".+\"}[20s]))", 20, 20, 0), "{}[20=2]");
    CHECK_EQ_STR(metric("topk(1, count_over_time({app=~\".+\"}[20s]))", 20, 20, 0),
                 "{app=api,env=prod}[20=3]");
    CHECK_EQ_STR(
        metric("bottomk(1, sum by (app) (count_over_time({app=~\".+\"}[20s])))", 20, 20, 0),
        "{app=web}[20=2]");
    /* over a range: each step on its own */
    CHECK_EQ_STR(metric("sum(count_over_time({app=~\".+\"}[3s]))", 3, 9, 3), "{}[3=3 6=3 9=2]");
    /* four series (3, 1, 1, 3): the web lines differ in their structured metadata */
    CHECK_EQ_STR(metric("stddev(count_over_time({app=~\".+\"}[20s]))", 20, 20, 0), "{}[20=1]");
    CHECK_EQ_STR(metric("stdvar(sum by (app) (count_over_time({app=~\".+\"}[20s])))", 20, 20, 0),
                 "{}[20=0.222222]");
}

/* LogQL "Binary operators" */
static void test_binary(void)
{
    CHECK_EQ_STR(metric("sum(count_over_time({app=~\".+\"}[20s])) * 2 + 1", 20, 20, 0),
                 "{}[20=17]");
    CHECK_EQ_STR(metric("sum by (app) (count_over_time({app=~\".+\"}[20s])) > 2", 20, 20, 0),
                 "{app=api}[20=3] {app=mysql}[20=3]");
    CHECK_EQ_STR(metric("sum by (app) (count_over_time({app=~\".+\"}[20s])) > bool 2", 20, 20, 0),
                 "{app=api}[20=1] {app=web}[20=0] {app=mysql}[20=1]");
    CHECK_EQ_STR(metric("sum by (app) (count_over_time({app=~\".+\"} |= \"error\" [20s])) / sum by "
                        "(app) (count_over_time({app=~\".+\"}[20s]))",
                        20, 20, 0),
                 "{app=api}[20=0.333333] {app=mysql}[20=0.666667]");
    CHECK_EQ_STR(metric("2 ^ 3", 20, 20, 0), "{}[20=8]");
}

/* Loki refuses metric series that carry a pipeline error */
static void test_errors(void)
{
    CHECK(metric("count_over_time({app=\"mysql\"} | json [10s])", 10, 10, 0) == NULL);
    CHECK(strstr(errmsg, "pipeline error: 'JSONParserErr' for series:") != NULL);
    CHECK_EQ_STR(metric("count_over_time({app=\"mysql\"} | json | __error__!=\"JSONParserErr\" "
                        "[10s])",
                        10, 10, 0),
                 "");
    CHECK(metric("count_over_time({app=\"mysql\"}[1s])", 0, 100000, 1) == NULL);
    CHECK(strstr(errmsg, "exceeded maximum resolution of 11,000 points") != NULL);
}

static void test_limits(void)
{
    arena *a = arena_create(1 << 16, 64u << 20);
    logql_node *root;
    logql_parse_error pe;
    CHECK(logql_parse(a, "{app=~\".+\"}", 11, &root, &pe) == SONDE_OK);
    logql_source s;
    ls_source(&src, &s);
    logql_eval_ctx c;
    memset(&c, 0, sizeof c);
    c.src = &s;
    c.a = a;
    c.lim.max_lines_scanned = 3;
    logql_result r;
    CHECK(logql_eval_logs(&c, root, T0, T0 + 1000 * S, 100, false, &r) == SONDE_ERR_LIMIT);
    CHECK(strstr(c.err, "more than 3 log lines") != NULL);
    /* stats count what was read */
    c.lim.max_lines_scanned = 0;
    memset(&c.stats, 0, sizeof c.stats);
    CHECK(logql_eval_logs(&c, root, T0, T0 + 1000 * S, 100, false, &r) == SONDE_OK);
    CHECK_EQ_INT(c.stats.lines_scanned, 8);
    CHECK_EQ_INT(c.stats.entries_returned, 8);
    arena_destroy(a);
}

/* LogQL "Line filter expression": regexes are not anchored and "." matches
 * newlines; "Log stream selector": =~ is anchored and "." stops at newlines.
 * logfmt --strict: "foo=bar=buzz" is an invalid pair */
static void test_newlines_strict(void)
{
    ls_reset(&src);
    ls_stream *s = ls_stream_add(&src, "job=\"j\"");
    ls_add(&src, s, T0 + 1 * S, "first\nsecond", NULL);
    ls_add(&src, s, T0 + 2 * S, "a=1 foo=bar=buzz b=2", NULL);
    CHECK_EQ_STR(logs("{job=\"j\"} |~ \"first.second\""), "{job=j}[first\nsecond]");
    CHECK_EQ_STR(logs("{job=\"j\"} |= \"first\" | line_format \"{{__line__}}\" | label_format "
                      "l=\"{{__line__}}\" | l=~\"first.*\""),
                 "");
    CHECK_EQ_STR(logs("{job=\"j\"} |= \"foo\" | logfmt"),
                 "{a=1,b=2,foo=bar=buzz,job=j}[a=1 foo=bar=buzz b=2]");
    CHECK_EQ_STR(logs("{job=\"j\"} |= \"foo\" | logfmt --strict | drop __error_details__"),
                 "{__error__=LogfmtParserErr,a=1,job=j}[a=1 foo=bar=buzz b=2]");
    setup();
}

/* limit across many streams: the newest (or oldest) `limit` lines overall */
static void test_limit_many_streams(void)
{
    ls_reset(&src);
    static char lines[12][5][16];
    for (int i = 0; i < 12; i++) {
        char lab[32];
        snprintf(lab, sizeof lab, "job=\"j\",n=\"%02d\"", i);
        ls_stream *s = ls_stream_add(&src, lab);
        for (int k = 0; k < 5; k++) {
            /* stream i holds times i, i + 12, i + 24, ... */
            snprintf(lines[i][k], sizeof lines[i][k], "t%d", i + 12 * k);
            ls_add(&src, s, T0 + (int64_t)(i + 12 * k) * S, lines[i][k], NULL);
        }
    }
    CHECK_EQ_STR(logs_q("{job=\"j\"} | keep job", 3, true), "{job=j}[t59|t58|t57]");
    CHECK_EQ_STR(logs_q("{job=\"j\"} | keep job", 3, false), "{job=j}[t0|t1|t2]");
    CHECK_EQ_STR(logs_q("{job=\"j\"} | keep job", 1, true), "{job=j}[t59]");
    const char *r = logs_q("{job=\"j\"} |~ \"t(1|3)\"", 2, true);
    CHECK_EQ_STR(r, "{job=j,n=02}[t38] {job=j,n=03}[t39]"); /* unanchored: t38 matches */
    setup();
}

/* LogQL "Label filter expression": predicates evaluate left to right, so
 * "a or b and c" is "(a or b) and c" (the documentation's example) */
static void test_filter_precedence(void)
{
    ls_reset(&src);
    ls_stream *s = ls_stream_add(&src, "job=\"j\"");
    ls_add(&src, s, T0 + 1 * S, "duration=30ms method=POST size=30KB", NULL);
    ls_add(&src, s, T0 + 2 * S, "duration=5ms method=GET size=10KB", NULL);
    ls_add(&src, s, T0 + 3 * S, "duration=5ms method=GET size=30KB", NULL);
    /* (duration >= 20ms or method="GET") and size <= 20KB: only line 2 */
    CHECK_EQ_STR(logs("{job=\"j\"} | logfmt | duration >= 20ms or method=\"GET\" and size <= 20KB "
                      "| keep job"),
                 "{job=j}[duration=5ms method=GET size=10KB]");
    /* duration >= 20ms or (method="GET" and size <= 20KB): lines 1 and 2 */
    CHECK_EQ_STR(logs("{job=\"j\"} | logfmt | duration >= 20ms or (method=\"GET\" and size <= "
                      "20KB) | keep job"),
                 "{job=j}[duration=30ms method=POST size=30KB|duration=5ms method=GET size=10KB]");
    /* the other spellings of and: a pipe, a comma, a space */
    const char *want = "{job=j}[duration=5ms method=GET size=30KB]";
    CHECK_EQ_STR(logs("{job=\"j\"} | logfmt | method=\"GET\" | size > 20KB | keep job"), want);
    CHECK_EQ_STR(logs("{job=\"j\"} | logfmt | method=\"GET\", size > 20KB | keep job"), want);
    CHECK_EQ_STR(logs("{job=\"j\"} | logfmt | method=\"GET\" size > 20KB | keep job"), want);
    /* "if an extracted key appears twice, only the first label value will be kept" */
    ls_add(&src, s, T0 + 4 * S, "k=first k=second", NULL);
    CHECK_EQ_STR(logs("{job=\"j\"} |= \"k=\" | logfmt"), "{job=j,k=first}[k=first k=second]");
    /* a later parser stage overrides an earlier one */
    CHECK_EQ_STR(logs("{job=\"j\"} |= \"k=\" | logfmt | line_format \"k=third\" | logfmt"),
                 "{job=j,k=third}[k=third]");
    setup();
}

/* LogQL "Drop Labels expression" and "Keep Labels expression": the doc's examples */
static void test_drop_keep_doc(void)
{
    ls_reset(&src);
    ls_stream *s = ls_stream_add(&src, "job=\"varlogs\"");
    ls_add(&src, s, T0 + 1 * S,
           "{\"app\": \"some-api-service\", \"level\": \"info\", \"method\": \"GET\", "
           "\"path\": \"/\", \"host\": \"grafana.net\", \"status\": \"200\"}",
           NULL);
    ls_add(&src, s, T0 + 2 * S,
           "{\"app\": \"other-service\", \"level\": \"info\", \"method\": \"POST\", "
           "\"path\": \"/\", \"host\": \"grafana.net\", \"status\": \"200\"}",
           NULL);
    ls_add(&src, s, T0 + 3 * S, "INFO GET / loki.net 200", NULL);
    CHECK_EQ_STR(logs("{job=\"varlogs\"} |= \"{\" | json | drop level, path, app=~\"some-api.*\" "
                      "| line_format \"x\""),
                 "{app=other-service,host=grafana.net,job=varlogs,method=POST,status=200}[x] "
                 "{host=grafana.net,job=varlogs,method=GET,status=200}[x]");
    CHECK_EQ_STR(logs("{job=\"varlogs\"} |= \"{\" | json | keep level, method=\"GET\" | "
                      "line_format \"x\""),
                 "{level=info}[x] {level=info,method=GET}[x]");
    /* drop __error__ (and its details) */
    CHECK_EQ_STR(logs("{job=\"varlogs\"} != \"{\" | json | drop __error__, __error_details__"),
                 "{job=varlogs}[INFO GET / loki.net 200]");
    /* keep never drops the error labels */
    CHECK_EQ_STR(logs("{job=\"varlogs\"} != \"{\" | json | keep job | drop __error_details__"),
                 "{__error__=JSONParserErr,job=varlogs}[INFO GET / loki.net 200]");
    /* pattern: captures up to the first literal that is not found stay */
    CHECK_EQ_STR(logs("{job=\"varlogs\"} != \"{\" | pattern \"<lvl> <verb> <_> | <rest>\" | keep "
                      "lvl, verb"),
                 "{lvl=INFO,verb=GET}[INFO GET / loki.net 200]");
    setup();
}

/* LogQL "Functions" (vector) and set operators, sort */
static void test_vector_fn_sets(void)
{
    CHECK_EQ_STR(metric("sum(count_over_time({app=\"nope\"}[5s])) or vector(0)", 10, 10, 0),
                 "{}[10=0]");
    CHECK_EQ_STR(metric("sum(count_over_time({app=\"mysql\"}[5s])) or vector(0)", 10, 10, 0),
                 "{}[10=3]");
    /* over a range, vector(0) fills the steps without data */
    CHECK_EQ_STR(metric("sum(count_over_time({app=\"mysql\"}[1s])) or vector(0)", 5, 9, 1),
                 "{}[5=0 6=1 7=1 8=1 9=0]");
    CHECK_EQ_STR(metric("sum by (app) (count_over_time({app=~\".+\"}[20s])) and sum by (app) "
                        "(count_over_time({app=~\".+\"} |= \"error\" [20s]))",
                        20, 20, 0),
                 "{app=api}[20=3] {app=mysql}[20=3]");
    CHECK_EQ_STR(metric("sum by (app) (count_over_time({app=~\".+\"}[20s])) unless sum by (app) "
                        "(count_over_time({app=~\".+\"} |= \"error\" [20s]))",
                        20, 20, 0),
                 "{app=web}[20=2]");
    CHECK_EQ_STR(metric("sort_desc(sum by (app) (count_over_time({app=~\".+\"}[7s])))", 7, 7, 0),
                 "{app=api}[7=3] {app=web}[7=2] {app=mysql}[7=2]");
    CHECK_EQ_STR(metric("sort(sum by (app) (count_over_time({app=~\".+\"}[7s])))", 7, 7, 0),
                 "{app=web}[7=2] {app=mysql}[7=2] {app=api}[7=3]");
}

int main(void)
{
    setup();
    RUN(test_matchers);
    RUN(test_line_filters);
    RUN(test_limit_direction);
    RUN(test_logfmt_label_filters);
    RUN(test_json);
    RUN(test_pattern_regexp);
    RUN(test_formats);
    RUN(test_range_aggregations);
    RUN(test_sampled_weights);
    RUN(test_unwrap);
    RUN(test_vector_aggregations);
    RUN(test_binary);
    RUN(test_errors);
    RUN(test_limits);
    RUN(test_limit_many_streams);
    RUN(test_newlines_strict);
    RUN(test_filter_precedence);
    RUN(test_drop_keep_doc);
    RUN(test_vector_fn_sets);
    arena_destroy(src.a);
    return TEST_DONE();
}
