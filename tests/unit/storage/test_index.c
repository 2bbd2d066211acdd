/*
 * test_index.c - the series index and postings through the public API:
 * the four matcher ops with Prometheus' empty-value semantics, regex called
 * once per distinct value, time filtering, sorting, tenants, label names and
 * values, sample reads across cut chunks and the head, and the sample rules
 * (duplicates and out-of-order counted).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "storage_test_util.h"
#include "test.h"

/* a "regex" of literal alternatives separated by '|'; ".*" matches anything */
typedef struct alt_re {
    const char *alts;
    int calls;
} alt_re;

static bool alt_match(void *ctx, const char *v, size_t n)
{
    alt_re *r = ctx;
    r->calls++;
    const char *p = r->alts;
    for (;;) {
        const char *e = strchr(p, '|');
        size_t l = e ? (size_t)(e - p) : strlen(p);
        if ((l == 2 && memcmp(p, ".*", 2) == 0) || (l == n && memcmp(p, v, n) == 0))
            return true;
        if (!e)
            return false;
        p = e + 1;
    }
}

static storage_matcher eq(const char *n, const char *v)
{
    return (storage_matcher){n, strlen(n), STORAGE_MATCH_EQ, v, strlen(v), NULL, NULL};
}

static storage_matcher neq(const char *n, const char *v)
{
    return (storage_matcher){n, strlen(n), STORAGE_MATCH_NEQ, v, strlen(v), NULL, NULL};
}

static storage_matcher re(const char *n, alt_re *r, bool negate)
{
    return (storage_matcher){
        n, strlen(n), negate ? STORAGE_MATCH_NRE : STORAGE_MATCH_RE, NULL, 0, alt_match, r};
}

/* Selects and returns the "instance" values in result order, joined by ','. */
static const char *sel(storage *st, const char *tenant, storage_matcher *m, size_t nm, int64_t mint,
                       int64_t maxt)
{
    static char out[256];
    arena *a = arena_create(4096, 0);
    storage_series_ref *r;
    size_t n;
    out[0] = 0;
    if (storage_select(st, tenant, m, nm, mint, maxt, a, &r, &n) != SONDE_OK) {
        arena_destroy(a);
        return "ERR";
    }
    for (size_t i = 0; i < n; i++) {
        const sonde_label *l = series_labels_get(r[i].labels, r[i].nlabels, "instance", 8);
        if (i)
            strcat(out, ",");
        if (l)
            strncat(out, l->value, l->value_len);
        else
            strcat(out, "?");
    }
    arena_destroy(a);
    return out;
}

static storage *open_with(const char *dir, uint32_t chunk_samples, unsigned shards)
{
    storage_config c = config_make(dir);
    c.chunk_max_samples = chunk_samples;
    c.agg_shards = shards;
    storage *st = NULL;
    char err[256];
    if (storage_open(&c, &st, err, sizeof err) != SONDE_OK)
        fprintf(stderr, "open: %s\n", err);
    return st;
}

static void load_fixture(storage *st, arena *a)
{
    const char *A[] = {"__name__", "up", "job", "api", "instance", "a"};
    const char *B[] = {"__name__", "up", "job", "api", "instance", "b", "env", "prod"};
    const char *C[] = {"__name__", "up", "job", "db", "instance", "c"};
    const char *D[] = {"__name__", "down", "job", "db", "instance", "d"};
    const char *E[] = {"__name__", "up", "job", "api", "instance", "e2"};
    sonde_series s[4] = {series_make(a, A, 3, 0, 10, 10, 1), series_make(a, B, 4, 0, 10, 10, 1),
                         series_make(a, C, 3, 0, 10, 10, 1), series_make(a, D, 3, 1000, 10, 10, 1)};
    CHECK(storage_append_direct(st, "t1", s, 4) == SONDE_OK);
    sonde_series e = series_make(a, E, 3, 0, 10, 10, 1);
    CHECK(storage_append_direct(st, "t2", &e, 1) == SONDE_OK);
}

