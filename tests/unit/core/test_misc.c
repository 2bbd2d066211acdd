/* test_misc.c - status names, hashing, log helpers, HTTP message helpers, clocks. */
#include <string.h>

#include "core/hash.h"
#include "core/httpmsg.h"
#include "core/log.h"
#include "core/status.h"
#include "core/timeutil.h"
#include "core/varint.h"
#include "test.h"

static void test_status(void)
{
    CHECK_EQ_STR(sonde_status_name(SONDE_OK), "ok");
    CHECK_EQ_STR(sonde_status_name(SONDE_ERR_LIMIT), "limit");
    CHECK_EQ_STR(sonde_status_name((sonde_status)999), "unknown");
}

static void test_hash(void)
{
    CHECK(hash64("abc", 3) == hash64("abc", 3));
    CHECK(hash64("abc", 3) != hash64("abd", 3));
    CHECK(hash64_seeded("abc", 3, 1) != hash64_seeded("abc", 3, 2));
    hash128 a = hash128_seeded("abc", 3, 0), b = hash128_seeded("abc", 3, 0);
    CHECK(a.lo == b.lo && a.hi == b.hi);
    hash64_stream s;
    hash64_stream_init(&s);
    hash64_stream_update(&s, "hello ", 6);
    hash64_stream_update(&s, "world", 5);
    CHECK(hash64_stream_final(&s) == hash64("hello world", 11));
}

static void test_log(void)
{
    log_level l;
    CHECK(log_level_parse("debug", &l) == 0 && l == LOG_DEBUG);
    CHECK(log_level_parse("error", &l) == 0 && l == LOG_ERROR);
    CHECK(log_level_parse("loud", &l) == -1);
    char q[32];
    CHECK_EQ_STR(log_quote(q, sizeof q, "plain", 5), "plain");
    CHECK_EQ_STR(log_quote(q, sizeof q, "a b\"c", 5), "\"a b\\\"c\"");
    CHECK_EQ_STR(log_quote(q, sizeof q, "", 0), "\"\"");
    CHECK_EQ_STR(log_quote(q, sizeof q, "x\ny", 3), "\"x\\ny\"");
    const char *longs = "a very long value with spaces that will not fit at all";
    log_quote(q, sizeof q, longs, strlen(longs));
    CHECK(strlen(q) < sizeof q && q[0] == '"' && strstr(q, "...\"") != NULL);
    log_info("test.log", "k=%d v=%s", 1, "x"); /* visible in the test output */
}

static void test_http(void)
{
    http_header hs[] = {{"content-type", 12, "application/x-protobuf", 22},
                        {"x-scope-orgid", 13, "team", 4}};
    http_request req;
    memset(&req, 0, sizeof req);
    req.headers = hs;
    req.nheaders = 2;
    const http_header *h = http_request_header(&req, "X-Scope-OrgID");
    CHECK(h == &hs[1]);
    CHECK(http_request_header(&req, "Content-Encoding") == NULL);
    CHECK(http_request_header(&req, "content") == NULL);

    http_response r;
    http_response_init(&r, 64);
    http_response_text(&r, 400, "bad label %s", "x");
    CHECK_EQ_INT(r.status, 400);
    CHECK_EQ_STR(r.body.data, "bad label x\n");
    CHECK(r.content_type != NULL);
    http_response_text(&r, 400, "%0100d", 7); /* longer than the cap: truncated */
    CHECK(r.body.len <= 64 && r.body.len > 0);
    for (int i = 0; i < HTTP_RESPONSE_MAX_EXTRA + 2; i++)
        http_response_header(&r, "x-a", "b");
    CHECK_EQ_INT(r.nextra, HTTP_RESPONSE_MAX_EXTRA);
    CHECK_EQ_INT(r.extra[0].name_len, 3);
    http_response_fini(&r);
    http_response_fini(NULL);
}

static void test_time(void)
{
    CHECK(time_now_ms() > 1600000000000LL);
    int64_t a = time_mono_ns(), b = time_mono_ns();
    CHECK(b >= a);
}

/* varints: round trips at every length, truncation and over-long inputs refused */
static void test_varint(void)
{
    const uint64_t vals[] = {0, 1, 127, 128, 300, 16383, 16384, UINT32_MAX, (uint64_t)1 << 56,
                             UINT64_MAX};
    for (size_t i = 0; i < sizeof vals / sizeof *vals; i++) {
        uint8_t b[VARINT_MAX];
        size_t n = varint_put(b, vals[i]);
        CHECK(n >= 1 && n <= VARINT_MAX);
        const uint8_t *p = b;
        uint64_t v = 1;
        CHECK(varint_get(&p, b + n, &v) && v == vals[i] && p == b + n);
        p = b;
        CHECK(!varint_get(&p, b + n - 1, &v)); /* one byte short */
    }
    uint8_t longer[11];
    memset(longer, 0x80, sizeof longer);
    const uint8_t *p = longer;
    uint64_t v;
    CHECK(!varint_get(&p, longer + sizeof longer, &v));
}

int main(void)
{
    RUN(test_varint);
    RUN(test_status);
    RUN(test_hash);
    RUN(test_log);
    RUN(test_http);
    RUN(test_time);
    return TEST_DONE();
}
