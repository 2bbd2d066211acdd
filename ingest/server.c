/*
 * server.c - net threads: one io_uring per thread, with its own SO_REUSEPORT
 * listening socket per address, multishot accept, multishot recv from a
 * provided-buffer ring, a 1 s timer for connection deadlines, and an eventfd
 * read that wakes the thread when async requests (writes, queries) come back
 * through its completion ring.
 *
 * Design: completions are drained in one batch and the CQ is advanced once.
 * Connection slots carry generations (see net.h). Received bytes are copied
 * out of the provided buffer at once and the buffer goes straight back to
 * the ring, so a slow consumer never starves the others of buffers.
 *
 * Threads: ingest_net_main runs on "ingest-net-N"; ingest_net_complete on
 * any thread (storage committer, query workers); the rest on main.
 */
#include "ingest/server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"
#include "core/timeutil.h"
#include "ingest/net.h"

#define NET_RING_ENTRIES 2048
#define NET_BGID 7
#define NET_NBUFS 512 /* power of two */
#define NET_BUFSZ (16 * 1024)
#define NET_SLOTS 16384
#define NET_DONE_CAP 8192
#define NET_DRAIN_MS 10000

struct ingest_server {
    ingest_ctx *ctx;
    ingest_net **nets;
    unsigned nnets;
};

static int64_t net_now_ms(void)
{
    return time_mono_ns() / 1000000;
}

/* ---- helpers for conn.c / http2.c ---- */

struct io_uring_sqe *ingest_net_sqe(ingest_net *n)
{
    struct io_uring_sqe *sqe = io_uring_get_sqe(&n->ring);
    while (!sqe) {
        io_uring_submit(&n->ring);
        sqe = io_uring_get_sqe(&n->ring);
    }
    return sqe;
}

void ingest_net_arm_recv(ingest_net *n, ingest_conn *c)
{
    if (c->recv_armed || c->state == CONN_CLOSING)
        return;
    struct io_uring_sqe *sqe = ingest_net_sqe(n);
    io_uring_prep_recv_multishot(sqe, c->fd, NULL, 0, 0);
    sqe->flags |= IOSQE_BUFFER_SELECT;
    sqe->buf_group = NET_BGID;
    io_uring_sqe_set_data64(sqe, ingest_ud(INGEST_OP_RECV, c->slot, c->gen));
    c->recv_armed = true;
}

void ingest_net_cancel(ingest_net *n, uint64_t ud)
{
    struct io_uring_sqe *sqe = ingest_net_sqe(n);
    io_uring_prep_cancel64(sqe, ud, 0);
    io_uring_sqe_set_data64(sqe, ingest_ud(INGEST_OP_CANCEL, 0, 0));
}

static void net_release(ingest_net *n, ingest_conn *c)
{
    uint32_t slot = c->slot;
    ingest_conn_destroy(c);
    n->conns[slot] = NULL;
    n->gens[slot]++;
    n->free_slots[n->nfree++] = slot;
    atomic_fetch_sub(&n->open, 1);
}

void ingest_net_reap(ingest_net *n, ingest_conn *c)
{
    if (c->reap_queued)
        return;
    c->reap_queued = true;
    n->reap[n->nreap++] = c->slot;
}

static void net_reap_run(ingest_net *n)
{
    for (uint32_t i = 0; i < n->nreap; i++) {
        ingest_conn *c = n->conns[n->reap[i]];
        if (!c)
            continue;
        c->reap_queued = false;
        if (c->state == CONN_CLOSING && !c->recv_armed && !c->send_inflight)
            net_release(n, c);
    }
    n->nreap = 0;
}

const char *ingest_net_date(ingest_net *n)
{
    time_t now = time(NULL);
    if (now != n->date_sec) {
        struct tm tm;
        gmtime_r(&now, &tm);
        strftime(n->date, sizeof n->date, "%a, %d %b %Y %H:%M:%S GMT", &tm);
        n->date_sec = now;
    }
    return n->date;
}

