/*
 * commit.c - batches, submission and the group committer.
 *
 * storage_submit() pushes a batch onto the commit ring (lock-free MPSC). The
 * committer thread ("storage-commit") first replays the uncheckpointed batch
 * log (replay.c), then loops: pop up to max_group_batches, drop duplicates
 * (ids in the dedup window, or repeated inside the group), write ONE RocksDB
 * WriteBatch (payloads under their sequence numbers, ids under commit time,
 * meta next_batch_seq) with the WAL on (synced when cfg->fsync), then call
 * every done callback, then hand each new batch to all aggregator shards
 * (one reference per shard). Row batches (traces, logs: rows.c) put their
 * rows and id in the same WriteBatch but take no sequence and no payload;
 * after the callback they are destroyed, never dispatched. The exception is a
 * logs batch carrying per-template line counts (storage_batch_set_counts):
 * its counts payload is logged under a sequence as STORAGE_BATCH_LOG_COUNTS_V1
 * in the same WriteBatch as its rows, and it is dispatched like metrics.
 *
 * Batch value in `batches`: kind u8, tenant_len u8, tenant, id[16],
 * commit_ms BE8, payload.
 *
 * Ownership: a submitted batch belongs to the committer; after commit it is
 * immutable and refcounted by the shards; the last shard frees it. Every
 * batch is freed in storage_batch_destroy, which then runs its release hook
 * (storage_batch_set_release).
 */
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../core/hash.h"
#include "../core/log.h"
#include "../core/timeutil.h"
#include "storage_internal.h"

const double storage_lat_bounds[STORAGE_LAT_BUCKETS] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                                        0.05,   0.1,   0.25,   0.5,   1,    2.5};

storage_batch *storage_batch_create(const char *tenant, storage_batch_kind kind,
                                    const void *payload, size_t payload_len,
                                    arena *decoded /* owned */, sonde_series *series,
                                    size_t nseries)
{
    size_t tlen = tenant ? strlen(tenant) : 0;
    if (tlen == 0 || tlen > STORAGE_TENANT_MAX) {
        arena_destroy(decoded);
        return NULL;
    }
    /* a row batch's payload only names it (the id); its rows are what is stored */
    size_t keep = storage_kind_has_rows(kind) ? 0 : payload_len;
    storage_batch *b = malloc(sizeof *b + keep);
    if (!b) {
        arena_destroy(decoded);
        return NULL;
    }
    memset(b, 0, sizeof *b);
    atomic_init(&b->refs, 1);
    b->kind = kind;
    b->tlen = (uint8_t)tlen;
    memcpy(b->tenant, tenant, tlen);
    b->tenant[tlen] = 0;
    b->payload = b + 1;
    if (keep)
        memcpy(b->payload, payload, keep);
    b->payload_len = keep;
    b->decoded = decoded;
    b->series = series;
    b->nseries = nseries;
    /* content id: tenant and kind seed the hash of the payload */
    uint64_t seed = hash64(tenant, tlen) ^ ((uint64_t)kind * 0x9e3779b97f4a7c15ULL);
    hash128 h = hash128_seeded(payload, payload_len, seed);
    storage_key_put_be64(b->id, h.hi);
    storage_key_put_be64(b->id + 8, h.lo);
    return b;
}

void storage_batch_set_meta(storage_batch *b, const storage_series_meta *meta)
{
    if (b)
        b->meta = meta;
}

sonde_status storage_batch_set_counts(storage_batch *b, const void *payload, size_t len,
                                      arena *decoded /* owned */, sonde_series *series,
                                      size_t nseries, const storage_series_meta *meta)
{
    if (!b || b->kind != STORAGE_BATCH_OTLP_LOGS_V1 || b->payload_owned || b->decoded ||
        (len && !payload)) {
        arena_destroy(decoded);
        return SONDE_ERR_INVALID;
    }
    void *p = malloc(len ? len : 1);
    if (!p) {
        arena_destroy(decoded);
        return SONDE_ERR_NOMEM;
    }
    if (len)
        memcpy(p, payload, len);
    b->payload = p;
    b->payload_len = len;
    b->payload_owned = true;
    b->decoded = decoded;
    b->series = series;
    b->nseries = nseries;
    b->meta = meta;
    return SONDE_OK;
}

