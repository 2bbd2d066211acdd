/*
 * read.c - the read side: series selection by matchers over postings, sample
 * reads (flushed chunks from a RocksDB snapshot + a copy of the head), label
 * names and values.
 *
 * Matcher semantics (Prometheus): a series without label L has L = "". For a
 * matcher m on L, let E = m("") (does it match the empty value?). Then
 *   E false: set = union of postings of the values v of L with m(v)
 *   E true:  set = every series of the tenant minus the union of postings
 *            of the values v with !m(v)
 * Regex callbacks run at most once per distinct value per select (a cache
 * spans the shards).
 *
 * Consistency: every read first waits (<= 2 s) until each shard has applied
 * every batch committed before the read began (read-your-writes). A sample
 * read takes the shard's read lock only to copy the head and take a RocksDB
 * snapshot; chunks are cut and written under the write lock, so the snapshot
 * and the head copy always agree.
 *
 * Threads: any thread, concurrently with ingestion. Results are copied into
 * the caller's arena; temporaries are malloc'd and freed here.
 */
#include <stdlib.h>
#include <string.h>

#include "../core/hash.h"
#include "../core/series.h"
#include "../core/timeutil.h"
#include "storage_internal.h"

void storage_wait_applied(storage *st)
{
    uint64_t target = atomic_load(&st->committed_seq);
    int64_t now = time_mono_ns();
    /* When the shards lag by more than the bound (overload, long replay), a
     * query that reads many series must not wait 2 s per series: after a
     * timed-out wait, reads go ahead without waiting for one second. */
    if (now < atomic_load(&st->wait_skip_until_ns))
        return;
    int64_t deadline = now + 2000000000LL;
    for (;;) {
        uint32_t seen = notify_prepare(&st->applied_nt);
        bool ok = true;
        for (unsigned i = 0; i < st->nshards && ok; i++)
            ok = atomic_load(&st->shards[i].applied_seq) >= target;
        if (ok)
            return;
        int64_t left = deadline - time_mono_ns();
        if (left <= 0) {
            atomic_store(&st->wait_skip_until_ns, time_mono_ns() + 1000000000LL);
            return;
        }
        int ms = (int)(left / 1000000) + 1;
        notify_wait(&st->applied_nt, seen, ms > 50 ? 50 : ms);
    }
}

/* ---- small growable vectors (malloc) ---- */

typedef struct idvec {
    uint64_t *v;
    size_t n, cap;
} idvec;

static bool idvec_reserve(idvec *a, size_t extra)
{
    if (a->n + extra <= a->cap)
        return true;
    size_t nc = a->cap ? a->cap * 2 : 64;
    while (nc < a->n + extra)
        nc *= 2;
    uint64_t *nv = realloc(a->v, nc * sizeof *nv);
    if (!nv)
        return false;
    a->v = nv;
    a->cap = nc;
    return true;
}

