/*
 * test_http1.c - the HTTP/1.1 parsing layer (ingest/http1.c) without
 * sockets: pipelining, chunked bodies, limits, 100-continue, malformed input.
 */
#include <stdlib.h>
#include <string.h>

#include "ingest/http1.h"
#include "test.h"

static ingest_h1_limits lim(size_t hdr, size_t body)
{
    ingest_h1_limits l;
    ingest_h1_limits_defaults(&l);
    if (hdr)
        l.max_header_bytes = hdr;
    if (body)
        l.max_body_bytes = body;
    return l;
}

/* Feeds s in pieces of `step` bytes; collects up to 8 requests. Returns the
 * last event (ERROR stops). */
static ingest_h1_event feed_all(ingest_h1 *p, const char *s, size_t n, size_t step,
                                ingest_h1_msg *msgs, int *nmsgs, int *ncontinue)
{
    ingest_h1_event last = INGEST_H1_NEED_MORE;
    size_t off = 0;
    *nmsgs = 0;
    if (ncontinue)
        *ncontinue = 0;
    while (off < n) {
        size_t chunk = n - off < step ? n - off : step;
        size_t used = 0;
        last = ingest_h1_feed(p, s + off, chunk, &used);
        off += used;
        if (last == INGEST_H1_ERROR)
            return last;
        if (last == INGEST_H1_CONTINUE && ncontinue)
            (*ncontinue)++;
        if (last == INGEST_H1_REQUEST) {
            if (*nmsgs < 8)
                ingest_h1_take(p, &msgs[(*nmsgs)++]);
            else {
                ingest_h1_msg m;
                ingest_h1_take(p, &m);
                ingest_h1_msg_fini(&m);
            }
        }
    }
    return last;
}

static void free_msgs(ingest_h1_msg *m, int n)
{
    for (int i = 0; i < n; i++)
        ingest_h1_msg_fini(&m[i]);
}

static void test_simple_get(void)
{
    ingest_h1_limits l = lim(0, 0);
    ingest_h1 p;
    CHECK(ingest_h1_init(&p, &l) == 0);
    const char *req = "GET /api/v1/query?query=up&time=1 HTTP/1.1\r\nHost: x\r\n"
                      "X-Scope-OrgID: team-a\r\n\r\n";
    ingest_h1_msg m[8];
    int n;
    feed_all(&p, req, strlen(req), 1 << 20, m, &n, NULL);
    CHECK_EQ_INT(n, 1);
    if (n == 1) {
        CHECK_EQ_INT(m[0].req.method, HTTP_METHOD_GET);
        CHECK_EQ_STR(m[0].req.path, "/api/v1/query");
        CHECK_EQ_STR(m[0].req.query, "query=up&time=1");
        CHECK_EQ_INT(m[0].req.nheaders, 2);
        CHECK_EQ_STR(m[0].req.headers[1].name, "x-scope-orgid");
        CHECK_EQ_STR(m[0].req.headers[1].value, "team-a");
        CHECK(m[0].keep_alive);
        CHECK_EQ_INT(m[0].req.body_len, 0);
    }
    free_msgs(m, n);
    ingest_h1_fini(&p);
}

static void test_pipelined_byte_by_byte(void)
{
    ingest_h1_limits l = lim(0, 0);
    const char *req = "POST /api/v1/write HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello"
                      "GET /-/healthy HTTP/1.1\r\n\r\n"
                      "GET /metrics HTTP/1.1\r\nConnection: close\r\n\r\n";
    size_t steps[] = {1, 3, 7, 1 << 20};
    for (size_t s = 0; s < sizeof steps / sizeof steps[0]; s++) {
        ingest_h1 p;
        ingest_h1_init(&p, &l);
        ingest_h1_msg m[8];
        int n;
        feed_all(&p, req, strlen(req), steps[s], m, &n, NULL);
        CHECK_EQ_INT(n, 3);
        if (n == 3) {
            CHECK_EQ_INT(m[0].req.method, HTTP_METHOD_POST);
            CHECK_EQ_INT(m[0].req.body_len, 5);
            CHECK(memcmp(m[0].req.body, "hello", 5) == 0);
            CHECK_EQ_STR(m[1].req.path, "/-/healthy");
            CHECK_EQ_STR(m[2].req.path, "/metrics");
            CHECK(m[1].keep_alive);
            CHECK(!m[2].keep_alive);
        }
        free_msgs(m, n);
        ingest_h1_fini(&p);
    }
}

