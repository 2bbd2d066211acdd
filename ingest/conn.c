/*
 * conn.c - one client connection: the state machine of net.h, HTTP/1.1
 * request flow (one request at a time, pipelined bytes wait), output
 * buffering and sends, back-pressure and deadlines.
 *
 * Invariants:
 *   - at most one send in flight, from `out`, which nothing modifies until
 *     its completion; new output is queued in `outq` and the two swap when
 *     `out` has gone (a realloc under an in-flight send would hand the
 *     kernel freed memory);
 *   - in HTTP/1.1 nothing is parsed while a request is with a handler
 *     (h1_busy), so responses leave in request order;
 *   - unparsed input above CONN_IN_PAUSE stops the multishot recv until the
 *     parser catches up, so a pipelining client cannot grow memory;
 *   - a connection is closed by ingest_conn_close() (shutdown + cancel) but
 *     freed only by the net thread's reaper once no operation refers to it.
 *
 * Threads: the owning net thread only.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/log.h"
#include "core/timeutil.h"
#include "ingest/net.h"

#define CONN_IN_PAUSE (256 * 1024)
#define CONN_IN_SLACK (4 * 1024 * 1024)
#define CONN_OUT_HIGH (1024 * 1024)

static const char conn_h2_preface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
#define CONN_PREFACE_LEN 24

static size_t conn_pending_out(const ingest_conn *c)
{
    return c->out.len - c->out_off + c->outq.len;
}

static size_t conn_pending_in(const ingest_conn *c)
{
    return c->in.len - c->in_off;
}

ingest_conn *ingest_conn_create(ingest_net *n, int fd, uint32_t slot, uint32_t gen)
{
    ingest_conn *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    if (ingest_h1_init(&c->h1, &n->h1lim) != 0) {
        free(c);
        return NULL;
    }
    c->fd = fd;
    c->slot = slot;
    c->gen = gen;
    c->net = n;
    c->state = CONN_PREFACE;
    buf_init(&c->in, n->h1lim.max_header_bytes + CONN_IN_PAUSE + CONN_IN_SLACK);
    buf_init(&c->out, INGEST_RESPONSE_MAX + CONN_OUT_HIGH);
    buf_init(&c->outq, INGEST_RESPONSE_MAX + CONN_OUT_HIGH);
    c->last_active_ms = n->now_ms;
    /* the header deadline covers the first request from accept on */
    c->req_started = true;
    c->hdr_start_ms = n->now_ms;
    return c;
}

void ingest_conn_destroy(ingest_conn *c)
{
    if (!c)
        return;
    if (c->fd >= 0)
        close(c->fd);
    ingest_h1_fini(&c->h1);
    ingest_h2_destroy(c->h2);
    ingest_ws_conn_destroy(c->ws); /* a Loki tail's state (ws.c) */
    buf_fini(&c->in);
    buf_fini(&c->out);
    buf_fini(&c->outq);
    free(c);
}

void ingest_conn_close(ingest_conn *c)
{
    if (c->state == CONN_CLOSING)
        return;
    c->state = CONN_CLOSING;
    shutdown(c->fd, SHUT_RDWR);
    if (c->recv_armed)
        ingest_net_cancel(c->net, ingest_ud(INGEST_OP_RECV, c->slot, c->gen));
    ingest_net_reap(c->net, c);
}

void ingest_conn_flush(ingest_conn *c)
{
    if (c->state == CONN_CLOSING || c->send_inflight)
        return;
    if (c->state == CONN_H2 && ingest_h2_produce(c->h2, &c->outq, CONN_OUT_HIGH) != 0) {
        ingest_conn_close(c);
        return;
    }
    if (c->out_off == c->out.len) {
        /* `out` is only touched between sends: the kernel reads it meanwhile */
        buf tmp = c->out;
        c->out = c->outq;
        c->outq = tmp;
        buf_reset(&c->outq);
        c->out_off = 0;
    }
    size_t pending = c->out.len - c->out_off;
    if (pending == 0) {
        if (c->state == CONN_H2) {
            if (ingest_h2_done(c->h2) || (c->close_after_send && ingest_h2_streams(c->h2) == 0))
                ingest_conn_close(c);
        } else if (c->close_after_send && !c->h1_busy) {
            ingest_conn_close(c);
        }
        return;
    }
    struct io_uring_sqe *sqe = ingest_net_sqe(c->net);
    io_uring_prep_send(sqe, c->fd, c->out.data + c->out_off, pending, MSG_NOSIGNAL);
    io_uring_sqe_set_data64(sqe, ingest_ud(INGEST_OP_SEND, c->slot, c->gen));
    c->send_inflight = true;
    c->send_start_ms = c->net->now_ms;
}

