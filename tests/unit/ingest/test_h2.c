/*
 * test_h2.c - the HTTP/2 glue (ingest/http2.c) driven by an nghttp2 client
 * session in memory, with no sockets or net thread: streams still open when
 * the connection is torn down are freed (the ASan build's LeakSanitizer
 * checks that), and ingest_h2_tick resets a stream older than the body
 * timeout even though the connection stays active.
 */
#include <nghttp2/nghttp2.h>
#include <stdlib.h>
#include <string.h>

#include "ingest/net.h"
#include "test.h"

typedef struct fixture {
    ingest_config cfg;
    ingest_ctx ctx;
    ingest_net *net;
    ingest_conn conn;
    ingest_h2 *h;
    nghttp2_session *cli;
    int32_t rst[16];
    uint32_t rst_code[16];
    size_t nrst;
    size_t sent; /* request body bytes handed out per stream */
} fixture;

static int cli_on_frame_recv(nghttp2_session *s, const nghttp2_frame *f, void *ud)
{
    (void)s;
    fixture *fx = ud;
    if (f->hd.type == NGHTTP2_RST_STREAM && fx->nrst < 16) {
        fx->rst_code[fx->nrst] = f->rst_stream.error_code;
        fx->rst[fx->nrst++] = f->hd.stream_id;
    }
    return 0;
}

/* 100 body bytes, then nothing more for now: the stream stays open */
static ssize_t cli_read_body(nghttp2_session *s, int32_t id, uint8_t *dst, size_t len,
                             uint32_t *flags, nghttp2_data_source *src, void *ud)
{
    (void)s, (void)id, (void)flags, (void)ud;
    size_t *given = src->ptr;
    if (*given >= 100)
        return NGHTTP2_ERR_DEFERRED;
    size_t n = len < 100 ? len : 100;
    memset(dst, 'x', n);
    *given += n;
    return (ssize_t)n;
}

static void fx_init(fixture *fx)
{
    memset(fx, 0, sizeof *fx);
    ingest_config_defaults(&fx->cfg);
    fx->cfg.body_timeout_ms = 1000;
    fx->ctx.cfg = &fx->cfg;
    fx->ctx.metrics = ingest_metrics_create();
    rw_limits_defaults(&fx->ctx.rwl);
    fx->net = calloc(1, sizeof *fx->net);
    fx->net->ctx = &fx->ctx;
    fx->net->now_ms = 10000;
    fx->conn.net = fx->net;
    fx->conn.gen = 1;
    fx->conn.fd = -1;
    fx->conn.state = CONN_H2;
    fx->h = ingest_h2_create(&fx->conn);
    CHECK(fx->h != NULL);
    nghttp2_session_callbacks *cbs;
    CHECK_EQ_INT(nghttp2_session_callbacks_new(&cbs), 0);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, cli_on_frame_recv);
    CHECK_EQ_INT(nghttp2_session_client_new(&fx->cli, cbs, fx), 0);
    nghttp2_session_callbacks_del(cbs);
    CHECK_EQ_INT(nghttp2_submit_settings(fx->cli, NGHTTP2_FLAG_NONE, NULL, 0), 0);
}

static void fx_fini(fixture *fx)
{
    nghttp2_session_del(fx->cli);
    ingest_h2_destroy(fx->h);
    ingest_metrics_destroy(fx->ctx.metrics);
    free(fx->net);
}

/* client -> server -> client until neither has anything to say */
static void fx_pump(fixture *fx)
{
    for (int round = 0; round < 8; round++) {
        const uint8_t *data;
        ssize_t n;
        size_t moved = 0;
        while ((n = nghttp2_session_mem_send(fx->cli, &data)) > 0) {
            CHECK_EQ_INT(ingest_h2_feed(fx->h, data, (size_t)n), 0);
            moved += (size_t)n;
        }
        buf out;
        buf_init(&out, 64u << 20);
        CHECK_EQ_INT(ingest_h2_produce(fx->h, &out, 1u << 20), 0);
        if (out.len)
            CHECK(nghttp2_session_mem_recv(fx->cli, (const uint8_t *)out.data, out.len) ==
                  (ssize_t)out.len);
        moved += out.len;
        buf_fini(&out);
        if (!moved)
            return;
    }
}

static size_t given[3];

static void fx_open_partial(fixture *fx, size_t nstreams)
{
    nghttp2_nv nva[] = {
        {(uint8_t *)":method", (uint8_t *)"POST", 7, 4, NGHTTP2_NV_FLAG_NONE},
        {(uint8_t *)":scheme", (uint8_t *)"http", 7, 4, NGHTTP2_NV_FLAG_NONE},
        {(uint8_t *)":authority", (uint8_t *)"a", 10, 1, NGHTTP2_NV_FLAG_NONE},
        {(uint8_t *)":path", (uint8_t *)"/api/v1/write", 5, 13, NGHTTP2_NV_FLAG_NONE},
        {(uint8_t *)"content-length", (uint8_t *)"100000", 14, 6, NGHTTP2_NV_FLAG_NONE},
    };
    for (size_t i = 0; i < nstreams && i < 3; i++) {
        given[i] = 0;
        nghttp2_data_provider prd = {.source.ptr = &given[i], .read_callback = cli_read_body};
        CHECK(nghttp2_submit_request(fx->cli, NULL, nva, sizeof nva / sizeof nva[0], &prd, NULL) >
              0);
    }
    fx_pump(fx);
}

static void test_teardown_frees_open_streams(void)
{
    fixture fx;
    fx_init(&fx);
    fx_open_partial(&fx, 3);
    CHECK_EQ_INT(ingest_h2_streams(fx.h), 3);
    CHECK_EQ_INT(ingest_h2_waiting(fx.h), 0);
    CHECK_EQ_INT(fx.nrst, 0);
    /* the connection goes away with three requests and their bodies
     * buffered: LeakSanitizer (SONDE_SANITIZE) fails this test if they leak */
    fx_fini(&fx);
}

static void test_tick_resets_old_streams(void)
{
    fixture fx;
    fx_init(&fx);
    fx_open_partial(&fx, 2);
    CHECK_EQ_INT(ingest_h2_streams(fx.h), 2);
    /* within the body timeout: nothing happens */
    ingest_h2_tick(fx.h, fx.net->now_ms + 900, fx.cfg.body_timeout_ms);
    fx_pump(&fx);
    CHECK_EQ_INT(fx.nrst, 0);
    CHECK_EQ_INT(ingest_h2_streams(fx.h), 2);
    /* a PING keeps the connection busy but does not extend a stream's life */
    CHECK_EQ_INT(nghttp2_submit_ping(fx.cli, NGHTTP2_FLAG_NONE, NULL), 0);
    fx_pump(&fx);
    ingest_h2_tick(fx.h, fx.net->now_ms + 1001, fx.cfg.body_timeout_ms);
    fx_pump(&fx);
    CHECK_EQ_INT(fx.nrst, 2);
    for (size_t i = 0; i < fx.nrst; i++)
        CHECK_EQ_INT(fx.rst_code[i], NGHTTP2_CANCEL);
    CHECK_EQ_INT(ingest_h2_streams(fx.h), 0);
    /* once reset, a stream is not reset again */
    ingest_h2_tick(fx.h, fx.net->now_ms + 5000, fx.cfg.body_timeout_ms);
    fx_pump(&fx);
    CHECK_EQ_INT(fx.nrst, 2);
    fx_fini(&fx);
}

int main(void)
{
    RUN(test_teardown_frees_open_streams);
    RUN(test_tick_resets_old_streams);
    return TEST_DONE();
}
