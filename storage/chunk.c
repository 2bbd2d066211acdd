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

/* The 64 bits from byte `byte` on, big-endian, zeros past the end. */
static inline uint64_t be64_at(const uint8_t *b, uint32_t nbytes, uint64_t byte)
{
    uint64_t v;
    if (byte + 8 <= nbytes) {
        memcpy(&v, b + byte, 8);
        return __builtin_bswap64(v);
    }
    v = 0;
    for (unsigned i = 0; i < 8; i++)
        v = v << 8 | (byte + i < nbytes ? b[byte + i] : 0u);
    return v;
}

/* The 64 bits from bit `pos` on (MSB first), zeros past the end: one
 * unaligned load for any field of up to 64 bits, instead of a bit loop. */
static inline uint64_t peek64(const uint8_t *b, uint32_t nbytes, uint64_t pos)
{
    uint64_t byte = pos >> 3;
    unsigned off = (unsigned)(pos & 7);
    uint64_t w = be64_at(b, nbytes, byte) << off;
    if (off && byte + 8 < nbytes)
        w |= (uint64_t)(b[byte + 8] >> (8 - off));
    return w;
}

static inline uint64_t take(uint64_t w, unsigned n) /* the top n bits, 1 <= n <= 64 */
{
    return n == 64 ? w : w >> (64 - n);
}

static int64_t sext(uint64_t v, unsigned n)
{
    if (n == 64)
        return (int64_t)v;
    uint64_t m = 1ULL << (n - 1);
    return (int64_t)((v ^ m) - m);
}

/* One sample into d->ts / d->vbits; false at the end or on damage (then d is
 * left as it was, apart from pos). Every field is bounds-checked against the
 * chunk's bit length before it is taken. */
static inline bool dec_step(chunk_dec *d)
{
    if (d->left == 0)
        return false;
    const uint8_t *b = d->buf;
    uint32_t nb = d->nbytes;
    uint64_t nbits = (uint64_t)nb * 8, pos = d->pos;
    if (d->i == 0) {
        if (pos + 128 > nbits)
            return false;
        d->ts = (int64_t)peek64(b, nb, pos);
        d->vbits = peek64(b, nb, pos + 64);
        d->delta = 0;
        pos += 128;
    } else {
        static const unsigned widths[5] = {0, 14, 17, 20, 64};
        uint64_t w = peek64(b, nb, pos);
        unsigned ones = ~w ? (unsigned)__builtin_clzll(~w) : 64;
        unsigned prefix = ones > 4 ? 4 : ones;
        unsigned plen = prefix < 4 ? prefix + 1 : 4, n = widths[prefix];
        if (pos + plen + n > nbits)
            return false;
        pos += plen;
        int64_t dod = n ? sext(take(peek64(b, nb, pos), n), n) : 0;
        pos += n;
        if (pos + 1 > nbits)
            return false;
        w = peek64(b, nb, pos);
        if (!(w >> 63)) {
            pos += 1;
        } else {
            if (pos + 2 > nbits)
                return false;
            if ((w >> 62) & 1) {
                if (pos + 13 > nbits)
                    return false;
                unsigned lead = (unsigned)(w >> 57) & 31, sig = (unsigned)(w >> 51) & 63;
                if (sig == 0)
                    sig = 64;
                if (lead + sig > 64)
                    return false;
                d->leading = (uint8_t)lead;
                d->trailing = (uint8_t)(64 - lead - sig);
                pos += 13;
            } else if (d->leading == 0xff) {
                return false;
            } else {
                pos += 2;
            }
            unsigned sig = 64u - d->leading - d->trailing;
            if (pos + sig > nbits)
                return false;
            d->vbits ^= take(peek64(b, nb, pos), sig) << d->trailing;
            pos += sig;
        }
        d->delta = (int64_t)((uint64_t)d->delta + (uint64_t)dod);
        d->ts = (int64_t)((uint64_t)d->ts + (uint64_t)d->delta);
    }
    d->pos = (uint32_t)pos;
    d->i++;
    d->left--;
    return true;
}

bool storage_chunk_dec_next(chunk_dec *d, int64_t *ts, double *v)
{
    if (!dec_step(d))
        return false;
    *ts = d->ts;
    memcpy(v, &d->vbits, 8);
    return true;
}

