/*
 * storage_internal.h - private types shared by the storage/ files. Nothing
 * outside storage/ includes this (or RocksDB).
 *
 * Object map:
 *   storage        - the DB handle, column families, committer, shards, counters.
 *   storage_batch  - one submitted request; refcounted once handed to shards
 *                    (one ref per shard), immutable after commit.
 *   agg_shard      - one aggregator thread's state: series map, id map,
 *                    postings, pending RocksDB writes; guarded by its rwlock.
 *   agg_series     - one series: id, min/max ts, head chunk, and its key
 *                    (tenant '\0' canonical label encoding) in the same malloc.
 *   chunk_enc      - Gorilla encoder state (head chunk).
 *   dedup_set      - batch ids inside the dedup window (committer thread only).
 */
#ifndef SONDE_STORAGE_INTERNAL_H
#define SONDE_STORAGE_INTERNAL_H

#include <pthread.h>
#include <rocksdb/c.h>
#include <zstd.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "../core/ring.h"
#include "storage.h"

/* ---------------- keys.c: big-endian key encoding ---------------- */

#define STORAGE_BATCH_ID_LEN 16
#define STORAGE_TENANT_MAX 150

void storage_key_put_be64(uint8_t *p, uint64_t v);
uint64_t storage_key_get_be64(const uint8_t *p);
/* Signed timestamps as order-preserving unsigned (sign bit flipped). */
uint64_t storage_key_ts_encode(int64_t ts);
int64_t storage_key_ts_decode(uint64_t u);
/* tenant '\0' id BE8; returns length (tlen + 9). out must hold tlen + 9. */
size_t storage_key_series(uint8_t *out, const char *tenant, size_t tlen, uint64_t id);
/* tenant '\0' id BE8 ts(flipped) BE8; returns tlen + 17. */
size_t storage_key_chunk(uint8_t *out, const char *tenant, size_t tlen, uint64_t id, int64_t ts);
/* Parses a chunk key; false if malformed. */
bool storage_key_chunk_parse(const uint8_t *k, size_t n, size_t *tlen, uint64_t *id, int64_t *ts);
#define STORAGE_KEY_MAX (STORAGE_TENANT_MAX + 18)

/* Span and log rows (storage.h, "spans and log records"). A day is days since the Unix epoch
 * (UTC) of a time in ns; times <= 0 take the day of commit_ms. */
#define STORAGE_DAY_NS 86400000000000LL
#define STORAGE_LOG_SEQ_LEN 12 /* batch id[0..8) + BE4 row index */

/* ---- zstd dictionaries of log chunks, per stream (logdict.c) ---- */
typedef struct storage_logdicts storage_logdicts;
sonde_status storage_logdicts_init(storage *st);
void storage_logdicts_fini(storage *st);
/* Compresses a chunk payload of (tenant, stream) into dst (cap >= ZSTD_compressBound(n)),
 * with the stream's dictionary when it has one (*version, else 0); the first payloads of a
 * stream train it. SONDE_ERR_NOMEM. */
sonde_status storage_logdict_compress(storage *st, ZSTD_CCtx *cctx, const char *tenant,
                                      size_t tlen, uint64_t stream, const uint8_t *src,
                                      size_t n, uint8_t *dst, size_t cap, size_t *out,
                                      uint32_t *version);
/* A compression context from the pool (or a new one; NULL on OOM), and back. */
ZSTD_CCtx *storage_logdict_cctx_get(storage *st);
void storage_logdict_cctx_put(storage *st, ZSTD_CCtx *c);
/* Decompresses with dictionary `version` of the stream (0: none). SONDE_ERR_NOT_FOUND (no such
 * dictionary stored), SONDE_ERR_INVALID (corrupt). */
sonde_status storage_logdict_decompress(storage *st, ZSTD_DCtx *dctx, const char *tenant,
                                        size_t tlen, uint64_t stream, uint32_t version,
                                        const uint8_t *src, size_t n, uint8_t *dst, size_t cap,
                                        size_t *out);

