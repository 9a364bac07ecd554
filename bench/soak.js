#!/usr/bin/env node
// npm run bench:soak [-- --steps=10000 --calls=10000 --out=bench/results/soak.json]
//
// Leaks and growth over long runs (issue #8). Three phases in one process, each sampling the
// resident set size (RSS, process.memoryUsage().rss) every --every iterations right after a
// full garbage collection (node --expose-gc), so that the sawtooth of the JS heap does not
// hide or fake a trend:
//  - steps: NaturalGradient.step() (method 'exact', adaptive damping) on a small model,
//    MLP 8-32-32-4 (tanh, categorical, P = 1,476), batch 32 cycling through 16 fixed batches;
//  - stepAsync: the same with stepAsync() (every native call on the libuv pool);
//  - calls: Promise-form kernel calls, 8 in flight at a time, cycling through gemm, gram,
//    layerGram, choleskySolve, pinvSolve and batchedGramInverse at small sizes, with fresh
//    output arrays and, every 10th call, an output transferred away while the call is pending
//    (so the ERR_INVALID_STATE path is soaked too).
// For each phase: the least-squares slope of RSS against the iteration count after a warm-up
// (the first --warmup fraction of the samples, default 20%), in bytes per iteration, with its
// standard error and the Theil–Sen slope (median of pairwise slopes: a one-off step does not
// tilt it); the same for RSS − heapTotal (memory outside V8's heap: natgrad's buffers, OpenBLAS,
// malloc) and for heapUsed (live JS objects after a full GC). V8 grows its heap spaces in
// steps of MiBs now and then (heapTotal shows it), which moves RSS without any leak.
// "flat": the RSS slope within the stretches where heapTotal stayed the same (one slope fitted
// across them, an intercept each) times the post-warm-up iterations, and the heapUsed growth,
// both under --flat bytes (default 1 MiB). A leak of one 128-byte block per iteration would add
// 1 MiB over 8,000 iterations.
// Writes bench/results/soak.json (samples: [iteration, rss, heapTotal, heapUsed, external, arrayBuffers], bytes).
'use strict';

const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const args = Object.fromEntries(
  process.argv.slice(2).map((a) => {
    const m = /^--([a-z]+)=(.*)$/.exec(a);
    if (!m || !['steps', 'calls', 'every', 'warmup', 'flat', 'out'].includes(m[1])) {
      console.error(`bench/soak.js: unexpected argument '${a}' (--steps=N --calls=N --every=N --warmup=F --flat=BYTES --out=FILE)`);
      process.exit(2);
    }
    return [m[1], m[2]];
  })
);
const STEPS = Number(args.steps ?? 10000);
const CALLS = Number(args.calls ?? 10000);
const EVERY = Number(args.every ?? Math.max(10, Math.round(Math.min(STEPS, CALLS) / 100)));
const WARMUP = Number(args.warmup ?? 0.2);
const FLAT = Number(args.flat ?? 1 << 20);
const OUT = path.resolve(root, args.out ?? 'bench/results/soak.json');
if (typeof global.gc !== 'function') {
  console.error('bench/soak.js: run with node --expose-gc (npm run bench:soak does)');
  process.exit(2);
}

const ng = require(path.join(root, 'dist/index.js'));
const addon = require(ng.backend().addon);

function lcg(seed) {
  let x = seed >>> 0;
  return () => {
    x = (Math.imul(1664525, x) + 1013904223) >>> 0;
    return (x >>> 8) / 16777216 - 0.5;
  };
}
const rnd = lcg(20240508);
const filled = (n, scale = 1) => Float32Array.from({ length: n }, () => rnd() * scale);

/** Least-squares and Theil–Sen slopes of y(i) over the points [i, y] (bytes per iteration). */
function slopes(s) {
  const n = s.length;
  const mx = s.reduce((a, p) => a + p[0], 0) / n,
    my = s.reduce((a, p) => a + p[1], 0) / n;
  let sxx = 0,
    sxy = 0;
  for (const [x, y] of s) {
    sxx += (x - mx) ** 2;
    sxy += (x - mx) * (y - my);
  }
  const slope = sxy / sxx;
  let sse = 0;
  for (const [x, y] of s) sse += (y - my - slope * (x - mx)) ** 2;
  // Theil–Sen: the median of the pairwise slopes, robust to a one-off step (V8 growing a heap
  // space, malloc an arena), which least squares spreads over the whole run
  const pairs = [];
  for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) if (s[j][0] > s[i][0]) pairs.push((s[j][1] - s[i][1]) / (s[j][0] - s[i][0]));
  pairs.sort((a, b) => a - b);
  const robust = pairs.length % 2 ? pairs[(pairs.length - 1) / 2] : (pairs[pairs.length / 2 - 1] + pairs[pairs.length / 2]) / 2;
  return { slope, stderr: Math.sqrt(sse / Math.max(1, n - 2) / sxx), robust };
}
/**
 * The RSS slope within stretches where V8's heapTotal did not change (one common slope, an
 * intercept per stretch, the first two samples after a change left out): the growth that V8
 * resizing its heap spaces does not explain.
 */
