#!/usr/bin/env python3
"""HTTP behaviour of sonde as real clients see it.

HTTP/1.1 keep-alive and pipelining, a chunked remote-write body, HTTP/2 with
prior knowledge (curl --http2-prior-knowledge and nghttp) for queries and
remote write, tenant isolation through X-Scope-OrgID, /metrics, /-/healthy,
buildinfo, labels, label values, series with match[], POST form queries, the
Prometheus error JSON shape, and a clean SIGTERM shutdown that keeps the data.
"""

import http.client
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sondelib as sl  # noqa: E402


def values_at(base, expr, t, tenant=None):
    return {sl.metric_key(r["metric"]): r["value"][1]
            for r in sl.query(base, expr, t=t, tenant=tenant)["result"]}


def main():
    sl.sonde_bin()
    curl = sl.require_tool("curl")
    nghttp = sl.require_tool("nghttp")
    srv = sl.Server()
    cases = sl.Cases()
    tmp = tempfile.mkdtemp(prefix="sonde-http-")
    try:
        srv.start()
        t0 = sl.now_ms() - 120000
        tq = t0 / 1000 + 30  # evaluation time after all samples below
        qurl = srv.base + "/api/v1/query?query=http_chunked%7Binstance%3D%22i3%22%7D&time=" + "%.3f" % tq
        bf = os.path.join(tmp, "body.bin")

        def healthy_ready():
            for p in ("/-/healthy", "/-/ready"):
                st, _, _ = sl.http_request("GET", srv.base + p)
                sl.check_eq(st, 200, "GET " + p)

        def keep_alive():
            conn = http.client.HTTPConnection(sl.HOST, srv.port, timeout=10)
            try:
                conn.connect()
                sock0 = conn.sock
                for i in range(5):
                    body = sl.rw_body([(sl.labels_of("http_keepalive", job="ka"), [(t0 + i * 1000, float(i))])])
                    conn.request("POST", "/api/v1/write", body=body, headers=sl.RW_HEADERS)
                    r = conn.getresponse()
                    r.read()
                    sl.check(r.status // 100 == 2, "keep-alive write %d: %d" % (i, r.status))
                    conn.request("GET", "/api/v1/query?query=http_keepalive&time=%.3f" % tq)
                    r = conn.getresponse()
                    doc = json.loads(r.read())
                    sl.check(r.status == 200, "keep-alive query %d: %d" % (i, r.status))
                    sl.check_eq(doc["data"]["result"][0]["value"][1], str(i), "keep-alive: query sees write %d" % i)
                    sl.check(conn.sock is sock0, "connection was closed by the server after request %d "
                             "(Connection: %r)" % (i, r.getheader("Connection")))
            finally:
                conn.close()

        def pipelining():
            wbody = sl.rw_body([(sl.labels_of("http_pipelined", job="pl"), [(t0, 5.0)])])
            whdr = b"".join(b"%s: %s\r\n" % (k.encode(), v.encode()) for k, v in sl.RW_HEADERS.items())
            q = urllib.parse.quote("http_keepalive")
            reqs = (b"POST /api/v1/write HTTP/1.1\r\nHost: a\r\n" + whdr
                    + b"Content-Length: %d\r\n\r\n" % len(wbody) + wbody
                    + b"GET /-/healthy HTTP/1.1\r\nHost: a\r\n\r\n"
                    + b"GET /api/v1/query?query=" + q.encode() + b"&time=%.3f HTTP/1.1\r\nHost: a\r\n\r\n" % tq
                    + b"GET /api/v1/status/buildinfo HTTP/1.1\r\nHost: a\r\n\r\n"
                    + b"GET /api/v1/label/job/values HTTP/1.1\r\nHost: a\r\n\r\n")
            s = sl.raw_connect(srv.port)
            try:
                s.sendall(reqs)
                rd = sl.RawReader(s)
                answers = [rd.response() for _ in range(5)]
            finally:
                s.close()
            sts = tuple(a[0] for a in answers)
            sl.check(sts[0] in (200, 204) and sts[1:] == (200, 200, 200, 200),
                     "pipelined statuses (write, healthy, query, buildinfo, job values): %r" % (sts,))
            d2, d3, d4 = (json.loads(a[2]) for a in answers[2:])
            sl.check(d2["data"].get("resultType") == "vector", "pipelined answer 3 is not the query: %r" % d2)
            sl.check("version" in d3["data"], "pipelined answer 4 is not buildinfo: %r" % d3)
            sl.check("ka" in d4["data"], "pipelined answer 5 is not job values: %r" % d4)
            r = sl.query(srv.base, "http_pipelined", t=tq)["result"]
            sl.check(len(r) == 1 and r[0]["value"][1] == "5", "pipelined write not queryable: %r" % r)

        def chunked_write():
            body = sl.rw_body([(sl.labels_of("http_chunked", job="ch", instance="i%d" % i),
                                [(t0 + j * 1000, float(i * 100 + j)) for j in range(10)]) for i in range(30)])
            s = sl.raw_connect(srv.port)
            try:
                hdr = b"POST /api/v1/write HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n"
                hdr += b"".join(b"%s: %s\r\n" % (k.encode(), v.encode()) for k, v in sl.RW_HEADERS.items())
                s.sendall(hdr + b"\r\n")
                pieces = [body[i:i + 97] for i in range(0, len(body), 97)]
                for i, p in enumerate(pieces):
                    s.sendall(b"%x;ext=1\r\n" % len(p) + p + b"\r\n")
                    if i % 10 == 0:
                        time.sleep(0.01)
                s.sendall(b"0\r\n\r\n")
                st, _, b = sl.RawReader(s).response()
            finally:
                s.close()
            sl.check(st // 100 == 2, "chunked remote write: %d %r" % (st, b[:200]))
            n = sl.query(srv.base, "count(http_chunked)", t=tq)["result"]
            sl.check(n and n[0]["value"][1] == "30", "chunked write: count(http_chunked) = %r, want 30" % n)

        def h2_curl():
            out = subprocess.run([curl, "-sS", "--max-time", "10", "--http2-prior-knowledge",
                                  "-w", "\n%{http_version} %{http_code}", qurl],
                                 capture_output=True, timeout=30)
            sl.check(out.returncode == 0, "curl h2 query failed: %r" % out.stderr)
            text, _, tailer = out.stdout.decode().rpartition("\n")
            sl.check_eq(tailer, "2 200", "curl h2 query: http version and status")
            doc = json.loads(text)
            sl.check_eq(doc["data"]["result"][0]["value"][1], "309", "curl h2 query value")

            h2body = sl.rw_body([(sl.labels_of("http_h2_write", job="h2", client="curl"), [(t0, 11.0)])])
            with open(bf, "wb") as f:
                f.write(h2body)
            cmd = [curl, "-sS", "--max-time", "10", "--http2-prior-knowledge", "-o", "/dev/null",
                   "-w", "%{http_version} %{http_code}", "--data-binary", "@" + bf]
            for k, v in sl.RW_HEADERS.items():
                cmd += ["-H", "%s: %s" % (k, v)]
            out = subprocess.run(cmd + [srv.base + "/api/v1/write"], capture_output=True, timeout=30)
            sl.check(out.returncode == 0, "curl h2 write failed: %r" % out.stderr)
            sl.check(out.stdout.decode() in ("2 204", "2 200"), "curl h2 write: %r" % out.stdout)

        def h2_nghttp():
            out = subprocess.run([nghttp, "-v", "-t", "10", qurl], capture_output=True, timeout=30)
            sl.check(out.returncode == 0, "nghttp query failed (%d): %r" % (out.returncode, out.stdout[-500:] + out.stderr))
            sl.check(b":status: 200" in out.stdout, "nghttp query: no :status 200 in %r" % out.stdout[-800:])
            sl.check(b'"309"' in out.stdout, "nghttp query: value 309 not in the answer")
            h2body = sl.rw_body([(sl.labels_of("http_h2_write", job="h2", client="nghttp"), [(t0, 12.0)])])
            with open(bf, "wb") as f:
                f.write(h2body)
            cmd = [nghttp, "-v", "-t", "10", "-d", bf]
            for k, v in sl.RW_HEADERS.items():
                cmd += ["-H", "%s: %s" % (k.lower(), v)]
            out = subprocess.run(cmd + [srv.base + "/api/v1/write"], capture_output=True, timeout=30)
            sl.check(out.returncode == 0, "nghttp write failed: %r" % (out.stdout[-500:] + out.stderr))
            m = re.search(rb":status: (\d+)", out.stdout)
            sl.check(m and m.group(1) in (b"204", b"200"), "nghttp write status: %r" % (m and m.group(1)))
            # several concurrent streams on one HTTP/2 connection
            uris = [srv.base + "/-/healthy", qurl, srv.base + "/api/v1/status/buildinfo",
                    srv.base + "/api/v1/labels", srv.base + "/metrics"]
            out = subprocess.run([nghttp, "-v", "-t", "10"] + uris, capture_output=True, timeout=30)
            sl.check(out.returncode == 0, "nghttp 5 streams failed: %r" % (out.stdout[-500:] + out.stderr))
            sl.check_eq(out.stdout.count(b":status: 200"), 5, "nghttp: 200 answers on 5 concurrent streams")
            got = values_at(srv.base, "http_h2_write", tq)
            sl.check_eq(sorted(got.values()), ["11", "12"], "both HTTP/2 writes are queryable")

        def tenant_isolation():
            sl.write_ok(srv.base, [(sl.labels_of("tenant_probe", job="t", who="a"), [(t0, 1.0)])], tenant="team-a")
            sl.write_ok(srv.base, [(sl.labels_of("tenant_probe", job="t", who="b"), [(t0, 2.0)])], tenant="team-b")
            for tenant, want in (("team-a", {"a"}), ("team-b", {"b"}), (None, set()), ("anonymous", set())):
                r = sl.query(srv.base, "tenant_probe", t=tq, tenant=tenant)["result"]
                sl.check_eq({x["metric"]["who"] for x in r}, want, "tenant %r sees tenant_probe of" % tenant)
                st, doc = sl.api(srv.base, "/api/v1/label/who/values", tenant=tenant)
                sl.check_eq(set(doc.get("data") or []), want, "tenant %r: label values of who" % tenant)
                st, doc = sl.api(srv.base, "/api/v1/series", {"match[]": "tenant_probe"}, tenant=tenant)
                sl.check_eq({x["who"] for x in doc.get("data") or []}, want, "tenant %r: series tenant_probe" % tenant)
            r = sl.query(srv.base, "http_keepalive", t=tq, tenant="team-a")["result"]
            sl.check_eq(r, [], "tenant team-a must not see anonymous data")

        def labels_and_series():
            st, doc = sl.api(srv.base, "/api/v1/labels")
            sl.check(st == 200 and doc["status"] == "success", "labels: %d %r" % (st, doc))
            for name in ("__name__", "job", "instance", "client"):
                sl.check(name in doc["data"], "labels: %r missing from %r" % (name, doc["data"]))
            sl.check("who" not in doc["data"], "anonymous labels include tenant-only label 'who'")
            sl.check_eq(doc["data"], sorted(doc["data"]), "labels are sorted")
            st, doc = sl.api(srv.base, "/api/v1/label/__name__/values")
            for name in ("http_keepalive", "http_chunked", "http_h2_write"):
                sl.check(name in doc["data"], "__name__ values: %r missing from %r" % (name, doc["data"]))
            st, doc = sl.api(srv.base, "/api/v1/label/instance/values",
                             {"match[]": "http_chunked"})
            sl.check_eq(sorted(doc["data"]), sorted("i%d" % i for i in range(30)), "instance values for http_chunked")
            st, doc = sl.api(srv.base, "/api/v1/series",
                             {"match[]": ['http_h2_write{client="curl"}', "http_keepalive"],
                              "start": "%.3f" % (t0 / 1000 - 60), "end": "%.3f" % tq})
            sl.check(st == 200 and doc["status"] == "success", "series: %d %r" % (st, doc))
            got = sorted(json.dumps(x, sort_keys=True) for x in doc["data"])
            want = sorted(json.dumps(x, sort_keys=True) for x in [
                {"__name__": "http_h2_write", "job": "h2", "client": "curl"},
                {"__name__": "http_keepalive", "job": "ka"}])
            sl.check_eq(got, want, "series with two match[]")
            st, doc = sl.api(srv.base, "/api/v1/series", {"match[]": 'http_chunked{instance=~"i1.*"}'},
                             method="POST")
            sl.check_eq(len(doc.get("data") or []), 11, "POST series match[] instance=~i1.* count")

        def post_form_queries():
            d = sl.query(srv.base, 'sum by (job) (http_chunked)', t=tq, method="POST")
            want_sum = sum(i * 100 + 9 for i in range(30))
            sl.check(len(d["result"]) == 1 and float(d["result"][0]["value"][1]) == want_sum,
                     "POST sum by (job) (http_chunked): %r, want %r" % (d["result"], want_sum))
            d = sl.query_range(srv.base, "http_keepalive", t0 / 1000, t0 / 1000 + 4, "1", method="POST")
            sl.check(len(d["result"]) == 1, "POST query_range: %r" % d)
            sl.check_eq([v for _, v in d["result"][0]["values"]], ["0", "1", "2", "3", "4"],
                        "POST query_range values")

        def error_json():
            for params in ({"query": "sum("}, {"query": "up", "time": "not-a-time"},
                           {"query": "rate(up)"}):
                st, doc = sl.api(srv.base, "/api/v1/query", params)
                sl.check_eq(st, 400, "bad query %r status" % params)
                sl.check(doc.get("status") == "error" and doc.get("errorType") == "bad_data"
                         and isinstance(doc.get("error"), str) and doc["error"],
                         "bad query %r: error JSON shape: %r" % (params, doc))

        def buildinfo():
            st, doc = sl.api(srv.base, "/api/v1/status/buildinfo")
            sl.check(st == 200 and doc.get("status") == "success", "buildinfo: %d %r" % (st, doc))
            for k in ("version", "revision"):
                sl.check(k in doc["data"], "buildinfo lacks %r (promtool and Grafana read it): %r" % (k, doc))

        def metrics_text():
            st, hdr, body = sl.http_request("GET", srv.base + "/metrics")
            sl.check_eq(st, 200, "/metrics status")
            sl.check(hdr.get("content-type", "").startswith("text/plain"), "/metrics content-type %r" % hdr.get("content-type"))
            text = body.decode()
            names = set()
            line_re = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)( -?\d+)?$')
            for ln in text.splitlines():
                if not ln or ln.startswith("#"):
                    continue
                m = line_re.match(ln)
                sl.check(m is not None, "/metrics line is not in the text format: %r" % ln)
                float(m.group(3).replace("+Inf", "inf").replace("-Inf", "-inf").replace("NaN", "nan"))
                names.add(m.group(1))
            for what, pat in (("requests", r"request"), ("samples", r"sample"),
                              ("active series", r"series"), ("commit", r"commit"),
                              ("rocksdb", r"rocksdb")):
                sl.check(any(re.search(pat, n) for n in names),
                         "/metrics has no metric about %s (names: %s)" % (what, sorted(names)[:60]))

        def sigterm_restart():
            before = values_at(srv.base, "http_chunked", tq)
            rc = srv.stop(timeout=20)
            sl.check_eq(rc, 0, "exit code after SIGTERM")
            srv.start()
            after = values_at(srv.base, "http_chunked", tq)
            sl.check_eq(after, before, "http_chunked after SIGTERM and restart")
            r = sl.query(srv.base, "tenant_probe", t=tq, tenant="team-a")["result"]
            sl.check_eq(len(r), 1, "tenant team-a data after restart")
            rc = srv.stop(timeout=20)
            sl.check_eq(rc, 0, "exit code after second SIGTERM")

        cases.run('/-/healthy, /-/ready', healthy_ready)
        cases.run('keep-alive: several requests on one connection', keep_alive)
        cases.run('pipelining: a write and four GETs in one send, answers in order', pipelining)
        cases.run('chunked remote-write body', chunked_write)
        cases.run('HTTP/2 prior knowledge: curl', h2_curl)
        cases.run('HTTP/2 prior knowledge: nghttp', h2_nghttp)
        cases.run('tenant isolation', tenant_isolation)
        cases.run('labels, label values, series with match[]', labels_and_series)
        cases.run('POST form-encoded query and query_range', post_form_queries)
        cases.run('error JSON for a bad query', error_json)
        cases.run('buildinfo', buildinfo)
        cases.run('/metrics', metrics_text)
        cases.run('SIGTERM: exit 0, data still there after restart', sigterm_restart)
        cases.finish()
    finally:
        srv.cleanup()
        import shutil
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sl.run_main(main)
