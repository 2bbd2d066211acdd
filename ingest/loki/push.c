/*
 * push.c - Loki push bodies (JSON and snappy protobuf) into loki_push, with
 * Loki's validation, and the stored form of an entry. See loki.h.
 *
 * Bounds: the snappy header's length is checked against max_decoded before
 * the output is allocated (rw_snappy_decode); protobuf-c allocates through
 * the caller's capped arena; the JSON parser caps depth, string size and
 * value count before allocating; every label and line size is checked
 * before it is copied or sorted.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "../../core/utf8.h"
#include "../../remote_write/remote_write.h"
#include "../otlp/json.h"
#include "loki.h"
#include "loki_push.pb-c.h"

void loki_limits_defaults(loki_limits *l)
{
    l->max_decoded = 64u << 20;
    l->max_line = 256u << 10;
    l->max_labels = 15;
    l->max_name = 1024;
    l->max_value = 2048;
    l->max_metadata = 128;
    l->max_age_ns = 168LL * 3600 * 1000000000;
    l->max_future_ns = 10LL * 60 * 1000000000;
}

static sonde_status loki_err(char *err, size_t errlen, sonde_status st, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static sonde_status loki_err(char *err, size_t errlen, sonde_status st, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return st;
}

/* Appends a refusal reason to out->msg (the first few fit; the count says
 * how many there were). */
static void loki_note(loki_push *out, size_t n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void loki_note(loki_push *out, size_t n, const char *fmt, ...)
{
    out->rejected += n;
    size_t used = strlen(out->msg);
    if (used + 8 >= sizeof out->msg)
        return;
    if (used)
        used += (size_t)snprintf(out->msg + used, sizeof out->msg - used, "; ");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(out->msg + used, sizeof out->msg - used, fmt, ap);
    va_end(ap);
}

/* ---- labels ---- */

static bool loki_label_name_valid(const char *s, size_t n)
{
    if (n == 0)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
                  (i > 0 && c >= '0' && c <= '9');
        if (!ok)
            return false;
    }
    return true;
}

size_t loki_labels_format(const sonde_label *l, uint32_t n, char *out, size_t cap)
{
    size_t o = 0;
#define PUT(ch)                                                                                    \
    do {                                                                                           \
        if (o + 1 < cap)                                                                           \
            out[o] = (ch);                                                                         \
        o++;                                                                                       \
    } while (0)
    PUT('{');
    for (uint32_t i = 0; i < n; i++) {
        if (i) {
            PUT(',');
            PUT(' ');
        }
        for (uint32_t k = 0; k < l[i].name_len; k++)
            PUT(l[i].name[k]);
        PUT('=');
        PUT('"');
        for (uint32_t k = 0; k < l[i].value_len; k++) {
            char c = l[i].value[k];
            if (c == '"' || c == '\\') {
                PUT('\\');
                PUT(c);
            } else if (c == '\n') {
                PUT('\\');
                PUT('n');
            } else {
                PUT(c);
            }
        }
        PUT('"');
    }
    PUT('}');
#undef PUT
    if (cap)
        out[o < cap ? o : cap - 1] = 0;
    return o;
}

/* Sorts and checks a stream's labels. false (with a reason noted for its
 * `entries` entries) when Loki would refuse the stream. */
