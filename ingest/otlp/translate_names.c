/*
 * translate_names.c - names and label values for the OTLP metrics ->
 * Prometheus translation: metric family names (sanitising, UCUM unit
 * suffixes, _total, _ratio), label names from attribute keys, and AnyValue
 * stringification.
 *
 * The rules are those of the OpenTelemetry "Prometheus and OpenMetrics
 * Compatibility" specification as Prometheus 3 implements them
 * (github.com/prometheus/otlptranslator: metric_namer.go, unit_namer.go,
 * label_namer.go; pdata's Value.AsString for values). Where the two differ
 * the choice is noted at the function.
 *
 * Thread: any. Pure functions; output goes to the caller's buf.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "translate_internal.h"

/* The specification's rules: label keys match [a-zA-Z_][a-zA-Z0-9_]*, so
 * "_x" is valid as it is, and runs of '_' MUST collapse to one. */
const otlp_tr_label_opts otlp_tr_label_defaults = {
    .keep = false,
    .underscore_prefix = false,
    .preserve_underscores = false,
};

/* ---- metric names ---- */

/* UCUM unit -> Prometheus unit word (the specification's table). */
static const struct {
    const char *ucum, *word;
} unit_map[] = {
    {"d", "days"},
    {"h", "hours"},
    {"min", "minutes"},
    {"s", "seconds"},
    {"ms", "milliseconds"},
    {"us", "microseconds"},
    {"ns", "nanoseconds"},
    {"By", "bytes"},
    {"KiBy", "kibibytes"},
    {"MiBy", "mebibytes"},
    {"GiBy", "gibibytes"},
    {"TiBy", "tibibytes"},
    {"KBy", "kilobytes"},
    {"MBy", "megabytes"},
    {"GBy", "gigabytes"},
    {"TBy", "terabytes"},
    {"m", "meters"},
    {"V", "volts"},
    {"A", "amperes"},
    {"J", "joules"},
    {"W", "watts"},
    {"g", "grams"},
    {"Cel", "celsius"},
    {"Hz", "hertz"},
    {"1", ""},
    {"%", "percent"},
};

/* The "per" half of a rate unit ("x/s"), singular. */
static const struct {
    const char *ucum, *word;
} per_unit_map[] = {
    {"s", "second"}, {"m", "minute"}, {"h", "hour"}, {"d", "day"},
    {"w", "week"},   {"mo", "month"}, {"y", "year"},
};

typedef struct span {
    const char *p;
    size_t n;
} span;

static bool span_eq(span a, const char *s)
{
    return a.n == strlen(s) && memcmp(a.p, s, a.n) == 0;
}

static bool metric_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == ':';
}

static bool label_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

static bool is_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

/* Go's strings.TrimSpace for the ASCII white space a unit can carry. */
static span trim_space(span s)
{
    while (s.n && strchr(" \t\n\v\f\r", s.p[0]))
        s.p++, s.n--;
    while (s.n && strchr(" \t\n\v\f\r", s.p[s.n - 1]))
        s.n--;
    return s;
}

static bool has_braces(span s)
{
    return memchr(s.p, '{', s.n) || memchr(s.p, '}', s.n);
}

/* A cleaned unit token: invalid characters -> '_', runs of '_' collapsed, one
 * leading '_' dropped (otlptranslator cleanUpUnit). At most 2 words + "per_". */
typedef struct unit_tok {
    char s[160];
    size_t n;
} unit_tok;

static void unit_clean(unit_tok *t, const char *prefix, span word)
{
    t->n = 0;
    char tmp[160];
    size_t tn = 0;
    size_t plen = strlen(prefix);
    for (size_t i = 0; i < plen && tn < sizeof tmp; i++)
        tmp[tn++] = prefix[i];
    for (size_t i = 0; i < word.n; i++) {
        unsigned char c = (unsigned char)word.p[i];
        if ((c & 0xC0) == 0x80)
            continue; /* one '_' per invalid rune, not per byte */
        if (tn >= sizeof tmp)
            break; /* units are short; a 160-byte cap only bounds the copy */
        tmp[tn++] = metric_char(c) ? (char)c : '_';
    }
    bool prev_us = false;
    for (size_t i = 0; i < tn; i++) {
        if (tmp[i] == '_') {
            if (prev_us)
                continue;
            prev_us = true;
        } else {
            prev_us = false;
        }
        t->s[t->n++] = tmp[i];
    }
    if (t->n && t->s[0] == '_') {
        memmove(t->s, t->s + 1, t->n - 1);
        t->n--;
    }
}

