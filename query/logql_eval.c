/*
 * logql_eval.c - evaluates a parsed LogQL query against a logql_source.
 *
 * Log queries: every matching stream is scanned in the query's direction
 * over [start, end); each line runs through the pipeline (logql_pipeline.c)
 * with the stream's labels and the entry's structured metadata; a stream
 * contributes at most `limit` kept lines (the first ones in the direction
 * are the only candidates), then all kept lines are merged by time, cut to
 * `limit`, and grouped into result streams by their final label set.
 *
 * Metric queries: a range aggregation scans (start - range - offset,
 * end - offset], turns each kept line into a sample (1, its bytes, or the
 * unwrapped value) of the series named by its final labels, then slides the
 * (t - range, t] window over each series at every step. Vector aggregations
 * and binary operations work step by step on those matrices.
 *
 * Bounds: lines read (max_lines_scanned), series (max_series), steps
 * (11,000 per series, as Loki), the deadline (checked every 256 lines), and
 * the arena's cap. Everything lives in c->a; one scratch arena per query is
 * reset for every line. Thread: the query's.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/hash.h"
#include "../core/sort.h"
#include "../core/timeutil.h"
#include "logql_internal.h"

#define LOGQL_MAX_STEPS 11000
#define LOGQL_MAX_INNER_SERIES 200000

typedef struct ev {
    logql_eval_ctx *c;
    arena *scratch;
    lp_builder b;
    lp_ctx lp;
    sonde_status st; /* set by a scan callback that stopped the scan */
    int64_t start, end, step;
    size_t nsteps;
} ev;

static sonde_status ev_nomem(ev *e, arena *a)
{
    if (arena_cap_hit(a)) {
        snprintf(e->c->err, sizeof e->c->err,
                 "the query needs more memory than its limit; narrow the time range or the "
                 "selector");
        return SONDE_ERR_LIMIT;
    }
    return SONDE_ERR_NOMEM;
}

static sonde_status ev_deadline(ev *e)
{
    if (e->c->lim.deadline_ns && time_mono_ns() > e->c->lim.deadline_ns) {
        snprintf(e->c->err, sizeof e->c->err, "context deadline exceeded: the query timed out");
        return SONDE_ERR_TIMEOUT;
    }
    return SONDE_OK;
}

/* ---- keyed sets of label sets ---- */

typedef struct keymap {
    uint64_t *h;
    uint32_t *idx; /* index + 1; 0 empty */
    size_t cap, n;
} keymap;

typedef struct keyed {
    const char *key;
    size_t kl;
} keyed;

/* Finds key among keys[] (through the map); adds it as index n when absent.
 * *found tells which. Returns the index, or -1 on OOM. */
static long keymap_find(arena *a, keymap *m, const keyed *keys, const char *key, size_t kl,
                        bool add, bool *found)
{
    uint64_t h = hash64(key, kl);
    *found = false;
    if (m->cap) {
        for (size_t i = h & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
            if (!m->idx[i])
                break;
            if (m->h[i] == h) {
                const keyed *k = &keys[m->idx[i] - 1];
                if (k->kl == kl && (kl == 0 || memcmp(k->key, key, kl) == 0)) {
                    *found = true;
                    return (long)m->idx[i] - 1;
                }
            }
        }
    }
    if (!add)
        return -2;
    if ((m->n + 1) * 2 > m->cap) {
        size_t nc = m->cap ? m->cap * 2 : 64;
        uint64_t *nh = arena_alloc(a, nc * sizeof *nh);
        uint32_t *ni = arena_calloc(a, nc, sizeof *ni);
        if (!nh || !ni)
            return -1;
        for (size_t i = 0; i < m->cap; i++) {
            if (!m->idx[i])
                continue;
            size_t j = m->h[i] & (nc - 1);
            while (ni[j])
                j = (j + 1) & (nc - 1);
            ni[j] = m->idx[i];
            nh[j] = m->h[i];
        }
        m->h = nh;
        m->idx = ni;
        m->cap = nc;
    }
    size_t j = h & (m->cap - 1);
    while (m->idx[j])
        j = (j + 1) & (m->cap - 1);
    m->idx[j] = (uint32_t)(m->n + 1);
    m->h[j] = h;
    return (long)m->n++;
}

static int label_cmp(const void *x, const void *y)
{
    return series_label_cmp(x, y);
}

/* Live labels of the builder, sorted, in the scratch arena. */
static bool final_labels(ev *e, sonde_label **out, uint32_t *n)
{
    size_t cnt = 0;
    for (size_t i = 0; i < e->b.n; i++)
        cnt += !e->b.l[i].deleted && e->b.l[i].vlen > 0;
    sonde_label *l = arena_alloc(e->scratch, (cnt ? cnt : 1) * sizeof *l);
    if (!l)
        return false;
    size_t k = 0;
    for (size_t i = 0; i < e->b.n; i++) {
        const lp_label *x = &e->b.l[i];
        if (x->deleted || x->vlen == 0) /* Loki drops empty-valued labels */
            continue;
        l[k++] = (sonde_label){x->name, x->value, (uint32_t)x->nlen, (uint32_t)x->vlen};
    }
    qsort(l, k, sizeof *l, label_cmp);
    *out = l;
    *n = (uint32_t)k;
    return true;
}

static bool encode_key(arena *a, const sonde_label *l, uint32_t n, const char **key, size_t *kl)
{
    size_t len = series_labels_encoded_len(l, n);
    char *k = arena_alloc(a, len ? len : 1);
    if (!k)
        return false;
    series_labels_encode(l, n, k);
    *key = k;
    *kl = len;
    return true;
}

static sonde_label *labels_copy(arena *a, const sonde_label *l, uint32_t n)
{
    sonde_label *o = arena_alloc(a, (n ? n : 1) * sizeof *o);
    if (!o)
        return NULL;
    for (uint32_t i = 0; i < n; i++) {
        char *nm = arena_strndup(a, l[i].name, l[i].name_len);
        char *v = arena_strndup(a, l[i].value, l[i].value_len);
        if (!nm || !v)
            return NULL;
        o[i] = (sonde_label){nm, v, l[i].name_len, l[i].value_len};
    }
    return o;
}

/* {a="b", c="d"} as Prometheus prints label sets. */
static void labels_string(const sonde_label *l, uint32_t n, char *out, size_t cap)
{
    size_t o = 0;
    o += (size_t)snprintf(out + o, cap - o, "{");
    for (uint32_t i = 0; i < n && o < cap; i++)
        o += (size_t)snprintf(out + o, cap - o, "%s%.*s=\"%.*s\"", i ? ", " : "",
                              (int)l[i].name_len, l[i].name, (int)l[i].value_len, l[i].value);
    if (o < cap)
        snprintf(out + o, cap - o, "}");
}

/* ---- per line ---- */

