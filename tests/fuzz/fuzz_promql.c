/*
 * fuzz_promql.c - PromQL lexer + parser + evaluator on arbitrary input: the
 * query must parse or fail with a positioned error, and a parsed query is
 * evaluated (instant and range) against an empty source; no crash, no leak.
 */
#include <stdint.h>
#include <string.h>

#include "query/eval.h"
#include "query/promql.h"

static sonde_status empty_select(void *ctx, const storage_matcher *m, size_t nm, int64_t mint,
                                 int64_t maxt, arena *a, storage_series_ref **out, size_t *n)
{
    (void)ctx; (void)m; (void)nm; (void)mint; (void)maxt; (void)a;
    *out = NULL;
    *n = 0;
    return SONDE_OK;
}

static sonde_status empty_read(void *ctx, uint64_t id, int64_t mint, int64_t maxt, arena *a,
                               sonde_sample **out, size_t *n)
{
    (void)ctx; (void)id; (void)mint; (void)maxt; (void)a;
    *out = NULL;
    *n = 0;
    return SONDE_OK;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 4096)
        return 0;
    arena *a = arena_create(1 << 16, 64u << 20);
    query_node *root;
    query_parse_error err;
    if (query_parse(a, (const char *)data, size, &root, &err) == SONDE_OK) {
        query_eval_ctx c;
        memset(&c, 0, sizeof(c));
        c.src.select = empty_select;
        c.src.read = empty_read;
        c.a = a;
        c.lookback_ms = 300000;
        c.max_samples = 100000;
        query_value v;
        (void)query_eval_instant(&c, root, 1700000000000, &v);
        query_type t = query_node_type(root);
        if (t == QUERY_TYPE_SCALAR || t == QUERY_TYPE_VECTOR)
            (void)query_eval_range(&c, root, 1700000000000, 1700000600000, 60000, &v);
        query_ast_release(root);
    }
    arena_destroy(a);
    return 0;
}
