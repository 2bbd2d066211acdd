/*
 * test_logql_parse.c - the LogQL parser: every construct of Loki's LogQL
 * documentation (stream selectors, line filters, parsers, label filters,
 * formatters, drop/keep, unwrap, range and vector aggregations, binary
 * operators) parses into the expected AST, and bad queries fail with Loki's
 * error wording and position ("parse error at line 1, col 30: syntax error:
 * unexpected IDENTIFIER, expecting } or ,").
 */
#include <string.h>

#include "query/logql.h"
#include "test.h"

static arena *A;
static char err[600];

static logql_node *parse(const char *q)
{
    logql_node *root = NULL;
    logql_parse_error pe;
    err[0] = 0;
    if (logql_parse(A, q, strlen(q), &root, &pe) != SONDE_OK) {
        logql_parse_error_format(&pe, err, sizeof err);
        return NULL;
    }
    return root;
}

static bool str_is(const char *s, size_t n, const char *want)
{
    return s && strlen(want) == n && memcmp(s, want, n) == 0;
}

/* LogQL "Log stream selector" */
static void test_selectors(void)
{
    logql_node *n = parse("{app=\"mysql\",name=\"mysql-backup\"}");
    CHECK(n && n->kind == LOGQL_NODE_LOG && n->log.nmatchers == 2 && n->log.nstages == 0);
    if (n) {
        CHECK(str_is(n->log.matchers[0].name, n->log.matchers[0].name_len, "app"));
        CHECK(str_is(n->log.matchers[1].value, n->log.matchers[1].value_len, "mysql-backup"));
        CHECK(n->log.matchers[0].op == STORAGE_MATCH_EQ);
    }
    n = parse("{a!=\"x\", b=~\"y.*\", c!~`z+`, d=\"1\"}");
    CHECK(n && n->log.nmatchers == 4);
    if (n) {
        CHECK(n->log.matchers[0].op == STORAGE_MATCH_NEQ);
        CHECK(n->log.matchers[1].op == STORAGE_MATCH_RE && n->log.matchers[1].re);
        CHECK(n->log.matchers[2].op == STORAGE_MATCH_NRE && n->log.matchers[2].re);
        CHECK(logql_matcher_matches(&n->log.matchers[1], "yes", 3));
        CHECK(!logql_matcher_matches(&n->log.matchers[1], "ay", 2)); /* anchored */
    }
    /* escapes in strings, a trailing comma, comments, new lines */
    n = parse("{a=\"q\\\"\\n\\u00e9\",}\n# comment\n");
    CHECK(n && n->log.nmatchers == 1 &&
          str_is(n->log.matchers[0].value, n->log.matchers[0].value_len, "q\"\n\xc3\xa9"));
    CHECK(parse("( {a=\"b\"} )") != NULL);
}

/* LogQL "Line filter expression" */
static void test_line_filters(void)
{
    logql_node *n =
        parse("{job=\"mysql\"} |= \"error\" != \"timeout\" |~ \"a.+b\" !~ `c` |= \"x\" or "
              "\"y\" or \"z\"");
    CHECK(n && n->log.nstages == 5);
    if (n && n->log.nstages == 5) {
        CHECK(n->log.stages[0].kind == LOGQL_STAGE_LINE_FILTER &&
              n->log.stages[0].line_op == LOGQL_LINE_CONTAINS);
        CHECK(n->log.stages[1].line_op == LOGQL_LINE_NOT_CONTAINS);
        CHECK(n->log.stages[2].line_op == LOGQL_LINE_RE && n->log.stages[2].res[0]);
        CHECK(n->log.stages[3].line_op == LOGQL_LINE_NOT_RE);
        CHECK_EQ_INT(n->log.stages[4].nvalues, 3);
    }
}

