/*
 * eval.c - the PromQL evaluator core: selectors, range-vector arguments
 * (matrix selectors and subqueries), binary and unary operators, and the
 * instant/range entry points. Functions live in functions.c, aggregations in
 * aggregate.c.
 *
 * Every node is evaluated once over the whole step grid (see eval.h). A
 * selector computes, per step, its reference time ((@ or step time) -
 * offset), loads each matching series once for [first ref - lookback or
 * range, last ref] and walks the samples with a cursor.
 *
 * Semantics (Prometheus 3): the lookback window and range windows are
 * left-open, (t - d, t]; a stale marker ends a series for instant selectors
 * and is dropped from range selectors.
 *
 * Native histograms: selectors also read a series' histogram samples
 * (query_series.h stays NULL for float-only series, so floats pay nothing);
 * the latest sample of either kind is the point. Binary operators on
 * histograms follow vectorElemBinop (hist_binop below). Histogram values are
 * immutable once built and may be shared between steps and series.
 *
 * Threads: one query on one thread, all memory in ctx->a; except that a
 * range-vector function over many series also runs on a helper thread with
 * its own context copy (functions.c, range_parallel). A storage source reads
 * through one storage_reader per context, destroyed when the query ends.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/timeutil.h"
#include "eval_internal.h"

/* ---- errors, limits, memory ---- */

sonde_status query_eval_fail(query_eval_ctx *c, sonde_status st, const char *fmt, ...)
{
    if (!c->err[0]) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(c->err, sizeof(c->err), fmt, ap);
        va_end(ap);
    }
    return st;
}

const char *query_fmt_float(char *out, size_t n, double v)
{
    if (isnan(v))
        snprintf(out, n, "NaN");
    else if (isinf(v))
        snprintf(out, n, "%sInf", v > 0 ? "+" : "-");
    else
        snprintf(out, n, "%g", v);
    return out;
}

void query_eval_annotate(query_eval_ctx *c, bool warning, uint32_t pos, const char *fmt, ...)
{
    query_annotation a = {warning, pos, ""};
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(a.msg, sizeof(a.msg), fmt, ap);
    va_end(ap);
    for (size_t i = 0; i < c->nannots; i++)
        if (c->annots[i].warning == warning && c->annots[i].pos == pos &&
            strcmp(c->annots[i].msg, a.msg) == 0)
            return;
    if (c->nannots < QUERY_MAX_ANNOTATIONS)
        c->annots[c->nannots++] = a;
}

sonde_status query_eval_tick(query_eval_ctx *c)
{
    if (c->deadline_ns && (++c->ticks & 63) == 0 && time_mono_ns() > c->deadline_ns)
        return query_eval_fail(c, SONDE_ERR_TIMEOUT, "query timed out in expression evaluation");
    return SONDE_OK;
}

sonde_status query_eval_account(query_eval_ctx *c, size_t points)
{
    c->points += points;
    if (c->max_samples && c->points > c->max_samples)
        return query_eval_fail(c, SONDE_ERR_LIMIT,
                               "query processing would load too many samples into memory in query "
                               "execution");
    if (c->deadline_ns && time_mono_ns() > c->deadline_ns)
        return query_eval_fail(c, SONDE_ERR_TIMEOUT, "query timed out in expression evaluation");
    return SONDE_OK;
}

void *query_eval_alloc(query_eval_ctx *c, size_t n)
{
    void *p = arena_calloc(c->a, 1, n ? n : 1);
    if (!p)
        query_eval_fail(c, SONDE_ERR_NOMEM, "query exceeded its memory limit");
    return p;
}

sonde_status query_series_alloc(query_eval_ctx *c, size_t nsteps, query_series *s)
{
    s->v = query_eval_alloc(c, nsteps * sizeof(double));
    s->ok = s->v ? query_eval_alloc(c, nsteps) : NULL;
    return s->ok ? SONDE_OK : SONDE_ERR_NOMEM;
}

sonde_status query_vector_alloc(query_eval_ctx *c, const qgrid *g, size_t nseries, query_value *out)
{
    memset(out, 0, sizeof(*out));
    out->type = QUERY_TYPE_VECTOR;
    out->start = g->start;
    out->end = g->end;
    out->step = g->step;
    out->nsteps = g->n;
    out->nseries = nseries;
    out->series = query_eval_alloc(c, (nseries ? nseries : 1) * sizeof(query_series));
    return out->series ? SONDE_OK : SONDE_ERR_NOMEM;
}

static sonde_status scalar_alloc(query_eval_ctx *c, const qgrid *g, query_value *out)
{
    memset(out, 0, sizeof(*out));
    out->type = QUERY_TYPE_SCALAR;
    out->start = g->start;
    out->end = g->end;
    out->step = g->step;
    out->nsteps = g->n;
    out->scalar = query_eval_alloc(c, g->n * sizeof(double));
    return out->scalar ? SONDE_OK : SONDE_ERR_NOMEM;
}

/* ---- sources ---- */

static sonde_status storage_src_select(void *ctx, const storage_matcher *m, size_t nm, int64_t mint,
                                       int64_t maxt, arena *a, storage_series_ref **out, size_t *n)
{
    query_storage_source *ss = ctx;
    return storage_select(ss->st, ss->tenant, m, nm, mint, maxt, a, out, n);
}

static sonde_status storage_src_read(void *ctx, uint64_t id, int64_t mint, int64_t maxt, arena *a,
                                     sonde_sample **out, size_t *n)
{
    query_storage_source *ss = ctx;
    return storage_read_samples(ss->st, ss->tenant, id, mint, maxt, a, out, n);
}

static sonde_status storage_src_read_hist(void *ctx, uint64_t id, int64_t mint, int64_t maxt,
                                          arena *a, sonde_hsample **out, size_t *n)
{
    query_storage_source *ss = ctx;
    return storage_read_histograms(ss->st, ss->tenant, id, mint, maxt, a, out, n);
}

bool query_source_is_storage(const query_eval_ctx *c)
{
    return c->src.read == storage_src_read;
}

void query_source_storage(query_source *src, query_storage_source *ss)
{
    src->select = storage_src_select;
    src->read = storage_src_read;
    src->read_hist = storage_src_read_hist;
    src->ctx = ss;
}

static bool re_cb(void *ctx, const char *v, size_t n)
{
    return query_regex_match(ctx, v, n);
}

static sonde_status select_refs(query_eval_ctx *c, const query_node *vs, int64_t mint, int64_t maxt,
                                storage_series_ref **refs, size_t *nrefs)
{
    *refs = NULL;
    *nrefs = 0;
    if (mint > maxt)
        return SONDE_OK;
    size_t nm = vs->u.vs.nm;
    storage_matcher *m = query_eval_alloc(c, (nm ? nm : 1) * sizeof(*m));
    if (!m)
        return SONDE_ERR_NOMEM;
    for (size_t i = 0; i < nm; i++) {
        const query_matcher *qm = &vs->u.vs.m[i];
        m[i].name = qm->name;
        m[i].name_len = qm->name_len;
        m[i].op = (storage_match_op)qm->op;
        m[i].value = qm->value;
        m[i].value_len = qm->value_len;
        if (qm->re) {
            m[i].re_match = re_cb;
            m[i].re_ctx = qm->re;
        }
    }
    sonde_status st = c->src.select(c->src.ctx, m, nm, mint, maxt, c->a, refs, nrefs);
    if (st)
        return query_eval_fail(c, st, "selecting series failed: %s", sonde_status_name(st));
    return SONDE_OK;
}

