/*
 * otlp_internal.h - private helpers shared by the files of sonde_otlp:
 * the arena-backed ProtobufCAllocator, error formatting, the field path
 * used in error messages ("resourceSpans[0].scopeSpans[1].spans[3].name"),
 * and the per-signal request descriptors.
 *
 * Thread: any (everything here works on caller-owned state).
 */
#ifndef SONDE_INGEST_OTLP_INTERNAL_H
#define SONDE_INGEST_OTLP_INTERNAL_H

#include <protobuf-c/protobuf-c.h>

#include "otlp.h"

#include "otlp_logs_service.pb-c.h"
#include "otlp_metrics_service.pb-c.h"
#include "otlp_trace_service.pb-c.h"

/* Formats into err (when non-NULL) and returns st. */
sonde_status otlp_err(char *err, size_t errlen, sonde_status st, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* One step of a field path: a field and, for a repeated field, the index of
 * the element (-1 for a singular field). */
typedef struct otlp_path_step {
    const ProtobufCFieldDescriptor *field;
    long idx;
} otlp_path_step;

typedef struct otlp_path {
    otlp_path_step *steps; /* capacity cap */
    unsigned n, cap;
} otlp_path;

/* Writes the path as lowerCamelCase JSON names followed by ": " and the
 * formatted message; returns st. */
sonde_status otlp_path_err(const otlp_path *p, char *err, size_t errlen, sonde_status st,
                           const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* Request descriptor of a signal; NULL for an unknown signal. */
const ProtobufCMessageDescriptor *otlp_request_descriptor(otlp_signal sig);

/* How a bytes field must be: trace/span ids are hex in JSON and have a
 * fixed length; everything else is base64 with no length rule. */
typedef enum otlp_id_kind {
    OTLP_ID_NONE = 0,
    OTLP_ID_TRACE, /* 16 bytes */
    OTLP_ID_SPAN,  /* 8 bytes */
} otlp_id_kind;

otlp_id_kind otlp_field_id_kind(const ProtobufCFieldDescriptor *f);

/* True for a repeated field of KeyValue: the attribute cap applies. */
bool otlp_field_is_attrs(const ProtobufCFieldDescriptor *f);

/* Protobuf pre-pass over the wire bytes: framing, nesting depth, wire types,
 * string sizes, UTF-8 and attribute counts. No allocation but the path. */
sonde_status otlp_wire_check(arena *a, const ProtobufCMessageDescriptor *desc, const uint8_t *in,
                             size_t n, const otlp_limits *lim, char *err, size_t errlen);

/* OTLP/JSON -> protobuf-c tree in the arena. */
sonde_status otlp_json_decode(arena *a, const ProtobufCMessageDescriptor *desc, const uint8_t *in,
                              size_t n, const otlp_limits *lim, ProtobufCMessage **out, char *err,
                              size_t errlen);

/* Rules both formats share after decoding: span and link ids must be
 * present with their exact sizes. */
sonde_status otlp_request_check(otlp_signal sig, const void *request, char *err, size_t errlen);

#endif