/* LogQL "Parser expression", "Label filter expression", formats, drop/keep */
static void test_stages(void)
{
    logql_node *n = parse(
        "{job=\"x\"} | json | logfmt | logfmt --strict --keep-empty a, b=\"c\" | json "
        "first=\"servers[0]\", ua=\"request.headers[\\\"User-Agent\\\"]\" | pattern \"<ip> - "
        "<_> <status>\" | regexp \"(?P<method>\\\\w+)\" | line_format \"{{.a}} {{ .b | ToUpper "
        "}}\" | label_format x=y, z=\"{{.a}}\" | drop a, b=\"c\" | keep d | decolorize | "
        "status >= 400 and duration > 10s or size <= 20MB | level=\"err\", x!=\"y\" | "
        "__error__=\"\"");
    CHECK(n != NULL);
    if (!n)
        return;
    static const logql_stage_kind want[] = {
        LOGQL_STAGE_JSON,         LOGQL_STAGE_LOGFMT,       LOGQL_STAGE_LOGFMT,
        LOGQL_STAGE_JSON,         LOGQL_STAGE_PATTERN,      LOGQL_STAGE_REGEXP,
        LOGQL_STAGE_LINE_FORMAT,  LOGQL_STAGE_LABEL_FORMAT, LOGQL_STAGE_DROP,
        LOGQL_STAGE_KEEP,         LOGQL_STAGE_DECOLORIZE,   LOGQL_STAGE_LABEL_FILTER,
        LOGQL_STAGE_LABEL_FILTER, LOGQL_STAGE_LABEL_FILTER,
    };
    CHECK_EQ_INT(n->log.nstages, sizeof want / sizeof want[0]);
    for (size_t i = 0; i < n->log.nstages && i < sizeof want / sizeof want[0]; i++)
        CHECK(n->log.stages[i].kind == want[i]);
    const logql_stage *st = n->log.stages;
    CHECK(st[2].logfmt_strict && st[2].logfmt_keep_empty && st[2].nparams == 2);
    CHECK(st[3].nparams == 2 && str_is(st[3].params[1].path, st[3].params[1].path_len,
                                       "request.headers[\"User-Agent\"]"));
    CHECK_EQ_INT(st[4].npattern, 5); /* <ip> " - " <_> " " <status> */
    CHECK(st[6].tpl.nparts == 3 && st[6].tpl.parts[2].nfn == 1);
    CHECK(st[7].nfmts == 2 && st[7].fmts[0].rename && !st[7].fmts[1].rename);
    CHECK(st[8].nnames == 2 && st[8].names[0].value == NULL && st[8].names[1].value);
    /* left to right: (a and b) or c */
    const logql_lfilter *f = st[11].filter;
    CHECK(f->kind == LOGQL_LF_OR && f->l->kind == LOGQL_LF_AND &&
          f->l->l->kind == LOGQL_LF_NUMBER && f->l->r->kind == LOGQL_LF_DURATION &&
          f->l->r->num == 10 && f->r->kind == LOGQL_LF_BYTES && f->r->num == 20e6);
    CHECK(st[12].filter->kind == LOGQL_LF_AND && st[12].filter->l->kind == LOGQL_LF_STRING);
    /* numbers: negative, float, == ; strings with == */
    n = parse("{a=\"b\"} | x > -1.5 | y == 3 | z == \"s\" | w != 2 | v =~ \"r.*\"");
    CHECK(n && n->log.nstages == 5);
    if (n && n->log.nstages == 5) {
        CHECK(n->log.stages[0].filter->num == -1.5);
        CHECK(n->log.stages[1].filter->kind == LOGQL_LF_NUMBER &&
              n->log.stages[1].filter->cmp == LOGQL_CMP_EQ);
        CHECK(n->log.stages[2].filter->kind == LOGQL_LF_STRING);
        CHECK(n->log.stages[3].filter->cmp == LOGQL_CMP_NE);
        CHECK(n->log.stages[4].filter->m.op == STORAGE_MATCH_RE);
    }
    /* left to right as documented: a or b and c is (a or b) and c */
    n = parse("{a=\"b\"} | duration >= 20ms or method=\"GET\" and size <= 20KB");
    CHECK(n && n->log.stages[0].filter->kind == LOGQL_LF_AND &&
          n->log.stages[0].filter->l->kind == LOGQL_LF_OR &&
          n->log.stages[0].filter->r->kind == LOGQL_LF_BYTES);
    /* implicit and: a space between predicates */
    n = parse("{a=\"b\"} | logfmt | x=\"1\" y=\"2\"");
    CHECK(n && n->log.nstages == 2 && n->log.stages[1].filter->kind == LOGQL_LF_AND);
}

