/*
 * index.c - one shard's series index: the series map (tenant + label set ->
 * series), the id map, and postings (tenant -> label name -> label value ->
 * sorted series ids, plus every series id of the tenant).
 *
 * Postings lists stay sorted by construction: ids come from a global
 * counter, a shard appends them in allocation order, and at open series are
 * loaded in key order (tenant, id). Nothing is ever removed yet (no
 * retention), so tables need no deletion.
 *
 * Memory per series: the agg_series struct with its key (tenant and canonical
 * labels) in one malloc, two table slots, and one id per label in postings.
 * Label names/values are stored once per shard in post_name / post_value.
 *
 * Threads: the owning shard thread mutates under the shard's write lock;
 * readers hold the read lock.
 */
#include <stdlib.h>
#include <string.h>

#include "../core/hash.h"
#include "../core/series.h"
#include "storage_internal.h"

/* ---- ptab ---- */

void *storage_ptab_find(const ptab *t, uint64_t h, ptab_eq_fn eq, const void *key)
{
    if (t->cap == 0)
        return NULL;
    for (size_t i = h & (t->cap - 1);; i = (i + 1) & (t->cap - 1)) {
        if (!t->slots[i])
            return NULL;
        if (t->hashes[i] == h && eq(t->slots[i], key))
            return t->slots[i];
    }
}

static void ptab_put(ptab *t, uint64_t h, void *e)
{
    size_t i = h & (t->cap - 1);
    while (t->slots[i])
        i = (i + 1) & (t->cap - 1);
    t->slots[i] = e;
    t->hashes[i] = h;
    t->n++;
}

sonde_status storage_ptab_insert(ptab *t, uint64_t h, void *entry)
{
    if ((t->n + 1) * 4 > t->cap * 3) {
        size_t ncap = t->cap ? t->cap * 2 : 8;
        ptab nt = {calloc(ncap, sizeof(void *)), malloc(ncap * sizeof(uint64_t)), ncap, 0};
        if (!nt.slots || !nt.hashes) {
            free(nt.slots);
            free(nt.hashes);
            return SONDE_ERR_NOMEM;
        }
        for (size_t i = 0; i < t->cap; i++)
            if (t->slots[i])
                ptab_put(&nt, t->hashes[i], t->slots[i]);
        free(t->slots);
        free(t->hashes);
        *t = nt;
    }
    ptab_put(t, h, entry);
    return SONDE_OK;
}

void storage_ptab_fini(ptab *t)
{
    free(t->slots);
    free(t->hashes);
    memset(t, 0, sizeof *t);
}

/* ---- plist ---- */

static sonde_status plist_push(plist *p, uint64_t id)
{
    if (p->n > 0 && p->ids[p->n - 1] == id)
        return SONDE_OK;
    if (p->n == p->cap) {
        uint32_t ncap = p->cap < 4 ? 4 : p->cap + p->cap / 2;
        uint64_t *ni = realloc(p->ids, ncap * sizeof *ni);
        if (!ni)
            return SONDE_ERR_NOMEM;
        p->ids = ni;
        p->cap = ncap;
    }
    p->ids[p->n++] = id;
    return SONDE_OK;
}

/* ---- keys ---- */

typedef struct bkey {
    const char *p;
    size_t n;
} bkey;

static bool eq_tenant(const void *e, const void *k)
{
    const post_tenant *t = e;
    const bkey *b = k;
    return t->tlen == b->n && memcmp(t->tenant, b->p, b->n) == 0;
}

static bool eq_name(const void *e, const void *k)
{
    const post_name *t = e;
    const bkey *b = k;
    return t->nlen == b->n && memcmp(t->name, b->p, b->n) == 0;
}

static bool eq_value(const void *e, const void *k)
{
    const post_value *t = e;
    const bkey *b = k;
    return t->vlen == b->n && memcmp(t->v, b->p, b->n) == 0;
}

