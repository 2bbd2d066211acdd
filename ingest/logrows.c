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
#include "core/varint.h"
#include "ingest/ingest_internal.h"

sonde_status ingest_logrows_add(ingest_logrows *lr, const sonde_label *stream, uint32_t nlabels,
                                uint64_t stream_hash, int64_t ts_ns, const uint8_t *value,
                                size_t len, const char *line, size_t line_len, int warn,
                                bool line_is_body)
{
    if (lr->n == lr->cap) {
        size_t nc = lr->cap ? lr->cap * 2 : 64;
        ingest_logrow *nr =
            arena_realloc(lr->a, lr->rows, lr->cap * sizeof *nr, nc * sizeof *nr);
        if (!nr)
            return arena_refusal(lr->a);
        lr->rows = nr;
        lr->cap = nc;
    }
    lr->rows[lr->n++] = (ingest_logrow){stream, nlabels, stream_hash, ts_ns, value, len,
                                        line,   line_len, warn,        line_is_body};
    return SONDE_OK;
}

/* ---- the record without its body and time ----
 * A stored record is a packed ResourceLogs with one ScopeLogs (field 2) holding one LogRecord
 * (field 2), whose time_unix_nano is field 1 (the row key holds it) and body field 5 (rebuilt
 * from the template when encoded). Dropping them means rewriting the two enclosing lengths;
 * everything else is copied byte for byte. */

typedef struct pbf {
    uint32_t field, wire;
    const uint8_t *start, *end; /* the whole field, tag included */
    const uint8_t *val;         /* wire 2: the payload */
    size_t vlen;
} pbf;

static bool pb_next(const uint8_t **p, const uint8_t *end, pbf *f)
{
    f->start = *p;
    f->val = NULL;
    f->vlen = 0;
    uint64_t tag, l;
    if (!varint_get(p, end, &tag))
        return false;
    f->field = (uint32_t)(tag >> 3);
    f->wire = (uint32_t)(tag & 7);
    switch (f->wire) {
    case 0:
        if (!varint_get(p, end, &l))
            return false;
        break;
    case 1:
    case 5: {
        size_t w = f->wire == 1 ? 8 : 4;
        if ((size_t)(end - *p) < w)
            return false;
        *p += w;
        break;
    }
    case 2:
        if (!varint_get(p, end, &l) || l > (uint64_t)(end - *p))
            return false;
        f->val = *p;
        f->vlen = (size_t)l;
        *p += l;
        break;
    default:
        return false;
    }
    f->end = *p;
    return true;
}

/* Copies message [p, end) to o, descending along path (field numbers of length-delimited
 * fields, depth of them) and, at the end of it, leaving out the fields in the bit set drop.
 * Returns the bytes written or SIZE_MAX on malformed input. */
static size_t pb_strip(const uint8_t *p, const uint8_t *end, const uint32_t *path, size_t depth,
                       uint32_t drop, uint64_t key_ts, uint8_t *o)
{
    size_t n = 0;
    while (p < end) {
        pbf f;
        if (!pb_next(&p, end, &f))
            return SIZE_MAX;
        if (depth == 0 && f.field < 32 && (drop >> f.field & 1))
            continue;
        if (depth == 0 && f.field == 11 && f.wire == 1) {
            /* observed_time_unix_nano equal to the row's time: the key holds it */
            uint64_t t = 0;
            for (int k = 0; k < 8; k++)
                t |= (uint64_t)f.end[k - 8] << (8 * k);
            if (t == key_ts)
                continue;
        }
        if (depth > 0 && f.field == path[0] && f.wire == 2) {
            uint8_t inner_tmp[10];
            size_t tl = varint_put(inner_tmp, ((uint64_t)f.field << 3) | 2);
            /* the inner part is never longer than the original: write it after a gap for
             * the longest length prefix, then move it down */
            uint8_t *body = o + n + tl + 10;
            size_t il =
                pb_strip(f.val, f.val + f.vlen, path + 1, depth - 1, drop, key_ts, body);
            if (il == SIZE_MAX)
                return SIZE_MAX;
            memcpy(o + n, inner_tmp, tl);
            n += tl;
            size_t ll = varint_put(o + n, il);
            memmove(o + n + ll, body, il);
            n += ll + il;
            continue;
        }
        memcpy(o + n, f.start, (size_t)(f.end - f.start));
        n += (size_t)(f.end - f.start);
    }
    return n;
}

/* The record without its time (field 1, always the row key's time when present), its
 * observed time (field 11) when that equals the row's time, and, when body is set, its body
 * (field 5), in the arena. */
static sonde_status record_strip(arena *a, const uint8_t *v, size_t len, bool body,
                                 int64_t ts, const uint8_t **out, size_t *out_len)
{
    static const uint32_t path[] = {2, 2}; /* scope_logs, log_records */
    uint8_t *o = arena_alloc(a, len + 32);
    if (!o)
        return arena_refusal(a);
    size_t n = pb_strip(v, v + len, path, 2, (1u << 1) | (body ? 1u << 5 : 0), (uint64_t)ts, o);
    if (n == SIZE_MAX)
        return SONDE_ERR_INVALID;
    *out = o;
    *out_len = n;
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
    size_t nenc = 0;
    sonde_status st = sampling_logs_process(ctx->logs, r->http.tenant, in, lr->n, now_ms, ca, &res);
    for (size_t i = 0; i < lr->n && st == SONDE_OK; i++) {
        const sampling_log_decision *d = &res.decisions[i];
        if (!d->keep)
            continue;
        const ingest_logrow *w = &lr->rows[i];
        const uint8_t *val = w->value;
        size_t vlen = w->len;
        bool encoded = d->vars && w->line_is_body &&
                       record_strip(lr->a, w->value, w->len, true, w->ts_ns, &val, &vlen) == SONDE_OK;
        if (!encoded && record_strip(lr->a, w->value, w->len, false, w->ts_ns, &val, &vlen) != SONDE_OK) {
            val = w->value;
            vlen = w->len;
        }
        /* header, then (encoded) the vars block, then the record */
        size_t cap = SAMPLING_ROW_HEADER_MAX + (encoded ? d->vars_len : 0);
        uint8_t small[256];
        uint8_t *hdr = cap <= sizeof small ? small : arena_alloc(lr->a, cap);
        if (!hdr) {
            st = SONDE_ERR_NOMEM;
            break;
        }
        size_t hl = sampling_row_header_put(hdr, d->rate, d->template_id, d->version, encoded);
        if (encoded) {
            memcpy(hdr + hl, d->vars, d->vars_len);
            hl += d->vars_len;
        }
        st = storage_batch_add_log_hdr(b, w->stream, w->nlabels, w->ts_ns, hdr, hl, val, vlen);
        if (st == SONDE_OK)
            (*kept)++;
        nenc += encoded;
    }
    sampling_logs_note_encoded(ctx->logs, nenc);
    if (st == SONDE_OK)
        st = storage_batch_pack_logs(ctx->st, b); /* a stream's lines, compressed together */
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
