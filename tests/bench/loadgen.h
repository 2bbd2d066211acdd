/*
 * loadgen.h - what the benchmark load generators (rwload.c, otlpload.c) share.
 *
 * Both are standalone clients that link no sonde library, so this is a
 * header of static functions, not a library: each generator is one
 * translation unit that defines LOADGEN_PROG (its name, the prefix of its
 * messages) and then includes this file. Names start with lg_, except the
 * protobuf writer's (buf_, put_, varint_len), which keep the names the
 * generators' encoders use. A function one of them does not call is marked
 * LG_UNUSED.
 *
 * It holds: checked option parsing (no atoi) and the http://HOST:PORT[/path]
 * URL; clocks; allocation that dies on failure; the protobuf writer's
 * growable buffer and varints; the blocking socket (connect with TCP_NODELAY
 * and 30 s send/receive timeouts, writev until done); the HTTP/1.1 answer
 * reader; one HTTP POST with reconnects, retries and backoff; per-connection
 * counters with latency samples; and the run of the sender threads.
 *
 * Threads: the sender threads each own one lg_conn and one lg_stats; main
 * reads them after join. lg_deadline is written by main before the threads
 * start and only read by them.
 */
#ifndef SONDE_BENCH_LOADGEN_H
#define SONDE_BENCH_LOADGEN_H

#ifndef LOADGEN_PROG
#error "define LOADGEN_PROG (the program's name) before including loadgen.h"
#endif

#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#define LG_UNUSED __attribute__((unused))
#define LG_MAX_CONNS 256
#define LG_MAX_RESP (1u << 20)

/* ---------------------------------------------------------------- basics */

static double lg_deadline; /* monotonic seconds: senders start nothing after it */

static double lg_now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t lg_now_unix_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void lg_die(const char *msg)
{
    fprintf(stderr, LOADGEN_PROG ": %s\n", msg);
    exit(2);
}

static void *lg_malloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p)
        lg_die("out of memory");
    return p;
}

static void *lg_calloc(size_t n, size_t sz)
{
    void *p = calloc(n ? n : 1, sz);
    if (!p)
        lg_die("out of memory");
    return p;
}

/* ---------------------------------------------------------------- options */

/* strtol/strtod with full checks (no atoi); a bad value ends the program. */
static long lg_parse_long(const char *s, const char *what, long min, long max)
{
    char *end = NULL;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < min || v > max) {
        fprintf(stderr, LOADGEN_PROG ": bad %s %s (want %ld..%ld)\n", what, s, min, max);
        exit(2);
    }
    return v;
}

/* A positive number of at most 1e6 (seconds). */
static double lg_parse_double(const char *s, const char *what)
{
    char *end = NULL;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !(v > 0) || v > 1e6) {
        fprintf(stderr, LOADGEN_PROG ": bad %s %s\n", what, s);
        exit(2);
    }
    return v;
}

typedef struct lg_url {
    char host[64]; /* an IPv4 address */
    int port;
    char path[256]; /* from the first '/', "" when the URL has none */
} lg_url;

/* http://HOST:PORT[/path] into u; example is shown when host:port is missing. */
static void lg_parse_url(lg_url *u, const char *url, const char *example)
{
    const char *p = url;
    if (strncmp(p, "http://", 7) != 0)
        lg_die("--url must start with http://");
    p += 7;
    const char *colon = strchr(p, ':');
    const char *slash = strchr(p, '/');
    if (!colon || (slash && slash < colon) || (size_t)(colon - p) >= sizeof u->host) {
        fprintf(stderr, LOADGEN_PROG ": --url needs host:port, e.g. %s\n", example);
        exit(2);
    }
    memcpy(u->host, p, (size_t)(colon - p));
    u->host[colon - p] = 0;
    char port[16] = {0};
    size_t plen = slash ? (size_t)(slash - colon - 1) : strlen(colon + 1);
    if (plen == 0 || plen >= sizeof port)
        lg_die("bad port in --url");
    memcpy(port, colon + 1, plen);
    u->port = (int)lg_parse_long(port, "port", 1, 65535);
    snprintf(u->path, sizeof u->path, "%s", slash ? slash : "");
}

/* The options both generators take. */
typedef struct lg_opts {
    lg_url url;
    bool have_url;
    long conns;          /* connections, one sender thread each */
    double duration_max; /* seconds: nothing new is sent after it */
    long max_retries;    /* of one request */
    const char *label;   /* free text echoed in the RESULT line */
} lg_opts;