function segmentedSlope(s) {
  const groups = [];
  for (const p of s) {
    const g = groups[groups.length - 1];
    if (g && g.heapTotal === p[2]) g.points.push(p);
    else groups.push({ heapTotal: p[2], points: [p] });
  }
  let sxx = 0,
    sxy = 0;
  for (const [gi, g] of groups.entries()) {
    // the pages of a grown space are touched over the next sample or two: leave those out
    const points = gi === 0 ? g.points : g.points.slice(2);
    if (points.length < 2) continue;
    const mx = points.reduce((a, p) => a + p[0], 0) / points.length,
      my = points.reduce((a, p) => a + p[1], 0) / points.length;
    for (const p of points) {
      sxx += (p[0] - mx) ** 2;
      sxy += (p[0] - mx) * (p[1] - my);
    }
  }
  return { slope: sxx > 0 ? sxy / sxx : 0, stretches: groups.length };
}
/**
 * Fits over the samples after the warm-up: RSS (what the issue asks for), RSS − heapTotal (memory
 * outside V8's heap: natgrad's native buffers, OpenBLAS, malloc — where a native leak shows) and
 * heapUsed (live JS objects after a full GC — where a JS-side leak shows).
 */
function fit(samples) {
  const from = Math.min(samples.length - 2, Math.floor(samples.length * WARMUP));
  const s = samples.slice(from);
  const span = s[s.length - 1][0] - s[0][0];
  const rss = slopes(s.map((p) => [p[0], p[1]]));
  const offHeap = slopes(s.map((p) => [p[0], p[1] - p[2]]));
  const heap = slopes(s.map((p) => [p[0], p[3]]));
  const seg = segmentedSlope(s);
  const mib = (b) => round(b / 2 ** 20, 2);
  return {
    warmupIterations: s[0][0],
    samplesFitted: s.length,
    slopeBytesPerIteration: round(rss.slope, 2),
    slopeStdErr: round(rss.stderr, 2),
    theilSenSlopeBytesPerIteration: round(rss.robust, 2),
    fittedGrowthKiB: round((rss.slope * span) / 1024, 1),
    offHeapSlopeBytesPerIteration: round(offHeap.slope, 2),
    offHeapTheilSenBytesPerIteration: round(offHeap.robust, 2),
    heapUsedSlopeBytesPerIteration: round(heap.slope, 2),
    slopeWithinHeapStretchesBytesPerIteration: round(seg.slope, 2),
    heapTotalStretches: seg.stretches,
    rssFirstFittedMiB: mib(s[0][1]),
    rssLastMiB: mib(s[s.length - 1][1]),
    heapTotalFirstFittedMiB: mib(s[0][2]),
    heapTotalLastMiB: mib(s[s.length - 1][2]),
    flat: seg.slope * span < FLAT && heap.slope * span < FLAT,
  };
}
const round = (v, d) => Math.round(v * 10 ** d) / 10 ** d;
function sample(samples, i) {
  global.gc();
  const m = process.memoryUsage();
  samples.push([i, m.rss, m.heapTotal, m.heapUsed, m.external, m.arrayBuffers]);
}

function model() {
  const { sequential, linear, tanh, NaturalGradient } = ng;
  const net = sequential([linear(8, 32), tanh(), linear(32, 32), tanh(), linear(32, 4)], { seed: 1 });
  const opt = new NaturalGradient(net, { loss: 'categorical', lr: 0.5 });
  const N = 32;
  const batches = Array.from({ length: 16 }, () => {
    const x = filled(N * 8, 2);
    const y = Float32Array.from({ length: N }, (_, i) => (x[i * 8] > 0 ? 1 : 0) + (x[i * 8 + 1] > 0 ? 2 : 0));
    return { x, y };
  });
  return { net, opt, N, batches };
}

async function stepsPhase(useAsync) {
  const { net, opt, N, batches } = model();
  const samples = [];
  let accepted = 0,
    firstLoss = NaN,
    lastLoss = NaN;
  const t0 = performance.now();
  for (let i = 0; i < STEPS; i++) {
    if (i % EVERY === 0) sample(samples, i);
    const { x, y } = batches[i % batches.length];
    const info = useAsync ? await opt.stepAsync(x, y, N) : opt.step(x, y, N);
    if (info.accepted) accepted++;
    if (i === 0) firstLoss = info.loss;
    lastLoss = info.loss;
  }
  sample(samples, STEPS);
  return {
    what: `${STEPS} NaturalGradient.${useAsync ? 'stepAsync' : 'step'}() calls, MLP 8-32-32-4 tanh categorical (P = ${net.numParameters}), batch ${N}`,
    seconds: round((performance.now() - t0) / 1000, 2),
    accepted,
    lossFirst: round(firstLoss, 5),
    lossLast: round(lastLoss, 5),
    ...fit(samples),
    samples,
  };
}

