/*
 * hist.c - native histogram samples in the aggregator: the per-series head
 * chunk (encoding, decoding), chunk cuts and checkpoints into the `default`
 * column family, restore at open, the bulk-load append and the read; plus
 * the bucket bounds and counter-reset detection the evaluator shares.
 *
 * Encoding of one sample (storage_internal.h, hist_head):
 *   zigzag varint  ts - previous ts (the first: ts itself)
 *   zigzag varint  schema
 *   byte           hint | 0x80 when the custom bounds equal the previous sample's
 *   4 x xvarint    zero threshold, zero count, count, sum (XOR previous sample)
 *   varint n, then n x (varint index delta, xvarint count XOR previous bucket)
 *                  for the positive, then the negative side (first delta is
 *                  zigzag of the absolute index)
 *   varint n, n x xvarint (bounds XOR previous bound), unless flagged equal
 * An xvarint is the 64 XORed bits byte-swapped and written as a varint, so
 * equal values take one byte and integer-valued doubles (zero low mantissa
 * bytes) a few. Decoding walks a chunk from its start (each chunk starts
 * from zero state). Decoding is bounded and stops at corrupt input.
 *
 * Threads: the shard thread (or storage_append_histograms_direct's caller)
 * appends and cuts under the shard write lock; readers copy the head and take
 * a RocksDB snapshot under the read lock, then decode outside it. Open
 * (load.c) restores chunks before any thread starts.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../core/hash.h"
#include "storage_internal.h"

/* ---- histogram helpers shared with the evaluator (storage.h) ---- */

static bool is_custom(const sonde_fhist *h)
{
    return h->schema == SONDE_HIST_CUSTOM;
}

static bool custom_equal(const sonde_fhist *x, const sonde_fhist *y)
{
    if (x->ncustom != y->ncustom)
        return false;
    for (uint32_t i = 0; i < x->ncustom; i++)
        if (x->custom[i] != y->custom[i])
            return false;
    return true;
}

/* Upper bound of exponential bucket idx (getBoundExponential). */
double sonde_fhist_bound(int32_t idx, int32_t schema)
{
    if (schema > 30 || schema < -30)
        return NAN; /* not an exponential schema (-4..8 are valid) */
    if (schema < 0) {
        int64_t e = (int64_t)idx * ((int64_t)1 << -schema);
        if (e == 1024)
            return 1.7976931348623157e308;
        if (e > 1100)
            return INFINITY;
        return ldexp(1, (int)(e < -1200 ? -1200 : e));
    }
    /* 2^(idx / 2^schema) = frac * 2^exp with exp = (idx >> schema) + 1 */
    int32_t fi = idx & ((1 << schema) - 1);
    int64_t e = ((int64_t)idx >> schema) + 1;
    double frac = exp2((double)fi / (double)(1 << schema)) / 2;
    if (frac == 0.5 && e == 1025)
        return 1.7976931348623157e308;
    if (e > 1100)
        return INFINITY;
    return ldexp(frac, (int)(e < -1200 ? -1200 : e));
}

/* ---- counter resets (DetectReset) ---- */

/* prev's side at cur's schema and threshold: does any bucket count drop? */
static bool side_dropped(const int32_t *ci, const double *cc, uint32_t cn, const int32_t *pi,
                         const double *pc, uint32_t pn, int32_t cschema, int32_t pschema, double zt,
                         bool custom)
{
    uint32_t j = 0;
    for (uint32_t i = 0; i < pn; i++) {
        int32_t idx = pi[i];
        if (!custom && pschema > cschema)
            idx = ((idx - 1) >> (pschema - cschema)) + 1;
        double cnt = pc[i];
        while (i + 1 < pn && !custom && pschema > cschema &&
               ((pi[i + 1] - 1) >> (pschema - cschema)) + 1 == idx)
            cnt += pc[++i];
        if (cnt == 0)
            continue;
        if (!custom && sonde_fhist_bound(idx, cschema) <= zt)
            continue; /* inside the zero bucket */
        while (j < cn && ci[j] < idx)
            j++;
        if (j == cn || ci[j] != idx || cc[j] < cnt)
            return true;
    }
    return false;
}

