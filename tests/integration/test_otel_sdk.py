#!/usr/bin/env python3
"""The real OpenTelemetry JS SDK (tests/otel, pinned in package-lock.json)
sends traces, metrics of every instrument type and logs to sonde through all
three OTLP transports: OTLP/HTTP protobuf (gzip), OTLP/HTTP JSON, OTLP/gRPC
(identity and gzip), with cumulative metrics; and once more over OTLP/HTTP
JSON (gzip) with delta temporality (counters and histograms), whose sums of
deltas must give the same series. tests/otel/emit.js does the sending and
prints what the exporters' export() callbacks reported.

Per transport the test asserts:
  * every exporter reported SUCCESS for every signal, and the SDK logged no
    warning or error (a partial_success is logged there);
  * the metrics are queryable through /api/v1/query under the names and
    labels the OpenTelemetry "Prometheus and OpenMetrics Compatibility"
    specification gives: unit words as suffixes ("By" -> bytes, "ms" ->
    milliseconds, "Cel" -> celsius, "By/s" -> bytes_per_second, "{request}"
    dropped, gauge "1" -> ratio), "_total" on monotonic sums only once,
    up-down counters as gauges, histograms as _bucket{le}/_sum/_count, job =
    service.namespace/service.name, instance = service.instance.id,
    otel_scope_name/otel_scope_version, non-string attributes as JSON text,
    and target_info carrying exactly the other resource attributes;
  * GET /api/traces/<trace id> returns the spans (Tempo v1 shape: OTLP JSON
    ResourceSpans under "batches") with every attribute and its type (string,
    int, double, bool, arrays, kvlist, bytes), events with their attributes,
    the link with its attributes, status, kind, parent span id and the exact
    nanosecond timestamps;
  * after a SIGTERM restart and after kill -9 (replay), the traces and the
    metrics of the first two runs are all still there;
  * logs: the exporters' success, and sonde's /metrics counting the two
    records (sonde_otlp_items_total{signal="log_records",result="accepted"}
    +2, nothing rejected; spans likewise +3): there is no log query API yet.

Two cases check naming rules where sonde follows Prometheus' translator and
the specification says otherwise (they run once, on the first transport):
unit "1" on a counter ("ratio" before "_total") and label names (runs of
'_' collapse; a leading '_' is a valid label character and stays).

Needs node and tests/otel/node_modules (tests/run.sh runs npm ci there):
missing, the test skips, or fails under CI=true.
"""

import base64
import json
import os
import re
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sondelib as sl  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
OTEL_DIR = os.path.normpath(os.path.join(HERE, "..", "otel"))
EMIT = os.path.join(OTEL_DIR, "emit.js")
NEEDED_MODULES = [
    "@opentelemetry/api", "@opentelemetry/api-logs", "@opentelemetry/resources",
    "@opentelemetry/sdk-trace-base", "@opentelemetry/sdk-metrics", "@opentelemetry/sdk-logs",
    "@opentelemetry/exporter-trace-otlp-proto", "@opentelemetry/exporter-trace-otlp-http",
    "@opentelemetry/exporter-trace-otlp-grpc", "@opentelemetry/exporter-metrics-otlp-proto",
    "@opentelemetry/exporter-metrics-otlp-http", "@opentelemetry/exporter-metrics-otlp-grpc",
    "@opentelemetry/exporter-logs-otlp-proto", "@opentelemetry/exporter-logs-otlp-http",
    "@opentelemetry/exporter-logs-otlp-grpc",
]

# (transport, compression, metrics temporality); the delta run's sums of
# deltas equal the cumulative values, so it expects the same series.
RUNS = [("proto", "gzip", "cumulative"), ("json", "none", "cumulative"),
        ("grpc", "none", "cumulative"), ("grpc", "gzip", "cumulative"),
        ("json", "gzip", "delta")]

JOB = "shop/sonde-e2e"
SCOPE = {"otel_scope_name": "sonde-e2e-meter", "otel_scope_version": "1.2.3"}
BYTES = bytes([0x00, 0x01, 0xFE, 0xFF, 0x73, 0x6F])


