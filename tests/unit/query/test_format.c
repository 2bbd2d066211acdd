/*
 * test_format.c - /api/v1/format_query and /api/v1/parse_query: the
 * canonical text and the AST JSON a Prometheus client gets back (GET and
 * POST form), and the bad_data error for a syntax error. Expected strings
 * come from Prometheus' HTTP API documentation (docs/querying/api.md,
 * "Formatting query expressions" and "Parsing a PromQL expressions into a
 * abstract syntax tree") and its printer tests, with the fields that
 * web/api/v1/translate_ast.go adds since (anchored, smoothed, fillValues).
 * Neither endpoint reads storage, so the engine has none.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/httpmsg.h"
#include "query/query.h"
#include "test.h"

static query_engine *qe;
static char body[65536];
static int status;

static const char *request(http_method method, const char *path, const char *query,
                           const char *form)
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
    req.tenant = "anonymous";
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

#define SEL(name)                                                                                  \
    "{\"anchored\":false,\"matchers\":[{\"name\":\"__name__\",\"type\":\"=\",\"value\":\"" name   \
    "\"}],\"name\":\"" name "\",\"offset\":0,\"smoothed\":false,\"startOrEnd\":null,"             \
    "\"timestamp\":null,\"type\":\"vectorSelector\"}"

static void test_format_query(void)
{
    /* the API documentation's example */
    CHECK_EQ_STR(request(HTTP_METHOD_GET, "/api/v1/format_query", "query=foo/bar", NULL),
                 "{\"status\":\"success\",\"data\":\"foo / bar\"}");
    CHECK_EQ_INT(status, 200);
    CHECK_EQ_STR(request(HTTP_METHOD_POST, "/api/v1/format_query", NULL, "query=foo%2Fbar"),
                 "{\"status\":\"success\",\"data\":\"foo / bar\"}");
    /* printer_test.go: grouping goes before the argument */
    CHECK_EQ_STR(request(HTTP_METHOD_GET, "/api/v1/format_query",
                         "query=sum(task%3Aerrors%3Arate10s%7Bjob%3D%22s%22%7D)%20by%20(code)",
                         NULL),
                 "{\"status\":\"success\",\"data\":\"sum by (code) "
                 "(task:errors:rate10s{job=\\\"s\\\"})\"}");
    CHECK_EQ_STR(request(HTTP_METHOD_GET, "/api/v1/format_query",
                         "query=rate(http_requests_total%5B5m%5D%20offset%201h)", NULL),
                 "{\"status\":\"success\",\"data\":\"rate(http_requests_total[5m] offset 1h)\"}");
}

