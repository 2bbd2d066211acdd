/*
 * logs_read.c - the read side of log rows (see rows.c for the write side and
 * storage.h "log reads" for the API).
 *
 * Streams: one prefix scan of log_streams for the tenant (tenant '\0'
 * stream_id -> canonical labels), each decoded and matched with Prometheus
 * semantics (a missing label reads as ""). Entries: the logs family is
 * keyed tenant '\0' day stream_id ts seq, so one stream's entries in
 * [mint, maxt] are one key range per day; the iterator walks the days in
 * the requested direction, each with a RocksDB iterator bounded by
 * iterate_lower_bound / iterate_upper_bound, all from one snapshot taken at
 * creation. Rows stored with ts <= 0 live in their commit day and are only
 * found when that day is inside the range (documented limitation).
 *
 * Threads: any; each iterator belongs to one thread. Copies only what the
 * caller asks for (labels into the caller's arena); entry values point into
 * RocksDB's iterator memory until the next call.
 */
#include <stdlib.h>
#include <string.h>

#include "../core/log.h"
#include "storage_internal.h"

static sonde_status logs_arena_status(arena *a)
{
    return arena_cap_hit(a) ? SONDE_ERR_LIMIT : SONDE_ERR_NOMEM;
}

static sonde_status logs_iter_status(rocksdb_iterator_t *it, const char *what)
{
    char *e = NULL;
    rocksdb_iter_get_error(it, &e);
    if (!e)
        return SONDE_OK;
    log_error("storage.logs_read", "step=%s err=\"%s\"", what, e);
    free(e);
    return SONDE_ERR_STORAGE;
}

static bool logs_matches(const storage_matcher *m, const sonde_label *l, uint32_t n)
{
    const sonde_label *x = series_labels_get(l, n, m->name, m->name_len);
    const char *v = x ? x->value : "";
    size_t vl = x ? x->value_len : 0;
    switch (m->op) {
    case STORAGE_MATCH_EQ:
        return vl == m->value_len && (vl == 0 || memcmp(v, m->value, vl) == 0);
    case STORAGE_MATCH_NEQ:
        return !(vl == m->value_len && (vl == 0 || memcmp(v, m->value, vl) == 0));
    case STORAGE_MATCH_RE:
        return m->re_match && m->re_match(m->re_ctx, v, vl);
    case STORAGE_MATCH_NRE:
        return m->re_match && !m->re_match(m->re_ctx, v, vl);
    }
    return false;
}

sonde_status storage_log_streams(storage *st, const char *tenant, const storage_matcher *m,
                                 size_t nm, arena *a, storage_log_stream **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    size_t tlen = tenant ? strlen(tenant) : 0;
    if (!st || tlen == 0 || tlen > STORAGE_TENANT_MAX || (nm && !m))
        return SONDE_ERR_INVALID;
    char pfx[STORAGE_TENANT_MAX + 1];
    memcpy(pfx, tenant, tlen);
    pfx[tlen] = 0;
    char upper[STORAGE_TENANT_MAX + 1];
    memcpy(upper, tenant, tlen);
    upper[tlen] = 1; /* tenant '\1' bounds tenant '\0' ... */
    rocksdb_readoptions_t *ro = rocksdb_readoptions_create();
    rocksdb_readoptions_set_iterate_upper_bound(ro, upper, tlen + 1);
    rocksdb_iterator_t *it = rocksdb_create_iterator_cf(st->db, ro, st->cf[CF_LOG_STREAMS]);
    sonde_status s = SONDE_OK;
    size_t cap = 0;
    storage_log_stream *res = NULL;
    for (rocksdb_iter_seek(it, pfx, tlen + 1); rocksdb_iter_valid(it); rocksdb_iter_next(it)) {
        size_t kl, vl;
        const uint8_t *k = (const uint8_t *)rocksdb_iter_key(it, &kl);
        if (kl != tlen + 9 || memcmp(k, pfx, tlen + 1) != 0)
            continue;
        const char *v = rocksdb_iter_value(it, &vl);
        char *enc = arena_alloc(a, vl ? vl : 1);
        if (!enc) {
            s = logs_arena_status(a);
            break;
        }
        if (vl)
            memcpy(enc, v, vl);
        sonde_label *labels;
        uint32_t nl;
        sonde_status ds = series_labels_decode(a, enc, vl, &labels, &nl);
        if (ds == SONDE_ERR_INVALID)
            continue; /* a damaged entry hides one stream, not the tenant */
        if (ds != SONDE_OK) {
            s = logs_arena_status(a);
            break;
        }
        bool ok = true;
        for (size_t i = 0; i < nm && ok; i++)
            ok = logs_matches(&m[i], labels, nl);
        if (!ok)
            continue;
        if (*n == cap) {
            size_t nc = cap ? cap * 2 : 16;
            storage_log_stream *nr = arena_realloc(a, res, cap * sizeof *nr, nc * sizeof *nr);
            if (!nr) {
                s = logs_arena_status(a);
                break;
            }
            res = nr;
            cap = nc;
        }
        res[*n] = (storage_log_stream){storage_key_get_be64(k + tlen + 1), labels, nl};
        (*n)++;
    }
    if (s == SONDE_OK)
        s = logs_iter_status(it, "log_streams");
    rocksdb_iter_destroy(it);
    rocksdb_readoptions_destroy(ro);
    if (s != SONDE_OK) {
        *n = 0;
        return s;
    }
    *out = res;
    return SONDE_OK;
}

