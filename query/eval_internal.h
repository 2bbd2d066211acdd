/*
 * eval_internal.h - shared pieces of the evaluator (eval.c, functions.c,
 * aggregate.c, labels.c): the step grid, range-vector arguments, the series
 * builder that merges points by label set, and label-set helpers.
 */
#ifndef SONDE_QUERY_EVAL_INTERNAL_H
#define SONDE_QUERY_EVAL_INTERNAL_H

#include "eval.h"

typedef struct qgrid {
    int64_t start, end, step;
    size_t n;
} qgrid;

static inline int64_t qgrid_t(const qgrid *g, size_t i)
{
    return g->start + (int64_t)i * g->step;
}

/* A range-vector argument: raw samples per series (stale markers removed)
 * and, for each grid step, the window (wend[i] - range, wend[i]]. */
typedef struct qmatrix {
    query_mseries *s;
    size_t n;
    int64_t range_ms;
    int64_t offset_ms;
    int64_t *wend;      /* grid.n entries */
    bool from_selector; /* matrix selector (vs subquery) */
    /* lazy: a matrix selector whose series are read one at a time
     * (query_matrix_series) for [mint, maxt]; s is NULL, refs has n entries */
    bool lazy;
    storage_series_ref *refs;
    int64_t mint, maxt;
} qmatrix;

/* Collects points into series keyed by label set. */
typedef struct qbuilder {
    query_eval_ctx *c;
    size_t nsteps;
    query_series *s;
    uint64_t *hash;
    size_t n, cap;
    uint32_t *slots; /* open addressing: index + 1, 0 = empty */
    size_t nslots;
} qbuilder;

sonde_status query_builder_init(qbuilder *b, query_eval_ctx *c, size_t nsteps);
/* Finds or adds the series with these labels (copied only when new; the
 * labels must be canonical and live in the query arena). */
sonde_status query_builder_get(qbuilder *b, const sonde_label *l, uint32_t n, size_t *idx);
/* Sets one point; a second point at the same step for the same label set is
 * the "vector cannot contain metrics with the same labelset" error. */
sonde_status query_builder_set(qbuilder *b, size_t idx, size_t step, double v);
void query_builder_finish(qbuilder *b, const qgrid *g, query_value *out);

sonde_status query_eval_fail(query_eval_ctx *c, sonde_status st, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
sonde_status query_eval_tick(query_eval_ctx *c);                   /* deadline check, cheap */
sonde_status query_eval_account(query_eval_ctx *c, size_t points); /* max_samples */
void *query_eval_alloc(query_eval_ctx *c, size_t n);               /* zeroed; NULL sets err */

sonde_status query_eval_node(query_eval_ctx *c, const query_node *n, const qgrid *g,
                             query_value *out);
/* lazy: a matrix selector is not read yet; use query_matrix_series() per series
 * (subqueries are always materialised). */
sonde_status query_eval_matrix(query_eval_ctx *c, const query_node *n, const qgrid *g, bool lazy,
                               qmatrix *out);
/* Series i of a range-vector argument (read into scratch when lazy), and
 * the release of its samples (resets scratch; un-counts them). */
sonde_status query_matrix_series(query_eval_ctx *c, const qmatrix *m, size_t i, arena *scratch,
                                 query_mseries *out);
void query_matrix_series_done(query_eval_ctx *c, const qmatrix *m, const query_mseries *s,
                              arena *scratch);
arena *query_scratch_create(const query_eval_ctx *c);
/* A value that is empty over the grid (vector with no series). */
sonde_status query_vector_alloc(query_eval_ctx *c, const qgrid *g, size_t nseries,
                                query_value *out);
sonde_status query_series_alloc(query_eval_ctx *c, size_t nsteps, query_series *s);

sonde_status query_call_eval(query_eval_ctx *c, const query_node *n, const qgrid *g,
                             query_value *out);
sonde_status query_agg_eval(query_eval_ctx *c, const query_node *n, const qgrid *g,
                            query_value *out);

/* ---- labels (labels.c) ---- */

/* labels without __name__ (shares the label strings). */
sonde_status query_labels_drop_name(query_eval_ctx *c, const sonde_label *l, uint32_t n,
                                    sonde_label **out, uint32_t *nout);
/* keep=true: only labels named in `names`; keep=false: all but those (and
 * __name__ when drop_name). */
sonde_status query_labels_filter(query_eval_ctx *c, const sonde_label *l, uint32_t n,
                                 const query_strlist *names, bool keep, bool drop_name,
                                 sonde_label **out, uint32_t *nout);
/* Sets (or with an empty value removes) one label, keeping canonical order. */
sonde_status query_labels_set(query_eval_ctx *c, const sonde_label *l, uint32_t n, const char *name,
                              size_t nlen, const char *val, size_t vlen, sonde_label **out,
                              uint32_t *nout);
bool query_strlist_has(const query_strlist *l, const char *s, size_t n);
/* {a="b", c="d"} for error messages. */
void query_labels_fmt(char *out, size_t outlen, const sonde_label *l, uint32_t n);

#endif
