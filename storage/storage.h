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
    /* Row kinds (see "spans and log records" below): the payload only seeds the batch id (it is
     * hashed, not copied nor logged); the rows added to the batch are the durable form. */
    STORAGE_BATCH_OTLP_TRACES_V1 = 3, /* payload: ExportTraceServiceRequest protobuf (for the id) */
    STORAGE_BATCH_OTLP_LOGS_V1 = 4,   /* payload: the request body as received (for the id) */
    /* Logged form of the per-template line counts a logs batch carries (storage_batch_set_counts):
     * the payload is the caller's encoding of those series, decoded again by the decode fn at
     * replay, like metrics. Never created by callers directly. */
    STORAGE_BATCH_LOG_COUNTS_V1 = 5,
} storage_batch_kind;

/* Per-series extras of an OTLP metrics batch, aligned with its series.
 * delta: the samples are increments; the aggregator adds each one to the
 *   series' last stored value (0 for a new series, or after a stale marker),
 *   so the series is stored cumulative. A retried batch is applied once (the
 *   dedup window), and after a restart the last value comes from the stored
 *   chunks and replay, so the running sum survives kill -9.
 * start_ms: NULL, or per sample the start time of a cumulative point (0:
 *   none). When it is newer than the series' last sample and older than the
 *   sample, the aggregator first stores 0 at start_ms: the counter restarted
 *   there (Prometheus' created-timestamp zero), so increase() and rate() see
 *   the reset even when the new value is above the old one. */
typedef struct storage_series_meta {
    bool delta;
    const int64_t *start_ms;
    /* bump: a live sample at or before the series' last timestamp moves to 1 ms after it
     *   instead of being dropped as out of order (counts derived from log lines, whose times
     *   are not in order across batches; with delta they still add up exactly). A replayed
     *   one is skipped as usual, so replay never counts a batch twice: callers should stamp
     *   a series' samples in increasing time before logging them. */
    bool bump;
} storage_series_meta;

/* Decodes a logged payload again during replay (storage does not know the
 * wire formats; ingest wires remote_write's decoder in here). On SONDE_OK,
 * *decoded owns *series and *meta (per-series extras, left NULL when none). */
typedef sonde_status (*storage_decode_fn)(void *ctx, storage_batch_kind kind, const void *payload,
                                          size_t len, arena **decoded, sonde_series **series,
                                          size_t *nseries, const storage_series_meta **meta);

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
    int64_t logs_retention_ms;        /* log rows older than this (by day) are deleted; 0: kept */
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

/* Attaches per-series extras (nseries entries, living in the batch's decoded
 * arena or longer) to a batch that has not been submitted. NULL: none. */
void storage_batch_set_meta(storage_batch *b, const storage_series_meta *meta);

/* Queues the batch for group commit. On SONDE_OK the callback will run exactly
 * once. On SONDE_ERR_OVERLOAD (ring full) or SONDE_ERR_CANCELED (closing) the
 * batch is destroyed and the callback never runs. */
sonde_status storage_submit(storage *st, storage_batch *b /* owned */, storage_done_fn fn,
                            void *ctx);

/* ---- spans and log records ----
 *
 * A traces or logs batch (kinds 3 and 4, created with storage_batch_create(tenant, kind, payload,
 * len, decoded, NULL, 0)) carries rows. The committer writes its rows and its id (in batch_ids,
 * so a retried request is a duplicate and writes nothing) in the same WriteBatch as the rest of
 * its group, so the ack means the rows are durable. Row batches take no batch-log sequence, are
 * never replayed and never reach the aggregator: after commit they are destroyed (release hook).
 * Keys start with tenant '\0' day (BE4, days since the Unix epoch, UTC) so that retention is a
 * range delete per tenant and day. "day of t": t / 86400e9 when t > 0, else the commit day.
 *   spans        tenant '\0' day(start_ns) trace_id[16] span_id[8]            -> value
 *   trace_index  tenant '\0' trace_id[16] day                                 -> ""
 *   logs         tenant '\0' day(ts_ns) stream_id BE8 ts BE8 (sign flipped) seq[12] -> value
 *   log_streams  tenant '\0' stream_id BE8                                    -> canonical labels
 * stream_id = series_labels_hash(stream); seq = the first 8 bytes of the batch id and the BE4
 * index of the log row in the batch, so a retry past the dedup window rewrites the same keys.
 * Add functions: the caller's thread, before storage_submit. value is copied into memory the
 * batch owns. Errors: SONDE_ERR_INVALID (NULL batch or ids, wrong kind, stream labels not
 * canonical), SONDE_ERR_LIMIT (2^32 log rows in one batch), SONDE_ERR_NOMEM. */

