/*
 * logdict.c - zstd dictionaries for log chunks, trained per stream.
 *
 * A stream's chunks are small (the lines of one request) and alike (the same few templates
 * and record shapes), which is where a zstd dictionary pays: the first chunk payloads of a
 * stream are kept as samples (LOGDICT_SAMPLES of them with LOGDICT_MIN_BYTES, or up to
 * LOGDICT_MAX_SAMPLES small ones: streams of small requests gain the most), then
 * ZDICT_trainFromBuffer_fastCover (fixed k = 200, d = 8) turns them into a dictionary of at
 * most LOGDICT_MAX_DICT bytes (and at most an eighth of the samples). The
 * dictionary is written to the `log_dicts` family (key tenant '\0' stream BE8 version BE4)
 * before any chunk that uses it is submitted, so the WAL orders it first: a chunk that is
 * durable always finds its dictionary. A chunk names the version it was compressed with (0:
 * none), so dictionaries can be retrained later (a new version) without touching old data.
 * Today each stream trains once (version 1); a stream whose samples do not train (too few,
 * too uniform) stays without one.
 *
 * Memory: a table of at most LOGDICT_MAX_STREAMS entries (tenant, stream): a stream in
 * training holds its samples (at most LOGDICT_SAMPLE_BYTES), a trained one its CDict (made
 * with 2^13-entry match tables for chunk-sized inputs: ~110 KiB instead of ~430 KiB at level
 * 3's defaults) and DDict (~60 KiB): at most ~90 MiB in all. Beyond the table's bound new streams are compressed without a dictionary. Readers
 * load a dictionary from RocksDB on first use. One mutex guards the table; compression and
 * decompression run outside it (CDicts and DDicts are read-only and shared).
 *
 * Threads: any (ingest threads pack chunks, query threads read them).
 */
#include <stdlib.h>
#include <string.h>
#define ZDICT_STATIC_LINKING_ONLY /* ZDICT_trainFromBuffer_fastCover: one pass, small tables */
#include <zdict.h>
#define ZSTD_STATIC_LINKING_ONLY /* ZSTD_createCDict_advanced: small match tables */
#include <zstd.h>

#include "../core/hash.h"
#include "../core/log.h"
#include "storage_internal.h"

#define LOGDICT_MAX_STREAMS 512
#define LOGDICT_MAX_READERS 1024 /* cached reader DDicts (~60 KiB each); past it, per use */
#define LOGDICT_SAMPLES 64        /* train once this many payloads ... */
#define LOGDICT_MIN_BYTES (64u << 10) /* ... hold this many bytes */
#define LOGDICT_MAX_SAMPLES 1024  /* or at this many, if they hold LOGDICT_FEW_BYTES */
#define LOGDICT_FEW_BYTES (16u << 10)
#define LOGDICT_SAMPLE_BYTES (1u << 20)
#define LOGDICT_MAX_DICT (32u << 10)
#define LOGDICT_LEVEL 3

typedef struct logdict {
    char tenant[STORAGE_TENANT_MAX + 1];
    size_t tlen;
    uint64_t stream;
    uint32_t version; /* 0: training (or failed: see failed) */
    bool failed;      /* training gave nothing: compress without */
    bool looked_up;   /* RocksDB was asked for a stored dictionary */
    bool training;    /* a thread is training it (outside the lock) */
    ZSTD_CDict *cdict;
    ZSTD_DDict *ddict; /* of `version` */
    uint8_t *samples;  /* training: payloads back to back */
    size_t *sizes;
    size_t nsamples, bytes;
} logdict;

#define LOGDICT_CCTX_POOL 8

struct storage_logdicts {
    pthread_mutex_t mu;
    /* compression contexts kept between batches: a fresh one pays its workspace setup
     * (and page faults) for every request */
    ZSTD_CCtx *pool[LOGDICT_CCTX_POOL];
    size_t npool;
    logdict **tab; /* open addressing by (tenant, stream) hash */
    size_t cap, n;
    /* dictionaries of older versions, loaded for readers: (tenant, stream, version) */
    logdict **old;
    size_t nold, capold;
};

