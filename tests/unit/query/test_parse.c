/*
 * test_parse.c - PromQL lexer and parser: precedence and associativity (via a
 * fully parenthesised rendering of the tree), literals, selectors, modifiers,
 * subqueries, aggregations, type checks and error positions.
 */
#include <math.h>
#include <stdlib.h>

#include "query/promql.h"
#include "test.h"

/* Renders the tree with every binary/unary node parenthesised. */
static void tree(buf *b, const query_node *n)
{
    switch (n->kind) {
    case QN_BINARY:
        buf_putc(b, '(');
        tree(b, n->u.bin.lhs);
        buf_printf(b, " %s%s ", query_binop_name(n->u.bin.op), n->u.bin.return_bool ? " bool" : "");
        tree(b, n->u.bin.rhs);
        buf_putc(b, ')');
        break;
    case QN_UNARY:
        buf_puts(b, n->u.un.neg ? "(-" : "(+");
        tree(b, n->u.un.expr);
        buf_putc(b, ')');
        break;
    case QN_PAREN:
        tree(b, n->u.paren.expr);
        break;
    default:
        query_ast_print(b, n);
        break;
    }
}

static char out[1024];

static const char *parse_tree(const char *q)
{
    arena *a = arena_create(4096, 0);
    query_node *root;
    query_parse_error err;
    if (query_parse(a, q, strlen(q), &root, &err) != SONDE_OK) {
        query_parse_error_format(q, strlen(q), &err, out, sizeof(out));
        arena_destroy(a);
        return out;
    }
    buf b;
    buf_init(&b, 1 << 20);
    tree(&b, root);
    snprintf(out, sizeof(out), "%s", b.len ? b.data : "");
    buf_fini(&b);
    query_ast_release(root);
    arena_destroy(a);
    return out;
}

static const char *parse_print(const char *q)
{
    arena *a = arena_create(4096, 0);
    query_node *root;
    query_parse_error err;
    if (query_parse(a, q, strlen(q), &root, &err) != SONDE_OK) {
        arena_destroy(a);
        return "ERR";
    }
    buf b;
    buf_init(&b, 1 << 20);
    query_ast_print(&b, root);
    snprintf(out, sizeof(out), "%s", b.len ? b.data : "");
    buf_fini(&b);
    query_ast_release(root);
    arena_destroy(a);
    return out;
}

static const char *parse_err(const char *q)
{
    arena *a = arena_create(4096, 0);
    query_node *root;
    query_parse_error err;
    if (query_parse(a, q, strlen(q), &root, &err) == SONDE_OK) {
        query_ast_release(root);
        arena_destroy(a);
        return "OK";
    }
    query_parse_error_format(q, strlen(q), &err, out, sizeof(out));
    arena_destroy(a);
    return out;
}

static double parse_num(const char *q)
{
    arena *a = arena_create(4096, 0);
    query_node *root;
    query_parse_error err;
    double v = -12345;
    if (query_parse(a, q, strlen(q), &root, &err) == SONDE_OK) {
        if (root->kind == QN_NUMBER)
            v = root->u.number;
        query_ast_release(root);
    }
    arena_destroy(a);
    return v;
}

static void test_precedence(void)
{
    CHECK_EQ_STR(parse_tree("1 + 2 * 3"), "(1 + (2 * 3))");
    CHECK_EQ_STR(parse_tree("1 * 2 + 3"), "((1 * 2) + 3)");
    CHECK_EQ_STR(parse_tree("a - b - c"), "((a - b) - c)");
    CHECK_EQ_STR(parse_tree("a / b * c % d"), "(((a / b) * c) % d)");
    CHECK_EQ_STR(parse_tree("2 ^ 3 ^ 2"), "(2 ^ (3 ^ 2))");
    CHECK_EQ_STR(parse_tree("a + b ^ c * d"), "(a + ((b ^ c) * d))");
    CHECK_EQ_STR(parse_tree("a or b and c"), "(a or (b and c))");
    CHECK_EQ_STR(parse_tree("a and b or c unless d"), "((a and b) or (c unless d))");
    CHECK_EQ_STR(parse_tree("a > b + 1"), "(a > (b + 1))");
    CHECK_EQ_STR(parse_tree("a == bool b or c"), "((a == bool b) or c)");
    CHECK_EQ_STR(parse_tree("a atan2 b + c"), "((a atan2 b) + c)");
    CHECK_EQ_STR(parse_tree("(1 + 2) * 3"), "((1 + 2) * 3)");
    CHECK_EQ_STR(parse_tree("-a ^ 2"), "(-(a ^ 2))");
    CHECK_EQ_STR(parse_tree("-a * 2"), "((-a) * 2)");
    CHECK_EQ_STR(parse_tree("1 - -1"), "(1 - -1)");
    CHECK_EQ_STR(parse_tree("a < b <= c"), "((a < b) <= c)");
    /* histogram trim operators: the precedence of comparisons */
    CHECK_EQ_STR(parse_tree("a </ b + 1"), "(a </ (b + 1))");
    CHECK_EQ_STR(parse_tree("a >/ 2 > 1 </ 3"), "(((a >/ 2) > 1) </ 3)");
    CHECK_EQ_STR(parse_tree("a </ b and c"), "((a </ b) and c)");
}

