#!/usr/bin/env python3
"""OTLP/HTTP metrics ingest: POST /v1/metrics as real exporters send it.

OTLP/JSON (plain and gzip) with a gauge, a monotonic cumulative sum with unit
"s" and a histogram, resource service.name / service.instance.id -> job /
instance; the series are queryable under the Prometheus names the OTel
compatibility spec gives. A delta sum is refused with partial_success (200).
Wrong content type -> 415, unknown encoding -> 415, malformed JSON -> 400. A
retried identical request is deduplicated. The series survive a SIGTERM
restart, and a kill -9 right after a 200 (batch-log replay). When curl is
installed, the same endpoint over h2c (prior knowledge).
"""

import gzip
import json
import re
import struct
import os
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sondelib as sl  # noqa: E402

JSON_HDR = {"Content-Type": "application/json"}


def resource(service="checkout", instance="pod-1"):
    return {"attributes": [
        {"key": "service.name", "value": {"stringValue": service}},
        {"key": "service.instance.id", "value": {"stringValue": instance}},
    ]}


def request(metrics, **kw):
    return {"resourceMetrics": [{
        "resource": resource(**kw),
        "scopeMetrics": [{"scope": {"name": "sonde-test"}, "metrics": metrics}],
    }]}


def gauge(name, value, t_ns, attrs=None):
    return {"name": name, "gauge": {"dataPoints": [{
        "timeUnixNano": str(t_ns), "asDouble": value,
        "attributes": [{"key": k, "value": {"stringValue": v}} for k, v in (attrs or {}).items()],
    }]}}


def counter(name, unit, value, t_ns, start_ns, temporality=2):
    return {"name": name, "unit": unit, "sum": {
        "aggregationTemporality": temporality, "isMonotonic": True,
        "dataPoints": [{"startTimeUnixNano": str(start_ns), "timeUnixNano": str(t_ns),
                        "asDouble": value}]}}


def histogram(name, unit, t_ns, start_ns):
    return {"name": name, "unit": unit, "histogram": {
        "aggregationTemporality": 2,
        "dataPoints": [{"startTimeUnixNano": str(start_ns), "timeUnixNano": str(t_ns),
                        "count": "6", "sum": 3.5, "explicitBounds": [0.1, 1.0],
                        "bucketCounts": ["1", "3", "2"]}]}}


def pb_gauge_request(name, value, t_ns, service):
    """ExportMetricsServiceRequest with one gauge point, as protobuf."""
    kv = sl.pb_bytes(1, "service.name") + sl.pb_bytes(2, sl.pb_bytes(1, service))
    res = sl.pb_bytes(1, kv)
    point = sl.pb_key(3, 1) + struct.pack("<Q", t_ns) + sl.pb_key(4, 1) + struct.pack("<d", value)
    metric = sl.pb_bytes(1, name) + sl.pb_bytes(5, sl.pb_bytes(1, point))
    scope = sl.pb_bytes(2, metric)
    rm = sl.pb_bytes(1, res) + sl.pb_bytes(2, scope)
    return sl.pb_bytes(1, rm)


def storage_duplicates(base):
    st, _, body = sl.http_request("GET", base + "/metrics")
    sl.check_eq(st, 200, "/metrics")
    m = re.search(rb"^sonde_storage_batches_duplicate_total (\d+)", body, re.M)
    sl.check(m is not None, "sonde_storage_batches_duplicate_total in /metrics")
    return int(m.group(1))


def post(base, doc=None, body=None, headers=None):
    if body is None:
        body = json.dumps(doc).encode()
    return sl.http_request("POST", base + "/v1/metrics", body=body,
                           headers=JSON_HDR if headers is None else headers, timeout=30)


def post_ok(base, doc, what, headers=None, body=None):
    st, hdr, resp = post(base, doc, body=body, headers=headers)
    sl.check_eq(st, 200, "%s: status (body %r)" % (what, resp[:300]))
    sl.check(hdr.get("content-type", "").startswith("application/json"),
             "%s: response content type %r" % (what, hdr.get("content-type")))
    out = json.loads(resp)
    sl.check(out == {} or "partialSuccess" in out, "%s: response %r" % (what, out))
    return out


def values(base, expr, t):
    return {sl.metric_key(r["metric"]): float(r["value"][1])
            for r in sl.query(base, expr, t=t)["result"]}


