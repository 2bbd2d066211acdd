/*
 * httpmsg.c - helpers over the protocol-neutral HTTP request/response.
 *
 * Threads: whichever thread runs the handler. The response body is a capped
 * buf owned by the response until http_response_fini().
 */
#include "httpmsg.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

const http_header *http_request_header(const http_request *req, const char *name)
{
    if (!req || !name)
        return NULL;
    size_t n = strlen(name);
    for (size_t i = 0; i < req->nheaders; i++) {
        const http_header *h = &req->headers[i];
        if (h->name_len == n && strncasecmp(h->name, name, n) == 0)
            return h;
    }
    return NULL;
}

void http_response_init(http_response *r, size_t max_body)
{
    memset(r, 0, sizeof(*r));
    r->status = 200;
    buf_init(&r->body, max_body);
}

void http_response_fini(http_response *r)
{
    if (!r)
        return;
    buf_fini(&r->body);
}

void http_response_text(http_response *r, int status, const char *fmt, ...)
{
    r->status = status;
    r->content_type = "text/plain; charset=utf-8";
    buf_reset(&r->body);
    va_list ap;
    va_start(ap, fmt);
    sonde_status st = buf_vprintf(&r->body, fmt, ap);
    va_end(ap);
    if (st != SONDE_OK) {
        /* Too long for the body cap: keep what fits rather than nothing. */
        char tmp[512];
        va_start(ap, fmt);
        int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
        va_end(ap);
        size_t max = r->body.max ? r->body.max : sizeof tmp;
        size_t len = n < 0 ? 0 : (size_t)n < sizeof tmp ? (size_t)n : sizeof tmp - 1;
        if (len + 1 > max)
            len = max > 0 ? max - 1 : 0;
        buf_reset(&r->body);
        (void)buf_append(&r->body, tmp, len);
    }
    (void)buf_putc(&r->body, '\n');
}

void http_response_header(http_response *r, const char *name, const char *value)
{
    if (r->nextra >= HTTP_RESPONSE_MAX_EXTRA || !name || !value)
        return; /* the cap is part of the contract; extra headers are best-effort */
    http_header *h = &r->extra[r->nextra++];
    h->name = name;
    h->name_len = strlen(name);
    h->value = value;
    h->value_len = strlen(value);
}
