/* test_content.c - bounded gzip/zstd decoding (round trips, bombs, corrupt
 * and truncated bodies), gRPC message framing, and export responses in
 * protobuf and JSON. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>
#include <zstd.h>

#include "ingest/otlp/otlp.h"
#include "otlp_logs_service.pb-c.h"
#include "otlp_metrics_service.pb-c.h"
#include "otlp_trace_service.pb-c.h"
#include "test.h"

static char err[512];

static uint8_t *gzip_of(const uint8_t *in, size_t n, size_t *out_n)
{
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    deflateInit2(&zs, 9, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY);
    size_t cap = deflateBound(&zs, (uLong)n) + 32;
    uint8_t *out = malloc(cap);
    zs.next_in = (Bytef *)in;
    zs.avail_in = (uInt)n;
    zs.next_out = out;
    zs.avail_out = (uInt)cap;
    deflate(&zs, Z_FINISH);
    *out_n = zs.total_out;
    deflateEnd(&zs);
    return out;
}

static uint8_t *zstd_of(const uint8_t *in, size_t n, size_t *out_n)
{
    size_t cap = ZSTD_compressBound(n);
    uint8_t *out = malloc(cap);
    *out_n = ZSTD_compress(out, cap, in, n, 3);
    return out;
}

static uint8_t *pattern(size_t n)
{
    uint8_t *p = malloc(n ? n : 1);
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)(i * 7 + i / 1000);
    return p;
}

static void test_identity(void)
{
    arena *a = arena_create(4096, 1 << 20);
    const uint8_t *out;
    size_t n;
    static const uint8_t body[] = "hello";
    CHECK_EQ_INT(otlp_content_decode(a, NULL, body, 5, 100, &out, &n, err, sizeof err), SONDE_OK);
    CHECK(out == body && n == 5);
    CHECK_EQ_INT(otlp_content_decode(a, "identity", body, 5, 100, &out, &n, err, sizeof err),
                 SONDE_OK);
    CHECK(out == body);
    CHECK_EQ_INT(otlp_content_decode(a, "br", body, 5, 100, &out, &n, err, sizeof err),
                 SONDE_ERR_UNSUPPORTED);
    CHECK(strstr(err, "br") != NULL);
    CHECK_EQ_INT(otlp_content_decode(a, "identity", body, 5, 4, &out, &n, err, sizeof err),
                 SONDE_ERR_LIMIT);
    arena_destroy(a);
}

static void test_round_trips(void)
{
    static const size_t sizes[] = {0, 1, 4096, 4097, 300000};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        size_t n = sizes[i];
        uint8_t *raw = pattern(n);
        for (int z = 0; z < 2; z++) {
            size_t cn;
            uint8_t *c = z ? zstd_of(raw, n, &cn) : gzip_of(raw, n, &cn);
            arena *a = arena_create(4096, 4 << 20);
            const uint8_t *out;
            size_t on;
            const char *enc = z ? "zstd" : "gzip";
            CHECK_EQ_INT(otlp_content_decode(a, enc, c, cn, n, &out, &on, err, sizeof err),
                         SONDE_OK);
            CHECK(on == n && (n == 0 || memcmp(out, raw, n) == 0));
            /* one byte less than the body is a limit error */
            if (n > 0) {
                CHECK_EQ_INT(otlp_content_decode(a, enc, c, cn, n - 1, &out, &on, err, sizeof err),
                             SONDE_ERR_LIMIT);
                CHECK(strstr(err, "max_decoded") != NULL);
                /* truncated */
                CHECK_EQ_INT(otlp_content_decode(a, enc, c, cn - 1, n, &out, &on, err, sizeof err),
                             SONDE_ERR_INVALID);
            }
            free(c);
            arena_destroy(a);
        }
        free(raw);
    }
}

