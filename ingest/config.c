/*
 * config.c - command-line parsing for sonde (see config.h).
 *
 * Every numeric flag goes through core/parse.h (no atoi/strtol), and every
 * flag is validated here so that a bad value fails at start-up with a
 * message that names the flag, never later in a worker.
 *
 * Threads: main thread only.
 */
#include "ingest/config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "core/parse.h"

enum {
    OPT_DATA_DIR = 256,
    OPT_LISTEN,
    OPT_FSYNC,
    OPT_DEDUP,
    OPT_NET_THREADS,
    OPT_QUERY_WORKERS,
    OPT_AGG_SHARDS,
    OPT_MAX_BODY,
    OPT_MAX_DECODED,
    OPT_MAX_HEADER,
    OPT_MAX_INFLIGHT,
    OPT_IDLE_TIMEOUT,
    OPT_HEADER_TIMEOUT,
    OPT_BODY_TIMEOUT,
    OPT_CHECKPOINT,
    OPT_LOOKBACK,
    OPT_QUERY_TIMEOUT,
    OPT_QUERY_MAX_SAMPLES,
    OPT_OTLP_TRANSLATION,
    OPT_OTLP_PROMOTE,
    OPT_LOGS_RATE,
    OPT_LOGS_BURST,
    OPT_LOGS_MAX_STREAMS,
    OPT_LOGS_MAX_LINE,
    OPT_LOGS_MAX_LABELS,
    OPT_LOGS_RETENTION,
    OPT_LOGS_SAMPLING,
    OPT_LOGS_SAMPLING_RATE,
    OPT_LOGS_SAMPLING_THROUGHPUT,
    OPT_LOGS_SAMPLING_INTERVAL,
    OPT_LOG_LEVEL,
    OPT_VERSION,
    OPT_HELP,
};

static const struct option cli_options[] = {
    {"data-dir", required_argument, NULL, OPT_DATA_DIR},
    {"listen", required_argument, NULL, OPT_LISTEN},
    {"fsync", no_argument, NULL, OPT_FSYNC},
    {"dedup-window", required_argument, NULL, OPT_DEDUP},
    {"net-threads", required_argument, NULL, OPT_NET_THREADS},
    {"query-workers", required_argument, NULL, OPT_QUERY_WORKERS},
    {"agg-shards", required_argument, NULL, OPT_AGG_SHARDS},
    {"max-body-size", required_argument, NULL, OPT_MAX_BODY},
    {"max-decoded-size", required_argument, NULL, OPT_MAX_DECODED},
    {"max-header-size", required_argument, NULL, OPT_MAX_HEADER},
    {"max-inflight-bytes", required_argument, NULL, OPT_MAX_INFLIGHT},
    {"idle-timeout", required_argument, NULL, OPT_IDLE_TIMEOUT},
    {"header-timeout", required_argument, NULL, OPT_HEADER_TIMEOUT},
    {"body-timeout", required_argument, NULL, OPT_BODY_TIMEOUT},
    {"checkpoint-interval", required_argument, NULL, OPT_CHECKPOINT},
    {"query.lookback-delta", required_argument, NULL, OPT_LOOKBACK},
    {"query.timeout", required_argument, NULL, OPT_QUERY_TIMEOUT},
    {"query.max-samples", required_argument, NULL, OPT_QUERY_MAX_SAMPLES},
    {"otlp.translation", required_argument, NULL, OPT_OTLP_TRANSLATION},
    {"otlp.promote-resource-attributes", required_argument, NULL, OPT_OTLP_PROMOTE},
    {"logs.ingestion-rate", required_argument, NULL, OPT_LOGS_RATE},
    {"logs.ingestion-burst", required_argument, NULL, OPT_LOGS_BURST},
    {"logs.max-streams", required_argument, NULL, OPT_LOGS_MAX_STREAMS},
    {"logs.max-line-size", required_argument, NULL, OPT_LOGS_MAX_LINE},
    {"logs.max-labels", required_argument, NULL, OPT_LOGS_MAX_LABELS},
    {"logs.retention", required_argument, NULL, OPT_LOGS_RETENTION},
    {"logs.sampling", no_argument, NULL, OPT_LOGS_SAMPLING},
    {"logs.sampling.goal-rate", required_argument, NULL, OPT_LOGS_SAMPLING_RATE},
    {"logs.sampling.goal-throughput", required_argument, NULL, OPT_LOGS_SAMPLING_THROUGHPUT},
    {"logs.sampling.interval", required_argument, NULL, OPT_LOGS_SAMPLING_INTERVAL},
    {"log-level", required_argument, NULL, OPT_LOG_LEVEL},
    {"version", no_argument, NULL, OPT_VERSION},
    {"help", no_argument, NULL, OPT_HELP},
    {NULL, 0, NULL, 0},
};

