/*
 * ws.c - Loki's live tail (GET /loki/api/v1/tail) over a WebSocket (RFC 6455):
 * the handshake, the frame parser and writer, and the connection's life once
 * upgraded.
 *
 * Design:
 *   - The pure parts (ingest_ws_accept_key, ingest_ws_parse,
 *     ingest_ws_frame_write, ingest_ws_close_write) know no connection and no
 *     clock; tests/unit/ingest/test_ws.c and tests/fuzz/fuzz_ws.c drive them.
 *   - The net thread never runs a query. The router checks the upgrade and
 *     sends the request to a query worker, which parses the tail's query and
 *     runs its first query (query_loki_tail_create / _poll, logql_api.c);
 *     only then does the net thread answer 101 (or the query's 400), queue
 *     the first frame and switch the connection to CONN_WS. From then on the
 *     connection's 1 s tick sends a poll request to the workers whenever none
 *     is out; its answer (the JSON text of one frame, or nothing) comes back
 *     through the net thread's completion ring and is framed here.
 *   - Tail clients send nothing but control frames: pings are answered with
 *     pongs, a close is echoed and the connection closed, data messages are
 *     read (reassembled, capped) and ignored. A protocol error sends a close
 *     with its code (1002, 1007, 1009) and closes.
 *
 * Bounds: INGEST_WS_MAX_TAILS live tails (the 33rd gets 429), client frames
 * and messages INGEST_WS_MAX_FRAME bytes (1009 before the payload is read),
 * a frame's JSON about 4 MiB (logql_api.c), a tail's life
 * INGEST_WS_MAX_LIFE_MS (then close 1000), one poll per connection at a time
 * and none while more than WS_OUT_HIGH bytes wait to be sent (a slow client
 * delays the tail, nothing is dropped; --body-timeout closes a client that
 * stops reading). Server shutdown sends close 1001.
 *
 * Ownership: the job (the tail's query state and its slot in ctx->tails)
 * belongs to the connection's ingest_ws_conn while idle and to the request
 * carrying it while a worker has it (ingest_req.tail); whoever holds it when
 * the connection or the request dies destroys it.
 *
 * Threads: the route, deliver, input, tick and drain functions run on the
 * connection's net thread; ingest_ws_work on a query worker; the pure
 * functions and ingest_ws_job_destroy on any thread.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/log.h"
#include "core/sha1.h"
#include "core/timeutil.h"
#include "core/utf8.h"
#include "ingest/net.h"

#define WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
#define WS_OUT_HIGH (1024 * 1024)    /* no poll while more than this waits to be sent */
#define WS_IN_HIGH (64 * 1024)       /* unparsed input that pauses recv */
#define WS_PING_IDLE_MS (30 * 1000)  /* a ping after this long without a frame */

struct ingest_ws_job {
    ingest_ctx *ctx;
    query_loki_tail *q; /* NULL until the worker parsed the request */
    char accept[29];
    char tenant[160];
};

typedef struct ingest_ws_conn {
    ingest_ws_parser p;
    ingest_ws_job *job; /* NULL while a poll is with a worker */
    int64_t opened_ms;
    int64_t last_poll_ms;
    int64_t last_frame_ms;
    bool close_sent;
    bool blocked; /* input parsing waits for output to drain */
    uint64_t frames;
    char tenant[160]; /* for the logs */
} ingest_ws_conn;

/* ---- handshake ---- */

static const char ws_b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static size_t ws_b64_encode(const uint8_t *in, size_t n, char *out)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16;
        if (i + 1 < n)
            v |= (uint32_t)in[i + 1] << 8;
        if (i + 2 < n)
            v |= in[i + 2];
        out[o++] = ws_b64[(v >> 18) & 63];
        out[o++] = ws_b64[(v >> 12) & 63];
        out[o++] = i + 1 < n ? ws_b64[(v >> 6) & 63] : '=';
        out[o++] = i + 2 < n ? ws_b64[v & 63] : '=';
    }
    out[o] = 0;
    return o;
}

