/*
 * ring.h - bounded lock-free queues of pointers, and a futex-based notifier.
 *
 * ring_mpsc: any number of producers, exactly one consumer. It is Vyukov's
 * bounded queue (a sequence number per cell), so a push never blocks and never
 * allocates; a full ring makes push return false and the caller decides
 * (usually: answer 503 / back-pressure). Ownership of the pushed object passes
 * to the consumer.
 *
 * notify: lets a consumer sleep until a producer has pushed something.
 *   uint32_t seen = notify_prepare(&n);
 *   if (queue is empty) notify_wait(&n, seen, timeout_ms);
 * Producers call notify_wake() after a push. No lost wake-ups: wake bumps the
 * sequence before waking, and wait sleeps only while the sequence is `seen`.
 */
#ifndef SONDE_CORE_RING_H
#define SONDE_CORE_RING_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct ring_mpsc ring_mpsc;

/* capacity is rounded up to a power of two (minimum 2). NULL on OOM. */
ring_mpsc *ring_mpsc_create(size_t capacity);
void ring_mpsc_destroy(ring_mpsc *r); /* NULL is a no-op; items still queued are not freed */
bool ring_mpsc_push(ring_mpsc *r, void *item); /* any thread; false when full */
void *ring_mpsc_pop(ring_mpsc *r);             /* consumer thread only; NULL when empty */
size_t ring_mpsc_size(const ring_mpsc *r);     /* approximate occupancy, any thread */
size_t ring_mpsc_capacity(const ring_mpsc *r);

typedef struct notify {
    _Atomic uint32_t seq;
    _Atomic uint32_t waiters;
} notify;

void notify_init(notify *n);
uint32_t notify_prepare(notify *n);
/* Sleeps while the sequence still equals `seen`, at most timeout_ms (-1: no limit). */
void notify_wait(notify *n, uint32_t seen, int timeout_ms);
void notify_wake(notify *n);

#endif
