/*
 * split.c - decoded OTLP traces and logs -> one stored value per span / log
 * record, and stored spans -> one TracesData for trace retrieval.
 *
 * Stored value of a span: a packed ResourceSpans holding the resource (and
 * its schema_url), one ScopeSpans (scope + schema_url) and that one span; of
 * a log record: the same shape with ResourceLogs / ScopeLogs / LogRecord.
 * Self-contained rows cost the resource bytes once per row (zstd in storage
 * takes most of that back) but make every row readable on its own, so trace
 * retrieval and retention never join against another table.
 *
 * The outer two levels are written by hand around the packed resource, scope
 * and item: the resource and scope are packed once per ResourceSpans /
 * ScopeSpans instead of once per span. The bytes equal protobuf-c's packing
 * of the composed message (fields in number order, a NULL message omitted, an
 * empty string omitted), which tests/unit/otlp/test_split.c checks.
 *
 * Log stream labels: Loki 3's OTLP mapping (see otlp.h).
 *
 * Thread: any. Everything produced lives in the caller's arena.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../core/hash.h"
#include "otlp_internal.h"
#include "translate_internal.h"

typedef Opentelemetry__Proto__Collector__Trace__V1__ExportTraceServiceRequest trace_req;
typedef Opentelemetry__Proto__Collector__Logs__V1__ExportLogsServiceRequest logs_req;
typedef Opentelemetry__Proto__Trace__V1__ResourceSpans resource_spans;
typedef Opentelemetry__Proto__Trace__V1__ScopeSpans scope_spans;
typedef Opentelemetry__Proto__Trace__V1__Span span;
typedef Opentelemetry__Proto__Trace__V1__TracesData tdata;
typedef Opentelemetry__Proto__Logs__V1__ResourceLogs resource_logs;
typedef Opentelemetry__Proto__Logs__V1__ScopeLogs scope_logs;
typedef Opentelemetry__Proto__Logs__V1__LogRecord log_record;
typedef Opentelemetry__Proto__Common__V1__KeyValue keyvalue;

/* Loki 3's -distributor.otlp.default_resource_attributes_as_index_labels
 * (Loki 3.0 had all of these but deployment.environment.name; later 3.x
 * releases added it next to the deprecated deployment.environment). */
const char *const otlp_logs_index_attrs[] = {
    "service.name",
    "service.namespace",
    "service.instance.id",
    "deployment.environment",
    "deployment.environment.name",
    "cloud.region",
    "cloud.availability_zone",
    "k8s.cluster.name",
    "k8s.namespace.name",
    "k8s.pod.name",
    "k8s.container.name",
    "container.name",
    "k8s.replicaset.name",
    "k8s.deployment.name",
    "k8s.statefulset.name",
    "k8s.daemonset.name",
    "k8s.cronjob.name",
    "k8s.job.name",
};
const size_t otlp_logs_index_nattrs = sizeof otlp_logs_index_attrs / sizeof *otlp_logs_index_attrs;

#define SPLIT_MAX_LEVEL_HDR 11 /* tag + 10-byte varint */

