/*
 * hist.c - float native histogram arithmetic for the evaluator: copy, scale,
 * add/subtract (schema reduction, zero-bucket widening, custom-bound
 * intersection), counter-reset detection, bucket iteration, quantile,
 * fraction and variance, as Prometheus' FloatHistogram and promql/quantile.go
 * define them (re-derived here on the sparse (index, count) form of
 * storage.h's sonde_fhist).
 *
 * Threads: one query on one thread. Results live in the given arena; inputs
 * are never modified (histograms read from storage are shared).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/utf8.h"
#include "eval_internal.h"

sonde_fhist *query_hist_copy(arena *a, const sonde_fhist *h)
{
    sonde_fhist *o = arena_alloc(a, sizeof(*o));
    if (!o)
        return NULL;
    *o = *h;
    size_t np = h->npos ? h->npos : 1, nn = h->nneg ? h->nneg : 1;
    o->pos_idx = arena_alloc(a, np * sizeof(int32_t));
    o->pos = arena_alloc(a, np * sizeof(double));
    o->neg_idx = arena_alloc(a, nn * sizeof(int32_t));
    o->neg = arena_alloc(a, nn * sizeof(double));
    if (!o->pos_idx || !o->pos || !o->neg_idx || !o->neg)
        return NULL;
    if (h->npos) {
        memcpy(o->pos_idx, h->pos_idx, h->npos * sizeof(int32_t));
        memcpy(o->pos, h->pos, h->npos * sizeof(double));
    }
    if (h->nneg) {
        memcpy(o->neg_idx, h->neg_idx, h->nneg * sizeof(int32_t));
        memcpy(o->neg, h->neg, h->nneg * sizeof(double));
    }
    if (h->ncustom) { /* copied too: the source may live in a scratch arena */
        if (!(o->custom = arena_alloc(a, h->ncustom * sizeof(double))))
            return NULL;
        memcpy(o->custom, h->custom, h->ncustom * sizeof(double));
    }
    return o;
}

void query_hist_scale(sonde_fhist *h, double f, bool divide)
{
    if (divide) {
        h->zero_count /= f;
        h->count /= f;
        h->sum /= f;
        if (f == 0) {
            h->npos = h->nneg = 0;
            return;
        }
    } else {
        h->zero_count *= f;
        h->count *= f;
        h->sum *= f;
    }
    for (uint32_t i = 0; i < h->npos; i++)
        h->pos[i] = divide ? h->pos[i] / f : h->pos[i] * f;
    for (uint32_t i = 0; i < h->nneg; i++)
        h->neg[i] = divide ? h->neg[i] / f : h->neg[i] * f;
    if (f < 0)
        h->hint = SONDE_HIST_HINT_GAUGE;
}

bool query_hist_is_custom(const sonde_fhist *h)
{
    return h->schema == SONDE_HIST_CUSTOM;
}

/* Every bucket in ascending order of value (Prometheus' AllBucketIterator):
 * negative buckets, the zero bucket when it has a count, positive buckets;
 * bucket k of them without materialising the list. */
size_t query_hist_nbuckets(const sonde_fhist *h)
{
    bool zero = !query_hist_is_custom(h) && h->zero_count > 0;
    return (size_t)h->nneg + (zero ? 1 : 0) + h->npos;
}

void query_hist_bucket(const sonde_fhist *h, size_t k, qhbucket *b)
{
    bool custom = query_hist_is_custom(h);
    double zt = h->zero_threshold;
    if (k < h->nneg) {
        uint32_t j = h->nneg - 1 - (uint32_t)k;
        int32_t i = h->neg_idx[j];
        double up = -query_hist_bound(i - 1, h->schema), lo = -query_hist_bound(i, h->schema);
        if (up < 0 && up > -zt)
            up = -zt;
        if (lo > 0 && lo < zt)
            lo = zt;
        *b = (qhbucket){lo, up, h->neg[j], -1};
        return;
    }
    k -= h->nneg;
    if (!custom && h->zero_count > 0) {
        if (k == 0) {
            *b = (qhbucket){-zt, zt, h->zero_count, 0};
            return;
        }
        k--;
    }
    uint32_t j = (uint32_t)k;
    int32_t i = h->pos_idx[j];
    double lo, up;
    if (custom) {
        lo = i <= 0 ? -INFINITY : (uint32_t)i - 1 < h->ncustom ? h->custom[i - 1] : INFINITY;
        up = i < 0 ? -INFINITY : (uint32_t)i < h->ncustom ? h->custom[i] : INFINITY;
    } else {
        lo = query_hist_bound(i - 1, h->schema);
        up = query_hist_bound(i, h->schema);
        if (lo > 0 && lo < zt)
            lo = zt;
    }
    *b = (qhbucket){lo, up, h->pos[j], 1};
}

/* ---- sparse bucket sides ---- */

typedef struct side {
    int32_t *idx;
    double *c;
    uint32_t n;
} side;

/* Bucket indices at a lower resolution (targetIdx), merged. In place. */
static void side_reduce(side *s, int32_t from, int32_t to)
{
    if (from <= to)
        return;
    uint32_t k = 0;
    for (uint32_t i = 0; i < s->n; i++) {
        int32_t t = ((s->idx[i] - 1) >> (from - to)) + 1;
        if (k && s->idx[k - 1] == t) {
            s->c[k - 1] += s->c[i];
        } else {
            s->idx[k] = t;
            s->c[k++] = s->c[i];
        }
    }
    s->n = k;
}

