/*
 * fuzz_hist_decode.c - the native histogram head decoder (storage/hist.c) on
 * arbitrary bytes, as a corrupt RocksDB value would reach it at open: input =
 * count BE2, then the encoded samples. Decoding must stop at the damage; the
 * decoded histograms then go through the evaluator's bucket walk, quantile,
 * fraction, variance, String(), JSON, trimming, addition / subtraction and
 * Kahan summation with their predecessor. No crash, no leak, no UB.
 */
#include <stdint.h>
#include <string.h>

#include "query/eval_internal.h"
#include "query/json.h"
#include "storage/storage_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    uint32_t count = (uint32_t)data[0] << 8 | data[1];
    arena *a = arena_create(1 << 16, 64u << 20);
    if (!a)
        return 0;
    sonde_hsample *hs;
    size_t n;
    if (storage_hist_decode(data + 2, size - 2, count, INT64_MIN, INT64_MAX, a, &hs, &n) ==
        SONDE_OK) {
        buf b;
        buf_init(&b, 1 << 20);
        for (size_t i = 0; i < n && i < 16; i++) {
            const sonde_fhist *h = hs[i].h;
            int qi;
            bool fi;
            (void)query_hist_quantile(0.5, h, &qi);
            (void)query_hist_fraction(-1, 1, h, &fi);
            (void)query_hist_variance(h);
            buf_reset(&b);
            (void)query_hist_string(&b, h);
            buf_reset(&b);
            (void)query_json_histogram(&b, h);
            (void)query_hist_trim(a, h, 1.5, i % 2 == 0);
            if (i > 0) {
                unsigned fl = 0;
                sonde_fhist *r, *sum = hs[i - 1].h, *comp = NULL;
                (void)sonde_fhist_detect_reset(h, hs[i - 1].h);
                (void)query_hist_add(a, h, hs[i - 1].h, i % 2 == 1, &r, &fl);
                (void)query_hist_kahan_add(a, &sum, &comp, h, &fl);
            }
        }
        buf_fini(&b);
    }
    arena_destroy(a);
    return 0;
}
