/*
 * rwload.c - Prometheus remote-write 1.0 load generator for benchmarks.
 *
 * It builds a node_exporter-like series set (about 20 metric families per
 * instance, labels instance/job/cpu/mode/device/...), encodes every request
 * (protobuf WriteRequest by hand, snappy block format through libsnappy) and
 * keeps all bodies in memory BEFORE the clock starts. Then it sends them over
 * --conns keep-alive HTTP/1.1 connections, one thread and one plain blocking
 * socket per connection, and prints samples/s, requests, errors and request
 * latency percentiles, ending with one machine-readable "RESULT ..." line.
 *
 * Request shape follows Prometheus's remote-write queue: series are sharded
 * to connections by index (so each series always travels on the same
 * connection and its samples arrive in time order, as Prometheus shards do),
 * every TimeSeries entry carries one sample, and a request holds up to
 * --batch samples (Prometheus's max_samples_per_send, default 2000). Rounds
 * are scrapes: round r gives every series one sample at start + r*interval.
 *
 * Retries: 5xx, 429 and connection errors are retried with the same bytes
 * (bounded by --max-retries, with backoff), as Prometheus does; other 4xx are
 * counted as rejected and not retried. Only 2xx samples count as ingested.
 *
 * Bounds: total requests are fixed before sending; every thread stops at
 * --duration-max; sockets have send/receive timeouts; responses are capped.
 * Threads: main (build, report) and rwload-N senders; the only shared state is
 * each thread's own result slot, read by main after join.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <snappy-c.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#define MAX_CONNS 256
#define MAX_RESP (1u << 20)

typedef struct opts {
    char host[64];
    int port;
    char path[256];
    long series;
    long samples_per_series;
    long batch;
    long conns;
    double duration_max;
    long max_retries;
    long interval_ms;
    int64_t start_ms;
    const char *tenant;
    const char *label; /* free text echoed in the RESULT line */
} opts;

typedef struct body {
    uint8_t *data;
    size_t len;
    uint32_t nsamples;
} body;

typedef struct conn_work {
    int idx;
    const opts *o;
    body *bodies;
    size_t nbodies;
    /* results */
    uint64_t ok_requests, ok_samples, rejected_requests, rejected_samples, errors, retries,
        reconnects, bytes_sent;
    double *lat_ms; /* one per attempted request that got an answer */
    size_t nlat;
    char first_error[256];
} conn_work;

static double g_deadline; /* monotonic seconds */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *msg)
{
    fprintf(stderr, "rwload: %s\n", msg);
    exit(2);
}

/* strtol/strtod with full checks (no atoi). */
static long parse_long(const char *s, const char *what, long min, long max)
{
    char *end = NULL;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < min || v > max) {
        fprintf(stderr, "rwload: bad %s %s (want %ld..%ld)\n", what, s, min, max);
        exit(2);
    }
    return v;
}

static double parse_double(const char *s, const char *what)
{
    char *end = NULL;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !(v > 0) || v > 1e6) {
        fprintf(stderr, "rwload: bad %s %s\n", what, s);
        exit(2);
    }
    return v;
}

static void parse_url(opts *o, const char *url)
{
    const char *p = url;
    if (strncmp(p, "http://", 7) != 0)
        die("--url must start with http://");
    p += 7;
    const char *colon = strchr(p, ':');
    const char *slash = strchr(p, '/');
    if (!colon || (slash && slash < colon) || (size_t)(colon - p) >= sizeof o->host)
        die("--url needs host:port, e.g. http://127.0.0.1:9201/api/v1/write");
    memcpy(o->host, p, (size_t)(colon - p));
    o->host[colon - p] = 0;
    char port[16] = {0};
    size_t plen = slash ? (size_t)(slash - colon - 1) : strlen(colon + 1);
    if (plen == 0 || plen >= sizeof port)
        die("bad port in --url");
    memcpy(port, colon + 1, plen);
    o->port = (int)parse_long(port, "port", 1, 65535);
    snprintf(o->path, sizeof o->path, "%s", slash ? slash : "/api/v1/write");
}

