/*
 * metrics.c - ingest's self-monitoring counters and their Prometheus text
 * exposition (GET /metrics), followed by storage's and query's own.
 *
 * Design: fixed arrays of relaxed atomics, indexed by handler and by a small
 * table of status codes, so counting never allocates or locks. Rejection
 * reasons are a fixed list too.
 *
 * Threads: counters are bumped by every net thread; /metrics is written by
 * whichever net thread serves it.
 */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "ingest/ingest_internal.h"

static const int metrics_codes[] = {200, 204, 400, 404, 405, 408, 413, 415,
                                    417, 429, 431, 500, 501, 503, 0 /* other */};
#define NCODES (sizeof metrics_codes / sizeof metrics_codes[0])

static const double metrics_buckets[] = {0.001, 0.005, 0.01, 0.025, 0.05, 0.1,
                                         0.25,  0.5,   1,    2.5,   5,    10};
#define NBUCKETS (sizeof metrics_buckets / sizeof metrics_buckets[0])

static const char *const metrics_reasons[] = {"invalid",  "too_large", "unsupported",
                                              "overload", "storage",   "tenant"};
#define NREASONS (sizeof metrics_reasons / sizeof metrics_reasons[0])

static const char *const metrics_handler_names[INGEST_H_COUNT] = {
    "/api/v1/write", "/api/v1/query", "/metrics",     "/-/healthy", "/-/ready",
    "/v1/traces",    "/v1/metrics",   "/v1/logs",     "/api/traces", "/loki/api/v1/push",
    "/loki/api/v1/query", "other",
};
static const char *const metrics_otlp_items[3] = {"spans", "metric_points", "log_records"};

struct ingest_metrics {
    _Atomic uint64_t requests[INGEST_H_COUNT][NCODES];
    _Atomic uint64_t hist[INGEST_H_COUNT][NBUCKETS + 1];
    _Atomic uint64_t hist_sum_ns[INGEST_H_COUNT];
    _Atomic uint64_t samples_accepted;
    _Atomic uint64_t samples_rejected[NREASONS];
    _Atomic uint64_t requests_rejected[NREASONS];
    _Atomic uint64_t otlp_items[3][2]; /* signal, accepted/rejected */
    _Atomic uint64_t loki_entries[2];  /* accepted/rejected */
    _Atomic uint64_t exemplars_dropped;
};

ingest_metrics *ingest_metrics_create(void)
{
    return calloc(1, sizeof(ingest_metrics));
}

void ingest_metrics_destroy(ingest_metrics *m)
{
    free(m);
}

void ingest_metrics_otlp(ingest_metrics *m, otlp_signal sig, size_t accepted, size_t rejected)
{
    if ((unsigned)sig >= 3)
        return;
    atomic_fetch_add_explicit(&m->otlp_items[sig][0], accepted, memory_order_relaxed);
    atomic_fetch_add_explicit(&m->otlp_items[sig][1], rejected, memory_order_relaxed);
}

void ingest_metrics_exemplars_dropped(ingest_metrics *m, size_t n)
{
    atomic_fetch_add_explicit(&m->exemplars_dropped, n, memory_order_relaxed);
}

void ingest_metrics_loki(ingest_metrics *m, size_t accepted, size_t rejected)
{
    atomic_fetch_add_explicit(&m->loki_entries[0], accepted, memory_order_relaxed);
    atomic_fetch_add_explicit(&m->loki_entries[1], rejected, memory_order_relaxed);
}

void ingest_metrics_request(ingest_metrics *m, ingest_handler h, int status, int64_t dur_ns)
{
    size_t c = NCODES - 1;
    for (size_t i = 0; i + 1 < NCODES; i++)
        if (metrics_codes[i] == status)
            c = i;
    atomic_fetch_add_explicit(&m->requests[h][c], 1, memory_order_relaxed);
    double s = (double)(dur_ns < 0 ? 0 : dur_ns) / 1e9;
    size_t b = 0;
    while (b < NBUCKETS && s > metrics_buckets[b])
        b++;
    atomic_fetch_add_explicit(&m->hist[h][b], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&m->hist_sum_ns[h], (uint64_t)(dur_ns < 0 ? 0 : dur_ns),
                              memory_order_relaxed);
}

void ingest_metrics_samples(ingest_metrics *m, size_t accepted)
{
    atomic_fetch_add_explicit(&m->samples_accepted, accepted, memory_order_relaxed);
}

void ingest_metrics_rejected(ingest_metrics *m, const char *reason, size_t samples)
{
    for (size_t i = 0; i < NREASONS; i++) {
        if (strcmp(metrics_reasons[i], reason) == 0) {
            atomic_fetch_add_explicit(&m->requests_rejected[i], 1, memory_order_relaxed);
            atomic_fetch_add_explicit(&m->samples_rejected[i], samples, memory_order_relaxed);
            return;
        }
    }
}

static uint64_t ld(_Atomic uint64_t *v)
{
    return atomic_load_explicit(v, memory_order_relaxed);
}

