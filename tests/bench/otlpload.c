/*
 * otlpload.c - OTLP load generator for benchmarks: traces, metrics or logs,
 * over OTLP/HTTP (protobuf) or OTLP/gRPC (h2c, prior knowledge).
 *
 * Like rwload, it encodes every request (protobuf by hand, field numbers from
 * ingest/otlp/proto/) and keeps all bodies in memory BEFORE the clock starts.
 * Then --conns threads each open one connection with a plain blocking socket:
 *   http  keep-alive HTTP/1.1, one request at a time (POST /v1/<signal>);
 *   grpc  one nghttp2 client session, up to --streams requests in flight.
 * It prints items/s, requests/s, errors and request latency percentiles, and
 * ends with one machine-readable "RESULT ..." line.
 *
 * Lanes: a connection carries 1 (http) or --streams (grpc) lanes; a lane has
 * at most one request in flight and sends its own bodies in order, retries
 * included. Metric series are sharded by lane (a lane owns whole resources,
 * as one SDK exporter does), so every series' points arrive in time order
 * even with several streams per connection.
 *
 * Content:
 *   traces   spans in traces of 1-8 spans (random 16-byte trace ids, random
 *            span ids, children point at the root), 10 attributes each, an
 *            event on ~15%, status ERROR on ~3%, resources from 10 services
 *            x 4 instances (service.name, service.instance.id, host.name...);
 *   logs     bodies are the Content column of LogHub's
 *            DIR/<Name>/<Name>_2k.log_structured.csv
 *            (--loghub DIR) with every digit redrawn, so lines are not
 *            identical; severity INFO 85%, WARN 10%, ERROR 5%; 3 attributes;
 *            trace/span ids on 30%;
 *   metrics  100 series per resource: a histogram (30 series, 15 buckets), a
 *            cumulative monotonic sum (40), two gauges (20 + 10). Round r
 *            gives each of a lane's series one point at start + r*interval;
 *            the default start puts the last round at "now".
 * Every body differs from every other (ids, timestamps), which matters: sonde
 * deduplicates retried requests by content hash.
 *
 * Answers: 2xx (HTTP) or grpc-status 0 acknowledge the request; its
 * Export*ServiceResponse's partial_success.rejected_* items are subtracted.
 * HTTP 5xx/429, connection errors, RST_STREAM and the gRPC codes OTLP calls
 * retryable (1, 4, 10, 11, 14, 15) are retried with the same bytes (bounded
 * by --max-retries, with backoff); anything else counts as rejected.
 *
 * Bounds: total requests are fixed before sending and their total size is
 * capped by --max-mem-mb; after --duration-max nothing new is sent (gRPC
 * waits at most 30 s more for the answers to the streams in flight, so that
 * whatever the server committed is counted); sockets have send/receive
 * timeouts; responses are capped.
 * CPU: gen_cpu_s in the RESULT line is this process's user+system time over
 * the sending phase only (getrusage), for the generator's share of a machine
 * it shares with the server.
 * Threads: main (build, report) and otlpload-N senders; the only shared state
 * is each thread's own result slot, read by main after join.
 */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <nghttp2/nghttp2.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#define LOADGEN_PROG "otlpload"
#include "loadgen.h"

#define MAX_STREAMS 128
#define H2_IOBUF ((size_t)256 << 10) /* gRPC socket reads and coalesced writes */
#define GRPC_RESP_KEEP 1024          /* bytes of a gRPC answer kept for partial_success */

enum { SIG_TRACES, SIG_METRICS, SIG_LOGS };
static const char *const k_sig_name[3] = {"traces", "metrics", "logs"};
static const char *const k_http_path[3] = {"/v1/traces", "/v1/metrics", "/v1/logs"};
static const char *const k_grpc_path[3] = {
    "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
    "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export",
    "/opentelemetry.proto.collector.logs.v1.LogsService/Export"};

typedef struct opts {
    lg_opts lg; /* url.path "": the signal's standard path */
    int signal;
    bool grpc;
    bool gzip;
    long items_per_request;
    long requests;
    long streams;
    long series;
    long interval_ms;
    long max_mem_mb;
    uint64_t seed;
    const char *loghub;
} opts;

typedef struct body {
    uint8_t *data; /* gRPC: with the 5-byte message prefix */
    size_t len;
    uint32_t nitems;
} body;

/* A lane sends its bodies in order with at most one request in flight. */
typedef struct lane {
    body *bodies;
    size_t nbodies;
    size_t next;       /* next body to send */
    long attempt;      /* attempts made for bodies[next] */
    bool inflight;     /* grpc: a stream is open for bodies[next] */
    double not_before; /* retry backoff, monotonic seconds */
    /* grpc stream state */
    size_t sent;
    double t0;
    int http_status;
    int grpc_status; /* -1: none received */
    uint32_t rst_code;
    bool closed;
    char grpc_msg[128];
    uint8_t resp[GRPC_RESP_KEEP];
    size_t resp_len;
} lane;

typedef struct conn_work {
    int idx;
    const opts *o;
    lane *lanes;
    int nlanes;
    lg_stats st; /* refused_items: refused in partial_success */
} conn_work;

static void usage(void)
{
    fprintf(stderr,
            "usage: otlpload --url http://HOST:PORT[/path] --signal traces|metrics|logs\n"
            "                [--transport http|grpc] [options]\n"
            "  --items-per-request N   spans / data points / log records per request\n"
            "                          (default 500 / 2000 / 1000)\n"
            "  --requests N            requests in all (default 200)\n"
            "  --conns C               connections, one thread each (default 2)\n"
            "  --streams S             grpc: requests in flight per connection (default 8)\n"
            "  --duration-max SECONDS  stop sending after this long (default 60)\n"
            "  --max-retries R         retries of a retryable failure (default 10)\n"
            "  --series N              metrics: series in all, 100 per resource (default 20000)\n"
            "  --interval-ms MS        metrics: time between rounds (default 10000)\n"
            "  --compress none|gzip    request compression (default none)\n"
            "  --loghub DIR            logs: LogHub dir, with <Name>/<Name>_2k.log_structured.csv\n"
            "                          (default /work/shared/conformance/loghub)\n"
            "  --seed N                PRNG seed (default: time)\n"
            "  --max-mem-mb M          cap on the encoded bodies (default 4096)\n"
            "  --label TEXT            echoed in the RESULT line\n"
            "The URL's path, if any, replaces /v1/<signal> (e.g. VictoriaMetrics'\n"
            "/opentelemetry/v1/metrics).\n");
    exit(2);
}

/* ---------------------------------------------------------------- PRNG */

typedef struct rng {
    uint64_t s;
} rng;

