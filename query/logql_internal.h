/*
 * logql_internal.h - the label builder and pipeline runner shared by
 * logql_pipeline.c and logql_eval.c. Not for use outside those files.
 */
#ifndef SONDE_QUERY_LOGQL_INTERNAL_H
#define SONDE_QUERY_LOGQL_INTERNAL_H

#include "logql.h"

typedef struct lp_label {
    const char *name, *value;
    size_t nlen, vlen;
    bool deleted;
    bool parsed; /* set by a parser (the first value of a key wins) */
} lp_label;

/* Labels of one line: the first nbase are the stream's (for _extracted). */
typedef struct lp_builder {
    arena *a;
    lp_label *l;
    size_t n, cap, nbase;
} lp_builder;

typedef struct lp_ctx {
    arena *a; /* per-line scratch */
    lp_builder *b;
    buf tmp;      /* template rendering */
    double value; /* unwrap */
    bool has_value;
} lp_ctx;

lp_label *lp_get(lp_builder *b, const char *name, size_t nl);
/* Replaces the value of a live label or adds it; false on OOM. */
bool lp_set(lp_builder *b, const char *name, size_t nl, const char *v, size_t vl);
void lp_del(lp_builder *b, const char *name, size_t nl);
bool lp_template(lp_ctx *c, const logql_tpl *tpl, const char *line, size_t len, int64_t ts,
                 const char **out, size_t *ol);
/* Runs the stages over one line: 1 kept (*line / *len may now point into the
 * scratch arena), 0 filtered out, -1 out of memory. */
int lp_run(lp_ctx *c, const logql_stage *stages, size_t nstages, int64_t ts, const char **line,
           size_t *len);

#endif
