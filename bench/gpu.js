#!/usr/bin/env node
// node bench/gpu.js [--smoke | --quick] [--out=DIR] [--budget=S]     (bench/gpu.sh runs it; see there)
// node bench/gpu.js --summary --out=DIR                                 (the final summary of DIR's JSON files)
//
// natgrad's CUDA backend on this machine's GPU, against the card's own cuBLAS SGEMM rate measured in
// the same run, against the CPU backend on the same machine, and (through the files it writes for
// bench/gpu_torch.py) against PyTorch's version of the same exact direction. Writes DIR/gpu.json (after
// every section, so a run cut short keeps what it measured) and DIR/data/: θ, x, y and natgrad's
// directions for gpu_torch.py (data/meta.json describes them). DIR defaults to bench/results/gpu/.
// Needs dist/ (npm run build) and NATGRAD_CUDA_TIMING=1, with which the backend records CUDA events
// around the upload / compute / download phases of each call and reports them in backendInfo().note;
// "device" rates below use the compute phase (everything a stage does on the GPU, intermediates
// included, without the host↔device copies), "wall" rates the whole call as JS sees it.
// --smoke: tiny sizes, to check this script itself (e.g. on the CPU emulation of the CUDA libraries:
// bash scripts/mock-cuda.sh DIR; NATGRAD_CUDA_PATH=DIR); its numbers mean nothing.
//
// Sections, in order of importance (a time guard skips what its estimate says would run past the
// deadline, recording what and why; the wall time of every section is in gpu.json):
//   1. accuracy: every kernel and the exact direction GPU vs CPU, float32 and NATGRAD_TF32=1 (children);
//   2. the exact step, MLP 784-256-256-10 (tanh, categorical, λ = 1e-3), N = 256, 1024 on GPU and CPU
//      (opt.direction once, timed and kept, then opt.step with lr 0; opt.profile says which path ran);
//   3. kernels at M = 1024, 2048, 4096, 8192: sgemm, gram, choleskySolve (float32, float64), layerGram,
//      layerGramSum, pinvSolve (M ≤ 8192 only: cuSOLVER's syevd at 16384 takes tens of seconds),
//      batchedGramInverse (batch M/4 of [784, 10]);
//   4. N = 4096 on the GPU; 5. kernels at M = 16384 (optional); 6. N = 4096 on the CPU (optional:
//      N·r = 36,864, a ~1.7e13-flop Cholesky, one call, skipped when its estimate passes the deadline).
// The deadline: NATGRAD_BENCH_DEADLINE (epoch ms; gpu.sh sets it) or now + --budget (s; default 360).
//
// FLOP conventions (multiply-add = 2 flops, the SGEMM convention 2mnk):
//   sgemm          M×M×M natgrad gemm (one cublasSgemm):   2·M³
//   gram           K = JᵀJ, J [P,M], P = 10,000:           2·M²·P  (the full product, although ~5/8 of it is computed)
//   choleskySolve  K [M,M], nrhs = 1:                      M³/3 + 2·M²  (potrf + potrs)
//   layerGram      N·k = M, k = 8, widthOut = widthIn = 256: 2·(M²·256 + N²·256)
//   layerGramSum   N·k = M, k = 8, three layers (widthOut, widthIn) = (256, 784), (256, 256), (10, 256) (the
//                  784-256-256-10 MLP's): Σ_l 2·(M²·widthOut_l + N²·widthIn_l). All layers' B_l and A_l are
//                  uploaded (and K zeroed) before the "compute" mark
//   pinvSolve      K [M,M]: syevd ≈ 9·M³ (reported as time only)
//   batchedGramInverse  batch × GᵀG, G [784, 10], + the 10×10 inverses: batch·(2·784·100 + 2·10³)
// Targets (issues #7, #19): gram and choleskySolve device rate ≥ 60% of the SGEMM rate at M ≥ 4096; the exact
// natural-gradient step of the 784-256-256-10 MLP (categorical, N = 1024) ≥ 20× faster than the CPU
// backend and faster than PyTorch (bench/gpu_torch.py); GPU vs CPU direction within test/cuda.test.ts's
// float32 bound (1e-3; TF32 0.1). Accuracy: every kernel and the step against the CPU backend, TF32 off and on.
'use strict';

const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const argValue = (name) => {
  const i = process.argv.findIndex((a) => a === `--${name}` || a.startsWith(`--${name}=`));
  if (i < 0) return undefined;
  const a = process.argv[i];
  return a.includes('=') ? a.slice(name.length + 3) : process.argv[i + 1];
};
const quick = process.argv.includes('--quick');
const smoke = process.argv.includes('--smoke');
const outDir = path.resolve(argValue('out') ?? path.join(root, 'bench', 'results', 'gpu'));
const dataDir = path.join(outDir, 'data');
const t0 = Date.now();
const deadline = Number(process.env.NATGRAD_BENCH_DEADLINE) || t0 + 1000 * Number(argValue('budget') ?? 360);
const left = () => (deadline - Date.now()) / 1000;

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const rel = (x, y) => {
  let d = 0,
    n = 0;
  for (let i = 0; i < x.length; i++) {
    d += (x[i] - y[i]) ** 2;
    n += y[i] ** 2;
  }
  return Math.sqrt(d) / (Math.sqrt(n) || 1);
};
const readJson = (file) => {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch {
    return null;
  }
};
const fmt = (v, d = 1) => (typeof v === 'number' && Number.isFinite(v) ? v.toFixed(d) : '—');
const exp = (v) => (typeof v === 'number' && Number.isFinite(v) ? v.toExponential(2) : '—');

