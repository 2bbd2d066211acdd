/*
 * logload.c - log load generator for benchmarks: the Loki push API
 * (snappy-compressed protobuf logproto.PushRequest, or JSON) or OTLP logs
 * over HTTP (protobuf), with real log lines from LogHub.
 *
 * Content: the raw lines of DIR/<Set>/<Set>_2k.log for every LogHub set under
 * --loghub (sorted by name), repeated, with every run of digits redrawn
 * (same length; a run that starts with a non-zero digit keeps a non-zero
 * first digit), so that no two lines are byte-identical while the words stay
 * real. Each set is read from a random offset, in file order, wrapping
 * around. Lines are cleaned once at load: invalid UTF-8 bytes become '?',
 * control characters other than TAB become ' '.
 *
 * Streams: one per set. Loki: {job="loghub", service_name="<Set>",
 * service_namespace="loghub"}; OTLP: resource attributes service.name=<Set>,
 * service.namespace=loghub (which sonde indexes as the stream labels
 * service_name and service_namespace). Each stream's timestamps are spread
 * evenly over the --span-s seconds that end 5 s before the bodies are built
 * (with jitter, strictly ascending, in ns).
 *
 * Connections: --conns threads, each one keep-alive HTTP/1.1 connection with
 * one request in flight (so --conns requests are in flight together). A
 * stream belongs to one connection (stream s to connection s % conns), so
 * every stream's lines arrive in time order; a request of
 * --lines-per-request lines holds an equal share of each of its
 * connection's streams (Promtail-like: several streams per push).
 *
 * Timing: every body is built (and compressed) before the clock starts.
 * Latency is per answered attempt. 2xx acknowledges a request (OTLP: less
 * partial_success.rejected_log_records); 5xx, 429 and I/O errors are retried
 * with the same bytes and backoff (--max-retries); any other answer counts
 * the request as failed. At --duration-max nothing new is sent.
 *
 * --dump-lines FILE writes exactly the lines of the bodies, one per line, in
 * the order they are sent per connection (connection 0's first), so that a
 * script can compress the same bytes with gzip or zstd.
 *
 * Output: a human summary, then one "RESULT ..." line. Exit status 0 only
 * when every line was acknowledged.
 *
 * Threads: main (build, report) and logload-N senders; each sender owns its
 * work item; main reads them after join.
 */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <snappy-c.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#define LOADGEN_PROG "logload"
#include "loadgen.h"

#define MAX_SETS 32
#define MAX_LINE 8192

enum { P_LOKI, P_LOKI_JSON, P_OTLP };
static const char *const k_proto_name[3] = {"loki", "loki-json", "otlp"};

typedef struct opts {
    lg_opts lg;
    int proto;
    long lines_per_request;
    long requests;
    long span_s;
    long max_mem_mb;
    uint64_t seed;
    const char *loghub;
    const char *dump;
    const char *tenant;
} opts;

typedef struct body {
    uint8_t *data;
    size_t len;
    uint32_t nitems;
} body;

typedef struct conn_work {
    int idx;
    const opts *o;
    body *bodies;
    size_t nbodies;
    lg_stats st;
} conn_work;

