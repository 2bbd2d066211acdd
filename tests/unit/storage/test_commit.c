/*
 * test_commit.c - the write path end to end: submit -> done callback -> read
 * back (read-your-writes), duplicate batches (callback says duplicate,
 * samples not doubled, also after reopen), data surviving close/open, and
 * readers running concurrently with commits, chunk cuts and checkpoints.
 * Checkpoints while a shard always has work queued. Crash replay is in
 * test_replay.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "storage/storage_internal.h"
#include "storage_test_util.h"
#include "test.h"

static void test_submit_read(void)
{
    char *dir = tmpdir_make();
    storage *st = open_cfg(dir, 60000, 8);
    CHECK(st != NULL);
    if (!st)
        return;
    done_rec rec = {0};
    for (int k = 0; k < 20; k++)
        CHECK(storage_submit(st, batch_k("acme", k, 5), done_cb, &rec) == SONDE_OK);
    CHECK(done_wait(&rec, 20, 10000) == 0);
    CHECK_EQ_INT(atomic_load(&rec.ok), 20);
    CHECK_EQ_INT(atomic_load(&rec.dup), 0);
    CHECK(verify(st, "acme", 100)); /* no sleep: reads wait for the shards */
    CHECK(verify(st, "other", 0) == 0);

    /* duplicates: resubmitting identical content, also twice in one go */
    done_rec d2 = {0};
    CHECK(storage_submit(st, batch_k("acme", 3, 5), done_cb, &d2) == SONDE_OK);
    CHECK(storage_submit(st, batch_k("acme", 20, 5), done_cb, &d2) == SONDE_OK);
    CHECK(storage_submit(st, batch_k("acme", 20, 5), done_cb, &d2) == SONDE_OK);
    CHECK(done_wait(&d2, 3, 10000) == 0);
    CHECK_EQ_INT(atomic_load(&d2.ok), 3);
    CHECK_EQ_INT(atomic_load(&d2.dup), 2);
    CHECK(verify(st, "acme", 105));
    /* same content for another tenant is not a duplicate */
    done_rec d3 = {0};
    CHECK(storage_submit(st, batch_k("beta", 0, 5), done_cb, &d3) == SONDE_OK);
    CHECK(done_wait(&d3, 1, 10000) == 0);
    CHECK_EQ_INT(atomic_load(&d3.dup), 0);
    CHECK(verify(st, "beta", 5));

    buf mb;
    buf_init(&mb, 1 << 20);
    storage_metrics_write(st, &mb);
    CHECK(mb.len > 0 && strstr(mb.data, "sonde_storage_batches_committed_total 22\n"));
    CHECK(mb.len > 0 && strstr(mb.data, "sonde_storage_batches_duplicate_total 2\n"));
    CHECK(mb.len > 0 && strstr(mb.data, "sonde_storage_commit_latency_seconds_count 24\n"));
    CHECK(mb.len > 0 && strstr(mb.data, "sonde_storage_rocksdb_sst_bytes"));
    buf_fini(&mb);
    storage_close(st);

    /* reopen: data and the dedup window survive */
    st = open_cfg(dir, 60000, 8);
    CHECK(st != NULL);
    if (st) {
        CHECK(ready_wait(st, 5000) == 0);
        CHECK(verify(st, "acme", 105));
        done_rec d4 = {0};
        CHECK(storage_submit(st, batch_k("acme", 7, 5), done_cb, &d4) == SONDE_OK);
        CHECK(storage_submit(st, batch_k("acme", 21, 5), done_cb, &d4) == SONDE_OK);
        CHECK(done_wait(&d4, 2, 10000) == 0);
        CHECK_EQ_INT(atomic_load(&d4.dup), 1);
        CHECK(verify(st, "acme", 110));
        storage_close(st);
    }
    tmpdir_remove(dir);
}

/* Readers run while batches commit, chunks are cut and checkpoints run:
 * every read must be a consistent prefix (ascending, gap-free, growing). */
typedef struct reader_ctx {
    storage *st;
    _Atomic bool stop;
    _Atomic int bad;
    _Atomic int reads;
} reader_ctx;