static bool eq_series(const void *e, const void *k)
{
    const agg_series *s = e;
    const bkey *b = k; /* tenant '\0' enc, as in s->key */
    return (size_t)s->tlen + 1 + s->enc_len == b->n && memcmp(s->key, b->p, b->n) == 0;
}

static bool eq_id(const void *e, const void *k)
{
    return ((const agg_series *)e)->id == *(const uint64_t *)k;
}

static uint64_t id_hash(uint64_t id)
{
    /* splitmix64 finaliser: ids are sequential */
    id ^= id >> 30;
    id *= 0xbf58476d1ce4e5b9ULL;
    id ^= id >> 27;
    id *= 0x94d049bb133111ebULL;
    return id ^ (id >> 31);
}

uint64_t storage_index_hash_series(uint64_t tenant_hash, uint64_t labels_hash)
{
    return hash64_seeded(&labels_hash, sizeof labels_hash, tenant_hash);
}

post_tenant *storage_index_tenant(agg_shard *sh, const char *tenant, size_t tlen)
{
    bkey k = {tenant, tlen};
    return storage_ptab_find(&sh->tenants, hash64(tenant, tlen), eq_tenant, &k);
}

post_name *storage_index_name(post_tenant *pt, const char *name, size_t nlen)
{
    bkey k = {name, nlen};
    return storage_ptab_find(&pt->names, hash64(name, nlen), eq_name, &k);
}

post_value *storage_index_value(post_name *pn, const char *v, size_t vlen)
{
    bkey k = {v, vlen};
    return storage_ptab_find(&pn->values, hash64(v, vlen), eq_value, &k);
}

bool storage_index_scratch(agg_shard *sh, size_t n)
{
    if (n <= sh->scratch_cap)
        return true;
    char *ns = realloc(sh->scratch, n * 2);
    if (!ns)
        return false;
    sh->scratch = ns;
    sh->scratch_cap = n * 2;
    return true;
}

agg_series *storage_index_find(agg_shard *sh, const char *tenant, size_t tlen, uint64_t h,
                               const char *enc, size_t enc_len)
{
    size_t need = tlen + 1 + enc_len;
    if (enc != sh->scratch + tlen + 1) {
        if (!storage_index_scratch(sh, need))
            return NULL;
        memmove(sh->scratch + tlen + 1, enc, enc_len);
    }
    memcpy(sh->scratch, tenant, tlen);
    sh->scratch[tlen] = 0;
    bkey k = {sh->scratch, need};
    return storage_ptab_find(&sh->series, h, eq_series, &k);
}

agg_series *storage_index_find_id(agg_shard *sh, uint64_t id)
{
    return storage_ptab_find(&sh->by_id, id_hash(id), eq_id, &id);
}