/* a + sign * b, merged by index (both sorted). */
static bool side_add(arena *a, side *out, const side *x, const side *y, double sign)
{
    size_t cap = (size_t)x->n + y->n + 1;
    out->idx = arena_alloc(a, cap * sizeof(int32_t));
    out->c = arena_alloc(a, cap * sizeof(double));
    if (!out->idx || !out->c)
        return false;
    uint32_t i = 0, j = 0, k = 0;
    while (i < x->n || j < y->n) {
        if (j == y->n || (i < x->n && x->idx[i] < y->idx[j])) {
            out->idx[k] = x->idx[i];
            out->c[k++] = x->c[i++];
        } else if (i == x->n || y->idx[j] < x->idx[i]) {
            out->idx[k] = y->idx[j];
            out->c[k++] = sign * y->c[j++];
        } else {
            out->idx[k] = x->idx[i];
            out->c[k++] = x->c[i++] + sign * y->c[j++];
        }
    }
    out->n = k;
    return true;
}

/* Moves the buckets below a larger zero threshold into the zero bucket
 * (zeroCountForLargerThreshold + trimBucketsInZeroBucket); returns the
 * threshold actually reached (a populated bucket straddling it widens it). */
static double zero_widen(sonde_fhist *h, double t)
{
    if (!(t > h->zero_threshold)) /* NaN too */
        return h->zero_threshold;
    for (;;) {
        double zc = h->zero_count, nt = t;
        uint32_t pcut = 0, ncut = 0;
        for (uint32_t j = 0; j < h->npos; j++) {
            double lo = query_hist_bound(h->pos_idx[j] - 1, h->schema);
            double up = query_hist_bound(h->pos_idx[j], h->schema);
            if (lo >= nt)
                break;
            zc += h->pos[j];
            pcut = j + 1;
            if (up > nt) {
                if (h->pos[j] != 0)
                    nt = up;
                break;
            }
        }
        for (uint32_t j = 0; j < h->nneg; j++) {
            double lo = query_hist_bound(h->neg_idx[j] - 1, h->schema);
            double up = query_hist_bound(h->neg_idx[j], h->schema);
            if (lo >= nt)
                break;
            zc += h->neg[j];
            ncut = j + 1;
            if (up > nt) {
                if (h->neg[j] != 0)
                    nt = up;
                break;
            }
        }
        if (nt != t) {
            t = nt;
            continue;
        }
        h->zero_count = zc;
        h->zero_threshold = t;
        memmove(h->pos_idx, h->pos_idx + pcut, (h->npos - pcut) * sizeof(int32_t));
        memmove(h->pos, h->pos + pcut, (h->npos - pcut) * sizeof(double));
        h->npos -= pcut;
        memmove(h->neg_idx, h->neg_idx + ncut, (h->nneg - ncut) * sizeof(int32_t));
        memmove(h->neg, h->neg + ncut, (h->nneg - ncut) * sizeof(double));
        h->nneg -= ncut;
        return t;
    }
}

/* Custom buckets mapped onto the intersected bounds (addCustomBucketsWithMismatches). */
static bool side_remap_custom(arena *a, side *s, const double *from, uint32_t nfrom,
                              const double *to, uint32_t nto)
{
    int32_t *idx = arena_alloc(a, (s->n + 1) * sizeof(int32_t));
    double *c = arena_alloc(a, (s->n + 1) * sizeof(double));
    if (!idx || !c)
        return false;
    uint32_t k = 0;
    for (uint32_t i = 0; i < s->n; i++) {
        int32_t bi = s->idx[i];
        double up = bi >= 0 && (uint32_t)bi < nfrom ? from[bi] : INFINITY;
        uint32_t t = 0; /* first target bound >= up */
        while (t < nto && to[t] < up)
            t++;
        if (k && idx[k - 1] == (int32_t)t) {
            c[k - 1] += s->c[i];
        } else {
            idx[k] = (int32_t)t;
            c[k++] = s->c[i];
        }
    }
    s->idx = idx;
    s->c = c;
    s->n = k;
    return true;
}

static bool custom_equal(const sonde_fhist *x, const sonde_fhist *y)
{
    if (x->ncustom != y->ncustom)
        return false;
    for (uint32_t i = 0; i < x->ncustom; i++)
        if (x->custom[i] != y->custom[i])
            return false;
    return true;
}

/* adjustCounterReset */
static uint8_t hint_combine(uint8_t h, uint8_t o, bool *collision)
{
    if (o == h || h == SONDE_HIST_HINT_GAUGE)
        return h;
    if (o == SONDE_HIST_HINT_GAUGE)
        return SONDE_HIST_HINT_GAUGE;
    if (h == SONDE_HIST_HINT_UNKNOWN || o == SONDE_HIST_HINT_UNKNOWN)
        return SONDE_HIST_HINT_UNKNOWN;
    *collision = true;
    return SONDE_HIST_HINT_UNKNOWN;
}

