/*
 * logql_pipeline.c - one log line through a LogQL pipeline: line filters,
 * the json / logfmt / pattern / regexp parsers, label filters, line_format,
 * label_format, drop, keep, decolorize and unwrap, over a label builder that
 * starts with the stream's labels and the entry's structured metadata.
 *
 * Semantics follow Loki's documentation (LogQL "Log queries"): parsed labels
 * that collide with a stream label get the suffix _extracted; a parser that
 * fails sets __error__ (JSONParserErr, LogfmtParserErr) and
 * __error_details__; a numeric label filter on a value that does not parse
 * keeps the line with __error__=LabelFilterErr; unwrap removes the label it
 * reads and sets __error__=SampleExtractionErr when the value does not
 * convert.
 *
 * Memory: strings made while processing a line live in the per-line scratch
 * arena (lp_ctx.a), reset by the caller between lines. Thread: the query's.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "../core/parse.h"
#include "../core/utf8.h"
#include "logql_internal.h"

/* ---- label builder ---- */

static bool name_eq(const lp_label *l, const char *n, size_t nl)
{
    return l->nlen == nl && (nl == 0 || memcmp(l->name, n, nl) == 0);
}

lp_label *lp_get(lp_builder *b, const char *name, size_t nl)
{
    for (size_t i = b->n; i > 0; i--) {
        lp_label *l = &b->l[i - 1];
        if (!l->deleted && name_eq(l, name, nl))
            return l;
    }
    return NULL;
}

static bool is_base(lp_builder *b, const char *name, size_t nl)
{
    for (size_t i = 0; i < b->nbase; i++)
        if (name_eq(&b->l[i], name, nl))
            return true;
    return false;
}

bool lp_set(lp_builder *b, const char *name, size_t nl, const char *v, size_t vl)
{
    for (size_t i = 0; i < b->n; i++) {
        lp_label *l = &b->l[i];
        if (!l->deleted && name_eq(l, name, nl)) {
            l->value = v;
            l->vlen = vl;
            l->parsed = false;
            return true;
        }
    }
    if (b->n == b->cap) {
        size_t nc = b->cap ? b->cap * 2 : 32;
        lp_label *nl2 = arena_realloc(b->a, b->l, b->cap * sizeof *nl2, nc * sizeof *nl2);
        if (!nl2)
            return false;
        b->l = nl2;
        b->cap = nc;
    }
    b->l[b->n++] = (lp_label){name, v, nl, vl, false, false};
    return true;
}

void lp_del(lp_builder *b, const char *name, size_t nl)
{
    for (size_t i = 0; i < b->n; i++)
        if (name_eq(&b->l[i], name, nl))
            b->l[i].deleted = true;
}

/* A parsed label: sanitized name, _extracted when it collides with a stream label. */
static bool lp_set_parsed(lp_ctx *c, const char *name, size_t nl, const char *v, size_t vl)
{
    char *sn = arena_alloc(c->a, nl * 1 + 16);
    if (!sn)
        return false;
    size_t sl = logql_sanitize_label(name, nl, sn);
    if (sl == 0)
        return true;
    if (is_base(c->b, sn, sl)) {
        memcpy(sn + sl, "_extracted", 10);
        sl += 10;
    }
    /* an extracted key seen twice keeps its first value */
    for (size_t i = c->b->nbase; i < c->b->n; i++)
        if (!c->b->l[i].deleted && c->b->l[i].parsed && name_eq(&c->b->l[i], sn, sl))
            return true;
    if (!lp_set(c->b, sn, sl, v, vl))
        return false;
    lp_get(c->b, sn, sl)->parsed = true;
    return true;
}

static void set_error(lp_ctx *c, const char *err, const char *details)
{
    if (lp_get(c->b, "__error__", 9))
        return; /* the first error stays */
    lp_set(c->b, "__error__", 9, err, strlen(err));
    if (details)
        lp_set(c->b, "__error_details__", 17, details, strlen(details));
}

