/*
 * aggregate.c - PromQL aggregation operators over the step grid:
 * sum avg count min max group stddev stdvar quantile count_values topk
 * bottomk limitk limit_ratio, with `by` / `without` grouping.
 *
 * Series are assigned to groups once (labels do not change across steps);
 * each step then folds the present points of every group. sum and avg use
 * Kahan summation as Prometheus 3 does; stddev/stdvar use Welford's method.
 * Native histograms: sum/avg add them (query_hist_acc_*; mixing them with
 * floats is a warning), count/group/limitk/limit_ratio take them, the others
 * ignore them with Prometheus' info.
 *
 * Threads: one query on one thread; memory in the query arena.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/utf8.h"
#include "eval_internal.h"

typedef struct aggacc {
    double v, c, mean; /* value, Kahan compensation, running mean */
    size_t n;
    bool seen;
    bool incremental; /* avg switched to incremental mean after overflow */
    /* sum / avg over native histograms */
    qhacc hacc;
    bool has_float, has_hist, incompatible;
} aggacc;

static const char *agg_name(query_aggop op)
{
    switch (op) {
    case QAGG_MIN:
        return "min";
    case QAGG_MAX:
        return "max";
    case QAGG_STDDEV:
        return "stddev";
    case QAGG_STDVAR:
        return "stdvar";
    case QAGG_QUANTILE:
        return "quantile";
    case QAGG_TOPK:
        return "topk";
    case QAGG_BOTTOMK:
        return "bottomk";
    default:
        return "aggregation";
    }
}

static const char *metric_name(const query_series *s, char *out, size_t n)
{
    const sonde_label *l = series_labels_get(s->labels, s->nlabels, "__name__", 8);
    snprintf(out, n, "%.*s", l ? (int)l->value_len : 0, l ? l->value : "");
    return out;
}

/* Adds histogram x to the group's sum or mean (sum and avg). */
static sonde_status agg_hist_add(query_eval_ctx *c, arena *tmp, const query_node *n, aggacc *a,
                                 const query_series *s, const sonde_fhist *x)
{
    a->has_hist = true;
    if (a->incompatible)
        return SONDE_OK;
    a->hacc.avg = n->u.agg.op == QAGG_AVG;
    unsigned before = a->hacc.flags;
    if (query_hist_acc_add(tmp, &a->hacc, x) != SONDE_OK)
        return query_eval_fail(c, SONDE_ERR_NOMEM, "out of memory");
    unsigned now = a->hacc.flags & ~before;
    if (now & QHIST_INCOMPATIBLE) {
        char nb[200];
        query_eval_annotate(c, true, n->u.agg.expr->pos,
                            "vector contains a mix of histograms with exponential and custom "
                            "buckets schemas for metric name \"%s\"",
                            metric_name(s, nb, sizeof(nb)));
        a->incompatible = true;
    }
    if (now & QHIST_RECONCILED)
        query_eval_annotate(c, false, n->u.agg.expr->pos,
                            "mismatched custom buckets were reconciled during aggregation");
    return SONDE_OK;
}

static void kahan_add(double x, double *sum, double *comp)
{
    double t = *sum + x;
    if (isinf(t))
        *comp = 0;
    else if (fabs(*sum) >= fabs(x))
        *comp += (*sum - t) + x;
    else
        *comp += (x - t) + *sum;
    *sum = t;
}

static int dbl_cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    if (isnan(x)) /* NaN sorts first, as Prometheus' vectorByValueHeap */
        return isnan(y) ? 0 : -1;
    if (isnan(y))
        return 1;
    return x < y ? -1 : x > y ? 1 : 0;
}

double query_quantile(double q, double *vals, size_t n);
double query_quantile(double q, double *vals, size_t n)
{
    if (n == 0 || isnan(q))
        return NAN;
    if (q < 0)
        return -INFINITY;
    if (q > 1)
        return INFINITY;
    qsort(vals, n, sizeof(double), dbl_cmp);
    double rank = q * (double)(n - 1);
    double lower = fmax(0, floor(rank));
    double upper = fmin((double)(n - 1), lower + 1);
    double w = rank - floor(rank);
    return vals[(size_t)lower] * (1 - w) + vals[(size_t)upper] * w;
}

/* Prometheus' vectorByValueHeap (topk) / vectorByReverseValueHeap (bottomk)
 * Less: a NaN is always "less" (worst); otherwise a < b (topk), a > b (bottomk). */
static bool agg_heap_less(double a, double b, bool top)
{
    if (isnan(a))
        return true;
    return top ? a < b : a > b;
}