static bool idvec_append(idvec *a, const uint64_t *ids, size_t n)
{
    if (!idvec_reserve(a, n))
        return false;
    if (n)
        memcpy(a->v + a->n, ids, n * sizeof *ids);
    a->n += n;
    return true;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static void idvec_sort_unique(idvec *a)
{
    if (a->n < 2)
        return;
    qsort(a->v, a->n, sizeof *a->v, cmp_u64);
    size_t w = 1;
    for (size_t i = 1; i < a->n; i++)
        if (a->v[i] != a->v[w - 1])
            a->v[w++] = a->v[i];
    a->n = w;
}

/* a = a ∩ b (both sorted) */
static void ids_intersect(idvec *a, const uint64_t *b, size_t bn)
{
    size_t i = 0, j = 0, w = 0;
    while (i < a->n && j < bn) {
        if (a->v[i] < b[j])
            i++;
        else if (a->v[i] > b[j])
            j++;
        else {
            a->v[w++] = a->v[i];
            i++;
            j++;
        }
    }
    a->n = w;
}

/* out = all \ sub (both sorted) */
static bool ids_minus(idvec *out, const uint64_t *all, size_t an, const uint64_t *sub, size_t sn)
{
    if (!idvec_reserve(out, an))
        return false;
    size_t i = 0, j = 0;
    while (i < an) {
        if (j < sn && sub[j] < all[i])
            j++;
        else if (j < sn && sub[j] == all[i])
            i++, j++;
        else
            out->v[out->n++] = all[i++];
    }
    return true;
}

static bool ids_intersects(const uint64_t *a, size_t an, const uint64_t *b, size_t bn)
{
    if (an > bn) {
        const uint64_t *t = a;
        a = b;
        b = t;
        size_t tn = an;
        an = bn;
        bn = tn;
    }
    for (size_t i = 0; i < an; i++) {
        size_t lo = 0, hi = bn;
        while (lo < hi) {
            size_t mid = (lo + hi) / 2;
            if (b[mid] < a[i])
                lo = mid + 1;
            else
                hi = mid;
        }
        if (lo < bn && b[lo] == a[i])
            return true;
    }
    return false;
}

/* ---- matcher evaluation with a per-select cache ---- */

typedef struct mcache_ent {
    const char *v;
    size_t n;
    bool r;
} mcache_ent;

typedef struct mcache {
    ptab t;
    mcache_ent *ents;
    size_t n, cap;
} mcache;

typedef struct mkey {
    const char *v;
    size_t n;
} mkey;

static bool mcache_eq(const void *e, const void *k)
{
    const mcache_ent *a = e;
    const mkey *b = k;
    return a->n == b->n && memcmp(a->v, b->v, b->n) == 0;
}

static bool matcher_eval(const storage_matcher *m, mcache *c, const char *v, size_t n)
{
    switch (m->op) {
    case STORAGE_MATCH_EQ:
        return n == m->value_len && memcmp(v, m->value, n) == 0;
    case STORAGE_MATCH_NEQ:
        return !(n == m->value_len && memcmp(v, m->value, n) == 0);
    case STORAGE_MATCH_RE:
    case STORAGE_MATCH_NRE:
        break;
    }
    bool neg = m->op == STORAGE_MATCH_NRE;
    if (!m->re_match)
        return neg;
    uint64_t h = hash64(v, n);
    mkey k = {v, n};
    /* entries are indices (+1) into c->ents so that the array may grow */
    if (c->t.cap) {
        for (size_t i = h & (c->t.cap - 1);; i = (i + 1) & (c->t.cap - 1)) {
            if (!c->t.slots[i])
                break;
            size_t idx = (size_t)(uintptr_t)c->t.slots[i] - 1;
            if (c->t.hashes[i] == h && mcache_eq(&c->ents[idx], &k))
                return c->ents[idx].r != neg;
        }
    }
    bool r = m->re_match(m->re_ctx, v, n);
    if (c->n == c->cap) {
        size_t nc = c->cap ? c->cap * 2 : 16;
        mcache_ent *ne = realloc(c->ents, nc * sizeof *ne);
        if (!ne)
            return r != neg;
        c->ents = ne;
        c->cap = nc;
    }
    c->ents[c->n] = (mcache_ent){v, n, r};
    if (storage_ptab_insert(&c->t, h, (void *)(uintptr_t)(c->n + 1)) == SONDE_OK)
        c->n++;
    return r != neg;
}

static void mcaches_free(mcache *c, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        storage_ptab_fini(&c[i].t);
        free(c[i].ents);
    }
    free(c);
}