void ingest_config_defaults(ingest_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->data_dir = "./data";
    cfg->dedup_window_ms = 3600 * 1000;
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    cfg->net_threads = n < 1 ? 1 : (n > 4 ? 4 : (unsigned)n);
    cfg->query_workers = 2;
    cfg->max_body_size = 32ull << 20;
    cfg->max_decoded_size = 64ull << 20;
    cfg->max_header_size = 64ull << 10;
    cfg->max_inflight_bytes = 1ull << 30;
    cfg->idle_timeout_ms = 5 * 60 * 1000;
    cfg->header_timeout_ms = 10 * 1000;
    cfg->body_timeout_ms = 60 * 1000;
    cfg->logs_rate = 64ull << 20;
    cfg->logs_burst = 128ull << 20;
    cfg->logs_max_streams = 5000;
    cfg->logs_max_line = 256ull << 10;
    cfg->logs_max_labels = 15;
    cfg->logs_sampling_goal_rate = 10;
    cfg->logs_sampling_interval_ms = 15000;
    cfg->level = LOG_INFO;
}

void ingest_config_usage(FILE *out, const char *argv0)
{
    fprintf(
        out,
        "Usage: %s [flags]\n"
        "\n"
        "sonde: one server for metrics, logs and traces. It accepts Prometheus remote_write\n"
        "at POST /api/v1/write, OTLP over HTTP (POST /v1/traces, /v1/metrics, /v1/logs) and\n"
        "OTLP/gRPC, and serves the Prometheus query API under /api/v1/ and traces under\n"
        "/api/traces/, over HTTP/1.1 and HTTP/2 (h2c prior knowledge) on every listener.\n"
        "\n"
        "Flags (durations: 90s, 5m, 1h30m; sizes: 1048576, 64KiB, 32MiB, 1GiB):\n"
        "  --data-dir DIR             RocksDB data directory (default ./data)\n"
        "  --listen HOST:PORT         address to listen on; repeatable. IPv4 (0.0.0.0:9201),\n"
        "                             IPv6 in brackets ([::1]:9201); port 0 picks a free port\n"
        "                             (logged as event=ingest.listen). Every listener serves\n"
        "                             every protocol. Default: 0.0.0.0:9201, 0.0.0.0:4317\n"
        "                             (OTLP/gRPC's port) and 0.0.0.0:4318 (OTLP/HTTP's)\n"
        "  --fsync                    fsync the WAL at every group commit, so acknowledged\n"
        "                             writes survive power loss (default off: they survive\n"
        "                             a process crash)\n"
        "  --dedup-window DUR         how long retried batches are recognised (default 1h)\n"
        "  --net-threads N            network threads, one io_uring each (default\n"
        "                             min(nproc, 4))\n"
        "  --query-workers N          threads that run queries (default 2)\n"
        "  --agg-shards N             aggregator shards (default: storage's, 2)\n"
        "  --max-body-size BYTES      largest request body as sent, compressed (default 32MiB)\n"
        "  --max-decoded-size BYTES   largest decompressed remote-write body (default 64MiB)\n"
        "  --max-header-size BYTES    largest request line + headers (default 64KiB)\n"
        "  --max-inflight-bytes BYTES memory of remote writes from decode until applied, all\n"
        "                             connections together (decoded form + body); above it\n"
        "                             writes get 503 + Retry-After: 1 (default 1GiB)\n"
        "  --idle-timeout DUR         close keep-alive connections idle this long (default 5m)\n"
        "  --header-timeout DUR       time from a request's first byte until its headers are\n"
        "                             complete; slower clients get 408 (default 10s)\n"
        "  --body-timeout DUR         time allowed for a request body to arrive (default 60s)\n"
        "  --checkpoint-interval DUR  head flush and batch-log truncation period\n"
        "                             (default: storage's, 60s)\n"
        "  --query.lookback-delta DUR PromQL lookback for instant vectors (default 5m)\n"
        "  --query.timeout DUR        longest a query may run (default 2m)\n"
        "  --query.max-samples N      samples one query may load (default 50000000)\n"
        "  --otlp.translation MODE    OTLP metric names: underscore (Prometheus names with\n"
        "                             unit suffixes and _total, the default) or none (names\n"
        "                             and attribute keys kept as sent, UTF-8)\n"
        "  --otlp.promote-resource-attributes A,B,...\n"
        "                             resource attributes copied to every series as labels\n"
        "                             (besides job and instance); repeatable\n"
        "  --logs.ingestion-rate BYTES  log line bytes per second per tenant; above it pushes\n"
        "                             get 429 (default 64MiB)\n"
        "  --logs.ingestion-burst BYTES burst above that rate (default 128MiB)\n"
        "  --logs.max-streams N       active log streams per tenant; 0: no limit (default 5000)\n"
        "  --logs.max-line-size BYTES longest log line accepted (default 256KiB)\n"
        "  --logs.max-labels N        labels per log stream (default 15)\n"
        "  --logs.retention DUR       delete log lines older than this, a day at a time\n"
        "                             (default 0: keep forever)\n"
        "  --logs.sampling            dynamic log sampling: per stream, frequent templates are\n"
        "                             sampled, rare ones and warn+ lines always kept; counts\n"
        "                             stay exact (default off)\n"
        "  --logs.sampling.goal-rate N  keep about 1 in N lines of a stream (default 10)\n"
        "  --logs.sampling.goal-throughput N  instead: about N kept lines/s per stream\n"
        "  --logs.sampling.interval DUR  how often sample rates adapt (default 15s)\n"
        "  --log-level LEVEL          debug, info, warn or error (default info)\n"
        "  --version                  print the version and exit\n"
        "  --help                     print this help and exit\n",
        argv0);
}

