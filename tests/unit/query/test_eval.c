/*
 * test_eval.c - the PromQL evaluator over an in-memory source: rate/increase
 * extrapolation and counter resets against Prometheus' own expected outputs
 * (functions.test), aggregation by/without (aggregators.test), binary
 * operators and matching, lookback and staleness, range evaluation, limits,
 * and the JSON encoding of results.
 */
#include <stdio.h>
#include <stdint.h>
#include <string.h>
#include <math.h>

#include "memsrc.h"
#include "query/eval_internal.h"
#include "query/json.h"
#include "test.h"

#define MIN 60000LL

static char res[8192];
static size_t max_samples;
static int64_t deadline_ns;
static bool delayed_names;

static void fmt_value(buf *b, const query_value *v, bool range)
{
    if (v->type == QUERY_TYPE_SCALAR) {
        for (size_t i = 0; i < v->nsteps; i++)
            buf_printf(b, "%s%.12g", i ? " " : "scalar ", v->scalar[i]);
        return;
    }
    if (v->type == QUERY_TYPE_STRING) {
        buf_printf(b, "string %s", v->str);
        return;
    }
    if (v->type == QUERY_TYPE_MATRIX) {
        for (size_t i = 0; i < v->nms; i++) {
            char l[512];
            query_labels_fmt(l, sizeof(l), v->ms[i].labels, v->ms[i].nlabels);
            buf_printf(b, "%s%s", i ? "\n" : "", l);
            for (size_t j = 0; j < v->ms[i].n; j++)
                buf_printf(b, " %.12g@%lld", v->ms[i].s[j].value,
                           (long long)(v->ms[i].s[j].ts_ms / 1000));
        }
        return;
    }
    bool first = true;
    for (size_t i = 0; i < v->nseries; i++) {
        const query_series *s = &v->series[i];
        char l[512];
        query_labels_fmt(l, sizeof(l), s->labels, s->nlabels);
        if (!range) {
            if (!s->ok[0])
                continue;
            buf_printf(b, "%s%s %.12g", first ? "" : "\n", l, s->v[0]);
            first = false;
            continue;
        }
        buf_printf(b, "%s%s", first ? "" : "\n", l);
        first = false;
        for (size_t j = 0; j < v->nsteps; j++)
            if (s->ok[j])
                buf_printf(b, " %.12g@%lld", s->v[j],
                           (long long)((v->start + (int64_t)j * v->step) / 1000));
    }
}

static const char *run(memsrc *m, const char *q, int64_t start, int64_t end, int64_t step)
{
    arena *a = arena_create(1 << 16, 0);
    query_node *root;
    query_parse_error perr;
    if (query_parse(a, q, strlen(q), &root, &perr) != SONDE_OK) {
        char msg[300];
        query_parse_error_format(q, strlen(q), &perr, msg, sizeof(msg));
        snprintf(res, sizeof(res), "PARSE: %s", msg);
        arena_destroy(a);
        return res;
    }
    query_eval_ctx c;
    memset(&c, 0, sizeof(c));
    mem_source(m, &c.src);
    c.a = a;
    c.lookback_ms = 5 * MIN;
    c.max_samples = max_samples;
    c.deadline_ns = deadline_ns;
    c.delayed_name_removal = delayed_names;
    query_value v;
    bool range = step > 0;
    sonde_status st = range ? query_eval_range(&c, root, start, end, step, &v)
                            : query_eval_instant(&c, root, start, &v);
    if (st) {
        snprintf(res, sizeof(res), "ERR: %s", c.err);
    } else {
        query_value_sort(&v);
        buf b;
        buf_init(&b, 1 << 20);
        fmt_value(&b, &v, range);
        snprintf(res, sizeof(res), "%s", b.len ? b.data : "");
        buf_fini(&b);
    }
    query_ast_release(root);
    arena_destroy(a);
    return res;
}

static const char *inst(memsrc *m, const char *q, int64_t t)
{
    return run(m, q, t, t, 0);
}

