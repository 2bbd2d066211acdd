/*
 * hash.c - xxhash (XXH3) wrappers; the only file that includes xxhash.h.
 *
 * Threads: any (pure). hash64_stream lets callers hash a concatenation without
 * building it (series label sets): the result equals hash64() of the bytes.
 */
#define XXH_STATIC_LINKING_ONLY
#include "hash.h"

#include <assert.h>
#include <xxhash.h>

_Static_assert(sizeof(XXH3_state_t) <= sizeof(((hash64_stream *)0)->opaque),
               "hash64_stream too small for XXH3_state_t");
_Static_assert(_Alignof(XXH3_state_t) <= 64, "hash64_stream alignment");

uint64_t hash64(const void *p, size_t n)
{
    return XXH3_64bits(p, n);
}

uint64_t hash64_seeded(const void *p, size_t n, uint64_t seed)
{
    return XXH3_64bits_withSeed(p, n, seed);
}

hash128 hash128_seeded(const void *p, size_t n, uint64_t seed)
{
    XXH128_hash_t h = XXH3_128bits_withSeed(p, n, seed);
    hash128 r = {h.low64, h.high64};
    return r;
}

void hash64_stream_init(hash64_stream *s)
{
    /* s is uninitialised by contract: this is what initialises it */
    // cppcheck-suppress ctuuninitvar
    XXH3_state_t *st = (XXH3_state_t *)(void *)s->opaque;
    XXH3_INITSTATE(st);
    XXH3_64bits_reset(st);
}

void hash64_stream_update(hash64_stream *s, const void *p, size_t n)
{
    XXH3_64bits_update((XXH3_state_t *)(void *)s->opaque, p, n);
}

uint64_t hash64_stream_final(const hash64_stream *s)
{
    return XXH3_64bits_digest((const XXH3_state_t *)(const void *)s->opaque);
}