/* ---- completions from other threads ---- */

bool ingest_net_reserve(ingest_net *n)
{
    size_t cur = atomic_load(&n->inflight);
    do {
        if (cur >= n->done_cap)
            return false;
    } while (!atomic_compare_exchange_weak(&n->inflight, &cur, cur + 1));
    return true;
}

void ingest_net_unreserve(ingest_net *n)
{
    atomic_fetch_sub(&n->inflight, 1);
}

void ingest_net_complete(ingest_req *r)
{
    ingest_net *n = r->net;
    /* cannot fail: ingest_net_reserve() counted this request against done_cap */
    while (!ring_mpsc_push(n->done, r))
        sched_yield();
    if (!atomic_exchange(&n->wake_pending, true)) {
        uint64_t one = 1;
        ssize_t w = write(n->efd, &one, sizeof one);
        (void)w;
    }
}

size_t ingest_net_queue_length(ingest_net *n)
{
    return atomic_load(&n->inflight);
}

size_t ingest_net_open_conns(ingest_net *n)
{
    return atomic_load(&n->open);
}

static void net_drain_completions(ingest_net *n)
{
    atomic_store(&n->wake_pending, false);
    ingest_req *r;
    while ((r = ring_mpsc_pop(n->done)) != NULL) {
        atomic_fetch_sub(&n->inflight, 1);
        ingest_router_finish(n->ctx, r);
        ingest_conn *c = r->slot < n->nslots ? n->conns[r->slot] : NULL;
        if (!c || c->gen != r->gen || c->state == CONN_CLOSING) {
            if (!r->tail_poll) /* a tail's periodic poll is no HTTP request */
                ingest_router_account(n->ctx, r);
            ingest_ws_job_destroy(r->tail); /* a Loki tail's state (ws.c); NULL: no-op */
            ingest_req_destroy(r); /* the client went away */
            continue;
        }
        ingest_conn_deliver(c, r);
    }
}

/* ---- arming ---- */

static void net_arm_accept(ingest_net *n, unsigned i)
{
    if (n->accept_armed[i] || n->draining || n->lfd[i] < 0)
        return;
    struct io_uring_sqe *sqe = ingest_net_sqe(n);
    io_uring_prep_multishot_accept(sqe, n->lfd[i], NULL, NULL, SOCK_CLOEXEC);
    io_uring_sqe_set_data64(sqe, ingest_ud(INGEST_OP_ACCEPT, i, 0));
    n->accept_armed[i] = true;
}

static void net_arm_timer(ingest_net *n)
{
    struct io_uring_sqe *sqe = ingest_net_sqe(n);
    io_uring_prep_timeout(sqe, &n->tick, 0, 0);
    io_uring_sqe_set_data64(sqe, ingest_ud(INGEST_OP_TIMER, 0, 0));
}

static void net_arm_eventfd(ingest_net *n)
{
    struct io_uring_sqe *sqe = ingest_net_sqe(n);
    io_uring_prep_read(sqe, n->efd, &n->efd_buf, sizeof n->efd_buf, 0);
    io_uring_sqe_set_data64(sqe, ingest_ud(INGEST_OP_EVENTFD, 0, 0));
}

/* ---- completion handlers ---- */