static bool count_line(ev *e, const logql_entry *en)
{
    logql_eval_ctx *c = e->c;
    c->stats.lines_scanned++;
    c->stats.bytes_scanned += en->len;
    if (en->weight > 1)
        c->stats.lines_sampled++;
    if (c->lim.max_lines_scanned && c->stats.lines_scanned > c->lim.max_lines_scanned) {
        snprintf(c->err, sizeof c->err,
                 "the query would read more than %zu log lines (max_lines_scanned); narrow the "
                 "time range or the selector",
                 c->lim.max_lines_scanned);
        e->st = SONDE_ERR_LIMIT;
        return false;
    }
    if (c->lim.deadline_ns && (c->stats.lines_scanned & 255) == 0 &&
        time_mono_ns() > c->lim.deadline_ns) {
        snprintf(c->err, sizeof c->err, "context deadline exceeded: the query timed out");
        e->st = SONDE_ERR_TIMEOUT;
        return false;
    }
    return true;
}

/* Runs one entry through the pipeline: 1 kept (labels, line set), 0 not, -1 OOM. */
static int process(ev *e, const logql_stream_ref *sr, const logql_log *lg, const logql_entry *en,
                   const char **line, size_t *len, sonde_label **labels, uint32_t *nl)
{
    arena_reset(e->scratch);
    e->b.a = e->scratch;
    e->b.l = NULL;
    e->b.n = e->b.cap = 0;
    for (uint32_t i = 0; i < sr->nlabels; i++)
        if (!lp_set(&e->b, sr->labels[i].name, sr->labels[i].name_len, sr->labels[i].value,
                    sr->labels[i].value_len))
            return -1;
    e->b.nbase = e->b.n;
    for (uint32_t i = 0; i < en->nmeta; i++)
        if (!lp_set(&e->b, en->meta[i].name, en->meta[i].name_len, en->meta[i].value,
                    en->meta[i].value_len))
            return -1;
    e->lp.a = e->scratch;
    e->lp.b = &e->b;
    e->lp.has_value = false;
    *line = en->line;
    *len = en->len;
    int r = lp_run(&e->lp, lg->stages, lg->nstages, en->ts_ns, line, len);
    if (r <= 0)
        return r;
    e->c->stats.lines_post_filter++;
    return final_labels(e, labels, nl) ? 1 : -1;
}

static sonde_status select_streams(ev *e, const logql_log *lg, logql_stream_ref **out, size_t *n)
{
    storage_matcher *sm = arena_calloc(e->c->a, lg->nmatchers ? lg->nmatchers : 1, sizeof *sm);
    if (!sm)
        return ev_nomem(e, e->c->a);
    for (size_t i = 0; i < lg->nmatchers; i++) {
        const logql_matcher *m = &lg->matchers[i];
        sm[i].name = m->name;
        sm[i].name_len = m->name_len;
        sm[i].op = m->op;
        sm[i].value = m->value;
        sm[i].value_len = m->value_len;
        if (m->re) {
            sm[i].re_match = (bool (*)(void *, const char *, size_t))logql_re_match;
            sm[i].re_ctx = m->re;
        }
    }
    return e->c->src->streams(e->c->src->ctx, sm, lg->nmatchers, e->c->a, out, n);
}

static sonde_status ev_init(ev *e, logql_eval_ctx *c)
{
    memset(e, 0, sizeof *e);
    e->c = c;
    c->err[0] = 0;
    e->scratch = arena_create(1 << 16, 64u << 20);
    if (!e->scratch)
        return SONDE_ERR_NOMEM;
    buf_init(&e->lp.tmp, 16u << 20);
    return SONDE_OK;
}

static void ev_fini(ev *e)
{
    buf_fini(&e->lp.tmp);
    arena_destroy(e->scratch);
}

/* ---- log queries ---- */

typedef struct kept {
    int64_t ts;
    const char *line;
    size_t len;
    uint32_t stream;
    uint32_t seq;
} kept;

typedef struct log_scan {
    ev *e;
    const logql_stream_ref *sr;
    const logql_log *lg;
    size_t limit, taken;
    kept *k;
    size_t nk, capk;
    keymap map;
    keyed *keys;
    logql_out_stream *streams;
    size_t nstreams, caps;
    bool backward;
    /* once `limit` lines are kept, a line past the worst of them (in the
     * direction) can never make the cut: its stream's scan stops there */
    bool has_cutoff;
    int64_t cutoff;
    uint32_t next_seq;
} log_scan;

static bool log_entry(void *uctx, const logql_entry *en)
{
    log_scan *s = uctx;
    ev *e = s->e;
    if (s->has_cutoff && (s->backward ? en->ts_ns < s->cutoff : en->ts_ns > s->cutoff))
        return false;
    if (!count_line(e, en))
        return false;
    const char *line;
    size_t len;
    sonde_label *l;
    uint32_t nl;
    int r = process(e, s->sr, s->lg, en, &line, &len, &l, &nl);
    if (r < 0) {
        e->st = ev_nomem(e, e->scratch);
        return false;
    }
    if (r == 0)
        return true;
    arena *a = e->c->a;
    const char *key;
    size_t kl;
    if (!encode_key(e->scratch, l, nl, &key, &kl))
        goto oom;
    bool found;
    long idx = keymap_find(a, &s->map, s->keys, key, kl, false, &found);
    if (!found) {
        if (s->nstreams == s->caps) {
            size_t nc = s->caps ? s->caps * 2 : 16;
            keyed *nk = arena_realloc(a, s->keys, s->caps * sizeof *nk, nc * sizeof *nk);
            if (!nk)
                goto oom;
            s->keys = nk;
            logql_out_stream *ns =
                arena_realloc(a, s->streams, s->caps * sizeof *ns, nc * sizeof *ns);
            if (!ns)
                goto oom;
            s->streams = ns;
            s->caps = nc;
        }
        char *kc = arena_alloc(a, kl ? kl : 1);
        sonde_label *lc = labels_copy(a, l, nl);
        if (!kc || !lc)
            goto oom;
        memcpy(kc, key, kl);
        s->keys[s->nstreams] = (keyed){kc, kl};
        idx = keymap_find(a, &s->map, s->keys, kc, kl, true, &found);
        if (idx < 0)
            goto oom;
        memset(&s->streams[idx], 0, sizeof s->streams[idx]);
        s->streams[idx].labels = lc;
        s->streams[idx].nlabels = nl;
        s->nstreams++;
    }
    if (s->nk == s->capk) {
        size_t nc = s->capk ? s->capk * 2 : 256;
        kept *nk = arena_realloc(a, s->k, s->capk * sizeof *nk, nc * sizeof *nk);
        if (!nk)
            goto oom;
        s->k = nk;
        s->capk = nc;
    }
    char *lc = arena_alloc(a, len + 1);
    if (!lc)
        goto oom;
    if (len)
        memcpy(lc, line, len);
    lc[len] = 0;
    s->k[s->nk] = (kept){en->ts_ns, lc, len, (uint32_t)idx, s->next_seq++};
    s->nk++;
    return ++s->taken < s->limit;
oom:
    e->st = ev_nomem(e, a);
    return false;
}

