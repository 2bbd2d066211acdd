/*
 * test_hist.c - the evaluator's native histogram arithmetic (query/hist.c):
 * addition across schemas and zero thresholds, custom-bound reconciliation,
 * scaling, equality, quantile / fraction / variance against values from
 * Prometheus' histograms.test, trimming (`</`, `>/`), FloatHistogram.String()
 * and Go's %g / %q.
 */
#include <math.h>
#include <string.h>

#include "query/eval_internal.h"
#include "test.h"

static arena *A;

/* A histogram from one positive span (and optional negative span). */
static sonde_fhist *mk(int32_t schema, double count, double sum, double zc, double zt, int32_t off,
                       const double *b, uint32_t nb, int32_t noff, const double *nbk, uint32_t nnb)
{
    sonde_fhist *h = arena_calloc(A, 1, sizeof(*h));
    h->schema = schema;
    h->count = count;
    h->sum = sum;
    h->zero_count = zc;
    h->zero_threshold = zt;
    h->npos = nb;
    h->nneg = nnb;
    h->pos_idx = arena_calloc(A, nb + 1, sizeof(int32_t));
    h->pos = arena_calloc(A, nb + 1, sizeof(double));
    h->neg_idx = arena_calloc(A, nnb + 1, sizeof(int32_t));
    h->neg = arena_calloc(A, nnb + 1, sizeof(double));
    for (uint32_t i = 0; i < nb; i++) {
        h->pos_idx[i] = off + (int32_t)i;
        h->pos[i] = b[i];
    }
    for (uint32_t i = 0; i < nnb; i++) {
        h->neg_idx[i] = noff + (int32_t)i;
        h->neg[i] = nbk[i];
    }
    return h;
}

static double pos_at(const sonde_fhist *h, int32_t idx)
{
    for (uint32_t i = 0; i < h->npos; i++)
        if (h->pos_idx[i] == idx)
            return h->pos[i];
    return 0;
}

static void test_add(void)
{
    /* schema 1 + schema 0: the result has schema 0, buckets merged pairwise */
    const double b1[] = {1, 2, 3, 4}, b0[] = {10};
    sonde_fhist *x = mk(1, 10, 5, 0, 0, 1, b1, 4, 0, NULL, 0);
    sonde_fhist *y = mk(0, 10, 7, 0, 0, 1, b0, 1, 0, NULL, 0);
    sonde_fhist *r;
    unsigned fl = 0;
    CHECK_EQ_INT(query_hist_add(A, x, y, false, &r, &fl), SONDE_OK);
    CHECK(r != NULL && fl == 0);
    if (r) {
        CHECK_EQ_INT(r->schema, 0);
        CHECK(r->count == 20 && r->sum == 12);
        /* schema-1 buckets 1,2 -> schema-0 bucket 1; 3,4 -> 2 */
        CHECK(pos_at(r, 1) == 13 && pos_at(r, 2) == 7);
    }
    /* subtraction, and the inputs stay untouched */
    CHECK_EQ_INT(query_hist_add(A, y, y, true, &r, &fl), SONDE_OK);
    CHECK(r && r->count == 0 && pos_at(r, 1) == 0);
    CHECK(y->count == 10 && y->pos[0] == 10);
    /* zero thresholds: the larger one absorbs the buckets below it */
    const double bz[] = {1, 1, 1};
    sonde_fhist *z1 = mk(0, 3, 3, 0, 0, -1, bz, 3, 0, NULL, 0); /* (0.25,0.5] (0.5,1] (1,2] */
    sonde_fhist *z2 = mk(0, 1, 1, 1, 1, 0, NULL, 0, 0, NULL, 0);
    CHECK_EQ_INT(query_hist_add(A, z1, z2, false, &r, &fl), SONDE_OK);
    CHECK(r && r->zero_threshold == 1 && r->zero_count == 3 && r->npos == 1 && pos_at(r, 1) == 1);
    /* exponential + custom: incompatible */
    sonde_fhist *c = mk(SONDE_HIST_CUSTOM, 1, 1, 0, 0, 0, bz, 1, 0, NULL, 0);
    fl = 0;
    CHECK_EQ_INT(query_hist_add(A, z1, c, false, &r, &fl), SONDE_OK);
    CHECK(r == NULL && (fl & QHIST_INCOMPATIBLE));
    /* custom bounds: intersected, buckets mapped onto the common bounds */
    double cv1[] = {1, 2, 3}, cv2[] = {1, 3};
    const double cb1[] = {1, 1, 1, 1}, cb2[] = {2, 2, 2};
    sonde_fhist *p = mk(SONDE_HIST_CUSTOM, 4, 0, 0, 0, 0, cb1, 4, 0, NULL, 0);
    sonde_fhist *q = mk(SONDE_HIST_CUSTOM, 6, 0, 0, 0, 0, cb2, 3, 0, NULL, 0);
    p->custom = cv1;
    p->ncustom = 3;
    q->custom = cv2;
    q->ncustom = 2;
    fl = 0;
    CHECK_EQ_INT(query_hist_add(A, p, q, false, &r, &fl), SONDE_OK);
    CHECK(r && (fl & QHIST_RECONCILED) && r->ncustom == 2);
    if (r)
        CHECK(pos_at(r, 0) == 3 && pos_at(r, 1) == 4 && pos_at(r, 2) == 3);
}

