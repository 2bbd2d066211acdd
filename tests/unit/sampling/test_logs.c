/*
 * test_logs.c - the log pipeline's state (sampling/logs.h): template ids and versions handed
 * out for storing once (and again after a failed batch), exact per-(stream, template, 10 s)
 * counts as labelled series, sampling that keeps warn lines and thins a hot template, restore
 * from stored versions giving the same ids, the counts' encoding (round trip and every
 * truncation refused), the row header, and level detection.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/series.h"
#include "sampling/logs.h"
#include "test.h"

#define SEC INT64_C(1000000000)
#define T0 (INT64_C(1700000000) * SEC)

static sonde_label stream_a[] = {{"job", "api", 3, 3}};
static sonde_label stream_b[] = {{"job", "db", 3, 2}};

static sampling_logs *pipeline(bool sampling)
{
    sampling_logs_config c;
    sampling_logs_config_default(&c);
    c.sampling = sampling;
    c.sampler.adjust_interval_ms = 1000;
    c.sampler.goal_rate = 10;
    sampling_logs *sl = NULL;
    char err[128];
    CHECK_EQ_INT(sampling_logs_create(&c, &sl, err, sizeof err), SONDE_OK);
    return sl;
}

static sampling_log_line line_of(const sonde_label *st, const char *text, int64_t ts, bool warn)
{
    return (sampling_log_line){st, 1, series_labels_hash(st, 1), ts, text, strlen(text), warn};
}

static const char *label(const sonde_series *s, const char *name)
{
    const sonde_label *l = series_labels_get(s->labels, s->nlabels, name, strlen(name));
    static char v[128];
    if (!l)
        return "";
    snprintf(v, sizeof v, "%.*s", (int)l->value_len, l->value);
    return v;
}

static void test_ids_versions_counts(void)
{
    sampling_logs *sl = pipeline(false);
    arena *a = arena_create(4096, 0);
    sampling_log_line in[] = {
        line_of(stream_a, "login ok for user alice from 10.0.0.1", T0, false),
        line_of(stream_a, "login ok for user bob from 10.0.0.2", T0 + SEC, false),
        line_of(stream_b, "login ok for user carol from 10.0.0.3", T0 + 2 * SEC, false),
        line_of(stream_a, "disk full on /dev/sda1", T0 + 15 * SEC, false),
    };
    sampling_logs_result r;
    CHECK_EQ_INT(sampling_logs_process(sl, "t", in, 4, 1800000000000, a, &r), SONDE_OK);
    CHECK_EQ_INT(r.kept, 4);
    CHECK(r.decisions[0].template_id != 0);
    CHECK_EQ_INT(r.decisions[1].template_id, r.decisions[0].template_id);
    CHECK_EQ_INT(r.decisions[2].template_id, r.decisions[0].template_id);
    CHECK(r.decisions[3].template_id != r.decisions[0].template_id);
    CHECK_EQ_INT(r.decisions[0].rate, 1);
    /* the login template at version 1 (line 0), then generalised (alice -> <*>) at version 2
     * (lines 1, 2): both versions are listed, as rows refer to each; then the disk template */
    CHECK_EQ_INT(r.decisions[0].version, 1);
    CHECK_EQ_INT(r.decisions[1].version, 2);
    CHECK_EQ_INT(r.decisions[2].version, 2);
    CHECK_EQ_INT(r.nversions, 3);
    /* (api, login, bucket 0), (db, login, bucket 0), (api, disk, bucket 1): x2 metrics */
    CHECK_EQ_INT(r.nseries, 6);
    double api_login = 0, lines_total = 0, bytes_total = 0;
    for (size_t i = 0; i < r.nseries; i++) {
        const sonde_series *s = &r.series[i];
        CHECK_EQ_INT(s->nsamples, 1);
        CHECK_EQ_INT(s->hash, series_labels_hash(s->labels, s->nlabels));
        if (strcmp(label(s, "__name__"), SAMPLING_LINES_METRIC) == 0) {
            lines_total += s->samples[0].value;
            char tid[24];
            snprintf(tid, sizeof tid, "%llu", (unsigned long long)r.decisions[0].template_id);
            if (strcmp(label(s, "job"), "api") == 0 &&
                strcmp(label(s, SAMPLING_TEMPLATE_LABEL), tid) == 0) {
                api_login = s->samples[0].value;
                CHECK_EQ_INT(s->samples[0].ts_ms, (T0 + SEC) / 1000000);
            }
        } else {
            CHECK_EQ_STR(label(s, "__name__"), SAMPLING_BYTES_METRIC);
            bytes_total += s->samples[0].value;
        }
    }
    CHECK(api_login == 2);
    CHECK(lines_total == 4);
    CHECK(bytes_total == (double)(in[0].len + in[1].len + in[2].len + in[3].len));

    /* not persisted yet: the next batch lists the version again */
    arena_reset(a);
    CHECK_EQ_INT(sampling_logs_process(sl, "t", in, 1, 1800000000000, a, &r), SONDE_OK);
    CHECK_EQ_INT(r.nversions, 1);
    sampling_template_version v = r.versions[0];
    sampling_logs_persisted(sl, "t", &v, 1);
    arena_reset(a);
    CHECK_EQ_INT(sampling_logs_process(sl, "t", in, 1, 1800000000000, a, &r), SONDE_OK);
    CHECK_EQ_INT(r.nversions, 0);

    /* a template generalising gets a new version */
    sampling_log_line g = line_of(stream_a, "login failed for user dave from 10.0.0.4", T0, false);
    arena_reset(a);
    CHECK_EQ_INT(sampling_logs_process(sl, "t", &g, 1, 1800000000000, a, &r), SONDE_OK);
    if (r.decisions[0].template_id == v.id) {
        CHECK_EQ_INT(r.decisions[0].version, 2);
        CHECK_EQ_INT(r.nversions, 1);
    }
    const char *text;
    size_t tl;
    CHECK_EQ_INT(sampling_logs_template(sl, "t", v.id, a, &text, &tl), SONDE_OK);
    CHECK(strstr(text, "login") != NULL);
    CHECK_EQ_INT(sampling_logs_template(sl, "other", v.id, a, &text, &tl), SONDE_ERR_NOT_FOUND);
    sampling_logs_destroy(sl);
    arena_destroy(a);
}

