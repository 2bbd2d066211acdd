/*
 * ingest_internal.h - what the files of ingest/ share: the server context,
 * the request object that travels between threads, routing, metrics, the
 * query worker pool and the net-thread completion entry point.
 *
 * Ownership of an ingest_req: the net thread creates it when a request is
 * complete. If the route answers at once, the net thread keeps it. If the
 * route is asynchronous (remote write, query), ownership passes to storage's
 * committer or to a query worker, and comes back to the owning net thread
 * through ingest_net_complete() (its completion ring + eventfd). A request
 * whose connection (or HTTP/2 stream) closed meanwhile is freed there.
 */
#ifndef SONDE_INGEST_INTERNAL_H
#define SONDE_INGEST_INTERNAL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/arena.h"
#include "core/buf.h"
#include "core/httpmsg.h"
#include "core/ring.h"
#include "core/status.h"
#include "ingest/config.h"
#include "ingest/otlp/otlp.h"
#include "query/query.h"
#include "remote_write/remote_write.h"
#include "storage/storage.h"

#define INGEST_RESPONSE_MAX (1024u * 1024 * 1024) /* query answers can be big */

typedef enum ingest_handler {
    INGEST_H_WRITE = 0,
    INGEST_H_QUERY,
    INGEST_H_METRICS,
    INGEST_H_HEALTHY,
    INGEST_H_READY,
    INGEST_H_OTHER,
    INGEST_H_COUNT,
} ingest_handler;

typedef struct ingest_metrics ingest_metrics;
typedef struct ingest_workers ingest_workers;
typedef struct ingest_net ingest_net;

typedef struct ingest_ctx {
    const ingest_config *cfg;
    storage *st;
    query_engine *qe;
    ingest_workers *workers;
    ingest_metrics *metrics;
    rw_limits rwl;
    ingest_net **nets;
    unsigned nnets;
    /* bytes of remote-write requests from decode until storage freed their
     * batch (decoded arena + body), all net threads; see router.c */
    _Atomic uint64_t inflight_bytes;
} ingest_ctx;

typedef struct ingest_req {
    http_request http; /* points into arena and body */
    arena *arena;      /* owned: headers, path, scratch */
    buf body;          /* owned */
    http_response resp;
    ingest_net *net; /* the net thread that answers */
    uint32_t slot;   /* connection slot and generation on that thread */
    uint32_t gen;
    int32_t stream_id; /* HTTP/2 stream, 0 for HTTP/1.1 */
    ingest_handler handler;
    int64_t start_ns;
    bool keep_alive;
    bool async_write; /* result in write_status when it comes back */
    sonde_status write_status;
    bool write_duplicate;
    size_t write_samples;
    /* OTLP/HTTP export (POST /v1/metrics): answered 200 with an
     * Export*ServiceResponse in otlp_format instead of remote write's 204 */
    bool otlp;
    otlp_format otlp_fmt;
    int64_t otlp_rejected; /* data points refused (partial_success) */
    const char *otlp_msg;  /* why (in r->arena), NULL when none */
} ingest_req;

/* ---- request.c ---- */
/* An empty request with its own arena (cap: header bytes + 64 KiB). NULL on OOM. */
ingest_req *ingest_req_create(size_t max_header, size_t max_body);
/* Wraps a parsed request: takes the arena and the body (left empty). NULL on
 * OOM (both freed). */
ingest_req *ingest_req_adopt(arena *a /* owned */, buf *body /* owned */, const http_request *req);
void ingest_req_destroy(ingest_req *r); /* NULL is a no-op */
/* Resolves X-Scope-OrgID into req->tenant (default "anonymous").
 * -EINVAL when the header is present but not a valid tenant id. */
int ingest_req_tenant_resolve(http_request *req);
/* Writes the HTTP/1.1 status line, headers and body of r->resp into out.
 * date: an IMF-fixdate string. head: omit the body (HEAD requests). */
