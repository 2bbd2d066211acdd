#!/usr/bin/env python3
"""query_bench.py - helper of query_bench.sh (Python 3 stdlib only).

Subcommands:

  hist URL --instances N --start-ms MS --rounds R --interval-ms I
      Remote-writes classic histograms (http_request_duration_seconds_bucket
      with 12 `le` buckets incl. +Inf, _sum, _count; one histogram per
      node_exporter instance of rwload's series set, same instance labels)
      for rounds [0, R), in time order, in requests of at most 2000 samples.
      Cumulative counts only grow. rwload has no histograms; this adds them
      so histogram_quantile has something to chew on.

  run NAME BASE --end S [--reps N] [--nocache] [--out FILE]
      Runs the benchmark's range queries against one peer's
      /api/v1/query_range over one keep-alive connection, one at a time:
      one unmeasured warm-up per query, then N measured repetitions. Appends
      one JSON line per query to FILE: peer, query id, p50/p99/min/max ms,
      result series and points (to check that every peer did the same work),
      errors.

  table FILE
      Prints the markdown table (p50/p99 per peer per query and the ratio of
      each peer's figure to sonde's; >1 means slower than sonde).

Every request has a timeout; every loop is bounded.
"""

import argparse
import hashlib
import http.client
import json
import math
import struct
import sys
import time
import urllib.parse

