/*
 * sampler.c - the EMA dynamic sampler: key table, interval roll-over, rates.
 *
 * Design (after dynsampler-go's EMASampleRate / EMAThroughput, written anew;
 * see sampler.h for the behaviour):
 *   keep(key, now) -> roll over any ended intervals (fold counts into the
 *   averages, decay for idle intervals, drop aged-out keys, recompute rates)
 *   -> find or insert the key (overflow when full) -> count -> burst check
 *   -> counter % rate.
 *
 * Key table: open addressing with linear probing over a power-of-two array,
 * at most half full, deletion by backward shift (no tombstones). It starts
 * small and doubles as keys arrive, up to the size for max_keys; a failed
 * growth sends the new key to the overflow entry. The sort scratch used by
 * the recompute grows with the table, so a recompute does not allocate.
 *
 * Invariants:
 *   - nkeys <= max_keys, and 2 * nkeys <= cap;
 *   - every tracked entry has rate >= 1;
 *   - cur_total is the sum of the entries' (and overflow's) counts;
 *   - interval_start <= the latest now_ms seen since the last roll-over or
 *     restart; an interval ends when now_ms - interval_start >= interval.
 *
 * Memory: the sampler owns its table and scratch; nothing else.
 * Threads: one at a time (the caller's lock), see sampler.h.
 */
#include "sampling/sampler.h"

#include <math.h>
#include <stdlib.h>

#define MIN_CAP 16u
#define MAX_INTERVAL_MS (24 * 3600 * 1000LL)

typedef struct entry {
    uint64_t key;
    uint64_t count;   /* items in the current interval */
    double avg;       /* moving average of the count per interval */
    uint32_t rate;    /* >= 1 */
    uint32_t counter; /* items since the rate last changed, mod rate */
    bool used;        /* slot holds a key (always true for the overflow entry) */
} entry;

/* One key as the recompute sees it. */
typedef struct rank {
    double avg;
    uint64_t key;
    entry *e;
} rank;

struct sampling_sampler {
    sampling_sampler_config cfg;
    entry *slots;
    uint32_t cap; /* power of two */
    uint32_t max_cap;
    uint32_t nkeys;
    entry overflow;
    rank *scratch; /* cap / 2 + 1 entries: every key plus the overflow */
    int64_t interval_start;
    uint64_t cur_total;
    double ema_total;
    uint64_t intervals;
    uint64_t adjustments;
    uint64_t bursts;
};

void sampling_sampler_config_default(sampling_sampler_config *c)
{
    c->goal = SAMPLING_GOAL_RATE;
    c->goal_rate = 10.0;
    c->goal_throughput = 100.0;
    c->adjust_interval_ms = 15000;
    c->ema_weight = 0.5;
    c->age_out = 0.5;
    c->burst_multiple = 2.0;
    c->burst_detection_delay = 3;
    c->max_keys = 500;
    c->rare_max = 5.0;
}

/* isfinite() rejects NaN and infinities: every double field must be finite. */
static bool config_valid(const sampling_sampler_config *c)
{
    if (c->goal != SAMPLING_GOAL_RATE && c->goal != SAMPLING_GOAL_THROUGHPUT)
        return false;
    if (!isfinite(c->goal_rate) || c->goal_rate < 1.0)
        return false;
    if (!isfinite(c->goal_throughput) || c->goal_throughput <= 0.0)
        return false;
    if (c->adjust_interval_ms < 1 || c->adjust_interval_ms > MAX_INTERVAL_MS)
        return false;
    if (!isfinite(c->ema_weight) || c->ema_weight <= 0.0 || c->ema_weight > 1.0)
        return false;
    if (!isfinite(c->age_out) || c->age_out < 0.0)
        return false;
    if (!isfinite(c->burst_multiple) ||
        (c->burst_multiple != 0.0 && c->burst_multiple < 1.0))
        return false;
    if (c->max_keys < 1 || c->max_keys > SAMPLING_SAMPLER_MAX_KEYS_LIMIT)
        return false;
    if (!isfinite(c->rare_max) || c->rare_max < 0.0)
        return false;
    return true;
}

