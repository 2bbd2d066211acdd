/*
 * logql.h - LogQL (Grafana Loki's query language): the AST, the parser
 * (logql_lex.c, logql_parse.c), the evaluator (logql_eval.c, with the
 * per-line pipeline in logql_pipeline.c) and the source it reads
 * (logql_store.c over storage/, or an in-memory one in tests).
 * Internal to query/; the HTTP side is query_loki_handle() in query.h.
 *
 * Ownership: everything (AST nodes, strings, compiled PCRE2 regexes, results)
 * lives in the query's arena: PCRE2 allocates through a general context that
 * points at that arena, so there is nothing to release but the arena. A
 * query runs on one thread (a query worker); nothing here is shared.
 *
 * Time: nanoseconds since the Unix epoch everywhere (Loki's unit).
 */
#ifndef SONDE_QUERY_LOGQL_H
#define SONDE_QUERY_LOGQL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../core/arena.h"
#include "../core/buf.h"
#include "../core/series.h"
#include "../core/status.h"
#include "../storage/storage.h"

/* ---- AST ---- */

typedef struct logql_re logql_re; /* a compiled PCRE2 regex (logql_parse.c) */

typedef struct logql_matcher {
    const char *name, *value;
    size_t name_len, value_len;
    storage_match_op op;
    logql_re *re; /* RE / NRE: anchored */
} logql_matcher;

typedef enum logql_line_op {
    LOGQL_LINE_CONTAINS = 0, /* |= */
    LOGQL_LINE_NOT_CONTAINS, /* != */
    LOGQL_LINE_RE,           /* |~ */
    LOGQL_LINE_NOT_RE,       /* !~ */
} logql_line_op;

typedef enum logql_cmp {
    LOGQL_CMP_EQ = 0,
    LOGQL_CMP_NE,
    LOGQL_CMP_GT,
    LOGQL_CMP_GE,
    LOGQL_CMP_LT,
    LOGQL_CMP_LE,
} logql_cmp;

typedef enum logql_lf_kind {
    LOGQL_LF_AND = 0,
    LOGQL_LF_OR,
    LOGQL_LF_STRING,   /* name op "value" (matcher semantics) */
    LOGQL_LF_NUMBER,   /* name cmp 42.5 */
    LOGQL_LF_DURATION, /* name cmp 10s: the label parsed as a Go duration */
    LOGQL_LF_BYTES,    /* name cmp 20MB: the label parsed as a byte size */
} logql_lf_kind;

typedef struct logql_lfilter {
    logql_lf_kind kind;
    struct logql_lfilter *l, *r; /* AND / OR */
    logql_matcher m;             /* STRING; m.name for the others */
    logql_cmp cmp;
    double num; /* NUMBER; DURATION in seconds; BYTES in bytes */
} logql_lfilter;

/* A text/template subset for line_format / label_format: literal text and
 * {{ }} actions that print a label, __line__ or __timestamp__, through
 * pipes of ToUpper / ToLower / TrimSpace / Title. */
typedef struct logql_tpl_part {
    bool action;
    const char *text; /* literal, or the label name (action) */
    size_t len;
    uint8_t nfn;
    uint8_t fn[8]; /* LOGQL_FN_* applied in order */
} logql_tpl_part;

enum { LOGQL_FN_TOUPPER = 1, LOGQL_FN_TOLOWER, LOGQL_FN_TRIMSPACE, LOGQL_FN_TITLE };

typedef struct logql_tpl {
    logql_tpl_part *parts;
    size_t nparts;
} logql_tpl;

typedef struct logql_label_fmt {
    const char *dst;
    size_t dst_len;
    bool rename; /* dst=src: src is a label name */
    const char *src;
    size_t src_len;
    logql_tpl tpl; /* dst="template" */
} logql_label_fmt;

typedef struct logql_json_param {
    const char *name;
    size_t name_len;
    const char *path; /* the JSON path expression (a.b[0]["c"]) */
    size_t path_len;
} logql_json_param;

typedef struct logql_pattern_part {
    bool capture; /* <name>; a named "_" captures nothing */
    const char *text;
    size_t len;
} logql_pattern_part;

typedef enum logql_stage_kind {
    LOGQL_STAGE_LINE_FILTER = 0,
    LOGQL_STAGE_JSON,
    LOGQL_STAGE_LOGFMT,
    LOGQL_STAGE_PATTERN,
    LOGQL_STAGE_REGEXP,
    LOGQL_STAGE_LABEL_FILTER,
    LOGQL_STAGE_LINE_FORMAT,
    LOGQL_STAGE_LABEL_FORMAT,
    LOGQL_STAGE_DROP,
    LOGQL_STAGE_KEEP,
    LOGQL_STAGE_DECOLORIZE,
    LOGQL_STAGE_UNWRAP,
} logql_stage_kind;

