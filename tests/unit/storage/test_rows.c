/*
 * test_rows.c - span and log rows: add -> submit -> ack -> read back
 * (storage_trace_read across days and tenants), duplicates write nothing,
 * rows survive a reopen, the key layout and day bucketing (spans, the
 * trace_index, logs, log_streams), row batches leave the batch log and the
 * aggregator alone, a data dir from before the row families, and argument
 * checks.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/timeutil.h"
#include "storage/storage_internal.h"
#include "storage_test_util.h"
#include "test.h"

#define DAY_NS 86400000000000LL

static void fill_id(uint8_t *p, size_t n, uint8_t seed)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)(seed + i);
}

static _Atomic int released;

static void on_release(void *ctx)
{
    (void)ctx;
    atomic_fetch_add(&released, 1);
}

/* A traces batch of `tenant` named by `payload` with one span per entry. */
static storage_batch *span_batch(const char *tenant, const char *payload, const uint8_t *trace,
                                 const uint8_t (*span_ids)[8], const int64_t *starts,
                                 const char *const *values, size_t n)
{
    storage_batch *b = storage_batch_create(tenant, STORAGE_BATCH_OTLP_TRACES_V1, payload,
                                            strlen(payload), arena_create(1024, 0), NULL, 0);
    for (size_t i = 0; b && i < n; i++)
        if (storage_batch_add_span(b, trace, span_ids[i], starts[i], values[i],
                                   strlen(values[i])) != SONDE_OK) {
            storage_batch_destroy(b);
            return NULL;
        }
    storage_batch_set_release(b, on_release, NULL);
    return b;
}

static int submit_wait(storage *st, storage_batch *b, bool *dup)
{
    done_rec r = {0};
    if (storage_submit(st, b, done_cb, &r) != SONDE_OK || done_wait(&r, 1, 10000) != 0)
        return -1;
    if (dup)
        *dup = atomic_load(&r.dup) != 0;
    return atomic_load(&r.ok) == 1 ? 0 : -1;
}

/* The values of a trace joined with '|' ("" when absent). */
static void trace_str(storage *st, const char *tenant, const uint8_t *trace, char *out, size_t cap)
{
    arena *a = arena_create(4096, 0);
    const void **v;
    size_t *l, n;
    out[0] = 0;
    if (storage_trace_read(st, tenant, trace, a, &v, &l, &n) != SONDE_OK) {
        snprintf(out, cap, "ERROR");
    } else {
        size_t o = 0;
        for (size_t i = 0; i < n; i++)
            o += (size_t)snprintf(out + o, cap - o, "%s%.*s", i ? "|" : "", (int)l[i],
                                  (const char *)v[i]);
    }
    arena_destroy(a);
}

static size_t cf_count(storage *st, int cf)
{
    rocksdb_iterator_t *it = rocksdb_create_iterator_cf(st->db, st->ro, st->cf[cf]);
    size_t n = 0;
    for (rocksdb_iter_seek_to_first(it); rocksdb_iter_valid(it); rocksdb_iter_next(it))
        n++;
    rocksdb_iter_destroy(it);
    return n;
}