/* The chosen series of one step in result order: Prometheus' sort.Sort(sort.Reverse(heap)),
 * an insertion sort (k is small). */
static void agg_heap_sort(const query_value *in, size_t step, bool top, size_t *chosen,
                          size_t nch)
{
    for (size_t a = 1; a < nch; a++)
        for (size_t b = a; b > 0 && agg_heap_less(in->series[chosen[b - 1]].v[step],
                                                  in->series[chosen[b]].v[step], top);
             b--) {
            size_t t = chosen[b];
            chosen[b] = chosen[b - 1];
            chosen[b - 1] = t;
        }
}

#define AGG_HV(i) (in->series[h[(i)]].v[step])

/* Go container/heap up() and down() over member indexes h[0..n). */
static void agg_heap_up(const query_value *in, size_t step, bool top, size_t *h, size_t j)
{
    while (j > 0) {
        size_t i = (j - 1) / 2;
        if (!agg_heap_less(AGG_HV(j), AGG_HV(i), top))
            break;
        size_t t = h[i];
        h[i] = h[j];
        h[j] = t;
        j = i;
    }
}

static bool agg_heap_down(const query_value *in, size_t step, bool top, size_t *h, size_t n)
{
    size_t i = 0;
    for (;;) {
        size_t j = 2 * i + 1;
        if (j >= n)
            break;
        if (j + 1 < n && agg_heap_less(AGG_HV(j + 1), AGG_HV(j), top))
            j++;
        if (!agg_heap_less(AGG_HV(j), AGG_HV(i), top))
            break;
        size_t t = h[i];
        h[i] = h[j];
        h[j] = t;
        i = j;
    }
    return i > 0;
}

#undef AGG_HV

/* Orders series by rank key (insertion sort: k is small in practice). */
static void agg_rank_sort(query_value *v, size_t *rank)
{
    for (size_t i = 1; i < v->nseries; i++) {
        query_series s = v->series[i];
        size_t r = rank[i], j = i;
        for (; j > 0 && rank[j - 1] > r; j--) {
            v->series[j] = v->series[j - 1];
            rank[j] = rank[j - 1];
        }
        v->series[j] = s;
        rank[j] = r;
    }
}

/*
 * topk/bottomk of float series, series by series: the step-by-step loop
 * below reads one value of every series per step (a cache miss each over
 * thousands of series); this one keeps a heap per step and walks each series'
 * values in order. Every step's heap sees the same members in the same order
 * and goes through the same operations, so the choice, ties included, and
 * the output are the step loop's. SONDE_ERR_UNSUPPORTED (nothing done): a
 * histogram, or heaps that would take too much room; then the step loop runs.
 */
static sonde_status agg_topk_by_series(query_eval_ctx *c, const qgrid *g, const query_value *in,
                                       const size_t *gmem, const size_t *goff, size_t ng,
                                       const double *param, bool top, query_value *res,
                                       size_t *rank)
{
    sonde_status st;
    size_t steps = g->n, kmax = 0;
    for (size_t i = 0; i < in->nseries; i++)
        if (in->series[i].h)
            return SONDE_ERR_UNSUPPORTED;
    /* the step loop's parameter checks, in its order */
    for (size_t step = 0; step < steps; step++) {
        double p = param[step];
        if (isnan(p))
            return SONDE_ERR_UNSUPPORTED;
        if (p >= 9.2e18 || p <= -9.2e18)
            return SONDE_ERR_UNSUPPORTED;
        int64_t k = (int64_t)p;
        if (k > 0 && (size_t)k > kmax)
            kmax = (size_t)k;
    }
    if (kmax > in->nseries)
        kmax = in->nseries;
    if (kmax == 0 || kmax > 64 || steps > SIZE_MAX / 64 / sizeof(size_t))
        return SONDE_ERR_UNSUPPORTED;
    size_t *heaps = query_eval_alloc(c, steps * kmax * sizeof(size_t));
    size_t *nchs = query_eval_alloc(c, steps * sizeof(size_t));
    if (!heaps || !nchs)
        return SONDE_ERR_NOMEM;
    for (size_t gi = 0; gi < ng; gi++) {
        if ((st = query_eval_tick(c)))
            return st;
        memset(nchs, 0, steps * sizeof(size_t));
        for (size_t gk = goff[gi]; gk < goff[gi + 1]; gk++) {
            size_t mi = gmem[gk];
            const query_series *ms = &in->series[mi];
            for (size_t step = 0; step < steps; step++) {
                if (!ms->ok[step])
                    continue;
                int64_t k = (int64_t)param[step];
                size_t *chosen = heaps + step * kmax, nch = nchs[step];
                double v = ms->v[step];
                if ((int64_t)nch < k) {
                    chosen[nch++] = mi;
                    agg_heap_up(in, step, top, chosen, nch - 1);
                    nchs[step] = nch;
                } else if (nch > 0 && !isnan(v) &&
                           agg_heap_less(in->series[chosen[0]].v[step], v, top)) {
                    chosen[0] = mi;
                    if (k > 1 && !agg_heap_down(in, step, top, chosen, nch))
                        agg_heap_up(in, step, top, chosen, 0);
                }
            }
        }
        for (size_t step = 0; step < steps; step++) {
            size_t *chosen = heaps + step * kmax, nch = nchs[step];
            agg_heap_sort(in, step, top, chosen, nch);
            for (size_t m = 0; m < nch; m++) {
                query_series *rs = &res->series[chosen[m]];
                if (!rs->ok && (st = query_series_alloc(c, steps, rs)))
                    return st;
                rs->ok[step] = 1;
                rs->v[step] = in->series[chosen[m]].v[step];
                rank[chosen[m]] = gi * (in->nseries + 1) + m;
            }
        }
    }
    return SONDE_OK;
}