/* Adds a span row (kind STORAGE_BATCH_OTLP_TRACES_V1). value: the stored form of the span
 * (otlp_traces_split). Also puts trace_index (tenant, trace_id, day). */
sonde_status storage_batch_add_span(storage_batch *b, const uint8_t trace_id[16],
                                    const uint8_t span_id[8], int64_t start_ns, const void *value,
                                    size_t len);
/* Adds a log row (kind STORAGE_BATCH_OTLP_LOGS_V1). stream: canonical (sorted, unique) labels;
 * they are copied, and put (idempotently, once per batch) in log_streams. */
sonde_status storage_batch_add_log(storage_batch *b, const sonde_label *stream, uint32_t nlabels,
                                   int64_t ts_ns, const void *value, size_t len);
/* The same with the value stored as hdr followed by value (one copy, no concatenation by the
 * caller). */
sonde_status storage_batch_add_log_hdr(storage_batch *b, const sonde_label *stream,
                                       uint32_t nlabels, int64_t ts_ns, const void *hdr,
                                       size_t hlen, const void *value, size_t len);
/* Adds a template version (kind STORAGE_BATCH_OTLP_LOGS_V1), written to the `templates` family
 * in the same WriteBatch as the rows that refer to it:
 *   templates    tenant '\0' template_id BE8 version BE4                     -> text
 * A put is idempotent (same key, same text). SONDE_ERR_INVALID, SONDE_ERR_NOMEM. */
sonde_status storage_batch_add_template(storage_batch *b, uint64_t template_id, uint32_t version,
                                        const char *text, size_t len);
/* Attaches per-template line counts to a logs batch (kind STORAGE_BATCH_OTLP_LOGS_V1) that has
 * not been submitted: series (sample values are increments; meta per series, typically delta
 * and bump) in the decoded arena (owned), and payload, their encoding, copied. The committer
 * writes the rows and logs the payload (as STORAGE_BATCH_LOG_COUNTS_V1) in one WriteBatch, then
 * hands the series to the aggregator; replay decodes the payload with the decode fn. So the
 * counts are exactly as durable and as deduplicated as the rows. SONDE_ERR_INVALID (wrong kind,
 * already attached; decoded is freed), SONDE_ERR_NOMEM (decoded is freed). */
sonde_status storage_batch_set_counts(storage_batch *b, const void *payload, size_t len,
                                      arena *decoded /* owned */, sonde_series *series,
                                      size_t nseries, const storage_series_meta *meta);

/* Every stored template version of every tenant, in key order (tenant, id, version), to fn
 * until it returns false: for rebuilding the miners at start-up. SONDE_ERR_STORAGE. */
typedef bool (*storage_template_fn)(void *ctx, const char *tenant, uint64_t template_id,
                                    uint32_t version, const char *text, size_t len);
sonde_status storage_templates_scan(storage *st, storage_template_fn fn, void *ctx);
/* One template version (version UINT32_MAX: the latest stored one), copied into the arena,
 * NUL-terminated; *version_out (may be NULL) gets the version found. SONDE_ERR_NOT_FOUND,
 * SONDE_ERR_NOMEM / SONDE_ERR_LIMIT (arena), SONDE_ERR_INVALID, SONDE_ERR_STORAGE. */
sonde_status storage_template_get(storage *st, const char *tenant, uint64_t template_id,
                                  uint32_t version, arena *a, const char **text, size_t *len,
                                  uint32_t *version_out);

/* Packs a logs batch's rows into chunks (call once, after the last add, before submit; on the
 * caller's thread): per stream and day, the rows in time order (stable), at most 4096 rows,
 * 1 MiB and one minute per chunk, each one logs row keyed by its first time and compressed
 * with zstd as a whole, with a dictionary trained on the stream's first chunks (stored in the
 * log_dicts family before any chunk uses it), so similar lines of a stream compress together
 * and the per-row key is paid once per chunk. storage_log_iter gives back the entries one by one, in time order
 * across chunks. A log value must not start with the byte 0x03 (the chunk marker); the
 * pipeline's rows start with 0x01/0x02, bare records with a protobuf tag.
 * SONDE_ERR_INVALID (wrong kind), SONDE_ERR_LIMIT (a row over 64 MiB), SONDE_ERR_NOMEM. */