static void test_numbers(void)
{
    CHECK(parse_num("1") == 1);
    CHECK(parse_num("1.5") == 1.5);
    CHECK(parse_num(".5") == 0.5);
    CHECK(parse_num("1e3") == 1000);
    CHECK(parse_num("1.5E-2") == 0.015);
    CHECK(parse_num("0x1F") == 31);
    CHECK(parse_num("-7") == -7);
    CHECK(isinf(parse_num("Inf")) && parse_num("Inf") > 0);
    CHECK(isinf(parse_num("-inf")) && parse_num("-inf") < 0);
    CHECK(isnan(parse_num("NaN")));
    CHECK(isnan(parse_num("nan")));
    CHECK(parse_num("  2 # a comment\n") == 2);
}

static void test_selectors(void)
{
    CHECK_EQ_STR(parse_tree("up"), "up");
    CHECK_EQ_STR(parse_tree("up{a=\"b\",c!=\"d\",e=~\"f.*\",g!~\"h\"}"),
                 "up{a=\"b\", c!=\"d\", e=~\"f.*\", g!~\"h\"}");
    CHECK_EQ_STR(parse_tree("{__name__=~\"up|down\"}"), "{__name__=~\"up|down\"}");
    CHECK_EQ_STR(parse_tree("{\"my.metric\", a='b'}"), "my.metric{a=\"b\"}");
    CHECK_EQ_STR(parse_tree("up{a=\"x\\ny\",}"), "up{a=\"x\\ny\"}");
    CHECK_EQ_STR(parse_tree("up{a=`raw\\n`}"), "up{a=\"raw\\\\n\"}");
    CHECK_EQ_STR(parse_tree("up{a=\"\\u00e9\"}"), "up{a=\"\xc3\xa9\"}");
    CHECK_EQ_STR(parse_tree("http_requests_total[5m]"), "http_requests_total[5m]");
    CHECK_EQ_STR(parse_tree("x[1h30m]"), "x[1h30m]");
    CHECK_EQ_STR(parse_tree("x offset 5m"), "x offset 5m");
    CHECK_EQ_STR(parse_tree("x offset -1h"), "x offset -1h");
    CHECK_EQ_STR(parse_tree("x[5m] offset 1w"), "x[5m] offset 1w");
    CHECK_EQ_STR(parse_tree("x @ 1700000000"), "x @ 1700000000.000");
    CHECK_EQ_STR(parse_tree("x @ start()"), "x @ start()");
    CHECK_EQ_STR(parse_tree("x[1m] @ end() offset 10s"), "x[1m] @ end() offset 10s");
    CHECK_EQ_STR(parse_tree("rate(x[5m])[30m:1m]"), "rate(x[5m])[30m:1m]");
    CHECK_EQ_STR(parse_tree("x[30m:]"), "x[30m:]");
    /* Prometheus 3 duration expressions */
    CHECK_EQ_STR(parse_print("rate(x[5m+1m])"), "rate(x[300 + 60])");
    CHECK_EQ_STR(parse_print("x[2m*(10+5):STEP()]"), "x[120 * (10 + 5):step()]");
    CHECK_EQ_STR(parse_print("x offset (2 * step())"), "x offset ((2 * step()))");
    CHECK_EQ_STR(parse_print("x offset -min_of(range(), 8s)"), "x offset (-min_of(range(), 8))");
    CHECK_EQ_STR(parse_tree("x offset 2 ^ 2"), "(x offset 2s ^ 2)");
    CHECK_EQ_STR(parse_tree("predict_linear(x[1h], 1h)"), "predict_linear(x[1h], 3600)");
    CHECK_EQ_STR(parse_tree("min_over_time(rate(x[5m])[1h:5m] offset 1h)"),
                 "min_over_time(rate(x[5m])[1h:5m] offset 1h)");
}