size_t logql_sanitize_label(const char *s, size_t n, char *out)
{
    while (n && (s[0] == ' ' || s[0] == '\t'))
        s++, n--;
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
        n--;
    size_t o = 0;
    if (n && s[0] >= '0' && s[0] <= '9')
        out[o++] = '_';
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if ((ch & 0xC0) == 0x80)
            continue; /* one '_' per multi-byte rune */
        bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || ch == '_' ||
                  (ch >= '0' && ch <= '9');
        out[o++] = ok ? (char)ch : '_';
    }
    return o;
}

/* ---- JSON ---- */

typedef struct jscan {
    const char *s;
    size_t n, i;
    int depth;
} jscan;

static void jws(jscan *j)
{
    while (j->i < j->n &&
           (j->s[j->i] == ' ' || j->s[j->i] == '\t' || j->s[j->i] == '\n' || j->s[j->i] == '\r'))
        j->i++;
}

/* A string at j->i (the quote): unescaped into the arena. */
static bool jstring(jscan *j, arena *a, const char **out, size_t *ol)
{
    if (j->i >= j->n || j->s[j->i] != '"')
        return false;
    size_t st = ++j->i;
    bool esc = false;
    while (j->i < j->n && j->s[j->i] != '"') {
        if (j->s[j->i] == '\\') {
            esc = true;
            j->i++;
        }
        j->i++;
    }
    if (j->i >= j->n)
        return false;
    size_t en = j->i++;
    if (!esc) {
        *out = j->s + st;
        *ol = en - st;
        return true;
    }
    char *o = arena_alloc(a, en - st + 1);
    if (!o)
        return false;
    size_t k = 0;
    for (size_t i = st; i < en; i++) {
        if (j->s[i] != '\\') {
            o[k++] = j->s[i];
            continue;
        }
        char e = j->s[++i];
        switch (e) {
        case 'n':
            o[k++] = '\n';
            break;
        case 't':
            o[k++] = '\t';
            break;
        case 'r':
            o[k++] = '\r';
            break;
        case 'b':
            o[k++] = '\b';
            break;
        case 'f':
            o[k++] = '\f';
            break;
        case 'u': {
            unsigned cp = 0;
            if (i + 4 >= en + 1)
                return false;
            for (int d = 1; d <= 4; d++) {
                int h = parse_hex_digit(j->s[i + (size_t)d]);
                if (h < 0)
                    return false;
                cp = cp << 4 | (unsigned)h;
            }
            i += 4;
            if (cp >= 0xD800 && cp < 0xDC00 && i + 6 < en && j->s[i + 1] == '\\' &&
                j->s[i + 2] == 'u') {
                unsigned lo = 0;
                for (int d = 3; d <= 6; d++) {
                    int h = parse_hex_digit(j->s[i + (size_t)d]);
                    if (h < 0)
                        return false;
                    lo = lo << 4 | (unsigned)h;
                }
                if (lo >= 0xDC00 && lo < 0xE000) {
                    cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                    i += 6;
                }
            }
            k += utf8_encode(o + k, cp);
            break;
        }
        default:
            o[k++] = e;
            break;
        }
    }
    *out = o;
    *ol = k;
    return true;
}

