/*
 * storage_test_util.h - helpers shared by the storage unit tests: a fresh
 * data dir under /tmp, a tiny payload encoding with its decode function
 * (storage must not depend on remote_write), series builders and a done
 * callback recorder. Static functions only; each test includes it once.
 */
#ifndef SONDE_STORAGE_TEST_UTIL_H
#define SONDE_STORAGE_TEST_UTIL_H

#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/arena.h"
#include "core/series.h"
#include "storage/storage.h"

static __attribute__((unused)) int rm_cb(const char *p, const struct stat *sb, int flag,
                                         struct FTW *f)
{
    (void)sb;
    (void)flag;
    (void)f;
    return remove(p);
}

static __attribute__((unused)) char *tmpdir_make(void)
{
    char *t = strdup("/tmp/sonde-storage-test-XXXXXX");
    return mkdtemp(t);
}

static __attribute__((unused)) void tmpdir_remove(char *d)
{
    if (d)
        nftw(d, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
    free(d);
}

/* ---- payload: u32 nseries; per series: u32 nlabels, (u32 len, bytes) x2
 * per label, u32 nsamples, (i64 ts, u64 bits) per sample; little endian ---- */

static void put32(char **p, uint32_t v)
{
    memcpy(*p, &v, 4);
    *p += 4;
}

static __attribute__((unused)) size_t payload_encode(const sonde_series *s, size_t n, char **out)
{
    size_t len = 4;
    for (size_t i = 0; i < n; i++) {
        len += 8 + (size_t)s[i].nsamples * 16;
        for (uint32_t j = 0; j < s[i].nlabels; j++)
            len += 8 + s[i].labels[j].name_len + s[i].labels[j].value_len;
    }
    char *b = malloc(len), *p = b;
    put32(&p, (uint32_t)n);
    for (size_t i = 0; i < n; i++) {
        put32(&p, s[i].nlabels);
        for (uint32_t j = 0; j < s[i].nlabels; j++) {
            put32(&p, s[i].labels[j].name_len);
            memcpy(p, s[i].labels[j].name, s[i].labels[j].name_len);
            p += s[i].labels[j].name_len;
            put32(&p, s[i].labels[j].value_len);
            memcpy(p, s[i].labels[j].value, s[i].labels[j].value_len);
            p += s[i].labels[j].value_len;
        }
        put32(&p, s[i].nsamples);
        for (uint32_t j = 0; j < s[i].nsamples; j++) {
            memcpy(p, &s[i].samples[j].ts_ms, 8);
            memcpy(p + 8, &s[i].samples[j].value, 8);
            p += 16;
        }
    }
    *out = b;
    return len;
}

static int get32(const char **p, const char *end, uint32_t *v)
{
    if (end - *p < 4)
        return -1;
    memcpy(v, *p, 4);
    *p += 4;
    return 0;
}

static _Atomic int test_decode_calls;

static __attribute__((unused)) sonde_status test_decode(void *ctx, storage_batch_kind kind,
                                                        const void *payload, size_t len,
                                                        arena **decoded, sonde_series **series,
                                                        size_t *nseries,
                                                        const storage_series_meta **meta)
{
    (void)meta;
    (void)ctx;
    (void)kind;
    atomic_fetch_add(&test_decode_calls, 1);
    const char *p = payload, *end = p + len;
    arena *a = arena_create(4096, 0);
    uint32_t n;
    if (get32(&p, end, &n))
        goto bad;
    sonde_series *s = arena_calloc(a, n ? n : 1, sizeof *s);
    for (uint32_t i = 0; i < n; i++) {
        if (get32(&p, end, &s[i].nlabels))
            goto bad;
        s[i].labels = arena_calloc(a, s[i].nlabels ? s[i].nlabels : 1, sizeof(sonde_label));
        for (uint32_t j = 0; j < s[i].nlabels; j++) {
            sonde_label *l = &s[i].labels[j];
            if (get32(&p, end, &l->name_len) || end - p < l->name_len)
                goto bad;
            l->name = arena_strndup(a, p, l->name_len);
            p += l->name_len;
            if (get32(&p, end, &l->value_len) || end - p < l->value_len)
                goto bad;
            l->value = arena_strndup(a, p, l->value_len);
            p += l->value_len;
        }
        if (get32(&p, end, &s[i].nsamples) || (size_t)(end - p) < (size_t)s[i].nsamples * 16)
            goto bad;
        s[i].samples = arena_calloc(a, s[i].nsamples ? s[i].nsamples : 1, sizeof(sonde_sample));
        for (uint32_t j = 0; j < s[i].nsamples; j++) {
            memcpy(&s[i].samples[j].ts_ms, p, 8);
            memcpy(&s[i].samples[j].value, p + 8, 8);
            p += 16;
        }
        s[i].hash = series_labels_hash(s[i].labels, s[i].nlabels);
    }
    *decoded = a;
    *series = s;
    *nseries = n;
    return SONDE_OK;
bad:
    arena_destroy(a);
    return SONDE_ERR_INVALID;
}

/* ---- building series: labels from "name", "value", ... pairs ---- */

static __attribute__((unused)) sonde_series series_make(arena *a, const char *const *kv,
                                                        uint32_t nl, int64_t ts0, int64_t step,
                                                        uint32_t ns, double v0)
{
    sonde_series s = {0};
    s.labels = arena_calloc(a, nl, sizeof(sonde_label));
    for (uint32_t i = 0; i < nl; i++) {
        s.labels[i].name = kv[2 * i];
        s.labels[i].name_len = (uint32_t)strlen(kv[2 * i]);
        s.labels[i].value = kv[2 * i + 1];
        s.labels[i].value_len = (uint32_t)strlen(kv[2 * i + 1]);
    }
    s.nlabels = nl;
    series_labels_sort(s.labels, nl);
    s.samples = arena_calloc(a, ns ? ns : 1, sizeof(sonde_sample));
    for (uint32_t i = 0; i < ns; i++) {
        s.samples[i].ts_ms = ts0 + (int64_t)i * step;
        s.samples[i].value = v0 + i;
    }
    s.nsamples = ns;
    s.hash = series_labels_hash(s.labels, nl);
    return s;
}

/* Builds a batch whose decoded form is a deep copy (via the test decoder). */
static __attribute__((unused)) storage_batch *batch_make(const char *tenant, const sonde_series *s,
                                                         size_t n)
{
    char *payload;
    size_t len = payload_encode(s, n, &payload);
    arena *dec;
    sonde_series *ds;
    size_t dn;
    if (test_decode(NULL, STORAGE_BATCH_REMOTE_WRITE_V1, payload, len, &dec, &ds, &dn, NULL) !=
        SONDE_OK)
        abort();
    storage_batch *b =
        storage_batch_create(tenant, STORAGE_BATCH_REMOTE_WRITE_V1, payload, len, dec, ds, dn);
    free(payload);
    return b;
}

/* ---- done callback recorder ---- */

typedef struct done_rec {
    _Atomic int calls;
    _Atomic int ok;
    _Atomic int dup;
} done_rec;

static __attribute__((unused)) void done_cb(void *ctx, sonde_status st, bool duplicate)
{
    done_rec *r = ctx;
    if (st == SONDE_OK)
        atomic_fetch_add(&r->ok, 1);
    if (duplicate)
        atomic_fetch_add(&r->dup, 1);
    atomic_fetch_add(&r->calls, 1);
}

static __attribute__((unused)) int done_wait(done_rec *r, int want, int timeout_ms)
{
    for (int i = 0; i < timeout_ms; i++) {
        if (atomic_load(&r->calls) >= want)
            return 0;
        usleep(1000);
    }
    return -1;
}

static __attribute__((unused)) int ready_wait(storage *st, int timeout_ms)
{
    for (int i = 0; i < timeout_ms; i++) {
        if (storage_ready(st))
            return 0;
        usleep(1000);
    }
    return -1;
}

static __attribute__((unused)) storage_config config_make(const char *dir)
{
    storage_config c = {0};
    c.data_dir = dir;
    c.decode = test_decode;
    storage_config_defaults(&c);
    return c;
}

/* ---- the commit/replay fixture: NSER series "reqs"{instance="iN", job="j"} ---- */

enum { NSER = 3 };

static const char *const inst_names[NSER] = {"i0", "i1", "i2"};

/* batch k: NSER series, `per` samples each at ts k*per .. k*per+per-1 */
static __attribute__((unused)) storage_batch *batch_k(const char *tenant, int k, int per)
{
    arena *a = arena_create(4096, 0);
    sonde_series s[NSER];
    for (int i = 0; i < NSER; i++) {
        const char *kv[] = {"__name__", "reqs", "instance", inst_names[i], "job", "j"};
        s[i] = series_make(a, kv, 3, (int64_t)k * per * 1000, 1000, (uint32_t)per,
                           (double)(k * per) + i * 0.5);
    }
    storage_batch *b = batch_make(tenant, s, NSER);
    arena_destroy(a);
    return b;
}

/* Checks that series i holds exactly samples 0..total-1 (ts = j*1000). */
static __attribute__((unused)) int verify(storage *st, const char *tenant, int total)
{
    arena *a = arena_create(1 << 16, 0);
    storage_matcher m = {"__name__", 8, STORAGE_MATCH_EQ, "reqs", 4, NULL, NULL};
    storage_series_ref *r;
    size_t n;
    int ok =
        storage_select(st, tenant, &m, 1, INT64_MIN, INT64_MAX, a, &r, &n) == SONDE_OK && n == NSER;
    for (size_t i = 0; ok && i < n; i++) {
        const sonde_label *l = series_labels_get(r[i].labels, r[i].nlabels, "instance", 8);
        int idx = l ? l->value[1] - '0' : -1;
        sonde_sample *smp;
        size_t ns;
        ok = storage_read_samples(st, tenant, r[i].id, INT64_MIN, INT64_MAX, a, &smp, &ns) ==
             SONDE_OK;
        if (ok && ns != (size_t)total) {
            fprintf(stderr, "series %d: %zu samples, want %d\n", idx, ns, total);
            ok = 0;
        }
        for (size_t j = 0; ok && j < ns; j++)
            if (smp[j].ts_ms != (int64_t)j * 1000 || smp[j].value != (double)j + idx * 0.5) {
                fprintf(stderr, "series %d sample %zu: ts=%lld v=%g\n", idx, j,
                        (long long)smp[j].ts_ms, smp[j].value);
                ok = 0;
            }
    }
    arena_destroy(a);
    return ok;
}

static __attribute__((unused)) storage *open_cfg(const char *dir, int64_t ckpt_ms, uint32_t chunk)
{
    storage_config c = config_make(dir);
    c.checkpoint_interval_ms = ckpt_ms;
    c.chunk_max_samples = chunk;
    c.agg_shards = 2;
    storage *st = NULL;
    char err[256];
    if (storage_open(&c, &st, err, sizeof err) != SONDE_OK)
        fprintf(stderr, "open: %s\n", err);
    return st;
}

#endif
