/*
 * test_sampler.c - the EMA dynamic sampler (sampling/sampler.h): defaults and
 * bad configurations, rate 1 before the first adjustment, a skewed key set
 * (rare keys kept whole, the hot key thinned, re-weighted counts exact to 2%),
 * the throughput goal, burst detection, max_keys overflow, idle keys aging
 * out, clocks that step back or jump far ahead. Time is a fake clock.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "sampling/sampler.h"
#include "test.h"

#define IV 15000 /* ms: the default interval */

static uint64_t lcg_state = 42;
static uint32_t lcg(void)
{
    lcg_state = lcg_state * 6364136223846793005ULL + 1442695040888963407ULL;
    return (uint32_t)(lcg_state >> 33);
}

static sampling_sampler *sampler(const sampling_sampler_config *c, int64_t now)
{
    sampling_sampler *s = NULL;
    CHECK_EQ_INT(sampling_sampler_create(c, now, &s), SONDE_OK);
    return s;
}

static void test_defaults(void)
{
    sampling_sampler_config c;
    sampling_sampler_config_default(&c);
    CHECK_EQ_INT(c.goal, SAMPLING_GOAL_RATE);
    CHECK(c.goal_rate == 10.0);
    CHECK(c.goal_throughput == 100.0);
    CHECK_EQ_INT(c.adjust_interval_ms, 15000);
    CHECK(c.ema_weight == 0.5);
    CHECK(c.age_out == 0.5);
    CHECK(c.burst_multiple == 2.0);
    CHECK_EQ_INT(c.burst_detection_delay, 3);
    CHECK_EQ_INT(c.max_keys, 500);
    CHECK(c.rare_max == 5.0);

    sampling_sampler *s = sampler(NULL, 0);
    if (!s)
        return;
    CHECK_EQ_INT(sampling_sampler_keys(s), 0);
    CHECK_EQ_INT(sampling_sampler_rate(s, 7), 1);
    sampling_sampler_destroy(s);
    sampling_sampler_destroy(NULL);
}

static void test_invalid(void)
{
    enum { N = 17 };
    for (int i = 0; i < N; i++) {
        sampling_sampler_config c;
        sampling_sampler_config_default(&c);
        switch (i) {
        case 0: c.goal = (sampling_goal)7; break;
        case 1: c.goal_rate = 0.5; break;
        case 2: c.goal_rate = NAN; break;
        case 3: c.goal_throughput = 0; break;
        case 4: c.goal_throughput = INFINITY; break;
        case 5: c.adjust_interval_ms = 0; break;
        case 6: c.adjust_interval_ms = -15000; break;
        case 7: c.adjust_interval_ms = INT64_MAX; break;
        case 8: c.ema_weight = 0; break;
        case 9: c.ema_weight = 1.5; break;
        case 10: c.age_out = -1; break;
        case 11: c.burst_multiple = 0.5; break;
        case 12: c.burst_multiple = -2; break;
        case 13: c.max_keys = 0; break;
        case 14: c.max_keys = SAMPLING_SAMPLER_MAX_KEYS_LIMIT + 1; break;
        case 15: c.rare_max = -1; break;
        case 16: c.rare_max = NAN; break;
        }
        sampling_sampler *s = (sampling_sampler *)&c; /* must be reset to NULL */
        sonde_status st = sampling_sampler_create(&c, 0, &s);
        if (st != SONDE_ERR_INVALID)
            fprintf(stderr, "  invalid case %d accepted\n", i);
        CHECK_EQ_INT(st, SONDE_ERR_INVALID);
        CHECK(s == NULL);
    }
    /* the edges of the ranges are fine */
    sampling_sampler_config c;
    sampling_sampler_config_default(&c);
    c.goal_rate = 1;
    c.ema_weight = 1;
    c.burst_multiple = 0;
    c.max_keys = 1;
    c.rare_max = 0;
    c.age_out = 0;
    sampling_sampler *s = sampler(&c, 0);
    sampling_sampler_destroy(s);
}

static void test_rate_one_before_first_adjustment(void)
{
    sampling_sampler *s = sampler(NULL, 1000);
    if (!s)
        return;
    int kept = 0;
    for (int i = 0; i < 20000; i++) {
        uint32_t r = 0;
        kept += sampling_sampler_keep(s, (uint64_t)(i % 3), 1000 + i * (IV - 1) / 20000, &r);
        CHECK_EQ_INT(r, 1);
    }
    CHECK_EQ_INT(kept, 20000);
    sampling_sampler_stats st;
    sampling_sampler_stats_get(s, &st);
    CHECK_EQ_INT(st.adjustments, 0);
    CHECK_EQ_INT(st.current, 20000);
    CHECK_EQ_INT(sampling_sampler_keys(s), 3);
    sampling_sampler_destroy(s);
}

