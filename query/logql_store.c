/*
 * logql_store.c - the LogQL source over storage/: streams from log_streams,
 * entries from the logs family (storage_log_iter), each stored value (a
 * packed OTLP ResourceLogs holding one LogRecord, see ingest/otlp/split.c)
 * decoded into a line and its structured metadata the way Loki 3 maps OTLP:
 *   line     the body (a string as is; other kinds as text / JSON)
 *   metadata the record's attributes, the resource attributes that are not
 *            stream labels, scope_name, severity_text, trace_id, span_id
 *            (hex), and detected_level from the severity
 * Attribute names are sanitized like label names (service.name ->
 * service_name). Thread: the query's; the per-entry scratch arena is reset
 * before every entry, so an entry lives until the callback returns.
 */
#include <protobuf-c/protobuf-c.h>
#include <stdio.h>
#include <string.h>

#include "../ingest/otlp/otlp.h"
#include "logql.h"
#include "sampling/logs.h"
#include "otlp_logs.pb-c.h"

typedef Opentelemetry__Proto__Common__V1__AnyValue any_value;
typedef Opentelemetry__Proto__Common__V1__KeyValue key_value;


typedef struct meta_out {
    arena *a;
    sonde_label *l;
    uint32_t n, cap;
} meta_out;

static sonde_status meta_add(meta_out *m, const char *name, size_t nl, const char *v, size_t vl)
{
    if (vl == 0 || nl == 0)
        return SONDE_OK;
    if (m->n == m->cap) {
        uint32_t nc = m->cap ? m->cap * 2 : 16;
        sonde_label *x = arena_realloc(m->a, m->l, m->cap * sizeof *x, nc * sizeof *x);
        if (!x)
            return SONDE_ERR_NOMEM;
        m->l = x;
        m->cap = nc;
    }
    char *sn = arena_alloc(m->a, nl + 2);
    char *sv = arena_strndup(m->a, v, vl);
    if (!sn || !sv)
        return SONDE_ERR_NOMEM;
    size_t sl = logql_sanitize_label(name, nl, sn);
    m->l[m->n++] = (sonde_label){sn, sv, (uint32_t)sl, (uint32_t)vl};
    return SONDE_OK;
}

static sonde_status meta_kv(meta_out *m, buf *tmp, const key_value *kv)
{
    if (!kv->key)
        return SONDE_OK;
    buf_reset(tmp);
    sonde_status s = otlp_anyvalue_text(tmp, kv->value);
    if (s != SONDE_OK)
        return s == SONDE_ERR_INVALID ? SONDE_OK : s;
    return meta_add(m, kv->key, strlen(kv->key), tmp->data ? tmp->data : "", tmp->len);
}

static sonde_status meta_hex(meta_out *m, const char *name, const ProtobufCBinaryData *d)
{
    if (d->len == 0 || d->len > 32)
        return SONDE_OK;
    char hex[65];
    for (size_t i = 0; i < d->len; i++)
        snprintf(hex + 2 * i, 3, "%02x", d->data[i]);
    return meta_add(m, name, strlen(name), hex, d->len * 2);
}

/* Loki's detected_level from the OTLP severity. */
static const char *level_of(const char *text, int num)
{
    if (text && *text) {
        static const struct {
            const char *k, *lvl;
        } map[] = {
            {"trace", "trace"},   {"debug", "debug"}, {"info", "info"},   {"warn", "warn"},
            {"error", "error"},   {"err", "error"},   {"fatal", "fatal"}, {"critical", "critical"},
            {"crit", "critical"}, {"notice", "info"}, {"dbg", "debug"},   {"inf", "info"},
            {"wrn", "warn"},      {"eror", "error"},
        };
        char low[16];
        size_t n = strlen(text);
        if (n < sizeof low) {
            for (size_t i = 0; i <= n; i++)
                low[i] = (char)(text[i] >= 'A' && text[i] <= 'Z' ? text[i] + 32 : text[i]);
            for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
                if (strncmp(low, map[i].k, strlen(map[i].k)) == 0)
                    return map[i].lvl;
        }
    }
    if (num >= 1 && num <= 4)
        return "trace";
    if (num >= 5 && num <= 8)
        return "debug";
    if (num >= 9 && num <= 12)
        return "info";
    if (num >= 13 && num <= 16)
        return "warn";
    if (num >= 17 && num <= 20)
        return "error";
    if (num >= 21 && num <= 24)
        return "fatal";
    return "unknown";
}

static bool is_index_attr(const char *k)
{
    for (size_t i = 0; i < otlp_logs_index_nattrs; i++)
        if (strcmp(otlp_logs_index_attrs[i], k) == 0)
            return true;
    return false;
}

