/*
 * arena.c - per-request bump allocator with a hard cap (see arena.h).
 *
 * Design: a singly linked chain of malloc'd blocks. `cur` is the block we bump
 * from; a request larger than a block's payload gets a dedicated block that is
 * linked *behind* `cur`, so the slack in `cur` is not wasted. The first block
 * is kept across arena_reset() so that a reused arena does not malloc again.
 *
 * Invariants: every pointer handed out is 16-byte aligned; `used` counts the
 * (16-rounded) bytes handed out and never exceeds `cap`; `last`/`last_n` name
 * the most recent allocation when it lives at the end of `cur` (so realloc can
 * grow it in place), else last == NULL.
 *
 * Threads: none of its own; one owner at a time.
 */
#include "arena.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define ARENA_ALIGN 16u

typedef struct arena_block {
    struct arena_block *next;
    size_t size; /* payload bytes */
    size_t used; /* payload bytes bumped so far */
    _Alignas(16) unsigned char data[];
} arena_block;

typedef struct arena_cleanup {
    void (*fn)(void *ctx);
    void *ctx;
    struct arena_cleanup *next;
} arena_cleanup;

struct arena {
    arena_cleanup *cleanups; /* run (newest first) by reset and destroy */
    arena_block *first; /* kept by reset */
    arena_block *cur;   /* bump block */
    size_t block_size;  /* payload size of ordinary blocks */
    size_t cap;
    size_t used;
    unsigned char *last; /* most recent allocation, if at the end of cur */
    size_t last_n;       /* its rounded size */
    bool cap_hit;        /* the last refusal was the cap's (see arena_cap_hit) */
};

static size_t arena_round(size_t n, int *overflow)
{
    if (n > SIZE_MAX - (ARENA_ALIGN - 1)) {
        *overflow = 1;
        return 0;
    }
    return (n + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);
}

static arena_block *arena_block_new(size_t payload)
{
    if (payload > SIZE_MAX - sizeof(arena_block))
        return NULL;
    arena_block *b = malloc(sizeof(arena_block) + payload);
    if (!b)
        return NULL;
    b->next = NULL;
    b->size = payload;
    b->used = 0;
    return b;
}

arena *arena_create(size_t block_size, size_t cap)
{
    int ovf = 0;
    if (block_size < 256)
        block_size = 256;
    block_size = arena_round(block_size, &ovf);
    if (ovf)
        return NULL;
    arena *a = calloc(1, sizeof(*a));
    if (!a)
        return NULL;
    a->block_size = block_size;
    a->cap = cap ? cap : SIZE_MAX;
    a->first = arena_block_new(block_size);
    if (!a->first) {
        free(a);
        return NULL;
    }
    a->cur = a->first;
    return a;
}

static void arena_free_chain(arena_block *b)
{
    while (b) {
        arena_block *n = b->next;
        free(b);
        b = n;
    }
}

static void arena_run_cleanups(arena *a)
{
    arena_cleanup *c = a->cleanups;
    a->cleanups = NULL;
    for (; c; c = c->next) /* the records live in the arena: read next before it goes */
        c->fn(c->ctx);
}

bool arena_on_release(arena *a, void (*fn)(void *ctx), void *ctx)
{
    arena_cleanup *c = arena_alloc(a, sizeof *c);
    if (!c)
        return false;
    c->fn = fn;
    c->ctx = ctx;
    c->next = a->cleanups;
    a->cleanups = c;
    return true;
}

void arena_destroy(arena *a)
{
    if (!a)
        return;
    arena_run_cleanups(a);
    arena_free_chain(a->first);
    free(a);
}

void arena_reset(arena *a)
{
    if (!a)
        return;
    arena_run_cleanups(a);
    arena_free_chain(a->first->next);
    a->first->next = NULL;
    a->first->used = 0;
    a->cur = a->first;
    a->used = 0;
    a->last = NULL;
    a->last_n = 0;
    a->cap_hit = false;
}

size_t arena_used(const arena *a)
{
    return a ? a->used : 0;
}

