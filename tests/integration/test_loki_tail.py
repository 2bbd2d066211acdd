#!/usr/bin/env python3
"""Loki live tail (GET /loki/api/v1/tail, a WebSocket) against a real sonde,
with our own minimal RFC 6455 client (socket, base64, hashlib, os: stdlib
only) and curl as the pushing client.

Cases: the handshake (Sec-WebSocket-Accept checked) and the first frame (the
last `limit` matching entries since `start`, ascending); live entries pushed
with curl arrive once each, in time order per stream, filtered by the
query's line filter, also an entry of another stream older than what was
already sent and a second entry at the very nanosecond of one already sent;
a tail on another tenant sees nothing; pings get pongs; a client close is
echoed and the connection ends; malformed frames (unmasked, reserved bits,
oversize, bad continuation) get a close with 1002/1009 and the server keeps
serving; bad upgrades (plain GET, bad key, bad version, HTTP/2, bad query,
metric query, delay_for > 5) get a 400 naming the problem; the 33rd
concurrent tail gets 429; SIGTERM closes a live tail with 1001. Every wait
is bounded.
"""

import base64
import hashlib
import json
import os
import socket
import struct
import subprocess
import sys
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sondelib as sl  # noqa: E402

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
TAIL = "/loki/api/v1/tail"


class WS:
    """A minimal WebSocket client: handshake, masked frames out, frames in."""

    def __init__(self, port, query, tenant=None, extra="", headers=None, timeout=15.0):
        self.sock = socket.create_connection((sl.HOST, port), timeout=timeout)
        self.buf = b""
        self.frames = 0  # text frames received
        self.key = base64.b64encode(os.urandom(16)).decode()
        hdrs = {"Host": "%s:%d" % (sl.HOST, port), "Upgrade": "websocket",
                "Connection": "Upgrade", "Sec-WebSocket-Key": self.key,
                "Sec-WebSocket-Version": "13"}
        if tenant:
            hdrs["X-Scope-OrgID"] = tenant
        hdrs.update(headers or {})
        path = TAIL + "?" + urllib.parse.urlencode({"query": query}) + extra
        req = "GET %s HTTP/1.1\r\n" % path
        for k, v in hdrs.items():
            if v is not None:
                req += "%s: %s\r\n" % (k, v)
        self.sock.sendall((req + "\r\n").encode())
        head = self._until(b"\r\n\r\n", timeout)
        lines = head.decode("latin-1").split("\r\n")
        self.status = int(lines[0].split()[1])
        self.headers = {}
        for l in lines[1:]:
            if ":" in l:
                k, v = l.split(":", 1)
                self.headers[k.strip().lower()] = v.strip()
        self.body = b""
        if self.status != 101:
            n = int(self.headers.get("content-length", "0"))
            self.body = self._exact(n, timeout)
        else:
            want = base64.b64encode(hashlib.sha1(self.key.encode() + GUID).digest()).decode()
            sl.check_eq(self.headers.get("sec-websocket-accept"), want, "Sec-WebSocket-Accept")
            sl.check_eq(self.headers.get("upgrade", "").lower(), "websocket", "Upgrade header")

    def _fill(self, deadline):
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("no data before the deadline")
        self.sock.settimeout(left)
        try:
            d = self.sock.recv(65536)
        except socket.timeout:
            raise TimeoutError("no data before the deadline")
        if not d:
            raise EOFError("connection closed")
        self.buf += d

    def _until(self, sep, timeout):
        deadline = time.monotonic() + timeout
        while sep not in self.buf:
            self._fill(deadline)
        i = self.buf.index(sep) + len(sep)
        out, self.buf = self.buf[:i], self.buf[i:]
        return out

    def _exact(self, n, timeout):
        deadline = time.monotonic() + timeout
        while len(self.buf) < n:
            self._fill(deadline)
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def send_raw(self, data):
        self.sock.sendall(data)

    def send(self, opcode, payload=b"", fin=True, mask=True, rsv=0, length=None):
        n = len(payload) if length is None else length
        h = bytes([(0x80 if fin else 0) | rsv | opcode])
        m = 0x80 if mask else 0
        if n < 126:
            h += bytes([m | n])
        elif n <= 0xffff:
            h += bytes([m | 126]) + struct.pack(">H", n)
        else:
            h += bytes([m | 127]) + struct.pack(">Q", n)
        if mask:
            k = os.urandom(4)
            h += k
            payload = bytes(b ^ k[i % 4] for i, b in enumerate(payload))
        self.sock.sendall(h + payload)

    def recv(self, timeout):
        """(opcode, payload) of the next frame; TimeoutError / EOFError."""
        deadline = time.monotonic() + timeout
        while len(self.buf) < 2:
            self._fill(deadline)
        b0, b1 = self.buf[0], self.buf[1]
        if b1 & 0x80:
            raise sl.TestFailure("server frame is masked")
        n, hl = b1 & 0x7f, 2
        if n == 126:
            while len(self.buf) < 4:
                self._fill(deadline)
            n, hl = struct.unpack(">H", self.buf[2:4])[0], 4
        elif n == 127:
            while len(self.buf) < 10:
                self._fill(deadline)
            n, hl = struct.unpack(">Q", self.buf[2:10])[0], 10
        while len(self.buf) < hl + n:
            self._fill(deadline)
        sl.check(b0 & 0x80, "server frames are not fragmented")
        payload = self.buf[hl:hl + n]
        self.buf = self.buf[hl + n:]
        return b0 & 0x0f, payload

    def entries(self, seconds, want=None):
        """Collects tail entries for up to `seconds` (or until `want` lines
        came): [(labels dict, ts int, line)] in arrival order."""
        out = []
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and (want is None or len(out) < want):
            try:
                op, payload = self.recv(deadline - time.monotonic())
            except TimeoutError:
                break
            if op == 0x9:  # ping
                self.send(0xA, payload)
                continue
            if op == 0x8:
                raise sl.TestFailure("tail closed: %r" % payload)
            sl.check_eq(op, 0x1, "frame opcode (text)")
            self.frames += 1
            doc = json.loads(payload)
            sl.check("streams" in doc and "dropped_entries" in doc, "frame shape %r" % doc)
            for s in doc["streams"]:
                for ts, line in s["values"]:
                    out.append((s["stream"], int(ts), line))
        return out

    def expect_close(self, code, timeout=10.0):
        """Reads until a close frame; checks its code and that EOF follows."""
        deadline = time.monotonic() + timeout
        while True:
            op, payload = self.recv(deadline - time.monotonic())
            if op == 0x8:
                got = struct.unpack(">H", payload[:2])[0] if len(payload) >= 2 else None
                sl.check_eq(got, code, "close code (reason %r)" % payload[2:])
                break
        try:
            while True:
                self._fill(deadline)
        except EOFError:
            pass
        except (ConnectionResetError, TimeoutError) as e:
            raise sl.TestFailure("no clean EOF after the close frame: %r" % e)
        return payload[2:].decode()

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def push(base, streams, tenant=None):
    doc = {"streams": [{"stream": l, "values": [[str(t), line] for t, line in vals]}
                       for l, vals in streams]}
    cmd = ["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "20",
           "-H", "Content-Type: application/json", "--data-binary", "@-", base + "/loki/api/v1/push"]
    if tenant:
        cmd[1:1] = ["-H", "X-Scope-OrgID: " + tenant]
    out = subprocess.run(cmd, input=json.dumps(doc).encode(), stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, timeout=30)
    sl.check_eq((out.returncode, out.stdout), (0, b"204"), "push (%s)" % out.stderr[:200])


