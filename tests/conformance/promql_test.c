/*
 * promql_test.c - runs Prometheus' PromQL test scripts (*.test, the format of
 * ../shared/conformance/promql/FORMAT.md) against sonde's real storage and
 * PromQL engine.
 *
 *   promql-test [--verbose] [--reopen] [--expect FILE] [--write-expected FILE]
 *               [FILE|DIR]...
 *
 * Design: a script is read line by line into commands (load, clear, eval).
 * `load` parses each series description and appends the samples with
 * storage_append_direct() to a storage opened on a fresh mkdtemp directory
 * (one per file; a `clear` switches to a fresh tenant, an empty view of the
 * same storage, or with --reopen reopens a new one). `eval` parses the query with query_parse()
 * and evaluates it through query_eval_instant()/query_eval_range() with the
 * storage-backed query_source, exactly as the HTTP API does. Results are
 * compared as promqltest does: label sets exactly, floats with almost.Equal
 * (relative 1e-6), order only under `expect ordered`, matrices sorted by
 * labels; instant evals are also run with `@ <t>` rewritten selectors at other
 * evaluation times and as a range query around t (FORMAT.md 5.1).
 *
 * A case is identified by "file:line: expr" (the line of its eval command).
 * With --expect, the exit status is 1 only if a case listed in FILE does not
 * pass now (a regression); other failures are reported. --write-expected
 * writes the list of cases that pass.
 *
 * Native histogram literals ({{...}}, {{H}}+{{D}}xK) are stored with
 * storage_append_histograms_direct(); load_with_nhcb also converts each
 * classic histogram family to a custom-bucket histogram. Histogram results
 * are compared as promqltest does (compacted buckets, counts with
 * almost.Equal, zero threshold and bounds exact, the hint only when stated).
 *
 * Skips (reported with the reason, not counted as passes): a failing case
 * that reads series loaded with start timestamps (`@st`), which sonde does
 * not store. native_histograms.test is run and reported but not counted in
 * the totals. Nothing here knows about particular cases. A missing FILE|DIR
 * exits 77 (ctest: skipped), except under CI=true.
 *
 * Ownership: one arena per file for parsed script data, one per evaluation
 * for the engine. Single-threaded (storage runs its own threads).
 */
#include <dirent.h>
#include <ftw.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/parse.h"
#include "core/timeutil.h"
#include "query/eval.h"
#include "query/eval_internal.h"
#include "query/promql.h"
#include "storage/storage.h"

#define MAX_LINE 65536

/* ---- small helpers ---- */