static void net_on_accept(ingest_net *n, struct io_uring_cqe *cqe)
{
    unsigned li = ingest_ud_slot(cqe->user_data);
    if (!(cqe->flags & IORING_CQE_F_MORE) && li < INGEST_MAX_LISTEN)
        n->accept_armed[li] = false; /* re-armed by the next tick (EMFILE back-off) */
    if (cqe->res < 0) {
        if (cqe->res != -ECANCELED)
            log_warn("ingest.accept_failed", "thread=%u error=\"%s\"", n->idx, strerror(-cqe->res));
        return;
    }
    int fd = cqe->res;
    if (n->draining || n->nfree == 0) {
        close(fd); /* shutting down, or over the connection limit */
        return;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    uint32_t slot = n->free_slots[--n->nfree];
    ingest_conn *c = ingest_conn_create(n, fd, slot, n->gens[slot]);
    if (!c) {
        n->free_slots[n->nfree++] = slot;
        close(fd);
        return;
    }
    n->conns[slot] = c;
    atomic_fetch_add(&n->open, 1);
    ingest_net_arm_recv(n, c);
}

static void net_recycle(ingest_net *n, unsigned bid)
{
    io_uring_buf_ring_add(n->br, n->bufs + (size_t)bid * n->bufsz, n->bufsz, (unsigned short)bid,
                          io_uring_buf_ring_mask(n->nbufs), 0);
    io_uring_buf_ring_advance(n->br, 1);
}

static void net_on_recv(ingest_net *n, struct io_uring_cqe *cqe, ingest_conn *c)
{
    bool has_buf = cqe->flags & IORING_CQE_F_BUFFER;
    unsigned bid = cqe->flags >> IORING_CQE_BUFFER_SHIFT;
    if (c && !(cqe->flags & IORING_CQE_F_MORE))
        c->recv_armed = false;
    if (c && c->state != CONN_CLOSING) {
        if (cqe->res > 0 && has_buf)
            ingest_conn_on_data(c, n->bufs + (size_t)bid * n->bufsz, (size_t)cqe->res);
        else if (cqe->res == 0)
            ingest_conn_on_eof(c);
        else if (cqe->res == -ENOBUFS)
            ; /* all buffers were in use this batch; re-armed below */
        else if (cqe->res < 0 && cqe->res != -ECANCELED)
            ingest_conn_close(c);
        if (c->state != CONN_CLOSING && !c->recv_armed && !c->recv_paused)
            ingest_net_arm_recv(n, c);
    }
    if (has_buf)
        net_recycle(n, bid);
    if (c && c->state == CONN_CLOSING)
        ingest_net_reap(n, c);
}

static void net_on_timer(ingest_net *n)
{
    for (unsigned i = 0; i < n->nlfd; i++)
        net_arm_accept(n, i);
    for (uint32_t s = 0; s < n->nslots; s++) {
        ingest_conn *c = n->conns[s];
        if (c)
            ingest_conn_tick(c);
    }
    net_arm_timer(n);
}

static void net_start_drain(ingest_net *n)
{
    n->draining = true;
    n->drain_deadline_ms = n->now_ms + NET_DRAIN_MS;
    for (unsigned i = 0; i < n->nlfd; i++) {
        if (n->accept_armed[i])
            ingest_net_cancel(n, ingest_ud(INGEST_OP_ACCEPT, i, 0));
        close(n->lfd[i]);
        n->lfd[i] = -1;
    }
    for (uint32_t s = 0; s < n->nslots; s++)
        if (n->conns[s])
            ingest_conn_drain(n->conns[s]);
}

static void net_dispatch(ingest_net *n, struct io_uring_cqe *cqe)
{
    uint64_t ud = cqe->user_data;
    uint32_t slot = ingest_ud_slot(ud);
    ingest_conn *c = NULL;
    switch (ingest_ud_op(ud)) {
    case INGEST_OP_ACCEPT:
        net_on_accept(n, cqe);
        break;
    case INGEST_OP_RECV:
        if (slot < n->nslots && n->conns[slot] && n->conns[slot]->gen == ingest_ud_gen(ud))
            c = n->conns[slot];
        net_on_recv(n, cqe, c);
        break;
    case INGEST_OP_SEND:
        if (slot < n->nslots && n->conns[slot] && n->conns[slot]->gen == ingest_ud_gen(ud))
            ingest_conn_on_sent(n->conns[slot], cqe->res);
        break;
    case INGEST_OP_TIMER:
        net_on_timer(n);
        break;
    case INGEST_OP_EVENTFD:
        net_drain_completions(n);
        net_arm_eventfd(n);
        break;
    case INGEST_OP_CANCEL:
        break;
    }
}

static void *ingest_net_main(void *arg)
{
    ingest_net *n = arg;
    n->now_ms = net_now_ms();
    for (unsigned i = 0; i < n->nlfd; i++)
        net_arm_accept(n, i);
    net_arm_timer(n);
    net_arm_eventfd(n);
    for (;;) {
        int rc = io_uring_submit_and_wait(&n->ring, 1);
        if (rc < 0 && rc != -EINTR && rc != -EAGAIN && rc != -EBUSY) {
            log_error("ingest.uring_failed", "thread=%u error=\"%s\"", n->idx, strerror(-rc));
            break;
        }
        n->now_ms = net_now_ms();
        unsigned head, count = 0;
        struct io_uring_cqe *cqe;
        io_uring_for_each_cqe(&n->ring, head, cqe)
        {
            net_dispatch(n, cqe);
            count++;
        }
        io_uring_cq_advance(&n->ring, count);
        net_reap_run(n);
        if (atomic_load(&n->stop) && !n->draining)
            net_start_drain(n);
        if (n->draining) {
            if (atomic_load(&n->open) == 0)
                break;
            if (n->now_ms > n->drain_deadline_ms) {
                log_warn("ingest.drain_timeout", "thread=%u open=%zu", n->idx,
                         atomic_load(&n->open));
                break;
            }
        }
    }
    return NULL;
}

/* ---- setup ---- */

/* SO_REUSEPORT would let a second sonde (same user) bind the same port and
 * silently take half of its connections. Before the threads bind their
 * SO_REUSEPORT group, one plain bind must succeed: it fails with EADDRINUSE
 * while anyone listens there. (A process starting in the instant between
 * this probe and the group's binds is not caught.) */
static int net_listen_probe(const ingest_listen_addr *a, char *err, size_t errlen)
{
    int fd = socket(a->ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        snprintf(err, errlen, "socket for %s: %s", a->text, strerror(errno));
        return -errno;
    }
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one); /* TIME_WAIT is fine */
    if (a->ss.ss_family == AF_INET6)
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
    int rc = 0;
    if (bind(fd, (const struct sockaddr *)&a->ss, a->len) != 0) {
        rc = -errno;
        snprintf(err, errlen, "cannot listen on %s: %s", a->text, strerror(errno));
    }
    close(fd);
    return rc;
}