static void test_increase_rate(void)
{
    memsrc m;
    mem_init(&m);
    mem_load(&m, "http_requests_total{path=\"/foo\"}", 5 * MIN, "0+10x10");
    mem_load(&m, "http_requests_total{path=\"/bar\"}", 5 * MIN, "0+18x5 0+18x5");
    mem_load(&m, "http_requests_total{path=\"/dings\"}", 5 * MIN, "10+10x10");
    mem_load(&m, "http_requests_total{path=\"/bumms\"}", 5 * MIN, "1+10x10");
    CHECK_EQ_STR(inst(&m, "increase(http_requests_total[50m])", 50 * MIN),
                 "{path=\"/bar\"} 160\n{path=\"/bumms\"} 100\n{path=\"/dings\"} 100\n"
                 "{path=\"/foo\"} 100");
    CHECK_EQ_STR(inst(&m, "irate(http_requests_total{path=\"/foo\"}[50m])", 50 * MIN),
                 "{path=\"/foo\"} 0.0333333333333");
    mem_fini(&m);

    mem_init(&m);
    mem_load(&m, "http_requests_total{path=\"/foo\"}", 5 * MIN, "0 1 2 3 2 3 4");
    CHECK_EQ_STR(inst(&m, "increase(http_requests_total[30m])", 30 * MIN), "{path=\"/foo\"} 7");
    mem_fini(&m);

    mem_init(&m);
    mem_load(&m, "testcounter_reset_middle_total", 5 * MIN, "0+27x4 0+27x5");
    CHECK_EQ_STR(inst(&m, "rate(testcounter_reset_middle_total[50m])", 50 * MIN), "{} 0.08");
    mem_fini(&m);

    mem_init(&m);
    const char *starts[] = {"0m", "1m", "2m", "3m", "4m", "5m"};
    const char *vals[] = {"0+240x10",   "60+240x10",  "120+240x10",
                          "180+240x10", "240+240x10", "300+240x10"};
    for (int i = 0; i < 6; i++) {
        char sel[128];
        snprintf(sel, sizeof(sel), "testcounter_zero_cutoff_total{start=\"%s\"}", starts[i]);
        mem_load(&m, sel, 4 * MIN, vals[i]);
    }
    CHECK_EQ_STR(inst(&m, "rate(testcounter_zero_cutoff_total[20m])", 10 * MIN),
                 "{start=\"0m\"} 0.5\n{start=\"1m\"} 0.55\n{start=\"2m\"} 0.6\n{start=\"3m\"} "
                 "0.6\n{start=\"4m\"} 0.6\n{start=\"5m\"} 0.6");
    CHECK_EQ_STR(inst(&m, "rate(testcounter_zero_cutoff_total{start=\"0m\"}[20m])", 50 * MIN),
                 "{start=\"0m\"} 0.6");
    mem_fini(&m);

    mem_init(&m);
    mem_load(&m, "http_requests{path=\"/foo\"}", 5 * MIN, "0 50 100 150 200");
    mem_load(&m, "http_requests{path=\"/bar\"}", 5 * MIN, "200 150 100 50 0");
    CHECK_EQ_STR(inst(&m, "delta(http_requests[20m])", 20 * MIN),
                 "{path=\"/bar\"} -200\n{path=\"/foo\"} 200");
    CHECK_EQ_STR(inst(&m, "idelta(http_requests[20m])", 20 * MIN),
                 "{path=\"/bar\"} -50\n{path=\"/foo\"} 50");
    /* one sample in the window: no rate */
    CHECK_EQ_STR(inst(&m, "rate(http_requests[1m])", 20 * MIN), "");
    mem_fini(&m);
}

static void load_http(memsrc *m)
{
    mem_load(m, "http_requests{job=\"api-server\", instance=\"0\", group=\"production\"}", 5 * MIN,
             "0+10x10");
    mem_load(m, "http_requests{job=\"api-server\", instance=\"1\", group=\"production\"}", 5 * MIN,
             "0+20x10");
    mem_load(m, "http_requests{job=\"api-server\", instance=\"0\", group=\"canary\"}", 5 * MIN,
             "0+30x10");
    mem_load(m, "http_requests{job=\"api-server\", instance=\"1\", group=\"canary\"}", 5 * MIN,
             "0+40x10");
    mem_load(m, "http_requests{job=\"app-server\", instance=\"0\", group=\"production\"}", 5 * MIN,
             "0+50x10");
    mem_load(m, "http_requests{job=\"app-server\", instance=\"1\", group=\"production\"}", 5 * MIN,
             "0+60x10");
    mem_load(m, "http_requests{job=\"app-server\", instance=\"0\", group=\"canary\"}", 5 * MIN,
             "0+70x10");
    mem_load(m, "http_requests{job=\"app-server\", instance=\"1\", group=\"canary\"}", 5 * MIN,
             "0+80x10");
    mem_load(m, "foo{job=\"api-server\", instance=\"0\", region=\"europe\"}", 5 * MIN, "0+90x10");
    mem_load(m, "foo{job=\"api-server\"}", 5 * MIN, "0+100x10");
}