/* Reads one series into `into`, counting the samples against max_samples. */
static sonde_status read_series(query_eval_ctx *c, uint64_t id, int64_t mint, int64_t maxt,
                                arena *into, sonde_sample **s, size_t *n, sonde_hsample **hs,
                                size_t *nh)
{
    *s = NULL;
    *n = 0;
    *hs = NULL;
    *nh = 0;
    sonde_status st;
    bool hist = true;
    if (c->src.read == storage_src_read) {
        /* a storage source reads through one reader for the whole query, which
         * also says whether the series has histograms to read at all */
        const query_storage_source *ss = c->src.ctx;
        st = c->reader ? SONDE_OK : storage_reader_create(ss->st, ss->tenant, &c->reader);
        if (!st)
            st = storage_reader_read(c->reader, id, mint, maxt, into, s, n, &hist);
    } else {
        st = c->src.read(c->src.ctx, id, mint, maxt, into, s, n);
    }
    if (!st && hist && c->src.read_hist) {
        st = c->src.read_hist(c->src.ctx, id, mint, maxt, into, hs, nh);
        /* the samples are fresh copies in `into`: hints may be rewritten */
        for (size_t i = 1; !st && c->hist_stats && i < *nh; i++)
            if ((*hs)[i].h->hint == SONDE_HIST_HINT_UNKNOWN)
                (*hs)[i].h->hint = query_hist_detect_reset((*hs)[i].h, (*hs)[i - 1].h)
                                       ? SONDE_HIST_HINT_RESET
                                       : SONDE_HIST_HINT_NOT_RESET;
        if (!st) {
            c->samples_loaded += *nh;
            if ((st = query_eval_account(c, *nh)))
                return st;
        }
    }
    if (st)
        return query_eval_fail(
            c, st == SONDE_ERR_NOMEM ? SONDE_ERR_LIMIT : st, "%s",
            st == SONDE_ERR_NOMEM
                ? "query processing would load too many samples into memory in query "
                  "execution"
                : "reading samples failed");
    c->samples_loaded += *n;
    return query_eval_account(c, *n);
}

/* A per-query scratch arena for one series at a time. */
static arena *scratch_create(const query_eval_ctx *c)
{
    size_t cap = c->max_samples ? c->max_samples * sizeof(sonde_sample) + (1u << 20) : 0;
    return arena_create(1 << 16, cap);
}

/* Loads all series of a selector with samples in [mint, maxt]. */
static sonde_status load_selector(query_eval_ctx *c, const query_node *vs, int64_t mint,
                                  int64_t maxt, query_mseries **out, size_t *nout)
{
    storage_series_ref *refs;
    size_t nrefs;
    *out = NULL;
    *nout = 0;
    sonde_status st = select_refs(c, vs, mint, maxt, &refs, &nrefs);
    if (st)
        return st;
    query_mseries *ms = query_eval_alloc(c, (nrefs ? nrefs : 1) * sizeof(*ms));
    if (!ms)
        return SONDE_ERR_NOMEM;
    size_t k = 0;
    for (size_t i = 0; i < nrefs; i++) {
        sonde_sample *s;
        size_t n, nh;
        sonde_hsample *hs;
        if ((st = read_series(c, refs[i].id, mint, maxt, c->a, &s, &n, &hs, &nh)))
            return st;
        if (!n && !nh)
            continue;
        ms[k].labels = refs[i].labels;
        ms[k].nlabels = refs[i].nlabels;
        ms[k].s = s;
        ms[k].n = n;
        ms[k].hs = hs;
        ms[k].nh = nh;
        k++;
    }
    *out = ms;
    *nout = k;
    return SONDE_OK;
}

static inline bool sample_is_stale(const sonde_sample *s)
{
    uint64_t bits;
    memcpy(&bits, &s->value, sizeof bits);
    return bits == SONDE_STALE_NAN_BITS;
}

sonde_status query_matrix_series(query_eval_ctx *c, const qmatrix *m, size_t i, arena *scratch,
                                 query_mseries *out)
{
    if (!m->lazy) {
        *out = m->s[i];
        return SONDE_OK;
    }
    out->labels = m->refs[i].labels;
    out->nlabels = m->refs[i].nlabels;
    sonde_status st = read_series(c, m->refs[i].id, m->mint, m->maxt, scratch, &out->s, &out->n,
                                  &out->hs, &out->nh);
    if (st)
        return st;
    /* range selectors skip stale markers (series_value_is_stale, inlined:
     * this runs over every sample read); nothing moves before the first one */
    size_t k = 0;
    while (k < out->n && !sample_is_stale(&out->s[k]))
        k++;
    for (size_t j = k; j < out->n; j++)
        if (!sample_is_stale(&out->s[j]))
            out->s[k++] = out->s[j];
    out->n = k;
    return SONDE_OK;
}

void query_matrix_series_done(query_eval_ctx *c, const qmatrix *m, const query_mseries *s,
                              arena *scratch)
{
    if (!m->lazy)
        return;
    size_t n = s->n + s->nh;
    c->points -= n < c->points ? n : c->points;
    arena_reset(scratch);
}

arena *query_scratch_create(const query_eval_ctx *c)
{
    return scratch_create(c);
}

static int64_t at_time(const query_eval_ctx *c, const query_modifiers *m, int64_t t)
{
    switch (m->at) {
    case QUERY_AT_TS:
        return m->at_ms;
    case QUERY_AT_START:
        return c->query_start;
    case QUERY_AT_END:
        return c->query_end;
    default:
        return t;
    }
}

/* A duration: the literal, or its expression evaluated now (in seconds, as
 * Prometheus' duration expressions; step() and range() see the query). */
static sonde_status dur_resolve(query_eval_ctx *c, const query_node *e, int64_t lit, int64_t *ms)
{
    if (!e) {
        *ms = lit;
        return SONDE_OK;
    }
    qgrid g1 = {c->query_start, c->query_start, 1, 1};
    query_value v;
    sonde_status st = query_eval_node(c, e, &g1, &v);
    if (st)
        return st;
    double s = v.type == QUERY_TYPE_SCALAR ? v.scalar[0] : NAN;
    if (!isfinite(s) || fabs(s) * 1000.0 > 9.0e15)
        return query_eval_fail(c, SONDE_ERR_INVALID, "duration expression out of range: %g", s);
    *ms = (int64_t)llround(s * 1000.0);
    return SONDE_OK;
}

static sonde_status mods_resolve(query_eval_ctx *c, const query_modifiers *m, query_modifiers *out)
{
    *out = *m;
    out->offset_expr = NULL;
    return dur_resolve(c, m->offset_expr, m->offset_ms, &out->offset_ms);
}

/* ---- instant vector selectors ---- */

