/*
 * http1.h - the HTTP/1.1 request parser as a pure, socket-free API.
 *
 * Bytes go in with ingest_h1_feed(); complete requests come out one at a
 * time. There is no I/O and no clock here, so unit tests and the fuzz target
 * (tests/fuzz/fuzz_http1.c) drive exactly the code the server runs.
 *
 *   ingest_h1 p; ingest_h1_init(&p, &limits);
 *   size_t used; ingest_h1_event ev = ingest_h1_feed(&p, data, len, &used);
 *   REQUEST  -> ingest_h1_take(&p, &msg) (ownership of msg moves to caller),
 *               then feed the bytes after `used` (pipelining).
 *   CONTINUE -> the request said "Expect: 100-continue" and its size is
 *               acceptable: write "HTTP/1.1 100 Continue" and feed on.
 *   ERROR    -> answer ingest_h1_error_status() / _message(), then close.
 *   NEED_MORE-> all of `data` was consumed; wait for more bytes.
 *
 * Limits (checked before anything is allocated for them): header bytes
 * (request line + fields, 431), header count (431), and body bytes, checked
 * against Content-Length as soon as the headers are complete (413) and while
 * de-chunking (413).
 *
 * Threads: one parser belongs to one connection, used by one thread.
 * Errors are HTTP status codes, since this is the protocol edge.
 */
#ifndef SONDE_INGEST_HTTP1_H
#define SONDE_INGEST_HTTP1_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/arena.h"
#include "core/buf.h"
#include "core/httpmsg.h"

typedef struct ingest_h1_limits {
    size_t max_header_bytes; /* request line + header names and values (default 64 KiB) */
    size_t max_headers;      /* header fields per request (default 128) */
    size_t max_body_bytes;   /* de-chunked body (default 32 MiB) */
} ingest_h1_limits;

void ingest_h1_limits_defaults(ingest_h1_limits *l);

typedef enum ingest_h1_event {
    INGEST_H1_NEED_MORE = 0,
    INGEST_H1_CONTINUE,
    INGEST_H1_REQUEST,
    INGEST_H1_ERROR,
} ingest_h1_event;

typedef enum ingest_h1_phase {
    INGEST_H1_IDLE = 0, /* between requests: no byte of the next one seen */
    INGEST_H1_HEADERS,  /* request line / headers arriving */
    INGEST_H1_BODY,     /* headers complete, body arriving */
    INGEST_H1_DONE,     /* a complete request waits for ingest_h1_take() */
    INGEST_H1_FAILED,   /* protocol error; the connection must close */
} ingest_h1_phase;

/* A complete request. Owns its arena (headers, path, query) and body. */
typedef struct ingest_h1_msg {
    http_request req; /* req.arena == arena; req.tenant is left NULL */
    arena *arena;
    buf body;
    bool keep_alive; /* HTTP/1.1 default, Connection: close, HTTP/1.0 rules */
} ingest_h1_msg;

void ingest_h1_msg_fini(ingest_h1_msg *m); /* frees arena and body; NULL-safe */

struct http_parser; /* libhttp-parser; kept out of this header because its
                     * enum http_method clashes with core/httpmsg.h */

typedef struct ingest_h1 {
    struct http_parser *parser; /* owned */
    ingest_h1_limits lim;
    ingest_h1_phase phase;
    int error_status;      /* 400, 413, 431, ... once FAILED */
    const char *error_msg; /* static string */
    bool continue_pending; /* Expect: 100-continue seen, not yet reported */
    bool expect_continue;
    /* request under construction */
    arena *arena;
    buf body;
    buf hbuf; /* url, then header names/values, back to back */
    buf line; /* raw request line, checked when its LF arrives */
    bool line_done;
    size_t url_len;
    struct ingest_h1_hoff {
        size_t name_off, name_len, value_off, value_len;
    } * hoffs;
    size_t nhdrs, cap_hdrs;
    bool in_value;
    ingest_h1_msg ready; /* valid in phase DONE */
} ingest_h1;

/* -ENOMEM if the parser state cannot be allocated. */
int ingest_h1_init(ingest_h1 *p, const ingest_h1_limits *lim);
void ingest_h1_fini(ingest_h1 *p);

/* Parses up to len bytes; *used receives how many were consumed (the rest
 * belong to the next request and must be fed again after take()). */
ingest_h1_event ingest_h1_feed(ingest_h1 *p, const char *data, size_t len, size_t *used);
/* Moves the complete request into *out (phase DONE only); the parser is then
 * ready for the next pipelined request. Returns false if none is ready. */
bool ingest_h1_take(ingest_h1 *p, ingest_h1_msg *out);

static inline ingest_h1_phase ingest_h1_phase_get(const ingest_h1 *p)
{
    return p->phase;
}
static inline int ingest_h1_error_status(const ingest_h1 *p)
{
    return p->error_status;
}
static inline const char *ingest_h1_error_message(const ingest_h1 *p)
{
    return p->error_msg;
}

/* Sets libhttp-parser's process-wide raw header cap (it also counts
 * whitespace and line ends). Call once at start-up, before any thread parses. */
void ingest_h1_global_init(size_t max_header_bytes);

/* Parses a request target into path and query (split at '?'), both
 * NUL-terminated copies in the arena. Absolute-form targets keep only the
 * path. -EINVAL for an empty or malformed target, -ENOMEM on arena cap. */
int ingest_h1_target_split(arena *a, const char *t, size_t n, http_request *req);

http_method ingest_http_method_from(const char *s, size_t n);

#endif
