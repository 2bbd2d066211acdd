/*
 * json.c - strict, bounded recursive-descent JSON parser (see json.h).
 *
 * Design: one pass over the input. Each value is a json_value node in the
 * arena; children are linked in order through a tail pointer, so no array
 * ever has to grow. A string is first scanned to its closing quote (which
 * bounds its unescaped size), then unescaped into one allocation and checked
 * to be UTF-8. Recursion depth is capped by lim->max_depth.
 *
 * Thread: any; state is the caller's arena and the stack.
 */
#include <stdio.h>
#include <string.h>

#include "../../core/parse.h"
#include "../../core/utf8.h"
#include "json.h"

typedef struct jp {
    arena *a;
    const char *start, *p, *end;
    const json_limits *lim;
    size_t nvalues;
    char *err;
    size_t errlen;
} jp;

static sonde_status jp_fail(jp *j, sonde_status st, const char *what)
{
    if (j->err && j->errlen)
        snprintf(j->err, j->errlen, "json: %s at byte %zu", what, (size_t)(j->p - j->start));
    return st;
}

static void jp_ws(jp *j)
{
    while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r'))
        j->p++;
}

static bool jp_u4(const char *s, unsigned *out)
{
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        int h = parse_hex_digit(s[i]);
        if (h < 0)
            return false;
        v = v << 4 | (unsigned)h;
    }
    *out = v;
    return true;
}