static void test_bombs(void)
{
    /* 64 MiB of zeros compresses to ~64 KiB (gzip) / a few KiB (zstd) */
    size_t n = (size_t)64 << 20;
    uint8_t *zeros = calloc(1, n);
    for (int z = 0; z < 2; z++) {
        size_t cn;
        uint8_t *c = z ? zstd_of(zeros, n, &cn) : gzip_of(zeros, n, &cn);
        arena *a = arena_create(4096, 8 << 20);
        const uint8_t *out;
        size_t on;
        CHECK_EQ_INT(
            otlp_content_decode(a, z ? "zstd" : "gzip", c, cn, 1 << 20, &out, &on, err, sizeof err),
            SONDE_ERR_LIMIT);
        CHECK(strstr(err, "1048576") != NULL);
        CHECK(arena_used(a) <= (4u << 20)); /* never near the 64 MiB */
        free(c);
        arena_destroy(a);
    }
    free(zeros);

    /* a zstd frame header that claims a huge size, with little behind it */
    arena *a = arena_create(4096, 8 << 20);
    uint8_t small[100];
    memset(small, 'a', sizeof small);
    size_t cn;
    uint8_t *c = zstd_of(small, sizeof small, &cn);
    const uint8_t *out;
    size_t on;
    CHECK_EQ_INT(otlp_content_decode(a, "zstd", c, cn, 1 << 20, &out, &on, err, sizeof err),
                 SONDE_OK);
    CHECK_EQ_INT(on, 100);
    free(c);
    static const uint8_t junk[] = {0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3, 0xff, 0xff, 0xff};
    CHECK_EQ_INT(otlp_content_decode(a, "gzip", junk, sizeof junk, 100, &out, &on, err, sizeof err),
                 SONDE_ERR_INVALID);
    CHECK_EQ_INT(otlp_content_decode(a, "zstd", junk, sizeof junk, 100, &out, &on, err, sizeof err),
                 SONDE_ERR_INVALID);
    arena_destroy(a);
}

/* zstd frame headers that lie about the content size: the decoder never
 * allocates what they claim */
static void test_zstd_lying_header(void)
{
    arena *a = arena_create(4096, 8 << 20);
    const uint8_t *out;
    size_t on;
    /* single-segment frame: the window is the claimed 4 GiB content size */
    static const uint8_t huge_window[] = {0x28, 0xb5, 0x2f, 0xfd, 0xa0, 0xff, 0xff, 0xff, 0xff,
                                          0x29, 0x00, 0x00, 'h',  'e',  'l',  'l',  'o'};
    CHECK_EQ_INT(otlp_content_decode(a, "zstd", huge_window, sizeof huge_window, 1 << 20, &out, &on,
                                     err, sizeof err),
                 SONDE_ERR_LIMIT);
    CHECK(strstr(err, "window") != NULL);
    /* 1 KiB window, 4 GiB claimed, 5 bytes present */
    static const uint8_t lying[] = {0x28, 0xb5, 0x2f, 0xfd, 0x80, 0x00, 0xff, 0xff, 0xff,
                                    0xff, 0x29, 0x00, 0x00, 'h',  'e',  'l',  'l',  'o'};
    CHECK_EQ_INT(
        otlp_content_decode(a, "zstd", lying, sizeof lying, 1 << 20, &out, &on, err, sizeof err),
        SONDE_ERR_INVALID);
    /* the same with the true size decodes */
    static const uint8_t honest[] = {0x28, 0xb5, 0x2f, 0xfd, 0x20, 0x05, 0x29,
                                     0x00, 0x00, 'h',  'e',  'l',  'l',  'o'};
    CHECK_EQ_INT(
        otlp_content_decode(a, "zstd", honest, sizeof honest, 1 << 20, &out, &on, err, sizeof err),
        SONDE_OK);
    CHECK(on == 5 && memcmp(out, "hello", 5) == 0);
    CHECK(arena_used(a) < (64u << 10));
    arena_destroy(a);
}

