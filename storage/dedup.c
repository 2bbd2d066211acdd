/*
 * dedup.c - the set of batch ids committed inside the dedup window.
 *
 * An open-addressing table of 16-byte ids (linear probing, backward-shift
 * deletion, all-zero = empty slot; an all-zero id is stored with its low bit
 * set, see norm()) plus a FIFO of (id, commit ms) in insertion order, so that
 * expiry pops from the front instead of scanning. The durable copy is the
 * `batch_ids` column family (commit.c); this set is rebuilt from it at open.
 *
 * Threads: the committer thread only (and storage_open before it starts).
 */
#include <stdlib.h>
#include <string.h>

#include "../core/hash.h"
#include "storage_internal.h"

static void norm(uint8_t *out, const uint8_t *id)
{
    static const uint8_t zero[STORAGE_BATCH_ID_LEN];
    memcpy(out, id, STORAGE_BATCH_ID_LEN);
    if (memcmp(out, zero, STORAGE_BATCH_ID_LEN) == 0)
        out[0] = 1;
}

static bool slot_empty(const uint8_t *s)
{
    static const uint8_t zero[STORAGE_BATCH_ID_LEN];
    return memcmp(s, zero, STORAGE_BATCH_ID_LEN) == 0;
}

static size_t slot_of(const dedup_set *d, const uint8_t *id)
{
    uint64_t h;
    memcpy(&h, id, 8); /* ids are already hashes */
    return (size_t)(h & (d->cap - 1));
}

void storage_dedup_init(dedup_set *d)
{
    memset(d, 0, sizeof *d);
}

void storage_dedup_fini(dedup_set *d)
{
    free(d->slots);
    free(d->fifo);
    memset(d, 0, sizeof *d);
}

bool storage_dedup_contains(const dedup_set *d, const uint8_t *id)
{
    if (d->cap == 0)
        return false;
    uint8_t k[STORAGE_BATCH_ID_LEN];
    norm(k, id);
    for (size_t i = slot_of(d, k);; i = (i + 1) & (d->cap - 1)) {
        if (slot_empty(d->slots[i]))
            return false;
        if (memcmp(d->slots[i], k, STORAGE_BATCH_ID_LEN) == 0)
            return true;
    }
}

static void table_put(dedup_set *d, const uint8_t *k)
{
    for (size_t i = slot_of(d, k);; i = (i + 1) & (d->cap - 1)) {
        if (slot_empty(d->slots[i])) {
            memcpy(d->slots[i], k, STORAGE_BATCH_ID_LEN);
            d->n++;
            return;
        }
        if (memcmp(d->slots[i], k, STORAGE_BATCH_ID_LEN) == 0)
            return;
    }
}

static sonde_status table_grow(dedup_set *d)
{
    size_t ncap = d->cap ? d->cap * 2 : 1024;
    uint8_t(*old)[STORAGE_BATCH_ID_LEN] = d->slots;
    size_t ocap = d->cap;
    d->slots = calloc(ncap, STORAGE_BATCH_ID_LEN);
    if (!d->slots) {
        d->slots = old;
        return SONDE_ERR_NOMEM;
    }
    d->cap = ncap;
    d->n = 0;
    for (size_t i = 0; i < ocap; i++)
        if (!slot_empty(old[i]))
            table_put(d, old[i]);
    free(old);
    return SONDE_OK;
}

static void table_del(dedup_set *d, const uint8_t *k)
{
    size_t i = slot_of(d, k);
    for (;; i = (i + 1) & (d->cap - 1)) {
        if (slot_empty(d->slots[i]))
            return;
        if (memcmp(d->slots[i], k, STORAGE_BATCH_ID_LEN) == 0)
            break;
    }
    /* backward-shift deletion keeps probe chains intact without tombstones */
    size_t j = i;
    for (;;) {
        memset(d->slots[i], 0, STORAGE_BATCH_ID_LEN);
        for (;;) {
            j = (j + 1) & (d->cap - 1);
            if (slot_empty(d->slots[j])) {
                d->n--;
                return;
            }
            size_t home = slot_of(d, d->slots[j]);
            /* can slot j's entry move to i? yes unless home lies in (i, j] cyclically */
            bool in_range = i <= j ? (home > i && home <= j) : (home > i || home <= j);
            if (!in_range)
                break;
        }
        memcpy(d->slots[i], d->slots[j], STORAGE_BATCH_ID_LEN);
        i = j;
    }
}

sonde_status storage_dedup_add(dedup_set *d, const uint8_t *id, int64_t ms)
{
    if ((d->n + 1) * 2 > d->cap && table_grow(d) != SONDE_OK)
        return SONDE_ERR_NOMEM;
    if (d->flen == d->fcap) {
        size_t ncap = d->fcap ? d->fcap * 2 : 1024;
        dedup_entry *nf = malloc(ncap * sizeof *nf);
        if (!nf)
            return SONDE_ERR_NOMEM;
        for (size_t i = 0; i < d->flen; i++)
            nf[i] = d->fifo[(d->fhead + i) % d->fcap];
        free(d->fifo);
        d->fifo = nf;
        d->fcap = ncap;
        d->fhead = 0;
    }
    uint8_t k[STORAGE_BATCH_ID_LEN];
    norm(k, id);
    table_put(d, k);
    dedup_entry *e = &d->fifo[(d->fhead + d->flen) % d->fcap];
    memcpy(e->id, k, STORAGE_BATCH_ID_LEN);
    e->ms = ms;
    d->flen++;
    return SONDE_OK;
}

size_t storage_dedup_expire(dedup_set *d, int64_t cutoff_ms)
{
    size_t n = 0;
    while (d->flen > 0) {
        dedup_entry *e = &d->fifo[d->fhead];
        if (e->ms >= cutoff_ms)
            break;
        table_del(d, e->id);
        d->fhead = (d->fhead + 1) % d->fcap;
        d->flen--;
        n++;
    }
    return n;
}
