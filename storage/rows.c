/*
 * rows.c - span and log rows: the durable form of OTLP traces and logs.
 *
 * A row batch (STORAGE_BATCH_OTLP_TRACES_V1 / _LOGS_V1) collects rows on the
 * caller's thread (storage_batch_add_span / _add_log) before it is submitted.
 * Values and stream labels are copied into the batch's own rows arena, so the
 * caller's request arena may go as soon as the batch is built. The committer
 * (commit.c) calls storage_rows_put() to add every row to the group's
 * WriteBatch, next to the batch id in batch_ids: the rows are durable exactly
 * when the ack says so, and a duplicate batch writes nothing. The keys are
 * pure functions of (tenant, row, batch id, commit day for rows without a
 * time), so a retry after the dedup window rewrites the same keys.
 *
 * Keys (keys.c, storage/README.md): spans under tenant/day/trace/span with a
 * trace_index tenant/trace/day; logs under tenant/day/stream/ts/seq with the
 * stream labels once in log_streams.
 *
 * storage_trace_read() runs on any thread: it reads trace_index and then each
 * day's span range from one RocksDB snapshot, copying into the caller's arena.
 */
#include <stdlib.h>
#include <string.h>

#include <zstd.h>

#include "../core/log.h"
#include "../core/varint.h"
#include "storage_internal.h"

#define ROWS_ARENA_BLOCK (64u << 10)

static sonde_status rows_reserve(storage_rows *r)
{
    if (!r->a && !(r->a = arena_create(ROWS_ARENA_BLOCK, 0)))
        return SONDE_ERR_NOMEM;
    if (r->n < r->cap)
        return SONDE_OK;
    size_t nc = r->cap ? r->cap * 2 : 64;
    storage_row *nr = arena_realloc(r->a, r->rows, r->cap * sizeof *nr, nc * sizeof *nr);
    if (!nr)
        return SONDE_ERR_NOMEM;
    r->rows = nr;
    r->cap = nc;
    return SONDE_OK;
}

static sonde_status rows_append(storage_rows *r, const uint8_t *id, size_t idlen, int64_t ts,
                                const void *hdr, size_t hlen, const void *value, size_t len)
{
    sonde_status s = rows_reserve(r);
    if (s != SONDE_OK)
        return s;
    uint8_t *v = arena_alloc(r->a, hlen + len);
    if (!v)
        return SONDE_ERR_NOMEM;
    if (hlen)
        memcpy(v, hdr, hlen);
    if (len)
        memcpy(v + hlen, value, len);
    len += hlen;
    storage_row *row = &r->rows[r->n];
    memset(row->id, 0, sizeof row->id);
    memcpy(row->id, id, idlen);
    row->ts_ns = ts;
    row->value = v;
    row->len = len;
    row->hlen = hlen;
    r->n++;
    return SONDE_OK;
}

sonde_status storage_batch_add_span(storage_batch *b, const uint8_t trace_id[16],
                                    const uint8_t span_id[8], int64_t start_ns, const void *value,
                                    size_t len)
{
    if (!b || b->kind != STORAGE_BATCH_OTLP_TRACES_V1 || !trace_id || !span_id || (len && !value))
        return SONDE_ERR_INVALID;
    uint8_t id[24];
    memcpy(id, trace_id, 16);
    memcpy(id + 16, span_id, 8);
    return rows_append(&b->rows, id, sizeof id, start_ns, NULL, 0, value, len);
}

