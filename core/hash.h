/*
 * hash.h - xxhash (XXH3) wrappers. The one place that includes xxhash.h.
 */
#ifndef SONDE_CORE_HASH_H
#define SONDE_CORE_HASH_H

#include <stddef.h>
#include <stdint.h>

typedef struct hash128 {
    uint64_t lo;
    uint64_t hi;
} hash128;

uint64_t hash64(const void *p, size_t n);
uint64_t hash64_seeded(const void *p, size_t n, uint64_t seed);
hash128 hash128_seeded(const void *p, size_t n, uint64_t seed);

/* Streaming XXH3-64: init, update any number of times, final. The result equals
 * hash64() of the concatenated bytes. Lives on the stack; no allocation. */
typedef struct hash64_stream {
    _Alignas(64) unsigned char opaque[640];
} hash64_stream;
void hash64_stream_init(hash64_stream *s);
void hash64_stream_update(hash64_stream *s, const void *p, size_t n);
uint64_t hash64_stream_final(const hash64_stream *s);

#endif
