/*
 * router.c - maps a complete request to its handler: remote write (decode on
 * the net thread, durable commit via storage, answer on completion), query
 * API (worker pool), /metrics, health and readiness. This is where sonde
 * statuses become HTTP status codes.
 *
 * In-flight budget (--max-inflight-bytes): a decoded remote write charges
 * arena_used(decoded) + body length to ctx->inflight_bytes from the end of its
 * decode until storage frees its batch (storage_batch_set_release), i.e.
 * decode + commit queue + commit + the aggregator shards' queues. The charge
 * lives in a small malloc'd record owned by that hook, not in the
 * ingest_req, which may be freed first. Over budget: 503 + Retry-After: 1
 * (reason "overload"). A request is always admitted when nothing else is in
 * flight, so one request larger than the budget cannot be refused forever.
 *
 * Threads: dispatch and finish run on the net thread that owns the request;
 * router_write_done runs on storage's committer thread and hands the request
 * back; router_charge_release runs wherever storage frees the batch.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/log.h"
#include "core/timeutil.h"
#include "ingest/ingest_internal.h"

static bool router_path_is(const ingest_req *r, const char *p)
{
    return r->http.path_len == strlen(p) && memcmp(r->http.path, p, r->http.path_len) == 0;
}

static bool router_path_has_prefix(const ingest_req *r, const char *p)
{
    size_t n = strlen(p);
    return r->http.path_len > n && memcmp(r->http.path, p, n) == 0;
}

static bool router_header_has(const http_request *req, const char *name, const char *needle)
{
    const http_header *h = http_request_header(req, name);
    if (!h)
        return false;
    size_t nl = strlen(needle);
    for (size_t i = 0; i + nl <= h->value_len; i++)
        if (strncasecmp(h->value + i, needle, nl) == 0)
            return true;
    return false;
}

void ingest_router_reject(ingest_ctx *ctx, ingest_req *r, const char *reason, int status,
                          const char *msg)
{
    if (!r->otlp) /* the remote-write counters */
        ingest_metrics_rejected(ctx->metrics, reason, 0);
    http_response_text(&r->resp, status, "%s", msg);
    log_debug("ingest.write_rejected", "tenant=%s status=%d reason=%s msg=\"%s\"", r->http.tenant,
              status, reason, msg);
}

/* One write's charge to the in-flight budget; owned by its batch's release
 * hook once the batch exists. */
typedef struct router_charge {
    _Atomic uint64_t *counter; /* ingest_ctx.inflight_bytes: outlives storage */
    uint64_t n;
} router_charge;

/* Charges n bytes to the in-flight budget; NULL (nothing charged) when that
 * would pass --max-inflight-bytes while other writes are in flight, or when
 * the record cannot be allocated (*oom set). */
static router_charge *router_inflight_charge(ingest_ctx *ctx, uint64_t n, bool *oom)
{
    *oom = false;
    router_charge *c = malloc(sizeof *c);
    if (!c) {
        *oom = true;
        return NULL;
    }
    uint64_t max = ctx->cfg->max_inflight_bytes;
    uint64_t cur = atomic_load(&ctx->inflight_bytes);
    do {
        if (cur != 0 && (cur + n < cur || cur + n > max)) {
            free(c);
            return NULL;
        }
    } while (!atomic_compare_exchange_weak(&ctx->inflight_bytes, &cur, cur + n));
    c->counter = &ctx->inflight_bytes;
    c->n = n;
    return c;
}

/* Any thread (storage's release hook, or the net thread when the batch never
 * came to be); frees the record. */
static void router_charge_release(void *arg)
{
    router_charge *c = arg;
    atomic_fetch_sub(c->counter, c->n);
    free(c);
}

static void router_write_done(void *arg, sonde_status st, bool duplicate)
{
    ingest_req *r = arg;
    /* the budget is released later, when storage frees the batch */
    r->write_status = st;
    r->write_duplicate = duplicate;
    ingest_net_complete(r);
}