static void test_spans(void)
{
    char *dir = tmpdir_make();
    storage *st = open_cfg(dir, 60000, 8);
    CHECK(st != NULL);
    if (!st)
        return;
    uint8_t t1[16], t2[16];
    fill_id(t1, 16, 1);
    fill_id(t2, 16, 100);
    uint8_t sp[4][8];
    for (int i = 0; i < 4; i++)
        fill_id(sp[i], 8, (uint8_t)(40 - 10 * i)); /* descending ids */
    /* day 20000 and the next: span 0 and 1 on day 1, 2 on day 0 */
    int64_t d0 = 20000 * DAY_NS;
    int64_t starts[3] = {d0 + DAY_NS + 5, d0 + DAY_NS + 1, d0 + 7};
    const char *vals[3] = {"a", "b", "c"};
    atomic_store(&released, 0);
    uint64_t seq_before = atomic_load(&st->committed_seq);
    bool dup = true;
    CHECK(submit_wait(st, span_batch("acme", "req-1", t1, sp, starts, vals, 3), &dup) == 0);
    CHECK(!dup);
    CHECK_EQ_INT(atomic_load(&released), 1); /* destroyed after commit, not dispatched */
    /* row batches take no log sequence and leave nothing in the batch log */
    CHECK_EQ_INT(atomic_load(&st->committed_seq), seq_before);
    CHECK_EQ_INT(cf_count(st, CF_BATCHES), 0);

    /* another tenant, same trace id; another trace of acme */
    const char *bv[1] = {"beta-span"};
    CHECK(submit_wait(st, span_batch("beta", "req-1", t1, sp, starts, bv, 1), &dup) == 0);
    CHECK(!dup); /* same payload, other tenant: not a duplicate */
    const char *ov[1] = {"other"};
    CHECK(submit_wait(st, span_batch("acme", "req-2", t2, sp, starts, ov, 1), &dup) == 0);

    char s[256];
    /* key order: day 20000 first (c), then day 20001 by span id (b has id 30.., a 40..) */
    trace_str(st, "acme", t1, s, sizeof s);
    CHECK_EQ_STR(s, "c|b|a");
    trace_str(st, "beta", t1, s, sizeof s);
    CHECK_EQ_STR(s, "beta-span");
    trace_str(st, "acme", t2, s, sizeof s);
    CHECK_EQ_STR(s, "other");
    trace_str(st, "nobody", t1, s, sizeof s);
    CHECK_EQ_STR(s, "");
    CHECK_EQ_INT(cf_count(st, CF_TRACE_INDEX), 4); /* acme t1 x2 days, beta t1, acme t2 */

    /* duplicate: same tenant and payload, other rows -> nothing written */
    const char *dv[3] = {"X", "Y", "Z"};
    uint8_t sp2[3][8];
    fill_id(sp2[0], 8, 200);
    fill_id(sp2[1], 8, 201);
    fill_id(sp2[2], 8, 202);
    CHECK(submit_wait(st, span_batch("acme", "req-1", t1, sp2, starts, dv, 3), &dup) == 0);
    CHECK(dup);
    trace_str(st, "acme", t1, s, sizeof s);
    CHECK_EQ_STR(s, "c|b|a");
    CHECK_EQ_INT(cf_count(st, CF_SPANS), 5);
    storage_close(st);

    /* reopen: rows and the dedup window survive */
    st = open_cfg(dir, 60000, 8);
    CHECK(st != NULL);
    if (st) {
        CHECK(ready_wait(st, 5000) == 0);
        trace_str(st, "acme", t1, s, sizeof s);
        CHECK_EQ_STR(s, "c|b|a");
        trace_str(st, "beta", t1, s, sizeof s);
        CHECK_EQ_STR(s, "beta-span");
        CHECK(submit_wait(st, span_batch("acme", "req-1", t1, sp2, starts, dv, 3), &dup) == 0);
        CHECK(dup);
        trace_str(st, "acme", t1, s, sizeof s);
        CHECK_EQ_STR(s, "c|b|a");
        storage_close(st);
    }
    tmpdir_remove(dir);
}

/* start_ns <= 0: the span goes to the commit day; key bytes as documented. */
static void test_span_keys(void)
{
    char *dir = tmpdir_make();
    storage *st = open_cfg(dir, 60000, 8);
    CHECK(st != NULL);
    if (!st)
        return;
    uint8_t t[16], s0[1][8];
    fill_id(t, 16, 7);
    fill_id(s0[0], 8, 9);
    int64_t starts[1] = {0};
    const char *vals[1] = {"v"};
    int64_t before = time_now_ms();
    CHECK(submit_wait(st, span_batch("ten", "p", t, s0, starts, vals, 1), NULL) == 0);
    int64_t after = time_now_ms();
    rocksdb_iterator_t *it = rocksdb_create_iterator_cf(st->db, st->ro, st->cf[CF_SPANS]);
    rocksdb_iter_seek_to_first(it);
    CHECK(rocksdb_iter_valid(it));
    if (rocksdb_iter_valid(it)) {
        size_t kl;
        const uint8_t *k = (const uint8_t *)rocksdb_iter_key(it, &kl);
        CHECK_EQ_INT(kl, 4 + 4 + 16 + 8);
        CHECK(memcmp(k, "ten", 4) == 0); /* tenant and its '\0' */
        uint32_t day = storage_key_get_be32(k + 4);
        CHECK(day == (uint32_t)(before / 86400000) || day == (uint32_t)(after / 86400000));
        CHECK(memcmp(k + 8, t, 16) == 0);
        CHECK(memcmp(k + 24, s0[0], 8) == 0);
    }
    rocksdb_iter_destroy(it);
    it = rocksdb_create_iterator_cf(st->db, st->ro, st->cf[CF_TRACE_INDEX]);
    rocksdb_iter_seek_to_first(it);
    CHECK(rocksdb_iter_valid(it));
    if (rocksdb_iter_valid(it)) {
        size_t kl, vl;
        const uint8_t *k = (const uint8_t *)rocksdb_iter_key(it, &kl);
        rocksdb_iter_value(it, &vl);
        CHECK_EQ_INT(kl, 4 + 16 + 4);
        CHECK(memcmp(k + 4, t, 16) == 0);
        CHECK_EQ_INT(storage_key_get_be32(k + 20), before / 86400000);
        CHECK_EQ_INT(vl, 0);
    }
    rocksdb_iter_destroy(it);
    char s[64];
    trace_str(st, "ten", t, s, sizeof s);
    CHECK_EQ_STR(s, "v");
    storage_close(st);
    tmpdir_remove(dir);
}