static void *reader_main(void *arg)
{
    reader_ctx *rc = arg;
    size_t last[NSER] = {0};
    arena *a = arena_create(1 << 16, 0);
    while (!atomic_load(&rc->stop)) {
        arena_reset(a);
        storage_matcher m = {"job", 3, STORAGE_MATCH_EQ, "j", 1, NULL, NULL};
        storage_series_ref *r;
        size_t n;
        if (storage_select(rc->st, "acme", &m, 1, INT64_MIN, INT64_MAX, a, &r, &n) != SONDE_OK) {
            rc->bad++;
            continue;
        }
        for (size_t i = 0; i < n; i++) {
            const sonde_label *l = series_labels_get(r[i].labels, r[i].nlabels, "instance", 8);
            int idx = l[0].value[1] - '0';
            sonde_sample *smp;
            size_t ns;
            if (storage_read_samples(rc->st, "acme", r[i].id, INT64_MIN, INT64_MAX, a, &smp, &ns) !=
                    SONDE_OK ||
                ns < last[idx])
                rc->bad++;
            for (size_t j = 0; j < ns; j++)
                if (smp[j].ts_ms != (int64_t)j * 1000 || smp[j].value != (double)j + idx * 0.5) {
                    rc->bad++;
                    break;
                }
            last[idx] = ns;
        }
        rc->reads++;
    }
    arena_destroy(a);
    return NULL;
}

static void test_concurrent_reads(void)
{
    char *dir = tmpdir_make();
    storage *st = open_cfg(dir, 3, 5);
    CHECK(st != NULL);
    if (!st)
        return;
    reader_ctx rc = {.st = st};
    pthread_t th[2];
    for (int i = 0; i < 2; i++)
        pthread_create(&th[i], NULL, reader_main, &rc);
    done_rec rec = {0};
    for (int k = 0; k < 300; k++) {
        while (storage_submit(st, batch_k("acme", k, 3), done_cb, &rec) != SONDE_OK)
            usleep(500);
        if (k % 20 == 0)
            usleep(1000);
    }
    CHECK(done_wait(&rec, 300, 20000) == 0);
    atomic_store(&rc.stop, true);
    for (int i = 0; i < 2; i++)
        pthread_join(th[i], NULL);
    CHECK_EQ_INT(rc.bad, 0);
    CHECK(rc.reads > 0);
    CHECK(verify(st, "acme", 900));
    storage_close(st);
    tmpdir_remove(dir);
}

static void test_dedup_window_expiry(void)
{
    char *dir = tmpdir_make();
    storage_config c = config_make(dir);
    c.dedup_window_ms = 200;
    storage *st = NULL;
    char err[256];
    CHECK(storage_open(&c, &st, err, sizeof err) == SONDE_OK);
    if (!st)
        return;
    done_rec r1 = {0};
    CHECK(storage_submit(st, batch_k("acme", 0, 4), done_cb, &r1) == SONDE_OK);
    CHECK(storage_submit(st, batch_k("acme", 0, 4), done_cb, &r1) == SONDE_OK);
    CHECK(done_wait(&r1, 2, 10000) == 0);
    CHECK_EQ_INT(atomic_load(&r1.dup), 1);
    usleep(600 * 1000); /* past the window and at least one expiry round */
    done_rec r2 = {0};
    CHECK(storage_submit(st, batch_k("acme", 0, 4), done_cb, &r2) == SONDE_OK);
    CHECK(done_wait(&r2, 1, 10000) == 0);
    CHECK_EQ_INT(atomic_load(&r2.dup), 0); /* forgotten: committed again ... */
    CHECK(verify(st, "acme", 4));          /* ... but its samples are duplicates */
    buf mb;
    buf_init(&mb, 1 << 20);
    storage_metrics_write(st, &mb);
    /* Prometheus' rules: only the last timestamp counts as a duplicate */
    CHECK(mb.len > 0 && strstr(mb.data, "{reason=\"duplicate\"} 3\n"));
    CHECK(mb.len > 0 && strstr(mb.data, "{reason=\"out_of_order\"} 9\n"));
    buf_fini(&mb);
    storage_close(st);
    tmpdir_remove(dir);
}

