/*
 * info.c - the experimental PromQL info() function (Prometheus 3,
 * promql-experimental-functions): enriches each series of an instant vector
 * with the data labels of "info" series (target_info by default) that share
 * its identifying labels (instance, job).
 *
 *   info(v)                         data labels of target_info
 *   info(v, {__name__=~".+_info"})  info series chosen by __name__ matchers
 *   info(v, {k8s_cluster=~".+"})    only these data labels; a matcher that
 *                                   does not match "" drops unmatched series
 *
 * Semantics (metric-join path of Prometheus' engine):
 * - base series whose name matches all info name matchers are info series
 *   themselves and pass through unenriched; with only negative name matchers
 *   the info series are restricted to names ending in _info;
 * - per step, the info series of one name that match a base series' instance
 *   and job (each compared only when present) are looked up with the usual
 *   lookback (at the @/offset time of the base's first selector); of several,
 *   the one with the newest sample wins, equal timestamps are an error;
 * - base labels win; two info metrics giving one label different values is
 *   the "conflicting label" error.
 *
 * Threads: the query's thread. Everything lives in the query arena except
 * the implicit regex, freed before returning.
 */
#include <string.h>

#include "eval_internal.h"

static const char *const id_labels[] = {"instance", "job"};
#define NID 2

/* The value sets of an identifying label over the base series. */
typedef struct info_idset {
    const sonde_label **v;
    size_t n;
} info_idset;

typedef struct info_series {
    const sonde_label *labels;
    uint32_t nlabels;
    const sonde_label *name, *id[NID];
    int64_t *ts; /* per step: sample timestamp, INT64_MIN when none */
} info_series;

typedef struct info_state {
    query_eval_ctx *c;
    const query_matcher *name_m[16], *data_m[32];
    size_t nname, ndata;
    bool ignore_by_name; /* name matchers decide which base series are info series */
    info_series *is;
    size_t nis;
} info_state;

static bool info_matcher_matches(const query_matcher *m, const char *v, size_t n)
{
    switch (m->op) {
    case QUERY_MATCH_EQ:
        return n == m->value_len && memcmp(v, m->value, n) == 0;
    case QUERY_MATCH_NEQ:
        return !(n == m->value_len && memcmp(v, m->value, n) == 0);
    case QUERY_MATCH_RE:
        return query_regex_match(m->re, v, n);
    case QUERY_MATCH_NRE:
        return !query_regex_match(m->re, v, n);
    }
    return false;
}

static bool info_re_match(void *ctx, const char *v, size_t n)
{
    return query_regex_match(ctx, v, n);
}

static bool info_idset_match(void *ctx, const char *v, size_t n)
{
    const info_idset *set = ctx;
    for (size_t i = 0; i < set->n; i++)
        if (set->v[i]->value_len == n && memcmp(set->v[i]->value, v, n) == 0)
            return true;
    return false;
}

static const sonde_label *info_label(const sonde_label *l, uint32_t n, const char *name)
{
    return series_labels_get(l, n, name, strlen(name));
}

static bool info_is_info_series(const info_state *w, const query_series *s)
{
    if (!w->ignore_by_name)
        return false;
    const sonde_label *name = info_label(s->labels, s->nlabels, "__name__");
    for (size_t i = 0; i < w->nname; i++)
        if (!info_matcher_matches(w->name_m[i], name ? name->value : "",
                                  name ? name->value_len : 0))
            return false;
    return true;
}

/* The @ / offset of the first selector in the base expression (subquery
 * offsets on the way add up): the info series are looked up at that time. */
static void info_ref_time(const query_eval_ctx *c, const query_node *n, int64_t *offset,
                          const query_modifiers **at)
{
    while (n) {
        const query_modifiers *m = NULL;
        const query_node *next = NULL;
        switch (n->kind) {
        case QN_VECTOR_SEL:
            m = &n->u.vs.mod;
            break;
        case QN_MATRIX_SEL:
            m = &n->u.ms.vs->u.vs.mod;
            break;
        case QN_SUBQUERY:
            m = &n->u.sq.mod;
            next = n->u.sq.expr;
            break;
        case QN_CALL:
            for (size_t i = 0; i < n->u.call.nargs && !next; i++)
                if (query_node_type(n->u.call.args[i]) != QUERY_TYPE_STRING &&
                    n->u.call.args[i]->kind != QN_NUMBER)
                    next = n->u.call.args[i];
            break;
        case QN_AGG:
            next = n->u.agg.expr;
            break;
        case QN_BINARY:
            next = n->u.bin.lhs;
            break;
        case QN_UNARY:
            next = n->u.un.expr;
            break;
        case QN_PAREN:
            next = n->u.paren.expr;
            break;
        default:
            break;
        }
        if (m) {
            *offset += m->offset_ms;
            if (m->at != QUERY_AT_NONE)
                *at = m;
        }
        if (n->kind == QN_VECTOR_SEL || n->kind == QN_MATRIX_SEL)
            return;
        n = next;
    }
    (void)c;
}

