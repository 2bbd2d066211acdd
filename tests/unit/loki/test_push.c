/*
 * test_push.c - Loki push decoding and validation (ingest/loki/): JSON and
 * snappy protobuf bodies, the stream-selector parser, Loki's per-stream and
 * per-entry checks, and the stored form of an entry (decoded back with the
 * OTLP ResourceLogs protobuf-c code).
 */
#include <snappy-c.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../test.h"
#include "ingest/loki/loki.h"
#include "loki_push.pb-c.h"
#include "otlp_logs.pb-c.h"

#define NOW_NS 1700000000000000000LL

static loki_limits lim(void)
{
    loki_limits l;
    loki_limits_defaults(&l);
    return l;
}

static sonde_status json(arena *a, const char *doc, loki_push *p)
{
    loki_limits l = lim();
    char err[256] = "";
    sonde_status st =
        loki_push_decode_json(a, (const uint8_t *)doc, strlen(doc), &l, NOW_NS, p, err, sizeof err);
    if (st != SONDE_OK)
        printf("    (decode: %s)\n", err);
    return st;
}

static void test_json_basic(void)
{
    arena *a = arena_create(4096, 0);
    loki_push p;
    CHECK_EQ_INT(json(a,
                      "{\"streams\":[{\"stream\":{\"level\":\"info\",\"app\":\"web\"},"
                      "\"values\":[[\"1700000000000000000\",\"hello\"],"
                      "[\"1699999999000000000\",\"meta line\",{\"trace_id\":\"abc\"}]]}]}",
                      &p),
                 SONDE_OK);
    CHECK_EQ_INT(p.nstreams, 1);
    CHECK_EQ_INT(p.nentries, 2);
    CHECK_EQ_INT(p.rejected, 0);
    CHECK_EQ_INT(p.line_bytes, 5 + 9);
    const loki_stream *s = &p.streams[0];
    CHECK_EQ_INT(s->nlabels, 2);
    CHECK(memcmp(s->labels[0].name, "app", 3) == 0); /* sorted */
    CHECK(s->entries[0].ts_ns == 1700000000000000000LL);
    CHECK_EQ_INT(s->entries[1].nmeta, 1);
    CHECK(memcmp(s->entries[1].meta[0].value, "abc", 3) == 0);
    char sel[64];
    loki_labels_format(s->labels, s->nlabels, sel, sizeof sel);
    CHECK_EQ_STR(sel, "{app=\"web\", level=\"info\"}");
    arena_destroy(a);
}

