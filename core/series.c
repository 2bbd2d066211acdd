/*
 * series.c - canonical label sets: order, hash, encoding (see series.h).
 *
 * Threads: any (pure functions over caller-owned arrays).
 * The hash is hash64() of the canonical encoding, computed by streaming the
 * pieces so no encoding is built; series_labels_encode() + hash64() gives the
 * same value (tests check this).
 */
#include "series.h"

#include <string.h>

#include "hash.h"

#define SERIES_SEP '\xff'

int series_value_is_stale(double v)
{
    uint64_t bits;
    memcpy(&bits, &v, sizeof bits);
    return bits == SONDE_STALE_NAN_BITS;
}

static int series_bytes_cmp(const char *a, size_t an, const char *b, size_t bn)
{
    size_t m = an < bn ? an : bn;
    int c = m ? memcmp(a, b, m) : 0;
    if (c)
        return c < 0 ? -1 : 1;
    return an < bn ? -1 : an > bn ? 1 : 0;
}

int series_label_cmp(const sonde_label *a, const sonde_label *b)
{
    int c = series_bytes_cmp(a->name, a->name_len, b->name, b->name_len);
    if (c)
        return c;
    return series_bytes_cmp(a->value, a->value_len, b->value, b->value_len);
}

void series_labels_sort(sonde_label *labels, uint32_t n)
{
    /* Insertion sort: stable, allocation-free, and label sets are short
     * (bounded by the per-series label cap). Already-sorted input is O(n). */
    for (uint32_t i = 1; i < n; i++) {
        sonde_label x = labels[i];
        uint32_t j = i;
        while (j > 0 && series_bytes_cmp(labels[j - 1].name, labels[j - 1].name_len, x.name,
                                         x.name_len) > 0) {
            labels[j] = labels[j - 1];
            j--;
        }
        labels[j] = x;
    }
}

uint64_t series_labels_hash(const sonde_label *labels, uint32_t n)
{
    /* Typical label sets encode to a few hundred bytes: one-shot XXH3 over a
     * stack copy is faster than streaming four small pieces per label. */
    char stack[1024];
    size_t len = series_labels_encoded_len(labels, n);
    if (len <= sizeof stack) {
        series_labels_encode(labels, n, stack);
        return hash64(stack, len);
    }
    static const char sep = SERIES_SEP;
    hash64_stream hs;
    hash64_stream_init(&hs);
    for (uint32_t i = 0; i < n; i++) {
        hash64_stream_update(&hs, labels[i].name, labels[i].name_len);
        hash64_stream_update(&hs, &sep, 1);
        hash64_stream_update(&hs, labels[i].value, labels[i].value_len);
        hash64_stream_update(&hs, &sep, 1);
    }
    return hash64_stream_final(&hs);
}

size_t series_labels_encoded_len(const sonde_label *labels, uint32_t n)
{
    size_t len = 0;
    for (uint32_t i = 0; i < n; i++)
        len += (size_t)labels[i].name_len + labels[i].value_len + 2;
    return len;
}

void series_labels_encode(const sonde_label *labels, uint32_t n, char *out)
{
    for (uint32_t i = 0; i < n; i++) {
        if (labels[i].name_len)
            memcpy(out, labels[i].name, labels[i].name_len);
        out += labels[i].name_len;
        *out++ = SERIES_SEP;
        if (labels[i].value_len)
            memcpy(out, labels[i].value, labels[i].value_len);
        out += labels[i].value_len;
        *out++ = SERIES_SEP;
    }
}

sonde_status series_labels_decode(arena *a, const char *enc, size_t n, sonde_label **out,
                                  uint32_t *nout)
{
    size_t seps = 0;
    for (size_t i = 0; i < n; i++)
        seps += enc[i] == SERIES_SEP;
    if (seps % 2 != 0 || (n > 0 && enc[n - 1] != SERIES_SEP) || seps / 2 > UINT32_MAX)
        return SONDE_ERR_INVALID;
    uint32_t cnt = (uint32_t)(seps / 2);
    sonde_label *l = arena_alloc(a, (size_t)cnt * sizeof(*l));
    if (!l)
        return SONDE_ERR_NOMEM;
    size_t i = 0;
    for (uint32_t k = 0; k < cnt; k++) {
        const char *nm = enc + i;
        const char *e1 = memchr(nm, 0xff, n - i);
        size_t nl = (size_t)(e1 - nm);
        const char *v = e1 + 1;
        const char *e2 = memchr(v, 0xff, (size_t)(enc + n - v));
        size_t vl = (size_t)(e2 - v);
        if (nl == 0 || nl > UINT32_MAX || vl > UINT32_MAX)
            return SONDE_ERR_INVALID;
        l[k].name = nm;
        l[k].name_len = (uint32_t)nl;
        l[k].value = v;
        l[k].value_len = (uint32_t)vl;
        if (k > 0 && series_bytes_cmp(l[k - 1].name, l[k - 1].name_len, nm, nl) >= 0)
            return SONDE_ERR_INVALID; /* not canonical: unsorted or duplicate */
        i = (size_t)(e2 + 1 - enc);
    }
    *out = l;
    *nout = cnt;
    return SONDE_OK;
}

const sonde_label *series_labels_get(const sonde_label *labels, uint32_t n, const char *name,
                                     size_t name_len)
{
    for (uint32_t i = 0; i < n; i++)
        if (labels[i].name_len == name_len && memcmp(labels[i].name, name, name_len) == 0)
            return &labels[i];
    return NULL;
}