static void test_aggregations(void)
{
    memsrc m;
    mem_init(&m);
    load_http(&m);
    int64_t t = 50 * MIN;
    CHECK_EQ_STR(inst(&m, "SUM BY (group) (http_requests{job=\"api-server\"})", t),
                 "{group=\"canary\"} 700\n{group=\"production\"} 300");
    CHECK_EQ_STR(inst(&m, "sum without (instance) (http_requests{job=\"api-server\"} or foo)", t),
                 "{group=\"canary\", job=\"api-server\"} 700\n"
                 "{group=\"production\", job=\"api-server\"} 300\n"
                 "{job=\"api-server\"} 1000\n"
                 "{job=\"api-server\", region=\"europe\"} 900");
    CHECK_EQ_STR(inst(&m, "sum(sum by (group) (http_requests{job=\"api-server\"})) by (job)", t),
                 "{} 1000");
    CHECK_EQ_STR(inst(&m, "SUM(http_requests) BY (job, nonexistent)", t),
                 "{job=\"api-server\"} 1000\n{job=\"app-server\"} 2600");
    CHECK_EQ_STR(inst(&m, "COUNT(http_requests) BY (job)", t),
                 "{job=\"api-server\"} 4\n{job=\"app-server\"} 4");
    CHECK_EQ_STR(inst(&m, "avg by (job) (http_requests)", t),
                 "{job=\"api-server\"} 250\n{job=\"app-server\"} 650");
    CHECK_EQ_STR(inst(&m, "max by (group) (http_requests)", t),
                 "{group=\"canary\"} 800\n{group=\"production\"} 600");
    CHECK_EQ_STR(inst(&m, "min without (instance, job) (http_requests)", t),
                 "{group=\"canary\"} 300\n{group=\"production\"} 100");
    CHECK_EQ_STR(inst(&m, "topk(1, http_requests{job=\"api-server\"})", t),
                 "{__name__=\"http_requests\", group=\"canary\", instance=\"1\", "
                 "job=\"api-server\"} 400");
    CHECK_EQ_STR(inst(&m, "quantile(0.5, http_requests{job=\"api-server\"})", t), "{} 250");
    CHECK_EQ_STR(inst(&m, "stddev(http_requests{job=\"api-server\", group=\"canary\"})", t),
                 "{} 50");
    CHECK_EQ_STR(inst(&m, "count_values(\"v\", http_requests{job=\"api-server\"} / 100)", t),
                 "{v=\"1\"} 1\n{v=\"2\"} 1\n{v=\"3\"} 1\n{v=\"4\"} 1");
    mem_fini(&m);
}

static void test_binary(void)
{
    memsrc m;
    mem_init(&m);
    load_http(&m);
    mem_load(&m, "x{a=\"1\"}", 5 * MIN, "1+1x10");
    mem_load(&m, "y{a=\"1\"}", 5 * MIN, "10+10x10");
    mem_load(&m, "y{a=\"2\"}", 5 * MIN, "5x10");
    int64_t t = 50 * MIN;
    CHECK_EQ_STR(inst(&m, "1 + 2 * 3", t), "scalar 7");
    CHECK_EQ_STR(inst(&m, "2 ^ 3 ^ 2", t), "scalar 512");
    CHECK_EQ_STR(inst(&m, "-2 ^ 2", t), "scalar -4");
    CHECK_EQ_STR(inst(&m, "1 > bool 2", t), "scalar 0");
    CHECK_EQ_STR(inst(&m, "x * 2", t), "{a=\"1\"} 22");
    CHECK_EQ_STR(inst(&m, "2 - x", t), "{a=\"1\"} -9");
    CHECK_EQ_STR(inst(&m, "y > 50", t), "{__name__=\"y\", a=\"1\"} 110");
    CHECK_EQ_STR(inst(&m, "y > bool 50", t), "{a=\"1\"} 1\n{a=\"2\"} 0");
    CHECK_EQ_STR(inst(&m, "y / x", t), "{a=\"1\"} 10");
    CHECK_EQ_STR(inst(&m, "y - on(a) x", t), "{a=\"1\"} 99");
    CHECK_EQ_STR(inst(&m, "y == ignoring(a) group_left x", t), "");
    CHECK_EQ_STR(inst(&m, "y and x", t), "{__name__=\"y\", a=\"1\"} 110");
    CHECK_EQ_STR(inst(&m, "y unless x", t), "{__name__=\"y\", a=\"2\"} 5");
    CHECK_EQ_STR(inst(&m, "x or y", t),
                 "{__name__=\"x\", a=\"1\"} 11\n{__name__=\"y\", a=\"2\"} 5");
    CHECK_EQ_STR(inst(&m, "y * on() group_left x", t), "{a=\"1\"} 1210\n{a=\"2\"} 55");
    CHECK(strstr(inst(&m, "x * on() y", t),
                 "found duplicate series for the match group {} on the right hand-side") != NULL);
    CHECK(strstr(inst(&m, "y{a=\"1\"} + ignoring(a) y{a=\"2\"} or y", t), "") != NULL);
    CHECK_EQ_STR(inst(&m, "abs(-x)", t), "{a=\"1\"} 11");
    CHECK_EQ_STR(inst(&m, "sqrt(y{a=\"1\"} + 11)", t), "{a=\"1\"} 11");
    CHECK_EQ_STR(inst(&m, "scalar(x) + 1", t), "scalar 12");
    CHECK_EQ_STR(inst(&m, "vector(time())", t), "{} 3000");
    CHECK_EQ_STR(inst(&m, "label_replace(x, \"b\", \"v$1\", \"a\", \"(.*)\")", t),
                 "{__name__=\"x\", a=\"1\", b=\"v1\"} 11");
    CHECK_EQ_STR(inst(&m, "count(http_requests{job=~\"api.*\", instance!~\"1\"})", t), "{} 2");
    CHECK_EQ_STR(inst(&m, "count({__name__=~\"http_req.*|foo\", job!=\"app-server\"})", t), "{} 6");
    CHECK_EQ_STR(inst(&m, "\"hello\"", t), "string hello");
    mem_fini(&m);
}

