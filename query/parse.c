/*
 * parse.c - the PromQL parser: a recursive-descent parser with precedence
 * climbing for binary operators, producing the AST of promql.h.
 *
 * Precedence, lowest first (as Prometheus' generated_parser.y):
 *   or < and unless < == != <= < >= > < + - < * / % atan2 < unary - + < ^
 * All binary operators are left-associative except '^'. Unary minus binds
 * looser than '^' (-2^2 == -4) and is folded into number literals.
 *
 * Every node lives in the caller's arena; regexes are compiled here (once
 * per query) and freed by query_ast_release(). Nesting is bounded by
 * QUERY_MAX_DEPTH. After parsing, check_node() applies Prometheus' type
 * rules (function argument types, binary operand types, ...).
 *
 * Threads: any; one parser per call.
 */
#include "promql.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "../core/parse.h"
#include "../core/utf8.h"

typedef struct parser {
    query_lexer lx;
    query_token cur;
    arena *a;
    query_parse_error *err;
    bool failed;
    int depth;
    query_regex **res; /* every regex compiled so far: freed on failure */
    size_t nres, capres;
    /* the next selector is info()'s label selector: it may match everything */
    bool label_selector;
} parser;

static query_node *parse_expr(parser *p);
static query_node *parse_binary(parser *p, int minprec);
static query_node *parse_primary(parser *p);

static void fail_at(parser *p, uint32_t pos, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void fail_at(parser *p, uint32_t pos, const char *fmt, ...)
{
    if (p->failed)
        return;
    p->failed = true;
    p->err->pos = pos;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->err->msg, sizeof(p->err->msg), fmt, ap);
    va_end(ap);
}

static void advance(parser *p)
{
    p->cur = query_lexer_next(&p->lx);
    if (p->cur.kind == QT_ERROR)
        fail_at(p, p->cur.pos, "%s", p->lx.err);
}

static query_token peek(const parser *p)
{
    query_lexer copy = p->lx;
    return query_lexer_next(&copy);
}

static bool tok_is(const query_token *t, const char *kw)
{
    return t->kind == QT_IDENT && strlen(kw) == t->len && memcmp(t->text, kw, t->len) == 0;
}

static bool tok_is_ci(const query_token *t, const char *kw)
{
    return t->kind == QT_IDENT && strlen(kw) == t->len && strncasecmp(t->text, kw, t->len) == 0;
}

static void tok_describe(const query_token *t, char *out, size_t n)
{
    switch (t->kind) {
    case QT_EOF:
        snprintf(out, n, "end of input");
        return;
    case QT_IDENT:
        snprintf(out, n, "identifier \"%.*s\"", (int)t->len, t->text);
        return;
    case QT_NUMBER:
        snprintf(out, n, "number \"%.*s\"", (int)t->len, t->text);
        return;
    case QT_DURATION:
        snprintf(out, n, "duration \"%.*s\"", (int)t->len, t->text);
        return;
    case QT_STRING:
        snprintf(out, n, "string %.*s", (int)t->len, t->text);
        return;
    case QT_LPAREN:
        snprintf(out, n, "left parenthesis '('");
        return;
    case QT_RPAREN:
        snprintf(out, n, "right parenthesis ')'");
        return;
    case QT_LBRACE:
        snprintf(out, n, "left brace '{'");
        return;
    case QT_RBRACE:
        snprintf(out, n, "right brace '}'");
        return;
    case QT_LBRACKET:
        snprintf(out, n, "left bracket '['");
        return;
    case QT_RBRACKET:
        snprintf(out, n, "right bracket ']'");
        return;
    case QT_COMMA:
        snprintf(out, n, "\",\"");
        return;
    case QT_COLON:
        snprintf(out, n, "\":\"");
        return;
    case QT_AT:
        snprintf(out, n, "<@>");
        return;
    case QT_ASSIGN:
        snprintf(out, n, "\"=\"");
        return;
    default:
        snprintf(out, n, "<op:%.*s>", (int)t->len, t->text);
        return;
    }
}

static void fail_unexpected(parser *p, const char *context)
{
    char d[128];
    tok_describe(&p->cur, d, sizeof(d));
    if (context)
        fail_at(p, p->cur.pos, "unexpected %s in %s", d, context);
    else
        fail_at(p, p->cur.pos, "unexpected %s", d);
}

static bool expect(parser *p, query_tok_kind k, const char *context)
{
    if (p->failed)
        return false;
    if (p->cur.kind != k) {
        fail_unexpected(p, context);
        return false;
    }
    advance(p);
    return !p->failed;
}

static query_node *node_new(parser *p, query_node_kind k, uint32_t pos)
{
    query_node *n = arena_calloc(p->a, 1, sizeof(*n));
    if (!n) {
        fail_at(p, pos, "out of memory");
        return NULL;
    }
    n->kind = k;
    n->pos = pos;
    n->end = pos;
    return n;
}

/* ---- strings ---- */



/* Go strconv.Unquote semantics for "..", '..' and raw `..`. */
static bool unquote(parser *p, const query_token *t, const char **out, size_t *outlen)
{
    const char *s = t->text + 1;
    size_t n = t->len - 2;
    char *o = arena_alloc(p->a, n + 1);
    if (!o) {
        fail_at(p, t->pos, "out of memory");
        return false;
    }
    size_t k = 0;
    if (t->text[0] == '`') {
        memcpy(o, s, n);
        k = n;
    } else {
        for (size_t i = 0; i < n; i++) {
            char c = s[i];
            if (c != '\\') {
                o[k++] = c;
                continue;
            }
            if (++i >= n)
                goto bad;
            c = s[i];
            switch (c) {
            case 'a':
                o[k++] = '\a';
                break;
            case 'b':
                o[k++] = '\b';
                break;
            case 'f':
                o[k++] = '\f';
                break;
            case 'n':
                o[k++] = '\n';
                break;
            case 'r':
                o[k++] = '\r';
                break;
            case 't':
                o[k++] = '\t';
                break;
            case 'v':
                o[k++] = '\v';
                break;
            case '\\':
                o[k++] = '\\';
                break;
            case '\'':
            case '"':
                if (c != t->text[0])
                    goto bad;
                o[k++] = c;
                break;
            case 'x': {
                int h1 = i + 1 < n ? parse_hex_digit(s[i + 1]) : -1, h2 = i + 2 < n ? parse_hex_digit(s[i + 2]) : -1;
                if (h1 < 0 || h2 < 0)
                    goto bad;
                o[k++] = (char)(h1 * 16 + h2);
                i += 2;
                break;
            }
            case 'u':
            case 'U': {
                size_t digits = c == 'u' ? 4 : 8;
                uint32_t cp = 0;
                for (size_t j = 1; j <= digits; j++) {
                    int h = i + j < n ? parse_hex_digit(s[i + j]) : -1;
                    if (h < 0)
                        goto bad;
                    cp = cp * 16 + (uint32_t)h;
                }
                if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
                    goto bad;
                i += digits;
                k += utf8_encode(o + k, cp); /* \uXXXX (6 bytes) encodes in <= 4 */
                break;
            }
            default:
                if (c >= '0' && c <= '7') {
                    if (i + 2 >= n)
                        goto bad;
                    int v = 0;
                    for (size_t j = 0; j < 3; j++) {
                        char d = s[i + j];
                        if (d < '0' || d > '7')
                            goto bad;
                        v = v * 8 + (d - '0');
                    }
                    if (v > 255)
                        goto bad;
                    o[k++] = (char)v;
                    i += 2;
                    break;
                }
                goto bad;
            }
        }
    }
    o[k] = 0;
    *out = o;
    *outlen = k;
    return true;
bad:
    fail_at(p, t->pos, "invalid syntax in string %.*s", (int)t->len, t->text);
    return false;
}