bool sonde_fhist_detect_reset(const sonde_fhist *cur, const sonde_fhist *prev)
{
    if (cur->hint == SONDE_HIST_HINT_RESET)
        return true;
    if (cur->hint == SONDE_HIST_HINT_NOT_RESET)
        return false;
    if (cur->count < prev->count)
        return true;
    bool custom = is_custom(cur);
    if (custom) {
        if (!is_custom(prev))
            return true;
        if (!custom_equal(cur, prev)) {
            /* compare on the intersected bounds */
            double b[256];
            uint32_t n = 0;
            for (uint32_t i = 0, j = 0; i < cur->ncustom && j < prev->ncustom && n < 256;) {
                if (cur->custom[i] == prev->custom[j]) {
                    b[n++] = cur->custom[i];
                    i++;
                    j++;
                } else if (cur->custom[i] < prev->custom[j]) {
                    i++;
                } else {
                    j++;
                }
            }
            double cc[257] = {0}, pc[257] = {0};
            for (uint32_t i = 0; i < cur->npos; i++) {
                double up = (uint32_t)cur->pos_idx[i] < cur->ncustom ? cur->custom[cur->pos_idx[i]]
                                                                     : INFINITY;
                uint32_t t = 0;
                while (t < n && b[t] < up)
                    t++;
                cc[t] += cur->pos[i];
            }
            for (uint32_t i = 0; i < prev->npos; i++) {
                double up = (uint32_t)prev->pos_idx[i] < prev->ncustom
                                ? prev->custom[prev->pos_idx[i]]
                                : INFINITY;
                uint32_t t = 0;
                while (t < n && b[t] < up)
                    t++;
                pc[t] += prev->pos[i];
            }
            for (uint32_t t = 0; t <= n; t++)
                if (cc[t] < pc[t])
                    return true;
            return false;
        }
    } else {
        if (is_custom(prev))
            return true;
    }
    if (!custom && cur->schema > prev->schema)
        return true;
    if (cur->zero_threshold < prev->zero_threshold)
        return true;
    if (!custom) {
        /* prev's zero count at cur's threshold */
        double pz = prev->zero_count, t = cur->zero_threshold;
        for (uint32_t j = 0; j < prev->npos; j++) {
            double lo = sonde_fhist_bound(prev->pos_idx[j] - 1, prev->schema);
            double up = sonde_fhist_bound(prev->pos_idx[j], prev->schema);
            if (lo >= t)
                break;
            pz += prev->pos[j];
            if (up > t && prev->pos[j] != 0)
                return true;
        }
        for (uint32_t j = 0; j < prev->nneg; j++) {
            double lo = sonde_fhist_bound(prev->neg_idx[j] - 1, prev->schema);
            double up = sonde_fhist_bound(prev->neg_idx[j], prev->schema);
            if (lo >= t)
                break;
            pz += prev->neg[j];
            if (up > t && prev->neg[j] != 0)
                return true;
        }
        if (cur->zero_count < pz)
            return true;
    }
    return side_dropped(cur->pos_idx, cur->pos, cur->npos, prev->pos_idx, prev->pos, prev->npos,
                        cur->schema, prev->schema, cur->zero_threshold, custom) ||
           side_dropped(cur->neg_idx, cur->neg, cur->nneg, prev->neg_idx, prev->neg, prev->nneg,
                        cur->schema, prev->schema, cur->zero_threshold, custom);
}

/* ---- varints ---- */

static bool hb_reserve(hist_head *h, size_t extra)
{
    if (h->len + extra <= h->cap)
        return true;
    size_t nc = h->cap ? h->cap * 2 : 256;
    while (nc < h->len + extra)
        nc *= 2;
    uint8_t *nb = realloc(h->buf, nc);
    if (!nb)
        return false;
    h->buf = nb;
    h->cap = nc;
    return true;
}