static int64_t info_step_time(const query_eval_ctx *c, const qgrid *g, size_t i, int64_t offset,
                              const query_modifiers *at)
{
    int64_t t = qgrid_t(g, i);
    if (at && at->at == QUERY_AT_TS)
        t = at->at_ms;
    else if (at && at->at == QUERY_AT_START)
        t = c->query_start;
    else if (at && at->at == QUERY_AT_END)
        t = c->query_end;
    return t - offset;
}

/* Selects the info series and finds, per step, their newest sample within
 * the lookback of the reference time. */
static sonde_status info_load(info_state *w, const query_node *base_expr, const query_value *base,
                              const qgrid *g)
{
    query_eval_ctx *c = w->c;
    info_idset ids[NID];
    memset(ids, 0, sizeof(ids));
    for (size_t k = 0; k < NID; k++) {
        ids[k].v = query_eval_alloc(c, (base->nseries + 1) * sizeof(*ids[k].v));
        if (!ids[k].v)
            return SONDE_ERR_NOMEM;
    }
    bool any = false;
    for (size_t i = 0; i < base->nseries; i++) {
        if (info_is_info_series(w, &base->series[i]))
            continue;
        for (size_t k = 0; k < NID; k++) {
            const sonde_label *l =
                info_label(base->series[i].labels, base->series[i].nlabels, id_labels[k]);
            if (l && l->value_len) {
                ids[k].v[ids[k].n++] = l;
                any = true;
            }
        }
    }
    if (!any)
        return SONDE_OK;
    storage_matcher m[64];
    size_t nm = 0;
    for (size_t k = 0; k < NID; k++)
        if (ids[k].n)
            m[nm++] = (storage_matcher){
                id_labels[k], strlen(id_labels[k]), STORAGE_MATCH_RE, NULL, 0, info_idset_match,
                &ids[k]};
    const query_matcher *all[48];
    size_t na = 0;
    for (size_t i = 0; i < w->nname; i++)
        all[na++] = w->name_m[i];
    for (size_t i = 0; i < w->ndata; i++)
        all[na++] = w->data_m[i];
    for (size_t i = 0; i < na; i++) {
        const query_matcher *qm = all[i];
        m[nm] = (storage_matcher){
            qm->name, qm->name_len, (storage_match_op)qm->op, qm->value, qm->value_len, NULL, NULL};
        if (qm->re) {
            m[nm].re_match = info_re_match;
            m[nm].re_ctx = qm->re;
        }
        nm++;
    }
    int64_t offset = 0;
    const query_modifiers *at = NULL;
    info_ref_time(c, base_expr, &offset, &at);
    int64_t tmin = INT64_MAX, tmax = INT64_MIN;
    for (size_t i = 0; i < g->n; i++) {
        int64_t t = info_step_time(c, g, i, offset, at);
        tmin = t < tmin ? t : tmin;
        tmax = t > tmax ? t : tmax;
    }
    int64_t mint = tmin - c->lookback_ms + 1;
    storage_series_ref *refs;
    size_t nrefs;
    sonde_status st = c->src.select(c->src.ctx, m, nm, mint, tmax, c->a, &refs, &nrefs);
    if (st)
        return query_eval_fail(c, st, "selecting info series failed");
    w->is = query_eval_alloc(c, (nrefs + 1) * sizeof(*w->is));
    if (!w->is)
        return SONDE_ERR_NOMEM;
    for (size_t r = 0; r < nrefs; r++) {
        sonde_sample *s;
        size_t n;
        if ((st = c->src.read(c->src.ctx, refs[r].id, mint, tmax, c->a, &s, &n)))
            return query_eval_fail(c, st, "reading info series failed");
        if (c->src.read_hist) {
            sonde_hsample *hs;
            size_t nh;
            if ((st = c->src.read_hist(c->src.ctx, refs[r].id, mint, tmax, c->a, &hs, &nh)))
                return query_eval_fail(c, st, "reading info series failed");
            if (nh)
                return query_eval_fail(c, SONDE_ERR_INVALID, "info sample should be float");
        }
        c->samples_loaded += n;
        info_series *x = &w->is[w->nis++];
        x->labels = refs[r].labels;
        x->nlabels = refs[r].nlabels;
        x->name = info_label(x->labels, x->nlabels, "__name__");
        for (size_t k = 0; k < NID; k++)
            x->id[k] = info_label(x->labels, x->nlabels, id_labels[k]);
        x->ts = query_eval_alloc(c, g->n * sizeof(int64_t));
        if (!x->ts)
            return SONDE_ERR_NOMEM;
        size_t j = 0;
        for (size_t i = 0; i < g->n; i++) {
            int64_t t = info_step_time(c, g, i, offset, at);
            x->ts[i] = INT64_MIN;
            while (j + 1 < n && s[j + 1].ts_ms <= t)
                j++;
            if (n && s[j].ts_ms <= t && s[j].ts_ms > t - c->lookback_ms &&
                !series_value_is_stale(s[j].value))
                x->ts[i] = s[j].ts_ms;
        }
    }
    return query_eval_account(c, 0);
}

