#!/usr/bin/env python3
"""Bad input: each hostile or invalid request gets the right status code and a
clear message, the server keeps serving, and nothing acknowledged is lost.

Cases: truncated snappy, a snappy header declaring a huge length, garbage
protobuf, duplicate label names, invalid UTF-8 in a label value, an empty
label name, unsorted labels (accepted and sorted), the remote-write 2.0
content type (415), an over-size body announced by Content-Length (413 before
the body is sent), a slowloris client (closed after the header timeout while
another client is served), malformed HTTP (400) and an invalid tenant (400).
Separately, on a server of its own: h2c connections that open many streams
with partial bodies and disconnect, repeatedly, must not grow the server's
memory (streams still open at teardown are freed); and with
--max-inflight-bytes tiny, concurrent writes get 204 or 503 + Retry-After,
never anything else, and the in-flight gauge returns to 0.
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
        cases.run("h2c streams abandoned mid-body do not leak", h2_abandoned_streams)
        cases.run("--max-inflight-bytes refuses with 503 + Retry-After", inflight_budget)
        cases.finish()
    finally:
        srv.cleanup()


H2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"


def h2_frame(ftype, flags, sid, payload=b""):
    return len(payload).to_bytes(3, "big") + bytes([ftype, flags]) + sid.to_bytes(4, "big") + payload


def hpack_literal(name, value):
    # literal header field without indexing, new name (RFC 7541 6.2.2); short strings only
    assert len(name) < 127 and len(value) < 127
    return b"\x00" + bytes([len(name)]) + name + bytes([len(value)]) + value


def vm_rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise sl.TestFailure("no VmRSS in /proc/%d/status" % pid)


def h2_abandoned_streams():
    """h2c prior knowledge: 50 POST /api/v1/write streams per connection, each
    announcing a large Content-Length and sending one 16000-byte DATA frame,
    then the client disconnects; 200 times. Before the fix every such stream's
    request and body leaked (nghttp2_session_del frees streams without
    on_stream_close). The server's RSS must stay within 64 MiB of where it
    was, and it must still serve."""
    streams, conns, chunk = 50, 200, 16000
    # ASan keeps freed memory in its quarantine (256 MiB by default): keep it
    # small so that RSS measures leaks, not the quarantine
    old_asan = os.environ.get("ASAN_OPTIONS")
    os.environ["ASAN_OPTIONS"] = ((old_asan + ":") if old_asan else "") + "quarantine_size_mb=8"
    srv = sl.Server(extra_args=["--max-body-size", "1MiB"])
    try:
        srv.start()
        pid = srv.proc.pid
        data = b"\x5a" * chunk
        conn_bytes = [H2_PREFACE, h2_frame(4, 0, 0)]  # preface, empty SETTINGS
        for i in range(streams):
            sid = 1 + 2 * i
            block = b"".join(hpack_literal(n, v) for n, v in [
                (b":method", b"POST"), (b":scheme", b"http"), (b":authority", b"127.0.0.1"),
                (b":path", b"/api/v1/write"), (b"content-type", b"application/x-protobuf"),
                (b"content-encoding", b"snappy"), (b"content-length", b"1000000")])
            conn_bytes.append(h2_frame(1, 0x4, sid, block))  # HEADERS, END_HEADERS only
            conn_bytes.append(h2_frame(0, 0, sid, data))  # DATA, no END_STREAM
        conn_bytes = b"".join(conn_bytes)

        def one_round():
            s = sl.raw_connect(srv.port, timeout=10)
            try:
                s.sendall(conn_bytes)
                # the server's SETTINGS arrive first; a GOAWAY here would mean it
                # refused our frames, which would make the check meaningless
                got = s.recv(65536)
                types, off = [], 0
                while off + 9 <= len(got):
                    types.append(got[off + 3])
                    off += 9 + int.from_bytes(got[off:off + 3], "big")
                sl.check(types[:1] == [4], "h2c: expected the server's SETTINGS first, got %r"
                         % got[:32])
                sl.check(7 not in types, "h2c: server sent GOAWAY: %r" % got[:64])
            finally:
                s.close()

        for _ in range(20):  # warm the allocator up
            one_round()
        time.sleep(0.5)
        before = vm_rss_kib(pid)
        t = time.monotonic()
        for _ in range(conns):
            one_round()
        # let the net threads see every disconnect
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            _, _, m = sl.http_request("GET", srv.base + "/metrics")
            open_line = [ln for ln in m.decode().splitlines()
                         if ln.startswith("sonde_http_open_connections ")]
            if open_line and int(open_line[0].split()[1]) <= 1:
                break
            time.sleep(0.1)
        after = vm_rss_kib(pid)
        grew = (after - before) / 1024.0
        print("  ok  %d h2c connections x %d abandoned streams in %.1fs; RSS %d -> %d KiB (%+.1f MiB)"
              % (conns, streams, time.monotonic() - t, before, after, grew), flush=True)
        sl.check(grew <= 64, "RSS grew by %.1f MiB over %d h2c connections with %d abandoned "
                 "streams each (%.1f MiB of bodies sent): streams leak at teardown"
                 % (grew, conns, streams, conns * streams * chunk / 1048576.0))
        sl.check(srv.alive(), "server died; log:\n%s" % sl.tail(srv.log_path))
        st, _, _ = sl.http_request("GET", srv.base + "/-/healthy")
        sl.check_eq(st, 200, "/-/healthy after abandoned h2c streams")
    finally:
        if old_asan is None:
            os.environ.pop("ASAN_OPTIONS", None)
        else:
            os.environ["ASAN_OPTIONS"] = old_asan
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


def inflight_budget():
    """--max-inflight-bytes 1: one remote write at a time may be between decode
    and commit (one is always admitted when none is in flight); the others get
    503 + Retry-After: 1 naming the flag. Afterwards nothing is charged."""
    srv = sl.Server(extra_args=["--max-inflight-bytes", "1"])
    try:
        srv.start()
        t0 = sl.now_ms() - 60000
        res = []

        def writer(k):
            for j in range(10):
                body = sl.rw_body([(sl.labels_of("inflight_budget", job="j%d" % k, i="%d" % i),
                                    [(t0 + j * 1000, 1.0)]) for i in range(200)])
                try:
                    st, h, b = sl.http_request("POST", srv.base + "/api/v1/write", body=body,
                                               headers=sl.RW_HEADERS, timeout=20)
                except OSError as e:
                    st, h, b = repr(e), {}, b""
                res.append((st, h.get("retry-after"), b[:120]))

        ts = [threading.Thread(target=writer, args=(k,), daemon=True) for k in range(8)]
        for t in ts:
            t.start()
        for t in ts:
            t.join(timeout=60)
        bad = [r for r in res if not (r[0] == 204 or (r[0] == 503 and r[1] == "1"
                                                        and b"--max-inflight-bytes" in r[2]))]
        sl.check(len(res) == 80 and not bad, "writes under --max-inflight-bytes 1: %d answers, "
                 "unexpected: %r" % (len(res), bad[:5]))
        sl.check(any(r[0] == 204 for r in res), "no write accepted under --max-inflight-bytes 1")
        # the charge is released once the aggregator applied each batch, a
        # moment after its 204: poll, bounded
        gauge = None
        for _ in range(50):
            _, _, m = sl.http_request("GET", srv.base + "/metrics")
            gauge = [ln for ln in m.decode().splitlines()
                     if ln.startswith("sonde_ingest_inflight_bytes ")]
            if gauge == ["sonde_ingest_inflight_bytes 0"]:
                break
            time.sleep(0.1)
        sl.check_eq(gauge, ["sonde_ingest_inflight_bytes 0"], "in-flight bytes after all writes")
        print("  ok  80 concurrent writes: %d x 204, %d x 503 + Retry-After"
              % (sum(r[0] == 204 for r in res), sum(r[0] == 503 for r in res)), flush=True)
    finally:
        srv.cleanup()


if __name__ == "__main__":
    sl.run_main(main)
