/*
 * sha1.c - SHA-1 as FIPS 180-4 specifies it (see sha1.h for why it exists).
 *
 * Invariant: nblk < 64 between calls; a full block is compressed at once.
 * Threads: none of its own; contexts are not shared.
 */
#include "sha1.h"

#include <string.h>

static uint32_t sha1_rol(uint32_t x, unsigned n)
{
    return (x << n) | (x >> (32 - n));
}

static void sha1_block(sha1_ctx *c, const uint8_t *p)
{
    uint32_t w[80];
    for (int i = 0; i < 16; i++)
        w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 |
               (uint32_t)p[4 * i + 2] << 8 | (uint32_t)p[4 * i + 3];
    for (int i = 16; i < 80; i++)
        w[i] = sha1_rol(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
    uint32_t a = c->h[0], b = c->h[1], d3 = c->h[2], d = c->h[3], e = c->h[4];
    for (int i = 0; i < 80; i++) {
        uint32_t f, k;
        if (i < 20) {
            f = (b & d3) | (~b & d);
            k = 0x5A827999u;
        } else if (i < 40) {
            f = b ^ d3 ^ d;
            k = 0x6ED9EBA1u;
        } else if (i < 60) {
            f = (b & d3) | (b & d) | (d3 & d);
            k = 0x8F1BBCDCu;
        } else {
            f = b ^ d3 ^ d;
            k = 0xCA62C1D6u;
        }
        uint32_t t = sha1_rol(a, 5) + f + e + k + w[i];
        e = d;
        d = d3;
        d3 = sha1_rol(b, 30);
        b = a;
        a = t;
    }
    c->h[0] += a;
    c->h[1] += b;
    c->h[2] += d3;
    c->h[3] += d;
    c->h[4] += e;
}

void sha1_init(sha1_ctx *c)
{
    static const uint32_t iv[5] = {0x67452301u, 0xEFCDAB89u, 0x98BADCFEu, 0x10325476u,
                                   0xC3D2E1F0u};
    memcpy(c->h, iv, sizeof iv);
    c->len = 0;
    c->nblk = 0;
}

void sha1_update(sha1_ctx *c, const void *p, size_t n)
{
    const uint8_t *s = p;
    c->len += n;
    if (c->nblk) {
        size_t take = 64 - c->nblk < n ? 64 - c->nblk : n;
        memcpy(c->blk + c->nblk, s, take);
        c->nblk += take;
        s += take;
        n -= take;
        if (c->nblk < 64)
            return;
        sha1_block(c, c->blk);
        c->nblk = 0;
    }
    for (; n >= 64; s += 64, n -= 64)
        sha1_block(c, s);
    if (n) {
        memcpy(c->blk, s, n);
        c->nblk = n;
    }
}

void sha1_final(sha1_ctx *c, uint8_t out[SHA1_DIGEST_LEN])
{
    uint64_t bits = c->len * 8;
    static const uint8_t pad0 = 0x80;
    static const uint8_t zeros[64];
    sha1_update(c, &pad0, 1);
    size_t z = c->nblk <= 56 ? 56 - c->nblk : 120 - c->nblk;
    sha1_update(c, zeros, z);
    uint8_t lenbe[8];
    for (int i = 0; i < 8; i++)
        lenbe[i] = (uint8_t)(bits >> (56 - 8 * i));
    sha1_update(c, lenbe, 8);
    for (int i = 0; i < 5; i++) {
        out[4 * i] = (uint8_t)(c->h[i] >> 24);
        out[4 * i + 1] = (uint8_t)(c->h[i] >> 16);
        out[4 * i + 2] = (uint8_t)(c->h[i] >> 8);
        out[4 * i + 3] = (uint8_t)c->h[i];
    }
}

void sha1(const void *p, size_t n, uint8_t out[SHA1_DIGEST_LEN])
{
    sha1_ctx c;
    sha1_init(&c);
    sha1_update(&c, p, n);
    sha1_final(&c, out);
}