static sonde_status eval_vector_selector(query_eval_ctx *c, const query_node *n, const qgrid *g,
                                         query_value *out)
{
    query_modifiers rmod;
    sonde_status st = mods_resolve(c, &n->u.vs.mod, &rmod);
    if (st)
        return st;
    const query_modifiers *mod = &rmod;
    int64_t r0 = at_time(c, mod, qgrid_t(g, 0)) - mod->offset_ms;
    int64_t r1 = at_time(c, mod, qgrid_t(g, g->n - 1)) - mod->offset_ms;
    int64_t mint = r0 - c->lookback_ms + 1;
    bool smoothed = n->u.vs.smoothed;
    if (smoothed) /* the sample after each step, for interpolation */
        r1 += c->lookback_ms;
    storage_series_ref *refs;
    size_t nrefs;
    st = select_refs(c, n, mint, r1, &refs, &nrefs);
    if (st)
        return st;
    if ((st = query_vector_alloc(c, g, nrefs, out)))
        return st;
    /* one series at a time through a scratch arena: only the points stay */
    arena *scratch = scratch_create(c);
    if (!scratch)
        return query_eval_fail(c, SONDE_ERR_NOMEM, "out of memory");
    size_t k = 0;
    for (size_t i = 0; i < nrefs && !st; i++) {
        sonde_sample *smp;
        sonde_hsample *hs;
        size_t ns, nh;
        if ((st = read_series(c, refs[i].id, mint, r1, scratch, &smp, &ns, &hs, &nh)))
            break;
        c->points -= ns + nh;
        query_series *s = &out->series[k];
        if ((!ns && !nh) || (st = query_series_alloc(c, g->n, s)))
            goto next;
        s->ts = query_eval_alloc(c, g->n * sizeof(int64_t));
        if (!s->ts) {
            st = SONDE_ERR_NOMEM;
            break;
        }
        s->labels = refs[i].labels;
        s->nlabels = refs[i].nlabels;
        size_t j = 0, any = 0, hj = 0, copied_j = SIZE_MAX;
        sonde_fhist *copied = NULL;
        for (size_t step = 0; step < g->n; step++) {
            if ((st = query_eval_tick(c)))
                break;
            int64_t ref = at_time(c, mod, qgrid_t(g, step)) - mod->offset_ms;
            if (nh && smoothed) {
                /* Prometheus' smoothed selector over (ref - lookback, ref + lookback] */
                int64_t lo = ref - c->lookback_ms, hi = ref + c->lookback_ms;
                size_t f0 = 0, f1, h0 = 0, h1;
                while (f0 < ns && smp[f0].ts_ms <= lo)
                    f0++;
                f1 = f0;
                while (f1 < ns && smp[f1].ts_ms <= hi)
                    f1++;
                while (h0 < nh && hs[h0].ts_ms <= lo)
                    h0++;
                h1 = h0;
                while (h1 < nh && hs[h1].ts_ms <= hi)
                    h1++;
                if (f1 > f0 && h1 > h0) {
                    query_hist_mixed_warning(c, s, n->pos);
                    continue;
                }
                if (h1 > h0) {
                    size_t hk = h0;
                    while (hk < h1 && hs[hk].ts_ms < ref)
                        hk++;
                    sonde_fhist *hv = NULL;
                    if (hk < h1 && hs[hk].ts_ms == ref) {
                        hv = query_hist_copy(c->a, hs[hk].h);
                    } else if (hk > h0 && hk < h1) {
                        bool counter = hs[hk - 1].h->hint != SONDE_HIST_HINT_GAUGE ||
                                       hs[hk].h->hint != SONDE_HIST_HINT_GAUGE;
                        if ((st = query_hist_interpolate(c, &hs[hk - 1], &hs[hk], ref, counter, s,
                                                         n->pos, &hv)))
                            break;
                        if (!hv)
                            continue;
                    } else if (hk > h0) {
                        if ((hv = query_hist_copy(c->a, hs[hk - 1].h)))
                            hv->hint = SONDE_HIST_HINT_UNKNOWN;
                    } else {
                        continue;
                    }
                    if (!hv) {
                        st = query_eval_fail(c, SONDE_ERR_NOMEM, "out of memory");
                        break;
                    }
                    if ((st = query_series_set_hist(c, s, g->n, step, hv)))
                        break;
                    s->ts[step] = ref;
                    any++;
                    continue;
                }
            } else if (nh) {
                /* the latest sample of either kind decides */
                while (hj + 1 < nh && hs[hj + 1].ts_ms <= ref)
                    hj++;
                while (j + 1 < ns && smp[j + 1].ts_ms <= ref)
                    j++;
                const sonde_hsample *hp = &hs[hj];
                bool hok = hp->ts_ms <= ref && hp->ts_ms > ref - c->lookback_ms;
                bool fok = ns && smp[j].ts_ms <= ref && smp[j].ts_ms > ref - c->lookback_ms;
                if (hok && (!fok || hp->ts_ms > smp[j].ts_ms)) {
                    /* one copy per sample (out of scratch), shared by the steps
                     * that see it: histogram values are never modified in place */
                    if (hj != copied_j) {
                        copied = query_hist_copy(c->a, hp->h);
                        copied_j = hj;
                    }
                    sonde_fhist *hv = copied;
                    if (!hv) {
                        st = query_eval_fail(c, SONDE_ERR_NOMEM, "out of memory");
                        break;
                    }
                    if ((st = query_series_set_hist(c, s, g->n, step, hv)))
                        break;
                    s->ts[step] = hp->ts_ms;
                    any++;
                    continue;
                }
                if (!fok)
                    continue;
            }
            if (!ns)
                continue;
            while (j + 1 < ns && smp[j + 1].ts_ms <= ref)
                j++;
            const sonde_sample *sp = &smp[j];
            if (sp->ts_ms > ref || sp->ts_ms <= ref - c->lookback_ms ||
                series_value_is_stale(sp->value))
                continue;
            s->ok[step] = 1;
            s->v[step] = sp->value;
            s->ts[step] = sp->ts_ms;
            if (smoothed && sp->ts_ms < ref && j + 1 < ns &&
                smp[j + 1].ts_ms <= ref + c->lookback_ms &&
                !series_value_is_stale(smp[j + 1].value)) {
                const sonde_sample *nx = &smp[j + 1];
                s->v[step] = sp->value + (nx->value - sp->value) * (double)(ref - sp->ts_ms) /
                                             (double)(nx->ts_ms - sp->ts_ms);
            }
            any++;
        }
        if (!st && any) {
            k++;
            st = query_eval_account(c, any);
        }
    next:
        arena_reset(scratch);
    }
    arena_destroy(scratch);
    out->nseries = k;
    return st;
}

/* ---- range-vector arguments ---- */

