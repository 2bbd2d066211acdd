#!/usr/bin/env python3
"""Real Prometheus (Debian's 2.42) remote-writes to sonde; both must agree.

Prometheus scrapes itself and sonde's /metrics every second and remote-writes
everything to sonde. Once sonde has a minute of data, the test evaluates the
same expressions on both servers at the SAME time T (a few seconds in the past,
after remote write has delivered everything up to T) and asserts the answers
agree: the same label sets, the same values (rate/increase with a small
relative tolerance). It also checks that Prometheus reports no failed remote
write samples, that Prometheus could scrape sonde (up == 1), and runs
`promtool query instant|range` against sonde.
"""

import math
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sondelib as sl  # noqa: E402

WINDOW_S = 62  # sonde must hold this much data before T, so that [1m] windows match
WAIT_FIRST_S = 60
REL_TOL = 1e-6

INSTANT = [
    ("up", 0),
    ('up{job="sonde"}', 0),
    ('up{job=~"prom.*"}', 0),
    ('up{job!="sonde"}', 0),
    ("prometheus_tsdb_head_series", 0),
    ("count by (job) (up)", 0),
    ("max without (instance) (up)", 0),
    ('prometheus_http_requests_total{handler="/metrics"} * 2', 0),
    ("sum by (job) (rate(prometheus_http_requests_total[1m]))", REL_TOL),
    ('increase(prometheus_http_requests_total{handler="/metrics"}[1m])', REL_TOL),
    ("avg by (job) (rate(prometheus_tsdb_head_samples_appended_total[30s]))", REL_TOL),
    ("min by (job) (up) + 1", 0),
    # regex matchers are anchored: "prom" matches no job
    ('up{job=~"prom"}', 0),
    ('prometheus_http_requests_total{handler!~"/api/.*"}', 0),
    ("count by (handler) (prometheus_http_requests_total)", 0),
    ("sum without (instance) (rate(prometheus_http_requests_total[1m]))", REL_TOL),
    ("rate(prometheus_http_requests_total[1m]) * 60", REL_TOL),
    ("max by (job) (prometheus_tsdb_head_series) / 2 - 1", 0),
    ('avg(up{job!="nothing"})', 0),
]
EXPECT_EMPTY = {'up{job=~"prom"}'}
RANGE = [("up", 0), ("sum by (job) (rate(prometheus_http_requests_total[30s]))", REL_TOL)]


def close(a, b, tol):
    fa, fb = float(a), float(b)
    if math.isnan(fa) or math.isnan(fb):
        return math.isnan(fa) and math.isnan(fb)
    if tol == 0:
        return fa == fb
    return math.isclose(fa, fb, rel_tol=tol, abs_tol=1e-12)


def compare_instant(expr, tol, pdata, sdata):
    sl.check_eq(sdata["resultType"], pdata["resultType"], "%s: resultType" % expr)
    p = {sl.metric_key(r["metric"]): r["value"] for r in pdata["result"]}
    s = {sl.metric_key(r["metric"]): r["value"] for r in sdata["result"]}
    if expr in EXPECT_EMPTY:
        sl.check(not p, "%s: Prometheus returned %r (test setup problem)" % (expr, p))
    else:
        sl.check(p, "%s: Prometheus returned nothing (test setup problem)" % expr)
    sl.check_eq(sorted(s), sorted(p), "%s: label sets (sonde vs Prometheus)" % expr)
    for k in p:
        sl.check(float(s[k][0]) == float(p[k][0]), "%s %r: timestamp sonde %r, Prometheus %r"
                 % (expr, dict(k), s[k][0], p[k][0]))
        sl.check(close(s[k][1], p[k][1], tol), "%s %r: value sonde %r, Prometheus %r"
                 % (expr, dict(k), s[k][1], p[k][1]))


def compare_range(expr, tol, pdata, sdata):
    sl.check_eq(sdata["resultType"], "matrix", "%s: resultType" % expr)
    p = {sl.metric_key(r["metric"]): dict((float(t), v) for t, v in r["values"])
         for r in pdata["result"]}
    s = {sl.metric_key(r["metric"]): dict((float(t), v) for t, v in r["values"])
         for r in sdata["result"]}
    sl.check(p, "%s: Prometheus returned nothing (test setup problem)" % expr)
    sl.check_eq(sorted(s), sorted(p), "%s range: label sets (sonde vs Prometheus)" % expr)
    common = 0
    for k in p:
        both = sorted(set(p[k]) & set(s[k]))
        # T-30s lies well after sonde's first sample, so every step must be there
        sl.check_eq(sorted(s[k]), sorted(p[k]), "%s %r range: step timestamps" % (expr, dict(k)))
        for t in both:
            sl.check(close(s[k][t], p[k][t], tol), "%s %r @%s: sonde %r, Prometheus %r"
                     % (expr, dict(k), t, s[k][t], p[k][t]))
            common += 1
    sl.check(common >= 3, "%s: only %d common points" % (expr, common))


def latest_ts(base, metric, now):
    """min over series of the newest sample time sonde holds for metric."""
    r = sl.query(base, "%s[20s]" % metric, t=now)["result"]
    if not r:
        return None
    return min(max(float(t) for t, _ in x["values"]) for x in r)


def first_ts(base, metric, now):
    r = sl.query(base, "%s[5m]" % metric, t=now)["result"]
    if not r:
        return None
    return min(float(x["values"][0][0]) for x in r)


