/*
 * sort.c - stable merge sort (see sort.h). Elements move with memcpy, so any
 * element type works; the recursion depth is log2(n).
 */
#include "sort.h"

#include <stdlib.h>
#include <string.h>

#define SORT_SMALL 16
#define SORT_STACK_ELEM 256

/* x: room for one element */
static void insertion(char *a, size_t n, size_t size, int (*cmp)(const void *, const void *),
                      char *x)
{
    for (size_t i = 1; i < n; i++) {
        memcpy(x, a + i * size, size);
        size_t j = i;
        while (j > 0 && cmp(a + (j - 1) * size, x) > 0) {
            memcpy(a + j * size, a + (j - 1) * size, size);
            j--;
        }
        memcpy(a + j * size, x, size);
    }
}

static void merge_sort(char *a, size_t n, size_t size, int (*cmp)(const void *, const void *),
                       char *tmp)
{
    if (n <= SORT_SMALL) {
        insertion(a, n, size, cmp, tmp);
        return;
    }
    size_t h = n / 2;
    merge_sort(a, h, size, cmp, tmp);
    merge_sort(a + h * size, n - h, size, cmp, tmp);
    size_t i = 0, j = h, k = 0;
    /* take from the right only when strictly smaller: equal keys keep order */
    while (i < h && j < n) {
        if (cmp(a + j * size, a + i * size) < 0)
            memcpy(tmp + k++ * size, a + j++ * size, size);
        else
            memcpy(tmp + k++ * size, a + i++ * size, size);
    }
    memcpy(tmp + k * size, a + i * size, (h - i) * size);
    k += h - i;
    memcpy(tmp + k * size, a + j * size, (n - j) * size);
    memcpy(a, tmp, n * size);
}

void sort_stable(void *base, size_t n, size_t size, int (*cmp)(const void *, const void *),
                 void *tmp)
{
    if (n < 2 || size == 0)
        return;
    if (tmp) {
        merge_sort(base, n, size, cmp, tmp);
        return;
    }
    /* the contract allows no scratch only for short arrays of small elements */
    if (n > SORT_SMALL || size > SORT_STACK_ELEM)
        abort();
    char x[SORT_STACK_ELEM];
    insertion(base, n, size, cmp, x);
}
