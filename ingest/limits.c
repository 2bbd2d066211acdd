/*
 * limits.c - per-tenant log ingestion limits, as Loki enforces them in its
 * distributor: an ingestion rate (token bucket in bytes of log lines, with a
 * burst) and a maximum number of active streams.
 *
 * A stream is active from its first push until it has not been pushed to for
 * --logs.stream-idle (1h); a new stream beyond --logs.max-streams is refused
 * until older ones go idle. The set lives in memory only: after a restart a
 * tenant's streams become active again as they are pushed to, which is what
 * "active" means.
 *
 * Design: one mutex over a small open-addressing table of tenants; each
 * tenant has its bucket and an open-addressing set of (stream hash, last
 * push) that grows up to twice the stream limit. Pushes take the lock once
 * per request (rate) and once per stream, never during decoding or I/O.
 *
 * Threads: any (net threads).
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "core/hash.h"
#include "ingest/ingest_internal.h"

#define LIMITS_MAX_TENANTS 4096

typedef struct limits_stream {
    uint64_t hash; /* 0: empty slot (a hash of 0 is stored as 1) */
    int64_t last_ms;
} limits_stream;

typedef struct limits_tenant {
    char id[151];
    bool used;
    double tokens;
    int64_t refill_ms;
    limits_stream *set;
    size_t cap; /* power of two */
    size_t n;
} limits_tenant;

struct ingest_limits {
    pthread_mutex_t mu;
    double rate, burst; /* bytes per second, bytes */
    size_t max_streams;
    int64_t idle_ms;
    limits_tenant *tenants; /* LIMITS_MAX_TENANTS slots */
    size_t ntenants;
};

ingest_limits *ingest_limits_create(uint64_t rate, uint64_t burst, size_t max_streams,
                                    int64_t idle_ms)
{
    ingest_limits *l = calloc(1, sizeof *l);
    if (!l)
        return NULL;
    l->tenants = calloc(LIMITS_MAX_TENANTS, sizeof *l->tenants);
    if (!l->tenants) {
        free(l);
        return NULL;
    }
    pthread_mutex_init(&l->mu, NULL);
    l->rate = (double)rate;
    l->burst = (double)(burst > rate ? burst : rate);
    l->max_streams = max_streams;
    l->idle_ms = idle_ms;
    return l;
}

void ingest_limits_destroy(ingest_limits *l)
{
    if (!l)
        return;
    for (size_t i = 0; i < LIMITS_MAX_TENANTS; i++)
        free(l->tenants[i].set);
    free(l->tenants);
    pthread_mutex_destroy(&l->mu);
    free(l);
}

/* The tenant's slot (created); NULL when the table is full. Lock held. */
static limits_tenant *limits_tenant_get(ingest_limits *l, const char *tenant, int64_t now_ms)
{
    size_t n = strlen(tenant);
    if (n > 150)
        n = 150;
    size_t i = hash64(tenant, n) & (LIMITS_MAX_TENANTS - 1);
    for (size_t probe = 0; probe < LIMITS_MAX_TENANTS; probe++, i = (i + 1) & (LIMITS_MAX_TENANTS - 1)) {
        limits_tenant *t = &l->tenants[i];
        if (t->used && strncmp(t->id, tenant, n) == 0 && t->id[n] == 0)
            return t;
        if (!t->used) {
            if (l->ntenants >= LIMITS_MAX_TENANTS / 2)
                return NULL;
            memcpy(t->id, tenant, n);
            t->id[n] = 0;
            t->used = true;
            t->tokens = l->burst;
            t->refill_ms = now_ms;
            l->ntenants++;
            return t;
        }
    }
    return NULL;
}

bool ingest_limits_rate_take(ingest_limits *l, const char *tenant, size_t bytes, int64_t now_ms)
{
    if (!l || l->rate <= 0)
        return true;
    pthread_mutex_lock(&l->mu);
    limits_tenant *t = limits_tenant_get(l, tenant, now_ms);
    bool ok = true;
    if (t) {
        if (now_ms > t->refill_ms) {
            t->tokens += l->rate * (double)(now_ms - t->refill_ms) / 1000.0;
            if (t->tokens > l->burst)
                t->tokens = l->burst;
            t->refill_ms = now_ms;
        }
        /* a push larger than the burst can never fit: it is admitted when
         * the bucket is full, like Loki's limiter with burst = request */
        if ((double)bytes <= t->tokens || t->tokens >= l->burst)
            t->tokens -= (double)bytes;
        else
            ok = false;
    }
    pthread_mutex_unlock(&l->mu);
    return ok;
}

/* Inserts without growing. Lock held. */
static void limits_set_put(limits_tenant *t, uint64_t h, int64_t now_ms)
{
    size_t i = h & (t->cap - 1);
    while (t->set[i].hash && t->set[i].hash != h)
        i = (i + 1) & (t->cap - 1);
    if (!t->set[i].hash)
        t->n++;
    t->set[i].hash = h;
    t->set[i].last_ms = now_ms;
}

/* Rebuilds the set at capacity ncap, dropping streams idle since before
 * cutoff. Lock held. false on OOM (the set is unchanged). */
static bool limits_set_rebuild(limits_tenant *t, size_t ncap, int64_t cutoff)
{
    limits_stream *old = t->set;
    size_t ocap = t->cap;
    limits_stream *ns = calloc(ncap, sizeof *ns);
    if (!ns)
        return false;
    t->set = ns;
    t->cap = ncap;
    t->n = 0;
    for (size_t i = 0; i < ocap; i++)
        if (old[i].hash && old[i].last_ms >= cutoff)
            limits_set_put(t, old[i].hash, old[i].last_ms);
    free(old);
    return true;
}

bool ingest_limits_stream_admit(ingest_limits *l, const char *tenant, uint64_t stream,
                                int64_t now_ms)
{
    if (!l || l->max_streams == 0)
        return true;
    uint64_t h = stream ? stream : 1;
    pthread_mutex_lock(&l->mu);
    bool ok = true;
    limits_tenant *t = limits_tenant_get(l, tenant, now_ms);
    if (!t)
        goto out;
    if (t->cap) {
        size_t i = h & (t->cap - 1);
        while (t->set[i].hash) {
            if (t->set[i].hash == h) {
                t->set[i].last_ms = now_ms;
                goto out;
            }
            i = (i + 1) & (t->cap - 1);
        }
    }
    /* a new stream */
    if (t->n >= l->max_streams) {
        /* forget idle streams, then decide */
        if (!limits_set_rebuild(t, t->cap, now_ms - l->idle_ms) || t->n >= l->max_streams) {
            ok = false;
            goto out;
        }
    }
    if ((t->n + 1) * 2 > t->cap) {
        size_t ncap = t->cap ? t->cap * 2 : 64;
        if (!limits_set_rebuild(t, ncap, INT64_MIN)) {
            ok = true; /* cannot track it: do not refuse data for our OOM */
            goto out;
        }
    }
    limits_set_put(t, h, now_ms);
out:
    pthread_mutex_unlock(&l->mu);
    return ok;
}
