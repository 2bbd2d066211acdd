/*
 * test_hist.c - native histogram samples in storage: the head encoding round
 * trip (random histograms, bit-exact), storage_append_histograms_direct +
 * storage_read_histograms through a real storage (ranges, out-of-order drops,
 * counter-reset hints, series holding floats and histograms, selection of
 * histogram-only series, heads checkpointed at close and restored at open,
 * small chunks cut and read back across restarts), and sonde_fhist_detect_reset.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "storage/storage_internal.h"
#include "storage_test_util.h"
#include "test.h"

static uint64_t rng = 0x2545f4914f6cdd1dULL;
static uint64_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static bool same_bits(double a, double b)
{
    return memcmp(&a, &b, sizeof(double)) == 0;
}

static bool fhist_same(const sonde_fhist *a, const sonde_fhist *b)
{
    if (a->schema != b->schema || a->hint != b->hint || !same_bits(a->count, b->count) ||
        !same_bits(a->sum, b->sum) || !same_bits(a->zero_count, b->zero_count) ||
        !same_bits(a->zero_threshold, b->zero_threshold) || a->npos != b->npos ||
        a->nneg != b->nneg || a->ncustom != b->ncustom)
        return false;
    for (uint32_t i = 0; i < a->npos; i++)
        if (a->pos_idx[i] != b->pos_idx[i] || !same_bits(a->pos[i], b->pos[i]))
            return false;
    for (uint32_t i = 0; i < a->nneg; i++)
        if (a->neg_idx[i] != b->neg_idx[i] || !same_bits(a->neg[i], b->neg[i]))
            return false;
    for (uint32_t i = 0; i < a->ncustom; i++)
        if (!same_bits(a->custom[i], b->custom[i]))
            return false;
    return true;
}

static void random_hist(arena *a, sonde_fhist *h, int round)
{
    memset(h, 0, sizeof(*h));
    bool custom = round % 3 == 0;
    h->schema = custom ? SONDE_HIST_CUSTOM : (int32_t)(rnd() % 13) - 4;
    h->hint = (uint8_t)(rnd() % 4);
    h->count = (double)(rnd() % 1000);
    h->sum = round % 5 ? (double)(rnd() % 100000) / 7.0 : NAN;
    if (!custom) {
        h->zero_threshold = round % 2 ? 0.001 : 0;
        h->zero_count = (double)(rnd() % 10);
    }
    h->npos = (uint32_t)(rnd() % 8);
    h->nneg = custom ? 0 : (uint32_t)(rnd() % 5);
    h->ncustom = custom ? (uint32_t)(rnd() % 6) : 0;
    h->pos_idx = arena_alloc(a, (h->npos + 1) * sizeof(int32_t));
    h->pos = arena_alloc(a, (h->npos + 1) * sizeof(double));
    h->neg_idx = arena_alloc(a, (h->nneg + 1) * sizeof(int32_t));
    h->neg = arena_alloc(a, (h->nneg + 1) * sizeof(double));
    h->custom = arena_alloc(a, (h->ncustom + 1) * sizeof(double));
    int32_t idx = (int32_t)(rnd() % 20) - 10;
    for (uint32_t i = 0; i < h->npos; i++) {
        idx += 1 + (int32_t)(rnd() % 3);
        h->pos_idx[i] = idx;
        h->pos[i] = (double)(rnd() % 50);
    }
    idx = (int32_t)(rnd() % 20) - 10;
    for (uint32_t i = 0; i < h->nneg; i++) {
        idx += 1 + (int32_t)(rnd() % 3);
        h->neg_idx[i] = idx;
        h->neg[i] = (double)(rnd() % 50) / 3.0;
    }
    for (uint32_t i = 0; i < h->ncustom; i++)
        h->custom[i] = (double)i * 0.25 - 0.5 + (round % 2 ? 0 : 0.125);
}

static void test_hist_encoding(void)
{
    arena *a = arena_create(1 << 16, 0);
    for (int round = 0; round < 100; round++) {
        hist_head h;
        memset(&h, 0, sizeof(h));
        enum { N = 40 };
        sonde_fhist in[N];
        int64_t ts[N], t = (int64_t)(rnd() % 1000000) - 500000;
        size_t n = 1 + rnd() % N;
        for (size_t i = 0; i < n; i++) {
            /* runs of equal layouts and equal custom bounds, as real data has */
            if (i > 0 && rnd() % 3)
                in[i] = in[i - 1];
            else
                random_hist(a, &in[i], round + (int)i);
            ts[i] = t;
            t += 1 + (int64_t)(rnd() % 60000);
            CHECK_EQ_INT(storage_hist_append(&h, ts[i], &in[i]), SONDE_OK);
        }
        sonde_hsample *out;
        size_t got;
        CHECK_EQ_INT(
            storage_hist_decode(h.buf, h.len, h.count, INT64_MIN, INT64_MAX, a, &out, &got),
            SONDE_OK);
        CHECK_EQ_INT(got, n);
        for (size_t i = 0; i < got && i < n; i++) {
            CHECK_EQ_INT(out[i].ts_ms, ts[i]);
            CHECK(fhist_same(out[i].h, &in[i]));
        }
        /* a range keeps the samples inside it */
        if (n > 2) {
            CHECK_EQ_INT(
                storage_hist_decode(h.buf, h.len, h.count, ts[1], ts[n - 2], a, &out, &got),
                SONDE_OK);
            CHECK_EQ_INT(got, n - 2);
        }
        /* truncated input: never more samples, never a crash */
        if (h.len > 3) {
            CHECK_EQ_INT(
                storage_hist_decode(h.buf, h.len / 2, h.count, INT64_MIN, INT64_MAX, a, &out, &got),
                SONDE_OK);
            CHECK(got <= n);
        }
        free(h.buf);
        free(h.custom);
        free(h.last_h);
        arena_reset(a);
    }
    arena_destroy(a);
}

