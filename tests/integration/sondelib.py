"""sondelib - shared helpers for sonde's integration tests (Python 3 stdlib only).

What is here:
  * tool checks with the CI rule (a missing tool fails under CI=true, skips
    outside CI by printing "SKIP: reason" and exiting 0);
  * free-port picking on 127.0.0.1;
  * Server: starts build/sonde on a temp data dir, waits (bounded) for /-/ready,
    stops it with SIGTERM then SIGKILL, and can kill -9 and restart it on the
    same data dir;
  * HTTP helpers (http.client, never raising on 4xx/5xx) and Prometheus API
    query helpers;
  * our own encoders for remote write 1.0: protobuf WriteRequest and snappy
    block format (literal-only, which is valid snappy), so the tests do not
    depend on the code under test to build their inputs.

Invariants: every process started through this module is registered and is
killed by kill_all() (called from Server.stop, from atexit and from the tests'
finally blocks); every wait loop is bounded in time.
"""

import atexit
import http.client
import json
import os
import random
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import urllib.parse

HOST = "127.0.0.1"
RW_CONTENT_TYPE = "application/x-protobuf"
RW2_CONTENT_TYPE = "application/x-protobuf;proto=io.prometheus.write.v2.Request"
RW_HEADERS = {
    "Content-Type": RW_CONTENT_TYPE,
    "Content-Encoding": "snappy",
    "X-Prometheus-Remote-Write-Version": "0.1.0",
    "User-Agent": "sonde-integration-test",
}

_procs = []  # every subprocess.Popen we started, for kill_all()


# --------------------------------------------------------------------------
# test outcome helpers


def in_ci():
    return os.environ.get("CI", "").lower() == "true"


def skip_or_fail(reason):
    """Outside CI a missing prerequisite skips (exit 0); under CI=true it fails."""
    if in_ci():
        print("FAIL: %s (CI=true: missing tools are failures)" % reason, flush=True)
        kill_all()
        sys.exit(1)
    print("SKIP: %s" % reason, flush=True)
    kill_all()
    sys.exit(0)


def require_tool(name):
    path = shutil.which(name)
    if not path:
        skip_or_fail("tool %r not found in PATH" % name)
    return path


def sonde_bin():
    b = os.environ.get("SONDE_BIN")
    if not b:
        src = os.environ.get("SONDE_SOURCE_DIR") or os.path.join(
            os.path.dirname(os.path.abspath(__file__)), "..", "..")
        b = os.path.join(src, "build", "sonde")
    if not (os.path.isfile(b) and os.access(b, os.X_OK)):
        skip_or_fail("sonde binary not found at %s (set SONDE_BIN)" % b)
    return b


_failed = [False]  # set once any check fails, so cleanup shows the server logs


class TestFailure(AssertionError):
    def __init__(self, *args):
        super().__init__(*args)
        _failed[0] = True


def check(cond, msg):
    if not cond:
        raise TestFailure(msg)


def check_eq(actual, expected, what):
    if actual != expected:
        raise TestFailure("%s: expected %r, got %r" % (what, expected, actual))


def run_main(fn):
    """Runs fn(), prints PASS/FAIL, always kills every started process."""
    rc = 1
    try:
        fn()
        rc = 0
        print("PASS", flush=True)
    except TestFailure as e:
        print("FAIL: %s" % e, flush=True)
    except SystemExit:
        raise
    except BaseException:
        import traceback
        traceback.print_exc()
        print("FAIL: unexpected exception", flush=True)
    finally:
        kill_all()
    sys.exit(rc)


# --------------------------------------------------------------------------
# processes


def kill_all():
    for p in list(_procs):
        if p.poll() is None:
            try:
                p.kill()
            except OSError:
                pass
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
        if p in _procs:
            _procs.remove(p)


atexit.register(kill_all)


def spawn(argv, **kw):
    p = subprocess.Popen(argv, **kw)
    _procs.append(p)
    return p


def stop_process(p, timeout=15.0, sig=signal.SIGTERM):
    """SIGTERM (or sig), then SIGKILL after timeout. Returns the exit code."""
    if p.poll() is None:
        try:
            p.send_signal(sig)
        except OSError:
            pass
        try:
            p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(timeout=10)
    if p in _procs:
        _procs.remove(p)
    return p.returncode


