#!/usr/bin/env python3
"""Bad input: each hostile or invalid request gets the right status code and a
clear message, the server keeps serving, and nothing acknowledged is lost.

Cases: truncated snappy, a snappy header declaring a huge length, garbage
protobuf, duplicate label names, invalid UTF-8 in a label value, an empty
label name, unsorted labels (accepted and sorted), the remote-write 2.0
content type (415), an over-size body announced by Content-Length (413 before
the body is sent), a slowloris client (closed after the header timeout while
another client is served), malformed HTTP (400) and an invalid tenant (400).
"""

import json
import os
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sondelib as sl  # noqa: E402

HEADER_TIMEOUT_S = 2
MAX_BODY = 1 << 20


def expect_status(what, st, body, want, contains=()):
    wants = want if isinstance(want, (tuple, list)) else (want,)
    sl.check(st in wants, "%s: expected HTTP %s, got %d, body %r" % (what, "/".join(map(str, wants)), st, body[:300]))
    text = body.decode("utf-8", "replace")
    for c in contains:
        sl.check(c in text, "%s: error message should name %r; got %r" % (what, c, text[:300]))
    print("  ok  %-40s -> %d %s" % (what, st, text.strip()[:120]), flush=True)


def post_raw(srv, body, headers=None, tenant=None):
    h = dict(sl.RW_HEADERS)
    if headers:
        h.update(headers)
    if tenant is not None:
        h["X-Scope-OrgID"] = tenant
    st, _, resp = sl.http_request("POST", srv.base + "/api/v1/write", body=body, headers=h,
                                  timeout=10)
    return st, resp


def raw_exchange(port, data, timeout=5.0):
    """Sends raw bytes, returns (status, headers, body) of the first response."""
    s = sl.raw_connect(port, timeout=timeout)
    try:
        s.sendall(data)
        return sl.RawReader(s).response()
    finally:
        s.close()