/* LogQL "Metric queries" */
static void test_metric(void)
{
    logql_node *n = parse("count_over_time({job=\"mysql\"}[5m])");
    CHECK(n && n->kind == LOGQL_NODE_RANGE && n->range_fn == LOGQL_RANGE_COUNT &&
          n->range_ns == INT64_C(300000000000));
    n = parse("rate(({job=\"mysql\"} |= \"error\" != \"timeout\")[10s])");
    CHECK(n && n->range_fn == LOGQL_RANGE_RATE && n->log.nstages == 2);
    n = parse("bytes_rate({a=\"b\"}[1h30m] offset 5m)");
    CHECK(n && n->range_ns == INT64_C(5400000000000) && n->offset_ns == INT64_C(300000000000));
    n = parse(
        "quantile_over_time(0.99, {cluster=\"ops-tools1\",container=\"ingress-nginx\"} | json "
        "| __error__ = \"\" | unwrap request_time [1m]) by (path)");
    CHECK(n && n->range_fn == LOGQL_RANGE_QUANTILE && n->param == 0.99 && n->unwrapped &&
          n->grouping.present && n->grouping.nnames == 1);
    n = parse("sum_over_time({a=\"b\"} | logfmt | unwrap bytes(size) | __error__=\"\" [1m])");
    CHECK(n && n->log.nstages == 3 && n->log.stages[1].kind == LOGQL_STAGE_UNWRAP &&
          n->log.stages[1].conv == LOGQL_UNWRAP_BYTES);
    n = parse("avg_over_time({a=\"b\"} | unwrap duration_seconds(d) [1m])");
    CHECK(n && n->log.stages[0].conv == LOGQL_UNWRAP_DURATION);
    n = parse("sum by (host) (rate({job=\"mysql\"} |= \"error\" [1m]))");
    CHECK(n && n->kind == LOGQL_NODE_VECTOR && n->vec_fn == LOGQL_VEC_SUM &&
          n->grouping.nnames == 1 && !n->grouping.without && n->inner->kind == LOGQL_NODE_RANGE);
    n = parse("topk(10,sum(rate({region=\"us-east1\"}[5m])) by (name))");
    CHECK(n && n->vec_fn == LOGQL_VEC_TOPK && n->param == 10 &&
          n->inner->kind == LOGQL_NODE_VECTOR && n->inner->grouping.nnames == 1);
    n = parse("avg without (a, b) (count_over_time({a=\"b\"}[1m]))");
    CHECK(n && n->grouping.without && n->grouping.nnames == 2);
    n = parse("sum(rate({app=\"foo\", level=\"warn\"}[1m])) / sum(rate({app=\"foo\", "
              "level=\"error\"}[1m])) * 100 > bool 2");
    CHECK(n && n->kind == LOGQL_NODE_BINARY && n->op == LOGQL_OP_GT && n->bool_mod &&
          n->lhs->kind == LOGQL_NODE_BINARY && n->lhs->op == LOGQL_OP_MUL &&
          n->lhs->lhs->op == LOGQL_OP_DIV);
    n = parse("2 ^ 3 ^ 2");
    CHECK(n && n->op == LOGQL_OP_POW && n->rhs->kind == LOGQL_NODE_BINARY);
    CHECK(parse("count_over_time({a=\"b\"}[5m]) > 10") != NULL);
    n = parse("sum(count_over_time({a=\"b\"}[5m])) or vector(0)");
    CHECK(n && n->op == LOGQL_OP_OR && n->rhs->kind == LOGQL_NODE_VECTOR_LIT);
    /* precedence: or < and/unless < comparison < + */
    n = parse("vector(1) > 0 and vector(2) + 1 or vector(3) unless vector(4)");
    CHECK(n && n->op == LOGQL_OP_OR && n->lhs->op == LOGQL_OP_AND &&
          n->lhs->lhs->op == LOGQL_OP_GT && n->lhs->rhs->op == LOGQL_OP_ADD &&
          n->rhs->op == LOGQL_OP_UNLESS);
    n = parse("sort_desc(sum by (a) (count_over_time({a=\"b\"}[5m])))");
    CHECK(n && n->kind == LOGQL_NODE_VECTOR && n->vec_fn == LOGQL_VEC_SORT_DESC);
    CHECK(parse("vector(1) or 2") == NULL);
    CHECK(strstr(err, "set operations are only allowed between vectors") != NULL);
    CHECK(parse("sum by () (count_over_time({a=\"b\"}[5m]))") != NULL);
}