/* ---- durations and numbers ---- */

#define QUERY_MAX_DURATION_MS (INT64_C(1) << 53) /* ~285,000 years: arithmetic stays exact */

static bool parse_dur_tok(parser *p, int64_t *ms, bool allow_number)
{
    if (p->cur.kind == QT_DURATION) {
        if (!parse_duration_ms(p->cur.text, p->cur.len, ms) || *ms > QUERY_MAX_DURATION_MS) {
            fail_at(p, p->cur.pos, "bad duration syntax: \"%.*s\"", (int)p->cur.len, p->cur.text);
            return false;
        }
        advance(p);
        return !p->failed;
    }
    if (allow_number && p->cur.kind == QT_NUMBER) {
        double v;
        if (!parse_f64(p->cur.text, p->cur.len, &v) || !isfinite(v) || fabs(v) * 1000 > 9.0e15) {
            fail_at(p, p->cur.pos, "bad duration syntax: \"%.*s\"", (int)p->cur.len, p->cur.text);
            return false;
        }
        *ms = (int64_t)llround(v * 1000.0);
        advance(p);
        return !p->failed;
    }
    fail_unexpected(p, "duration");
    return false;
}

/* ---- label lists ---- */

static bool parse_label_name(parser *p, const char **out, size_t *len)
{
    if (p->cur.kind == QT_IDENT) {
        char *s = arena_strndup(p->a, p->cur.text, p->cur.len);
        if (!s) {
            fail_at(p, p->cur.pos, "out of memory");
            return false;
        }
        *out = s;
        *len = p->cur.len;
        advance(p);
        return !p->failed;
    }
    if (p->cur.kind == QT_STRING) {
        query_token t = p->cur;
        if (!unquote(p, &t, out, len))
            return false;
        advance(p);
        return !p->failed;
    }
    fail_unexpected(p, "grouping opts");
    return false;
}

static bool parse_label_list(parser *p, query_strlist *l)
{
    if (!expect(p, QT_LPAREN, "grouping opts"))
        return false;
    size_t cap = 0;
    while (p->cur.kind != QT_RPAREN) {
        const char *name;
        size_t len;
        if (!parse_label_name(p, &name, &len))
            return false;
        if (l->n == cap) {
            size_t nc = cap ? cap * 2 : 4;
            const char **nv = arena_realloc(p->a, l->v, cap * sizeof(*nv), nc * sizeof(*nv));
            if (!nv) {
                fail_at(p, p->cur.pos, "out of memory");
                return false;
            }
            l->v = nv;
            cap = nc;
        }
        l->v[l->n++] = name;
        if (p->cur.kind == QT_COMMA) {
            advance(p);
            continue;
        }
        if (p->cur.kind != QT_RPAREN) {
            fail_unexpected(p, "grouping opts");
            return false;
        }
    }
    advance(p);
    return !p->failed;
}

/* ---- vector selectors ---- */

static bool add_matcher(parser *p, query_node *n, size_t *cap, const char *name, size_t nlen,
                        query_match_op op, const char *val, size_t vlen, uint32_t pos)
{
    if (n->u.vs.nm == *cap) {
        size_t nc = *cap ? *cap * 2 : 4;
        query_matcher *nm = arena_realloc(p->a, n->u.vs.m, *cap * sizeof(*nm), nc * sizeof(*nm));
        if (!nm) {
            fail_at(p, pos, "out of memory");
            return false;
        }
        n->u.vs.m = nm;
        *cap = nc;
    }
    query_matcher *m = &n->u.vs.m[n->u.vs.nm];
    memset(m, 0, sizeof(*m));
    m->name = name;
    m->name_len = nlen;
    m->op = op;
    m->value = val;
    m->value_len = vlen;
    if (op == QUERY_MATCH_RE || op == QUERY_MATCH_NRE) {
        char e[160];
        if (p->nres == p->capres) {
            size_t nc = p->capres ? p->capres * 2 : 8;
            query_regex **nr =
                arena_realloc(p->a, p->res, p->capres * sizeof(*nr), nc * sizeof(*nr));
            if (!nr) {
                fail_at(p, pos, "out of memory");
                return false;
            }
            p->res = nr;
            p->capres = nc;
        }
        m->re = query_regex_compile(val, vlen, e, sizeof(e));
        if (!m->re) {
            fail_at(p, pos, "error parsing regexp: %s", e);
            return false;
        }
        p->res[p->nres++] = m->re;
    }
    n->u.vs.nm++;
    return true;
}