/* Finds or adds the stream in the batch's table; the table is open addressing by id. */
static sonde_status rows_stream(storage_rows *r, uint64_t id, const sonde_label *labels, uint32_t n)
{
    if (r->scap) {
        for (size_t i = (size_t)id & (r->scap - 1);; i = (i + 1) & (r->scap - 1)) {
            if (!r->streams[i])
                break;
            if (r->streams[i]->id == id)
                return SONDE_OK; /* same id, same key: one put is enough */
        }
    }
    if ((r->nstreams + 1) * 2 > r->scap) {
        size_t nc = r->scap ? r->scap * 2 : 16;
        storage_stream **ns = arena_calloc(r->a, nc, sizeof(storage_stream *));
        if (!ns)
            return SONDE_ERR_NOMEM;
        for (size_t i = 0; i < r->scap; i++) {
            storage_stream *e = r->streams[i];
            if (!e)
                continue;
            size_t j = (size_t)e->id & (nc - 1);
            while (ns[j])
                j = (j + 1) & (nc - 1);
            ns[j] = e;
        }
        r->streams = ns;
        r->scap = nc;
    }
    storage_stream *e = arena_alloc(r->a, sizeof *e);
    size_t elen = series_labels_encoded_len(labels, n);
    char *enc = arena_alloc(r->a, elen);
    if (!e || !enc)
        return SONDE_ERR_NOMEM;
    series_labels_encode(labels, n, enc);
    e->id = id;
    e->enc = enc;
    e->len = elen;
    size_t j = (size_t)id & (r->scap - 1);
    while (r->streams[j])
        j = (j + 1) & (r->scap - 1);
    r->streams[j] = e;
    r->nstreams++;
    return SONDE_OK;
}

sonde_status storage_batch_add_log(storage_batch *b, const sonde_label *stream, uint32_t nlabels,
                                   int64_t ts_ns, const void *value, size_t len)
{
    return storage_batch_add_log_hdr(b, stream, nlabels, ts_ns, NULL, 0, value, len);
}

sonde_status storage_batch_add_log_hdr(storage_batch *b, const sonde_label *stream,
                                       uint32_t nlabels, int64_t ts_ns, const void *hdr,
                                       size_t hlen, const void *value, size_t len)
{
    if (!b || b->kind != STORAGE_BATCH_OTLP_LOGS_V1 || (nlabels && !stream) || (len && !value) ||
        (hlen && !hdr))
        return SONDE_ERR_INVALID;
    if (b->rows.n >= UINT32_MAX) /* the row index is 4 bytes of the key */
        return SONDE_ERR_LIMIT;
    /* canonical: sorted by name, names unique and non-empty */
    for (uint32_t i = 0; i < nlabels; i++) {
        if (stream[i].name_len == 0 || (stream[i].value_len && !stream[i].value))
            return SONDE_ERR_INVALID;
        if (i > 0) {
            const sonde_label *p = &stream[i - 1], *c = &stream[i];
            size_t m = p->name_len < c->name_len ? p->name_len : c->name_len;
            int d = memcmp(p->name, c->name, m);
            if (d > 0 || (d == 0 && p->name_len >= c->name_len))
                return SONDE_ERR_INVALID;
        }
    }
    uint64_t sid = series_labels_hash(stream, nlabels);
    sonde_status s = rows_reserve(&b->rows);
    if (s == SONDE_OK)
        s = rows_stream(&b->rows, sid, stream, nlabels);
    if (s != SONDE_OK)
        return s;
    uint8_t id[8];
    storage_key_put_be64(id, sid);
    return rows_append(&b->rows, id, sizeof id, ts_ns, hdr, hlen, value, len);
}

sonde_status storage_batch_add_template(storage_batch *b, uint64_t template_id, uint32_t version,
                                        const char *text, size_t len)
{
    if (!b || b->kind != STORAGE_BATCH_OTLP_LOGS_V1 || template_id == 0 || (len && !text))
        return SONDE_ERR_INVALID;
    storage_rows *r = &b->rows;
    if (!r->a && !(r->a = arena_create(ROWS_ARENA_BLOCK, 0)))
        return SONDE_ERR_NOMEM;
    if (r->ntmpls == r->tcap) {
        size_t nc = r->tcap ? r->tcap * 2 : 16;
        storage_tmpl *nt = arena_realloc(r->a, r->tmpls, r->tcap * sizeof *nt, nc * sizeof *nt);
        if (!nt)
            return SONDE_ERR_NOMEM;
        r->tmpls = nt;
        r->tcap = nc;
    }
    char *t = arena_alloc(r->a, len + 1);
    if (!t)
        return SONDE_ERR_NOMEM;
    if (len)
        memcpy(t, text, len);
    t[len] = 0;
    r->tmpls[r->ntmpls++] = (storage_tmpl){template_id, version, t, len};
    return SONDE_OK;
}

size_t storage_batch_rows(const storage_batch *b)
{
    return b ? b->rows.n : 0;
}

