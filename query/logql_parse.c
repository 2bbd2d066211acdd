/*
 * logql_parse.c - the LogQL parser: recursive descent over logql_lex.c's
 * tokens into the AST of logql.h, with Loki's error wording ("parse error at
 * line 1, col 12: syntax error: unexpected IDENTIFIER, expecting } or ,").
 *
 * Grammar (what is accepted):
 *   expr      := unary (binop unary)*            precedence ^ > * / % > + - > comparisons
 *   unary     := '(' expr ')' | NUMBER | '-' NUMBER | log | range_agg | vector_agg
 *   log       := selector pipeline
 *   selector  := '{' matcher (',' matcher)* '}'  matcher := IDENT (= | != | =~ | !~) STRING
 *   pipeline  := ( line_filter | '|' stage )*
 *   range_agg := FN '(' [NUMBER ','] (log | '(' log ')') range [pipeline] [offset] ')' [grouping]
 *   vector_agg:= AGG [grouping] '(' [NUMBER ','] expr ')' [grouping]
 * Regexes compile at parse time (PCRE2, allocated in the query's arena) so
 * that a bad regex is a parse error and evaluation never compiles.
 */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <math.h>
#include <pcre2.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "logql.h"
#include "logql_lex.h"

/* ---- regexes through the arena ---- */

struct logql_re {
    pcre2_code *code;
    pcre2_match_data *md;
    uint32_t nnames, name_size;
    PCRE2_SPTR names;
};

static void *re_alloc(PCRE2_SIZE n, void *a)
{
    return arena_alloc(a, n);
}

static void re_free(void *p, void *a)
{
    (void)p;
    (void)a;
}

static void re_code_release(void *code)
{
    pcre2_code_free(code);
}

logql_re *logql_re_compile(arena *a, const char *pat, size_t n, int mode, char *err, size_t errlen)
{
    pcre2_general_context *gc = pcre2_general_context_create(re_alloc, re_free, a);
    pcre2_compile_context *cc = gc ? pcre2_compile_context_create(gc) : NULL;
    logql_re *re = arena_calloc(a, 1, sizeof *re);
    if (!gc || !cc || !re) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    int ec = 0;
    PCRE2_SIZE eo = 0;
    uint32_t opts = PCRE2_UTF | PCRE2_MATCH_INVALID_UTF;
    if (mode == LOGQL_RE_ANCHORED)
        opts |= PCRE2_ANCHORED | PCRE2_ENDANCHORED;
    else if (mode == LOGQL_RE_LINE)
        opts |= PCRE2_DOTALL; /* Loki: in line filters "." matches newlines too */
    re->code = pcre2_compile((PCRE2_SPTR)(n ? pat : ""), n, opts, &ec, &eo, cc);
    if (!re->code) {
        PCRE2_UCHAR msg[120];
        pcre2_get_error_message(ec, msg, sizeof msg);
        snprintf(err, errlen, "error parsing regexp: %s at offset %zu", (const char *)msg,
                 (size_t)eo);
        return NULL;
    }
    re->md = pcre2_match_data_create_from_pattern(re->code, gc);
    if (!re->md) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    /* JIT: the machine code lives outside the arena, so its release is tied to the arena's
     * (pcre2_code_free gives the JIT memory back; the arena's own blocks go with it) */
    if (arena_on_release(a, re_code_release, re->code))
        (void)pcre2_jit_compile(re->code, PCRE2_JIT_COMPLETE); /* interpreter without JIT */
    pcre2_pattern_info(re->code, PCRE2_INFO_NAMECOUNT, &re->nnames);
    pcre2_pattern_info(re->code, PCRE2_INFO_NAMEENTRYSIZE, &re->name_size);
    pcre2_pattern_info(re->code, PCRE2_INFO_NAMETABLE, &re->names);
    return re;
}

bool logql_re_match(logql_re *re, const char *s, size_t n)
{
    return pcre2_match(re->code, (PCRE2_SPTR)(n ? s : ""), n, 0, 0, re->md, NULL) >= 0;
}

size_t logql_re_named_count(const logql_re *re)
{
    return re->nnames;
}

bool logql_re_named(logql_re *re, const char *s, size_t n,
                    void (*fn)(void *ctx, const char *name, size_t nl, const char *v, size_t vl),
                    void *ctx)
{
    if (pcre2_match(re->code, (PCRE2_SPTR)(n ? s : ""), n, 0, 0, re->md, NULL) < 0)
        return false;
    PCRE2_SIZE *ov = pcre2_get_ovector_pointer(re->md);
    uint32_t count = pcre2_get_ovector_count(re->md);
    for (uint32_t i = 0; i < re->nnames; i++) {
        PCRE2_SPTR e = re->names + (size_t)i * re->name_size;
        uint32_t g = (uint32_t)e[0] << 8 | e[1];
        if (g >= count || ov[2 * g] == PCRE2_UNSET)
            continue;
        const char *name = (const char *)e + 2;
        fn(ctx, name, strlen(name), s + ov[2 * g], ov[2 * g + 1] - ov[2 * g]);
    }
    return true;
}

bool logql_matcher_matches(const logql_matcher *m, const char *v, size_t n)
{
    switch (m->op) {
    case STORAGE_MATCH_EQ:
        return n == m->value_len && (n == 0 || memcmp(v, m->value, n) == 0);
    case STORAGE_MATCH_NEQ:
        return !(n == m->value_len && (n == 0 || memcmp(v, m->value, n) == 0));
    case STORAGE_MATCH_RE:
        return logql_re_match(m->re, v, n);
    case STORAGE_MATCH_NRE:
        return !logql_re_match(m->re, v, n);
    }
    return false;
}

/* ---- durations and byte sizes ---- */

bool logql_parse_duration(const char *s, size_t n, int64_t *ns)
{
    static const struct {
        const char *u;
        double ns;
    } units[] = {
        {"ns", 1},      {"us", 1e3},     {"\xc2\xb5s", 1e3}, {"\xce\xbcs", 1e3},
        {"ms", 1e6},    {"s", 1e9},      {"m", 60e9},        {"h", 3600e9},
        {"d", 86400e9}, {"w", 604800e9}, {"y", 31536000e9},
    };
    if (n == 0)
        return false;
    size_t i = 0;
    double total = 0;
    if (n == 1 && s[0] == '0') {
        *ns = 0;
        return true;
    }
    while (i < n) {
        size_t st = i;
        double v = 0, scale = 1;
        bool dot = false, digits = false;
        while (i < n && ((s[i] >= '0' && s[i] <= '9') || (s[i] == '.' && !dot))) {
            if (s[i] == '.') {
                dot = true;
            } else {
                digits = true;
                if (dot) {
                    scale /= 10;
                    v += (s[i] - '0') * scale;
                } else {
                    v = v * 10 + (s[i] - '0');
                }
            }
            i++;
        }
        if (!digits || i == st)
            return false;
        size_t best = 0;
        double mult = 0;
        for (size_t k = 0; k < sizeof units / sizeof units[0]; k++) {
            size_t ul = strlen(units[k].u);
            if (i + ul <= n && memcmp(s + i, units[k].u, ul) == 0 && ul > best &&
                (i + ul == n || (s[i + ul] >= '0' && s[i + ul] <= '9') || s[i + ul] == '.')) {
                best = ul;
                mult = units[k].ns;
            }
        }
        if (!best)
            return false;
        i += best;
        total += v * mult;
        if (total > 9.2e18)
            return false;
    }
    *ns = (int64_t)total;
    return true;
}

