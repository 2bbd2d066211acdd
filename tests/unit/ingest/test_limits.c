/*
 * test_limits.c - per-tenant log ingestion limits (ingest/limits.c): the
 * token bucket refills at the rate and caps at the burst, a push larger than
 * the burst is admitted only on a full bucket, tenants are independent, and
 * the active-stream limit admits known streams, refuses new ones over the
 * limit, and forgets streams idle longer than the idle time.
 */
#include "../test.h"
#include "ingest/ingest_internal.h"

static void test_rate(void)
{
    ingest_limits *l = ingest_limits_create(1000, 2000, 0, 1000);
    CHECK(l != NULL);
    int64_t t = 1000000;
    CHECK(ingest_limits_rate_take(l, "a", 1500, t)); /* burst: 2000 */
    CHECK(!ingest_limits_rate_take(l, "a", 600, t)); /* 500 left */
    CHECK(ingest_limits_rate_take(l, "a", 500, t));
    CHECK(!ingest_limits_rate_take(l, "a", 1, t));
    CHECK(ingest_limits_rate_take(l, "b", 2000, t)); /* another tenant */
    CHECK(ingest_limits_rate_take(l, "a", 1000, t + 1000)); /* refilled 1 s worth */
    CHECK(!ingest_limits_rate_take(l, "a", 10, t + 1000));
    CHECK(!ingest_limits_rate_take(l, "a", 5000, t + 1500)); /* > burst, bucket not full */
    CHECK(ingest_limits_rate_take(l, "a", 5000, t + 10000)); /* full bucket admits it */
    CHECK(!ingest_limits_rate_take(l, "a", 1, t + 10000)); /* ... and is in debt */
    ingest_limits_destroy(l);
    CHECK(ingest_limits_rate_take(NULL, "a", 1u << 30, t)); /* no limiter: no limit */
}

static void test_streams(void)
{
    ingest_limits *l = ingest_limits_create(0, 0, 3, 60000);
    int64_t t = 5000000;
    CHECK(ingest_limits_stream_admit(l, "a", 1, t));
    CHECK(ingest_limits_stream_admit(l, "a", 2, t));
    CHECK(ingest_limits_stream_admit(l, "a", 3, t));
    CHECK(!ingest_limits_stream_admit(l, "a", 4, t));     /* over the limit */
    CHECK(ingest_limits_stream_admit(l, "a", 2, t + 10)); /* known: still fine */
    CHECK(ingest_limits_stream_admit(l, "b", 4, t));      /* other tenant */
    /* streams 1 and 3 go idle; 2 was pushed at t+10 and again now */
    CHECK(ingest_limits_stream_admit(l, "a", 2, t + 60005));
    CHECK(ingest_limits_stream_admit(l, "a", 4, t + 60005));
    CHECK(ingest_limits_stream_admit(l, "a", 5, t + 60005));
    CHECK(!ingest_limits_stream_admit(l, "a", 6, t + 60005));
    /* many streams under a large limit: the set grows */
    ingest_limits *big = ingest_limits_create(0, 0, 10000, 60000);
    for (uint64_t h = 0; h < 10000; h++)
        CHECK(ingest_limits_stream_admit(big, "t", h * 0x9e3779b97f4a7c15ULL, t));
    CHECK(!ingest_limits_stream_admit(big, "t", 12345, t));
    CHECK(ingest_limits_stream_admit(big, "t", 0, t)); /* hash 0 is stream 0, known */
    ingest_limits_destroy(big);
    ingest_limits_destroy(l);
}

int main(void)
{
    RUN(test_rate);
    RUN(test_streams);
    return TEST_DONE();
}
