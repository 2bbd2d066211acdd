/*
 * functions.c - PromQL functions: the signature table the parser checks
 * against, and their evaluation over the step grid.
 *
 * Range-vector functions walk each series' samples with two cursors (the
 * window (wend - range, wend] only moves forward as steps advance), so a
 * range query costs O(samples + steps) per series. rate/increase/delta
 * follow Prometheus' extrapolatedRate (promql/functions.go) exactly,
 * including counter resets and the zero-point clamp for counters. A window
 * holding native histogram samples goes through query_hist_range() (end of
 * this file); float-only windows never do.
 *
 * Threads: one query on one thread, memory in the query arena; a range-vector
 * function over 32 or more series also runs on one helper thread
 * (query-par-1, see range_parallel) with its own context copy and arena.
 */
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "../core/parse.h"
#include "../core/utf8.h"
#include "eval_internal.h"

double query_quantile(double q, double *vals, size_t n); /* aggregate.c */

enum {
    F_RATE = 1,
    F_INCREASE,
    F_DELTA,
    F_IRATE,
    F_IDELTA,
    F_AVG_OT,
    F_MIN_OT,
    F_MAX_OT,
    F_SUM_OT,
    F_COUNT_OT,
    F_LAST_OT,
    F_FIRST_OT,
    F_STDDEV_OT,
    F_STDVAR_OT,
    F_QUANTILE_OT,
    F_PRESENT_OT,
    F_MAD_OT,
    F_CHANGES,
    F_RESETS,
    F_DERIV,
    F_PREDICT_LINEAR,
    F_ABSENT_OT,
    F_HOLT_WINTERS,
    F_ABS,
    F_CEIL,
    F_FLOOR,
    F_EXP,
    F_LN,
    F_LOG2,
    F_LOG10,
    F_SQRT,
    F_SGN,
    F_SIN,
    F_COS,
    F_TAN,
    F_ASIN,
    F_ACOS,
    F_ATAN,
    F_SINH,
    F_COSH,
    F_TANH,
    F_ASINH,
    F_ACOSH,
    F_ATANH,
    F_DEG,
    F_RAD,
    F_ROUND,
    F_CLAMP,
    F_CLAMP_MIN,
    F_CLAMP_MAX,
    F_TIMESTAMP,
    F_SORT,
    F_SORT_DESC,
    F_LABEL_REPLACE,
    F_LABEL_JOIN,
    F_ABSENT,
    F_HISTOGRAM_QUANTILE,
    F_SCALAR,
    F_VECTOR,
    F_TIME,
    F_PI,
    F_DAY_OF_MONTH,
    F_DAY_OF_WEEK,
    F_DAY_OF_YEAR,
    F_DAYS_IN_MONTH,
    F_HOUR,
    F_MINUTE,
    F_MONTH,
    F_YEAR,
    F_TS_MIN_OT,
    F_TS_MAX_OT,
    F_TS_LAST_OT,
    F_TS_FIRST_OT,
    F_SORT_BY_LABEL,
    F_SORT_BY_LABEL_DESC,
    F_STEP,
    F_RANGE,
    F_START,
    F_END,
    F_MIN_OF,
    F_MAX_OF,
    F_INFO,
    F_NATIVE_HISTOGRAM, /* histogram_count & co.: native histograms only */
};

#define S QUERY_TYPE_SCALAR
#define V QUERY_TYPE_VECTOR
#define M QUERY_TYPE_MATRIX
#define STR QUERY_TYPE_STRING

static const query_func FUNCS[] = {
    {"rate", {M}, 1, 1, V, F_RATE},
    {"increase", {M}, 1, 1, V, F_INCREASE},
    {"delta", {M}, 1, 1, V, F_DELTA},
    {"irate", {M}, 1, 1, V, F_IRATE},
    {"idelta", {M}, 1, 1, V, F_IDELTA},
    {"avg_over_time", {M}, 1, 1, V, F_AVG_OT},
    {"min_over_time", {M}, 1, 1, V, F_MIN_OT},
    {"max_over_time", {M}, 1, 1, V, F_MAX_OT},
    {"sum_over_time", {M}, 1, 1, V, F_SUM_OT},
    {"count_over_time", {M}, 1, 1, V, F_COUNT_OT},
    {"last_over_time", {M}, 1, 1, V, F_LAST_OT},
    {"first_over_time", {M}, 1, 1, V, F_FIRST_OT},
    {"stddev_over_time", {M}, 1, 1, V, F_STDDEV_OT},
    {"stdvar_over_time", {M}, 1, 1, V, F_STDVAR_OT},
    {"quantile_over_time", {S, M}, 2, 2, V, F_QUANTILE_OT},
    {"present_over_time", {M}, 1, 1, V, F_PRESENT_OT},
    {"mad_over_time", {M}, 1, 1, V, F_MAD_OT},
    {"changes", {M}, 1, 1, V, F_CHANGES},
    {"resets", {M}, 1, 1, V, F_RESETS},
    {"deriv", {M}, 1, 1, V, F_DERIV},
    {"predict_linear", {M, S}, 2, 2, V, F_PREDICT_LINEAR},
    {"absent_over_time", {M}, 1, 1, V, F_ABSENT_OT},
    {"holt_winters", {M, S, S}, 3, 3, V, F_HOLT_WINTERS},
    {"double_exponential_smoothing", {M, S, S}, 3, 3, V, F_HOLT_WINTERS},
    {"abs", {V}, 1, 1, V, F_ABS},
    {"ceil", {V}, 1, 1, V, F_CEIL},
    {"floor", {V}, 1, 1, V, F_FLOOR},
    {"exp", {V}, 1, 1, V, F_EXP},
    {"ln", {V}, 1, 1, V, F_LN},
    {"log2", {V}, 1, 1, V, F_LOG2},
    {"log10", {V}, 1, 1, V, F_LOG10},
    {"sqrt", {V}, 1, 1, V, F_SQRT},
    {"sgn", {V}, 1, 1, V, F_SGN},
    {"sin", {V}, 1, 1, V, F_SIN},
    {"cos", {V}, 1, 1, V, F_COS},
    {"tan", {V}, 1, 1, V, F_TAN},
    {"asin", {V}, 1, 1, V, F_ASIN},
    {"acos", {V}, 1, 1, V, F_ACOS},
    {"atan", {V}, 1, 1, V, F_ATAN},
    {"sinh", {V}, 1, 1, V, F_SINH},
    {"cosh", {V}, 1, 1, V, F_COSH},
    {"tanh", {V}, 1, 1, V, F_TANH},
    {"asinh", {V}, 1, 1, V, F_ASINH},
    {"acosh", {V}, 1, 1, V, F_ACOSH},
    {"atanh", {V}, 1, 1, V, F_ATANH},
    {"deg", {V}, 1, 1, V, F_DEG},
    {"rad", {V}, 1, 1, V, F_RAD},
    {"round", {V, S}, 1, 2, V, F_ROUND},
    {"clamp", {V, S, S}, 3, 3, V, F_CLAMP},
    {"clamp_min", {V, S}, 2, 2, V, F_CLAMP_MIN},
    {"clamp_max", {V, S}, 2, 2, V, F_CLAMP_MAX},
    {"timestamp", {V}, 1, 1, V, F_TIMESTAMP},
    {"sort", {V}, 1, 1, V, F_SORT},
    {"sort_desc", {V}, 1, 1, V, F_SORT_DESC},
    {"label_replace", {V, STR, STR, STR, STR}, 5, 5, V, F_LABEL_REPLACE},
    {"label_join", {V, STR, STR, STR}, 3, -1, V, F_LABEL_JOIN},
    {"info", {V, V}, 1, 2, V, F_INFO},
    {"absent", {V}, 1, 1, V, F_ABSENT},
    {"histogram_quantile", {S, V}, 2, 2, V, F_HISTOGRAM_QUANTILE},
    /* histogram_fraction and histogram_quantiles also work on classic `le`
     * buckets; the others read native histogram samples only and ignore
     * floats (sonde stores no native histograms: empty vectors). */
    {"histogram_count", {V}, 1, 1, V, F_NATIVE_HISTOGRAM},
    {"histogram_sum", {V}, 1, 1, V, F_NATIVE_HISTOGRAM},
    {"histogram_avg", {V}, 1, 1, V, F_NATIVE_HISTOGRAM},
    {"histogram_stddev", {V}, 1, 1, V, F_NATIVE_HISTOGRAM},
    {"histogram_stdvar", {V}, 1, 1, V, F_NATIVE_HISTOGRAM},
    {"histogram_fraction", {S, S, V}, 3, 3, V, F_HISTOGRAM_QUANTILE},
    {"histogram_quantiles", {V, STR, S}, 3, -1, V, F_HISTOGRAM_QUANTILE},
    {"scalar", {V}, 1, 1, S, F_SCALAR},
    {"vector", {S}, 1, 1, V, F_VECTOR},
    {"time", {S}, 0, 0, S, F_TIME},
    {"pi", {S}, 0, 0, S, F_PI},
    {"day_of_month", {V}, 0, 1, V, F_DAY_OF_MONTH},
    {"day_of_week", {V}, 0, 1, V, F_DAY_OF_WEEK},
    {"day_of_year", {V}, 0, 1, V, F_DAY_OF_YEAR},
    {"days_in_month", {V}, 0, 1, V, F_DAYS_IN_MONTH},
    {"hour", {V}, 0, 1, V, F_HOUR},
    {"minute", {V}, 0, 1, V, F_MINUTE},
    {"month", {V}, 0, 1, V, F_MONTH},
    {"year", {V}, 0, 1, V, F_YEAR},
    {"ts_of_min_over_time", {M}, 1, 1, V, F_TS_MIN_OT},
    {"ts_of_max_over_time", {M}, 1, 1, V, F_TS_MAX_OT},
    {"ts_of_last_over_time", {M}, 1, 1, V, F_TS_LAST_OT},
    {"ts_of_first_over_time", {M}, 1, 1, V, F_TS_FIRST_OT},
    {"sort_by_label", {V, STR}, 1, -1, V, F_SORT_BY_LABEL},
    {"sort_by_label_desc", {V, STR}, 1, -1, V, F_SORT_BY_LABEL_DESC},
    {"step", {S}, 0, 0, S, F_STEP},
    {"range", {S}, 0, 0, S, F_RANGE},
    {"start", {S}, 0, 0, S, F_START},
    {"end", {S}, 0, 0, S, F_END},
    {"min_of", {S, S}, 2, 2, S, F_MIN_OF},
    {"max_of", {S, S}, 2, 2, S, F_MAX_OF},
};

#undef S
#undef V
#undef M
#undef STR

const query_func *query_func_lookup(const char *name, size_t len)
{
    for (size_t i = 0; i < sizeof(FUNCS) / sizeof(FUNCS[0]); i++)
        if (strlen(FUNCS[i].name) == len && memcmp(FUNCS[i].name, name, len) == 0)
            return &FUNCS[i];
    /* step() and range() are keywords of duration expressions: any case */
    for (size_t i = 0; i < sizeof(FUNCS) / sizeof(FUNCS[0]); i++)
        if ((FUNCS[i].id == F_STEP || FUNCS[i].id == F_RANGE) && strlen(FUNCS[i].name) == len &&
            strncasecmp(FUNCS[i].name, name, len) == 0)
            return &FUNCS[i];
    return NULL;
}

const char *query_func_name(const query_func *f)
{
    return f->name;
}

/* ---- numeric helpers (Prometheus' kahanSumInc and friends) ---- */

/* Go's math.Max/Min: NaN wins (C's fmax/fmin ignore NaN). */
static double go_max(double a, double b)
{
    return isnan(a) || isnan(b) ? NAN : fmax(a, b);
}
static double go_min(double a, double b)
{
    return isnan(a) || isnan(b) ? NAN : fmin(a, b);
}

static void kahan_inc(double inc, double *sum, double *c)
{
    double t = *sum + inc;
    if (isinf(t))
        *c = 0;
    else if (fabs(*sum) >= fabs(inc))
        *c += (*sum - t) + inc;
    else
        *c += (inc - t) + *sum;
    *sum = t;
}

/*
 * Prometheus' extrapolatedRate, in two parts: what depends only on the
 * window's samples (rate_prep) and what depends on the window's end too
 * (rate_finish). A range query whose step is shorter than the sample
 * interval sees the same samples in several consecutive windows; the range
 * loop then prepares once and finishes per step. Both parts do the very
 * operations of the one-piece function, in its order, so every result is
 * bit-identical.
 */
typedef struct rate_win {
    double result, sampled, avg_between, threshold, to_zero;
    bool has_to_zero;
} rate_win;

static void rate_prep(const sonde_sample *s, size_t n, bool is_counter, bool no_resets, rate_win *w)
{
    double result = s[n - 1].value - s[0].value;
    if (is_counter && !no_resets) {
        double prev = s[0].value;
        for (size_t i = 1; i < n; i++) {
            if (s[i].value < prev)
                result += prev;
            prev = s[i].value;
        }
    }
    w->result = result;
    w->sampled = (double)(s[n - 1].ts_ms - s[0].ts_ms) / 1000.0;
    w->avg_between = w->sampled / (double)(n - 1);
    w->threshold = w->avg_between * 1.1;
    w->has_to_zero = is_counter && result > 0 && s[0].value >= 0;
    w->to_zero = w->has_to_zero ? w->sampled * (s[0].value / result) : 0;
}

