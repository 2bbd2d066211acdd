/*
 * test_chunk.c - Gorilla chunk round trips (random and edge values, bit-exact)
 * and the key encoding order (chunk keys sort by time, negative ts included).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "storage/storage_internal.h"
#include "test.h"

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;
static uint64_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

static uint64_t bits_of(double v)
{
    uint64_t b;
    memcpy(&b, &v, 8);
    return b;
}

static double from_bits(uint64_t b)
{
    double v;
    memcpy(&v, &b, 8);
    return v;
}

/* Encodes n samples and decodes them back; returns 1 when bit-exact. */
static int roundtrip(const int64_t *ts, const double *v, size_t n)
{
    chunk_enc e;
    storage_chunk_enc_init(&e);
    for (size_t i = 0; i < n; i++)
        if (storage_chunk_enc_append(&e, ts[i], v[i]) != SONDE_OK)
            return 0;
    int ok = e.count == n;
    chunk_dec d;
    storage_chunk_dec_init(&d, e.buf, storage_chunk_enc_bytes(&e), e.count);
    size_t i = 0;
    int64_t t;
    double x;
    while (storage_chunk_dec_next(&d, &t, &x)) {
        if (i >= n || t != ts[i] || bits_of(x) != bits_of(v[i])) {
            ok = 0;
            break;
        }
        i++;
    }
    ok = ok && i == n;
    storage_chunk_enc_fini(&e);
    return ok;
}

static void test_chunk_random(void)
{
    enum { N = 500 };
    int64_t ts[N];
    double v[N];
    for (int round = 0; round < 200; round++) {
        size_t n = 1 + rnd() % N;
        int64_t t = (int64_t)(rnd() % 2000000000000ULL) - 1000000000000LL;
        for (size_t i = 0; i < n; i++) {
            ts[i] = t;
            switch (round % 4) {
            case 0: /* regular scrape with jitter */
                t += 15000 + (int64_t)(rnd() % 50) - 25;
                v[i] = (double)(i * 3);
                break;
            case 1: /* random gaps and random doubles */
                t += 1 + (int64_t)(rnd() % 10000000);
                v[i] = from_bits(rnd());
                break;
            case 2: /* gauges */
                t += 1000;
                v[i] = (double)(rnd() % 1000) / 7.0;
                break;
            default: /* huge gaps */
                t += 1 + (int64_t)(rnd() % (1ULL << 40));
                v[i] = (double)rnd();
                break;
            }
        }
        CHECK(roundtrip(ts, v, n));
    }
}

static void test_chunk_edges(void)
{
    double v[] = {NAN,
                  from_bits(SONDE_STALE_NAN_BITS),
                  INFINITY,
                  -INFINITY,
                  -0.0,
                  0.0,
                  from_bits(0x7ff8000000000001ULL),
                  1e308,
                  -1e-308,
                  from_bits(1),
                  from_bits(SONDE_STALE_NAN_BITS),
                  42.0};
    size_t n = sizeof v / sizeof v[0];
    int64_t ts[sizeof v / sizeof v[0]] = {
        INT64_MIN + 1,   -5000000000000LL, -1,       0, 1, 2, 3, 1000000000000LL, INT64_MAX / 2,
        INT64_MAX - 100, INT64_MAX - 1,    INT64_MAX};
    CHECK(roundtrip(ts, v, n));
    /* one sample; same value repeated; dod in each bucket */
    int64_t t1[] = {7};
    double v1[] = {from_bits(SONDE_STALE_NAN_BITS)};
    CHECK(roundtrip(t1, v1, 1));
    int64_t t2[] = {0, 10, 20, 8211, 16402, 100000, 300000, 1300000, 1300001, 2300001};
    double v2[] = {1, 1, 1, 1, 2, 2, -0.0, 0.0, -0.0, NAN};
    CHECK(roundtrip(t2, v2, 10));
    /* a truncated chunk decodes nothing past its end and never crashes */
    chunk_enc e;
    storage_chunk_enc_init(&e);
    for (int i = 0; i < 50; i++)
        storage_chunk_enc_append(&e, i * 1000, (double)i * 1.5);
    chunk_dec d;
    storage_chunk_dec_init(&d, e.buf, storage_chunk_enc_bytes(&e) / 2, e.count);
    int64_t t;
    double x;
    int got = 0;
    while (storage_chunk_dec_next(&d, &t, &x))
        got++;
    CHECK(got < 50);
    storage_chunk_enc_fini(&e);
}

