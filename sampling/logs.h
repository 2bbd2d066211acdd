/*
 * logs.h - the log pipeline's mining and sampling state, shared by the ingest threads.
 *
 * Every log line that ingest accepts (Loki push, OTLP logs) passes through here before its
 * batch is committed:
 *
 *   1. The tenant's template miner (templates.h) gives the line a template id. Each template
 *      carries a version, 1 at creation and one more each time the template generalises;
 *      a version that has not been stored yet is handed back so that the caller stores it
 *      (storage's `templates` family) in the same write as the rows that use it.
 *   2. Exact counts: per (stream, template) the lines and bytes of the batch, before any
 *      sampling, become two series with increments (sonde_log_lines_total and
 *      sonde_log_bytes_total, labels: the stream's plus sonde_template_id), stored with the
 *      batch as delta counters.
 *   3. With sampling on, the stream's dynamic sampler (sampler.h), keyed by template, says
 *      whether the line is kept and at which rate. Lines at warn level or above, and lines
 *      of rare templates, are always kept (rate 1).
 *
 * Why before the commit rather than on the committed-batch ring: the sampling decision and
 * the template id decide what is written, so taking them first means every line is written
 * once, in its final form, in the same RocksDB write as its counts and its templates (one
 * ack, one durability story, and a retried request dedups as a whole). The miner work is
 * short (one PCRE2 JIT pass and a tree walk per line) and runs under a per-tenant mutex.
 *
 * After a restart sampling_logs_restore() rebuilds each tenant's miner from the stored
 * template versions (the latest text of each id), so the same line keeps its template id.
 *
 * Threads: any; one mutex per tenant; the tenant table takes a lock only to add a tenant.
 */
#ifndef SONDE_SAMPLING_LOGS_H
#define SONDE_SAMPLING_LOGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/arena.h"
#include "core/buf.h"
#include "core/series.h"
#include "core/status.h"
#include "sampling/sampler.h"
#include "sampling/templates.h"

/* Metric names and the template label of the per-template counts. */
#define SAMPLING_LINES_METRIC "sonde_log_lines_total"
#define SAMPLING_BYTES_METRIC "sonde_log_bytes_total"
#define SAMPLING_TEMPLATE_LABEL "sonde_template_id"

typedef struct sampling_logs_config {
    bool sampling;                   /* --logs.sampling: off by default, every line kept */
    sampling_sampler_config sampler; /* per stream, keyed by template */
    uint32_t max_tenants;            /* tenants with a miner (default 1000); beyond: no mining */
    uint32_t max_samplers;           /* streams with their own sampler per tenant (10000);
                                        beyond, streams share one */
} sampling_logs_config;

void sampling_logs_config_default(sampling_logs_config *c);

typedef struct sampling_logs sampling_logs;

/* SONDE_ERR_INVALID (bad sampler configuration or masks; err says why), SONDE_ERR_NOMEM. */
sonde_status sampling_logs_create(const sampling_logs_config *c, sampling_logs **out, char *err,
                                  size_t errlen);
void sampling_logs_destroy(sampling_logs *sl);

/* Puts one stored template version back (start-up, before any line): the latest version of
 * each id wins. Versions must come in ascending order per id (storage's key order). */
sonde_status sampling_logs_restore(sampling_logs *sl, const char *tenant, uint64_t template_id,
                                   uint32_t version, const char *text, size_t len);

/* One line of a batch. keep_always: warn level or above (never sampled out). */
typedef struct sampling_log_line {
    const sonde_label *stream; /* canonical */
    uint32_t nlabels;
    uint64_t stream_hash; /* series_labels_hash(stream) */
    int64_t ts_ns;
    const char *line;
    size_t len;
    bool keep_always;
} sampling_log_line;

/* What happened to it. */
typedef struct sampling_log_decision {
    bool keep;
    uint32_t rate;        /* the line stands for this many lines (1 when sampling is off) */
    uint64_t template_id; /* 0: not mined (tenant table full, or out of memory) */
    uint32_t version;
    const uint8_t *vars; /* kept lines: the vars block of the line against its template
                            version (in the arena), NULL when it cannot be encoded */
    size_t vars_len;
} sampling_log_decision;

/* A template version the caller must store with the batch. */
typedef struct sampling_template_version {
    uint64_t id;
    uint32_t version;
    const char *text; /* in the arena given to sampling_logs_process */
    size_t len;
} sampling_template_version;

/* The outcome of a batch: decisions[i] for lines[i]; count series (increments, one sample
 * each at the newest line time of the key in ms, capped at now_ms) and the template versions
 * to store. Everything lives in arena a. */
typedef struct sampling_logs_result {
    sampling_log_decision *decisions;
    sonde_series *series;
    size_t nseries;
    sampling_template_version *versions;
    size_t nversions;
    size_t kept;
} sampling_logs_result;