static void test_matchers(void)
{
    char *dir = tmpdir_make();
    storage *st = open_with(dir, 120, 3);
    CHECK(st != NULL);
    if (!st)
        return;
    arena *a = arena_create(4096, 0);
    load_fixture(st, a);
    int64_t lo = INT64_MIN, hi = INT64_MAX;

    storage_matcher m1[] = {eq("job", "api")};
    /* sorted by labels: b has env, and "env" < "instance" */
    CHECK_EQ_STR(sel(st, "t1", m1, 1, lo, hi), "b,a");
    storage_matcher m2[] = {eq("__name__", "up"), neq("job", "api")};
    CHECK_EQ_STR(sel(st, "t1", m2, 2, lo, hi), "c");
    storage_matcher m3[] = {eq("__name__", "up"), eq("env", "")};
    CHECK_EQ_STR(sel(st, "t1", m3, 2, lo, hi), "a,c");
    storage_matcher m4[] = {neq("env", "")};
    CHECK_EQ_STR(sel(st, "t1", m4, 1, lo, hi), "b");
    storage_matcher m5[] = {eq("nolabel", "")};
    CHECK_EQ_STR(sel(st, "t1", m5, 1, lo, hi), "d,b,a,c");
    storage_matcher m6[] = {eq("job", "nope")};
    CHECK_EQ_STR(sel(st, "t1", m6, 1, lo, hi), "");

    alt_re r1 = {"a|b", 0};
    storage_matcher m7[] = {re("instance", &r1, false)};
    CHECK_EQ_STR(sel(st, "t1", m7, 1, lo, hi), "b,a");
    /* once for "" and once per distinct value (4), across all shards */
    CHECK(r1.calls <= 5);
    alt_re r2 = {"prod|", 0};
    storage_matcher m8[] = {eq("__name__", "up"), re("env", &r2, false)};
    CHECK_EQ_STR(sel(st, "t1", m8, 2, lo, hi), "b,a,c");
    alt_re r3 = {"prod", 0};
    storage_matcher m9[] = {re("env", &r3, true)};
    CHECK_EQ_STR(sel(st, "t1", m9, 1, lo, hi), "d,a,c");
    alt_re r4 = {".*", 0};
    storage_matcher m10[] = {re("env", &r4, true)};
    CHECK_EQ_STR(sel(st, "t1", m10, 1, lo, hi), "");
    alt_re r5 = {"", 0};
    storage_matcher m11[] = {re("env", &r5, true)};
    CHECK_EQ_STR(sel(st, "t1", m11, 1, lo, hi), "b");
    alt_re r6 = {"db", 0};
    storage_matcher m12[] = {re("job", &r6, false), neq("instance", "d")};
    CHECK_EQ_STR(sel(st, "t1", m12, 2, lo, hi), "c");

    /* time filter: d has samples in [1000, 1090] only */
    storage_matcher m13[] = {eq("job", "db")};
    CHECK_EQ_STR(sel(st, "t1", m13, 1, 500, 2000), "d");
    CHECK_EQ_STR(sel(st, "t1", m13, 1, 0, 90), "c");
    CHECK_EQ_STR(sel(st, "t1", m13, 1, 91, 999), "");

    /* tenants never mix */
    CHECK_EQ_STR(sel(st, "t2", m1, 1, lo, hi), "e2");
    CHECK_EQ_STR(sel(st, "t3", m1, 1, lo, hi), "");

    /* sorted by labels: __name__ "down" sorts before "up" */
    arena *q = arena_create(4096, 0);
    storage_series_ref *refs;
    size_t n;
    CHECK(storage_select(st, "t1", m5, 1, lo, hi, q, &refs, &n) == SONDE_OK);
    CHECK_EQ_INT(n, 4);
    if (n == 4) {
        CHECK(refs[0].labels[0].value_len == 4 && memcmp(refs[0].labels[0].value, "down", 4) == 0);
        /* the t2 series' id is not readable as t1 */
        sonde_sample *smp;
        size_t ns;
        CHECK(storage_read_samples(st, "t1", refs[0].id, lo, hi, q, &smp, &ns) == SONDE_OK);
        CHECK_EQ_INT(ns, 10);
        CHECK(storage_read_samples(st, "t2", refs[0].id, lo, hi, q, &smp, &ns) == SONDE_OK);
        CHECK_EQ_INT(ns, 0);
    }

    /* label names and values */
    const char **names;
    CHECK(storage_label_names(st, "t1", NULL, 0, lo, hi, q, &names, &n) == SONDE_OK);
    CHECK_EQ_INT(n, 4);
    if (n == 4) {
        CHECK_EQ_STR(names[0], "__name__");
        CHECK_EQ_STR(names[1], "env");
        CHECK_EQ_STR(names[2], "instance");
        CHECK_EQ_STR(names[3], "job");
    }
    CHECK(storage_label_names(st, "t1", m13, 1, lo, hi, q, &names, &n) == SONDE_OK);
    CHECK_EQ_INT(n, 3); /* no env among job=db */
    const char **vals;
    CHECK(storage_label_values(st, "t1", "job", NULL, 0, lo, hi, q, &vals, &n) == SONDE_OK);
    CHECK_EQ_INT(n, 2);
    if (n == 2) {
        CHECK_EQ_STR(vals[0], "api");
        CHECK_EQ_STR(vals[1], "db");
    }
    CHECK(storage_label_values(st, "t1", "__name__", m13, 1, 500, hi, q, &vals, &n) == SONDE_OK);
    CHECK_EQ_INT(n, 1);
    if (n == 1)
        CHECK_EQ_STR(vals[0], "down");
    CHECK(storage_label_values(st, "t2", "job", NULL, 0, lo, hi, q, &vals, &n) == SONDE_OK);
    CHECK_EQ_INT(n, 1);

    arena_destroy(q);
    arena_destroy(a);
    storage_close(st);
    tmpdir_remove(dir);
}

