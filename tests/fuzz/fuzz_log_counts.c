/*
 * fuzz_log_counts.c - libFuzzer target for the logged form of per-template line counts
 * (sampling_counts_decode, replayed from the batch log), the stored-row header
 * (sampling_row_parse, read for every log row a query scans) and template-encoded lines
 * (sampling_template_split then _join must give the line back).
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
    sampling_row_info ri;
    size_t hl = sampling_row_parse(data, size, &ri);
    if (hl != SIZE_MAX && (hl > size || ri.rate == 0 || (ri.vars && ri.vars_len > size)))
        abort();
    /* template split/join: the input's first line is a template, the rest a line */
    const uint8_t *nl = memchr(data, '\n', size);
    if (nl) {
        size_t tl = (size_t)(nl - data), ll = size - tl - 1;
        const char *t = (const char *)data, *l = (const char *)nl + 1;
        uint8_t *vb = malloc(sampling_template_split_cap(ll, tl));
        if (vb) {
            size_t vl = sampling_template_split(t, tl, l, ll, vb);
            if (vl) {
                buf out;
                buf_init(&out, 0);
                if (sampling_template_join(t, tl, vb, vl, &out) != SONDE_OK || out.len != ll ||
                    (ll && memcmp(out.data, l, ll) != 0))
                    abort();
                buf_fini(&out);
            }
            free(vb);
        }
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