static bool loki_labels_check(sonde_label *l, uint32_t n, const loki_limits *lim, size_t entries,
                              loki_push *out)
{
    char sel[256];
    if (n == 0) {
        loki_note(out, entries, "error at least one label pair is required per stream");
        return false;
    }
    series_labels_sort(l, n);
    loki_labels_format(l, n, sel, sizeof sel);
    if (n > lim->max_labels) {
        loki_note(out, entries, "entry for stream '%s' has %u label names; limit %u", sel, n,
                  lim->max_labels);
        return false;
    }
    for (uint32_t i = 0; i < n; i++) {
        if (l[i].name_len > lim->max_name) {
            loki_note(out, entries, "stream '%s' has label name too long: '%.*s'", sel,
                      (int)(l[i].name_len > 64 ? 64 : l[i].name_len), l[i].name);
            return false;
        }
        if (l[i].value_len > lim->max_value) {
            loki_note(out, entries, "stream '%s' has label value too long: '%.*s'", sel,
                      (int)(l[i].value_len > 64 ? 64 : l[i].value_len), l[i].value);
            return false;
        }
        if (!loki_label_name_valid(l[i].name, l[i].name_len)) {
            loki_note(out, entries, "stream '%s' has invalid label name: '%.*s'", sel,
                      (int)(l[i].name_len > 64 ? 64 : l[i].name_len), l[i].name);
            return false;
        }
        if (!utf8_valid(l[i].value, l[i].value_len)) {
            loki_note(out, entries, "stream '%s' has a label value that is not valid UTF-8",
                      sel);
            return false;
        }
        if (i > 0 && l[i].name_len == l[i - 1].name_len &&
            memcmp(l[i].name, l[i - 1].name, l[i].name_len) == 0) {
            loki_note(out, entries, "stream '%s' has duplicate label name: '%.*s'", sel,
                      (int)l[i].name_len, l[i].name);
            return false;
        }
    }
    return true;
}

/* One (possibly quoted) Go/LogQL string literal at s[*i]: "..." with
 * escapes, or `raw`. */
static bool loki_parse_quoted(arena *a, const char *s, size_t n, size_t *i, const char **out,
                              uint32_t *olen)
{
    if (*i >= n || (s[*i] != '"' && s[*i] != '`'))
        return false;
    char q = s[(*i)++];
    char *buf = arena_alloc(a, n - *i + 1);
    if (!buf)
        return false;
    size_t o = 0;
    while (*i < n && s[*i] != q) {
        char c = s[(*i)++];
        if (c != '\\' || q == '`') {
            buf[o++] = c;
            continue;
        }
        if (*i >= n)
            return false;
        char e = s[(*i)++];
        switch (e) {
        case 'n':
            buf[o++] = '\n';
            break;
        case 't':
            buf[o++] = '\t';
            break;
        case 'r':
            buf[o++] = '\r';
            break;
        case '\\':
        case '"':
        case '\'':
            buf[o++] = e;
            break;
        default:
            return false; /* \x, \u... are rare in labels: refuse rather than guess */
        }
    }
    if (*i >= n)
        return false;
    (*i)++;
    buf[o] = 0;
    *out = buf;
    *olen = (uint32_t)o;
    return true;
}

