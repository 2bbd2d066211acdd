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

/* AddressSanitizer aborts on an allocation this large unless told to return
 * NULL like malloc does; test_cap_vs_malloc needs the NULL. */
const char *__asan_default_options(void);
const char *__asan_default_options(void)
{
    return "allocator_may_return_null=1";
}

/* arena_cap_hit: a refusal by the cap (permanent: 413) vs malloc failing
 * (transient: 503). */
static void test_cap_vs_malloc(void)
{
    arena *a = arena_create(256, 1000);
    CHECK(!arena_cap_hit(a));
    CHECK_EQ_INT(arena_cap(a), 1000);
    CHECK(arena_alloc(a, 2000) == NULL);
    CHECK(arena_cap_hit(a));
    CHECK(arena_alloc(a, 64) != NULL); /* a success leaves the reason alone */
    CHECK(arena_cap_hit(a));
    CHECK(arena_calloc(a, SIZE_MAX / 2, 4) == NULL);
    CHECK(arena_cap_hit(a));
    CHECK(arena_strndup(a, "x", SIZE_MAX) == NULL);
    CHECK(arena_cap_hit(a));
    arena_reset(a);
    CHECK(!arena_cap_hit(a));
    arena_destroy(a);

    /* uncapped: a request malloc cannot satisfy is refused, not by the cap */
    a = arena_create(256, 0);
    CHECK_EQ_INT(arena_cap(a) == SIZE_MAX, 1);
    CHECK(arena_alloc(a, 100) != NULL);
    CHECK(arena_alloc(a, SIZE_MAX / 2) == NULL);
    CHECK(!arena_cap_hit(a));
    CHECK(arena_alloc(a, 100) != NULL); /* still usable */
    /* a capped arena whose cap is above what malloc gives: malloc's refusal */
    arena *b = arena_create(256, SIZE_MAX / 2 + 4096);
    CHECK(arena_alloc(b, SIZE_MAX / 2) == NULL);
    CHECK(!arena_cap_hit(b));
    CHECK(arena_alloc(b, SIZE_MAX / 2 + 8192) == NULL);
    CHECK(arena_cap_hit(b));
    arena_destroy(b);

    /* through arena_bump (protobuf-c's allocator): refused + the reason */
    arena_bump bump;
    arena_bump_init(&bump, a);
    CHECK(arena_bump_alloc(&bump, 24) != NULL);
    CHECK(!bump.refused);
    CHECK(arena_bump_alloc(&bump, SIZE_MAX / 2) == NULL);
    CHECK(bump.refused);
    CHECK(!arena_cap_hit(a));
    arena_destroy(a);

    a = arena_create(256, 4096);
    arena_bump_init(&bump, a);
    CHECK(arena_bump_alloc(&bump, 8192) == NULL);
    CHECK(bump.refused);
    CHECK(arena_cap_hit(a));
    arena_destroy(a);
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

static int released_order[4], nreleased;
static void on_release(void *ctx)
{
    released_order[nreleased++] = *(int *)ctx;
}

/* arena_on_release: callbacks run newest first at reset and at destroy, once each */
static void test_on_release(void)
{
    arena *a = arena_create(256, 0);
    static int one = 1, two = 2, three = 3;
    CHECK(arena_on_release(a, on_release, &one));
    CHECK(arena_on_release(a, on_release, &two));
    arena_reset(a);
    CHECK_EQ_INT(nreleased, 2);
    CHECK_EQ_INT(released_order[0], 2);
    CHECK_EQ_INT(released_order[1], 1);
    arena_reset(a); /* nothing registered any more */
    CHECK_EQ_INT(nreleased, 2);
    CHECK(arena_on_release(a, on_release, &three));
    arena_destroy(a);
    CHECK_EQ_INT(nreleased, 3);
    CHECK_EQ_INT(released_order[2], 3);
    /* a capped-out arena refuses the record: nothing is registered */
    arena *b = arena_create(64, 16);
    CHECK(arena_alloc(b, 16) != NULL);
    CHECK(!arena_on_release(b, on_release, &one));
    arena_destroy(b);
    CHECK_EQ_INT(nreleased, 3);
}

int main(void)
{
    RUN(test_on_release);
    RUN(test_alignment);
    RUN(test_cap);
    RUN(test_cap_vs_malloc);
    RUN(test_realloc);
    RUN(test_reset);
    return TEST_DONE();
}