/* The text of a template version, from the source's cache or storage. */
static sonde_status template_text(logql_store_src *s, uint64_t id, uint32_t ver, const char **t,
                                  size_t *tl)
{
    uint64_t key = id * 0x9e3779b97f4a7c15ULL ^ ver;
    if (s->tcap) {
        for (size_t i = (size_t)key & (s->tcap - 1);; i = (i + 1) & (s->tcap - 1)) {
            if (!s->tcache[i].text)
                break;
            if (s->tcache[i].id == id && s->tcache[i].ver == ver) {
                *t = s->tcache[i].text;
                *tl = s->tcache[i].len;
                return SONDE_OK;
            }
        }
    }
    if (!s->tarena && !(s->tarena = arena_create(1 << 16, 256u << 20)))
        return SONDE_ERR_NOMEM;
    if ((s->tn + 1) * 2 > s->tcap) {
        size_t nc = s->tcap ? s->tcap * 2 : 64;
        logql_tmpl_ent *nt = arena_calloc(s->tarena, nc, sizeof *nt);
        if (!nt)
            return SONDE_ERR_NOMEM;
        for (size_t i = 0; i < s->tcap; i++) {
            if (!s->tcache[i].text)
                continue;
            uint64_t k = s->tcache[i].id * 0x9e3779b97f4a7c15ULL ^ s->tcache[i].ver;
            size_t j = (size_t)k & (nc - 1);
            while (nt[j].text)
                j = (j + 1) & (nc - 1);
            nt[j] = s->tcache[i];
        }
        s->tcache = nt;
        s->tcap = nc;
    }
    sonde_status st = storage_template_get(s->st, s->tenant, id, ver, s->tarena, t, tl, NULL);
    if (st != SONDE_OK)
        return st;
    size_t j = (size_t)key & (s->tcap - 1);
    while (s->tcache[j].text)
        j = (j + 1) & (s->tcap - 1);
    s->tcache[j] = (logql_tmpl_ent){id, ver, *t, *tl};
    s->tn++;
    return SONDE_OK;
}

sonde_status logql_store_decode(logql_store_src *src, arena *a, buf *tmp, const void *value,
                                size_t len, int64_t ts_ns, logql_entry *e)
{
    memset(e, 0, sizeof *e);
    e->ts_ns = ts_ns;
    sampling_row_info ri;
    size_t hl = sampling_row_parse(value, len, &ri);
    if (hl == SIZE_MAX)
        return SONDE_ERR_INVALID;
    value = (const uint8_t *)value + hl;
    len -= hl;
    e->weight = ri.rate;
    arena_bump bump;
    arena_bump_init(&bump, a);
    ProtobufCAllocator alloc = {arena_bump_alloc, arena_bump_free, &bump};
    Opentelemetry__Proto__Logs__V1__ResourceLogs *rl =
        opentelemetry__proto__logs__v1__resource_logs__unpack(&alloc, len, value);
    if (!rl)
        return bump.refused ? SONDE_ERR_NOMEM : SONDE_ERR_INVALID;
    const Opentelemetry__Proto__Logs__V1__ScopeLogs *sl =
        rl->n_scope_logs ? rl->scope_logs[0] : NULL;
    const Opentelemetry__Proto__Logs__V1__LogRecord *r =
        sl && sl->n_log_records ? sl->log_records[0] : NULL;
    if (!r)
        return SONDE_ERR_INVALID;
    buf_reset(tmp);
    sonde_status s;
    if (ri.vars) {
        /* template-encoded: the line is the template version's text with its variables */
        const char *t;
        size_t tl;
        s = src ? template_text(src, ri.template_id, ri.version, &t, &tl) : SONDE_ERR_NOT_FOUND;
        if (s == SONDE_OK)
            s = sampling_template_join(t, tl, ri.vars, ri.vars_len, tmp);
        if (s == SONDE_ERR_NOT_FOUND)
            s = SONDE_ERR_INVALID; /* a row whose template is gone is skipped */
        if (s != SONDE_OK)
            return s;
    } else {
        s = otlp_anyvalue_text(tmp, r->body);
        if (s != SONDE_OK && s != SONDE_ERR_INVALID)
            return s;
    }
    char *line = arena_strndup(a, tmp->data ? tmp->data : "", tmp->len);
    if (!line)
        return SONDE_ERR_NOMEM;
    e->line = line;
    e->len = tmp->len;
    meta_out m = {a, NULL, 0, 0};
    for (size_t i = 0; rl->resource && i < rl->resource->n_attributes && s == SONDE_OK; i++) {
        const key_value *kv = rl->resource->attributes[i];
        if (kv->key && !is_index_attr(kv->key))
            s = meta_kv(&m, tmp, kv);
    }
    if (s == SONDE_OK && sl->scope && sl->scope->name && *sl->scope->name)
        s = meta_add(&m, "scope_name", 10, sl->scope->name, strlen(sl->scope->name));
    for (size_t i = 0; i < r->n_attributes && s == SONDE_OK; i++)
        s = meta_kv(&m, tmp, r->attributes[i]);
    if (s == SONDE_OK && r->severity_text && *r->severity_text)
        s = meta_add(&m, "severity_text", 13, r->severity_text, strlen(r->severity_text));
    if (s == SONDE_OK)
        s = meta_hex(&m, "trace_id", &r->trace_id);
    if (s == SONDE_OK)
        s = meta_hex(&m, "span_id", &r->span_id);
    if (s == SONDE_OK) {
        const char *lvl = level_of(r->severity_text, (int)r->severity_number);
        s = meta_add(&m, "detected_level", 14, lvl, strlen(lvl));
    }
    if (s != SONDE_OK)
        return s;
    e->meta = m.l;
    e->nmeta = m.n;
    return SONDE_OK;
}