/* Series ids of pt matching one matcher, into out (sorted, unique). */
static bool match_one(post_tenant *pt, const storage_matcher *m, mcache *c, idvec *out)
{
    bool e = matcher_eval(m, c, "", 0);
    post_name *pn = storage_index_name(pt, m->name, m->name_len);
    if (m->op == STORAGE_MATCH_EQ && !e) {
        post_value *pv = pn ? storage_index_value(pn, m->value, m->value_len) : NULL;
        return pv ? idvec_append(out, pv->ids.ids, pv->ids.n) : true;
    }
    if (m->op == STORAGE_MATCH_NEQ && e) {
        post_value *pv = pn ? storage_index_value(pn, m->value, m->value_len) : NULL;
        return ids_minus(out, pt->all.ids, pt->all.n, pv ? pv->ids.ids : NULL, pv ? pv->ids.n : 0);
    }
    idvec u = {0};
    bool ok = true;
    if (pn) {
        for (size_t i = 0; i < pn->values.cap && ok; i++) {
            post_value *pv = pn->values.slots[i];
            if (pv && matcher_eval(m, c, pv->v, pv->vlen) != e)
                ok = idvec_append(&u, pv->ids.ids, pv->ids.n);
        }
    }
    idvec_sort_unique(&u);
    if (ok) {
        if (!e)
            ok = idvec_append(out, u.v, u.n);
        else
            ok = ids_minus(out, pt->all.ids, pt->all.n, u.v, u.n);
    }
    free(u.v);
    return ok;
}

static bool in_range(const agg_series *s, int64_t mint, int64_t maxt)
{
    if (storage_hist_any(s->hist) && s->hist->max_ts >= mint && s->hist->min_ts <= maxt)
        return true;
    return s->max_ts != INT64_MIN && s->max_ts >= mint && s->min_ts <= maxt;
}

/* Ids of series in sh matching all matchers with samples in [mint, maxt].
 * Caller holds the shard read lock. *all: the result is every series of pt. */
static bool shard_match(agg_shard *sh, post_tenant *pt, const storage_matcher *m, size_t nm,
                        mcache *c, int64_t mint, int64_t maxt, idvec *out, bool *all)
{
    idvec cur = {0};
    bool ok = true, first = true;
    for (size_t i = 0; i < nm && ok; i++) {
        idvec s = {0};
        ok = match_one(pt, &m[i], &c[i], &s);
        if (ok) {
            if (first) {
                free(cur.v);
                cur = s;
                s.v = NULL;
                first = false;
            } else {
                ids_intersect(&cur, s.v, s.n);
            }
        }
        free(s.v);
        if (!first && cur.n == 0)
            break;
    }
    if (ok && first)
        ok = idvec_append(&cur, pt->all.ids, pt->all.n);
    if (!ok) {
        free(cur.v);
        return false;
    }
    size_t w = 0;
    for (size_t i = 0; i < cur.n; i++) {
        agg_series *s = storage_index_find_id(sh, cur.v[i]);
        if (s && in_range(s, mint, maxt))
            cur.v[w++] = cur.v[i];
    }
    cur.n = w;
    *all = cur.n == pt->all.n;
    *out = cur;
    return true;
}

static mcache *mcaches_new(size_t nm)
{
    return calloc(nm ? nm : 1, sizeof(mcache));
}

/* ---- select ---- */

typedef struct selref {
    const agg_series *s;
} selref;

static int label_cmp_arr(const storage_series_ref *a, const storage_series_ref *b)
{
    uint32_t n = a->nlabels < b->nlabels ? a->nlabels : b->nlabels;
    for (uint32_t i = 0; i < n; i++) {
        int c = series_label_cmp(&a->labels[i], &b->labels[i]);
        if (c)
            return c;
    }
    return a->nlabels < b->nlabels ? -1 : a->nlabels > b->nlabels;
}

static int ref_cmp(const void *a, const void *b)
{
    return label_cmp_arr(a, b);
}