static void test_lookback_staleness(void)
{
    memsrc m;
    mem_init(&m);
    mem_load(&m, "a", MIN, "1 2 stale 4");
    mem_load(&m, "b", MIN, "1 _ _ _ _ _ _ _");
    CHECK_EQ_STR(inst(&m, "a", 1 * MIN), "{__name__=\"a\"} 2");
    CHECK_EQ_STR(inst(&m, "a", 2 * MIN + 30000), ""); /* the stale marker ends it */
    CHECK_EQ_STR(inst(&m, "a", 3 * MIN), "{__name__=\"a\"} 4");
    CHECK_EQ_STR(inst(&m, "b", 4 * MIN + 59999), "{__name__=\"b\"} 1");
    CHECK_EQ_STR(inst(&m, "b", 5 * MIN), ""); /* lookback is left-open: (t-5m, t] */
    CHECK_EQ_STR(inst(&m, "count_over_time(a[10m])", 3 * MIN), "{} 3");
    CHECK_EQ_STR(inst(&m, "a[2m]", 3 * MIN), "{__name__=\"a\"} 4@180");
    CHECK_EQ_STR(inst(&m, "a offset 2m", 3 * MIN), "{__name__=\"a\"} 2");
    CHECK_EQ_STR(inst(&m, "a offset (60 * 2)", 3 * MIN), "{__name__=\"a\"} 2");
    CHECK_EQ_STR(inst(&m, "count_over_time(a[1m*10])", 3 * MIN), "{} 3");
    CHECK_EQ_STR(inst(&m, "a @ 60", 3 * MIN), "{__name__=\"a\"} 2");
    CHECK_EQ_STR(inst(&m, "timestamp(a)", 3 * MIN + 1000), "{} 180");
    /* extreme offsets and timestamps stay defined (UBSan) */
    CHECK_EQ_STR(inst(&m, "a offset 200000y", 3 * MIN), "");
    CHECK_EQ_STR(inst(&m, "a offset -200000y", 3 * MIN), "");
    CHECK_EQ_STR(inst(&m, "rate(a[200000y] @ -9000000000000)", 3 * MIN), "");
    CHECK_EQ_STR(inst(&m, "max_over_time(a[200000y:100000y] offset 200000y)", 3 * MIN), "");
    CHECK(strstr(inst(&m, "a offset 300000y", 3 * MIN), "bad duration") != NULL);
    mem_fini(&m);
}

static void test_range(void)
{
    memsrc m;
    mem_init(&m);
    load_http(&m);
    mem_load(&m, "a", MIN, "1 2 stale 4 5");
    CHECK_EQ_STR(run(&m, "a", 0, 4 * MIN, MIN), "{__name__=\"a\"} 1@0 2@60 4@180 5@240");
    CHECK_EQ_STR(run(&m, "sum by (job) (rate(http_requests[10m]))", 40 * MIN, 50 * MIN, 5 * MIN),
                 "{job=\"api-server\"} 0.333333333333@2400 0.333333333333@2700 "
                 "0.333333333333@3000\n"
                 "{job=\"app-server\"} 0.866666666667@2400 0.866666666667@2700 "
                 "0.866666666667@3000");
    CHECK_EQ_STR(run(&m, "time()", 0, 2 * MIN, MIN), "scalar 0 60 120");
    CHECK_EQ_STR(run(&m, "max_over_time(a[2m:1m])", 3 * MIN, 4 * MIN, MIN), "{} 4@180 5@240");
    CHECK(strstr(run(&m, "a[5m]", 0, MIN, MIN), "invalid expression type \"range vector\"") !=
          NULL);
    mem_fini(&m);
}

static void test_limits(void)
{
    memsrc m;
    mem_init(&m);
    load_http(&m);
    max_samples = 5;
    CHECK_EQ_STR(inst(&m, "sum(http_requests)", 50 * MIN),
                 "ERR: query processing would load too many samples into memory in query "
                 "execution");
    max_samples = 0;
    CHECK_EQ_STR(inst(&m, "sum(http_requests)", 50 * MIN), "{} 3600");
    deadline_ns = 1; /* long gone */
    CHECK_EQ_STR(run(&m, "sum(rate(http_requests[5m]))", 0, 50 * MIN, 1000),
                 "ERR: query timed out in expression evaluation");
    deadline_ns = 0;
    mem_fini(&m);
}

static void test_json(void)
{
    buf b;
    buf_init(&b, 4096);
    query_json_timestamp(&b, 1700000000000);
    buf_putc(&b, ' ');
    query_json_timestamp(&b, 1700000000500);
    buf_putc(&b, ' ');
    query_json_timestamp(&b, 1700000000005);
    buf_putc(&b, ' ');
    query_json_timestamp(&b, -1500);
    CHECK_EQ_STR(b.data, "1700000000 1700000000.500 1700000000.005 -1.500");
    buf_reset(&b);
    double vals[] = {1.5,       0.1,  100,    NAN,          INFINITY,
                     -INFINITY, 1e-7, 2.5e21, 123456789012, -0.000001};
    for (size_t i = 0; i < sizeof(vals) / sizeof(vals[0]); i++) {
        if (i)
            buf_putc(&b, ' ');
        query_json_float(&b, vals[i]);
    }
    CHECK_EQ_STR(b.data, "1.5 0.1 100 NaN +Inf -Inf 1e-07 2.5e+21 123456789012 -0.000001");
    buf_fini(&b);
}

