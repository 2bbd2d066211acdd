/*
 * ast_json.c - the AST as JSON, the way Prometheus' /api/v1/parse_query
 * serves it (web/api/v1 translateAST, marshalled by Go's encoding/json: the
 * keys of every object in sorted order).
 *
 * Differences from the Go tree that this mirrors:
 *   - sonde keeps `-1` as a unary minus over a number; Prometheus' parser
 *     folds a sign into a number literal, so it is folded here too.
 *   - a metric name written before the braces is sonde's first matcher;
 *     Prometheus appends it after the braces' matchers, and so does this.
 *   - duration expressions (`[5m+1m]`) print their range / offset as 0, as
 *     the Go tree holds them before evaluation.
 *
 * Threads: any; writes into a caller's buf. Recursion is bounded by the
 * parser's depth limit.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "promql.h"

static void j_key(buf *b, bool *first, const char *k)
{
    if (!*first)
        buf_putc(b, ',');
    *first = false;
    buf_json_str(b, k, strlen(k));
    buf_putc(b, ':');
}

static void j_kstr(buf *b, bool *first, const char *k, const char *v, size_t n)
{
    j_key(b, first, k);
    buf_json_str(b, v, n);
}

static void j_kbool(buf *b, bool *first, const char *k, bool v)
{
    j_key(b, first, k);
    buf_puts(b, v ? "true" : "false");
}

static void j_kint(buf *b, bool *first, const char *k, int64_t v)
{
    j_key(b, first, k);
    buf_printf(b, "%lld", (long long)v);
}

static void j_list(buf *b, const query_strlist *l)
{
    buf_putc(b, '[');
    for (size_t i = 0; i < l->n; i++) {
        if (i)
            buf_putc(b, ',');
        buf_json_str(b, l->v[i], strlen(l->v[i]));
    }
    buf_putc(b, ']');
}

/* Shortest digits that read back as v (%.*e), as Go's strconv does. */
static int shortest_e(char *out, size_t n, double v)
{
    for (int p = 0; p < 17; p++) {
        snprintf(out, n, "%.*e", p, v);
        if (strtod(out, NULL) == v)
            return p;
    }
    snprintf(out, n, "%.16e", v);
    return 16;
}

/* Go's encoding/json for a float64 (ES6 number formatting). */
static void go_json_float(buf *b, double v)
{
    if (isnan(v) || isinf(v)) { /* Go refuses these; null is the closest JSON */
        buf_puts(b, "null");
        return;
    }
    double a = fabs(v);
    if (a != 0 && (a < 1e-6 || a >= 1e21)) {
        char e[40];
        shortest_e(e, sizeof(e), v);
        /* Go writes e-07 as e-7 */
        char *x = strchr(e, 'e');
        if (x && (x[1] == '-' || x[1] == '+') && x[2] == '0' && x[3])
            memmove(x + 2, x + 3, strlen(x + 3) + 1);
        buf_puts(b, e);
        return;
    }
    buf_prom_float(b, v);
}

static const char *value_type(query_type t)
{
    switch (t) {
    case QUERY_TYPE_SCALAR:
        return "scalar";
    case QUERY_TYPE_VECTOR:
        return "vector";
    case QUERY_TYPE_MATRIX:
        return "matrix";
    case QUERY_TYPE_STRING:
        return "string";
    default:
        return "none";
    }
}

static void j_matchers(buf *b, const query_node *vs)
{
    static const char *const ops[] = {"=", "!=", "=~", "!~"};
    /* a name before the braces is sonde's first matcher and Go's last */
    bool outside = vs->u.vs.name && vs->u.vs.nm > 0 && vs->u.vs.m[0].op == QUERY_MATCH_EQ &&
                   vs->u.vs.m[0].name_len == 8 && !memcmp(vs->u.vs.m[0].name, "__name__", 8) &&
                   vs->u.vs.m[0].value == vs->u.vs.name;
    size_t nm = vs->u.vs.nm;
    buf_putc(b, '[');
    for (size_t k = 0; k < nm; k++) {
        const query_matcher *m = &vs->u.vs.m[outside ? (k + 1) % nm : k];
        if (k)
            buf_putc(b, ',');
        bool f = true;
        buf_putc(b, '{');
        j_kstr(b, &f, "name", m->name, m->name_len);
        j_kstr(b, &f, "type", ops[m->op], strlen(ops[m->op]));
        j_kstr(b, &f, "value", m->value, m->value_len);
        buf_putc(b, '}');
    }
    buf_putc(b, ']');
}

