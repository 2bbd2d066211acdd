/*
 * request.c - OTLP export requests: decode (protobuf or JSON) into the
 * protobuf-c tree, pack back to protobuf, count items, and encode the
 * export response with partial_success.
 *
 * Decoding protobuf is three steps: the wire pre-pass (wire.c: framing,
 * depth, UTF-8, sizes), protobuf-c unpack with the arena as allocator, and
 * the checks both formats share (span/link ids present with their sizes).
 * JSON goes through json.c and json_map.c into the same tree, then the
 * same shared checks.
 *
 * Thread: any. The decoded tree lives in the caller's arena and is never
 * freed piecemeal (the allocator's free is a no-op).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "otlp_internal.h"

typedef Opentelemetry__Proto__Collector__Trace__V1__ExportTraceServiceRequest trace_req;
typedef Opentelemetry__Proto__Collector__Metrics__V1__ExportMetricsServiceRequest metrics_req;
typedef Opentelemetry__Proto__Collector__Logs__V1__ExportLogsServiceRequest logs_req;
typedef Opentelemetry__Proto__Metrics__V1__Metric metric;

/* max_depth above this is clamped: recursion depth must stay small */
#define OTLP_DEPTH_CEILING 256

void otlp_limits_defaults(otlp_limits *l)
{
    l->max_decoded = (size_t)64 << 20;
    l->max_depth = 32;
    l->max_attrs = 1024;
    l->max_str = (size_t)1 << 20;
}

static sonde_status otlp_check_id(const ProtobufCBinaryData *id, size_t want, const char *what,
                                  size_t r, size_t s, size_t sp, const char *link, size_t l,
                                  char *err, size_t errlen)
{
    if (id->len == want)
        return SONDE_OK;
    if (link)
        return otlp_err(err, errlen, SONDE_ERR_INVALID,
                        "resourceSpans[%zu].scopeSpans[%zu].spans[%zu].%s[%zu].%s: "
                        "%zu bytes, expected %zu",
                        r, s, sp, link, l, what, (size_t)id->len, want);
    return otlp_err(err, errlen, SONDE_ERR_INVALID,
                    "resourceSpans[%zu].scopeSpans[%zu].spans[%zu].%s: %zu bytes, expected %zu", r,
                    s, sp, what, (size_t)id->len, want);
}

sonde_status otlp_request_check(otlp_signal sig, const void *request, char *err, size_t errlen)
{
    if (sig != OTLP_SIGNAL_TRACES)
        return SONDE_OK; /* log and exemplar ids may be empty; sizes checked at decode */
    const trace_req *req = request;
    sonde_status st;
    for (size_t r = 0; r < req->n_resource_spans; r++) {
        const Opentelemetry__Proto__Trace__V1__ResourceSpans *rs = req->resource_spans[r];
        for (size_t s = 0; s < rs->n_scope_spans; s++) {
            const Opentelemetry__Proto__Trace__V1__ScopeSpans *ss = rs->scope_spans[s];
            for (size_t i = 0; i < ss->n_spans; i++) {
                const Opentelemetry__Proto__Trace__V1__Span *sp = ss->spans[i];
                if ((st = otlp_check_id(&sp->trace_id, 16, "traceId", r, s, i, NULL, 0, err,
                                        errlen)) != SONDE_OK ||
                    (st = otlp_check_id(&sp->span_id, 8, "spanId", r, s, i, NULL, 0, err,
                                        errlen)) != SONDE_OK)
                    return st;
                for (size_t l = 0; l < sp->n_links; l++) {
                    const Opentelemetry__Proto__Trace__V1__Span__Link *ln = sp->links[l];
                    if ((st = otlp_check_id(&ln->trace_id, 16, "traceId", r, s, i, "links", l, err,
                                            errlen)) != SONDE_OK ||
                        (st = otlp_check_id(&ln->span_id, 8, "spanId", r, s, i, "links", l, err,
                                            errlen)) != SONDE_OK)
                        return st;
                }
            }
        }
    }
    return SONDE_OK;
}