/* peek64 where the 9 bytes from bit pos's byte on are inside the chunk */
static inline uint64_t peek64_in(const uint8_t *b, uint64_t pos)
{
    uint64_t byte = pos >> 3, v;
    unsigned off = (unsigned)(pos & 7);
    memcpy(&v, b + byte, 8);
    v = __builtin_bswap64(v) << off;
    if (off)
        v |= (uint64_t)(b[byte + 8] >> (8 - off));
    return v;
}

/*
 * Bulk decoding. Samples that start at least DEC_FAST_MARGIN bits before the
 * chunk's end are decoded by an unchecked copy of dec_step's loop (a sample
 * takes at most 147 bits and its last load reads 9 bytes from bit 83 on, so no
 * bounds check can fail there), with the state in locals; the rest, and any
 * sample the fast loop finds damaged, go through dec_step, which decides
 * exactly as before.
 */
#define DEC_FAST_MARGIN 256

size_t storage_chunk_decode(const uint8_t *bytes, uint32_t nbytes, uint32_t count, int64_t mint,
                            int64_t maxt, sonde_sample *out)
{
    chunk_dec d;
    storage_chunk_dec_init(&d, bytes, nbytes, count);
    size_t k = 0;
    if (!dec_step(&d) || d.ts > maxt)
        return 0;
    if (d.ts >= mint) {
        uint64_t vb = d.vbits;
        out[k].ts_ms = d.ts;
        memcpy(&out[k].value, &vb, 8);
        k++;
    }
    uint64_t nbits = (uint64_t)nbytes * 8;
    if (nbits > DEC_FAST_MARGIN) {
        static const unsigned widths[5] = {0, 14, 17, 20, 64};
        const uint64_t fast_end = nbits - DEC_FAST_MARGIN;
        uint64_t pos = d.pos, vbits = d.vbits;
        int64_t ts = d.ts, delta = d.delta;
        unsigned leading = d.leading, trailing = d.trailing;
        uint32_t left = d.left, i = d.i;
        bool past = false;
        while (left && pos < fast_end) {
            uint64_t p = pos, w = peek64_in(bytes, p);
            unsigned ones = ~w ? (unsigned)__builtin_clzll(~w) : 64;
            unsigned prefix = ones > 4 ? 4 : ones;
            unsigned plen = prefix < 4 ? prefix + 1 : 4, n = widths[prefix];
            p += plen;
            int64_t dod = n ? sext(take(peek64_in(bytes, p), n), n) : 0;
            p += n;
            w = peek64_in(bytes, p);
            uint64_t vb = vbits;
            unsigned lead = leading, trail = trailing;
            if (!(w >> 63)) {
                p += 1;
            } else {
                if ((w >> 62) & 1) {
                    unsigned l = (unsigned)(w >> 57) & 31, sig = (unsigned)(w >> 51) & 63;
                    if (sig == 0)
                        sig = 64;
                    if (l + sig > 64)
                        break; /* damaged: dec_step decides */
                    lead = l;
                    trail = 64 - l - sig;
                    p += 13;
                } else if (leading == 0xff) {
                    break;
                } else {
                    p += 2;
                }
                unsigned sig = 64u - lead - trail;
                vb ^= take(peek64_in(bytes, p), sig) << trail;
                p += sig;
            }
            delta = (int64_t)((uint64_t)delta + (uint64_t)dod);
            ts = (int64_t)((uint64_t)ts + (uint64_t)delta);
            vbits = vb;
            leading = lead;
            trailing = trail;
            pos = p;
            i++;
            left--;
            if (ts > maxt) {
                past = true;
                break;
            }
            if (ts >= mint) {
                out[k].ts_ms = ts;
                memcpy(&out[k].value, &vb, 8);
                k++;
            }
        }
        if (past)
            return k;
        d.pos = (uint32_t)pos;
        d.vbits = vbits;
        d.ts = ts;
        d.delta = delta;
        d.leading = (uint8_t)leading;
        d.trailing = (uint8_t)trailing;
        d.left = left;
        d.i = i;
    }
    while (dec_step(&d)) {
        if (d.ts > maxt)
            break;
        if (d.ts >= mint) {
            uint64_t vb = d.vbits; /* d's address stays private: its fields live in registers */
            out[k].ts_ms = d.ts;
            memcpy(&out[k].value, &vb, 8);
            k++;
        }
    }
    return k;
}