static void test_aggregations_and_calls(void)
{
    CHECK_EQ_STR(parse_tree("sum by (a, b) (x)"), "sum by (a, b) (x)");
    CHECK_EQ_STR(parse_tree("sum(x) without (a)"), "sum without (a) (x)");
    CHECK_EQ_STR(parse_tree("SUM BY (group) (x)"), "sum by (group) (x)");
    CHECK_EQ_STR(parse_tree("topk(5, x)"), "topk(5, x)");
    CHECK_EQ_STR(parse_tree("quantile by (le) (0.9, x)"), "quantile by (le) (0.9, x)");
    CHECK_EQ_STR(parse_tree("count_values(\"v\", x)"), "count_values(\"v\", x)");
    CHECK_EQ_STR(parse_tree("sum by () (x)"), "sum(x)");
    CHECK_EQ_STR(parse_tree("histogram_quantile(0.9, sum by (le) (rate(x[5m])))"),
                 "histogram_quantile(0.9, sum by (le) (rate(x[5m])))");
    CHECK_EQ_STR(parse_print("a * on (b) group_left (c) d"), "a * on(b) group_left(c) d");
    CHECK_EQ_STR(parse_print("a + ignoring (b) c"), "a + ignoring(b) c");
    CHECK_EQ_STR(parse_print("a / on() group_right b"), "a / on() group_right() b");
    CHECK_EQ_STR(parse_print("a > bool on(x) b"), "a > bool on(x) b");
    CHECK_EQ_STR(parse_tree("time()"), "time()");
    CHECK_EQ_STR(parse_tree("label_join(x, \"d\", \",\", \"a\", \"b\")"),
                 "label_join(x, \"d\", \",\", \"a\", \"b\")");
}

static void test_errors(void)
{
    CHECK_EQ_STR(parse_err(""), "1:1: parse error: no expression found in input");
    CHECK_EQ_STR(parse_err("1 +"), "1:4: parse error: unexpected end of input");
    CHECK_EQ_STR(parse_err("sum(x"), "1:6: parse error: unexpected end of input in aggregation");
    CHECK_EQ_STR(parse_err("foo{a=\"b\""),
                 "1:10: parse error: unexpected end of input in label matching, expected \",\" "
                 "or \"}\"");
    CHECK_EQ_STR(parse_err("rate(x)"),
                 "1:6: parse error: expected type range vector in call to function \"rate\", got "
                 "instant vector");
    CHECK_EQ_STR(parse_err("nosuch(x)"), "1:1: parse error: unknown function with name \"nosuch\"");
    CHECK_EQ_STR(parse_err("rate(x[5m], 1)"),
                 "1:1: parse error: expected 1 argument(s) in call to \"rate\", got 2");
    CHECK_EQ_STR(parse_err("1 > 2"),
                 "1:1: parse error: comparisons between scalars must use BOOL modifier");
    CHECK_EQ_STR(parse_err("{}"),
                 "1:1: parse error: vector selector must contain at least one non-empty matcher");
    CHECK_EQ_STR(parse_err("{a=~\".*\"}"),
                 "1:1: parse error: vector selector must contain at least one non-empty matcher");
    CHECK_EQ_STR(parse_err("x{a=~\"(\"}"), parse_err("x{a=~\"(\"}")); /* no crash, no leak */
    CHECK(strstr(parse_err("x{a=~\"(\"}"), "1:3: parse error: error parsing regexp") != NULL);
    CHECK_EQ_STR(parse_err("x[5m] + 1"),
                 "1:1: parse error: binary expression must contain only scalar and instant "
                 "vector types");
    CHECK_EQ_STR(parse_err("sum(x) offset 5m"),
                 "1:8: parse error: offset modifier must be preceded by an instant vector "
                 "selector or range vector selector or a subquery");
    CHECK_EQ_STR(parse_err("x[5x]"), "1:3: parse error: bad number or duration syntax");
    CHECK_EQ_STR(parse_err("1 and 2"),
                 "1:1: parse error: set operator \"and\" not allowed in binary scalar expression");
    CHECK_EQ_STR(parse_err("x )"), "1:3: parse error: unexpected right parenthesis ')'");
    CHECK_EQ_STR(parse_err("a\n  + )"), "2:5: parse error: unexpected right parenthesis ')'");
    CHECK_EQ_STR(parse_err("x{a=\"b}"), "1:5: parse error: unterminated quoted string");
    CHECK_EQ_STR(parse_err("a + bool b"),
                 "1:5: parse error: bool modifier can only be used on comparison operators");
    CHECK_EQ_STR(parse_err("x{__name__=\"y\"}"),
                 "1:3: parse error: metric name must not be set twice: \"x\" or \"y\"");
}