bool logql_parse_bytes(const char *s, size_t n, double *out)
{
    size_t i = 0;
    double v = 0, scale = 1;
    bool dot = false, digits = false;
    while (i < n && ((s[i] >= '0' && s[i] <= '9') || (s[i] == '.' && !dot))) {
        if (s[i] == '.') {
            dot = true;
        } else {
            digits = true;
            if (dot) {
                scale /= 10;
                v += (s[i] - '0') * scale;
            } else {
                v = v * 10 + (s[i] - '0');
            }
        }
        i++;
    }
    if (!digits)
        return false;
    while (i < n && s[i] == ' ')
        i++;
    char u[4] = {0};
    size_t ul = n - i;
    if (ul > 3)
        return false;
    for (size_t k = 0; k < ul; k++) {
        char c = s[i + k];
        u[k] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
    }
    static const struct {
        const char *u;
        double m;
    } units[] = {
        {"", 1},
        {"b", 1},
        {"k", 1e3},
        {"kb", 1e3},
        {"kib", 1024.0},
        {"ki", 1024.0},
        {"m", 1e6},
        {"mb", 1e6},
        {"mib", 1048576.0},
        {"mi", 1048576.0},
        {"g", 1e9},
        {"gb", 1e9},
        {"gib", 1073741824.0},
        {"gi", 1073741824.0},
        {"t", 1e12},
        {"tb", 1e12},
        {"tib", 1099511627776.0},
        {"ti", 1099511627776.0},
        {"p", 1e15},
        {"pb", 1e15},
        {"pib", 1125899906842624.0},
        {"pi", 1125899906842624.0},
    };
    for (size_t k = 0; k < sizeof units / sizeof units[0]; k++)
        if (strcmp(u, units[k].u) == 0) {
            *out = v * units[k].m;
            return true;
        }
    return false;
}

/* ---- parser state ---- */

typedef struct parser {
    arena *a;
    logql_lexer lx;
    logql_token tok;   /* current */
    logql_lexer saved; /* lexer state after tok (for a second look-ahead) */
    logql_parse_error *err;
    bool failed;
    bool nomem;
} parser;

static void advance(parser *p)
{
    p->tok = logql_lex_next(&p->lx);
}

/* The token after the current one, without consuming anything. */
static logql_token peek2(parser *p)
{
    logql_lexer copy = p->lx;
    return logql_lex_next(&copy);
}

static void fail_at(parser *p, int line, int col, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void fail_at(parser *p, int line, int col, const char *fmt, ...)
{
    if (p->failed)
        return;
    p->failed = true;
    p->err->line = line;
    p->err->col = col;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->err->msg, sizeof p->err->msg, fmt, ap);
    va_end(ap);
}

/* "syntax error: unexpected X[, expecting Y]" at the current token. */
static void unexpected(parser *p, const char *expecting)
{
    if (p->tok.t == LQT_ERROR) {
        if (strcmp(p->lx.err, "out of memory") == 0)
            p->nomem = true;
        fail_at(p, p->tok.line, p->tok.col, "%s", p->lx.err);
        return;
    }
    if (expecting)
        fail_at(p, p->tok.line, p->tok.col, "syntax error: unexpected %s, expecting %s",
                logql_tok_name(&p->tok), expecting);
    else
        fail_at(p, p->tok.line, p->tok.col, "syntax error: unexpected %s", logql_tok_name(&p->tok));
}

static void fail_nopos(parser *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void fail_nopos(parser *p, const char *fmt, ...)
{
    if (p->failed)
        return;
    p->failed = true;
    p->err->line = p->err->col = 0;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->err->msg, sizeof p->err->msg, fmt, ap);
    va_end(ap);
}

static void *palloc(parser *p, size_t n)
{
    void *v = arena_calloc(p->a, 1, n ? n : 1);
    if (!v && !p->failed) {
        p->nomem = true;
        fail_nopos(p, "out of memory");
    }
    return v;
}

/* Appends one element to an arena array (grown by doubling at powers of two). */
static void *push(parser *p, void *arr, size_t *n, size_t size)
{
    size_t cap = 1;
    while (cap < *n)
        cap *= 2;
    if (*n == 0 || *n == cap) {
        size_t nc = *n ? cap * 2 : 4;
        void *na = arena_realloc(p->a, arr, *n * size, nc * size);
        if (!na) {
            p->nomem = true;
            fail_nopos(p, "out of memory");
            return NULL;
        }
        arr = na;
    }
    memset((char *)arr + *n * size, 0, size);
    (*n)++;
    return arr;
}

static bool tok_is(const logql_token *t, const char *word)
{
    size_t l = strlen(word);
    return t->t == LQT_IDENT && t->n == l && memcmp(t->s, word, l) == 0;
}

static bool expect(parser *p, logql_tok t, const char *name)
{
    if (p->failed)
        return false;
    if (p->tok.t != t) {
        unexpected(p, name);
        return false;
    }
    advance(p);
    return true;
}

static const char *ident_dup(parser *p, const logql_token *t)
{
    char *s = arena_strndup(p->a, t->s, t->n);
    if (!s)
        fail_nopos(p, "out of memory"), p->nomem = true;
    return s;
}

/* ---- selector ---- */

static bool compile_matcher(parser *p, logql_matcher *m, int line, int col)
{
    if (m->op != STORAGE_MATCH_RE && m->op != STORAGE_MATCH_NRE)
        return true;
    char e[200];
    m->re = logql_re_compile(p->a, m->value, m->value_len, LOGQL_RE_ANCHORED, e, sizeof e);
    if (!m->re) {
        fail_at(p, line, col, "%s", e);
        return false;
    }
    return true;
}

static bool match_op(logql_tok t, storage_match_op *op)
{
    switch (t) {
    case LQT_EQ:
        *op = STORAGE_MATCH_EQ;
        return true;
    case LQT_NEQ:
        *op = STORAGE_MATCH_NEQ;
        return true;
    case LQT_RE:
        *op = STORAGE_MATCH_RE;
        return true;
    case LQT_NRE:
        *op = STORAGE_MATCH_NRE;
        return true;
    default:
        return false;
    }
}

