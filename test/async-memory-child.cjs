// What JavaScript may do to an array while a Promise-form kernel uses it: transfer
// (detach) it, shrink its resizable buffer, overwrite it, call another kernel on it.
// Run by test/async_memory.test.ts with UV_THREADPOOL_SIZE=1 (the environment must
// set it before the pool starts) and --expose-gc, so that a long "blocker" call holds
// the only pool thread: the hazard then happens before the call under test starts,
// which is when a call using the caller's memory in place would read or write memory
// the garbage collector has freed (ASan: heap-use-after-free; see native/addon.cc,
// "Async calls and the lifetime of array memory").
//   node --expose-gc test/async-memory-child.cjs <addon.node>
// Prints one JSON line: { cases: { name: outcome, … } }.
'use strict';
const addon = require(require('node:path').resolve(process.argv[2]));

let seed = 7;
const rand = () => {
  seed = (seed * 1103515245 + 12345) >>> 0;
  return seed / 4294967296 - 0.5;
};
const filled = (n) => Float32Array.from({ length: n }, rand);
const bits = (a) => Buffer.from(a.buffer, a.byteOffset, a.byteLength).toString('base64');
const detach = (a) => structuredClone(a.buffer, { transfer: [a.buffer] });
function collect() {
  for (let i = 0; i < 4; i++) global.gc();
  const junk = [];
  for (let i = 0; i < 16; i++) junk.push(new Float32Array(4096).fill(1e30)); // reuse freed memory
  return junk.length;
}
// A call that keeps the pool's one thread busy for a while.
function blocker() {
  const m = 500;
  const a = new Float32Array(m * m).fill(0.5);
  return addon.gemmAsync(false, false, m, m, m, 1, a, a, 0, new Float32Array(m * m));
}
async function outcome(p) {
  try {
    const v = await p;
    return { ok: true, value: v };
  } catch (e) {
    return { ok: false, code: e.code, message: e.message };
  }
}

