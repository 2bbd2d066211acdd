/*
 * config.h - sonde's command line: the flags, their defaults, and the
 * parsers for --listen addresses. Pure functions (no sockets are opened here),
 * so tests/unit/ingest/test_config.c exercises them directly.
 *
 * Threads: main thread only, before anything starts.
 */
#ifndef SONDE_INGEST_CONFIG_H
#define SONDE_INGEST_CONFIG_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>

#include "core/log.h"

#define INGEST_MAX_LISTEN 16

typedef struct ingest_listen_addr {
    struct sockaddr_storage ss; /* AF_INET or AF_INET6, port in network order */
    socklen_t len;
    char text[80]; /* as given, normalised: "0.0.0.0:9201", "[::1]:0" */
} ingest_listen_addr;

typedef struct ingest_config {
    const char *data_dir;
    ingest_listen_addr listen[INGEST_MAX_LISTEN];
    size_t nlisten;
    bool fsync;
    int64_t dedup_window_ms;
    unsigned net_threads;
    unsigned query_workers;
    unsigned agg_shards; /* 0: storage default */
    uint64_t max_body_size;
    uint64_t max_decoded_size;
    uint64_t max_header_size;
    uint64_t max_inflight_bytes; /* decoded remote writes in flight, all connections */
    int64_t idle_timeout_ms;
    int64_t header_timeout_ms;
    int64_t body_timeout_ms;
    int64_t checkpoint_interval_ms; /* 0: storage default */
    int64_t lookback_ms;            /* 0: query default */
    int64_t query_timeout_ms;       /* 0: query default */
    uint64_t query_max_samples;     /* 0: query default */
    /* log ingestion limits per tenant (Loki push and OTLP logs), Loki's names */
    uint64_t logs_rate;        /* bytes of lines per second (ingestion_rate) */
    uint64_t logs_burst;       /* bucket size (ingestion_burst_size) */
    uint64_t logs_max_streams; /* active streams (max_global_streams_per_user); 0: none */
    uint64_t logs_max_line;    /* bytes per line (max_line_size) */
    unsigned logs_max_labels;  /* labels per stream (max_label_names_per_series) */
    int64_t logs_retention_ms; /* --logs.retention: log rows kept this long; 0: forever */
    /* dynamic log sampling (sampling/sampler.h), off by default */
    bool logs_sampling;
    uint64_t logs_sampling_goal_rate;       /* keep 1 in N lines per stream on average (10) */
    uint64_t logs_sampling_goal_throughput; /* kept lines/s per stream; 0: use the rate */
    int64_t logs_sampling_interval_ms;      /* rates recomputed this often (15s) */
    /* OTLP metrics translation */
    bool otlp_keep_names;              /* --otlp.translation=none */
    const char *otlp_promote[64];      /* --otlp.promote-resource-attributes */
    size_t notlp_promote;
    char otlp_promote_buf[64][256];    /* the strings otlp_promote points to */
    log_level level;
} ingest_config;

typedef enum ingest_cli_result {
    INGEST_CLI_RUN = 0,  /* start the server */
    INGEST_CLI_EXIT_OK,  /* --help or --version printed; exit 0 */
    INGEST_CLI_EXIT_BAD, /* message in err; print usage, exit 2 */
} ingest_cli_result;

void ingest_config_defaults(ingest_config *cfg);
/* Parses argv (getopt_long; resets optind). --help / --version write to out. */
ingest_cli_result ingest_config_parse(ingest_config *cfg, int argc, char **argv, FILE *out,
                                      char *err, size_t errlen);
void ingest_config_usage(FILE *out, const char *argv0);

/* "HOST:PORT" with an IPv4 literal or "localhost", or "[IPv6]:PORT"; port
 * 0..65535 (0: the kernel picks). An empty host means 0.0.0.0.
 * 0 or -EINVAL. */
int ingest_listen_addr_parse(const char *s, ingest_listen_addr *out);

#endif