static uint64_t series_id(storage *st, const char *tenant, const char *inst)
{
    storage_matcher m[] = {eq("instance", inst)};
    arena *a = arena_create(4096, 0);
    storage_series_ref *r;
    size_t n = 0;
    uint64_t id = UINT64_MAX;
    if (storage_select(st, tenant, m, 1, INT64_MIN, INT64_MAX, a, &r, &n) == SONDE_OK && n == 1)
        id = r[0].id;
    arena_destroy(a);
    return id;
}

static void test_chunks_and_rules(void)
{
    char *dir = tmpdir_make();
    storage *st = open_with(dir, 10, 2);
    CHECK(st != NULL);
    if (!st)
        return;
    arena *a = arena_create(4096, 0);
    const char *L[] = {"__name__", "m", "instance", "x"};
    /* 95 samples in 10 appends of 10 (last one short), negative ts included */
    for (int k = 0; k < 10; k++) {
        sonde_series s = series_make(a, L, 2, -500 + k * 100, 10, k == 9 ? 5 : 10, k * 10);
        CHECK(storage_append_direct(st, "t", &s, 1) == SONDE_OK);
    }
    uint64_t id = series_id(st, "t", "x");
    CHECK(id != UINT64_MAX);
    sonde_sample *smp;
    size_t n;
    CHECK(storage_read_samples(st, "t", id, INT64_MIN, INT64_MAX, a, &smp, &n) == SONDE_OK);
    CHECK_EQ_INT(n, 95);
    int ok = 1;
    for (size_t i = 0; i < n; i++)
        ok &= smp[i].ts_ms == -500 + (int64_t)i * 10 && smp[i].value == (double)i;
    CHECK(ok);
    CHECK(storage_read_samples(st, "t", id, -5, 105, a, &smp, &n) == SONDE_OK);
    CHECK_EQ_INT(n, 11); /* 0..100 */
    if (n == 11)
        CHECK(smp[0].ts_ms == 0 && smp[10].ts_ms == 100);
    CHECK(storage_read_samples(st, "t", id, 440, 10000, a, &smp, &n) == SONDE_OK);
    CHECK_EQ_INT(n, 1);

    /* duplicate (same ts, same value) and out-of-order samples are dropped */
    sonde_series d = series_make(a, L, 2, 440, 10, 1, 94);
    sonde_series o = series_make(a, L, 2, 430, 10, 1, 7);
    sonde_series o2 = series_make(a, L, 2, 440, 10, 1, 1000);
    CHECK(storage_append_direct(st, "t", &d, 1) == SONDE_OK);
    CHECK(storage_append_direct(st, "t", &o, 1) == SONDE_OK);
    CHECK(storage_append_direct(st, "t", &o2, 1) == SONDE_OK);
    CHECK(storage_read_samples(st, "t", id, INT64_MIN, INT64_MAX, a, &smp, &n) == SONDE_OK);
    CHECK_EQ_INT(n, 95);
    buf mb;
    buf_init(&mb, 1 << 20);
    storage_metrics_write(st, &mb);
    CHECK(mb.len > 0 &&
          strstr(mb.data, "sonde_storage_samples_dropped_total{reason=\"duplicate\"} 1\n"));
    CHECK(mb.len > 0 && strstr(mb.data, "reason=\"out_of_order\"} 2\n"));
    CHECK(mb.len > 0 && strstr(mb.data, "sonde_storage_samples_appended_total 95\n"));
    CHECK(mb.len > 0 && strstr(mb.data, "sonde_storage_active_series 1\n"));
    CHECK(mb.len > 0 && strstr(mb.data, "# TYPE sonde_storage_commit_latency_seconds histogram"));
    buf_fini(&mb);

    /* survives close/open: chunks + checkpointed head */
    storage_close(st);
    st = open_with(dir, 10, 3); /* a different shard count is fine */
    CHECK(st != NULL);
    if (st) {
        CHECK(ready_wait(st, 5000) == 0);
        CHECK_EQ_INT(series_id(st, "t", "x"), id);
        CHECK(storage_read_samples(st, "t", id, INT64_MIN, INT64_MAX, a, &smp, &n) == SONDE_OK);
        CHECK_EQ_INT(n, 95);
        /* appends continue after the reloaded head; old ones still dropped */
        sonde_series more = series_make(a, L, 2, 430, 10, 5, 93);
        CHECK(storage_append_direct(st, "t", &more, 1) == SONDE_OK);
        CHECK(storage_read_samples(st, "t", id, INT64_MIN, INT64_MAX, a, &smp, &n) == SONDE_OK);
        CHECK_EQ_INT(n, 98);
        if (n == 98)
            CHECK(smp[97].ts_ms == 470 && smp[97].value == 97);
        /* a new series gets a fresh id */
        const char *L2[] = {"__name__", "m", "instance", "y"};
        sonde_series y = series_make(a, L2, 2, 0, 1, 1, 0);
        CHECK(storage_append_direct(st, "t", &y, 1) == SONDE_OK);
        CHECK(series_id(st, "t", "y") > id);
        storage_close(st);
    }
    arena_destroy(a);
    tmpdir_remove(dir);
}

static void test_close_right_after_open(void)
{
    char *dir = tmpdir_make();
    for (int i = 0; i < 3; i++) {
        storage *st = open_with(dir, 120, 2);
        CHECK(st != NULL);
        storage_close(st);
    }
    storage_close(NULL);
    tmpdir_remove(dir);
}

int main(void)
{
    RUN(test_matchers);
    RUN(test_chunks_and_rules);
    RUN(test_close_right_after_open);
    return TEST_DONE();
}