/* storage_chunk_decode as the one-sample decoder defines it */
static size_t ref_decode(const uint8_t *b, uint32_t nb, uint32_t count, int64_t mint, int64_t maxt,
                         sonde_sample *out)
{
    chunk_dec d;
    storage_chunk_dec_init(&d, b, nb, count);
    size_t k = 0;
    int64_t t;
    double x;
    while (storage_chunk_dec_next(&d, &t, &x)) {
        if (t > maxt)
            break;
        if (t >= mint) {
            out[k].ts_ms = t;
            out[k].value = x;
            k++;
        }
    }
    return k;
}

static int same_decode(const uint8_t *b, uint32_t nb, uint32_t count, int64_t mint, int64_t maxt)
{
    static sonde_sample got[600], want[600];
    size_t ng = storage_chunk_decode(b, nb, count, mint, maxt, got);
    size_t nw = ref_decode(b, nb, count, mint, maxt, want);
    if (ng != nw)
        return 0;
    for (size_t i = 0; i < ng; i++)
        if (got[i].ts_ms != want[i].ts_ms || bits_of(got[i].value) != bits_of(want[i].value))
            return 0;
    return 1;
}

/* The bulk decoder (an unchecked fast loop and the checked tail) gives what
 * the one-sample decoder gives: whole chunks, windows, truncated and damaged
 * chunks, counts larger than the data. */
static void test_chunk_bulk_decode(void)
{
    enum { N = 500 };
    static uint8_t cbuf[N * 20];
    for (int round = 0; round < 120; round++) {
        chunk_enc e;
        storage_chunk_enc_init(&e);
        size_t n = 1 + rnd() % N;
        int64_t t = (int64_t)(rnd() % 2000000000000ULL) - 1000000000000LL, t0 = t;
        for (size_t i = 0; i < n; i++) {
            double v;
            switch (round % 4) {
            case 0:
                t += 15000 + (int64_t)(rnd() % 50) - 25;
                v = (double)(i * 3);
                break;
            case 1:
                t += 1 + (int64_t)(rnd() % 10000000);
                v = from_bits(rnd());
                break;
            case 2:
                t += 60000;
                v = (double)(rnd() % 1000) / 7.0;
                break;
            default:
                t += 1 + (int64_t)(rnd() % (1ULL << 40));
                v = (double)rnd();
                break;
            }
            CHECK(storage_chunk_enc_append(&e, t, v) == SONDE_OK);
        }
        uint32_t nb = storage_chunk_enc_bytes(&e);
        memcpy(cbuf, e.buf, nb);
        CHECK(same_decode(cbuf, nb, e.count, INT64_MIN, INT64_MAX));
        CHECK(same_decode(cbuf, nb, e.count + 7, INT64_MIN, INT64_MAX));
        int64_t span = t - t0 + 1;
        for (int w = 0; w < 8; w++) {
            int64_t a = t0 + (int64_t)(rnd() % (uint64_t)span),
                    b = a + (int64_t)(rnd() % (uint64_t)span);
            CHECK(same_decode(cbuf, nb, e.count, a, b));
        }
        for (uint32_t cut = 0; cut < nb; cut += 1 + nb / 40)
            CHECK(same_decode(cbuf, cut, e.count, INT64_MIN, INT64_MAX));
        for (int f = 0; f < 20 && nb > 0; f++) {
            memcpy(cbuf, e.buf, nb);
            cbuf[rnd() % nb] ^= (uint8_t)(1u << (rnd() % 8));
            cbuf[rnd() % nb] ^= (uint8_t)(1u << (rnd() % 8));
            CHECK(same_decode(cbuf, nb, e.count, INT64_MIN, INT64_MAX));
        }
        storage_chunk_enc_fini(&e);
    }
}