HIST_LE = ["0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "10", "+Inf"]

# (id, expr, range seconds, step seconds). Steps are what Grafana picks for a
# ~1000-px panel (its 15 s minimum for 1 h; 2 m for 24 h).
QUERIES = [
    ("cpu_by_mode_1h", "sum by (mode) (rate(node_cpu_seconds_total[5m]))", 3600, 15),
    ("cpu_by_mode_24h", "sum by (mode) (rate(node_cpu_seconds_total[5m]))", 86400, 120),
    ("topk5_net_rx_1h", "topk(5, rate(node_network_receive_bytes_total[5m]))", 3600, 15),
    ("topk5_net_rx_24h", "topk(5, rate(node_network_receive_bytes_total[5m]))", 86400, 120),
    ("hq90_1h", "histogram_quantile(0.9, sum by (le) "
     "(rate(http_request_duration_seconds_bucket[5m])))", 3600, 15),
    ("hq90_24h", "histogram_quantile(0.9, sum by (le) "
     "(rate(http_request_duration_seconds_bucket[5m])))", 86400, 120),
]


# ---------------------------------------------------------------- encoding

def varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def ld(field, data):
    return varint((field << 3) | 2) + varint(len(data)) + data


def snappy_literal(data):
    """Valid snappy block made of literal elements only (no compression)."""
    out = bytearray(varint(len(data)))
    for i in range(0, len(data), 65536):
        chunk = data[i:i + 65536]
        n = len(chunk) - 1
        if n < 60:
            out.append(n << 2)
        elif n < 256:
            out += bytes([60 << 2, n])
        else:
            out.append(61 << 2)
            out += struct.pack("<H", n)
        out += chunk
    return bytes(out)


def hist_series(instances):
    """[(label bytes, per-round increment)] for every histogram series."""
    out = []
    for inst in range(instances):
        instance = "host-%05d.example.internal:9100" % inst
        common = [("instance", instance), ("job", "node")]
        # requests per round and a latency scale that differ per instance
        rps = 20 + (inst * 37) % 50
        scale = 0.05 + (inst % 7) * 0.02
        for le in HIST_LE:
            x = math.inf if le == "+Inf" else float(le)
            frac = 1.0 - math.exp(-x / scale)  # exponential latency distribution
            labels = [("__name__", "http_request_duration_seconds_bucket")] + common + [("le", le)]
            out.append((labels, rps * frac))
        out.append(([("__name__", "http_request_duration_seconds_count")] + common, float(rps)))
        out.append(([("__name__", "http_request_duration_seconds_sum")] + common, rps * scale))
    enc = []
    for labels, inc in out:
        lb = b"".join(ld(1, ld(1, n.encode()) + ld(2, v.encode()))
                      for n, v in sorted(labels))
        enc.append((lb, inc))
    return enc


def post(conn, path, body, headers, timeout):
    for attempt in range(10):
        try:
            conn.request("POST", path, body=body, headers=headers)
            r = conn.getresponse()
            data = r.read()
            if r.status // 100 == 2:
                return
            if r.status < 500 and r.status != 429:
                raise SystemExit("hist: write refused: %d %r" % (r.status, data[:300]))
        except (OSError, http.client.HTTPException):
            conn.close()
        time.sleep(min(2.0, 0.1 * 2 ** attempt))
    raise SystemExit("hist: write failed after 10 attempts")


def cmd_hist(a):
    u = urllib.parse.urlsplit(a.url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=60)
    headers = {"Content-Type": "application/x-protobuf", "Content-Encoding": "snappy",
               "X-Prometheus-Remote-Write-Version": "0.1.0"}
    series = hist_series(a.instances)
    pending, n = [], 0
    sent = 0
    for r in range(a.rounds):
        ts = a.start_ms + r * a.interval_ms
        tsb = varint(ts)
        for lb, inc in series:
            # counters grow by a fixed amount per round and series (--round0 keeps
            # them growing across the chunks query_bench.sh loads one by one)
            v = inc * (a.round0 + r)
            pending.append(ld(1, lb + ld(2, b"\x09" + struct.pack("<d", v) + b"\x10" + tsb)))
            n += 1
            if n == 2000:
                post(conn, u.path, snappy_literal(b"".join(pending)), headers, 60)
                sent += n
                pending, n = [], 0
    if pending:
        post(conn, u.path, snappy_literal(b"".join(pending)), headers, 60)
        sent += n
    conn.close()
    print("hist: %d samples for %d series sent" % (sent, len(series)), file=sys.stderr)


# ---------------------------------------------------------------- queries

def pct(xs, p):
    """Nearest-rank percentile."""
    s = sorted(xs)
    k = max(0, min(len(s) - 1, math.ceil(p / 100.0 * len(s)) - 1))
    return s[k]


def result_digest(res, by_step=False):
    """Short hash of a matrix result: label sets, timestamps and values to 6
    significant digits, so that peers that computed the same answer (up to
    float summation order) show the same digest.

    by_step (topk/bottomk): hash, per timestamp, only the sorted values, not
    which series carry them. When several series have exactly the same value
    at the k-th place, which of them is kept is an implementation detail:
    Prometheus 2.42 pops and pushes its heap, Prometheus >= 2.44 (commit
    f2fd85df, "use faster heap method for topk/bottomk") overwrites the top and
    calls heap.Fix, so the two pick different series from identical inputs.
    rwload's counters have few distinct rates, so such ties are common."""
    rows = []
    if by_step:
        steps = {}
        for x in res:
            for t, v in x.get("values", []):
                steps.setdefault(t, []).append(float(v))
        for t in sorted(steps, key=float):
            rows.append("%s=%s" % (t, ",".join("%.6g" % v for v in sorted(steps[t]))))
        return hashlib.sha1("\n".join(rows).encode()).hexdigest()[:8]
    for x in res:
        m = json.dumps(x["metric"], sort_keys=True)
        rows.append(m + ";" + ",".join("%s=%.6g" % (t, float(v)) for t, v in x.get("values", [])))
    return hashlib.sha1("\n".join(sorted(rows)).encode()).hexdigest()[:8]


def cmd_run(a):
    u = urllib.parse.urlsplit(a.base)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=a.timeout)
    out = open(a.out, "a")
    for qid, expr, rng, step in QUERIES:
        end = a.end
        params = {"query": expr, "start": "%d" % (end - rng), "end": "%d" % end, "step": "%d" % step}
        if a.nocache:
            params["nocache"] = "1"  # VictoriaMetrics: no rollup result cache
        path = "/api/v1/query_range?" + urllib.parse.urlencode(params)
        lat, errors, series, points, first_err, digest = [], 0, 0, 0, "", "-"
        for i in range(a.reps + 1):
            t0 = time.perf_counter()
            try:
                conn.request("GET", path)
                r = conn.getresponse()
                body = r.read()
                dt = (time.perf_counter() - t0) * 1000.0
                doc = json.loads(body)
                ok = r.status == 200 and doc.get("status") == "success"
            except (OSError, http.client.HTTPException, ValueError) as e:
                conn.close()
                ok, doc, dt = False, {"error": repr(e)}, (time.perf_counter() - t0) * 1000.0
            if not ok:
                errors += 1
                first_err = first_err or json.dumps(doc)[:300]
                continue
            if i == 0:
                res = doc["data"]["result"]
                series = len(res)
                points = sum(len(x.get("values", [])) for x in res)
                digest = result_digest(res, by_step=expr.startswith(("topk(", "bottomk(")))
                continue  # warm-up, not measured
            lat.append(dt)
        rec = {"peer": a.name, "query": qid, "expr": expr, "range_s": rng, "step_s": step,
               "reps": len(lat), "errors": errors, "series": series, "points": points,
               "digest": digest}
        if lat:
            rec.update(p50_ms=pct(lat, 50), p99_ms=pct(lat, 99), min_ms=min(lat), max_ms=max(lat))
        if first_err:
            rec["first_error"] = first_err
        out.write(json.dumps(rec) + "\n")
        out.flush()
        print("query_bench: %-17s %-16s p50 %8.1f ms  p99 %8.1f ms  %d series %d points%s"
              % (a.name, qid, rec.get("p50_ms", -1), rec.get("p99_ms", -1), series, points,
                 "  %d errors: %s" % (errors, first_err) if errors else ""), file=sys.stderr)
    conn.close()