static void test_day(void)
{
    CHECK_EQ_INT(storage_key_day(1, 0), 0);
    CHECK_EQ_INT(storage_key_day(DAY_NS - 1, 0), 0);
    CHECK_EQ_INT(storage_key_day(DAY_NS, 0), 1);
    CHECK_EQ_INT(storage_key_day(20000 * DAY_NS + 123, 5), 20000);
    CHECK_EQ_INT(storage_key_day(0, 86400000LL * 19999 + 1), 19999);
    CHECK_EQ_INT(storage_key_day(-5, 86400000LL * 3), 3);
    CHECK_EQ_INT(storage_key_day(INT64_MAX, 0), INT64_MAX / DAY_NS);
    /* span keys of one tenant and day sort by trace then span */
    uint8_t k1[64], k2[64], tr[16] = {0}, s1[8] = {0}, s2[8] = {0};
    s2[7] = 1;
    size_t l1 = storage_key_span(k1, "t", 1, 3, tr, s1);
    size_t l2 = storage_key_span(k2, "t", 1, 3, tr, s2);
    CHECK_EQ_INT(l1, 1 + 29);
    CHECK(l1 == l2 && memcmp(k1, k2, l1) < 0);
    uint8_t seq[12] = {0};
    size_t ll = storage_key_log(k1, "t", 1, 3, 42, -1, seq);
    storage_key_log(k2, "t", 1, 3, 42, 1, seq);
    CHECK_EQ_INT(ll, 1 + 33);
    CHECK(memcmp(k1, k2, ll) < 0); /* negative ts before positive */
}

static storage_batch *log_batch(const char *tenant, const char *payload, const char *app,
                                const int64_t *ts, size_t n)
{
    storage_batch *b = storage_batch_create(tenant, STORAGE_BATCH_OTLP_LOGS_V1, payload,
                                            strlen(payload), NULL, NULL, 0);
    for (size_t i = 0; b && i < n; i++) {
        /* even rows: {app, env}; odd rows: {app} */
        sonde_label l[2] = {{"app", app, 3, (uint32_t)strlen(app)}, {"env", "prod", 3, 4}};
        char v[32];
        snprintf(v, sizeof v, "line %zu", i);
        if (storage_batch_add_log(b, l, i % 2 ? 1 : 2, ts[i], v, strlen(v)) != SONDE_OK) {
            storage_batch_destroy(b);
            return NULL;
        }
    }
    return b;
}

static void test_logs(void)
{
    char *dir = tmpdir_make();
    storage *st = open_cfg(dir, 60000, 8);
    CHECK(st != NULL);
    if (!st)
        return;
    int64_t d = 19000 * DAY_NS;
    int64_t ts[4] = {d + 30, d + 10, d + DAY_NS + 1, d + 10};
    storage_batch *b = log_batch("acme", "logs-1", "web", ts, 4);
    CHECK(b && storage_batch_rows(b) == 4);
    bool dup = true;
    CHECK(submit_wait(st, b, &dup) == 0 && !dup);
    CHECK(submit_wait(st, log_batch("acme", "logs-1", "web", ts, 4), &dup) == 0 && dup);
    CHECK_EQ_INT(cf_count(st, CF_LOGS), 4);
    CHECK_EQ_INT(cf_count(st, CF_LOG_STREAMS), 2);

    sonde_label two[2] = {{"app", "web", 3, 3}, {"env", "prod", 3, 4}};
    uint64_t sid2 = series_labels_hash(two, 2), sid1 = series_labels_hash(two, 1);
    /* expected key order: (day 19000, each stream by id, ts), then day 19001 */
    struct {
        uint32_t day;
        uint64_t sid;
        int64_t ts;
        uint32_t idx;
    } want[4] = {{19000, sid2, d + 30, 0},
                 {19000, sid1, d + 10, 1},
                 {19001, sid2, d + DAY_NS + 1, 2},
                 {19000, sid1, d + 10, 3}};
    /* sort want by (day, sid, ts, idx) */
    for (int i = 0; i < 4; i++)
        for (int j = i + 1; j < 4; j++) {
            bool swap = want[j].day < want[i].day ||
                        (want[j].day == want[i].day &&
                         (want[j].sid < want[i].sid ||
                          (want[j].sid == want[i].sid &&
                           (want[j].ts < want[i].ts ||
                            (want[j].ts == want[i].ts && want[j].idx < want[i].idx)))));
            if (swap) {
                __typeof__(want[0]) t = want[i];
                want[i] = want[j];
                want[j] = t;
            }
        }
    rocksdb_iterator_t *it = rocksdb_create_iterator_cf(st->db, st->ro, st->cf[CF_LOGS]);
    int i = 0;
    for (rocksdb_iter_seek_to_first(it); rocksdb_iter_valid(it) && i < 4;
         rocksdb_iter_next(it), i++) {
        size_t kl, vl;
        const uint8_t *k = (const uint8_t *)rocksdb_iter_key(it, &kl);
        const char *v = rocksdb_iter_value(it, &vl);
        CHECK_EQ_INT(kl, 5 + 4 + 8 + 8 + 12);
        CHECK(memcmp(k, "acme", 5) == 0);
        CHECK_EQ_INT(storage_key_get_be32(k + 5), want[i].day);
        CHECK(storage_key_get_be64(k + 9) == want[i].sid);
        CHECK_EQ_INT(storage_key_ts_decode(storage_key_get_be64(k + 17)), want[i].ts);
        CHECK_EQ_INT(storage_key_get_be32(k + 33), want[i].idx);
        char line[32];
        snprintf(line, sizeof line, "line %u", want[i].idx);
        CHECK(vl == strlen(line) && memcmp(v, line, vl) == 0);
    }
    CHECK_EQ_INT(i, 4);
    rocksdb_iter_destroy(it);

    /* log_streams: tenant '\0' id -> canonical labels */
    it = rocksdb_create_iterator_cf(st->db, st->ro, st->cf[CF_LOG_STREAMS]);
    size_t ns = 0;
    for (rocksdb_iter_seek_to_first(it); rocksdb_iter_valid(it); rocksdb_iter_next(it), ns++) {
        size_t kl, vl;
        const uint8_t *k = (const uint8_t *)rocksdb_iter_key(it, &kl);
        const char *v = rocksdb_iter_value(it, &vl);
        CHECK_EQ_INT(kl, 5 + 8);
        uint64_t sid = storage_key_get_be64(k + 5);
        uint32_t nl = sid == sid2 ? 2 : 1;
        CHECK(sid == sid1 || sid == sid2);
        char enc[64];
        size_t el = series_labels_encoded_len(two, nl);
        series_labels_encode(two, nl, enc);
        CHECK(vl == el && memcmp(v, enc, el) == 0);
    }
    rocksdb_iter_destroy(it);
    CHECK_EQ_INT(ns, 2);
    storage_close(st);
    tmpdir_remove(dir);
}