void storage_batch_set_release(storage_batch *b, void (*fn)(void *ctx), void *ctx)
{
    if (!b)
        return;
    b->release = fn;
    b->release_ctx = ctx;
}

/* Every batch ends here exactly once (directly, or through the last unref),
 * so the release hook runs exactly once, after the decoded data is gone. */
void storage_batch_destroy(storage_batch *b)
{
    if (!b)
        return;
    void (*release)(void *) = b->release;
    void *rctx = b->release_ctx;
    arena_destroy(b->decoded);
    storage_rows_fini(&b->rows);
    if (b->payload_owned)
        free(b->payload);
    free(b);
    if (release)
        release(rctx);
}

void storage_batch_unref(storage_batch *b)
{
    if (b && atomic_fetch_sub(&b->refs, 1) == 1)
        storage_batch_destroy(b);
}

sonde_status storage_submit(storage *st, storage_batch *b /* owned */, storage_done_fn fn,
                            void *ctx)
{
    if (!b)
        return SONDE_ERR_INVALID;
    atomic_fetch_add(&st->submitting, 1);
    if (atomic_load(&st->closing)) {
        atomic_fetch_sub(&st->submitting, 1);
        storage_batch_destroy(b);
        return SONDE_ERR_CANCELED;
    }
    b->fn = fn;
    b->ctx = ctx;
    b->submit_ns = time_mono_ns();
    if (!ring_mpsc_push(st->commit_ring, b)) {
        atomic_fetch_sub(&st->submitting, 1);
        storage_batch_destroy(b);
        return SONDE_ERR_OVERLOAD;
    }
    notify_wake(&st->commit_nt);
    /* last: storage_close waits for this before tearing down */
    atomic_fetch_sub(&st->submitting, 1);
    return SONDE_OK;
}

static void record_latency(storage *st, int64_t ns)
{
    if (ns < 0)
        ns = 0;
    atomic_fetch_add(&st->m_lat_sum_ns, (uint64_t)ns);
    atomic_fetch_add(&st->m_lat_count, 1);
    double s = (double)ns / 1e9;
    for (int i = 0; i < STORAGE_LAT_BUCKETS; i++)
        if (s <= storage_lat_bounds[i]) {
            atomic_fetch_add(&st->m_lat_bucket[i], 1); /* non-cumulative; summed on output */
            break;
        }
}

static void done(storage_batch *b, sonde_status s, bool dup)
{
    if (b->fn)
        b->fn(b->ctx, s, dup);
}