def require_node():
    node = shutil.which("node")
    if not node:
        sl.skip_or_fail("node not found in PATH (deploy/install-deps.sh installs nodejs)")
    missing = [m for m in NEEDED_MODULES
               if not os.path.isfile(os.path.join(OTEL_DIR, "node_modules", m, "package.json"))]
    if missing:
        sl.skip_or_fail("tests/otel/node_modules lacks %s (run: cd tests/otel && npm ci)"
                        % ", ".join(missing))
    return node


def node_env():
    """The SDK reads OTEL_* variables and grpc-js reads proxy variables: none
    of the caller's may change what the test sends or where."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("OTEL_") and k.lower() not in
           ("http_proxy", "https_proxy", "grpc_proxy", "all_proxy", "no_proxy", "node_options")}
    env["NO_PROXY"] = env["no_grpc_proxy"] = "127.0.0.1,localhost"
    return env


def otlp_items(base):
    """sonde_otlp_items_total{signal,result} from sonde's /metrics."""
    st, _, body = sl.http_request("GET", base + "/metrics")
    sl.check_eq(st, 200, "GET /metrics")
    out = {}
    for m in re.finditer(r'^sonde_otlp_items_total\{signal="([^"]+)",result="([^"]+)"\} (\S+)$',
                         body.decode("utf-8", "replace"), re.M):
        out[(m.group(1), m.group(2))] = float(m.group(3))
    return out


def check_items(before, after, signal, accepted):
    """The records of one emit.js run were counted as accepted, none rejected."""
    sl.check((signal, "accepted") in after,
             "sonde_otlp_items_total{signal=%r} missing from /metrics: %r" % (signal, after))
    acc = after[(signal, "accepted")] - before.get((signal, "accepted"), 0)
    rej = after.get((signal, "rejected"), 0) - before.get((signal, "rejected"), 0)
    sl.check(acc == accepted and rej == 0,
             "sonde_otlp_items_total{signal=%r}: +%g accepted, +%g rejected; expected +%d, +0"
             % (signal, acc, rej, accepted))


def run_emit(node, base, transport, compression, temporality, run_id):
    argv = [node, EMIT, "--http", base, "--grpc", base, "--transport", transport,
            "--compression", compression, "--temporality", temporality, "--run", run_id,
            "--timeout-ms", "30000"]
    t0 = time.monotonic()
    try:
        p = subprocess.run(argv, cwd=OTEL_DIR, env=node_env(), capture_output=True, timeout=60)
    except subprocess.TimeoutExpired:
        raise sl.TestFailure("emit.js %s/%s did not end within 60 s" % (transport, compression))
    out = p.stdout.decode("utf-8", "replace").strip().splitlines()
    print("   emit.js %s/%s: exit %d in %.1fs" % (transport, compression, p.returncode,
                                                  time.monotonic() - t0), flush=True)
    if p.stderr.strip():
        print("   stderr: %s" % p.stderr.decode("utf-8", "replace")[-2000:], flush=True)
    try:
        summary = json.loads(out[-1])
    except (ValueError, IndexError):
        raise sl.TestFailure("emit.js %s/%s printed no JSON summary (exit %d): stdout %r stderr %r"
                             % (transport, compression, p.returncode, p.stdout[-1000:],
                                p.stderr[-1000:]))
    summary["exit"] = p.returncode
    return summary


# --------------------------------------------------------------------------
# exporters


def check_exports(summary, signal):
    res = summary["results"].get(signal, [])
    err = summary.get("errors", {}).get(signal)
    diag = [d for d in summary.get("diag", []) if d.startswith("[%s]" % signal)]
    sl.check(len(res) > 0, "%s: the exporter was never called (flush error: %r; SDK log %r)"
             % (signal, err, diag))
    bad = [r for r in res if r.get("code") != 0]
    sl.check(not bad, "%s: exporter results %r (ExportResultCode 0 = SUCCESS); SDK log %r"
             % (signal, res, diag))
    sl.check(err is None, "%s: flush/shutdown rejected: %r" % (signal, err))
    warn = [d for d in summary.get("diag", [])
            if d.startswith("[%s]" % signal) and "partial" in d.lower()]
    sl.check(not warn, "%s: the SDK logged a partial success: %r" % (signal, warn))