sonde_status query_hist_add(arena *a, const sonde_fhist *x, const sonde_fhist *y, bool sub,
                            sonde_fhist **out, unsigned *flags)
{
    *out = NULL;
    if (query_hist_is_custom(x) != query_hist_is_custom(y)) {
        *flags |= QHIST_INCOMPATIBLE;
        return SONDE_OK;
    }
    sonde_fhist *h = query_hist_copy(a, x), *o = query_hist_copy(a, y);
    if (!h || !o)
        return SONDE_ERR_NOMEM;
    bool coll = false;
    h->hint = hint_combine(x->hint, y->hint, &coll);
    if (coll)
        *flags |= QHIST_HINT_COLLISION;
    double sign = sub ? -1 : 1;
    side hp = {h->pos_idx, h->pos, h->npos}, hn = {h->neg_idx, h->neg, h->nneg};
    side op = {o->pos_idx, o->pos, o->npos}, on = {o->neg_idx, o->neg, o->nneg};
    if (query_hist_is_custom(h)) {
        if (!custom_equal(h, o)) {
            *flags |= QHIST_RECONCILED;
            uint32_t n = 0;
            double *b = arena_alloc(a, (h->ncustom + 1) * sizeof(double));
            if (!b)
                return SONDE_ERR_NOMEM;
            for (uint32_t i = 0, j = 0; i < h->ncustom && j < o->ncustom;) {
                if (h->custom[i] == o->custom[j]) {
                    b[n++] = h->custom[i];
                    i++;
                    j++;
                } else if (h->custom[i] < o->custom[j]) {
                    i++;
                } else {
                    j++;
                }
            }
            if (!side_remap_custom(a, &hp, h->custom, h->ncustom, b, n) ||
                !side_remap_custom(a, &op, o->custom, o->ncustom, b, n))
                return SONDE_ERR_NOMEM;
            h->custom = b;
            h->ncustom = n;
        }
    } else {
        int32_t s = h->schema < o->schema ? h->schema : o->schema;
        side_reduce(&hp, h->schema, s);
        side_reduce(&hn, h->schema, s);
        side_reduce(&op, o->schema, s);
        side_reduce(&on, o->schema, s);
        h->npos = hp.n;
        h->nneg = hn.n;
        o->npos = op.n;
        o->nneg = on.n;
        h->schema = o->schema = s;
        /* a common zero threshold: the larger, widened by straddling buckets */
        /* bounded: each round widens one side; NaN thresholds never agree */
        for (int k = 0; k < 64 && h->zero_threshold != o->zero_threshold; k++) {
            if (h->zero_threshold < o->zero_threshold)
                zero_widen(h, o->zero_threshold);
            else
                zero_widen(o, h->zero_threshold);
        }
        hp = (side){h->pos_idx, h->pos, h->npos};
        hn = (side){h->neg_idx, h->neg, h->nneg};
        op = (side){o->pos_idx, o->pos, o->npos};
        on = (side){o->neg_idx, o->neg, o->nneg};
        h->zero_count += sign * o->zero_count;
    }
    h->count += sign * o->count;
    h->sum += sign * o->sum;
    side rp, rn;
    if (!side_add(a, &rp, &hp, &op, sign) || !side_add(a, &rn, &hn, &on, sign))
        return SONDE_ERR_NOMEM;
    h->pos_idx = rp.idx;
    h->pos = rp.c;
    h->npos = rp.n;
    h->neg_idx = rn.idx;
    h->neg = rn.c;
    h->nneg = rn.n;
    *out = h;
    return SONDE_OK;
}

/* ---- equality (FloatHistogram.Equals on compacted histograms) ---- */

static bool side_equal(const int32_t *ai, const double *ac, uint32_t an, const int32_t *bi,
                       const double *bc, uint32_t bn)
{
    uint32_t i = 0, j = 0;
    for (;;) {
        while (i < an && ac[i] == 0)
            i++;
        while (j < bn && bc[j] == 0)
            j++;
        if (i == an || j == bn)
            return i == an && j == bn;
        if (ai[i] != bi[j] || memcmp(&ac[i], &bc[j], sizeof(double)) != 0)
            return false;
        i++;
        j++;
    }
}

bool query_hist_equal(const sonde_fhist *a, const sonde_fhist *b)
{
    if (a->schema != b->schema || a->count != b->count ||
        memcmp(&a->sum, &b->sum, sizeof(double)) != 0)
        return false;
    if (query_hist_is_custom(a)) {
        if (!custom_equal(a, b))
            return false;
    } else if (a->zero_threshold != b->zero_threshold || a->zero_count != b->zero_count) {
        return false;
    }
    return side_equal(a->pos_idx, a->pos, a->npos, b->pos_idx, b->pos, b->npos) &&
           side_equal(a->neg_idx, a->neg, a->nneg, b->neg_idx, b->neg, b->nneg);
}

/* ---- quantile, fraction, variance ---- */

double query_hist_quantile(double q, const sonde_fhist *h, int *nan_info)
{
    *nan_info = 0;
    if (q < 0)
        return -INFINITY;
    if (q > 1)
        return INFINITY;
    if (h->count == 0 || isnan(q))
        return NAN;
    size_t n = query_hist_nbuckets(h);
    bool fwd = isnan(h->sum) || q < 0.5;
    double rank = fwd ? q * h->count : (1 - q) * h->count;
    double count = 0;
    qhbucket bk = {0, 0, 0, 0};
    size_t k = 0;
    for (; k < n; k++) {
        qhbucket xb;
        query_hist_bucket(h, fwd ? k : n - 1 - k, &xb);
        const qhbucket *x = &xb;
        bk = *x;
        if (x->count == 0)
            continue;
        count += x->count;
        if (count >= rank)
            break;
    }
    bool custom = query_hist_is_custom(h);
    if (!custom && bk.lo < 0 && bk.up > 0) {
        if (h->nneg == 0 && h->npos > 0)
            bk.lo = 0;
        else if (h->npos == 0 && h->nneg > 0)
            bk.up = 0;
    } else if (custom) {
        if (bk.lo == -INFINITY) {
            if (bk.up <= 0)
                return bk.up;
            bk.lo = 0;
        } else if (bk.up == INFINITY) {
            return bk.lo;
        }
    }
    if (count > h->count)
        count = h->count;
    if (count < rank) {
        if (isnan(h->sum)) {
            *nan_info = 1;
            return NAN;
        }
        return bk.up;
    }
    if (fwd)
        rank -= count - bk.count;
    else
        rank = count - rank;
    if (isnan(h->sum)) {
        /* NaN observations: the buckets hold fewer than count, the result is skewed */
        for (size_t j = k + 1; j < n; j++) {
            qhbucket r;
            query_hist_bucket(h, j, &r);
            count += r.count;
        }
        if (count < h->count)
            *nan_info = 2;
    }
    double frac = rank / bk.count;
    if (custom || (bk.lo <= 0 && bk.up >= 0))
        return bk.lo + (bk.up - bk.lo) * frac;
    double ll = log2(fabs(bk.lo)), lu = log2(fabs(bk.up));
    if (bk.lo > 0)
        return exp2(ll + (lu - ll) * frac);
    return -exp2(lu + (ll - lu) * (1 - frac));
}

