/*
 * httpmsg.h - protocol-neutral HTTP request and response, as the ingest tier
 * hands them to handlers in other modules (query/, remote_write/ via ingest).
 * HTTP/1.1 and HTTP/2 requests look the same here.
 *
 * Ownership: every pointer in http_request points into memory owned by the
 * connection (or its request arena) and stays valid until the response has
 * been handed back. The handler owns http_response until it returns it.
 */
#ifndef SONDE_CORE_HTTPMSG_H
#define SONDE_CORE_HTTPMSG_H

#include <stddef.h>
#include <stdint.h>

#include "arena.h"
#include "buf.h"

typedef enum http_method {
    HTTP_METHOD_OTHER = 0,
    HTTP_METHOD_GET,
    HTTP_METHOD_HEAD,
    HTTP_METHOD_POST,
    HTTP_METHOD_PUT,
    HTTP_METHOD_DELETE,
    HTTP_METHOD_OPTIONS,
} http_method;

typedef struct http_header {
    const char *name; /* lower-case */
    size_t name_len;
    const char *value;
    size_t value_len;
} http_header;

typedef struct http_request {
    http_method method;
    const char *path; /* NUL-terminated, without the query string, not decoded */
    size_t path_len;
    const char *query; /* raw bytes after '?', NUL-terminated ("" if none) */
    size_t query_len;
    const http_header *headers;
    size_t nheaders;
    const uint8_t *body; /* de-chunked; not decompressed */
    size_t body_len;
    const char *tenant; /* validated X-Scope-OrgID or "anonymous" */
    arena *arena;       /* request lifetime scratch, freed after the response */
} http_request;

/* Case-insensitive lookup; NULL if absent. */
const http_header *http_request_header(const http_request *req, const char *name);

#define HTTP_RESPONSE_MAX_EXTRA 4

typedef struct http_response {
    int status;
    const char *content_type; /* static string or arena; NULL: no body type */
    int retry_after_s;        /* > 0 adds Retry-After */
    http_header extra[HTTP_RESPONSE_MAX_EXTRA];
    size_t nextra;
    buf body;
} http_response;

void http_response_init(http_response *r, size_t max_body);
void http_response_fini(http_response *r);
/* status + text/plain body "msg\n". Replaces any body so far. */
void http_response_text(http_response *r, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Adds a header; the strings must outlive the response (static or arena). */
void http_response_header(http_response *r, const char *name, const char *value);

#endif
