/*
 * router_otlp.c - OTLP export requests on every listener:
 *
 *   OTLP/HTTP  POST /v1/traces, /v1/metrics, /v1/logs
 *              (application/x-protobuf or application/json; Content-Encoding
 *              gzip, zstd or identity)
 *   OTLP/gRPC  /opentelemetry.proto.collector.{trace,metrics,logs}.v1.
 *              {Trace,Metrics,Logs}Service/Export over HTTP/2 (h2c), one
 *              length-prefixed message, grpc-encoding gzip/zstd/identity
 *
 * Each request is decoded on the net thread into one arena (content
 * decoding bounded by --max-decoded-size, protobuf depth and UTF-8 checked
 * by the otlp library), turned into one storage batch and committed through
 * ingest_router_store, like remote write:
 *   metrics -> Prometheus series (otlp_metrics_translate), logged as the
 *              protobuf request and applied by the aggregator;
 *   traces  -> one row per span (otlp_traces_split), written to the spans
 *              and trace_index column families in the commit itself;
 *   logs    -> one row per record (otlp_logs_split, Loki 3 stream labels),
 *              written to the logs and log_streams column families.
 * The batch id is the content hash of the protobuf form, so a retried
 * request (even one re-sent as JSON) is committed once.
 *
 * Answers: 200 with the Export*ServiceResponse in the request's format,
 * with partial_success when items were refused. Errors are HTTP statuses
 * here (400 bad data, 413 caps, 415 media type or encoding, 503 +
 * Retry-After overload); ingest_router_seal turns them into what the
 * protocol wants just before the response is written: a google.rpc.Status
 * body for OTLP/HTTP, grpc-status / grpc-message for gRPC (UNAVAILABLE for
 * overload, INVALID_ARGUMENT for bad data, RESOURCE_EXHAUSTED for caps).
 *
 * Threads: the owning net thread.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "core/log.h"
#include "core/timeutil.h"
#include "ingest/ingest_internal.h"
#include "otlp_metrics_service.pb-c.h"

typedef struct otlp_route {
    const char *http_path;
    const char *grpc_path;
    otlp_signal sig;
    ingest_handler handler;
} otlp_route;

static const otlp_route otlp_routes[] = {
    {"/v1/traces", "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
     OTLP_SIGNAL_TRACES, INGEST_H_OTLP_TRACES},
    {"/v1/metrics", "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export",
     OTLP_SIGNAL_METRICS, INGEST_H_OTLP_METRICS},
    {"/v1/logs", "/opentelemetry.proto.collector.logs.v1.LogsService/Export", OTLP_SIGNAL_LOGS,
     INGEST_H_OTLP_LOGS},
};
#define OTLP_NROUTES (sizeof otlp_routes / sizeof otlp_routes[0])

/* The media type of a Content-Type (before any ';' parameters), trimmed. */
static void otlp_media_type(const http_header *h, const char **p, size_t *n)
{
    size_t b = 0, e = 0;
    while (e < h->value_len && h->value[e] != ';')
        e++;
    while (b < e && (h->value[b] == ' ' || h->value[b] == '\t'))
        b++;
    while (e > b && (h->value[e - 1] == ' ' || h->value[e - 1] == '\t'))
        e--;
    *p = h->value + b;
    *n = e - b;
}

static bool otlp_media_type_is(const http_header *h, const char *mt)
{
    const char *p;
    size_t n;
    otlp_media_type(h, &p, &n);
    return n == strlen(mt) && strncasecmp(p, mt, n) == 0;
}

/* application/grpc, application/grpc+proto, application/grpc+<anything> */
static bool otlp_is_grpc(const http_request *req)
{
    const http_header *ct = http_request_header(req, "content-type");
    if (!ct)
        return false;
    const char *p;
    size_t n;
    otlp_media_type(ct, &p, &n);
    return n >= 16 && strncasecmp(p, "application/grpc", 16) == 0 && (n == 16 || p[16] == '+');
}

