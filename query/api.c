/*
 * api.c - the Prometheus HTTP query API: /api/v1/query, /api/v1/query_range,
 * /api/v1/series, /api/v1/labels, /api/v1/label/<name>/values,
 * /api/v1/status/buildinfo, /api/v1/format_query and /api/v1/parse_query
 * (plus empty /api/v1/metadata and /api/v1/query_exemplars), and the engine's
 * self-monitoring counters.
 *
 * Request flow: parameters come from the query string and, for POST with
 * application/x-www-form-urlencoded, from the body (body values win, as in
 * Go's r.FormValue). Each query gets its own capped arena for the AST and the
 * evaluation; the JSON answer goes straight into resp->body. Status codes
 * follow Prometheus: bad_data 400, execution 422, timeout 503, internal 500.
 *
 * Threads: query_api_handle() runs on query worker threads, concurrently;
 * the engine is immutable after create except for atomic counters.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/parse.h"
#include "../core/timeutil.h"
#include "../core/url.h"
#include "../core/utf8.h"
#include "ast_json.h"
#include "eval.h"
#include "json.h"
#include "promql.h"
#include "query.h"

#ifndef SONDE_VERSION
#define SONDE_VERSION "unknown"
#endif
#ifndef SONDE_REVISION
#define SONDE_REVISION "unknown"
#endif
#ifndef SONDE_BRANCH
#define SONDE_BRANCH "unknown"
#endif

enum {
    EP_QUERY,
    EP_QUERY_RANGE,
    EP_SERIES,
    EP_LABELS,
    EP_LABEL_VALUES,
    EP_BUILDINFO,
    EP_FORMAT_QUERY,
    EP_PARSE_QUERY,
    EP_OTHER,
    EP_N
};
static const char *const EP_NAMES[EP_N] = {
    "query",     "query_range",  "series",      "labels", "label_values",
    "buildinfo", "format_query", "parse_query", "other"};

struct query_engine {
    storage *st;
    query_config cfg;
    _Atomic uint64_t requests[EP_N];
    _Atomic uint64_t errors;
    _Atomic uint64_t duration_ns;
    _Atomic uint64_t queries;
    _Atomic uint64_t samples;
};

void query_config_defaults(query_config *cfg)
{
    if (!cfg->lookback_ms)
        cfg->lookback_ms = 5 * 60 * 1000;
    if (!cfg->timeout_ms)
        cfg->timeout_ms = 2 * 60 * 1000;
    if (!cfg->max_samples)
        cfg->max_samples = 50000000;
    if (!cfg->max_points)
        cfg->max_points = 11000;
}

query_engine *query_engine_create(storage *st, const query_config *cfg)
{
    query_engine *qe = calloc(1, sizeof(*qe));
    if (!qe)
        return NULL;
    qe->st = st;
    if (cfg)
        qe->cfg = *cfg;
    query_config_defaults(&qe->cfg);
    return qe;
}

void query_engine_destroy(query_engine *qe)
{
    free(qe);
}

storage *query_engine_storage(query_engine *qe)
{
    return qe ? qe->st : NULL;
}

/* ---- request plumbing ---- */

typedef struct req_ctx {
    query_engine *qe;
    const http_request *req;
    http_response *resp;
    url_param *params;
    size_t nparams;
    bool failed;
} req_ctx;

static const char *error_type_for(int status)
{
    switch (status) {
    case 400:
        return "bad_data";
    case 422:
        return "execution";
    case 503:
        return "timeout";
    case 404:
        return "not_found";
    default:
        return "internal";
    }
}

