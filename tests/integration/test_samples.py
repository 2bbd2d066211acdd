#!/usr/bin/env python3
"""Samples come back exactly as they were written, before and after restarts.

What a user checks after writing data: every value (any finite double, signed
zero, +-Inf, NaN) and every millisecond timestamp comes back bit for bit, over
many chunks' worth of samples per series (so head chunks fill, are flushed and
are read back from storage; the server runs with a 1 s checkpoint interval),
after a clean restart and after kill -9. A
Prometheus stale marker (the NaN 0x7ff0000000000002) ends a series for
instant queries and is not returned in range vectors, while an ordinary NaN is
returned as "NaN", so the marker must be kept bit-exact. One request with
10,000 series is accepted whole. Identical re-sends do not duplicate samples.
"""

import math
import os
import random
import struct
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sondelib as sl  # noqa: E402

STALE = struct.pack("<Q", 0x7FF0000000000002)
PLAIN_NAN = struct.pack("<Q", 0x7FF8000000000001)
N_RANDOM_SERIES = 8
N_SAMPLES = 1000  # several Gorilla chunks per series
BIG_SERIES = 10000


def bits(v):
    return struct.unpack("<Q", struct.pack("<d", v))[0]


def random_double(rng):
    for _ in range(100):
        v = struct.unpack("<d", struct.pack("<Q", rng.getrandbits(64)))[0]
        if not math.isnan(v):
            return v
    return 1.0


def make_series(rng, t_start):
    """name -> list of (ts_ms, value): random bits, counters, gauges, specials."""
    out = {}
    kinds = ["random_bits", "counter", "gauge_small", "integers", "specials", "jitter_ts",
             "constant", "big_ints"]
    for k in range(N_RANDOM_SERIES):
        kind = kinds[k % len(kinds)]
        ts = t_start
        samples = []
        acc = 0.0
        for i in range(N_SAMPLES):
            if kind == "jitter_ts":
                ts += rng.choice([1, 7, 999, 1000, 1001, 3600, 15000])
            else:
                ts += 15000
            if kind == "random_bits":
                v = random_double(rng)
            elif kind == "counter":
                acc += rng.random() * 1000
                v = acc
            elif kind == "gauge_small":
                v = rng.uniform(-1e-3, 1e-3)
            elif kind == "integers":
                v = float(rng.randrange(-10 ** 6, 10 ** 6))
            elif kind == "specials":
                v = rng.choice([0.0, -0.0, math.inf, -math.inf, 5e-324, -5e-324, 1.7976931348623157e308,
                                2.2250738585072014e-308, 0.1, 1 / 3])
            elif kind == "constant":
                v = 42.0
            else:
                v = float(2 ** 53 + rng.randrange(0, 2) * 2) * rng.choice([1, -1])
            samples.append((ts, v))
        out["samples_exact_%d_%s" % (k, kind)] = samples
    return out


def parse_value(s):
    if s == "+Inf":
        return math.inf
    if s == "-Inf":
        return -math.inf
    return float(s)


def check_exact(srv, series, eval_t, what):
    bad = []
    for name, samples in series.items():
        r = sl.query(srv.base, "%s[30d]" % name, t=eval_t)["result"]
        if len(r) != 1:
            bad.append("%s: %d series returned" % (name, len(r)))
            continue
        got = [(int(round(float(t) * 1000)), parse_value(v)) for t, v in r[0]["values"]]
        if len(got) != len(samples):
            bad.append("%s: %d samples returned, %d written" % (name, len(got), len(samples)))
        for (wt, wv), (gt, gv) in zip(samples, got):
            if wt != gt or bits(wv) != bits(gv):
                bad.append("%s: first difference: wrote (%d, %r bits %016x), got (%d, %r bits %016x)"
                           % (name, wt, wv, bits(wv), gt, gv, bits(gv)))
                break
    sl.check(not bad, "%s:\n    %s" % (what, "\n    ".join(bad)))