static void put_uvarint(hist_head *h, uint64_t v)
{
    while (v >= 0x80) {
        h->buf[h->len++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    h->buf[h->len++] = (uint8_t)v;
}

static uint64_t zz(int64_t v)
{
    return ((uint64_t)v << 1) ^ (v < 0 ? UINT64_MAX : 0);
}

static int64_t unzz(uint64_t v)
{
    return (int64_t)(v >> 1) ^ -(int64_t)(v & 1);
}

static uint64_t dbits(double d)
{
    uint64_t u;
    memcpy(&u, &d, 8);
    return u;
}

static double bitsd(uint64_t u)
{
    double d;
    memcpy(&d, &u, 8);
    return d;
}

static void put_x(hist_head *h, double v, double prev)
{
    put_uvarint(h, __builtin_bswap64(dbits(v) ^ dbits(prev)));
}

typedef struct hreader {
    const uint8_t *p, *end;
    bool bad;
} hreader;

static uint64_t get_uvarint(hreader *r)
{
    uint64_t v = 0;
    for (unsigned shift = 0; shift < 64; shift += 7) {
        if (r->p >= r->end) {
            r->bad = true;
            return 0;
        }
        uint8_t b = *r->p++;
        v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80))
            return v;
    }
    r->bad = true;
    return 0;
}

static double get_x(hreader *r, double prev)
{
    return bitsd(__builtin_bswap64(get_uvarint(r)) ^ dbits(prev));
}

/* ---- append ---- */

static void put_side(hist_head *h, const int32_t *idx, const double *cnt, uint32_t n)
{
    put_uvarint(h, n);
    int32_t last = 0;
    double prev = 0;
    for (uint32_t i = 0; i < n; i++) {
        put_uvarint(h, i == 0 ? zz(idx[0]) : (uint64_t)(idx[i] - last));
        put_x(h, cnt[i], prev);
        last = idx[i];
        prev = cnt[i];
    }
}

sonde_status storage_hist_append(hist_head *h, int64_t ts, const sonde_fhist *fh)
{
    size_t worst = 10 * 4 + 40 + 20 * ((size_t)fh->npos + fh->nneg) + 10 * (size_t)fh->ncustom;
    if (!hb_reserve(h, worst))
        return SONDE_ERR_NOMEM;
    bool same_custom =
        fh->ncustom == h->ncustom &&
        (fh->ncustom == 0 || memcmp(fh->custom, h->custom, fh->ncustom * sizeof(double)) == 0);
    double *nc = NULL;
    if (!same_custom && fh->ncustom) {
        nc = malloc(fh->ncustom * sizeof(double));
        if (!nc)
            return SONDE_ERR_NOMEM;
        memcpy(nc, fh->custom, fh->ncustom * sizeof(double));
    }
    put_uvarint(h, zz(h->count ? ts - h->max_ts : ts));
    put_uvarint(h, zz(fh->schema));
    h->buf[h->len++] = (uint8_t)((fh->hint & 3) | (same_custom ? 0x80 : 0));
    double cur[4] = {fh->zero_threshold, fh->zero_count, fh->count, fh->sum};
    for (int i = 0; i < 4; i++) {
        put_x(h, cur[i], h->last[i]);
        h->last[i] = cur[i];
    }
    put_side(h, fh->pos_idx, fh->pos, fh->npos);
    put_side(h, fh->neg_idx, fh->neg, fh->nneg);
    if (!same_custom) {
        put_uvarint(h, fh->ncustom);
        double prev = 0;
        for (uint32_t i = 0; i < fh->ncustom; i++) {
            put_x(h, fh->custom[i], prev);
            prev = fh->custom[i];
        }
        free(h->custom);
        h->custom = nc;
        h->ncustom = fh->ncustom;
    }
    if (h->count == 0)
        h->t0 = ts;
    if (ts < h->min_ts)
        h->min_ts = ts;
    h->max_ts = ts;
    h->count++;
    return SONDE_OK;
}

hist_head *storage_hist_new(void)
{
    hist_head *h = calloc(1, sizeof(*h));
    if (h) {
        h->min_ts = INT64_MAX;
        h->max_ts = INT64_MIN;
    }
    return h;
}

/* A new chunk starts: the encoder state goes back to zero (chunks decode on
 * their own); the last sample stays for reset hints. */
static void head_reset(hist_head *h)
{
    h->len = 0;
    h->count = 0;
    memset(h->last, 0, sizeof(h->last));
    free(h->custom);
    h->custom = NULL;
    h->ncustom = 0;
    h->dirty = 0;
}