sonde_status loki_labels_parse(arena *a, const char *s, size_t n, sonde_label **out,
                               uint32_t *nout, char *err, size_t errlen)
{
    size_t i = 0;
#define SKIP_WS()                                                                                  \
    while (i < n && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r'))                \
    i++
    SKIP_WS();
    if (i >= n || s[i] != '{')
        return loki_err(err, errlen, SONDE_ERR_INVALID, "expected '{' at position %zu", i);
    i++;
    /* at most one label per 4 bytes ("a=\"\"") */
    size_t cap = n / 4 + 1;
    sonde_label *l = arena_alloc(a, cap * sizeof *l);
    if (!l)
        return arena_refusal(a);
    uint32_t k = 0;
    SKIP_WS();
    while (i < n && s[i] != '}') {
        size_t b = i;
        while (i < n && (s[i] == '_' || (s[i] >= 'a' && s[i] <= 'z') ||
                         (s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= '0' && s[i] <= '9')))
            i++;
        if (i == b)
            return loki_err(err, errlen, SONDE_ERR_INVALID, "expected a label name at position %zu",
                            b);
        const char *name = arena_strndup(a, s + b, i - b);
        if (!name)
            return arena_refusal(a);
        uint32_t nlen = (uint32_t)(i - b);
        SKIP_WS();
        if (i >= n || s[i] != '=')
            return loki_err(err, errlen, SONDE_ERR_INVALID,
                            "expected '=' at position %zu (only equality matchers in a pushed "
                            "stream)",
                            i);
        i++;
        SKIP_WS();
        const char *v;
        uint32_t vlen;
        if (!loki_parse_quoted(a, s, n, &i, &v, &vlen))
            return loki_err(err, errlen, SONDE_ERR_INVALID,
                            "expected a quoted label value at position %zu", i);
        if (k == cap)
            return loki_err(err, errlen, SONDE_ERR_INVALID, "too many labels");
        l[k++] = (sonde_label){name, v, nlen, vlen};
        SKIP_WS();
        if (i < n && s[i] == ',') {
            i++;
            SKIP_WS();
        } else if (i < n && s[i] != '}') {
            return loki_err(err, errlen, SONDE_ERR_INVALID, "expected ',' or '}' at position %zu",
                            i);
        }
    }
    if (i >= n)
        return loki_err(err, errlen, SONDE_ERR_INVALID, "missing '}'");
    i++;
    SKIP_WS();
    if (i != n)
        return loki_err(err, errlen, SONDE_ERR_INVALID, "unexpected text after '}'");
#undef SKIP_WS
    *out = l;
    *nout = k;
    return SONDE_OK;
}

/* ---- entries ---- */

static void loki_ts_text(int64_t ns, char *out, size_t cap)
{
    time_t s = (time_t)(ns / 1000000000);
    struct tm tm;
    gmtime_r(&s, &tm);
    strftime(out, cap, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* Keeps or refuses one entry (Loki's per-entry checks). */
static bool loki_entry_check(const loki_stream *st, const loki_entry *e, const loki_limits *lim,
                             int64_t now_ns, loki_push *out)
{
    char sel[256], t1[40], t2[40];
    if (e->line_len > lim->max_line) {
        loki_labels_format(st->labels, st->nlabels, sel, sizeof sel);
        loki_note(out, 1,
                  "Max entry size '%zu' bytes exceeded for stream '%s' while adding an entry "
                  "with length '%zu' bytes",
                  lim->max_line, sel, e->line_len);
        return false;
    }
    if (lim->max_age_ns > 0 && e->ts_ns < now_ns - lim->max_age_ns) {
        loki_labels_format(st->labels, st->nlabels, sel, sizeof sel);
        loki_ts_text(e->ts_ns, t1, sizeof t1);
        loki_ts_text(now_ns - lim->max_age_ns, t2, sizeof t2);
        loki_note(out, 1,
                  "entry for stream '%s' has timestamp too old: %s, oldest acceptable "
                  "timestamp is: %s",
                  sel, t1, t2);
        return false;
    }
    if (lim->max_future_ns > 0 && e->ts_ns > now_ns + lim->max_future_ns) {
        loki_labels_format(st->labels, st->nlabels, sel, sizeof sel);
        loki_ts_text(e->ts_ns, t1, sizeof t1);
        loki_note(out, 1, "entry for stream '%s' has timestamp too new: %s", sel, t1);
        return false;
    }
    if (e->nmeta > lim->max_metadata) {
        loki_labels_format(st->labels, st->nlabels, sel, sizeof sel);
        loki_note(out, 1, "entry for stream '%s' has %u structured metadata pairs; limit %u",
                  sel, e->nmeta, lim->max_metadata);
        return false;
    }
    return true;
}

/* Validates a stream that was decoded with all its entries: labels first
 * (refusing every entry), then each entry; compacts the kept entries. */
static bool loki_stream_finish(loki_stream *st, const loki_limits *lim, int64_t now_ns,
                               loki_push *out)
{
    if (!loki_labels_check(st->labels, st->nlabels, lim, st->nentries, out))
        return false;
    size_t kept = 0;
    for (size_t i = 0; i < st->nentries; i++) {
        if (!loki_entry_check(st, &st->entries[i], lim, now_ns, out))
            continue;
        out->line_bytes += st->entries[i].line_len;
        st->entries[kept++] = st->entries[i];
    }
    st->nentries = kept;
    out->nentries += kept;
    return kept > 0;
}

/* ---- JSON ---- */

static bool loki_json_i64(const json_value *v, int64_t *out)
{
    if (v->type == JSON_STRING) {
        json_value tmp = *v;
        tmp.type = JSON_NUMBER;
        return json_number_syntax(v->s, v->len) && json_number_i64(&tmp, out);
    }
    return v->type == JSON_NUMBER && json_number_i64(v, out);
}

static sonde_status loki_json_labels(arena *a, const json_value *obj, const loki_limits *lim,
                                     sonde_label **out, uint32_t *n, const char *what, char *err,
                                     size_t errlen)
{
    if (!obj || obj->type != JSON_OBJECT)
        return loki_err(err, errlen, SONDE_ERR_INVALID, "%s: expected an object", what);
    if (obj->n > 4096)
        return loki_err(err, errlen, SONDE_ERR_LIMIT, "%s: more than 4096 labels", what);
    sonde_label *l = arena_alloc(a, (obj->n ? obj->n : 1) * sizeof *l);
    if (!l)
        return arena_refusal(a);
    uint32_t k = 0;
    for (const json_value *m = obj->child; m; m = m->next) {
        if (m->type != JSON_STRING)
            return loki_err(err, errlen, SONDE_ERR_INVALID, "%s.%.*s: expected a string", what,
                            (int)(m->key_len > 64 ? 64 : m->key_len), m->key);
        (void)lim;
        l[k++] = (sonde_label){m->key, m->s, (uint32_t)m->key_len, (uint32_t)m->len};
    }
    *out = l;
    *n = k;
    return SONDE_OK;
}

sonde_status loki_push_decode_json(arena *a, const uint8_t *body, size_t len,
                                   const loki_limits *lim, int64_t now_ns, loki_push *out,
                                   char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    if (len > lim->max_decoded)
        return loki_err(err, errlen, SONDE_ERR_LIMIT, "body of %zu bytes exceeds %zu", len,
                        lim->max_decoded);
    /* strings as long as the body: an over-long line is refused on its own */
    json_limits jl = {.max_depth = 8, .max_str = len + 1, .max_values = len / 2 + 16};
    json_value *doc = NULL;
    sonde_status st = json_parse(a, (const char *)body, len, &jl, &doc, err, errlen);
    if (st != SONDE_OK)
        return st;
    if (doc->type != JSON_OBJECT)
        return loki_err(err, errlen, SONDE_ERR_INVALID, "expected a JSON object");
    const json_value *streams = json_object_get(doc, "streams");
    if (!streams || streams->type != JSON_ARRAY)
        return loki_err(err, errlen, SONDE_ERR_INVALID, "streams: expected an array");
    out->streams = arena_alloc(a, (streams->n ? streams->n : 1) * sizeof *out->streams);
    if (!out->streams)
        return arena_refusal(a);
    size_t si = 0;
    for (const json_value *sv = streams->child; sv; sv = sv->next, si++) {
        char what[48];
        snprintf(what, sizeof what, "streams[%zu]", si);
        if (sv->type != JSON_OBJECT)
            return loki_err(err, errlen, SONDE_ERR_INVALID, "%s: expected an object", what);
        loki_stream *ls = &out->streams[out->nstreams];
        memset(ls, 0, sizeof *ls);
        char sw[64];
        snprintf(sw, sizeof sw, "%s.stream", what);
        st = loki_json_labels(a, json_object_get(sv, "stream"), lim, &ls->labels, &ls->nlabels, sw,
                              err, errlen);
        if (st != SONDE_OK)
            return st;
        const json_value *vals = json_object_get(sv, "values");
        if (!vals || vals->type != JSON_ARRAY)
            return loki_err(err, errlen, SONDE_ERR_INVALID, "%s.values: expected an array", what);
        ls->entries = arena_alloc(a, (vals->n ? vals->n : 1) * sizeof *ls->entries);
        if (!ls->entries)
            return arena_refusal(a);
        size_t vi = 0;
        for (const json_value *ev = vals->child; ev; ev = ev->next, vi++) {
            if (ev->type != JSON_ARRAY || ev->n < 2 || ev->n > 3)
                return loki_err(err, errlen, SONDE_ERR_INVALID,
                                "%s.values[%zu]: expected [\"<unix epoch in nanoseconds>\", "
                                "\"<log line>\"] or with a third element of structured metadata",
                                what, vi);
            loki_entry *e = &ls->entries[ls->nentries];
            memset(e, 0, sizeof *e);
            const json_value *tv = ev->child, *lv = tv->next;
            if (!loki_json_i64(tv, &e->ts_ns))
                return loki_err(err, errlen, SONDE_ERR_INVALID,
                                "%s.values[%zu][0]: timestamp is not an integer number of "
                                "nanoseconds",
                                what, vi);
            if (lv->type != JSON_STRING)
                return loki_err(err, errlen, SONDE_ERR_INVALID,
                                "%s.values[%zu][1]: the log line must be a string", what, vi);
            e->line = lv->s;
            e->line_len = lv->len;
            if (lv->next) {
                char mw[80];
                snprintf(mw, sizeof mw, "%s.values[%zu][2]", what, vi);
                st = loki_json_labels(a, lv->next, lim, &e->meta, &e->nmeta, mw, err, errlen);
                if (st != SONDE_OK)
                    return st;
            }
            ls->nentries++;
        }
        if (loki_stream_finish(ls, lim, now_ns, out))
            out->nstreams++;
    }
    return SONDE_OK;
}

/* ---- protobuf ---- */

static void *loki_pb_alloc(void *ad, size_t n)
{
    return arena_alloc(ad, n ? n : 1);
}

static void loki_pb_free(void *ad, void *p)
{
    (void)ad;
    (void)p;
}

sonde_status loki_push_decode_proto(arena *a, const uint8_t *body, size_t len,
                                    const loki_limits *lim, int64_t now_ns, loki_push *out,
                                    char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    uint8_t *raw = NULL;
    size_t rlen = 0;
    sonde_status st = rw_snappy_decode(a, body, len, lim->max_decoded, &raw, &rlen, err, errlen);
    if (st != SONDE_OK)
        return st;
    ProtobufCAllocator pa = {loki_pb_alloc, loki_pb_free, a};
    Logproto__PushRequest *rq = logproto__push_request__unpack(&pa, rlen, raw);
    if (!rq) {
        if (arena_cap_hit(a))
            return loki_err(err, errlen, SONDE_ERR_LIMIT,
                            "decoded request exceeds the memory cap");
        return loki_err(err, errlen, SONDE_ERR_INVALID,
                        "invalid protobuf: not a logproto.PushRequest");
    }
    out->streams = arena_alloc(a, (rq->n_streams ? rq->n_streams : 1) * sizeof *out->streams);
    if (!out->streams)
        return arena_refusal(a);
    for (size_t i = 0; i < rq->n_streams; i++) {
        const Logproto__StreamAdapter *sa = rq->streams[i];
        loki_stream *ls = &out->streams[out->nstreams];
        memset(ls, 0, sizeof *ls);
        size_t slen = strlen(sa->labels);
        if (!utf8_valid(sa->labels, slen))
            return loki_err(err, errlen, SONDE_ERR_INVALID,
                            "streams[%zu].labels: not valid UTF-8", i);
        char perr[160] = "";
        st = loki_labels_parse(a, sa->labels, slen, &ls->labels, &ls->nlabels, perr, sizeof perr);
        if (st == SONDE_ERR_NOMEM || st == SONDE_ERR_LIMIT)
            return st;
        if (st != SONDE_OK) {
            loki_note(out, sa->n_entries, "error parsing labels '%.*s' with error: %s",
                      (int)(slen > 128 ? 128 : slen), sa->labels, perr);
            continue;
        }
        ls->entries = arena_alloc(a, (sa->n_entries ? sa->n_entries : 1) * sizeof *ls->entries);
        if (!ls->entries)
            return arena_refusal(a);
        for (size_t k = 0; k < sa->n_entries; k++) {
            const Logproto__EntryAdapter *ea = sa->entries[k];
            loki_entry *e = &ls->entries[ls->nentries++];
            memset(e, 0, sizeof *e);
            if (ea->timestamp)
                e->ts_ns = ea->timestamp->seconds * 1000000000 + ea->timestamp->nanos;
            e->line = ea->line;
            e->line_len = strlen(ea->line);
            if (!utf8_valid(e->line, e->line_len))
                return loki_err(err, errlen, SONDE_ERR_INVALID,
                                "streams[%zu].entries[%zu].line: not valid UTF-8", i, k);
            if (ea->n_structuredmetadata) {
                e->meta = arena_alloc(a, ea->n_structuredmetadata * sizeof *e->meta);
                if (!e->meta)
                    return arena_refusal(a);
                for (size_t m = 0; m < ea->n_structuredmetadata; m++) {
                    const Logproto__LabelPairAdapter *lp = ea->structuredmetadata[m];
                    size_t nl = strlen(lp->name), vl = strlen(lp->value);
                    if (!utf8_valid(lp->name, nl) || !utf8_valid(lp->value, vl))
                        return loki_err(err, errlen, SONDE_ERR_INVALID,
                                        "streams[%zu].entries[%zu].structuredMetadata: not "
                                        "valid UTF-8",
                                        i, k);
                    e->meta[m] = (sonde_label){lp->name, lp->value, (uint32_t)nl, (uint32_t)vl};
                }
                e->nmeta = (uint32_t)ea->n_structuredmetadata;
            }
        }
        if (loki_stream_finish(ls, lim, now_ns, out))
            out->nstreams++;
    }
    return SONDE_OK;
}

/* ---- stored form ---- */

static size_t loki_varint_len(uint64_t v)
{
    size_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

static uint8_t *loki_put_varint(uint8_t *p, uint64_t v)
{
    while (v >= 0x80) {
        *p++ = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    *p++ = (uint8_t)v;
    return p;
}

/* Length-delimited field: tag, length, then the caller writes len bytes. */
static uint8_t *loki_put_ld(uint8_t *p, uint8_t tag, size_t len)
{
    *p++ = tag;
    return loki_put_varint(p, len);
}

static size_t loki_ld_size(size_t len)
{
    return 1 + loki_varint_len(len) + len;
}

sonde_status loki_entry_pack(arena *a, const loki_entry *e, uint8_t **out, size_t *len)
{
    /* AnyValue{string_value=1} */
    size_t body_any = loki_ld_size(e->line_len);
    size_t rec = 9 /* time_unix_nano: fixed64, field 1 */ + loki_ld_size(body_any) /* body, 5 */;
    for (uint32_t i = 0; i < e->nmeta; i++) {
        size_t any = loki_ld_size(e->meta[i].value_len);
        size_t kv = loki_ld_size(e->meta[i].name_len) + loki_ld_size(any);
        rec += loki_ld_size(kv); /* attributes, 6 */
    }
    size_t scope = loki_ld_size(rec);   /* ScopeLogs.log_records, 2 */
    size_t total = loki_ld_size(scope); /* ResourceLogs.scope_logs, 2 */
    uint8_t *buf = arena_alloc(a, total);
    if (!buf)
        return arena_refusal(a);
    uint8_t *p = loki_put_ld(buf, 0x12, scope);
    p = loki_put_ld(p, 0x12, rec);
    *p++ = 0x09;
    uint64_t t = (uint64_t)e->ts_ns;
    for (int i = 0; i < 8; i++)
        *p++ = (uint8_t)(t >> (8 * i));
    p = loki_put_ld(p, 0x2a, body_any);
    p = loki_put_ld(p, 0x0a, e->line_len);
    if (e->line_len)
        memcpy(p, e->line, e->line_len);
    p += e->line_len;
    for (uint32_t i = 0; i < e->nmeta; i++) {
        const sonde_label *m = &e->meta[i];
        size_t any = loki_ld_size(m->value_len);
        size_t kv = loki_ld_size(m->name_len) + loki_ld_size(any);
        p = loki_put_ld(p, 0x32, kv);
        p = loki_put_ld(p, 0x0a, m->name_len);
        memcpy(p, m->name, m->name_len);
        p += m->name_len;
        p = loki_put_ld(p, 0x12, any);
        p = loki_put_ld(p, 0x0a, m->value_len);
        if (m->value_len)
            memcpy(p, m->value, m->value_len);
        p += m->value_len;
    }
    *out = buf;
    *len = (size_t)(p - buf);
    return SONDE_OK;
}