static double rate_finish(const rate_win *w, const sonde_sample *first, const sonde_sample *last,
                          int64_t wend, int64_t range, bool is_rate)
{
    int64_t range_start = wend - range, range_end = wend;
    double to_start = (double)(first->ts_ms - range_start) / 1000.0;
    double to_end = (double)(range_end - last->ts_ms) / 1000.0;
    double interval = w->sampled;
    if (to_start >= w->threshold)
        to_start = w->avg_between / 2;
    if (w->has_to_zero && w->to_zero < to_start)
        to_start = w->to_zero;
    interval += to_start;
    if (to_end >= w->threshold)
        to_end = w->avg_between / 2;
    interval += to_end;
    double factor = interval / w->sampled;
    if (is_rate)
        factor /= (double)range / 1000.0;
    return w->result * factor;
}

static bool extrapolated_rate(const sonde_sample *s, size_t n, int64_t wend, int64_t range,
                              bool is_counter, bool is_rate, double *out)
{
    if (n < 2)
        return false;
    rate_win w;
    rate_prep(s, n, is_counter, false, &w);
    *out = rate_finish(&w, &s[0], &s[n - 1], wend, range, is_rate);
    return true;
}

/* interpolate() of Prometheus' extended rate: across a counter reset the
 * counter is taken to restart from 0 at the earlier sample. */
static double rate_interpolate(const sonde_sample *a, const sonde_sample *b, int64_t t,
                               bool is_counter)
{
    double y1 = a->value, y2 = b->value;
    if (is_counter && y2 < y1)
        y1 = 0;
    return y1 + (y2 - y1) * (double)(t - a->ts_ms) / (double)(b->ts_ms - a->ts_ms);
}

/* rate/increase/delta over an anchored or smoothed window: the value at the
 * range end minus the value at the range start (picked, or interpolated when
 * smoothed), no extrapolation; s holds the window with its lookback margins. */
static bool extended_rate(const sonde_sample *s, size_t n, int64_t wend, int64_t range,
                          bool smoothed, bool is_counter, bool is_rate, double *out)
{
    if (n == 0)
        return false;
    int64_t start = wend - range, end = wend;
    size_t last = n - 1, first = 0;
    while (first < last && s[first].ts_ms <= start)
        first++;
    first = first ? first - 1 : 0;
    if (smoothed) {
        size_t k = 0;
        while (k < n - 1 && s[k].ts_ms < end)
            k++;
        last = k;
    }
    /* no sample on one side of the range: nothing to interpolate from */
    if (s[last].ts_ms <= start || s[first].ts_ms > end)
        return false;
    double left = s[first].value, right = s[last].value;
    if (smoothed && s[first].ts_ms < start && first + 1 < n)
        left = rate_interpolate(&s[first], &s[first + 1], start, is_counter);
    if (smoothed && last > 0 && s[last].ts_ms > end)
        right = rate_interpolate(&s[last - 1], &s[last], end, is_counter);
    double result = right - left;
    if (is_counter) {
        /* resets strictly inside the range; the edges handled them already */
        size_t lo = s[first].ts_ms <= start ? first + 1 : first;
        size_t hi = s[last].ts_ms >= end ? last : last + 1;
        double prev = left;
        for (size_t i = lo; i < hi; i++) {
            if (s[i].value < prev)
                result += prev;
            prev = s[i].value;
        }
        if (right < prev)
            result += prev;
    }
    if (is_rate)
        result /= (double)range / 1000.0;
    *out = result;
    return true;
}

static void linear_regression(const sonde_sample *s, size_t n, int64_t icept_t, double *slope,
                              double *icept)
{
    double sx = 0, cx = 0, sy = 0, cy = 0, sxy = 0, cxy = 0, sx2 = 0, cx2 = 0;
    double inity = s[0].value;
    bool consty = true;
    for (size_t i = 0; i < n; i++) {
        if (consty && i > 0 && s[i].value != inity)
            consty = false;
        double x = (double)(s[i].ts_ms - icept_t) / 1e3;
        kahan_inc(x, &sx, &cx);
        kahan_inc(s[i].value, &sy, &cy);
        kahan_inc(x * s[i].value, &sxy, &cxy);
        kahan_inc(x * x, &sx2, &cx2);
    }
    if (consty) {
        if (isinf(inity)) {
            *slope = NAN;
            *icept = NAN;
        } else {
            *slope = 0;
            *icept = inity;
        }
        return;
    }
    double dn = (double)n;
    sx += cx;
    sy += cy;
    sxy += cxy;
    sx2 += cx2;
    double cov = sxy - sx * sy / dn;
    double var = sx2 - sx * sx / dn;
    *slope = cov / var;
    *icept = sy / dn - *slope * sx / dn;
}

static double mean_kahan(const sonde_sample *s, size_t n)
{
    double sum = 0, mean = 0, count = 0, c = 0;
    bool incremental = false;
    for (size_t i = 0; i < n; i++) {
        double f = s[i].value;
        count++;
        if (!incremental) {
            double ns = sum, nc = c;
            kahan_inc(f, &ns, &nc);
            if (count == 1 || !isinf(ns)) {
                sum = ns;
                c = nc;
                continue;
            }
            incremental = true;
            mean = sum / (count - 1);
            c /= count - 1;
        }
        if (isinf(mean)) {
            if (isinf(f) && (mean > 0) == (f > 0))
                continue;
            if (!isinf(f) && !isnan(f))
                continue;
        }
        double corrected = mean + c;
        kahan_inc(f / count - corrected / count, &mean, &c);
    }
    return incremental ? mean + c : (sum + c) / count;
}

/* Returns false when the function yields no point for this window. */
static bool range_fn(arena *tmp, int id, const sonde_sample *s, size_t n, int64_t wend,
                     int64_t range, int64_t step_t, const double *p, double *out)
{
    if (n == 0)
        return false;
    switch (id) {
    case F_RATE:
        return extrapolated_rate(s, n, wend, range, true, true, out);
    case F_INCREASE:
        return extrapolated_rate(s, n, wend, range, true, false, out);
    case F_DELTA:
        return extrapolated_rate(s, n, wend, range, false, false, out);
    case F_IRATE:
    case F_IDELTA: {
        if (n < 2)
            return false;
        const sonde_sample *last = &s[n - 1], *prev = &s[n - 2];
        double r =
            (id == F_IRATE && last->value < prev->value) ? last->value : last->value - prev->value;
        int64_t dt = last->ts_ms - prev->ts_ms;
        if (dt == 0)
            return false;
        if (id == F_IRATE)
            r /= (double)dt / 1000.0;
        *out = r;
        return true;
    }
    case F_AVG_OT:
        *out = mean_kahan(s, n);
        return true;
    case F_MIN_OT:
    case F_MAX_OT: {
        double v = s[0].value;
        for (size_t i = 1; i < n; i++)
            if ((id == F_MAX_OT ? s[i].value > v : s[i].value < v) || isnan(v))
                v = s[i].value;
        *out = v;
        return true;
    }
    case F_SUM_OT: {
        double sum = 0, cc = 0;
        for (size_t i = 0; i < n; i++)
            kahan_inc(s[i].value, &sum, &cc);
        *out = isinf(sum) ? sum : sum + cc;
        return true;
    }
    case F_COUNT_OT:
        *out = (double)n;
        return true;
    case F_PRESENT_OT:
        *out = 1;
        return true;
    case F_LAST_OT:
        *out = s[n - 1].value;
        return true;
    case F_TS_LAST_OT:
        *out = (double)s[n - 1].ts_ms / 1000.0;
        return true;
    case F_TS_FIRST_OT:
        *out = (double)s[0].ts_ms / 1000.0;
        return true;
    case F_TS_MIN_OT:
    case F_TS_MAX_OT: {
        size_t best = 0;
        for (size_t i = 1; i < n; i++) {
            double v = s[i].value, b = s[best].value;
            if ((id == F_TS_MAX_OT ? v >= b : v <= b) || isnan(b))
                best = i;
        }
        *out = (double)s[best].ts_ms / 1000.0;
        return true;
    }
    case F_FIRST_OT:
        *out = s[0].value;
        return true;
    case F_STDDEV_OT:
    case F_STDVAR_OT: {
        double count = 0, mean = 0, cm = 0, aux = 0, ca = 0;
        for (size_t i = 0; i < n; i++) {
            count++;
            double d = s[i].value - (mean + cm);
            kahan_inc(d / count, &mean, &cm);
            kahan_inc(d * (s[i].value - (mean + cm)), &aux, &ca);
        }
        double var = (aux + ca) / count;
        *out = id == F_STDDEV_OT ? sqrt(var) : var;
        return true;
    }
    case F_QUANTILE_OT:
    case F_MAD_OT: {
        double *v = arena_alloc(tmp, n * sizeof(double));
        if (!v)
            return false;
        for (size_t i = 0; i < n; i++)
            v[i] = s[i].value;
        if (id == F_QUANTILE_OT) {
            *out = query_quantile(p[0], v, n);
            return true;
        }
        for (size_t i = 0; i < n; i++) /* a NaN sample makes the deviation NaN */
            if (isnan(v[i])) {
                *out = NAN;
                return true;
            }
        double med = query_quantile(0.5, v, n);
        for (size_t i = 0; i < n; i++)
            v[i] = fabs(s[i].value - med);
        *out = query_quantile(0.5, v, n);
        return true;
    }
    case F_CHANGES:
    case F_RESETS: {
        double cnt = 0, prev = s[0].value;
        for (size_t i = 1; i < n; i++) {
            double cur = s[i].value;
            if (id == F_CHANGES ? (cur != prev && !(isnan(cur) && isnan(prev))) : cur < prev)
                cnt++;
            prev = cur;
        }
        *out = cnt;
        return true;
    }
    case F_DERIV:
    case F_PREDICT_LINEAR: {
        if (n < 2)
            return false;
        double slope, icept;
        linear_regression(s, n, id == F_DERIV ? s[0].ts_ms : step_t, &slope, &icept);
        *out = id == F_DERIV ? slope : slope * p[0] + icept;
        return true;
    }
    case F_HOLT_WINTERS: {
        double sf = p[0], tf = p[1];
        if (n < 2)
            return false;
        double s0 = 0, s1 = s[0].value, b = s[1].value - s[0].value;
        for (size_t i = 1; i < n; i++) {
            double x = sf * s[i].value;
            if (i > 1)
                b = tf * (s1 - s0) + (1 - tf) * b;
            double y = (1 - sf) * (s1 + b);
            s0 = s1;
            s1 = x + y;
        }
        *out = s1;
        return true;
    }
    default:
        return false;
    }
}

static bool keeps_name(int id)
{
    return id == F_LAST_OT || id == F_FIRST_OT || id == F_SORT || id == F_SORT_DESC ||
           id == F_LABEL_REPLACE || id == F_LABEL_JOIN || id == F_SORT_BY_LABEL ||
           id == F_SORT_BY_LABEL_DESC;
}

static sonde_status eval_scalar_arg(query_eval_ctx *c, const query_node *n, const qgrid *g,
                                    double **out)
{
    query_value v;
    sonde_status st = query_eval_node(c, n, g, &v);
    if (st)
        return st;
    *out = v.scalar;
    return SONDE_OK;
}

/* Labels for absent()/absent_over_time(): the selector's equality matchers
 * (a label given twice is left out), without __name__. */
static sonde_status absent_labels(query_eval_ctx *c, const query_node *arg, sonde_label **out,
                                  uint32_t *nout)
{
    while (arg->kind == QN_PAREN)
        arg = arg->u.paren.expr;
    if (arg->kind == QN_MATRIX_SEL)
        arg = arg->u.ms.vs;
    *out = NULL;
    *nout = 0;
    if (arg->kind != QN_VECTOR_SEL)
        return SONDE_OK;
    sonde_label *l = NULL;
    uint32_t nl = 0;
    for (size_t i = 0; i < arg->u.vs.nm; i++) {
        const query_matcher *m = &arg->u.vs.m[i];
        if (m->op != QUERY_MATCH_EQ || (m->name_len == 8 && !memcmp(m->name, "__name__", 8)))
            continue;
        bool dup = false;
        for (size_t j = 0; j < arg->u.vs.nm; j++)
            if (j != i && arg->u.vs.m[j].name_len == m->name_len &&
                !memcmp(arg->u.vs.m[j].name, m->name, m->name_len))
                dup = true;
        if (dup)
            continue;
        sonde_status st =
            query_labels_set(c, l, nl, m->name, m->name_len, m->value, m->value_len, &l, &nl);
        if (st)
            return st;
    }
    *out = l;
    *nout = nl;
    return SONDE_OK;
}

/* A series' points go to bp, or (bp NULL, floats only) to sink's arrays. */
typedef struct range_sink {
    double *v;
    uint8_t *ok;
    bool any;
    bool quiet; /* no annotation: the parallel path makes them in series order */
} range_sink;

static sonde_status range_series(query_eval_ctx *c, const query_func *f, const qmatrix *mp,
                                 const query_mseries *s, const qgrid *g, double *const *params,
                                 size_t np, double *pv, arena *scratch, qbuilder *bp,
                                 range_sink *sink);

static sonde_status extended_check(query_eval_ctx *c, const query_func *f, const query_node *marg);

/*
 * Range-vector functions over many series run on two threads: the query's
 * own and one helper. Both take blocks of series from a shared counter and
 * compute each series' points into arrays of their own (own context copy,
 * arena, scratch and storage reader: nothing is shared but read-only
 * inputs). Afterwards the query's thread hands the series to the builder or
 * the stream in series order, and makes the annotations in that order, so
 * the result, its order and its annotations are those of the one-thread loop.
 * Histogram samples stop it (their values would live in a worker's arena):
 * the one-thread loop then goes on from the first wave not merged yet.
 * Checked with ThreadSanitizer and with every path forced
 * (-DPAR_MIN_SERIES=1 -DPAR_WAVE=3 -DPAR_BLOCK=2) on the conformance suite.
 */
