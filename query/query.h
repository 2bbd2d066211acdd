/*
 * query.h - the Prometheus-compatible query API and its PromQL engine.
 *
 * query_api_handle() serves /api/v1/query, /api/v1/query_range,
 * /api/v1/series, /api/v1/labels, /api/v1/label/<name>/values and
 * /api/v1/status/buildinfo (GET and POST form bodies). It runs on a query
 * worker thread (never on a network thread) and reads storage concurrently
 * with ingestion. Errors use Prometheus' {"status":"error",...} shape.
 */
#ifndef SONDE_QUERY_H
#define SONDE_QUERY_H

#include <stdbool.h>
#include <stdint.h>

#include "../core/httpmsg.h"
#include "../storage/storage.h"

typedef struct query_config {
    int64_t lookback_ms;     /* default 5m */
    int64_t timeout_ms;      /* default 2m */
    size_t max_samples;      /* samples loaded per query (default 50,000,000) */
    size_t max_points;       /* points per series in a range result (default 11,000) */
} query_config;

void query_config_defaults(query_config *cfg);

typedef struct query_engine query_engine;

query_engine *query_engine_create(storage *st, const query_config *cfg);
void query_engine_destroy(query_engine *qe); /* NULL is a no-op */

/* True if req->path is a query endpoint; then *resp is filled. */
bool query_api_handle(query_engine *qe, const http_request *req, http_response *resp);

/* Self-monitoring counters in the Prometheus text format. */
void query_metrics_write(query_engine *qe, buf *out);

/* ---- traces (traces.c) ----
 * query_traces_handle() serves trace retrieval by id, Tempo's API:
 *   GET /api/traces/<id>     -> {"batches":[<ResourceSpans>...]}        (Tempo v1)
 *   GET /api/v2/traces/<id>  -> {"trace":{"resourceSpans":[...]}}       (Tempo v2)
 * <id>: 1 to 32 hex digits (left-padded with zeros to 16 bytes, as Tempo
 * does). Spans of the request's tenant (req->tenant, X-Scope-OrgID) that
 * share resource and scope are merged, sorted by start time; OTLP/JSON.
 * "Accept: application/protobuf" (or application/x-protobuf) gets a packed
 * TracesData. 400 for a bad id, 404 {"error":"trace not found"}, 405 for a
 * method other than GET/HEAD. Returns false when req->path is not one of
 * these endpoints. Runs on a query worker thread. */
bool query_traces_handle(query_engine *qe, const http_request *req, http_response *resp);

/* The storage the engine reads (the handle given to query_engine_create). */
storage *query_engine_storage(query_engine *qe);

/* ---- Loki query API (logql_*.c) ----
 * query_loki_handle() serves Grafana Loki's HTTP query API over the stored
 * OTLP log records of the request's tenant (req->tenant, X-Scope-OrgID):
 * /loki/api/v1/query (metric queries -> vector), /loki/api/v1/query_range
 * (log queries -> streams, metric queries -> matrix; start, end, step,
 * limit, direction), /loki/api/v1/labels, /loki/api/v1/label/<name>/values,
 * /loki/api/v1/series (match[]), /loki/api/v1/index/stats,
 * /loki/api/v1/index/volume and /index/volume_range, GET or POST form. LogQL as query/README.md
 * describes. Errors are Loki's plain-text bodies: 400 for a bad query or
 * parameter or an exceeded limit, 503 for a timeout or storage failure, 405
 * for another method. Returns false when req->path is none of these. Runs on
 * a query worker thread; everything it allocates is freed before it
 * returns. */
bool query_loki_handle(query_engine *qe, const http_request *req, http_response *resp);

/* ---- Loki tail (logql_api.c; the WebSocket side is ingest/ws.c) ----
 * The query state of one GET /loki/api/v1/tail: its parameters (query: a
 * LogQL log query; limit, default 100, at most 5000; start, default an hour
 * ago; delay_for, 0..5 s) and, per stream, how far its entries were sent.
 * Every call runs on a query worker; one tail is used by one thread at a
 * time (the caller hands it over between threads). */
typedef struct query_loki_tail query_loki_tail;
/* Parses the request's parameters and query (tenant: req->tenant). NULL with
 * *resp filled (400 with Loki's message, 503) when the tail cannot start. */
query_loki_tail *query_loki_tail_create(query_engine *qe, const http_request *req,
                                        http_response *resp);
/* Appends to out the JSON text of one tail frame,
 * {"streams":[{"stream":{...},"values":[["<ns>","<line>"],...]}],"dropped_entries":null},
 * with the entries not sent before: on the first call the last `limit`
 * entries from start to now - delay_for (ascending), then the entries that
 * arrived since (each entry once, in time order per stream; a frame holds at
 * most 5000 entries and about 4 MiB of JSON, the rest comes with the next
 * call). Appends nothing when there is nothing new. An error status with a
 * message in err ends the tail: SONDE_ERR_LIMIT / SONDE_ERR_INVALID (the
 * query's limits), SONDE_ERR_TIMEOUT, SONDE_ERR_STORAGE, SONDE_ERR_NOMEM. */
sonde_status query_loki_tail_poll(query_loki_tail *t, buf *out, char *err, size_t errlen);
void query_loki_tail_destroy(query_loki_tail *t); /* NULL is a no-op; any thread */

#endif