int ingest_ws_accept_key(const char *key, size_t n, char out[29])
{
    while (n && (*key == ' ' || *key == '\t')) {
        key++;
        n--;
    }
    while (n && (key[n - 1] == ' ' || key[n - 1] == '\t'))
        n--;
    /* base64 of 16 bytes: 22 characters and "==" */
    if (n != 24 || key[22] != '=' || key[23] != '=')
        return -EINVAL;
    for (size_t i = 0; i < 22; i++)
        if (!memchr(ws_b64, key[i], 64) || key[i] == 0)
            return -EINVAL;
    /* the last character carries 2 bits; the 4 unused ones must be zero */
    if ((strchr(ws_b64, key[21]) - ws_b64) & 15)
        return -EINVAL;
    sha1_ctx c;
    uint8_t d[SHA1_DIGEST_LEN];
    sha1_init(&c);
    sha1_update(&c, key, n);
    sha1_update(&c, WS_GUID, sizeof WS_GUID - 1);
    sha1_final(&c, d);
    ws_b64_encode(d, sizeof d, out);
    return 0;
}

/* ---- frames ---- */

void ingest_ws_parser_init(ingest_ws_parser *p)
{
    memset(p, 0, sizeof *p);
}

static ingest_ws_event ws_fail(ingest_ws_parser *p, uint16_t code, const char *msg)
{
    p->failed = true;
    p->close_code = code;
    p->error = msg;
    p->payload = NULL;
    p->payload_len = 0;
    return INGEST_WS_ERROR;
}

static bool ws_close_code_valid(uint16_t c)
{
    /* 1004-1006 and 1015 are reserved, never sent in a frame */
    return (c >= 1000 && c <= 1003) || (c >= 1007 && c <= 1014) || (c >= 3000 && c <= 4999);
}

static void ws_unmask(uint8_t *dst, const uint8_t *src, size_t n, const uint8_t mask[4])
{
    for (size_t i = 0; i < n; i++)
        dst[i] = src[i] ^ mask[i & 3];
}

