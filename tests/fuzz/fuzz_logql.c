/*
 * fuzz_logql.c - the LogQL lexer, parser and evaluator on arbitrary input:
 * the query must parse or fail with an error message; a parsed query is
 * evaluated (as a log query over a range, or as a metric query instant and
 * range) against a small in-memory source whose lines exercise the json,
 * logfmt, pattern and regexp parsers; no crash, no leak, no UB.
 */
#include <stdint.h>
#include <string.h>

#include "query/logql.h"

static sonde_label stream_labels[2][2] = {
    {{"app", "api", 3, 3}, {"env", "prod", 3, 4}},
    {{"app", "web", 3, 3}, {"env", "dev", 3, 3}},
};
static sonde_label meta[1] = {{"trace_id", "abc", 8, 3}};
static const char *const lines[] = {
    "level=info msg=\"done\" status=200 duration=15ms size=1KB",
    "{\"a\":{\"b\":[1,2],\"c\":\"x\\u00e9\"},\"n\":1.5,\"t\":true,\"z\":null}",
    "10.0.0.1 - - [10/Jun/2021:09:14:29 +0000] \"GET /x HTTP/1.1\" 200 2",
    "\x1b[31merror\x1b[0m: disk full",
    "",
};
#define NLINES (sizeof lines / sizeof lines[0])
#define T0 INT64_C(1700000000000000000)
#define SEC INT64_C(1000000000)

static sonde_status f_streams(void *ctx, const storage_matcher *m, size_t nm, arena *a,
                              logql_stream_ref **out, size_t *n)
{
    (void)ctx;
    logql_stream_ref *r = arena_alloc(a, 2 * sizeof *r);
    if (!r)
        return SONDE_ERR_NOMEM;
    *n = 0;
    for (uint64_t s = 0; s < 2; s++) {
        bool ok = true;
        for (size_t k = 0; k < nm && ok; k++) {
            const sonde_label *l = series_labels_get(stream_labels[s], 2, m[k].name, m[k].name_len);
            const char *v = l ? l->value : "";
            size_t vl = l ? l->value_len : 0;
            bool eq = vl == m[k].value_len && memcmp(v, m[k].value, vl) == 0;
            switch (m[k].op) {
            case STORAGE_MATCH_EQ:
                ok = eq;
                break;
            case STORAGE_MATCH_NEQ:
                ok = !eq;
                break;
            case STORAGE_MATCH_RE:
                ok = m[k].re_match(m[k].re_ctx, v, vl);
                break;
            case STORAGE_MATCH_NRE:
                ok = !m[k].re_match(m[k].re_ctx, v, vl);
                break;
            }
        }
        if (ok)
            r[(*n)++] = (logql_stream_ref){s, stream_labels[s], 2};
    }
    *out = r;
    return SONDE_OK;
}

static sonde_status f_scan(void *ctx, uint64_t id, int64_t mint, int64_t maxt, bool backward,
                           logql_entry_fn fn, void *uctx)
{
    (void)ctx;
    for (size_t k = 0; k < NLINES; k++) {
        size_t i = backward ? NLINES - 1 - k : k;
        int64_t ts = T0 + (int64_t)(i * 2 + id) * SEC;
        if (ts < mint || ts > maxt)
            continue;
        logql_entry e = {ts, lines[i], strlen(lines[i]), id ? meta : NULL, id ? 1 : 0,
                         (uint32_t)(i % 3)};
        if (!fn(uctx, &e))
            break;
    }
    return SONDE_OK;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 4096)
        return 0;
    arena *a = arena_create(1 << 16, 64u << 20);
    if (!a)
        return 0;
    logql_node *root;
    logql_parse_error err;
    if (logql_parse(a, (const char *)data, size, &root, &err) == SONDE_OK) {
        logql_source src = {NULL, f_streams, f_scan};
        logql_eval_ctx c;
        memset(&c, 0, sizeof c);
        c.src = &src;
        c.a = a;
        c.lim.max_lines_scanned = 10000;
        c.lim.max_series = 1000;
        logql_result r;
        if (root->kind == LOGQL_NODE_LOG) {
            (void)logql_eval_logs(&c, root, T0, T0 + 60 * SEC, 100, true, &r);
            (void)logql_eval_logs(&c, root, T0, T0 + 60 * SEC, 3, false, &r);
        } else {
            (void)logql_eval_metric(&c, root, T0 + 10 * SEC, T0 + 10 * SEC, 0, &r);
            (void)logql_eval_metric(&c, root, T0, T0 + 20 * SEC, 5 * SEC, &r);
        }
    } else {
        char msg[600];
        logql_parse_error_format(&err, msg, sizeof msg);
    }
    (void)logql_parse_selector(a, (const char *)data, size, &(logql_matcher *){NULL}, &(size_t){0},
                               &err);
    arena_destroy(a);
    return 0;
}