static const char *unit_lookup(span u, bool per)
{
    if (per) {
        for (size_t i = 0; i < sizeof per_unit_map / sizeof per_unit_map[0]; i++)
            if (span_eq(u, per_unit_map[i].ucum))
                return per_unit_map[i].word;
    } else {
        for (size_t i = 0; i < sizeof unit_map / sizeof unit_map[0]; i++)
            if (span_eq(u, unit_map[i].ucum))
                return unit_map[i].word;
    }
    return NULL;
}

/* otlptranslator buildUnitSuffixes + cleanUpUnit: main and per suffixes. */
static void unit_suffixes(const char *unit, unit_tok *main_tok, unit_tok *per_tok)
{
    main_tok->n = per_tok->n = 0;
    if (!unit || !*unit)
        return;
    size_t ulen = strlen(unit);
    const char *slash = memchr(unit, '/', ulen);
    span main_raw = {unit, slash ? (size_t)(slash - unit) : ulen};
    span m = trim_space(main_raw);
    if (m.n && !has_braces(m)) {
        const char *w = unit_lookup(m, false);
        unit_clean(main_tok, "", w ? (span){w, strlen(w)} : m);
    }
    if (slash && slash[1]) {
        span p = trim_space((span){slash + 1, ulen - (size_t)(slash + 1 - unit)});
        if (p.n && !has_braces(p)) {
            const char *w = unit_lookup(p, true);
            span word = w ? (span){w, strlen(w)} : p;
            if (word.n)
                unit_clean(per_tok, "per_", word);
        }
    }
}

static bool tokens_contain(const span *tok, size_t n, const char *s, size_t sn)
{
    for (size_t i = 0; i < n; i++)
        if (tok[i].n == sn && memcmp(tok[i].p, s, sn) == 0)
            return true;
    return false;
}

/* otlptranslator normalizeName: split the name on every character outside
 * [a-zA-Z0-9:] (which also collapses and trims underscores), add the unit
 * words unless a token already equals them, move "total" (counters) and
 * "ratio" (gauges with unit "1") to the end, join with '_', and prefix '_'
 * to a leading digit. */
