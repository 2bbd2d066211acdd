/*
 * net.h - private to ingest/: the net thread (one io_uring each), the
 * connection object and its explicit state machine, and the HTTP/2 glue that
 * conn.c drives.
 *
 * Connection states:
 *   CONN_PREFACE  first bytes: the 24-byte HTTP/2 client preface -> CONN_H2,
 *                 anything else -> CONN_H1
 *   CONN_H1       HTTP/1.1, one request at a time (pipelined bytes wait in `in`)
 *   CONN_H2       nghttp2 server session
 *   CONN_WS       a Loki tail upgraded to a WebSocket (ws.c; from CONN_H1
 *                 once the 101 is queued)
 *   CONN_CLOSING  shut down; freed once no io_uring operation refers to it
 *
 * user_data of every SQE packs (op, slot, generation); a completion whose
 * generation no longer matches its slot belongs to a closed connection and is
 * dropped (its provided buffer is still recycled).
 *
 * Threads: everything here runs on its net thread ("ingest-net-N") except
 * ingest_net_complete(), which any thread may call.
 */
#ifndef SONDE_INGEST_NET_H
#define SONDE_INGEST_NET_H

#include <liburing.h>
#include <pthread.h>

#include "ingest/http1.h"
#include "ingest/ingest_internal.h"

enum ingest_op {
    INGEST_OP_ACCEPT = 1, /* slot: listener index */
    INGEST_OP_RECV,
    INGEST_OP_SEND,
    INGEST_OP_TIMER,
    INGEST_OP_EVENTFD,
    INGEST_OP_CANCEL,
};

static inline uint64_t ingest_ud(enum ingest_op op, uint32_t slot, uint32_t gen)
{
    return ((uint64_t)op << 56) | ((uint64_t)(slot & 0xffffff) << 32) | gen;
}
static inline enum ingest_op ingest_ud_op(uint64_t ud)
{
    return (enum ingest_op)(ud >> 56);
}
static inline uint32_t ingest_ud_slot(uint64_t ud)
{
    return (uint32_t)(ud >> 32) & 0xffffff;
}
static inline uint32_t ingest_ud_gen(uint64_t ud)
{
    return (uint32_t)ud;
}

typedef enum ingest_conn_state {
    CONN_PREFACE = 0,
    CONN_H1,
    CONN_H2,
    CONN_WS, /* Loki tail over WebSocket (ws.c) */
    CONN_CLOSING,
} ingest_conn_state;

typedef struct ingest_h2 ingest_h2;

typedef struct ingest_conn {
    uint32_t slot;
    uint32_t gen;
    int fd;
    ingest_conn_state state;
    ingest_net *net;
    buf in; /* received, not yet parsed (HTTP/1.1 pipelining, preface) */
    size_t in_off;
    buf out; /* being sent: frozen while send_inflight */
    size_t out_off;
    buf outq; /* serialised responses queued behind `out` */
    bool send_inflight;
    bool recv_armed;
    bool recv_paused;      /* back-pressure: too much unparsed input */
    bool close_after_send; /* Connection: close, protocol error, draining */
    bool peer_eof;         /* the client half-closed */
    int64_t last_active_ms;
    int64_t hdr_start_ms;
    int64_t body_start_ms;
    int64_t send_start_ms;
    bool req_started; /* bytes of a request (or the connection) await headers */
    bool reap_queued;
    /* HTTP/1.1 */
    ingest_h1 h1;
    bool h1_busy; /* a request is with a handler; parse nothing until it answers */
    bool h1_head; /* the request in flight is HEAD */
    /* HTTP/2 */
    ingest_h2 *h2;
    /* WebSocket (CONN_WS): parser, tail job, timers; owned, freed with the conn */
    struct ingest_ws_conn *ws;
} ingest_conn;