void ingest_metrics_write(ingest_metrics *m, ingest_ctx *ctx, buf *out)
{
    buf_puts(out, "# HELP sonde_http_requests_total HTTP requests by handler and status code.\n"
                  "# TYPE sonde_http_requests_total counter\n");
    for (size_t h = 0; h < INGEST_H_COUNT; h++)
        for (size_t c = 0; c < NCODES; c++) {
            uint64_t v = ld(&m->requests[h][c]);
            if (!v)
                continue;
            if (metrics_codes[c])
                buf_printf(out, "sonde_http_requests_total{handler=\"%s\",code=\"%d\"} %llu\n",
                           metrics_handler_names[h], metrics_codes[c], (unsigned long long)v);
            else
                buf_printf(out, "sonde_http_requests_total{handler=\"%s\",code=\"other\"} %llu\n",
                           metrics_handler_names[h], (unsigned long long)v);
        }
    buf_puts(out, "# HELP sonde_http_request_duration_seconds Time from a complete request to "
                  "its response, by handler.\n"
                  "# TYPE sonde_http_request_duration_seconds histogram\n");
    for (size_t h = 0; h < INGEST_H_COUNT; h++) {
        uint64_t cum = 0;
        for (size_t b = 0; b < NBUCKETS; b++) {
            cum += ld(&m->hist[h][b]);
            buf_printf(out,
                       "sonde_http_request_duration_seconds_bucket{handler=\"%s\",le=\"%g\"} "
                       "%llu\n",
                       metrics_handler_names[h], metrics_buckets[b], (unsigned long long)cum);
        }
        cum += ld(&m->hist[h][NBUCKETS]);
        buf_printf(out,
                   "sonde_http_request_duration_seconds_bucket{handler=\"%s\",le=\"+Inf\"} %llu\n"
                   "sonde_http_request_duration_seconds_sum{handler=\"%s\"} %.9f\n"
                   "sonde_http_request_duration_seconds_count{handler=\"%s\"} %llu\n",
                   metrics_handler_names[h], (unsigned long long)cum, metrics_handler_names[h],
                   (double)ld(&m->hist_sum_ns[h]) / 1e9, metrics_handler_names[h],
                   (unsigned long long)cum);
    }
    buf_printf(out,
               "# HELP sonde_remote_write_samples_total Remote-write samples acknowledged.\n"
               "# TYPE sonde_remote_write_samples_total counter\n"
               "sonde_remote_write_samples_total{result=\"accepted\"} %llu\n",
               (unsigned long long)ld(&m->samples_accepted));
    buf_puts(out, "# HELP sonde_remote_write_samples_rejected_total Remote-write samples refused, "
                  "by reason.\n"
                  "# TYPE sonde_remote_write_samples_rejected_total counter\n");
    for (size_t i = 0; i < NREASONS; i++)
        buf_printf(out, "sonde_remote_write_samples_rejected_total{reason=\"%s\"} %llu\n",
                   metrics_reasons[i], (unsigned long long)ld(&m->samples_rejected[i]));
    buf_puts(out, "# HELP sonde_remote_write_requests_rejected_total Remote-write requests "
                  "refused, by reason.\n"
                  "# TYPE sonde_remote_write_requests_rejected_total counter\n");
    for (size_t i = 0; i < NREASONS; i++)
        buf_printf(out, "sonde_remote_write_requests_rejected_total{reason=\"%s\"} %llu\n",
                   metrics_reasons[i], (unsigned long long)ld(&m->requests_rejected[i]));
    buf_puts(out, "# HELP sonde_otlp_items_total OTLP spans, metric data points and log records "
                  "acknowledged durable (accepted) or refused (rejected), by signal.\n"
                  "# TYPE sonde_otlp_items_total counter\n");
    for (size_t i = 0; i < 3; i++)
        for (size_t k = 0; k < 2; k++)
            buf_printf(out, "sonde_otlp_items_total{signal=\"%s\",result=\"%s\"} %llu\n",
                       metrics_otlp_items[i], k ? "rejected" : "accepted",
                       (unsigned long long)ld(&m->otlp_items[i][k]));
    buf_printf(out,
               "# HELP sonde_loki_push_entries_total Loki push entries acknowledged durable "
               "(accepted) or refused (rejected).\n"
               "# TYPE sonde_loki_push_entries_total counter\n"
               "sonde_loki_push_entries_total{result=\"accepted\"} %llu\n"
               "sonde_loki_push_entries_total{result=\"rejected\"} %llu\n"
               "# HELP sonde_otlp_exemplars_dropped_total OTLP exemplars not stored (sonde "
               "keeps no exemplars yet).\n"
               "# TYPE sonde_otlp_exemplars_dropped_total counter\n"
               "sonde_otlp_exemplars_dropped_total %llu\n",
               (unsigned long long)ld(&m->loki_entries[0]),
               (unsigned long long)ld(&m->loki_entries[1]),
               (unsigned long long)ld(&m->exemplars_dropped));
    size_t conns = 0, queue = 0;
    for (unsigned i = 0; i < ctx->nnets; i++) {
        conns += ingest_net_open_conns(ctx->nets[i]);
        queue += ingest_net_queue_length(ctx->nets[i]);
    }
    buf_printf(out,
               "# HELP sonde_http_open_connections Open client connections.\n"
               "# TYPE sonde_http_open_connections gauge\n"
               "sonde_http_open_connections %zu\n"
               "# HELP sonde_ingest_completion_queue_length Requests waiting on storage or a "
               "query worker.\n"
               "# TYPE sonde_ingest_completion_queue_length gauge\n"
               "sonde_ingest_completion_queue_length %zu\n"
               "# HELP sonde_query_queue_length Queries waiting for a worker.\n"
               "# TYPE sonde_query_queue_length gauge\n"
               "sonde_query_queue_length %zu\n"
               "# HELP sonde_ingest_inflight_bytes Remote-write memory from decode until the "
               "aggregator applied it (decoded form + body), counted against "
               "--max-inflight-bytes.\n"
               "# TYPE sonde_ingest_inflight_bytes gauge\n"
               "sonde_ingest_inflight_bytes %llu\n",
               conns, queue, ctx->workers ? ingest_workers_queue_length(ctx->workers) : 0,
               (unsigned long long)atomic_load(&ctx->inflight_bytes));
    if (ctx->st)
        storage_metrics_write(ctx->st, out);
    sampling_logs_metrics_write(ctx->logs, out);
    if (ctx->qe)
        query_metrics_write(ctx->qe, out);
}