int ingest_listen_addr_parse(const char *s, ingest_listen_addr *out)
{
    memset(out, 0, sizeof *out);
    size_t n = strlen(s);
    char host[64];
    const char *port;
    size_t hl;
    bool v6 = false;
    if (n == 0)
        return -EINVAL;
    if (s[0] == '[') {
        const char *close = strchr(s, ']');
        if (!close || close[1] != ':')
            return -EINVAL;
        hl = (size_t)(close - s - 1);
        if (hl == 0 || hl >= sizeof host)
            return -EINVAL;
        memcpy(host, s + 1, hl);
        port = close + 2;
        v6 = true;
    } else {
        const char *colon = strrchr(s, ':');
        if (!colon || memchr(s, ':', (size_t)(colon - s)))
            return -EINVAL; /* a bare IPv6 literal needs brackets */
        hl = (size_t)(colon - s);
        if (hl >= sizeof host)
            return -EINVAL;
        memcpy(host, s, hl);
        port = colon + 1;
    }
    host[hl] = '\0';
    uint64_t p;
    if (!parse_u64(port, strlen(port), &p) || p > 65535)
        return -EINVAL;
    if (v6) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&out->ss;
        a->sin6_family = AF_INET6;
        a->sin6_port = htons((uint16_t)p);
        if (inet_pton(AF_INET6, host, &a->sin6_addr) != 1)
            return -EINVAL;
        out->len = sizeof *a;
        snprintf(out->text, sizeof out->text, "[%s]:%u", host, (unsigned)p);
    } else {
        struct sockaddr_in *a = (struct sockaddr_in *)&out->ss;
        a->sin_family = AF_INET;
        a->sin_port = htons((uint16_t)p);
        const char *h = host;
        if (hl == 0)
            h = "0.0.0.0";
        else if (strcmp(host, "localhost") == 0)
            h = "127.0.0.1";
        if (inet_pton(AF_INET, h, &a->sin_addr) != 1)
            return -EINVAL;
        out->len = sizeof *a;
        snprintf(out->text, sizeof out->text, "%s:%u", h, (unsigned)p);
    }
    return 0;
}

