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
#include "ingest/loki/loki.h"
#include "sampling/logs.h"
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
    INGEST_H_OTLP_TRACES,  /* OTLP/HTTP /v1/traces and gRPC TraceService/Export */
    INGEST_H_OTLP_METRICS, /* ... /v1/metrics, MetricsService/Export */
    INGEST_H_OTLP_LOGS,    /* ... /v1/logs, LogsService/Export */
    INGEST_H_TRACES,       /* GET /api/traces/<id>, /api/v2/traces/<id> */
    INGEST_H_LOKI_PUSH,    /* POST /loki/api/v1/push */
    INGEST_H_LOKI_QUERY,   /* the rest of /loki/api/v1/ */
    INGEST_H_OTHER,
    INGEST_H_COUNT,
} ingest_handler;

typedef struct ingest_metrics ingest_metrics;
typedef struct ingest_limits ingest_limits;
typedef struct ingest_workers ingest_workers;
typedef struct ingest_net ingest_net;

typedef struct ingest_ctx {
    const ingest_config *cfg;
    storage *st;
    query_engine *qe;
    ingest_workers *workers;
    ingest_metrics *metrics;
    ingest_limits *limits; /* per-tenant log ingestion limits */
    sampling_logs *logs;   /* template mining, counts and sampling of log lines */
    bool logs_cfg_sampling; /* --logs.sampling: levels are detected from lines */
    otlp_translate_config otlp_tc; /* --otlp.translation, --otlp.promote-resource-attributes */
    rw_limits rwl;
    ingest_net **nets;
    unsigned nnets;
    /* bytes of remote-write requests from decode until storage freed their
     * batch (decoded arena + body), all net threads; see router.c */
    _Atomic uint64_t inflight_bytes;
    /* live Loki tails (GET /loki/api/v1/tail), all net threads; see ws.c */
    _Atomic uint32_t tails;
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
    /* OTLP export (POST /v1/{traces,metrics,logs} or gRPC Export): answered
     * 200 with an Export*ServiceResponse in otlp_fmt instead of remote
     * write's 204; errors as google.rpc.Status (HTTP) or grpc-status
     * trailers (gRPC), see ingest_router_seal */
    bool otlp;
    bool otlp_fmt_known;   /* otlp_fmt was read from the Content-Type */
    bool grpc;             /* application/grpc over HTTP/2 */
    otlp_signal otlp_sig;
    otlp_format otlp_fmt;
    int64_t otlp_rejected; /* items refused (partial_success) */
    const char *otlp_msg;  /* why (in r->arena), NULL when none */
    bool sealed;           /* ingest_router_seal ran */
    int grpc_status;       /* set by ingest_router_seal */
    const char *grpc_msg;  /* percent-encoded, in r->arena; NULL when none */
    /* Loki push: 204 once durable, or 400 with loki_msg when entries were
     * refused (the others are stored, as Loki does) */
    bool loki;
    const char *loki_msg;
    /* logs batches: template versions stored with the batch (r->arena), reported to the
     * pipeline once durable so that later batches need not store them again */
    const sampling_template_version *log_versions;
    size_t nlog_versions;
    /* Loki tail (ws.c): the tail's query state while this request carries it
     * to a query worker (the handshake, then one poll per second); owned by
     * the request until it is back on its net thread. NULL otherwise. */
    struct ingest_ws_job *tail;
    bool tail_poll; /* a periodic poll (not counted as an HTTP request) */
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
/* Answers with `status` and text `msg`, counting remote-write rejections by
 * reason (OTLP requests are counted per signal instead). */
void ingest_router_reject(ingest_ctx *ctx, ingest_req *r, const char *reason, int status,
                          const char *msg);
/* The cheap refusal (503 + Retry-After) before decoding a write whose raw
 * body alone would pass --max-inflight-bytes; false when refused. */
bool ingest_router_inflight_admits(ingest_ctx *ctx, ingest_req *r);
/* The durable tail of every write: in-flight charge, completion slot,
 * storage_submit. Takes b. */
ingest_route ingest_router_store(ingest_ctx *ctx, ingest_req *r, storage_batch *b, uint64_t charge,
                                 size_t nitems);

/* ---- router_otlp.c (net thread) ---- */
/* True for the OTLP/HTTP paths and for every gRPC request (sets r->otlp,
 * r->grpc, r->otlp_sig, r->handler). */
bool ingest_router_otlp_match(ingest_req *r);
ingest_route ingest_router_otlp(ingest_ctx *ctx, ingest_req *r);
/* 200 with the Export*ServiceResponse (partial_success when items were refused). */
void ingest_router_otlp_respond(ingest_req *r);
/* Last step before a response is written (HTTP/1.1 and HTTP/2): an OTLP
 * error becomes a google.rpc.Status body in the request's format, and a gRPC
 * answer becomes a framed message plus grpc-status/grpc-message (trailers,
 * or trailers-only for errors). No-op for other requests; idempotent. */
void ingest_router_seal(ingest_req *r);
/* ---- logrows.c (net thread) ---- */
typedef struct ingest_logrow {
    const sonde_label *stream; /* canonical, in the request's decode arena */
    uint32_t nlabels;
    uint64_t stream_hash;
    int64_t ts_ns;
    const uint8_t *value; /* packed ResourceLogs */
    size_t len;
    const char *line;
    size_t line_len;
    int warn; /* 1 warn level or above, 0 below, -1 unknown (detected from the line) */
    bool line_is_body; /* the record's body is the string `line`: it may be template-encoded */
} ingest_logrow;

typedef struct ingest_logrows {
    arena *a; /* where the row table grows (the request's decode arena) */
    ingest_logrow *rows;
    size_t n, cap;
} ingest_logrows;

sonde_status ingest_logrows_add(ingest_logrows *lr, const sonde_label *stream, uint32_t nlabels,
                                uint64_t stream_hash, int64_t ts_ns, const uint8_t *value,
                                size_t len, const char *line, size_t line_len, int warn,
                                bool line_is_body);
/* 1 / 0 / -1 from a level-like label (level, detected_level, severity, lvl). */
int ingest_logrows_level_of(const sonde_label *l, uint32_t n);
/* Mines, counts and samples the rows into b (a logs batch): kept rows, new template versions,
 * the counts. *kept: rows stored. SONDE_ERR_NOMEM / SONDE_ERR_LIMIT / SONDE_ERR_INVALID. */
sonde_status ingest_logrows_fill(ingest_ctx *ctx, ingest_req *r, ingest_logrows *lr,
                                 storage_batch *b, size_t *kept);

/* ---- router_loki.c (net thread) ---- */
ingest_route ingest_router_loki_push(ingest_ctx *ctx, ingest_req *r);

/* ---- limits.c (any thread) ---- */
/* rate, burst: bytes of log lines per second and bucket size per tenant;
 * max_streams: active streams per tenant (0: none); idle_ms: a stream not
 * pushed to for this long stops counting. NULL on OOM. */
ingest_limits *ingest_limits_create(uint64_t rate, uint64_t burst, size_t max_streams,
                                    int64_t idle_ms);
void ingest_limits_destroy(ingest_limits *l); /* NULL is a no-op */
/* Takes `bytes` from the tenant's bucket; false (nothing taken) when over. */
bool ingest_limits_rate_take(ingest_limits *l, const char *tenant, size_t bytes, int64_t now_ms);
/* True when the stream is active or may become so (and marks it pushed). */
bool ingest_limits_stream_admit(ingest_limits *l, const char *tenant, uint64_t stream,
                                int64_t now_ms);

/* The per-series extras (delta accumulation, start times) of a translated
 * OTLP metrics request for storage_batch_set_meta, in arena a; *out NULL
 * when no series needs any. */
sonde_status ingest_otlp_meta(arena *a, const otlp_translate_result *res,
                              const storage_series_meta **out);
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
/* OTLP items (spans, metric data points, log records) acknowledged durable or
 * refused (partial_success or a failed request). */
void ingest_metrics_otlp(ingest_metrics *m, otlp_signal sig, size_t accepted, size_t rejected);
/* OTLP exemplars that could not be stored (sonde keeps no exemplars yet). */
void ingest_metrics_exemplars_dropped(ingest_metrics *m, size_t n);
/* Loki push entries acknowledged durable or refused. */
void ingest_metrics_loki(ingest_metrics *m, size_t accepted, size_t rejected);
void ingest_metrics_write(ingest_metrics *m, ingest_ctx *ctx, buf *out);

/* ---- ws.c: Loki tail over WebSocket (RFC 6455) ----
 *
 * GET /loki/api/v1/tail upgraded to a WebSocket. The pure parts (handshake
 * key, frame parser, frame writer) take no connection and no clock, so unit
 * tests and tests/fuzz/fuzz_ws.c drive exactly what the server runs. The
 * connection glue (ingest_ws_conn_*) runs on the owning net thread; the
 * query (the first one and a poll every second) runs on a query worker,
 * carried there by an ingest_req whose `tail` holds the job. */

#define INGEST_WS_MAX_FRAME 4096          /* client frame / message payload cap */
#define INGEST_WS_MAX_TAILS 32            /* live tails, all tenants (then 429) */
#define INGEST_WS_MAX_LIFE_MS (3600 * 1000) /* a tail ends after an hour */
#define INGEST_WS_POLL_MS 1000            /* a poll per second at most */

/* Sec-WebSocket-Accept for a Sec-WebSocket-Key: base64(SHA-1(key + GUID)).
 * The key must be the base64 of 16 bytes (24 characters, RFC 6455 4.2.1);
 * -EINVAL otherwise. out: 28 characters + NUL. */
int ingest_ws_accept_key(const char *key, size_t n, char out[29]);

typedef enum ingest_ws_event {
    INGEST_WS_NEED_MORE = 0, /* no complete frame: feed more bytes (*used is 0) */
    INGEST_WS_FRAGMENT,      /* a non-final data frame was consumed: call again */
    INGEST_WS_CONTROL,       /* a ping, pong or close frame (payload unmasked) */
    INGEST_WS_MESSAGE,       /* a complete text or binary message (reassembled) */
    INGEST_WS_ERROR,         /* protocol error: send a close with close_code, then close */
} ingest_ws_event;

enum {
    INGEST_WS_OP_CONT = 0x0,
    INGEST_WS_OP_TEXT = 0x1,
    INGEST_WS_OP_BINARY = 0x2,
    INGEST_WS_OP_CLOSE = 0x8,
    INGEST_WS_OP_PING = 0x9,
    INGEST_WS_OP_PONG = 0xA,
};

/* Parser state of one connection's client-to-server direction. */
typedef struct ingest_ws_parser {
    bool in_msg;     /* a fragmented message is in progress */
    uint8_t msg_op;  /* its opcode (text or binary) */
    size_t msg_len;  /* bytes of it so far */
    uint8_t msg[INGEST_WS_MAX_FRAME];
    uint8_t ctl[125]; /* the last control frame's payload */
    bool failed;
    /* the last event's result */
    uint8_t opcode;          /* CONTROL / MESSAGE */
    const uint8_t *payload;  /* into ctl or msg; valid until the next call */
    size_t payload_len;
    uint16_t close_code;     /* ERROR: 1002, 1007 or 1009; CONTROL close: its code (1005: none) */
    const char *error;       /* ERROR: static text naming the problem */
} ingest_ws_parser;

void ingest_ws_parser_init(ingest_ws_parser *p);
/* Parses at most one frame from data[0..len): *used is the frame's size when
 * it is complete (0 on NEED_MORE and ERROR). Masked payloads are unmasked
 * into the parser, data is not written. Server-side RFC 6455 rules: frames
 * must be masked, RSV bits zero, opcodes known, control frames unfragmented
 * and <= 125 bytes, lengths minimally encoded, continuation only inside a
 * message; payloads (a frame and a whole message) at most
 * INGEST_WS_MAX_FRAME (1009 before the payload is read); text and close
 * reasons valid UTF-8 (1007); close codes valid (1002). After ERROR every
 * call returns ERROR. */
ingest_ws_event ingest_ws_parse(ingest_ws_parser *p, const uint8_t *data, size_t len,
                                size_t *used);
/* Appends one unmasked server frame (FIN set) to out. */
sonde_status ingest_ws_frame_write(buf *out, uint8_t opcode, const void *payload, size_t len);
/* Appends a close frame with code and reason (cut to fit 125 bytes at a
 * UTF-8 boundary). */
sonde_status ingest_ws_close_write(buf *out, uint16_t code, const char *reason);

/* The tail's state that travels to the workers (opaque outside ws.c). */
typedef struct ingest_ws_job ingest_ws_job;
/* Any thread: frees the job and its query state, and gives its tail slot
 * back (ctx->tails). NULL is a no-op. */
void ingest_ws_job_destroy(ingest_ws_job *j);
/* Net thread, from the router: GET /loki/api/v1/tail. Checks the upgrade
 * (400 with a message, 429 over INGEST_WS_MAX_TAILS, 400 for HTTP/2) and
 * hands the request to a query worker, which answers 101 after the first
 * query ran (or the query's error). */
ingest_route ingest_ws_tail_route(ingest_ctx *ctx, ingest_req *r);
/* Query worker: runs the job r->tail carries (the first query, or a poll);
 * the result is in r->resp (101 / 200 with a JSON frame payload in the body,
 * empty when nothing arrived; else an error status and text). */
void ingest_ws_work(query_engine *qe, ingest_req *r);

#endif