size_t storage_batch_row_bytes(const storage_batch *b)
{
    return b && b->rows.a ? arena_used(b->rows.a) : 0;
}

/* ---- log chunks ---- */

static int log_row_cmp(const void *x, const void *y, void *ctx)
{
    const storage_rows *rs = ctx;
    const storage_row *a = &rs->rows[*(const size_t *)x];
    const storage_row *b = &rs->rows[*(const size_t *)y];
    int c = memcmp(a->id, b->id, 8); /* stream */
    if (c)
        return c;
    int64_t da = a->ts_ns > 0 ? a->ts_ns / STORAGE_DAY_NS : -1;
    int64_t db = b->ts_ns > 0 ? b->ts_ns / STORAGE_DAY_NS : -1;
    if (da != db)
        return da < db ? -1 : 1;
    if (a->ts_ns != b->ts_ns)
        return a->ts_ns < b->ts_ns ? -1 : 1;
    size_t ia = *(const size_t *)x, ib = *(const size_t *)y;
    return (ia > ib) - (ia < ib); /* stable */
}

/* Encodes rows idx[0..n) (one stream and day, ascending time) as one chunk row in out. */
static sonde_status chunk_make(storage *st, ZSTD_CCtx *cctx, const storage_batch *b,
                               storage_rows *r, const size_t *idx, size_t n, arena *a,
                               storage_row *out)
{
    size_t raw = 0;
    for (size_t i = 0; i < n; i++)
        raw += 30 + r->rows[idx[i]].len;
    uint8_t *payload = malloc(raw ? raw : 1);
    if (!payload)
        return SONDE_ERR_NOMEM;
    size_t o = 0;
    int64_t first = r->rows[idx[0]].ts_ns, prev = first;
    for (size_t i = 0; i < n; i++) {
        int64_t d = r->rows[idx[i]].ts_ns - prev; /* >= 0: sorted */
        o += varint_put(payload + o, (uint64_t)d);
        prev = r->rows[idx[i]].ts_ns;
    }
    for (size_t i = 0; i < n; i++)
        o += varint_put(payload + o, r->rows[idx[i]].hlen);
    for (size_t i = 0; i < n; i++)
        o += varint_put(payload + o, r->rows[idx[i]].len - r->rows[idx[i]].hlen);
    for (size_t i = 0; i < n; i++) {
        memcpy(payload + o, r->rows[idx[i]].value, r->rows[idx[i]].hlen);
        o += r->rows[idx[i]].hlen;
    }
    for (size_t i = 0; i < n; i++) {
        const storage_row *w = &r->rows[idx[i]];
        memcpy(payload + o, (const uint8_t *)w->value + w->hlen, w->len - w->hlen);
        o += w->len - w->hlen;
    }
    size_t bound = ZSTD_compressBound(o);
    uint8_t *v = arena_alloc(a, 1 + 40 + bound);
    if (!v) {
        free(payload);
        return SONDE_ERR_NOMEM;
    }
    size_t h = 0;
    v[h++] = STORAGE_LOG_CHUNK_MAGIC;
    h += varint_put(v + h, n);
    h += varint_put(v + h, (uint64_t)(prev - first));
    h += varint_put(v + h, o);
    /* the dictionary version goes before the frame: compress into place after a 5-byte slot */
    uint8_t *frame = v + h + 5;
    size_t z = 0;
    uint32_t ver = 0;
    sonde_status s = storage_logdict_compress(st, cctx, b->tenant, b->tlen,
                                              storage_key_get_be64(r->rows[idx[0]].id), payload,
                                              o, frame, bound, &z, &ver);
    free(payload);
    if (s != SONDE_OK)
        return s;
    size_t vl = varint_put(v + h, ver);
    memmove(v + h + vl, frame, z);
    h += vl;
    *out = r->rows[idx[0]]; /* stream id and first time */
    out->value = v;
    out->len = h + z;
    return SONDE_OK;
}