void ingest_router_decode_failed(ingest_ctx *ctx, ingest_req *r, sonde_status st, const char *err)
{
    if (st == SONDE_ERR_LIMIT) {
        ingest_router_reject(ctx, r, "too_large", 413, err[0] ? err : "request too large");
    } else if (st == SONDE_ERR_NOMEM) {
        /* transient: Prometheus drops a 413 batch for good, but retries a 503 */
        ingest_router_reject(ctx, r, "overload", 503,
                            err[0] ? err : "out of memory decoding the request; retry");
        r->resp.retry_after_s = 1;
    } else {
        ingest_router_reject(ctx, r, "invalid", 400, err[0] ? err : "invalid request");
    }
}

arena *ingest_router_rw_arena(const rw_limits *lim)
{
    return arena_create(64 * 1024, lim->max_decoded * 16 + (1u << 20));
}

/* The cheap check before a decode: refuses (503 + Retry-After) a write whose
 * raw body alone would take the in-flight budget over its limit. One write is
 * always admitted when nothing is in flight. */
bool ingest_router_inflight_admits(ingest_ctx *ctx, ingest_req *r)
{
    uint64_t busy = atomic_load(&ctx->inflight_bytes);
    if (busy == 0 || busy + r->http.body_len <= ctx->cfg->max_inflight_bytes)
        return true;
    ingest_router_reject(ctx, r, "overload", 503,
                        "too much write data in flight (--max-inflight-bytes); retry");
    r->resp.retry_after_s = 1;
    return false;
}

/* The durable tail shared by remote write and OTLP: charges `charge` bytes
 * to the in-flight budget, reserves a completion slot and submits the batch
 * (content-hashed id, so a retried request is recognised). Takes b: every
 * path destroys it or hands it to storage. On INGEST_ROUTE_ASYNC,
 * ingest_router_finish answers once the batch is durable. */
ingest_route ingest_router_store(ingest_ctx *ctx, ingest_req *r, storage_batch *b, uint64_t charge,
                                 size_t nitems)
{
    bool oom;
    router_charge *chg = router_inflight_charge(ctx, charge, &oom);
    if (!chg) {
        storage_batch_destroy(b);
        if (oom)
            ingest_router_reject(ctx, r, "overload", 503, "out of memory");
        else
            ingest_router_reject(ctx, r, "overload", 503,
                                 "too much write data in flight (--max-inflight-bytes); retry");
        r->resp.retry_after_s = 1;
        return INGEST_ROUTE_DONE;
    }
    if (!ingest_net_reserve(r->net)) {
        storage_batch_destroy(b);
        router_charge_release(chg);
        ingest_router_reject(ctx, r, "overload", 503, "too many writes in flight; retry");
        r->resp.retry_after_s = 1;
        return INGEST_ROUTE_DONE;
    }
    /* from here on the batch owns the charge, whatever becomes of it */
    storage_batch_set_release(b, router_charge_release, chg);
    r->async_write = true;
    r->write_samples = nitems;
    /* on SONDE_OK the request belongs to the committer until router_write_done */
    sonde_status st = storage_submit(ctx->st, b, router_write_done, r);
    if (st != SONDE_OK) {
        /* storage destroyed the batch, which released the charge */
        r->async_write = false;
        ingest_net_unreserve(r->net);
        if (!r->otlp)
            ingest_metrics_rejected(ctx->metrics, "overload", nitems);
        http_response_text(&r->resp, 503, "%s; retry",
                           st == SONDE_ERR_OVERLOAD ? "commit queue full" : "shutting down");
        r->resp.retry_after_s = 1;
        return INGEST_ROUTE_DONE;
    }
    return INGEST_ROUTE_ASYNC;
}