def main():
    sl.sonde_bin()
    sl.require_tool("curl")
    srv = sl.Server()
    cases = sl.Cases()
    open_ws = []
    try:
        srv.start()
        port = srv.base.rsplit(":", 1)[1]
        port = int(port)

        def still_serving():
            st, _, _ = sl.http_request("GET", srv.base + "/-/healthy")
            sl.check_eq(st, 200, "still serving")

        def tail(query, tenant="t1", extra=""):
            ws = WS(port, query, tenant=tenant, extra=extra)
            open_ws.append(ws)
            return ws

        def history():
            now = time.time_ns()
            push(srv.base, [({"app": "hist"}, [(now - 3000, "keep old 1"), (now - 2000, "drop x"),
                                               (now - 1000, "keep old 2"), (now, "keep old 3")])],
                 tenant="t1")
            ws = tail('{app="hist"} |= "keep"', extra="&limit=2")
            sl.check_eq(ws.status, 101, "handshake (%r)" % ws.body)
            got = ws.entries(5, want=2)
            sl.check_eq([e[2] for e in got], ["keep old 2", "keep old 3"],
                        "first frame: the last 2 matching entries, ascending")
            sl.check_eq(got[0][0].get("app"), "hist", "stream labels")
            # nothing more arrives: no duplicates of the history
            sl.check_eq(ws.entries(2.5), [], "no more entries")
            ws.close()

        def live():
            q = '{app="tailtest"} |= "keep"'
            a = tail(q, tenant="t1", extra="&start=%d" % time.time_ns())
            b = tail(q, tenant="t2")
            sl.check_eq((a.status, b.status), (101, 101), "handshakes")
            t0 = time.time_ns()
            sent = []
            for rnd in range(4):
                ts = t0 + rnd * 10 ** 6
                vals_a = [(ts + i, ("keep a%d.%d" if i % 2 == 0 else "drop a%d.%d") % (rnd, i))
                          for i in range(4)]
                vals_b = [(ts + 5 + i, "keep b%d.%d" % (rnd, i)) for i in range(2)]
                push(srv.base, [({"app": "tailtest", "host": "a"}, vals_a),
                                ({"app": "tailtest", "host": "b"}, vals_b)], tenant="t1")
                sent += [v for v in vals_a + vals_b if v[1].startswith("keep")]
                time.sleep(0.4)
            got = a.entries(15, want=len(sent))
            # a new stream's entry older than everything already sent: still delivered
            late = (t0 + 2, "keep late c")
            push(srv.base, [({"app": "tailtest", "host": "c"}, [late])], tenant="t1")
            sent.append(late)
            got += a.entries(10, want=1)
            # a second entry at the exact nanosecond of the last one sent from host=b
            last_b = max(v[0] for v in sent if " b" in v[1])
            same = (last_b, "keep same-ns b")
            push(srv.base, [({"app": "tailtest", "host": "b"}, [same])], tenant="t1")
            sent.append(same)
            got += a.entries(10, want=1)
            got += a.entries(2.5)  # nothing more may come
            lines = [g[2] for g in got]
            sl.check_eq(sorted(lines), sorted(v[1] for v in sent), "every kept line once")
            sl.check(all("drop" not in l for l in lines), "filtered")
            for host in ("a", "b", "c"):
                ts = [g[1] for g in got if g[0].get("host") == host]
                sl.check_eq(ts, sorted(ts), "time order in stream host=%s" % host)
            sl.check_eq(b.entries(1.5), [], "tenant t2 sees nothing of t1")
            a.close()
            b.close()

        def big_batches():
            # more than a frame holds (5000 entries, ~4 MiB): split over
            # frames, each entry once, in order; streams 0 and 2 share every ns
            ws = tail('{app="bulk"}', tenant="bulk")
            sl.check_eq(ws.status, 101, "handshake")
            t0 = time.time_ns()
            streams = [({"app": "bulk", "s": str(k)},
                        [(t0 + i * 10 + (k % 2), "s%d line %05d" % (k, i)) for i in range(2500)])
                       for k in range(3)]
            push(srv.base, streams, tenant="bulk")
            big = "x" * 1800
            t1 = t0 + 10 ** 6
            push(srv.base, [({"app": "bulk", "s": "big"},
                             [(t1 + i, "big %04d %s" % (i, big)) for i in range(2600)])],
                 tenant="bulk")
            got = ws.entries(60, want=7500 + 2600)
            got += ws.entries(2.5)
            lines = [g[2] for g in got]
            sl.check_eq(len(lines), 7500 + 2600, "entries received")
            sl.check_eq(len(set(lines)), len(lines), "no duplicates")
            for k in ("0", "1", "2", "big"):
                mine = [g[2] for g in got if g[0].get("s") == k]
                sl.check_eq(mine, sorted(mine), "order in stream s=%s" % k)
            sl.check(ws.frames >= 3, "split over frames (%d)" % ws.frames)  # 10,100 entries
            ws.close()

        def ping_and_close():
            ws = tail('{app="nothing"}')
            sl.check_eq(ws.status, 101, "handshake")
            ws.send(0x9, b"hello")
            op, payload = ws.recv(5)
            sl.check_eq((op, payload), (0xA, b"hello"), "pong echoes the ping")
            ws.send(0x8, struct.pack(">H", 1000) + b"bye")
            ws.expect_close(1000)
            ws.close()

        def malformed():
            bad = [
                ("unmasked frame", lambda w: w.send(0x9, b"x", mask=False), 1002),
                ("reserved bits", lambda w: w.send(0x9, b"x", rsv=0x40), 1002),
                ("oversize frame", lambda w: w.send(0x2, b"", length=5000), 1009),
                ("oversize frame, 64-bit length", lambda w: w.send(0x2, b"", length=1 << 40), 1009),
                ("continuation without a message", lambda w: w.send(0x0, b"x"), 1002),
                ("fragmented ping", lambda w: w.send(0x9, b"x", fin=False), 1002),
                ("unknown opcode", lambda w: w.send(0x3, b"x"), 1002),
                ("invalid UTF-8 text", lambda w: w.send(0x1, b"\xff\xfe"), 1007),
                ("message over 4 KiB in fragments",
                 lambda w: (w.send(0x1, b"a" * 3000, fin=False), w.send(0x0, b"a" * 3000)), 1009),
            ]
            for what, fn, code in bad:
                ws = tail('{app="nothing"}')
                sl.check_eq(ws.status, 101, "handshake")
                fn(ws)
                reason = ws.expect_close(code)
                sl.check(reason, "%s: the close names the problem" % what)
                ws.close()
                still_serving()
            # a fragmented text message within the cap is read and ignored
            ws = tail('{app="nothing"}')
            ws.send(0x1, b"abc", fin=False)
            ws.send(0x9, b"in between")
            ws.send(0x0, b"def")
            sl.check_eq(ws.recv(5), (0xA, b"in between"), "pong between fragments")
            ws.close()

        def bad_upgrades():
            st, _, body = sl.http_request("GET", srv.base + TAIL + "?query=%7Ba%3D%22b%22%7D")
            sl.check_eq((st, body.strip()), (400, b"tail needs a WebSocket upgrade"), "plain GET")
            still_serving()
            for what, hdr, needle in [
                ("bad key", {"Sec-WebSocket-Key": "short"}, "Sec-WebSocket-Key"),
                ("bad version", {"Sec-WebSocket-Version": "8"}, "Sec-WebSocket-Version"),
                ("no Connection: Upgrade", {"Connection": "keep-alive"}, "Connection"),
            ]:
                ws = WS(port, '{a="b"}', headers=hdr)
                sl.check_eq(ws.status, 400, what)
                sl.check(needle.encode() in ws.body, "%s: message %r" % (what, ws.body))
                ws.close()
            for what, q, extra, needle in [
                ("parse error", '{a="b"', "", b"parse error"),
                ("metric query", 'count_over_time({a="b"}[1m])', "", b"log query"),
                ("delay_for", '{a="b"}', "&delay_for=6", b"delay_for"),
                ("limit", '{a="b"}', "&limit=5001", b"max entries"),
            ]:
                ws = WS(port, q, extra=extra)
                sl.check_eq(ws.status, 400, what)
                sl.check(needle in ws.body, "%s: message %r" % (what, ws.body))
                ws.close()
            out = subprocess.run(
                ["curl", "-sS", "--http2-prior-knowledge", "--max-time", "10", "-o", "-",
                 "-w", "\n%{http_code}", srv.base + TAIL + "?query=%7Ba%3D%22b%22%7D"],
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=20)
            body, _, code = out.stdout.rpartition(b"\n")
            sl.check_eq(code, b"400", "HTTP/2 tail (%r)" % body)
            sl.check(b"HTTP/1.1" in body, "HTTP/2 message %r" % body)
            still_serving()

        def too_many():
            for w in open_ws:  # what earlier (maybe failed) cases left open
                w.close()
            time.sleep(1.5)
            many = []
            try:
                for i in range(32):
                    ws = WS(port, '{app="nothing"}')
                    many.append(ws)
                    sl.check_eq(ws.status, 101, "tail %d" % i)
                ws = WS(port, '{app="nothing"}')
                many.append(ws)
                sl.check_eq(ws.status, 429, "the 33rd tail (%r)" % ws.body)
                for w in many[:32]:
                    w.send(0x8, struct.pack(">H", 1000))
                    w.expect_close(1000)
            finally:
                for w in many:
                    w.close()
            # the slots come back once the connections are gone
            deadline = time.monotonic() + 10
            while True:
                ws = WS(port, '{app="nothing"}')
                ws.close()
                if ws.status == 101 or time.monotonic() > deadline:
                    break
                time.sleep(0.2)
            sl.check_eq(ws.status, 101, "a tail after the others closed")

        def shutdown():
            ws = tail('{app="nothing"}')
            sl.check_eq(ws.status, 101, "handshake")
            srv.proc.send_signal(15)
            ws.expect_close(1001, timeout=15)
            ws.close()
            rc = srv.stop()
            sl.check_eq(rc, 0, "exit code after SIGTERM with a live tail")

        cases.run("history", history)
        cases.run("live entries: once, in order, filtered, per tenant", live)
        cases.run("more than a frame holds", big_batches)
        cases.run("ping and close", ping_and_close)
        cases.run("malformed frames", malformed)
        cases.run("bad upgrades", bad_upgrades)
        cases.run("concurrent tail limit", too_many)
        cases.run("server shutdown", shutdown)
        cases.finish()
    finally:
        for w in open_ws:
            w.close()
        srv.cleanup()


if __name__ == "__main__":
    sl.run_main(main)