/* a count series' samples are stamped in increasing time across batches, even when a later
 * batch carries older lines (replay skips samples at or before the last one) */
static void test_stamps_increase(void)
{
    sampling_logs *sl = pipeline(false);
    arena *a = arena_create(4096, 0);
    int64_t prev = INT64_MIN;
    const int64_t times[] = {T0 + 50 * SEC, T0 + 10 * SEC, T0 + 10 * SEC, T0 + 60 * SEC};
    for (int b = 0; b < 4; b++) {
        sampling_log_line l = line_of(stream_a, "disk full on /dev/sda1", times[b], false);
        sampling_logs_result r;
        arena_reset(a);
        CHECK_EQ_INT(sampling_logs_process(sl, "t", &l, 1, 1800000000000, a, &r), SONDE_OK);
        CHECK_EQ_INT(r.nseries, 2);
        int64_t ts = r.series[0].samples[0].ts_ms;
        CHECK(ts > prev);
        CHECK(b != 0 || ts == times[0] / 1000000);
        CHECK(b != 3 || ts == times[3] / 1000000); /* back to line time once it is later */
        prev = ts;
    }
    sampling_logs_destroy(sl);
    arena_destroy(a);
}

static void test_restore_same_ids(void)
{
    sampling_logs *sl = pipeline(false);
    arena *a = arena_create(4096, 0);
    const char *texts[] = {"Received block blk_1 of size 100 from /10.0.0.1",
                           "PacketResponder 1 for block blk_2 terminating",
                           "Verification succeeded for blk_3"};
    uint64_t ids[3];
    sampling_template_version saved[3];
    for (int i = 0; i < 3; i++) {
        sampling_log_line l = line_of(stream_a, texts[i], T0, false);
        sampling_logs_result r;
        arena_reset(a);
        CHECK_EQ_INT(sampling_logs_process(sl, "t", &l, 1, 1800000000000, a, &r), SONDE_OK);
        ids[i] = r.decisions[0].template_id;
        CHECK_EQ_INT(r.nversions, 1);
        saved[i] = r.versions[0];
        saved[i].text = strdup(r.versions[0].text);
    }
    sampling_logs_destroy(sl);
    sl = pipeline(false);
    for (int i = 0; i < 3; i++)
        CHECK_EQ_INT(sampling_logs_restore(sl, "t", saved[i].id, saved[i].version, saved[i].text,
                                           saved[i].len),
                     SONDE_OK);
    const char *again[] = {"Received block blk_9 of size 7 from /10.0.0.9",
                           "PacketResponder 3 for block blk_8 terminating",
                           "Verification succeeded for blk_7"};
    for (int i = 0; i < 3; i++) {
        sampling_log_line l = line_of(stream_a, again[i], T0, false);
        sampling_logs_result r;
        arena_reset(a);
        CHECK_EQ_INT(sampling_logs_process(sl, "t", &l, 1, 1800000000000, a, &r), SONDE_OK);
        CHECK_EQ_INT(r.decisions[0].template_id, ids[i]);
        CHECK_EQ_INT(r.nversions, 0); /* restored versions count as stored */
        free((void *)saved[i].text);
    }
    sampling_logs_destroy(sl);
    arena_destroy(a);
}