static sonde_status store_streams(void *ctx, const storage_matcher *m, size_t nm, arena *a,
                                  logql_stream_ref **out, size_t *n)
{
    logql_store_src *s = ctx;
    storage_log_stream *ls;
    sonde_status st = storage_log_streams(s->st, s->tenant, m, nm, a, &ls, n);
    if (st != SONDE_OK)
        return st;
    logql_stream_ref *r = arena_alloc(a, (*n ? *n : 1) * sizeof *r);
    if (!r)
        return arena_refusal(a);
    for (size_t i = 0; i < *n; i++)
        r[i] = (logql_stream_ref){ls[i].id, ls[i].labels, ls[i].nlabels};
    *out = r;
    return SONDE_OK;
}

static sonde_status store_scan(void *ctx, uint64_t stream_id, int64_t mint, int64_t maxt,
                               bool backward, logql_entry_fn fn, void *uctx)
{
    logql_store_src *s = ctx;
    if (!s->scratch && !(s->scratch = arena_create(1 << 16, 64u << 20)))
        return SONDE_ERR_NOMEM;
    storage_log_iter *it;
    sonde_status st =
        storage_log_iter_create(s->st, s->tenant, stream_id, mint, maxt, backward, &it);
    if (st != SONDE_OK)
        return st;
    for (;;) {
        int64_t ts;
        const void *v;
        size_t len;
        st = storage_log_iter_next(it, &ts, &v, &len);
        if (st == SONDE_ERR_NOT_FOUND) {
            st = SONDE_OK;
            break;
        }
        if (st != SONDE_OK)
            break;
        arena_reset(s->scratch);
        logql_entry e;
        st = logql_store_decode(s, s->scratch, &s->tmp, v, len, ts, &e);
        if (st == SONDE_ERR_INVALID) {
            st = SONDE_OK; /* a value that does not unpack is skipped */
            continue;
        }
        if (st != SONDE_OK)
            break;
        if (!fn(uctx, &e))
            break;
    }
    storage_log_iter_destroy(it);
    return st;
}

sonde_status logql_store_line_bytes(logql_store_src *src, const void *value, size_t len,
                                    uint64_t *bytes, uint64_t *lines)
{
    if (!src->scratch && !(src->scratch = arena_create(1 << 16, 64u << 20)))
        return SONDE_ERR_NOMEM;
    arena_reset(src->scratch);
    logql_entry e;
    sonde_status st = logql_store_decode(src, src->scratch, &src->tmp, value, len, 0, &e);
    if (st != SONDE_OK)
        return st;
    uint64_t w = e.weight > 1 ? e.weight : 1;
    *bytes = (uint64_t)e.len * w;
    *lines = w;
    return SONDE_OK;
}

void logql_store_source(logql_store_src *s, storage *st, const char *tenant, logql_source *out)
{
    memset(s, 0, sizeof *s);
    s->st = st;
    s->tenant = tenant;
    buf_init(&s->tmp, 16u << 20);
    out->ctx = s;
    out->streams = store_streams;
    out->scan = store_scan;
}

void logql_store_src_fini(logql_store_src *s)
{
    arena_destroy(s->scratch);
    s->scratch = NULL;
    arena_destroy(s->tarena);
    s->tarena = NULL;
    s->tcache = NULL;
    s->tcap = s->tn = 0;
    buf_fini(&s->tmp);
}