static void test_gzip_members(void)
{
    uint8_t *p1, *p2;
    size_t n1, n2;
    p1 = gzip_of((const uint8_t *)"abc", 3, &n1);
    p2 = gzip_of((const uint8_t *)"def", 3, &n2);
    uint8_t *both = malloc(n1 + n2);
    memcpy(both, p1, n1);
    memcpy(both + n1, p2, n2);
    arena *a = arena_create(4096, 1 << 20);
    const uint8_t *out;
    size_t on;
    CHECK_EQ_INT(otlp_content_decode(a, "gzip", both, n1 + n2, 100, &out, &on, err, sizeof err),
                 SONDE_OK);
    CHECK(on == 6 && memcmp(out, "abcdef", 6) == 0);
    free(p1);
    free(p2);
    free(both);
    arena_destroy(a);
}

static void test_grpc_framing(void)
{
    bool comp;
    const uint8_t *msg;
    size_t n;
    static const uint8_t exact[] = {0, 0, 0, 0, 3, 'a', 'b', 'c'};
    CHECK_EQ_INT(otlp_grpc_frame_parse(exact, sizeof exact, 3, &comp, &msg, &n, err, sizeof err),
                 SONDE_OK);
    CHECK(!comp && n == 3 && msg == exact + 5);
    static const uint8_t zc[] = {1, 0, 0, 0, 0};
    CHECK_EQ_INT(otlp_grpc_frame_parse(zc, sizeof zc, 0, &comp, &msg, &n, err, sizeof err),
                 SONDE_OK);
    CHECK(comp && n == 0);
    /* short: fewer than 5 bytes, or fewer than the prefix says */
    CHECK_EQ_INT(otlp_grpc_frame_parse(exact, 4, 100, &comp, &msg, &n, err, sizeof err),
                 SONDE_ERR_INVALID);
    CHECK_EQ_INT(otlp_grpc_frame_parse(exact, 7, 100, &comp, &msg, &n, err, sizeof err),
                 SONDE_ERR_INVALID);
    CHECK(strstr(err, "says 3 bytes, 2 present") != NULL);
    /* trailing bytes after the message */
    static const uint8_t extra[] = {0, 0, 0, 0, 1, 'a', 'b'};
    CHECK_EQ_INT(otlp_grpc_frame_parse(extra, sizeof extra, 100, &comp, &msg, &n, err, sizeof err),
                 SONDE_ERR_INVALID);
    /* oversize: the length is checked first, even with nothing behind it */
    static const uint8_t big[] = {0, 0xff, 0xff, 0xff, 0xff};
    CHECK_EQ_INT(otlp_grpc_frame_parse(big, sizeof big, 4 << 20, &comp, &msg, &n, err, sizeof err),
                 SONDE_ERR_LIMIT);
    CHECK(strstr(err, "4294967295") != NULL);
    CHECK_EQ_INT(otlp_grpc_frame_parse(exact, sizeof exact, 2, &comp, &msg, &n, err, sizeof err),
                 SONDE_ERR_LIMIT);
    static const uint8_t flag[] = {2, 0, 0, 0, 0};
    CHECK_EQ_INT(otlp_grpc_frame_parse(flag, sizeof flag, 10, &comp, &msg, &n, err, sizeof err),
                 SONDE_ERR_INVALID);

    buf b;
    buf_init(&b, 1 << 20);
    CHECK_EQ_INT(otlp_grpc_frame_append(&b, (const uint8_t *)"abc", 3), SONDE_OK);
    CHECK(b.len == 8 && memcmp(b.data, exact, 8) == 0);
    CHECK_EQ_INT(otlp_grpc_frame_append(&b, NULL, 0), SONDE_OK);
    CHECK_EQ_INT(b.len, 13);
    buf_fini(&b);
    buf_init(&b, 6);
    CHECK_EQ_INT(otlp_grpc_frame_append(&b, (const uint8_t *)"abc", 3), SONDE_ERR_LIMIT);
    CHECK_EQ_INT(b.len, 0);
    buf_fini(&b);
}

