/*
 * otlp.h - OpenTelemetry protocol (OTLP v1) decoding for sonde: the three
 * export requests (traces, metrics, logs) as protobuf or OTLP/JSON, bounded
 * content decoding (gzip, zstd), gRPC message framing, export responses with
 * partial_success, and the OTLP-metrics -> Prometheus-series translation.
 *
 * Everything here is a pure function of its inputs (thread: any), except the
 * translator's per-stream state, which is documented where it is declared.
 * Every decoded object lives in the caller's arena. Errors: SONDE_ERR_INVALID
 * (malformed input; err names the field), SONDE_ERR_LIMIT (a size, count or
 * nesting cap; err names the cap), SONDE_ERR_UNSUPPORTED (unknown encoding),
 * SONDE_ERR_NOMEM (arena cap).
 */
#ifndef SONDE_INGEST_OTLP_H
#define SONDE_INGEST_OTLP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../../core/arena.h"
#include "../../core/buf.h"
#include "../../core/series.h"
#include "../../core/status.h"

typedef enum otlp_signal {
    OTLP_SIGNAL_TRACES = 0,
    OTLP_SIGNAL_METRICS,
    OTLP_SIGNAL_LOGS,
} otlp_signal;

typedef enum otlp_format {
    OTLP_FORMAT_PROTOBUF = 0,
    OTLP_FORMAT_JSON,
} otlp_format;

typedef struct otlp_limits {
    size_t max_decoded;   /* bytes after content decoding (default 64 MiB) */
    unsigned max_depth;   /* AnyValue / message nesting (default 32) */
    size_t max_attrs;     /* attributes per resource, scope, span, record (default 1024) */
    size_t max_str;       /* bytes per string (default 1 MiB) */
} otlp_limits;

void otlp_limits_defaults(otlp_limits *l);

/* ---- content and framing ---- */

/* Decodes a Content-Encoding / grpc-encoding body ("gzip", "zstd",
 * "identity" or NULL) into the arena, never producing more than max_out
 * bytes (a gzip bomb gets SONDE_ERR_LIMIT). Unknown encodings:
 * SONDE_ERR_UNSUPPORTED. With identity/NULL, *out = in (no copy). */
sonde_status otlp_content_decode(arena *a, const char *encoding, const uint8_t *in, size_t n,
                                 size_t max_out, const uint8_t **out, size_t *out_len, char *err,
                                 size_t errlen);

/* gRPC length-prefixed message: 1 byte compressed flag, 4 bytes big-endian
 * length, message. Parses exactly one message occupying all of in[0..n):
 * the length is checked against max_len before anything else. */
sonde_status otlp_grpc_frame_parse(const uint8_t *in, size_t n, size_t max_len, bool *compressed,
                                   const uint8_t **msg, size_t *msg_len, char *err, size_t errlen);
/* Appends one uncompressed gRPC frame holding msg to out. */
sonde_status otlp_grpc_frame_append(buf *out, const uint8_t *msg, size_t n);

/* ---- export requests ---- */

/* Decodes an Export{Trace,Metrics,Logs}ServiceRequest into the protobuf-c
 * tree (Opentelemetry__Proto__Collector__<Sig>__V1__Export<Sig>ServiceRequest),
 * allocated in the arena through ProtobufCAllocator. Protobuf input has its
 * nesting depth checked on the wire bytes before unpacking; JSON follows the
 * OTLP/JSON mapping (hex trace/span ids, int64 as string or number, enums as
 * integers, lowerCamelCase names, unknown fields ignored) and produces the
 * same tree. All strings are checked to be valid UTF-8. */
sonde_status otlp_request_decode(arena *a, otlp_signal sig, otlp_format fmt, const uint8_t *body,
                                 size_t len, const otlp_limits *lim, void **request, char *err,
                                 size_t errlen);

/* Packs a decoded request as protobuf (the batch-log form of a JSON request). */
sonde_status otlp_request_pack(arena *a, otlp_signal sig, const void *request, uint8_t **out,
                               size_t *out_len);

