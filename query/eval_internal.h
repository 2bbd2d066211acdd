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
    /* anchored / smoothed selectors: each window also holds samples up to
     * lookback before its start (and, smoothed, after its end) */
    bool anchored, smoothed;
    int64_t lookback_ms;
    uint32_t pos; /* of the argument expression (annotations) */
} qmatrix;

/* Window of step i: samples with lo < ts <= hi. */
static inline void qmatrix_window(const qmatrix *m, size_t i, int64_t *lo, int64_t *hi)
{
    bool ext = m->anchored || m->smoothed;
    *lo = m->wend[i] - m->range_ms - (ext ? m->lookback_ms : 0);
    *hi = m->wend[i] + (m->smoothed ? m->lookback_ms : 0);
}

/* extendFloats: the samples of an anchored/smoothed window (lo, hi] cut back
 * to [mint, maxt] with a point exactly at each end (the sample at or before
 * the boundary, or, smoothed, linear interpolation). Writes at most n + 2
 * samples to out; returns the count (0: no sample inside the range). */
size_t query_extend_floats(const sonde_sample *s, size_t n, int64_t mint, int64_t maxt,
                           bool smoothed, sonde_sample *out);

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
/* Drops the series of a vector result that have no point on the grid. */
void query_value_drop_empty(query_value *out, const qgrid *g);

sonde_status query_eval_fail(query_eval_ctx *c, sonde_status st, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Adds a warning/info annotation (duplicates and overflow are dropped). */
void query_eval_annotate(query_eval_ctx *c, bool warning, uint32_t pos, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Go's %g for a float in messages: NaN, +Inf, -Inf, else C's %g. */
const char *query_fmt_float(char *out, size_t n, double v);
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
sonde_status query_info_eval(query_eval_ctx *c, const query_node *n, const qgrid *g,
                             query_value *out); /* info.c */
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
