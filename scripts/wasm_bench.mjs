// The filter module in V8, without Envoy: a minimal proxy-wasm host in Node.js drives the built
// `mesh_guardrail.wasm` through whole requests (context create, request headers, body, response
// headers, body, log, done, delete) and reports the median time per request. Envoy runs the
// same module in V8 (TurboFan only: `--no-liftoff` here too), so this is the filter's own cost
// per request inside Envoy, minus Envoy's host functions, and far less noisy than wrk.
//
//   node --no-liftoff scripts/wasm_bench.mjs [--wasm PATH] [--config JSON] [--sizes 4k,64k]
//        [--secs 1] [--body benign|pii|both] [--check]
//
// --check  run one request of each kind and print what the filter did (headers it set, body
//          rewritten or not), to see that the host is faithful enough to trust the timings.
// --hostcalls  count the host functions the module calls per request, for each body (how
//          benches/reference-filter's `mirror` mode is checked against mesh-guardrail).
// --memory  per body, on a fresh VM: the growth of the VM's linear memory and the time of the
//          request (first and median of --runs N more); scripts/worst_case.py drives it.
// --flush-kb N  sweep N KB of other memory between requests and time each request alone: the
//          filter with cold caches, as in Envoy, where Envoy's own work runs between two calls
//          into the filter (4096 evicts the caches of the machines here).
//          With --cycle too: each request of the agent load after a sweep.
// --cycle PASSES --bodies-file PATH  the agent load (scripts/agent_load.py bodies, in order, the
//          marker ~~EPOCH~~ replaced by the pass number as bench/agent.lua does) for PASSES passes
//          on one VM: median us per request of each pass and the VM's linear memory after each
//          (the verdict cache fills over the passes: this is the VM memory with the cache full).
// Bodies come from scripts/bench_bodies.py (the same generator as the Envoy benchmark), passed
// as files: --body-file LABEL=PATH (repeatable). Without them a small built-in body is used.
import fs from 'node:fs';
import { randomFillSync } from 'node:crypto';

const args = process.argv.slice(2);
function opt(name, dflt) {
  const i = args.indexOf(name);
  return i >= 0 && i + 1 < args.length ? args[i + 1] : dflt;
}
function opts(name) {
  const out = [];
  args.forEach((a, i) => { if (a === name && i + 1 < args.length) out.push(args[i + 1]); });
  return out;
}
const WASM = opt('--wasm', 'target/wasm32-wasip1/release/mesh_guardrail.wasm');
const CONFIG = opt('--config', '{}');
const SECS = Number(opt('--secs', '1'));
const CHECK = args.includes('--check');
const HOSTCALLS = args.includes('--hostcalls');
const FLUSH_KB = Number(opt('--flush-kb', '0'));
const MEMORY = args.includes('--memory');
const MEMORY_RUNS = Number(opt('--runs', '5'));
const calls = new Map(); // host function -> calls, with --hostcalls
const TOKEN_KEY = 'bench-only-not-a-secret';

const RESPONSE = JSON.stringify({
  id: 'chatcmpl-bench', object: 'chat.completion', created: 1, model: 'bench-model',
  choices: [{ index: 0, message: { role: 'assistant', content: 'OK.' }, finish_reason: 'stop' }],
  usage: { prompt_tokens: 10, completion_tokens: 2, total_tokens: 12 },
});

// ---- a minimal proxy-wasm 0.2.1 host
const OK = 0, NOT_FOUND = 1, BAD_ARGUMENT = 2;
const MAP = { REQ: 0, REQ_TRAILERS: 1, RESP: 2, RESP_TRAILERS: 3 };
const BUF = { REQ_BODY: 0, RESP_BODY: 1, VM_CONFIG: 6, PLUGIN_CONFIG: 7 };

let inst = null;
const enc = new TextEncoder();
const dec = new TextDecoder();
const state = {
  maps: { 0: [], 1: [], 2: [], 3: [] },
  bufs: { 0: new Uint8Array(), 1: new Uint8Array(), 6: new Uint8Array(), 7: enc.encode(CONFIG) },
  metrics: new Map(), metricNames: [], logs: [], localReply: null, shared: new Map(),
};