static void usage(void)
{
    fprintf(stderr,
            "usage: rwload --url http://HOST:PORT/api/v1/write [options]\n"
            "  --series N              series (default 100000, node_exporter-like)\n"
            "  --samples-per-series K  samples per series = scrape rounds (default 30)\n"
            "  --batch S               samples per request (default 2000)\n"
            "  --conns C               keep-alive connections/threads (default 8)\n"
            "  --duration-max SECONDS  stop sending after this long (default 120)\n"
            "  --interval-ms MS        time between rounds (default 15000)\n"
            "  --start-ms MS           timestamp of round 0 (default now - K*interval)\n"
            "  --max-retries R         retries of a 5xx/429/failed request (default 10)\n"
            "  --tenant ID             send X-Scope-OrgID\n"
            "  --label TEXT            echoed in the RESULT line\n");
    exit(2);
}

/* ---------------------------------------------------------------- series */

static const char *const k_modes[8] = {"idle", "iowait", "irq", "nice", "softirq", "steal",
                                       "system", "user"};

/* 20 families; kind: 0 cpu (cpu,mode), 1 net device, 2 disk device,
 * 3 filesystem (device,fstype,mountpoint), 4 plain (collector label). */
static const struct {
    const char *name;
    int kind;
    int counter;
} k_families[20] = {
    {"node_cpu_seconds_total", 0, 1},
    {"node_cpu_guest_seconds_total", 0, 1},
    {"node_network_receive_bytes_total", 1, 1},
    {"node_network_transmit_bytes_total", 1, 1},
    {"node_network_receive_packets_total", 1, 1},
    {"node_network_transmit_packets_total", 1, 1},
    {"node_disk_read_bytes_total", 2, 1},
    {"node_disk_written_bytes_total", 2, 1},
    {"node_disk_io_time_seconds_total", 2, 1},
    {"node_disk_reads_completed_total", 2, 1},
    {"node_filesystem_avail_bytes", 3, 0},
    {"node_filesystem_size_bytes", 3, 0},
    {"node_filesystem_files_free", 3, 0},
    {"node_memory_MemAvailable_bytes", 4, 0},
    {"node_memory_Cached_bytes", 4, 0},
    {"node_load1", 4, 0},
    {"node_scrape_collector_duration_seconds", 4, 0},
    {"node_scrape_collector_success", 4, 0},
    {"node_context_switches_total", 4, 1},
    {"node_intr_total", 4, 1},
};

#define SERIES_PER_INSTANCE 500 /* 20 families x 25 */

typedef struct lbl {
    const char *n;
    char v[64];
} lbl;

/* Labels of series i, sorted by name (as Prometheus sends them). Returns count. */
static int series_labels(long i, lbl *out)
{
    long inst = i / SERIES_PER_INSTANCE;
    int j = (int)(i % SERIES_PER_INSTANCE);
    int f = j % 20, k = j / 20; /* k in 0..24 */
    int n = 0;
    out[n].n = "__name__";
    snprintf(out[n++].v, 64, "%s", k_families[f].name);
    switch (k_families[f].kind) {
    case 0:
        out[n].n = "cpu";
        snprintf(out[n++].v, 64, "%d", k / 8);
        out[n].n = "instance";
        snprintf(out[n++].v, 64, "host-%05ld.example.internal:9100", inst);
        out[n].n = "job";
        snprintf(out[n++].v, 64, "node");
        out[n].n = "mode";
        snprintf(out[n++].v, 64, "%s", k_modes[k % 8]);
        break;
    case 1:
    case 2:
        out[n].n = "device";
        if (k_families[f].kind == 1)
            snprintf(out[n++].v, 64, "eth%d", k);
        else
            snprintf(out[n++].v, 64, "nvme%dn1", k);
        out[n].n = "instance";
        snprintf(out[n++].v, 64, "host-%05ld.example.internal:9100", inst);
        out[n].n = "job";
        snprintf(out[n++].v, 64, "node");
        break;
    case 3:
        out[n].n = "device";
        snprintf(out[n++].v, 64, "/dev/sda%d", k);
        out[n].n = "fstype";
        snprintf(out[n++].v, 64, "%s", k % 3 ? "ext4" : "xfs");
        out[n].n = "instance";
        snprintf(out[n++].v, 64, "host-%05ld.example.internal:9100", inst);
        out[n].n = "job";
        snprintf(out[n++].v, 64, "node");
        out[n].n = "mountpoint";
        snprintf(out[n++].v, 64, "/srv/vol%d", k);
        break;
    default:
        out[n].n = "collector";
        snprintf(out[n++].v, 64, "c%02d", k);
        out[n].n = "instance";
        snprintf(out[n++].v, 64, "host-%05ld.example.internal:9100", inst);
        out[n].n = "job";
        snprintf(out[n++].v, 64, "node");
        break;
    }
    return n;
}