/* Log chunks (rows.c writes, logs_read.c reads): the entries of one stream, one day and one
 * batch in one logs row, keyed by the first entry's time. Value: STORAGE_LOG_CHUNK_MAGIC,
 * varints n, span (last - first ts, ns), the payload's raw length and the zstd dictionary
 * version (logdict.c; 0: none), then the payload as one zstd frame, in columns: n varint ts
 * deltas (from first ts, then from the previous), n varint header-part lengths, n varint
 * rest lengths, the header parts, the rests (a value is its header part followed by its rest:
 * storage_batch_add_log_hdr's hdr and value, kept apart so that like bytes sit together).
 * A chunk spans at most STORAGE_LOG_CHUNK_SPAN_NS, so a reader looking for entries from t on
 * starts at the chunks keyed from t - that span, and a backward reader holds at most that
 * span's chunks (compressed) ahead of what it gives. Push batches usually span seconds; a
 * backfill is cut into minutes. */
#define STORAGE_LOG_CHUNK_MAGIC 0x03
#define STORAGE_LOG_CHUNK_SPAN_NS (INT64_C(60) * 1000000000)
#define STORAGE_LOG_CHUNK_MAX_ENTRIES 4096
#define STORAGE_LOG_CHUNK_MAX_BYTES (1u << 20)
/* the largest chunk payload a reader decompresses (it guards against a corrupt header);
 * the packer refuses a row that would not fit (SONDE_ERR_LIMIT) */
#define STORAGE_LOG_CHUNK_RAW_MAX ((size_t)64 << 20)
uint32_t storage_key_day(int64_t ns, int64_t commit_ms);
void storage_key_put_be32(uint8_t *p, uint32_t v);
uint32_t storage_key_get_be32(const uint8_t *p);
/* tenant '\0' day BE4 trace_id[16] span_id[8]; returns tlen + 29. */
size_t storage_key_span(uint8_t *out, const char *tenant, size_t tlen, uint32_t day,
                        const uint8_t *trace_id, const uint8_t *span_id);
/* tenant '\0' trace_id[16] day BE4; returns tlen + 21. */
size_t storage_key_trace_index(uint8_t *out, const char *tenant, size_t tlen,
                               const uint8_t *trace_id, uint32_t day);
/* tenant '\0' day BE4 stream_id BE8 ts BE8 (flipped) seq[12]; returns tlen + 33. */
size_t storage_key_template(uint8_t *out, const char *tenant, size_t tlen, uint64_t id,
                            uint32_t version);
size_t storage_key_log(uint8_t *out, const char *tenant, size_t tlen, uint32_t day,
                       uint64_t stream_id, int64_t ts, const uint8_t *seq);
#define STORAGE_ROW_KEY_MAX (STORAGE_TENANT_MAX + 33)

/* ---------------- chunk.c: Gorilla chunks ---------------- */

typedef struct chunk_enc {
    uint8_t *buf;
    uint32_t cap;   /* bytes allocated */
    uint32_t nbits; /* bits written */
    uint16_t count;
    uint8_t leading, trailing;
    int64_t t0;
    int64_t last_ts;
    int64_t last_delta;
    uint64_t last_vbits;
} chunk_enc;

void storage_chunk_enc_init(chunk_enc *e);
void storage_chunk_enc_fini(chunk_enc *e);
void storage_chunk_enc_reset(chunk_enc *e); /* count = 0, keeps the buffer */
/* Appends one sample; ts must be > last ts (unchecked). SONDE_ERR_NOMEM. */
sonde_status storage_chunk_enc_append(chunk_enc *e, int64_t ts, double v);
static inline uint32_t storage_chunk_enc_bytes(const chunk_enc *e)
{
    return (e->nbits + 7) / 8;
}

typedef struct chunk_dec {
    const uint8_t *buf;
    uint32_t nbytes;
    uint32_t pos; /* bit position */
    uint32_t left;
    uint32_t i;
    uint8_t leading, trailing;
    int64_t ts;
    int64_t delta;
    uint64_t vbits;
} chunk_dec;

void storage_chunk_dec_init(chunk_dec *d, const uint8_t *bytes, uint32_t nbytes, uint32_t count);
/* false at the end or on a malformed chunk. */
bool storage_chunk_dec_next(chunk_dec *d, int64_t *ts, double *v);
/* Decodes the samples with mint <= ts <= maxt of a chunk into out (room for
 * `count`), stopping at the first ts > maxt or at damage; returns how many. */
size_t storage_chunk_decode(const uint8_t *bytes, uint32_t nbytes, uint32_t count, int64_t mint,
                            int64_t maxt, sonde_sample *out);