sonde_status query_eval_matrix(query_eval_ctx *c, const query_node *n, const qgrid *g, bool lazy,
                               qmatrix *out)
{
    while (n->kind == QN_PAREN)
        n = n->u.paren.expr;
    memset(out, 0, sizeof(*out));
    out->wend = query_eval_alloc(c, g->n * sizeof(int64_t));
    if (!out->wend)
        return SONDE_ERR_NOMEM;
    sonde_status st;
    query_modifiers rmod;
    if (n->kind == QN_MATRIX_SEL) {
        const query_node *vs = n->u.ms.vs;
        if ((st = mods_resolve(c, &vs->u.vs.mod, &rmod)) ||
            (st = dur_resolve(c, n->u.ms.range_expr, n->u.ms.range_ms, &out->range_ms)))
            return st;
        if (out->range_ms <= 0)
            return query_eval_fail(c, SONDE_ERR_INVALID, "range must be greater than 0");
        const query_modifiers *mod = &rmod;
        out->offset_ms = mod->offset_ms;
        out->from_selector = true;
        for (size_t i = 0; i < g->n; i++)
            out->wend[i] = at_time(c, mod, qgrid_t(g, i)) - mod->offset_ms;
        out->anchored = vs->u.vs.anchored;
        out->smoothed = vs->u.vs.smoothed;
        out->lookback_ms = c->lookback_ms;
        int64_t lo, hi;
        qmatrix_window(out, 0, &lo, &hi);
        out->mint = lo + 1;
        qmatrix_window(out, g->n - 1, &lo, &hi);
        out->maxt = hi;
        if (lazy) {
            out->lazy = true;
            return select_refs(c, vs, out->mint, out->maxt, &out->refs, &out->n);
        }
        if ((st = load_selector(c, vs, out->mint, out->maxt, &out->s, &out->n)))
            return st;
        for (size_t i = 0; i < out->n; i++) { /* range selectors skip stale markers */
            size_t k = 0;
            for (size_t j = 0; j < out->s[i].n; j++)
                if (!series_value_is_stale(out->s[i].s[j].value))
                    out->s[i].s[k++] = out->s[i].s[j];
            out->s[i].n = k;
        }
        return SONDE_OK;
    }
    if (n->kind != QN_SUBQUERY)
        return query_eval_fail(c, SONDE_ERR_INTERNAL, "expected a range vector");
    int64_t step;
    if ((st = mods_resolve(c, &n->u.sq.mod, &rmod)) ||
        (st = dur_resolve(c, n->u.sq.range_expr, n->u.sq.range_ms, &out->range_ms)) ||
        (st = dur_resolve(c, n->u.sq.step_expr, n->u.sq.step_ms, &step)))
        return st;
    if (out->range_ms <= 0 || step < 0)
        return query_eval_fail(c, SONDE_ERR_INVALID,
                               "subquery range and step must be greater "
                               "than 0");
    const query_modifiers *mod = &rmod;
    out->offset_ms = mod->offset_ms;
    int64_t o0 = at_time(c, mod, qgrid_t(g, 0)), o1 = at_time(c, mod, qgrid_t(g, g->n - 1));
    for (size_t i = 0; i < g->n; i++)
        out->wend[i] = at_time(c, mod, qgrid_t(g, i)) - mod->offset_ms;
    if (!step)
        step = QUERY_DEFAULT_EVAL_INTERVAL_MS;
    int64_t lo = o0 - mod->offset_ms - out->range_ms;
    qgrid ig;
    ig.step = step;
    ig.start = step * (lo / step);
    if (ig.start < lo)
        ig.start += step;
    ig.end = o1 - mod->offset_ms;
    if (ig.end < ig.start)
        return SONDE_OK;
    ig.n = (size_t)((ig.end - ig.start) / step) + 1;
    if (ig.n > 11000000)
        return query_eval_fail(c, SONDE_ERR_LIMIT, "subquery would evaluate too many steps");
    query_value inner;
    int64_t qs = c->query_start, qe = c->query_end;
    bool hs = c->hist_stats;
    c->hist_stats = false; /* subqueries need the buckets for reset detection */
    st = query_eval_node(c, n->u.sq.expr, &ig, &inner);
    c->hist_stats = hs;
    c->query_start = qs;
    c->query_end = qe;
    if (st)
        return st;
    out->s = query_eval_alloc(c, (inner.nseries ? inner.nseries : 1) * sizeof(query_mseries));
    if (!out->s)
        return SONDE_ERR_NOMEM;
    for (size_t i = 0; i < inner.nseries; i++) {
        const query_series *s = &inner.series[i];
        size_t cnt = 0, hcnt = 0;
        for (size_t j = 0; j < ig.n; j++) {
            cnt += s->ok[j];
            hcnt += query_series_is_hist(s, j);
        }
        if (!cnt)
            continue;
        query_mseries *m = &out->s[out->n++];
        m->labels = s->labels;
        m->nlabels = s->nlabels;
        if (s->drop_name &&
            (st = query_labels_drop_name(c, s->labels, s->nlabels, &m->labels, &m->nlabels)))
            return st;
        m->s = query_eval_alloc(c, cnt * sizeof(sonde_sample));
        if (!m->s)
            return SONDE_ERR_NOMEM;
        if (hcnt && !(m->hs = query_eval_alloc(c, hcnt * sizeof(sonde_hsample))))
            return SONDE_ERR_NOMEM;
        for (size_t j = 0; j < ig.n; j++) {
            if (query_series_is_hist(s, j)) {
                /* as Prometheus: a subquery's reset / not-reset hints become
                 * unknown, so that repeated or skipped samples do not mislead
                 * counter reset detection */
                sonde_fhist *h = s->h[j];
                if (h->hint == SONDE_HIST_HINT_RESET || h->hint == SONDE_HIST_HINT_NOT_RESET) {
                    sonde_fhist *u = arena_alloc(c->a, sizeof(*u));
                    if (!u)
                        return query_eval_fail(c, SONDE_ERR_NOMEM, "out of memory");
                    *u = *h;
                    u->hint = SONDE_HIST_HINT_UNKNOWN;
                    h = u;
                }
                m->hs[m->nh++] = (sonde_hsample){qgrid_t(&ig, j), h};
            } else if (s->ok[j])
                m->s[m->n++] = (sonde_sample){qgrid_t(&ig, j), s->v[j]};
        }
    }
    return SONDE_OK;
}

/* ---- binary operators ---- */

bool query_binop_is_comparison(query_binop op)
{
    return op == QOP_EQL || op == QOP_NEQ || op == QOP_LSS || op == QOP_LTE || op == QOP_GTR ||
           op == QOP_GTE;
}

bool query_binop_is_set(query_binop op)
{
    return op == QOP_AND || op == QOP_OR || op == QOP_UNLESS;
}

const char *query_binop_name(query_binop op)
{
    static const char *const names[] = {"",      "+",  "-",      "*",  "/",  "%", "^",
                                        "atan2", "==", "!=",     "<",  "<=", ">", ">=",
                                        "and",   "or", "unless", "</", ">/"};
    return (size_t)op < sizeof(names) / sizeof(names[0]) ? names[op] : "?";
}

/* Returns whether the element is kept; *out gets the value. */
static bool binop_apply(query_binop op, double l, double r, bool return_bool, double *out)
{
    bool cmp;
    switch (op) {
    case QOP_ADD:
        *out = l + r;
        return true;
    case QOP_SUB:
        *out = l - r;
        return true;
    case QOP_MUL:
        *out = l * r;
        return true;
    case QOP_DIV:
        *out = l / r;
        return true;
    case QOP_MOD:
        *out = fmod(l, r);
        return true;
    case QOP_POW:
        *out = pow(l, r);
        return true;
    case QOP_ATAN2:
        *out = atan2(l, r);
        return true;
    case QOP_EQL:
        cmp = l == r;
        break;
    case QOP_NEQ:
        cmp = l != r;
        break;
    case QOP_LSS:
        cmp = l < r;
        break;
    case QOP_LTE:
        cmp = l <= r;
        break;
    case QOP_GTR:
        cmp = l > r;
        break;
    case QOP_GTE:
        cmp = l >= r;
        break;
    default:
        *out = NAN;
        return false;
    }
    if (return_bool) {
        *out = cmp ? 1.0 : 0.0;
        return true;
    }
    *out = l;
    return cmp;
}

/* vectorElemBinop when a side is a histogram (lh / rh non-NULL): *keep says
 * whether a point results, a float in *v or a histogram in *h. */
static sonde_status hist_binop(query_eval_ctx *c, const query_node *n, double lv, double rv,
                               const sonde_fhist *lh, const sonde_fhist *rh, double *v,
                               sonde_fhist **h, bool *keep)
{
    query_binop op = n->u.bin.op;
    const char *opn = query_binop_name(op);
    *keep = false;
    *h = NULL;
    *v = 0;
    const sonde_fhist *one = lh ? lh : rh;
    double f = lh ? rv : lv;
    if (!(lh && rh) && (op == QOP_MUL || (op == QOP_DIV && lh))) {
        sonde_fhist *r = query_hist_copy(c->a, one);
        if (!r)
            return query_eval_fail(c, SONDE_ERR_NOMEM, "out of memory");
        query_hist_scale(r, f, op == QOP_DIV);
        *h = r;
        *keep = true;
        return SONDE_OK;
    }
    if (lh && rh && (op == QOP_ADD || op == QOP_SUB)) {
        unsigned fl = 0;
        sonde_status st = query_hist_add(c->a, lh, rh, op == QOP_SUB, h, &fl);
        if (st)
            return query_eval_fail(c, st, "out of memory");
        if (fl & QHIST_INCOMPATIBLE) {
            query_eval_annotate(c, true, n->pos,
                                "incompatible bucket layout encountered for binary operator %s",
                                opn);
            return SONDE_OK;
        }
        if (op == QOP_SUB)
            (*h)->hint = SONDE_HIST_HINT_GAUGE;
        if (fl & QHIST_HINT_COLLISION)
            query_eval_annotate(c, true, n->pos, "conflicting counter resets during histogram %s",
                                op == QOP_ADD ? "addition" : "subtraction");
        if (fl & QHIST_RECONCILED)
            query_eval_annotate(c, false, n->pos,
                                "mismatched custom buckets were reconciled during %s",
                                op == QOP_ADD ? "addition" : "subtraction");
        *keep = true;
        return SONDE_OK;
    }
    if (lh && !rh && (op == QOP_TRIM_UPPER || op == QOP_TRIM_LOWER)) {
        if (!(*h = query_hist_trim(c->a, lh, rv, op == QOP_TRIM_UPPER)))
            return query_eval_fail(c, SONDE_ERR_NOMEM, "out of memory");
        *keep = true;
        return SONDE_OK;
    }
    if (lh && rh && (op == QOP_EQL || op == QOP_NEQ)) {
        bool eq = query_hist_equal(lh, rh);
        *keep = op == QOP_EQL ? eq : !eq;
        *h = (sonde_fhist *)lh;
        return SONDE_OK;
    }
    query_eval_annotate(
        c, false, n->pos,
        "incompatible sample types encountered for binary operator \"%s\": %s %s %s", opn,
        lh ? "histogram" : "float", opn, rh ? "histogram" : "float");
    return SONDE_OK;
}

