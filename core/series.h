/*
 * series.h - the in-memory shape of metric data shared by every module:
 * labels, samples and series, as decoders produce them and the aggregator
 * consumes them. The structs do not own their strings: they point into the
 * arena of the request (or batch) that carries them.
 *
 * Canonical label set: sorted by name (bytewise), names unique and non-empty,
 * __name__ included as an ordinary label. Its canonical encoding, used for
 * hashing and as a storage key, is name 0xFF value 0xFF ... (0xFF never occurs
 * in valid UTF-8, so the encoding is unambiguous).
 */
#ifndef SONDE_CORE_SERIES_H
#define SONDE_CORE_SERIES_H

#include <stddef.h>
#include <stdint.h>

#include "arena.h"
#include "status.h"

typedef struct sonde_label {
    const char *name;
    const char *value;
    uint32_t name_len;
    uint32_t value_len;
} sonde_label;

typedef struct sonde_sample {
    int64_t ts_ms;
    double value; /* stale markers keep their exact NaN bit pattern */
} sonde_sample;

typedef struct sonde_series {
    sonde_label *labels; /* canonical: sorted, unique */
    uint32_t nlabels;
    uint32_t nsamples;
    sonde_sample *samples; /* in the order the sender gave them */
    uint64_t hash;         /* series_labels_hash(labels, nlabels) */
} sonde_series;

/* The stale-marker NaN Prometheus writes (math.Float64frombits(0x7ff0000000000002)). */
#define SONDE_STALE_NAN_BITS 0x7ff0000000000002ULL
int series_value_is_stale(double v);

int series_label_cmp(const sonde_label *a, const sonde_label *b); /* by name, then value */
void series_labels_sort(sonde_label *labels, uint32_t n);          /* stable, by name */
uint64_t series_labels_hash(const sonde_label *labels, uint32_t n);
/* Canonical encoding length and writer (see above). */
size_t series_labels_encoded_len(const sonde_label *labels, uint32_t n);
void series_labels_encode(const sonde_label *labels, uint32_t n, char *out);
/* Decodes a canonical encoding into labels allocated in the arena (strings
 * point into `enc`, which must outlive them). SONDE_ERR_INVALID if malformed. */
sonde_status series_labels_decode(arena *a, const char *enc, size_t n, sonde_label **out,
                                  uint32_t *nout);
/* Finds a label by name; NULL if absent. */
const sonde_label *series_labels_get(const sonde_label *labels, uint32_t n, const char *name,
                                     size_t name_len);

#endif
