/*
 * agg.c - the time-series aggregator: shard threads ("agg-N") that apply
 * committed batches to the series index and head chunks, cut full chunks to
 * RocksDB, and checkpoint.
 *
 * Every committed batch goes to every shard (one reference each); a shard
 * applies only the series whose key hash % nshards is its index, so each
 * series has exactly one writer. Per batch the shard takes its write lock
 * once, applies, writes its pending RocksDB updates (new series, cut chunks)
 * with the WAL on, unlocks, publishes applied_seq and wakes waiting readers.
 *
 * Sample rules (Prometheus): ts == last ts with the same value bits is a
 * duplicate (ignored, counted); any other ts <= last ts is out of order
 * (dropped, counted; Prometheus would answer 400 instead).
 *
 * Checkpoint (every checkpoint_interval_ms and at stop): the shard writes
 * every head chunk changed since the last checkpoint under its deterministic
 * key (a later cut or checkpoint overwrites it) and records the applied seq.
 * The global checkpoint is the minimum over shards; batch payloads up to it
 * are deleted from the log. Changed native histogram heads (hist.c) are
 * written whole at the same checkpoint.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../core/hash.h"
#include "../core/log.h"
#include "../core/series.h"
#include "../core/timeutil.h"
#include "storage_internal.h"

static void put_chunk(agg_shard *sh, rocksdb_writebatch_t *wb, const agg_series *s)
{
    uint8_t key[STORAGE_KEY_MAX];
    size_t kl = storage_key_chunk(key, s->key, s->tlen, s->id, s->head.t0);
    uint8_t hdr[STORAGE_CHUNK_HDR];
    storage_key_put_be64(hdr, (uint64_t)s->head.last_ts);
    uint32_t c = s->head.count;
    hdr[8] = (uint8_t)(c >> 24);
    hdr[9] = (uint8_t)(c >> 16);
    hdr[10] = (uint8_t)(c >> 8);
    hdr[11] = (uint8_t)c;
    const char *kp[1] = {(const char *)key};
    size_t kls[1] = {kl};
    const char *vp[2] = {(const char *)hdr, (const char *)s->head.buf};
    size_t vl[2] = {STORAGE_CHUNK_HDR, storage_chunk_enc_bytes(&s->head)};
    rocksdb_writebatch_putv_cf(wb, sh->st->cf[CF_CHUNKS], 1, kp, kls, 2, vp, vl);
}

static void cut_head(agg_shard *sh, agg_series *s)
{
    put_chunk(sh, sh->pending, s);
    storage_chunk_enc_reset(&s->head);
    s->dirty = 0;
    sh->nheads--;
    atomic_fetch_sub(&sh->st->m_head_chunks, 1);
}

bool storage_agg_flush_pending(agg_shard *sh)
{
    if (rocksdb_writebatch_count(sh->pending) == 0)
        return true;
    if (storage_db_write(sh->st, sh->pending, false) != SONDE_OK) {
        /* keep it: the cut chunks are no longer in memory; the next flush (or
         * checkpoint) retries, and until then ckpt_seq does not advance */
        atomic_fetch_add(&sh->st->m_write_errors, 1);
        return false;
    }
    rocksdb_writebatch_clear(sh->pending);
    return true;
}

static void apply_oom(agg_shard *sh, const char *tenant, size_t tlen, const char *what)
{
    log_error("storage.apply_oom", "shard=%u tenant=%.*s what=%s", sh->idx, (int)tlen, tenant,
              what);
    atomic_fetch_add(&sh->st->m_apply_errors, 1);
}

typedef struct agg_counts {
    uint64_t appended, dup, ooo, lost;
} agg_counts;

/* Appends one sample to the series' head (cutting it when full), or counts
 * why not: a duplicate (same time and value bits as the last), out of order,
 * or lost to OOM (the batch log still holds it). Shard lock held. */
static void append_sample(agg_shard *sh, agg_series *ser, int64_t ts, double v, agg_counts *c)
{
    storage *st = sh->st;
    uint64_t vb;
    memcpy(&vb, &v, 8);
    if (ser->max_ts != INT64_MIN && ts <= ser->max_ts) {
        if (ts == ser->max_ts && vb == ser->last_vbits)
            c->dup++;
        else
            c->ooo++;
        return;
    }
    if (ser->head.count > 0 &&
        (ser->head.count >= st->cfg.chunk_max_samples ||
         (uint64_t)ts - (uint64_t)ser->head.t0 >= (uint64_t)st->cfg.chunk_max_span_ms))
        cut_head(sh, ser);
    if (storage_chunk_enc_append(&ser->head, ts, v) != SONDE_OK) {
        c->lost++;
        return;
    }
    if (ser->head.count == 1) {
        sh->nheads++;
        atomic_fetch_add(&st->m_head_chunks, 1);
    }
    if (ts < ser->min_ts)
        ser->min_ts = ts;
    ser->max_ts = ts;
    ser->last_vbits = vb;
    ser->dirty = 1;
    c->appended++;
}