static void counter_name_check(query_eval_ctx *c, const query_mseries *s, uint32_t pos);

#ifndef PAR_MIN_SERIES /* tests may shrink them to run every path */
#define PAR_MIN_SERIES 32
#endif
#ifndef PAR_BLOCK /* tests may shrink them to run every path */
#define PAR_BLOCK 16
#endif

typedef struct par_series {
    double *v;
    uint8_t *ok;
    bool any;
} par_series;

/* Series are taken in waves of PAR_WAVE: both threads fill the wave's
 * reusable arrays, then the query's thread merges the wave while the helper
 * waits at the barrier, so memory stays at one wave whatever the series. */
#ifndef PAR_WAVE /* tests may shrink them to run every path */
#define PAR_WAVE 256
#endif

typedef struct par_shared {
    const query_func *f;
    const qmatrix *m;
    const qgrid *g;
    double *const *params;
    size_t np;
    par_series *out; /* PAR_WAVE, reused by every wave */
    size_t wave_lo, wave_hi;
    size_t *ord;         /* the wave's series in id order (adjacent chunk keys): reading order */
    _Atomic size_t next; /* next block of the wave */
    _Atomic bool stop;   /* histograms or an error: take no more blocks */
    bool quit;           /* written before the start barrier */
    pthread_barrier_t start, end;
} par_shared;

typedef struct par_worker {
    par_shared *sh;
    query_eval_ctx c; /* a copy of the query's, with its own arena and reader */
    arena *scratch;
    sonde_status st;
    size_t fail_at;
    bool hist;
} par_worker;

static void par_wave(par_worker *w)
{
    par_shared *sh = w->sh;
    query_eval_ctx *c = &w->c;
    const qmatrix *m = sh->m;
    size_t steps = sh->g->n;
    double pv[2];
    while (!w->st && !w->hist && !atomic_load(&sh->stop)) {
        size_t lo = sh->wave_lo + atomic_fetch_add(&sh->next, 1) * PAR_BLOCK;
        if (lo >= sh->wave_hi)
            break;
        size_t hi = lo + PAR_BLOCK < sh->wave_hi ? lo + PAR_BLOCK : sh->wave_hi;
        for (size_t pos = lo; pos < hi; pos++) {
            size_t i = sh->ord[pos - sh->wave_lo];
            query_mseries ser;
            sonde_status st = query_matrix_series(c, m, i, w->scratch, &ser);
            if (!st && ser.nh) {
                w->hist = true;
                atomic_store(&sh->stop, true);
            }
            par_series *o = &sh->out[i - sh->wave_lo];
            range_sink sink = {o->v, o->ok, false, true};
            if (!st && !w->hist) {
                memset(sink.ok, 0, steps);
                st = range_series(c, sh->f, m, &ser, sh->g, sh->params, sh->np, pv, w->scratch,
                                  NULL, &sink);
            }
            if (!st)
                query_matrix_series_done(c, m, &ser, w->scratch);
            arena_reset(w->scratch);
            if (st) {
                w->st = st;
                if (i < w->fail_at)
                    w->fail_at = i;
                atomic_store(&sh->stop, true);
            }
            if (st || w->hist)
                break;
            o->any = sink.any;
        }
    }
}

static void *par_thread(void *arg)
{
    par_worker *w = arg;
    for (;;) {
        pthread_barrier_wait(&w->sh->start);
        if (w->sh->quit)
            break;
        par_wave(w);
        pthread_barrier_wait(&w->sh->end);
    }
    return NULL;
}

/* ord = lo..hi-1 sorted by series id (insertion sort: a wave is small and its
 * ids come in runs). Any reading order gives the same result: each series
 * has its own slot, merged in index order. */
static void par_order(const qmatrix *m, size_t lo, size_t hi, size_t *ord)
{
    for (size_t i = lo; i < hi; i++) {
        size_t k = i - lo;
        uint64_t id = m->refs[i].id;
        while (k > 0 && m->refs[ord[k - 1]].id > id) {
            ord[k] = ord[k - 1];
            k--;
        }
        ord[k] = i;
    }
}

/* The query's thread: the wave's series, in order, to the builder or stream. */
static sonde_status par_merge(query_eval_ctx *c, const par_shared *sh, query_range_stream *stream,
                              qbuilder *b)
{
    const qmatrix *m = sh->m;
    const query_func *f = sh->f;
    bool dn = !keeps_name(f->id);
    bool annotate = m->from_selector && (f->id == F_RATE || f->id == F_INCREASE);
    sonde_status st = SONDE_OK;
    for (size_t i = sh->wave_lo; i < sh->wave_hi && !st; i++) {
        const par_series *p = &sh->out[i - sh->wave_lo];
        if (!p->any)
            continue;
        const storage_series_ref *r = &m->refs[i];
        if (stream) {
            st = stream->fn(stream->ctx, r->labels, r->nlabels, dn, p->v, p->ok);
        } else {
            size_t idx;
            if (!(st = query_builder_get(b, r->labels, r->nlabels, &idx)))
                b->s[idx].drop_name |= dn;
            for (size_t j = 0; j < sh->g->n && !st; j++)
                if (p->ok[j])
                    st = query_builder_set(b, idx, j, p->v[j]);
        }
        if (!st && annotate) {
            query_mseries ms = {.labels = r->labels, .nlabels = r->nlabels};
            counter_name_check(c, &ms, m->pos);
        }
    }
    return st;
}

/* *next: the first series the one-thread loop still has to do (m->n: none;
 * histograms stop the waves before the wave that holds them). */
static sonde_status range_parallel(query_eval_ctx *c, const query_func *f, const qmatrix *m,
                                   const qgrid *g, double *const *params, size_t np,
                                   query_range_stream *stream, qbuilder *b, size_t *next)
{
    *next = 0;
    size_t steps = g->n;
    /* not zeroed: a worker clears a series' ok flags before it fills them, and
     * values are read only where ok is set */
    par_series *out = arena_alloc(c->a, PAR_WAVE * sizeof(*out));
    size_t *ord = out ? arena_alloc(c->a, PAR_WAVE * sizeof(*ord)) : NULL;
    double *vals = ord ? arena_alloc(c->a, PAR_WAVE * steps * sizeof(double)) : NULL;
    uint8_t *oks = vals ? arena_alloc(c->a, PAR_WAVE * steps) : NULL;
    if (!oks)
        return query_eval_fail(c, SONDE_ERR_NOMEM, "query exceeded its memory limit");
    for (size_t k = 0; k < PAR_WAVE; k++)
        out[k] = (par_series){vals + k * steps, oks + k * steps, false};
    par_shared sh = {.f = f, .m = m, .g = g, .params = params, .np = np, .out = out, .ord = ord};
    par_worker w[2];
    bool ok = true;
    for (int k = 0; k < 2; k++) {
        w[k].sh = &sh;
        w[k].c = *c;
        w[k].c.reader = NULL;
        w[k].c.nannots = 0;
        w[k].c.err[0] = 0;
        w[k].st = SONDE_OK;
        w[k].fail_at = SIZE_MAX;
        w[k].hist = false;
        w[k].c.a = arena_create(1 << 16, 64u << 20);
        w[k].scratch = query_scratch_create(c);
        ok = ok && w[k].c.a && w[k].scratch;
    }
    bool barriers = ok && pthread_barrier_init(&sh.start, NULL, 2) == 0;
    if (barriers && pthread_barrier_init(&sh.end, NULL, 2) != 0) {
        pthread_barrier_destroy(&sh.start);
        barriers = false;
    }
    pthread_t thr;
    bool started = barriers && pthread_create(&thr, NULL, par_thread, &w[1]) == 0;
    sonde_status st = SONDE_OK;
    if (started) {
        pthread_setname_np(thr, "query-par-1");
        for (size_t lo = 0; lo < m->n && !st; lo += PAR_WAVE) {
            sh.wave_lo = lo;
            sh.wave_hi = lo + PAR_WAVE < m->n ? lo + PAR_WAVE : m->n;
            par_order(m, lo, sh.wave_hi, ord);
            atomic_store(&sh.next, 0);
            pthread_barrier_wait(&sh.start);
            par_wave(&w[0]);
            pthread_barrier_wait(&sh.end);
            if (w[0].hist || w[1].hist || w[0].st || w[1].st)
                break;
            st = par_merge(c, &sh, stream, b);
            *next = sh.wave_hi;
        }
        sh.quit = true;
        pthread_barrier_wait(&sh.start);
        pthread_join(thr, NULL);
    }
    if (barriers) {
        pthread_barrier_destroy(&sh.start);
        pthread_barrier_destroy(&sh.end);
    }
    /* the first failing series' error, as the one-thread loop would stop there */
    for (int k = 0; k < 2 && started; k++) {
        const par_worker *e = &w[k], *o = &w[1 - k];
        if (!st && e->st && (!o->st || e->fail_at < o->fail_at)) {
            st = e->st;
            snprintf(c->err, sizeof(c->err), "%s", e->c.err);
        }
    }
    size_t loaded = c->samples_loaded;
    for (int k = 0; k < 2; k++) {
        if (started)
            c->samples_loaded += w[k].c.samples_loaded - loaded;
        storage_reader_destroy(w[k].c.reader);
        arena_destroy(w[k].scratch);
        arena_destroy(w[k].c.a);
    }
    return st;
}

static sonde_status eval_range_call(query_eval_ctx *c, const query_node *n, const qgrid *g,
                                    query_value *out, query_range_stream *stream)
{
    const query_func *f = n->u.call.fn;
    const query_node *marg = NULL;
    double *params[2] = {NULL, NULL};
    size_t np = 0;
    sonde_status st;
    for (size_t i = 0; i < n->u.call.nargs; i++) {
        if (f->arg_types[i] == QUERY_TYPE_MATRIX)
            marg = n->u.call.args[i];
        else if (np < 2 && (st = eval_scalar_arg(c, n->u.call.args[i], g, &params[np++])))
            return st;
    }
    if (f->id == F_QUANTILE_OT)
        for (size_t i = 0; i < g->n; i++)
            if (!(params[0][i] >= 0 && params[0][i] <= 1)) {
                char qs[32];
                query_eval_annotate(c, true, n->u.call.args[0]->pos,
                                    "quantile value should be between 0 and 1, got %s",
                                    query_fmt_float(qs, sizeof(qs), params[0][i]));
                break;
            }
    qmatrix m;
    if ((st = extended_check(c, f, marg)) ||
        (st = query_eval_matrix(c, marg, g, f->id != F_ABSENT_OT, &m)))
        return st;
    m.pos = marg->pos;
    qbuilder b;
    query_builder_init(&b, c, g->n);
    if (f->id == F_ABSENT_OT) {
        sonde_label *l;
        uint32_t nl;
        size_t idx = SIZE_MAX;
        if ((st = absent_labels(c, marg, &l, &nl)))
            return st;
        size_t *lo = query_eval_alloc(c, (m.n + 1) * sizeof(size_t));
        if (!lo)
            return SONDE_ERR_NOMEM;
        for (size_t step = 0; step < g->n; step++) {
            bool any = false;
            for (size_t i = 0; i < m.n; i++) {
                const query_mseries *s = &m.s[i];
                while (lo[i] < s->n && s->s[lo[i]].ts_ms <= m.wend[step] - m.range_ms)
                    lo[i]++;
                if (lo[i] < s->n && s->s[lo[i]].ts_ms <= m.wend[step])
                    any = true;
                for (size_t k = 0; k < s->nh && !any; k++) /* histogram samples count too */
                    any = s->hs[k].ts_ms > m.wend[step] - m.range_ms &&
                          s->hs[k].ts_ms <= m.wend[step];
            }
            if (any)
                continue;
            if (idx == SIZE_MAX && (st = query_builder_get(&b, l, nl, &idx)))
                return st;
            b.s[idx].ok[step] = 1;
            b.s[idx].v[step] = 1;
        }
        query_builder_finish(&b, g, out);
        return SONDE_OK;
    }
    double pv[2];
    /* series are read (lazy selectors) and scratch-computed one at a time */
    arena *scratch = query_scratch_create(c);
    if (!scratch)
        return query_eval_fail(c, SONDE_ERR_NOMEM, "out of memory");
    size_t first = 0;
    if (m.lazy && m.n >= PAR_MIN_SERIES && query_source_is_storage(c) &&
        (st = range_parallel(c, f, &m, g, params, np, stream, &b, &first))) {
        arena_destroy(scratch);
        return st;
    }
    range_sink sink = {NULL, NULL, false, false};
    if (stream && (!(sink.v = query_eval_alloc(c, g->n * sizeof(double))) ||
                   !(sink.ok = query_eval_alloc(c, g->n)))) {
        arena_destroy(scratch);
        return SONDE_ERR_NOMEM;
    }
    for (size_t i = first; i < m.n && !st; i++) {
        query_mseries ser;
        if ((st = query_matrix_series(c, &m, i, scratch, &ser)))
            break;
        if (stream && ser.nh) {
            stream->fallback = true; /* histograms: the caller evaluates n as usual */
            query_matrix_series_done(c, &m, &ser, scratch);
            break;
        }
        if (stream) {
            memset(sink.ok, 0, g->n);
            sink.any = false;
        }
        st = range_series(c, f, &m, &ser, g, params, np, pv, scratch, stream ? NULL : &b, &sink);
        if (!st && stream && sink.any)
            st = stream->fn(stream->ctx, ser.labels, ser.nlabels, !keeps_name(f->id), sink.v,
                            sink.ok);
        query_matrix_series_done(c, &m, &ser, scratch);
        arena_reset(scratch);
    }
    arena_destroy(scratch);
    if (st || stream)
        return st;
    query_builder_finish(&b, g, out);
    return query_eval_account(c, 0);
}

