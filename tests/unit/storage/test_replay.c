/*
 * test_replay.c - crash replay. A forked child commits batches and SIGKILLs
 * itself after its done callbacks (no close, no final checkpoint); a second
 * child reopens the data dir and checks that every acknowledged sample is
 * there exactly once, that retries are still recognised, and that a clean
 * reopen after the replay changes nothing. Also: a batch replay cannot decode
 * is kept in the log (the checkpoint stays below it) while the others are
 * applied, and replay goes over sequence gaps (burnt by a failed commit).
 * The parent never opens RocksDB,
 * so every child forks from a single-threaded process.
 */
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "storage/storage_internal.h"
#include "storage_test_util.h"
#include "test.h"

/* Child: commits nb batches (each twice when `retry`), waits for every done
 * callback, then dies by SIGKILL: nothing is flushed or checkpointed except
 * what the running threads already did. */
static void child_ingest_chunk(const char *dir, int64_t ckpt_ms, int nb, int per, bool retry,
                               uint32_t chunk)
{
    storage *st = open_cfg(dir, ckpt_ms, chunk);
    if (!st)
        _exit(2);
    done_rec rec = {0};
    int want = 0;
    for (int k = 0; k < nb; k++) {
        for (int r = 0; r < (retry ? 2 : 1); r++) {
            while (storage_submit(st, batch_k("acme", k, per), done_cb, &rec) != SONDE_OK)
                usleep(1000);
            want++;
        }
        if (ckpt_ms < 1000 && k % 10 == 0)
            usleep(2000); /* let checkpoints interleave with ingestion */
    }
    if (done_wait(&rec, want, 20000) != 0 || atomic_load(&rec.ok) != want)
        _exit(3);
    kill(getpid(), SIGKILL);
    _exit(4);
}

static void child_ingest(const char *dir, int64_t ckpt_ms, int nb, int per, bool retry)
{
    child_ingest_chunk(dir, ckpt_ms, nb, per, retry, 7);
}

static int verify_child(const char *dir, int64_t ckpt_ms, int nb, int per);

static void crash_and_check(int64_t ckpt_ms, int nb, int per, bool retry)
{
    char *dir = tmpdir_make();
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0)
        child_ingest(dir, ckpt_ms, nb, per, retry);
    int status = 0;
    waitpid(pid, &status, 0);
    CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    fflush(NULL);
    pid = fork();
    if (pid == 0)
        _exit(verify_child(dir, ckpt_ms, nb, per));
    waitpid(pid, &status, 0);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    tmpdir_remove(dir);
}

static int verify_child(const char *dir, int64_t ckpt_ms, int nb, int per)
{
    storage *st = open_cfg(dir, 60000, 7);
    CHECK(st != NULL);
    if (st) {
        CHECK(ready_wait(st, 10000) == 0);
        CHECK(verify(st, "acme", nb * per));
        if (ckpt_ms >= 60000)
            CHECK(atomic_load(&test_decode_calls) >= nb); /* really replayed */
        /* every id is still in the dedup window */
        done_rec d = {0};
        for (int k = 0; k < nb; k += 7)
            CHECK(storage_submit(st, batch_k("acme", k, per), done_cb, &d) == SONDE_OK);
        CHECK(done_wait(&d, (nb + 6) / 7, 10000) == 0);
        CHECK_EQ_INT(atomic_load(&d.dup), (nb + 6) / 7);
        CHECK(verify(st, "acme", nb * per));
        storage_close(st);
        /* and a clean reopen after the replay still has everything once */
        st = open_cfg(dir, 60000, 7);
        CHECK(st != NULL);
        if (st) {
            CHECK(ready_wait(st, 10000) == 0);
            CHECK(verify(st, "acme", nb * per));
            storage_close(st);
        }
    }
    return test_failures ? 1 : 0;
}

static void test_replay_no_checkpoint(void)
{
    crash_and_check(3600 * 1000, 50, 3, false);
}

static void test_replay_with_checkpoints(void)
{
    crash_and_check(5, 200, 4, true);
}

/* ---- kill in the middle of ingestion ---- */

static int ack_fd = -1;

static void ack_cb(void *ctx, sonde_status st, bool duplicate)
{
    (void)duplicate;
    int k = (int)(intptr_t)ctx;
    if (st == SONDE_OK && write(ack_fd, &k, sizeof k) != sizeof k)
        _exit(5);
}

static void child_ingest_forever(const char *dir, int wfd)
{
    ack_fd = wfd;
    storage *st = open_cfg(dir, 10, 7);
    if (!st)
        _exit(2);
    for (int k = 0;; k++) {
        while (storage_submit(st, batch_k("acme", k, 2), ack_cb, (void *)(intptr_t)k) != SONDE_OK)
            usleep(200);
        if (k % 16 == 0)
            usleep(500);
    }
}

