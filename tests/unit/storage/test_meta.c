/*
 * test_meta.c - per-series extras of OTLP metrics batches in the aggregator
 * (storage_batch_set_meta): delta samples are accumulated onto the series'
 * last value, a retried batch is accumulated once, a stale marker restarts
 * the sum, and the running sum survives a clean restart and a SIGKILL
 * (replay through the decoder's meta); start times newer than the series'
 * last sample put a 0 sample there, and older or missing ones do not.
 *
 * Threads: each crash child forks from this single-threaded process.
 */
#include <signal.h>
#include <sys/wait.h>

#include "../test.h"
#include "storage_test_util.h"

static const char *const delta_kv[] = {"__name__", "bytes_total", "job", "d"};
static const char *const cum_kv[] = {"__name__", "reqs_total", "job", "c"};

/* Replay decoder: the test payload, with every series of an OTLP-metrics
 * batch marked delta (the live batches below are built the same way). */
static sonde_status meta_decode(void *ctx, storage_batch_kind kind, const void *payload,
                                size_t len, arena **decoded, sonde_series **series,
                                size_t *nseries, const storage_series_meta **meta)
{
    sonde_status s = test_decode(ctx, kind, payload, len, decoded, series, nseries, NULL);
    if (s != SONDE_OK || kind != STORAGE_BATCH_OTLP_METRICS_V1)
        return s;
    storage_series_meta *m = arena_calloc(*decoded, *nseries ? *nseries : 1, sizeof *m);
    if (!m)
        return SONDE_ERR_NOMEM;
    for (size_t i = 0; i < *nseries; i++)
        m[i].delta = true;
    *meta = m;
    return SONDE_OK;
}

static storage *open_at(const char *dir)
{
    storage_config c = config_make(dir);
    c.decode = meta_decode;
    c.checkpoint_interval_ms = 3600 * 1000; /* only close checkpoints */
    storage *st = NULL;
    char err[256];
    if (storage_open(&c, &st, err, sizeof err) != SONDE_OK || ready_wait(st, 10000) != 0) {
        fprintf(stderr, "open: %s\n", err);
        return NULL;
    }
    return st;
}

/* Submits one delta batch of the delta series (values given) and waits. */
static int submit_delta(storage *st, int64_t ts0, const double *v, uint32_t n, done_rec *r)
{
    arena *a = arena_create(4096, 0);
    sonde_series s = series_make(a, delta_kv, 2, ts0, 1000, n, 0);
    for (uint32_t i = 0; i < n; i++)
        s.samples[i].value = v[i];
    char *payload;
    size_t len = payload_encode(&s, 1, &payload);
    arena *dec;
    sonde_series *ds;
    size_t dn;
    const storage_series_meta *m = NULL;
    if (meta_decode(NULL, STORAGE_BATCH_OTLP_METRICS_V1, payload, len, &dec, &ds, &dn, &m) !=
        SONDE_OK)
        abort();
    storage_batch *b =
        storage_batch_create("t", STORAGE_BATCH_OTLP_METRICS_V1, payload, len, dec, ds, dn);
    storage_batch_set_meta(b, m);
    free(payload);
    arena_destroy(a);
    int want = atomic_load(&r->calls) + 1;
    if (storage_submit(st, b, done_cb, r) != SONDE_OK)
        return -1;
    return done_wait(r, want, 10000);
}

/* The samples of the one series matching kv, as "ts:value ..." text. */
static void samples_text(storage *st, const char *const *kv, char *out, size_t cap)
{
    arena *a = arena_create(4096, 0);
    storage_matcher m = {kv[0], strlen(kv[0]), STORAGE_MATCH_EQ, kv[1], strlen(kv[1]), NULL, NULL};
    storage_series_ref *refs;
    size_t n = 0;
    out[0] = 0;
    if (storage_select(st, "t", &m, 1, INT64_MIN, INT64_MAX, a, &refs, &n) == SONDE_OK && n == 1) {
        sonde_sample *s;
        size_t ns;
        if (storage_read_samples(st, "t", refs[0].id, INT64_MIN, INT64_MAX, a, &s, &ns) ==
            SONDE_OK) {
            size_t o = 0;
            for (size_t i = 0; i < ns && o < cap; i++)
                o += (size_t)snprintf(out + o, cap - o, "%s%lld:%g", i ? " " : "",
                                      (long long)s[i].ts_ms, s[i].value);
        }
    }
    arena_destroy(a);
}

