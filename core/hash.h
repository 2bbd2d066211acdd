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

#endif
