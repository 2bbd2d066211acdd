/* test_buf.c - buf caps, JSON escaping, and Go-compatible float formatting. */
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
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

/* Significant digits of a decimal string (no exponent), trailing zeros of the
 * fraction and leading zeros not counted. */
static int sig_digits(const char *s)
{
    int n = 0, pending_zeros = 0;
    bool started = false;
    for (; *s; s++) {
        if (*s < '0' || *s > '9')
            continue;
        if (!started && *s == '0')
            continue;
        started = true;
        if (*s == '0') {
            pending_zeros++;
        } else {
            n += pending_zeros + 1;
            pending_zeros = 0;
        }
    }
    /* zeros before the decimal point are significant only as place holders:
     * "1000" has one significant digit, like Go's shortest form */
    return n ? n : 1;
}

/* The shortest precision found by trying every one, as the reference. */
static int shortest_digits(double v)
{
    char tmp[48];
    for (int p = 1; p <= 17; p++) {
        snprintf(tmp, sizeof tmp, "%.*e", p - 1, v);
        if (strtod(tmp, NULL) == v)
            return p;
    }
    return 17;
}

/* buf_prom_float's three-try path for normal doubles (and the full search for
 * subnormals) must give a decimal that parses back to v with exactly the
 * shortest number of significant digits. */
static void test_prom_float_shortest(void)
{
    buf b;
    buf_init(&b, 512);
    int bad = 0;
    uint64_t r = 0x9E3779B97F4A7C15ull;
    for (int i = 0; i < 200000; i++) {
        r ^= r << 13;
        r ^= r >> 7;
        r ^= r << 17;
        double v;
        uint64_t bits = i % 4 == 0 ? r >> 12 : r; /* every fourth a subnormal */
        memcpy(&v, &bits, sizeof v);
        if (i % 3 == 1)
            v = (double)(r % 100000) / 60.0; /* rate-like */
        if (!isfinite(v) || v == 0)
            continue;
        buf_reset(&b);
        if (buf_prom_float(&b, v) != SONDE_OK || strtod(b.data, NULL) != v ||
            sig_digits(b.data) != shortest_digits(v)) {
            if (bad++ < 5)
                fprintf(stderr, "prom_float(%a) = %s, want %d digits\n", v, b.data,
                        shortest_digits(v));
        }
    }
    CHECK_EQ_INT(bad, 0);
    buf_fini(&b);
}

int main(void)
{
    RUN(test_caps);
    RUN(test_json);
    RUN(test_prom_float);
    RUN(test_prom_float_shortest);
    return TEST_DONE();
}