# --------------------------------------------------------------------------
# metrics


def series_at(base, instance):
    """Every series of this instance, {label-set key: value} plus the raw list."""
    data = sl.query(base, '{instance="%s"}' % instance)
    out = {}
    for r in data["result"]:
        out[sl.metric_key(r["metric"])] = float(r["value"][1])
    return out


def expected_metrics(inst):
    """Spec names and exact label sets (where sonde and the spec agree)."""
    common = dict(SCOPE, job=JOB, instance=inst, sonde_run=inst, http_request_method="GET")

    def s(name, value, **extra):
        labels = dict(common, __name__=name)
        labels.update(extra)
        return sl.metric_key(labels), value

    exp = dict([
        # Counter "By" with int/double/bool/array attributes as JSON text.
        s("sonde_e2e_sent_bytes_total", 123.0, attr_int="42", attr_double="1.5",
          attr_bool="true", attr_strings='["a","b"]'),
        # "{request}" annotation: dropped.
        s("sonde_e2e_requests_total", 3.0),
        # name already has the unit word and "total": unchanged.
        s("sonde_e2e_seconds_total", 2.5),
        # UpDownCounter: non-monotonic cumulative sum -> gauge, no _total.
        s("sonde_e2e_queue_depth", 6.0),
        # Histogram "ms".
        s("sonde_e2e_duration_milliseconds_bucket", 1.0, le="5"),
        s("sonde_e2e_duration_milliseconds_bucket", 3.0, le="10"),
        s("sonde_e2e_duration_milliseconds_bucket", 3.0, le="25"),
        s("sonde_e2e_duration_milliseconds_bucket", 4.0, le="+Inf"),
        s("sonde_e2e_duration_milliseconds_sum", 47.0),
        s("sonde_e2e_duration_milliseconds_count", 4.0),
        # Gauge "Cel".
        s("sonde_e2e_temperature_celsius", 21.5),
        # Observable gauge "1" -> ratio.
        s("sonde_e2e_utilization_ratio", 0.75),
        # Observable gauge "By/s" -> bytes_per_second.
        s("sonde_e2e_throughput_bytes_per_second", 2048.0),
        # Observable counter "s".
        s("sonde_e2e_cpu_time_seconds_total", 12.5),
        # Observable up-down counter "By" -> gauge.
        s("sonde_e2e_memory_bytes", 4096.0),
    ])
    # target_info: job, instance and the non-identifying resource attributes only.
    exp[sl.metric_key({"__name__": "target_info", "job": JOB, "instance": inst,
                       "deployment_environment_name": "test", "host_name": "sonde-e2e-host",
                       "sonde_run": inst})] = 1.0
    return exp


def fmt(key):
    d = dict(key)
    name = d.pop("__name__", "")
    return "%s{%s}" % (name, ",".join('%s="%s"' % kv for kv in sorted(d.items())))


def check_metrics(base, inst):
    got = series_at(base, inst)
    sl.check(got, "no series at all with instance=%r (the metrics exports failed?)" % inst)
    exp = expected_metrics(inst)
    problems = []
    for k, v in exp.items():
        if k not in got:
            name = dict(k)["__name__"]
            near = [fmt(g) for g in got if dict(g)["__name__"] == name]
            problems.append("missing %s (series of that name: %s)" % (fmt(k), near or "none"))
        elif got[k] != v:
            problems.append("%s = %r, expected %r" % (fmt(k), got[k], v))
    sl.check(not problems, "metrics of instance %s:\n    %s\n  all series of the instance:\n    %s"
             % (inst, "\n    ".join(problems), "\n    ".join(sorted(fmt(g) for g in got))))


def check_spec_unit_one_counter(base, inst):
    """Spec, OTLP Metric points to Prometheus / Metric Metadata: the unit SHOULD
    be converted, including 'Special case: Converting "1" to "ratio"', and 'The
    unit suffix comes before any type-specific suffixes' -- for every metric
    type, not only gauges. Counter sonde.e2e.items, unit "1", value 7."""
    got = series_at(base, inst)
    want = "sonde_e2e_items_ratio_total"
    names = sorted({dict(k)["__name__"] for k in got if dict(k)["__name__"].startswith("sonde_e2e_items")})
    sl.check(any(dict(k)["__name__"] == want and v == 7.0 for k, v in got.items()),
             "counter with unit \"1\": spec name %s, sonde stored %s" % (want, names))