static double frac_below(const qhbucket *b, double v, bool linear)
{
    if (linear)
        return (v - b->lo) / (b->up - b->lo);
    double ll = log2(fabs(b->lo)), lu = log2(fabs(b->up)), lv = log2(fabs(v));
    if (v > 0)
        return (lv - ll) / (lu - ll);
    return 1 - ((lv - lu) / (ll - lu));
}

double query_hist_fraction(double lower, double upper, const sonde_fhist *h, bool *nan_info)
{
    *nan_info = false;
    if (h->count == 0 || isnan(lower) || isnan(upper))
        return NAN;
    if (lower >= upper)
        return 0;
    size_t n = query_hist_nbuckets(h);
    double count = 0, rank = 0, lr = 0, ur = 0;
    bool ls = false, us = false, custom = query_hist_is_custom(h);
    size_t k = 0;
    for (; k < n; k++) {
        qhbucket b;
        query_hist_bucket(h, k, &b);
        count += b.count;
        bool zero = false;
        if (b.lo <= 0 && b.up >= 0) {
            zero = true;
            if (h->nneg == 0 && h->npos > 0)
                b.lo = 0;
            else if (h->npos == 0 && h->nneg > 0)
                b.up = 0;
        }
        if (!ls && b.lo >= lower) {
            lr = rank;
            ls = true;
        }
        if (!us && b.lo >= upper) {
            ur = rank;
            us = true;
        }
        if (ls && us)
            break;
        bool lin = custom || zero;
        if (!ls && b.lo < lower && b.up > lower) {
            lr = lin && b.lo == -INFINITY ? b.count : rank + b.count * frac_below(&b, lower, lin);
            ls = true;
        }
        if (!us && b.lo < upper && b.up > upper) {
            ur = lin && b.lo == -INFINITY ? b.count : rank + b.count * frac_below(&b, upper, lin);
            us = true;
        }
        if (ls && us)
            break;
        rank += b.count;
    }
    if (isnan(h->sum)) {
        for (k++; k < n; k++) {
            qhbucket r;
            query_hist_bucket(h, k, &r);
            count += r.count;
        }
        if (count < h->count)
            *nan_info = true;
    } else {
        count = h->count;
    }
    if (!ls || lr > count)
        lr = count;
    if (!us || ur > count)
        ur = count;
    return (ur - lr) / h->count;
}

double query_hist_variance(const sonde_fhist *h)
{
    double mean = h->sum / h->count, var = 0, comp = 0;
    size_t n = query_hist_nbuckets(h);
    bool custom = query_hist_is_custom(h);
    for (size_t k = 0; k < n; k++) {
        qhbucket bb;
        query_hist_bucket(h, k, &bb);
        const qhbucket *b = &bb;
        if (b->count == 0)
            continue;
        double val;
        if (custom)
            val = (b->up + b->lo) / 2.0;
        else if (b->lo <= 0 && b->up >= 0)
            val = 0;
        else {
            val = sqrt(b->up * b->lo);
            if (b->up < 0)
                val = -val;
        }
        double d = val - mean, inc = b->count * d * d;
        /* Kahan-Babuska (kahansum.Inc) */
        double t = var + inc;
        if (isinf(t))
            comp = 0;
        else if (fabs(var) >= fabs(inc))
            comp += (var - t) + inc;
        else
            comp += (inc - t) + var;
        var = t;
    }
    return (var + comp) / h->count;
}

/* ---- text ---- */

/* Go's fmt %g (eprec 6) and %v (eprec 21) for a float64: the shortest
 * round-trip digits, in exponent form when exp < -4 || exp >= eprec. */
static const char *fmt_go(char *out, size_t n, double v, int eprec)
{
    if (isnan(v))
        return snprintf(out, n, "NaN"), out;
    if (isinf(v))
        return snprintf(out, n, v > 0 ? "+Inf" : "-Inf"), out;
    if (v == 0)
        return snprintf(out, n, signbit(v) ? "-0" : "0"), out;
    char e[40];
    for (int p = 1; p <= 17; p++) {
        snprintf(e, sizeof(e), "%.*e", p - 1, v);
        if (strtod(e, NULL) == v)
            break;
    }
    char d[24];
    int nd = 0;
    const char *q = e + (e[0] == '-');
    for (; *q && *q != 'e' && nd < 20; q++)
        if (*q >= '0' && *q <= '9')
            d[nd++] = *q;
    int exp = 0;
    if (*q == 'e')
        exp = (int)strtol(q + 1, NULL, 10);
    while (nd > 1 && d[nd - 1] == '0')
        nd--;
    d[nd] = 0;
    const char *sign = v < 0 ? "-" : "";
    if (exp < -4 || exp >= eprec) {
        snprintf(out, n, "%s%c%s%se%c%02d", sign, d[0], nd > 1 ? "." : "", d + 1,
                 exp < 0 ? '-' : '+', exp < 0 ? -exp : exp);
    } else if (exp < 0) {
        snprintf(out, n, "%s0.%.*s%s", sign, -exp - 1, "0000", d);
    } else if (nd <= exp + 1) {
        snprintf(out, n, "%s%s%.*s", sign, d, exp + 1 - nd, "000000000000000000000");
    } else {
        snprintf(out, n, "%s%.*s.%s", sign, exp + 1, d, d + exp + 1);
    }
    return out;
}