ingest_ws_event ingest_ws_parse(ingest_ws_parser *p, const uint8_t *data, size_t len,
                                size_t *used)
{
    *used = 0;
    if (p->failed)
        return INGEST_WS_ERROR;
    if (len < 2)
        return INGEST_WS_NEED_MORE;
    bool fin = data[0] & 0x80;
    uint8_t op = data[0] & 0x0f;
    bool masked = data[1] & 0x80;
    uint64_t plen = data[1] & 0x7f;
    size_t hl = 2;
    if (data[0] & 0x70)
        return ws_fail(p, 1002, "reserved bits set in a frame (no extension was negotiated)");
    if (op != INGEST_WS_OP_CONT && op != INGEST_WS_OP_TEXT && op != INGEST_WS_OP_BINARY &&
        op != INGEST_WS_OP_CLOSE && op != INGEST_WS_OP_PING && op != INGEST_WS_OP_PONG)
        return ws_fail(p, 1002, "unknown frame opcode");
    if (!masked)
        return ws_fail(p, 1002, "client frames must be masked");
    bool ctl = op & 0x8;
    if (ctl && !fin)
        return ws_fail(p, 1002, "fragmented control frame");
    if (ctl && plen > 125)
        return ws_fail(p, 1002, "control frame payload over 125 bytes");
    if (plen == 126) {
        if (len < 4)
            return INGEST_WS_NEED_MORE;
        plen = (uint64_t)data[2] << 8 | data[3];
        hl = 4;
        if (plen < 126)
            return ws_fail(p, 1002, "frame length not minimally encoded");
    } else if (plen == 127) {
        if (len < 10)
            return INGEST_WS_NEED_MORE;
        plen = 0;
        for (int i = 0; i < 8; i++)
            plen = plen << 8 | data[2 + i];
        hl = 10;
        if (plen >> 63)
            return ws_fail(p, 1002, "frame length with its most significant bit set");
        if (plen <= 0xffff)
            return ws_fail(p, 1002, "frame length not minimally encoded");
    }
    if (plen > INGEST_WS_MAX_FRAME)
        return ws_fail(p, 1009, "frame payload over 4096 bytes");
    if (!ctl) {
        if (op == INGEST_WS_OP_CONT && !p->in_msg)
            return ws_fail(p, 1002, "continuation frame without a message to continue");
        if (op != INGEST_WS_OP_CONT && p->in_msg)
            return ws_fail(p, 1002, "new data frame inside a fragmented message");
        size_t before = op == INGEST_WS_OP_CONT ? p->msg_len : 0;
        if (before + plen > INGEST_WS_MAX_FRAME)
            return ws_fail(p, 1009, "message over 4096 bytes");
    }
    if (len - hl < 4 || len - hl - 4 < plen)
        return INGEST_WS_NEED_MORE;
    const uint8_t *mask = data + hl;
    const uint8_t *src = data + hl + 4;
    size_t n = (size_t)plen;
    if (ctl) {
        ws_unmask(p->ctl, src, n, mask);
        p->opcode = op;
        p->payload = p->ctl;
        p->payload_len = n;
        p->close_code = 0;
        if (op == INGEST_WS_OP_CLOSE) {
            if (n == 1)
                return ws_fail(p, 1002, "close frame with a 1-byte payload");
            if (n >= 2) {
                uint16_t code = (uint16_t)(p->ctl[0] << 8 | p->ctl[1]);
                if (!ws_close_code_valid(code))
                    return ws_fail(p, 1002, "invalid close code");
                if (!utf8_valid((const char *)p->ctl + 2, n - 2))
                    return ws_fail(p, 1007, "close reason is not valid UTF-8");
                p->close_code = code;
            } else {
                p->close_code = 1005; /* no status code present */
            }
        }
        *used = hl + 4 + n;
        return INGEST_WS_CONTROL;
    }
    if (op != INGEST_WS_OP_CONT) {
        p->in_msg = true;
        p->msg_op = op;
        p->msg_len = 0;
    }
    ws_unmask(p->msg + p->msg_len, src, n, mask);
    p->msg_len += n;
    *used = hl + 4 + n;
    if (!fin)
        return INGEST_WS_FRAGMENT;
    p->in_msg = false;
    if (p->msg_op == INGEST_WS_OP_TEXT && !utf8_valid((const char *)p->msg, p->msg_len)) {
        *used = 0;
        return ws_fail(p, 1007, "text message is not valid UTF-8");
    }
    p->opcode = p->msg_op;
    p->payload = p->msg;
    p->payload_len = p->msg_len;
    return INGEST_WS_MESSAGE;
}

sonde_status ingest_ws_frame_write(buf *out, uint8_t opcode, const void *payload, size_t len)
{
    uint8_t h[10];
    size_t hl;
    h[0] = (uint8_t)(0x80 | (opcode & 0x0f));
    if (len < 126) {
        h[1] = (uint8_t)len;
        hl = 2;
    } else if (len <= 0xffff) {
        h[1] = 126;
        h[2] = (uint8_t)(len >> 8);
        h[3] = (uint8_t)len;
        hl = 4;
    } else {
        h[1] = 127;
        for (int i = 0; i < 8; i++)
            h[2 + i] = (uint8_t)((uint64_t)len >> (56 - 8 * i));
        hl = 10;
    }
    sonde_status s = buf_reserve(out, hl + len);
    if (s == SONDE_OK)
        s = buf_append(out, h, hl);
    if (s == SONDE_OK && len)
        s = buf_append(out, payload, len);
    return s;
}

sonde_status ingest_ws_close_write(buf *out, uint16_t code, const char *reason)
{
    uint8_t pl[125];
    size_t n = reason ? strlen(reason) : 0;
    if (n > sizeof pl - 2) {
        n = sizeof pl - 2;
        while (n && ((unsigned char)reason[n] & 0xC0) == 0x80)
            n--; /* do not cut a UTF-8 sequence */
    }
    pl[0] = (uint8_t)(code >> 8);
    pl[1] = (uint8_t)code;
    if (n)
        memcpy(pl + 2, reason, n);
    return ingest_ws_frame_write(out, INGEST_WS_OP_CLOSE, pl, n + 2);
}