sonde_status storage_batch_pack_logs(storage *st, storage_batch *b)
{
    if (!st || !b || b->kind != STORAGE_BATCH_OTLP_LOGS_V1)
        return SONDE_ERR_INVALID;
    storage_rows *r = &b->rows;
    if (r->n == 0)
        return SONDE_OK;
    size_t *idx = malloc(r->n * sizeof *idx);
    storage_row *chunks = arena_alloc(r->a, r->n * sizeof *chunks);
    ZSTD_CCtx *cctx = storage_logdict_cctx_get(st);
    if (!idx || !chunks || !cctx) {
        free(idx);
        storage_logdict_cctx_put(st, cctx);
        return SONDE_ERR_NOMEM;
    }
    for (size_t i = 0; i < r->n; i++) {
        idx[i] = i;
        if (r->rows[i].len > STORAGE_LOG_CHUNK_RAW_MAX - 64) {
            /* a reader would refuse its chunk: refuse it now, before it is acknowledged */
            free(idx);
            storage_logdict_cctx_put(st, cctx);
            return SONDE_ERR_LIMIT;
        }
    }
    qsort_r(idx, r->n, sizeof *idx, log_row_cmp, r);
    size_t nc = 0;
    sonde_status s = SONDE_OK;
    for (size_t i = 0; i < r->n && s == SONDE_OK;) {
        const storage_row *f = &r->rows[idx[i]];
        int64_t day = f->ts_ns > 0 ? f->ts_ns / STORAGE_DAY_NS : -1;
        size_t j = i, bytes = 0;
        while (j < r->n && j - i < STORAGE_LOG_CHUNK_MAX_ENTRIES) {
            const storage_row *c = &r->rows[idx[j]];
            int64_t cd = c->ts_ns > 0 ? c->ts_ns / STORAGE_DAY_NS : -1;
            if (memcmp(c->id, f->id, 8) != 0 || cd != day ||
                (uint64_t)c->ts_ns - (uint64_t)f->ts_ns > (uint64_t)STORAGE_LOG_CHUNK_SPAN_NS ||
                (j > i && bytes + c->len > STORAGE_LOG_CHUNK_MAX_BYTES))
                break;
            bytes += c->len;
            j++;
        }
        s = chunk_make(st, cctx, b, r, idx + i, j - i, r->a, &chunks[nc]);
        nc++;
        i = j;
    }
    free(idx);
    storage_logdict_cctx_put(st, cctx);
    if (s != SONDE_OK)
        return s;
    r->rows = chunks; /* the originals stay in the arena until the batch goes */
    r->n = nc;
    r->cap = r->n;
    return SONDE_OK;
}

void storage_rows_fini(storage_rows *r)
{
    arena_destroy(r->a);
    memset(r, 0, sizeof *r);
}

static void put_spans(storage *st, rocksdb_writebatch_t *wb, const storage_batch *b)
{
    uint8_t key[STORAGE_ROW_KEY_MAX], ikey[STORAGE_ROW_KEY_MAX];
    size_t ilen = 0;
    for (size_t i = 0; i < b->rows.n; i++) {
        const storage_row *r = &b->rows.rows[i];
        uint32_t day = storage_key_day(r->ts_ns, b->commit_ms);
        size_t kl = storage_key_span(key, b->tenant, b->tlen, day, r->id, r->id + 16);
        rocksdb_writebatch_put_cf(wb, st->cf[CF_SPANS], (const char *)key, kl, r->value, r->len);
        /* spans of one trace usually come together: one index put per run */
        uint8_t k2[STORAGE_ROW_KEY_MAX];
        size_t l2 = storage_key_trace_index(k2, b->tenant, b->tlen, r->id, day);
        if (l2 == ilen && memcmp(k2, ikey, l2) == 0)
            continue;
        rocksdb_writebatch_put_cf(wb, st->cf[CF_TRACE_INDEX], (const char *)k2, l2, "", 0);
        memcpy(ikey, k2, l2);
        ilen = l2;
    }
}