/* Stored chunk value: end ts BE8, count BE4, chunk bytes. */
#define STORAGE_CHUNK_HDR 12

/* ---------------- dedup.c: batch id set with FIFO expiry ---------------- */

typedef struct dedup_entry {
    uint8_t id[STORAGE_BATCH_ID_LEN];
    int64_t ms;
} dedup_entry;

typedef struct dedup_set {
    uint8_t (*slots)[STORAGE_BATCH_ID_LEN]; /* all-zero = empty */
    size_t cap, n;
    dedup_entry *fifo; /* ring of insertions in time order */
    size_t fcap, fhead, flen;
} dedup_set;

void storage_dedup_init(dedup_set *d);
void storage_dedup_fini(dedup_set *d);
bool storage_dedup_contains(const dedup_set *d, const uint8_t *id);
sonde_status storage_dedup_add(dedup_set *d, const uint8_t *id, int64_t ms);
/* Forgets ids added before cutoff_ms; returns how many. */
size_t storage_dedup_expire(dedup_set *d, int64_t cutoff_ms);

/* ---------------- batches ---------------- */

/* One span or log row of a row batch (rows.c). Spans: id = trace_id[16] span_id[8]; logs:
 * id[0..8) = stream_id BE8 and the row's index in the batch is its seq. value lives in the
 * batch's rows arena. */
typedef struct storage_row {
    uint8_t id[24];
    int64_t ts_ns; /* span start / log timestamp; <= 0: the commit day */
    const void *value;
    size_t len;
    size_t hlen; /* logs: the caller's header part at the start of value (chunk column) */
} storage_row;

/* A distinct log stream of a batch: its id and canonical label encoding (rows arena). */
typedef struct storage_stream {
    uint64_t id;
    const char *enc;
    size_t len;
} storage_stream;

/* A template version to store with a logs batch (rows arena). */
typedef struct storage_tmpl {
    uint64_t id;
    uint32_t version;
    const char *text;
    size_t len;
} storage_tmpl;

typedef struct storage_rows {
    arena *a; /* rows, values, streams, templates */
    storage_tmpl *tmpls;
    size_t ntmpls, tcap;
    storage_row *rows;
    size_t n, cap;
    storage_stream **streams; /* open addressing by id, cap a power of two (0: none yet) */
    size_t nstreams, scap;
} storage_rows;

static inline bool storage_kind_has_rows(storage_batch_kind k)
{
    return k == STORAGE_BATCH_OTLP_TRACES_V1 || k == STORAGE_BATCH_OTLP_LOGS_V1;
}

struct storage_batch {
    _Atomic int refs;
    storage_batch_kind kind;
    bool replayed; /* from the log at open: skipped samples are not counted */
    uint8_t tlen;
    char tenant[STORAGE_TENANT_MAX + 1];
    uint8_t id[STORAGE_BATCH_ID_LEN];
    void *payload;
    size_t payload_len;
    bool payload_owned; /* a row batch's counts payload (storage_batch_set_counts): malloc'd */
    arena *decoded;
    sonde_series *series;
    const storage_series_meta *meta; /* NULL, or per series (storage_batch_set_meta) */
    size_t nseries;
    uint64_t seq;
    int64_t commit_ms;
    int64_t submit_ns;
    storage_done_fn fn;
    void *ctx;
    void (*release)(void *ctx); /* storage_batch_set_release: after decoded is freed */
    void *release_ctx;
    storage_rows rows; /* row kinds only (rows.c) */
};

void storage_batch_unref(storage_batch *b);

/* ---------------- aggregator ---------------- */

/* Pointer hash table with cached hashes, linear probing, no deletion. */
typedef struct ptab {
    void **slots;
    uint64_t *hashes;
    size_t cap, n;
} ptab;

typedef bool (*ptab_eq_fn)(const void *entry, const void *key);
void *storage_ptab_find(const ptab *t, uint64_t h, ptab_eq_fn eq, const void *key);
sonde_status storage_ptab_insert(ptab *t, uint64_t h, void *entry);
void storage_ptab_fini(ptab *t);

/* Sorted, growable list of series ids. */
typedef struct plist {
    uint64_t *ids;
    uint32_t n, cap;
} plist;