/* A logs batch for stream {app=app} with entries at ts[i] (values "<tag><i>"), packed into
 * chunks when pack is set. */
static storage_batch *chunk_batch(storage *st, const char *payload, const char *tag,
                                  const int64_t *ts, size_t n, bool pack)
{
    storage_batch *b = storage_batch_create("acme", STORAGE_BATCH_OTLP_LOGS_V1, payload,
                                            strlen(payload), NULL, NULL, 0);
    sonde_label l[1] = {{"app", "web", 3, 3}};
    for (size_t i = 0; b && i < n; i++) {
        char v[32];
        snprintf(v, sizeof v, "%s%zu", tag, i);
        if (storage_batch_add_log(b, l, 1, ts[i], v, strlen(v)) != SONDE_OK) {
            storage_batch_destroy(b);
            return NULL;
        }
    }
    if (b && pack && storage_batch_pack_logs(st, b) != SONDE_OK) {
        storage_batch_destroy(b);
        return NULL;
    }
    return b;
}

/* Entries of the stream in [mint, maxt] as "ts:value,..." (ts relative to base, seconds). */
static void read_str(storage *st, int64_t base, int64_t mint, int64_t maxt, bool backward,
                     char *out, size_t cap)
{
    sonde_label l[1] = {{"app", "web", 3, 3}};
    storage_log_iter *it;
    out[0] = 0;
    if (storage_log_iter_create(st, "acme", series_labels_hash(l, 1), mint, maxt, backward,
                                &it) != SONDE_OK) {
        snprintf(out, cap, "ERROR");
        return;
    }
    size_t o = 0;
    int64_t t;
    const void *v;
    size_t vl;
    sonde_status s;
    while ((s = storage_log_iter_next(it, &t, &v, &vl)) == SONDE_OK && o + 64 < cap)
        o += (size_t)snprintf(out + o, cap - o, "%s%lld:%.*s", o ? "," : "",
                              (long long)((t - base) / 1000000000), (int)vl, (const char *)v);
    if (s != SONDE_ERR_NOT_FOUND && s != SONDE_OK)
        snprintf(out, cap, "ERROR %d", (int)s);
    storage_log_iter_destroy(it);
}

/* Chunks: a stream's entries of a batch in one row per day and 10 minutes, read back one by
 * one in time order, merged with overlapping chunks and single rows, forward and backward,
 * ranges starting or ending inside a chunk, across days. */
