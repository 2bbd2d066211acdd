/*
 * logql_api.c - Grafana Loki's HTTP query API over stored OTLP logs:
 *   /loki/api/v1/query          instant metric query -> vector
 *   /loki/api/v1/query_range    log query -> streams, metric query -> matrix
 *   /loki/api/v1/labels, /loki/api/v1/label/<name>/values, /loki/api/v1/series
 *   /loki/api/v1/index/stats    {"streams","chunks","entries","bytes"}
 *   /loki/api/v1/index/volume   vector of stored bytes by label set (volume_range: matrix)
 * GET, or POST with a form body. The tenant is req->tenant (X-Scope-OrgID).
 * Times are Loki's: nanosecond or second Unix epochs, float seconds, or
 * RFC 3339. Success bodies are Loki's JSON; errors are Loki's plain-text
 * bodies ("parse error at line 1, col 12: ...") with 400 for a bad query or
 * parameter or an exceeded limit, 503 for a timeout or a storage failure.
 *
 * Thread: a query worker. Each request gets its own capped arena (the query
 * AST, PCRE2 code, results), freed when the response is written.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../core/hash.h"
#include "../core/parse.h"
#include "../core/timeutil.h"
#include "../core/url.h"
#include "../core/utf8.h"
#include "json.h"
#include "logql.h"
#include "query.h"
#include "sampling/logs.h"

#define LOKI_ARENA_CAP ((size_t)1 << 30)
#define LOKI_MAX_LINES_SCANNED ((size_t)5000000)
#define LOKI_MAX_SERIES 5000
#define LOKI_MAX_ENTRIES 5000
#define LOKI_TIMEOUT_NS (INT64_C(60) * 1000000000)
#define LOKI_MAX_QUERY_LENGTH_NS (INT64_C(721) * 3600 * 1000000000)
#define LOKI_DEFAULT_LOOKBACK_NS (INT64_C(3600) * 1000000000)

typedef struct loki_req {
    query_engine *qe;
    const http_request *req;
    http_response *resp;
    url_param *params;
    size_t nparams;
    arena *a;
    storage *st;
    const char *tenant;
    int64_t t0; /* time_mono_ns() at the start */
} loki_req;