static void parse_selector(parser *p, logql_log *lg)
{
    if (!expect(p, LQT_LBRACE, "{"))
        return;
    if (p->tok.t == LQT_RBRACE) {
        unexpected(p, "IDENTIFIER");
        return;
    }
    while (!p->failed && p->tok.t != LQT_RBRACE) {
        if (p->tok.t != LQT_IDENT) {
            unexpected(p, "IDENTIFIER");
            return;
        }
        logql_token name = p->tok;
        advance(p);
        storage_match_op op;
        if (!match_op(p->tok.t, &op)) {
            unexpected(p, "!= or !~ or =~ or =");
            return;
        }
        advance(p);
        if (p->tok.t != LQT_STRING) {
            unexpected(p, "STRING");
            return;
        }
        logql_matcher *ms = push(p, lg->matchers, &lg->nmatchers, sizeof *ms);
        if (!ms)
            return;
        lg->matchers = ms;
        logql_matcher *m = &ms[lg->nmatchers - 1];
        m->name = ident_dup(p, &name);
        m->name_len = name.n;
        m->op = op;
        m->value = p->tok.str;
        m->value_len = p->tok.str_len;
        if (!compile_matcher(p, m, p->tok.line, p->tok.col))
            return;
        advance(p);
        if (p->tok.t == LQT_COMMA) {
            advance(p);
            continue;
        }
        if (p->tok.t != LQT_RBRACE) {
            unexpected(p, "} or ,");
            return;
        }
    }
    if (p->failed)
        return;
    advance(p); /* } */
    bool ok = false;
    for (size_t i = 0; i < lg->nmatchers; i++)
        if (!logql_matcher_matches(&lg->matchers[i], "", 0))
            ok = true;
    if (!ok)
        fail_nopos(p, "queries require at least one regexp or equality matcher that does not "
                      "have an empty-compatible value. For instance, app=~\".*\" does not meet "
                      "this requirement, but app=~\".+\" will");
}

/* ---- templates (line_format, label_format) ---- */

static int tpl_fn(const char *s, size_t n)
{
    static const char *const names[] = {NULL, "ToUpper", "ToLower", "TrimSpace", "Title"};
    for (int k = 1; k <= 4; k++)
        if (strlen(names[k]) == n && memcmp(names[k], s, n) == 0)
            return k;
    /* Loki's lower-case aliases */
    if (n == 5 && memcmp(s, "upper", 5) == 0)
        return LOGQL_FN_TOUPPER;
    if (n == 5 && memcmp(s, "lower", 5) == 0)
        return LOGQL_FN_TOLOWER;
    if (n == 9 && memcmp(s, "trimSpace", 9) == 0)
        return LOGQL_FN_TRIMSPACE;
    if (n == 5 && memcmp(s, "title", 5) == 0)
        return LOGQL_FN_TITLE;
    return 0;
}

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* One {{ }} action: [FN] .name | __line__ | __timestamp__, then | FN ... */
static bool tpl_action(parser *p, const char *s, size_t n, logql_tpl_part *part, int line, int col)
{
    /* split into words on spaces and '|' (pipes mark function stages) */
    const char *words[16];
    size_t lens[16];
    size_t nw = 0;
    size_t i = 0;
    bool pipe_before[16] = {false};
    bool pending_pipe = false;
    while (i < n) {
        if (is_space(s[i])) {
            i++;
            continue;
        }
        if (s[i] == '|') {
            pending_pipe = true;
            i++;
            continue;
        }
        size_t st = i;
        while (i < n && !is_space(s[i]) && s[i] != '|')
            i++;
        if (nw == 16)
            break;
        pipe_before[nw] = pending_pipe;
        pending_pipe = false;
        words[nw] = s + st;
        lens[nw++] = i - st;
    }
    if (nw == 0 || nw == 16 || pending_pipe) {
        fail_at(p, line, col, "template: unsupported action {{%.*s}}", (int)n, s);
        return false;
    }
    /* FN FN .x  (prefix calls) then | FN (pipes) */
    size_t w = 0;
    uint8_t prefix[8];
    size_t np = 0;
    while (w < nw && words[w][0] != '.' &&
           !(lens[w] == 8 && memcmp(words[w], "__line__", 8) == 0) &&
           !(lens[w] == 13 && memcmp(words[w], "__timestamp__", 13) == 0)) {
        int f = tpl_fn(words[w], lens[w]);
        if (!f) {
            fail_at(p, line, col, "template: line_format:1: function \"%.*s\" not defined",
                    (int)lens[w], words[w]);
            return false;
        }
        if (np == 8)
            break;
        prefix[np++] = (uint8_t)f;
        w++;
    }
    if (w >= nw) {
        fail_at(p, line, col, "template: unsupported action {{%.*s}}", (int)n, s);
        return false;
    }
    if (words[w][0] == '.') {
        part->text = words[w] + 1;
        part->len = lens[w] - 1;
        for (size_t k = 0; k < part->len; k++)
            if (!((part->text[k] >= 'a' && part->text[k] <= 'z') ||
                  (part->text[k] >= 'A' && part->text[k] <= 'Z') ||
                  (part->text[k] >= '0' && part->text[k] <= '9') || part->text[k] == '_')) {
                fail_at(p, line, col, "template: unsupported action {{%.*s}}", (int)n, s);
                return false;
            }
    } else {
        part->text = words[w]; /* __line__ / __timestamp__ (kept with the underscores) */
        part->len = lens[w];
    }
    w++;
    /* prefix functions apply innermost-first: ToUpper .x -> ToUpper(x) */
    for (size_t k = np; k > 0; k--)
        part->fn[part->nfn++] = prefix[k - 1];
    for (; w < nw; w++) {
        int f = tpl_fn(words[w], lens[w]);
        if (!pipe_before[w] || !f || part->nfn == 8) {
            if (!f)
                fail_at(p, line, col, "template: line_format:1: function \"%.*s\" not defined",
                        (int)lens[w], words[w]);
            else
                fail_at(p, line, col, "template: unsupported action {{%.*s}}", (int)n, s);
            return false;
        }
        part->fn[part->nfn++] = (uint8_t)f;
    }
    part->action = true;
    return true;
}

static bool parse_template(parser *p, const char *s, size_t n, logql_tpl *tpl, int line, int col)
{
    size_t i = 0;
    bool trim_next = false;
    while (i < n) {
        const char *open = NULL;
        for (size_t k = i; k + 1 < n; k++)
            if (s[k] == '{' && s[k + 1] == '{') {
                open = s + k;
                break;
            }
        size_t lit_end = open ? (size_t)(open - s) : n;
        size_t ls = i;
        if (trim_next)
            while (ls < lit_end && is_space(s[ls]))
                ls++;
        size_t astart = lit_end + 2;
        bool trim_prev =
            open && astart < n && s[astart] == '-' && astart + 1 < n && is_space(s[astart + 1]);
        size_t le = lit_end;
        if (trim_prev)
            while (le > ls && is_space(s[le - 1]))
                le--;
        if (le > ls) {
            logql_tpl_part *parts = push(p, tpl->parts, &tpl->nparts, sizeof *parts);
            if (!parts)
                return false;
            tpl->parts = parts;
            parts[tpl->nparts - 1].text = s + ls;
            parts[tpl->nparts - 1].len = le - ls;
        }
        if (!open)
            break;
        if (trim_prev)
            astart++;
        const char *close = NULL;
        for (size_t k = astart; k + 1 < n; k++)
            if (s[k] == '}' && s[k + 1] == '}') {
                close = s + k;
                break;
            }
        if (!close) {
            fail_at(p, line, col, "template: line_format:1: unclosed action");
            return false;
        }
        size_t aend = (size_t)(close - s);
        trim_next =
            aend > astart && s[aend - 1] == '-' && aend - 1 > astart && is_space(s[aend - 2]);
        if (trim_next)
            aend--;
        logql_tpl_part *parts = push(p, tpl->parts, &tpl->nparts, sizeof *parts);
        if (!parts)
            return false;
        tpl->parts = parts;
        if (!tpl_action(p, s + astart, aend - astart, &parts[tpl->nparts - 1], line, col))
            return false;
        i = (size_t)(close - s) + 2;
    }
    return true;
}

