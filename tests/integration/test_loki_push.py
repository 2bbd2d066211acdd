#!/usr/bin/env python3
"""Loki push API (POST /loki/api/v1/push) against a real sonde, with curl as
the client for JSON pushes (as users do) and our own snappy + protobuf
encoder (sondelib) for logproto.PushRequest bodies.

Cases: JSON and gzip JSON pushes are acknowledged (204) and counted; a
snappy protobuf push with structured metadata is acknowledged; entries Loki
refuses one by one (too old, too new, line too long) and whole streams with
bad labels (none, too many, invalid name) are named in a 400 in Loki's words
while the good entries of the same push are kept; malformed bodies (JSON type
mismatch, invalid UTF-8, bad snappy, truncated protobuf), a gzip bomb and a
wrong content type get a clear 4xx and store nothing; the per-tenant rate
limit answers 429 with Loki's message and the active-stream limit refuses new
streams; after every bad request the server still serves. What is stored is
checked through sonde_loki_push_entries_total on /metrics (the LogQL tests
read the lines back).
"""

import gzip
import json
import os
import subprocess
import sys
import time
import zlib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sondelib as sl  # noqa: E402

PUSH = "/loki/api/v1/push"
JSON_HDR = {"Content-Type": "application/json"}
PB_HDR = {"Content-Type": "application/x-protobuf"}


def entries_total(base, result):
    st, _, body = sl.http_request("GET", base + "/metrics")
    sl.check_eq(st, 200, "/metrics")
    for line in body.decode().splitlines():
        if line.startswith('sonde_loki_push_entries_total{result="%s"}' % result):
            return int(float(line.split()[-1]))
    raise sl.TestFailure("sonde_loki_push_entries_total{result=%r} missing" % result)


