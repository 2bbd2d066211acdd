/*
 * compactdb.c - full offline compaction of a RocksDB directory, for the
 * benchmarks' on-disk size figures (tests/bench/logs_bench.sh).
 *
 *   compactdb DB_DIR
 *
 * The server must be stopped. It opens DB_DIR with every column family the
 * directory holds, using the options the server last wrote to its OPTIONS
 * file (rocksdb_load_latest_options: compression, compaction style, ... as
 * the server set them), or, when that file cannot be read, default options
 * with LZ4 and bottommost zstd and the families from
 * rocksdb_list_column_families. It flushes each family, compacts its whole
 * key range to the bottommost level (forced), and closes the database
 * (which also removes the obsolete files). For each family it prints
 * "cf NAME sst_bytes BEFORE -> AFTER" (rocksdb.total-sst-files-size) and the
 * sum. Links only librocksdb: it builds while the server does not.
 * Single-threaded (RocksDB's own compaction threads aside).
 */
#include <rocksdb/c.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t sst_bytes(rocksdb_t *db, rocksdb_column_family_handle_t *cf)
{
    char *v = rocksdb_property_value_cf(db, cf, "rocksdb.total-sst-files-size");
    uint64_t n = v ? strtoull(v, NULL, 10) : 0;
    free(v);
    return n;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: compactdb DB_DIR   (a RocksDB directory, server stopped)\n");
        return 2;
    }
    const char *path = argv[1];
    char *err = NULL;
    rocksdb_options_t *dbo = NULL;
    rocksdb_options_t **cfo = NULL;
    char **names = NULL;
    size_t ncf = 0;
    bool loaded = false;
    rocksdb_env_t *env = rocksdb_create_default_env();
    rocksdb_cache_t *cache = rocksdb_cache_create_lru(64 << 20);
    rocksdb_load_latest_options(path, env, true, cache, &dbo, &ncf, &names, &cfo, &err);
    if (err || !ncf) {
        fprintf(stderr, "compactdb: no usable OPTIONS file (%s); default options + LZ4/zstd\n",
                err ? err : "no families");
        free(err);
        err = NULL;
        dbo = rocksdb_options_create();
        rocksdb_options_set_compression(dbo, rocksdb_lz4_compression);
        rocksdb_options_set_bottommost_compression(dbo, rocksdb_zstd_compression);
        names = rocksdb_list_column_families(dbo, path, &ncf, &err);
        if (err) {
            fprintf(stderr, "compactdb: %s: %s\n", path, err);
            return 1;
        }
        cfo = calloc(ncf, sizeof(rocksdb_options_t *));
        if (!cfo)
            return 1;
        for (size_t i = 0; i < ncf; i++)
            cfo[i] = dbo;
    } else {
        loaded = true;
    }
    rocksdb_options_set_create_if_missing(dbo, 0);
    rocksdb_options_increase_parallelism(dbo, 2);
    rocksdb_options_set_max_subcompactions(dbo, 2);
    rocksdb_column_family_handle_t **h = calloc(ncf, sizeof(rocksdb_column_family_handle_t *));
    if (!h) {
        if (!loaded)
            free(cfo);
        return 1;
    }
    rocksdb_t *db = rocksdb_open_column_families(dbo, path, (int)ncf, (const char *const *)names,
                                                 (const rocksdb_options_t *const *)cfo, h, &err);
    if (err) {
        fprintf(stderr, "compactdb: open %s: %s\n", path, err);
        free(err);
        free(h);
        if (!loaded)
            free(cfo);
        return 1; /* the process ends: the options are not freed */
    }
    rocksdb_flushoptions_t *fo = rocksdb_flushoptions_create();
    rocksdb_flushoptions_set_wait(fo, 1);
    rocksdb_compactoptions_t *co = rocksdb_compactoptions_create();
    rocksdb_compactoptions_set_bottommost_level_compaction(co, 2); /* kForce */
    rocksdb_compactoptions_set_exclusive_manual_compaction(co, 1);
    uint64_t before_all = 0, after_all = 0;
    int rc = 0;
    for (size_t i = 0; i < ncf; i++) {
        rocksdb_flush_cf(db, fo, h[i], &err);
        if (err) {
            fprintf(stderr, "compactdb: flush %s: %s\n", names[i], err);
            free(err);
            err = NULL;
            rc = 1;
        }
        uint64_t before = sst_bytes(db, h[i]);
        rocksdb_compact_range_cf_opt(db, h[i], co, NULL, 0, NULL, 0);
        uint64_t after = sst_bytes(db, h[i]);
        before_all += before;
        after_all += after;
        printf("cf %s sst_bytes %llu -> %llu\n", names[i], (unsigned long long)before,
               (unsigned long long)after);
    }
    printf("total sst_bytes %llu -> %llu (%s options)\n", (unsigned long long)before_all,
           (unsigned long long)after_all, loaded ? "the OPTIONS file's" : "default");
    rocksdb_compactoptions_destroy(co);
    rocksdb_flushoptions_destroy(fo);
    for (size_t i = 0; i < ncf; i++)
        rocksdb_column_family_handle_destroy(h[i]);
    rocksdb_close(db);
    free(h);
    if (loaded) {
        rocksdb_load_latest_options_destroy(dbo, names, cfo, ncf);
    } else {
        rocksdb_options_destroy(dbo);
        rocksdb_list_column_families_destroy(names, ncf);
        free(cfo);
    }
    rocksdb_cache_destroy(cache);
    rocksdb_env_destroy(env);
    return rc;
}