typedef enum logql_unwrap_conv {
    LOGQL_UNWRAP_FLOAT = 0,
    LOGQL_UNWRAP_BYTES,
    LOGQL_UNWRAP_DURATION, /* seconds */
} logql_unwrap_conv;

typedef struct logql_stage {
    logql_stage_kind kind;
    /* LINE_FILTER: op applied to any of the values ("a" or "b") */
    logql_line_op line_op;
    const char **values;
    size_t *value_lens;
    logql_re **res;
    size_t nvalues;
    /* JSON / LOGFMT with parameters */
    logql_json_param *params;
    size_t nparams;
    bool logfmt_strict, logfmt_keep_empty;
    /* PATTERN */
    logql_pattern_part *pattern;
    size_t npattern;
    /* REGEXP */
    logql_re *re;
    /* LABEL_FILTER */
    logql_lfilter *filter;
    /* LINE_FORMAT */
    logql_tpl tpl;
    /* LABEL_FORMAT */
    logql_label_fmt *fmts;
    size_t nfmts;
    /* DROP / KEEP: a bare name (value == NULL) or a matcher */
    logql_matcher *names;
    size_t nnames;
    /* UNWRAP */
    const char *unwrap;
    size_t unwrap_len;
    logql_unwrap_conv conv;
} logql_stage;

typedef struct logql_log {
    logql_matcher *matchers;
    size_t nmatchers;
    logql_stage *stages;
    size_t nstages;
} logql_log;

typedef enum logql_node_kind {
    LOGQL_NODE_LOG = 0,    /* a log query: selector + pipeline */
    LOGQL_NODE_RANGE,      /* count_over_time(... [5m]) */
    LOGQL_NODE_VECTOR,     /* sum by (x) (...) */
    LOGQL_NODE_BINARY,     /* a + b, a > 3 */
    LOGQL_NODE_NUMBER,     /* 3 */
    LOGQL_NODE_VECTOR_LIT, /* vector(3): one series without labels */
} logql_node_kind;

typedef enum logql_range_fn {
    LOGQL_RANGE_COUNT = 0,
    LOGQL_RANGE_RATE,
    LOGQL_RANGE_BYTES,
    LOGQL_RANGE_BYTES_RATE,
    LOGQL_RANGE_ABSENT,
    /* unwrapped */
    LOGQL_RANGE_SUM,
    LOGQL_RANGE_AVG,
    LOGQL_RANGE_MIN,
    LOGQL_RANGE_MAX,
    LOGQL_RANGE_FIRST,
    LOGQL_RANGE_LAST,
    LOGQL_RANGE_STDDEV,
    LOGQL_RANGE_STDVAR,
    LOGQL_RANGE_QUANTILE,
    LOGQL_RANGE_RATE_COUNTER,
} logql_range_fn;

typedef enum logql_vec_fn {
    LOGQL_VEC_SUM = 0,
    LOGQL_VEC_AVG,
    LOGQL_VEC_MIN,
    LOGQL_VEC_MAX,
    LOGQL_VEC_COUNT,
    LOGQL_VEC_STDDEV,
    LOGQL_VEC_STDVAR,
    LOGQL_VEC_TOPK,
    LOGQL_VEC_BOTTOMK,
    LOGQL_VEC_SORT, /* instant results ordered by value */
    LOGQL_VEC_SORT_DESC,
} logql_vec_fn;

typedef enum logql_binop {
    LOGQL_OP_ADD = 0,
    LOGQL_OP_SUB,
    LOGQL_OP_MUL,
    LOGQL_OP_DIV,
    LOGQL_OP_MOD,
    LOGQL_OP_POW,
    LOGQL_OP_EQ,
    LOGQL_OP_NE,
    LOGQL_OP_GT,
    LOGQL_OP_GE,
    LOGQL_OP_LT,
    LOGQL_OP_LE,
    /* set operations (vector to vector) */
    LOGQL_OP_AND,
    LOGQL_OP_OR,
    LOGQL_OP_UNLESS,
} logql_binop;

typedef struct logql_grouping {
    bool present, without;
    const char **names;
    size_t *name_lens;
    size_t nnames;
} logql_grouping;

