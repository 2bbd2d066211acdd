#!/usr/bin/env python3
"""Crash test: every sample acknowledged with 2xx survives kill -9, exactly once.

Load generator: THREADS threads, each with its own series and strictly
increasing timestamps, send remote-write requests. Every sample of a request
answered 2xx is recorded as acknowledged. Meanwhile the main thread kills the
server with SIGKILL KILLS times at random moments and restarts it on the same
data dir (waiting for /-/ready; once it is killed again during the replay,
before /-/ready). A request that failed with a connection error
(or 5xx) is retried byte-identical once the server is back, the way Prometheus
retries a batch, so some of those retries repeat a request that was committed
but whose ack was lost. Workers also re-send some already-acknowledged
requests byte-identical. At the end every series is read back as a range
vector and each acknowledged sample must be there exactly once with its exact
value. Samples of requests that were never acknowledged may or may not be
there; anything else (an unknown timestamp or a value that differs) fails.

The scenario runs three times: default durability, with --fsync, and with a
1 s checkpoint interval (head flush and batch-log truncation under the kills).
Bounded: requests per worker, total wall time per phase, restart waits.
"""

import os
import re
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sondelib as sl  # noqa: E402

THREADS = 4
SERIES_PER_THREAD = 5
SAMPLES_PER_SERIES_PER_REQ = 10
MAX_REQS_PER_THREAD = 3000
PACE_S = 0.005  # pause between requests, so the load spans all the kills
RESEND_EVERY = 7  # re-send an acknowledged request after every 7th request
KILLS = 4
PHASE_MAX_S = 45.0  # per phase, the load stops by then whatever happens
STEP_MS = 1000
METRIC = "crash_test_samples"


class Shared:
    def __init__(self):
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.acked = {}  # (thread, series) -> {ts: value}
        self.sent = {}   # (thread, series) -> {ts: value} for every request we built
        self.stats = {"ok": 0, "conn_err": 0, "5xx": 0, "4xx": 0, "retried_ok": 0,
                      "resend_acked": 0, "resend_acked_fail": 0}
        self.errors = []


def series_labels(phase, t, s):
    return [("__name__", METRIC), ("phase", phase), ("series", str(s)), ("thread", str(t))]


def build_request(phase, t, k, base_ts):
    series = []
    samples_by = {}
    for s in range(SERIES_PER_THREAD):
        samples = []
        for j in range(SAMPLES_PER_SERIES_PER_REQ):
            idx = k * SAMPLES_PER_SERIES_PER_REQ + j
            ts = base_ts + idx * STEP_MS
            # exactly representable, distinct per (thread, series, idx)
            v = t * 1e7 + s * 1e5 + idx + 0.25
            samples.append((ts, v))
        series.append((series_labels(phase, t, s), samples))
        samples_by[(t, s)] = samples
    return sl.rw_body(series), samples_by


def worker(srv, sh, phase, t, base_ts, rng, deadline):
    acked_bodies = []
    for k in range(MAX_REQS_PER_THREAD):
        if sh.stop.is_set() or time.monotonic() > deadline:
            break
        body, samples_by = build_request(phase, t, k, base_ts)
        with sh.lock:
            for key, smp in samples_by.items():
                sh.sent.setdefault(key, {}).update(smp)
        acked = False
        first = True
        # retry the same bytes until acknowledged, also while the server is
        # down (connection refused) and while it replays
        for attempt in range(100000):
            if time.monotonic() > deadline + 30:
                break
            try:
                st, resp = sl.remote_write(srv.base, None, body=body, timeout=15)
            except OSError:
                with sh.lock:
                    sh.stats["conn_err"] += 1
                first = False
                time.sleep(0.02)
                continue
            if st // 100 == 2:
                acked = True
                with sh.lock:
                    sh.stats["ok"] += 1
                    if not first:
                        sh.stats["retried_ok"] += 1
                break
            if st >= 500 or st == 429:
                with sh.lock:
                    sh.stats["5xx"] += 1
                first = False
                time.sleep(0.05)
                continue
            with sh.lock:
                sh.stats["4xx"] += 1
                sh.errors.append("thread %d request %d: unexpected %d %r"
                                 % (t, k, st, resp[:200]))
            break
        if not acked:
            continue
        with sh.lock:
            for key, smp in samples_by.items():
                d = sh.acked.setdefault(key, {})
                for ts, v in smp:
                    d[ts] = v
        acked_bodies.append(body)
        time.sleep(PACE_S)
        # re-send an already-acknowledged request byte-identical now and then
        if RESEND_EVERY and k % RESEND_EVERY == 3 and acked_bodies:
            old = rng.choice(acked_bodies)
            try:
                st, resp = sl.remote_write(srv.base, None, body=old, timeout=15)
                with sh.lock:
                    if st // 100 == 2:
                        sh.stats["resend_acked"] += 1
                    elif st < 500:
                        sh.errors.append("re-sent acknowledged request from thread %d: %d %r"
                                         % (t, st, resp[:200]))
                    else:
                        sh.stats["resend_acked_fail"] += 1
            except OSError:
                with sh.lock:
                    sh.stats["resend_acked_fail"] += 1