/* ---- pipeline stages ---- */

static logql_stage *new_stage(parser *p, logql_log *lg, logql_stage_kind k)
{
    logql_stage *st = push(p, lg->stages, &lg->nstages, sizeof *st);
    if (!st)
        return NULL;
    lg->stages = st;
    st[lg->nstages - 1].kind = k;
    return &st[lg->nstages - 1];
}

static void parse_line_filter(parser *p, logql_log *lg)
{
    logql_line_op op = p->tok.t == LQT_PIPE_EQ   ? LOGQL_LINE_CONTAINS
                       : p->tok.t == LQT_NEQ     ? LOGQL_LINE_NOT_CONTAINS
                       : p->tok.t == LQT_PIPE_RE ? LOGQL_LINE_RE
                                                 : LOGQL_LINE_NOT_RE;
    advance(p);
    logql_stage *st = new_stage(p, lg, LOGQL_STAGE_LINE_FILTER);
    if (!st)
        return;
    st->line_op = op;
    size_t cap = 0;
    for (;;) {
        if (p->tok.t != LQT_STRING) {
            unexpected(p, "STRING");
            return;
        }
        if (st->nvalues == cap) {
            size_t nc = cap ? cap * 2 : 4;
            const char **nv = arena_alloc(p->a, nc * sizeof *nv);
            size_t *nl = arena_alloc(p->a, nc * sizeof *nl);
            logql_re **nr = arena_calloc(p->a, nc, sizeof *nr);
            if (!nv || !nl || !nr) {
                p->nomem = true;
                fail_nopos(p, "out of memory");
                return;
            }
            if (cap) {
                memcpy(nv, st->values, cap * sizeof *nv);
                memcpy(nl, st->value_lens, cap * sizeof *nl);
                memcpy(nr, st->res, cap * sizeof *nr);
            }
            st->values = nv;
            st->value_lens = nl;
            st->res = nr;
            cap = nc;
        }
        st->values[st->nvalues] = p->tok.str;
        st->value_lens[st->nvalues] = p->tok.str_len;
        if (op == LOGQL_LINE_RE || op == LOGQL_LINE_NOT_RE) {
            char e[200];
            st->res[st->nvalues] =
                logql_re_compile(p->a, p->tok.str, p->tok.str_len, LOGQL_RE_LINE, e, sizeof e);
            if (!st->res[st->nvalues]) {
                fail_at(p, p->tok.line, p->tok.col, "%s", e);
                return;
            }
        }
        st->nvalues++;
        advance(p);
        if (!tok_is(&p->tok, "or"))
            return;
        advance(p);
    }
}

/* json / logfmt parameters: name [= "expr"] (, name [= "expr"])* */
static void parse_extract_params(parser *p, logql_stage *st)
{
    while (!p->failed && p->tok.t == LQT_IDENT) {
        logql_json_param *ps = push(p, st->params, &st->nparams, sizeof *ps);
        if (!ps)
            return;
        st->params = ps;
        logql_json_param *jp = &ps[st->nparams - 1];
        jp->name = ident_dup(p, &p->tok);
        jp->name_len = p->tok.n;
        jp->path = jp->name;
        jp->path_len = jp->name_len;
        advance(p);
        if (p->tok.t == LQT_EQ) {
            advance(p);
            if (p->tok.t != LQT_STRING) {
                unexpected(p, "STRING");
                return;
            }
            jp->path = p->tok.str;
            jp->path_len = p->tok.str_len;
            advance(p);
        }
        if (p->tok.t != LQT_COMMA)
            return;
        advance(p);
        if (p->tok.t != LQT_IDENT) {
            unexpected(p, "IDENTIFIER");
            return;
        }
    }
}

static void parse_pattern(parser *p, logql_stage *st, const char *s, size_t n, int line, int col)
{
    size_t i = 0, named = 0;
    bool last_capture = false;
    while (i < n) {
        size_t j = i;
        bool cap = false;
        if (s[i] == '<') {
            j = i + 1;
            while (j < n && ((s[j] >= 'a' && s[j] <= 'z') || (s[j] >= 'A' && s[j] <= 'Z') ||
                             (s[j] >= '0' && s[j] <= '9') || s[j] == '_'))
                j++;
            cap = j < n && s[j] == '>' && j > i + 1 && !(s[i + 1] >= '0' && s[i + 1] <= '9');
        }
        logql_pattern_part *pp = push(p, st->pattern, &st->npattern, sizeof *pp);
        if (!pp)
            return;
        st->pattern = pp;
        logql_pattern_part *part = &pp[st->npattern - 1];
        if (cap) {
            if (last_capture) {
                fail_at(p, line, col, "found consecutive capture '%.*s': invalid expression",
                        (int)(j + 1 - i), s + i);
                return;
            }
            part->capture = true;
            part->text = s + i + 1;
            part->len = j - i - 1;
            if (!(part->len == 1 && part->text[0] == '_')) {
                for (size_t k = 0; k + 1 < st->npattern; k++)
                    if (st->pattern[k].capture && st->pattern[k].len == part->len &&
                        memcmp(st->pattern[k].text, part->text, part->len) == 0) {
                        fail_at(p, line, col, "duplicate capture name (%.*s): invalid expression",
                                (int)part->len, part->text);
                        return;
                    }
                named++;
            }
            last_capture = true;
            i = j + 1;
            continue;
        }
        /* literal up to the next capture-looking '<' */
        size_t k = i + 1;
        while (k < n && s[k] != '<')
            k++;
        part->text = s + i;
        part->len = k - i;
        last_capture = false;
        i = k;
        /* merge with a previous literal (a '<' that was no capture) */
        if (st->npattern >= 2 && !st->pattern[st->npattern - 2].capture) {
            logql_pattern_part *prev = &st->pattern[st->npattern - 2];
            prev->len += part->len;
            st->npattern--;
        }
    }
    if (named == 0)
        fail_at(p, line, col, "at least one capture is required");
}

static void parse_name_list(parser *p, logql_stage *st)
{
    for (;;) {
        if (p->tok.t != LQT_IDENT) {
            unexpected(p, "IDENTIFIER");
            return;
        }
        logql_matcher *ms = push(p, st->names, &st->nnames, sizeof *ms);
        if (!ms)
            return;
        st->names = ms;
        logql_matcher *m = &ms[st->nnames - 1];
        m->name = ident_dup(p, &p->tok);
        m->name_len = p->tok.n;
        advance(p);
        storage_match_op op;
        if (match_op(p->tok.t, &op)) {
            advance(p);
            if (p->tok.t != LQT_STRING) {
                unexpected(p, "STRING");
                return;
            }
            m->op = op;
            m->value = p->tok.str;
            m->value_len = p->tok.str_len;
            if (!compile_matcher(p, m, p->tok.line, p->tok.col))
                return;
            advance(p);
        }
        if (p->tok.t != LQT_COMMA)
            return;
        advance(p);
    }
}

