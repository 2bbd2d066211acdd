/*
 * logs_read.c - the read side of log rows (see rows.c for the write side and
 * storage.h "log reads" for the API).
 *
 * Streams: one prefix scan of log_streams for the tenant (tenant '\0'
 * stream_id -> canonical labels), each decoded and matched with Prometheus
 * semantics (a missing label reads as ""). Entries: the logs family is
 * keyed tenant '\0' day stream_id ts seq, so one stream's entries in
 * [mint, maxt] are one key range per day; the iterator walks the days in
 * the requested direction, each with a RocksDB iterator bounded by
 * iterate_lower_bound / iterate_upper_bound, all from one snapshot taken at
 * creation. Rows stored with ts <= 0 live in their commit day and are only
 * found when that day is inside the range (documented limitation).
 *
 * Threads: any; each iterator belongs to one thread. Copies only what the
 * caller asks for (labels into the caller's arena); entry values point into
 * RocksDB's iterator memory until the next call.
 */
#include <stdlib.h>
#include <string.h>

#include <zstd.h>

#include "../core/log.h"
#include "../core/varint.h"
#include "storage_internal.h"

static bool logs_matches(const storage_matcher *m, const sonde_label *l, uint32_t n)
{
    const sonde_label *x = series_labels_get(l, n, m->name, m->name_len);
    const char *v = x ? x->value : "";
    size_t vl = x ? x->value_len : 0;
    switch (m->op) {
    case STORAGE_MATCH_EQ:
        return vl == m->value_len && (vl == 0 || memcmp(v, m->value, vl) == 0);
    case STORAGE_MATCH_NEQ:
        return !(vl == m->value_len && (vl == 0 || memcmp(v, m->value, vl) == 0));
    case STORAGE_MATCH_RE:
        return m->re_match && m->re_match(m->re_ctx, v, vl);
    case STORAGE_MATCH_NRE:
        return m->re_match && !m->re_match(m->re_ctx, v, vl);
    }
    return false;
}

sonde_status storage_log_streams(storage *st, const char *tenant, const storage_matcher *m,
                                 size_t nm, arena *a, storage_log_stream **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    size_t tlen = tenant ? strlen(tenant) : 0;
    if (!st || tlen == 0 || tlen > STORAGE_TENANT_MAX || (nm && !m))
        return SONDE_ERR_INVALID;
    char pfx[STORAGE_TENANT_MAX + 1];
    memcpy(pfx, tenant, tlen);
    pfx[tlen] = 0;
    char upper[STORAGE_TENANT_MAX + 1];
    memcpy(upper, tenant, tlen);
    upper[tlen] = 1; /* tenant '\1' bounds tenant '\0' ... */
    rocksdb_readoptions_t *ro = rocksdb_readoptions_create();
    rocksdb_readoptions_set_iterate_upper_bound(ro, upper, tlen + 1);
    rocksdb_iterator_t *it = rocksdb_create_iterator_cf(st->db, ro, st->cf[CF_LOG_STREAMS]);
    sonde_status s = SONDE_OK;
    size_t cap = 0;
    storage_log_stream *res = NULL;
    for (rocksdb_iter_seek(it, pfx, tlen + 1); rocksdb_iter_valid(it); rocksdb_iter_next(it)) {
        size_t kl, vl;
        const uint8_t *k = (const uint8_t *)rocksdb_iter_key(it, &kl);
        if (kl != tlen + 9 || memcmp(k, pfx, tlen + 1) != 0)
            continue;
        const char *v = rocksdb_iter_value(it, &vl);
        char *enc = arena_alloc(a, vl ? vl : 1);
        if (!enc) {
            s = arena_refusal(a);
            break;
        }
        if (vl)
            memcpy(enc, v, vl);
        sonde_label *labels;
        uint32_t nl;
        sonde_status ds = series_labels_decode(a, enc, vl, &labels, &nl);
        if (ds == SONDE_ERR_INVALID)
            continue; /* a damaged entry hides one stream, not the tenant */
        if (ds != SONDE_OK) {
            s = arena_refusal(a);
            break;
        }
        bool ok = true;
        for (size_t i = 0; i < nm && ok; i++)
            ok = logs_matches(&m[i], labels, nl);
        if (!ok)
            continue;
        if (*n == cap) {
            size_t nc = cap ? cap * 2 : 16;
            storage_log_stream *nr = arena_realloc(a, res, cap * sizeof *nr, nc * sizeof *nr);
            if (!nr) {
                s = arena_refusal(a);
                break;
            }
            res = nr;
            cap = nc;
        }
        res[*n] = (storage_log_stream){storage_key_get_be64(k + tlen + 1), labels, nl};
        (*n)++;
    }
    if (s == SONDE_OK)
        s = storage_iter_status(it, "log_streams");
    rocksdb_iter_destroy(it);
    rocksdb_readoptions_destroy(ro);
    if (s != SONDE_OK) {
        *n = 0;
        return s;
    }
    *out = res;
    return SONDE_OK;
}

