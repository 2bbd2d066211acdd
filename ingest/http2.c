/*
 * http2.c - HTTP/2 (h2c with prior knowledge) through an nghttp2 server
 * session: streams become ingest_req objects, routed exactly like HTTP/1.1
 * requests, and answers go out through nghttp2_submit_response with a data
 * provider over the response body.
 *
 * gRPC (OTLP/gRPC): the router marks the request (ingest_router_otlp_match)
 * and ingest_router_seal frames the answer; a gRPC answer is HEADERS
 * (:status 200, content-type application/grpc), the framed message, then
 * trailers grpc-status / grpc-message, or trailers-only for errors. The
 * 5-byte length prefix of a gRPC message is checked as soon as it arrives,
 * so an oversize message is refused (RESOURCE_EXHAUSTED) before its body is
 * buffered.
 *
 * Flow control: automatic WINDOW_UPDATEs are off. A stream's window is
 * --max-body-size (so one request body always fits) and the connection's is
 * twice that; bytes are given back (nghttp2_session_consume) only when the
 * pipeline has taken the request: after the router decoded and submitted
 * it, or answered it, or when the stream closed. A client can therefore
 * have at most two bodies' worth of unprocessed data per connection and
 * waits for window instead of being refused.
 *
 * Limits and hardening: SETTINGS_MAX_CONCURRENT_STREAMS 100; header list size
 * capped in on_header (RST_STREAM via NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE);
 * body per stream capped at --max-body-size (413), buffered bodies per
 * connection capped at twice that (503, only reachable by a peer that
 * ignores flow control, which nghttp2 refuses anyway); nghttp2's rapid-reset and
 * CONTINUATION-flood limits are switched on where the library has them
 * (SONDE_HAVE_NGHTTP2_RESET_RATE_LIMIT / SONDE_HAVE_NGHTTP2_MAX_CONTINUATIONS,
 * detected by symbol in CMake).
 *
 * Ownership: each open request stream has an h2_stream (stream user data)
 * that owns its ingest_req, except while the request is with storage or a
 * query worker; a stream closed meanwhile is forgotten, and the request is
 * freed when it comes back (ingest_h2_deliver finds no stream, or, once the
 * connection is gone, server.c's slot generation check drops it).
 * Every h2_stream is also on ingest_h2.live: nghttp2_session_del() frees its
 * streams without calling on_stream_close, so ingest_h2_destroy() frees what
 * is still listed itself.
 *
 * Deadlines: a stream not with storage or a worker is reset (RST_STREAM
 * CANCEL) once it is older than --body-timeout (ingest_h2_tick), unless its
 * response body is still being sent (the connection's send and stall checks
 * cover that). Frames such as PING keep the connection alive, not a stream.
 *
 * Threads: the owning net thread only.
 */
#include <errno.h>
#include <nghttp2/nghttp2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/log.h"
#include "core/parse.h"
#include "core/timeutil.h"
#include "ingest/net.h"

#define H2_MAX_STREAMS 100
#define H2_MAX_HEADERS 128
#define H2_WINDOW_MAX 0x7fffffff /* RFC 9113 6.9.1 */

typedef struct h2_stream {
    struct h2_stream *prev, *next; /* ingest_h2.live */
    int32_t id;
    int64_t start_ms; /* net->now_ms at HEADERS */
    ingest_req *r;
    http_header *hdrs;
    size_t nhdrs;
    size_t cap_hdrs;
    size_t hdr_bytes;
    bool have_method;
    bool have_path;
    bool async;     /* r is with storage or a worker */
    bool responded; /* a response was submitted; ignore further request data */
    bool resp_body; /* the response body is still being read by nghttp2 */
    bool reset;     /* ingest_h2_tick submitted RST_STREAM */
    bool grpc;      /* content-type application/grpc* */
    bool grpc_checked; /* the gRPC length prefix was checked */
    size_t resp_off;
    size_t counted; /* body bytes buffered, counted in ingest_h2.body_bytes, not yet
                       given back to the peer's flow-control windows */
} h2_stream;

struct ingest_h2 {
    ingest_conn *c;
    nghttp2_session *session;
    size_t streams;    /* request streams not yet closed */
    size_t waiting;    /* of those, streams whose request is with storage or a worker */
    size_t body_bytes; /* buffered request bodies, all streams */
    h2_stream *live;   /* every h2_stream not yet freed */
    bool goaway_sent;
};