// ---- summary mode: reads DIR/{gpu,torch,env,run}.json, prints the summary, writes DIR/summary.json ----
if (process.argv.includes('--summary')) {
  summary();
  process.exit(0);
}

let ng, native;
try {
  ng = require(path.join(root, 'dist', 'index.js'));
  ({ native } = require(path.join(root, 'dist', 'native.js')));
} catch (e) {
  console.error(`gpu.js: dist/ is missing or stale (${e.message.split('\n')[0]}); run npm run build first`);
  process.exit(2);
}

// ---- inputs: a fast deterministic uniform(-1, 1) fill (fill(n, s) is a prefix of fill(m > n, s)) ----
function fill(n, seed) {
  const a = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    a[i] = s / 2147483648 - 1;
  }
  return a;
}
const SIZES = [784, 256, 256, 10];
const mlp = (seed) => ng.sequential([ng.linear(784, 256), ng.tanh(), ng.linear(256, 256), ng.tanh(), ng.linear(256, 10)], { seed });

// ---- accuracy mode (a child per TF32 setting): GPU vs CPU on moderate sizes ----
if (process.argv.includes('--accuracy')) {
  native.selectBackend('cuda');
  const both = (f) => {
    native.selectBackend('cpu');
    const c = f();
    native.selectBackend('cuda');
    const g = f();
    return rel(g, c);
  };
  const M = smoke ? 64 : 2048,
    P = smoke ? 160 : 4096,
    J = fill(P * M, 1),
    r = {};
  r.gemm = both(() => native.gemm(false, false, M, M, M, 1, J.subarray(0, M * M), J.subarray(M * M, 2 * M * M), 0, new Float32Array(M * M)));
  r.gram = both(() => native.gram(J, P, M, false, false, new Float32Array(M * M)));
  const N = smoke ? 8 : 256,
    k = 8,
    B = fill(N * k * 256, 2),
    A = fill(N * 256, 3);
  r.layerGram = both(() => native.layerGram(B, A, N, k, 256, 256, new Float32Array(N * k * N * k)));
  const LW = [
      [256, 784],
      [256, 256],
      [10, 256],
    ],
    bs = LW.map(([wo], l) => fill(N * k * wo, 10 + l)),
    as = LW.map(([, wi], l) => fill(N * wi, 20 + l));
  r.layerGramSum = both(() => native.layerGramSum(bs, as, N, k, new Float32Array(N * k * N * k)));
  native.selectBackend('cpu');
  const K = native.gram(J, P, M, false, false, new Float32Array(M * M)),
    R = fill(M, 4);
  for (const prec of ['float32', 'float64']) r[`choleskySolve ${prec}`] = both(() => native.choleskySolve(K, M, R, 1, 1, prec, new Float32Array(M)));
  r['pinvSolve float32'] = both(() => {
    const X = new Float32Array(M);
    native.pinvSolve(K, M, R, 1, 1, 0, 'float32', X);
    return X;
  });
  r.batchedGramInverse = both(() => native.batchedGramInverse(fill(512 * 64 * 10, 5), 512, 64, 10, 1e-3, new Float32Array(512 * 100)));
  const NS = smoke ? 4 : 256,
    x = fill(NS * 784, 6),
    y = new Float32Array(NS).map((_, i) => i % 10);
  r[`exact direction N=${NS}`] = both(() => new ng.NaturalGradient(mlp(1), { loss: 'categorical', damping: 1e-3 }).direction(x, y, NS));
  console.log(JSON.stringify(r));
  process.exit(0);
}

if (process.env.NATGRAD_CUDA_TIMING !== '1') {
  console.error('gpu.js: set NATGRAD_CUDA_TIMING=1 (bench/gpu.sh does), so that the backend reports device times');
  process.exit(2);
}
let info;
try {
  info = native.selectBackend('cuda');
} catch (e) {
  console.error(`gpu.js: the CUDA backend is unavailable: ${e.message}`);
  process.exit(1);
}
const cpuInfo = (() => {
  const i = native.selectBackend('cpu');
  native.selectBackend('cuda');
  return i;
})();
console.log(
  `gpu.js: ${info.device}; ${info.blas}\n        CPU backend: ${cpuInfo.blas}, ${cpuInfo.threads} threads, ${os.cpus().length} cores; time left ${left().toFixed(0)} s`
);