static int net_listen_socket(const ingest_listen_addr *a, char *err, size_t errlen)
{
    int fd = socket(a->ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        snprintf(err, errlen, "socket for %s: %s", a->text, strerror(errno));
        return -errno;
    }
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
    if (a->ss.ss_family == AF_INET6)
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
    if (bind(fd, (const struct sockaddr *)&a->ss, a->len) != 0 || listen(fd, 4096) != 0) {
        int e = errno;
        snprintf(err, errlen, "cannot listen on %s: %s", a->text, strerror(e));
        close(fd);
        return -e;
    }
    return fd;
}

static void net_destroy(ingest_net *n)
{
    if (!n)
        return;
    /* exit the ring first: it waits for operations that still point into
     * connection buffers */
    if (n->ring.ring_fd > 0)
        io_uring_queue_exit(&n->ring);
    if (n->conns) {
        for (uint32_t s = 0; s < n->nslots; s++)
            if (n->conns[s])
                ingest_conn_destroy(n->conns[s]);
    }
    for (unsigned i = 0; i < n->nlfd; i++)
        if (n->lfd[i] >= 0)
            close(n->lfd[i]);
    if (n->done) {
        ingest_req *r;
        while ((r = ring_mpsc_pop(n->done)) != NULL) {
            ingest_ws_job_destroy(r->tail); /* a Loki tail's state (ws.c) */
            ingest_req_destroy(r);
        }
        ring_mpsc_destroy(n->done);
    }
    if (n->efd >= 0)
        close(n->efd);
    if (n->br)
        munmap(n->br, n->br_size);
    free(n->bufs);
    free(n->conns);
    free(n->gens);
    free(n->free_slots);
    free(n->reap);
    free(n);
}