/* Gives the stream's buffered body bytes back to the peer's windows: the
 * pipeline has taken them (or they will never be read). */
static void h2_consume(ingest_h2 *h, h2_stream *st)
{
    if (st->counted == 0)
        return;
    h->body_bytes -= st->counted;
    nghttp2_session_consume(h->session, st->id, st->counted);
    st->counted = 0;
}

static void h2_stream_free(ingest_h2 *h, h2_stream *st)
{
    if (!st)
        return;
    if (st->prev)
        st->prev->next = st->next;
    else
        h->live = st->next;
    if (st->next)
        st->next->prev = st->prev;
    h->body_bytes -= st->counted;
    if (st->async)
        h->waiting--;
    else if (st->r)
        ingest_req_destroy(st->r);
    free(st);
}

static ssize_t h2_read_body(nghttp2_session *s, int32_t id, uint8_t *dst, size_t len,
                            uint32_t *flags, nghttp2_data_source *src, void *ud)
{
    h2_stream *st = src->ptr;
    const buf *b = &st->r->resp.body;
    size_t left = b->len - st->resp_off;
    size_t n = left < len ? left : len;
    if (n)
        memcpy(dst, b->data + st->resp_off, n);
    st->resp_off += n;
    if (st->resp_off == b->len) {
        *flags |= NGHTTP2_DATA_FLAG_EOF;
        st->resp_body = false;
        if (st->r->grpc) {
            /* the stream ends with the trailers */
            char code[12];
            snprintf(code, sizeof code, "%d", st->r->grpc_status);
            const char *msg = st->r->grpc_msg;
            nghttp2_nv tr[2] = {
                {(uint8_t *)"grpc-status", (uint8_t *)code, 11, strlen(code),
                 NGHTTP2_NV_FLAG_NONE},
                {(uint8_t *)"grpc-message", (uint8_t *)(msg ? msg : ""), 12, msg ? strlen(msg) : 0,
                 NGHTTP2_NV_FLAG_NONE},
            };
            if (nghttp2_submit_trailer(s, id, tr, msg ? 2 : 1) == 0)
                *flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
        }
    }
    return (ssize_t)n;
}

#define H2_NV(n, v, vl)                                                                            \
    (nghttp2_nv)                                                                                   \
    {                                                                                              \
        (uint8_t *)(n), (uint8_t *)(v), sizeof(n) - 1, (vl), NGHTTP2_NV_FLAG_NONE                  \
    }

/* A gRPC answer: HEADERS, then the framed message and trailers, or
 * trailers-only (grpc-status in the HEADERS that end the stream). */
static void h2_respond_grpc(ingest_h2 *h, h2_stream *st)
{
    ingest_req *r = st->r;
    char code[12];
    snprintf(code, sizeof code, "%d", r->grpc_status);
    const char *date = ingest_net_date(h->c->net);
    nghttp2_nv nva[5];
    size_t n = 0;
    nva[n++] = H2_NV(":status", "200", 3);
    nva[n++] = H2_NV("content-type", "application/grpc", 16);
    nva[n++] = H2_NV("date", date, strlen(date));
    bool with_body = r->resp.body.len > 0;
    if (!with_body) {
        nva[n++] = H2_NV("grpc-status", code, strlen(code));
        if (r->grpc_msg)
            nva[n++] = H2_NV("grpc-message", r->grpc_msg, strlen(r->grpc_msg));
    }
    nghttp2_data_provider prd = {.source.ptr = st, .read_callback = h2_read_body};
    st->responded = true;
    st->resp_off = 0;
    st->resp_body = with_body;
    if (nghttp2_submit_response(h->session, st->id, nva, n, with_body ? &prd : NULL) != 0) {
        st->resp_body = false;
        nghttp2_submit_rst_stream(h->session, NGHTTP2_FLAG_NONE, st->id, NGHTTP2_INTERNAL_ERROR);
    }
    ingest_router_account(h->c->net->ctx, r);
}

