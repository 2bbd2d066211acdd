/*
 * logs.c - per-tenant miners, template versions, per-stream samplers and the exact counts of
 * the log pipeline (see logs.h for the why).
 *
 * Tenants: an open-addressing table of at most max_tenants entries, filled under table_mu and
 * never shrunk (an entry, once published, stays until destroy), so a lookup of a known
 * tenant reads it without the lock (atomic pointers).
 *
 * Per tenant, under its mutex:
 *   - the miner;
 *   - vtab: template id -> (current version, stored version, batch mark). A version is
 *     returned to the caller for storing when it is newer than the stored one and not yet
 *     listed in this batch; sampling_logs_persisted() raises the stored version once the
 *     batch committed. vtab is bounded: past 4 x max_templates entries the ids the miner
 *     evicted are dropped (their versions stay stored, which is all reads need);
 *   - samplers: stream hash -> sampler, at most max_samplers, then one shared sampler.
 *
 * A batch's counts are accumulated in a table in the caller's arena keyed by (stream,
 * template), then written as two one-sample series per key.
 */
#include "sampling/logs.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/hash.h"
#include "core/varint.h"

typedef struct vent {
    uint64_t id; /* 0: empty */
    uint32_t version, stored;
    uint32_t mark, mark_version; /* listed in batch `mark` at `mark_version` */
} vent;

typedef struct sent {
    uint64_t stream; /* key; the sampler is non-NULL when used */
    sampling_sampler *s;
} sent;

typedef struct logs_tenant {
    char name[256];
    pthread_mutex_t mu;
    sampling_miner *miner;
    vent *vtab;
    size_t vcap, vn;
    sent *stab;
    size_t scap, sn;
    sampling_sampler *shared; /* streams past max_samplers */
    uint32_t mark;            /* batch counter for vtab marks */
    /* the last time stamped per (stream, template) count series: open addressing, at most
     * STAMP_MAX entries (then cleared: a later stamp may then repeat a time, which the
     * aggregator bumps live) */
    struct stamp_ent *stab_ts;
    size_t scap_ts, sn_ts;
} logs_tenant;

#define STAMP_MAX ((size_t)1 << 20)

typedef struct stamp_ent {
    uint64_t key; /* 0: empty */
    int64_t last_ms;
} stamp_ent;

struct sampling_logs {
    sampling_logs_config cfg;
    uint32_t max_templates;
    pthread_mutex_t table_mu;
    _Atomic(logs_tenant *) *tenants;
    size_t tcap;
    _Atomic size_t ntenants;
    _Atomic uint64_t m_lines, m_kept, m_unmined, m_versions, m_encoded;
};

void sampling_logs_config_default(sampling_logs_config *c)
{
    memset(c, 0, sizeof *c);
    sampling_sampler_config_default(&c->sampler);
    c->max_tenants = 1000;
    c->max_samplers = 10000;
}

sonde_status sampling_logs_create(const sampling_logs_config *c, sampling_logs **out, char *err,
                                  size_t errlen)
{
    *out = NULL;
    if (c->max_tenants == 0 || c->max_samplers == 0) {
        snprintf(err, errlen, "max_tenants and max_samplers must be positive");
        return SONDE_ERR_INVALID;
    }
    if (c->sampling) {
        /* check the sampler configuration once, here, not at the first line */
        sampling_sampler *probe = NULL;
        sonde_status s = sampling_sampler_create(&c->sampler, 0, &probe);
        if (s != SONDE_OK) {
            snprintf(err, errlen, "invalid log sampling configuration");
            return s;
        }
        sampling_sampler_destroy(probe);
    }
    sampling_logs *sl = calloc(1, sizeof *sl);
    if (!sl)
        return SONDE_ERR_NOMEM;
    sl->cfg = *c;
    sampling_miner_config mc;
    sampling_miner_config_default(&mc);
    sl->max_templates = mc.max_templates;
    sl->tcap = 16;
    while (sl->tcap < (size_t)c->max_tenants * 2)
        sl->tcap *= 2;
    sl->tenants = calloc(sl->tcap, sizeof *sl->tenants);
    if (!sl->tenants) {
        free(sl);
        return SONDE_ERR_NOMEM;
    }
    pthread_mutex_init(&sl->table_mu, NULL);
    *out = sl;
    return SONDE_OK;
}

static void tenant_destroy(logs_tenant *t)
{
    if (!t)
        return;
    sampling_miner_destroy(t->miner);
    for (size_t i = 0; i < t->scap; i++)
        sampling_sampler_destroy(t->stab[i].s);
    sampling_sampler_destroy(t->shared);
    free(t->stab);
    free(t->vtab);
    free(t->stab_ts);
    pthread_mutex_destroy(&t->mu);
    free(t);
}

void sampling_logs_destroy(sampling_logs *sl)
{
    if (!sl)
        return;
    for (size_t i = 0; i < sl->tcap; i++)
        tenant_destroy(atomic_load(&sl->tenants[i]));
    free(sl->tenants);
    pthread_mutex_destroy(&sl->table_mu);
    free(sl);
}

