/*
 * lex.c - the PromQL lexer.
 *
 * A pull lexer over an immutable input: query_lexer_next() returns one token
 * at a time, with its byte offset, and never allocates. The parser decides
 * what an identifier means (keyword, metric, label, function); the lexer
 * only separates numbers from durations ("5m" vs "5e3") and skips
 * whitespace and '#' comments. Strings are returned raw, quotes included;
 * parse.c unescapes them.
 *
 * Threads: any; the lexer state belongs to one parse.
 */
#include "promql.h"

#include <string.h>

void query_lexer_init(query_lexer *lx, const char *s, size_t n)
{
    lx->s = s;
    lx->n = n;
    lx->off = 0;
    lx->brackets = 0;
    lx->err = NULL;
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}
static bool is_alpha(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}
static bool is_hex(char c)
{
    return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}
static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}
static bool is_unit(char c)
{
    return c == 's' || c == 'm' || c == 'h' || c == 'd' || c == 'w' || c == 'y';
}

static query_token tok(query_lexer *lx, query_tok_kind k, size_t start)
{
    query_token t = {k, (uint32_t)start, (uint32_t)(lx->off - start), lx->s + start};
    return t;
}

static query_token tok_err(query_lexer *lx, size_t start, const char *msg)
{
    lx->err = msg;
    query_token t = tok(lx, QT_ERROR, start);
    return t;
}

/* Scans <int><unit>... from off; returns the end or 0 when it is not a duration. */
static size_t scan_duration(const query_lexer *lx, size_t off)
{
    size_t i = off;
    int parts = 0;
    while (i < lx->n && is_digit(lx->s[i])) {
        while (i < lx->n && is_digit(lx->s[i]))
            i++;
        if (i >= lx->n || !is_unit(lx->s[i]))
            return 0;
        if (lx->s[i] == 'm' && i + 1 < lx->n && lx->s[i + 1] == 's')
            i += 2;
        else
            i++;
        parts++;
    }
    return parts ? i : 0;
}

static query_token lex_number(query_lexer *lx)
{
    size_t start = lx->off;
    const char *s = lx->s;
    size_t n = lx->n, i = start;
    if (i + 1 < n && s[i] == '0' && (s[i + 1] == 'x' || s[i + 1] == 'X')) {
        i += 2;
        size_t d = i;
        while (i < n && is_hex(s[i]))
            i++;
        if (i == d)
            return lx->off = i, tok_err(lx, start, "bad number or duration syntax");
    } else {
        size_t dur = scan_duration(lx, i);
        if (dur && (dur >= n || !(is_alpha(s[dur]) || is_digit(s[dur]) || s[dur] == '.'))) {
            lx->off = dur;
            return tok(lx, QT_DURATION, start);
        }
        while (i < n && is_digit(s[i]))
            i++;
        if (i < n && s[i] == '.') {
            i++;
            while (i < n && is_digit(s[i]))
                i++;
        }
        if (i < n && (s[i] == 'e' || s[i] == 'E')) {
            size_t j = i + 1;
            if (j < n && (s[j] == '+' || s[j] == '-'))
                j++;
            if (j < n && is_digit(s[j])) {
                while (j < n && is_digit(s[j]))
                    j++;
                i = j;
            }
        }
    }
    if (i < n && (is_alpha(s[i]) || is_digit(s[i]) || s[i] == '.')) {
        lx->off = i + 1;
        return tok_err(lx, start, "bad number or duration syntax");
    }
    lx->off = i;
    return tok(lx, QT_NUMBER, start);
}

static query_token lex_string(query_lexer *lx)
{
    size_t start = lx->off;
    char q = lx->s[start];
    size_t i = start + 1;
    while (i < lx->n) {
        char c = lx->s[i];
        if (c == '\\' && q != '`') {
            i += 2;
            continue;
        }
        if (c == q) {
            lx->off = i + 1;
            return tok(lx, QT_STRING, start);
        }
        if (c == '\n' && q != '`')
            break;
        i++;
    }
    lx->off = lx->n;
    return tok_err(lx, start, "unterminated quoted string");
}

query_token query_lexer_next(query_lexer *lx)
{
    for (;;) {
        while (lx->off < lx->n && is_space(lx->s[lx->off]))
            lx->off++;
        if (lx->off < lx->n && lx->s[lx->off] == '#') {
            while (lx->off < lx->n && lx->s[lx->off] != '\n')
                lx->off++;
            continue;
        }
        break;
    }
    size_t start = lx->off;
    if (start >= lx->n)
        return tok(lx, QT_EOF, start);
    const char *s = lx->s;
    char c = s[start];
    char c1 = start + 1 < lx->n ? s[start + 1] : 0;
    if (is_digit(c) || (c == '.' && is_digit(c1)))
        return lex_number(lx);
    if (is_alpha(c) || (c == ':' && lx->brackets == 0)) {
        size_t i = start;
        while (i < lx->n && (is_alpha(s[i]) || is_digit(s[i]) || s[i] == ':'))
            i++;
        lx->off = i;
        return tok(lx, QT_IDENT, start);
    }
    if (c == '"' || c == '\'' || c == '`')
        return lex_string(lx);
    lx->off++;
    switch (c) {
    case '(':
        return tok(lx, QT_LPAREN, start);
    case ')':
        return tok(lx, QT_RPAREN, start);
    case '{':
        return tok(lx, QT_LBRACE, start);
    case '}':
        return tok(lx, QT_RBRACE, start);
    case '[':
        lx->brackets++;
        return tok(lx, QT_LBRACKET, start);
    case ']':
        if (lx->brackets > 0)
            lx->brackets--;
        return tok(lx, QT_RBRACKET, start);
    case ',':
        return tok(lx, QT_COMMA, start);
    case ':':
        return tok(lx, QT_COLON, start);
    case '@':
        return tok(lx, QT_AT, start);
    case '+':
        return tok(lx, QT_ADD, start);
    case '-':
        return tok(lx, QT_SUB, start);
    case '*':
        return tok(lx, QT_MUL, start);
    case '/':
        return tok(lx, QT_DIV, start);
    case '%':
        return tok(lx, QT_MOD, start);
    case '^':
        return tok(lx, QT_POW, start);
    case '=':
        if (c1 == '=')
            return lx->off++, tok(lx, QT_EQLC, start);
        if (c1 == '~')
            return lx->off++, tok(lx, QT_EQL_REGEX, start);
        return tok(lx, QT_ASSIGN, start);
    case '!':
        if (c1 == '=')
            return lx->off++, tok(lx, QT_NEQ, start);
        if (c1 == '~')
            return lx->off++, tok(lx, QT_NEQ_REGEX, start);
        return tok_err(lx, start, "unexpected character after '!'");
    case '<':
        if (c1 == '=')
            return lx->off++, tok(lx, QT_LTE, start);
        if (c1 == '/')
            return lx->off++, tok(lx, QT_TRIM_UPPER, start);
        return tok(lx, QT_LSS, start);
    case '>':
        if (c1 == '=')
            return lx->off++, tok(lx, QT_GTE, start);
        if (c1 == '/')
            return lx->off++, tok(lx, QT_TRIM_LOWER, start);
        return tok(lx, QT_GTR, start);
    default:
        return tok_err(lx, start, "unexpected character");
    }
}