/* Skips one value; false when malformed or nested too deep. */
static bool jskip(jscan *j)
{
    jws(j);
    if (j->i >= j->n)
        return false;
    char c = j->s[j->i];
    if (c == '"') {
        j->i++;
        while (j->i < j->n && j->s[j->i] != '"')
            j->i += j->s[j->i] == '\\' ? 2 : 1;
        if (j->i >= j->n)
            return false;
        j->i++;
        return true;
    }
    if (c == '{' || c == '[') {
        if (++j->depth > 64)
            return false;
        char close = c == '{' ? '}' : ']';
        j->i++;
        jws(j);
        if (j->i < j->n && j->s[j->i] == close) {
            j->i++;
            j->depth--;
            return true;
        }
        for (;;) {
            if (c == '{') {
                jws(j);
                if (!jskip(j)) /* key */
                    return false;
                jws(j);
                if (j->i >= j->n || j->s[j->i] != ':')
                    return false;
                j->i++;
            }
            if (!jskip(j))
                return false;
            jws(j);
            if (j->i >= j->n)
                return false;
            if (j->s[j->i] == ',') {
                j->i++;
                continue;
            }
            if (j->s[j->i] != close)
                return false;
            j->i++;
            j->depth--;
            return true;
        }
    }
    size_t st = j->i;
    while (j->i < j->n &&
           (j->s[j->i] == '-' || j->s[j->i] == '+' || j->s[j->i] == '.' ||
            (j->s[j->i] >= '0' && j->s[j->i] <= '9') || (j->s[j->i] >= 'a' && j->s[j->i] <= 'z') ||
            (j->s[j->i] >= 'A' && j->s[j->i] <= 'Z')))
        j->i++;
    if (j->i == st)
        return false;
    size_t l = j->i - st;
    const char *t = j->s + st;
    if ((l == 4 && (!memcmp(t, "true", 4) || !memcmp(t, "null", 4))) ||
        (l == 5 && !memcmp(t, "false", 5)))
        return true;
    double d;
    return parse_f64(t, l, &d);
}

/* Flattens an object: nested keys joined with '_'; arrays are skipped. */
static bool json_flatten(lp_ctx *c, jscan *j, const char *prefix, size_t pl)
{
    jws(j);
    if (j->i >= j->n || j->s[j->i] != '{')
        return false;
    if (++j->depth > 64)
        return false;
    j->i++;
    jws(j);
    if (j->i < j->n && j->s[j->i] == '}') {
        j->i++;
        j->depth--;
        return true;
    }
    for (;;) {
        jws(j);
        const char *k;
        size_t kl;
        if (!jstring(j, c->a, &k, &kl))
            return false;
        jws(j);
        if (j->i >= j->n || j->s[j->i] != ':')
            return false;
        j->i++;
        jws(j);
        if (j->i >= j->n)
            return false;
        char *name = arena_alloc(c->a, pl + kl + 2);
        if (!name)
            return false;
        memcpy(name, prefix, pl);
        memcpy(name + pl, k, kl);
        size_t nl = pl + kl;
        char ch = j->s[j->i];
        if (ch == '{') {
            name[nl++] = '_';
            if (!json_flatten(c, j, name, nl))
                return false;
        } else if (ch == '[') {
            if (!jskip(j))
                return false;
        } else if (ch == '"') {
            const char *v;
            size_t vl;
            if (!jstring(j, c->a, &v, &vl) || !lp_set_parsed(c, name, nl, v, vl))
                return false;
        } else {
            size_t st = j->i;
            if (!jskip(j))
                return false;
            if (!(j->i - st == 4 && memcmp(j->s + st, "null", 4) == 0) &&
                !lp_set_parsed(c, name, nl, j->s + st, j->i - st))
                return false;
        }
        jws(j);
        if (j->i >= j->n)
            return false;
        if (j->s[j->i] == ',') {
            j->i++;
            continue;
        }
        if (j->s[j->i] != '}')
            return false;
        j->i++;
        j->depth--;
        return true;
    }
}

/* One step of a JSON path: .key, ["key"] or [N]. */
typedef struct jpath_step {
    const char *key;
    size_t kl;
    long idx; /* -1: key */
} jpath_step;

static size_t jpath_parse(const char *p, size_t n, jpath_step *steps, size_t max)
{
    size_t i = 0, ns = 0;
    while (i < n && ns < max) {
        if (p[i] == '.') {
            i++;
            continue;
        }
        if (p[i] == '[') {
            i++;
            if (i < n && (p[i] == '"' || p[i] == '\'')) {
                char q = p[i++];
                size_t st = i;
                while (i < n && p[i] != q)
                    i++;
                if (i >= n)
                    return 0;
                steps[ns++] = (jpath_step){p + st, i - st, -1};
                i++;
            } else {
                long v = 0;
                size_t st = i;
                while (i < n && p[i] >= '0' && p[i] <= '9' && v < 1000000)
                    v = v * 10 + (p[i++] - '0');
                if (i == st)
                    return 0;
                steps[ns++] = (jpath_step){NULL, 0, v};
            }
            if (i >= n || p[i] != ']')
                return 0;
            i++;
            continue;
        }
        size_t st = i;
        while (i < n && p[i] != '.' && p[i] != '[')
            i++;
        steps[ns++] = (jpath_step){p + st, i - st, -1};
    }
    return i < n ? 0 : ns;
}