/* The tenant's entry, created when create is set (NULL: table full, or out of memory). */
static logs_tenant *tenant_get(sampling_logs *sl, const char *tenant, bool create)
{
    size_t tl = strlen(tenant);
    if (tl == 0 || tl >= sizeof ((logs_tenant *)0)->name)
        return NULL;
    uint64_t h = hash64(tenant, tl);
    size_t mask = sl->tcap - 1;
    for (size_t i = (size_t)h & mask;; i = (i + 1) & mask) {
        logs_tenant *t = atomic_load_explicit(&sl->tenants[i], memory_order_acquire);
        if (!t)
            break;
        if (strcmp(t->name, tenant) == 0)
            return t;
    }
    if (!create)
        return NULL;
    pthread_mutex_lock(&sl->table_mu);
    logs_tenant *found = NULL;
    size_t slot = 0;
    for (size_t i = (size_t)h & mask;; i = (i + 1) & mask) {
        logs_tenant *t = atomic_load_explicit(&sl->tenants[i], memory_order_relaxed);
        if (!t) {
            slot = i;
            break;
        }
        if (strcmp(t->name, tenant) == 0) {
            found = t;
            break;
        }
    }
    if (!found && atomic_load(&sl->ntenants) < sl->cfg.max_tenants) {
        logs_tenant *t = calloc(1, sizeof *t);
        if (t && sampling_miner_create(NULL, &t->miner, NULL, 0) == SONDE_OK) {
            memcpy(t->name, tenant, tl + 1);
            pthread_mutex_init(&t->mu, NULL);
            atomic_store_explicit(&sl->tenants[slot], t, memory_order_release);
            atomic_fetch_add(&sl->ntenants, 1);
            found = t;
        } else {
            free(t);
        }
    }
    pthread_mutex_unlock(&sl->table_mu);
    return found;
}

/* ---- template versions ---- */

static vent *vtab_find(logs_tenant *t, uint64_t id)
{
    if (!t->vcap)
        return NULL;
    size_t mask = t->vcap - 1;
    for (size_t i = (size_t)hash64(&id, 8) & mask;; i = (i + 1) & mask) {
        if (t->vtab[i].id == id)
            return &t->vtab[i];
        if (t->vtab[i].id == 0)
            return NULL;
    }
}

static bool vtab_rehash(logs_tenant *t, size_t ncap, bool live_only)
{
    vent *nt = calloc(ncap, sizeof *nt);
    if (!nt)
        return false;
    size_t n = 0;
    for (size_t i = 0; i < t->vcap; i++) {
        const vent *e = &t->vtab[i];
        if (e->id == 0 ||
            (live_only && sampling_miner_lookup(t->miner, e->id, NULL, NULL) != SONDE_OK))
            continue;
        size_t j = (size_t)hash64(&e->id, 8) & (ncap - 1);
        while (nt[j].id)
            j = (j + 1) & (ncap - 1);
        nt[j] = *e;
        n++;
    }
    free(t->vtab);
    t->vtab = nt;
    t->vcap = ncap;
    t->vn = n;
    return true;
}

static vent *vtab_add(sampling_logs *sl, logs_tenant *t, uint64_t id)
{
    vent *e = vtab_find(t, id);
    if (e)
        return e;
    if ((t->vn + 1) * 2 > t->vcap) {
        size_t bound = (size_t)sl->max_templates * 4;
        bool prune = t->vn >= bound;
        size_t ncap = t->vcap ? t->vcap : 64;
        if (!prune)
            ncap *= 2;
        if (!vtab_rehash(t, ncap, prune))
            return NULL;
        if ((t->vn + 1) * 2 > t->vcap && !vtab_rehash(t, t->vcap * 2, false))
            return NULL;
    }
    size_t mask = t->vcap - 1;
    size_t i = (size_t)hash64(&id, 8) & mask;
    while (t->vtab[i].id)
        i = (i + 1) & mask;
    t->vtab[i] = (vent){.id = id};
    t->vn++;
    return &t->vtab[i];
}

sonde_status sampling_logs_restore(sampling_logs *sl, const char *tenant, uint64_t template_id,
                                   uint32_t version, const char *text, size_t len)
{
    logs_tenant *t = tenant_get(sl, tenant, true);
    if (!t)
        return SONDE_ERR_LIMIT;
    pthread_mutex_lock(&t->mu);
    sonde_status s = sampling_miner_put(t->miner, template_id, text, len, 0);
    if (s == SONDE_OK) {
        vent *e = vtab_add(sl, t, template_id);
        if (!e)
            s = SONDE_ERR_NOMEM;
        else if (version >= e->version)
            e->version = e->stored = version;
    }
    pthread_mutex_unlock(&t->mu);
    return s;
}