static int kept_fwd(const void *x, const void *y)
{
    const kept *a = x, *b = y;
    if (a->ts != b->ts)
        return a->ts < b->ts ? -1 : 1;
    return a->seq < b->seq ? -1 : a->seq > b->seq;
}

static int kept_bwd(const void *x, const void *y)
{
    const kept *a = x, *b = y;
    if (a->ts != b->ts)
        return a->ts > b->ts ? -1 : 1;
    return a->seq < b->seq ? -1 : a->seq > b->seq;
}

static int stream_cmp(const void *x, const void *y)
{
    const logql_out_stream *a = x, *b = y;
    for (uint32_t i = 0; i < a->nlabels && i < b->nlabels; i++) {
        int d = series_label_cmp(&a->labels[i], &b->labels[i]);
        if (d)
            return d;
    }
    return (a->nlabels > b->nlabels) - (a->nlabels < b->nlabels);
}

/* Keeps the best `limit` lines so far and sets the cutoff (amortized: called
 * when twice as many are kept). */
static sonde_status log_compact(ev *e, log_scan *s)
{
    kept *tmp = malloc(s->nk * sizeof *tmp);
    if (!tmp)
        return SONDE_ERR_NOMEM;
    sort_stable(s->k, s->nk, sizeof *s->k, s->backward ? kept_bwd : kept_fwd, tmp);
    free(tmp);
    s->nk = s->limit;
    s->cutoff = s->k[s->limit - 1].ts;
    s->has_cutoff = true;
    (void)e;
    return SONDE_OK;
}

sonde_status logql_eval_logs(logql_eval_ctx *c, const logql_node *root, int64_t start_ns,
                             int64_t end_ns, size_t limit, bool backward, logql_result *out)
{
    memset(out, 0, sizeof *out);
    out->is_log = true;
    if (root->kind != LOGQL_NODE_LOG || start_ns < -LOGQL_MAX_TIME_NS || end_ns > LOGQL_MAX_TIME_NS)
        return SONDE_ERR_INVALID;
    ev e;
    sonde_status st = ev_init(&e, c);
    if (st != SONDE_OK)
        return st;
    logql_stream_ref *srs;
    size_t nsr;
    st = select_streams(&e, &root->log, &srs, &nsr);
    log_scan s;
    memset(&s, 0, sizeof s);
    s.e = &e;
    s.lg = &root->log;
    s.limit = limit;
    s.backward = backward;
    for (size_t i = 0; st == SONDE_OK && i < nsr && limit > 0 && end_ns > start_ns; i++) {
        s.sr = &srs[i];
        s.taken = 0;
        st = c->src->scan(c->src->ctx, srs[i].id, start_ns, end_ns - 1, backward, log_entry, &s);
        if (st == SONDE_OK)
            st = e.st;
        if (st == SONDE_OK && s.nk >= 2 * limit)
            st = log_compact(&e, &s);
    }
    if (st == SONDE_OK && s.nk) {
        kept *tmp = arena_alloc(c->a, s.nk * sizeof *tmp);
        if (!tmp) {
            st = ev_nomem(&e, c->a);
        } else {
            sort_stable(s.k, s.nk, sizeof *s.k, backward ? kept_bwd : kept_fwd, tmp);
            size_t n = s.nk < limit ? s.nk : limit;
            size_t *counts = arena_calloc(c->a, s.nstreams, sizeof *counts);
            if (!counts) {
                st = ev_nomem(&e, c->a);
            } else {
                for (size_t i = 0; i < n; i++)
                    counts[s.k[i].stream]++;
                for (size_t j = 0; j < s.nstreams && st == SONDE_OK; j++) {
                    s.streams[j].entries =
                        arena_alloc(c->a, (counts[j] ? counts[j] : 1) * sizeof(logql_out_entry));
                    if (!s.streams[j].entries)
                        st = ev_nomem(&e, c->a);
                    s.streams[j].cap = counts[j];
                }
                for (size_t i = 0; i < n && st == SONDE_OK; i++) {
                    logql_out_stream *os = &s.streams[s.k[i].stream];
                    os->entries[os->n++] = (logql_out_entry){s.k[i].ts, s.k[i].line, s.k[i].len};
                }
                /* streams that lost all their lines to the cut go */
                size_t w = 0;
                for (size_t j = 0; j < s.nstreams; j++)
                    if (s.streams[j].n)
                        s.streams[w++] = s.streams[j];
                s.nstreams = w;
                qsort(s.streams, s.nstreams, sizeof *s.streams, stream_cmp);
                c->stats.entries_returned = n;
            }
        }
    }
    ev_fini(&e);
    if (st != SONDE_OK)
        return st;
    out->streams = s.streams;
    out->nstreams = s.nstreams;
    return SONDE_OK;
}

/* ---- metric queries ---- */

typedef struct vseries {
    sonde_label *labels;
    uint32_t nlabels;
    double *v;
    uint8_t *has;
} vseries;

typedef struct vmat {
    bool scalar;
    double sv;
    vseries *s;
    size_t n;
} vmat;

typedef struct sseries { /* samples of one series of a range aggregation */
    logql_point *p;
    size_t n, cap;
} sseries;

typedef struct range_scan {
    ev *e;
    const logql_node *node;
    const logql_stream_ref *sr;
    keymap map;
    keyed *keys;
    sonde_label **labels;
    uint32_t *nlabels;
    sseries *ser;
    size_t nser, cap;
} range_scan;

/* Labels kept by a grouping (by: only those; without: all but those). */
static uint32_t group_labels(const logql_grouping *g, const sonde_label *l, uint32_t n,
                             sonde_label *out)
{
    uint32_t k = 0;
    for (uint32_t i = 0; i < n; i++) {
        bool listed = false;
        for (size_t j = 0; j < g->nnames && !listed; j++)
            listed = g->name_lens[j] == l[i].name_len &&
                     memcmp(g->names[j], l[i].name, l[i].name_len) == 0;
        if (g->without ? !listed : listed)
            out[k++] = l[i];
    }
    return k;
}

