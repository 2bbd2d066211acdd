/*
 * status.h - the one error enum of sonde.
 *
 * Every module returns sonde_status. Translation to HTTP or gRPC codes happens
 * only at the protocol edge (ingest/). Amounts travel through out-parameters.
 */
#ifndef SONDE_CORE_STATUS_H
#define SONDE_CORE_STATUS_H

typedef enum sonde_status {
    SONDE_OK = 0,
    SONDE_ERR_INVALID,     /* input that can never be accepted (HTTP 400) */
    SONDE_ERR_LIMIT,       /* input exceeds a configured limit (HTTP 413 / 400) */
    SONDE_ERR_NOMEM,       /* allocation failed or an arena reached its cap */
    SONDE_ERR_OVERLOAD,    /* a queue is full; retry later (HTTP 503 + Retry-After) */
    SONDE_ERR_STORAGE,     /* RocksDB failed (HTTP 503) */
    SONDE_ERR_NOT_FOUND,   /* no such object (HTTP 404) */
    SONDE_ERR_UNSUPPORTED, /* a format or version we do not speak (HTTP 415) */
    SONDE_ERR_TIMEOUT,     /* a deadline passed (HTTP 503 for queries) */
    SONDE_ERR_CANCELED,    /* shutting down */
    SONDE_ERR_INTERNAL,    /* a bug: an invariant did not hold */
} sonde_status;

/* Stable lower-case name of a status ("ok", "invalid", ...). Never NULL. */
const char *sonde_status_name(sonde_status s);

#endif