static void usage(void)
{
    fprintf(stderr,
            "usage: logload --url http://HOST:PORT [--proto loki|loki-json|otlp] [options]\n"
            "  --lines-per-request N   log lines per request (default 1000)\n"
            "  --requests N            requests in all (default 200)\n"
            "  --conns C               connections, one thread and one request in flight\n"
            "                          each (default 4, at most the number of LogHub sets)\n"
            "  --span-s S              timestamps spread over the last S seconds (default 3600)\n"
            "  --ts-jitter ns|ms|none  a random offset below half the spacing is added to each\n"
            "                          timestamp: to the nanosecond (default), rounded to whole\n"
            "                          milliseconds, or none (evenly spaced)\n"
            "  --duration-max SECONDS  stop sending after this long (default 120)\n"
            "  --max-retries R         retries of a retryable failure (default 10)\n"
            "  --loghub DIR            LogHub dir with <Set>/<Set>_2k.log\n"
            "                          (default /work/shared/conformance/loghub)\n"
            "  --seed N                PRNG seed (default 1)\n"
            "  --tenant ID             X-Scope-OrgID header (default none)\n"
            "  --dump-lines FILE       write the lines sent, one per line\n"
            "  --max-mem-mb M          cap on the encoded bodies (default 4096)\n"
            "  --label TEXT            echoed in the RESULT line\n"
            "The URL's path, if any, replaces /loki/api/v1/push or /v1/logs.\n");
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

/* ---------------------------------------------------------------- LogHub */

typedef struct logset {
    char name[32];
    char **lines;
    size_t *lens;
    size_t n;
} logset;

static logset g_sets[MAX_SETS];
static int g_nsets;

/* Length of the valid UTF-8 sequence at p (at most n bytes), 0 if invalid. */
static size_t utf8_seq(const unsigned char *p, size_t n)
{
    unsigned c = p[0];
    size_t len;
    unsigned min;
    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF)
        len = 2, min = 0x80;
    else if (c >= 0xE0 && c <= 0xEF)
        len = 3, min = 0x800;
    else if (c >= 0xF0 && c <= 0xF4)
        len = 4, min = 0x10000;
    else
        return 0;
    if (n < len)
        return 0;
    unsigned cp = c & (0x7F >> len);
    for (size_t i = 1; i < len; i++) {
        if ((p[i] & 0xC0) != 0x80)
            return 0;
        cp = cp << 6 | (p[i] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return len;
}

/* Cleans s[0..n) in place (see the header); returns the new length. */
static size_t clean_line(char *s, size_t n)
{
    size_t w = 0;
    for (size_t i = 0; i < n;) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x80) {
            s[w++] = (char)((c < 0x20 && c != '\t') || c == 0x7F ? ' ' : c);
            i++;
            continue;
        }
        size_t k = utf8_seq((const unsigned char *)s + i, n - i);
        if (!k) {
            s[w++] = '?';
            i++;
            continue;
        }
        memmove(s + w, s + i, k);
        w += k;
        i += k;
    }
    while (w > 0 && s[w - 1] == ' ')
        w--;
    return w;
}

static void load_set(const char *dir, const char *name)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s/%s_2k.log", dir, name, name);
    FILE *f = fopen(path, "rb");
    if (!f)
        return;
    logset *ls = &g_sets[g_nsets];
    size_t cap = 0;
    char *line = NULL;
    size_t lcap = 0;
    ssize_t k;
    while ((k = getline(&line, &lcap, f)) > 0) {
        size_t n = (size_t)k;
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
            n--;
        if (n > MAX_LINE)
            n = MAX_LINE;
        n = clean_line(line, n);
        if (n == 0)
            continue;
        if (ls->n == cap) {
            cap = cap ? cap * 2 : 1024;
            ls->lines = realloc(ls->lines, cap * sizeof *ls->lines);
            ls->lens = realloc(ls->lens, cap * sizeof *ls->lens);
            if (!ls->lines || !ls->lens)
                lg_die("out of memory");
        }
        ls->lines[ls->n] = lg_malloc(n);
        memcpy(ls->lines[ls->n], line, n);
        ls->lens[ls->n] = n;
        ls->n++;
    }
    free(line);
    fclose(f);
    if (ls->n) {
        snprintf(ls->name, sizeof ls->name, "%s", name);
        g_nsets++;
    }
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void load_loghub(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) {
        fprintf(stderr, "logload: cannot open --loghub %s: %s\n", dir, strerror(errno));
        exit(2);
    }
    char *names[256];
    int nn = 0;
    struct dirent *e;
    while ((e = readdir(d)) && nn < 256) {
        if (e->d_name[0] == '.' || strlen(e->d_name) >= sizeof g_sets[0].name)
            continue;
        names[nn++] = strdup(e->d_name);
    }
    closedir(d);
    qsort(names, (size_t)nn, sizeof names[0], cmp_str);
    for (int i = 0; i < nn; i++) {
        if (g_nsets < MAX_SETS)
            load_set(dir, names[i]);
        free(names[i]);
    }
    if (g_nsets == 0) {
        fprintf(stderr, "logload: no <Set>/<Set>_2k.log under %s\n", dir);
        exit(2);
    }
}