/* String() as promql/parser/printer.go writes it (cases of its printer_test.go) */
static void test_format_printer(void)
{
    static const struct {
        const char *in, *out;
    } cases[] = {
        {"a - on(b) c", "a - on (b) c"},
        {"a - on() c", "a - on () c"},
        {"a - ignoring(b) c", "a - ignoring (b) c"},
        {"a - ignoring() c", "a - c"},
        {"a * on(x) group_left(y) b", "a * on (x) group_left (y) b"},
        {"a and b", "a and b"},
        {"up > bool 0", "up > bool 0"},
        {"foo{b=\"1\", a=~\"2\"}", "foo{a=~\"2\",b=\"1\"}"},
        {"sum without(a, b) (x)", "sum without (a, b) (x)"},
        {"x offset -5m", "x offset -5m"},
        {"rate(x[5m] @ 100 offset 1m)", "rate(x[5m] @ 100.000 offset 1m)"},
        {"x[1h:5m]", "x[1h:5m]"},
        {"-(1)", "-(1)"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char form[256], want[256], got[512];
        buf e;
        buf_init(&e, 4096);
        buf_puts(&e, "query=");
        for (const char *p = cases[i].in; *p; p++)
            buf_printf(&e, "%%%02X", (unsigned char)*p);
        snprintf(form, sizeof(form), "%s", e.data);
        buf_fini(&e);
        buf j;
        buf_init(&j, 4096);
        buf_json_str(&j, cases[i].out, strlen(cases[i].out));
        snprintf(want, sizeof(want), "{\"status\":\"success\",\"data\":%s}", j.data);
        buf_fini(&j);
        snprintf(got, sizeof(got), "%s", request(HTTP_METHOD_POST, "/api/v1/format_query", NULL, form));
        if (strcmp(got, want) != 0)
            fprintf(stderr, "format_query %s: got %s\n", cases[i].in, got);
        CHECK_EQ_STR(got, want);
    }
}

static void test_parse_query(void)
{
    /* the API documentation's example, with translateAST's newer fields */
    CHECK_EQ_STR(request(HTTP_METHOD_GET, "/api/v1/parse_query", "query=foo/bar", NULL),
                 "{\"status\":\"success\",\"data\":{\"bool\":false,\"lhs\":" SEL("foo")
                 ",\"matching\":{\"card\":\"one-to-one\",\"fillValues\":{\"lhs\":null,\"rhs\":"
                 "null},\"include\":[],\"labels\":[],\"on\":false},\"op\":\"/\",\"rhs\":" SEL(
                     "bar") ",\"type\":\"binaryExpr\"}}");
    CHECK_EQ_INT(status, 200);
    /* a scalar side: no vector matching; a sign is folded into the number */
    CHECK_EQ_STR(request(HTTP_METHOD_POST, "/api/v1/parse_query", NULL, "query=foo+%2B+-2.5"),
                 "{\"status\":\"success\",\"data\":{\"bool\":false,\"lhs\":" SEL("foo")
                 ",\"matching\":null,\"op\":\"+\",\"rhs\":{\"type\":\"numberLiteral\",\"val\":"
                 "\"-2.5\"},\"type\":\"binaryExpr\"}}");
    /* the name before the braces is the last matcher */
    CHECK_EQ_STR(
        request(HTTP_METHOD_GET, "/api/v1/parse_query",
                "query=sum%20by%20(mode)%20(rate(cpu%7Bjob%3D%22n%22%7D%5B5m%5D))", NULL),
        "{\"status\":\"success\",\"data\":{\"expr\":{\"args\":[{\"anchored\":false,\"matchers\":["
        "{\"name\":\"job\",\"type\":\"=\",\"value\":\"n\"},{\"name\":\"__name__\",\"type\":\"=\","
        "\"value\":\"cpu\"}],\"name\":\"cpu\",\"offset\":0,\"range\":300000,\"smoothed\":false,"
        "\"startOrEnd\":null,\"timestamp\":null,\"type\":\"matrixSelector\"}],\"func\":{"
        "\"argTypes\":[\"matrix\"],\"name\":\"rate\",\"returnType\":\"vector\",\"variadic\":0},"
        "\"type\":\"call\"},\"grouping\":[\"mode\"],\"op\":\"sum\",\"param\":null,\"type\":"
        "\"aggregation\",\"without\":false}}");
    /* optional arguments: Variadic counts them; a subquery at end() */
    CHECK(strstr(request(HTTP_METHOD_GET, "/api/v1/parse_query", "query=round(foo)", NULL),
                 "\"argTypes\":[\"vector\",\"scalar\"],\"name\":\"round\",\"returnType\":"
                 "\"vector\",\"variadic\":1}") != NULL);
    CHECK_EQ_STR(request(HTTP_METHOD_GET, "/api/v1/parse_query",
                         "query=foo%5B1h%3A5m%5D%20%40%20end()", NULL),
                 "{\"status\":\"success\",\"data\":{\"alignEvalTime\":false,\"expr\":" SEL("foo")
                 ",\"offset\":0,\"range\":3600000,\"startOrEnd\":\"end\",\"timestamp\":null,"
                 "\"step\":300000,\"type\":\"subquery\"}}");
}

static void test_syntax_error(void)
{
    const char *b = request(HTTP_METHOD_GET, "/api/v1/parse_query", "query=sum(", NULL);
    CHECK_EQ_INT(status, 400);
    static const char want[] = "{\"status\":\"error\",\"errorType\":\"bad_data\",\"error\":"
                               "\"invalid parameter \\\"query\\\": 1:5: parse error:";
    CHECK(strncmp(b, want, sizeof(want) - 1) == 0);
    request(HTTP_METHOD_POST, "/api/v1/format_query", NULL, "query=foo%7B");
    CHECK_EQ_INT(status, 400);
    CHECK(strstr(body, "\"errorType\":\"bad_data\"") != NULL);
}

int main(void)
{
    qe = query_engine_create(NULL, NULL);
    RUN(test_format_query);
    RUN(test_format_printer);
    RUN(test_parse_query);
    RUN(test_syntax_error);
    query_engine_destroy(qe);
    return TEST_DONE();
}