bool query_range_streamable(const query_node *n)
{
    if (n->kind != QN_CALL || n->u.call.fn->id == F_ABSENT_OT)
        return false;
    const query_node *marg = NULL;
    for (size_t i = 0; i < n->u.call.nargs; i++)
        if (n->u.call.fn->arg_types[i < 5 ? i : 4] == QUERY_TYPE_MATRIX)
            marg = n->u.call.args[i];
    while (marg && marg->kind == QN_PAREN)
        marg = marg->u.paren.expr;
    if (!marg || marg->kind != QN_MATRIX_SEL)
        return false;
    /* one metric name: the series stay distinct once it is dropped */
    const query_node *vs = marg->u.ms.vs;
    for (size_t i = 0; i < vs->u.vs.nm; i++) {
        const query_matcher *m = &vs->u.vs.m[i];
        if (m->op == QUERY_MATCH_EQ && m->name_len == 8 && !memcmp(m->name, "__name__", 8))
            return true;
    }
    return false;
}

sonde_status query_range_stream_eval(query_eval_ctx *c, const query_node *n, const qgrid *g,
                                     query_range_stream *stream)
{
    query_value unused;
    stream->fallback = false;
    return eval_range_call(c, n, g, &unused, stream);
}

static bool has_suffix(const sonde_label *l, const char *suf)
{
    size_t n = strlen(suf);
    return l->value_len >= n && memcmp(l->value + l->value_len - n, suf, n) == 0;
}

/* rate/increase over a metric whose name does not look like a counter's. */
static void counter_name_check(query_eval_ctx *c, const query_mseries *s, uint32_t pos)
{
    const sonde_label *name = series_labels_get(s->labels, s->nlabels, "__name__", 8);
    if (!name || !name->value_len || has_suffix(name, "_total") || has_suffix(name, "_sum") ||
        has_suffix(name, "_count") || has_suffix(name, "_bucket"))
        return;
    query_eval_annotate(c, false, pos,
                        "metric might not be a counter, name does not end in "
                        "_total/_sum/_count/_bucket: \"%.*s\"",
                        (int)name->value_len, name->value);
}

/* One step of a range-vector function; anchored/smoothed windows go through
 * extended_rate() or are first cut back to the range (extendFloats). */
static bool range_call_step(arena *scratch, int id, const qmatrix *m, const sonde_sample *s,
                            size_t n, int64_t wend, int64_t step_t, const double *p,
                            sonde_sample *ext, double *out)
{
    if (!m->anchored && !m->smoothed)
        return range_fn(scratch, id, s, n, wend, m->range_ms, step_t, p, out);
    if (id == F_RATE || id == F_INCREASE || id == F_DELTA)
        return extended_rate(s, n, wend, m->range_ms, m->smoothed, id != F_DELTA, id == F_RATE,
                             out);
    size_t k = query_extend_floats(s, n, wend - m->range_ms, wend, m->smoothed, ext);
    return k && range_fn(scratch, id, ext, k, wend, m->range_ms, step_t, p, out);
}

/* anchored: changes delta increase rate resets; smoothed: delta increase rate. */
static sonde_status extended_check(query_eval_ctx *c, const query_func *f, const query_node *marg)
{
    while (marg->kind == QN_PAREN)
        marg = marg->u.paren.expr;
    if (marg->kind != QN_MATRIX_SEL)
        return SONDE_OK;
    const query_node *vs = marg->u.ms.vs;
    int id = f->id;
    bool rate = id == F_RATE || id == F_INCREASE || id == F_DELTA;
    if (vs->u.vs.anchored && !rate && id != F_CHANGES && id != F_RESETS)
        return query_eval_fail(c, SONDE_ERR_INVALID,
                               "anchored modifier can only be used with: changes, delta, "
                               "increase, rate, resets - not with %s",
                               f->name);
    if (vs->u.vs.smoothed && !rate)
        return query_eval_fail(c, SONDE_ERR_INVALID,
                               "smoothed modifier can only be used with: delta, increase, rate "
                               "- not with %s",
                               f->name);
    return SONDE_OK;
}

static sonde_status range_series(query_eval_ctx *c, const query_func *f, const qmatrix *mp,
                                 const query_mseries *s, const qgrid *g, double *const *params,
                                 size_t np, double *pv, arena *scratch, qbuilder *bp,
                                 range_sink *sink)
{
    const qmatrix m = *mp;
    sonde_status st;
    {
        size_t lo = 0, hi = 0, idx = SIZE_MAX;
        sonde_label *l = s->labels;
        uint32_t nl = s->nlabels;
        bool dn = !keeps_name(f->id);
        sonde_sample *ext = NULL;
        if ((m.anchored || m.smoothed) && !(ext = arena_alloc(scratch, (s->n + 2) * sizeof(*ext))))
            return query_eval_fail(c, SONDE_ERR_NOMEM, "out of memory");
        size_t hlo = 0, hhi = 0;
        arena *htmp = NULL; /* per-step scratch of histogram windows */
        /* qmatrix_window's bounds, with the flags read once: re-reading them per
         * step made the compiler spill and reload them (a store-forwarding stall) */
        const int64_t *wends = m.wend;
        const int64_t lo_off = m.range_ms + (m.anchored || m.smoothed ? m.lookback_ms : 0);
        const int64_t hi_off = m.smoothed ? m.lookback_ms : 0;
        /* rate/increase/delta: a window's sample-only part is prepared once
         * for as many steps as see the same samples (rate_prep) */
        const bool fast_rate = !m.anchored && !m.smoothed &&
                               (f->id == F_RATE || f->id == F_INCREASE || f->id == F_DELTA);
        const bool is_counter = f->id != F_DELTA, is_rate = f->id == F_RATE;
        bool no_resets = false;
        if (fast_rate && is_counter) {
            no_resets = true;
            for (size_t i = 1; i < s->n && no_resets; i++)
                no_resets = !(s->s[i].value < s->s[i - 1].value);
        }
        rate_win rw;
        size_t rw_lo = SIZE_MAX, rw_hi = SIZE_MAX;
        for (size_t step = 0; step < g->n; step++) {
            /* a deadline check every 64 steps is plenty: a step is a few ns */
            if ((step & 63) == 0 && (st = query_eval_tick(c)))
                goto out;
            int64_t we = wends[step], wlo = we - lo_off, whi = we + hi_off;
            while (lo < s->n && s->s[lo].ts_ms <= wlo)
                lo++;
            if (hi < lo)
                hi = lo;
            while (hi < s->n && s->s[hi].ts_ms <= whi)
                hi++;
            for (size_t k = 0; k < np; k++)
                pv[k] = params[k][step];
            double v;
            /* s->s is NULL for a series with no samples: no pointer arithmetic on it */
            const sonde_sample *win = s->n ? s->s + lo : s->s;
            sonde_fhist *hv = NULL;
            if (s->nh) {
                while (hlo < s->nh && s->hs[hlo].ts_ms <= wlo)
                    hlo++;
                if (hhi < hlo)
                    hhi = hlo;
                while (hhi < s->nh && s->hs[hhi].ts_ms <= whi)
                    hhi++;
            }
            if (hhi > hlo) {
                /* the window holds histograms */
                if (htmp)
                    arena_reset(htmp);
                else if (!(htmp = query_scratch_create(c))) {
                    st = query_eval_fail(c, SONDE_ERR_NOMEM, "out of memory");
                    goto out;
                }
                qhrange hr = {f->id, win,        hi - lo,       s->hs + hlo, hhi - hlo,
                              we,    m.range_ms, m.lookback_ms, m.anchored,  m.smoothed,
                              pv,    s->labels,  s->nlabels,    m.pos,       qgrid_t(g, step),
                              htmp};
                bool emit;
                if ((st = query_hist_range(c, &hr, &v, &hv, &emit)))
                    goto out;
                if (!emit)
                    continue;
            } else if (fast_rate) {
                if (hi - lo < 2)
                    continue;
                if (lo != rw_lo || hi != rw_hi) {
                    rate_prep(win, hi - lo, is_counter, no_resets, &rw);
                    rw_lo = lo;
                    rw_hi = hi;
                }
                v = rate_finish(&rw, &s->s[lo], &s->s[hi - 1], we, m.range_ms, is_rate);
            } else if (!range_call_step(scratch, f->id, &m, win, hi - lo, we, qgrid_t(g, step), pv,
                                        ext, &v)) {
                continue;
            }
            if (!bp) { /* a fused aggregation's series (floats only) */
                sink->v[step] = v;
                sink->ok[step] = 1;
                sink->any = true;
                idx = 0;
                continue;
            }
            if (idx == SIZE_MAX) {
                if ((st = query_builder_get(bp, l, nl, &idx)))
                    goto out;
                bp->s[idx].drop_name |= dn;
            }
            if ((st = hv ? query_builder_set_hist(bp, idx, step, hv)
                         : query_builder_set(bp, idx, step, v)))
                goto out;
        }
        if (idx != SIZE_MAX && m.from_selector && (f->id == F_RATE || f->id == F_INCREASE) &&
            !(sink && sink->quiet))
            counter_name_check(c, s, m.pos);
    out:
        arena_destroy(htmp);
    }
    return st;
}