static void commit_group(storage *st, storage_batch **g, size_t n, bool *dup,
                         rocksdb_writebatch_t *wb)
{
    int64_t now_ms = time_now_ms();
    size_t fresh = 0, logged = 0; /* logged: fresh batches with a log sequence */
    rocksdb_writebatch_clear(wb);
    for (size_t i = 0; i < n; i++) {
        storage_batch *b = g[i];
        dup[i] = storage_dedup_contains(&st->dedup, b->id);
        for (size_t j = 0; j < i && !dup[i]; j++)
            if (!dup[j] && memcmp(g[j]->id, b->id, STORAGE_BATCH_ID_LEN) == 0)
                dup[i] = true;
        if (dup[i])
            continue;
        fresh++;
        uint8_t idk[8 + STORAGE_BATCH_ID_LEN];
        storage_key_put_be64(idk, (uint64_t)now_ms);
        memcpy(idk + 8, b->id, STORAGE_BATCH_ID_LEN);
        rocksdb_writebatch_put_cf(wb, st->cf[CF_BATCH_IDS], (const char *)idk, sizeof idk, "", 0);
        if (storage_kind_has_rows(b->kind)) {
            /* no log sequence: nothing to replay, and the shards' applied_seq
             * (which reads wait for) never has to pass it */
            b->commit_ms = now_ms;
            storage_rows_put(st, wb, b);
            if (b->nseries == 0)
                continue;
            /* a logs batch with line counts: they are logged (and replayed) like metrics */
        }
        logged++;
        b->seq = st->next_seq++;
        b->commit_ms = now_ms;
        uint8_t key[8], hdr[2 + STORAGE_TENANT_MAX + STORAGE_BATCH_ID_LEN + 8];
        storage_key_put_be64(key, b->seq);
        size_t h = 0;
        hdr[h++] = (uint8_t)(b->kind == STORAGE_BATCH_OTLP_LOGS_V1 ? STORAGE_BATCH_LOG_COUNTS_V1
                                                                    : b->kind);
        hdr[h++] = b->tlen;
        memcpy(hdr + h, b->tenant, b->tlen);
        h += b->tlen;
        memcpy(hdr + h, b->id, STORAGE_BATCH_ID_LEN);
        h += STORAGE_BATCH_ID_LEN;
        storage_key_put_be64(hdr + h, (uint64_t)now_ms);
        h += 8;
        const char *kp[1] = {(const char *)key};
        size_t kl[1] = {8};
        const char *vp[2] = {(const char *)hdr, b->payload};
        size_t vl[2] = {h, b->payload_len};
        rocksdb_writebatch_putv_cf(wb, st->cf[CF_BATCHES], 1, kp, kl, 2, vp, vl);
    }
    sonde_status s = SONDE_OK;
    if (fresh > 0) {
        if (logged > 0)
            storage_db_meta_put_u64(wb, st, "next_batch_seq", st->next_seq);
        s = storage_db_write(st, wb, true);
    }
    if (s != SONDE_OK) {
        /* The sequence numbers are burnt, never reused: a failed write may
         * still have reached the WAL, and reusing its keys would overwrite
         * those payloads while their batch_ids survive. Replay and the
         * checkpoint tolerate gaps. */
        atomic_fetch_add(&st->m_commit_errors, 1);
        for (size_t i = 0; i < n; i++) {
            done(g[i], SONDE_ERR_STORAGE, false);
            storage_batch_destroy(g[i]);
        }
        return;
    }
    if (fresh > 0)
        atomic_fetch_add(&st->m_groups, 1);
    if (logged > 0)
        atomic_store(&st->committed_seq, st->next_seq - 1);
    int64_t now_ns = time_mono_ns();
    for (size_t i = 0; i < n; i++) {
        if (!dup[i] && storage_dedup_add(&st->dedup, g[i]->id, now_ms) != SONDE_OK)
            log_warn("storage.dedup_oom", "seq=%llu", (unsigned long long)g[i]->seq);
        record_latency(st, now_ns - g[i]->submit_ns);
        done(g[i], SONDE_OK, dup[i]);
    }
    atomic_fetch_add(&st->m_committed, fresh);
    atomic_fetch_add(&st->m_duplicate, n - fresh);
    for (size_t i = 0; i < n; i++) {
        /* row batches are fully stored: nothing for the aggregator but a logs batch's counts */
        if (dup[i] || (storage_kind_has_rows(g[i]->kind) && g[i]->nseries == 0))
            storage_batch_destroy(g[i]);
        else
            storage_agg_dispatch(st, g[i]);
    }
}

static void maintenance(storage *st)
{
    int64_t now = time_now_ms();
    if (st->cfg.logs_retention_ms > 0 && now >= st->next_retention_ms) {
        st->next_retention_ms = now + 5 * 60 * 1000;
        if (storage_logs_retention_run(st, now, NULL) != SONDE_OK)
            log_warn("storage.logs_retention_failed", "retry_in_s=300");
    }
    if (now < st->next_dedup_expire_ms)
        return;
    int64_t step = st->cfg.dedup_window_ms / 8;
    if (step > 10000)
        step = 10000;
    if (step < 100)
        step = 100;
    st->next_dedup_expire_ms = now + step;
    int64_t cutoff = now - st->cfg.dedup_window_ms;
    if (cutoff <= 0)
        return;
    /* one range tombstone per expiry round that forgot something, not per tick */
    if (storage_dedup_expire(&st->dedup, cutoff) == 0 && st->dedup_expired_once)
        return;
    st->dedup_expired_once = true;
    uint8_t lo[8], hi[8];
    storage_key_put_be64(lo, 0);
    storage_key_put_be64(hi, (uint64_t)cutoff);
    rocksdb_writebatch_t *wb = rocksdb_writebatch_create();
    rocksdb_writebatch_delete_range_cf(wb, st->cf[CF_BATCH_IDS], (const char *)lo, 8,
                                       (const char *)hi, 8);
    (void)storage_db_write(st, wb, false);
    rocksdb_writebatch_destroy(wb);
}