/* ---- the job (any thread) ---- */

void ingest_ws_job_destroy(ingest_ws_job *j)
{
    if (!j)
        return;
    query_loki_tail_destroy(j->q);
    atomic_fetch_sub(&j->ctx->tails, 1);
    free(j);
}

/* ---- routing (net thread) ---- */

/* True when the comma-separated header value lists token (any case). */
static bool ws_header_token(const http_request *req, const char *name, const char *token)
{
    const http_header *h = http_request_header(req, name);
    if (!h)
        return false;
    size_t tl = strlen(token);
    const char *s = h->value, *end = h->value + h->value_len;
    while (s < end) {
        const char *comma = memchr(s, ',', (size_t)(end - s));
        const char *e = comma ? comma : end;
        const char *a = s, *b = e;
        while (a < b && (*a == ' ' || *a == '\t'))
            a++;
        while (b > a && (b[-1] == ' ' || b[-1] == '\t'))
            b--;
        if ((size_t)(b - a) == tl && strncasecmp(a, token, tl) == 0)
            return true;
        s = comma ? comma + 1 : end;
    }
    return false;
}

ingest_route ingest_ws_tail_route(ingest_ctx *ctx, ingest_req *r)
{
    const http_request *req = &r->http;
    r->handler = INGEST_H_LOKI_QUERY;
    if (r->stream_id != 0) {
        http_response_text(&r->resp, 400,
                           "tail is a WebSocket over HTTP/1.1 (as in Loki); HTTP/2 requests "
                           "cannot be upgraded to it");
        return INGEST_ROUTE_DONE;
    }
    if (req->method != HTTP_METHOD_GET) {
        http_response_text(&r->resp, 405, "method not allowed: tail is a GET with a WebSocket "
                                          "upgrade");
        http_response_header(&r->resp, "Allow", "GET");
        return INGEST_ROUTE_DONE;
    }
    if (!http_request_header(req, "upgrade") && !http_request_header(req, "sec-websocket-key")) {
        http_response_text(&r->resp, 400, "tail needs a WebSocket upgrade");
        return INGEST_ROUTE_DONE;
    }
    if (!ws_header_token(req, "upgrade", "websocket")) {
        http_response_text(&r->resp, 400,
                           "bad WebSocket upgrade: the Upgrade header must be \"websocket\"");
        return INGEST_ROUTE_DONE;
    }
    if (!ws_header_token(req, "connection", "upgrade")) {
        http_response_text(&r->resp, 400,
                           "bad WebSocket upgrade: the Connection header must include "
                           "\"Upgrade\"");
        return INGEST_ROUTE_DONE;
    }
    const http_header *ver = http_request_header(req, "sec-websocket-version");
    if (!ver || ver->value_len != 2 || memcmp(ver->value, "13", 2) != 0) {
        http_response_text(&r->resp, 400,
                           "bad WebSocket upgrade: Sec-WebSocket-Version must be 13");
        http_response_header(&r->resp, "Sec-WebSocket-Version", "13");
        return INGEST_ROUTE_DONE;
    }
    const http_header *key = http_request_header(req, "sec-websocket-key");
    char accept[29];
    if (!key || ingest_ws_accept_key(key->value, key->value_len, accept) != 0) {
        http_response_text(&r->resp, 400,
                           "bad WebSocket upgrade: Sec-WebSocket-Key must be the base64 of 16 "
                           "bytes");
        return INGEST_ROUTE_DONE;
    }
    uint32_t cur = atomic_load(&ctx->tails);
    do {
        if (cur >= INGEST_WS_MAX_TAILS) {
            http_response_text(&r->resp, 429, "too many live tails (at most %d); retry later",
                               INGEST_WS_MAX_TAILS);
            r->resp.retry_after_s = 5;
            return INGEST_ROUTE_DONE;
        }
    } while (!atomic_compare_exchange_weak(&ctx->tails, &cur, cur + 1));
    ingest_ws_job *j = calloc(1, sizeof *j);
    if (!j) {
        atomic_fetch_sub(&ctx->tails, 1);
        http_response_text(&r->resp, 503, "out of memory");
        r->resp.retry_after_s = 1;
        return INGEST_ROUTE_DONE;
    }
    j->ctx = ctx; /* from here on ingest_ws_job_destroy gives the slot back */
    memcpy(j->accept, accept, sizeof accept);
    snprintf(j->tenant, sizeof j->tenant, "%s", req->tenant ? req->tenant : "anonymous");
    if (!ctx->workers || !ingest_net_reserve(r->net)) {
        ingest_ws_job_destroy(j);
        http_response_text(&r->resp, 503, "too many queries in flight; retry");
        r->resp.retry_after_s = 1;
        return INGEST_ROUTE_DONE;
    }
    r->tail = j;
    if (ingest_workers_submit(ctx->workers, r) != 0) {
        r->tail = NULL;
        ingest_net_unreserve(r->net);
        ingest_ws_job_destroy(j);
        http_response_text(&r->resp, 503, "query queue full; retry");
        r->resp.retry_after_s = 1;
        return INGEST_ROUTE_DONE;
    }
    return INGEST_ROUTE_ASYNC;
}

