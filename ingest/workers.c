/*
 * workers.c - the query worker pool. Queries never run on a net thread: a
 * net thread pushes the ingest_req onto one MPSC ring, N threads
 * ("query-wrk-N") take turns popping it, run query_api_handle() (or
 * query_traces_handle() for /api/traces/, query_loki_handle() for
 * /loki/api/v1/, ingest_ws_work() for a Loki tail's query), and hand the
 * request back through ingest_net_complete().
 *
 * Design: ring_mpsc has a single consumer, so the workers serialise their
 * pops with a mutex (held only for the pop, never during a query) and sleep
 * on a futex notify when the ring is empty.
 *
 * Threads: submit from net threads; the pool's own threads; destroy from main
 * after the net threads stopped.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include "core/log.h"
#include "ingest/ingest_internal.h"

struct ingest_workers {
    ring_mpsc *q;
    notify nt;
    pthread_mutex_t pop_lock;
    query_engine *qe;
    _Atomic bool stop;
    unsigned n;
    pthread_t th[];
};

static ingest_req *workers_pop(ingest_workers *w)
{
    pthread_mutex_lock(&w->pop_lock);
    ingest_req *r = ring_mpsc_pop(w->q);
    pthread_mutex_unlock(&w->pop_lock);
    return r;
}

static void *workers_main(void *arg)
{
    ingest_workers *w = arg;
    for (;;) {
        uint32_t seen = notify_prepare(&w->nt);
        ingest_req *r = workers_pop(w);
        if (!r) {
            if (atomic_load(&w->stop))
                break;
            notify_wait(&w->nt, seen, 1000);
            continue;
        }
        if (r->tail) /* a Loki tail's first query or poll (ws.c) */
            ingest_ws_work(w->qe, r);
        else if (!w->qe || (!query_api_handle(w->qe, &r->http, &r->resp) &&
                       !query_traces_handle(w->qe, &r->http, &r->resp) &&
                       !query_loki_handle(w->qe, &r->http, &r->resp)))
            http_response_text(&r->resp, 404, "not found: %s", r->http.path);
        ingest_net_complete(r);
        /* another worker may be asleep while more work is queued */
        if (ring_mpsc_size(w->q) > 0)
            notify_wake(&w->nt);
    }
    return NULL;
}

ingest_workers *ingest_workers_create(unsigned n, size_t queue, query_engine *qe, char *err,
                                      size_t errlen)
{
    ingest_workers *w = calloc(1, sizeof *w + n * sizeof(pthread_t));
    if (!w)
        goto fail;
    w->q = ring_mpsc_create(queue);
    if (!w->q)
        goto fail;
    notify_init(&w->nt);
    pthread_mutex_init(&w->pop_lock, NULL);
    w->qe = qe;
    for (unsigned i = 0; i < n; i++) {
        if (pthread_create(&w->th[i], NULL, workers_main, w) != 0) {
            snprintf(err, errlen, "cannot start query worker %u", i);
            ingest_workers_destroy(w);
            return NULL;
        }
        char name[32];
        snprintf(name, sizeof name, "query-wrk-%u", i % 1000);
        name[15] = '\0';
        pthread_setname_np(w->th[i], name);
        w->n++;
    }
    return w;
fail:
    snprintf(err, errlen, "out of memory for the query worker pool");
    if (w)
        ring_mpsc_destroy(w->q);
    free(w);
    return NULL;
}

void ingest_workers_destroy(ingest_workers *w)
{
    if (!w)
        return;
    atomic_store(&w->stop, true);
    for (unsigned i = 0; i < w->n; i++)
        notify_wake(&w->nt);
    for (unsigned i = 0; i < w->n; i++)
        pthread_join(w->th[i], NULL);
    ingest_req *r;
    while ((r = ring_mpsc_pop(w->q)) != NULL) {
        ingest_ws_job_destroy(r->tail); /* a Loki tail's state (ws.c) */
        ingest_req_destroy(r);
    }
    ring_mpsc_destroy(w->q);
    pthread_mutex_destroy(&w->pop_lock);
    free(w);
}

int ingest_workers_submit(ingest_workers *w, ingest_req *r)
{
    if (!ring_mpsc_push(w->q, r))
        return -EAGAIN;
    notify_wake(&w->nt);
    return 0;
}

size_t ingest_workers_queue_length(ingest_workers *w)
{
    return ring_mpsc_size(w->q);
}