static void loki_error(loki_req *r, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void loki_error(loki_req *r, int status, const char *fmt, ...)
{
    char msg[1200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    http_response_text(r->resp, status, "%s", msg);
}

static const url_param *param(const loki_req *r, const char *name)
{
    for (size_t i = 0; i < r->nparams; i++)
        if (strcmp(r->params[i].key, name) == 0)
            return &r->params[i];
    return NULL;
}

static bool parse_params(loki_req *r)
{
    const http_request *req = r->req;
    sonde_status st = SONDE_OK;
    const http_header *ct = http_request_header(req, "content-type");
    static const char form[] = "application/x-www-form-urlencoded";
    if (req->method == HTTP_METHOD_POST && req->body_len && ct &&
        ct->value_len >= sizeof form - 1 && strncasecmp(ct->value, form, sizeof form - 1) == 0)
        st = url_params_parse(r->a, (const char *)req->body, req->body_len, &r->params, &r->nparams,
                              10000);
    if (st == SONDE_OK && req->query_len)
        st = url_params_parse(r->a, req->query, req->query_len, &r->params, &r->nparams, 10000);
    if (st != SONDE_OK) {
        loki_error(r, 400, "invalid form data: %s",
                   st == SONDE_ERR_LIMIT ? "too many parameters" : "bad percent-encoding");
        return false;
    }
    return true;
}

/* Loki's parseTimestamp: float seconds ("1.5"), an integer (seconds when it
 * has at most 10 digits, else nanoseconds), or RFC 3339. */
static bool parse_loki_time(const char *s, size_t n, int64_t *ns)
{
    if (memchr(s, '.', n) && !memchr(s, '-', n) && !memchr(s, 'T', n)) {
        double f;
        if (!parse_f64(s, n, &f) || !(fabs(f) < 9.2e9))
            return false;
        double sec = floor(f);
        *ns = (int64_t)sec * 1000000000 + (int64_t)llround((f - sec) * 1e3) * 1000000;
        return true;
    }
    int64_t v;
    if (parse_i64(s, n, &v)) {
        size_t digits = n - (s[0] == '-');
        if (digits <= 10) {
            if (v > INT64_MAX / 1000000000 || v < INT64_MIN / 1000000000)
                return false;
            *ns = v * 1000000000;
        } else {
            *ns = v;
        }
        return true;
    }
    /* RFC 3339 with up to nanoseconds: parse_time_ms gives ms, then the fraction */
    int64_t ms;
    if (!parse_time_ms(s, n, &ms))
        return false;
    int64_t extra = 0;
    const char *dot = memchr(s, '.', n);
    if (dot) {
        size_t k = (size_t)(dot - s) + 1, d = 0;
        int64_t frac = 0;
        while (k < n && s[k] >= '0' && s[k] <= '9' && d < 9) {
            frac = frac * 10 + (s[k] - '0');
            k++;
            d++;
        }
        while (d++ < 9)
            frac *= 10;
        extra = frac % 1000000;
    }
    if (ms > INT64_MAX / 1000000 || ms < INT64_MIN / 1000000)
        return false;
    *ns = ms * 1000000 + (ms >= 0 ? extra : -extra);
    return true;
}

static bool param_time(loki_req *r, const char *name, int64_t dflt, int64_t *out)
{
    const url_param *p = param(r, name);
    if (!p || p->val_len == 0) {
        *out = dflt;
        return true;
    }
    if (!parse_loki_time(p->val, p->val_len, out)) {
        loki_error(r, 400, "invalid %s: cannot parse \"%s\" as a timestamp", name, p->val);
        return false;
    }
    return true;
}

/* A duration ("5m", "1h30m") or float seconds ("15", "0.5"). */
static bool parse_step(const char *s, size_t n, int64_t *ns)
{
    double f;
    if (parse_f64(s, n, &f)) {
        if (!(f * 1e9 < 9.2e18) || !(f * 1e9 > -9.2e18))
            return false;
        *ns = (int64_t)(f * 1e9);
        return true;
    }
    return logql_parse_duration(s, n, ns);
}

/* start, end (end defaults to now, start to end - since or 1h). */
static bool range_params(loki_req *r, int64_t *start, int64_t *end)
{
    int64_t now = time_now_ms() * 1000000;
    if (!param_time(r, "end", now, end))
        return false;
    int64_t back = LOKI_DEFAULT_LOOKBACK_NS;
    const url_param *since = param(r, "since");
    if (since && since->val_len &&
        (!parse_step(since->val, since->val_len, &back) || back < 0 || back > LOGQL_MAX_TIME_NS)) {
        loki_error(r, 400, "invalid since: cannot parse \"%s\" as a duration", since->val);
        return false;
    }
    if (*end < -LOGQL_MAX_TIME_NS || *end > LOGQL_MAX_TIME_NS) {
        loki_error(r, 400, "invalid time range: times must lie between 1823 and 2116");
        return false;
    }
    if (!param_time(r, "start", *end - back, start))
        return false;
    if (*start < -LOGQL_MAX_TIME_NS || *start > LOGQL_MAX_TIME_NS || *end < -LOGQL_MAX_TIME_NS ||
        *end > LOGQL_MAX_TIME_NS) {
        loki_error(r, 400, "invalid time range: times must lie between 1823 and 2116");
        return false;
    }
    if (*end < *start) {
        loki_error(r, 400, "end timestamp must not be before or equal to start time");
        return false;
    }
    if (*end - *start > LOKI_MAX_QUERY_LENGTH_NS) {
        loki_error(r, 400,
                   "the query time range exceeds the limit (query length: %.0fh, limit: 721h)",
                   (double)(*end - *start) / 3.6e12);
        return false;
    }
    return true;
}

static bool param_limit(loki_req *r, size_t *limit)
{
    const url_param *p = param(r, "limit");
    *limit = 100;
    if (!p || p->val_len == 0)
        return true;
    uint64_t v;
    if (!parse_u64(p->val, p->val_len, &v)) {
        loki_error(r, 400, "invalid limit: cannot parse \"%s\" as a positive integer", p->val);
        return false;
    }
    if (v > LOKI_MAX_ENTRIES) {
        loki_error(r, 400,
                   "max entries limit per query exceeded, limit > max_entries_limit_per_query "
                   "(%llu > %d)",
                   (unsigned long long)v, LOKI_MAX_ENTRIES);
        return false;
    }
    *limit = (size_t)v;
    return true;
}

static bool param_direction(loki_req *r, bool *backward)
{
    const url_param *p = param(r, "direction");
    *backward = true;
    if (!p || p->val_len == 0)
        return true;
    if (strcasecmp(p->val, "forward") == 0)
        *backward = false;
    else if (strcasecmp(p->val, "backward") != 0) {
        loki_error(r, 400, "invalid direction \"%s\": use forward or backward", p->val);
        return false;
    }
    return true;
}

/* ---- JSON ---- */

static sonde_status json_labels(buf *b, const sonde_label *l, uint32_t n)
{
    sonde_status s = buf_putc(b, '{');
    for (uint32_t i = 0; i < n && s == SONDE_OK; i++) {
        if (i)
            s = buf_putc(b, ',');
        if (s == SONDE_OK)
            s = buf_json_str(b, l[i].name, l[i].name_len);
        if (s == SONDE_OK)
            s = buf_putc(b, ':');
        if (s == SONDE_OK)
            s = buf_json_str(b, l[i].value, l[i].value_len);
    }
    return s == SONDE_OK ? buf_putc(b, '}') : s;
}

static sonde_status json_point(buf *b, int64_t ts_ns, double v)
{
    sonde_status s = buf_putc(b, '[');
    if (s == SONDE_OK)
        s = query_json_timestamp(b, ts_ns / 1000000);
    if (s == SONDE_OK)
        s = buf_puts(b, ",\"");
    if (s == SONDE_OK)
        s = query_json_float(b, v);
    return s == SONDE_OK ? buf_puts(b, "\"]") : s;
}

static sonde_status json_stats(buf *b, const logql_stats *st, int64_t exec_ns)
{
    double secs = (double)exec_ns / 1e9;
    double per = secs > 0 ? 1.0 / secs : 0;
    return buf_printf(
        b,
        "\"stats\":{\"summary\":{\"bytesProcessedPerSecond\":%llu,"
        "\"linesProcessedPerSecond\":%llu,\"totalBytesProcessed\":%llu,"
        "\"totalLinesProcessed\":%llu,\"execTime\":%.6f,\"queueTime\":0,\"subqueries\":0,"
        "\"totalEntriesReturned\":%llu,\"splits\":0,\"shards\":0,"
        "\"totalPostFilterLines\":%llu,\"totalStructuredMetadataBytesProcessed\":0,"
        "\"sampledLinesProcessed\":%llu},"
        "\"querier\":{\"store\":{\"chunk\":{\"decompressedBytes\":%llu,"
        "\"decompressedLines\":%llu,\"postFilterLines\":%llu}}}}",
        (unsigned long long)((double)st->bytes_scanned * per),
        (unsigned long long)((double)st->lines_scanned * per),
        (unsigned long long)st->bytes_scanned, (unsigned long long)st->lines_scanned, secs,
        (unsigned long long)st->entries_returned, (unsigned long long)st->lines_post_filter,
        (unsigned long long)st->lines_sampled, (unsigned long long)st->bytes_scanned, (unsigned long long)st->lines_scanned,
        (unsigned long long)st->lines_post_filter);
}

static sonde_status json_result(buf *b, const logql_result *res, bool instant,
                                const logql_stats *st, int64_t exec_ns)
{
    sonde_status s = buf_puts(b, "{\"status\":\"success\",\"data\":{\"resultType\":");
    if (s == SONDE_OK)
        s = buf_puts(b, res->is_log ? "\"streams\"" : instant ? "\"vector\"" : "\"matrix\"");
    if (s == SONDE_OK)
        s = buf_puts(b, ",\"result\":[");
    if (res->is_log) {
        for (size_t i = 0; i < res->nstreams && s == SONDE_OK; i++) {
            const logql_out_stream *os = &res->streams[i];
            s = buf_puts(b, i ? ",{\"stream\":" : "{\"stream\":");
            if (s == SONDE_OK)
                s = json_labels(b, os->labels, os->nlabels);
            if (s == SONDE_OK)
                s = buf_puts(b, ",\"values\":[");
            for (size_t k = 0; k < os->n && s == SONDE_OK; k++) {
                s = buf_printf(b, "%s[\"%lld\",", k ? "," : "", (long long)os->entries[k].ts_ns);
                if (s == SONDE_OK)
                    s = buf_json_str(b, os->entries[k].line, os->entries[k].len);
                if (s == SONDE_OK)
                    s = buf_putc(b, ']');
            }
            if (s == SONDE_OK)
                s = buf_puts(b, "]}");
        }
    } else {
        for (size_t i = 0; i < res->nseries && s == SONDE_OK; i++) {
            const logql_out_series *os = &res->series[i];
            s = buf_puts(b, i ? ",{\"metric\":" : "{\"metric\":");
            if (s == SONDE_OK)
                s = json_labels(b, os->labels, os->nlabels);
            if (instant) {
                if (s == SONDE_OK)
                    s = buf_puts(b, ",\"value\":");
                if (s == SONDE_OK)
                    s = json_point(b, os->points[os->n - 1].ts_ns, os->points[os->n - 1].v);
            } else {
                if (s == SONDE_OK)
                    s = buf_puts(b, ",\"values\":[");
                for (size_t k = 0; k < os->n && s == SONDE_OK; k++) {
                    if (k)
                        s = buf_putc(b, ',');
                    if (s == SONDE_OK)
                        s = json_point(b, os->points[k].ts_ns, os->points[k].v);
                }
                if (s == SONDE_OK)
                    s = buf_putc(b, ']');
            }
            if (s == SONDE_OK)
                s = buf_putc(b, '}');
        }
    }
    /* sampled: some lines read were kept by dynamic sampling, and metric results count each
     * of them for the lines it stands for (its stored sample rate) */
    if (s == SONDE_OK)
        s = buf_printf(b, "],\"sampled\":%s,", st->lines_sampled ? "true" : "false");
    if (s == SONDE_OK)
        s = json_stats(b, st, exec_ns);
    return s == SONDE_OK ? buf_puts(b, "}}") : s;
}

static void begin_json(loki_req *r)
{
    buf_reset(&r->resp->body);
    r->resp->status = 200;
    r->resp->content_type = "application/json; charset=UTF-8";
}

static void status_error(loki_req *r, sonde_status s, const char *msg)
{
    switch (s) {
    case SONDE_ERR_INVALID:
    case SONDE_ERR_LIMIT:
        loki_error(r, 400, "%s", msg && *msg ? msg : "the query exceeds a limit");
        break;
    case SONDE_ERR_TIMEOUT:
        loki_error(r, 503, "%s", msg && *msg ? msg : "context deadline exceeded");
        break;
    case SONDE_ERR_STORAGE:
        loki_error(r, 503, "storage error: reading the logs failed");
        break;
    case SONDE_ERR_NOMEM:
        loki_error(r, 503, "out of memory");
        break;
    default:
        loki_error(r, 500, "internal error: %s", sonde_status_name(s));
        break;
    }
}

static void response_too_large(loki_req *r)
{
    loki_error(r, 400,
               "the response exceeds the maximum response size; reduce limit, the time "
               "range or the number of series");
}

/* ---- query, query_range ---- */

static bool parse_query(loki_req *r, logql_node **root)
{
    const url_param *q = param(r, "query");
    if (!q || q->val_len == 0) {
        loki_error(r, 400, "parse error : syntax error: unexpected $end");
        return false;
    }
    logql_parse_error pe;
    sonde_status s = logql_parse(r->a, q->val, q->val_len, root, &pe);
    if (s == SONDE_ERR_INVALID) {
        char msg[600];
        logql_parse_error_format(&pe, msg, sizeof msg);
        loki_error(r, 400, "%s", msg);
        return false;
    }
    if (s != SONDE_OK) {
        status_error(r, s, "the query is too large");
        return false;
    }
    return true;
}

/* The longest range + offset of the query's range aggregations. */
static int64_t max_lookback(const logql_node *n)
{
    if (!n)
        return 0;
    switch (n->kind) {
    case LOGQL_NODE_RANGE:
        return n->range_ns + n->offset_ns;
    case LOGQL_NODE_VECTOR:
        return max_lookback(n->inner);
    case LOGQL_NODE_BINARY: {
        int64_t l = max_lookback(n->lhs), r = max_lookback(n->rhs);
        return l > r ? l : r;
    }
    default:
        return 0;
    }
}

static void eval_ctx_init(loki_req *r, logql_eval_ctx *c, const logql_source *src)
{
    memset(c, 0, sizeof *c);
    c->src = src;
    c->a = r->a;
    c->lim.max_lines_scanned = LOKI_MAX_LINES_SCANNED;
    c->lim.max_series = LOKI_MAX_SERIES;
    c->lim.max_entries = LOKI_MAX_ENTRIES;
    c->lim.deadline_ns = r->t0 + LOKI_TIMEOUT_NS;
}

static void handle_query(loki_req *r, bool range)
{
    logql_node *root;
    if (!parse_query(r, &root))
        return;
    size_t limit;
    bool backward;
    if (!param_limit(r, &limit) || !param_direction(r, &backward))
        return;
    int64_t start, end, step = 0;
    if (range) {
        if (!range_params(r, &start, &end))
            return;
        const url_param *p = param(r, "step");
        if (p && p->val_len) {
            if (!parse_step(p->val, p->val_len, &step)) {
                loki_error(r, 400, "invalid step: cannot parse \"%s\" as a duration", p->val);
                return;
            }
            if (step <= 0) {
                loki_error(r, 400,
                           "zero or negative query resolution step widths are not "
                           "accepted. Try a positive integer");
                return;
            }
        } else {
            int64_t secs = (end - start) / 1000000000 / 250;
            step = (secs > 1 ? secs : 1) * 1000000000;
        }
    } else {
        if (root->kind == LOGQL_NODE_LOG) {
            loki_error(r, 400,
                       "log queries are not supported as an instant query type, please "
                       "change your query to a range query type");
            return;
        }
        if (!param_time(r, "time", time_now_ms() * 1000000, &end))
            return;
        if (end < -LOGQL_MAX_TIME_NS || end > LOGQL_MAX_TIME_NS) {
            loki_error(r, 400, "invalid time: it must lie between 1823 and 2116");
            return;
        }
        start = end;
    }
    /* what is read spans the range plus the longest [range] and offset */
    int64_t span = end - start + max_lookback(root);
    if (span > LOKI_MAX_QUERY_LENGTH_NS) {
        loki_error(r, 400,
                   "the query time range exceeds the limit (query length: %.0fh, limit: 721h)",
                   (double)span / 3.6e12);
        return;
    }
    logql_store_src ss;
    logql_source src;
    logql_store_source(&ss, r->st, r->tenant, &src);
    logql_eval_ctx c;
    eval_ctx_init(r, &c, &src);
    logql_result res;
    sonde_status s;
    if (root->kind == LOGQL_NODE_LOG)
        s = logql_eval_logs(&c, root, start, end, limit, backward, &res);
    else
        s = logql_eval_metric(&c, root, start, end, range ? step : 0, &res);
    logql_store_src_fini(&ss);
    if (s != SONDE_OK) {
        status_error(r, s, c.err);
        return;
    }
    begin_json(r);
    if (json_result(&r->resp->body, &res, !range, &c.stats, time_mono_ns() - r->t0) != SONDE_OK)
        response_too_large(r);
}

/* ---- labels, label values, series ---- */

static bool re_match_cb(void *ctx, const char *v, size_t n)
{
    return logql_re_match(ctx, v, n);
}

static storage_matcher *to_storage(loki_req *r, const logql_matcher *m, size_t nm)
{
    storage_matcher *sm = arena_calloc(r->a, nm ? nm : 1, sizeof *sm);
    if (!sm)
        return NULL;
    for (size_t i = 0; i < nm; i++) {
        sm[i] = (storage_matcher){m[i].name,  m[i].name_len,  m[i].op,
                                  m[i].value, m[i].value_len, m[i].re ? re_match_cb : NULL,
                                  m[i].re};
    }
    return sm;
}

/* Parses a selector parameter; *nm = 0 when absent. */
static bool selector_param(loki_req *r, const char *name, logql_matcher **m, size_t *nm)
{
    *m = NULL;
    *nm = 0;
    const url_param *p = param(r, name);
    if (!p || p->val_len == 0)
        return true;
    logql_parse_error pe;
    sonde_status s = logql_parse_selector(r->a, p->val, p->val_len, m, nm, &pe);
    if (s == SONDE_ERR_INVALID) {
        /* a full query is accepted too: its selector is what counts */
        logql_node *root;
        logql_parse_error pe2;
        if (logql_parse(r->a, p->val, p->val_len, &root, &pe2) == SONDE_OK &&
            (root->kind == LOGQL_NODE_LOG || root->kind == LOGQL_NODE_RANGE)) {
            *m = root->log.matchers;
            *nm = root->log.nmatchers;
            return true;
        }
        char msg[600];
        logql_parse_error_format(&pe, msg, sizeof msg);
        loki_error(r, 400, "%s", msg);
        return false;
    }
    if (s != SONDE_OK) {
        status_error(r, s, NULL);
        return false;
    }
    return true;
}

/* Streams matching m with at least one entry in [start, end]. */
static bool streams_in_range(loki_req *r, const logql_matcher *m, size_t nm, int64_t start,
                             int64_t end, storage_log_stream **out, size_t *n)
{
    storage_matcher *sm = to_storage(r, m, nm);
    if (!sm) {
        status_error(r, SONDE_ERR_NOMEM, NULL);
        return false;
    }
    sonde_status s = storage_log_streams(r->st, r->tenant, sm, nm, r->a, out, n);
    size_t w = 0;
    for (size_t i = 0; s == SONDE_OK && i < *n; i++) {
        storage_log_iter *it;
        if ((s = storage_log_iter_create(r->st, r->tenant, (*out)[i].id, start, end, false, &it)) !=
            SONDE_OK)
            break;
        int64_t ts;
        const void *v;
        size_t len;
        sonde_status ns = storage_log_iter_next(it, &ts, &v, &len);
        storage_log_iter_destroy(it);
        if (ns == SONDE_OK)
            (*out)[w++] = (*out)[i];
        else if (ns != SONDE_ERR_NOT_FOUND)
            s = ns;
        if (time_mono_ns() - r->t0 > LOKI_TIMEOUT_NS)
            s = SONDE_ERR_TIMEOUT;
    }
    if (s != SONDE_OK) {
        status_error(r, s, NULL);
        return false;
    }
    *n = w;
    return true;
}

static int str_cmp(const void *x, const void *y)
{
    return strcmp(*(const char *const *)x, *(const char *const *)y);
}

static void handle_labels(loki_req *r, const char *name)
{
    int64_t start, end;
    logql_matcher *m;
    size_t nm;
    if (!range_params(r, &start, &end) || !selector_param(r, "query", &m, &nm))
        return;
    storage_log_stream *ls;
    size_t n;
    if (!streams_in_range(r, m, nm, start, end, &ls, &n))
        return;
    size_t total = 0;
    for (size_t i = 0; i < n; i++)
        total += ls[i].nlabels;
    const char **vals = arena_alloc(r->a, (total ? total : 1) * sizeof *vals);
    if (!vals) {
        status_error(r, SONDE_ERR_NOMEM, NULL);
        return;
    }
    size_t nv = 0;
    for (size_t i = 0; i < n; i++)
        for (uint32_t k = 0; k < ls[i].nlabels; k++) {
            const sonde_label *l = &ls[i].labels[k];
            if (name && (strlen(name) != l->name_len || memcmp(name, l->name, l->name_len) != 0))
                continue;
            const char *s = name ? arena_strndup(r->a, l->value, l->value_len)
                                 : arena_strndup(r->a, l->name, l->name_len);
            if (!s) {
                status_error(r, SONDE_ERR_NOMEM, NULL);
                return;
            }
            vals[nv++] = s;
        }
    qsort(vals, nv, sizeof *vals, str_cmp);
    begin_json(r);
    buf *b = &r->resp->body;
    sonde_status s = buf_puts(b, "{\"status\":\"success\",\"data\":[");
    for (size_t i = 0, k = 0; i < nv && s == SONDE_OK; i++) {
        if (i && strcmp(vals[i], vals[i - 1]) == 0)
            continue;
        if (k++)
            s = buf_putc(b, ',');
        if (s == SONDE_OK)
            s = buf_json_str(b, vals[i], strlen(vals[i]));
    }
    if (s == SONDE_OK)
        s = buf_puts(b, "]}");
    if (s != SONDE_OK)
        response_too_large(r);
}

static int stream_cmp(const void *x, const void *y)
{
    const storage_log_stream *a = x, *b = y;
    for (uint32_t i = 0; i < a->nlabels && i < b->nlabels; i++) {
        int d = series_label_cmp(&a->labels[i], &b->labels[i]);
        if (d)
            return d;
    }
    return (a->nlabels > b->nlabels) - (a->nlabels < b->nlabels);
}

static void handle_series(loki_req *r)
{
    int64_t start, end;
    if (!range_params(r, &start, &end))
        return;
    /* every match[] is one selector; the result is their union */
    storage_log_stream *all = NULL;
    size_t nall = 0, cap = 0;
    size_t nmatch = 0;
    for (size_t i = 0; i < r->nparams; i++) {
        if (strcmp(r->params[i].key, "match[]") != 0 && strcmp(r->params[i].key, "match") != 0)
            continue;
        nmatch++;
        logql_matcher *m;
        size_t nm;
        logql_parse_error pe;
        sonde_status s =
            logql_parse_selector(r->a, r->params[i].val, r->params[i].val_len, &m, &nm, &pe);
        if (s != SONDE_OK) {
            char msg[600];
            logql_parse_error_format(&pe, msg, sizeof msg);
            if (s == SONDE_ERR_INVALID)
                loki_error(r, 400, "%s", msg);
            else
                status_error(r, s, NULL);
            return;
        }
        storage_log_stream *ls;
        size_t n;
        if (!streams_in_range(r, m, nm, start, end, &ls, &n))
            return;
        for (size_t k = 0; k < n; k++) {
            bool dup = false;
            for (size_t j = 0; j < nall && !dup; j++)
                dup = all[j].id == ls[k].id;
            if (dup)
                continue;
            if (nall == cap) {
                size_t nc = cap ? cap * 2 : 64;
                storage_log_stream *na =
                    arena_realloc(r->a, all, cap * sizeof *na, nc * sizeof *na);
                if (!na) {
                    status_error(r, SONDE_ERR_NOMEM, NULL);
                    return;
                }
                all = na;
                cap = nc;
            }
            all[nall++] = ls[k];
        }
    }
    if (nmatch == 0) {
        storage_log_stream *ls;
        size_t n;
        if (!streams_in_range(r, NULL, 0, start, end, &ls, &n))
            return;
        all = ls;
        nall = n;
    }
    if (nall)
        qsort(all, nall, sizeof *all, stream_cmp);
    begin_json(r);
    buf *b = &r->resp->body;
    sonde_status s = buf_puts(b, "{\"status\":\"success\",\"data\":[");
    for (size_t i = 0; i < nall && s == SONDE_OK; i++) {
        if (i)
            s = buf_putc(b, ',');
        if (s == SONDE_OK)
            s = json_labels(b, all[i].labels, all[i].nlabels);
    }
    if (s == SONDE_OK)
        s = buf_puts(b, "]}");
    if (s != SONDE_OK)
        response_too_large(r);
}

/* ---- index stats, volume ---- */

typedef struct volume {
    uint64_t entries, bytes, chunks;
} volume;

/* Entries and stored bytes of one stream in [start, end]; chunks: days with data. */
static sonde_status stream_volume(loki_req *r, logql_store_src *src, uint64_t id, int64_t start,
                                  int64_t end, volume *v, uint64_t *budget)
{
    storage_log_iter *it;
    sonde_status s = storage_log_iter_create(r->st, r->tenant, id, start, end, false, &it);
    if (s != SONDE_OK)
        return s;
    int64_t last_day = -1;
    for (;;) {
        int64_t ts;
        const void *val;
        size_t len;
        s = storage_log_iter_next(it, &ts, &val, &len);
        if (s != SONDE_OK)
            break;
        if (*budget == 0) {
            s = SONDE_ERR_LIMIT;
            break;
        }
        (*budget)--;
        uint64_t b = len, n = 1;
        sonde_status ls = logql_store_line_bytes(src, val, len, &b, &n);
        if (ls == SONDE_ERR_NOMEM) {
            s = ls;
            break;
        }
        v->entries += n;
        v->bytes += b;
        int64_t day = ts / (INT64_C(86400) * 1000000000);
        if (day != last_day) {
            v->chunks++;
            last_day = day;
        }
    }
    storage_log_iter_destroy(it);
    return s == SONDE_ERR_NOT_FOUND ? SONDE_OK : s;
}

static void handle_index_stats(loki_req *r)
{
    int64_t start, end;
    logql_matcher *m;
    size_t nm;
    if (!range_params(r, &start, &end) || !selector_param(r, "query", &m, &nm))
        return;
    storage_log_stream *ls;
    size_t n;
    if (!streams_in_range(r, m, nm, start, end, &ls, &n))
        return;
    volume v = {0, 0, 0};
    uint64_t budget = LOKI_MAX_LINES_SCANNED;
    logql_store_src src;
    logql_source unused;
    logql_store_source(&src, r->st, r->tenant, &unused);
    for (size_t i = 0; i < n; i++) {
        sonde_status s = stream_volume(r, &src, ls[i].id, start, end, &v, &budget);
        if (s != SONDE_OK) {
            logql_store_src_fini(&src);
            status_error(r, s,
                         s == SONDE_ERR_LIMIT ? "index stats would read more than 5000000 log "
                                                "lines; narrow the time range or the selector"
                                              : NULL);
            return;
        }
    }
    logql_store_src_fini(&src);
    begin_json(r);
    if (buf_printf(&r->resp->body,
                   "{\"streams\":%zu,\"chunks\":%llu,\"entries\":%llu,\"bytes\":%llu}", n,
                   (unsigned long long)v.chunks, (unsigned long long)v.entries,
                   (unsigned long long)v.bytes) != SONDE_OK)
        response_too_large(r);
}

typedef struct vol_group {
    sonde_label *labels;
    uint32_t nlabels;
    uint64_t bytes;
    uint64_t *steps; /* volume_range: bytes per step */
} vol_group;

static int vol_cmp(const void *x, const void *y)
{
    const vol_group *a = x, *b = y;
    if (a->bytes != b->bytes)
        return a->bytes > b->bytes ? -1 : 1;
    for (uint32_t i = 0; i < a->nlabels && i < b->nlabels; i++) {
        int d = series_label_cmp(&a->labels[i], &b->labels[i]);
        if (d)
            return d;
    }
    return (a->nlabels > b->nlabels) - (a->nlabels < b->nlabels);
}

static bool same_labels(const sonde_label *a, uint32_t na, const sonde_label *b, uint32_t nb)
{
    if (na != nb)
        return false;
    for (uint32_t i = 0; i < na; i++)
        if (series_label_cmp(&a[i], &b[i]) != 0)
            return false;
    return true;
}

typedef struct vol_ctx {
    loki_req *r;
    logql_store_src src; /* decodes entries for their line bytes */
    vol_group *g;
    size_t ng, cap;
    size_t nsteps;
    int64_t start, step;
} vol_ctx;

/* The group of these labels (copied on first sight); NULL on OOM. */
static vol_group *vol_group_of(vol_ctx *v, const sonde_label *l, uint32_t n)
{
    for (size_t i = 0; i < v->ng; i++)
        if (same_labels(v->g[i].labels, v->g[i].nlabels, l, n))
            return &v->g[i];
    if (v->ng == v->cap) {
        size_t nc = v->cap ? v->cap * 2 : 16;
        vol_group *ng = arena_realloc(v->r->a, v->g, v->cap * sizeof *ng, nc * sizeof *ng);
        if (!ng)
            return NULL;
        v->g = ng;
        v->cap = nc;
    }
    vol_group *g = &v->g[v->ng];
    memset(g, 0, sizeof *g);
    g->labels = arena_alloc(v->r->a, (n ? n : 1) * sizeof *g->labels);
    if (!g->labels)
        return NULL;
    memcpy(g->labels, l, n * sizeof *l);
    g->nlabels = n;
    if (v->nsteps && !(g->steps = arena_calloc(v->r->a, v->nsteps, sizeof *g->steps)))
        return NULL;
    v->ng++;
    return g;
}

/* Stored bytes of one stream in [start, end], per step when v->nsteps. */
static sonde_status stream_bytes(vol_ctx *v, uint64_t id, int64_t start, int64_t end,
                                 uint64_t *total, uint64_t *steps, uint64_t *budget)
{
    storage_log_iter *it;
    sonde_status s = storage_log_iter_create(v->r->st, v->r->tenant, id, start, end, false, &it);
    if (s != SONDE_OK)
        return s;
    for (;;) {
        int64_t ts;
        const void *val;
        size_t len;
        if ((s = storage_log_iter_next(it, &ts, &val, &len)) != SONDE_OK)
            break;
        if (*budget == 0) {
            s = SONDE_ERR_LIMIT;
            break;
        }
        (*budget)--;
        uint64_t b = len, nl = 1;
        sonde_status ls = logql_store_line_bytes(&v->src, val, len, &b, &nl);
        if (ls == SONDE_ERR_NOMEM) {
            s = ls;
            break;
        }
        *total += b;
        if (steps) {
            /* the point at start + i*step covers (t - step, t] */
            int64_t d = ts - v->start;
            size_t i = d <= 0 ? 0 : (size_t)((d + v->step - 1) / v->step);
            steps[i < v->nsteps ? i : v->nsteps - 1] += b;
        }
    }
    storage_log_iter_destroy(it);
    return s == SONDE_ERR_NOT_FOUND ? SONDE_OK : s;
}

static void handle_volume(loki_req *r, bool range)
{
    int64_t start, end;
    logql_matcher *m;
    size_t nm;
    if (!range_params(r, &start, &end) || !selector_param(r, "query", &m, &nm))
        return;
    if (nm == 0) {
        loki_error(r, 400, "parse error : syntax error: unexpected $end");
        return;
    }
    size_t limit;
    if (!param_limit(r, &limit))
        return;
    bool by_labels = false;
    const url_param *ab = param(r, "aggregateBy");
    if (ab && ab->val_len) {
        if (strcmp(ab->val, "labels") == 0)
            by_labels = true;
        else if (strcmp(ab->val, "series") != 0) {
            loki_error(r, 400, "invalid aggregateBy \"%s\": use series or labels", ab->val);
            return;
        }
    }
    vol_ctx v;
    memset(&v, 0, sizeof v);
    v.r = r;
    v.start = start;
    if (range) {
        const url_param *p = param(r, "step");
        int64_t step;
        if (p && p->val_len) {
            if (!parse_step(p->val, p->val_len, &step) || step <= 0) {
                loki_error(r, 400, "invalid step: cannot parse \"%s\" as a positive duration",
                           p->val);
                return;
            }
        } else {
            int64_t secs = (end - start) / 1000000000 / 250;
            step = (secs > 1 ? secs : 1) * 1000000000;
        }
        if ((end - start) / step + 1 > 11000) {
            loki_error(r, 400,
                       "exceeded maximum resolution of 11,000 points per timeseries. Try "
                       "increasing the value of the step parameter");
            return;
        }
        v.step = step;
        v.nsteps = (size_t)((end - start) / step) + 1;
    }
    /* the names to group by: targetLabels, else the selector's label names */
    const char *names[64];
    size_t nl[64], nnames = 0;
    const url_param *tl = param(r, "targetLabels");
    if (tl && tl->val_len) {
        const char *s = tl->val;
        size_t left = tl->val_len;
        while (left && nnames < 64) {
            const char *c = memchr(s, ',', left);
            size_t l = c ? (size_t)(c - s) : left;
            if (l) {
                names[nnames] = s;
                nl[nnames++] = l;
            }
            if (!c)
                break;
            left -= l + 1;
            s = c + 1;
        }
    } else {
        for (size_t i = 0; i < nm && nnames < 64; i++) {
            names[nnames] = m[i].name;
            nl[nnames++] = m[i].name_len;
        }
    }
    storage_log_stream *ls;
    size_t n;
    if (!streams_in_range(r, m, nm, start, end, &ls, &n))
        return;
    uint64_t budget = LOKI_MAX_LINES_SCANNED;
    uint64_t *steps = v.nsteps ? arena_alloc(r->a, v.nsteps * sizeof *steps) : NULL;
    if (v.nsteps && !steps) {
        status_error(r, SONDE_ERR_NOMEM, NULL);
        return;
    }
    logql_source unused;
    logql_store_source(&v.src, r->st, r->tenant, &unused);
    for (size_t i = 0; i < n; i++) {
        uint64_t total = 0;
        if (steps)
            memset(steps, 0, v.nsteps * sizeof *steps);
        sonde_status s = stream_bytes(&v, ls[i].id, start, end, &total, steps, &budget);
        if (s != SONDE_OK) {
            logql_store_src_fini(&v.src);
            status_error(r, s,
                         s == SONDE_ERR_LIMIT ? "volume would read more than 5000000 log lines; "
                                                "narrow the time range or the selector"
                                              : NULL);
            return;
        }
        /* series: one group of the stream's grouping labels; labels: one group per label
         * name, with an empty value */
        sonde_label gl[64];
        uint32_t k = 0;
        for (uint32_t j = 0; j < ls[i].nlabels; j++)
            for (size_t t = 0; t < nnames && k < 64; t++)
                if (nl[t] == ls[i].labels[j].name_len &&
                    memcmp(names[t], ls[i].labels[j].name, nl[t]) == 0) {
                    gl[k] = ls[i].labels[j];
                    if (by_labels) {
                        gl[k].value = "";
                        gl[k].value_len = 0;
                    }
                    k++;
                    break;
                }
        uint32_t ngroups = by_labels ? k : 1;
        for (uint32_t gi = 0; gi < ngroups; gi++) {
            vol_group *g = by_labels ? vol_group_of(&v, &gl[gi], 1) : vol_group_of(&v, gl, k);
            if (!g) {
                logql_store_src_fini(&v.src);
                status_error(r, SONDE_ERR_NOMEM, NULL);
                return;
            }
            g->bytes += total;
            for (size_t t = 0; t < v.nsteps; t++)
                g->steps[t] += steps[t];
        }
    }
    logql_store_src_fini(&v.src);
    if (v.ng)
        qsort(v.g, v.ng, sizeof *v.g, vol_cmp);
    size_t ng = limit && v.ng > limit ? limit : v.ng;
    begin_json(r);
    buf *b = &r->resp->body;
    sonde_status s = buf_printf(b,
                                "{\"status\":\"success\",\"data\":{\"resultType\":\"%s\","
                                "\"result\":[",
                                range ? "matrix" : "vector");
    for (size_t i = 0; i < ng && s == SONDE_OK; i++) {
        s = buf_puts(b, i ? ",{\"metric\":" : "{\"metric\":");
        if (s == SONDE_OK)
            s = json_labels(b, v.g[i].labels, v.g[i].nlabels);
        if (!range) {
            if (s == SONDE_OK)
                s = buf_puts(b, ",\"value\":");
            if (s == SONDE_OK)
                s = json_point(b, end, (double)v.g[i].bytes);
        } else {
            if (s == SONDE_OK)
                s = buf_puts(b, ",\"values\":[");
            bool first = true;
            for (size_t t = 0; t < v.nsteps && s == SONDE_OK; t++) {
                if (!v.g[i].steps[t])
                    continue;
                if (!first)
                    s = buf_putc(b, ',');
                first = false;
                if (s == SONDE_OK)
                    s = json_point(b, start + (int64_t)t * v.step, (double)v.g[i].steps[t]);
            }
            if (s == SONDE_OK)
                s = buf_putc(b, ']');
        }
        if (s == SONDE_OK)
            s = buf_putc(b, '}');
    }
    if (s == SONDE_OK)
        s = buf_puts(b, "]}}");
    if (s != SONDE_OK)
        response_too_large(r);
}

/* ---- routing ---- */

/* ---- patterns ---- */

/* The per-template counts the log pipeline stores (sampling/logs.h) give each pattern's exact
 * line count per step, sampled lines included. A count series holds running totals (one
 * increment per batch), so a step's count is the sum of the increments of the samples in it;
 * the first increment needs the sample before `start`, looked for up to this far back. */
#define PATTERNS_HISTORY_NS (INT64_C(7) * 86400 * 1000000000)
#define PATTERNS_MAX_STEPS 11000
#define PATTERNS_MAX_POINTS 20000000 /* templates x steps: 160 MB of counters at most */

typedef struct pat_group {
    uint64_t tid;
    const char *text; /* Loki's form: variables as <_> */
    size_t len;
    uint64_t total;
    uint64_t *steps;
} pat_group;

static int pat_text_cmp(const void *x, const void *y)
{
    const pat_group *a = x, *b = y;
    if (!a->text || !b->text)
        return (a->text == NULL) - (b->text == NULL);
    size_t m = a->len < b->len ? a->len : b->len;
    int c = memcmp(a->text, b->text, m);
    return c ? c : (a->len > b->len) - (a->len < b->len);
}

static int pat_total_cmp(const void *x, const void *y)
{
    const pat_group *a = x, *b = y;
    if (a->total != b->total)
        return a->total > b->total ? -1 : 1;
    return pat_text_cmp(x, y);
}

/* <*> -> <_>, into the arena. */
static const char *loki_pattern_text(arena *a, const char *t, size_t n, size_t *out_len)
{
    char *o = arena_alloc(a, n + 1);
    if (!o)
        return NULL;
    for (size_t i = 0; i < n; i++)
        o[i] = t[i];
    for (size_t i = 0; i + 2 < n; i++)
        if (o[i] == '<' && o[i + 1] == '*' && o[i + 2] == '>')
            o[i + 1] = '_';
    o[n] = 0;
    *out_len = n;
    return o;
}

static void handle_patterns(loki_req *r)
{
    int64_t start, end, step;
    logql_matcher *m;
    size_t nm;
    if (!range_params(r, &start, &end) || !selector_param(r, "query", &m, &nm))
        return;
    if (nm == 0) {
        loki_error(r, 400, "query is required: a stream selector such as {service_name=\"api\"}");
        return;
    }
    const url_param *sp = param(r, "step");
    step = (end - start) / 1000;
    if (step < INT64_C(10) * 1000000000)
        step = INT64_C(10) * 1000000000;
    if (sp && sp->val_len && (!parse_step(sp->val, sp->val_len, &step) || step <= 0)) {
        loki_error(r, 400, "invalid step: cannot parse \"%s\" as a positive duration", sp->val);
        return;
    }
    int64_t nsteps = (end - start) / step + 1;
    if (nsteps > PATTERNS_MAX_STEPS) {
        loki_error(r, 400,
                   "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing "
                   "the query resolution (?step=XX)");
        return;
    }
    storage_matcher *sm = to_storage(r, m, nm);
    storage_matcher *all = arena_calloc(r->a, nm + 1, sizeof *all);
    if (!sm || !all) {
        status_error(r, SONDE_ERR_NOMEM, NULL);
        return;
    }
    memcpy(all, sm, nm * sizeof *all);
    static const char metric[] = SAMPLING_LINES_METRIC;
    all[nm] = (storage_matcher){"__name__", 8, STORAGE_MATCH_EQ, metric, sizeof metric - 1,
                                NULL, NULL};
    int64_t from_ms = (start - PATTERNS_HISTORY_NS) / 1000000, to_ms = end / 1000000;
    storage_series_ref *refs;
    size_t n;
    sonde_status s =
        storage_select(r->st, r->tenant, all, nm + 1, start / 1000000, to_ms, r->a, &refs, &n);
    storage_reader *rd = NULL;
    if (s == SONDE_OK)
        s = storage_reader_create(r->st, r->tenant, &rd);
    pat_group *g = NULL;
    size_t ng = 0, gcap = 0;
    arena *tmp = arena_create(1 << 16, 0);
    if (!tmp && s == SONDE_OK)
        s = SONDE_ERR_NOMEM;
    for (size_t i = 0; i < n && s == SONDE_OK; i++) {
        const sonde_label *tl = series_labels_get(refs[i].labels, refs[i].nlabels,
                                                  SAMPLING_TEMPLATE_LABEL,
                                                  sizeof SAMPLING_TEMPLATE_LABEL - 1);
        uint64_t tid;
        if (!tl || !parse_u64(tl->value, tl->value_len, &tid))
            continue;
        size_t gi = 0;
        while (gi < ng && g[gi].tid != tid)
            gi++;
        if (gi == ng) {
            if ((uint64_t)(ng + 1) * (uint64_t)nsteps > PATTERNS_MAX_POINTS) {
                s = SONDE_ERR_LIMIT;
                break;
            }
            if (ng == gcap) {
                size_t nc = gcap ? gcap * 2 : 64;
                pat_group *ngp = arena_realloc(r->a, g, gcap * sizeof *g, nc * sizeof *g);
                if (!ngp) {
                    s = SONDE_ERR_NOMEM;
                    break;
                }
                g = ngp;
                gcap = nc;
            }
            g[ng] = (pat_group){.tid = tid};
            g[ng].steps = arena_calloc(r->a, (size_t)nsteps, sizeof(uint64_t));
            if (!g[ng].steps) {
                s = SONDE_ERR_NOMEM;
                break;
            }
            ng++;
        }
        arena_reset(tmp);
        sonde_sample *smp;
        size_t ns;
        s = storage_reader_read(rd, refs[i].id, from_ms, to_ms, tmp, &smp, &ns, NULL);
        double prev = NAN;
        for (size_t k = 0; k < ns && s == SONDE_OK; k++) {
            double v = smp[k].value;
            if (isnan(v))
                continue;
            int64_t ts = smp[k].ts_ms * 1000000;
            double inc = !isnan(prev) && v >= prev ? v - prev : v;
            prev = v;
            if (ts < start || ts > end || inc <= 0)
                continue;
            uint64_t c = (uint64_t)(inc + 0.5);
            g[gi].steps[(ts - start) / step] += c;
            g[gi].total += c;
        }
        if (time_mono_ns() - r->t0 > LOKI_TIMEOUT_NS)
            s = SONDE_ERR_TIMEOUT;
    }
    storage_reader_destroy(rd);
    arena_destroy(tmp);
    /* template texts (the latest version), then one entry per distinct text */
    for (size_t i = 0; i < ng && s == SONDE_OK; i++) {
        const char *t;
        size_t tl;
        sonde_status ts = storage_template_get(r->st, r->tenant, g[i].tid, UINT32_MAX, r->a, &t,
                                               &tl, NULL);
        if (ts == SONDE_OK) {
            g[i].text = loki_pattern_text(r->a, t, tl, &g[i].len);
            if (!g[i].text)
                s = SONDE_ERR_NOMEM;
        } else if (ts != SONDE_ERR_NOT_FOUND) {
            s = ts;
        }
    }
    if (s != SONDE_OK) {
        status_error(r, s,
                     s == SONDE_ERR_LIMIT ? "too many patterns x steps (20,000,000) for one "
                                            "query; use a larger step or a narrower selector"
                                          : NULL);
        return;
    }
    if (ng)
        qsort(g, ng, sizeof *g, pat_text_cmp);
    size_t w = 0;
    for (size_t i = 0; i < ng; i++) {
        if (!g[i].text || g[i].total == 0)
            continue; /* no text (never stored), or no lines in the range */
        if (w > 0 && pat_text_cmp(&g[w - 1], &g[i]) == 0) {
            for (int64_t k = 0; k < nsteps; k++)
                g[w - 1].steps[k] += g[i].steps[k];
            g[w - 1].total += g[i].total;
            continue;
        }
        g[w++] = g[i];
    }
    if (w)
        qsort(g, w, sizeof *g, pat_total_cmp);
    begin_json(r);
    buf *b = &r->resp->body;
    s = buf_puts(b, "{\"status\":\"success\",\"data\":[");
    for (size_t i = 0; i < w && s == SONDE_OK; i++) {
        s = buf_puts(b, i ? ",{\"pattern\":" : "{\"pattern\":");
        if (s == SONDE_OK)
            s = buf_json_str(b, g[i].text, g[i].len);
        if (s == SONDE_OK)
            s = buf_puts(b, ",\"samples\":[");
        bool first = true;
        for (int64_t k = 0; k < nsteps && s == SONDE_OK; k++) {
            if (!g[i].steps[k])
                continue;
            int64_t t = start + k * step;
            s = buf_printf(b, "%s[%lld,%llu]", first ? "" : ",",
                           (long long)(t >= 0 ? t / 1000000000 : -((-t + 999999999) / 1000000000)),
                           (unsigned long long)g[i].steps[k]);
            first = false;
        }
        if (s == SONDE_OK)
            s = buf_puts(b, "]}");
    }
    if (s == SONDE_OK)
        s = buf_puts(b, "]}");
    if (s != SONDE_OK)
        response_too_large(r);
}

enum {
    EP_QUERY,
    EP_QUERY_RANGE,
    EP_LABELS,
    EP_LABEL_VALUES,
    EP_SERIES,
    EP_STATS,
    EP_VOLUME,
    EP_VOLUME_RANGE,
    EP_PATTERNS
};

static bool path_is(const http_request *req, const char *p)
{
    size_t n = strlen(p);
    return req->path_len == n && memcmp(req->path, p, n) == 0;
}

bool query_loki_handle(query_engine *qe, const http_request *req, http_response *resp)
{
    static const char pfx[] = "/loki/api/v1/";
    static const char lv_prefix[] = "/loki/api/v1/label/";
    static const char lv_suffix[] = "/values";
    if (req->path_len < sizeof pfx - 1 || memcmp(req->path, pfx, sizeof pfx - 1) != 0)
        return false;
    int ep;
    const char *label = NULL;
    size_t label_len = 0;
    if (path_is(req, "/loki/api/v1/query"))
        ep = EP_QUERY;
    else if (path_is(req, "/loki/api/v1/query_range"))
        ep = EP_QUERY_RANGE;
    else if (path_is(req, "/loki/api/v1/labels") || path_is(req, "/loki/api/v1/label"))
        ep = EP_LABELS;
    else if (path_is(req, "/loki/api/v1/series"))
        ep = EP_SERIES;
    else if (path_is(req, "/loki/api/v1/index/stats"))
        ep = EP_STATS;
    else if (path_is(req, "/loki/api/v1/index/volume"))
        ep = EP_VOLUME;
    else if (path_is(req, "/loki/api/v1/index/volume_range"))
        ep = EP_VOLUME_RANGE;
    else if (path_is(req, "/loki/api/v1/patterns"))
        ep = EP_PATTERNS;
    else if (req->path_len > sizeof lv_prefix - 1 + sizeof lv_suffix - 1 &&
             memcmp(req->path, lv_prefix, sizeof lv_prefix - 1) == 0 &&
             memcmp(req->path + req->path_len - (sizeof lv_suffix - 1), lv_suffix,
                    sizeof lv_suffix - 1) == 0) {
        ep = EP_LABEL_VALUES;
        label = req->path + sizeof lv_prefix - 1;
        label_len = req->path_len - (sizeof lv_prefix - 1) - (sizeof lv_suffix - 1);
    } else {
        return false;
    }
    if (req->method != HTTP_METHOD_GET && req->method != HTTP_METHOD_POST &&
        req->method != HTTP_METHOD_HEAD) {
        http_response_text(resp, 405, "method not allowed");
        return true;
    }
    loki_req r;
    memset(&r, 0, sizeof r);
    r.qe = qe;
    r.req = req;
    r.resp = resp;
    r.t0 = time_mono_ns();
    r.st = query_engine_storage(qe);
    r.tenant = req->tenant && *req->tenant ? req->tenant : "anonymous";
    if (!r.st) {
        http_response_text(resp, 503, "storage is not available");
        return true;
    }
    r.a = arena_create(1 << 16, LOKI_ARENA_CAP);
    if (!r.a) {
        http_response_text(resp, 503, "out of memory");
        return true;
    }
    if (parse_params(&r)) {
        switch (ep) {
        case EP_QUERY:
            handle_query(&r, false);
            break;
        case EP_QUERY_RANGE:
            handle_query(&r, true);
            break;
        case EP_LABELS:
            handle_labels(&r, NULL);
            break;
        case EP_SERIES:
            handle_series(&r);
            break;
        case EP_STATS:
            handle_index_stats(&r);
            break;
        case EP_VOLUME:
            handle_volume(&r, false);
            break;
        case EP_VOLUME_RANGE:
            handle_volume(&r, true);
            break;
        case EP_PATTERNS:
            handle_patterns(&r);
            break;
        case EP_LABEL_VALUES: {
            char *name;
            size_t n;
            if (url_decode(r.a, label, label_len, &name, &n) != SONDE_OK || n == 0 ||
                memchr(name, '/', n) || !utf8_valid(name, n)) {
                loki_error(&r, 400, "invalid label name: \"%.*s\"", (int)label_len, label);
                break;
            }
            handle_labels(&r, name);
            break;
        }
        }
    }
    arena_destroy(r.a);
    return true;
}

/* ---- tail: GET /loki/api/v1/tail (the WebSocket side is ingest/ws.c) ----
 *
 * A tail is polled: the first poll sends the last `limit` entries of
 * [start, now - delay_for] (a backward log query, reversed) and sets a floor
 * just past its end; every later poll is a forward log query over
 * [position, now - delay_for] through a wrapping logql_source that starts
 * each stream's scan at that stream's position: the time of the last entry
 * sent from it, plus hashes of the entries sent at exactly that time (two
 * entries of one stream at one nanosecond are ordered by batch id in
 * storage, not by arrival, so a count would not do). An entry is sent once,
 * and none is lost as long as each stream's entries arrive in time order
 * (a stream's entry older than the last one sent from it is not sent).
 * Filters and parsers apply: the evaluator is logql_eval_logs itself.
 *
 * A poll that reaches TAIL_POLL_LIMIT entries or TAIL_FRAME_BYTES of JSON
 * sends only the entries before the time T of the first entry left out, and
 * moves every scanned stream to T: the rest comes with the next poll. (If
 * every entry is at T, the first ones are sent and the rest at that very
 * nanosecond are skipped.) */

#define TAIL_ARENA_CAP ((size_t)16 << 20)       /* parameters and the parsed query */
#define TAIL_POLL_ARENA_CAP ((size_t)256 << 20) /* one poll's results */
#define TAIL_POLL_LIMIT 5000                    /* entries per frame */
#define TAIL_FRAME_BYTES ((size_t)4 << 20)      /* JSON per frame (one entry may pass it) */
#define TAIL_MAX_STREAMS 20000                  /* streams whose position a tail keeps */
#define TAIL_MAX_SAME_TS 256                    /* hashes kept at a stream's position */
#define TAIL_MAX_DELAY_S 5                      /* delay_for, as Loki */
#define TAIL_POLL_TIMEOUT_NS (INT64_C(30) * 1000000000)

typedef struct tail_pos {
    uint64_t id;
    bool used;
    int64_t ts;  /* entries before ts were sent (or skipped); */
    uint32_t n;  /* and these n entries at ts (their hashes) */
    uint32_t cap;
    uint64_t *h; /* malloc'd */
} tail_pos;

struct query_loki_tail {
    storage *st;
    arena *a; /* parameters, the AST, the tenant */
    const char *tenant;
    logql_node *root;
    size_t limit;
    int64_t start_ns, delay_ns;
    bool started;
    int64_t floor_ns; /* no entry before it is sent (the first poll's end + 1) */
    tail_pos *pos;    /* open addressing by stream id; cap a power of two */
    size_t npos, cappos;
};

/* What one live poll saw of one scanned stream (in the poll's arena). */
typedef struct tail_seen {
    uint64_t id;
    int64_t lo; /* where its scan started */
    bool any;   /* an entry not sent before was seen */
    bool overflow;
    int64_t ts; /* the last such entry's time, and the hashes of those at ts */
    uint32_t n, cap;
    uint64_t *h;
} tail_seen;

typedef struct tail_scan {
    const logql_source *inner;
    query_loki_tail *t;
    arena *a;
    bool live;
    tail_seen *seen;
    size_t nseen, capseen;
    /* the stream being scanned */
    tail_pos *pos;
    uint8_t *marks; /* pos->h entries matched in this scan */
    tail_seen *cur;
    logql_entry_fn fn;
    void *uctx;
    bool nomem;
    bool too_many;
} tail_scan;

void query_loki_tail_destroy(query_loki_tail *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < t->cappos; i++)
        free(t->pos[i].h);
    free(t->pos);
    arena_destroy(t->a);
    free(t);
}

static tail_pos *tail_pos_find(const query_loki_tail *t, uint64_t id)
{
    if (!t->cappos)
        return NULL;
    for (size_t i = (size_t)(id * 0x9E3779B97F4A7C15ull) & (t->cappos - 1);;
         i = (i + 1) & (t->cappos - 1)) {
        if (!t->pos[i].used)
            return NULL;
        if (t->pos[i].id == id)
            return &t->pos[i];
    }
}

/* The position of stream id, added (at floor, nothing sent) when absent.
 * NULL on OOM. */
static tail_pos *tail_pos_get(query_loki_tail *t, uint64_t id)
{
    tail_pos *p = tail_pos_find(t, id);
    if (p)
        return p;
    if ((t->npos + 1) * 2 > t->cappos) {
        size_t nc = t->cappos ? t->cappos * 2 : 64;
        tail_pos *np = calloc(nc, sizeof *np);
        if (!np)
            return NULL;
        for (size_t i = 0; i < t->cappos; i++) {
            if (!t->pos[i].used)
                continue;
            size_t j = (size_t)(t->pos[i].id * 0x9E3779B97F4A7C15ull) & (nc - 1);
            while (np[j].used)
                j = (j + 1) & (nc - 1);
            np[j] = t->pos[i];
        }
        free(t->pos);
        t->pos = np;
        t->cappos = nc;
    }
    size_t j = (size_t)(id * 0x9E3779B97F4A7C15ull) & (t->cappos - 1);
    while (t->pos[j].used)
        j = (j + 1) & (t->cappos - 1);
    t->pos[j] = (tail_pos){.id = id, .used = true, .ts = t->floor_ns};
    t->npos++;
    return &t->pos[j];
}

/* Moves p to (ts, nothing sent at ts). */
static void tail_pos_reset(tail_pos *p, int64_t ts)
{
    p->ts = ts;
    p->n = 0;
}

/* Adds hashes at p->ts; when more than TAIL_MAX_SAME_TS would be kept, moves
 * past that nanosecond instead. False on OOM. */
static bool tail_pos_add(tail_pos *p, const uint64_t *h, uint32_t n)
{
    if ((size_t)p->n + n > TAIL_MAX_SAME_TS) {
        tail_pos_reset(p, p->ts + 1);
        return true;
    }
    if (p->n + n > p->cap) {
        uint32_t nc = p->cap ? p->cap : 4;
        while (nc < p->n + n)
            nc *= 2;
        uint64_t *nh = realloc(p->h, nc * sizeof *nh);
        if (!nh)
            return false;
        p->h = nh;
        p->cap = nc;
    }
    memcpy(p->h + p->n, h, n * sizeof *h);
    p->n += n;
    return true;
}

static uint64_t tail_entry_hash(const logql_entry *e)
{
    hash64_stream hs;
    hash64_stream_init(&hs);
    uint64_t len = e->len;
    hash64_stream_update(&hs, &len, sizeof len);
    hash64_stream_update(&hs, e->line, e->len);
    for (uint32_t i = 0; i < e->nmeta; i++) {
        uint32_t l[2] = {e->meta[i].name_len, e->meta[i].value_len};
        hash64_stream_update(&hs, l, sizeof l);
        hash64_stream_update(&hs, e->meta[i].name, e->meta[i].name_len);
        hash64_stream_update(&hs, e->meta[i].value, e->meta[i].value_len);
    }
    return hash64_stream_final(&hs);
}

static sonde_status tail_src_streams(void *ctx, const storage_matcher *m, size_t nm, arena *a,
                                     logql_stream_ref **out, size_t *n)
{
    tail_scan *s = ctx;
    sonde_status st = s->inner->streams(s->inner->ctx, m, nm, a, out, n);
    if (st == SONDE_OK && *n > TAIL_MAX_STREAMS) {
        s->too_many = true;
        return SONDE_ERR_LIMIT;
    }
    return st;
}

/* Between the store and the evaluator: drops what was sent before, notes
 * what is new. */
static bool tail_entry(void *uctx, const logql_entry *e)
{
    tail_scan *s = uctx;
    uint64_t h = tail_entry_hash(e);
    if (s->pos && e->ts_ns == s->pos->ts) {
        for (uint32_t i = 0; i < s->pos->n; i++) {
            if (!s->marks[i] && s->pos->h[i] == h) {
                s->marks[i] = 1; /* a multiset: identical entries count once each */
                return true;
            }
        }
    }
    tail_seen *c = s->cur;
    if (!c->any || e->ts_ns != c->ts) {
        c->any = true;
        c->ts = e->ts_ns;
        c->n = 0;
        c->overflow = false;
    }
    if (c->n == TAIL_MAX_SAME_TS) {
        c->overflow = true;
    } else {
        if (c->n == c->cap) {
            uint32_t nc = c->cap ? c->cap * 2 : 8;
            uint64_t *nh = arena_realloc(s->a, c->h, c->cap * sizeof *nh, nc * sizeof *nh);
            if (!nh) {
                s->nomem = true;
                return false;
            }
            c->h = nh;
            c->cap = nc;
        }
        c->h[c->n++] = h;
    }
    return s->fn(s->uctx, e);
}

static sonde_status tail_src_scan(void *ctx, uint64_t id, int64_t mint, int64_t maxt,
                                  bool backward, logql_entry_fn fn, void *uctx)
{
    tail_scan *s = ctx;
    if (!s->live)
        return s->inner->scan(s->inner->ctx, id, mint, maxt, backward, fn, uctx);
    tail_pos *p = tail_pos_find(s->t, id);
    int64_t lo = p ? p->ts : s->t->floor_ns;
    if (s->nseen == s->capseen) {
        size_t nc = s->capseen ? s->capseen * 2 : 64;
        tail_seen *ns = arena_realloc(s->a, s->seen, s->capseen * sizeof *ns, nc * sizeof *ns);
        if (!ns)
            return SONDE_ERR_NOMEM;
        s->seen = ns;
        s->capseen = nc;
    }
    s->cur = &s->seen[s->nseen++];
    *s->cur = (tail_seen){.id = id, .lo = lo};
    if (lo > mint)
        mint = lo;
    if (mint > maxt)
        return SONDE_OK;
    s->pos = p && p->n ? p : NULL;
    if (s->pos) {
        s->marks = arena_calloc(s->a, s->pos->n, 1);
        if (!s->marks)
            return SONDE_ERR_NOMEM;
    }
    s->fn = fn;
    s->uctx = uctx;
    sonde_status st = s->inner->scan(s->inner->ctx, id, mint, maxt, false, tail_entry, s);
    s->pos = NULL;
    return s->nomem ? SONDE_ERR_NOMEM : st;
}

/* Upper bound of the bytes buf_json_str writes for s. */
static size_t tail_json_len(const char *s, size_t n)
{
    size_t k = 2;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        k += c < 0x20 ? 6 : (c == '"' || c == '\\') ? 2 : 1;
    }
    return k;
}