/* Number of items (spans, data points, log records) in a decoded request. */
size_t otlp_request_items(otlp_signal sig, const void *request);

/* Appends the Export<Sig>ServiceResponse in the given format; rejected == 0
 * and msg == NULL gives the empty success response. */
sonde_status otlp_response_encode(buf *out, otlp_signal sig, otlp_format fmt, int64_t rejected,
                                  const char *msg);

/* ---- OTLP metrics -> Prometheus series ---- */

typedef struct otlp_translate_config {
    bool keep_names;            /* --otlp.translation=none: names and labels unchanged (UTF-8) */
    const char *const *promote; /* resource attributes promoted to labels */
    size_t npromote;
} otlp_translate_config;

typedef struct otlp_translate_result {
    sonde_series *series; /* canonical, hash set, in the arena */
    bool *delta;          /* per series: its samples are deltas (see below) */
    /* NULL, or per series per sample the start time (ms) of the point it
     * came from, for cumulative counter-like points (monotonic sums,
     * histograms, summaries) whose start_time_unix_nano is set and earlier
     * than the point; 0 otherwise. The aggregator puts a 0 sample at a start
     * time newer than the series' last sample: the counter restarted there,
     * so rate() and increase() see the reset even when the new value is
     * already above the old one (Prometheus' created-timestamp zero). */
    int64_t **start_ms;
    size_t nseries;
    size_t nsamples;
    size_t rejected_points; /* data points that could not be translated */
    size_t exemplars_dropped;
    char msg[256];          /* why points were rejected (for partial_success) */
} otlp_translate_result;

/* Translates a decoded ExportMetricsServiceRequest. Delta temporality: the
 * points of a delta sum or histogram are emitted as they are, with delta[i]
 * set, so that the aggregator (which owns the per-series state that survives
 * restarts and sees a retried batch only once) adds them to the stored
 * cumulative value. The translator itself keeps no state. */
sonde_status otlp_metrics_translate(arena *a, const void *request,
                                    const otlp_translate_config *cfg,
                                    otlp_translate_result *out);

/* ---- spans and log records: stored form, OTLP/JSON encoding (split.c, json_encode.c) ---- */

/* Splits a decoded ExportTraceServiceRequest into one stored value per span:
 * a packed ResourceSpans holding the resource (+ schema_url), one ScopeSpans
 * (scope + schema_url) and that one span; values live in the arena. Checks
 * each span: trace_id 16 bytes and not all zero, span_id 8 bytes and not all
 * zero, parent_span_id empty or 8 bytes, start and end below 2^63 ns,
 * end >= start (an unset end counts as 0), link ids 16/8 bytes. An invalid span is
 * counted in *rejected and the first reason goes to msg (for
 * partial_success, naming the span: "resourceSpans[0].scopeSpans[1].spans[2]:
 * ..."); valid ones go to fn in request order with start_ns (0 when unset).
 * fn returning non-OK stops the split with that status. SONDE_ERR_NOMEM /
 * SONDE_ERR_LIMIT when the arena refuses. */
typedef sonde_status (*otlp_span_fn)(void *ctx, const uint8_t trace_id[16],
                                     const uint8_t span_id[8], int64_t start_ns,
                                     const uint8_t *value, size_t len);
sonde_status otlp_traces_split(arena *a, const void *request, otlp_span_fn fn, void *ctx,
                               size_t *rejected, char *msg, size_t msglen);

