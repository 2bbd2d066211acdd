/* test_series.c - canonical labels: sort, hash == hash64(encoding), encode/decode,
 * lookup, stale-NaN detection. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/hash.h"
#include "core/series.h"
#include "test.h"

static sonde_label L(const char *n, const char *v)
{
    sonde_label l = {n, v, (uint32_t)strlen(n), (uint32_t)strlen(v)};
    return l;
}

static void test_sort(void)
{
    sonde_label ls[] = {L("job", "x"), L("__name__", "up"), L("instance", "a:1"), L("a", "1"),
                        L("ab", "2"), L("a", "0")};
    series_labels_sort(ls, 6);
    CHECK_EQ_STR(ls[0].name, "__name__");
    CHECK_EQ_STR(ls[1].name, "a");
    CHECK_EQ_STR(ls[1].value, "1"); /* stable */
    CHECK_EQ_STR(ls[2].value, "0");
    CHECK_EQ_STR(ls[3].name, "ab");
    CHECK_EQ_STR(ls[4].name, "instance");
    CHECK_EQ_STR(ls[5].name, "job");
    CHECK(series_label_cmp(&ls[1], &ls[2]) > 0);
    CHECK(series_label_cmp(&ls[0], &ls[0]) == 0);
    sonde_label hi = L("\xc3\xa9", ""), lo = L("z", "");
    CHECK(series_label_cmp(&lo, &hi) < 0); /* bytewise, unsigned */
}

static void test_hash_encode(void)
{
    sonde_label ls[] = {L("__name__", "up"), L("instance", "a:1"), L("job", "x")};
    size_t n = series_labels_encoded_len(ls, 3);
    CHECK_EQ_INT(n, strlen("__name__up") + strlen("instancea:1") + strlen("jobx") + 6);
    char *enc = malloc(n);
    series_labels_encode(ls, 3, enc);
    CHECK(memcmp(enc, "__name__\xffup\xffinstance\xff" "a:1\xffjob\xffx\xff", n) == 0);
    CHECK(series_labels_hash(ls, 3) == hash64(enc, n));
    sonde_label other[] = {L("__name__", "up"), L("instance", "a:1"), L("job", "y")};
    CHECK(series_labels_hash(ls, 3) != series_labels_hash(other, 3));
    /* separators make ("ab","c") differ from ("a","bc") */
    sonde_label x1[] = {L("ab", "c")}, x2[] = {L("a", "bc")};
    CHECK(series_labels_hash(x1, 1) != series_labels_hash(x2, 1));
    CHECK(series_labels_hash(NULL, 0) == hash64("", 0));
    /* a label set too big for the one-shot stack path hashes the same way */
    static char bigv[5000];
    memset(bigv, 'v', sizeof bigv - 1);
    sonde_label big[] = {L("__name__", "m"), L("big", bigv), L("z", "1")};
    size_t bn = series_labels_encoded_len(big, 3);
    char *benc = malloc(bn);
    series_labels_encode(big, 3, benc);
    CHECK(series_labels_hash(big, 3) == hash64(benc, bn));
    free(benc);

    arena *a = arena_create(1024, 0);
    sonde_label *out;
    uint32_t nout;
    CHECK_EQ_INT(series_labels_decode(a, enc, n, &out, &nout), SONDE_OK);
    CHECK_EQ_INT(nout, 3);
    for (uint32_t i = 0; i < nout && i < 3; i++)
        CHECK(series_label_cmp(&out[i], &ls[i]) == 0);
    CHECK_EQ_INT(series_labels_decode(a, enc, 0, &out, &nout), SONDE_OK);
    CHECK_EQ_INT(nout, 0);
    CHECK_EQ_INT(series_labels_decode(a, enc, n - 1, &out, &nout), SONDE_ERR_INVALID);
    CHECK_EQ_INT(series_labels_decode(a, "a\xff", 2, &out, &nout), SONDE_ERR_INVALID);
    CHECK_EQ_INT(series_labels_decode(a, "\xffv\xff", 3, &out, &nout), SONDE_ERR_INVALID);
    CHECK_EQ_INT(series_labels_decode(a, "b\xff\xff" "a\xff\xff", 6, &out, &nout),
                 SONDE_ERR_INVALID); /* unsorted */
    CHECK_EQ_INT(series_labels_decode(a, "a\xff\xff" "a\xff\xff", 6, &out, &nout),
                 SONDE_ERR_INVALID); /* duplicate */
    CHECK_EQ_INT(series_labels_decode(a, "a\xff\xff", 3, &out, &nout), SONDE_OK);
    CHECK_EQ_INT(out[0].value_len, 0);
    arena_destroy(a);
    free(enc);

    const sonde_label *g = series_labels_get(ls, 3, "job", 3);
    CHECK(g && g->value_len == 1 && g->value[0] == 'x');
    CHECK(series_labels_get(ls, 3, "jo", 2) == NULL);
}

static void test_stale(void)
{
    uint64_t bits = SONDE_STALE_NAN_BITS;
    double v;
    memcpy(&v, &bits, sizeof v);
    CHECK(series_value_is_stale(v));
    CHECK(!series_value_is_stale(NAN));
    CHECK(!series_value_is_stale(1.0));
    bits = 0x7ff8000000000001ULL;
    memcpy(&v, &bits, sizeof v);
    CHECK(!series_value_is_stale(v));
}

int main(void)
{
    RUN(test_sort);
    RUN(test_hash_encode);
    RUN(test_stale);
    return TEST_DONE();
}