typedef struct tail_ref {
    int64_t ts;
    uint32_t stream, idx;
} tail_ref;

static int tail_ref_fwd(const void *x, const void *y)
{
    const tail_ref *a = x, *b = y;
    if (a->ts != b->ts)
        return a->ts < b->ts ? -1 : 1;
    if (a->stream != b->stream)
        return a->stream < b->stream ? -1 : 1;
    return (a->idx > b->idx) - (a->idx < b->idx);
}

/* The frame of the entries whose send flag is set, each stream ascending. */
static sonde_status tail_frame(buf *out, const logql_result *res, uint8_t *const *send,
                               bool reversed)
{
    sonde_status s = buf_puts(out, "{\"streams\":[");
    bool first = true;
    for (size_t i = 0; i < res->nstreams && s == SONDE_OK; i++) {
        const logql_out_stream *os = &res->streams[i];
        size_t cnt = 0;
        for (size_t k = 0; k < os->n; k++)
            cnt += send[i][k];
        if (!cnt)
            continue;
        s = buf_puts(out, first ? "{\"stream\":" : ",{\"stream\":");
        first = false;
        if (s == SONDE_OK)
            s = json_labels(out, os->labels, os->nlabels);
        if (s == SONDE_OK)
            s = buf_puts(out, ",\"values\":[");
        bool f2 = true;
        for (size_t j = 0; j < os->n && s == SONDE_OK; j++) {
            size_t k = reversed ? os->n - 1 - j : j;
            if (!send[i][k])
                continue;
            s = buf_printf(out, "%s[\"%lld\",", f2 ? "" : ",", (long long)os->entries[k].ts_ns);
            f2 = false;
            if (s == SONDE_OK)
                s = buf_json_str(out, os->entries[k].line, os->entries[k].len);
            if (s == SONDE_OK)
                s = buf_putc(out, ']');
        }
        if (s == SONDE_OK)
            s = buf_puts(out, "]}");
    }
    return s == SONDE_OK ? buf_puts(out, "],\"dropped_entries\":null}") : s;
}