static void h2_respond(ingest_h2 *h, h2_stream *st)
{
    ingest_req *r = st->r;
    http_response *resp = &r->resp;
    if (resp->status == 0)
        http_response_text(resp, 500, "handler produced no response");
    ingest_router_seal(r);
    if (r->grpc) {
        h2_respond_grpc(h, st);
        return;
    }
    char status[8], clen[24], retry[16];
    snprintf(status, sizeof status, "%d", resp->status);
    snprintf(clen, sizeof clen, "%zu", resp->body.len);
    snprintf(retry, sizeof retry, "%d", resp->retry_after_s);
    const char *date = ingest_net_date(h->c->net);
    nghttp2_nv nva[5 + HTTP_RESPONSE_MAX_EXTRA];
    size_t n = 0;
    bool bodyless = resp->status == 204 || resp->status == 304;
    nva[n++] = H2_NV(":status", status, strlen(status));
    nva[n++] = H2_NV("date", date, strlen(date));
    if (!bodyless) {
        if (resp->content_type)
            nva[n++] = H2_NV("content-type", resp->content_type, strlen(resp->content_type));
        nva[n++] = H2_NV("content-length", clen, strlen(clen));
    }
    if (resp->retry_after_s > 0)
        nva[n++] = H2_NV("retry-after", retry, strlen(retry));
    char lname[HTTP_RESPONSE_MAX_EXTRA][64];
    for (size_t i = 0; i < resp->nextra && i < HTTP_RESPONSE_MAX_EXTRA; i++) {
        /* HTTP/2 field names are lower-case */
        size_t l = resp->extra[i].name_len < 63 ? resp->extra[i].name_len : 63;
        for (size_t k = 0; k < l; k++) {
            char ch = resp->extra[i].name[k];
            lname[i][k] = (char)(ch >= 'A' && ch <= 'Z' ? ch - 'A' + 'a' : ch);
        }
        nva[n++] = (nghttp2_nv){(uint8_t *)lname[i], (uint8_t *)resp->extra[i].value, l,
                                resp->extra[i].value_len, NGHTTP2_NV_FLAG_NONE};
    }
    nghttp2_data_provider prd = {.source.ptr = st, .read_callback = h2_read_body};
    bool head = r->http.method == HTTP_METHOD_HEAD;
    bool with_body = !(bodyless || head || resp->body.len == 0);
    st->responded = true;
    st->resp_off = 0;
    st->resp_body = with_body;
    int rv = nghttp2_submit_response(h->session, st->id, nva, n, with_body ? &prd : NULL);
    if (rv != 0) {
        st->resp_body = false;
        nghttp2_submit_rst_stream(h->session, NGHTTP2_FLAG_NONE, st->id, NGHTTP2_INTERNAL_ERROR);
    }
    ingest_router_account(h->c->net->ctx, r);
}

/* An answer before the request is complete (413, 503): respond, then stop
 * reading the stream. */
static void h2_reject(ingest_h2 *h, h2_stream *st, int status, const char *msg)
{
    /* answered in the request's protocol (gRPC trailers, OTLP Status) */
    st->r->stream_id = st->id;
    st->r->http.headers = st->hdrs;
    st->r->http.nheaders = st->nhdrs;
    ingest_router_otlp_match(st->r);
    http_response_text(&st->r->resp, status, "%s", msg);
    if (status == 503)
        st->r->resp.retry_after_s = 1;
    h2_consume(h, st);
    buf_fini(&st->r->body);
    h2_respond(h, st);
    log_debug("ingest.h2_rejected", "thread=%u stream=%d status=%d", h->c->net->idx, st->id,
              status);
}

static void h2_dispatch(ingest_h2 *h, h2_stream *st)
{
    ingest_req *r = st->r;
    ingest_net *n = h->c->net;
    r->http.headers = st->hdrs;
    r->http.nheaders = st->nhdrs;
    r->http.body = (const uint8_t *)(r->body.data ? r->body.data : "");
    r->http.body_len = r->body.len;
    r->net = n;
    r->slot = h->c->slot;
    r->gen = h->c->gen;
    r->stream_id = st->id;
    r->start_ns = time_mono_ns();
    if (!st->have_method || !st->have_path) {
        http_response_text(&r->resp, 400, "missing :method or :path");
        h2_respond(h, st);
        return;
    }
    ingest_route route = ingest_router_dispatch(n->ctx, r);
    /* the pipeline has taken the body (decoded and submitted, or answered):
     * the peer may send more */
    h2_consume(h, st);
    if (route == INGEST_ROUTE_DONE) {
        h2_respond(h, st);
        return;
    }
    st->async = true;
    h->waiting++;
}