static sonde_status no_decode(void *ctx, storage_batch_kind kind, const void *payload, size_t len,
                              arena **decoded, sonde_series **series, size_t *nseries,
                              const storage_series_meta **meta)
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

static void simple_hist(sonde_fhist *h, int32_t *idx, double *cnt, double base)
{
    memset(h, 0, sizeof(*h));
    idx[0] = 1;
    idx[1] = 2;
    cnt[0] = base;
    cnt[1] = 2 * base;
    h->count = 3 * base;
    h->sum = 10 * base;
    h->npos = 2;
    h->pos_idx = idx;
    h->pos = cnt;
}

static void test_hist_storage(void)
{
    char *dir = tmpdir_make();
    storage_config cfg;
    memset(&cfg, 0, sizeof(cfg));
    cfg.data_dir = dir;
    cfg.decode = no_decode;
    cfg.agg_shards = 2;
    storage_config_defaults(&cfg);
    storage *st = NULL;
    char err[256] = "";
    CHECK_EQ_INT(storage_open(&cfg, &st, err, sizeof(err)), SONDE_OK);
    if (!st) {
        tmpdir_remove(dir);
        return;
    }
    for (int i = 0; i < 200 && !storage_ready(st); i++)
        usleep(10000);
    sonde_label l[2] = {{"__name__", "h", 8, 1}, {"job", "x", 3, 1}};
    int32_t idx[5][2];
    double cnt[5][2];
    sonde_fhist h[5];
    sonde_hsample hs[5];
    double base[5] = {1, 2, 3, 1, 4}; /* a counter reset at the fourth sample */
    for (int i = 0; i < 5; i++) {
        simple_hist(&h[i], idx[i], cnt[i], base[i]);
        hs[i] = (sonde_hsample){1000 * (i + 1), &h[i]};
    }
    sonde_hseries s = {l, 2, 5, hs};
    CHECK_EQ_INT(storage_append_histograms_direct(st, "t", &s, 1), SONDE_OK);
    /* out of order: dropped */
    sonde_hseries again = {l, 2, 1, hs};
    CHECK_EQ_INT(storage_append_histograms_direct(st, "t", &again, 1), SONDE_OK);
    /* floats of the same series at other timestamps */
    sonde_sample fs[2] = {{500, 7}, {6000, 8}};
    sonde_series fser = {l, 2, 2, fs, series_labels_hash(l, 2)};
    CHECK_EQ_INT(storage_append_direct(st, "t", &fser, 1), SONDE_OK);
    /* a histogram-only series is selected by time range */
    storage_matcher m = {"__name__", 8, STORAGE_MATCH_EQ, "h", 1, NULL, NULL};
    arena *a = arena_create(1 << 16, 0);
    storage_series_ref *refs;
    size_t nrefs;
    CHECK_EQ_INT(storage_select(st, "t", &m, 1, 2000, 3000, a, &refs, &nrefs), SONDE_OK);
    CHECK_EQ_INT(nrefs, 1);
    sonde_hsample *out;
    size_t n = 0;
    if (nrefs == 1) {
        CHECK_EQ_INT(
            storage_read_histograms(st, "t", refs[0].id, INT64_MIN, INT64_MAX, a, &out, &n),
            SONDE_OK);
        CHECK_EQ_INT(n, 5);
        for (size_t i = 0; i < n && i < 5; i++) {
            CHECK_EQ_INT(out[i].ts_ms, 1000 * (int64_t)(i + 1));
            CHECK(out[i].h->count == 3 * base[i]);
        }
        /* stored hints, as Prometheus' TSDB reads them back: not reset inside a
         * counter chunk, unknown where a chunk starts (first sample, reset) */
        if (n == 5) {
            CHECK_EQ_INT(out[0].h->hint, SONDE_HIST_HINT_UNKNOWN);
            CHECK_EQ_INT(out[1].h->hint, SONDE_HIST_HINT_NOT_RESET);
            CHECK_EQ_INT(out[3].h->hint, SONDE_HIST_HINT_UNKNOWN);
            CHECK_EQ_INT(out[4].h->hint, SONDE_HIST_HINT_NOT_RESET);
        }
        CHECK_EQ_INT(storage_read_histograms(st, "t", refs[0].id, 2000, 3000, a, &out, &n),
                     SONDE_OK);
        CHECK_EQ_INT(n, 2);
        sonde_sample *fo;
        size_t nf;
        CHECK_EQ_INT(storage_read_samples(st, "t", refs[0].id, INT64_MIN, INT64_MAX, a, &fo, &nf),
                     SONDE_OK);
        CHECK_EQ_INT(nf, 2);
        /* other tenants see nothing */
        CHECK_EQ_INT(
            storage_read_histograms(st, "u", refs[0].id, INT64_MIN, INT64_MAX, a, &out, &n),
            SONDE_OK);
        CHECK_EQ_INT(n, 0);
    }
    /* close checkpoints the histogram head; open restores it and appends go on */
    storage_close(st);
    st = NULL;
    CHECK_EQ_INT(storage_open(&cfg, &st, err, sizeof(err)), SONDE_OK);
    for (int i = 0; st && i < 200 && !storage_ready(st); i++)
        usleep(10000);
    if (st && nrefs == 1) {
        CHECK_EQ_INT(storage_select(st, "t", &m, 1, 2000, 3000, a, &refs, &nrefs), SONDE_OK);
        CHECK_EQ_INT(nrefs, 1);
        int32_t i6[2];
        double c6[2];
        sonde_fhist h6;
        simple_hist(&h6, i6, c6, 5);
        sonde_hsample s6 = {6000, &h6};
        sonde_hseries more = {l, 2, 1, &s6};
        CHECK_EQ_INT(storage_append_histograms_direct(st, "t", &more, 1), SONDE_OK);
        CHECK_EQ_INT(
            storage_read_histograms(st, "t", refs[0].id, INT64_MIN, INT64_MAX, a, &out, &n),
            SONDE_OK);
        CHECK_EQ_INT(n, 6);
        if (n == 6) {
            CHECK(out[2].h->count == 9 && out[3].h->hint == SONDE_HIST_HINT_UNKNOWN);
            CHECK(out[5].h->count == 15 && out[5].h->hint == SONDE_HIST_HINT_NOT_RESET);
        }
    }
    arena_destroy(a);
    storage_close(st);
    tmpdir_remove(dir);
}