static bool range_entry(void *uctx, const logql_entry *en)
{
    range_scan *s = uctx;
    ev *e = s->e;
    if (!count_line(e, en))
        return false;
    const char *line;
    size_t len;
    sonde_label *l;
    uint32_t nl;
    int r = process(e, s->sr, &s->node->log, en, &line, &len, &l, &nl);
    if (r < 0) {
        e->st = ev_nomem(e, e->scratch);
        return false;
    }
    if (r == 0)
        return true;
    if (series_labels_get(l, nl, "__error__", 9)) {
        char ls[256];
        const sonde_label *el = series_labels_get(l, nl, "__error__", 9);
        labels_string(l, nl, ls, sizeof ls);
        int evl = el->value_len > 64 ? 64 : (int)el->value_len;
        snprintf(e->c->err, sizeof e->c->err,
                 "pipeline error: '%.*s' for series: '%s'. Use a label filter to intentionally "
                 "skip this error. (e.g | __error__!=\"%.*s\"). To skip all potential errors you "
                 "can match empty errors.(e.g __error__=\"\") The label filter can also be "
                 "specified after unwrap. (e.g | unwrap latency | __error__=\"\" )",
                 evl, el->value, ls, evl, el->value);
        e->st = SONDE_ERR_INVALID;
        return false;
    }
    /* a sampled line counts for the lines it stands for (its sample rate) */
    double v, w = en->weight > 1 ? (double)en->weight : 1.0;
    switch (s->node->range_fn) {
    case LOGQL_RANGE_BYTES:
    case LOGQL_RANGE_BYTES_RATE:
        v = (double)len * w;
        break;
    case LOGQL_RANGE_COUNT:
    case LOGQL_RANGE_ABSENT:
        v = w;
        break;
    default:
        v = s->node->unwrapped ? e->lp.value : w;
        if (s->node->unwrapped && !e->lp.has_value)
            return true;
        break;
    }
    if (s->node->grouping.present) {
        sonde_label *g = arena_alloc(e->scratch, (nl ? nl : 1) * sizeof *g);
        if (!g)
            goto oom;
        nl = group_labels(&s->node->grouping, l, nl, g);
        l = g;
    }
    arena *a = e->c->a;
    const char *key;
    size_t kl;
    if (!encode_key(e->scratch, l, nl, &key, &kl))
        goto oom;
    bool found;
    long idx = keymap_find(a, &s->map, s->keys, key, kl, false, &found);
    if (!found) {
        if (s->nser >= LOGQL_MAX_INNER_SERIES) {
            snprintf(e->c->err, sizeof e->c->err,
                     "maximum of series (%d) reached for a single query", LOGQL_MAX_INNER_SERIES);
            e->st = SONDE_ERR_LIMIT;
            return false;
        }
        if (s->nser == s->cap) {
            size_t nc = s->cap ? s->cap * 2 : 16;
            keyed *nk = arena_realloc(a, s->keys, s->cap * sizeof *nk, nc * sizeof *nk);
            if (!nk)
                goto oom;
            s->keys = nk;
            sseries *ns = arena_realloc(a, s->ser, s->cap * sizeof *ns, nc * sizeof *ns);
            if (!ns)
                goto oom;
            s->ser = ns;
            sonde_label **nls = arena_realloc(a, s->labels, s->cap * sizeof *nls, nc * sizeof *nls);
            if (!nls)
                goto oom;
            s->labels = nls;
            uint32_t *nn = arena_realloc(a, s->nlabels, s->cap * sizeof *nn, nc * sizeof *nn);
            if (!nn)
                goto oom;
            s->nlabels = nn;
            s->cap = nc;
        }
        char *kc = arena_alloc(a, kl ? kl : 1);
        sonde_label *lc = labels_copy(a, l, nl);
        if (!kc || !lc)
            goto oom;
        memcpy(kc, key, kl);
        s->keys[s->nser] = (keyed){kc, kl};
        idx = keymap_find(a, &s->map, s->keys, kc, kl, true, &found);
        if (idx < 0)
            goto oom;
        memset(&s->ser[idx], 0, sizeof s->ser[idx]);
        s->labels[idx] = lc;
        s->nlabels[idx] = nl;
        s->nser++;
    }
    sseries *ss = &s->ser[idx];
    if (ss->n == ss->cap) {
        size_t nc = ss->cap ? ss->cap * 2 : 16;
        logql_point *np = arena_realloc(a, ss->p, ss->cap * sizeof *np, nc * sizeof *np);
        if (!np)
            goto oom;
        ss->p = np;
        ss->cap = nc;
    }
    ss->p[ss->n++] = (logql_point){en->ts_ns, v};
    return true;
oom:
    e->st = ev_nomem(e, e->c->a);
    return false;
}

static int point_cmp(const void *x, const void *y)
{
    const logql_point *a = x, *b = y;
    return (a->ts_ns > b->ts_ns) - (a->ts_ns < b->ts_ns);
}

static int dbl_cmp(const void *x, const void *y)
{
    double a = *(const double *)x, b = *(const double *)y;
    return (a > b) - (a < b);
}

/* The function over p[lo, hi) (non-empty). */
static double range_value(const logql_node *n, const logql_point *p, size_t lo, size_t hi,
                          double *tmp)
{
    double range_s = (double)n->range_ns / 1e9;
    size_t cnt = hi - lo;
    double sum = 0;
    for (size_t i = lo; i < hi; i++)
        sum += p[i].v;
    switch (n->range_fn) {
    case LOGQL_RANGE_COUNT:
        return sum; /* of the lines' weights */
    case LOGQL_RANGE_RATE:
        return sum / range_s;
    case LOGQL_RANGE_BYTES:
    case LOGQL_RANGE_SUM:
        return sum;
    case LOGQL_RANGE_BYTES_RATE:
        return sum / range_s;
    case LOGQL_RANGE_AVG:
        return sum / (double)cnt;
    case LOGQL_RANGE_MIN: {
        double m = p[lo].v;
        for (size_t i = lo + 1; i < hi; i++)
            if (p[i].v < m || isnan(m))
                m = p[i].v;
        return m;
    }
    case LOGQL_RANGE_MAX: {
        double m = p[lo].v;
        for (size_t i = lo + 1; i < hi; i++)
            if (p[i].v > m || isnan(m))
                m = p[i].v;
        return m;
    }
    case LOGQL_RANGE_FIRST:
        return p[lo].v;
    case LOGQL_RANGE_LAST:
        return p[hi - 1].v;
    case LOGQL_RANGE_STDDEV:
    case LOGQL_RANGE_STDVAR: {
        double mean = sum / (double)cnt, var = 0;
        for (size_t i = lo; i < hi; i++)
            var += (p[i].v - mean) * (p[i].v - mean);
        var /= (double)cnt;
        return n->range_fn == LOGQL_RANGE_STDDEV ? sqrt(var) : var;
    }
    case LOGQL_RANGE_QUANTILE: {
        double q = n->param;
        if (q < 0)
            return -INFINITY;
        if (q > 1)
            return INFINITY;
        for (size_t i = lo; i < hi; i++)
            tmp[i - lo] = p[i].v;
        qsort(tmp, cnt, sizeof *tmp, dbl_cmp);
        double rank = q * (double)(cnt - 1);
        size_t lower = (size_t)floor(rank);
        size_t upper = lower + 1 < cnt ? lower + 1 : lower;
        double w = rank - floor(rank);
        return tmp[lower] * (1 - w) + tmp[upper] * w;
    }
    case LOGQL_RANGE_RATE_COUNTER: {
        double inc = p[hi - 1].v - p[lo].v;
        for (size_t i = lo + 1; i < hi; i++)
            if (p[i].v < p[i - 1].v)
                inc += p[i - 1].v;
        return inc / range_s;
    }
    case LOGQL_RANGE_ABSENT:
        return 1;
    }
    return NAN;
}