const n = 24;
const cases = {};
async function main() {
  // 1. an input is transferred away and collected before the call runs: the result is still right
  {
    const A = filled(n * n),
      B = filled(n * n);
    const want = addon.gemm(false, false, n, n, n, 1, A, B, 0, new Float32Array(n * n));
    const b = blocker();
    const p = addon.gemmAsync(false, false, n, n, n, 1, A, B, 0, new Float32Array(n * n));
    detach(A);
    collect();
    const r = await outcome(p);
    await b;
    cases.transferInput = { ok: r.ok, same: r.ok && bits(r.value) === bits(want), detached: A.length === 0 };
  }
  // 2. the output is transferred away: the promise rejects with ERR_INVALID_STATE, nothing is written
  {
    const A = filled(n * n),
      C = new Float32Array(n * n);
    const b = blocker();
    const p = addon.gemmAsync(false, false, n, n, n, 1, A, A, 0, C);
    const moved = new Float32Array(detach(C));
    collect();
    const r = await outcome(p);
    await b;
    cases.transferOutput = { ok: r.ok, code: r.code, message: r.message, untouched: moved.every((v) => v === 0) };
  }
  // 3. the output's resizable ArrayBuffer is shrunk (its pages decommitted): ERR_INVALID_STATE, not SIGSEGV
  {
    const A = filled(n * n);
    const buf = new ArrayBuffer(n * n * 4, { maxByteLength: n * n * 4 });
    const C = new Float32Array(buf);
    const p = addon.gemmAsync(false, false, n, n, n, 1, A, A, 0, C);
    buf.resize(0);
    const r = await outcome(p);
    cases.shrinkOutput = { ok: r.ok, code: r.code };
  }
  // 4. an input's resizable buffer is shrunk mid-call: the call used its copy
  {
    const buf = new ArrayBuffer(n * n * 4, { maxByteLength: n * n * 4 });
    const A = new Float32Array(buf);
    A.set(filled(n * n));
    const want = addon.gemm(false, false, n, n, n, 1, A, A, 0, new Float32Array(n * n));
    const b = blocker();
    const p = addon.gemmAsync(false, false, n, n, n, 1, A, A, 0, new Float32Array(n * n));
    buf.resize(0);
    collect();
    const r = await outcome(p);
    await b;
    cases.shrinkInput = { ok: r.ok, same: r.ok && bits(r.value) === bits(want) };
  }
  // 5. inputs overwritten (with NaN) after the call: it computes with the values it was given
  {
    const K = new Float32Array(n * n);
    for (let i = 0; i < n; i++) K[i * n + i] = 2 + i;
    const R = filled(n * 3);
    const want = addon.choleskySolve(K, n, R, 3, 0.1, 'float64', new Float32Array(n * 3));
    const b = blocker();
    const p = addon.choleskySolveAsync(K, n, R, 3, 0.1, 'float64', new Float32Array(n * 3));
    K.fill(NaN);
    R.fill(NaN);
    const r = await outcome(p);
    await b;
    cases.overwriteInputs = { ok: r.ok, same: r.ok && bits(r.value) === bits(want) };
  }
  // 6. a sync call on the same arrays while the async one is pending: both results are right
  {
    const J = filled(n * 5),
      K = new Float32Array(n * n);
    const want = addon.gram(J, 5, n, false, false, new Float32Array(n * n));
    const b = blocker();
    const p = addon.gramAsync(J, 5, n, false, false, K);
    const syncOut = addon.gram(J, 5, n, false, false, K);
    const syncSame = bits(syncOut) === bits(want);
    K.fill(-1); // the async call writes its whole result at completion
    const r = await outcome(p);
    await b;
    cases.syncDuringAsync = { ok: r.ok, syncSame, same: r.ok && bits(K) === bits(want) };
  }
  // 7. two async calls accumulate into the same K: each reads K as it was when called, the later completion wins
  {
    const N = 6,
      k = 2,
      wo = 3,
      wi = 4;
    const B = filled(N * k * wo),
      A = filled(N * wi),
      K0 = filled(N * k * N * k);
    const once = addon.layerGram(B, A, N, k, wo, wi, Float32Array.from(K0));
    const K = Float32Array.from(K0);
    const r = await Promise.all([outcome(addon.layerGramAsync(B, A, N, k, wo, wi, K)), outcome(addon.layerGramAsync(B, A, N, k, wo, wi, K))]);
    cases.twoAccumulations = { ok: r.every((x) => x.ok), once: bits(K) === bits(once) };
  }
  // 8. X === R: the async form gives the sync form's bits
  {
    const K = new Float32Array(n * n);
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) K[i * n + j] = (i === j ? n : 0) + 1 / (1 + i + j);
    const R1 = filled(n * 2),
      R2 = Float32Array.from(R1);
    addon.choleskySolve(K, n, R1, 2, 0, 'float32', R1);
    const r = await outcome(addon.choleskySolveAsync(K, n, R2, 2, 0, 'float32', R2));
    cases.aliasedOutput = { ok: r.ok, same: r.ok && r.value === R2 && bits(R2) === bits(R1) };
  }
  // 9. SharedArrayBuffer-backed arrays (used in place) and offset views: sync and async agree bit for bit
  {
    const share = (a) => {
      const s = new Float32Array(new SharedArrayBuffer(a.byteLength));
      s.set(a);
      return s;
    };
    const view = (a, off) => {
      const base = new Float32Array(a.length + off + 1).fill(NaN);
      base.set(a, off);
      return base.subarray(off, off + a.length);
    };
    const A = filled(n * 7),
      B = filled(7 * n);
    const want = addon.gemm(false, false, n, n, 7, 1, A, B, 0, new Float32Array(n * n));
    const C = share(new Float32Array(n * n));
    const r1 = await outcome(addon.gemmAsync(false, false, n, n, 7, 1, share(A), view(B, 3), 0, C));
    const C2 = view(new Float32Array(n * n), 1);
    const r2 = await outcome(addon.gemmAsync(false, false, n, n, 7, 1, view(A, 1), share(B), 0, C2));
    cases.sharedAndViews = { ok: r1.ok && r2.ok, shared: bits(C) === bits(want), view: bits(C2) === bits(want), sameObject: r1.value === C };
  }
  // 10. the output is transferred while a long call is running (not queued): no crash, ERR_INVALID_STATE
  {
    const m = 400;
    const A = new Float32Array(m * m).fill(0.25);
    const C = new Float32Array(m * m);
    const p = addon.gemmAsync(false, false, m, m, m, 1, A, A, 0, C);
    detach(C);
    detach(A);
    collect();
    const r = await outcome(p);
    cases.transferWhileRunning = { ok: r.ok, code: r.code };
  }
  process.stdout.write(JSON.stringify({ cases }) + '\n');
}
main().catch((e) => {
  process.stderr.write(String(e && e.stack) + '\n');
  process.exit(3);
});