/* ---------------------------------------------------------------- streams */

typedef struct stream_gen {
    int set;
    rng r;
    size_t pos;        /* next line of the set */
    uint64_t n;        /* lines this stream sends in all */
    uint64_t i;        /* lines made so far */
    uint64_t t0, step; /* timestamps: t0 + i * step + jitter < step */
} stream_gen;

static char g_labels[MAX_SETS][160]; /* Loki selector per set */
static int g_jitter;                 /* --ts-jitter: 0 ns (random), 1 ms, 2 none */

/* The next line of g (digits redrawn) into out; returns its length and its
 * timestamp in *ts. */
static size_t next_line(stream_gen *g, char *out, uint64_t *ts)
{
    const logset *ls = &g_sets[g->set];
    const char *src = ls->lines[g->pos];
    size_t len = ls->lens[g->pos];
    g->pos = (g->pos + 1) % ls->n;
    for (size_t c = 0; c < len; c++) {
        char ch = src[c];
        if (ch >= '0' && ch <= '9') {
            bool lead = c == 0 || src[c - 1] < '0' || src[c - 1] > '9';
            if (lead && ch != '0')
                ch = (char)('1' + rng_below(&g->r, 9));
            else if (!lead)
                ch = (char)('0' + rng_below(&g->r, 10));
        }
        out[c] = ch;
    }
    uint64_t jitter =
        rng_below(&g->r, (uint32_t)(g->step / 2 < 1000000000ull ? g->step / 2 : 1000000000ull));
    if (g_jitter == 1) /* ms: what agents that parse a millisecond time send */
        jitter -= (g->t0 + g->i * g->step + jitter) % 1000000ull;
    else if (g_jitter == 2)
        jitter = 0;
    *ts = g->t0 + g->i * g->step + jitter;
    g->i++;
    return len;
}

/* ---------------------------------------------------------------- encoders */

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

static void put_str(buf *b, uint32_t field, const char *s)
{
    put_bytes(b, field, s, strlen(s));
}

/* Nested messages: a one-byte length slot, fixed up (content moved) at end. */
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

static void kv_str(buf *b, uint32_t field, const char *k, const char *v)
{
    size_t kv = msg_begin(b, field);
    put_str(b, 1, k);
    size_t av = msg_begin(b, 2);
    put_str(b, 1, v);
    msg_end(b, av);
    msg_end(b, kv);
}

static void put_raw(buf *b, const void *d, size_t n)
{
    buf_need(b, n);
    memcpy(b->p + b->len, d, n);
    b->len += n;
}

static void put_cstr(buf *b, const char *s)
{
    put_raw(b, s, strlen(s));
}

/* A JSON string's content (without quotes); lines are clean UTF-8. */
static void put_json_escaped(buf *b, const char *s, size_t n)
{
    buf_need(b, n * 2 + 8);
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '"' || c == '\\') {
            b->p[b->len++] = '\\';
            b->p[b->len++] = (uint8_t)c;
        } else if (c == '\t') {
            b->p[b->len++] = '\\';
            b->p[b->len++] = 't';
        } else {
            b->p[b->len++] = (uint8_t)c;
        }
    }
}

