/*
 * memsrc.h - an in-memory query_source for evaluator unit tests, loaded with
 * the PromQL test-script notation: mem_load(src, "m{a=\"b\"}", 5m, "0+10x10").
 * Header-only (included by test_*.c files of this folder).
 */
#ifndef SONDE_TEST_QUERY_MEMSRC_H
#define SONDE_TEST_QUERY_MEMSRC_H

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/parse.h"
#include "query/eval.h"
#include "query/promql.h"

#ifndef MEM_MAX_SERIES
#define MEM_MAX_SERIES 256
#endif
#ifndef MEM_MAX_SAMPLES
#define MEM_MAX_SAMPLES 4096
#endif

typedef struct memsrc {
    arena *a;
    storage_series_ref ser[MEM_MAX_SERIES];
    sonde_sample *s[MEM_MAX_SERIES];
    size_t ns[MEM_MAX_SERIES];
    size_t n;
} memsrc;

static double mem_num(const char *s, size_t n)
{
    double v = NAN;
    if (!parse_f64(s, n, &v))
        fprintf(stderr, "memsrc: bad number %.*s\n", (int)n, s);
    return v;
}

/* Appends the samples of one value item ("1", "0+10x5", "_", "stale", "_x3"). */
static void mem_item(memsrc *m, size_t idx, const char *it, size_t n, int64_t interval, int64_t *t)
{
    sonde_sample *buf_s = m->s[idx];
    size_t *cnt = &m->ns[idx];
    const char *x = memchr(it, 'x', n);
    if (n == 1 && it[0] == '_') {
        *t += interval;
        return;
    }
    if (n == 5 && !memcmp(it, "stale", 5)) {
        union {
            uint64_t u;
            double d;
        } st = {SONDE_STALE_NAN_BITS};
        if (*cnt < MEM_MAX_SAMPLES)
            buf_s[(*cnt)++] = (sonde_sample){*t, st.d};
        *t += interval;
        return;
    }
    if (x && it[0] == '_') {
        uint64_t k = 0;
        parse_u64(x + 1, (size_t)(it + n - x - 1), &k);
        *t += (int64_t)k * interval;
        return;
    }
    if (!x) {
        if (*cnt < MEM_MAX_SAMPLES)
            buf_s[(*cnt)++] = (sonde_sample){*t, mem_num(it, n)};
        *t += interval;
        return;
    }
    uint64_t k = 0;
    parse_u64(x + 1, (size_t)(it + n - x - 1), &k);
    size_t split = 0;
    for (size_t i = 1; it + i < x; i++)
        if ((it[i] == '+' || it[i] == '-') && it[i - 1] != 'e' && it[i - 1] != 'E')
            split = i;
    double a = split ? mem_num(it, split) : mem_num(it, (size_t)(x - it));
    double b = 0;
    if (split) {
        b = mem_num(it + split + 1, (size_t)(x - it - split - 1));
        if (it[split] == '-')
            b = -b;
    }
    for (uint64_t i = 0; i <= k; i++) {
        if (*cnt < MEM_MAX_SAMPLES)
            buf_s[(*cnt)++] = (sonde_sample){*t, a};
        a += b;
        *t += interval;
    }
}

static void mem_load(memsrc *m, const char *sel, int64_t interval, const char *vals)
{
    query_node *root;
    query_parse_error err;
    if (query_parse(m->a, sel, strlen(sel), &root, &err) != SONDE_OK || m->n >= MEM_MAX_SERIES) {
        fprintf(stderr, "memsrc: bad series %s\n", sel);
        return;
    }
    size_t idx = m->n++;
    sonde_label *l = arena_calloc(m->a, root->u.vs.nm + 1, sizeof(*l));
    uint32_t nl = 0;
    for (size_t i = 0; i < root->u.vs.nm; i++) {
        const query_matcher *qm = &root->u.vs.m[i];
        if (!qm->value_len)
            continue;
        l[nl++] =
            (sonde_label){qm->name, qm->value, (uint32_t)qm->name_len, (uint32_t)qm->value_len};
    }
    series_labels_sort(l, nl);
    query_ast_release(root);
    m->ser[idx] = (storage_series_ref){idx + 1, l, nl};
    m->s[idx] = arena_calloc(m->a, MEM_MAX_SAMPLES, sizeof(sonde_sample));
    m->ns[idx] = 0;
    int64_t t = 0;
    const char *p = vals;
    while (*p) {
        while (*p == ' ' || *p == '\t')
            p++;
        const char *e = p;
        while (*e && *e != ' ' && *e != '\t')
            e++;
        if (e > p)
            mem_item(m, idx, p, (size_t)(e - p), interval, &t);
        p = e;
    }
}

static bool mem_matches(const storage_matcher *mt, const storage_series_ref *r)
{
    const sonde_label *l = series_labels_get(r->labels, r->nlabels, mt->name, mt->name_len);
    const char *v = l ? l->value : "";
    size_t vn = l ? l->value_len : 0;
    switch (mt->op) {
    case STORAGE_MATCH_EQ:
        return vn == mt->value_len && !memcmp(v, mt->value, vn);
    case STORAGE_MATCH_NEQ:
        return !(vn == mt->value_len && !memcmp(v, mt->value, vn));
    case STORAGE_MATCH_RE:
        return mt->re_match(mt->re_ctx, v, vn);
    case STORAGE_MATCH_NRE:
        return !mt->re_match(mt->re_ctx, v, vn);
    }
    return false;
}

static int mem_ref_cmp(const void *a, const void *b)
{
    const storage_series_ref *x = a, *y = b;
    return query_labels_cmp(x->labels, x->nlabels, y->labels, y->nlabels);
}

static sonde_status mem_select(void *ctx, const storage_matcher *mt, size_t nm, int64_t mint,
                               int64_t maxt, arena *a, storage_series_ref **out, size_t *n)
{
    memsrc *m = ctx;
    storage_series_ref *r = arena_calloc(a, m->n + 1, sizeof(*r));
    size_t k = 0;
    for (size_t i = 0; i < m->n; i++) {
        bool ok = true;
        for (size_t j = 0; j < nm && ok; j++)
            ok = mem_matches(&mt[j], &m->ser[i]);
        bool any = false;
        for (size_t j = 0; j < m->ns[i] && !any; j++)
            any = m->s[i][j].ts_ms >= mint && m->s[i][j].ts_ms <= maxt;
        if (ok && any)
            r[k++] = m->ser[i];
    }
    qsort(r, k, sizeof(*r), mem_ref_cmp);
    *out = r;
    *n = k;
    return SONDE_OK;
}

static sonde_status mem_read(void *ctx, uint64_t id, int64_t mint, int64_t maxt, arena *a,
                             sonde_sample **out, size_t *n)
{
    memsrc *m = ctx;
    size_t idx = id - 1;
    sonde_sample *s = arena_calloc(a, m->ns[idx] + 1, sizeof(*s));
    size_t k = 0;
    for (size_t j = 0; j < m->ns[idx]; j++)
        if (m->s[idx][j].ts_ms >= mint && m->s[idx][j].ts_ms <= maxt)
            s[k++] = m->s[idx][j];
    *out = s;
    *n = k;
    return SONDE_OK;
}

static void mem_init(memsrc *m)
{
    memset(m, 0, sizeof(*m));
    m->a = arena_create(1 << 16, 0);
}

static void mem_fini(memsrc *m)
{
    arena_destroy(m->a);
}

static void mem_source(memsrc *m, query_source *src)
{
    src->select = mem_select;
    src->read = mem_read;
    src->ctx = m;
}

#endif