/* Errors in Loki's wording */
static void test_errors(void)
{
    CHECK(parse("{application=\"dev-wakumo-ai\" source=\"openhands\"} |= \"TypeError\"") == NULL);
    CHECK_EQ_STR(err, "parse error at line 1, col 30: syntax error: unexpected IDENTIFIER, "
                      "expecting } or ,");
    CHECK(parse("{app=~\".*\"}") == NULL);
    CHECK_EQ_STR(err, "parse error : queries require at least one regexp or equality matcher that "
                      "does not have an empty-compatible value. For instance, app=~\".*\" does "
                      "not meet this requirement, but app=~\".+\" will");
    CHECK(parse("{a=\"\", b!=\"x\"}") == NULL);
    CHECK(strstr(err, "empty-compatible") != NULL);
    CHECK(parse("{a!=\"\"}") != NULL); /* a!="" does not match the empty value */
    CHECK(parse("{}") == NULL);
    CHECK_EQ_STR(err, "parse error at line 1, col 2: syntax error: unexpected }, expecting "
                      "IDENTIFIER");
    CHECK(parse("") == NULL);
    CHECK_EQ_STR(err, "parse error at line 1, col 1: syntax error: unexpected $end");
    CHECK(parse("{a}") == NULL);
    CHECK_EQ_STR(err, "parse error at line 1, col 3: syntax error: unexpected }, expecting != or "
                      "!~ or =~ or =");
    CHECK(parse("{a=b}") == NULL);
    CHECK_EQ_STR(err, "parse error at line 1, col 4: syntax error: unexpected IDENTIFIER, "
                      "expecting STRING");
    CHECK(parse("{a=\"b\"} |= 3") == NULL);
    CHECK_EQ_STR(err, "parse error at line 1, col 12: syntax error: unexpected NUMBER, expecting "
                      "STRING");
    CHECK(parse("{a=\"b\"} |= \"x") == NULL);
    CHECK_EQ_STR(err, "parse error at line 1, col 12: literal not terminated");
    CHECK(parse("{a=~\"(\"}") == NULL);
    CHECK(strstr(err, "parse error at line 1, col 5: error parsing regexp: missing closing "
                      "parenthesis") == err);
    CHECK(parse("{a=\"b\"}\n  | json | x >") == NULL);
    CHECK_EQ_STR(err, "parse error at line 2, col 15: syntax error: unexpected $end, expecting "
                      "BYTES or DURATION or NUMBER or STRING");
    CHECK(parse("count_over_time({a=\"b\"})") == NULL);
    CHECK_EQ_STR(err, "parse error at line 1, col 24: syntax error: unexpected ), expecting [");
    CHECK(parse("sum_over_time({a=\"b\"}[5m])") == NULL);
    CHECK_EQ_STR(err, "parse error : invalid aggregation sum_over_time without unwrap");
    CHECK(parse("count_over_time({a=\"b\"} | unwrap x [5m])") == NULL);
    CHECK_EQ_STR(err, "parse error : invalid aggregation count_over_time with unwrap");
    CHECK(parse("count_over_time({a=\"b\"}[5m]) by (x)") == NULL);
    CHECK_EQ_STR(err, "parse error : grouping not allowed for count_over_time aggregation");
    /* "Except for sum_over_time, absent_over_time, rate and rate_counter, unwrapped range
     * aggregations support grouping" */
    CHECK(parse("sum_over_time({a=\"b\"} | unwrap x [5m]) by (y)") == NULL);
    CHECK_EQ_STR(err, "parse error : grouping not allowed for sum_over_time aggregation");
    CHECK(parse("rate({a=\"b\"} | unwrap x [5m]) by (y)") == NULL);
    CHECK(parse("max_over_time({a=\"b\"} | unwrap x [5m]) without (y)") != NULL);
    CHECK(parse("{a=\"b\"} | unwrap x") == NULL);
    CHECK(parse("sum({a=\"b\"})") == NULL);
    CHECK(strstr(err, "expecting a metric query") != NULL);
    CHECK(parse("count_over_time({a=\"b\"}[5m]) + {a=\"b\"}") == NULL);
    CHECK(parse("topk(x, count_over_time({a=\"b\"}[5m]))") == NULL);
    CHECK_EQ_STR(err, "parse error at line 1, col 6: syntax error: unexpected IDENTIFIER, "
                      "expecting NUMBER");
    CHECK(parse("foo({a=\"b\"}[5m])") == NULL);
    CHECK_EQ_STR(err, "parse error at line 1, col 1: syntax error: unexpected IDENTIFIER");
    CHECK(parse("{a=\"b\"} | pattern \"<_> foo\"") == NULL);
    CHECK_EQ_STR(err, "parse error at line 1, col 19: at least one capture is required");
    CHECK(parse("{a=\"b\"} | pattern \"<a><b>\"") == NULL);
    CHECK(strstr(err, "consecutive capture") != NULL);
    CHECK(parse("{a=\"b\"} | regexp \"(\\\\w+)\"") == NULL);
    CHECK_EQ_STR(err, "parse error : at least one named capture must be supplied");
    CHECK(parse("{a=\"b\"} | line_format \"{{.a | Nope}}\"") == NULL);
    CHECK(strstr(err, "function \"Nope\" not defined") != NULL);
    CHECK(parse("{a=\"b\"} | line_format \"{{.a\"") == NULL);
    CHECK(strstr(err, "unclosed action") != NULL);
    CHECK(parse("{a=\"b\"} | label_format x=y, x=z") == NULL);
    CHECK(strstr(err, "multiple label name 'x'") != NULL);
    CHECK(parse("count_over_time({a=\"b\"}[0s])") == NULL);
    CHECK(parse("{a=\"b\"} | x > 5zz") == NULL);
    CHECK(parse("{a=\"b\"} extra") == NULL);
    CHECK_EQ_STR(err, "parse error at line 1, col 9: syntax error: unexpected IDENTIFIER");
}

