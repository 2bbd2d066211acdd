/* test_snappy.c - snappy bounds: the declared size is capped before any
 * allocation, corrupt and truncated input fail cleanly. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "remote_write/remote_write.h"
#include "rw_testutil.h"
#include "test.h"

static void test_roundtrip(void)
{
    const char text[] = "hello hello hello hello hello remote write";
    size_t clen;
    uint8_t *c = rwt_snappy((const uint8_t *)text, sizeof text, &clen);
    arena *a = arena_create(4096, 1 << 20);
    uint8_t *out;
    size_t outlen;
    char err[256];
    CHECK_EQ_INT(rw_snappy_decode(a, c, clen, 1024, &out, &outlen, err, sizeof err), SONDE_OK);
    CHECK_EQ_INT(outlen, sizeof text);
    CHECK(memcmp(out, text, sizeof text) == 0);
    /* exactly at the cap is fine, one byte less is a limit error */
    CHECK_EQ_INT(rw_snappy_decode(a, c, clen, sizeof text, &out, &outlen, err, sizeof err),
                 SONDE_OK);
    CHECK_EQ_INT(rw_snappy_decode(a, c, clen, sizeof text - 1, &out, &outlen, err, sizeof err),
                 SONDE_ERR_LIMIT);
    arena_destroy(a);
    free(c);
}

static void test_huge_declared(void)
{
    /* varint 0xFFFFFFFF (4 GiB - 1) followed by junk: must be refused from the
     * header alone, with an arena far smaller than the claim. */
    const uint8_t body[] = {0xff, 0xff, 0xff, 0xff, 0x0f, 0x00, 0x41, 0x41};
    arena *a = arena_create(1024, 4096);
    uint8_t *out = NULL;
    size_t outlen = 0;
    char err[256];
    CHECK_EQ_INT(rw_snappy_decode(a, body, sizeof body, 64u << 20, &out, &outlen, err, sizeof err),
                 SONDE_ERR_LIMIT);
    CHECK(strstr(err, "4294967295") != NULL); /* says the declared size */
    CHECK(strstr(err, "67108864") != NULL);   /* and the limit */
    CHECK_EQ_INT(arena_used(a), 0);           /* nothing allocated */
    /* within max_out but beyond the arena cap: NOMEM, not a crash */
    const uint8_t mid[] = {0x80, 0x80, 0x04, 0x00}; /* declares 65536 */
    CHECK_EQ_INT(rw_snappy_decode(a, mid, sizeof mid, 1 << 20, &out, &outlen, err, sizeof err),
                 SONDE_ERR_NOMEM);
    arena_destroy(a);
}

static void test_corrupt(void)
{
    const char text[] = "abcdefghijabcdefghijabcdefghijabcdefghij0123456789";
    size_t clen;
    uint8_t *c = rwt_snappy((const uint8_t *)text, sizeof text, &clen);
    arena *a = arena_create(4096, 1 << 20);
    uint8_t *out;
    size_t outlen;
    char err[256];
    for (size_t cut = 1; cut < clen; cut++) { /* every truncation */
        sonde_status st = rw_snappy_decode(a, c, cut, 1 << 20, &out, &outlen, err, sizeof err);
        CHECK(st == SONDE_ERR_INVALID);
        arena_reset(a);
    }
    CHECK_EQ_INT(rw_snappy_decode(a, c, 0, 1 << 20, &out, &outlen, err, sizeof err),
                 SONDE_ERR_INVALID);
    const uint8_t badvarint[] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    CHECK_EQ_INT(
        rw_snappy_decode(a, badvarint, sizeof badvarint, 1 << 20, &out, &outlen, err, sizeof err),
        SONDE_ERR_INVALID);
    const uint8_t garbage[] = {0x10, 0xfe, 0xfe, 0xfe, 0xfe};
    CHECK_EQ_INT(
        rw_snappy_decode(a, garbage, sizeof garbage, 1 << 20, &out, &outlen, err, sizeof err),
        SONDE_ERR_INVALID);
    CHECK(strstr(err, "snappy: corrupt input") != NULL);
    arena_destroy(a);
    free(c);
}

int main(void)
{
    RUN(test_roundtrip);
    RUN(test_huge_declared);
    RUN(test_corrupt);
    return TEST_DONE();
}