function spd(m) {
  const k = filled(m * m, 0.2);
  for (let i = 0; i < m; i++) for (let j = 0; j < i; j++) k[i * m + j] = k[j * m + i];
  for (let i = 0; i < m; i++) k[i * m + i] = m;
  return k;
}
// One Promise-form call with fresh outputs; every 10th has its output transferred while pending.
function kernelCall(i) {
  const m = 24,
    n = 16,
    kk = 8;
  let p, out;
  switch (i % 6) {
    case 0:
      out = new Float32Array(m * n);
      p = addon.gemmAsync(false, false, m, n, kk, 1, A, B, 0, out);
      break;
    case 1:
      out = new Float32Array(m * m);
      p = addon.gramAsync(J, kk, m, false, false, out);
      break;
    case 2:
      out = new Float32Array(96 * 96);
      p = addon.layerGramAsync(LB, LA, 32, 3, 16, 8, out);
      break;
    case 3:
      out = new Float32Array(m * 2);
      p = addon.choleskySolveAsync(K, m, R, 2, 1e-3, 'float32', out);
      break;
    case 4:
      out = new Float32Array(m * 2);
      p = addon.pinvSolveAsync(K, m, R, 2, 0, 0, 'float64', out);
      break;
    default:
      out = new Float32Array(16 * 4 * 4);
      p = addon.batchedGramInverseAsync(G, 16, 12, 4, 0.1, out);
  }
  if (i % 10 === 9) {
    structuredClone(out.buffer, { transfer: [out.buffer] });
    return p.then(
      () => 'resolved',
      (e) => e.code
    );
  }
  return p.then(
    () => 'ok',
    (e) => e.code
  );
}
let A, B, J, LB, LA, K, R, G;

async function callsPhase() {
  A = filled(24 * 8);
  B = filled(8 * 16);
  J = filled(8 * 24);
  LB = filled(96 * 16);
  LA = filled(32 * 8);
  K = spd(24);
  R = filled(48);
  G = filled(16 * 12 * 4);
  const samples = [];
  const outcomes = {};
  const t0 = performance.now();
  let issued = 0;
  const inFlight = 8;
  while (issued < CALLS) {
    if (issued % EVERY === 0) sample(samples, issued);
    const batch = [];
    for (let j = 0; j < inFlight && issued < CALLS; j++) batch.push(kernelCall(issued++));
    for (const o of await Promise.all(batch)) outcomes[o] = (outcomes[o] || 0) + 1;
  }
  sample(samples, CALLS);
  const expected = { ok: CALLS - Math.floor(CALLS / 10), ERR_INVALID_STATE: Math.floor(CALLS / 10) };
  if (JSON.stringify(outcomes) !== JSON.stringify(expected))
    throw new Error(`bench/soak.js: kernel call outcomes ${JSON.stringify(outcomes)}, expected ${JSON.stringify(expected)}`);
  return {
    what: `${CALLS} Promise-form kernel calls (gemm, gram, layerGram, choleskySolve, pinvSolve, batchedGramInverse), ${inFlight} in flight, every 10th output transferred while pending`,
    seconds: round((performance.now() - t0) / 1000, 2),
    outcomes,
    ...fit(samples),
    samples,
  };
}

async function main() {
  const result = {
    command: `npm run bench:soak -- --steps=${STEPS} --calls=${CALLS}`,
    date: new Date().toISOString(),
    machine: require('./util').machine(ng),
    method: `RSS after global.gc() every ${EVERY} iterations; least-squares slope after the first ${WARMUP * 100}% of the samples; flat = fitted growth < ${FLAT} bytes`,
    phases: {},
  };
  for (const [name, run] of [
    ['steps', () => stepsPhase(false)],
    ['stepAsync', () => stepsPhase(true)],
    ['asyncCalls', callsPhase],
  ]) {
    const r = await run();
    result.phases[name] = r;
    console.log(
      `${name.padEnd(10)} ${r.what}\n           ${r.seconds} s; after ${r.warmupIterations} warm-up iterations: RSS ${r.rssFirstFittedMiB} → ${r.rssLastMiB} MiB, ` +
        `slope ${r.slopeBytesPerIteration} ± ${r.slopeStdErr} B/iteration (Theil–Sen ${r.theilSenSlopeBytesPerIteration}); ` +
        `V8 heapTotal ${r.heapTotalFirstFittedMiB} → ${r.heapTotalLastMiB} MiB; outside the V8 heap ${r.offHeapSlopeBytesPerIteration} B/iteration ` +
        `(Theil–Sen ${r.offHeapTheilSenBytesPerIteration}); RSS within ${r.heapTotalStretches} stretch(es) of constant heapTotal ` +
        `${r.slopeWithinHeapStretchesBytesPerIteration} B/iteration; heapUsed ${r.heapUsedSlopeBytesPerIteration} B/iteration: ${r.flat ? 'flat' : 'GROWING'}`
    );
  }
  fs.mkdirSync(path.dirname(OUT), { recursive: true });
  fs.writeFileSync(OUT, require('./util').compactJson(result) + '\n');
  console.log(`wrote ${path.relative(root, OUT)}`);
  process.exitCode = Object.values(result.phases).every((p) => p.flat) ? 0 : 1;
}
main().catch((e) => {
  console.error(e);
  process.exitCode = 2;
});