static sonde_status vmat_alloc_series(ev *e, vseries *s)
{
    s->v = arena_alloc(e->c->a, e->nsteps * sizeof *s->v);
    s->has = arena_calloc(e->c->a, e->nsteps, 1);
    return s->v && s->has ? SONDE_OK : ev_nomem(e, e->c->a);
}

static sonde_status eval_range(ev *e, const logql_node *n, vmat *out)
{
    logql_eval_ctx *c = e->c;
    logql_stream_ref *srs;
    size_t nsr;
    sonde_status st = select_streams(e, &n->log, &srs, &nsr);
    if (st != SONDE_OK)
        return st;
    range_scan s;
    memset(&s, 0, sizeof s);
    s.e = e;
    s.node = n;
    int64_t mint = e->start - n->offset_ns - n->range_ns + 1;
    int64_t maxt = e->end - n->offset_ns;
    for (size_t i = 0; i < nsr && st == SONDE_OK; i++) {
        s.sr = &srs[i];
        st = c->src->scan(c->src->ctx, srs[i].id, mint, maxt, false, range_entry, &s);
        if (st == SONDE_OK)
            st = e->st;
    }
    if (st != SONDE_OK)
        return st;
    size_t maxn = 0;
    for (size_t i = 0; i < s.nser; i++)
        maxn = s.ser[i].n > maxn ? s.ser[i].n : maxn;
    logql_point *ptmp = arena_alloc(e->scratch, (maxn ? maxn : 1) * sizeof *ptmp);
    double *dtmp = arena_alloc(e->scratch, (maxn ? maxn : 1) * sizeof *dtmp);
    if (!ptmp || !dtmp)
        return ev_nomem(e, e->scratch);

    if (n->range_fn == LOGQL_RANGE_ABSENT) {
        /* one series (the selector's equality labels) where nothing is in the window */
        out->s = arena_calloc(c->a, 1, sizeof *out->s);
        if (!out->s || (st = vmat_alloc_series(e, &out->s[0])) != SONDE_OK)
            return out->s ? st : ev_nomem(e, c->a);
        sonde_label *l = arena_alloc(c->a, (n->log.nmatchers ? n->log.nmatchers : 1) * sizeof *l);
        if (!l)
            return ev_nomem(e, c->a);
        uint32_t k = 0;
        for (size_t i = 0; i < n->log.nmatchers; i++) {
            const logql_matcher *m = &n->log.matchers[i];
            if (m->op == STORAGE_MATCH_EQ && m->value_len)
                l[k++] =
                    (sonde_label){m->name, m->value, (uint32_t)m->name_len, (uint32_t)m->value_len};
        }
        qsort(l, k, sizeof *l, label_cmp);
        out->s[0].labels = l;
        out->s[0].nlabels = k;
        out->n = 1;
        /* has[t] first marks the steps whose window holds a line, then flips */
        for (size_t si = 0; si < s.nser; si++) {
            sseries *ss = &s.ser[si];
            sort_stable(ss->p, ss->n, sizeof(logql_point), point_cmp, ptmp);
            size_t lo = 0, hi = 0;
            for (size_t t = 0; t < e->nsteps; t++) {
                int64_t ts = e->start + (int64_t)t * e->step - n->offset_ns;
                while (hi < ss->n && ss->p[hi].ts_ns <= ts)
                    hi++;
                while (lo < hi && ss->p[lo].ts_ns <= ts - n->range_ns)
                    lo++;
                if (hi > lo)
                    out->s[0].has[t] = 1;
            }
        }
        for (size_t t = 0; t < e->nsteps; t++) {
            out->s[0].v[t] = 1;
            out->s[0].has[t] = !out->s[0].has[t];
        }
        return SONDE_OK;
    }

    out->s = arena_calloc(c->a, s.nser ? s.nser : 1, sizeof *out->s);
    if (!out->s)
        return ev_nomem(e, c->a);
    out->n = s.nser;
    for (size_t si = 0; si < s.nser; si++) {
        if ((st = ev_deadline(e)) != SONDE_OK)
            return st;
        sseries *ss = &s.ser[si];
        vseries *vs = &out->s[si];
        vs->labels = s.labels[si];
        vs->nlabels = s.nlabels[si];
        if ((st = vmat_alloc_series(e, vs)) != SONDE_OK)
            return st;
        sort_stable(ss->p, ss->n, sizeof *ss->p, point_cmp, ptmp);
        size_t lo = 0, hi = 0;
        for (size_t t = 0; t < e->nsteps; t++) {
            int64_t ts = e->start + (int64_t)t * e->step - n->offset_ns;
            while (hi < ss->n && ss->p[hi].ts_ns <= ts)
                hi++;
            while (lo < hi && ss->p[lo].ts_ns <= ts - n->range_ns)
                lo++;
            if (hi > lo) {
                vs->v[t] = range_value(n, ss->p, lo, hi, dtmp);
                vs->has[t] = 1;
            }
        }
    }
    return SONDE_OK;
}

static sonde_status eval_node(ev *e, const logql_node *n, vmat *out);

typedef struct vgroup {
    sonde_label *labels;
    uint32_t nlabels;
    size_t *members;
    size_t nm, cap;
} vgroup;

typedef struct ranked {
    double key;
    size_t idx;
} ranked;

/* NaN ranks last, as in Prometheus' topk. */
static int ranked_cmp(const void *x, const void *y)
{
    const ranked *a = x, *b = y;
    if (isnan(a->key) || isnan(b->key))
        return isnan(a->key) - isnan(b->key);
    return (a->key > b->key) - (a->key < b->key);
}

/* Instant series by their one value; series without a value last. */
static int vseries_order(const void *x, const void *y, bool desc)
{
    const vseries *a = x, *b = y;
    if (!a->has[0] || !b->has[0])
        return (int)b->has[0] - (int)a->has[0];
    double va = a->v[0], vb = b->v[0];
    if (isnan(va) || isnan(vb))
        return isnan(va) - isnan(vb);
    return desc ? (va < vb) - (va > vb) : (va > vb) - (va < vb);
}

static int vseries_asc(const void *x, const void *y)
{
    return vseries_order(x, y, false);
}

static int vseries_desc(const void *x, const void *y)
{
    return vseries_order(x, y, true);
}