static size_t varint_len(uint64_t v)
{
    size_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

static uint8_t *varint_put(uint8_t *p, uint64_t v)
{
    while (v >= 0x80) {
        *p++ = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    *p++ = (uint8_t)v;
    return p;
}

/* length-delimited field (wire type 2) of number 1..15 */
static size_t ld_len(size_t n)
{
    return 1 + varint_len(n) + n;
}

static uint8_t *ld_put(uint8_t *p, unsigned field, const void *data, size_t n)
{
    *p++ = (uint8_t)(field << 3 | 2);
    p = varint_put(p, n);
    if (n)
        memcpy(p, data, n);
    return p + n;
}

/* A packed sub-message, or absent (NULL message: protobuf-c omits it). */
typedef struct piece {
    const uint8_t *p;
    size_t n;
    bool present;
} piece;

static sonde_status pack_piece(arena *a, const ProtobufCMessage *m, piece *out)
{
    out->present = m != NULL;
    out->p = NULL;
    out->n = 0;
    if (!m)
        return SONDE_OK;
    size_t n = protobuf_c_message_get_packed_size(m);
    uint8_t *p = arena_alloc(a, n ? n : 1);
    if (!p)
        return arena_refusal(a);
    protobuf_c_message_pack(m, p);
    out->p = p;
    out->n = n;
    return SONDE_OK;
}

static size_t str_len(const char *s)
{
    return s ? strlen(s) : 0;
}

/* Resource{1: resource, 2: Scope{1: scope, 2: item, 3: schema}, 3: schema} */
static sonde_status compose(arena *a, const piece *res, const char *res_schema, const piece *scope,
                            const char *scope_schema, const piece *item, uint8_t **out,
                            size_t *out_len)
{
    size_t rsl = str_len(res_schema), ssl = str_len(scope_schema);
    size_t inner =
        (scope->present ? ld_len(scope->n) : 0) + ld_len(item->n) + (ssl ? ld_len(ssl) : 0);
    size_t total = (res->present ? ld_len(res->n) : 0) + ld_len(inner) + (rsl ? ld_len(rsl) : 0);
    uint8_t *start = arena_alloc(a, total);
    if (!start)
        return arena_refusal(a);
    uint8_t *p = start;
    if (res->present)
        p = ld_put(p, 1, res->p, res->n);
    *p++ = 2 << 3 | 2;
    p = varint_put(p, inner);
    if (scope->present)
        p = ld_put(p, 1, scope->p, scope->n);
    p = ld_put(p, 2, item->p, item->n);
    if (ssl)
        p = ld_put(p, 3, scope_schema, ssl);
    if (rsl)
        p = ld_put(p, 3, res_schema, rsl);
    *out = start;
    *out_len = (size_t)(p - start);
    return (size_t)(p - start) == total ? SONDE_OK : SONDE_ERR_INTERNAL;
}

static bool all_zero(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i])
            return false;
    return true;
}