static void test_chunks(void)
{
    char *dir = tmpdir_make();
    storage *st = open_cfg(dir, 60000, 8);
    CHECK(st != NULL);
    if (!st)
        return;
    const int64_t S = 1000000000LL, base = 19000 * DAY_NS + 1000 * S;
    /* out of order inside the batch: sorted when packed (stable for equal times) */
    int64_t ta[5] = {base + 30 * S, base + 10 * S, base + 20 * S, base + 40 * S, base + 20 * S};
    int64_t tb[3] = {base + 15 * S, base + 25 * S, base + 45 * S};
    int64_t tc[1] = {base + 22 * S};
    /* 20 minutes apart and across midnight: separate chunks */
    int64_t td[3] = {base + 50 * S, base + 1250 * S, 19001 * DAY_NS + 5 * S};
    CHECK(submit_wait(st, chunk_batch(st, "c-a", "a", ta, 5, true), NULL) == 0);
    CHECK(submit_wait(st, chunk_batch(st, "c-b", "b", tb, 3, true), NULL) == 0);
    CHECK(submit_wait(st, chunk_batch(st, "c-c", "c", tc, 1, false), NULL) == 0);
    CHECK(submit_wait(st, chunk_batch(st, "c-d", "d", td, 3, true), NULL) == 0);
    CHECK_EQ_INT(cf_count(st, CF_LOGS), 1 + 1 + 1 + 3);
    char got[2048];
    read_str(st, base, 0, INT64_MAX, false, got, sizeof got);
    CHECK_EQ_STR(got, "10:a1,15:b0,20:a2,20:a4,22:c0,25:b1,30:a0,40:a3,45:b2,50:d0,1250:d1,"
                      "85405:d2");
    read_str(st, base, 0, INT64_MAX, true, got, sizeof got);
    CHECK_EQ_STR(got, "85405:d2,1250:d1,50:d0,45:b2,40:a3,30:a0,25:b1,22:c0,20:a4,20:a2,15:b0,"
                      "10:a1");
    /* ranges that start and end inside chunks */
    read_str(st, base, base + 18 * S, base + 26 * S, false, got, sizeof got);
    CHECK_EQ_STR(got, "20:a2,20:a4,22:c0,25:b1");
    read_str(st, base, base + 18 * S, base + 26 * S, true, got, sizeof got);
    CHECK_EQ_STR(got, "25:b1,22:c0,20:a4,20:a2");
    read_str(st, base, base + 41 * S, base + 1249 * S, false, got, sizeof got);
    CHECK_EQ_STR(got, "45:b2,50:d0");
    read_str(st, base, base + 1300 * S, 19001 * DAY_NS + 4 * S, true, got, sizeof got);
    CHECK_EQ_STR(got, "");
    read_str(st, base, base + 45 * S, base + 45 * S, true, got, sizeof got);
    CHECK_EQ_STR(got, "45:b2");
    /* a chunk survives a reopen */
    storage_close(st);
    st = open_cfg(dir, 60000, 8);
    read_str(st, base, base + 39 * S, base + 1300 * S, true, got, sizeof got);
    CHECK_EQ_STR(got, "1250:d1,50:d0,45:b2,40:a3");
    storage_close(st);
    tmpdir_remove(dir);
}

/* Dictionaries: a stream's first chunk payloads train one (stored in log_dicts before use);
 * later chunks use it; everything reads back, also after a reopen, and a reopened store
 * keeps compressing with the stored dictionary. */
static void test_chunk_dicts(void)
{
    char *dir = tmpdir_make();
    storage *st = open_cfg(dir, 60000, 8);
    CHECK(st != NULL);
    if (!st)
        return;
    const int64_t S = 1000000000LL, base = 19000 * DAY_NS;
    sonde_label l[1] = {{"app", "web", 3, 3}};
    size_t total = 0;
    for (int round = 0; round < 2; round++) {
        for (int bn = 0; bn < 100; bn++) {
            char payload[32];
            snprintf(payload, sizeof payload, "dict-%d-%d", round, bn);
            storage_batch *b = storage_batch_create("acme", STORAGE_BATCH_OTLP_LOGS_V1, payload,
                                                    strlen(payload), NULL, NULL, 0);
            for (int i = 0; b && i < 50; i++) {
                char v[160];
                int k = (round * 100 + bn) * 50 + i;
                snprintf(v, sizeof v,
                         "GET /api/v1/users/%d/orders?page=%d HTTP/1.1 200 %d bytes in %d ms "
                         "from 10.%d.%d.%d agent=curl/8.%d",
                         k * 7919 % 100000, k % 17, k * 31 % 9000, k % 250, k % 200, k % 7,
                         k % 250, k % 9);
                CHECK_EQ_INT(storage_batch_add_log(b, l, 1, base + (int64_t)k * S / 10, v,
                                                   strlen(v)),
                             SONDE_OK);
            }
            CHECK_EQ_INT(storage_batch_pack_logs(st, b), SONDE_OK);
            CHECK(submit_wait(st, b, NULL) == 0);
            total += 50;
        }
        CHECK_EQ_INT(cf_count(st, CF_LOG_DICTS), 1);
        /* every entry back, in order, with its text */
        for (int pass = 0; pass < 2; pass++) {
            storage_log_iter *it;
            CHECK_EQ_INT(storage_log_iter_create(st, "acme", series_labels_hash(l, 1), 0,
                                                 INT64_MAX, pass == 1, &it),
                         SONDE_OK);
            size_t n = 0;
            int64_t t, prev = pass ? INT64_MAX : INT64_MIN;
            const void *v;
            size_t vl;
            bool ordered = true, text = true;
            while (storage_log_iter_next(it, &t, &v, &vl) == SONDE_OK) {
                ordered &= pass ? t < prev : t > prev;
                prev = t;
                text &= vl > 20 && memcmp(v, "GET /api/v1/users/", 18) == 0;
                n++;
            }
            storage_log_iter_destroy(it);
            CHECK_EQ_INT(n, total);
            CHECK(ordered && text);
        }
        /* reopen: readers load the stored dictionary, writers keep using it */
        storage_close(st);
        st = open_cfg(dir, 60000, 8);
        if (!st)
            break;
    }
    CHECK_EQ_INT(cf_count(st, CF_LOG_DICTS), 1);
    storage_close(st);
    tmpdir_remove(dir);
}