static sonde_status eval_vector(ev *e, const logql_node *n, vmat *out)
{
    logql_eval_ctx *c = e->c;
    vmat in;
    memset(&in, 0, sizeof in);
    sonde_status st = eval_node(e, n->inner, &in);
    if (st != SONDE_OK)
        return st;
    if (in.scalar) {
        snprintf(c->err, sizeof c->err,
                 "parse error : vector aggregations need a vector, not a "
                 "scalar");
        return SONDE_ERR_INVALID;
    }
    if (n->vec_fn == LOGQL_VEC_SORT || n->vec_fn == LOGQL_VEC_SORT_DESC) {
        /* only an instant result has an order to change */
        *out = in;
        if (e->nsteps == 1 && in.n > 1) {
            vseries *tmp = arena_alloc(c->a, in.n * sizeof *tmp);
            if (!tmp)
                return ev_nomem(e, c->a);
            sort_stable(in.s, in.n, sizeof *in.s,
                        n->vec_fn == LOGQL_VEC_SORT ? vseries_asc : vseries_desc, tmp);
        }
        return SONDE_OK;
    }
    /* groups */
    keymap map;
    memset(&map, 0, sizeof map);
    keyed *keys = arena_alloc(c->a, (in.n ? in.n : 1) * sizeof *keys);
    vgroup *g = arena_calloc(c->a, in.n ? in.n : 1, sizeof *g);
    size_t ng = 0;
    if (!keys || !g)
        return ev_nomem(e, c->a);
    for (size_t i = 0; i < in.n; i++) {
        sonde_label *gl = arena_alloc(c->a, (in.s[i].nlabels ? in.s[i].nlabels : 1) * sizeof *gl);
        if (!gl)
            return ev_nomem(e, c->a);
        uint32_t gn = 0;
        if (n->grouping.present)
            gn = group_labels(&n->grouping, in.s[i].labels, in.s[i].nlabels, gl);
        const char *key;
        size_t kl;
        if (!encode_key(c->a, gl, gn, &key, &kl))
            return ev_nomem(e, c->a);
        keys[ng] = (keyed){key, kl};
        bool found;
        long gi = keymap_find(c->a, &map, keys, key, kl, true, &found);
        if (gi < 0)
            return ev_nomem(e, c->a);
        if (!found) {
            g[gi].labels = gl;
            g[gi].nlabels = gn;
            ng++;
        }
        vgroup *gg = &g[gi];
        if (gg->nm == gg->cap) {
            size_t nc = gg->cap ? gg->cap * 2 : 4;
            size_t *nm = arena_realloc(c->a, gg->members, gg->cap * sizeof *nm, nc * sizeof *nm);
            if (!nm)
                return ev_nomem(e, c->a);
            gg->members = nm;
            gg->cap = nc;
        }
        gg->members[gg->nm++] = i;
    }
    if (n->vec_fn == LOGQL_VEC_TOPK || n->vec_fn == LOGQL_VEC_BOTTOMK) {
        /* the series themselves, present at the steps where they rank within k */
        out->s = arena_calloc(c->a, in.n ? in.n : 1, sizeof *out->s);
        if (!out->s)
            return ev_nomem(e, c->a);
        out->n = in.n;
        for (size_t i = 0; i < in.n; i++) {
            out->s[i].labels = in.s[i].labels;
            out->s[i].nlabels = in.s[i].nlabels;
            out->s[i].v = in.s[i].v;
            out->s[i].has = arena_calloc(c->a, e->nsteps, 1);
            if (!out->s[i].has)
                return ev_nomem(e, c->a);
        }
        size_t k = (size_t)n->param;
        bool top = n->vec_fn == LOGQL_VEC_TOPK;
        size_t maxm = 0;
        for (size_t gi = 0; gi < ng; gi++)
            maxm = g[gi].nm > maxm ? g[gi].nm : maxm;
        ranked *rk = arena_alloc(c->a, (maxm ? maxm : 1) * sizeof *rk);
        ranked *rtmp = arena_alloc(c->a, (maxm ? maxm : 1) * sizeof *rtmp);
        if (!rk || !rtmp)
            return ev_nomem(e, c->a);
        for (size_t gi = 0; gi < ng; gi++) {
            if ((st = ev_deadline(e)) != SONDE_OK)
                return st;
            for (size_t t = 0; t < e->nsteps; t++) {
                size_t nr = 0;
                for (size_t m = 0; m < g[gi].nm; m++) {
                    size_t i = g[gi].members[m];
                    if (in.s[i].has[t])
                        rk[nr++] = (ranked){top ? -in.s[i].v[t] : in.s[i].v[t], i};
                }
                /* ascending by key (the value, negated for topk), ties by series order */
                sort_stable(rk, nr, sizeof *rk, ranked_cmp, rtmp);
                for (size_t r = 0; r < nr && r < k; r++)
                    out->s[rk[r].idx].has[t] = 1;
            }
        }
        return SONDE_OK;
    }
    out->s = arena_calloc(c->a, ng ? ng : 1, sizeof *out->s);
    if (!out->s)
        return ev_nomem(e, c->a);
    out->n = ng;
    for (size_t gi = 0; gi < ng; gi++) {
        vseries *o = &out->s[gi];
        o->labels = g[gi].labels;
        o->nlabels = g[gi].nlabels;
        if ((st = vmat_alloc_series(e, o)) != SONDE_OK)
            return st;
        for (size_t t = 0; t < e->nsteps; t++) {
            double sum = 0, mn = 0, mx = 0, cnt = 0, mean = 0, m2 = 0;
            for (size_t m = 0; m < g[gi].nm; m++) {
                const vseries *x = &in.s[g[gi].members[m]];
                if (!x->has[t])
                    continue;
                double v = x->v[t];
                if (cnt == 0 || v < mn || isnan(mn))
                    mn = v;
                if (cnt == 0 || v > mx || isnan(mx))
                    mx = v;
                cnt++;
                sum += v;
                double d = v - mean;
                mean += d / cnt;
                m2 += d * (v - mean);
            }
            if (cnt == 0)
                continue;
            double r = 0;
            switch (n->vec_fn) {
            case LOGQL_VEC_SUM:
                r = sum;
                break;
            case LOGQL_VEC_AVG:
                r = mean;
                break;
            case LOGQL_VEC_MIN:
                r = mn;
                break;
            case LOGQL_VEC_MAX:
                r = mx;
                break;
            case LOGQL_VEC_COUNT:
                r = cnt;
                break;
            case LOGQL_VEC_STDVAR:
                r = m2 / cnt;
                break;
            case LOGQL_VEC_STDDEV:
                r = sqrt(m2 / cnt);
                break;
            default:
                break;
            }
            o->v[t] = r;
            o->has[t] = 1;
        }
    }
    return SONDE_OK;
}