sonde_status storage_batch_pack_logs(storage *st, storage_batch *b);

/* Number of rows added to a batch (spans or log records), and the bytes the batch holds for
 * them (values, keys' material, stream labels: for in-flight memory accounting; the caller may
 * free its request arena once the rows are added, as they are copies). */
size_t storage_batch_rows(const storage_batch *b);
size_t storage_batch_row_bytes(const storage_batch *b);

/* Log retention: for every tenant with logs, one range delete of the `logs` rows of every day
 * that ended more than cfg.logs_retention_ms before now_ms (the day key makes it one
 * tombstone per tenant; compaction reclaims the space). The committer runs it every 5 minutes
 * when retention is set; tests call it directly. *days_out (may be NULL) gets the first day
 * kept. SONDE_ERR_STORAGE. */
sonde_status storage_logs_retention_run(storage *st, int64_t now_ms, uint32_t *days_out);

/* Reads every span row of one trace of `tenant` (all its days, via trace_index) from one
 * RocksDB snapshot: *values[i] / *lens[i] in key order (day, then span id), copied into the
 * arena. *n = 0 when the trace is unknown. Any thread. SONDE_ERR_NOMEM / SONDE_ERR_LIMIT when
 * the arena refuses (cap), SONDE_ERR_STORAGE on a RocksDB error. */
sonde_status storage_trace_read(storage *st, const char *tenant, const uint8_t trace_id[16],
                                arena *a, const void ***values, size_t **lens, size_t *n);

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

/* A reader of many series of one tenant for one query: it keeps one RocksDB
 * snapshot and iterator across reads (taken again only when something was
 * written since), and reuses its buffers. Same results and consistency as
 * storage_read_samples. One thread at a time; destroy(NULL) is a no-op.
 * create: SONDE_ERR_INVALID (tenant), SONDE_ERR_NOMEM. */
typedef struct storage_reader storage_reader;
sonde_status storage_reader_create(storage *st, const char *tenant, storage_reader **out);
/* storage_read_samples through the reader; *has_hist (may be NULL) says
 * whether the series holds native histogram samples in [mint, maxt] (when
 * false, storage_read_histograms would return none). SONDE_ERR_NOMEM,
 * SONDE_ERR_STORAGE. */
sonde_status storage_reader_read(storage_reader *r, uint64_t series_id, int64_t mint, int64_t maxt,
                                 arena *a, sonde_sample **out, size_t *n, bool *has_hist);
void storage_reader_destroy(storage_reader *r);

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

/* ---- native histograms ----
 *
 * Float native histograms (Prometheus' FloatHistogram) kept next to a series'
 * float samples: a series may hold floats at some timestamps and histograms
 * at others. Buckets are sparse: each side's populated buckets as (index,
 * count) pairs sorted by ascending index (Prometheus' spans, expanded).
 * Exponential schemas -4..8: bucket i of the positive side is
 * (2^((i-1)/2^schema), 2^(i/2^schema)], the negative side mirrors it.
 * Schema SONDE_HIST_CUSTOM (-53, NHCB): custom[] holds the upper bounds,
 * bucket i is (custom[i-1], custom[i]] (bucket 0 starts at -Inf, bucket
 * ncustom ends at +Inf); no negative side and no zero bucket.
 * Histogram samples live in an in-memory head per series (a compact
 * per-sample XOR/varint encoding, storage/hist.c), cut into chunks written to
 * RocksDB like float chunks (the head at checkpoints, reloaded at open). They
 * do not go through the batch log (no ingest path carries them yet). */
#define SONDE_HIST_CUSTOM (-53)

typedef enum sonde_hist_hint {
    SONDE_HIST_HINT_UNKNOWN = 0,
    SONDE_HIST_HINT_RESET = 1,
    SONDE_HIST_HINT_NOT_RESET = 2,
    SONDE_HIST_HINT_GAUGE = 3,
} sonde_hist_hint;