/* Keys are template ids (1, 2, 3, ...): mix them before masking. */
static uint32_t key_hash(uint64_t k)
{
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdULL;
    k ^= k >> 33;
    k *= 0xc4ceb9fe1a85ec53ULL;
    k ^= k >> 33;
    return (uint32_t)k;
}

static sonde_status table_alloc(sampling_sampler *s, uint32_t cap)
{
    entry *slots = calloc(cap, sizeof *slots);
    rank *scratch = malloc(((size_t)cap / 2 + 1) * sizeof *scratch);
    if (!slots || !scratch) {
        free(slots);
        free(scratch);
        return SONDE_ERR_NOMEM;
    }
    entry *old = s->slots;
    uint32_t old_cap = s->cap;
    s->slots = slots;
    s->cap = cap;
    free(s->scratch);
    s->scratch = scratch;
    for (uint32_t i = 0; i < old_cap; i++) {
        if (!old[i].used)
            continue;
        uint32_t j = key_hash(old[i].key) & (cap - 1);
        while (slots[j].used)
            j = (j + 1) & (cap - 1);
        slots[j] = old[i];
    }
    free(old);
    return SONDE_OK;
}

sonde_status sampling_sampler_create(const sampling_sampler_config *c, int64_t now_ms,
                                     sampling_sampler **out)
{
    sampling_sampler_config def;
    if (!c) {
        sampling_sampler_config_default(&def);
        c = &def;
    }
    *out = NULL;
    if (!config_valid(c))
        return SONDE_ERR_INVALID;
    sampling_sampler *s = calloc(1, sizeof *s);
    if (!s)
        return SONDE_ERR_NOMEM;
    s->cfg = *c;
    uint32_t max_cap = MIN_CAP;
    while (max_cap / 2 < c->max_keys)
        max_cap *= 2;
    s->max_cap = max_cap;
    if (table_alloc(s, MIN_CAP < max_cap ? MIN_CAP : max_cap) != SONDE_OK) {
        free(s);
        return SONDE_ERR_NOMEM;
    }
    s->overflow.used = true;
    s->overflow.rate = 1;
    s->interval_start = now_ms;
    *out = s;
    return SONDE_OK;
}

void sampling_sampler_destroy(sampling_sampler *s)
{
    if (!s)
        return;
    free(s->slots);
    free(s->scratch);
    free(s);
}

static entry *table_find(const sampling_sampler *s, uint64_t key)
{
    uint32_t mask = s->cap - 1;
    for (uint32_t j = key_hash(key) & mask;; j = (j + 1) & mask) {
        if (!s->slots[j].used)
            return NULL;
        if (s->slots[j].key == key)
            return &s->slots[j];
    }
}

/* The entry that counts `key`: tracked, newly tracked, or the overflow. */
static entry *table_get(sampling_sampler *s, uint64_t key)
{
    entry *e = table_find(s, key);
    if (e)
        return e;
    if (s->nkeys >= s->cfg.max_keys)
        return &s->overflow;
    if (2 * (s->nkeys + 1) > s->cap) {
        if (s->cap >= s->max_cap || table_alloc(s, s->cap * 2) != SONDE_OK)
            return &s->overflow;
    }
    uint32_t mask = s->cap - 1;
    uint32_t j = key_hash(key) & mask;
    while (s->slots[j].used)
        j = (j + 1) & mask;
    e = &s->slots[j];
    *e = (entry){.key = key, .rate = 1, .used = true};
    s->nkeys++;
    return e;
}

/* Backward-shift deletion: later members of the probe run move up so that
 * lookups never meet a hole before their key. */
