/*
 * test_sort.c - sort_stable: ordering and stability across the insertion and
 * merge paths, element sizes other than pointers.
 */
#include <stdint.h>
#include <stdlib.h>

#include "core/sort.h"
#include "test.h"

typedef struct item {
    int key;
    int seq; /* input position: equal keys must keep it ascending */
    char pad[20];
} item;

static int item_cmp(const void *a, const void *b)
{
    const item *x = a, *y = b;
    return (x->key > y->key) - (x->key < y->key);
}

static void check_sorted(const item *v, size_t n)
{
    int ok = 1;
    for (size_t i = 1; i < n; i++)
        if (v[i - 1].key > v[i].key || (v[i - 1].key == v[i].key && v[i - 1].seq > v[i].seq))
            ok = 0;
    CHECK(ok);
}

static void test_sizes(void)
{
    static const size_t sizes[] = {0, 1, 2, 15, 16, 17, 100, 1000, 4097};
    uint32_t r = 12345;
    for (size_t s = 0; s < sizeof sizes / sizeof *sizes; s++) {
        size_t n = sizes[s];
        item *v = calloc(n ? n : 1, sizeof *v), *tmp = calloc(n ? n : 1, sizeof *tmp);
        for (size_t i = 0; i < n; i++) {
            r = r * 1103515245u + 12345u;
            v[i].key = (int)((r >> 16) % 7); /* many equal keys */
            v[i].seq = (int)i;
        }
        sort_stable(v, n, sizeof *v, item_cmp, tmp);
        check_sorted(v, n);
        free(v);
        free(tmp);
    }
}

static void test_no_scratch_small(void)
{
    item v[16];
    for (int i = 0; i < 16; i++)
        v[i] = (item){.key = 15 - i / 2, .seq = i};
    sort_stable(v, 16, sizeof *v, item_cmp, NULL);
    check_sorted(v, 16);
    CHECK_EQ_INT(v[0].key, 8);
    CHECK_EQ_INT(v[0].seq, 14);
}

int main(void)
{
    RUN(test_sizes);
    RUN(test_no_scratch_small);
    return TEST_DONE();
}