/* The same for an ExportLogsServiceRequest. value: a packed ResourceLogs with
 * the resource (+ schema_url), one ScopeLogs and that one LogRecord. The
 * stream labels follow Loki 3's OTLP mapping: the resource attributes in
 * otlp_logs_index_attrs (service.name, k8s.pod.name, ...) become labels with
 * every character outside [A-Za-z0-9_] replaced by '_' (service.name ->
 * service_name), values as strings (ints in decimal, bools true/false,
 * doubles shortest, bytes base64, arrays and maps as JSON); empty values
 * are dropped; service_name="unknown_service" when the resource has no
 * service.name. Everything else (other resource attributes, scope, record
 * attributes) stays in the stored value, Loki's structured metadata. Labels
 * are canonical (sorted) and live in the arena. ts_ns = time_unix_nano,
 * else observed_time_unix_nano, else now_ns (Loki uses the receive time).
 * Rejected: a time >= 2^63 ns, trace_id not empty/16 bytes, span_id not
 * empty/8 bytes. */
/* What the log pipeline needs of a record besides its stored value: the body as text (a string
 * body as is, any other as otlp_anyvalue_text renders it; in the arena or the request) and its
 * severity (number 0: unset; text NULL or empty: unset). */
typedef struct otlp_log_info {
    const char *line;
    size_t line_len;
    bool line_is_body; /* the body is this string (not a rendering of another AnyValue) */
    int severity_number;
    const char *severity_text;
} otlp_log_info;
typedef sonde_status (*otlp_log_fn)(void *ctx, const sonde_label *stream, uint32_t nlabels,
                                    int64_t ts_ns, const uint8_t *value, size_t len,
                                    const otlp_log_info *info);
sonde_status otlp_logs_split(arena *a, const void *request, int64_t now_ns, otlp_log_fn fn,
                             void *ctx, size_t *rejected, char *msg, size_t msglen);

/* Loki 3's default resource attributes promoted to stream labels (OTLP names). */
extern const char *const otlp_logs_index_attrs[];
extern const size_t otlp_logs_index_nattrs;

/* Appends msg (any protobuf-c message of the OTLP protos, e.g. a
 * ResourceSpans or a TracesData) as OTLP/JSON, the mirror of the decoder:
 * lowerCamelCase names, default values omitted (a oneof member is always
 * written), traceId/spanId/parentSpanId as lowercase hex, other bytes as
 * base64, 64-bit integers as decimal strings, 32-bit integers and enums as
 * numbers, doubles shortest round-trip ("NaN", "Infinity", "-Infinity" as
 * strings). Decoding the output with otlp_request_decode(..JSON..) gives a
 * message that packs to the same bytes. On error out is left as it was.
 * SONDE_ERR_LIMIT (out's cap), SONDE_ERR_NOMEM, SONDE_ERR_INVALID (nesting
 * over 256). Thread: any. */
struct ProtobufCMessage;
sonde_status otlp_json_encode(buf *out, const struct ProtobufCMessage *msg);

/* Builds one TracesData (in the arena) from stored span values (packed
 * ResourceSpans as otlp_traces_split makes them, e.g. from
 * storage_trace_read): spans whose resource (+ schema_url) and scope (+
 * schema_url) are identical share one ResourceSpans / ScopeSpans; spans are
 * sorted by start time, then span id; resources and scopes come in the order
 * of their first span. A value that does not unpack is skipped and counted in
 * *bad (may be NULL). *traces_data is an
 * Opentelemetry__Proto__Trace__V1__TracesData. SONDE_ERR_NOMEM /
 * SONDE_ERR_LIMIT when the arena refuses. */
sonde_status otlp_traces_assemble(arena *a, const void *const *values, const size_t *lens,
                                  size_t n, void **traces_data, size_t *bad);

/* ---- attribute values ---- */

/* Appends an AnyValue (const Opentelemetry__Proto__Common__V1__AnyValue *)
 * as the attribute specification turns it into a string: strings as they
 * are, booleans and integers printed, doubles as ECMAScript prints them,
 * bytes in base64, arrays and maps as JSON. NULL appends nothing. Used for
 * label values (metrics, Loki stream labels) and LogQL's structured
 * metadata, so every path prints a value the same way. */
sonde_status otlp_anyvalue_text(buf *out, const void *anyvalue);

#endif