sonde_status storage_select(storage *st, const char *tenant, const storage_matcher *m, size_t nm,
                            int64_t mint, int64_t maxt, arena *a, storage_series_ref **out,
                            size_t *n)
{
    *out = NULL;
    *n = 0;
    size_t tlen = tenant ? strlen(tenant) : 0;
    if (tlen == 0 || tlen > STORAGE_TENANT_MAX)
        return SONDE_ERR_INVALID;
    storage_wait_applied(st);
    mcache *c = mcaches_new(nm);
    if (!c)
        return SONDE_ERR_NOMEM;
    const agg_series **sel = NULL;
    size_t nsel = 0, cap = 0;
    sonde_status rc = SONDE_OK;
    for (unsigned k = 0; k < st->nshards && rc == SONDE_OK; k++) {
        agg_shard *sh = &st->shards[k];
        pthread_rwlock_rdlock(&sh->lock);
        post_tenant *pt = storage_index_tenant(sh, tenant, tlen);
        idvec ids = {0};
        bool all;
        if (pt && !shard_match(sh, pt, m, nm, c, mint, maxt, &ids, &all))
            rc = SONDE_ERR_NOMEM;
        if (rc == SONDE_OK && nsel + ids.n > cap) {
            size_t nc = (nsel + ids.n) * 2;
            const agg_series **ns = realloc(sel, nc * sizeof(const agg_series *));
            if (!ns)
                rc = SONDE_ERR_NOMEM;
            else {
                sel = ns;
                cap = nc;
            }
        }
        for (size_t i = 0; rc == SONDE_OK && i < ids.n; i++)
            sel[nsel++] = storage_index_find_id(sh, ids.v[i]);
        pthread_rwlock_unlock(&sh->lock);
        free(ids.v);
    }
    mcaches_free(c, nm);
    /* series keys are immutable and live until close: safe to read unlocked */
    storage_series_ref *refs = NULL;
    if (rc == SONDE_OK && nsel > 0) {
        refs = arena_alloc(a, nsel * sizeof *refs);
        if (!refs)
            rc = SONDE_ERR_NOMEM;
        for (size_t i = 0; rc == SONDE_OK && i < nsel; i++) {
            const agg_series *s = sel[i];
            char *enc = arena_alloc(a, s->enc_len ? s->enc_len : 1);
            if (!enc) {
                rc = SONDE_ERR_NOMEM;
                break;
            }
            memcpy(enc, agg_series_enc(s), s->enc_len);
            refs[i].id = s->id;
            rc = series_labels_decode(a, enc, s->enc_len, &refs[i].labels, &refs[i].nlabels);
            if (rc == SONDE_ERR_INVALID)
                rc = SONDE_ERR_INTERNAL;
        }
        if (rc == SONDE_OK)
            qsort(refs, nsel, sizeof *refs, ref_cmp);
    }
    free(sel);
    if (rc != SONDE_OK)
        return rc;
    *out = refs;
    *n = nsel;
    return SONDE_OK;
}

/* ---- samples ---- */

typedef struct svec {
    sonde_sample *v;
    size_t n, cap;
} svec;

/* Decodes a chunk's samples in [mint, maxt] straight into out (no per-sample
 * push: room for the whole chunk is made first). */
static bool decode_into(svec *out, const uint8_t *bytes, uint32_t nbytes, uint32_t count,
                        int64_t mint, int64_t maxt)
{
    /* the count is stored data: no more samples than the bits can hold (the
     * first takes 128 bits, each other at least 2) are made room for */
    uint64_t bits = (uint64_t)nbytes * 8;
    uint64_t most = bits >= 128 ? 1 + (bits - 128) / 2 : 0;
    if (count > most)
        count = (uint32_t)most;
    if (count == 0)
        return true;
    if (out->n + count > out->cap) {
        size_t nc = out->cap ? out->cap : 256;
        while (nc < out->n + count)
            nc *= 2;
        sonde_sample *nv = realloc(out->v, nc * sizeof *nv);
        if (!nv)
            return false;
        out->v = nv;
        out->cap = nc;
    }
    out->n += storage_chunk_decode(bytes, nbytes, count, mint, maxt, out->v + out->n);
    return true;
}

typedef struct idx_sample {
    sonde_sample s;
    size_t i;
} idx_sample;

