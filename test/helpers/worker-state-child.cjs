// Child process of test/workers.test.ts: per-environment state. Workers load natgrad (each runs the
// addon's init), select a backend and call setThreads(1) while the main thread reads backend() and
// computes. Before the fix the addon kept one process-wide reason string, rewritten by every
// environment's init without a lock (backend().reason returned freed bytes in ~1% of reads), and
// setThreads(1) in a Worker changed the main thread's thread count.
//   node worker-state-child.cjs <dist/index.js> <workers>
'use strict';
const { Worker, isMainThread, workerData, parentPort } = require('node:worker_threads');

if (!isMainThread) {
  const ng = require(workerData.lib);
  ng.setThreads(1);
  const k = Float32Array.from({ length: 64 * 64 }, (_, i) => (i % 65 === 0 ? 64 : Math.sin(i)));
  ng.choleskySolve(k, 64, new Float32Array(64).fill(1), 1);
  parentPort.postMessage({ threads: ng.backend().threads });
  return;
}

const [lib, countText] = process.argv.slice(2);
const ng = require(lib);
ng.setThreads(2);
const expected = ng.backend().reason;
let s = 5;
const u = () => ((s = (Math.imul(s, 1103515245) + 12345) >>> 0) / 2 ** 32) - 0.5;
const m = 320;
const k = new Float32Array(m * m);
for (let a = 0; a < m; a++) for (let b = 0; b <= a; b++) k[a * m + b] = k[b * m + a] = a === b ? m : u();
const r = Float32Array.from({ length: m }, u);
const bits = (a) => Buffer.from(a.buffer, a.byteOffset, a.byteLength).toString('base64');
// pinvSolve runs OpenBLAS's threaded syevd on every path, whose bits depend on the thread count (1 vs 2
// threads differ here): computed before the Workers start and after they all called setThreads(1)
const solve = () => bits(ng.pinvSolve(k, m, r, 1).x);
const before = solve();

(async () => {
  let reads = 0, wrongReasons = 0, wrongThreads = 0, changedBits = 0;
  const workers = [];
  for (let i = 0; i < Number(countText); i++) workers.push(new Worker(__filename, { workerData: { lib } }));
  const replies = workers.map((w) => new Promise((resolve, reject) => { w.once('message', resolve); w.once('error', reject); }));
  let done = false;
  Promise.all(replies).then(() => (done = true), () => (done = true));
  while (!done) {
    // read while the Workers' inits and setThreads(1) run
    for (let i = 0; i < 200; i++, reads++) {
      const b = ng.backend();
      if (b.reason !== expected) wrongReasons++;
      if (b.threads !== 2) wrongThreads++;
    }
    await new Promise((resolve) => setImmediate(resolve));
  }
  const fromWorkers = await Promise.all(replies);
  await Promise.all(workers.map((w) => w.terminate()));
  if (solve() !== before) changedBits++;
  console.log(JSON.stringify({ reads, wrongReasons, wrongThreads, changedBits, mainThreads: ng.backend().threads,
    workerThreads: fromWorkers.map((w) => w.threads) }));
})().catch((e) => {
  console.error(e && e.stack);
  process.exit(1);
});
