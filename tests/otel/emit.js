#!/usr/bin/env node
'use strict';
/*
 * emit.js - sends traces, metrics of every instrument type and logs to a
 * running sonde through the real OpenTelemetry JS SDK and its OTLP exporters,
 * then prints a JSON summary on stdout (one line). Used by
 * tests/integration/test_otel_sdk.py.
 *
 *   node emit.js --http http://127.0.0.1:PORT --grpc http://127.0.0.1:PORT \
 *                --transport proto|json|grpc --run RUNID [--compression none|gzip]
 *                [--temporality cumulative|delta] [--timeout-ms 30000]
 *
 * proto: exporter-*-otlp-proto (OTLP/HTTP protobuf); json: exporter-*-otlp-http
 * (OTLP/HTTP JSON); grpc: exporter-*-otlp-grpc (OTLP/gRPC over h2c).
 *
 * Everything the test asserts is derived from RUNID and the base time printed
 * in the summary:
 *   resource  service.name=sonde-e2e, service.namespace=shop,
 *             service.instance.id=RUNID, deployment.environment.name=test,
 *             host.name=sonde-e2e-host, sonde.run=RUNID
 *   traces    trace A: "sonde-parent" (SERVER, ERROR "boom", attributes of
 *             every AnyValue kind, two events) -> child "sonde-child" (CLIENT,
 *             OK, link to trace B); trace B: "sonde-linked" (INTERNAL).
 *             Timestamps are explicit: base + fixed nanosecond offsets.
 *             The JS API only takes primitive and array attribute values on
 *             spans, so the exporter wrapper adds the kvlist and bytes
 *             attributes to the finished span; the SDK's own OTLP encoder
 *             then serialises them.
 *   metrics   see emitMetrics(): every instrument type, units By, 1, {request},
 *             s, ms, Cel, By/s, typed attributes; two exports (force-flush
 *             and shutdown). Temporality set explicitly: cumulative (the
 *             default) or delta (counters and histograms; the sums of the
 *             deltas equal the cumulative values).
 *   logs      two records (WARN with string body, INFO with kvlist body), with
 *             attributes of every AnyValue kind and the parent span's context.
 *
 * Summary: {"ok", "run", "transport", "compression", "base_s", "trace_ids",
 * "span_ids", "results": {"traces": [..], "metrics": [..], "logs": [..]},
 * "errors": {signal: message of a rejected forceFlush/shutdown}, "diag": [..]}
 * where each result is {"code": 0|1, "error": msg|null, "items": n} from the
 * exporter's export() callback (ExportResultCode: 0 SUCCESS, 1 FAILED) and
 * diag holds the SDK's warnings and errors, each tagged with the signal being
 * emitted ("[metrics] warn: ..."; a partial_success is logged there). Exit status 0 only if every export succeeded and each
 * signal was exported at least once; 2 on the overall timeout.
 */

function parseArgs(argv) {
  const a = { compression: 'none', temporality: 'cumulative', timeoutMs: 30000 };
  for (let i = 2; i < argv.length; i++) {
    const k = argv[i];
    const v = argv[i + 1];
    switch (k) {
      case '--http': a.http = v; i++; break;
      case '--grpc': a.grpc = v; i++; break;
      case '--transport': a.transport = v; i++; break;
      case '--run': a.run = v; i++; break;
      case '--compression': a.compression = v; i++; break;
      case '--temporality': a.temporality = v; i++; break;
      case '--timeout-ms': a.timeoutMs = Number(v); i++; break;
      default:
        throw new Error('unknown argument ' + k);
    }
  }
  a.http = a.http || process.env.SONDE_OTLP_HTTP;
  a.grpc = a.grpc || process.env.SONDE_OTLP_GRPC || a.http;
  a.transport = a.transport || process.env.SONDE_OTLP_TRANSPORT;
  a.run = a.run || process.env.SONDE_RUN_ID;
  if (!a.http || !a.transport || !a.run) {
    throw new Error('usage: emit.js --http URL [--grpc URL] --transport proto|json|grpc --run ID');
  }
  if (!['proto', 'json', 'grpc'].includes(a.transport)) {
    throw new Error('transport must be proto, json or grpc');
  }
  if (!['none', 'gzip'].includes(a.compression)) {
    throw new Error('compression must be none or gzip');
  }
  if (!['cumulative', 'delta'].includes(a.temporality)) {
    throw new Error('temporality must be cumulative or delta');
  }
  return a;
}