/* --logs.retention: whole days past the retention go, for every tenant; the rest stays. */
static void test_retention(void)
{
    char *dir = tmpdir_make();
    storage_config c = config_make(dir);
    c.logs_retention_ms = 3 * 86400000LL;
    storage *st = NULL;
    char err[256];
    CHECK_EQ_INT(storage_open(&c, &st, err, sizeof err), SONDE_OK);
    if (!st)
        return;
    /* days today-5, -4, -2 and today (the committer may run retention on its own meanwhile:
     * with the real clock, so it deletes what the explicit run below does) */
    int64_t now_ms = time_now_ms();
    int64_t today = now_ms / 86400000;
    int64_t d = (today - 5) * DAY_NS;
    int64_t ts[4] = {d + 5, (d + DAY_NS) + 5, (d + 3 * DAY_NS) + 5, (d + 5 * DAY_NS) + 5};
    CHECK(submit_wait(st, log_batch("acme", "r-1", "web", ts, 4), NULL) == 0);
    CHECK(submit_wait(st, log_batch("beta", "r-2", "db", ts, 4), NULL) == 0);
    CHECK(submit_wait(st, log_batch("a", "r-3", "x", ts, 4), NULL) == 0);
    CHECK(cf_count(st, CF_LOGS) >= 6);
    /* now - 3 days falls on today-3 (or today-2 a moment before midnight): earlier days go */
    uint32_t first = 0;
    CHECK_EQ_INT(storage_logs_retention_run(st, now_ms, &first), SONDE_OK);
    CHECK_EQ_INT(first, (uint32_t)((now_ms - c.logs_retention_ms) / 86400000));
    CHECK_EQ_INT(cf_count(st, CF_LOGS), 6); /* per tenant: days today-2 and today */
    /* what is left still reads, in every tenant */
    storage_log_iter *it;
    sonde_label two[2] = {{"app", "db", 3, 2}, {"env", "prod", 3, 4}};
    CHECK_EQ_INT(storage_log_iter_create(st, "beta", series_labels_hash(two, 2), 0, INT64_MAX,
                                         false, &it),
                 SONDE_OK);
    int64_t t;
    const void *v;
    size_t vl;
    CHECK_EQ_INT(storage_log_iter_next(it, &t, &v, &vl), SONDE_OK);
    CHECK_EQ_INT(t, ts[2]);
    storage_log_iter_destroy(it);
    /* no retention: nothing happens */
    storage_close(st);
    c.logs_retention_ms = 0;
    CHECK_EQ_INT(storage_open(&c, &st, err, sizeof err), SONDE_OK);
    CHECK_EQ_INT(storage_logs_retention_run(st, INT64_C(1) << 50, NULL), SONDE_OK);
    CHECK_EQ_INT(cf_count(st, CF_LOGS), 6);
    storage_close(st);
    tmpdir_remove(dir);
}

/* Templates and counts ride with a logs batch: one write with the rows, the counts logged
 * under a sequence and applied by the aggregator, a duplicate writes none of it. */
