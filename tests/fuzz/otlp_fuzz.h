/*
 * otlp_fuzz.h - the body shared by the OTLP request fuzz targets: decode one
 * request in the given format with small limits and a capped arena, and check
 * the invariant that an accepted request packs to protobuf that is accepted
 * again with the same item count. Any other status than INVALID, LIMIT or
 * NOMEM aborts.
 */
#ifndef SONDE_OTLP_FUZZ_H
#define SONDE_OTLP_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "ingest/otlp/otlp.h"

static int otlp_fuzz_one(otlp_signal sig, otlp_format fmt, size_t cap, const uint8_t *body,
                         size_t len)
{
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
    sonde_status st = otlp_request_decode(a, sig, fmt, body, len, &lim, &req, err, sizeof err);
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

#endif
