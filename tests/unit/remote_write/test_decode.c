/* test_decode.c - rw_decode: round trip through protobuf-c pack + snappy, the
 * Prometheus 3 validation rules, stale-NaN bits, caps and the arena cap. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/hash.h"
#include "core/utf8.h"
#include "remote_write/remote_write.h"
#include "rw_testutil.h"
#include "test.h"

static char err[1024];

/* Decodes the series with default limits into a fresh arena. */
static sonde_status decode(const rwt_series *ss, size_t n, arena **a, rw_result *res)
{
    size_t len;
    uint8_t *body = rwt_body(ss, n, &len);
    rw_limits lim;
    rw_limits_defaults(&lim);
    *a = arena_create(4096, 16 << 20);
    sonde_status st = rw_decode(*a, body, len, &lim, res, err, sizeof err);
    free(body);
    return st;
}

static int label_is(const sonde_label *l, const char *n, const char *v)
{
    return l->name_len == strlen(n) && memcmp(l->name, n, l->name_len) == 0 &&
           l->value_len == strlen(v) && memcmp(l->value, v, l->value_len) == 0;
}

static void test_roundtrip(void)
{
    rwt_series ss[2] = {
        {{"__name__", "up", "instance", "localhost:9090", "job", "prometheus"},
         2,
         {1, 0},
         {1700000000000, 1700000015000}},
        {{"__name__", "go_goroutines", "job", "prometheus"}, 1, {42.5}, {1700000000000}},
    };
    arena *a;
    rw_result r;
    CHECK_EQ_INT(decode(ss, 2, &a, &r), SONDE_OK);
    CHECK_EQ_INT(r.nseries, 2);
    CHECK_EQ_INT(r.nsamples, 3);
    CHECK_EQ_INT(r.nsorted, 0);
    if (r.nseries == 2) {
        sonde_series *s = &r.series[0];
        CHECK_EQ_INT(s->nlabels, 3);
        CHECK(label_is(&s->labels[0], "__name__", "up"));
        CHECK(label_is(&s->labels[1], "instance", "localhost:9090"));
        CHECK(label_is(&s->labels[2], "job", "prometheus"));
        CHECK_EQ_INT(s->nsamples, 2);
        CHECK(s->samples[0].ts_ms == 1700000000000 && s->samples[0].value == 1);
        CHECK(s->samples[1].ts_ms == 1700000015000 && s->samples[1].value == 0);
        CHECK(s->hash == series_labels_hash(s->labels, s->nlabels));
        size_t el = series_labels_encoded_len(s->labels, s->nlabels);
        char *enc = malloc(el);
        series_labels_encode(s->labels, s->nlabels, enc);
        CHECK(s->hash == hash64(enc, el));
        free(enc);
        CHECK(r.series[1].samples[0].value == 42.5);
        CHECK(r.series[0].hash != r.series[1].hash);
    }
    arena_destroy(a);
}

static void test_unsorted_sorted(void)
{
    rwt_series ss[1] = {{{"job", "x", "__name__", "m", "instance", "i", "a", "1"}, 1, {1}, {5}}};
    arena *a;
    rw_result r;
    CHECK_EQ_INT(decode(ss, 1, &a, &r), SONDE_OK);
    CHECK_EQ_INT(r.nsorted, 1);
    CHECK_EQ_INT(r.nseries, 1);
    if (r.nseries == 1) {
        const sonde_series *s = &r.series[0];
        CHECK_EQ_INT(s->nlabels, 4);
        CHECK(label_is(&s->labels[0], "__name__", "m"));
        CHECK(label_is(&s->labels[1], "a", "1"));
        CHECK(label_is(&s->labels[2], "instance", "i"));
        CHECK(label_is(&s->labels[3], "job", "x"));
        /* the same set sent sorted hashes the same */
        rwt_series sorted[1] = {{{"__name__", "m", "a", "1", "instance", "i", "job", "x"}, 1, {1}, {5}}};
        arena *b;
        rw_result r2;
        CHECK_EQ_INT(decode(sorted, 1, &b, &r2), SONDE_OK);
        CHECK_EQ_INT(r2.nsorted, 0);
        CHECK(r2.nseries == 1 && r2.series[0].hash == s->hash);
        arena_destroy(b);
    }
    arena_destroy(a);
}

static void test_empty_value_dropped(void)
{
    rwt_series ss[1] = {{{"__name__", "m", "empty", "", "job", "x"}, 1, {1}, {5}}};
    arena *a;
    rw_result r;
    CHECK_EQ_INT(decode(ss, 1, &a, &r), SONDE_OK);
    CHECK(r.nseries == 1 && r.series[0].nlabels == 2);
    if (r.nseries == 1) {
        CHECK(label_is(&r.series[0].labels[1], "job", "x"));
        sonde_label want[2] = {{"__name__", "m", 8, 1}, {"job", "x", 3, 1}};
        CHECK(r.series[0].hash == series_labels_hash(want, 2));
    }
    arena_destroy(a);
}