size_t arena_cap(const arena *a)
{
    return a ? a->cap : 0;
}

bool arena_cap_hit(const arena *a)
{
    return a && a->cap_hit;
}

/* Records why an allocation is refused; returns NULL for the caller. */
static void *arena_refuse(arena *a, bool cap)
{
    if (a)
        a->cap_hit = cap;
    return NULL;
}

void *arena_alloc(arena *a, size_t n)
{
    int ovf = 0;
    size_t rn = arena_round(n, &ovf);
    if (!a || ovf || rn > a->cap - a->used)
        return arena_refuse(a, true);
    arena_block *c = a->cur;
    if (rn <= c->size - c->used) {
        unsigned char *p = c->data + c->used;
        c->used += rn;
        a->used += rn;
        a->last = p;
        a->last_n = rn;
        return p;
    }
    if (rn > a->block_size / 2) {
        /* Big: its own block behind cur, so cur keeps its slack. */
        arena_block *b = arena_block_new(rn);
        if (!b)
            return arena_refuse(a, false);
        b->used = rn;
        b->next = c->next;
        c->next = b;
        a->used += rn;
        a->last = NULL;
        a->last_n = 0;
        return b->data;
    }
    arena_block *b = arena_block_new(a->block_size);
    if (!b)
        return arena_refuse(a, false);
    b->next = c->next;
    c->next = b;
    a->cur = b;
    b->used = rn;
    a->used += rn;
    a->last = b->data;
    a->last_n = rn;
    return b->data;
}

void *arena_calloc(arena *a, size_t n, size_t size)
{
    if (size && n > SIZE_MAX / size)
        return arena_refuse(a, true);
    void *p = arena_alloc(a, n * size);
    if (p)
        memset(p, 0, n * size);
    return p;
}

void *arena_realloc(arena *a, void *p, size_t old_n, size_t new_n)
{
    if (!p)
        return arena_alloc(a, new_n);
    if (new_n <= old_n)
        return p;
    int ovf = 0;
    size_t rn = arena_round(new_n, &ovf);
    if (!a || ovf)
        return arena_refuse(a, true);
    if (p == a->last) {
        arena_block *c = a->cur;
        size_t start = (size_t)(a->last - c->data);
        if (rn <= c->size - start && rn - a->last_n <= a->cap - a->used) {
            a->used += rn - a->last_n;
            c->used = start + rn;
            a->last_n = rn;
            return p;
        }
    }
    void *q = arena_alloc(a, new_n);
    if (q)
        memcpy(q, p, old_n);
    return q;
}

char *arena_strndup(arena *a, const char *s, size_t n)
{
    if (n == SIZE_MAX)
        return arena_refuse(a, true);
    char *p = arena_alloc(a, n + 1);
    if (!p)
        return NULL;
    if (n)
        memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

void arena_bump_init(arena_bump *b, arena *a)
{
    b->a = a;
    b->cur = NULL;
    b->left = 0;
    b->refused = 0;
}

void *arena_bump_alloc(void *bump, size_t size)
{
    arena_bump *b = bump;
    size_t rs = (size + 7) & ~(size_t)7;
    if (rs < size) {
        b->refused = 1;
        return arena_refuse(b->a, true);
    }
    if (rs <= b->left) {
        void *p = b->cur;
        b->cur += rs;
        b->left -= rs;
        return p;
    }
    if (rs <= ARENA_BUMP_CHUNK / 4) {
        unsigned char *chunk = arena_alloc(b->a, ARENA_BUMP_CHUNK);
        if (chunk) {
            b->cur = chunk + rs;
            b->left = ARENA_BUMP_CHUNK - rs;
            return chunk;
        }
    }
    /* big, or no room for a whole chunk under the cap: exactly what is asked */
    void *p = arena_alloc(b->a, size);
    if (!p)
        b->refused = 1;
    return p;
}

void arena_bump_free(void *bump, void *p)
{
    (void)bump; /* the arena frees everything at once */
    (void)p;
}
