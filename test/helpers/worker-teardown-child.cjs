// Child process of test/workers.test.ts: `count` Workers load natgrad, each starts every …Async kernel
// and the stepAsync of NaturalGradient, Adam and SGD (twice each, so calls are queued and running), and is then ended
// while they are in flight — terminate() from the main thread, process.exit() inside the Worker, or
// an uncaught throw inside it, in turn; half of them call setThreads(1) first. Before the fix each
// ending aborted the whole process ("terminate called after throwing an instance of 'Napi::Error'",
// rc 134) as the work completed during the Worker's teardown.
// The main thread computes every kernel before, while the Workers go away, and after, and counts
// results whose bits changed; it prints one JSON line.
// With a third argument `loop`, each Worker instead calls kernels (sync and Promise forms), backend()
// and optimizer steps in an endless loop and is terminate()d after 0–6 ms, so the termination lands
// inside a native call: its Node-API calls then fail, which node-addon-api turned into an uncaught C++
// exception (the same abort) until natgrad was built with NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS.
//   node worker-teardown-child.cjs <dist/index.js> <count> [loop]
'use strict';
const { Worker, isMainThread, workerData, parentPort } = require('node:worker_threads');

const KERNELS = ['gemm', 'gram', 'layerGram', 'layerGramSum', 'choleskySolve', 'pinvSolve', 'batchedGramInverse'];
const STEPS = ['NaturalGradient', 'Adam', 'SGD']; // each optimizer's stepAsync
const ENDINGS = ['terminate', 'exit', 'throw'];

/** Deterministic inputs big enough that a call is still running when the Worker ends. */
function inputs(scale) {
  let s = 777;
  const u = () => ((s = (Math.imul(s, 1103515245) + 12345) >>> 0) / 2 ** 32) - 0.5;
  const f = (n) => Float32Array.from({ length: n }, u);
  const m = 96 * scale, p = 128 * scale;
  const j = f(p * m);
  const spd = new Float32Array(m * m); // symmetric, diagonally dominant: positive definite
  for (let a = 0; a < m; a++)
    for (let b = 0; b <= a; b++) spd[a * m + b] = spd[b * m + a] = a === b ? m : u();
  const n = 40 * scale, k = 3;
  return { m, p, j, spd, rhs: f(m * 2), n, k, b: f(n * k * 64), a: f(n * 33), g: f(64 * 20 * 10) };
}

// Each kernel's call, given its sync or its Promise form (`f`).
const CALLS = {
  gemm: (f, x) => f(x.j, x.j, x.m, x.m, x.p, { transB: true }),
  gram: (f, x) => f(x.j, x.m, x.p, { layout: 'PM' }),
  layerGram: (f, x) => f(x.b, x.a, x.n, x.k, 64, 33, new Float32Array(x.n * x.k * x.n * x.k)),
  layerGramSum: (f, x) => f([x.b, x.b], [x.a, x.a], x.n, x.k),
  choleskySolve: (f, x) => f(x.spd, x.m, x.rhs, 2, { damping: 1e-3 }),
  pinvSolve: (f, x) => f(x.spd, x.m, x.rhs, 2),
  batchedGramInverse: (f, x) => f(x.g, 64, 20, 10, { damping: 1e-2 }),
};

/** Starts one kernel's Promise form, or an optimizer's stepAsync (all of whose kernel calls are Promise forms). */
function start(ng, name, x) {
  if (!STEPS.includes(name)) return CALLS[name](ng[name + 'Async'], x);
  const model = ng.sequential([ng.linear(8, 64), ng.tanh(), ng.linear(64, 1)], { seed: 3 });
  const opt = new ng[name](model, { loss: 'gaussian', ...(name === 'NaturalGradient' ? {} : { lr: 1e-2 }) });
  const xs = Float32Array.from({ length: 256 * 8 }, (_, i) => Math.sin(i));
  const ys = Float32Array.from({ length: 256 }, (_, i) => Math.cos(i));
  return opt.stepAsync(xs, ys, 256);
}