static double binop_apply(logql_binop op, double a, double b, bool *keep, bool bool_mod)
{
    *keep = true;
    bool r;
    switch (op) {
    case LOGQL_OP_ADD:
        return a + b;
    case LOGQL_OP_SUB:
        return a - b;
    case LOGQL_OP_MUL:
        return a * b;
    case LOGQL_OP_DIV:
        return a / b;
    case LOGQL_OP_MOD:
        return fmod(a, b);
    case LOGQL_OP_POW:
        return pow(a, b);
    case LOGQL_OP_EQ:
        r = a == b;
        break;
    case LOGQL_OP_NE:
        r = a != b;
        break;
    case LOGQL_OP_GT:
        r = a > b;
        break;
    case LOGQL_OP_GE:
        r = a >= b;
        break;
    case LOGQL_OP_LT:
        r = a < b;
        break;
    case LOGQL_OP_LE:
        r = a <= b;
        break;
    default:
        r = false;
        break;
    }
    if (bool_mod)
        return r ? 1 : 0;
    *keep = r;
    return a;
}

/* and, or, unless: one-to-one on identical label sets, step by step. */
static sonde_status eval_set(ev *e, const logql_node *n, const vmat *l, const vmat *r, vmat *out)
{
    logql_eval_ctx *c = e->c;
    if (l->scalar || r->scalar) {
        snprintf(c->err, sizeof c->err, "set operations are only allowed between vectors");
        return SONDE_ERR_INVALID;
    }
    keymap map;
    memset(&map, 0, sizeof map);
    size_t total = l->n + r->n;
    keyed *keys = arena_alloc(c->a, (total ? total : 1) * sizeof *keys);
    long *lidx = arena_alloc(c->a, (l->n ? l->n : 1) * sizeof *lidx);
    long *ridx = arena_alloc(c->a, (r->n ? r->n : 1) * sizeof *ridx);
    out->s = arena_calloc(c->a, total ? total : 1, sizeof *out->s);
    if (!keys || !lidx || !ridx || !out->s)
        return ev_nomem(e, c->a);
    size_t nk = 0;
    const vmat *sides[2] = {l, r};
    long *idx[2] = {lidx, ridx};
    for (int side = 0; side < 2; side++)
        for (size_t i = 0; i < sides[side]->n; i++) {
            const char *key;
            size_t kl;
            bool found;
            if (!encode_key(c->a, sides[side]->s[i].labels, sides[side]->s[i].nlabels, &key, &kl))
                return ev_nomem(e, c->a);
            keys[nk] = (keyed){key, kl};
            long k = keymap_find(c->a, &map, keys, key, kl, true, &found);
            if (k < 0)
                return ev_nomem(e, c->a);
            if (!found)
                nk++;
            idx[side][i] = k;
        }
    /* per key, the right side's series (the first one with those labels) */
    long *rbykey = arena_alloc(c->a, (nk ? nk : 1) * sizeof *rbykey);
    long *lbykey = arena_alloc(c->a, (nk ? nk : 1) * sizeof *lbykey);
    if (!rbykey || !lbykey)
        return ev_nomem(e, c->a);
    for (size_t k = 0; k < nk; k++)
        rbykey[k] = lbykey[k] = -1;
    for (size_t i = 0; i < r->n; i++)
        if (rbykey[ridx[i]] < 0)
            rbykey[ridx[i]] = (long)i;
    for (size_t i = 0; i < l->n; i++)
        if (lbykey[lidx[i]] < 0)
            lbykey[lidx[i]] = (long)i;
    sonde_status st;
    for (size_t i = 0; i < l->n; i++) {
        const vseries *ls = &l->s[i];
        long ri = rbykey[lidx[i]];
        vseries *o = &out->s[out->n++];
        o->labels = ls->labels;
        o->nlabels = ls->nlabels;
        if ((st = vmat_alloc_series(e, o)) != SONDE_OK)
            return st;
        for (size_t t = 0; t < e->nsteps; t++) {
            if (!ls->has[t])
                continue;
            bool rhas = ri >= 0 && r->s[ri].has[t];
            if ((n->op == LOGQL_OP_AND && !rhas) || (n->op == LOGQL_OP_UNLESS && rhas))
                continue;
            o->v[t] = ls->v[t];
            o->has[t] = 1;
        }
    }
    if (n->op == LOGQL_OP_OR) {
        for (size_t i = 0; i < r->n; i++) {
            const vseries *rs = &r->s[i];
            long li = lbykey[ridx[i]];
            vseries *o;
            if (li >= 0) {
                o = &out->s[li]; /* same labels: one series, filled where the left has none */
            } else {
                o = &out->s[out->n++];
                o->labels = rs->labels;
                o->nlabels = rs->nlabels;
                if ((st = vmat_alloc_series(e, o)) != SONDE_OK)
                    return st;
            }
            for (size_t t = 0; t < e->nsteps; t++) {
                if (!rs->has[t] || (li >= 0 && l->s[li].has[t]))
                    continue;
                o->v[t] = rs->v[t];
                o->has[t] = 1;
            }
        }
    }
    return SONDE_OK;
}