/* Evaluates q and returns its annotations as "W|I:msg@pos; ..." (empty: none). */
static const char *annots(memsrc *m, const char *q, int64_t start, int64_t end, int64_t step)
{
    arena *a = arena_create(1 << 16, 0);
    query_node *root;
    query_parse_error perr;
    res[0] = 0;
    if (query_parse(a, q, strlen(q), &root, &perr) != SONDE_OK) {
        snprintf(res, sizeof(res), "PARSE");
        arena_destroy(a);
        return res;
    }
    query_eval_ctx c;
    memset(&c, 0, sizeof(c));
    mem_source(m, &c.src);
    c.a = a;
    c.lookback_ms = 5 * MIN;
    query_value v;
    sonde_status st = step ? query_eval_range(&c, root, start, end, step, &v)
                           : query_eval_instant(&c, root, start, &v);
    size_t off = 0;
    for (size_t i = 0; !st && i < c.nannots && off < sizeof(res); i++)
        off += (size_t)snprintf(res + off, sizeof(res) - off, "%s%c:%s@%u", i ? "; " : "",
                                c.annots[i].warning ? 'W' : 'I', c.annots[i].msg,
                                (unsigned)c.annots[i].pos);
    if (st)
        snprintf(res, sizeof(res), "ERR: %s", c.err);
    query_ast_release(root);
    arena_destroy(a);
    return res;
}

/* fill / fill_left / fill_right (fill-modifier.test) */
static void test_fill_modifiers(void)
{
    memsrc m;
    mem_init(&m);
    mem_load(&m, "l{label=\"a\"}", 5 * MIN, "10");
    mem_load(&m, "l{label=\"c\"}", 5 * MIN, "30");
    mem_load(&m, "r{label=\"a\"}", 5 * MIN, "100");
    mem_load(&m, "r{label=\"d\"}", 5 * MIN, "400");
    CHECK_EQ_STR(inst(&m, "l + fill(0) r", 0),
                 "{label=\"a\"} 110\n{label=\"c\"} 30\n{label=\"d\"} 400");
    CHECK_EQ_STR(inst(&m, "l + fill_right(1) r", 0), "{label=\"a\"} 110\n{label=\"c\"} 31");
    CHECK_EQ_STR(inst(&m, "l - fill_left(-Inf) r", 0), "{label=\"a\"} -90\n{label=\"d\"} -inf");
    CHECK_EQ_STR(inst(&m, "l != fill(30) r", 0),
                 "{__name__=\"l\", label=\"a\"} 10\n{label=\"d\"} 30");
    CHECK_EQ_STR(inst(&m, "l + on(label) fill_left(0) r", 0),
                 "{label=\"a\"} 110\n{label=\"d\"} 400");
    /* a metric named fill is a selector, not a modifier */
    mem_load(&m, "fill{label=\"a\"}", 5 * MIN, "1");
    CHECK_EQ_STR(inst(&m, "r + fill", 0), "{label=\"a\"} 101");
    CHECK(strstr(inst(&m, "l and fill(0) r", 0), "PARSE") != NULL);
    mem_fini(&m);
}

/* anchored / smoothed range selectors (extended_vectors.test) */
static void test_extended_range_selectors(void)
{
    memsrc m;
    mem_init(&m);
    mem_load(&m, "metric", 15000, "1+1x4 9+1x4");
    CHECK_EQ_STR(inst(&m, "increase(metric[1m] anchored)", 20000), "{} 1");
    CHECK_EQ_STR(inst(&m, "increase(metric[1m] smoothed)", 95000), "{} 7");
    CHECK_EQ_STR(inst(&m, "increase(metric[1m] smoothed)", 125000), "{} 6");
    mem_load(&m, "reset", 15000, "100 10");
    CHECK_EQ_STR(inst(&m, "rate(reset[10s] smoothed)", 12000), "{} 0.666666666667");
    mem_load(&m, "g", 10000, "1+1x10");
    CHECK_EQ_STR(inst(&m, "g smoothed", 15000), "{__name__=\"g\"} 2.5");
    CHECK_EQ_STR(inst(&m, "g smoothed", 105000), "{__name__=\"g\"} 11");
    mem_load(&m, "c{id=\"1\"}", MIN, "1+1x10");
    CHECK_EQ_STR(inst(&m, "changes(c[5m] anchored)", 5 * MIN), "{id=\"1\"} 5");
    CHECK_EQ_STR(inst(&m, "c[1m] anchored", 90000), "{__name__=\"c\", id=\"1\"} 1@30 2@60 2@90");
    CHECK_EQ_STR(inst(&m, "max_over_time(c[3m] anchored)", MIN),
                 "ERR: anchored modifier can only be used with: changes, delta, increase, rate, "
                 "resets - not with max_over_time");
    mem_fini(&m);
}