static void test_chunk_compression(void)
{
    /* a regular counter compresses to a couple of bytes per sample */
    chunk_enc e;
    storage_chunk_enc_init(&e);
    for (int i = 0; i < 120; i++)
        storage_chunk_enc_append(&e, 1700000000000LL + i * 15000, (double)(i * 10));
    CHECK(storage_chunk_enc_bytes(&e) < 120 * 3);
    storage_chunk_enc_fini(&e);
}

static int keycmp(const uint8_t *a, size_t an, const uint8_t *b, size_t bn)
{
    size_t n = an < bn ? an : bn;
    int c = memcmp(a, b, n);
    return c ? c : (an < bn ? -1 : an > bn);
}

static void test_key_order(void)
{
    int64_t ts[] = {INT64_MIN, -1000000, -1, 0, 1, 255, 256, 1000000, INT64_MAX};
    size_t n = sizeof ts / sizeof ts[0];
    uint8_t a[STORAGE_KEY_MAX], b[STORAGE_KEY_MAX];
    for (size_t i = 0; i + 1 < n; i++) {
        size_t al = storage_key_chunk(a, "t1", 2, 5, ts[i]);
        size_t bl = storage_key_chunk(b, "t1", 2, 5, ts[i + 1]);
        CHECK(keycmp(a, al, b, bl) < 0);
        size_t tl;
        uint64_t id;
        int64_t t;
        CHECK(storage_key_chunk_parse(a, al, &tl, &id, &t));
        CHECK_EQ_INT(tl, 2);
        CHECK_EQ_INT(id, 5);
        CHECK(t == ts[i]);
    }
    /* series ids order before time; tenants are separate prefixes */
    size_t al = storage_key_chunk(a, "t1", 2, 5, INT64_MAX);
    size_t bl = storage_key_chunk(b, "t1", 2, 6, INT64_MIN);
    CHECK(keycmp(a, al, b, bl) < 0);
    al = storage_key_chunk(a, "t", 1, UINT64_MAX, INT64_MAX);
    bl = storage_key_chunk(b, "t1", 2, 0, INT64_MIN);
    CHECK(keycmp(a, al, b, bl) < 0);
    uint8_t s[STORAGE_KEY_MAX];
    size_t sl = storage_key_series(s, "abc", 3, 258);
    CHECK_EQ_INT(sl, 12);
    CHECK(s[3] == 0 && s[10] == 1 && s[11] == 2);
    CHECK(storage_key_ts_decode(storage_key_ts_encode(-42)) == -42);
}

static void test_dedup_set(void)
{
    dedup_set d;
    storage_dedup_init(&d);
    uint8_t id[16];
    for (int i = 0; i < 5000; i++) {
        memset(id, 0, 16);
        uint64_t r = rnd();
        memcpy(id, &r, 8);
        memcpy(id + 8, &i, sizeof i);
        CHECK(storage_dedup_add(&d, id, i) == SONDE_OK);
    }
    CHECK(d.n == 5000);
    storage_dedup_expire(&d, 2500);
    CHECK(d.n == 2500);
    int present = 0;
    /* expiry by time, checked id by id */
    dedup_set d2;
    storage_dedup_init(&d2);
    for (int i = 0; i < 3000; i++) {
        memset(id, 0, 16);
        memcpy(id, &i, sizeof i);
        storage_dedup_add(&d2, id, i);
    }
    storage_dedup_expire(&d2, 1000);
    for (int i = 0; i < 3000; i++) {
        memset(id, 0, 16);
        memcpy(id, &i, sizeof i);
        present += storage_dedup_contains(&d2, id);
        if ((i >= 1000) != storage_dedup_contains(&d2, id)) {
            CHECK(0);
            break;
        }
    }
    CHECK_EQ_INT(present, 2000);
    storage_dedup_fini(&d2);
    storage_dedup_fini(&d);
}

int main(void)
{
    RUN(test_chunk_random);
    RUN(test_chunk_edges);
    RUN(test_chunk_bulk_decode);
    RUN(test_chunk_compression);
    RUN(test_key_order);
    RUN(test_dedup_set);
    return TEST_DONE();
}