static size_t jp_utf8_put(char *o, unsigned cp)
{
    if (cp < 0x80) {
        o[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (char)(0xc0 | cp >> 6);
        o[1] = (char)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (char)(0xe0 | cp >> 12);
        o[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        o[2] = (char)(0x80 | (cp & 0x3f));
        return 3;
    }
    o[0] = (char)(0xf0 | cp >> 18);
    o[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
    o[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
    o[3] = (char)(0x80 | (cp & 0x3f));
    return 4;
}

/* j->p is on the opening quote. */
static sonde_status jp_string(jp *j, const char **out, size_t *out_len)
{
    const char *s = ++j->p, *q = s;
    while (q < j->end && *q != '"') {
        if ((unsigned char)*q < 0x20) {
            j->p = q;
            return jp_fail(j, SONDE_ERR_INVALID, "control character in string");
        }
        if (*q == '\\' && j->end - q < 2) {
            q = j->end; /* a backslash as the last byte: unterminated */
            break;
        }
        q += *q == '\\' ? 2 : 1;
    }
    if (q >= j->end) {
        j->p = j->end;
        return jp_fail(j, SONDE_ERR_INVALID, "unterminated string");
    }
    /* unescaping never makes a string longer than its source */
    size_t raw = (size_t)(q - s);
    char *o = arena_alloc(j->a, raw + 1);
    if (!o)
        return jp_fail(j, SONDE_ERR_NOMEM, "arena cap reached");
    size_t n = 0;
    while (j->p < q) {
        char c = *j->p;
        if (c != '\\') {
            o[n++] = c;
            j->p++;
            continue;
        }
        c = j->p[1];
        j->p += 2;
        switch (c) {
        case '"':
            o[n++] = '"';
            break;
        case '\\':
            o[n++] = '\\';
            break;
        case '/':
            o[n++] = '/';
            break;
        case 'b':
            o[n++] = '\b';
            break;
        case 'f':
            o[n++] = '\f';
            break;
        case 'n':
            o[n++] = '\n';
            break;
        case 'r':
            o[n++] = '\r';
            break;
        case 't':
            o[n++] = '\t';
            break;
        case 'u': {
            unsigned cp, lo;
            if (q - j->p < 4 || !jp_u4(j->p, &cp))
                return jp_fail(j, SONDE_ERR_INVALID, "bad \\u escape");
            j->p += 4;
            if (cp >= 0xdc00 && cp <= 0xdfff)
                return jp_fail(j, SONDE_ERR_INVALID, "lone low surrogate");
            if (cp >= 0xd800 && cp <= 0xdbff) {
                if (q - j->p < 6 || j->p[0] != '\\' || j->p[1] != 'u' || !jp_u4(j->p + 2, &lo) ||
                    lo < 0xdc00 || lo > 0xdfff)
                    return jp_fail(j, SONDE_ERR_INVALID, "lone high surrogate");
                j->p += 6;
                cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
            }
            n += jp_utf8_put(o + n, cp);
            break;
        }
        default:
            j->p--;
            return jp_fail(j, SONDE_ERR_INVALID, "bad escape");
        }
    }
    j->p = q + 1;
    o[n] = 0;
    if (n > j->lim->max_str)
        return jp_fail(j, SONDE_ERR_LIMIT, "string longer than the cap");
    if (!utf8_valid(o, n))
        return jp_fail(j, SONDE_ERR_INVALID, "string is not valid UTF-8");
    *out = o;
    *out_len = n;
    return SONDE_OK;
}

static size_t jp_digits(const char *s, const char *end)
{
    const char *p = s;
    while (p < end && *p >= '0' && *p <= '9')
        p++;
    return (size_t)(p - s);
}

/* Length of the JSON number at s (0 when there is none). */
static size_t jp_number_len(const char *s, const char *end)
{
    const char *p = s;
    if (p < end && *p == '-')
        p++;
    size_t d = jp_digits(p, end);
    if (d == 0 || (d > 1 && *p == '0'))
        return 0;
    p += d;
    if (p < end && *p == '.') {
        d = jp_digits(p + 1, end);
        if (d == 0)
            return 0;
        p += 1 + d;
    }
    if (p < end && (*p == 'e' || *p == 'E')) {
        const char *e = p + 1;
        if (e < end && (*e == '+' || *e == '-'))
            e++;
        d = jp_digits(e, end);
        if (d == 0)
            return 0;
        p = e + d;
    }
    return (size_t)(p - s);
}

bool json_number_syntax(const char *s, size_t n)
{
    return n > 0 && jp_number_len(s, s + n) == n;
}

static bool jp_lit(jp *j, const char *lit)
{
    size_t n = strlen(lit);
    if ((size_t)(j->end - j->p) < n || memcmp(j->p, lit, n) != 0)
        return false;
    j->p += n;
    return true;
}

static sonde_status jp_value(jp *j, json_value *v, unsigned depth)
{
    if (++j->nvalues > j->lim->max_values)
        return jp_fail(j, SONDE_ERR_LIMIT, "more values than the cap");
    jp_ws(j);
    if (j->p >= j->end)
        return jp_fail(j, SONDE_ERR_INVALID, "unexpected end of input");
    char c = *j->p;
    if (c == '{' || c == '[') {
        bool obj = c == '{';
        char close = obj ? '}' : ']';
        if (depth >= j->lim->max_depth) {
            char what[96];
            snprintf(what, sizeof what, "arrays and objects nested deeper than %u (max_depth)",
                     j->lim->max_depth);
            return jp_fail(j, SONDE_ERR_LIMIT, what);
        }
        v->type = obj ? JSON_OBJECT : JSON_ARRAY;
        j->p++;
        jp_ws(j);
        if (j->p < j->end && *j->p == close) {
            j->p++;
            return SONDE_OK;
        }
        json_value *tail = NULL;
        for (;;) {
            json_value *ch = arena_calloc(j->a, 1, sizeof(*ch));
            if (!ch)
                return jp_fail(j, SONDE_ERR_NOMEM, "arena cap reached");
            sonde_status st;
            if (obj) {
                jp_ws(j);
                if (j->p >= j->end || *j->p != '"')
                    return jp_fail(j, SONDE_ERR_INVALID, "expected a member name");
                if ((st = jp_string(j, &ch->key, &ch->key_len)) != SONDE_OK)
                    return st;
                jp_ws(j);
                if (j->p >= j->end || *j->p != ':')
                    return jp_fail(j, SONDE_ERR_INVALID, "expected ':'");
                j->p++;
            }
            if ((st = jp_value(j, ch, depth + 1)) != SONDE_OK)
                return st;
            if (tail)
                tail->next = ch;
            else
                v->child = ch;
            tail = ch;
            v->n++;
            jp_ws(j);
            if (j->p < j->end && *j->p == ',') {
                j->p++;
                continue;
            }
            if (j->p < j->end && *j->p == close) {
                j->p++;
                return SONDE_OK;
            }
            return jp_fail(j, SONDE_ERR_INVALID,
                           obj ? "expected ',' or '}'" : "expected ',' or ']'");
        }
    }
    if (c == '"') {
        v->type = JSON_STRING;
        return jp_string(j, &v->s, &v->len);
    }
    if (c == '-' || (c >= '0' && c <= '9')) {
        size_t n = jp_number_len(j->p, j->end);
        if (n == 0)
            return jp_fail(j, SONDE_ERR_INVALID, "bad number");
        v->type = JSON_NUMBER;
        v->s = j->p;
        v->len = n;
        j->p += n;
        return SONDE_OK;
    }
    if (jp_lit(j, "true")) {
        v->type = JSON_BOOL;
        v->b = true;
        return SONDE_OK;
    }
    if (jp_lit(j, "false")) {
        v->type = JSON_BOOL;
        return SONDE_OK;
    }
    if (jp_lit(j, "null")) {
        v->type = JSON_NULL;
        return SONDE_OK;
    }
    return jp_fail(j, SONDE_ERR_INVALID, "unexpected character");
}

sonde_status json_parse(arena *a, const char *in, size_t n, const json_limits *lim,
                        json_value **out, char *err, size_t errlen)
{
    jp j = {a, in, in, in + n, lim, 0, err, errlen};
    json_value *v = arena_calloc(a, 1, sizeof(*v));
    if (!v)
        return jp_fail(&j, SONDE_ERR_NOMEM, "arena cap reached");
    sonde_status st = jp_value(&j, v, 0);
    if (st != SONDE_OK)
        return st;
    jp_ws(&j);
    if (j.p != j.end)
        return jp_fail(&j, SONDE_ERR_INVALID, "trailing characters after the value");
    *out = v;
    return SONDE_OK;
}

const json_value *json_object_get(const json_value *obj, const char *key)
{
    if (!obj || obj->type != JSON_OBJECT)
        return NULL;
    size_t kl = strlen(key);
    for (const json_value *m = obj->child; m; m = m->next)
        if (m->key_len == kl && memcmp(m->key, key, kl) == 0)
            return m;
    return NULL;
}

static bool jp_is_integer_text(const json_value *v)
{
    return v->type == JSON_NUMBER && !memchr(v->s, '.', v->len) && !memchr(v->s, 'e', v->len) &&
           !memchr(v->s, 'E', v->len);
}

bool json_number_i64(const json_value *v, int64_t *out)
{
    return jp_is_integer_text(v) && parse_i64(v->s, v->len, out);
}

bool json_number_u64(const json_value *v, uint64_t *out)
{
    return jp_is_integer_text(v) && v->s[0] != '-' && parse_u64(v->s, v->len, out);
}

bool json_number_f64(const json_value *v, double *out)
{
    return v->type == JSON_NUMBER && parse_f64(v->s, v->len, out);
}