static char *str_trim(char *s)
{
    while (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n')
        s++;
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r' || s[n - 1] == '\n'))
        s[--n] = '\0';
    return s;
}

static bool str_prefix(const char *s, const char *p)
{
    return strncmp(s, p, strlen(p)) == 0;
}

static bool str_iprefix(const char *s, const char *p)
{
    return strncasecmp(s, p, strlen(p)) == 0;
}

/* Skips one whitespace-separated word; returns the rest (trimmed). */
static char *str_next_word(char *s, char **word)
{
    while (*s == ' ' || *s == '\t')
        s++;
    *word = s;
    while (*s && *s != ' ' && *s != '\t')
        s++;
    if (*s)
        *s++ = '\0';
    while (*s == ' ' || *s == '\t')
        s++;
    return s;
}

/* Durations as in the scripts: "0", "5m", "1h30m", and "-5m". */
static bool conf_duration(const char *s, int64_t *out)
{
    bool neg = s[0] == '-';
    int64_t v;
    if (!parse_duration_ms(s + neg, strlen(s + neg), &v))
        return false;
    *out = neg ? -v : v;
    return true;
}

/* parseNumber: floats (Inf/NaN), hex and octal integers. */
static bool conf_number(const char *s, size_t n, double *out)
{
    if (n == 0)
        return false;
    size_t sign = (s[0] == '+' || s[0] == '-');
    const char *b = s + sign;
    size_t bn = n - sign;
    if (bn > 2 && b[0] == '0' && (b[1] == 'x' || b[1] == 'X')) {
        uint64_t v = 0;
        for (size_t i = 2; i < bn; i++) {
            char c = b[i];
            int d = c >= '0' && c <= '9'   ? c - '0'
                    : c >= 'a' && c <= 'f' ? c - 'a' + 10
                    : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                           : -1;
            if (d < 0)
                return false;
            v = v * 16 + (uint64_t)d;
        }
        *out = s[0] == '-' ? -(double)v : (double)v;
        return true;
    }
    return parse_f64(s, n, out);
}

static double conf_stale_nan(void)
{
    union {
        uint64_t u;
        double d;
    } st = {SONDE_STALE_NAN_BITS};
    return st.d;
}

/* almost.Equal with epsilon 1e-6. */
static bool conf_almost_equal(double a, double b)
{
    bool sa = series_value_is_stale(a), sb = series_value_is_stale(b);
    if (sa || sb)
        return sa && sb;
    if (isnan(a) && isnan(b))
        return true;
    if (a == b)
        return true;
    const double eps = 1e-6, min_normal = 2.2250738585072014e-308;
    double sum = fabs(a) + fabs(b), diff = fabs(a - b);
    if (a == 0 || b == 0 || sum < min_normal)
        return diff < eps * min_normal;
    return diff / fmin(sum, 1.7976931348623157e308) < eps;
}

/* ---- series descriptions ---- */

/* One value slot of a series description: a float, a stale marker, a
 * native histogram (h) or nothing (`_`). */
typedef struct conf_slot {
    double v;
    bool present;
    bool hist;
    sonde_fhist *h;
    bool hint_set; /* the literal states counter_reset_hint */
} conf_slot;

typedef struct conf_series {
    sonde_label *labels;
    uint32_t nlabels;
    conf_slot *slots;
    size_t n, cap;
    bool hist;
} conf_series;

static bool conf_slot_push(arena *a, conf_series *s, conf_slot v)
{
    if (s->n == s->cap) {
        size_t nc = s->cap ? s->cap * 2 : 16;
        conf_slot *ns = arena_realloc(a, s->slots, s->cap * sizeof(*ns), nc * sizeof(*ns));
        if (!ns)
            return false;
        s->slots = ns;
        s->cap = nc;
    }
    s->slots[s->n++] = v;
    return true;
}

/* Splits "labels values..." after the label part (braces and quotes aware). */
static char *conf_split_labels(char *line)
{
    char *p = line;
    int depth = 0;
    char q = 0;
    for (; *p; p++) {
        if (q) {
            if (*p == '\\' && p[1])
                p++;
            else if (*p == q)
                q = 0;
            continue;
        }
        if (*p == '"' || *p == '\'' || *p == '`') {
            q = *p;
        } else if (*p == '{') {
            depth++;
        } else if (*p == '}') {
            if (--depth == 0) {
                p++;
                break;
            }
        } else if (depth == 0 && (*p == ' ' || *p == '\t')) {
            break;
        }
    }
    if (*p) {
        *p = '\0';
        return str_trim(p + 1);
    }
    return p;
}

/* Label set of a series description through the PromQL parser (equality
 * matchers only, as in a selector). */
static bool conf_labels_parse(arena *a, const char *text, sonde_label **out, uint32_t *nout)
{
    *out = NULL;
    *nout = 0;
    if (strcmp(text, "{}") == 0)
        return true;
    query_node *root = NULL;
    query_parse_error perr;
    if (query_parse(a, text, strlen(text), &root, &perr) != SONDE_OK)
        return false;
    bool ok = root->kind == QN_VECTOR_SEL;
    if (ok) {
        sonde_label *l = arena_calloc(a, root->u.vs.nm + 1, sizeof(*l));
        ok = l != NULL;
        for (size_t i = 0; ok && i < root->u.vs.nm; i++) {
            const query_matcher *m = &root->u.vs.m[i];
            ok = m->op == QUERY_MATCH_EQ;
            l[i] = (sonde_label){m->name, m->value, (uint32_t)m->name_len, (uint32_t)m->value_len};
        }
        if (ok) {
            series_labels_sort(l, (uint32_t)root->u.vs.nm);
            *out = l;
            *nout = (uint32_t)root->u.vs.nm;
        }
    }
    query_ast_release(root);
    return ok;
}

/* A float list "[1 2 3]" at *p (advanced past it). */
static bool conf_hist_list(arena *a, const char **p, double **out, uint32_t *n)
{
    const char *q = *p;
    if (*q != '[')
        return false;
    q++;
    size_t cap = 8;
    double *v = arena_alloc(a, cap * sizeof(double));
    uint32_t k = 0;
    for (;;) {
        while (*q == ' ')
            q++;
        if (*q == ']') {
            q++;
            break;
        }
        const char *e = q;
        while (*e && *e != ' ' && *e != ']')
            e++;
        if (e == q || !v)
            return false;
        if (k == cap) {
            double *nv = arena_realloc(a, v, cap * sizeof(double), cap * 2 * sizeof(double));
            if (!nv)
                return false;
            v = nv;
            cap *= 2;
        }
        if (!conf_number(q, (size_t)(e - q), &v[k++]))
            return false;
        q = e;
    }
    *p = q;
    *out = v;
    *n = k;
    return true;
}

/* {{schema:0 sum:5 count:4 z_bucket:1 z_bucket_w:0.001 buckets:[1 2] offset:1
 * n_buckets:[1] n_offset:0 custom_values:[..] counter_reset_hint:gauge}};
 * *p points after the closing braces on success. */
static bool conf_hist_parse(arena *a, const char **p, sonde_fhist **out, bool *hint_set)
{
    const char *q = *p;
    if (strncmp(q, "{{", 2) != 0)
        return false;
    q += 2;
    sonde_fhist *h = arena_calloc(a, 1, sizeof(*h));
    double *pb = NULL, *nb = NULL;
    uint32_t npb = 0, nnb = 0;
    int64_t po = 0, no = 0;
    *hint_set = false;
    if (!h)
        return false;
    for (;;) {
        while (*q == ' ')
            q++;
        if (strncmp(q, "}}", 2) == 0) {
            q += 2;
            break;
        }
        const char *colon = strchr(q, ':');
        if (!colon)
            return false;
        size_t kl = (size_t)(colon - q);
        const char *key = q;
        q = colon + 1;
#define KEY(s) (kl == strlen(s) && strncmp(key, s, kl) == 0)
        if (KEY("buckets") || KEY("n_buckets") || KEY("custom_values")) {
            double *v;
            uint32_t n;
            if (!conf_hist_list(a, &q, &v, &n))
                return false;
            if (KEY("buckets")) {
                pb = v;
                npb = n;
            } else if (KEY("n_buckets")) {
                nb = v;
                nnb = n;
            } else {
                h->custom = v;
                h->ncustom = n;
            }
            continue;
        }
        const char *e = q;
        while (*e && *e != ' ' && strncmp(e, "}}", 2) != 0)
            e++;
        size_t vl = (size_t)(e - q);
        if (KEY("counter_reset_hint")) {
            *hint_set = true;
            if (vl == 5 && !strncmp(q, "reset", 5))
                h->hint = SONDE_HIST_HINT_RESET;
            else if (vl == 9 && !strncmp(q, "not_reset", 9))
                h->hint = SONDE_HIST_HINT_NOT_RESET;
            else if (vl == 5 && !strncmp(q, "gauge", 5))
                h->hint = SONDE_HIST_HINT_GAUGE;
            else if (vl == 7 && !strncmp(q, "unknown", 7))
                h->hint = SONDE_HIST_HINT_UNKNOWN;
            else
                return false;
        } else {
            double d;
            if (!conf_number(q, vl, &d))
                return false;
            if (KEY("schema"))
                h->schema = (int32_t)d;
            else if (KEY("sum"))
                h->sum = d;
            else if (KEY("count"))
                h->count = d;
            else if (KEY("z_bucket"))
                h->zero_count = d;
            else if (KEY("z_bucket_w"))
                h->zero_threshold = d;
            else if (KEY("offset"))
                po = (int64_t)d;
            else if (KEY("n_offset"))
                no = (int64_t)d;
            else
                return false;
        }
#undef KEY
        q = e;
    }
    h->pos_idx = arena_alloc(a, (npb + 1) * sizeof(int32_t));
    h->neg_idx = arena_alloc(a, (nnb + 1) * sizeof(int32_t));
    if (!h->pos_idx || !h->neg_idx)
        return false;
    h->pos = pb;
    h->neg = nb;
    h->npos = npb;
    h->nneg = nnb;
    for (uint32_t i = 0; i < npb; i++)
        h->pos_idx[i] = (int32_t)(po + i);
    for (uint32_t i = 0; i < nnb; i++)
        h->neg_idx[i] = (int32_t)(no + i);
    *p = q;
    *out = h;
    return true;
}

/* {{H}}, {{H}}xK, {{H}}+{{D}}xK, {{H}}-{{D}}xK */
static bool conf_hist_item_parse(arena *a, conf_series *s, const char *it)
{
    const char *p = it;
    sonde_fhist *h, *d = NULL;
    bool hs, ds = false, sub = false;
    if (!conf_hist_parse(a, &p, &h, &hs))
        return false;
    if (*p == '+' || *p == '-') {
        sub = *p == '-';
        p++;
        if (!conf_hist_parse(a, &p, &d, &ds))
            return false;
    }
    uint64_t k = 0;
    if (*p == 'x') {
        if (!parse_u64(p + 1, strlen(p + 1), &k) || k > 100000)
            return false;
    } else if (*p || d) {
        return false;
    }
    s->hist = true;
    for (uint64_t i = 0; i <= k; i++) {
        if (!conf_slot_push(a, s, (conf_slot){0, true, true, h, hs}))
            return false;
        if (d && i < k) {
            unsigned fl = 0;
            sonde_fhist *nh;
            if (query_hist_add(a, h, d, sub, &nh, &fl) != SONDE_OK || !nh)
                return false;
            h = nh;
        }
    }
    return true;
}

/* One value item: N, AxK, A+BxK, A-BxK, _, _xK, stale, {{...}}[xK]. */
static bool conf_item_parse(arena *a, conf_series *s, const char *it)
{
    size_t n = strlen(it);
    if (it[0] == '{')
        return conf_hist_item_parse(a, s, it);
    if (strcmp(it, "_") == 0)
        return conf_slot_push(a, s, (conf_slot){0, false, false, NULL, false});
    if (strcmp(it, "stale") == 0)
        return conf_slot_push(a, s, (conf_slot){conf_stale_nan(), true, false, NULL, false});
    const char *x = strchr(it, 'x');
    if (!x) {
        double v;
        return conf_number(it, n, &v) &&
               conf_slot_push(a, s, (conf_slot){v, true, false, NULL, false});
    }
    uint64_t k;
    if (!parse_u64(x + 1, strlen(x + 1), &k) || k > 1000000)
        return false;
    if (x == it + 1 && it[0] == '_') {
        for (uint64_t i = 0; i < k; i++)
            if (!conf_slot_push(a, s, (conf_slot){0, false, false, NULL, false}))
                return false;
        return true;
    }
    /* A, or A+B / A-B: the operator is a sign not at the start and not
     * after an exponent marker. */
    size_t alen = (size_t)(x - it), op = 0;
    for (size_t i = 1; i < alen; i++)
        if ((it[i] == '+' || it[i] == '-') && it[i - 1] != 'e' && it[i - 1] != 'E')
            op = i;
    double av, bv = 0;
    if (!conf_number(it, op ? op : alen, &av))
        return false;
    if (op && !conf_number(it + op + 1, alen - op - 1, &bv))
        return false;
    if (op && it[op] == '-')
        bv = -bv;
    for (uint64_t i = 0; i <= k; i++) {
        if (!conf_slot_push(a, s, (conf_slot){av, true, false, NULL, false}))
            return false;
        av += bv;
    }
    return true;
}

static int conf_brace_depth(const char *w)
{
    int d = 0;
    for (; *w; w++)
        d += *w == '{' ? 1 : *w == '}' ? -1 : 0;
    return d;
}

/* "labels items..." into *s. */
static bool conf_series_parse(arena *a, char *line, conf_series *s)
{
    memset(s, 0, sizeof(*s));
    char *vals = conf_split_labels(line);
    if (!conf_labels_parse(a, line, &s->labels, &s->nlabels))
        return false;
    while (*vals) {
        char *w;
        vals = str_next_word(vals, &w);
        if (w[0] == '{' && w[1] == '{') {
            /* histogram literals ({{..}}+{{..}}xK) may contain blanks: glue
             * words until the braces balance */
            while (conf_brace_depth(w) > 0 && *vals) {
                char *more;
                w[strlen(w)] = ' ';
                vals = str_next_word(vals, &more);
            }
        }
        if (!conf_item_parse(a, s, w))
            return false;
    }
    return true;
}

/* ---- the runner's state ---- */

typedef struct conf_case_list {
    char **v;
    size_t n, cap;
} conf_case_list;

typedef struct conf_run {
    bool verbose;
    const char *uncounted; /* file name whose cases are reported, not counted */
    conf_case_list expected, passed, failed_ids;
    int pass, fail, skip;          /* counted totals */
    int un_pass, un_fail, un_skip; /* uncounted totals */
    /* current file */
    const char *path, *base;
    bool counted;
    int fpass, ffail, fskip;
    storage *st;
    char dir[256];
    /* `clear` starts a new tenant (an empty view of the storage) instead of
     * reopening RocksDB, which costs ~100 ms of thread shutdown per clear;
     * --reopen reopens instead */
    bool reopen;
    char tenant[32];
    unsigned generation;
    /* label sets of the series loaded with start timestamps (`@st` lines;
     * cleared with the storage): a failing case that reads one of them is
     * reported as skipped (start timestamps are not stored) */
    conf_series *stl;
    size_t nst, capst;
} conf_run;

static void conf_list_add(conf_case_list *l, const char *s)
{
    if (l->n == l->cap) {
        size_t nc = l->cap ? l->cap * 2 : 256;
        char **nv = realloc(l->v, nc * sizeof(*nv));
        if (!nv) {
            fprintf(stderr, "promql-test: out of memory\n");
            exit(2);
        }
        l->v = nv;
        l->cap = nc;
    }
    l->v[l->n] = strdup(s);
    if (!l->v[l->n]) {
        fprintf(stderr, "promql-test: out of memory\n");
        exit(2);
    }
    l->n++;
}

static bool conf_list_has(const conf_case_list *l, const char *s)
{
    for (size_t i = 0; i < l->n; i++)
        if (strcmp(l->v[i], s) == 0)
            return true;
    return false;
}

static void conf_list_free(conf_case_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i]);
    free(l->v);
    memset(l, 0, sizeof(*l));
}

static sonde_status conf_decode_none(void *ctx, storage_batch_kind kind, const void *payload,
                                     size_t len, arena **decoded, sonde_series **series,
                                     size_t *nseries, const storage_series_meta **meta)
{
    (void)meta;
    (void)ctx;
    (void)kind;
    (void)payload;
    (void)len;
    *decoded = arena_create(1024, 0);
    *series = NULL;
    *nseries = 0;
    return *decoded ? SONDE_OK : SONDE_ERR_NOMEM;
}