static int h2_on_begin_headers(nghttp2_session *s, const nghttp2_frame *f, void *ud)
{
    ingest_h2 *h = ud;
    if (f->hd.type != NGHTTP2_HEADERS || f->headers.cat != NGHTTP2_HCAT_REQUEST)
        return 0;
    const ingest_config *cfg = h->c->net->ctx->cfg;
    h2_stream *st = calloc(1, sizeof *st);
    if (!st)
        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    st->id = f->hd.stream_id;
    st->start_ms = h->c->net->now_ms;
    st->r = ingest_req_create(cfg->max_header_size, cfg->max_body_size);
    if (!st->r) {
        free(st);
        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    }
    nghttp2_session_set_stream_user_data(s, st->id, st);
    st->next = h->live;
    if (h->live)
        h->live->prev = st;
    h->live = st;
    h->streams++;
    return 0;
}

static int h2_on_header(nghttp2_session *s, const nghttp2_frame *f, const uint8_t *name,
                        size_t namelen, const uint8_t *value, size_t valuelen, uint8_t flags,
                        void *ud)
{
    ingest_h2 *h = ud;
    if (f->hd.type != NGHTTP2_HEADERS)
        return 0;
    h2_stream *st = nghttp2_session_get_stream_user_data(s, f->hd.stream_id);
    if (!st || st->responded || st->async)
        return 0; /* trailers after the request was taken: ignored */
    const ingest_config *cfg = h->c->net->ctx->cfg;
    /* RFC 7541 counts 32 bytes of overhead per field */
    st->hdr_bytes += namelen + valuelen + 32;
    if (st->hdr_bytes > cfg->max_header_size || st->nhdrs >= H2_MAX_HEADERS)
        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    arena *a = st->r->arena;
    if (namelen > 0 && name[0] == ':') {
        if (namelen == 7 && memcmp(name, ":method", 7) == 0) {
            st->r->http.method = ingest_http_method_from((const char *)value, valuelen);
            st->have_method = true;
        } else if (namelen == 5 && memcmp(name, ":path", 5) == 0) {
            if (ingest_h1_target_split(a, (const char *)value, valuelen, &st->r->http) != 0)
                return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
            st->have_path = true;
        }
        return 0;
    }
    if (st->nhdrs == st->cap_hdrs) {
        size_t ncap = st->cap_hdrs ? st->cap_hdrs * 2 : 16;
        http_header *nh = arena_realloc(a, st->hdrs, st->cap_hdrs * sizeof *nh, ncap * sizeof *nh);
        if (!nh)
            return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
        st->hdrs = nh;
        st->cap_hdrs = ncap;
    }
    char *nm = arena_strndup(a, (const char *)name, namelen);
    char *vl = arena_strndup(a, (const char *)value, valuelen);
    if (!nm || !vl)
        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    st->hdrs[st->nhdrs++] = (http_header){nm, namelen, vl, valuelen};
    return 0;
}

static int h2_on_data(nghttp2_session *s, uint8_t flags, int32_t id, const uint8_t *data,
                      size_t len, void *ud)
{
    ingest_h2 *h = ud;
    h2_stream *st = nghttp2_session_get_stream_user_data(s, id);
    if (!st || st->responded || st->async) {
        nghttp2_session_consume(s, id, len); /* read and dropped */
        return 0;
    }
    const ingest_config *cfg = h->c->net->ctx->cfg;
    if (h->body_bytes + len > 2 * cfg->max_body_size) {
        nghttp2_session_consume(s, id, len);
        h2_reject(h, st, 503, "too many request bodies buffered on this connection; retry");
        return 0;
    }
    if (buf_append(&st->r->body, data, len) != SONDE_OK) {
        nghttp2_session_consume(s, id, len);
        h2_reject(h, st, 413, "request body larger than --max-body-size");
        return 0;
    }
    h->body_bytes += len;
    st->counted += len;
    if (st->grpc && !st->grpc_checked && st->r->body.len >= 5) {
        /* the length prefix, checked before the message is buffered */
        const uint8_t *p = (const uint8_t *)st->r->body.data;
        uint64_t mlen = (uint64_t)p[1] << 24 | (uint64_t)p[2] << 16 | (uint64_t)p[3] << 8 | p[4];
        st->grpc_checked = true;
        uint64_t room = cfg->max_body_size > 5 ? cfg->max_body_size - 5 : 0;
        uint64_t cap = cfg->max_decoded_size < room ? cfg->max_decoded_size : room;
        if (mlen > cap) {
            char msg[160];
            snprintf(msg, sizeof msg, "grpc: message of %llu bytes exceeds the %llu-byte limit",
                     (unsigned long long)mlen, (unsigned long long)cap);
            h2_reject(h, st, 413, msg);
        }
    }
    return 0;
}