typedef struct sonde_fhist {
    int32_t schema;
    uint8_t hint; /* sonde_hist_hint */
    double zero_threshold, zero_count, count, sum;
    uint32_t npos, nneg, ncustom;
    int32_t *pos_idx, *neg_idx; /* ascending, unique */
    double *pos, *neg;
    double *custom; /* custom-bucket upper bounds (schema SONDE_HIST_CUSTOM) */
} sonde_fhist;

typedef struct sonde_hsample {
    int64_t ts_ms;
    sonde_fhist *h; /* in the reader's arena */
} sonde_hsample;

typedef struct sonde_hseries {
    const sonde_label *labels; /* canonical */
    uint32_t nlabels;
    uint32_t nsamples;
    const sonde_hsample *samples; /* ascending ts */
} sonde_hseries;

/* Upper bound of exponential bucket idx (Prometheus' getBoundExponential). */
double sonde_fhist_bound(int32_t idx, int32_t schema);
/* FloatHistogram.DetectReset: does cur start a new counter after prev? */
bool sonde_fhist_detect_reset(const sonde_fhist *cur, const sonde_fhist *prev);

/* Test and bulk-load entry, like storage_append_direct: appends histogram
 * samples to the series' histogram head (creating the series if needed),
 * bypassing the batch log: durable from the next checkpoint (or a cut chunk)
 * on, as storage_append_direct's floats are. A sample at or before the series' last histogram
 * timestamp is dropped (counted as out of order). As in Prometheus' TSDB, a
 * sample with an unknown counter-reset hint that continues a counter (the
 * previous sample is no gauge and sonde_fhist_detect_reset sees no reset) is
 * stored as "not reset"; otherwise it stays unknown. Any thread.
 * SONDE_ERR_INVALID (tenant; or samples with an unknown schema, bucket
 * indices out of range or not ascending: those are skipped, the others kept),
 * SONDE_ERR_NOMEM (samples lost). */
sonde_status storage_append_histograms_direct(storage *st, const char *tenant,
                                              const sonde_hseries *series, size_t nseries);

/* Histogram samples of one series with mint <= ts <= maxt, ascending, decoded
 * into the arena (*n = 0 when it has none). Any thread. SONDE_ERR_NOMEM. */
sonde_status storage_read_histograms(storage *st, const char *tenant, uint64_t series_id,
                                     int64_t mint, int64_t maxt, arena *a, sonde_hsample **out,
                                     size_t *n);

/* ---- log reads (logs_read.c) ----
 *
 * The read side of the logs / log_streams rows above, for query/'s LogQL. Any thread.
 *
 * storage_log_streams: every stream of `tenant` (a prefix scan of log_streams) whose labels
 * match all nm matchers, Prometheus semantics (a missing label reads as ""; RE / NRE call
 * re_match on the value, which must be anchored). Labels are decoded into the arena, in
 * log_streams key order (by stream id). SONDE_ERR_INVALID (tenant), SONDE_ERR_NOMEM /
 * SONDE_ERR_LIMIT (arena), SONDE_ERR_STORAGE.
 *
 * storage_log_iter: the entries of one stream with mint <= ts <= maxt (ns), ascending or
 * (backward) descending, from one snapshot taken at creation; each day of the range is one
 * bounded RocksDB iterator. _next gives SONDE_OK with the entry (value: a packed
 * ResourceLogs, valid until the next call or destroy), SONDE_ERR_NOT_FOUND at the end,
 * SONDE_ERR_STORAGE on a RocksDB error. Rows stored with ts <= 0 (kept in their commit day)
 * are seen only when that day is inside the range. One thread per iterator; destroy(NULL)
 * is a no-op. */
typedef struct storage_log_stream {
    uint64_t id;
    sonde_label *labels; /* canonical */
    uint32_t nlabels;
} storage_log_stream;

sonde_status storage_log_streams(storage *st, const char *tenant, const storage_matcher *m,
                                 size_t nm, arena *a, storage_log_stream **out, size_t *n);

typedef struct storage_log_iter storage_log_iter;

sonde_status storage_log_iter_create(storage *st, const char *tenant, uint64_t stream_id,
                                     int64_t mint, int64_t maxt, bool backward,
                                     storage_log_iter **out);
sonde_status storage_log_iter_next(storage_log_iter *it, int64_t *ts_ns, const void **value,
                                   size_t *len);
void storage_log_iter_destroy(storage_log_iter *it);

#endif