def one_value(base, expr, t):
    v = values(base, expr, t)
    sl.check_eq(len(v), 1, "series for %s: %r" % (expr, v))
    return list(v.values())[0]


def main():
    sl.sonde_bin()
    srv = sl.Server()
    cases = sl.Cases()
    try:
        srv.start()
        now_ms = sl.now_ms()
        t_ns = (now_ms - 60000) * 1000000
        start_ns = (now_ms - 600000) * 1000000
        tq = now_ms / 1000.0 - 30  # after every sample below, within the lookback

        def json_types():
            doc = request([
                gauge("room.temperature", 21.5, t_ns, {"room": "kitchen"}),
                counter("cpu.time", "s", 42.0, t_ns, start_ns),
                histogram("rpc.latency", "s", t_ns, start_ns),
            ])
            out = post_ok(srv.base, doc, "JSON request")
            sl.check_eq(out, {}, "full success response")
            got = values(srv.base, "room_temperature", tq)
            sl.check_eq(got, {sl.metric_key({"__name__": "room_temperature", "room": "kitchen",
                                             "job": "checkout", "instance": "pod-1",
                                             "otel_scope_name": "sonde-test"}): 21.5},
                        "gauge")
            sl.check_eq(one_value(srv.base, 'cpu_time_seconds_total{job="checkout",instance="pod-1"}',
                                  tq), 42.0, "counter")
            b = values(srv.base, "rpc_latency_seconds_bucket", tq)
            le = {dict(k)["le"]: v for k, v in b.items()}
            sl.check_eq(le, {"0.1": 1.0, "1": 4.0, "+Inf": 6.0}, "histogram buckets")
            sl.check_eq(one_value(srv.base, "rpc_latency_seconds_sum", tq), 3.5, "histogram sum")
            sl.check_eq(one_value(srv.base, "rpc_latency_seconds_count", tq), 6.0, "histogram count")

        def gzip_json():
            doc = request([gauge("gz.gauge", 7.0, t_ns)], service="gz", instance="i9")
            hdr = dict(JSON_HDR, **{"Content-Encoding": "gzip"})
            post_ok(srv.base, doc, "gzip JSON", headers=hdr,
                    body=gzip.compress(json.dumps(doc).encode()))
            sl.check_eq(one_value(srv.base, 'gz_gauge{job="gz",instance="i9"}', tq), 7.0, "gzip gauge")
            # content-type parameters are accepted
            doc2 = request([gauge("ct.param", 1.0, t_ns)])
            post_ok(srv.base, doc2, "charset parameter",
                    headers={"Content-Type": "application/json; charset=utf-8"})
            sl.check_eq(one_value(srv.base, "ct_param", tq), 1.0, "charset gauge")

        def delta_accumulated():
            # delta points become one cumulative series: 5, then 5+2, then +4 in a
            # request sent twice (a retry: counted once)
            t1, t2, t3 = t_ns - 3 * 10 ** 9, t_ns - 2 * 10 ** 9, t_ns - 10 ** 9
            doc = request([counter("delta.requests", "", 5.0, t1, t1 - 10 ** 9, temporality=1),
                           gauge("beside.delta", 3.0, t_ns)])
            out = post_ok(srv.base, doc, "delta sum")
            sl.check_eq(out, {}, "full success (%r)" % out)
            post_ok(srv.base, request([counter("delta.requests", "", 2.0, t2, t1, temporality=1)]),
                    "second delta")
            third = request([counter("delta.requests", "", 4.0, t3, t2, temporality=1)])
            post_ok(srv.base, third, "third delta")
            post_ok(srv.base, third, "third delta, retried")
            sl.check_eq(one_value(srv.base, "delta_requests_total", tq), 11.0, "running sum")
            sl.check_eq(one_value(srv.base, "beside_delta", tq), 3.0, "gauge beside the delta sum")
            at = lambda t: one_value(srv.base, "delta_requests_total", t / 1e9 + 0.0005)
            sl.check_eq((at(t1), at(t2), at(t3)), (5.0, 7.0, 11.0), "stored cumulative values")

        def start_time_reset():
            # a cumulative counter that restarted between two points: 50 then 8,
            # the second starting after the first; the zero at its start makes
            # increase() see 8 more, not a drop
            t1, t2 = t_ns - 60 * 10 ** 9, t_ns - 30 * 10 ** 9
            post_ok(srv.base, request([counter("restarted", "", 50.0, t1, t1 - 10 ** 9)]), "first")
            post_ok(srv.base, request([counter("restarted", "", 8.0, t2, t2 - 5 * 10 ** 9)]),
                    "after the restart")
            r = sl.query(srv.base, "restarted_total[2m]", t=t2 / 1e9 + 1)["result"]
            sl.check_eq([float(v) for _, v in r[0]["values"]], [0.0, 50.0, 0.0, 8.0],
                        "samples with the start-time zeros")

        def bad_requests():
            doc = request([gauge("never.stored", 1.0, t_ns)])
            for ct in ("text/plain", "application/x-www-form-urlencoded", None):
                hdr = {"Content-Type": ct} if ct else {}
                st, _, body = post(srv.base, doc, headers=hdr)
                sl.check_eq(st, 415, "content type %r (body %r)" % (ct, body[:200]))
                sl.check(b"Content-Type" in body, "415 message: %r" % body)
            st, _, body = post(srv.base, doc, headers=dict(JSON_HDR, **{"Content-Encoding": "br"}))
            sl.check_eq(st, 415, "Content-Encoding br (body %r)" % body[:200])
            st, _, body = post(srv.base, body=b'{"resourceMetrics": [', headers=JSON_HDR)
            sl.check_eq(st, 400, "malformed JSON (body %r)" % body[:200])
            sl.check(len(body.strip()) > 0, "400 has a message")
            st, _, body = post(srv.base, body=b'{"resourceMetrics": "x"}', headers=JSON_HDR)
            sl.check_eq(st, 400, "JSON type mismatch (body %r)" % body[:200])
            sl.check(b"resourceMetrics" in body, "400 names the field: %r" % body)
            st, _, body = post(srv.base, body=b"\xff\xff\xff",
                               headers={"Content-Type": "application/x-protobuf"})
            sl.check_eq(st, 400, "malformed protobuf (body %r)" % body[:200])
            st, _, body = post(srv.base, body=b"not gzip",
                               headers=dict(JSON_HDR, **{"Content-Encoding": "gzip"}))
            sl.check_eq(st, 400, "corrupt gzip (body %r)" % body[:200])
            st, _, _ = sl.http_request("GET", srv.base + "/v1/metrics")
            sl.check_eq(st, 405, "GET /v1/metrics")
            for p in ("/v1/traces", "/v1/logs"):  # an empty export is a success
                st, _, body = sl.http_request("POST", srv.base + p, body=b"{}", headers=JSON_HDR)
                sl.check_eq((st, body), (200, b"{}"), "POST " + p + " {}")
            st, _, _ = sl.http_request("POST", srv.base + "/v1/nothing", body=b"{}",
                                       headers=JSON_HDR)
            sl.check_eq(st, 404, "POST /v1/nothing")
            st, _, _ = sl.http_request("GET", srv.base + "/-/healthy")
            sl.check_eq(st, 200, "still serving")
            sl.check_eq(values(srv.base, "never_stored", tq), {}, "nothing stored by bad requests")

        def gzip_bomb():
            big = gzip.compress(b" " * (64 * 1024 * 1024 + 4096))
            st, _, body = post(srv.base, body=big,
                               headers=dict(JSON_HDR, **{"Content-Encoding": "gzip"}))
            sl.check_eq(st, 413, "gzip bomb (body %r)" % body[:200])
            sl.check(b"max-decoded-size" in body, "413 message: %r" % body)

        def retry_dedup():
            doc = request([counter("retried.ops", "", 10.0, t_ns, start_ns)], service="retry")
            dup0 = storage_duplicates(srv.base)
            for i in range(2):
                post_ok(srv.base, doc, "retry %d" % i)
            for i in range(2):
                sl.check_eq(one_value(srv.base, "retried_ops_total", tq), 10.0, "retried counter")
            # one sample (plus none from the start-time zero, 10 minutes earlier)
            sl.check_eq(one_value(srv.base, "count_over_time(retried_ops_total[2m])", tq), 1.0,
                        "samples of the retried counter")
            sl.check_eq(storage_duplicates(srv.base), dup0 + 1, "duplicate batches after the retry")

        def protobuf():
            body = pb_gauge_request("pb.gauge", 4.25, t_ns, "pb")
            hdr = {"Content-Type": "application/x-protobuf"}
            for what, b, h in (("protobuf", body, hdr),
                               ("gzip protobuf", gzip.compress(body),
                                dict(hdr, **{"Content-Encoding": "gzip"}))):
                st, rh, resp = post(srv.base, body=b, headers=h)
                sl.check_eq(st, 200, "%s: status (body %r)" % (what, resp[:200]))
                sl.check_eq(rh.get("content-type"), "application/x-protobuf", what + " content type")
                sl.check_eq(resp, b"", what + ": empty ExportMetricsServiceResponse")
            sl.check_eq(one_value(srv.base, 'pb_gauge{job="pb"}', tq), 4.25, "protobuf gauge")

        def h2c():
            curl = shutil.which("curl")
            if not curl:
                print("   (curl missing: h2c case skipped)", flush=True)
                return
            doc = request([gauge("h2c.gauge", 9.0, t_ns)], service="h2")
            r = subprocess.run([curl, "-sS", "--http2-prior-knowledge", "-o", "-", "-w",
                                "\n%{http_code} %{http_version}", "-H",
                                "Content-Type: application/json", "--data-binary",
                                json.dumps(doc), srv.base + "/v1/metrics"],
                               capture_output=True, timeout=30)
            lines = r.stdout.decode().rsplit("\n", 1)
            sl.check_eq(lines[-1], "200 2", "h2c status and version (%r %r)" % (r.stdout, r.stderr))
            sl.check_eq(json.loads(lines[0]), {}, "h2c response")
            sl.check_eq(one_value(srv.base, "h2c_gauge", tq), 9.0, "h2c gauge")

        def sigterm_restart():
            rc = srv.stop()
            sl.check_eq(rc, 0, "SIGTERM exit code")
            srv.start()
            sl.check_eq(one_value(srv.base, 'cpu_time_seconds_total{job="checkout"}', tq), 42.0,
                        "counter after restart")
            sl.check_eq(one_value(srv.base, "rpc_latency_seconds_count", tq), 6.0,
                        "histogram after restart")
            sl.check_eq(one_value(srv.base, "gz_gauge", tq), 7.0, "gzip gauge after restart")
            sl.check_eq(one_value(srv.base, "pb_gauge", tq), 4.25, "protobuf gauge after restart")

        def kill9_replay():
            doc = request([gauge("after.kill", 5.0, t_ns),
                           counter("kill.ops", "By", 8.0, t_ns, start_ns)], service="k9")
            post_ok(srv.base, doc, "write before kill -9")
            st, _, resp = post(srv.base, body=pb_gauge_request("pb.after.kill", 6.5, t_ns, "k9"),
                               headers={"Content-Type": "application/x-protobuf"})
            sl.check_eq(st, 200, "protobuf write before kill -9 (%r)" % resp[:200])
            srv.kill9()
            srv.start()
            sl.check_eq(one_value(srv.base, 'after_kill{job="k9"}', tq), 5.0, "gauge after kill -9")
            sl.check_eq(one_value(srv.base, "kill_ops_bytes_total", tq), 8.0, "counter after kill -9")
            sl.check_eq(one_value(srv.base, "pb_after_kill", tq), 6.5, "protobuf gauge after kill -9")
            sl.check_eq(one_value(srv.base, "room_temperature", tq), 21.5, "older gauge after kill -9")
            # the delta sum, replayed with its delta flags: the same running sum
            sl.check_eq(one_value(srv.base, "delta_requests_total", tq), 11.0,
                        "delta sum after kill -9")

        cases.run("OTLP/JSON gauge, cumulative counter, histogram -> Prometheus names", json_types)
        cases.run("gzip body and Content-Type parameters", gzip_json)
        cases.run("delta temporality: accumulated into a cumulative series", delta_accumulated)
        cases.run("start timestamps: a restart is a reset", start_time_reset)
        cases.run("415 / 400 / 405 / 404 answers", bad_requests)
        cases.run("gzip bomb: 413", gzip_bomb)
        cases.run("retried identical request is deduplicated", retry_dedup)
        cases.run("protobuf body, plain and gzip", protobuf)
        cases.run("h2c prior knowledge", h2c)
        cases.run("SIGTERM restart keeps the OTLP series", sigterm_restart)
        cases.run("kill -9 right after a 200: replay", kill9_replay)
        cases.finish()
    finally:
        srv.cleanup()


if __name__ == "__main__":
    sl.run_main(main)
