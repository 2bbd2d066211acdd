/*
 * chunk.c - Gorilla chunks: delta-of-delta timestamps and XOR-compressed
 * float values (Pelkonen et al., VLDB 2015; the layout Prometheus' XOR chunk
 * uses, with a 64-bit escape so any timestamp gap round-trips).
 *
 * Layout (bits, MSB first):
 *   sample 0: ts (64), value bits (64)
 *   sample i: dod = (ts - last) - last_delta, two's complement, wrapping:
 *               '0' (dod 0) | '10' +14 | '110' +17 | '1110' +20 | '1111' +64
 *             x = bits ^ last bits:
 *               '0' (x 0) | '10' + meaningful bits in the previous window |
 *               '11' + leading (5) + sigbits (6, 64 as 0) + sigbits
 * Values are kept bit-exact (every NaN payload, -0.0, the stale marker).
 * The sample count is stored beside the chunk, not in it.
 *
 * Threads: an encoder belongs to its series (shard lock held); decoders are
 * local to one reader. No shared state.
 */
#include <stdlib.h>
#include <string.h>

#include "storage_internal.h"

void storage_chunk_enc_init(chunk_enc *e)
{
    memset(e, 0, sizeof *e);
    e->leading = 0xff;
}

void storage_chunk_enc_fini(chunk_enc *e)
{
    free(e->buf);
    storage_chunk_enc_init(e);
}

void storage_chunk_enc_reset(chunk_enc *e)
{
    uint8_t *b = e->buf;
    uint32_t cap = e->cap;
    storage_chunk_enc_init(e);
    e->buf = b;
    e->cap = cap;
}

static void put_bits(chunk_enc *e, uint64_t v, unsigned n)
{
    while (n > 0) {
        uint32_t pos = e->nbits;
        unsigned off = pos & 7, room = 8 - off;
        unsigned take = n < room ? n : room;
        /* take is 1..8 (room <= 8); the analyzer cannot see that */
        uint8_t bits = (uint8_t)((v >> (n - take)) & (0xffu >> (8 - take))); // NOLINT
        if (off == 0)
            e->buf[pos >> 3] = 0;
        e->buf[pos >> 3] |= (uint8_t)(bits << (room - take));
        e->nbits += take;
        n -= take;
    }
}

static bool fits(int64_t v, unsigned n)
{
    int64_t lim = (int64_t)1 << (n - 1);
    return v >= -lim && v < lim;
}

sonde_status storage_chunk_enc_append(chunk_enc *e, int64_t ts, double v)
{
    /* worst case per sample: 4 + 64 + 2 + 11 + 64 bits = 145 bits */
    uint32_t need = (e->nbits + 160) / 8;
    if (need > e->cap) {
        /* small steps: a head chunk lives in memory for every active series,
         * so slack costs more than the few extra reallocs per chunk */
        uint32_t ncap = e->cap + 32;
        if (ncap < need)
            ncap = need;
        uint8_t *nb = realloc(e->buf, ncap);
        if (!nb)
            return SONDE_ERR_NOMEM;
        e->buf = nb;
        e->cap = ncap;
    }
    uint64_t vb;
    memcpy(&vb, &v, 8);
    if (e->count == 0) {
        put_bits(e, (uint64_t)ts, 64);
        put_bits(e, vb, 64);
        e->t0 = ts;
        e->last_delta = 0;
    } else {
        uint64_t delta = (uint64_t)ts - (uint64_t)e->last_ts;
        int64_t dod = (int64_t)(delta - (uint64_t)e->last_delta);
        if (dod == 0) {
            put_bits(e, 0, 1);
        } else if (fits(dod, 14)) {
            put_bits(e, 2, 2);
            put_bits(e, (uint64_t)dod, 14);
        } else if (fits(dod, 17)) {
            put_bits(e, 6, 3);
            put_bits(e, (uint64_t)dod, 17);
        } else if (fits(dod, 20)) {
            put_bits(e, 14, 4);
            put_bits(e, (uint64_t)dod, 20);
        } else {
            put_bits(e, 15, 4);
            put_bits(e, (uint64_t)dod, 64);
        }
        e->last_delta = (int64_t)delta;

        uint64_t x = vb ^ e->last_vbits;
        if (x == 0) {
            put_bits(e, 0, 1);
        } else {
            unsigned lead = (unsigned)__builtin_clzll(x), trail = (unsigned)__builtin_ctzll(x);
            if (lead > 31)
                lead = 31;
            if (e->leading != 0xff && lead >= e->leading && trail >= e->trailing) {
                put_bits(e, 2, 2);
                put_bits(e, x >> e->trailing, 64 - e->leading - e->trailing);
            } else {
                unsigned sig = 64 - lead - trail;
                put_bits(e, 3, 2);
                put_bits(e, lead, 5);
                put_bits(e, sig & 63, 6);
                put_bits(e, x >> trail, sig);
                e->leading = (uint8_t)lead;
                e->trailing = (uint8_t)trail;
            }
        }
    }
    e->last_ts = ts;
    e->last_vbits = vb;
    e->count++;
    return SONDE_OK;
}