typedef struct agg_series {
    uint64_t id;
    uint64_t hash; /* series map key: tenant + labels */
    int64_t min_ts, max_ts;
    uint64_t last_vbits;
    chunk_enc head;
    struct hist_head *hist; /* native histogram samples (hist.c); NULL: none */
    uint32_t enc_len;       /* canonical label encoding length */
    uint8_t tlen;
    uint8_t dirty; /* head changed since the last checkpoint */
    char key[];    /* tenant '\0' encoding */
} agg_series;

static inline const char *agg_series_enc(const agg_series *s)
{
    return s->key + s->tlen + 1;
}

typedef struct post_value {
    plist ids;
    uint32_t vlen;
    char v[];
} post_value;

typedef struct post_name {
    ptab values; /* post_value* */
    uint32_t nlen;
    char name[];
} post_name;

typedef struct post_tenant {
    plist all;  /* every series of the tenant in this shard */
    ptab names; /* post_name* */
    uint32_t tlen;
    char tenant[];
} post_tenant;

typedef struct agg_shard {
    storage *st;
    unsigned idx;
    pthread_t thr;
    bool started;
    ring_mpsc *ring;
    notify nt;
    pthread_rwlock_t lock;
    ptab series;  /* by tenant+labels hash */
    ptab by_id;   /* by id */
    ptab tenants; /* post_tenant* */
    size_t nseries;
    size_t nheads; /* series with a non-empty head chunk */
    rocksdb_writebatch_t *pending;
    char *scratch; /* label encoding scratch */
    size_t scratch_cap;
    _Atomic uint64_t applied_seq;
    _Atomic uint64_t ckpt_seq;
    int64_t next_ckpt_ms;
    /* Checkpoint limits (under lock). `pending` non-empty after a flush means
     * a failed write is being retried: ckpt_seq must not advance. ckpt_cap:
     * samples of the batch after it were dropped (OOM), so ckpt_seq never
     * passes it in this process (the log keeps the batch; UINT64_MAX: none).
     * ckpt_rewrite_all: the last checkpoint write failed after clearing dirty
     * flags, so the next one writes every non-empty head. */
    uint64_t ckpt_cap;
    bool ckpt_rewrite_all;
} agg_shard;

/* index.c */
agg_series *storage_index_find(agg_shard *sh, const char *tenant, size_t tlen, uint64_t h,
                               const char *enc, size_t enc_len);
agg_series *storage_index_find_id(agg_shard *sh, uint64_t id);
/* Adds a series (id given) with postings. NULL on OOM. */
agg_series *storage_index_add(agg_shard *sh, const char *tenant, size_t tlen, uint64_t h,
                              uint64_t id, const char *enc, size_t enc_len);
void storage_index_fini(agg_shard *sh);
post_tenant *storage_index_tenant(agg_shard *sh, const char *tenant, size_t tlen);
post_name *storage_index_name(post_tenant *pt, const char *name, size_t nlen);
post_value *storage_index_value(post_name *pn, const char *v, size_t vlen);
/* Series map key: mixes the tenant hash (hash64 of the tenant) and
 * sonde_series.hash (series_labels_hash). The shard is key % nshards. */
uint64_t storage_index_hash_series(uint64_t tenant_hash, uint64_t labels_hash);
/* Makes sh->scratch hold at least n bytes; false on OOM. */
bool storage_index_scratch(agg_shard *sh, size_t n);

/* agg.c */
sonde_status storage_agg_start(storage *st);
void storage_agg_stop(storage *st); /* drains rings, final checkpoint, joins */
/* Applies one series' samples (shard write lock held by the caller). */
/* meta (NULL: none): delta accumulation and start-time zeros (storage.h).
 * Returns false when samples were lost to OOM (logged and counted). */
bool storage_agg_apply_series(agg_shard *sh, const char *tenant, size_t tlen, uint64_t key_hash,
                              const sonde_series *s, const storage_series_meta *meta,
                              bool replay);
/* Seeds a loaded series' head / last values from its last stored chunk. */
void storage_agg_series_restore(agg_shard *sh, agg_series *s, const uint8_t *val, size_t vlen);
/* Pushes a batch to every shard ring (blocks while a ring is full). */
void storage_agg_dispatch(storage *st, storage_batch *b);
/* Writes the shard's dirty heads + checkpoint; updates the global checkpoint. */
void storage_agg_checkpoint(agg_shard *sh);
/* Writes sh->pending (lock held); on failure keeps it for the next flush
 * (chunk and series keys are deterministic, so the retry is idempotent).
 * Returns true when nothing is left pending. */