void sampling_logs_persisted(sampling_logs *sl, const char *tenant,
                             const sampling_template_version *v, size_t n)
{
    if (n == 0)
        return;
    logs_tenant *t = tenant_get(sl, tenant, false);
    if (!t)
        return;
    pthread_mutex_lock(&t->mu);
    for (size_t i = 0; i < n; i++) {
        vent *e = vtab_find(t, v[i].id);
        if (e && v[i].version > e->stored)
            e->stored = v[i].version;
    }
    pthread_mutex_unlock(&t->mu);
}

sonde_status sampling_logs_template(sampling_logs *sl, const char *tenant, uint64_t template_id,
                                    arena *a, const char **text, size_t *len)
{
    logs_tenant *t = tenant_get(sl, tenant, false);
    if (!t)
        return SONDE_ERR_NOT_FOUND;
    pthread_mutex_lock(&t->mu);
    const char *tx = NULL;
    sonde_status s = sampling_miner_lookup(t->miner, template_id, &tx, NULL);
    if (s == SONDE_OK) {
        size_t l = strlen(tx);
        char *c = arena_strndup(a, tx, l);
        if (!c) {
            s = arena_refusal(a);
        } else {
            *text = c;
            *len = l;
        }
    }
    pthread_mutex_unlock(&t->mu);
    return s;
}

/* ---- samplers ---- */

static sampling_sampler *stream_sampler(sampling_logs *sl, logs_tenant *t, uint64_t stream,
                                        int64_t now_ms)
{
    if (t->scap) {
        size_t mask = t->scap - 1;
        for (size_t i = (size_t)stream & mask;; i = (i + 1) & mask) {
            if (!t->stab[i].s)
                break;
            if (t->stab[i].stream == stream)
                return t->stab[i].s;
        }
    }
    if (t->sn >= sl->cfg.max_samplers) {
        if (!t->shared && sampling_sampler_create(&sl->cfg.sampler, now_ms, &t->shared) != SONDE_OK)
            t->shared = NULL;
        return t->shared;
    }
    if ((t->sn + 1) * 2 > t->scap) {
        size_t nc = t->scap ? t->scap * 2 : 16;
        sent *ns = calloc(nc, sizeof *ns);
        if (!ns)
            return NULL;
        for (size_t i = 0; i < t->scap; i++) {
            if (!t->stab[i].s)
                continue;
            size_t j = (size_t)t->stab[i].stream & (nc - 1);
            while (ns[j].s)
                j = (j + 1) & (nc - 1);
            ns[j] = t->stab[i];
        }
        free(t->stab);
        t->stab = ns;
        t->scap = nc;
    }
    sampling_sampler *s = NULL;
    if (sampling_sampler_create(&sl->cfg.sampler, now_ms, &s) != SONDE_OK)
        return NULL;
    size_t j = (size_t)stream & (t->scap - 1);
    while (t->stab[j].s)
        j = (j + 1) & (t->scap - 1);
    t->stab[j] = (sent){stream, s};
    t->sn++;
    return s;
}

/* ---- a batch ---- */

/* Counts are kept per 10 s of line time, so that a batch spanning minutes (a backfill, a
 * catch-up) still shows when its lines happened. */
#define COUNT_BUCKET_NS (INT64_C(10) * 1000000000)

typedef struct ckey {
    uint64_t stream, tid;
    int64_t bucket;
    size_t first; /* index of a line of this key: its stream labels */
    uint64_t lines, bytes;
    int64_t max_ts_ns;
    bool used;
} ckey;

static int ckey_cmp(const void *x, const void *y)
{
    const ckey *a = x, *b = y;
    if (a->stream != b->stream)
        return a->stream < b->stream ? -1 : 1;
    if (a->tid != b->tid)
        return a->tid < b->tid ? -1 : 1;
    return (a->bucket > b->bucket) - (a->bucket < b->bucket);
}

/* Labels of a count series: the stream's, __name__ and the template id, sorted by name
 * (a stream label named like the template label is replaced). */
static sonde_status count_series(arena *a, const sampling_log_line *l, const char *metric,
                                 const char *tid, size_t tidlen, sonde_series *out)
{
    sonde_label *lab = arena_alloc(a, (l->nlabels + 2) * sizeof *lab);
    if (!lab)
        return arena_refusal(a);
    uint32_t n = 0;
    static const char tl[] = SAMPLING_TEMPLATE_LABEL;
    /* the series outlive the request: the stream's strings are copied into a */
    size_t bytes = 0;
    for (uint32_t i = 0; i < l->nlabels; i++)
        bytes += l->stream[i].name_len + l->stream[i].value_len;
    char *str = arena_alloc(a, bytes ? bytes : 1);
    if (!str)
        return arena_refusal(a);
    for (uint32_t i = 0; i < l->nlabels; i++) {
        const sonde_label *s = &l->stream[i];
        if ((s->name_len == sizeof tl - 1 && memcmp(s->name, tl, sizeof tl - 1) == 0) ||
            (s->name_len == 8 && memcmp(s->name, "__name__", 8) == 0))
            continue;
        sonde_label c = *s;
        memcpy(str, s->name, s->name_len);
        c.name = str;
        str += s->name_len;
        if (s->value_len)
            memcpy(str, s->value, s->value_len);
        c.value = str;
        str += s->value_len;
        lab[n++] = c;
    }
    lab[n++] = (sonde_label){"__name__", metric, 8, (uint32_t)strlen(metric)};
    lab[n++] = (sonde_label){tl, tid, sizeof tl - 1, (uint32_t)tidlen};
    series_labels_sort(lab, n);
    memset(out, 0, sizeof *out);
    out->labels = lab;
    out->nlabels = n;
    out->hash = series_labels_hash(lab, n);
    return SONDE_OK;
}