/* Every series must hold samples 0..n-1 exactly once, n a multiple of per
 * and covering every acknowledged batch. */
static int verify_acked_child(const char *dir, int acked, int per)
{
    storage *st = open_cfg(dir, 60000, 7);
    if (!st)
        return 1;
    CHECK(ready_wait(st, 20000) == 0);
    arena *a = arena_create(1 << 16, 0);
    storage_matcher m = {"job", 3, STORAGE_MATCH_EQ, "j", 1, NULL, NULL};
    storage_series_ref *r;
    size_t n = 0;
    CHECK(storage_select(st, "acme", &m, 1, INT64_MIN, INT64_MAX, a, &r, &n) == SONDE_OK);
    CHECK_EQ_INT(n, NSER);
    for (size_t i = 0; i < n; i++) {
        const sonde_label *l = series_labels_get(r[i].labels, r[i].nlabels, "instance", 8);
        int idx = l->value[1] - '0';
        sonde_sample *smp;
        size_t ns = 0;
        CHECK(storage_read_samples(st, "acme", r[i].id, INT64_MIN, INT64_MAX, a, &smp, &ns) ==
              SONDE_OK);
        CHECK(ns % (size_t)per == 0);
        CHECK(ns >= (size_t)acked * (size_t)per);
        int ok = 1;
        for (size_t j = 0; j < ns && ok; j++)
            ok = smp[j].ts_ms == (int64_t)j * 1000 && smp[j].value == (double)j + idx * 0.5;
        CHECK(ok);
    }
    arena_destroy(a);
    storage_close(st);
    return test_failures ? 1 : 0;
}

static void test_kill_mid_ingest(void)
{
    for (int round = 0; round < 3; round++) {
        char *dir = tmpdir_make();
        int p[2];
        CHECK(pipe(p) == 0);
        fflush(NULL);
        pid_t pid = fork();
        if (pid == 0) {
            close(p[0]);
            child_ingest_forever(dir, p[1]);
        }
        close(p[1]);
        int acked = 0, k;
        /* kill at a different point each round */
        while (acked < 100 + round * 150 && read(p[0], &k, sizeof k) == sizeof k)
            acked++;
        kill(pid, SIGKILL);
        while (read(p[0], &k, sizeof k) == sizeof k)
            acked++; /* acks written before the kill */
        close(p[0]);
        int status = 0;
        waitpid(pid, &status, 0);
        CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
        fflush(NULL);
        pid = fork();
        if (pid == 0)
            _exit(verify_acked_child(dir, acked, 2));
        waitpid(pid, &status, 0);
        CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        tmpdir_remove(dir);
    }
}


/* ---- a batch that fails to decode at replay ---- */

enum { BAD_K = 5, BAD_NB = 20, BAD_PER = 3 };

/* test_decode, except that batch BAD_K (first ts BAD_K*BAD_PER s) fails */
static sonde_status failing_decode(void *ctx, storage_batch_kind kind, const void *payload,
                                   size_t len, arena **decoded, sonde_series **series,
                                   size_t *nseries, const storage_series_meta **meta)
{
    sonde_status s = test_decode(ctx, kind, payload, len, decoded, series, nseries, meta);
    if (s == SONDE_OK && *nseries > 0 && (*series)[0].nsamples > 0 &&
        (*series)[0].samples[0].ts_ms == (int64_t)BAD_K * BAD_PER * 1000) {
        arena_destroy(*decoded);
        return SONDE_ERR_INVALID;
    }
    return s;
}

static storage *open_failing(const char *dir)
{
    storage_config c = config_make(dir);
    c.decode = failing_decode;
    c.checkpoint_interval_ms = 10;
    c.chunk_max_samples = 7;
    c.agg_shards = 2;
    storage *st = NULL;
    char err[256];
    if (storage_open(&c, &st, err, sizeof err) != SONDE_OK)
        fprintf(stderr, "open: %s\n", err);
    return st;
}

static bool log_has(storage *st, uint64_t seq)
{
    uint8_t k[8];
    storage_key_put_be64(k, seq);
    char *e = NULL;
    size_t vl = 0;
    char *v = rocksdb_get_cf(st->db, st->ro, st->cf[CF_BATCHES], (const char *)k, 8, &vl, &e);
    free(e);
    bool found = v != NULL;
    free(v);
    return found;
}

