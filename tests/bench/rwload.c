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
#include <inttypes.h>
#include <snappy-c.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define LOADGEN_PROG "rwload"
#include "loadgen.h"

typedef struct opts {
    lg_opts lg;
    long series;
    long samples_per_series;
    long batch;
    long interval_ms;
    int64_t start_ms;
    const char *tenant;
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
    lg_stats st; /* items are samples */
} conn_work;

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
    out->data = lg_malloc(cap);
    size_t clen = cap;
    if (snappy_compress((const char *)pb->p, pb->len, (char *)out->data, &clen) != SNAPPY_OK)
        lg_die("snappy_compress failed");
    out->len = clen;
    out->nsamples = nsamples;
    pb->len = 0;
}

/* Bodies for connection c: its series (i % conns == c), round by round. */
static void build_bodies(const opts *o, conn_work *w)
{
    long c = w->idx;
    long myseries = (o->series - c + o->lg.conns - 1) / o->lg.conns;
    uint64_t total = (uint64_t)myseries * (uint64_t)o->samples_per_series;
    size_t nb = (size_t)((total + (uint64_t)o->batch - 1) / (uint64_t)o->batch);
    w->bodies = lg_calloc(nb, sizeof(body));
    w->st.latcap = nb * 4;
    w->st.lat_ms = lg_calloc(w->st.latcap, sizeof(double));
    buf pb = {0};
    lbl l[16];
    uint32_t in_batch = 0;
    size_t bi = 0;
    for (long r = 0; r < o->samples_per_series; r++) {
        int64_t ts = o->start_ms + (int64_t)r * o->interval_ms;
        for (long i = c; i < o->series; i += o->lg.conns) {
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

/* ---------------------------------------------------------------- sending */

static void *conn_run(void *arg)
{
    conn_work *w = arg;
    const opts *o = w->o;
    lg_thread_name(w->idx);
    char extra[512], hdr[1024];
    int n = snprintf(extra, sizeof extra,
                     "Content-Encoding: snappy\r\n"
                     "X-Prometheus-Remote-Write-Version: 0.1.0\r\n"
                     "%s%s%s",
                     o->tenant ? "X-Scope-OrgID: " : "", o->tenant ? o->tenant : "",
                     o->tenant ? "\r\n" : "");
    if (n < 0 || (size_t)n >= sizeof extra)
        lg_die("--tenant too long");
    lg_conn *c = lg_conn_create();
    for (size_t b = 0; b < w->nbodies; b++) {
        body *bd = &w->bodies[b];
        size_t hl = lg_http_header(hdr, sizeof hdr, &o->lg.url, o->lg.url.path, extra, bd->len);
        if (!lg_http_post(c, &o->lg.url, hdr, hl, bd->data, bd->len, bd->nsamples, NULL,
                          o->lg.max_retries, &w->st))
            break;
    }
    lg_conn_destroy(c);
    return NULL;
}

int main(int argc, char **argv)
{
    opts o = {.series = 100000,
              .samples_per_series = 30,
              .batch = 2000,
              .lg.conns = 8,
              .lg.duration_max = 120,
              .lg.max_retries = 10,
              .interval_ms = 15000,
              .start_ms = -1,
              .lg.label = "-"};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = lg_arg_value(argc, argv, &i, usage);
        if (lg_opts_parse(&o.lg, a, v, "http://127.0.0.1:9201/api/v1/write"))
            continue;
        if (!strcmp(a, "--series"))
            o.series = lg_parse_long(v, "--series", 1, 100000000);
        else if (!strcmp(a, "--samples-per-series"))
            o.samples_per_series = lg_parse_long(v, "--samples-per-series", 1, 100000);
        else if (!strcmp(a, "--batch"))
            o.batch = lg_parse_long(v, "--batch", 1, 1000000);
        else if (!strcmp(a, "--interval-ms"))
            o.interval_ms = lg_parse_long(v, "--interval-ms", 1, 86400000);
        else if (!strcmp(a, "--start-ms"))
            o.start_ms = lg_parse_long(v, "--start-ms", 0, INT64_MAX / 2);
        else if (!strcmp(a, "--tenant"))
            o.tenant = v;
        else
            usage();
    }
    if (!o.lg.have_url)
        usage();
    if (!o.lg.url.path[0])
        snprintf(o.lg.url.path, sizeof o.lg.url.path, "/api/v1/write");
    if (o.lg.conns > o.series)
        o.lg.conns = o.series;
    if (o.start_ms < 0) {
        int64_t now_ms = (int64_t)(lg_now_unix_ns() / 1000000);
        o.start_ms = now_ms - o.samples_per_series * o.interval_ms;
    }

    conn_work *w = lg_calloc((size_t)o.lg.conns, sizeof *w);
    double tb = lg_now_s();
    uint64_t total_samples = 0, total_bytes = 0, total_reqs = 0;
    for (long c = 0; c < o.lg.conns; c++) {
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
            total_samples ? (double)total_bytes / (double)total_samples : 0.0, lg_now_s() - tb,
            o.lg.url.host, o.lg.url.port, o.lg.url.path, o.lg.conns);

    double elapsed = lg_run_threads(o.lg.conns, conn_run, w, sizeof *w, o.lg.duration_max);

    lg_stats sum = lg_stats_sum(&w[0].st, sizeof *w, o.lg.conns);
    lg_latency lat = lg_stats_latency(&sum);
    double sps = elapsed > 0 ? (double)sum.ok_items / elapsed : 0;
    bool complete = sum.ok_requests + sum.rejected_requests == total_reqs;

    lg_print_first_error(&sum);
    printf("rwload: %s:%d%s series=%ld samples/series=%ld batch=%ld conns=%ld\n", o.lg.url.host,
           o.lg.url.port, o.lg.url.path, o.series, o.samples_per_series, o.batch, o.lg.conns);
    printf("  ingested   %" PRIu64 " of %" PRIu64 " samples in %.3f s%s\n", sum.ok_items,
           total_samples, elapsed, complete ? "" : " (STOPPED at --duration-max)");
    printf("  rate       %.0f samples/s\n", sps);
    printf("  requests   %" PRIu64 " ok, %" PRIu64 " rejected (4xx), %" PRIu64 " errors, %" PRIu64
           " retries\n",
           sum.ok_requests, sum.rejected_requests, sum.errors, sum.retries);
    lg_print_latency(lat);
    printf("RESULT label=%s samples_total=%" PRIu64 " samples_ok=%" PRIu64
           " samples_rejected=%" PRIu64 " seconds=%.3f samples_per_s=%.0f requests_ok=%" PRIu64
           " requests_rejected=%" PRIu64 " errors=%" PRIu64 " retries=%" PRIu64
           " p50_ms=%.3f p99_ms=%.3f max_ms=%.3f complete=%d series=%ld conns=%ld batch=%ld\n",
           o.lg.label, total_samples, sum.ok_items, sum.rejected_items, elapsed, sps,
           sum.ok_requests, sum.rejected_requests, sum.errors, sum.retries, lat.p50, lat.p99,
           lat.max, complete ? 1 : 0, o.series, o.lg.conns, o.batch);
    fflush(stdout);

    for (long c = 0; c < o.lg.conns; c++) {
        for (size_t b = 0; b < w[c].nbodies; b++)
            free(w[c].bodies[b].data);
        free(w[c].bodies);
        free(w[c].st.lat_ms);
    }
    free(w);
    free(sum.lat_ms);
    return complete && sum.rejected_requests == 0 ? 0 : 1;
}
