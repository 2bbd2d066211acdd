/*
 * arena.h - per-request bump allocator with a hard cap.
 *
 * An arena owns a chain of blocks. Everything allocated from it is freed at
 * once by arena_reset() or arena_destroy(). An allocation that would take the
 * arena past its cap returns NULL instead of aborting, as does one malloc
 * refuses; arena_cap_hit() tells the two apart, so that callers answer
 * SONDE_ERR_LIMIT (permanent: the request is too big) for the first and
 * SONDE_ERR_NOMEM (transient) for the second. Not thread-safe: one owner at a time
 * (ownership may move between threads through a ring).
 */
#ifndef SONDE_CORE_ARENA_H
#define SONDE_CORE_ARENA_H

#include <stdbool.h>
#include <stddef.h>

#include "status.h"

typedef struct arena arena;

/* block_size: size of each malloc'd block (larger requests get their own block).
 * cap: maximum total bytes handed out; 0 means SIZE_MAX. NULL on OOM. */
arena *arena_create(size_t block_size, size_t cap);
void arena_destroy(arena *a); /* NULL is a no-op */

/* 16-byte aligned; NULL when the cap is reached or malloc fails. n == 0 is valid. */
void *arena_alloc(arena *a, size_t n);
/* Zeroed; NULL on overflow of n * size, cap or OOM. */
void *arena_calloc(arena *a, size_t n, size_t size);
/* Grows the most recent allocation in place when possible, else copies. */
void *arena_realloc(arena *a, void *p, size_t old_n, size_t new_n);
/* Copies n bytes and NUL-terminates. */
char *arena_strndup(arena *a, const char *s, size_t n);
/* Frees all allocations but keeps the first block for reuse. */
void arena_reset(arena *a);
/* Registers fn(ctx) to run when the arena is next reset or destroyed (newest first), for
 * what lives outside it (e.g. a PCRE2 JIT code block). false when the record cannot be
 * allocated (then fn is not registered: the caller frees now). */
bool arena_on_release(arena *a, void (*fn)(void *ctx), void *ctx);
/* Bytes handed out so far (not counting block slack). */
size_t arena_used(const arena *a);
/* The cap (SIZE_MAX when created with 0). */
size_t arena_cap(const arena *a);
/* Why the most recent refused allocation (NULL from arena_alloc, _calloc,
 * _realloc, _strndup or arena_bump_alloc) was refused: true when it would
 * have passed the cap (or its size overflowed, which no cap admits), false
 * when malloc failed. Only meaningful after a refusal; successful
 * allocations leave it alone; arena_reset() clears it. */
bool arena_cap_hit(const arena *a);
/* The status for a refused allocation: SONDE_ERR_LIMIT for the cap, SONDE_ERR_NOMEM for
 * malloc (see arena_cap_hit). */
static inline sonde_status arena_refusal(const arena *a)
{
    return arena_cap_hit(a) ? SONDE_ERR_LIMIT : SONDE_ERR_NOMEM;
}

/* A bump allocator over an arena for libraries that make many small
 * allocations (protobuf-c makes one per message, string and repeated array):
 * each costs a pointer bump inside ARENA_BUMP_CHUNK-byte arena chunks,
 * rounded to 8 bytes (enough for pointers, doubles and int64). Frees are
 * no-ops: the arena goes at once. The two callbacks have the shape of
 * protobuf-c's ProtobufCAllocator {alloc, free, allocator_data = &bump}.
 * refused is set when the arena said no (cap or malloc; arena_cap_hit() on
 * the arena tells which), so a failed unpack can be told apart from bad
 * input. */
#define ARENA_BUMP_CHUNK (16u << 10)

typedef struct arena_bump {
    arena *a;
    unsigned char *cur;
    size_t left;
    int refused;
} arena_bump;

void arena_bump_init(arena_bump *b, arena *a);
void *arena_bump_alloc(void *bump, size_t size);
void arena_bump_free(void *bump, void *p);

#endif