static int idx_cmp(const void *a, const void *b)
{
    const idx_sample *x = a, *y = b;
    if (x->s.ts_ms != y->s.ts_ms)
        return x->s.ts_ms < y->s.ts_ms ? -1 : 1;
    return x->i < y->i ? -1 : x->i > y->i;
}

/* Sorts by ts (stable) and keeps the last of equal timestamps (the head). */
static bool normalise(svec *s)
{
    bool sorted = true;
    for (size_t i = 1; i < s->n && sorted; i++)
        sorted = s->v[i - 1].ts_ms < s->v[i].ts_ms;
    if (sorted)
        return true;
    idx_sample *t = malloc(s->n * sizeof *t);
    if (!t)
        return false;
    for (size_t i = 0; i < s->n; i++)
        t[i] = (idx_sample){s->v[i], i};
    qsort(t, s->n, sizeof *t, idx_cmp);
    size_t w = 0;
    for (size_t i = 0; i < s->n; i++) {
        if (w > 0 && s->v[w - 1].ts_ms == t[i].s.ts_ms)
            s->v[w - 1] = t[i].s;
        else
            s->v[w++] = t[i].s;
    }
    s->n = w;
    free(t);
    return true;
}

/*
 * The reader. Consistency is the single read's: the head copy and the
 * RocksDB view must agree, i.e. every chunk cut from the head before the
 * copy must be visible. A single read takes its snapshot under the shard
 * lock. The reader keeps one snapshot (and one iterator on it) for many
 * reads: `snap_seq` is the latest sequence number read just before the
 * snapshot was taken, and a read under the shard lock that still sees that
 * sequence number knows that nothing (no cut chunk in particular) was written
 * since, so the snapshot is as good as a new one. Otherwise it takes a new
 * one under the lock, as a single read does. A checkpointed copy of the head
 * (chunk key start == head t0) is skipped: the head copy is as new or newer.
 *
 * Chunks are found with a forward seek to start ts mint - 2 * the maximum
 * chunk span: a chunk is cut before it spans chunk_max_span_ms, so one that
 * starts earlier ends before mint. A forward seek costs about half of the
 * seek-for-prev it replaces, and the few chunks it steps over are skipped by
 * their header's end ts without being decoded.
 */
struct storage_reader {
    storage *st;
    size_t tlen;
    char tenant[STORAGE_TENANT_MAX + 1];
    const rocksdb_snapshot_t *snap; /* NULL until a read needs stored chunks */
    uint64_t snap_seq;
    rocksdb_readoptions_t *ro;
    rocksdb_iterator_t *it;
    svec sv;       /* samples of the current read */
    uint8_t *head; /* copy of the current series' head chunk */
    size_t head_cap;
};

sonde_status storage_reader_create(storage *st, const char *tenant, storage_reader **out)
{
    *out = NULL;
    size_t tlen = tenant ? strlen(tenant) : 0;
    if (tlen == 0 || tlen > STORAGE_TENANT_MAX)
        return SONDE_ERR_INVALID;
    storage_reader *r = calloc(1, sizeof *r);
    if (!r)
        return SONDE_ERR_NOMEM;
    r->st = st;
    r->tlen = tlen;
    memcpy(r->tenant, tenant, tlen);
    *out = r;
    return SONDE_OK;
}

static void reader_drop_snapshot(storage_reader *r)
{
    if (r->it)
        rocksdb_iter_destroy(r->it);
    if (r->ro)
        rocksdb_readoptions_destroy(r->ro);
    if (r->snap)
        rocksdb_release_snapshot(r->st->db, r->snap);
    r->it = NULL;
    r->ro = NULL;
    r->snap = NULL;
}

void storage_reader_destroy(storage_reader *r)
{
    if (!r)
        return;
    reader_drop_snapshot(r);
    free(r->sv.v);
    free(r->head);
    free(r);
}