const mem = () => new Uint8Array(inst.exports.memory.buffer);
const dv = () => new DataView(inst.exports.memory.buffer);
const str = (p, n) => dec.decode(mem().subarray(p, p + n));
const bytes = (p, n) => mem().slice(p, p + n);
function give(bytesOut, retPtr, retSize) {
  const n = bytesOut.length;
  const p = n === 0 ? 0 : inst.exports.proxy_on_memory_allocate(n);
  if (n) mem().set(bytesOut, p);
  dv().setUint32(retPtr, p, true);
  dv().setUint32(retSize, n, true);
  return OK;
}
const serialized = new WeakMap(); // header arrays are replaced, never mutated, when changed
function serializeMap(pairs) {
  const hit = serialized.get(pairs);
  if (hit) return hit;
  let size = 4 + pairs.length * 8;
  const kv = pairs.map(([k, v]) => [enc.encode(k), enc.encode(v)]);
  for (const [k, v] of kv) size += k.length + v.length + 2;
  const out = new Uint8Array(size);
  const d = new DataView(out.buffer);
  d.setUint32(0, kv.length, true);
  kv.forEach(([k, v], i) => { d.setUint32(4 + i * 8, k.length, true); d.setUint32(8 + i * 8, v.length, true); });
  let p = 4 + kv.length * 8;
  for (const [k, v] of kv) { out.set(k, p); p += k.length + 1; out.set(v, p); p += v.length + 1; }
  serialized.set(pairs, out);
  return out;
}

const env = {
  proxy_log: (level, p, n) => { if (CHECK || level >= 4) state.logs.push([level, str(p, n)]); return OK; },
  proxy_get_log_level: (ret) => { dv().setUint32(ret, 2, true); return OK; },
  proxy_get_current_time_nanoseconds: (ret) => { dv().setBigUint64(ret, process.hrtime.bigint() + 1_700_000_000_000_000_000n, true); return OK; },
  proxy_get_header_map_pairs: (map, retP, retN) => give(serializeMap(state.maps[map] || []), retP, retN),
  proxy_get_header_map_value: (map, kp, kn, retP, retN) => {
    const k = str(kp, kn).toLowerCase();
    const h = (state.maps[map] || []).find(([n]) => n === k);
    return h ? give(enc.encode(h[1]), retP, retN) : NOT_FOUND;
  },
  proxy_replace_header_map_value: (map, kp, kn, vp, vn) => {
    const k = str(kp, kn).toLowerCase(), v = str(vp, vn);
    const m = state.maps[map].filter(([n]) => n !== k); m.push([k, v]); state.maps[map] = m; return OK;
  },
  proxy_add_header_map_value: (map, kp, kn, vp, vn) => { state.maps[map] = [...state.maps[map], [str(kp, kn).toLowerCase(), str(vp, vn)]]; return OK; },
  proxy_remove_header_map_value: (map, kp, kn) => {
    const k = str(kp, kn).toLowerCase(); state.maps[map] = state.maps[map].filter(([n]) => n !== k); return OK;
  },
  proxy_set_header_map_pairs: () => OK,
  proxy_get_buffer_bytes: (t, start, max, retP, retN) => {
    start >>>= 0; max >>>= 0; // u32 on the wire (the SDK asks for usize::MAX bytes of the config)
    const b = state.bufs[t];
    if (!b) return NOT_FOUND;
    return give(b.subarray(Math.min(start, b.length), Math.min(b.length, start + max)), retP, retN);
  },
  proxy_set_buffer_bytes: (t, start, size, p, n) => {
    const b = state.bufs[t] || new Uint8Array();
    const nb = new Uint8Array(b.length - Math.min(size, b.length - start) + n);
    nb.set(b.subarray(0, start)); nb.set(bytes(p, n), start); nb.set(b.subarray(start + size), start + n);
    state.bufs[t] = nb; return OK;
  },
  proxy_define_metric: (type, p, n, ret) => {
    const name = str(p, n);
    let id = state.metricNames.indexOf(name);
    if (id < 0) { id = state.metricNames.length; state.metricNames.push(name); state.metrics.set(id, 0); }
    dv().setUint32(ret, id + 1, true); return OK;
  },
  proxy_increment_metric: (id, delta) => { state.metrics.set(id - 1, (state.metrics.get(id - 1) || 0) + Number(delta)); return OK; },
  proxy_record_metric: () => OK,
  proxy_get_metric: () => NOT_FOUND,
  proxy_send_local_response: (status, dp, dn, bp, bn, hp, hn, grpc) => { state.localReply = { status, body: str(bp, bn) }; return OK; },
  proxy_get_shared_data: (kp, kn, retP, retN, retCas) => {
    const e = state.shared.get(str(kp, kn));
    if (!e) return NOT_FOUND;
    dv().setUint32(retCas, e.cas, true); return give(e.value, retP, retN);
  },
  proxy_set_shared_data: (kp, kn, vp, vn, cas) => {
    const k = str(kp, kn), e = state.shared.get(k);
    if (cas !== 0 && (e ? e.cas !== cas : cas !== 0xffffffff)) return 6; // CAS_MISMATCH
    state.shared.set(k, { value: bytes(vp, vn), cas: e ? e.cas + 1 : 1 }); return OK;
  },
  proxy_get_property: () => NOT_FOUND,
  proxy_set_property: () => OK,
  proxy_set_tick_period_milliseconds: () => OK,
  proxy_set_effective_context: () => OK,
  proxy_continue_stream: () => OK,
  proxy_close_stream: () => OK,
  proxy_done: () => OK,
};
const wasi = {
  environ_sizes_get: (cnt, size) => {
    const e = enc.encode(`GUARDRAIL_TOKEN_KEY=${TOKEN_KEY}\0`);
    dv().setUint32(cnt, 1, true); dv().setUint32(size, e.length, true); return 0;
  },
  environ_get: (ptrs, buf) => {
    const e = enc.encode(`GUARDRAIL_TOKEN_KEY=${TOKEN_KEY}\0`);
    mem().set(e, buf); dv().setUint32(ptrs, buf, true); return 0;
  },
  random_get: (p, n) => { randomFillSync(mem().subarray(p, p + n)); return 0; },
  fd_write: (fd, iovs, n, ret) => {
    let w = 0;
    for (let i = 0; i < n; i++) { const len = dv().getUint32(iovs + i * 8 + 4, true); w += len; }
    dv().setUint32(ret, w, true); return 0;
  },
  proc_exit: (c) => { throw new Error('proc_exit ' + c); },
  clock_time_get: (id, prec, ret) => { dv().setBigUint64(ret, process.hrtime.bigint(), true); return 0; },
};
const stub = (name) => () => { if (CHECK) console.error('unimplemented host call ' + name); return BAD_ARGUMENT; };
const counted = (ns, f, k) => (HOSTCALLS ? (...a) => { calls.set(ns + k, (calls.get(ns + k) || 0) + 1); return f(...a); } : f);
const envProxy = new Proxy(env, { get: (t, k) => counted('', t[k] || stub(k), k) });
const wasiProxy = new Proxy(wasi, { get: (t, k) => counted('wasi.', t[k] || stub(k), k) });