/* One request: m[j] lines of each of the connection's nown streams. */
static uint32_t build_request(const opts *o, buf *pb, stream_gen *gens, int nown, const long *m,
                              FILE *dump, uint64_t *raw_bytes)
{
    char line[MAX_LINE + 1];
    uint32_t total = 0;
    bool first_stream = true;
    if (o->proto == P_LOKI_JSON)
        put_cstr(pb, "{\"streams\":[");
    for (int j = 0; j < nown; j++) {
        if (!m[j])
            continue;
        stream_gen *g = &gens[j];
        const char *set = g_sets[g->set].name;
        size_t s1 = 0, s2 = 0;
        if (o->proto == P_LOKI) {
            s1 = msg_begin(pb, 1); /* PushRequest.streams */
            put_str(pb, 1, g_labels[g->set]);
        } else if (o->proto == P_LOKI_JSON) {
            char hdr[256];
            snprintf(hdr, sizeof hdr,
                     "%s{\"stream\":{\"job\":\"loghub\",\"service_name\":\"%s\","
                     "\"service_namespace\":\"loghub\"},\"values\":[",
                     first_stream ? "" : ",", set);
            put_cstr(pb, hdr);
        } else {
            s1 = msg_begin(pb, 1); /* ResourceLogs */
            size_t rs = msg_begin(pb, 1);
            kv_str(pb, 1, "service.name", set);
            kv_str(pb, 1, "service.namespace", "loghub");
            msg_end(pb, rs);
            s2 = msg_begin(pb, 2); /* ScopeLogs */
            size_t sc = msg_begin(pb, 1);
            put_str(pb, 1, "logload");
            msg_end(pb, sc);
        }
        first_stream = false;
        for (long i = 0; i < m[j]; i++) {
            uint64_t ts;
            size_t len = next_line(g, line, &ts);
            *raw_bytes += len;
            if (dump) {
                line[len] = '\n';
                if (fwrite(line, 1, len + 1, dump) != len + 1)
                    lg_die("writing --dump-lines failed");
            }
            if (o->proto == P_LOKI) {
                size_t e = msg_begin(pb, 2);
                size_t t = msg_begin(pb, 1);
                put_uint(pb, 1, ts / 1000000000ull);
                if (ts % 1000000000ull)
                    put_uint(pb, 2, ts % 1000000000ull);
                msg_end(pb, t);
                put_bytes(pb, 2, line, len);
                msg_end(pb, e);
            } else if (o->proto == P_LOKI_JSON) {
                char tsb[40];
                snprintf(tsb, sizeof tsb, "%s[\"%" PRIu64 "\",\"", i ? "," : "", ts);
                put_cstr(pb, tsb);
                put_json_escaped(pb, line, len);
                put_cstr(pb, "\"]");
            } else {
                size_t lr = msg_begin(pb, 2);
                put_fixed64(pb, 1, ts);
                size_t av = msg_begin(pb, 5);
                put_bytes(pb, 1, line, len);
                msg_end(pb, av);
                put_fixed64(pb, 11, ts);
                msg_end(pb, lr);
            }
        }
        if (o->proto == P_LOKI) {
            msg_end(pb, s1);
        } else if (o->proto == P_LOKI_JSON) {
            put_cstr(pb, "]}");
        } else {
            msg_end(pb, s2);
            msg_end(pb, s1);
        }
        total += (uint32_t)m[j];
    }
    if (o->proto == P_LOKI_JSON)
        put_cstr(pb, "]}");
    return total;
}

static void finish_body(const opts *o, buf *pb, body *out, uint32_t nitems)
{
    if (o->proto == P_LOKI) {
        size_t cap = snappy_max_compressed_length(pb->len);
        out->data = lg_malloc(cap);
        size_t clen = cap;
        if (snappy_compress((const char *)pb->p, pb->len, (char *)out->data, &clen) != SNAPPY_OK)
            lg_die("snappy_compress failed");
        out->len = clen;
    } else {
        out->data = lg_malloc(pb->len);
        if (pb->len)
            memcpy(out->data, pb->p, pb->len);
        out->len = pb->len;
    }
    out->nitems = nitems;
    pb->len = 0;
}

/* ---------------------------------------------------------------- answers */


/* ---------------------------------------------------------------- sending */