def check_spec_label_names(base, inst):
    """Spec, Metric Attributes: 'unsupported Attribute names MUST replace invalid
    characters with the _ character. Multiple consecutive _ characters MUST be
    replaced with a single _ character', and label keys 'are required to
    match [a-zA-Z_]([a-zA-Z0-9_])*' -- so "_private" is valid as it is.
    Counter sonde.e2e.sanitise with attributes weird..key=w and _private=p."""
    got = series_at(base, inst)
    rows = [dict(k) for k in got if dict(k)["__name__"] == "sonde_e2e_sanitise_total"]
    sl.check(len(rows) == 1, "sonde_e2e_sanitise_total series: %r" % rows)
    labels = rows[0]
    problems = []
    if labels.get("weird_key") != "w":
        problems.append("attribute 'weird..key' -> label 'weird_key' (spec); sonde: %r"
                        % sorted(k for k in labels if "weird" in k))
    if labels.get("_private") != "p":
        problems.append("attribute '_private' -> label '_private' (spec); sonde: %r"
                        % sorted(k for k in labels if "private" in k))
    sl.check(not problems, "; ".join(problems))


# --------------------------------------------------------------------------
# traces


def sv(s):
    return {"stringValue": s}


def iv(n):
    return {"intValue": str(n)}  # OTLP/JSON: int64 as a decimal string


def norm_any(v):
    """Canonical form of an OTLP/JSON AnyValue for comparison: proto3 JSON may
    omit defaults, ids/bytes are compared as bytes."""
    if not isinstance(v, dict) or len(v) != 1:
        return ("?", json.dumps(v, sort_keys=True))
    (k, x), = v.items()
    if k == "arrayValue":
        return ("array", tuple(norm_any(e) for e in (x or {}).get("values", [])))
    if k == "kvlistValue":
        return ("kvlist", tuple((e.get("key"), norm_any(e.get("value"))) for e in (x or {}).get("values", [])))
    if k == "bytesValue":
        try:
            return ("bytes", base64.b64decode(x))
        except (ValueError, TypeError):
            return ("bytes?", x)
    return (k, x)


def norm_attrs(kvs):
    out = {}
    for kv in kvs or []:
        out[kv.get("key")] = norm_any(kv.get("value"))
    return out


def want_attrs(d):
    return {k: norm_any(v) for k, v in d.items()}


def ns(base_s, off):
    return str(base_s * 10 ** 9 + off)


def get_trace(base, trace_id, want_spans, deadline_s=10.0):
    """GET /api/traces/<id>, retried until want_spans spans are there (bounded)."""
    deadline = time.monotonic() + deadline_s
    last = None
    while True:
        st, hdr, body = sl.http_request("GET", base + "/api/traces/" + trace_id, timeout=10)
        last = (st, body[:500])
        if st == 200:
            try:
                doc = json.loads(body)
            except ValueError:
                raise sl.TestFailure("GET /api/traces/%s: body is not JSON: %r" % (trace_id, body[:300]))
            spans = flatten(doc)
            if len(spans) >= want_spans:
                return doc, spans
        if time.monotonic() > deadline:
            raise sl.TestFailure("GET /api/traces/%s: wanted %d spans, last answer %d %r"
                                 % (trace_id, want_spans, last[0], last[1]))
        time.sleep(0.2)


def flatten(doc):
    """[(resource, scope, span)] over batches[].scopeSpans[].spans[]."""
    out = []
    for rs in (doc or {}).get("batches", []) or []:
        res = rs.get("resource", {})
        for ss in (rs.get("scopeSpans") or []):
            for sp in ss.get("spans", []) or []:
                out.append((res, ss.get("scope", {}), sp))
    return out


