/*
 * request.c - the ingest_req object (one HTTP request and its answer, for
 * both HTTP/1.1 and HTTP/2), tenant resolution, and HTTP/1.1 response
 * serialisation.
 *
 * Threads: an ingest_req has one owner at a time (see ingest_internal.h);
 * nothing here is shared.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/tenant.h"
#include "ingest/ingest_internal.h"

ingest_req *ingest_req_create(size_t max_header, size_t max_body)
{
    ingest_req *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    r->arena = arena_create(4096, 2 * max_header + 64 * 1024);
    if (!r->arena) {
        free(r);
        return NULL;
    }
    r->http.arena = r->arena;
    r->http.path = "/";
    r->http.path_len = 1;
    r->http.query = "";
    r->http.body = (const uint8_t *)"";
    buf_init(&r->body, max_body);
    http_response_init(&r->resp, INGEST_RESPONSE_MAX);
    r->keep_alive = true;
    return r;
}

ingest_req *ingest_req_adopt(arena *a /* owned */, buf *body /* owned */, const http_request *req)
{
    ingest_req *r = calloc(1, sizeof *r);
    if (!r) {
        arena_destroy(a);
        buf_fini(body);
        return NULL;
    }
    r->arena = a;
    r->body = *body;
    buf_init(body, body->max);
    r->http = *req;
    r->http.arena = a;
    r->http.body = (const uint8_t *)(r->body.data ? r->body.data : "");
    r->http.body_len = r->body.len;
    http_response_init(&r->resp, INGEST_RESPONSE_MAX);
    r->keep_alive = true;
    return r;
}

void ingest_req_destroy(ingest_req *r)
{
    if (!r)
        return;
    http_response_fini(&r->resp);
    buf_fini(&r->body);
    arena_destroy(r->arena);
    free(r);
}

int ingest_req_tenant_resolve(http_request *req)
{
    const http_header *h = http_request_header(req, "x-scope-orgid");
    if (!h) {
        req->tenant = TENANT_DEFAULT;
        return 0;
    }
    if (!tenant_valid(h->value, h->value_len))
        return -EINVAL;
    req->tenant = h->value; /* NUL-terminated copy in the request arena */
    return 0;
}

const char *ingest_status_reason(int status)
{
    switch (status) {
    case 100:
        return "Continue";
    case 200:
        return "OK";
    case 204:
        return "No Content";
    case 400:
        return "Bad Request";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 408:
        return "Request Timeout";
    case 413:
        return "Content Too Large";
    case 415:
        return "Unsupported Media Type";
    case 417:
        return "Expectation Failed";
    case 422:
        return "Unprocessable Content";
    case 429:
        return "Too Many Requests";
    case 431:
        return "Request Header Fields Too Large";
    case 500:
        return "Internal Server Error";
    case 501:
        return "Not Implemented";
    case 503:
        return "Service Unavailable";
    case 505:
        return "HTTP Version Not Supported";
    case 504:
        return "Gateway Timeout";
    default:
        return "Unknown";
    }
}

int ingest_resp_serialize_h1(const http_response *resp, bool keep_alive, bool head,
                             const char *date, buf *out)
{
    /* 1xx, 204 and 304 carry no body and no Content-Length */
    bool bodyless = resp->status == 204 || resp->status == 304 || resp->status < 200;
    sonde_status s = buf_printf(out, "HTTP/1.1 %d %s\r\nDate: %s\r\n", resp->status,
                                ingest_status_reason(resp->status), date);
    if (s == SONDE_OK && !bodyless && resp->content_type)
        s = buf_printf(out, "Content-Type: %s\r\n", resp->content_type);
    if (s == SONDE_OK && !bodyless)
        s = buf_printf(out, "Content-Length: %zu\r\n", resp->body.len);
    if (s == SONDE_OK && resp->retry_after_s > 0)
        s = buf_printf(out, "Retry-After: %d\r\n", resp->retry_after_s);
    for (size_t i = 0; s == SONDE_OK && i < resp->nextra; i++)
        s = buf_printf(out, "%.*s: %.*s\r\n", (int)resp->extra[i].name_len, resp->extra[i].name,
                       (int)resp->extra[i].value_len, resp->extra[i].value);
    if (s == SONDE_OK)
        s = buf_puts(out,
                     keep_alive ? "Connection: keep-alive\r\n\r\n" : "Connection: close\r\n\r\n");
    if (s == SONDE_OK && !bodyless && !head && resp->body.len)
        s = buf_append(out, resp->body.data, resp->body.len);
    return s == SONDE_OK ? 0 : -ENOBUFS;
}
