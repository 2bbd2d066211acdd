/*
 * db.c - the RocksDB database: open with column families, options, meta
 * helpers, write helper, close.
 *
 * Column families (see README.md for the key layouts): batches, batch_ids,
 * series, chunks, meta, "default" (RocksDB's mandatory family; it holds the
 * native histogram chunks, hist.c), and the
 * span and log rows: spans, trace_index, logs, log_streams. A data dir from
 * before the rows opens too: missing families are created.
 * Compression: LZ4 above, zstd at the bottommost level. The row families
 * use universal compaction and larger memtables (see storage_db_open).
 *
 * Threads: open/close on the caller of storage_open/close; the handles are
 * thread-safe and shared by the committer, shards and readers.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../core/log.h"
#include "storage_internal.h"

#define STORAGE_SCHEMA_VERSION 1

/* the chunks family's block cache (db.c: storage_db_open) */
#define CHUNK_CACHE_BYTES ((size_t)256 << 20)

static const char *cf_names[CF_COUNT] = {"default", "batches",     "batch_ids", "series",
                                         "chunks",  "meta",        "spans",     "trace_index",
                                         "logs",    "log_streams", "templates", "log_dicts"};

sonde_status storage_db_open(storage *st, char *err, size_t errlen)
{
    if (mkdir(st->cfg.data_dir, 0755) != 0 && errno != EEXIST) {
        snprintf(err, errlen, "cannot create data dir %s: %s", st->cfg.data_dir, strerror(errno));
        return SONDE_ERR_STORAGE;
    }
    size_t plen = strlen(st->cfg.data_dir) + 4;
    st->data_dir = malloc(plen);
    if (!st->data_dir)
        return SONDE_ERR_NOMEM;
    snprintf(st->data_dir, plen, "%s/db", st->cfg.data_dir);

    rocksdb_options_t *o = rocksdb_options_create();
    st->opts = o;
    rocksdb_options_set_create_if_missing(o, 1);
    rocksdb_options_set_create_missing_column_families(o, 1);
    rocksdb_options_set_compression(o, rocksdb_lz4_compression);
    rocksdb_options_set_bottommost_compression(o, rocksdb_zstd_compression);
    rocksdb_options_increase_parallelism(o, 2);
    rocksdb_options_set_max_total_wal_size(o, 256 << 20);
    /* recover the longest consistent prefix of the WAL: a torn tail after a
     * crash is expected, and everything acknowledged before it is complete */
    rocksdb_options_set_wal_recovery_mode(o, rocksdb_point_in_time_recovery);

    rocksdb_options_set_level_compaction_dynamic_level_bytes(o, 1);
    /* Memtables are most of sonde's fixed resident memory, so they stay
     * small. The batch log takes every ingested byte but lives only until the
     * next checkpoint; with 16 MiB its payloads reach L0 under heavy ingest and
     * are dropped by compaction after the checkpoint's DeleteRange. Measured
     * with tests/bench (100k series): 64 MiB here cost ~480 B of RSS per series
     * for no gain in samples/s. The other families get 8 MiB. */
    rocksdb_options_set_write_buffer_size(o, 8 << 20);
    st->opts_log = rocksdb_options_create_copy(o);
    rocksdb_options_set_write_buffer_size(st->opts_log, 16 << 20);
    /* Span and log rows arrive in bulk with keys spread over the whole day
     * (trace ids, stream hashes): under levelled compaction every flush
     * overlaps the next level, and zstd at every level made compaction the
     * bottleneck (tests/bench/otlp_bench.sh, perf: RocksDB compaction 56-65%
     * of sonde's CPU, zstd 48-54%; 40-70 write stops per 30 s). Universal
     * compaction rewrites each byte far fewer times, LZ4 keeps the upper runs
     * cheap and zstd still compresses the bottommost run, where the data
     * ends up; bigger memtables absorb bursts. */
    st->opts_rows = rocksdb_options_create_copy(o);
    rocksdb_options_set_compaction_style(st->opts_rows, rocksdb_universal_compaction);
    rocksdb_options_set_write_buffer_size(st->opts_rows, 32 << 20);
    rocksdb_options_set_max_write_buffer_number(st->opts_rows, 4);
    rocksdb_options_set_level0_file_num_compaction_trigger(st->opts_rows, 8);
    rocksdb_options_set_level0_slowdown_writes_trigger(st->opts_rows, 40);
    rocksdb_options_set_level0_stop_writes_trigger(st->opts_rows, 60);
    /* Log rows are chunks (rows.c: a stream's lines of one batch, compressed as a whole with
     * zstd on the ingest thread): RocksDB compressing them again would only burn CPU in
     * flushes and compactions. 64 KiB blocks keep the index small. */
    st->opts_logs = rocksdb_options_create_copy(st->opts_rows);
    st->bbo_logs = rocksdb_block_based_options_create();
    rocksdb_block_based_options_set_block_size(st->bbo_logs, 64 << 10);
    rocksdb_options_set_block_based_table_factory(st->opts_logs, st->bbo_logs);
    rocksdb_options_set_compression(st->opts_logs, rocksdb_no_compression);
    rocksdb_options_set_bottommost_compression(st->opts_logs, rocksdb_no_compression);
    /* Metric chunks are Gorilla-encoded already: LZ4/zstd gained little on them
     * and every block read from a file paid a decompression (zstd at the
     * bottommost level). Range queries over 24 h read ~25 chunks per series,
     * which RocksDB's default 32 MiB block cache did not hold for 100k series
     * (perf: ReadBlockContents and ZSTD_decompress on a 24 h query), so the
     * family gets a cache of its own, filled only by what queries read. */
    st->opts_chunks = rocksdb_options_create_copy(o);
    st->bbo_chunks = rocksdb_block_based_options_create();
    st->chunk_cache = rocksdb_cache_create_lru(CHUNK_CACHE_BYTES);
    rocksdb_block_based_options_set_block_cache(st->bbo_chunks, st->chunk_cache);
    rocksdb_options_set_block_based_table_factory(st->opts_chunks, st->bbo_chunks);
    rocksdb_options_set_compression(st->opts_chunks, rocksdb_no_compression);
    rocksdb_options_set_bottommost_compression(st->opts_chunks, rocksdb_no_compression);
    const rocksdb_options_t *cfo[CF_COUNT];
    for (int i = 0; i < CF_COUNT; i++)
        cfo[i] = i == CF_CHUNKS                         ? st->opts_chunks
                 : i == CF_BATCHES                      ? st->opts_log
                 : i == CF_LOGS                         ? st->opts_logs
                 : i >= CF_SPANS && i <= CF_LOG_STREAMS ? st->opts_rows
                                                        : o;
    char *e = NULL;
    st->db = rocksdb_open_column_families(o, st->data_dir, CF_COUNT, cf_names, cfo, st->cf, &e);
    if (e) {
        snprintf(err, errlen, "rocksdb open %s: %s", st->data_dir, e);
        free(e);
        st->db = NULL;
        return SONDE_ERR_STORAGE;
    }
    st->wo = rocksdb_writeoptions_create();
    rocksdb_writeoptions_set_sync(st->wo, st->cfg.fsync ? 1 : 0);
    st->wo_async = rocksdb_writeoptions_create();
    st->ro = rocksdb_readoptions_create();

    uint64_t ver = 0;
    bool found = false;
    if (storage_db_meta_get_u64(st, "schema_version", &ver, &found) != SONDE_OK) {
        snprintf(err, errlen, "rocksdb: cannot read meta");
        return SONDE_ERR_STORAGE;
    }
    if (found && ver != STORAGE_SCHEMA_VERSION) {
        snprintf(err, errlen, "data dir has schema version %llu, this build reads %d",
                 (unsigned long long)ver, STORAGE_SCHEMA_VERSION);
        return SONDE_ERR_STORAGE;
    }
    if (!found) {
        rocksdb_writebatch_t *wb = rocksdb_writebatch_create();
        storage_db_meta_put_u64(wb, st, "schema_version", STORAGE_SCHEMA_VERSION);
        sonde_status s = storage_db_write(st, wb, true);
        rocksdb_writebatch_destroy(wb);
        if (s != SONDE_OK) {
            snprintf(err, errlen, "rocksdb: cannot write meta");
            return s;
        }
    }
    return SONDE_OK;
}