static sonde_status agg_select_k(query_eval_ctx *c, const query_node *n, const qgrid *g,
                                 const query_value *in, const size_t *grp, size_t ng,
                                 const double *param, query_value *out)
{
    query_aggop op = n->u.agg.op;
    sonde_status st;
    query_value res;
    if ((st = query_vector_alloc(c, g, in->nseries, &res)))
        return st;
    /* a series' point arrays are made when it is first chosen: most never are */
    for (size_t i = 0; i < in->nseries; i++) {
        res.series[i] = in->series[i];
        res.series[i].ts = NULL;
        res.series[i].h = NULL;
        res.series[i].v = NULL;
        res.series[i].ok = NULL;
    }
    /* group members once (CSR layout), so each step costs O(series) */
    size_t *members = query_eval_alloc(c, (in->nseries + 1) * sizeof(size_t));
    size_t *gmem = query_eval_alloc(c, (in->nseries + 1) * sizeof(size_t));
    size_t *goff = query_eval_alloc(c, (ng + 2) * sizeof(size_t));
    size_t *gfill = query_eval_alloc(c, (ng + 1) * sizeof(size_t));
    size_t *chosen = query_eval_alloc(c, (in->nseries + 1) * sizeof(size_t));
    /* instant topk/bottomk: output order is group, then rank (Prometheus' heap order) */
    size_t *rank = query_eval_alloc(c, (in->nseries + 1) * sizeof(size_t));
    if (!members || !gmem || !goff || !gfill || !chosen || !rank)
        return SONDE_ERR_NOMEM;
    for (size_t i = 0; i < in->nseries; i++)
        goff[grp[i] + 1]++;
    for (size_t gi = 0; gi < ng; gi++)
        goff[gi + 1] += goff[gi];
    for (size_t i = 0; i < in->nseries; i++)
        gmem[goff[grp[i]] + gfill[grp[i]]++] = i;
    if (op == QAGG_LIMIT_RATIO) { /* one warning with the extreme value, as Prometheus */
        double mx = -INFINITY, mn = INFINITY;
        for (size_t step = 0; step < g->n; step++) {
            mx = fmax(mx, param[step]);
            mn = fmin(mn, param[step]);
        }
        char vs[32];
        if (mx > 1)
            query_eval_annotate(c, true, n->u.agg.param->pos,
                                "ratio value should be between -1 and 1, got %s, capping to 1",
                                query_fmt_float(vs, sizeof(vs), mx));
        if (mn < -1)
            query_eval_annotate(c, true, n->u.agg.param->pos,
                                "ratio value should be between -1 and 1, got %s, capping to -1",
                                query_fmt_float(vs, sizeof(vs), mn));
    }
    if ((op == QAGG_TOPK || op == QAGG_BOTTOMK) &&
        (st = agg_topk_by_series(c, g, in, gmem, goff, ng, param, op == QAGG_TOPK, &res, rank)) !=
            SONDE_ERR_UNSUPPORTED) {
        if (st)
            return st;
        goto done;
    }
    for (size_t step = 0; step < g->n; step++) {
        if ((st = query_eval_tick(c)))
            return st;
        double p = param[step];
        if (op == QAGG_LIMIT_RATIO && isnan(p))
            return query_eval_fail(c, SONDE_ERR_INVALID, "Ratio value is NaN");
        if (op == QAGG_LIMIT_RATIO) /* Prometheus clamps (with a warning) */
            p = p < -1 ? -1 : p > 1 ? 1 : p;
        if (op != QAGG_LIMIT_RATIO && isnan(p))
            return query_eval_fail(c, SONDE_ERR_INVALID, "Parameter value is NaN");
        if (op != QAGG_LIMIT_RATIO && (p >= 9.2e18 || p <= -9.2e18))
            return query_eval_fail(c, SONDE_ERR_INVALID, "Scalar value %g overflows int64", p);
        int64_t k = op == QAGG_LIMIT_RATIO ? 0 : (int64_t)p;
        for (size_t gi = 0; gi < ng; gi++) {
            size_t nmem = 0;
            for (size_t gk = goff[gi]; gk < goff[gi + 1]; gk++) {
                const query_series *ms = &in->series[gmem[gk]];
                if (!ms->ok[step])
                    continue;
                if ((op == QAGG_TOPK || op == QAGG_BOTTOMK) && query_series_is_hist(ms, step)) {
                    query_eval_annotate(c, false, n->pos, "ignored histogram in %s aggregation",
                                        agg_name(op));
                    continue;
                }
                members[nmem++] = gmem[gk];
            }
            if (!nmem)
                continue;
            size_t nch = 0;
            if (op == QAGG_LIMITK) {
                for (size_t m = 0; m < nmem && (int64_t)nch < k; m++)
                    chosen[nch++] = members[m];
            } else if (op == QAGG_LIMIT_RATIO) {
                double r = p;
                for (size_t m = 0; m < nmem; m++) {
                    const query_series *s = &in->series[members[m]];
                    /* deterministic per label set: hash into [0,1) */
                    double h = (double)(series_labels_hash(s->labels, s->nlabels) >> 11) /
                               9007199254740992.0;
                    if ((r >= 0 && h < r) || (r < 0 && h >= 1 + r))
                        chosen[nch++] = members[m];
                }
            } else {
                /* Prometheus' exact algorithm (engine.go aggregationK with Go's
                 * container/heap), so that ties between equal values pick the
                 * same series: a heap of up to k members with the worst on top;
                 * a new member replaces the top only when strictly better. */
                bool top = op == QAGG_TOPK;
                for (size_t m = 0; m < nmem; m++) {
                    double v = in->series[members[m]].v[step];
                    if ((int64_t)nch < k) {
                        chosen[nch++] = members[m];
                        agg_heap_up(in, step, top, chosen, nch - 1);
                    } else if (nch > 0 && !isnan(v) &&
                               agg_heap_less(in->series[chosen[0]].v[step], v, top)) {
                        /* heap[0] < v, or heap[0] is NaN and v is not */
                        chosen[0] = members[m];
                        if (k > 1 && !agg_heap_down(in, step, top, chosen, nch))
                            agg_heap_up(in, step, top, chosen, 0);
                    }
                }
                agg_heap_sort(in, step, top, chosen, nch);
            }
            for (size_t m = 0; m < nch; m++) {
                const query_series *cs = &in->series[chosen[m]];
                if (!res.series[chosen[m]].ok &&
                    (st = query_series_alloc(c, g->n, &res.series[chosen[m]])))
                    return st;
                if (query_series_is_hist(cs, step) &&
                    (st =
                         query_series_set_hist(c, &res.series[chosen[m]], g->n, step, cs->h[step])))
                    return st;
                res.series[chosen[m]].ok[step] = 1;
                res.series[chosen[m]].v[step] = in->series[chosen[m]].v[step];
                rank[chosen[m]] = gi * (in->nseries + 1) + m;
            }
        }
    }
done:;
    size_t k = 0;
    for (size_t i = 0; i < res.nseries; i++) {
        bool any = false;
        for (size_t j = 0; j < g->n && !any && res.series[i].ok; j++)
            any = res.series[i].ok[j];
        if (any) {
            rank[k] = rank[i];
            res.series[k++] = res.series[i];
        }
    }
    res.nseries = k;
    if (g->n == 1 && (op == QAGG_TOPK || op == QAGG_BOTTOMK))
        agg_rank_sort(&res, rank);
    *out = res;
    return SONDE_OK;
}