function phases() {
  const m = /last call \(NATGRAD_CUDA_TIMING=1\): \S+ upload ([\d.]+) ms, compute ([\d.]+) ms, download ([\d.]+) ms/.exec(native.backendInfo().note);
  if (!m) throw new Error(`no timing in backendInfo().note: ${native.backendInfo().note}`);
  return { upload: +m[1], compute: +m[2], download: +m[3] };
}
/** One warm-up call, then `reps` timed calls: medians of wall time and of each device phase (ms). */
function time(fn, reps) {
  fn();
  const wall = [],
    up = [],
    comp = [],
    down = [];
  for (let i = 0; i < reps; i++) {
    const s = process.hrtime.bigint();
    fn();
    wall.push(Number(process.hrtime.bigint() - s) / 1e6);
    const p = phases();
    up.push(p.upload);
    comp.push(p.compute);
    down.push(p.download);
  }
  return { wallMs: median(wall), uploadMs: median(up), computeMs: median(comp), downloadMs: median(down), reps };
}
const tflops = (flops, ms) => flops / (ms * 1e-3) / 1e12;

const libraries = /libraries: ([^;]+)/.exec(info.note)?.[1].split(', ') ?? [];
const results = {
  date: new Date().toISOString(),
  mode: smoke ? 'smoke' : quick ? 'quick' : 'full',
  env: {
    node: process.version,
    platform: `${os.platform()} ${os.release()} ${os.arch()}`,
    cpuModel: os.cpus()[0]?.model ?? null,
    cpuCores: os.cpus().length,
    memoryGiB: os.totalmem() / 2 ** 30,
    NATGRAD_CUDA_PATH: process.env.NATGRAD_CUDA_PATH ?? null,
    NATGRAD_TF32: process.env.NATGRAD_TF32 ?? null,
  },
  device: info.device,
  blas: info.blas,
  backendNote: info.note,
  libraries,
  cpu: cpuInfo.blas,
  cpuThreads: cpuInfo.threads,
  budget: { deadline: new Date(deadline).toISOString(), secondsAtStart: left() },
  limits: {
    pinvSolveMaxM: smoke ? null : 8192,
    pinvSolveWhy:
      "pinvSolve is cuSOLVER's syevd (≈ 9·M³ flops, far below the SGEMM rate): run up to M = 8192 only (one warm-up and one timed call there), ~seconds at 8192 and tens of seconds at 16384",
    cpuStepN4096:
      'the CPU backend at N = 4096 (N·r = 36,864: a 5.4 GB kernel, ~1.7e13-flop Cholesky) runs once (no warm-up), when its estimate (CPU N = 1024 × 64) fits the time left',
  },
  sections: {},
  accuracy: null,
  kernels: [],
  steps: [],
  skipped: [],
  targets: {},
};
const save = () => {
  fs.mkdirSync(outDir, { recursive: true });
  results.wallS = (Date.now() - t0) / 1000;
  fs.writeFileSync(path.join(outDir, 'gpu.json'), `${JSON.stringify(results, null, 2)}\n`);
};
const skip = (what, why) => {
  results.skipped.push({ what, why });
  console.log(`gpu.js: skipped ${what}: ${why}`);
  save();
};
/** Runs section `name` (its wall time recorded); an exception is recorded, not fatal. */
function section(name, fn) {
  const s = Date.now();
  try {
    fn();
  } catch (e) {
    results.sections[`${name} error`] = String(e?.stack ?? e).slice(0, 2000);
    console.log(`gpu.js: ${name} failed: ${e?.message ?? e}`);
  }
  results.sections[name] = { wallS: (Date.now() - s) / 1000 };
  save();
}

// ---- 1. accuracy against the CPU backend, TF32 off and on (children: the math mode is set at initialisation) ----
section('accuracy', () => {
  results.accuracy = {};
  for (const tf32 of ['0', '1']) {
    const r = spawnSync(process.execPath, [__filename, '--accuracy', ...(smoke ? ['--smoke'] : [])], {
      encoding: 'utf8',
      env: { ...process.env, NATGRAD_TF32: tf32 },
      timeout: Math.max(10, left()) * 1000,
    });
    const last = (r.stdout ?? '').trim().split('\n').pop();
    results.accuracy[tf32 === '1' ? 'tf32' : 'float32'] =
      r.status === 0 ? JSON.parse(last) : { error: `status ${r.status} ${r.signal ?? ''}: ${(r.stderr ?? '').slice(-2000)}` };
  }
  console.log('accuracy (‖gpu − cpu‖/‖cpu‖):');
  for (const [k, v] of Object.entries(results.accuracy.float32))
    console.log(`  ${k}: float32 ${exp(Number(v))}, TF32 ${exp(Number(results.accuracy.tf32?.[k]))}`);
});