void storage_db_close(storage *st)
{
    if (st->db) {
        /* The final checkpoint DeleteRange'd the batch log; compacting that
         * small family now drops the dead payloads from disk instead of
         * leaving them to whenever RocksDB next compacts it. */
        if (st->cf[CF_BATCHES])
            rocksdb_compact_range_cf(st->db, st->cf[CF_BATCHES], NULL, 0, NULL, 0);
        /* A clean close flushes every memtable so that the WAL files become
         * obsolete and are deleted: the next open replays nothing. */
        rocksdb_flushoptions_t *fo = rocksdb_flushoptions_create();
        rocksdb_flushoptions_set_wait(fo, 1);
        for (int i = 0; i < CF_COUNT; i++) {
            char *ferr = NULL;
            if (st->cf[i])
                rocksdb_flush_cf(st->db, fo, st->cf[i], &ferr);
            if (ferr) {
                log_warn("storage.flush_failed", "cf=%d error=\"%s\"", i, ferr);
                free(ferr);
            }
        }
        rocksdb_flushoptions_destroy(fo);
        for (int i = 0; i < CF_COUNT; i++)
            if (st->cf[i])
                rocksdb_column_family_handle_destroy(st->cf[i]);
        rocksdb_close(st->db);
        st->db = NULL;
    }
    if (st->wo)
        rocksdb_writeoptions_destroy(st->wo);
    if (st->wo_async)
        rocksdb_writeoptions_destroy(st->wo_async);
    if (st->ro)
        rocksdb_readoptions_destroy(st->ro);
    if (st->opts)
        rocksdb_options_destroy(st->opts);
    if (st->opts_log)
        rocksdb_options_destroy(st->opts_log);
    if (st->opts_rows)
        rocksdb_options_destroy(st->opts_rows);
    if (st->opts_logs)
        rocksdb_options_destroy(st->opts_logs);
    if (st->bbo_logs)
        rocksdb_block_based_options_destroy(st->bbo_logs);
    if (st->opts_chunks)
        rocksdb_options_destroy(st->opts_chunks);
    if (st->bbo_chunks)
        rocksdb_block_based_options_destroy(st->bbo_chunks);
    if (st->chunk_cache)
        rocksdb_cache_destroy(st->chunk_cache);
    st->opts_chunks = NULL;
    st->bbo_chunks = NULL;
    st->chunk_cache = NULL;
    st->opts_log = st->opts_rows = NULL;
    st->wo = st->wo_async = NULL;
    st->ro = NULL;
    st->opts = NULL;
    free(st->data_dir);
    st->data_dir = NULL;
}

