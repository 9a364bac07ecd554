#!/usr/bin/env node
// node bench/gpu.js [--quick] [--out=bench/results/gpu.json]     (bench/gpu.sh runs it)
//
// natgrad's CUDA backend on this machine's GPU, against the card's own cuBLAS SGEMM rate measured in
// the same run and against the CPU backend on the same machine. Needs dist/ (npm run build) and
// NATGRAD_CUDA_TIMING=1, with which the backend records CUDA events around the upload / compute /
// download phases of each call and reports them in backendInfo().note; "device" rates below use
// the compute phase (everything a stage does on the GPU, intermediates included, without the
// host↔device copies, which the fused step of a later issue will avoid), "wall" rates the whole
// call as JS sees it.
//
// FLOP conventions (multiply-add = 2 flops, the SGEMM convention 2mnk):
//   sgemm          M×M×M natgrad gemm (one cublasSgemm):   2·M³
//   gram           K = JᵀJ, J [P,M], P = 10,000:           2·M²·P  (the full product, although ~5/8 of it is computed)
//   choleskySolve  K [M,M], nrhs = 1:                      M³/3 + 2·M²  (potrf + potrs)
//   layerGram      N·k = M, k = 8, widthOut = widthIn = 256: 2·(M²·256 + N²·256)
//   layerGramSum   N·k = M, k = 8, three layers (widthOut, widthIn) = (256, 784), (256, 256), (10, 256) (the
//                  784-256-256-10 MLP's): Σ_l 2·(M²·widthOut_l + N²·widthIn_l). All layers' B_l and A_l are
//                  uploaded (and K zeroed) before the "compute" mark
// Targets (issue #7): gram and choleskySolve device rate ≥ 60% of the SGEMM rate at M ≥ 4096; the exact
// natural-gradient step of the 784-256-256-10 MLP (categorical, N = 1024) ≥ 20× faster than the CPU
// backend. Accuracy: every kernel and the step against the CPU backend, with TF32 off and on.
'use strict';

const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const argValue = (name) => process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
const quick = process.argv.includes('--quick');
// --smoke: tiny sizes, to check this script itself (e.g. on the CPU emulation of test/cuda.test.ts); its numbers mean nothing
const smoke = process.argv.includes('--smoke');
const outFile = path.resolve(argValue('out') ?? path.join(root, 'bench', 'results', 'gpu.json'));

let ng, native;
try {
  ng = require(path.join(root, 'dist', 'index.js'));
  ({ native } = require(path.join(root, 'dist', 'native.js')));
} catch (e) {
  console.error(`gpu.js: dist/ is missing or stale (${e.message.split('\n')[0]}); run npm run build first`);
  process.exit(2);
}

// ---- inputs: a fast deterministic uniform(-1, 1) fill ----
function fill(n, seed) {
  const a = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    a[i] = s / 2147483648 - 1;
  }
  return a;
}
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
  r.gram = both(() => native.gram(J, P, M, false, new Float32Array(M * M)));
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
  const K = native.gram(J, P, M, false, new Float32Array(M * M)),
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
  const model = () => ng.sequential([ng.linear(784, 256), ng.tanh(), ng.linear(256, 256), ng.tanh(), ng.linear(256, 10)], { seed: 1 });
  r[`exact direction N=${NS}`] = both(() => new ng.NaturalGradient(model(), { loss: 'categorical', damping: 1e-3 }).direction(x, y, NS));
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
console.log(`gpu.js: ${info.device}; ${info.blas}\n        CPU backend: ${cpuInfo.blas}, ${cpuInfo.threads} threads, ${os.cpus().length} cores`);

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
    const t0 = process.hrtime.bigint();
    fn();
    wall.push(Number(process.hrtime.bigint() - t0) / 1e6);
    const p = phases();
    up.push(p.upload);
    comp.push(p.compute);
    down.push(p.download);
  }
  return { wallMs: median(wall), uploadMs: median(up), computeMs: median(comp), downloadMs: median(down), reps };
}
const tflops = (flops, ms) => flops / (ms * 1e-3) / 1e12;

const results = {
  date: new Date().toISOString(),
  device: info.device,
  blas: info.blas,
  cpu: cpuInfo.blas,
  cpuThreads: cpuInfo.threads,
  kernels: [],
  step: null,
  accuracy: null,
  targets: {},
};
const SIZES = smoke ? [64] : quick ? [4096] : [4096, 8192];
const reps = quick || smoke ? 3 : 5;
const P = smoke ? 100 : 10000;

