/*
 * logql_lex.c - the LogQL lexer: identifiers, strings ("..." with Go
 * escapes, `raw`), numbers, durations (5m, 1h30m, 250ms), byte sizes (20MB,
 * 1KiB), punctuation and operators. Positions are 1-based line and column,
 * as Loki reports them. Pure; strings are unquoted into the arena.
 */
#include <stdio.h>
#include <string.h>

#include "../core/parse.h"
#include "../core/utf8.h"
#include "logql.h"
#include "logql_lex.h"

void logql_lex_init(logql_lexer *lx, arena *a, const char *q, size_t n)
{
    memset(lx, 0, sizeof *lx);
    lx->q = q;
    lx->n = n;
    lx->line = 1;
    lx->a = a;
}

static bool is_ident_start(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static bool is_ident(char c)
{
    return is_ident_start(c) || is_digit(c);
}

static logql_token tok_error(logql_lexer *lx, logql_token t, const char *msg)
{
    t.t = LQT_ERROR;
    snprintf(lx->err, sizeof lx->err, "%s", msg);
    return t;
}

/* A Go interpreted string literal starting at lx->pos (the quote). */
static logql_token lex_string(logql_lexer *lx, logql_token t)
{
    char quote = lx->q[lx->pos];
    size_t i = lx->pos + 1;
    char *out = arena_alloc(lx->a, lx->n - lx->pos + 1);
    if (!out)
        return tok_error(lx, t, "out of memory");
    size_t o = 0;
    if (quote == '`') {
        while (i < lx->n && lx->q[i] != '`')
            out[o++] = lx->q[i++];
        if (i >= lx->n)
            return tok_error(lx, t, "literal not terminated");
    } else {
        for (;;) {
            if (i >= lx->n || lx->q[i] == '\n')
                return tok_error(lx, t, "literal not terminated");
            char c = lx->q[i];
            if (c == quote)
                break;
            if (c != '\\') {
                out[o++] = c;
                i++;
                continue;
            }
            if (i + 1 >= lx->n)
                return tok_error(lx, t, "literal not terminated");
            char e = lx->q[i + 1];
            i += 2;
            switch (e) {
            case 'a':
                out[o++] = '\a';
                break;
            case 'b':
                out[o++] = '\b';
                break;
            case 'f':
                out[o++] = '\f';
                break;
            case 'n':
                out[o++] = '\n';
                break;
            case 'r':
                out[o++] = '\r';
                break;
            case 't':
                out[o++] = '\t';
                break;
            case 'v':
                out[o++] = '\v';
                break;
            case '\\':
                out[o++] = '\\';
                break;
            case '"':
                out[o++] = '"';
                break;
            case '\'':
                out[o++] = '\'';
                break;
            case 'x':
            case 'u':
            case 'U': {
                size_t nd = e == 'x' ? 2 : e == 'u' ? 4 : 8;
                unsigned cp = 0;
                for (size_t k = 0; k < nd; k++) {
                    int h = i + k < lx->n ? parse_hex_digit(lx->q[i + k]) : -1;
                    if (h < 0)
                        return tok_error(lx, t, "invalid syntax");
                    cp = cp << 4 | (unsigned)h;
                }
                i += nd;
                if (e == 'x')
                    out[o++] = (char)cp;
                else if (cp > 0x10FFFF || (cp >= 0xD800 && cp < 0xE000))
                    return tok_error(lx, t, "invalid syntax");
                else
                    o += utf8_encode(out + o, cp);
                break;
            }
            default:
                if (e >= '0' && e <= '7' && i + 1 < lx->n) {
                    unsigned v = (unsigned)(e - '0');
                    for (int k = 0; k < 2; k++) {
                        char d = lx->q[i + (size_t)k];
                        if (d < '0' || d > '7')
                            return tok_error(lx, t, "invalid syntax");
                        v = v * 8 + (unsigned)(d - '0');
                    }
                    if (v > 255)
                        return tok_error(lx, t, "invalid syntax");
                    i += 2;
                    out[o++] = (char)v;
                    break;
                }
                return tok_error(lx, t, "invalid syntax");
            }
        }
    }
    out[o] = 0;
    t.t = LQT_STRING;
    t.str = out;
    t.str_len = o;
    t.n = i + 1 - lx->pos;
    lx->pos = i + 1;
    return t;
}

static bool is_unit_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (unsigned char)c == 0xC2 ||
           (unsigned char)c == 0xB5 || (unsigned char)c == 0xCE || (unsigned char)c == 0xBC;
}