sonde_status otlp_tr_metric_name(buf *b, const char *name, const char *unit, otlp_tr_kind kind,
                                 bool keep, char *err, size_t errlen)
{
    if (!name)
        name = "";
    size_t nlen = strlen(name);
    if (keep) {
        /* NoTranslation: no suffixes, no escaping (the decoder checked UTF-8). */
        if (nlen == 0) {
            snprintf(err, errlen, "metric name is empty");
            return SONDE_ERR_INVALID;
        }
        return buf_append(b, name, nlen);
    }

    /* Token count is bounded by the name length; unit and type words add 4. */
    size_t cap = nlen / 2 + 5;
    span stack_tok[64];
    span *tok = cap <= 64 ? stack_tok : malloc(cap * sizeof *tok);
    if (!tok)
        return SONDE_ERR_NOMEM;
    size_t nt = 0;
    for (size_t i = 0; i < nlen;) {
        while (i < nlen && !metric_char((unsigned char)name[i]))
            i++;
        size_t start = i;
        while (i < nlen && metric_char((unsigned char)name[i]))
            i++;
        if (i > start)
            tok[nt++] = (span){name + start, i - start};
    }

    unit_tok mt, pt;
    unit_suffixes(unit, &mt, &pt);
    /* addUnitTokens */
    if (mt.n && tokens_contain(tok, nt, mt.s, mt.n))
        mt.n = 0;
    if (pt.n == 4 && memcmp(pt.s, "per_", 4) == 0) {
        pt.n = 0;
    } else {
        if (pt.n && pt.s[pt.n - 1] == '_')
            pt.n--;
        if (pt.n && tokens_contain(tok, nt, pt.s, pt.n))
            pt.n = 0;
    }
    if (pt.n && mt.n && mt.s[mt.n - 1] == '_')
        mt.n--;
    if (mt.n)
        tok[nt++] = (span){mt.s, mt.n};
    if (pt.n)
        tok[nt++] = (span){pt.s, pt.n};

    /* suffixes moved to the end, in this order: the unit "1" is "ratio" for
     * every type (the specification's special case; Prometheus' translator
     * limits it to gauges), and the unit comes before the type suffix:
     * x_ratio_total */
    const char *moves[2];
    size_t nmoves = 0;
    if (unit && strcmp(unit, "1") == 0)
        moves[nmoves++] = "ratio";
    if (kind == OTLP_TR_COUNTER)
        moves[nmoves++] = "total";
    for (size_t m = 0; m < nmoves; m++) {
        size_t w = 0;
        for (size_t i = 0; i < nt; i++)
            if (!span_eq(tok[i], moves[m]))
                tok[w++] = tok[i];
        nt = w;
    }
    for (size_t m = 0; m < nmoves; m++)
        tok[nt++] = (span){moves[m], strlen(moves[m])};

    size_t start_len = b->len;
    sonde_status st = SONDE_OK;
    if (nt && is_digit((unsigned char)tok[0].p[0]))
        st = buf_putc(b, '_');
    for (size_t i = 0; i < nt && st == SONDE_OK; i++) {
        if (i)
            st = buf_putc(b, '_');
        if (st == SONDE_OK)
            st = buf_append(b, tok[i].p, tok[i].n);
    }
    if (tok != stack_tok)
        free(tok);
    if (st != SONDE_OK)
        return st;
    if (b->len == start_len) {
        snprintf(err, errlen, "normalization for metric \"%.64s\" resulted in empty name", name);
        return SONDE_ERR_INVALID;
    }
    return SONDE_OK;
}

/* ---- label names ---- */

static bool only_underscores(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] != '_')
            return false;
    return true;
}

/* otlptranslator LabelNamer.Build. */
sonde_status otlp_tr_label_name(buf *b, const char *key, size_t n, const otlp_tr_label_opts *o,
                                char *err, size_t errlen)
{
    if (n == 0) {
        snprintf(err, errlen, "label name is empty");
        return SONDE_ERR_INVALID;
    }
    if (o->keep) {
        if (only_underscores(key, n)) {
            snprintf(err, errlen, "label name \"%.*s\" contains only underscores",
                     (int)(n > 64 ? 64 : n), key);
            return SONDE_ERR_INVALID;
        }
        return buf_append(b, key, n);
    }
    size_t start = b->len;
    sonde_status st = buf_reserve(b, n + 8);
    if (st != SONDE_OK)
        return st;
    if (o->preserve_underscores) {
        for (size_t i = 0; i < n && st == SONDE_OK; i++) {
            unsigned char c = (unsigned char)key[i];
            if ((c & 0xC0) == 0x80)
                continue; /* continuation byte: its rune already became '_' */
            st = buf_putc(b, label_char(c) ? (char)c : '_');
        }
    } else {
        /* Reserved names (__x__) keep their wrapping underscores. */
        bool reserved =
            n >= 4 && key[0] == '_' && key[1] == '_' && key[n - 2] == '_' && key[n - 1] == '_';
        size_t lo = reserved ? 2 : 0, hi = reserved ? n - 2 : n;
        if (reserved)
            st = buf_puts(b, "__");
        bool prev_us = false;
        for (size_t i = lo; i < hi && st == SONDE_OK; i++) {
            unsigned char c = (unsigned char)key[i];
            if ((c & 0xC0) == 0x80)
                continue;
            if (label_char(c)) {
                st = buf_putc(b, (char)c);
                prev_us = false;
            } else if (!prev_us) {
                st = buf_putc(b, '_');
                prev_us = true;
            }
        }
        if (reserved && st == SONDE_OK)
            st = buf_puts(b, "__");
    }
    if (st != SONDE_OK)
        return st;
    const char *out = b->data + start;
    size_t olen = b->len - start;
    const char *prefix = NULL;
    if (olen && is_digit((unsigned char)out[0]))
        prefix = "key_";
    else if (o->underscore_prefix && olen && out[0] == '_' && !(olen >= 2 && out[1] == '_'))
        prefix = "key";
    if (prefix) {
        size_t pl = strlen(prefix);
        st = buf_reserve(b, pl);
        if (st != SONDE_OK)
            return st;
        out = b->data + start;
        memmove(b->data + start + pl, out, olen);
        memcpy(b->data + start, prefix, pl);
        b->len += pl;
        b->data[b->len] = '\0';
        olen += pl;
        out = b->data + start;
    }
    if (only_underscores(out, olen)) {
        snprintf(err, errlen, "normalization for label name \"%.*s\" resulted in invalid name",
                 (int)(n > 64 ? 64 : n), key);
        b->len = start;
        if (b->cap)
            b->data[b->len] = '\0';
        return SONDE_ERR_INVALID;
    }
    return SONDE_OK;
}