/* An answer the parser decided on (400, 408, 413, 431...): send and close. */
static void conn_h1_error(ingest_conn *c, int status, const char *msg)
{
    http_response resp;
    http_response_init(&resp, 4096);
    http_response_text(&resp, status, "%s", msg);
    if (ingest_resp_serialize_h1(&resp, false, false, ingest_net_date(c->net), &c->outq) != 0)
        ingest_conn_close(c);
    http_response_fini(&resp);
    ingest_metrics_request(c->net->ctx->metrics, INGEST_H_OTHER, status, 0);
    log_debug("ingest.request_error", "thread=%u status=%d msg=\"%s\"", c->net->idx, status, msg);
    c->close_after_send = true;
    c->recv_paused = true; /* read nothing more from this client */
}

static void conn_h1_respond(ingest_conn *c, ingest_req *r)
{
    if (r->resp.status == 0)
        http_response_text(&r->resp, 500, "handler produced no response");
    ingest_router_seal(r);
    bool ka = r->keep_alive && !c->net->draining;
    if (ingest_resp_serialize_h1(&r->resp, ka, c->h1_head, ingest_net_date(c->net), &c->outq) !=
        0) {
        log_warn("ingest.response_too_large", "thread=%u path=%s", c->net->idx, r->http.path);
        ka = false;
        ingest_conn_close(c);
    }
    ingest_router_account(c->net->ctx, r);
    ingest_req_destroy(r);
    c->h1_busy = false;
    c->last_active_ms = c->net->now_ms;
    if (!ka)
        c->close_after_send = true;
}

static void conn_h1_request(ingest_conn *c, ingest_h1_msg *m)
{
    ingest_req *r = ingest_req_adopt(m->arena, &m->body, &m->req);
    if (!r) {
        conn_h1_error(c, 503, "out of memory");
        return;
    }
    r->net = c->net;
    r->slot = c->slot;
    r->gen = c->gen;
    r->start_ns = time_mono_ns();
    r->keep_alive = m->keep_alive;
    c->h1_head = r->http.method == HTTP_METHOD_HEAD;
    c->h1_busy = true;
    if (ingest_router_dispatch(c->net->ctx, r) == INGEST_ROUTE_DONE)
        conn_h1_respond(c, r);
}

static void conn_h1_pump(ingest_conn *c)
{
    while (c->state == CONN_H1 && !c->h1_busy && !c->close_after_send) {
        if (conn_pending_out(c) > CONN_OUT_HIGH)
            break;
        size_t avail = conn_pending_in(c);
        if (avail == 0)
            break;
        ingest_h1_phase before = ingest_h1_phase_get(&c->h1);
        size_t used = 0;
        ingest_h1_event ev = ingest_h1_feed(&c->h1, c->in.data + c->in_off, avail, &used);
        c->in_off += used;
        if (ingest_h1_phase_get(&c->h1) == INGEST_H1_BODY && before != INGEST_H1_BODY)
            c->body_start_ms = c->net->now_ms;
        if (ev == INGEST_H1_NEED_MORE)
            break;
        if (ev == INGEST_H1_CONTINUE) {
            if (buf_puts(&c->outq, "HTTP/1.1 100 Continue\r\n\r\n") != SONDE_OK)
                ingest_conn_close(c);
            continue;
        }
        if (ev == INGEST_H1_ERROR) {
            conn_h1_error(c, ingest_h1_error_status(&c->h1), ingest_h1_error_message(&c->h1));
            break;
        }
        ingest_h1_msg m;
        if (!ingest_h1_take(&c->h1, &m))
            break;
        c->req_started = false;
        conn_h1_request(c, &m);
    }
    if (c->state == CONN_CLOSING)
        return;
    if (c->peer_eof && !c->h1_busy)
        c->close_after_send = true; /* nothing more can complete */
    ingest_conn_compact_input(c); /* drop what the parser consumed */
    if (!c->h1_busy && !c->req_started && conn_pending_in(c) > 0) {
        c->req_started = true; /* pipelined bytes: the next request's clock starts */
        c->hdr_start_ms = c->net->now_ms;
    }
    size_t pause_at = c->net->h1lim.max_header_bytes + CONN_IN_PAUSE;
    if (!c->recv_paused && conn_pending_in(c) > pause_at) {
        c->recv_paused = true;
        if (c->recv_armed)
            ingest_net_cancel(c->net, ingest_ud(INGEST_OP_RECV, c->slot, c->gen));
    } else if (c->recv_paused && !c->close_after_send && !c->peer_eof &&
               conn_pending_in(c) <= pause_at) {
        c->recv_paused = false;
        ingest_net_arm_recv(c->net, c);
    }
    ingest_conn_flush(c);
}