static void test_templates_counts(void)
{
    char *dir = tmpdir_make();
    storage *st = open_cfg(dir, 60000, 8);
    CHECK(st != NULL);
    if (!st)
        return;
    int64_t ts[1] = {19000 * DAY_NS};
    for (int round = 0; round < 2; round++) {
        storage_batch *b = log_batch("acme", "tc-1", "web", ts, 1);
        CHECK_EQ_INT(storage_batch_add_template(b, 7, 1, "user <*> in", 11), SONDE_OK);
        CHECK_EQ_INT(storage_batch_add_template(b, 7, 2, "<*> <*> in", 10), SONDE_OK);
        arena *a = arena_create(1024, 0);
        sonde_label *l = arena_alloc(a, 2 * sizeof *l);
        l[0] = (sonde_label){"__name__", "lines", 8, 5};
        l[1] = (sonde_label){"job", "x", 3, 1};
        sonde_sample *sm = arena_alloc(a, sizeof *sm);
        sm[0] = (sonde_sample){1000, 3};
        sonde_series *se = arena_alloc(a, sizeof *se);
        *se = (sonde_series){l, 2, 1, sm, series_labels_hash(l, 2)};
        storage_series_meta *m = arena_alloc(a, sizeof *m);
        *m = (storage_series_meta){.delta = true, .bump = true};
        CHECK_EQ_INT(storage_batch_set_counts(b, "counts", 6, a, se, 1, m), SONDE_OK);
        bool dup = false;
        CHECK(submit_wait(st, b, &dup) == 0);
        CHECK_EQ_INT(dup, round == 1);
    }
    CHECK_EQ_INT(cf_count(st, CF_TEMPLATES), 2);
    CHECK_EQ_INT(cf_count(st, CF_BATCHES), 1); /* the counts, once */
    arena *a = arena_create(1024, 0);
    const char *t;
    size_t tl;
    uint32_t ver = 0;
    CHECK_EQ_INT(storage_template_get(st, "acme", 7, UINT32_MAX, a, &t, &tl, &ver), SONDE_OK);
    CHECK_EQ_STR(t, "<*> <*> in");
    CHECK_EQ_INT(ver, 2);
    CHECK_EQ_INT(storage_template_get(st, "acme", 7, 1, a, &t, &tl, &ver), SONDE_OK);
    CHECK_EQ_STR(t, "user <*> in");
    CHECK_EQ_INT(storage_template_get(st, "acme", 7, 3, a, &t, &tl, NULL), SONDE_ERR_NOT_FOUND);
    CHECK_EQ_INT(storage_template_get(st, "acme", 8, UINT32_MAX, a, &t, &tl, NULL),
                 SONDE_ERR_NOT_FOUND);
    CHECK_EQ_INT(storage_template_get(st, "acm", 7, UINT32_MAX, a, &t, &tl, NULL),
                 SONDE_ERR_NOT_FOUND);
    /* the counts reached the TSDB once */
    storage_matcher mt = {"__name__", 8, STORAGE_MATCH_EQ, "lines", 5, NULL, NULL};
    storage_series_ref *refs;
    size_t n;
    CHECK_EQ_INT(storage_select(st, "acme", &mt, 1, 0, INT64_MAX, a, &refs, &n), SONDE_OK);
    CHECK_EQ_INT(n, 1);
    sonde_sample *smp;
    size_t ns = 0;
    if (n == 1)
        CHECK_EQ_INT(storage_read_samples(st, "acme", refs[0].id, 0, INT64_MAX, a, &smp, &ns),
                     SONDE_OK);
    CHECK_EQ_INT(ns, 1);
    arena_destroy(a);
    storage_close(st);
    tmpdir_remove(dir);
}

/* A group with metric and row batches: metrics still apply and reads do not
 * wait for a sequence the shards never see. */
static void test_mixed(void)
{
    char *dir = tmpdir_make();
    storage *st = open_cfg(dir, 60000, 8);
    CHECK(st != NULL);
    if (!st)
        return;
    done_rec r = {0};
    uint8_t t[16], s0[1][8];
    fill_id(t, 16, 3);
    fill_id(s0[0], 8, 4);
    int64_t starts[1] = {DAY_NS};
    const char *vals[1] = {"m"};
    for (int k = 0; k < 4; k++) {
        CHECK(storage_submit(st, batch_k("acme", k, 5), done_cb, &r) == SONDE_OK);
        char p[16];
        snprintf(p, sizeof p, "mixed-%d", k);
        CHECK(storage_submit(st, span_batch("acme", p, t, s0, starts, vals, 1), done_cb, &r) ==
              SONDE_OK);
    }
    CHECK(done_wait(&r, 8, 10000) == 0);
    CHECK_EQ_INT(atomic_load(&r.ok), 8);
    CHECK(verify(st, "acme", 20));
    /* only the metric batches took sequences, and the shards reach them all
     * (a row batch with a sequence would stall every read for 2 s) */
    CHECK_EQ_INT(atomic_load(&st->committed_seq), 4);
    for (unsigned i = 0; i < st->nshards; i++)
        CHECK(atomic_load(&st->shards[i].applied_seq) >= 4);
    storage_close(st);
    tmpdir_remove(dir);
}

/* A data dir written before the row families existed still opens (the
 * missing families are created) and takes rows. */