static ZSTD_CDict *cdict_make(const uint8_t *dict, size_t len)
{
    ZSTD_compressionParameters cp = ZSTD_getCParams(LOGDICT_LEVEL, 16384, len);
    cp.hashLog = cp.hashLog > 13 ? 13 : cp.hashLog;
    cp.chainLog = cp.chainLog > 13 ? 13 : cp.chainLog;
    return ZSTD_createCDict_advanced(dict, len, ZSTD_dlm_byCopy, ZSTD_dct_auto, cp,
                                     ZSTD_defaultCMem);
}

static uint64_t key_hash(const char *tenant, size_t tlen, uint64_t stream)
{
    return hash64(tenant, tlen) ^ (stream * 0x9e3779b97f4a7c15ULL);
}

sonde_status storage_logdicts_init(storage *st)
{
    storage_logdicts *d = calloc(1, sizeof *d);
    if (!d)
        return SONDE_ERR_NOMEM;
    d->cap = LOGDICT_MAX_STREAMS * 2;
    d->tab = calloc(d->cap, sizeof *d->tab);
    if (!d->tab) {
        free(d);
        return SONDE_ERR_NOMEM;
    }
    pthread_mutex_init(&d->mu, NULL);
    st->logdicts = d;
    return SONDE_OK;
}

static void dict_free(logdict *e)
{
    if (!e)
        return;
    ZSTD_freeCDict(e->cdict);
    ZSTD_freeDDict(e->ddict);
    free(e->samples);
    free(e->sizes);
    free(e);
}

void storage_logdicts_fini(storage *st)
{
    storage_logdicts *d = st->logdicts;
    if (!d)
        return;
    for (size_t i = 0; i < d->cap; i++)
        dict_free(d->tab[i]);
    for (size_t i = 0; i < d->nold; i++)
        dict_free(d->old[i]);
    for (size_t i = 0; i < d->npool; i++)
        ZSTD_freeCCtx(d->pool[i]);
    free(d->tab);
    free(d->old);
    pthread_mutex_destroy(&d->mu);
    free(d);
    st->logdicts = NULL;
}

/* The entry of (tenant, stream), created when create is set and there is room. mu held. */
static logdict *dict_slot(storage_logdicts *d, const char *tenant, size_t tlen, uint64_t stream,
                          bool create)
{
    size_t mask = d->cap - 1;
    for (size_t i = (size_t)key_hash(tenant, tlen, stream) & mask;; i = (i + 1) & mask) {
        logdict *e = d->tab[i];
        if (!e) {
            if (!create || d->n >= LOGDICT_MAX_STREAMS)
                return NULL;
            e = calloc(1, sizeof *e);
            if (!e)
                return NULL;
            memcpy(e->tenant, tenant, tlen);
            e->tlen = tlen;
            e->stream = stream;
            d->tab[i] = e;
            d->n++;
            return e;
        }
        if (e->stream == stream && e->tlen == tlen && memcmp(e->tenant, tenant, tlen) == 0)
            return e;
    }
}

static size_t dict_key(uint8_t *out, const char *tenant, size_t tlen, uint64_t stream,
                       uint32_t version)
{
    memcpy(out, tenant, tlen);
    out[tlen] = 0;
    storage_key_put_be64(out + tlen + 1, stream);
    storage_key_put_be32(out + tlen + 9, version);
    return tlen + 13;
}

/* Reads a stored dictionary: version UINT32_MAX means the latest. malloc'd bytes, or NULL
 * (none, or an error: logged). */
static uint8_t *dict_read(storage *st, const char *tenant, size_t tlen, uint64_t stream,
                          uint32_t version, uint32_t *ver_out, size_t *len)
{
    uint8_t key[STORAGE_TENANT_MAX + 13];
    size_t kl = dict_key(key, tenant, tlen, stream, version);
    rocksdb_readoptions_t *ro = rocksdb_readoptions_create();
    rocksdb_iterator_t *it = rocksdb_create_iterator_cf(st->db, ro, st->cf[CF_LOG_DICTS]);
    rocksdb_iter_seek_for_prev(it, (const char *)key, kl);
    uint8_t *out = NULL;
    if (rocksdb_iter_valid(it)) {
        size_t l, vl;
        const uint8_t *k = (const uint8_t *)rocksdb_iter_key(it, &l);
        if (l == kl && memcmp(k, key, kl - 4) == 0) {
            uint32_t v = storage_key_get_be32(k + kl - 4);
            const char *val = rocksdb_iter_value(it, &vl);
            if ((version == UINT32_MAX || v == version) && vl > 0 && (out = malloc(vl))) {
                memcpy(out, val, vl);
                *len = vl;
                *ver_out = v;
            }
        }
    }
    (void)storage_iter_status(it, "log_dicts"); /* logged; read as no dictionary */
    rocksdb_iter_destroy(it);
    rocksdb_readoptions_destroy(ro);
    return out;
}