static void *conn_run(void *arg)
{
    conn_work *w = arg;
    const opts *o = w->o;
    lg_thread_name(w->idx);
    const char *path = o->lg.url.path[0]    ? o->lg.url.path
                       : o->proto == P_OTLP ? "/v1/logs"
                                            : "/loki/api/v1/push";
    const char *ct = "application/json"; /* protobuf: lg_http_header's */
    char tenant[160] = "";
    if (o->tenant)
        snprintf(tenant, sizeof tenant, "X-Scope-OrgID: %s\r\n", o->tenant);
    char hdr[768];
    lg_conn *c = lg_conn_create();
    for (size_t b = 0; b < w->nbodies; b++) {
        body *bd = &w->bodies[b];
        int hl;
        if (o->proto == P_LOKI_JSON) {
            hl = snprintf(hdr, sizeof hdr,
                          "POST %s HTTP/1.1\r\nHost: %s:%d\r\nUser-Agent: sonde-logload/0.1\r\n"
                          "Content-Type: %s\r\n%sContent-Length: %zu\r\n\r\n",
                          path, o->lg.url.host, o->lg.url.port, ct, tenant, bd->len);
            if (hl < 0 || (size_t)hl >= sizeof hdr)
                lg_die("HTTP request header too long");
        } else {
            hl = (int)lg_http_header(hdr, sizeof hdr, &o->lg.url, path, tenant, bd->len);
        }
        if (!lg_http_post(c, &o->lg.url, hdr, (size_t)hl, bd->data, bd->len, bd->nitems,
                          o->proto == P_OTLP ? lg_otlp_rejected : NULL, o->lg.max_retries, &w->st))
            break;
    }
    lg_conn_destroy(c);
    return NULL;
}