bool storage_agg_flush_pending(agg_shard *sh);

/* ---------------- the storage object ---------------- */

enum {
    CF_DEFAULT = 0,
    CF_BATCHES,
    CF_BATCH_IDS,
    CF_SERIES,
    CF_CHUNKS,
    CF_META,
    /* spans and log records (rows.c): zstd, they hold verbose data */
    CF_SPANS,
    CF_TRACE_INDEX,
    CF_LOGS,
    CF_LOG_STREAMS,
    CF_TEMPLATES,
    CF_LOG_DICTS,
    CF_COUNT
};

#define STORAGE_LAT_BUCKETS 12

struct storage {
    storage_config cfg;
    char *data_dir;
    rocksdb_t *db;
    rocksdb_options_t *opts;
    rocksdb_options_t *opts_log; /* the batches family */
    rocksdb_options_t *opts_rows; /* spans, trace_index, log_streams: universal, zstd bottom */
    rocksdb_options_t *opts_logs; /* logs: opts_rows, 64 KiB blocks, no compression (chunks) */
    int64_t next_retention_ms;    /* committer: next log retention run */
    struct storage_logdicts *logdicts; /* logdict.c */
    rocksdb_block_based_table_options_t *bbo_logs;
    /* chunks: opts, uncompressed, with a block cache of its own (db.c) */
    rocksdb_options_t *opts_chunks;
    rocksdb_block_based_table_options_t *bbo_chunks;
    rocksdb_cache_t *chunk_cache;
    rocksdb_column_family_handle_t *cf[CF_COUNT];
    rocksdb_writeoptions_t *wo;       /* commit: sync = cfg.fsync */
    rocksdb_writeoptions_t *wo_async; /* aggregator writes (WAL, no sync) */
    rocksdb_readoptions_t *ro;

    /* commit */
    ring_mpsc *commit_ring;
    notify commit_nt;
    pthread_t commit_thr;
    bool commit_started;
    _Atomic bool closing;     /* submit refuses */
    _Atomic int submitting;   /* submitters between the closing check and the push */
    _Atomic bool commit_stop; /* committer drains and exits */
    dedup_set dedup;
    uint64_t next_seq;              /* committer only */
    _Atomic uint64_t committed_seq; /* last committed batch seq */
    int64_t next_dedup_expire_ms;
    bool dedup_expired_once; /* ids older than the set (previous runs) deleted */

    /* replay */
    uint64_t replay_from;       /* checkpoint at open */
    _Atomic uint64_t replay_to; /* last seq replayed */
    _Atomic bool replay_done;

    /* aggregator */
    agg_shard *shards;
    unsigned nshards;
    _Atomic bool agg_stop;
    _Atomic uint64_t next_series_id;
    notify applied_nt;
    _Atomic int64_t wait_skip_until_ns; /* read.c: skip read-your-writes waits */
    pthread_mutex_t ckpt_mu;
    uint64_t ckpt_global; /* under ckpt_mu */
    /* The global checkpoint never passes this (replay could not apply the
     * batch after it; UINT64_MAX: no limit). Lowered by the committer only. */
    _Atomic uint64_t ckpt_limit;
    _Atomic uint64_t ckpt_global_pub;

    /* metrics */
    _Atomic uint64_t m_committed, m_duplicate, m_groups, m_commit_errors;
    _Atomic uint64_t m_lat_sum_ns, m_lat_count;
    _Atomic uint64_t m_lat_bucket[STORAGE_LAT_BUCKETS];
    _Atomic uint64_t m_appended, m_drop_dup, m_drop_ooo;
    _Atomic uint64_t m_active_series, m_head_chunks;
    _Atomic uint64_t m_chunks_flushed;
    _Atomic uint64_t m_write_errors;  /* aggregator writes (flush, checkpoints) */
    _Atomic uint64_t m_apply_errors;  /* series / samples lost to OOM in a shard */
    _Atomic uint64_t m_replay_failed; /* logged batches replay could not apply */
};

extern const double storage_lat_bounds[STORAGE_LAT_BUCKETS];