static void test_depth_limit(void)
{
    char q[4096];
    size_t k = 0;
    for (int i = 0; i < 1000; i++)
        q[k++] = '(';
    q[k++] = '1';
    for (int i = 0; i < 1000; i++)
        q[k++] = ')';
    q[k] = 0;
    CHECK(strstr(parse_err(q), "nesting too deep") != NULL);
    k = 0;
    for (int i = 0; i < 1000; i++)
        q[k++] = '-';
    q[k++] = '1';
    q[k] = 0;
    CHECK(strstr(parse_err(q), "nesting too deep") != NULL);
    CHECK_EQ_STR(parse_err("((((((((((1))))))))))"), "OK");
}

/* Every prefix and many one-byte mutations of valid queries: the parser must
 * answer OK or a positioned error, never crash or leak (run under ASan). */
/* Prometheus 3 experimental syntax: fill modifiers, anchored/smoothed
 * selectors, info()'s label selector (which may match everything). */
static void test_experimental_syntax(void)
{
    CHECK_EQ_STR(parse_print("a + on(x) group_left fill_left(0) fill_right(-1) b"),
                 "a + on(x) group_left() fill_left(0) fill_right(-1) b");
    CHECK_EQ_STR(parse_print("a > bool fill(2) b"), "a > bool fill(2) b");
    CHECK_EQ_STR(parse_print("fill + fill(0) fill"), "fill + fill(0) fill");
    CHECK_EQ_STR(parse_print("rate(x[5m] anchored)"), "rate(x[5m] anchored)");
    CHECK_EQ_STR(parse_print("increase(x[5m] smoothed offset 1m)"),
                 "increase(x[5m] smoothed offset 1m)");
    CHECK_EQ_STR(parse_print("x smoothed"), "x smoothed");
    CHECK(strstr(parse_err("x anchored"), "anchored modifier can only be used with range") != NULL);
    CHECK(strstr(parse_err("a and fill(1) b"), "not allowed for set operators") != NULL);
    CHECK_EQ_STR(parse_print("info(x, {data=~\".*\"})"), "info(x, {data=~\".*\"})");
    CHECK(strstr(parse_err("sum({data=~\".*\"})"), "at least one non-empty matcher") != NULL);
    CHECK_EQ_STR(parse_print("h </ 1.5"), "h </ 1.5");
    CHECK(strstr(parse_err("h </ bool 1"), "bool modifier can only be used on comparison") != NULL);
}

static void test_mutations(void)
{
    static const char *const queries[] = {
        "sum by (job) (rate(http_requests_total{code=~\"5..\"}[5m] offset -1h @ start()))",
        "histogram_quantile(0.9, sum without (instance) (rate(x_bucket[1h30m])))",
        "a * on(b) group_left(c) d > bool 1 or -e ^ 2 ^ 3 unless f",
        "max_over_time(rate(x[5m])[30m:1m] @ 1700000000.5)",
        "{\"my.metric\", a='b\\n', c!=`d`} # comment\n + 0x1f * 1e-3 - Inf",
        "topk(5, count_values(\"v\", label_replace(x, \"a\", \"$1\", \"b\", \"(.*)\")))",
    };
    static const char repl[] = "(){}[]\"'`,:@=~!<>+-*/%^# 0a.\n\\";
    int bad = 0;
    for (size_t qi = 0; qi < sizeof(queries) / sizeof(queries[0]); qi++) {
        const char *q = queries[qi];
        size_t n = strlen(q);
        CHECK_EQ_STR(parse_err(q), "OK");
        char m[512];
        for (size_t len = 0; len <= n; len++) {
            arena *a = arena_create(4096, 0);
            query_node *root;
            query_parse_error err;
            sonde_status st = query_parse(a, q, len, &root, &err);
            if (st == SONDE_OK)
                query_ast_release(root);
            else if (st != SONDE_ERR_INVALID || err.pos > len)
                bad++;
            arena_destroy(a);
        }
        for (size_t i = 0; i < n; i++) {
            for (size_t r = 0; r < sizeof(repl) - 1; r++) {
                memcpy(m, q, n);
                m[i] = repl[r];
                arena *a = arena_create(4096, 0);
                query_node *root;
                query_parse_error err;
                sonde_status st = query_parse(a, m, n, &root, &err);
                if (st == SONDE_OK)
                    query_ast_release(root);
                else if (st != SONDE_ERR_INVALID || err.pos > n || !err.msg[0])
                    bad++;
                arena_destroy(a);
            }
        }
    }
    CHECK_EQ_INT(bad, 0);
}

int main(void)
{
    RUN(test_precedence);
    RUN(test_numbers);
    RUN(test_selectors);
    RUN(test_aggregations_and_calls);
    RUN(test_errors);
    RUN(test_depth_limit);
    RUN(test_mutations);
    RUN(test_experimental_syntax);
    return TEST_DONE();
}