static double sample_value(long i, long r)
{
    int f = (int)(i % SERIES_PER_INSTANCE) % 20;
    uint64_t h = (uint64_t)i * 0x9E3779B97F4A7C15ull;
    if (k_families[f].counter) {
        double base = (double)(h >> 40);
        /* monotonic: a steady rate plus a bounded wobble that never
         * exceeds one step, so the series has no counter resets */
        double inc = (double)((h >> 8) % 1000) / 4.0 + 1.0;
        return base + inc * (double)r + (double)((r * 7 + i) % 13) / 16.0 * inc;
    }
    return (double)(h >> 34) + (double)(((uint64_t)r * 2654435761u + h) % 4096) * 4096.0;
}

/* ---------------------------------------------------------------- protobuf */

typedef struct buf {
    uint8_t *p;
    size_t len, cap;
} buf;

static void buf_need(buf *b, size_t n)
{
    if (b->len + n <= b->cap)
        return;
    size_t c = b->cap ? b->cap : 4096;
    while (c < b->len + n)
        c *= 2;
    uint8_t *np = realloc(b->p, c);
    if (!np)
        die("out of memory");
    b->p = np;
    b->cap = c;
}

static size_t varint_len(uint64_t v)
{
    size_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

static void put_varint(buf *b, uint64_t v)
{
    buf_need(b, 10);
    while (v >= 0x80) {
        b->p[b->len++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    b->p[b->len++] = (uint8_t)v;
}

static void put_bytes(buf *b, uint32_t field, const void *d, size_t n)
{
    put_varint(b, (uint64_t)field << 3 | 2);
    put_varint(b, n);
    buf_need(b, n);
    memcpy(b->p + b->len, d, n);
    b->len += n;
}

/* One TimeSeries{labels, samples=[one]} appended as WriteRequest field 1. */
static void put_timeseries(buf *b, const lbl *l, int nl, int64_t ts, double v)
{
    size_t ts_len = 0;
    size_t lab_len[16];
    for (int k = 0; k < nl; k++) {
        size_t nn = strlen(l[k].n), vn = strlen(l[k].v);
        lab_len[k] = 1 + varint_len(nn) + nn + 1 + varint_len(vn) + vn;
        ts_len += 1 + varint_len(lab_len[k]) + lab_len[k];
    }
    size_t smp_len = 1 + 8 + 1 + varint_len((uint64_t)ts);
    ts_len += 1 + varint_len(smp_len) + smp_len;
    put_varint(b, 1 << 3 | 2);
    put_varint(b, ts_len);
    for (int k = 0; k < nl; k++) {
        put_varint(b, 1 << 3 | 2);
        put_varint(b, lab_len[k]);
        put_bytes(b, 1, l[k].n, strlen(l[k].n));
        put_bytes(b, 2, l[k].v, strlen(l[k].v));
    }
    put_varint(b, 2 << 3 | 2);
    put_varint(b, smp_len);
    buf_need(b, 9);
    b->p[b->len++] = 1 << 3 | 1;
    uint64_t bits;
    memcpy(&bits, &v, 8);
    for (int k = 0; k < 8; k++)
        b->p[b->len++] = (uint8_t)(bits >> (8 * k));
    put_varint(b, 2 << 3 | 0);
    put_varint(b, (uint64_t)ts);
}

static void finish_body(buf *pb, body *out, uint32_t nsamples)
{
    size_t cap = snappy_max_compressed_length(pb->len);
    out->data = malloc(cap);
    if (!out->data)
        die("out of memory");
    size_t clen = cap;
    if (snappy_compress((const char *)pb->p, pb->len, (char *)out->data, &clen) != SNAPPY_OK)
        die("snappy_compress failed");
    out->len = clen;
    out->nsamples = nsamples;
    pb->len = 0;
}

/* Bodies for connection c: its series (i % conns == c), round by round. */
static void build_bodies(const opts *o, conn_work *w)
{
    long c = w->idx;
    long myseries = (o->series - c + o->conns - 1) / o->conns;
    uint64_t total = (uint64_t)myseries * (uint64_t)o->samples_per_series;
    size_t nb = (size_t)((total + (uint64_t)o->batch - 1) / (uint64_t)o->batch);
    w->bodies = calloc(nb ? nb : 1, sizeof(body));
    w->lat_ms = calloc(nb ? nb * 4 : 1, sizeof(double));
    if (!w->bodies || !w->lat_ms)
        die("out of memory");
    buf pb = {0};
    lbl l[16];
    uint32_t in_batch = 0;
    size_t bi = 0;
    for (long r = 0; r < o->samples_per_series; r++) {
        int64_t ts = o->start_ms + (int64_t)r * o->interval_ms;
        for (long i = c; i < o->series; i += o->conns) {
            int nl = series_labels(i, l);
            /* the round counts from the epoch, so runs that backfill
             * consecutive windows (--start-ms) continue the same counters */
            put_timeseries(&pb, l, nl, ts, sample_value(i, (long)(ts / o->interval_ms)));
            if (++in_batch == (uint32_t)o->batch) {
                finish_body(&pb, &w->bodies[bi++], in_batch);
                in_batch = 0;
            }
        }
    }
    if (in_batch)
        finish_body(&pb, &w->bodies[bi++], in_batch);
    w->nbodies = bi;
    free(pb.p);
}

/* ---------------------------------------------------------------- HTTP */

static int conn_open(const opts *o)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)o->port)};
    if (inet_pton(AF_INET, o->host, &sa.sin_addr) != 1) {
        close(fd);
        return -1;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct timeval tv = {.tv_sec = 30};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static int send_all(int fd, struct iovec *iov, int n)
{
    while (n > 0) {
        ssize_t k = writev(fd, iov, n);
        if (k < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        while (n > 0 && (size_t)k >= iov->iov_len) {
            k -= (ssize_t)iov->iov_len;
            iov++;
            n--;
        }
        if (n > 0) {
            iov->iov_base = (char *)iov->iov_base + k;
            iov->iov_len -= (size_t)k;
        }
    }
    return 0;
}

/* Case-insensitive search for a header value in the header block. */
static const char *find_header(const char *hdr, size_t hlen, const char *name)
{
    size_t nl = strlen(name);
    for (size_t i = 0; i + nl + 1 < hlen; i++) {
        if ((i == 0 || hdr[i - 1] == '\n') && strncasecmp(hdr + i, name, nl) == 0 &&
            hdr[i + nl] == ':') {
            const char *v = hdr + i + nl + 1;
            while (*v == ' ' || *v == '\t')
                v++;
            return v;
        }
    }
    return NULL;
}

/* Reads one response. Returns status (>0), or -1 on I/O error. *close_after
 * is set when the server asked to close or framing is unknown. The body is
 * discarded except the first bytes kept in errbuf. rbuf carries over bytes
 * past the end of this response (pipelining is not used, but be correct). */
typedef struct rstate {
    char buf[MAX_RESP];
    size_t len;
} rstate;

static int read_response(int fd, rstate *rs, bool *close_after, char *errbuf, size_t errlen)
{
    *close_after = false;
    size_t hend = 0;
    for (int guard = 0; guard < 100000; guard++) {
        char *e = rs->len >= 4 ? memmem(rs->buf, rs->len, "\r\n\r\n", 4) : NULL;
        if (e) {
            hend = (size_t)(e - rs->buf) + 4;
            break;
        }
        if (rs->len == sizeof rs->buf)
            return -1;
        ssize_t k = recv(fd, rs->buf + rs->len, sizeof rs->buf - rs->len, 0);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return -1;
        rs->len += (size_t)k;
    }
    if (!hend || rs->len < 12 || memcmp(rs->buf, "HTTP/1.", 7) != 0)
        return -1;
    int status = (rs->buf[9] - '0') * 100 + (rs->buf[10] - '0') * 10 + (rs->buf[11] - '0');
    if (status < 100 || status > 599)
        return -1;
    const char *cl = find_header(rs->buf, hend, "content-length");
    const char *te = find_header(rs->buf, hend, "transfer-encoding");
    const char *cn = find_header(rs->buf, hend, "connection");
    if (cn && strncasecmp(cn, "close", 5) == 0)
        *close_after = true;
    size_t blen = 0;
    if (cl) {
        char *end = NULL;
        unsigned long long v = strtoull(cl, &end, 10);
        if (end == cl || v > MAX_RESP / 2)
            return -1;
        blen = (size_t)v;
    } else if (te || (status != 204 && status != 304)) {
        /* chunked or read-until-close: we do not need the body; drop the connection */
        *close_after = true;
    }
    while (rs->len < hend + blen) {
        if (rs->len == sizeof rs->buf)
            return -1;
        ssize_t k = recv(fd, rs->buf + rs->len, sizeof rs->buf - rs->len, 0);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return -1;
        rs->len += (size_t)k;
    }
    if (errlen && status / 100 != 2) {
        size_t n = blen < errlen - 1 ? blen : errlen - 1;
        memcpy(errbuf, rs->buf + hend, n);
        errbuf[n] = 0;
        for (size_t i = 0; i < n; i++)
            if (errbuf[i] == '\n' || errbuf[i] == '\r')
                errbuf[i] = ' ';
    }
    size_t used = hend + blen;
    memmove(rs->buf, rs->buf + used, rs->len - used);
    rs->len -= used;
    return status;
}

static void *conn_run(void *arg)
{
    conn_work *w = arg;
    const opts *o = w->o;
    char name[16];
    snprintf(name, sizeof name, "rwload-%d", w->idx);
    pthread_setname_np(pthread_self(), name);
    rstate *rs = calloc(1, sizeof *rs);
    if (!rs)
        die("out of memory");
    char hdr[1024];
    int fd = -1;
    for (size_t b = 0; b < w->nbodies; b++) {
        body *bd = &w->bodies[b];
        for (long attempt = 0; attempt <= o->max_retries; attempt++) {
            if (now_s() > g_deadline)
                goto out;
            if (fd < 0) {
                fd = conn_open(o);
                rs->len = 0;
                if (fd < 0) {
                    w->errors++;
                    if (!w->first_error[0])
                        snprintf(w->first_error, sizeof w->first_error, "connect: %s",
                                 strerror(errno));
                    usleep(100000);
                    continue;
                }
                w->reconnects++;
            }
            int hl = snprintf(hdr, sizeof hdr,
                              "POST %s HTTP/1.1\r\nHost: %s:%d\r\n"
                              "User-Agent: sonde-rwload/0.1\r\n"
                              "Content-Type: application/x-protobuf\r\n"
                              "Content-Encoding: snappy\r\n"
                              "X-Prometheus-Remote-Write-Version: 0.1.0\r\n"
                              "%s%s%s"
                              "Content-Length: %zu\r\n\r\n",
                              o->path, o->host, o->port, o->tenant ? "X-Scope-OrgID: " : "",
                              o->tenant ? o->tenant : "", o->tenant ? "\r\n" : "", bd->len);
            struct iovec iov[2] = {{hdr, (size_t)hl}, {bd->data, bd->len}};
            double t0 = now_s();
            bool close_after = false;
            char err[200] = {0};
            int st = -1;
            if (send_all(fd, iov, 2) == 0)
                st = read_response(fd, rs, &close_after, err, sizeof err);
            double t1 = now_s();
            if (st < 0) {
                w->errors++;
                if (!w->first_error[0])
                    snprintf(w->first_error, sizeof w->first_error, "I/O error: %s",
                             strerror(errno));
                close(fd);
                fd = -1;
                w->retries++;
                usleep((useconds_t)(10000 << (attempt < 6 ? attempt : 6)));
                continue;
            }
            w->lat_ms[w->nlat++ % (w->nbodies * 4)] = (t1 - t0) * 1000.0;
            w->bytes_sent += (uint64_t)bd->len;
            if (close_after) {
                close(fd);
                fd = -1;
            }
            if (st / 100 == 2) {
                w->ok_requests++;
                w->ok_samples += bd->nsamples;
                break;
            }
            if (!w->first_error[0])
                snprintf(w->first_error, sizeof w->first_error, "HTTP %d: %s", st, err);
            if (st >= 500 || st == 429) {
                w->errors++;
                w->retries++;
                usleep((useconds_t)(10000 << (attempt < 6 ? attempt : 6)));
                continue;
            }
            w->rejected_requests++;
            w->rejected_samples += bd->nsamples;
            break;
        }
    }
out:
    if (fd >= 0)
        close(fd);
    free(rs);
    return NULL;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    opts o = {.series = 100000,
              .samples_per_series = 30,
              .batch = 2000,
              .conns = 8,
              .duration_max = 120,
              .max_retries = 10,
              .interval_ms = 15000,
              .start_ms = -1,
              .label = "-"};
    bool have_url = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h"))
            usage();
        if (!v)
            usage();
        i++;
        if (!strcmp(a, "--url")) {
            parse_url(&o, v);
            have_url = true;
        } else if (!strcmp(a, "--series"))
            o.series = parse_long(v, "--series", 1, 100000000);
        else if (!strcmp(a, "--samples-per-series"))
            o.samples_per_series = parse_long(v, "--samples-per-series", 1, 100000);
        else if (!strcmp(a, "--batch"))
            o.batch = parse_long(v, "--batch", 1, 1000000);
        else if (!strcmp(a, "--conns"))
            o.conns = parse_long(v, "--conns", 1, MAX_CONNS);
        else if (!strcmp(a, "--duration-max"))
            o.duration_max = parse_double(v, "--duration-max");
        else if (!strcmp(a, "--max-retries"))
            o.max_retries = parse_long(v, "--max-retries", 0, 1000);
        else if (!strcmp(a, "--interval-ms"))
            o.interval_ms = parse_long(v, "--interval-ms", 1, 86400000);
        else if (!strcmp(a, "--start-ms"))
            o.start_ms = parse_long(v, "--start-ms", 0, INT64_MAX / 2);
        else if (!strcmp(a, "--tenant"))
            o.tenant = v;
        else if (!strcmp(a, "--label"))
            o.label = v;
        else
            usage();
    }
    if (!have_url)
        usage();
    if (o.conns > o.series)
        o.conns = o.series;
    if (o.start_ms < 0) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        int64_t now_ms = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
        o.start_ms = now_ms - o.samples_per_series * o.interval_ms;
    }

    conn_work *w = calloc((size_t)o.conns, sizeof *w);
    if (!w)
        die("out of memory");
    double tb = now_s();
    uint64_t total_samples = 0, total_bytes = 0, total_reqs = 0;
    for (long c = 0; c < o.conns; c++) {
        w[c].idx = (int)c;
        w[c].o = &o;
        build_bodies(&o, &w[c]);
        for (size_t b = 0; b < w[c].nbodies; b++) {
            total_samples += w[c].bodies[b].nsamples;
            total_bytes += w[c].bodies[b].len;
        }
        total_reqs += w[c].nbodies;
    }
    fprintf(stderr,
            "rwload: built %" PRIu64 " requests, %" PRIu64 " samples, %.1f MiB snappy "
            "(%.1f bytes/sample) in %.1fs; sending to %s:%d%s over %ld connections\n",
            total_reqs, total_samples, (double)total_bytes / 1048576.0,
            total_samples ? (double)total_bytes / (double)total_samples : 0.0, now_s() - tb,
            o.host, o.port, o.path, o.conns);

    pthread_t th[MAX_CONNS];
    double t0 = now_s();
    g_deadline = t0 + o.duration_max;
    for (long c = 0; c < o.conns; c++)
        if (pthread_create(&th[c], NULL, conn_run, &w[c]) != 0)
            die("pthread_create failed");
    for (long c = 0; c < o.conns; c++)
        pthread_join(th[c], NULL);
    double elapsed = now_s() - t0;

    uint64_t ok_req = 0, ok_smp = 0, rej_req = 0, rej_smp = 0, errors = 0, retries = 0;
    size_t nlat = 0;
    for (long c = 0; c < o.conns; c++) {
        ok_req += w[c].ok_requests;
        ok_smp += w[c].ok_samples;
        rej_req += w[c].rejected_requests;
        rej_smp += w[c].rejected_samples;
        errors += w[c].errors;
        retries += w[c].retries;
        size_t cap = w[c].nbodies * 4;
        nlat += w[c].nlat < cap ? w[c].nlat : cap;
    }
    double *lat = calloc(nlat ? nlat : 1, sizeof(double));
    if (!lat)
        die("out of memory");
    size_t li = 0;
    for (long c = 0; c < o.conns; c++) {
        size_t cap = w[c].nbodies * 4;
        size_t n = w[c].nlat < cap ? w[c].nlat : cap;
        memcpy(lat + li, w[c].lat_ms, n * sizeof(double));
        li += n;
    }
    qsort(lat, nlat, sizeof(double), cmp_double);
    double p50 = nlat ? lat[(size_t)((double)(nlat - 1) * 0.50)] : NAN;
    double p99 = nlat ? lat[(size_t)((double)(nlat - 1) * 0.99)] : NAN;
    double pmax = nlat ? lat[nlat - 1] : NAN;
    double sps = elapsed > 0 ? (double)ok_smp / elapsed : 0;
    bool complete = ok_req + rej_req == total_reqs;

    for (long c = 0; c < o.conns; c++)
        if (w[c].first_error[0]) {
            fprintf(stderr, "rwload: conn %ld first error: %s\n", c, w[c].first_error);
            break;
        }
    printf("rwload: %s:%d%s series=%ld samples/series=%ld batch=%ld conns=%ld\n", o.host, o.port,
           o.path, o.series, o.samples_per_series, o.batch, o.conns);
    printf("  ingested   %" PRIu64 " of %" PRIu64 " samples in %.3f s%s\n", ok_smp, total_samples,
           elapsed, complete ? "" : " (STOPPED at --duration-max)");
    printf("  rate       %.0f samples/s\n", sps);
    printf("  requests   %" PRIu64 " ok, %" PRIu64 " rejected (4xx), %" PRIu64 " errors, %" PRIu64
           " retries\n",
           ok_req, rej_req, errors, retries);
    printf("  latency    p50 %.2f ms, p99 %.2f ms, max %.2f ms\n", p50, p99, pmax);
    printf("RESULT label=%s samples_total=%" PRIu64 " samples_ok=%" PRIu64
           " samples_rejected=%" PRIu64 " seconds=%.3f samples_per_s=%.0f requests_ok=%" PRIu64
           " requests_rejected=%" PRIu64 " errors=%" PRIu64 " retries=%" PRIu64
           " p50_ms=%.3f p99_ms=%.3f max_ms=%.3f complete=%d series=%ld conns=%ld batch=%ld\n",
           o.label, total_samples, ok_smp, rej_smp, elapsed, sps, ok_req, rej_req, errors, retries,
           p50, p99, pmax, complete ? 1 : 0, o.series, o.conns, o.batch);
    fflush(stdout);

    for (long c = 0; c < o.conns; c++) {
        for (size_t b = 0; b < w[c].nbodies; b++)
            free(w[c].bodies[b].data);
        free(w[c].bodies);
        free(w[c].lat_ms);
    }
    free(w);
    free(lat);
    return complete && rej_req == 0 ? 0 : 1;
}