/* ---- the worker's part ---- */

void ingest_ws_work(query_engine *qe, ingest_req *r)
{
    ingest_ws_job *j = r->tail;
    bool first = j->q == NULL;
    if (!qe) {
        http_response_text(&r->resp, 503, "the query engine is not running");
        return;
    }
    if (first && !(j->q = query_loki_tail_create(qe, &r->http, &r->resp)))
        return; /* r->resp holds the 400 / 503 */
    buf_reset(&r->resp.body);
    char err[1200];
    sonde_status st = query_loki_tail_poll(j->q, &r->resp.body, err, sizeof err);
    if (st != SONDE_OK) {
        int code = st == SONDE_ERR_LIMIT || st == SONDE_ERR_INVALID ? 400 : 503;
        http_response_text(&r->resp, code, "%s", err[0] ? err : sonde_status_name(st));
        return;
    }
    r->resp.status = first ? 101 : 200;
    r->resp.content_type = NULL;
}

/* ---- the connection (net thread) ---- */

static size_t ws_pending_out(const ingest_conn *c)
{
    return c->out.len - c->out_off + c->outq.len;
}

/* Queues a close frame (once) and closes once everything went out. */
static void ws_close(ingest_conn *c, uint16_t code, const char *reason)
{
    ingest_ws_conn *w = c->ws;
    if (!w->close_sent) {
        w->close_sent = true;
        if (ingest_ws_close_write(&c->outq, code, reason) != SONDE_OK) {
            ingest_conn_close(c);
            return;
        }
        log_info("ingest.tail_close", "thread=%u tenant=%s code=%u frames=%llu reason=\"%s\"",
                 c->net->idx, w->tenant, (unsigned)code,
                 (unsigned long long)w->frames, reason ? reason : "");
    }
    c->close_after_send = true;
    c->recv_paused = true; /* nothing more is read */
}

void ingest_ws_conn_destroy(ingest_ws_conn *w)
{
    if (!w)
        return;
    log_info("ingest.tail_end", "tenant=%s frames=%llu", w->tenant, (unsigned long long)w->frames);
    ingest_ws_job_destroy(w->job);
    free(w);
}