static bool is_trim(query_binop op)
{
    return op == QOP_TRIM_UPPER || op == QOP_TRIM_LOWER;
}

/* Trimming floats: Prometheus' "incompatible sample types" info. */
static void trim_float_info(query_eval_ctx *c, const query_node *n)
{
    const char *opn = query_binop_name(n->u.bin.op);
    query_eval_annotate(c, false, n->pos,
                        "incompatible sample types encountered for binary operator \"%s\": "
                        "float %s float",
                        opn, opn);
}

static bool drops_name(const query_node *n)
{
    return (!query_binop_is_comparison(n->u.bin.op) && !is_trim(n->u.bin.op)) ||
           n->u.bin.return_bool;
}

static sonde_status eval_scalar_vector(query_eval_ctx *c, const query_node *n, const qgrid *g,
                                       const query_value *vec, const double *sc, bool scalar_left,
                                       query_value *out)
{
    qbuilder b;
    query_builder_init(&b, c, g->n);
    sonde_status st;
    bool dn = drops_name(n);
    for (size_t i = 0; i < vec->nseries; i++) {
        const query_series *s = &vec->series[i];
        sonde_label *l = s->labels;
        uint32_t nl = s->nlabels;
        size_t idx = SIZE_MAX;
        for (size_t step = 0; step < g->n; step++) {
            if (!s->ok[step])
                continue;
            double v;
            sonde_fhist *hv = NULL;
            double lv = scalar_left ? sc[step] : s->v[step];
            double rv = scalar_left ? s->v[step] : sc[step];
            if (query_series_is_hist(s, step)) {
                bool keep;
                if ((st = hist_binop(c, n, lv, rv, scalar_left ? NULL : s->h[step],
                                     scalar_left ? s->h[step] : NULL, &v, &hv, &keep)))
                    return st;
                if (!keep)
                    continue;
                if (query_binop_is_comparison(n->u.bin.op))
                    continue; /* unreachable: comparisons with a float are dropped */
            } else {
                if (is_trim(n->u.bin.op)) {
                    trim_float_info(c, n);
                    continue;
                }
                if (!binop_apply(n->u.bin.op, lv, rv, n->u.bin.return_bool, &v))
                    continue;
                if (query_binop_is_comparison(n->u.bin.op) && !n->u.bin.return_bool)
                    v = s->v[step]; /* the vector element's value, even on the right */
            }
            if (idx == SIZE_MAX) {
                if ((st = query_builder_get(&b, l, nl, &idx)))
                    return st;
                b.s[idx].drop_name |= dn || s->drop_name;
            }
            if ((st = hv ? query_builder_set_hist(&b, idx, step, hv)
                         : query_builder_set(&b, idx, step, v)))
                return st;
        }
        if ((st = query_eval_tick(c)))
            return st;
    }
    query_builder_finish(&b, g, out);
    return query_eval_account(c, 0);
}

/* Matching signature of every series of a vector: group ids in a table. */
typedef struct sigs {
    qbuilder t; /* label set of the signature -> group id */
    size_t *lg, *rg;
} sigs;

static sonde_status sig_of(query_eval_ctx *c, const query_node *n, const query_series *s,
                           qbuilder *t, size_t *g)
{
    sonde_label *l;
    uint32_t nl;
    sonde_status st = n->u.bin.on
                          ? query_labels_filter(c, s->labels, s->nlabels, &n->u.bin.match_labels,
                                                true, false, &l, &nl)
                          : query_labels_filter(c, s->labels, s->nlabels, &n->u.bin.match_labels,
                                                false, true, &l, &nl);
    if (st)
        return st;
    return query_builder_get(t, l, nl, g);
}

static sonde_status sigs_build(query_eval_ctx *c, const query_node *n, const query_value *lhs,
                               const query_value *rhs, sigs *sg)
{
    query_builder_init(&sg->t, c, 1);
    sg->lg = query_eval_alloc(c, (lhs->nseries + 1) * sizeof(size_t));
    sg->rg = query_eval_alloc(c, (rhs->nseries + 1) * sizeof(size_t));
    if (!sg->lg || !sg->rg)
        return SONDE_ERR_NOMEM;
    sonde_status st;
    for (size_t i = 0; i < lhs->nseries; i++)
        if ((st = sig_of(c, n, &lhs->series[i], &sg->t, &sg->lg[i])))
            return st;
    for (size_t i = 0; i < rhs->nseries; i++)
        if ((st = sig_of(c, n, &rhs->series[i], &sg->t, &sg->rg[i])))
            return st;
    return SONDE_OK;
}

static sonde_status eval_set_op(query_eval_ctx *c, const query_node *n, const qgrid *g,
                                const query_value *lhs, const query_value *rhs, query_value *out)
{
    sigs sg;
    sonde_status st = sigs_build(c, n, lhs, rhs, &sg);
    if (st)
        return st;
    size_t ng = sg.t.n;
    /* stamp[g] == step + 1: the group has a point at this step on that side */
    size_t *lstamp = query_eval_alloc(c, (ng + 1) * sizeof(size_t));
    size_t *rstamp = query_eval_alloc(c, (ng + 1) * sizeof(size_t));
    size_t *lidx = query_eval_alloc(c, (lhs->nseries + 1) * sizeof(size_t));
    size_t *ridx = query_eval_alloc(c, (rhs->nseries + 1) * sizeof(size_t));
    if (!lstamp || !rstamp || !lidx || !ridx)
        return SONDE_ERR_NOMEM;
    qbuilder b;
    query_builder_init(&b, c, g->n);
    for (size_t i = 0; i < lhs->nseries; i++) {
        if ((st = query_builder_get(&b, lhs->series[i].labels, lhs->series[i].nlabels, &lidx[i])))
            return st;
        b.s[lidx[i]].drop_name |= lhs->series[i].drop_name;
    }
    if (n->u.bin.op == QOP_OR)
        for (size_t i = 0; i < rhs->nseries; i++) {
            if ((st = query_builder_get(&b, rhs->series[i].labels, rhs->series[i].nlabels,
                                        &ridx[i])))
                return st;
            b.s[ridx[i]].drop_name |= rhs->series[i].drop_name;
        }
    for (size_t step = 0; step < g->n; step++) {
        if ((st = query_eval_tick(c)))
            return st;
        for (size_t i = 0; i < rhs->nseries; i++)
            if (rhs->series[i].ok[step])
                rstamp[sg.rg[i]] = step + 1;
        for (size_t i = 0; i < lhs->nseries; i++) {
            const query_series *s = &lhs->series[i];
            if (!s->ok[step])
                continue;
            lstamp[sg.lg[i]] = step + 1;
            bool in_r = rstamp[sg.lg[i]] == step + 1;
            bool keep = n->u.bin.op == QOP_AND ? in_r : n->u.bin.op == QOP_UNLESS ? !in_r : true;
            if (keep && (st = query_builder_copy(&b, lidx[i], step, s)))
                return st;
        }
        if (n->u.bin.op == QOP_OR)
            for (size_t i = 0; i < rhs->nseries; i++) {
                const query_series *s = &rhs->series[i];
                if (s->ok[step] && lstamp[sg.rg[i]] != step + 1 &&
                    (st = query_builder_copy(&b, ridx[i], step, s)))
                    return st;
            }
    }
    query_builder_finish(&b, g, out);
    query_value_drop_empty(out, g);
    return SONDE_OK;
}