static sonde_status eval_binary(ev *e, const logql_node *n, vmat *out)
{
    logql_eval_ctx *c = e->c;
    vmat l, r;
    memset(&l, 0, sizeof l);
    memset(&r, 0, sizeof r);
    sonde_status st = eval_node(e, n->lhs, &l);
    if (st == SONDE_OK)
        st = eval_node(e, n->rhs, &r);
    if (st != SONDE_OK)
        return st;
    bool keep;
    if (n->op >= LOGQL_OP_AND)
        return eval_set(e, n, &l, &r, out);
    if (l.scalar && r.scalar) {
        out->scalar = true;
        out->sv = binop_apply(n->op, l.sv, r.sv, &keep, true);
        return SONDE_OK;
    }
    if (l.scalar || r.scalar) {
        vmat *v = l.scalar ? &r : &l;
        double sv = l.scalar ? l.sv : r.sv;
        out->n = v->n;
        out->s = arena_calloc(c->a, v->n ? v->n : 1, sizeof *out->s);
        if (!out->s)
            return ev_nomem(e, c->a);
        for (size_t i = 0; i < v->n; i++) {
            out->s[i].labels = v->s[i].labels;
            out->s[i].nlabels = v->s[i].nlabels;
            if ((st = vmat_alloc_series(e, &out->s[i])) != SONDE_OK)
                return st;
            for (size_t t = 0; t < e->nsteps; t++) {
                if (!v->s[i].has[t])
                    continue;
                double a = l.scalar ? sv : v->s[i].v[t], b = l.scalar ? v->s[i].v[t] : sv;
                double res = binop_apply(n->op, a, b, &keep, n->bool_mod);
                if (!keep)
                    continue;
                /* a filtering comparison keeps the vector's own value */
                out->s[i].v[t] = (n->op >= LOGQL_OP_EQ && !n->bool_mod) ? v->s[i].v[t] : res;
                out->s[i].has[t] = 1;
            }
        }
        return SONDE_OK;
    }
    /* vector to vector: one-to-one on identical label sets */
    keymap map;
    memset(&map, 0, sizeof map);
    keyed *keys = arena_alloc(c->a, (r.n ? r.n : 1) * sizeof *keys);
    if (!keys)
        return ev_nomem(e, c->a);
    size_t nk = 0;
    for (size_t i = 0; i < r.n; i++) {
        const char *key;
        size_t kl;
        bool found;
        if (!encode_key(c->a, r.s[i].labels, r.s[i].nlabels, &key, &kl))
            return ev_nomem(e, c->a);
        keys[nk] = (keyed){key, kl};
        long idx = keymap_find(c->a, &map, keys, key, kl, true, &found);
        if (idx < 0)
            return ev_nomem(e, c->a);
        if (!found)
            nk++;
    }
    out->s = arena_calloc(c->a, l.n ? l.n : 1, sizeof *out->s);
    if (!out->s)
        return ev_nomem(e, c->a);
    for (size_t i = 0; i < l.n; i++) {
        const char *key;
        size_t kl;
        bool found;
        if (!encode_key(c->a, l.s[i].labels, l.s[i].nlabels, &key, &kl))
            return ev_nomem(e, c->a);
        long idx = keymap_find(c->a, &map, keys, key, kl, false, &found);
        if (!found)
            continue;
        vseries *o = &out->s[out->n++];
        o->labels = l.s[i].labels;
        o->nlabels = l.s[i].nlabels;
        if ((st = vmat_alloc_series(e, o)) != SONDE_OK)
            return st;
        const vseries *rs = &r.s[idx];
        for (size_t t = 0; t < e->nsteps; t++) {
            if (!l.s[i].has[t] || !rs->has[t])
                continue;
            double res = binop_apply(n->op, l.s[i].v[t], rs->v[t], &keep, n->bool_mod);
            if (!keep)
                continue;
            o->v[t] = res;
            o->has[t] = 1;
        }
    }
    return SONDE_OK;
}

static sonde_status eval_node(ev *e, const logql_node *n, vmat *out)
{
    memset(out, 0, sizeof *out);
    if (e->c->lim.deadline_ns && time_mono_ns() > e->c->lim.deadline_ns) {
        snprintf(e->c->err, sizeof e->c->err, "context deadline exceeded: the query timed out");
        return SONDE_ERR_TIMEOUT;
    }
    switch (n->kind) {
    case LOGQL_NODE_RANGE:
        return eval_range(e, n, out);
    case LOGQL_NODE_VECTOR:
        return eval_vector(e, n, out);
    case LOGQL_NODE_BINARY:
        return eval_binary(e, n, out);
    case LOGQL_NODE_NUMBER:
        out->scalar = true;
        out->sv = n->num;
        return SONDE_OK;
    case LOGQL_NODE_VECTOR_LIT: {
        out->s = arena_calloc(e->c->a, 1, sizeof *out->s);
        if (!out->s)
            return ev_nomem(e, e->c->a);
        out->n = 1;
        sonde_status st = vmat_alloc_series(e, &out->s[0]);
        if (st != SONDE_OK)
            return st;
        for (size_t t = 0; t < e->nsteps; t++) {
            out->s[0].v[t] = n->num;
            out->s[0].has[t] = 1;
        }
        return SONDE_OK;
    }
    case LOGQL_NODE_LOG:
        break;
    }
    snprintf(e->c->err, sizeof e->c->err, "a log query is not a metric query");
    return SONDE_ERR_INVALID;
}

sonde_status logql_eval_metric(logql_eval_ctx *c, const logql_node *root, int64_t start_ns,
                               int64_t end_ns, int64_t step_ns, logql_result *out)
{
    memset(out, 0, sizeof *out);
    if (end_ns < start_ns || (step_ns <= 0 && end_ns != start_ns) ||
        start_ns < -LOGQL_MAX_TIME_NS || end_ns > LOGQL_MAX_TIME_NS) {
        snprintf(c->err, sizeof c->err, "invalid time range or step");
        return SONDE_ERR_INVALID;
    }
    ev e;
    sonde_status st = ev_init(&e, c);
    if (st != SONDE_OK)
        return st;
    e.start = start_ns;
    e.end = end_ns;
    e.step = step_ns > 0 ? step_ns : 1;
    uint64_t steps = step_ns > 0 ? (uint64_t)((end_ns - start_ns) / step_ns) + 1 : 1;
    if (steps > LOGQL_MAX_STEPS) {
        snprintf(c->err, sizeof c->err,
                 "exceeded maximum resolution of 11,000 points per timeseries. Try increasing "
                 "the value of the step parameter");
        ev_fini(&e);
        return SONDE_ERR_INVALID;
    }
    e.nsteps = (size_t)steps;
    vmat m;
    st = eval_node(&e, root, &m);
    if (st == SONDE_OK && m.scalar) {
        /* a bare number: one series without labels */
        m.scalar = false;
        m.s = arena_calloc(c->a, 1, sizeof *m.s);
        if (!m.s || vmat_alloc_series(&e, &m.s[0]) != SONDE_OK) {
            st = ev_nomem(&e, c->a);
        } else {
            m.n = 1;
            for (size_t t = 0; t < e.nsteps; t++) {
                m.s[0].v[t] = m.sv;
                m.s[0].has[t] = 1;
            }
        }
    }
    if (st == SONDE_OK) {
        out->series = arena_calloc(c->a, m.n ? m.n : 1, sizeof *out->series);
        if (!out->series)
            st = ev_nomem(&e, c->a);
        for (size_t i = 0; st == SONDE_OK && i < m.n; i++) {
            size_t np = 0;
            for (size_t t = 0; t < e.nsteps; t++)
                np += m.s[i].has[t];
            if (!np)
                continue;
            if (c->lim.max_series && out->nseries >= c->lim.max_series) {
                snprintf(c->err, sizeof c->err,
                         "maximum number of series (%zu) reached for a single query; consider "
                         "reducing query cardinality by adding more specific stream selectors, "
                         "reducing the time range, or aggregating results with a vector "
                         "aggregation",
                         c->lim.max_series);
                st = SONDE_ERR_LIMIT;
                break;
            }
            logql_out_series *o = &out->series[out->nseries++];
            o->labels = m.s[i].labels;
            o->nlabels = m.s[i].nlabels;
            o->points = arena_alloc(c->a, np * sizeof *o->points);
            if (!o->points) {
                st = ev_nomem(&e, c->a);
                break;
            }
            for (size_t t = 0; t < e.nsteps; t++)
                if (m.s[i].has[t])
                    o->points[o->n++] = (logql_point){start_ns + (int64_t)t * e.step, m.s[i].v[t]};
        }
    }
    ev_fini(&e);
    return st;
}
