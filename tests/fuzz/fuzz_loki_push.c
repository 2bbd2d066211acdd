/*
 * fuzz_loki_push.c - libFuzzer target for the Loki push decoders: the JSON
 * body, the snappy + protobuf body, and the stream-selector parser, with
 * small limits and a small arena cap so that every cap is reached.
 *
 * Byte 0 picks the decoder (bits 0-1) and the arena cap (the rest); the
 * remaining bytes are the body. The output contract is checked: canonical,
 * valid labels; lines within the cap; entries stored form packs.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "core/utf8.h"
#include "ingest/loki/loki.h"

static void check_push(arena *a, const loki_push *p, const loki_limits *lim)
{
    size_t n = 0;
    for (size_t i = 0; i < p->nstreams; i++) {
        const loki_stream *s = &p->streams[i];
        if (s->nlabels == 0 || s->nlabels > lim->max_labels || s->nentries == 0)
            __builtin_trap();
        for (uint32_t k = 0; k < s->nlabels; k++) {
            if (!utf8_valid(s->labels[k].value, s->labels[k].value_len))
                __builtin_trap();
            if (k && series_label_cmp(&s->labels[k - 1], &s->labels[k]) >= 0)
                __builtin_trap();
        }
        for (size_t e = 0; e < s->nentries; e++) {
            if (s->entries[e].line_len > lim->max_line)
                __builtin_trap();
            uint8_t *v;
            size_t vl;
            (void)loki_entry_pack(a, &s->entries[e], &v, &vl);
        }
        n += s->nentries;
    }
    if (n != p->nentries)
        __builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    size_t cap = 4096 + (size_t)(data[0] >> 2) * 4096;
    arena *a = arena_create(1024, cap);
    if (!a)
        return 0;
    loki_limits lim;
    loki_limits_defaults(&lim);
    lim.max_decoded = 1 << 20;
    lim.max_line = 64;
    lim.max_labels = 4;
    lim.max_age_ns = 0;
    lim.max_future_ns = 0;
    loki_push p;
    char err[256];
    switch (data[0] & 3) {
    case 0:
    case 1:
        if (loki_push_decode_json(a, data + 1, size - 1, &lim, 0, &p, err, sizeof err) ==
            SONDE_OK)
            check_push(a, &p, &lim);
        break;
    case 2:
        if (loki_push_decode_proto(a, data + 1, size - 1, &lim, 0, &p, err, sizeof err) ==
            SONDE_OK)
            check_push(a, &p, &lim);
        break;
    default: {
        sonde_label *l;
        uint32_t n;
        if (loki_labels_parse(a, (const char *)data + 1, size - 1, &l, &n, err, sizeof err) ==
            SONDE_OK) {
            char out[512];
            loki_labels_format(l, n, out, sizeof out);
        }
        break;
    }
    }
    arena_destroy(a);
    return 0;
}