static bool info_same_value(const sonde_label *a, const sonde_label *b)
{
    if (!a || !b)
        return !a && !b;
    return a->value_len == b->value_len && memcmp(a->value, b->value, a->value_len) == 0;
}

static bool info_data_wanted(const info_state *w, const sonde_label *l)
{
    if (!w->ndata)
        return true;
    for (size_t i = 0; i < w->ndata; i++)
        if (w->data_m[i]->name_len == l->name_len &&
            memcmp(w->data_m[i]->name, l->name, l->name_len) == 0)
            return true;
    return false;
}

/* Adds the data labels of info series x to (l, nl); conflicts with labels
 * that another info series added are errors, base labels win. */
static sonde_status info_add_labels(info_state *w, const query_series *b, const info_series *x,
                                    sonde_label **l, uint32_t *nl)
{
    for (uint32_t i = 0; i < x->nlabels; i++) {
        const sonde_label *il = &x->labels[i];
        if (il == x->name || !info_data_wanted(w, il))
            continue;
        const sonde_label *have = series_labels_get(*l, *nl, il->name, il->name_len);
        if (have && !series_labels_get(b->labels, b->nlabels, il->name, il->name_len) &&
            !info_same_value(have, il))
            return query_eval_fail(w->c, SONDE_ERR_INVALID, "conflicting label: %.*s",
                                   (int)il->name_len, il->name);
        if (have)
            continue;
        sonde_status st = query_labels_set(w->c, *l, *nl, il->name, il->name_len, il->value,
                                           il->value_len, l, nl);
        if (st)
            return st;
    }
    return SONDE_OK;
}

static bool info_base_matches(const query_series *b, const info_series *x)
{
    for (size_t k = 0; k < NID; k++)
        if (!info_same_value(info_label(b->labels, b->nlabels, id_labels[k]), x->id[k]))
            return false;
    return true;
}

/* The enriched labels of base series b at step i; *keep false: dropped. */
static sonde_status info_enrich(info_state *w, const query_series *b, size_t i, sonde_label **l,
                                uint32_t *nl, bool *keep)
{
    *l = b->labels;
    *nl = b->nlabels;
    bool matched = false;
    for (size_t a = 0; a < w->nis; a++) {
        const info_series *x = &w->is[a];
        if (x->ts[i] == INT64_MIN || !info_base_matches(b, x))
            continue;
        /* the newest of the matching series of this info metric, once per name */
        bool first = true, newest = true;
        for (size_t o = 0; o < w->nis && newest; o++) {
            const info_series *y = &w->is[o];
            if (o == a || y->ts[i] == INT64_MIN || !info_same_value(x->name, y->name) ||
                !info_base_matches(b, y))
                continue;
            if (y->ts[i] == x->ts[i]) {
                if (o < a)
                    first = false;
                else
                    return query_eval_fail(w->c, SONDE_ERR_INVALID,
                                           "found duplicate series for info metric %.*s",
                                           (int)x->name->value_len, x->name->value);
            }
            if (y->ts[i] > x->ts[i])
                newest = false;
        }
        if (!newest || !first)
            continue;
        sonde_status st = info_add_labels(w, b, x, l, nl);
        if (st)
            return st;
        matched = true;
    }
    *keep = true;
    if (!matched)
        for (size_t d = 0; d < w->ndata; d++)
            if (!info_matcher_matches(w->data_m[d], "", 0))
                *keep = false;
    return SONDE_OK;
}