static void table_remove_at(sampling_sampler *s, uint32_t i)
{
    uint32_t mask = s->cap - 1;
    uint32_t hole = i;
    for (uint32_t j = (i + 1) & mask; s->slots[j].used; j = (j + 1) & mask) {
        uint32_t home = key_hash(s->slots[j].key) & mask;
        /* j may fill the hole when its home is not in (hole, j] cyclically */
        bool stays = hole <= j ? (home > hole && home <= j) : (home > hole || home <= j);
        if (stays)
            continue;
        s->slots[hole] = s->slots[j];
        hole = j;
    }
    s->slots[hole].used = false;
    s->nkeys--;
}

static int rank_cmp(const void *a, const void *b)
{
    const rank *x = a, *y = b;
    if (x->avg != y->avg)
        return x->avg < y->avg ? -1 : 1;
    return x->key < y->key ? -1 : x->key > y->key;
}

static void set_rate(entry *e, double r)
{
    uint32_t rate = 1;
    if (r > 1.0)
        rate = r >= (double)UINT32_MAX ? UINT32_MAX : (uint32_t)r;
    if (rate != e->rate) {
        /* Keep the counter's phase (how far it is towards its next keep)
         * rather than restarting it: a restart keeps one extra item per
         * change, and a busy key whose rate is near its count per interval
         * changes rate nearly every interval, so restarts overstated its
         * re-weighted count by half in the tests. From rate 1 the counter
         * is 0, so a key that starts being sampled keeps its next item. */
        e->counter = (uint32_t)((uint64_t)e->counter * rate / e->rate);
        e->rate = rate;
    }
}

/* Folds the current counts in as one interval, then `idle` further intervals
 * with no items, drops aged-out keys and recomputes every rate. */
static void sampler_adjust(sampling_sampler *s, uint64_t idle)
{
    const sampling_sampler_config *c = &s->cfg;
    double w = c->ema_weight;
    double decay = idle ? pow(1.0 - w, (double)idle) : 1.0;

    /* Pass 1: new averages. Pass 2 removes; removal shifts entries, so it
     * must not be mixed with updating them. */
    for (uint32_t i = 0; i < s->cap; i++) {
        entry *e = &s->slots[i];
        if (!e->used)
            continue;
        e->avg = (w * (double)e->count + (1.0 - w) * e->avg) * decay;
        e->count = 0;
    }
    s->overflow.avg = (w * (double)s->overflow.count + (1.0 - w) * s->overflow.avg) * decay;
    s->overflow.count = 0;
    for (uint32_t i = 0; i < s->cap;) {
        if (s->slots[i].used && s->slots[i].avg < c->age_out)
            table_remove_at(s, i); /* re-examine i: a later entry may have moved in */
        else
            i++;
    }
    if (s->overflow.avg < c->age_out)
        s->overflow.avg = 0.0;

    /* The keys with an average, the overflow among them, smallest first. */
    size_t n = 0;
    for (uint32_t i = 0; i < s->cap; i++) {
        if (s->slots[i].used)
            s->scratch[n++] = (rank){s->slots[i].avg, s->slots[i].key, &s->slots[i]};
    }
    if (s->overflow.avg > 0.0)
        s->scratch[n++] = (rank){s->overflow.avg, UINT64_MAX, &s->overflow};
    else
        set_rate(&s->overflow, 1.0);
    qsort(s->scratch, n, sizeof *s->scratch, rank_cmp);

    double sum = 0.0;
    for (size_t i = 0; i < n; i++)
        sum += fmax(1.0, s->scratch[i].avg);
    s->ema_total = sum;

    double goal = c->goal == SAMPLING_GOAL_RATE
                      ? sum / c->goal_rate
                      : c->goal_throughput * (double)c->adjust_interval_ms / 1000.0;
    /* Rare keys are kept whole and spend their part of the goal first. */
    double log_sum = 0.0;
    size_t others = 0;
    for (size_t i = 0; i < n; i++) {
        double avg = s->scratch[i].avg;
        if (avg <= c->rare_max) {
            set_rate(s->scratch[i].e, 1.0);
            goal -= fmax(1.0, avg);
        } else {
            log_sum += log10(fmax(1.0, avg));
            others++;
        }
    }
    if (goal < 0.0)
        goal = 0.0;
    /* With log_sum 0 (all averages <= 1) every key gets its floor of 1. */
    double ratio = log_sum > 0.0 ? goal / log_sum : 0.0;
    double extra = 0.0;
    size_t left = others;
    for (size_t i = 0; i < n; i++) {
        double count = fmax(1.0, s->scratch[i].avg);
        if (s->scratch[i].avg <= c->rare_max)
            continue;
        double share = fmax(1.0, log10(count) * ratio);
        double extra_here = extra / (double)left;
        share += extra_here;
        extra -= extra_here;
        left--;
        if (count <= share) {
            set_rate(s->scratch[i].e, 1.0);
            extra += share - count;
        } else {
            /* share >= 1, so the quotient is finite */
            double r = ceil(count / share);
            set_rate(s->scratch[i].e, r);
            extra += share - count / (double)s->scratch[i].e->rate;
        }
    }
    s->cur_total = 0;
    s->adjustments++;
}