/* For argv's "--name value" pairs: the value of argv[*i], with *i moved onto
 * it. --help, -h and a missing value call usage (which exits). */
static const char *lg_arg_value(int argc, char **argv, int *i, void (*usage)(void))
{
    const char *a = argv[*i];
    if (!strcmp(a, "--help") || !strcmp(a, "-h") || *i + 1 >= argc)
        usage();
    return argv[++*i];
}

/* Takes option a with value v into lg when it is a shared one (--url, whose
 * path it leaves as given, --conns, --duration-max, --max-retries, --label).
 * Returns whether it was. */
static bool lg_opts_parse(lg_opts *lg, const char *a, const char *v, const char *url_example)
{
    if (!strcmp(a, "--url")) {
        lg_parse_url(&lg->url, v, url_example);
        lg->have_url = true;
    } else if (!strcmp(a, "--conns"))
        lg->conns = lg_parse_long(v, "--conns", 1, LG_MAX_CONNS);
    else if (!strcmp(a, "--duration-max"))
        lg->duration_max = lg_parse_double(v, "--duration-max");
    else if (!strcmp(a, "--max-retries"))
        lg->max_retries = lg_parse_long(v, "--max-retries", 0, 1000);
    else if (!strcmp(a, "--label"))
        lg->label = v;
    else
        return false;
    return true;
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
    size_t c = b->cap ? b->cap : 65536;
    while (c < b->len + n)
        c *= 2;
    uint8_t *np = realloc(b->p, c);
    if (!np)
        lg_die("out of memory");
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

static void put_tag(buf *b, uint32_t field, uint32_t wt)
{
    put_varint(b, (uint64_t)field << 3 | wt);
}

static void put_bytes(buf *b, uint32_t field, const void *d, size_t n)
{
    put_tag(b, field, 2);
    put_varint(b, n);
    buf_need(b, n);
    memcpy(b->p + b->len, d, n);
    b->len += n;
}

/* ---------------------------------------------------------------- sockets */

/* A blocking TCP connection to u with TCP_NODELAY and 30 s send/receive
 * timeouts. Returns the fd, or -1 with errno set. */
static int lg_connect(const lg_url *u)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)u->port)};
    if (inet_pton(AF_INET, u->host, &sa.sin_addr) != 1) {
        close(fd);
        errno = EINVAL;
        return -1;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct timeval tv = {.tv_sec = 30};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    return fd;
}

/* Writes all of iov[0..n) (which it consumes). Returns 0, or -1 with errno. */
static int lg_send_all(int fd, struct iovec *iov, int n)
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

/* ---------------------------------------------------------------- results */

/* One sender thread's counters. Items are samples, spans, points or records;
 * refused_items are those an acknowledged request's answer refused (OTLP's
 * partial_success), not counted in ok_items. */
typedef struct lg_stats {
    uint64_t ok_requests, ok_items, refused_items, rejected_requests, rejected_items, errors,
        retries, reconnects, bytes_sent;
    double *lat_ms; /* one per attempt that got an answer, at most latcap */
    size_t nlat, latcap;
    char first_error[256];
    long first_error_conn; /* in a sum: whose first_error it is */
} lg_stats;

/* Keeps the connection's first error, "what: detail", for the report. */
static void lg_note_error(lg_stats *st, const char *what, const char *detail)
{
    if (!st->first_error[0])
        snprintf(st->first_error, sizeof st->first_error, "%s: %s", what, detail);
}

/* An acknowledged request of nitems items, refused of which the answer refused. */
static void lg_stats_ack(lg_stats *st, uint64_t nitems, uint64_t refused)
{
    if (refused > nitems)
        refused = nitems;
    st->ok_requests++;
    st->ok_items += nitems - refused;
    st->refused_items += refused;
}

/* A request of nitems items answered with a final refusal. */
static void lg_stats_reject(lg_stats *st, uint64_t nitems)
{
    st->rejected_requests++;
    st->rejected_items += nitems;
}

static void lg_record_latency(lg_stats *st, double ms)
{
    if (st->nlat < st->latcap)
        st->lat_ms[st->nlat++] = ms;
}

/* Backoff: 10 ms << attempt, at most 640 ms. */
LG_UNUSED static double lg_backoff_s(long attempt)
{
    return 0.01 * (double)(1 << (attempt < 6 ? attempt : 6));
}