query_loki_tail *query_loki_tail_create(query_engine *qe, const http_request *req,
                                        http_response *resp)
{
    query_loki_tail *t = calloc(1, sizeof *t);
    if (!t || !(t->a = arena_create(1 << 14, TAIL_ARENA_CAP))) {
        free(t);
        http_response_text(resp, 503, "out of memory");
        return NULL;
    }
    t->st = query_engine_storage(qe);
    const char *tenant = req->tenant && *req->tenant ? req->tenant : "anonymous";
    t->tenant = arena_strndup(t->a, tenant, strlen(tenant));
    loki_req r;
    memset(&r, 0, sizeof r);
    r.qe = qe;
    r.req = req;
    r.resp = resp;
    r.a = t->a;
    r.t0 = time_mono_ns();
    r.st = t->st;
    r.tenant = t->tenant;
    if (!t->st || !t->tenant) {
        http_response_text(resp, 503, t->st ? "out of memory" : "storage is not available");
        goto fail;
    }
    if (!parse_params(&r) || !parse_query(&r, &t->root) || !param_limit(&r, &t->limit))
        goto fail;
    if (t->root->kind != LOGQL_NODE_LOG) {
        loki_error(&r, 400,
                   "tail needs a log query (a stream selector and a pipeline), not a metric "
                   "query");
        goto fail;
    }
    const url_param *d = param(&r, "delay_for");
    uint64_t delay = 0;
    if (d && d->val_len && !parse_u64(d->val, d->val_len, &delay)) {
        loki_error(&r, 400, "invalid delay_for: cannot parse \"%s\" as a number of seconds",
                   d->val);
        goto fail;
    }
    if (delay > TAIL_MAX_DELAY_S) {
        loki_error(&r, 400, "delay_for can't be greater than %d", TAIL_MAX_DELAY_S);
        goto fail;
    }
    t->delay_ns = (int64_t)delay * 1000000000;
    int64_t now = time_now_ms() * 1000000;
    if (!param_time(&r, "start", now - LOKI_DEFAULT_LOOKBACK_NS, &t->start_ns))
        goto fail;
    if (t->start_ns < now - LOKI_MAX_QUERY_LENGTH_NS || t->start_ns > LOGQL_MAX_TIME_NS) {
        loki_error(&r, 400,
                   "invalid start: it must lie within the last 721h (the query length limit)");
        goto fail;
    }
    return t;
fail:
    query_loki_tail_destroy(t);
    return NULL;
}

