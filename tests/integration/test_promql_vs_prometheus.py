#!/usr/bin/env python3
"""PromQL side by side: sonde and a real Prometheus (Debian's 2.42) must agree.

The test writes the same synthetic series by remote write to sonde and to a
fresh Prometheus started with --web.enable-remote-write-receiver and an empty
config (so it holds nothing else). Then it runs a fixed list of instant and
range queries (promql_vs_prometheus_queries.txt beside this file) against both
HTTP APIs and asserts identical answers: same resultType, same label sets,
same timestamps, values within REL_TOL relative tolerance (NaN == NaN, +-Inf
exact). Order is compared only for queries whose order Prometheus guarantees
(sort, sort_desc, and queries marked "ordered"; not topk/bottomk, which
Prometheus 3's own aggregators.test evaluates unordered). Queries marked
";error" must be refused by both with the same HTTP status and errorType.

Data (deterministic for a seed: 4242, or SONDE_TEST_SEED): one hour of
samples every 15 s at 7.3 s past the quarter minute, the newest two to three
minutes before now (Prometheus's head takes them in time order). Queries run
at whole minutes + 0.5 s, and subquery steps divide whole minutes, so no
range or lookback boundary ever meets a sample or a subquery point: there
Prometheus 2.42 (windows closed on the left) and Prometheus 3 (open) differ.
Series:
  * counters with resets (test_requests_total, test_errors_total), 2 jobs x
    2 instances x 2 methods;
  * gauges (test_temperature_celsius, test_queue_depth) including negatives,
    never equal across series at one time (topk/bottomk break ties as they
    like);
  * a gauge with gaps longer and shorter than the 5m lookback (test_gappy);
  * series ended by stale markers (NaN bits 0x7ff0000000000002) and resumed
    later (test_flappy), and one that ends with a stale marker (test_gone);
  * classic histograms test_latency_seconds_{bucket,sum,count} with a reset;
  * an info-style series (test_build_info) for group_left/right joins;
  * constant +Inf, -Inf, 0 and NaN series (test_special).

Prometheus 3 semantics win where 2.42 differs; such queries are listed with
"skip:" and a reason in the query file and are not compared (few, each
justified). Every disagreement is appended with both answers to
/tmp/promql-vs-prometheus.txt for whoever fixes the engine. KNOWN_DIFFERENCES
lists engine bugs still open at the time of writing: they are run, compared
and reported, but do not fail the test.

Under CI=true a missing `prometheus` binary fails; elsewhere the test prints
SKIP and exits 0. Every process started is killed (sondelib.kill_all).
"""

import json
import math
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sondelib as sl  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
QUERY_FILE = os.path.join(HERE, "promql_vs_prometheus_queries.txt")
DIFF_LOG = "/tmp/promql-vs-prometheus.txt"
REL_TOL = 1e-9
# Values that should be zero come out as +-1e-14 or so when the two engines sum
# floats in a different order (stddev of equal values, sums that cancel); an
# absolute tolerance this small cannot hide a semantic difference.
ABS_TOL = 1e-11
MIN_COMPARED = 100
INTERVAL_MS = 15000
OFFSET_MS = 7300
HISTORY_S = 3600

# Queries (exactly as in the query file) that still disagree because of sonde
# engine bugs: reported, not failing. The lead decides; empty when all agree.
KNOWN_DIFFERENCES = {
    # "expr": "one-line reason",
}

STALE_NAN = bytes.fromhex("020000000000f07f")  # 0x7ff0000000000002, little endian


# --------------------------------------------------------------------------
# data