/* An open source of entries: a decoded chunk (or a single row, n = 1), or, walking backward,
 * a chunk not decoded yet ("lazy": its compressed value copied, known only by its header). */
typedef struct lsrc {
    uint8_t *buf;     /* owned: the decoded payload, or the lazy copy */
    size_t buf_len;
    const uint8_t *vals; /* decoded: the header parts, back to back (single row: the value) */
    const uint8_t *rest; /* decoded chunk: the rests, back to back */
    int64_t *ts;      /* decoded: entry times, ascending */
    uint32_t *off, *len;      /* header part of entry i: vals + off[i], len[i] */
    uint32_t *roff, *rlen;    /* its rest: rest + roff[i], rlen[i] */
    uint32_t n;
    int64_t pos;      /* decoded: the next entry to give (forward up, backward down) */
    int64_t first, last;
    bool lazy;
    uint64_t order; /* open order: ties between equal times go to the earlier opened */
} lsrc;

struct storage_log_iter {
    storage *st;
    const rocksdb_snapshot_t *snap;
    rocksdb_readoptions_t *ro;
    rocksdb_iterator_t *it;
    char tenant[STORAGE_TENANT_MAX + 1];
    size_t tlen;
    uint64_t stream;
    int64_t mint, maxt;
    bool backward;
    int64_t day, day_end; /* current day and the last one (inclusive), in walk order */
    bool done;
    uint8_t lower[STORAGE_ROW_KEY_MAX + 1], upper[STORAGE_ROW_KEY_MAX + 1]; /* + the 0xFF */
    size_t lower_len, upper_len;
    lsrc **heap; /* forward: min-heap by next time; backward: max-heap (lazy: by last) */
    size_t nheap, cap;
    lsrc *retired; /* gave the last entry: freed at the next call */
    uint64_t opened;
    ZSTD_DCtx *dctx; /* created at the first chunk */
    uint8_t *out;    /* a chunk entry's value, header part and rest joined */
    size_t out_cap;
};

static int64_t day_of(int64_t ns)
{
    return ns <= 0 ? 0 : ns / STORAGE_DAY_NS;
}

sonde_status storage_log_iter_create(storage *st, const char *tenant, uint64_t stream_id,
                                     int64_t mint, int64_t maxt, bool backward,
                                     storage_log_iter **out)
{
    *out = NULL;
    size_t tlen = tenant ? strlen(tenant) : 0;
    if (!st || tlen == 0 || tlen > STORAGE_TENANT_MAX)
        return SONDE_ERR_INVALID;
    storage_log_iter *it = calloc(1, sizeof *it);
    if (!it)
        return SONDE_ERR_NOMEM;
    it->st = st;
    memcpy(it->tenant, tenant, tlen);
    it->tlen = tlen;
    it->stream = stream_id;
    it->mint = mint;
    it->maxt = maxt;
    it->backward = backward;
    it->done = maxt < mint || maxt <= 0;
    int64_t d0 = day_of(mint), d1 = day_of(maxt);
    it->day = backward ? d1 : d0;
    it->day_end = backward ? d0 : d1;
    it->snap = rocksdb_create_snapshot(st->db);
    *out = it;
    return SONDE_OK;
}

