/*
 * labels.c - label-set helpers for the evaluator and the series builder
 * (qbuilder: merges points into series by label set, with an open-addressing
 * table keyed by series_labels_hash).
 *
 * Label sets are canonical (sorted by name, unique). Helpers return new
 * arrays in the query arena and share the label strings of their input.
 * Threads: one query on one thread.
 */
#include <stdio.h>
#include <string.h>

#include "eval_internal.h"

int query_labels_cmp(const sonde_label *a, uint32_t na, const sonde_label *b, uint32_t nb)
{
    uint32_t n = na < nb ? na : nb;
    for (uint32_t i = 0; i < n; i++) {
        int c = series_label_cmp(&a[i], &b[i]);
        if (c)
            return c;
    }
    return na < nb ? -1 : na > nb ? 1 : 0;
}

bool query_strlist_has(const query_strlist *l, const char *s, size_t n)
{
    for (size_t i = 0; i < l->n; i++)
        if (strlen(l->v[i]) == n && memcmp(l->v[i], s, n) == 0)
            return true;
    return false;
}

/* The metric name and, as in Prometheus 3 (DropReserved), the __type__ and
 * __unit__ metadata labels go together: dropping the name drops all three. */
static bool is_name_or_meta(const sonde_label *l)
{
    return (l->name_len == 8 &&
            (!memcmp(l->name, "__name__", 8) || !memcmp(l->name, "__type__", 8) ||
             !memcmp(l->name, "__unit__", 8)));
}

static bool is_name(const sonde_label *l)
{
    return l->name_len == 8 && !memcmp(l->name, "__name__", 8);
}

sonde_status query_labels_drop_name(query_eval_ctx *c, const sonde_label *l, uint32_t n,
                                    sonde_label **out, uint32_t *nout)
{
    sonde_label *o = query_eval_alloc(c, (n ? n : 1) * sizeof(*o));
    if (!o)
        return SONDE_ERR_NOMEM;
    uint32_t k = 0;
    for (uint32_t i = 0; i < n; i++)
        if (!is_name_or_meta(&l[i]))
            o[k++] = l[i];
    *out = o;
    *nout = k;
    return SONDE_OK;
}

sonde_status query_labels_filter(query_eval_ctx *c, const sonde_label *l, uint32_t n,
                                 const query_strlist *names, bool keep, bool drop_name,
                                 sonde_label **out, uint32_t *nout)
{
    sonde_label *o = query_eval_alloc(c, (n ? n : 1) * sizeof(*o));
    if (!o)
        return SONDE_ERR_NOMEM;
    uint32_t k = 0;
    for (uint32_t i = 0; i < n; i++) {
        bool listed = query_strlist_has(names, l[i].name, l[i].name_len);
        if (keep ? listed : (!listed && !(drop_name && is_name(&l[i]))))
            o[k++] = l[i];
    }
    *out = o;
    *nout = k;
    return SONDE_OK;
}

sonde_status query_labels_set(query_eval_ctx *c, const sonde_label *l, uint32_t n, const char *name,
                              size_t nlen, const char *val, size_t vlen, sonde_label **out,
                              uint32_t *nout)
{
    sonde_label *o = query_eval_alloc(c, (n + 1) * sizeof(*o));
    if (!o)
        return SONDE_ERR_NOMEM;
    sonde_label nl = {name, val, (uint32_t)nlen, (uint32_t)vlen};
    uint32_t k = 0;
    bool done = false;
    for (uint32_t i = 0; i < n; i++) {
        int cmp = 1;
        if (!done) {
            size_t m = l[i].name_len < nlen ? l[i].name_len : nlen;
            cmp = memcmp(l[i].name, name, m);
            if (!cmp)
                cmp = l[i].name_len < nlen ? -1 : l[i].name_len > nlen ? 1 : 0;
        }
        if (!done && cmp >= 0) {
            if (vlen)
                o[k++] = nl;
            done = true;
            if (cmp == 0)
                continue;
        }
        o[k++] = l[i];
    }
    if (!done && vlen)
        o[k++] = nl;
    *out = o;
    *nout = k;
    return SONDE_OK;
}

void query_labels_fmt(char *out, size_t outlen, const sonde_label *l, uint32_t n)
{
    size_t k = 0;
    k += (size_t)snprintf(out + k, outlen - k, "{");
    for (uint32_t i = 0; i < n && k < outlen; i++)
        k += (size_t)snprintf(out + k, outlen - k, "%s%.*s=\"%.*s\"", i ? ", " : "",
                              (int)l[i].name_len, l[i].name, (int)l[i].value_len, l[i].value);
    if (k < outlen)
        snprintf(out + k, outlen - k, "}");
}

/* ---- builder ---- */

sonde_status query_builder_init(qbuilder *b, query_eval_ctx *c, size_t nsteps)
{
    memset(b, 0, sizeof(*b));
    b->c = c;
    b->nsteps = nsteps;
    return SONDE_OK;
}