/* ts, or later: after the last time stamped for (stream, template). mu held. */
static int64_t stamp(logs_tenant *t, uint64_t stream, uint64_t tid, int64_t ts)
{
    uint64_t key = hash64(&stream, 8) ^ (tid * 0x9e3779b97f4a7c15ULL);
    if (key == 0)
        key = 1;
    if ((t->sn_ts + 1) * 2 > t->scap_ts) {
        size_t nc = t->scap_ts ? t->scap_ts * 2 : 1024;
        stamp_ent *nt = NULL;
        if (nc <= STAMP_MAX * 2)
            nt = calloc(nc, sizeof *nt);
        if (!nt) { /* at the bound (or OOM): start over */
            if (t->stab_ts)
                memset(t->stab_ts, 0, t->scap_ts * sizeof *t->stab_ts);
            t->sn_ts = 0;
        } else {
            for (size_t i = 0; i < t->scap_ts; i++) {
                if (!t->stab_ts[i].key)
                    continue;
                size_t j = (size_t)t->stab_ts[i].key & (nc - 1);
                while (nt[j].key)
                    j = (j + 1) & (nc - 1);
                nt[j] = t->stab_ts[i];
            }
            free(t->stab_ts);
            t->stab_ts = nt;
            t->scap_ts = nc;
        }
        if (!t->stab_ts)
            return ts;
    }
    size_t mask = t->scap_ts - 1, i = (size_t)key & mask;
    while (t->stab_ts[i].key && t->stab_ts[i].key != key)
        i = (i + 1) & mask;
    stamp_ent *e = &t->stab_ts[i];
    if (!e->key) {
        e->key = key;
        t->sn_ts++;
    } else if (ts <= e->last_ms) {
        ts = e->last_ms + 1;
    }
    e->last_ms = ts;
    return ts;
}

/* The count series of a batch's keys: in (stream, template, time) order, two one-sample
 * series per key, each key's time made later than the last one stamped for its (stream,
 * template), so the logged samples of a series increase (replay relies on it). t's mutex is
 * held (t may be NULL: no stamping). */
static sonde_status count_series_all(logs_tenant *t, ckey *keys, size_t kcap, size_t nkeys,
                                     const sampling_log_line *lines, int64_t now_ms, arena *a,
                                     sampling_logs_result *out)
{
    sonde_status s = SONDE_OK;

    /* series in (stream, template, time) order: a key's buckets reach the aggregator ascending */
    size_t w = 0;
    for (size_t j = 0; j < kcap; j++)
        if (keys[j].used)
            keys[w++] = keys[j];
    qsort(keys, w, sizeof *keys, ckey_cmp);
    out->series = arena_alloc(a, (nkeys ? nkeys : 1) * 2 * sizeof *out->series);
    if (!out->series)
        return arena_refusal(a);
    for (size_t j = 0; j < w; j++) {
        const ckey *k = &keys[j];
        char tid[24];
        int tl = snprintf(tid, sizeof tid, "%llu", (unsigned long long)k->tid);
        char *tc = arena_strndup(a, tid, (size_t)tl);
        sonde_sample *sm = arena_alloc(a, 2 * sizeof *sm);
        if (!tc || !sm)
            return arena_refusal(a);
        int64_t ts = k->max_ts_ns > 0 ? k->max_ts_ns / 1000000 : now_ms;
        if (ts > now_ms || ts <= 0)
            ts = now_ms;
        if (t)
            ts = stamp(t, k->stream, k->tid, ts);
        sm[0] = (sonde_sample){ts, (double)k->lines};
        sm[1] = (sonde_sample){ts, (double)k->bytes};
        bool same = j > 0 && keys[j - 1].stream == k->stream && keys[j - 1].tid == k->tid;
        for (int m = 0; m < 2; m++) {
            sonde_series *se = &out->series[out->nseries];
            if (same) { /* another time bucket of the same key: same labels */
                *se = out->series[out->nseries - 2];
            } else {
                s = count_series(a, &lines[k->first],
                                 m ? SAMPLING_BYTES_METRIC : SAMPLING_LINES_METRIC, tc, (size_t)tl,
                                 se);
                if (s != SONDE_OK)
                    return s;
            }
            se->samples = &sm[m];
            se->nsamples = 1;
            out->nseries++;
        }
    }
    return SONDE_OK;
}

