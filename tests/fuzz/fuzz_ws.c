/*
 * fuzz_ws.c - libFuzzer target for the WebSocket frame parser and handshake
 * key check of the Loki tail (ingest/ws.c): what a client's bytes reach
 * once a connection is upgraded.
 *
 * The first input byte picks how the rest is split into feeds (1..255
 * bytes, or all at once); the rest is one connection's byte stream after
 * the 101, buffered and parsed as the server does (a frame is consumed only
 * when complete). The first 24 bytes are also tried as a Sec-WebSocket-Key.
 * Checks: the parser never consumes more than it was given, payloads stay
 * within their caps, control payloads within 125 bytes, an error carries a
 * close code and a message and is final.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ingest/ingest_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    size_t step = data[0] ? data[0] : size;
    data++;
    size--;
    char accept[29];
    if (ingest_ws_accept_key((const char *)data, size < 24 ? size : 24, accept) == 0 &&
        strlen(accept) != 28)
        abort();
    ingest_ws_parser *p = malloc(sizeof *p);
    uint8_t *in = malloc(size ? size : 1); /* what has arrived, not yet consumed */
    if (!p || !in) {
        free(p);
        free(in);
        return 0;
    }
    ingest_ws_parser_init(p);
    size_t have = 0, off = 0;
    bool failed = false;
    while (off < size && !failed) {
        size_t n = size - off < step ? size - off : step;
        memcpy(in + have, data + off, n);
        have += n;
        off += n;
        for (;;) {
            size_t used = 0;
            ingest_ws_event ev = ingest_ws_parse(p, in, have, &used);
            if (used > have)
                abort();
            if (ev == INGEST_WS_ERROR) {
                if (used != 0 || !p->error || !p->close_code)
                    abort();
                if (ingest_ws_parse(p, in, have, &used) != INGEST_WS_ERROR)
                    abort();
                failed = true;
                break;
            }
            if (ev == INGEST_WS_NEED_MORE) {
                if (used != 0)
                    abort();
                break;
            }
            if (used == 0)
                abort();
            if (ev == INGEST_WS_CONTROL && p->payload_len > 125)
                abort();
            if (ev == INGEST_WS_MESSAGE && p->payload_len > INGEST_WS_MAX_FRAME)
                abort();
            memmove(in, in + used, have - used);
            have -= used;
        }
    }
    /* what a server writes back stays a valid frame */
    char reason[300];
    size_t rn = size < sizeof reason - 1 ? size : sizeof reason - 1;
    memcpy(reason, data, rn);
    reason[rn] = 0;
    buf b;
    buf_init(&b, 1 << 16);
    if (ingest_ws_close_write(&b, 1002, reason) != SONDE_OK || (uint8_t)b.data[1] > 125)
        abort();
    buf_fini(&b);
    free(in);
    free(p);
    return 0;
}
