/*
 * logrows.c - the log lines of one request on their way into a logs batch (net thread).
 *
 * Loki push and OTLP logs both collect their accepted entries here (stream, time, packed
 * ResourceLogs, the line's text, what is known of its level). ingest_logrows_fill() then
 * runs the lines through the pipeline (sampling/logs.h: template mining, exact counts,
 * dynamic sampling) and builds the batch: every kept line as a row with the stored-row
 * header (rate, template id, version), every template version not stored yet, and the
 * per-template counts as the batch's logged series (delta counters, bump on out-of-order
 * times). All of it is one RocksDB write at commit.
 */
#include <string.h>

#include "core/log.h"
#include "core/timeutil.h"
#include "ingest/ingest_internal.h"

sonde_status ingest_logrows_add(ingest_logrows *lr, const sonde_label *stream, uint32_t nlabels,
                                uint64_t stream_hash, int64_t ts_ns, const uint8_t *value,
                                size_t len, const char *line, size_t line_len, int warn)
{
    if (lr->n == lr->cap) {
        size_t nc = lr->cap ? lr->cap * 2 : 64;
        ingest_logrow *nr =
            arena_realloc(lr->a, lr->rows, lr->cap * sizeof *nr, nc * sizeof *nr);
        if (!nr)
            return arena_cap_hit(lr->a) ? SONDE_ERR_LIMIT : SONDE_ERR_NOMEM;
        lr->rows = nr;
        lr->cap = nc;
    }
    lr->rows[lr->n++] = (ingest_logrow){stream, nlabels, stream_hash, ts_ns, value, len,
                                        line,   line_len, warn};
    return SONDE_OK;
}

/* The level a Loki stream's labels say, if any: 1 warn or above, 0 below, -1 unknown. */
int ingest_logrows_level_of(const sonde_label *l, uint32_t n)
{
    static const char *const names[] = {"level", "detected_level", "severity", "lvl",
                                        "severity_text"};
    for (uint32_t i = 0; i < n; i++)
        for (size_t k = 0; k < sizeof names / sizeof *names; k++)
            if (l[i].name_len == strlen(names[k]) &&
                memcmp(l[i].name, names[k], l[i].name_len) == 0)
                return sampling_level_is_warn(l[i].value, l[i].value_len) ? 1 : 0;
    return -1;
}

sonde_status ingest_logrows_fill(ingest_ctx *ctx, ingest_req *r, ingest_logrows *lr,
                                 storage_batch *b, size_t *kept)
{
    *kept = 0;
    if (lr->n == 0)
        return SONDE_OK;
    /* the counts' arena goes to the batch (storage_batch_set_counts); decisions and
     * versions live there too, and are done with before it is handed over */
    arena *ca = arena_create(64 * 1024, 0);
    if (!ca)
        return SONDE_ERR_NOMEM;
    bool sampling = ctx->logs_cfg_sampling;
    sampling_log_line *in = arena_alloc(ca, lr->n * sizeof *in);
    if (!in) {
        arena_destroy(ca);
        return SONDE_ERR_NOMEM;
    }
    for (size_t i = 0; i < lr->n; i++) {
        const ingest_logrow *w = &lr->rows[i];
        bool warn = w->warn > 0 ||
                    (w->warn < 0 && sampling && sampling_line_is_warn(w->line, w->line_len));
        in[i] = (sampling_log_line){w->stream, w->nlabels, w->stream_hash, w->ts_ns,
                                    w->line,   w->line_len, warn};
    }
    sampling_logs_result res;
    int64_t now_ms = time_now_ms();
    sonde_status st = sampling_logs_process(ctx->logs, r->http.tenant, in, lr->n, now_ms, ca, &res);
    for (size_t i = 0; i < lr->n && st == SONDE_OK; i++) {
        const sampling_log_decision *d = &res.decisions[i];
        if (!d->keep)
            continue;
        const ingest_logrow *w = &lr->rows[i];
        uint8_t hdr[SAMPLING_ROW_HEADER_MAX];
        size_t hl = sampling_row_header_put(hdr, d->rate, d->template_id, d->version);
        st = storage_batch_add_log_hdr(b, w->stream, w->nlabels, w->ts_ns, hdr, hl, w->value,
                                       w->len);
        if (st == SONDE_OK)
            (*kept)++;
    }
    for (size_t i = 0; i < res.nversions && st == SONDE_OK; i++)
        st = storage_batch_add_template(b, res.versions[i].id, res.versions[i].version,
                                        res.versions[i].text, res.versions[i].len);
    if (st == SONDE_OK && res.nversions) {
        /* ids and versions for sampling_logs_persisted once the batch is durable */
        sampling_template_version *v = arena_alloc(r->arena, res.nversions * sizeof *v);
        if (!v) {
            st = SONDE_ERR_NOMEM;
        } else {
            for (size_t i = 0; i < res.nversions; i++)
                v[i] = (sampling_template_version){res.versions[i].id, res.versions[i].version,
                                                   NULL, 0};
            r->log_versions = v;
            r->nlog_versions = res.nversions;
        }
    }
    storage_series_meta *meta = NULL;
    if (st == SONDE_OK && res.nseries) {
        meta = arena_alloc(ca, res.nseries * sizeof *meta);
        if (!meta)
            st = SONDE_ERR_NOMEM;
        for (size_t i = 0; meta && i < res.nseries; i++)
            meta[i] = (storage_series_meta){.delta = true, .start_ms = NULL, .bump = true};
    }
    if (st != SONDE_OK || res.nseries == 0) {
        arena_destroy(ca);
        return st;
    }
    buf enc;
    buf_init(&enc, 0);
    st = sampling_counts_encode(res.series, res.nseries, &enc);
    if (st == SONDE_OK)
        st = storage_batch_set_counts(b, enc.data, enc.len, ca, res.series, res.nseries, meta);
    else
        arena_destroy(ca);
    buf_fini(&enc);
    return st;
}