sonde_status sampling_logs_process(sampling_logs *sl, const char *tenant,
                                   const sampling_log_line *lines, size_t n, int64_t now_ms,
                                   arena *a, sampling_logs_result *out)
{
    memset(out, 0, sizeof *out);
    if (n == 0)
        return SONDE_OK;
    out->decisions = arena_calloc(a, n, sizeof *out->decisions);
    size_t kcap = 16;
    while (kcap < n * 2 && kcap < ((size_t)1 << 20))
        kcap *= 2;
    ckey *keys = arena_calloc(a, kcap, sizeof *keys);
    if (!out->decisions || !keys)
        return arena_refusal(a);
    size_t nkeys = 0, vcap = 0;
    logs_tenant *t = tenant_get(sl, tenant, true);
    sonde_status s = SONDE_OK;
    if (t)
        pthread_mutex_lock(&t->mu);
    uint32_t mark = t ? ++t->mark : 0;
    for (size_t i = 0; i < n && s == SONDE_OK; i++) {
        const sampling_log_line *l = &lines[i];
        sampling_log_decision *d = &out->decisions[i];
        d->keep = true;
        d->rate = 1;
        const char *tmpl = NULL;
        size_t tmpl_len = 0;
        sampling_add_result r;
        if (t && sampling_miner_add(t->miner, l->line, l->len, &r) == SONDE_OK) {
            vent *e = vtab_add(sl, t, r.template_id);
            if (e) {
                if (r.created || e->version == 0)
                    e->version = e->version ? e->version + 1 : 1;
                else if (r.changed)
                    e->version++;
                d->template_id = r.template_id;
                d->version = e->version;
                tmpl = r.template_text;
                tmpl_len = r.template_len;
                if (e->version > e->stored && (e->mark != mark || e->mark_version != e->version)) {
                    /* not stored yet, not listed in this batch: list it */
                    e->mark = mark;
                    e->mark_version = e->version;
                    if (out->nversions == vcap) {
                        size_t nc = vcap ? vcap * 2 : 16;
                        sampling_template_version *nv = arena_realloc(
                            a, out->versions, vcap * sizeof *nv, nc * sizeof *nv);
                        if (!nv) {
                            s = arena_refusal(a);
                            break;
                        }
                        out->versions = nv;
                        vcap = nc;
                    }
                    char *tx = arena_strndup(a, r.template_text, r.template_len);
                    if (!tx) {
                        s = arena_refusal(a);
                        break;
                    }
                    out->versions[out->nversions++] =
                        (sampling_template_version){r.template_id, e->version, tx, r.template_len};
                    atomic_fetch_add_explicit(&sl->m_versions, 1, memory_order_relaxed);
                }
            }
        }
        if (d->template_id == 0)
            atomic_fetch_add_explicit(&sl->m_unmined, 1, memory_order_relaxed);
        if (sl->cfg.sampling && t && !l->keep_always) {
            sampling_sampler *smp = stream_sampler(sl, t, l->stream_hash, now_ms);
            if (smp) {
                uint32_t rate = 1;
                d->keep = sampling_sampler_keep(smp, d->template_id, now_ms, &rate);
                d->rate = rate ? rate : 1;
            }
        }
        if (d->keep) {
            out->kept++;
            if (tmpl) {
                /* the text is valid until the miner changes: encode now */
                uint8_t *vb = arena_alloc(a, sampling_template_split_cap(l->len, tmpl_len));
                if (!vb) {
                    s = arena_refusal(a);
                    break;
                }
                size_t vl = sampling_template_split(tmpl, tmpl_len, l->line, l->len, vb);
                if (vl) {
                    d->vars = vb;
                    d->vars_len = vl;
                }
            }
        }
        /* exact counts, before sampling */
        int64_t bucket = l->ts_ns > 0 ? l->ts_ns / COUNT_BUCKET_NS : 0;
        uint64_t kh = hash64(&l->stream_hash, 8) ^ (d->template_id * 0x9e3779b97f4a7c15ULL) ^
                      ((uint64_t)bucket * 0xff51afd7ed558ccdULL);
        size_t mask = kcap - 1, j = (size_t)kh & mask;
        while (keys[j].used && (keys[j].stream != l->stream_hash || keys[j].tid != d->template_id ||
                                keys[j].bucket != bucket))
            j = (j + 1) & mask;
        ckey *k = &keys[j];
        if (!k->used) {
            if ((nkeys + 1) * 4 > kcap * 3) {
                /* kcap is at least 2n, up to 2^20: a batch with more distinct (stream,
                 * template, 10 s) keys than 3/4 of that is refused as too large */
                s = SONDE_ERR_LIMIT;
                break;
            }
            *k = (ckey){.stream = l->stream_hash, .tid = d->template_id, .bucket = bucket,
                        .first = i, .used = true, .max_ts_ns = l->ts_ns};
            nkeys++;
        }
        k->lines++;
        k->bytes += l->len;
        if (l->ts_ns > k->max_ts_ns)
            k->max_ts_ns = l->ts_ns;
    }
    atomic_fetch_add_explicit(&sl->m_lines, n, memory_order_relaxed);
    atomic_fetch_add_explicit(&sl->m_kept, out->kept, memory_order_relaxed);
    if (s == SONDE_OK)
        s = count_series_all(t, keys, kcap, nkeys, lines, now_ms, a, out);
    if (t)
        pthread_mutex_unlock(&t->mu);
    return s;
}