static void test_sampling(void)
{
    sampling_logs *sl = pipeline(true);
    arena *a = arena_create(1 << 16, 0);
    size_t hot = 0, hot_kept = 0, warn = 0, warn_kept = 0;
    double reweighted = 0;
    int64_t now = 1800000000000;
    for (int sec = 0; sec < 20; sec++) {
        sampling_log_line in[1000];
        char text[1000][64];
        for (int i = 0; i < 1000; i++) {
            bool w = i % 100 == 0;
            snprintf(text[i], sizeof text[i], w ? "connection to db%d refused" : "GET /items/%d 200",
                     i);
            in[i] = line_of(stream_a, text[i], T0 + sec * SEC, w);
        }
        sampling_logs_result r;
        arena_reset(a);
        CHECK_EQ_INT(sampling_logs_process(sl, "t", in, 1000, now + sec * 1000, a, &r), SONDE_OK);
        for (int i = 0; i < 1000; i++) {
            if (in[i].keep_always) {
                warn++;
                warn_kept += r.decisions[i].keep;
                CHECK_EQ_INT(r.decisions[i].rate, 1);
            } else {
                hot++;
                if (r.decisions[i].keep) {
                    hot_kept++;
                    reweighted += r.decisions[i].rate;
                }
            }
        }
    }
    CHECK_EQ_INT(warn_kept, warn);
    CHECK(hot_kept < hot / 4);
    CHECK(reweighted > (double)hot * 0.95 && reweighted < (double)hot * 1.05);
    sampling_logs_destroy(sl);
    arena_destroy(a);
}

static void test_counts_encoding(void)
{
    arena *a = arena_create(4096, 0);
    sonde_label l[] = {{"__name__", "x", 8, 1}, {"job", "api", 3, 3}};
    sonde_sample sm[] = {{-5, 1.5}, {INT64_MAX, 2}, {INT64_MIN, -0.0}};
    sonde_series s = {l, 2, 3, sm, series_labels_hash(l, 2)};
    buf b;
    buf_init(&b, 0);
    CHECK_EQ_INT(sampling_counts_encode(&s, 1, &b), SONDE_OK);
    sonde_series *out;
    size_t n;
    CHECK_EQ_INT(sampling_counts_decode(a, b.data, b.len, &out, &n), SONDE_OK);
    CHECK_EQ_INT(n, 1);
    CHECK_EQ_INT(out[0].nlabels, 2);
    CHECK_EQ_INT(out[0].nsamples, 3);
    CHECK_EQ_INT(out[0].hash, s.hash);
    CHECK_EQ_INT(out[0].samples[1].ts_ms, INT64_MAX);
    CHECK_EQ_INT(out[0].samples[2].ts_ms, INT64_MIN);
    CHECK(out[0].samples[0].value == 1.5);
    for (size_t cut = 0; cut < b.len; cut++)
        CHECK_EQ_INT(sampling_counts_decode(a, b.data, cut, &out, &n), SONDE_ERR_INVALID);
    buf_fini(&b);
    arena_destroy(a);
}