static void test_responses(void)
{
    buf b;
    buf_init(&b, 1 << 16);
    CHECK_EQ_INT(otlp_response_encode(&b, OTLP_SIGNAL_TRACES, OTLP_FORMAT_JSON, 0, NULL), SONDE_OK);
    CHECK_EQ_STR(b.data, "{}");
    buf_reset(&b);
    CHECK_EQ_INT(otlp_response_encode(&b, OTLP_SIGNAL_TRACES, OTLP_FORMAT_JSON, 3, "bad \"ids\""),
                 SONDE_OK);
    CHECK_EQ_STR(
        b.data,
        "{\"partialSuccess\":{\"rejectedSpans\":\"3\",\"errorMessage\":\"bad \\\"ids\\\"\"}}");
    buf_reset(&b);
    CHECK_EQ_INT(otlp_response_encode(&b, OTLP_SIGNAL_METRICS, OTLP_FORMAT_JSON, 9000000000, "x"),
                 SONDE_OK);
    CHECK_EQ_STR(
        b.data,
        "{\"partialSuccess\":{\"rejectedDataPoints\":\"9000000000\",\"errorMessage\":\"x\"}}");
    buf_reset(&b);
    CHECK_EQ_INT(otlp_response_encode(&b, OTLP_SIGNAL_LOGS, OTLP_FORMAT_JSON, 1, NULL), SONDE_OK);
    CHECK_EQ_STR(b.data, "{\"partialSuccess\":{\"rejectedLogRecords\":\"1\"}}");
    buf_reset(&b);
    CHECK_EQ_INT(otlp_response_encode(&b, OTLP_SIGNAL_LOGS, OTLP_FORMAT_JSON, 0, "warning"),
                 SONDE_OK);
    CHECK_EQ_STR(b.data, "{\"partialSuccess\":{\"errorMessage\":\"warning\"}}");

    /* protobuf: full success is the empty message */
    buf_reset(&b);
    CHECK_EQ_INT(otlp_response_encode(&b, OTLP_SIGNAL_METRICS, OTLP_FORMAT_PROTOBUF, 0, NULL),
                 SONDE_OK);
    CHECK_EQ_INT(b.len, 0);
    for (int sig = 0; sig < 3; sig++) {
        buf_reset(&b);
        CHECK_EQ_INT(otlp_response_encode(&b, (otlp_signal)sig, OTLP_FORMAT_PROTOBUF, 7, "why"),
                     SONDE_OK);
        /* field 1 (partial_success) { field 1 varint 7, field 2 "why" } */
        static const uint8_t want[] = {0x0a, 0x07, 0x08, 0x07, 0x12, 0x03, 'w', 'h', 'y'};
        CHECK(b.len == sizeof want && memcmp(b.data, want, sizeof want) == 0);
    }
    buf_reset(&b);
    CHECK_EQ_INT(otlp_response_encode(&b, OTLP_SIGNAL_LOGS, OTLP_FORMAT_PROTOBUF, 2, "m"),
                 SONDE_OK);
    Opentelemetry__Proto__Collector__Logs__V1__ExportLogsServiceResponse *r =
        opentelemetry__proto__collector__logs__v1__export_logs_service_response__unpack(
            NULL, b.len, (const uint8_t *)b.data);
    CHECK(r && r->partial_success && r->partial_success->rejected_log_records == 2);
    if (r)
        opentelemetry__proto__collector__logs__v1__export_logs_service_response__free_unpacked(
            r, NULL);
    buf_fini(&b);
}

int main(void)
{
    RUN(test_identity);
    RUN(test_round_trips);
    RUN(test_bombs);
    RUN(test_zstd_lying_header);
    RUN(test_gzip_members);
    RUN(test_grpc_framing);
    RUN(test_responses);
    return TEST_DONE();
}
