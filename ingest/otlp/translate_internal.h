/*
 * translate_internal.h - the pieces of the OTLP metrics -> Prometheus
 * translation (translate*.c) that are pure functions, shared between the
 * translation files and exercised directly by tests/unit/otlp/test_translate.c.
 *
 * Thread: any; no state. Strings are written into a caller's buf (core/buf.h,
 * capped), so a failing append (SONDE_ERR_LIMIT / SONDE_ERR_NOMEM) leaves
 * nothing half-written that matters: the caller drops the buf content.
 */
#ifndef SONDE_INGEST_OTLP_TRANSLATE_INTERNAL_H
#define SONDE_INGEST_OTLP_TRANSLATE_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../../core/buf.h"
#include "../../core/status.h"
#include "otlp_common.pb-c.h"

/* The metric kinds the name rules tell apart (otlptranslator.MetricType). */
typedef enum otlp_tr_kind {
    OTLP_TR_GAUGE = 0,
    OTLP_TR_COUNTER, /* monotonic Sum (cumulative or delta): gets _total */
    OTLP_TR_UPDOWN,  /* non-monotonic Sum: named like a gauge, but no _ratio */
    OTLP_TR_HISTOGRAM,
    OTLP_TR_EXPHIST,
    OTLP_TR_SUMMARY,
} otlp_tr_kind;

/* Label-name sanitising knobs. The defaults follow the OTel specification
 * (runs of '_' collapse: MUST; "_x" is a valid key as it is). Prometheus 3's
 * defaults (config.DefaultOTLPConfig) would be underscore_prefix = true and
 * preserve_underscores = true. */
typedef struct otlp_tr_label_opts {
    bool keep;                 /* NoTranslation: UTF-8 names kept as they are */
    bool underscore_prefix;    /* "_x" (not "__x") -> "key_x" */
    bool preserve_underscores; /* invalid runes -> one '_' each, runs kept */
} otlp_tr_label_opts;

extern const otlp_tr_label_opts otlp_tr_label_defaults;

/* Appends the Prometheus metric family name of an OTLP metric to b.
 * keep == false: UnderscoreEscapingWithSuffixes (sanitise, unit suffix,
 * _total, _ratio); keep == true: NoTranslation (the name unchanged).
 * SONDE_ERR_INVALID (err says why) when the result would be empty or only
 * underscores. */
sonde_status otlp_tr_metric_name(buf *b, const char *name, const char *unit, otlp_tr_kind kind,
                                 bool keep, char *err, size_t errlen);

/* Appends the sanitised label name for an attribute key to b.
 * SONDE_ERR_INVALID (err says why) for an empty key or one that is only
 * underscores after sanitising. */
sonde_status otlp_tr_label_name(buf *b, const char *key, size_t n, const otlp_tr_label_opts *o,
                                char *err, size_t errlen);

/* Appends an AnyValue as a label value: the OTel "AnyValue representation for
 * non-OTLP protocols" as Prometheus (pdata Value.AsString) writes it. A NULL
 * or unset value is the empty string. */
sonde_status otlp_tr_value_str(buf *b, const Opentelemetry__Proto__Common__V1__AnyValue *v);

/* Appends a double as ES6 / Go encoding/json does (shortest round-trip,
 * exponent form below 1e-6 and from 1e21); NaN, Infinity, -Infinity. */
sonde_status otlp_tr_es6_float(buf *b, double v);

/* ---- exponential histogram -> classic buckets ---- */

/* At most this many finite buckets (negative + zero + positive) per point;
 * the scale is reduced (adjacent buckets merged) until the point fits. */
#define OTLP_TR_EXPHIST_MAX_BUCKETS 160
/* Scales above this are reduced first, as Prometheus does for native
 * histograms (schema 8 is the finest it stores). */
#define OTLP_TR_EXPHIST_MAX_SCALE 8

typedef struct otlp_tr_bucket {
    double le;      /* upper bound, ascending, finite */
    uint64_t count; /* cumulative: observations <= le */
} otlp_tr_bucket;

/* Converts the buckets of one exponential histogram point into classic
 * cumulative buckets (see translate_exphist.c for the mapping). out must
 * have room for npos + nneg + 1 entries; returns how many were written.
 * *out_scale gets the scale the bounds were computed at. The +Inf bucket is
 * not included (it is the point's count). */
size_t otlp_tr_exphist_buckets(int32_t scale, double zero_threshold, uint64_t zero_count,
                               int32_t pos_offset, const uint64_t *pos, size_t npos,
                               int32_t neg_offset, const uint64_t *neg, size_t nneg,
                               otlp_tr_bucket *out, int32_t *out_scale);

#endif