def curl_push(base, doc, extra=()):
    """POSTs doc (a dict) with curl; returns (status, body)."""
    out = subprocess.run(
        ["curl", "-sS", "-o", "-", "-w", "\n%{http_code}", "-H", "Content-Type: application/json",
         "--max-time", "20", *extra, "--data-binary", "@-", base + PUSH],
        input=json.dumps(doc).encode(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        timeout=30)
    sl.check_eq(out.returncode, 0, "curl exit status (%s)" % out.stderr.decode()[:200])
    body, _, code = out.stdout.rpartition(b"\n")
    return int(code), body


def stream(labels, *values):
    return {"stream": labels, "values": [list(v) for v in values]}


def pb_push_request(streams):
    """logproto.PushRequest: streams=1 {labels=1, entries=2 {timestamp=1
    {seconds=1, nanos=2}, line=2, structuredMetadata=3 {name=1, value=2}}}"""
    out = b""
    for labels, entries in streams:
        s = sl.pb_bytes(1, labels.encode())
        for ts_ns, line, meta in entries:
            ts = (sl.pb_key(1, 0) + sl.pb_varint(ts_ns // 10 ** 9)
                  + sl.pb_key(2, 0) + sl.pb_varint(ts_ns % 10 ** 9))
            e = sl.pb_bytes(1, ts) + sl.pb_bytes(2, line.encode("utf-8", "surrogateescape"))
            for k, v in meta:
                e += sl.pb_bytes(3, sl.pb_bytes(1, k.encode()) + sl.pb_bytes(2, v.encode()))
            s += sl.pb_bytes(2, e)
        out += sl.pb_bytes(1, s)
    return out


def main():
    sl.sonde_bin()
    sl.require_tool("curl")
    srv = sl.Server(extra_args=["--logs.max-streams=50"])
    cases = sl.Cases()
    try:
        srv.start()
        now = time.time_ns()

        def still_serving():
            st, _, _ = sl.http_request("GET", srv.base + "/-/healthy")
            sl.check_eq(st, 200, "still serving")

        def json_push():
            before = entries_total(srv.base, "accepted")
            st, body = curl_push(srv.base, {"streams": [
                stream({"app": "web", "env": "prod"}, (str(now), "GET /index.html 200"),
                       (str(now + 1), "GET /about 404", {"trace_id": "0af7651916cd43dd"})),
                stream({"app": "db"}, (str(now - 10 ** 9), "slow query 1.2s")),
            ]})
            sl.check_eq((st, body), (204, b""), "JSON push")
            sl.check_eq(entries_total(srv.base, "accepted") - before, 3, "entries stored")
            # the same push again is the same batch: acknowledged, stored once
            st, _ = curl_push(srv.base, {"streams": [
                stream({"app": "web", "env": "prod"}, (str(now), "GET /index.html 200"),
                       (str(now + 1), "GET /about 404", {"trace_id": "0af7651916cd43dd"})),
                stream({"app": "db"}, (str(now - 10 ** 9), "slow query 1.2s")),
            ]})
            sl.check_eq(st, 204, "retried push")
            sl.check_eq(entries_total(srv.base, "accepted") - before, 3, "retry stored once")

        def gzip_json():
            before = entries_total(srv.base, "accepted")
            doc = {"streams": [stream({"app": "gz"}, (str(now + i), "line %d" % i))
                               for i in range(20)]}
            st, _, body = sl.http_request(
                "POST", srv.base + PUSH, body=gzip.compress(json.dumps(doc).encode()),
                headers=dict(JSON_HDR, **{"Content-Encoding": "gzip"}))
            sl.check_eq((st, body), (204, b""), "gzip JSON push")
            sl.check_eq(entries_total(srv.base, "accepted") - before, 20, "gzip entries")

        def protobuf_push():
            before = entries_total(srv.base, "accepted")
            body = sl.snappy_compress(pb_push_request([
                ('{app="pb", host="h1"}', [(now, "proto line", [("user", "ada")]),
                                           (now + 5, "second", [])]),
            ]))
            st, _, resp = sl.http_request("POST", srv.base + PUSH, body=body, headers=PB_HDR)
            sl.check_eq((st, resp), (204, b""), "protobuf push")
            # no Content-Type: Loki assumes protobuf too
            body2 = sl.snappy_compress(pb_push_request([('{app="pb"}', [(now, "x", [])])]))
            st, _, resp = sl.http_request("POST", srv.base + PUSH, body=body2, headers={})
            sl.check_eq((st, resp), (204, b""), "protobuf push without Content-Type")
            sl.check_eq(entries_total(srv.base, "accepted") - before, 3, "protobuf entries")

        def refused_entries():
            before = entries_total(srv.base, "accepted")
            many = {"l%d" % i: "v" for i in range(16)}
            st, body = curl_push(srv.base, {"streams": [
                stream({"app": "mixed"}, (str(now), "kept"),
                       (str(now - 8 * 86400 * 10 ** 9), "too old"),
                       (str(now + 3600 * 10 ** 9), "too new"),
                       (str(now), "x" * (256 * 1024 + 1))),
                stream({}, (str(now), "no labels")),
                stream(many, (str(now), "too many labels")),
                stream({"1bad": "x"}, (str(now), "bad name")),
            ]})
            msg = body.decode()
            sl.check_eq(st, 400, "push with refused entries (%s)" % msg[:300])
            for needle in ("has timestamp too old", "has timestamp too new",
                           "Max entry size '262144' bytes exceeded",
                           "at least one label pair is required per stream",
                           "has 16 label names; limit 15"):
                sl.check(needle in msg, "message names %r: %r" % (needle, msg[:600]))
            sl.check_eq(entries_total(srv.base, "accepted") - before, 1, "the good entry is kept")
            still_serving()

        def malformed():
            before = entries_total(srv.base, "accepted")
            bad = [
                ("JSON type mismatch", b'{"streams":[{"stream":{"a":1},"values":[]}]}', JSON_HDR,
                 400, b"expected a string"),
                ("timestamp not a number",
                 b'{"streams":[{"stream":{"a":"b"},"values":[["soon","x"]]}]}', JSON_HDR, 400,
                 b"timestamp"),
                ("invalid UTF-8", b'{"streams":[{"stream":{"a":"b"},"values":[["1","\xff"]]}]}',
                 JSON_HDR, 400, b"UTF-8"),
                ("not JSON", b"streams=1", JSON_HDR, 400, b"json"),
                ("bad snappy", b"\x0a\xff\xff\xff", PB_HDR, 400, b"snappy"),
                ("snappy length over the cap", b"\xff\xff\xff\xff\x0f", PB_HDR, 413,
                 b"exceeds the limit"),
                ("truncated protobuf",
                 sl.snappy_compress(pb_push_request([('{a="b"}', [(now, "x", [])])])[:-3]),
                 PB_HDR, 400, b""),
                ("wrong content type", b"x", {"Content-Type": "text/plain"}, 415,
                 b"Content-Type"),
            ]
            for what, body, hdr, want, needle in bad:
                st, _, resp = sl.http_request("POST", srv.base + PUSH, body=body, headers=hdr)
                sl.check_eq(st, want, "%s (%r)" % (what, resp[:200]))
                sl.check(needle.lower() in resp.lower(), "%s: message %r" % (what, resp[:200]))
                still_serving()
            # a gzip bomb: 80 MiB of spaces inflate past --max-decoded-size (64 MiB)
            comp = zlib.compressobj(9, zlib.DEFLATED, 31)
            bomb = comp.compress(b" " * (80 * 1024 * 1024)) + comp.flush()
            st, _, resp = sl.http_request("POST", srv.base + PUSH, body=bomb,
                                          headers=dict(JSON_HDR, **{"Content-Encoding": "gzip"}))
            sl.check_eq(st, 413, "gzip bomb (%r)" % resp[:200])
            sl.check(b"max-decoded-size" in resp, "gzip bomb message %r" % resp[:200])
            still_serving()
            sl.check_eq(entries_total(srv.base, "accepted") - before, 0, "nothing stored")

        def stream_limit():
            # 50 active streams per tenant: a fresh tenant fills them, the 51st is refused
            tenant = {"X-Scope-OrgID": "streamy"}
            doc = {"streams": [stream({"n": str(i)}, (str(now), "x")) for i in range(50)]}
            st, _, resp = sl.http_request("POST", srv.base + PUSH, body=json.dumps(doc).encode(),
                                          headers=dict(JSON_HDR, **tenant))
            sl.check_eq((st, resp), (204, b""), "50 streams")
            doc = {"streams": [stream({"n": "0"}, (str(now + 1), "known stream")),
                               stream({"n": "new"}, (str(now), "one too many"))]}
            st, _, resp = sl.http_request("POST", srv.base + PUSH, body=json.dumps(doc).encode(),
                                          headers=dict(JSON_HDR, **tenant))
            sl.check_eq(st, 400, "51st stream (%r)" % resp[:300])
            sl.check(b"Maximum active stream limit exceeded" in resp, "message %r" % resp[:300])
            # another tenant is not affected
            st, _, _ = sl.http_request("POST", srv.base + PUSH,
                                       body=json.dumps(doc).encode(), headers=JSON_HDR)
            sl.check_eq(st, 204, "other tenant")

        cases.run("JSON push with curl, retried push stored once", json_push)
        cases.run("gzip JSON push", gzip_json)
        cases.run("snappy protobuf push with structured metadata", protobuf_push)
        cases.run("entries and streams refused in Loki's words, the rest kept", refused_entries)
        cases.run("malformed bodies and a gzip bomb: 4xx, nothing stored", malformed)
        cases.run("active-stream limit per tenant", stream_limit)
        srv.stop()

        # the rate limit, on a server with a small one
        slow = sl.Server(extra_args=["--logs.ingestion-rate=1KiB", "--logs.ingestion-burst=2KiB"])
        slow.start()
        try:
            def rate_limit():
                doc = {"streams": [stream({"app": "r"}, (str(now), "y" * 1500))]}
                st, _, _ = sl.http_request("POST", slow.base + PUSH,
                                           body=json.dumps(doc).encode(), headers=JSON_HDR)
                sl.check_eq(st, 204, "first push within the burst")
                doc = {"streams": [stream({"app": "r"}, (str(now + 1), "z" * 1500))]}
                st, hdr, resp = sl.http_request("POST", slow.base + PUSH,
                                                body=json.dumps(doc).encode(), headers=JSON_HDR)
                sl.check_eq(st, 429, "over the rate (%r)" % resp[:300])
                sl.check(b"Ingestion rate limit exceeded for user anonymous" in resp,
                         "429 message %r" % resp[:300])
                sl.check(hdr.get("retry-after") is not None, "Retry-After on 429")
                st, _, _ = sl.http_request("GET", slow.base + "/-/healthy")
                sl.check_eq(st, 200, "still serving")
            cases.run("ingestion rate limit: 429 in Loki's words", rate_limit)
        finally:
            slow.cleanup()
    finally:
        srv.cleanup()
    cases.finish()


if __name__ == "__main__":
    sl.run_main(main)