void storage_hist_free(hist_head *h)
{
    if (!h)
        return;
    free(h->buf);
    free(h->custom);
    free(h->last_h);
    free(h);
}

/* One malloc holding a copy of h (the head's last sample, for reset hints). */
static sonde_fhist *fhist_dup(const sonde_fhist *h)
{
    size_t n = sizeof(*h) + ((size_t)h->npos + h->nneg + h->ncustom) * sizeof(double) +
               ((size_t)h->npos + h->nneg) * sizeof(int32_t);
    sonde_fhist *o = malloc(n);
    if (!o)
        return NULL;
    *o = *h;
    double *d = (double *)(o + 1);
    o->pos = d;
    if (h->npos)
        memcpy(d, h->pos, h->npos * sizeof(double));
    d += h->npos;
    o->neg = d;
    if (h->nneg)
        memcpy(d, h->neg, h->nneg * sizeof(double));
    d += h->nneg;
    o->custom = d;
    if (h->ncustom)
        memcpy(d, h->custom, h->ncustom * sizeof(double));
    d += h->ncustom;
    int32_t *x = (int32_t *)(void *)d; /* the indices follow the doubles */
    o->pos_idx = x;
    if (h->npos)
        memcpy(x, h->pos_idx, h->npos * sizeof(int32_t));
    o->neg_idx = x + h->npos;
    if (h->nneg)
        memcpy(o->neg_idx, h->neg_idx, h->nneg * sizeof(int32_t));
    return o;
}

/* ---- decode ---- */

static bool get_side(hreader *r, arena *a, int32_t **idx, double **cnt, uint32_t *n)
{
    uint64_t k = get_uvarint(r);
    if (r->bad || k > (uint64_t)(r->end - r->p)) {
        r->bad = true;
        return false;
    }
    *n = (uint32_t)k;
    *idx = NULL;
    *cnt = NULL;
    if (!k)
        return true;
    *idx = arena_alloc(a, k * sizeof(int32_t));
    *cnt = arena_alloc(a, k * sizeof(double));
    if (!*idx || !*cnt)
        return false;
    int64_t last = 0;
    double prev = 0;
    for (uint64_t i = 0; i < k; i++) {
        uint64_t d = get_uvarint(r);
        last = i == 0 ? unzz(d) : (int64_t)((uint64_t)last + d);
        if (last < -STORAGE_HIST_MAX_INDEX || last > STORAGE_HIST_MAX_INDEX || (i && d == 0)) {
            r->bad = true; /* corrupt: out of any schema's range, or not ascending */
            return false;
        }
        (*idx)[i] = (int32_t)last;
        prev = (*cnt)[i] = get_x(r, prev);
    }
    return !r->bad;
}

sonde_status storage_hist_decode(const uint8_t *bytes, size_t len, uint32_t count, int64_t mint,
                                 int64_t maxt, arena *a, sonde_hsample **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    if (!count)
        return SONDE_OK;
    if (count > len) /* every sample takes more than one byte: a corrupt count */
        return SONDE_ERR_INVALID;
    sonde_hsample *res = arena_alloc(a, count * sizeof(*res));
    if (!res)
        return SONDE_ERR_NOMEM;
    hreader r = {bytes, bytes + len, false};
    int64_t ts = 0;
    double last[4] = {0, 0, 0, 0};
    double *custom = NULL;
    uint32_t ncustom = 0;
    size_t k = 0;
    for (uint32_t i = 0; i < count && !r.bad; i++) {
        uint64_t d = get_uvarint(&r);
        ts = i == 0 ? unzz(d) : (int64_t)((uint64_t)ts + (uint64_t)unzz(d));
        sonde_fhist *h = arena_calloc(a, 1, sizeof(*h));
        if (!h)
            return SONDE_ERR_NOMEM;
        int64_t schema = unzz(get_uvarint(&r));
        if (schema != SONDE_HIST_CUSTOM && (schema < -4 || schema > 8))
            break; /* corrupt */
        h->schema = (int32_t)schema;
        if (r.p >= r.end)
            break;
        uint8_t flags = *r.p++;
        h->hint = flags & 3;
        for (int j = 0; j < 4; j++)
            last[j] = get_x(&r, last[j]);
        h->zero_threshold = last[0];
        if (!(last[0] >= 0)) /* NaN or negative: corrupt */
            break;
        h->zero_count = last[1];
        h->count = last[2];
        h->sum = last[3];
        if (!get_side(&r, a, &h->pos_idx, &h->pos, &h->npos) ||
            !get_side(&r, a, &h->neg_idx, &h->neg, &h->nneg)) {
            if (r.bad)
                break;
            return SONDE_ERR_NOMEM;
        }
        if (!(flags & 0x80)) {
            uint64_t m = get_uvarint(&r);
            if (r.bad || m > (uint64_t)(r.end - r.p))
                break;
            ncustom = (uint32_t)m;
            custom = m ? arena_alloc(a, m * sizeof(double)) : NULL;
            if (m && !custom)
                return SONDE_ERR_NOMEM;
            double prev = 0;
            for (uint64_t j = 0; j < m; j++)
                prev = custom[j] = get_x(&r, prev);
        }
        h->custom = custom;
        h->ncustom = ncustom;
        if (r.bad)
            break;
        if (ts >= mint && ts <= maxt)
            res[k++] = (sonde_hsample){ts, h};
    }
    *out = res;
    *n = k;
    return SONDE_OK;
}

