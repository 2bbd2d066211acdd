/*
 * eval_internal.h - shared pieces of the evaluator (eval.c, functions.c,
 * aggregate.c, labels.c): the step grid, range-vector arguments, the series
 * builder that merges points by label set, and label-set helpers.
 */
#ifndef SONDE_QUERY_EVAL_INTERNAL_H
#define SONDE_QUERY_EVAL_INTERNAL_H

#include "../core/buf.h"
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
/* The same for a histogram point (kept by reference). */
sonde_status query_builder_set_hist(qbuilder *b, size_t idx, size_t step, sonde_fhist *h);
/* Copies the point at `step` of `from` (float or histogram). */
sonde_status query_builder_copy(qbuilder *b, size_t idx, size_t step, const query_series *from);
/* Sets a histogram point of a series (allocates s->h on first use). */
sonde_status query_series_set_hist(query_eval_ctx *c, query_series *s, size_t nsteps, size_t step,
                                   sonde_fhist *h);
/* Removes every histogram point (functions that take floats only). */
void query_value_drop_hists(query_value *v);
bool query_value_has_hists(const query_value *v);
static inline bool query_series_is_hist(const query_series *s, size_t step)
{
    return s->h && s->h[step];
}
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
/* The source reads a storage (query_source_storage): reads may run on other
 * threads, each with its own context copy (its own storage reader). */
bool query_source_is_storage(const query_eval_ctx *c);
/* A value that is empty over the grid (vector with no series). */
sonde_status query_vector_alloc(query_eval_ctx *c, const qgrid *g, size_t nseries,
                                query_value *out);
sonde_status query_series_alloc(query_eval_ctx *c, size_t nsteps, query_series *s);

sonde_status query_call_eval(query_eval_ctx *c, const query_node *n, const qgrid *g,
                             query_value *out);
/* Range-vector function calls streamed series by series (fused aggregation,
 * aggregate.c): fn gets each series that has a point, in the order the call's
 * result would hold it, with its selector labels, whether the function drops
 * __name__, and its points (arrays reused for the next series). */
typedef struct query_range_stream {
    sonde_status (*fn)(void *ctx, const sonde_label *l, uint32_t nl, bool drop_name,
                       const double *v, const uint8_t *ok);
    void *ctx;
    bool fallback; /* out: a series held histograms; nothing after it was sent */
} query_range_stream;
/* n: a range-vector function of a matrix selector with a __name__ = matcher. */
bool query_range_streamable(const query_node *n);
sonde_status query_range_stream_eval(query_eval_ctx *c, const query_node *n, const qgrid *g,
                                     query_range_stream *stream);
sonde_status query_info_eval(query_eval_ctx *c, const query_node *n, const qgrid *g,
                             query_value *out); /* info.c */
sonde_status query_agg_eval(query_eval_ctx *c, const query_node *n, const qgrid *g,
                            query_value *out);

/* ---- native histograms (hist.c) ---- */

typedef struct qhbucket {
    double lo, up, count;
    int kind; /* -1 negative [lo,up), 0 zero bucket [lo,up], 1 positive / custom (lo,up] */
} qhbucket;

#define QHIST_INCOMPATIBLE 1u   /* exponential with custom buckets */
#define QHIST_RECONCILED 2u     /* custom bounds intersected */
#define QHIST_HINT_COLLISION 4u /* counter reset hint collision */

sonde_fhist *query_hist_copy(arena *a, const sonde_fhist *h);
/* h *= f (or /= f); f < 0 makes it a gauge; / 0 drops the buckets. */
void query_hist_scale(sonde_fhist *h, double f, bool divide);
bool query_hist_is_custom(const sonde_fhist *h);
#define query_hist_bound sonde_fhist_bound
/* Buckets in ascending order of value (AllBucketIterator): the count, and
 * bucket k (zero-threshold clipped bounds, the zero bucket when populated). */
size_t query_hist_nbuckets(const sonde_fhist *h);
void query_hist_bucket(const sonde_fhist *h, size_t k, qhbucket *b);
/* *out = x + y (or x - y), new; *out NULL with QHIST_INCOMPATIBLE set when the
 * two cannot be combined. flags accumulate. */