static void put_logs(storage *st, rocksdb_writebatch_t *wb, const storage_batch *b)
{
    uint8_t key[STORAGE_ROW_KEY_MAX];
    uint8_t seq[STORAGE_LOG_SEQ_LEN];
    memcpy(seq, b->id, 8);
    for (size_t i = 0; i < b->rows.n; i++) {
        const storage_row *r = &b->rows.rows[i];
        uint32_t day = storage_key_day(r->ts_ns, b->commit_ms);
        storage_key_put_be32(seq + 8, (uint32_t)i);
        size_t kl = storage_key_log(key, b->tenant, b->tlen, day, storage_key_get_be64(r->id),
                                    r->ts_ns, seq);
        rocksdb_writebatch_put_cf(wb, st->cf[CF_LOGS], (const char *)key, kl, r->value, r->len);
    }
    for (size_t i = 0; i < b->rows.scap; i++) {
        const storage_stream *s = b->rows.streams[i];
        if (!s)
            continue;
        size_t kl = storage_key_series(key, b->tenant, b->tlen, s->id);
        rocksdb_writebatch_put_cf(wb, st->cf[CF_LOG_STREAMS], (const char *)key, kl, s->enc,
                                  s->len);
    }
    for (size_t i = 0; i < b->rows.ntmpls; i++) {
        const storage_tmpl *t = &b->rows.tmpls[i];
        size_t kl = storage_key_template(key, b->tenant, b->tlen, t->id, t->version);
        rocksdb_writebatch_put_cf(wb, st->cf[CF_TEMPLATES], (const char *)key, kl, t->text,
                                  t->len);
    }
}

void storage_rows_put(storage *st, rocksdb_writebatch_t *wb, const storage_batch *b)
{
    if (b->kind == STORAGE_BATCH_OTLP_TRACES_V1)
        put_spans(st, wb, b);
    else if (b->kind == STORAGE_BATCH_OTLP_LOGS_V1)
        put_logs(st, wb, b);
}

/* ---- trace read ---- */

typedef struct trace_out {
    arena *a;
    const void **values;
    size_t *lens;
    size_t n, cap;
} trace_out;

static sonde_status trace_out_add(trace_out *o, const char *v, size_t len)
{
    if (o->n == o->cap) {
        size_t nc = o->cap ? o->cap * 2 : 32;
        const void **nv = arena_realloc(o->a, o->values, o->cap * sizeof *nv, nc * sizeof *nv);
        if (!nv)
            return arena_refusal(o->a);
        o->values = nv;
        size_t *nl = arena_realloc(o->a, o->lens, o->cap * sizeof *nl, nc * sizeof *nl);
        if (!nl)
            return arena_refusal(o->a);
        o->lens = nl;
        o->cap = nc;
    }
    void *c = arena_alloc(o->a, len);
    if (!c)
        return arena_refusal(o->a);
    if (len)
        memcpy(c, v, len);
    o->values[o->n] = c;
    o->lens[o->n] = len;
    o->n++;
    return SONDE_OK;
}