sonde_status storage_db_meta_get_u64(storage *st, const char *key, uint64_t *out, bool *found)
{
    char *e = NULL;
    size_t vlen = 0;
    char *v = rocksdb_get_cf(st->db, st->ro, st->cf[CF_META], key, strlen(key), &vlen, &e);
    if (e) {
        log_error("storage.meta_get", "key=%s err=\"%s\"", key, e);
        free(e);
        return SONDE_ERR_STORAGE;
    }
    *found = v != NULL && vlen == 8;
    if (*found)
        *out = storage_key_get_be64((const uint8_t *)v);
    free(v);
    return SONDE_OK;
}

void storage_db_meta_put_u64(rocksdb_writebatch_t *wb, storage *st, const char *key, uint64_t v)
{
    uint8_t b[8];
    storage_key_put_be64(b, v);
    rocksdb_writebatch_put_cf(wb, st->cf[CF_META], key, strlen(key), (const char *)b, 8);
}

sonde_status storage_db_write(storage *st, rocksdb_writebatch_t *wb, bool sync)
{
    char *e = NULL;
    rocksdb_write(st->db, sync ? st->wo : st->wo_async, wb, &e);
    if (e) {
        log_error("storage.write", "err=\"%s\"", e);
        free(e);
        return SONDE_ERR_STORAGE;
    }
    return SONDE_OK;
}

sonde_status storage_iter_status(rocksdb_iterator_t *it, const char *what)
{
    char *e = NULL;
    rocksdb_iter_get_error(it, &e);
    if (!e)
        return SONDE_OK;
    log_error("storage.iter_error", "step=%s err=\"%s\"", what, e);
    free(e);
    return SONDE_ERR_STORAGE;
}