struct ingest_net {
    unsigned idx;
    pthread_t th;
    bool started;
    ingest_ctx *ctx;
    struct io_uring ring;
    int lfd[INGEST_MAX_LISTEN];
    bool accept_armed[INGEST_MAX_LISTEN];
    unsigned nlfd;
    struct io_uring_buf_ring *br;
    size_t br_size;
    char *bufs;
    unsigned nbufs;
    unsigned bufsz;
    ingest_conn **conns;
    uint32_t *reap; /* slots of closing connections to check after the batch */
    uint32_t nreap;
    uint32_t *gens;
    uint32_t *free_slots;
    uint32_t nslots;
    uint32_t nfree;
    ring_mpsc *done;
    size_t done_cap;
    int efd;
    uint64_t efd_buf;
    _Atomic bool wake_pending;
    _Atomic size_t inflight;
    _Atomic size_t open;
    _Atomic bool stop;
    bool draining;
    int64_t drain_deadline_ms;
    struct __kernel_timespec tick;
    int64_t now_ms;
    int64_t date_sec;
    char date[40];
    ingest_h1_limits h1lim;
};

/* ---- conn.c ---- */
ingest_conn *ingest_conn_create(ingest_net *n, int fd, uint32_t slot, uint32_t gen);
void ingest_conn_destroy(ingest_conn *c);
void ingest_conn_on_data(ingest_conn *c, const char *data, size_t len);
/* Drops the input bytes before c->in_off (the ones a parser consumed). */
void ingest_conn_compact_input(ingest_conn *c);
void ingest_conn_on_sent(ingest_conn *c, int res);
void ingest_conn_on_eof(ingest_conn *c);
void ingest_conn_deliver(ingest_conn *c, ingest_req *r);
void ingest_conn_tick(ingest_conn *c);
/* Starts a send if output is pending and none is in flight; closes when
 * close_after_send and everything went out. */
void ingest_conn_flush(ingest_conn *c);
void ingest_conn_close(ingest_conn *c);
/* Graceful shutdown: answer what is in flight, then close. */
void ingest_conn_drain(ingest_conn *c);

/* ---- ws.c, for conn.c (the connection side of a Loki tail) ---- */
/* The request carrying r->tail came back: the handshake's first query (the
 * connection becomes CONN_WS after a 101) or a poll (a frame is queued).
 * False when conn.c must answer r as plain HTTP (the query failed). */
bool ingest_ws_deliver(ingest_conn *c, ingest_req *r);
void ingest_ws_on_input(ingest_conn *c); /* parses c->in (CONN_WS) */
void ingest_ws_on_sent(ingest_conn *c);  /* output went out: flush, resume input */
void ingest_ws_tick(ingest_conn *c);     /* 1 s: maximum life, polls, keep-alive pings */
void ingest_ws_drain(ingest_conn *c);    /* server shutdown: close 1001 */
void ingest_ws_conn_destroy(struct ingest_ws_conn *w); /* NULL is a no-op */

/* ---- server.c, for conn.c and http2.c ---- */
struct io_uring_sqe *ingest_net_sqe(ingest_net *n);
void ingest_net_arm_recv(ingest_net *n, ingest_conn *c);
void ingest_net_cancel(ingest_net *n, uint64_t ud);
/* Queues a closing connection; after the current CQE batch it is freed if
 * no operation refers to it any more (else when its last CQE arrives). */
void ingest_net_reap(ingest_net *n, ingest_conn *c);
const char *ingest_net_date(ingest_net *n);

/* ---- http2.c ---- */
/* Creates the nghttp2 server session (our SETTINGS are queued). NULL on OOM. */
ingest_h2 *ingest_h2_create(ingest_conn *c);
void ingest_h2_destroy(ingest_h2 *h); /* NULL is a no-op; frees requests it holds */
/* -EPROTO when the peer broke the protocol (the session queued a GOAWAY). */
int ingest_h2_feed(ingest_h2 *h, const uint8_t *data, size_t len);
/* Serialises pending frames into out, up to about `limit` bytes. */
int ingest_h2_produce(ingest_h2 *h, buf *out, size_t limit);
void ingest_h2_deliver(ingest_h2 *h, ingest_req *r);
bool ingest_h2_done(ingest_h2 *h);      /* neither side wants more */
size_t ingest_h2_streams(ingest_h2 *h); /* streams with a request in progress */
size_t ingest_h2_waiting(ingest_h2 *h); /* of those, with storage or a query worker */
void ingest_h2_goaway(ingest_h2 *h);

#endif