const module = new WebAssembly.Module(fs.readFileSync(WASM));
let X = null;
// A fresh VM: instantiate, start, configure (--memory boots one per body).
function boot() {
  state.shared = new Map();
  inst = new WebAssembly.Instance(module, { env: envProxy, wasi_snapshot_preview1: wasiProxy });
  X = inst.exports;
  if (X._initialize) X._initialize();
  X.proxy_on_context_create(1, 0);
  if (!X.proxy_on_vm_start(1, 0)) throw new Error('proxy_on_vm_start failed');
  if (!X.proxy_on_configure(1, state.bufs[7].length)) {
    throw new Error('proxy_on_configure refused the config: ' + JSON.stringify(state.logs));
  }
}
boot();

let nextCtx = 2;
// Header maps as Envoy would hand them (the same x-request-id each time: the host's own cost
// of building maps stays out of the figures).
const reqHeaderCache = new Map();
function requestHeaders(body) {
  let h = reqHeaderCache.get(body);
  if (!h) {
    h = [[':method', 'POST'], [':path', '/v1/chat/completions'], [':authority', 'bench'], [':scheme', 'http'],
      ['content-type', 'application/json'], ['content-length', String(body.length)], ['user-agent', 'wasm-bench'],
      ['x-request-id', '0f5c2a64-8a61-4bde-9a43-3f1d2e7c9b10']];
    reqHeaderCache.set(body, h);
  }
  return h;
}
const RESP_BYTES = enc.encode(RESPONSE);
const RESP_HEADERS = [[':status', '200'], ['content-type', 'application/json'], ['content-length', String(RESP_BYTES.length)],
  ['date', 'Mon, 24 Nov 2026 00:00:00 GMT'], ['server', 'envoy']];