/* ---- the skewed key set ---- */

#define HOT 1000000u
#define NRARE 300
#define INTERVALS 20
#define WARMUP 3

typedef struct tally {
    uint64_t items, kept, reweighted;
} tally;

/* One interval: every rare key 1..3 items, the hot key 9x their total (90%
 * of the items), shuffled and spread over the interval. */
static size_t skewed_interval(uint64_t *keys, size_t cap)
{
    size_t n = 0;
    for (uint64_t k = 1; k <= NRARE; k++)
        for (uint32_t j = 1 + lcg() % 3; j > 0 && n < cap; j--)
            keys[n++] = k;
    size_t rare = n;
    for (size_t i = 0; i < 9 * rare && n < cap; i++)
        keys[n++] = HOT;
    for (size_t i = n - 1; i > 0; i--) {
        size_t j = lcg() % (i + 1);
        uint64_t t = keys[i];
        keys[i] = keys[j];
        keys[j] = t;
    }
    return n;
}

static void skewed(double goal_rate, double lo, double hi, uint32_t min_hot_rate, double tol)
{
    sampling_sampler_config c;
    sampling_sampler_config_default(&c);
    c.goal_rate = goal_rate;
    sampling_sampler *s = sampler(&c, 0);
    if (!s)
        return;
    enum { CAP = 20000 };
    static uint64_t keys[CAP];
    static tally per[NRARE + 1]; /* 0: the hot key */
    memset(per, 0, sizeof per);
    tally all = {0, 0, 0};
    bool rare_always = true;
    uint32_t hot_rate_min = UINT32_MAX;
    lcg_state = 42;
    for (int iv = 0; iv < INTERVALS; iv++) {
        size_t n = skewed_interval(keys, CAP);
        for (size_t i = 0; i < n; i++) {
            int64_t now = (int64_t)iv * IV + (int64_t)(i * IV / n);
            uint32_t r = 0;
            bool k = sampling_sampler_keep(s, keys[i], now, &r);
            if (iv < WARMUP)
                continue;
            tally *t = &per[keys[i] == HOT ? 0 : keys[i]];
            t->items++;
            t->kept += k;
            t->reweighted += k ? r : 0;
            all.items++;
            all.kept += k;
            if (keys[i] != HOT && (!k || r != 1))
                rare_always = false;
            if (keys[i] == HOT && r < hot_rate_min)
                hot_rate_min = r;
        }
    }
    double share = (double)all.kept / (double)all.items;
    double hot_err = fabs((double)per[0].reweighted - (double)per[0].items) / (double)per[0].items;
    fprintf(stderr,
            "  goal_rate %.0f: items %" PRIu64 " kept %" PRIu64 " share %.4f (x goal %.3f), "
            "hot rate >= %u, hot re-weighted %" PRIu64 " of %" PRIu64 " (%.3f%%), keys %zu\n",
            goal_rate, all.items, all.kept, share, share * goal_rate, hot_rate_min,
            per[0].reweighted, per[0].items, 100 * hot_err, sampling_sampler_keys(s));
    CHECK(rare_always);
    CHECK(hot_rate_min >= min_hot_rate);
    CHECK(share >= lo / goal_rate && share <= hi / goal_rate);
    CHECK(hot_err <= tol);
    CHECK_EQ_INT(sampling_sampler_keys(s), NRARE + 1);
    sampling_sampler_destroy(s);
}

/* Default goal 10: the rare keys are 10% of the items, so keeping them whole
 * spends the whole goal and the hot key is cut to about one item per
 * interval (rate ~ its count, ~5400): the kept share is ~1/10. The hot key
 * keeps only ~17 items over the run, so one item more or less is ~6% of its
 * re-weighted count: 8% is the honest bound here (it measures ~1%). */
static void test_skewed_default_goal(void)
{
    skewed(10, 0.9, 1.2, 1000, 0.08);
}

/* Goal 4: the rare keys spend 40% of the goal, the hot key gets the rest
 * (~900 of its ~5400 per interval, rate ~6): the kept share stays near 1/4,
 * a little under because rates are rounded up. */
static void test_skewed_goal_4(void)
{
    skewed(4, 0.85, 1.1, 4, 0.02);
}