static bool parse_matchers(parser *p, query_node *n, size_t *cap)
{
    if (!expect(p, QT_LBRACE, NULL))
        return false;
    while (p->cur.kind != QT_RBRACE) {
        uint32_t pos = p->cur.pos;
        const char *name;
        size_t nlen;
        if (p->cur.kind == QT_STRING) {
            query_token t = p->cur;
            if (!unquote(p, &t, &name, &nlen))
                return false;
            advance(p);
            if (p->cur.kind == QT_COMMA || p->cur.kind == QT_RBRACE) {
                /* {"my.metric"}: a quoted metric name */
                if (n->u.vs.name) {
                    fail_at(p, pos, "metric name must not be set twice: \"%s\" or \"%s\"",
                            n->u.vs.name, name);
                    return false;
                }
                n->u.vs.name = name;
                if (!add_matcher(p, n, cap, "__name__", 8, QUERY_MATCH_EQ, name, nlen, pos))
                    return false;
                goto next;
            }
        } else if (p->cur.kind == QT_IDENT) {
            char *s = arena_strndup(p->a, p->cur.text, p->cur.len);
            if (!s) {
                fail_at(p, pos, "out of memory");
                return false;
            }
            name = s;
            nlen = p->cur.len;
            advance(p);
        } else {
            fail_unexpected(p, "label matching");
            return false;
        }
        query_match_op op;
        switch (p->cur.kind) {
        case QT_ASSIGN:
            op = QUERY_MATCH_EQ;
            break;
        case QT_NEQ:
            op = QUERY_MATCH_NEQ;
            break;
        case QT_EQL_REGEX:
            op = QUERY_MATCH_RE;
            break;
        case QT_NEQ_REGEX:
            op = QUERY_MATCH_NRE;
            break;
        default:
            fail_unexpected(p, "label matching, expected one of \"=\", \"!=\", \"=~\" or \"!~\"");
            return false;
        }
        advance(p);
        if (p->failed)
            return false;
        if (p->cur.kind != QT_STRING) {
            fail_unexpected(p, "label matching, expected string");
            return false;
        }
        {
            query_token t = p->cur;
            const char *val;
            size_t vlen;
            if (!unquote(p, &t, &val, &vlen))
                return false;
            advance(p);
            if (nlen == 8 && memcmp(name, "__name__", 8) == 0 && op == QUERY_MATCH_EQ) {
                if (n->u.vs.name) {
                    fail_at(p, pos, "metric name must not be set twice: \"%s\" or \"%s\"",
                            n->u.vs.name, val);
                    return false;
                }
                n->u.vs.name = val;
            }
            if (!add_matcher(p, n, cap, name, nlen, op, val, vlen, pos))
                return false;
        }
    next:
        if (p->failed)
            return false;
        if (p->cur.kind == QT_COMMA) {
            advance(p);
            continue;
        }
        if (p->cur.kind != QT_RBRACE) {
            fail_unexpected(p, "label matching, expected \",\" or \"}\"");
            return false;
        }
    }
    n->end = p->cur.pos + 1;
    advance(p);
    return !p->failed;
}

static bool matcher_matches_empty(const query_matcher *m)
{
    switch (m->op) {
    case QUERY_MATCH_EQ:
        return m->value_len == 0;
    case QUERY_MATCH_NEQ:
        return m->value_len != 0;
    case QUERY_MATCH_RE:
        return query_regex_match(m->re, "", 0);
    case QUERY_MATCH_NRE:
        return !query_regex_match(m->re, "", 0);
    }
    return false;
}

static query_node *parse_vector_selector(parser *p)
{
    query_node *n = node_new(p, QN_VECTOR_SEL, p->cur.pos);
    if (!n)
        return NULL;
    size_t cap = 0;
    if (p->cur.kind == QT_IDENT) {
        char *name = arena_strndup(p->a, p->cur.text, p->cur.len);
        if (!name) {
            fail_at(p, p->cur.pos, "out of memory");
            return NULL;
        }
        n->u.vs.name = name;
        n->end = p->cur.pos + p->cur.len;
        if (!add_matcher(p, n, &cap, "__name__", 8, QUERY_MATCH_EQ, name, p->cur.len, p->cur.pos))
            return NULL;
        advance(p);
    }
    if (p->cur.kind == QT_LBRACE && !parse_matchers(p, n, &cap))
        return NULL;
    if (p->failed)
        return NULL;
    bool nonempty = p->label_selector;
    p->label_selector = false;
    for (size_t i = 0; i < n->u.vs.nm; i++)
        if (!matcher_matches_empty(&n->u.vs.m[i]))
            nonempty = true;
    if (!nonempty) {
        fail_at(p, n->pos, "vector selector must contain at least one non-empty matcher");
        return NULL;
    }
    return n;
}

/* ---- calls and aggregations ---- */

static const struct {
    const char *name;
    query_aggop op;
} AGGS[] = {
    {"sum", QAGG_SUM},
    {"avg", QAGG_AVG},
    {"count", QAGG_COUNT},
    {"min", QAGG_MIN},
    {"max", QAGG_MAX},
    {"group", QAGG_GROUP},
    {"stddev", QAGG_STDDEV},
    {"stdvar", QAGG_STDVAR},
    {"topk", QAGG_TOPK},
    {"bottomk", QAGG_BOTTOMK},
    {"count_values", QAGG_COUNT_VALUES},
    {"quantile", QAGG_QUANTILE},
    {"limitk", QAGG_LIMITK},
    {"limit_ratio", QAGG_LIMIT_RATIO},
};

const char *query_aggop_name(query_aggop op)
{
    for (size_t i = 0; i < sizeof(AGGS) / sizeof(AGGS[0]); i++)
        if (AGGS[i].op == op)
            return AGGS[i].name;
    return "?";
}

bool query_aggop_has_param(query_aggop op)
{
    return op == QAGG_TOPK || op == QAGG_BOTTOMK || op == QAGG_COUNT_VALUES ||
           op == QAGG_QUANTILE || op == QAGG_LIMITK || op == QAGG_LIMIT_RATIO;
}

static int agg_lookup(const query_token *t)
{
    if (t->kind != QT_IDENT)
        return 0;
    for (size_t i = 0; i < sizeof(AGGS) / sizeof(AGGS[0]); i++)
        if (strlen(AGGS[i].name) == t->len && strncasecmp(AGGS[i].name, t->text, t->len) == 0)
            return (int)AGGS[i].op;
    return 0;
}

static bool parse_grouping(parser *p, query_node *n)
{
    n->u.agg.without = tok_is_ci(&p->cur, "without");
    advance(p);
    return !p->failed && parse_label_list(p, &n->u.agg.grouping);
}