static bool cli_duration(const char *v, int64_t *out, bool allow_zero)
{
    int64_t ms;
    if (!parse_duration_ms(v, strlen(v), &ms) || ms < 0 || (!allow_zero && ms == 0))
        return false;
    *out = ms;
    return true;
}

static bool cli_count(const char *v, uint64_t max, unsigned *out)
{
    uint64_t n;
    if (!parse_u64(v, strlen(v), &n) || n == 0 || n > max)
        return false;
    *out = (unsigned)n;
    return true;
}

static bool cli_bytes(const char *v, uint64_t *out)
{
    uint64_t n;
    if (!parse_bytes(v, strlen(v), &n) || n == 0)
        return false;
    *out = n;
    return true;
}

ingest_cli_result ingest_config_parse(ingest_config *cfg, int argc, char **argv, FILE *out,
                                      char *err, size_t errlen)
{
    optind = 1;
    opterr = 0;
    err[0] = '\0';
    int c;
    while ((c = getopt_long(argc, argv, ":", cli_options, NULL)) != -1) {
        const char *v = optarg;
        bool ok = true;
        switch (c) {
        case OPT_DATA_DIR:
            ok = v[0] != '\0';
            cfg->data_dir = v;
            break;
        case OPT_LISTEN:
            if (cfg->nlisten == INGEST_MAX_LISTEN) {
                snprintf(err, errlen, "too many --listen flags (at most %d)", INGEST_MAX_LISTEN);
                return INGEST_CLI_EXIT_BAD;
            }
            ok = ingest_listen_addr_parse(v, &cfg->listen[cfg->nlisten]) == 0;
            if (ok)
                cfg->nlisten++;
            break;
        case OPT_FSYNC:
            cfg->fsync = true;
            break;
        case OPT_DEDUP:
            ok = cli_duration(v, &cfg->dedup_window_ms, false);
            break;
        case OPT_NET_THREADS:
            ok = cli_count(v, 256, &cfg->net_threads);
            break;
        case OPT_QUERY_WORKERS:
            ok = cli_count(v, 1024, &cfg->query_workers);
            break;
        case OPT_AGG_SHARDS:
            ok = cli_count(v, 256, &cfg->agg_shards);
            break;
        case OPT_MAX_BODY:
            ok = cli_bytes(v, &cfg->max_body_size);
            break;
        case OPT_MAX_DECODED:
            ok = cli_bytes(v, &cfg->max_decoded_size);
            break;
        case OPT_MAX_HEADER:
            ok = cli_bytes(v, &cfg->max_header_size) && cfg->max_header_size >= 1024 &&
                 cfg->max_header_size <= (64u << 20);
            break;
        case OPT_MAX_INFLIGHT:
            ok = cli_bytes(v, &cfg->max_inflight_bytes);
            break;
        case OPT_IDLE_TIMEOUT:
            ok = cli_duration(v, &cfg->idle_timeout_ms, false);
            break;
        case OPT_HEADER_TIMEOUT:
            ok = cli_duration(v, &cfg->header_timeout_ms, false);
            break;
        case OPT_BODY_TIMEOUT:
            ok = cli_duration(v, &cfg->body_timeout_ms, false);
            break;
        case OPT_CHECKPOINT:
            ok = cli_duration(v, &cfg->checkpoint_interval_ms, false);
            break;
        case OPT_LOOKBACK:
            ok = cli_duration(v, &cfg->lookback_ms, false);
            break;
        case OPT_QUERY_TIMEOUT:
            ok = cli_duration(v, &cfg->query_timeout_ms, false);
            break;
        case OPT_QUERY_MAX_SAMPLES: {
            uint64_t n;
            ok = parse_u64(v, strlen(v), &n) && n > 0;
            if (ok)
                cfg->query_max_samples = n;
            break;
        }
        case OPT_OTLP_TRANSLATION:
            ok = strcmp(v, "underscore") == 0 || strcmp(v, "none") == 0;
            cfg->otlp_keep_names = strcmp(v, "none") == 0;
            break;
        case OPT_OTLP_PROMOTE: {
            /* comma-separated, copied into the config */
            char(*copies)[256] = cfg->otlp_promote_buf;
            const char *p = v;
            while (ok && *p) {
                const char *e = strchr(p, ',');
                size_t n = e ? (size_t)(e - p) : strlen(p);
                if (n > 0) {
                    if (cfg->notlp_promote == 64 || n >= sizeof copies[0]) {
                        ok = false;
                        break;
                    }
                    memcpy(copies[cfg->notlp_promote], p, n);
                    copies[cfg->notlp_promote][n] = 0;
                    cfg->otlp_promote[cfg->notlp_promote] = copies[cfg->notlp_promote];
                    cfg->notlp_promote++;
                }
                p += n + (e ? 1 : 0);
            }
            break;
        }
        case OPT_LOGS_RATE:
            ok = cli_bytes(v, &cfg->logs_rate);
            break;
        case OPT_LOGS_BURST:
            ok = cli_bytes(v, &cfg->logs_burst);
            break;
        case OPT_LOGS_MAX_STREAMS:
            ok = parse_u64(v, strlen(v), &cfg->logs_max_streams) &&
                 cfg->logs_max_streams <= (1u << 24);
            break;
        case OPT_LOGS_MAX_LINE:
            ok = cli_bytes(v, &cfg->logs_max_line);
            break;
        case OPT_LOGS_MAX_LABELS:
            ok = cli_count(v, 1024, &cfg->logs_max_labels);
            break;
        case OPT_LOGS_RETENTION:
            ok = cli_duration(v, &cfg->logs_retention_ms, true);
            break;
        case OPT_LOGS_SAMPLING:
            cfg->logs_sampling = true;
            break;
        case OPT_LOGS_SAMPLING_RATE:
            ok = parse_u64(v, strlen(v), &cfg->logs_sampling_goal_rate) &&
                 cfg->logs_sampling_goal_rate >= 1 && cfg->logs_sampling_goal_rate <= 1000000;
            break;
        case OPT_LOGS_SAMPLING_THROUGHPUT:
            ok = parse_u64(v, strlen(v), &cfg->logs_sampling_goal_throughput) &&
                 cfg->logs_sampling_goal_throughput <= 100000000;
            break;
        case OPT_LOGS_SAMPLING_INTERVAL:
            ok = cli_duration(v, &cfg->logs_sampling_interval_ms, false) &&
                 cfg->logs_sampling_interval_ms >= 10;
            break;
        case OPT_LOG_LEVEL:
            ok = log_level_parse(v, &cfg->level) == 0;
            break;
        case OPT_VERSION:
            fprintf(out, "sonde %s\n", SONDE_VERSION);
            return INGEST_CLI_EXIT_OK;
        case OPT_HELP:
            ingest_config_usage(out, argv[0]);
            return INGEST_CLI_EXIT_OK;
        case ':':
            snprintf(err, errlen, "flag %s needs a value", argv[optind - 1]);
            return INGEST_CLI_EXIT_BAD;
        default:
            snprintf(err, errlen, "unknown flag %s", argv[optind - 1]);
            return INGEST_CLI_EXIT_BAD;
        }
        if (!ok) {
            for (const struct option *o = cli_options; o->name; o++)
                if (o->val == c)
                    snprintf(err, errlen, "invalid value \"%s\" for --%s", v ? v : "", o->name);
            return INGEST_CLI_EXIT_BAD;
        }
    }
    if (optind < argc) {
        snprintf(err, errlen, "unexpected argument \"%s\"", argv[optind]);
        return INGEST_CLI_EXIT_BAD;
    }
    if (cfg->nlisten == 0) {
        /* users who configure nothing get the ports their clients default
         * to: Prometheus-style 9201 and OTLP's 4317 (gRPC) and 4318 (HTTP) */
        static const char *const defaults[] = {"0.0.0.0:9201", "0.0.0.0:4317", "0.0.0.0:4318"};
        for (size_t i = 0; i < sizeof defaults / sizeof defaults[0]; i++)
            ingest_listen_addr_parse(defaults[i], &cfg->listen[cfg->nlisten++]);
    }
    return INGEST_CLI_RUN;
}