/* Finds the value at the path; *vs..*ve its text. */
static bool json_locate(lp_ctx *c, jscan *j, const jpath_step *steps, size_t ns, size_t *vs,
                        size_t *ve)
{
    for (size_t s = 0; s < ns; s++) {
        jws(j);
        if (j->i >= j->n)
            return false;
        char open = steps[s].idx < 0 ? '{' : '[';
        if (j->s[j->i] != open)
            return false;
        j->i++;
        jws(j);
        bool found = false;
        for (long k = 0; !found; k++) {
            jws(j);
            if (j->i < j->n && j->s[j->i] == (open == '{' ? '}' : ']'))
                return false;
            if (open == '{') {
                const char *key;
                size_t kl;
                if (!jstring(j, c->a, &key, &kl))
                    return false;
                jws(j);
                if (j->i >= j->n || j->s[j->i] != ':')
                    return false;
                j->i++;
                found = kl == steps[s].kl && memcmp(key, steps[s].key, kl) == 0;
            } else {
                found = k == steps[s].idx;
            }
            if (found)
                break;
            if (!jskip(j))
                return false;
            jws(j);
            if (j->i >= j->n || j->s[j->i] != ',')
                return false;
            j->i++;
        }
    }
    jws(j);
    *vs = j->i;
    if (!jskip(j))
        return false;
    *ve = j->i;
    return true;
}

static bool stage_json(lp_ctx *c, const logql_stage *st, const char *line, size_t len)
{
    if (st->nparams == 0) {
        jscan j = {line, len, 0, 0};
        if (!json_flatten(c, &j, "", 0)) {
            set_error(c, "JSONParserErr", "invalid JSON");
            return true;
        }
        jws(&j);
        if (j.i != j.n)
            set_error(c, "JSONParserErr", "unexpected data after the JSON object");
        return true;
    }
    jscan whole = {line, len, 0, 0};
    jws(&whole);
    if (whole.i >= len || line[whole.i] != '{' || !jskip(&whole) || (jws(&whole), whole.i != len)) {
        set_error(c, "JSONParserErr", "invalid JSON");
        return true;
    }
    for (size_t p = 0; p < st->nparams; p++) {
        jpath_step steps[32];
        size_t ns = jpath_parse(st->params[p].path, st->params[p].path_len, steps, 32);
        if (ns == 0)
            continue;
        jscan j = {line, len, 0, 0};
        size_t vs, ve;
        if (!json_locate(c, &j, steps, ns, &vs, &ve))
            continue;
        const char *v = line + vs;
        size_t vl = ve - vs;
        if (vl && v[0] == '"') {
            jscan k = {line, ve, vs, 0};
            if (!jstring(&k, c->a, &v, &vl))
                continue;
        } else if (vl == 4 && memcmp(v, "null", 4) == 0) {
            vl = 0;
        }
        if (!lp_set_parsed(c, st->params[p].name, st->params[p].name_len, v, vl))
            return false;
    }
    return true;
}

/* ---- logfmt ---- */