def build_series(rnd, t0_ms, n):
    """Returns list of (labels, samples); samples are (ts_ms, float|bytes)."""
    ts = [t0_ms + i * INTERVAL_MS for i in range(n)]
    out = []

    def add(name, labels, samples):
        out.append((sl.labels_of(name, **labels), samples))

    jobs = [("api", ["10.0.0.1:80", "10.0.0.2:80"]), ("web", ["10.0.1.1:80", "10.0.1.2:80"])]
    idx = 0
    for job, insts in jobs:
        for inst in insts:
            idx += 1  # distinct binary fractions per series: topk/bottomk see no ties
            for method in ("GET", "POST"):
                # counters: integer increments, one or two resets somewhere
                v, e = rnd.randrange(0, 1000), rnd.randrange(0, 50)
                resets = {rnd.randrange(20, n - 20) for _ in range(rnd.randrange(1, 3))}
                req, err = [], []
                for i, t in enumerate(ts):
                    if i in resets:
                        v, e = rnd.randrange(0, 5), 0
                    else:
                        v += rnd.randrange(0, 40)
                        e += rnd.randrange(0, 3) if rnd.random() < 0.3 else 0
                    req.append((t, float(v)))
                    err.append((t, float(e)))
                lab = {"job": job, "instance": inst, "method": method}
                add("test_requests_total", lab, req)
                add("test_errors_total", lab, err)
            lab = {"job": job, "instance": inst}
            # gauges in quarter steps (exact binary fractions), some negative
            g = rnd.randrange(-40, 80) / 4.0 + idx / 32.0
            temp = []
            for t in ts:
                g += rnd.randrange(-8, 9) / 4.0
                temp.append((t, g))
            add("test_temperature_celsius", lab, temp)
            add("test_queue_depth", lab, [(t, rnd.randrange(0, 20) + (idx - 1) / 8.0) for t in ts])
            add("test_build_info", dict(lab, version="v1.%d" % (len(inst) % 3), goversion="go1.21"),
                [(t, 1.0) for t in ts])
            # gaps: a 12-minute hole (longer than lookback) and 2-minute holes
            gap = []
            for i, t in enumerate(ts):
                if 100 <= i < 148 or i % 40 in (10, 11, 12, 13, 14, 15, 16, 17):
                    continue
                gap.append((t, float(i % 17) - 3.5))
            add("test_gappy", lab, gap)
            # stale markers: series ends at i=80 (stale), resumes at i=120,
            # stale again at 200 and stays gone
            fl = []
            for i, t in enumerate(ts):
                if i in (80, 200):
                    fl.append((t, STALE_NAN))
                elif i < 80 or 120 <= i < 200:
                    fl.append((t, float(i % 9)))
            add("test_flappy", lab, fl)
            # classic histogram, cumulative buckets, one reset
            les = ["0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "+Inf"]
            counts = [0] * len(les)
            total = 0.0
            reset_at = rnd.randrange(60, n - 60)
            rows = {le: [] for le in les}
            srow, crow = [], []
            for i, t in enumerate(ts):
                if i == reset_at:
                    counts = [0] * len(les)
                    total = 0.0
                for _ in range(rnd.randrange(0, 12)):
                    x = rnd.expovariate(1.5 if job == "api" else 0.6)
                    total += x
                    for k, le in enumerate(les):
                        if le == "+Inf" or x <= float(le):
                            counts[k] += 1
                for k, le in enumerate(les):
                    rows[le].append((t, float(counts[k])))
                srow.append((t, total))
                crow.append((t, float(counts[-1])))
            for le in les:
                add("test_latency_seconds_bucket", dict(lab, le=le), rows[le])
            add("test_latency_seconds_sum", lab, srow)
            add("test_latency_seconds_count", lab, crow)
    # one series that ends with a stale marker half-way
    add("test_gone", {"job": "batch", "instance": "b1"},
        [(t, float(i)) for i, t in enumerate(ts[:100])] + [(ts[100], STALE_NAN)])
    # special values
    add("test_special", {"job": "batch", "kind": "inf"}, [(t, math.inf) for t in ts])
    add("test_special", {"job": "batch", "kind": "neginf"}, [(t, -math.inf) for t in ts])
    add("test_special", {"job": "batch", "kind": "zero"}, [(t, 0.0) for t in ts])
    add("test_special", {"job": "batch", "kind": "nan"}, [(t, math.nan) for t in ts])
    return out


def write_all(base, series, t0_ms, what):
    """Writes 10-minute time slices (every series' samples of the slice in
    one request) in time order, as a Prometheus remote-write queue would, so
    each series' samples arrive in order."""
    n = max(len(s) for _, s in series)
    step = 40
    for lo in range(0, n, step):
        lo_ms, hi_ms = t0_ms + lo * INTERVAL_MS, t0_ms + (lo + step) * INTERVAL_MS
        batch = []
        for labels, samples in series:
            part = [x for x in samples if lo_ms <= x[0] < hi_ms]
            if part:
                batch.append((labels, part))
        if batch:
            sl.write_ok(base, batch, what="%s: remote write slice %d" % (what, lo))


# --------------------------------------------------------------------------
# query file

def load_queries(path, anchors):
    """Parses the query file (its header describes the format): one query a
    line, `instant ANCHOR[+-s] EXPR` or `range A..B/STEP EXPR`, optionally
    prefixed `skip: REASON |` and suffixed `  ;ordered` or `  ;error`."""
    out = []
    with open(path) as f:
        for lineno, raw in enumerate(f, 1):
            line = raw.rstrip("\n")
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            skip = None
            if line.startswith("skip:"):
                reason, _, line = line[5:].partition("|")
                skip = reason.strip()
                line = line.strip()
            kind, spec, expr = line.split(None, 2)
            ordered = expect_error = False
            if expr.endswith("  ;ordered"):
                expr, ordered = expr[:-len("  ;ordered")].rstrip(), True
            if expr.endswith("  ;error"):
                expr, expect_error = expr[:-len("  ;error")].rstrip(), True
            # {ANCHOR} or {ANCHOR+-secs} in an expression becomes a Unix time (for @)
            expr = re.sub(r"\{([A-Z]+(?:[+-][0-9.]+)?)\}",
                          lambda m: "%.3f" % eval_time(m.group(1), anchors), expr.strip())
            q = {"line": lineno, "kind": kind, "expr": expr, "skip": skip, "error": expect_error,
                 "ordered": ordered or expr.startswith(("sort(", "sort_desc("))}
            if kind == "instant":
                q["time"] = eval_time(spec, anchors)
            elif kind == "range":
                rng, _, step = spec.partition("/")
                a, _, b = rng.partition("..")
                q["start"], q["end"], q["step"] = eval_time(a, anchors), eval_time(b, anchors), step
            else:
                raise ValueError("%s:%d: bad kind %r" % (path, lineno, kind))
            out.append(q)
    return out


def eval_time(spec, anchors):
    for op in ("+", "-"):
        if op in spec[1:]:
            i = spec.index(op, 1)
            base, delta = spec[:i], float(spec[i + 1:])
            return anchors[base] + (delta if op == "+" else -delta)
    return anchors[spec]


# --------------------------------------------------------------------------
# comparison

def fval(s):
    return float(s)  # handles "NaN", "+Inf", "-Inf"


def same_value(a, b):
    fa, fb = fval(a), fval(b)
    if math.isnan(fa) or math.isnan(fb):
        return math.isnan(fa) and math.isnan(fb)
    if math.isinf(fa) or math.isinf(fb):
        return fa == fb
    return math.isclose(fa, fb, rel_tol=REL_TOL, abs_tol=ABS_TOL)


def compare(q, p, s):
    """Returns None when equal, else a short description of the difference."""
    if s.get("resultType") != p.get("resultType"):
        return "resultType sonde %r, Prometheus %r" % (s.get("resultType"), p.get("resultType"))
    rt = p["resultType"]
    pr, sr = p["result"], s["result"]
    if rt in ("scalar", "string"):
        if fval(sr[0]) != fval(pr[0]):
            return "timestamp sonde %r, Prometheus %r" % (sr[0], pr[0])
        ok = same_value(sr[1], pr[1]) if rt == "scalar" else sr[1] == pr[1]
        return None if ok else "value sonde %r, Prometheus %r" % (sr[1], pr[1])
    pk = [sl.metric_key(r["metric"]) for r in pr]
    sk = [sl.metric_key(r["metric"]) for r in sr]
    if len(set(sk)) != len(sk):
        return "sonde returned duplicate label sets"
    if sorted(sk) != sorted(pk):
        only_s = sorted(set(sk) - set(pk))[:3]
        only_p = sorted(set(pk) - set(sk))[:3]
        return "label sets differ: %d vs %d series; only in sonde %r; only in Prometheus %r" % (
            len(sk), len(pk), [dict(k) for k in only_s], [dict(k) for k in only_p])
    if q["ordered"] and rt == "vector":
        # Prometheus orders sort()/sort_desc()/topk() results by value; among
        # equal values the order is unspecified, so compare the value sequence
        pvals = [fval(r["value"][1]) for r in pr]
        svals = [fval(r["value"][1]) for r in sr]
        if not all(same_value(a, b) for a, b in zip(svals, pvals)):
            return "order differs: sonde values %r, Prometheus values %r" % (svals[:8], pvals[:8])
    smap = {sl.metric_key(r["metric"]): r for r in sr}
    for r in pr:
        k = sl.metric_key(r["metric"])
        a = smap[k]
        if rt == "vector":
            if fval(a["value"][0]) != fval(r["value"][0]):
                return "%r: timestamp sonde %r, Prometheus %r" % (dict(k), a["value"][0], r["value"][0])
            if not same_value(a["value"][1], r["value"][1]):
                return "%r: value sonde %r, Prometheus %r" % (dict(k), a["value"][1], r["value"][1])
        else:
            pv, sv = r.get("values", []), a.get("values", [])
            pt, st = [fval(x[0]) for x in pv], [fval(x[0]) for x in sv]
            if pt != st:
                miss = sorted(set(pt) - set(st))[:3]
                extra = sorted(set(st) - set(pt))[:3]
                return "%r: %d vs %d points; missing in sonde %r, extra in sonde %r" % (
                    dict(k), len(st), len(pt), miss, extra)
            for (t, x), (_, y) in zip(pv, sv):
                if not same_value(y, x):
                    return "%r @%s: value sonde %r, Prometheus %r" % (dict(k), t, y, x)
    return None


class DiffLog:
    """Appends to DIFF_LOG, writing the run header before the first entry
    only, so runs without disagreements leave the file alone."""

    def __init__(self, path, header):
        self.path, self.header, self.f = path, header, None

    def __enter__(self):
        return self

    def write(self, text):
        if self.f is None:
            self.f = open(self.path, "a")
            self.f.write(self.header)
        self.f.write(text)
        self.f.flush()

    def __exit__(self, *exc):
        if self.f is not None:
            self.f.close()


def ask(base, q):
    if q["kind"] == "instant":
        params = {"query": q["expr"], "time": "%.3f" % q["time"]}
        path = "/api/v1/query"
    else:
        params = {"query": q["expr"], "start": "%.3f" % q["start"], "end": "%.3f" % q["end"],
                  "step": q["step"]}
        path = "/api/v1/query_range"
    st, doc = sl.api(base, path, params, timeout=30)
    return st, doc


def where(q):
    if q["kind"] == "instant":
        return "instant time=%.3f" % q["time"]
    return "range start=%.3f end=%.3f step=%s" % (q["start"], q["end"], q["step"])


def trim(doc, n=1500):
    s = json.dumps(doc, sort_keys=True)
    return s if len(s) <= n else s[:n] + "...(%d chars)" % len(s)


# --------------------------------------------------------------------------

def start_prometheus(prom, tmp):
    port = sl.free_port()
    cfg = os.path.join(tmp, "prometheus.yml")
    with open(cfg, "w") as f:
        f.write("global: {}\n")
    logp = os.path.join(tmp, "prometheus.log")
    log = open(logp, "wb")
    proc = sl.spawn([prom, "--config.file", cfg, "--storage.tsdb.path", os.path.join(tmp, "tsdb"),
                     "--web.listen-address", "127.0.0.1:%d" % port,
                     "--web.enable-remote-write-receiver", "--log.level", "warn"],
                    stdout=log, stderr=subprocess.STDOUT)
    log.close()
    base = "http://127.0.0.1:%d" % port
    deadline = time.monotonic() + 30
    while True:
        sl.check(proc.poll() is None, "prometheus exited: %s" % sl.tail(logp))
        try:
            if sl.http_request("GET", base + "/-/ready", timeout=2)[0] == 200:
                return proc, base, logp
        except OSError:
            pass
        sl.check(time.monotonic() < deadline, "prometheus not ready in 30s: %s" % sl.tail(logp))
        time.sleep(0.2)


def main():
    t_begin = time.monotonic()
    sl.sonde_bin()
    prom = sl.require_tool("prometheus")
    seed = int(os.environ.get("SONDE_TEST_SEED", "4242"))
    print("seed %d (SONDE_TEST_SEED)" % seed, flush=True)
    rnd = random.Random(seed)
    queries_path = os.environ.get("SONDE_PROMQL_QUERIES", QUERY_FILE)

    # time layout: samples at minute + 7.3 s (+15 s steps), last one ~90 s ago
    now = time.time()
    end_min = int(now // 60) * 60 - 120  # a whole minute
    n = HISTORY_S * 1000 // INTERVAL_MS
    t0_ms = (end_min - HISTORY_S) * 1000 + OFFSET_MS
    last = (t0_ms + (n - 1) * INTERVAL_MS) / 1000.0
    # anchors for query times: whole seconds + 0.5, never on a sample
    anchors = {
        "START": t0_ms / 1000.0 - 7.3 + 0.5,    # minute+0.5 before the first sample
        "WARM": t0_ms / 1000.0 - 7.3 + 600.5,  # rate windows no longer reach the start
        "MID": end_min - 1800 + 0.5,
        "END": end_min + 0.5,                   # just after the newest sample
        "LATE": end_min + 240.5,                # after the data, inside the lookback
        "GONE": end_min + 400.5,                # after the data, past the lookback
    }
    print("samples %s .. %s (%d per series), now %.3f" % (t0_ms / 1000.0, last, n, now), flush=True)
    series = build_series(rnd, t0_ms, n)
    queries = load_queries(queries_path, anchors)
    print("%d series, %d samples, %d queries" % (
        len(series), sum(len(s) for _, s in series), len(queries)), flush=True)

    srv = sl.Server()
    tmp = tempfile.mkdtemp(prefix="sonde-pvp-")
    pproc = None
    try:
        srv.start()
        pproc, pbase, plog = start_prometheus(prom, tmp)
        print("prometheus on %s, sonde on %s" % (pbase, srv.base), flush=True)
        write_all(pbase, series, t0_ms, "prometheus")
        write_all(srv.base, series, t0_ms, "sonde")
        # both acknowledged every write; check Prometheus really holds the
        # data (a test-setup check, not a comparison)
        held = []
        for base in (pbase, srv.base):
            d = sl.query(base, 'count({__name__=~"test_.+"})', t=anchors["MID"])
            held.append(d["result"][0]["value"][1] if d["result"] else None)
        print("series held at MID: prometheus %s, sonde %s" % tuple(held), flush=True)
        sl.check(held[0] is not None, "Prometheus holds no test data; log:\n%s" % sl.tail(plog))

        compared = skipped = 0
        nonempty = 0
        fails, known = [], []
        known_seen = set()
        header = "\n==== %s run %s seed %d (sonde %s, prometheus %s) ====\n" % (
            os.path.basename(__file__), time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            seed, srv.base, pbase)
        with DiffLog(DIFF_LOG, header) as dl:
            for q in queries:
                if q["skip"]:
                    skipped += 1
                    print("  skip %-8s %s  (%s)" % (q["kind"], q["expr"], q["skip"]), flush=True)
                    continue
                pst, pdoc = ask(pbase, q)
                if q["error"]:
                    # both must refuse the query, with the same status and errorType
                    sst, sdoc = ask(srv.base, q)
                    compared += 1
                    ok = pdoc.get("status") == "error"
                    if not ok:
                        fails.append("line %d %s: Prometheus accepted a query marked ;error"
                                     % (q["line"], q["expr"]))
                    elif (sst, sdoc.get("errorType")) != (pst, pdoc.get("errorType")):
                        diff = "error expected: sonde %d %s, Prometheus %d %s" % (
                            sst, trim(sdoc, 300), pst, trim(pdoc, 300))
                        fails.append("line %d %s %s: %s" % (q["line"], q["expr"], where(q), diff))
                        dl.write("--- line %d %s %s\n    diff: %s\n" % (q["line"], q["expr"], where(q), diff))
                        print("  DIFF %-7s %s: %s" % (q["kind"], q["expr"], diff), flush=True)
                    else:
                        print("  ok   %-7s %s (error %s)" % (q["kind"], q["expr"], pdoc.get("errorType")),
                              flush=True)
                    continue
                if pst != 200 or pdoc.get("status") != "success":
                    fails.append("line %d %s: Prometheus itself failed: %s %s (bad test query)"
                                 % (q["line"], q["expr"], pst, trim(pdoc, 300)))
                    print("  BAD  %s: Prometheus error %s" % (q["expr"], trim(pdoc, 300)), flush=True)
                    continue
                sst, sdoc = ask(srv.base, q)
                if sst != 200 or sdoc.get("status") != "success":
                    diff = "sonde error %d: %s" % (sst, trim(sdoc, 300))
                else:
                    diff = compare(q, pdoc["data"], sdoc["data"])
                compared += 1
                if pdoc["data"]["result"]:
                    nonempty += 1
                if diff is None:
                    print("  ok   %-7s %s" % (q["kind"], q["expr"]), flush=True)
                    continue
                dl.write("--- line %d %s %s\n    diff: %s\n    prometheus: %s\n    sonde: %s\n"
                         % (q["line"], q["expr"], where(q), diff,
                            trim(pdoc.get("data")), trim(sdoc.get("data", sdoc))))
                if q["expr"] in KNOWN_DIFFERENCES:
                    known_seen.add(q["expr"])
                    known.append("%s: %s [known: %s]" % (q["expr"], diff, KNOWN_DIFFERENCES[q["expr"]]))
                    print("  KNOWN %-7s %s: %s" % (q["kind"], q["expr"], diff), flush=True)
                else:
                    fails.append("line %d %s %s: %s" % (q["line"], q["expr"], where(q), diff))
                    print("  DIFF %-7s %s: %s" % (q["kind"], q["expr"], diff), flush=True)
        print("compared %d queries (%d with non-empty results), skipped %d, "
              "disagreed %d, known differences %d, in %.1fs"
              % (compared, nonempty, skipped, len(fails), len(known), time.monotonic() - t_begin),
              flush=True)
        for k in known:
            print("KNOWN_DIFFERENCE: %s" % k, flush=True)
        fixed = set(KNOWN_DIFFERENCES) - known_seen
        for k in sorted(fixed):
            print("NOTE: known difference now agrees, remove it from KNOWN_DIFFERENCES: %s" % k,
                  flush=True)
        if fails:
            print("details appended to %s" % DIFF_LOG, flush=True)
        sl.check(not fails, "%d queries disagree:\n  %s" % (len(fails), "\n  ".join(fails)))
        sl.check(compared >= MIN_COMPARED, "only %d queries compared (want >= %d)"
                 % (compared, MIN_COMPARED))
        sl.check(nonempty >= MIN_COMPARED * 3 // 4, "only %d queries had a non-empty Prometheus"
                 " result (test data problem)" % nonempty)
    finally:
        if pproc is not None:
            sl.stop_process(pproc, timeout=15)
        srv.cleanup()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sl.run_main(main)