static void parse_label_format(parser *p, logql_stage *st)
{
    for (;;) {
        if (p->tok.t != LQT_IDENT) {
            unexpected(p, "IDENTIFIER");
            return;
        }
        logql_label_fmt *fs = push(p, st->fmts, &st->nfmts, sizeof *fs);
        if (!fs)
            return;
        st->fmts = fs;
        logql_label_fmt *f = &fs[st->nfmts - 1];
        f->dst = ident_dup(p, &p->tok);
        f->dst_len = p->tok.n;
        advance(p);
        if (!expect(p, LQT_EQ, "="))
            return;
        if (p->tok.t == LQT_IDENT) {
            f->rename = true;
            f->src = ident_dup(p, &p->tok);
            f->src_len = p->tok.n;
        } else if (p->tok.t == LQT_STRING) {
            if (!parse_template(p, p->tok.str, p->tok.str_len, &f->tpl, p->tok.line, p->tok.col))
                return;
        } else {
            unexpected(p, "IDENTIFIER or STRING");
            return;
        }
        advance(p);
        for (size_t k = 0; k + 1 < st->nfmts; k++)
            if (st->fmts[k].dst_len == f->dst_len &&
                memcmp(st->fmts[k].dst, f->dst, f->dst_len) == 0) {
                fail_nopos(p, "multiple label name '%s' not allowed in a single format operation",
                           f->dst);
                return;
            }
        if (p->tok.t != LQT_COMMA)
            return;
        advance(p);
    }
}

/* ---- label filter expressions ---- */

static logql_lfilter *parse_lf_or(parser *p);

static bool cmp_op(logql_tok t, logql_cmp *c)
{
    switch (t) {
    case LQT_EQ:
    case LQT_CMP_EQ:
        *c = LOGQL_CMP_EQ;
        return true;
    case LQT_NEQ:
        *c = LOGQL_CMP_NE;
        return true;
    case LQT_GT:
        *c = LOGQL_CMP_GT;
        return true;
    case LQT_GE:
        *c = LOGQL_CMP_GE;
        return true;
    case LQT_LT:
        *c = LOGQL_CMP_LT;
        return true;
    case LQT_LE:
        *c = LOGQL_CMP_LE;
        return true;
    default:
        return false;
    }
}

static logql_lfilter *parse_lf_prim(parser *p)
{
    if (p->tok.t == LQT_LPAREN) {
        advance(p);
        logql_lfilter *f = parse_lf_or(p);
        if (!f || !expect(p, LQT_RPAREN, ")"))
            return NULL;
        return f;
    }
    if (p->tok.t != LQT_IDENT) {
        unexpected(p, NULL);
        return NULL;
    }
    logql_lfilter *f = palloc(p, sizeof *f);
    if (!f)
        return NULL;
    logql_token name = p->tok;
    f->m.name = ident_dup(p, &name);
    f->m.name_len = name.n;
    advance(p);
    logql_tok opt = p->tok.t;
    int ol = p->tok.line, oc = p->tok.col;
    storage_match_op mop;
    logql_cmp cmp;
    bool is_m = match_op(opt, &mop), is_c = cmp_op(opt, &cmp);
    if (!is_m && !is_c) {
        unexpected(p, "!= or !~ or < or <= or = or =~ or == or > or >=");
        return NULL;
    }
    advance(p);
    bool neg = false;
    if (p->tok.t == LQT_SUB) {
        neg = true;
        advance(p);
    }
    if (p->tok.t == LQT_STRING && !neg && is_m && opt != LQT_CMP_EQ) {
        f->kind = LOGQL_LF_STRING;
        f->m.op = mop;
        f->m.value = p->tok.str;
        f->m.value_len = p->tok.str_len;
        if (!compile_matcher(p, &f->m, p->tok.line, p->tok.col))
            return NULL;
        advance(p);
        return f;
    }
    if (p->tok.t == LQT_STRING && opt == LQT_CMP_EQ && !neg) {
        f->kind = LOGQL_LF_STRING;
        f->m.op = STORAGE_MATCH_EQ;
        f->m.value = p->tok.str;
        f->m.value_len = p->tok.str_len;
        advance(p);
        return f;
    }
    if (!is_c || (opt == LQT_RE || opt == LQT_NRE)) {
        unexpected(p, "STRING");
        return NULL;
    }
    f->cmp = cmp;
    if (p->tok.t == LQT_NUMBER) {
        f->kind = LOGQL_LF_NUMBER;
        f->num = neg ? -p->tok.num : p->tok.num;
    } else if (p->tok.t == LQT_DURATION) {
        int64_t ns = 0;
        (void)logql_parse_duration(p->tok.s, p->tok.n, &ns);
        f->kind = LOGQL_LF_DURATION;
        f->num = (neg ? -1.0 : 1.0) * (double)ns / 1e9;
    } else if (p->tok.t == LQT_BYTES) {
        f->kind = LOGQL_LF_BYTES;
        f->num = neg ? -p->tok.num : p->tok.num;
    } else {
        (void)ol;
        (void)oc;
        unexpected(p, neg ? "NUMBER" : "BYTES or DURATION or NUMBER or STRING");
        return NULL;
    }
    advance(p);
    return f;
}

static logql_lfilter *lf_join(parser *p, logql_lf_kind k, logql_lfilter *l, logql_lfilter *r)
{
    logql_lfilter *f = palloc(p, sizeof *f);
    if (!f)
        return NULL;
    f->kind = k;
    f->l = l;
    f->r = r;
    return f;
}

/* Predicates chained with and (also ",", a space) and or, evaluated left to
 * right as Loki documents: a or b and c is (a or b) and c. */
static logql_lfilter *parse_lf_or(parser *p)
{
    logql_lfilter *l = parse_lf_prim(p);
    while (l && !p->failed) {
        logql_lf_kind k = LOGQL_LF_AND;
        if (tok_is(&p->tok, "or")) {
            k = LOGQL_LF_OR;
            advance(p);
        } else if (tok_is(&p->tok, "and") || p->tok.t == LQT_COMMA) {
            advance(p);
        } else if (!((p->tok.t == LQT_IDENT && !tok_is(&p->tok, "offset")) ||
                     p->tok.t == LQT_LPAREN)) {
            break;
        }
        logql_lfilter *r = parse_lf_prim(p);
        if (!r)
            return NULL;
        l = lf_join(p, k, l, r);
    }
    return p->failed ? NULL : l;
}

/* ---- pipeline ---- */

static bool is_line_filter(logql_tok t)
{
    return t == LQT_PIPE_EQ || t == LQT_NEQ || t == LQT_PIPE_RE || t == LQT_NRE;
}

static void parse_unwrap(parser *p, logql_stage *st)
{
    if (p->tok.t != LQT_IDENT) {
        unexpected(p, "IDENTIFIER");
        return;
    }
    logql_token nx = peek2(p);
    if (nx.t == LQT_LPAREN) {
        if (tok_is(&p->tok, "bytes"))
            st->conv = LOGQL_UNWRAP_BYTES;
        else if (tok_is(&p->tok, "duration") || tok_is(&p->tok, "duration_seconds"))
            st->conv = LOGQL_UNWRAP_DURATION;
        else {
            unexpected(p, NULL);
            return;
        }
        advance(p);
        advance(p);
        if (p->tok.t != LQT_IDENT) {
            unexpected(p, "IDENTIFIER");
            return;
        }
        st->unwrap = ident_dup(p, &p->tok);
        st->unwrap_len = p->tok.n;
        advance(p);
        expect(p, LQT_RPAREN, ")");
        return;
    }
    st->unwrap = ident_dup(p, &p->tok);
    st->unwrap_len = p->tok.n;
    advance(p);
}