static bool otlp_path_is(const http_request *req, const char *p)
{
    return req->path_len == strlen(p) && memcmp(req->path, p, req->path_len) == 0;
}

bool ingest_router_otlp_match(ingest_req *r)
{
    bool grpc = otlp_is_grpc(&r->http);
    for (size_t i = 0; i < OTLP_NROUTES; i++) {
        if (otlp_path_is(&r->http, grpc ? otlp_routes[i].grpc_path : otlp_routes[i].http_path)) {
            r->otlp = true;
            r->grpc = grpc && r->stream_id != 0;
            r->otlp_sig = otlp_routes[i].sig;
            r->handler = otlp_routes[i].handler;
            return true;
        }
    }
    if (!grpc)
        return false;
    /* a gRPC call for a method we do not serve: UNIMPLEMENTED */
    r->otlp = true;
    r->grpc = r->stream_id != 0;
    r->handler = INGEST_H_OTHER;
    return true;
}

static void otlp_reject(ingest_ctx *ctx, ingest_req *r, int status, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void otlp_reject(ingest_ctx *ctx, ingest_req *r, int status, const char *fmt, ...)
{
    char msg[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    ingest_router_reject(ctx, r, "", status, msg);
    if (status == 503 || status == 429)
        r->resp.retry_after_s = 1;
}

/* Decoding failures of the body: content decoding, framing, OTLP decoding. */
static void otlp_failed(ingest_ctx *ctx, ingest_req *r, sonde_status st, int limit_status,
                        const char *what, const char *err)
{
    if (st == SONDE_ERR_NOMEM) {
        otlp_reject(ctx, r, 503, "out of memory decoding the request; retry");
        return;
    }
    const char *e = err[0] ? err : sonde_status_name(st);
    if (st == SONDE_ERR_UNSUPPORTED)
        otlp_reject(ctx, r, 415, "%s: %s", what, e);
    else if (st == SONDE_ERR_LIMIT)
        otlp_reject(ctx, r, limit_status, "%s: %s", what, e);
    else
        otlp_reject(ctx, r, 400, "%s: %s", what, e);
}

/* Lower-cases a Content-Encoding / grpc-encoding value into enc; false when
 * it is not one we decode. An absent header leaves enc empty. */
static bool otlp_encoding(const http_request *req, const char *header, char enc[16])
{
    enc[0] = 0;
    const http_header *h = http_request_header(req, header);
    if (!h)
        return true;
    if (h->value_len >= 16)
        return false;
    for (size_t i = 0; i < h->value_len; i++)
        enc[i] = (char)((h->value[i] >= 'A' && h->value[i] <= 'Z') ? h->value[i] + 32 : h->value[i]);
    enc[h->value_len] = 0;
    return strcmp(enc, "gzip") == 0 || strcmp(enc, "zstd") == 0 || strcmp(enc, "identity") == 0;
}

/* ---- per-signal batch building ---- */

typedef struct otlp_rows {
    storage_batch *b;
    size_t n;
    /* logs: the tenant's active-stream limit, checked once per stream run */
    ingest_limits *limits;
    const char *tenant;
    int64_t now_ms;
    uint64_t last_stream;
    bool last_admitted;
    size_t refused; /* records of streams over the limit */
    ingest_logrows lr; /* logs: the accepted records, for ingest_logrows_fill */
} otlp_rows;

static sonde_status otlp_span_row(void *ctx, const uint8_t trace_id[16], const uint8_t span_id[8],
                                  int64_t start_ns, const uint8_t *value, size_t len)
{
    otlp_rows *rows = ctx;
    sonde_status st = storage_batch_add_span(rows->b, trace_id, span_id, start_ns, value, len);
    if (st == SONDE_OK)
        rows->n++;
    return st;
}

static sonde_status otlp_log_row(void *ctx, const sonde_label *stream, uint32_t nlabels,
                                 int64_t ts_ns, const uint8_t *value, size_t len,
                                 const otlp_log_info *info)
{
    otlp_rows *rows = ctx;
    uint64_t h = series_labels_hash(stream, nlabels);
    if (rows->n + rows->refused == 0 || h != rows->last_stream) {
        rows->last_stream = h;
        rows->last_admitted =
            ingest_limits_stream_admit(rows->limits, rows->tenant, h, rows->now_ms);
    }
    if (!rows->last_admitted) {
        rows->refused++;
        return SONDE_OK;
    }
    /* OTLP severity numbers: 13-16 WARN, 17-20 ERROR, 21-24 FATAL */
    int warn = info->severity_number > 0 ? info->severity_number >= 13
               : info->severity_text && info->severity_text[0]
                   ? sampling_level_is_warn(info->severity_text, strlen(info->severity_text))
                   : -1;
    sonde_status st = ingest_logrows_add(&rows->lr, stream, nlabels, h, ts_ns, value, len,
                                         info->line, info->line_len, warn, info->line_is_body);
    if (st == SONDE_OK)
        rows->n++;
    return st;
}

/* Records why items were refused, for partial_success and the log. */
static void otlp_note_rejected(ingest_ctx *ctx, ingest_req *r, size_t n, const char *msg)
{
    r->otlp_rejected = (int64_t)n;
    if (n == 0)
        return;
    ingest_metrics_otlp(ctx->metrics, r->otlp_sig, 0, n);
    const char *m = msg && msg[0] ? msg : "items rejected";
    r->otlp_msg = arena_strndup(r->arena, m, strlen(m));
    log_debug("ingest.otlp_rejected", "tenant=%s signal=%d items=%zu msg=\"%s\"", r->http.tenant,
              (int)r->otlp_sig, n, m);
}

/* Metrics: translated series, logged as the protobuf request. NULL with
 * *answered false: nothing to store (a success, maybe partial). */
static storage_batch *otlp_metrics_batch(ingest_ctx *ctx, ingest_req *r, void *rq, arena *dec,
                                         const uint8_t *payload, size_t plen, size_t *nitems,
                                         uint64_t *memory, bool *answered)
{
    *answered = true;
    otlp_translate_result res;
    memset(&res, 0, sizeof res);
    sonde_status st = otlp_metrics_translate(dec, rq, &ctx->otlp_tc, &res);
    if (st != SONDE_OK) {
        arena_destroy(dec);
        otlp_failed(ctx, r, st, 400, "cannot translate the metrics", res.msg);
        return NULL;
    }
    ingest_metrics_exemplars_dropped(ctx->metrics, res.exemplars_dropped);
    otlp_note_rejected(ctx, r, res.rejected_points, res.msg);
    *nitems = otlp_request_items(OTLP_SIGNAL_METRICS, rq) - res.rejected_points;
    if (res.nseries == 0 || res.nsamples == 0) {
        arena_destroy(dec);
        *answered = false;
        return NULL;
    }
    const storage_series_meta *meta = NULL;
    if (ingest_otlp_meta(dec, &res, &meta) != SONDE_OK) {
        arena_destroy(dec);
        otlp_reject(ctx, r, 503, "out of memory; retry");
        return NULL;
    }
    *memory = arena_used(dec);
    storage_batch *b = storage_batch_create(r->http.tenant, STORAGE_BATCH_OTLP_METRICS_V1, payload,
                                            plen, dec, res.series, res.nseries);
    if (!b) {
        otlp_reject(ctx, r, 503, "out of memory");
        return NULL;
    }
    storage_batch_set_meta(b, meta);
    return b;
}

/* Traces and logs: one row per valid item, durable in the commit itself.
 * The batch copies the rows, so dec is freed here either way (the batch
 * holds no decoded arena). NULL with *answered false: nothing to store. */
static storage_batch *otlp_rows_batch(ingest_ctx *ctx, ingest_req *r, void *rq, arena *dec,
                                      const uint8_t *payload, size_t plen, size_t *nitems,
                                      uint64_t *memory, bool *answered)
{
    *answered = true;
    bool traces = r->otlp_sig == OTLP_SIGNAL_TRACES;
    storage_batch *b = storage_batch_create(
        r->http.tenant, traces ? STORAGE_BATCH_OTLP_TRACES_V1 : STORAGE_BATCH_OTLP_LOGS_V1,
        payload, plen, NULL, NULL, 0);
    if (!b) {
        arena_destroy(dec);
        otlp_reject(ctx, r, 503, "out of memory");
        return NULL;
    }
    otlp_rows rows = {.b = b, .limits = ctx->limits, .tenant = r->http.tenant,
                      .now_ms = time_now_ms(), .lr = {.a = dec}};
    size_t rejected = 0;
    char msg[512] = "";
    if (!traces && !ingest_limits_rate_take(ctx->limits, r->http.tenant, plen, rows.now_ms)) {
        /* Loki's limit on OTLP logs too, in bytes of the request */
        storage_batch_destroy(b);
        arena_destroy(dec);
        otlp_reject(ctx, r, 429,
                    "Ingestion rate limit exceeded for user %s (limit: %llu bytes/sec) while "
                    "attempting to ingest '%zu' lines totaling '%zu' bytes, reduce log volume "
                    "or contact your Loki administrator to see if the limit can be increased",
                    r->http.tenant, (unsigned long long)ctx->cfg->logs_rate,
                    otlp_request_items(OTLP_SIGNAL_LOGS, rq), plen);
        return NULL;
    }
    sonde_status st =
        traces ? otlp_traces_split(dec, rq, otlp_span_row, &rows, &rejected, msg, sizeof msg)
               : otlp_logs_split(dec, rq, time_now_ms() * 1000000, otlp_log_row, &rows, &rejected,
                                 msg, sizeof msg);
    size_t kept = 0;
    if (!traces && st == SONDE_OK)
        st = ingest_logrows_fill(ctx, r, &rows.lr, b, &kept);
    arena_destroy(dec); /* the rows are copies */
    if (st != SONDE_OK) {
        storage_batch_destroy(b);
        otlp_failed(ctx, r, st, 400, traces ? "cannot store the spans" : "cannot store the logs",
                    msg);
        return NULL;
    }
    if (rows.refused) {
        size_t used = strlen(msg);
        snprintf(msg + used, sizeof msg - used,
                 "%s%zu log records refused: maximum active stream limit exceeded for user '%s'",
                 used ? "; " : "", rows.refused, r->http.tenant);
    }
    otlp_note_rejected(ctx, r, rejected + rows.refused, msg);
    *nitems = rows.n;
    *memory = storage_batch_row_bytes(b);
    if (rows.n == 0) {
        storage_batch_destroy(b);
        *answered = false;
        return NULL;
    }
    return b;
}

/* ---- the request ---- */

/* Reads the format from the Content-Type (OTLP/HTTP) or fixes it (gRPC). */
static bool otlp_request_format(ingest_ctx *ctx, ingest_req *r)
{
    if (r->grpc) {
        r->otlp_fmt = OTLP_FORMAT_PROTOBUF;
        r->otlp_fmt_known = true;
        return true;
    }
    const http_header *ct = http_request_header(&r->http, "content-type");
    if (ct && otlp_media_type_is(ct, "application/x-protobuf")) {
        r->otlp_fmt = OTLP_FORMAT_PROTOBUF;
    } else if (ct && otlp_media_type_is(ct, "application/json")) {
        r->otlp_fmt = OTLP_FORMAT_JSON;
    } else if (ct && otlp_is_grpc(&r->http)) {
        otlp_reject(ctx, r, 415, "gRPC needs HTTP/2: use h2c (HTTP/2 with prior knowledge)");
        return false;
    } else {
        otlp_reject(ctx, r, 415,
                    "unsupported Content-Type: OTLP/HTTP takes application/x-protobuf or "
                    "application/json");
        return false;
    }
    r->otlp_fmt_known = true;
    return true;
}

/* The serialized message of the body: the gRPC frame's payload, then the
 * content decoding. NULL after answering. */
static const uint8_t *otlp_request_body(ingest_ctx *ctx, ingest_req *r, arena *dec, size_t *blen)
{
    const http_request *req = &r->http;
    size_t max_decoded = ctx->rwl.max_decoded;
    char enc[16], err[512] = "";
    const uint8_t *in = req->body;
    size_t inlen = req->body_len;
    bool decode = true;
    if (r->grpc) {
        bool compressed = false;
        sonde_status st = otlp_grpc_frame_parse(req->body, req->body_len, max_decoded, &compressed,
                                                &in, &inlen, err, sizeof err);
        if (st != SONDE_OK) {
            otlp_failed(ctx, r, st, 413, "gRPC message", err);
            return NULL;
        }
        if (!otlp_encoding(req, "grpc-encoding", enc)) {
            otlp_reject(ctx, r, 415, "unsupported grpc-encoding: use gzip, zstd or identity");
            return NULL;
        }
        if (compressed && (!enc[0] || strcmp(enc, "identity") == 0)) {
            otlp_reject(ctx, r, 400, "gRPC message flagged compressed without a grpc-encoding");
            return NULL;
        }
        decode = compressed;
    } else if (!otlp_encoding(req, "content-encoding", enc)) {
        otlp_reject(ctx, r, 415, "unsupported Content-Encoding: use gzip, zstd or identity");
        return NULL;
    }
    const uint8_t *body = in;
    *blen = inlen;
    if (!decode)
        return body;
    sonde_status st = otlp_content_decode(dec, enc[0] ? enc : NULL, in, inlen, max_decoded, &body,
                                          blen, err, sizeof err);
    if (st != SONDE_OK) {
        if (st == SONDE_ERR_LIMIT)
            snprintf(err, sizeof err, "decoded body exceeds --max-decoded-size (%zu bytes)",
                     max_decoded);
        otlp_failed(ctx, r, st, 413, r->grpc ? "grpc-encoding" : "Content-Encoding", err);
        return NULL;
    }
    return body;
}

ingest_route ingest_router_otlp(ingest_ctx *ctx, ingest_req *r)
{
    const http_request *req = &r->http;
    if (r->handler == INGEST_H_OTHER) {
        otlp_reject(ctx, r, 404,
                    "unknown gRPC method %.*s: sonde serves "
                    "opentelemetry.proto.collector.{trace,metrics,logs}.v1 Export",
                    (int)(req->path_len > 200 ? 200 : req->path_len), req->path);
        return INGEST_ROUTE_DONE;
    }
    if (req->method != HTTP_METHOD_POST) {
        otlp_reject(ctx, r, 405, "method not allowed: use POST");
        http_response_header(&r->resp, "Allow", "POST");
        return INGEST_ROUTE_DONE;
    }
    if (!otlp_request_format(ctx, r))
        return INGEST_ROUTE_DONE;
    if (req->body_len > ctx->rwl.max_decoded) {
        otlp_reject(ctx, r, 413, "request body exceeds --max-decoded-size (%zu bytes)",
                    ctx->rwl.max_decoded);
        return INGEST_ROUTE_DONE;
    }
    if (!ingest_router_inflight_admits(ctx, r))
        return INGEST_ROUTE_DONE;
    arena *dec = ingest_router_rw_arena(&ctx->rwl);
    if (!dec) {
        otlp_reject(ctx, r, 503, "out of memory");
        return INGEST_ROUTE_DONE;
    }
    size_t blen = 0;
    const uint8_t *body = otlp_request_body(ctx, r, dec, &blen);
    if (!body) {
        arena_destroy(dec);
        return INGEST_ROUTE_DONE;
    }
    otlp_limits lim;
    otlp_limits_defaults(&lim);
    lim.max_decoded = ctx->rwl.max_decoded;
    void *rq = NULL;
    char err[512] = "";
    sonde_status st =
        otlp_request_decode(dec, r->otlp_sig, r->otlp_fmt, body, blen, &lim, &rq, err, sizeof err);
    if (st != SONDE_OK) {
        arena_destroy(dec);
        /* a nesting or count cap is bad data (not retryable): 400 */
        otlp_failed(ctx, r, st, 400,
                    r->otlp_fmt == OTLP_FORMAT_JSON ? "invalid OTLP/JSON" : "invalid OTLP protobuf",
                    err);
        return INGEST_ROUTE_DONE;
    }
    /* one stored form, whatever came: protobuf (also the batch id's input) */
    const uint8_t *payload = body;
    size_t plen = blen;
    if (r->otlp_fmt == OTLP_FORMAT_JSON) {
        uint8_t *packed = NULL;
        if (otlp_request_pack(dec, r->otlp_sig, rq, &packed, &plen) != SONDE_OK) {
            arena_destroy(dec);
            otlp_reject(ctx, r, 503, "out of memory; retry");
            return INGEST_ROUTE_DONE;
        }
        payload = packed;
    }
    size_t nitems = 0;
    uint64_t memory = 0;
    bool answered = false;
    storage_batch *b =
        r->otlp_sig == OTLP_SIGNAL_METRICS
            ? otlp_metrics_batch(ctx, r, rq, dec, payload, plen, &nitems, &memory, &answered)
            : otlp_rows_batch(ctx, r, rq, dec, payload, plen, &nitems, &memory, &answered);
    if (!b) {
        if (!answered) /* nothing to keep: still a (partial) success */
            ingest_router_otlp_respond(r);
        return INGEST_ROUTE_DONE;
    }
    /* bad data is a 400 whatever the state of storage, so this comes last */
    if (!ctx->st) {
        storage_batch_destroy(b);
        otlp_reject(ctx, r, 503, "storage is not open");
        return INGEST_ROUTE_DONE;
    }
    /* the batch's memory until storage frees it: its decoded arena (metrics)
     * or its row copies (traces, logs), and the body */
    return ingest_router_store(ctx, r, b, memory + req->body_len, nitems);
}

void ingest_router_otlp_respond(ingest_req *r)
{
    buf_reset(&r->resp.body);
    r->resp.retry_after_s = 0;
    if (otlp_response_encode(&r->resp.body, r->otlp_sig, r->otlp_fmt, r->otlp_rejected,
                             r->otlp_rejected > 0 ? r->otlp_msg : NULL) != SONDE_OK) {
        http_response_text(&r->resp, 500, "cannot encode the OTLP response");
        return;
    }
    r->resp.status = 200;
    r->resp.content_type =
        r->otlp_fmt == OTLP_FORMAT_JSON ? "application/json" : "application/x-protobuf";
}

/* ---- sealing: the protocol's error form ---- */

/* gRPC status codes, following gRPC's HTTP-to-gRPC mapping and the OTLP
 * specification's retryable set (UNAVAILABLE for overload). */
static int otlp_grpc_code(int http_status)
{
    switch (http_status) {
    case 200:
        return 0; /* OK */
    case 400:
        return 3; /* INVALID_ARGUMENT */
    case 401:
        return 16; /* UNAUTHENTICATED */
    case 403:
        return 7; /* PERMISSION_DENIED */
    case 404:
    case 405:
    case 415:
        return 12; /* UNIMPLEMENTED */
    case 408:
        return 4; /* DEADLINE_EXCEEDED */
    case 413:
    case 431:
        return 8; /* RESOURCE_EXHAUSTED */
    case 429:
    case 502:
    case 503:
    case 504:
        return 14; /* UNAVAILABLE */
    default:
        return http_status >= 500 ? 13 /* INTERNAL */ : 2 /* UNKNOWN */;
    }
}

/* grpc-message: percent-encoding of every byte outside 0x20..0x7e and '%'. */
static const char *otlp_grpc_message(arena *a, const char *m, size_t n)
{
    char *out = arena_alloc(a, n * 3 + 1);
    if (!out)
        return NULL;
    static const char hex[] = "0123456789ABCDEF";
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)m[i];
        if (c >= 0x20 && c <= 0x7e && c != '%') {
            out[o++] = (char)c;
        } else {
            out[o++] = '%';
            out[o++] = hex[c >> 4];
            out[o++] = hex[c & 15];
        }
    }
    out[o] = 0;
    return out;
}