/* The first done callback blocks the committer, so the ring fills up. */
static _Atomic bool gate_open;

static void gate_cb(void *ctx, sonde_status st, bool duplicate)
{
    while (!atomic_load(&gate_open))
        usleep(1000);
    done_cb(ctx, st, duplicate);
}

/* ---- storage_batch_set_release ---- */

static void rel_cb(void *ctx)
{
    atomic_fetch_add((_Atomic int *)ctx, 1);
}

static int rel_wait(_Atomic int *c, int want, int timeout_ms)
{
    for (int i = 0; i < timeout_ms; i++) {
        if (atomic_load(c) >= want)
            return 0;
        usleep(1000);
    }
    return -1;
}

static storage_batch *batch_rel(const char *tenant, int k, int per, _Atomic int *counter)
{
    storage_batch *b = batch_k(tenant, k, per);
    storage_batch_set_release(b, rel_cb, counter);
    return b;
}

/* The hook runs exactly once: after the shards applied a committed batch (not
 * at its done callback), right after the done callback for a duplicate, for a
 * batch never submitted, and for batches still queued at close. */
static void test_release_hook(void)
{
    _Atomic int never = 0;
    storage_batch_destroy(batch_rel("acme", 0, 1, &never));
    CHECK_EQ_INT(atomic_load(&never), 1);

    char *dir = tmpdir_make();
    storage *st = open_cfg(dir, 60000, 8);
    CHECK(st != NULL);
    if (!st)
        return;
    CHECK(ready_wait(st, 5000) == 0);
    _Atomic int rel[3] = {0, 0, 0};
    done_rec rec = {0};
    for (unsigned i = 0; i < st->nshards; i++)
        pthread_rwlock_rdlock(&st->shards[i].lock); /* hold the shards */
    CHECK(storage_submit(st, batch_rel("acme", 0, 5, &rel[0]), done_cb, &rec) == SONDE_OK);
    CHECK(storage_submit(st, batch_rel("acme", 0, 5, &rel[1]), done_cb, &rec) == SONDE_OK);
    CHECK(done_wait(&rec, 2, 10000) == 0);
    CHECK_EQ_INT(atomic_load(&rec.ok), 2);
    CHECK_EQ_INT(atomic_load(&rec.dup), 1);
    CHECK(rel_wait(&rel[1], 1, 5000) == 0); /* the duplicate: gone at once */
    usleep(50 * 1000);
    CHECK_EQ_INT(atomic_load(&rel[0]), 0); /* durable, but still queued for the shards */
    for (unsigned i = 0; i < st->nshards; i++)
        pthread_rwlock_unlock(&st->shards[i].lock);
    CHECK(rel_wait(&rel[0], 1, 5000) == 0);
    CHECK(verify(st, "acme", 5));
    /* submitted just before close: applied or dropped, released either way */
    CHECK(storage_submit(st, batch_rel("acme", 1, 5, &rel[2]), done_cb, &rec) == SONDE_OK);
    storage_close(st);
    for (int i = 0; i < 3; i++)
        CHECK_EQ_INT(atomic_load(&rel[i]), 1);
    CHECK_EQ_INT(atomic_load(&rec.calls), 3);
    tmpdir_remove(dir);
}