const char *query_fmt_go_g(char *out, size_t n, double v)
{
    return fmt_go(out, n, v, 6);
}

/* FloatHistogram.String(): {count:C, sum:S, [lo,up):n, ..., (lo,up]:n} */
sonde_status query_hist_string(buf *b, const sonde_fhist *h)
{
    char x[40], y[40], z[40];
    sonde_status st = buf_printf(b, "{count:%s, sum:%s", query_fmt_go_g(x, sizeof(x), h->count),
                                 query_fmt_go_g(y, sizeof(y), h->sum));
    for (uint32_t j = h->nneg; !st && j-- > 0;) {
        if (h->neg[j] == 0)
            continue;
        int32_t i = h->neg_idx[j];
        st = buf_printf(b, ", [%s,%s):%s",
                        query_fmt_go_g(x, sizeof(x), -query_hist_bound(i, h->schema)),
                        query_fmt_go_g(y, sizeof(y), -query_hist_bound(i - 1, h->schema)),
                        fmt_go(z, sizeof(z), h->neg[j], 21));
    }
    if (!st && h->zero_count != 0)
        st = buf_printf(b, ", [%s,%s]:%s", query_fmt_go_g(x, sizeof(x), -h->zero_threshold),
                        query_fmt_go_g(y, sizeof(y), h->zero_threshold),
                        fmt_go(z, sizeof(z), h->zero_count, 21));
    for (uint32_t j = 0; !st && j < h->npos; j++) {
        if (h->pos[j] == 0)
            continue;
        int32_t i = h->pos_idx[j];
        double lo, up;
        if (query_hist_is_custom(h)) {
            lo = i <= 0 ? -INFINITY : (uint32_t)i - 1 < h->ncustom ? h->custom[i - 1] : INFINITY;
            up = (uint32_t)i < h->ncustom ? h->custom[i] : INFINITY;
        } else {
            lo = query_hist_bound(i - 1, h->schema);
            up = query_hist_bound(i, h->schema);
        }
        st = buf_printf(b, ", (%s,%s]:%s", query_fmt_go_g(x, sizeof(x), lo),
                        query_fmt_go_g(y, sizeof(y), up), fmt_go(z, sizeof(z), h->pos[j], 21));
    }
    return st ? st : buf_putc(b, '}');
}

sonde_fhist *query_hist_reduce(arena *a, const sonde_fhist *h, int32_t schema)
{
    sonde_fhist *o = query_hist_copy(a, h);
    if (!o || query_hist_is_custom(h) || schema >= h->schema)
        return o;
    side p = {o->pos_idx, o->pos, o->npos}, n = {o->neg_idx, o->neg, o->nneg};
    side_reduce(&p, o->schema, schema);
    side_reduce(&n, o->schema, schema);
    o->npos = p.n;
    o->nneg = n.n;
    o->schema = schema;
    return o;
}

const char *query_go_quote(char *out, size_t n, const char *s, size_t len)
{
    size_t o = 0;
    if (n < 8) {
        if (n)
            out[0] = 0;
        return out;
    }
    out[o++] = '"';
    for (size_t i = 0; i < len && o + 6 < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        size_t sl = ch < 0x80         ? 1
                    : (ch >> 5) == 6  ? 2
                    : (ch >> 4) == 14 ? 3
                    : (ch >> 3) == 30 ? 4
                                      : 0;
        if (ch >= 0x80 && sl && i + sl <= len && utf8_valid(s + i, sl) && o + sl + 1 < n) {
            memcpy(out + o, s + i, sl);
            o += sl;
            i += sl - 1;
        } else if (ch == '"' || ch == '\\') {
            out[o++] = '\\';
            out[o++] = (char)ch;
        } else if (ch >= 0x20 && ch < 0x7f) {
            out[o++] = (char)ch;
        } else {
            o += (size_t)snprintf(out + o, n - o, "\\x%02x", ch);
        }
    }
    out[o++] = '"';
    out[o] = 0;
    return out;
}

/* ---- Kahan summation of histograms (KahanAdd) ---- */

static void kinc(double inc, double *sum, double *c)
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

/* Buckets of c below threshold t move into its zero count (c follows the sum's
 * widening, whatever its own counts are). */
static void zero_move(sonde_fhist *h, double t)
{
    uint32_t k = 0;
    for (uint32_t j = 0; j < h->npos; j++) {
        if (query_hist_bound(h->pos_idx[j] - 1, h->schema) < t) {
            h->zero_count += h->pos[j];
            continue;
        }
        h->pos_idx[k] = h->pos_idx[j];
        h->pos[k++] = h->pos[j];
    }
    h->npos = k;
    k = 0;
    for (uint32_t j = 0; j < h->nneg; j++) {
        if (query_hist_bound(h->neg_idx[j] - 1, h->schema) < t) {
            h->zero_count += h->neg[j];
            continue;
        }
        h->neg_idx[k] = h->neg_idx[j];
        h->neg[k++] = h->neg[j];
    }
    h->nneg = k;
    h->zero_threshold = t;
}

