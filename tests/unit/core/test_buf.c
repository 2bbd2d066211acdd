/* test_buf.c - buf caps, JSON escaping, and Go-compatible float formatting. */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "core/buf.h"
#include "test.h"

static void test_caps(void)
{
    buf b;
    buf_init(&b, 10);
    CHECK_EQ_INT(buf_append(&b, "hello", 5), SONDE_OK);
    CHECK_EQ_INT(buf_append(&b, "world", 5), SONDE_OK);
    CHECK_EQ_STR(b.data, "helloworld");
    CHECK_EQ_INT(buf_putc(&b, '!'), SONDE_ERR_LIMIT);
    CHECK_EQ_INT(b.len, 10);
    CHECK_EQ_STR(b.data, "helloworld"); /* unchanged */
    buf_reset(&b);
    CHECK_EQ_INT(buf_printf(&b, "%d-%s", 42, "abcdefghij"), SONDE_ERR_LIMIT);
    CHECK_EQ_INT(b.len, 0);
    CHECK_EQ_INT(buf_printf(&b, "%d-%s", 42, "ab"), SONDE_OK);
    CHECK_EQ_STR(b.data, "42-ab");
    CHECK_EQ_INT(buf_json_str(&b, "abcdef", 6), SONDE_ERR_LIMIT);
    CHECK_EQ_STR(b.data, "42-ab");
    buf_fini(&b);
    buf_fini(&b);

    buf_init(&b, 1 << 20);
    char big[1000];
    memset(big, 'x', sizeof big);
    for (int i = 0; i < 1000; i++)
        CHECK_EQ_INT(buf_append(&b, big, sizeof big), SONDE_OK);
    CHECK_EQ_INT(b.len, 1000000);
    CHECK_EQ_INT(buf_printf(&b, "%0500d", 1), SONDE_OK); /* the long vsnprintf path */
    CHECK_EQ_INT(b.len, 1000500);
    CHECK(b.data[b.len] == '\0');
    buf_fini(&b);
}

static void test_json(void)
{
    buf b;
    buf_init(&b, 1024);
    const char in[] = "a\"b\\c\n\t\x01\x1f/\xc3\xa9";
    CHECK_EQ_INT(buf_json_str(&b, in, sizeof in - 1), SONDE_OK);
    CHECK_EQ_STR(b.data, "\"a\\\"b\\\\c\\n\\t\\u0001\\u001f/\xc3\xa9\"");
    buf_reset(&b);
    CHECK_EQ_INT(buf_json_str(&b, "", 0), SONDE_OK);
    CHECK_EQ_STR(b.data, "\"\"");
    buf_reset(&b);
    CHECK_EQ_INT(buf_json_str(&b, "a\0b", 3), SONDE_OK);
    CHECK_EQ_STR(b.data, "\"a\\u0000b\"");
    buf_fini(&b);
}

static const char *fmt(double v)
{
    static buf b;
    static int init;
    if (!init) {
        buf_init(&b, 4096);
        init = 1;
    }
    buf_reset(&b);
    CHECK_EQ_INT(buf_prom_float(&b, v), SONDE_OK);
    return b.data;
}

static void test_prom_float(void)
{
    CHECK_EQ_STR(fmt(0), "0");
    CHECK_EQ_STR(fmt(-0.0), "-0");
    CHECK_EQ_STR(fmt(1), "1");
    CHECK_EQ_STR(fmt(-1.5), "-1.5");
    CHECK_EQ_STR(fmt(0.1), "0.1");
    CHECK_EQ_STR(fmt(0.1 + 0.2), "0.30000000000000004");
    CHECK_EQ_STR(fmt(1e21), "1000000000000000000000");
    CHECK_EQ_STR(fmt(1e-7), "0.0000001");
    CHECK_EQ_STR(fmt(123456789.125), "123456789.125");
    CHECK_EQ_STR(fmt(1700000000), "1700000000");
    CHECK_EQ_STR(fmt(100), "100");
    CHECK_EQ_STR(fmt(1.0 / 3), "0.3333333333333333");
    CHECK_EQ_STR(fmt(2.5e-5), "0.000025");
    CHECK_EQ_STR(fmt(9007199254740993.0), "9007199254740992");
    CHECK_EQ_STR(fmt(NAN), "NaN");
    CHECK_EQ_STR(fmt(INFINITY), "+Inf");
    CHECK_EQ_STR(fmt(-INFINITY), "-Inf");
    uint64_t bits = 0x7ff0000000000002ULL;
    double stale;
    memcpy(&stale, &bits, sizeof stale);
    CHECK_EQ_STR(fmt(stale), "NaN");
    /* extremes: no exponent, all digits */
    const char *m = fmt(1.7976931348623157e308);
    CHECK(strlen(m) == 309 && strncmp(m, "17976931348623157", 17) == 0);
    m = fmt(5e-324);
    CHECK(strlen(m) == 326 && strcmp(m + 320, "000005") == 0);
}

int main(void)
{
    RUN(test_caps);
    RUN(test_json);
    RUN(test_prom_float);
    return TEST_DONE();
}