/* A number, or a duration / byte size when units follow (1h30m, 20MB). */
static logql_token lex_number(logql_lexer *lx, logql_token t)
{
    size_t i = lx->pos;
    while (i < lx->n && (is_digit(lx->q[i]) || lx->q[i] == '.'))
        i++;
    size_t numend = i;
    if (i < lx->n && is_unit_char(lx->q[i])) {
        /* units and more number-unit groups (1h30m) */
        while (i < lx->n && (is_unit_char(lx->q[i]) || is_digit(lx->q[i]) || lx->q[i] == '.'))
            i++;
        t.n = i - lx->pos;
        int64_t ns;
        double b;
        if (logql_parse_duration(t.s, t.n, &ns)) {
            t.t = LQT_DURATION;
        } else if (logql_parse_bytes(t.s, t.n, &b)) {
            t.t = LQT_BYTES;
            t.num = b;
        } else {
            return tok_error(lx, t, "invalid duration or byte size");
        }
        lx->pos = i;
        return t;
    }
    t.n = numend - lx->pos;
    if (!parse_f64(t.s, t.n, &t.num))
        return tok_error(lx, t, "invalid number");
    t.t = LQT_NUMBER;
    lx->pos = numend;
    return t;
}

logql_token logql_lex_next(logql_lexer *lx)
{
    /* whitespace and # comments */
    while (lx->pos < lx->n) {
        char c = lx->q[lx->pos];
        if (c == '\n') {
            lx->line++;
            lx->line_start = lx->pos + 1;
            lx->pos++;
        } else if (c == ' ' || c == '\t' || c == '\r') {
            lx->pos++;
        } else if (c == '#') {
            while (lx->pos < lx->n && lx->q[lx->pos] != '\n')
                lx->pos++;
        } else {
            break;
        }
    }
    logql_token t;
    memset(&t, 0, sizeof t);
    t.s = lx->q + lx->pos;
    t.line = lx->line;
    t.col = (int)(lx->pos - lx->line_start) + 1;
    if (lx->pos >= lx->n) {
        t.t = LQT_EOF;
        return t;
    }
    char c = lx->q[lx->pos];
    char d = lx->pos + 1 < lx->n ? lx->q[lx->pos + 1] : 0;
    if (c == '"' || c == '`')
        return lex_string(lx, t);
    if (is_digit(c) || (c == '.' && is_digit(d)))
        return lex_number(lx, t);
    if (is_ident_start(c)) {
        size_t i = lx->pos;
        while (i < lx->n && is_ident(lx->q[i]))
            i++;
        t.t = LQT_IDENT;
        t.n = i - lx->pos;
        lx->pos = i;
        return t;
    }
    static const struct {
        const char *s;
        logql_tok t;
    } ops[] = {
        {"|=", LQT_PIPE_EQ}, {"|~", LQT_PIPE_RE}, {"!=", LQT_NEQ},   {"!~", LQT_NRE},
        {"=~", LQT_RE},      {"==", LQT_CMP_EQ},  {">=", LQT_GE},    {"<=", LQT_LE},
        {"|", LQT_PIPE},     {"=", LQT_EQ},       {">", LQT_GT},     {"<", LQT_LT},
        {"{", LQT_LBRACE},   {"}", LQT_RBRACE},   {"(", LQT_LPAREN}, {")", LQT_RPAREN},
        {"[", LQT_LBRACKET}, {"]", LQT_RBRACKET}, {",", LQT_COMMA},  {"+", LQT_ADD},
        {"-", LQT_SUB},      {"*", LQT_MUL},      {"/", LQT_DIV},    {"%", LQT_MOD},
        {"^", LQT_POW},
    };
    for (size_t k = 0; k < sizeof ops / sizeof ops[0]; k++) {
        size_t l = strlen(ops[k].s);
        if (lx->pos + l <= lx->n && memcmp(lx->q + lx->pos, ops[k].s, l) == 0) {
            t.t = ops[k].t;
            t.n = l;
            lx->pos += l;
            return t;
        }
    }
    t.n = 1;
    return tok_error(lx, t, "unexpected character");
}

const char *logql_tok_name(const logql_token *t)
{
    switch (t->t) {
    case LQT_EOF:
        return "$end";
    case LQT_ERROR:
        return "error";
    case LQT_IDENT:
        return "IDENTIFIER";
    case LQT_STRING:
        return "STRING";
    case LQT_NUMBER:
        return "NUMBER";
    case LQT_DURATION:
        return "DURATION";
    case LQT_BYTES:
        return "BYTES";
    case LQT_LBRACE:
        return "{";
    case LQT_RBRACE:
        return "}";
    case LQT_LPAREN:
        return "(";
    case LQT_RPAREN:
        return ")";
    case LQT_LBRACKET:
        return "[";
    case LQT_RBRACKET:
        return "]";
    case LQT_COMMA:
        return ",";
    case LQT_PIPE:
        return "|";
    case LQT_PIPE_EQ:
        return "|=";
    case LQT_PIPE_RE:
        return "|~";
    case LQT_EQ:
        return "=";
    case LQT_NEQ:
        return "!=";
    case LQT_RE:
        return "=~";
    case LQT_NRE:
        return "!~";
    case LQT_CMP_EQ:
        return "==";
    case LQT_GT:
        return ">";
    case LQT_GE:
        return ">=";
    case LQT_LT:
        return "<";
    case LQT_LE:
        return "<=";
    case LQT_ADD:
        return "+";
    case LQT_SUB:
        return "-";
    case LQT_MUL:
        return "*";
    case LQT_DIV:
        return "/";
    case LQT_MOD:
        return "%";
    case LQT_POW:
        return "^";
    }
    return "?";
}