/* s (+ compensation c) += x over the union of bucket indices. */
static bool side_kahan(arena *a, side *s, side *c, const side *x)
{
    size_t cap = (size_t)s->n + c->n + x->n + 1;
    int32_t *idx = arena_alloc(a, cap * sizeof(int32_t));
    double *sv = arena_alloc(a, cap * sizeof(double)), *cv = arena_alloc(a, cap * sizeof(double));
    if (!idx || !sv || !cv)
        return false;
    uint32_t i = 0, j = 0, k = 0, n = 0;
    while (i < s->n || j < c->n || k < x->n) {
        int32_t m = INT32_MAX;
        if (i < s->n && s->idx[i] < m)
            m = s->idx[i];
        if (j < c->n && c->idx[j] < m)
            m = c->idx[j];
        if (k < x->n && x->idx[k] < m)
            m = x->idx[k];
        double sum = i < s->n && s->idx[i] == m ? s->c[i++] : 0;
        double comp = j < c->n && c->idx[j] == m ? c->c[j++] : 0;
        double inc = k < x->n && x->idx[k] == m ? x->c[k++] : 0;
        kinc(inc, &sum, &comp);
        idx[n] = m;
        sv[n] = sum;
        cv[n++] = comp;
    }
    int32_t *cidx = arena_alloc(a, cap * sizeof(int32_t));
    if (!cidx)
        return false;
    memcpy(cidx, idx, n * sizeof(int32_t));
    *s = (side){idx, sv, n};
    *c = (side){cidx, cv, n};
    return true;
}

sonde_status query_hist_kahan_add(arena *a, sonde_fhist **sum, sonde_fhist **comp,
                                  const sonde_fhist *x, unsigned *flags)
{
    const sonde_fhist *s0 = *sum;
    if (query_hist_is_custom(s0) != query_hist_is_custom(x)) {
        *flags |= QHIST_INCOMPATIBLE;
        return SONDE_OK;
    }
    sonde_fhist *S = query_hist_copy(a, s0), *X = query_hist_copy(a, x), *C;
    if (*comp) {
        C = query_hist_copy(a, *comp);
    } else {
        sonde_fhist z;
        memset(&z, 0, sizeof(z));
        z.schema = s0->schema;
        z.zero_threshold = s0->zero_threshold;
        z.custom = s0->custom;
        z.ncustom = s0->ncustom;
        C = query_hist_copy(a, &z);
    }
    if (!S || !X || !C)
        return SONDE_ERR_NOMEM;
    bool coll = false;
    S->hint = hint_combine(S->hint, X->hint, &coll);
    if (coll)
        *flags |= QHIST_HINT_COLLISION;
    side sp = {S->pos_idx, S->pos, S->npos}, sn = {S->neg_idx, S->neg, S->nneg};
    side cp = {C->pos_idx, C->pos, C->npos}, cn = {C->neg_idx, C->neg, C->nneg};
    side xp = {X->pos_idx, X->pos, X->npos}, xn = {X->neg_idx, X->neg, X->nneg};
    if (query_hist_is_custom(S)) {
        if (!custom_equal(S, X)) {
            *flags |= QHIST_RECONCILED;
            uint32_t n = 0;
            double *b = arena_alloc(a, (S->ncustom + 1) * sizeof(double));
            if (!b)
                return SONDE_ERR_NOMEM;
            for (uint32_t i = 0, j = 0; i < S->ncustom && j < X->ncustom;) {
                if (S->custom[i] == X->custom[j]) {
                    b[n++] = S->custom[i];
                    i++;
                    j++;
                } else if (S->custom[i] < X->custom[j]) {
                    i++;
                } else {
                    j++;
                }
            }
            if (!side_remap_custom(a, &sp, S->custom, S->ncustom, b, n) ||
                !side_remap_custom(a, &cp, S->custom, S->ncustom, b, n) ||
                !side_remap_custom(a, &xp, X->custom, X->ncustom, b, n))
                return SONDE_ERR_NOMEM;
            S->custom = C->custom = b;
            S->ncustom = C->ncustom = n;
        }
    } else {
        int32_t sc = S->schema < X->schema ? S->schema : X->schema;
        side_reduce(&sp, S->schema, sc);
        side_reduce(&sn, S->schema, sc);
        side_reduce(&cp, C->schema, sc);
        side_reduce(&cn, C->schema, sc);
        side_reduce(&xp, X->schema, sc);
        side_reduce(&xn, X->schema, sc);
        S->npos = sp.n;
        S->nneg = sn.n;
        C->npos = cp.n;
        C->nneg = cn.n;
        X->npos = xp.n;
        X->nneg = xn.n;
        S->schema = C->schema = X->schema = sc;
        for (int k = 0; k < 64 && S->zero_threshold != X->zero_threshold; k++) {
            if (S->zero_threshold < X->zero_threshold) {
                zero_widen(S, X->zero_threshold);
                zero_move(C, S->zero_threshold);
            } else {
                zero_widen(X, S->zero_threshold);
            }
        }
        sp = (side){S->pos_idx, S->pos, S->npos};
        sn = (side){S->neg_idx, S->neg, S->nneg};
        cp = (side){C->pos_idx, C->pos, C->npos};
        cn = (side){C->neg_idx, C->neg, C->nneg};
        xp = (side){X->pos_idx, X->pos, X->npos};
        xn = (side){X->neg_idx, X->neg, X->nneg};
        kinc(X->zero_count, &S->zero_count, &C->zero_count);
    }
    kinc(X->count, &S->count, &C->count);
    kinc(X->sum, &S->sum, &C->sum);
    if (!side_kahan(a, &sp, &cp, &xp) || !side_kahan(a, &sn, &cn, &xn))
        return SONDE_ERR_NOMEM;
    S->pos_idx = sp.idx;
    S->pos = sp.c;
    S->npos = sp.n;
    S->neg_idx = sn.idx;
    S->neg = sn.c;
    S->nneg = sn.n;
    C->pos_idx = cp.idx;
    C->pos = cp.c;
    C->npos = cp.n;
    C->neg_idx = cn.idx;
    C->neg = cn.c;
    C->nneg = cn.n;
    *sum = S;
    *comp = C;
    return SONDE_OK;
}

