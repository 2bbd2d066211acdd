/*
 * load.c - rebuilding in-memory state at open: the series index (from the
 * `series` column family, with postings) and each series' last chunk (its
 * last timestamp/value, and a not-full last chunk reloaded as the head), the
 * native histogram heads (hist.c), then replay of the batch log after the
 * aggregator checkpoint.
 *
 * Threads: storage_load_series runs in storage_open before any thread starts;
 * storage_replay_run runs first thing on the committer thread, so new batches
 * queue behind the replayed ones and the shards see sequence order.
 */
#include <stdlib.h>
#include <string.h>

#include "../core/hash.h"
#include "../core/log.h"
#include "../core/series.h"
#include "storage_internal.h"

static void restore_chunks(storage *st, agg_shard *sh, rocksdb_iterator_t *it, agg_series *s)
{
    uint8_t k[STORAGE_KEY_MAX];
    size_t pl = (size_t)s->tlen + 9;
    size_t kl = storage_key_chunk(k, s->key, s->tlen, s->id, INT64_MAX);
    rocksdb_iter_seek_for_prev(it, (const char *)k, kl);
    if (!rocksdb_iter_valid(it))
        return;
    size_t gl;
    const char *gk = rocksdb_iter_key(it, &gl);
    if (gl != kl || memcmp(gk, k, pl) != 0)
        return; /* no chunk for this series */
    size_t vl;
    const char *v = rocksdb_iter_value(it, &vl);
    storage_agg_series_restore(sh, s, (const uint8_t *)v, vl);
    /* first chunk start = min ts */
    kl = storage_key_chunk(k, s->key, s->tlen, s->id, INT64_MIN);
    rocksdb_iter_seek(it, (const char *)k, kl);
    if (rocksdb_iter_valid(it)) {
        gk = rocksdb_iter_key(it, &gl);
        size_t tl;
        uint64_t id;
        int64_t ts;
        if (gl == kl && memcmp(gk, k, pl) == 0 &&
            storage_key_chunk_parse((const uint8_t *)gk, gl, &tl, &id, &ts) && ts < s->min_ts)
            s->min_ts = ts;
    }
    (void)st;
}

sonde_status storage_load_series(storage *st)
{
    arena *a = arena_create(4096, 0);
    if (!a)
        return SONDE_ERR_NOMEM;
    rocksdb_iterator_t *it = rocksdb_create_iterator_cf(st->db, st->ro, st->cf[CF_SERIES]);
    rocksdb_iterator_t *cit = rocksdb_create_iterator_cf(st->db, st->ro, st->cf[CF_CHUNKS]);
    uint64_t max_id = 0, n = 0;
    sonde_status rc = SONDE_OK;
    for (rocksdb_iter_seek_to_first(it); rocksdb_iter_valid(it); rocksdb_iter_next(it)) {
        size_t kl, vl;
        const uint8_t *k = (const uint8_t *)rocksdb_iter_key(it, &kl);
        const char *v = rocksdb_iter_value(it, &vl);
        if (kl < 10 || kl - 9 > STORAGE_TENANT_MAX || k[kl - 9] != 0)
            continue;
        size_t tlen = kl - 9;
        uint64_t id = storage_key_get_be64(k + tlen + 1);
        arena_reset(a);
        sonde_label *labels;
        uint32_t nl;
        if (series_labels_decode(a, v, vl, &labels, &nl) != SONDE_OK) {
            log_warn("storage.load_bad_series", "id=%llu", (unsigned long long)id);
            continue;
        }
        uint64_t kh = storage_index_hash_series(hash64(k, tlen), series_labels_hash(labels, nl));
        agg_shard *sh = &st->shards[kh % st->nshards];
        agg_series *s = storage_index_add(sh, (const char *)k, tlen, kh, id, v, vl);
        if (!s) {
            rc = SONDE_ERR_NOMEM;
            break;
        }
        restore_chunks(st, sh, cit, s);
        if (id > max_id)
            max_id = id;
        n++;
    }
    char *e = NULL;
    rocksdb_iter_get_error(it, &e);
    if (e) {
        log_error("storage.load_series", "err=\"%s\"", e);
        free(e);
        rc = SONDE_ERR_STORAGE;
    }
    rocksdb_iter_destroy(cit);
    rocksdb_iter_destroy(it);
    arena_destroy(a);
    /* native histogram chunks (hist.c): default column family, chunk keys in
     * (series, start) order; a series' last chunk is restored last */
    it = rocksdb_create_iterator_cf(st->db, st->ro, st->cf[CF_DEFAULT]);
    agg_series *prev = NULL;
    int64_t prev_start = 0;
    uint8_t *pv = NULL;
    size_t pvl = 0;
    for (rocksdb_iter_seek_to_first(it); rc == SONDE_OK; rocksdb_iter_next(it)) {
        bool valid = rocksdb_iter_valid(it);
        agg_series *s = NULL;
        int64_t start = 0;
        size_t kl, vl = 0;
        const uint8_t *v = NULL;
        if (valid) {
            const uint8_t *k = (const uint8_t *)rocksdb_iter_key(it, &kl);
            v = (const uint8_t *)rocksdb_iter_value(it, &vl);
            size_t tlen;
            uint64_t id;
            if (!storage_key_chunk_parse(k, kl, &tlen, &id, &start))
                continue;
            for (unsigned i = 0; i < st->nshards && !s; i++)
                s = storage_index_find_id(&st->shards[i], id);
            if (!s || s->tlen != tlen || memcmp(s->key, k, tlen) != 0)
                continue;
        }
        if (prev) {
            sonde_status hr = storage_hist_restore(st, prev, prev_start, pv, pvl, s != prev);
            if (hr == SONDE_ERR_NOMEM)
                rc = hr;
            else if (hr != SONDE_OK)
                log_warn("storage.load_bad_histograms", "id=%llu",
                         (unsigned long long)prev->id);
        }
        if (!valid)
            break;
        uint8_t *nv = realloc(pv, vl ? vl : 1);
        if (!nv) {
            rc = SONDE_ERR_NOMEM;
            break;
        }
        pv = nv;
        memcpy(pv, v, vl);
        pvl = vl;
        prev = s;
        prev_start = start;
    }
    free(pv);
    rocksdb_iter_destroy(it);
    uint64_t meta_next = 0;
    bool found = false;
    (void)storage_db_meta_get_u64(st, "next_series_id", &meta_next, &found);
    uint64_t next = max_id + 1;
    if (found && meta_next > next)
        next = meta_next;
    atomic_store(&st->next_series_id, next);
    atomic_store(&st->m_active_series, n);
    log_info("storage.series_loaded", "series=%llu next_id=%llu", (unsigned long long)n,
             (unsigned long long)next);
    return rc;
}