static void lg_backoff_sleep(long attempt)
{
    usleep((useconds_t)(10000 << (attempt < 6 ? attempt : 6)));
}

/* The sum of n threads' counters, each stats stride bytes after the one
 * before, with all their latencies (in a new lat_ms the caller frees) and the
 * first error met. */
static lg_stats lg_stats_sum(const lg_stats *first, size_t stride, long n)
{
    lg_stats sum = {0};
    for (long c = 0; c < n; c++)
        sum.latcap += ((const lg_stats *)((const char *)first + (size_t)c * stride))->nlat;
    sum.lat_ms = lg_calloc(sum.latcap, sizeof(double));
    for (long c = 0; c < n; c++) {
        const lg_stats *one = (const lg_stats *)((const char *)first + (size_t)c * stride);
        sum.ok_requests += one->ok_requests;
        sum.ok_items += one->ok_items;
        sum.refused_items += one->refused_items;
        sum.rejected_requests += one->rejected_requests;
        sum.rejected_items += one->rejected_items;
        sum.errors += one->errors;
        sum.retries += one->retries;
        sum.reconnects += one->reconnects;
        sum.bytes_sent += one->bytes_sent;
        memcpy(sum.lat_ms + sum.nlat, one->lat_ms, one->nlat * sizeof(double));
        sum.nlat += one->nlat;
        if (!sum.first_error[0] && one->first_error[0]) {
            memcpy(sum.first_error, one->first_error, sizeof sum.first_error);
            sum.first_error_conn = c;
        }
    }
    return sum;
}

static int lg_cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

typedef struct lg_latency {
    double p50, p99, max; /* ms, NAN without samples */
} lg_latency;

/* Sorts st's latencies; nearest-rank (rounded down) percentiles. */
static lg_latency lg_stats_latency(lg_stats *st)
{
    size_t n = st->nlat;
    if (n)
        qsort(st->lat_ms, n, sizeof(double), lg_cmp_double);
    lg_latency l = {NAN, NAN, NAN};
    if (n) {
        l.p50 = st->lat_ms[(size_t)((double)(n - 1) * 0.50)];
        l.p99 = st->lat_ms[(size_t)((double)(n - 1) * 0.99)];
        l.max = st->lat_ms[n - 1];
    }
    return l;
}

/* The first error met, on stderr. */
static void lg_print_first_error(const lg_stats *sum)
{
    if (sum->first_error[0])
        fprintf(stderr, LOADGEN_PROG ": conn %ld first error: %s\n", sum->first_error_conn,
                sum->first_error);
}

static void lg_print_latency(lg_latency l)
{
    printf("  latency    p50 %.2f ms, p99 %.2f ms, max %.2f ms\n", l.p50, l.p99, l.max);
}

/* ---------------------------------------------------------------- threads */

/* Names the calling sender thread PROG-idx, for top -H. */
static void lg_thread_name(int idx)
{
    char name[16];
    snprintf(name, sizeof name, LOADGEN_PROG "-%d", idx);
    pthread_setname_np(pthread_self(), name);
}

/* Sets lg_deadline, runs fn on each of the n work items (size bytes apart in
 * items), one thread each, and joins them. Returns the seconds it took. */
static double lg_run_threads(long n, void *(*fn)(void *), void *items, size_t size,
                             double duration_max)
{
    pthread_t th[LG_MAX_CONNS];
    double t0 = lg_now_s();
    lg_deadline = t0 + duration_max;
    for (long c = 0; c < n; c++)
        if (pthread_create(&th[c], NULL, fn, (char *)items + (size_t)c * size) != 0)
            lg_die("pthread_create failed");
    for (long c = 0; c < n; c++)
        pthread_join(th[c], NULL);
    return lg_now_s() - t0;
}

/* ---------------------------------------------------------------- HTTP/1.1 */

/* Case-insensitive search for a header's value in the header block. */
static const char *lg_find_header(const char *hdr, size_t hlen, const char *name)
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

/* A keep-alive HTTP/1.1 connection: fd (-1 when closed) and its answers. */
typedef struct lg_conn {
    int fd;
    size_t len;  /* bytes in buf */
    size_t used; /* bytes of the last answer, dropped before the next read */
    char buf[LG_MAX_RESP];
} lg_conn;

/* One more recv into c->buf. Returns 0, or -1 when the buffer is full, on an
 * error or at the end of the stream. */