void ingest_ws_on_input(ingest_conn *c)
{
    ingest_ws_conn *w = c->ws;
    while (c->state == CONN_WS && !w->close_sent) {
        if (ws_pending_out(c) > WS_OUT_HIGH) {
            /* a client that pings faster than it reads: wait for output */
            w->blocked = true;
            break;
        }
        size_t used = 0;
        ingest_ws_event ev = ingest_ws_parse(&w->p, (const uint8_t *)c->in.data + c->in_off,
                                             c->in.len - c->in_off, &used);
        c->in_off += used;
        if (ev == INGEST_WS_NEED_MORE)
            break;
        if (ev == INGEST_WS_ERROR) {
            log_debug("ingest.ws_protocol_error", "thread=%u code=%u msg=\"%s\"", c->net->idx,
                      (unsigned)w->p.close_code, w->p.error);
            ws_close(c, w->p.close_code, w->p.error);
            break;
        }
        if (ev != INGEST_WS_CONTROL)
            continue; /* data messages (and fragments) are read and ignored */
        if (w->p.opcode == INGEST_WS_OP_PING) {
            if (ingest_ws_frame_write(&c->outq, INGEST_WS_OP_PONG, w->p.payload,
                                      w->p.payload_len) != SONDE_OK) {
                ingest_conn_close(c);
                return;
            }
        } else if (w->p.opcode == INGEST_WS_OP_CLOSE) {
            /* echo the client's code (1000 when it gave none), then close */
            uint16_t code = w->p.close_code == 1005 ? 1000 : w->p.close_code;
            ws_close(c, code, "");
        }
    }
    if (c->state != CONN_WS)
        return;
    if (w->close_sent) {
        buf_reset(&c->in);
        c->in_off = 0;
    } else {
        ingest_conn_compact_input(c);
    }
    bool pause = w->close_sent || w->blocked || c->in.len > WS_IN_HIGH;
    if (pause && !c->recv_paused) {
        c->recv_paused = true;
        if (c->recv_armed)
            ingest_net_cancel(c->net, ingest_ud(INGEST_OP_RECV, c->slot, c->gen));
    } else if (!pause && c->recv_paused && !c->peer_eof && !c->close_after_send) {
        c->recv_paused = false;
        ingest_net_arm_recv(c->net, c);
    }
    ingest_conn_flush(c);
}

void ingest_ws_on_sent(ingest_conn *c)
{
    ingest_ws_conn *w = c->ws;
    if (w->blocked && ws_pending_out(c) <= WS_OUT_HIGH) {
        w->blocked = false;
        ingest_ws_on_input(c); /* flushes */
        return;
    }
    ingest_conn_flush(c);
}

static void ws_queue_frame(ingest_conn *c, const buf *json)
{
    ingest_ws_conn *w = c->ws;
    if (ingest_ws_frame_write(&c->outq, INGEST_WS_OP_TEXT, json->data, json->len) != SONDE_OK) {
        ws_close(c, 1011, "the tail frame does not fit in the output buffer");
        return;
    }
    w->frames++;
    w->last_frame_ms = c->net->now_ms;
}