/* The value to store for sample i of a series with extras (OTLP): a delta
 * is added to the series' last value (0 when it has none, or when that is a
 * stale marker: the stream restarted). */
static double apply_delta(const agg_series *ser, double v)
{
    if (series_value_is_stale(v) || ser->max_ts == INT64_MIN)
        return v;
    double last;
    memcpy(&last, &ser->last_vbits, 8);
    return series_value_is_stale(last) ? v : last + v;
}

bool storage_agg_apply_series(agg_shard *sh, const char *tenant, size_t tlen, uint64_t key_hash,
                              const sonde_series *s, const storage_series_meta *meta, bool replay)
{
    storage *st = sh->st;
    if (s->nsamples == 0 || s->nlabels == 0)
        return true;
    size_t enc_len = series_labels_encoded_len(s->labels, s->nlabels);
    if (!storage_index_scratch(sh, tlen + 1 + enc_len)) {
        apply_oom(sh, tenant, tlen, "scratch");
        return false;
    }
    char *enc = sh->scratch + tlen + 1;
    series_labels_encode(s->labels, s->nlabels, enc);
    agg_series *ser = storage_index_find(sh, tenant, tlen, key_hash, enc, enc_len);
    if (!ser) {
        uint64_t id = atomic_fetch_add(&st->next_series_id, 1);
        ser = storage_index_add(sh, tenant, tlen, key_hash, id, enc, enc_len);
        if (!ser) {
            apply_oom(sh, tenant, tlen, "series");
            return false;
        }
        uint8_t key[STORAGE_KEY_MAX];
        size_t kl = storage_key_series(key, tenant, tlen, id);
        rocksdb_writebatch_put_cf(sh->pending, st->cf[CF_SERIES], (const char *)key, kl,
                                  agg_series_enc(ser), ser->enc_len);
        storage_db_meta_put_u64(sh->pending, st, "next_series_id", id + 1);
        atomic_fetch_add(&st->m_active_series, 1);
    }
    agg_counts c = {0, 0, 0, 0};
    for (uint32_t i = 0; i < s->nsamples; i++) {
        int64_t ts = s->samples[i].ts_ms;
        double v = s->samples[i].value;
        int64_t start = meta && meta->start_ms ? meta->start_ms[i] : 0;
        if (start > 0 && start < ts && (ser->max_ts == INT64_MIN || start > ser->max_ts))
            /* a cumulative stream (re)started after our last sample: its
             * zero at the start time makes the reset visible */
            append_sample(sh, ser, start, 0.0, &c);
        /* bump: live, an out-of-order count moves after the last sample; replayed, it is
         * skipped like any sample at or before the last one, so a batch whose samples were
         * stored before the crash (a cut chunk, another shard's checkpoint) is not counted
         * twice. The log pipeline stamps each count series' samples in increasing time
         * before logging them, so a replayed batch is out of order only when two requests
         * of one tenant were committed in the opposite order of their stamping. */
        if (meta && meta->bump && !replay && ser->max_ts != INT64_MIN && ts <= ser->max_ts)
            ts = ser->max_ts + 1;
        if (meta && meta->delta && (ser->max_ts == INT64_MIN || ts > ser->max_ts))
            v = apply_delta(ser, v);
        append_sample(sh, ser, ts, v, &c);
    }
    uint64_t appended = c.appended, dup = c.dup, ooo = c.ooo, lost = c.lost;
    if (appended)
        atomic_fetch_add(&st->m_appended, appended);
    if (!replay) {
        if (dup)
            atomic_fetch_add(&st->m_drop_dup, dup);
        if (ooo)
            atomic_fetch_add(&st->m_drop_ooo, ooo);
    }
    if (lost) {
        apply_oom(sh, tenant, tlen, "samples");
        return false;
    }
    return true;
}

