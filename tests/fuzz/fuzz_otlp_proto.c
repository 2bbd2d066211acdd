/*
 * fuzz_otlp_proto.c - libFuzzer target for OTLP protobuf request decoding:
 * the wire pre-pass (depth, framing, UTF-8, caps), protobuf-c unpack into a
 * capped arena, and the shared id checks.
 *
 * Input: byte 0 picks the signal (% 3) and the arena cap (so that NOMEM is
 * reached inside protobuf-c at every allocation); the rest is the body.
 * Invariant checked: an accepted request packs back to protobuf that is
 * accepted again with the same item count.
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
    size_t cap = 8192 + (size_t)(data[0] / 3) * 4096;
    return otlp_fuzz_one(sig, OTLP_FORMAT_PROTOBUF, cap, data + 1, size - 1);
}
