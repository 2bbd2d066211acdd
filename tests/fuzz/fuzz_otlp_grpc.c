/*
 * fuzz_otlp_grpc.c - libFuzzer target for the OTLP/gRPC request path below
 * HTTP/2: message framing, grpc-encoding (identity, gzip, zstd) bounded by
 * max_decoded, then protobuf request decoding.
 *
 * Input: byte 0, bits 0-1 the signal (% 3), bits 2-3 the encoding applied
 * when the frame's compressed flag is set (0 identity, 1 gzip, 2 zstd,
 * 3 an unknown name); the rest is one gRPC length-prefixed message.
 * Invariant checked: a decoded body is never longer than max_decoded.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "ingest/otlp/otlp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const enc[] = {"identity", "gzip", "zstd", "snappy"};
    if (size < 1)
        return 0;
    otlp_signal sig = (otlp_signal)((data[0] & 3) % 3);
    const char *encoding = enc[(data[0] >> 2) & 3];
    otlp_limits lim;
    otlp_limits_defaults(&lim);
    lim.max_decoded = 256 << 10;
    lim.max_depth = 16;
    bool compressed;
    const uint8_t *msg;
    size_t msg_len;
    char err[256];
    if (otlp_grpc_frame_parse(data + 1, size - 1, 64 << 10, &compressed, &msg, &msg_len, err,
                              sizeof err) != SONDE_OK)
        return 0;
    arena *a = arena_create(4096, 4 << 20);
    if (!a)
        return 0;
    const uint8_t *body;
    size_t len;
    sonde_status st = otlp_content_decode(a, compressed ? encoding : NULL, msg, msg_len,
                                          lim.max_decoded, &body, &len, err, sizeof err);
    if (st == SONDE_OK) {
        if (len > lim.max_decoded)
            abort();
        void *req;
        otlp_request_decode(a, sig, OTLP_FORMAT_PROTOBUF, body, len, &lim, &req, err, sizeof err);
        buf out;
        buf_init(&out, 1 << 20);
        if (otlp_response_encode(&out, sig, OTLP_FORMAT_PROTOBUF, 1, "x") != SONDE_OK ||
            otlp_grpc_frame_append(&out, (const uint8_t *)out.data, 0) != SONDE_OK)
            abort();
        buf_fini(&out);
    }
    arena_destroy(a);
    return 0;
}