static void conn_start_h2(ingest_conn *c)
{
    c->state = CONN_H2;
    c->req_started = false;
    c->h2 = ingest_h2_create(c);
    if (!c->h2) {
        ingest_conn_close(c);
        return;
    }
    size_t avail = conn_pending_in(c);
    int rc = ingest_h2_feed(c->h2, (const uint8_t *)c->in.data + c->in_off, avail);
    buf_fini(&c->in); /* HTTP/2 needs no input buffer: nghttp2 keeps its own state */
    c->in_off = 0;
    if (rc != 0)
        c->close_after_send = true;
    ingest_conn_flush(c);
}

void ingest_conn_compact_input(ingest_conn *c)
{
    if (c->in_off == c->in.len) {
        buf_reset(&c->in);
        c->in_off = 0;
    } else if (c->in_off > 0) {
        memmove(c->in.data, c->in.data + c->in_off, c->in.len - c->in_off);
        c->in.len -= c->in_off;
        c->in.data[c->in.len] = '\0';
        c->in_off = 0;
    }
}

void ingest_conn_on_data(ingest_conn *c, const char *data, size_t len)
{
    c->last_active_ms = c->net->now_ms;
    if (c->state == CONN_H2) {
        if (ingest_h2_feed(c->h2, (const uint8_t *)data, len) != 0)
            c->close_after_send = true;
        ingest_conn_flush(c);
        return;
    }
    if (c->state == CONN_WS) { /* a Loki tail: WebSocket frames (ws.c) */
        if (buf_append(&c->in, data, len) != SONDE_OK) {
            ingest_conn_close(c);
            return;
        }
        ingest_ws_on_input(c);
        return;
    }
    if (c->recv_paused && c->close_after_send)
        return; /* an error answer is on its way; the rest is not read */
    if (buf_append(&c->in, data, len) != SONDE_OK) {
        ingest_conn_close(c);
        return;
    }
    if (c->state == CONN_PREFACE) {
        size_t avail = conn_pending_in(c);
        size_t cmp = avail < CONN_PREFACE_LEN ? avail : CONN_PREFACE_LEN;
        if (memcmp(c->in.data + c->in_off, conn_h2_preface, cmp) != 0) {
            c->state = CONN_H1;
        } else if (avail >= CONN_PREFACE_LEN) {
            conn_start_h2(c);
            return;
        } else {
            return; /* could still be the preface */
        }
    }
    if (!c->req_started && !c->h1_busy) {
        c->req_started = true;
        c->hdr_start_ms = c->net->now_ms;
    }
    conn_h1_pump(c);
}

void ingest_conn_on_eof(ingest_conn *c)
{
    /* the client will send nothing more: answer the complete requests it
     * already sent (pipelined before a half-close), then close */
    c->recv_paused = true;
    c->peer_eof = true;
    if (c->state != CONN_H1) {
        ingest_conn_close(c);
        return;
    }
    conn_h1_pump(c);
}