/* Opens the iterator of it->day, positioned on its first row in walk order. Rows are keyed by
 * their first time: a chunk keyed up to a chunk span before mint may hold entries from mint. */
static void open_day(storage_log_iter *it)
{
    if (it->it)
        rocksdb_iter_destroy(it->it);
    it->it = NULL;
    if (it->ro)
        rocksdb_readoptions_destroy(it->ro);
    static const uint8_t zero_seq[STORAGE_LOG_SEQ_LEN];
    int64_t lo = it->mint > INT64_MIN + STORAGE_LOG_CHUNK_SPAN_NS
                     ? it->mint - STORAGE_LOG_CHUNK_SPAN_NS
                     : INT64_MIN;
    if (it->mint > 0 && lo < 1)
        lo = 1; /* rows at ts <= 0 are found only from a range that starts there */
    it->lower_len = storage_key_log(it->lower, it->tenant, it->tlen, (uint32_t)it->day, it->stream,
                                    lo, zero_seq) -
                    STORAGE_LOG_SEQ_LEN;
    /* exclusive upper bound: the key of maxt + 1 without a seq sorts before every key at
     * maxt + 1 and after every key at maxt */
    if (it->maxt == INT64_MAX) {
        size_t pl = storage_key_log(it->upper, it->tenant, it->tlen, (uint32_t)it->day, it->stream,
                                    0, zero_seq) -
                    STORAGE_LOG_SEQ_LEN - 8;
        memset(it->upper + pl, 0xFF, 8 + STORAGE_LOG_SEQ_LEN);
        it->upper[pl + 8 + STORAGE_LOG_SEQ_LEN] = 0xFF;
        it->upper_len = pl + 9 + STORAGE_LOG_SEQ_LEN;
    } else {
        it->upper_len = storage_key_log(it->upper, it->tenant, it->tlen, (uint32_t)it->day,
                                        it->stream, it->maxt + 1, zero_seq) -
                        STORAGE_LOG_SEQ_LEN;
    }
    it->ro = rocksdb_readoptions_create();
    rocksdb_readoptions_set_snapshot(it->ro, it->snap);
    rocksdb_readoptions_set_iterate_lower_bound(it->ro, (const char *)it->lower, it->lower_len);
    rocksdb_readoptions_set_iterate_upper_bound(it->ro, (const char *)it->upper, it->upper_len);
    it->it = rocksdb_create_iterator_cf(it->st->db, it->ro, it->st->cf[CF_LOGS]);
    if (it->backward)
        rocksdb_iter_seek_for_prev(it->it, (const char *)it->upper, it->upper_len);
    else
        rocksdb_iter_seek(it->it, (const char *)it->lower, it->lower_len);
}

static void src_free(lsrc *s)
{
    if (!s)
        return;
    free(s->buf);
    free(s->ts);
    free(s->off);
    free(s->len);
    free(s->roff);
    free(s->rlen);
    free(s);
}

/* A chunk's header: n, span, raw payload length, dictionary version; *hl its length.
 * false: malformed. */
static bool chunk_header(const uint8_t *v, size_t vl, uint64_t *n, uint64_t *span,
                         uint64_t *raw, uint64_t *dict, size_t *hl)
{
    const uint8_t *p = v + 1, *end = v + vl;
    if (vl < 1 || v[0] != STORAGE_LOG_CHUNK_MAGIC || !varint_get(&p, end, n) ||
        !varint_get(&p, end, span) || !varint_get(&p, end, raw) || !varint_get(&p, end, dict) || *n == 0 ||
        *n > (1u << 20) || *span > (uint64_t)INT64_MAX || *raw > STORAGE_LOG_CHUNK_RAW_MAX ||
        *raw < *n * 3 || *dict > UINT32_MAX)
        return false;
    *hl = (size_t)(p - v);
    return true;
}

/* Decodes a chunk's payload (or takes a single row) into s: times and value offsets.
 * SONDE_ERR_INVALID: the row is skipped (also when its dictionary is missing). */
