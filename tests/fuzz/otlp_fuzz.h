/*
 * otlp_fuzz.h - the body shared by the OTLP request fuzz targets: decode one
 * request in the given format with small limits and a capped arena, and check
 * the invariant that an accepted request packs to protobuf that is accepted
 * again with the same item count, and that it survives an OTLP/JSON encode
 * and decode (otlp_fuzz_json_round_trip) and a split into stored rows
 * (otlp_fuzz_split). Any other status than INVALID, LIMIT or NOMEM aborts.
 */
#ifndef SONDE_OTLP_FUZZ_H
#define SONDE_OTLP_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ingest/otlp/otlp.h"
#include "otlp_trace.pb-c.h"

/* The JSON encoder mirrors the decoder: an accepted request encodes to JSON
 * that decodes (default caps: base64 bytes are longer than their input) to
 * the same item count and encodes to the same text again; from JSON input
 * (no unknown protobuf fields to lose) it also packs to the same bytes. */
static void otlp_fuzz_json_round_trip(arena *b, otlp_signal sig, otlp_format fmt, void *req,
                                      const otlp_limits *lim, size_t items)
{
    buf j1, j2;
    buf_init(&j1, (size_t)64 << 20);
    buf_init(&j2, (size_t)64 << 20);
    if (otlp_json_encode(&j1, (const struct ProtobufCMessage *)req) != SONDE_OK)
        abort();
    otlp_limits dl;
    otlp_limits_defaults(&dl);
    dl.max_depth = lim->max_depth;
    dl.max_attrs = lim->max_attrs;
    void *back;
    char err[256];
    if (otlp_request_decode(b, sig, OTLP_FORMAT_JSON, (const uint8_t *)j1.data, j1.len, &dl,
                            &back, err, sizeof err) != SONDE_OK)
        abort();
    if (otlp_request_items(sig, back) != items)
        abort();
    if (otlp_json_encode(&j2, (const struct ProtobufCMessage *)back) != SONDE_OK ||
        j1.len != j2.len || memcmp(j1.data, j2.data, j1.len) != 0)
        abort();
    if (fmt == OTLP_FORMAT_JSON) {
        uint8_t *p1, *p2;
        size_t n1, n2;
        if (otlp_request_pack(b, sig, req, &p1, &n1) != SONDE_OK ||
            otlp_request_pack(b, sig, back, &p2, &n2) != SONDE_OK || n1 != n2 ||
            memcmp(p1, p2, n1) != 0)
            abort();
    }
    buf_fini(&j1);
    buf_fini(&j2);
}

/* Splitting into stored rows: every item is either a row or rejected, and
 * the span rows assemble back into a trace with every span in it. */
typedef struct otlp_fuzz_rows {
    size_t n, cap;
    const void **v;
    size_t *len;
} otlp_fuzz_rows;

static sonde_status otlp_fuzz_on_span(void *ctx, const uint8_t trace_id[16],
                                      const uint8_t span_id[8], int64_t start_ns,
                                      const uint8_t *value, size_t len)
{
    otlp_fuzz_rows *r = ctx;
    (void)trace_id, (void)span_id;
    if (start_ns < 0 || r->n == r->cap)
        abort();
    r->v[r->n] = value;
    r->len[r->n++] = len;
    return SONDE_OK;
}

static sonde_status otlp_fuzz_on_log(void *ctx, const sonde_label *stream, uint32_t nlabels,
                                     int64_t ts_ns, const uint8_t *value, size_t len,
                                     const otlp_log_info *info)
{
    (void)info;
    otlp_fuzz_rows *r = ctx;
    (void)value, (void)len, (void)ts_ns;
    if (nlabels == 0 || !series_labels_get(stream, nlabels, "service_name", 12))
        abort();
    for (uint32_t i = 1; i < nlabels; i++)
        if (series_label_cmp(&stream[i - 1], &stream[i]) >= 0)
            abort();
    r->n++;
    return SONDE_OK;
}

static void otlp_fuzz_split(arena *b, otlp_signal sig, void *req, size_t items)
{
    otlp_fuzz_rows r = {0};
    size_t rejected = 0;
    char msg[128];
    sonde_status st = SONDE_OK;
    if (sig == OTLP_SIGNAL_TRACES) {
        r.cap = items;
        r.v = arena_calloc(b, items + 1, sizeof *r.v);
        r.len = arena_calloc(b, items + 1, sizeof *r.len);
        if (!r.v || !r.len)
            return;
        st = otlp_traces_split(b, req, otlp_fuzz_on_span, &r, &rejected, msg, sizeof msg);
    } else if (sig == OTLP_SIGNAL_LOGS) {
        st = otlp_logs_split(b, req, 1, otlp_fuzz_on_log, &r, &rejected, msg, sizeof msg);
    } else {
        return;
    }
    if (st != SONDE_OK || r.n + rejected != items)
        abort();
    if (sig == OTLP_SIGNAL_TRACES) {
        void *td;
        size_t bad = 1;
        if (otlp_traces_assemble(b, r.v, r.len, r.n, &td, &bad) != SONDE_OK || bad != 0)
            abort();
        const Opentelemetry__Proto__Trace__V1__TracesData *t = td;
        size_t n = 0;
        for (size_t i = 0; i < t->n_resource_spans; i++)
            for (size_t j = 0; j < t->resource_spans[i]->n_scope_spans; j++)
                n += t->resource_spans[i]->scope_spans[j]->n_spans;
        if (n != r.n)
            abort();
    }
}

static int otlp_fuzz_one(otlp_signal sig, otlp_format fmt, size_t cap, const uint8_t *body,
                         size_t len)
{
    otlp_limits lim;
    otlp_limits_defaults(&lim);
    lim.max_decoded = 1 << 20;
    lim.max_depth = 16;
    lim.max_attrs = 64;
    lim.max_str = 4096;
    arena *a = arena_create(1024, cap);
    if (!a)
        return 0;
    void *req;
    char err[256];
    sonde_status st = otlp_request_decode(a, sig, fmt, body, len, &lim, &req, err, sizeof err);
    if (st == SONDE_OK) {
        size_t items = otlp_request_items(sig, req);
        uint8_t *pb;
        size_t n;
        arena *b = arena_create(1024, 0);
        if (otlp_request_pack(b, sig, req, &pb, &n) != SONDE_OK)
            abort();
        void *again;
        if (otlp_request_decode(b, sig, OTLP_FORMAT_PROTOBUF, pb, n, &lim, &again, err,
                                sizeof err) != SONDE_OK)
            abort();
        if (otlp_request_items(sig, again) != items)
            abort();
        otlp_fuzz_json_round_trip(b, sig, fmt, req, &lim, items);
        otlp_fuzz_split(b, sig, req, items);
        arena_destroy(b);
    } else if (st != SONDE_ERR_INVALID && st != SONDE_ERR_LIMIT && st != SONDE_ERR_NOMEM) {
        abort();
    }
    arena_destroy(a);
    return 0;
}

#endif
