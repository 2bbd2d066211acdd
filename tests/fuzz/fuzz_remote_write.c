/*
 * fuzz_remote_write.c - libFuzzer target for the remote-write 1.0 decoder:
 * snappy framing, the wire pre-scan, protobuf-c unpack into a capped arena,
 * and validation. Small limits so that the caps and the arena-cap path are
 * exercised, not just the happy path.
 *
 * The first input byte picks the arena cap (to reach NOMEM inside protobuf-c
 * at every allocation); the rest is the HTTP body.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "core/series.h"
#include "core/utf8.h"
#include "remote_write/remote_write.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    size_t cap = 4096 + (size_t)data[0] * 1024; /* 4 KiB .. 259 KiB */
    rw_limits lim;
    rw_limits_defaults(&lim);
    lim.max_decoded = 1 << 20;
    lim.max_series = 1000;
    lim.max_labels = 32;
    lim.max_label_name = 256;
    lim.max_label_value = 4096;
    arena *a = arena_create(1024, cap);
    if (!a)
        return 0;
    rw_result r;
    char err[512];
    sonde_status st = rw_decode(a, data + 1, size - 1, &lim, &r, err, sizeof err);
    if (st == SONDE_OK) {
        /* The output contract: canonical labels, valid UTF-8, a __name__, the hash. */
        for (size_t i = 0; i < r.nseries; i++) {
            const sonde_series *s = &r.series[i];
            if (s->nlabels == 0 || s->nsamples == 0)
                __builtin_trap();
            for (uint32_t k = 0; k < s->nlabels; k++) {
                const sonde_label *l = &s->labels[k];
                if (l->name_len == 0 || l->value_len == 0 || !utf8_valid(l->name, l->name_len) ||
                    !utf8_valid(l->value, l->value_len))
                    __builtin_trap();
                if (k > 0 && series_label_cmp(&s->labels[k - 1], l) >= 0)
                    __builtin_trap();
            }
            if (!series_labels_get(s->labels, s->nlabels, "__name__", 8))
                __builtin_trap();
            if (s->hash != series_labels_hash(s->labels, s->nlabels))
                __builtin_trap();
            volatile double sink = 0;
            for (uint32_t k = 0; k < s->nsamples; k++)
                sink += (double)s->samples[k].ts_ms;
            (void)sink;
        }
    } else if (err[0] == '\0' || memchr(err, '\0', sizeof err) == NULL) {
        __builtin_trap(); /* every error carries a message */
    }
    arena_destroy(a);
    return 0;
}