static sonde_status src_decode(storage_log_iter *it, lsrc *s, const uint8_t *v, size_t vl)
{
    uint64_t n, span, raw, dict;
    size_t hl;
    if (vl == 0 || v[0] != STORAGE_LOG_CHUNK_MAGIC) { /* a single row */
        s->buf = malloc(vl ? vl : 1);
        s->ts = malloc(sizeof *s->ts);
        s->off = malloc(sizeof *s->off);
        s->len = malloc(sizeof *s->len);
        if (!s->buf || !s->ts || !s->off || !s->len || vl > UINT32_MAX)
            return SONDE_ERR_NOMEM;
        if (vl)
            memcpy(s->buf, v, vl);
        s->vals = s->buf;
        s->n = 1;
        s->ts[0] = s->first;
        s->off[0] = 0;
        s->len[0] = (uint32_t)vl;
        s->last = s->first;
        return SONDE_OK;
    }
    if (!chunk_header(v, vl, &n, &span, &raw, &dict, &hl))
        return SONDE_ERR_INVALID;
    if (!it->dctx && !(it->dctx = ZSTD_createDCtx()))
        return SONDE_ERR_NOMEM;
    uint8_t *pl = malloc(raw);
    s->ts = malloc(n * sizeof *s->ts);
    s->off = malloc(n * sizeof *s->off);
    s->len = malloc(n * sizeof *s->len);
    s->roff = malloc(n * sizeof *s->roff);
    s->rlen = malloc(n * sizeof *s->rlen);
    if (!pl || !s->ts || !s->off || !s->len || !s->roff || !s->rlen) {
        free(pl);
        return SONDE_ERR_NOMEM;
    }
    size_t got = 0;
    sonde_status zs = storage_logdict_decompress(it->st, it->dctx, it->tenant, it->tlen,
                                                 it->stream, (uint32_t)dict, v + hl, vl - hl, pl,
                                                 raw, &got);
    if (zs != SONDE_OK || got != raw) {
        free(pl);
        if (zs == SONDE_ERR_NOT_FOUND)
            log_warn("storage.logdict_missing", "stream=%016llx version=%u",
                     (unsigned long long)it->stream, (unsigned)dict);
        return SONDE_ERR_INVALID;
    }
    free(s->buf); /* a lazy copy */
    s->buf = pl;
    const uint8_t *p = pl, *end = pl + raw;
    int64_t t = s->first;
    for (uint64_t i = 0; i < n; i++) {
        uint64_t d;
        if (!varint_get(&p, end, &d) || d > (uint64_t)INT64_MAX || t > INT64_MAX - (int64_t)d)
            return SONDE_ERR_INVALID;
        t += (int64_t)d;
        s->ts[i] = t;
    }
    uint64_t total = 0, rtotal = 0;
    for (uint64_t i = 0; i < n; i++) {
        uint64_t l;
        if (!varint_get(&p, end, &l) || l > raw)
            return SONDE_ERR_INVALID;
        s->off[i] = (uint32_t)total;
        s->len[i] = (uint32_t)l;
        total += l;
    }
    for (uint64_t i = 0; i < n; i++) {
        uint64_t l;
        if (!varint_get(&p, end, &l) || l > raw)
            return SONDE_ERR_INVALID;
        s->roff[i] = (uint32_t)rtotal;
        s->rlen[i] = (uint32_t)l;
        rtotal += l;
    }
    if (total + rtotal != (uint64_t)(end - p))
        return SONDE_ERR_INVALID;
    s->vals = p;
    s->rest = p + total;
    s->n = (uint32_t)n;
    s->last = s->ts[n - 1];
    return SONDE_OK;
}

/* The time a source is ordered by in the heap. */
static int64_t src_key(const lsrc *s)
{
    return s->lazy ? s->last : s->ts[s->pos];
}

static bool src_before(const storage_log_iter *it, const lsrc *a, const lsrc *b)
{
    int64_t ka = src_key(a), kb = src_key(b);
    if (ka != kb)
        return it->backward ? ka > kb : ka < kb;
    if (a->lazy != b->lazy) /* decode a lazy chunk before giving an entry of the same time */
        return a->lazy;
    /* equal times: forward in key order (open order), backward the exact reverse (rows
     * opened first are the later keys there) */
    return a->order < b->order;
}