static bool stage_logfmt(lp_ctx *c, const logql_stage *st, const char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        while (i < n && (unsigned char)s[i] <= ' ')
            i++;
        if (i >= n)
            break;
        size_t ks = i;
        while (i < n && (unsigned char)s[i] > ' ' && s[i] != '=' && s[i] != '"')
            i++;
        size_t kl = i - ks;
        if (kl == 0) {
            if (st->logfmt_strict) {
                set_error(c, "LogfmtParserErr", "unexpected '=' or '\"'");
                return true;
            }
            i++;
            continue;
        }
        const char *v = "";
        size_t vl = 0;
        if (i < n && s[i] == '=') {
            i++;
            if (i < n && s[i] == '"') {
                size_t vs = ++i;
                bool esc = false;
                while (i < n && s[i] != '"') {
                    if (s[i] == '\\') {
                        esc = true;
                        i++;
                    }
                    i++;
                }
                if (i >= n) {
                    set_error(c, "LogfmtParserErr", "unterminated quoted value");
                    return true;
                }
                v = s + vs;
                vl = i - vs;
                i++;
                if (esc) {
                    jscan j = {s, i, vs - 1, 0};
                    if (!jstring(&j, c->a, &v, &vl)) {
                        set_error(c, "LogfmtParserErr", "invalid quoted value");
                        return true;
                    }
                }
            } else {
                size_t vs = i;
                while (i < n && (unsigned char)s[i] > ' ')
                    i++;
                v = s + vs;
                vl = i - vs;
                /* foo=bar=buzz, foo=ba"r: malformed, an error only when strict */
                if (st->logfmt_strict && (memchr(v, '=', vl) || memchr(v, '"', vl))) {
                    set_error(c, "LogfmtParserErr", "unexpected '=' or '\"' in a value");
                    return true;
                }
            }
        } else if (i < n && s[i] == '"') {
            if (st->logfmt_strict) {
                set_error(c, "LogfmtParserErr", "unexpected '\"'");
                return true;
            }
            i++;
            continue;
        }
        if (vl == 0 && !st->logfmt_keep_empty)
            continue;
        if (st->nparams) {
            for (size_t p = 0; p < st->nparams; p++)
                if (st->params[p].path_len == kl && memcmp(st->params[p].path, s + ks, kl) == 0 &&
                    !lp_set_parsed(c, st->params[p].name, st->params[p].name_len, v, vl))
                    return false;
            continue;
        }
        if (!lp_set_parsed(c, s + ks, kl, v, vl))
            return false;
    }
    return true;
}

/* ---- pattern, regexp ---- */

static bool stage_pattern(lp_ctx *c, const logql_stage *st, const char *s, size_t n)
{
    /* anchored at the start: a leading literal must begin the line */
    size_t caps_s[64], caps_e[64];
    size_t ncap = 0, i = 0;
    for (size_t k = 0; k < st->npattern && ncap < 64; k++) {
        const logql_pattern_part *p = &st->pattern[k];
        if (!p->capture) {
            if (k == 0) {
                if (n < p->len || memcmp(s, p->text, p->len) != 0)
                    return true;
                i = p->len;
            }
            continue;
        }
        size_t end = n;
        size_t next = i;
        if (k + 1 < st->npattern) {
            const logql_pattern_part *lit = &st->pattern[k + 1];
            const char *f = lit->len <= n - i ? memmem(s + i, n - i, lit->text, lit->len) : NULL;
            if (!f)
                break; /* the parser stops; what it captured so far stays */
            end = (size_t)(f - s);
            next = end + lit->len;
        } else {
            next = n;
        }
        caps_s[ncap] = i;
        caps_e[ncap++] = end;
        i = next;
    }
    size_t ci = 0;
    for (size_t k = 0; k < st->npattern && ci < ncap; k++) {
        const logql_pattern_part *p = &st->pattern[k];
        if (!p->capture)
            continue;
        if (!(p->len == 1 && p->text[0] == '_') &&
            !lp_set_parsed(c, p->text, p->len, s + caps_s[ci], caps_e[ci] - caps_s[ci]))
            return false;
        ci++;
    }
    return true;
}

typedef struct re_cb_ctx {
    lp_ctx *c;
    bool ok;
} re_cb_ctx;

static void re_group(void *ctx, const char *name, size_t nl, const char *v, size_t vl)
{
    re_cb_ctx *r = ctx;
    if (!lp_set_parsed(r->c, name, nl, v, vl))
        r->ok = false;
}

/* ---- label filters ---- */

static bool cmp(double a, logql_cmp op, double b)
{
    switch (op) {
    case LOGQL_CMP_EQ:
        return a == b;
    case LOGQL_CMP_NE:
        return a != b;
    case LOGQL_CMP_GT:
        return a > b;
    case LOGQL_CMP_GE:
        return a >= b;
    case LOGQL_CMP_LT:
        return a < b;
    case LOGQL_CMP_LE:
        return a <= b;
    }
    return false;
}