bool query_hist_overflow(const sonde_fhist *h)
{
    if (isinf(h->count) || isinf(h->sum) || isinf(h->zero_count))
        return true;
    for (uint32_t i = 0; i < h->npos; i++)
        if (isinf(h->pos[i]))
            return true;
    for (uint32_t i = 0; i < h->nneg; i++)
        if (isinf(h->neg[i]))
            return true;
    return false;
}

/* ---- sum / mean accumulation (sum, avg, sum_over_time, avg_over_time) ---- */

static sonde_fhist *scaled(arena *a, const sonde_fhist *h, double f, bool divide)
{
    sonde_fhist *r = query_hist_copy(a, h);
    if (r)
        query_hist_scale(r, f, divide);
    return r;
}

sonde_status query_hist_acc_add(arena *a, qhacc *acc, const sonde_fhist *x)
{
    acc->n++;
    if (x->hint == SONDE_HIST_HINT_RESET)
        acc->reset_seen = true;
    else if (x->hint == SONDE_HIST_HINT_NOT_RESET)
        acc->not_reset_seen = true;
    if (acc->flags & QHIST_INCOMPATIBLE)
        return SONDE_OK;
    if (!acc->sum) {
        acc->sum = query_hist_copy(a, x);
        return acc->sum ? SONDE_OK : SONDE_ERR_NOMEM;
    }
    sonde_status st;
    if (!acc->mean_mode) {
        sonde_fhist *s = acc->sum, *c = acc->comp;
        if ((st = query_hist_kahan_add(a, &s, &c, x, &acc->flags)))
            return st;
        if (acc->flags & QHIST_INCOMPATIBLE)
            return SONDE_OK;
        if (!acc->avg || !query_hist_overflow(s)) {
            acc->sum = s;
            acc->comp = c;
            return SONDE_OK;
        }
        /* the sum would overflow: incremental mean from here on (avg only) */
        acc->mean_mode = true;
        if (!(acc->sum = scaled(a, acc->sum, acc->n - 1, true)))
            return SONDE_ERR_NOMEM;
        if (acc->comp && !(acc->comp = scaled(a, acc->comp, acc->n - 1, true)))
            return SONDE_ERR_NOMEM;
    }
    double q = (acc->n - 1) / acc->n;
    if (acc->comp && !(acc->comp = scaled(a, acc->comp, q, false)))
        return SONDE_ERR_NOMEM;
    sonde_fhist *add = scaled(a, x, acc->n, true), *mean = scaled(a, acc->sum, q, false);
    if (!add || !mean)
        return SONDE_ERR_NOMEM;
    if ((st = query_hist_kahan_add(a, &mean, &acc->comp, add, &acc->flags)))
        return st;
    if (!(acc->flags & QHIST_INCOMPATIBLE))
        acc->sum = mean;
    return SONDE_OK;
}

sonde_status query_hist_acc_result(arena *a, qhacc *acc, sonde_fhist **out)
{
    *out = NULL;
    if (!acc->sum || (acc->flags & QHIST_INCOMPATIBLE))
        return SONDE_OK;
    sonde_fhist *s = acc->sum, *c = acc->comp;
    if (acc->avg && !acc->mean_mode) {
        if (!(s = scaled(a, s, acc->n, true)))
            return SONDE_ERR_NOMEM;
        if (c && !(c = scaled(a, c, acc->n, true)))
            return SONDE_ERR_NOMEM;
    }
    if (c) {
        unsigned fl = 0;
        sonde_fhist *r;
        uint8_t hint = s->hint;
        if (query_hist_add(a, s, c, false, &r, &fl) != SONDE_OK)
            return SONDE_ERR_NOMEM;
        if (r) {
            r->hint = hint; /* the compensation carries no hint of its own */
            s = r;
        }
    } else if (s == acc->sum && !(s = query_hist_copy(a, s))) {
        return SONDE_ERR_NOMEM;
    }
    *out = s;
    return SONDE_OK;
}

/* ---- trim_upper / trim_lower (TrimBuckets) ---- */

static double trim_mid(double lo, double up, bool positive, bool linear)
{
    if (isinf(lo)) {
        if (isinf(up))
            return 0;
        return up > 0 ? up / 2 : up;
    }
    if (isinf(up))
        return lo;
    if (linear)
        return (lo + up) / 2;
    double g = sqrt(fabs(lo * up));
    return positive ? g : -g;
}

static double zero_if_inf(double x)
{
    return isinf(x) ? 0 : x;
}

