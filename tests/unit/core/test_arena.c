/* test_arena.c - arena: alignment, cap -> NULL, realloc in place and by copy, reset. */
#include <stdint.h>
#include <string.h>

#include "core/arena.h"
#include "test.h"

static void test_alignment(void)
{
    arena *a = arena_create(1024, 0);
    CHECK(a != NULL);
    for (size_t n = 0; n < 100; n++) {
        void *p = arena_alloc(a, n);
        CHECK(p != NULL);
        CHECK(((uintptr_t)p & 15) == 0);
    }
    void *big = arena_alloc(a, 100000); /* dedicated block */
    CHECK(big != NULL && ((uintptr_t)big & 15) == 0);
    memset(big, 0xab, 100000);
    void *after = arena_alloc(a, 8); /* still served from the bump block */
    CHECK(after != NULL && ((uintptr_t)after & 15) == 0);
    arena_destroy(a);
}

static void test_cap(void)
{
    arena *a = arena_create(4096, 1000);
    CHECK(arena_alloc(a, 512) != NULL);
    CHECK(arena_alloc(a, 480) != NULL);
    CHECK_EQ_INT(arena_used(a), 992);
    CHECK(arena_alloc(a, 16) == NULL); /* 1008 > 1000 */
    CHECK(arena_alloc(a, 8) == NULL);  /* rounds to 16: 1008 > 1000 */
    CHECK(arena_alloc(a, 0) != NULL);
    arena_destroy(a);

    a = arena_create(256, 1 << 20);
    CHECK(arena_alloc(a, (1 << 20) + 1) == NULL);
    CHECK(arena_alloc(a, SIZE_MAX) == NULL);
    CHECK(arena_calloc(a, SIZE_MAX / 2, 4) == NULL); /* n * size overflows */
    CHECK(arena_alloc(a, 0) != NULL);
    arena_destroy(a);
    arena_destroy(NULL);
}

static void test_realloc(void)
{
    arena *a = arena_create(1024, 0);
    char *p = arena_alloc(a, 10);
    memcpy(p, "0123456789", 10);
    char *q = arena_realloc(a, p, 10, 100);
    CHECK(q == p); /* the last allocation grows in place */
    CHECK(memcmp(q, "0123456789", 10) == 0);
    char *other = arena_alloc(a, 16);
    CHECK(other != NULL);
    char *r = arena_realloc(a, q, 100, 200); /* no longer last: copied */
    CHECK(r != q && r != NULL);
    CHECK(memcmp(r, "0123456789", 10) == 0);
    char *s = arena_realloc(a, r, 200, 5000); /* beyond a block */
    CHECK(s != NULL && memcmp(s, "0123456789", 10) == 0);
    CHECK(arena_realloc(a, NULL, 0, 32) != NULL);
    int *z = arena_calloc(a, 50, sizeof(int));
    int sum = 0;
    for (int i = 0; i < 50; i++)
        sum += z[i];
    CHECK_EQ_INT(sum, 0);
    char *d = arena_strndup(a, "hello world", 5);
    CHECK_EQ_STR(d, "hello");
    arena_destroy(a);

    a = arena_create(1024, 256);
    p = arena_alloc(a, 128);
    CHECK(arena_realloc(a, p, 128, 512) == NULL); /* cap, no abort */
    arena_destroy(a);
}

static void test_reset(void)
{
    arena *a = arena_create(512, 4096);
    for (int i = 0; i < 19; i++) /* 19 * 208 = 3952 */
        CHECK(arena_alloc(a, 200) != NULL);
    CHECK(arena_alloc(a, 200) == NULL); /* 4160 > 4096 */
    arena_reset(a);
    CHECK_EQ_INT(arena_used(a), 0);
    for (int i = 0; i < 19; i++)
        CHECK(arena_alloc(a, 200) != NULL);
    arena_destroy(a);
}

int main(void)
{
    RUN(test_alignment);
    RUN(test_cap);
    RUN(test_realloc);
    RUN(test_reset);
    return TEST_DONE();
}