def cmd_table(a):
    recs = [json.loads(line) for line in open(a.file) if line.strip()]
    peers = []
    for r in recs:
        if r["peer"] not in peers:
            peers.append(r["peer"])
    by = {(r["peer"], r["query"]): r for r in recs}
    print("| query | range / step | peer | p50 ms | p99 ms | p50 vs sonde | p99 vs sonde "
          "| series x points | result digest | errors |")
    print("|---|---|---|---:|---:|---:|---:|---:|---|---:|")

    def ratio(x, base):
        if x is None or base is None or base <= 0:
            return "-"
        return "%.2f" % (x / base)

    for qid, expr, rng, step in QUERIES:
        base = by.get(("sonde", qid), {})
        for p in peers:
            r = by.get((p, qid))
            if r is None:
                continue
            p50, p99 = r.get("p50_ms"), r.get("p99_ms")
            print("| `%s` | %s / %ss | %s | %s | %s | %s | %s | %d x %d | %s | %d |" % (
                qid, "%dh" % (rng // 3600), step, p, "%.1f" % p50 if p50 is not None else "-",
                "%.1f" % p99 if p99 is not None else "-", ratio(p50, base.get("p50_ms")),
                ratio(p99, base.get("p99_ms")), r["series"], r["points"], r.get("digest", "-"),
                r["errors"]))
    print()
    print("Queries:")
    for qid, expr, rng, step in QUERIES:
        if "24h" not in qid:
            print("- `%s` (and `_24h`): `%s`" % (qid[:-3], expr))


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    h = sub.add_parser("hist")
    h.add_argument("url")
    h.add_argument("--instances", type=int, required=True)
    h.add_argument("--start-ms", type=int, required=True)
    h.add_argument("--rounds", type=int, required=True)
    h.add_argument("--round0", type=int, default=0, help="round number of the first round")
    h.add_argument("--interval-ms", type=int, default=60000)
    r = sub.add_parser("run")
    r.add_argument("name")
    r.add_argument("base")
    r.add_argument("--end", type=int, required=True)
    r.add_argument("--reps", type=int, default=20)
    r.add_argument("--nocache", action="store_true")
    r.add_argument("--timeout", type=float, default=120.0)
    r.add_argument("--out", required=True)
    t = sub.add_parser("table")
    t.add_argument("file")
    a = ap.parse_args()
    {"hist": cmd_hist, "run": cmd_run, "table": cmd_table}[a.cmd](a)


if __name__ == "__main__":
    main()