static query_node *parse_aggregation(parser *p, query_aggop op)
{
    query_node *n = node_new(p, QN_AGG, p->cur.pos);
    if (!n)
        return NULL;
    n->u.agg.op = op;
    advance(p);
    bool grouped = false;
    if (tok_is_ci(&p->cur, "by") || tok_is_ci(&p->cur, "without")) {
        if (!parse_grouping(p, n))
            return NULL;
        grouped = true;
    }
    if (!expect(p, QT_LPAREN, "aggregation"))
        return NULL;
    if (query_aggop_has_param(op)) {
        n->u.agg.param = parse_expr(p);
        if (!n->u.agg.param || !expect(p, QT_COMMA, "aggregation"))
            return NULL;
    }
    if (p->cur.kind == QT_RPAREN) {
        fail_at(p, p->cur.pos, "no arguments for aggregate expression provided");
        return NULL;
    }
    n->u.agg.expr = parse_expr(p);
    if (!n->u.agg.expr)
        return NULL;
    if (p->cur.kind == QT_COMMA) {
        fail_at(p, p->cur.pos,
                "wrong number of arguments for aggregate expression provided, "
                "expected %d, got %d",
                query_aggop_has_param(op) ? 2 : 1, query_aggop_has_param(op) ? 3 : 2);
        return NULL;
    }
    n->end = p->cur.pos + 1;
    if (!expect(p, QT_RPAREN, "aggregation"))
        return NULL;
    if (!grouped && (tok_is_ci(&p->cur, "by") || tok_is_ci(&p->cur, "without"))) {
        if (!parse_grouping(p, n))
            return NULL;
    }
    return n;
}

static query_node *parse_call(parser *p)
{
    query_token name = p->cur;
    const query_func *fn = query_func_lookup(name.text, name.len);
    if (!fn) {
        fail_at(p, name.pos, "unknown function with name \"%.*s\"", (int)name.len, name.text);
        return NULL;
    }
    query_node *n = node_new(p, QN_CALL, name.pos);
    if (!n)
        return NULL;
    n->u.call.fn = fn;
    advance(p);
    if (!expect(p, QT_LPAREN, "function call"))
        return NULL;
    size_t cap = 0;
    while (p->cur.kind != QT_RPAREN) {
        p->label_selector = !strcmp(fn->name, "info") && n->u.call.nargs == 1;
        query_node *arg = parse_expr(p);
        p->label_selector = false;
        if (!arg)
            return NULL;
        if (n->u.call.nargs == cap) {
            size_t nc = cap ? cap * 2 : 4;
            query_node **na =
                arena_realloc(p->a, n->u.call.args, cap * sizeof(*na), nc * sizeof(*na));
            if (!na) {
                fail_at(p, p->cur.pos, "out of memory");
                return NULL;
            }
            n->u.call.args = na;
            cap = nc;
        }
        n->u.call.args[n->u.call.nargs++] = arg;
        if (p->cur.kind == QT_COMMA) {
            advance(p);
            continue;
        }
        if (p->cur.kind != QT_RPAREN) {
            fail_unexpected(p, "function call, expected \",\" or \")\"");
            return NULL;
        }
    }
    n->end = p->cur.pos + 1;
    advance(p);
    return p->failed ? NULL : n;
}

/* ---- primary, postfix, unary ---- */

static query_node *parse_primary(parser *p)
{
    query_token t = p->cur;
    switch (t.kind) {
    case QT_NUMBER: {
        query_node *n = node_new(p, QN_NUMBER, t.pos);
        if (!n)
            return NULL;
        if (!parse_f64(t.text, t.len, &n->u.number)) {
            /* parse_f64 may not take Go's leading-zero octal; try it here */
            uint64_t v = 0;
            bool ok = t.len > 1 && t.text[0] == '0';
            for (size_t i = 1; ok && i < t.len; i++) {
                if (t.text[i] < '0' || t.text[i] > '7')
                    ok = false;
                else
                    v = v * 8 + (uint64_t)(t.text[i] - '0');
            }
            if (!ok) {
                fail_at(p, t.pos, "bad number or duration syntax: \"%.*s\"", (int)t.len, t.text);
                return NULL;
            }
            n->u.number = (double)v;
        }
        n->end = t.pos + t.len;
        advance(p);
        return n;
    }
    case QT_STRING: {
        query_node *n = node_new(p, QN_STRING, t.pos);
        if (!n || !unquote(p, &t, &n->u.str.s, &n->u.str.len))
            return NULL;
        n->end = t.pos + t.len;
        advance(p);
        return n;
    }
    case QT_LPAREN: {
        query_node *n = node_new(p, QN_PAREN, t.pos);
        if (!n)
            return NULL;
        advance(p);
        n->u.paren.expr = parse_expr(p);
        if (!n->u.paren.expr)
            return NULL;
        n->end = p->cur.pos + 1;
        if (!expect(p, QT_RPAREN, "paren expression"))
            return NULL;
        return n;
    }
    case QT_DURATION: {
        /* Prometheus 3: a duration literal in expression position is seconds */
        query_node *n = node_new(p, QN_NUMBER, t.pos);
        int64_t ms;
        if (!n || !parse_dur_tok(p, &ms, false))
            return NULL;
        n->u.number = (double)ms / 1000.0;
        n->end = t.pos + t.len;
        return n;
    }
    case QT_LBRACE:
        return parse_vector_selector(p);
    case QT_IDENT: {
        if (tok_is_ci(&t, "inf") || tok_is_ci(&t, "nan")) {
            query_node *n = node_new(p, QN_NUMBER, t.pos);
            if (!n)
                return NULL;
            n->u.number = tok_is_ci(&t, "inf") ? INFINITY : NAN;
            n->end = t.pos + t.len;
            advance(p);
            return n;
        }
        int agg = agg_lookup(&t);
        query_token nx = peek(p);
        if (agg && (nx.kind == QT_LPAREN || tok_is_ci(&nx, "by") || tok_is_ci(&nx, "without")))
            return parse_aggregation(p, (query_aggop)agg);
        if (nx.kind == QT_LPAREN)
            return parse_call(p);
        return parse_vector_selector(p);
    }
    case QT_EOF:
        fail_at(p, t.pos, "unexpected end of input");
        return NULL;
    default:
        fail_unexpected(p, NULL);
        return NULL;
    }
}

static query_modifiers *node_mods(query_node *n)
{
    if (n->kind == QN_VECTOR_SEL)
        return &n->u.vs.mod;
    if (n->kind == QN_MATRIX_SEL)
        return &n->u.ms.vs->u.vs.mod;
    if (n->kind == QN_SUBQUERY)
        return &n->u.sq.mod;
    return NULL;
}