/* ---- chunks, checkpoint and restart ---- */

void storage_hist_put(rocksdb_writebatch_t *wb, storage *st, const agg_series *s)
{
    const hist_head *h = s->hist;
    uint8_t key[STORAGE_KEY_MAX];
    size_t kl = storage_key_chunk(key, s->key, s->tlen, s->id, h->t0);
    uint8_t hdr[STORAGE_CHUNK_HDR];
    storage_key_put_be64(hdr, (uint64_t)h->max_ts);
    uint32_t c = h->count;
    hdr[8] = (uint8_t)(c >> 24);
    hdr[9] = (uint8_t)(c >> 16);
    hdr[10] = (uint8_t)(c >> 8);
    hdr[11] = (uint8_t)c;
    const char *kp[1] = {(const char *)key};
    size_t kls[1] = {kl};
    const char *vp[2] = {(const char *)hdr, (const char *)h->buf};
    size_t vl[2] = {STORAGE_CHUNK_HDR, h->len};
    rocksdb_writebatch_putv_cf(wb, st->cf[CF_DEFAULT], 1, kp, kls, 2, vp, vl);
}

/* The head chunk is full: written with the shard's pending batch (flushed
 * with the batch, retried like float chunks), then started afresh. */
static void hist_cut(agg_shard *sh, agg_series *s)
{
    storage_hist_put(sh->pending, sh->st, s);
    head_reset(s->hist);
}

sonde_status storage_hist_restore(storage *st, agg_series *s, int64_t start, const uint8_t *val,
                                  size_t vlen, bool last)
{
    if (vlen < STORAGE_CHUNK_HDR)
        return SONDE_ERR_INVALID;
    int64_t end = (int64_t)storage_key_get_be64(val);
    uint32_t count =
        (uint32_t)val[8] << 24 | (uint32_t)val[9] << 16 | (uint32_t)val[10] << 8 | val[11];
    if (!count || end < start)
        return SONDE_ERR_INVALID;
    if (!s->hist && !(s->hist = storage_hist_new()))
        return SONDE_ERR_NOMEM;
    hist_head *h = s->hist;
    if (!last) {
        if (start < h->min_ts)
            h->min_ts = start;
        if (end > h->max_ts)
            h->max_ts = end;
        return SONDE_OK;
    }
    /* the last chunk: its last sample (reset hints), and the head again when
     * not full (re-encoded, so that appends continue its XOR state) */
    arena *a = arena_create(1 << 14, 0);
    if (!a)
        return SONDE_ERR_NOMEM;
    sonde_hsample *hs;
    size_t n;
    sonde_status rc = storage_hist_decode(val + STORAGE_CHUNK_HDR, vlen - STORAGE_CHUNK_HDR, count,
                                          INT64_MIN, INT64_MAX, a, &hs, &n);
    if (rc == SONDE_OK && n != count)
        rc = SONDE_ERR_INVALID; /* malformed: keep nothing rather than a broken head */
    if (rc == SONDE_OK) {
        sonde_fhist *lh = fhist_dup(hs[n - 1].h);
        if (!lh) {
            rc = SONDE_ERR_NOMEM;
        } else {
            free(h->last_h);
            h->last_h = lh;
            if (start < h->min_ts)
                h->min_ts = start;
            if (end > h->max_ts)
                h->max_ts = end;
        }
    }
    if (rc == SONDE_OK && count < st->cfg.chunk_max_samples) {
        head_reset(h);
        for (size_t i = 0; i < n && rc == SONDE_OK; i++)
            rc = storage_hist_append(h, hs[i].ts_ms, hs[i].h);
        if (rc != SONDE_OK)
            head_reset(h); /* the stored chunk stays readable */
        h->dirty = 0;
    }
    arena_destroy(a);
    return rc;
}

