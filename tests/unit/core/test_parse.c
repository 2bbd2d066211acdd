/* test_parse.c - checked parsers: integers, floats, durations, sizes, times. */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "core/parse.h"
#include "test.h"

#define S(x) x, strlen(x)

static void test_ints(void)
{
    uint64_t u = 7;
    int64_t i = 7;
    CHECK(parse_u64(S("0"), &u) && u == 0);
    CHECK(parse_u64(S("18446744073709551615"), &u) && u == UINT64_MAX);
    u = 7;
    CHECK(!parse_u64(S("18446744073709551616"), &u) && u == 7); /* overflow, untouched */
    CHECK(!parse_u64(S(""), &u));
    CHECK(!parse_u64(S("12a"), &u));
    CHECK(!parse_u64(S(" 1"), &u));
    CHECK(!parse_u64(S("-1"), &u));
    CHECK(parse_u64("123456", 3, &u) && u == 123); /* explicit length */
    CHECK(parse_i64(S("-9223372036854775808"), &i) && i == INT64_MIN);
    CHECK(parse_i64(S("9223372036854775807"), &i) && i == INT64_MAX);
    CHECK(!parse_i64(S("9223372036854775808"), &i));
    CHECK(!parse_i64(S("-9223372036854775809"), &i));
    CHECK(!parse_i64(S("-"), &i));
    CHECK(!parse_i64(S("--1"), &i));
    CHECK(parse_i64(S("-42"), &i) && i == -42);
}

static void test_floats(void)
{
    double d;
    CHECK(parse_f64(S("1.5"), &d) && d == 1.5);
    CHECK(parse_f64(S("-2e3"), &d) && d == -2000);
    CHECK(parse_f64(S("0x1p-2"), &d) && d == 0.25);
    CHECK(parse_f64(S("Inf"), &d) && isinf(d) && d > 0);
    CHECK(parse_f64(S("+Inf"), &d) && isinf(d) && d > 0);
    CHECK(parse_f64(S("-inf"), &d) && isinf(d) && d < 0);
    CHECK(parse_f64(S("NaN"), &d) && isnan(d));
    CHECK(parse_f64(S("nan"), &d) && isnan(d));
    CHECK(!parse_f64(S("nan(123)"), &d));
    CHECK(!parse_f64(S(" 1"), &d));
    CHECK(!parse_f64(S("1 "), &d));
    CHECK(!parse_f64(S("1.5x"), &d));
    CHECK(!parse_f64(S(""), &d));
    CHECK(!parse_f64(S("."), &d));
    CHECK(parse_f64("1.25garbage", 4, &d) && d == 1.25);
}

static void test_durations(void)
{
    int64_t ms = 0;
    CHECK(parse_duration_ms(S("0"), &ms) && ms == 0);
    CHECK(parse_duration_ms(S("1h30m"), &ms) && ms == 5400000);
    CHECK(parse_duration_ms(S("90s"), &ms) && ms == 90000);
    CHECK(parse_duration_ms(S("500ms"), &ms) && ms == 500);
    CHECK(parse_duration_ms(S("1m500ms"), &ms) && ms == 60500);
    CHECK(parse_duration_ms(S("1y2w3d"), &ms) && ms == (365LL + 14 + 3) * 86400000);
    CHECK(parse_duration_ms(S("5m"), &ms) && ms == 300000);
    CHECK(!parse_duration_ms(S(""), &ms));
    CHECK(!parse_duration_ms(S("1"), &ms));
    CHECK(!parse_duration_ms(S("h"), &ms));
    CHECK(!parse_duration_ms(S("30m1h"), &ms)); /* largest first */
    CHECK(!parse_duration_ms(S("1h1h"), &ms));
    CHECK(!parse_duration_ms(S("1.5h"), &ms));
    CHECK(!parse_duration_ms(S("-1s"), &ms));
    CHECK(!parse_duration_ms(S("1x"), &ms));
    CHECK(!parse_duration_ms(S("99999999999999999999s"), &ms)); /* overflow */
    CHECK(!parse_duration_ms(S("300000000y"), &ms));             /* overflow */
}

static void test_bytes(void)
{
    uint64_t b;
    CHECK(parse_bytes(S("1048576"), &b) && b == 1048576);
    CHECK(parse_bytes(S("64KiB"), &b) && b == 65536);
    CHECK(parse_bytes(S("16MiB"), &b) && b == 16777216);
    CHECK(parse_bytes(S("1GiB"), &b) && b == 1073741824);
    CHECK(parse_bytes(S("10KB"), &b) && b == 10000);
    CHECK(parse_bytes(S("10k"), &b) && b == 10000);
    CHECK(!parse_bytes(S("10XB"), &b));
    CHECK(!parse_bytes(S("KiB"), &b));
    CHECK(!parse_bytes(S("99999999999999999TiB"), &b));
}

static void test_times(void)
{
    int64_t t;
    CHECK(parse_time_ms(S("1700000000"), &t) && t == 1700000000000);
    CHECK(parse_time_ms(S("1700000000.5"), &t) && t == 1700000000500);
    CHECK(parse_time_ms(S("1700000000.123"), &t) && t == 1700000000123);
    CHECK(parse_time_ms(S("-1.5"), &t) && t == -1500);
    CHECK(parse_time_ms(S("1970-01-01T00:00:00Z"), &t) && t == 0);
    CHECK(parse_time_ms(S("2026-11-23T11:35:20.123Z"), &t) && t == 1795433720123);
    CHECK(parse_time_ms(S("2026-11-23T12:35:20.123+01:00"), &t) && t == 1795433720123);
    CHECK(parse_time_ms(S("2026-11-23T10:35:20.1234567-01:00"), &t) && t == 1795433720123);
    CHECK(parse_time_ms(S("2024-02-29T00:00:00Z"), &t));
    CHECK(!parse_time_ms(S("2023-02-29T00:00:00Z"), &t));
    CHECK(!parse_time_ms(S("2026-11-23T11:35:20"), &t)); /* no zone */
    CHECK(!parse_time_ms(S("2026-13-01T00:00:00Z"), &t));
    CHECK(!parse_time_ms(S("2026-11-23T11:35:20.Z"), &t));
    CHECK(!parse_time_ms(S("NaN"), &t));
    CHECK(!parse_time_ms(S("Inf"), &t));
    CHECK(!parse_time_ms(S("1e300"), &t));
    CHECK(!parse_time_ms(S("yesterday"), &t));
}

int main(void)
{
    RUN(test_ints);
    RUN(test_floats);
    RUN(test_durations);
    RUN(test_bytes);
    RUN(test_times);
    return TEST_DONE();
}