static void heap_up(storage_log_iter *it, size_t i)
{
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!src_before(it, it->heap[i], it->heap[p]))
            break;
        lsrc *t = it->heap[i];
        it->heap[i] = it->heap[p];
        it->heap[p] = t;
        i = p;
    }
}

static void heap_down(storage_log_iter *it, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < it->nheap && src_before(it, it->heap[l], it->heap[m]))
            m = l;
        if (r < it->nheap && src_before(it, it->heap[r], it->heap[m]))
            m = r;
        if (m == i)
            return;
        lsrc *t = it->heap[i];
        it->heap[i] = it->heap[m];
        it->heap[m] = t;
        i = m;
    }
}

static lsrc *heap_pop(storage_log_iter *it)
{
    lsrc *top = it->heap[0];
    it->heap[0] = it->heap[--it->nheap];
    if (it->nheap)
        heap_down(it, 0);
    return top;
}

/* Positions a decoded source on its first entry inside [mint, maxt] in walk order; false when
 * it has none. */
static bool src_position(storage_log_iter *it, lsrc *s)
{
    if (it->backward) {
        int64_t i = (int64_t)s->n - 1;
        while (i >= 0 && s->ts[i] > it->maxt)
            i--;
        s->pos = i;
        return i >= 0 && s->ts[i] >= it->mint;
    }
    uint32_t i = 0;
    while (i < s->n && s->ts[i] < it->mint)
        i++;
    s->pos = i;
    return i < s->n && s->ts[i] <= it->maxt;
}

/* Opens the row under the RocksDB iterator as a source and pushes it (or drops it: nothing
 * in range, or malformed). Backward, a chunk is only copied (lazy) until it is needed. */
static sonde_status open_row(storage_log_iter *it, int64_t first)
{
    size_t vl;
    const uint8_t *v = (const uint8_t *)rocksdb_iter_value(it->it, &vl);
    lsrc *s = calloc(1, sizeof *s);
    if (!s)
        return SONDE_ERR_NOMEM;
    s->first = first;
    s->order = it->opened++;
    sonde_status st;
    uint64_t n, span, raw, dict;
    size_t hl;
    if (vl && v[0] == STORAGE_LOG_CHUNK_MAGIC) {
        if (!chunk_header(v, vl, &n, &span, &raw, &dict, &hl) ||
            span > (uint64_t)INT64_MAX - (uint64_t)first || /* INT64_MAX - first, exactly */
            first + (int64_t)span < it->mint) {
            src_free(s); /* malformed, or ends before the range */
            return SONDE_OK;
        }
        s->last = first + (int64_t)span;
    } else {
        s->last = first;
    }
    if (it->backward && vl && v[0] == STORAGE_LOG_CHUNK_MAGIC) {
        s->lazy = true;
        s->buf = malloc(vl);
        if (!s->buf) {
            src_free(s);
            return SONDE_ERR_NOMEM;
        }
        memcpy(s->buf, v, vl);
        s->buf_len = vl;
        st = SONDE_OK;
    } else {
        st = src_decode(it, s, v, vl);
        if (st != SONDE_OK || !src_position(it, s)) {
            src_free(s);
            return st == SONDE_ERR_NOMEM ? st : SONDE_OK;
        }
    }
    if (it->nheap == it->cap) {
        size_t nc = it->cap ? it->cap * 2 : 8;
        lsrc **nh = realloc(it->heap, nc * sizeof *nh);
        if (!nh) {
            src_free(s);
            return SONDE_ERR_NOMEM;
        }
        it->heap = nh;
        it->cap = nc;
    }
    it->heap[it->nheap++] = s;
    heap_up(it, it->nheap - 1);
    return SONDE_OK;
}