struct storage_log_iter {
    storage *st;
    const rocksdb_snapshot_t *snap;
    rocksdb_readoptions_t *ro;
    rocksdb_iterator_t *it;
    char tenant[STORAGE_TENANT_MAX + 1];
    size_t tlen;
    uint64_t stream;
    int64_t mint, maxt;
    bool backward;
    int64_t day, day_end; /* current day and the last one (inclusive), in walk order */
    bool started;         /* the current iterator has returned an entry: step before reading */
    bool done;
    uint8_t lower[STORAGE_ROW_KEY_MAX], upper[STORAGE_ROW_KEY_MAX];
    size_t lower_len, upper_len;
};

static int64_t day_of(int64_t ns)
{
    return ns <= 0 ? 0 : ns / STORAGE_DAY_NS;
}

sonde_status storage_log_iter_create(storage *st, const char *tenant, uint64_t stream_id,
                                     int64_t mint, int64_t maxt, bool backward,
                                     storage_log_iter **out)
{
    *out = NULL;
    size_t tlen = tenant ? strlen(tenant) : 0;
    if (!st || tlen == 0 || tlen > STORAGE_TENANT_MAX)
        return SONDE_ERR_INVALID;
    storage_log_iter *it = calloc(1, sizeof *it);
    if (!it)
        return SONDE_ERR_NOMEM;
    it->st = st;
    memcpy(it->tenant, tenant, tlen);
    it->tlen = tlen;
    it->stream = stream_id;
    it->mint = mint;
    it->maxt = maxt;
    it->backward = backward;
    it->done = maxt < mint || maxt <= 0;
    int64_t d0 = day_of(mint), d1 = day_of(maxt);
    it->day = backward ? d1 : d0;
    it->day_end = backward ? d0 : d1;
    it->snap = rocksdb_create_snapshot(st->db);
    *out = it;
    return SONDE_OK;
}

/* Opens the iterator of it->day, positioned on its first entry in walk order. */
static void open_day(storage_log_iter *it)
{
    if (it->it)
        rocksdb_iter_destroy(it->it);
    it->it = NULL;
    if (it->ro)
        rocksdb_readoptions_destroy(it->ro);
    static const uint8_t zero_seq[STORAGE_LOG_SEQ_LEN];
    it->lower_len = storage_key_log(it->lower, it->tenant, it->tlen, (uint32_t)it->day, it->stream,
                                    it->mint, zero_seq) -
                    STORAGE_LOG_SEQ_LEN;
    /* exclusive upper bound: the key of maxt + 1 without a seq sorts before every key at
     * maxt + 1 and after every key at maxt */
    if (it->maxt == INT64_MAX) {
        size_t pl = storage_key_log(it->upper, it->tenant, it->tlen, (uint32_t)it->day, it->stream,
                                    0, zero_seq) -
                    STORAGE_LOG_SEQ_LEN - 8;
        memset(it->upper + pl, 0xFF, 8 + STORAGE_LOG_SEQ_LEN);
        it->upper[pl + 8 + STORAGE_LOG_SEQ_LEN] = 0xFF;
        it->upper_len = pl + 9 + STORAGE_LOG_SEQ_LEN;
    } else {
        it->upper_len = storage_key_log(it->upper, it->tenant, it->tlen, (uint32_t)it->day,
                                        it->stream, it->maxt + 1, zero_seq) -
                        STORAGE_LOG_SEQ_LEN;
    }
    it->ro = rocksdb_readoptions_create();
    rocksdb_readoptions_set_snapshot(it->ro, it->snap);
    rocksdb_readoptions_set_iterate_lower_bound(it->ro, (const char *)it->lower, it->lower_len);
    rocksdb_readoptions_set_iterate_upper_bound(it->ro, (const char *)it->upper, it->upper_len);
    it->it = rocksdb_create_iterator_cf(it->st->db, it->ro, it->st->cf[CF_LOGS]);
    if (it->backward)
        rocksdb_iter_seek_for_prev(it->it, (const char *)it->upper, it->upper_len);
    else
        rocksdb_iter_seek(it->it, (const char *)it->lower, it->lower_len);
}

sonde_status storage_log_iter_next(storage_log_iter *it, int64_t *ts_ns, const void **value,
                                   size_t *len)
{
    if (!it || it->done)
        return SONDE_ERR_NOT_FOUND;
    size_t pfx = it->tlen + 1 + 4 + 8;
    for (;;) {
        if (!it->it) {
            open_day(it);
        } else if (it->started) {
            if (it->backward)
                rocksdb_iter_prev(it->it);
            else
                rocksdb_iter_next(it->it);
        }
        it->started = true;
        while (rocksdb_iter_valid(it->it)) {
            size_t kl;
            const uint8_t *k = (const uint8_t *)rocksdb_iter_key(it->it, &kl);
            if (kl == pfx + 8 + STORAGE_LOG_SEQ_LEN) {
                *ts_ns = storage_key_ts_decode(storage_key_get_be64(k + pfx));
                *value = rocksdb_iter_value(it->it, len);
                return SONDE_OK;
            }
            if (it->backward)
                rocksdb_iter_prev(it->it);
            else
                rocksdb_iter_next(it->it);
        }
        sonde_status s = logs_iter_status(it->it, "logs");
        if (s != SONDE_OK || it->day == it->day_end) {
            it->done = true;
            return s != SONDE_OK ? s : SONDE_ERR_NOT_FOUND;
        }
        it->day += it->backward ? -1 : 1;
        rocksdb_iter_destroy(it->it);
        it->it = NULL;
    }
}

void storage_log_iter_destroy(storage_log_iter *it)
{
    if (!it)
        return;
    if (it->it)
        rocksdb_iter_destroy(it->it);
    if (it->ro)
        rocksdb_readoptions_destroy(it->ro);
    if (it->snap)
        rocksdb_release_snapshot(it->st->db, it->snap);
    free(it);
}