static sonde_status agg_count_values(query_eval_ctx *c, const query_node *n, const qgrid *g,
                                     const query_value *in, sonde_label **glabels, uint32_t *gnl,
                                     const size_t *grp, const char *lname, query_value *out)
{
    qbuilder b;
    query_builder_init(&b, c, g->n);
    sonde_status st;
    size_t lnl = strlen(lname);
    buf tmp;
    buf_init(&tmp, 1 << 16);
    /* a series usually repeats its value across steps: reuse the output series */
    size_t *last_idx = query_eval_alloc(c, (in->nseries + 1) * sizeof(size_t));
    double *last_v = query_eval_alloc(c, (in->nseries + 1) * sizeof(double));
    if (!last_idx || !last_v) {
        buf_fini(&tmp);
        return SONDE_ERR_NOMEM;
    }
    for (size_t i = 0; i < in->nseries; i++)
        last_idx[i] = SIZE_MAX;
    for (size_t step = 0; step < g->n; step++) {
        if ((st = query_eval_tick(c)))
            goto out;
        for (size_t i = 0; i < in->nseries; i++) {
            const query_series *s = &in->series[i];
            if (!s->ok[step])
                continue;
            bool hist = query_series_is_hist(s, step);
            if (!hist && last_idx[i] != SIZE_MAX &&
                memcmp(&last_v[i], &s->v[step], sizeof(double)) == 0) {
                b.s[last_idx[i]].ok[step] = 1;
                b.s[last_idx[i]].v[step] += 1;
                continue;
            }
            buf_reset(&tmp);
            if (hist)
                query_hist_string(&tmp, s->h[step]);
            else
                buf_prom_float(&tmp, s->v[step]);
            char *val = arena_strndup(c->a, tmp.data ? tmp.data : "", tmp.len);
            sonde_label *l;
            uint32_t nl;
            size_t idx;
            if (!val) {
                st = SONDE_ERR_NOMEM;
                goto out;
            }
            if ((st = query_labels_set(c, glabels[grp[i]], gnl[grp[i]], lname, lnl, val, tmp.len,
                                       &l, &nl)) ||
                (st = query_builder_get(&b, l, nl, &idx)))
                goto out;
            b.s[idx].ok[step] = 1;
            b.s[idx].v[step] += 1;
            last_idx[i] = hist ? SIZE_MAX : idx;
            last_v[i] = s->v[step];
        }
    }
    query_builder_finish(&b, g, out);
    st = SONDE_OK;
out:
    buf_fini(&tmp);
    return st;
}