static uint64_t rng_next(rng *r)
{
    uint64_t z = (r->s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static uint32_t rng_below(rng *r, uint32_t n)
{
    return (uint32_t)((rng_next(r) >> 32) * n >> 32);
}

static bool rng_chance(rng *r, uint32_t percent)
{
    return rng_below(r, 100) < percent;
}

static void rng_bytes(rng *r, uint8_t *out, size_t n)
{
    for (size_t i = 0; i < n; i += 8) {
        uint64_t v = rng_next(r);
        for (size_t k = 0; k < 8 && i + k < n; k++)
            out[i + k] = (uint8_t)(v >> (8 * k));
    }
}

/* ---------------------------------------------------------------- protobuf */

static void put_uint(buf *b, uint32_t field, uint64_t v)
{
    put_tag(b, field, 0);
    put_varint(b, v);
}

static void put_fixed64(buf *b, uint32_t field, uint64_t v)
{
    put_tag(b, field, 1);
    buf_need(b, 8);
    for (int k = 0; k < 8; k++)
        b->p[b->len++] = (uint8_t)(v >> (8 * k));
}

static void put_fixed32(buf *b, uint32_t field, uint32_t v)
{
    put_tag(b, field, 5);
    buf_need(b, 4);
    for (int k = 0; k < 4; k++)
        b->p[b->len++] = (uint8_t)(v >> (8 * k));
}

static void put_double(buf *b, uint32_t field, double d)
{
    uint64_t bits;
    memcpy(&bits, &d, 8);
    put_fixed64(b, field, bits);
}

static void put_str(buf *b, uint32_t field, const char *s)
{
    put_bytes(b, field, s, strlen(s));
}

/* Nested messages: msg_begin writes the tag and a one-byte length slot;
 * msg_end writes the real length, moving the content if it needs more. */
static size_t msg_begin(buf *b, uint32_t field)
{
    put_tag(b, field, 2);
    buf_need(b, 1);
    b->len++;
    return b->len;
}

static void msg_end(buf *b, size_t start)
{
    size_t n = b->len - start;
    size_t vl = varint_len(n);
    if (vl > 1) {
        buf_need(b, vl - 1);
        memmove(b->p + start + vl - 1, b->p + start, n);
        b->len += vl - 1;
    }
    uint8_t *q = b->p + start - 1;
    uint64_t v = n;
    while (v >= 0x80) {
        *q++ = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    *q = (uint8_t)v;
}

/* KeyValue{key, AnyValue{...}} as field `field` of the enclosing message:
 * kv_begin opens both and returns the AnyValue's start (the KeyValue's in
 * *kv); the caller writes the value's field; kv_end closes both. */
static size_t kv_begin(buf *b, uint32_t field, const char *k, size_t *kv)
{
    *kv = msg_begin(b, field);
    put_str(b, 1, k);
    return msg_begin(b, 2);
}

static void kv_end(buf *b, size_t kv, size_t av)
{
    msg_end(b, av);
    msg_end(b, kv);
}

static void kv_str(buf *b, uint32_t field, const char *k, const char *v)
{
    size_t kv, av = kv_begin(b, field, k, &kv);
    put_str(b, 1, v);
    kv_end(b, kv, av);
}

static void kv_int(buf *b, uint32_t field, const char *k, int64_t v)
{
    size_t kv, av = kv_begin(b, field, k, &kv);
    put_uint(b, 3, (uint64_t)v);
    kv_end(b, kv, av);
}

static void kv_bool(buf *b, uint32_t field, const char *k, bool v)
{
    size_t kv, av = kv_begin(b, field, k, &kv);
    put_uint(b, 2, v ? 1 : 0);
    kv_end(b, kv, av);
}

static void kv_double(buf *b, uint32_t field, const char *k, double v)
{
    size_t kv, av = kv_begin(b, field, k, &kv);
    put_double(b, 4, v);
    kv_end(b, kv, av);
}

/* ---------------------------------------------------------------- resources */

#define NSERVICES 10
#define INSTANCES_PER_SERVICE 4
static const char *const k_services[NSERVICES] = {
    "frontend",        "cartservice",          "checkoutservice", "paymentservice",
    "shippingservice", "emailservice",         "currencyservice", "recommendationservice",
    "adservice",       "productcatalogservice"};
static const char *const k_langs[NSERVICES] = {"nodejs", "dotnet", "go",     "nodejs", "rust",
                                               "ruby",   "cpp",    "python", "java",   "go"};

/* Resource{attributes} as field 1 of Resource{Spans,Metrics,Logs}; resource
 * index r: service r % 10, instance r / 10. */
static void put_resource(buf *b, long r)
{
    char v[96];
    size_t rs = msg_begin(b, 1);
    kv_str(b, 1, "service.name", k_services[r % NSERVICES]);
    kv_str(b, 1, "service.namespace", "shop");
    snprintf(v, sizeof v, "%s-%ld", k_services[r % NSERVICES], r / NSERVICES);
    kv_str(b, 1, "service.instance.id", v);
    kv_str(b, 1, "service.version", "1.12.3");
    snprintf(v, sizeof v, "node-%05ld.prod.example.internal", (r * 7919) % 100000);
    kv_str(b, 1, "host.name", v);
    kv_str(b, 1, "deployment.environment.name", "production");
    kv_str(b, 1, "telemetry.sdk.name", "opentelemetry");
    kv_str(b, 1, "telemetry.sdk.language", k_langs[r % NSERVICES]);
    kv_str(b, 1, "telemetry.sdk.version", "1.38.0");
    msg_end(b, rs);
}

static void put_scope(buf *b, const char *name)
{
    size_t sc = msg_begin(b, 1);
    put_str(b, 1, name);
    put_str(b, 2, "0.1.0");
    msg_end(b, sc);
}

/* Traces and logs: 1-4 resources per request, never more than its n items. */
static long request_resources(rng *r, long n)
{
    long nres = 1 + (long)rng_below(r, 4);
    return nres < n ? nres : n;
}

/* Opens Resource{Spans,Logs}{resource, Scope{Spans,Logs}{scope}} as field 1
 * of the request, for a random resource. Returns the scope's start, the
 * resource's in *rs: close them with msg_end in that order. */
static size_t open_random_resource(buf *b, rng *r, const char *scope, size_t *rs)
{
    long res = (long)rng_below(r, NSERVICES * INSTANCES_PER_SERVICE);
    *rs = msg_begin(b, 1);
    put_resource(b, res);
    size_t ss = msg_begin(b, 2);
    put_scope(b, scope);
    return ss;
}

/* ---------------------------------------------------------------- traces */

static const char *const k_methods[4] = {"GET", "GET", "POST", "PUT"};
static const char *const k_routes[10] = {
    "/api/cart",           "/api/checkout",     "/api/products/{id}", "/api/recommendations",
    "/api/currency",       "/api/shipping",     "/api/ads",           "/api/users/{id}/orders",
    "/api/payment/charge", "/api/email/confirm"};
static const char *const k_client_names[6] = {"SELECT shop.products",
                                              "INSERT shop.orders",
                                              "redis GET",
                                              "redis SET",
                                              "grpc oteldemo.CurrencyService/Convert",
                                              "HTTP POST"};
static const char *const k_internal_names[4] = {"render", "compute-tax", "validate-cart",
                                                "serialize"};
static const char *const k_agents[3] = {
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0",
    "python-requests/2.31.0", "okhttp/4.12.0"};

static uint64_t g_base_ns; /* start of the generated time range */

typedef struct lane_gen {
    rng r;
    uint64_t clock_ns; /* advances with every item */
    long lane_idx, nlanes;
    /* metrics */
    long round, res_pos, series_pos; /* next point: round, resource #, series # */
    long nres;                       /* resources this lane owns */
    uint64_t m_start_ns;
} lane_gen;

static void put_span(buf *b, lane_gen *g, const uint8_t tid[16], const uint8_t sid[8],
                     const uint8_t *parent, int kind)
{
    rng *r = &g->r;
    char v[128];
    size_t sp = msg_begin(b, 2); /* ScopeSpans.spans */
    put_bytes(b, 1, tid, 16);
    put_bytes(b, 2, sid, 8);
    if (parent)
        put_bytes(b, 4, parent, 8);
    int route = (int)rng_below(r, 10);
    const char *method = k_methods[rng_below(r, 4)];
    if (kind == 2)
        snprintf(v, sizeof v, "%s %s", method, k_routes[route]);
    else if (kind == 3)
        snprintf(v, sizeof v, "%s", k_client_names[rng_below(r, 6)]);
    else
        snprintf(v, sizeof v, "%s", k_internal_names[rng_below(r, 4)]);
    put_str(b, 5, v);
    put_uint(b, 6, (uint64_t)kind);
    g->clock_ns += 1000 + rng_below(r, 20000);
    uint64_t start = g->clock_ns;
    uint64_t dur = 50000 + (uint64_t)rng_below(r, 5000) * (uint64_t)rng_below(r, 200000);
    put_fixed64(b, 7, start);
    put_fixed64(b, 8, start + dur);
    /* 10 attributes */
    bool err = rng_chance(r, 3);
    int code = err ? 500 + (int)rng_below(r, 4) : (rng_chance(r, 5) ? 404 : 200);
    kv_str(b, 9, "http.request.method", method);
    kv_str(b, 9, "http.route", k_routes[route]);
    snprintf(v, sizeof v, "/api/users/%u/orders/%u", rng_below(r, 1000000), rng_below(r, 100000));
    kv_str(b, 9, "url.path", v);
    kv_int(b, 9, "http.response.status_code", code);
    snprintf(v, sizeof v, "%s.shop.svc.cluster.local", k_services[rng_below(r, NSERVICES)]);
    kv_str(b, 9, "server.address", v);
    kv_int(b, 9, "server.port", 8080);
    kv_str(b, 9, "network.protocol.version", rng_chance(r, 50) ? "1.1" : "2");
    kv_str(b, 9, "user_agent.original", k_agents[rng_below(r, 3)]);
    snprintf(v, sizeof v, "10.%u.%u.%u", rng_below(r, 256), rng_below(r, 256), rng_below(r, 256));
    kv_str(b, 9, "client.address", v);
    kv_int(b, 9, "thread.id", 1 + rng_below(r, 64));
    if (rng_chance(r, 15)) {
        size_t ev = msg_begin(b, 11);
        put_fixed64(b, 1, start + dur / 2);
        if (err) {
            put_str(b, 2, "exception");
            kv_str(b, 3, "exception.type", "java.net.SocketTimeoutException");
            snprintf(v, sizeof v, "Read timed out after %u ms", 1000 + rng_below(r, 9000));
            kv_str(b, 3, "exception.message", v);
        } else {
            put_str(b, 2, "cache.miss");
            snprintf(v, sizeof v, "product:%u", rng_below(r, 100000));
            kv_str(b, 3, "cache.key", v);
            kv_double(b, 3, "cache.fill_ratio", (double)rng_below(r, 1000) / 1000.0);
            kv_bool(b, 3, "cache.stale", rng_chance(r, 20));
        }
        msg_end(b, ev);
    }
    if (err || kind == 2) {
        size_t st = msg_begin(b, 15);
        if (err)
            put_str(b, 2, "upstream request failed");
        put_uint(b, 3, err ? 2 : 1);
        msg_end(b, st);
    }
    put_fixed32(b, 16, 0x101); /* sampled, context has is_remote */
    msg_end(b, sp);
}

/* ExportTraceServiceRequest with n spans over 1-4 resources. */
static uint32_t build_traces(buf *b, lane_gen *g, long n)
{
    rng *r = &g->r;
    long nres = request_resources(r, n);
    long done = 0;
    for (long k = 0; k < nres; k++) {
        long want = (n - done) / (nres - k);
        size_t rs, ss = open_random_resource(b, r, "io.opentelemetry.sonde.otlpload", &rs);
        long made = 0;
        while (made < want) {
            uint8_t tid[16], root[8], sid[8];
            rng_bytes(r, tid, 16);
            rng_bytes(r, root, 8);
            long len = 1 + (long)rng_below(r, 8);
            if (len > want - made)
                len = want - made;
            put_span(b, g, tid, root, NULL, 2);
            for (long s = 1; s < len; s++) {
                rng_bytes(r, sid, 8);
                put_span(b, g, tid, sid, root, rng_chance(r, 60) ? 3 : 1);
            }
            made += len;
        }
        msg_end(b, ss);
        msg_end(b, rs);
        done += made;
    }
    return (uint32_t)done;
}

/* ---------------------------------------------------------------- logs */

typedef struct logline {
    char *text;
    size_t len;
    int dataset;
} logline;

static logline *g_lines;
static size_t g_nlines;
static char g_datasets[32][32];
static int g_ndatasets;

/* One CSV field (RFC 4180 quotes) starting at *p; returns its end, copies
 * the unquoted value into out (capped). */
static const char *csv_field(const char *p, const char *end, char *out, size_t cap, size_t *olen)
{
    size_t n = 0;
    if (p < end && *p == '"') {
        p++;
        while (p < end) {
            if (*p == '"') {
                if (p + 1 < end && p[1] == '"') {
                    if (n + 1 < cap)
                        out[n++] = '"';
                    p += 2;
                    continue;
                }
                p++;
                break;
            }
            if (n + 1 < cap)
                out[n++] = *p;
            p++;
        }
        while (p < end && *p != ',' && *p != '\n')
            p++;
    } else {
        while (p < end && *p != ',' && *p != '\n' && *p != '\r') {
            if (n + 1 < cap)
                out[n++] = *p;
            p++;
        }
        while (p < end && *p == '\r')
            p++;
    }
    out[n] = 0;
    *olen = n;
    return p;
}

static void load_csv(const char *path, int dataset)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return;
    fseek(f, 0, SEEK_END);
    long sz = ftell(f);
    fseek(f, 0, SEEK_SET);
    if (sz <= 0 || sz > (64l << 20)) {
        fclose(f);
        return;
    }
    char *data = lg_malloc((size_t)sz);
    size_t got = fread(data, 1, (size_t)sz, f);
    fclose(f);
    const char *p = data, *end = data + got;
    char field[4096];
    size_t flen;
    int col = 0, content_col = -1;
    bool header = true;
    size_t cap = g_nlines + 4096;
    g_lines = realloc(g_lines, cap * sizeof *g_lines);
    if (!g_lines)
        lg_die("out of memory");
    while (p < end) {
        p = csv_field(p, end, field, sizeof field, &flen);
        if (header && !strcmp(field, "Content"))
            content_col = col;
        if (!header && col == content_col && flen > 0) {
            if (g_nlines == cap) {
                cap *= 2;
                g_lines = realloc(g_lines, cap * sizeof *g_lines);
                if (!g_lines)
                    lg_die("out of memory");
            }
            g_lines[g_nlines].text = strdup(field);
            g_lines[g_nlines].len = flen;
            g_lines[g_nlines].dataset = dataset;
            g_nlines++;
        }
        if (p < end && *p == ',') {
            p++;
            col++;
        } else {
            while (p < end && (*p == '\n' || *p == '\r'))
                p++;
            col = 0;
            if (header && content_col < 0)
                break;
            header = false;
        }
    }
    free(data);
}

static void load_loghub(const char *dir)
{
    DIR *d = opendir(dir);
    if (d) {
        struct dirent *e;
        while ((e = readdir(d)) && g_ndatasets < 32) {
            if (e->d_name[0] == '.' || strlen(e->d_name) >= sizeof g_datasets[0])
                continue;
            char path[1024];
            snprintf(path, sizeof path, "%s/%s/%s_2k.log_structured.csv", dir, e->d_name,
                     e->d_name);
            size_t before = g_nlines;
            memcpy(g_datasets[g_ndatasets], e->d_name, strlen(e->d_name) + 1); /* < 32 */
            load_csv(path, g_ndatasets);
            if (g_nlines > before)
                g_ndatasets++;
        }
        closedir(d);
        if (g_nlines)
            fprintf(stderr, "otlpload: %zu LogHub lines from %d data sets under %s\n", g_nlines,
                    g_ndatasets, dir);
    }
    if (g_nlines == 0) {
        fprintf(stderr, "otlpload: no LogHub lines under %s; using built-in lines\n", dir);
        static const char *const builtin[] = {
            "PacketResponder 1 for block blk_38865049064139660 terminating",
            "Receiving block blk_-1608999687919862906 src: /10.250.19.102:54106",
            "jk2_init() Found child 6725 in scoreboard slot 10",
            "Accepted password for root from 218.188.2.4 port 49013 ssh2",
            "Connection broken for id 188978561024, my id = 1, error ="};
        snprintf(g_datasets[0], sizeof g_datasets[0], "builtin");
        g_ndatasets = 1;
        g_lines = lg_calloc(5, sizeof *g_lines);
        for (size_t i = 0; i < 5; i++) {
            g_lines[i].text = strdup(builtin[i]);
            g_lines[i].len = strlen(builtin[i]);
        }
        g_nlines = 5;
    }
}

static const char *const k_funcs[6] = {"handleRequest", "flushBlock", "process",
                                       "onMessage",     "commit",     "run"};

/* ExportLogsServiceRequest with n records over 1-4 resources. */
static uint32_t build_logs(buf *b, lane_gen *g, long n)
{
    rng *r = &g->r;
    long nres = request_resources(r, n);
    char line[4096], v[64];
    long done = 0;
    for (long k = 0; k < nres; k++) {
        long want = (n - done) / (nres - k);
        size_t rs, sl = open_random_resource(b, r, "io.opentelemetry.sonde.otlpload.logs", &rs);
        for (long i = 0; i < want; i++) {
            const logline *ll = &g_lines[rng_below(r, (uint32_t)g_nlines)];
            size_t len = ll->len < sizeof line - 1 ? ll->len : sizeof line - 1;
            /* redraw every digit so that no two lines are identical; a
             * leading non-zero digit stays non-zero */
            for (size_t c = 0; c < len; c++) {
                char ch = ll->text[c];
                if (ch >= '0' && ch <= '9') {
                    bool lead = c == 0 || ll->text[c - 1] < '0' || ll->text[c - 1] > '9';
                    if (lead && ch != '0')
                        ch = (char)('1' + rng_below(r, 9));
                    else if (!lead)
                        ch = (char)('0' + rng_below(r, 10));
                }
                line[c] = ch;
            }
            line[len] = 0;
            size_t lr = msg_begin(b, 2);
            g->clock_ns += 1000 + rng_below(r, 50000);
            put_fixed64(b, 1, g->clock_ns);
            uint32_t sv = rng_below(r, 100);
            int sevnum = sv < 85 ? 9 : sv < 95 ? 13 : 17;
            put_uint(b, 2, (uint64_t)sevnum);
            put_str(b, 3, sevnum == 9 ? "INFO" : sevnum == 13 ? "WARN" : "ERROR");
            size_t av = msg_begin(b, 5);
            put_bytes(b, 1, line, len);
            msg_end(b, av);
            kv_str(b, 6, "loghub.dataset", g_datasets[ll->dataset]);
            snprintf(v, sizeof v, "worker-%u", rng_below(r, 32));
            kv_str(b, 6, "thread.name", v);
            kv_str(b, 6, "code.function.name", k_funcs[rng_below(r, 6)]);
            if (rng_chance(r, 30)) {
                uint8_t ids[24];
                rng_bytes(r, ids, 24);
                put_fixed32(b, 8, 1);
                put_bytes(b, 9, ids, 16);
                put_bytes(b, 10, ids + 16, 8);
            }
            put_fixed64(b, 11, g->clock_ns + 1000000);
            msg_end(b, lr);
        }
        msg_end(b, sl);
        msg_end(b, rs);
        done += want;
    }
    return (uint32_t)done;
}

/* ---------------------------------------------------------------- metrics */

#define SERIES_PER_RESOURCE 100
static const double k_bounds[14] = {0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25,
                                    0.5,   0.75, 1,     2.5,  5,     7.5, 10};
static const char *const k_rpc_methods[10] = {"GetCart",      "AddItem", "EmptyCart", "PlaceOrder",
                                              "Charge",       "Convert", "GetQuote",  "ShipOrder",
                                              "ListProducts", "GetAds"};
static const int k_grpc_codes[4] = {0, 1, 2, 14};
static const char *const k_pools[10] = {"G1 Eden Space",
                                        "G1 Old Gen",
                                        "G1 Survivor Space",
                                        "Metaspace",
                                        "CodeHeap 'non-nmethods'",
                                        "Compressed Class Space",
                                        "CodeHeap 'profiled nmethods'",
                                        "CodeHeap 'non-profiled nmethods'",
                                        "direct",
                                        "mapped"};

/* family of series j (0..99 within a resource) */
static int metric_family(long j)
{
    return j < 30 ? 0 : j < 70 ? 1 : j < 90 ? 2 : 3;
}

static uint64_t mix(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    return x;
}

static void open_metric(buf *b, int fam, size_t *mpos, size_t *dpos)
{
    static const char *const names[4] = {"http.server.request.duration", "rpc.server.requests",
                                         "system.cpu.utilization", "jvm.memory.used"};
    static const char *const units[4] = {"s", "{request}", "1", "By"};
    static const char *const descs[4] = {"Duration of HTTP server requests.",
                                         "Number of RPCs served.", "CPU utilization by state.",
                                         "Memory used by pool."};
    static const uint32_t data_field[4] = {9, 7, 5, 5}; /* histogram, sum, gauge, gauge */
    *mpos = msg_begin(b, 2);                            /* ScopeMetrics.metrics */
    put_str(b, 1, names[fam]);
    put_str(b, 2, descs[fam]);
    put_str(b, 3, units[fam]);
    *dpos = msg_begin(b, data_field[fam]);
}

static void close_metric(buf *b, int fam, size_t mpos, size_t dpos)
{
    if (fam == 0) {
        put_uint(b, 2, 2); /* cumulative */
    } else if (fam == 1) {
        put_uint(b, 2, 2);
        put_uint(b, 3, 1); /* monotonic */
    }
    msg_end(b, dpos);
    msg_end(b, mpos);
}

static void put_point(buf *b, lane_gen *g, long res, long j, long round, uint64_t ts)
{
    uint64_t h = mix((uint64_t)res * 1000 + (uint64_t)j + 1);
    int fam = metric_family(j);
    size_t dp = msg_begin(b, 1); /* data_points */
    if (fam == 0) {
        long route = j % 10, m = (j / 10) % 3;
        static const char *const hm[3] = {"GET", "POST", "PUT"};
        kv_str(b, 9, "http.route", k_routes[route]);
        kv_str(b, 9, "http.request.method", hm[m]);
        put_fixed64(b, 2, g->m_start_ns - 1000000000ull); /* start before round 0 */
        put_fixed64(b, 3, ts);
        /* cumulative per-bucket counts that only grow: bucket k gains a
         * fixed share of a per-series rate every round */
        uint64_t rate = 20 + h % 500;
        uint64_t counts[15], total = 0;
        double sum = 0;
        for (int k = 0; k < 15; k++) {
            uint64_t w = (uint64_t)(k < 7 ? k + 1 : 15 - k); /* peak mid-range */
            counts[k] = (uint64_t)(round + 1) * rate * w / 64 + (h >> (k * 3) & 7);
            total += counts[k];
            double mid = k == 0   ? k_bounds[0] / 2
                         : k < 14 ? (k_bounds[k - 1] + k_bounds[k]) / 2
                                  : 15;
            sum += (double)counts[k] * mid;
        }
        put_fixed64(b, 4, total);
        put_double(b, 5, sum);
        size_t bc = msg_begin(b, 6); /* packed fixed64 */
        buf_need(b, (size_t)15 * 8);
        for (int k = 0; k < 15; k++)
            for (int q = 0; q < 8; q++)
                b->p[b->len++] = (uint8_t)(counts[k] >> (8 * q));
        msg_end(b, bc);
        size_t eb = msg_begin(b, 7); /* packed double */
        buf_need(b, (size_t)14 * 8);
        for (int k = 0; k < 14; k++) {
            uint64_t bits;
            memcpy(&bits, &k_bounds[k], 8);
            for (int q = 0; q < 8; q++)
                b->p[b->len++] = (uint8_t)(bits >> (8 * q));
        }
        msg_end(b, eb);
        put_double(b, 11, 0.001);
        put_double(b, 12, 12.5);
    } else if (fam == 1) {
        long k = j - 30;
        kv_str(b, 7, "rpc.system", "grpc");
        kv_str(b, 7, "rpc.method", k_rpc_methods[k % 10]);
        kv_int(b, 7, "rpc.grpc.status_code", k_grpc_codes[k / 10]);
        put_fixed64(b, 2, g->m_start_ns - 1000000000ull); /* start before round 0 */
        put_fixed64(b, 3, ts);
        uint64_t v = (h >> 40) + (uint64_t)round * (1 + h % 997);
        put_fixed64(b, 6, v); /* as_int (sfixed64) */
    } else if (fam == 2) {
        long k = j - 70;
        char cpu[24];
        snprintf(cpu, sizeof cpu, "%ld", k / 2);
        kv_str(b, 7, "cpu", cpu);
        kv_str(b, 7, "state", k % 2 ? "system" : "user");
        put_fixed64(b, 3, ts);
        double v = (double)((h + (uint64_t)round * 2654435761u) % 1000) / 1000.0;
        put_double(b, 4, v);
    } else {
        kv_str(b, 7, "jvm.memory.pool.name", k_pools[j - 90]);
        kv_str(b, 7, "jvm.memory.type", j - 90 < 3 ? "heap" : "non_heap");
        put_fixed64(b, 3, ts);
        uint64_t v = (h >> 36) + ((uint64_t)round * 40503u + h) % 65536 * 4096;
        put_fixed64(b, 6, v);
    }
    msg_end(b, dp);
}

/* ExportMetricsServiceRequest with the lane's next n points (round-major
 * over the resources it owns; resource ri of the lane is global resource
 * lane_idx + ri * nlanes). */
static uint32_t build_metrics(buf *b, lane_gen *g, const opts *o, long n)
{
    size_t rs = 0, sm = 0, mp = 0, dp = 0;
    long cur_res = -1;
    int cur_fam = -1;
    long cur_round = -1;
    for (long i = 0; i < n; i++) {
        long res = g->lane_idx + g->res_pos * g->nlanes;
        long j = g->series_pos;
        int fam = metric_family(j);
        if (res != cur_res || g->round != cur_round) {
            if (cur_res >= 0) {
                close_metric(b, cur_fam, mp, dp);
                msg_end(b, sm);
                msg_end(b, rs);
            }
            rs = msg_begin(b, 1);
            put_resource(b, res);
            sm = msg_begin(b, 2);
            put_scope(b, "io.opentelemetry.sonde.otlpload.metrics");
            cur_res = res;
            cur_round = g->round;
            cur_fam = -1;
        }
        if (fam != cur_fam) {
            if (cur_fam >= 0)
                close_metric(b, cur_fam, mp, dp);
            open_metric(b, fam, &mp, &dp);
            cur_fam = fam;
        }
        uint64_t ts = g->m_start_ns + (uint64_t)g->round * (uint64_t)o->interval_ms * 1000000ull;
        put_point(b, g, res, j, g->round, ts);
        /* advance: series, then resource, then round */
        if (++g->series_pos == SERIES_PER_RESOURCE ||
            res * SERIES_PER_RESOURCE + g->series_pos >= o->series) {
            g->series_pos = 0;
            if (++g->res_pos == g->nres) {
                g->res_pos = 0;
                g->round++;
            }
        }
    }
    if (cur_res >= 0) {
        close_metric(b, cur_fam, mp, dp);
        msg_end(b, sm);
        msg_end(b, rs);
    }
    return (uint32_t)n;
}

/* ---------------------------------------------------------------- bodies */

static void finish_body(const opts *o, buf *pb, body *out, uint32_t nitems)
{
    const uint8_t *msg = pb->p;
    size_t mlen = pb->len;
    uint8_t *z = NULL;
    if (o->gzip) {
        z_stream zs = {0};
        if (deflateInit2(&zs, Z_BEST_SPEED, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
            lg_die("deflateInit2 failed");
        size_t cap = deflateBound(&zs, (uLong)mlen);
        z = lg_malloc(cap);
        zs.next_in = (Bytef *)pb->p;
        zs.avail_in = (uInt)mlen;
        zs.next_out = z;
        zs.avail_out = (uInt)cap;
        if (deflate(&zs, Z_FINISH) != Z_STREAM_END)
            lg_die("deflate failed");
        mlen = zs.total_out;
        deflateEnd(&zs);
        msg = z;
    }
    size_t pre = o->grpc ? 5 : 0;
    out->data = lg_malloc(pre + mlen);
    if (o->grpc) {
        out->data[0] = o->gzip ? 1 : 0;
        out->data[1] = (uint8_t)(mlen >> 24);
        out->data[2] = (uint8_t)(mlen >> 16);
        out->data[3] = (uint8_t)(mlen >> 8);
        out->data[4] = (uint8_t)mlen;
    }
    if (mlen)
        memcpy(out->data + pre, msg, mlen);
    out->len = pre + mlen;
    out->nitems = nitems;
    free(z);
    pb->len = 0;
}

static void build_lane(const opts *o, lane *ln, long lane_idx, long nlanes, long nreq)
{
    lane_gen g = {.lane_idx = lane_idx, .nlanes = nlanes};
    g.r.s = o->seed ^ mix((uint64_t)lane_idx + 0x51);
    g.clock_ns = g_base_ns + (uint64_t)lane_idx * 1000;
    if (o->signal == SIG_METRICS) {
        long nres_all = (o->series + SERIES_PER_RESOURCE - 1) / SERIES_PER_RESOURCE;
        g.nres = (nres_all - lane_idx + nlanes - 1) / nlanes;
        if (g.nres <= 0)
            lg_die("--series too small for this many lanes (conns x streams): "
                   "each lane needs a resource (100 series)");
        long lane_series = 0;
        for (long k = 0; k < g.nres; k++) {
            long res = lane_idx + k * nlanes;
            long left = o->series - res * SERIES_PER_RESOURCE;
            lane_series += left < SERIES_PER_RESOURCE ? left : SERIES_PER_RESOURCE;
        }
        long rounds = (nreq * o->items_per_request + lane_series - 1) / lane_series;
        /* the last round lands at about now */
        g.m_start_ns =
            lg_now_unix_ns() - (uint64_t)(rounds + 1) * (uint64_t)o->interval_ms * 1000000ull;
        g.m_start_ns -= g.m_start_ns % 1000000ull;
    }
    ln->bodies = lg_calloc((size_t)nreq, sizeof(body));
    buf pb = {0};
    for (long q = 0; q < nreq; q++) {
        uint32_t n;
        if (o->signal == SIG_TRACES)
            n = build_traces(&pb, &g, o->items_per_request);
        else if (o->signal == SIG_LOGS)
            n = build_logs(&pb, &g, o->items_per_request);
        else
            n = build_metrics(&pb, &g, o, o->items_per_request);
        finish_body(o, &pb, &ln->bodies[q], n);
    }
    ln->nbodies = (size_t)nreq;
    free(pb.p);
}


static void http_run(conn_work *w)
{
    const opts *o = w->o;
    lane *ln = &w->lanes[0];
    const char *path = o->lg.url.path[0] ? o->lg.url.path : k_http_path[o->signal];
    const char *extra = o->gzip ? "Content-Encoding: gzip\r\n" : "";
    char hdr[512];
    lg_conn *c = lg_conn_create();
    for (size_t b = 0; b < ln->nbodies; b++) {
        body *bd = &ln->bodies[b];
        size_t hl = lg_http_header(hdr, sizeof hdr, &o->lg.url, path, extra, bd->len);
        if (!lg_http_post(c, &o->lg.url, hdr, hl, bd->data, bd->len, bd->nitems, lg_otlp_rejected,
                          o->lg.max_retries, &w->st))
            break;
        ln->next = b + 1;
    }
    lg_conn_destroy(c);
}

/* ---------------------------------------------------------------- gRPC */

typedef struct h2client {
    conn_work *w;
    int fd;
    uint8_t *out; /* frames nghttp2 produced, written in one send */
    size_t outlen, outcap;
    bool io_error;
} h2client;

static int h2_flush(h2client *c)
{
    struct iovec iov = {c->out, c->outlen};
    if (c->outlen && lg_send_all(c->fd, &iov, 1) != 0) {
        c->io_error = true;
        return -1;
    }
    c->outlen = 0;
    return 0;
}

static ssize_t h2_send_cb(nghttp2_session *s, const uint8_t *data, size_t length, int flags,
                          void *ud)
{
    h2client *c = ud;
    if (c->outlen + length > c->outcap && h2_flush(c) != 0)
        return NGHTTP2_ERR_CALLBACK_FAILURE;
    if (length > c->outcap) {
        struct iovec iov = {(void *)data, length};
        if (lg_send_all(c->fd, &iov, 1) != 0) {
            c->io_error = true;
            return NGHTTP2_ERR_CALLBACK_FAILURE;
        }
        return (ssize_t)length;
    }
    memcpy(c->out + c->outlen, data, length);
    c->outlen += length;
    return (ssize_t)length;
}

static int h2_header_cb(nghttp2_session *s, const nghttp2_frame *frame, const uint8_t *name,
                        size_t namelen, const uint8_t *value, size_t valuelen, uint8_t flags,
                        void *ud)
{
    lane *ln = nghttp2_session_get_stream_user_data(s, frame->hd.stream_id);
    if (!ln)
        return 0;
    if (namelen == 7 && !memcmp(name, ":status", 7)) {
        int st = 0;
        for (size_t i = 0; i < valuelen && i < 3; i++)
            st = st * 10 + (value[i] - '0');
        ln->http_status = st;
    } else if (namelen == 11 && !memcmp(name, "grpc-status", 11)) {
        int st = 0;
        for (size_t i = 0; i < valuelen && i < 4; i++)
            st = st * 10 + (value[i] - '0');
        ln->grpc_status = st;
    } else if (namelen == 12 && !memcmp(name, "grpc-message", 12)) {
        size_t n = valuelen < sizeof ln->grpc_msg - 1 ? valuelen : sizeof ln->grpc_msg - 1;
        memcpy(ln->grpc_msg, value, n);
        ln->grpc_msg[n] = 0;
    }
    return 0;
}

static int h2_data_cb(nghttp2_session *s, uint8_t flags, int32_t stream_id, const uint8_t *data,
                      size_t len, void *ud)
{
    lane *ln = nghttp2_session_get_stream_user_data(s, stream_id);
    if (!ln)
        return 0;
    size_t n = len < GRPC_RESP_KEEP - ln->resp_len ? len : GRPC_RESP_KEEP - ln->resp_len;
    memcpy(ln->resp + ln->resp_len, data, n);
    ln->resp_len += n;
    return 0;
}

static int h2_close_cb(nghttp2_session *s, int32_t stream_id, uint32_t error_code, void *ud)
{
    lane *ln = nghttp2_session_get_stream_user_data(s, stream_id);
    if (ln) {
        ln->closed = true;
        ln->rst_code = error_code;
    }
    return 0;
}

static ssize_t h2_read_cb(nghttp2_session *s, int32_t stream_id, uint8_t *out, size_t length,
                          uint32_t *data_flags, nghttp2_data_source *src, void *ud)
{
    lane *ln = src->ptr;
    const body *bd = &ln->bodies[ln->next];
    size_t n = bd->len - ln->sent;
    if (n > length)
        n = length;
    memcpy(out, bd->data + ln->sent, n);
    ln->sent += n;
    if (ln->sent == bd->len)
        *data_flags |= NGHTTP2_DATA_FLAG_EOF;
    return (ssize_t)n;
}

static bool grpc_retryable(int code)
{
    /* OTLP/gRPC: CANCELLED, DEADLINE_EXCEEDED, ABORTED, OUT_OF_RANGE,
     * UNAVAILABLE, DATA_LOSS */
    return code == 1 || code == 4 || code == 10 || code == 11 || code == 14 || code == 15;
}

/* A finished stream (or one lost with its connection): count it, and either
 * advance the lane or schedule a retry of the same body. */
static void grpc_complete(conn_work *w, lane *ln, bool conn_lost)
{
    const opts *o = w->o;
    body *bd = &ln->bodies[ln->next];
    ln->inflight = false;
    bool answered = !conn_lost && ln->rst_code == 0 && ln->http_status > 0;
    bool retry = false;
    char why[200] = {0};
    if (answered)
        lg_record_latency(&w->st, (lg_now_s() - ln->t0) * 1000.0);
    if (!answered) {
        w->st.errors++;
        retry = true;
        if (conn_lost)
            snprintf(why, sizeof why, "connection lost");
        else
            snprintf(why, sizeof why, "stream closed, error code %u (%s)", ln->rst_code,
                     nghttp2_http2_strerror(ln->rst_code));
    } else if (ln->http_status != 200) {
        w->st.errors++;
        retry = ln->http_status >= 500 || ln->http_status == 429;
        snprintf(why, sizeof why, "HTTP %d", ln->http_status);
    } else if (ln->grpc_status < 0) {
        w->st.errors++;
        retry = true;
        snprintf(why, sizeof why, "no grpc-status");
    } else if (ln->grpc_status != 0) {
        w->st.errors++;
        retry = grpc_retryable(ln->grpc_status);
        snprintf(why, sizeof why, "grpc-status %d: %s", ln->grpc_status, ln->grpc_msg);
    } else {
        w->st.bytes_sent += (uint64_t)bd->len;
        uint64_t rej = 0;
        if (ln->resp_len >= 5) {
            size_t mlen = (size_t)ln->resp[1] << 24 | (size_t)ln->resp[2] << 16 |
                          (size_t)ln->resp[3] << 8 | ln->resp[4];
            if (mlen > ln->resp_len - 5)
                mlen = ln->resp_len - 5;
            rej = lg_otlp_rejected(ln->resp + 5, mlen);
        }
        lg_stats_ack(&w->st, bd->nitems, rej);
        ln->next++;
        ln->attempt = 0;
        return;
    }
    if (!w->st.first_error[0])
        snprintf(w->st.first_error, sizeof w->st.first_error, "%s", why);
    if (retry && ln->attempt < o->lg.max_retries) {
        w->st.retries++;
        ln->attempt++;
        ln->not_before = lg_now_s() + lg_backoff_s(ln->attempt);
        return;
    }
    lg_stats_reject(&w->st, bd->nitems);
    ln->next++;
    ln->attempt = 0;
}

static nghttp2_session *grpc_session_new(h2client *c)
{
    nghttp2_session_callbacks *cb;
    if (nghttp2_session_callbacks_new(&cb) != 0)
        lg_die("nghttp2_session_callbacks_new failed");
    nghttp2_session_callbacks_set_send_callback(cb, h2_send_cb);
    nghttp2_session_callbacks_set_on_header_callback(cb, h2_header_cb);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, h2_data_cb);
    nghttp2_session_callbacks_set_on_stream_close_callback(cb, h2_close_cb);
    nghttp2_session *s = NULL;
    if (nghttp2_session_client_new(&s, cb, c) != 0)
        lg_die("nghttp2_session_client_new failed");
    nghttp2_session_callbacks_del(cb);
    nghttp2_settings_entry iv[2] = {{NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
                                    {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, 1 << 20}};
    nghttp2_submit_settings(s, NGHTTP2_FLAG_NONE, iv, 2);
    nghttp2_session_set_local_window_size(s, NGHTTP2_FLAG_NONE, 0, 1 << 24);
    return s;
}

static void grpc_run(conn_work *w)
{
    const opts *o = w->o;
    const char *path = o->lg.url.path[0] ? o->lg.url.path : k_grpc_path[o->signal];
    char authority[96];
    snprintf(authority, sizeof authority, "%s:%d", o->lg.url.host, o->lg.url.port);
    h2client c = {.w = w, .fd = -1, .outcap = H2_IOBUF};
    c.out = lg_malloc(c.outcap);
    uint8_t *in = lg_malloc(H2_IOBUF);
    nghttp2_session *s = NULL;
#define NV(n, v)                                                                                   \
    {                                                                                              \
        (uint8_t *)(n), (uint8_t *)(v), sizeof(n) - 1, strlen(v),                                  \
            NGHTTP2_NV_FLAG_NO_COPY_NAME | NGHTTP2_NV_FLAG_NO_COPY_VALUE                           \
    }
    for (;;) {
        double now = lg_now_s();
        /* past --duration-max: open no new stream, but wait (bounded) for
         * the answers to those in flight, so that every request the server
         * may have committed is counted */
        bool draining = now > lg_deadline;
        if (now > lg_deadline + 30)
            break;
        if (!s) {
            if (draining)
                break;
            c.fd = lg_connect(&o->lg.url);
            if (c.fd < 0) {
                w->st.errors++;
                lg_note_error(&w->st, "connect", strerror(errno));
                usleep(100000);
                continue;
            }
            c.io_error = false;
            c.outlen = 0;
            s = grpc_session_new(&c);
            w->st.reconnects++;
        }
        /* open a stream on every idle lane that has work */
        int inflight = 0, pending = 0;
        double wake = 0;
        for (int l = 0; l < w->nlanes; l++) {
            lane *ln = &w->lanes[l];
            if (ln->inflight) {
                inflight++;
                continue;
            }
            if (ln->next >= ln->nbodies || draining)
                continue;
            if (ln->not_before > now) {
                pending++;
                if (!wake || ln->not_before < wake)
                    wake = ln->not_before;
                continue;
            }
            nghttp2_nv hdrs[] = {
                NV(":method", "POST"),
                NV(":scheme", "http"),
                NV(":path", path),
                NV(":authority", authority),
                NV("content-type", "application/grpc"),
                NV("te", "trailers"),
                NV("user-agent", "grpc-c-sonde-otlpload/0.1"),
                NV("grpc-encoding", o->gzip ? "gzip" : "identity"),
            };
            nghttp2_data_provider dp = {.source.ptr = ln, .read_callback = h2_read_cb};
            ln->sent = 0;
            ln->http_status = 0;
            ln->grpc_status = -1;
            ln->rst_code = 0;
            ln->closed = false;
            ln->grpc_msg[0] = 0;
            ln->resp_len = 0;
            ln->t0 = now;
            int32_t id =
                nghttp2_submit_request(s, NULL, hdrs, sizeof hdrs / sizeof hdrs[0], &dp, ln);
            if (id < 0) {
                w->st.errors++;
                lg_note_error(&w->st, "nghttp2_submit_request", nghttp2_strerror(id));
                break;
            }
            ln->inflight = true;
            inflight++;
        }
        if (!inflight) {
            if (!pending)
                break; /* every lane is done */
            double d = wake - lg_now_s();
            if (d > 0)
                usleep((useconds_t)(d * 1e6));
            continue;
        }
        bool lost = false;
        if (nghttp2_session_send(s) != 0 || h2_flush(&c) != 0)
            lost = true;
        /* read until at least one stream finishes */
        while (!lost) {
            if (!nghttp2_session_want_read(s) && !nghttp2_session_want_write(s)) {
                lost = true; /* GOAWAY handled, nothing more to come */
                break;
            }
            ssize_t k = recv(c.fd, in, H2_IOBUF, 0);
            if (k < 0 && errno == EINTR)
                continue;
            if (k <= 0) {
                lg_note_error(&w->st, "recv", k == 0 ? "connection closed" : strerror(errno));
                lost = true;
                break;
            }
            ssize_t r = nghttp2_session_mem_recv(s, in, (size_t)k);
            if (r < 0) {
                lg_note_error(&w->st, "nghttp2", nghttp2_strerror((int)r));
                lost = true;
                break;
            }
            if (nghttp2_session_send(s) != 0 || h2_flush(&c) != 0) {
                lost = true;
                break;
            }
            bool any = false;
            for (int l = 0; l < w->nlanes; l++) {
                lane *ln = &w->lanes[l];
                if (ln->inflight && ln->closed) {
                    grpc_complete(w, ln, false);
                    any = true;
                }
            }
            if (any)
                break;
        }
        if (lost) {
            for (int l = 0; l < w->nlanes; l++) {
                lane *ln = &w->lanes[l];
                if (ln->inflight)
                    grpc_complete(w, ln, !ln->closed);
            }
            nghttp2_session_del(s);
            s = NULL;
            close(c.fd);
            c.fd = -1;
        }
    }
#undef NV
    if (s) {
        nghttp2_session_terminate_session(s, NGHTTP2_NO_ERROR);
        nghttp2_session_send(s);
        h2_flush(&c);
        nghttp2_session_del(s);
    }
    if (c.fd >= 0)
        close(c.fd);
    free(c.out);
    free(in);
}

static void *conn_run(void *arg)
{
    conn_work *w = arg;
    lg_thread_name(w->idx);
    if (w->o->grpc)
        grpc_run(w);
    else
        http_run(w);
    return NULL;
}

static double cpu_seconds(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

int main(int argc, char **argv)
{
    opts o = {.signal = -1,
              .requests = 200,
              .lg.conns = 2,
              .streams = 8,
              .lg.duration_max = 60,
              .lg.max_retries = 10,
              .series = 20000,
              .interval_ms = 10000,
              .max_mem_mb = 4096,
              .seed = (uint64_t)time(NULL),
              .loghub = "/work/shared/conformance/loghub",
              .lg.label = "-"};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = lg_arg_value(argc, argv, &i, usage);
        if (lg_opts_parse(&o.lg, a, v, "http://127.0.0.1:4318"))
            continue;
        if (!strcmp(a, "--signal")) {
            for (int s = 0; s < 3; s++)
                if (!strcmp(v, k_sig_name[s]))
                    o.signal = s;
            if (o.signal < 0)
                usage();
        } else if (!strcmp(a, "--transport")) {
            if (!strcmp(v, "grpc"))
                o.grpc = true;
            else if (strcmp(v, "http") != 0)
                usage();
        } else if (!strcmp(a, "--compress")) {
            if (!strcmp(v, "gzip"))
                o.gzip = true;
            else if (strcmp(v, "none") != 0)
                usage();
        } else if (!strcmp(a, "--items-per-request"))
            o.items_per_request = lg_parse_long(v, "--items-per-request", 1, 1000000);
        else if (!strcmp(a, "--requests"))
            o.requests = lg_parse_long(v, "--requests", 1, 100000000);
        else if (!strcmp(a, "--streams"))
            o.streams = lg_parse_long(v, "--streams", 1, MAX_STREAMS);
        else if (!strcmp(a, "--series"))
            o.series = lg_parse_long(v, "--series", 1, 100000000);
        else if (!strcmp(a, "--interval-ms"))
            o.interval_ms = lg_parse_long(v, "--interval-ms", 1, 86400000);
        else if (!strcmp(a, "--max-mem-mb"))
            o.max_mem_mb = lg_parse_long(v, "--max-mem-mb", 1, 1l << 20);
        else if (!strcmp(a, "--seed"))
            o.seed = (uint64_t)lg_parse_long(v, "--seed", 0, INT64_MAX);
        else if (!strcmp(a, "--loghub"))
            o.loghub = v;
        else
            usage();
    }
    if (!o.lg.have_url || o.signal < 0)
        usage();
    if (!strcmp(o.lg.url.path, "/"))
        o.lg.url.path[0] = 0; /* a bare "/" keeps the standard path */
    if (!o.items_per_request)
        o.items_per_request = o.signal == SIG_TRACES ? 500 : o.signal == SIG_LOGS ? 1000 : 2000;
    long per_conn = o.grpc ? o.streams : 1;
    long nlanes = o.lg.conns * per_conn;
    if (o.signal == SIG_LOGS)
        load_loghub(o.loghub);

    conn_work *w = lg_calloc((size_t)o.lg.conns, sizeof *w);
    double tb = lg_now_s();
    g_base_ns = lg_now_unix_ns() - 120ull * 1000000000ull;
    uint64_t total_items = 0, total_bytes = 0, total_reqs = 0;
    for (long c = 0; c < o.lg.conns; c++) {
        w[c].idx = (int)c;
        w[c].o = &o;
        w[c].nlanes = (int)per_conn;
        w[c].lanes = lg_calloc((size_t)per_conn, sizeof(lane));
        size_t creqs = 0;
        for (long l = 0; l < per_conn; l++) {
            long li = c * per_conn + l;
            long nreq = o.requests / nlanes + (li < o.requests % nlanes);
            lane *ln = &w[c].lanes[l];
            if (nreq)
                build_lane(&o, ln, li, nlanes, nreq);
            for (size_t b = 0; b < ln->nbodies; b++) {
                total_items += ln->bodies[b].nitems;
                total_bytes += ln->bodies[b].len;
            }
            creqs += ln->nbodies;
            total_reqs += ln->nbodies;
            if (total_bytes > (uint64_t)o.max_mem_mb << 20) {
                fprintf(stderr,
                        "otlpload: bodies exceed --max-mem-mb %ld; ask for fewer "
                        "--requests\n",
                        o.max_mem_mb);
                exit(2);
            }
        }
        w[c].st.latcap = creqs * 4 + 16;
        w[c].st.lat_ms = lg_calloc(w[c].st.latcap, sizeof(double));
    }
    fprintf(stderr,
            "otlpload: built %" PRIu64 " %s requests, %" PRIu64 " items, %.1f MiB%s "
            "(%.1f bytes/item) in %.1fs; sending to %s:%d%s over %ld %s connections\n",
            total_reqs, k_sig_name[o.signal], total_items, (double)total_bytes / 1048576.0,
            o.gzip ? " gzip" : "", total_items ? (double)total_bytes / (double)total_items : 0.0,
            lg_now_s() - tb, o.lg.url.host, o.lg.url.port,
            o.lg.url.path[0] ? o.lg.url.path
                             : (o.grpc ? k_grpc_path[o.signal] : k_http_path[o.signal]),
            o.lg.conns, o.grpc ? "gRPC" : "HTTP/1.1");

    double cpu0 = cpu_seconds();
    double elapsed = lg_run_threads(o.lg.conns, conn_run, w, sizeof *w, o.lg.duration_max);
    double gen_cpu = cpu_seconds() - cpu0;

    lg_stats sum = lg_stats_sum(&w[0].st, sizeof *w, o.lg.conns);
    uint64_t ok_req = sum.ok_requests, ok_items = sum.ok_items, rej_req = sum.rejected_requests;
    uint64_t part_rej = sum.refused_items;
    uint64_t done_reqs = ok_req + rej_req;
    lg_latency lat = lg_stats_latency(&sum);
    double ips = elapsed > 0 ? (double)ok_items / elapsed : 0;
    double rps = elapsed > 0 ? (double)ok_req / elapsed : 0;
    bool complete = done_reqs == total_reqs;

    lg_print_first_error(&sum);
    printf("otlpload: %s over %s to %s:%d, %ld items/request, %ld conns\n", k_sig_name[o.signal],
           o.grpc ? "gRPC" : "HTTP/1.1", o.lg.url.host, o.lg.url.port, o.items_per_request,
           o.lg.conns);
    if (o.grpc)
        printf("  streams    %ld per connection\n", o.streams);
    printf("  acked      %" PRIu64 " of %" PRIu64 " items in %.3f s%s\n", ok_items, total_items,
           elapsed, complete ? "" : " (STOPPED at --duration-max)");
    printf("  rate       %.0f items/s, %.1f requests/s, %.1f MiB/s of bodies\n", ips, rps,
           elapsed > 0 ? (double)total_bytes * ((double)done_reqs / (double)total_reqs) /
                             1048576.0 / elapsed
                       : 0.0);
    printf("  requests   %" PRIu64 " ok, %" PRIu64 " rejected, %" PRIu64 " errors, %" PRIu64
           " retries; %" PRIu64 " items refused in partial_success\n",
           ok_req, rej_req, sum.errors, sum.retries, part_rej);
    lg_print_latency(lat);
    printf("  cpu        %.2f s of otlpload's own CPU while sending (%.0f%% of one core)\n",
           gen_cpu, elapsed > 0 ? 100.0 * gen_cpu / elapsed : 0.0);
    printf("RESULT signal=%s transport=%s label=%s items_total=%" PRIu64 " items_ok=%" PRIu64
           " items_partial_rejected=%" PRIu64 " items_rejected=%" PRIu64
           " seconds=%.3f items_per_s=%.0f requests_ok=%" PRIu64 " requests_per_s=%.1f"
           " requests_rejected=%" PRIu64 " errors=%" PRIu64 " retries=%" PRIu64
           " p50_ms=%.3f p99_ms=%.3f max_ms=%.3f complete=%d conns=%ld streams=%ld"
           " items_per_request=%ld bytes_per_item=%.1f gen_cpu_s=%.2f\n",
           k_sig_name[o.signal], o.grpc ? "grpc" : "http", o.lg.label, total_items, ok_items,
           part_rej, sum.rejected_items, elapsed, ips, ok_req, rps, rej_req, sum.errors,
           sum.retries, lat.p50, lat.p99, lat.max, complete ? 1 : 0, o.lg.conns,
           o.grpc ? o.streams : 1, o.items_per_request,
           total_items ? (double)total_bytes / (double)total_items : 0.0, gen_cpu);
    fflush(stdout);

    for (long c = 0; c < o.lg.conns; c++) {
        for (int l = 0; l < w[c].nlanes; l++) {
            for (size_t b = 0; b < w[c].lanes[l].nbodies; b++)
                free(w[c].lanes[l].bodies[b].data);
            free(w[c].lanes[l].bodies);
        }
        free(w[c].lanes);
        free(w[c].st.lat_ms);
    }
    free(w);
    free(sum.lat_ms);
    for (size_t i = 0; i < g_nlines; i++)
        free(g_lines[i].text);
    free(g_lines);
    return complete && rej_req == 0 && part_rej == 0 ? 0 : 1;
}