/* Ends the intervals that now_ms has passed, if any. */
static void sampler_roll(sampling_sampler *s, int64_t now_ms)
{
    if (now_ms < s->interval_start) {
        s->interval_start = now_ms; /* the clock stepped back: restart the interval */
        return;
    }
    /* unsigned: the difference of two int64 always fits in uint64 */
    uint64_t elapsed = (uint64_t)now_ms - (uint64_t)s->interval_start;
    uint64_t iv = (uint64_t)s->cfg.adjust_interval_ms;
    if (elapsed < iv)
        return;
    uint64_t n = elapsed / iv;
    sampler_adjust(s, n - 1);
    s->interval_start = (int64_t)((uint64_t)s->interval_start + n * iv);
    s->intervals = s->intervals + n < s->intervals ? UINT64_MAX : s->intervals + n;
}

bool sampling_sampler_keep(sampling_sampler *s, uint64_t key, int64_t now_ms, uint32_t *rate)
{
    sampler_roll(s, now_ms);
    entry *e = table_get(s, key);
    e->count++;
    s->cur_total++;
    if (s->cfg.burst_multiple > 0.0 && s->ema_total > 0.0 &&
        s->intervals >= s->cfg.burst_detection_delay &&
        (double)s->cur_total > s->cfg.burst_multiple * s->ema_total) {
        /* The partial interval counts as a whole one; a new one starts now. */
        bool tracked = e != &s->overflow;
        sampler_adjust(s, 0);
        s->interval_start = now_ms;
        s->bursts++;
        /* Removal may have moved e, or dropped the key (age_out > weight). */
        e = tracked ? table_find(s, key) : &s->overflow;
        if (!e) {
            if (rate)
                *rate = 1;
            return true;
        }
    }
    uint32_t r = e->rate;
    bool keep = e->counter == 0;
    e->counter = e->counter + 1 >= r ? 0 : e->counter + 1;
    if (rate)
        *rate = r;
    return keep;
}

size_t sampling_sampler_keys(const sampling_sampler *s)
{
    return s->nkeys;
}

void sampling_sampler_stats_get(const sampling_sampler *s, sampling_sampler_stats *out)
{
    *out = (sampling_sampler_stats){
        .keys = s->nkeys,
        .overflow_used = s->overflow.count > 0 || s->overflow.avg > 0.0,
        .intervals = s->intervals,
        .adjustments = s->adjustments,
        .bursts = s->bursts,
        .ema_total = s->ema_total,
        .current = s->cur_total,
    };
}

uint32_t sampling_sampler_rate(const sampling_sampler *s, uint64_t key)
{
    const entry *e = table_find(s, key);
    if (e)
        return e->rate;
    return s->nkeys >= s->cfg.max_keys ? s->overflow.rate : 1;
}