void sampling_logs_note_encoded(sampling_logs *sl, size_t n)
{
    atomic_fetch_add_explicit(&sl->m_encoded, n, memory_order_relaxed);
}

void sampling_logs_metrics_write(sampling_logs *sl, buf *out)
{
    if (!sl)
        return;
    size_t templates = 0, nt = 0;
    for (size_t i = 0; i < sl->tcap; i++) {
        logs_tenant *t = atomic_load(&sl->tenants[i]);
        if (!t)
            continue;
        nt++;
        pthread_mutex_lock(&t->mu);
        templates += sampling_miner_template_count(t->miner);
        pthread_mutex_unlock(&t->mu);
    }
    buf_printf(out,
               "# HELP sonde_logs_lines_total Log lines through the pipeline, and those kept by "
               "sampling.\n# TYPE sonde_logs_lines_total counter\n"
               "sonde_logs_lines_total{outcome=\"seen\"} %llu\n"
               "sonde_logs_lines_total{outcome=\"kept\"} %llu\n"
               "sonde_logs_lines_total{outcome=\"unmined\"} %llu\n"
               "sonde_logs_lines_total{outcome=\"template_encoded\"} %llu\n"
               "# HELP sonde_logs_template_versions_total Template versions handed out for "
               "storing.\n# TYPE sonde_logs_template_versions_total counter\n"
               "sonde_logs_template_versions_total %llu\n"
               "# HELP sonde_logs_templates Templates the miners hold.\n"
               "# TYPE sonde_logs_templates gauge\nsonde_logs_templates %zu\n"
               "# HELP sonde_logs_miner_tenants Tenants with a miner.\n"
               "# TYPE sonde_logs_miner_tenants gauge\nsonde_logs_miner_tenants %zu\n",
               (unsigned long long)atomic_load(&sl->m_lines),
               (unsigned long long)atomic_load(&sl->m_kept),
               (unsigned long long)atomic_load(&sl->m_unmined),
               (unsigned long long)atomic_load(&sl->m_encoded),
               (unsigned long long)atomic_load(&sl->m_versions), templates, nt);
}

/* ---- counts encoding ---- */

static sonde_status put_varint(buf *b, uint64_t v)
{
    uint8_t tmp[10];
    return buf_append(b, tmp, varint_put(tmp, v));
}

sonde_status sampling_counts_encode(const sonde_series *s, size_t n, buf *out)
{
    sonde_status st = buf_append(out, "SLC1", 4);
    if (st == SONDE_OK)
        st = put_varint(out, n);
    for (size_t i = 0; i < n && st == SONDE_OK; i++) {
        st = put_varint(out, s[i].nlabels);
        for (uint32_t j = 0; j < s[i].nlabels && st == SONDE_OK; j++) {
            const sonde_label *l = &s[i].labels[j];
            if ((st = put_varint(out, l->name_len)) == SONDE_OK &&
                (st = buf_append(out, l->name, l->name_len)) == SONDE_OK &&
                (st = put_varint(out, l->value_len)) == SONDE_OK)
                st = buf_append(out, l->value, l->value_len);
        }
        if (st == SONDE_OK)
            st = put_varint(out, s[i].nsamples);
        for (uint32_t j = 0; j < s[i].nsamples && st == SONDE_OK; j++) {
            int64_t ts = s[i].samples[j].ts_ms;
            uint64_t u = (uint64_t)ts;
            uint64_t zz = (u << 1) ^ (0 - (u >> 63));
            uint64_t bits;
            memcpy(&bits, &s[i].samples[j].value, 8);
            uint8_t le[8];
            for (int k = 0; k < 8; k++)
                le[k] = (uint8_t)(bits >> (8 * k));
            if ((st = put_varint(out, zz)) == SONDE_OK)
                st = buf_append(out, le, 8);
        }
    }
    return st;
}

typedef struct rd {
    const uint8_t *p, *end;
} rd;

static bool get_varint(rd *r, uint64_t *v)
{
    return varint_get(&r->p, r->end, v);
}

static bool get_bytes(rd *r, const char **p, uint32_t *len)
{
    uint64_t l;
    if (!get_varint(r, &l) || l > (uint64_t)(r->end - r->p) || l > UINT32_MAX)
        return false;
    *p = (const char *)r->p;
    *len = (uint32_t)l;
    r->p += l;
    return true;
}