/* ---- throughput ---- */

static void test_throughput(void)
{
    sampling_sampler_config c;
    sampling_sampler_config_default(&c);
    c.goal = SAMPLING_GOAL_THROUGHPUT;
    c.goal_throughput = 100; /* 1500 per 15 s interval */
    sampling_sampler *s = sampler(&c, 0);
    if (!s)
        return;
    /* 12 keys, 20000 down to 10 items per interval (halving): ~40000 */
    uint64_t items = 0, kept = 0;
    for (int iv = 0; iv < INTERVALS; iv++) {
        uint32_t per_key[12];
        uint32_t total = 0;
        for (int k = 0; k < 12; k++)
            total += per_key[k] = 20000u >> k;
        uint32_t i = 0;
        for (int k = 0; k < 12; k++) {
            for (uint32_t j = 0; j < per_key[k]; j++, i++) {
                int64_t now = (int64_t)iv * IV + (int64_t)i * IV / total;
                bool keep = sampling_sampler_keep(s, (uint64_t)k + 1, now, NULL);
                if (iv >= WARMUP) {
                    items++;
                    kept += keep;
                }
            }
        }
    }
    double want = 100.0 * 15 * (INTERVALS - WARMUP);
    fprintf(stderr, "  throughput: items %" PRIu64 " kept %" PRIu64 " want %.0f (%.3f)\n", items,
            kept, want, (double)kept / want);
    CHECK((double)kept >= 0.75 * want && (double)kept <= 1.25 * want);
    CHECK(sampling_sampler_rate(s, 1) > sampling_sampler_rate(s, 6));
    CHECK(sampling_sampler_rate(s, 12) == 1);
    sampling_sampler_destroy(s);
}

/* ---- bursts ---- */

/* THROUGHPUT 100/s (1500 per interval); key 1 steady at 3000 per interval
 * (rate 2) for 6 intervals, then 30000 items in the first 3 s of interval 6.
 * With burst detection the rate rises within the interval; without, it stays
 * until the interval ends. */
static sampling_sampler *burst_run(double multiple, uint32_t *rate_before, uint32_t *kept_burst)
{
    sampling_sampler_config c;
    sampling_sampler_config_default(&c);
    c.goal = SAMPLING_GOAL_THROUGHPUT;
    c.burst_multiple = multiple;
    sampling_sampler *s = sampler(&c, 0);
    if (!s)
        return NULL;
    for (int iv = 0; iv < 6; iv++)
        for (int i = 0; i < 3000; i++)
            sampling_sampler_keep(s, 1, (int64_t)iv * IV + i * 5, NULL);
    *rate_before = sampling_sampler_rate(s, 1);
    *kept_burst = 0;
    for (int i = 0; i < 30000; i++)
        *kept_burst += sampling_sampler_keep(s, 1, 6 * IV + i / 10, NULL);
    return s;
}

static void test_burst(void)
{
    uint32_t rate0 = 0, kept = 0;
    sampling_sampler *s = burst_run(2.0, &rate0, &kept);
    if (!s)
        return;
    sampling_sampler_stats st;
    sampling_sampler_stats_get(s, &st);
    fprintf(stderr,
            "  burst: rate %u -> %u, kept %u of 30000, adjustments %" PRIu64 " (bursts %" PRIu64
            ")\n",
            rate0, sampling_sampler_rate(s, 1), kept, st.adjustments, st.bursts);
    CHECK_EQ_INT(rate0, 2);
    CHECK(st.bursts >= 1);
    CHECK_EQ_INT(st.adjustments, 6 + st.bursts);
    CHECK(sampling_sampler_rate(s, 1) >= 4);
    CHECK(kept < 15000 * 3 / 4); /* the rate-2 share, had nothing happened */
    sampling_sampler_destroy(s);

    /* burst detection off: the same traffic waits for the interval end */
    s = burst_run(0.0, &rate0, &kept);
    if (!s)
        return;
    sampling_sampler_stats_get(s, &st);
    CHECK_EQ_INT(st.bursts, 0);
    CHECK_EQ_INT(st.adjustments, 6);
    CHECK_EQ_INT(sampling_sampler_rate(s, 1), rate0);
    CHECK_EQ_INT(kept, 15000);
    sampling_sampler_destroy(s);

    /* no burst before burst_detection_delay (3) intervals */
    s = sampler(NULL, 0);
    if (!s)
        return;
    for (int i = 0; i < 1000; i++)
        sampling_sampler_keep(s, 1, i, NULL);
    for (int i = 0; i < 10000; i++)
        sampling_sampler_keep(s, 1, IV + i / 10, NULL);
    sampling_sampler_stats_get(s, &st);
    CHECK_EQ_INT(st.bursts, 0);
    CHECK_EQ_INT(st.adjustments, 1);
    sampling_sampler_destroy(s);
}

