/*
 * test_reader.c - the many-series reader (storage_reader_*) gives what
 * storage_read_samples gives: every window over stored chunks and the head,
 * series read in any order with one reader, writes between reads (a chunk
 * cut after the reader's snapshot must still be seen), the histogram flag;
 * and the bulk chunk decoder agrees with the sample-at-a-time one, also on
 * truncated chunks.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "storage/storage_internal.h"
#include "storage_test_util.h"
#include "test.h"

static uint64_t rng_state = 0x2545f4914f6cdd1dULL;
static uint64_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

static void test_decode_bulk(void)
{
    enum { N = 300 };
    for (int round = 0; round < 300; round++) {
        chunk_enc e;
        storage_chunk_enc_init(&e);
        size_t n = 1 + rnd() % N;
        int64_t t = (int64_t)(rnd() % 1000000000000ULL);
        for (size_t i = 0; i < n; i++) {
            double v;
            uint64_t b = rnd();
            if (round % 3 == 0)
                v = (double)(i * 7);
            else if (round % 3 == 1)
                memcpy(&v, &b, 8);
            else
                v = (double)(b % 1000) / 10.0;
            CHECK(storage_chunk_enc_append(&e, t, v) == SONDE_OK);
            t += round % 2 ? 15000 : 1 + (int64_t)(rnd() % 100000000);
        }
        uint32_t nbytes = storage_chunk_enc_bytes(&e);
        /* whole, and cut anywhere: the bulk decoder stops where the other does */
        uint32_t cut = round % 4 == 3 ? (uint32_t)(rnd() % (nbytes + 1)) : nbytes;
        int64_t mint = round % 5 == 0 ? (int64_t)(rnd() % 1000000000000ULL) : INT64_MIN;
        int64_t maxt = round % 7 == 0 ? mint + (int64_t)(rnd() % 100000000000ULL) : INT64_MAX;
        sonde_sample *want = calloc(n, sizeof(*want)), *got = calloc(n, sizeof(*got));
        chunk_dec d;
        storage_chunk_dec_init(&d, e.buf, cut, e.count);
        size_t nw = 0;
        int64_t ts;
        double v;
        while (storage_chunk_dec_next(&d, &ts, &v) && ts <= maxt)
            if (ts >= mint)
                want[nw++] = (sonde_sample){ts, v};
        size_t ng = storage_chunk_decode(e.buf, cut, e.count, mint, maxt, got);
        CHECK_EQ_INT((long long)ng, (long long)nw);
        CHECK(memcmp(got, want, nw * sizeof(*got)) == 0);
        free(want);
        free(got);
        storage_chunk_enc_fini(&e);
    }
}

enum { NS = 6, PER = 95 };

static void add(storage *st, int s, int from, int to)
{
    arena *a = arena_create(4096, 0);
    char inst[8];
    snprintf(inst, sizeof(inst), "i%d", s);
    const char *kv[] = {"__name__", "m", "instance", inst};
    sonde_series ser = series_make(a, kv, 2, (int64_t)from * 1000, 1000, (uint32_t)(to - from),
                                   (double)from + s * 1000);
    CHECK(storage_append_direct(st, "t", &ser, 1) == SONDE_OK);
    arena_destroy(a);
}

/* samples of series s in [mint, maxt] hold ts = j*1000, v = j + s*1000, j < upto */
static int check(const sonde_sample *x, size_t n, int s, int64_t mint, int64_t maxt, int upto)
{
    size_t k = 0;
    for (int j = 0; j < upto; j++) {
        int64_t ts = (int64_t)j * 1000;
        if (ts < mint || ts > maxt)
            continue;
        if (k >= n || x[k].ts_ms != ts || x[k].value != (double)j + s * 1000) {
            fprintf(stderr, "series %d: sample %zu wrong (want ts %lld)\n", s, k, (long long)ts);
            return 0;
        }
        k++;
    }
    if (k != n)
        fprintf(stderr, "series %d: %zu samples, want %zu\n", s, n, k);
    return k == n;
}

static void test_reader(void)
{
    char *dir = tmpdir_make();
    storage *st = open_cfg(dir, 3600000, 10); /* 10-sample chunks: ~9 stored per series */
    CHECK(st != NULL);
    if (!st) {
        tmpdir_remove(dir);
        return;
    }
    for (int s = 0; s < NS; s++)
        add(st, s, 0, PER);
    arena *a = arena_create(1 << 16, 0);
    storage_matcher m = {"__name__", 8, STORAGE_MATCH_EQ, "m", 1, NULL, NULL};
    storage_series_ref *r;
    size_t n;
    CHECK(storage_select(st, "t", &m, 1, INT64_MIN, INT64_MAX, a, &r, &n) == SONDE_OK);
    CHECK_EQ_INT((long long)n, NS);
    storage_reader *rd;
    CHECK(storage_reader_create(st, "t", &rd) == SONDE_OK);
    static const int64_t wins[][2] = {{INT64_MIN, INT64_MAX}, {0, 0},         {5000, 5000},
                                      {9000, 10000},          {33500, 61000}, {90000, 200000},
                                      {-5000, 12000},         {94000, 94000}, {95000, 99000}};
    for (size_t w = 0; w < 2 * sizeof(wins) / sizeof(wins[0]); w++) {
        for (size_t i = 0; i < n; i++) {
            /* series out of id order, then in id order (the reader steps instead of seeking) */
            size_t k = w & 1 ? i : (i * 5 + w) % n;
            const sonde_label *l = series_labels_get(r[k].labels, r[k].nlabels, "instance", 8);
            int s = l ? l->value[1] - '0' : -1;
            sonde_sample *x, *y;
            size_t nx, ny;
            bool hist = true;
            int64_t lo = wins[w / 2][0], hi = wins[w / 2][1];
            CHECK(storage_reader_read(rd, r[k].id, lo, hi, a, &x, &nx, &hist) == SONDE_OK);
            CHECK(!hist);
            CHECK(check(x, nx, s, lo, hi, PER));
            CHECK(storage_read_samples(st, "t", r[k].id, lo, hi, a, &y, &ny) == SONDE_OK);
            CHECK(nx == ny && (nx == 0 || memcmp(x, y, nx * sizeof(*x)) == 0));
        }
    }
    /* writes after the reader's snapshot: chunks cut since must be seen */
    for (int round = 1; round <= 3; round++) {
        int upto = PER + round * 25;
        for (int s = 0; s < NS; s++)
            add(st, s, upto - 25, upto);
        for (size_t i = 0; i < n; i++) {
            const sonde_label *l = series_labels_get(r[i].labels, r[i].nlabels, "instance", 8);
            int s = l ? l->value[1] - '0' : -1;
            sonde_sample *x;
            size_t nx;
            CHECK(storage_reader_read(rd, r[i].id, 40000, INT64_MAX, a, &x, &nx, NULL) ==
                  SONDE_OK);
            CHECK(check(x, nx, s, 40000, INT64_MAX, upto));
        }
    }
    /* an unknown id reads nothing */
    sonde_sample *x;
    size_t nx = 1;
    CHECK(storage_reader_read(rd, 987654321, INT64_MIN, INT64_MAX, a, &x, &nx, NULL) == SONDE_OK);
    CHECK_EQ_INT((long long)nx, 0);
    storage_reader_destroy(rd);
    storage_reader_destroy(NULL);
    CHECK(storage_reader_create(st, "", &rd) == SONDE_ERR_INVALID);
    arena_destroy(a);
    storage_close(st);
    tmpdir_remove(dir);
}

int main(void)
{
    RUN(test_decode_bulk);
    RUN(test_reader);
    return TEST_DONE();
}