let args;
try {
  args = parseArgs(process.argv);
} catch (e) {
  process.stderr.write(String(e.message) + '\n');
  process.exit(64);
}

const summary = {
  ok: false,
  run: args.run,
  transport: args.transport,
  compression: args.compression,
  temporality: args.temporality,
  base_s: 0,
  trace_ids: {},
  span_ids: {},
  results: { traces: [], metrics: [], logs: [] },
  diag: [],
};

let printed = false;
function finish(code) {
  if (!printed) {
    printed = true;
    process.stdout.write(JSON.stringify(summary) + '\n');
  }
  process.exit(code);
}

// Bounded: whatever hangs, the script ends.
const killer = setTimeout(() => {
  summary.error = 'timeout after ' + args.timeoutMs + ' ms';
  finish(2);
}, args.timeoutMs);

const api = require('@opentelemetry/api');
const { SeverityNumber } = require('@opentelemetry/api-logs');
const { resourceFromAttributes } = require('@opentelemetry/resources');
const { BasicTracerProvider, BatchSpanProcessor } = require('@opentelemetry/sdk-trace-base');
const { MeterProvider, PeriodicExportingMetricReader } = require('@opentelemetry/sdk-metrics');
const { LoggerProvider, BatchLogRecordProcessor } = require('@opentelemetry/sdk-logs');
const { AggregationTemporalityPreference } = require('@opentelemetry/exporter-metrics-otlp-http');

// SDK warnings and errors (partial success, export failures) go to the summary.
let currentSignal = '-';  // the signal being emitted, to tag the SDK's messages
const diagLine = (level, m) => {
  if (summary.diag.length < 20) {
    // first line only: the SDK logs whole stacks, often JSON-encoded
    const text = m.map((x) => (x && x.message ? x.message : String(x))).join(' ');
    summary.diag.push(('[' + currentSignal + '] ' + level + ': ' + text.split(/\n|\\n/)[0])
      .slice(0, 300));
  }
};
api.diag.setLogger({
  error: (...m) => diagLine('error', m),
  warn: (...m) => diagLine('warn', m),
  info: () => {},
  debug: () => {},
  verbose: () => {},
}, api.DiagLogLevel.WARN);

const PKG = {
  proto: {
    traces: '@opentelemetry/exporter-trace-otlp-proto',
    metrics: '@opentelemetry/exporter-metrics-otlp-proto',
    logs: '@opentelemetry/exporter-logs-otlp-proto',
  },
  json: {
    traces: '@opentelemetry/exporter-trace-otlp-http',
    metrics: '@opentelemetry/exporter-metrics-otlp-http',
    logs: '@opentelemetry/exporter-logs-otlp-http',
  },
  grpc: {
    traces: '@opentelemetry/exporter-trace-otlp-grpc',
    metrics: '@opentelemetry/exporter-metrics-otlp-grpc',
    logs: '@opentelemetry/exporter-logs-otlp-grpc',
  },
};

function exporterConfig(signal) {
  const cfg = { timeoutMillis: 10000, compression: args.compression };
  if (args.transport === 'grpc') {
    cfg.url = args.grpc.replace(/\/+$/, '');
  } else {
    cfg.url = args.http.replace(/\/+$/, '') + '/v1/' + signal;
  }
  if (signal === 'metrics') {
    cfg.temporalityPreference = args.temporality === 'delta'
      ? AggregationTemporalityPreference.DELTA : AggregationTemporalityPreference.CUMULATIVE;
  }
  return cfg;
}

function makeExporter(signal, mutate) {
  const mod = require(PKG[args.transport][signal]);
  const Cls = signal === 'traces' ? mod.OTLPTraceExporter
    : signal === 'metrics' ? mod.OTLPMetricExporter : mod.OTLPLogExporter;
  const inner = new Cls(exporterConfig(signal));
  // Records every export() result; everything else goes to the real exporter.
  return new Proxy(inner, {
    get(target, prop) {
      if (prop === 'export') {
        return (items, cb) => {
          if (mutate) mutate(items);
          const n = Array.isArray(items) ? items.length
            : (items && items.scopeMetrics ? items.scopeMetrics.length : 0);
          target.export(items, (r) => {
            const err = r && r.error ? String(r.error.message || r.error) : null;
            summary.results[signal].push({ code: r ? r.code : -1, error: err, items: n });
            cb(r);
          });
        };
      }
      const v = target[prop];
      return typeof v === 'function' ? v.bind(target) : v;
    },
  });
}