/* handleInfinityBuckets */
static void trim_inf(bool upper_trim, const qhbucket *b, double rhs, double *keep, double *mid)
{
    if (isinf(b->lo) && b->lo < 0) {
        if (upper_trim) {
            if (rhs >= b->up) {
                *keep = b->count, *mid = 0;
            } else if (rhs > 0 && b->up > 0 && !isinf(b->up)) {
                *keep = b->count * rhs / b->up, *mid = rhs / 2;
            } else if (b->up <= 0) {
                *keep = b->count, *mid = rhs;
            } else {
                *keep = 0, *mid = zero_if_inf(b->up);
            }
            return;
        }
        if (rhs <= b->lo) {
            *keep = b->count, *mid = 0;
        } else if (rhs >= 0 && b->up > rhs && !isinf(b->up)) {
            *keep = b->count * (1 - rhs / b->up), *mid = (rhs + b->up) / 2;
        } else {
            *keep = 0, *mid = zero_if_inf(b->up);
        }
        return;
    }
    /* upper bound +Inf */
    if (upper_trim) {
        *keep = 0, *mid = zero_if_inf(b->lo);
    } else if (rhs >= b->lo) {
        *keep = b->count, *mid = rhs;
    } else {
        *keep = 0, *mid = zero_if_inf(b->lo);
    }
}

/* computeBucketTrim */
static void trim_bucket(const qhbucket *b, double rhs, bool upper_trim, bool positive, bool linear,
                        double *keep, double *mid)
{
    if ((isinf(b->lo) && b->lo < 0) || (isinf(b->up) && b->up > 0)) {
        trim_inf(upper_trim, b, rhs, keep, mid);
        return;
    }
    double under = rhs <= b->lo   ? 0
                   : rhs >= b->up ? b->count
                                  : b->count * frac_below(b, rhs, linear);
    if (upper_trim) {
        *keep = under;
        *mid = trim_mid(b->lo, rhs, positive, linear);
    } else {
        *keep = b->count - under;
        *mid = trim_mid(rhs, b->up, positive, linear);
    }
}

/* One side: buckets fully kept add their midpoint mass, straddling ones are
 * cut, the others dropped. Returns whether any count changed. */
static bool trim_side(const sonde_fhist *h, bool positive, double *cnt, double rhs, bool upper_trim,
                      double *count, double *sum, bool *has)
{
    bool custom = query_hist_is_custom(h), changed = false;
    uint32_t n = positive ? h->npos : h->nneg;
    const int32_t *idx = positive ? h->pos_idx : h->neg_idx;
    for (uint32_t j = 0; j < n; j++) {
        if (cnt[j] == 0)
            continue;
        *has = true;
        int32_t i = idx[j];
        qhbucket b;
        if (custom) {
            b.lo = i <= 0 ? -INFINITY : (uint32_t)i - 1 < h->ncustom ? h->custom[i - 1] : INFINITY;
            b.up = i < 0 ? -INFINITY : (uint32_t)i < h->ncustom ? h->custom[i] : INFINITY;
        } else if (positive) {
            b.lo = query_hist_bound(i - 1, h->schema);
            b.up = query_hist_bound(i, h->schema);
        } else {
            b.lo = -query_hist_bound(i, h->schema);
            b.up = -query_hist_bound(i - 1, h->schema);
        }
        b.count = cnt[j];
        b.kind = positive ? 1 : -1;
        bool whole = upper_trim ? b.up <= rhs : b.lo >= rhs;
        bool part = upper_trim ? b.lo < rhs : b.up > rhs;
        if (whole) {
            *count += b.count;
            *sum += trim_mid(b.lo, b.up, positive, custom) * b.count;
        } else if (part) {
            double keep, mid;
            trim_bucket(&b, rhs, upper_trim, positive, custom, &keep, &mid);
            *count += keep;
            *sum += mid * keep;
            if (cnt[j] != keep) {
                cnt[j] = keep;
                changed = true;
            }
        } else {
            cnt[j] = 0;
            changed = true;
        }
    }
    return changed;
}

sonde_fhist *query_hist_trim(arena *a, const sonde_fhist *in, double rhs, bool upper_trim)
{
    sonde_fhist *h = query_hist_copy(a, in);
    if (!h)
        return NULL;
    double count = 0, sum = 0;
    bool has_pos = false, has_neg = false;
    bool changed = trim_side(h, true, h->pos, rhs, upper_trim, &count, &sum, &has_pos);
    changed |= trim_side(h, false, h->neg, rhs, upper_trim, &count, &sum, &has_neg);
    if (h->zero_count > 0) {
        /* computeZeroBucketTrim */
        double lo = -h->zero_threshold, up = h->zero_threshold, keep, mid;
        if (has_neg && !has_pos)
            up = 0;
        if (has_pos && !has_neg)
            lo = 0;
        if (upper_trim) {
            if (rhs <= lo)
                keep = 0, mid = 0;
            else if (rhs >= up)
                keep = h->zero_count, mid = (lo + up) / 2;
            else
                keep = h->zero_count * (rhs - lo) / (up - lo), mid = (lo + rhs) / 2;
        } else {
            if (rhs <= lo)
                keep = h->zero_count, mid = (lo + up) / 2;
            else if (rhs >= up)
                keep = 0, mid = 0;
            else
                keep = h->zero_count * (up - rhs) / (up - lo), mid = (rhs + up) / 2;
        }
        if (h->zero_count != keep) {
            h->zero_count = keep;
            changed = true;
        }
        sum += mid * keep;
        count += keep;
    }
    if (changed) {
        h->count = count;
        h->sum = sum;
    }
    return h;
}