sonde_status otlp_request_decode(arena *a, otlp_signal sig, otlp_format fmt, const uint8_t *body,
                                 size_t len, const otlp_limits *lim, void **request, char *err,
                                 size_t errlen)
{
    otlp_limits eff;
    if (lim)
        eff = *lim;
    else
        otlp_limits_defaults(&eff);
    /* the wire walk and the JSON mapper recurse once per level */
    if (eff.max_depth > OTLP_DEPTH_CEILING)
        eff.max_depth = OTLP_DEPTH_CEILING;
    lim = &eff;
    const ProtobufCMessageDescriptor *desc = otlp_request_descriptor(sig);
    if (!desc)
        return otlp_err(err, errlen, SONDE_ERR_INVALID, "otlp: unknown signal %d", (int)sig);
    if (len > lim->max_decoded)
        return otlp_err(err, errlen, SONDE_ERR_LIMIT,
                        "otlp: request of %zu bytes exceeds %zu (max_decoded)", len,
                        lim->max_decoded);
    if (!body)
        body = (const uint8_t *)"";

    ProtobufCMessage *msg = NULL;
    sonde_status st;
    if (fmt == OTLP_FORMAT_PROTOBUF) {
        if ((st = otlp_wire_check(a, desc, body, len, lim, err, errlen)) != SONDE_OK)
            return st;
        arena_bump pa;
        arena_bump_init(&pa, a);
        ProtobufCAllocator pc = {arena_bump_alloc, arena_bump_free, &pa};
        msg = protobuf_c_message_unpack(desc, &pc, len, body);
        if (!msg) {
            if (pa.refused)
                return otlp_err(err, errlen, SONDE_ERR_NOMEM,
                                "otlp: request of %zu bytes exceeds the memory cap", len);
            return otlp_err(err, errlen, SONDE_ERR_INVALID, "protobuf: malformed %s",
                            desc->short_name);
        }
    } else if (fmt == OTLP_FORMAT_JSON) {
        if ((st = otlp_json_decode(a, desc, body, len, lim, &msg, err, errlen)) != SONDE_OK)
            return st;
    } else {
        return otlp_err(err, errlen, SONDE_ERR_UNSUPPORTED, "otlp: unknown format %d", (int)fmt);
    }
    if ((st = otlp_request_check(sig, msg, err, errlen)) != SONDE_OK)
        return st;
    *request = msg;
    return SONDE_OK;
}

sonde_status otlp_request_pack(arena *a, otlp_signal sig, const void *request, uint8_t **out,
                               size_t *out_len)
{
    if (!otlp_request_descriptor(sig) || !request)
        return SONDE_ERR_INVALID;
    const ProtobufCMessage *m = request;
    size_t n = protobuf_c_message_get_packed_size(m);
    uint8_t *p = arena_alloc(a, n ? n : 1);
    if (!p)
        return SONDE_ERR_NOMEM;
    size_t w = protobuf_c_message_pack(m, p);
    if (w != n)
        return SONDE_ERR_INTERNAL;
    *out = p;
    *out_len = n;
    return SONDE_OK;
}

static size_t otlp_metric_points(const metric *m)
{
    switch (m->data_case) {
    case OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_GAUGE:
        return m->gauge->n_data_points;
    case OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_SUM:
        return m->sum->n_data_points;
    case OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_HISTOGRAM:
        return m->histogram->n_data_points;
    case OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_EXPONENTIAL_HISTOGRAM:
        return m->exponential_histogram->n_data_points;
    case OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_SUMMARY:
        return m->summary->n_data_points;
    default:
        return 0;
    }
}

size_t otlp_request_items(otlp_signal sig, const void *request)
{
    size_t n = 0;
    if (!request)
        return 0;
    switch (sig) {
    case OTLP_SIGNAL_TRACES: {
        const trace_req *r = request;
        for (size_t i = 0; i < r->n_resource_spans; i++)
            for (size_t j = 0; j < r->resource_spans[i]->n_scope_spans; j++)
                n += r->resource_spans[i]->scope_spans[j]->n_spans;
        break;
    }
    case OTLP_SIGNAL_METRICS: {
        const metrics_req *r = request;
        for (size_t i = 0; i < r->n_resource_metrics; i++)
            for (size_t j = 0; j < r->resource_metrics[i]->n_scope_metrics; j++) {
                const Opentelemetry__Proto__Metrics__V1__ScopeMetrics *sm =
                    r->resource_metrics[i]->scope_metrics[j];
                for (size_t k = 0; k < sm->n_metrics; k++)
                    n += otlp_metric_points(sm->metrics[k]);
            }
        break;
    }
    case OTLP_SIGNAL_LOGS: {
        const logs_req *r = request;
        for (size_t i = 0; i < r->n_resource_logs; i++)
            for (size_t j = 0; j < r->resource_logs[i]->n_scope_logs; j++)
                n += r->resource_logs[i]->scope_logs[j]->n_log_records;
        break;
    }
    }
    return n;
}