static int lg_conn_recv(lg_conn *c)
{
    for (;;) {
        if (c->len == sizeof c->buf)
            return -1;
        ssize_t k = recv(c->fd, c->buf + c->len, sizeof c->buf - c->len, 0);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return -1;
        c->len += (size_t)k;
        return 0;
    }
}

/* Reads one answer. Returns its status (>0) with its body in *bodyp and
 * *blenp (valid until the next read), or -1 on an I/O or framing error.
 * *close_after: the server asked to close, or the framing is unknown. */
static int lg_read_response(lg_conn *c, bool *close_after, const char **bodyp, size_t *blenp)
{
    if (c->used) {
        memmove(c->buf, c->buf + c->used, c->len - c->used);
        c->len -= c->used;
        c->used = 0;
    }
    *close_after = false;
    size_t hend = 0;
    for (int guard = 0; guard < 100000; guard++) {
        char *e = c->len >= 4 ? memmem(c->buf, c->len, "\r\n\r\n", 4) : NULL;
        if (e) {
            hend = (size_t)(e - c->buf) + 4;
            break;
        }
        if (lg_conn_recv(c) != 0)
            return -1;
    }
    if (!hend || c->len < 12 || memcmp(c->buf, "HTTP/1.", 7) != 0)
        return -1;
    int status = (c->buf[9] - '0') * 100 + (c->buf[10] - '0') * 10 + (c->buf[11] - '0');
    if (status < 100 || status > 599)
        return -1;
    const char *cl = lg_find_header(c->buf, hend, "content-length");
    const char *te = lg_find_header(c->buf, hend, "transfer-encoding");
    const char *cn = lg_find_header(c->buf, hend, "connection");
    if (cn && strncasecmp(cn, "close", 5) == 0)
        *close_after = true;
    size_t blen = 0;
    if (cl) {
        char *end = NULL;
        unsigned long long v = strtoull(cl, &end, 10);
        if (end == cl || v > LG_MAX_RESP / 2)
            return -1;
        blen = (size_t)v;
    } else if (te || (status != 204 && status != 304)) {
        *close_after = true; /* chunked or read-until-close: not needed, drop */
    }
    while (c->len < hend + blen)
        if (lg_conn_recv(c) != 0)
            return -1;
    *bodyp = c->buf + hend;
    *blenp = blen;
    c->used = hend + blen;
    return status;
}

static void lg_conn_close(lg_conn *c)
{
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
}

/* A closed connection; it opens on the first lg_http_post. */
static lg_conn *lg_conn_create(void)
{
    lg_conn *c = lg_calloc(1, sizeof *c);
    c->fd = -1;
    return c;
}

static void lg_conn_destroy(lg_conn *c)
{
    if (!c)
        return;
    lg_conn_close(c);
    free(c);
}

/* The header of a protobuf POST to path on u with a len-byte body; extra
 * holds more header lines, each ending in CRLF. Returns its length. */
static size_t lg_http_header(char *hdr, size_t cap, const lg_url *u, const char *path,
                             const char *extra, size_t len)
{
    int n = snprintf(hdr, cap,
                     "POST %s HTTP/1.1\r\nHost: %s:%d\r\n"
                     "User-Agent: sonde-" LOADGEN_PROG "/0.1\r\n"
                     "Content-Type: application/x-protobuf\r\n"
                     "%s"
                     "Content-Length: %zu\r\n\r\n",
                     path, u->host, u->port, extra, len);
    if (n < 0 || (size_t)n >= cap)
        lg_die("HTTP request header too long");
    return (size_t)n;
}

/* Sends one request of nitems items (header hdr of hlen bytes, then the
 * body) on c, opening the connection when needed, until it gets a final
 * answer, and counts it in st. 5xx, 429 and I/O errors are retried with the
 * same bytes, with backoff, up to max_retries times; each counts as an error.
 * Latency and bytes_sent count every answered attempt. A 2xx acknowledges the
 * request, less the items refused(answer) says it refused (refused may be
 * NULL); any other answer rejects it. Returns false when lg_deadline passed
 * (send nothing more), true otherwise (also when the retries ran out: the
 * request then counts as neither acknowledged nor rejected). */