static double simple_fn(int id, double x, const double *p)
{
    switch (id) {
    case F_ABS:
        return fabs(x);
    case F_CEIL:
        return ceil(x);
    case F_FLOOR:
        return floor(x);
    case F_EXP:
        return exp(x);
    case F_LN:
        return log(x);
    case F_LOG2:
        return log2(x);
    case F_LOG10:
        return log10(x);
    case F_SQRT:
        return sqrt(x);
    case F_SGN:
        return x > 0 ? 1 : x < 0 ? -1 : x;
    case F_SIN:
        return sin(x);
    case F_COS:
        return cos(x);
    case F_TAN:
        return tan(x);
    case F_ASIN:
        return asin(x);
    case F_ACOS:
        return acos(x);
    case F_ATAN:
        return atan(x);
    case F_SINH:
        return sinh(x);
    case F_COSH:
        return cosh(x);
    case F_TANH:
        return tanh(x);
    case F_ASINH:
        return asinh(x);
    case F_ACOSH:
        return acosh(x);
    case F_ATANH:
        return atanh(x);
    case F_DEG:
        return x * 180 / M_PI;
    case F_RAD:
        return x * M_PI / 180;
    case F_ROUND: {
        double inv = 1.0 / p[0];
        return floor(x * inv + 0.5) / inv;
    }
    case F_CLAMP:
        return go_max(p[0], go_min(p[1], x));
    case F_CLAMP_MIN:
        return go_max(p[0], x);
    case F_CLAMP_MAX:
        return go_min(p[0], x);
    default:
        break;
    }
    struct tm tm;
    time_t t = (time_t)floor(x);
    if (isnan(x) || isinf(x) || !gmtime_r(&t, &tm))
        return NAN;
    switch (id) {
    case F_DAY_OF_MONTH:
        return tm.tm_mday;
    case F_DAY_OF_WEEK:
        return tm.tm_wday;
    case F_DAY_OF_YEAR:
        return tm.tm_yday + 1;
    case F_HOUR:
        return tm.tm_hour;
    case F_MINUTE:
        return tm.tm_min;
    case F_MONTH:
        return tm.tm_mon + 1;
    case F_YEAR:
        return tm.tm_year + 1900;
    case F_DAYS_IN_MONTH: {
        static const int dim[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
        int y = tm.tm_year + 1900;
        bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
        return dim[tm.tm_mon] + (tm.tm_mon == 1 && leap ? 1 : 0);
    }
    default:
        return NAN;
    }
}

static int sort_step_cmp_asc(const void *a, const void *b)
{
    const query_series *x = a, *y = b;
    double u = x->v[0], w = y->v[0];
    if (isnan(u))
        return isnan(w) ? 0 : 1;
    if (isnan(w))
        return -1;
    return u < w ? -1 : u > w ? 1 : 0;
}

static int sort_step_cmp_desc(const void *a, const void *b)
{
    const query_series *x = a, *y = b;
    double u = x->v[0], w = y->v[0];
    if (isnan(u))
        return isnan(w) ? 0 : 1;
    if (isnan(w))
        return -1;
    return u > w ? -1 : u < w ? 1 : 0;
}

/* natsort.Compare: digit runs compare as numbers. true when a < b. */
static bool nat_less(const char *a, size_t na, const char *b, size_t nb)
{
    size_t i = 0, j = 0;
    while (i < na && j < nb) {
        bool da = a[i] >= '0' && a[i] <= '9', db = b[j] >= '0' && b[j] <= '9';
        if (da && db) {
            size_t si = i, sj = j;
            while (si < na && a[si] == '0')
                si++;
            while (sj < nb && b[sj] == '0')
                sj++;
            size_t ei = si, ej = sj;
            while (ei < na && a[ei] >= '0' && a[ei] <= '9')
                ei++;
            while (ej < nb && b[ej] >= '0' && b[ej] <= '9')
                ej++;
            if (ei - si != ej - sj)
                return ei - si < ej - sj;
            int c = memcmp(a + si, b + sj, ei - si);
            if (c)
                return c < 0;
            i = ei;
            j = ej;
            continue;
        }
        if (a[i] != b[j])
            return (unsigned char)a[i] < (unsigned char)b[j];
        i++;
        j++;
    }
    return na - i < nb - j;
}

static _Thread_local const query_node *const *sort_by_args;
static _Thread_local size_t sort_by_nargs;
static _Thread_local bool sort_by_desc;

static int sort_by_label_cmp(const void *pa, const void *pb)
{
    const query_series *a = pa, *b = pb;
    for (size_t k = 1; k < sort_by_nargs; k++) {
        const query_node *arg = sort_by_args[k];
        while (arg->kind == QN_PAREN)
            arg = arg->u.paren.expr;
        const sonde_label *la =
            series_labels_get(a->labels, a->nlabels, arg->u.str.s, arg->u.str.len);
        const sonde_label *lb =
            series_labels_get(b->labels, b->nlabels, arg->u.str.s, arg->u.str.len);
        const char *va = la ? la->value : "", *vb = lb ? lb->value : "";
        size_t na = la ? la->value_len : 0, nb = lb ? lb->value_len : 0;
        if (na == nb && !memcmp(va, vb, na))
            continue;
        int r = nat_less(va, na, vb, nb) ? -1 : 1;
        return sort_by_desc ? -r : r;
    }
    int r = query_labels_cmp(a->labels, a->nlabels, b->labels, b->nlabels);
    return sort_by_desc ? -r : r;
}

static sonde_status eval_histogram_quantile(query_eval_ctx *c, const query_node *n, const qgrid *g,
                                            query_value *out);

static const query_node *unparen(const query_node *n)
{
    while (n->kind == QN_PAREN)
        n = n->u.paren.expr;
    return n;
}

static sonde_status eval_label_fn(query_eval_ctx *c, const query_node *n, const qgrid *g,
                                  const query_value *in, query_value *out)
{
    const query_func *f = n->u.call.fn;
    const query_node *a[64];
    if (n->u.call.nargs > 64)
        return query_eval_fail(c, SONDE_ERR_INVALID, "too many arguments to %s()", f->name);
    for (size_t i = 0; i < n->u.call.nargs; i++)
        a[i] = unparen(n->u.call.args[i]);
    const char *dst = a[1]->u.str.s;
    size_t dlen = a[1]->u.str.len;
    sonde_status st = SONDE_OK;
    query_regex *re = NULL;
    buf tmp;
    buf_init(&tmp, 1 << 20);
    bool valid = dlen > 0;
    for (size_t i = 0; i < dlen; i++) {
        char ch = dst[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || ch == '_' ||
              (i > 0 && ch >= '0' && ch <= '9')))
            valid = false;
    }
    if (!valid) {
        buf_fini(&tmp);
        return query_eval_fail(c, SONDE_ERR_INVALID, "invalid destination label name in %s(): %s",
                               f->name, dst);
    }
    if (f->id == F_LABEL_REPLACE) {
        char e[160];
        re = query_regex_compile(a[4]->u.str.s, a[4]->u.str.len, e, sizeof(e));
        if (!re) {
            buf_fini(&tmp);
            return query_eval_fail(c, SONDE_ERR_INVALID,
                                   "invalid regular expression in label_replace(): %s",
                                   a[4]->u.str.s);
        }
    }
    qbuilder b;
    query_builder_init(&b, c, g->n);
    for (size_t i = 0; i < in->nseries && !st; i++) {
        const query_series *s = &in->series[i];
        sonde_label *l = s->labels;
        uint32_t nl = s->nlabels;
        buf_reset(&tmp);
        bool set = true;
        if (f->id == F_LABEL_REPLACE) {
            const sonde_label *src =
                series_labels_get(s->labels, s->nlabels, a[3]->u.str.s, a[3]->u.str.len);
            set = query_regex_replace(re, src ? src->value : "", src ? src->value_len : 0,
                                      a[2]->u.str.s, a[2]->u.str.len, &tmp);
        } else {
            for (size_t k = 3; k < n->u.call.nargs; k++) {
                const sonde_label *src =
                    series_labels_get(s->labels, s->nlabels, a[k]->u.str.s, a[k]->u.str.len);
                if (k > 3)
                    buf_append(&tmp, a[2]->u.str.s, a[2]->u.str.len);
                if (src)
                    buf_append(&tmp, src->value, src->value_len);
            }
        }
        if (set) {
            char *val = arena_strndup(c->a, tmp.len ? tmp.data : "", tmp.len);
            if (!val) {
                st = SONDE_ERR_NOMEM;
                break;
            }
            if ((st = query_labels_set(c, l, nl, dst, dlen, val, tmp.len, &l, &nl)))
                break;
        }
        size_t idx;
        if ((st = query_builder_get(&b, l, nl, &idx)))
            break;
        /* setting __name__ explicitly keeps it */
        b.s[idx].drop_name |= s->drop_name && !(dlen == 8 && !memcmp(dst, "__name__", 8));
        for (size_t j = 0; j < g->n && !st; j++)
            if (s->ok[j])
                st = query_builder_copy(&b, idx, j, s);
    }
    query_regex_free(re);
    buf_fini(&tmp);
    if (st)
        return st;
    query_builder_finish(&b, g, out);
    return SONDE_OK;
}

sonde_status query_call_eval(query_eval_ctx *c, const query_node *n, const qgrid *g,
                             query_value *out)
{
    const query_func *f = n->u.call.fn;
    sonde_status st;
    for (size_t i = 0; i < n->u.call.nargs; i++)
        if (f->arg_types[i < 5 ? i : 4] == QUERY_TYPE_MATRIX)
            return eval_range_call(c, n, g, out, NULL);
    memset(out, 0, sizeof(*out));
    switch (f->id) {
    case F_TIME:
    case F_PI:
    case F_STEP:
    case F_RANGE:
    case F_START:
    case F_END:
    case F_MIN_OF:
    case F_MAX_OF: {
        double *a0 = NULL, *a1 = NULL;
        if (f->id == F_MIN_OF || f->id == F_MAX_OF) {
            if ((st = eval_scalar_arg(c, n->u.call.args[0], g, &a0)) ||
                (st = eval_scalar_arg(c, n->u.call.args[1], g, &a1)))
                return st;
        }
        out->type = QUERY_TYPE_SCALAR;
        out->nsteps = g->n;
        out->start = g->start;
        out->end = g->end;
        out->step = g->step;
        out->scalar = query_eval_alloc(c, g->n * sizeof(double));
        if (!out->scalar)
            return SONDE_ERR_NOMEM;
        for (size_t i = 0; i < g->n; i++) {
            double v;
            switch (f->id) {
            case F_PI:
                v = M_PI;
                break;
            case F_STEP:
                v = (double)c->query_step / 1000.0;
                break;
            case F_RANGE:
                v = (double)(c->query_end - c->query_start) / 1000.0;
                break;
            case F_START:
                v = (double)c->query_start / 1000.0;
                break;
            case F_END:
                v = (double)c->query_end / 1000.0;
                break;
            case F_MIN_OF:
                v = go_min(a0[i], a1[i]);
                break;
            case F_MAX_OF:
                v = go_max(a0[i], a1[i]);
                break;
            default:
                v = (double)qgrid_t(g, i) / 1000.0;
                break;
            }
            out->scalar[i] = v;
        }
        return SONDE_OK;
    }
    case F_VECTOR: {
        double *sv;
        if ((st = eval_scalar_arg(c, n->u.call.args[0], g, &sv)) ||
            (st = query_vector_alloc(c, g, 1, out)) ||
            (st = query_series_alloc(c, g->n, out->series)))
            return st;
        for (size_t i = 0; i < g->n; i++) {
            out->series[0].ok[i] = 1;
            out->series[0].v[i] = sv[i];
        }
        return SONDE_OK;
    }
    case F_HISTOGRAM_QUANTILE:
        return eval_histogram_quantile(c, n, g, out);
    case F_INFO:
        return query_info_eval(c, n, g, out);
    case F_NATIVE_HISTOGRAM: {
        /* histogram_count/sum/avg/stddev/stdvar: histogram samples only */
        query_value arg;
        const char *fn = f->name + 10; /* after "histogram_" */
        bool hs = c->hist_stats;
        c->hist_stats = hs || !strcmp(fn, "count") || !strcmp(fn, "sum") || !strcmp(fn, "avg");
        st = query_eval_node(c, n->u.call.args[0], g, &arg);
        c->hist_stats = hs;
        if (st)
            return st;
        qbuilder b;
        query_builder_init(&b, c, g->n);
        for (size_t k = 0; k < arg.nseries; k++) {
            const query_series *s = &arg.series[k];
            size_t idx = SIZE_MAX;
            for (size_t i = 0; s->h && i < g->n; i++) {
                const sonde_fhist *h = s->h[i];
                if (!h)
                    continue;
                double v;
                if (!strcmp(fn, "count"))
                    v = h->count;
                else if (!strcmp(fn, "sum"))
                    v = h->sum;
                else if (!strcmp(fn, "avg"))
                    v = h->sum / h->count;
                else if (!strcmp(fn, "stddev"))
                    v = sqrt(query_hist_variance(h));
                else
                    v = query_hist_variance(h);
                if (idx == SIZE_MAX) {
                    if ((st = query_builder_get(&b, s->labels, s->nlabels, &idx)))
                        return st;
                    b.s[idx].drop_name = true;
                }
                if ((st = query_builder_set(&b, idx, i, v)))
                    return st;
            }
        }
        query_builder_finish(&b, g, out);
        return SONDE_OK;
    }
    default:
        break;
    }
    query_value in;
    bool date_default = n->u.call.nargs == 0;
    if (date_default) {
        /* date functions default to vector(time()) */
        if ((st = query_vector_alloc(c, g, 1, &in)) ||
            (st = query_series_alloc(c, g->n, in.series)))
            return st;
        for (size_t i = 0; i < g->n; i++) {
            in.series[0].ok[i] = 1;
            in.series[0].v[i] = (double)qgrid_t(g, i) / 1000.0;
        }
    } else if ((st = query_eval_node(c, n->u.call.args[0], g, &in))) {
        return st;
    }
    double *params[2] = {NULL, NULL};
    for (size_t i = 1; i < n->u.call.nargs && i < 3; i++)
        if (f->arg_types[i] == QUERY_TYPE_SCALAR &&
            (st = eval_scalar_arg(c, n->u.call.args[i], g, &params[i - 1])))
            return st;
    switch (f->id) {
    case F_SCALAR: {
        out->type = QUERY_TYPE_SCALAR;
        out->nsteps = g->n;
        out->start = g->start;
        out->end = g->end;
        out->step = g->step;
        out->scalar = query_eval_alloc(c, g->n * sizeof(double));
        if (!out->scalar)
            return SONDE_ERR_NOMEM;
        for (size_t i = 0; i < g->n; i++) {
            size_t cnt = 0;
            double v = NAN;
            for (size_t k = 0; k < in.nseries; k++)
                if (in.series[k].ok[i] && !query_series_is_hist(&in.series[k], i)) {
                    cnt++;
                    v = in.series[k].v[i];
                }
            out->scalar[i] = cnt == 1 ? v : NAN;
        }
        return SONDE_OK;
    }
    case F_ABSENT: {
        sonde_label *l;
        uint32_t nl;
        if ((st = absent_labels(c, n->u.call.args[0], &l, &nl)))
            return st;
        qbuilder b;
        query_builder_init(&b, c, g->n);
        size_t idx = SIZE_MAX;
        for (size_t i = 0; i < g->n; i++) {
            bool any = false;
            for (size_t k = 0; k < in.nseries && !any; k++)
                any = in.series[k].ok[i];
            if (any)
                continue;
            if (idx == SIZE_MAX && (st = query_builder_get(&b, l, nl, &idx)))
                return st;
            b.s[idx].ok[i] = 1;
            b.s[idx].v[i] = 1;
        }
        query_builder_finish(&b, g, out);
        return SONDE_OK;
    }
    case F_SORT:
    case F_SORT_DESC:
        if (c->query_step)
            query_eval_annotate(c, true, n->pos,
                                "sort is ineffective for range queries since results are always "
                                "ordered by labels");
        query_value_drop_hists(&in); /* filterFloats */
        *out = in;
        if (g->n == 1 && out->nseries > 1)
            qsort(out->series, out->nseries, sizeof(query_series),
                  f->id == F_SORT ? sort_step_cmp_asc : sort_step_cmp_desc);
        return SONDE_OK;
    case F_SORT_BY_LABEL:
    case F_SORT_BY_LABEL_DESC:
        *out = in;
        if (g->n == 1 && out->nseries > 1) {
            sort_by_args = (const query_node *const *)n->u.call.args;
            sort_by_nargs = n->u.call.nargs;
            sort_by_desc = f->id == F_SORT_BY_LABEL_DESC;
            qsort(out->series, out->nseries, sizeof(query_series), sort_by_label_cmp);
        }
        return SONDE_OK;
    case F_LABEL_REPLACE:
    case F_LABEL_JOIN:
        return eval_label_fn(c, n, g, &in, out);
    default:
        break;
    }
    qbuilder b;
    query_builder_init(&b, c, g->n);
    for (size_t k = 0; k < in.nseries; k++) {
        const query_series *s = &in.series[k];
        sonde_label *l = s->labels;
        uint32_t nl = s->nlabels;
        size_t idx = SIZE_MAX;
        for (size_t i = 0; i < g->n; i++) {
            if (!s->ok[i] || (f->id != F_TIMESTAMP && query_series_is_hist(s, i)))
                continue; /* float functions skip histogram samples */
            double pv[2] = {params[0] ? params[0][i] : 1.0, params[1] ? params[1][i] : 0};
            if (f->id == F_CLAMP && pv[1] < pv[0])
                continue;
            double v;
            if (f->id == F_TIMESTAMP)
                v = (double)(s->ts ? s->ts[i] : qgrid_t(g, i)) / 1000.0;
            else
                v = simple_fn(f->id, s->v[i], pv);
            if (idx == SIZE_MAX) {
                if ((st = query_builder_get(&b, l, nl, &idx)))
                    return st;
                b.s[idx].drop_name = true;
            }
            if ((st = query_builder_set(&b, idx, i, v)))
                return st;
        }
    }
    query_builder_finish(&b, g, out);
    return SONDE_OK;
}