static sonde_status result_labels(query_eval_ctx *c, const query_node *n, const query_series *ls,
                                  const query_series *rs, sonde_label **out, uint32_t *nout)
{
    sonde_label *l = ls->labels;
    uint32_t nl = ls->nlabels;
    sonde_status st;
    if (n->u.bin.card == QUERY_CARD_ONE_TO_ONE && n->u.bin.has_matching) {
        if ((st = query_labels_filter(c, l, nl, &n->u.bin.match_labels, n->u.bin.on, false, &l,
                                      &nl)))
            return st;
    }
    for (size_t i = 0; rs && i < n->u.bin.include.n; i++) {
        const char *name = n->u.bin.include.v[i];
        size_t len = strlen(name);
        const sonde_label *rl = series_labels_get(rs->labels, rs->nlabels, name, len);
        if ((st = query_labels_set(c, l, nl, name, len, rl ? rl->value : "", rl ? rl->value_len : 0,
                                   &l, &nl)))
            return st;
    }
    *out = l;
    *nout = nl;
    return SONDE_OK;
}

/* State of one vector-vector evaluation (matching tables and output). */
typedef struct vv_state {
    const query_node *n;
    bool swap; /* group_right: lhs/rhs exchanged internally */
    const query_value *lhs, *rhs;
    sigs sg;
    size_t *rstamp, *rwho, *ins, *lstamp;
    size_t *cache_r, *cache_idx;
    qbuilder b;
    /* fill values for a missing internal rhs / lhs */
    bool fill_r, fill_l;
    double fill_rv, fill_lv;
} vv_state;

/* Applies the operator to (lv, rv) (internal order) and stores the point for
 * the output series of labels `ls` (+ include labels of rs when given). */
static sonde_status vv_emit(query_eval_ctx *c, vv_state *w, const query_series *ls,
                            const query_series *rs, size_t cache_slot, size_t rkey, size_t step,
                            double lv, double rv)
{
    double v;
    sonde_status st;
    const sonde_fhist *lh = query_series_is_hist(ls, step) ? ls->h[step] : NULL;
    const sonde_fhist *rh = rs && query_series_is_hist(rs, step) ? rs->h[step] : NULL;
    sonde_fhist *hv = NULL;
    if (w->swap) {
        double t = lv;
        lv = rv;
        rv = t;
        const sonde_fhist *th = lh;
        lh = rh;
        rh = th;
    }
    if (lh || rh) {
        bool keep;
        if ((st = hist_binop(c, w->n, lv, rv, lh, rh, &v, &hv, &keep)))
            return st;
        if (w->n->u.bin.return_bool) {
            if (hv && query_binop_is_comparison(w->n->u.bin.op)) {
                v = keep ? 1 : 0;
                hv = NULL;
            } else if (!keep) {
                return SONDE_OK;
            }
        } else if (!keep) {
            return SONDE_OK;
        }
    } else if (is_trim(w->n->u.bin.op)) {
        trim_float_info(c, w->n);
        return SONDE_OK;
    } else if (!binop_apply(w->n->u.bin.op, lv, rv, w->n->u.bin.return_bool, &v)) {
        return SONDE_OK;
    }
    size_t idx = cache_slot != SIZE_MAX ? w->cache_idx[cache_slot] : 0;
    if (cache_slot == SIZE_MAX || w->cache_r[cache_slot] != rkey) {
        sonde_label *l;
        uint32_t nl;
        if ((st = result_labels(c, w->n, ls, rs, &l, &nl)) ||
            (st = query_builder_get(&w->b, l, nl, &idx)))
            return st;
        w->b.s[idx].drop_name |= drops_name(w->n) || ls->drop_name;
        if (cache_slot != SIZE_MAX) {
            w->cache_r[cache_slot] = rkey;
            w->cache_idx[cache_slot] = idx;
        }
    }
    return hv ? query_builder_set_hist(&w->b, idx, step, hv)
              : query_builder_set(&w->b, idx, step, v);
}

static sonde_status vv_dup_error(query_eval_ctx *c, vv_state *w, size_t gr, size_t i)
{
    char m1[200], m2[200], m3[200];
    const query_series *o = &w->rhs->series[w->rwho[gr]];
    query_labels_fmt(m1, sizeof(m1), w->sg.t.s[gr].labels, w->sg.t.s[gr].nlabels);
    query_labels_fmt(m2, sizeof(m2), o->labels, o->nlabels);
    query_labels_fmt(m3, sizeof(m3), w->rhs->series[i].labels, w->rhs->series[i].nlabels);
    return query_eval_fail(c, SONDE_ERR_INVALID,
                           "found duplicate series for the match group %s on the %s "
                           "hand-side of the operation: [%s, %s];many-to-many matching not "
                           "allowed: matching labels must be unique on one side",
                           m1, w->swap ? "left" : "right", m2, m3);
}

/* One step: index the "one" side, then match every lhs point. */
static sonde_status vv_step(query_eval_ctx *c, vv_state *w, size_t step)
{
    sonde_status st;
    for (size_t i = 0; i < w->rhs->nseries; i++) {
        if (!w->rhs->series[i].ok[step])
            continue;
        size_t gr = w->sg.rg[i];
        if (w->rstamp[gr] == step + 1)
            return vv_dup_error(c, w, gr, i);
        w->rstamp[gr] = step + 1;
        w->rwho[gr] = i;
    }
    for (size_t i = 0; i < w->lhs->nseries; i++) {
        const query_series *ls = &w->lhs->series[i];
        size_t gr = w->sg.lg[i];
        if (!ls->ok[step])
            continue;
        w->lstamp[gr] = step + 1;
        if (w->rstamp[gr] != step + 1) {
            /* no match: only a fill value for the missing side makes a point */
            if (w->fill_r &&
                (st = vv_emit(c, w, ls, NULL, i, SIZE_MAX - 1, step, ls->v[step], w->fill_rv)))
                return st;
            continue;
        }
        const query_series *rs = &w->rhs->series[w->rwho[gr]];
        /* checked before filtering, so the error does not depend on values */
        if (w->n->u.bin.card == QUERY_CARD_ONE_TO_ONE) {
            if (w->ins[gr] == step + 1)
                return query_eval_fail(c, SONDE_ERR_INVALID,
                                       "multiple matches for labels: many-to-one matching must "
                                       "be explicit (group_left/group_right)");
            w->ins[gr] = step + 1;
        }
        if ((st = vv_emit(c, w, ls, rs, i, w->rwho[gr], step, ls->v[step], rs->v[step])))
            return st;
    }
    if (!w->fill_l)
        return SONDE_OK;
    /* rhs points without any lhs: the filled lhs carries the match labels */
    for (size_t i = 0; i < w->rhs->nseries; i++) {
        const query_series *rs = &w->rhs->series[i];
        size_t gr = w->sg.rg[i];
        if (!rs->ok[step] || w->lstamp[gr] == step + 1)
            continue;
        if ((st = vv_emit(c, w, &w->sg.t.s[gr], rs, SIZE_MAX, 0, step, w->fill_lv, rs->v[step])))
            return st;
    }
    return SONDE_OK;
}