/* Trains a dictionary from samples and stores it as version 1 of (tenant, stream); called
 * without the lock (ZDICT takes milliseconds), while the entry says "training". Returns the
 * dictionary (malloc'd) or NULL. */
static uint8_t *dict_train(storage *st, const char *tenant, size_t tlen, uint64_t stream,
                           const uint8_t *samples, const size_t *sizes, size_t nsamples,
                           size_t *len, uint32_t *ver)
{
    *ver = 1;
    size_t total = 0;
    for (size_t i = 0; i < nsamples; i++)
        total += sizes[i];
    size_t cap = total / 8 < LOGDICT_MAX_DICT ? total / 8 : LOGDICT_MAX_DICT;
    uint8_t *dict = cap >= 1024 ? malloc(cap) : NULL;
    /* fastCover with fixed k and d and 2^16-entry tables: ZDICT_trainFromBuffer's default
     * searches k and d with 2^20-entry tables (6 MiB), ~100 ms per stream on this machine
     * (perf: 13% of ingest in a 1M-line run with ten streams), for a few percent of size */
    ZDICT_fastCover_params_t fp;
    memset(&fp, 0, sizeof fp);
    fp.k = 200;
    fp.d = 8;
    fp.f = 16;
    fp.accel = 1;
    fp.zParams.compressionLevel = LOGDICT_LEVEL;
    size_t dl = dict ? ZDICT_trainFromBuffer_fastCover(dict, cap, samples, sizes,
                                                       (unsigned)nsamples, fp)
                     : 0;
    if (!dict || ZDICT_isError(dl)) {
        free(dict);
        return NULL;
    }
    /* a dictionary already stored for the stream (a lookup that failed at first use, or a
     * writer that lost a race) is kept as it is: chunks may depend on it */
    size_t ol;
    uint32_t ov;
    uint8_t *old = dict_read(st, tenant, tlen, stream, UINT32_MAX, &ov, &ol);
    if (old) {
        free(dict);
        *len = ol;
        *ver = ov;
        return old;
    }
    uint8_t key[STORAGE_TENANT_MAX + 13];
    size_t kl = dict_key(key, tenant, tlen, stream, 1);
    rocksdb_writebatch_t *wb = rocksdb_writebatch_create();
    rocksdb_writebatch_put_cf(wb, st->cf[CF_LOG_DICTS], (const char *)key, kl,
                              (const char *)dict, dl);
    sonde_status s = storage_db_write(st, wb, st->cfg.fsync);
    rocksdb_writebatch_destroy(wb);
    if (s != SONDE_OK) {
        free(dict);
        return NULL;
    }
    *len = dl;
    return dict;
}

ZSTD_CCtx *storage_logdict_cctx_get(storage *st)
{
    storage_logdicts *d = st->logdicts;
    ZSTD_CCtx *c = NULL;
    if (d) {
        pthread_mutex_lock(&d->mu);
        if (d->npool)
            c = d->pool[--d->npool];
        pthread_mutex_unlock(&d->mu);
    }
    return c ? c : ZSTD_createCCtx();
}

void storage_logdict_cctx_put(storage *st, ZSTD_CCtx *c)
{
    storage_logdicts *d = st->logdicts;
    if (!c)
        return;
    if (d) {
        pthread_mutex_lock(&d->mu);
        if (d->npool < LOGDICT_CCTX_POOL) {
            d->pool[d->npool++] = c;
            c = NULL;
        }
        pthread_mutex_unlock(&d->mu);
    }
    ZSTD_freeCCtx(c);
}

