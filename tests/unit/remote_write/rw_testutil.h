/*
 * rw_testutil.h - builds remote-write bodies for the remote_write unit tests:
 * protobuf-c pack of a WriteRequest, then snappy_compress. Not a test itself
 * (no test_ prefix), included by the tests.
 */
#ifndef SONDE_RW_TESTUTIL_H
#define SONDE_RW_TESTUTIL_H

#include <snappy-c.h>
#include <stdlib.h>
#include <string.h>

#include "remote.pb-c.h"

#define RWT_MAX_LABELS 16
#define RWT_MAX_SAMPLES 4

typedef struct rwt_series {
    const char *labels[RWT_MAX_LABELS * 2]; /* name, value, ...; NULL name ends */
    size_t nsamples;
    double values[RWT_MAX_SAMPLES];
    int64_t ts[RWT_MAX_SAMPLES];
} rwt_series;

/* Packs the series into an uncompressed WriteRequest; *len gets its size. */
static inline uint8_t *rwt_pack(const rwt_series *ss, size_t n, size_t *len)
{
    Prometheus__WriteRequest req = PROMETHEUS__WRITE_REQUEST__INIT;
    Prometheus__TimeSeries *ts = calloc(n ? n : 1, sizeof(*ts));
    Prometheus__TimeSeries **tsp = calloc(n ? n : 1, sizeof(*tsp));
    Prometheus__Label *ls = calloc((n ? n : 1) * RWT_MAX_LABELS, sizeof(*ls));
    Prometheus__Label **lsp = calloc((n ? n : 1) * RWT_MAX_LABELS, sizeof(*lsp));
    Prometheus__Sample *sm = calloc((n ? n : 1) * RWT_MAX_SAMPLES, sizeof(*sm));
    Prometheus__Sample **smp = calloc((n ? n : 1) * RWT_MAX_SAMPLES, sizeof(*smp));
    for (size_t i = 0; i < n; i++) {
        prometheus__time_series__init(&ts[i]);
        tsp[i] = &ts[i];
        size_t nl = 0;
        while (nl < RWT_MAX_LABELS && ss[i].labels[2 * nl]) {
            Prometheus__Label *l = &ls[i * RWT_MAX_LABELS + nl];
            prometheus__label__init(l);
            l->name.data = (uint8_t *)ss[i].labels[2 * nl];
            l->name.len = strlen(ss[i].labels[2 * nl]);
            l->value.data = (uint8_t *)ss[i].labels[2 * nl + 1];
            l->value.len = strlen(ss[i].labels[2 * nl + 1]);
            lsp[i * RWT_MAX_LABELS + nl] = l;
            nl++;
        }
        ts[i].n_labels = nl;
        ts[i].labels = &lsp[i * RWT_MAX_LABELS];
        for (size_t k = 0; k < ss[i].nsamples; k++) {
            Prometheus__Sample *s = &sm[i * RWT_MAX_SAMPLES + k];
            prometheus__sample__init(s);
            s->value = ss[i].values[k];
            s->timestamp = ss[i].ts[k];
            smp[i * RWT_MAX_SAMPLES + k] = s;
        }
        ts[i].n_samples = ss[i].nsamples;
        ts[i].samples = &smp[i * RWT_MAX_SAMPLES];
    }
    req.n_timeseries = n;
    req.timeseries = tsp;
    *len = prometheus__write_request__get_packed_size(&req);
    uint8_t *out = malloc(*len + 1);
    prometheus__write_request__pack(&req, out);
    free(ts);
    free(tsp);
    free(ls);
    free(lsp);
    free(sm);
    free(smp);
    return out;
}

/* snappy-compresses raw[0..n); caller frees. */
static inline uint8_t *rwt_snappy(const uint8_t *raw, size_t n, size_t *len)
{
    size_t cap = snappy_max_compressed_length(n);
    uint8_t *out = malloc(cap);
    *len = cap;
    if (snappy_compress((const char *)raw, n, (char *)out, len) != SNAPPY_OK) {
        free(out);
        return NULL;
    }
    return out;
}

static inline uint8_t *rwt_body(const rwt_series *ss, size_t n, size_t *len)
{
    size_t rawlen;
    uint8_t *raw = rwt_pack(ss, n, &rawlen);
    uint8_t *body = rwt_snappy(raw, rawlen, len);
    free(raw);
    return body;
}

#endif
