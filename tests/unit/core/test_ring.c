/* test_ring.c - ring_mpsc: FIFO, full/empty, and a 4-producer stress where every
 * item is popped exactly once; notify wake-ups. */
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdlib.h>

#include "core/ring.h"
#include "test.h"

#define PRODUCERS 4
#define PER_PRODUCER 200000

static void test_basic(void)
{
    ring_mpsc *r = ring_mpsc_create(3);
    CHECK_EQ_INT(ring_mpsc_capacity(r), 4);
    CHECK(ring_mpsc_pop(r) == NULL);
    for (uintptr_t i = 1; i <= 4; i++)
        CHECK(ring_mpsc_push(r, (void *)i));
    CHECK(!ring_mpsc_push(r, (void *)5)); /* full */
    CHECK_EQ_INT(ring_mpsc_size(r), 4);
    for (uintptr_t i = 1; i <= 4; i++)
        CHECK(ring_mpsc_pop(r) == (void *)i);
    CHECK(ring_mpsc_pop(r) == NULL);
    /* wrap around many laps */
    for (uintptr_t i = 1; i < 1000; i++) {
        CHECK(ring_mpsc_push(r, (void *)i));
        CHECK(ring_mpsc_pop(r) == (void *)i);
    }
    CHECK_EQ_INT(ring_mpsc_size(r), 0);
    ring_mpsc_destroy(r);
    ring_mpsc_destroy(NULL);
    r = ring_mpsc_create(0);
    CHECK_EQ_INT(ring_mpsc_capacity(r), 2);
    ring_mpsc_destroy(r);
}

typedef struct stress {
    ring_mpsc *r;
    notify n;
    int id;
    _Atomic int done;
} stress;

typedef struct producer_arg {
    stress *s;
    uintptr_t id;
} producer_arg;

static void *producer(void *p)
{
    producer_arg *pa = p;
    for (uintptr_t i = 0; i < PER_PRODUCER; i++) {
        /* item encodes (producer, sequence); +1 so it is never NULL */
        void *item = (void *)((pa->id << 32 | i) + 1);
        while (!ring_mpsc_push(pa->s->r, item))
            sched_yield();
        notify_wake(&pa->s->n);
    }
    return NULL;
}

static void test_stress(void)
{
    stress s;
    s.r = ring_mpsc_create(1024);
    notify_init(&s.n);
    uint8_t *seen = calloc((size_t)PRODUCERS * PER_PRODUCER, 1);
    uint32_t next[PRODUCERS] = {0};
    pthread_t th[PRODUCERS];
    producer_arg args[PRODUCERS];
    for (int i = 0; i < PRODUCERS; i++) {
        args[i].s = &s;
        args[i].id = (uintptr_t)i;
        pthread_create(&th[i], NULL, producer, &args[i]);
    }
    size_t got = 0, dup = 0, bad = 0, order = 0;
    while (got < (size_t)PRODUCERS * PER_PRODUCER) {
        uint32_t seenseq = notify_prepare(&s.n);
        void *item = ring_mpsc_pop(s.r);
        if (!item) {
            notify_wait(&s.n, seenseq, 100);
            continue;
        }
        uintptr_t v = (uintptr_t)item - 1;
        uintptr_t pid = v >> 32, seq = v & 0xffffffffu;
        if (pid >= PRODUCERS || seq >= PER_PRODUCER) {
            bad++;
            continue;
        }
        if (seen[pid * PER_PRODUCER + seq]++)
            dup++;
        if (seq != next[pid])
            order++; /* per-producer FIFO must hold */
        next[pid] = (uint32_t)seq + 1;
        got++;
    }
    for (int i = 0; i < PRODUCERS; i++)
        pthread_join(th[i], NULL);
    size_t missing = 0;
    for (size_t i = 0; i < (size_t)PRODUCERS * PER_PRODUCER; i++)
        missing += seen[i] != 1;
    CHECK_EQ_INT(dup, 0);
    CHECK_EQ_INT(bad, 0);
    CHECK_EQ_INT(order, 0);
    CHECK_EQ_INT(missing, 0);
    CHECK(ring_mpsc_pop(s.r) == NULL);
    free(seen);
    ring_mpsc_destroy(s.r);
}

static void test_notify_timeout(void)
{
    notify n;
    notify_init(&n);
    uint32_t seen = notify_prepare(&n);
    notify_wait(&n, seen, 10); /* returns after the timeout */
    notify_wake(&n);
    CHECK(notify_prepare(&n) != seen);
    notify_wait(&n, seen, -1); /* seq moved: must not sleep */
    CHECK(1);
}

int main(void)
{
    RUN(test_basic);
    RUN(test_stress);
    RUN(test_notify_timeout);
    return TEST_DONE();
}