/* Small chunks: cuts, reads across chunks and the head, restarts with a full
 * and with a partial last chunk. */
static void test_hist_chunks(void)
{
    char *dir = tmpdir_make();
    storage_config cfg;
    memset(&cfg, 0, sizeof(cfg));
    cfg.data_dir = dir;
    cfg.decode = no_decode;
    cfg.chunk_max_samples = 4;
    storage_config_defaults(&cfg);
    storage *st = NULL;
    char err[256] = "";
    sonde_label l[1] = {{"__name__", "c", 8, 1}};
    storage_matcher m = {"__name__", 8, STORAGE_MATCH_EQ, "c", 1, NULL, NULL};
    enum { N = 30 };
    static int32_t idx[N][2];
    static double cnt[N][2];
    static sonde_fhist h[N];
    sonde_hsample hs[N];
    for (int i = 0; i < N; i++) {
        simple_hist(&h[i], idx[i], cnt[i], 1 + i);
        hs[i] = (sonde_hsample){10000 * (int64_t)i, &h[i]};
    }
    arena *a = arena_create(1 << 16, 0);
    /* three rounds: 10 samples (2 cut chunks + head of 2), then restart and
     * 10 more (head continues), then restart and 10 more */
    for (int round = 0; round < 3; round++) {
        CHECK_EQ_INT(storage_open(&cfg, &st, err, sizeof(err)), SONDE_OK);
        if (!st)
            break;
        for (int i = 0; i < 200 && !storage_ready(st); i++)
            usleep(10000);
        sonde_hseries s = {l, 1, 10, hs + 10 * round};
        CHECK_EQ_INT(storage_append_histograms_direct(st, "t", &s, 1), SONDE_OK);
        storage_series_ref *refs;
        size_t nrefs = 0;
        CHECK_EQ_INT(storage_select(st, "t", &m, 1, INT64_MIN, INT64_MAX, a, &refs, &nrefs),
                     SONDE_OK);
        CHECK_EQ_INT(nrefs, 1);
        if (nrefs == 1) {
            sonde_hsample *out;
            size_t n;
            int want = 10 * (round + 1);
            CHECK_EQ_INT(
                storage_read_histograms(st, "t", refs[0].id, INT64_MIN, INT64_MAX, a, &out, &n),
                SONDE_OK);
            CHECK_EQ_INT(n, want);
            for (size_t i = 0; i < n && i < (size_t)want; i++)
                if (out[i].ts_ms != 10000 * (int64_t)i ||
                    out[i].h->count != 3.0 * (double)(i + 1)) {
                    CHECK(0);
                    break;
                }
            /* a range inside cut chunks and across the head */
            CHECK_EQ_INT(storage_read_histograms(st, "t", refs[0].id, 25000, 75000, a, &out, &n),
                         SONDE_OK);
            CHECK_EQ_INT(n, 5);
            if (n == 5)
                CHECK(out[0].ts_ms == 30000 && out[4].ts_ms == 70000);
            CHECK_EQ_INT(storage_read_histograms(st, "t", refs[0].id, 10000 * (want - 2), INT64_MAX,
                                                 a, &out, &n),
                         SONDE_OK);
            CHECK_EQ_INT(n, 2);
            /* every sample continues the counter: not reset after the first */
            if (n == 2)
                CHECK_EQ_INT(out[1].h->hint, SONDE_HIST_HINT_NOT_RESET);
        }
        arena_reset(a);
        storage_close(st);
        st = NULL;
    }
    arena_destroy(a);
    tmpdir_remove(dir);
}