sonde_status query_hist_add(arena *a, const sonde_fhist *x, const sonde_fhist *y, bool sub,
                            sonde_fhist **out, unsigned *flags);
#define query_hist_detect_reset sonde_fhist_detect_reset
bool query_hist_equal(const sonde_fhist *a, const sonde_fhist *b);
/* *nan_info: 1 NaN result, 2 skewed by NaN observations (annotations). */
double query_hist_quantile(double q, const sonde_fhist *h, int *nan_info);
double query_hist_fraction(double lower, double upper, const sonde_fhist *h, bool *nan_info);
double query_hist_variance(const sonde_fhist *h);
/* KahanAdd: *sum (+ compensation *comp, NULL at first) += x; both replaced by
 * new histograms. The result is *sum + *comp (query_hist_add). */
sonde_status query_hist_kahan_add(arena *a, sonde_fhist **sum, sonde_fhist **comp,
                                  const sonde_fhist *x, unsigned *flags);
/* Sum or mean of histograms as Prometheus computes them (Kahan summation;
 * avg switches to an incremental mean once the sum would overflow). Zero it,
 * set avg, add, then take the result (NULL when incompatible: flags). */
typedef struct qhacc {
    bool avg;
    sonde_fhist *sum, *comp; /* sum (or mean in mean_mode), Kahan compensation */
    double n;
    bool mean_mode;
    unsigned flags; /* QHIST_* seen */
    bool reset_seen, not_reset_seen;
} qhacc;
sonde_status query_hist_acc_add(arena *a, qhacc *acc, const sonde_fhist *x);
sonde_status query_hist_acc_result(arena *a, qhacc *acc, sonde_fhist **out);
/* TrimBuckets: a copy of h keeping its observations below (upper_trim, `</`)
 * or above (`>/`) rhs, buckets cut by interpolation, count and sum recomputed
 * from bucket midpoints when anything was cut. */
sonde_fhist *query_hist_trim(arena *a, const sonde_fhist *h, double rhs, bool upper_trim);
/* HasOverflow: an infinite count, sum or bucket. */
bool query_hist_overflow(const sonde_fhist *h);
/* A copy at a lower resolution (CopyToSchema). */
sonde_fhist *query_hist_reduce(arena *a, const sonde_fhist *h, int32_t schema);
/* Range-vector functions over a window holding histogram samples (hrange.c):
 * f (functions.c's F_* id), the window's floats and histograms, the step's
 * window end and range, params. Returns true with *v or *h set when a point
 * results. */
typedef struct qhrange {
    int id;
    const sonde_sample *f;
    size_t nf;
    const sonde_hsample *h;
    size_t nh;
    int64_t wend, range, lookback;
    bool anchored, smoothed;
    const double *p;
    const sonde_label *labels; /* the series' (metric name in annotations) */
    uint32_t nlabels;
    uint32_t pos;
    int64_t step_t; /* evaluation time (predict_linear) */
    arena *tmp;     /* scratch for intermediates (reset by the caller); NULL: c->a */
} qhrange;
sonde_status query_hist_range(query_eval_ctx *c, const qhrange *r, double *v, sonde_fhist **h,
                              bool *emit);
/* interpolateHistograms between two samples at t (functions.c); *out NULL
 * (with a warning) when they cannot be combined. */
sonde_status query_hist_interpolate(query_eval_ctx *c, const sonde_hsample *a,
                                    const sonde_hsample *b, int64_t t, bool counter,
                                    const query_series *s, uint32_t pos, sonde_fhist **out);
/* "encountered a mix of histograms and floats for metric name ..." */
void query_hist_mixed_warning(query_eval_ctx *c, const query_series *s, uint32_t pos);
/* FloatHistogram.String() (count_values labels). */
sonde_status query_hist_string(buf *b, const sonde_fhist *h);
/* Go's %q of a string: quotes, escapes, invalid UTF-8 bytes as \xNN. */
const char *query_go_quote(char *out, size_t n, const char *s, size_t len);
/* Go's %g of a float (shortest digits). */
const char *query_fmt_go_g(char *out, size_t n, double v);

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