sonde_status sampling_counts_decode(arena *a, const void *data, size_t len, sonde_series **out,
                                    size_t *n)
{
    rd r = {data, (const uint8_t *)data + len};
    uint64_t ns;
    if (len < 4 || memcmp(data, "SLC1", 4) != 0)
        return SONDE_ERR_INVALID;
    r.p += 4;
    /* every series takes at least 2 bytes: the count cannot exceed the input */
    if (!get_varint(&r, &ns) || ns > len)
        return SONDE_ERR_INVALID;
    sonde_series *s = arena_calloc(a, ns ? ns : 1, sizeof *s);
    if (!s)
        return arena_refusal(a);
    for (size_t i = 0; i < ns; i++) {
        uint64_t nl, nsm;
        if (!get_varint(&r, &nl) || nl > (uint64_t)(r.end - r.p) / 2 || nl > UINT32_MAX)
            return SONDE_ERR_INVALID;
        sonde_label *lab = arena_alloc(a, (nl ? nl : 1) * sizeof *lab);
        if (!lab)
            return arena_refusal(a);
        for (uint64_t j = 0; j < nl; j++)
            if (!get_bytes(&r, &lab[j].name, &lab[j].name_len) ||
                !get_bytes(&r, &lab[j].value, &lab[j].value_len))
                return SONDE_ERR_INVALID;
        if (!get_varint(&r, &nsm) || nsm > (uint64_t)(r.end - r.p) / 9 || nsm > UINT32_MAX)
            return SONDE_ERR_INVALID;
        sonde_sample *sm = arena_alloc(a, (nsm ? nsm : 1) * sizeof *sm);
        if (!sm)
            return arena_refusal(a);
        for (uint64_t j = 0; j < nsm; j++) {
            uint64_t zz;
            if (!get_varint(&r, &zz) || r.end - r.p < 8)
                return SONDE_ERR_INVALID;
            uint64_t bits = 0;
            for (int k = 0; k < 8; k++)
                bits |= (uint64_t)r.p[k] << (8 * k);
            r.p += 8;
            sm[j].ts_ms = (int64_t)((zz >> 1) ^ (0 - (zz & 1)));
            memcpy(&sm[j].value, &bits, 8);
        }
        s[i].labels = lab;
        s[i].nlabels = (uint32_t)nl;
        s[i].samples = sm;
        s[i].nsamples = (uint32_t)nsm;
        s[i].hash = series_labels_hash(lab, (uint32_t)nl);
    }
    if (r.p != r.end)
        return SONDE_ERR_INVALID;
    *out = s;
    *n = ns;
    return SONDE_OK;
}

/* ---- row header ---- */

size_t sampling_row_header_put(uint8_t *out, uint32_t rate, uint64_t template_id,
                               uint32_t version, bool encoded)
{
    size_t n = 0;
    out[n++] = encoded ? SAMPLING_ROW_MAGIC_ENCODED : SAMPLING_ROW_MAGIC;
    n += varint_put(out + n, rate);
    n += varint_put(out + n, template_id);
    n += varint_put(out + n, version);
    return n;
}

size_t sampling_row_parse(const void *value, size_t len, sampling_row_info *info)
{
    memset(info, 0, sizeof *info);
    info->rate = 1;
    const uint8_t *v = value;
    if (len == 0 || (v[0] != SAMPLING_ROW_MAGIC && v[0] != SAMPLING_ROW_MAGIC_ENCODED))
        return 0;
    rd r = {v + 1, v + len};
    uint64_t ra, id, ver;
    if (!get_varint(&r, &ra) || !get_varint(&r, &id) || !get_varint(&r, &ver) || ra == 0 ||
        ra > UINT32_MAX || ver > UINT32_MAX)
        return SIZE_MAX;
    info->rate = (uint32_t)ra;
    info->template_id = id;
    info->version = (uint32_t)ver;
    if (v[0] == SAMPLING_ROW_MAGIC_ENCODED) {
        const uint8_t *start = r.p;
        uint64_t n;
        if (id == 0 || !get_varint(&r, &n) || n > (uint64_t)(r.end - r.p))
            return SIZE_MAX;
        for (uint64_t i = 0; i < n; i++) {
            const char *p;
            uint32_t l;
            if (!get_bytes(&r, &p, &l))
                return SIZE_MAX;
        }
        info->vars = start;
        info->vars_len = (size_t)(r.p - start);
    }
    return (size_t)(r.p - v);
}

/* The template's constant segments: text between <*> markers. */
static const char *next_wild(const char *t, const char *end)
{
    for (const char *p = t; p + 3 <= end; p++)
        if (p[0] == '<' && p[1] == '*' && p[2] == '>')
            return p;
    return NULL;
}

size_t sampling_template_split_cap(size_t line_len, size_t tmpl_len)
{
    /* count varint + per variable (at most tmpl_len / 3 + 1) a 5-byte length, + the bytes */
    return 10 + (tmpl_len / 3 + 1) * 5 + line_len;
}

