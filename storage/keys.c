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

/* ---- span and log rows ---- */

void storage_key_put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

uint32_t storage_key_get_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

uint32_t storage_key_day(int64_t ns, int64_t commit_ms)
{
    if (ns > 0)
        return (uint32_t)(ns / STORAGE_DAY_NS);
    /* no usable time: the row lives in the day it was committed */
    return commit_ms > 0 ? (uint32_t)(commit_ms / (STORAGE_DAY_NS / 1000000)) : 0;
}

static size_t key_tenant(uint8_t *out, const char *tenant, size_t tlen)
{
    memcpy(out, tenant, tlen);
    out[tlen] = 0;
    return tlen + 1;
}

size_t storage_key_span(uint8_t *out, const char *tenant, size_t tlen, uint32_t day,
                        const uint8_t *trace_id, const uint8_t *span_id)
{
    size_t n = key_tenant(out, tenant, tlen);
    storage_key_put_be32(out + n, day);
    memcpy(out + n + 4, trace_id, 16);
    memcpy(out + n + 20, span_id, 8);
    return n + 28;
}

size_t storage_key_trace_index(uint8_t *out, const char *tenant, size_t tlen,
                               const uint8_t *trace_id, uint32_t day)
{
    size_t n = key_tenant(out, tenant, tlen);
    memcpy(out + n, trace_id, 16);
    storage_key_put_be32(out + n + 16, day);
    return n + 20;
}

size_t storage_key_log(uint8_t *out, const char *tenant, size_t tlen, uint32_t day,
                       uint64_t stream_id, int64_t ts, const uint8_t *seq)
{
    size_t n = key_tenant(out, tenant, tlen);
    storage_key_put_be32(out + n, day);
    storage_key_put_be64(out + n + 4, stream_id);
    storage_key_put_be64(out + n + 12, storage_key_ts_encode(ts));
    memcpy(out + n + 20, seq, STORAGE_LOG_SEQ_LEN);
    return n + 20 + STORAGE_LOG_SEQ_LEN;
}

size_t storage_key_template(uint8_t *out, const char *tenant, size_t tlen, uint64_t id,
                            uint32_t version)
{
    size_t n = key_tenant(out, tenant, tlen);
    storage_key_put_be64(out + n, id);
    storage_key_put_be32(out + n + 8, version);
    return n + 12;
}