static void parse_pipeline(parser *p, logql_log *lg, bool *unwrapped)
{
    while (!p->failed) {
        if (is_line_filter(p->tok.t)) {
            parse_line_filter(p, lg);
            continue;
        }
        if (p->tok.t != LQT_PIPE)
            return;
        advance(p);
        logql_token kw = p->tok;
        logql_token nx = peek2(p);
        bool keyword = kw.t == LQT_IDENT && !cmp_op(nx.t, &(logql_cmp){0}) && nx.t != LQT_RE &&
                       nx.t != LQT_NRE;
        if (keyword && tok_is(&kw, "json")) {
            advance(p);
            logql_stage *st = new_stage(p, lg, LOGQL_STAGE_JSON);
            if (st)
                parse_extract_params(p, st);
        } else if (keyword && tok_is(&kw, "logfmt")) {
            advance(p);
            logql_stage *st = new_stage(p, lg, LOGQL_STAGE_LOGFMT);
            if (!st)
                return;
            while (p->tok.t == LQT_SUB && !p->failed) {
                advance(p);
                if (!expect(p, LQT_SUB, "-"))
                    return;
                if (tok_is(&p->tok, "strict")) {
                    st->logfmt_strict = true;
                    advance(p);
                } else if (tok_is(&p->tok, "keep") && peek2(p).t == LQT_SUB) {
                    advance(p);
                    advance(p);
                    if (!tok_is(&p->tok, "empty")) {
                        unexpected(p, NULL);
                        return;
                    }
                    st->logfmt_keep_empty = true;
                    advance(p);
                } else {
                    unexpected(p, NULL);
                    return;
                }
            }
            parse_extract_params(p, st);
        } else if (keyword && (tok_is(&kw, "pattern") || tok_is(&kw, "regexp") ||
                               tok_is(&kw, "line_format"))) {
            advance(p);
            if (p->tok.t != LQT_STRING) {
                unexpected(p, "STRING");
                return;
            }
            logql_stage *st = new_stage(p, lg,
                                        tok_is(&kw, "pattern")  ? LOGQL_STAGE_PATTERN
                                        : tok_is(&kw, "regexp") ? LOGQL_STAGE_REGEXP
                                                                : LOGQL_STAGE_LINE_FORMAT);
            if (!st)
                return;
            if (st->kind == LOGQL_STAGE_PATTERN) {
                parse_pattern(p, st, p->tok.str, p->tok.str_len, p->tok.line, p->tok.col);
            } else if (st->kind == LOGQL_STAGE_REGEXP) {
                char e[200];
                st->re = logql_re_compile(p->a, p->tok.str, p->tok.str_len, LOGQL_RE_SEARCH, e,
                                          sizeof e);
                if (!st->re)
                    fail_at(p, p->tok.line, p->tok.col, "%s", e);
                else if (logql_re_named_count(st->re) == 0)
                    fail_nopos(p, "at least one named capture must be supplied");
            } else {
                parse_template(p, p->tok.str, p->tok.str_len, &st->tpl, p->tok.line, p->tok.col);
            }
            if (!p->failed)
                advance(p);
        } else if (keyword && tok_is(&kw, "label_format")) {
            advance(p);
            logql_stage *st = new_stage(p, lg, LOGQL_STAGE_LABEL_FORMAT);
            if (st)
                parse_label_format(p, st);
        } else if (keyword && (tok_is(&kw, "drop") || tok_is(&kw, "keep"))) {
            advance(p);
            logql_stage *st =
                new_stage(p, lg, tok_is(&kw, "drop") ? LOGQL_STAGE_DROP : LOGQL_STAGE_KEEP);
            if (st)
                parse_name_list(p, st);
        } else if (keyword && tok_is(&kw, "decolorize")) {
            advance(p);
            new_stage(p, lg, LOGQL_STAGE_DECOLORIZE);
        } else if (keyword && tok_is(&kw, "unwrap")) {
            if (!unwrapped) {
                unexpected(p, NULL);
                return;
            }
            if (*unwrapped) {
                fail_at(p, kw.line, kw.col,
                        "syntax error: unexpected unwrap: only one unwrap is allowed");
                return;
            }
            advance(p);
            logql_stage *st = new_stage(p, lg, LOGQL_STAGE_UNWRAP);
            if (!st)
                return;
            *unwrapped = true;
            parse_unwrap(p, st);
        } else if (kw.t == LQT_IDENT || kw.t == LQT_LPAREN) {
            logql_lfilter *f = parse_lf_or(p);
            if (!f)
                return;
            logql_stage *st = new_stage(p, lg, LOGQL_STAGE_LABEL_FILTER);
            if (st)
                st->filter = f;
        } else {
            unexpected(p, NULL);
            return;
        }
    }
}

static logql_node *new_node(parser *p, logql_node_kind k)
{
    logql_node *n = palloc(p, sizeof *n);
    if (n)
        n->kind = k;
    return n;
}

static logql_node *parse_log(parser *p)
{
    logql_node *n = new_node(p, LOGQL_NODE_LOG);
    if (!n)
        return NULL;
    parse_selector(p, &n->log);
    if (!p->failed)
        parse_pipeline(p, &n->log, NULL);
    return p->failed ? NULL : n;
}

/* ---- metric expressions ---- */

static const struct {
    const char *name;
    logql_range_fn fn;
} range_fns[] = {
    {"count_over_time", LOGQL_RANGE_COUNT},     {"rate", LOGQL_RANGE_RATE},
    {"bytes_over_time", LOGQL_RANGE_BYTES},     {"bytes_rate", LOGQL_RANGE_BYTES_RATE},
    {"absent_over_time", LOGQL_RANGE_ABSENT},   {"sum_over_time", LOGQL_RANGE_SUM},
    {"avg_over_time", LOGQL_RANGE_AVG},         {"min_over_time", LOGQL_RANGE_MIN},
    {"max_over_time", LOGQL_RANGE_MAX},         {"first_over_time", LOGQL_RANGE_FIRST},
    {"last_over_time", LOGQL_RANGE_LAST},       {"stddev_over_time", LOGQL_RANGE_STDDEV},
    {"stdvar_over_time", LOGQL_RANGE_STDVAR},   {"quantile_over_time", LOGQL_RANGE_QUANTILE},
    {"rate_counter", LOGQL_RANGE_RATE_COUNTER},
};

static const struct {
    const char *name;
    logql_vec_fn fn;
} vec_fns[] = {
    {"sum", LOGQL_VEC_SUM},
    {"avg", LOGQL_VEC_AVG},
    {"min", LOGQL_VEC_MIN},
    {"max", LOGQL_VEC_MAX},
    {"count", LOGQL_VEC_COUNT},
    {"stddev", LOGQL_VEC_STDDEV},
    {"stdvar", LOGQL_VEC_STDVAR},
    {"topk", LOGQL_VEC_TOPK},
    {"bottomk", LOGQL_VEC_BOTTOMK},
    {"sort", LOGQL_VEC_SORT},
    {"sort_desc", LOGQL_VEC_SORT_DESC},
};