static ingest_route router_write(ingest_ctx *ctx, ingest_req *r)
{
    const http_request *req = &r->http;
    if (req->method != HTTP_METHOD_POST) {
        http_response_text(&r->resp, 405, "method not allowed: use POST for /api/v1/write");
        http_response_header(&r->resp, "Allow", "POST");
        return INGEST_ROUTE_DONE;
    }
    if (router_header_has(req, "content-type", "proto=io.prometheus.write.v2.Request")) {
        ingest_router_reject(ctx, r, "unsupported", 415,
                            "remote write 2.0 (io.prometheus.write.v2.Request) is not supported "
                            "yet; send remote write 1.0 (prometheus.WriteRequest)");
        return INGEST_ROUTE_DONE;
    }
    const http_header *ce = http_request_header(req, "content-encoding");
    if (ce && !(ce->value_len == 6 && strncasecmp(ce->value, "snappy", 6) == 0)) {
        ingest_router_reject(ctx, r, "unsupported", 415,
                            "unsupported Content-Encoding: remote write bodies must be snappy");
        return INGEST_ROUTE_DONE;
    }
    /* cheap refusal before spending a decode on a request that cannot fit */
    if (!ingest_router_inflight_admits(ctx, r))
        return INGEST_ROUTE_DONE;
    if (!ctx->st) {
        ingest_router_reject(ctx, r, "storage", 503, "storage is not open");
        r->resp.retry_after_s = 1;
        return INGEST_ROUTE_DONE;
    }

    arena *dec = ingest_router_rw_arena(&ctx->rwl);
    if (!dec) {
        ingest_router_reject(ctx, r, "overload", 503, "out of memory");
        r->resp.retry_after_s = 1;
        return INGEST_ROUTE_DONE;
    }
    rw_result res;
    char err[512] = "";
    sonde_status st = rw_decode(dec, req->body, req->body_len, &ctx->rwl, &res, err, sizeof err);
    if (st != SONDE_OK) {
        arena_destroy(dec);
        ingest_router_decode_failed(ctx, r, st, err);
        return INGEST_ROUTE_DONE;
    }
    if (res.nseries == 0 || res.nsamples == 0) {
        arena_destroy(dec);
        r->resp.status = 204;
        return INGEST_ROUTE_DONE;
    }
    uint64_t charge = (uint64_t)arena_used(dec) + req->body_len;
    storage_batch *b = storage_batch_create(req->tenant, STORAGE_BATCH_REMOTE_WRITE_V1, req->body,
                                            req->body_len, dec, res.series, res.nseries);
    if (!b) { /* dec is freed */
        ingest_router_reject(ctx, r, "overload", 503, "out of memory");
        r->resp.retry_after_s = 1;
        return INGEST_ROUTE_DONE;
    }
    return ingest_router_store(ctx, r, b, charge, res.nsamples);
}

void ingest_router_finish(ingest_ctx *ctx, ingest_req *r)
{
    if (!r->async_write)
        return;
    r->async_write = false;
    if (r->write_status == SONDE_OK && !r->write_duplicate && r->nlog_versions)
        sampling_logs_persisted(ctx->logs, r->http.tenant, r->log_versions, r->nlog_versions);
    if (r->write_status == SONDE_OK && r->otlp) {
        if (!r->write_duplicate)
            ingest_metrics_otlp(ctx->metrics, r->otlp_sig, r->write_samples, 0);
        ingest_router_otlp_respond(r);
        return;
    }
    if (r->write_status == SONDE_OK && r->loki) {
        if (!r->write_duplicate)
            ingest_metrics_loki(ctx->metrics, r->write_samples, 0);
        if (r->loki_msg) { /* the refused entries, after the others are durable */
            http_response_text(&r->resp, 400, "%s", r->loki_msg);
            return;
        }
        r->resp.status = 204;
        buf_reset(&r->resp.body);
        r->resp.content_type = NULL;
        return;
    }
    if (r->write_status == SONDE_OK) {
        r->resp.status = 204;
        buf_reset(&r->resp.body);
        r->resp.content_type = NULL;
        if (!r->write_duplicate)
            ingest_metrics_samples(ctx->metrics, r->write_samples);
        return;
    }
    if (!r->otlp && !r->loki)
        ingest_metrics_rejected(ctx->metrics, "storage", r->write_samples);
    http_response_text(&r->resp, 503, "storage error (%s); retry",
                       sonde_status_name(r->write_status));
    r->resp.retry_after_s = 1;
    log_warn("ingest.write_failed", "tenant=%s status=%s", r->http.tenant,
             sonde_status_name(r->write_status));
}

