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

#endif
