/*
 * print.c - renders an AST back to PromQL text, the way Prometheus'
 * String() methods do (used by tests to check precedence, and by
 * /api/v1/format_query). Binary operands are printed with the
 * parentheses of the source (QN_PAREN nodes), so the output re-parses to
 * the same tree. Recursion is bounded by the parser's depth limit.
 *
 * Two renderings: query_ast_print (sonde's, which the tests pin) and
 * query_ast_format, the one Prometheus' String() gives and format_query
 * serves: matchers sorted and joined by ",", `on (x)`, `group_left (y)`,
 * `fill (v)` spelled and placed as Go prints them, `+Inf`, and `@` before
 * `smoothed` on an instant selector.
 *
 * Threads: any; writes into a caller's buf.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ast_json.h"
#include "promql.h"

static sonde_status print_node(buf *b, const query_node *n, bool prom);

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

static void print_mods(buf *b, const query_modifiers *m, bool prom)
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
        print_node(b, m->offset_expr, prom);
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

/* Go's %v of a float64: shortest digits, %g style. */
static void go_g(buf *b, double v)
{
    char t[40];
    if (isnan(v) || isinf(v)) {
        buf_puts(b, isnan(v) ? "NaN" : v > 0 ? "+Inf" : "-Inf");
        return;
    }
    for (int p = 1; p <= 17; p++) {
        snprintf(t, sizeof(t), "%.*g", p, v);
        if (strtod(t, NULL) == v)
            break;
    }
    buf_puts(b, t);
}

static bool legacy_name(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        bool ok = c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                  (i > 0 && c >= '0' && c <= '9');
        if (!ok)
            return false;
    }
    return n > 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* VectorSelector.String(): the name, then the other matchers as
 * `name op "value"`, sorted as strings and joined by ",". */
static sonde_status print_selector_prom(buf *b, const query_node *n)
{
    const char *name = NULL;
    /* a name before the braces is sonde's first matcher (see ast_json.c) */
    if (n->u.vs.name && n->u.vs.nm > 0 && n->u.vs.m[0].value == n->u.vs.name &&
        n->u.vs.m[0].value_len > 0)
        name = n->u.vs.name;
    if (name)
        buf_puts(b, name);
    size_t nm = n->u.vs.nm, k = 0;
    char **strs = calloc(nm ? nm : 1, sizeof(*strs));
    if (!strs)
        return SONDE_ERR_NOMEM;
    sonde_status st = SONDE_OK;
    for (size_t i = 0; i < nm && !st; i++) {
        const query_matcher *m = &n->u.vs.m[i];
        if (name && m->op == QUERY_MATCH_EQ && m->name_len == 8 && !memcmp(m->name, "__name__", 8) &&
            m->value_len == strlen(name) && !memcmp(m->value, name, m->value_len))
            continue;
        static const char *const ops[] = {"=", "!=", "=~", "!~"};
        buf t;
        buf_init(&t, b->max);
        if (legacy_name(m->name, m->name_len))
            buf_append(&t, m->name, m->name_len);
        else
            print_str(&t, m->name, m->name_len);
        buf_puts(&t, ops[m->op]);
        print_str(&t, m->value, m->value_len);
        if (!t.len || !(strs[k] = malloc(t.len + 1))) {
            st = SONDE_ERR_NOMEM;
        } else {
            memcpy(strs[k], t.data, t.len);
            strs[k++][t.len] = 0;
        }
        buf_fini(&t);
    }
    if (!st && k) {
        qsort(strs, k, sizeof(*strs), cmp_str);
        buf_putc(b, '{');
        for (size_t i = 0; i < k; i++) {
            if (i)
                buf_putc(b, ',');
            buf_puts(b, strs[i]);
        }
        buf_putc(b, '}');
    }
    for (size_t i = 0; i < k; i++)
        free(strs[i]);
    free(strs);
    return st;
}

/* BinaryExpr.getMatchingStr(): empty unless both sides are instant vectors. */
static void print_matching_prom(buf *b, const query_node *n)
{
    if (query_node_type(n->u.bin.lhs) != QUERY_TYPE_VECTOR ||
        query_node_type(n->u.bin.rhs) != QUERY_TYPE_VECTOR)
        return;
    query_card card = n->u.bin.card;
    bool group = card == QUERY_CARD_MANY_TO_ONE || card == QUERY_CARD_ONE_TO_MANY;
    bool on = n->u.bin.has_matching && n->u.bin.on;
    if (n->u.bin.match_labels.n > 0 || on || group) {
        buf_puts(b, on ? " on (" : " ignoring (");
        for (size_t i = 0; i < n->u.bin.match_labels.n; i++) {
            if (i)
                buf_puts(b, ", ");
            buf_puts(b, n->u.bin.match_labels.v[i]);
        }
        buf_putc(b, ')');
    }
    if (group) {
        buf_puts(b, card == QUERY_CARD_MANY_TO_ONE ? " group_left (" : " group_right (");
        for (size_t i = 0; i < n->u.bin.include.n; i++) {
            if (i)
                buf_puts(b, ", ");
            buf_puts(b, n->u.bin.include.v[i]);
        }
        buf_putc(b, ')');
    }
    bool l = n->u.bin.fill_left, r = n->u.bin.fill_right;
    if (l && r &&
        (n->u.bin.fill_left_v == n->u.bin.fill_right_v ||
         (isnan(n->u.bin.fill_left_v) && isnan(n->u.bin.fill_right_v)))) {
        buf_puts(b, " fill (");
        go_g(b, n->u.bin.fill_left_v);
        buf_putc(b, ')');
        return;
    }
    if (l) {
        buf_puts(b, " fill_left (");
        go_g(b, n->u.bin.fill_left_v);
        buf_putc(b, ')');
    }
    if (r) {
        buf_puts(b, " fill_right (");
        go_g(b, n->u.bin.fill_right_v);
        buf_putc(b, ')');
    }
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
    return print_node(b, n, false);
}

