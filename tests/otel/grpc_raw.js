#!/usr/bin/env node
'use strict';
/*
 * grpc_raw.js - a raw gRPC-over-h2c client built on Node's core http2 module
 * (no dependencies), for tests/integration/test_otlp_bad_input.py. It sends
 * exactly the bytes it is given, so it can send what a real gRPC client
 * never would: a length prefix larger than the cap, a truncated frame, a
 * compressed flag with a gzip bomb behind it, a stream left open.
 *
 * Input (stdin, JSON):
 *   {"url": "http://127.0.0.1:PORT",
 *    "requests": [{"path": "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
 *                  "headers": {"grpc-encoding": "gzip", ...},   (optional)
 *                  "body_b64": "<gRPC frame(s), base64>",
 *                  "end": true,              (false: leave the request stream open)
 *                  "new_session": false,     (true: a fresh connection for this one)
 *                  "pad_bytes": 0,           (then this many zero bytes, with backpressure;
 *                                             the answer is taken once all are written)
 *                  "timeout_ms": 10000}]}
 * Requests run one after the other, on one HTTP/2 connection unless
 * new_session says otherwise. content-type application/grpc and te: trailers
 * are sent unless headers override them.
 *
 * Output (stdout, JSON): {"results": [{"status", "headers", "trailers",
 * "grpc_status" (from the trailers, or from the headers of a trailers-only
 * answer), "grpc_message" (percent-decoded), "body_b64", "error", "ms",
 * "session_closed"}]}. Exit 0 when every request got an answer or a
 * recorded error; 2 on the overall timeout.
 */

const http2 = require('http2');

function readStdin() {
  return new Promise((resolve, reject) => {
    const chunks = [];
    process.stdin.on('data', (c) => chunks.push(c));
    process.stdin.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    process.stdin.on('error', reject);
  });
}

function percentDecode(s) {
  if (typeof s !== 'string') return s;
  return s.replace(/%([0-9A-Fa-f]{2})/g, (_, h) => String.fromCharCode(parseInt(h, 16)));
}

function plainHeaders(h) {
  const out = {};
  for (const [k, v] of Object.entries(h || {})) {
    if (typeof k === 'string') out[k] = Array.isArray(v) ? v.join(', ') : String(v);
  }
  return out;
}

function connect(url) {
  return new Promise((resolve) => {
    const s = http2.connect(url);
    const state = { session: s, closed: false, error: null };
    s.on('error', (e) => { state.error = String(e.message || e); });
    s.on('close', () => { state.closed = true; });
    s.on('goaway', (code) => { state.goaway = code; });
    s.once('connect', () => resolve(state));
    s.once('error', () => resolve(state));
  });
}

function one(state, rq) {
  return new Promise((resolve) => {
    const t0 = Date.now();
    const res = {
      status: null, headers: {}, trailers: {}, grpc_status: null, grpc_message: null,
      body_b64: '', error: null, ms: 0, session_closed: false,
    };
    let done = false;
    const chunks = [];
    let stream;
    const finish = (err) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      if (err && !res.error) res.error = err;
      res.body_b64 = Buffer.concat(chunks).toString('base64');
      res.ms = Date.now() - t0;
      res.session_closed = state.closed;
      const src = Object.keys(res.trailers).length ? res.trailers : res.headers;
      if (src['grpc-status'] !== undefined) res.grpc_status = Number(src['grpc-status']);
      if (src['grpc-message'] !== undefined) res.grpc_message = percentDecode(src['grpc-message']);
      if (stream && !stream.closed) {
        try { stream.close(http2.constants.NGHTTP2_CANCEL); } catch (e) { /* gone */ }
      }
      resolve(res);
    };
    const timer = setTimeout(() => finish('timeout after ' + (rq.timeout_ms || 10000) + ' ms'),
      rq.timeout_ms || 10000);
    if (state.closed || state.session.destroyed) {
      finish('session closed before the request: ' + (state.error || 'closed'));
      return;
    }
    const headers = Object.assign({
      ':method': 'POST',
      ':path': rq.path,
      'content-type': 'application/grpc',
      te: 'trailers',
    }, rq.headers || {});
    try {
      stream = state.session.request(headers, { endStream: false });
    } catch (e) {
      finish('request failed: ' + String(e.message || e));
      return;
    }
    stream.on('response', (h) => {
      res.status = Number(h[':status']);
      res.headers = plainHeaders(h);
    });
    stream.on('trailers', (h) => { res.trailers = plainHeaders(h); });
    stream.on('data', (c) => chunks.push(c));
    // With pad_bytes the answer is only taken once every byte was written
    // (the server must keep reading a stream it has already answered).
    let ended = false;
    let written = !rq.pad_bytes;
    stream.on('end', () => { ended = true; if (written) finish(null); });
    stream.on('close', () => finish(stream.rstCode ? 'stream reset, code ' + stream.rstCode : null));
    stream.on('error', (e) => {
      // a reset after the answer is the server refusing the rest of the body
      if (res.status === null) res.error = String(e.message || e);
    });
    const body = Buffer.from(rq.body_b64 || '', 'base64');
    if (rq.pad_bytes) {
      // body, then pad_bytes zeros in 64 KiB writes that honour backpressure
      // (Node's own session memory cap would reset the stream otherwise)
      const chunk = Buffer.alloc(65536);
      let left = rq.pad_bytes;
      const pump = () => {
        while (left > 0) {
          const n = Math.min(left, chunk.length);
          left -= n;
          if (!stream.write(n === chunk.length ? chunk : chunk.subarray(0, n))) {
            stream.once('drain', pump);
            return;
          }
        }
        res.pad_written = rq.pad_bytes;
        if (rq.end === false) { written = true; if (ended) finish(null); return; }
        stream.end(() => { written = true; if (ended) finish(null); });
      };
      stream.write(body);
      pump();
    } else if (rq.end === false) {
      stream.write(body);
    } else {
      stream.end(body);
    }
  });
}

async function main() {
  const input = JSON.parse(await readStdin());
  const results = [];
  let state = await connect(input.url);
  for (const rq of input.requests) {
    if (rq.new_session || state.closed || state.session.destroyed) {
      if (!state.session.destroyed) state.session.close();
      state = await connect(input.url);
    }
    results.push(await one(state, rq));
  }
  if (!state.session.destroyed) state.session.close();
  process.stdout.write(JSON.stringify({ results }) + '\n');
  process.exit(0);
}

const killer = setTimeout(() => {
  process.stdout.write(JSON.stringify({ error: 'overall timeout' }) + '\n');
  process.exit(2);
}, Number(process.env.GRPC_RAW_TIMEOUT_MS || 120000));
killer.unref();

main().catch((e) => {
  process.stdout.write(JSON.stringify({ error: String(e && e.stack ? e.stack : e) }) + '\n');
  process.exit(1);
});