static double cpu_seconds(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static uint64_t mix(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ull;
    return x ^ (x >> 33);
}

int main(int argc, char **argv)
{
    opts o = {.proto = P_LOKI,
              .lines_per_request = 1000,
              .requests = 200,
              .lg.conns = 4,
              .lg.duration_max = 120,
              .lg.max_retries = 10,
              .span_s = 3600,
              .max_mem_mb = 4096,
              .seed = 1,
              .loghub = "/work/shared/conformance/loghub",
              .lg.label = "-"};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = lg_arg_value(argc, argv, &i, usage);
        if (lg_opts_parse(&o.lg, a, v, "http://127.0.0.1:3100"))
            continue;
        if (!strcmp(a, "--proto")) {
            o.proto = -1;
            for (int p = 0; p < 3; p++)
                if (!strcmp(v, k_proto_name[p]))
                    o.proto = p;
            if (o.proto < 0)
                usage();
        } else if (!strcmp(a, "--lines-per-request"))
            o.lines_per_request = lg_parse_long(v, "--lines-per-request", 1, 1000000);
        else if (!strcmp(a, "--requests"))
            o.requests = lg_parse_long(v, "--requests", 1, 100000000);
        else if (!strcmp(a, "--ts-jitter")) {
            g_jitter = !strcmp(v, "ns") ? 0 : !strcmp(v, "ms") ? 1 : !strcmp(v, "none") ? 2 : -1;
            if (g_jitter < 0)
                usage();
        } else if (!strcmp(a, "--span-s"))
            o.span_s = lg_parse_long(v, "--span-s", 1, 86400L * 365);
        else if (!strcmp(a, "--max-mem-mb"))
            o.max_mem_mb = lg_parse_long(v, "--max-mem-mb", 1, 1l << 20);
        else if (!strcmp(a, "--seed"))
            o.seed = (uint64_t)lg_parse_long(v, "--seed", 0, INT64_MAX);
        else if (!strcmp(a, "--loghub"))
            o.loghub = v;
        else if (!strcmp(a, "--dump-lines"))
            o.dump = v;
        else if (!strcmp(a, "--tenant"))
            o.tenant = v;
        else
            usage();
    }
    if (!o.lg.have_url)
        usage();
    if (!strcmp(o.lg.url.path, "/"))
        o.lg.url.path[0] = 0;
    load_loghub(o.loghub);
    if (o.lg.conns > g_nsets) {
        fprintf(stderr,
                "logload: --conns %ld: at most %d (one stream per LogHub set, a stream "
                "belongs to one connection)\n",
                o.lg.conns, g_nsets);
        exit(2);
    }
    for (int s = 0; s < g_nsets; s++)
        snprintf(g_labels[s], sizeof g_labels[s],
                 "{job=\"loghub\", service_name=\"%s\", service_namespace=\"loghub\"}",
                 g_sets[s].name);

    FILE *dump = NULL;
    if (o.dump && !(dump = fopen(o.dump, "wb"))) {
        fprintf(stderr, "logload: cannot write %s: %s\n", o.dump, strerror(errno));
        exit(2);
    }
    double tb = lg_now_s();
    uint64_t end_ns = lg_now_unix_ns() - 5000000000ull;
    uint64_t span_ns = (uint64_t)o.span_s * 1000000000ull;
    uint64_t t0 = end_ns - span_ns;
    conn_work *w = lg_calloc((size_t)o.lg.conns, sizeof *w);
    uint64_t total_items = 0, total_bytes = 0, raw_bytes = 0, total_reqs = 0;
    buf pb = {0};
    for (long c = 0; c < o.lg.conns; c++) {
        w[c].idx = (int)c;
        w[c].o = &o;
        long nreq = o.requests / o.lg.conns + (c < o.requests % o.lg.conns);
        int nown = 0;
        stream_gen gens[MAX_SETS];
        for (int s = (int)c; s < g_nsets; s += (int)o.lg.conns) {
            stream_gen *g = &gens[nown++];
            memset(g, 0, sizeof *g);
            g->set = s;
            g->r.s = o.seed ^ mix((uint64_t)s + 0x51);
            g->pos = rng_below(&g->r, (uint32_t)g_sets[s].n);
        }
        /* lines per stream: each request splits its lines evenly, the
         * remainder going to the first streams */
        long m[MAX_SETS];
        for (int j = 0; j < nown; j++)
            m[j] = o.lines_per_request / nown + (j < o.lines_per_request % nown);
        for (int j = 0; j < nown; j++) {
            gens[j].n = (uint64_t)m[j] * (uint64_t)nreq;
            gens[j].t0 = t0;
            gens[j].step = gens[j].n ? span_ns / gens[j].n : span_ns;
            if (gens[j].step < 4)
                lg_die("too many lines for --span-s: timestamps would collide");
        }
        w[c].bodies = lg_calloc((size_t)nreq, sizeof(body));
        for (long q = 0; q < nreq; q++) {
            uint32_t n = build_request(&o, &pb, gens, nown, m, dump, &raw_bytes);
            finish_body(&o, &pb, &w[c].bodies[q], n);
            total_items += n;
            total_bytes += w[c].bodies[q].len;
            if (total_bytes > (uint64_t)o.max_mem_mb << 20) {
                fprintf(stderr,
                        "logload: bodies exceed --max-mem-mb %ld; ask for fewer --requests\n",
                        o.max_mem_mb);
                exit(2);
            }
        }
        w[c].nbodies = (size_t)nreq;
        total_reqs += (uint64_t)nreq;
        w[c].st.latcap = (size_t)nreq * 4 + 16;
        w[c].st.lat_ms = lg_calloc(w[c].st.latcap, sizeof(double));
    }
    free(pb.p);
    if (dump && fclose(dump) != 0)
        lg_die("closing --dump-lines failed");
    fprintf(stderr,
            "logload: built %" PRIu64 " %s requests, %" PRIu64 " lines from %d LogHub sets, "
            "%.1f MiB of bodies (%.1f bytes/line; lines %.1f bytes) in %.1fs; sending to "
            "%s:%d over %ld HTTP/1.1 connections\n",
            total_reqs, k_proto_name[o.proto], total_items, g_nsets,
            (double)total_bytes / 1048576.0,
            total_items ? (double)total_bytes / (double)total_items : 0.0,
            total_items ? (double)raw_bytes / (double)total_items : 0.0, lg_now_s() - tb,
            o.lg.url.host, o.lg.url.port, o.lg.conns);

    double cpu0 = cpu_seconds();
    double elapsed = lg_run_threads(o.lg.conns, conn_run, w, sizeof *w, o.lg.duration_max);
    double gen_cpu = cpu_seconds() - cpu0;

    lg_stats sum = lg_stats_sum(&w[0].st, sizeof *w, o.lg.conns);
    uint64_t done_reqs = sum.ok_requests + sum.rejected_requests;
    uint64_t failed = total_reqs - sum.ok_requests;
    lg_latency lat = lg_stats_latency(&sum);
    double lps = elapsed > 0 ? (double)sum.ok_items / elapsed : 0;
    bool complete = done_reqs == total_reqs;

    lg_print_first_error(&sum);
    printf("logload: %s to %s:%d, %ld lines/request, %ld conns\n", k_proto_name[o.proto],
           o.lg.url.host, o.lg.url.port, o.lines_per_request, o.lg.conns);
    printf("  acked      %" PRIu64 " of %" PRIu64 " lines in %.3f s%s\n", sum.ok_items, total_items,
           elapsed, complete ? "" : " (STOPPED at --duration-max)");
    printf("  rate       %.0f lines/s, %.1f MiB/s of lines\n", lps,
           elapsed > 0 && total_items
               ? (double)raw_bytes * ((double)sum.ok_items / (double)total_items) / 1048576.0 /
                     elapsed
               : 0.0);
    printf("  requests   %" PRIu64 " ok, %" PRIu64 " failed (%" PRIu64 " rejected), %" PRIu64
           " errors, %" PRIu64 " retries; %" PRIu64 " lines refused in partial_success\n",
           sum.ok_requests, failed, sum.rejected_requests, sum.errors, sum.retries,
           sum.refused_items);
    lg_print_latency(lat);
    printf("  cpu        %.2f s of logload's own CPU while sending (%.0f%% of one core)\n", gen_cpu,
           elapsed > 0 ? 100.0 * gen_cpu / elapsed : 0.0);
    printf("RESULT proto=%s label=%s lines_total=%" PRIu64 " lines_ok=%" PRIu64
           " lines_refused=%" PRIu64 " requests_total=%" PRIu64 " requests_ok=%" PRIu64
           " requests_failed=%" PRIu64 " errors=%" PRIu64 " retries=%" PRIu64
           " seconds=%.3f lines_per_s=%.0f p50_ms=%.3f p99_ms=%.3f max_ms=%.3f gen_cpu_s=%.2f"
           " complete=%d conns=%ld lines_per_request=%ld streams=%d raw_line_bytes=%" PRIu64
           " body_bytes=%" PRIu64 " ts_min_ns=%" PRIu64 " ts_max_ns=%" PRIu64 "\n",
           k_proto_name[o.proto], o.lg.label, total_items, sum.ok_items, sum.refused_items,
           total_reqs, sum.ok_requests, failed, sum.errors, sum.retries, elapsed, lps, lat.p50,
           lat.p99, lat.max, gen_cpu, complete ? 1 : 0, o.lg.conns, o.lines_per_request, g_nsets,
           raw_bytes, total_bytes, t0, end_ns);
    fflush(stdout);

    for (long c = 0; c < o.lg.conns; c++) {
        for (size_t b = 0; b < w[c].nbodies; b++)
            free(w[c].bodies[b].data);
        free(w[c].bodies);
        free(w[c].st.lat_ms);
    }
    free(w);
    free(sum.lat_ms);
    for (int s = 0; s < g_nsets; s++) {
        for (size_t i = 0; i < g_sets[s].n; i++)
            free(g_sets[s].lines[i]);
        free(g_sets[s].lines);
        free(g_sets[s].lens);
    }
    return complete && failed == 0 && sum.refused_items == 0 ? 0 : 1;
}