/* ---- bulk load and read ---- */

/* What the encoding and the evaluator rely on: a known schema, indices in
 * range and strictly ascending, custom bounds only with the custom schema. */
static bool fhist_valid(const sonde_fhist *h)
{
    if (h->schema != SONDE_HIST_CUSTOM && (h->schema < -4 || h->schema > 8))
        return false;
    if (h->schema != SONDE_HIST_CUSTOM && h->ncustom)
        return false;
    if (!(h->zero_threshold >= 0))
        return false;
    for (int side = 0; side < 2; side++) {
        const int32_t *idx = side ? h->neg_idx : h->pos_idx;
        uint32_t n = side ? h->nneg : h->npos;
        for (uint32_t i = 0; i < n; i++)
            if (idx[i] < -STORAGE_HIST_MAX_INDEX || idx[i] > STORAGE_HIST_MAX_INDEX ||
                (i && idx[i] <= idx[i - 1]))
                return false;
    }
    return true;
}

static bool apply_hseries(agg_shard *sh, const char *tenant, size_t tlen, uint64_t kh,
                          const sonde_hseries *s, bool *invalid)
{
    storage *st = sh->st;
    if (s->nsamples == 0 || s->nlabels == 0)
        return true;
    size_t enc_len = series_labels_encoded_len(s->labels, s->nlabels);
    if (!storage_index_scratch(sh, tlen + 1 + enc_len))
        return false;
    char *enc = sh->scratch + tlen + 1;
    series_labels_encode(s->labels, s->nlabels, enc);
    agg_series *ser = storage_index_find(sh, tenant, tlen, kh, enc, enc_len);
    if (!ser) {
        /* a new series: registered and persisted as the float path does */
        uint64_t id = atomic_fetch_add(&st->next_series_id, 1);
        ser = storage_index_add(sh, tenant, tlen, kh, id, enc, enc_len);
        if (!ser)
            return false;
        uint8_t key[STORAGE_KEY_MAX];
        size_t kl = storage_key_series(key, tenant, tlen, id);
        rocksdb_writebatch_put_cf(sh->pending, st->cf[CF_SERIES], (const char *)key, kl,
                                  agg_series_enc(ser), ser->enc_len);
        storage_db_meta_put_u64(sh->pending, st, "next_series_id", id + 1);
        atomic_fetch_add(&st->m_active_series, 1);
    }
    if (!ser->hist && !(ser->hist = storage_hist_new()))
        return false;
    hist_head *h = ser->hist;
    int64_t span = st->cfg.chunk_max_span_ms;
    uint64_t appended = 0, ooo = 0;
    bool ok = true;
    for (uint32_t i = 0; i < s->nsamples; i++) {
        int64_t ts = s->samples[i].ts_ms;
        if (storage_hist_any(h) && ts <= h->max_ts) {
            ooo++;
            continue;
        }
        if (!fhist_valid(s->samples[i].h)) {
            *invalid = true;
            continue;
        }
        const sonde_fhist *in = s->samples[i].h;
        sonde_fhist hinted;
        /* Prometheus' TSDB: a counter sample continuing a counter chunk reads
         * back as not_reset; one that starts a chunk (first, after a gauge, after
         * a detected reset: prometheus/prometheus#15346) as unknown */
        if (in->hint == SONDE_HIST_HINT_UNKNOWN && h->last_h &&
            h->last_h->hint != SONDE_HIST_HINT_GAUGE && !sonde_fhist_detect_reset(in, h->last_h)) {
            hinted = *in;
            hinted.hint = SONDE_HIST_HINT_NOT_RESET;
            in = &hinted;
        }
        if (h->count > 0 && (h->count >= st->cfg.chunk_max_samples ||
                             (uint64_t)ts - (uint64_t)h->t0 >= (uint64_t)span))
            hist_cut(sh, ser);
        sonde_fhist *dup = fhist_dup(in);
        if (!dup || storage_hist_append(h, ts, in) != SONDE_OK) {
            free(dup);
            ok = false;
            continue;
        }
        free(h->last_h);
        h->last_h = dup;
        h->dirty = 1;
        appended++;
    }
    if (appended)
        atomic_fetch_add(&st->m_appended, appended);
    if (ooo)
        atomic_fetch_add(&st->m_drop_ooo, ooo);
    return ok;
}