static void test_utf8_names_accepted(void)
{
    /* Prometheus 3: any non-empty UTF-8 name is valid, dots and all. */
    rwt_series ss[1] = {{{"__name__", "http.server.duration", "caf\xc3\xa9", "\xe2\x82\xac"},
                         1, {1}, {5}}};
    arena *a;
    rw_result r;
    CHECK_EQ_INT(decode(ss, 1, &a, &r), SONDE_OK);
    CHECK_EQ_INT(r.nseries, 1);
    arena_destroy(a);
}

static void expect_invalid(const rwt_series *s, const char *want1, const char *want2)
{
    arena *a;
    rw_result r;
    sonde_status st = decode(s, 1, &a, &r);
    CHECK_EQ_INT(st, SONDE_ERR_INVALID);
    if (!strstr(err, want1) || (want2 && !strstr(err, want2))) {
        fprintf(stderr, "  message was: %s\n", err);
        CHECK(0);
    }
    arena_destroy(a);
}

static void test_invalid(void)
{
    rwt_series dup = {{"__name__", "m", "job", "a", "job", "b"}, 1, {1}, {5}};
    expect_invalid(&dup, "duplicate label name \"job\"", "{__name__=\"m\", job=\"a\", job=\"b\"}");
    rwt_series dup_unsorted = {{"job", "a", "__name__", "m", "job", "b"}, 1, {1}, {5}};
    expect_invalid(&dup_unsorted, "duplicate label name \"job\"", NULL);
    rwt_series empty_name = {{"__name__", "m", "", "v"}, 1, {1}, {5}};
    expect_invalid(&empty_name, "label name is empty", "{__name__=\"m\", \"\"=\"v\"}");
    rwt_series bad_name = {{"__name__", "m", "ba\xffr", "v"}, 1, {1}, {5}};
    expect_invalid(&bad_name, "label name \"ba\\xffr\" is not valid UTF-8", NULL);
    rwt_series bad_value = {{"__name__", "m", "job", "\xc0\xaf"}, 1, {1}, {5}};
    expect_invalid(&bad_value, "value of label \"job\" is not valid UTF-8", "job=\"\\xc0\\xaf\"");
    rwt_series surrogate = {{"__name__", "\xed\xa0\x80"}, 1, {1}, {5}};
    expect_invalid(&surrogate, "not valid UTF-8", "__name__");
    rwt_series no_name = {{"job", "x"}, 1, {1}, {5}};
    expect_invalid(&no_name, "missing metric name", "{job=\"x\"}");
    rwt_series empty_metric = {{"__name__", "", "job", "x"}, 1, {1}, {5}};
    expect_invalid(&empty_metric, "missing metric name", NULL);
    rwt_series no_labels = {{NULL}, 1, {1}, {5}};
    expect_invalid(&no_labels, "missing metric name", "{}");

    /* one bad series fails the whole request, and the message names it */
    rwt_series two[2] = {{{"__name__", "ok"}, 1, {1}, {5}},
                         {{"__name__", "bad", "x", "1", "x", "2"}, 1, {1}, {5}}};
    arena *a;
    rw_result r;
    CHECK_EQ_INT(decode(two, 2, &a, &r), SONDE_ERR_INVALID);
    CHECK(strstr(err, "__name__=\"bad\"") != NULL);
    arena_destroy(a);
}

