/*
 * http1.c - HTTP/1.1 request parsing on top of libhttp-parser (see http1.h).
 *
 * Design: libhttp-parser does the tokenising, de-chunking and keep-alive
 * rules; this file adds sonde's limits and turns callbacks into one complete
 * request at a time. The parser is paused in on_message_complete, so
 * http_parser_execute() returns right after a request and the caller keeps
 * the pipelined bytes that follow.
 *
 * Invariants: hbuf never exceeds max_header_bytes (+ a little slack for the
 * count of separators), body never exceeds max_body_bytes, and a Content-Length
 * above the cap fails the request before a single body byte is stored.
 *
 * Threads: none of its own; one parser per connection, one thread at a time.
 */
#include "ingest/http1.h"

/* libhttp-parser's enum http_method clashes with core/httpmsg.h's typedef. */
#define http_method http_parser_method
#include <http_parser.h>
#undef http_method

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define H1_ARENA_BLOCK 4096

void ingest_h1_limits_defaults(ingest_h1_limits *l)
{
    l->max_header_bytes = 64 * 1024;
    l->max_headers = 128;
    l->max_body_bytes = 32u * 1024 * 1024;
}

void ingest_h1_global_init(size_t max_header_bytes)
{
    /* the raw count includes CRLFs and padding; leave room for those so our
     * own (content) count is the one that normally fires */
    size_t raw = max_header_bytes + max_header_bytes / 4 + 1024;
    if (raw > UINT32_MAX)
        raw = UINT32_MAX;
    http_parser_set_max_header_size((uint32_t)raw);
}

void ingest_h1_msg_fini(ingest_h1_msg *m)
{
    if (!m)
        return;
    arena_destroy(m->arena);
    m->arena = NULL;
    buf_fini(&m->body);
}

http_method ingest_http_method_from(const char *s, size_t n)
{
    static const struct {
        const char *name;
        http_method m;
    } map[] = {
        {"GET", HTTP_METHOD_GET}, {"HEAD", HTTP_METHOD_HEAD},     {"POST", HTTP_METHOD_POST},
        {"PUT", HTTP_METHOD_PUT}, {"DELETE", HTTP_METHOD_DELETE}, {"OPTIONS", HTTP_METHOD_OPTIONS},
    };
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (strlen(map[i].name) == n && memcmp(map[i].name, s, n) == 0)
            return map[i].m;
    return HTTP_METHOD_OTHER;
}

int ingest_h1_target_split(arena *a, const char *t, size_t n, http_request *req)
{
    if (n == 0)
        return -EINVAL;
    /* absolute-form: scheme://authority/path?query */
    if (t[0] != '/') {
        const char *sep = memmem(t, n, "://", 3);
        if (!sep)
            return -EINVAL;
        size_t off = (size_t)(sep - t) + 3;
        const char *slash = memchr(t + off, '/', n - off);
        if (!slash) {
            t = "/";
            n = 1;
        } else {
            n -= (size_t)(slash - t);
            t = slash;
        }
    }
    const char *q = memchr(t, '?', n);
    size_t plen = q ? (size_t)(q - t) : n;
    const char *qs = q ? q + 1 : "";
    size_t qlen = q ? n - plen - 1 : 0;
    char *path = arena_strndup(a, t, plen);
    char *query = arena_strndup(a, qs, qlen);
    if (!path || !query)
        return -ENOMEM;
    req->path = path;
    req->path_len = plen;
    req->query = query;
    req->query_len = qlen;
    return 0;
}

static int h1_fail(ingest_h1 *p, int status, const char *msg)
{
    if (p->error_status == 0) {
        p->error_status = status;
        p->error_msg = msg;
    }
    return -1;
}

static void h1_request_reset(ingest_h1 *p)
{
    arena_destroy(p->arena);
    p->arena = NULL;
    buf_fini(&p->body);
    buf_init(&p->body, p->lim.max_body_bytes);
    buf_reset(&p->hbuf);
    p->url_len = 0;
    p->nhdrs = 0;
    p->in_value = false;
    p->expect_continue = false;
    p->continue_pending = false;
}