/* ---- histogram_quantile on classic buckets ---- */

typedef struct bucket {
    double ub, count;
} bucket;

static int bucket_cmp(const void *a, const void *b)
{
    double x = ((const bucket *)a)->ub, y = ((const bucket *)b)->ub;
    return x < y ? -1 : x > y ? 1 : 0;
}

static bool almost_equal(double a, double b, double eps)
{
    const double min_normal = 2.2250738585072014e-308;
    if (a == b)
        return true;
    double abs_sum = fabs(a) + fabs(b), diff = fabs(a - b);
    if (a == 0 || b == 0 || abs_sum < min_normal)
        return diff < eps * min_normal;
    return diff / fmin(abs_sum, 1.7976931348623157e308) < eps;
}

/* Sorts, coalesces equal bounds and makes counts monotonic; 0 when the
 * buckets are unusable (no +Inf bucket). */
static size_t bucket_prepare(bucket *b, size_t n, bool *forced)
{
    qsort(b, n, sizeof(*b), bucket_cmp);
    if (n == 0 || !isinf(b[n - 1].ub) || b[n - 1].ub < 0)
        return 0;
    size_t k = 0; /* coalesce equal upper bounds */
    for (size_t i = 0; i < n; i++) {
        if (k > 0 && b[k - 1].ub == b[i].ub)
            b[k - 1].count += b[i].count;
        else
            b[k++] = b[i];
    }
    n = k;
    double prev = b[0].count;
    for (size_t i = 1; i < n; i++) {
        double cur = b[i].count;
        if (cur == prev)
            continue;
        if (almost_equal(prev, cur, 1e-12) || cur < prev) {
            *forced |= !almost_equal(prev, cur, 1e-12);
            b[i].count = prev;
            continue;
        }
        prev = cur;
    }
    return n;
}

static double bucket_quantile(double q, bucket *b, size_t n, bool *forced)
{
    if (isnan(q))
        return NAN;
    if (q < 0)
        return -INFINITY;
    if (q > 1)
        return INFINITY;
    n = bucket_prepare(b, n, forced);
    if (n < 2)
        return NAN;
    double obs = b[n - 1].count;
    if (obs == 0)
        return NAN;
    double rank = q * obs;
    size_t i = 0;
    while (i < n - 1 && !(b[i].count >= rank))
        i++;
    if (i == n - 1)
        return b[n - 2].ub;
    if (i == 0 && b[0].ub <= 0)
        return b[0].ub;
    double start = 0, end = b[i].ub, count = b[i].count;
    if (i > 0) {
        start = b[i - 1].ub;
        count -= b[i - 1].count;
        rank -= b[i - 1].count;
    }
    return start + (end - start) * (rank / count);
}

/* Share of the observations in [lo, hi] (histogram_fraction on classic
 * buckets): finite buckets are interpolated linearly, a bucket of infinite
 * width counts only when it lies entirely inside the range. The first
 * bucket starts at 0 when its upper bound is positive, else at -Inf. */
static double bucket_fraction(double lo, double hi, bucket *b, size_t n, bool *forced)
{
    n = bucket_prepare(b, n, forced);
    if (n == 0 || isnan(lo) || isnan(hi))
        return NAN;
    double total = b[n - 1].count;
    if (total == 0)
        return NAN;
    if (lo >= hi)
        return 0;
    double got = 0, prev = 0;
    for (size_t i = 0; i < n; i++) {
        double lower = i ? b[i - 1].ub : (b[0].ub > 0 ? 0 : -INFINITY), upper = b[i].ub;
        double cnt = b[i].count - prev;
        prev = b[i].count;
        if (lo <= lower && upper <= hi) {
            got += cnt;
            continue;
        }
        if (isinf(lower) || isinf(upper))
            continue;
        double from = fmax(lo, lower), to = fmin(hi, upper);
        if (to > from)
            got += cnt * (to - from) / (upper - lower);
    }
    return got / total;
}

/* histogram_quantiles' label values: Go's shortest float, with ".0" added to
 * whole numbers ("0.0", "0.25", "1.0"). */
static char *quantile_label(query_eval_ctx *c, double q, size_t *len)
{
    buf tmp;
    buf_init(&tmp, 32);
    buf_prom_float(&tmp, q);
    bool whole = tmp.len > 0;
    for (size_t i = 0; i < tmp.len; i++)
        if (!((tmp.data[i] >= '0' && tmp.data[i] <= '9') || (i == 0 && tmp.data[i] == '-')))
            whole = false;
    if (whole)
        buf_append(&tmp, ".0", 2);
    char *s = arena_strndup(c->a, tmp.data ? tmp.data : "", tmp.len);
    *len = tmp.len;
    buf_fini(&tmp);
    return s;
}

typedef enum bucket_fn { BUCKET_QUANTILE, BUCKET_FRACTION, BUCKET_QUANTILES } bucket_fn;

/* Outputs per group of one classic-bucket function: value args and labels. */
typedef struct bucket_out {
    bucket_fn fn;
    uint32_t pos;  /* of the vector argument (annotations) */
    double *p[64]; /* QUANTILE: q; FRACTION: lo, hi; QUANTILES: q1..qn */
    uint32_t ppos[64];
    size_t np;
    const char *label; /* QUANTILES */
    size_t label_len;
} bucket_out;

static sonde_status bucket_args(query_eval_ctx *c, const query_node *n, const qgrid *g,
                                bucket_out *bo, const query_node **vec)
{
    sonde_status st;
    size_t na = n->u.call.nargs;
    if (bo->fn == BUCKET_QUANTILES) {
        *vec = n->u.call.args[0];
        bo->pos = (*vec)->pos;
        const query_node *ln = n->u.call.args[1];
        while (ln->kind == QN_PAREN)
            ln = ln->u.paren.expr;
        bo->label = ln->u.str.s;
        bo->label_len = ln->u.str.len;
        for (size_t i = 2; i < na && bo->np < 64; i++) {
            bo->ppos[bo->np] = n->u.call.args[i]->pos;
            if ((st = eval_scalar_arg(c, n->u.call.args[i], g, &bo->p[bo->np++])))
                return st;
        }
        return SONDE_OK;
    }
    *vec = n->u.call.args[na - 1];
    bo->pos = (*vec)->pos;
    for (size_t i = 0; i + 1 < na; i++) {
        bo->ppos[bo->np] = n->u.call.args[i]->pos;
        if ((st = eval_scalar_arg(c, n->u.call.args[i], g, &bo->p[bo->np++])))
            return st;
    }
    return SONDE_OK;
}

/* Emits the outputs of group gi at one step. */
static sonde_status bucket_emit(query_eval_ctx *c, const bucket_out *bo, qbuilder *b,
                                const query_series *grp, size_t step, bucket *bk, bucket *tmp,
                                size_t nb, bool *forced)
{
    sonde_status st;
    size_t nout = bo->fn == BUCKET_QUANTILES ? bo->np : 1;
    for (size_t k = 0; k < nout; k++) {
        memcpy(tmp, bk, nb * sizeof(*bk)); /* the helpers sort in place */
        double v = bo->fn == BUCKET_FRACTION
                       ? bucket_fraction(bo->p[0][step], bo->p[1][step], tmp, nb, forced)
                       : bucket_quantile(bo->p[k][step], tmp, nb, forced);
        sonde_label *l = grp->labels;
        uint32_t nl = grp->nlabels;
        size_t idx;
        if (bo->fn == BUCKET_QUANTILES) {
            size_t vlen;
            char *val = quantile_label(c, bo->p[k][step], &vlen);
            if (!val)
                return SONDE_ERR_NOMEM;
            if ((st = query_labels_set(c, l, nl, bo->label, bo->label_len, val, vlen, &l, &nl)))
                return st;
        }
        if ((st = query_builder_get(b, l, nl, &idx)) || (st = query_builder_set(b, idx, step, v)))
            return st;
    }
    return SONDE_OK;
}

static sonde_status eval_buckets(query_eval_ctx *c, const bucket_out *bo, const query_node *vec,
                                 const qgrid *g, query_value *out);

/* The outputs of one native histogram sample (full labels, name dropped later). */
static sonde_status native_emit(query_eval_ctx *c, const bucket_out *bo, qbuilder *b,
                                const query_series *s, size_t step)
{
    sonde_status st;
    const sonde_fhist *h = s->h[step];
    const sonde_label *name = series_labels_get(s->labels, s->nlabels, "__name__", 8);
    int nl_ = name ? (int)name->value_len : 0;
    const char *nv = name ? name->value : "";
    size_t nout = bo->fn == BUCKET_QUANTILES ? bo->np : 1;
    for (size_t k = 0; k < nout; k++) {
        int nan_info = 0;
        double v;
        if (bo->fn == BUCKET_FRACTION) {
            bool nan_frac;
            v = query_hist_fraction(bo->p[0][step], bo->p[1][step], h, &nan_frac);
            if (nan_frac)
                query_eval_annotate(c, false, bo->pos,
                                    "input to histogram_fraction has NaN observations, which are "
                                    "excluded from all fractions for metric name \"%.*s\"",
                                    nl_, nv);
        } else {
            v = query_hist_quantile(bo->p[k][step], h, &nan_info);
            if (nan_info)
                query_eval_annotate(c, false, bo->pos,
                                    "input to histogram_quantile has NaN observations, result is "
                                    "%s for metric name \"%.*s\"",
                                    nan_info == 1 ? "NaN" : "skewed higher", nl_, nv);
        }
        sonde_label *l = s->labels;
        uint32_t nl = s->nlabels;
        size_t idx;
        if (bo->fn == BUCKET_QUANTILES) {
            size_t vlen;
            char *val = quantile_label(c, bo->p[k][step], &vlen);
            if (!val)
                return SONDE_ERR_NOMEM;
            if ((st = query_labels_set(c, l, nl, bo->label, bo->label_len, val, vlen, &l, &nl)))
                return st;
        }
        if ((st = query_builder_get(b, l, nl, &idx)) || (st = query_builder_set(b, idx, step, v)))
            return st;
        b->s[idx].drop_name = true;
    }
    return SONDE_OK;
}

static sonde_status eval_histogram_quantile(query_eval_ctx *c, const query_node *n, const qgrid *g,
                                            query_value *out)
{
    bucket_out bo;
    memset(&bo, 0, sizeof(bo));
    const char *fname = query_func_name(n->u.call.fn);
    bo.fn = !strcmp(fname, "histogram_fraction")    ? BUCKET_FRACTION
            : !strcmp(fname, "histogram_quantiles") ? BUCKET_QUANTILES
                                                    : BUCKET_QUANTILE;
    const query_node *vec;
    sonde_status st = bucket_args(c, n, g, &bo, &vec);
    if (st)
        return st;
    if (bo.fn == BUCKET_QUANTILES && !utf8_valid(bo.label, bo.label_len)) {
        char q[256];
        return query_eval_fail(c, SONDE_ERR_INVALID, "invalid label name %s",
                               query_go_quote(q, sizeof(q), bo.label, bo.label_len));
    }
    return eval_buckets(c, &bo, vec, g, out);
}