static void test_old_dir(void)
{
    char *dir = tmpdir_make();
    char path[512];
    snprintf(path, sizeof path, "%s/db", dir);
    rocksdb_options_t *o = rocksdb_options_create();
    rocksdb_options_set_create_if_missing(o, 1);
    rocksdb_options_set_create_missing_column_families(o, 1);
    const char *names[6] = {"default", "batches", "batch_ids", "series", "chunks", "meta"};
    const rocksdb_options_t *cfo[6] = {o, o, o, o, o, o};
    rocksdb_column_family_handle_t *h[6];
    char *e = NULL;
    rocksdb_t *db = rocksdb_open_column_families(o, path, 6, names, cfo, h, &e);
    CHECK(db != NULL && e == NULL);
    if (db) {
        uint8_t one[8] = {0, 0, 0, 0, 0, 0, 0, 1};
        rocksdb_writeoptions_t *wo = rocksdb_writeoptions_create();
        rocksdb_put_cf(db, wo, h[5], "schema_version", 14, (const char *)one, 8, &e);
        CHECK(e == NULL);
        rocksdb_writeoptions_destroy(wo);
        for (int i = 0; i < 6; i++)
            rocksdb_column_family_handle_destroy(h[i]);
        rocksdb_close(db);
    }
    free(e);
    rocksdb_options_destroy(o);

    storage *st = open_cfg(dir, 60000, 8);
    CHECK(st != NULL);
    if (st) {
        uint8_t t[16], s0[1][8];
        fill_id(t, 16, 11);
        fill_id(s0[0], 8, 12);
        int64_t starts[1] = {DAY_NS};
        const char *vals[1] = {"old-dir"};
        CHECK(submit_wait(st, span_batch("acme", "p", t, s0, starts, vals, 1), NULL) == 0);
        storage_close(st);
        st = open_cfg(dir, 60000, 8);
        CHECK(st != NULL);
        if (st) {
            char s[64];
            trace_str(st, "acme", t, s, sizeof s);
            CHECK_EQ_STR(s, "old-dir");
            storage_close(st);
        }
    }
    tmpdir_remove(dir);
}

static void test_args(void)
{
    storage_batch *lb =
        storage_batch_create("t", STORAGE_BATCH_OTLP_LOGS_V1, "x", 1, NULL, NULL, 0);
    storage_batch *tb =
        storage_batch_create("t", STORAGE_BATCH_OTLP_TRACES_V1, "x", 1, NULL, NULL, 0);
    storage_batch *mb =
        storage_batch_create("t", STORAGE_BATCH_REMOTE_WRITE_V1, "x", 1, NULL, NULL, 0);
    uint8_t id[16] = {1};
    sonde_label ok[2] = {{"a", "1", 1, 1}, {"b", "2", 1, 1}};
    sonde_label unsorted[2] = {{"b", "1", 1, 1}, {"a", "2", 1, 1}};
    sonde_label twice[2] = {{"a", "1", 1, 1}, {"a", "2", 1, 1}};
    CHECK(storage_batch_add_span(lb, id, id, 1, "v", 1) == SONDE_ERR_INVALID);
    CHECK(storage_batch_add_span(mb, id, id, 1, "v", 1) == SONDE_ERR_INVALID);
    CHECK(storage_batch_add_log(tb, ok, 2, 1, "v", 1) == SONDE_ERR_INVALID);
    CHECK(storage_batch_add_log(lb, unsorted, 2, 1, "v", 1) == SONDE_ERR_INVALID);
    CHECK(storage_batch_add_log(lb, twice, 2, 1, "v", 1) == SONDE_ERR_INVALID);
    CHECK(storage_batch_add_log(lb, ok, 2, 1, "v", 1) == SONDE_OK);
    CHECK(storage_batch_add_log(lb, ok, 2, 2, NULL, 0) == SONDE_OK); /* empty value */
    CHECK(storage_batch_add_span(tb, id, id, 1, "v", 1) == SONDE_OK);
    CHECK(storage_batch_add_span(NULL, id, id, 1, "v", 1) == SONDE_ERR_INVALID);
    CHECK_EQ_INT(storage_batch_rows(lb), 2);
    CHECK_EQ_INT(storage_batch_rows(tb), 1);
    CHECK(storage_batch_row_bytes(tb) >= 1 && storage_batch_row_bytes(mb) == 0);
    /* the id does not depend on rows, only on tenant, kind and payload */
    storage_batch *tb2 =
        storage_batch_create("t", STORAGE_BATCH_OTLP_TRACES_V1, "x", 1, NULL, NULL, 0);
    CHECK(tb2 && memcmp(tb->id, tb2->id, STORAGE_BATCH_ID_LEN) == 0);
    CHECK(memcmp(tb->id, lb->id, STORAGE_BATCH_ID_LEN) != 0);
    CHECK_EQ_INT(tb->payload_len, 0); /* the payload is not kept */
    storage_batch_destroy(lb);
    storage_batch_destroy(tb);
    storage_batch_destroy(tb2);
    storage_batch_destroy(mb);
}

int main(void)
{
    RUN(test_day);
    RUN(test_args);
    RUN(test_spans);
    RUN(test_span_keys);
    RUN(test_logs);
    RUN(test_mixed);
    RUN(test_retention);
    RUN(test_chunks);
    RUN(test_chunk_dicts);
    RUN(test_templates_counts);
    RUN(test_old_dir);
    return TEST_DONE();
}