static sonde_status postings_add(agg_shard *sh, const char *tenant, size_t tlen, const char *enc,
                                 size_t enc_len, uint64_t id)
{
    post_tenant *pt = storage_index_tenant(sh, tenant, tlen);
    if (!pt) {
        pt = calloc(1, sizeof *pt + tlen + 1);
        if (!pt)
            return SONDE_ERR_NOMEM;
        pt->tlen = (uint32_t)tlen;
        memcpy(pt->tenant, tenant, tlen);
        if (storage_ptab_insert(&sh->tenants, hash64(tenant, tlen), pt) != SONDE_OK) {
            free(pt);
            return SONDE_ERR_NOMEM;
        }
    }
    if (plist_push(&pt->all, id) != SONDE_OK)
        return SONDE_ERR_NOMEM;
    /* walk the canonical encoding: name 0xFF value 0xFF ... */
    const char *p = enc, *end = enc + enc_len;
    while (p < end) {
        const char *ne = memchr(p, 0xff, (size_t)(end - p));
        if (!ne)
            return SONDE_ERR_INVALID;
        const char *ve = memchr(ne + 1, 0xff, (size_t)(end - ne - 1));
        if (!ve)
            return SONDE_ERR_INVALID;
        size_t nlen = (size_t)(ne - p), vlen = (size_t)(ve - ne - 1);
        post_name *pn = storage_index_name(pt, p, nlen);
        if (!pn) {
            pn = calloc(1, sizeof *pn + nlen + 1);
            if (!pn)
                return SONDE_ERR_NOMEM;
            pn->nlen = (uint32_t)nlen;
            memcpy(pn->name, p, nlen);
            if (storage_ptab_insert(&pt->names, hash64(p, nlen), pn) != SONDE_OK) {
                free(pn);
                return SONDE_ERR_NOMEM;
            }
        }
        post_value *pv = storage_index_value(pn, ne + 1, vlen);
        if (!pv) {
            pv = calloc(1, sizeof *pv + vlen + 1);
            if (!pv)
                return SONDE_ERR_NOMEM;
            pv->vlen = (uint32_t)vlen;
            memcpy(pv->v, ne + 1, vlen);
            if (storage_ptab_insert(&pn->values, hash64(ne + 1, vlen), pv) != SONDE_OK) {
                free(pv);
                return SONDE_ERR_NOMEM;
            }
        }
        if (plist_push(&pv->ids, id) != SONDE_OK)
            return SONDE_ERR_NOMEM;
        p = ve + 1;
    }
    return SONDE_OK;
}

agg_series *storage_index_add(agg_shard *sh, const char *tenant, size_t tlen, uint64_t h,
                              uint64_t id, const char *enc, size_t enc_len)
{
    agg_series *s = malloc(sizeof *s + tlen + 1 + enc_len);
    if (!s)
        return NULL;
    s->id = id;
    s->hash = h;
    s->min_ts = INT64_MAX;
    s->max_ts = INT64_MIN;
    s->last_vbits = 0;
    storage_chunk_enc_init(&s->head);
    s->hist = NULL;
    s->enc_len = (uint32_t)enc_len;
    s->tlen = (uint8_t)tlen;
    s->dirty = 0;
    memcpy(s->key, tenant, tlen);
    s->key[tlen] = 0;
    memcpy(s->key + tlen + 1, enc, enc_len);
    if (storage_ptab_insert(&sh->series, h, s) != SONDE_OK) {
        free(s);
        return NULL;
    }
    /* after this point s is referenced: a failure below leaves a series that
     * is findable but missing postings, which only degrades selection */
    if (storage_ptab_insert(&sh->by_id, id_hash(id), s) != SONDE_OK)
        return s;
    (void)postings_add(sh, tenant, tlen, s->key + tlen + 1, enc_len, id);
    sh->nseries++;
    return s;
}

void storage_index_fini(agg_shard *sh)
{
    for (size_t i = 0; i < sh->series.cap; i++) {
        agg_series *s = sh->series.slots[i];
        if (s) {
            storage_chunk_enc_fini(&s->head);
            storage_hist_free(s->hist);
            free(s);
        }
    }
    for (size_t i = 0; i < sh->tenants.cap; i++) {
        post_tenant *pt = sh->tenants.slots[i];
        if (!pt)
            continue;
        for (size_t j = 0; j < pt->names.cap; j++) {
            post_name *pn = pt->names.slots[j];
            if (!pn)
                continue;
            for (size_t k = 0; k < pn->values.cap; k++) {
                post_value *pv = pn->values.slots[k];
                if (pv) {
                    free(pv->ids.ids);
                    free(pv);
                }
            }
            storage_ptab_fini(&pn->values);
            free(pn);
        }
        storage_ptab_fini(&pt->names);
        free(pt->all.ids);
        free(pt);
    }
    storage_ptab_fini(&sh->series);
    storage_ptab_fini(&sh->by_id);
    storage_ptab_fini(&sh->tenants);
    free(sh->scratch);
    sh->scratch = NULL;
    sh->scratch_cap = 0;
}