static bool lg_http_post(lg_conn *c, const lg_url *u, const char *hdr, size_t hlen,
                         const void *body, size_t len, uint32_t nitems,
                         uint64_t (*refused)(const uint8_t *answer, size_t alen), long max_retries,
                         lg_stats *st)
{
    for (long attempt = 0; attempt <= max_retries; attempt++) {
        if (lg_now_s() > lg_deadline)
            return false;
        if (c->fd < 0) {
            c->fd = lg_connect(u);
            c->len = c->used = 0;
            if (c->fd < 0) {
                st->errors++;
                lg_note_error(st, "connect", strerror(errno));
                usleep(100000);
                continue;
            }
            st->reconnects++;
        }
        struct iovec iov[2] = {{(void *)hdr, hlen}, {(void *)body, len}};
        double t0 = lg_now_s();
        bool close_after = false;
        const char *rb = NULL;
        size_t rlen = 0;
        int status = -1;
        if (lg_send_all(c->fd, iov, 2) == 0)
            status = lg_read_response(c, &close_after, &rb, &rlen);
        double t1 = lg_now_s();
        if (status < 0) {
            st->errors++;
            lg_note_error(st, "I/O error", strerror(errno));
            lg_conn_close(c);
            st->retries++;
            lg_backoff_sleep(attempt);
            continue;
        }
        lg_record_latency(st, (t1 - t0) * 1000.0);
        st->bytes_sent += (uint64_t)len;
        if (status / 100 == 2) {
            lg_stats_ack(st, nitems, refused ? refused((const uint8_t *)rb, rlen) : 0);
        } else if (!st->first_error[0]) {
            /* the start of the answer, printable: a text error or protobuf */
            char err[200];
            size_t n = rlen < sizeof err - 1 ? rlen : sizeof err - 1;
            for (size_t i = 0; i < n; i++) {
                char ch = rb[i];
                err[i] = ch == '\n' || ch == '\r' || ch == '\t' ? ' '
                         : ch < 32 || ch > 126                  ? '.'
                                                                : ch;
            }
            err[n] = 0;
            snprintf(st->first_error, sizeof st->first_error, "HTTP %d: %s", status, err);
        }
        if (close_after)
            lg_conn_close(c);
        if (status / 100 == 2)
            return true;
        if (status >= 500 || status == 429) {
            st->errors++;
            st->retries++;
            lg_backoff_sleep(attempt);
            continue;
        }
        lg_stats_reject(st, nitems);
        return true;
    }
    return true;
}

/* ---- OTLP answers (otlpload, logload) ---- */

/* Protobuf reading, just enough for an Export*ServiceResponse. */
static __attribute__((unused)) bool lg_pb_varint(const uint8_t *p, size_t n, size_t *i,
                                                uint64_t *v)
{
    *v = 0;
    for (int sh = 0; *i < n && sh < 64; sh += 7) {
        uint8_t c = p[(*i)++];
        *v |= (uint64_t)(c & 0x7f) << sh;
        if (!(c & 0x80))
            return true;
    }
    return false;
}

/* The first field `field` of wire type `wt` (0 or 2) in p[0..n): its value
 * (wt 0) or its bytes (wt 2). */
static __attribute__((unused)) bool lg_pb_find(const uint8_t *p, size_t n, uint32_t field,
                                              uint32_t wt, uint64_t *v, const uint8_t **sub,
                                              size_t *sublen)
{
    size_t i = 0;
    while (i < n) {
        uint64_t key, x = 0;
        if (!lg_pb_varint(p, n, &i, &key))
            return false;
        uint32_t kwt = (uint32_t)(key & 7);
        if (kwt == 0 || kwt == 2) {
            if (!lg_pb_varint(p, n, &i, &x))
                return false;
        }
        if (kwt == 2 && x > n - i)
            return false;
        if ((uint32_t)(key >> 3) == field && kwt == wt) {
            *v = x;
            if (wt == 2) {
                *sub = p + i;
                *sublen = (size_t)x;
            }
            return true;
        }
        if (kwt == 2)
            i += (size_t)x;
        else if (kwt == 1)
            i += 8;
        else if (kwt == 5)
            i += 4;
        else if (kwt != 0)
            return false;
    }
    return false;
}

/* partial_success.rejected_{spans,data_points,log_records} of an OTLP Export response: field 1
 * of field 1; 0 when absent. */
static __attribute__((unused)) uint64_t lg_otlp_rejected(const uint8_t *p, size_t n)
{
    uint64_t v = 0;
    const uint8_t *ps = NULL;
    size_t pslen = 0;
    if (!lg_pb_find(p, n, 1, 2, &v, &ps, &pslen))
        return 0;
    if (!lg_pb_find(ps, pslen, 1, 0, &v, NULL, NULL))
        return 0;
    return v;
}

#endif