/* ---- bounds ---- */

static void test_overflow(void)
{
    sampling_sampler_config c;
    sampling_sampler_config_default(&c);
    c.max_keys = 10;
    sampling_sampler *s = sampler(&c, 0);
    if (!s)
        return;
    /* keys 1..10 tracked, 11..1010 share the overflow key: 1000 keys x 20
     * items per interval make it one busy key */
    for (int iv = 0; iv < 5; iv++) {
        for (uint64_t k = 1; k <= 1010; k++) {
            int n = k <= 10 ? 2 : 20;
            for (int j = 0; j < n; j++)
                sampling_sampler_keep(s, k, (int64_t)iv * IV + (int64_t)k, NULL);
        }
    }
    CHECK_EQ_INT(sampling_sampler_keys(s), 10);
    sampling_sampler_stats st;
    sampling_sampler_stats_get(s, &st);
    CHECK(st.overflow_used);
    uint32_t over = sampling_sampler_rate(s, 500);
    CHECK(over > 1);
    CHECK_EQ_INT(sampling_sampler_rate(s, 1010), over);
    CHECK_EQ_INT(sampling_sampler_rate(s, 5), 1); /* tracked and rare */
    /* an overflow item is sampled at the shared rate */
    uint32_t r = 0;
    sampling_sampler_keep(s, 123456, 5 * IV - 1, &r);
    CHECK_EQ_INT(r, over);
    sampling_sampler_destroy(s);
}

static void test_decay_and_table(void)
{
    sampling_sampler_config c;
    sampling_sampler_config_default(&c);
    c.max_keys = 2000;
    c.burst_multiple = 0; /* the shifting traffic below would look like bursts */
    sampling_sampler *s = sampler(&c, 0);
    if (!s)
        return;
    /* interval 0: 1500 keys; afterwards only the even ones */
    for (uint64_t k = 1; k <= 1500; k++)
        for (int j = 0; j < 3; j++)
            sampling_sampler_keep(s, k * 7919, (int64_t)k, NULL);
    CHECK_EQ_INT(sampling_sampler_keys(s), 1500);
    for (int iv = 1; iv < 3; iv++)
        for (uint64_t k = 2; k <= 1500; k += 2)
            sampling_sampler_keep(s, k * 7919, (int64_t)iv * IV + (int64_t)k, NULL);
    /* odd keys: 1.5, 0.75, 0.375 < 0.5: gone at the third adjustment (the
     * first call of interval 3); right after it, every even key must still be
     * found (backward-shift deletion kept the probe runs whole): a lookup
     * that missed would insert the key again */
    bool found = true;
    for (uint64_t k = 2; k <= 1500; k += 2) {
        sampling_sampler_keep(s, k * 7919, 3 * IV + (int64_t)k, NULL);
        if (sampling_sampler_keys(s) != 750)
            found = false;
    }
    CHECK(found);
    CHECK_EQ_INT(sampling_sampler_keys(s), 750);
    for (int iv = 4; iv < 8; iv++)
        for (uint64_t k = 2; k <= 1500; k += 2)
            sampling_sampler_keep(s, k * 7919, (int64_t)iv * IV + (int64_t)k, NULL);
    CHECK_EQ_INT(sampling_sampler_keys(s), 750);
    /* odd keys come back as new keys */
    for (uint64_t k = 1; k <= 1500; k += 2)
        sampling_sampler_keep(s, k * 7919, 8 * IV, NULL);
    CHECK_EQ_INT(sampling_sampler_keys(s), 1500);

    /* a gap of 1000 intervals: everything decays, only the newcomer is left */
    uint32_t r = 0;
    CHECK(sampling_sampler_keep(s, 42, 1008LL * IV, &r));
    CHECK_EQ_INT(r, 1);
    CHECK_EQ_INT(sampling_sampler_keys(s), 1);
    sampling_sampler_stats st;
    sampling_sampler_stats_get(s, &st);
    CHECK_EQ_INT(st.intervals, 1008);
    CHECK(st.ema_total == 0.0);
    sampling_sampler_destroy(s);
}