size_t sampling_template_split(const char *tmpl, size_t tlen, const char *line, size_t len,
                               uint8_t *out)
{
    const char *t = tmpl, *tend = tmpl + tlen;
    const char *w = next_wild(t, tend);
    size_t c0 = (size_t)((w ? w : tend) - t);
    if (c0 > len || memcmp(line, t, c0) != 0)
        return 0;
    size_t pos = c0;
    /* variables first into a scratch list of (start, len), then the block */
    size_t nv = 0, o = 10; /* leave room for the count; moved down at the end */
    while (w) {
        const char *seg = w + 3;
        const char *nw = next_wild(seg, tend);
        size_t sl = (size_t)((nw ? nw : tend) - seg);
        size_t vstart = pos, vend;
        if (!nw) { /* the last segment ends the line */
            if (sl > len - pos || memcmp(line + len - sl, seg, sl) != 0)
                return 0;
            vend = len - sl;
            pos = len;
        } else if (sl == 0) {
            vend = pos; /* two markers in a row: an empty variable */
        } else {
            const char *f = memmem(line + pos, len - pos, seg, sl);
            if (!f)
                return 0;
            vend = (size_t)(f - line);
            pos = vend + sl;
        }
        o += varint_put(out + o, vend - vstart);
        memcpy(out + o, line + vstart, vend - vstart);
        o += vend - vstart;
        nv++;
        w = nw;
    }
    if (pos != len)
        return 0;
    uint8_t cnt[10];
    size_t cl = varint_put(cnt, nv);
    memmove(out + cl, out + 10, o - 10);
    memcpy(out, cnt, cl);
    return o - 10 + cl;
}

sonde_status sampling_template_join(const char *tmpl, size_t tlen, const uint8_t *vars,
                                    size_t vlen, buf *out)
{
    rd r = {vars, vars + vlen};
    uint64_t n;
    if (!get_varint(&r, &n))
        return SONDE_ERR_INVALID;
    const char *t = tmpl, *tend = tmpl + tlen;
    uint64_t used = 0;
    sonde_status s = SONDE_OK;
    for (;;) {
        const char *w = next_wild(t, tend);
        if ((s = buf_append(out, t, (size_t)((w ? w : tend) - t))) != SONDE_OK)
            return s;
        if (!w)
            break;
        const char *p;
        uint32_t l;
        if (used == n || !get_bytes(&r, &p, &l))
            return SONDE_ERR_INVALID;
        used++;
        if ((s = buf_append(out, p, l)) != SONDE_OK)
            return s;
        t = w + 3;
    }
    return used == n && r.p == r.end ? SONDE_OK : SONDE_ERR_INVALID;
}

/* ---- levels ---- */

static char lower(char c)
{
    return c >= 'A' && c <= 'Z' ? (char)(c + 32) : c;
}

static bool word_eq(const char *w, size_t n, const char *lit)
{
    size_t l = strlen(lit);
    if (n != l)
        return false;
    for (size_t i = 0; i < n; i++)
        if (lower(w[i]) != lit[i])
            return false;
    return true;
}

bool sampling_level_is_warn(const char *v, size_t n)
{
    static const char *const warn[] = {"warn", "warning", "wrn",   "w",        "error",
                                       "err",  "eror",    "e",     "fatal",    "f",
                                       "critical", "crit", "panic", "emerg", "emergency",
                                       "alert", "severe"};
    for (size_t i = 0; i < sizeof warn / sizeof *warn; i++)
        if (word_eq(v, n, warn[i]))
            return true;
    return false;
}

static bool is_word_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '_';
}

bool sampling_line_is_warn(const char *line, size_t len)
{
    /* a level field: level=..., "level":"...", lvl=, severity= */
    static const char *const keys[] = {"level", "lvl", "severity", "loglevel"};
    for (size_t i = 0; i + 3 < len; i++) {
        if (is_word_char(line[i]) && i > 0 && is_word_char(line[i - 1]))
            continue;
        for (size_t k = 0; k < sizeof keys / sizeof *keys; k++) {
            size_t kl = strlen(keys[k]);
            if (i + kl + 1 >= len || !word_eq(line + i, kl, keys[k]))
                continue;
            size_t j = i + kl;
            if (line[j] == '"')
                j++;
            if (j < len && (line[j] == '=' || line[j] == ':')) {
                j++;
                while (j < len && (line[j] == ' ' || line[j] == '"'))
                    j++;
                size_t v = j;
                while (j < len && is_word_char(line[j]))
                    j++;
                if (j > v)
                    return sampling_level_is_warn(line + v, j - v);
            }
        }
    }
    /* else a level word anywhere: WARN, ERROR, [error], Fatal: ... (not the one-letter forms) */
    for (size_t i = 0; i < len;) {
        while (i < len && !is_word_char(line[i]))
            i++;
        size_t s = i;
        while (i < len && is_word_char(line[i]))
            i++;
        if (i - s >= 3 && i - s <= 9 && sampling_level_is_warn(line + s, i - s))
            return true;
    }
    return false;
}