// ---- 2. and 5. kernels ----
const reps = quick || smoke ? 3 : 5;
const P = smoke ? 100 : 10000;
function kernels(M) {
  native.selectBackend('cuda');
  const row = { M };
  results.kernels.push(row);
  const s0 = Date.now();
  {
    // the card's SGEMM rate: natgrad's gemm is one cublasSgemm
    const A = fill(M * M, 1),
      B = fill(M * M, 2),
      C = new Float32Array(M * M);
    const t = time(() => native.gemm(false, false, M, M, M, 1, A, B, 0, C), reps);
    row.sgemm = { ...t, deviceTflops: tflops(2 * M ** 3, t.computeMs), wallTflops: tflops(2 * M ** 3, t.wallMs) };
  }
  const J = fill(P * M, 3),
    K = new Float32Array(M * M);
  {
    const t = time(() => native.gram(J, P, M, false, false, K), reps);
    row.gram = { P, ...t, deviceTflops: tflops(2 * M * M * P, t.computeMs), wallTflops: tflops(2 * M * M * P, t.wallMs) };
  }
  {
    // SPD K from the Gram matrix above (P > M): choleskySolve with damping 1e-3·P
    const R = fill(M, 4),
      X = new Float32Array(M);
    const t = time(() => native.choleskySolve(K, M, R, 1, 1e-3 * P, 'float32', X), reps);
    const flops = M ** 3 / 3 + 2 * M * M;
    row.choleskySolve = { ...t, deviceTflops: tflops(flops, t.computeMs), wallTflops: tflops(flops, t.wallMs) };
    const t64 = time(() => native.choleskySolve(K, M, R, 1, 1e-3 * P, 'float64', X), Math.min(reps, 3));
    row.choleskySolveFloat64 = { ...t64, deviceTflops: tflops(flops, t64.computeMs) };
  }
  {
    const k = 8,
      N = M / k,
      wo = 256,
      wi = 256,
      B = fill(M * wo, 5),
      A = fill(N * wi, 6),
      KK = new Float32Array(M * M);
    const t = time(() => native.layerGram(B, A, N, k, wo, wi, KK), reps);
    const flops = 2 * (M * M * wo + N * N * wi);
    row.layerGram = { k, widthOut: wo, widthIn: wi, ...t, deviceTflops: tflops(flops, t.computeMs), wallTflops: tflops(flops, t.wallMs) };
  }
  {
    const k = 8,
      N = M / k,
      layers = [
        [256, 784],
        [256, 256],
        [10, 256],
      ];
    const bs = layers.map(([wo], l) => fill(M * wo, 10 + l)),
      as = layers.map(([, wi], l) => fill(N * wi, 20 + l)),
      KK = new Float32Array(M * M);
    const t = time(() => native.layerGramSum(bs, as, N, k, KK), reps);
    const flops = layers.reduce((f, [wo, wi]) => f + 2 * (M * M * wo + N * N * wi), 0);
    row.layerGramSum = { k, layers, ...t, deviceTflops: tflops(flops, t.computeMs), wallTflops: tflops(flops, t.wallMs) };
  }
  const prevPinv = results.kernels.filter((r) => r.pinvSolve?.wallMs !== undefined).pop()?.pinvSolve;
  const pinvEst = prevPinv ? (prevPinv.wallMs / 1000) * 8 * (1 + Math.min(reps, M >= 8192 ? 1 : 3)) : 0;
  if (results.limits.pinvSolveMaxM !== null && M > results.limits.pinvSolveMaxM)
    row.pinvSolve = { skipped: `M > ${results.limits.pinvSolveMaxM}: ${results.limits.pinvSolveWhy}` };
  else if (pinvEst > left()) row.pinvSolve = { skipped: `estimated ${pinvEst.toFixed(0)} s > ${left().toFixed(0)} s left` };
  else {
    const R = fill(M, 7),
      X = new Float32Array(M);
    const t = time(() => native.pinvSolve(K, M, R, 1, 1e-3 * P, 0, 'float32', X), Math.min(reps, M >= 8192 ? 1 : 3));
    row.pinvSolve = { ...t, deviceTflops: tflops(9 * M ** 3, t.computeMs) };
  }
  if (row.pinvSolve.skipped) results.skipped.push({ what: `pinvSolve M=${M}`, why: row.pinvSolve.skipped });
  {
    const batch = Math.max(1, M / 4),
      rows = smoke ? 20 : 784,
      G = fill(batch * rows * 10, 8);
    const t = time(() => native.batchedGramInverse(G, batch, rows, 10, 1e-3, new Float32Array(batch * 100)), reps);
    const flops = batch * (2 * rows * 100 + 2 * 1000);
    row.batchedGramInverse = {
      batch,
      rows,
      k: 10,
      ...t,
      deviceTflops: tflops(flops, t.computeMs),
      inputGBps: (batch * rows * 40) / (t.computeMs * 1e-3) / 1e9,
    };
  }
  for (const name of ['gram', 'choleskySolve']) row[name].ofSgemm = row[name].deviceTflops / row.sgemm.deviceTflops;
  row.wallS = (Date.now() - s0) / 1000;
  console.log(
    `M=${M}: SGEMM ${fmt(row.sgemm.deviceTflops)} TFLOP/s (device) | gram ${fmt(row.gram.deviceTflops)} = ${fmt(100 * row.gram.ofSgemm, 0)}% (wall ${fmt(row.gram.wallTflops)}) | choleskySolve ${fmt(row.choleskySolve.deviceTflops)} = ${fmt(100 * row.choleskySolve.ofSgemm, 0)}% (wall ${fmt(row.choleskySolve.wallTflops)}), float64 ${fmt(row.choleskySolveFloat64.deviceTflops)} | layerGram ${fmt(row.layerGram.deviceTflops)} | layerGramSum ${fmt(row.layerGramSum.deviceTflops)} (wall ${fmt(row.layerGramSum.wallTflops)}) | pinvSolve ${row.pinvSolve.computeMs !== undefined ? `${fmt(row.pinvSolve.computeMs)} ms` : 'skipped'} | batchedGramInverse ${fmt(row.batchedGramInverse.computeMs, 2)} ms; ${fmt(row.wallS)} s`
  );
  save();
  return row;
}
const M_REQUIRED = smoke ? [32, 64] : quick ? [1024, 4096] : [1024, 2048, 4096, 8192];
const M_OPTIONAL = smoke ? [96] : quick ? [] : [16384];