static bool parse_value(logql_lf_kind k, const char *v, size_t n, double *out)
{
    if (k == LOGQL_LF_NUMBER)
        return n > 0 && parse_f64(v, n, out);
    if (k == LOGQL_LF_BYTES)
        return logql_parse_bytes(v, n, out);
    bool neg = n > 0 && v[0] == '-';
    int64_t ns;
    if (!logql_parse_duration(v + neg, n - neg, &ns))
        return false;
    *out = (neg ? -1.0 : 1.0) * (double)ns / 1e9;
    return true;
}

static bool eval_filter(lp_ctx *c, const logql_lfilter *f)
{
    switch (f->kind) {
    case LOGQL_LF_AND:
        return eval_filter(c, f->l) && eval_filter(c, f->r);
    case LOGQL_LF_OR:
        return eval_filter(c, f->l) || eval_filter(c, f->r);
    case LOGQL_LF_STRING: {
        lp_label *l = lp_get(c->b, f->m.name, f->m.name_len);
        return logql_matcher_matches(&f->m, l ? l->value : "", l ? l->vlen : 0);
    }
    default: {
        lp_label *l = lp_get(c->b, f->m.name, f->m.name_len);
        if (!l)
            return false; /* Loki: a missing label does not pass a conversion filter */
        double v;
        if (!parse_value(f->kind, l->value, l->vlen, &v)) {
            set_error(c, "LabelFilterErr", "cannot convert the label value to a number");
            return true;
        }
        return cmp(v, f->cmp, f->num);
    }
    }
}

/* ---- templates ---- */

static bool put(lp_ctx *c, const char *s, size_t n)
{
    return buf_append(&c->tmp, s, n) == SONDE_OK;
}

/* Go's time.Time.String(): 2006-01-02 15:04:05.999999999 +0000 UTC */
static bool put_timestamp(lp_ctx *c, int64_t ns)
{
    int64_t secs = ns / 1000000000, frac = ns % 1000000000;
    if (frac < 0) {
        frac += 1000000000;
        secs--;
    }
    int64_t days = secs / 86400, rem = secs % 86400;
    if (rem < 0) {
        rem += 86400;
        days--;
    }
    /* civil from days (Howard Hinnant) */
    int64_t z = days + 719468, era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097, yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t y = yoe + era * 400, doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153, d = doy - (153 * mp + 2) / 5 + 1;
    int64_t m = mp < 10 ? mp + 3 : mp - 9;
    y += m <= 2;
    char b[80];
    int l = snprintf(b, sizeof b, "%04lld-%02lld-%02lld %02lld:%02lld:%02lld", (long long)y,
                     (long long)m, (long long)d, (long long)(rem / 3600),
                     (long long)(rem / 60 % 60), (long long)(rem % 60));
    if (frac) {
        char f[16];
        int fl = snprintf(f, sizeof f, ".%09lld", (long long)frac);
        while (fl > 1 && f[fl - 1] == '0')
            fl--;
        memcpy(b + l, f, (size_t)fl);
        l += fl;
    }
    l += snprintf(b + l, sizeof b - (size_t)l, " +0000 UTC");
    return put(c, b, (size_t)l);
}