/* Sorts the selector's matchers into name and data matchers. */
static sonde_status info_matchers(info_state *w, const query_node *sel, query_matcher *deflt,
                                  query_regex **implicit)
{
    if (!sel) {
        *deflt = (query_matcher){"__name__", 8, QUERY_MATCH_EQ, "target_info", 11, NULL};
        w->name_m[w->nname++] = deflt;
        w->ignore_by_name = true;
        return SONDE_OK;
    }
    bool positive = false;
    for (size_t i = 0; i < sel->u.vs.nm; i++) {
        const query_matcher *m = &sel->u.vs.m[i];
        bool is_name = m->name_len == 8 && !memcmp(m->name, "__name__", 8);
        if (is_name && w->nname < 15) {
            w->name_m[w->nname++] = m;
            positive |= m->op == QUERY_MATCH_EQ || m->op == QUERY_MATCH_RE;
        } else if (!is_name && w->ndata < 32) {
            w->data_m[w->ndata++] = m;
        }
    }
    if (!w->nname) {
        *deflt = (query_matcher){"__name__", 8, QUERY_MATCH_EQ, "target_info", 11, NULL};
        w->name_m[w->nname++] = deflt;
        return SONDE_OK;
    }
    w->ignore_by_name = true;
    if (!positive) {
        char err[128];
        *implicit = query_regex_compile(".+_info", 7, err, sizeof(err));
        if (!*implicit)
            return query_eval_fail(w->c, SONDE_ERR_INTERNAL, "%s", err);
        *deflt = (query_matcher){"__name__", 8, QUERY_MATCH_RE, ".+_info", 7, *implicit};
        w->name_m[w->nname++] = deflt;
    }
    return SONDE_OK;
}

static sonde_status info_combine(info_state *w, const query_value *base, const qgrid *g,
                                 query_value *out)
{
    qbuilder b;
    query_builder_init(&b, w->c, g->n);
    sonde_status st;
    for (size_t s = 0; s < base->nseries; s++) {
        const query_series *bs = &base->series[s];
        bool ignored = info_is_info_series(w, bs);
        for (size_t i = 0; i < g->n; i++) {
            if (!bs->ok[i])
                continue;
            sonde_label *l = bs->labels;
            uint32_t nl = bs->nlabels;
            bool keep = true;
            size_t idx;
            if (!ignored && (st = info_enrich(w, bs, i, &l, &nl, &keep)))
                return st;
            if (!keep)
                continue;
            if ((st = query_builder_get(&b, l, nl, &idx)) ||
                (st = query_builder_copy(&b, idx, i, bs)))
                return st;
            b.s[idx].drop_name |= bs->drop_name;
        }
        if ((st = query_eval_tick(w->c)))
            return st;
    }
    query_builder_finish(&b, g, out);
    return SONDE_OK;
}

sonde_status query_info_eval(query_eval_ctx *c, const query_node *n, const qgrid *g,
                             query_value *out)
{
    info_state w;
    memset(&w, 0, sizeof(w));
    w.c = c;
    query_value base;
    sonde_status st = query_eval_node(c, n->u.call.args[0], g, &base);
    if (st)
        return st;
    query_matcher deflt;
    query_regex *implicit = NULL;
    const query_node *sel = n->u.call.nargs > 1 ? n->u.call.args[1] : NULL;
    while (sel && sel->kind == QN_PAREN)
        sel = sel->u.paren.expr;
    if (sel && sel->kind != QN_VECTOR_SEL)
        return query_eval_fail(c, SONDE_ERR_INVALID,
                               "expected label selectors as the second argument of info()");
    if (!(st = info_matchers(&w, sel, &deflt, &implicit)) &&
        !(st = info_load(&w, n->u.call.args[0], &base, g)))
        st = info_combine(&w, &base, g, out);
    query_regex_free(implicit);
    return st;
}