def check_span(sp, want, what, problems):
    def eq(field, got, exp):
        if got != exp:
            problems.append("%s.%s: expected %r, got %r" % (what, field, exp, got))

    eq("traceId", (sp.get("traceId") or "").lower(), want["traceId"])
    eq("spanId", (sp.get("spanId") or "").lower(), want["spanId"])
    eq("parentSpanId", (sp.get("parentSpanId") or "").lower(), want.get("parentSpanId", ""))
    eq("name", sp.get("name"), want["name"])
    eq("kind", sp.get("kind"), want["kind"])
    eq("startTimeUnixNano", sp.get("startTimeUnixNano"), want["start"])
    eq("endTimeUnixNano", sp.get("endTimeUnixNano"), want["end"])
    eq("attributes", norm_attrs(sp.get("attributes")), want_attrs(want["attributes"]))
    evs = sp.get("events") or []
    got_ev = [(e.get("name"), e.get("timeUnixNano"), norm_attrs(e.get("attributes"))) for e in evs]
    exp_ev = [(e["name"], e["time"], want_attrs(e["attributes"])) for e in want.get("events", [])]
    eq("events", got_ev, exp_ev)
    links = sp.get("links") or []
    got_ln = [((l.get("traceId") or "").lower(), (l.get("spanId") or "").lower(),
               norm_attrs(l.get("attributes"))) for l in links]
    exp_ln = [(l["traceId"], l["spanId"], want_attrs(l["attributes"])) for l in want.get("links", [])]
    eq("links", got_ln, exp_ln)
    status = sp.get("status") or {}
    eq("status", {"code": status.get("code", 0), "message": status.get("message", "")},
       want["status"])


def check_traces(base, summary):
    inst = summary["run"]
    b = summary["base_s"]
    tid, lid = summary["trace_ids"]["main"], summary["trace_ids"]["linked"]
    sid = summary["span_ids"]
    run_attr = {"sonde.run": sv(inst)}
    parent = {
        "traceId": tid, "spanId": sid["parent"], "name": "sonde-parent", "kind": 2,
        "start": ns(b, 100000123), "end": ns(b, 900000456),
        "attributes": dict(run_attr, **{
            "attr.string": sv("hello"), "attr.int": iv(42), "attr.negint": iv(-7),
            "attr.double": {"doubleValue": 3.25}, "attr.bool": {"boolValue": True},
            "attr.strings": {"arrayValue": {"values": [sv("a"), sv("b")]}},
            "attr.ints": {"arrayValue": {"values": [iv(1), iv(2), iv(3)]}},
            "attr.kvlist": {"kvlistValue": {"values": [
                {"key": "inner.str", "value": sv("x")},
                {"key": "inner.int", "value": iv(7)},
                {"key": "inner.list", "value": {"arrayValue": {"values": [sv("p"), sv("q")]}}}]}},
            "attr.bytes": {"bytesValue": base64.b64encode(BYTES).decode()},
        }),
        "events": [
            {"name": "sonde-event-1", "time": ns(b, 150000000),
             "attributes": {"ev.string": sv("e1"), "ev.int": iv(5)}},
            {"name": "sonde-event-2", "time": ns(b, 160000001),
             "attributes": {"ev.bool": {"boolValue": False}}},
        ],
        "status": {"code": 2, "message": "boom"},
    }
    child = {
        "traceId": tid, "spanId": sid["child"], "parentSpanId": sid["parent"],
        "name": "sonde-child", "kind": 3, "start": ns(b, 200000000), "end": ns(b, 300000000),
        "attributes": dict(run_attr, **{"peer.service": sv("db")}),
        "links": [{"traceId": lid, "spanId": sid["linked"],
                   "attributes": {"link.kind": sv("follows")}}],
        "status": {"code": 1, "message": ""},
    }
    linked = {
        "traceId": lid, "spanId": sid["linked"], "name": "sonde-linked", "kind": 1,
        "start": ns(b, 1000), "end": ns(b, 2000), "attributes": run_attr,
        "status": {"code": 0, "message": ""},
    }
    want_res = want_attrs({
        "service.name": sv("sonde-e2e"), "service.namespace": sv("shop"),
        "service.instance.id": sv(inst), "deployment.environment.name": sv("test"),
        "host.name": sv("sonde-e2e-host"), "sonde.run": sv(inst),
    })
    problems = []
    for trace_id, wants in ((tid, [parent, child]), (lid, [linked])):
        _, spans = get_trace(base, trace_id, len(wants))
        by_id = {}
        for res, scope, sp in spans:
            by_id.setdefault((sp.get("spanId") or "").lower(), []).append((res, scope, sp))
        if len(spans) != len(wants):
            problems.append("trace %s: %d spans, expected %d: %r"
                            % (trace_id, len(spans), len(wants),
                               [(s.get("name"), s.get("spanId")) for _, _, s in spans]))
        for w in wants:
            found = by_id.get(w["spanId"], [])
            if len(found) != 1:
                problems.append("span %s (%s): found %d times" % (w["spanId"], w["name"], len(found)))
                continue
            res, scope, sp = found[0]
            check_span(sp, w, w["name"], problems)
            if norm_attrs(res.get("attributes")) != want_res:
                problems.append("%s: resource attributes %r, expected %r"
                                % (w["name"], norm_attrs(res.get("attributes")), want_res))
            if (scope.get("name"), scope.get("version")) != ("sonde-e2e-tracer", "2.3.4"):
                problems.append("%s: scope %r" % (w["name"], scope))
    sl.check(not problems, "trace checks for %s:\n    %s" % (inst, "\n    ".join(problems)))