/* delayed __name__ removal and __type__/__unit__ (name_label_dropping.test) */
static void test_delayed_name_removal(void)
{
    memsrc m;
    mem_init(&m);
    delayed_names = true;
    mem_load(&m, "metric_total{env=\"1\"}", 5 * MIN, "0 60 120");
    mem_load(&m, "another_metric_total{env=\"1\"}", 5 * MIN, "60 120 180");
    int64_t t = 10 * MIN;
    CHECK_EQ_STR(inst(&m,
                      "label_replace(rate({env=\"1\"}[10m]), \"__name__\", \"rate_$1\", "
                      "\"__name__\", \"(.+)\")",
                      t),
                 "{__name__=\"rate_another_metric_total\", env=\"1\"} 0.2\n"
                 "{__name__=\"rate_metric_total\", env=\"1\"} 0.2");
    CHECK_EQ_STR(inst(&m, "sum(rate({env=\"1\"}[10m])) by (env)", t), "{env=\"1\"} 0.4");
    CHECK(strstr(inst(&m, "sum by (__name__) (rate({env=\"1\"}[10m]))", t), "same labelset") !=
          NULL);
    mem_load(&m, "a", 10 * MIN, "1 _");
    mem_load(&m, "b", 10 * MIN, "3 4");
    CHECK_EQ_STR(run(&m, "-a or -b", 0, 20 * MIN, 10 * MIN), "{} -1@0 -4@600");
    mem_load(&m, "t{__type__=\"counter\", __unit__=\"s\", x=\"1\"}", 5 * MIN, "5");
    CHECK_EQ_STR(inst(&m, "t + 1", 0), "{x=\"1\"} 6");
    CHECK_EQ_STR(inst(&m, "(t + 1) and t", 0), "{x=\"1\"} 6");
    delayed_names = false; /* Prometheus 3's default: names go at once */
    CHECK_EQ_STR(inst(&m, "(t + 1) and t", 0), "");
    CHECK(strstr(inst(&m, "rate({env=\"1\"}[10m])", t), "same labelset") != NULL);
    CHECK_EQ_STR(inst(&m, "sum(rate(metric_total[10m])) by (env)", t), "{env=\"1\"} 0.2");
    mem_fini(&m);
}

/* info() (info.test) */
static void test_info(void)
{
    memsrc m;
    mem_init(&m);
    mem_load(&m, "metric{instance=\"a\", job=\"1\", label=\"value\"}", 5 * MIN, "0 1 2");
    mem_load(&m, "target_info{instance=\"a\", job=\"1\", data=\"info\"}", 5 * MIN, "1 1 1");
    mem_load(&m, "build_info{instance=\"a\", job=\"1\", build=\"b\"}", 5 * MIN, "1 1 1");
    CHECK_EQ_STR(inst(&m, "info(metric)", 5 * MIN),
                 "{__name__=\"metric\", data=\"info\", instance=\"a\", job=\"1\", "
                 "label=\"value\"} 1");
    CHECK_EQ_STR(inst(&m, "info(metric, {__name__=\"build_info\"})", 5 * MIN),
                 "{__name__=\"metric\", build=\"b\", instance=\"a\", job=\"1\", "
                 "label=\"value\"} 1");
    CHECK_EQ_STR(inst(&m, "info(metric, {nope=~\".+\"})", 5 * MIN), "");
    CHECK_EQ_STR(inst(&m, "info(metric, {nope=~\".*\"})", 5 * MIN),
                 "{__name__=\"metric\", instance=\"a\", job=\"1\", label=\"value\"} 1");
    CHECK_EQ_STR(inst(&m, "info(target_info)", 5 * MIN),
                 "{__name__=\"target_info\", data=\"info\", instance=\"a\", job=\"1\"} 1");
    mem_fini(&m);
}

/* histogram_fraction / histogram_quantiles on classic buckets (histograms.test) */
static void test_classic_bucket_functions(void)
{
    memsrc m;
    mem_init(&m);
    mem_load(&m, "h_bucket{le=\"1\"}", 5 * MIN, "1+0x10");
    mem_load(&m, "h_bucket{le=\"2\"}", 5 * MIN, "3+0x10");
    mem_load(&m, "h_bucket{le=\"3\"}", 5 * MIN, "6+0x10");
    mem_load(&m, "h_bucket{le=\"+Inf\"}", 5 * MIN, "100+0x10");
    int64_t t = 50 * MIN;
    CHECK_EQ_STR(inst(&m, "histogram_fraction(0, 1.5, h_bucket)", t), "{} 0.02");
    CHECK_EQ_STR(inst(&m, "histogram_fraction(2, 3.5, h_bucket)", t), "{} 0.03");
    CHECK_EQ_STR(inst(&m, "histogram_fraction(-Inf, +Inf, h_bucket)", t), "{} 1");
    CHECK_EQ_STR(inst(&m, "histogram_quantiles(h_bucket, \"q\", 0, 1)", t),
                 "{q=\"0.0\"} 0\n{q=\"1.0\"} 3");
    CHECK_EQ_STR(inst(&m, "histogram_count(h_bucket)", t), "");
    mem_fini(&m);
}