def main():
    sl.sonde_bin()
    prom = sl.require_tool("prometheus")
    promtool = sl.require_tool("promtool")
    srv = sl.Server()
    tmp = tempfile.mkdtemp(prefix="sonde-prom-")
    pport = sl.free_port()
    pbase = "http://%s:%d" % (sl.HOST, pport)
    pproc = None
    try:
        srv.start()
        cfg = os.path.join(tmp, "prometheus.yml")
        with open(cfg, "w") as f:
            f.write("""global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: prometheus
    static_configs: [{targets: ["127.0.0.1:%d"]}]
  - job_name: sonde
    static_configs: [{targets: ["127.0.0.1:%d"]}]
remote_write:
  - url: http://127.0.0.1:%d/api/v1/write
    queue_config: {batch_send_deadline: 1s, min_backoff: 100ms, max_backoff: 1s}
""" % (pport, srv.port, srv.port))
        plog_path = os.path.join(tmp, "prometheus.log")
        plog = open(plog_path, "wb")
        pproc = sl.spawn([prom, "--config.file", cfg, "--storage.tsdb.path", os.path.join(tmp, "tsdb"),
                          "--web.listen-address", "127.0.0.1:%d" % pport, "--log.level", "warn"],
                         stdout=plog, stderr=subprocess.STDOUT)
        plog.close()
        deadline = time.monotonic() + 30
        while True:
            sl.check(pproc.poll() is None, "prometheus exited: %s" % sl.tail(plog_path))
            try:
                if sl.http_request("GET", pbase + "/-/ready", timeout=2)[0] == 200:
                    break
            except OSError:
                pass
            sl.check(time.monotonic() < deadline, "prometheus not ready in 30s: %s" % sl.tail(plog_path))
            time.sleep(0.2)
        print("prometheus ready on %d, sonde on %d" % (pport, srv.port), flush=True)

        # wait (bounded) until sonde has `up` for both jobs
        deadline = time.monotonic() + WAIT_FIRST_S
        while True:
            r = sl.query(srv.base, "up", t=time.time())["result"]
            jobs = {x["metric"].get("job") for x in r}
            if {"prometheus", "sonde"} <= jobs:
                break
            sl.check(time.monotonic() < deadline,
                     "sonde has no `up` for both jobs after %ds (has %r); prometheus log:\n%s"
                     % (WAIT_FIRST_S, sorted(jobs - {None}), sl.tail(plog_path)))
            time.sleep(0.5)
        first = first_ts(srv.base, "up", time.time())
        print("sonde has data from %.3f" % first, flush=True)

        # T: WINDOW_S after sonde's first sample, and everything up to T delivered
        deadline = time.monotonic() + WINDOW_S + 40
        while time.time() - 3 < first + WINDOW_S:
            sl.check(pproc.poll() is None, "prometheus died: %s" % sl.tail(plog_path))
            sl.check(srv.alive(), "sonde died: %s" % sl.tail(srv.log_path))
            time.sleep(1)
        T = round(time.time() - 3, 3)
        while True:
            now = time.time()
            lat = [latest_ts(srv.base, m, now) for m in
                   ("up", "prometheus_tsdb_head_series", "prometheus_http_requests_total")]
            if all(x is not None and x > T + 1 for x in lat):
                break
            sl.check(time.monotonic() < deadline,
                     "sonde did not receive samples past T=%.3f in time (latest %r)" % (T, lat))
            time.sleep(0.5)
        time.sleep(2)
        print("comparing at T=%.3f" % T, flush=True)

        for expr, tol in INSTANT:
            pdata = sl.query(pbase, expr, t=T)
            sdata = sl.query(srv.base, expr, t=T)
            compare_instant(expr, tol, pdata, sdata)
            print("  ok  instant %-70s %d series" % (expr, len(pdata["result"])), flush=True)
        for expr, tol in RANGE:
            pdata = sl.query_range(pbase, expr, T - 30, T, "5s")
            sdata = sl.query_range(srv.base, expr, T - 30, T, "5s")
            compare_range(expr, tol, pdata, sdata)
            print("  ok  range   %-70s %d series" % (expr, len(pdata["result"])), flush=True)

        r = sl.query(srv.base, 'up{job="sonde"}', t=T)["result"]
        sl.check(len(r) == 1 and r[0]["value"][1] == "1",
                 "Prometheus could not scrape sonde's /metrics (up{job=\"sonde\"} = %r)" % r)
        for m in ("prometheus_remote_storage_samples_failed_total",
                  "prometheus_remote_storage_metadata_failed_total"):
            r = sl.query(pbase, "sum(%s)" % m, t=time.time())["result"]
            sl.check(not r or float(r[0]["value"][1]) == 0,
                     "Prometheus reports failed remote writes: %s = %r" % (m, r))

        # promtool against sonde
        out = subprocess.run([promtool, "query", "instant", "--time=%.3f" % T, srv.base, "up"],
                             capture_output=True, timeout=30)
        text = out.stdout.decode()
        sl.check(out.returncode == 0, "promtool query instant: rc %d, %r %r"
                 % (out.returncode, text, out.stderr))
        sl.check('up{' in text and 'job="sonde"' in text and 'job="prometheus"' in text,
                 "promtool query instant output lacks the up series: %r" % text)
        out = subprocess.run([promtool, "query", "range", "--start=%.3f" % (T - 30),
                              "--end=%.3f" % T, "--step=5s", srv.base, "up"],
                             capture_output=True, timeout=30)
        text = out.stdout.decode()
        sl.check(out.returncode == 0, "promtool query range: rc %d, %r %r"
                 % (out.returncode, text, out.stderr))
        sl.check('up{' in text and 'job="sonde"' in text and "1 @[" in text,
                 "promtool query range output lacks the up series: %r" % text[:500])
        print("  ok  promtool query instant|range", flush=True)
    finally:
        if pproc is not None:
            sl.stop_process(pproc, timeout=15)
        srv.cleanup()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sl.run_main(main)