static int verify_decode_fail_child(const char *dir)
{
    /* batch k has seq k + 1 */
    const uint64_t bad_seq = BAD_K + 1;
    storage *st = open_failing(dir);
    CHECK(st != NULL);
    if (!st)
        return 1;
    CHECK(ready_wait(st, 10000) == 0); /* still serves */
    CHECK_EQ_INT(atomic_load(&st->m_replay_failed), 1);
    /* the other batches are applied (series moved past the failed one) */
    arena *a = arena_create(1 << 16, 0);
    storage_matcher m = {"job", 3, STORAGE_MATCH_EQ, "j", 1, NULL, NULL};
    storage_series_ref *r;
    size_t n = 0;
    CHECK(storage_select(st, "acme", &m, 1, INT64_MIN, INT64_MAX, a, &r, &n) == SONDE_OK);
    CHECK_EQ_INT(n, NSER);
    for (size_t i = 0; i < n; i++) {
        sonde_sample *smp;
        size_t ns = 0;
        CHECK(storage_read_samples(st, "acme", r[i].id, INT64_MIN, INT64_MAX, a, &smp, &ns) ==
              SONDE_OK);
        CHECK_EQ_INT(ns, (BAD_NB - 1) * BAD_PER);
    }
    arena_destroy(a);
    /* checkpoints run (10 ms) and truncate up to, never past, the failed batch */
    for (int w = 0; w < 5000 && atomic_load(&st->ckpt_global_pub) < bad_seq - 1; w++)
        usleep(1000);
    usleep(100 * 1000);
    CHECK_EQ_INT(atomic_load(&st->ckpt_global_pub), bad_seq - 1);
    for (unsigned i = 0; i < st->nshards; i++)
        CHECK_EQ_INT(atomic_load(&st->shards[i].ckpt_seq), BAD_NB);
    CHECK(!log_has(st, bad_seq - 1));
    CHECK(log_has(st, bad_seq));
    CHECK(log_has(st, BAD_NB));
    storage_close(st); /* the final checkpoint too */
    st = open_failing(dir);
    CHECK(st != NULL);
    if (st) {
        CHECK_EQ_INT(atomic_load(&st->ckpt_global_pub), bad_seq - 1);
        CHECK(ready_wait(st, 10000) == 0);
        CHECK(log_has(st, bad_seq));
        storage_close(st);
    }
    return test_failures ? 1 : 0;
}

static void test_replay_decode_failure_kept(void)
{
    char *dir = tmpdir_make();
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) /* no cuts, no checkpoint: every sample is only in the log */
        child_ingest_chunk(dir, 3600 * 1000, BAD_NB, BAD_PER, false, 120);
    int status = 0;
    waitpid(pid, &status, 0);
    CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    fflush(NULL);
    pid = fork();
    if (pid == 0)
        _exit(verify_decode_fail_child(dir));
    waitpid(pid, &status, 0);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    tmpdir_remove(dir);
}

/* ---- sequence gaps (a failed group commit burns its sequence numbers) ---- */

enum { GAP_NB = 10, GAP_PER = 3, GAP = 10 };

static void child_ingest_gap(const char *dir)
{
    storage *st = open_cfg(dir, 3600 * 1000, 7);
    if (!st)
        _exit(2);
    done_rec rec = {0};
    for (int k = 0; k < GAP_NB; k++) {
        if (k == GAP_NB / 2) {
            if (done_wait(&rec, k, 20000) != 0)
                _exit(3);
            /* the committer is idle (everything acknowledged): burn GAP
             * sequence numbers as a failed group would */
            st->next_seq += GAP;
        }
        while (storage_submit(st, batch_k("acme", k, GAP_PER), done_cb, &rec) != SONDE_OK)
            usleep(1000);
    }
    if (done_wait(&rec, GAP_NB, 20000) != 0 || atomic_load(&rec.ok) != GAP_NB)
        _exit(3);
    if (atomic_load(&st->committed_seq) != GAP_NB + GAP)
        _exit(4);
    kill(getpid(), SIGKILL);
    _exit(4);
}

static void test_replay_over_gap(void)
{
    char *dir = tmpdir_make();
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0)
        child_ingest_gap(dir);
    int status = 0;
    waitpid(pid, &status, 0);
    CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    fflush(NULL);
    pid = fork();
    if (pid == 0)
        _exit(verify_child(dir, 3600 * 1000, GAP_NB, GAP_PER));
    waitpid(pid, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        fprintf(stderr, "gap verify status=%#x\n", status);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    tmpdir_remove(dir);
}

int main(void)
{
    RUN(test_kill_mid_ingest);
    RUN(test_replay_no_checkpoint);
    RUN(test_replay_with_checkpoints);
    RUN(test_replay_decode_failure_kept);
    RUN(test_replay_over_gap);
    return TEST_DONE();
}