void storage_chunk_dec_init(chunk_dec *d, const uint8_t *bytes, uint32_t nbytes, uint32_t count)
{
    memset(d, 0, sizeof *d);
    d->buf = bytes;
    d->nbytes = nbytes;
    d->left = count;
    d->leading = 0xff;
}

static bool get_bits(chunk_dec *d, unsigned n, uint64_t *out)
{
    if ((uint64_t)d->pos + n > (uint64_t)d->nbytes * 8)
        return false;
    uint64_t v = 0;
    while (n > 0) {
        unsigned off = d->pos & 7, room = 8 - off;
        unsigned take = n < room ? n : room;
        uint8_t byte = d->buf[d->pos >> 3];
        /* take is 1..8 (room <= 8); the analyzer cannot see that */
        uint64_t bits = (uint64_t)(byte >> (room - take)) & (0xffu >> (8 - take)); // NOLINT
        v = (v << take) | bits;
        d->pos += take;
        n -= take;
    }
    *out = v;
    return true;
}

static int64_t sext(uint64_t v, unsigned n)
{
    if (n == 64)
        return (int64_t)v;
    uint64_t m = 1ULL << (n - 1);
    return (int64_t)((v ^ m) - m);
}

bool storage_chunk_dec_next(chunk_dec *d, int64_t *ts, double *v)
{
    if (d->left == 0)
        return false;
    uint64_t b;
    if (d->i == 0) {
        uint64_t t;
        if (!get_bits(d, 64, &t) || !get_bits(d, 64, &b))
            return false;
        d->ts = (int64_t)t;
        d->vbits = b;
        d->delta = 0;
    } else {
        unsigned n = 0, prefix = 0;
        while (prefix < 4) {
            if (!get_bits(d, 1, &b))
                return false;
            if (b == 0)
                break;
            prefix++;
        }
        static const unsigned widths[5] = {0, 14, 17, 20, 64};
        n = widths[prefix];
        int64_t dod = 0;
        if (n) {
            if (!get_bits(d, n, &b))
                return false;
            dod = sext(b, n);
        }
        d->delta = (int64_t)((uint64_t)d->delta + (uint64_t)dod);
        d->ts = (int64_t)((uint64_t)d->ts + (uint64_t)d->delta);

        if (!get_bits(d, 1, &b))
            return false;
        if (b) {
            if (!get_bits(d, 1, &b))
                return false;
            if (b) {
                uint64_t lead, sig;
                if (!get_bits(d, 5, &lead) || !get_bits(d, 6, &sig))
                    return false;
                if (sig == 0)
                    sig = 64;
                if (lead + sig > 64)
                    return false;
                d->leading = (uint8_t)lead;
                d->trailing = (uint8_t)(64 - lead - sig);
            } else if (d->leading == 0xff) {
                return false;
            }
            unsigned sig = 64u - d->leading - d->trailing;
            uint64_t x;
            if (!get_bits(d, sig, &x))
                return false;
            d->vbits ^= x << d->trailing;
        }
    }
    d->i++;
    d->left--;
    *ts = d->ts;
    memcpy(v, &d->vbits, 8);
    return true;
}