static void j_name(buf *b, bool *first, const query_node *vs)
{
    const char *nm = vs->u.vs.name ? vs->u.vs.name : "";
    j_kstr(b, first, "name", nm, strlen(nm));
}

static void j_at(buf *b, bool *first, const query_modifiers *m)
{
    j_key(b, first, "startOrEnd");
    buf_puts(b, m->at == QUERY_AT_START ? "\"start\"" : m->at == QUERY_AT_END ? "\"end\"" : "null");
    j_key(b, first, "timestamp");
    if (m->at == QUERY_AT_TS)
        buf_printf(b, "%lld", (long long)m->at_ms);
    else
        buf_puts(b, "null");
}

static int64_t offset_of(const query_modifiers *m)
{
    return m->offset_expr ? 0 : m->offset_ms;
}

static const char *card_name(query_card c)
{
    switch (c) {
    case QUERY_CARD_MANY_TO_ONE:
        return "many-to-one";
    case QUERY_CARD_ONE_TO_MANY:
        return "one-to-many";
    case QUERY_CARD_MANY_TO_MANY:
        return "many-to-many";
    default:
        return "one-to-one";
    }
}

static void j_matching(buf *b, const query_node *n)
{
    query_type lt = query_node_type(n->u.bin.lhs), rt = query_node_type(n->u.bin.rhs);
    /* the Go parser drops the matching unless both sides are instant vectors */
    if (lt != QUERY_TYPE_VECTOR || rt != QUERY_TYPE_VECTOR) {
        buf_puts(b, "null");
        return;
    }
    query_binop op = n->u.bin.op;
    query_card card = n->u.bin.card;
    if ((op == QOP_AND || op == QOP_OR || op == QOP_UNLESS) && card == QUERY_CARD_ONE_TO_ONE)
        card = QUERY_CARD_MANY_TO_MANY;
    bool f = true;
    buf_putc(b, '{');
    j_kstr(b, &f, "card", card_name(card), strlen(card_name(card)));
    j_key(b, &f, "fillValues");
    buf_puts(b, "{\"lhs\":");
    if (n->u.bin.fill_left)
        go_json_float(b, n->u.bin.fill_left_v);
    else
        buf_puts(b, "null");
    buf_puts(b, ",\"rhs\":");
    if (n->u.bin.fill_right)
        go_json_float(b, n->u.bin.fill_right_v);
    else
        buf_puts(b, "null");
    buf_putc(b, '}');
    j_key(b, &f, "include");
    j_list(b, &n->u.bin.include);
    j_key(b, &f, "labels");
    j_list(b, &n->u.bin.match_labels);
    j_kbool(b, &f, "on", n->u.bin.has_matching && n->u.bin.on);
    buf_putc(b, '}');
}

static void j_func(buf *b, const query_func *fn)
{
    bool f = true;
    /* Go's Function: ArgTypes lists every parameter once (a variadic one
     * last); Variadic is the number of optional ones, -1 when unbounded */
    int nargs = fn->max_args < 0 ? fn->min_args + 1 : fn->max_args;
    if (nargs > 5)
        nargs = 5;
    int variadic = fn->max_args < 0 ? -1 : fn->max_args - fn->min_args;
    buf_putc(b, '{');
    j_key(b, &f, "argTypes");
    buf_putc(b, '[');
    for (int i = 0; i < nargs; i++) {
        if (i)
            buf_putc(b, ',');
        const char *t = value_type(fn->arg_types[i]);
        buf_json_str(b, t, strlen(t));
    }
    buf_putc(b, ']');
    const char *name = query_func_name(fn);
    j_kstr(b, &f, "name", name, strlen(name));
    j_kstr(b, &f, "returnType", value_type(fn->ret), strlen(value_type(fn->ret)));
    j_kint(b, &f, "variadic", variadic);
    buf_putc(b, '}');
}