static void test_scale_equal(void)
{
    const double b[] = {1, 2};
    sonde_fhist *x = mk(0, 3, 4, 0, 0, 0, b, 2, 0, NULL, 0);
    sonde_fhist *y = query_hist_copy(A, x);
    CHECK(query_hist_equal(x, y));
    query_hist_scale(y, 2, false);
    CHECK(y->count == 6 && y->pos[1] == 4 && !query_hist_equal(x, y));
    query_hist_scale(y, -1, false);
    CHECK_EQ_INT(y->hint, SONDE_HIST_HINT_GAUGE);
    query_hist_scale(y, 0, true);
    CHECK(y->npos == 0 && isinf(y->count));
    /* empty buckets do not make histograms different */
    const double b2[] = {1, 2, 0};
    sonde_fhist *z = mk(0, 3, 4, 0, 0, 0, b2, 3, 0, NULL, 0);
    CHECK(query_hist_equal(x, z));
}

static void test_quantile_fraction(void)
{
    /* {{schema:0 sum:5 count:4 buckets:[1 2 1]}}: (0.5,1]:1 (1,2]:2 (2,4]:1 */
    const double b[] = {1, 2, 1};
    sonde_fhist *h = mk(0, 4, 5, 0, 0, 0, b, 3, 0, NULL, 0);
    bool info;
    int qinfo;
    CHECK(fabs(query_hist_quantile(0.5, h, &qinfo) - 1.4142135623730951) < 1e-12);
    CHECK(query_hist_quantile(1, h, &qinfo) == 4);
    CHECK(isinf(query_hist_quantile(2, h, &qinfo)));
    CHECK(fabs(query_hist_fraction(0, 2, h, &info) - 0.75) < 1e-12);
    CHECK(query_hist_fraction(2, 2, h, &info) == 0);
    CHECK(isnan(query_hist_fraction(NAN, 2, h, &info)));
    /* custom buckets: linear interpolation, -Inf/+Inf buckets return a bound */
    double cv[] = {0, 2, 4, 6};
    const double cb[] = {0, 1, 1, 1, 0};
    sonde_fhist *c = mk(SONDE_HIST_CUSTOM, 3, 9, 0, 0, 0, cb, 5, 0, NULL, 0);
    c->custom = cv;
    c->ncustom = 4;
    CHECK(fabs(query_hist_quantile(1.0 / 6.0, c, &qinfo) - 1) < 1e-9);
    CHECK(fabs(query_hist_quantile(0.5, c, &qinfo) - 3) < 1e-9);
    CHECK(fabs(query_hist_quantile(5.0 / 6.0, c, &qinfo) - 5) < 1e-9);
    CHECK(fabs(query_hist_fraction(0, 4, c, &info) - 2.0 / 3.0) < 1e-12);
    /* variance: geometric bucket midpoints */
    CHECK(query_hist_variance(h) > 0);
}

static void test_trim(void)
{
    /* native_histograms.test: trimming at sqrt(2) keeps half of (1,2] on a log scale */
    const double b[] = {2, 4, 8, 16}, nb[] = {1, 2};
    sonde_fhist *h = mk(0, 34, 123.75, 1, 0.001, 0, b, 4, 0, nb, 2);
    sonde_fhist *lo = query_hist_trim(A, h, 1.4142135624, true);
    CHECK(lo && fabs(lo->count - 8) < 1e-6 && fabs(lo->sum - 0.2570938865989847) < 1e-6);
    CHECK(lo && fabs(pos_at(lo, 1) - 2) < 1e-6 && pos_at(lo, 2) == 0 && lo->zero_count == 1);
    sonde_fhist *hi = query_hist_trim(A, h, 1.4142135624, false);
    CHECK(hi && fabs(hi->count - 26) < 1e-6 && fabs(hi->sum - 116.50067065070982) < 1e-6);
    CHECK(hi && hi->zero_count == 0 && hi->neg[0] == 0 && h->count == 34);
}

static void test_text(void)
{
    char out[64];
    CHECK_EQ_STR(query_fmt_go_g(out, sizeof(out), 100), "100");
    CHECK_EQ_STR(query_fmt_go_g(out, sizeof(out), 1e6), "1e+06");
    CHECK_EQ_STR(query_fmt_go_g(out, sizeof(out), 0.001), "0.001");
    CHECK_EQ_STR(query_fmt_go_g(out, sizeof(out), 1e-05), "1e-05");
    CHECK_EQ_STR(query_fmt_go_g(out, sizeof(out), -0.5), "-0.5");
    CHECK_EQ_STR(query_fmt_go_g(out, sizeof(out), 123456.5), "123456.5");
    CHECK_EQ_STR(query_go_quote(out, sizeof(out), "a\xc5z\"", 4), "\"a\\xc5z\\\"\"");
    /* count_values' label: FloatHistogram.String() */
    const double b[] = {1, 2}, nb[] = {1, 2};
    sonde_fhist *h = mk(0, 20, 10, 2, 0.001, 0, b, 2, 0, nb, 2);
    buf s;
    buf_init(&s, 1024);
    CHECK_EQ_INT(query_hist_string(&s, h), SONDE_OK);
    buf_putc(&s, 0);
    CHECK_EQ_STR(s.data, "{count:20, sum:10, [-2,-1):2, [-1,-0.5):1, [-0.001,0.001]:2, (0.5,1]:1, "
                         "(1,2]:2}");
    buf_fini(&s);
}

int main(void)
{
    A = arena_create(1 << 16, 0);
    RUN(test_add);
    RUN(test_scale_equal);
    RUN(test_quantile_fraction);
    RUN(test_trim);
    RUN(test_text);
    arena_destroy(A);
    return TEST_DONE();
}