sonde_status storage_log_iter_next(storage_log_iter *it, int64_t *ts_ns, const void **value,
                                   size_t *len)
{
    if (!it || it->done)
        return SONDE_ERR_NOT_FOUND;
    src_free(it->retired);
    it->retired = NULL;
    size_t pfx = it->tlen + 1 + 4 + 8;
    for (;;) {
        if (!it->it)
            open_day(it);
        /* open the rows that may hold the next entry: forward, every row keyed at or before
         * the heap's next time; backward, every row whose chunk may reach past it */
        while (rocksdb_iter_valid(it->it)) {
            size_t kl;
            const uint8_t *k = (const uint8_t *)rocksdb_iter_key(it->it, &kl);
            if (kl != pfx + 8 + STORAGE_LOG_SEQ_LEN) {
                if (it->backward)
                    rocksdb_iter_prev(it->it);
                else
                    rocksdb_iter_next(it->it);
                continue;
            }
            int64_t first = storage_key_ts_decode(storage_key_get_be64(k + pfx));
            if (it->nheap) {
                int64_t top = src_key(it->heap[0]);
                if (!it->backward && first > top)
                    break;
                if (it->backward && top > first &&
                    (uint64_t)top - (uint64_t)first > (uint64_t)STORAGE_LOG_CHUNK_SPAN_NS)
                    break;
            }
            sonde_status s = open_row(it, first);
            if (s != SONDE_OK) {
                it->done = true;
                return s;
            }
            if (it->backward)
                rocksdb_iter_prev(it->it);
            else
                rocksdb_iter_next(it->it);
        }
        if (it->nheap == 0) {
            sonde_status s = storage_iter_status(it->it, "logs");
            if (s != SONDE_OK || it->day == it->day_end) {
                it->done = true;
                return s != SONDE_OK ? s : SONDE_ERR_NOT_FOUND;
            }
            it->day += it->backward ? -1 : 1;
            rocksdb_iter_destroy(it->it);
            it->it = NULL;
            continue;
        }
        lsrc *top = it->heap[0];
        if (top->lazy) {
            /* needed now: decode, then place by its own entries */
            heap_pop(it);
            top->lazy = false;
            /* src_decode frees the compressed copy once it has the payload */
            sonde_status s = src_decode(it, top, top->buf, top->buf_len);
            if (s == SONDE_ERR_NOMEM) {
                src_free(top);
                it->done = true;
                return s;
            }
            if (s != SONDE_OK || !src_position(it, top)) {
                src_free(top);
                continue;
            }
            it->heap[it->nheap++] = top;
            heap_up(it, it->nheap - 1);
            continue;
        }
        /* give the top entry; the next one of its source, if in range, goes back in */
        *ts_ns = top->ts[top->pos];
        if (top->rest) { /* a chunk entry: header part and rest joined */
            size_t hl = top->len[top->pos], rl = top->rlen[top->pos];
            if (hl + rl > it->out_cap) {
                size_t nc = (hl + rl) * 2 + 256;
                uint8_t *no = realloc(it->out, nc);
                if (!no) {
                    it->done = true;
                    return SONDE_ERR_NOMEM;
                }
                it->out = no;
                it->out_cap = nc;
            }
            memcpy(it->out, top->vals + top->off[top->pos], hl);
            memcpy(it->out + hl, top->rest + top->roff[top->pos], rl);
            *value = it->out;
            *len = hl + rl;
        } else {
            *value = top->vals + top->off[top->pos];
            *len = top->len[top->pos];
        }
        bool more;
        if (it->backward) {
            top->pos--;
            more = top->pos >= 0 && top->ts[top->pos] >= it->mint;
        } else {
            top->pos++;
            more = top->pos < (int64_t)top->n && top->ts[top->pos] <= it->maxt;
        }
        if (more) {
            heap_down(it, 0);
        } else {
            heap_pop(it);
            it->retired = top; /* its memory holds *value until the next call */
        }
        return SONDE_OK;
    }
}

void storage_log_iter_destroy(storage_log_iter *it)
{
    if (!it)
        return;
    for (size_t i = 0; i < it->nheap; i++)
        src_free(it->heap[i]);
    free(it->heap);
    src_free(it->retired);
    ZSTD_freeDCtx(it->dctx);
    free(it->out);
    if (it->it)
        rocksdb_iter_destroy(it->it);
    if (it->ro)
        rocksdb_readoptions_destroy(it->ro);
    if (it->snap)
        rocksdb_release_snapshot(it->st->db, it->snap);
    free(it);
}