/* Shard read lock held. false on OOM. */
static bool reader_snapshot(storage_reader *r)
{
    storage *st = r->st;
    uint64_t seq = rocksdb_get_latest_sequence_number(st->db);
    if (r->it && seq == r->snap_seq)
        return true;
    reader_drop_snapshot(r);
    r->snap_seq = seq;
    r->snap = rocksdb_create_snapshot(st->db);
    r->ro = rocksdb_readoptions_create();
    if (!r->snap || !r->ro) {
        reader_drop_snapshot(r);
        return false;
    }
    rocksdb_readoptions_set_snapshot(r->ro, r->snap);
    r->it = rocksdb_create_iterator_cf(st->db, r->ro, st->cf[CF_CHUNKS]);
    if (!r->it) {
        reader_drop_snapshot(r);
        return false;
    }
    return true;
}

static sonde_status reader_chunks(storage_reader *r, uint64_t series_id, int64_t mint,
                                  int64_t maxt, int64_t head_t0)
{
    rocksdb_iterator_t *it = r->it;
    int64_t span = r->st->cfg.chunk_max_span_ms;
    if (span <= 0 || span > INT64_MAX / 4)
        span = INT64_MAX / 4;
    int64_t from = mint >= INT64_MIN + 2 * span ? mint - 2 * span : INT64_MIN;
    uint8_t key[STORAGE_KEY_MAX];
    size_t pl = r->tlen + 9;
    size_t kl = storage_key_chunk(key, r->tenant, r->tlen, series_id, from);
    rocksdb_iter_seek(it, (const char *)key, kl);
    sonde_status rc = SONDE_OK;
    for (; rocksdb_iter_valid(it); rocksdb_iter_next(it)) {
        size_t gl;
        const char *gk = rocksdb_iter_key(it, &gl);
        if (gl != kl || memcmp(gk, key, pl) != 0)
            break;
        size_t tl;
        uint64_t id;
        int64_t start;
        if (!storage_key_chunk_parse((const uint8_t *)gk, gl, &tl, &id, &start))
            continue;
        if (start > maxt)
            break;
        if (start == head_t0)
            continue; /* a checkpointed copy of the head: the head is newer */
        size_t vl;
        const uint8_t *v = (const uint8_t *)rocksdb_iter_value(it, &vl);
        if (vl < STORAGE_CHUNK_HDR)
            continue;
        int64_t end = (int64_t)storage_key_get_be64(v);
        if (end < mint)
            continue;
        uint32_t cnt = (uint32_t)v[8] << 24 | (uint32_t)v[9] << 16 | (uint32_t)v[10] << 8 | v[11];
        if (!decode_into(&r->sv, v + STORAGE_CHUNK_HDR, (uint32_t)(vl - STORAGE_CHUNK_HDR), cnt,
                         mint, maxt)) {
            rc = SONDE_ERR_NOMEM;
            break;
        }
    }
    char *e = NULL;
    rocksdb_iter_get_error(it, &e);
    if (e) {
        free(e);
        rc = SONDE_ERR_STORAGE;
        reader_drop_snapshot(r); /* a fresh iterator next time */
    }
    return rc;
}