static int h2_on_frame_recv(nghttp2_session *s, const nghttp2_frame *f, void *ud)
{
    ingest_h2 *h = ud;
    if (f->hd.type != NGHTTP2_HEADERS && f->hd.type != NGHTTP2_DATA)
        return 0;
    h2_stream *st = nghttp2_session_get_stream_user_data(s, f->hd.stream_id);
    if (!st || st->responded || st->async)
        return 0;
    if (f->hd.type == NGHTTP2_HEADERS && f->headers.cat == NGHTTP2_HCAT_REQUEST) {
        /* refuse an announced oversize body before reading it */
        for (size_t i = 0; i < st->nhdrs; i++) {
            const http_header *hd = &st->hdrs[i];
            if (hd->name_len == 12 && memcmp(hd->name, "content-type", 12) == 0 &&
                hd->value_len >= 16 && strncasecmp(hd->value, "application/grpc", 16) == 0)
                st->grpc = true;
            if (hd->name_len == 14 && memcmp(hd->name, "content-length", 14) == 0) {
                uint64_t cl = 0;
                if (parse_u64(hd->value, hd->value_len, &cl) &&
                    cl > h->c->net->ctx->cfg->max_body_size) {
                    h2_reject(h, st, 413, "request body larger than --max-body-size");
                    return 0;
                }
            }
        }
    }
    if (f->hd.flags & NGHTTP2_FLAG_END_STREAM)
        h2_dispatch(h, st);
    return 0;
}

static int h2_on_stream_close(nghttp2_session *s, int32_t id, uint32_t err, void *ud)
{
    ingest_h2 *h = ud;
    h2_stream *st = nghttp2_session_get_stream_user_data(s, id);
    if (!st)
        return 0;
    nghttp2_session_set_stream_user_data(s, id, NULL);
    h->streams--;
    h2_consume(h, st); /* never to be read: the connection window gets it back */
    h2_stream_free(h, st);
    return 0;
}

ingest_h2 *ingest_h2_create(ingest_conn *c)
{
    ingest_h2 *h = calloc(1, sizeof *h);
    nghttp2_session_callbacks *cbs = NULL;
    nghttp2_option *opt = NULL;
    if (!h)
        return NULL;
    h->c = c;
    if (nghttp2_session_callbacks_new(&cbs) != 0 || nghttp2_option_new(&opt) != 0)
        goto fail;
    nghttp2_session_callbacks_set_on_begin_headers_callback(cbs, h2_on_begin_headers);
    nghttp2_session_callbacks_set_on_header_callback(cbs, h2_on_header);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, h2_on_data);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, h2_on_frame_recv);
    nghttp2_session_callbacks_set_on_stream_close_callback(cbs, h2_on_stream_close);
    nghttp2_option_set_max_outbound_ack(opt, 1000);
    /* windows are given back as the pipeline takes requests (h2_consume) */
    nghttp2_option_set_no_auto_window_update(opt, 1);
#ifdef SONDE_HAVE_NGHTTP2_RESET_RATE_LIMIT
    /* CVE-2023-44487 (rapid reset) */
    nghttp2_option_set_stream_reset_rate_limit(opt, 1000, 33);
#endif
#ifdef SONDE_HAVE_NGHTTP2_MAX_CONTINUATIONS
    /* CVE-2024-27316 family (CONTINUATION flood) */
    nghttp2_option_set_max_continuations(opt, 8);