static sonde_status eval_vector_vector(query_eval_ctx *c, const query_node *n, const qgrid *g,
                                       const query_value *lhs0, const query_value *rhs0,
                                       query_value *out)
{
    vv_state w;
    memset(&w, 0, sizeof(w));
    w.n = n;
    w.swap = n->u.bin.card == QUERY_CARD_ONE_TO_MANY;
    w.lhs = w.swap ? rhs0 : lhs0;
    w.rhs = w.swap ? lhs0 : rhs0;
    w.fill_r = w.swap ? n->u.bin.fill_left : n->u.bin.fill_right;
    w.fill_rv = w.swap ? n->u.bin.fill_left_v : n->u.bin.fill_right_v;
    w.fill_l = w.swap ? n->u.bin.fill_right : n->u.bin.fill_left;
    w.fill_lv = w.swap ? n->u.bin.fill_right_v : n->u.bin.fill_left_v;
    sonde_status st = sigs_build(c, n, w.lhs, w.rhs, &w.sg);
    if (st)
        return st;
    size_t ng = w.sg.t.n;
    w.rstamp = query_eval_alloc(c, (ng + 1) * sizeof(size_t));
    w.rwho = query_eval_alloc(c, (ng + 1) * sizeof(size_t));
    w.ins = query_eval_alloc(c, (ng + 1) * sizeof(size_t));
    w.lstamp = query_eval_alloc(c, (ng + 1) * sizeof(size_t));
    /* output series per lhs series, valid while it matches the same rhs */
    w.cache_r = query_eval_alloc(c, (w.lhs->nseries + 1) * sizeof(size_t));
    w.cache_idx = query_eval_alloc(c, (w.lhs->nseries + 1) * sizeof(size_t));
    if (!w.rstamp || !w.rwho || !w.ins || !w.lstamp || !w.cache_r || !w.cache_idx)
        return SONDE_ERR_NOMEM;
    for (size_t i = 0; i < w.lhs->nseries; i++)
        w.cache_r[i] = SIZE_MAX;
    query_builder_init(&w.b, c, g->n);
    for (size_t step = 0; step < g->n; step++) {
        if ((st = query_eval_tick(c)) || (st = vv_step(c, &w, step)))
            return st;
    }
    query_builder_finish(&w.b, g, out);
    return SONDE_OK;
}

static sonde_status eval_binary(query_eval_ctx *c, const query_node *n, const qgrid *g,
                                query_value *out)
{
    query_value l, r;
    sonde_status st;
    bool hs = c->hist_stats;
    if (is_trim(n->u.bin.op))
        c->hist_stats = false; /* trimming needs the buckets */
    if ((st = query_eval_node(c, n->u.bin.lhs, g, &l)) ||
        (st = query_eval_node(c, n->u.bin.rhs, g, &r))) {
        c->hist_stats = hs;
        return st;
    }
    c->hist_stats = hs;
    if (l.type == QUERY_TYPE_SCALAR && r.type == QUERY_TYPE_SCALAR) {
        if ((st = scalar_alloc(c, g, out)))
            return st;
        for (size_t i = 0; i < g->n; i++) {
            double v;
            binop_apply(n->u.bin.op, l.scalar[i], r.scalar[i], true, &v);
            out->scalar[i] = v;
        }
        return SONDE_OK;
    }
    if (l.type == QUERY_TYPE_SCALAR)
        return eval_scalar_vector(c, n, g, &r, l.scalar, true, out);
    if (r.type == QUERY_TYPE_SCALAR)
        return eval_scalar_vector(c, n, g, &l, r.scalar, false, out);
    if (query_binop_is_set(n->u.bin.op))
        return eval_set_op(c, n, g, &l, &r, out);
    return eval_vector_vector(c, n, g, &l, &r, out);
}

static sonde_status eval_unary(query_eval_ctx *c, const query_node *n, const qgrid *g,
                               query_value *out)
{
    sonde_status st = query_eval_node(c, n->u.un.expr, g, out);
    if (st || !n->u.un.neg)
        return st;
    if (out->type == QUERY_TYPE_SCALAR) {
        for (size_t i = 0; i < g->n; i++)
            out->scalar[i] = -out->scalar[i];
        return SONDE_OK;
    }
    qbuilder b;
    query_builder_init(&b, c, g->n);
    for (size_t i = 0; i < out->nseries; i++) {
        const query_series *s = &out->series[i];
        size_t idx;
        if ((st = query_builder_get(&b, s->labels, s->nlabels, &idx)))
            return st;
        b.s[idx].drop_name = true;
        for (size_t j = 0; j < g->n; j++) {
            if (!s->ok[j])
                continue;
            if (query_series_is_hist(s, j)) {
                sonde_fhist *h = query_hist_copy(c->a, s->h[j]);
                if (!h)
                    return query_eval_fail(c, SONDE_ERR_NOMEM, "out of memory");
                query_hist_scale(h, -1, false);
                st = query_builder_set_hist(&b, idx, j, h);
            } else {
                st = query_builder_set(&b, idx, j, -s->v[j]);
            }
            if (st)
                return st;
        }
    }
    query_builder_finish(&b, g, out);
    return SONDE_OK;
}

static sonde_status result_names_drop(query_eval_ctx *c, const qgrid *g, query_value *v);
static sonde_status eval_node_kind(query_eval_ctx *c, const query_node *n, const qgrid *g,
                                   query_value *out);

/* Every node; without delayed name removal a node's output loses its names
 * at once (Prometheus 3's default), with it only the query result does. */
sonde_status query_eval_node(query_eval_ctx *c, const query_node *n, const qgrid *g,
                             query_value *out)
{
    sonde_status st = eval_node_kind(c, n, g, out);
    if (st || c->delayed_name_removal)
        return st;
    return result_names_drop(c, g, out);
}

static sonde_status eval_node_kind(query_eval_ctx *c, const query_node *n, const qgrid *g,
                                   query_value *out)
{
    sonde_status st = query_eval_tick(c);
    if (st)
        return st;
    switch (n->kind) {
    case QN_NUMBER:
        if ((st = scalar_alloc(c, g, out)))
            return st;
        for (size_t i = 0; i < g->n; i++)
            out->scalar[i] = n->u.number;
        return SONDE_OK;
    case QN_STRING:
        memset(out, 0, sizeof(*out));
        out->type = QUERY_TYPE_STRING;
        out->str = n->u.str.s;
        out->str_len = n->u.str.len;
        out->nsteps = g->n;
        out->start = g->start;
        out->end = g->end;
        out->step = g->step;
        return SONDE_OK;
    case QN_PAREN:
        return query_eval_node(c, n->u.paren.expr, g, out);
    case QN_VECTOR_SEL:
        return eval_vector_selector(c, n, g, out);
    case QN_BINARY:
        return eval_binary(c, n, g, out);
    case QN_UNARY:
        return eval_unary(c, n, g, out);
    case QN_CALL:
        return query_call_eval(c, n, g, out);
    case QN_AGG:
        return query_agg_eval(c, n, g, out);
    case QN_MATRIX_SEL:
    case QN_SUBQUERY:
        return query_eval_fail(c, SONDE_ERR_INVALID, "unexpected range vector in instant context");
    }
    return query_eval_fail(c, SONDE_ERR_INTERNAL, "unknown node kind");
}

/* ---- entry points ---- */

/* Series that share a label set after their names went merge into the first
 * one; two points at one step are Prometheus' duplicate-labelset error. */
static sonde_status names_merge(query_eval_ctx *c, const qgrid *g, query_value *v)
{
    size_t nslots = 16;
    while (nslots < 2 * v->nseries)
        nslots *= 2;
    size_t *slot = query_eval_alloc(c, nslots * sizeof(size_t)); /* series index + 1 */
    bool *gone = query_eval_alloc(c, v->nseries + 1);
    if (!slot || !gone)
        return SONDE_ERR_NOMEM;
    for (size_t i = 0; i < v->nseries; i++) {
        query_series *s = &v->series[i];
        size_t j = series_labels_hash(s->labels, s->nlabels) & (nslots - 1);
        while (slot[j] &&
               query_labels_cmp(v->series[slot[j] - 1].labels, v->series[slot[j] - 1].nlabels,
                                s->labels, s->nlabels) != 0)
            j = (j + 1) & (nslots - 1);
        if (!slot[j]) {
            slot[j] = i + 1;
            continue;
        }
        query_series *first = &v->series[slot[j] - 1];
        for (size_t k = 0; k < g->n; k++) {
            if (!s->ok[k])
                continue;
            if (first->ok[k])
                return query_eval_fail(c, SONDE_ERR_INVALID,
                                       "vector cannot contain metrics with the same labelset");
            first->ok[k] = 1;
            first->v[k] = s->v[k];
            if (query_series_is_hist(s, k) &&
                query_series_set_hist(c, first, g->n, k, s->h[k]) != SONDE_OK)
                return SONDE_ERR_NOMEM;
            if (first->ts)
                first->ts[k] = s->ts ? s->ts[k] : qgrid_t(g, k);
        }
        gone[i] = true;
    }
    size_t n = 0;
    for (size_t i = 0; i < v->nseries; i++)
        if (!gone[i])
            v->series[n++] = v->series[i];
    v->nseries = n;
    return SONDE_OK;
}

