/*
 * storage.c - lifecycle: configuration defaults, open (DB, index load, dedup
 * set, threads, background replay), readiness, close.
 *
 * Open order: DB -> meta (sequences, checkpoint) -> series index + last
 * chunks -> dedup set -> shard threads -> committer (which replays first).
 * Close order: refuse submits -> committer drains and exits -> shards drain,
 * exit, final checkpoint -> DB closed. Both run on the caller's thread.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/log.h"
#include "storage_internal.h"

void storage_config_defaults(storage_config *cfg)
{
    if (!cfg->dedup_window_ms)
        cfg->dedup_window_ms = 3600LL * 1000;
    if (!cfg->agg_shards)
        cfg->agg_shards = 2;
    if (!cfg->commit_queue)
        cfg->commit_queue = 4096;
    if (!cfg->max_group_batches)
        cfg->max_group_batches = 256;
    if (!cfg->checkpoint_interval_ms)
        cfg->checkpoint_interval_ms = 60LL * 1000;
    if (!cfg->chunk_max_span_ms)
        cfg->chunk_max_span_ms = 2LL * 3600 * 1000;
    if (!cfg->chunk_max_samples)
        cfg->chunk_max_samples = 120;
}

static sonde_status read_sequences(storage *st)
{
    uint64_t ckpt = 0, next = 1;
    bool found = false;
    if (storage_db_meta_get_u64(st, "agg_checkpoint", &ckpt, &found) != SONDE_OK)
        return SONDE_ERR_STORAGE;
    if (!found)
        ckpt = 0;
    uint64_t v = 0;
    if (storage_db_meta_get_u64(st, "next_batch_seq", &v, &found) != SONDE_OK)
        return SONDE_ERR_STORAGE;
    if (found && v > next)
        next = v;
    rocksdb_iterator_t *it = rocksdb_create_iterator_cf(st->db, st->ro, st->cf[CF_BATCHES]);
    rocksdb_iter_seek_to_last(it);
    if (rocksdb_iter_valid(it)) {
        size_t kl;
        const char *k = rocksdb_iter_key(it, &kl);
        if (kl == 8) {
            uint64_t last = storage_key_get_be64((const uint8_t *)k);
            if (last + 1 > next)
                next = last + 1;
        }
    }
    rocksdb_iter_destroy(it);
    if (ckpt + 1 > next)
        next = ckpt + 1;
    st->next_seq = next;
    atomic_store(&st->committed_seq, next - 1);
    st->replay_from = ckpt;
    atomic_store(&st->replay_to, ckpt);
    st->ckpt_global = ckpt;
    atomic_store(&st->ckpt_global_pub, ckpt);
    for (unsigned i = 0; i < st->nshards; i++) {
        atomic_store(&st->shards[i].applied_seq, ckpt);
        atomic_store(&st->shards[i].ckpt_seq, ckpt);
    }
    return SONDE_OK;
}

sonde_status storage_open(const storage_config *cfg, storage **out, char *err, size_t errlen)
{
    *out = NULL;
    if (errlen)
        err[0] = 0;
    if (!cfg || !cfg->data_dir) {
        snprintf(err, errlen, "storage: data_dir is required");
        return SONDE_ERR_INVALID;
    }
    storage *st = calloc(1, sizeof *st);
    if (!st)
        return SONDE_ERR_NOMEM;
    st->cfg = *cfg;
    storage_config_defaults(&st->cfg);
    if (st->cfg.agg_shards > 256)
        st->cfg.agg_shards = 256;
    if (st->cfg.chunk_max_samples > UINT16_MAX) /* chunk_enc.count is 16 bits */
        st->cfg.chunk_max_samples = UINT16_MAX;
    storage_dedup_init(&st->dedup);
    notify_init(&st->commit_nt);
    notify_init(&st->applied_nt);
    pthread_mutex_init(&st->ckpt_mu, NULL);
    atomic_store(&st->ckpt_limit, UINT64_MAX);
    sonde_status rc = SONDE_ERR_NOMEM;

    st->shards = calloc(st->cfg.agg_shards, sizeof *st->shards);
    if (!st->shards)
        goto fail;
    for (unsigned i = 0; i < st->cfg.agg_shards; i++) {
        agg_shard *sh = &st->shards[i];
        sh->st = st;
        sh->idx = i;
        sh->ckpt_cap = UINT64_MAX;
        notify_init(&sh->nt);
        /* writer-preferring: a stream of queries must not stall ingestion;
         * no reader ever takes a shard lock recursively */
        pthread_rwlockattr_t ra;
        pthread_rwlockattr_init(&ra);
        pthread_rwlockattr_setkind_np(&ra, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
        pthread_rwlock_init(&sh->lock, &ra);
        pthread_rwlockattr_destroy(&ra);
        sh->ring = ring_mpsc_create(st->cfg.commit_queue < 1024 ? 1024 : st->cfg.commit_queue);
        sh->pending = rocksdb_writebatch_create();
        st->nshards = i + 1;
        if (!sh->ring || !sh->pending)
            goto fail;
    }
    st->commit_ring = ring_mpsc_create(st->cfg.commit_queue);
    if (!st->commit_ring)
        goto fail;
    rc = storage_logdicts_init(st);
    if (rc == SONDE_OK)
        rc = storage_db_open(st, err, errlen);
    if (rc != SONDE_OK)
        goto fail;
    rc = read_sequences(st);
    if (rc == SONDE_OK)
        rc = storage_load_series(st);
    if (rc == SONDE_OK)
        rc = storage_dedup_load(st);
    if (rc != SONDE_OK) {
        if (errlen && !err[0])
            snprintf(err, errlen, "storage: loading state failed: %s", sonde_status_name(rc));
        goto fail;
    }
    rc = storage_agg_start(st);
    if (rc == SONDE_OK)
        rc = storage_commit_start(st);
    if (rc != SONDE_OK) {
        snprintf(err, errlen, "storage: cannot start threads");
        goto fail;
    }
    log_info("storage.open", "dir=%s shards=%u fsync=%d checkpoint=%llu next_seq=%llu",
             st->cfg.data_dir, st->nshards, st->cfg.fsync ? 1 : 0,
             (unsigned long long)st->replay_from, (unsigned long long)st->next_seq);
    *out = st;
    return SONDE_OK;
fail:
    storage_close(st);
    return rc;
}

bool storage_ready(storage *st)
{
    if (!atomic_load(&st->replay_done))
        return false;
    uint64_t to = atomic_load(&st->replay_to);
    for (unsigned i = 0; i < st->nshards; i++)
        if (atomic_load(&st->shards[i].applied_seq) < to)
            return false;
    return true;
}

void storage_close(storage *st)
{
    if (!st)
        return;
    if (st->commit_ring)
        storage_commit_stop(st);
    storage_agg_stop(st);
    for (unsigned i = 0; i < st->nshards; i++) {
        agg_shard *sh = &st->shards[i];
        storage_batch *b;
        while (sh->ring && (b = ring_mpsc_pop(sh->ring)) != NULL)
            storage_batch_unref(b);
        ring_mpsc_destroy(sh->ring);
        if (sh->pending)
            rocksdb_writebatch_destroy(sh->pending);
        storage_index_fini(sh);
        pthread_rwlock_destroy(&sh->lock);
    }
    storage_db_close(st);
    storage_logdicts_fini(st);
    ring_mpsc_destroy(st->commit_ring);
    storage_dedup_fini(&st->dedup);
    pthread_mutex_destroy(&st->ckpt_mu);
    free(st->shards);
    log_info("storage.close", "committed=%llu", (unsigned long long)atomic_load(&st->m_committed));
    free(st);
}
