/*
 * fuzz_otlp_json.c - libFuzzer target for OTLP/JSON request decoding: the
 * strict JSON parser and the descriptor-driven mapping onto protobuf-c.
 *
 * Input: byte 0 picks the signal (% 3) and the arena cap; the rest is the
 * JSON body. Invariant checked: an accepted JSON request packs to protobuf
 * that the protobuf decoder accepts with the same item count (both paths
 * enforce the same rules).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "ingest/otlp/otlp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    otlp_signal sig = (otlp_signal)(data[0] % 3);
    size_t cap = 16384 + (size_t)(data[0] / 3) * 8192;
    otlp_limits lim;
    otlp_limits_defaults(&lim);
    lim.max_decoded = 1 << 20;
    lim.max_depth = 16;
    lim.max_attrs = 64;
    lim.max_str = 4096;
    arena *a = arena_create(1024, cap);
    if (!a)
        return 0;
    void *req;
    char err[256];
    sonde_status st = otlp_request_decode(a, sig, OTLP_FORMAT_JSON, data + 1, size - 1, &lim, &req,
                                          err, sizeof err);
    if (st == SONDE_OK) {
        size_t items = otlp_request_items(sig, req);
        uint8_t *pb;
        size_t n;
        arena *b = arena_create(1024, 0);
        if (otlp_request_pack(b, sig, req, &pb, &n) != SONDE_OK)
            abort();
        void *again;
        if (otlp_request_decode(b, sig, OTLP_FORMAT_PROTOBUF, pb, n, &lim, &again, err,
                                sizeof err) != SONDE_OK)
            abort();
        if (otlp_request_items(sig, again) != items)
            abort();
        arena_destroy(b);
    } else if (st != SONDE_ERR_INVALID && st != SONDE_ERR_LIMIT && st != SONDE_ERR_NOMEM) {
        abort();
    }
    arena_destroy(a);
    return 0;
}