/* Renders tpl into the scratch arena. */
bool lp_template(lp_ctx *c, const logql_tpl *tpl, const char *line, size_t len, int64_t ts,
                 const char **out, size_t *ol)
{
    buf_reset(&c->tmp);
    for (size_t i = 0; i < tpl->nparts; i++) {
        const logql_tpl_part *p = &tpl->parts[i];
        if (!p->action) {
            if (!put(c, p->text, p->len))
                return false;
            continue;
        }
        size_t start = c->tmp.len;
        bool ok;
        if (p->len == 8 && memcmp(p->text, "__line__", 8) == 0) {
            ok = put(c, line, len);
        } else if (p->len == 13 && memcmp(p->text, "__timestamp__", 13) == 0) {
            ok = put_timestamp(c, ts);
        } else {
            lp_label *l = lp_get(c->b, p->text, p->len);
            ok = !l || put(c, l->value, l->vlen);
        }
        if (!ok)
            return false;
        char *s = c->tmp.data ? c->tmp.data + start : NULL;
        size_t n = c->tmp.len - start;
        for (uint8_t f = 0; f < p->nfn && s; f++) {
            switch (p->fn[f]) {
            case LOGQL_FN_TOUPPER:
                for (size_t k = 0; k < n; k++)
                    if (s[k] >= 'a' && s[k] <= 'z')
                        s[k] = (char)(s[k] - 32);
                break;
            case LOGQL_FN_TOLOWER:
                for (size_t k = 0; k < n; k++)
                    if (s[k] >= 'A' && s[k] <= 'Z')
                        s[k] = (char)(s[k] + 32);
                break;
            case LOGQL_FN_TITLE:
                for (size_t k = 0; k < n; k++)
                    if ((k == 0 || s[k - 1] == ' ') && s[k] >= 'a' && s[k] <= 'z')
                        s[k] = (char)(s[k] - 32);
                break;
            case LOGQL_FN_TRIMSPACE: {
                size_t a = 0, e = n;
                while (a < e && (s[a] == ' ' || s[a] == '\t' || s[a] == '\n' || s[a] == '\r'))
                    a++;
                while (e > a && (s[e - 1] == ' ' || s[e - 1] == '\t' || s[e - 1] == '\n' ||
                                 s[e - 1] == '\r'))
                    e--;
                memmove(s, s + a, e - a);
                c->tmp.len = start + (e - a);
                n = e - a;
                break;
            }
            }
        }
    }
    char *r = arena_alloc(c->a, c->tmp.len + 1);
    if (!r)
        return false;
    if (c->tmp.len)
        memcpy(r, c->tmp.data, c->tmp.len);
    r[c->tmp.len] = 0;
    *out = r;
    *ol = c->tmp.len;
    return true;
}

/* ---- unwrap ---- */

static void stage_unwrap(lp_ctx *c, const logql_stage *st)
{
    lp_label *l = lp_get(c->b, st->unwrap, st->unwrap_len);
    c->has_value = false;
    if (!l) {
        set_error(c, "SampleExtractionErr", "the label to unwrap is missing");
        return;
    }
    double v = 0;
    bool ok;
    switch (st->conv) {
    case LOGQL_UNWRAP_BYTES:
        ok = logql_parse_bytes(l->value, l->vlen, &v);
        break;
    case LOGQL_UNWRAP_DURATION:
        ok = parse_value(LOGQL_LF_DURATION, l->value, l->vlen, &v);
        break;
    default:
        ok = l->vlen > 0 && parse_f64(l->value, l->vlen, &v);
        break;
    }
    lp_del(c->b, st->unwrap, st->unwrap_len);
    if (!ok) {
        set_error(c, "SampleExtractionErr", "the unwrapped value is not a number");
        return;
    }
    c->value = v;
    c->has_value = true;
}

/* ---- the pipeline ---- */

static bool line_contains(const char *s, size_t n, const char *v, size_t vl)
{
    return vl == 0 || (vl <= n && memmem(s, n, v, vl) != NULL);
}