/* ---- values ---- */

/* Shortest decimal digits that read back as v (v finite, > 0): digits
 * without trailing zeros and the decimal exponent of the first digit. */
static size_t shortest_digits(double v, char digits[24], int *exp10)
{
    char tmp[48];
    for (int p = 1; p <= 17; p++) {
        snprintf(tmp, sizeof tmp, "%.*e", p - 1, v);
        if (strtod(tmp, NULL) == v)
            break;
    }
    size_t nd = 0;
    const char *q = tmp;
    for (; *q && *q != 'e' && *q != 'E'; q++)
        if (*q >= '0' && *q <= '9' && nd < 23)
            digits[nd++] = *q;
    int e = 0, sign = 1;
    if (*q == 'e' || *q == 'E') {
        q++;
        if (*q == '-' || *q == '+')
            sign = (*q++ == '-') ? -1 : 1;
        for (; *q >= '0' && *q <= '9'; q++)
            e = e * 10 + (*q - '0');
    }
    while (nd > 1 && digits[nd - 1] == '0')
        nd--;
    digits[nd] = '\0';
    *exp10 = e * sign;
    return nd;
}

sonde_status otlp_tr_es6_float(buf *b, double v)
{
    if (isnan(v))
        return buf_puts(b, "NaN");
    if (isinf(v))
        return buf_puts(b, v > 0 ? "Infinity" : "-Infinity");
    char out[400];
    size_t o = 0;
    if (signbit(v))
        out[o++] = '-';
    double av = fabs(v);
    if (av == 0) {
        out[o++] = '0';
        return buf_append(b, out, o);
    }
    char d[24];
    int e;
    size_t nd = shortest_digits(av, d, &e);
    if (av < 1e-6 || av >= 1e21) {
        /* Go 'e' with the shortest precision, then "e-07" -> "e-7". */
        out[o++] = d[0];
        if (nd > 1) {
            out[o++] = '.';
            memcpy(out + o, d + 1, nd - 1);
            o += nd - 1;
        }
        int ae = e < 0 ? -e : e;
        o += (size_t)snprintf(out + o, sizeof out - o, "e%c%d", e < 0 ? '-' : '+', ae);
        return buf_append(b, out, o);
    }
    if (e < 0) {
        out[o++] = '0';
        out[o++] = '.';
        for (int i = 0; i < -e - 1; i++)
            out[o++] = '0';
        memcpy(out + o, d, nd);
        o += nd;
    } else {
        for (int i = 0; i <= e; i++)
            out[o++] = (size_t)i < nd ? d[i] : '0';
        if (nd > (size_t)e + 1) {
            out[o++] = '.';
            memcpy(out + o, d + e + 1, nd - (size_t)e - 1);
            o += nd - (size_t)e - 1;
        }
    }
    return buf_append(b, out, o);
}