static void api_error(req_ctx *r, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void api_error(req_ctx *r, int status, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    buf *b = &r->resp->body;
    buf_reset(b);
    buf_printf(b, "{\"status\":\"error\",\"errorType\":\"%s\",\"error\":", error_type_for(status));
    buf_json_str(b, msg, strlen(msg));
    buf_putc(b, '}');
    r->resp->status = status;
    r->resp->content_type = "application/json";
    r->failed = true;
    atomic_fetch_add(&r->qe->errors, 1);
}

static void api_begin_success(req_ctx *r)
{
    buf_reset(&r->resp->body);
    r->resp->status = 200;
    r->resp->content_type = "application/json";
    buf_puts(&r->resp->body, "{\"status\":\"success\",\"data\":");
}

static void api_end_success(req_ctx *r)
{
    if (buf_putc(&r->resp->body, '}') != SONDE_OK)
        api_error(r, 500, "response too large");
}

/* First value of a parameter (the body's come first), or NULL. */
static const url_param *param(const req_ctx *r, const char *name)
{
    for (size_t i = 0; i < r->nparams; i++)
        if (strcmp(r->params[i].key, name) == 0)
            return &r->params[i];
    return NULL;
}

static bool header_is_form(const http_request *req)
{
    const http_header *h = http_request_header(req, "content-type");
    const char *form = "application/x-www-form-urlencoded";
    return h && h->value_len >= strlen(form) && strncasecmp(h->value, form, strlen(form)) == 0;
}

static bool parse_params(req_ctx *r)
{
    const http_request *req = r->req;
    sonde_status st = SONDE_OK;
    if (req->method == HTTP_METHOD_POST && req->body_len && header_is_form(req))
        st = url_params_parse(req->arena, (const char *)req->body, req->body_len, &r->params,
                              &r->nparams, 10000);
    if (!st && req->query_len)
        st = url_params_parse(req->arena, req->query, req->query_len, &r->params, &r->nparams,
                              10000);
    if (st) {
        api_error(r, 400, "invalid form data: %s",
                  st == SONDE_ERR_LIMIT ? "too many parameters" : "bad percent-encoding");
        return false;
    }
    return true;
}

/* Prometheus' parseTime: float seconds or RFC 3339. */
static bool param_time(req_ctx *r, const char *name, int64_t dflt, int64_t *out)
{
    const url_param *p = param(r, name);
    if (!p || p->val_len == 0) {
        *out = dflt;
        return true;
    }
    /* bounded like Prometheus' min/max time, so step arithmetic cannot overflow */
    if (!parse_time_ms(p->val, p->val_len, out) || *out < -(INT64_C(1) << 53) ||
        *out > (INT64_C(1) << 53)) {
        api_error(r, 400, "invalid parameter \"%s\": cannot parse \"%s\" to a valid timestamp",
                  name, p->val);
        return false;
    }
    return true;
}

/* Prometheus' parseDuration: float seconds or a duration ("5m"). */
static bool parse_dur(const char *s, size_t n, int64_t *ms)
{
    double f;
    if (parse_f64(s, n, &f)) {
        if (f != f || f * 1000.0 > 9.2e18 || f * 1000.0 < -9.2e18)
            return false;
        *ms = (int64_t)(f * 1000.0);
        return true;
    }
    return parse_duration_ms(s, n, ms);
}

static bool param_timeout(req_ctx *r, int64_t *deadline_ns)
{
    int64_t ms = r->qe->cfg.timeout_ms;
    const url_param *p = param(r, "timeout");
    if (p && p->val_len) {
        int64_t t;
        if (!parse_dur(p->val, p->val_len, &t)) {
            api_error(r, 400,
                      "invalid parameter \"timeout\": cannot parse \"%s\" to a valid "
                      "duration",
                      p->val);
            return false;
        }
        if (t > 0 && t < ms)
            ms = t;
    }
    *deadline_ns = time_mono_ns() + ms * 1000000;
    return true;
}

static arena *query_arena(const query_engine *qe)
{
    /* bounded by max_samples anyway; the cap keeps a runaway query from the OOM killer */
    size_t cap = qe->cfg.max_samples * 48 + (64u << 20);
    return arena_create(1 << 16, cap);
}

static void eval_error(req_ctx *r, sonde_status st, const query_eval_ctx *c)
{
    const char *msg = c->err[0] ? c->err : sonde_status_name(st);
    switch (st) {
    case SONDE_ERR_TIMEOUT:
        api_error(r, 503, "%s", msg);
        break;
    case SONDE_ERR_STORAGE:
    case SONDE_ERR_INTERNAL:
        api_error(r, 500, "%s", msg);
        break;
    default:
        api_error(r, 422, "%s", msg);
        break;
    }
}

static bool root_is_ordered(const query_node *n)
{
    while (n->kind == QN_PAREN)
        n = n->u.paren.expr;
    if (n->kind == QN_CALL) {
        const char *name = query_func_name(n->u.call.fn);
        return !strcmp(name, "sort") || !strcmp(name, "sort_desc") ||
               !strcmp(name, "sort_by_label") || !strcmp(name, "sort_by_label_desc");
    }
    /* instant topk/bottomk come out ranked, as Prometheus returns them */
    return n->kind == QN_AGG && (n->u.agg.op == QAGG_TOPK || n->u.agg.op == QAGG_BOTTOMK);
}

static void handle_query(req_ctx *r, bool range)
{
    query_engine *qe = r->qe;
    const url_param *q = param(r, "query");
    const char *qs = q ? q->val : "";
    size_t qn = q ? q->val_len : 0;
    int64_t now = time_now_ms(), t = now, start = 0, end = 0, step = 0, deadline;
    if (range) {
        const url_param *p;
        if (!param_time(r, "start", INT64_MIN, &start) || !param_time(r, "end", INT64_MIN, &end))
            return;
        if (start == INT64_MIN || end == INT64_MIN) {
            const char *which = start == INT64_MIN ? "start" : "end";
            api_error(r, 400, "invalid parameter \"%s\": cannot parse \"\" to a valid timestamp",
                      which);
            return;
        }
        if (end < start) {
            api_error(r, 400,
                      "invalid parameter \"end\": end timestamp must not be before start time");
            return;
        }
        p = param(r, "step");
        if (!p || !parse_dur(p->val, p->val_len, &step)) {
            api_error(r, 400, "invalid parameter \"step\": cannot parse \"%s\" to a valid duration",
                      p ? p->val : "");
            return;
        }
        if (step <= 0) {
            api_error(r, 400,
                      "invalid parameter \"step\": zero or negative query resolution step "
                      "widths are not accepted. Try a positive integer");
            return;
        }
        int64_t span;
        if (__builtin_sub_overflow(end, start, &span) ||
            (uint64_t)(span / step) > qe->cfg.max_points) {
            char num[32], grouped[48];
            int len = snprintf(num, sizeof(num), "%zu", qe->cfg.max_points), k = 0;
            for (int i = 0; i < len; i++) {
                if (i && (len - i) % 3 == 0)
                    grouped[k++] = ',';
                grouped[k++] = num[i];
            }
            grouped[k] = 0;
            api_error(r, 400,
                      "exceeded maximum resolution of %s points per timeseries. Try "
                      "decreasing the query resolution (?step=XX)",
                      grouped);
            return;
        }
    } else if (!param_time(r, "time", now, &t)) {
        return;
    }
    if (!param_timeout(r, &deadline))
        return;
    arena *a = query_arena(qe);
    if (!a) {
        api_error(r, 500, "out of memory");
        return;
    }
    query_node *root = NULL;
    query_parse_error perr;
    if (query_parse(a, qs, qn, &root, &perr) != SONDE_OK) {
        char msg[512];
        query_parse_error_format(qs, qn, &perr, msg, sizeof(msg));
        api_error(r, 400, "invalid parameter \"query\": %s", msg);
        arena_destroy(a);
        return;
    }
    if (range) {
        query_type rt = query_node_type(root);
        if (rt != QUERY_TYPE_SCALAR && rt != QUERY_TYPE_VECTOR) {
            api_error(r, 400,
                      "invalid expression type \"%s\" for range query, must be Scalar or "
                      "instant Vector",
                      query_type_name(rt));
            query_ast_release(root);
            arena_destroy(a);
            return;
        }
    }
    query_storage_source ss = {qe->st, r->req->tenant ? r->req->tenant : "anonymous"};
    query_eval_ctx c;
    memset(&c, 0, sizeof(c));
    query_source_storage(&c.src, &ss);
    c.a = a;
    c.lookback_ms = qe->cfg.lookback_ms;
    const url_param *lb = param(r, "lookback_delta");
    if (lb && lb->val_len) { /* Prometheus' per-query override */
        int64_t ms;
        if (!parse_dur(lb->val, lb->val_len, &ms) || ms < 0) {
            api_error(r, 400,
                      "invalid parameter \"lookback_delta\": cannot parse \"%s\" to a "
                      "valid duration",
                      lb->val);
            query_ast_release(root);
            arena_destroy(a);
            return;
        }
        if (ms > 0)
            c.lookback_ms = ms;
    }
    c.max_samples = qe->cfg.max_samples;
    c.deadline_ns = deadline;
    query_value v;
    int64_t t0 = time_mono_ns();
    sonde_status st = range ? query_eval_range(&c, root, start, end, step, &v)
                            : query_eval_instant(&c, root, t, &v);
    atomic_fetch_add(&qe->duration_ns, (uint64_t)(time_mono_ns() - t0));
    atomic_fetch_add(&qe->queries, 1);
    atomic_fetch_add(&qe->samples, c.samples_loaded);
    if (st) {
        eval_error(r, st, &c);
    } else {
        if (range || !root_is_ordered(root))
            query_value_sort(&v);
        api_begin_success(r);
        if (query_json_result(&r->resp->body, &v, range) != SONDE_OK ||
            query_json_annotations(&r->resp->body, c.annots, c.nannots, qs, qn) != SONDE_OK)
            api_error(r, 500, "response too large");
        else
            api_end_success(r);
    }
    query_ast_release(root);
    arena_destroy(a);
}

/* ---- metadata endpoints ---- */

typedef struct matcher_set {
    query_node *sel;
    storage_matcher *m;
    size_t nm;
} matcher_set;

static bool re_cb(void *ctx, const char *v, size_t n)
{
    return query_regex_match(ctx, v, n);
}

/* Parses every match[] into storage matchers; false (error sent) on a bad one. */
static bool parse_match(req_ctx *r, arena *a, matcher_set **out, size_t *n)
{
    size_t cnt = 0;
    for (size_t i = 0; i < r->nparams; i++)
        cnt += strcmp(r->params[i].key, "match[]") == 0;
    *out = arena_calloc(a, cnt + 1, sizeof(matcher_set));
    *n = 0;
    if (!*out) {
        api_error(r, 500, "out of memory");
        return false;
    }
    for (size_t i = 0; i < r->nparams; i++) {
        if (strcmp(r->params[i].key, "match[]") != 0)
            continue;
        const url_param *p = &r->params[i];
        query_node *root;
        query_parse_error perr;
        if (query_parse(a, p->val, p->val_len, &root, &perr) != SONDE_OK) {
            char msg[512];
            query_parse_error_format(p->val, p->val_len, &perr, msg, sizeof(msg));
            api_error(r, 400, "invalid parameter \"match[]\": %s", msg);
            return false;
        }
        matcher_set *ms = &(*out)[(*n)++];
        ms->sel = root;
        if (root->kind != QN_VECTOR_SEL || root->u.vs.mod.offset_ms || root->u.vs.mod.offset_expr ||
            root->u.vs.mod.at) {
            api_error(r, 400,
                      "invalid parameter \"match[]\": 1:1: parse error: expected "
                      "vector selector, got %s",
                      query_type_name(query_node_type(root)));
            return false;
        }
        ms->nm = root->u.vs.nm;
        ms->m = arena_calloc(a, ms->nm + 1, sizeof(storage_matcher));
        if (!ms->m) {
            api_error(r, 500, "out of memory");
            return false;
        }
        for (size_t k = 0; k < ms->nm; k++) {
            const query_matcher *qm = &root->u.vs.m[k];
            ms->m[k] = (storage_matcher){qm->name,  qm->name_len,  (storage_match_op)qm->op,
                                         qm->value, qm->value_len, NULL,
                                         NULL};
            if (qm->re) {
                ms->m[k].re_match = re_cb;
                ms->m[k].re_ctx = qm->re;
            }
        }
    }
    return true;
}

static void release_match(matcher_set *ms, size_t n)
{
    for (size_t i = 0; i < n; i++)
        query_ast_release(ms[i].sel);
}

static int series_ref_cmp(const void *a, const void *b)
{
    const storage_series_ref *x = a, *y = b;
    return query_labels_cmp(x->labels, x->nlabels, y->labels, y->nlabels);
}

static int str_cmp(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

#define MIN_TIME (INT64_MIN / 4)
#define MAX_TIME (INT64_MAX / 4)

static bool range_params(req_ctx *r, int64_t *start, int64_t *end)
{
    return param_time(r, "start", MIN_TIME, start) && param_time(r, "end", MAX_TIME, end);
}

static void handle_series(req_ctx *r)
{
    int64_t start, end;
    if (!range_params(r, &start, &end))
        return;
    if (!param(r, "match[]")) {
        api_error(r, 400, "no match[] parameter provided");
        return;
    }
    arena *a = query_arena(r->qe);
    if (!a) {
        api_error(r, 500, "out of memory");
        return;
    }
    matcher_set *ms = NULL;
    size_t nms = 0;
    storage_series_ref *all = NULL;
    size_t nall = 0, cap = 0;
    const char *tenant = r->req->tenant ? r->req->tenant : "anonymous";
    if (!parse_match(r, a, &ms, &nms))
        goto out;
    for (size_t i = 0; i < nms; i++) {
        storage_series_ref *refs;
        size_t n;
        sonde_status st =
            storage_select(r->qe->st, tenant, ms[i].m, ms[i].nm, start, end, a, &refs, &n);
        if (st) {
            api_error(r, 500, "selecting series failed: %s", sonde_status_name(st));
            goto out;
        }
        if (nall + n > cap) {
            size_t nc = (nall + n) * 2;
            storage_series_ref *na = arena_realloc(a, all, cap * sizeof(*na), nc * sizeof(*na));
            if (!na) {
                api_error(r, 422,
                          "query processing would load too many samples into memory in "
                          "query execution");
                goto out;
            }
            all = na;
            cap = nc;
        }
        if (n) /* memcpy(NULL, NULL, 0) is undefined */
            memcpy(all + nall, refs, n * sizeof(*refs));
        nall += n;
    }
    if (nall > 1)
        qsort(all, nall, sizeof(*all), series_ref_cmp);
    api_begin_success(r);
    buf *b = &r->resp->body;
    sonde_status st = buf_putc(b, '[');
    for (size_t i = 0, k = 0; i < nall && !st; i++) {
        if (i && all[i].id == all[i - 1].id)
            continue;
        if (k++)
            st = buf_putc(b, ',');
        if (!st)
            st = query_json_labels(b, all[i].labels, all[i].nlabels);
    }
    if (!st)
        st = buf_putc(b, ']');
    if (st)
        api_error(r, 500, "response too large");
    else
        api_end_success(r);
out:
    release_match(ms, nms);
    arena_destroy(a);
}

/* labels (name == NULL) and label values */
static void handle_labels(req_ctx *r, const char *name)
{
    int64_t start, end;
    if (!range_params(r, &start, &end))
        return;
    arena *a = query_arena(r->qe);
    if (!a) {
        api_error(r, 500, "out of memory");
        return;
    }
    matcher_set *ms = NULL;
    size_t nms = 0;
    const char **all = NULL;
    size_t nall = 0, cap = 0;
    const char *tenant = r->req->tenant ? r->req->tenant : "anonymous";
    if (!parse_match(r, a, &ms, &nms))
        goto out;
    for (size_t i = 0; i < (nms ? nms : 1); i++) {
        const char **vals;
        size_t n;
        const storage_matcher *m = nms ? ms[i].m : NULL;
        size_t nm = nms ? ms[i].nm : 0;
        sonde_status st =
            name ? storage_label_values(r->qe->st, tenant, name, m, nm, start, end, a, &vals, &n)
                 : storage_label_names(r->qe->st, tenant, m, nm, start, end, a, &vals, &n);
        if (st) {
            api_error(r, 500, "reading labels failed: %s", sonde_status_name(st));
            goto out;
        }
        if (nall + n > cap) {
            size_t nc = (nall + n) * 2;
            const char **na = arena_realloc(a, all, cap * sizeof(*na), nc * sizeof(*na));
            if (!na) {
                api_error(r, 500, "out of memory");
                goto out;
            }
            all = na;
            cap = nc;
        }
        if (n) /* memcpy(NULL, NULL, 0) is undefined */
            memcpy(all + nall, vals, n * sizeof(*vals));
        nall += n;
    }
    if (nms > 1 && nall > 1)
        qsort(all, nall, sizeof(*all), str_cmp);
    api_begin_success(r);
    buf *b = &r->resp->body;
    sonde_status st = buf_putc(b, '[');
    for (size_t i = 0, k = 0; i < nall && !st; i++) {
        if (i && strcmp(all[i], all[i - 1]) == 0)
            continue;
        if (k++)
            st = buf_putc(b, ',');
        if (!st)
            st = buf_json_str(b, all[i], strlen(all[i]));
    }
    if (!st)
        st = buf_putc(b, ']');
    if (st)
        api_error(r, 500, "response too large");
    else
        api_end_success(r);
out:
    release_match(ms, nms);
    arena_destroy(a);
}

static void handle_buildinfo(req_ctx *r)
{
    api_begin_success(r);
    buf *b = &r->resp->body;
    buf_puts(b, "{\"version\":");
    buf_json_str(b, SONDE_VERSION, strlen(SONDE_VERSION));
    buf_puts(b, ",\"revision\":");
    buf_json_str(b, SONDE_REVISION, strlen(SONDE_REVISION));
    buf_puts(b, ",\"branch\":");
    buf_json_str(b, SONDE_BRANCH, strlen(SONDE_BRANCH));
    buf_puts(b, ",\"buildUser\":\"unknown\",\"buildDate\":");
    const char *date = __DATE__ " " __TIME__;
    buf_json_str(b, date, strlen(date));
    /* sonde is not written in Go; say what built it instead of inventing a Go version */
#if defined(__clang__)
    const char *cc = "none (C17, clang " __clang_version__ ")";
#elif defined(__GNUC__)
    const char *cc = "none (C17, gcc " __VERSION__ ")";
#else
    const char *cc = "none (C17)";
#endif
    buf_puts(b, ",\"goVersion\":");
    buf_json_str(b, cc, strlen(cc));
    buf_putc(b, '}');
    api_end_success(r);
}

/* format_query: the expression as Prometheus prints it (String(), the one-line
 * form, which is also what Prettify gives for any expression that fits in 100
 * columns). parse_query: the AST as translateAST's JSON. A parse error is
 * Prometheus' invalidParamError: bad_data, 400. */
static void handle_format_parse(req_ctx *r, bool parse)
{
    const url_param *q = param(r, "query");
    const char *qs = q ? q->val : "";
    size_t qn = q ? q->val_len : 0;
    arena *a = query_arena(r->qe);
    if (!a) {
        api_error(r, 500, "out of memory");
        return;
    }
    query_node *root = NULL;
    query_parse_error perr;
    if (query_parse(a, qs, qn, &root, &perr) != SONDE_OK) {
        char msg[512];
        query_parse_error_format(qs, qn, &perr, msg, sizeof(msg));
        api_error(r, 400, "invalid parameter \"query\": %s", msg);
        arena_destroy(a);
        return;
    }
    api_begin_success(r);
    sonde_status st;
    if (parse) {
        st = query_ast_json(&r->resp->body, root);
    } else {
        buf text;
        buf_init(&text, r->resp->body.max);
        st = query_ast_format(&text, root);
        if (!st && text.len == 0)
            st = buf_puts(&r->resp->body, "\"\"");
        else if (!st)
            st = buf_json_str(&r->resp->body, text.data, text.len);
        buf_fini(&text);
    }
    if (st)
        api_error(r, 500, "response too large");
    else
        api_end_success(r);
    query_ast_release(root);
    arena_destroy(a);
}

static bool path_is(const http_request *req, const char *p)
{
    size_t n = strlen(p);
    return req->path_len == n && memcmp(req->path, p, n) == 0;
}

bool query_api_handle(query_engine *qe, const http_request *req, http_response *resp)
{
    static const char lv_prefix[] = "/api/v1/label/";
    static const char lv_suffix[] = "/values";
    int ep;
    const char *label = NULL;
    size_t label_len = 0;
    if (path_is(req, "/api/v1/query"))
        ep = EP_QUERY;
    else if (path_is(req, "/api/v1/query_range"))
        ep = EP_QUERY_RANGE;
    else if (path_is(req, "/api/v1/series"))
        ep = EP_SERIES;
    else if (path_is(req, "/api/v1/labels"))
        ep = EP_LABELS;
    else if (path_is(req, "/api/v1/status/buildinfo"))
        ep = EP_BUILDINFO;
    else if (path_is(req, "/api/v1/format_query"))
        ep = EP_FORMAT_QUERY;
    else if (path_is(req, "/api/v1/parse_query"))
        ep = EP_PARSE_QUERY;
    else if (path_is(req, "/api/v1/metadata") || path_is(req, "/api/v1/query_exemplars"))
        ep = EP_OTHER;
    else if (req->path_len > sizeof(lv_prefix) - 1 + sizeof(lv_suffix) - 1 &&
             memcmp(req->path, lv_prefix, sizeof(lv_prefix) - 1) == 0 &&
             memcmp(req->path + req->path_len - (sizeof(lv_suffix) - 1), lv_suffix,
                    sizeof(lv_suffix) - 1) == 0) {
        ep = EP_LABEL_VALUES;
        label = req->path + sizeof(lv_prefix) - 1;
        label_len = req->path_len - (sizeof(lv_prefix) - 1) - (sizeof(lv_suffix) - 1);
    } else {
        return false;
    }
    atomic_fetch_add(&qe->requests[ep], 1);
    req_ctx r = {qe, req, resp, NULL, 0, false};
    if (req->method != HTTP_METHOD_GET && req->method != HTTP_METHOD_POST &&
        req->method != HTTP_METHOD_HEAD) {
        api_error(&r, 405, "method not allowed");
        resp->status = 405;
        return true;
    }
    if (!parse_params(&r))
        return true;
    switch (ep) {
    case EP_QUERY:
        handle_query(&r, false);
        break;
    case EP_QUERY_RANGE:
        handle_query(&r, true);
        break;
    case EP_SERIES:
        handle_series(&r);
        break;
    case EP_LABELS:
        handle_labels(&r, NULL);
        break;
    case EP_BUILDINFO:
        handle_buildinfo(&r);
        break;
    case EP_FORMAT_QUERY:
    case EP_PARSE_QUERY:
        handle_format_parse(&r, ep == EP_PARSE_QUERY);
        break;
    case EP_LABEL_VALUES: {
        char *name;
        size_t n;
        if (url_decode(req->arena, label, label_len, &name, &n) != SONDE_OK || n == 0 ||
            memchr(name, '/', n) || !utf8_valid(name, n)) {
            api_error(&r, 400, "invalid label name: \"%.*s\"", (int)label_len, label);
            break;
        }
        handle_labels(&r, name);
        break;
    }
    default:
        api_begin_success(&r);
        buf_puts(&resp->body, path_is(req, "/api/v1/metadata") ? "{}" : "[]");
        api_end_success(&r);
        break;
    }
    return true;
}

void query_metrics_write(query_engine *qe, buf *out)
{
    buf_puts(out, "# HELP sonde_query_requests_total Query API requests by endpoint.\n"
                  "# TYPE sonde_query_requests_total counter\n");
    for (int i = 0; i < EP_N; i++)
        buf_printf(out, "sonde_query_requests_total{endpoint=\"%s\"} %llu\n", EP_NAMES[i],
                   (unsigned long long)atomic_load(&qe->requests[i]));
    buf_printf(out,
               "# HELP sonde_query_errors_total Query API requests answered with an error.\n"
               "# TYPE sonde_query_errors_total counter\n"
               "sonde_query_errors_total %llu\n",
               (unsigned long long)atomic_load(&qe->errors));
    uint64_t ns = atomic_load(&qe->duration_ns);
    buf_puts(out, "# HELP sonde_query_duration_seconds PromQL evaluation time.\n"
                  "# TYPE sonde_query_duration_seconds summary\n"
                  "sonde_query_duration_seconds_sum ");
    buf_prom_float(out, (double)ns / 1e9);
    buf_printf(out,
               "\nsonde_query_duration_seconds_count %llu\n"
               "# HELP sonde_query_samples_loaded_total Samples read from storage by queries.\n"
               "# TYPE sonde_query_samples_loaded_total counter\n"
               "sonde_query_samples_loaded_total %llu\n",
               (unsigned long long)atomic_load(&qe->queries),
               (unsigned long long)atomic_load(&qe->samples));
}