typedef struct logql_node {
    logql_node_kind kind;
    /* LOG, RANGE */
    logql_log log;
    /* RANGE */
    logql_range_fn range_fn;
    int64_t range_ns, offset_ns;
    bool unwrapped; /* the pipeline has an unwrap stage */
    /* RANGE (quantile_over_time), VECTOR (topk / bottomk) */
    double param;
    /* RANGE, VECTOR */
    logql_grouping grouping;
    /* VECTOR */
    logql_vec_fn vec_fn;
    struct logql_node *inner;
    /* BINARY */
    logql_binop op;
    bool bool_mod;
    struct logql_node *lhs, *rhs;
    /* NUMBER, VECTOR_LIT */
    double num;
} logql_node;

typedef struct logql_parse_error {
    int line, col; /* 1-based; 0, 0: no position */
    char msg[256];
} logql_parse_error;

/* Ranges and offsets are at most this long (so that time arithmetic on
 * query times within +-2^62 ns cannot overflow). */
#define LOGQL_MAX_RANGE_NS (INT64_C(3650) * 86400 * 1000000000)

/* Parses q[0..n) into the arena. SONDE_ERR_INVALID with *err filled (Loki's
 * wording) for a bad query; SONDE_ERR_NOMEM / SONDE_ERR_LIMIT when the arena
 * refuses. */
sonde_status logql_parse(arena *a, const char *q, size_t n, logql_node **out,
                         logql_parse_error *err);
/* Loki's text for a parse error: "parse error at line L, col C: msg" or
 * "parse error : msg" when it has no position. */
void logql_parse_error_format(const logql_parse_error *err, char *out, size_t n);
/* A stream selector alone ({a="b", c=~"d"}), for /series match[] and the
 * query parameter of /index/stats and /index/volume. The at-least-one
 * non-empty matcher rule is checked too. */
sonde_status logql_parse_selector(arena *a, const char *q, size_t n, logql_matcher **m, size_t *nm,
                                  logql_parse_error *err);

/* PCRE2 through the arena (logql_parse.c). ANCHORED: the whole subject
 * must match, "." stops at newlines (label matchers, Prometheus semantics);
 * LINE: a search where "." matches newlines too (line filters, as Loki);
 * SEARCH: a plain search (the regexp parser). */
enum { LOGQL_RE_ANCHORED = 0, LOGQL_RE_LINE, LOGQL_RE_SEARCH };
logql_re *logql_re_compile(arena *a, const char *pat, size_t n, int mode, char *err, size_t errlen);
bool logql_re_match(logql_re *re, const char *s, size_t n);
/* Named groups of the first match of an unanchored regex: fn per group that
 * took part. False when it does not match. */
size_t logql_re_named_count(const logql_re *re);
bool logql_re_named(logql_re *re, const char *s, size_t n,
                    void (*fn)(void *ctx, const char *name, size_t nl, const char *v, size_t vl),
                    void *ctx);
bool logql_matcher_matches(const logql_matcher *m, const char *v, size_t n);

/* Go-style durations ("1h30m", "1.5s", "250ms", "2d", "1w") in ns. */
bool logql_parse_duration(const char *s, size_t n, int64_t *ns);
/* Human byte sizes ("20MB" 1000-based, "20MiB" 1024-based, "100B", "1.5kb"). */
bool logql_parse_bytes(const char *s, size_t n, double *out);

/* ---- sources ---- */

typedef struct logql_stream_ref {
    uint64_t id;
    sonde_label *labels; /* canonical */
    uint32_t nlabels;
} logql_stream_ref;

typedef struct logql_entry {
    int64_t ts_ns;
    const char *line;
    size_t len;
    const sonde_label *meta; /* structured metadata */
    uint32_t nmeta;
    uint32_t weight; /* lines this one stands for (its sample rate); 0 or 1: itself */
} logql_entry;

/* Returns false to stop the scan. The entry lives until the callback returns. */
typedef bool (*logql_entry_fn)(void *uctx, const logql_entry *e);

typedef struct logql_source {
    void *ctx;
    /* Streams matching every matcher (Prometheus semantics), labels in a. */
    sonde_status (*streams)(void *ctx, const storage_matcher *m, size_t nm, arena *a,
                            logql_stream_ref **out, size_t *n);
    /* Entries of one stream with mint <= ts <= maxt, ascending (or descending
     * when backward), to fn until it returns false. */
    sonde_status (*scan)(void *ctx, uint64_t stream_id, int64_t mint, int64_t maxt, bool backward,
                         logql_entry_fn fn, void *uctx);
} logql_source;

