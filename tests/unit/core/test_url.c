/* test_url.c - percent-decoding and query-string splitting. */
#include <string.h>

#include "core/url.h"
#include "test.h"

static void test_decode(void)
{
    arena *a = arena_create(1024, 0);
    char *out;
    size_t len;
    const char *s = "up%7Bjob%3D%22x%22%7D+a%2bb";
    CHECK_EQ_INT(url_decode(a, s, strlen(s), &out, &len), SONDE_OK);
    CHECK_EQ_STR(out, "up{job=\"x\"} a+b");
    CHECK_EQ_INT(len, strlen("up{job=\"x\"} a+b"));
    CHECK_EQ_INT(url_decode(a, "%zz", 3, &out, &len), SONDE_ERR_INVALID);
    CHECK_EQ_INT(url_decode(a, "abc%4", 5, &out, &len), SONDE_ERR_INVALID);
    CHECK_EQ_INT(url_decode(a, "%", 1, &out, &len), SONDE_ERR_INVALID);
    CHECK_EQ_INT(url_decode(a, "a%00b", 5, &out, &len), SONDE_OK);
    CHECK_EQ_INT(len, 3);
    CHECK_EQ_INT(url_decode(a, "", 0, &out, &len), SONDE_OK);
    CHECK_EQ_STR(out, "");
    arena_destroy(a);
}

static void test_params(void)
{
    arena *a = arena_create(256, 0);
    url_param *p = NULL;
    size_t n = 0;
    const char *q = "query=up&time=1700000000&&flag&e=";
    CHECK_EQ_INT(url_params_parse(a, q, strlen(q), &p, &n, 16), SONDE_OK);
    CHECK_EQ_INT(n, 4);
    CHECK_EQ_STR(p[0].key, "query");
    CHECK_EQ_STR(p[0].val, "up");
    CHECK_EQ_STR(p[1].key, "time");
    CHECK_EQ_STR(p[2].key, "flag");
    CHECK_EQ_STR(p[2].val, "");
    CHECK_EQ_STR(p[3].key, "e");
    CHECK_EQ_INT(p[3].val_len, 0);
    const char *body = "match%5B%5D=up&match%5B%5D=go_goroutines";
    CHECK_EQ_INT(url_params_parse(a, body, strlen(body), &p, &n, 16), SONDE_OK);
    CHECK_EQ_INT(n, 6);
    CHECK_EQ_STR(p[0].key, "query"); /* earlier params survive the growth */
    CHECK_EQ_STR(p[4].key, "match[]");
    CHECK_EQ_STR(p[5].val, "go_goroutines");
    CHECK_EQ_INT(url_params_parse(a, "a=1&b=2&c=3", 11, &p, &n, 8), SONDE_ERR_LIMIT);
    CHECK_EQ_INT(url_params_parse(a, "x=%G1", 5, &p, &n, 16), SONDE_ERR_INVALID);
    arena_destroy(a);
}

int main(void)
{
    RUN(test_decode);
    RUN(test_params);
    return TEST_DONE();
}