/* Records one rejection: the first reason goes to msg. */
static void reject(size_t *rejected, char *msg, size_t msglen, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void reject(size_t *rejected, char *msg, size_t msglen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (*rejected == 0 && msg && msglen)
        vsnprintf(msg, msglen, fmt, ap);
    va_end(ap);
    (*rejected)++;
}

/* Why a span cannot be stored, or NULL. */
static const char *span_problem(const span *sp)
{
    if (sp->trace_id.len != 16)
        return "traceId must be 16 bytes";
    if (all_zero(sp->trace_id.data, 16))
        return "traceId is all zeros";
    if (sp->span_id.len != 8)
        return "spanId must be 8 bytes";
    if (all_zero(sp->span_id.data, 8))
        return "spanId is all zeros";
    if (sp->parent_span_id.len != 0 && sp->parent_span_id.len != 8)
        return "parentSpanId must be empty or 8 bytes";
    if (sp->start_time_unix_nano > (uint64_t)INT64_MAX)
        return "startTimeUnixNano is after the year 2262";
    if (sp->end_time_unix_nano > (uint64_t)INT64_MAX)
        return "endTimeUnixNano is after the year 2262";
    if (sp->end_time_unix_nano < sp->start_time_unix_nano)
        return "endTimeUnixNano is before startTimeUnixNano";
    for (size_t l = 0; l < sp->n_links; l++)
        if (sp->links[l]->trace_id.len != 16 || sp->links[l]->span_id.len != 8)
            return "a link's traceId / spanId must be 16 / 8 bytes";
    return NULL;
}

sonde_status otlp_traces_split(arena *a, const void *request, otlp_span_fn fn, void *ctx,
                               size_t *rejected, char *msg, size_t msglen)
{
    const trace_req *req = request;
    *rejected = 0;
    if (msg && msglen)
        msg[0] = 0;
    if (!req || !fn)
        return SONDE_ERR_INVALID;
    sonde_status st;
    for (size_t r = 0; r < req->n_resource_spans; r++) {
        const resource_spans *rs = req->resource_spans[r];
        piece res;
        bool res_packed = false;
        for (size_t s = 0; s < rs->n_scope_spans; s++) {
            const scope_spans *ss = rs->scope_spans[s];
            piece scope;
            bool scope_packed = false;
            for (size_t i = 0; i < ss->n_spans; i++) {
                const span *sp = ss->spans[i];
                const char *why = span_problem(sp);
                if (why) {
                    reject(rejected, msg, msglen,
                           "resourceSpans[%zu].scopeSpans[%zu].spans[%zu]: %s", r, s, i, why);
                    continue;
                }
                if (!res_packed) {
                    if ((st = pack_piece(a, (const ProtobufCMessage *)rs->resource, &res)) !=
                        SONDE_OK)
                        return st;
                    res_packed = true;
                }
                if (!scope_packed) {
                    if ((st = pack_piece(a, (const ProtobufCMessage *)ss->scope, &scope)) !=
                        SONDE_OK)
                        return st;
                    scope_packed = true;
                }
                piece item;
                uint8_t *v;
                size_t vl;
                if ((st = pack_piece(a, &sp->base, &item)) != SONDE_OK ||
                    (st = compose(a, &res, rs->schema_url, &scope, ss->schema_url, &item, &v,
                                  &vl)) != SONDE_OK)
                    return st;
                if ((st = fn(ctx, sp->trace_id.data, sp->span_id.data,
                             (int64_t)sp->start_time_unix_nano, v, vl)) != SONDE_OK)
                    return st;
            }
        }
    }
    return SONDE_OK;
}

/* ---- logs ---- */

/* Loki's label name for an attribute key: [A-Za-z0-9_] kept, the rest '_'. */
static char *label_name(arena *a, const char *key, size_t n)
{
    char *o = arena_alloc(a, n + 1);
    if (!o)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        char c = key[i];
        bool ok =
            (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
        o[i] = (char)(ok ? c : '_');
    }
    o[n] = 0;
    return o;
}

static int label_cmp(const void *x, const void *y)
{
    const sonde_label *a = x, *b = y;
    size_t m = a->name_len < b->name_len ? a->name_len : b->name_len;
    int d = memcmp(a->name, b->name, m);
    if (d)
        return d;
    return a->name_len < b->name_len ? -1 : a->name_len > b->name_len;
}

/* The stream labels of one resource. */
static sonde_status stream_labels(arena *a, const resource_logs *rl, sonde_label **out,
                                  uint32_t *nout)
{
    size_t cap = otlp_logs_index_nattrs + 1;
    sonde_label *ls = arena_calloc(a, cap, sizeof *ls);
    if (!ls)
        return arena_refusal(a);
    uint32_t n = 0;
    bool have_service = false;
    buf vb;
    buf_init(&vb, (size_t)64 << 20);
    sonde_status st = SONDE_OK;
    const Opentelemetry__Proto__Resource__V1__Resource *res = rl->resource;
    for (size_t k = 0; k < otlp_logs_index_nattrs && st == SONDE_OK; k++) {
        const char *want = otlp_logs_index_attrs[k];
        const keyvalue *kv = NULL;
        for (size_t i = 0; res && i < res->n_attributes; i++)
            if (res->attributes[i]->key && strcmp(res->attributes[i]->key, want) == 0) {
                kv = res->attributes[i]; /* the first one, as pdata's Get does */
                break;
            }
        if (!kv)
            continue;
        buf_reset(&vb);
        if ((st = otlp_tr_value_str(&vb, kv->value)) != SONDE_OK)
            break;
        if (vb.len == 0)
            continue; /* Loki drops empty label values */
        size_t wl = strlen(want);
        char *name = label_name(a, want, wl);
        char *val = arena_strndup(a, vb.data, vb.len);
        if (!name || !val) {
            st = arena_refusal(a);
            break;
        }
        if (k == 0)
            have_service = true;
        ls[n++] = (sonde_label){name, val, (uint32_t)wl, (uint32_t)vb.len};
    }
    buf_fini(&vb);
    if (st != SONDE_OK)
        return st;
    if (!have_service)
        ls[n++] = (sonde_label){"service_name", "unknown_service", 12, 15};
    qsort(ls, n, sizeof *ls, label_cmp);
    /* two attributes with the same label name (cannot happen with the list
     * above, kept for safety): the first in sort order stays */
    uint32_t w = 0;
    for (uint32_t i = 0; i < n; i++)
        if (w == 0 || label_cmp(&ls[w - 1], &ls[i]) != 0)
            ls[w++] = ls[i];
    *out = ls;
    *nout = w;
    return SONDE_OK;
}

static const char *log_problem(const log_record *lr)
{
    if (lr->time_unix_nano > (uint64_t)INT64_MAX)
        return "timeUnixNano is after the year 2262";
    if (lr->observed_time_unix_nano > (uint64_t)INT64_MAX)
        return "observedTimeUnixNano is after the year 2262";
    if (lr->trace_id.len != 0 && lr->trace_id.len != 16)
        return "traceId must be empty or 16 bytes";
    if (lr->span_id.len != 0 && lr->span_id.len != 8)
        return "spanId must be empty or 8 bytes";
    return NULL;
}

/* The record's body as text for the log pipeline. */
static sonde_status log_line(arena *a, const log_record *lr, otlp_log_info *info)
{
    const Opentelemetry__Proto__Common__V1__AnyValue *b = lr->body;
    if (!b || b->value_case == OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE__NOT_SET)
        return SONDE_OK;
    if (b->value_case == OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_STRING_VALUE) {
        info->line = b->string_value ? b->string_value : "";
        info->line_len = strlen(info->line);
        info->line_is_body = true;
        return SONDE_OK;
    }
    buf tmp;
    buf_init(&tmp, 1u << 20);
    sonde_status st = otlp_anyvalue_text(&tmp, b);
    if (st == SONDE_OK) {
        char *c = arena_strndup(a, tmp.data ? tmp.data : "", tmp.len);
        if (c) {
            info->line = c;
            info->line_len = tmp.len;
        } else {
            st = arena_refusal(a);
        }
    } else if (st == SONDE_ERR_INVALID || st == SONDE_ERR_LIMIT) {
        st = SONDE_OK; /* no text: mined as an empty line */
    }
    buf_fini(&tmp);
    return st;
}

sonde_status otlp_logs_split(arena *a, const void *request, int64_t now_ns, otlp_log_fn fn,
                             void *ctx, size_t *rejected, char *msg, size_t msglen)
{
    const logs_req *req = request;
    *rejected = 0;
    if (msg && msglen)
        msg[0] = 0;
    if (!req || !fn)
        return SONDE_ERR_INVALID;
    sonde_status st;
    for (size_t r = 0; r < req->n_resource_logs; r++) {
        const resource_logs *rl = req->resource_logs[r];
        piece res;
        sonde_label *labels = NULL;
        uint32_t nlabels = 0;
        bool res_done = false;
        for (size_t s = 0; s < rl->n_scope_logs; s++) {
            const scope_logs *sl = rl->scope_logs[s];
            piece scope;
            bool scope_packed = false;
            for (size_t i = 0; i < sl->n_log_records; i++) {
                const log_record *lr = sl->log_records[i];
                const char *why = log_problem(lr);
                if (why) {
                    reject(rejected, msg, msglen,
                           "resourceLogs[%zu].scopeLogs[%zu].logRecords[%zu]: %s", r, s, i, why);
                    continue;
                }
                if (!res_done) {
                    if ((st = pack_piece(a, (const ProtobufCMessage *)rl->resource, &res)) !=
                            SONDE_OK ||
                        (st = stream_labels(a, rl, &labels, &nlabels)) != SONDE_OK)
                        return st;
                    res_done = true;
                }
                if (!scope_packed) {
                    if ((st = pack_piece(a, (const ProtobufCMessage *)sl->scope, &scope)) !=
                        SONDE_OK)
                        return st;
                    scope_packed = true;
                }
                int64_t ts = lr->time_unix_nano            ? (int64_t)lr->time_unix_nano
                             : lr->observed_time_unix_nano ? (int64_t)lr->observed_time_unix_nano
                                                           : now_ns;
                piece item;
                uint8_t *v;
                size_t vl;
                if ((st = pack_piece(a, &lr->base, &item)) != SONDE_OK ||
                    (st = compose(a, &res, rl->schema_url, &scope, sl->schema_url, &item, &v,
                                  &vl)) != SONDE_OK)
                    return st;
                otlp_log_info info = {"", 0, false, (int)lr->severity_number, lr->severity_text};
                if ((st = log_line(a, lr, &info)) != SONDE_OK ||
                    (st = fn(ctx, labels, nlabels, ts, v, vl, &info)) != SONDE_OK)
                    return st;
            }
        }
    }
    return SONDE_OK;
}

/* ---- stored spans -> TracesData ---- */

typedef struct asm_span {
    const span *sp;
    uint32_t group; /* index of its (resource, scope) group */
} asm_span;

typedef struct asm_group {
    const uint8_t *rkey, *skey; /* packed resource || schema, packed scope || schema */
    size_t rlen, slen;
    uint64_t rhash, shash;
    const resource_spans *rs; /* the first one seen */
    const scope_spans *ss;
    uint32_t res_idx; /* resource group (first group with the same rkey) */
    size_t nspans;
} asm_group;

static int asm_span_cmp(const void *x, const void *y)
{
    const span *a = ((const asm_span *)x)->sp, *b = ((const asm_span *)y)->sp;
    if (a->start_time_unix_nano != b->start_time_unix_nano)
        return a->start_time_unix_nano < b->start_time_unix_nano ? -1 : 1;
    size_t m = a->span_id.len < b->span_id.len ? a->span_id.len : b->span_id.len;
    int d = m ? memcmp(a->span_id.data, b->span_id.data, m) : 0;
    if (d)
        return d;
    return a->span_id.len < b->span_id.len ? -1 : a->span_id.len > b->span_id.len;
}

/* key = packed message || 0xFF || schema (0xFF never occurs in UTF-8 text) */
static sonde_status asm_key(arena *a, const ProtobufCMessage *m, const char *schema,
                            const uint8_t **out, size_t *len, uint64_t *h)
{
    size_t sl = str_len(schema);
    size_t pn = m ? protobuf_c_message_get_packed_size(m) : 0;
    uint8_t *k = arena_alloc(a, pn + 2 + sl);
    if (!k)
        return arena_refusal(a);
    k[0] = m ? 1 : 0; /* an absent message differs from an empty one */
    if (m)
        protobuf_c_message_pack(m, k + 1);
    k[1 + pn] = 0xFF;
    if (sl)
        memcpy(k + 2 + pn, schema, sl);
    *out = k;
    *len = pn + 2 + sl;
    *h = hash64(k, *len);
    return SONDE_OK;
}

/* Open-addressing lookup of (rkey[, skey]) among groups; returns the slot. */
static size_t asm_find(const asm_group *g, const uint32_t *slots, size_t cap, uint64_t h,
                       const uint8_t *rk, size_t rl, const uint8_t *sk, size_t sl, bool by_scope)
{
    size_t i = (size_t)h & (cap - 1);
    for (;; i = (i + 1) & (cap - 1)) {
        uint32_t s = slots[i];
        if (s == 0)
            return i;
        const asm_group *e = &g[s - 1];
        if (e->rlen == rl && memcmp(e->rkey, rk, rl) == 0 &&
            (!by_scope || (e->slen == sl && memcmp(e->skey, sk, sl) == 0)))
            return i;
    }
}

sonde_status otlp_traces_assemble(arena *a, const void *const *values, const size_t *lens, size_t n,
                                  void **traces_data, size_t *bad)
{
    size_t nbad = 0;
    sonde_status st = SONDE_OK;
    arena_bump pa;
    arena_bump_init(&pa, a);
    ProtobufCAllocator pc = {arena_bump_alloc, arena_bump_free, &pa};
    asm_span *spans = n ? arena_calloc(a, n, sizeof *spans) : NULL;
    asm_group *groups = n ? arena_calloc(a, n, sizeof *groups) : NULL;
    size_t cap = 16;
    while (cap < 2 * n)
        cap *= 2;
    uint32_t *gslots = arena_calloc(a, cap, sizeof *gslots); /* group index + 1 */
    uint32_t *rslots = arena_calloc(a, cap, sizeof *rslots);
    tdata *td = arena_alloc(a, sizeof *td);
    if ((n && (!spans || !groups)) || !gslots || !rslots || !td)
        return arena_refusal(a);
    opentelemetry__proto__trace__v1__traces_data__init(td);
    size_t nspans = 0, ngroups = 0, nres = 0;

    for (size_t i = 0; i < n; i++) {
        resource_spans *rs = (resource_spans *)protobuf_c_message_unpack(
            &opentelemetry__proto__trace__v1__resource_spans__descriptor, &pc, lens[i], values[i]);
        if (!rs) {
            if (pa.refused)
                return arena_refusal(a);
            nbad++;
            continue;
        }
        for (size_t s = 0; s < rs->n_scope_spans; s++) {
            const scope_spans *ss = rs->scope_spans[s];
            if (ss->n_spans == 0)
                continue;
            asm_group key = {0};
            if ((st = asm_key(a, (const ProtobufCMessage *)rs->resource, rs->schema_url, &key.rkey,
                              &key.rlen, &key.rhash)) != SONDE_OK ||
                (st = asm_key(a, (const ProtobufCMessage *)ss->scope, ss->schema_url, &key.skey,
                              &key.slen, &key.shash)) != SONDE_OK)
                return st;
            uint64_t gh = key.rhash ^ (key.shash * 0x9e3779b97f4a7c15ULL);
            size_t gi =
                asm_find(groups, gslots, cap, gh, key.rkey, key.rlen, key.skey, key.slen, true);
            if (gslots[gi] == 0 && ngroups >= n) {
                nbad++; /* more scopes than values: not a stored value of ours */
                continue;
            }
            if (gslots[gi] == 0) {
                size_t ri =
                    asm_find(groups, rslots, cap, key.rhash, key.rkey, key.rlen, NULL, 0, false);
                key.rs = rs;
                key.ss = ss;
                if (rslots[ri] == 0) {
                    rslots[ri] = (uint32_t)ngroups + 1;
                    key.res_idx = (uint32_t)ngroups;
                    nres++;
                } else {
                    key.res_idx = groups[rslots[ri] - 1].res_idx;
                }
                groups[ngroups] = key;
                gslots[gi] = (uint32_t)++ngroups;
            }
            for (size_t k = 0; k < ss->n_spans; k++) {
                if (nspans >= n) {
                    /* a stored value holds one span; more is not ours: skip */
                    nbad++;
                    continue;
                }
                spans[nspans].sp = ss->spans[k];
                spans[nspans].group = gslots[gi] - 1;
                nspans++;
            }
        }
    }
    if (nspans > 1)
        qsort(spans, nspans, sizeof *spans, asm_span_cmp);

    /* resources and scopes in the order of their first (earliest) span */
    uint32_t *rorder = arena_calloc(a, ngroups + 1, sizeof *rorder); /* res group -> out idx+1 */
    uint32_t *gorder = arena_calloc(a, ngroups + 1, sizeof *gorder); /* group -> scope idx+1 */
    resource_spans **outr = arena_calloc(a, nres + 1, sizeof(resource_spans *));
    if (!rorder || !gorder || !outr)
        return arena_refusal(a);
    for (size_t i = 0; i < nspans; i++)
        groups[spans[i].group].nspans++;
    size_t nout = 0;
    for (size_t i = 0; i < nspans; i++) {
        uint32_t g = spans[i].group;
        asm_group *gr = &groups[g];
        if (!rorder[gr->res_idx]) {
            resource_spans *r = arena_alloc(a, sizeof *r);
            scope_spans **sss = arena_calloc(a, ngroups, sizeof(scope_spans *));
            if (!r || !sss)
                return arena_refusal(a);
            opentelemetry__proto__trace__v1__resource_spans__init(r);
            r->resource = gr->rs->resource;
            r->schema_url = gr->rs->schema_url;
            r->scope_spans = sss;
            outr[nout] = r;
            rorder[gr->res_idx] = (uint32_t)++nout;
        }
        resource_spans *r = outr[rorder[gr->res_idx] - 1];
        if (!gorder[g]) {
            scope_spans *s = arena_alloc(a, sizeof *s);
            span **sp = arena_calloc(a, gr->nspans, sizeof(span *));
            if (!s || !sp)
                return arena_refusal(a);
            opentelemetry__proto__trace__v1__scope_spans__init(s);
            s->scope = gr->ss->scope;
            s->schema_url = gr->ss->schema_url;
            s->spans = sp;
            r->scope_spans[r->n_scope_spans] = s;
            gorder[g] = (uint32_t)++r->n_scope_spans;
        }
        scope_spans *s = r->scope_spans[gorder[g] - 1];
        s->spans[s->n_spans++] = (span *)spans[i].sp;
    }
    td->resource_spans = outr;
    td->n_resource_spans = nout;
    *traces_data = td;
    if (bad)
        *bad = nbad;
    return SONDE_OK;
}