/* The storage-backed source (logql_store.c): stored values are packed OTLP
 * ResourceLogs; the line is the body, structured metadata the record's and
 * the non-indexed resource's attributes, severity_text, detected_level,
 * trace_id, span_id, scope_name. fini frees its scratch. */
typedef struct logql_tmpl_ent {
    uint64_t id;
    uint32_t ver;
    const char *text; /* NULL: empty slot */
    size_t len;
} logql_tmpl_ent;

typedef struct logql_store_src {
    storage *st;
    const char *tenant;
    arena *scratch; /* reset per entry */
    buf tmp;
    /* template versions read so far (template-encoded rows), for the source's life */
    arena *tarena;
    logql_tmpl_ent *tcache;
    size_t tcap, tn;
} logql_store_src;

void logql_store_source(logql_store_src *s, storage *st, const char *tenant, logql_source *out);
void logql_store_src_fini(logql_store_src *s);
/* What Loki's index stats and volume count for one stored value: the bytes of its line and
 * the lines it stands for, both times its sample rate. SONDE_ERR_INVALID when it does not
 * decode, SONDE_ERR_NOMEM. */
sonde_status logql_store_line_bytes(logql_store_src *src, const void *value, size_t len,
                                    uint64_t *bytes, uint64_t *lines);
/* Decodes one stored value into e (strings in a). A template-encoded row's line is rebuilt
 * from its template version, read through src (NULL: such rows are invalid).
 * SONDE_ERR_INVALID if it does not unpack or its template is gone. */
sonde_status logql_store_decode(logql_store_src *src, arena *a, buf *tmp, const void *value,
                                size_t len, int64_t ts_ns, logql_entry *e);

/* ---- evaluation ---- */

typedef struct logql_limits {
    size_t max_lines_scanned; /* entries read from the source per query */
    size_t max_series;        /* series in a metric result */
    size_t max_entries;       /* the largest `limit` accepted */
    int64_t deadline_ns;      /* time_mono_ns() deadline; 0: none */
} logql_limits;

typedef struct logql_stats {
    uint64_t lines_scanned, bytes_scanned, lines_post_filter, entries_returned;
    uint64_t lines_sampled; /* scanned lines kept by sampling at a rate above 1 */
} logql_stats;

typedef struct logql_out_entry {
    int64_t ts_ns;
    const char *line;
    size_t len;
} logql_out_entry;

typedef struct logql_out_stream {
    sonde_label *labels;
    uint32_t nlabels;
    logql_out_entry *entries;
    size_t n, cap;
} logql_out_stream;

typedef struct logql_point {
    int64_t ts_ns;
    double v;
} logql_point;

typedef struct logql_out_series {
    sonde_label *labels;
    uint32_t nlabels;
    logql_point *points;
    size_t n;
} logql_out_series;

typedef struct logql_result {
    bool is_log; /* streams; else series (matrix / vector) */
    logql_out_stream *streams;
    size_t nstreams;
    logql_out_series *series;
    size_t nseries;
} logql_result;

typedef struct logql_eval_ctx {
    const logql_source *src;
    arena *a;
    logql_limits lim;
    logql_stats stats;
    char err[1024]; /* Loki-style text for a failed evaluation */
} logql_eval_ctx;

/* A log query over [start, end) (Loki's query_range: end exclusive), the
 * first `limit` entries in the direction. */
sonde_status logql_eval_logs(logql_eval_ctx *c, const logql_node *root, int64_t start_ns,
                             int64_t end_ns, size_t limit, bool backward, logql_result *out);
/* Query times must lie within +-LOGQL_MAX_TIME_NS (2^62 ns, year 2116). */
#define LOGQL_MAX_TIME_NS (INT64_C(1) << 62)

/* A metric query at start, start+step, ..., end (an instant query: start ==
 * end, step 0). Points of a series are ascending. SONDE_ERR_INVALID with
 * c->err for a query error (pipeline error labels in a metric query),
 * SONDE_ERR_LIMIT (lines, series), SONDE_ERR_TIMEOUT. */
sonde_status logql_eval_metric(logql_eval_ctx *c, const logql_node *root, int64_t start_ns,
                               int64_t end_ns, int64_t step_ns, logql_result *out);

/* Sanitizes a label name as Loki's parsers do: surrounding blanks trimmed,
 * every character (rune) outside [A-Za-z0-9_] becomes '_', a leading digit
 * gets a '_' prefix. Returns the length written to out (room for n + 1). */
size_t logql_sanitize_label(const char *s, size_t n, char *out);

#endif