sonde_status storage_reader_read(storage_reader *r, uint64_t series_id, int64_t mint, int64_t maxt,
                                 arena *a, sonde_sample **out, size_t *n, bool *has_hist)
{
    *out = NULL;
    *n = 0;
    if (has_hist)
        *has_hist = false;
    if (mint > maxt)
        return SONDE_OK;
    storage *st = r->st;
    storage_wait_applied(st);
    uint32_t head_bytes = 0, head_count = 0;
    int64_t head_t0 = 0;
    bool found = false, chunks = false, nomem = false;
    for (unsigned k = 0; k < st->nshards && !found; k++) {
        agg_shard *sh = &st->shards[k];
        pthread_rwlock_rdlock(&sh->lock);
        agg_series *s = storage_index_find_id(sh, series_id);
        if (s && s->tlen == r->tlen && memcmp(s->key, r->tenant, r->tlen) == 0) {
            found = true;
            if (has_hist)
                *has_hist = storage_hist_any(s->hist) && s->hist->max_ts >= mint &&
                            s->hist->min_ts <= maxt;
            if (s->head.count > 0 && s->head.last_ts >= mint && s->head.t0 <= maxt) {
                head_bytes = storage_chunk_enc_bytes(&s->head);
                if (head_bytes > r->head_cap) {
                    uint8_t *nh = realloc(r->head, head_bytes);
                    if (nh) {
                        r->head = nh;
                        r->head_cap = head_bytes;
                    }
                }
                if (head_bytes <= r->head_cap) {
                    if (head_bytes)
                        memcpy(r->head, s->head.buf, head_bytes);
                    head_count = s->head.count;
                } else {
                    nomem = true;
                }
            }
            if (s->head.count > 0)
                head_t0 = s->head.t0;
            if (s->head.count == 0 || s->head.t0 > mint) {
                chunks = true;
                if (!reader_snapshot(r))
                    nomem = true;
            }
            if (s->head.count == 0)
                head_t0 = INT64_MAX; /* no head: skip no stored chunk */
        }
        pthread_rwlock_unlock(&sh->lock);
    }
    if (!found)
        return SONDE_OK;
    if (nomem)
        return SONDE_ERR_NOMEM;
    svec *sv = &r->sv;
    sv->n = 0;
    sonde_status rc = SONDE_OK;
    if (chunks)
        rc = reader_chunks(r, series_id, mint, maxt, head_t0);
    if (rc == SONDE_OK && head_count &&
        !decode_into(sv, r->head, head_bytes, head_count, mint, maxt))
        rc = SONDE_ERR_NOMEM;
    if (rc == SONDE_OK && !normalise(sv))
        rc = SONDE_ERR_NOMEM;
    if (rc == SONDE_OK && sv->n > 0) {
        sonde_sample *o = arena_alloc(a, sv->n * sizeof *o);
        if (!o)
            return SONDE_ERR_NOMEM;
        memcpy(o, sv->v, sv->n * sizeof *o);
        *out = o;
        *n = sv->n;
    }
    return rc;
}

sonde_status storage_read_samples(storage *st, const char *tenant, uint64_t series_id, int64_t mint,
                                  int64_t maxt, arena *a, sonde_sample **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    storage_reader *r;
    sonde_status rc = storage_reader_create(st, tenant, &r);
    if (rc != SONDE_OK)
        return rc;
    rc = storage_reader_read(r, series_id, mint, maxt, a, out, n, NULL);
    storage_reader_destroy(r);
    return rc;
}

/* ---- label names / values ---- */

typedef struct strvec {
    mkey *v;
    size_t n, cap;
} strvec;

static bool strvec_push(strvec *s, const char *p, size_t n)
{
    if (s->n == s->cap) {
        size_t nc = s->cap ? s->cap * 2 : 64;
        mkey *nv = realloc(s->v, nc * sizeof *nv);
        if (!nv)
            return false;
        s->v = nv;
        s->cap = nc;
    }
    s->v[s->n++] = (mkey){p, n};
    return true;
}

static int mkey_cmp(const void *a, const void *b)
{
    const mkey *x = a, *y = b;
    size_t n = x->n < y->n ? x->n : y->n;
    int c = memcmp(x->v, y->v, n);
    if (c)
        return c;
    return x->n < y->n ? -1 : x->n > y->n;
}