static void test_json_validation(void)
{
    arena *a = arena_create(4096, 0);
    loki_push p;
    char doc[2048];
    /* too old (> 7 days), too new (> 10 minutes ahead), fine; no labels; bad name */
    snprintf(doc, sizeof doc,
             "{\"streams\":[{\"stream\":{\"a\":\"b\"},\"values\":["
             "[\"%lld\",\"old\"],[\"%lld\",\"new\"],[\"%lld\",\"ok\"]]},"
             "{\"stream\":{},\"values\":[[\"%lld\",\"x\"]]},"
             "{\"stream\":{\"1a\":\"b\"},\"values\":[[\"%lld\",\"x\"],[\"%lld\",\"y\"]]}]}",
             NOW_NS - 8LL * 86400 * 1000000000, NOW_NS + 11LL * 60 * 1000000000, NOW_NS, NOW_NS,
             NOW_NS, NOW_NS);
    CHECK_EQ_INT(json(a, doc, &p), SONDE_OK);
    CHECK_EQ_INT(p.nstreams, 1);
    CHECK_EQ_INT(p.nentries, 1);
    CHECK_EQ_INT(p.rejected, 5);
    CHECK(strstr(p.msg, "has timestamp too old") != NULL);
    CHECK(strstr(p.msg, "has timestamp too new") != NULL);
    CHECK(strstr(p.msg, "at least one label pair is required per stream") != NULL);
    /* too many labels (16 > 15) */
    char big[1024] = "{\"streams\":[{\"stream\":{";
    for (int i = 0; i < 16; i++) {
        char kv[32];
        snprintf(kv, sizeof kv, "%s\"l%d\":\"v\"", i ? "," : "", i);
        strcat(big, kv);
    }
    strcat(big, "},\"values\":[[\"1700000000000000000\",\"x\"]]}]}");
    CHECK_EQ_INT(json(a, big, &p), SONDE_OK);
    CHECK_EQ_INT(p.nentries, 0);
    CHECK(strstr(p.msg, "has 16 label names; limit 15") != NULL);
    /* a line over the cap is refused on its own */
    loki_limits l = lim();
    l.max_line = 4;
    const char *d = "{\"streams\":[{\"stream\":{\"a\":\"b\"},\"values\":"
                    "[[\"1700000000000000000\",\"12345\"],[\"1700000000000000000\",\"1234\"]]}]}";
    char err[128];
    CHECK_EQ_INT(loki_push_decode_json(a, (const uint8_t *)d, strlen(d), &l, NOW_NS, &p, err,
                                       sizeof err),
                 SONDE_OK);
    CHECK_EQ_INT(p.nentries, 1);
    CHECK(strstr(p.msg, "Max entry size '4' bytes exceeded") != NULL);
    /* malformed documents refuse the whole request */
    CHECK_EQ_INT(json(a, "{\"streams\":[{\"stream\":{\"a\":1},\"values\":[]}]}", &p),
                 SONDE_ERR_INVALID);
    CHECK_EQ_INT(json(a, "{\"streams\":[{\"stream\":{\"a\":\"b\"},\"values\":[[\"x\",\"l\"]]}]}",
                      &p),
                 SONDE_ERR_INVALID);
    CHECK_EQ_INT(json(a, "{\"streams\":[{\"stream\":{\"a\":\"b\"},\"values\":[[\"1\",2]]}]}", &p),
                 SONDE_ERR_INVALID);
    CHECK_EQ_INT(json(a, "{\"streams\":5}", &p), SONDE_ERR_INVALID);
    CHECK_EQ_INT(json(a, "[1,", &p), SONDE_ERR_INVALID);
    arena_destroy(a);
}