sonde_status storage_logdict_compress(storage *st, ZSTD_CCtx *cctx, const char *tenant,
                                      size_t tlen, uint64_t stream, const uint8_t *src,
                                      size_t n, uint8_t *dst, size_t cap, size_t *out,
                                      uint32_t *version)
{
    storage_logdicts *d = st->logdicts;
    const ZSTD_CDict *cd = NULL;
    *version = 0;
    if (d) {
        pthread_mutex_lock(&d->mu);
        logdict *e = dict_slot(d, tenant, tlen, stream, true);
        if (e && !e->looked_up) {
            /* after a restart: the stored dictionary, if the stream has one */
            e->looked_up = true;
            size_t dl;
            uint32_t v;
            uint8_t *bytes = dict_read(st, tenant, tlen, stream, UINT32_MAX, &v, &dl);
            if (bytes) {
                e->cdict = cdict_make(bytes, dl);
                e->ddict = ZSTD_createDDict(bytes, dl);
                if (e->cdict && e->ddict) {
                    e->version = v;
                } else {
                    /* never retrain over a stored dictionary: its chunks need it as is */
                    ZSTD_freeCDict(e->cdict);
                    ZSTD_freeDDict(e->ddict);
                    e->cdict = NULL;
                    e->ddict = NULL;
                    e->failed = true;
                }
                free(bytes);
            }
        }
        if (e && e->version == 0 && !e->failed && !e->training) {
            /* training: keep this payload as a sample */
            if (!e->samples) {
                e->samples = malloc(LOGDICT_SAMPLE_BYTES);
                e->sizes = malloc(LOGDICT_MAX_SAMPLES * sizeof *e->sizes);
                if (!e->samples || !e->sizes)
                    e->failed = true;
            }
            if (!e->failed && e->bytes + n <= LOGDICT_SAMPLE_BYTES) {
                memcpy(e->samples + e->bytes, src, n);
                e->sizes[e->nsamples++] = n;
                e->bytes += n;
            }
            bool ready = (e->nsamples >= LOGDICT_SAMPLES && e->bytes >= LOGDICT_MIN_BYTES) ||
                         e->bytes + n > LOGDICT_SAMPLE_BYTES ||
                         e->nsamples == LOGDICT_MAX_SAMPLES;
            if (!e->failed && ready) {
                if (e->bytes >= LOGDICT_FEW_BYTES) {
                    /* train outside the lock; meanwhile chunks go without */
                    uint8_t *smp = e->samples;
                    size_t *sz = e->sizes, ns = e->nsamples;
                    e->samples = NULL;
                    e->sizes = NULL;
                    e->nsamples = e->bytes = 0;
                    e->training = true;
                    pthread_mutex_unlock(&d->mu);
                    size_t dl = 0;
                    uint32_t dv = 1;
                    uint8_t *dict = dict_train(st, tenant, tlen, stream, smp, sz, ns, &dl, &dv);
                    free(smp);
                    free(sz);
                    ZSTD_CDict *c = dict ? cdict_make(dict, dl) : NULL;
                    ZSTD_DDict *dd = dict ? ZSTD_createDDict(dict, dl) : NULL;
                    free(dict);
                    pthread_mutex_lock(&d->mu);
                    e->training = false;
                    if (c && dd) {
                        e->cdict = c;
                        e->ddict = dd;
                        e->version = dv;
                        log_info("storage.logdict_trained",
                                 "tenant=%s stream=%016llx bytes=%zu", e->tenant,
                                 (unsigned long long)e->stream, dl);
                    } else {
                        ZSTD_freeCDict(c);
                        ZSTD_freeDDict(dd);
                        e->failed = true;
                    }
                } else {
                    e->failed = true; /* a thousand tiny payloads: not worth one */
                }
            }
        }
        if (e && e->version) {
            cd = e->cdict;
            *version = e->version;
        }
        pthread_mutex_unlock(&d->mu);
    }
    /* attach the dictionary's tables rather than copy them: chunks are small, and copying
     * ~100 KiB of tables per chunk cost more than compressing it */
    size_t z = ZSTD_CCtx_reset(cctx, ZSTD_reset_session_and_parameters);
    if (!ZSTD_isError(z))
        z = cd ? ZSTD_CCtx_setParameter(cctx, ZSTD_c_forceAttachDict, ZSTD_dictForceAttach)
               : ZSTD_CCtx_setParameter(cctx, ZSTD_c_compressionLevel, LOGDICT_LEVEL);
    if (!ZSTD_isError(z) && cd)
        z = ZSTD_CCtx_refCDict(cctx, cd);
    if (!ZSTD_isError(z))
        z = ZSTD_compress2(cctx, dst, cap, src, n);
    if (ZSTD_isError(z))
        return SONDE_ERR_NOMEM;
    *out = z;
    return SONDE_OK;
}