/* ---- responses ---- */

static sonde_status otlp_pack_append(buf *out, const ProtobufCMessage *m)
{
    size_t n = protobuf_c_message_get_packed_size(m);
    if (n == 0)
        return SONDE_OK;
    uint8_t *tmp = malloc(n);
    if (!tmp)
        return SONDE_ERR_NOMEM;
    protobuf_c_message_pack(m, tmp);
    sonde_status st = buf_append(out, tmp, n);
    free(tmp);
    return st;
}

sonde_status otlp_response_encode(buf *out, otlp_signal sig, otlp_format fmt, int64_t rejected,
                                  const char *msg)
{
    static const char *const json_field[] = {"rejectedSpans", "rejectedDataPoints",
                                             "rejectedLogRecords"};
    if ((unsigned)sig > OTLP_SIGNAL_LOGS)
        return SONDE_ERR_INVALID;
    bool partial = rejected != 0 || msg != NULL;
    char *emsg = (char *)(msg ? msg : "");

    if (fmt == OTLP_FORMAT_JSON) {
        if (!partial)
            return buf_puts(out, "{}");
        size_t mark = out->len;
        sonde_status st = buf_puts(out, "{\"partialSuccess\":{");
        if (st == SONDE_OK && rejected != 0)
            st = buf_printf(out, "\"%s\":\"%lld\"%s", json_field[sig], (long long)rejected,
                            msg ? "," : "");
        if (st == SONDE_OK && msg) {
            st = buf_puts(out, "\"errorMessage\":");
            if (st == SONDE_OK)
                st = buf_json_str(out, msg, strlen(msg));
        }
        if (st == SONDE_OK)
            st = buf_puts(out, "}}");
        if (st != SONDE_OK) {
            out->len = mark; /* no half response */
            if (out->data && out->len)
                out->data[out->len] = 0;
        }
        return st;
    }
    if (fmt != OTLP_FORMAT_PROTOBUF)
        return SONDE_ERR_UNSUPPORTED;
    if (!partial)
        return SONDE_OK; /* an empty message packs to zero bytes */

    switch (sig) {
    case OTLP_SIGNAL_TRACES: {
        Opentelemetry__Proto__Collector__Trace__V1__ExportTracePartialSuccess ps =
            OPENTELEMETRY__PROTO__COLLECTOR__TRACE__V1__EXPORT_TRACE_PARTIAL_SUCCESS__INIT;
        Opentelemetry__Proto__Collector__Trace__V1__ExportTraceServiceResponse r =
            OPENTELEMETRY__PROTO__COLLECTOR__TRACE__V1__EXPORT_TRACE_SERVICE_RESPONSE__INIT;
        ps.rejected_spans = rejected;
        ps.error_message = emsg;
        r.partial_success = &ps;
        return otlp_pack_append(out, &r.base);
    }
    case OTLP_SIGNAL_METRICS: {
        Opentelemetry__Proto__Collector__Metrics__V1__ExportMetricsPartialSuccess ps =
            OPENTELEMETRY__PROTO__COLLECTOR__METRICS__V1__EXPORT_METRICS_PARTIAL_SUCCESS__INIT;
        Opentelemetry__Proto__Collector__Metrics__V1__ExportMetricsServiceResponse r =
            OPENTELEMETRY__PROTO__COLLECTOR__METRICS__V1__EXPORT_METRICS_SERVICE_RESPONSE__INIT;
        ps.rejected_data_points = rejected;
        ps.error_message = emsg;
        r.partial_success = &ps;
        return otlp_pack_append(out, &r.base);
    }
    case OTLP_SIGNAL_LOGS: {
        Opentelemetry__Proto__Collector__Logs__V1__ExportLogsPartialSuccess ps =
            OPENTELEMETRY__PROTO__COLLECTOR__LOGS__V1__EXPORT_LOGS_PARTIAL_SUCCESS__INIT;
        Opentelemetry__Proto__Collector__Logs__V1__ExportLogsServiceResponse r =
            OPENTELEMETRY__PROTO__COLLECTOR__LOGS__V1__EXPORT_LOGS_SERVICE_RESPONSE__INIT;
        ps.rejected_log_records = rejected;
        ps.error_message = emsg;
        r.partial_success = &ps;
        return otlp_pack_append(out, &r.base);
    }
    }
    return SONDE_ERR_INVALID;
}