static void test_selector_only(void)
{
    logql_matcher *m;
    size_t nm;
    logql_parse_error pe;
    CHECK(logql_parse_selector(A, "{a=\"b\",c=~\"d|e\"}", 16, &m, &nm, &pe) == SONDE_OK && nm == 2);
    CHECK(logql_parse_selector(A, "{a=\"b\"} |= \"x\"", 15, &m, &nm, &pe) == SONDE_ERR_INVALID);
}

static void test_units(void)
{
    int64_t ns;
    double b;
    CHECK(logql_parse_duration("1h30m", 5, &ns) && ns == INT64_C(5400000000000));
    CHECK(logql_parse_duration("1.5s", 4, &ns) && ns == INT64_C(1500000000));
    CHECK(logql_parse_duration("250ms", 5, &ns) && ns == 250000000);
    CHECK(logql_parse_duration("10us", 4, &ns) && ns == 10000);
    CHECK(logql_parse_duration("2d", 2, &ns) && ns == INT64_C(172800000000000));
    CHECK(!logql_parse_duration("5", 1, &ns));
    CHECK(!logql_parse_duration("5x", 2, &ns));
    CHECK(logql_parse_bytes("20MB", 4, &b) && b == 20e6);
    CHECK(logql_parse_bytes("1KiB", 4, &b) && b == 1024);
    CHECK(logql_parse_bytes("100b", 4, &b) && b == 100);
    CHECK(logql_parse_bytes("1.5kb", 5, &b) && b == 1500);
    CHECK(!logql_parse_bytes("1xb", 3, &b));
    char out[32];
    CHECK_EQ_INT(logql_sanitize_label("service.name", 12, out), 12);
    CHECK(memcmp(out, "service_name", 12) == 0);
    CHECK_EQ_INT(logql_sanitize_label("1a-b", 4, out), 5);
    CHECK(memcmp(out, "_1a_b", 5) == 0);
}

int main(void)
{
    A = arena_create(1 << 16, 64u << 20);
    RUN(test_selectors);
    RUN(test_line_filters);
    RUN(test_stages);
    RUN(test_metric);
    RUN(test_errors);
    RUN(test_selector_only);
    RUN(test_units);
    arena_destroy(A);
    return TEST_DONE();
}