static void test_labels_parse(void)
{
    arena *a = arena_create(4096, 0);
    sonde_label *l;
    uint32_t n;
    char err[128];
    const char *s = " { job = \"api\\\"x\" , env=`prod\\n`}";
    CHECK_EQ_INT(loki_labels_parse(a, s, strlen(s), &l, &n, err, sizeof err), SONDE_OK);
    CHECK_EQ_INT(n, 2);
    CHECK(l[0].value_len == 5 && memcmp(l[0].value, "api\"x", 5) == 0);
    CHECK(l[1].value_len == 6 && memcmp(l[1].value, "prod\\n", 6) == 0); /* raw string */
    const char *bad[] = {"app=\"x\"", "{app=~\"x\"}", "{app=\"x\"", "{app=\"x\"} junk", "{=\"x\"}",
                         "{a=\"\\q\"}"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        CHECK_EQ_INT(loki_labels_parse(a, bad[i], strlen(bad[i]), &l, &n, err, sizeof err),
                     SONDE_ERR_INVALID);
    CHECK_EQ_INT(loki_labels_parse(a, "{}", 2, &l, &n, err, sizeof err), SONDE_OK);
    CHECK_EQ_INT(n, 0);
    arena_destroy(a);
}

static void test_proto(void)
{
    Logproto__Timestamp ts = LOGPROTO__TIMESTAMP__INIT;
    ts.seconds = 1700000000;
    ts.nanos = 7;
    Logproto__LabelPairAdapter md = LOGPROTO__LABEL_PAIR_ADAPTER__INIT;
    md.name = "user";
    md.value = "ada";
    Logproto__LabelPairAdapter *mds[] = {&md};
    Logproto__EntryAdapter e1 = LOGPROTO__ENTRY_ADAPTER__INIT, e2 = LOGPROTO__ENTRY_ADAPTER__INIT;
    e1.timestamp = &ts;
    e1.line = "GET /index.html 200";
    e1.n_structuredmetadata = 1;
    e1.structuredmetadata = mds;
    e2.timestamp = &ts;
    e2.line = "second";
    Logproto__EntryAdapter *es[] = {&e1, &e2};
    Logproto__StreamAdapter sa = LOGPROTO__STREAM_ADAPTER__INIT, bad = LOGPROTO__STREAM_ADAPTER__INIT;
    sa.labels = "{job=\"nginx\", host=\"a\"}";
    sa.n_entries = 2;
    sa.entries = es;
    bad.labels = "{job=~\"x\"}";
    bad.n_entries = 1;
    bad.entries = es;
    Logproto__StreamAdapter *ss[] = {&sa, &bad};
    Logproto__PushRequest rq = LOGPROTO__PUSH_REQUEST__INIT;
    rq.n_streams = 2;
    rq.streams = ss;
    size_t n = logproto__push_request__get_packed_size(&rq);
    uint8_t *raw = malloc(n);
    logproto__push_request__pack(&rq, raw);
    size_t clen = snappy_max_compressed_length(n);
    char *comp = malloc(clen);
    CHECK_EQ_INT(snappy_compress((const char *)raw, n, comp, &clen), SNAPPY_OK);

    arena *a = arena_create(4096, 0);
    loki_limits l = lim();
    loki_push p;
    char err[256];
    CHECK_EQ_INT(
        loki_push_decode_proto(a, (const uint8_t *)comp, clen, &l, NOW_NS, &p, err, sizeof err),
        SONDE_OK);
    CHECK_EQ_INT(p.nstreams, 1);
    CHECK_EQ_INT(p.nentries, 2);
    CHECK_EQ_INT(p.rejected, 1);
    CHECK(strstr(p.msg, "error parsing labels") != NULL);
    const loki_entry *e = &p.streams[0].entries[0];
    CHECK(e->ts_ns == 1700000000000000007LL);
    CHECK_EQ_INT(e->nmeta, 1);

    /* the stored form decodes as an OTLP ResourceLogs with one record */
    uint8_t *val;
    size_t vlen;
    CHECK_EQ_INT(loki_entry_pack(a, e, &val, &vlen), SONDE_OK);
    Opentelemetry__Proto__Logs__V1__ResourceLogs *rl =
        opentelemetry__proto__logs__v1__resource_logs__unpack(NULL, vlen, val);
    CHECK(rl != NULL);
    if (rl) {
        CHECK_EQ_INT(rl->n_scope_logs, 1);
        CHECK_EQ_INT(rl->scope_logs[0]->n_log_records, 1);
        const Opentelemetry__Proto__Logs__V1__LogRecord *lr = rl->scope_logs[0]->log_records[0];
        CHECK(lr->time_unix_nano == 1700000000000000007ULL);
        CHECK(lr->body && lr->body->string_value &&
              strcmp(lr->body->string_value, "GET /index.html 200") == 0);
        CHECK_EQ_INT(lr->n_attributes, 1);
        CHECK_EQ_STR(lr->attributes[0]->key, "user");
        CHECK_EQ_STR(lr->attributes[0]->value->string_value, "ada");
        opentelemetry__proto__logs__v1__resource_logs__free_unpacked(rl, NULL);
    }
    /* bad snappy, truncated protobuf */
    CHECK(loki_push_decode_proto(a, (const uint8_t *)"\xff\xff\xff\xff\x0f", 5, &l, NOW_NS, &p, err,
                                 sizeof err) != SONDE_OK);
    CHECK(loki_push_decode_proto(a, (const uint8_t *)comp, clen / 2, &l, NOW_NS, &p, err,
                                 sizeof err) != SONDE_OK);
    arena_destroy(a);
    free(raw);
    free(comp);
}

int main(void)
{
    RUN(test_json_basic);
    RUN(test_json_validation);
    RUN(test_labels_parse);
    RUN(test_proto);
    return TEST_DONE();
}