static void test_pipelined_one_at_a_time(void)
{
    /* feed stops after each request; the rest must be fed again */
    ingest_h1_limits l = lim(0, 0);
    ingest_h1 p;
    ingest_h1_init(&p, &l);
    const char *req = "GET /a HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\n\r\n";
    size_t used;
    CHECK_EQ_INT(ingest_h1_feed(&p, req, strlen(req), &used), INGEST_H1_REQUEST);
    CHECK_EQ_INT(used, strlen("GET /a HTTP/1.1\r\n\r\n"));
    /* not taken yet: feeding again reports the same request, consumes nothing */
    size_t used2;
    CHECK_EQ_INT(ingest_h1_feed(&p, req + used, strlen(req) - used, &used2), INGEST_H1_REQUEST);
    CHECK_EQ_INT(used2, 0);
    ingest_h1_msg m;
    CHECK(ingest_h1_take(&p, &m));
    CHECK_EQ_STR(m.req.path, "/a");
    ingest_h1_msg_fini(&m);
    CHECK_EQ_INT(ingest_h1_feed(&p, req + used, strlen(req) - used, &used2), INGEST_H1_REQUEST);
    CHECK(ingest_h1_take(&p, &m));
    CHECK_EQ_STR(m.req.path, "/b");
    ingest_h1_msg_fini(&m);
    ingest_h1_fini(&p);
}

static void test_chunked(void)
{
    ingest_h1_limits l = lim(0, 0);
    ingest_h1 p;
    ingest_h1_init(&p, &l);
    const char *req = "POST /api/v1/write HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
                      "5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\n\r\n";
    ingest_h1_msg m[8];
    int n;
    feed_all(&p, req, strlen(req), 2, m, &n, NULL);
    CHECK_EQ_INT(n, 1);
    if (n == 1) {
        CHECK_EQ_INT(m[0].req.body_len, 11);
        CHECK(memcmp(m[0].req.body, "hello world", 11) == 0);
    }
    free_msgs(m, n);
    ingest_h1_fini(&p);
}

static void test_bad_chunk_size(void)
{
    ingest_h1_limits l = lim(0, 0);
    ingest_h1 p;
    ingest_h1_init(&p, &l);
    const char *req = "POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n";
    ingest_h1_msg m[8];
    int n;
    CHECK_EQ_INT(feed_all(&p, req, strlen(req), 64, m, &n, NULL), INGEST_H1_ERROR);
    CHECK_EQ_INT(ingest_h1_error_status(&p), 400);
    /* a failed parser stays failed */
    size_t used;
    CHECK_EQ_INT(ingest_h1_feed(&p, "GET / HTTP/1.1\r\n\r\n", 18, &used), INGEST_H1_ERROR);
    free_msgs(m, n);
    ingest_h1_fini(&p);
}

static void test_content_length_over_limit(void)
{
    ingest_h1_limits l = lim(0, 1000);
    ingest_h1 p;
    ingest_h1_init(&p, &l);
    /* refused from the headers alone: no body byte was sent */
    const char *req = "POST /api/v1/write HTTP/1.1\r\nContent-Length: 1001\r\n\r\n";
    size_t used;
    CHECK_EQ_INT(ingest_h1_feed(&p, req, strlen(req), &used), INGEST_H1_ERROR);
    CHECK_EQ_INT(ingest_h1_error_status(&p), 413);
    CHECK(strstr(ingest_h1_error_message(&p), "max-body-size") != NULL);
    ingest_h1_fini(&p);
}

static void test_chunked_over_limit(void)
{
    ingest_h1_limits l = lim(0, 8);
    ingest_h1 p;
    ingest_h1_init(&p, &l);
    const char *req = "POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
                      "5\r\nhello\r\n5\r\nworld\r\n0\r\n\r\n";
    ingest_h1_msg m[8];
    int n;
    CHECK_EQ_INT(feed_all(&p, req, strlen(req), 1 << 20, m, &n, NULL), INGEST_H1_ERROR);
    CHECK_EQ_INT(ingest_h1_error_status(&p), 413);
    free_msgs(m, n);
    ingest_h1_fini(&p);
}

