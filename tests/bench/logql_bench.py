#!/usr/bin/env python3
"""logql_bench.py - helper of logs_bench.sh (Python 3 stdlib only).

  logql_bench.py BASE NAME QUERY --start NS --end NS [--step S] [--limit N]
                 [--reps 20] [--warmup 1] [--timeout 60]

Sends QUERY to BASE/loki/api/v1/query_range over one keep-alive HTTP/1.1
connection, one request at a time: --warmup unmeasured requests, then --reps
measured ones. Latency is the client's wall time until the whole JSON body is
read. p50/p99 are nearest rank, rounded down (sorted[int((n-1)*q)]), as in
query_bench.py: with 20 repetitions p50 is the 10th fastest and p99 the 19th.
Prints one line:
  LOGQL name=NAME p50_ms=.. p99_ms=.. min_ms=.. max_ms=.. reps=N errors=E
        result_type=streams|matrix series=S entries=E points=P total=T
where entries counts log lines returned (streams) and total sums the sample
values (matrix), to show what the query did. Every request has a timeout and
the loop is bounded by --reps + --warmup.
"""

import argparse
import http.client
import json
import sys
import time
import urllib.parse


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("base")
    ap.add_argument("name")
    ap.add_argument("query")
    ap.add_argument("--start", type=int, required=True, help="ns")
    ap.add_argument("--end", type=int, required=True, help="ns")
    ap.add_argument("--step", type=int, default=60)
    ap.add_argument("--limit", type=int, default=100)
    ap.add_argument("--reps", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--timeout", type=float, default=60)
    a = ap.parse_args()

    u = urllib.parse.urlsplit(a.base)
    params = {"query": a.query, "start": str(a.start), "end": str(a.end),
              "step": str(a.step), "limit": str(a.limit)}
    path = "/loki/api/v1/query_range?" + urllib.parse.urlencode(params)
    conn = None
    lat = []
    errors = 0
    first_err = ""
    last = None
    for i in range(a.warmup + a.reps):
        if conn is None:
            conn = http.client.HTTPConnection(u.hostname, u.port, timeout=a.timeout)
        t0 = time.perf_counter()
        try:
            conn.request("GET", path)
            r = conn.getresponse()
            body = r.read()
            status = r.status
        except (OSError, http.client.HTTPException) as e:
            conn.close()
            conn = None
            errors += 1
            first_err = first_err or str(e)
            continue
        dt = (time.perf_counter() - t0) * 1000.0
        if status != 200:
            errors += 1
            first_err = first_err or "HTTP %d: %s" % (status, body[:200].decode("utf-8", "replace"))
            continue
        if i >= a.warmup:
            lat.append(dt)
        last = body
    if conn is not None:
        conn.close()

    rtype, series, entries, points, total = "-", 0, 0, 0, 0.0
    if last is not None:
        d = json.loads(last)["data"]
        rtype = d["resultType"]
        for s in d["result"]:
            series += 1
            if rtype == "streams":
                entries += len(s["values"])
            else:
                points += len(s["values"])
                total += sum(float(v[1]) for v in s["values"])
    lat.sort()
    n = len(lat)

    def pick(q):
        return "%.1f" % lat[int((n - 1) * q)] if n else "nan"

    if first_err:
        print("logql_bench: %s: first error: %s" % (a.name, first_err), file=sys.stderr)
    print("LOGQL name=%s p50_ms=%s p99_ms=%s min_ms=%s max_ms=%s reps=%d errors=%d "
          "result_type=%s series=%d entries=%d points=%d total=%.0f"
          % (a.name, pick(0.5), pick(0.99), pick(0.0), pick(1.0), n, errors,
             rtype, series, entries, points, total))
    return 0 if n == a.reps else 1


if __name__ == "__main__":
    sys.exit(main())