/* warnings and infos with the position of the offending expression */
static void test_annotations(void)
{
    memsrc m;
    mem_init(&m);
    load_http(&m);
    mem_load(&m, "nm_bucket{le=\"1\"}", 5 * MIN, "5+0x10");
    mem_load(&m, "nm_bucket{le=\"2\"}", 5 * MIN, "3+0x10");
    mem_load(&m, "nm_bucket{le=\"+Inf\"}", 5 * MIN, "8+0x10");
    int64_t t = 50 * MIN;
    CHECK_EQ_STR(annots(&m, "quantile(2, http_requests)", t, t, 0),
                 "W:quantile value should be between 0 and 1, got 2@9");
    CHECK_EQ_STR(annots(&m, "quantile_over_time(NaN, http_requests[5m])", t, t, 0),
                 "W:quantile value should be between 0 and 1, got NaN@19");
    CHECK_EQ_STR(annots(&m, "sort(http_requests)", 0, t, MIN),
                 "W:sort is ineffective for range queries since results are always ordered by "
                 "labels@0");
    CHECK_EQ_STR(annots(&m, "sort(http_requests)", t, t, 0), "");
    CHECK_EQ_STR(annots(&m, "sum(rate(http_requests{job=\"api-server\"}[10m]))", t, t, 0),
                 "I:metric might not be a counter, name does not end in "
                 "_total/_sum/_count/_bucket: \"http_requests\"@9");
    CHECK_EQ_STR(annots(&m, "rate(http_requests[10m:1m])", t, t, 0), "");
    CHECK(strstr(annots(&m, "histogram_quantile(0.5, nm_bucket)", t, t, 0),
                 "I:input to histogram_quantile needed to be fixed for monotonicity") != NULL);
    CHECK(strstr(annots(&m, "histogram_quantile(0.5, http_requests)", t, t, 0),
                 "W:bucket label \"le\" is missing") != NULL);
    mem_fini(&m);
}

/* instant topk/bottomk come out ranked, not in label order */
static void test_topk_order(void)
{
    memsrc m;
    mem_init(&m);
    load_http(&m);
    arena *a = arena_create(1 << 16, 0);
    const char *q = "bottomk(3, http_requests)";
    query_node *root;
    query_parse_error perr;
    CHECK_EQ_INT(query_parse(a, q, strlen(q), &root, &perr), SONDE_OK);
    query_eval_ctx c;
    memset(&c, 0, sizeof(c));
    mem_source(&m, &c.src);
    c.a = a;
    c.lookback_ms = 5 * MIN;
    query_value v;
    CHECK_EQ_INT(query_eval_instant(&c, root, 50 * MIN, &v), SONDE_OK);
    CHECK_EQ_INT(v.nseries, 3);
    for (size_t i = 0; i < v.nseries && i < 3; i++)
        CHECK(v.series[i].v[0] == 100.0 * (double)(i + 1));
    query_ast_release(root);
    arena_destroy(a);
    mem_fini(&m);
}

/* topk/bottomk break ties as Prometheus 3 does (engine.go aggregationK: Go's
 * container/heap, the top overwritten and heap.Fix'ed only by a strictly
 * better value). Over a=b=c=1, d=e=2 in that order, topk(3) keeps c, d, e;
 * Prometheus 2.42 (heap.Pop + heap.Push) kept b, d, e, and a "first seen
 * wins" selection keeps a, d, e. */