sonde_status storage_append_histograms_direct(storage *st, const char *tenant,
                                              const sonde_hseries *series, size_t nseries)
{
    size_t tlen = tenant ? strlen(tenant) : 0;
    if (tlen == 0 || tlen > STORAGE_TENANT_MAX)
        return SONDE_ERR_INVALID;
    uint64_t th = hash64(tenant, tlen);
    bool ok = true, invalid = false;
    for (unsigned k = 0; k < st->nshards; k++) {
        agg_shard *sh = &st->shards[k];
        pthread_rwlock_wrlock(&sh->lock);
        for (size_t i = 0; i < nseries; i++) {
            uint64_t lh = series_labels_hash(series[i].labels, series[i].nlabels);
            uint64_t kh = storage_index_hash_series(th, lh);
            if (kh % st->nshards == k && !apply_hseries(sh, tenant, tlen, kh, &series[i], &invalid))
                ok = false;
        }
        storage_agg_flush_pending(sh);
        pthread_rwlock_unlock(&sh->lock);
    }
    return !ok ? SONDE_ERR_NOMEM : invalid ? SONDE_ERR_INVALID : SONDE_OK;
}

/* Decoded chunks in time order, grown as they come. */
typedef struct hvec {
    sonde_hsample *v;
    size_t n, cap;
} hvec;

static bool hvec_add(hvec *o, const sonde_hsample *s, size_t n)
{
    if (o->n + n > o->cap) {
        size_t nc = o->cap ? o->cap : 64;
        while (nc < o->n + n)
            nc *= 2;
        sonde_hsample *nv = realloc(o->v, nc * sizeof(*nv));
        if (!nv)
            return false;
        o->v = nv;
        o->cap = nc;
    }
    if (n)
        memcpy(o->v + o->n, s, n * sizeof(*s));
    o->n += n;
    return true;
}

static sonde_status decode_into(hvec *o, const uint8_t *b, size_t len, uint32_t count, int64_t mint,
                                int64_t maxt, arena *a)
{
    sonde_hsample *hs;
    size_t n;
    sonde_status rc = storage_hist_decode(b, len, count, mint, maxt, a, &hs, &n);
    if (rc == SONDE_ERR_INVALID)
        return SONDE_OK; /* a corrupt chunk is skipped */
    if (rc == SONDE_OK && !hvec_add(o, hs, n))
        rc = SONDE_ERR_NOMEM;
    return rc;
}

