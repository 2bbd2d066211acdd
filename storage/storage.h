/*
 * storage.h - sonde's durable store: the batch log with group commit and
 * dedup, the time-series aggregator (series index, postings, Gorilla head
 * chunks, chunk flush, checkpoints, replay) and the read side used by queries.
 * Only storage/ includes RocksDB.
 *
 * Threads: storage_open() starts one committer thread ("storage-commit") and
 * cfg->agg_shards aggregator threads ("agg-N"). storage_submit() may be called
 * from any thread. The read functions may be called from any thread
 * concurrently with ingestion. Read-your-writes: a read first waits (bounded,
 * 2 s) until the aggregator has applied every batch that was committed before
 * the read began, so a query issued after a 2xx sees that write.
 *
 * Write path: a decoded request becomes a storage_batch (id = content hash of
 * tenant, kind and payload). The committer group-commits batches to RocksDB
 * with the WAL on (synced when cfg->fsync), then calls each batch's done
 * callback, then hands the batch to the aggregator shards. A batch whose id is
 * in the dedup window is not written again; its callback reports duplicate.
 */
#ifndef SONDE_STORAGE_H
#define SONDE_STORAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../core/arena.h"
#include "../core/buf.h"
#include "../core/series.h"
#include "../core/status.h"

typedef struct storage storage;

typedef enum storage_batch_kind {
    STORAGE_BATCH_REMOTE_WRITE_V1 = 1, /* payload: the snappy-compressed WriteRequest as received */
    STORAGE_BATCH_OTLP_METRICS_V1 = 2, /* payload: ExportMetricsServiceRequest, uncompressed protobuf */
} storage_batch_kind;

/* Decodes a logged payload again during replay (storage does not know the
 * wire formats; ingest wires remote_write's decoder in here). On SONDE_OK,
 * *decoded owns *series. */
typedef sonde_status (*storage_decode_fn)(void *ctx, storage_batch_kind kind, const void *payload,
                                          size_t len, arena **decoded, sonde_series **series,
                                          size_t *nseries);

typedef struct storage_config {
    const char *data_dir;
    bool fsync;                       /* sync the WAL at every group commit */
    int64_t dedup_window_ms;          /* batch ids remembered this long (default 1h) */
    unsigned agg_shards;              /* aggregator threads (default 2) */
    size_t commit_queue;              /* capacity of the commit ring (default 4096) */
    size_t max_group_batches;         /* max batches per group commit (default 256) */
    int64_t checkpoint_interval_ms;   /* head flush + batch-log truncation (default 60s) */
    int64_t chunk_max_span_ms;        /* a head chunk is cut after this span (default 2h) */
    uint32_t chunk_max_samples;       /* ... or this many samples (default 120) */
    storage_decode_fn decode;         /* required for replay */
    void *decode_ctx;
} storage_config;

/* Fills defaults for every zero field. */
void storage_config_defaults(storage_config *cfg);

/* Opens (creating if needed) the RocksDB database under cfg->data_dir, loads
 * the series index, starts threads, and starts replaying uncheckpointed
 * batches in the background. err gets a human message on failure. */
sonde_status storage_open(const storage_config *cfg, storage **out, char *err, size_t errlen);
/* True once replay has finished (drives /-/ready). */
bool storage_ready(storage *st);
/* Stops accepting, commits what is queued, flushes head chunks, writes a
 * checkpoint, joins threads and closes RocksDB. NULL is a no-op. */
void storage_close(storage *st);

/* ---- write path ---- */

typedef struct storage_batch storage_batch;

/* Called once per submitted batch, on the committer thread, after the batch
 * is durable (or failed). Must be quick and thread-safe: push to a ring and
 * wake someone. duplicate: the id was already committed inside the window. */
typedef void (*storage_done_fn)(void *ctx, sonde_status st, bool duplicate);

/* Creates a batch. payload is copied. decoded (owned, may be NULL) is the arena
 * holding `series` (the decoded form of payload); it is freed when the last
 * aggregator shard has applied the batch. NULL on OOM (decoded is freed). */
