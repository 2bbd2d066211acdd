/*
 * sort.h - a stable sort for arrays of any element type (qsort is not
 * stable). Merge sort with insertion sort below 16 elements. The caller
 * provides the scratch buffer of n * size bytes, so it never allocates; tmp
 * may be NULL only when n <= 16 and size <= 256 (anything else is a bug and
 * aborts). Thread: any.
 */
#ifndef SONDE_CORE_SORT_H
#define SONDE_CORE_SORT_H

#include <stddef.h>

void sort_stable(void *base, size_t n, size_t size, int (*cmp)(const void *, const void *),
                 void *tmp);

#endif