const RUN = args.run;
const resource = resourceFromAttributes({
  'service.name': 'sonde-e2e',
  'service.namespace': 'shop',
  'service.instance.id': RUN,
  'deployment.environment.name': 'test',
  'host.name': 'sonde-e2e-host',
  'sonde.run': RUN,
});

// Base time: whole seconds, a little in the past; offsets in nanoseconds.
const BASE_S = Math.floor(Date.now() / 1000) - 5;
summary.base_s = BASE_S;
const at = (ns) => [BASE_S + Math.floor(ns / 1e9), ns % 1e9];

const BYTES = Uint8Array.from([0x00, 0x01, 0xfe, 0xff, 0x73, 0x6f]);
const KVLIST = { 'inner.str': 'x', 'inner.int': 7, 'inner.list': ['p', 'q'] };

async function emitTraces() {
  const exporter = makeExporter('traces', (spans) => {
    for (const s of spans) {
      if (s.name === 'sonde-parent') {
        s.attributes['attr.kvlist'] = KVLIST;
        s.attributes['attr.bytes'] = BYTES;
      }
    }
  });
  const provider = new BasicTracerProvider({
    resource,
    spanProcessors: [new BatchSpanProcessor(exporter, { scheduledDelayMillis: 60000 })],
  });
  const tracer = provider.getTracer('sonde-e2e-tracer', '2.3.4');

  const linked = tracer.startSpan('sonde-linked', {
    kind: api.SpanKind.INTERNAL,
    startTime: at(1000),
    attributes: { 'sonde.run': RUN },
  }, api.ROOT_CONTEXT);
  linked.end(at(2000));

  const parent = tracer.startSpan('sonde-parent', {
    kind: api.SpanKind.SERVER,
    startTime: at(100000123),
    attributes: {
      'sonde.run': RUN,
      'attr.string': 'hello',
      'attr.int': 42,
      'attr.negint': -7,
      'attr.double': 3.25,
      'attr.bool': true,
      'attr.strings': ['a', 'b'],
      'attr.ints': [1, 2, 3],
    },
  }, api.ROOT_CONTEXT);
  parent.addEvent('sonde-event-1', { 'ev.string': 'e1', 'ev.int': 5 }, at(150000000));
  parent.addEvent('sonde-event-2', { 'ev.bool': false }, at(160000001));

  const child = tracer.startSpan('sonde-child', {
    kind: api.SpanKind.CLIENT,
    startTime: at(200000000),
    attributes: { 'sonde.run': RUN, 'peer.service': 'db' },
    links: [{ context: linked.spanContext(), attributes: { 'link.kind': 'follows' } }],
  }, api.trace.setSpan(api.ROOT_CONTEXT, parent));
  child.setStatus({ code: api.SpanStatusCode.OK });
  child.end(at(300000000));

  parent.setStatus({ code: api.SpanStatusCode.ERROR, message: 'boom' });
  parent.end(at(900000456));

  summary.trace_ids = { main: parent.spanContext().traceId, linked: linked.spanContext().traceId };
  summary.span_ids = {
    parent: parent.spanContext().spanId,
    child: child.spanContext().spanId,
    linked: linked.spanContext().spanId,
  };
  await provider.forceFlush();
  await provider.shutdown();
}