// ---- 3. and 4. the exact step: the 784-256-256-10 MLP, categorical, damping 1e-3 ----
const N_ALL = smoke ? [4, 8] : quick ? [256, 1024] : [256, 1024, 4096];
const NMAX = N_ALL[N_ALL.length - 1];
const X = fill(NMAX * 784, 9);
const Y = new Float32Array(NMAX).map((_, i) => (i * 7) % 10);
const meta = {
  sizes: SIZES,
  activation: 'tanh',
  loss: 'categorical',
  damping: 1e-3,
  layout: 'θ: per linear layer W [out, in] row-major, then b [out], layers in order (natgrad getParameters()); float32 little-endian',
  theta: { file: 'theta.f32', length: null },
  x: { file: 'x.f32', shape: [NMAX, 784], note: 'sample-major; each N uses the first N rows' },
  y: { file: 'y.i32', shape: [NMAX], dtype: 'int32', note: 'class indices (i·7) mod 10' },
  directions: [],
};
function writeData() {
  fs.mkdirSync(dataDir, { recursive: true });
  fs.writeFileSync(path.join(dataDir, 'meta.json'), `${JSON.stringify(meta, null, 2)}\n`);
}
{
  fs.mkdirSync(dataDir, { recursive: true });
  const theta = mlp(2).getParameters();
  meta.theta.length = theta.length;
  fs.writeFileSync(path.join(dataDir, 'theta.f32'), Buffer.from(theta.buffer, theta.byteOffset, theta.byteLength));
  fs.writeFileSync(path.join(dataDir, 'x.f32'), Buffer.from(X.buffer));
  fs.writeFileSync(path.join(dataDir, 'y.i32'), Buffer.from(Int32Array.from(Y).buffer));
  writeData();
}
/** The step on `backend` at batch N: the first call (opt.direction, timed, its direction kept), then `reps` opt.step calls. */
function stepRun(backend, N, reps) {
  native.selectBackend(backend);
  const x = X.subarray(0, N * 784),
    y = Y.subarray(0, N);
  const opt = new ng.NaturalGradient(mlp(2), { loss: 'categorical', lr: 0, damping: 1e-3 });
  let s = process.hrtime.bigint();
  const dir = opt.direction(x, y, N);
  const firstMs = Number(process.hrtime.bigint() - s) / 1e6;
  const directionProfile = opt.profile ?? null;
  const ts = [];
  for (let i = 0; i < reps; i++) {
    s = process.hrtime.bigint();
    opt.step(x, y, N);
    ts.push(Number(process.hrtime.bigint() - s) / 1e6);
  }
  const profile = opt.profile ?? null;
  // on the GPU also opt.direction alone, `reps` times: what bench/gpu_torch.py computes (no loss, no trial step)
  const td = [];
  for (let i = 0; backend === 'cuda' && i < reps; i++) {
    s = process.hrtime.bigint();
    opt.direction(x, y, N);
    td.push(Number(process.hrtime.bigint() - s) / 1e6);
  }
  const file = `dir_${backend === 'cuda' ? 'gpu' : 'cpu'}_N${N}.f32`;
  fs.writeFileSync(path.join(dataDir, file), Buffer.from(dir.buffer, dir.byteOffset, dir.byteLength));
  return { ms: reps ? median(ts) : firstMs, firstMs, directionMs: td.length ? median(td) : null, reps, profile, directionProfile, dir, file };
}
function step(N, { cpu }) {
  const row = { model: SIZES.join('-'), loss: 'categorical', N, damping: 1e-3 };
  results.steps.push(row);
  const m = { N, gpu: null, cpu: null };
  meta.directions.push(m);
  const s0 = Date.now();
  const gpu = stepRun('cuda', N, N >= 4096 ? 3 : smoke ? 2 : 10);
  Object.assign(row, {
    gpuMs: gpu.ms,
    gpuDirectionMs: gpu.directionMs,
    gpuFirstMs: gpu.firstMs,
    gpuReps: gpu.reps,
    gpuProfile: gpu.profile,
    gpuDirectionProfile: gpu.directionProfile,
  });
  m.gpu = gpu.file;
  m.gpuMs = gpu.ms;
  writeData();
  save();
  let cpuRun = null;
  if (cpu) {
    // the estimate: the CPU step's cost grows like N³ (the Cholesky) beyond N ≈ 1000
    const prev = results.steps.filter((r) => r.cpuMs !== undefined).pop();
    const one = prev ? (prev.cpuMs / 1000) * (N / prev.N) ** 3 : 0;
    const reps = N >= 4096 ? 0 : N >= 1024 ? 2 : 3;
    const est = one * (reps + 1);
    if (est > left() - 5) {
      row.cpuSkipped = `estimated ${est.toFixed(0)} s (CPU N=${prev.N}: ${prev.cpuMs.toFixed(0)} ms × (${N}/${prev.N})³ × ${reps + 1} calls) > ${left().toFixed(0)} s left`;
      skip(`CPU step N=${N}`, row.cpuSkipped);
    } else {
      cpuRun = stepRun('cpu', N, reps);
      Object.assign(row, { cpuMs: cpuRun.ms, cpuFirstMs: cpuRun.firstMs, cpuReps: cpuRun.reps, cpuProfile: cpuRun.profile });
      row.speedup = cpuRun.ms / gpu.ms;
      row.directionRelErr = rel(gpu.dir, cpuRun.dir);
      m.cpu = cpuRun.file;
    }
  } else row.cpuSkipped = 'deferred (optional part)';
  row.wallS = (Date.now() - s0) / 1000;
  native.selectBackend('cuda');
  writeData();
  save();
  console.log(
    `exact step ${row.model}, N=${N}: GPU ${fmt(gpu.ms)} ms (direction alone ${fmt(gpu.directionMs)}, first call ${fmt(gpu.firstMs)})` +
      (cpuRun ? `, CPU ${fmt(cpuRun.ms)} ms → ${fmt(row.speedup)}×; direction rel. difference ${exp(row.directionRelErr)}` : `; CPU ${row.cpuSkipped}`) +
      `; GPU profile ${JSON.stringify(gpu.profile)}`
  );
  return { row, gpu };
}
/** The CPU half of a step row measured earlier (the optional N = 4096 run). */
function cpuLater(N, gpuDir) {
  const row = results.steps.find((r) => r.N === N);
  const m = meta.directions.find((d) => d.N === N);
  const prev = results.steps.filter((r) => r.cpuMs !== undefined).pop();
  const est = prev ? (prev.cpuMs / 1000) * (N / prev.N) ** 3 : Infinity;
  if (est > left() - 5) {
    row.cpuSkipped = prev
      ? `estimated ${est.toFixed(0)} s (CPU N=${prev.N}: ${prev.cpuMs.toFixed(0)} ms × (${N}/${prev.N})³) > ${left().toFixed(0)} s left`
      : 'no smaller CPU step to estimate from';
    skip(`CPU step N=${N}`, row.cpuSkipped);
    return;
  }
  const s0 = Date.now();
  const cpuRun = stepRun('cpu', N, 0);
  delete row.cpuSkipped;
  Object.assign(row, { cpuMs: cpuRun.ms, cpuFirstMs: cpuRun.firstMs, cpuReps: 0, cpuProfile: cpuRun.profile, cpuEstimateS: est });
  row.speedup = cpuRun.ms / row.gpuMs;
  row.directionRelErr = rel(gpuDir, cpuRun.dir);
  m.cpu = cpuRun.file;
  row.cpuWallS = (Date.now() - s0) / 1000;
  native.selectBackend('cuda');
  writeData();
  save();
  console.log(`exact step N=${N}: CPU ${fmt(cpuRun.ms)} ms (one call) → ${fmt(row.speedup)}×; direction rel. difference ${exp(row.directionRelErr)}`);
}

