#!/usr/bin/env python3
"""Template mining on ingest, exact per-template counts, /loki/api/v1/patterns and dynamic
sampling, against a real sonde, pushed with curl (Loki push JSON).

A skewed stream: one template at ~90% of the lines, a few hundred rare templates (1-2 lines
each), and error lines, pushed over a few seconds with --logs.sampling (goal rate 10, rates
adapting every 200 ms). Then:
  - every rare line and every error line is stored (LogQL line filters);
  - once the sampler has warmed up, the share of lines stored is at most the configured one
    (1/10, with 25% slack for rounding), measured on sonde_logs_lines_total;
  - sonde_log_lines_total in the TSDB (PromQL) is exact per template and in total;
  - re-weighted sum(count_over_time(...)) is within 5% of the true count, and the response
    says the data was sampled;
  - /loki/api/v1/patterns lists the hot pattern (variables as <_>) with its exact count, and
    every rare pattern;
  - after kill -9 and a restart, the hot template keeps its id and its count goes on.
A second server without sampling stores every line and answers "sampled": false.
"""

import json
import os
import random
import subprocess
import sys
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sondelib as sl  # noqa: E402

PUSH = "/loki/api/v1/push"
LABELS = {"job": "skew", "service_name": "shop"}
SEL = '{job="skew"}'


