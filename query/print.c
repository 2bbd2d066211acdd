/*
 * print.c - renders an AST back to PromQL text, the way Prometheus'
 * String() methods do (used by tests to check precedence, and by
 * /api/v1/format_query later). Binary operands are printed with the
 * parentheses of the source (QN_PAREN nodes), so the output re-parses to
 * the same tree. Recursion is bounded by the parser's depth limit.
 *
 * Threads: any; writes into a caller's buf.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "promql.h"

sonde_status query_duration_print(buf *b, int64_t ms)
{
    if (ms == 0)
        return buf_puts(b, "0s");
    if (ms < 0) {
        buf_putc(b, '-');
        ms = -ms;
    }
    static const struct {
        const char *u;
        int64_t ms;
    } units[] = {{"y", 365LL * 24 * 3600 * 1000},
                 {"w", 7LL * 24 * 3600 * 1000},
                 {"d", 24LL * 3600 * 1000},
                 {"h", 3600LL * 1000},
                 {"m", 60LL * 1000},
                 {"s", 1000},
                 {"ms", 1}};
    sonde_status st = SONDE_OK;
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]) && !st; i++) {
        if (ms >= units[i].ms) {
            st = buf_printf(b, "%lld%s", (long long)(ms / units[i].ms), units[i].u);
            ms %= units[i].ms;
        }
    }
    return st;
}

static void print_str(buf *b, const char *s, size_t n)
{
    buf_putc(b, '"');
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        switch (c) {
        case '"':
            buf_puts(b, "\\\"");
            break;
        case '\\':
            buf_puts(b, "\\\\");
            break;
        case '\n':
            buf_puts(b, "\\n");
            break;
        case '\t':
            buf_puts(b, "\\t");
            break;
        case '\r':
            buf_puts(b, "\\r");
            break;
        default:
            if (c < 0x20)
                buf_printf(b, "\\x%02x", c);
            else
                buf_putc(b, (char)c);
        }
    }
    buf_putc(b, '"');
}

static void print_list(buf *b, const query_strlist *l)
{
    buf_putc(b, '(');
    for (size_t i = 0; i < l->n; i++) {
        if (i)
            buf_puts(b, ", ");
        buf_puts(b, l->v[i]);
    }
    buf_putc(b, ')');
}

static void print_mods(buf *b, const query_modifiers *m)
{
    if (m->at == QUERY_AT_TS) {
        buf_puts(b, " @ ");
        buf_printf(b, "%lld.%03lld", (long long)(m->at_ms / 1000),
                   (long long)llabs(m->at_ms % 1000));
    } else if (m->at == QUERY_AT_START) {
        buf_puts(b, " @ start()");
    } else if (m->at == QUERY_AT_END) {
        buf_puts(b, " @ end()");
    }
    if (m->offset_expr) {
        buf_puts(b, " offset (");
        query_ast_print(b, m->offset_expr);
        buf_putc(b, ')');
    } else if (m->offset_ms) {
        buf_puts(b, " offset ");
        query_duration_print(b, m->offset_ms);
    }
}

static void print_selector(buf *b, const query_node *n)
{
    if (n->u.vs.name)
        buf_puts(b, n->u.vs.name);
    size_t shown = 0;
    for (size_t i = 0; i < n->u.vs.nm; i++) {
        const query_matcher *m = &n->u.vs.m[i];
        if (n->u.vs.name && m->op == QUERY_MATCH_EQ && m->name_len == 8 &&
            !memcmp(m->name, "__name__", 8))
            continue;
        buf_puts(b, shown++ ? ", " : "{");
        buf_append(b, m->name, m->name_len);
        static const char *const ops[] = {"=", "!=", "=~", "!~"};
        buf_puts(b, ops[m->op]);
        print_str(b, m->value, m->value_len);
    }
    if (shown)
        buf_putc(b, '}');
}

static void print_fill(buf *b, const query_node *n)
{
    bool l = n->u.bin.fill_left, r = n->u.bin.fill_right;
    if (l && r &&
        (n->u.bin.fill_left_v == n->u.bin.fill_right_v ||
         (isnan(n->u.bin.fill_left_v) && isnan(n->u.bin.fill_right_v)))) {
        buf_printf(b, "fill(%g) ", n->u.bin.fill_left_v);
        return;
    }
    if (l)
        buf_printf(b, "fill_left(%g) ", n->u.bin.fill_left_v);
    if (r)
        buf_printf(b, "fill_right(%g) ", n->u.bin.fill_right_v);
}

sonde_status query_ast_print(buf *b, const query_node *n)
{
    switch (n->kind) {
    case QN_NUMBER:
        if (isnan(n->u.number))
            buf_puts(b, "NaN");
        else if (isinf(n->u.number))
            buf_puts(b, n->u.number > 0 ? "Inf" : "-Inf");
        else
            buf_prom_float(b, n->u.number);
        break;
    case QN_STRING:
        print_str(b, n->u.str.s, n->u.str.len);
        break;
    case QN_VECTOR_SEL:
        print_selector(b, n);
        if (n->u.vs.smoothed)
            buf_puts(b, " smoothed");
        print_mods(b, &n->u.vs.mod);
        break;
    case QN_MATRIX_SEL:
        print_selector(b, n->u.ms.vs);
        buf_putc(b, '[');
        if (n->u.ms.range_expr)
            query_ast_print(b, n->u.ms.range_expr);
        else
            query_duration_print(b, n->u.ms.range_ms);
        buf_putc(b, ']');
        if (n->u.ms.vs->u.vs.anchored || n->u.ms.vs->u.vs.smoothed)
            buf_puts(b, n->u.ms.vs->u.vs.anchored ? " anchored" : " smoothed");
        print_mods(b, &n->u.ms.vs->u.vs.mod);
        break;
    case QN_SUBQUERY:
        query_ast_print(b, n->u.sq.expr);
        buf_putc(b, '[');
        if (n->u.sq.range_expr)
            query_ast_print(b, n->u.sq.range_expr);
        else
            query_duration_print(b, n->u.sq.range_ms);
        buf_putc(b, ':');
        if (n->u.sq.step_expr)
            query_ast_print(b, n->u.sq.step_expr);
        else if (n->u.sq.step_ms)
            query_duration_print(b, n->u.sq.step_ms);
        buf_putc(b, ']');
        print_mods(b, &n->u.sq.mod);
        break;
    case QN_CALL:
        buf_puts(b, query_func_name(n->u.call.fn));
        buf_putc(b, '(');
        for (size_t i = 0; i < n->u.call.nargs; i++) {
            if (i)
                buf_puts(b, ", ");
            query_ast_print(b, n->u.call.args[i]);
        }
        buf_putc(b, ')');
        break;
    case QN_AGG:
        buf_puts(b, query_aggop_name(n->u.agg.op));
        if (n->u.agg.without || n->u.agg.grouping.n) {
            buf_puts(b, n->u.agg.without ? " without " : " by ");
            print_list(b, &n->u.agg.grouping);
            buf_putc(b, ' ');
        }
        buf_putc(b, '(');
        if (n->u.agg.param) {
            query_ast_print(b, n->u.agg.param);
            buf_puts(b, ", ");
        }
        query_ast_print(b, n->u.agg.expr);
        buf_putc(b, ')');
        break;
    case QN_BINARY:
        query_ast_print(b, n->u.bin.lhs);
        buf_printf(b, " %s ", query_binop_name(n->u.bin.op));
        if (n->u.bin.return_bool)
            buf_puts(b, "bool ");
        if (n->u.bin.has_matching) {
            buf_puts(b, n->u.bin.on ? "on" : "ignoring");
            print_list(b, &n->u.bin.match_labels);
            buf_putc(b, ' ');
            if (n->u.bin.card == QUERY_CARD_MANY_TO_ONE ||
                n->u.bin.card == QUERY_CARD_ONE_TO_MANY) {
                buf_puts(b, n->u.bin.card == QUERY_CARD_MANY_TO_ONE ? "group_left" : "group_right");
                print_list(b, &n->u.bin.include);
                buf_putc(b, ' ');
            }
        }
        print_fill(b, n);
        query_ast_print(b, n->u.bin.rhs);
        break;
    case QN_UNARY:
        buf_puts(b, n->u.un.neg ? "-" : "+");
        query_ast_print(b, n->u.un.expr);
        break;
    case QN_PAREN:
        buf_putc(b, '(');
        query_ast_print(b, n->u.paren.expr);
        buf_putc(b, ')');
        break;
    }
    return SONDE_OK;
}