def main():
    sl.sonde_bin()
    srv = sl.Server(extra_args=["--header-timeout", "%ds" % HEADER_TIMEOUT_S,
                                "--max-body-size", str(MAX_BODY)])
    cases = sl.Cases()
    try:
        srv.start()
        t0 = sl.now_ms() - 60000
        good = [(sl.labels_of("bad_input_canary", job="canary"), [(t0, 42.5)])]
        sl.write_ok(srv.base, good, what="canary write")
        # a valid body to mutate
        valid_pb = sl.encode_write_request(
            [(sl.labels_of("bad_input_valid", job="v", instance="i%d" % i),
              [(t0 + j * 1000, float(j)) for j in range(20)]) for i in range(20)])
        valid = sl.snappy_compress(valid_pb)

        def snappy_cases():
            st, b = post_raw(srv, valid[: len(valid) // 2])
            expect_status("truncated snappy", st, b, 400)
            huge = sl.snappy_varint(0xFFFFFFFF) + b"\x00" * 16
            t = time.monotonic()
            st, b = post_raw(srv, huge)
            dt = time.monotonic() - t
            expect_status("snappy header declares 4 GiB", st, b, (400, 413))
            sl.check(dt < 5, "snappy header declaring 4 GiB: answered after %.1fs" % dt)

        def snappy_lies():
            lit = bytes(range(200))
            for name, body in [
                ("snappy: more output than declared", sl.snappy_varint(100) + sl.snappy_compress(lit)[2:]),
                ("snappy: less output than declared", sl.snappy_varint(300) + sl.snappy_compress(lit)[2:]),
                # literal "a", then a copy (tag 2: 2-byte offset) reaching 1000 bytes back
                ("snappy: copy offset before start", sl.snappy_varint(65) + b"\x00a"
                 + bytes([(63 << 2) | 2]) + (1000).to_bytes(2, "little")),
                ("snappy: copy with offset 0", sl.snappy_varint(65) + b"\x00a"
                 + bytes([(63 << 2) | 2]) + (0).to_bytes(2, "little")),
                ("snappy: literal runs past the input", sl.snappy_varint(50) + bytes([49 << 2]) + b"abc"),
                ("snappy: empty body", b""),
            ]:
                st, b = post_raw(srv, body)
                expect_status(name, st, b, 400)

        def chunked_over_limit():
            """A chunked body (no Content-Length) larger than --max-body-size is
            refused once the limit is crossed, not buffered whole."""
            s = sl.raw_connect(srv.port, timeout=10)
            st, b = None, b""
            try:
                hdr = b"POST /api/v1/write HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n"
                hdr += b"".join(b"%s: %s\r\n" % (k.encode(), v.encode()) for k, v in sl.RW_HEADERS.items())
                s.sendall(hdr + b"\r\n")
                piece = b"x" * 65536
                try:
                    for _ in range(4 * MAX_BODY // len(piece)):
                        s.sendall(b"%x\r\n" % len(piece) + piece + b"\r\n")
                    s.sendall(b"0\r\n\r\n")
                except OSError:
                    pass  # the server may stop reading and close once it has answered
                try:
                    st, _, b = sl.RawReader(s).response()
                except (OSError, ConnectionError) as e:
                    raise sl.TestFailure("chunked body of %d bytes over --max-body-size %d: no answer (%r)"
                                         % (4 * MAX_BODY, MAX_BODY, e))
            finally:
                s.close()
            expect_status("chunked body 4x over --max-body-size", st, b, 413)

        def protobuf_cases():
            for name, pb in [
                ("garbage protobuf (bad wire type)", b"\x0f\x0f\x0f\x0f\xff\xff"),
                ("garbage protobuf (length past end)", b"\x0a\xff\xff\xff\xff\x0f\x01\x02"),
                ("garbage protobuf (truncated series)", valid_pb[: len(valid_pb) - 7]),
            ]:
                st, b = post_raw(srv, sl.snappy_compress(pb))
                expect_status(name, st, b, 400)

        def duplicate_labels():
            dup = [([("__name__", "bad_dup"), ("job", "a"), ("job", "b")], [(t0, 1.0)])]
            st, b = sl.remote_write(srv.base, dup)
            expect_status("duplicate label names", st, b, 400, contains=("job", "bad_dup"))

        def invalid_utf8():
            bad = [([("__name__", "bad_utf8"), ("job", "x"), ("zone", b"\xff\xfeab")], [(t0, 1.0)])]
            st, b = sl.remote_write(srv.base, bad)
            expect_status("invalid UTF-8 label value", st, b, 400, contains=("zone",))

        def empty_label_name():
            empty = [([("__name__", "bad_empty"), ("", "v"), ("job", "x")], [(t0, 1.0)])]
            st, b = sl.remote_write(srv.base, empty)
            expect_status("empty label name", st, b, 400, contains=("bad_empty",))

        def rejected_not_stored():
            for m in ("bad_dup", "bad_utf8", "bad_empty", "bad_input_valid"):
                r = sl.query(srv.base, m, t=t0 / 1000 + 1)["result"]
                sl.check(r == [], "rejected series %s was stored: %r" % (m, r))

        def unsorted_labels():
            unsorted = [([("zeta", "z"), ("__name__", "unsorted_labels"), ("alpha", "a"), ("mid", "m")],
                         [(t0, 7.0)])]
            st, b = sl.remote_write(srv.base, unsorted)
            expect_status("unsorted labels", st, b, (200, 204))
            sl.write_ok(srv.base, [(sl.labels_of("unsorted_labels", alpha="a", mid="m", zeta="z"),
                                    [(t0 + 1000, 8.0)])], what="same series, sorted labels")
            st, doc = sl.api(srv.base, "/api/v1/series", {"match[]": 'unsorted_labels{alpha="a"}',
                                                         "start": "%.3f" % (t0 / 1000 - 10),
                                                         "end": "%.3f" % (t0 / 1000 + 10)})
            sl.check(st == 200 and doc.get("status") == "success", "series: %d %r" % (st, doc))
            want = {"__name__": "unsorted_labels", "alpha": "a", "mid": "m", "zeta": "z"}
            sl.check_eq(doc["data"], [want], "series of unsorted_labels (one series, sorted labels)")
            _, _, raw = sl.http_request("GET", srv.base + "/api/v1/query?query=unsorted_labels&time=%.3f"
                                        % (t0 / 1000 + 1.5))
            res = json.loads(raw, object_pairs_hook=list)
            result = dict(dict(res)["data"])["result"]
            sl.check(len(result) == 1, "unsorted_labels query: %r" % (result,))
            names = [k for k, _ in dict(result[0])["metric"]]
            sl.check_eq(names, sorted(names), "label order in query answer")
            sl.check_eq(dict(result[0])["value"][1], "8", "unsorted_labels latest value")

        def rw2_content_type():
            st, b = post_raw(srv, valid, headers={"Content-Type": sl.RW2_CONTENT_TYPE,
                                                  "X-Prometheus-Remote-Write-Version": "2.0.0"})
            expect_status("remote-write 2.0 content type", st, b, 415)

        def oversize_content_length():
            s = sl.raw_connect(srv.port, timeout=5)
            try:
                s.sendall(b"POST /api/v1/write HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                          b"Content-Type: application/x-protobuf\r\nContent-Encoding: snappy\r\n"
                          b"X-Prometheus-Remote-Write-Version: 0.1.0\r\n"
                          b"Content-Length: 10737418240\r\n\r\n")
                try:
                    st, _, b = sl.RawReader(s).response()
                except (OSError, ConnectionError) as e:
                    raise sl.TestFailure("Content-Length 10 GiB with no body sent: no answer within "
                                         "5s (%r); expected 413 before the body is read" % e)
            finally:
                s.close()
            expect_status("Content-Length 10 GiB, body never sent", st, b, 413)

        def malformed_http():
            bad = []
            for name, req in [
                ("request line without URI and version", b"GARBAGE\r\n\r\n"),
                ("binary junk (TLS ClientHello bytes)", b"\x16\x03\x01\x02\x00\x01\x00\r\n\r\n"),
                ("invalid HTTP version HTTX/1.1", b"GET /-/healthy HTTX/1.1\r\nHost: a\r\n\r\n"),
                ("header line without colon", b"GET /-/healthy HTTP/1.1\r\nHost 127.0.0.1\r\n\r\n"),
                # RFC 9112 5.1: whitespace between field name and colon MUST get 400
                ("space between header name and colon", b"GET /-/healthy HTTP/1.1\r\nHost : a\r\n\r\n"),
                ("bad Content-Length", b"POST /api/v1/write HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n"),
                ("two different Content-Lengths", b"POST /api/v1/write HTTP/1.1\r\nHost: x\r\n"
                 b"Content-Length: 5\r\nContent-Length: 6\r\n\r\nabcdef"),
                ("bad chunk size", b"POST /api/v1/write HTTP/1.1\r\nHost: x\r\n"
                 b"Transfer-Encoding: chunked\r\n\r\nzz\r\n"),
            ]:
                try:
                    st, _, b = raw_exchange(srv.port, req)
                except (OSError, ConnectionError) as e:
                    bad.append("%s: expected a 400 answer, got %r" % (name, e))
                    continue
                try:
                    expect_status(name, st, b, 400)
                except sl.TestFailure as e:
                    print("   %s" % e, flush=True)
                    bad.append("%r -> %d %r" % (req[:60], st, b[:80]))
            sl.check(not bad, "malformed requests not answered 400:\n    " + "\n    ".join(bad))

        def invalid_tenants():
            for name, tenant in [("tenant with slash", "../etc"), ("tenant '..'", ".."),
                                 ("tenant too long", "a" * 300), ("tenant with space", "a b")]:
                st, b = sl.remote_write(srv.base, good, tenant=tenant)
                expect_status("write, " + name, st, b, 400)
                st, _, b = sl.http_request("GET", srv.base + "/api/v1/query?query=up",
                                           headers={"X-Scope-OrgID": tenant})
                expect_status("query, " + name, st, b, 400)

        cases.run("snappy", snappy_cases)
        cases.run("snappy streams that lie", snappy_lies)
        cases.run("chunked body over the size limit", chunked_over_limit)
        cases.run("protobuf", protobuf_cases)
        cases.run("duplicate label names", duplicate_labels)
        cases.run("invalid UTF-8 label value", invalid_utf8)
        cases.run("empty label name", empty_label_name)
        cases.run("rejected series are not stored", rejected_not_stored)
        cases.run("unsorted labels", unsorted_labels)
        cases.run("remote-write 2.0 content type", rw2_content_type)
        cases.run("over-size Content-Length", oversize_content_length)
        cases.run("malformed HTTP", malformed_http)
        cases.run("invalid tenants", invalid_tenants)
        cases.run("slowloris", slowloris, srv)
        cases.run("still serving, canary intact", after_all, srv, t0)
        cases.finish()
    finally:
        srv.cleanup()


def slowloris(srv):
    """Header bytes trickle in; the server closes the connection after the
    header timeout, while another client is served normally meanwhile."""
    slow = sl.raw_connect(srv.port, timeout=HEADER_TIMEOUT_S * 6)
    closed_after = None
    served = []

    def other_client():
        for _ in range(5):
            t1 = time.monotonic()
            try:
                st, _, _ = sl.http_request("GET", srv.base + "/-/healthy", timeout=5)
            except OSError as e:
                st = repr(e)
            served.append((st, time.monotonic() - t1))
            time.sleep(0.3)

    other = threading.Thread(target=other_client, daemon=True)
    try:
        start = time.monotonic()
        msg = (b"POST /api/v1/write HTTP/1.1\r\nHost: 127.0.0.1\r\n"
               + b"X-Padding: " + b"a" * 400 + b"\r\n")
        other.start()
        slow.settimeout(0.25)
        for i in range(len(msg)):
            if time.monotonic() - start > HEADER_TIMEOUT_S * 6:
                break
            try:
                slow.send(msg[i:i + 1])
                d = slow.recv(4096)
                # an answer (408) followed by close is fine; EOF means closed
                if not d or d.startswith(b"HTTP/1.1 4"):
                    closed_after = time.monotonic() - start
                    break
            except socket.timeout:
                continue
            except OSError:
                closed_after = time.monotonic() - start
                break
    finally:
        slow.close()
        other.join(timeout=30)
    sl.check(closed_after is not None,
             "slowloris connection still open after %ds (header timeout %ds)"
             % (HEADER_TIMEOUT_S * 6, HEADER_TIMEOUT_S))
    print("  ok  slowloris closed after %.1fs" % closed_after, flush=True)
    sl.check(len(served) == 5 and all(st == 200 and dt < 2.0 for st, dt in served),
             "another client during slowloris was not served normally: %r" % served)
    print("  ok  other client served during slowloris: %r"
          % [(st, round(dt, 3)) for st, dt in served], flush=True)


def after_all(srv, t0):
    sl.check(srv.alive(), "server died; log:\n%s" % sl.tail(srv.log_path))
    st, _, _ = sl.http_request("GET", srv.base + "/-/healthy")
    sl.check_eq(st, 200, "/-/healthy after bad input")
    sl.write_ok(srv.base, [(sl.labels_of("bad_input_after", job="after"), [(t0, 1.0)])],
                what="write after bad input")
    r = sl.query(srv.base, "bad_input_canary", t=t0 / 1000 + 10)["result"]
    sl.check(len(r) == 1 and r[0]["value"][1] == "42.5",
             "canary sample acknowledged at the start: %r" % r)


if __name__ == "__main__":
    sl.run_main(main)
