/*
 * sha1.h - SHA-1 (FIPS 180-4, RFC 3174), for the WebSocket handshake's
 * Sec-WebSocket-Accept (RFC 6455 section 4.2.2) and nothing that needs
 * collision resistance: SHA-1 is broken for signatures and content ids.
 *
 * Design: the textbook 80-round compression over 64-byte blocks; no
 * allocation, no global state. Threads: any; a context is one caller's.
 */
#ifndef SONDE_CORE_SHA1_H
#define SONDE_CORE_SHA1_H

#include <stddef.h>
#include <stdint.h>

#define SHA1_DIGEST_LEN 20

typedef struct sha1_ctx {
    uint32_t h[5];
    uint64_t len; /* bytes hashed so far */
    uint8_t blk[64];
    size_t nblk; /* bytes waiting in blk */
} sha1_ctx;

void sha1_init(sha1_ctx *c);
void sha1_update(sha1_ctx *c, const void *p, size_t n);
/* Writes the digest; c must be initialised again before reuse. */
void sha1_final(sha1_ctx *c, uint8_t out[SHA1_DIGEST_LEN]);
/* One-shot convenience. */
void sha1(const void *p, size_t n, uint8_t out[SHA1_DIGEST_LEN]);

#endif