sonde_status storage_read_histograms(storage *st, const char *tenant, uint64_t series_id,
                                     int64_t mint, int64_t maxt, arena *a, sonde_hsample **out,
                                     size_t *n)
{
    *out = NULL;
    *n = 0;
    size_t tlen = tenant ? strlen(tenant) : 0;
    if (tlen == 0 || tlen > STORAGE_TENANT_MAX)
        return SONDE_ERR_INVALID;
    if (mint > maxt)
        return SONDE_OK;
    storage_wait_applied(st);
    uint8_t *copy = NULL;
    size_t len = 0;
    uint32_t count = 0;
    int64_t head_t0 = INT64_MAX;
    const rocksdb_snapshot_t *snap = NULL;
    bool nomem = false;
    for (unsigned k = 0; k < st->nshards; k++) {
        agg_shard *sh = &st->shards[k];
        pthread_rwlock_rdlock(&sh->lock);
        agg_series *s = storage_index_find_id(sh, series_id);
        bool found = s && s->tlen == tlen && memcmp(s->key, tenant, tlen) == 0;
        const hist_head *h = found ? s->hist : NULL;
        if (storage_hist_any(h) && h->max_ts >= mint && h->min_ts <= maxt) {
            if (h->count) {
                head_t0 = h->t0;
                if (h->max_ts >= mint && h->t0 <= maxt) {
                    len = h->len;
                    count = h->count;
                    if ((copy = malloc(len ? len : 1)))
                        memcpy(copy, h->buf, len);
                    else
                        nomem = true;
                }
            }
            /* cut chunks: a snapshot taken under the lock sees every cut so far */
            if (!h->count || h->t0 > mint)
                snap = rocksdb_create_snapshot(st->db);
        }
        pthread_rwlock_unlock(&sh->lock);
        if (found)
            break;
    }
    hvec o = {0};
    sonde_status rc = nomem ? SONDE_ERR_NOMEM : SONDE_OK;
    if (snap) {
        rocksdb_readoptions_t *ro = rocksdb_readoptions_create();
        rocksdb_readoptions_set_snapshot(ro, snap);
        rocksdb_iterator_t *it = rocksdb_create_iterator_cf(st->db, ro, st->cf[CF_DEFAULT]);
        uint8_t key[STORAGE_KEY_MAX];
        size_t pl = tlen + 9;
        size_t kl = storage_key_chunk(key, tenant, tlen, series_id, mint);
        /* the chunk that starts at or before mint, else the series' first */
        rocksdb_iter_seek_for_prev(it, (const char *)key, kl);
        size_t gl;
        const char *gk = rocksdb_iter_valid(it) ? rocksdb_iter_key(it, &gl) : NULL;
        if (!gk || gl != kl || memcmp(gk, key, pl) != 0) {
            kl = storage_key_chunk(key, tenant, tlen, series_id, INT64_MIN);
            rocksdb_iter_seek(it, (const char *)key, kl);
        }
        for (; rc == SONDE_OK && rocksdb_iter_valid(it); rocksdb_iter_next(it)) {
            gk = rocksdb_iter_key(it, &gl);
            size_t tl;
            uint64_t id;
            int64_t start;
            if (gl != kl || memcmp(gk, key, pl) != 0 ||
                !storage_key_chunk_parse((const uint8_t *)gk, gl, &tl, &id, &start))
                break;
            if (start > maxt)
                break;
            if (start == head_t0)
                continue; /* a checkpointed copy of the head: the head is newer */
            size_t vl;
            const uint8_t *v = (const uint8_t *)rocksdb_iter_value(it, &vl);
            if (vl < STORAGE_CHUNK_HDR || (int64_t)storage_key_get_be64(v) < mint)
                continue;
            uint32_t cnt =
                (uint32_t)v[8] << 24 | (uint32_t)v[9] << 16 | (uint32_t)v[10] << 8 | v[11];
            rc = decode_into(&o, v + STORAGE_CHUNK_HDR, vl - STORAGE_CHUNK_HDR, cnt, mint, maxt, a);
        }
        char *e = NULL;
        rocksdb_iter_get_error(it, &e);
        if (e) {
            free(e);
            rc = SONDE_ERR_STORAGE;
        }
        rocksdb_iter_destroy(it);
        rocksdb_readoptions_destroy(ro);
        rocksdb_release_snapshot(st->db, snap);
    }
    if (rc == SONDE_OK && copy)
        rc = decode_into(&o, copy, len, count, mint, maxt, a);
    free(copy);
    if (rc == SONDE_OK && o.n) {
        if ((*out = arena_alloc(a, o.n * sizeof(**out)))) {
            memcpy(*out, o.v, o.n * sizeof(**out));
            *n = o.n;
        } else {
            rc = SONDE_ERR_NOMEM;
        }
    }
    free(o.v);
    return rc;
}