// One whole request; returns what the filter did.
function request(body) {
  const ctx = nextCtx++;
  state.localReply = null;
  state.maps[MAP.REQ] = requestHeaders(body);
  state.bufs[BUF.REQ_BODY] = body;
  X.proxy_on_context_create(ctx, 1);
  const a1 = X.proxy_on_request_headers(ctx, state.maps[MAP.REQ].length, 0);
  const a2 = X.proxy_on_request_body(ctx, body.length, 1);
  state.maps[MAP.RESP] = RESP_HEADERS;
  state.bufs[BUF.RESP_BODY] = RESP_BYTES;
  let a3 = 0, a4 = 0;
  if (!state.localReply) {
    a3 = X.proxy_on_response_headers(ctx, state.maps[MAP.RESP].length, 0);
    a4 = X.proxy_on_response_body(ctx, RESP_BYTES.length, 1);
  }
  X.proxy_on_log(ctx);
  X.proxy_on_done(ctx);
  X.proxy_on_delete(ctx);
  return { actions: [a1, a2, a3, a4], reply: state.localReply, reqBody: state.bufs[BUF.REQ_BODY],
    reqHeaders: state.maps[MAP.REQ], respHeaders: state.maps[MAP.RESP] };
}

// ---- bodies
const bodies = [];
for (const spec of opts('--body-file')) {
  const i = spec.indexOf('=');
  bodies.push([spec.slice(0, i), new Uint8Array(fs.readFileSync(spec.slice(i + 1)))]);
}
if (bodies.length === 0) {
  const text = 'Please summarise the attached notes about our quarterly planning meeting. '.repeat(50);
  bodies.push(['builtin', enc.encode(JSON.stringify({ model: 'm', messages: [{ role: 'user', content: text }] }))]);
}

// Cache flush for --flush-kb: one write per 64-byte line of a buffer larger than the caches.
const sweep = new Uint8Array(FLUSH_KB * 1024);
let sweepSeed = 1;
function flush() {
  for (let j = 0; j < sweep.length; j += 64) sweep[j] = (sweep[j] + sweepSeed) & 255;
  sweepSeed++;
}

const CYCLE = Number(opt('--cycle', '0'));
if (CYCLE) {
  const raw = fs.readFileSync(opt('--bodies-file', ''));
  const list = [];
  for (let pos = 0; pos < raw.length;) {
    const nl = raw.indexOf(10, pos);
    const len = Number(raw.subarray(pos, nl).toString());
    list.push(raw.subarray(nl + 1, nl + 1 + len).toString());
    pos = nl + 1 + len;
  }
  const before = inst.exports.memory.buffer.byteLength;
  const passes = [];
  for (let p = 1; p <= CYCLE; p++) {
    const epoch = String(p).padStart(9, '0').replace(/[0-9]/g, (d) => String.fromCharCode(97 + Number(d)));
    const bodiesOfPass = list.map((b) => enc.encode(b.split('~~EPOCH~~').join(epoch)));
    const times = [];
    let replies = 0;
    for (const body of bodiesOfPass) {
      if (FLUSH_KB) flush(); // caches cold, as in Envoy between two requests (--flush-kb)
      const s = process.hrtime.bigint();
      const r = request(body);
      times.push(Number(process.hrtime.bigint() - s) / 1e3);
      if (r.reply) replies++;
    }
    times.sort((a, b) => a - b);
    passes.push({ pass: p, median_us: +times[Math.floor(times.length / 2)].toFixed(1),
      memory_mib: +(inst.exports.memory.buffer.byteLength / 1048576).toFixed(2), local_replies: replies });
  }
  console.log(JSON.stringify({ config: CONFIG, flush_kb: FLUSH_KB, bodies: list.length, memory_before_mib: +(before / 1048576).toFixed(2), passes }));
  process.exit(0);
}

if (HOSTCALLS) {
  for (const [label, body] of bodies) {
    request(body); // first request: lazy set-up stays out of the count
    calls.clear();
    const N = 100;
    for (let i = 0; i < N; i++) request(body);
    console.log(JSON.stringify({ label, per_request: Object.fromEntries([...calls].sort().map(([k, v]) => [k, v / N])) }));
  }
  process.exit(0);
}