void storage_agg_series_restore(agg_shard *sh, agg_series *s, const uint8_t *val, size_t vlen)
{
    if (vlen < STORAGE_CHUNK_HDR)
        return;
    uint32_t count =
        (uint32_t)val[8] << 24 | (uint32_t)val[9] << 16 | (uint32_t)val[10] << 8 | val[11];
    chunk_dec d;
    storage_chunk_dec_init(&d, val + STORAGE_CHUNK_HDR, (uint32_t)(vlen - STORAGE_CHUNK_HDR),
                           count);
    bool reload = count < sh->st->cfg.chunk_max_samples;
    int64_t ts;
    double v;
    uint32_t n = 0;
    while (storage_chunk_dec_next(&d, &ts, &v)) {
        if (reload) {
            if (n > 0 && ts <= s->head.last_ts)
                break;
            if (storage_chunk_enc_append(&s->head, ts, v) != SONDE_OK)
                break;
        }
        if (ts > s->max_ts || s->max_ts == INT64_MIN) {
            s->max_ts = ts;
            memcpy(&s->last_vbits, &v, 8);
        }
        if (ts < s->min_ts)
            s->min_ts = ts;
        n++;
    }
    if (reload && s->head.count > 0) {
        sh->nheads++;
        atomic_fetch_add(&sh->st->m_head_chunks, 1);
    }
}

static void apply_batch(agg_shard *sh, storage_batch *b)
{
    storage *st = sh->st;
    uint64_t th = hash64(b->tenant, b->tlen);
    bool lost = false;
    pthread_rwlock_wrlock(&sh->lock);
    for (size_t i = 0; i < b->nseries; i++) {
        const sonde_series *s = &b->series[i];
        uint64_t kh = storage_index_hash_series(th, s->hash);
        if (kh % st->nshards != sh->idx)
            continue;
        if (!storage_agg_apply_series(sh, b->tenant, b->tlen, kh, s, b->meta ? &b->meta[i] : NULL,
                                      b->replayed))
            lost = true;
    }
    /* samples lost to OOM: never checkpoint past this batch in this process;
     * it stays in the log and replay at the next start applies it */
    if (lost && b->seq - 1 < sh->ckpt_cap) {
        sh->ckpt_cap = b->seq - 1;
        log_error("storage.checkpoint_capped", "shard=%u seq=%llu", sh->idx,
                  (unsigned long long)sh->ckpt_cap);
    }
    storage_agg_flush_pending(sh);
    pthread_rwlock_unlock(&sh->lock);
    atomic_store(&sh->applied_seq, b->seq);
    notify_wake(&st->applied_nt);
}

static void update_global_checkpoint(storage *st)
{
    pthread_mutex_lock(&st->ckpt_mu);
    uint64_t min = UINT64_MAX;
    for (unsigned i = 0; i < st->nshards; i++) {
        uint64_t c = atomic_load(&st->shards[i].ckpt_seq);
        if (c < min)
            min = c;
    }
    uint64_t limit = atomic_load(&st->ckpt_limit);
    if (min > limit)
        min = limit;
    if (min != UINT64_MAX && min > st->ckpt_global) {
        rocksdb_writebatch_t *wb = rocksdb_writebatch_create();
        storage_db_meta_put_u64(wb, st, "agg_checkpoint", min);
        uint8_t lo[8], hi[8];
        storage_key_put_be64(lo, 0);
        storage_key_put_be64(hi, min + 1);
        rocksdb_writebatch_delete_range_cf(wb, st->cf[CF_BATCHES], (const char *)lo, 8,
                                           (const char *)hi, 8);
        if (storage_db_write(st, wb, true) == SONDE_OK) {
            st->ckpt_global = min;
            atomic_store(&st->ckpt_global_pub, min);
        } else {
            atomic_fetch_add(&st->m_write_errors, 1); /* retried at the next checkpoint */
        }
        rocksdb_writebatch_destroy(wb);
    }
    pthread_mutex_unlock(&st->ckpt_mu);
}