for (const M of SIZES) {
  native.selectBackend('cuda');
  const row = { M };
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
    const t = time(() => native.gram(J, P, M, false, K), reps);
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
  if (M === SIZES[0]) {
    const R = fill(M, 7),
      X = new Float32Array(M);
    row.pinvSolve = time(() => native.pinvSolve(K, M, R, 1, 1e-3 * P, 0, 'float32', X), Math.min(reps, 3));
    const batch = smoke ? 16 : 1024,
      rows = smoke ? 20 : 784,
      G = fill(batch * rows * 10, 8);
    row.batchedGramInverse = { batch, rows, k: 10, ...time(() => native.batchedGramInverse(G, batch, rows, 10, 1e-3, new Float32Array(batch * 100)), reps) };
  }
  for (const name of ['gram', 'choleskySolve']) row[name].ofSgemm = row[name].deviceTflops / row.sgemm.deviceTflops;
  results.kernels.push(row);
  console.log(
    `M=${M}: SGEMM ${row.sgemm.deviceTflops.toFixed(1)} TFLOP/s (device) | gram ${row.gram.deviceTflops.toFixed(1)} = ${(100 * row.gram.ofSgemm).toFixed(0)}% (wall ${row.gram.wallTflops.toFixed(1)}) | choleskySolve ${row.choleskySolve.deviceTflops.toFixed(1)} = ${(100 * row.choleskySolve.ofSgemm).toFixed(0)}% (wall ${row.choleskySolve.wallTflops.toFixed(1)}) | layerGram ${row.layerGram.deviceTflops.toFixed(1)} | layerGramSum ${row.layerGramSum.deviceTflops.toFixed(1)} (wall ${row.layerGramSum.wallTflops.toFixed(1)})`
  );
}

{
  // the exact natural-gradient step, 784-256-256-10 MLP, categorical, N = 1024, damping 1e-3
  const N = smoke ? 8 : 1024,
    x = fill(N * 784, 9),
    y = new Float32Array(N).map((_, i) => (i * 7) % 10);
  const run = (name, reps) => {
    native.selectBackend(name);
    const model = ng.sequential([ng.linear(784, 256), ng.tanh(), ng.linear(256, 256), ng.tanh(), ng.linear(256, 10)], { seed: 2 });
    const opt = new ng.NaturalGradient(model, { loss: 'categorical', lr: 0, damping: 1e-3 });
    const dir = opt.direction(x, y, N); // warm-up, and the direction to compare
    const ts = [];
    for (let i = 0; i < reps; i++) {
      const t0 = process.hrtime.bigint();
      opt.step(x, y, N);
      ts.push(Number(process.hrtime.bigint() - t0) / 1e6);
    }
    return { ms: median(ts), reps, profile: opt.profile ?? null, dir };
  };
  const gpu = run('cuda', quick ? 3 : 5);
  const cpu = run('cpu', quick ? 1 : 3);
  results.step = {
    model: '784-256-256-10',
    loss: 'categorical',
    N,
    damping: 1e-3,
    gpuMs: gpu.ms,
    cpuMs: cpu.ms,
    speedup: cpu.ms / gpu.ms,
    directionRelErr: rel(gpu.dir, cpu.dir),
    gpuProfile: gpu.profile,
    cpuProfile: cpu.profile,
  };
  console.log(
    `exact step 784-256-256-10, N=${N}: GPU ${gpu.ms.toFixed(1)} ms, CPU ${cpu.ms.toFixed(1)} ms → ${results.step.speedup.toFixed(1)}×; direction rel. difference ${results.step.directionRelErr.toExponential(2)}`
  );
  native.selectBackend('cuda');
}

// biome-ignore lint/complexity/noUselessLoneBlockStatements: one block per part of the run, each with its own locals
{
  // accuracy against the CPU backend, TF32 off and on (children: the math mode is set at initialisation)
  results.accuracy = {};
  for (const tf32 of ['0', '1']) {
    const r = spawnSync(process.execPath, [__filename, '--accuracy', ...(smoke ? ['--smoke'] : [])], {
      encoding: 'utf8',
      env: { ...process.env, NATGRAD_TF32: tf32 },
    });
    results.accuracy[tf32 === '1' ? 'tf32' : 'float32'] = r.status === 0 ? JSON.parse(r.stdout.trim().split('\n').pop()) : { error: r.stderr.slice(-2000) };
  }
  console.log('accuracy (‖gpu − cpu‖/‖cpu‖):');
  for (const [k, v] of Object.entries(results.accuracy.float32))
    console.log(`  ${k}: float32 ${Number(v).toExponential(2)}, TF32 ${Number(results.accuracy.tf32[k]).toExponential(2)}`);
}

const big = results.kernels.filter((r) => r.M >= 4096 || smoke);
results.targets = {
  gramOfSgemm: { target: 0.6, measured: Math.min(...big.map((r) => r.gram.ofSgemm)) },
  choleskySolveOfSgemm: { target: 0.6, measured: Math.min(...big.map((r) => r.choleskySolve.ofSgemm)) },
  stepSpeedup: { target: 20, measured: results.step.speedup },
};
for (const t of Object.values(results.targets)) t.met = t.measured >= t.target;
console.log('targets:', JSON.stringify(results.targets));
fs.mkdirSync(path.dirname(outFile), { recursive: true });
fs.writeFileSync(outFile, JSON.stringify(results, null, 2) + '\n');
console.log(`gpu.js: wrote ${path.relative(root, outFile)}`);