/* A duration argument: a literal, or a duration expression. In brackets the
 * whole expression up to ']' or ':' counts; after `offset` only a
 * parenthesised expression or a call (`offset step()`), so that
 * `x offset 2 ^ 2` stays (x offset 2) ^ 2. */
static bool parse_duration_arg(parser *p, bool in_brackets, bool neg, int64_t *ms,
                               query_node **expr)
{
    *expr = NULL;
    *ms = 0;
    if (p->cur.kind == QT_DURATION || p->cur.kind == QT_NUMBER) {
        query_token nx = peek(p);
        if (!in_brackets || nx.kind == QT_RBRACKET || nx.kind == QT_COLON) {
            if (!parse_dur_tok(p, ms, true))
                return false;
            if (neg)
                *ms = -*ms;
            return true;
        }
    }
    uint32_t pos = p->cur.pos;
    query_node *e;
    if (in_brackets) {
        e = parse_expr(p);
    } else if (p->cur.kind == QT_LPAREN || (p->cur.kind == QT_IDENT && peek(p).kind == QT_LPAREN)) {
        if (++p->depth > QUERY_MAX_DEPTH) {
            fail_at(p, pos, "expression nesting too deep (more than %d levels)", QUERY_MAX_DEPTH);
            return false;
        }
        e = parse_primary(p);
        p->depth--;
    } else {
        fail_unexpected(p, "duration");
        return false;
    }
    if (!e)
        return false;
    if (neg) {
        query_node *u = node_new(p, QN_UNARY, pos);
        if (!u)
            return false;
        u->u.un.neg = true;
        u->u.un.expr = e;
        u->end = e->end;
        e = u;
    }
    *expr = e;
    return true;
}

static bool parse_offset(parser *p, query_node *n)
{
    uint32_t pos = p->cur.pos;
    query_modifiers *m = node_mods(n);
    if (!m) {
        fail_at(p, pos,
                "offset modifier must be preceded by an instant vector selector or range "
                "vector selector or a subquery");
        return false;
    }
    if (m->offset_ms || m->offset_expr) {
        fail_at(p, pos, "offset may not be set multiple times");
        return false;
    }
    advance(p);
    bool neg = false;
    if (p->cur.kind == QT_SUB || p->cur.kind == QT_ADD) {
        neg = p->cur.kind == QT_SUB;
        advance(p);
    }
    if (!parse_duration_arg(p, false, neg, &m->offset_ms, &m->offset_expr))
        return false;
    n->end = p->cur.pos;
    return true;
}

static bool parse_at(parser *p, query_node *n)
{
    uint32_t pos = p->cur.pos;
    query_modifiers *m = node_mods(n);
    if (!m) {
        fail_at(p, pos,
                "@ modifier must be preceded by an instant vector selector or range vector "
                "selector or a subquery");
        return false;
    }
    if (m->at != QUERY_AT_NONE) {
        fail_at(p, pos, "@ <timestamp> may not be set multiple times");
        return false;
    }
    advance(p);
    if (tok_is(&p->cur, "start") || tok_is(&p->cur, "end")) {
        m->at = tok_is(&p->cur, "start") ? QUERY_AT_START : QUERY_AT_END;
        advance(p);
        if (!expect(p, QT_LPAREN, "@ modifier") || !expect(p, QT_RPAREN, "@ modifier"))
            return false;
        return true;
    }
    bool neg = false;
    if (p->cur.kind == QT_SUB || p->cur.kind == QT_ADD) {
        neg = p->cur.kind == QT_SUB;
        advance(p);
    }
    double v;
    if (p->cur.kind == QT_DURATION) {
        int64_t ms;
        if (!parse_dur_tok(p, &ms, false))
            return false;
        m->at = QUERY_AT_TS;
        m->at_ms = neg ? -ms : ms;
        return true;
    }
    if (p->cur.kind != QT_NUMBER || !parse_f64(p->cur.text, p->cur.len, &v)) {
        fail_unexpected(p, "@ modifier");
        return false;
    }
    if (neg)
        v = -v;
    if (!isfinite(v) || fabs(v) * 1000 > 9.0e15) {
        fail_at(p, pos, "timestamp out of bounds for @ modifier: %g", v);
        return false;
    }
    m->at = QUERY_AT_TS;
    m->at_ms = (int64_t)llround(v * 1000.0);
    advance(p);
    return !p->failed;
}

static query_node *parse_postfix(parser *p, query_node *n)
{
    while (n && !p->failed) {
        if (p->cur.kind == QT_LBRACKET) {
            uint32_t pos = p->cur.pos;
            advance(p);
            int64_t range;
            query_node *range_expr;
            if (!parse_duration_arg(p, true, false, &range, &range_expr))
                return NULL;
            if (p->cur.kind == QT_COLON) {
                advance(p);
                query_node *sq = node_new(p, QN_SUBQUERY, n->pos);
                if (!sq)
                    return NULL;
                sq->u.sq.expr = n;
                sq->u.sq.range_ms = range;
                sq->u.sq.range_expr = range_expr;
                if (p->cur.kind != QT_RBRACKET &&
                    !parse_duration_arg(p, true, false, &sq->u.sq.step_ms, &sq->u.sq.step_expr))
                    return NULL;
                if (!range_expr && range <= 0) {
                    fail_at(p, pos, "subquery range must be greater than 0");
                    return NULL;
                }
                if (sq->u.sq.step_ms < 0) {
                    fail_at(p, pos, "subquery step must be greater than 0");
                    return NULL;
                }
                sq->end = p->cur.pos + 1;
                if (!expect(p, QT_RBRACKET, "subquery selector"))
                    return NULL;
                n = sq;
                continue;
            }
            if (n->kind != QN_VECTOR_SEL) {
                fail_at(p, n->pos, "ranges only allowed for vector selectors");
                return NULL;
            }
            if (n->u.vs.mod.offset_ms || n->u.vs.mod.offset_expr || n->u.vs.mod.at) {
                fail_at(p, pos, "no offset or @ modifiers allowed before range");
                return NULL;
            }
            if (!range_expr && range <= 0) {
                fail_at(p, pos, "range must be greater than 0");
                return NULL;
            }
            query_node *ms = node_new(p, QN_MATRIX_SEL, n->pos);
            if (!ms)
                return NULL;
            ms->u.ms.vs = n;
            ms->u.ms.range_ms = range;
            ms->u.ms.range_expr = range_expr;
            ms->end = p->cur.pos + 1;
            if (!expect(p, QT_RBRACKET, "range selector"))
                return NULL;
            n = ms;
            continue;
        }
        if (tok_is_ci(&p->cur, "offset")) {
            if (!parse_offset(p, n))
                return NULL;
            continue;
        }
        if ((tok_is_ci(&p->cur, "anchored") || tok_is_ci(&p->cur, "smoothed")) &&
            (n->kind == QN_VECTOR_SEL || n->kind == QN_MATRIX_SEL)) {
            query_node *vs = n->kind == QN_MATRIX_SEL ? n->u.ms.vs : n;
            bool anchored = tok_is_ci(&p->cur, "anchored");
            if (anchored && n->kind == QN_VECTOR_SEL) {
                fail_at(p, p->cur.pos, "anchored modifier can only be used with range selectors");
                return NULL;
            }
            if (vs->u.vs.anchored || vs->u.vs.smoothed) {
                fail_at(p, p->cur.pos, "only one of anchored and smoothed may be given");
                return NULL;
            }
            vs->u.vs.anchored = anchored;
            vs->u.vs.smoothed = !anchored;
            n->end = p->cur.pos + p->cur.len;
            advance(p);
            continue;
        }
        if (p->cur.kind == QT_AT) {
            if (!parse_at(p, n))
                return NULL;
            continue;
        }
        break;
    }
    return p->failed ? NULL : n;
}

