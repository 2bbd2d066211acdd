/*
 * metrics.c - storage's self-monitoring in the Prometheus text format.
 * Counters are relaxed atomics updated by the committer and shards; this file
 * only reads them (any thread).
 */
#include <stdlib.h>
#include <string.h>

#include "storage_internal.h"

static void counter(buf *o, const char *name, const char *help, uint64_t v)
{
    buf_printf(o, "# HELP %s %s\n# TYPE %s counter\n%s %llu\n", name, help, name, name,
               (unsigned long long)v);
}

static void gauge(buf *o, const char *name, const char *help, double v)
{
    buf_printf(o, "# HELP %s %s\n# TYPE %s gauge\n%s %.17g\n", name, help, name, name, v);
}

static void db_prop(storage *st, buf *o, const char *prop, const char *name, const char *help)
{
    uint64_t total = 0;
    for (int i = 0; i < CF_COUNT; i++) {
        char *v = rocksdb_property_value_cf(st->db, st->cf[i], prop);
        if (v) {
            total += strtoull(v, NULL, 10);
            free(v);
        }
    }
    gauge(o, name, help, (double)total);
}

void storage_metrics_write(storage *st, buf *o)
{
    counter(o, "sonde_storage_batches_committed_total", "Batches written to the batch log.",
            atomic_load(&st->m_committed));
    counter(o, "sonde_storage_batches_duplicate_total",
            "Batches recognised as retries inside the dedup window.",
            atomic_load(&st->m_duplicate));
    counter(o, "sonde_storage_commit_groups_total", "Group commits (RocksDB writes).",
            atomic_load(&st->m_groups));
    counter(o, "sonde_storage_commit_errors_total", "Group commits that RocksDB refused.",
            atomic_load(&st->m_commit_errors));

    const char *h = "sonde_storage_commit_latency_seconds";
    buf_printf(o,
               "# HELP %s Time from submit to durable commit per batch.\n"
               "# TYPE %s histogram\n",
               h, h);
    uint64_t cum = 0;
    for (int i = 0; i < STORAGE_LAT_BUCKETS; i++) {
        cum += atomic_load(&st->m_lat_bucket[i]);
        buf_printf(o, "%s_bucket{le=\"%g\"} %llu\n", h, storage_lat_bounds[i],
                   (unsigned long long)cum);
    }
    uint64_t count = atomic_load(&st->m_lat_count);
    buf_printf(o, "%s_bucket{le=\"+Inf\"} %llu\n%s_sum %.9f\n%s_count %llu\n", h,
               (unsigned long long)count, h, (double)atomic_load(&st->m_lat_sum_ns) / 1e9, h,
               (unsigned long long)count);

    gauge(o, "sonde_storage_commit_queue_length", "Batches waiting for the committer.",
          (double)ring_mpsc_size(st->commit_ring));
    gauge(o, "sonde_storage_commit_queue_capacity", "Capacity of the commit ring.",
          (double)ring_mpsc_capacity(st->commit_ring));
    counter(o, "sonde_storage_samples_appended_total", "Samples appended to head chunks.",
            atomic_load(&st->m_appended));
    buf_printf(o,
               "# HELP sonde_storage_samples_dropped_total Samples not appended, by reason.\n"
               "# TYPE sonde_storage_samples_dropped_total counter\n"
               "sonde_storage_samples_dropped_total{reason=\"duplicate\"} %llu\n"
               "sonde_storage_samples_dropped_total{reason=\"out_of_order\"} %llu\n",
               (unsigned long long)atomic_load(&st->m_drop_dup),
               (unsigned long long)atomic_load(&st->m_drop_ooo));
    counter(o, "sonde_storage_write_errors_total",
            "Aggregator RocksDB writes that failed (chunks, series, checkpoints); retried, "
            "and the batch log is not truncated past them.",
            atomic_load(&st->m_write_errors));
    counter(o, "sonde_storage_apply_errors_total",
            "Series whose samples a shard could not apply (out of memory); the batch log keeps "
            "them until restart.",
            atomic_load(&st->m_apply_errors));
    counter(o, "sonde_storage_replay_failed_batches_total",
            "Logged batches replay could not decode or read; the log is not truncated past them.",
            atomic_load(&st->m_replay_failed));
    gauge(o, "sonde_storage_active_series", "Series in the in-memory index.",
          (double)atomic_load(&st->m_active_series));
    gauge(o, "sonde_storage_head_chunks", "Non-empty in-memory head chunks.",
          (double)atomic_load(&st->m_head_chunks));
    gauge(o, "sonde_storage_checkpoint_seq",
          "Batch sequence up to which every shard has checkpointed.",
          (double)atomic_load(&st->ckpt_global_pub));
    gauge(o, "sonde_storage_committed_seq", "Last committed batch sequence.",
          (double)atomic_load(&st->committed_seq));
    db_prop(st, o, "rocksdb.estimate-live-data-size", "sonde_storage_rocksdb_live_data_bytes",
            "RocksDB estimate-live-data-size, all column families.");
    db_prop(st, o, "rocksdb.cur-size-all-mem-tables", "sonde_storage_rocksdb_memtable_bytes",
            "RocksDB cur-size-all-mem-tables, all column families.");
    db_prop(st, o, "rocksdb.total-sst-files-size", "sonde_storage_rocksdb_sst_bytes",
            "RocksDB total-sst-files-size, all column families.");
}