/* Mines, counts and samples the lines of one batch of `tenant` (lines may be 0). The
 * tenant's mutex is held for the whole call. SONDE_ERR_NOMEM / SONDE_ERR_LIMIT (arena). */
sonde_status sampling_logs_process(sampling_logs *sl, const char *tenant,
                                   const sampling_log_line *lines, size_t n, int64_t now_ms,
                                   arena *a, sampling_logs_result *out);

/* The batch holding these versions was committed (not a duplicate): later batches need not
 * store them again. */
void sampling_logs_persisted(sampling_logs *sl, const char *tenant,
                             const sampling_template_version *v, size_t n);

/* The latest text of a template of a tenant, copied into a (NUL-terminated), or
 * SONDE_ERR_NOT_FOUND when the miner no longer holds it. */
sonde_status sampling_logs_template(sampling_logs *sl, const char *tenant, uint64_t template_id,
                                    arena *a, const char **text, size_t *len);

/* Counts n kept lines stored template-encoded (for self-monitoring). */
void sampling_logs_note_encoded(sampling_logs *sl, size_t n);

/* Self-monitoring: lines seen, kept, template-encoded, templates, tenants (Prometheus text
 * format). */
void sampling_logs_metrics_write(sampling_logs *sl, buf *out);

/* ---- the counts' logged form (the batch log payload of a logs batch's counts) ----
 * "SLC1", varint nseries, per series: varint nlabels, (varint len, name, varint len, value)*,
 * varint nsamples, (zigzag varint ts_ms, 8-byte little-endian double)*. */
sonde_status sampling_counts_encode(const sonde_series *s, size_t n, buf *out);
/* Decodes into the arena; every length is checked against the input. SONDE_ERR_INVALID. */
sonde_status sampling_counts_decode(arena *a, const void *data, size_t len, sonde_series **out,
                                    size_t *n);

/* ---- the stored form of a log row ----
 * A row written through the pipeline starts with a header: a magic byte, then varints rate,
 * template id and version. A bare packed ResourceLogs (the form before the pipeline) starts
 * with a protobuf tag (0x0a or 0x12) instead.
 *   0x01: the packed ResourceLogs follows, body included.
 *   0x02: the line is template-encoded: a vars block follows (varint count, then per
 *         variable varint length and bytes), then the packed ResourceLogs without its body.
 *         The line is the template text of (template id, version) with its <*> replaced by
 *         the variables in order: lossless by construction (sampling_template_split only
 *         encodes a line that rebuilds to the same bytes), so a reader needs the stored
 *         template version (storage's `templates` family) to rebuild it. */
#define SAMPLING_ROW_MAGIC 0x01
#define SAMPLING_ROW_MAGIC_ENCODED 0x02
#define SAMPLING_ROW_HEADER_MAX 31

typedef struct sampling_row_info {
    uint32_t rate;
    uint64_t template_id;
    uint32_t version;
    const uint8_t *vars; /* NULL: the body is in the record */
    size_t vars_len;
} sampling_row_info;

/* Writes the header into out (SAMPLING_ROW_HEADER_MAX bytes); returns its length. encoded:
 * the caller appends a vars block (sampling_template_split) and the record without body. */
size_t sampling_row_header_put(uint8_t *out, uint32_t rate, uint64_t template_id,
                               uint32_t version, bool encoded);
/* Reads a row's header (and vars block): returns the length of both, 0 for a row without a
 * header (rate 1, template 0, no vars), SIZE_MAX when malformed. */
size_t sampling_row_parse(const void *value, size_t len, sampling_row_info *info);

/* The vars block that rebuilds `line` from template text `tmpl` (variables as <*>), written to
 * out (at least sampling_template_split_cap(len, tlen) bytes). Returns its length, or 0 when
 * the line does not follow the template's constant text byte for byte (then store the body). */
size_t sampling_template_split_cap(size_t line_len, size_t tmpl_len);
size_t sampling_template_split(const char *tmpl, size_t tlen, const char *line, size_t len,
                               uint8_t *out);
/* Rebuilds the line from the template text and a vars block, appending to out.
 * SONDE_ERR_INVALID when the block is malformed or its count does not match the template. */
sonde_status sampling_template_join(const char *tmpl, size_t tlen, const uint8_t *vars,
                                    size_t vlen, buf *out);

/* Warn level or above, judged from a line's text the way Loki detects levels when nothing
 * else says: a logfmt/JSON level field, else a level word (WARN, ERROR, FATAL, ...). */
bool sampling_line_is_warn(const char *line, size_t len);
/* The same for a level value ("warn", "Warning", "E", "error", "crit", ...). */
bool sampling_level_is_warn(const char *v, size_t len);

#endif
