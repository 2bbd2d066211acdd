/*
 * loki.h - the Loki push API's bodies (POST /loki/api/v1/push) decoded into
 * streams of entries, validated as Loki validates them, and each entry's
 * stored form.
 *
 * Bodies:
 *   JSON      {"streams":[{"stream":{"name":"value",...},
 *                          "values":[["<unix ns, string>","<line>",{metadata}],...]}]}
 *             (the optional third element is structured metadata);
 *   protobuf  logproto.PushRequest, snappy block format (the caller passes
 *             the body as received; the snappy length is checked before
 *             allocation), stream labels as a selector string {a="b",...}.
 *
 * Validation follows Loki's distributor: a stream needs at least one label,
 * valid label names ([a-zA-Z_][a-zA-Z0-9_]*), valid UTF-8, no duplicate
 * names, at most max_labels labels and bounded name/value sizes, or all its
 * entries are refused; an entry whose line is longer than max_line, or whose
 * timestamp is older than max_age or newer than max_future, is refused on
 * its own. Refused entries are removed from the result and counted, with a
 * message in Loki's words for the first ones; the rest can be stored.
 *
 * Everything lives in the caller's arena. Pure functions, any thread.
 * Errors: SONDE_ERR_INVALID (malformed body: the whole request is refused),
 * SONDE_ERR_LIMIT (a size or count cap), SONDE_ERR_NOMEM (arena).
 */
#ifndef SONDE_INGEST_LOKI_H
#define SONDE_INGEST_LOKI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../../core/arena.h"
#include "../../core/series.h"
#include "../../core/status.h"

typedef struct loki_limits {
    size_t max_decoded;     /* bytes after snappy / gzip (default 64 MiB) */
    size_t max_line;        /* bytes per line (Loki's max_line_size: 256 KiB) */
    uint32_t max_labels;    /* labels per stream (Loki's max_label_names_per_series: 15) */
    size_t max_name;        /* bytes per label name (1024) */
    size_t max_value;       /* bytes per label value (2048) */
    uint32_t max_metadata;  /* structured-metadata pairs per entry (128) */
    int64_t max_age_ns;     /* reject_old_samples_max_age (168h); 0: no check */
    int64_t max_future_ns;  /* creation_grace_period (10m); 0: no check */
} loki_limits;

void loki_limits_defaults(loki_limits *l);

typedef struct loki_entry {
    int64_t ts_ns;
    const char *line;
    size_t line_len;
    sonde_label *meta; /* structured metadata, in the order sent */
    uint32_t nmeta;
} loki_entry;

typedef struct loki_stream {
    sonde_label *labels; /* canonical: sorted, unique */
    uint32_t nlabels;
    loki_entry *entries;
    size_t nentries;
} loki_stream;

typedef struct loki_push {
    loki_stream *streams;
    size_t nstreams;
    size_t nentries;    /* kept entries, all streams */
    size_t line_bytes;  /* bytes of the kept lines */
    size_t rejected;    /* entries refused by validation */
    char msg[2048];     /* why (the first reasons, Loki's wording) */
} loki_push;

/* Decodes and validates a JSON body (already content-decoded). now_ns is
 * the reference time for the age checks. */
sonde_status loki_push_decode_json(arena *a, const uint8_t *body, size_t len,
                                   const loki_limits *lim, int64_t now_ns, loki_push *out,
                                   char *err, size_t errlen);
/* Decodes and validates a snappy-compressed protobuf PushRequest. */
sonde_status loki_push_decode_proto(arena *a, const uint8_t *body, size_t len,
                                    const loki_limits *lim, int64_t now_ns, loki_push *out,
                                    char *err, size_t errlen);

/* Parses a stream selector with equality matchers only, {a="b", c="d"}
 * (Go string escapes in values), into canonical labels. */
sonde_status loki_labels_parse(arena *a, const char *s, size_t n, sonde_label **out,
                               uint32_t *nout, char *err, size_t errlen);

/* Writes labels as Loki prints a stream: {a="b", c="d"} (Go-quoted values). */
size_t loki_labels_format(const sonde_label *l, uint32_t n, char *out, size_t cap);

/* The stored form of one entry: a packed OTLP ResourceLogs holding one
 * ScopeLogs with one LogRecord (time_unix_nano = ts, body = the line as a
 * string, attributes = the structured metadata), the same form OTLP logs
 * are stored in, so the log reader has one format. */
sonde_status loki_entry_pack(arena *a, const loki_entry *e, uint8_t **out, size_t *len);

#endif