sonde_status query_ast_format(buf *b, const query_node *n)
{
    return print_node(b, n, true);
}

static sonde_status print_node(buf *b, const query_node *n, bool prom)
{
    sonde_status st = SONDE_OK;
    switch (n->kind) {
    case QN_NUMBER:
        if (isnan(n->u.number))
            buf_puts(b, "NaN");
        else if (isinf(n->u.number))
            buf_puts(b, n->u.number > 0 ? (prom ? "+Inf" : "Inf") : "-Inf");
        else
            buf_prom_float(b, n->u.number);
        break;
    case QN_STRING:
        print_str(b, n->u.str.s, n->u.str.len);
        break;
    case QN_VECTOR_SEL:
        if (prom) {
            /* VectorSelector.String(): @, then smoothed, then offset */
            query_modifiers at = n->u.vs.mod, off = n->u.vs.mod;
            at.offset_ms = 0;
            at.offset_expr = NULL;
            off.at = QUERY_AT_NONE;
            st = print_selector_prom(b, n);
            print_mods(b, &at, prom);
            if (n->u.vs.smoothed)
                buf_puts(b, " smoothed");
            print_mods(b, &off, prom);
            break;
        }
        print_selector(b, n);
        if (n->u.vs.smoothed)
            buf_puts(b, " smoothed");
        print_mods(b, &n->u.vs.mod, prom);
        break;
    case QN_MATRIX_SEL:
        if (prom)
            st = print_selector_prom(b, n->u.ms.vs);
        else
            print_selector(b, n->u.ms.vs);
        buf_putc(b, '[');
        if (n->u.ms.range_expr)
            print_node(b, n->u.ms.range_expr, prom);
        else
            query_duration_print(b, n->u.ms.range_ms);
        buf_putc(b, ']');
        if (n->u.ms.vs->u.vs.anchored || n->u.ms.vs->u.vs.smoothed)
            buf_puts(b, n->u.ms.vs->u.vs.anchored ? " anchored" : " smoothed");
        print_mods(b, &n->u.ms.vs->u.vs.mod, prom);
        break;
    case QN_SUBQUERY:
        st = print_node(b, n->u.sq.expr, prom);
        buf_putc(b, '[');
        if (n->u.sq.range_expr)
            print_node(b, n->u.sq.range_expr, prom);
        else
            query_duration_print(b, n->u.sq.range_ms);
        buf_putc(b, ':');
        if (n->u.sq.step_expr)
            print_node(b, n->u.sq.step_expr, prom);
        else if (n->u.sq.step_ms)
            query_duration_print(b, n->u.sq.step_ms);
        buf_putc(b, ']');
        print_mods(b, &n->u.sq.mod, prom);
        break;
    case QN_CALL:
        buf_puts(b, query_func_name(n->u.call.fn));
        buf_putc(b, '(');
        for (size_t i = 0; i < n->u.call.nargs; i++) {
            if (i)
                buf_puts(b, ", ");
            if ((st = print_node(b, n->u.call.args[i], prom)))
                return st;
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
            if ((st = print_node(b, n->u.agg.param, prom)))
                return st;
            buf_puts(b, ", ");
        }
        st = print_node(b, n->u.agg.expr, prom);
        buf_putc(b, ')');
        break;
    case QN_BINARY:
        if ((st = print_node(b, n->u.bin.lhs, prom)))
            return st;
        if (prom) {
            buf_printf(b, " %s%s", query_binop_name(n->u.bin.op),
                       n->u.bin.return_bool ? " bool" : "");
            print_matching_prom(b, n);
            buf_putc(b, ' ');
            st = print_node(b, n->u.bin.rhs, prom);
            break;
        }
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
        st = print_node(b, n->u.bin.rhs, prom);
        break;
    case QN_UNARY:
        buf_puts(b, n->u.un.neg ? "-" : "+");
        st = print_node(b, n->u.un.expr, prom);
        break;
    case QN_PAREN:
        buf_putc(b, '(');
        st = print_node(b, n->u.paren.expr, prom);
        buf_putc(b, ')');
        break;
    }
    return st;
}
