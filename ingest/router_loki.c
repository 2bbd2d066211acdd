/*
 * router_loki.c - the Loki push API, POST /loki/api/v1/push, on every
 * listener.
 *
 * Bodies: application/json (optionally Content-Encoding gzip or zstd), or
 * snappy-compressed protobuf logproto.PushRequest (application/x-protobuf,
 * also assumed when no Content-Type is given, as Loki does). Decoded on the
 * net thread (ingest/loki/), then:
 *   - entries Loki would refuse one by one (line too long, timestamp too
 *     old or too new, bad stream labels) are dropped and named in a 400
 *     answer sent after the others are durable, as Loki does;
 *   - the tenant's ingestion rate (bytes of lines, token bucket) is taken
 *     for the whole push: over it, 429 with Loki's message and nothing kept;
 *   - a new stream beyond the tenant's active-stream limit is refused with
 *     Loki's message (its entries are dropped, the others kept).
 * Every kept entry becomes one row of a logs batch (storage_batch_add_log,
 * stored form loki_entry_pack: the same OTLP LogRecord form OTLP logs use)
 * committed through ingest_router_store; the answer is 204 once durable.
 * Out-of-order entries are accepted: rows are keyed by (stream, time).
 *
 * Threads: the owning net thread.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "core/log.h"
#include "core/timeutil.h"
#include "ingest/ingest_internal.h"

/* Media type of the Content-Type, lower-case comparison. */
static bool loki_ct_is(const http_header *h, const char *mt)
{
    size_t n = strlen(mt);
    if (h->value_len < n || strncasecmp(h->value, mt, n) != 0)
        return false;
    return h->value_len == n || h->value[n] == ';' || h->value[n] == ' ';
}

static void loki_reject(ingest_req *r, int status, const char *msg)
{
    http_response_text(&r->resp, status, "%s", msg);
    if (status == 503 || status == 429)
        r->resp.retry_after_s = 1;
    log_debug("ingest.loki_rejected", "tenant=%s status=%d msg=\"%s\"", r->http.tenant, status,
              msg);
}

static void loki_note_refused(ingest_req *r, char *msg, size_t cap, size_t *used, size_t n,
                              const char *why)
{
    (void)n;
    if (*used + 4 >= cap)
        return;
    *used += (size_t)snprintf(msg + *used, cap - *used, "%s%s", *used ? "; " : "", why);
    if (*used >= cap)
        *used = cap - 1;
    (void)r;
}