static void test_overload(void)
{
    char *dir = tmpdir_make();
    storage_config c = config_make(dir);
    c.commit_queue = 4;
    storage *st = NULL;
    char err[256];
    CHECK(storage_open(&c, &st, err, sizeof err) == SONDE_OK);
    if (!st)
        return;
    CHECK(ready_wait(st, 5000) == 0);
    atomic_store(&gate_open, false);
    done_rec rec = {0};
    _Atomic int released = 0;
    CHECK(storage_submit(st, batch_rel("acme", 0, 1, &released), gate_cb, &rec) == SONDE_OK);
    int accepted = 1, overload = 0;
    for (int k = 1; k < 64 && !overload; k++) {
        sonde_status s = storage_submit(st, batch_rel("acme", k, 1, &released), done_cb, &rec);
        if (s == SONDE_OK)
            accepted++;
        else if (s == SONDE_ERR_OVERLOAD) {
            overload++;
            /* the refused batch was destroyed inside storage_submit, and
             * nothing else was freed: the committer is held in batch 0's callback */
            CHECK_EQ_INT(atomic_load(&released), 1);
        }
        if (accepted == 2)
            usleep(50 * 1000); /* let the committer take batch 0 and block */
    }
    CHECK_EQ_INT(overload, 1);
    CHECK(accepted <= 6);
    atomic_store(&gate_open, true);
    CHECK(done_wait(&rec, accepted, 10000) == 0);
    usleep(20 * 1000);
    CHECK_EQ_INT(atomic_load(&rec.calls), accepted); /* none for the refused batch */
    storage_close(st);
    CHECK_EQ_INT(atomic_load(&released), accepted + overload);
    tmpdir_remove(dir);
}


/* A shard with a backlog still checkpoints between batches. The shards are
 * held (read locks) while a backlog of N batches queues up past the
 * checkpoint interval; ckpt_mu is held so that a shard stops at its first
 * checkpoint after release: that checkpoint must be below N, i.e. taken while
 * the shard's ring was not empty. */
static void test_checkpoint_while_busy(void)
{
    enum { N = 200, PER = 2 };
    char *dir = tmpdir_make();
    storage *st = open_cfg(dir, 20, 7);
    CHECK(st != NULL);
    if (!st)
        return;
    CHECK(ready_wait(st, 5000) == 0);
    for (unsigned i = 0; i < st->nshards; i++)
        pthread_rwlock_rdlock(&st->shards[i].lock);
    done_rec rec = {0};
    for (int k = 0; k < N; k++)
        CHECK(storage_submit(st, batch_k("acme", k, PER), done_cb, &rec) == SONDE_OK);
    CHECK(done_wait(&rec, N, 10000) == 0);
    CHECK_EQ_INT(atomic_load(&rec.ok), N);
    /* every batch queued in every shard ring (one may be popped, waiting on the lock) */
    for (int w = 0; w < 5000; w++) {
        bool all = true;
        for (unsigned i = 0; i < st->nshards; i++)
            all = all && ring_mpsc_size(st->shards[i].ring) >= N - 1;
        if (all)
            break;
        usleep(1000);
    }
    pthread_mutex_lock(&st->ckpt_mu);
    usleep(60 * 1000); /* > checkpoint interval: due at the first batch */
    uint64_t before[16];
    for (unsigned i = 0; i < st->nshards && i < 16; i++)
        before[i] = atomic_load(&st->shards[i].ckpt_seq);
    for (unsigned i = 0; i < st->nshards; i++)
        pthread_rwlock_unlock(&st->shards[i].lock);
    /* each shard checkpoints (ckpt_seq moves) and then blocks on ckpt_mu */
    for (unsigned i = 0; i < st->nshards && i < 16; i++) {
        int w = 0;
        while (atomic_load(&st->shards[i].ckpt_seq) == before[i] && w++ < 5000)
            usleep(1000);
        uint64_t c = atomic_load(&st->shards[i].ckpt_seq);
        CHECK(c > before[i]);
        CHECK(c < N); /* taken with a backlog, not after draining it */
        CHECK(atomic_load(&st->shards[i].applied_seq) < N);
    }
    pthread_mutex_unlock(&st->ckpt_mu);
    /* then the backlog drains and the global checkpoint reaches the end */
    for (int w = 0; w < 5000 && atomic_load(&st->ckpt_global_pub) < N; w++)
        usleep(1000);
    CHECK_EQ_INT(atomic_load(&st->ckpt_global_pub), N);
    CHECK(verify(st, "acme", N * PER));
    storage_close(st);
    tmpdir_remove(dir);
}

int main(void)
{
    RUN(test_overload);
    RUN(test_release_hook);
    RUN(test_dedup_window_expiry);
    RUN(test_concurrent_reads);
    RUN(test_submit_read);
    RUN(test_checkpoint_while_busy);
    return TEST_DONE();
}
