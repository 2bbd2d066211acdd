/*
 * promql.h - PromQL lexer, parser and AST (internal to query/, also used by
 * the conformance runner and the unit tests).
 *
 * query_parse() turns a query string into an AST allocated in a caller's
 * arena. The AST is immutable after parsing (regexes are compiled once at
 * parse time, see query_regex_*) and is freed with the arena, except for the
 * compiled PCRE2 regexes, which query_ast_release() frees; an arena that held
 * an AST must see query_ast_release() before it is reset or destroyed.
 *
 * Threads: pure functions; any thread. Recursion is bounded by
 * QUERY_MAX_DEPTH nesting levels.
 *
 * Errors: SONDE_ERR_INVALID with err->pos (0-based byte offset) and a
 * Prometheus-like message; query_parse_error_format() renders
 * "1:5: parse error: unexpected ...".
 */
#ifndef SONDE_QUERY_PROMQL_H
#define SONDE_QUERY_PROMQL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../core/arena.h"
#include "../core/buf.h"
#include "../core/status.h"

#define QUERY_MAX_DEPTH 128
#define QUERY_DEFAULT_EVAL_INTERVAL_MS 60000 /* default subquery step */

/* ---- lexer ---- */

typedef enum query_tok_kind {
    QT_EOF = 0,
    QT_ERROR,
    QT_IDENT,    /* metric name / label name / function name / keyword */
    QT_NUMBER,   /* 1, 1.5, 0x1f, 1e3, Inf, NaN */
    QT_DURATION, /* 5m, 1h30m */
    QT_STRING,   /* "..", '..', `..` (text is the raw token incl. quotes) */
    QT_LPAREN,
    QT_RPAREN,
    QT_LBRACE,
    QT_RBRACE,
    QT_LBRACKET,
    QT_RBRACKET,
    QT_COMMA,
    QT_COLON,
    QT_AT,
    QT_ASSIGN, /* = (in matchers) */
    QT_EQLC,   /* == */
    QT_NEQ,    /* != */
    QT_EQL_REGEX,
    QT_NEQ_REGEX,
    QT_LSS,
    QT_LTE,
    QT_GTR,
    QT_GTE,
    QT_ADD,
    QT_SUB,
    QT_MUL,
    QT_DIV,
    QT_MOD,
    QT_POW,
    QT_TRIM_UPPER, /* </ (native histograms: keep the part below) */
    QT_TRIM_LOWER, /* >/ (keep the part above) */
} query_tok_kind;

typedef struct query_token {
    query_tok_kind kind;
    uint32_t pos; /* byte offset of the first character */
    uint32_t len;
    const char *text; /* points into the input */
} query_token;

typedef struct query_lexer {
    const char *s;
    size_t n;
    size_t off;
    int brackets;    /* inside [...] a ':' is the subquery colon, not a name */
    const char *err; /* set with a QT_ERROR token */
} query_lexer;

void query_lexer_init(query_lexer *lx, const char *s, size_t n);
/* Next token; QT_ERROR sets lx->err (static string). */
query_token query_lexer_next(query_lexer *lx);

/* ---- AST ---- */

typedef enum query_type {
    QUERY_TYPE_NONE = 0,
    QUERY_TYPE_SCALAR,
    QUERY_TYPE_VECTOR, /* instant vector */
    QUERY_TYPE_MATRIX, /* range vector */
    QUERY_TYPE_STRING,
} query_type;

const char *query_type_name(query_type t); /* "scalar", "instant vector", ... */

typedef enum query_node_kind {
    QN_NUMBER = 1,
    QN_STRING,
    QN_VECTOR_SEL,
    QN_MATRIX_SEL,
    QN_SUBQUERY,
    QN_CALL,
    QN_AGG,
    QN_BINARY,
    QN_UNARY,
    QN_PAREN,
} query_node_kind;

typedef enum query_match_op {
    QUERY_MATCH_EQ = 0,
    QUERY_MATCH_NEQ,
    QUERY_MATCH_RE,
    QUERY_MATCH_NRE,
} query_match_op;

typedef struct query_regex query_regex; /* compiled, anchored PCRE2 (regex.c) */

typedef struct query_matcher {
    const char *name;
    size_t name_len;
    query_match_op op;
    const char *value;
    size_t value_len;
    query_regex *re; /* RE / NRE */
} query_matcher;

typedef enum query_at_kind {
    QUERY_AT_NONE = 0,
    QUERY_AT_TS,
    QUERY_AT_START,
    QUERY_AT_END,
} query_at_kind;

typedef enum query_binop {
    QOP_ADD = 1,
    QOP_SUB,
    QOP_MUL,
    QOP_DIV,
    QOP_MOD,
    QOP_POW,
    QOP_ATAN2,
    QOP_EQL,
    QOP_NEQ,
    QOP_LSS,
    QOP_LTE,
    QOP_GTR,
    QOP_GTE,
    QOP_AND,
    QOP_OR,
    QOP_UNLESS,
    QOP_TRIM_UPPER, /* h </ x: the histogram's observations at or below x */
    QOP_TRIM_LOWER, /* h >/ x: the histogram's observations at or above x */
} query_binop;

const char *query_binop_name(query_binop op);
bool query_binop_is_comparison(query_binop op);
bool query_binop_is_set(query_binop op);