#define PREC_POW 6

static query_node *parse_unary(parser *p)
{
    if (p->cur.kind == QT_SUB || p->cur.kind == QT_ADD) {
        query_token t = p->cur;
        advance(p);
        if (++p->depth > QUERY_MAX_DEPTH) {
            fail_at(p, t.pos, "expression nesting too deep (more than %d levels)", QUERY_MAX_DEPTH);
            return NULL;
        }
        query_node *e = parse_binary(p, PREC_POW);
        p->depth--;
        if (!e)
            return NULL;
        if (e->kind == QN_NUMBER) {
            if (t.kind == QT_SUB)
                e->u.number = -e->u.number;
            e->pos = t.pos;
            return e;
        }
        query_node *n = node_new(p, QN_UNARY, t.pos);
        if (!n)
            return NULL;
        n->u.un.neg = t.kind == QT_SUB;
        n->u.un.expr = e;
        n->end = e->end;
        return n;
    }
    return parse_postfix(p, parse_primary(p));
}

static int binop_of(const query_token *t, query_binop *op)
{
    switch (t->kind) {
    case QT_ADD:
        *op = QOP_ADD;
        return 4;
    case QT_SUB:
        *op = QOP_SUB;
        return 4;
    case QT_MUL:
        *op = QOP_MUL;
        return 5;
    case QT_DIV:
        *op = QOP_DIV;
        return 5;
    case QT_MOD:
        *op = QOP_MOD;
        return 5;
    case QT_POW:
        *op = QOP_POW;
        return 6;
    case QT_EQLC:
        *op = QOP_EQL;
        return 3;
    case QT_NEQ:
        *op = QOP_NEQ;
        return 3;
    case QT_LSS:
        *op = QOP_LSS;
        return 3;
    case QT_LTE:
        *op = QOP_LTE;
        return 3;
    case QT_GTR:
        *op = QOP_GTR;
        return 3;
    case QT_GTE:
        *op = QOP_GTE;
        return 3;
    case QT_TRIM_UPPER: /* the precedence of comparisons, as Prometheus' grammar */
        *op = QOP_TRIM_UPPER;
        return 3;
    case QT_TRIM_LOWER:
        *op = QOP_TRIM_LOWER;
        return 3;
    case QT_IDENT:
        if (tok_is_ci(t, "atan2")) {
            *op = QOP_ATAN2;
            return 5;
        }
        if (tok_is_ci(t, "and")) {
            *op = QOP_AND;
            return 2;
        }
        if (tok_is_ci(t, "unless")) {
            *op = QOP_UNLESS;
            return 2;
        }
        if (tok_is_ci(t, "or")) {
            *op = QOP_OR;
            return 1;
        }
        return 0;
    default:
        return 0;
    }
}

/* fill(v), fill_left(v), fill_right(v): an identifier of that name
 * followed by '(' (a metric named fill is not followed by one). */
static bool is_fill_modifier(const parser *p)
{
    if (!tok_is_ci(&p->cur, "fill") && !tok_is_ci(&p->cur, "fill_left") &&
        !tok_is_ci(&p->cur, "fill_right"))
        return false;
    return peek(p).kind == QT_LPAREN;
}

static bool parse_fill_modifier(parser *p, query_node *n)
{
    bool both = tok_is_ci(&p->cur, "fill"), left = tok_is_ci(&p->cur, "fill_left");
    uint32_t pos = p->cur.pos;
    if (query_binop_is_set(n->u.bin.op)) {
        fail_at(p, pos, "fill modifiers are not allowed for set operators");
        return false;
    }
    advance(p); /* name */
    advance(p); /* ( */
    bool neg = false;
    if (p->cur.kind == QT_SUB || p->cur.kind == QT_ADD) {
        neg = p->cur.kind == QT_SUB;
        advance(p);
    }
    double v;
    /* Inf and NaN lex as identifiers */
    if (p->failed || (p->cur.kind != QT_NUMBER && p->cur.kind != QT_IDENT) ||
        !parse_f64(p->cur.text, p->cur.len, &v)) {
        fail_unexpected(p, "fill modifier");
        return false;
    }
    if (neg)
        v = -v;
    advance(p);
    if (p->cur.kind != QT_RPAREN) {
        fail_unexpected(p, "fill modifier");
        return false;
    }
    advance(p);
    if (both || left) {
        n->u.bin.fill_left = true;
        n->u.bin.fill_left_v = v;
    }
    if (both || !left) {
        n->u.bin.fill_right = true;
        n->u.bin.fill_right_v = v;
    }
    return !p->failed;
}