/* Delayed name removal, done once on the query's result: series marked
 * drop_name lose __name__ (and __type__/__unit__); series that end up with the
 * same label set merge, and two points at one step are an error. */
static sonde_status result_names_drop(query_eval_ctx *c, const qgrid *g, query_value *v)
{
    if (v->type != QUERY_TYPE_VECTOR)
        return SONDE_OK;
    bool any = false;
    for (size_t i = 0; i < v->nseries && !any; i++)
        any = v->series[i].drop_name;
    if (!any)
        return SONDE_OK;
    sonde_status st;
    for (size_t i = 0; i < v->nseries; i++) { /* in place: only the label arrays change */
        query_series *s = &v->series[i];
        if (s->drop_name &&
            (st = query_labels_drop_name(c, s->labels, s->nlabels, &s->labels, &s->nlabels)))
            return st;
        s->drop_name = false;
    }
    return names_merge(c, g, v);
}

static int mseries_cmp(const void *a, const void *b)
{
    const query_mseries *x = a, *y = b;
    return query_labels_cmp(x->labels, x->nlabels, y->labels, y->nlabels);
}

static int series_cmp(const void *a, const void *b)
{
    const query_series *x = a, *y = b;
    return query_labels_cmp(x->labels, x->nlabels, y->labels, y->nlabels);
}

void query_value_sort(query_value *v)
{
    if (v->type == QUERY_TYPE_VECTOR && v->nseries > 1)
        qsort(v->series, v->nseries, sizeof(*v->series), series_cmp);
    if (v->type == QUERY_TYPE_MATRIX && v->nms > 1)
        qsort(v->ms, v->nms, sizeof(*v->ms), mseries_cmp);
}

static sonde_status eval_instant(query_eval_ctx *c, const query_node *root, int64_t t,
                                 query_value *out)
{
    qgrid g = {t, t, 1, 1};
    c->query_start = c->query_end = t;
    c->query_step = 0;
    c->err[0] = 0;
    c->nannots = 0;
    memset(out, 0, sizeof(*out));
    if (query_node_type(root) != QUERY_TYPE_MATRIX) {
        sonde_status st = query_eval_node(c, root, &g, out);
        return st ? st : result_names_drop(c, &g, out);
    }
    qmatrix m;
    sonde_status st = query_eval_matrix(c, root, &g, false, &m);
    if (st)
        return st;
    out->type = QUERY_TYPE_MATRIX;
    out->start = out->end = t;
    out->step = 1;
    out->nsteps = 1;
    out->ms = query_eval_alloc(c, (m.n ? m.n : 1) * sizeof(query_mseries));
    if (!out->ms)
        return SONDE_ERR_NOMEM;
    int64_t wlo, whi;
    qmatrix_window(&m, 0, &wlo, &whi);
    for (size_t i = 0; i < m.n; i++) {
        const query_mseries *s = &m.s[i];
        size_t lo = 0, hi;
        while (lo < s->n && s->s[lo].ts_ms <= wlo)
            lo++;
        hi = lo;
        while (hi < s->n && s->s[hi].ts_ms <= whi)
            hi++;
        size_t hlo = 0, hhi;
        while (hlo < s->nh && s->hs[hlo].ts_ms <= wlo)
            hlo++;
        hhi = hlo;
        while (hhi < s->nh && s->hs[hhi].ts_ms <= whi)
            hhi++;
        if (hi == lo && hhi == hlo)
            continue;
        query_mseries *o = &out->ms[out->nms++];
        *o = *s;
        o->s = s->n ? s->s + lo : s->s;
        o->n = hi - lo;
        o->hs = s->nh ? s->hs + hlo : s->hs;
        o->nh = hhi - hlo;
        if (m.anchored || m.smoothed) {
            sonde_sample *ext = query_eval_alloc(c, (o->n + 2) * sizeof(*ext));
            if (!ext)
                return SONDE_ERR_NOMEM;
            o->n =
                query_extend_floats(o->s, o->n, m.wend[0] - m.range_ms, m.wend[0], m.smoothed, ext);
            o->s = ext;
            if (!o->n && !o->nh)
                out->nms--;
        }
    }
    return SONDE_OK;
}

/* pickOrInterpolate{Left,Right} without counter handling. */
static double extend_interpolate(const sonde_sample *a, const sonde_sample *b, int64_t t)
{
    return a->value +
           (b->value - a->value) * (double)(t - a->ts_ms) / (double)(b->ts_ms - a->ts_ms);
}

size_t query_extend_floats(const sonde_sample *s, size_t n, int64_t mint, int64_t maxt,
                           bool smoothed, sonde_sample *out)
{
    if (n == 0)
        return 0;
    size_t last = n - 1, first = 0;
    while (first < last && s[first].ts_ms <= mint)
        first++;
    first = first ? first - 1 : 0; /* the sample at or before mint, if any */
    if (smoothed) {
        size_t k = 0;
        while (k < n - 1 && s[k].ts_ms < maxt)
            k++;
        last = k; /* the first sample at or after maxt, else the last one */
    }
    if (s[last].ts_ms <= mint)
        return 0;
    double left = s[first].value, right = s[last].value;
    if (smoothed && s[first].ts_ms < mint && first + 1 < n)
        left = extend_interpolate(&s[first], &s[first + 1], mint);
    if (smoothed && last > 0 && s[last].ts_ms > maxt)
        right = extend_interpolate(&s[last - 1], &s[last], maxt);
    size_t lo = s[first].ts_ms <= mint ? first + 1 : first;
    size_t hi = s[last].ts_ms >= maxt ? last : last + 1; /* exclusive */
    size_t k = 0;
    out[k++] = (sonde_sample){mint, left};
    for (size_t i = lo; i < hi; i++)
        out[k++] = s[i];
    out[k++] = (sonde_sample){maxt, right};
    return k;
}

static sonde_status eval_range(query_eval_ctx *c, const query_node *root, int64_t start,
                               int64_t end, int64_t step, query_value *out)
{
    c->err[0] = 0;
    c->nannots = 0;
    memset(out, 0, sizeof(*out));
    query_type t = query_node_type(root);
    if (t != QUERY_TYPE_SCALAR && t != QUERY_TYPE_VECTOR)
        return query_eval_fail(c, SONDE_ERR_INVALID,
                               "invalid expression type \"%s\" for range query, must be Scalar or "
                               "instant Vector",
                               query_type_name(t));
    int64_t span;
    if (step <= 0 || end < start || __builtin_sub_overflow(end, start, &span) ||
        span / step >= 100000000)
        return query_eval_fail(c, SONDE_ERR_INVALID, "invalid range query grid");
    qgrid g = {start, end, step, (size_t)((end - start) / step) + 1};
    g.end = qgrid_t(&g, g.n - 1);
    c->query_start = start;
    c->query_end = end;
    c->query_step = step;
    sonde_status st = query_eval_node(c, root, &g, out);
    return st ? st : result_names_drop(c, &g, out);
}

/* The reader holds a RocksDB snapshot: it never outlives the query. */
static void reader_release(query_eval_ctx *c)
{
    storage_reader_destroy(c->reader);
    c->reader = NULL;
}

sonde_status query_eval_instant(query_eval_ctx *c, const query_node *root, int64_t t,
                                query_value *out)
{
    sonde_status st = eval_instant(c, root, t, out);
    reader_release(c);
    return st;
}

sonde_status query_eval_range(query_eval_ctx *c, const query_node *root, int64_t start, int64_t end,
                              int64_t step, query_value *out)
{
    sonde_status st = eval_range(c, root, start, end, step, out);
    reader_release(c);
    return st;
}