/* Idle intervals decay the averages (2 idle intervals: x 1/4) rather than
 * being skipped. */
static void test_catch_up_decays(void)
{
    sampling_sampler *s = sampler(NULL, 0);
    if (!s)
        return;
    for (int i = 0; i < 4000; i++)
        sampling_sampler_keep(s, 1, i, NULL);
    sampling_sampler_keep(s, 1, IV, NULL); /* avg 2000 */
    sampling_sampler_stats st;
    sampling_sampler_stats_get(s, &st);
    CHECK(fabs(st.ema_total - 2000) < 1e-9);
    /* interval 1 ends with 1 item, then intervals 2 and 3 pass idle */
    sampling_sampler_keep(s, 1, 4 * IV + 5, NULL);
    sampling_sampler_stats_get(s, &st);
    CHECK(fabs(st.ema_total - (0.5 * 1 + 0.5 * 2000) * 0.25) < 1e-9);
    CHECK_EQ_INT(st.intervals, 4);
    CHECK_EQ_INT(st.adjustments, 2);
    sampling_sampler_destroy(s);
}

static void test_clock(void)
{
    sampling_sampler *s = sampler(NULL, 1000000);
    if (!s)
        return;
    for (int i = 0; i < 3000; i++)
        sampling_sampler_keep(s, (uint64_t)(i % 5), 1000000 + i, NULL);
    bool ok = true;
    /* backwards, far backwards, to the ends of int64, and forward again */
    const int64_t times[] = {999999, 0, -5 * IV, INT64_MIN, INT64_MIN + 1, INT64_MAX,
                             INT64_MAX,       INT64_MAX - IV, 0, 1000000 + 3 * IV};
    for (size_t t = 0; t < sizeof times / sizeof times[0]; t++) {
        for (int i = 0; i < 100; i++) {
            uint32_t r = 0;
            sampling_sampler_keep(s, (uint64_t)(i % 7), times[t], &r);
            if (r < 1)
                ok = false;
        }
    }
    CHECK(ok);
    sampling_sampler_stats st;
    sampling_sampler_stats_get(s, &st);
    CHECK(st.intervals > 0);
    CHECK(isfinite(st.ema_total));
    sampling_sampler_destroy(s);

    /* a restarted interval ends interval_ms after the step back */
    s = sampler(NULL, 10 * IV);
    if (!s)
        return;
    sampling_sampler_keep(s, 1, 10 * IV, NULL);
    sampling_sampler_keep(s, 1, 2 * IV, NULL); /* back: restarts at 2 IV */
    sampling_sampler_keep(s, 1, 3 * IV - 1, NULL);
    sampling_sampler_stats_get(s, &st);
    CHECK_EQ_INT(st.adjustments, 0);
    sampling_sampler_keep(s, 1, 3 * IV, NULL);
    sampling_sampler_stats_get(s, &st);
    CHECK_EQ_INT(st.adjustments, 1);
    sampling_sampler_destroy(s);
}

/* The counter rule: at a fixed rate r, exactly the 1st, (r+1)th, ... items
 * are kept. */
static void test_deterministic_counter(void)
{
    sampling_sampler *s = sampler(NULL, 0);
    if (!s)
        return;
    for (int iv = 0; iv < 4; iv++)
        for (int i = 0; i < 10000; i++)
            sampling_sampler_keep(s, 1, (int64_t)iv * IV + i, NULL);
    /* one key alone: goal 1000 of 10000 -> rate 10 */
    uint32_t r = 0;
    int kept = 0, first_kept = -1;
    for (int i = 0; i < 1000; i++) {
        bool k = sampling_sampler_keep(s, 1, 4 * IV + i, &r);
        if (k && first_kept < 0)
            first_kept = i;
        kept += k;
    }
    CHECK_EQ_INT(r, 10);
    CHECK_EQ_INT(first_kept, 0); /* 10000 items per interval at rate 10: in phase */
    CHECK_EQ_INT(kept, 100);
    sampling_sampler_destroy(s);
}

int main(void)
{
    RUN(test_defaults);
    RUN(test_invalid);
    RUN(test_rate_one_before_first_adjustment);
    RUN(test_skewed_default_goal);
    RUN(test_skewed_goal_4);
    RUN(test_throughput);
    RUN(test_burst);
    RUN(test_overflow);
    RUN(test_decay_and_table);
    RUN(test_catch_up_decays);
    RUN(test_clock);
    RUN(test_deterministic_counter);
    return TEST_DONE();
}