sonde_status query_ast_json(buf *b, const query_node *n)
{
    bool f = true;
    if (!n)
        return buf_puts(b, "null");
    /* the Go parser folds a sign into a number literal */
    if (n->kind == QN_UNARY && n->u.un.expr->kind == QN_NUMBER) {
        double v = n->u.un.expr->u.number;
        buf_puts(b, "{\"type\":\"numberLiteral\",\"val\":\"");
        buf_prom_float(b, n->u.un.neg ? -v : v);
        return buf_puts(b, "\"}");
    }
    buf_putc(b, '{');
    switch (n->kind) {
    case QN_NUMBER:
        j_kstr(b, &f, "type", "numberLiteral", 13);
        j_key(b, &f, "val");
        buf_putc(b, '"');
        buf_prom_float(b, n->u.number);
        buf_putc(b, '"');
        break;
    case QN_STRING:
        j_kstr(b, &f, "type", "stringLiteral", 13);
        j_kstr(b, &f, "val", n->u.str.s, n->u.str.len);
        break;
    case QN_PAREN:
        j_key(b, &f, "expr");
        query_ast_json(b, n->u.paren.expr);
        j_kstr(b, &f, "type", "parenExpr", 9);
        break;
    case QN_UNARY:
        j_key(b, &f, "expr");
        query_ast_json(b, n->u.un.expr);
        j_kstr(b, &f, "op", n->u.un.neg ? "-" : "+", 1);
        j_kstr(b, &f, "type", "unaryExpr", 9);
        break;
    case QN_VECTOR_SEL:
        j_kbool(b, &f, "anchored", n->u.vs.anchored);
        j_key(b, &f, "matchers");
        j_matchers(b, n);
        j_name(b, &f, n);
        j_kint(b, &f, "offset", offset_of(&n->u.vs.mod));
        j_kbool(b, &f, "smoothed", n->u.vs.smoothed);
        j_at(b, &f, &n->u.vs.mod);
        j_kstr(b, &f, "type", "vectorSelector", 14);
        break;
    case QN_MATRIX_SEL: {
        const query_node *vs = n->u.ms.vs;
        j_kbool(b, &f, "anchored", vs->u.vs.anchored);
        j_key(b, &f, "matchers");
        j_matchers(b, vs);
        j_name(b, &f, vs);
        j_kint(b, &f, "offset", offset_of(&vs->u.vs.mod));
        j_kint(b, &f, "range", n->u.ms.range_expr ? 0 : n->u.ms.range_ms);
        j_kbool(b, &f, "smoothed", vs->u.vs.smoothed);
        j_at(b, &f, &vs->u.vs.mod);
        j_kstr(b, &f, "type", "matrixSelector", 14);
        break;
    }
    case QN_SUBQUERY:
        j_kbool(b, &f, "alignEvalTime", false);
        j_key(b, &f, "expr");
        query_ast_json(b, n->u.sq.expr);
        j_kint(b, &f, "offset", offset_of(&n->u.sq.mod));
        j_kint(b, &f, "range", n->u.sq.range_expr ? 0 : n->u.sq.range_ms);
        j_at(b, &f, &n->u.sq.mod);
        j_kint(b, &f, "step", n->u.sq.step_expr ? 0 : n->u.sq.step_ms);
        j_kstr(b, &f, "type", "subquery", 8);
        break;
    case QN_CALL:
        j_key(b, &f, "args");
        buf_putc(b, '[');
        for (size_t i = 0; i < n->u.call.nargs; i++) {
            if (i)
                buf_putc(b, ',');
            query_ast_json(b, n->u.call.args[i]);
        }
        buf_putc(b, ']');
        j_key(b, &f, "func");
        j_func(b, n->u.call.fn);
        j_kstr(b, &f, "type", "call", 4);
        break;
    case QN_AGG: {
        const char *op = query_aggop_name(n->u.agg.op);
        j_key(b, &f, "expr");
        query_ast_json(b, n->u.agg.expr);
        j_key(b, &f, "grouping");
        j_list(b, &n->u.agg.grouping);
        j_kstr(b, &f, "op", op, strlen(op));
        j_key(b, &f, "param");
        query_ast_json(b, n->u.agg.param);
        j_kstr(b, &f, "type", "aggregation", 11);
        j_kbool(b, &f, "without", n->u.agg.without);
        break;
    }
    case QN_BINARY: {
        const char *op = query_binop_name(n->u.bin.op);
        j_kbool(b, &f, "bool", n->u.bin.return_bool);
        j_key(b, &f, "lhs");
        query_ast_json(b, n->u.bin.lhs);
        j_key(b, &f, "matching");
        j_matching(b, n);
        j_kstr(b, &f, "op", op, strlen(op));
        j_key(b, &f, "rhs");
        query_ast_json(b, n->u.bin.rhs);
        j_kstr(b, &f, "type", "binaryExpr", 10);
        break;
    }
    }
    return buf_putc(b, '}');
}
