/*
 * remote_write.h - Prometheus remote-write 1.0 decoding and validation.
 *
 * rw_decode() takes the HTTP body exactly as received (snappy block format),
 * checks the declared uncompressed length against limits->max_decoded before
 * allocating, decompresses into the arena, unpacks the protobuf with protobuf-c
 * using the arena as ProtobufCAllocator, validates (label names non-empty and
 * unique, names and values valid UTF-8, Prometheus 3 rules), sorts labels a
 * sender left unsorted, and returns canonical sonde_series in the arena.
 * Stale-marker NaNs are preserved bit-exact.
 *
 * Thread: any (pure function of its inputs). Errors: SONDE_ERR_LIMIT (size
 * caps, including the arena's cap), SONDE_ERR_INVALID (snappy, protobuf or
 * validation), SONDE_ERR_NOMEM (malloc failed: transient, worth a retry).
 * err receives a message naming the offending series/label or the cap.
 */
#ifndef SONDE_REMOTE_WRITE_H
#define SONDE_REMOTE_WRITE_H

#include <stddef.h>
#include <stdint.h>

#include "../core/arena.h"
#include "../core/series.h"
#include "../core/status.h"

typedef struct rw_limits {
    size_t max_decoded;       /* max uncompressed bytes (default 64 MiB) */
    size_t max_series;        /* per request (default 1,000,000) */
    size_t max_labels;        /* per series (default 128) */
    size_t max_label_name;    /* bytes (default 1024) */
    size_t max_label_value;   /* bytes (default 16 KiB) */
} rw_limits;

void rw_limits_defaults(rw_limits *l);

/* One metadata entry (remote-write 1.0 field 3, sent by Prometheus but outside
 * the 1.0 spec). Strings point into the arena, are not NUL-terminated, and are
 * valid UTF-8; entries that are not are dropped. */
typedef struct rw_metadata {
    int type; /* 0 unknown, 1 counter, 2 gauge, 3 histogram, 4 gaugehistogram,
                 5 summary, 6 info, 7 stateset (Prometheus' MetricType) */
    const char *family;
    size_t family_len;
    const char *help;
    size_t help_len;
    const char *unit;
    size_t unit_len;
} rw_metadata;

typedef struct rw_result {
    sonde_series *series; /* only series with at least one float sample */
    size_t nseries;
    size_t nsamples;
    size_t nsorted; /* series whose labels we had to sort */
    /* Counted, not returned (not stored yet): native histogram samples and
     * exemplars. Lets the caller account for what it dropped. */
    size_t nhistograms;
    size_t nexemplars;
    rw_metadata *metadata;
    size_t nmetadata;
} rw_result;

/* limits NULL means rw_limits_defaults(). On success everything in *out lives
 * in the arena `a`; err gets a message on every failure (it is "" on success). */
sonde_status rw_decode(arena *a, const uint8_t *body, size_t len, const rw_limits *limits,
                       rw_result *out, char *err, size_t errlen);

/* Snappy block decompression with the cap checked before allocation
 * (exposed for tests and other snappy bodies such as Loki push). */
sonde_status rw_snappy_decode(arena *a, const uint8_t *in, size_t n, size_t max_out,
                              uint8_t **out, size_t *out_len, char *err, size_t errlen);

#endif
