/*
 * traces.c - trace retrieval by id: GET /api/traces/<id> (Tempo v1 shape)
 * and GET /api/v2/traces/<id> (Tempo v2 shape), OTLP/JSON or protobuf.
 *
 * Flow: parse the id -> storage_trace_read (every stored span of the trace
 * for the request's tenant, from one snapshot) -> otlp_traces_assemble
 * (merge spans sharing resource and scope, sort by start) -> encode. Stored
 * span values are packed ResourceSpans (see ingest/otlp/split.c), so this
 * file needs no knowledge of the storage layout.
 *
 * Thread: a query worker. Everything lives in the request's arena (or one
 * made here when the request has none) and goes with it; the response body
 * is capped by its own buf.
 */
#include <protobuf-c/protobuf-c.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "../core/parse.h"
#include "../ingest/otlp/otlp.h"
#include "otlp_trace.pb-c.h"
#include "query.h"

typedef Opentelemetry__Proto__Trace__V1__TracesData traces_data;

#define TRACES_ARENA_CAP ((size_t)512 << 20)

static void traces_error(http_response *resp, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void traces_error(http_response *resp, int status, const char *fmt, ...)
{
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    buf_reset(&resp->body);
    buf_puts(&resp->body, "{\"error\":");
    buf_json_str(&resp->body, msg, strlen(msg));
    buf_putc(&resp->body, '}');
    resp->status = status;
    resp->content_type = "application/json";
}

/* 1..32 hex digits, right-aligned in 16 bytes (Tempo pads short ids). */
static bool parse_trace_id(const char *s, size_t n, uint8_t id[16])
{
    if (n == 0 || n > 32)
        return false;
    memset(id, 0, 16);
    for (size_t i = 0; i < n; i++) {
        int v = parse_hex_digit(s[n - 1 - i]);
        if (v < 0)
            return false;
        id[15 - i / 2] |= (uint8_t)(i % 2 ? v << 4 : v);
    }
    for (int i = 0; i < 16; i++)
        if (id[i])
            return true;
    return false; /* all zeros is no trace id */
}

static bool wants_protobuf(const http_request *req)
{
    const http_header *h = http_request_header(req, "accept");
    if (!h)
        return false;
    static const char *const types[] = {"application/protobuf", "application/x-protobuf"};
    for (size_t t = 0; t < 2; t++) {
        size_t tl = strlen(types[t]);
        for (size_t i = 0; i + tl <= h->value_len; i++)
            if (strncasecmp(h->value + i, types[t], tl) == 0)
                return true;
    }
    return false;
}

static sonde_status encode_json(buf *b, const traces_data *td, bool v2)
{
    sonde_status st = buf_puts(b, v2 ? "{\"trace\":{\"resourceSpans\":[" : "{\"batches\":[");
    for (size_t i = 0; i < td->n_resource_spans && st == SONDE_OK; i++) {
        if (i)
            st = buf_putc(b, ',');
        if (st == SONDE_OK)
            st = otlp_json_encode(b, (const ProtobufCMessage *)td->resource_spans[i]);
    }
    if (st == SONDE_OK)
        st = buf_puts(b, v2 ? "]}}" : "]}");
    return st;
}

static sonde_status encode_protobuf(buf *b, const traces_data *td, arena *a)
{
    size_t n = protobuf_c_message_get_packed_size(&td->base);
    uint8_t *p = arena_alloc(a, n ? n : 1);
    if (!p)
        return arena_refusal(a);
    protobuf_c_message_pack(&td->base, p);
    return buf_append(b, p, n);
}

static void fail_status(http_response *resp, sonde_status st, const char *what)
{
    if (st == SONDE_ERR_LIMIT)
        traces_error(resp, 422, "trace too large: %s exceeds its limit", what);
    else if (st == SONDE_ERR_NOMEM)
        traces_error(resp, 503, "out of memory while reading the trace");
    else
        traces_error(resp, 500, "%s failed: %s", what, sonde_status_name(st));
}

static void serve(query_engine *qe, const http_request *req, http_response *resp, arena *a,
                  const uint8_t id[16], bool v2)
{
    storage *st = query_engine_storage(qe);
    if (!st) {
        traces_error(resp, 503, "storage is not available");
        return;
    }
    const char *tenant = req->tenant ? req->tenant : "anonymous";
    const void **values;
    size_t *lens, n;
    sonde_status s = storage_trace_read(st, tenant, id, a, &values, &lens, &n);
    if (s != SONDE_OK) {
        fail_status(resp, s, "reading the trace");
        return;
    }
    if (n == 0) {
        traces_error(resp, 404, "trace not found");
        return;
    }
    void *tdv;
    if ((s = otlp_traces_assemble(a, (const void *const *)values, lens, n, &tdv, NULL)) !=
        SONDE_OK) {
        fail_status(resp, s, "assembling the trace");
        return;
    }
    const traces_data *td = tdv;
    buf_reset(&resp->body);
    if (wants_protobuf(req)) {
        s = encode_protobuf(&resp->body, td, a);
        resp->content_type = "application/protobuf";
    } else {
        s = encode_json(&resp->body, td, v2);
        resp->content_type = "application/json";
    }
    if (s != SONDE_OK) {
        fail_status(resp, s, "the response");
        return;
    }
    resp->status = 200;
}

bool query_traces_handle(query_engine *qe, const http_request *req, http_response *resp)
{
    static const char v1[] = "/api/traces/", v2[] = "/api/v2/traces/";
    const char *path = req->path;
    size_t plen = req->path_len;
    size_t off;
    bool is_v2;
    if (plen >= sizeof v1 - 1 && memcmp(path, v1, sizeof v1 - 1) == 0) {
        off = sizeof v1 - 1;
        is_v2 = false;
    } else if (plen >= sizeof v2 - 1 && memcmp(path, v2, sizeof v2 - 1) == 0) {
        off = sizeof v2 - 1;
        is_v2 = true;
    } else {
        return false;
    }
    if (req->method != HTTP_METHOD_GET && req->method != HTTP_METHOD_HEAD) {
        traces_error(resp, 405, "method not allowed: use GET");
        return true;
    }
    uint8_t id[16];
    if (!parse_trace_id(path + off, plen - off, id)) {
        traces_error(resp, 400, "invalid trace id: expected 1 to 32 hex digits, not all zero");
        return true;
    }
    arena *own = NULL, *a = req->arena;
    if (!a && !(a = own = arena_create(1 << 16, TRACES_ARENA_CAP))) {
        traces_error(resp, 503, "out of memory");
        return true;
    }
    serve(qe, req, resp, a, id, is_v2);
    arena_destroy(own);
    return true;
}