void storage_agg_checkpoint(agg_shard *sh)
{
    storage *st = sh->st;
    rocksdb_writebatch_t *wb = rocksdb_writebatch_create();
    pthread_rwlock_wrlock(&sh->lock);
    uint64_t seq = atomic_load(&sh->applied_seq);
    /* a failed flush (cut chunks, new series) is retried first; while it
     * fails the log must keep everything after the last checkpoint */
    bool flushed = storage_agg_flush_pending(sh);
    if (seq > sh->ckpt_cap)
        seq = sh->ckpt_cap;
    bool all = sh->ckpt_rewrite_all;
    for (size_t i = 0; i < sh->series.cap; i++) {
        agg_series *s = sh->series.slots[i];
        if (s && (s->dirty || all) && s->head.count > 0) {
            put_chunk(sh, wb, s);
            s->dirty = 0;
        }
        if (s && s->hist && (s->hist->dirty || all) && s->hist->count > 0) {
            storage_hist_put(wb, st, s); /* native histograms (hist.c) */
            s->hist->dirty = 0;
        }
    }
    sh->ckpt_rewrite_all = false;
    pthread_rwlock_unlock(&sh->lock);
    if (storage_db_write(st, wb, true) != SONDE_OK) {
        /* dirty flags were cleared: rewrite every head next time */
        atomic_fetch_add(&st->m_write_errors, 1);
        pthread_rwlock_wrlock(&sh->lock);
        sh->ckpt_rewrite_all = true;
        pthread_rwlock_unlock(&sh->lock);
    } else if (flushed) {
        if (seq > atomic_load(&sh->ckpt_seq))
            atomic_store(&sh->ckpt_seq, seq);
        update_global_checkpoint(st);
    }
    rocksdb_writebatch_destroy(wb);
}

static void *shard_main(void *arg)
{
    agg_shard *sh = arg;
    storage *st = sh->st;
    char name[16];
    snprintf(name, sizeof name, "agg-%u", sh->idx);
    pthread_setname_np(pthread_self(), name);
    sh->next_ckpt_ms = time_now_ms() + st->cfg.checkpoint_interval_ms;
    for (;;) {
        uint32_t seen = notify_prepare(&sh->nt);
        bool stopping = atomic_load(&st->agg_stop);
        storage_batch *b = ring_mpsc_pop(sh->ring);
        if (b) {
            apply_batch(sh, b);
            storage_batch_unref(b);
        } else if (stopping) {
            break;
        }
        /* also between batches: a shard that is never idle still checkpoints */
        int64_t now = time_now_ms();
        if (now >= sh->next_ckpt_ms) {
            storage_agg_checkpoint(sh);
            sh->next_ckpt_ms = now + st->cfg.checkpoint_interval_ms;
        }
        if (b)
            continue;
        int64_t wait = sh->next_ckpt_ms - now;
        notify_wait(&sh->nt, seen, wait > 100 ? 100 : (int)(wait < 1 ? 1 : wait));
    }
    return NULL;
}

void storage_agg_dispatch(storage *st, storage_batch *b)
{
    atomic_store(&b->refs, (int)st->nshards);
    for (unsigned i = 0; i < st->nshards; i++) {
        agg_shard *sh = &st->shards[i];
        while (!ring_mpsc_push(sh->ring, b)) {
            notify_wake(&sh->nt);
            usleep(50);
        }
        notify_wake(&sh->nt);
    }
}

sonde_status storage_agg_start(storage *st)
{
    for (unsigned i = 0; i < st->nshards; i++) {
        agg_shard *sh = &st->shards[i];
        if (pthread_create(&sh->thr, NULL, shard_main, sh) != 0)
            return SONDE_ERR_INTERNAL;
        sh->started = true;
    }
    return SONDE_OK;
}

void storage_agg_stop(storage *st)
{
    atomic_store(&st->agg_stop, true);
    for (unsigned i = 0; i < st->nshards; i++) {
        agg_shard *sh = &st->shards[i];
        notify_wake(&sh->nt);
        if (sh->started) {
            pthread_join(sh->thr, NULL);
            sh->started = false;
        }
    }
    /* final checkpoint after every shard drained, so the global one is exact */
    if (st->db)
        for (unsigned i = 0; i < st->nshards; i++)
            storage_agg_checkpoint(&st->shards[i]);
}

sonde_status storage_append_direct(storage *st, const char *tenant, const sonde_series *series,
                                   size_t nseries)
{
    size_t tlen = tenant ? strlen(tenant) : 0;
    if (tlen == 0 || tlen > STORAGE_TENANT_MAX)
        return SONDE_ERR_INVALID;
    uint64_t th = hash64(tenant, tlen);
    for (unsigned k = 0; k < st->nshards; k++) {
        agg_shard *sh = &st->shards[k];
        pthread_rwlock_wrlock(&sh->lock);
        for (size_t i = 0; i < nseries; i++) {
            uint64_t lh = series_labels_hash(series[i].labels, series[i].nlabels);
            uint64_t kh = storage_index_hash_series(th, lh);
            if (kh % st->nshards == k)
                storage_agg_apply_series(sh, tenant, tlen, kh, &series[i], NULL, false);
        }
        storage_agg_flush_pending(sh);
        pthread_rwlock_unlock(&sh->lock);
    }
    return SONDE_OK;
}
