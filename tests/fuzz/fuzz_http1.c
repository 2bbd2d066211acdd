/*
 * fuzz_http1.c - libFuzzer target for the HTTP/1.1 request path
 * (ingest/http1.c), the code every byte from a client reaches first.
 *
 * The first input byte picks how the rest is split into feeds (1..256 bytes,
 * or all at once) so that request boundaries at every offset get exercised;
 * the rest is the byte stream of one connection. Requests are taken in order
 * like the server does (pipelining), with small limits so the 413/431 paths
 * are reached. Checks: parsing never reads out of bounds, never consumes more
 * than it was given, and a completed request is self-consistent.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ingest/http1.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    size_t step = data[0] ? data[0] : size;
    data++;
    size--;
    ingest_h1_limits lim;
    ingest_h1_limits_defaults(&lim);
    lim.max_header_bytes = 4096;
    lim.max_body_bytes = 65536;
    lim.max_headers = 32;
    ingest_h1 p;
    if (ingest_h1_init(&p, &lim) != 0)
        return 0;
    size_t off = 0;
    int requests = 0;
    while (off < size) {
        size_t n = size - off < step ? size - off : step;
        /* copy so ASan sees reads past the fed window */
        char *chunk = malloc(n);
        if (!chunk)
            break;
        memcpy(chunk, data + off, n);
        size_t used = 0;
        ingest_h1_event ev = ingest_h1_feed(&p, chunk, n, &used);
        free(chunk);
        if (used > n)
            abort();
        off += used;
        if (ev == INGEST_H1_ERROR) {
            if (ingest_h1_error_status(&p) < 400 || !ingest_h1_error_message(&p))
                abort();
            break;
        }
        if (ev == INGEST_H1_REQUEST) {
            ingest_h1_msg m;
            if (!ingest_h1_take(&p, &m))
                abort();
            if (!m.req.path || m.req.path[0] != '/' || strlen(m.req.path) != m.req.path_len)
                abort();
            if (m.req.body_len > lim.max_body_bytes || m.req.nheaders > lim.max_headers)
                abort();
            for (size_t i = 0; i < m.req.nheaders; i++)
                if (strlen(m.req.headers[i].name) != m.req.headers[i].name_len)
                    abort();
            ingest_h1_msg_fini(&m);
            requests++;
            continue;
        }
        if (used == 0 && ev == INGEST_H1_NEED_MORE)
            abort(); /* no progress on non-empty input */
    }
    ingest_h1_fini(&p);
    return requests >= 0 ? 0 : 1;
}