int ingest_resp_serialize_h1(const http_response *resp, bool keep_alive, bool head,
                             const char *date, buf *out);
const char *ingest_status_reason(int status);

/* ---- router.c (net thread) ---- */
typedef enum ingest_route {
    INGEST_ROUTE_DONE = 0, /* r->resp is filled; answer now */
    INGEST_ROUTE_ASYNC,    /* ownership passed on; comes back via ingest_net_complete */
} ingest_route;

ingest_route ingest_router_dispatch(ingest_ctx *ctx, ingest_req *r);
/* The arena a remote-write body is decoded into (live requests and replay):
 * capped for protobuf-c's tree, which takes 6-7x the decoded bytes for
 * typical requests (more with very short strings). NULL on OOM. */
arena *ingest_router_rw_arena(const rw_limits *lim);
/* Answers a remote write whose rw_decode failed with st and message err:
 * 413 for SONDE_ERR_LIMIT, 503 + Retry-After: 1 for SONDE_ERR_NOMEM (malloc
 * failed: transient), else 400. */
void ingest_router_decode_failed(ingest_ctx *ctx, ingest_req *r, sonde_status st, const char *err);
/* Removes the delta-temporality series of a translated OTLP metrics request
 * (the aggregator does not accumulate deltas yet) from res, and returns how
 * many data points of the request they came from (delta sums, histograms and
 * exponential histograms). Live ingest and replay both use it. */
size_t ingest_otlp_drop_delta(const void *request, otlp_translate_result *res);
/* Net thread, when an async request comes back: turns a write's storage
 * status into the response. */
void ingest_router_finish(ingest_ctx *ctx, ingest_req *r);
/* Counts the finished request (status and duration) in the metrics. */
void ingest_router_account(ingest_ctx *ctx, const ingest_req *r);

/* ---- server.c ---- */
/* Any thread: hands a finished async request back to its net thread.
 * Never fails: ingest_net_reserve() guaranteed the ring slot. */
void ingest_net_complete(ingest_req *r);
/* Net thread: reserves a completion slot before going async; false when the
 * thread has too many requests in flight (answer 503). */
bool ingest_net_reserve(ingest_net *n);
/* Net thread: gives a reservation back when going async failed after all. */
void ingest_net_unreserve(ingest_net *n);
size_t ingest_net_queue_length(ingest_net *n);
size_t ingest_net_open_conns(ingest_net *n);

/* ---- http2.c (the rest of its API is in net.h) ---- */
struct ingest_h2;
/* Net thread, from the connection's tick: resets (RST_STREAM) every stream
 * that is not with storage or a worker, not still sending its response body,
 * and older than timeout_ms. */
void ingest_h2_tick(struct ingest_h2 *h, int64_t now_ms, int64_t timeout_ms);

/* ---- workers.c ---- */
ingest_workers *ingest_workers_create(unsigned n, size_t queue, query_engine *qe, char *err,
                                      size_t errlen);
/* Stops the threads after the queued queries ran. NULL is a no-op. */
void ingest_workers_destroy(ingest_workers *w);
/* Any net thread. -EAGAIN when the queue is full (answer 503). */
int ingest_workers_submit(ingest_workers *w, ingest_req *r /* owned on 0 */);
size_t ingest_workers_queue_length(ingest_workers *w);

/* ---- metrics.c ---- */
ingest_metrics *ingest_metrics_create(void);
void ingest_metrics_destroy(ingest_metrics *m);
void ingest_metrics_request(ingest_metrics *m, ingest_handler h, int status, int64_t dur_ns);
void ingest_metrics_samples(ingest_metrics *m, size_t accepted);
/* reason: a short static label value ("invalid", "too_large", ...) */
void ingest_metrics_rejected(ingest_metrics *m, const char *reason, size_t samples);
void ingest_metrics_write(ingest_metrics *m, ingest_ctx *ctx, buf *out);

#endif