static void *commit_main(void *arg)
{
    storage *st = arg;
    pthread_setname_np(pthread_self(), "storage-commit");
    storage_replay_run(st);

    size_t max = st->cfg.max_group_batches;
    storage_batch **g = malloc(max * sizeof(storage_batch *));
    bool *dup = malloc(max * sizeof *dup);
    rocksdb_writebatch_t *wb = rocksdb_writebatch_create();
    if (!g || !dup) {
        /* cannot commit anything: fail every batch rather than hang clients */
        log_error("storage.commit_oom", "max_group=%zu", max);
        max = 0;
    }
    for (;;) {
        uint32_t seen = notify_prepare(&st->commit_nt);
        bool stopping = atomic_load(&st->commit_stop);
        size_t n = 0;
        storage_batch *b;
        while ((max == 0 || n < max) && (b = ring_mpsc_pop(st->commit_ring)) != NULL) {
            if (max == 0) {
                done(b, SONDE_ERR_NOMEM, false);
                storage_batch_destroy(b);
                continue;
            }
            g[n++] = b;
        }
        if (n == 0) {
            if (stopping)
                break;
            maintenance(st);
            notify_wait(&st->commit_nt, seen, 200);
            continue;
        }
        commit_group(st, g, n, dup, wb);
        maintenance(st);
    }
    rocksdb_writebatch_destroy(wb);
    free(g);
    free(dup);
    return NULL;
}

sonde_status storage_dedup_load(storage *st)
{
    int64_t cutoff = time_now_ms() - st->cfg.dedup_window_ms;
    uint8_t k[8];
    storage_key_put_be64(k, cutoff > 0 ? (uint64_t)cutoff : 0);
    rocksdb_iterator_t *it = rocksdb_create_iterator_cf(st->db, st->ro, st->cf[CF_BATCH_IDS]);
    sonde_status s = SONDE_OK;
    for (rocksdb_iter_seek(it, (const char *)k, 8); rocksdb_iter_valid(it); rocksdb_iter_next(it)) {
        size_t kl;
        const uint8_t *kp = (const uint8_t *)rocksdb_iter_key(it, &kl);
        if (kl != 8 + STORAGE_BATCH_ID_LEN)
            continue;
        if (storage_dedup_contains(&st->dedup, kp + 8))
            continue;
        s = storage_dedup_add(&st->dedup, kp + 8, (int64_t)storage_key_get_be64(kp));
        if (s != SONDE_OK)
            break;
    }
    char *e = NULL;
    rocksdb_iter_get_error(it, &e);
    if (e) {
        log_error("storage.dedup_load", "err=\"%s\"", e);
        free(e);
        s = SONDE_ERR_STORAGE;
    }
    rocksdb_iter_destroy(it);
    return s;
}

sonde_status storage_commit_start(storage *st)
{
    if (pthread_create(&st->commit_thr, NULL, commit_main, st) != 0)
        return SONDE_ERR_INTERNAL;
    st->commit_started = true;
    return SONDE_OK;
}

void storage_commit_stop(storage *st)
{
    atomic_store(&st->closing, true);
    while (atomic_load(&st->submitting) > 0)
        sched_yield();
    atomic_store(&st->commit_stop, true);
    notify_wake(&st->commit_nt);
    if (st->commit_started) {
        pthread_join(st->commit_thr, NULL);
        st->commit_started = false;
    }
}