static sonde_status base64_put(buf *b, const uint8_t *p, size_t n)
{
    static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    sonde_status st = buf_reserve(b, (n + 2) / 3 * 4);
    for (size_t i = 0; i < n && st == SONDE_OK; i += 3) {
        uint32_t x = (uint32_t)p[i] << 16;
        if (i + 1 < n)
            x |= (uint32_t)p[i + 1] << 8;
        if (i + 2 < n)
            x |= p[i + 2];
        char q[4] = {tbl[(x >> 18) & 63], tbl[(x >> 12) & 63], i + 1 < n ? tbl[(x >> 6) & 63] : '=',
                     i + 2 < n ? tbl[x & 63] : '='};
        st = buf_append(b, q, 4);
    }
    return st;
}

/* A JSON string as Go's encoding/json writes it: HTML-safe (<, >, & and
 * U+2028/U+2029 escaped), \b \f \n \r \t short forms. */
static sonde_status json_str(buf *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    sonde_status st = buf_putc(b, '"');
    size_t run = 0;
    for (size_t i = 0; i < n && st == SONDE_OK; i++) {
        unsigned char c = (unsigned char)s[i];
        char esc[8];
        size_t elen = 2;
        size_t skip = 0;
        esc[0] = '\\';
        if (c == '"' || c == '\\') {
            esc[1] = (char)c;
        } else if (c == '\n') {
            esc[1] = 'n';
        } else if (c == '\r') {
            esc[1] = 'r';
        } else if (c == '\t') {
            esc[1] = 't';
        } else if (c == '\b') {
            esc[1] = 'b';
        } else if (c == '\f') {
            esc[1] = 'f';
        } else if (c < 0x20 || c == '<' || c == '>' || c == '&') {
            memcpy(esc + 1, "u00", 3);
            esc[4] = hex[c >> 4];
            esc[5] = hex[c & 15];
            elen = 6;
        } else if (c == 0xE2 && i + 2 < n && (unsigned char)s[i + 1] == 0x80 &&
                   ((unsigned char)s[i + 2] == 0xA8 || (unsigned char)s[i + 2] == 0xA9)) {
            memcpy(esc + 1, "u202", 4);
            esc[5] = (unsigned char)s[i + 2] == 0xA8 ? '8' : '9';
            elen = 6;
            skip = 2;
        } else {
            continue;
        }
        st = buf_append(b, s + run, i - run);
        if (st == SONDE_OK)
            st = buf_append(b, esc, elen);
        i += skip;
        run = i + 1;
    }
    if (st == SONDE_OK)
        st = buf_append(b, s + run, n - run);
    if (st == SONDE_OK)
        st = buf_putc(b, '"');
    return st;
}

typedef Opentelemetry__Proto__Common__V1__AnyValue anyvalue;
typedef Opentelemetry__Proto__Common__V1__KeyValue keyvalue;

/* The decoder caps nesting at otlp_limits.max_depth; this guard only keeps a
 * hand-built tree from recursing without bound. */
#define JSON_MAX_DEPTH 128

static sonde_status json_value(buf *b, const anyvalue *v, int depth);

static int kv_key_cmp(const keyvalue *a, const keyvalue *b)
{
    const char *ka = a->key ? a->key : "", *kb = b->key ? b->key : "";
    return strcmp(ka, kb);
}

/* Go marshals a map with its keys sorted bytewise; duplicate keys in the
 * list collapse to the last one, as building the map does. */