static void parse_grouping(parser *p, logql_grouping *g)
{
    g->present = true;
    g->without = tok_is(&p->tok, "without");
    advance(p);
    if (!expect(p, LQT_LPAREN, "("))
        return;
    while (!p->failed && p->tok.t != LQT_RPAREN) {
        if (p->tok.t != LQT_IDENT) {
            unexpected(p, "IDENTIFIER");
            return;
        }
        size_t cap = 1;
        while (cap < g->nnames)
            cap *= 2;
        if (g->nnames == 0 || g->nnames == cap) {
            size_t nc = g->nnames ? cap * 2 : 4;
            const char **nn = arena_alloc(p->a, nc * sizeof *nn);
            size_t *nl = arena_alloc(p->a, nc * sizeof *nl);
            if (!nn || !nl) {
                p->nomem = true;
                fail_nopos(p, "out of memory");
                return;
            }
            if (g->nnames) {
                memcpy(nn, g->names, g->nnames * sizeof *nn);
                memcpy(nl, g->name_lens, g->nnames * sizeof *nl);
            }
            g->names = nn;
            g->name_lens = nl;
        }
        g->names[g->nnames] = ident_dup(p, &p->tok);
        g->name_lens[g->nnames++] = p->tok.n;
        advance(p);
        if (p->tok.t == LQT_COMMA)
            advance(p);
        else if (p->tok.t != LQT_RPAREN)
            unexpected(p, ") or ,");
    }
    expect(p, LQT_RPAREN, ")");
}

static bool parse_range(parser *p, int64_t *ns)
{
    if (!expect(p, LQT_LBRACKET, "["))
        return false;
    if (p->tok.t != LQT_DURATION) {
        unexpected(p, "DURATION");
        return false;
    }
    (void)logql_parse_duration(p->tok.s, p->tok.n, ns);
    if (*ns <= 0 || *ns > LOGQL_MAX_RANGE_NS) {
        fail_at(p, p->tok.line, p->tok.col,
                "syntax error: a range must be positive and at most 3650d");
        return false;
    }
    advance(p);
    return expect(p, LQT_RBRACKET, "]");
}

static logql_node *parse_expr(parser *p, int min_prec);

static logql_node *parse_range_agg(parser *p, logql_range_fn fn, const char *fname)
{
    logql_node *n = new_node(p, LOGQL_NODE_RANGE);
    if (!n)
        return NULL;
    n->range_fn = fn;
    advance(p); /* name */
    if (!expect(p, LQT_LPAREN, "("))
        return NULL;
    if (fn == LOGQL_RANGE_QUANTILE) {
        bool neg = false;
        if (p->tok.t == LQT_SUB) {
            neg = true;
            advance(p);
        }
        if (p->tok.t != LQT_NUMBER) {
            unexpected(p, "NUMBER");
            return NULL;
        }
        n->param = neg ? -p->tok.num : p->tok.num;
        advance(p);
        if (!expect(p, LQT_COMMA, ","))
            return NULL;
    }
    bool paren = false;
    if (p->tok.t == LQT_LPAREN) {
        paren = true;
        advance(p);
    }
    if (p->tok.t != LQT_LBRACE) {
        unexpected(p, "{");
        return NULL;
    }
    parse_selector(p, &n->log);
    if (!p->failed)
        parse_pipeline(p, &n->log, &n->unwrapped);
    if (paren && !expect(p, LQT_RPAREN, ")"))
        return NULL;
    size_t before = n->log.nstages;
    if (p->failed || !parse_range(p, &n->range_ns))
        return NULL;
    if (!paren && (p->tok.t == LQT_PIPE || is_line_filter(p->tok.t))) {
        if (before) {
            unexpected(p, ")");
            return NULL;
        }
        parse_pipeline(p, &n->log, &n->unwrapped);
    }
    if (!p->failed && tok_is(&p->tok, "offset")) {
        advance(p);
        if (p->tok.t != LQT_DURATION) {
            unexpected(p, "DURATION");
            return NULL;
        }
        (void)logql_parse_duration(p->tok.s, p->tok.n, &n->offset_ns);
        if (n->offset_ns > LOGQL_MAX_RANGE_NS) {
            fail_at(p, p->tok.line, p->tok.col, "syntax error: an offset must be at most 3650d");
            return NULL;
        }
        advance(p);
    }
    if (!expect(p, LQT_RPAREN, ")"))
        return NULL;
    if (tok_is(&p->tok, "by") || tok_is(&p->tok, "without"))
        parse_grouping(p, &n->grouping);
    if (p->failed)
        return NULL;
    bool needs_unwrap = fn >= LOGQL_RANGE_SUM;
    if (needs_unwrap && !n->unwrapped) {
        fail_nopos(p, "invalid aggregation %s without unwrap", fname);
        return NULL;
    }
    if (!needs_unwrap && n->unwrapped && fn != LOGQL_RANGE_RATE) {
        fail_nopos(p, "invalid aggregation %s with unwrap", fname);
        return NULL;
    }
    /* Loki: every unwrapped aggregation but sum_over_time, absent_over_time,
     * rate and rate_counter may group */
    if (n->grouping.present &&
        (!n->unwrapped || fn == LOGQL_RANGE_SUM || fn == LOGQL_RANGE_ABSENT ||
         fn == LOGQL_RANGE_RATE || fn == LOGQL_RANGE_RATE_COUNTER)) {
        fail_nopos(p, "grouping not allowed for %s aggregation", fname);
        return NULL;
    }
    return n;
}

static logql_node *parse_vec_agg(parser *p, logql_vec_fn fn)
{
    logql_node *n = new_node(p, LOGQL_NODE_VECTOR);
    if (!n)
        return NULL;
    n->vec_fn = fn;
    advance(p);
    if (tok_is(&p->tok, "by") || tok_is(&p->tok, "without"))
        parse_grouping(p, &n->grouping);
    if (!expect(p, LQT_LPAREN, "("))
        return NULL;
    if (fn == LOGQL_VEC_TOPK || fn == LOGQL_VEC_BOTTOMK) {
        if (p->tok.t != LQT_NUMBER) {
            unexpected(p, "NUMBER");
            return NULL;
        }
        n->param = p->tok.num;
        if (n->param < 1 || n->param != floor(n->param) || n->param > 1e9) {
            fail_nopos(p, "invalid parameter %s(%g,", fn == LOGQL_VEC_TOPK ? "topk" : "bottomk",
                       n->param);
            return NULL;
        }
        advance(p);
        if (!expect(p, LQT_COMMA, ","))
            return NULL;
    }
    int line = p->tok.line, col = p->tok.col;
    n->inner = parse_expr(p, 0);
    if (!n->inner)
        return NULL;
    if (n->inner->kind == LOGQL_NODE_LOG) {
        fail_at(p, line, col, "syntax error: unexpected log query, expecting a metric query");
        return NULL;
    }
    if (!expect(p, LQT_RPAREN, ")"))
        return NULL;
    if (tok_is(&p->tok, "by") || tok_is(&p->tok, "without")) {
        if (n->grouping.present) {
            unexpected(p, NULL);
            return NULL;
        }
        parse_grouping(p, &n->grouping);
    }
    if (!p->failed && n->grouping.present && (fn == LOGQL_VEC_SORT || fn == LOGQL_VEC_SORT_DESC)) {
        fail_nopos(p, "grouping not allowed for %s", fn == LOGQL_VEC_SORT ? "sort" : "sort_desc");
        return NULL;
    }
    return p->failed ? NULL : n;
}

