/*
 * snappy.c - snappy block decompression into a request arena, with the
 * declared size checked against a cap before anything is allocated.
 *
 * A snappy block starts with its uncompressed length as a varint, so a 10-byte
 * body can claim 4 GiB. We read that claim with snappy_uncompressed_length(),
 * refuse it when it exceeds max_out, and only then allocate exactly that many
 * bytes; snappy_uncompress() never writes past the declared length and fails
 * on input that does not produce it.
 *
 * Threads: any (uses only its arguments). Ownership: *out lives in the arena.
 */
#include <snappy-c.h>
#include <stdio.h>

#include "remote_write.h"

sonde_status rw_snappy_decode(arena *a, const uint8_t *in, size_t n, size_t max_out,
                              uint8_t **out, size_t *out_len, char *err, size_t errlen)
{
    size_t declared = 0;
    if (n == 0) {
        snprintf(err, errlen, "snappy: empty body");
        return SONDE_ERR_INVALID;
    }
    if (snappy_uncompressed_length((const char *)in, n, &declared) != SNAPPY_OK) {
        snprintf(err, errlen, "snappy: corrupt input (bad length header)");
        return SONDE_ERR_INVALID;
    }
    if (declared > max_out) {
        snprintf(err, errlen, "snappy: declared decoded size %zu bytes exceeds the limit of %zu bytes",
                 declared, max_out);
        return SONDE_ERR_LIMIT;
    }
    /* +1 so that a zero-length result still has a distinct, valid pointer. */
    uint8_t *buf = arena_alloc(a, declared + 1);
    if (!buf) {
        snprintf(err, errlen, "snappy: decoded size %zu bytes exceeds the request memory cap",
                 declared);
        return SONDE_ERR_NOMEM;
    }
    size_t got = declared;
    if (snappy_uncompress((const char *)in, n, (char *)buf, &got) != SNAPPY_OK || got != declared) {
        snprintf(err, errlen, "snappy: corrupt input");
        return SONDE_ERR_INVALID;
    }
    *out = buf;
    *out_len = got;
    return SONDE_OK;
}