async function emitMetrics() {
  const exporter = makeExporter('metrics');
  const reader = new PeriodicExportingMetricReader({
    exporter, exportIntervalMillis: 60000, exportTimeoutMillis: 15000,
  });
  const provider = new MeterProvider({ resource, readers: [reader] });
  const meter = provider.getMeter('sonde-e2e-meter', '1.2.3');
  const common = { 'sonde.run': RUN, 'http.request.method': 'GET' };

  // Counter, unit By, with attributes of every primitive kind and an array.
  const sent = meter.createCounter('sonde.e2e.sent', { unit: 'By', description: 'bytes sent' });
  sent.add(100, Object.assign({
    'attr.int': 42, 'attr.double': 1.5, 'attr.bool': true, 'attr.strings': ['a', 'b'],
  }, common));
  sent.add(23, Object.assign({
    'attr.int': 42, 'attr.double': 1.5, 'attr.bool': true, 'attr.strings': ['a', 'b'],
  }, common));
  // Counter, unit "1".
  meter.createCounter('sonde.e2e.items', { unit: '1' }).add(7, common);
  // Counter, curly-brace annotation unit.
  meter.createCounter('sonde.e2e.requests', { unit: '{request}' }).add(3, common);
  // Counter with a name already ending in "total" and a unit already in the name.
  meter.createCounter('sonde.e2e.seconds.total', { unit: 's' }).add(2.5, common);
  // Attribute keys that sanitise: consecutive invalid characters, leading underscore.
  meter.createCounter('sonde.e2e.sanitise', { unit: '' }).add(1, Object.assign({
    'weird..key': 'w', '_private': 'p',
  }, common));
  // UpDownCounter -> non-monotonic sum -> gauge.
  const depth = meter.createUpDownCounter('sonde.e2e.queue.depth', { unit: '{item}' });
  depth.add(10, common);
  depth.add(-4, common);
  // Histogram, unit ms, explicit buckets.
  const dur = meter.createHistogram('sonde.e2e.duration', {
    unit: 'ms', advice: { explicitBucketBoundaries: [5, 10, 25] },
  });
  for (const v of [3, 7, 7, 30]) dur.record(v, common);
  // Synchronous gauge, unit Cel.
  meter.createGauge('sonde.e2e.temperature', { unit: 'Cel' }).record(21.5, common);
  // Observable gauge, unit 1 -> _ratio.
  meter.createObservableGauge('sonde.e2e.utilization', { unit: '1' })
    .addCallback((r) => r.observe(0.75, common));
  // Observable gauge, rate unit By/s.
  meter.createObservableGauge('sonde.e2e.throughput', { unit: 'By/s' })
    .addCallback((r) => r.observe(2048, common));
  // Observable counter, unit s.
  meter.createObservableCounter('sonde.e2e.cpu.time', { unit: 's' })
    .addCallback((r) => r.observe(12.5, common));
  // Observable up-down counter, unit By.
  meter.createObservableUpDownCounter('sonde.e2e.memory', { unit: 'By' })
    .addCallback((r) => r.observe(4096, common));

  await provider.forceFlush();
  await provider.shutdown();
}

async function emitLogs(spanCtx) {
  const exporter = makeExporter('logs');
  const provider = new LoggerProvider({
    resource,
    processors: [new BatchLogRecordProcessor({ exporter, scheduledDelayMillis: 60000 })],
  });
  const logger = provider.getLogger('sonde-e2e-logger', '3.4.5');
  const ctx = api.trace.setSpanContext(api.ROOT_CONTEXT, spanCtx);
  logger.emit({
    timestamp: at(400000000),
    severityNumber: SeverityNumber.WARN,
    severityText: 'WARN',
    body: 'sonde e2e log ' + RUN,
    context: ctx,
    attributes: {
      'sonde.run': RUN,
      'attr.string': 'hello',
      'attr.int': 42,
      'attr.double': 3.25,
      'attr.bool': true,
      'attr.strings': ['a', 'b'],
      'attr.kvlist': KVLIST,
      'attr.bytes': BYTES,
    },
  });
  logger.emit({
    timestamp: at(500000000),
    severityNumber: SeverityNumber.INFO,
    severityText: 'INFO',
    body: { msg: 'structured', n: 3, ok: true },
    attributes: { 'sonde.run': RUN },
  });
  await provider.forceFlush();
  await provider.shutdown();
}

async function main() {
  // Each signal runs even when another one failed; a rejected flush or
  // shutdown is recorded beside the export results.
  summary.errors = {};
  const guard = async (sig, fn) => {
    currentSignal = sig;
    try {
      return await fn();
    } catch (e) {
      summary.errors[sig] = String(e && e.message ? e.message : e);
      return undefined;
    }
  };
  await guard('traces', emitTraces);
  const spanCtx = {
    traceId: summary.trace_ids.main, spanId: summary.span_ids.parent,
    traceFlags: api.TraceFlags.SAMPLED,
  };
  await guard('metrics', emitMetrics);
  await guard('logs', () => emitLogs(spanCtx));
  let ok = true;
  for (const sig of ['traces', 'metrics', 'logs']) {
    const rs = summary.results[sig];
    if (rs.length === 0 || rs.some((r) => r.code !== 0) || summary.errors[sig]) ok = false;
  }
  summary.ok = ok;
  clearTimeout(killer);
  finish(ok ? 0 : 1);
}

main().catch((e) => {
  summary.error = String(e && e.stack ? e.stack : e);
  finish(1);
});