static int h1_on_message_begin(http_parser *hp)
{
    ingest_h1 *p = hp->data;
    h1_request_reset(p);
    p->phase = INGEST_H1_HEADERS;
    return 0;
}

static int h1_hbuf_add(ingest_h1 *p, const char *at, size_t len)
{
    if (len > p->lim.max_header_bytes - p->hbuf.len)
        return h1_fail(p, 431, "request header fields too large");
    if (buf_append(&p->hbuf, at, len) != SONDE_OK)
        return h1_fail(p, 431, "request header fields too large");
    return 0;
}

static int h1_on_url(http_parser *hp, const char *at, size_t len)
{
    ingest_h1 *p = hp->data;
    if (h1_hbuf_add(p, at, len) != 0)
        return -1;
    p->url_len += len;
    return 0;
}

static int h1_on_header_field(http_parser *hp, const char *at, size_t len)
{
    ingest_h1 *p = hp->data;
    if (p->nhdrs == 0 || p->in_value) {
        if (p->nhdrs >= p->lim.max_headers)
            return h1_fail(p, 431, "too many request header fields");
        if (p->nhdrs == p->cap_hdrs) {
            size_t ncap = p->cap_hdrs ? p->cap_hdrs * 2 : 16;
            if (ncap > p->lim.max_headers)
                ncap = p->lim.max_headers;
            void *n = realloc(p->hoffs, ncap * sizeof p->hoffs[0]);
            if (!n)
                return h1_fail(p, 503, "out of memory");
            p->hoffs = n;
            p->cap_hdrs = ncap;
        }
        struct ingest_h1_hoff *h = &p->hoffs[p->nhdrs++];
        h->name_off = p->hbuf.len;
        h->name_len = 0;
        h->value_off = 0;
        h->value_len = 0;
        p->in_value = false;
    }
    if (h1_hbuf_add(p, at, len) != 0)
        return -1;
    p->hoffs[p->nhdrs - 1].name_len += len;
    return 0;
}

static int h1_on_header_value(http_parser *hp, const char *at, size_t len)
{
    ingest_h1 *p = hp->data;
    if (p->nhdrs == 0)
        return h1_fail(p, 400, "header value without a name");
    struct ingest_h1_hoff *h = &p->hoffs[p->nhdrs - 1];
    if (!p->in_value) {
        p->in_value = true;
        h->value_off = p->hbuf.len;
        h->value_len = 0;
    }
    /* 4 bytes per field stand for ": " and CRLF in the byte count */
    if (h1_hbuf_add(p, at, len) != 0)
        return -1;
    h->value_len += len;
    return 0;
}

/* RFC 9110 tchar. libhttp-parser (built non-strict by Debian) lets spaces
 * and other bytes through in field names; we do not. */
static bool h1_is_tchar(char ch)
{
    unsigned char u = (unsigned char)ch;
    if ((u >= 'a' && u <= 'z') || (u >= 'A' && u <= 'Z') || (u >= '0' && u <= '9'))
        return true;
    return u && strchr("!#$%&'*+-.^_`|~", u) != NULL;
}

/* The request line must end in " HTTP/d.d": non-strict libhttp-parser does
 * not check the letters of the version. */
static bool h1_line_valid(const char *s, size_t n)
{
    if (n && s[n - 1] == '\r')
        n--;
    if (n < 14) /* "M / HTTP/1.1" needs at least 12; methods are >= 3 letters */
        return false;
    const char *v = s + n - 9;
    return memcmp(v, " HTTP/", 6) == 0 && v[6] >= '0' && v[6] <= '9' && v[7] == '.' &&
           v[8] >= '0' && v[8] <= '9';
}

/* Collects the request line of the request being parsed from the raw bytes
 * (they may arrive split over many feeds). -1 once it is complete and bad. */
static int h1_line_scan(ingest_h1 *p, const char *data, size_t len)
{
    for (size_t i = 0; i < len && !p->line_done; i++) {
        char ch = data[i];
        if (p->line.len == 0 && (ch == '\r' || ch == '\n'))
            continue; /* empty lines before a request are allowed */
        if (ch == '\n') {
            p->line_done = true;
            if (!h1_line_valid(p->line.data, p->line.len))
                return h1_fail(p, 400, "malformed request line");
            break;
        }
        if (buf_putc(&p->line, ch) != SONDE_OK)
            return h1_fail(p, 431, "request line too long");
    }
    return 0;
}