static bool parse_bin_modifiers(parser *p, query_node *n)
{
    if (tok_is_ci(&p->cur, "bool")) {
        if (!query_binop_is_comparison(n->u.bin.op)) {
            fail_at(p, p->cur.pos, "bool modifier can only be used on comparison operators");
            return false;
        }
        n->u.bin.return_bool = true;
        advance(p);
    }
    if (tok_is_ci(&p->cur, "on") || tok_is_ci(&p->cur, "ignoring")) {
        n->u.bin.has_matching = true;
        n->u.bin.on = tok_is_ci(&p->cur, "on");
        advance(p);
        if (p->failed || !parse_label_list(p, &n->u.bin.match_labels))
            return false;
        if (tok_is_ci(&p->cur, "group_left") || tok_is_ci(&p->cur, "group_right")) {
            if (query_binop_is_set(n->u.bin.op)) {
                fail_at(p, p->cur.pos, "no grouping allowed for \"%s\" operation",
                        query_binop_name(n->u.bin.op));
                return false;
            }
            n->u.bin.card =
                tok_is_ci(&p->cur, "group_left") ? QUERY_CARD_MANY_TO_ONE : QUERY_CARD_ONE_TO_MANY;
            advance(p);
            if (p->cur.kind == QT_LPAREN && !parse_label_list(p, &n->u.bin.include))
                return false;
        }
    }
    if (query_binop_is_set(n->u.bin.op))
        n->u.bin.card = QUERY_CARD_MANY_TO_MANY;
    while (!p->failed && is_fill_modifier(p))
        if (!parse_fill_modifier(p, n))
            return false;
    return !p->failed;
}

static query_node *parse_binary(parser *p, int minprec)
{
    if (++p->depth > QUERY_MAX_DEPTH) {
        fail_at(p, p->cur.pos, "expression nesting too deep (more than %d levels)",
                QUERY_MAX_DEPTH);
        return NULL;
    }
    query_node *lhs = parse_unary(p);
    if (!lhs) {
        p->depth--;
        return NULL;
    }
    while (!p->failed) {
        query_binop op;
        int prec = binop_of(&p->cur, &op);
        if (!prec || prec < minprec)
            break;
        query_node *n = node_new(p, QN_BINARY, lhs->pos);
        if (!n)
            return NULL;
        n->u.bin.op = op;
        n->u.bin.lhs = lhs;
        advance(p);
        if (!parse_bin_modifiers(p, n))
            return NULL;
        n->u.bin.rhs = parse_binary(p, op == QOP_POW ? prec : prec + 1);
        if (!n->u.bin.rhs)
            return NULL;
        n->end = n->u.bin.rhs->end;
        lhs = n;
    }
    p->depth--;
    return p->failed ? NULL : lhs;
}

static query_node *parse_expr(parser *p)
{
    return parse_binary(p, 1);
}

/* ---- type checking ---- */

const char *query_type_name(query_type t)
{
    switch (t) {
    case QUERY_TYPE_SCALAR:
        return "scalar";
    case QUERY_TYPE_VECTOR:
        return "instant vector";
    case QUERY_TYPE_MATRIX:
        return "range vector";
    case QUERY_TYPE_STRING:
        return "string";
    default:
        return "none";
    }
}

query_type query_node_type(const query_node *n)
{
    switch (n->kind) {
    case QN_NUMBER:
        return QUERY_TYPE_SCALAR;
    case QN_STRING:
        return QUERY_TYPE_STRING;
    case QN_VECTOR_SEL:
        return QUERY_TYPE_VECTOR;
    case QN_MATRIX_SEL:
        return QUERY_TYPE_MATRIX;
    case QN_SUBQUERY:
        return QUERY_TYPE_MATRIX;
    case QN_CALL:
        return n->u.call.fn->ret;
    case QN_AGG:
        return QUERY_TYPE_VECTOR;
    case QN_BINARY:
        return query_node_type(n->u.bin.lhs) == QUERY_TYPE_SCALAR &&
                       query_node_type(n->u.bin.rhs) == QUERY_TYPE_SCALAR
                   ? QUERY_TYPE_SCALAR
                   : QUERY_TYPE_VECTOR;
    case QN_UNARY:
        return query_node_type(n->u.un.expr);
    case QN_PAREN:
        return query_node_type(n->u.paren.expr);
    }
    return QUERY_TYPE_NONE;
}

static bool check_node(parser *p, const query_node *n, int depth);

static bool check_duration(parser *p, const query_node *e, int depth)
{
    if (!e)
        return true;
    if (query_node_type(e) != QUERY_TYPE_SCALAR) {
        fail_at(p, e->pos, "duration expression must evaluate to a scalar, got %s",
                query_type_name(query_node_type(e)));
        return false;
    }
    return check_node(p, e, depth + 1);
}