sonde_status storage_trace_read(storage *st, const char *tenant, const uint8_t trace_id[16],
                                arena *a, const void ***values, size_t **lens, size_t *n)
{
    *values = NULL;
    *lens = NULL;
    *n = 0;
    size_t tlen = tenant ? strlen(tenant) : 0;
    if (!st || !trace_id || tlen == 0 || tlen > STORAGE_TENANT_MAX)
        return SONDE_ERR_INVALID;
    const rocksdb_snapshot_t *snap = rocksdb_create_snapshot(st->db);
    rocksdb_readoptions_t *ro = rocksdb_readoptions_create();
    rocksdb_readoptions_set_snapshot(ro, snap);
    trace_out o = {.a = a};
    sonde_status s = SONDE_OK;

    /* the days of the trace, ascending */
    uint32_t days_small[16], *days = days_small;
    size_t ndays = 0, dcap = 16;
    uint8_t pfx[STORAGE_ROW_KEY_MAX];
    size_t plen = storage_key_trace_index(pfx, tenant, tlen, trace_id, 0) - 4;
    /* bound the iterators to the prefix (keys are prefix + 4 or 8 bytes), so
     * they stop there instead of walking into the next range's tombstones */
    uint8_t ub[STORAGE_ROW_KEY_MAX + 9];
    memcpy(ub, pfx, plen);
    memset(ub + plen, 0xFF, 5);
    rocksdb_readoptions_set_iterate_upper_bound(ro, (const char *)ub, plen + 5);
    rocksdb_iterator_t *it = rocksdb_create_iterator_cf(st->db, ro, st->cf[CF_TRACE_INDEX]);
    for (rocksdb_iter_seek(it, (const char *)pfx, plen); rocksdb_iter_valid(it);
         rocksdb_iter_next(it)) {
        size_t kl;
        const uint8_t *k = (const uint8_t *)rocksdb_iter_key(it, &kl);
        if (kl < plen || memcmp(k, pfx, plen) != 0)
            break;
        if (kl != plen + 4)
            continue;
        if (ndays == dcap) {
            uint32_t *nd = arena_alloc(a, dcap * 2 * sizeof *nd);
            if (!nd) {
                s = arena_refusal(a);
                break;
            }
            memcpy(nd, days, ndays * sizeof *nd);
            days = nd;
            dcap *= 2;
        }
        days[ndays++] = storage_key_get_be32(k + plen);
    }
    if (s == SONDE_OK)
        s = storage_iter_status(it, "trace_index");
    rocksdb_iter_destroy(it);

    for (size_t d = 0; d < ndays && s == SONDE_OK; d++) {
        static const uint8_t zero[8];
        size_t kl = storage_key_span(pfx, tenant, tlen, days[d], trace_id, zero) - 8;
        memcpy(ub, pfx, kl);
        memset(ub + kl, 0xFF, 9);
        rocksdb_readoptions_set_iterate_upper_bound(ro, (const char *)ub, kl + 9);
        it = rocksdb_create_iterator_cf(st->db, ro, st->cf[CF_SPANS]);
        for (rocksdb_iter_seek(it, (const char *)pfx, kl); rocksdb_iter_valid(it);
             rocksdb_iter_next(it)) {
            size_t l, vl;
            const char *k = rocksdb_iter_key(it, &l);
            if (l != kl + 8 || memcmp(k, pfx, kl) != 0)
                break;
            const char *v = rocksdb_iter_value(it, &vl);
            if ((s = trace_out_add(&o, v, vl)) != SONDE_OK)
                break;
        }
        if (s == SONDE_OK)
            s = storage_iter_status(it, "spans");
        rocksdb_iter_destroy(it);
    }
    rocksdb_readoptions_destroy(ro);
    rocksdb_release_snapshot(st->db, snap);
    if (s != SONDE_OK)
        return s;
    *values = o.values;
    *lens = o.lens;
    *n = o.n;
    return SONDE_OK;
}

/* ---- templates ---- */

sonde_status storage_templates_scan(storage *st, storage_template_fn fn, void *ctx)
{
    if (!st || !fn)
        return SONDE_ERR_INVALID;
    rocksdb_readoptions_t *ro = rocksdb_readoptions_create();
    rocksdb_iterator_t *it = rocksdb_create_iterator_cf(st->db, ro, st->cf[CF_TEMPLATES]);
    char tenant[STORAGE_TENANT_MAX + 1];
    for (rocksdb_iter_seek_to_first(it); rocksdb_iter_valid(it); rocksdb_iter_next(it)) {
        size_t kl, vl;
        const uint8_t *k = (const uint8_t *)rocksdb_iter_key(it, &kl);
        const char *v = rocksdb_iter_value(it, &vl);
        const uint8_t *z = kl > 12 ? memchr(k, 0, kl - 12) : NULL;
        if (!z || z == k || (size_t)(z - k) > STORAGE_TENANT_MAX || kl != (size_t)(z - k) + 13)
            continue; /* not a template key */
        size_t tl = (size_t)(z - k);
        memcpy(tenant, k, tl);
        tenant[tl] = 0;
        if (!fn(ctx, tenant, storage_key_get_be64(z + 1), storage_key_get_be32(z + 9), v, vl))
            break;
    }
    sonde_status s = storage_iter_status(it, "templates");
    rocksdb_iter_destroy(it);
    rocksdb_readoptions_destroy(ro);
    return s;
}