def curl_push(base, values):
    doc = {"streams": [{"stream": LABELS, "values": values}]}
    out = subprocess.run(
        ["curl", "-sS", "-o", "-", "-w", "\n%{http_code}", "-H", "Content-Type: application/json",
         "--max-time", "20", "--data-binary", "@-", base + PUSH],
        input=json.dumps(doc).encode(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        timeout=30)
    sl.check_eq(out.returncode, 0, "curl exit status (%s)" % out.stderr.decode()[:200])
    body, _, code = out.stdout.rpartition(b"\n")
    sl.check_eq(int(code), 204, "push status (%r)" % body[:200])


def word(rng):
    return "".join(rng.choice("bcdfghjklmnpqrstvwxz") + rng.choice("aeiou") for _ in range(4))


def make_lines(rng, n_batches, per_batch, t0_ns):
    """Returns (batches of [ts, line], counts dict kind -> n, rare lines, error lines)."""
    rare_pool = []
    for i in range(300):
        # five random words after a fixed opener: a template of its own
        rare_pool.append("rarekind %s %s %s %s %s" % tuple(word(rng) for _ in range(5)))
    rare_sched = {}
    for i, text in enumerate(rare_pool):
        for _ in range(1 + i % 2):
            rare_sched.setdefault(rng.randrange(n_batches * per_batch), []).append(text)
    batches, hot, errors, rare = [], 0, [], []
    ts = t0_ns
    for b in range(n_batches):
        vals = []
        for i in range(per_batch):
            ts += 1_000_000  # 1 ms apart: ordered, all inside the query hour
            k = b * per_batch + i
            if k in rare_sched:
                for text in rare_sched[k]:
                    vals.append([str(ts), text])
                    rare.append(text)
                    ts += 1000
            elif k % 50 == 7:
                line = "ERROR payment gateway timeout after %d ms order=%d" % (
                    rng.randrange(100, 9000), rng.randrange(10**6))
                vals.append([str(ts), line])
                errors.append(line)
            else:
                vals.append([str(ts), "GET /api/v1/items/%d 200 %dms" % (
                    rng.randrange(10**6), rng.randrange(1, 900))])
                hot += 1
        batches.append(vals)
    return batches, hot, rare, errors


def metric_value(base, name, labels):
    st, _, body = sl.http_request("GET", base + "/metrics")
    sl.check_eq(st, 200, "/metrics")
    want = name + labels
    for line in body.decode().splitlines():
        if line.startswith(want + " "):
            return float(line.split()[-1])
    raise sl.TestFailure("%s missing from /metrics" % want)


def loki(base, path, params):
    st, doc = sl.api(base, "/loki/api/v1/" + path, params)
    if st != 200 or doc.get("status") != "success":
        raise sl.TestFailure("%s %r: status %d, %r" % (path, params, st, str(doc)[:400]))
    return doc


def lines_matching(base, needle, start, end):
    doc = loki(base, "query_range", {"query": '%s |= "%s"' % (SEL, needle), "limit": "5000",
                                     "start": str(start), "end": str(end)})
    out = []
    for s in doc["data"]["result"]:
        out.extend(v[1] for v in s["values"])
    return out


def promql_value(base, expr):
    res = sl.query(base, expr)["result"]
    if not res:
        return 0.0
    sl.check_eq(len(res), 1, "one series from %s" % expr)
    return float(res[0]["value"][1])


def main():
    sl.require_tool("curl")
    rng = random.Random(7)
    now_ns = time.time_ns()
    t0 = now_ns - 65 * 10**9  # the lines end about now: counts are recent for PromQL
    batches, hot, rare, errors = make_lines(rng, 30, 2000, t0)
    total = hot + len(rare) + len(errors)
    start, end = t0 - 10**9, now_ns + 60 * 10**9

    srv = sl.Server(extra_args=["--logs.sampling", "--logs.sampling.goal-rate", "10",
                                "--logs.sampling.interval", "200ms"])
    try:
        srv.start()
        base = srv.base
        warm_seen = warm_kept = None
        for i, vals in enumerate(batches):
            curl_push(base, vals)
            time.sleep(0.1)
            if i == 9:  # ten batches (~1 s, five intervals) of warm-up
                warm_seen = metric_value(base, "sonde_logs_lines_total", '{outcome="seen"}')
                warm_kept = metric_value(base, "sonde_logs_lines_total", '{outcome="kept"}')
        seen = metric_value(base, "sonde_logs_lines_total", '{outcome="seen"}')
        kept = metric_value(base, "sonde_logs_lines_total", '{outcome="kept"}')
        sl.check_eq(int(seen), total, "lines seen by the pipeline")
        share = (kept - warm_kept) / (seen - warm_seen)
        print("stored share after warm-up: %.4f (%d of %d); overall %.4f"
              % (share, kept - warm_kept, seen - warm_seen, kept / seen), flush=True)
        sl.check(share <= 0.1 * 1.25, "stored share %.4f above the configured 1/10" % share)

        # every rare line and every error line is kept
        got_rare = lines_matching(base, "rarekind", start, end)
        sl.check_eq(sorted(got_rare), sorted(rare), "rare lines stored")
        got_err = lines_matching(base, "ERROR payment", start, end)
        sl.check_eq(sorted(got_err), sorted(errors), "error lines stored")

        # exact counts in the TSDB
        sl.check_eq(promql_value(base, 'sum(sonde_log_lines_total{job="skew"})'), float(total),
                    "sum of sonde_log_lines_total")
        res = sl.query(base, 'sonde_log_lines_total{job="skew"}')["result"]
        counts = sorted((float(r["value"][1]) for r in res), reverse=True)
        sl.check_eq(counts[0], float(hot), "the hot template's count")
        bytes_total = promql_value(base, 'sum(sonde_log_bytes_total{job="skew"})')
        want_bytes = sum(len(v[1].encode()) for b in batches for v in b)
        sl.check_eq(bytes_total, float(want_bytes), "sum of sonde_log_bytes_total")
        hot_tid = [r["metric"]["sonde_template_id"] for r in res
                   if float(r["value"][1]) == float(hot)][0]

        # re-weighted counts
        doc = loki(base, "query", {"query": "sum(count_over_time(%s[1h]))" % SEL,
                                   "time": str(end)})
        est = float(doc["data"]["result"][0]["value"][1])
        print("re-weighted count %.0f, true %d (%.2f%%)" % (est, total,
                                                           100.0 * (est - total) / total))
        sl.check(abs(est - total) <= 0.05 * total, "re-weighted count %.0f vs %d" % (est, total))
        sl.check_eq(doc["data"].get("sampled"), True, "the response says sampled")

        # patterns
        doc = loki(base, "patterns", {"query": SEL, "start": str(start), "end": str(end),
                                      "step": "1h"})
        pats = {p["pattern"]: sum(s[1] for s in p["samples"]) for p in doc["data"]}
        print("top patterns:", sorted(pats.items(), key=lambda kv: -kv[1])[:4], flush=True)
        hot_pats = [p for p in pats if p.startswith("GET ")]
        sl.check_eq(len(hot_pats), 1, "one pattern for the hot lines (%r)" % hot_pats)
        sl.check(hot_pats[0].endswith("<_>"), "variables print as <_> (%r)" % hot_pats[0])
        sl.check_eq(pats[hot_pats[0]], hot, "hot pattern count")
        sl.check_eq(sum(pats.values()), total, "pattern counts add up to every line")
        rare_pats = [p for p in pats if p.startswith("rarekind ")]
        sl.check(len(rare_pats) >= 250, "rare patterns listed: %d" % len(rare_pats))
        # bad requests get a clear 400, and the server keeps serving
        for params, why in (({}, "query is required"),
                            ({"query": SEL, "step": "-5s"}, "invalid step"),
                            ({"query": "{job=", "step": "1m"}, "parse error"),
                            ({"query": SEL, "start": str(start), "end": str(end), "step": "1ms"},
                             "exceeded maximum resolution")):
            st, _, body = sl.http_request(
                "GET", base + "/loki/api/v1/patterns?" + urllib.parse.urlencode(params))
            sl.check_eq(st, 400, "patterns %r" % params)
            sl.check(why in body.decode(), "patterns %r says %r: %r" % (params, why, body[:200]))
        loki(base, "patterns", {"query": SEL, "start": str(start), "end": str(end), "step": "1h"})

        # kill -9: the template id and the running count survive
        srv.kill9()
        srv.start()
        extra = [[str(now_ns + i * 1000), "GET /api/v1/items/%d 200 %dms" % (i, i + 1)]
                 for i in range(100)]
        curl_push(srv.base, extra)
        res = sl.query(srv.base, 'sonde_log_lines_total{job="skew",sonde_template_id="%s"}'
                       % hot_tid)["result"]
        sl.check_eq(len(res), 1, "hot template series after restart")
        sl.check_eq(float(res[0]["value"][1]), float(hot + 100), "hot count after restart")
        sl.check_eq(metric_value(srv.base, "sonde_logs_template_versions_total", ""), 0.0,
                    "no new template version for known lines after restart")
    finally:
        srv.cleanup()

    # without sampling every line is stored and nothing is re-weighted
    plain = sl.Server()
    try:
        plain.start()
        for vals in batches[:3]:
            curl_push(plain.base, vals)
        n = sum(len(b) for b in batches[:3])
        sl.check_eq(metric_value(plain.base, "sonde_logs_lines_total", '{outcome="kept"}'),
                    float(n), "all lines kept without sampling")
        doc = loki(plain.base, "query", {"query": "sum(count_over_time(%s[1h]))" % SEL,
                                         "time": str(end)})
        sl.check_eq(float(doc["data"]["result"][0]["value"][1]), float(n), "count without sampling")
        sl.check_eq(doc["data"].get("sampled"), False, "not sampled")
    finally:
        plain.cleanup()


if __name__ == "__main__":
    sl.run_main(main)