static void test_header_limit(void)
{
    ingest_h1_limits l = lim(1024, 0);
    ingest_h1 p;
    ingest_h1_init(&p, &l);
    char req[4096];
    memset(req, 0, sizeof req);
    strcpy(req, "GET / HTTP/1.1\r\nX-Big: ");
    size_t off = strlen(req);
    memset(req + off, 'a', 2000);
    strcpy(req + off + 2000, "\r\n\r\n");
    ingest_h1_msg m[8];
    int n;
    CHECK_EQ_INT(feed_all(&p, req, strlen(req), 100, m, &n, NULL), INGEST_H1_ERROR);
    CHECK_EQ_INT(ingest_h1_error_status(&p), 431);
    free_msgs(m, n);
    ingest_h1_fini(&p);

    /* too many fields */
    ingest_h1_init(&p, NULL);
    char many[8192] = "GET / HTTP/1.1\r\n";
    for (int i = 0; i < 200; i++)
        strcat(many, "A: b\r\n");
    strcat(many, "\r\n");
    CHECK_EQ_INT(feed_all(&p, many, strlen(many), 1 << 20, m, &n, NULL), INGEST_H1_ERROR);
    CHECK_EQ_INT(ingest_h1_error_status(&p), 431);
    free_msgs(m, n);
    ingest_h1_fini(&p);
}

static void test_expect_continue(void)
{
    ingest_h1_limits l = lim(0, 0);
    ingest_h1 p;
    ingest_h1_init(&p, &l);
    const char *hdr = "POST /api/v1/write HTTP/1.1\r\nContent-Length: 3\r\n"
                      "Expect: 100-continue\r\n\r\n";
    size_t used;
    CHECK_EQ_INT(ingest_h1_feed(&p, hdr, strlen(hdr), &used), INGEST_H1_CONTINUE);
    CHECK_EQ_INT(used, strlen(hdr));
    CHECK_EQ_INT(ingest_h1_phase_get(&p), INGEST_H1_BODY);
    CHECK_EQ_INT(ingest_h1_feed(&p, "abc", 3, &used), INGEST_H1_REQUEST);
    ingest_h1_msg m;
    CHECK(ingest_h1_take(&p, &m));
    CHECK_EQ_INT(m.req.body_len, 3);
    ingest_h1_msg_fini(&m);
    ingest_h1_fini(&p);

    /* an oversize body with Expect gets 413 and no 100 */
    l = lim(0, 2);
    ingest_h1_init(&p, &l);
    CHECK_EQ_INT(ingest_h1_feed(&p, hdr, strlen(hdr), &used), INGEST_H1_ERROR);
    CHECK_EQ_INT(ingest_h1_error_status(&p), 413);
    ingest_h1_fini(&p);
}

static void test_malformed(void)
{
    const char *bad[] = {
        "GARBAGE\r\n\r\n",
        "GET / HTTP/9.9\r\n\r\n",
        "GET / HTTP/1.1\r\nBad Header\r\n\r\n",
        "POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
        "GET / HTTP/1.1\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n\r\n",
        "GET /-/healthy HTTX/1.1\r\nHost: a\r\n\r\n",
        "GET /-/healthy HTTP/1.1\r\nHost : a\r\n\r\n",
        "\x16\x03\x01\x02\x00\x01\x00\r\n\r\n",
        "GET /-/healthy\r\n\r\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ingest_h1 p;
        ingest_h1_init(&p, NULL);
        ingest_h1_msg m[8];
        int n;
        ingest_h1_event ev = feed_all(&p, bad[i], strlen(bad[i]), 1 << 20, m, &n, NULL);
        /* the upgrade request itself is served, then the connection is done */
        CHECK(ev == INGEST_H1_ERROR || (n == 1 && !m[0].keep_alive));
        if (ev == INGEST_H1_ERROR)
            CHECK(ingest_h1_error_status(&p) == 400 || i == 1);
        free_msgs(m, n);
        ingest_h1_fini(&p);
    }
}

static void test_http10_and_absolute_form(void)
{
    ingest_h1 p;
    ingest_h1_init(&p, NULL);
    const char *req = "GET http://example.com:9201/-/ready?x=1 HTTP/1.0\r\n\r\n";
    ingest_h1_msg m[8];
    int n;
    feed_all(&p, req, strlen(req), 1 << 20, m, &n, NULL);
    CHECK_EQ_INT(n, 1);
    if (n == 1) {
        CHECK_EQ_STR(m[0].req.path, "/-/ready");
        CHECK_EQ_STR(m[0].req.query, "x=1");
        CHECK(!m[0].keep_alive);
    }
    free_msgs(m, n);
    ingest_h1_fini(&p);
}

int main(void)
{
    RUN(test_simple_get);
    RUN(test_pipelined_byte_by_byte);
    RUN(test_pipelined_one_at_a_time);
    RUN(test_chunked);
    RUN(test_bad_chunk_size);
    RUN(test_content_length_over_limit);
    RUN(test_chunked_over_limit);
    RUN(test_header_limit);
    RUN(test_expect_continue);
    RUN(test_malformed);
    RUN(test_http10_and_absolute_form);
    return TEST_DONE();
}