/* The DDict of (tenant, stream, version), loading it when needed; NULL when it is not
 * stored. The entry stays for the storage's life (bounded by the streams' dictionaries). */
/* The DDict of (tenant, stream, version): the writer entry's, or a reader entry's (loaded
 * from RocksDB on first use, outside the lock). While the reader cache has room the entry
 * stays for the storage's life; past it, the caller gets its own DDict (*owned: free it
 * after use), so nothing ever fails for want of room. NULL when it is not stored. */
static ZSTD_DDict *dict_ddict(storage *st, const char *tenant, size_t tlen, uint64_t stream,
                              uint32_t version, bool *owned)
{
    storage_logdicts *d = st->logdicts;
    ZSTD_DDict *dd = NULL;
    *owned = false;
    pthread_mutex_lock(&d->mu);
    logdict *e = dict_slot(d, tenant, tlen, stream, false);
    if (e && e->version == version && e->ddict)
        dd = e->ddict;
    for (size_t i = 0; i < d->nold && !dd; i++) {
        logdict *o = d->old[i];
        if (o->stream == stream && o->version == version && o->tlen == tlen &&
            memcmp(o->tenant, tenant, tlen) == 0)
            dd = o->ddict;
    }
    pthread_mutex_unlock(&d->mu);
    if (dd)
        return dd;
    size_t dl;
    uint32_t v;
    uint8_t *bytes = dict_read(st, tenant, tlen, stream, version, &v, &dl);
    if (!bytes)
        return NULL;
    dd = ZSTD_createDDict(bytes, dl);
    free(bytes);
    if (!dd)
        return NULL;
    pthread_mutex_lock(&d->mu);
    /* another reader may have loaded it meanwhile: then use that one */
    for (size_t i = 0; i < d->nold; i++) {
        logdict *o = d->old[i];
        if (o->stream == stream && o->version == version && o->tlen == tlen &&
            memcmp(o->tenant, tenant, tlen) == 0) {
            ZSTD_freeDDict(dd);
            dd = o->ddict;
            pthread_mutex_unlock(&d->mu);
            return dd;
        }
    }
    logdict *o = NULL;
    if (d->nold < LOGDICT_MAX_READERS) {
        if (d->nold == d->capold) {
            size_t nc = d->capold ? d->capold * 2 : 16;
            logdict **no = realloc(d->old, nc * sizeof *no);
            if (no) {
                d->old = no;
                d->capold = nc;
            }
        }
        if (d->nold < d->capold)
            o = calloc(1, sizeof *o);
    }
    if (o) {
        memcpy(o->tenant, tenant, tlen);
        o->tlen = tlen;
        o->stream = stream;
        o->version = v;
        o->ddict = dd;
        d->old[d->nold++] = o;
    } else {
        *owned = true;
    }
    pthread_mutex_unlock(&d->mu);
    return dd;
}

sonde_status storage_logdict_decompress(storage *st, ZSTD_DCtx *dctx, const char *tenant,
                                        size_t tlen, uint64_t stream, uint32_t version,
                                        const uint8_t *src, size_t n, uint8_t *dst, size_t cap,
                                        size_t *out)
{
    size_t got;
    if (version == 0) {
        got = ZSTD_decompressDCtx(dctx, dst, cap, src, n);
    } else {
        bool owned = false;
        ZSTD_DDict *dd =
            st->logdicts ? dict_ddict(st, tenant, tlen, stream, version, &owned) : NULL;
        if (!dd)
            return SONDE_ERR_NOT_FOUND;
        got = ZSTD_decompress_usingDDict(dctx, dst, cap, src, n, dd);
        if (owned)
            ZSTD_freeDDict(dd);
    }
    if (ZSTD_isError(got))
        return SONDE_ERR_INVALID;
    *out = got;
    return SONDE_OK;
}