storage_batch *storage_batch_create(const char *tenant, storage_batch_kind kind,
                                    const void *payload, size_t payload_len,
                                    arena *decoded /* owned */, sonde_series *series,
                                    size_t nseries);
void storage_batch_destroy(storage_batch *b); /* only for a batch never submitted */

/* Sets a hook that says when the batch's memory is gone, so that a caller can
 * account for decoded data until then (ingest's --max-inflight-bytes). fn is
 * called exactly once, with ctx, on whatever thread frees the batch's decoded
 * data: after the last aggregator shard applied it (or storage_close dropped
 * it), or when a batch that is never applied is destroyed (storage_submit
 * refused it, duplicate, failed commit, storage_batch_destroy). That may be
 * inside storage_submit on the caller's thread, before or after the done
 * callback. fn must be quick and thread-safe and must not call into storage.
 * Set it before storage_submit; NULL fn: no hook. */
void storage_batch_set_release(storage_batch *b, void (*fn)(void *ctx), void *ctx);

/* Queues the batch for group commit. On SONDE_OK the callback will run exactly
 * once. On SONDE_ERR_OVERLOAD (ring full) or SONDE_ERR_CANCELED (closing) the
 * batch is destroyed and the callback never runs. */
sonde_status storage_submit(storage *st, storage_batch *b /* owned */, storage_done_fn fn,
                            void *ctx);

/* Test and bulk-load entry (used by the PromQL conformance runner and unit
 * tests): appends samples to the aggregator synchronously, bypassing the batch
 * log. Not durable. Samples must be in ascending ts order per series. */
sonde_status storage_append_direct(storage *st, const char *tenant, const sonde_series *series,
                                   size_t nseries);

/* ---- read path ---- */

typedef enum storage_match_op {
    STORAGE_MATCH_EQ = 0,
    STORAGE_MATCH_NEQ,
    STORAGE_MATCH_RE,
    STORAGE_MATCH_NRE,
} storage_match_op;

typedef struct storage_matcher {
    const char *name;
    size_t name_len;
    storage_match_op op;
    const char *value; /* EQ / NEQ */
    size_t value_len;
    /* RE / NRE: returns true when the (anchored) regex matches the whole value.
     * Called at most once per distinct label value per select, never per series. */
    bool (*re_match)(void *re_ctx, const char *v, size_t n);
    void *re_ctx;
} storage_matcher;

typedef struct storage_series_ref {
    uint64_t id;
    sonde_label *labels; /* canonical, copied into the caller's arena */
    uint32_t nlabels;
} storage_series_ref;

/* Series of `tenant` matching all matchers (Prometheus semantics: a matcher
 * that matches the empty string also matches series without the label) and
 * having samples in [mint, maxt]. Sorted by labels. Postings are intersected
 * before labels are copied. */
sonde_status storage_select(storage *st, const char *tenant, const storage_matcher *m, size_t nm,
                            int64_t mint, int64_t maxt, arena *a, storage_series_ref **out,
                            size_t *n);

/* Samples of one series with mint <= ts <= maxt, ascending, no duplicate
 * timestamps, from flushed chunks and the head. Arrays live in the arena. */
sonde_status storage_read_samples(storage *st, const char *tenant, uint64_t series_id,
                                  int64_t mint, int64_t maxt, arena *a, sonde_sample **out,
                                  size_t *n);

/* Sorted, unique label names (or values of `name`) over series matching the
 * matchers (nm may be 0: all series of the tenant) in [mint, maxt]. */
sonde_status storage_label_names(storage *st, const char *tenant, const storage_matcher *m,
                                 size_t nm, int64_t mint, int64_t maxt, arena *a,
                                 const char ***out, size_t *n);
sonde_status storage_label_values(storage *st, const char *tenant, const char *name,
                                  const storage_matcher *m, size_t nm, int64_t mint, int64_t maxt,
                                  arena *a, const char ***out, size_t *n);

/* Appends storage's self-monitoring metrics in the Prometheus text format
 * (commit latency, queue occupancy, batches, duplicates, active series,
 * samples appended / dropped by reason, RocksDB stats). */
void storage_metrics_write(storage *st, buf *out);

#endif