static sonde_status eval_buckets(query_eval_ctx *c, const bucket_out *bo, const query_node *vec,
                                 const qgrid *g, query_value *out)
{
    query_value in;
    bool hs = c->hist_stats;
    c->hist_stats = false; /* these need whole histograms */
    sonde_status st = query_eval_node(c, vec, g, &in);
    c->hist_stats = hs;
    if (st)
        return st;
    static const char *const drop[] = {"le"};
    query_strlist le = {(const char **)drop, 1};
    qbuilder groups;
    query_builder_init(&groups, c, 1);
    size_t *grp = query_eval_alloc(c, (in.nseries + 1) * sizeof(size_t));
    double *ub = query_eval_alloc(c, (in.nseries + 1) * sizeof(double));
    bool *has = query_eval_alloc(c, (in.nseries + 1) * sizeof(bool));
    if (!grp || !ub || !has)
        return SONDE_ERR_NOMEM;
    /* classic members by their labels without le (name kept): a native
     * histogram with those labels at the same step conflicts */
    qbuilder cfull;
    query_builder_init(&cfull, c, 1);
    size_t *cf = query_eval_alloc(c, (in.nseries + 1) * sizeof(size_t));
    if (!cf)
        return SONDE_ERR_NOMEM;
    bool any_native = false;
    for (size_t i = 0; i < in.nseries; i++) {
        const query_series *s = &in.series[i];
        const sonde_label *l = series_labels_get(s->labels, s->nlabels, "le", 2);
        const sonde_label *name = series_labels_get(s->labels, s->nlabels, "__name__", 8);
        bool floats = !s->h;
        for (size_t k = 0; s->h && k < g->n && !floats; k++)
            floats = s->ok[k] && !s->h[k];
        any_native |= s->h != NULL;
        if (!floats)
            continue;
        if (!l || !parse_f64(l->value, l->value_len, &ub[i])) {
            query_eval_annotate(c, true, bo->pos,
                                "bucket label \"le\" is missing or has a malformed value of "
                                "\"%.*s\" for metric name \"%.*s\"",
                                l ? (int)l->value_len : 0, l ? l->value : "",
                                name ? (int)name->value_len : 0, name ? name->value : "");
            continue;
        }
        has[i] = true;
        sonde_label *gl;
        uint32_t gn;
        if ((st = query_labels_filter(c, s->labels, s->nlabels, &le, false, true, &gl, &gn)) ||
            (st = query_builder_get(&groups, gl, gn, &grp[i])))
            return st;
        if ((st = query_labels_filter(c, s->labels, s->nlabels, &le, false, false, &gl, &gn)) ||
            (st = query_builder_get(&cfull, gl, gn, &cf[i])))
            return st;
    }
    size_t ncf = cfull.n;
    size_t *cfstamp = query_eval_alloc(c, (ncf + 1) * sizeof(size_t));
    size_t *cf2g = query_eval_alloc(c, (ncf + 1) * sizeof(size_t));
    size_t *nat_cf = query_eval_alloc(c, (in.nseries + 1) * sizeof(size_t));
    size_t *gconf = query_eval_alloc(c, (groups.n + 1) * sizeof(size_t));
    if (!cfstamp || !cf2g || !nat_cf || !gconf)
        return SONDE_ERR_NOMEM;
    for (size_t i = 0; i < in.nseries; i++) {
        if (has[i])
            cf2g[cf[i]] = grp[i];
        nat_cf[i] = SIZE_MAX;
        if (in.series[i].h && ncf) {
            size_t x;
            if ((st = query_builder_get(&cfull, in.series[i].labels, in.series[i].nlabels, &x)))
                return st;
            if (x < ncf)
                nat_cf[i] = x;
        }
    }
    size_t ng = groups.n;
    bucket *bk = query_eval_alloc(c, (in.nseries + 1) * sizeof(bucket));
    bucket *tmp = query_eval_alloc(c, (in.nseries + 1) * sizeof(bucket));
    size_t *members = query_eval_alloc(c, (in.nseries + 1) * sizeof(size_t));
    size_t *cnt = query_eval_alloc(c, (ng + 1) * sizeof(size_t));
    size_t *off = query_eval_alloc(c, (ng + 1) * sizeof(size_t));
    if (!bk || !tmp || !members || !cnt || !off)
        return SONDE_ERR_NOMEM;
    for (size_t i = 0; i < in.nseries; i++)
        if (has[i])
            cnt[grp[i]]++;
    for (size_t gi = 1; gi < ng; gi++)
        off[gi] = off[gi - 1] + cnt[gi - 1];
    for (size_t gi = 0; gi < ng; gi++)
        cnt[gi] = 0;
    for (size_t i = 0; i < in.nseries; i++)
        if (has[i])
            members[off[grp[i]] + cnt[grp[i]]++] = i;
    qbuilder b;
    query_builder_init(&b, c, g->n);
    for (size_t step = 0; step < g->n; step++) {
        if ((st = query_eval_tick(c)))
            return st;
        if (bo->fn != BUCKET_FRACTION)
            for (size_t k = 0; k < bo->np; k++)
                if (!(bo->p[k][step] >= 0 && bo->p[k][step] <= 1)) {
                    char qs[32];
                    query_eval_annotate(c, true, bo->ppos[k],
                                        "quantile value should be between 0 and 1, got %s",
                                        query_fmt_float(qs, sizeof(qs), bo->p[k][step]));
                }
        if (any_native) {
            for (size_t i = 0; i < in.nseries; i++)
                if (has[i] && in.series[i].ok[step] && !query_series_is_hist(&in.series[i], step))
                    cfstamp[cf[i]] = step + 1;
            for (size_t i = 0; i < in.nseries; i++) {
                const query_series *s = &in.series[i];
                if (!query_series_is_hist(s, step))
                    continue;
                if (nat_cf[i] != SIZE_MAX && cfstamp[nat_cf[i]] == step + 1) {
                    const sonde_label *name =
                        series_labels_get(s->labels, s->nlabels, "__name__", 8);
                    query_eval_annotate(c, true, bo->pos,
                                        "vector contains a mix of classic and native histograms "
                                        "for metric name \"%.*s\"",
                                        name ? (int)name->value_len : 0, name ? name->value : "");
                    gconf[cf2g[nat_cf[i]]] = step + 1;
                    continue;
                }
                if ((st = native_emit(c, bo, &b, s, step)))
                    return st;
            }
        }
        for (size_t gi = 0; gi < ng; gi++) {
            size_t nb = 0;
            if (gconf[gi] == step + 1)
                continue;
            for (size_t k = 0; k < cnt[gi]; k++) {
                const query_series *s = &in.series[members[off[gi] + k]];
                if (s->ok[step] && !query_series_is_hist(s, step))
                    bk[nb++] = (bucket){ub[members[off[gi] + k]], s->v[step]};
            }
            bool forced = false;
            if (nb && (st = bucket_emit(c, bo, &b, &groups.s[gi], step, bk, tmp, nb, &forced)))
                return st;
            const query_series *first = &in.series[members[off[gi]]];
            const sonde_label *name =
                series_labels_get(first->labels, first->nlabels, "__name__", 8);
            if (forced)
                query_eval_annotate(
                    c, false, bo->pos,
                    "input to histogram_quantile needed to be fixed for monotonicity (see "
                    "https://prometheus.io/docs/prometheus/latest/querying/functions/"
                    "#histogram_quantile) for metric name \"%.*s\"",
                    name ? (int)name->value_len : 0, name ? name->value : "");
        }
    }
    query_builder_finish(&b, g, out);
    return SONDE_OK;
}

/* ---- range-vector functions over windows holding native histograms ----
 *
 * range_series() calls this for a step whose window holds at least one
 * histogram sample (float-only windows keep the float path). Semantics of
 * Prometheus' functions.go: rate/increase/delta (extrapolatedRate and the
 * anchored/smoothed extendedHistogramRate), irate/idelta (instantValue),
 * sum/avg/count/last/first/present/ts_of_*_over_time, changes, resets; the
 * float-only functions use the floats and note the ignored histograms. */

typedef struct hctx {
    query_eval_ctx *c;
    const qhrange *r;
    char name[256];
    sonde_status st;
    arena *a; /* intermediates (the caller's per-step scratch, or the query arena) */
} hctx;

static void h_warn(hctx *x, bool warning, const char *what)
{
    query_eval_annotate(x->c, warning, x->r->pos, "%s \"%s\"", what, x->name);
}

#define H_MIXED "encountered a mix of histograms and floats for metric name"
#define H_NOT_COUNTER "this native histogram metric is not a counter:"
#define H_NOT_GAUGE "this native histogram metric is not a gauge:"
#define H_EXP_CUSTOM                                                                               \
    "vector contains a mix of histograms with exponential and custom buckets schemas for metric "  \
    "name"
#define H_IGNORED                                                                                  \
    "ignored histograms in a range containing both floats and histograms for metric name"

/* a op b with the annotations of add/subHistogramWithAnnotations; NULL when incompatible. */
static sonde_fhist *h_addsub(hctx *x, const sonde_fhist *a, const sonde_fhist *b, bool sub)
{
    unsigned fl = 0;
    sonde_fhist *r;
    if (query_hist_add(x->a, a, b, sub, &r, &fl) != SONDE_OK) {
        x->st = query_eval_fail(x->c, SONDE_ERR_NOMEM, "out of memory");
        return NULL;
    }
    if (fl & QHIST_INCOMPATIBLE) {
        h_warn(x, true, H_EXP_CUSTOM);
        return NULL;
    }
    if (fl & QHIST_RECONCILED)
        query_eval_annotate(x->c, false, x->r->pos,
                            "mismatched custom buckets were reconciled during %s",
                            sub ? "subtraction" : "addition");
    return r;
}

static sonde_fhist *h_scaled(hctx *x, const sonde_fhist *h, double f, bool divide)
{
    sonde_fhist *r = query_hist_copy(x->a, h);
    if (r)
        query_hist_scale(r, f, divide);
    else
        x->st = query_eval_fail(x->c, SONDE_ERR_NOMEM, "out of memory");
    return r;
}

/* extrapolatedRate + histogramRate */
static sonde_fhist *h_rate(hctx *x, bool is_counter, bool is_rate)
{
    const qhrange *r = x->r;
    const sonde_hsample *H = r->h;
    size_t n = r->nh;
    if (r->nf) {
        h_warn(x, true, H_MIXED);
        return NULL;
    }
    if (n < 2)
        return NULL;
    const sonde_fhist *prev = H[0].h, *last = H[n - 1].h;
    bool custom = query_hist_is_custom(prev);
    if (is_counter && (prev->hint == SONDE_HIST_HINT_GAUGE || last->hint == SONDE_HIST_HINT_GAUGE))
        h_warn(x, true, H_NOT_COUNTER);
    sonde_fhist empty;
    if (is_counter && query_hist_detect_reset(H[1].h, prev)) {
        memset(&empty, 0, sizeof(empty));
        empty.schema = H[1].h->schema;
        empty.custom = H[1].h->custom;
        empty.ncustom = H[1].h->ncustom;
        prev = &empty;
        custom = query_hist_is_custom(H[1].h);
    }
    if (query_hist_is_custom(last) != custom) {
        h_warn(x, true, H_EXP_CUSTOM);
        return NULL;
    }
    int32_t min_schema = last->schema < prev->schema ? last->schema : prev->schema;
    for (size_t i = 1; i + 1 < n; i++) {
        const sonde_fhist *cur = H[i].h;
        if (!is_counter)
            continue;
        if (cur->hint == SONDE_HIST_HINT_GAUGE)
            h_warn(x, true, H_NOT_COUNTER);
        if (cur->schema < min_schema)
            min_schema = cur->schema;
        if (query_hist_is_custom(cur) != custom) {
            h_warn(x, true, H_EXP_CUSTOM);
            return NULL;
        }
    }
    sonde_fhist *res = query_hist_reduce(x->a, last, min_schema);
    if (!res)
        return NULL;
    if (!(res = h_addsub(x, res, prev, true)))
        return NULL;
    if (is_counter) {
        const sonde_fhist *p = prev;
        for (size_t i = 1; i < n; i++) {
            const sonde_fhist *cur = H[i].h;
            if (query_hist_detect_reset(cur, p) && !(res = h_addsub(x, res, p, false)))
                return NULL;
            p = cur;
        }
    } else if (H[0].h->hint != SONDE_HIST_HINT_GAUGE || H[n - 1].h->hint != SONDE_HIST_HINT_GAUGE) {
        h_warn(x, true, H_NOT_GAUGE);
    }
    res->hint = SONDE_HIST_HINT_GAUGE;
    int64_t range_start = r->wend - r->range, range_end = r->wend;
    double to_start = (double)(H[0].ts_ms - range_start) / 1000.0;
    double to_end = (double)(range_end - H[n - 1].ts_ms) / 1000.0;
    double sampled = (double)(H[n - 1].ts_ms - H[0].ts_ms) / 1000.0;
    double avg_between = sampled / (double)(n - 1);
    double threshold = avg_between * 1.1;
    if (to_start >= threshold)
        to_start = avg_between / 2;
    if (is_counter) {
        double to_zero = to_start;
        if (res->count > 0 && H[0].h->count >= 0)
            to_zero = sampled * (H[0].h->count / res->count);
        if (to_zero < to_start)
            to_start = to_zero;
    }
    if (to_end >= threshold)
        to_end = avg_between / 2;
    double factor = sampled != 0 ? (sampled + to_start + to_end) / sampled : 1;
    if (is_rate)
        factor /= (double)r->range / 1000.0;
    query_hist_scale(res, factor, false);
    res->hint = SONDE_HIST_HINT_GAUGE;
    return res;
}

/* interpolateHistograms */
static sonde_fhist *h_interp(hctx *x, const sonde_hsample *a, const sonde_hsample *b, int64_t t,
                             bool is_counter)
{
    if (t == a->ts_ms)
        return query_hist_copy(x->a, a->h);
    if (t == b->ts_ms)
        return query_hist_copy(x->a, b->h);
    double frac = (double)(t - a->ts_ms) / (double)(b->ts_ms - a->ts_ms);
    if (is_counter && query_hist_detect_reset(b->h, a->h))
        return h_scaled(x, b->h, frac, false);
    sonde_fhist *d = h_addsub(x, b->h, a->h, true);
    if (!d)
        return NULL;
    query_hist_scale(d, frac, false);
    return h_addsub(x, d, a->h, false);
}