static bool h1_token_in(const char *v, size_t n, const char *tok)
{
    size_t tl = strlen(tok);
    for (size_t i = 0; i + tl <= n; i++)
        if (strncasecmp(v + i, tok, tl) == 0)
            return true;
    return false;
}

static int h1_on_headers_complete(http_parser *hp)
{
    ingest_h1 *p = hp->data;
    if (hp->http_major != 1)
        return h1_fail(p, 505, "HTTP version not supported: use HTTP/1.x or HTTP/2");
    if (p->hbuf.len + 4 * p->nhdrs > p->lim.max_header_bytes)
        return h1_fail(p, 431, "request header fields too large");
    if ((hp->flags & F_CONTENTLENGTH) && hp->content_length > p->lim.max_body_bytes)
        return h1_fail(p, 413, "request body larger than --max-body-size");

    p->arena = arena_create(H1_ARENA_BLOCK, 2 * p->lim.max_header_bytes + 64 * 1024);
    if (!p->arena)
        return h1_fail(p, 503, "out of memory");
    http_request *req = &p->ready.req;
    memset(req, 0, sizeof *req);
    req->arena = p->arena;
    req->method =
        ingest_http_method_from(http_method_str(hp->method), strlen(http_method_str(hp->method)));
    if (ingest_h1_target_split(p->arena, p->hbuf.data ? p->hbuf.data : "", p->url_len, req) != 0)
        return h1_fail(p, 400, "malformed request target");

    http_header *hs = arena_calloc(p->arena, p->nhdrs ? p->nhdrs : 1, sizeof *hs);
    if (!hs)
        return h1_fail(p, 431, "request header fields too large");
    for (size_t i = 0; i < p->nhdrs; i++) {
        const struct ingest_h1_hoff *o = &p->hoffs[i];
        char *name = arena_strndup(p->arena, p->hbuf.data + o->name_off, o->name_len);
        char *value =
            arena_strndup(p->arena, o->value_len ? p->hbuf.data + o->value_off : "", o->value_len);
        if (!name || !value)
            return h1_fail(p, 431, "request header fields too large");
        if (o->name_len == 0)
            return h1_fail(p, 400, "empty header field name");
        for (size_t k = 0; k < o->name_len; k++) {
            if (!h1_is_tchar(name[k]))
                return h1_fail(p, 400, "invalid character in a header field name");
            if (name[k] >= 'A' && name[k] <= 'Z')
                name[k] = (char)(name[k] - 'A' + 'a');
        }
        hs[i] = (http_header){name, o->name_len, value, o->value_len};
        if (o->name_len == 6 && memcmp(name, "expect", 6) == 0) {
            if (h1_token_in(value, o->value_len, "100-continue"))
                p->expect_continue = true;
            else
                return h1_fail(p, 417, "unsupported Expect header");
        }
    }
    req->headers = hs;
    req->nheaders = p->nhdrs;
    p->phase = INGEST_H1_BODY;
    if (p->expect_continue && hp->http_major == 1 && hp->http_minor >= 1)
        p->continue_pending = true;
    return 0;
}

static int h1_on_body(http_parser *hp, const char *at, size_t len)
{
    ingest_h1 *p = hp->data;
    if (buf_append(&p->body, at, len) != SONDE_OK)
        return h1_fail(p, 413, "request body larger than --max-body-size");
    return 0;
}

static int h1_on_message_complete(http_parser *hp)
{
    ingest_h1 *p = hp->data;
    ingest_h1_msg *m = &p->ready;
    m->arena = p->arena;
    m->body = p->body;
    m->req.body = (const uint8_t *)(m->body.data ? m->body.data : "");
    m->req.body_len = m->body.len;
    m->keep_alive = http_should_keep_alive(hp) && !hp->upgrade;
    p->arena = NULL;
    buf_init(&p->body, p->lim.max_body_bytes);
    p->phase = INGEST_H1_DONE;
    p->continue_pending = false; /* the body is already here */
    http_parser_pause(hp, 1);
    return 0;
}