/* db.c */
sonde_status storage_db_open(storage *st, char *err, size_t errlen);
void storage_db_close(storage *st);
sonde_status storage_db_meta_get_u64(storage *st, const char *key, uint64_t *out, bool *found);
void storage_db_meta_put_u64(rocksdb_writebatch_t *wb, storage *st, const char *key, uint64_t v);
/* Writes wb; logs and returns SONDE_ERR_STORAGE on failure. */
sonde_status storage_db_write(storage *st, rocksdb_writebatch_t *wb, bool sync);
/* SONDE_OK, or (logged as storage.iter_error with `what`) SONDE_ERR_STORAGE when the
 * iterator hit an error. */
sonde_status storage_iter_status(rocksdb_iterator_t *it, const char *what);

/* load.c: series index + last chunks, at open (single-threaded). */
sonde_status storage_load_series(storage *st);
/* Replays the batch log after the checkpoint (committer thread). */
void storage_replay_run(storage *st);

/* rows.c: puts a row batch's rows (days of ts <= 0 from b->commit_ms) into wb. */
void storage_rows_put(storage *st, rocksdb_writebatch_t *wb, const storage_batch *b);
void storage_rows_fini(storage_rows *r);

/* commit.c */
sonde_status storage_commit_start(storage *st);
void storage_commit_stop(storage *st);
sonde_status storage_dedup_load(storage *st);

/* read.c */
void storage_wait_applied(storage *st);

/* ---------------- native histograms (hist.c) ----------------
 * A series' histogram samples: a head chunk being written plus cut chunks in
 * RocksDB (agg_series.hist, NULL while the series has none; writer: the shard
 * under its write lock). Per sample: zigzag-varint ts delta, schema, hint,
 * then each float XORed with the previous sample's and written as a
 * byte-swapped varint (equal or round values take one or a few bytes),
 * buckets as index deltas and counts XORed with the previous bucket of the
 * same side. A chunk starts from zero state, so it decodes on its own.
 * Chunks live in the `default` column family under chunk keys (tenant '\0'
 * id BE8 start_ts BE8 flipped), valued end_ts BE8, count BE4, bytes, as
 * float chunks are in `chunks`: cut at chunk_max_samples / chunk_max_span_ms,
 * the head written under its key at checkpoints. */
typedef struct hist_head {
    uint8_t *buf; /* the head chunk */
    size_t len, cap;
    uint32_t count; /* samples in the head chunk */
    int64_t t0;     /* first ts of the head chunk */
    int64_t min_ts, max_ts; /* over the whole series (INT64_MAX / MIN: none) */
    double last[4]; /* zero threshold, zero count, count, sum of the last sample */
    double *custom; /* the last sample's custom bounds (malloc) */
    uint32_t ncustom;
    sonde_fhist *last_h; /* copy of the last sample (one malloc): reset hints */
    uint8_t dirty;       /* head changed since the last checkpoint */
} hist_head;

static inline bool storage_hist_any(const hist_head *h)
{
    return h && h->max_ts >= h->min_ts;
}

/* A new, empty head (calloc'd; min/max set to "none"). NULL on OOM. */
hist_head *storage_hist_new(void);
/* Checkpoint: puts s's head chunk under its key into wb (CF_DEFAULT). */
void storage_hist_put(rocksdb_writebatch_t *wb, storage *st, const agg_series *s);
/* Open: one stored chunk of s (in key order). last: the series' last chunk,
 * which becomes the head again when not full. SONDE_ERR_INVALID when
 * malformed (then it is skipped), SONDE_ERR_NOMEM. */
sonde_status storage_hist_restore(storage *st, agg_series *s, int64_t start, const uint8_t *val,
                                  size_t vlen, bool last);

/* Bucket indices beyond this are no schema's (schema 8 ends near 2^18). */
#define STORAGE_HIST_MAX_INDEX (1 << 20)

/* Appends one sample to the head chunk (ts > h->max_ts, unchecked). SONDE_ERR_NOMEM. */
sonde_status storage_hist_append(hist_head *h, int64_t ts, const sonde_fhist *fh);
void storage_hist_free(hist_head *h); /* NULL: no-op */
/* Decodes the samples of bytes[0, len) (count of them) with mint <= ts <= maxt.
 * Truncated input yields the samples before the damage; SONDE_ERR_INVALID for a
 * count that cannot fit, SONDE_ERR_NOMEM. */
sonde_status storage_hist_decode(const uint8_t *bytes, size_t len, uint32_t count, int64_t mint,
                                 int64_t maxt, arena *a, sonde_hsample **out, size_t *n);

#endif
