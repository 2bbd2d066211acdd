/*
 * keys.c - the RocksDB key encoding of storage/.
 *
 * Every data key starts with the tenant followed by '\0' (tenant ids never
 * contain '\0', so one tenant's keys form one contiguous, prefix-bounded
 * range). Integers are big-endian so that bytewise order is numeric order;
 * timestamps have their sign bit flipped so negative times sort before
 * positive ones. Pure functions, any thread.
 */
#include <string.h>

#include "storage_internal.h"

void storage_key_put_be64(uint8_t *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--) {
        p[i] = (uint8_t)v;
        v >>= 8;
    }
}

uint64_t storage_key_get_be64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = (v << 8) | p[i];
    return v;
}

uint64_t storage_key_ts_encode(int64_t ts)
{
    return (uint64_t)ts ^ 0x8000000000000000ULL;
}

int64_t storage_key_ts_decode(uint64_t u)
{
    return (int64_t)(u ^ 0x8000000000000000ULL);
}

size_t storage_key_series(uint8_t *out, const char *tenant, size_t tlen, uint64_t id)
{
    memcpy(out, tenant, tlen);
    out[tlen] = 0;
    storage_key_put_be64(out + tlen + 1, id);
    return tlen + 9;
}

size_t storage_key_chunk(uint8_t *out, const char *tenant, size_t tlen, uint64_t id, int64_t ts)
{
    size_t n = storage_key_series(out, tenant, tlen, id);
    storage_key_put_be64(out + n, storage_key_ts_encode(ts));
    return n + 8;
}

bool storage_key_chunk_parse(const uint8_t *k, size_t n, size_t *tlen, uint64_t *id, int64_t *ts)
{
    if (n < 18)
        return false;
    size_t t = n - 17;
    if (k[t] != 0 || memchr(k, 0, t) != NULL)
        return false;
    *tlen = t;
    *id = storage_key_get_be64(k + t + 1);
    *ts = storage_key_ts_decode(storage_key_get_be64(k + t + 9));
    return true;
}
