/*
 * eval.h - the PromQL evaluator (internal to query/, also used by the
 * conformance runner and unit tests).
 *
 * Model: every expression is evaluated over a step grid (start, end, step);
 * an instant query is the grid with start == end. A vector result is a set of
 * series, each with one optional point per step (dense arrays). Selectors load
 * each series' samples once for the whole grid ([start - offset - lookback or
 * range, end - offset]) and then step through them, so a range query never
 * re-reads storage per step. Range-vector arguments (matrix selectors and
 * subqueries) are kept as raw sample lists plus a window per step.
 *
 * Ownership: everything a query produces lives in query_eval_ctx.a (the
 * caller's arena); the AST is read-only. Threads: one query on one thread.
 *
 * Errors: SONDE_ERR_INVALID (execution errors, e.g. many-to-many matching),
 * SONDE_ERR_LIMIT (max_samples), SONDE_ERR_TIMEOUT (deadline),
 * SONDE_ERR_NOMEM, SONDE_ERR_STORAGE; ctx->err holds the message.
 */
#ifndef SONDE_QUERY_EVAL_H
#define SONDE_QUERY_EVAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../core/arena.h"
#include "../core/series.h"
#include "../core/status.h"
#include "../storage/storage.h"
#include "promql.h"

/* Where series come from. query_source_storage() reads a storage tenant;
 * tests may plug an in-memory source. */
typedef struct query_source {
    sonde_status (*select)(void *ctx, const storage_matcher *m, size_t nm, int64_t mint,
                           int64_t maxt, arena *a, storage_series_ref **out, size_t *n);
    sonde_status (*read)(void *ctx, uint64_t id, int64_t mint, int64_t maxt, arena *a,
                         sonde_sample **out, size_t *n);
    void *ctx;
    /* native histogram samples of a series (NULL: the source has none) */
    sonde_status (*read_hist)(void *ctx, uint64_t id, int64_t mint, int64_t maxt, arena *a,
                              sonde_hsample **out, size_t *n);
} query_source;

typedef struct query_storage_source {
    storage *st;
    const char *tenant;
} query_storage_source;

/* Fills src to read tenant `ss->tenant` of `ss->st` (ss must outlive src). */
void query_source_storage(query_source *src, query_storage_source *ss);

/* A warning or info annotation (Prometheus' "PromQL warning: ..."): the
 * message and the byte offset of the offending sub-expression. */
#define QUERY_MAX_ANNOTATIONS 16
typedef struct query_annotation {
    bool warning; /* else info */
    uint32_t pos;
    char msg[240];
} query_annotation;

typedef struct query_eval_ctx {
    query_source src;
    arena *a;
    int64_t lookback_ms;
    size_t max_samples;  /* samples loaded + points held; 0: unlimited */
    int64_t deadline_ns; /* time_mono_ns() deadline; 0: none */
    /* Prometheus' promql-delayed-name-removal (the conformance scripts run
     * with it): __name__ is dropped from the query's result, not from each
     * function or operator output; false is Prometheus 3's default. */
    bool delayed_name_removal;
    /* out */
    size_t samples_loaded; /* samples read from the source */
    char err[512];
    query_annotation annots[QUERY_MAX_ANNOTATIONS]; /* distinct, in order of appearance */
    size_t nannots;
    /* internal (set by query_eval_*) */
    int64_t query_start, query_end, query_step; /* step 0 for instant queries */
    /* selectors under histogram_count/sum/avg (no subquery or bucket function
     * in between) see counter-reset hints as Prometheus' HistogramStatsIterator
     * makes them: an unknown hint becomes reset / not reset from the previous
     * sample read */
    bool hist_stats;
    size_t points;
    unsigned ticks;
    /* a storage source's reader (one RocksDB snapshot and iterator for the
     * query's series), created on first read, destroyed by query_eval_* */
    struct storage_reader *reader;
} query_eval_ctx;

/* One series of a vector result: one optional point per grid step. */
typedef struct query_series {
    sonde_label *labels; /* canonical (sorted) */
    uint32_t nlabels;
    double *v;   /* nsteps */
    uint8_t *ok; /* nsteps: 1 where a point exists */
    int64_t *ts; /* NULL, or the sample timestamps (selectors; for timestamp()) */
    /* delayed __name__ removal (Prometheus' promql-delayed-name-removal): the
     * name stays for matching and label_* until the query's result is built */
    bool drop_name;
    /* native histograms: NULL while the series holds floats only (no cost
     * for float series); else nsteps entries, non-NULL where the point (ok)
     * is a histogram (v is then unused) */
    sonde_fhist **h;
} query_series;

/* One series of a range-vector result (instant `x[5m]` queries). */
typedef struct query_mseries {
    sonde_label *labels;
    uint32_t nlabels;
    sonde_sample *s;
    size_t n;
    sonde_hsample *hs; /* native histogram samples (ascending), besides the floats */
    size_t nh;
} query_mseries;

typedef struct query_value {
    query_type type;
    int64_t start, end, step;
    size_t nsteps;
    double *scalar;       /* SCALAR: nsteps values */
    query_series *series; /* VECTOR */
    size_t nseries;
    query_mseries *ms; /* MATRIX (instant evaluation only) */
    size_t nms;
    const char *str; /* STRING */
    size_t str_len;
} query_value;

/* Evaluates at one instant t (ms). */
sonde_status query_eval_instant(query_eval_ctx *c, const query_node *root, int64_t t,
                                query_value *out);
/* Evaluates over start..end (inclusive) every step ms (step > 0, end >= start).
 * The root must be of scalar or instant-vector type. */
sonde_status query_eval_range(query_eval_ctx *c, const query_node *root, int64_t start, int64_t end,
                              int64_t step, query_value *out);

/* Sorts a vector result's series by labels (Prometheus' matrix order). */
void query_value_sort(query_value *v);

/* Label-set order used for sorting results (labels.Compare). */
int query_labels_cmp(const sonde_label *a, uint32_t na, const sonde_label *b, uint32_t nb);

#endif