static int conf_rm_entry(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(p);
}

static void conf_storage_close(conf_run *r)
{
    r->nst = 0;
    snprintf(r->tenant, sizeof(r->tenant), "promqltest-%u", ++r->generation);
    if (!r->st)
        return;
    storage_close(r->st);
    r->st = NULL;
    nftw(r->dir, conf_rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* A fresh, empty storage (per file and per `clear`). */
static bool conf_storage_reset(conf_run *r)
{
    conf_storage_close(r);
    const char *tmp = getenv("TMPDIR");
    snprintf(r->dir, sizeof(r->dir), "%s/promql-test-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(r->dir)) {
        fprintf(stderr, "promql-test: mkdtemp %s failed\n", r->dir);
        return false;
    }
    storage_config cfg;
    memset(&cfg, 0, sizeof(cfg));
    cfg.data_dir = r->dir;
    cfg.agg_shards = 1;
    cfg.checkpoint_interval_ms = 3600LL * 1000;
    cfg.decode = conf_decode_none;
    storage_config_defaults(&cfg);
    char err[256] = "";
    if (storage_open(&cfg, &r->st, err, sizeof(err)) != SONDE_OK) {
        fprintf(stderr, "promql-test: storage_open: %s\n", err);
        return false;
    }
    return true;
}

/* `clear`: nothing loaded before is visible afterwards. */
static void conf_clear(conf_run *r)
{
    if (r->reopen || !r->st) {
        conf_storage_reset(r);
        return;
    }
    r->nst = 0;
    snprintf(r->tenant, sizeof(r->tenant), "promqltest-%u", ++r->generation);
}

/* ---- load ---- */

static void conf_script_error(conf_run *r, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void conf_script_error(conf_run *r, int line, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stdout, "%s:%d: script error: ", r->base, line);
    vfprintf(stdout, fmt, ap);
    fputc('\n', stdout);
    va_end(ap);
}

/* Appends one parsed series (float slots at k * interval). */
static bool conf_series_store(conf_run *r, arena *a, const conf_series *cs, int64_t interval)
{
    sonde_sample *smp = arena_calloc(a, cs->n + 1, sizeof(*smp));
    sonde_hsample *hs = arena_calloc(a, cs->n + 1, sizeof(*hs));
    if (!smp || !hs)
        return false;
    uint32_t n = 0, nh = 0;
    for (size_t i = 0; i < cs->n; i++) {
        if (cs->slots[i].present && cs->slots[i].hist)
            hs[nh++] = (sonde_hsample){(int64_t)i * interval, cs->slots[i].h};
        else if (cs->slots[i].present)
            smp[n++] = (sonde_sample){(int64_t)i * interval, cs->slots[i].v};
    }
    if (n) {
        sonde_series s = {cs->labels, cs->nlabels, n, smp,
                          series_labels_hash(cs->labels, cs->nlabels)};
        if (storage_append_direct(r->st, r->tenant, &s, 1) != SONDE_OK)
            return false;
    }
    if (nh) {
        sonde_hseries h = {cs->labels, cs->nlabels, nh, hs};
        if (storage_append_histograms_direct(r->st, r->tenant, &h, 1) != SONDE_OK)
            return false;
    }
    return true;
}

static void conf_labels_add(conf_series **v, size_t *n, size_t *cap, const sonde_label *l,
                            uint32_t nl)
{
    if (*n == *cap) {
        size_t nc = *cap ? *cap * 2 : 64;
        conf_series *nv = realloc(*v, nc * sizeof(*nv));
        if (!nv)
            return;
        *v = nv;
        *cap = nc;
    }
    memset(&(*v)[*n], 0, sizeof(**v));
    (*v)[*n].labels = (sonde_label *)l;
    (*v)[(*n)++].nlabels = nl;
}

/* load_with_nhcb: the classic histogram families of a block (foo_bucket{le=..},
 * foo_count, foo_sum with the same other labels) also become native
 * histograms with custom buckets, stored as foo (le dropped): at every
 * timestamp the cumulative bucket counts turn into per-bucket counts over the
 * finite `le` bounds (+Inf added from the count when missing). */
typedef struct conf_nhcb {
    sonde_label *labels; /* base name, without le */
    uint32_t nlabels;
    double les[64];
    const conf_series *buckets[64];
    size_t nb;
    const conf_series *count, *sum;
} conf_nhcb;

static const sonde_label *conf_name_suffix(const conf_series *cs, const char *suf)
{
    const sonde_label *name = series_labels_get(cs->labels, cs->nlabels, "__name__", 8);
    size_t n = strlen(suf);
    if (!name || name->value_len <= n || memcmp(name->value + name->value_len - n, suf, n) != 0)
        return NULL;
    return name;
}

/* cs's labels with the name cut by `cut` bytes and without le. */
static bool conf_base_labels(arena *a, const conf_series *cs, size_t cut, sonde_label **out,
                             uint32_t *nout)
{
    sonde_label *l = arena_calloc(a, cs->nlabels + 1, sizeof(*l));
    uint32_t n = 0;
    if (!l)
        return false;
    for (uint32_t i = 0; i < cs->nlabels; i++) {
        const sonde_label *x = &cs->labels[i];
        if (x->name_len == 2 && !memcmp(x->name, "le", 2))
            continue;
        l[n] = *x;
        if (x->name_len == 8 && !memcmp(x->name, "__name__", 8))
            l[n].value_len -= (uint32_t)cut;
        n++;
    }
    *out = l;
    *nout = n;
    return true;
}

static void conf_load_nhcb(conf_run *r, arena *a, const conf_series *ss, size_t n, int64_t interval)
{
    conf_nhcb *fam = arena_calloc(a, n + 1, sizeof(*fam));
    size_t nf = 0;
    if (!fam)
        return;
    for (size_t i = 0; i < n; i++) {
        const conf_series *cs = &ss[i];
        size_t cut = conf_name_suffix(cs, "_bucket")  ? 7
                     : conf_name_suffix(cs, "_count") ? 6
                     : conf_name_suffix(cs, "_sum")   ? 4
                                                      : 0;
        if (!cut)
            continue;
        double le = 0;
        if (cut == 7) {
            const sonde_label *l = series_labels_get(cs->labels, cs->nlabels, "le", 2);
            if (!l || !conf_number(l->value, l->value_len, &le) || isnan(le))
                continue;
        }
        sonde_label *bl;
        uint32_t nbl;
        if (!conf_base_labels(a, cs, cut, &bl, &nbl))
            return;
        size_t f;
        for (f = 0; f < nf; f++)
            if (query_labels_cmp(fam[f].labels, fam[f].nlabels, bl, nbl) == 0)
                break;
        if (f == nf) {
            fam[nf].labels = bl;
            fam[nf++].nlabels = nbl;
        }
        conf_nhcb *x = &fam[f];
        if (cut == 6)
            x->count = cs;
        else if (cut == 4)
            x->sum = cs;
        else if (x->nb < 64) {
            size_t k = x->nb++; /* keep sorted by le */
            while (k > 0 && x->les[k - 1] > le) {
                x->les[k] = x->les[k - 1];
                x->buckets[k] = x->buckets[k - 1];
                k--;
            }
            x->les[k] = le;
            x->buckets[k] = cs;
        }
    }
    for (size_t f = 0; f < nf; f++) {
        conf_nhcb *x = &fam[f];
        if (!x->nb)
            continue;
        size_t len = 0;
        for (size_t k = 0; k < x->nb; k++)
            if (x->buckets[k]->n > len)
                len = x->buckets[k]->n;
        sonde_hsample *hs = arena_calloc(a, len + 1, sizeof(*hs));
        uint32_t nh = 0;
        size_t nfin = 0;
        while (nfin < x->nb && !isinf(x->les[nfin]))
            nfin++;
        double *bounds = arena_calloc(a, nfin + 1, sizeof(double));
        if (!hs || !bounds)
            return;
        for (size_t k = 0; k < nfin; k++)
            bounds[k] = x->les[k];
        for (size_t t = 0; t < len; t++) {
            bool any = false;
            for (size_t k = 0; k < x->nb; k++)
                if (t < x->buckets[k]->n && x->buckets[k]->slots[t].present &&
                    !x->buckets[k]->slots[t].hist)
                    any = true;
            if (!any)
                continue;
            sonde_fhist *h = arena_calloc(a, 1, sizeof(*h));
            if (!h)
                return;
            h->schema = SONDE_HIST_CUSTOM;
            h->custom = bounds;
            h->ncustom = (uint32_t)nfin;
            h->pos_idx = arena_calloc(a, nfin + 2, sizeof(int32_t));
            h->pos = arena_calloc(a, nfin + 2, sizeof(double));
            if (!h->pos_idx || !h->pos)
                return;
            double prev = 0, inf = NAN;
            for (size_t k = 0; k < x->nb; k++) {
                const conf_series *b = x->buckets[k];
                double v = t < b->n && b->slots[t].present ? b->slots[t].v : prev;
                if (k >= nfin) {
                    inf = v;
                    break;
                }
                h->pos_idx[h->npos] = (int32_t)k;
                h->pos[h->npos++] = v - prev;
                prev = v;
            }
            const conf_series *cnt = x->count, *sum = x->sum;
            double count = cnt && t < cnt->n && cnt->slots[t].present ? cnt->slots[t].v
                           : !isnan(inf)                              ? inf
                                                                      : prev;
            if (isnan(inf))
                inf = count;
            h->pos_idx[h->npos] = (int32_t)nfin;
            h->pos[h->npos++] = inf - prev;
            h->count = count;
            h->sum = sum && t < sum->n && sum->slots[t].present ? sum->slots[t].v : 0;
            hs[nh++] = (sonde_hsample){(int64_t)t * interval, h};
        }
        if (!nh)
            continue;
        sonde_hseries hsr = {x->labels, x->nlabels, nh, hs};
        if (storage_append_histograms_direct(r->st, r->tenant, &hsr, 1) != SONDE_OK)
            conf_script_error(r, 0, "storage_append_histograms_direct failed");
    }
}

/* `load <interval>` body lines [i, end): the block keeps one series per
 * label set (a later line replaces an earlier one). */
static void conf_load(conf_run *r, arena *a, char **lines, int i, int end, int64_t interval,
                      bool nhcb)
{
    conf_series *ss = arena_calloc(a, (size_t)(end - i) + 1, sizeof(*ss));
    size_t n = 0;
    for (int k = i; k < end; k++) {
        char *l = lines[k];
        char *at = strstr(l, "@st");
        if (at && (at[3] == ' ' || at[3] == '\t')) {
            /* start timestamps are not supported: remember the series, the
             * samples of the next line still load */
            sonde_label *sl;
            uint32_t snl;
            *at = '\0';
            if (conf_labels_parse(a, l, &sl, &snl))
                conf_labels_add(&r->stl, &r->nst, &r->capst, sl, snl);
            continue;
        }
        conf_series cs;
        if (!conf_series_parse(a, l, &cs)) {
            conf_script_error(r, k + 1, "bad series description");
            continue;
        }
        size_t j;
        for (j = 0; j < n; j++)
            if (query_labels_cmp(ss[j].labels, ss[j].nlabels, cs.labels, cs.nlabels) == 0)
                break;
        ss[j] = cs;
        if (j == n)
            n++;
    }
    for (size_t j = 0; j < n; j++)
        if (!conf_series_store(r, a, &ss[j], interval))
            conf_script_error(r, i, "storage_append_direct failed");
    if (nhcb)
        conf_load_nhcb(r, a, ss, n, interval);
}

/* ---- eval commands ---- */

typedef struct conf_annot_exp {
    bool warning;
    const char *msg, *re; /* both NULL: any annotation of that kind */
} conf_annot_exp;

typedef struct conf_eval {
    int line;
    const char *expr;
    bool range;
    int64_t t, start, end, step;
    bool fail;
    const char *fail_msg, *fail_re;
    bool ordered;
    /* `expect warn|info [msg: X|regex: R]` lines, and no_warn / no_info */
    conf_annot_exp ax[16];
    size_t nax;
    bool no_warn, no_info;
    bool has_scalar;
    double scalar;
    bool has_string;
    const char *str;
    bool range_vec;
    int64_t rv_start, rv_end, rv_step;
    conf_series *es;
    size_t nes;
} conf_eval;

/* Header: "eval[_x] instant at T expr" or "eval[_x] range from S to E step ST expr". */
static bool conf_eval_header(char *line, conf_eval *e)
{
    char *w, *rest = str_next_word(line, &w);
    if (strcasecmp(w, "eval_fail") == 0)
        e->fail = true;
    else if (strcasecmp(w, "eval_ordered") == 0)
        e->ordered = true;
    else if (strcasecmp(w, "eval_warn") == 0)
        e->ax[e->nax++] = (conf_annot_exp){true, NULL, NULL};
    else if (strcasecmp(w, "eval_info") == 0)
        e->ax[e->nax++] = (conf_annot_exp){false, NULL, NULL};
    else if (strcasecmp(w, "eval") != 0)
        return false;
    rest = str_next_word(rest, &w);
    if (strcmp(w, "instant") == 0) {
        rest = str_next_word(rest, &w);
        if (strcmp(w, "at") != 0)
            return false;
        rest = str_next_word(rest, &w);
        if (!conf_duration(w, &e->t))
            return false;
        e->start = e->end = e->t;
    } else if (strcmp(w, "range") == 0) {
        e->range = true;
        const char *kw[] = {"from", "to", "step"};
        int64_t *dst[] = {&e->start, &e->end, &e->step};
        for (int k = 0; k < 3; k++) {
            rest = str_next_word(rest, &w);
            if (strcmp(w, kw[k]) != 0)
                return false;
            rest = str_next_word(rest, &w);
            if (!conf_duration(w, dst[k]))
                return false;
        }
        if (e->end < e->start || e->step <= 0)
            return false;
    } else {
        return false;
    }
    e->expr = rest;
    return *rest != '\0';
}

/* Go-style unquoting of "..." or `...` (enough for the scripts). */
static const char *conf_unquote(arena *a, const char *s)
{
    size_t n = strlen(s);
    if (n < 2)
        return NULL;
    query_node *root = NULL;
    query_parse_error perr;
    if (query_parse(a, s, n, &root, &perr) != SONDE_OK || root->kind != QN_STRING)
        return NULL;
    return root->u.str.s;
}

/* One body line of an eval block; false on a script error. *end: the line
 * ends the block (a bare number, deprecated fail messages). */
static bool conf_eval_line(arena *a, conf_eval *e, char *l, bool *end)
{
    *end = false;
    if (str_prefix(l, "expect ")) {
        char *w, *rest = str_next_word(l + 7, &w);
        if (strcmp(w, "fail") == 0) {
            e->fail = true;
            if (str_prefix(rest, "msg:"))
                e->fail_msg = str_trim(rest + 4);
            else if (str_prefix(rest, "regex:"))
                e->fail_re = str_trim(rest + 6);
        } else if (strcmp(w, "warn") == 0 || strcmp(w, "info") == 0) {
            if (e->nax == sizeof(e->ax) / sizeof(e->ax[0]))
                return false;
            conf_annot_exp *x = &e->ax[e->nax++];
            *x = (conf_annot_exp){w[0] == 'w', NULL, NULL};
            if (str_prefix(rest, "msg:"))
                x->msg = str_trim(rest + 4);
            else if (str_prefix(rest, "regex:"))
                x->re = str_trim(rest + 6);
        } else if (strcmp(w, "no_warn") == 0) {
            e->no_warn = true;
        } else if (strcmp(w, "no_info") == 0) {
            e->no_info = true;
        } else if (strcmp(w, "ordered") == 0) {
            e->ordered = true;
        } else if (strcmp(w, "string") == 0) {
            e->has_string = true;
            e->str = conf_unquote(a, rest);
            return e->str != NULL;
        } else if (strcmp(w, "range") == 0) {
            char *x;
            const char *kw[] = {"from", "to", "step"};
            int64_t *dst[] = {&e->rv_start, &e->rv_end, &e->rv_step};
            rest = str_next_word(rest, &x);
            if (strcmp(x, "vector") != 0)
                return false;
            for (int k = 0; k < 3; k++) {
                rest = str_next_word(rest, &x);
                if (strcmp(x, kw[k]) != 0)
                    return false;
                rest = str_next_word(rest, &x);
                if (!conf_duration(x, dst[k]))
                    return false;
            }
            e->range_vec = true;
            e->t = e->start = e->end = e->rv_end;
        } else {
            return false;
        }
        return true;
    }
    if (str_prefix(l, "expected_fail_message ")) {
        e->fail_msg = str_trim(l + 22);
        *end = true;
        return true;
    }
    if (str_prefix(l, "expected_fail_regexp ")) {
        e->fail_re = str_trim(l + 21);
        *end = true;
        return true;
    }
    double v;
    if (conf_number(l, strlen(l), &v)) {
        e->has_scalar = true;
        e->scalar = v;
        *end = true;
        return true;
    }
    conf_series cs;
    if (!conf_series_parse(a, l, &cs))
        return false;
    e->es[e->nes++] = cs;
    return true;
}

/* ---- evaluation and comparison ---- */

typedef struct conf_result {
    sonde_status st;
    char err[600];
    query_value v;
    query_annotation annots[QUERY_MAX_ANNOTATIONS];
    size_t nannots;
} conf_result;

static void conf_query_run(conf_run *r, arena *a, const query_node *root, bool range, int64_t start,
                           int64_t end, int64_t step, conf_result *res)
{
    query_storage_source ss = {r->st, r->tenant};
    query_eval_ctx c;
    memset(&c, 0, sizeof(c));
    query_source_storage(&c.src, &ss);
    c.a = a;
    c.lookback_ms = 5 * 60 * 1000;
    c.max_samples = 50000000;
    c.delayed_name_removal = true; /* FORMAT.md 6: the suite runs with it */
    c.deadline_ns = time_mono_ns() + 100LL * 1000 * 1000 * 1000;
    memset(&res->v, 0, sizeof(res->v));
    res->st = range ? query_eval_range(&c, root, start, end, step, &res->v)
                    : query_eval_instant(&c, root, start, &res->v);
    snprintf(res->err, sizeof(res->err), "%s", res->st ? c.err : "");
    memcpy(res->annots, c.annots, sizeof(c.annots));
    res->nannots = c.nannots;
    if (res->st == SONDE_OK && range)
        query_value_sort(&res->v);
}

/* Unanchored RE2-style search (PCRE2 is close enough for the scripts). */
static bool conf_regex_search(const char *re, const char *s)
{
    char pat[1200], rerr[160];
    snprintf(pat, sizeof(pat), "(?s:.*(?:%s).*)", re);
    query_regex *x = query_regex_compile(pat, strlen(pat), rerr, sizeof(rerr));
    bool ok = x && query_regex_match(x, s, strlen(s));
    query_regex_free(x);
    return ok;
}

static bool conf_annot_matches(const conf_annot_exp *x, const char *text)
{
    if (x->msg)
        return strcmp(x->msg, text) == 0;
    if (x->re)
        return conf_regex_search(x->re, text);
    return true;
}

/* One kind (warnings or infos) as promqltest checks it: with `expect` lines
 * each must match a returned annotation and each annotation an expect line;
 * `no_*` allows none; with neither, annotations are not checked. */
static bool conf_annots_kind_check(const conf_eval *e, const conf_result *res, bool warning,
                                   char *why, size_t whylen)
{
    char text[QUERY_MAX_ANNOTATIONS][400];
    size_t n = 0, nexp = 0;
    for (size_t i = 0; i < res->nannots; i++)
        if (res->annots[i].warning == warning)
            snprintf(text[n++], sizeof(text[0]), "PromQL %s: %s (1:%u)",
                     warning ? "warning" : "info", res->annots[i].msg,
                     (unsigned)res->annots[i].pos + 1);
    for (size_t k = 0; k < e->nax; k++)
        nexp += e->ax[k].warning == warning;
    if ((warning ? e->no_warn : e->no_info) && n) {
        snprintf(why, whylen, "unexpected annotation: %.380s", text[0]);
        return false;
    }
    if (!nexp)
        return true;
    for (size_t k = 0; k < e->nax; k++) {
        if (e->ax[k].warning != warning)
            continue;
        size_t i = 0;
        while (i < n && !conf_annot_matches(&e->ax[k], text[i]))
            i++;
        if (i == n) {
            snprintf(why, whylen, "expected %s annotation %.300s, got %.380s",
                     warning ? "a warning" : "an info",
                     e->ax[k].msg  ? e->ax[k].msg
                     : e->ax[k].re ? e->ax[k].re
                                   : "(any)",
                     n ? text[0] : "none");
            return false;
        }
    }
    for (size_t i = 0; i < n; i++) {
        size_t k = 0;
        while (k < e->nax &&
               !(e->ax[k].warning == warning && conf_annot_matches(&e->ax[k], text[i])))
            k++;
        if (k == e->nax) {
            snprintf(why, whylen, "unexpected annotation: %.380s", text[i]);
            return false;
        }
    }
    return true;
}

static bool conf_annots_check(const conf_eval *e, const conf_result *res, char *why, size_t whylen)
{
    return conf_annots_kind_check(e, res, true, why, whylen) &&
           conf_annots_kind_check(e, res, false, why, whylen);
}

/* Error text expectations: exact message or unanchored regex. */
static bool conf_error_matches(const conf_eval *e, const char *err, char *why, size_t whylen)
{
    if (e->fail_msg && strcmp(e->fail_msg, err) != 0) {
        snprintf(why, whylen, "expected error %s, got error %s", e->fail_msg, err);
        return false;
    }
    if (e->fail_re) {
        if (!conf_regex_search(e->fail_re, err)) {
            snprintf(why, whylen, "expected error matching /%s/, got error %s", e->fail_re, err);
            return false;
        }
    }
    return true;
}

static void conf_labels_str(char *out, size_t n, const sonde_label *l, uint32_t nl)
{
    size_t off = 0;
    off += (size_t)snprintf(out, n, "{");
    for (uint32_t i = 0; i < nl && off < n; i++)
        off += (size_t)snprintf(out + off, n - off, "%s%.*s=\"%.*s\"", i ? ", " : "",
                                (int)l[i].name_len, l[i].name, (int)l[i].value_len, l[i].value);
    if (off < n)
        snprintf(out + off, n - off, "}");
}

static const conf_series *conf_expected_find(const conf_eval *e, const sonde_label *l, uint32_t nl,
                                             size_t *idx)
{
    for (size_t i = 0; i < e->nes; i++)
        if (query_labels_cmp(e->es[i].labels, e->es[i].nlabels, l, nl) == 0) {
            *idx = i;
            return &e->es[i];
        }
    return NULL;
}

/* One side's buckets after Compact(0): the populated ones, in order. */
static bool conf_side_equal(const int32_t *ai, const double *ac, uint32_t an, const int32_t *bi,
                            const double *bc, uint32_t bn)
{
    uint32_t i = 0, j = 0;
    for (;;) {
        while (i < an && ac[i] == 0)
            i++;
        while (j < bn && bc[j] == 0)
            j++;
        if (i == an || j == bn)
            return i == an && j == bn;
        if (ai[i] != bi[j] || !conf_almost_equal(ac[i], bc[j]))
            return false;
        i++;
        j++;
    }
}

/* promqltest's histogram comparison (both compacted; counts with almost.Equal). */
static bool conf_hist_equal(const conf_slot *x, const sonde_fhist *g)
{
    const sonde_fhist *e = x->h;
    if (e->schema != g->schema || !conf_almost_equal(e->count, g->count) ||
        !conf_almost_equal(e->sum, g->sum) || !conf_almost_equal(e->zero_count, g->zero_count) ||
        e->zero_threshold != g->zero_threshold)
        return false;
    if (x->hint_set && e->hint != g->hint)
        return false;
    if (e->schema == SONDE_HIST_CUSTOM) {
        if (e->ncustom != g->ncustom)
            return false;
        for (uint32_t i = 0; i < e->ncustom; i++)
            if (e->custom[i] != g->custom[i])
                return false;
    }
    return conf_side_equal(e->pos_idx, e->pos, e->npos, g->pos_idx, g->pos, g->npos) &&
           conf_side_equal(e->neg_idx, e->neg, e->nneg, g->neg_idx, g->neg, g->nneg);
}

static void conf_hist_str(char *out, size_t n, const sonde_fhist *h)
{
    size_t off =
        (size_t)snprintf(out, n, "{{schema:%d count:%g sum:%g z:%g/%g hint:%d b:[", h->schema,
                         h->count, h->sum, h->zero_count, h->zero_threshold, h->hint);
    for (uint32_t i = 0; i < h->npos && off < n; i++)
        off +=
            (size_t)snprintf(out + off, n - off, "%s%d:%g", i ? " " : "", h->pos_idx[i], h->pos[i]);
    if (off < n)
        off += (size_t)snprintf(out + off, n - off, "] nb:[");
    for (uint32_t i = 0; i < h->nneg && off < n; i++)
        off +=
            (size_t)snprintf(out + off, n - off, "%s%d:%g", i ? " " : "", h->neg_idx[i], h->neg[i]);
    if (off < n)
        off += (size_t)snprintf(out + off, n - off, "] cv:[");
    for (uint32_t i = 0; i < h->ncustom && off < n; i++)
        off += (size_t)snprintf(out + off, n - off, "%s%g", i ? " " : "", h->custom[i]);
    if (off < n)
        snprintf(out + off, n - off, "]}}");
}

/* A float or histogram point against one expected slot. */
static bool conf_point_equal(const conf_slot *x, double v, const sonde_fhist *h, char *why,
                             size_t whylen, const char *lb)
{
    char eb[300], gb[300];
    if (x->hist != (h != NULL)) {
        snprintf(why, whylen, "%s: expected a %s, got a %s", lb, x->hist ? "histogram" : "float",
                 h ? "histogram" : "float");
        return false;
    }
    if (!h) {
        if (conf_almost_equal(x->v, v))
            return true;
        snprintf(why, whylen, "%s: expected %.17g, got %.17g", lb, x->v, v);
        return false;
    }
    if (conf_hist_equal(x, h))
        return true;
    conf_hist_str(eb, sizeof(eb), x->h);
    conf_hist_str(gb, sizeof(gb), h);
    /* the return value is used: a truncated message is fine (silences -Wformat-truncation) */
    if (snprintf(why, whylen, "%s: expected %s, got %s", lb, eb, gb) < 0)
        why[0] = 0;
    return false;
}

/* A vector at one step: instant results, or the point at t of a range run. */
static bool conf_vector_compare(const conf_eval *e, const query_value *v, size_t step,
                                bool check_order, char *why, size_t whylen)
{
    size_t got = 0;
    for (size_t i = 0; i < v->nseries; i++) {
        const query_series *s = &v->series[i];
        if (!s->ok[step])
            continue;
        char lb[512];
        size_t idx = 0;
        conf_labels_str(lb, sizeof(lb), s->labels, s->nlabels);
        const conf_series *x = conf_expected_find(e, s->labels, s->nlabels, &idx);
        if (!x) {
            snprintf(why, whylen, "unexpected metric %s %.17g in result", lb, s->v[step]);
            return false;
        }
        if (check_order && idx != got) {
            snprintf(why, whylen, "expected metric %s at position %zu, got position %zu", lb,
                     idx + 1, got + 1);
            return false;
        }
        if (x->n != 1 || !x->slots[0].present) {
            snprintf(why, whylen, "expected %zu values for %s in an instant result", x->n, lb);
            return false;
        }
        if (!conf_point_equal(&x->slots[0], s->v[step],
                              query_series_is_hist(s, step) ? s->h[step] : NULL, why, whylen, lb))
            return false;
        got++;
    }
    if (got != e->nes) {
        snprintf(why, whylen, "expected %zu series, got %zu", e->nes, got);
        return false;
    }
    return true;
}

/* Expected points of a matrix series vs actual (ts, value) pairs. */
static bool conf_points_compare(const conf_series *x, int64_t start, int64_t step,
                                const int64_t *ts, const double *vals, sonde_fhist *const *hs,
                                size_t n, const char *lb, char *why, size_t whylen)
{
    size_t k = 0;
    for (size_t i = 0; i < x->n; i++) {
        if (!x->slots[i].present)
            continue;
        int64_t t = start + (int64_t)i * step;
        if (k >= n) {
            snprintf(why, whylen, "%s: expected a point at %lld, got none", lb, (long long)t);
            return false;
        }
        if (ts[k] != t) {
            snprintf(why, whylen, "%s: expected a point at %lld, got one at %lld", lb, (long long)t,
                     (long long)ts[k]);
            return false;
        }
        char sub[900];
        if (!conf_point_equal(&x->slots[i], vals[k], hs ? hs[k] : NULL, sub, sizeof(sub), lb)) {
            snprintf(why, whylen, "%s at %lld", sub, (long long)t);
            return false;
        }
        k++;
    }
    if (k != n) {
        snprintf(why, whylen, "%s: expected %zu points, got %zu (extra at %lld: %.17g)", lb, k, n,
                 (long long)ts[k], vals[k]);
        return false;
    }
    return true;
}

static bool conf_matrix_series_check(const conf_eval *e, const sonde_label *l, uint32_t nl,
                                     const int64_t *ts, const double *vals, sonde_fhist *const *hs,
                                     size_t n, int64_t start, int64_t step, char *why,
                                     size_t whylen)
{
    char lb[512];
    size_t idx;
    conf_labels_str(lb, sizeof(lb), l, nl);
    const conf_series *x = conf_expected_find(e, l, nl, &idx);
    if (!x) {
        snprintf(why, whylen, "unexpected series %s in result (%zu points, first %.17g@%lld)", lb,
                 n, n ? vals[0] : 0.0, n ? (long long)ts[0] : 0LL);
        return false;
    }
    return conf_points_compare(x, start, step, ts, vals, hs, n, lb, why, whylen);
}

/* A range result (grid) against expected series; series without points are
 * not part of a Prometheus matrix. */
static bool conf_range_compare(arena *a, const conf_eval *e, const query_value *v, char *why,
                               size_t whylen)
{
    int64_t *ts = arena_calloc(a, v->nsteps + 1, sizeof(*ts));
    double *vals = arena_calloc(a, v->nsteps + 1, sizeof(*vals));
    sonde_fhist **hs = arena_calloc(a, v->nsteps + 1, sizeof(*hs));
    size_t got = 0;
    if (!ts || !vals || !hs)
        return false;
    if (v->type == QUERY_TYPE_SCALAR) {
        for (size_t i = 0; i < v->nsteps; i++) {
            ts[i] = v->start + (int64_t)i * v->step;
            vals[i] = v->scalar[i];
        }
        if (!conf_matrix_series_check(e, NULL, 0, ts, vals, NULL, v->nsteps, e->start, e->step, why,
                                      whylen))
            return false;
        got = 1;
    } else {
        for (size_t i = 0; i < v->nseries; i++) {
            const query_series *s = &v->series[i];
            size_t n = 0;
            for (size_t k = 0; k < v->nsteps; k++)
                if (s->ok[k]) {
                    ts[n] = v->start + (int64_t)k * v->step;
                    hs[n] = query_series_is_hist(s, k) ? s->h[k] : NULL;
                    vals[n++] = s->v[k];
                }
            if (n == 0)
                continue;
            if (!conf_matrix_series_check(e, s->labels, s->nlabels, ts, vals, hs, n, e->start,
                                          e->step, why, whylen))
                return false;
            got++;
        }
    }
    if (got != e->nes) {
        snprintf(why, whylen, "expected %zu series, got %zu", e->nes, got);
        return false;
    }
    return true;
}

static bool conf_rangevec_compare(const conf_eval *e, const query_value *v, char *why,
                                  size_t whylen)
{
    if (v->type != QUERY_TYPE_MATRIX) {
        snprintf(why, whylen, "expected a range vector, got %s", query_type_name(v->type));
        return false;
    }
    size_t got = 0;
    for (size_t i = 0; i < v->nms; i++) {
        const query_mseries *m = &v->ms[i];
        if (m->n == 0 && m->nh == 0)
            continue;
        int64_t ts[4096];
        double vals[4096];
        sonde_fhist *hs[4096];
        size_t n = 0, fi = 0, hi = 0;
        while (n < 4096 && (fi < m->n || hi < m->nh)) {
            if (hi < m->nh && (fi == m->n || m->hs[hi].ts_ms < m->s[fi].ts_ms)) {
                ts[n] = m->hs[hi].ts_ms;
                vals[n] = 0;
                hs[n++] = m->hs[hi++].h;
            } else {
                ts[n] = m->s[fi].ts_ms;
                vals[n] = m->s[fi++].value;
                hs[n++] = NULL;
            }
        }
        if (!conf_matrix_series_check(e, m->labels, m->nlabels, ts, vals, hs, n, e->rv_start,
                                      e->rv_step, why, whylen))
            return false;
        got++;
    }
    if (got != e->nes) {
        snprintf(why, whylen, "expected %zu series, got %zu", e->nes, got);
        return false;
    }
    return true;
}

/* compareResult for an instant evaluation. */
static bool conf_instant_compare(const conf_eval *e, const query_value *v, char *why, size_t whylen)
{
    if (e->range_vec)
        return conf_rangevec_compare(e, v, why, whylen);
    if (e->has_string) {
        if (v->type != QUERY_TYPE_STRING || strcmp(v->str, e->str) != 0) {
            snprintf(why, whylen, "expected string \"%s\", got %s", e->str,
                     v->type == QUERY_TYPE_STRING ? v->str : query_type_name(v->type));
            return false;
        }
        return true;
    }
    if (e->has_scalar) {
        if (v->type != QUERY_TYPE_SCALAR) {
            snprintf(why, whylen, "expected scalar %.17g, got %s", e->scalar,
                     query_type_name(v->type));
            return false;
        }
        if (!conf_almost_equal(e->scalar, v->scalar[0])) {
            snprintf(why, whylen, "expected scalar %.17g, got %.17g", e->scalar, v->scalar[0]);
            return false;
        }
        return true;
    }
    if (v->type == QUERY_TYPE_MATRIX) {
        snprintf(why, whylen, "received range result on instant evaluation");
        return false;
    }
    if (v->type != QUERY_TYPE_VECTOR) {
        snprintf(why, whylen, "expected vector result, got %s", query_type_name(v->type));
        return false;
    }
    return conf_vector_compare(e, v, 0, e->ordered, why, whylen);
}

static bool conf_matrix_sorted(const query_value *v)
{
    const query_series *prev = NULL;
    for (size_t i = 0; i < v->nseries; i++) {
        const query_series *s = &v->series[i];
        bool any = false;
        for (size_t k = 0; k < v->nsteps && !any; k++)
            any = s->ok[k];
        if (!any)
            continue;
        if (prev && query_labels_cmp(prev->labels, prev->nlabels, s->labels, s->nlabels) > 0)
            return false;
        prev = s;
    }
    return true;
}

/* The range-mode check: [t-1m, t+1m] step 1m judged at t. */
static bool conf_range_mode_check(conf_run *r, arena *a, const conf_eval *e, const query_node *root,
                                  int64_t t, char *why, size_t whylen)
{
    conf_result res;
    conf_query_run(r, a, root, true, t - 60000, t + 60000, 60000, &res);
    if (res.st) {
        snprintf(why, whylen, "range mode at %lld: error %s", (long long)t, res.err);
        return false;
    }
    if (e->ordered)
        return true;
    if (!conf_matrix_sorted(&res.v)) {
        snprintf(why, whylen, "range mode at %lld: matrix not sorted", (long long)t);
        return false;
    }
    const query_value *v = &res.v;
    if (e->has_scalar) {
        double got = NAN;
        bool found = false;
        if (v->type == QUERY_TYPE_SCALAR) {
            got = v->scalar[1];
            found = true;
        }
        if (!found || !conf_almost_equal(e->scalar, got)) {
            snprintf(why, whylen, "range mode at %lld: expected scalar %.17g, got %.17g",
                     (long long)t, e->scalar, got);
            return false;
        }
        return true;
    }
    if (v->type != QUERY_TYPE_VECTOR) {
        snprintf(why, whylen, "range mode at %lld: expected vector, got %s", (long long)t,
                 query_type_name(v->type));
        return false;
    }
    char sub[900];
    if (!conf_vector_compare(e, v, 1, false, sub, sizeof(sub))) {
        snprintf(why, whylen, "range mode at %lld: %s", (long long)t, sub);
        return false;
    }
    return true;
}

/* One instant evaluation (plain or @-rewritten) with its checks. */
static bool conf_instant_check(conf_run *r, arena *a, const conf_eval *e, const query_node *root,
                               int64_t t, bool range_mode, char *why, size_t whylen)
{
    conf_result res;
    conf_query_run(r, a, root, false, t, t, 0, &res);
    if (res.st) {
        if (e->fail)
            return conf_error_matches(e, res.err, why, whylen);
        snprintf(why, whylen, "error evaluating at %lld: %s", (long long)t, res.err);
        return false;
    }
    if (e->fail) {
        snprintf(why, whylen, "expected an error at %lld, got none", (long long)t);
        return false;
    }
    if (!conf_annots_check(e, &res, why, whylen))
        return false;
    char sub[900];
    if (!conf_instant_compare(e, &res.v, sub, sizeof(sub))) {
        snprintf(why, whylen, "at %lld: %s", (long long)t, sub);
        return false;
    }
    if (!range_mode)
        return true;
    return conf_range_mode_check(r, a, e, root, t, why, whylen);
}

static bool conf_node_calls_time_dependent(const query_node *n);

static bool conf_children_time_dependent(const query_node *n)
{
    switch (n->kind) {
    case QN_MATRIX_SEL:
        return conf_node_calls_time_dependent(n->u.ms.vs);
    case QN_SUBQUERY:
        return conf_node_calls_time_dependent(n->u.sq.expr);
    case QN_CALL:
        for (size_t i = 0; i < n->u.call.nargs; i++)
            if (conf_node_calls_time_dependent(n->u.call.args[i]))
                return true;
        return false;
    case QN_AGG:
        return conf_node_calls_time_dependent(n->u.agg.expr) ||
               (n->u.agg.param && conf_node_calls_time_dependent(n->u.agg.param));
    case QN_BINARY:
        return conf_node_calls_time_dependent(n->u.bin.lhs) ||
               conf_node_calls_time_dependent(n->u.bin.rhs);
    case QN_UNARY:
        return conf_node_calls_time_dependent(n->u.un.expr);
    case QN_PAREN:
        return conf_node_calls_time_dependent(n->u.paren.expr);
    default:
        return false;
    }
}

/* Functions whose result depends on the evaluation time itself. */
static bool conf_node_calls_time_dependent(const query_node *n)
{
    static const char *const names[] = {
        "time",        "timestamp",   "predict_linear", "day_of_month",
        "day_of_week", "day_of_year", "days_in_month",  "hour",
        "minute",      "month",       "year",           "start",
        "end",         "range",       "step",           NULL};
    if (n->kind == QN_CALL) {
        const char *fn = query_func_name(n->u.call.fn);
        for (size_t i = 0; names[i]; i++)
            if (strcmp(fn, names[i]) == 0)
                return true;
    }
    return conf_children_time_dependent(n);
}

/* Sets `@ t` on every selector and subquery that has none (not descending
 * into subqueries: their inner selectors are relative to the subquery). */
static void conf_node_pin(query_node *n, int64_t t)
{
    switch (n->kind) {
    case QN_VECTOR_SEL:
        if (n->u.vs.mod.at == QUERY_AT_NONE) {
            n->u.vs.mod.at = QUERY_AT_TS;
            n->u.vs.mod.at_ms = t;
        }
        return;
    case QN_MATRIX_SEL:
        conf_node_pin(n->u.ms.vs, t);
        return;
    case QN_SUBQUERY:
        if (n->u.sq.mod.at == QUERY_AT_NONE) {
            n->u.sq.mod.at = QUERY_AT_TS;
            n->u.sq.mod.at_ms = t;
        }
        return;
    case QN_CALL:
        for (size_t i = 0; i < n->u.call.nargs; i++)
            conf_node_pin(n->u.call.args[i], t);
        return;
    case QN_AGG:
        conf_node_pin(n->u.agg.expr, t);
        if (n->u.agg.param)
            conf_node_pin(n->u.agg.param, t);
        return;
    case QN_BINARY:
        conf_node_pin(n->u.bin.lhs, t);
        conf_node_pin(n->u.bin.rhs, t);
        return;
    case QN_UNARY:
        conf_node_pin(n->u.un.expr, t);
        return;
    case QN_PAREN:
        conf_node_pin(n->u.paren.expr, t);
        return;
    default:
        return;
    }
}

static bool conf_has_selector(const query_node *n)
{
    switch (n->kind) {
    case QN_VECTOR_SEL:
    case QN_MATRIX_SEL:
    case QN_SUBQUERY:
        return true;
    case QN_CALL:
        for (size_t i = 0; i < n->u.call.nargs; i++)
            if (conf_has_selector(n->u.call.args[i]))
                return true;
        return false;
    case QN_AGG:
        return conf_has_selector(n->u.agg.expr) ||
               (n->u.agg.param && conf_has_selector(n->u.agg.param));
    case QN_BINARY:
        return conf_has_selector(n->u.bin.lhs) || conf_has_selector(n->u.bin.rhs);
    case QN_UNARY:
        return conf_has_selector(n->u.un.expr);
    case QN_PAREN:
        return conf_has_selector(n->u.paren.expr);
    default:
        return false;
    }
}

/* The full judgement of an instant eval (FORMAT.md 5.1). */
static bool conf_instant_eval(conf_run *r, arena *a, const conf_eval *e, query_node *root,
                              char *why, size_t whylen)
{
    const char *x = e->expr;
    bool range_mode = !e->range_vec && !e->has_string && !strstr(x, "start()") &&
                      !strstr(x, "end()") && !strstr(x, "range()") && !strstr(x, "step()");
    if (!conf_instant_check(r, a, e, root, e->t, range_mode, why, whylen))
        return false;
    if (e->range_vec || conf_node_calls_time_dependent(root) || !conf_has_selector(root))
        return true;
    conf_node_pin(root, e->t);
    int64_t t = e->t;
    int64_t times[5] = {-10 * t, 0, t / 5, t, 10 * t};
    int nt = 5;
    if (t == 0) {
        times[0] = -1000;
        times[1] = 0;
        times[2] = 1000;
        nt = 3;
    }
    for (int i = 0; i < nt; i++) {
        char sub[900];
        if (!conf_instant_check(r, a, e, root, times[i], range_mode, sub, sizeof(sub))) {
            snprintf(why, whylen, "with @ %lld: %s", (long long)e->t, sub);
            return false;
        }
    }
    return true;
}

static bool conf_range_eval(conf_run *r, arena *a, const conf_eval *e, const query_node *root,
                            char *why, size_t whylen)
{
    conf_result res;
    conf_query_run(r, a, root, true, e->start, e->end, e->step, &res);
    if (res.st) {
        if (e->fail)
            return conf_error_matches(e, res.err, why, whylen);
        snprintf(why, whylen, "error: %s", res.err);
        return false;
    }
    if (e->fail) {
        snprintf(why, whylen, "expected an error, got none");
        return false;
    }
    if (!conf_annots_check(e, &res, why, whylen))
        return false;
    if (e->has_scalar) {
        snprintf(why, whylen, "a range query returns a matrix, not a scalar");
        return false;
    }
    return conf_range_compare(a, e, &res.v, why, whylen);
}

static bool conf_matcher_matches(const query_matcher *m, const sonde_label *l, uint32_t nl)
{
    const sonde_label *x = series_labels_get(l, nl, m->name, m->name_len);
    const char *v = x ? x->value : "";
    size_t n = x ? x->value_len : 0;
    bool eq = n == m->value_len && memcmp(v, m->value, n) == 0;
    switch (m->op) {
    case QUERY_MATCH_EQ:
        return eq;
    case QUERY_MATCH_NEQ:
        return !eq;
    case QUERY_MATCH_RE:
        return query_regex_match(m->re, v, n);
    case QUERY_MATCH_NRE:
        return !query_regex_match(m->re, v, n);
    }
    return false;
}

/* True if a selector of the expression matches one of the series in v. */
static bool conf_reads_any(const conf_series *v, size_t nv, const query_node *n)
{
    switch (n->kind) {
    case QN_VECTOR_SEL:
        for (size_t h = 0; h < nv; h++) {
            size_t k = 0;
            while (k < n->u.vs.nm && conf_matcher_matches(&n->u.vs.m[k], v[h].labels, v[h].nlabels))
                k++;
            if (k == n->u.vs.nm)
                return true;
        }
        return false;
    case QN_MATRIX_SEL:
        return conf_reads_any(v, nv, n->u.ms.vs);
    case QN_SUBQUERY:
        return conf_reads_any(v, nv, n->u.sq.expr);
    case QN_CALL:
        for (size_t i = 0; i < n->u.call.nargs; i++)
            if (conf_reads_any(v, nv, n->u.call.args[i]))
                return true;
        return false;
    case QN_AGG:
        return conf_reads_any(v, nv, n->u.agg.expr) ||
               (n->u.agg.param && conf_reads_any(v, nv, n->u.agg.param));
    case QN_BINARY:
        return conf_reads_any(v, nv, n->u.bin.lhs) || conf_reads_any(v, nv, n->u.bin.rhs);
    case QN_UNARY:
        return conf_reads_any(v, nv, n->u.un.expr);
    case QN_PAREN:
        return conf_reads_any(v, nv, n->u.paren.expr);
    default:
        return false;
    }
}

/* Records the outcome of one case. */
static void conf_case_report(conf_run *r, const conf_eval *e, int outcome, const char *why)
{
    char id[MAX_LINE + 300];
    snprintf(id, sizeof(id), "%s:%d: %s", r->base, e->line, e->expr);
    if (outcome > 0) {
        r->fpass++;
        conf_list_add(&r->passed, id);
        if (r->verbose)
            printf("  PASS %s\n", id);
    } else if (outcome == 0) {
        r->ffail++;
        conf_list_add(&r->failed_ids, id);
        printf("  FAIL %s\n       %s\n", id, why);
    } else {
        r->fskip++;
        printf("  SKIP %s\n       %s\n", id, why);
    }
}

static void conf_eval_run(conf_run *r, conf_eval *e)
{
    char why[1200] = "";
    arena *a = arena_create(1 << 16, 0);
    if (!a) {
        conf_case_report(r, e, 0, "out of memory");
        return;
    }
    query_node *root = NULL;
    query_parse_error perr;
    int outcome;
    if (query_parse(a, e->expr, strlen(e->expr), &root, &perr) != SONDE_OK) {
        char msg[400];
        query_parse_error_format(e->expr, strlen(e->expr), &perr, msg, sizeof(msg));
        if (e->fail) {
            outcome = conf_error_matches(e, msg, why, sizeof(why));
        } else {
            snprintf(why, sizeof(why), "%s", msg);
            outcome = 0;
        }
        conf_case_report(r, e, outcome, why);
        arena_destroy(a);
        return;
    }
    outcome = e->range ? conf_range_eval(r, a, e, root, why, sizeof(why))
                       : conf_instant_eval(r, a, e, root, why, sizeof(why));
    const char *feature = NULL;
    if (!outcome && conf_reads_any(r->stl, r->nst, root))
        feature = "start timestamps";
    if (feature) {
        char sub[1000];
        snprintf(sub, sizeof(sub), "%s", why);
        snprintf(why, sizeof(why), "skipped: reads series with %s (not supported): %s", feature,
                 sub);
        outcome = -1;
    }
    conf_case_report(r, e, outcome, why);
    query_ast_release(root);
    arena_destroy(a);
}

/* ---- scripts ---- */

static bool conf_block_line(const char *l)
{
    return l[0] != '\0' && l[0] != '#';
}

/* Parses an eval block starting at lines[i]; returns the index after it. */
static int conf_eval_block(conf_run *r, arena *a, char **lines, int nlines, int i)
{
    conf_eval e;
    memset(&e, 0, sizeof(e));
    e.line = i + 1;
    e.es = arena_calloc(a, (size_t)nlines, sizeof(*e.es));
    int k = i + 1;
    bool bad = !conf_eval_header(lines[i], &e);
    bool end = false;
    for (; !bad && !end && k < nlines && conf_block_line(lines[k]); k++)
        bad = !conf_eval_line(a, &e, lines[k], &end);
    while (k < nlines && conf_block_line(lines[k]))
        k++;
    if (bad) {
        conf_script_error(r, k, "bad eval block starting at line %d", i + 1);
        if (e.expr) {
            r->ffail++;
            printf("  FAIL %s:%d: %s\n       script error\n", r->base, i + 1, e.expr);
        }
        return k;
    }
    if (!r->st && !conf_storage_reset(r))
        exit(2);
    conf_eval_run(r, &e);
    return k;
}

static int conf_load_block(conf_run *r, arena *a, char **lines, int nlines, int i)
{
    char *w, *rest = str_next_word(lines[i], &w);
    int k = i + 1;
    while (k < nlines && conf_block_line(lines[k]))
        k++;
    int64_t interval;
    if (!conf_duration(str_trim(rest), &interval)) {
        conf_script_error(r, i + 1, "bad load interval");
        return k;
    }
    if (!r->st && !conf_storage_reset(r))
        exit(2);
    conf_load(r, a, lines, i + 1, k, interval, strcasecmp(w, "load_with_nhcb") == 0);
    return k;
}

static char *conf_file_read(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 1 << 16, n = 0;
    char *b = malloc(cap + 1);
    while (b) {
        size_t got = fread(b + n, 1, cap - n, f);
        n += got;
        if (n < cap)
            break;
        char *nb = realloc(b, cap * 2 + 1);
        if (!nb) {
            free(b);
            b = NULL;
            break;
        }
        b = nb;
        cap *= 2;
    }
    fclose(f);
    if (b)
        b[n] = '\0';
    *len = n;
    return b;
}

static void conf_file_run(conf_run *r, const char *path)
{
    size_t len;
    char *text = conf_file_read(path, &len);
    if (!text) {
        printf("%s: cannot read\n", path);
        r->fail++;
        return;
    }
    arena *a = arena_create(1 << 20, 0);
    size_t cap = 1;
    for (size_t i = 0; i < len; i++)
        cap += text[i] == '\n';
    char **lines = calloc(cap + 1, sizeof(*lines));
    int nlines = 0;
    for (char *p = text; p && *p;) {
        char *nl = strchr(p, '\n');
        if (nl)
            *nl = '\0';
        lines[nlines++] = str_trim(p);
        p = nl ? nl + 1 : NULL;
    }
    r->path = path;
    const char *slash = strrchr(path, '/');
    r->base = slash ? slash + 1 : path;
    r->counted = !r->uncounted || strcmp(r->base, r->uncounted) != 0;
    r->fpass = r->ffail = r->fskip = 0;
    conf_storage_reset(r);
    for (int i = 0; i < nlines;) {
        const char *l = lines[i];
        if (!conf_block_line(l)) {
            i++;
        } else if (strcasecmp(l, "clear") == 0) {
            conf_clear(r);
            i++;
        } else if (str_iprefix(l, "load")) {
            i = conf_load_block(r, a, lines, nlines, i);
        } else if (str_iprefix(l, "eval")) {
            i = conf_eval_block(r, a, lines, nlines, i);
        } else {
            conf_script_error(r, i + 1, "unknown command");
            i++;
        }
    }
    conf_storage_close(r);
    printf("%s: %d passed, %d failed, %d skipped%s\n", r->base, r->fpass, r->ffail, r->fskip,
           r->counted ? "" : " (native histograms: reported, not counted)");
    if (r->counted) {
        r->pass += r->fpass;
        r->fail += r->ffail;
        r->skip += r->fskip;
    } else {
        r->un_pass += r->fpass;
        r->un_fail += r->ffail;
        r->un_skip += r->fskip;
    }
    free(lines);
    free(text);
    arena_destroy(a);
}

static int conf_name_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* A directory: its *.test files in name order. */
static void conf_dir_run(conf_run *r, const char *path)
{
    DIR *d = opendir(path);
    if (!d) {
        printf("%s: cannot open\n", path);
        r->fail++;
        return;
    }
    conf_case_list names = {0};
    struct dirent *de;
    while ((de = readdir(d))) {
        size_t n = strlen(de->d_name);
        if (n > 5 && strcmp(de->d_name + n - 5, ".test") == 0)
            conf_list_add(&names, de->d_name);
    }
    closedir(d);
    qsort(names.v, names.n, sizeof(*names.v), conf_name_cmp);
    for (size_t i = 0; i < names.n; i++) {
        char p[4096];
        snprintf(p, sizeof(p), "%s/%s", path, names.v[i]);
        conf_file_run(r, p);
    }
    conf_list_free(&names);
}

static bool conf_expected_load(conf_case_list *l, const char *path)
{
    size_t len;
    char *text = conf_file_read(path, &len);
    if (!text)
        return false;
    for (char *p = text; p && *p;) {
        char *nl = strchr(p, '\n');
        if (nl)
            *nl = '\0';
        if (*p && *p != '#')
            conf_list_add(l, p);
        p = nl ? nl + 1 : NULL;
    }
    free(text);
    return true;
}

static bool conf_expected_write(const conf_case_list *l, const char *path)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return false;
    fprintf(f, "# PromQL conformance cases expected to pass (promql-test --write-expected).\n"
               "# One case per line: file:line-of-eval: expression\n");
    for (size_t i = 0; i < l->n; i++)
        fprintf(f, "%s\n", l->v[i]);
    return fclose(f) == 0;
}

/* Cases listed as expected passes that did not pass; returns their count. */
static size_t conf_regressions(const conf_run *r)
{
    size_t n = 0;
    for (size_t i = 0; i < r->expected.n; i++) {
        if (conf_list_has(&r->passed, r->expected.v[i]))
            continue;
        printf("REGRESSION: %s\n", r->expected.v[i]);
        n++;
    }
    return n;
}

static void conf_usage(void)
{
    fprintf(stderr, "usage: promql-test [--verbose] [--reopen] [--expect FILE] "
                    "[--write-expected FILE] [FILE|DIR]...\n");
}

int main(int argc, char **argv)
{
    conf_run r;
    memset(&r, 0, sizeof(r));
    r.uncounted = "native_histograms.test";
    const char *expect = NULL, *write_expected = NULL;
    int nargs = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--verbose") == 0 || strcmp(argv[i], "-v") == 0) {
            r.verbose = true;
        } else if (strcmp(argv[i], "--reopen") == 0) {
            r.reopen = true;
        } else if (strcmp(argv[i], "--expect") == 0 && i + 1 < argc) {
            expect = argv[++i];
        } else if (strcmp(argv[i], "--write-expected") == 0 && i + 1 < argc) {
            write_expected = argv[++i];
        } else if (argv[i][0] == '-') {
            conf_usage();
            return 2;
        } else {
            argv[++nargs] = argv[i];
        }
    }
    if (nargs == 0) {
        conf_usage();
        return 2;
    }
    if (expect && !conf_expected_load(&r.expected, expect)) {
        fprintf(stderr, "promql-test: cannot read %s\n", expect);
        return 2;
    }
    for (int i = 1; i <= nargs; i++) {
        struct stat sb;
        const char *ci = getenv("CI");
        if (stat(argv[i], &sb) != 0 && !(ci && strcmp(ci, "true") == 0)) {
            /* the scripts live outside the clone (../shared): skip, except in CI */
            fprintf(stderr, "promql-test: %s not found: skipped\n", argv[i]);
            return 77;
        }
        if (stat(argv[i], &sb) == 0 && S_ISDIR(sb.st_mode))
            conf_dir_run(&r, argv[i]);
        else
            conf_file_run(&r, argv[i]);
    }
    int rc = 0;
    if (write_expected && !conf_expected_write(&r.passed, write_expected)) {
        fprintf(stderr, "promql-test: cannot write %s\n", write_expected);
        rc = 2;
    }
    if (expect) {
        size_t reg = conf_regressions(&r);
        printf("%zu regression(s) against %s (%zu expected passes)\n", reg, expect, r.expected.n);
        if (reg)
            rc = 1;
    }
    if (r.un_pass + r.un_fail + r.un_skip)
        printf("not counted (native histograms): %d passed, %d failed, %d skipped\n", r.un_pass,
               r.un_fail, r.un_skip);
    printf("%d passed, %d failed, %d skipped\n", r.pass, r.fail, r.skip);
    if (!expect && r.fail)
        rc = rc ? rc : 1;
    conf_list_free(&r.expected);
    conf_list_free(&r.passed);
    conf_list_free(&r.failed_ids);
    free(r.stl);
    return rc;
}