static ingest_net *net_create(ingest_ctx *ctx, unsigned idx, char *err, size_t errlen)
{
    ingest_net *n = calloc(1, sizeof *n);
    if (!n)
        goto nomem;
    n->idx = idx;
    n->ctx = ctx;
    n->efd = -1;
    n->ring.ring_fd = -1;
    for (unsigned i = 0; i < INGEST_MAX_LISTEN; i++)
        n->lfd[i] = -1;
    n->tick.tv_sec = 1;
    n->nslots = NET_SLOTS;
    n->conns = calloc(n->nslots, sizeof *n->conns);
    n->gens = calloc(n->nslots, sizeof *n->gens);
    n->free_slots = calloc(n->nslots, sizeof *n->free_slots);
    n->reap = calloc(n->nslots, sizeof *n->reap);
    n->done_cap = NET_DONE_CAP;
    n->done = ring_mpsc_create(n->done_cap);
    n->nbufs = NET_NBUFS;
    n->bufsz = NET_BUFSZ;
    n->bufs = malloc((size_t)n->nbufs * n->bufsz);
    if (!n->conns || !n->gens || !n->free_slots || !n->reap || !n->done || !n->bufs)
        goto nomem;
    for (uint32_t s = 0; s < n->nslots; s++)
        n->free_slots[s] = n->nslots - 1 - s;
    n->nfree = n->nslots;
    ingest_h1_limits_defaults(&n->h1lim);
    n->h1lim.max_header_bytes = ctx->cfg->max_header_size;
    n->h1lim.max_body_bytes = ctx->cfg->max_body_size;

    n->efd = eventfd(0, EFD_CLOEXEC);
    if (n->efd < 0) {
        snprintf(err, errlen, "eventfd: %s", strerror(errno));
        goto fail;
    }
    int rc = io_uring_queue_init(NET_RING_ENTRIES, &n->ring, 0);
    if (rc < 0) {
        n->ring.ring_fd = -1;
        snprintf(err, errlen, "io_uring_queue_init: %s", strerror(-rc));
        goto fail;
    }
    /* liburing 2.3 has no io_uring_setup_buf_ring: map the ring ourselves */
    n->br_size = (size_t)n->nbufs * sizeof(struct io_uring_buf);
    void *mem = mmap(NULL, n->br_size, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
    if (mem == MAP_FAILED)
        goto nomem;
    n->br = mem;
    struct io_uring_buf_reg reg = {
        .ring_addr = (unsigned long)mem, .ring_entries = n->nbufs, .bgid = NET_BGID};
    rc = io_uring_register_buf_ring(&n->ring, &reg, 0);
    if (rc < 0) {
        snprintf(err, errlen, "io_uring_register_buf_ring: %s", strerror(-rc));
        goto fail;
    }
    io_uring_buf_ring_init(n->br);
    for (unsigned i = 0; i < n->nbufs; i++)
        io_uring_buf_ring_add(n->br, n->bufs + (size_t)i * n->bufsz, n->bufsz, (unsigned short)i,
                              io_uring_buf_ring_mask(n->nbufs), (int)i);
    io_uring_buf_ring_advance(n->br, n->nbufs);
    return n;
nomem:
    snprintf(err, errlen, "out of memory for net thread %u", idx);
fail:
    net_destroy(n);
    return NULL;
}

int ingest_server_start(ingest_ctx *ctx, ingest_server **out, char *err, size_t errlen)
{
    const ingest_config *cfg = ctx->cfg;
    ingest_server *s = calloc(1, sizeof *s);
    ingest_listen_addr addrs[INGEST_MAX_LISTEN];
    int rc = -ENOMEM;
    if (!s) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    s->ctx = ctx;
    s->nets = calloc(cfg->net_threads, sizeof *s->nets);
    if (!s->nets) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    memcpy(addrs, cfg->listen, sizeof addrs);
    for (unsigned t = 0; t < cfg->net_threads; t++) {
        ingest_net *n = net_create(ctx, t, err, errlen);
        if (!n) {
            rc = -ENOMEM;
            goto fail;
        }
        s->nets[s->nnets++] = n;
        for (size_t i = 0; i < cfg->nlisten; i++) {
            bool port0 = addrs[i].ss.ss_family == AF_INET6
                             ? ((struct sockaddr_in6 *)&addrs[i].ss)->sin6_port == 0
                             : ((struct sockaddr_in *)&addrs[i].ss)->sin_port == 0;
            if (t == 0 && !port0 && (rc = net_listen_probe(&addrs[i], err, errlen)) != 0)
                goto fail;
            int fd = net_listen_socket(&addrs[i], err, errlen);
            if (fd < 0) {
                rc = fd;
                goto fail;
            }
            n->lfd[n->nlfd++] = fd;
            if (t > 0)
                continue;
            /* learn the real port (port 0) so every thread binds the same one */
            struct sockaddr_storage ss;
            socklen_t sl = sizeof ss;
            getsockname(fd, (struct sockaddr *)&ss, &sl);
            char host[INET6_ADDRSTRLEN] = "";
            unsigned port;
            if (ss.ss_family == AF_INET6) {
                struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&ss;
                inet_ntop(AF_INET6, &a6->sin6_addr, host, sizeof host);
                port = ntohs(a6->sin6_port);
                ((struct sockaddr_in6 *)&addrs[i].ss)->sin6_port = a6->sin6_port;
                snprintf(addrs[i].text, sizeof addrs[i].text, "[%s]:%u", host, port);
            } else {
                struct sockaddr_in *a4 = (struct sockaddr_in *)&ss;
                inet_ntop(AF_INET, &a4->sin_addr, host, sizeof host);
                port = ntohs(a4->sin_port);
                ((struct sockaddr_in *)&addrs[i].ss)->sin_port = a4->sin_port;
                snprintf(addrs[i].text, sizeof addrs[i].text, "%s:%u", host, port);
            }
            log_info("ingest.listen", "addr=%s requested=%s threads=%u", addrs[i].text,
                     cfg->listen[i].text, cfg->net_threads);
        }
    }
    ctx->nets = s->nets;
    ctx->nnets = s->nnets;
    for (unsigned t = 0; t < s->nnets; t++) {
        ingest_net *n = s->nets[t];
        if (pthread_create(&n->th, NULL, ingest_net_main, n) != 0) {
            snprintf(err, errlen, "cannot start net thread %u", t);
            rc = -EAGAIN;
            ingest_server_stop(s);
            goto fail;
        }
        n->started = true;
        char name[32];
        snprintf(name, sizeof name, "ingest-net-%u", t % 1000);
        name[15] = '\0';
        pthread_setname_np(n->th, name);
    }
    *out = s;
    return 0;
fail:
    ctx->nets = NULL;
    ctx->nnets = 0;
    ingest_server_destroy(s);
    return rc;
}

void ingest_server_stop(ingest_server *s)
{
    if (!s)
        return;
    for (unsigned t = 0; t < s->nnets; t++) {
        ingest_net *n = s->nets[t];
        if (!n->started)
            continue;
        atomic_store(&n->stop, true);
        uint64_t one = 1;
        ssize_t w = write(n->efd, &one, sizeof one);
        (void)w;
    }
    for (unsigned t = 0; t < s->nnets; t++) {
        ingest_net *n = s->nets[t];
        if (!n->started)
            continue;
        pthread_join(n->th, NULL);
        n->started = false;
    }
}

void ingest_server_destroy(ingest_server *s)
{
    if (!s)
        return;
    ingest_server_stop(s);
    for (unsigned t = 0; t < s->nnets; t++)
        net_destroy(s->nets[t]);
    free(s->nets);
    free(s);
}
