/*
 * sampler.h - the dynamic log sampler (Refinery's EMADynamicSampler, written anew).
 *
 * A sampler decides, item by item, whether to keep a log line, and at which
 * sample rate: a line kept at rate r stands for r lines of its key. Keys are
 * template ids (sampling/templates.h); one sampler serves one (tenant, log
 * stream). Busy keys get high rates, quiet keys rate 1, so that the rare
 * templates all survive while the chatty ones are thinned.
 *
 * How rates are chosen: items are counted per key in fixed intervals
 * (adjust_interval_ms). At the end of each interval the counts are folded
 * into a per-key exponential moving average (EMA) of the count per interval,
 * and the rates are recomputed from the averages:
 *   - keys whose average is <= rare_max get rate 1 and use up their share of
 *     the interval's goal (goal = EMA total / goal_rate, or goal_throughput x
 *     interval seconds);
 *   - the rest of the goal is shared among the other keys in proportion to
 *     log10 of their averages (at least 1 item each), from the smallest key
 *     up, a key's unused share passing on to the larger keys; a key's rate
 *     is ceil(average / its share).
 * Keys that appear between two adjustments have rate 1 until the next one.
 * When the current interval's total exceeds burst_multiple x the EMA total
 * (after burst_detection_delay intervals), the rates are recomputed at once
 * from the partial interval, and a new interval starts.
 *
 * Time is given by the caller (now_ms, any monotonic-ish clock): intervals
 * end lazily inside sampling_sampler_keep(). Intervals that passed with no
 * call are caught up in one step: they count as intervals with no items, so
 * the averages decay and idle keys are dropped (average < age_out). A clock
 * that steps back before the current interval's start restarts the interval.
 *
 * The decision is deterministic: per key a counter; an item is kept when
 * counter % rate == 0. When the key's rate changes the counter keeps its
 * phase (counter x new / old) instead of restarting: restarting keeps one
 * extra item per change, which overstates busy keys whose rate changes every
 * interval. A key leaving rate 1 keeps its next item. Over n items at a
 * steady rate r, n / r are kept (rounded up at the start), so the sum of the
 * rates of the kept items stays close to the true count.
 *
 * Bounds: at most max_keys keys are tracked; items of further keys are
 * counted under one shared overflow key (sampled like a key) until tracked
 * keys age out. Memory grows with the tracked keys, up to a table sized for
 * max_keys; a call for a key already tracked does not allocate.
 *
 * Threads: none of its own and no globals. A sampler is used by one thread at
 * a time; the log pipeline holds its lock around every call.
 */
#ifndef SONDE_SAMPLING_SAMPLER_H
#define SONDE_SAMPLING_SAMPLER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/status.h"

/* Largest max_keys a configuration may ask for. */
#define SAMPLING_SAMPLER_MAX_KEYS_LIMIT (1u << 20)

typedef enum sampling_goal {
    SAMPLING_GOAL_RATE = 0,      /* aim at an average sample rate (goal_rate) */
    SAMPLING_GOAL_THROUGHPUT = 1 /* aim at a number of kept items per second (goal_throughput) */
} sampling_goal;

typedef struct sampling_sampler_config {
    sampling_goal goal;
    /* RATE: keep on average 1 in goal_rate items overall (>= 1; default 10).
     * Rare keys are always kept, so with many rare items fewer are dropped. */
    double goal_rate;
    /* THROUGHPUT: kept items per second for this sampler (> 0; default 100).
     * The goal per interval is goal_throughput x adjust_interval_ms / 1000. */
    double goal_throughput;
    /* Rates are recomputed this often, in ms (1 .. one day; default 15000). */
    int64_t adjust_interval_ms;
    /* Weight of the newest interval in the moving average, in (0, 1]
     * (default 0.5). Higher adapts faster, lower is steadier. */
    double ema_weight;
    /* A key whose moving average falls below age_out is forgotten (>= 0;
     * default 0.5, as dynsampler: equal to the weight, so a key seen once in
     * an interval survives that adjustment). Must be > 0 for keys to age out. */
    double age_out;
    /* An interval whose count exceeds burst_multiple x the EMA total triggers
     * an early recompute (0 disables, else >= 1; default 2). */
    double burst_multiple;
    /* Adjustments (intervals) before burst detection starts (default 3). */
    uint32_t burst_detection_delay;
    /* Keys tracked, 1 .. SAMPLING_SAMPLER_MAX_KEYS_LIMIT (default 500); the
     * items of further keys share one overflow key. */
    uint32_t max_keys;
    /* A key whose moving-average count per interval is <= rare_max keeps
     * every item (rate 1) (>= 0; default 5). */
    double rare_max;
} sampling_sampler_config;

/* Fills in the defaults listed above (goal SAMPLING_GOAL_RATE). */
void sampling_sampler_config_default(sampling_sampler_config *c);

typedef struct sampling_sampler sampling_sampler;

/* Creates an empty sampler whose first interval starts at now_ms. c NULL
 * means the defaults; the configuration is copied. Errors: SONDE_ERR_INVALID
 * when a field is out of its range (NaN included), SONDE_ERR_NOMEM. */
sonde_status sampling_sampler_create(const sampling_sampler_config *c, int64_t now_ms,
                                     sampling_sampler **out);
void sampling_sampler_destroy(sampling_sampler *s); /* NULL is a no-op */

/* Counts one item of `key` at now_ms and says whether to keep it. *rate
 * (>= 1; rate may be NULL) receives the sample rate the item was kept or
 * dropped at, so a kept item stands for *rate items. May end intervals and
 * recompute the rates first (O(keys log keys) then, O(1) otherwise). Never
 * fails: when a new key cannot be tracked it is counted as the overflow key. */
bool sampling_sampler_keep(sampling_sampler *s, uint64_t key, int64_t now_ms, uint32_t *rate);

/* Keys tracked now (the overflow key not counted); <= max_keys. */
size_t sampling_sampler_keys(const sampling_sampler *s);

/* What a sampler has done, for metrics and tests. */
typedef struct sampling_sampler_stats {
    size_t keys;          /* as sampling_sampler_keys() */
    bool overflow_used;   /* the overflow key has items or an average */
    uint64_t intervals;   /* intervals ended (caught-up idle ones included) */
    uint64_t adjustments; /* rate recomputes, bursts included */
    uint64_t bursts;      /* recomputes triggered by burst detection */
    double ema_total;     /* sum over keys of max(1, average count per interval) */
    uint64_t current;     /* items counted in the current interval */
} sampling_sampler_stats;

void sampling_sampler_stats_get(const sampling_sampler *s, sampling_sampler_stats *out);

/* The rate an item of `key` would get if it came now, before any interval
 * ends: its own rate when tracked, else 1 while there is room for a new key,
 * else the overflow key's rate. Counts nothing. */
uint32_t sampling_sampler_rate(const sampling_sampler *s, uint64_t key);

#endif