static void otlp_put_varint(buf *b, uint64_t v)
{
    uint8_t t[10];
    size_t n = 0;
    do {
        t[n++] = (uint8_t)((v & 0x7f) | (v >= 0x80 ? 0x80 : 0));
        v >>= 7;
    } while (v);
    buf_append(b, t, n);
}

void ingest_router_seal(ingest_req *r)
{
    http_response *resp = &r->resp;
    if (!r->otlp || r->sealed)
        return;
    r->sealed = true;
    if (resp->status == 0)
        http_response_text(resp, 500, "handler produced no response");
    /* the text of an error, without http_response_text's newline */
    const char *msg = "";
    size_t mlen = 0;
    bool error = resp->status >= 300;
    if (error) {
        mlen = resp->body.len;
        while (mlen && (resp->body.data[mlen - 1] == '\n' || resp->body.data[mlen - 1] == '\r'))
            mlen--;
        char *m = arena_strndup(r->arena, mlen ? (const char *)resp->body.data : "", mlen);
        msg = m ? m : "";
        mlen = m ? mlen : 0;
    }
    int code = otlp_grpc_code(resp->status);
    if (r->grpc) {
        r->grpc_status = code;
        if (error) {
            /* trailers-only */
            r->grpc_msg = otlp_grpc_message(r->arena, msg, mlen);
            buf_reset(&resp->body);
        } else {
            /* a unary answer always carries one message, even an empty one */
            size_t n = resp->body.len;
            uint8_t *copy = arena_alloc(r->arena, n + 1);
            if (!copy) {
                r->grpc_status = 8;
                r->grpc_msg = "out of memory framing the response";
                buf_reset(&resp->body);
            } else {
                if (n)
                    memcpy(copy, resp->body.data, n);
                buf_reset(&resp->body);
                if (otlp_grpc_frame_append(&resp->body, copy, n) != SONDE_OK) {
                    r->grpc_status = 8;
                    r->grpc_msg = "out of memory framing the response";
                    buf_reset(&resp->body);
                }
            }
        }
        resp->status = 200;
        resp->content_type = "application/grpc";
        resp->retry_after_s = 0;
        return;
    }
    if (!error || !r->otlp_fmt_known)
        return; /* success, or an unknown format: the text stays */
    /* google.rpc.Status { int32 code = 1; string message = 2; } */
    buf_reset(&resp->body);
    if (r->otlp_fmt == OTLP_FORMAT_JSON) {
        buf_printf(&resp->body, "{\"code\":%d,\"message\":", code);
        buf_json_str(&resp->body, msg, mlen);
        buf_putc(&resp->body, '}');
        resp->content_type = "application/json";
    } else {
        if (code) {
            buf_putc(&resp->body, 0x08);
            otlp_put_varint(&resp->body, (uint64_t)code);
        }
        if (mlen) {
            buf_putc(&resp->body, 0x12);
            otlp_put_varint(&resp->body, mlen);
            buf_append(&resp->body, msg, mlen);
        }
        resp->content_type = "application/x-protobuf";
    }
}

sonde_status ingest_otlp_meta(arena *a, const otlp_translate_result *res,
                              const storage_series_meta **out)
{
    *out = NULL;
    bool any = res->start_ms != NULL;
    for (size_t i = 0; !any && res->delta && i < res->nseries; i++)
        any = res->delta[i];
    if (!any)
        return SONDE_OK;
    storage_series_meta *m = arena_alloc(a, res->nseries * sizeof *m);
    if (!m)
        return SONDE_ERR_NOMEM;
    for (size_t i = 0; i < res->nseries; i++)
        m[i] = (storage_series_meta){.delta = res->delta && res->delta[i],
                                     .start_ms = res->start_ms ? res->start_ms[i] : NULL};
    *out = m;
    return SONDE_OK;
}