# --------------------------------------------------------------------------


def main():
    sl.sonde_bin()
    node = require_node()
    srv = sl.Server()
    cases = sl.Cases()
    run_id = "e2e%d" % (int(time.time() * 1000) % 10 ** 9)
    print("run id %s" % run_id, flush=True)
    try:
        srv.start()
        summaries = {}
        items = {}  # RUNS entry -> sonde_otlp_items_total before, after

        def emit(key):
            inst = "%s-%s" % (run_id, "-".join(key))
            before = otlp_items(srv.base)
            summaries[key] = run_emit(node, srv.base, key[0], key[1], key[2], inst)
            items[key] = (before, otlp_items(srv.base))

        for i, key in enumerate(RUNS):
            tag = "/".join(key)
            cases.run("%s: emit.js runs and prints its summary" % tag, emit, key)
            s = summaries.get(key)
            if s is None:
                continue
            inst = s["run"]
            cases.run("%s: metrics exporter reports success" % tag, check_exports, s, "metrics")
            cases.run("%s: metrics queryable under the spec's names and labels" % tag,
                      check_metrics, srv.base, inst)
            if i == 0:
                cases.run("%s: spec: unit \"1\" on a counter -> _ratio_total" % tag,
                          check_spec_unit_one_counter, srv.base, inst)
                cases.run("%s: spec: label names collapse '_' runs, keep a leading '_'" % tag,
                          check_spec_label_names, srv.base, inst)
            cases.run("%s: trace exporter reports success" % tag, check_exports, s, "traces")
            cases.run("%s: traces come back by id with every attribute, event, link" % tag,
                      check_traces, srv.base, s)
            cases.run("%s: logs exporter reports success" % tag, check_exports, s, "logs")
            before, after = items.get(key, ({}, {}))
            cases.run("%s: sonde counted 2 log records and 3 spans accepted" % tag,
                      lambda b=before, a=after: (check_items(b, a, "log_records", 2),
                                                 check_items(b, a, "spans", 3)))

        def after_restart(how):
            # the first run that got through: its traces and metrics are durable
            done = [x for x in summaries.values() if x.get("ok")]
            sl.check(done, "no emit.js run succeeded, nothing to check after a restart")
            if how == "SIGTERM":
                sl.check_eq(srv.stop(), 0, "SIGTERM exit code")
            else:
                srv.kill9()
            srv.start()
            for x in done[:2]:
                check_traces(srv.base, x)
                check_metrics(srv.base, x["run"])

        cases.run("traces and metrics after a SIGTERM restart", after_restart, "SIGTERM")
        cases.run("traces and metrics after kill -9 and replay", after_restart, "kill -9")

        def still_serving():
            st, _, _ = sl.http_request("GET", srv.base + "/-/healthy")
            sl.check_eq(st, 200, "/-/healthy after all transports")
            sl.check(srv.alive(), "sonde still running")

        cases.run("server still serving", still_serving)
        cases.finish()
    finally:
        srv.cleanup()


if __name__ == "__main__":
    sl.run_main(main)