static sonde_status strvec_out(strvec *s, arena *a, const char ***out, size_t *n)
{
    sonde_status rc = SONDE_OK;
    if (s->n > 1)
        qsort(s->v, s->n, sizeof *s->v, mkey_cmp);
    size_t w = 0;
    for (size_t i = 0; i < s->n; i++)
        if (w == 0 || mkey_cmp(&s->v[w - 1], &s->v[i]) != 0)
            s->v[w++] = s->v[i];
    const char **o = w ? arena_alloc(a, w * sizeof *o) : NULL;
    if (w && !o)
        rc = SONDE_ERR_NOMEM;
    for (size_t i = 0; rc == SONDE_OK && i < w; i++)
        if (!(o[i] = arena_strndup(a, s->v[i].v, s->v[i].n)))
            rc = SONDE_ERR_NOMEM;
    free(s->v);
    if (rc == SONDE_OK) {
        *out = o;
        *n = w;
    }
    return rc;
}

/* name == NULL: label names; else values of `name`. Strings in the index are
 * immutable and live until close, so they are collected by pointer. */
static sonde_status labels_query(storage *st, const char *tenant, const char *name,
                                 const storage_matcher *m, size_t nm, int64_t mint, int64_t maxt,
                                 arena *a, const char ***out, size_t *n)
{
    *out = NULL;
    *n = 0;
    size_t tlen = tenant ? strlen(tenant) : 0;
    if (tlen == 0 || tlen > STORAGE_TENANT_MAX)
        return SONDE_ERR_INVALID;
    storage_wait_applied(st);
    mcache *c = mcaches_new(nm);
    if (!c)
        return SONDE_ERR_NOMEM;
    strvec sv = {0};
    sonde_status rc = SONDE_OK;
    for (unsigned k = 0; k < st->nshards && rc == SONDE_OK; k++) {
        agg_shard *sh = &st->shards[k];
        pthread_rwlock_rdlock(&sh->lock);
        post_tenant *pt = storage_index_tenant(sh, tenant, tlen);
        idvec ids = {0};
        bool all = false;
        if (pt && !shard_match(sh, pt, m, nm, c, mint, maxt, &ids, &all))
            rc = SONDE_ERR_NOMEM;
        if (pt && rc == SONDE_OK && ids.n > 0) {
            if (name) {
                post_name *pn = storage_index_name(pt, name, strlen(name));
                for (size_t i = 0; pn && i < pn->values.cap && rc == SONDE_OK; i++) {
                    post_value *pv = pn->values.slots[i];
                    if (pv && (all || ids_intersects(pv->ids.ids, pv->ids.n, ids.v, ids.n)))
                        if (!strvec_push(&sv, pv->v, pv->vlen))
                            rc = SONDE_ERR_NOMEM;
                }
            } else {
                for (size_t j = 0; j < pt->names.cap && rc == SONDE_OK; j++) {
                    post_name *pn = pt->names.slots[j];
                    if (!pn)
                        continue;
                    bool hit = false;
                    for (size_t i = 0; i < pn->values.cap && !hit; i++) {
                        post_value *pv = pn->values.slots[i];
                        hit = pv && pv->ids.n > 0 &&
                              (all || ids_intersects(pv->ids.ids, pv->ids.n, ids.v, ids.n));
                    }
                    if (hit && !strvec_push(&sv, pn->name, pn->nlen))
                        rc = SONDE_ERR_NOMEM;
                }
            }
        }
        pthread_rwlock_unlock(&sh->lock);
        free(ids.v);
    }
    mcaches_free(c, nm);
    if (rc != SONDE_OK) {
        free(sv.v);
        return rc;
    }
    return strvec_out(&sv, a, out, n);
}

sonde_status storage_label_names(storage *st, const char *tenant, const storage_matcher *m,
                                 size_t nm, int64_t mint, int64_t maxt, arena *a, const char ***out,
                                 size_t *n)
{
    return labels_query(st, tenant, NULL, m, nm, mint, maxt, a, out, n);
}

sonde_status storage_label_values(storage *st, const char *tenant, const char *name,
                                  const storage_matcher *m, size_t nm, int64_t mint, int64_t maxt,
                                  arena *a, const char ***out, size_t *n)
{
    if (!name)
        return SONDE_ERR_INVALID;
    return labels_query(st, tenant, name, m, nm, mint, maxt, a, out, n);
}