/* The batch after `seq` cannot be applied now: the global checkpoint (and so
 * the log truncation) must never pass it. */
static void replay_hold(storage *st, uint64_t seq)
{
    atomic_fetch_add(&st->m_replay_failed, 1);
    if (seq < atomic_load(&st->ckpt_limit))
        atomic_store(&st->ckpt_limit, seq);
}

void storage_replay_run(storage *st)
{
    uint8_t k[8];
    storage_key_put_be64(k, st->replay_from + 1);
    rocksdb_iterator_t *it = rocksdb_create_iterator_cf(st->db, st->ro, st->cf[CF_BATCHES]);
    uint64_t n = 0, bad = 0, last = st->replay_from;
    for (rocksdb_iter_seek(it, (const char *)k, 8); rocksdb_iter_valid(it); rocksdb_iter_next(it)) {
        size_t kl, vl;
        const uint8_t *kp = (const uint8_t *)rocksdb_iter_key(it, &kl);
        const uint8_t *v = (const uint8_t *)rocksdb_iter_value(it, &vl);
        if (kl != 8)
            continue;
        uint64_t seq = storage_key_get_be64(kp);
        last = seq;
        /* A batch that cannot be applied is not dispatched (it was
         * acknowledged: applying it as empty and truncating it would lose it)
         * and the log is kept from it on; serving goes on. */
        if (vl < 2 || vl < 2u + v[1] + STORAGE_BATCH_ID_LEN + 8 || v[1] == 0) {
            bad++;
            log_error("storage.replay_bad_record", "seq=%llu len=%zu", (unsigned long long)seq,
                      vl);
            replay_hold(st, seq - 1);
            continue;
        }
        storage_batch_kind kind = (storage_batch_kind)v[0];
        char tenant[STORAGE_TENANT_MAX + 1];
        memcpy(tenant, v + 2, v[1]);
        tenant[v[1]] = 0;
        size_t off = 2u + v[1];
        const uint8_t *id = v + off;
        int64_t cms = (int64_t)storage_key_get_be64(v + off + STORAGE_BATCH_ID_LEN);
        off += STORAGE_BATCH_ID_LEN + 8;
        storage_batch *b = storage_batch_create(tenant, kind, v + off, vl - off, NULL, NULL, 0);
        if (!b) {
            bad++;
            log_error("storage.replay_oom", "seq=%llu", (unsigned long long)seq);
            replay_hold(st, seq - 1);
            continue;
        }
        memcpy(b->id, id, STORAGE_BATCH_ID_LEN);
        b->seq = seq;
        b->commit_ms = cms;
        b->replayed = true;
        sonde_status s = SONDE_ERR_UNSUPPORTED;
        if (st->cfg.decode) {
            arena *dec = NULL;
            sonde_series *ser = NULL;
            size_t ns = 0;
            const storage_series_meta *meta = NULL;
            s = st->cfg.decode(st->cfg.decode_ctx, kind, b->payload, b->payload_len, &dec, &ser,
                               &ns, &meta);
            if (s == SONDE_OK) {
                b->decoded = dec;
                b->series = ser;
                b->nseries = ns;
                b->meta = meta;
            }
        }
        if (s != SONDE_OK) {
            bad++;
            log_error("storage.replay_decode", "seq=%llu status=%s: batch kept in the log, "
                      "checkpoint held below it", (unsigned long long)seq, sonde_status_name(s));
            storage_batch_destroy(b);
            replay_hold(st, seq - 1);
            continue;
        }
        storage_agg_dispatch(st, b);
        atomic_store(&st->replay_to, seq);
        n++;
    }
    char *e = NULL;
    rocksdb_iter_get_error(it, &e);
    if (e) {
        /* the rest of the log was not read: keep it */
        bad++;
        log_error("storage.replay_iter", "after_seq=%llu err=\"%s\": checkpoint held",
                  (unsigned long long)last, e);
        free(e);
        replay_hold(st, last);
    }
    rocksdb_iter_destroy(it);
    atomic_store(&st->replay_done, true);
    log_info("storage.replay_done", "from=%llu batches=%llu failed=%llu",
             (unsigned long long)st->replay_from, (unsigned long long)n, (unsigned long long)bad);
}