static void test_delta_accumulates(void)
{
    char *dir = tmpdir_make();
    storage *st = open_at(dir);
    CHECK(st != NULL);
    done_rec r = {0};
    const double v1[] = {5, 3}, v2[] = {2}, v3[] = {1};
    CHECK_EQ_INT(submit_delta(st, 1000, v1, 2, &r), 0);
    CHECK_EQ_INT(submit_delta(st, 3000, v2, 1, &r), 0);
    CHECK_EQ_INT(submit_delta(st, 3000, v2, 1, &r), 0); /* a retry: the same batch */
    CHECK_EQ_INT(atomic_load(&r.dup), 1);
    char txt[256];
    samples_text(st, delta_kv, txt, sizeof txt);
    CHECK_EQ_STR(txt, "1000:5 2000:8 3000:10");
    /* a stale marker restarts the sum */
    double stale;
    uint64_t bits = SONDE_STALE_NAN_BITS;
    memcpy(&stale, &bits, 8);
    const double v4[] = {stale, 4};
    CHECK_EQ_INT(submit_delta(st, 4000, v4, 2, &r), 0);
    samples_text(st, delta_kv, txt, sizeof txt);
    CHECK_EQ_STR(txt, "1000:5 2000:8 3000:10 4000:nan 5000:4");
    /* the sum survives a clean restart */
    storage_close(st);
    st = open_at(dir);
    CHECK(st != NULL);
    CHECK_EQ_INT(submit_delta(st, 6000, v3, 1, &r), 0);
    samples_text(st, delta_kv, txt, sizeof txt);
    CHECK_EQ_STR(txt, "1000:5 2000:8 3000:10 4000:nan 5000:4 6000:5");
    storage_close(st);

    /* ... and a SIGKILL: the child's batches are replayed with their meta */
    pid_t pid = fork();
    if (pid == 0) {
        storage *cs = open_at(dir);
        done_rec cr = {0};
        const double v5[] = {10, 10};
        if (!cs || submit_delta(cs, 7000, v5, 2, &cr) != 0)
            _exit(2);
        kill(getpid(), SIGKILL);
        _exit(3);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    st = open_at(dir);
    CHECK(st != NULL);
    CHECK_EQ_INT(submit_delta(st, 9000, v3, 1, &r), 0);
    samples_text(st, delta_kv, txt, sizeof txt);
    CHECK_EQ_STR(txt, "1000:5 2000:8 3000:10 4000:nan 5000:4 6000:5 7000:15 8000:25 9000:26");
    storage_close(st);
    tmpdir_remove(dir);
}

static void test_start_zero(void)
{
    char *dir = tmpdir_make();
    storage *st = open_at(dir);
    CHECK(st != NULL);
    arena *a = arena_create(4096, 0);
    /* cumulative points at 10s (7, started at 2s), 20s (9, same start),
     * 30s (3, restarted at 25s), 40s (5, start unknown), 50s (6, start
     * 5s: older than the last sample, ignored) */
    sonde_series s = series_make(a, cum_kv, 2, 10000, 10000, 5, 0);
    const double vals[] = {7, 9, 3, 5, 6};
    int64_t starts[] = {2000, 2000, 25000, 0, 5000};
    for (int i = 0; i < 5; i++)
        s.samples[i].value = vals[i];
    storage_series_meta m = {.delta = false, .start_ms = starts};
    char *payload;
    size_t len = payload_encode(&s, 1, &payload);
    storage_batch *b = storage_batch_create("t", STORAGE_BATCH_REMOTE_WRITE_V1, payload, len, a,
                                            &s, 1);
    storage_batch_set_meta(b, &m);
    done_rec r = {0};
    CHECK_EQ_INT(storage_submit(st, b, done_cb, &r), SONDE_OK);
    CHECK_EQ_INT(done_wait(&r, 1, 10000), 0);
    char txt[256];
    samples_text(st, cum_kv, txt, sizeof txt);
    CHECK_EQ_STR(txt, "2000:0 10000:7 20000:9 25000:0 30000:3 40000:5 50000:6");
    free(payload);
    storage_close(st);
    tmpdir_remove(dir);
}

int main(void)
{
    RUN(test_delta_accumulates);
    RUN(test_start_zero);
    return TEST_DONE();
}