sonde_status storage_template_get(storage *st, const char *tenant, uint64_t template_id,
                                  uint32_t version, arena *a, const char **text, size_t *len,
                                  uint32_t *version_out)
{
    size_t tlen = tenant ? strlen(tenant) : 0;
    if (!st || tlen == 0 || tlen > STORAGE_TENANT_MAX || template_id == 0)
        return SONDE_ERR_INVALID;
    uint8_t key[STORAGE_ROW_KEY_MAX];
    size_t kl = storage_key_template(key, tenant, tlen, template_id, version);
    rocksdb_readoptions_t *ro = rocksdb_readoptions_create();
    rocksdb_iterator_t *it = rocksdb_create_iterator_cf(st->db, ro, st->cf[CF_TEMPLATES]);
    /* the version asked for, or (UINT32_MAX) the last one: both are the last key <= key */
    rocksdb_iter_seek_for_prev(it, (const char *)key, kl);
    sonde_status s = SONDE_ERR_NOT_FOUND;
    if (rocksdb_iter_valid(it)) {
        size_t l, vl;
        const uint8_t *k = (const uint8_t *)rocksdb_iter_key(it, &l);
        uint32_t ver = l == kl ? storage_key_get_be32(k + kl - 4) : 0;
        if (l == kl && memcmp(k, key, kl - 4) == 0 &&
            (version == UINT32_MAX || ver == version)) {
            const char *v = rocksdb_iter_value(it, &vl);
            char *c = arena_alloc(a, vl + 1);
            if (!c) {
                s = arena_refusal(a);
            } else {
                if (vl)
                    memcpy(c, v, vl);
                c[vl] = 0;
                *text = c;
                *len = vl;
                if (version_out)
                    *version_out = ver;
                s = SONDE_OK;
            }
        }
    }
    if (s == SONDE_ERR_NOT_FOUND) {
        sonde_status e = storage_iter_status(it, "template");
        if (e != SONDE_OK)
            s = e;
    }
    rocksdb_iter_destroy(it);
    rocksdb_readoptions_destroy(ro);
    return s;
}

/* ---- retention ---- */

sonde_status storage_logs_retention_run(storage *st, int64_t now_ms, uint32_t *days_out)
{
    if (!st)
        return SONDE_ERR_INVALID;
    int64_t keep_ms = st->cfg.logs_retention_ms;
    if (keep_ms <= 0)
        return SONDE_OK;
    /* the first day any part of which is within the retention */
    int64_t cut = now_ms - keep_ms;
    uint32_t first_kept = cut <= 0 ? 0 : (uint32_t)(cut / 86400000);
    if (days_out)
        *days_out = first_kept;
    if (first_kept == 0)
        return SONDE_OK;
    /* tenants: the distinct prefixes of log_streams, one seek each */
    rocksdb_readoptions_t *ro = rocksdb_readoptions_create();
    rocksdb_iterator_t *it = rocksdb_create_iterator_cf(st->db, ro, st->cf[CF_LOG_STREAMS]);
    rocksdb_writebatch_t *wb = rocksdb_writebatch_create();
    size_t tenants = 0;
    rocksdb_iter_seek_to_first(it);
    while (rocksdb_iter_valid(it)) {
        size_t kl;
        const uint8_t *k = (const uint8_t *)rocksdb_iter_key(it, &kl);
        const uint8_t *z = memchr(k, 0, kl);
        if (!z || z == k || (size_t)(z - k) > STORAGE_TENANT_MAX)
            break; /* not a stream key: nothing sensible follows */
        size_t tl = (size_t)(z - k);
        uint8_t lo[STORAGE_TENANT_MAX + 5], hi[STORAGE_TENANT_MAX + 5];
        memcpy(lo, k, tl);
        lo[tl] = 0;
        storage_key_put_be32(lo + tl + 1, 0);
        memcpy(hi, lo, tl + 1);
        storage_key_put_be32(hi + tl + 1, first_kept);
        rocksdb_writebatch_delete_range_cf(wb, st->cf[CF_LOGS], (const char *)lo, tl + 5,
                                           (const char *)hi, tl + 5);
        tenants++;
        /* the next tenant: past every key starting with tenant '\0' */
        uint8_t next[STORAGE_TENANT_MAX + 2];
        memcpy(next, k, tl);
        next[tl] = 1;
        rocksdb_iter_seek(it, (const char *)next, tl + 1);
    }
    sonde_status s = storage_iter_status(it, "retention");
    rocksdb_iter_destroy(it);
    rocksdb_readoptions_destroy(ro);
    if (s == SONDE_OK && tenants)
        s = storage_db_write(st, wb, false);
    rocksdb_writebatch_destroy(wb);
    if (s == SONDE_OK && tenants)
        log_info("storage.logs_retention", "tenants=%zu first_day_kept=%u", tenants, first_kept);
    return s;
}