static void test_long_rendering_truncated(void)
{
    char big[3000];
    memset(big, 'v', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    rwt_series s = {{"__name__", big, "a", big, "b", big, "c", big, "c", "x"}, 1, {1}, {5}};
    arena *a;
    rw_result r;
    CHECK_EQ_INT(decode(&s, 1, &a, &r), SONDE_ERR_INVALID);
    CHECK(strlen(err) < 400);
    CHECK(strstr(err, "duplicate label name \"c\"") != NULL);
    arena_destroy(a);

    /* multi-byte values cut anywhere still give a valid UTF-8 message */
    static char euros[3 * 400 + 1];
    for (int i = 0; i < 400; i++)
        memcpy(euros + 3 * i, "\xe2\x82\xac", 3);
    for (int shift = 0; shift < 3; shift++) {
        rwt_series m = {{"__name__", euros + shift, "a", euros, "b", euros + 1, "c", euros + 2,
                         "d", euros, "e", euros, "e", "x"},
                        1, {1}, {5}};
        CHECK_EQ_INT(decode(&m, 1, &a, &r), SONDE_ERR_INVALID);
        CHECK(utf8_valid(err, strlen(err)));
        CHECK(strstr(err, "...}") != NULL);
        arena_destroy(a);
    }
    /* a tiny err buffer is cut on a character boundary too */
    rwt_series m = {{"__name__", euros, "b", "1", "b", "2"}, 1, {1}, {5}};
    size_t len;
    uint8_t *body = rwt_body(&m, 1, &len);
    a = arena_create(4096, 1 << 20);
    for (size_t elen = 1; elen < 80; elen++) {
        char small[80];
        CHECK_EQ_INT(rw_decode(a, body, len, NULL, &r, small, elen), SONDE_ERR_INVALID);
        CHECK(strlen(small) < elen && utf8_valid(small, strlen(small)));
        arena_reset(a);
    }
    arena_destroy(a);
    free(body);
}

static void test_stale_nan_bits(void)
{
    uint64_t stale_bits = SONDE_STALE_NAN_BITS, other_bits = 0x7ff8000000000001ULL;
    double stale, other;
    memcpy(&stale, &stale_bits, 8);
    memcpy(&other, &other_bits, 8);
    rwt_series ss[1] = {{{"__name__", "m"}, 3, {stale, other, INFINITY}, {1, 2, 3}}};
    arena *a;
    rw_result r;
    CHECK_EQ_INT(decode(ss, 1, &a, &r), SONDE_OK);
    if (r.nseries == 1 && r.series[0].nsamples == 3) {
        uint64_t b0, b1;
        memcpy(&b0, &r.series[0].samples[0].value, 8);
        memcpy(&b1, &r.series[0].samples[1].value, 8);
        CHECK(b0 == SONDE_STALE_NAN_BITS);
        CHECK(b1 == other_bits);
        CHECK(series_value_is_stale(r.series[0].samples[0].value));
        CHECK(!series_value_is_stale(r.series[0].samples[1].value));
        CHECK(isinf(r.series[0].samples[2].value));
    } else {
        CHECK(0);
    }
    arena_destroy(a);
}

static void test_limits(void)
{
    rwt_series ss[3] = {{{"__name__", "a", "job", "x"}, 1, {1}, {5}},
                        {{"__name__", "b", "job", "0123456789"}, 1, {1}, {5}},
                        {{"__name__", "c"}, 1, {1}, {5}}};
    size_t len;
    uint8_t *body = rwt_body(ss, 3, &len);
    arena *a = arena_create(4096, 1 << 20);
    rw_result r;
    rw_limits lim;

    rw_limits_defaults(&lim);
    lim.max_series = 2;
    CHECK_EQ_INT(rw_decode(a, body, len, &lim, &r, err, sizeof err), SONDE_ERR_LIMIT);
    CHECK(strstr(err, "more than 2 series") != NULL);

    rw_limits_defaults(&lim);
    lim.max_labels = 1;
    CHECK_EQ_INT(rw_decode(a, body, len, &lim, &r, err, sizeof err), SONDE_ERR_LIMIT);
    CHECK(strstr(err, "more than 1 labels") != NULL && strstr(err, "__name__=\"a\""));

    rw_limits_defaults(&lim);
    lim.max_label_value = 5;
    CHECK_EQ_INT(rw_decode(a, body, len, &lim, &r, err, sizeof err), SONDE_ERR_LIMIT);
    CHECK(strstr(err, "value of label \"job\" is 10 bytes") != NULL);
    CHECK(strstr(err, "__name__=\"b\"") != NULL);

    rw_limits_defaults(&lim);
    lim.max_label_name = 4;
    CHECK_EQ_INT(rw_decode(a, body, len, &lim, &r, err, sizeof err), SONDE_ERR_LIMIT);
    CHECK(strstr(err, "label name of 8 bytes") != NULL);

    rw_limits_defaults(&lim);
    lim.max_decoded = 10;
    CHECK_EQ_INT(rw_decode(a, body, len, &lim, &r, err, sizeof err), SONDE_ERR_LIMIT);

    rw_limits_defaults(&lim);
    CHECK_EQ_INT(rw_decode(a, body, len, &lim, &r, err, sizeof err), SONDE_OK);
    CHECK_EQ_INT(r.nseries, 3);
    arena_destroy(a);

    /* the arena cap is hit (snappy, inside protobuf-c, or converting):
     * LIMIT naming the cap, not NOMEM (malloc did not fail), no abort, no leak */
    int limit = 0, ok = 0;
    for (size_t cap = 64; cap < 8192; cap += 48) {
        a = arena_create(256, cap);
        sonde_status st = rw_decode(a, body, len, NULL, &r, err, sizeof err);
        CHECK(st == SONDE_ERR_LIMIT || st == SONDE_OK);
        limit += st == SONDE_ERR_LIMIT;
        ok += st == SONDE_OK;
        if (st == SONDE_OK)
            CHECK_EQ_INT(r.nseries, 3);
        if (st == SONDE_ERR_LIMIT) {
            char capstr[32];
            snprintf(capstr, sizeof capstr, "memory cap of %zu bytes", cap);
            CHECK(strstr(err, capstr) != NULL);
        }
        arena_destroy(a);
    }
    CHECK(limit > 0 && ok > 0); /* both sides of the cap were reached */
    free(body);
}

static void test_garbage(void)
{
    const uint8_t raw[] = {0x0a, 0x7f, 0x01, 0x02}; /* field 1, length 127, 2 bytes */
    size_t len;
    uint8_t *body = rwt_snappy(raw, sizeof raw, &len);
    arena *a = arena_create(4096, 1 << 20);
    rw_result r;
    CHECK_EQ_INT(rw_decode(a, body, len, NULL, &r, err, sizeof err), SONDE_ERR_INVALID);
    CHECK(strstr(err, "protobuf") != NULL);
    free(body);
    const uint8_t raw2[] = {0x0b, 0x00}; /* wire type 3 (group) */
    body = rwt_snappy(raw2, sizeof raw2, &len);
    CHECK_EQ_INT(rw_decode(a, body, len, NULL, &r, err, sizeof err), SONDE_ERR_INVALID);
    free(body);
    /* empty request: valid, nothing in it */
    body = rwt_snappy((const uint8_t *)"", 0, &len);
    CHECK_EQ_INT(rw_decode(a, body, len, NULL, &r, err, sizeof err), SONDE_OK);
    CHECK_EQ_INT(r.nseries, 0);
    free(body);
    /* truncated snappy */
    rwt_series ss[1] = {{{"__name__", "m"}, 1, {1}, {5}}};
    body = rwt_body(ss, 1, &len);
    CHECK_EQ_INT(rw_decode(a, body, len - 1, NULL, &r, err, sizeof err), SONDE_ERR_INVALID);
    CHECK(strstr(err, "snappy") != NULL);
    free(body);
    arena_destroy(a);
}

static void test_metadata_histograms(void)
{
    Prometheus__WriteRequest req = PROMETHEUS__WRITE_REQUEST__INIT;
    Prometheus__TimeSeries ts = PROMETHEUS__TIME_SERIES__INIT, *tsp = &ts;
    Prometheus__Label l = PROMETHEUS__LABEL__INIT, *lp = &l;
    Prometheus__Histogram h = PROMETHEUS__HISTOGRAM__INIT, *hp = &h;
    Prometheus__MetricMetadata md = PROMETHEUS__METRIC_METADATA__INIT, *mdp = &md;
    l.name.data = (uint8_t *)"__name__";
    l.name.len = 8;
    l.value.data = (uint8_t *)"hist";
    l.value.len = 4;
    ts.n_labels = 1;
    ts.labels = &lp;
    h.timestamp = 7;
    ts.n_histograms = 1;
    ts.histograms = &hp;
    md.type = PROMETHEUS__METRIC_METADATA__METRIC_TYPE__COUNTER;
    md.metric_family_name.data = (uint8_t *)"http_requests_total";
    md.metric_family_name.len = 19;
    md.help.data = (uint8_t *)"Requests.";
    md.help.len = 9;
    req.n_timeseries = 1;
    req.timeseries = &tsp;
    req.n_metadata = 1;
    req.metadata = &mdp;
    size_t rawlen = prometheus__write_request__get_packed_size(&req), len;
    uint8_t *raw = malloc(rawlen);
    prometheus__write_request__pack(&req, raw);
    uint8_t *body = rwt_snappy(raw, rawlen, &len);
    arena *a = arena_create(4096, 1 << 20);
    rw_result r;
    CHECK_EQ_INT(rw_decode(a, body, len, NULL, &r, err, sizeof err), SONDE_OK);
    CHECK_EQ_INT(r.nseries, 0); /* histogram-only series: counted, not returned */
    CHECK_EQ_INT(r.nhistograms, 1);
    CHECK_EQ_INT(r.nmetadata, 1);
    if (r.nmetadata == 1) {
        CHECK_EQ_INT(r.metadata[0].type, 1);
        CHECK(r.metadata[0].family_len == 19 &&
              memcmp(r.metadata[0].family, "http_requests_total", 19) == 0);
        CHECK(r.metadata[0].help_len == 9);
        CHECK_EQ_INT(r.metadata[0].unit_len, 0);
    }
    arena_destroy(a);
    free(raw);
    free(body);
}

int main(void)
{
    RUN(test_roundtrip);
    RUN(test_unsorted_sorted);
    RUN(test_empty_value_dropped);
    RUN(test_utf8_names_accepted);
    RUN(test_invalid);
    RUN(test_long_rendering_truncated);
    RUN(test_stale_nan_bits);
    RUN(test_limits);
    RUN(test_garbage);
    RUN(test_metadata_histograms);
    return TEST_DONE();
}