bool ingest_ws_deliver(ingest_conn *c, ingest_req *r)
{
    ingest_ws_job *j = r->tail;
    r->tail = NULL;
    if (c->state == CONN_WS) { /* a poll came back */
        ingest_ws_conn *w = c->ws;
        w->job = j;
        if (!w->close_sent) {
            if (r->resp.status == 200 && r->resp.body.len)
                ws_queue_frame(c, &r->resp.body);
            else if (r->resp.status != 200) {
                /* the poll's error text as the close reason (cut to fit) */
                char reason[124] = "tail query failed";
                if (r->resp.body.len) {
                    snprintf(reason, sizeof reason, "%s", r->resp.body.data);
                    size_t n = strlen(reason);
                    while (n && (reason[n - 1] == '\n' || reason[n - 1] == ' ' ||
                                 !utf8_valid(reason, n)))
                        reason[--n] = 0; /* no cut UTF-8 sequence in a close reason */
                }
                ws_close(c, 1011, reason);
            }
        }
        ingest_req_destroy(r);
        ingest_conn_flush(c);
        return true;
    }
    /* the handshake's first query */
    if (r->resp.status != 101) {
        ingest_ws_job_destroy(j);
        return false; /* conn.c answers the error as HTTP */
    }
    if (c->peer_eof || c->state != CONN_H1) { /* the client left meanwhile */
        ingest_ws_job_destroy(j);
        ingest_router_account(c->net->ctx, r);
        ingest_req_destroy(r);
        ingest_conn_close(c);
        return true;
    }
    ingest_ws_conn *w = calloc(1, sizeof *w);
    if (!w) {
        ingest_ws_job_destroy(j);
        http_response_text(&r->resp, 503, "out of memory");
        return false;
    }
    ingest_ws_parser_init(&w->p);
    w->job = j;
    memcpy(w->tenant, j->tenant, sizeof w->tenant);
    w->opened_ms = w->last_poll_ms = w->last_frame_ms = c->net->now_ms;
    c->ws = w;
    c->state = CONN_WS;
    c->h1_busy = false;
    c->req_started = false;
    c->close_after_send = false;
    if (buf_printf(&c->outq,
                   "HTTP/1.1 101 Switching Protocols\r\nDate: %s\r\nUpgrade: websocket\r\n"
                   "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n",
                   ingest_net_date(c->net), j->accept) != SONDE_OK) {
        ingest_req_destroy(r);
        ingest_conn_close(c);
        return true;
    }
    if (r->resp.body.len)
        ws_queue_frame(c, &r->resp.body);
    log_info("ingest.tail_open", "thread=%u tenant=%s", c->net->idx, j->tenant);
    ingest_router_account(c->net->ctx, r);
    ingest_req_destroy(r);
    if (c->net->draining) {
        ws_close(c, 1001, "server shutting down");
        ingest_conn_flush(c);
        return true;
    }
    ingest_ws_on_input(c); /* frames sent right behind the request; flushes */
    return true;
}

static void ws_poll_submit(ingest_conn *c)
{
    ingest_ws_conn *w = c->ws;
    ingest_ctx *ctx = c->net->ctx;
    if (!ctx->workers || !ingest_net_reserve(c->net))
        return; /* busy: the next tick tries again; nothing is lost */
    ingest_req *r = ingest_req_create(1024, 0);
    if (!r) {
        ingest_net_unreserve(c->net);
        return;
    }
    r->net = c->net;
    r->slot = c->slot;
    r->gen = c->gen;
    r->start_ns = time_mono_ns();
    r->handler = INGEST_H_LOKI_QUERY;
    r->tail = w->job;
    r->tail_poll = true;
    if (ingest_workers_submit(ctx->workers, r) != 0) {
        r->tail = NULL;
        ingest_req_destroy(r);
        ingest_net_unreserve(c->net);
        return;
    }
    w->job = NULL;
    w->last_poll_ms = c->net->now_ms;
}

void ingest_ws_tick(ingest_conn *c)
{
    ingest_ws_conn *w = c->ws;
    int64_t now = c->net->now_ms;
    if (w->close_sent)
        return;
    if (now - w->opened_ms >= INGEST_WS_MAX_LIFE_MS) {
        ws_close(c, 1000, "the tail reached its maximum duration (1h)");
        ingest_conn_flush(c);
        return;
    }
    if (now - w->last_frame_ms >= WS_PING_IDLE_MS && ws_pending_out(c) == 0) {
        /* finds clients that vanished without a FIN; their pongs are ignored */
        if (ingest_ws_frame_write(&c->outq, INGEST_WS_OP_PING, NULL, 0) != SONDE_OK) {
            ingest_conn_close(c);
            return;
        }
        w->last_frame_ms = now;
    }
    if (w->job && ws_pending_out(c) <= WS_OUT_HIGH && now - w->last_poll_ms >= INGEST_WS_POLL_MS / 2)
        ws_poll_submit(c);
    ingest_conn_flush(c);
}

void ingest_ws_drain(ingest_conn *c)
{
    ws_close(c, 1001, "server shutting down");
    ingest_conn_flush(c);
}