/* extendedHistogramRate (anchored / smoothed) */
static sonde_fhist *h_ext_rate(hctx *x, bool is_counter, bool is_rate)
{
    const qhrange *r = x->r;
    const sonde_hsample *H = r->h;
    if (r->nf) {
        h_warn(x, true, H_MIXED);
        return NULL;
    }
    size_t n = r->nh;
    if (!n)
        return NULL;
    int64_t rs = r->wend - r->range, re = r->wend;
    size_t last = n - 1, first = 0;
    while (first < last && H[first].ts_ms <= rs)
        first++;
    first = first ? first - 1 : 0;
    if (r->smoothed) {
        size_t k = 0;
        while (k < n - 1 && H[k].ts_ms < re)
            k++;
        last = k;
    }
    if (H[last].ts_ms <= rs)
        return NULL;
    if (r->smoothed && H[first].ts_ms > re)
        return NULL;
    bool custom = query_hist_is_custom(H[first].h);
    for (size_t i = first; i <= last; i++) {
        if (query_hist_is_custom(H[i].h) != custom) {
            h_warn(x, true, H_EXP_CUSTOM);
            return NULL;
        }
        if (is_counter && H[i].h->hint == SONDE_HIST_HINT_GAUGE)
            h_warn(x, true, H_NOT_COUNTER);
    }
    sonde_fhist *left, *right;
    if (r->smoothed && H[first].ts_ms < rs)
        left = h_interp(x, &H[first], &H[first + 1], rs, is_counter);
    else
        left = query_hist_copy(x->a, H[first].h);
    if (!left)
        return NULL;
    if (r->smoothed && last > 0 && H[last].ts_ms > re)
        right = h_interp(x, &H[last - 1], &H[last], re, is_counter);
    else
        right = query_hist_copy(x->a, H[last].h);
    if (!right)
        return NULL;
    if (!is_counter &&
        (left->hint != SONDE_HIST_HINT_GAUGE || right->hint != SONDE_HIST_HINT_GAUGE))
        h_warn(x, true, H_NOT_GAUGE);
    sonde_fhist *res = h_addsub(x, right, left, true);
    if (!res)
        return NULL;
    if (is_counter) {
        /* correctForCounterResetsHistogram */
        size_t f1 = first + 1;
        const sonde_fhist *prev = left;
        if (r->smoothed && H[first].ts_ms < rs && first + 1 < n &&
            query_hist_detect_reset(H[first + 1].h, H[first].h)) {
            prev = H[first + 1].h;
            f1++;
        }
        sonde_fhist *corr = NULL;
        if (f1 <= last) {
            for (size_t i = f1; i + 1 <= last; i++) {
                if (query_hist_detect_reset(H[i].h, prev)) {
                    corr = corr ? h_addsub(x, corr, prev, false) : query_hist_copy(x->a, prev);
                    if (!corr)
                        return NULL;
                }
                prev = H[i].h;
            }
            if (query_hist_detect_reset(right, prev)) {
                corr = corr ? h_addsub(x, corr, prev, false) : query_hist_copy(x->a, prev);
                if (!corr)
                    return NULL;
            }
        }
        if (corr && !(res = h_addsub(x, res, corr, false)))
            return NULL;
    }
    if (is_rate)
        query_hist_scale(res, (double)r->range / 1000.0, true);
    res->hint = SONDE_HIST_HINT_GAUGE;
    return res;
}

/* instantValue with histograms */
static bool h_instant(hctx *x, bool is_rate, double *v, sonde_fhist **out)
{
    const qhrange *r = x->r;
    if (r->nf + r->nh < 2)
        return false;
    /* the last two samples of either kind */
    const sonde_hsample *hb = NULL, *ha = NULL;
    const sonde_sample *fb = NULL, *fa = NULL;
    size_t fi = r->nf, hi = r->nh;
    for (int k = 0; k < 2; k++) {
        bool take_h = hi > 0 && (fi == 0 || r->h[hi - 1].ts_ms > r->f[fi - 1].ts_ms);
        if (take_h) {
            if (k == 0)
                hb = &r->h[--hi];
            else
                ha = &r->h[--hi];
        } else {
            if (k == 0)
                fb = &r->f[--fi];
            else
                fa = &r->f[--fi];
        }
    }
    /* exactly one of each pair was taken */
    int64_t tb = hb ? hb->ts_ms : (fb ? fb->ts_ms : 0);
    int64_t ta = ha ? ha->ts_ms : (fa ? fa->ts_ms : 0);
    if (tb == ta)
        return false;
    if (fb && fa) {
        double d = (is_rate && fb->value < fa->value) ? fb->value : fb->value - fa->value;
        *v = is_rate ? d / ((double)(tb - ta) / 1000.0) : d;
        return true;
    }
    if (!(hb && ha)) {
        h_warn(x, true, H_MIXED);
        return false;
    }
    if (is_rate && (hb->h->hint == SONDE_HIST_HINT_GAUGE || ha->h->hint == SONDE_HIST_HINT_GAUGE))
        h_warn(x, true, H_NOT_COUNTER);
    if (!is_rate && (hb->h->hint != SONDE_HIST_HINT_GAUGE || ha->h->hint != SONDE_HIST_HINT_GAUGE))
        h_warn(x, true, H_NOT_GAUGE);
    sonde_fhist *res;
    if (!is_rate || !query_hist_detect_reset(hb->h, ha->h)) {
        if (!(res = h_addsub(x, hb->h, ha->h, true)))
            return false;
    } else if (!(res = query_hist_copy(x->a, hb->h))) {
        return false;
    }
    res->hint = SONDE_HIST_HINT_GAUGE;
    if (is_rate)
        query_hist_scale(res, (double)(tb - ta) / 1000.0, true);
    res->hint = SONDE_HIST_HINT_GAUGE;
    *out = res;
    return true;
}

/* sum_over_time / avg_over_time of histograms */
static sonde_fhist *h_sum(hctx *x, bool avg)
{
    const qhrange *r = x->r;
    if (r->nf) {
        h_warn(x, true, H_MIXED);
        return NULL;
    }
    qhacc acc;
    memset(&acc, 0, sizeof(acc));
    acc.avg = avg;
    for (size_t i = 0; i < r->nh; i++)
        if (query_hist_acc_add(x->a, &acc, r->h[i].h) != SONDE_OK) {
            x->st = query_eval_fail(x->c, SONDE_ERR_NOMEM, "out of memory");
            return NULL;
        }
    if (acc.reset_seen && acc.not_reset_seen)
        query_eval_annotate(x->c, true, r->pos,
                            "conflicting counter resets during histogram aggregation");
    if (acc.flags & QHIST_RECONCILED)
        query_eval_annotate(x->c, false, r->pos,
                            "mismatched custom buckets were reconciled during aggregation");
    if (acc.flags & QHIST_INCOMPATIBLE) {
        h_warn(x, true, H_EXP_CUSTOM);
        return NULL;
    }
    sonde_fhist *res;
    if (query_hist_acc_result(x->a, &acc, &res) != SONDE_OK) {
        x->st = query_eval_fail(x->c, SONDE_ERR_NOMEM, "out of memory");
        return NULL;
    }
    return res;
}

/* changes() and resets() over floats and histograms in time order (anchored:
 * from the last sample at or before the range start, pickFirstSampleIndices). */
static bool h_changes(hctx *x, bool resets, double *v)
{
    const qhrange *r = x->r;
    size_t fi = 0, hi = 0;
    if (r->anchored) {
        int64_t rs = r->wend - r->range;
        size_t lf = 0, lh = 0; /* counts of samples at or before rs */
        while (lf < r->nf && r->f[lf].ts_ms <= rs)
            lf++;
        while (lh < r->nh && r->h[lh].ts_ms <= rs)
            lh++;
        if (lf >= r->nf && lh >= r->nh)
            return false;
        if (lf == 0 && lh == 0) {
            fi = hi = 0;
        } else if (lh == 0 || (lf > 0 && r->f[lf - 1].ts_ms >= r->h[lh - 1].ts_ms)) {
            fi = lf - 1;
            hi = lh;
        } else {
            fi = lf;
            hi = lh - 1;
        }
    }
    if (fi >= r->nf && hi >= r->nh)
        return false;
    bool have = false, prev_h = false;
    double prev_f = 0;
    const sonde_fhist *prev_hist = NULL;
    double cnt = 0;
    while (fi < r->nf || hi < r->nh) {
        bool is_h = fi >= r->nf || (hi < r->nh && r->h[hi].ts_ms < r->f[fi].ts_ms);
        double cf = 0;
        const sonde_fhist *ch = NULL;
        if (is_h)
            ch = r->h[hi++].h;
        else
            cf = r->f[fi++].value;
        if (have) {
            if (!prev_h && !is_h) {
                if (resets ? cf < prev_f : (cf != prev_f && !(isnan(cf) && isnan(prev_f))))
                    cnt++;
            } else if (prev_h != is_h) {
                cnt++;
            } else if (resets ? query_hist_detect_reset(ch, prev_hist)
                              : !query_hist_equal(ch, prev_hist)) {
                cnt++;
            }
        }
        have = true;
        prev_h = is_h;
        prev_f = cf;
        prev_hist = ch;
    }
    *v = cnt;
    return true;
}

sonde_status query_hist_range(query_eval_ctx *c, const qhrange *r, double *v, sonde_fhist **h,
                              bool *emit)
{
    hctx x = {c, r, "", SONDE_OK, r->tmp ? r->tmp : c->a};
    const sonde_label *nm = series_labels_get(r->labels, r->nlabels, "__name__", 8);
    if (nm)
        snprintf(x.name, sizeof(x.name), "%.*s", (int)nm->value_len, nm->value);
    *emit = false;
    *h = NULL;
    switch (r->id) {
    case F_RATE:
    case F_INCREASE:
    case F_DELTA: {
        bool counter = r->id != F_DELTA, rate = r->id == F_RATE;
        *h = (r->anchored || r->smoothed) ? h_ext_rate(&x, counter, rate)
                                          : h_rate(&x, counter, rate);
        break;
    }
    case F_IRATE:
    case F_IDELTA:
        *emit = h_instant(&x, r->id == F_IRATE, v, h);
        break;
    case F_SUM_OT:
    case F_AVG_OT:
        *h = h_sum(&x, r->id == F_AVG_OT);
        break;
    case F_COUNT_OT:
        *v = (double)(r->nf + r->nh);
        *emit = true;
        break;
    case F_PRESENT_OT:
        *v = 1;
        *emit = true;
        break;
    case F_LAST_OT:
    case F_FIRST_OT: {
        bool last = r->id == F_LAST_OT;
        const sonde_hsample *hs = last ? &r->h[r->nh - 1] : &r->h[0];
        const sonde_sample *fs = r->nf ? (last ? &r->f[r->nf - 1] : &r->f[0]) : NULL;
        if (fs && (last ? hs->ts_ms < fs->ts_ms : fs->ts_ms < hs->ts_ms)) {
            *v = fs->value;
            *emit = true;
        } else if (!(*h = query_hist_copy(c->a, hs->h))) { /* hs is in scratch memory */
            return query_eval_fail(c, SONDE_ERR_NOMEM, "out of memory");
        }
        break;
    }
    case F_TS_LAST_OT:
    case F_TS_FIRST_OT: {
        bool last = r->id == F_TS_LAST_OT;
        int64_t th = last ? r->h[r->nh - 1].ts_ms : r->h[0].ts_ms;
        if (r->nf) {
            int64_t tf = last ? r->f[r->nf - 1].ts_ms : r->f[0].ts_ms;
            th = last ? (tf > th ? tf : th) : (tf < th ? tf : th);
        }
        *v = (double)th / 1000.0;
        *emit = true;
        break;
    }
    case F_CHANGES:
    case F_RESETS:
        *emit = h_changes(&x, r->id == F_RESETS, v);
        break;
    case F_DERIV:
    case F_PREDICT_LINEAR:
    case F_HOLT_WINTERS:
        if (r->nf < 2) {
            if (r->nf == 1)
                h_warn(&x, false, H_IGNORED);
            break;
        }
        /* fall through */
    case F_MIN_OT:
    case F_MAX_OT:
    case F_TS_MIN_OT:
    case F_TS_MAX_OT:
    case F_STDDEV_OT:
    case F_STDVAR_OT:
    case F_QUANTILE_OT:
    case F_MAD_OT:
        if (!r->nf)
            break;
        h_warn(&x, false, H_IGNORED);
        *emit = range_fn(x.a, r->id, r->f, r->nf, r->wend, r->range, r->step_t, r->p, v);
        break;
    default:
        break;
    }
    if (*h) {
        *emit = true;
        /* the result outlives the step's scratch */
        if (x.a != c->a && !(*h = query_hist_copy(c->a, *h)))
            return query_eval_fail(c, SONDE_ERR_NOMEM, "out of memory");
    }
    return x.st;
}

sonde_status query_hist_interpolate(query_eval_ctx *c, const sonde_hsample *a,
                                    const sonde_hsample *b, int64_t t, bool counter,
                                    const query_series *s, uint32_t pos, sonde_fhist **out)
{
    qhrange r;
    memset(&r, 0, sizeof(r));
    r.labels = s->labels;
    r.nlabels = s->nlabels;
    r.pos = pos;
    hctx x = {c, &r, "", SONDE_OK, c->a};
    const sonde_label *nm = series_labels_get(s->labels, s->nlabels, "__name__", 8);
    if (nm)
        snprintf(x.name, sizeof(x.name), "%.*s", (int)nm->value_len, nm->value);
    if (query_hist_is_custom(a->h) != query_hist_is_custom(b->h)) {
        h_warn(&x, true, H_EXP_CUSTOM);
        *out = NULL;
        return SONDE_OK;
    }
    *out = h_interp(&x, a, b, t, counter);
    return x.st;
}

void query_hist_mixed_warning(query_eval_ctx *c, const query_series *s, uint32_t pos)
{
    const sonde_label *nm = series_labels_get(s->labels, s->nlabels, "__name__", 8);
    query_eval_annotate(c, true, pos, H_MIXED " \"%.*s\"", nm ? (int)nm->value_len : 0,
                        nm ? nm->value : "");
}
