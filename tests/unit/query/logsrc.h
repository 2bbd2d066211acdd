/*
 * logsrc.h - an in-memory logql_source for the LogQL unit tests: streams
 * given as "{a=\"b\",c=\"d\"}" text, entries as (ts, line, "k=v,k2=v2"
 * structured metadata). Header-only; entries per stream must be added in
 * ascending ts order.
 */
#ifndef SONDE_TEST_QUERY_LOGSRC_H
#define SONDE_TEST_QUERY_LOGSRC_H

#include <stdlib.h>
#include <string.h>

#include "query/logql.h"

#define LS_MAX_STREAMS 32
#define LS_MAX_ENTRIES 512

typedef struct ls_entry {
    int64_t ts;
    const char *line;
    sonde_label meta[8];
    uint32_t nmeta;
    uint32_t weight; /* sample rate (0: not sampled) */
} ls_entry;

typedef struct ls_stream {
    sonde_label labels[16];
    uint32_t nlabels;
    ls_entry e[LS_MAX_ENTRIES];
    size_t n;
} ls_stream;

typedef struct logsrc {
    ls_stream s[LS_MAX_STREAMS];
    size_t n;
    arena *a; /* the label strings */
} logsrc;

/* Empties the source (frees its strings); also the way to start one. */
static void ls_reset(logsrc *src)
{
    arena_destroy(src->a);
    memset(src, 0, sizeof *src);
    src->a = arena_create(4096, 0);
}

/* Splits "a=b,c=d" (or {a="b", c="d"}) into labels (strings point into a strdup). */
static uint32_t ls_parse_labels(arena *a, const char *text, sonde_label *out, uint32_t max)
{
    char *t = arena_strndup(a, text, strlen(text)); /* the labels point into it */
    uint32_t n = 0;
    char *p = t;
    while (*p && n < max) {
        while (*p == '{' || *p == ',' || *p == ' ')
            p++;
        if (!*p || *p == '}')
            break;
        char *name = p;
        while (*p && *p != '=')
            p++;
        if (!*p)
            break;
        *p++ = 0;
        char *val;
        if (*p == '"') {
            val = ++p;
            while (*p && *p != '"')
                p++;
        } else {
            val = p;
            while (*p && *p != ',' && *p != '}')
                p++;
        }
        char c = *p;
        *p = 0;
        out[n++] = (sonde_label){name, val, (uint32_t)strlen(name), (uint32_t)strlen(val)};
        if (!c)
            break;
        p++;
    }
    series_labels_sort(out, n);
    return n;
}

static ls_stream *ls_stream_add(logsrc *src, const char *labels)
{
    ls_stream *s = &src->s[src->n++];
    memset(s, 0, sizeof *s);
    s->nlabels = ls_parse_labels(src->a, labels, s->labels, 16);
    return s;
}

static void ls_add(logsrc *src, ls_stream *s, int64_t ts, const char *line, const char *meta)
{
    ls_entry *e = &s->e[s->n++];
    e->ts = ts;
    e->line = line;
    e->nmeta = meta ? ls_parse_labels(src->a, meta, e->meta, 8) : 0;
}

static bool ls_matches(const storage_matcher *m, const ls_stream *s)
{
    const sonde_label *l = series_labels_get(s->labels, s->nlabels, m->name, m->name_len);
    const char *v = l ? l->value : "";
    size_t n = l ? l->value_len : 0;
    bool eq = n == m->value_len && memcmp(v, m->value, n) == 0;
    switch (m->op) {
    case STORAGE_MATCH_EQ:
        return eq;
    case STORAGE_MATCH_NEQ:
        return !eq;
    case STORAGE_MATCH_RE:
        return m->re_match(m->re_ctx, v, n);
    case STORAGE_MATCH_NRE:
        return !m->re_match(m->re_ctx, v, n);
    }
    return false;
}

static sonde_status ls_streams(void *ctx, const storage_matcher *m, size_t nm, arena *a,
                               logql_stream_ref **out, size_t *n)
{
    logsrc *src = ctx;
    logql_stream_ref *r = arena_alloc(a, (src->n ? src->n : 1) * sizeof *r);
    *n = 0;
    for (size_t i = 0; i < src->n; i++) {
        bool ok = true;
        for (size_t k = 0; k < nm && ok; k++)
            ok = ls_matches(&m[k], &src->s[i]);
        if (ok)
            r[(*n)++] = (logql_stream_ref){i, src->s[i].labels, src->s[i].nlabels};
    }
    *out = r;
    return SONDE_OK;
}

static sonde_status ls_scan(void *ctx, uint64_t id, int64_t mint, int64_t maxt, bool backward,
                            logql_entry_fn fn, void *uctx)
{
    logsrc *src = ctx;
    ls_stream *s = &src->s[id];
    for (size_t k = 0; k < s->n; k++) {
        ls_entry *e = &s->e[backward ? s->n - 1 - k : k];
        if (e->ts < mint || e->ts > maxt)
            continue;
        logql_entry le = {e->ts, e->line, strlen(e->line), e->meta, e->nmeta, e->weight};
        if (!fn(uctx, &le))
            break;
    }
    return SONDE_OK;
}

static void ls_source(logsrc *src, logql_source *out)
{
    out->ctx = src;
    out->streams = ls_streams;
    out->scan = ls_scan;
}

#endif