def main():
    sl.sonde_bin()
    rng = sl.seeded_random()
    # checkpoints every second: head chunks are flushed to RocksDB during the test
    srv = sl.Server(extra_args=["--checkpoint-interval", "1s"])
    cases = sl.Cases()
    try:
        srv.start()
        # the newest sample lies a little in the past
        t_start = sl.now_ms() - (N_SAMPLES + 10) * 15000 - 3600000
        series = make_series(rng, t_start)
        eval_t = sl.now_ms() / 1000 + 1
        t0 = sl.now_ms() - 600000

        def write_exact():
            # written in pieces of 100 samples per series, the way senders batch
            for off in range(0, N_SAMPLES, 100):
                sl.write_ok(srv.base, [([("__name__", n), ("job", "exact")], s[off:off + 100])
                                       for n, s in series.items()], what="exact samples @%d" % off)
            # an identical re-send of a piece must not duplicate anything
            sl.write_ok(srv.base, [([("__name__", n), ("job", "exact")], s[200:300])
                                   for n, s in series.items()], what="re-sent piece")
            check_exact(srv, series, eval_t, "exact round trip")

        def stale_markers():
            sl.write_ok(srv.base, [
                (sl.labels_of("stale_probe", job="s"), [(t0, 1.0), (t0 + 1000, 2.0), (t0 + 2000, STALE)]),
                (sl.labels_of("nan_probe", job="s"), [(t0, 1.0), (t0 + 1000, PLAIN_NAN)]),
            ], what="stale marker and NaN")
            check_stale(srv, t0)

        def big_request():
            big = [(sl.labels_of("samples_big_request", job="big", instance="i%05d" % i), [(t0, float(i))])
                   for i in range(BIG_SERIES)]
            sl.write_ok(srv.base, big, what="one request with %d series" % BIG_SERIES)
            r = sl.query(srv.base, "count(samples_big_request)", t=t0 / 1000 + 1)["result"]
            sl.check(r and r[0]["value"][1] == str(BIG_SERIES),
                     "count(samples_big_request) = %r, want %d" % (r, BIG_SERIES))
            r = sl.query(srv.base, "sum(samples_big_request)", t=t0 / 1000 + 1)["result"]
            want = sum(range(BIG_SERIES))
            sl.check(r and float(r[0]["value"][1]) == want,
                     "sum(samples_big_request) = %r, want %d" % (r, want))

        def after_checkpoint():
            time.sleep(3)
            check_exact(srv, series, eval_t, "after checkpoints flushed the head")

        def after_sigterm():
            rc = srv.stop()
            sl.check_eq(rc, 0, "exit code after SIGTERM")
            srv.start()
            check_exact(srv, series, eval_t, "after SIGTERM and restart")
            check_stale(srv, t0)

        def after_kill9():
            srv.kill9()
            srv.start()
            check_exact(srv, series, eval_t, "after kill -9 and restart")
            check_stale(srv, t0)
            r = sl.query(srv.base, "count(samples_big_request)", t=t0 / 1000 + 1)["result"]
            sl.check(r and r[0]["value"][1] == str(BIG_SERIES),
                     "count(samples_big_request) after kill -9 = %r" % r)

        cases.run("exact values and timestamps (%d series x %d samples)" % (len(series), N_SAMPLES),
                  write_exact)
        cases.run("stale marker ends a series; plain NaN is returned", stale_markers)
        cases.run("one request with %d series" % BIG_SERIES, big_request)
        cases.run("same after checkpoints flushed the head", after_checkpoint)
        cases.run("same after SIGTERM and restart", after_sigterm)
        cases.run("same after kill -9 and restart", after_kill9)
        cases.finish()
    finally:
        srv.cleanup()


def check_stale(srv, t0):
    ts = t0 / 1000
    r = sl.query(srv.base, "stale_probe", t=ts + 1.5)["result"]
    sl.check(len(r) == 1 and r[0]["value"][1] == "2", "stale_probe before the marker: %r" % r)
    r = sl.query(srv.base, "stale_probe", t=ts + 2.5)["result"]
    sl.check(r == [], "stale_probe after its stale marker must be absent (marker not kept "
             "bit-exact or not honoured): %r" % r)
    r = sl.query(srv.base, "stale_probe[1m]", t=ts + 30)["result"]
    vals = [v for _, v in r[0]["values"]] if r else None
    sl.check_eq(vals, ["1", "2"], "stale_probe[1m]: the stale marker is not a sample")
    r = sl.query(srv.base, "nan_probe", t=ts + 1.5)["result"]
    sl.check(len(r) == 1 and r[0]["value"][1] == "NaN", "an ordinary NaN must be returned as NaN: %r" % r)


if __name__ == "__main__":
    sl.run_main(main)