typedef enum query_aggop {
    QAGG_SUM = 1,
    QAGG_AVG,
    QAGG_COUNT,
    QAGG_MIN,
    QAGG_MAX,
    QAGG_GROUP,
    QAGG_STDDEV,
    QAGG_STDVAR,
    QAGG_TOPK,
    QAGG_BOTTOMK,
    QAGG_COUNT_VALUES,
    QAGG_QUANTILE,
    QAGG_LIMITK,
    QAGG_LIMIT_RATIO,
} query_aggop;

const char *query_aggop_name(query_aggop op);
bool query_aggop_has_param(query_aggop op);

typedef enum query_card {
    QUERY_CARD_ONE_TO_ONE = 0,
    QUERY_CARD_MANY_TO_ONE,  /* group_left */
    QUERY_CARD_ONE_TO_MANY,  /* group_right */
    QUERY_CARD_MANY_TO_MANY, /* set operators */
} query_card;

typedef struct query_strlist {
    const char **v; /* NUL-terminated, in the arena */
    size_t n;
} query_strlist;

/* A PromQL function: signature for the parser, id for the evaluator. */
typedef struct query_func {
    const char *name;
    query_type arg_types[5]; /* the last one repeats for extra arguments */
    int min_args;
    int max_args; /* -1: unbounded */
    query_type ret;
    int id; /* functions.c dispatch */
} query_func;

typedef struct query_node query_node;

/* Durations are literals checked at parse time, or (Prometheus 3 duration
 * expressions: `[5m+1m]`, `offset (2*step())`) a scalar expression evaluated
 * at query time, in seconds; the *_expr field is then set and wins. */
typedef struct query_modifiers {
    int64_t offset_ms;
    query_node *offset_expr;
    query_at_kind at;
    int64_t at_ms; /* QUERY_AT_TS */
} query_modifiers;

struct query_node {
    query_node_kind kind;
    uint32_t pos, end; /* byte range in the input */
    union {
        double number;
        struct {
            const char *s; /* unescaped, NUL-terminated */
            size_t len;
        } str;
        struct {
            const char *name; /* metric name or NULL (also present as a matcher) */
            query_matcher *m;
            size_t nm;
            query_modifiers mod;
            /* extended range selectors: `x[5m] anchored`, `x[5m] smoothed`,
             * `x smoothed` (experimental in Prometheus 3) */
            bool anchored, smoothed;
        } vs;
        struct {
            query_node *vs; /* QN_VECTOR_SEL */
            int64_t range_ms;
            query_node *range_expr;
        } ms;
        struct {
            query_node *expr;
            int64_t range_ms;
            int64_t step_ms; /* 0: default evaluation interval */
            query_node *range_expr, *step_expr;
            query_modifiers mod;
        } sq;
        struct {
            const query_func *fn;
            query_node **args;
            size_t nargs;
        } call;
        struct {
            query_aggop op;
            query_node *expr;
            query_node *param; /* topk k, quantile q, count_values label, ... */
            query_strlist grouping;
            bool without;
        } agg;
        struct {
            query_binop op;
            query_node *lhs, *rhs;
            bool return_bool;
            bool has_matching; /* on/ignoring given */
            bool on;           /* else ignoring */
            query_strlist match_labels;
            query_card card;
            query_strlist include; /* group_left/right labels */
            /* fill / fill_left / fill_right: a missing side takes this value */
            bool fill_left, fill_right;
            double fill_left_v, fill_right_v;
        } bin;
        struct {
            bool neg;
            query_node *expr;
        } un;
        struct {
            query_node *expr;
        } paren;
    } u;
};

typedef struct query_parse_error {
    uint32_t pos;
    char msg[256];
} query_parse_error;

/* Parses s[0..n) into *out (allocated in a). Type-checks the tree. */
sonde_status query_parse(arena *a, const char *s, size_t n, query_node **out,
                         query_parse_error *err);
/* "line:col: parse error: msg" for err at its position in s. */
void query_parse_error_format(const char *s, size_t n, const query_parse_error *err, char *out,
                              size_t outlen);
/* Frees the compiled regexes of a tree (the nodes stay in the arena). */
void query_ast_release(query_node *root);

query_type query_node_type(const query_node *n);

/* Prometheus-style canonical rendering of an expression (format_query). */
sonde_status query_ast_print(buf *b, const query_node *n);

/* Duration rendering as Prometheus does it ("1h30m", "5m", "1s500ms"). */
sonde_status query_duration_print(buf *b, int64_t ms);

/* ---- functions (functions.c) ---- */

const query_func *query_func_lookup(const char *name, size_t len);
const char *query_func_name(const query_func *f);

/* ---- regex (regex.c) ---- */

/* Compiles pat as ^(?:pat)$ (PCRE2_ANCHORED|PCRE2_ENDANCHORED, UTF, JIT).
 * NULL with err filled on a bad pattern. */
query_regex *query_regex_compile(const char *pat, size_t n, char *err, size_t errlen);
void query_regex_free(query_regex *re); /* NULL is a no-op */
bool query_regex_match(query_regex *re, const char *s, size_t n);
/* Match with capture groups for label_replace: returns false when no match;
 * expands `repl` ($1, ${1}, ${name}) into out. */
bool query_regex_replace(query_regex *re, const char *s, size_t n, const char *repl,
                         size_t repl_len, buf *out);

#endif
