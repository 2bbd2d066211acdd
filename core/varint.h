/*
 * varint.h - unsigned LEB128 varints (protobuf's base-128 varints), the one encoder and
 * decoder that sonde's own binary formats share (log chunks, stored-row headers, log-count
 * payloads, protobuf field walking).
 *
 * varint_put writes at most VARINT_MAX bytes. varint_get reads one from [*p, end), advancing
 * *p; false on a truncated or over-long (more than 10 bytes) input, *p then unspecified.
 */
#ifndef SONDE_CORE_VARINT_H
#define SONDE_CORE_VARINT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define VARINT_MAX 10

static inline size_t varint_put(uint8_t *out, uint64_t v)
{
    size_t n = 0;
    while (v >= 0x80) {
        out[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    out[n++] = (uint8_t)v;
    return n;
}

static inline bool varint_get(const uint8_t **p, const uint8_t *end, uint64_t *v)
{
    uint64_t x = 0;
    for (unsigned sh = 0; sh < 64 && *p < end; sh += 7) {
        uint8_t c = *(*p)++;
        x |= (uint64_t)(c & 0x7f) << sh;
        if (!(c & 0x80)) {
            *v = x;
            return true;
        }
    }
    return false;
}

#endif