static sonde_status qb_grow(qbuilder *b)
{
    size_t nc = b->cap ? b->cap * 2 : 16;
    query_series *ns = arena_realloc(b->c->a, b->s, b->cap * sizeof(*ns), nc * sizeof(*ns));
    uint64_t *nh =
        ns ? arena_realloc(b->c->a, b->hash, b->cap * sizeof(*nh), nc * sizeof(*nh)) : NULL;
    size_t nslots = nc * 2;
    uint32_t *slots = nh ? arena_calloc(b->c->a, nslots, sizeof(*slots)) : NULL;
    if (!slots)
        return query_eval_fail(b->c, SONDE_ERR_NOMEM, "out of memory");
    b->s = ns;
    b->hash = nh;
    b->cap = nc;
    b->slots = slots;
    b->nslots = nslots;
    for (size_t i = 0; i < b->n; i++) {
        size_t j = b->hash[i] & (nslots - 1);
        while (slots[j])
            j = (j + 1) & (nslots - 1);
        slots[j] = (uint32_t)(i + 1);
    }
    return SONDE_OK;
}

sonde_status query_builder_get(qbuilder *b, const sonde_label *l, uint32_t n, size_t *idx)
{
    uint64_t h = series_labels_hash(l, n);
    if (b->nslots) {
        size_t j = h & (b->nslots - 1);
        while (b->slots[j]) {
            size_t i = b->slots[j] - 1;
            if (b->hash[i] == h && query_labels_cmp(b->s[i].labels, b->s[i].nlabels, l, n) == 0) {
                *idx = i;
                return SONDE_OK;
            }
            j = (j + 1) & (b->nslots - 1);
        }
    }
    if (b->n == b->cap) {
        sonde_status st = qb_grow(b);
        if (st)
            return st;
    }
    query_series *s = &b->s[b->n];
    memset(s, 0, sizeof(*s));
    sonde_status st = query_series_alloc(b->c, b->nsteps, s);
    if (st)
        return st;
    s->labels = (sonde_label *)l;
    s->nlabels = n;
    b->hash[b->n] = h;
    size_t j = h & (b->nslots - 1);
    while (b->slots[j])
        j = (j + 1) & (b->nslots - 1);
    b->slots[j] = (uint32_t)(b->n + 1);
    *idx = b->n++;
    return SONDE_OK;
}

sonde_status query_builder_set(qbuilder *b, size_t idx, size_t step, double v)
{
    query_series *s = &b->s[idx];
    if (s->ok[step])
        return query_eval_fail(b->c, SONDE_ERR_INVALID,
                               "vector cannot contain metrics with the same labelset");
    s->ok[step] = 1;
    s->v[step] = v;
    return SONDE_OK;
}

sonde_status query_series_set_hist(query_eval_ctx *c, query_series *s, size_t nsteps, size_t step,
                                   sonde_fhist *h)
{
    if (!s->h && !(s->h = query_eval_alloc(c, nsteps * sizeof(*s->h))))
        return SONDE_ERR_NOMEM;
    s->h[step] = h;
    s->ok[step] = 1;
    s->v[step] = 0;
    return SONDE_OK;
}

sonde_status query_builder_set_hist(qbuilder *b, size_t idx, size_t step, sonde_fhist *h)
{
    query_series *s = &b->s[idx];
    if (s->ok[step])
        return query_eval_fail(b->c, SONDE_ERR_INVALID,
                               "vector cannot contain metrics with the same labelset");
    return query_series_set_hist(b->c, s, b->nsteps, step, h);
}

sonde_status query_builder_copy(qbuilder *b, size_t idx, size_t step, const query_series *from)
{
    if (from->h && from->h[step])
        return query_builder_set_hist(b, idx, step, from->h[step]);
    return query_builder_set(b, idx, step, from->v[step]);
}

void query_value_drop_hists(query_value *v)
{
    if (v->type != QUERY_TYPE_VECTOR)
        return;
    for (size_t i = 0; i < v->nseries; i++) {
        query_series *s = &v->series[i];
        if (!s->h)
            continue;
        for (size_t j = 0; j < v->nsteps; j++)
            if (s->h[j]) {
                s->h[j] = NULL;
                s->ok[j] = 0;
            }
        s->h = NULL;
    }
}

bool query_value_has_hists(const query_value *v)
{
    if (v->type != QUERY_TYPE_VECTOR)
        return false;
    for (size_t i = 0; i < v->nseries; i++)
        if (v->series[i].h)
            for (size_t j = 0; j < v->nsteps; j++)
                if (v->series[i].h[j])
                    return true;
    return false;
}

void query_builder_finish(qbuilder *b, const qgrid *g, query_value *out)
{
    memset(out, 0, sizeof(*out));
    out->type = QUERY_TYPE_VECTOR;
    out->start = g->start;
    out->end = g->end;
    out->step = g->step;
    out->nsteps = g->n;
    out->series = b->s;
    out->nseries = b->n;
}

void query_value_drop_empty(query_value *out, const qgrid *g)
{
    size_t k = 0;
    for (size_t i = 0; i < out->nseries; i++) {
        bool any = false;
        for (size_t j = 0; j < g->n && !any; j++)
            any = out->series[i].ok[j];
        if (any)
            out->series[k++] = out->series[i];
    }
    out->nseries = k;
}