static logql_node *parse_unary(parser *p)
{
    if (p->tok.t == LQT_LPAREN) {
        advance(p);
        logql_node *n = parse_expr(p, 0);
        if (!n || !expect(p, LQT_RPAREN, ")"))
            return NULL;
        return n;
    }
    if (p->tok.t == LQT_NUMBER || (p->tok.t == LQT_SUB && peek2(p).t == LQT_NUMBER)) {
        bool neg = p->tok.t == LQT_SUB;
        if (neg)
            advance(p);
        logql_node *n = new_node(p, LOGQL_NODE_NUMBER);
        if (!n)
            return NULL;
        n->num = neg ? -p->tok.num : p->tok.num;
        advance(p);
        return n;
    }
    if (p->tok.t == LQT_LBRACE)
        return parse_log(p);
    if (tok_is(&p->tok, "vector") && peek2(p).t == LQT_LPAREN) {
        logql_node *n = new_node(p, LOGQL_NODE_VECTOR_LIT);
        if (!n)
            return NULL;
        advance(p);
        advance(p);
        bool neg = p->tok.t == LQT_SUB;
        if (neg)
            advance(p);
        if (p->tok.t != LQT_NUMBER) {
            unexpected(p, "NUMBER");
            return NULL;
        }
        n->num = neg ? -p->tok.num : p->tok.num;
        advance(p);
        return expect(p, LQT_RPAREN, ")") ? n : NULL;
    }
    if (p->tok.t == LQT_IDENT) {
        for (size_t k = 0; k < sizeof range_fns / sizeof range_fns[0]; k++)
            if (tok_is(&p->tok, range_fns[k].name))
                return parse_range_agg(p, range_fns[k].fn, range_fns[k].name);
        for (size_t k = 0; k < sizeof vec_fns / sizeof vec_fns[0]; k++)
            if (tok_is(&p->tok, vec_fns[k].name))
                return parse_vec_agg(p, vec_fns[k].fn);
    }
    unexpected(p, NULL);
    return NULL;
}

/* Precedence, lowest first: or; and, unless; comparisons; + -; * / %; ^. */
static int binop_prec(const logql_token *t, logql_binop *op)
{
    static const struct {
        logql_tok t;
        logql_binop op;
        int prec;
    } ops[] = {
        {LQT_CMP_EQ, LOGQL_OP_EQ, 3}, {LQT_NEQ, LOGQL_OP_NE, 3},  {LQT_GT, LOGQL_OP_GT, 3},
        {LQT_GE, LOGQL_OP_GE, 3},     {LQT_LT, LOGQL_OP_LT, 3},   {LQT_LE, LOGQL_OP_LE, 3},
        {LQT_ADD, LOGQL_OP_ADD, 4},   {LQT_SUB, LOGQL_OP_SUB, 4}, {LQT_MUL, LOGQL_OP_MUL, 5},
        {LQT_DIV, LOGQL_OP_DIV, 5},   {LQT_MOD, LOGQL_OP_MOD, 5}, {LQT_POW, LOGQL_OP_POW, 6},
    };
    for (size_t k = 0; k < sizeof ops / sizeof ops[0]; k++)
        if (t->t == ops[k].t) {
            *op = ops[k].op;
            return ops[k].prec;
        }
    if (tok_is(t, "or")) {
        *op = LOGQL_OP_OR;
        return 1;
    }
    if (tok_is(t, "and")) {
        *op = LOGQL_OP_AND;
        return 2;
    }
    if (tok_is(t, "unless")) {
        *op = LOGQL_OP_UNLESS;
        return 2;
    }
    return 0;
}

static logql_node *parse_expr(parser *p, int min_prec)
{
    int line = p->tok.line, col = p->tok.col;
    logql_node *l = parse_unary(p);
    while (l && !p->failed) {
        logql_binop op;
        int prec = binop_prec(&p->tok, &op);
        if (!prec || prec < min_prec)
            break;
        int oline = p->tok.line, ocol = p->tok.col;
        advance(p);
        bool bmod = false;
        if (prec == 3 && tok_is(&p->tok, "bool")) {
            bmod = true;
            advance(p);
        }
        logql_node *r = parse_expr(p, op == LOGQL_OP_POW ? prec : prec + 1);
        if (!r)
            return NULL;
        if (l->kind == LOGQL_NODE_LOG || r->kind == LOGQL_NODE_LOG) {
            fail_at(p, l->kind == LOGQL_NODE_LOG ? line : oline,
                    l->kind == LOGQL_NODE_LOG ? col : ocol,
                    "syntax error: unexpected log query in a binary operation, expecting a "
                    "metric query");
            return NULL;
        }
        if (op >= LOGQL_OP_AND && (l->kind == LOGQL_NODE_NUMBER || r->kind == LOGQL_NODE_NUMBER)) {
            fail_at(p, oline, ocol,
                    "syntax error: set operations are only allowed between vectors");
            return NULL;
        }
        logql_node *b = new_node(p, LOGQL_NODE_BINARY);
        if (!b)
            return NULL;
        b->op = op;
        b->bool_mod = bmod;
        b->lhs = l;
        b->rhs = r;
        l = b;
    }
    return p->failed ? NULL : l;
}

static void init_parser(parser *p, arena *a, const char *q, size_t n, logql_parse_error *err)
{
    memset(p, 0, sizeof *p);
    memset(err, 0, sizeof *err);
    if (!q) {
        q = "";
        n = 0;
    }
    p->a = a;
    p->err = err;
    logql_lex_init(&p->lx, a, q, n);
    advance(p);
}

sonde_status logql_parse(arena *a, const char *q, size_t n, logql_node **out,
                         logql_parse_error *err)
{
    parser p;
    init_parser(&p, a, q, n, err);
    *out = NULL;
    if (p.tok.t == LQT_EOF) {
        fail_at(&p, 1, 1, "syntax error: unexpected $end");
        return SONDE_ERR_INVALID;
    }
    logql_node *root = parse_expr(&p, 0);
    if (root && !p.failed && p.tok.t != LQT_EOF)
        unexpected(&p, NULL);
    if (p.nomem)
        return arena_refusal(a);
    if (p.failed || !root)
        return SONDE_ERR_INVALID;
    *out = root;
    return SONDE_OK;
}

sonde_status logql_parse_selector(arena *a, const char *q, size_t n, logql_matcher **m, size_t *nm,
                                  logql_parse_error *err)
{
    parser p;
    init_parser(&p, a, q, n, err);
    logql_log lg;
    memset(&lg, 0, sizeof lg);
    parse_selector(&p, &lg);
    if (!p.failed && p.tok.t != LQT_EOF)
        unexpected(&p, NULL);
    if (p.nomem)
        return arena_refusal(a);
    if (p.failed)
        return SONDE_ERR_INVALID;
    *m = lg.matchers;
    *nm = lg.nmatchers;
    return SONDE_OK;
}

void logql_parse_error_format(const logql_parse_error *err, char *out, size_t n)
{
    if (err->line == 0 && err->col == 0)
        snprintf(out, n, "parse error : %s", err->msg);
    else
        snprintf(out, n, "parse error at line %d, col %d: %s", err->line, err->col, err->msg);
}
