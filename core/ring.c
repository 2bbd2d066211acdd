/*
 * ring.c - Vyukov's bounded queue of pointers, and a futex notifier.
 *
 * Each cell carries a sequence number. For the cell at position pos:
 *   seq == pos          the cell is free for the producer that claims pos;
 *   seq == pos + 1      the cell holds an item for the consumer at pos;
 *   seq == pos + cap    the consumer released it for the next lap.
 * Producers claim a position with a CAS on `head`, write the item, then
 * publish it with a release store of seq. The consumer side uses a CAS on
 * `tail` as well, which costs nothing measurable for one consumer and keeps
 * the queue correct should two threads ever pop. head and tail live on their
 * own cache lines so producers and the consumer do not false-share.
 *
 * Threads: push from any thread; pop from the consumer thread.
 * Ownership: a pushed pointer belongs to whoever pops it.
 */
#include "ring.h"

#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define RING_CACHELINE 64

typedef struct ring_cell {
    _Atomic size_t seq;
    void *item;
} ring_cell;

struct ring_mpsc {
    _Alignas(RING_CACHELINE) _Atomic size_t head; /* next position to push */
    _Alignas(RING_CACHELINE) _Atomic size_t tail; /* next position to pop */
    _Alignas(RING_CACHELINE) size_t mask;
    ring_cell *cells;
};

ring_mpsc *ring_mpsc_create(size_t capacity)
{
    size_t cap = 2;
    while (cap < capacity) {
        if (cap > SIZE_MAX / 4)
            return NULL;
        cap <<= 1;
    }
    ring_mpsc *r = aligned_alloc(RING_CACHELINE, sizeof(*r));
    if (!r)
        return NULL;
    r->cells = aligned_alloc(RING_CACHELINE,
                             (cap * sizeof(ring_cell) + RING_CACHELINE - 1) /
                                 RING_CACHELINE * RING_CACHELINE);
    if (!r->cells) {
        free(r);
        return NULL;
    }
    for (size_t i = 0; i < cap; i++) {
        atomic_init(&r->cells[i].seq, i);
        r->cells[i].item = NULL;
    }
    r->mask = cap - 1;
    atomic_init(&r->head, 0);
    atomic_init(&r->tail, 0);
    return r;
}

void ring_mpsc_destroy(ring_mpsc *r)
{
    if (!r)
        return;
    free(r->cells);
    free(r);
}

bool ring_mpsc_push(ring_mpsc *r, void *item)
{
    size_t pos = atomic_load_explicit(&r->head, memory_order_relaxed);
    ring_cell *c;
    for (;;) {
        c = &r->cells[pos & r->mask];
        size_t seq = atomic_load_explicit(&c->seq, memory_order_acquire);
        intptr_t diff = (intptr_t)seq - (intptr_t)pos;
        if (diff == 0) {
            if (atomic_compare_exchange_weak_explicit(&r->head, &pos, pos + 1,
                                                      memory_order_relaxed, memory_order_relaxed))
                break;
        } else if (diff < 0) {
            return false; /* full: the cell still holds last lap's item */
        } else {
            pos = atomic_load_explicit(&r->head, memory_order_relaxed);
        }
    }
    c->item = item;
    atomic_store_explicit(&c->seq, pos + 1, memory_order_release);
    return true;
}

void *ring_mpsc_pop(ring_mpsc *r)
{
    size_t pos = atomic_load_explicit(&r->tail, memory_order_relaxed);
    ring_cell *c;
    for (;;) {
        c = &r->cells[pos & r->mask];
        size_t seq = atomic_load_explicit(&c->seq, memory_order_acquire);
        intptr_t diff = (intptr_t)seq - (intptr_t)(pos + 1);
        if (diff == 0) {
            if (atomic_compare_exchange_weak_explicit(&r->tail, &pos, pos + 1,
                                                      memory_order_relaxed, memory_order_relaxed))
                break;
        } else if (diff < 0) {
            return NULL; /* empty (or a producer claimed the cell but has not published) */
        } else {
            pos = atomic_load_explicit(&r->tail, memory_order_relaxed);
        }
    }
    void *item = c->item;
    atomic_store_explicit(&c->seq, pos + r->mask + 1, memory_order_release);
    return item;
}

size_t ring_mpsc_size(const ring_mpsc *r)
{
    size_t t = atomic_load_explicit(&((ring_mpsc *)r)->tail, memory_order_relaxed);
    size_t h = atomic_load_explicit(&((ring_mpsc *)r)->head, memory_order_relaxed);
    size_t n = h - t;
    return n > r->mask + 1 ? (h < t ? 0 : r->mask + 1) : n;
}

size_t ring_mpsc_capacity(const ring_mpsc *r)
{
    return r->mask + 1;
}

/*
 * notify: a waiter announces itself in `waiters`, then the kernel sleeps only
 * while seq == seen (checked atomically by FUTEX_WAIT). A waker bumps seq
 * first, then reads `waiters` (both seq_cst): either it sees the waiter and
 * wakes it, or the waiter's futex check sees the new seq. No lost wake-up.
 */
static long notify_futex(_Atomic uint32_t *addr, int op, uint32_t val, const struct timespec *ts)
{
    return syscall(SYS_futex, (uint32_t *)addr, op, val, ts, NULL, 0);
}

void notify_init(notify *n)
{
    atomic_init(&n->seq, 0);
    atomic_init(&n->waiters, 0);
}

uint32_t notify_prepare(notify *n)
{
    return atomic_load_explicit(&n->seq, memory_order_acquire);
}

void notify_wait(notify *n, uint32_t seen, int timeout_ms)
{
    struct timespec ts, *tp = NULL;
    if (timeout_ms >= 0) {
        ts.tv_sec = timeout_ms / 1000;
        ts.tv_nsec = (long)(timeout_ms % 1000) * 1000000L;
        tp = &ts;
    }
    atomic_fetch_add(&n->waiters, 1);
    if (atomic_load(&n->seq) == seen) {
        /* EINTR, EAGAIN (seq moved) and ETIMEDOUT all mean: go look again. */
        (void)notify_futex(&n->seq, FUTEX_WAIT_PRIVATE, seen, tp);
    }
    atomic_fetch_sub(&n->waiters, 1);
}

void notify_wake(notify *n)
{
    atomic_fetch_add(&n->seq, 1);
    if (atomic_load(&n->waiters) > 0)
        (void)notify_futex(&n->seq, FUTEX_WAKE_PRIVATE, INT_MAX, NULL);
}