/** Kernels at M unless the estimate from the previous size (×8: the kernels grow like M³, the fills like M²) passes the deadline. */
function kernelsGuarded(M, reserve) {
  const prev = results.kernels[results.kernels.length - 1];
  const pinvS = prev?.pinvSolve?.wallMs !== undefined ? (prev.pinvSolve.wallMs * (1 + prev.pinvSolve.reps)) / 1000 : 0;
  const est = prev ? 8 * (prev.wallS - pinvS) + (M <= (results.limits.pinvSolveMaxM ?? Infinity) ? 8 * pinvS : 0) : 1;
  if (est > left() - reserve)
    skip(
      `kernels M=${M}`,
      `estimated ${est.toFixed(0)} s (8 × M=${prev?.M}'s ${prev?.wallS.toFixed(1)} s) > ${left().toFixed(0)} s left less a ${reserve} s reserve`
    );
  else kernels(M);
}
/** The GPU (and CPU) step at N unless the GPU estimate (N³ from the previous N, every call) passes the deadline. */
function stepGuarded(N, cpu) {
  const prev = results.steps[results.steps.length - 1];
  const est = prev ? (prev.gpuMs / 1000) * (N / prev.N) ** 3 * (N >= 4096 ? 7 : smoke ? 5 : 21) : 1;
  if (est > left() - 5) {
    skip(`exact step N=${N}`, `GPU estimated ${est.toFixed(0)} s > ${left().toFixed(0)} s left less a 5 s reserve`);
    return null;
  }
  return step(N, { cpu }).gpu.dir;
}
// the order: the steps at N = 256, 1024 (the headline targets), the kernels to M = 8192, the GPU step at
// N = 4096, then the optional parts (kernels at M = 16384, the CPU step at N = 4096)
const gpuDirs = {};
section('step', () => {
  for (const N of N_ALL.slice(0, -1)) gpuDirs[N] = stepGuarded(N, true);
});
section('kernels', () => {
  for (const M of M_REQUIRED) kernelsGuarded(M, 0);
});
section('step N max', () => {
  gpuDirs[NMAX] = stepGuarded(NMAX, false);
});
section('kernels optional', () => {
  for (const M of M_OPTIONAL) kernelsGuarded(M, 20);
});
section('step optional', () => {
  if (gpuDirs[NMAX]) cpuLater(NMAX, gpuDirs[NMAX]);
});