static bool check_node(parser *p, const query_node *n, int depth)
{
    if (depth > QUERY_MAX_DEPTH * 4) {
        fail_at(p, n->pos, "expression nesting too deep");
        return false;
    }
    switch (n->kind) {
    case QN_NUMBER:
    case QN_STRING:
        return true;
    case QN_VECTOR_SEL:
        return check_duration(p, n->u.vs.mod.offset_expr, depth);
    case QN_MATRIX_SEL:
        return check_duration(p, n->u.ms.range_expr, depth) && check_node(p, n->u.ms.vs, depth + 1);
    case QN_PAREN:
        return check_node(p, n->u.paren.expr, depth + 1);
    case QN_SUBQUERY: {
        if (!check_duration(p, n->u.sq.range_expr, depth) ||
            !check_duration(p, n->u.sq.step_expr, depth) ||
            !check_duration(p, n->u.sq.mod.offset_expr, depth))
            return false;
        query_type t = query_node_type(n->u.sq.expr);
        if (t != QUERY_TYPE_VECTOR) {
            fail_at(p, n->pos, "subquery is only allowed on instant vector, got %s instead",
                    query_type_name(t));
            return false;
        }
        return check_node(p, n->u.sq.expr, depth + 1);
    }
    case QN_UNARY: {
        query_type t = query_node_type(n->u.un.expr);
        if (t != QUERY_TYPE_SCALAR && t != QUERY_TYPE_VECTOR) {
            fail_at(p, n->pos,
                    "unary expression only allowed on expressions of type scalar or instant "
                    "vector, got %s",
                    query_type_name(t));
            return false;
        }
        return check_node(p, n->u.un.expr, depth + 1);
    }
    case QN_CALL: {
        const query_func *f = n->u.call.fn;
        int na = (int)n->u.call.nargs;
        if (na < f->min_args || (f->max_args >= 0 && na > f->max_args)) {
            if (f->min_args == f->max_args)
                fail_at(p, n->pos, "expected %d argument(s) in call to \"%s\", got %d", f->min_args,
                        f->name, na);
            else if (na < f->min_args)
                fail_at(p, n->pos, "expected at least %d argument(s) in call to \"%s\", got %d",
                        f->min_args, f->name, na);
            else
                fail_at(p, n->pos, "expected at most %d argument(s) in call to \"%s\", got %d",
                        f->max_args, f->name, na);
            return false;
        }
        int ntypes = f->max_args;
        if (ntypes < 0) /* variadic: every declared type, the last one repeating */
            for (ntypes = 0; ntypes < 5 && f->arg_types[ntypes] != QUERY_TYPE_NONE; ntypes++)
                ;
        for (int i = 0; i < na; i++) {
            query_type want = f->arg_types[i < ntypes ? i : ntypes - 1];
            if (ntypes == 0)
                break;
            query_type got = query_node_type(n->u.call.args[i]);
            if (got != want) {
                fail_at(p, n->u.call.args[i]->pos,
                        "expected type %s in call to function \"%s\", got %s",
                        query_type_name(want), f->name, query_type_name(got));
                return false;
            }
            if (!check_node(p, n->u.call.args[i], depth + 1))
                return false;
        }
        return true;
    }
    case QN_AGG: {
        query_type t = query_node_type(n->u.agg.expr);
        if (t != QUERY_TYPE_VECTOR) {
            fail_at(p, n->u.agg.expr->pos,
                    "expected type instant vector in aggregation expression, got %s",
                    query_type_name(t));
            return false;
        }
        if (n->u.agg.param) {
            query_type want =
                n->u.agg.op == QAGG_COUNT_VALUES ? QUERY_TYPE_STRING : QUERY_TYPE_SCALAR;
            query_type pt = query_node_type(n->u.agg.param);
            if (pt != want) {
                fail_at(p, n->u.agg.param->pos, "expected type %s in aggregation parameter, got %s",
                        query_type_name(want), query_type_name(pt));
                return false;
            }
            if (!check_node(p, n->u.agg.param, depth + 1))
                return false;
        }
        return check_node(p, n->u.agg.expr, depth + 1);
    }
    case QN_BINARY: {
        query_type lt = query_node_type(n->u.bin.lhs), rt = query_node_type(n->u.bin.rhs);
        bool lok = lt == QUERY_TYPE_SCALAR || lt == QUERY_TYPE_VECTOR;
        bool rok = rt == QUERY_TYPE_SCALAR || rt == QUERY_TYPE_VECTOR;
        if (!lok || !rok) {
            fail_at(p, n->pos,
                    "binary expression must contain only scalar and instant vector "
                    "types");
            return false;
        }
        if (query_binop_is_comparison(n->u.bin.op) && !n->u.bin.return_bool &&
            lt == QUERY_TYPE_SCALAR && rt == QUERY_TYPE_SCALAR) {
            fail_at(p, n->pos, "comparisons between scalars must use BOOL modifier");
            return false;
        }
        if (query_binop_is_set(n->u.bin.op) &&
            (lt == QUERY_TYPE_SCALAR || rt == QUERY_TYPE_SCALAR)) {
            fail_at(p, n->pos, "set operator \"%s\" not allowed in binary scalar expression",
                    query_binop_name(n->u.bin.op));
            return false;
        }
        if ((n->u.bin.has_matching || n->u.bin.card == QUERY_CARD_MANY_TO_ONE ||
             n->u.bin.card == QUERY_CARD_ONE_TO_MANY) &&
            (lt != QUERY_TYPE_VECTOR || rt != QUERY_TYPE_VECTOR)) {
            fail_at(p, n->pos, "vector matching only allowed between instant vectors");
            return false;
        }
        return check_node(p, n->u.bin.lhs, depth + 1) && check_node(p, n->u.bin.rhs, depth + 1);
    }
    }
    return true;
}

sonde_status query_parse(arena *a, const char *s, size_t n, query_node **out,
                         query_parse_error *err)
{
    parser p;
    memset(&p, 0, sizeof(p));
    memset(err, 0, sizeof(*err));
    p.a = a;
    p.err = err;
    query_lexer_init(&p.lx, s, n);
    advance(&p);
    *out = NULL;
    if (!p.failed && p.cur.kind == QT_EOF) {
        fail_at(&p, 0, "no expression found in input");
        return SONDE_ERR_INVALID;
    }
    query_node *root = p.failed ? NULL : parse_expr(&p);
    if (root && !p.failed && p.cur.kind != QT_EOF)
        fail_unexpected(&p, NULL);
    if (root && !p.failed)
        check_node(&p, root, 0);
    if (p.failed) {
        for (size_t i = 0; i < p.nres; i++)
            query_regex_free(p.res[i]);
        return SONDE_ERR_INVALID;
    }
    *out = root;
    return SONDE_OK;
}

void query_parse_error_format(const char *s, size_t n, const query_parse_error *err, char *out,
                              size_t outlen)
{
    size_t line = 1, col = 1;
    for (size_t i = 0; i < err->pos && i < n; i++) {
        if (s[i] == '\n') {
            line++;
            col = 1;
        } else {
            col++;
        }
    }
    snprintf(out, outlen, "%zu:%zu: parse error: %s", line, col, err->msg);
}

void query_ast_release(query_node *n)
{
    /* Iterative over the spine would be nicer; depth is bounded by the parser. */
    if (!n)
        return;
    switch (n->kind) {
    case QN_VECTOR_SEL:
        for (size_t i = 0; i < n->u.vs.nm; i++) {
            query_regex_free(n->u.vs.m[i].re);
            n->u.vs.m[i].re = NULL;
        }
        query_ast_release(n->u.vs.mod.offset_expr);
        break;
    case QN_MATRIX_SEL:
        query_ast_release(n->u.ms.range_expr);
        query_ast_release(n->u.ms.vs);
        break;
    case QN_SUBQUERY:
        query_ast_release(n->u.sq.range_expr);
        query_ast_release(n->u.sq.step_expr);
        query_ast_release(n->u.sq.mod.offset_expr);
        query_ast_release(n->u.sq.expr);
        break;
    case QN_CALL:
        for (size_t i = 0; i < n->u.call.nargs; i++)
            query_ast_release(n->u.call.args[i]);
        break;
    case QN_AGG:
        query_ast_release(n->u.agg.param);
        query_ast_release(n->u.agg.expr);
        break;
    case QN_BINARY:
        query_ast_release(n->u.bin.lhs);
        query_ast_release(n->u.bin.rhs);
        break;
    case QN_UNARY:
        query_ast_release(n->u.un.expr);
        break;
    case QN_PAREN:
        query_ast_release(n->u.paren.expr);
        break;
    default:
        break;
    }
}