if (CHECK) {
  for (const [label, body] of bodies) {
    const r = request(body);
    const changed = Buffer.compare(Buffer.from(r.reqBody), Buffer.from(body)) !== 0;
    console.log(JSON.stringify({ label, actions: r.actions, reply: r.reply && r.reply.status,
      request_rewritten: changed, request_headers: r.reqHeaders.filter(([k]) => k.startsWith('x-guardrail') || k === 'content-length'),
      response_headers: r.respHeaders.filter(([k]) => k.startsWith('x-guardrail') || k === 'content-length') }));
  }
  console.log(JSON.stringify({ metrics: Object.fromEntries(state.metricNames.map((n, i) => [n, state.metrics.get(i)]).filter(([, v]) => v)) }));
  console.log(JSON.stringify({ logs: state.logs.map(([l, m]) => [l, m.slice(0, 200)]) }));
  process.exit(0);
}

if (MEMORY) {
  // Per body, on a fresh VM warmed by one small request (lazy set-up stays out): how much the
  // body grows the VM's linear memory (Wasm memory never shrinks: the worker keeps it), the
  // time of its first request (including the memory growth) and the median of the next ones.
  const warm = enc.encode(JSON.stringify({ model: 'm', messages: [{ role: 'user', content: 'hello jane.doe@example.com' }] }));
  for (const [label, body] of bodies) {
    boot();
    request(warm);
    const before = inst.exports.memory.buffer.byteLength;
    const t0 = process.hrtime.bigint();
    const r = request(body);
    const firstMs = Number(process.hrtime.bigint() - t0) / 1e6;
    const grown = inst.exports.memory.buffer.byteLength - before;
    const times = [];
    for (let i = 0; i < MEMORY_RUNS; i++) {
      const s = process.hrtime.bigint();
      request(body);
      times.push(Number(process.hrtime.bigint() - s) / 1e6);
    }
    times.sort((a, b) => a - b);
    const after = inst.exports.memory.buffer.byteLength;
    console.log(JSON.stringify({ label, bytes: body.length, status: r.reply ? r.reply.status : 200,
      code: r.reply ? (JSON.parse(r.reply.body).error || {}).code : null,
      memory_before_mib: +(before / 1048576).toFixed(2), grown_mib: +(grown / 1048576).toFixed(2),
      grown_after_runs_mib: +((after - before) / 1048576).toFixed(2),
      first_ms: +firstMs.toFixed(2), median_ms: times.length ? +times[Math.floor(times.length / 2)].toFixed(2) : null }));
  }
  process.exit(0);
}

// ---- timing: warm up (TurboFan is already the only tier with --no-liftoff), then batches
const results = [];
for (const [label, body] of bodies) {
  const first = request(body);
  const rewritten = Buffer.compare(Buffer.from(first.reqBody), Buffer.from(body)) !== 0;
  const t0 = process.hrtime.bigint();
  let n = 0;
  while (process.hrtime.bigint() - t0 < BigInt(Math.round(SECS * 0.25e9)) || n < 20) { request(body); n++; }
  const samples = [];
  const batch = FLUSH_KB ? 1 : Math.max(1, Math.round(n / 10));
  const end = process.hrtime.bigint() + BigInt(Math.round(SECS * 1e9));
  while (process.hrtime.bigint() < end || samples.length < 5) {
    if (FLUSH_KB) flush();
    const s = process.hrtime.bigint();
    for (let i = 0; i < batch; i++) request(body);
    samples.push(Number(process.hrtime.bigint() - s) / 1e3 / batch);
  }
  samples.sort((a, b) => a - b);
  const med = samples[Math.floor(samples.length / 2)];
  results.push({ label, bytes: body.length, median_us: med, p10_us: samples[Math.floor(samples.length * 0.1)],
    p90_us: samples[Math.floor(samples.length * 0.9)], us_per_kb: med / (body.length / 1024), requests: samples.length * batch,
    local_reply: first.reply && first.reply.status, rewritten });
}
console.log(JSON.stringify({ wasm: WASM, config: CONFIG, node: process.version, v8: process.versions.v8, flush_kb: FLUSH_KB, results }));