static sonde_status json_object(buf *b, keyvalue *const *kv, size_t n, int depth)
{
    size_t stack_idx[32];
    size_t *idx = n <= 32 ? stack_idx : malloc(n * sizeof *idx);
    if (!idx)
        return SONDE_ERR_NOMEM;
    /* insertion sort keeps equal keys in list order (stable) */
    for (size_t i = 0; i < n; i++) {
        size_t j = i;
        while (j > 0 && kv_key_cmp(kv[idx[j - 1]], kv[i]) > 0) {
            idx[j] = idx[j - 1];
            j--;
        }
        idx[j] = i;
    }
    sonde_status st = buf_putc(b, '{');
    bool first = true;
    for (size_t i = 0; i < n && st == SONDE_OK; i++) {
        if (i + 1 < n && kv_key_cmp(kv[idx[i]], kv[idx[i + 1]]) == 0)
            continue; /* a later duplicate wins */
        const keyvalue *e = kv[idx[i]];
        const char *k = e->key ? e->key : "";
        if (!first)
            st = buf_putc(b, ',');
        first = false;
        if (st == SONDE_OK)
            st = json_str(b, k, strlen(k));
        if (st == SONDE_OK)
            st = buf_putc(b, ':');
        if (st == SONDE_OK)
            st = json_value(b, e->value, depth + 1);
    }
    if (st == SONDE_OK)
        st = buf_putc(b, '}');
    if (idx != stack_idx)
        free(idx);
    return st;
}

static sonde_status json_value(buf *b, const anyvalue *v, int depth)
{
    if (!v || depth > JSON_MAX_DEPTH)
        return buf_puts(b, "null");
    switch (v->value_case) {
    case OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_STRING_VALUE: {
        const char *s = v->string_value ? v->string_value : "";
        return json_str(b, s, strlen(s));
    }
    case OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_BOOL_VALUE:
        return buf_puts(b, v->bool_value ? "true" : "false");
    case OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_INT_VALUE:
        return buf_printf(b, "%lld", (long long)v->int_value);
    case OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_DOUBLE_VALUE:
        if (isnan(v->double_value) || isinf(v->double_value)) {
            /* Go's encoding/json fails here (pdata then yields ""); the
             * specification asks for these strings. */
            sonde_status st = buf_putc(b, '"');
            if (st == SONDE_OK)
                st = otlp_tr_es6_float(b, v->double_value);
            if (st == SONDE_OK)
                st = buf_putc(b, '"');
            return st;
        }
        return otlp_tr_es6_float(b, v->double_value);
    case OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_BYTES_VALUE: {
        sonde_status st = buf_putc(b, '"');
        if (st == SONDE_OK)
            st = base64_put(b, v->bytes_value.data, v->bytes_value.len);
        if (st == SONDE_OK)
            st = buf_putc(b, '"');
        return st;
    }
    case OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_ARRAY_VALUE: {
        sonde_status st = buf_putc(b, '[');
        size_t n = v->array_value ? v->array_value->n_values : 0;
        for (size_t i = 0; i < n && st == SONDE_OK; i++) {
            if (i)
                st = buf_putc(b, ',');
            if (st == SONDE_OK)
                st = json_value(b, v->array_value->values[i], depth + 1);
        }
        if (st == SONDE_OK)
            st = buf_putc(b, ']');
        return st;
    }
    case OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_KVLIST_VALUE:
        if (!v->kvlist_value)
            return buf_puts(b, "{}");
        return json_object(b, v->kvlist_value->values, v->kvlist_value->n_values, depth);
    default:
        return buf_puts(b, "null");
    }
}

sonde_status otlp_tr_value_str(buf *b, const anyvalue *v)
{
    if (!v)
        return SONDE_OK;
    switch (v->value_case) {
    case OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_STRING_VALUE:
        return v->string_value ? buf_puts(b, v->string_value) : SONDE_OK;
    case OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_BOOL_VALUE:
        return buf_puts(b, v->bool_value ? "true" : "false");
    case OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_INT_VALUE:
        return buf_printf(b, "%lld", (long long)v->int_value);
    case OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_DOUBLE_VALUE:
        return otlp_tr_es6_float(b, v->double_value);
    case OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_BYTES_VALUE:
        return base64_put(b, v->bytes_value.data, v->bytes_value.len);
    case OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_ARRAY_VALUE:
    case OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_KVLIST_VALUE:
        return json_value(b, v, 0);
    default:
        return SONDE_OK; /* empty value: the empty string */
    }
}

sonde_status otlp_anyvalue_text(buf *out, const void *value)
{
    return otlp_tr_value_str(out, value);
}