def verify(srv, sh, phase, eval_t):
    problems = []
    total_acked = 0
    for t in range(THREADS):
        for s in range(SERIES_PER_THREAD):
            key = (t, s)
            acked = sh.acked.get(key, {})
            sent = sh.sent.get(key, {})
            total_acked += len(acked)
            sel = '%s{phase="%s",thread="%d",series="%d"}[1d]' % (METRIC, phase, t, s)
            data = sl.query(srv.base, sel, t=eval_t)
            if data.get("resultType") != "matrix":
                problems.append("%s: resultType %r, want matrix" % (sel, data.get("resultType")))
                continue
            res = data["result"]
            if not acked and not res:
                continue
            if len(res) != 1:
                problems.append("%s: %d series returned, want 1: %r"
                                % (sel, len(res), [r.get("metric") for r in res]))
                continue
            got = {}
            dups = []
            for ts_s, v_s in res[0]["values"]:
                ts = int(round(float(ts_s) * 1000))
                if ts in got:
                    dups.append(ts)
                got[ts] = float(v_s)
            if dups:
                problems.append("%s: %d duplicated timestamps, e.g. %r" % (sel, len(dups), dups[:5]))
            missing = [ts for ts in acked if ts not in got]
            if missing:
                missing.sort()
                problems.append("%s: %d of %d acknowledged samples missing, e.g. ts %r"
                                % (sel, len(missing), len(acked), missing[:5]))
            wrong = [(ts, acked[ts], got[ts]) for ts in acked if ts in got and got[ts] != acked[ts]]
            if wrong:
                problems.append("%s: %d samples with wrong value (ts, want, got) e.g. %r"
                                % (sel, len(wrong), wrong[:5]))
            unknown = [ts for ts in got if ts not in sent or sent[ts] != got[ts]]
            if unknown:
                problems.append("%s: %d samples never sent (or wrong value), e.g. %r"
                                % (sel, len(unknown), [(ts, got[ts]) for ts in unknown[:5]]))
    return total_acked, problems


def run_phase(phase, extra_args, rng):
    print("== phase %s (args %r)" % (phase, extra_args), flush=True)
    srv = sl.Server(extra_args=extra_args)
    sh = Shared()
    try:
        srv.start()
        base_ts = sl.now_ms() - 6 * 3600 * 1000  # all samples lie in the last 6 h
        deadline = time.monotonic() + PHASE_MAX_S
        threads = []
        for t in range(THREADS):
            th = threading.Thread(target=worker, args=(srv, sh, phase, t, base_ts,
                                                       sl.random.Random(rng.random()), deadline),
                                  daemon=True)
            th.start()
            threads.append(th)
        kills = 0
        for _ in range(KILLS):
            time.sleep(rng.uniform(0.3, 2.0))
            if time.monotonic() > deadline or not any(th.is_alive() for th in threads):
                break
            srv.kill9()
            kills += 1
            print("  kill -9 #%d (acked so far: %d requests)" % (kills, sh.stats["ok"]),
                  flush=True)
            time.sleep(rng.uniform(0.0, 0.3))
            if kills == 2:
                # once, kill it again while it replays, before /-/ready
                srv.start(wait=False)
                time.sleep(rng.uniform(0.05, 0.3))
                srv.kill9()
                print("  kill -9 during restart replay", flush=True)
            srv.start(ready_timeout=60)
        # let the load run a little after the last restart, then stop it
        time.sleep(1.0)
        sl.check(any(th.is_alive() for th in threads),
                 "the load ended before the last restart; raise MAX_REQS_PER_THREAD")
        sh.stop.set()
        for th in threads:
            th.join(timeout=PHASE_MAX_S + 60)
            sl.check(not th.is_alive(), "a load thread did not finish in time")
        print("  stats: %r, kills %d" % (sh.stats, kills), flush=True)
        sl.check(kills == KILLS, "only %d of %d kills happened (load ended too soon)"
                 % (kills, KILLS))
        sl.check(not sh.errors, "unexpected answers during load: %s" % "; ".join(sh.errors[:5]))
        sl.check(sh.stats["ok"] > 0, "no request was acknowledged")
        sl.check(sh.stats["retried_ok"] > 0,
                 "no request that failed with a connection error was retried and acknowledged")
        sl.check(sh.stats["resend_acked"] > 0, "no acknowledged request was re-sent successfully")
        if "--checkpoint-interval" in extra_args:
            # make sure checkpoints really happened, else this phase tests nothing new
            _, _, m = sl.http_request("GET", srv.base + "/metrics")
            seqs = re.findall(r"(?m)^sonde_storage_checkpoint_seq(?:\{[^}]*\})? (\S+)$", m.decode())
            sl.check(seqs and max(float(x) for x in seqs) > 0,
                     "no checkpoint happened (sonde_storage_checkpoint_seq = %r)" % seqs)
            print("  checkpoint seq %s" % max(float(x) for x in seqs), flush=True)
        eval_t = time.time() + 1
        n, problems = verify(srv, sh, phase, eval_t)
        sl.check(not problems, "after %d kills, on the running server:\n  %s"
                 % (kills, "\n  ".join(problems[:20])))
        # one more kill -9 with no load, and the same check after replay
        srv.kill9()
        srv.start(ready_timeout=60)
        n, problems = verify(srv, sh, phase, eval_t)
        sl.check(not problems, "after a final kill -9 and restart:\n  %s"
                 % "\n  ".join(problems[:20]))
        print("  phase %s: %d acknowledged samples all present exactly once" % (phase, n),
              flush=True)
    finally:
        sh.stop.set()
        srv.cleanup()


def main():
    sl.sonde_bin()
    rng = sl.seeded_random()
    run_phase("wal", [], rng)
    run_phase("fsync", ["--fsync"], rng)
    # head flushes and batch-log truncation every second, so kills land
    # between, during and after checkpoints, and retries of batches whose
    # payload was already deleted must still be recognised
    run_phase("checkpoint", ["--checkpoint-interval", "1s"], rng)


if __name__ == "__main__":
    sl.run_main(main)