/*
 * Fused aggregation: sum/min/max/count/group of a range-vector function of a
 * matrix selector (`sum by (mode) (rate(x[5m]))`) takes each series' points
 * as the function computes them and adds them to its group at once, instead
 * of building the function's whole result and then walking it step by step.
 * The result is bit-identical: series come in the order the function's
 * result would hold them and groups are made in that order, so every
 * (group, step) sees the same additions in the same order. Only float
 * points: a series with histograms makes it fall back to the usual path.
 */
typedef struct fgroup {
    double *v, *c; /* value (min/max/sum), Kahan compensation, per step */
    uint32_t *n;   /* points per step */
} fgroup;

typedef struct fused {
    query_eval_ctx *c;
    const query_node *n;
    const qgrid *g;
    qbuilder groups;
    fgroup *fg;
    size_t cap;
} fused;

static bool fusable(const query_node *n)
{
    switch (n->u.agg.op) {
    case QAGG_SUM:
    case QAGG_MIN:
    case QAGG_MAX:
    case QAGG_COUNT:
    case QAGG_GROUP:
        break;
    default:
        return false;
    }
    if (n->u.agg.param || !query_range_streamable(n->u.agg.expr))
        return false;
    /* grouping on the name labels would see them dropped or not */
    static const char *const names[] = {"__name__", "__type__", "__unit__"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (query_strlist_has(&n->u.agg.grouping, names[i], strlen(names[i])))
            return false;
    return true;
}

static sonde_status fused_series(void *ctx, const sonde_label *l, uint32_t nl, bool drop_name,
                                 const double *v, const uint8_t *ok)
{
    fused *f = ctx;
    query_eval_ctx *c = f->c;
    const query_node *n = f->n;
    size_t steps = f->g->n;
    sonde_status st;
    /* the type and unit labels go with the name: such series take the usual path */
    if (series_labels_get(l, nl, "__type__", 8) || series_labels_get(l, nl, "__unit__", 8))
        return SONDE_ERR_UNSUPPORTED;
    sonde_label *gl;
    uint32_t gn;
    size_t gi;
    st = n->u.agg.without
             ? query_labels_filter(c, l, nl, &n->u.agg.grouping, false, true, &gl, &gn)
             : query_labels_filter(c, l, nl, &n->u.agg.grouping, true, false, &gl, &gn);
    if (st || (st = query_builder_get(&f->groups, gl, gn, &gi)))
        return st;
    /* without delayed removal the function's result lost __name__ already */
    f->groups.s[gi].drop_name |= c->delayed_name_removal && drop_name;
    if (gi >= f->cap) {
        size_t nc = f->cap ? f->cap * 2 : 16;
        fgroup *nf = arena_realloc(c->a, f->fg, f->cap * sizeof(*nf), nc * sizeof(*nf));
        if (!nf)
            return query_eval_fail(c, SONDE_ERR_NOMEM, "query exceeded its memory limit");
        memset(nf + f->cap, 0, (nc - f->cap) * sizeof(*nf));
        f->fg = nf;
        f->cap = nc;
    }
    fgroup *a = &f->fg[gi];
    if (!a->n && (!(a->v = query_eval_alloc(c, steps * sizeof(double))) ||
                  !(a->c = query_eval_alloc(c, steps * sizeof(double))) ||
                  !(a->n = query_eval_alloc(c, steps * sizeof(uint32_t)))))
        return SONDE_ERR_NOMEM;
    query_aggop op = n->u.agg.op;
    for (size_t j = 0; j < steps; j++) {
        if (!ok[j])
            continue;
        double x = v[j];
        if (!a->n[j]++) {
            a->v[j] = x;
            continue;
        }
        switch (op) {
        case QAGG_SUM:
            kahan_add(x, &a->v[j], &a->c[j]);
            break;
        case QAGG_MIN:
            if (a->v[j] > x || isnan(a->v[j]))
                a->v[j] = x;
            break;
        case QAGG_MAX:
            if (a->v[j] < x || isnan(a->v[j]))
                a->v[j] = x;
            break;
        default:
            break;
        }
    }
    return SONDE_OK;
}

/* *done false: not fused here (nothing was produced; evaluate as usual). */
static sonde_status agg_fused(query_eval_ctx *c, const query_node *n, const qgrid *g,
                              query_value *out, bool *done)
{
    *done = false;
    if (!fusable(n))
        return SONDE_OK;
    fused f = {.c = c, .n = n, .g = g};
    query_builder_init(&f.groups, c, 1);
    query_range_stream rs = {fused_series, &f, false};
    size_t ann = c->nannots;
    sonde_status st = query_range_stream_eval(c, n->u.agg.expr, g, &rs);
    if (st == SONDE_ERR_UNSUPPORTED || (!st && rs.fallback)) {
        c->nannots = ann; /* the usual path makes them again, in its order */
        c->err[0] = 0;
        return SONDE_OK;
    }
    if (st)
        return st;
    size_t ng = f.groups.n;
    if ((st = query_vector_alloc(c, g, ng, out)))
        return st;
    query_aggop op = n->u.agg.op;
    for (size_t i = 0; i < ng; i++) {
        query_series *o = &out->series[i];
        const fgroup *a = &f.fg[i];
        o->labels = f.groups.s[i].labels;
        o->nlabels = f.groups.s[i].nlabels;
        o->drop_name = f.groups.s[i].drop_name;
        if ((st = query_series_alloc(c, g->n, o)))
            return st;
        for (size_t j = 0; j < g->n; j++) {
            if (!a->n[j])
                continue;
            double r;
            switch (op) {
            case QAGG_SUM:
                r = isinf(a->v[j]) ? a->v[j] : a->v[j] + a->c[j];
                break;
            case QAGG_COUNT:
                r = (double)a->n[j];
                break;
            case QAGG_GROUP:
                r = 1;
                break;
            default:
                r = a->v[j];
                break;
            }
            o->ok[j] = 1;
            o->v[j] = r;
        }
    }
    query_value_drop_empty(out, g);
    *done = true;
    return SONDE_OK;
}

sonde_status query_agg_eval(query_eval_ctx *c, const query_node *n, const qgrid *g,
                            query_value *out)
{
    query_value in, pv;
    sonde_status st;
    query_aggop op = n->u.agg.op;
    bool done;
    if ((st = agg_fused(c, n, g, out, &done)) || done)
        return st;
    memset(&pv, 0, sizeof(pv));
    if (n->u.agg.param && (st = query_eval_node(c, n->u.agg.param, g, &pv)))
        return st;
    if ((st = query_eval_node(c, n->u.agg.expr, g, &in)))
        return st;
    /* groups */
    qbuilder groups;
    query_builder_init(&groups, c, 1);
    size_t *grp = query_eval_alloc(c, (in.nseries + 1) * sizeof(size_t));
    if (!grp)
        return SONDE_ERR_NOMEM;
    const char *cv_label = NULL;
    if (op == QAGG_COUNT_VALUES) {
        cv_label = pv.str;
        if (!cv_label || !cv_label[0] || !utf8_valid(cv_label, pv.str_len)) {
            char q[256];
            return query_eval_fail(
                c, SONDE_ERR_INVALID, "invalid label name %s",
                query_go_quote(q, sizeof(q), cv_label ? cv_label : "", cv_label ? pv.str_len : 0));
        }
    }
    for (size_t i = 0; i < in.nseries; i++) {
        sonde_label *l;
        uint32_t nl;
        const query_series *s = &in.series[i];
        st = n->u.agg.without ? query_labels_filter(c, s->labels, s->nlabels, &n->u.agg.grouping,
                                                    false, true, &l, &nl)
                              : query_labels_filter(c, s->labels, s->nlabels, &n->u.agg.grouping,
                                                    true, false, &l, &nl);
        if (st || (st = query_builder_get(&groups, l, nl, &grp[i])))
            return st;
    }
    size_t ng = groups.n;
    if (op == QAGG_TOPK || op == QAGG_BOTTOMK || op == QAGG_LIMITK || op == QAGG_LIMIT_RATIO)
        return agg_select_k(c, n, g, &in, grp, ng, pv.scalar, out);
    if (op == QAGG_COUNT_VALUES) {
        sonde_label **gl = query_eval_alloc(c, (ng + 1) * sizeof(*gl));
        uint32_t *gn = query_eval_alloc(c, (ng + 1) * sizeof(*gn));
        if (!gl || !gn)
            return SONDE_ERR_NOMEM;
        for (size_t i = 0; i < ng; i++) {
            gl[i] = groups.s[i].labels;
            gn[i] = groups.s[i].nlabels;
        }
        return agg_count_values(c, n, g, &in, gl, gn, grp, cv_label, out);
    }
    if ((st = query_vector_alloc(c, g, ng, out)))
        return st;
    for (size_t i = 0; i < in.nseries; i++) /* `by (__name__)` keeps a pending drop */
        groups.s[grp[i]].drop_name |= in.series[i].drop_name;
    for (size_t i = 0; i < ng; i++) {
        out->series[i].labels = groups.s[i].labels;
        out->series[i].nlabels = groups.s[i].nlabels;
        out->series[i].drop_name = groups.s[i].drop_name;
        if ((st = query_series_alloc(c, g->n, &out->series[i])))
            return st;
    }
    aggacc *acc = query_eval_alloc(c, (ng + 1) * sizeof(aggacc));
    double **qv = NULL;
    size_t *qn = NULL;
    if (!acc)
        return SONDE_ERR_NOMEM;
    if (op == QAGG_QUANTILE) {
        qv = query_eval_alloc(c, (ng + 1) * sizeof(double *));
        qn = query_eval_alloc(c, (ng + 1) * sizeof(size_t));
        size_t *sz = query_eval_alloc(c, (ng + 1) * sizeof(size_t));
        if (!qv || !qn || !sz)
            return SONDE_ERR_NOMEM;
        for (size_t i = 0; i < in.nseries; i++)
            sz[grp[i]]++;
        for (size_t i = 0; i < ng; i++)
            if (!(qv[i] = query_eval_alloc(c, (sz[i] + 1) * sizeof(double))))
                return SONDE_ERR_NOMEM;
    }
    arena *htmp = NULL; /* histogram sums of the current step */
    for (size_t step = 0; step < g->n; step++) {
        if ((st = query_eval_tick(c))) {
            arena_destroy(htmp);
            return st;
        }
        if (htmp)
            arena_reset(htmp);
        memset(acc, 0, ng * sizeof(aggacc));
        if (qn)
            memset(qn, 0, ng * sizeof(size_t));
        for (size_t i = 0; i < in.nseries; i++) {
            const query_series *s = &in.series[i];
            if (!s->ok[step])
                continue;
            aggacc *a = &acc[grp[i]];
            double x = s->v[step];
            if (query_series_is_hist(s, step)) {
                switch (op) {
                case QAGG_SUM:
                case QAGG_AVG:
                    if (!a->seen) {
                        a->seen = true;
                        a->n = 1;
                    } else {
                        a->n++;
                    }
                    /* sums live in a per-step scratch; results are copied out */
                    if (!htmp && !(htmp = query_scratch_create(c)))
                        return query_eval_fail(c, SONDE_ERR_NOMEM, "out of memory");
                    if (!a->incompatible && (st = agg_hist_add(c, htmp, n, a, s, s->h[step]))) {
                        arena_destroy(htmp);
                        return st;
                    }
                    continue;
                case QAGG_COUNT:
                case QAGG_GROUP:
                    a->n = a->seen ? a->n + 1 : 1;
                    a->seen = true;
                    continue;
                default:
                    query_eval_annotate(c, false, n->u.agg.expr->pos,
                                        "ignored histogram in %s aggregation", agg_name(op));
                    continue;
                }
            }
            if (op == QAGG_SUM || op == QAGG_AVG)
                a->has_float = true;
            if (!a->seen) {
                a->seen = true;
                a->n = 1;
                a->v = x;
                a->c = 0;
                a->mean = x;
                if (op == QAGG_STDDEV || op == QAGG_STDVAR)
                    a->v = isnan(x) || isinf(x) ? NAN : 0;
                if (op == QAGG_QUANTILE)
                    qv[grp[i]][qn[grp[i]]++] = x;
                continue;
            }
            a->n++;
            switch (op) {
            case QAGG_SUM:
                kahan_add(x, &a->v, &a->c);
                break;
            case QAGG_AVG:
                if (!a->incremental) {
                    double ns = a->v + x;
                    if (isinf(ns) && !isinf(x) && !isinf(a->v)) {
                        a->incremental = true;
                        a->mean = a->v / (double)(a->n - 1) + a->c / (double)(a->n - 1);
                        a->c = 0;
                    } else {
                        kahan_add(x, &a->v, &a->c);
                        break;
                    }
                }
                if (isinf(a->mean)) {
                    if (isinf(x) && (a->mean > 0) == (x > 0))
                        break;
                    if (!isinf(x) && !isnan(x))
                        break;
                }
                a->mean += x / (double)a->n - a->mean / (double)a->n;
                break;
            case QAGG_COUNT:
            case QAGG_GROUP:
                break;
            case QAGG_MIN:
                if (a->v > x || isnan(a->v))
                    a->v = x;
                break;
            case QAGG_MAX:
                if (a->v < x || isnan(a->v))
                    a->v = x;
                break;
            case QAGG_STDDEV:
            case QAGG_STDVAR: {
                double d = x - a->mean;
                a->mean += d / (double)a->n;
                a->v += d * (x - a->mean);
                break;
            }
            case QAGG_QUANTILE:
                qv[grp[i]][qn[grp[i]]++] = x;
                break;
            default:
                break;
            }
        }
        for (size_t gi = 0; gi < ng; gi++) {
            aggacc *a = &acc[gi];
            if (!a->seen)
                continue;
            double r;
            if ((op == QAGG_SUM || op == QAGG_AVG) && a->has_hist) {
                if (a->has_float) {
                    query_eval_annotate(c, true, n->u.agg.expr->pos,
                                        "encountered a mix of histograms and floats for "
                                        "aggregation");
                    continue;
                }
                sonde_fhist *hr;
                if (a->incompatible || query_hist_acc_result(c->a, &a->hacc, &hr) || !hr)
                    continue;
                if (a->hacc.reset_seen && a->hacc.not_reset_seen)
                    query_eval_annotate(c, true, n->u.agg.expr->pos,
                                        "conflicting counter resets during histogram "
                                        "aggregation");
                if ((st = query_series_set_hist(c, &out->series[gi], g->n, step, hr))) {
                    arena_destroy(htmp);
                    return st;
                }
                continue;
            }
            switch (op) {
            case QAGG_SUM:
                r = isinf(a->v) ? a->v : a->v + a->c;
                break;
            case QAGG_AVG:
                r = a->incremental ? a->mean : (isinf(a->v) ? a->v : (a->v + a->c)) / (double)a->n;
                if (a->n == 1)
                    r = a->v;
                break;
            case QAGG_COUNT:
                r = (double)a->n;
                break;
            case QAGG_GROUP:
                r = 1;
                break;
            case QAGG_STDVAR:
                r = a->v / (double)a->n;
                break;
            case QAGG_STDDEV:
                r = sqrt(a->v / (double)a->n);
                break;
            case QAGG_QUANTILE:
                if (!(pv.scalar[step] >= 0 && pv.scalar[step] <= 1)) {
                    char qs[32];
                    query_eval_annotate(c, true, n->u.agg.param->pos,
                                        "quantile value should be between 0 and 1, got %s",
                                        query_fmt_float(qs, sizeof(qs), pv.scalar[step]));
                }
                r = query_quantile(pv.scalar[step], qv[gi], qn[gi]);
                break;
            default:
                r = a->v;
                break;
            }
            out->series[gi].ok[step] = 1;
            out->series[gi].v[step] = r;
        }
    }
    arena_destroy(htmp);
    query_value_drop_empty(out, g);
    return SONDE_OK;
}