static void test_topk_ties(void)
{
    memsrc m;
    mem_init(&m);
    const char *names[5] = {"a", "b", "c", "d", "e"};
    const char *top[5] = {"1 1", "1 1", "1 1", "2 2", "2 2"};
    const char *bot[5] = {"3 3", "3 3", "3 3", "2 2", "2 2"};
    for (int i = 0; i < 5; i++) {
        char sel[64];
        snprintf(sel, sizeof(sel), "t{s=\"%s\"}", names[i]);
        mem_load(&m, sel, MIN, top[i]);
        snprintf(sel, sizeof(sel), "u{s=\"%s\"}", names[i]);
        mem_load(&m, sel, MIN, bot[i]);
    }
    CHECK_EQ_STR(run(&m, "topk(3, t)", 0, MIN, MIN),
                 "{__name__=\"t\", s=\"c\"} 1@0 1@60\n"
                 "{__name__=\"t\", s=\"d\"} 2@0 2@60\n"
                 "{__name__=\"t\", s=\"e\"} 2@0 2@60");
    CHECK_EQ_STR(run(&m, "bottomk(3, u)", 0, MIN, MIN),
                 "{__name__=\"u\", s=\"c\"} 3@0 3@60\n"
                 "{__name__=\"u\", s=\"d\"} 2@0 2@60\n"
                 "{__name__=\"u\", s=\"e\"} 2@0 2@60");
    /* a NaN never replaces a NaN on top of the heap: the first two stay */
    mem_load(&m, "n{s=\"a\"}", MIN, "NaN NaN");
    mem_load(&m, "n{s=\"b\"}", MIN, "NaN NaN");
    mem_load(&m, "n{s=\"c\"}", MIN, "NaN NaN");
    CHECK_EQ_STR(run(&m, "topk(2, n)", 0, MIN, MIN),
                 "{__name__=\"n\", s=\"a\"} nan@0 nan@60\n"
                 "{__name__=\"n\", s=\"b\"} nan@0 nan@60");
    CHECK_EQ_STR(run(&m, "bottomk(2, n)", 0, MIN, MIN),
                 "{__name__=\"n\", s=\"a\"} nan@0 nan@60\n"
                 "{__name__=\"n\", s=\"b\"} nan@0 nan@60");
    /* instant: ranked, ties in the order of Prometheus' sort of the heap
     * ([c d e] after selection, insertion-sorted descending: d e c) */
    arena *a = arena_create(1 << 16, 0);
    const char *q = "topk(3, t)";
    query_node *root;
    query_parse_error perr;
    CHECK_EQ_INT(query_parse(a, q, strlen(q), &root, &perr), SONDE_OK);
    query_eval_ctx c;
    memset(&c, 0, sizeof(c));
    mem_source(&m, &c.src);
    c.a = a;
    c.lookback_ms = 5 * MIN;
    query_value v;
    CHECK_EQ_INT(query_eval_instant(&c, root, MIN, &v), SONDE_OK);
    CHECK_EQ_INT(v.nseries, 3);
    const char *want = "dec";
    for (size_t i = 0; i < v.nseries && i < 3; i++) {
        char l[128];
        query_labels_fmt(l, sizeof(l), v.series[i].labels, v.series[i].nlabels);
        char exp[64];
        snprintf(exp, sizeof(exp), "{__name__=\"t\", s=\"%c\"}", want[i]);
        CHECK_EQ_STR(l, exp);
    }
    query_ast_release(root);
    arena_destroy(a);
    mem_fini(&m);
}

/* query_json_float's fast path (at most three round trips) writes exactly what
 * buf_prom_float's shortest-precision search writes, over [1e-6, 1e21) */
static void one_float(buf *x, buf *y, double v, int *bad)
{
    buf_reset(x);
    buf_reset(y);
    query_json_float(x, v);
    buf_prom_float(y, v);
    if (strcmp(x->data, y->data) != 0 && (*bad)++ < 5)
        CHECK_EQ_STR(x->data, y->data);
}

static void test_json_float_fast(void)
{
    buf x, y;
    buf_init(&x, 128);
    buf_init(&y, 128);
    int bad = 0;
    uint64_t r = 0x9E3779B97F4A7C15ull;
    for (int i = 0; i < 100000; i++) {
        r ^= r << 13;
        r ^= r >> 7;
        r ^= r << 17;
        double v;
        uint64_t bits = r;
        memcpy(&v, &bits, sizeof v);
        double a = fabs(v);
        if (isfinite(v) && a >= 1e-6 && a < 1e21)
            one_float(&x, &y, v, &bad);
        /* values as rates and counters produce them */
        one_float(&x, &y, (double)(r % 100000) / 60.0, &bad);
        one_float(&x, &y, (double)(r % 1000003) / 1000.0, &bad);
        one_float(&x, &y, (double)(r % 4096) / 7.0 * 1e-3, &bad);
        one_float(&x, &y, -(double)(r >> 11) * 0x1p-30, &bad);
        one_float(&x, &y, (double)(r % 1000) * 0.1, &bad);
    }
    const double edge[] = {1e-6, 1.0000000000000002e-6, 9.999999999999999e20, 1e20, 0.1, 0.3,
                           1.0 / 3, 2.0 / 3, 123456789012345678.0, 9007199254740993.0,
                           4.27109375, 1e15, 999999999999999.9, 0.30000000000000004};
    for (size_t i = 0; i < sizeof edge / sizeof edge[0]; i++)
        one_float(&x, &y, edge[i], &bad);
    CHECK_EQ_INT(bad, 0);
    buf_fini(&x);
    buf_fini(&y);
}

int main(void)
{
    RUN(test_increase_rate);
    RUN(test_aggregations);
    RUN(test_binary);
    RUN(test_lookback_staleness);
    RUN(test_range);
    RUN(test_limits);
    RUN(test_json);
    RUN(test_json_float_fast);
    RUN(test_fill_modifiers);
    RUN(test_extended_range_selectors);
    RUN(test_delayed_name_removal);
    RUN(test_info);
    RUN(test_classic_bucket_functions);
    RUN(test_annotations);
    RUN(test_topk_order);
    RUN(test_topk_ties);
    return TEST_DONE();
}