static void test_detect_reset(void)
{
    int32_t i1[2], i2[2];
    double c1[2], c2[2];
    sonde_fhist a, b;
    simple_hist(&a, i1, c1, 2);
    simple_hist(&b, i2, c2, 3);
    CHECK(!sonde_fhist_detect_reset(&b, &a));
    CHECK(sonde_fhist_detect_reset(&a, &b));
    /* a bucket that drops while the count grows */
    c2[0] = 1;
    CHECK(sonde_fhist_detect_reset(&b, &a));
    c2[0] = 3;
    /* a higher resolution is a reset; a lower one is not by itself */
    b.schema = 1;
    CHECK(sonde_fhist_detect_reset(&b, &a));
    /* prev at schema 1: its buckets 1 and 2 (2 + 4) both map to bucket 1 of schema 0 */
    b.schema = 0;
    a.schema = 1;
    CHECK(sonde_fhist_detect_reset(&b, &a));
    c2[0] = 6;
    CHECK(!sonde_fhist_detect_reset(&b, &a));
    a.schema = 0;
    /* explicit hints win */
    b.hint = SONDE_HIST_HINT_RESET;
    CHECK(sonde_fhist_detect_reset(&b, &a));
    a.hint = SONDE_HIST_HINT_NOT_RESET;
    CHECK(!sonde_fhist_detect_reset(&a, &b));
    /* bucket bounds of schema 0: 2^idx */
    CHECK(sonde_fhist_bound(1, 0) == 2);
    CHECK(sonde_fhist_bound(-1, 0) == 0.5);
    CHECK(fabs(sonde_fhist_bound(1, 1) - sqrt(2)) < 1e-15);
    CHECK(sonde_fhist_bound(1, -1) == 4);
}

int main(void)
{
    RUN(test_hist_encoding);
    RUN(test_hist_storage);
    RUN(test_hist_chunks);
    RUN(test_detect_reset);
    return TEST_DONE();
}
