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

#include "otlp_fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    otlp_signal sig = (otlp_signal)(data[0] % 3);
    size_t cap = 16384 + (size_t)(data[0] / 3) * 8192;
    return otlp_fuzz_one(sig, OTLP_FORMAT_JSON, cap, data + 1, size - 1);
}