/* After a live poll: every scanned stream moves past what was sent. cut:
 * only entries before T were sent; all_at_t: all sent entries are at T (the
 * stream moves past T). */
static sonde_status tail_advance(query_loki_tail *t, const tail_scan *s, bool cut, int64_t T,
                                 bool all_at_t)
{
    for (size_t i = 0; i < s->nseen; i++) {
        const tail_seen *c = &s->seen[i];
        if (cut) {
            int64_t to = all_at_t ? T + 1 : T;
            if (c->lo >= to)
                continue;
            tail_pos *p = tail_pos_get(t, c->id);
            if (!p)
                return SONDE_ERR_NOMEM;
            tail_pos_reset(p, to);
            continue;
        }
        if (!c->any)
            continue;
        tail_pos *p = tail_pos_get(t, c->id);
        if (!p)
            return SONDE_ERR_NOMEM;
        if (c->ts != p->ts)
            tail_pos_reset(p, c->ts); /* c->ts > p->ts: the scan started at p->ts */
        if (c->overflow)
            tail_pos_reset(p, c->ts + 1);
        else if (!tail_pos_add(p, c->h, c->n))
            return SONDE_ERR_NOMEM;
    }
    return SONDE_OK;
}

sonde_status query_loki_tail_poll(query_loki_tail *t, buf *out, char *err, size_t errlen)
{
    err[0] = 0;
    int64_t end = time_now_ms() * 1000000 - t->delay_ns;
    bool live = t->started;
    if (!live && t->limit == 0) {
        t->started = true;
        t->floor_ns = end + 1;
        return SONDE_OK;
    }
    arena *a = arena_create(1 << 16, TAIL_POLL_ARENA_CAP);
    if (!a) {
        snprintf(err, errlen, "out of memory");
        return SONDE_ERR_NOMEM;
    }
    logql_store_src ss;
    logql_source inner, src;
    logql_store_source(&ss, t->st, t->tenant, &inner);
    tail_scan s;
    memset(&s, 0, sizeof s);
    s.inner = &inner;
    s.t = t;
    s.a = a;
    s.live = live;
    src.ctx = &s;
    src.streams = tail_src_streams;
    src.scan = tail_src_scan;
    logql_eval_ctx c;
    memset(&c, 0, sizeof c);
    c.src = &src;
    c.a = a;
    c.lim.max_lines_scanned = LOKI_MAX_LINES_SCANNED;
    c.lim.max_series = LOKI_MAX_SERIES;
    c.lim.max_entries = LOKI_MAX_ENTRIES;
    c.lim.deadline_ns = time_mono_ns() + TAIL_POLL_TIMEOUT_NS;
    logql_result res;
    sonde_status st;
    if (live)
        st = end + 1 > t->floor_ns ? logql_eval_logs(&c, t->root, t->floor_ns, end + 1,
                                                     TAIL_POLL_LIMIT, false, &res)
                                   : SONDE_OK;
    else
        st = end >= t->start_ns
                 ? logql_eval_logs(&c, t->root, t->start_ns, end + 1, t->limit, true, &res)
                 : SONDE_OK;
    if (st == SONDE_OK && ((live && end + 1 <= t->floor_ns) || (!live && end < t->start_ns)))
        memset(&res, 0, sizeof res);
    logql_store_src_fini(&ss);
    if (st != SONDE_OK) {
        if (s.too_many)
            snprintf(err, errlen,
                     "the tail's selector matches more than %d streams; narrow the selector",
                     TAIL_MAX_STREAMS);
        else if (c.err[0])
            snprintf(err, errlen, "%s", c.err);
        else if (st == SONDE_ERR_STORAGE)
            snprintf(err, errlen, "storage error: reading the logs failed");
        else
            snprintf(err, errlen, "%s", sonde_status_name(st));
        arena_destroy(a);
        return st;
    }
    /* every entry of the result, in send order (ascending; the first poll's
     * result is descending and its newest entries are the ones to keep) */
    size_t n = 0;
    for (size_t i = 0; i < res.nstreams; i++)
        n += res.streams[i].n;
    tail_ref *refs = arena_alloc(a, (n ? n : 1) * sizeof *refs);
    uint8_t **send = arena_calloc(a, res.nstreams ? res.nstreams : 1, sizeof *send);
    if (!refs || !send)
        goto nomem;
    size_t k = 0;
    for (size_t i = 0; i < res.nstreams; i++) {
        send[i] = arena_calloc(a, res.streams[i].n ? res.streams[i].n : 1, 1);
        if (!send[i])
            goto nomem;
        for (size_t j = 0; j < res.streams[i].n; j++)
            refs[k++] = (tail_ref){res.streams[i].entries[j].ts_ns, (uint32_t)i, (uint32_t)j};
    }
    qsort(refs, n, sizeof *refs, tail_ref_fwd);
    /* how many fit in a frame, taken from the oldest (live) or newest (first) */
    size_t bytes = 64, take = 0;
    for (; take < n; take++) {
        const tail_ref *r = &refs[live ? take : n - 1 - take];
        const logql_out_stream *os = &res.streams[r->stream];
        size_t b = tail_json_len(os->entries[r->idx].line, os->entries[r->idx].len) + 32;
        if (take > 0 && bytes + b > TAIL_FRAME_BYTES)
            break;
        bytes += b;
    }
    if (!live) {
        for (size_t i = 0; i < take; i++)
            send[refs[n - 1 - i].stream][refs[n - 1 - i].idx] = 1;
        t->started = true;
        t->floor_ns = end + 1;
    } else {
        bool cut = take < n || n >= TAIL_POLL_LIMIT;
        int64_t T = 0;
        bool all_at_t = false;
        if (cut) {
            T = take < n ? refs[take].ts : refs[n - 1].ts;
            all_at_t = refs[0].ts == T;
        }
        for (size_t i = 0; i < take; i++)
            if (!cut || all_at_t || refs[i].ts < T)
                send[refs[i].stream][refs[i].idx] = 1;
        if (tail_advance(t, &s, cut, T, all_at_t) != SONDE_OK)
            goto nomem;
    }
    if (take > 0) {
        /* the first poll's streams hold their entries newest first */
        if (tail_frame(out, &res, send, !live) != SONDE_OK) {
            snprintf(err, errlen, "the tail frame exceeds the maximum response size");
            arena_destroy(a);
            return SONDE_ERR_LIMIT;
        }
    }
    arena_destroy(a);
    return SONDE_OK;
nomem:
    snprintf(err, errlen, "out of memory");
    arena_destroy(a);
    return SONDE_ERR_NOMEM;
}