// ---- targets ----
{
  const big = results.kernels.filter((r) => r.M >= 4096 || smoke);
  const at1024 = results.steps.find((r) => r.N === (smoke ? N_ALL[0] : 1024));
  const dirErr = results.steps.map((r) => r.directionRelErr).filter((e) => e !== undefined);
  const accF32 = results.accuracy?.float32 ?? {};
  results.targets = {
    gramOfSgemm: { target: 0.6, measured: big.length ? Math.min(...big.map((r) => r.gram.ofSgemm)) : null, at: 'min over M ≥ 4096' },
    choleskySolveOfSgemm: { target: 0.6, measured: big.length ? Math.min(...big.map((r) => r.choleskySolve.ofSgemm)) : null, at: 'min over M ≥ 4096' },
    stepSpeedupN1024: { target: 20, measured: at1024?.speedup ?? null, at: `N=${at1024?.N}` },
    directionGpuVsCpu: {
      target: 1e-3,
      measured: dirErr.length
        ? Math.max(
            ...dirErr,
            ...Object.entries(accF32)
              .filter(([k]) => k.startsWith('exact'))
              .map(([, v]) => v)
          )
        : null,
      lowerIsBetter: true,
      at: "max over N of ‖n_gpu − n_cpu‖/‖n_cpu‖ (float32; test/cuda.test.ts's bound); TF32's cost in accuracy.tf32",
    },
  };
  for (const t of Object.values(results.targets)) t.met = t.measured === null ? null : t.lowerIsBetter ? t.measured <= t.target : t.measured >= t.target;
  console.log('targets:', JSON.stringify(results.targets));
  save();
  console.log(`gpu.js: wrote ${path.join(outDir, 'gpu.json')} and ${dataDir}/ in ${fmt((Date.now() - t0) / 1000)} s`);
}