static const http_parser_settings h1_settings = {
    .on_message_begin = h1_on_message_begin,
    .on_url = h1_on_url,
    .on_header_field = h1_on_header_field,
    .on_header_value = h1_on_header_value,
    .on_headers_complete = h1_on_headers_complete,
    .on_body = h1_on_body,
    .on_message_complete = h1_on_message_complete,
};

int ingest_h1_init(ingest_h1 *p, const ingest_h1_limits *lim)
{
    memset(p, 0, sizeof *p);
    p->parser = calloc(1, sizeof *p->parser);
    if (!p->parser) {
        p->phase = INGEST_H1_FAILED;
        return -ENOMEM;
    }
    if (lim)
        p->lim = *lim;
    else
        ingest_h1_limits_defaults(&p->lim);
    http_parser_init(p->parser, HTTP_REQUEST);
    p->parser->data = p;
    buf_init(&p->body, p->lim.max_body_bytes);
    buf_init(&p->hbuf, p->lim.max_header_bytes);
    buf_init(&p->line, p->lim.max_header_bytes);
    p->phase = INGEST_H1_IDLE;
    return 0;
}

void ingest_h1_fini(ingest_h1 *p)
{
    if (!p)
        return;
    arena_destroy(p->arena);
    p->arena = NULL;
    buf_fini(&p->body);
    buf_fini(&p->hbuf);
    buf_fini(&p->line);
    free(p->hoffs);
    p->hoffs = NULL;
    p->cap_hdrs = 0;
    free(p->parser);
    p->parser = NULL;
    if (p->phase == INGEST_H1_DONE)
        ingest_h1_msg_fini(&p->ready);
    p->phase = INGEST_H1_FAILED;
}

ingest_h1_event ingest_h1_feed(ingest_h1 *p, const char *data, size_t len, size_t *used)
{
    *used = 0;
    if (p->phase == INGEST_H1_FAILED || !p->parser)
        return INGEST_H1_ERROR;
    if (p->phase == INGEST_H1_DONE)
        return INGEST_H1_REQUEST;
    if (len == 0)
        return INGEST_H1_NEED_MORE;
    if (!p->line_done && h1_line_scan(p, data, len) != 0) {
        p->phase = INGEST_H1_FAILED;
        return INGEST_H1_ERROR;
    }
    size_t n = http_parser_execute(p->parser, &h1_settings, data, len);
    *used = n;
    enum http_errno e = HTTP_PARSER_ERRNO(p->parser);
    if (p->phase == INGEST_H1_DONE)
        return INGEST_H1_REQUEST;
    if (e != HPE_OK && e != HPE_PAUSED) {
        if (e == HPE_HEADER_OVERFLOW)
            h1_fail(p, 431, "request header fields too large");
        else if (e == HPE_INVALID_METHOD)
            h1_fail(p, 400, "malformed request line: unknown method");
        else
            h1_fail(p, 400, http_errno_description(e));
        p->phase = INGEST_H1_FAILED;
        return INGEST_H1_ERROR;
    }
    if (p->parser->upgrade && p->phase != INGEST_H1_DONE) {
        h1_fail(p, 400, "protocol upgrade is not supported");
        p->phase = INGEST_H1_FAILED;
        return INGEST_H1_ERROR;
    }
    if (p->continue_pending) {
        p->continue_pending = false;
        return INGEST_H1_CONTINUE;
    }
    return INGEST_H1_NEED_MORE;
}

bool ingest_h1_take(ingest_h1 *p, ingest_h1_msg *out)
{
    if (p->phase != INGEST_H1_DONE)
        return false;
    *out = p->ready;
    memset(&p->ready, 0, sizeof p->ready);
    p->phase = INGEST_H1_IDLE;
    p->line_done = false;
    buf_reset(&p->line);
    if (p->parser->upgrade) {
        /* the bytes after an Upgrade request are not HTTP/1.1 any more */
        h1_fail(p, 400, "protocol upgrade is not supported");
        p->phase = INGEST_H1_FAILED;
        out->keep_alive = false;
        return true;
    }
    http_parser_pause(p->parser, 0);
    return true;
}