/** One kernel's sync result. */
function sync(ng, name, x) {
  const r = CALLS[name](ng[name], x);
  return name === 'pinvSolve' ? r.x : r;
}

if (!isMainThread) {
  const { lib, ending, threads, loop } = workerData;
  const ng = require(lib);
  if (threads) ng.setThreads(threads);
  if (loop) {
    const x = inputs(1);
    parentPort.postMessage('started');
    for (let i = 0; ; i++) {
      const name = KERNELS[i % KERNELS.length];
      ng.backend();
      sync(ng, name, x);
      start(ng, name, x).catch(() => {});
      if (i % 16 === 0) start(ng, STEPS[(i / 16) % STEPS.length], x).catch(() => {});
    }
  }
  const x = inputs(3);
  for (let i = 0; i < 2; i++) for (const name of [...KERNELS, ...STEPS]) start(ng, name, x).catch(() => {});
  parentPort.postMessage('started');
  if (ending === 'exit') setImmediate(() => process.exit(0));
  if (ending === 'throw') setImmediate(() => { throw new Error('worker fails on purpose'); });
  return;
}

const [lib, countText, mode] = process.argv.slice(2);
const count = Number(countText);
const ng = require(lib);
const x = inputs(2);
const bits = (a) => (a ? Buffer.from(a.buffer, a.byteOffset, a.byteLength).toString('base64') : '');
const reference = () => Object.fromEntries(KERNELS.map((k) => [k, bits(sync(ng, k, x))]));
const before = reference();

async function once(ending, threads) {
  const w = new Worker(__filename, { workerData: { lib, ending, threads } });
  const errors = [];
  let started = false;
  w.on('error', (e) => errors.push(String(e && e.message)));
  w.once('message', () => (started = true));
  // 'exit' can follow the last message within one callback: listen for it from the start
  const exited = new Promise((resolve) => w.once('exit', resolve));
  if (ending === 'terminate') {
    await new Promise((resolve) => {
      w.once('message', resolve);
      exited.then(resolve);
    });
    await w.terminate();
  }
  await exited;
  if (!started) throw new Error(`${ending}: the Worker exited before starting its calls (${errors.join('; ')})`);
  if (ending === 'throw' && !errors.some((e) => e.includes('worker fails on purpose')))
    throw new Error(`throw: expected the Worker's own error, got ${JSON.stringify(errors)}`);
}

async function loops() {
  // Workers busy in natgrad calls, terminated at a varying moment
  for (let i = 0; i < count; i++) {
    const w = new Worker(__filename, { workerData: { lib, loop: true, threads: i % 2 } });
    w.on('error', () => {});
    await new Promise((resolve) => w.once('message', resolve));
    await new Promise((resolve) => setTimeout(resolve, i % 7));
    await w.terminate();
  }
  const after = reference();
  let mismatches = 0;
  for (const k of KERNELS) if (after[k] !== before[k]) mismatches++;
  console.log(JSON.stringify({ terminated: count, mismatches }));
}

(async () => {
  if (mode === 'loop') return loops();
  let ended = 0, mismatches = 0, references = 0;
  for (let w = 0; w < count; w += 2) {
    // two Workers at a time; the main thread keeps computing while they go away
    const jobs = [once(ENDINGS[w % 3], w % 4 < 2 ? 1 : 0), once(ENDINGS[(w + 1) % 3], w % 4 < 2 ? 0 : 1)];
    let settled = false;
    const all = Promise.all(jobs).finally(() => (settled = true));
    // computing (yielding to the event loop between rounds) until both Workers are gone
    do {
      const during = reference();
      for (const k of KERNELS) if (during[k] !== before[k]) mismatches++;
      references++;
      await new Promise((resolve) => setImmediate(resolve));
    } while (!settled);
    await all;
    ended += jobs.length;
  }
  const after = reference();
  for (const k of KERNELS) if (after[k] !== before[k]) mismatches++;
  console.log(JSON.stringify({ ended, kernels: KERNELS.length, steps: STEPS.length, references, mismatches }));
})().catch((e) => {
  console.error(e && e.stack);
  process.exit(1);
});