ingest_route ingest_router_loki_push(ingest_ctx *ctx, ingest_req *r)
{
    const http_request *req = &r->http;
    if (req->method != HTTP_METHOD_POST) {
        http_response_text(&r->resp, 405, "method not allowed: use POST for /loki/api/v1/push");
        http_response_header(&r->resp, "Allow", "POST");
        return INGEST_ROUTE_DONE;
    }
    const http_header *ct = http_request_header(req, "content-type");
    bool json = ct && loki_ct_is(ct, "application/json");
    if (ct && !json && !loki_ct_is(ct, "application/x-protobuf")) {
        loki_reject(r, 415,
                    "unsupported Content-Type: Loki push takes application/json or "
                    "application/x-protobuf (snappy)");
        return INGEST_ROUTE_DONE;
    }
    const http_header *ce = http_request_header(req, "content-encoding");
    char enc[16] = "";
    if (ce) {
        if (ce->value_len >= sizeof enc) {
            loki_reject(r, 415, "unsupported Content-Encoding");
            return INGEST_ROUTE_DONE;
        }
        for (size_t i = 0; i < ce->value_len; i++)
            enc[i] = (char)((ce->value[i] >= 'A' && ce->value[i] <= 'Z') ? ce->value[i] + 32
                                                                         : ce->value[i]);
        bool ok = json ? (strcmp(enc, "gzip") == 0 || strcmp(enc, "zstd") == 0 ||
                          strcmp(enc, "identity") == 0)
                       : (strcmp(enc, "snappy") == 0 || strcmp(enc, "identity") == 0);
        if (!ok) {
            loki_reject(r, 415,
                        json ? "unsupported Content-Encoding for JSON: use gzip, zstd or identity"
                             : "protobuf pushes are snappy-compressed; Content-Encoding must be "
                               "absent or snappy");
            return INGEST_ROUTE_DONE;
        }
        if (!json)
            enc[0] = 0;
    }
    if (!ingest_router_inflight_admits(ctx, r))
        return INGEST_ROUTE_DONE;
    if (!ctx->st) {
        loki_reject(r, 503, "storage is not open");
        return INGEST_ROUTE_DONE;
    }
    arena *dec = ingest_router_rw_arena(&ctx->rwl);
    if (!dec) {
        loki_reject(r, 503, "out of memory");
        return INGEST_ROUTE_DONE;
    }
    loki_limits lim;
    loki_limits_defaults(&lim);
    lim.max_decoded = ctx->rwl.max_decoded;
    lim.max_line = ctx->cfg->logs_max_line;
    lim.max_labels = ctx->cfg->logs_max_labels;
    int64_t now_ms = time_now_ms();
    loki_push push;
    char err[512] = "";
    sonde_status st;
    const uint8_t *body = req->body;
    size_t blen = req->body_len;
    if (json && enc[0]) {
        st = otlp_content_decode(dec, enc, req->body, req->body_len, lim.max_decoded, &body, &blen,
                                 err, sizeof err);
        if (st != SONDE_OK) {
            arena_destroy(dec);
            if (st == SONDE_ERR_LIMIT)
                snprintf(err, sizeof err,
                         "decompressed body exceeds --max-decoded-size (%zu bytes)",
                         lim.max_decoded);
            loki_reject(r, st == SONDE_ERR_LIMIT ? 413 : st == SONDE_ERR_NOMEM ? 503 : 400, err);
            return INGEST_ROUTE_DONE;
        }
    }
    st = json ? loki_push_decode_json(dec, body, blen, &lim, now_ms * 1000000, &push, err,
                                      sizeof err)
              : loki_push_decode_proto(dec, body, blen, &lim, now_ms * 1000000, &push, err,
                                       sizeof err);
    if (st != SONDE_OK) {
        arena_destroy(dec);
        char msg[640];
        snprintf(msg, sizeof msg, "%s: %s", json ? "invalid push (JSON)" : "invalid push (protobuf)",
                 err[0] ? err : sonde_status_name(st));
        loki_reject(r, st == SONDE_ERR_LIMIT ? 413 : st == SONDE_ERR_NOMEM ? 503 : 400, msg);
        return INGEST_ROUTE_DONE;
    }
    char refused[3072] = "";
    size_t rused = 0, nrefused = push.rejected;
    if (push.rejected)
        loki_note_refused(r, refused, sizeof refused, &rused, push.rejected, push.msg);
    if (push.nentries > 0 &&
        !ingest_limits_rate_take(ctx->limits, req->tenant, push.line_bytes, now_ms)) {
        arena_destroy(dec);
        char msg[512];
        snprintf(msg, sizeof msg,
                 "Ingestion rate limit exceeded for user %s (limit: %llu bytes/sec) while "
                 "attempting to ingest '%zu' lines totaling '%zu' bytes, reduce log volume or "
                 "contact your Loki administrator to see if the limit can be increased",
                 req->tenant, (unsigned long long)ctx->cfg->logs_rate, push.nentries,
                 push.line_bytes);
        ingest_metrics_loki(ctx->metrics, 0, push.nentries + push.rejected);
        loki_reject(r, 429, msg);
        return INGEST_ROUTE_DONE;
    }
    /* the batch copies the rows: it holds no decoded arena */
    storage_batch *b =
        storage_batch_create(req->tenant, STORAGE_BATCH_OTLP_LOGS_V1, body, blen, NULL, NULL, 0);
    if (!b) {
        arena_destroy(dec);
        loki_reject(r, 503, "out of memory");
        return INGEST_ROUTE_DONE;
    }
    ingest_logrows lr = {.a = dec};
    for (size_t i = 0; i < push.nstreams; i++) {
        const loki_stream *ls = &push.streams[i];
        uint64_t sh = series_labels_hash(ls->labels, ls->nlabels);
        if (!ingest_limits_stream_admit(ctx->limits, req->tenant, sh, now_ms)) {
            char why[400];
            snprintf(why, sizeof why,
                     "Maximum active stream limit exceeded, reduce the number of active streams "
                     "(reduce labels or reduce label values), or contact your Loki "
                     "administrator to see if the limit can be increased, user: '%s'",
                     req->tenant);
            nrefused += ls->nentries;
            loki_note_refused(r, refused, sizeof refused, &rused, ls->nentries, why);
            continue;
        }
        int stream_level = ingest_logrows_level_of(ls->labels, ls->nlabels);
        for (size_t k = 0; k < ls->nentries; k++) {
            const loki_entry *e = &ls->entries[k];
            uint8_t *val = NULL;
            size_t vlen = 0;
            int level = stream_level >= 0 ? stream_level : ingest_logrows_level_of(e->meta, e->nmeta);
            st = loki_entry_pack(dec, e, &val, &vlen);
            if (st == SONDE_OK)
                st = ingest_logrows_add(&lr, ls->labels, ls->nlabels, sh, e->ts_ns, val, vlen,
                                        e->line, e->line_len, level, true);
            if (st != SONDE_OK)
                break;
        }
        if (st != SONDE_OK)
            break;
    }
    size_t kept = 0;
    if (st == SONDE_OK)
        st = ingest_logrows_fill(ctx, r, &lr, b, &kept);
    if (st != SONDE_OK) {
        storage_batch_destroy(b);
        arena_destroy(dec);
        /* LIMIT is permanent (a retry would fail the same way): 413, never 503 */
        loki_reject(r, st == SONDE_ERR_INVALID ? 400 : st == SONDE_ERR_LIMIT ? 413 : 503,
                    st == SONDE_ERR_INVALID ? "entry cannot be stored (key size caps)"
                    : st == SONDE_ERR_LIMIT
                        ? "push too large for one batch (an entry over 64 MiB, or over "
                          "786,432 distinct stream x template x 10 s counts); split it"
                        : "out of memory; retry");
        return INGEST_ROUTE_DONE;
    }
    arena_destroy(dec); /* the rows are copies */
    r->loki = true;
    if (nrefused) {
        ingest_metrics_loki(ctx->metrics, 0, nrefused);
        r->loki_msg = arena_strndup(r->arena, refused, strlen(refused));
    }
    if (lr.n == 0) { /* nothing accepted (sampled-out lines still carry their counts) */
        storage_batch_destroy(b);
        r->async_write = true; /* answer as if committed: nothing to wait for */
        r->write_status = SONDE_OK;
        r->write_duplicate = true;
        ingest_router_finish(ctx, r);
        return INGEST_ROUTE_DONE;
    }
    return ingest_router_store(ctx, r, b, storage_batch_row_bytes(b) + req->body_len, lr.n);
}
