/*
 * server.h - the io_uring HTTP server: net threads, listeners, lifecycle.
 *
 * Threads: start/stop/destroy from the main thread. start() binds every
 * --listen address once per net thread (SO_REUSEPORT; port 0 is resolved by
 * the first bind and reused by the rest) and starts "ingest-net-N" threads.
 */
#ifndef SONDE_INGEST_SERVER_H
#define SONDE_INGEST_SERVER_H

#include <stddef.h>

#include "ingest/ingest_internal.h"

typedef struct ingest_server ingest_server;

/* Fills ctx->nets / ctx->nnets. -errno with a message in err on failure
 * (nothing left running). */
int ingest_server_start(ingest_ctx *ctx, ingest_server **out, char *err, size_t errlen);
/* Stops accepting, lets in-flight requests finish (bounded), joins threads.
 * Storage and workers must still be running. */
void ingest_server_stop(ingest_server *s);
/* After storage_close(): frees completions that arrived late. NULL: no-op. */
void ingest_server_destroy(ingest_server *s);

#endif