def free_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind((HOST, 0))
        return s.getsockname()[1]
    finally:
        s.close()


def wait_port(port, timeout=30.0, proc=None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            return False
        try:
            with socket.create_connection((HOST, port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.05)
    return False


def tail(path, n=40):
    try:
        with open(path, "rb") as f:
            lines = f.read().decode("utf-8", "replace").splitlines()
        return "\n".join(lines[-n:])
    except OSError:
        return "(no log)"


class Server:
    """One sonde process on a data dir that outlives restarts."""

    def __init__(self, data_dir=None, extra_args=(), port=None, workdir=None):
        self.workdir = workdir or tempfile.mkdtemp(prefix="sonde-it-")
        self.data_dir = data_dir or os.path.join(self.workdir, "data")
        os.makedirs(self.data_dir, exist_ok=True)
        self.port = port or free_port()
        self.extra_args = list(extra_args)
        self.proc = None
        self.starts = 0
        self.log_path = None

    @property
    def base(self):
        return "http://%s:%d" % (HOST, self.port)

    def start(self, ready_timeout=60.0, wait=True):
        self.starts += 1
        self.log_path = os.path.join(self.workdir, "sonde-%d.log" % self.starts)
        argv = [sonde_bin(), "--data-dir", self.data_dir, "--listen",
                "%s:%d" % (HOST, self.port)] + self.extra_args
        log = open(self.log_path, "wb")
        self.proc = spawn(argv, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        if wait:
            self.wait_ready(ready_timeout)
        return self

    def wait_ready(self, timeout=60.0):
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise TestFailure("sonde exited with %s before /-/ready; log:\n%s"
                                  % (self.proc.returncode, tail(self.log_path)))
            try:
                st, _, body = http_request("GET", self.base + "/-/ready", timeout=2)
                last = st
                if st == 200:
                    return
            except OSError as e:
                last = e
            time.sleep(0.05)
        raise TestFailure("sonde not ready after %.0fs (last: %r); log:\n%s"
                          % (timeout, last, tail(self.log_path)))

    def stop(self, timeout=20.0):
        """SIGTERM; returns the exit code (SIGKILL after timeout -> -9)."""
        if self.proc is None:
            return None
        rc = stop_process(self.proc, timeout=timeout)
        self.proc = None
        return rc

    def kill9(self):
        if self.proc is None:
            return
        stop_process(self.proc, timeout=10, sig=signal.SIGKILL)
        self.proc = None

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def cleanup(self):
        died = self.proc is not None and self.proc.poll() is not None
        if died:
            print("sonde exited by itself with %s" % self.proc.returncode, flush=True)
        self.stop()
        if died or _failed[0]:
            for i in range(1, self.starts + 1):
                lp = os.path.join(self.workdir, "sonde-%d.log" % i)
                print("---- %s (last 60 lines) ----\n%s" % (lp, tail(lp, 60)), flush=True)
        if not os.environ.get("SONDE_KEEP_TMP"):
            shutil.rmtree(self.workdir, ignore_errors=True)


# --------------------------------------------------------------------------
# HTTP


def http_request(method, url, body=None, headers=None, timeout=10.0):
    """One request on a fresh connection. Returns (status, headers dict
    with lower-case names, body bytes). Raises OSError on connection errors."""
    u = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=timeout)
    try:
        path = u.path + ("?" + u.query if u.query else "")
        conn.request(method, path, body=body, headers=headers or {})
        r = conn.getresponse()
        data = r.read()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, data
    except http.client.HTTPException as e:
        raise ConnectionError("HTTP error: %r" % e)
    finally:
        conn.close()


def get_json(url, headers=None, timeout=10.0):
    st, hdr, body = http_request("GET", url, headers=headers, timeout=timeout)
    try:
        doc = json.loads(body)
    except ValueError:
        raise TestFailure("GET %s: status %d, body is not JSON: %r" % (url, st, body[:300]))
    return st, doc


def api(base, path, params=None, tenant=None, method="GET", timeout=30.0):
    """Prometheus HTTP API call. Returns (status, decoded JSON)."""
    headers = {}
    if tenant is not None:
        headers["X-Scope-OrgID"] = tenant
    qs = urllib.parse.urlencode(params or [], doseq=True)
    if method == "GET":
        url = base + path + ("?" + qs if qs else "")
        st, _, body = http_request("GET", url, headers=headers, timeout=timeout)
    else:
        headers["Content-Type"] = "application/x-www-form-urlencoded"
        st, _, body = http_request("POST", base + path, body=qs.encode(), headers=headers,
                                   timeout=timeout)
    try:
        return st, json.loads(body)
    except ValueError:
        raise TestFailure("%s %s %r: status %d, body is not JSON: %r"
                          % (method, path, params, st, body[:300]))


def query(base, expr, t=None, tenant=None, method="GET"):
    """Instant query; returns data dict, failing on anything but success."""
    p = {"query": expr}
    if t is not None:
        p["time"] = "%.3f" % t
    st, doc = api(base, "/api/v1/query", p, tenant=tenant, method=method)
    if st != 200 or doc.get("status") != "success":
        raise TestFailure("query %r at %s (tenant %r): status %d, %r"
                          % (expr, t, tenant, st, doc))
    return doc["data"]


def query_range(base, expr, start, end, step, tenant=None, method="GET"):
    p = {"query": expr, "start": "%.3f" % start, "end": "%.3f" % end, "step": str(step)}
    st, doc = api(base, "/api/v1/query_range", p, tenant=tenant, method=method)
    if st != 200 or doc.get("status") != "success":
        raise TestFailure("query_range %r [%s,%s] step %s: status %d, %r"
                          % (expr, start, end, step, st, doc))
    return doc["data"]


def metric_key(m):
    return tuple(sorted(m.items()))


# --------------------------------------------------------------------------
# raw sockets (for what http.client will not do: pipelining, slow senders,
# headers without a body)


def raw_connect(port, timeout=10.0):
    return socket.create_connection((HOST, port), timeout=timeout)


class RawReader:
    """Reads HTTP/1.1 responses off a raw socket (Content-Length or chunked)."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = b""

    def _fill(self):
        d = self.sock.recv(65536)
        if not d:
            raise ConnectionError("connection closed by server")
        self.buf += d

    def _line(self):
        for _ in range(100000):
            i = self.buf.find(b"\r\n")
            if i >= 0:
                line, self.buf = self.buf[:i], self.buf[i + 2:]
                return line
            if len(self.buf) > 1 << 20:
                raise ConnectionError("line too long")
            self._fill()
        raise ConnectionError("no line")

    def _exact(self, n):
        while len(self.buf) < n:
            self._fill()
        d, self.buf = self.buf[:n], self.buf[n:]
        return d

    def response(self):
        """Returns (status, headers dict lower-case, body)."""
        status_line = self._line()
        parts = status_line.split(b" ", 2)
        if len(parts) < 2 or not parts[0].startswith(b"HTTP/1."):
            raise ConnectionError("bad status line %r" % status_line)
        status = int(parts[1])
        headers = {}
        for _ in range(1000):
            line = self._line()
            if not line:
                break
            k, _, v = line.partition(b":")
            headers[k.strip().lower().decode()] = v.strip().decode("latin-1")
        body = b""
        if headers.get("transfer-encoding", "").lower() == "chunked":
            for _ in range(1000000):
                size = int(self._line().split(b";")[0], 16)
                if size == 0:
                    for _ in range(1000):  # trailers
                        if not self._line():
                            break
                    break
                body += self._exact(size)
                self._exact(2)
        elif "content-length" in headers:
            body = self._exact(int(headers["content-length"]))
        elif status not in (204, 304) and not 100 <= status < 200:
            # read until close
            for _ in range(100000):
                try:
                    self._fill()
                except ConnectionError:
                    break
            body, self.buf = self.buf, b""
        return status, headers, body


# --------------------------------------------------------------------------
# protobuf encoding (remote write 1.0 WriteRequest)


def pb_varint(n):
    if n < 0:
        n += 1 << 64  # int64 negative values take 10 bytes, as protobuf does
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def pb_key(field, wire):
    return pb_varint((field << 3) | wire)


def pb_bytes(field, data):
    if isinstance(data, str):
        data = data.encode("utf-8")
    return pb_key(field, 2) + pb_varint(len(data)) + data


def encode_label(name, value):
    return pb_bytes(1, name) + pb_bytes(2, value)


def encode_sample(ts_ms, value):
    out = b""
    if isinstance(value, (bytes, bytearray)):  # raw 8-byte pattern (e.g. stale NaN)
        out += pb_key(1, 1) + bytes(value)
    else:
        out += pb_key(1, 1) + struct.pack("<d", value)
    out += pb_key(2, 0) + pb_varint(int(ts_ms))
    return out


def encode_timeseries(labels, samples):
    """labels: list of (name, value) (str or bytes), sent in the given order;
    samples: list of (ts_ms, value)."""
    body = b"".join(pb_bytes(1, encode_label(n, v)) for n, v in labels)
    body += b"".join(pb_bytes(2, encode_sample(t, v)) for t, v in samples)
    return body


def encode_write_request(series):
    """series: list of (labels, samples) as in encode_timeseries."""
    return b"".join(pb_bytes(1, encode_timeseries(l, s)) for l, s in series)


# --------------------------------------------------------------------------
# snappy block format, literal-only


def snappy_varint(n):
    return pb_varint(n)


def snappy_compress(data):
    """Valid snappy block: uncompressed length, then literal elements of at
    most 65536 bytes each."""
    out = bytearray(snappy_varint(len(data)))
    i = 0
    while i < len(data):
        chunk = data[i:i + 65536]
        n = len(chunk) - 1
        if n < 60:
            out.append(n << 2)
        elif n < 1 << 8:
            out.append(60 << 2)
            out += struct.pack("<B", n)
        elif n < 1 << 16:
            out.append(61 << 2)
            out += struct.pack("<H", n)
        elif n < 1 << 24:
            out.append(62 << 2)
            out += struct.pack("<I", n)[:3]
        else:
            out.append(63 << 2)
            out += struct.pack("<I", n)
        out += chunk
        i += len(chunk)
    return bytes(out)


def rw_body(series):
    return snappy_compress(encode_write_request(series))


def remote_write(base, series, tenant=None, timeout=30.0, body=None, headers=None):
    """POSTs a remote-write request; returns (status, body bytes)."""
    h = dict(RW_HEADERS)
    if tenant is not None:
        h["X-Scope-OrgID"] = tenant
    if headers:
        h.update(headers)
    if body is None:
        body = rw_body(series)
    st, _, resp = http_request("POST", base + "/api/v1/write", body=body, headers=h,
                               timeout=timeout)
    return st, resp


def write_ok(base, series, tenant=None, what="remote write"):
    st, resp = remote_write(base, series, tenant=tenant)
    if st // 100 != 2:
        raise TestFailure("%s: expected 2xx, got %d %r" % (what, st, resp[:300]))
    return st


def labels_of(name, **kw):
    return [("__name__", name)] + sorted(kw.items())


def now_ms():
    return int(time.time() * 1000)


def seeded_random():
    seed = int(os.environ.get("SONDE_TEST_SEED", str(int(time.time()))))
    print("random seed %d (set SONDE_TEST_SEED to repeat)" % seed, flush=True)
    return random.Random(seed)


class Cases:
    """Runs independent cases, keeps going after a failure, and fails at the
    end with every failed case listed (so one server bug does not hide the
    others)."""

    def __init__(self):
        self.failed = []
        self.passed = 0

    def run(self, name, fn, *args):
        print("-- %s" % name, flush=True)
        try:
            fn(*args)
            self.passed += 1
        except TestFailure as e:
            print("   FAILED: %s" % e, flush=True)
            self.failed.append("%s: %s" % (name, e))
        except (OSError, ValueError, KeyError, IndexError, TypeError) as e:
            _failed[0] = True
            print("   FAILED: %r" % e, flush=True)
            self.failed.append("%s: %r" % (name, e))

    def finish(self):
        print("%d cases passed, %d failed" % (self.passed, len(self.failed)), flush=True)
        if self.failed:
            raise TestFailure("%d case(s) failed:\n  %s" % (len(self.failed), "\n  ".join(self.failed)))