static void test_row_header(void)
{
    uint8_t h[SAMPLING_ROW_HEADER_MAX + 16];
    size_t n = sampling_row_header_put(h, 4000000000u, UINT64_MAX, 7, false);
    CHECK(n <= SAMPLING_ROW_HEADER_MAX);
    sampling_row_info ri;
    CHECK_EQ_INT(sampling_row_parse(h, n, &ri), n);
    CHECK_EQ_INT(ri.rate, 4000000000u);
    CHECK(ri.template_id == UINT64_MAX);
    CHECK_EQ_INT(ri.version, 7);
    CHECK(ri.vars == NULL);
    CHECK_EQ_INT(sampling_row_parse(h, n - 1, &ri), SIZE_MAX);
    const uint8_t pb[] = {0x0a, 0x00};
    CHECK_EQ_INT(sampling_row_parse(pb, 2, &ri), 0);
    CHECK_EQ_INT(ri.rate, 1);
    /* encoded: the vars block follows the header */
    n = sampling_row_header_put(h, 3, 9, 2, true);
    const uint8_t vars[] = {2, 1, 'x', 2, 'y', 'z'};
    memcpy(h + n, vars, sizeof vars);
    h[n + sizeof vars] = 0x0a;
    CHECK_EQ_INT(sampling_row_parse(h, n + sizeof vars + 1, &ri), n + sizeof vars);
    CHECK(ri.vars == h + n);
    CHECK_EQ_INT(ri.vars_len, sizeof vars);
    CHECK_EQ_INT(sampling_row_parse(h, n + 3, &ri), SIZE_MAX); /* vars cut short */
}

/* split then join gives the line back, byte for byte; lines that do not follow the template's
 * constant text are refused */
static void test_split_join(void)
{
    static const struct {
        const char *tmpl, *line;
        int ok;
    } cases[] = {
        {"Received block <*> of size <*> from <*>", "Received block blk_1 of size 67 from /10.0.0.1", 1},
        {"Received block blk_<*> of size <*>", "Received block blk_-99 of size 0", 1},
        {"<*> connection to <*>", "10:00:01 connection to db:5432", 1},
        {"no variables here", "no variables here", 1},
        {"<*>", "anything at all, even  two  spaces", 1},
        {"user <*> logged in", "user  logged in", 1}, /* an empty variable */
        {"<*>:<*>", "a:b:c", 1},                       /* leftmost split, still exact */
        {"disk <*> full", "disk  /dev/sda full", 1},
        {"disk <*> full", "disk sda is full!", 0},
        {"Received block <*>", "Received  block 1", 0}, /* the template has one space */
        {"a <*> b", "a b", 0},
        {"", "", 1},
    };
    buf out;
    buf_init(&out, 0);
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        const char *t = cases[i].tmpl, *l = cases[i].line;
        uint8_t vb[256];
        CHECK(sampling_template_split_cap(strlen(l), strlen(t)) <= sizeof vb);
        size_t vl = sampling_template_split(t, strlen(t), l, strlen(l), vb);
        CHECK_EQ_INT(vl != 0, cases[i].ok);
        if (!vl)
            continue;
        buf_reset(&out);
        CHECK_EQ_INT(sampling_template_join(t, strlen(t), vb, vl, &out), SONDE_OK);
        CHECK_EQ_INT(out.len, strlen(l));
        CHECK(out.len == strlen(l) && memcmp(out.data ? out.data : "", l, out.len) == 0);
        /* a block for another template does not join */
        buf_reset(&out);
        if (strstr(t, "<*>"))
            CHECK_EQ_INT(sampling_template_join("x <*> <*> <*> <*> <*> <*> y", 27, vb, vl, &out),
                         SONDE_ERR_INVALID);
    }
    buf_fini(&out);
}

static void test_levels(void)
{
    const char *warn[] = {"level=error msg=boom", "{\"level\":\"warn\",\"msg\":\"x\"}",
                          "2024-01-01 ERROR something broke", "[WARNING] low disk",
                          "FATAL: cannot start", "lvl=crit"};
    const char *info[] = {"level=info msg=\"error count 0\"", "GET /errors 200",
                          "2024-01-01 INFO all good", "user eric logged in", "{\"level\":\"debug\"}"};
    for (size_t i = 0; i < sizeof warn / sizeof *warn; i++)
        CHECK(sampling_line_is_warn(warn[i], strlen(warn[i])));
    for (size_t i = 0; i < sizeof info / sizeof *info; i++)
        CHECK(!sampling_line_is_warn(info[i], strlen(info[i])));
    CHECK(sampling_level_is_warn("Warning", 7));
    CHECK(!sampling_level_is_warn("info", 4));
}

int main(void)
{
    RUN(test_ids_versions_counts);
    RUN(test_stamps_increase);
    RUN(test_restore_same_ids);
    RUN(test_sampling);
    RUN(test_counts_encoding);
    RUN(test_row_header);
    RUN(test_split_join);
    RUN(test_levels);
    return TEST_DONE();
}