int lp_run(lp_ctx *c, const logql_stage *stages, size_t nstages, int64_t ts, const char **line,
           size_t *len)
{
    const char *s = *line;
    size_t n = *len;
    for (size_t i = 0; i < nstages; i++) {
        const logql_stage *st = &stages[i];
        if (st->kind >= LOGQL_STAGE_JSON && st->kind <= LOGQL_STAGE_REGEXP)
            for (size_t k = 0; k < c->b->n; k++)
                c->b->l[k].parsed = false; /* "first value wins" is per parser stage */
        switch (st->kind) {
        case LOGQL_STAGE_LINE_FILTER: {
            bool any = false;
            for (size_t k = 0; k < st->nvalues && !any; k++) {
                if (st->line_op == LOGQL_LINE_CONTAINS || st->line_op == LOGQL_LINE_NOT_CONTAINS)
                    any = line_contains(s, n, st->values[k], st->value_lens[k]);
                else
                    any = logql_re_match(st->res[k], s, n);
            }
            bool neg = st->line_op == LOGQL_LINE_NOT_CONTAINS || st->line_op == LOGQL_LINE_NOT_RE;
            if (any == neg)
                return 0;
            break;
        }
        case LOGQL_STAGE_JSON:
            if (!stage_json(c, st, s, n))
                return -1;
            break;
        case LOGQL_STAGE_LOGFMT:
            if (!stage_logfmt(c, st, s, n))
                return -1;
            break;
        case LOGQL_STAGE_PATTERN:
            if (!stage_pattern(c, st, s, n))
                return -1;
            break;
        case LOGQL_STAGE_REGEXP: {
            re_cb_ctx r = {c, true};
            (void)logql_re_named(st->re, s, n, re_group, &r);
            if (!r.ok)
                return -1;
            break;
        }
        case LOGQL_STAGE_LABEL_FILTER:
            if (!eval_filter(c, st->filter))
                return 0;
            break;
        case LOGQL_STAGE_LINE_FORMAT:
            if (!lp_template(c, &st->tpl, s, n, ts, &s, &n))
                return -1;
            break;
        case LOGQL_STAGE_LABEL_FORMAT:
            for (size_t k = 0; k < st->nfmts; k++) {
                const logql_label_fmt *f = &st->fmts[k];
                if (f->rename) {
                    lp_label *src = lp_get(c->b, f->src, f->src_len);
                    if (!src)
                        continue;
                    const char *v = src->value;
                    size_t vl = src->vlen;
                    if (!(f->src_len == f->dst_len && memcmp(f->src, f->dst, f->dst_len) == 0))
                        lp_del(c->b, f->src, f->src_len);
                    if (!lp_set(c->b, f->dst, f->dst_len, v, vl))
                        return -1;
                } else {
                    const char *v;
                    size_t vl;
                    if (!lp_template(c, &f->tpl, s, n, ts, &v, &vl) ||
                        !lp_set(c->b, f->dst, f->dst_len, v, vl))
                        return -1;
                }
            }
            break;
        case LOGQL_STAGE_DROP:
            for (size_t k = 0; k < st->nnames; k++) {
                const logql_matcher *m = &st->names[k];
                lp_label *l = lp_get(c->b, m->name, m->name_len);
                if (l && (!m->value || logql_matcher_matches(m, l->value, l->vlen)))
                    lp_del(c->b, m->name, m->name_len);
            }
            break;
        case LOGQL_STAGE_KEEP:
            for (size_t j = 0; j < c->b->n; j++) {
                lp_label *l = &c->b->l[j];
                if (l->deleted || name_eq(l, "__error__", 9) || name_eq(l, "__error_details__", 17))
                    continue; /* keep never drops the error labels (Loki) */
                bool keep = false;
                for (size_t k = 0; k < st->nnames && !keep; k++) {
                    const logql_matcher *m = &st->names[k];
                    keep = name_eq(l, m->name, m->name_len) &&
                           (!m->value || logql_matcher_matches(m, l->value, l->vlen));
                }
                if (!keep)
                    l->deleted = true;
            }
            break;
        case LOGQL_STAGE_DECOLORIZE: {
            char *o = arena_alloc(c->a, n + 1);
            if (!o)
                return -1;
            size_t k = 0;
            for (size_t j = 0; j < n; j++) {
                if (s[j] == 0x1b && j + 1 < n && s[j + 1] == '[') {
                    j += 2;
                    while (j < n && !((s[j] >= '@' && s[j] <= '~')))
                        j++;
                    continue;
                }
                o[k++] = s[j];
            }
            s = o;
            n = k;
            break;
        }
        case LOGQL_STAGE_UNWRAP:
            stage_unwrap(c, st);
            break;
        }
    }
    *line = s;
    *len = n;
    return 1;
}