#endif
    if (nghttp2_session_server_new2(&h->session, cbs, h, opt) != 0)
        goto fail;
    uint64_t maxb = c->net->ctx->cfg->max_body_size;
    uint32_t stream_window = maxb > H2_WINDOW_MAX ? H2_WINDOW_MAX : (uint32_t)maxb;
    uint32_t conn_window = 2 * maxb > H2_WINDOW_MAX ? H2_WINDOW_MAX : (uint32_t)(2 * maxb);
    if (stream_window < 65535)
        stream_window = 65535;
    if (conn_window < 65535)
        conn_window = 65535;
    nghttp2_settings_entry iv[] = {
        {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, H2_MAX_STREAMS},
        {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, stream_window},
        {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, (uint32_t)c->net->ctx->cfg->max_header_size},
    };
    if (nghttp2_submit_settings(h->session, NGHTTP2_FLAG_NONE, iv, sizeof iv / sizeof iv[0]) != 0)
        goto fail;
    nghttp2_session_set_local_window_size(h->session, NGHTTP2_FLAG_NONE, 0, (int32_t)conn_window);
    nghttp2_session_callbacks_del(cbs);
    nghttp2_option_del(opt);
    return h;
fail:
    nghttp2_session_callbacks_del(cbs);
    nghttp2_option_del(opt);
    ingest_h2_destroy(h);
    return NULL;
}

void ingest_h2_destroy(ingest_h2 *h)
{
    if (!h)
        return;
    /* nghttp2_session_del frees its streams without on_stream_close: free
     * ours here. A request with storage or a worker (st->async) is not ours;
     * it comes back for a slot whose generation changed and is freed there. */
    nghttp2_session_del(h->session);
    while (h->live) {
        h->streams--;
        h2_stream_free(h, h->live);
    }
    free(h);
}

int ingest_h2_feed(ingest_h2 *h, const uint8_t *data, size_t len)
{
    ssize_t rv = nghttp2_session_mem_recv(h->session, data, len);
    if (rv < 0) {
        log_debug("ingest.h2_protocol_error", "thread=%u error=\"%s\"", h->c->net->idx,
                  nghttp2_strerror((int)rv));
        if (!h->goaway_sent) {
            nghttp2_session_terminate_session(h->session, NGHTTP2_PROTOCOL_ERROR);
            h->goaway_sent = true;
        }
        return -EPROTO;
    }
    return 0;
}

int ingest_h2_produce(ingest_h2 *h, buf *out, size_t limit)
{
    while (out->len < limit) {
        const uint8_t *data;
        ssize_t n = nghttp2_session_mem_send(h->session, &data);
        if (n < 0)
            return -EPROTO;
        if (n == 0)
            break;
        if (buf_append(out, data, (size_t)n) != SONDE_OK)
            return -ENOBUFS;
    }
    return 0;
}

void ingest_h2_deliver(ingest_h2 *h, ingest_req *r)
{
    h2_stream *st = nghttp2_session_get_stream_user_data(h->session, r->stream_id);
    if (!st || st->r != r || !st->async) {
        ingest_router_account(h->c->net->ctx, r);
        ingest_req_destroy(r); /* the stream was reset meanwhile */
        return;
    }
    st->async = false;
    h->waiting--;
    h2_respond(h, st);
}

void ingest_h2_tick(ingest_h2 *h, int64_t now_ms, int64_t timeout_ms)
{
    for (h2_stream *st = h->live; st; st = st->next) {
        if (st->async || st->reset || st->resp_body || now_ms - st->start_ms <= timeout_ms)
            continue;
        st->reset = true;
        if (!st->responded) /* counted like HTTP/1.1's 408 */
            ingest_metrics_request(h->c->net->ctx->metrics, INGEST_H_OTHER, 408, 0);
        log_debug("ingest.h2_stream_timeout", "thread=%u stream=%d responded=%d", h->c->net->idx,
                  st->id, st->responded);
        nghttp2_submit_rst_stream(h->session, NGHTTP2_FLAG_NONE, st->id, NGHTTP2_CANCEL);
    }
}

bool ingest_h2_done(ingest_h2 *h)
{
    return !nghttp2_session_want_read(h->session) && !nghttp2_session_want_write(h->session);
}

size_t ingest_h2_streams(ingest_h2 *h)
{
    return h->streams;
}

size_t ingest_h2_waiting(ingest_h2 *h)
{
    return h->waiting;
}

void ingest_h2_goaway(ingest_h2 *h)
{
    if (h->goaway_sent)
        return;
    h->goaway_sent = true;
    nghttp2_submit_goaway(h->session, NGHTTP2_FLAG_NONE,
                          nghttp2_session_get_last_proc_stream_id(h->session), NGHTTP2_NO_ERROR,
                          NULL, 0);
}