// ---- the summary (gpu.sh runs it after gpu_torch.py) ----
function summary() {
  const g = readJson(path.join(outDir, 'gpu.json'));
  const t = readJson(path.join(outDir, 'torch.json'));
  const env = readJson(path.join(outDir, 'env.json'));
  const run = readJson(path.join(outDir, 'run.json'));
  const out = { date: new Date().toISOString(), targets: {}, steps: [] };
  const line = (s) => console.log(s);
  line('================ natgrad GPU run: summary ================');
  const gp = env?.gpus?.[0];
  if (gp)
    line(`card: ${gp.name}, ${gp.memory_total}, driver ${gp.driver_version}, CUDA (driver) ${env.driverCudaVersion ?? '?'}, compute ${gp.compute_cap ?? '?'}`);
  if (!g) {
    line(`no ${path.join(outDir, 'gpu.json')}: bench/gpu.js did not run or wrote nothing`);
    fs.writeFileSync(path.join(outDir, 'summary.json'), `${JSON.stringify({ ...out, error: 'no gpu.json' }, null, 2)}\n`);
    return;
  }
  line(`natgrad: ${g.device}; ${g.blas}; mode ${g.mode}`);
  line(`libraries: ${(g.libraries ?? []).join(', ')}`);
  line(`CPU backend: ${g.cpu}, ${g.cpuThreads} threads, ${g.env?.cpuCores} cores (${g.env?.cpuModel}); node ${g.env?.node}`);
  if (t) line(`PyTorch: ${t.torch ?? '—'} (CUDA ${t.torchCuda ?? '—'}) on ${t.device ?? '—'}${t.error ? `; error: ${t.error}` : ''}`);
  line('kernels (device TFLOP/s, and % of the SGEMM rate measured in the same run):');
  line('      M   SGEMM   gram (%)        cholSolve (%)   chol f64  layerGramSum  pinvSolve ms  batchedGramInv ms');
  for (const r of g.kernels ?? []) {
    if (!r.gram) continue;
    line(
      `  ${String(r.M).padStart(5)}  ${fmt(r.sgemm?.deviceTflops).padStart(6)}  ${fmt(r.gram.deviceTflops).padStart(6)} (${fmt(100 * r.gram.ofSgemm, 0).padStart(3)}%)  ` +
        `${fmt(r.choleskySolve?.deviceTflops).padStart(6)} (${fmt(100 * r.choleskySolve?.ofSgemm, 0).padStart(3)}%)  ${fmt(r.choleskySolveFloat64?.deviceTflops).padStart(8)}  ` +
        `${fmt(r.layerGramSum?.deviceTflops).padStart(12)}  ${(r.pinvSolve?.computeMs !== undefined ? fmt(r.pinvSolve.computeMs) : 'skipped').padStart(12)}  ${fmt(r.batchedGramInverse?.computeMs, 2).padStart(17)}`
    );
  }
  line('exact step 784-256-256-10 (tanh, categorical, λ = 1e-3), ms: natgrad opt.step on GPU and CPU (speedup = CPU/GPU), natgrad');
  line("opt.direction on the GPU ('dir'), and PyTorch's direction (gpu_torch.py) from x on the host to n on the host, with");
  line("θ, x, y already on the GPU in brackets; '×torch' = torch ms / natgrad dir ms (> 1: natgrad faster). Rel. errors:");
  line('GPU vs CPU, natgrad vs torch, and against a float64 reference: natgrad GPU, torch; then torch TF32 vs float32.');
  line('      N  GPU step       CPU   speedup       dir    torch (device)    ×torch   gpu−cpu  ng−torch  vs float64: ng, torch; TF32');
  for (const r of g.steps ?? []) {
    const tr = t?.runs?.find((x) => x.N === r.N);
    const ngMs = r.gpuDirectionMs ?? r.gpuMs;
    const ratio = tr?.hostMs ? tr.hostMs / ngMs : undefined;
    const s = {
      N: r.N,
      gpuMs: r.gpuMs,
      gpuDirectionMs: r.gpuDirectionMs ?? null,
      cpuMs: r.cpuMs ?? null,
      speedup: r.speedup ?? null,
      torchHostMs: tr?.hostMs ?? null,
      torchDeviceMs: tr?.deviceMs ?? null,
      natgradFasterThanTorchBy: ratio ?? null,
      gpuVsCpu: r.directionRelErr ?? null,
      natgradVsTorch: tr?.torchVsNatgradGpu ?? null,
      natgradGpuVsFloat64: tr?.natgradGpuVsFloat64 ?? null,
      torchVsFloat64: tr?.torchVsFloat64 ?? null,
      torchTf32VsFloat64: tr?.tf32VsFloat64 ?? null,
      gpuPath: r.gpuProfile ?? null,
    };
    out.steps.push(s);
    line(
      `  ${String(r.N).padStart(5)}  ${fmt(r.gpuMs, 2).padStart(8)}  ${(r.cpuMs !== undefined ? fmt(r.cpuMs) : 'skipped').padStart(8)}  ${(r.speedup !== undefined ? `${fmt(r.speedup)}×` : '—').padStart(8)}  ` +
        `${fmt(r.gpuDirectionMs, 2).padStart(8)}  ${fmt(tr?.hostMs, 2).padStart(7)} (${fmt(tr?.deviceMs, 2).padStart(7)})  ${(ratio !== undefined ? `${fmt(ratio, 2)}×` : '—').padStart(8)}  ${exp(r.directionRelErr).padStart(8)}  ${exp(tr?.torchVsNatgradGpu).padStart(8)}  ` +
        `${exp(tr?.natgradGpuVsFloat64)}, ${exp(tr?.torchVsFloat64)}; ${exp(tr?.tf32VsFloat32)}` +
        (tr?.jacrevDeviceMs !== undefined ? `  [torch.func jacrev: ${fmt(tr.jacrevDeviceMs)} ms]` : '') +
        (tr?.skipped || tr?.error ? `  [torch: ${tr.skipped ?? tr.error}]` : '')
    );
  }
  if (g.accuracy?.float32) {
    line('accuracy, GPU vs CPU (‖gpu − cpu‖/‖cpu‖): float32 / TF32');
    for (const [k, v] of Object.entries(g.accuracy.float32)) line(`  ${k.padEnd(24)} ${exp(Number(v))} / ${exp(Number(g.accuracy.tf32?.[k]))}`);
  }
  const at1024 = out.steps.find((s) => s.N === 1024) ?? (g.mode === 'smoke' ? out.steps[0] : undefined);
  out.targets = {
    ...g.targets,
    stepFasterThanTorchN1024: {
      target: 1,
      measured: at1024?.natgradFasterThanTorchBy ?? null,
      at: `N=${at1024?.N}: torch's direction, host→host ms / natgrad's GPU opt.direction ms`,
    },
  };
  const m = out.targets.stepFasterThanTorchN1024;
  m.met = m.measured === null ? null : m.measured > 1;
  line('targets:');
  for (const [k, v] of Object.entries(out.targets))
    line(
      `  ${k.padEnd(26)} ${v.met === null ? 'n/a ' : v.met ? 'MET ' : 'MISS'}  measured ${typeof v.measured === 'number' ? (v.lowerIsBetter ? exp(v.measured) : fmt(v.measured, 2)) : '—'} (target ${v.lowerIsBetter ? '≤' : '≥'} ${v.target}; ${v.at})`
    );
  const skipped = [
    ...(g.skipped ?? []).map((s) => `${s.what}: ${s.why}`),
    ...(t?.runs ?? []).filter((r) => r.skipped).map((r) => `torch N=${r.N}: ${r.skipped}`),
  ];
  if (skipped.length) {
    line('skipped:');
    for (const s of skipped) line(`  ${s}`);
  }
  out.skipped = skipped;
  const secs = Object.entries(g.sections ?? {})
    .filter(([, v]) => v?.wallS !== undefined)
    .map(([k, v]) => `${k} ${fmt(v.wallS)} s`);
  line(`wall time: gpu.js ${fmt(g.wallS)} s (${secs.join(', ')}); torch ${fmt(t?.wallS)} s` + (run ? `; gpu.sh sections ${JSON.stringify(run)}` : ''));
  fs.writeFileSync(path.join(outDir, 'summary.json'), `${JSON.stringify(out, null, 2)}\n`);
  line(`wrote ${path.join(outDir, 'summary.json')}`);
}