void ingest_conn_on_sent(ingest_conn *c, int res)
{
    c->send_inflight = false;
    if (c->state == CONN_CLOSING) {
        ingest_net_reap(c->net, c);
        return;
    }
    if (res <= 0) {
        ingest_conn_close(c);
        return;
    }
    c->out_off += (size_t)res;
    c->last_active_ms = c->net->now_ms;
    if (c->state == CONN_H1)
        conn_h1_pump(c);
    else if (c->state == CONN_WS)
        ingest_ws_on_sent(c); /* may resume input that waited for output */
    else
        ingest_conn_flush(c);
}

void ingest_conn_deliver(ingest_conn *c, ingest_req *r)
{
    /* a Loki tail's query came back (ws.c); false: answer it as HTTP below */
    if (r->tail && ingest_ws_deliver(c, r))
        return;
    if (c->state == CONN_H2) {
        ingest_h2_deliver(c->h2, r);
        ingest_conn_flush(c);
        return;
    }
    conn_h1_respond(c, r);
    if (c->state == CONN_CLOSING)
        return;
    if (conn_pending_in(c) > 0) {
        c->req_started = true;
        c->hdr_start_ms = c->net->now_ms;
    }
    conn_h1_pump(c);
}

void ingest_conn_drain(ingest_conn *c)
{
    if (c->state == CONN_CLOSING)
        return;
    if (c->state == CONN_WS) { /* close frame 1001 (ws.c) */
        ingest_ws_drain(c);
        return;
    }
    c->close_after_send = true;
    if (c->state == CONN_H2)
        ingest_h2_goaway(c->h2);
    if (c->state != CONN_H1 || !c->h1_busy)
        ingest_conn_flush(c);
}

void ingest_conn_tick(ingest_conn *c)
{
    const ingest_config *cfg = c->net->ctx->cfg;
    int64_t now = c->net->now_ms;
    if (c->state == CONN_CLOSING)
        return;
    if (c->send_inflight) {
        if (now - c->send_start_ms > cfg->body_timeout_ms) {
            log_debug("ingest.slow_reader", "thread=%u", c->net->idx);
            ingest_conn_close(c);
        }
        return;
    }
    if (c->state == CONN_WS) { /* max life, polls, pings (ws.c) */
        ingest_ws_tick(c);
        return;
    }
    if (c->state == CONN_H2) {
        /* per stream: an overall deadline that frames on other streams or
         * PINGs do not refresh */
        ingest_h2_tick(c->h2, now, cfg->body_timeout_ms);
        ingest_conn_flush(c);
        if (c->state == CONN_CLOSING || c->send_inflight)
            return;
        if (ingest_h2_streams(c->h2) == 0 && conn_pending_out(c) == 0 &&
            now - c->last_active_ms > cfg->idle_timeout_ms) {
            ingest_h2_goaway(c->h2);
            c->close_after_send = true;
            ingest_conn_flush(c);
        } else if (ingest_h2_streams(c->h2) > ingest_h2_waiting(c->h2) &&
                   now - c->last_active_ms > cfg->body_timeout_ms) {
            /* a client stalled mid-request (we are not the ones it waits for) */
            log_debug("ingest.h2_stalled", "thread=%u", c->net->idx);
            ingest_conn_close(c);
        }
        return;
    }
    if (c->h1_busy || c->close_after_send)
        return;
    ingest_h1_phase ph = ingest_h1_phase_get(&c->h1);
    if (c->req_started && (ph == INGEST_H1_IDLE || ph == INGEST_H1_HEADERS) &&
        now - c->hdr_start_ms > cfg->header_timeout_ms) {
        if (ph == INGEST_H1_IDLE && conn_pending_in(c) == 0) {
            ingest_conn_close(c); /* connected but never sent a byte */
            return;
        }
        c->state = CONN_H1;
        conn_h1_error(c, 408, "request headers not complete within --header-timeout");
        ingest_conn_flush(c);
    } else if (ph == INGEST_H1_BODY && now - c->body_start_ms > cfg->body_timeout_ms) {
        conn_h1_error(c, 408, "request body not complete within --body-timeout");
        ingest_conn_flush(c);
    } else if (!c->req_started && conn_pending_out(c) == 0 &&
               now - c->last_active_ms > cfg->idle_timeout_ms) {
        ingest_conn_close(c);
    }
}