static ingest_route router_query(ingest_ctx *ctx, ingest_req *r)
{
    if (!ctx->workers || !ingest_net_reserve(r->net)) {
        http_response_text(&r->resp, 503, "too many queries in flight; retry");
        r->resp.retry_after_s = 1;
        return INGEST_ROUTE_DONE;
    }
    if (ingest_workers_submit(ctx->workers, r) != 0) {
        ingest_net_unreserve(r->net);
        http_response_text(&r->resp, 503, "query queue full; retry");
        r->resp.retry_after_s = 1;
        return INGEST_ROUTE_DONE;
    }
    return INGEST_ROUTE_ASYNC;
}

ingest_route ingest_router_dispatch(ingest_ctx *ctx, ingest_req *r)
{
    http_request *req = &r->http;
    bool get = req->method == HTTP_METHOD_GET || req->method == HTTP_METHOD_HEAD;
    bool tail = false;
    r->handler = INGEST_H_OTHER;
    /* sets r->otlp (and r->grpc, r->handler) for the OTLP routes and for any
     * gRPC request, so that errors below are answered in their protocol */
    bool otlp = ingest_router_otlp_match(r);
    if (otlp)
        ; /* handler set by the match */
    else if (router_path_is(r, "/api/v1/write"))
        r->handler = INGEST_H_WRITE;
    else if (req->path_len >= 8 && memcmp(req->path, "/api/v1/", 8) == 0)
        r->handler = INGEST_H_QUERY;
    else if (router_path_has_prefix(r, "/api/traces/") ||
             router_path_has_prefix(r, "/api/v2/traces/"))
        r->handler = INGEST_H_TRACES;
    else if (router_path_is(r, "/loki/api/v1/push"))
        r->handler = INGEST_H_LOKI_PUSH;
    else if (router_path_is(r, "/loki/api/v1/tail"))
        tail = true; /* WebSocket upgrade (ws.c) */
    else if (router_path_has_prefix(r, "/loki/api/v1/"))
        r->handler = INGEST_H_LOKI_QUERY;
    else if (router_path_is(r, "/metrics"))
        r->handler = INGEST_H_METRICS;
    else if (router_path_is(r, "/-/healthy"))
        r->handler = INGEST_H_HEALTHY;
    else if (router_path_is(r, "/-/ready"))
        r->handler = INGEST_H_READY;

    if (ingest_req_tenant_resolve(req) != 0) {
        if (r->handler == INGEST_H_WRITE)
            ingest_metrics_rejected(ctx->metrics, "tenant", 0);
        http_response_text(&r->resp, 400,
                           "invalid tenant id in X-Scope-OrgID: 1 to 150 characters of "
                           "[A-Za-z0-9!._*'()-] expected");
        return INGEST_ROUTE_DONE;
    }

    if (otlp)
        return ingest_router_otlp(ctx, r);
    if (tail)
        return ingest_ws_tail_route(ctx, r);
    switch (r->handler) {
    case INGEST_H_WRITE:
        return router_write(ctx, r);
    case INGEST_H_LOKI_PUSH:
        return ingest_router_loki_push(ctx, r);
    case INGEST_H_QUERY:
    case INGEST_H_TRACES:
    case INGEST_H_LOKI_QUERY:
        return router_query(ctx, r);
    case INGEST_H_METRICS:
        if (!get) {
            http_response_text(&r->resp, 405, "method not allowed");
            return INGEST_ROUTE_DONE;
        }
        r->resp.status = 200;
        r->resp.content_type = "text/plain; version=0.0.4; charset=utf-8";
        ingest_metrics_write(ctx->metrics, ctx, &r->resp.body);
        return INGEST_ROUTE_DONE;
    case INGEST_H_HEALTHY:
        http_response_text(&r->resp, 200, "sonde is healthy.");
        return INGEST_ROUTE_DONE;
    case INGEST_H_READY:
        if (!ctx->st || !storage_ready(ctx->st)) {
            http_response_text(&r->resp, 503, "replaying");
            r->resp.retry_after_s = 1;
        } else {
            http_response_text(&r->resp, 200, "sonde is ready.");
        }
        return INGEST_ROUTE_DONE;
    default:
        http_response_text(&r->resp, 404, "not found: %s", req->path);
        return INGEST_ROUTE_DONE;
    }
}

void ingest_router_account(ingest_ctx *ctx, const ingest_req *r)
{
    ingest_metrics_request(ctx->metrics, r->handler, r->resp.status, time_mono_ns() - r->start_ns);
}
