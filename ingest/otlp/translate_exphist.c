/*
 * translate_exphist.c - OTLP exponential histogram buckets -> classic
 * (cumulative, `le`) Prometheus buckets.
 *
 * Prometheus 3 stores an exponential histogram as a native histogram; sonde's
 * storage holds float samples only, so the point becomes classic buckets:
 *
 *   - At scale s the base is 2^(2^-s). OTLP positive bucket k counts values in
 *     (base^k, base^(k+1)], so its upper bound is le = base^(k+1) (the same
 *     bound a Prometheus native histogram gives that bucket, index k+1).
 *   - Negative bucket k counts values in [-base^(k+1), -base^k): its classic
 *     upper bound is le = -base^k. Negative buckets come first, the largest
 *     magnitude first.
 *   - The zero bucket counts [-zero_threshold, zero_threshold]: le =
 *     zero_threshold (0 when unset). It is always emitted, so the series set
 *     of a histogram does not depend on whether a zero was observed yet.
 *   - Scales above 8 are first reduced to 8, as Prometheus does for native
 *     histograms. Then, while the finite buckets (negative + zero + positive)
 *     would exceed 160, the scale is reduced by one more: bucket k becomes
 *     bucket floor(k/2) at scale s-1, whose range is the union of the two.
 *   - Bounds are computed as ldexp(exp2(r / 2^s), q) for k = q*2^s + r, so
 *     powers of two are exact. A bound that is not above the previous one
 *     (underflow to 0, a positive bucket inside the zero threshold) is merged
 *     into the previous bucket; a bound that overflows to +Inf is left to
 *     the +Inf bucket, which the caller writes from the point's count.
 *
 * Thread: any. Pure function.
 */
#include <math.h>
#include <string.h>

#include "translate_internal.h"

/* floor(k / 2^d) for any sign (C's >> on negative values is
 * implementation-defined). */
static int64_t floor_shift(int64_t k, unsigned d)
{
    if (d >= 63)
        return k < 0 ? -1 : 0;
    if (k >= 0)
        return k >> d;
    return -(((-(k + 1)) >> d) + 1);
}

/* base^k = 2^(k / 2^s), clamped into what a double can express. */
static double lower_bound(int64_t k, int32_t s)
{
    int64_t e;
    double frac = 1.0;
    if (s >= 0) {
        int64_t q = floor_shift(k, (unsigned)s);
        int64_t r = k - q * ((int64_t)1 << s);
        frac = exp2((double)r / (double)((int64_t)1 << s));
        e = q;
    } else {
        unsigned sh = (unsigned)(-(int64_t)s);
        if (k == 0)
            e = 0;
        else if (sh > 30 || k > ((int64_t)1 << 31) || k < -((int64_t)1 << 31))
            e = k > 0 ? 4000 : -4000;
        else
            e = k * ((int64_t)1 << sh);
    }
    if (e > 4000)
        e = 4000;
    if (e < -4000)
        e = -4000;
    return ldexp(frac, (int)e);
}

static int64_t span_at(int64_t off, size_t n, unsigned d)
{
    if (n == 0)
        return 0;
    return floor_shift(off + (int64_t)n - 1, d) - floor_shift(off, d) + 1;
}

size_t otlp_tr_exphist_buckets(int32_t scale, double zero_threshold, uint64_t zero_count,
                               int32_t pos_offset, const uint64_t *pos, size_t npos,
                               int32_t neg_offset, const uint64_t *neg, size_t nneg,
                               otlp_tr_bucket *out, int32_t *out_scale)
{
    unsigned d =
        scale > OTLP_TR_EXPHIST_MAX_SCALE ? (unsigned)(scale - OTLP_TR_EXPHIST_MAX_SCALE) : 0;
    while (d < 64 && span_at(neg_offset, nneg, d) + span_at(pos_offset, npos, d) + 1 >
                         OTLP_TR_EXPHIST_MAX_BUCKETS)
        d++;
    int32_t s = (int32_t)((int64_t)scale - (int64_t)d);
    *out_scale = s;

    size_t nn = (size_t)span_at(neg_offset, nneg, d);
    size_t np = (size_t)span_at(pos_offset, npos, d);
    size_t total = nn + 1 + np; /* <= nneg + npos + 1: merging never adds buckets */
    for (size_t i = 0; i < total; i++)
        out[i].count = 0;

    /* Per-bucket counts in ascending le order. */
    int64_t nbase = floor_shift(neg_offset, d);
    for (size_t i = 0; i < nneg; i++) {
        int64_t m = floor_shift((int64_t)neg_offset + (int64_t)i, d) - nbase;
        out[nn - 1 - (size_t)m].count += neg[i];
    }
    for (size_t m = 0; m < nn; m++)
        out[nn - 1 - m].le = -lower_bound(nbase + (int64_t)m, s);
    double zt = zero_threshold > 0 && isfinite(zero_threshold) ? zero_threshold : 0.0;
    out[nn].le = zt;
    out[nn].count = zero_count;
    int64_t pbase = floor_shift(pos_offset, d);
    for (size_t i = 0; i < npos; i++) {
        int64_t m = floor_shift((int64_t)pos_offset + (int64_t)i, d) - pbase;
        out[nn + 1 + (size_t)m].count += pos[i];
    }
    for (size_t m = 0; m < np; m++)
        out[nn + 1 + m].le = lower_bound(pbase + (int64_t)m + 1, s);

    /* Fold into strictly ascending finite bounds, then accumulate. */
    size_t w = 0;
    uint64_t carry = 0;
    for (size_t i = 0; i < total; i++) {
        double le = out[i].le;
        uint64_t c = out[i].count;
        if (le == 0)
            le = 0.0; /* -0 (a negative bound that underflowed) prints as 0 */
        if (isinf(le) && le < 0) {
            carry += c; /* values <= -Inf: counted by the next bound up */
            continue;
        }
        if (!isfinite(le))
            continue; /* +Inf / NaN: left to the +Inf bucket */
        if (w > 0 && le <= out[w - 1].le) {
            out[w - 1].count += c + carry;
            carry = 0;
            continue;
        }
        out[w].le = le;
        out[w].count = c + carry;
        carry = 0;
        w++;
    }
    uint64_t cum = 0;
    for (size_t i = 0; i < w; i++) {
        cum += out[i].count;
        out[i].count = cum;
    }
    return w;
}
