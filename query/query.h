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

#endif
